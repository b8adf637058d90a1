"""torch.nn.attention in dlpy: flex_attention and BlockMask, the causal biases, SDPA's
enable_gqa and scale, sdpa_kernel. PyTorch's values (flex_attention's forward and logsumexp,
its math reference's gradients, the block tensors) are in
tests/fixtures/flex_attention/flex_attention.npz (make_flex_attention_fixtures.py); the cases,
mask and score functions are that script's (tests/fixtures/cases_flex_attention.py), on dlpy."""

from pathlib import Path

import numpy as np
import pytest
from cases_flex_attention import BLOCK_KEYS, cases
from second_order import check_second_order

import dlpy
import dlpy.functional as F
import dlpy.nn.attention.flex_attention
from dlpy import Tensor, nn
from dlpy.nn.attention import MultiHeadAttention, MultiheadAttention, SDPBackend, sdpa_kernel
from dlpy.nn.attention.bias import (
    CausalBias,
    CausalVariant,
    causal_lower_right,
    causal_upper_left,
)
from dlpy.nn.attention.flex_attention import (
    AuxOutput,
    AuxRequest,
    BlockMask,
    and_masks,
    create_block_mask,
    create_mask,
    flex_attention,
    noop_mask,
    or_masks,
)
from dlpy.testing import gradcheck

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "flex_attention"
           / "flex_attention.npz")
_CASES = cases(dlpy)
FLEX = _CASES.FLEX
causal, window3, prefix3, late_queries = (_CASES.causal, _CASES.window3, _CASES.prefix3,
                                          _CASES.late_queries)
alibi, relative, softcap, causal_score = (_CASES.alibi, _CASES.relative, _CASES.softcap,
                                          _CASES.causal_score)
MASKED = [case for case, spec in FLEX.items() if "mask" in spec]


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def run_case(ref, case):
    """dlpy's flex_attention on a fixture case: (out, AuxOutput, the input tensors, the
    BlockMask)."""
    spec = FLEX[case]
    tensors = {key: Tensor(ref[f"{case}:{key}"], requires_grad=True)
               for key in ("q", "k", "v", "table") if f"{case}:{key}" in ref}
    q, k, v = tensors["q"], tensors["k"], tensors["v"]
    block_mask = None
    if "mask" in spec:
        mask_mod, mask_b, mask_h = spec["mask"]
        block_mask = create_block_mask(mask_mod, mask_b, mask_h, q.shape[2], k.shape[2],
                                       device="cpu", BLOCK_SIZE=spec["block"])
    score_mod = spec["score"](tensors.get("table")) if "score" in spec else None
    out, aux = flex_attention(q, k, v, score_mod, block_mask, spec.get("scale"),
                              enable_gqa=q.shape[1] != k.shape[1],
                              return_aux=AuxRequest(lse=True, max_scores=True))
    return out, aux, tensors, block_mask


