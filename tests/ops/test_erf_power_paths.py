"""The fast float32 paths of erf (tanh(x P(x^2))), erfinv (a degree-11 fit without Newton steps)
and small integer powers (multiplication): against float64 references rounded once, special
values, and the paths torch shares (x * x * x, 1 / (x * x))."""

import math

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.activation import _erf, _erf_float32, _erfc_outer
from dlpy.ops.arithmetic import integer_power
from dlpy.ops.special import erfinv_array, erfinv_float32_array


def _ulps(result: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|result - exact| in float32 ulps of exact (rounded to float32)."""
    spacing = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
    return np.abs(result.astype(np.float64) - exact) / spacing


def test_erf_float32_within_half_an_ulp_over_the_range_and_tails():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-4.5, 4.5, 200_001), rng.standard_normal(50_000) * 3,
                        np.geomspace(1e-45, 1.0, 5_000), -np.geomspace(1e-38, 1.0, 5_000),
                        [3.9, 3.92, 3.93, 4.0, 4.0001, 10.0, 1e30, 3e38]]).astype(np.float32)
    y = F.erf(Tensor(x)).data
    assert y.dtype == np.float32 and y.shape == x.shape
    exact = _erf(x.astype(np.float64))  # Cody's, to 3e-16 (test_activation.py)
    assert _ulps(y, exact).max() < 0.55  # torch's float32 erf: within 1 ulp
    assert np.mean(y == exact.astype(np.float32)) > 0.97  # correctly rounded almost always


def test_erf_float32_special_values_and_shapes():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45], dtype=np.float32)
    y = _erf_float32(x)
    np.testing.assert_array_equal(y[:2], [1.0, -1.0])
    assert np.isnan(y[2]) and y[3] == 0 and np.signbit(y[4]) and y[5] > 0
    assert _erf_float32(np.array(0.5, dtype=np.float32)).shape == ()
    strided = np.linspace(-2, 2, 40, dtype=np.float32).reshape(4, 10)[:, ::3]
    np.testing.assert_array_equal(_erf_float32(strided), _erf_float32(strided.copy()))
    x64 = np.linspace(-5, 5, 101)  # float64 keeps Cody's
    np.testing.assert_array_equal(F.erf(Tensor(x64)).data, _erf(x64))


def test_erf_float32_gradient():
    x = np.linspace(-5, 5, 1001, dtype=np.float32)
    t = Tensor(x, requires_grad=True)
    F.erf(t).sum().backward()
    exact = 2 / math.sqrt(math.pi) * np.exp(-x.astype(np.float64) ** 2)
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad, exact, rtol=2e-6, atol=1e-30)


def test_erfc_outer_relative_accuracy():
    y = np.concatenate([np.linspace(0.46875, 26.5, 20_001), [np.inf, 30.0]])
    exact = np.array([math.erfc(v) for v in y])
    got = _erfc_outer(y, relative=True)
    np.testing.assert_allclose(got[:-2], exact[:-2], rtol=2e-15, atol=0)
    np.testing.assert_array_equal(got[-2:], [0.0, 0.0])


def test_erfc_is_accurate_in_the_upper_tail_where_one_minus_erf_is_zero():
    rng = np.random.default_rng(3)
    x = np.concatenate([np.linspace(-6, 26, 20_001), rng.uniform(-30, 26, 20_000),
                        [-0.46875, 0.46875, 0.0, -0.0]])
    exact = np.array([math.erfc(v) for v in x])
    y = F.erfc(Tensor(x)).data
    assert y.dtype == np.float64
    assert np.max(np.abs(y - exact) / exact) < 2e-15  # relative, out to erfc(26) = 5.7e-296
    assert F.erfc(Tensor(np.array([6.0]))).data[0] == pytest.approx(2.1519736712498913e-17,
                                                                   rel=1e-15)
    y32 = F.erfc(Tensor(x.astype(np.float32))).data
    assert y32.dtype == np.float32
    inside = exact > 1e-37  # float32's normal range
    exact32 = np.array([math.erfc(v) for v in x.astype(np.float32)[inside].astype(float)])
    assert np.max(_ulps(y32[inside], exact32)) < 0.52  # float32's fit: rounded once
    assert np.mean(y32[inside] == exact32.astype(np.float32)) > 0.999
    for dtype in (np.float64, np.float32):
        special = F.erfc(Tensor(np.array([np.inf, -np.inf, np.nan, 40.0, -0.0], dtype))).data
        np.testing.assert_array_equal(special[[0, 1, 3, 4]], [0.0, 2.0, 0.0, 1.0])
        assert np.isnan(special[2]) and not np.signbit(special[[0, 3]]).any()


def test_erfc_gradient_and_the_normal_cdf_tails():
    from dlpy.testing import gradcheck
    assert gradcheck(F.erfc, Tensor(np.array([-2.0, -0.3, 0.2, 0.47, 1.5, 5.0]),
                                    requires_grad=True))
    x = np.array([-1.0, -3.0, -9.0, -20.0, -37.0, 0.5, 4.0])
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    # (x / sqrt(2) rounds: erfc's relative error 2 t^2 1.1e-16, 1.5e-13 at x = -37; before,
    # ndtr was 1 - erf's 0 there)
    np.testing.assert_allclose(dlpy.special.ndtr(Tensor(x)).data, exact, rtol=5e-13)
    np.testing.assert_allclose(dlpy.special.log_ndtr(Tensor(x)).data, np.log(exact), rtol=1e-14)


def test_erfinv_float32_within_half_an_ulp():
    rng = np.random.default_rng(1)  # float32 bit patterns from 2^-24 to just below 1
    x = rng.integers(0x33800000, 0x3F800000, 100_000, dtype=np.uint32).view(np.float32)
    near_one = 1 - np.arange(1, 300, dtype=np.float32) * np.float32(2.0**-24)
    x = np.concatenate([x, near_one, -x[:1000]])
    y = F.erfinv(Tensor(x)).data
    assert y.dtype == np.float32
    exact = erfinv_array(x.astype(np.float64), newton_steps=6)
    assert _ulps(y, exact).max() < 0.52


def test_erfinv_float64_newton_steps_from_the_fit():
    rng = np.random.default_rng(5)  # the last values lie past the fit (w > 16.7): more steps
    a = np.concatenate([rng.uniform(-1, 1, 2000), np.geomspace(1e-300, 0.4, 50),
                        1 - np.geomspace(1.1e-16, 0.5, 200)])
    y = F.erfinv(Tensor(a)).data
    np.testing.assert_allclose(y, erfinv_array(a, newton_steps=8), rtol=1e-15, atol=0)
    inner = np.abs(a) < 0.9  # where erf(y) resolves y
    np.testing.assert_allclose([math.erf(v) for v in y[inner]], a[inner], rtol=5e-16, atol=0)


def test_erfinv_float32_special_values():
    x = np.array([1, -1, 0, -0.0, 1.5, -2, np.nan, np.inf], dtype=np.float32)
    y = erfinv_float32_array(x)
    np.testing.assert_array_equal(y[:3], [np.inf, -np.inf, 0.0])
    assert np.signbit(y[3]) and np.isnan(y[4:]).all()


@pytest.mark.parametrize("p", [4, 5, 7, 16, -3, -4, -16, 6.0])
def test_integer_power_float32_is_the_float64_power_rounded_once(p):
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(20_000) * 3, rng.uniform(-1e10, 1e10, 200),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-45, 3e38]])
    x = x.astype(np.float32)
    with np.errstate(all="ignore"):
        expected = np.power(x.astype(np.float64), p).astype(np.float32)
    result = integer_power(x, p)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal((Tensor(x) ** p).data, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_power_three_and_minus_two_multiply_as_torch(dtype):
    x = np.random.default_rng(3).standard_normal(1000).astype(dtype)
    np.testing.assert_array_equal(integer_power(x, 3), x * x * x)
    np.testing.assert_array_equal(integer_power(x, -2.0), 1 / (x * x))
    if dtype == np.float64:  # other exponents: numpy's correctly rounded power
        np.testing.assert_array_equal(integer_power(x, 5), np.power(x, 5))
    assert integer_power(np.array(2.0, dtype=dtype), 5) == 32  # 0-d: numpy's power


def test_integer_power_gradient_multiplies():
    x = np.random.default_rng(4).standard_normal(100).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    (t**4).sum().backward()
    np.testing.assert_array_equal(t.grad, 4 * (x * x * x))  # torch's 4 * x.pow(3)
    t = Tensor(x, requires_grad=True)
    (t**-1).sum().backward()
    np.testing.assert_array_equal(t.grad, -1 * (1 / (x * x)))


def test_integer_power_counts_its_exponent_in_python(monkeypatch):
    # the module defines dlpy's abs: the exponent once went through it, so every x ** 4 ran
    # ~10 recorded Tensor ops (&, >>, bool) on the exponent (a third of a tiny training step)
    from dlpy.ops import arithmetic

    def refuse(*args):
        raise AssertionError("integer_power called dlpy's abs on the exponent")

    monkeypatch.setattr(arithmetic, "abs", refuse)
    x = np.array([0.5, -1.5, 2.0], dtype=np.float32)
    for p in (4, -4, 5, 16, -7):
        got = arithmetic.integer_power(x, p)
        assert got.dtype == np.float32 and type(got) is np.ndarray
        np.testing.assert_array_equal(got, (x.astype(np.float64) ** p).astype(np.float32))
