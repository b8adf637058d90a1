"""dlpy.fx's passes and rewriters against torch.fx (tests/fixtures/fx/more.json, from
tests/fixtures/make_fx_export_more_fixtures.py): split_module, multi-output replace_pattern,
replace_pattern_with_filters (ignore_literals, match filters, a replacement callback); fuse with
Linear + BatchNorm1d."""

import json
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, fx, nn
from dlpy.fx.experimental.optimization import fuse
from dlpy.fx.passes.split_module import split_module
from dlpy.fx.subgraph_rewriter import ReplacedPatterns, replace_pattern_with_filters

TABLES = json.loads((Path(__file__).parent / "fixtures" / "fx" / "more.json").read_text())


def _table(gm):
    return [[n.op, n.name, n.target if isinstance(n.target, str) else n.target.__name__,
             str(n.args)] for n in gm.graph.nodes]


class Split(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4, rng=rng), nn.Linear(4, 3, rng=rng)
        self.p = nn.Parameter(rng.standard_normal(3))

    def forward(self, x, y):
        h = F.relu(self.a(x)) + y
        z = self.b(h)
        return z * self.p + h.sum(), h


def split_callback(node) -> int:
    return 0 if node.name in ("a", "relu", "add") else 1


def three_way(node) -> int:
    return {"a": 0, "relu": 0, "add": 1, "b": 2, "mul": 2, "sum_1": 1, "add_1": 2}[node.name]


@pytest.mark.parametrize("name, callback", [("split", split_callback), ("split3", three_way)])
def test_split_module_equals_torch_and_runs_the_same(name, callback):
    rng = np.random.default_rng(0)
    model = Split(rng).double()
    qualnames = {}
    gm = split_module(fx.symbolic_trace(model), model, callback, qualname_map=qualnames)
    assert {"base": _table(gm)} | {c: _table(s) for c, s in gm.named_children()} == TABLES[name]
    assert qualnames["submod_0.a"] == "a"
    x, y = Tensor(rng.standard_normal((2, 4))), Tensor(rng.standard_normal((2, 4)))
    for got, want in zip(gm(x, y), model(x, y)):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12)
    got = gm(x, y)[0].sum()
    got.backward()
    assert model.a.weight.grad is not None and gm.submod_0.a.weight is model.a.weight


def test_split_module_refuses_a_cycle_of_partitions():
    model = Split(np.random.default_rng(0))

    def cyclic(node):
        return {"a": 0, "relu": 0, "add": 1, "b": 2, "mul": 2, "sum_1": 0, "add_1": 2}[node.name]

    with pytest.raises(RuntimeError, match="cycle exists between partitions!"):  # torch's
        split_module(fx.symbolic_trace(model), model, cyclic)


def test_multi_output_pattern_equals_torch():
    def model(x, w):
        a = dlpy.relu(x + w)
        s = dlpy.sigmoid(a)
        return a * 2 + s

    def pattern(x, w):
        a = dlpy.relu(x + w)
        return a, dlpy.sigmoid(a)

    def replacement(x, w):
        a = dlpy.tanh(x - w)
        return a, dlpy.exp(a)

    gm = fx.symbolic_trace(model)
    matches = fx.replace_pattern(gm, pattern, replacement)
    want = TABLES["multi_output"]
    assert _table(gm) == want["graph"]
    assert [m.anchor.name for m in matches] == want["matches"]
    x, w = Tensor([0.5, -1.0, 2.0]), Tensor([0.25, 0.25, -0.5])
    a = dlpy.tanh(x - w)
    np.testing.assert_allclose(gm(x, w).data, (a * 2 + dlpy.exp(a)).data, rtol=1e-6)


def test_multi_output_pattern_skips_a_match_whose_inner_value_escapes():
    def model(x):
        a = x + 1.0
        b = F.relu(a)
        return F.sigmoid(b) * a  # a (inner to the pattern) is used outside it

    def pattern(x):
        b = F.relu(x + 1.0)
        return b, F.sigmoid(b)

    def replacement(x):
        return x, x

    gm = fx.symbolic_trace(model)
    assert fx.replace_pattern(gm, pattern, replacement) == []
    with pytest.raises(ValueError, match="the pattern returns 2 values, the replacement 1"):
        fx.replace_pattern(fx.symbolic_trace(lambda x: F.sigmoid(F.relu(x + 1.0))),
                           pattern, lambda x: x)


def literal_model(x):
    return dlpy.relu(x + 1.0) * dlpy.relu(x + 3.0) + dlpy.relu(x * 2.0)


