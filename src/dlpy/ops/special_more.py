"""torch.special's functions that dlpy had no op for: erfcx, i0e, i1, i1e, ndtr, ndtri, log_ndtr,
xlog1py, entr, gammaincc and zeta (with PyTorch's gradients where it has them), and the Bessel,
Airy and orthogonal-polynomial functions, which PyTorch does not differentiate (their results
here, as there, never require grad).

Every function is computed in float64 (an integer input gives float32, as torch's default dtype)
by the same approximations as PyTorch's CPU kernels (ATen/native/Math.h, from the Cephes Math
Library and S. G. Johnson's Faddeeva package): Chebyshev series for the modified Bessel
functions, rational functions for ndtri and the Bessel functions of the first and second kind,
a table of 100 local Chebyshev polynomials for erfcx. The coefficients are Math.h's.
"""

from __future__ import annotations

import math

import numpy as np

from dlpy.layouts import follows_inputs, laid_as_inputs
from dlpy.node_names import rename_scalar_overload
from dlpy.ops import NoKernelError
from dlpy.ops.activation import _erf, _erfc
from dlpy.ops.pointwise import _check_broadcast
from dlpy.ops.promotion import floating, promote_floating, result_type
from dlpy.ops.special import (
    _gammaincc_fraction,
    _gammaincc_series,
    gammainc_array,
    gammainc_operands,
    lgamma_array,
    tensor_operand,
)
from dlpy.tensor import Op, Tensor, default_dtype

_SQRT_2PI = math.sqrt(2 * math.pi)
_INV_SQRT_PI = 0.56418958354775628694807945156  # 1 / sqrt(pi)
_TWO_OVER_PI = 0.636619772367581343075535053490057448
_SQRT_2_OVER_PI = 0.797884560802865355879892119868763737


def _data(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _result_dtype(*arrays):
    """The input's floating dtype (bfloat16 kept), or float32 (torch's default) for integers
    and bools."""
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" or dtype.name == "bfloat16" else np.dtype(np.float32)


def _refuse_dtype(kernel: str, *inputs) -> None:
    """torch's CPU kernel ``kernel`` has float32/float64 (integers promoted) only: its
    NotImplementedError for float16, bfloat16 and complex operands (after promotion)."""
    dtype = result_type(*inputs)
    if dtype.kind == "c" or dtype.name in ("float16", "bfloat16"):
        from dlpy.amp.dtypes import _torch_name

        raise NotImplementedError(f'"{kernel}_cpu" not implemented for \'{_torch_name(dtype)}\'')


def _polevl(x: np.ndarray, coefficients) -> np.ndarray:
    """sum c_i x^(N - i): Horner's rule, highest power first (Cephes' polevl)."""
    out = np.zeros_like(x)
    for c in coefficients:
        out = out * x + c
    return out


def _chbevl(x: np.ndarray, coefficients) -> np.ndarray:
    """A Chebyshev series at x in [-2, 2] by Clenshaw's recurrence (Cephes' chbevl)."""
    b0, b1, b2 = np.full_like(x, coefficients[0]), np.zeros_like(x), np.zeros_like(x)
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


def _elementwise(function):
    """Run a float64 function of 1-D arrays on any shape (0-d included)."""

    def apply(*arrays) -> np.ndarray:
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
        shape = arrays[0].shape
        with np.errstate(all="ignore"):
            return function(*[a.reshape(-1) for a in arrays]).reshape(shape)

    apply.__name__ = function.__name__
    apply.__doc__ = function.__doc__
    return apply


# ---------------------------------------------------------------- float64 kernels on arrays

@_elementwise
def i0e_array(x):
    """exp(-|x|) I0(x)."""
    x = np.abs(x)
    small = x <= 8
    return np.where(small, _chbevl(x / 2 - 2, _I0E_A),
                    _chbevl(32 / np.where(small, 1, x) - 2, _I0E_B) / np.sqrt(x))


@_elementwise
def i1e_array(x):
    """exp(-|x|) I1(x) (odd in x)."""
    a = np.abs(x)
    small = a <= 8
    out = np.where(small, _chbevl(a / 2 - 2, _I1E_A) * a,
                   _chbevl(32 / np.where(small, 1, a) - 2, _I1E_B) / np.sqrt(a))
    return np.where(x < 0, -out, out)


@_elementwise
def i0_array(x):
    """I0(x), the modified Bessel function of the first kind of order 0."""
    return np.exp(np.abs(x)) * i0e_array(x)


@_elementwise
def i1_array(x):
    """I1(x), the modified Bessel function of the first kind of order 1."""
    return np.exp(np.abs(x)) * i1e_array(x)


def past_float32_exp(x, y: np.ndarray, odd: bool) -> np.ndarray:
    """torch's I0 and I1 of a float32 input (float16, bfloat16 and integers computed in float32
    too) are exp(|x|) times a series in float32: +-inf from |x| = 88.73 on, where exp(|x|)
    overflows, though the float64 value ``y`` still fits float32 up to |x| = 91 (at inf
    itself inf / sqrt(inf), y's nan)."""
    x = np.asarray(x)
    if x.dtype == np.float64 or x.dtype.kind == "c":
        return y
    with np.errstate(over="ignore", invalid="ignore"):
        wide = np.abs(x.astype(np.float32))
        over = np.isinf(np.exp(wide)) & np.isfinite(wide)
    if not over.any():
        return y
    return np.where(over, np.copysign(np.inf, x) if odd else np.inf, y)


def i0_torch(x):
    """I0(x) with torch's float32 overflow (past_float32_exp)."""
    return past_float32_exp(x, i0_array(x), odd=False)


def i1_torch(x):
    """I1(x) with torch's float32 overflow (past_float32_exp)."""
    return past_float32_exp(x, i1_array(x), odd=True)


@_elementwise
def k0_array(x):
    """K0(x), the modified Bessel function of the second kind, x > 0; inf at 0, nan below."""
    return _bessel_k(x, _K0_A, _K0_B, order=0, scaled=False)


@_elementwise
def k0e_array(x):
    """exp(x) K0(x)."""
    return _bessel_k(x, _K0_A, _K0_B, order=0, scaled=True)


def _bessel_k(x, a_coefficients, b_coefficients, order, scaled):
    small = x <= 2
    xs = np.where(small, x, 1.0)
    series = _chbevl(xs * xs - 2, a_coefficients)
    if order == 0:
        near = series - np.log(0.5 * xs) * i0_array(xs)
    else:
        near = np.log(0.5 * xs) * i1_array(xs) + series / xs
    xl = np.where(small, 1.0, x)
    far = _chbevl(8 / xl - 2, b_coefficients) / np.sqrt(xl)
    out = np.where(small, near * np.exp(x) if scaled else near,
                   far if scaled else np.exp(-x) * far)
    return np.where(x == 0, np.inf, np.where(x < 0, np.nan, out))


@_elementwise
def k1_array(x):
    """K1(x), x > 0; inf at 0, nan below."""
    return _bessel_k(x, _K1_A, _K1_B, order=1, scaled=False)


@_elementwise
def k1e_array(x):
    """exp(x) K1(x)."""
    return _bessel_k(x, _K1_A, _K1_B, order=1, scaled=True)


def _bessel_far(x, pp, pq, qp, qq, shift, second_kind):
    """The asymptotic form of J_n / Y_n for x > 5 (x > 0 here)."""
    w = 25 / (x * x)
    p = _polevl(w, pp) / _polevl(w, pq)
    q = 5 / x * (_polevl(w, qp) / _polevl(w, qq))
    if second_kind:
        out = p * np.sin(x - shift) + q * np.cos(x - shift)
    else:
        out = p * np.cos(x - shift) - q * np.sin(x - shift)
    return out * _SQRT_2_OVER_PI / np.sqrt(x)


_QUARTER_PI = 0.785398163397448309615660845819875721
_THREE_QUARTER_PI = 2.356194490192344928846982537459627163


@_elementwise
def j0_array(x):
    """J0(x), the Bessel function of the first kind of order 0."""
    x = np.abs(x)
    small = x <= 5
    z = x * x
    near = ((z - 5.78318596294678452118e00) * (z - 3.04712623436620863991e01)
            * _polevl(z, _J0_RP) / _polevl(z, _J0_RQ))
    near = np.where(x < 1e-5, 1 - z / 4, near)
    far = _bessel_far(np.where(small, 10.0, x), _J0_PP, _J0_PQ, _J0_QP, _J0_QQ,
                      _QUARTER_PI, False)
    return np.where(small, near, far)


@_elementwise
def j1_array(x):
    """J1(x), the Bessel function of the first kind of order 1 (odd)."""
    a = np.abs(x)
    small = a <= 5
    z = a * a
    near = (_polevl(z, _J1_RP) / _polevl(z, _J1_RQ) * a * (z - 1.46819706421238932572e01)
            * (z - 4.92184563216946036703e01))
    far = _bessel_far(np.where(small, 10.0, a), _J1_PP, _J1_PQ, _J1_QP, _J1_QQ,
                      _THREE_QUARTER_PI, False)
    out = np.where(small, near, far)
    return np.where(x < 0, -out, out)


@_elementwise
def y0_array(x):
    """Y0(x), the Bessel function of the second kind of order 0 (x > 0; -inf at 0)."""
    small = x <= 5
    xs = np.where(small & (x > 0), x, 1.0)
    z = xs * xs
    near = _polevl(z, _Y0_YP) / _polevl(z, _Y0_YQ) + _TWO_OVER_PI * np.log(xs) * j0_array(xs)
    far = _bessel_far(np.where(small, 10.0, x), _J0_PP, _J0_PQ, _J0_QP, _J0_QQ,
                      _QUARTER_PI, True)
    out = np.where(small, near, far)
    return np.where(x == 0, -np.inf, np.where(x < 0, np.nan, out))


@_elementwise
def y1_array(x):
    """Y1(x), the Bessel function of the second kind of order 1 (x > 0; -inf at 0)."""
    small = x <= 5
    xs = np.where(small & (x > 0), x, 1.0)
    z = xs * xs
    near = xs * (_polevl(z, _Y1_YP) / _polevl(z, _Y1_YQ)) + _TWO_OVER_PI * (
        j1_array(xs) * np.log(xs) - 1 / xs)
    far = _bessel_far(np.where(small, 10.0, x), _J1_PP, _J1_PQ, _J1_QP, _J1_QQ,
                      _THREE_QUARTER_PI, True)
    out = np.where(small, near, far)
    return np.where(x == 0, -np.inf, np.where(x < 0, np.nan, out))


@_elementwise
def airy_ai_array(x):
    """Ai(x), the Airy function of the first kind: asymptotic forms beyond |x| = 2.09, the
    Maclaurin series between (summed until the terms fall below float64's epsilon)."""
    out = np.zeros_like(x)
    negative = x < -2.09
    xn = np.where(negative, x, -3.0)
    root = np.sqrt(-xn)
    z = 1 / (-2 * xn * root / 3)
    zz = z * z
    t = -2 * xn * root / 3 + 0.25 * math.pi
    out = np.where(negative, _INV_SQRT_PI / np.sqrt(root) * (
        np.sin(t) * (1 + zz * _polevl(zz, _AIRY_AFN) / _polevl(zz, _AIRY_AFD))
        - np.cos(t) * (z * _polevl(zz, _AIRY_AGN) / _polevl(zz, _AIRY_AGD))), out)
    positive = x >= 2.09
    xp = np.where(positive, x, 3.0)
    zeta = 2 * xp * np.sqrt(xp) / 3
    asymptotic = (_INV_SQRT_PI * (_polevl(1 / zeta, _AIRY_AN) / _polevl(1 / zeta, _AIRY_AD))
                  / (2 * np.sqrt(np.sqrt(xp)) * np.exp(zeta)))
    out = np.where(positive, asymptotic, out)
    series = ~negative & ~(x > 8.3203353)
    xs = np.where(series, x, 0.0)
    f, g, k, m, n = np.ones_like(xs), xs.copy(), 1.0, np.ones_like(xs), xs.copy()
    z3 = xs * xs * xs
    running = series.copy()
    while running.any():  # the kernel's loop, each value stopping when its own terms do
        m = np.where(running, m * z3 / (k + 1) / (k + 2), m)
        n = np.where(running, n * z3 / (k + 2) / (k + 3), n)
        f = np.where(running, f + m, f)
        g = np.where(running, g + n, g)
        k += 3
        running &= np.abs(m / f) > np.finfo(np.float64).eps
    maclaurin = 0.355028053887817239260 * f - 0.258819403792806798405 * g
    out = np.where(series & ~positive, maclaurin, out)
    out = np.where(x > 103.892, 0.0, out)
    return np.where(np.isinf(x), np.nan, out)


@_elementwise
def spherical_j0_array(x):
    """j0(x) = sin(x) / x (its Taylor polynomial below |x| = 1/2; 0 at +-inf)."""
    z = x * x
    near = 1 + z * (-1 / 6 + z * (1 / 120 + z * (-1 / 5040 + z * (
        1 / 362880 + z * (-1 / 39916800 + z * (1 / 6227020800))))))
    out = np.where(np.abs(x) < 0.5, near, np.sin(x) / x)
    return np.where(np.isinf(x), 0.0, out)


def _erfcx_y100(y100):
    """erfcx(x) from y100 = 400 / (4 + x), x >= 0: the local Chebyshev polynomial of the
    interval [k/100, (k+1)/100) that holds y = 4 / (4 + x)."""
    k = np.clip(np.nan_to_num(np.floor(y100), nan=100), 0, 100).astype(np.intp)
    inside = k < 100
    kk = np.where(inside, k, 0)
    t = 2 * y100 - (2 * kk + 1)
    table = np.asarray(_ERFCX)[kk]  # (n, 7)
    out = table[:, 6]
    for j in range(5, -1, -1):
        out = table[:, j] + out * t
    return np.where(inside, out, 1.0)  # y = 1: |x| < 4 eps, erfcx within 1e-15 of 1


@_elementwise
def erfcx_array(x):
    """erfcx(x) = exp(x^2) erfc(x), without overflow for large x."""
    positive = x >= 0
    xp = np.where(positive, x, 0.0)
    xx = xp * xp
    far = np.where(xp > 5e7, _INV_SQRT_PI / np.where(xp > 0, xp, 1.0),
                   _INV_SQRT_PI * (xx * (xx + 4.5) + 2) / (xp * (xx * (xx + 5) + 3.75)))
    out_positive = np.where(xp > 50, far, _erfcx_y100(400 / (4 + xp)))
    xn = np.where(positive, 0.0, x)
    twice = 2 * np.exp(xn * xn)
    out_negative = np.where(xn < -26.7, np.inf, np.where(
        xn < -6.1, twice, twice - _erfcx_y100(400 / (4 - np.maximum(xn, -6.1)))))
    out = np.where(positive, out_positive, out_negative)
    return np.where(np.isnan(x), x, out)


@_elementwise
def ndtr_array(x):
    """Phi(x), the standard normal CDF (erf near 0, erfc in the tails, as torch)."""
    t = x * math.sqrt(0.5)
    z = np.abs(t)
    tail = 0.5 * _erfc(z)
    return np.where(z < 1, 0.5 + 0.5 * _erf(t),
                    np.where(t > 0, 1 - tail, tail))


@_elementwise
def ndtri_array(y0):
    """Phi^-1(y), the standard normal quantile, y in [0, 1] (Cephes' ndtri)."""
    upper = y0 > 1 - 0.13533528323661269189
    y = np.where(upper, 1 - y0, y0)
    central = y > 0.13533528323661269189
    yc = y - 0.5
    y2 = yc * yc
    out_central = (yc + yc * (y2 * _polevl(y2, _NDTRI_P0) / _polevl(y2, _NDTRI_Q0))) * _SQRT_2PI
    yt = np.where(central | (y <= 0), 0.1, y)
    x = np.sqrt(-2 * np.log(yt))
    x0 = x - np.log(x) / x
    z = 1 / x
    x1 = np.where(x < 8, z * _polevl(z, _NDTRI_P1) / _polevl(z, _NDTRI_Q1),
                  z * _polevl(z, _NDTRI_P2) / _polevl(z, _NDTRI_Q2))
    out_tail = np.where(upper, x0 - x1, x1 - x0)
    out = np.where(central, out_central, out_tail)
    out = np.where(y0 == 0, -np.inf, np.where(y0 == 1, np.inf, out))
    return np.where((y0 < 0) | (y0 > 1) | np.isnan(y0), np.nan, out)


@_elementwise
def log_ndtr_array(x):
    """log Phi(x), accurate in the lower tail through erfcx."""
    t = x * math.sqrt(0.5)
    lower = x < -1
    tl = np.where(lower, t, 0.0)
    th = np.where(lower, 0.0, t)
    return np.where(lower, np.log(erfcx_array(-tl) / 2) - tl * tl,
                    np.log1p(-_erfc(th) / 2))


_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
           7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
           -4.5979787224074726105e15, 1.8152105401943546773e17, -7.1661652561756670113e18)