@pytest.mark.parametrize("case", list(FLEX))
def test_flex_attention_matches_pytorch(ref, case):
    out, aux, tensors, _ = run_case(ref, case)
    np.testing.assert_allclose(out.data, ref[f"{case}:out"], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(aux.lse.data, ref[f"{case}:lse"], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(aux.max_scores.data, ref[f"{case}:max_scores"], rtol=1e-12,
                               atol=1e-13)
    # torch's logsumexp is differentiable (its backward takes grad_logsumexp), max_scores not
    assert aux.lse.requires_grad and not aux.max_scores.requires_grad
    out.backward(ref[f"{case}:grad_out"])
    for key, t in tensors.items():
        np.testing.assert_allclose(t.grad, ref[f"{case}:grad_{key}"], rtol=1e-10, atol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("case", MASKED)
def test_block_mask_structure_matches_pytorch(ref, case):
    _, _, _, block_mask = run_case(ref, case)
    for key in BLOCK_KEYS:
        value = getattr(block_mask, key)
        assert value.dtype == np.int32, key
        np.testing.assert_array_equal(value.data, ref[f"{case}:{key}"], err_msg=key)
    np.testing.assert_array_equal(block_mask.to_dense().data, ref[f"{case}:to_dense"])
    assert block_mask.sparsity() == pytest.approx(float(ref[f"{case}:sparsity"]), rel=1e-12)
    assert str(block_mask) == str(ref[f"{case}:str"])
    mask_mod, mask_b, mask_h = FLEX[case]["mask"]
    q_len, kv_len = block_mask.seq_lengths
    np.testing.assert_array_equal(create_mask(mask_mod, mask_b, mask_h, q_len, kv_len).data,
                                  ref[f"{case}:create_mask"])
    assert block_mask.shape == (*ref[f"{case}:kv_indices"].shape[:2], q_len, kv_len)


def test_fully_masked_rows_give_zeros_and_minus_infinity(ref):
    out, aux, tensors, _ = run_case(ref, "fully_masked_rows")
    np.testing.assert_array_equal(out.data[:, :, :3], 0.0)
    for stat in aux:
        assert np.isneginf(stat.data[:, :, :3]).all() and np.isfinite(stat.data[:, :, 3:]).all()
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(tensors["q"].grad[:, :, :3], 0.0)


def test_repr_lists_torchs_fields():
    block_mask = create_block_mask(causal, 2, 1, 9, 11, BLOCK_SIZE=4)
    text = repr(block_mask)
    assert text.startswith("BlockMask(\n    kv_num_blocks=(2, 1, 3),\n    kv_indices=(2, 1, 3, 3),")
    assert "BLOCK_SIZE=(4, 4)," in text and "shape=(2, 1, 9, 11)," in text
    assert text.endswith("mask_mod=causal\n)")
    assert block_mask.numel() == 2 * 9 * 11


def test_block_mask_keeps_broadcast_axes_and_is_reused():
    """B and H None: one (1, 1, Q, KV) mask for every batch and head, its additive form made
    once per dtype."""
    block_mask = create_block_mask(causal, None, None, 6, 6, BLOCK_SIZE=2)
    assert block_mask.mask.shape == (1, 1, 6, 6)
    assert block_mask.additive(np.float64) is block_mask.additive(np.float64)
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rng.standard_normal((3, 2, 6, 4))) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(flex_attention(q, k, v, block_mask=block_mask).data,
                               expected.data, rtol=1e-13, atol=1e-14)


def test_mask_mods_combine_as_torch():
    shape = (1, 1, 5, 5)
    q_idx, kv_idx = np.arange(5)[:, None], np.arange(5)[None]
    both = create_mask(and_masks(causal, prefix3), *shape).data[0, 0]
    either = create_mask(or_masks(causal, prefix3), *shape).data[0, 0]
    np.testing.assert_array_equal(both, (q_idx >= kv_idx) & (kv_idx < 3))
    np.testing.assert_array_equal(either, (q_idx >= kv_idx) | (kv_idx < 3))
    assert create_mask(and_masks(), *shape).data.all()
    assert not create_mask(or_masks(), *shape).data.any()
    assert create_mask(noop_mask, 2, 3, 4, 5).data.shape == (2, 3, 4, 5)
    # a score_mod's mask: True where the score stays above -inf
    np.testing.assert_array_equal(create_mask(causal_score, *shape).data[0, 0],
                                  q_idx >= kv_idx)


def test_score_mod_path_equals_mask_path():
    """The fused kernel with the mask (no score_mod) and the scores path (an identity
    score_mod) agree, values and gradients, with GQA."""
    rng = np.random.default_rng(1)
    block_mask = create_block_mask(and_masks(causal, window3), None, None, 7, 7, BLOCK_SIZE=3)
    arrays = [rng.standard_normal(s) for s in ((2, 4, 7, 3), (2, 2, 7, 3), (2, 2, 7, 3))]
    results = []
    for score_mod in (None, lambda s, b, h, q_idx, kv_idx: s):
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        out, lse = flex_attention(*tensors, score_mod, block_mask, enable_gqa=True,
                                  return_lse=True)
        out.backward(np.cos(np.arange(out.data.size)).reshape(out.shape))
        results.append([out.data, lse.data] + [t.grad for t in tensors])
    for fast, scores in zip(*results, strict=True):
        np.testing.assert_allclose(fast, scores, rtol=1e-12, atol=1e-14)


def test_gqa_equals_repeated_heads():
    """enable_gqa: query head h uses kv head h // group, as torch's repeat_interleave."""
    rng = np.random.default_rng(2)
    q, k, v = (Tensor(rng.standard_normal(s)) for s in ((1, 6, 4, 3), (1, 2, 5, 3), (1, 2, 5, 2)))
    repeated = [Tensor(np.repeat(x.data, 3, axis=1)) for x in (k, v)]
    np.testing.assert_allclose(flex_attention(q, k, v, enable_gqa=True).data,
                               flex_attention(q, *repeated).data, rtol=1e-13)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, enable_gqa=True).data,
                               flex_attention(q, *repeated).data, rtol=1e-13)


