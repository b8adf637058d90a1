"""numpy on Tensors: ``ndarray (op) Tensor`` is a recorded op, in-place numpy ops keep the array
(``p.data -= lr * p.grad``), other ufuncs and numpy's functions (np.sum, np.mean, ...) answer on
the values, as on ``np.asarray(t)``."""

import operator

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn
from dlpy.ops.complex import ComplexTensor

A = np.array([[4.0, -5.0, 6.0], [1.5, 2.0, -3.0]])
B = np.array([[1.0, 2.0, -3.0], [0.5, -4.0, 2.5]])


def leaf(values=B):
    return Tensor(np.array(values), requires_grad=True)


# ----------------------------------------------------------------- in place: the array stays
def test_manual_sgd_step_keeps_the_parameter_data_an_array():
    p = nn.Parameter(np.array([1.0, -2.0, 3.0]))
    (p * p).sum().backward()
    data = p.data
    p.data -= 0.1 * p.grad  # p.grad and 0.1 * p.grad are Tensors
    assert type(p.data) is np.ndarray and p.data is data
    np.testing.assert_allclose(p.data, [0.8, -1.6, 2.4])
    dlpy.optim.SGD([p], lr=0.5).step()  # the optimiser still finds an array
    np.testing.assert_allclose(p.data, [-0.2, 0.4, -0.6])


@pytest.mark.parametrize("op, ufunc", [
    (operator.iadd, np.add), (operator.isub, np.subtract), (operator.imul, np.multiply),
    (operator.itruediv, np.divide), (operator.ifloordiv, np.floor_divide),
    (operator.imod, np.remainder), (operator.ipow, np.power)])
def test_in_place_numpy_operator_with_a_tensor_writes_the_array(op, ufunc):
    array = np.abs(A).copy()
    result = op(array, leaf(np.abs(B)))
    assert result is array
    np.testing.assert_allclose(array, ufunc(np.abs(A), np.abs(B)))


def test_in_place_bitwise_and_matmul_keep_the_array():
    mask = np.array([True, False, True])
    mask &= Tensor(np.array([True, True, False]))
    np.testing.assert_array_equal(mask, [True, False, False])
    square = np.eye(2)
    assert operator.imatmul(square, Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))) is square
    np.testing.assert_array_equal(square, [[1.0, 2.0], [3.0, 4.0]])


def test_in_place_keeps_numpy_casting_rules():
    with pytest.raises(TypeError, match="Cannot cast"):
        np.arange(3).__iadd__(Tensor(np.array([0.5, 0.5, 0.5])))


def test_setitem_of_an_array_takes_the_tensor_values():
    array = np.zeros((2, 3))
    array[...] = leaf()
    array[0, :2] = Tensor(np.array([7.0, 8.0]))
    np.testing.assert_array_equal(array, [[7.0, 8.0, -3.0], [0.5, -4.0, 2.5]])


def test_ufunc_out_writes_the_array_and_returns_it():
    out = np.empty((2, 3))
    assert np.add(A, leaf(), out=out) is out
    np.testing.assert_allclose(out, A + B)
    assert np.multiply(leaf(), leaf(), out=(out,)) is out
    np.testing.assert_allclose(out, B * B)
    np.add.at(out, [0, 0], Tensor(np.ones(3)))
    np.testing.assert_allclose(out[0], B[0] ** 2 + 2)


@pytest.mark.parametrize("write", [
    lambda t: np.add(A, A, out=t), lambda t: np.exp(A, out=(t,)),
    lambda t: np.add.at(t, [0], 1.0), lambda t: np.sum(A, axis=0, out=t[0])])
def test_numpy_cannot_write_into_a_tensor(write):
    with pytest.raises(TypeError, match="numpy cannot write into a dlpy Tensor"):
        write(leaf())


# ----------------------------------------------------------------- ndarray (op) Tensor
OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
             operator.floordiv, operator.mod]


@pytest.mark.parametrize("op", OPERATORS, ids=lambda op: op.__name__)
@pytest.mark.parametrize("left", [np.abs(A), np.float64(1.5), np.float32(2.5), np.int64(3),
                                  np.array(2.0)], ids=["array", "f64", "f32", "i64", "0d"])
