"""dlpy.utils._python_dispatch: TorchDispatchMode and __torch_dispatch__ subclasses. The
torch-recorded area ``torch_dispatch_mode`` compares what modes see with torch's; these tests
check what it cannot: the call sites are swapped only while needed and put back after, the
op runs once under a pass-through mode, and gradients flow through modes."""

import functools
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import dlpy
from dlpy import aten as aten_module
from dlpy.autograd_function import PLAIN_CALL_SITES
from dlpy.tensor import Op, Tensor
from dlpy.utils import _python_dispatch as pd
from dlpy.utils._pytree import tree_map


class Log(pd.TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.funcs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.funcs.append(str(func))
        return func(*args, **(kwargs or {}))


def _plain_call_sites() -> bool:
    gc.collect()  # (a dispatch subclass an earlier test left keeps the dispatcher until then)
    return Op.__call__ is PLAIN_CALL_SITES["op_call"] and aten_module._dispatcher is None


def _in_a_clean_process(test):
    """Runs ``test`` here when this process has no dispatch subclass alive, else in a fresh
    interpreter: a library an earlier test in this pytest-xdist worker imported (PyG's
    ``Index``) defines one for good, and these tests check the state without any."""
    @functools.wraps(test)
    def run():
        if _plain_call_sites() or os.environ.get("DLPY_DISPATCH_CLEAN_RUN"):
            return test()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
             f"{__file__}::{test.__name__}"], capture_output=True, text=True, timeout=300,
            env={**os.environ, "DLPY_DISPATCH_CLEAN_RUN": "1"})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert "\n1 passed" in done.stdout, done.stdout[-3000:]
    return run


@_in_a_clean_process
def test_call_sites_swapped_only_inside_modes():
    assert _plain_call_sites()
    with Log() as outer:
        assert not _plain_call_sites()
        with Log():
            dlpy.ones(2) + 1
        dlpy.ones(2).add_(1)
    assert _plain_call_sites()
    assert outer.funcs == ["aten.ones.default", "aten.add.Tensor", "aten.ones.default",
                           "aten.add_.Tensor"]


