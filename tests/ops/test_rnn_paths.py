"""The LSTM sequence op's forward loop (dlpy.ops.rnn.LSTMSequence): gates computed transposed
(4H, N), reordered o, i, f, g, b_hh added by the step's matmul against a row of ones under h,
x_proj transposed in bulk before the loop or (from _INLINE_X values a step on: "inline") added
block by block in it. Its values against a plain float64 loop of PyTorch's formulas to 1e-12,
on every path the loop has: bias or none, projections, packed lengths going forward and in
reverse, mixed dtypes, a strided initial state, one step; float32 against float64. Gradients
are checked in test_rnn_ops.py, and against PyTorch through the layers in tests/nn/test_rnn.py.
"""

import numpy as np
import pytest

from dlpy import Tensor, no_grad
from dlpy.ops import rnn as R


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_lstm(x_proj, h0, c0, w_hh, b_hh=None, w_hr=None, reverse=False, lengths=None):
    """(h at every step (L, N, P), c at every step (L, N, H)): PyTorch's formulas, one step at
    a time; past its length a sequence keeps its state."""
    seq_len, batch, gates = x_proj.shape
    hidden = gates // 4
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    hs, cs = np.empty((seq_len, batch, h0.shape[1])), np.empty((seq_len, batch, hidden))
    for t in (range(seq_len - 1, -1, -1) if reverse else range(seq_len)):
        pre = x_proj[t] + h @ w_hh.T + (0 if b_hh is None else b_hh)
        i, f, g, o = (pre[:, k * hidden:(k + 1) * hidden] for k in range(4))
        c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h_new = sigmoid(o) * np.tanh(c_new)
        if w_hr is not None:
            h_new = h_new @ w_hr.T
        if lengths is not None:
            running = (t < np.asarray(lengths))[:, None]
            h_new, c_new = np.where(running, h_new, h), np.where(running, c_new, c)
        h, c = h_new, c_new
        hs[t], cs[t] = h, c
    return hs, cs


def arrays(rng, seq_len, batch, hidden, proj=0, bias=True, scale=1.0):
    width = proj or hidden
    return dict(x_proj=rng.standard_normal((seq_len, batch, 4 * hidden)) * scale,
                h0=rng.standard_normal((batch, width)) * 0.5,
                c0=rng.standard_normal((batch, hidden)) * 0.5,
                w_hh=rng.standard_normal((4 * hidden, width)) * 0.5,
                b_hh=rng.standard_normal(4 * hidden) * 0.5 if bias else None,
                w_hr=rng.standard_normal((proj, hidden)) * 0.5 if proj else None)


def run(values, reverse=False, lengths=None):
    """(output, h_n, c_n) of lstm_sequence on the arrays, as arrays."""
    with no_grad():
        outs = R.lstm_sequence(values["x_proj"], values["h0"], values["c0"], values["w_hh"],
                               values["b_hh"], values["w_hr"], reverse, lengths)
    return [o.data for o in outs]


@pytest.fixture(params=["bulk", "inline"])
def path(request, monkeypatch):
    """Each test on both ways of adding x_proj: the small shapes here take the bulk one."""
    if request.param == "inline":
        monkeypatch.setattr(R, "_INLINE_X", 0)
    return request.param


@pytest.mark.parametrize("seq_len, batch, hidden, proj, bias, reverse, lengths", [
    (5, 3, 4, 0, True, False, None),
    (5, 3, 4, 0, False, True, None),
    (4, 2, 6, 3, True, False, None),
    (4, 2, 6, 3, False, True, None),
    (6, 4, 3, 0, True, False, [6, 1, 3, 4]),
    (6, 4, 3, 0, True, True, [6, 1, 3, 4]),
    (5, 3, 5, 2, True, True, [2, 5, 1]),
    (1, 1, 1, 0, True, False, None),
])
def test_lstm_sequence_equals_the_step_by_step_formulas(seq_len, batch, hidden, proj, bias,
                                                        reverse, lengths, path):
    rng = np.random.default_rng(seq_len * 100 + hidden * 10 + proj)
    values = arrays(rng, seq_len, batch, hidden, proj, bias, scale=2.0)
    lengths = None if lengths is None else np.array(lengths)
    output, h_n, c_n = run(values, reverse, lengths)
    hs, cs = reference_lstm(**values, reverse=reverse, lengths=lengths)
    np.testing.assert_allclose(output, hs, rtol=0, atol=1e-12)
    # h_n and c_n: the state after the last step taken (the first step going in reverse)
    last = 0 if reverse else seq_len - 1
    np.testing.assert_allclose(h_n, hs[last], rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_n, cs[last], rtol=0, atol=1e-12)


