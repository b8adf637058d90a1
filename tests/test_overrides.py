"""torch.overrides' __torch_function__ protocol (dlpy/overrides.py): Tensor subclasses, duck
types and modes, checked against PyTorch's answers (fixtures/make_overrides.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import overrides
from dlpy.nn import Parameter
from dlpy.overrides import (
    BaseTorchFunctionMode,
    DisableTorchFunction,
    DisableTorchFunctionSubclass,
    TorchFunctionMode,
)

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "overrides.json").read_text())
VALUES = [[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]


@pytest.fixture(scope="module", autouse=True)
def plain_callables_after():
    """The subclasses here install dispatch; the rest of the suite runs on the plain path."""
    yield
    overrides._uninstall()


@pytest.fixture
def logging():
    """(L, M, log): a subclass that records (func, types) and a subclass of it."""
    log = []

    class L(dlpy.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            log.append((func, types))
            return super().__torch_function__(func, types, args, kwargs)

    class M(L):
        pass

    return L, M, log


@pytest.mark.parametrize("program", sorted(REFERENCE))
def test_results_as_torch(program, logging):
    L, M, log = logging
    x, m = dlpy.tensor(VALUES).as_subclass(L), dlpy.tensor(VALUES).as_subclass(M)
    p, w = dlpy.tensor(VALUES), Parameter(dlpy.tensor(VALUES))
    log.clear()
    result = eval(program, {"lib": dlpy, "F": F, "x": x, "m": m, "p": p, "w": w})
    expected = REFERENCE[program]
    assert type(result).__name__ == expected["type"]
    assert [sorted(t.__name__ for t in types) for _, types in log[:1]] == expected["types"]
    np.testing.assert_allclose(np.asarray(result.tolist()), expected["values"], rtol=1e-6)


def test_func_is_the_public_callable(logging):
    L, _, log = logging
    x = dlpy.tensor(VALUES).as_subclass(L)
    x + 1
    x.add(1)
    dlpy.add(x, 1)
    F.linear(x, dlpy.ones(4, 3))
    x[0]
    assert x.grad is None
    funcs = [func for func, _ in log]
    assert funcs[:5] == [dlpy.Tensor.add, dlpy.Tensor.add, dlpy.add, F.linear,  # + is add
                         dlpy.Tensor.__getitem__]
    assert funcs[5] == dlpy.Tensor.grad.__get__
    assert funcs[5] in overrides.get_default_nowrap_functions()
    log.clear()
    x[0] = 5.0
    assert [func for func, _ in log] == [dlpy.Tensor.__setitem__] and x.tolist()[0] == [5.0] * 3
    log.clear()
    assert type(dlpy.nn.Linear(3, 4)(x)) is L and log[0][0] is F.linear


def test_types_subclass_first_and_nested(logging):
    L, M, log = logging
    x, m = dlpy.ones(2).as_subclass(L), dlpy.ones(2).as_subclass(M)
    assert type(dlpy.add(x, m)) is M
    assert log[-1][1] == (M, L)
    dlpy.cat([dlpy.ones(2), x])
    assert log[-1][1] == (L,)
    assert not overrides.has_torch_function(([dlpy.ones(1), (m,)],))  # items not looked in
    assert overrides.has_torch_function((dlpy.ones(1), m))
    assert not overrides.has_torch_function((dlpy.ones(1), [1.0, None]))
    assert overrides.has_torch_function_unary(x) and overrides.has_torch_function_variadic(1, m)


def test_plain_subclass_gradients_equal_plain_ones():
    class Units(dlpy.Tensor):
        pass

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))

    def loss(x, w):
        return (F.softmax(F.relu(x @ w) * 2.0, dim=-1)[:, 0] ** 2).mean()

    x, w = dlpy.Tensor(a, requires_grad=True), dlpy.Tensor(b, requires_grad=True)
    loss(x, w).backward()
    xs, ws = Units(a, requires_grad=True), Units(b, requires_grad=True)
    out = loss(xs, ws)
    assert type(out) is Units and type(Units(a) + 1) is Units
    out.backward()
    np.testing.assert_array_equal(xs.grad.data, x.grad.data)
    np.testing.assert_array_equal(ws.grad.data, w.grad.data)
    # as_subclass of a tensor that requires grad: a view that passes gradients back
    view = x.as_subclass(Units)
    assert type(view) is Units and not view.is_leaf
    before = x.grad.data.copy()
    (view * view).sum().backward()
    np.testing.assert_allclose(x.grad.data, before + 2 * a)
    with pytest.raises(TypeError, match="expected a subclass of dlpy.Tensor, got <class 'int'>"):
        x.as_subclass(int)


def test_in_place_returns_self_and_tuples_converted(logging):
    L, _, _ = logging
    x = dlpy.tensor(VALUES).as_subclass(L)
    assert x.add_(1) is x
    top = x.topk(2)
    assert type(top) is type(dlpy.ones(3).topk(2))  # the namedtuple kept, its tensors converted
    assert all(type(t) is L for t in top) and all(type(t) is L for t in x.unbind(0))


def test_parameter_results_are_plain():
    w = Parameter(dlpy.ones(3))
    assert type(w * 2) is dlpy.Tensor and type(F.relu(w)) is dlpy.Tensor
    with dlpy.no_grad():
        assert w.mul_(2) is w and type(w) is Parameter


def test_duck_type():
    overrides.enable_dispatch()  # (before the table below is keyed by dlpy's functions)
    handled = {}

    class Scalar:
        """A Tensor-like value that is no Tensor (torch's ScalarTensor example)."""

        def __init__(self, value):
            self.value = value

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func not in handled:
                return NotImplemented
            return handled[func](*args, **(kwargs or {}))

    handled[dlpy.add] = lambda a, b: Scalar(a.value + b)
    handled[dlpy.Tensor.mul] = lambda a, b: Scalar(a.sum().item() * b.value)
    assert dlpy.add(Scalar(2), 3).value == 5
    assert dlpy.ones(2).mul(Scalar(4)).value == 8.0  # found in a method's argument too
    assert overrides.is_tensor_like(Scalar(1)) and not overrides.is_tensor_like(1.0)
    with pytest.raises(TypeError, match=r"no implementation found for 'dlpy.mul' on types "
                                        r"that implement __torch_function__: \[<class"):
        dlpy.mul(Scalar(2), 3)


def test_not_implemented_everywhere():
    class Refuses(dlpy.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return NotImplemented

    x = Refuses(np.ones(2))
    with pytest.raises(TypeError, match="no implementation found for 'dlpy.add'"):
        dlpy.add(x, 1)
    with pytest.raises(TypeError, match="unsupported operand type"):
        x + 1


def test_modes_nested_and_disabled(logging):
    L, _, _ = logging
    seen = []

    class Recording(TorchFunctionMode):
        def __init__(self, tag):
            self.tag = tag

        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append((self.tag, func.__name__, types))
            return func(*args, **(kwargs or {}))

    x = dlpy.ones(2).as_subclass(L)
    with Recording("outer"), Recording("inner"):
        y = dlpy.ones(2) + 1
        F.relu(y)
        x * 2
    assert seen == [("inner", "ones", ()), ("outer", "ones", ()),
                    ("inner", "add", ()), ("outer", "add", ()),
                    ("inner", "relu", ()), ("outer", "relu", ()),
                    ("inner", "mul", (L,)), ("outer", "mul", (L,))]
    seen.clear()
    with Recording("m"):
        with DisableTorchFunction():
            dlpy.ones(2) * 2
        with DisableTorchFunctionSubclass():
            x * 2
    assert seen == [("m", "mul", ())]
    with BaseTorchFunctionMode():
        assert type(x + 1) is L
    assert overrides._get_current_function_mode_stack() == []


def test_overridable_and_ignored():
    table = overrides.get_overridable_functions()
    assert dlpy.add in table[dlpy] and F.linear in table[F] and dlpy.Tensor.add in table[
        dlpy.Tensor]
    ignored = overrides.get_ignored_functions()
    assert dlpy.no_grad in ignored and dlpy.ones in ignored and dlpy.add not in ignored
    assert dlpy.no_grad not in table[dlpy] and dlpy.Tensor.as_subclass in ignored


def test_handle_torch_function_for_user_functions(logging):
    L, _, log = logging

    def double(x):
        if overrides.has_torch_function_unary(x):
            return overrides.handle_torch_function(double, (x,), x)
        return x * 2

    x = dlpy.ones(2).as_subclass(L)
    assert type(double(x)) is L and log[0][0] is double
    assert type(double(dlpy.ones(2))) is dlpy.Tensor


def test_nested_masked_complex_unaffected(logging):
    dlpy.ones(1).as_subclass(logging[0])  # dispatch installed
    nested = dlpy.nested.nested_tensor([dlpy.ones(2), dlpy.ones(3)], layout=dlpy.nested.jagged)
    assert type(F.relu(nested)).__name__ == "NestedTensor"
    masked = dlpy.masked.masked_tensor(dlpy.ones(3), dlpy.tensor([True, False, True]))
    assert type(F.relu(masked)).__name__ == "MaskedTensor"
    z = dlpy.tensor(np.array([1 + 2j]))
    assert type(z * 2).__name__ == "ComplexTensor"
    # DTensor keeps its own __dlpy_function__ hook: no conversion of its results here
    from dlpy.distributed.tensor import DTensor

    assert DTensor.__torch_function__ is overrides._disabled_torch_function_impl
    assert not overrides.has_torch_function_unary(Parameter(dlpy.ones(1)))


def test_vmap_rules_still_apply_once_dispatch_is_installed(logging):
    """The dispatching wrappers keep the functions' flags, so vmap's loss rules still see that
    F.cross_entropy runs as it is (its classes-last form takes the rule): per-sample losses
    equal the loop's."""
    assert overrides._installed
    x = dlpy.tensor(np.arange(15.0).reshape(5, 3) / 7)
    y = dlpy.tensor(np.arange(5) % 3)
    got = dlpy.func.vmap(lambda xi, yi: F.cross_entropy(xi[None], yi[None]))(x, y)
    want = [F.cross_entropy(x[i:i + 1], y[i:i + 1]).item() for i in range(5)]
    np.testing.assert_allclose(got.data, want, rtol=1e-12)


def test_an_instance_made_after_uninstall_turns_dispatch_back_on(logging):
    """A class defined while dispatch was on, then ``_uninstall`` (tests do it): an instance
    made by ``as_subclass`` or ``_make_subclass`` (ExpandedWeight's way) dispatches again."""
    L, _, log = logging
    for make in (lambda t: t.as_subclass(L), lambda t: dlpy.Tensor._make_subclass(L, t)):
        overrides._uninstall()
        x = make(dlpy.tensor(VALUES))
        log.clear()
        dlpy.add(x, 1)
        assert [func.__name__ for func, _ in log] == ["add"]


def test_a_subclass_made_in_new_takes_its_own_arguments_and_pickles_through_its_reduce():
    """torch's idiom (geoopt's ManifoldTensor): ``__new__`` takes keyword arguments of its
    own and makes the instance with ``_make_subclass``, no ``__init__`` is defined (torch's
    Tensor.__init__ ignores the arguments); ``__reduce_ex__`` wraps the base's (rebuild,
    arguments) pair."""
    import copy
    import pickle

    t = Tagged(dlpy.tensor(VALUES), tag="sphere", requires_grad=True)
    assert type(t) is Tagged and t.tag == "sphere" and t.requires_grad
    np.testing.assert_array_equal(t.data, VALUES)
    for back in (pickle.loads(pickle.dumps(t)), copy.copy(t)):
        assert type(back) is Tagged and back.tag == "sphere" and back.requires_grad
        np.testing.assert_array_equal(back.data, VALUES)
    plain = pickle.loads(pickle.dumps(dlpy.tensor(VALUES, requires_grad=True)))
    assert type(plain) is dlpy.Tensor and plain.requires_grad and plain.grad is None


class Tagged(dlpy.Tensor):
    """A subclass in torch's idiom (geoopt's ManifoldTensor), at module level to pickle."""

    __torch_function__ = overrides._disabled_torch_function_impl

    def __new__(cls, data, *, tag="none", requires_grad=False):
        instance = dlpy.Tensor._make_subclass(cls, data, requires_grad)
        instance.tag = tag
        return instance

    def __reduce_ex__(self, proto):
        build, args = super().__reduce_ex__(proto)
        return _rebuild_tagged, (build, args, type(self), self.tag, self.requires_grad)


def _rebuild_tagged(build, args, cls, tag, requires_grad):
    return cls(build(*args), tag=tag, requires_grad=requires_grad)