_MACHEP = 1.11022302462515654042e-16


@_elementwise
def zeta_array(x, q):
    """The Hurwitz zeta function sum over k >= 0 of (k + q)^-x (Cephes' zeta: a direct sum to
    q + 9 or beyond, then the Euler-Maclaurin tail)."""
    s = q ** -x
    a = q.copy()
    b = np.zeros_like(q)
    # the points torch answers before summing (x <= 1, q a non-positive integer, -inf included,
    # or q <= 0 with x not an integer) are set below: leave them out of the sum
    done = (x <= 1) | ((q <= 0) & ((q == np.floor(q)) | (x != np.floor(x))))
    i = 0
    while True:
        active = ~done & ((i < 9) | (a <= 9))
        if not active.any():
            break
        i += 1
        a = np.where(active, a + 1, a)
        b = np.where(active, a ** -x, b)
        s = np.where(active, s + b, s)
        done |= active & (-_MACHEP * s < b) & (b < _MACHEP * s)
    w = a
    tail = ~done
    s = np.where(tail, s + b * w / (x - 1) - 0.5 * b, s)
    aa = np.ones_like(q)
    k = 0.0
    for coefficient in _ZETA_A:
        aa = aa * (x + k)
        b = b / w
        t = aa * b / coefficient
        s = np.where(tail, s + t, s)
        tail &= ~(np.abs(t / s) < _MACHEP)
        k += 1
        aa = aa * (x + k)
        b = b / w
        k += 1
    out = np.where((q <= 0) & (x != np.floor(x)), np.nan, s)
    out = np.where((q <= 0) & (q == np.floor(q)), np.inf, out)
    out = np.where(x < 1, np.nan, out)
    return np.where(x == 1, np.inf, out)


@_elementwise
def gammaincc_array(a, x):
    """Q(a, x) = 1 - P(a, x), the regularized upper incomplete gamma function."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    out = 1 - gammainc_array(a, x)
    regular = np.isfinite(x) & (a > 0) & np.isfinite(a)
    fraction = (x >= a + 1) & regular
    if fraction.any():
        out[fraction] = _gammaincc_fraction(a[fraction], x[fraction])
    # torch's regions for Q's own series (no 1 - P: a small a makes P near 1)
    with np.errstate(divide="ignore"):
        small = regular & (x > 0) & np.where(
            x <= 0.5, -0.4 / np.log(np.where(x < 1, x, 0.5)) >= a, (x <= 1.1) & (x * 1.1 >= a))
    if small.any():
        out[small] = _gammaincc_series(a[small], x[small])
    # (PyTorch's values on the edges, Q(0, x > 0) = 0, Q(a, 0) = 1, Q(inf, x) = 1,
    # Q(a, inf) = 0, are 1 - P's there, in the same order of tests)
    return out


# ------------------------------------------------------------------------- ops with gradients

@follows_inputs
class _Unary(Op):
    """y = f(x) computed in float64 by ``kernel`` and cast to x's floating dtype."""

    kernel = None

    def forward(self, x):
        self.x = x
        self.y = type(self).kernel(x).astype(_result_dtype(x), copy=False)
        return self.y


class Erfcx(_Unary):
    """y = exp(x^2) erfc(x);  dx = g * (2 x y - 2 / sqrt(pi))."""

    kernel = staticmethod(erfcx_array)

    def backward(self, grad_output):
        with np.errstate(invalid="ignore"):  # (inf * 0 at x < -26.7: nan, as torch)
            return (grad_output * (2 * self.x * self.y - 2 * _INV_SQRT_PI),)

    def backward_graph(self, grad_output, output):
        return ((2.0 * self.inputs[0] * output - 2 * _INV_SQRT_PI) * grad_output,)


