"""lgamma, digamma, xlogy, erfinv, gammainc: PyTorch values and gradients
(tests/fixtures/ops/special.npz), gradient checks, edge values and errors."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.special import (
    digamma_array,
    gammainc_array,
    gammainc_grad_a_array,
    lgamma_array,
    trigamma_array,
)
from dlpy.testing import gradcheck

TORCH_CASES = {
    "lgamma": lambda x: x.lgamma(),
    "digamma": lambda x: x.digamma(),
    "xlogy": lambda x, y: F.xlogy(x, y),
    "xlogy_broadcast": lambda x, y: x.xlogy(y),
    "xlogy_zero": lambda x, y: F.xlogy(x, y),
    "erfinv": lambda x: x.erfinv(),
    "gammainc": lambda x, a: F.gammainc(Tensor(a), x),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    # torch's trigamma (digamma's gradient) is accurate to about 5e-10 (ours to 1e-15, checked
    # against the exact values below), so that gradient is compared at 1e-8
    rtol = 1e-8 if case == "digamma" else 1e-10
    torch_reference("special", case, TORCH_CASES[case], rtol=rtol)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("special") == set(TORCH_CASES)


SHAPES = [(), (1,), (3, 4), (2, 1, 3)]


@pytest.mark.parametrize("name", ["lgamma", "digamma"])
@pytest.mark.parametrize("shape", SHAPES)
def test_gamma_functions_gradcheck(name, shape, rng):
    x = Tensor(rng.uniform(0.2, 6.0, shape), requires_grad=True)
    assert gradcheck(getattr(F, name), x)
    negative = Tensor(-rng.uniform(0.2, 0.8, shape) - 1, requires_grad=True)  # off the poles
    assert gradcheck(getattr(F, name), negative, rtol=1e-4)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((), (2,))])
def test_xlogy_gradcheck(shapes, rng):
    x = Tensor(rng.uniform(-2, 2, shapes[0]), requires_grad=True)
    y = Tensor(rng.uniform(0.2, 3, shapes[1]), requires_grad=True)
    assert gradcheck(F.xlogy, x, y)


@pytest.mark.parametrize("shape", SHAPES)
def test_erfinv_gradcheck_and_inverse(shape, rng):
    x = Tensor(rng.uniform(-0.95, 0.95, shape), requires_grad=True)
    assert gradcheck(F.erfinv, x)
    np.testing.assert_allclose(F.erf(F.erfinv(x)).data, x.data, rtol=1e-15, atol=1e-16)


def test_gammainc_gradcheck_in_x(rng):
    a = rng.uniform(0.3, 5.0, (2, 3))
    x = Tensor(rng.uniform(0.1, 8.0, (2, 3)), requires_grad=True)
    assert gradcheck(lambda x: F.gammainc(a, x), x)


def test_exact_values():
    # Gamma(1/2) = sqrt(pi), psi(1) = -euler gamma, psi(1/2) = -gamma - 2 log 2,
    # psi'(1) = pi^2 / 6, psi'(1/2) = pi^2 / 2
    euler = 0.57721566490153286061
    x = np.array([0.5, 1.0, 2.0, 10.0])
    np.testing.assert_allclose(lgamma_array(x), [0.5 * math.log(math.pi), 0, 0, math.log(362880)],
                               rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(digamma_array(np.array([1.0, 0.5])),
                               [-euler, -euler - 2 * math.log(2)], rtol=1e-15)
    np.testing.assert_allclose(trigamma_array(np.array([1.0, 0.5])),
                               [math.pi**2 / 6, math.pi**2 / 2], rtol=1e-15)
    # P(1, x) = 1 - exp(-x); P(a, x) + Q(a, x) = 1 across the two methods' boundary x = a + 1
    x = np.array([0.1, 1.0, 2.0, 5.0, 30.0])
    np.testing.assert_allclose(gammainc_array(1.0, x), -np.expm1(-x), rtol=1e-14)
    # d/da P(a, x) at a = 1 against the derivative of the series term by term:
    # sum_n x^(1+n) e^-x (log x - psi(2 + n)) / Gamma(2 + n)
    for value in (0.5, 3.0):
        series = sum(value ** (1 + n) * math.exp(-value)
                     * (math.log(value) - digamma_array(2.0 + n)) / math.gamma(2 + n)
                     for n in range(60))
        np.testing.assert_allclose(gammainc_grad_a_array(1.0, value), series, rtol=1e-7)


def test_digamma_matches_lgamma_derivative_and_trigamma_digamma_derivative(rng):
    x = np.concatenate([rng.uniform(0.05, 30, 50), -rng.uniform(0.1, 0.9, 20) - 3])
    h = 1e-6
    np.testing.assert_allclose(digamma_array(x),
                               (lgamma_array(x + h) - lgamma_array(x - h)) / (2 * h),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(trigamma_array(x), (digamma_array(x + h) - digamma_array(x - h))
                               / (2 * h), rtol=1e-6, atol=1e-6)


def test_edge_values():
    inf, nan = math.inf, math.nan
    x = np.array([0.0, -0.0, -1.0, -2.0, inf, -inf, nan])
    np.testing.assert_array_equal(lgamma_array(x), [inf, inf, inf, inf, inf, inf, nan])
    np.testing.assert_array_equal(digamma_array(x), [-inf, inf, nan, nan, inf, nan, nan])
    # torch's reflection with sin(pi x) unreduced: inf at 0, about 7.3e31 (not inf) at -3
    np.testing.assert_allclose(trigamma_array(np.array([0.0, -3.0, inf, -inf])),
                               [inf, 7.311989052578831e+31, 0.0, nan], rtol=1e-6)
    np.testing.assert_array_equal(F.erfinv(Tensor(np.array([1.0, -1.0, 0.0, 1.5]))).data,
                                  [inf, -inf, 0.0, nan])
    # xlogy(0, y) = 0 for any y but nan, as torch; 0 * log 0 too
    out = F.xlogy(Tensor(np.zeros(3)), Tensor(np.array([0.0, inf, nan]))).data
    np.testing.assert_array_equal(out, [0.0, 0.0, nan])
    # P(a, 0) = 0, P(a, inf) = 1, P(0, x > 0) = 1 (the limit, as torch), nan for a < 0, for
    # a = x = 0 and for x < 0 (torch.special.gammainc's values)
    np.testing.assert_array_equal(
        gammainc_array(np.array([2.0, 2.0, 0.0, 0.0, 0.0, -1.0, 1.0]),
                       np.array([0.0, inf, 1.0, inf, 0.0, 1.0, -1.0])),
        [0.0, 1.0, 1.0, 1.0, nan, nan, nan])


def test_float32_stays_float32(rng):
    x = Tensor(rng.uniform(0.5, 3, 4).astype(np.float32))
    for fn in (F.lgamma, F.digamma, lambda t: F.erfinv(t / 4), lambda t: F.xlogy(t, t),
               lambda t: F.gammainc(t, t)):
        assert fn(x).dtype == np.float32


def test_errors():
    with pytest.raises(ValueError, match=r"xlogy: shapes \(2,\) and \(3,\) cannot be broadcast"):
        F.xlogy(Tensor(np.ones(2)), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"gammainc: shapes \(2,\) and \(3,\)"):
        F.gammainc(np.ones(2), Tensor(np.ones(3)))
    a = Tensor(np.ones(2), requires_grad=True)
    out = F.gammainc(a, Tensor(np.ones(2)))
    with pytest.raises(NotImplementedError, match="first argument"):
        out.sum().backward()


def test_lgamma_matches_math_lgamma_on_a_wide_grid(rng):
    """Against the C library's lgamma from -60 to 1e305, near the poles and near the zeros,
    to 1e-14 of max(|lgamma|, 1): relative where |lgamma| > 1, absolute below, where the C
    library itself is only absolutely accurate (near 1 and 2 it is off by up to 1e-8 relative;
    the next test checks the relative accuracy there)."""
    poles = -np.arange(1.0, 60.0)[:, None]
    x = np.concatenate([
        rng.uniform(-60, 60, 20000),
        rng.uniform(0, 8.5, 20000),  # the rational approximation and the recurrence
        10.0 ** rng.uniform(-300, 305, 5000),
        -(10.0 ** rng.uniform(-300, 1.7, 5000)),
        (poles + np.array([1e-12, -1e-12, 1e-6, -1e-6, 0.5, 0.25, 0.75])).ravel(),
        1 + rng.uniform(-0.5, 0.5, 2000) * 10.0 ** rng.uniform(-15, 0, 2000),
        2 + rng.uniform(-0.5, 0.5, 2000) * 10.0 ** rng.uniform(-15, 0, 2000),
        np.array([0.5, 1.5, 2.5, 7.5, 8.0, 1e-300, 5e-324]),
    ])
    x = x[(x != np.round(x)) | (x > 0)]  # (math.lgamma raises at the poles)
    expected = np.array([math.lgamma(v) for v in x])
    error = np.abs(lgamma_array(x) - expected) / np.maximum(np.abs(expected), 1.0)
    assert error.max() < 1e-14, x[np.argmax(error)]


def test_lgamma_is_relatively_accurate_near_its_zeros_and_the_method_boundaries():
    # log |Gamma(x)| to 50 digits (mpmath), rounded to float64
    reference = {
        1.000000000001: -5.772669797094564e-13, 0.999999999: 5.77215649399226e-10,
        1.0001: -5.771334222047127e-05, 0.97: 0.01806773312602201,
        2.00000000001: 4.227843700830246e-12, 1.9999999: -4.2278430309861296e-08,
        2.02: 0.008584137966409635, 1.5: -0.12078223763524522, 2.5: 0.2846828704729192,
        0.501: 0.5704038974990318, 7.99: 8.50501160608848, 8.0001: 8.525362925878891,
        -0.5: 1.2655121234846454, -2.5: -0.056243716497674054, 1e-200: 460.51701859880916,
        3.7e250: 2.1310320424521978e+253,
    }
    x = np.array(list(reference))
    np.testing.assert_allclose(lgamma_array(x), list(reference.values()), rtol=2e-15, atol=0)
    # past about 2.5e305 the value overflows: inf, as torch (math.lgamma raises there)
    np.testing.assert_array_equal(lgamma_array(np.array([1e306, 1.7e308])), [np.inf, np.inf])


def test_large_arrays_are_computed_in_blocks_with_the_same_values(rng, monkeypatch):
    monkeypatch.setattr("dlpy.ops.special._BLOCK", 1000)
    x = rng.uniform(-20, 20, (3, 700))  # 2,100 values: blocks across the rows; a row: one
    for function in (lgamma_array, digamma_array, trigamma_array):
        whole = function(x)
        assert whole.shape == (3, 700)
        np.testing.assert_array_equal(whole, np.stack([function(row) for row in x]))
    assert lgamma_array(np.float32(0.5)).shape == ()
