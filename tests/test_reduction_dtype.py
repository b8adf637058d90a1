"""torch's ``dtype=`` on reductions (sum, mean, prod, cumsum, cumprod, nansum, nanmean, softmax,
log_softmax, the norms) and the dtypes of integer and bool reductions without it. Expected
values and dtypes are torch 2.13's, written here as literals."""

import math

import numpy as np
import pytest

import dlpy
import dlpy.linalg

F64, F32, F16 = np.float64, np.float32, np.float16


def check(out, dtype, values):
    assert out.dtype == dtype, (out.dtype, dtype)
    np.testing.assert_allclose(out.numpy().astype(np.complex128), np.asarray(values),
                               rtol=1e-6)


def i32():
    return dlpy.tensor([1, 2, 3], dtype=dlpy.int32)


def f2x2():
    return dlpy.tensor([[1.0, 2.0], [3.0, 4.0]])


# ----------------------------------------------------------------- integers and bools, no dtype
@pytest.mark.parametrize("reduce", ["sum", "prod", "nansum"])
@pytest.mark.parametrize("data, dtype, total, product", [
    ([1, 2, 3], np.int32, 6, 6),
    ([True, False, True], np.bool_, 2, 0),
    ([200, 100], np.uint8, 300, 20000),  # numpy would give uint64
    ([100, 100], np.int8, 200, 10000),
])
def test_integer_and_bool_reductions_give_int64(reduce, data, dtype, total, product):
    out = getattr(dlpy.tensor(data, dtype=dtype), reduce)()
    check(out, np.int64, product if reduce == "prod" else total)


@pytest.mark.parametrize("data, dtype, sums, products", [
    ([1, 2, 3], np.int32, [1, 3, 6], [1, 2, 6]),
    ([True, False, True], np.bool_, [1, 1, 2], [1, 0, 0]),
    ([200, 100], np.uint8, [200, 300], [200, 20000]),
])
def test_integer_and_bool_running_reductions_give_int64(data, dtype, sums, products):
    x = dlpy.tensor(data, dtype=dtype)
    check(x.cumsum(0), np.int64, sums)
    check(dlpy.cumprod(x, 0), np.int64, products)


def test_mean_of_integers_needs_a_float_dtype():
    with pytest.raises(RuntimeError, match=r"mean\(\): could not infer output dtype. Input "
                                           r"dtype must be .* Got: Int"):
        i32().mean()
    with pytest.raises(RuntimeError, match=r"Input dtype .* Got: Bool"):
        dlpy.mean(dlpy.tensor([True, False]))
    with pytest.raises(RuntimeError, match=r"Optional dtype must be either a floating point or "
                                           r"complex dtype. Got: Long"):
        i32().mean(dtype=dlpy.int64)
    with pytest.raises(RuntimeError, match=r"Optional dtype .* Got: Int"):
        f2x2().mean(0, dtype=dlpy.int32)
    check(i32().mean(dtype=dlpy.float32), F32, 2.0)
    check(dlpy.tensor([True, False, True]).mean(dtype=dlpy.float64), F64, 2 / 3)
    check(dlpy.tensor([[1, 2]], dtype=dlpy.int32).mean(1, True, dtype=dlpy.float64), F64, [[1.5]])
    check(dlpy.mean(i32(), dtype=dlpy.float64), F64, 2.0)
    check(dlpy.tensor([1, 2]).mean(dtype=dlpy.complex64), np.complex64, 1.5)
    check(dlpy.tensor([1.0, 2.0]).mean(dtype=dlpy.float16), F16, 1.5)