def block(mask_mod, q_len=4, kv_len=5):
    return create_block_mask(mask_mod, None, None, q_len, kv_len, BLOCK_SIZE=2)


@pytest.mark.parametrize("score_mod, block_mask, shapes", [
    (None, block(causal), ((2, 2, 4, 3), (2, 2, 5, 3), (2, 2, 5, 2))),
    (None, block(late_queries), ((1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 3))),
    (softcap, block(causal), ((1, 2, 4, 3), (1, 1, 5, 3), (1, 1, 5, 2))),
    (causal_score, None, ((1, 4, 4, 2), (1, 2, 5, 2), (1, 2, 5, 3))),
])
def test_flex_attention_gradcheck(score_mod, block_mask, shapes):
    rng = np.random.default_rng(3)
    tensors = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda q, k, v: flex_attention(q, k, v, score_mod, block_mask,
                                                    enable_gqa=True), *tensors)


def test_gradcheck_through_a_learned_bias_table():
    rng = np.random.default_rng(4)
    q, k, v = (Tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True) for _ in range(3))
    table = Tensor(rng.standard_normal(7), requires_grad=True)
    slopes = Tensor(np.array([0.5, 0.25]), requires_grad=True)

    def attend(q, k, v, table, slopes):
        def score_mod(score, b, h, q_idx, kv_idx):
            return relative(table, 3)(score, b, h, q_idx, kv_idx) + alibi(slopes)(
                score, b, h, q_idx, kv_idx) - score
        return flex_attention(q, k, v, score_mod, block(causal, 4, 4))

    assert gradcheck(attend, q, k, v, table, slopes)


def test_second_derivatives_through_the_scores_path():
    check_second_order(lambda q, k, v: flex_attention(q * q, k, v, softcap, block(causal)),
                       (1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 2))
    check_second_order(lambda q, k, v: flex_attention(q, k, v * v, causal_score),
                       (1, 1, 4, 2), (1, 1, 5, 2), (1, 1, 5, 2))


SDPA = ["sdpa_gqa", "sdpa_gqa_shared_mask", "sdpa_upper_left", "sdpa_lower_right",
        "sdpa_upper_left_tall", "sdpa_lower_right_tall"]
BIASES = {"upper_left": causal_upper_left, "lower_right": causal_lower_right}


@pytest.mark.parametrize("case", SDPA)
def test_scaled_dot_product_attention_gqa_and_causal_biases_match_pytorch(ref, case):
    q, k, v = (Tensor(ref[f"{case}:{key}"], requires_grad=True) for key in "qkv")
    kwargs = {"enable_gqa": q.shape[1] != k.shape[1]}
    if f"{case}:attn_mask" in ref:
        kwargs["attn_mask"] = ref[f"{case}:attn_mask"]
    for name, bias in BIASES.items():
        if name in case:
            kwargs["attn_mask"] = bias(q.shape[2], k.shape[2])
    if case == "sdpa_gqa":
        kwargs["scale"] = 0.4
    out = F.scaled_dot_product_attention(q, k, v, **kwargs)
    np.testing.assert_allclose(out.data, ref[f"{case}:out"], rtol=1e-12, atol=1e-13)
    out.backward(ref[f"{case}:grad_out"])
    for key, t in zip("qkv", (q, k, v)):
        np.testing.assert_allclose(t.grad, ref[f"{case}:grad_{key}"], rtol=1e-10, atol=1e-12,
                                   err_msg=key)


def test_causal_biases_are_torchs_masks():
    np.testing.assert_array_equal(np.asarray(causal_upper_left(3, 5)),
                                  np.tril(np.ones((3, 5), bool)))
    np.testing.assert_array_equal(np.asarray(causal_lower_right(3, 5)),
                                  np.tril(np.ones((3, 5), bool), 2))
    bias = CausalBias(CausalVariant.LOWER_RIGHT, 4, 2)
    assert bias.shape == (4, 2) and bias.variant == 2
    assert repr(bias) == "CausalBias(LOWER_RIGHT, seq_len_q=4, seq_len_kv=2)"
    rng = np.random.default_rng(5)
    q, k, v = (Tensor(rng.standard_normal((2, 3, 4))) for _ in range(3))
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(q, k, v, attn_mask=causal_upper_left(3, 3)).data,
        F.scaled_dot_product_attention(q, k, v, is_causal=True).data, rtol=1e-14)


