"""Scaled dot-product attention and MultiHeadAttention: PyTorch fixtures, gradient checks, masks."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.nn import MultiHeadAttention
from dlpy.ops.attention import attention, packed_attention
from dlpy.testing import gradcheck

from .reference import load_transformer_fixture

TOLERANCE = 1e-6


def assert_gradcheck(fn, *arrays):
    """dlpy.testing.gradcheck of fn over float64 copies of the arrays."""
    assert gradcheck(fn, *[Tensor(np.array(a, dtype=np.float64), requires_grad=True)
                           for a in arrays])


def composite_attention(q, k, v, mask=None):
    """The same attention from primitive ops (their own backward), as a second opinion."""
    scores = F.matmul(q, F.swapaxes(k, -1, -2)) * (1.0 / np.sqrt(q.shape[-1]))
    if mask is not None:
        scores = F.masked_fill(scores, np.broadcast_to(mask, scores.shape), -1e9)
    return F.matmul(F.softmax(scores, dim=-1), v)


def rand(rng, *shape):
    return rng.standard_normal(shape)


# ------------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("name", ["mha_self_padding", "mha_self_causal", "mha_cross"])
def test_multi_head_attention_matches_pytorch(name):
    fx = load_transformer_fixture(name)
    d_model = fx["param"]["in_proj_weight"].shape[1]
    num_heads = fx["weights"].shape[1] if fx["weights"].ndim == 4 else 2
    mha = MultiHeadAttention(d_model, num_heads, dtype=np.float64)
    mha.load_state_dict(fx["param"])
    inputs = {k: Tensor(v, requires_grad=True) for k, v in fx["input"].items()}
    if "x" in inputs:
        query = key = value = inputs["x"]
    else:
        query, key, value = inputs["query"], inputs["key"], inputs["value"]
    average = fx["weights"].ndim == 3
    out, weights = mha(query, key, value, need_weights=True, average_attn_weights=average,
                       **fx["mask"])
    out.backward(fx["grad_output"])

    assert out.dtype == np.float64
    assert np.abs(out.data - fx["out"]).max() < TOLERANCE
    assert np.abs(weights - fx["weights"]).max() < TOLERANCE
    for k, t in inputs.items():
        assert np.abs(t.grad - fx["grad"][k]).max() < TOLERANCE, k
    for k, p in mha.named_parameters():
        assert np.abs(p.grad - fx["pgrad"][k]).max() < TOLERANCE, k


def test_parameter_names_and_shapes_are_pytorchs():
    fx = load_transformer_fixture("mha_self_padding")
    mha = MultiHeadAttention(8, 2)
    assert {k: v.shape for k, v in mha.state_dict().items()} == \
        {k: v.shape for k, v in fx["param"].items()}
    assert list(mha.state_dict()) == list(fx["param"])
    assert np.all(mha.in_proj_bias.data == 0) and np.all(mha.out_proj.bias.data == 0)
    assert mha.in_proj_weight.dtype == np.float32


# ------------------------------------------------------------------ gradient checks
def test_fused_attention_gradcheck_heads_first_with_broadcasting():
    rng = np.random.default_rng(0)
    # k and v shared by the batch (size-1 axis), a mask broadcast over heads and queries
    mask = np.array([[[[False, False, True]]], [[[False, True, True]]]])  # (2, 1, 1, 3)
    assert_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask=mask),
                     rand(rng, 2, 2, 4, 3), rand(rng, 1, 2, 3, 3), rand(rng, 1, 2, 3, 5))
    assert_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
                     rand(rng, 3, 2), rand(rng, 4, 2), rand(rng, 4, 1))


def test_fused_attention_gradcheck_folded_and_packed_layouts():
    rng = np.random.default_rng(1)
    mask = np.zeros((2, 1, 1, 4))
    mask[0, ..., 3] = -np.inf
    assert_gradcheck(lambda q, k, v: attention(q, k, v, mask=mask, num_heads=2),
                     rand(rng, 2, 3, 4), rand(rng, 2, 4, 4), rand(rng, 2, 4, 6))
    causal = np.where(np.triu(np.ones((4, 4), dtype=bool), 1), -np.inf, 0.0)
    assert_gradcheck(lambda qkv: packed_attention(qkv, num_heads=2, mask=causal),
                     rand(rng, 2, 4, 12))


def test_fused_attention_gradcheck_with_a_fully_masked_row_and_dropout():
    rng = np.random.default_rng(2)
    mask = np.array([[False, True, False], [True, True, True]])  # query 1 sees no key
    assert_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask=mask),
                     rand(rng, 2, 2, 2), rand(rng, 2, 3, 2), rand(rng, 2, 3, 2))
    # the same generator state on every call: the same dropout mask
    assert_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, dropout_p=0.4, training=True, rng=np.random.default_rng(5)),
        rand(rng, 2, 3, 2), rand(rng, 2, 4, 2), rand(rng, 2, 4, 3))


def test_multi_head_attention_gradcheck():
    rng = np.random.default_rng(3)
    mha = MultiHeadAttention(4, 2, rng=rng, dtype=np.float64)
    for p in mha.parameters():
        p.data = rng.standard_normal(p.shape)
    padding = np.array([[False, False, True], [False, False, False]])
    assert_gradcheck(lambda x: mha(x, x, x, key_padding_mask=padding), rand(rng, 2, 3, 4))
    assert_gradcheck(lambda q, kv: mha(q, kv, kv), rand(rng, 2, 2, 4), rand(rng, 2, 3, 4))


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 6, 2)])
def test_fused_attention_equals_composite_of_primitive_ops(shape):
    rng = np.random.default_rng(4)
    arrays = [rand(rng, *shape) for _ in range(3)]
    mask = rng.random(shape[:-1] + (shape[-2],)) < 0.3
    mask[..., 0] = False  # no fully masked row: the composite would average over padding there
    results = []
    for fn in (F.scaled_dot_product_attention, composite_attention):
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        out = fn(*tensors, mask=mask)
        out.backward(np.ones(out.shape))
        results.append([out.data] + [t.grad for t in tensors])
    for fused, composite in zip(*results):
        np.testing.assert_allclose(fused, composite, atol=1e-12)


# ------------------------------------------------------------------ masks
def test_fully_padded_sequence_gives_no_nan():
    rng = np.random.default_rng(5)
    mha = MultiHeadAttention(6, 3, rng=rng)
    x = Tensor(rng.standard_normal((2, 4, 6)).astype(np.float32), requires_grad=True)
    padding = np.array([[True] * 4, [False, False, True, True]])
    out = mha(x, x, x, key_padding_mask=padding)
    out.sum().backward()
    assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
    # no key to attend to: the heads give zeros, so the output is out_proj's bias
    np.testing.assert_allclose(out.data[0], np.broadcast_to(mha.out_proj.bias.data, (4, 6)))
    assert np.isfinite(mha.in_proj_weight.grad).all()

    q = Tensor(rng.standard_normal((1, 2, 3)), requires_grad=True)
    out, weights = F.scaled_dot_product_attention(q, q, q, mask=np.ones((2, 2), dtype=bool),
                                                  return_weights=True)
    assert np.all(out.data == 0) and np.all(weights == 0)


def test_padded_positions_do_not_change_real_positions():
    rng = np.random.default_rng(6)
    mha = MultiHeadAttention(8, 2, rng=rng)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    padding = np.array([[False, False, False, True, True], [False, False, False, False, True]])
    changed = x.copy()
    changed[padding] = rng.standard_normal((3, 8)) * 100
    out, weights = mha(Tensor(x), Tensor(x), Tensor(x), key_padding_mask=padding,
                       need_weights=True)
    out_changed = mha(Tensor(changed), Tensor(changed), Tensor(changed), key_padding_mask=padding)
    np.testing.assert_allclose(out.data[~padding], out_changed.data[~padding], atol=1e-5)
    assert np.all(weights[np.broadcast_to(padding[:, None, :], weights.shape)] == 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1, atol=1e-6)


def test_boolean_and_float_masks_agree():
    rng = np.random.default_rng(7)
    mha = MultiHeadAttention(4, 2, rng=rng, dtype=np.float64)
    x = Tensor(rng.standard_normal((2, 3, 4)))
    causal = np.triu(np.ones((3, 3), dtype=bool), 1)
    as_float = np.where(causal, -np.inf, 0.0)
    np.testing.assert_array_equal(mha(x, x, x, attn_mask=causal).data,
                                  mha(x, x, x, attn_mask=as_float).data)
    # a per-head (batch * heads, seq, seq) mask as PyTorch allows
    per_head = np.broadcast_to(causal, (4, 3, 3))
    np.testing.assert_array_equal(mha(x, x, x, attn_mask=causal).data,
                                  mha(x, x, x, attn_mask=per_head).data)


# ------------------------------------------------------------------ dropout and dtype
def test_attention_dropout_only_in_training():
    rng = np.random.default_rng(8)
    mha = MultiHeadAttention(8, 2, dropout=0.5, rng=rng)
    x = Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32))
    plain = MultiHeadAttention(8, 2, rng=rng)
    plain.load_state_dict(mha.state_dict())
    assert not np.allclose(mha(x, x, x).data, plain(x, x, x).data)
    mha.eval()
    np.testing.assert_array_equal(mha(x, x, x).data, plain(x, x, x).data)


def test_float32_stays_float32():
    rng = np.random.default_rng(9)
    mha = MultiHeadAttention(8, 2, rng=rng)
    x = Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32), requires_grad=True)
    out = mha(x, x, x, key_padding_mask=np.zeros((2, 5), dtype=bool))
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    assert mha.in_proj_weight.grad.dtype == np.float32


# ------------------------------------------------------------------ errors
def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="divisible by num_heads, got d_model=10 and num_heads=3"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2)
    x = Tensor(np.zeros((2, 5, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"query must be \(batch, seq, 8\), got \(2, 5, 6\)"):
        y = Tensor(np.zeros((2, 5, 6), dtype=np.float32))
        mha(y, y, y)
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(batch, seq_k\)"):
        mha(x, x, x, key_padding_mask=np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"attn_mask must be \(seq_q, seq_k\) = \(5, 5\)"):
        mha(x, x, x, attn_mask=np.zeros((4, 5), dtype=bool))
    q = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"expected q \(\.\.\., seq_q, dim\).*k \(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, Tensor(np.zeros((2, 3, 5))), q)
    with pytest.raises(ValueError, match=r"mask \(2, 2\) does not broadcast to the scores"):
        F.scaled_dot_product_attention(q, q, q, mask=np.zeros((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="mask must be boolean or float, got int64"):
        F.scaled_dot_product_attention(q, q, q, mask=np.zeros((3, 3), dtype=np.int64))
