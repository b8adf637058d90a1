"""The fused recurrent ops (dlpy.ops.rnn): float64 gradient checks over several shapes, with
reverse, lengths, projections and no bias; values against the same formulas composed of small
ops; one step equal to a sequence of one; errors. Against PyTorch through the layers in
tests/nn/test_rnn.py and test_rnn_cells.py."""

import numpy as np
import pytest

from dlpy import Tensor, no_grad
from dlpy import functional as F
from dlpy.ops import rnn as R
from dlpy.testing import gradcheck

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def make(rng, kind, seq_len, batch, hidden, proj=0, bias=True, cell=False):
    """Float64 leaf tensors for one op: x_proj, h0 [, c0], w_hh [, b_hh] [, w_hr]."""
    width = proj or hidden
    gates = GATES[kind] * hidden

    def leaf(*shape, scale=1.0):
        return Tensor(rng.standard_normal(shape) * scale, requires_grad=True)

    x_proj = leaf(batch, gates) if cell else leaf(seq_len, batch, gates)
    tensors = {"x_proj": x_proj, "h0": leaf(batch, width, scale=0.5)}
    if kind == "lstm":
        tensors["c0"] = leaf(batch, hidden, scale=0.5)
    tensors["w_hh"] = leaf(gates, width, scale=0.5)
    tensors["b_hh"] = leaf(gates, scale=0.5) if bias else None
    if proj:
        tensors["w_hr"] = leaf(proj, hidden, scale=0.5)
    return tensors


def sequence(kind, reverse=False, lengths=None):
    """fn(**tensors) -> the flattened outputs of kind's sequence op, one tensor."""
    def run(x_proj, h0, w_hh, b_hh=None, c0=None, w_hr=None):
        if kind == "lstm":
            outs = R.lstm_sequence(x_proj, h0, c0, w_hh, b_hh, w_hr, reverse, lengths)
        elif kind == "gru":
            outs = R.gru_sequence(x_proj, h0, w_hh, b_hh, reverse, lengths)
        else:
            outs = R.rnn_sequence(x_proj, h0, w_hh, b_hh, kind[4:], reverse, lengths)
        return F.concat([F.flatten(t) for t in outs])
    return run


def check(fn, tensors):
    names = [k for k, v in tensors.items() if v is not None]
    assert gradcheck(lambda *args: fn(**dict(zip(names, args))), *[tensors[k] for k in names])


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("seq_len, batch, hidden, reverse, bias", [
    (1, 1, 1, False, True), (3, 2, 3, False, True), (4, 3, 2, True, True), (2, 1, 4, True, False),
])
def test_gradcheck_sequence(kind, seq_len, batch, hidden, reverse, bias):
    rng = np.random.default_rng(seq_len * 10 + hidden)
    tensors = make(rng, kind, seq_len, batch, hidden, bias=bias)
    check(sequence(kind, reverse), tensors)


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_sequence_with_lengths(kind, reverse):
    """Sequences of 4, 1, 3 and 4 steps in a padded batch: each keeps its state after its end."""
    rng = np.random.default_rng(5)
    tensors = make(rng, kind, 4, 4, 2)
    check(sequence(kind, reverse, np.array([4, 1, 3, 4])), tensors)


@pytest.mark.parametrize("seq_len, batch, hidden, proj, reverse, bias, lengths", [
    (3, 2, 3, 1, False, True, None), (4, 3, 4, 2, True, True, [2, 4, 1]),
    (2, 1, 3, 2, False, False, None),
])
def test_gradcheck_lstm_with_projections(seq_len, batch, hidden, proj, reverse, bias, lengths):
    rng = np.random.default_rng(hidden)
    tensors = make(rng, "lstm", seq_len, batch, hidden, proj=proj, bias=bias)
    check(sequence("lstm", reverse, None if lengths is None else np.array(lengths)), tensors)


CELLS = {
    "lstm": lambda x_proj, h0, c0, w_hh, b_hh=None: F.concat(R.lstm_cell(x_proj, h0, c0, w_hh,
                                                                         b_hh), 1),
    "gru": lambda x_proj, h0, w_hh, b_hh=None: R.gru_cell(x_proj, h0, w_hh, b_hh),
    "rnn_tanh": lambda x_proj, h0, w_hh, b_hh=None: R.rnn_cell(x_proj, h0, w_hh, b_hh, "tanh"),
    "rnn_relu": lambda x_proj, h0, w_hh, b_hh=None: R.rnn_cell(x_proj, h0, w_hh, b_hh, "relu"),
}


@pytest.mark.parametrize("kind", list(GATES))
@pytest.mark.parametrize("batch, hidden, bias", [(1, 1, True), (3, 2, True), (2, 4, False)])
def test_gradcheck_cell(kind, batch, hidden, bias):
    rng = np.random.default_rng(batch + 7 * hidden)
    check(CELLS[kind], make(rng, kind, 1, batch, hidden, bias=bias, cell=True))


def composite_step(kind, x_proj, h, c, w_hh, b_hh):
    """One step composed of linear, sigmoid, tanh, chunk (the formulas as PyTorch writes
    them); returns (h, c)."""
    h_proj = F.linear(h, w_hh, b_hh)
    if kind == "lstm":
        i, f, g, o = F.chunk(x_proj + h_proj, 4, 1)
        c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
        return F.sigmoid(o) * F.tanh(c), c
    if kind == "gru":
        x_r, x_z, x_n = F.chunk(x_proj, 3, 1)
        h_r, h_z, h_n = F.chunk(h_proj, 3, 1)
        r, z = F.sigmoid(x_r + h_r), F.sigmoid(x_z + h_z)
        n = F.tanh(x_n + r * h_n)
        return (1.0 - z) * n + z * h, None
    pre = x_proj + h_proj
    return (F.tanh(pre) if kind == "rnn_tanh" else F.relu(pre)), None