def test_ndarray_op_tensor_is_the_recorded_tensor_op(op, left):
    t, reference = leaf(np.abs(B)), leaf(np.abs(B))
    out = op(left, t)
    expected = op(Tensor(left) if isinstance(left, np.ndarray) else left.item(), reference)
    assert type(out) is Tensor and out.requires_grad and out.op is not None
    np.testing.assert_allclose(out.data, expected.data)
    try:
        expected.sum().backward()
    except RuntimeError:  # as torch's: floor_divide and remainder(number, tensor) have no
        with pytest.raises(RuntimeError, match="derivative for"):  # derivative
            out.sum().backward()
        assert op in (operator.floordiv, operator.mod)
        return
    out.sum().backward()
    np.testing.assert_allclose(t.grad.data, reference.grad.data)


def test_ndarray_matmul_tensor_records_the_product():
    w = leaf()
    out = np.ones((4, 2)) @ w
    assert out.op is not None and out.shape == (4, 3)
    out.sum().backward()
    np.testing.assert_allclose(w.grad.data, np.full((2, 3), 4.0))


def test_floor_divide_and_remainder_gradients():
    t = leaf(np.abs(B))
    with pytest.raises(RuntimeError, match="derivative for aten::floor_divide is not "
                                           "implemented"):  # torch's: none for floor_divide
        (np.abs(A) // t).sum().backward()
    t = leaf(np.abs(B))
    (np.abs(A) % t).sum().backward()  # a - floor(a / t) * t
    np.testing.assert_allclose(t.grad.data, -np.floor(np.abs(A) / np.abs(B)))


@pytest.mark.parametrize("op, reflected", [
    (operator.lt, operator.gt), (operator.le, operator.ge), (operator.gt, operator.lt),
    (operator.ge, operator.le)])
def test_ndarray_compared_with_tensor_is_a_mask(op, reflected):
    out = op(A, leaf())
    assert type(out) is Tensor and out.dtype == bool and not out.requires_grad
    np.testing.assert_array_equal(out.data, op(A, B))
    np.testing.assert_array_equal(out.data, reflected(leaf(), A).data)


def test_equality_with_an_array_compares_values():
    t = leaf([[4.0, 1.0, 6.0], [1.0, 2.0, 0.0]])
    for mask, expected in ((A == t, A == t.data), (A != t, A != t.data),
                           (np.float64(1.0) == t, t.data == 1.0), (t == A, A == t.data)):
        assert type(mask) is Tensor and not mask.requires_grad
        np.testing.assert_array_equal(mask.data, expected)


def test_bitwise_and_shift_operators():
    mask, other = np.array([True, False, True]), Tensor(np.array([True, True, False]))
    for op in (operator.and_, operator.or_, operator.xor):
        out = op(mask, other)
        assert type(out) is Tensor
        np.testing.assert_array_equal(out.data, op(mask, other.data))
    ints, shifts = np.array([1, 8, 3]), Tensor(np.array([2, 1, 0]))
    for op in (operator.lshift, operator.rshift):
        out = op(ints, shifts)
        assert type(out) is Tensor and out.dtype == np.int64
        np.testing.assert_array_equal(out.data, op(ints, shifts.data))
        np.testing.assert_array_equal(op(shifts, 1).data, op(shifts.data, 1))


def test_tensor_floordiv_mod_keep_integers():
    t = Tensor(np.array([7, -7, 5]))
    np.testing.assert_array_equal((t // 2).data, [3, -4, 2])
    np.testing.assert_array_equal((t % 3).data, [1, 2, 2])
    np.testing.assert_array_equal((10 // t).data, [1, -2, 2])
    assert (t // 2).dtype == np.int64 and (-7 % t).dtype == np.int64


def test_ndarray_op_complex_tensor():
    z = Tensor(np.array([1 + 2j, 3 - 1j]))
    assert type(np.ones(2) + z) is ComplexTensor
    with pytest.raises(TypeError, match="complex numbers have no order"):
        operator.lt(np.ones(2), z)


# ----------------------------------------------------------------- numpy's answers on the values
@pytest.mark.parametrize("call", [
    lambda t: np.exp(t), lambda t: np.abs(t), lambda t: np.isnan(t), lambda t: np.negative(t),
    lambda t: np.add(t, A), lambda t: np.maximum(A, t), lambda t: np.add(t, t),
    lambda t: np.exp(t, dtype=np.float32), lambda t: np.add(A, t, dtype=np.float32),
    lambda t: np.add.reduce(t, axis=1), lambda t: np.maximum.accumulate(t),
    lambda t: np.add.outer(A[0], t), lambda t: np.modf(t), lambda t: divmod(A, t)])
def test_other_ufunc_calls_answer_on_the_values(call):
    out, expected = call(leaf()), call(B.copy())
    for got, want in zip(*((out, expected) if isinstance(out, tuple) else ((out,), (expected,)))):
        assert type(got) is np.ndarray and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


REDUCTIONS = [
    (np.sum, {}), (np.sum, {"axis": 0}), (np.sum, {"axis": 1, "keepdims": True}),
    (np.sum, {"dtype": np.float32}), (np.mean, {}), (np.mean, {"axis": (0, 1)}),
    (np.max, {}), (np.max, {"axis": 1}), (np.min, {"axis": 0, "keepdims": True}),
    (np.amax, {}), (np.amin, {}), (np.std, {}), (np.std, {"ddof": 1, "axis": 0}), (np.var, {}),
    (np.prod, {"axis": 1}), (np.any, {}), (np.all, {"axis": 0}), (np.argmax, {}),
    (np.argmin, {"axis": 1}), (np.ptp, {}), (np.cumsum, {"axis": 0}), (np.median, {}),
    (np.nanmean, {}), (np.round, {}), (np.clip, {"a_min": 0, "a_max": 1}), (np.squeeze, {}),
    (np.flip, {}), (np.transpose, {}), (np.nonzero, {}), (np.unique, {}), (np.linalg.norm, {}),
]


@pytest.mark.parametrize("function, kwargs", REDUCTIONS,
                         ids=[f"{f.__name__}{sorted(k)}" for f, k in REDUCTIONS])
def test_numpy_functions_answer_as_on_the_array(function, kwargs):
    out, expected = function(leaf(), **kwargs), function(B.copy(), **kwargs)
    for got, want in zip(*((out, expected) if isinstance(out, tuple) else ((out,), (expected,)))):
        assert isinstance(got, (np.ndarray, np.generic)) and not isinstance(got, Tensor)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want)


def test_numpy_reductions_of_gradients_bool_int_complex_tensors():
    p = nn.Parameter(np.array([1.0, -2.0, 3.0]))
    (p * p).sum().backward()
    assert float(np.sum(p.grad)) == 4.0 and np.max(np.abs(p.grad)) == 6.0
    assert np.std(p.grad) == np.std(np.array([2.0, -4.0, 6.0]))
    assert np.any(Tensor(np.array([False, True]))) and not np.all(Tensor(np.array([False, True])))
    assert np.sum(Tensor(np.array([1, 2, 3]))).dtype == np.int64
    assert np.sum(Tensor(np.array([1 + 2j, 3 - 1j]))) == 4 + 1j


def test_numpy_functions_of_several_tensors():
    t = leaf()
    np.testing.assert_array_equal(np.concatenate([t, t]), np.concatenate([B, B]))
    np.testing.assert_array_equal(np.where(t > 0, t, A), np.where(B > 0, B, A))
    assert np.allclose(t, B) and np.array_equal(t, t)
    np.testing.assert_allclose(np.dot(t, t.T), B @ B.T)


def test_shape_queries_read_the_tensor():
    t = leaf()
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2 and np.size(t) == 6
    assert np.size(t, 1) == 3
    seen = []

    def sample(x):  # a batched tensor under vmap has no values, but it has a shape
        seen.append((np.shape(x), np.ndim(x), np.size(x)))
        return x * 2

    dlpy.func.vmap(sample)(t)
    assert seen == [((3,), 1, 3)]


class _Foreign:
    """Another library's array: numpy asks it when a Tensor declines."""

    def __array_function__(self, func, types, args, kwargs):
        return "foreign"


def test_numpy_function_defers_to_another_array_library():
    assert np.concatenate([leaf(), _Foreign()]) == "foreign"
