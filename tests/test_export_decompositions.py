"""ExportedProgram.run_decompositions: by default the aten ops decomposed as torch's default
table does (linear -> permute + addmm, conv2d -> convolution, batch_norm ->
_native_batch_norm_legit_*...); with primitive_decompositions(), composite functions and layers
lowered to primitive ops (linear -> transpose + matmul + add, layer_norm -> mean / sub / mul /
sqrt / div, gelu -> erf, ...); the lowered program gives the same outputs and gradients, keeps
its signature and dynamic dims, and saves and loads."""

import io
import math

import numpy as np
import pytest
from cases_export import leaf_roots

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.aten import aten
from dlpy.export import Dim, default_decompositions, export, load, save
from dlpy.export._decompositions import primitive_decompositions

COMPOSITES = {"linear", "layer_norm", "gelu", "silu", "softmax", "log_softmax"}


class Block(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.fc = nn.Linear(4, 6, rng=rng, dtype=np.float64)
        self.norm = nn.LayerNorm(6, dtype=np.float64)
        self.act = nn.GELU()
        self.w = nn.Parameter(rng.standard_normal((3, 6)))

    def forward(self, x):
        h = self.act(self.norm(self.fc(x)))
        h = F.gelu(F.linear(h, self.w), approximate="tanh")
        return F.log_softmax(F.silu(h), -1) + F.softmax(h, dim=0)


def _functions(ep):
    """The ops the graph calls: an aten overload by its op's name (``linear``), another
    function by its name."""
    return {getattr(n.target, "_opname", getattr(n.target, "__name__", n.target))
            for n in ep.graph.nodes if n.op == "call_function"}


def test_default_decompositions_are_torchs_aten_ones():
    rng = np.random.default_rng(0)
    model = Block(rng)
    x = Tensor(rng.standard_normal((5, 4)))
    ep = export(model, (x,))
    assert {"linear", "layer_norm", "gelu", "silu", "softmax", "log_softmax"} <= _functions(ep)
    lowered = ep.run_decompositions()
    assert {"permute", "addmm", "mm", "native_layer_norm", "gelu", "sigmoid", "mul",
            "_softmax", "_log_softmax", "getitem"} == _functions(lowered) - {"add"}
    np.testing.assert_allclose(lowered.module()(x).data, model(x).data, rtol=1e-12)
    assert all(isinstance(k, type(aten.linear.default)) for k in default_decompositions())
    assert aten.linear.default in default_decompositions()


def test_primitive_decompositions_lower_to_primitives_with_equal_outputs_and_gradients():
    rng = np.random.default_rng(0)
    model = Block(rng)
    x = Tensor(rng.standard_normal((5, 4)))
    ep = export(model, (x,), dynamic_shapes={"x": {0: Dim("batch", max=8)}})
    lowered = ep.run_decompositions(primitive_decompositions())
    assert not COMPOSITES & _functions(lowered)
    assert not [n for n in lowered.graph.nodes if n.op == "call_module"]
    assert {"matmul", "transpose", "erf", "tanh", "sigmoid", "exp", "log", "amax", "mean",
            "sqrt"} <= _functions(lowered)
    # the same placeholders in the same order (the output is another node)
    assert lowered.graph_signature.input_specs == ep.graph_signature.input_specs
    assert lowered.range_constraints == ep.range_constraints
    assert "linear" in _functions(ep)  # the original program is left as it was
    for batch in (5, 7):
        xb = Tensor(rng.standard_normal((batch, 4)), requires_grad=True)
        want = ep.module()(xb)
        np.testing.assert_allclose(lowered.module()(xb).data, want.data, rtol=1e-12,
                                   atol=1e-12)
        (want * want).sum().backward()
        grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
        model.zero_grad()
        got = lowered.module()(xb)
        (got * got).sum().backward()
        for name, p in model.named_parameters():
            np.testing.assert_allclose(p.grad, grads[name], rtol=1e-10, atol=1e-12,
                                       err_msg=name)
        model.zero_grad()
    with pytest.raises(ValueError, match=r"x.shape\[0\] \(dim 'batch'\) in \[0, 8\], got 9"):
        lowered.module()(Tensor(np.zeros((9, 4))))
    buffer = io.BytesIO()
    save(lowered, buffer)
    buffer.seek(0)
    np.testing.assert_allclose(load(buffer).module()(x).data, model(x).data, rtol=1e-12)


def test_a_custom_table_keeps_or_adds_decompositions():
    rng = np.random.default_rng(1)
    model = Block(rng)
    x = Tensor(rng.standard_normal((2, 4)))
    ep = export(model, (x,))
    table = primitive_decompositions()
    del table[F.gelu], table[nn.GELU]  # keep gelu as one op
    kept = ep.run_decompositions(table)
    assert "gelu" in _functions(kept) and "erf" not in _functions(kept)
    assert not [n.target for n in kept.graph.nodes if n.op == "call_module"]
    assert ep.run_decompositions({}).graph_module.code == ep.graph_module.code

    def relu(x):  # a decomposition may call another decomposed function: lowered in turn
        return F.silu(x) * 0.0 + (x + F.abs(x)) * 0.5

    relu_model = nn.Sequential(nn.Linear(4, 3, rng=rng, dtype=np.float64), nn.ReLU())
    ep = export(relu_model, (x,))
    lowered = ep.run_decompositions({**default_decompositions(), F.relu: relu,
                                     nn.ReLU: lambda module, x: F.relu(x)})
    assert {"relu", "silu", "linear"}.isdisjoint(_functions(lowered))
    assert "sigmoid" in _functions(lowered)
    np.testing.assert_allclose(lowered.module()(x).data, relu_model(x).data, rtol=1e-12)
    with pytest.raises(TypeError, match="the decomposition of .* must be a function"):
        ep.run_decompositions({F.relu: "relu"})


def test_gelu_decompositions_match_their_formulas():
    x = Tensor(np.linspace(-3, 3, 7))
    exact = 0.5 * x.data * (1 + np.vectorize(math.erf)(x.data / math.sqrt(2)))
    ep = export(nn.GELU(), (x,)).run_decompositions(primitive_decompositions())
    np.testing.assert_allclose(ep.module()(x).data, exact, rtol=1e-14)
    np.testing.assert_allclose(ep.module()(x).data, F.gelu(x).data, rtol=1e-12)


def _layers(ep, model):
    """The layers still called in the lifted graph (by functional_call, or call_module for one
    without state)."""
    return [type(model[int(n.target)]).__name__ for n in ep.graph.nodes
            if n.op in ("get_attr", "call_module") and n.target.isdigit()]


def test_conv_net_layers_lower_in_eval_and_while_training():
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, rng=rng, dtype=np.float64),
                          nn.BatchNorm2d(3, dtype=np.float64), nn.ReLU(), nn.Dropout(0.5),
                          nn.Flatten(),
                          nn.Linear(12, 2, rng=rng, dtype=np.float64), nn.Tanh())
    model.train()
    model(Tensor(rng.standard_normal((4, 1, 4, 4))))  # running statistics to fold in
    x = Tensor(rng.standard_normal((2, 1, 4, 4)))
    model.eval()
    ep = export(model, (x,))
    lowered = ep.run_decompositions()
    assert _layers(lowered, model) == []
    assert {"convolution", "_native_batch_norm_legit_no_training", "relu", "clone", "view",
            "permute", "addmm", "tanh", "getitem"} == _functions(lowered)
    # every buffer stays an input, num_batches_tracked too (unused), as torch's
    assert lowered.graph_signature.input_specs == ep.graph_signature.input_specs
    np.testing.assert_allclose(lowered.module()(x).data, model(x).data, rtol=1e-12,
                               atol=1e-12)
    model.train()
    training = export(model, (x,)).run_decompositions()
    assert {"_native_batch_norm_legit_functional", "native_dropout",
            "add"} <= _functions(training)
    assert sorted(training.graph_signature.buffers_to_mutate.values()) == [
        "1.num_batches_tracked", "1.running_mean", "1.running_var"]