@pytest.mark.parametrize("kind", list(GATES))
def test_sequence_equals_composed_steps_values_and_gradients(kind):
    rng = np.random.default_rng(11)
    tensors = make(rng, kind, 6, 3, 5)
    outputs = sequence(kind)(**tensors)
    w = Tensor(rng.standard_normal(outputs.shape))  # every output element weighs differently
    (outputs * w).sum().backward()
    fused_grads = {k: v.grad.numpy().copy() for k, v in tensors.items() if v is not None}
    for v in tensors.values():
        if v is not None:
            v.grad = None
    h, c = tensors["h0"], tensors.get("c0")
    hs = []
    for x_t in F.unbind(tensors["x_proj"], 0):
        h, c = composite_step(kind, x_t, h, c, tensors["w_hh"], tensors["b_hh"])
        hs.append(h)
    parts = [F.stack(hs, 0), h] + ([c] if kind == "lstm" else [])
    composed = F.concat([F.flatten(t) for t in parts])
    np.testing.assert_allclose(outputs.data, composed.data, rtol=1e-12, atol=1e-14)
    (composed * w).sum().backward()
    for name, grad in fused_grads.items():
        np.testing.assert_allclose(grad, tensors[name].grad, rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_a_cell_is_a_sequence_of_one_step():
    rng = np.random.default_rng(3)
    t = make(rng, "lstm", 1, 2, 3)
    h, c = R.lstm_cell(t["x_proj"][0], t["h0"], t["c0"], t["w_hh"], t["b_hh"])
    _, h_n, c_n = R.lstm_sequence(t["x_proj"], t["h0"], t["c0"], t["w_hh"], t["b_hh"])
    np.testing.assert_array_equal(h.data, h_n.data)
    np.testing.assert_array_equal(c.data, c_n.data)


def test_float32_stays_float32_and_no_grad_records_nothing():
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((3, 2, 8)).astype(np.float32), requires_grad=True)
    h0 = Tensor(np.zeros((2, 2), np.float32))
    w = Tensor(rng.standard_normal((8, 2)).astype(np.float32), requires_grad=True)
    output, h_n, c_n = R.lstm_sequence(x, h0, h0, w)
    assert output.dtype == h_n.dtype == c_n.dtype == np.float32
    output.sum().backward()
    assert x.grad.dtype == w.grad.dtype == np.float32
    with no_grad():
        output, h_n = R.gru_sequence(x[..., :6], h0, w[:6])
    assert not output.requires_grad and output.op is None


def test_two_backward_calls_with_retain_graph_and_a_weight_used_twice():
    """Both directions share one W_hh: its gradient is the sum of both uses, and a retained
    graph gives the same gradients again."""
    rng = np.random.default_rng(6)
    t = make(rng, "gru", 4, 2, 3)
    forward, _ = R.gru_sequence(t["x_proj"], t["h0"], t["w_hh"], t["b_hh"])
    backward, _ = R.gru_sequence(t["x_proj"], t["h0"], t["w_hh"], t["b_hh"], reverse=True)
    loss = (forward * backward).sum()
    loss.backward(retain_graph=True)
    first = t["w_hh"].grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(t["w_hh"].grad, 2 * first, rtol=1e-12)
    assert gradcheck(lambda w: (R.gru_sequence(t["x_proj"], t["h0"], w)[0]
                                * R.gru_sequence(t["x_proj"], t["h0"], w, reverse=True)[0]
                                ).sum(), t["w_hh"])


def test_errors_name_the_function_and_the_shapes():
    x, h, w = np.zeros((3, 2, 8)), np.zeros((2, 2)), np.zeros((8, 2))
    with pytest.raises(ValueError, match=r"gru_sequence: expected w_hh of shape \(3 \* "
                                         r"hidden_size, size of h\), got \(8, 2\)"):
        R.gru_sequence(x, h, w)
    with pytest.raises(ValueError, match=r"lstm_sequence: expected x_proj of shape \(seq_len, "
                                         r"batch, 8\) for w_hh of shape \(8, 2\), got \(2, 8\)"):
        R.lstm_sequence(x[0], h, h, w)
    with pytest.raises(ValueError, match=r"lstm_cell: expected c of shape \(2, 2\), got "
                                         r"\(2, 3\)"):
        R.lstm_cell(x[0], h, np.zeros((2, 3)), w)
    with pytest.raises(ValueError, match=r"rnn_cell: expected b_hh of shape \(2,\), got \(3,\)"):
        R.rnn_cell(np.zeros((2, 2)), h, np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"lstm_sequence: expected w_hh of shape \(8, 2\) "
                                         "without w_hr"):
        R.lstm_sequence(x, np.zeros((2, 1)), h, np.zeros((8, 1)))
    with pytest.raises(ValueError, match=r"lstm_sequence: expected w_hr of shape \(1, 2\)"):
        R.lstm_sequence(x, np.zeros((2, 1)), h, np.zeros((8, 1)), w_hr=np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"rnn_sequence: nonlinearity must be 'tanh' or "
                                         "'relu', got 'gelu'"):
        R.rnn_sequence(np.zeros((3, 2, 2)), h, np.zeros((2, 2)), nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"gru_sequence: expected lengths of shape \(2,\), "
                                         r"got \(3,\)"):
        R.gru_sequence(np.zeros((3, 2, 6)), h, np.zeros((6, 2)), lengths=np.array([1, 2, 3]))
