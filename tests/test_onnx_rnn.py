"""dlpy.onnx.export of the recurrent layers: GRU (ONNX GRU, linear_before_reset=1), RNN (tanh
and relu), LSTM, each bidirectional and stacked, the cells, packed lengths as sequence_lens; run
in onnxruntime and compared with dlpy."""


import numpy as np
import pytest
from cases_onnx import ATOL, check, op_types, random_tensor, run

import dlpy
from dlpy import Tensor, nn
from dlpy.ops import rnn as rnn_ops

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from dlpy.onnx import export  # noqa: E402


class _Recurrent(nn.Module):
    """A recurrent layer and its final states, the states given or not."""

    def __init__(self, layer, with_state):
        super().__init__()
        self.layer, self.with_state = layer, with_state

    def forward(self, x, *state):
        if isinstance(self.layer, nn.LSTM):
            output, (h, c) = self.layer(x, tuple(state) if state else None)
            return output, h, c
        output, h = self.layer(x, state[0] if state else None)
        return output, h


LAYERS = {
    "gru": lambda **k: nn.GRU(4, 5, **k),
    "rnn_tanh": lambda **k: nn.RNN(4, 5, **k),
    "rnn_relu": lambda **k: nn.RNN(4, 5, nonlinearity="relu", **k),
    "lstm": lambda **k: nn.LSTM(4, 5, **k),
}
ONNX_TYPE = {"gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM"}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("num_layers, bidirectional, batch_first, bias",
                         [(1, False, False, True), (1, True, True, True),
                          (2, True, False, False), (3, False, True, True)])
