"""dlpy.export's dynamic_shapes builders (ShapesCollection, AdditionalInputs), export of
``forward(*args, **kwargs)``, user-input mutations, draft_export and module_call_graph, and
dlpy.fx's fx.PH inside containers of concrete_args (the torch-recorded area
export_api_leftovers has the graphs); here the round trips the area does not show."""

import copy
import os
import tempfile

import numpy as np
import pytest

import dlpy
from dlpy import export, fx, nn
from dlpy.export import AdditionalInputs, Dim, ShapesCollection


def t(*values):
    return dlpy.tensor(values, dtype=dlpy.float64)


class VA(nn.Module):
    def forward(self, x, *args, **kwargs):
        return x + args[0] * kwargs["scale"]


class Mut(nn.Module):
    def forward(self, x, y):
        x.copy_(y * 2)
        return x.sum()


def test_shapes_collection_finds_tensors_by_identity():
    a, b = dlpy.zeros(3), dlpy.zeros(3)
    sc = ShapesCollection()
    sc[a] = {0: Dim.DYNAMIC}

    class M(nn.Module):
        def forward(self, xs):
            return xs[0] + xs[1]

    assert sc.dynamic_shapes(M(), ([a, b],)) == {"xs": [{0: Dim.DYNAMIC}, None]}
    with pytest.raises(ValueError):
        sc.dynamic_shapes(M(), ([a.clone(), b],))


def test_additional_inputs_export_accepts_the_added_shapes_only():
    class Add(nn.Module):
        def forward(self, x, y):
            return x + y

    ai = AdditionalInputs()
    ai.add((dlpy.ones(5, 4), dlpy.ones(5, 4)))
    ep = export.export(Add(), (dlpy.ones(3, 4), dlpy.ones(3, 4)), dynamic_shapes=ai)
    assert ep.module()(dlpy.ones(7, 4), dlpy.ones(7, 4)).shape == (7, 4)
    with pytest.raises(AssertionError):
        ep.module()(dlpy.ones(7, 5), dlpy.ones(7, 5))
    static = export.export(Add(), (dlpy.ones(3, 4), dlpy.ones(3, 4)))
    with pytest.raises(AssertionError):  # the added input does not fit a static program
        ai.verify(static)


def test_var_args_program_saves_and_loads():
    ep = export.export(VA(), (t(1.0, 2.0), t(3.0, 4.0)), {"scale": t(2.0, 2.0)})
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "va.pt2")
        export.save(ep, path)
        loaded = export.load(path)
    names = [n.name for n in loaded.graph.nodes if n.op == "placeholder"]
    assert names == ["x", "args_0", "scale"]
    out = loaded.module()(t(1.0, 1.0), t(2.0, 3.0), t(0.5, 3.0))
    np.testing.assert_allclose(out.numpy(), [2.0, 10.0])


def test_user_input_copy_is_functional_after_run_decompositions():
    x, y = t(1.0, 1.0), t(1.0, 2.0)
    ep = export.export(Mut(), (x, y))
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0])  # export leaves inputs as they were
    d = ep.run_decompositions()
    assert dict(d.graph_signature.user_inputs_to_mutate) == {"copy": "x"}
    a = t(0.0, 0.0)
    assert float(d.module()(a, t(1.0, 2.0))) == 6.0
    np.testing.assert_array_equal(a.numpy(), [2.0, 4.0])


def test_draft_export_report_and_module_call_graph():
    ep = export.draft_export(VA(), (t(1.0), t(2.0)), {"scale": t(3.0)})
    assert ep._report.successful() and ep._report.failures == []
    root = ep.module_call_graph[0]
    assert root.fqn == "" and root.signature.forward_arg_names == ["x", "args_0", "scale"]
    assert ep.run_decompositions().module_call_graph[0].fqn == ""


def test_placeholders_in_containers_survive_recompile_and_deepcopy():
    def f(x, y):
        return x["a"] * x["k"] + y

    gm = fx.symbolic_trace(f, concrete_args={"x": {"a": fx.PH, "k": 2}})
    assert [n.name for n in gm.graph.nodes if n.op == "placeholder"] == ["x_1", "x_2", "y"]
    gm.recompile()
    again = copy.deepcopy(gm)
    for module in (gm, again):
        np.testing.assert_allclose(module({"a": t(1.0), "k": 2}, t(0.5)).numpy(), [2.5])
        with pytest.raises(AssertionError):
            module({"a": t(1.0), "k": 3}, t(0.5))