@_in_a_clean_process
def test_call_sites_back_after_an_error():
    class Boom(pd.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            raise ValueError("boom")

    try:
        with Boom():
            dlpy.ones(2).neg()
    except ValueError:
        pass
    assert _plain_call_sites()
    assert pd._get_current_dispatch_mode_stack() == []


def test_random_factory_draws_once():
    dlpy.manual_seed(3)
    expected = dlpy.randn(4).data.copy()
    dlpy.manual_seed(3)
    with Log() as m:
        drawn = dlpy.randn(4)
        after = dlpy.randn(1)
    np.testing.assert_array_equal(drawn.data, expected)
    dlpy.manual_seed(3)
    dlpy.randn(4)
    np.testing.assert_array_equal(after.data, dlpy.randn(1).data)
    assert m.funcs == ["aten.randn.default"] * 2


def test_gradients_through_a_mode():
    x = dlpy.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    w = dlpy.tensor([[0.5, 1.0], [-1.0, 2.0]])
    with Log() as m:
        loss = (dlpy.functional.linear(x, w).relu() * x).sum()
        loss.backward()
    x2 = dlpy.tensor(x.data, requires_grad=True)
    (dlpy.functional.linear(x2, w).relu() * x2).sum().backward()
    np.testing.assert_allclose(x.grad.data, x2.grad.data)
    assert m.funcs[:4] == ["aten.t.default", "aten.mm.default", "aten.relu.default",
                           "aten.detach.default"]


@_in_a_clean_process
def test_wrapper_subclass_round_trip_and_collection():
    class Wrapped(Tensor):
        @staticmethod
        def __new__(cls, elem):
            return Tensor._make_wrapper_subclass(cls, elem.shape, dtype=elem.dtype)

        def __init__(self, elem):
            self.elem = elem

        __torch_function__ = dlpy._C._disabled_torch_function_impl

        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            def unwrap(e):
                return e.elem if isinstance(e, cls) else e

            def wrap(e):
                return cls(e) if isinstance(e, Tensor) else e

            return tree_map(wrap, func(*tree_map(unwrap, args), **tree_map(unwrap,
                                                                            kwargs or {})))

    x = Wrapped(dlpy.tensor([1.0, 2.0, 3.0]))
    y = (x * 2 + 1).sum()
    assert type(y) is Wrapped and float(y.elem.item()) == 15.0
    assert not _plain_call_sites()  # a dispatch subclass is alive: torch.ops.aten dispatches
    # but the engine's hot path is the plain one: it hands the subclass's instances over
    assert Op.__call__ is PLAIN_CALL_SITES["op_call"]
    z = dlpy.exp(x)
    assert type(z) is Wrapped and np.allclose(z.elem.numpy(), np.exp([1.0, 2.0, 3.0]))
    del Wrapped, x, y, z
    gc.collect()
    assert _plain_call_sites()  # collected: the plain call sites are back


def test_shown_functions_keep_their_identity_and_are_quiet():
    """The methods and functions shown with the caller's arguments keep one identity inside
    and after a mode (a table keyed by them still finds them); the ops they run are below
    them (one aten call each)."""
    import dlpy.functional as F

    with pd.BaseTorchDispatchMode():  # (the first mode of the process wraps them, for good)
        pass
    plain = (Tensor.__dict__["softmax"], dlpy.stack, F.layer_norm, Tensor.__dict__["__matmul__"])
    seen = []

    class Log(pd.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append((str(func), args[1:] if func is aten_module.aten._softmax.default
                         else ()))
            return func(*args, **(kwargs or {}))

    x = dlpy.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    with Log():
        assert (Tensor.__dict__["softmax"], dlpy.stack, F.layer_norm,
                Tensor.__dict__["__matmul__"]) == plain
        y = x.softmax(-1)
        F.layer_norm(x, (2,))
    assert seen == [("aten._softmax.default", (-1, False)), ("aten.detach.default", ()),
                    ("aten.native_layer_norm.default", ())]
    assert y.requires_grad and y.grad_fn is not None
    assert (Tensor.__dict__["softmax"], dlpy.stack, F.layer_norm,
            Tensor.__dict__["__matmul__"]) == plain


def test_register_torch_dispatch_exact_type():
    """A rule registered for a mode class runs under that class only (not its subclasses)."""
    from dlpy import library

    @library.custom_op("tdm_unit::twice", mutates_args=())
    def twice(x: Tensor) -> Tensor:
        return x * 2

    class Mode(pd.BaseTorchDispatchMode):
        pass

    class Sub(Mode):
        pass

    library.register_torch_dispatch("tdm_unit::twice", Mode,
                                    lambda mode, func, types, args, kwargs: args[0] + 100)
    x = dlpy.tensor([1.0, 2.0])
    with Mode():
        assert twice(x).tolist() == [101.0, 102.0]
    with Sub():
        assert twice(x).tolist() == [2.0, 4.0]
    assert twice(x).tolist() == [2.0, 4.0]


_ORDER_SCRIPT = """
import sys
import dlpy
from dlpy import Tensor

class Logged(Tensor):
    log = []
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.log.append(func)
        return super().__torch_function__(func, types, args, kwargs)

class Passing(Tensor):
    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))

first, second = (Logged, Passing) if sys.argv[1] == "function-first" else (Passing, Logged)
HANDLED = {dlpy.cat: "cat", dlpy.mean: "mean", Tensor.sum: "sum", Tensor.matmul: "matmul"}

class Duck:
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return HANDLED.get(func, NotImplemented)

x = dlpy.ones(2, 2).as_subclass(Logged)
x.matmul(x), x.sum(), dlpy.cat([x, x])
print([dlpy.cat([dlpy.ones(1), Duck()]), dlpy.mean(Duck()), Logged.log == [Tensor.matmul,
       Tensor.sum, dlpy.cat], first.__name__, second.__name__])
"""


@pytest.mark.parametrize("order", ["function-first", "dispatch-first"])
def test_public_callables_keep_one_identity_whichever_dispatch_came_first(order):
    """A ``__torch_function__`` subclass and a ``__torch_dispatch__`` subclass alive together,
    defined in either order in a fresh process: a handler is given the public callable
    (``Tensor.matmul``, ``dlpy.cat``), and a table keyed by them finds them."""
    run = subprocess.run([sys.executable, "-c", _ORDER_SCRIPT, order], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[-2].startswith("['cat', 'mean', True, "), run.stdout


def test_ops_given_an_index_subclass_record_the_gradient_of_the_other_inputs():
    # torch's autograd sits above __torch_dispatch__: an op given a wrapper subclass that holds
    # an index (PyG's Index) is recorded, so the gathered features get their gradient
    class Held(Tensor):
        @staticmethod
        def __new__(cls, values):
            return Tensor._make_wrapper_subclass(cls, values.shape, dtype=values.dtype)

        def __init__(self, values):
            self.values = values

        def numpy(self):
            return self.values.numpy()

        __torch_function__ = dlpy._C._disabled_torch_function_impl

        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            def unwrap(e):
                return e.values if isinstance(e, cls) else e

            return func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs or {}))

    index = Held(dlpy.tensor([0, 2, 2, 1]))
    v = dlpy.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    picked = v.index_select(0, index)
    summed = dlpy.zeros(3, 2, dtype=dlpy.float64).index_add(0, index, picked * 2)
    (picked.sum() + (summed * dlpy.tensor([[1.0], [2.0], [3.0]])).sum()).backward()
    np.testing.assert_allclose(picked.detach().numpy(), [[0, 1], [4, 5], [4, 5], [2, 3]])
    # d/dv: each pick once (1) plus twice its row weight where it is added (rows 0, 2, 2, 1)
    np.testing.assert_allclose(v.grad.numpy(), [[3, 3], [5, 5], [2 + 2 * 3 * 2] * 2])