# ----------------------------------------------------------------- dtype=
def test_sum_dtype():
    check(i32().sum(dtype=dlpy.float64), F64, 6.0)
    check(i32().sum(0, dtype=dlpy.float64), F64, 6.0)
    check(i32().sum(0, True, dtype=dlpy.float64), F64, [6.0])
    check(i32().sum(dim=0, dtype=dlpy.float64, keepdim=True), F64, [6.0])
    check(dlpy.sum(i32(), dtype=dlpy.float64), F64, 6.0)
    check(dlpy.sum(f2x2(), (0, 1), dtype=dlpy.float64), F64, 10.0)
    check(f2x2().sum(1, dtype=dlpy.float16), F16, [3.0, 7.0])
    check(f2x2().sum(dtype=dlpy.int32), np.int32, 10)
    check(f2x2().sum(dtype=dlpy.complex64), np.complex64, 10.0)
    check(f2x2().sum(dtype=float), F64, 10.0)  # a Python type, as torch's
    check(f2x2().sum(dtype=None), F32, 10.0)
    check(dlpy.tensor(5).sum(dtype=dlpy.float64), F64, 5.0)
    check(dlpy.tensor([1.5, 2.25, 3.0], dtype=dlpy.float16).sum(dtype=dlpy.float32), F32, 6.75)
    check(dlpy.tensor([1 + 1j, 2]).sum(dtype=dlpy.complex128), np.complex128, 3 + 1j)


def test_dtype_casts_first():
    # floats truncated before they are added; integers wrap around in a narrow dtype
    check(dlpy.tensor([1.7, 2.7]).sum(dtype=dlpy.int32), np.int32, 3)
    check(dlpy.tensor([-1.7, 2.7]).cumsum(0, dtype=dlpy.int32), np.int32, [-1, 1])
    check(dlpy.tensor([1.5, 2.5]).prod(dtype=dlpy.int32), np.int32, 2)
    check(dlpy.tensor([100, 100], dtype=dlpy.int32).sum(dtype=dlpy.int8), np.int8, -56)
    check(dlpy.tensor([200, 100], dtype=dlpy.uint8).sum(dtype=dlpy.uint8), np.uint8, 44)
    check(i32().sum(dtype=dlpy.bool), np.bool_, True)
    check(dlpy.tensor(True).prod(dtype=dlpy.int8), np.int8, 1)
    check(dlpy.tensor([1, 2], dtype=dlpy.int16).prod(dtype=dlpy.int32), np.int32, 2)
    # float16: the cast rounds 2049 to 2048; then float32 accumulation, rounded once
    x = dlpy.tensor([2049.0, 1.0, 1.0])
    check(x.sum(dtype=dlpy.float16), F16, 2050.0)
    check(x.cumsum(0, dtype=dlpy.float16), F16, [2048.0, 2048.0, 2050.0])


def test_prod_cumsum_cumprod_dtype():
    check(f2x2().prod(1, True, dtype=dlpy.float64), F64, [[2.0], [12.0]])
    check(f2x2().prod(dtype=dlpy.float64), F64, 24.0)
    check(f2x2().prod(1, dtype=dlpy.int64), np.int64, [2, 12])
    check(dlpy.prod(i32(), 0, dtype=dlpy.float64), F64, 6.0)
    check(dlpy.tensor(5).prod(0, dtype=dlpy.float64), F64, 5.0)
    check(f2x2().cumsum(0, dtype=dlpy.float64), F64, [[1.0, 2.0], [4.0, 6.0]])
    check(f2x2().cumsum(dim=0, dtype=dlpy.float64), F64, [[1.0, 2.0], [4.0, 6.0]])
    check(dlpy.cumsum(i32(), 0, dtype=dlpy.float64), F64, [1.0, 3.0, 6.0])
    check(dlpy.tensor(5).cumsum(0, dtype=dlpy.float64), F64, 5.0)
    check(dlpy.tensor([True, False, True]).cumprod(0, dtype=dlpy.float32), F32, [1.0, 0.0, 0.0])


def test_dtype_is_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        i32().sum(0, True, dlpy.float64)
    with pytest.raises(TypeError, match="positional"):
        f2x2().prod(1, True, dlpy.float64)
    with pytest.raises(TypeError, match="positional"):
        f2x2().cumsum(0, dlpy.float64)


