"""What symbolic_trace swaps in is built once and reused (dlpy.fx._symbolic_trace's tables):
a namespace that changed after a first trace (a function added by dlpy.fx.wrap, added to or
replaced in dlpy.functional, a Tensor method added) is seen by the next trace, and every
namespace is put back as it was."""

import operator

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, fx, nn
from dlpy.fx import _symbolic_trace


def _calls(gm):
    return [(n.op, n.target) for n in gm.graph.nodes if n.op in ("call_function", "call_method")]


def _first_trace():
    fx.symbolic_trace(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))  # the tables built


def test_wrap_after_a_first_trace_is_recorded():
    namespace = {"__name__": "wrapped_later"}
    exec("import dlpy.fx\n\ndef scale(x):\n    return x * 2\n\n"
         "def f(x):\n    return scale(x) + 1\n", namespace)
    _first_trace()
    assert _calls(fx.symbolic_trace(namespace["f"])) == [
        ("call_function", operator.mul), ("call_function", operator.add)]
    exec("dlpy.fx.wrap('scale')\n", namespace)
    try:
        assert _calls(fx.symbolic_trace(namespace["f"])) == [
            ("call_function", namespace["scale"]), ("call_function", operator.add)]
    finally:
        _symbolic_trace._WRAPPED_NAMES.remove((namespace, "scale"))


def test_function_added_to_functional_after_a_trace_is_recorded(monkeypatch):
    def double(x):
        return x * 2

    def f(x):
        return F.double_it(x)

    _first_trace()
    monkeypatch.setattr(F, "double_it", double, raising=False)
    assert _calls(fx.symbolic_trace(f)) == [("call_function", double)]
    assert F.double_it is double  # put back: the function, not its recording wrapper
    assert _symbolic_trace.qualified_name(double) == "dlpy.functional.double_it"


def test_function_replaced_after_a_trace_is_recorded_and_put_back(monkeypatch):
    def my_relu(x):
        return x

    def f(x):
        return F.relu(x)

    original = F.relu
    assert _calls(fx.symbolic_trace(f)) == [("call_function", original)]
    monkeypatch.setattr(F, "relu", my_relu)
    assert _calls(fx.symbolic_trace(f)) == [("call_function", my_relu)]
    assert F.relu is my_relu
    monkeypatch.undo()
    assert _calls(fx.symbolic_trace(f)) == [("call_function", original)]
    assert F.relu is original


def test_tensor_method_added_after_a_trace_is_recorded(monkeypatch):
    constant = Tensor(np.ones(3))

    def f(x):
        return constant.plus(x)

    _first_trace()
    monkeypatch.setattr(Tensor, "plus", lambda self, other: self + other, raising=False)
    method = Tensor.plus
    assert _calls(fx.symbolic_trace(f)) == [("call_method", "plus")]
    assert Tensor.plus is method


def test_namespaces_put_back_after_traces_and_a_failed_one():
    before = {module: dict(vars(module)) for module in (dlpy, F)}
    methods = dict(vars(Tensor))

    def bad(x):
        if x.sum() > 0:  # control flow on a Proxy
            return x
        return -x

    _first_trace()
    with pytest.raises(fx.TraceError):
        fx.symbolic_trace(bad)
    _first_trace()
    for module, namespace in before.items():
        assert vars(module).keys() == namespace.keys()
        assert all(vars(module)[name] is value for name, value in namespace.items())
    assert all(vars(Tensor)[name] is value for name, value in methods.items())