def test_mixed_dtypes_strided_states_and_one_step(path):
    rng = np.random.default_rng(3)
    values = arrays(rng, 4, 3, 5)
    hs, cs = reference_lstm(**values)
    # x_proj in float32 with float64 weights: the op runs in float64 on x_proj's values
    mixed = dict(values, x_proj=values["x_proj"].astype(np.float32))
    expected, _ = reference_lstm(**dict(mixed, x_proj=mixed["x_proj"].astype(np.float64)))
    output, _, _ = run(mixed)
    assert output.dtype == np.float64
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)
    # initial states that are transposed views (not C-contiguous)
    strided = dict(values, h0=np.asfortranarray(values["h0"]), c0=np.asfortranarray(values["c0"]))
    assert not strided["h0"].flags.c_contiguous
    output, h_n, c_n = run(strided)
    np.testing.assert_allclose(output, hs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_n, cs[-1], rtol=0, atol=1e-12)
    # one step (lstm_cell) is the sequence's first step
    with no_grad():
        h, c = R.lstm_cell(values["x_proj"][0], values["h0"], values["c0"], values["w_hh"],
                           values["b_hh"])
    np.testing.assert_allclose(h.data, hs[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.data, cs[0], rtol=0, atol=1e-12)


def test_float32_follows_float64_and_saturated_gates(path):
    rng = np.random.default_rng(4)
    values = arrays(rng, 6, 5, 8, scale=30.0)  # many gates saturated at 0 or 1
    values["x_proj"][0, 0, :] = np.inf  # sigmoid(inf) = tanh(inf) = 1
    values["x_proj"][1, 1, :] = -np.inf
    wide = run(values)
    narrow = run({k: None if v is None else v.astype(np.float32) for k, v in values.items()})
    hs, cs = reference_lstm(**values)
    for got32, got64, expected in zip(narrow, wide, (hs, hs[-1], cs[-1])):
        assert got32.dtype == np.float32 and np.isfinite(got32).all()
        np.testing.assert_allclose(got64, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got32, expected, rtol=0, atol=1e-5)


def test_recorded_and_unrecorded_forward_agree_and_backward_runs(path):
    rng = np.random.default_rng(6)
    values = arrays(rng, 3, 2, 4, proj=2)
    tensors = {k: None if v is None else Tensor(v, requires_grad=True) for k, v in values.items()}
    output, h_n, c_n = R.lstm_sequence(tensors["x_proj"], tensors["h0"], tensors["c0"],
                                       tensors["w_hh"], tensors["b_hh"], tensors["w_hr"])
    for recorded, plain in zip((output, h_n, c_n), run(values)):
        np.testing.assert_array_equal(recorded.data, plain)
    (output.sum() + c_n.sum()).backward()
    for name, t in tensors.items():
        assert t.grad is not None and t.grad.shape == t.shape, name


def test_the_two_paths_agree_bit_for_bit(monkeypatch):
    # x s + (W_hh s) h + b_hh s and (x + W_hh h + b_hh) s: halving is exact, so the same values
    rng = np.random.default_rng(8)
    values = arrays(rng, 5, 3, 4, bias=True, scale=2.0)
    bulk = run(values, True, np.array([5, 2, 4]))
    monkeypatch.setattr(R, "_INLINE_X", 0)
    inline = run(values, True, np.array([5, 2, 4]))
    for a, b in zip(bulk, inline):
        np.testing.assert_array_equal(a, b)


def test_an_op_made_without_a_backward_refuses_one(monkeypatch):
    # keep=False (lstm_sequence's choice when nothing records): large layers keep two steps
    monkeypatch.setattr(R, "_INLINE_X", 0)
    values = arrays(np.random.default_rng(9), 3, 2, 2)
    op = R.LSTMSequence(keep=False)
    states = op.forward(*(values[k] for k in ("x_proj", "h0", "c0", "w_hh", "b_hh")))
    hs, cs = reference_lstm(**values)
    np.testing.assert_allclose(states, np.concatenate([hs, cs], -1), rtol=0, atol=1e-12)
    with pytest.raises(RuntimeError, match="keep=False"):
        op.backward(np.ones_like(states))