def test_a_root_that_is_a_leaf_layer_lowers_as_a_wrapped_one():
    roots = leaf_roots()
    for name in ("linear", "batch_norm"):
        layer, array = roots[name]
        x = Tensor(array.astype(np.float32))
        ep = export(layer, (x,))
        lowered = ep.run_decompositions()
        assert "functional_call" not in _functions(lowered) and not list(
            lowered.graph_module.named_children())
        assert lowered.graph_signature.input_specs == ep.graph_signature.input_specs
        np.testing.assert_allclose(lowered.module()(x).data, layer(x).data, rtol=1e-6,
                                   atol=1e-6)
    training = export(nn.BatchNorm2d(3), (Tensor(np.ones((2, 3, 2, 2), np.float32)),)
                      ).run_decompositions()
    # it updates its buffers: new values, outputs of the functional program
    assert _functions(training) == {"add", "_native_batch_norm_legit_functional", "getitem"}


def test_a_decomposed_program_loads_decomposed_and_functional():
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.BatchNorm1d(2, dtype=np.float64))
    x = Tensor(np.arange(12.0).reshape(4, 3))
    lowered = export(model, (x,)).run_decompositions()
    buffer = io.BytesIO()
    save(lowered, buffer)
    buffer.seek(0)
    loaded = load(buffer)
    assert [str(n.target) for n in loaded.graph.nodes if n.op == "call_function"] == [
        str(n.target) for n in lowered.graph.nodes if n.op == "call_function"]
    assert loaded.graph_signature.buffers_to_mutate == lowered.graph_signature.buffers_to_mutate
    # the loaded graph's values come from zeros of the saved shapes: meta["val"] shapes agree
    assert [n.meta["val"].shape for n in loaded.graph.nodes
            if isinstance(n.meta.get("val"), Tensor)] == [
        n.meta["val"].shape for n in lowered.graph.nodes if isinstance(n.meta.get("val"), Tensor)]