def test_nansum_nanmean_dtype():
    x = dlpy.tensor([1.0, math.nan, 2.0])
    check(x.nansum(dtype=dlpy.int32), np.int32, 3)  # nan taken as 0 before the cast
    check(x.nansum(0, True, dtype=dlpy.float64), F64, [3.0])
    check(dlpy.nansum(i32(), 0, dtype=dlpy.float64), F64, 6.0)
    check(dlpy.nanmean(x, dtype=dlpy.float64), F64, 1.5)
    check(dlpy.tensor([1.0, math.nan]).nanmean(dtype=dlpy.float16), F16, 1.0)
    with pytest.raises(RuntimeError, match=r"nanmean\(\): expected input to have floating "
                                           r"point or complex dtype but got Int"):
        i32().nanmean(dtype=dlpy.float64)
    with pytest.raises(RuntimeError, match=r"Optional dtype .* Got: Int"):
        x.nanmean(dtype=dlpy.int32)


def test_softmax_dtype():
    softmax_0 = [[0.11920292202211755, 0.11920292202211755],
                 [0.8807970779778823, 0.8807970779778823]]
    check(f2x2().softmax(0, dtype=dlpy.float64), F64, softmax_0)
    check(f2x2().softmax(0, dlpy.float64), F64, softmax_0)  # positional, as torch's
    check(dlpy.softmax(f2x2(), 0, dlpy.float64), F64, softmax_0)  # torch.softmax's third
    check(dlpy.functional.softmax(f2x2(), 0, dtype=dlpy.float64), F64, softmax_0)
    log_softmax = [-1.3132616875182228, -0.31326168751822286]
    check(dlpy.tensor([1.0, 2.0]).log_softmax(0, dtype=dlpy.float64), F64, log_softmax)
    check(dlpy.log_softmax(dlpy.tensor([1.0, 2.0]), 0, dlpy.float64), F64, log_softmax)
    check(i32().softmax(0, dtype=dlpy.float32), F32,
          [0.09003057330846786, 0.2447284758090973, 0.6652409434318542])


def test_norm_dtype():
    check(f2x2().norm(dtype=dlpy.float64), F64, 5.477225575051661)
    check(f2x2().norm(2, 1, dtype=dlpy.float64), F64, [2.23606797749979, 5.0])
    check(f2x2().norm(2, 1, False, dlpy.float64), F64, [2.23606797749979, 5.0])  # torch's 4th
    check(f2x2().norm(math.inf, dtype=dlpy.float64), F64, 4.0)
    check(dlpy.norm(f2x2(), dtype=dlpy.float64), F64, 5.477225575051661)
    check(dlpy.linalg.vector_norm(f2x2(), 2, 1, True, dtype=dlpy.float64), F64,
          [[2.23606797749979], [5.0]])
    check(dlpy.linalg.norm(f2x2(), dtype=dlpy.float64), F64, 5.477225575051661)
    check(dlpy.linalg.norm(f2x2(), 2, dtype=dlpy.float64), F64, 5.464985704219043)
    check(dlpy.linalg.norm(f2x2(), dim=1, dtype=dlpy.float64), F64, [2.23606797749979, 5.0])
    check(dlpy.linalg.matrix_norm(f2x2(), "nuc", dtype=dlpy.float64), F64, 5.8309518948453)
    check(dlpy.linalg.matrix_norm(f2x2(), 1, dtype=dlpy.float64), F64, 6.0)
    check(dlpy.linalg.vector_norm(dlpy.tensor([1.5, 2.25, 3.0], dtype=dlpy.float16),
                                  dtype=dlpy.float32), F32, 4.038873672485352)
    check(dlpy.tensor([1 + 1j, 2]).norm(dtype=dlpy.complex128), F64, 2.449489742783178)