def test_sdpa_kernel_accepts_torchs_backends_and_changes_nothing():
    rng = np.random.default_rng(6)
    q, k, v = (Tensor(rng.standard_normal((2, 3, 4))) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v).data
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION) as state:
        assert state == {}
        np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v).data, expected)
    with sdpa_kernel([SDPBackend.MATH, SDPBackend.EFFICIENT_ATTENTION], set_priority=True):
        pass

    @sdpa_kernel(SDPBackend.CUDNN_ATTENTION)
    def attend():
        return F.scaled_dot_product_attention(q, k, v)

    np.testing.assert_array_equal(attend().data, expected)
    assert [b.value for b in SDPBackend] == [-1, 0, 1, 2, 3, 4]
    assert SDPBackend.MATH.name == "MATH"


def test_both_import_forms_work():
    """nn.attention became a package: the old names stay where they were."""
    assert MultiHeadAttention is nn.MultiHeadAttention
    assert MultiheadAttention is nn.MultiheadAttention
    assert dlpy.nn.attention.flex_attention.flex_attention is flex_attention
    from dlpy.nn.transformer import TransformerEncoderLayer  # imports helpers from nn.attention
    assert TransformerEncoderLayer is nn.TransformerEncoderLayer


def test_float32_stays_float32():
    rng = np.random.default_rng(7)
    q, k, v = (Tensor(rng.standard_normal((1, 2, 4, 3)).astype(np.float32)) for _ in range(3))
    out, lse = flex_attention(q, k, v, softcap, block(causal, 4, 4), return_lse=True)
    assert out.dtype == np.float32 and lse.dtype == np.float32
    out, aux = flex_attention(q, k, v, return_aux=AuxRequest(max_scores=True))
    assert aux == AuxOutput(None, aux.max_scores) and aux.max_scores.dtype == np.float32
    assert flex_attention(q, k, v, block_mask=block(causal, 4, 4)).dtype == np.float32
    # float32 scores + int64 indices promote to float64 in numpy (not in torch): cast back
    slopes = Tensor(np.array([0.5, 0.25], dtype=np.float32), requires_grad=True)
    q.requires_grad = True
    out = flex_attention(q, k, v, alibi(slopes))
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == np.float32 and slopes.grad.dtype == np.float32


def test_bitwise_operators_on_tensors():
    a, b = Tensor(np.array([True, False, True])), Tensor(np.array([True, True, False]))
    np.testing.assert_array_equal((a & b).data, [True, False, False])
    np.testing.assert_array_equal((a | b).data, [True, True, True])
    np.testing.assert_array_equal((a ^ b).data, [False, True, True])
    np.testing.assert_array_equal((~a).data, [False, True, False])
    np.testing.assert_array_equal((True & a).data, a.data)
    np.testing.assert_array_equal((Tensor(np.array([6, 3])) & 5).data, [4, 1])
    with pytest.raises(TypeError, match="bitwise_and: expected integer or bool tensors"):
        Tensor(np.ones(2)) & a


def rand4(*shape, dtype=np.float64):
    return Tensor(np.random.default_rng(8).standard_normal(shape).astype(dtype))


