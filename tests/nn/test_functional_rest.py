"""F.multi_head_attention_forward, F.grouped_mm, F.conv_tbc and F.native_channel_shuffle against
torch 2.13 (fixtures/make_mha_functional_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import functional as F
from dlpy import nn
from dlpy.tensor import Tensor

FIXTURE = np.load(Path(__file__).parents[1] / "fixtures" / "mha_functional.npz")
E, HEADS = 8, 2
MHA_CASES = sorted({key.split("/")[1] for key in FIXTURE.files if key.startswith("mha/")})


def section(prefix):
    """The fixture's arrays under ``prefix``, keyed by the rest of their names."""
    return {key[len(prefix):]: FIXTURE[key] for key in FIXTURE.files if key.startswith(prefix)}


def run_mha(args, masks, options, dropout_p=0.0, training=True, rng=None):
    query = args["query"]
    key = query if options["self_attention"] else args["key"]
    value = query if options["self_attention"] else args["value"]
    return F.multi_head_attention_forward(
        query, key, value, E, HEADS, args.get("in_proj_weight"), args.get("in_proj_bias"),
        args.get("bias_k"), args.get("bias_v"), options["add_zero_attn"], dropout_p,
        args["out_proj_weight"], args.get("out_proj_bias"), training=training,
        q_proj_weight=args.get("q_proj_weight"), k_proj_weight=args.get("k_proj_weight"),
        v_proj_weight=args.get("v_proj_weight"), static_k=args.get("static_k"),
        static_v=args.get("static_v"), need_weights=options["need_weights"],
        average_attn_weights=options["average_attn_weights"], is_causal=options["is_causal"],
        use_separate_proj_weight=options["use_separate_proj_weight"], rng=rng, **masks)


@pytest.mark.parametrize("case", MHA_CASES)
def test_multi_head_attention_forward_matches_torch(case):
    prefix = f"mha/{case}/"
    args = {k: Tensor(v, requires_grad=True) for k, v in section(prefix + "arg/").items()}
    options = {k: v.item() for k, v in section(prefix + "opt/").items()}
    out, weights = run_mha(args, section(prefix + "mask/"), options)
    np.testing.assert_allclose(out.data, FIXTURE[prefix + "out"], rtol=1e-10, atol=1e-12)
    if options["need_weights"]:
        np.testing.assert_allclose(weights.data, FIXTURE[prefix + "weights"], atol=1e-12)
    else:
        assert weights is None
    (out * Tensor(FIXTURE[prefix + "grad_output"])).sum().backward()
    for name, expected in section(prefix + "grad/").items():
        grad = args[name].grad
        grad = np.zeros_like(expected) if grad is None else grad  # unused beside static_k/v
        np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=1e-11, err_msg=name)


def test_module_and_functional_share_one_result():
    """nn.MultiheadAttention (batch-first) = F.multi_head_attention_forward (sequence-first)
    with its parameters, kdim/vdim, bias_k/bias_v and zero attention included."""
    mha = nn.MultiheadAttention(E, HEADS, add_bias_kv=True, add_zero_attn=True, kdim=5, vdim=6,
                                rng=np.random.default_rng(0), dtype=np.float64, batch_first=True)
    rng = np.random.default_rng(1)
    query, key, value = (Tensor(rng.standard_normal(s)) for s in ((2, 3, E), (2, 4, 5),
                                                                     (2, 4, 6)))
    padding = np.array([[False] * 4, [False] * 3 + [True]])
    out, weights = mha(query, key, value, key_padding_mask=padding, need_weights=True)
    expected, expected_weights = F.multi_head_attention_forward(
        query.swapaxes(0, 1), key.swapaxes(0, 1), value.swapaxes(0, 1), E, HEADS, None,
        mha.in_proj_bias, mha.bias_k, mha.bias_v, True, 0.0, mha.out_proj.weight,
        mha.out_proj.bias, key_padding_mask=padding, use_separate_proj_weight=True,
        q_proj_weight=mha.q_proj_weight, k_proj_weight=mha.k_proj_weight,
        v_proj_weight=mha.v_proj_weight)
    np.testing.assert_allclose(out.data, expected.data.swapaxes(0, 1), rtol=1e-12)
    np.testing.assert_allclose(weights, expected_weights.data, rtol=1e-12)


def test_multi_head_attention_dropout_statistics():
    """Dropout zeroes a fraction p of the weights and scales the rest by 1 / (1 - p); eval mode
    (training=False) drops nothing."""
    rng = np.random.default_rng(2)
    seq, batch = 16, 4
    args = {"query": Tensor(rng.standard_normal((seq, batch, E))),
            "in_proj_weight": Tensor(0.4 * rng.standard_normal((3 * E, E))),
            "out_proj_weight": Tensor(0.4 * rng.standard_normal((E, E)))}
    options = dict(self_attention=True, add_zero_attn=False, need_weights=True,
                   average_attn_weights=False, is_causal=False, use_separate_proj_weight=False)
    _, plain = run_mha(args, {}, options)
    _, evaluated = run_mha(args, {}, options, dropout_p=0.5, training=False)
    np.testing.assert_array_equal(evaluated.data, plain.data)
    _, dropped = run_mha(args, {}, options, dropout_p=0.5, rng=np.random.default_rng(3))
    kept = dropped.data != 0
    assert abs(kept.mean() - 0.5) < 0.05  # 2048 weights: 0.05 is over 4 standard deviations
    np.testing.assert_allclose(dropped.data[kept], 2 * plain.data[kept], rtol=1e-12)