def test_recurrent_layers_match_onnxruntime(kind, num_layers, bidirectional, batch_first, bias):
    rng = np.random.default_rng(num_layers)
    layer = LAYERS[kind](num_layers=num_layers, bidirectional=bidirectional,
                         batch_first=batch_first, bias=bias, rng=rng)
    model = _Recurrent(layer, False)
    x = random_tensor(rng, *((3, 6, 4) if batch_first else (6, 3, 4)))
    proto = check(model, x)
    directions = 1 + bidirectional
    assert op_types(proto).count(ONNX_TYPE[kind]) == num_layers * directions
    nodes = [n for n in proto.graph.node if n.op_type == ONNX_TYPE[kind]]
    assert [dict((a.name, onnx.helper.get_attribute_value(a)) for a in n.attribute)["direction"]
            for n in nodes] == [b"forward", b"reverse"][:directions] * num_layers
    if kind == "gru":
        assert all(onnx.helper.get_attribute_value(a) == 1 for n in nodes for a in n.attribute
                   if a.name == "linear_before_reset")
    if kind == "rnn_relu":
        activations = [onnx.helper.get_attribute_value(a) for n in nodes for a in n.attribute
                       if a.name == "activations"]
        assert activations == [[b"Relu"]] * len(nodes)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_initial_states_are_inputs_and_the_batch_can_be_dynamic(kind):
    rng = np.random.default_rng(3)
    layer = LAYERS[kind](num_layers=2, bidirectional=True, rng=rng)
    model = _Recurrent(layer, True)
    x, h0 = random_tensor(rng, 7, 2, 4), random_tensor(rng, 4, 2, 5)
    states = (h0, random_tensor(rng, 4, 2, 5)) if kind == "lstm" else (h0,)
    names = ["x", "h0", "c0"][:1 + len(states)]
    proto = check(model, x, *states, input_names=names,
                  dynamic_axes={n: {1: "batch"} for n in names})
    x, h0 = random_tensor(rng, 7, 5, 4), random_tensor(rng, 4, 5, 5)  # another batch size
    states = (h0, random_tensor(rng, 4, 5, 5)) if kind == "lstm" else (h0,)
    for got, expected in zip(run(proto, x, *states), model(x, *states)):
        np.testing.assert_allclose(got, expected.data, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn_tanh"])
def test_float64_layers_export_as_double(kind):
    """onnxruntime has no float64 kernels for LSTM / GRU / RNN: onnx's reference evaluator
    runs the model instead (it has no Relu activation for RNN)."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(4)
    model = _Recurrent(LAYERS[kind](bidirectional=True, rng=rng, dtype=np.float64), False)
    x = random_tensor(rng, 5, 2, 4, dtype=np.float64)
    proto = export(model, (x,))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    got = ReferenceEvaluator(proto).run(None, {"input_0": x.data})
    for g, e in zip(got, model(x), strict=True):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, e.data, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_cells_map_to_one_step_sequences(kind):
    rng = np.random.default_rng(5)
    cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn_tanh": nn.RNNCell,
            "rnn_relu": lambda *a, **k: nn.RNNCell(*a, nonlinearity="relu", **k)}[kind](
        4, 3, rng=rng)
    x, h = random_tensor(rng, 2, 4), random_tensor(rng, 2, 3)
    if kind == "lstm":
        proto = check(lambda x, h, c: cell(x, (h, c)), x, h, random_tensor(rng, 2, 3))
    else:
        proto = check(lambda x, h: cell(x, h), x, h)
    assert ONNX_TYPE[kind] in op_types(proto)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", ["gru", "rnn", "lstm"])
def test_packed_lengths_become_sequence_lens(kind, reverse):
    """Past a sequence's end dlpy keeps its state where ONNX writes zeros: the export puts the
    state back, so every step matches, and h_n is the state at each sequence's own end."""
    rng = np.random.default_rng(6)
    hidden, lengths = 3, np.array([5, 2, 4])
    gates = {"gru": 3, "rnn": 1, "lstm": 4}[kind]
    w_hh = nn.Parameter(random_tensor(rng, gates * hidden, hidden).data)
    b_hh = nn.Parameter(random_tensor(rng, gates * hidden).data)

    def model(x_proj, h0, c0):
        if kind == "lstm":
            return rnn_ops.lstm_sequence(x_proj, h0, c0, w_hh, b_hh, reverse=reverse,
                                         lengths=lengths)
        function = rnn_ops.gru_sequence if kind == "gru" else rnn_ops.rnn_sequence
        return function(x_proj + 0 * c0.sum(), h0, w_hh, b_hh, reverse=reverse, lengths=lengths)

    x_proj = random_tensor(rng, 5, 3, gates * hidden)
    proto = check(model, x_proj, random_tensor(rng, 3, hidden), random_tensor(rng, 3, hidden))
    lens = [n for n in proto.graph.initializer if n.name.startswith("sequence_lens")]
    assert len(lens) == 1 and list(onnx.numpy_helper.to_array(lens[0])) == [5, 2, 4]


def test_packed_lengths_cannot_be_dynamic():
    rng = np.random.default_rng(8)
    w_hh = nn.Parameter(random_tensor(rng, 3, 3).data)

    def model(x_proj):
        return rnn_ops.rnn_sequence(x_proj, Tensor(np.zeros((2, 3), np.float32)), w_hh,
                                    lengths=np.array([2, 1]))[0]

    with pytest.raises(ValueError, match="packed lengths .* cannot be dynamic"):
        export(model, (random_tensor(rng, 2, 2, 3),), dynamic_axes={"input_0": {0: "seq"}})


def test_lstm_with_proj_size_is_refused_clearly():
    model = _Recurrent(nn.LSTM(4, 5, proj_size=2, rng=np.random.default_rng(0)), False)
    with pytest.raises(NotImplementedError, match="proj_size has no ONNX form"):
        export(model, (random_tensor(np.random.default_rng(1), 3, 2, 4),))


def test_a_gru_tagger_learns_then_exports():
    """A GRU trained a few steps exports to the same outputs (trained weights, not initial)."""
    rng = np.random.default_rng(7)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 6, bidirectional=True, batch_first=True, rng=rng)
            self.head = nn.Linear(12, 2, rng=rng)

        def forward(self, x):
            return self.head(self.gru(x)[0])

    model, x = Tagger(), random_tensor(rng, 8, 5, 4)
    target = Tensor((x.data.sum(-1, keepdims=True) > 0).astype(np.float32)
                    * np.array([1, -1], np.float32))
    optimizer = dlpy.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = ((model(x) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert losses[-1] < 0.5 * losses[0]
    check(model, x)


# ----------------------------------------------------------------------------- packed layers
class _PackedTagger(nn.Module):
    """Pads in, packs with the given lengths, runs the layer, pads out: the path a packed batch
    takes, its positions gathered by GatherND."""

    def __init__(self, layer, lengths, enforce_sorted=True):
        super().__init__()
        self.layer, self.lengths, self.enforce_sorted = layer, lengths, enforce_sorted

    def forward(self, x):
        packed = nn.utils.rnn.pack_padded_sequence(x, self.lengths, batch_first=True,
                                                   enforce_sorted=self.enforce_sorted)
        output, state = self.layer(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
        h = state[0] if isinstance(state, tuple) else state
        return padded, h


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_packed_sequences_through_the_layers(kind):
    rng = np.random.default_rng(9)
    layer = LAYERS[kind](num_layers=2, bidirectional=True, batch_first=True, rng=rng)
    model = _PackedTagger(layer, np.array([3, 5, 1]), enforce_sorted=False)
    proto = check(model, random_tensor(rng, 3, 5, 4))
    assert "GatherND" in op_types(proto)
    assert sum(n.name.startswith("sequence_lens") for n in proto.graph.initializer) == 4


def test_max_along_a_dim_exports_as_a_reduction_and_amax_too():
    """x.max(dim) records a gather at the traced argmax: exported as ReduceMax (ReduceMin),
    not as constant positions. amax is a ReduceMax."""
    rng = np.random.default_rng(10)
    x = random_tensor(rng, 3, 4)
    for function, op_type in ((lambda a: a.max(1)[0], "ReduceMax"),
                              (lambda a: a.min(0, keepdim=True)[0], "ReduceMin"),
                              (lambda a: a[0].max(0)[0], "ReduceMax")):
        proto = check(function, x)
        assert op_types(proto)[-1] == op_type
        other = random_tensor(rng, 3, 4)
        np.testing.assert_allclose(run(proto, other)[0], function(other).data)
    proto = check(lambda a: a.amax(1), x)
    assert op_types(proto) == ["ReduceMax"]
    # other gathers at the traced argmax stay refused
    with pytest.raises(NotImplementedError, match=r"the max positions along axis 1"):
        export(lambda a: a[:, a.data.argmax(1)], x)