def test_errors_name_what_was_expected():
    q, k = rand4(1, 4, 3, 2), rand4(1, 2, 3, 2)
    with pytest.raises(ValueError, match="Hq=4 and Hkv=2; set enable_gqa=True"):
        flex_attention(q, k, k)
    with pytest.raises(ValueError, match="multiple of the key/value heads, got Hq=4 and Hkv=3"):
        flex_attention(q, rand4(1, 3, 3, 2), rand4(1, 3, 3, 2), enable_gqa=True)
    with pytest.raises(ValueError, match=r"must be 4-D \(B, H, L, E\), got \(4, 3, 2\)"):
        flex_attention(rand4(4, 3, 2), k, k)
    with pytest.raises(TypeError, match="must be floating point, got int64, float64, float64"):
        flex_attention(rand4(1, 2, 3, 2, dtype=np.int64), k, k)
    with pytest.raises(ValueError, match=r"created for block_mask.shape=\(1, 1, 4, 4\) but got "
                                         "q_len=3 and kv_len=3"):
        flex_attention(k, k, k, block_mask=block(causal, 4, 4))
    with pytest.raises(ValueError, match="score_mod must return a Tensor of the scores' shape"):
        flex_attention(k, k, k, lambda s, b, h, q_idx, kv_idx: s[0])
    with pytest.raises(TypeError, match="kernel_options must be a dict or None"):
        flex_attention(k, k, k, kernel_options=3)
    with pytest.raises(ValueError, match="give return_lse or return_aux, not both"):
        flex_attention(k, k, k, return_lse=True, return_aux=AuxRequest(lse=True))
    with pytest.raises(TypeError, match="return_aux must be an AuxRequest or None, got True"):
        flex_attention(k, k, k, return_aux=True)
    with pytest.raises(ValueError, match="key/value's batch 2 differs from query's 3"):
        flex_attention(rand4(3, 2, 3, 2), rand4(2, 2, 3, 2), rand4(2, 2, 3, 2))
    with pytest.raises(TypeError, match="returned the Python bool False, not a boolean Tensor"):
        create_block_mask(lambda b, h, q_idx, kv_idx: False, 1, 1, 4, 4)
    with pytest.raises(TypeError, match="must return a boolean Tensor, got int64"):
        create_block_mask(lambda b, h, q_idx, kv_idx: q_idx - kv_idx, 1, 1, 4, 4)
    with pytest.raises(TypeError, match="expected a mask_mod"):
        create_block_mask(causal_score, 1, 1, 4, 4)
    with pytest.raises(ValueError, match="Q_LEN must be an int >= 1, got 0"):
        create_block_mask(causal, 1, 1, 0, 4)
    with pytest.raises(ValueError, match=r"BLOCK_SIZE must be an int >= 1 or two of them, got "
                                         r"\(2, 0\)"):
        create_block_mask(causal, 1, 1, 4, 4, BLOCK_SIZE=(2, 0))
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        create_block_mask(causal, 1, 1, 4, 4, BLOCKSIZE=2)
    with pytest.raises(ValueError, match="expected a boolean .* mask, got float64"):
        BlockMask(np.zeros((1, 1, 2, 2)))
    with pytest.raises(TypeError, match="and_masks: every argument must be a mask_mod"):
        and_masks(causal, 3)
    with pytest.raises(TypeError, match="sdpa_kernel: expected an SDPBackend"):
        with sdpa_kernel("flash"):
            pass
    with pytest.raises(TypeError, match="variant must be a CausalVariant, got 'lower'"):
        CausalBias("lower", 2, 2)
    with pytest.raises(ValueError, match=r"two sizes \(seq_len_q, seq_len_kv\), got \(2, 3, 4\)"):
        causal_lower_right(2, 3, 4)
    with pytest.raises(ValueError, match="enable_gqa=True expects .* got q \\(1, 4, 3, 2\\)"):
        F.scaled_dot_product_attention(q, rand4(1, 3, 3, 2), rand4(1, 3, 3, 2), enable_gqa=True)
    with pytest.raises(ValueError, match="does not broadcast to the scores"):
        F.scaled_dot_product_attention(k, k, k, attn_mask=causal_lower_right(2, 3))