def test_multi_head_attention_forward_errors():
    x = Tensor(np.zeros((3, 2, E)))
    weight, out_weight = Tensor(np.zeros((3 * E, E))), Tensor(np.zeros((E, E)))

    def call(query=x, key=x, value=x, embed_dim=E, bias_k=None, **kwargs):
        return F.multi_head_attention_forward(query, key, value, embed_dim, HEADS, weight, None,
                                              bias_k, None, False, 0.0, out_weight, None,
                                              **kwargs)

    with pytest.raises(ValueError, match=r"expected query's embedding dimension 6, got 8"):
        call(embed_dim=6)
    with pytest.raises(ValueError, match=r"all \(seq, batch, feature\).*\(3, 2, 8\), \(3, 8\)"):
        call(key=Tensor(np.zeros((3, E))))
    with pytest.raises(ValueError, match="is_causal needs attn_mask"):
        call(is_causal=True)
    with pytest.raises(ValueError, match=r"use_separate_proj_weight=True needs q_proj_weight"):
        call(use_separate_proj_weight=True)
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(batch, seq_k\) = \(2, 3\)"):
        call(key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="give both bias_k and bias_v or neither"):
        call(bias_k=Tensor(np.zeros((1, 1, E))))
    with pytest.raises(ValueError, match=r"static_k must be \(batch \* num_heads, seq, head_dim"):
        call(static_k=Tensor(np.zeros((2, 3, 4))), static_v=Tensor(np.zeros((4, 3, 4))))


@pytest.mark.parametrize("case", ["2d_3d", "3d_3d", "2d_2d", "3d_2d"])
def test_grouped_mm_matches_torch(case):
    prefix = f"grouped_mm/{case}/"
    a = Tensor(FIXTURE[prefix + "a"], requires_grad=True)
    b = Tensor(FIXTURE[prefix + "b"], requires_grad=True)
    offs = FIXTURE[prefix + "offs"] if prefix + "offs" in FIXTURE.files else None
    out = F.grouped_mm(a, b, offs=offs)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, FIXTURE[prefix + "out"], rtol=1e-5, atol=1e-5)
    out.backward(FIXTURE[prefix + "grad_output"])
    np.testing.assert_allclose(a.grad, FIXTURE[prefix + "grad_a"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad, FIXTURE[prefix + "grad_b"], rtol=1e-5, atol=1e-5)


def test_grouped_mm_rows_past_the_last_offset_are_zero():
    rng = np.random.default_rng(4)
    a = Tensor(rng.standard_normal((6, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    out = F.grouped_mm(a, b, offs=np.array([1, 4], dtype=np.int32))
    np.testing.assert_allclose(out.data[1:4], a.data[1:4] @ b.data[1], rtol=1e-12)
    assert not out.data[4:].any()
    out.sum().backward()
    assert not a.grad[4:].any() and a.grad[:4].all()
    assert dlpy.testing.gradcheck(lambda x, y: F.grouped_mm(x, y, offs=np.array([1, 4])), a, b)


def test_grouped_mm_errors():
    a, b = Tensor(np.zeros((7, 4), np.float32)), Tensor(np.zeros((2, 4, 8), np.float32))
    offs = np.array([3, 7], dtype=np.int32)
    with pytest.raises(ValueError, match="offs is needed when mat_a or mat_b is 2-D"):
        F.grouped_mm(a, b)
    with pytest.raises(ValueError, match="offs is not used with 3-D mat_a and mat_b"):
        F.grouped_mm(Tensor(np.zeros((2, 7, 4), np.float32)), b, offs=offs)
    with pytest.raises(ValueError, match=r"contraction axes must match.*\(7, 4\).*\(2, 8, 8\)"):
        F.grouped_mm(a, Tensor(np.zeros((2, 8, 8), np.float32)), offs=offs)
    with pytest.raises(ValueError, match="expected 2 offsets .* got 3"):
        F.grouped_mm(a, b, offs=np.array([1, 3, 7], dtype=np.int32))
    with pytest.raises(ValueError, match=r"non-decreasing within 0..7 .* got \[5, 3\]"):
        F.grouped_mm(a, b, offs=np.array([5, 3], dtype=np.int32))
    with pytest.raises(ValueError, match="bias is not supported"):
        F.grouped_mm(a, b, offs=offs, bias=Tensor(np.zeros(8, np.float32)))
    with pytest.raises(ValueError, match="out_dtype must be mat_a's dtype float32"):
        F.grouped_mm(a, b, offs=offs, out_dtype=dlpy.float64)
    with pytest.raises(TypeError, match="one floating dtype, got float32 and float64"):
        F.grouped_mm(a, Tensor(np.zeros((2, 4, 8))), offs=offs)


def test_conv_tbc_matches_torch():
    names = ("input", "weight", "bias")
    x, weight, bias = (Tensor(FIXTURE[f"conv_tbc/{n}"], requires_grad=True) for n in names)
    out = F.conv_tbc(x, weight, bias, 1)
    np.testing.assert_allclose(out.data, FIXTURE["conv_tbc/out"], rtol=1e-12)
    (out * Tensor(FIXTURE["conv_tbc/grad_output"])).sum().backward()
    for name, tensor in zip(names, (x, weight, bias)):
        np.testing.assert_allclose(tensor.grad, FIXTURE[f"conv_tbc/grad_{name}"], rtol=1e-12)
    with pytest.raises(ValueError, match=r"conv_tbc: expected input \(T, B, C_in\)"):
        F.conv_tbc(x, Tensor(np.zeros((3, 2, 4))), bias)


def test_native_channel_shuffle_matches_torch():
    out = F.native_channel_shuffle(Tensor(FIXTURE["channel_shuffle/input"]), 3)
    np.testing.assert_array_equal(out.data, FIXTURE["channel_shuffle/out"])