@pytest.mark.parametrize("name, ignore", [("literals_exact", False), ("literals_ignored", True)])
def test_ignore_literals_equals_torch(name, ignore):
    gm = fx.symbolic_trace(literal_model)
    replaced = replace_pattern_with_filters(gm, lambda x: dlpy.relu(x + 1.0),
                                            lambda x: dlpy.sigmoid(x),
                                            ignore_literals=ignore)
    want = TABLES[name]
    assert all(isinstance(r, ReplacedPatterns) for r in replaced)
    assert _table(gm) == want["graph"]
    assert [r.anchor.name for r in replaced] == want["matches"]
    assert [[n.name for n in r.replacements] for r in replaced] == want["replacements"]


def relu(x):
    return dlpy.relu(x)


def test_match_filter_equals_torch_and_replacement_callback():
    def model(x, y):
        return dlpy.relu(x) + dlpy.relu(dlpy.relu(y) * 2.0)

    def input_is_placeholder(match, original_graph, pattern_graph):
        return all(n.op == "placeholder" for n in match.placeholder_nodes)

    gm = fx.symbolic_trace(model)
    replaced = replace_pattern_with_filters(gm, relu, lambda x: dlpy.tanh(x),
                                            [input_is_placeholder])
    assert _table(gm) == TABLES["filtered"]["graph"]
    assert [r.anchor.name for r in replaced] == TABLES["filtered"]["matches"]

    gm = fx.symbolic_trace(model)
    seen = []

    def callback(match, original_graph, pattern_graph):  # sigmoid for the first, exp after
        seen.append(match.returning_nodes[0].name)
        return fx.symbolic_trace(lambda x: dlpy.sigmoid(x) if len(seen) == 1 else dlpy.exp(x)).graph

    replace_pattern_with_filters(gm, relu, replacement_callback=callback)
    assert seen == ["relu", "relu_1", "relu_2"]
    x, y = Tensor([0.5, -1.0]), Tensor([1.5, -0.5])
    want = dlpy.sigmoid(x) + dlpy.exp(dlpy.exp(y) * 2.0)
    np.testing.assert_allclose(gm(x, y).data, want.data, rtol=1e-6)
    with pytest.raises(ValueError, match="give a replacement or a replacement_callback"):
        replace_pattern_with_filters(gm, relu)


def test_fuse_linear_batchnorm1d():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(5, 6, rng=rng), nn.BatchNorm1d(6), nn.ReLU(),
                          nn.Linear(6, 3, rng=rng), nn.BatchNorm1d(3))
    model.train()
    model(Tensor(rng.standard_normal((8, 5), dtype=np.float32)))  # non-default statistics
    model.eval()
    fused = fuse(model)
    assert [type(m).__name__ for m in fused.children()] == ["Linear", "ReLU", "Linear"]
    x = Tensor(rng.standard_normal((4, 5), dtype=np.float32))
    np.testing.assert_allclose(fused(x).data, model(x).data, rtol=1e-5, atol=1e-6)  # float32 layers
    again = fuse(fused, no_trace=True)
    np.testing.assert_allclose(again(x).data, model(x).data, rtol=1e-5, atol=1e-6)  # float32 layers


def test_dead_code_elimination_keeps_checks_not_in_place_methods():
    def model(x, k):
        y = x * 2.0
        x.add_(1.0)  # nothing reads it: dropped, as torch.fx drops it
        unused = F.exp(y)  # noqa: F841 - dead
        return y * k

    gm = fx.symbolic_trace(model, concrete_args={"k": 3.0})
    names = [n.name for n in gm.graph.nodes]
    assert names[:4] == ["x", "k_1", "eq", "_assert"]
    assert gm.graph.eliminate_dead_code()
    gm.recompile()
    assert [n.name for n in gm.graph.nodes] == [n for n in names if n not in ("exp", "add_")]
    assert [n.name for n in gm.graph.nodes if n.is_impure()] == ["x", "k_1", "_assert", "output"]
    x = Tensor([1.0, 2.0])
    np.testing.assert_allclose(gm(x, 3.0).data, [6.0, 12.0])
    np.testing.assert_allclose(x.data, [1.0, 2.0])
    with pytest.raises(AssertionError, match="k has been specialized to have value 3.0"):
        gm(Tensor([1.0]), 4.0)  # the concrete_args check survived
    assert not gm.graph.eliminate_dead_code(lambda node: True)


def test_a_replacement_module_brings_its_layers_and_parameters():
    rng = np.random.default_rng(5)

    class Scaled(nn.Module):  # the replacement: a layer and a parameter of its own
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, 3, rng=rng)
            self.gain = nn.Parameter(np.full(3, 2.0, np.float32))

        def forward(self, x):
            return self.proj(x) * self.gain

    gm = fx.symbolic_trace(lambda x: dlpy.relu(x) + 1.0)
    replacement = Scaled()
    fx.replace_pattern(gm, relu, replacement)
    assert gm.proj is replacement.proj and gm.gain is replacement.gain
    x = Tensor(rng.standard_normal((2, 3)).astype(np.float32))
    np.testing.assert_allclose(gm(x).data, (replacement(x) + 1.0).data, rtol=1e-6)
