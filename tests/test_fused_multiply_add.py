"""The fused multiply-adds that lerp and addcmul compute as torch's kernels do (one rounding):
checked against exact rational arithmetic, including the halfway cases where rounding twice
goes wrong."""

import importlib
from fractions import Fraction

import numpy as np

pointwise = importlib.import_module("dlpy.ops.pointwise")


def _exact(a, b, c) -> float:
    return float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def test_fma64_rounds_once():
    rng = np.random.default_rng(0)
    n = 4000
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    b = rng.standard_normal(n)
    c = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    out = pointwise._fma64(a, b, c)
    assert [x for x, y in zip(out, map(_exact, a, b, c)) if x != y] == []


def test_fma64_halfway_products():
    # products one bit longer than a double, plus a small addend: exactly the case where
    # rounding the product first and then the sum lands on the other neighbour
    rng = np.random.default_rng(1)
    a = np.round(rng.standard_normal(2000) * 2.0**20) * 2.0**40 + 1
    b = np.full(2000, 1.5)
    c = rng.choice([0.5, 1.5, 2.5, -0.5, 1e-3], 2000)
    out = pointwise._fma64(a, b, c)
    assert [x for x, y in zip(out, map(_exact, a, b, c)) if x != y] == []
    assert pointwise._fma64(np.array([3e38]), np.array([-1.5]), np.array([2.5]))[0] == \
        _exact(3e38, -1.5, 2.5)


def test_fma64_keeps_signed_zeros_and_overflow():
    out = pointwise._fma64(np.array([0.0, -0.0, 1e308, np.inf]), np.array([-1.0, 1.0, 10.0, 0.0]),
                           np.array([-0.0, -0.0, 0.0, 1.0]))
    assert np.signbit(out[0]) and np.signbit(out[1])
    assert out[2] == np.inf and np.isnan(out[3])


def _float32_nearest(exact: Fraction) -> np.float32:
    """The float32 nearest to ``exact`` (ties to even), from its float32 neighbours."""
    guess = np.float32(float(exact))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess,
                  np.nextafter(guess, np.float32(np.inf))]
    return min(candidates, key=lambda v: (abs(Fraction(float(v)) - exact),
                                          int(np.array(v).view(np.int32)) & 1))


def test_float32_fma_rounds_once():
    rng = np.random.default_rng(2)
    a = rng.standard_normal(3000).astype(np.float32)
    b = (rng.standard_normal(3000) * 1e3).astype(np.float32)
    c = (rng.standard_normal(3000) * 10.0 ** rng.integers(-8, 8, 3000)).astype(np.float32)
    # and halfway cases: a product one bit past float32 (1.5 times an odd 24-bit integer)
    # plus a tiny addend
    a[:500] = (2**23 + 2 * rng.integers(0, 2**22, 500) + 1).astype(np.float32)  # odd, 24 bits
    b[:500], c[:500] = 1.5, np.float32(1e-12)  # (lost in a float64 sum: a tie there)
    out = pointwise._fma(a, b, c)
    assert out.dtype == np.float32
    wrong = [k for k in range(3000) if out[k] != _float32_nearest(
        Fraction(float(a[k])) * Fraction(float(b[k])) + Fraction(float(c[k])))]
    assert wrong == []