def test_norm_dtype_errors():
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: Expected a floating point or "
                                           r"complex tensor as input. Got Long"):
        dlpy.tensor([3, 4]).norm()
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: Expected .* Got Long"):
        dlpy.linalg.matrix_norm(dlpy.tensor([[3, 4]]))
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: dtype should be floating "
                                           r"point or complex, but got Int"):
        f2x2().norm(dtype=dlpy.int32)
    with pytest.raises(RuntimeError, match=r"the dtype of the input \(Float\) should be "
                                           r"convertible without narrowing to the specified "
                                           r"dtype \(Half\)"):
        dlpy.linalg.vector_norm(f2x2(), dtype=dlpy.float16)
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: the dtype of the input "
                                           r"\(Double\) .* \(Float\)"):
        dlpy.linalg.matrix_norm(f2x2().double(), dtype=dlpy.float32)
    with pytest.raises(RuntimeError, match=r"dtype should be complex for complex inputs, but "
                                           r"got Double"):
        dlpy.tensor([1 + 1j, 2]).norm(dtype=dlpy.float64)
    with pytest.raises(RuntimeError, match=r"dtype should be real for real inputs, but got "
                                           r"ComplexDouble"):
        dlpy.linalg.vector_norm(dlpy.tensor([3.0, 4.0]), dtype=dlpy.complex128)


def test_logsumexp_takes_no_dtype():  # as torch's
    with pytest.raises(TypeError, match="dtype"):
        f2x2().logsumexp(0, dtype=dlpy.float64)


# ----------------------------------------------------------------- gradients
def grad_of(x, f):
    x = dlpy.tensor(x.numpy(), requires_grad=True)
    f(x).backward()
    return x.grad


@pytest.mark.parametrize("x, f, grad", [
    (dlpy.tensor([1.5, 2.5, -3.0]), lambda x: x.sum(dtype=dlpy.float64), [1.0, 1.0, 1.0]),
    (dlpy.tensor([1.5, 2.5, -3.0], dtype=dlpy.float16), lambda x: x.prod(dtype=dlpy.float32),
     [-7.5, -4.5, 3.75]),
    (dlpy.tensor([1.5, 2.5, -3.0], dtype=dlpy.float16),
     lambda x: x.cumsum(0, dtype=dlpy.float64).sum(), [3.0, 2.0, 1.0]),
    (dlpy.tensor([1.5, 2.5], dtype=dlpy.float16), lambda x: x.mean(dtype=dlpy.float64),
     [0.5, 0.5]),
    (dlpy.tensor([1.5, math.nan]), lambda x: x.nanmean(dtype=dlpy.float64), [1.0, 0.0]),
    (dlpy.tensor([1.5, math.nan]), lambda x: x.nansum(dtype=dlpy.float64), [1.0, 0.0]),
    (dlpy.tensor([3.0, 4.0]), lambda x: x.norm(dtype=dlpy.float64), [0.6, 0.8]),
    (f2x2(), lambda x: x.softmax(1, dtype=dlpy.float64)[:, 0].sum(),
     [[0.1966119259595871, -0.1966119259595871], [0.1966119259595871, -0.1966119259595871]]),
    (f2x2(), lambda x: x.log_softmax(1, dtype=dlpy.float64)[:, 0].sum(),
     [[0.7310585975646973, -0.7310585975646973], [0.7310585975646973, -0.7310585975646973]]),
    (f2x2(), lambda x: x.prod(1, keepdim=True, dtype=dlpy.float64).sum(), [[2.0, 1.0],
                                                                           [4.0, 3.0]]),
    (f2x2(), lambda x: x.cumprod(1, dtype=dlpy.float64).sum(), [[3.0, 1.0], [5.0, 3.0]]),
    (dlpy.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=dlpy.float16),
     lambda x: dlpy.linalg.matrix_norm(x, dtype=dlpy.float32),
     [[0.1826171875, 0.365234375], [0.5478515625, 0.73046875]]),
])
def test_gradient_flows_back_in_the_input_dtype(x, f, grad):
    got = grad_of(x, f)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got.numpy().astype(F64), grad, rtol=2e-3)


def test_integer_dtype_of_a_tensor_that_requires_gradients():
    x = dlpy.tensor([1.5, 2.5, -3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"prod: x requires gradients, so dtype must be a float"):
        x.prod(dtype=dlpy.int32)
    with pytest.raises(RuntimeError, match=r"cumsum: x requires gradients"):
        x.cumsum(0, dtype=dlpy.int32)
    with dlpy.no_grad():  # torch reduces it in any dtype there
        check(x.sum(dtype=dlpy.int32), np.int32, 0)
        check(x.cumsum(0, dtype=dlpy.int64), np.int64, [1, 3, 0])