def _i0e_half(x: np.ndarray) -> np.ndarray:
    """i0e in float16 / bfloat16 arithmetic (coefficients rounded too), as torch's kernel for
    those dtypes, which has no float32 opmath (its i0e(0) in bfloat16 is 0.9921875)."""
    x = np.abs(x)
    one, two = x.dtype.type(1), x.dtype.type(2)
    small = x <= 8
    with np.errstate(all="ignore"):
        return np.where(small, _chbevl(x / two - two, _I0E_A),
                        _chbevl(x.dtype.type(32) / np.where(small, one, x) - two, _I0E_B)
                        / np.sqrt(x))


class I0e(_Unary):
    """y = exp(-|x|) I0(x);  dx = g * (i1e(x) - sign(x) y)."""

    kernel = staticmethod(i0e_array)

    def forward(self, x):
        if x.dtype.itemsize != 2 or x.dtype.kind in "iu":
            return super().forward(x)
        self.x = x
        self.y = _i0e_half(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (i1e_array(self.x) - np.sign(self.x) * self.y),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.pointwise import sgn

        x = self.inputs[0]
        return (grad_output * (i1e(x) - sgn(x) * output),)


class I1(_Unary):
    """y = I1(x);  dx = g * (I0(x) - y / x), 1/2 at x = 0 and nan (torch's i1_backward)."""

    kernel = staticmethod(i1_torch)

    def backward(self, grad_output):
        x = self.x
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(~(np.abs(x) > 0), 0.5, i0_array(x) - self.y / x)  # nan: 1/2 too
        return (grad_output * slope,)

    def backward_graph(self, grad_output, output):
        # torch's i1_backward: x replaced by eps where |x| <= eps (the where keeps the
        # second derivative finite there), the slope 1/2 at those points
        from dlpy.ops.pointwise import i0

        x, safe, not_tiny = _safe_input(self.inputs[0])
        return (grad_output * _where(not_tiny, i0(safe) - output * safe.reciprocal(), 0.5),)


class I1e(_Unary):
    """y = exp(-|x|) I1(x);  dx = g * (i0e(x) - y (sign(x) + 1 / x)), 1/2 at x = 0 and nan."""

    kernel = staticmethod(i1e_array)

    def backward(self, grad_output):
        x = self.x
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(~(np.abs(x) > 0), 0.5,  # (nan: 1/2 too, as torch's |x| > eps test)
                             i0e_array(x) - self.y * (np.sign(x) + 1 / x))
        return (grad_output * slope,)

    def backward_graph(self, grad_output, output):
        # torch's i1e_backward, as I1's
        from dlpy.ops.pointwise import sgn

        x, safe, not_tiny = _safe_input(self.inputs[0])
        slope = i0e(safe) - output * (sgn(safe) + safe.reciprocal())
        return (grad_output * _where(not_tiny, slope, 0.5),)


def _safe_input(x: Tensor):
    """torch's i1/i1e_backward guard: (x, x with eps where |x| <= eps, |x| > eps)."""
    eps = float(np.finfo(x.data.dtype).eps)
    not_tiny = Tensor(np.abs(x.data) > eps)
    return x, _where(not_tiny, x, eps), not_tiny


def _where(condition, a, b):
    from dlpy.ops.mask import where

    return where(condition, a, b)


class Ndtr(_Unary):
    """y = Phi(x);  dx = g * exp(-x^2 / 2) / sqrt(2 pi)."""

    kernel = staticmethod(ndtr_array)

    def forward(self, x):
        if x.dtype.itemsize != 2 or x.dtype.kind in "iu":
            return super().forward(x)
        # float16 / bfloat16: torch's kernel 0.5 (1 + erf(x sqrt(1/2))), each step rounded to
        # the half type (its ndtr(-3) in float16 is 0.001465, not 0.00135)
        half = x.dtype.type
        e = _erf(x * half(math.sqrt(0.5))).astype(x.dtype)
        self.x = x
        self.y = half(0.5) * (half(1) + e)
        return self.y

    def backward(self, grad_output):
        return (grad_output * np.exp(-0.5 * self.x * self.x) / _SQRT_2PI,)

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        return (grad_output * (-0.5 * x * x).exp() / _SQRT_2PI,)


class Ndtri(_Unary):
    """y = Phi^-1(x);  dx = g * sqrt(2 pi) exp(y^2 / 2)."""

    kernel = staticmethod(ndtri_array)

    def backward(self, grad_output):
        with np.errstate(invalid="ignore", over="ignore"):  # (inf at 0 and 1, as torch)
            return (grad_output * _SQRT_2PI * np.exp(0.5 * self.y * self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output * _SQRT_2PI * (output.square() / 2).exp(),)


class LogNdtr(_Unary):
    """y = log Phi(x);  dx = g * exp(-(y + x^2 / 2)) / sqrt(2 pi)."""

    kernel = staticmethod(log_ndtr_array)

    def backward(self, grad_output):
        return (grad_output / _SQRT_2PI * np.exp(-(self.y + 0.5 * self.x * self.x)),)

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        return (grad_output / _SQRT_2PI * (-(output + x ** 2 / 2)).exp(),)


@follows_inputs
class Entr(Op):
    """y = -x log x (0 at 0, -inf below);  dx = -g * (1 + log x)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(x > 0, -x * np.log(np.where(x > 0, x, 1)),
                           np.where(x == 0, 0.0, -np.inf))
        return np.where(np.isnan(x), x, out).astype(_result_dtype(x), copy=False)

    def backward(self, grad_output):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (-grad_output * (1 + np.log(self.x)),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (-(1 + self.inputs[0].log())),)


@follows_inputs
@follows_inputs(numpy_order=False)  # (a broadcast row-major x need not give torch's order)
class Xlog1py(Op):
    """z = x * log1p(y), 0 where x == 0 unless y is nan (torch.special.xlog1py);
    dx = xlog1py(g, y), 0 where x == 0 and y <= -1;  dy = g * x / (1 + y)."""

    saves = (0, 1)  # read by backward (in-place checks, Op.saves)

    def forward(self, x, y):
        self.x, self.y = x, y
        dtype = _result_dtype(x, y)
        if dtype.itemsize == 2:  # float16 / bfloat16: in float32, as torch's opmath
            x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((x == 0) & ~np.isnan(y), 0.0, x * np.log1p(y)).astype(
                dtype, copy=False)

    def backward(self, grad_output):
        x, y = self.x, self.y
        x_grad = y_grad = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.inputs[0].requires_grad:
                x_grad = np.where((grad_output == 0) & ~np.isnan(y), 0.0,
                                  grad_output * np.log1p(y))
                x_grad = np.where((x == 0) & (y <= -1), 0.0, x_grad)
            if self.inputs[1].requires_grad:
                y_grad = grad_output * x / (1 + y)
        return x_grad, y_grad

    def backward_graph(self, grad_output, output):
        # torch's: dx = xlog1py(g, y) with 0 where x == 0 and y <= -1, dy = g x / (y + 1)
        x, y = self.inputs
        x_grad = y_grad = None
        if x.requires_grad:
            x_grad = xlog1py(grad_output, y).masked_fill(
                Tensor((x.data == 0) & (y.data <= -1)), 0.0)
        if y.requires_grad:
            y_grad = grad_output * x / (y + 1)
        return x_grad, y_grad


@follows_inputs(numpy_order=False)
class Gammaincc(Op):
    """z = Q(a, x) = 1 - P(a, x);  dx = -g * x^(a-1) e^-x / Gamma(a). The gradient of a is not
    implemented (as PyTorch)."""

    forward_ad_unsupported = "igammac"  # (torch's name in its refusal)

    def forward(self, a, x):
        self.a, self.x = a, x
        return gammaincc_array(a, x).astype(_result_dtype(a, x), copy=False)

    def backward(self, grad_output):
        if self.inputs[0].requires_grad:
            raise NotImplementedError("gammaincc: the gradient with respect to the first "
                                      "argument (a) is not implemented (nor in PyTorch)")
        a, x = np.broadcast_arrays(np.asarray(self.a, np.float64), np.asarray(self.x, np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            density = np.exp((a - 1) * np.log(x) - x - lgamma_array(a))
            return None, -grad_output * density

    def backward_graph(self, grad_output, output):
        from dlpy.ops.special import lgamma

        a, x = self.inputs
        if a.requires_grad:
            raise NotImplementedError("gammaincc: the gradient with respect to the first "
                                      "argument (a) is not implemented (nor in PyTorch)")
        return None, -grad_output * ((a - 1) * x.log() - x - lgamma(a)).exp()


@follows_inputs(numpy_order=False)
class Zeta(Op):
    """z = zeta(x, q), the Hurwitz zeta function;  dq = -g * x * zeta(x + 1, q). The gradient
    of x is not implemented (as PyTorch): backward raises."""

    forward_ad_unsupported = "special_zeta"  # (torch's name in its refusal)

    def forward(self, x, q):
        self.x, self.q = x, q
        return zeta_array(x, q).astype(_result_dtype(x, q), copy=False)

    def backward(self, grad_output):
        if self.inputs[0].requires_grad:
            raise NotImplementedError("zeta: the derivative with respect to the first argument "
                                      "(x) is not implemented (nor in PyTorch)")
        x = np.asarray(self.x, np.float64)
        return None, -grad_output * x * zeta_array(x + 1, self.q)

    def backward_graph(self, grad_output, output):
        x, q = self.inputs
        if x.requires_grad:
            raise NotImplementedError("zeta: the derivative with respect to the first argument "
                                      "(x) is not implemented (nor in PyTorch)")
        return None, grad_output * -x * zeta(x + 1.0, q)


# ------------------------------------------------------------------------------ public functions

def erfcx(x: Tensor) -> Tensor:
    """torch.special.erfcx: the scaled complementary error function exp(x^2) erfc(x)."""
    _refuse_dtype("erfcx", x)
    return Erfcx()(x)


def i0e(x: Tensor) -> Tensor:
    """torch.special.i0e: exp(-|x|) I0(x)."""
    return I0e()(x)


def i1(x: Tensor) -> Tensor:
    """torch.special.i1: the modified Bessel function of the first kind of order 1."""
    return I1()(x)


def i1e(x: Tensor) -> Tensor:
    """torch.special.i1e: exp(-|x|) I1(x)."""
    return I1e()(x)


def ndtr(x: Tensor) -> Tensor:
    """torch.special.ndtr: the standard normal CDF Phi(x)."""
    return Ndtr()(x)


def ndtri(x: Tensor) -> Tensor:
    """torch.special.ndtri: the standard normal quantile Phi^-1(x) (+-inf at 1 and 0, nan
    outside [0, 1])."""
    _refuse_dtype("ndtri", x)
    return Ndtri()(x)


def log_ndtr(x: Tensor) -> Tensor:
    """torch.special.log_ndtr: log Phi(x), accurate far in the lower tail."""
    _refuse_dtype("log_ndtr", x)
    return LogNdtr()(x)


def entr(x: Tensor) -> Tensor:
    """torch.special.entr: -x log x elementwise (0 at 0, -inf for x < 0)."""
    return Entr()(floating(x))


def xlog1py(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.special.xlog1py: x * log1p(y), 0 where x == 0 (unless y is nan); broadcast."""
    x, y = input, other
    tensor_operand("xlog1py", x, y)
    _check_broadcast("xlog1py", x, y)
    x, y = promote_floating(x, y)  # integers give the default float, as torch's
    return rename_scalar_overload(Xlog1py()(x, y), "SpecialXlog1Py", input, other)


def gammaincc(a, x) -> Tensor:
    """torch.special.gammaincc: the regularized upper incomplete gamma function
    Q(a, x) = 1 - P(a, x); broadcast. Differentiable in x only."""
    return Gammaincc()(*gammainc_operands("gammaincc", a, x))


def zeta(x, q) -> Tensor:
    """torch.special.zeta: the Hurwitz zeta function sum_k (k + q)^-x; broadcast (integers
    give the default float dtype); differentiable in q only."""
    _check_broadcast("zeta", x, q)
    _refuse_dtype("zeta", x, q)
    return rename_scalar_overload(Zeta()(*promote_floating(x, q)), "SpecialZeta", x, q)


def _constant(name: str, kernel, *inputs) -> Tensor:
    """A function PyTorch does not differentiate: its result never requires grad."""
    if len(inputs) == 2:
        _check_broadcast(name, *inputs)
    _refuse_dtype(name, *inputs)
    arrays = [_data(v) for v in inputs]
    # (the kernel flattens: laid out again as torch's TensorIterator lays a transposed input's)
    out = kernel(*arrays).astype(_result_dtype(*arrays), copy=False)
    return Tensor(laid_as_inputs(out, *arrays))


def bessel_j0(x) -> Tensor:
    """torch.special.bessel_j0: J0(x). Not differentiable (as in PyTorch)."""
    return _constant("bessel_j0", j0_array, x)


def bessel_j1(x) -> Tensor:
    """torch.special.bessel_j1: J1(x). Not differentiable (as in PyTorch)."""
    return _constant("bessel_j1", j1_array, x)


def bessel_y0(x) -> Tensor:
    """torch.special.bessel_y0: Y0(x) (nan for x < 0). Not differentiable (as in PyTorch)."""
    return _constant("bessel_y0", y0_array, x)


def bessel_y1(x) -> Tensor:
    """torch.special.bessel_y1: Y1(x) (nan for x < 0). Not differentiable (as in PyTorch)."""
    return _constant("bessel_y1", y1_array, x)


def modified_bessel_i0(x) -> Tensor:
    """torch.special.modified_bessel_i0: I0(x). Not differentiable (as in PyTorch)."""
    return _constant("modified_bessel_i0", i0_torch, x)


def modified_bessel_i1(x) -> Tensor:
    """torch.special.modified_bessel_i1: I1(x). Not differentiable (as in PyTorch)."""
    return _constant("modified_bessel_i1", i1_torch, x)


def modified_bessel_k0(x) -> Tensor:
    """torch.special.modified_bessel_k0: K0(x). Not differentiable (as in PyTorch)."""
    return _constant("modified_bessel_k0", k0_array, x)


def modified_bessel_k1(x) -> Tensor:
    """torch.special.modified_bessel_k1: K1(x). Not differentiable (as in PyTorch)."""
    return _constant("modified_bessel_k1", k1_array, x)


def scaled_modified_bessel_k0(x) -> Tensor:
    """torch.special.scaled_modified_bessel_k0: exp(x) K0(x). Not differentiable."""
    return _constant("scaled_modified_bessel_k0", k0e_array, x)


def scaled_modified_bessel_k1(x) -> Tensor:
    """torch.special.scaled_modified_bessel_k1: exp(x) K1(x). Not differentiable."""
    return _constant("scaled_modified_bessel_k1", k1e_array, x)


def spherical_bessel_j0(x) -> Tensor:
    """torch.special.spherical_bessel_j0: sin(x) / x. Not differentiable (as in PyTorch)."""
    return _constant("spherical_bessel_j0", spherical_j0_array, x)


def airy_ai(x) -> Tensor:
    """torch.special.airy_ai: Ai(x). Not differentiable (as in PyTorch)."""
    return _constant("airy_ai", airy_ai_array, x)


# --------------------------------------------------------------------- orthogonal polynomials

def _degrees(name: str, n) -> np.ndarray:
    """n as int64, as torch casts it (nan and inf: -1, giving 0)."""
    n = np.asarray(_data(n))
    if n.dtype.kind == "f":
        n = np.where(np.isfinite(n), n, -1)
    if n.dtype.kind not in "biuf":
        raise NoKernelError(f"{name}: n must be an integer or real tensor or number, got {n.dtype}")
    return n.astype(np.int64)


def _three_term(n, first, second, step):
    """P_n from P_0 = first, P_1 = second and P_k = step(k, P_{k-2}, P_{k-1}), elementwise."""
    out = np.where(n == 0, first, second)
    p, q = first, second
    for k in range(2, int(n.max(initial=1)) + 1):
        p, q = q, step(k, p, q)
        out = np.where(n == k, q, out)
    return out


def _chebyshev(kind: str, x, n, threshold: int):
    """T, U, V or W at t = x in [-1, 1]: the recurrence, or its trigonometric form where
    PyTorch's kernel takes it (n > threshold, |t| < 1), and its values at the end points."""
    first = np.ones_like(x)
    second = {"t": x, "u": x + x, "v": x + x - 1, "w": x + x + 1}[kind]
    out = _three_term(n, first, second, lambda k, p, q: (x + x) * q - p)
    theta = np.arccos(np.clip(x, -1, 1))
    odd = n % 2 == 1
    if kind == "t":
        trig = np.cos(n * theta)
        ends = np.where((x > 0) | ~odd, 1.0, -1.0)
    elif kind == "u":
        trig = np.where(np.sin(theta) != 0, np.sin((n + 1) * theta) / np.sin(theta),
                        (n + 1) * np.cos((n + 1) * theta) / x)
        ends = np.where((x > 0) | ~odd, n + 1.0, -(n + 1.0))
    elif kind == "v":
        ends = np.where(x > 0, 1.0, np.where(odd, -(2 * n + 1.0), 2 * n + 1.0))
        trig = np.where(np.sin(theta / 2) != 1, np.cos((n + 0.5) * theta) / np.cos(theta / 2),
                        np.where(odd, -(2 * n + 1.0), 2 * n + 1.0))
    else:
        ends = np.where(x > 0, 2 * n + 1.0, np.where(odd, -1.0, 1.0))
        trig = np.where(np.cos(theta / 2) != 1, np.sin((n + 0.5) * theta) / np.sin(theta / 2),
                        ends)
    out = np.where((n > threshold) & (np.abs(x) < 1), trig, out)
    out = np.where(np.abs(x) == 1, ends, out)
    return np.where(n < 0, 0.0, out)


def _polynomial(name: str, kernel, x, n) -> Tensor:
    _check_broadcast(name, x, n)
    degrees = _degrees(name, n)
    _refuse_dtype(name, x, n)
    x_data = _data(x)
    dtype = result_type(x, n)  # torch's promotion of x with n (x = 0.5, n int64: float32)
    dtype = dtype if dtype.kind == "f" else np.dtype(default_dtype())
    x64, degrees = np.broadcast_arrays(np.asarray(x_data, np.float64), degrees)
    with np.errstate(all="ignore"):
        out = kernel(x64, degrees).astype(dtype, copy=False)
    # (in row-major order from the recurrence: laid out as torch's TensorIterator over x, n)
    return Tensor(laid_as_inputs(out, x_data, _data(n)))


def chebyshev_polynomial_t(x, n) -> Tensor:
    """torch.special.chebyshev_polynomial_t: T_n(x) (n broadcast, cast to int). Not
    differentiable (as in PyTorch)."""
    return _polynomial("chebyshev_polynomial_t", lambda x, n: _chebyshev("t", x, n, 6), x, n)


def chebyshev_polynomial_u(x, n) -> Tensor:
    """torch.special.chebyshev_polynomial_u: U_n(x). Not differentiable."""
    return _polynomial("chebyshev_polynomial_u", lambda x, n: _chebyshev("u", x, n, 8), x, n)


def chebyshev_polynomial_v(x, n) -> Tensor:
    """torch.special.chebyshev_polynomial_v: V_n(x). Not differentiable."""
    return _polynomial("chebyshev_polynomial_v", lambda x, n: _chebyshev("v", x, n, 8), x, n)


def chebyshev_polynomial_w(x, n) -> Tensor:
    """torch.special.chebyshev_polynomial_w: W_n(x). Not differentiable."""
    return _polynomial("chebyshev_polynomial_w", lambda x, n: _chebyshev("w", x, n, 8), x, n)


def _shifted(kind: str, threshold: int):
    # T*_n(x) = T_n(2x - 1); PyTorch's kernel tests the end points on x (0 and 1) itself
    return lambda x, n: _chebyshev(kind, x + x - 1, n, threshold)


def shifted_chebyshev_polynomial_t(x, n) -> Tensor:
    """torch.special.shifted_chebyshev_polynomial_t: T_n(2x - 1). Not differentiable."""
    return _polynomial("shifted_chebyshev_polynomial_t", _shifted("t", 6), x, n)


def shifted_chebyshev_polynomial_u(x, n) -> Tensor:
    """torch.special.shifted_chebyshev_polynomial_u: U_n(2x - 1). Not differentiable."""
    return _polynomial("shifted_chebyshev_polynomial_u", _shifted("u", 6), x, n)


def shifted_chebyshev_polynomial_v(x, n) -> Tensor:
    """torch.special.shifted_chebyshev_polynomial_v: V_n(2x - 1). Not differentiable."""
    return _polynomial("shifted_chebyshev_polynomial_v", _shifted("v", 6), x, n)


def shifted_chebyshev_polynomial_w(x, n) -> Tensor:
    """torch.special.shifted_chebyshev_polynomial_w: W_n(2x - 1). Not differentiable."""
    return _polynomial("shifted_chebyshev_polynomial_w", _shifted("w", 4), x, n)


def _hermite_h(x, n):
    out = _three_term(np.minimum(n, 512), np.ones_like(x), x + x,
                      lambda k, p, q: (x + x) * q - 2 * (k - 1) * p)
    return np.where(n < 0, 0.0, np.where(n > 512, np.nan, out))


def _hermite_he(x, n):
    out = _three_term(np.minimum(n, 512), np.ones_like(x), x,
                      lambda k, p, q: x * q - (k - 1) * p)
    return np.where(n < 0, 0.0, np.where(n > 512, np.nan, out))


def _laguerre(x, n):
    out = _three_term(n, np.ones_like(x), 1 - x,
                      lambda k, p, q: ((2 * (k - 1) + (1 - x)) * q - (k - 1) * p) / k)
    return np.where(n < 0, 0.0, np.where(x == 0, 1.0, out))


def _legendre(x, n):
    out = _three_term(n, np.ones_like(x), x,
                      lambda k, p, q: ((2 * k - 1) * x * q - (k - 1) * p) / k)
    ends = np.where((x > 0) | (n % 2 == 0), 1.0, -1.0)
    return np.where(n < 0, 0.0, np.where(np.abs(x) == 1, ends, out))


def hermite_polynomial_h(x, n) -> Tensor:
    """torch.special.hermite_polynomial_h: the physicists' H_n(x) (nan beyond n = 512, as
    PyTorch in float64). Not differentiable."""
    return _polynomial("hermite_polynomial_h", _hermite_h, x, n)


def hermite_polynomial_he(x, n) -> Tensor:
    """torch.special.hermite_polynomial_he: the probabilists' He_n(x). Not differentiable."""
    return _polynomial("hermite_polynomial_he", _hermite_he, x, n)


def laguerre_polynomial_l(x, n) -> Tensor:
    """torch.special.laguerre_polynomial_l: L_n(x). Not differentiable."""
    return _polynomial("laguerre_polynomial_l", _laguerre, x, n)


def legendre_polynomial_p(x, n) -> Tensor:
    """torch.special.legendre_polynomial_p: P_n(x). Not differentiable."""
    return _polynomial("legendre_polynomial_p", _legendre, x, n)


# ------------------------------------- coefficients, copied from PyTorch's ATen/native/Math.h

_NDTRI_P0 = (-5.99633501014107895267E1, 9.80010754185999661536E1, -5.66762857469070293439E1,
    1.39312609387279679503E1, -1.23916583867381258016E0)
_NDTRI_Q0 = (1.00000000000000000000E0, 1.95448858338141759834E0, 4.67627912898881538453E0,
    8.63602421390890590575E1, -2.25462687854119370527E2, 2.00260212380060660359E2,
    -8.20372256168333339912E1, 1.59056225126211695515E1, -1.18331621121330003142E0)
_NDTRI_P1 = (4.05544892305962419923E0, 3.15251094599893866154E1, 5.71628192246421288162E1,
    4.40805073893200834700E1, 1.46849561928858024014E1, 2.18663306850790267539E0,
    -1.40256079171354495875E-1, -3.50424626827848203418E-2, -8.57456785154685413611E-4)
_NDTRI_Q1 = (1.00000000000000000000E0, 1.57799883256466749731E1, 4.53907635128879210584E1,
    4.13172038254672030440E1, 1.50425385692907503408E1, 2.50464946208309415979E0,
    -1.42182922854787788574E-1, -3.80806407691578277194E-2, -9.33259480895457427372E-4)
_NDTRI_P2 = (3.23774891776946035970E0, 6.91522889068984211695E0, 3.93881025292474443415E0,
    1.33303460815807542389E0, 2.01485389549179081538E-1, 1.23716634817820021358E-2,
    3.01581553508235416007E-4, 2.65806974686737550832E-6, 6.23974539184983293730E-9)
_NDTRI_Q2 = (1.00000000000000000000E0, 6.02427039364742014255E0, 3.67983563856160859403E0,
    1.37702099489081330271E0, 2.16236993594496635890E-1, 1.34204006088543189037E-2,
    3.28014464682127739104E-4, 2.89247864745380683936E-6, 6.79019408009981274425E-9)
_AIRY_AN = (3.46538101525629032477e-01, 1.20075952739645805542e+01,
    7.62796053615234516538e+01, 1.68089224934630576269e+02, 1.59756391350164413639e+02,
    7.05360906840444183113e+01, 1.40264691163389668864e+01, 9.99999999999999995305e-01)
_AIRY_AD = (5.67594532638770212846e-01, 1.47562562584847203173e+01,
    8.45138970141474626562e+01, 1.77318088145400459522e+02, 1.64234692871529701831e+02,
    7.14778400825575695274e+01, 1.40959135607834029598e+01, 1.00000000000000000470e+00)
_AIRY_AFN = (-1.31696323418331795333e-01, -6.26456544431912369773e-01,
    -6.93158036036933542233e-01, -2.79779981545119124951e-01, -4.91900132609500318020e-02,
    -4.06265923594885404393e-03, -1.59276496239262096340e-04, -2.77649108155232920844e-06,
    -1.67787698489114633780e-08)
_AIRY_AFD = (1.33560420706553243746e+01, 3.26825032795224613948e+01,
    2.67367040941499554804e+01, 9.18707402907259625840e+00, 1.47529146771666414581e+00,
    1.15687173795188044134e-01, 4.40291641615211203805e-03, 7.54720348287414296618e-05,
    4.51850092970580378464e-07)
_AIRY_AGN = (1.97339932091685679179e-02, 3.91103029615688277255e-01,
    1.06579897599595591108e+00, 9.39169229816650230044e-01, 3.51465656105547619242e-01,
    6.33888919628925490927e-02, 5.85804113048388458567e-03, 2.82851600836737019778e-04,
    6.98793669997260967291e-06, 8.11789239554389293311e-08, 3.41551784765923618484e-10)
_AIRY_AGD = (9.30892908077441974853e+00, 1.98352928718312140417e+01,
    1.55646628932864612953e+01, 5.47686069422975497931e+00, 9.54293611618961883998e-01,
    8.64580826352392193095e-02, 4.12656523824222607191e-03, 1.01259085116509135510e-04,
    1.17166733214413521882e-06, 4.91834570062930015649e-09)
_J0_PP = (7.96936729297347051624e-04, 8.28352392107440799803e-02, 1.23953371646414299388e+00,
    5.44725003058768775090e+00, 8.74716500199817011941e+00, 5.30324038235394892183e+00,
    9.99999999999999997821e-01)
_J0_PQ = (9.24408810558863637013e-04, 8.56288474354474431428e-02, 1.25352743901058953537e+00,
    5.47097740330417105182e+00, 8.76190883237069594232e+00, 5.30605288235394617618e+00,
    1.00000000000000000218e+00)
_J0_QP = (-1.13663838898469149931e-02, -1.28252718670509318512e+00, -1.95539544257735972385e+01,
    -9.32060152123768231369e+01, -1.77681167980488050595e+02, -1.47077505154951170175e+02,
    -5.14105326766599330220e+01, -6.05014350600728481186e+00)
_J0_QQ = (6.43178256118178023184e+01, 8.56430025976980587198e+02, 3.88240183605401609683e+03,
    7.24046774195652478189e+03, 5.93072701187316984827e+03, 2.06209331660327847417e+03,
    2.42005740240291393179e+02)
_J0_RP = (-4.79443220978201773821e+09, 1.95617491946556577543e+12, -2.49248344360967716204e+14,
    9.70862251047306323952e+15)
_J0_RQ = (4.99563147152651017219e+02, 1.73785401676374683123e+05, 4.84409658339962045305e+07,
    1.11855537045356834862e+10, 2.11277520115489217587e+12, 3.10518229857422583814e+14,
    3.18121955943204943306e+16, 1.71086294081043136091e+18)
_J1_PP = (7.62125616208173112003e-04, 7.31397056940917570436e-02, 1.12719608129684925192e+00,
    5.11207951146807644818e+00, 8.42404590141772420927e+00, 5.21451598682361504063e+00,
    1.00000000000000000254e+00)
_J1_PQ = (5.71323128072548699714e-04, 6.88455908754495404082e-02, 1.10514232634061696926e+00,
    5.07386386128601488557e+00, 8.39985554327604159757e+00, 5.20982848682361821619e+00,
    9.99999999999999997461e-01)
_J1_QP = (5.10862594750176621635e-02, 4.98213872951233449420e+00, 7.58238284132545283818e+01,
    3.66779609360150777800e+02, 7.10856304998926107277e+02, 5.97489612400613639965e+02,
    2.11688757100572135698e+02, 2.52070205858023719784e+01)
_J1_QQ = (7.42373277035675149943e+01, 1.05644886038262816351e+03, 4.98641058337653607651e+03,
    9.56231892404756170795e+03, 7.99704160447350683650e+03, 2.82619278517639096600e+03,
    3.36093607810698293419e+02)
_J1_RP = (-8.99971225705559398224e+08, 4.52228297998194034323e+11, -7.27494245221818276015e+13,
    3.68295732863852883286e+15)
_J1_RQ = (6.20836478118054335476e+02, 2.56987256757748830383e+05, 8.35146791431949253037e+07,
    2.21511595479792499675e+10, 4.74914122079991414898e+12, 7.84369607876235854894e+14,
    8.95222336184627338078e+16, 5.32278620332680085395e+18)
_Y0_YP = (1.55924367855235737965e+04, -1.46639295903971606143e+07, 5.43526477051876500413e+09,
    -9.82136065717911466409e+11, 8.75906394395366999549e+13, -3.46628303384729719441e+15,
    4.42733268572569800351e+16, -1.84950800436986690637e+16)
_Y0_YQ = (1.04128353664259848412e+03, 6.26107330137134956842e+05, 2.68919633393814121987e+08,
    8.64002487103935000337e+10, 2.02979612750105546709e+13, 3.17157752842975028269e+15,
    2.50596256172653059228e+17)
_Y1_YP = (1.26320474790178026440e+09, -6.47355876379160291031e+11, 1.14509511541823727583e+14,
    -8.12770255501325109621e+15, 2.02439475713594898196e+17, -7.78877196265950026825e+17)
_Y1_YQ = (5.94301592346128195359e+02, 2.35564092943068577943e+05, 7.34811944459721705660e+07,
    1.87601316108706159478e+10, 3.88231277496238566008e+12, 6.20557727146953693363e+14,
    6.87141087355300489866e+16, 3.97270608116560655612e+18)
_K0_A = (1.37446543561352307156e-16, 4.25981614279661018399e-14, 1.03496952576338420167e-11,
    1.90451637722020886025e-09, 2.53479107902614945675e-07, 2.28621210311945178607e-05,
    1.26461541144692592338e-03, 3.59799365153615016266e-02, 3.44289899924628486886e-01,
    -5.35327393233902768720e-01)
_K0_B = (5.30043377268626276149e-18, -1.64758043015242134646e-17, 5.21039150503902756861e-17,
    -1.67823109680541210385e-16, 5.51205597852431940784e-16, -1.84859337734377901440e-15,
    6.34007647740507060557e-15, -2.22751332699166985548e-14, 8.03289077536357521100e-14,
    -2.98009692317273043925e-13, 1.14034058820847496303e-12, -4.51459788337394416547e-12,
    1.85594911495471785253e-11, -7.95748924447710747776e-11, 3.57739728140030116597e-10,
    -1.69753450938905987466e-09, 8.57403401741422608519e-09, -4.66048989768794782956e-08,
    2.76681363944501510342e-07, -1.83175552271911948767e-06, 1.39498137188764993662e-05,
    -1.28495495816278026384e-04, 1.56988388573005337491e-03, -3.14481013119645005427e-02,
    2.44030308206595545468e+00)
_K1_A = (-7.02386347938628759343e-18, -2.42744985051936593393e-15, -6.66690169419932900609e-13,
    -1.41148839263352776110e-10, -2.21338763073472585583e-08, -2.43340614156596823496e-06,
    -1.73028895751305206302e-04, -6.97572385963986435018e-03, -1.22611180822657148235e-01,
    -3.53155960776544875667e-01, 1.52530022733894777053e+00)
_K1_B = (-5.75674448366501715755e-18, 1.79405087314755922667e-17, -5.68946255844285935196e-17,
    1.83809354436663880070e-16, -6.05704724837331885336e-16, 2.03870316562433424052e-15,
    -7.01983709041831346144e-15, 2.47715442448130437068e-14, -8.97670518232499435011e-14,
    3.34841966607842919884e-13, -1.28917396095102890680e-12, 5.13963967348173025100e-12,
    -2.12996783842756842877e-11, 9.21831518760500529508e-11, -4.19035475934189648750e-10,
    2.01504975519703286596e-09, -1.03457624656780970260e-08, 5.74108412545004946722e-08,
    -3.50196060308781257119e-07, 2.40648494783721712015e-06, -1.93619797416608296024e-05,
    1.95215518471351631108e-04, -2.85781685962277938680e-03, 1.03923736576817238437e-01,
    2.72062619048444266945e+00)
_I0E_A = (-4.41534164647933937950E-18, 3.33079451882223809783E-17, -2.43127984654795469359E-16,
    1.71539128555513303061E-15, -1.16853328779934516808E-14, 7.67618549860493561688E-14,
    -4.85644678311192946090E-13, 2.95505266312963983461E-12, -1.72682629144155570723E-11,
    9.67580903537323691224E-11, -5.18979560163526290666E-10, 2.65982372468238665035E-9,
    -1.30002500998624804212E-8, 6.04699502254191894932E-8, -2.67079385394061173391E-7,
    1.11738753912010371815E-6, -4.41673835845875056359E-6, 1.64484480707288970893E-5,
    -5.75419501008210370398E-5, 1.88502885095841655729E-4, -5.76375574538582365885E-4,
    1.63947561694133579842E-3, -4.32430999505057594430E-3, 1.05464603945949983183E-2,
    -2.37374148058994688156E-2, 4.93052842396707084878E-2, -9.49010970480476444210E-2,
    1.71620901522208775349E-1, -3.04682672343198398683E-1, 6.76795274409476084995E-1)
_I0E_B = (-7.23318048787475395456E-18, -4.83050448594418207126E-18, 4.46562142029675999901E-17,
    3.46122286769746109310E-17, -2.82762398051658348494E-16, -3.42548561967721913462E-16,
    1.77256013305652638360E-15, 3.81168066935262242075E-15, -9.55484669882830764870E-15,
    -4.15056934728722208663E-14, 1.54008621752140982691E-14, 3.85277838274214270114E-13,
    7.18012445138366623367E-13, -1.79417853150680611778E-12, -1.32158118404477131188E-11,
    -3.14991652796324136454E-11, 1.18891471078464383424E-11, 4.94060238822496958910E-10,
    3.39623202570838634515E-9, 2.26666899049817806459E-8, 2.04891858946906374183E-7,
    2.89137052083475648297E-6, 6.88975834691682398426E-5, 3.36911647825569408990E-3,
    8.04490411014108831608E-1)
_I1E_A = (2.77791411276104639959E-18, -2.11142121435816608115E-17, 1.55363195773620046921E-16,
    -1.10559694773538630805E-15, 7.60068429473540693410E-15, -5.04218550472791168711E-14,
    3.22379336594557470981E-13, -1.98397439776494371520E-12, 1.17361862988909016308E-11,
    -6.66348972350202774223E-11, 3.62559028155211703701E-10, -1.88724975172282928790E-9,
    9.38153738649577178388E-9, -4.44505912879632808065E-8, 2.00329475355213526229E-7,
    -8.56872026469545474066E-7, 3.47025130813767847674E-6, -1.32731636560394358279E-5,
    4.78156510755005422638E-5, -1.61760815825896745588E-4, 5.12285956168575772895E-4,
    -1.51357245063125314899E-3, 4.15642294431288815669E-3, -1.05640848946261981558E-2,
    2.47264490306265168283E-2, -5.29459812080949914269E-2, 1.02643658689847095384E-1,
    -1.76416518357834055153E-1, 2.52587186443633654823E-1)
_I1E_B = (7.51729631084210481353E-18, 4.41434832307170791151E-18, -4.65030536848935832153E-17,
    -3.20952592199342395980E-17, 2.96262899764595013876E-16, 3.30820231092092828324E-16,
    -1.88035477551078244854E-15, -3.81440307243700780478E-15, 1.04202769841288027642E-14,
    4.27244001671195135429E-14, -2.10154184277266431302E-14, -4.08355111109219731823E-13,
    -7.19855177624590851209E-13, 2.03562854414708950722E-12, 1.41258074366137813316E-11,
    3.25260358301548823856E-11, -1.89749581235054123450E-11, -5.58974346219658380687E-10,
    -3.83538038596423702205E-9, -2.63146884688951950684E-8, -2.51223623787020892529E-7,
    -3.88256480887769039346E-6, -1.10588938762623716291E-4, -9.76109749136146840777E-3,
    7.78576235018280120474E-1)
_ERFCX = (
    (0.70878032454106438663e-3, 0.71234091047026302958e-3, 0.35779077297597742384e-5,
     0.17403143962587937815e-7, 0.81710660047307788845e-10, 0.36885022360434957634e-12,
     0.15917038551111111111e-14),
    (0.21479143208285144230e-2, 0.72686402367379996033e-3, 0.36843175430938995552e-5,
     0.18071841272149201685e-7, 0.85496449296040325555e-10, 0.38852037518534291510e-12,
     0.16868473576888888889e-14),
    (0.36165255935630175090e-2, 0.74182092323555510862e-3, 0.37948319957528242260e-5,
     0.18771627021793087350e-7, 0.89484715122415089123e-10, 0.40935858517772440862e-12,
     0.17872061464888888889e-14),
    (0.51154983860031979264e-2, 0.75722840734791660540e-3, 0.39096425726735703941e-5,
     0.19504168704300468210e-7, 0.93687503063178993915e-10, 0.43143925959079664747e-12,
     0.18939926435555555556e-14),
    (0.66457513172673049824e-2, 0.77310406054447454920e-3, 0.40289510589399439385e-5,
     0.20271233238288381092e-7, 0.98117631321709100264e-10, 0.45484207406017752971e-12,
     0.20076352213333333333e-14),
    (0.82082389970241207883e-2, 0.78946629611881710721e-3, 0.41529701552622656574e-5,
     0.21074693344544655714e-7, 0.10278874108587317989e-9, 0.47965201390613339638e-12,
     0.21285907413333333333e-14),
    (0.98039537275352193165e-2, 0.80633440108342840956e-3, 0.42819241329736982942e-5,
     0.21916534346907168612e-7, 0.10771535136565470914e-9, 0.50595972623692822410e-12,
     0.22573462684444444444e-14),
    (0.11433927298290302370e-1, 0.82372858383196561209e-3, 0.44160495311765438816e-5,
     0.22798861426211986056e-7, 0.11291291745879239736e-9, 0.53386189365816880454e-12,
     0.23944209546666666667e-14),
    (0.13099232878814653979e-1, 0.84167002467906968214e-3, 0.45555958988457506002e-5,
     0.23723907357214175198e-7, 0.11839789326602695603e-9, 0.56346163067550237877e-12,
     0.25403679644444444444e-14),
    (0.14800987015587535621e-1, 0.86018092946345943214e-3, 0.47008265848816866105e-5,
     0.24694040760197315333e-7, 0.12418779768752299093e-9, 0.59486890370320261949e-12,
     0.26957764568888888889e-14),
    (0.16540351739394069380e-1, 0.87928458641241463952e-3, 0.48520195793001753903e-5,
     0.25711774900881709176e-7, 0.13030128534230822419e-9, 0.62820097586874779402e-12,
     0.28612737351111111111e-14),
    (0.18318536789842392647e-1, 0.89900542647891721692e-3, 0.50094684089553365810e-5,
     0.26779777074218070482e-7, 0.13675822186304615566e-9, 0.66358287745352705725e-12,
     0.30375273884444444444e-14),
    (0.20136801964214276775e-1, 0.91936908737673676012e-3, 0.51734830914104276820e-5,
     0.27900878609710432673e-7, 0.14357976402809042257e-9, 0.70114790311043728387e-12,
     0.32252476000000000000e-14),
    (0.21996459598282740954e-1, 0.94040248155366777784e-3, 0.53443911508041164739e-5,
     0.29078085538049374673e-7, 0.15078844500329731137e-9, 0.74103813647499204269e-12,
     0.34251892320000000000e-14),
    (0.23898877187226319502e-1, 0.96213386835900177540e-3, 0.55225386998049012752e-5,
     0.30314589961047687059e-7, 0.15840826497296335264e-9, 0.78340500472414454395e-12,
     0.36381553564444444445e-14),
    (0.25845480155298518485e-1, 0.98459293067820123389e-3, 0.57082915920051843672e-5,
     0.31613782169164830118e-7, 0.16646478745529630813e-9, 0.82840985928785407942e-12,
     0.38649975768888888890e-14),
    (0.27837754783474696598e-1, 0.10078108563256892757e-2, 0.59020366493792212221e-5,
     0.32979263553246520417e-7, 0.17498524159268458073e-9, 0.87622459124842525110e-12,
     0.41066206488888888890e-14),
    (0.29877251304899307550e-1, 0.10318204245057349310e-2, 0.61041829697162055093e-5,
     0.34414860359542720579e-7, 0.18399863072934089607e-9, 0.92703227366365046533e-12,
     0.43639844053333333334e-14),
    (0.31965587178596443475e-1, 0.10566560976716574401e-2, 0.63151633192414586770e-5,
     0.35924638339521924242e-7, 0.19353584758781174038e-9, 0.98102783859889264382e-12,
     0.46381060817777777779e-14),
    (0.34104450552588334840e-1, 0.10823541191350532574e-2, 0.65354356159553934436e-5,
     0.37512918348533521149e-7, 0.20362979635817883229e-9, 0.10384187833037282363e-11,
     0.49300625262222222221e-14),
    (0.36295603928292425716e-1, 0.11089526167995268200e-2, 0.67654845095518363577e-5,
     0.39184292949913591646e-7, 0.21431552202133775150e-9, 0.10994259106646731797e-11,
     0.52409949102222222221e-14),
    (0.38540888038840509795e-1, 0.11364917134175420009e-2, 0.70058230641246312003e-5,
     0.40943644083718586939e-7, 0.22563034723692881631e-9, 0.11642841011361992885e-11,
     0.55721092871111111110e-14),
    (0.40842225954785960651e-1, 0.11650136437945673891e-2, 0.72569945502343006619e-5,
     0.42796161861855042273e-7, 0.23761401711005024162e-9, 0.12332431172381557035e-11,
     0.59246802364444444445e-14),
    (0.43201627431540222422e-1, 0.11945628793917272199e-2, 0.75195743532849206263e-5,
     0.44747364553960993492e-7, 0.25030885216472953674e-9, 0.13065684400300476484e-11,
     0.63000532853333333334e-14),
    (0.45621193513810471438e-1, 0.12251862608067529503e-2, 0.77941720055551920319e-5,
     0.46803119830954460212e-7, 0.26375990983978426273e-9, 0.13845421370977119765e-11,
     0.66996477404444444445e-14),
    (0.48103121413299865517e-1, 0.12569331386432195113e-2, 0.80814333496367673980e-5,
     0.48969667335682018324e-7, 0.27801515481905748484e-9, 0.14674637611609884208e-11,
     0.71249589351111111110e-14),
    (0.50649709676983338501e-1, 0.12898555233099055810e-2, 0.83820428414568799654e-5,
     0.51253642652551838659e-7, 0.29312563849675507232e-9, 0.15556512782814827846e-11,
     0.75775607822222222221e-14),
    (0.53263363664388864181e-1, 0.13240082443256975769e-2, 0.86967260015007658418e-5,
     0.53662102750396795566e-7, 0.30914568786634796807e-9, 0.16494420240828493176e-11,
     0.80591079644444444445e-14),
    (0.55946601353500013794e-1, 0.13594491197408190706e-2, 0.90262520233016380987e-5,
     0.56202552975056695376e-7, 0.32613310410503135996e-9, 0.17491936862246367398e-11,
     0.85713381688888888890e-14),
    (0.58702059496154081813e-1, 0.13962391363223647892e-2, 0.93714365487312784270e-5,
     0.58882975670265286526e-7, 0.34414937110591753387e-9, 0.18552853109751857859e-11,
     0.91160736711111111110e-14),
    (0.61532500145144778048e-1, 0.14344426411912015247e-2, 0.97331446201016809696e-5,
     0.61711860507347175097e-7, 0.36325987418295300221e-9, 0.19681183310134518232e-11,
     0.96952238400000000000e-14),
    (0.64440817576653297993e-1, 0.14741275456383131151e-2, 0.10112293819576437838e-4,
     0.64698236605933246196e-7, 0.38353412915303665586e-9, 0.20881176114385120186e-11,
     0.10310784480000000000e-13),
    (0.67430045633130393282e-1, 0.15153655418916540370e-2, 0.10509857606888328667e-4,
     0.67851706529363332855e-7, 0.40504602194811140006e-9, 0.22157325110542534469e-11,
     0.10964842115555555556e-13),
    (0.70503365513338850709e-1, 0.15582323336495709827e-2, 0.10926868866865231089e-4,
     0.71182482239613507542e-7, 0.42787405890153386710e-9, 0.23514379522274416437e-11,
     0.11659571751111111111e-13),
    (0.73664114037944596353e-1, 0.16028078812438820413e-2, 0.11364423678778207991e-4,
     0.74701423097423182009e-7, 0.45210162777476488324e-9, 0.24957355004088569134e-11,
     0.12397238257777777778e-13),
    (0.76915792420819562379e-1, 0.16491766623447889354e-2, 0.11823685320041302169e-4,
     0.78420075993781544386e-7, 0.47781726956916478925e-9, 0.26491544403815724749e-11,
     0.13180196462222222222e-13),
    (0.80262075578094612819e-1, 0.16974279491709504117e-2, 0.12305888517309891674e-4,
     0.82350717698979042290e-7, 0.50511496109857113929e-9, 0.28122528497626897696e-11,
     0.14010889635555555556e-13),
    (0.83706822008980357446e-1, 0.17476561032212656962e-2, 0.12812343958540763368e-4,
     0.86506399515036435592e-7, 0.53409440823869467453e-9, 0.29856186620887555043e-11,
     0.14891851591111111111e-13),
    (0.87254084284461718231e-1, 0.17999608886001962327e-2, 0.13344443080089492218e-4,
     0.90900994316429008631e-7, 0.56486134972616465316e-9, 0.31698707080033956934e-11,
     0.15825697795555555556e-13),
    (0.90908120182172748487e-1, 0.18544478050657699758e-2, 0.13903663143426120077e-4,
     0.95549246062549906177e-7, 0.59752787125242054315e-9, 0.33656597366099099413e-11,
     0.16815130613333333333e-13),
    (0.94673404508075481121e-1, 0.19112284419887303347e-2, 0.14491572616545004930e-4,
     0.10046682186333613697e-6, 0.63221272959791000515e-9, 0.35736693975589130818e-11,
     0.17862931591111111111e-13),
    (0.98554641648004456555e-1, 0.19704208544725622126e-2, 0.15109836875625443935e-4,
     0.10567036667675984067e-6, 0.66904168640019354565e-9, 0.37946171850824333014e-11,
     0.18971959040000000000e-13),
    (0.10255677889470089531e0, 0.20321499629472857418e-2, 0.15760224242962179564e-4,
     0.11117756071353507391e-6, 0.70814785110097658502e-9, 0.40292553276632563925e-11,
     0.20145143075555555556e-13),
    (0.10668502059865093318e0, 0.20965479776148731610e-2, 0.16444612377624983565e-4,
     0.11700717962026152749e-6, 0.74967203250938418991e-9, 0.42783716186085922176e-11,
     0.21385479360000000000e-13),
    (0.11094484319386444474e0, 0.21637548491908170841e-2, 0.17164995035719657111e-4,
     0.12317915750735938089e-6, 0.79376309831499633734e-9, 0.45427901763106353914e-11,
     0.22696025653333333333e-13),
    (0.11534201115268804714e0, 0.22339187474546420375e-2, 0.17923489217504226813e-4,
     0.12971465288245997681e-6, 0.84057834180389073587e-9, 0.48233721206418027227e-11,
     0.24079890062222222222e-13),
    (0.11988259392684094740e0, 0.23071965691918689601e-2, 0.18722342718958935446e-4,
     0.13663611754337957520e-6, 0.89028385488493287005e-9, 0.51210161569225846701e-11,
     0.25540227111111111111e-13),
    (0.12457298393509812907e0, 0.23837544771809575380e-2, 0.19563942105711612475e-4,
     0.14396736847739470782e-6, 0.94305490646459247016e-9, 0.54366590583134218096e-11,
     0.27080225920000000000e-13),
    (0.12941991566142438816e0, 0.24637684719508859484e-2, 0.20450821127475879816e-4,
     0.15173366280523906622e-6, 0.99907632506389027739e-9, 0.57712760311351625221e-11,
     0.28703099555555555556e-13),
    (0.13443048593088696613e0, 0.25474249981080823877e-2, 0.21385669591362915223e-4,
     0.15996177579900443030e-6, 0.10585428844575134013e-8, 0.61258809536787882989e-11,
     0.30412080142222222222e-13),
    (0.13961217543434561353e0, 0.26349215871051761416e-2, 0.22371342712572567744e-4,
     0.16868008199296822247e-6, 0.11216596910444996246e-8, 0.65015264753090890662e-11,
     0.32210394506666666666e-13),
    (0.14497287157673800690e0, 0.27264675383982439814e-2, 0.23410870961050950197e-4,
     0.17791863939526376477e-6, 0.11886425714330958106e-8, 0.68993039665054288034e-11,
     0.34101266222222222221e-13),
    (0.15052089272774618151e0, 0.28222846410136238008e-2, 0.24507470422713397006e-4,
     0.18770927679626136909e-6, 0.12597184587583370712e-8, 0.73203433049229821618e-11,
     0.36087889048888888890e-13),
    (0.15626501395774612325e0, 0.29226079376196624949e-2, 0.25664553693768450545e-4,
     0.19808568415654461964e-6, 0.13351257759815557897e-8, 0.77658124891046760667e-11,
     0.38173420035555555555e-13),
    (0.16221449434620737567e0, 0.30276865332726475672e-2, 0.26885741326534564336e-4,
     0.20908350604346384143e-6, 0.14151148144240728728e-8, 0.82369170665974313027e-11,
     0.40360957457777777779e-13),
    (0.16837910595412130659e0, 0.31377844510793082301e-2, 0.28174873844911175026e-4,
     0.22074043807045782387e-6, 0.14999481055996090039e-8, 0.87348993661930809254e-11,
     0.42653528977777777779e-13),
    (0.17476916455659369953e0, 0.32531815370903068316e-2, 0.29536024347344364074e-4,
     0.23309632627767074202e-6, 0.15899007843582444846e-8, 0.92610375235427359475e-11,
     0.45054073102222222221e-13),
    (0.18139556223643701364e0, 0.33741744168096996041e-2, 0.30973511714709500836e-4,
     0.24619326937592290996e-6, 0.16852609412267750744e-8, 0.98166442942854895573e-11,
     0.47565418097777777779e-13),
    (0.18826980194443664549e0, 0.35010775057740317997e-2, 0.32491914440014267480e-4,
     0.26007572375886319028e-6, 0.17863299617388376116e-8, 0.10403065638343878679e-10,
     0.50190265831111111110e-13),
    (0.19540403413693967350e0, 0.36342240767211326315e-2, 0.34096085096200907289e-4,
     0.27479061117017637474e-6, 0.18934228504790032826e-8, 0.11021679075323598664e-10,
     0.52931171733333333334e-13),
    (0.20281109560651886959e0, 0.37739673859323597060e-2, 0.35791165457592409054e-4,
     0.29038742889416172404e-6, 0.20068685374849001770e-8, 0.11673891799578381999e-10,
     0.55790523093333333334e-13),
    (0.21050455062669334978e0, 0.39206818613925652425e-2, 0.37582602289680101704e-4,
     0.30691836231886877385e-6, 0.21270101645763677824e-8, 0.12361138551062899455e-10,
     0.58770520160000000000e-13),
    (0.21849873453703332479e0, 0.40747643554689586041e-2, 0.39476163820986711501e-4,
     0.32443839970139918836e-6, 0.22542053491518680200e-8, 0.13084879235290858490e-10,
     0.61873153262222222221e-13),
    (0.22680879990043229327e0, 0.42366354648628516935e-2, 0.41477956909656896779e-4,
     0.34300544894502810002e-6, 0.23888264229264067658e-8, 0.13846596292818514601e-10,
     0.65100183751111111110e-13),
    (0.23545076536988703937e0, 0.44067409206365170888e-2, 0.43594444916224700881e-4,
     0.36268045617760415178e-6, 0.25312606430853202748e-8, 0.14647791812837903061e-10,
     0.68453122631111111110e-13),
    (0.24444156740777432838e0, 0.45855530511605787178e-2, 0.45832466292683085475e-4,
     0.38352752590033030472e-6, 0.26819103733055603460e-8, 0.15489984390884756993e-10,
     0.71933206364444444445e-13),
    (0.25379911500634264643e0, 0.47735723208650032167e-2, 0.48199253896534185372e-4,
     0.40561404245564732314e-6, 0.28411932320871165585e-8, 0.16374705736458320149e-10,
     0.75541379822222222221e-13),
    (0.26354234756393613032e0, 0.49713289477083781266e-2, 0.50702455036930367504e-4,
     0.42901079254268185722e-6, 0.30095422058900481753e-8, 0.17303497025347342498e-10,
     0.79278273368888888890e-13),
    (0.27369129607732343398e0, 0.51793846023052643767e-2, 0.53350152258326602629e-4,
     0.45379208848865015485e-6, 0.31874057245814381257e-8, 0.18277905010245111046e-10,
     0.83144182364444444445e-13),
    (0.28426714781640316172e0, 0.53983341916695141966e-2, 0.56150884865255810638e-4,
     0.48003589196494734238e-6, 0.33752476967570796349e-8, 0.19299477888083469086e-10,
     0.87139049137777777779e-13),
    (0.29529231465348519920e0, 0.56288077305420795663e-2, 0.59113671189913307427e-4,
     0.50782393781744840482e-6, 0.35735475025851713168e-8, 0.20369760937017070382e-10,
     0.91262442613333333334e-13),
    (0.30679050522528838613e0, 0.58714723032745403331e-2, 0.62248031602197686791e-4,
     0.53724185766200945789e-6, 0.37827999418960232678e-8, 0.21490291930444538307e-10,
     0.95513539182222222221e-13),
    (0.31878680111173319425e0, 0.61270341192339103514e-2, 0.65564012259707640976e-4,
     0.56837930287837738996e-6, 0.40035151353392378882e-8, 0.22662596341239294792e-10,
     0.99891109760000000000e-13),
    (0.33130773722152622027e0, 0.63962406646798080903e-2, 0.69072209592942396666e-4,
     0.60133006661885941812e-6, 0.42362183765883466691e-8, 0.23888182347073698382e-10,
     0.10439349811555555556e-12),
    (0.34438138658041336523e0, 0.66798829540414007258e-2, 0.72783795518603561144e-4,
     0.63619220443228800680e-6, 0.44814499336514453364e-8, 0.25168535651285475274e-10,
     0.10901861383111111111e-12),
    (0.35803744972380175583e0, 0.69787978834882685031e-2, 0.76710543371454822497e-4,
     0.67306815308917386747e-6, 0.47397647975845228205e-8, 0.26505114141143050509e-10,
     0.11376390933333333333e-12),
    (0.37230734890119724188e0, 0.72938706896461381003e-2, 0.80864854542670714092e-4,
     0.71206484718062688779e-6, 0.50117323769745883805e-8, 0.27899342394100074165e-10,
     0.11862637614222222222e-12),
    (0.38722432730555448223e0, 0.76260375162549802745e-2, 0.85259785810004603848e-4,
     0.75329383305171327677e-6, 0.52979361368388119355e-8, 0.29352606054164086709e-10,
     0.12360253370666666667e-12),
    (0.40282355354616940667e0, 0.79762880915029728079e-2, 0.89909077342438246452e-4,
     0.79687137961956194579e-6, 0.55989731807360403195e-8, 0.30866246101464869050e-10,
     0.12868841946666666667e-12),
    (0.41914223158913787649e0, 0.83456685186950463538e-2, 0.94827181359250161335e-4,
     0.84291858561783141014e-6, 0.59154537751083485684e-8, 0.32441553034347469291e-10,
     0.13387957943111111111e-12),
    (0.43621971639463786896e0, 0.87352841828289495773e-2, 0.10002929142066799966e-3,
     0.89156148280219880024e-6, 0.62480008150788597147e-8, 0.34079760983458878910e-10,
     0.13917107176888888889e-12),
    (0.45409763548534330981e0, 0.91463027755548240654e-2, 0.10553137232446167258e-3,
     0.94293113464638623798e-6, 0.65972492312219959885e-8, 0.35782041795476563662e-10,
     0.14455745872000000000e-12),
    (0.47282001668512331468e0, 0.95799574408860463394e-2, 0.11135019058000067469e-3,
     0.99716373005509038080e-6, 0.69638453369956970347e-8, 0.37549499088161345850e-10,
     0.15003280712888888889e-12),
    (0.49243342227179841649e0, 0.10037550043909497071e-1, 0.11750334542845234952e-3,
     0.10544006716188967172e-5, 0.73484461168242224872e-8, 0.39383162326435752965e-10,
     0.15559069118222222222e-12),
    (0.51298708979209258326e0, 0.10520454564612427224e-1, 0.12400930037494996655e-3,
     0.11147886579371265246e-5, 0.77517184550568711454e-8, 0.41283980931872622611e-10,
     0.16122419680000000000e-12),
    (0.53453307979101369843e0, 0.11030120618800726938e-1, 0.13088741519572269581e-3,
     0.11784797595374515432e-5, 0.81743383063044825400e-8, 0.43252818449517081051e-10,
     0.16692592640000000000e-12),
    (0.55712643071169299478e0, 0.11568077107929735233e-1, 0.13815797838036651289e-3,
     0.12456314879260904558e-5, 0.86169898078969313597e-8, 0.45290446811539652525e-10,
     0.17268801084444444444e-12),
    (0.58082532122519320968e0, 0.12135935999503877077e-1, 0.14584223996665838559e-3,
     0.13164068573095710742e-5, 0.90803643355106020163e-8, 0.47397540713124619155e-10,
     0.17850211608888888889e-12),
    (0.60569124025293375554e0, 0.12735396239525550361e-1, 0.15396244472258863344e-3,
     0.13909744385382818253e-5, 0.95651595032306228245e-8, 0.49574672127669041550e-10,
     0.18435945564444444444e-12),
    (0.63178916494715716894e0, 0.13368247798287030927e-1, 0.16254186562762076141e-3,
     0.14695084048334056083e-5, 0.10072078109604152350e-7, 0.51822304995680707483e-10,
     0.19025081422222222222e-12),
    (0.65918774689725319200e0, 0.14036375850601992063e-1, 0.17160483760259706354e-3,
     0.15521885688723188371e-5, 0.10601827031535280590e-7, 0.54140790105837520499e-10,
     0.19616655146666666667e-12),
    (0.68795950683174433822e0, 0.14741765091365869084e-1, 0.18117679143520433835e-3,
     0.16392004108230585213e-5, 0.11155116068018043001e-7, 0.56530360194925690374e-10,
     0.20209663662222222222e-12),
    (0.71818103808729967036e0, 0.15486504187117112279e-1, 0.19128428784550923217e-3,
     0.17307350969359975848e-5, 0.11732656736113607751e-7, 0.58991125287563833603e-10,
     0.20803065333333333333e-12),
    (0.74993321911726254661e0, 0.16272790364044783382e-1, 0.20195505163377912645e-3,
     0.18269894883203346953e-5, 0.12335161021630225535e-7, 0.61523068312169087227e-10,
     0.21395783431111111111e-12),
    (0.78330143531283492729e0, 0.17102934132652429240e-1, 0.21321800585063327041e-3,
     0.19281661395543913713e-5, 0.12963340087354341574e-7, 0.64126040998066348872e-10,
     0.21986708942222222222e-12),
    (0.81837581041023811832e0, 0.17979364149044223802e-1, 0.22510330592753129006e-3,
     0.20344732868018175389e-5, 0.13617902941839949718e-7, 0.66799760083972474642e-10,
     0.22574701262222222222e-12),
    (0.85525144775685126237e0, 0.18904632212547561026e-1, 0.23764237370371255638e-3,
     0.21461248251306387979e-5, 0.14299555071870523786e-7, 0.69543803864694171934e-10,
     0.23158593688888888889e-12),
    (0.89402868170849933734e0, 0.19881418399127202569e-1, 0.25086793128395995798e-3,
     0.22633402747585233180e-5, 0.15008997042116532283e-7, 0.72357609075043941261e-10,
     0.23737194737777777778e-12),
    (0.93481333942870796363e0, 0.20912536329780368893e-1, 0.26481403465998477969e-3,
     0.23863447359754921676e-5, 0.15746923065472184451e-7, 0.75240468141720143653e-10,
     0.24309291271111111111e-12),
    (0.97771701335885035464e0, 0.22000938572830479551e-1, 0.27951610702682383001e-3,
     0.25153688325245314530e-5, 0.16514019547822821453e-7, 0.78191526829368231251e-10,
     0.24873652355555555556e-12),
)