def test_block_mask_slicing_and_as_tuple():
    """bm[i] keeps the indexed axes (as torch's slices of one), recomputes the q-block
    tensors, keeps seq_lengths; its mask_mod raises, so flex_attention refuses it."""
    def heads_apart(b, h, q_idx, kv_idx):
        return (h == 0) | (q_idx >= kv_idx)

    block_mask = create_block_mask(heads_apart, 2, 3, 6, 7, BLOCK_SIZE=2)
    sliced = block_mask[1, -1]
    assert sliced.shape == (1, 1, 6, 7) and sliced.seq_lengths == (6, 7)
    np.testing.assert_array_equal(sliced.to_dense().data, block_mask.to_dense().data[1:, 2:])
    np.testing.assert_array_equal(sliced.q_indices.data, block_mask.q_indices.data[1:, 2:])
    rows = block_mask[:, 1:, 1:]
    np.testing.assert_array_equal(rows.kv_num_blocks.data, block_mask.kv_num_blocks.data[:, 1:, 1:])
    with pytest.raises(RuntimeError, match="sliced BlockMask"):
        flex_attention(rand4(1, 1, 6, 2), rand4(1, 1, 7, 2), rand4(1, 1, 7, 2),
                       block_mask=sliced)
    flat = block_mask.as_tuple()
    assert flat[:2] == (6, 7) and flat[-3:-1] == (2, 2) and flat[-1] is heads_apart
    assert flat[2] is block_mask.kv_num_blocks and len(flat) == 17
    assert block_mask.as_tuple(flatten=False)[0] == (6, 7)
    merged = create_block_mask(causal, 1, 1, 6, 6, BLOCK_SIZE=2, separate_full_blocks=False)
    assert merged.full_kv_num_blocks is None and "full_kv_indices=None" in repr(merged)
    np.testing.assert_array_equal(merged.kv_num_blocks.data, [[[1, 2, 3]]])


def test_mask_mod_of_b_and_h_evaluated_for_the_call():
    """A BlockMask made with B / H None evaluates a mask_mod that reads b or h again for the
    call's batch and heads (torch's eager flex_attention applies the mask_mod itself)."""
    def first_batch_sees_all(b, h, q_idx, kv_idx):
        return (b == 0) | (q_idx >= kv_idx)

    q = rand4(2, 2, 4, 3)
    out = flex_attention(q, q, q, block_mask=create_block_mask(first_batch_sees_all, None,
                                                               None, 4, 4))
    full = flex_attention(q[:1], q[:1], q[:1])
    causal_out = flex_attention(q[1:], q[1:], q[1:],
                                block_mask=create_block_mask(causal, None, None, 4, 4))
    np.testing.assert_allclose(out.data[:1], full.data, rtol=1e-12)
    np.testing.assert_allclose(out.data[1:], causal_out.data, rtol=1e-12)


def test_mixed_and_low_precision_dtypes():
    """Key / value may differ from the query's float dtype; the output is the query's. A
    bfloat16 query: float32 scores and softmax, the weights rounded to bfloat16 before P v."""
    q, k, v = (Tensor(np.linspace(-1, 1, 24).reshape(1, 2, 4, 3) * s) for s in (1, 0.5, 2))
    out = flex_attention(q.float(), k, v)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, flex_attention(q, k, v).data, rtol=1e-6)
    low, lse = flex_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), return_lse=True)
    assert low.dtype == dlpy.bfloat16 and lse.dtype == np.float32
    np.testing.assert_allclose(low.float().data, out.data, rtol=2e-2, atol=1e-2)


def test_lse_gradient_reaches_captured_tables():
    """The logsumexp is differentiable through the scores: d lse / d scores = the weights."""
    q = rand4(1, 2, 3, 2)
    table = Tensor(np.zeros((1, 2, 3, 3)), requires_grad=True)
    out, lse = flex_attention(q, q, q, lambda s, b, h, qi, ki: s + table[b, h, qi, ki],
                              block_mask=create_block_mask(causal, None, None, 3, 3),
                              return_lse=True)
    lse.sum().backward()
    np.testing.assert_allclose(table.grad.sum(-1), np.ones((1, 2, 3)), rtol=1e-12)
    assert (table.grad[np.triu(np.ones((3, 3), bool), 1)[None, None].repeat(2, 1)] == 0).all()


def test_kernel_options_checked_as_torch():
    k = rand4(1, 2, 3, 2)
    with pytest.raises(ValueError, match="invalid BACKEND value 'CUDNN'"):
        flex_attention(k, k, k, kernel_options={"BACKEND": "CUDNN"})
    with pytest.raises(AssertionError, match="OUTPUT_MAX must not be in kernel_options"):
        flex_attention(k, k, k, kernel_options={"OUTPUT_MAX": True})
    with pytest.raises(RuntimeError, match="FORCE_USE_FLEX_ATTENTION"):
        flex_attention(k, k, k, kernel_options={"BACKEND": "AUTO",
                                                "FORCE_USE_FLEX_ATTENTION": True})
    assert flex_attention(k, k, k, kernel_options={"BACKEND": "TRITON"}).shape == k.shape
