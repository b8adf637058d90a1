"""Special functions for probability densities: lgamma, digamma, xlogy, erfinv and gammainc
(torch.lgamma, torch.digamma, torch.xlogy, torch.erfinv, torch.special.gammainc).

Computed in float64 and cast back: lgamma by Stirling's series from 8 up, below by a rational
approximation of lgamma(2 + t) for |t| <= 1/2 and the recurrence Gamma(x + 1) = x Gamma(x)
(about 1e-15 relative, also near the zeros at 1 and 2), with the reflection formula below 0;
digamma and its derivative trigamma by ten steps of the recurrence psi(x) = psi(x + 1) - 1/x,
then the asymptotic series (about 1e-15 absolute), with the reflection formula below 1/2;
erfinv by a rational first guess and Newton steps on erf (or, in the tails, on log erfc).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from dlpy.layouts import follows_inputs
from dlpy.node_names import rename_scalar_overload
from dlpy.ops.activation import _erf, _erfc_outer
from dlpy.ops.mask import where
from dlpy.ops.pointwise import _check_broadcast
from dlpy.ops.promotion import promote, promote_floating, result_type
from dlpy.tensor import Op, Tensor, default_dtype

# lgamma(2 + t) = t P(t) / Q(t) for |t| <= 1/2: the [7/7] Pade approximant of the Taylor
# series (1 - euler_gamma) t + sum over k >= 2 of (-1)^k (zeta(k) - 1) / k t^k (made with
# mpmath.pade at 50 digits); its error is below float64's rounding, its poles beyond |t| = 2
_LGAMMA_P = (0.42278433509846713, 1.0500008504947376, 0.9812533673494664, 0.44861293619041376,
             0.10661772322153679, 0.01267871740982719, 0.0006461232819244556,
             9.044855054775926e-06)
_LGAMMA_Q = (1.0, 1.72081545287429, 1.167733459492857, 0.395893248149539, 0.06995177647341878,
             0.006082671403258377, 0.00021605911739948518, 1.8324072752309252e-06)
# Stirling's series for lgamma: B_2k / (2k (2k - 1)), k = 1..8 (from 8 on: below 1e-17)
_STIRLING_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
                    -3617 / 122400)
_STIRLING_FROM = 8.0
# B_2k / (2k) for the digamma series, B_2k for the trigamma one (k = 1..7)
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_TRIGAMMA_SERIES = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def _float64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _out_dtype(x: np.ndarray):
    """A floating input's dtype; integers and bools give the default float (torch's)."""
    return np.dtype(default_dtype()) if x.dtype.kind in "biu" else x.dtype


def _poles(x: np.ndarray) -> np.ndarray:
    """The non-positive integers, where the gamma function has its poles."""
    return (x <= 0) & (x == np.floor(x)) & np.isfinite(x)


# values per block of _in_blocks (measured on 1e6 values: 2^13 to 2^17 alike, 2^15 best)
_BLOCK = 1 << 15


def _in_blocks(function):
    """An element-wise float64 function applied _BLOCK values at a time: its dozens of
    temporaries then stay in cache rather than each streaming a whole array through memory
    (lgamma and digamma of a million values: 1.5x faster)."""

    @functools.wraps(function)
    def blocked(x, **options) -> np.ndarray:
        x = np.asarray(x)
        flat = x.reshape(-1)  # (function sees 1-D float64 arrays, never a 0-d one)
        if x.size <= _BLOCK:
            return function(_float64(flat), **options).reshape(x.shape)
        out = np.empty(x.size)
        for start in range(0, x.size, _BLOCK):  # (float32 converted a block at a time)
            out[start:start + _BLOCK] = function(_float64(flat[start:start + _BLOCK]), **options)
        return out.reshape(x.shape)

    return blocked


@_in_blocks
def lgamma_array(x) -> np.ndarray:
    """log |Gamma(x)| element-wise, in float64: inf at the poles and at +-inf, nan at nan.
    Below 0 by reflection: log |Gamma(x)| = log(pi / |sin(pi x)|) - log Gamma(1 - x)."""
    x = _float64(x)
    regular = np.isfinite(x) & ~_poles(x)
    every = regular.all()
    values = x if every else np.where(regular, x, 1.0)  # (the rest set at the end)
    negative = values < 0
    logs = _lgamma_positive(np.where(negative, 1 - values, values))
    if negative.any():
        reflected = values[negative]
        sin = np.abs(np.sin(np.pi * (reflected - np.round(reflected))))
        with np.errstate(over="ignore", divide="ignore"):  # (pi / sin overflows where x is
            # within 1e-300 of an integer n: there pi / |sin(pi x)| = 1 / |x - n|)
            log_ratio = np.where(sin < 1e-300, -np.log(np.abs(reflected - np.round(reflected))),
                                 np.log(np.pi / sin))
        logs[negative] = log_ratio - logs[negative]
    return logs if every else np.where(regular, logs, np.where(np.isnan(x), np.nan, np.inf))


def _lgamma_positive(a: np.ndarray) -> np.ndarray:
    """log Gamma(a) for finite a > 0. From 8: Stirling's series. Below: a = n + t with n an
    integer and |t| <= 1/2, lgamma(2 + t) by the rational approximation, and Gamma's
    recurrence: Gamma(a) = Gamma(2 + t) (2 + t) ... (n - 1 + t) for n >= 3, Gamma(2 + t) / a
    for n = 1 (log1p: exact near 1), Gamma(2 + t) / (a (1 + a)) for n = 0 (t = a)."""
    out = np.empty_like(a)
    large = a >= _STIRLING_FROM
    if large.any():
        b = a[large]
        with np.errstate(over="ignore"):  # b^2 overflows past 1e154: the series is 0
            r = 1 / (b * b)
            out[large] = (b - 0.5) * np.log(b) - b + 0.5 * math.log(2 * math.pi) \
                + _series(r, _STIRLING_SERIES) / b
    small = ~large
    if small.any():
        b = a[small]
        n = np.floor(b + 0.5)
        t = b - n  # exact
        logs = t * _series(t, _LGAMMA_P) / _series(t, _LGAMMA_Q)  # lgamma(2 + t)
        factors = np.ones_like(b)  # (2 + t) (3 + t) ... (n - 1 + t), a divisor b (1 + b) for n = 0
        term, more = np.empty_like(b), np.empty(b.shape, dtype=bool)
        for j in range(2, int(n.max())):  # times j + t where n > j, else 1: (j + t) m + (1 - m)
            np.greater(n, j, out=more)  # is exact and 2x faster than np.where on a random mask
            np.add(t, j, out=term)
            term *= more
            term += ~more
            factors *= term
        zero = n == 0
        logs += np.where(zero, -1.0, 1.0) * np.log(np.where(zero, b * (1 + b), factors))
        logs -= np.where(n == 1, np.log1p(t), 0.0)
        out[small] = logs
    return out


def _series(r: np.ndarray, coefficients) -> np.ndarray:
    """c0 + c1 r + c2 r^2 + ... by Horner's rule."""
    total = np.full_like(r, coefficients[-1])
    for c in coefficients[-2::-1]:
        total *= r
        total += c
    return total


def _shifted(x: np.ndarray, power: int):
    """z = x + 10 and the sum of 1/(x + k)^power over k < 10 (x >= 1/2):
    psi(x) = psi(x + 10) - sum 1/(x + k), psi'(x) likewise. Every value is shifted, those
    already past 10 too (harmless), which spares gathering the others."""
    total = np.zeros_like(x)
    for k in range(10):
        term = 1 / (x + k)
        total += term if power == 1 else term * term
    return x + 10, total


def _cot_pi(x: np.ndarray) -> np.ndarray:
    """cot(pi x), reduced to |x - round(x)| <= 1/2 first (tan has period pi)."""
    return 1 / np.tan(np.pi * (x - np.round(x)))


@_in_blocks
def digamma_array(x) -> np.ndarray:
    """psi(x) = d/dx lgamma(x) in float64, as torch.digamma: -inf at +0, +inf at -0, nan at the
    negative integers and -inf, inf at inf."""
    x = _float64(x)
    finite = np.isfinite(x) & ~_poles(x)
    xf = np.where(finite, x, 1.0)
    reflect = xf < 0.5
    z, total = _shifted(np.where(reflect, 1 - xf, xf), 1)
    r = 1 / np.minimum(z, 1e150) ** 2  # past 1e150 the series terms vanish (r would overflow)
    psi = np.log(z) - 0.5 / z - r * _series(r, _DIGAMMA_SERIES) - total
    if reflect.any():  # (tan is slow: only where needed)
        with np.errstate(divide="ignore", over="ignore"):  # inf near a pole: the true value
            psi[reflect] -= np.pi * _cot_pi(xf[reflect])
    psi = np.where(finite, psi, np.nan)
    psi[x == np.inf] = np.inf
    zero = x == 0
    psi[zero] = np.where(np.signbit(x[zero]), np.inf, -np.inf)
    return psi


@_in_blocks
def trigamma_array(x) -> np.ndarray:
    """psi'(x), the derivative of digamma, in float64, as torch's trigamma: below 1/2 the
    reflection pi^2 / sin(pi x)^2 - psi'(1 - x) with sin(pi x) unreduced (so inf at 0 but about
    1e32, not inf, at the negative integers), 0 at inf, nan at -inf."""
    x = _float64(x)
    finite = np.isfinite(x)
    xf = np.where(finite, x, 1.0)
    reflect = xf < 0.5
    z, total = _shifted(np.where(reflect, 1 - xf, xf), 2)
    r = np.where(z < 1e150, 1 / np.minimum(z, 1e150) ** 2, 0.0)  # (past 1e150: 1 / z alone)
    psi1 = 1 / z + 0.5 * r + r / z * _series(r, _TRIGAMMA_SERIES) + total
    if reflect.any():  # (sin is slow: only where needed)
        reflected = xf[reflect]
        sin = np.sin(np.pi * reflected)  # unreduced, as torch's: ~1e32 at -1, -2, ..., inf at 0
        with np.errstate(divide="ignore", over="ignore"):
            psi1[reflect] = np.pi**2 / (sin * sin) - psi1[reflect]
    psi1 = np.where(finite, psi1, np.nan)
    psi1[x == np.inf] = 0.0
    return psi1


@_in_blocks
def tetragamma_array(x) -> np.ndarray:
    """psi''(x), the derivative of trigamma, in float64 (torch.polygamma(2, x)): the
    recurrence psi''(x) = psi''(x + 10) - 2 sum 1/(x + k)^3, the asymptotic series
    -1/z^2 - 1/z^3 - sum (2k + 1) B_2k / z^(2k + 2), and below 1/2 the reflection
    psi''(x) = psi''(1 - x) - 2 pi^3 cot(pi x) / sin(pi x)^2. -inf at the poles."""
    x = _float64(x)
    finite = np.isfinite(x) & ~_poles(x)
    xf = np.where(finite, x, 1.0)
    reflect = xf < 0.5
    u = np.where(reflect, 1 - xf, xf)
    total = np.zeros_like(u)
    for k in range(10):
        total += 1 / (u + k) ** 3
    z = u + 10
    r = 1 / np.minimum(z, 1e100) ** 2
    series = sum(c * (2 * k + 3) * r ** (k + 1) for k, c in enumerate(_TRIGAMMA_SERIES))
    psi2 = -r - r / z - series * r - 2 * total
    if reflect.any():
        reflected = xf[reflect]
        sin = np.sin(np.pi * (reflected - np.round(reflected)))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            psi2[reflect] -= 2 * np.pi**3 * _cot_pi(reflected) / (sin * sin)
    psi2 = np.where(finite, psi2, np.nan)
    psi2[_poles(x)] = -np.inf  # as torch (polygamma(2) = -2 zeta(3, x), zeta inf at a pole)
    psi2[x == np.inf] = 0.0
    return psi2


# erfinv as x P(w), w = -log(1 - x^2), in the two ranges of M. Giles, "Approximating the erfinv
# function" (GPU Computing Gems, 2011) with degree 11 in place of his 8: weighted minimax fits
# (relative error) to float64 erfinv, made by `benchmarks/gelu_erf.py --fit-erfinv`: 4.1e-10 in
# w - 2.5 for w < 5 and 7.0e-10 in sqrt(w) - 3 up to w = 16.7 (past float32's largest x below
# 1), so a float32 result needs no Newton step (an erf costs more than this whole fit)
_ERFINV_CENTRAL = (1.50140935169341039e+00, 2.46640275785379087e-01, -4.17732463702840621e-03,
                   -1.25270487669573260e-03, 2.18263558455800139e-04, -4.99875982452179459e-06,
                   -3.42601263486677282e-06, 4.79698861384578936e-07, 1.64573271681355220e-08,
                   -1.10232130821676509e-08, 4.37024167626521215e-10, 1.32858784222627897e-10)
_ERFINV_TAIL = (2.83297679855258666e+00, 1.00167525015572423e+00, 9.44553164118371556e-03,
                -7.64302486393700700e-03, 5.68493430667759824e-03, -3.56527068026088684e-03,
                1.48674221929553365e-03, -1.26808052220583011e-04, -2.97658161096937943e-04,
                1.73109320850679561e-04, -1.70760818613083175e-05, -8.73162197687820255e-06)
_ERFINV_FITTED = 16.7  # w where the tail fit ends


def _erfinv_fit(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(erfinv(a) by the fits, w) for float64 a = |x| (w = inf at 1, nan past 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.log((1 - a) * (1 + a))
    np.negative(w, out=w)
    tail = w >= 5
    y = _series(w - 2.5, _ERFINV_CENTRAL)
    if tail.any():
        y[tail] = _series(np.sqrt(w[tail]) - 3.0, _ERFINV_TAIL)
    y *= a
    return y, w


@_in_blocks
def erfinv_float32_array(x) -> np.ndarray:
    """erfinv of float32 values by the fits alone, in float64 to 7e-10 relative (rounded to
    float32: 0.51 ulp, as torch's to 1 ulp): +-inf at +-1, nan outside [-1, 1]."""
    a = np.abs(x)
    y, _ = _erfinv_fit(a)
    y[a == 1] = np.inf
    return np.copysign(y, x, out=y)


@_in_blocks
def erfinv_array(x, newton_steps: int | None = None) -> np.ndarray:
    """erfinv(x) in float64: +-inf at +-1, nan outside [-1, 1]. The fits, then Newton's steps
    (each about squares the relative error): 2 where every w is fitted, 5 past that (the tail
    fit extrapolated to w = 36, x = 1 - 1.1e-16, is 15% off; 4 steps reach float64's accuracy
    there), or ``newton_steps``."""
    a = np.abs(x)
    inside = a < 1
    a_in = np.where(inside, a, 0.0)
    y, w = _erfinv_fit(a_in)
    if newton_steps is None:
        newton_steps = 2 if w.max(initial=0.0) <= _ERFINV_FITTED else 5
    # Newton on erf(y) - a near 0; in the tails, where erf(y) is too close to 1, on
    # log(erfc(y)) - log(1 - a) (1 - a is exact there): both converge from the first guess
    near = a_in < 0.5
    log_rest = np.log(np.where(near, 0.5, 1 - a_in))
    for _ in range(newton_steps):
        density = 2 / math.sqrt(math.pi) * np.exp(-y * y)
        erfc = _erfc_outer(y, relative=True)  # (near 0 unused: y < 0.477 there)
        step_near = (_erf(y) - a_in) / density
        step_tail = (np.log(np.where(near, 1.0, erfc)) - log_rest) * np.where(near, 1.0, erfc)
        step_tail /= density
        y = y - np.where(near, step_near, -step_tail)
    out = np.copysign(y, x)
    out = np.where(a == 1, np.copysign(np.inf, x), out)
    return np.where(inside | (a == 1), out, np.nan)


def _gammainc_series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1)...(a + n)), for x < a + 1."""
    term = np.ones_like(a)
    total = np.ones_like(a)
    ap = a.copy()
    for _ in range(1000):
        ap += 1
        term *= x / ap
        total += term
        if np.all(np.abs(term) <= np.abs(total) * 1e-17):
            break
    return total * np.exp(a * np.log(x) - x - lgamma_array(a + 1))


def _gammaincc_series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Q(a, x) for x <= 1.1 without forming 1 - P (DLMF 8.7.3, torch's _igamc_helper_series):
    -expm1(a log x - lgamma(1 + a)) - x^a / Gamma(a) sum_n (-x)^n / (n! (a + n)); where P is
    near 1 (a small) 1 - P keeps only float64's absolute 1e-16 (Q(1e-30, 0.17) is 1.9e-30)."""
    fac = np.ones_like(a)
    total = np.zeros_like(a)
    for n in range(1, 2000):
        fac *= -x / n
        term = fac / (a + n)
        total += term
        if np.all(np.abs(term) <= 1.1102230246251565e-16 * np.abs(total)):
            break
    log_x = np.log(x)
    return -np.expm1(a * log_x - lgamma_array(1 + a)) - np.exp(a * log_x - lgamma_array(a)) * total


def _gammaincc_fraction(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Q(a, x) = 1 - P(a, x) by the continued fraction (modified Lentz), for x >= a + 1."""
    tiny = 1e-300
    b = x + 1 - a
    c = np.full_like(a, 1 / tiny)
    d = 1 / b
    h = d.copy()
    for i in range(1, 1000):
        an = -i * (i - a)
        b = b + 2
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1 / d
        delta = d * c
        h *= delta
        if np.all(np.abs(delta - 1) <= 1e-15):
            break
    return h * np.exp(a * np.log(x) - x - lgamma_array(a))


def gammainc_array(a, x) -> np.ndarray:
    """The regularized lower incomplete gamma function P(a, x) in float64 (a > 0, x >= 0;
    nan elsewhere, as torch.special.gammainc; P(a, 0) = 0, P(a, inf) = 1, and its limit
    P(0, x) = 1 for x > 0 and P(inf, x) = 0 for finite x >= 0, as torch)."""
    a, x = np.broadcast_arrays(_float64(a), _float64(x))
    out = np.full(a.shape, np.nan)
    # torch's boundary values, tested in its order (calc_igamma), so that a nan meets them
    # too: nan where x < 0 or a < 0; P(0, x) = 1 for x > 0; P(a, 0) = 0 (a = nan too);
    # P(inf, x) = 0 (x = nan too) but nan at x = inf; P(a, inf) = 1 (a = nan too)
    left = ~((x < 0) | (a < 0))
    out[left & (a == 0) & (x > 0)] = 1.0
    left &= a != 0
    out[left & (x == 0)] = 0.0
    left &= x != 0
    out[left & (a == np.inf) & (x != np.inf)] = 0.0
    left &= a != np.inf
    out[left & (x == np.inf)] = 1.0
    regular = left & (x < np.inf) & (a < np.inf)  # (a > 0, x > 0, neither nan)
    series = regular & (x < a + 1)
    if series.any():
        out[series] = _gammainc_series(a[series], x[series])
    fraction = regular & ~series
    if fraction.any():
        out[fraction] = 1 - _gammaincc_fraction(a[fraction], x[fraction])
    return out


def gammainc_grad_a_array(a, x) -> np.ndarray:
    """dP(a, x)/da in float64 (a > 0, x > 0) by a central difference (about 1e-8 relative
    error): on P's series where x < a + 1, else on Q = 1 - P's continued fraction, so a tail
    keeps its relative accuracy. The step is 1e-4 of a or of 1 / |d log P / da| (about
    log x - digamma(a)), whichever is smaller, so that far in a tail it stays small."""
    a, x = np.broadcast_arrays(_float64(a), _float64(x))
    shape = a.shape
    a, x = a.reshape(-1), x.reshape(-1)
    out = np.zeros(a.shape)
    series = x < a + 1
    slope = np.abs(np.log(x) - digamma_array(np.where(series, a + 1, a)))
    h = 1e-4 * np.minimum(a, 1 / np.maximum(slope, 1e-12))
    if series.any():
        s_a, s_x, s_h = a[series], x[series], h[series]
        out[series] = (_gammainc_series(s_a + s_h, s_x)
                       - _gammainc_series(s_a - s_h, s_x)) / (2 * s_h)
    fraction = ~series
    if fraction.any():
        f_a, f_x, f_h = a[fraction], x[fraction], h[fraction]
        out[fraction] = (_gammaincc_fraction(f_a - f_h, f_x)
                         - _gammaincc_fraction(f_a + f_h, f_x)) / (2 * f_h)
    return out.reshape(shape)


@follows_inputs
class Lgamma(Op):
    """y = log |Gamma(x)|;  dx = g * digamma(x)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        return lgamma_array(x).astype(_out_dtype(x), copy=False)

    def backward(self, grad_output):
        return (grad_output * digamma_array(self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output * Digamma()(self.inputs[0]),)


@follows_inputs
class Digamma(Op):
    """y = psi(x) = d/dx lgamma(x);  dx = g * trigamma(x)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        return digamma_array(x).astype(_out_dtype(x), copy=False)

    def backward(self, grad_output):
        return (grad_output * trigamma_array(self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output * Trigamma()(self.inputs[0]),)


@follows_inputs
class Trigamma(Op):
    """y = psi'(x), digamma's derivative (torch.polygamma(1, x));  dx = g * psi''(x). For
    digamma's second derivatives; a third raises (no backward_graph)."""

    def forward(self, x):
        self.x = x
        return trigamma_array(x).astype(_out_dtype(x), copy=False)

    def backward(self, grad_output):
        return (grad_output * tetragamma_array(self.x),)


@follows_inputs
class Xlogy(Op):
    """z = x * log(y), and 0 where x == 0 unless y is nan (torch.xlogy);
    dx = xlogy(g, y), but 0 where x == 0 and y <= 0 (PyTorch's choice where z is not
    differentiable), dy = g * x / y."""

    saves = (0, 1)  # backward reads x and y, never z (as torch's)

    def forward(self, x, y):
        self.x, self.y = x, y
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((x == 0) & ~np.isnan(y), 0.0, x * np.log(y)).astype(
                np.result_type(x, y), copy=False)

    def backward(self, grad_output):
        x, y = self.x, self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            x_grad = y_grad = None
            if self.inputs[0].requires_grad:
                x_grad = np.where((grad_output == 0) & ~np.isnan(y), 0.0, grad_output * np.log(y))
                x_grad = np.where((x == 0) & (y <= 0), 0.0, x_grad)
            if self.inputs[1].requires_grad:
                y_grad = grad_output * x / y
        return x_grad, y_grad

    def backward_graph(self, grad_output, output):
        x, y = self.inputs
        x_grad = y_grad = None
        if x.requires_grad:  # the mask is a constant, as PyTorch's masked_fill
            x_grad = where((self.x == 0) & (self.y <= 0), 0.0, xlogy(grad_output, y))
        if y.requires_grad:
            y_grad = grad_output * x / y
        return x_grad, y_grad


@follows_inputs
class Erfinv(Op):
    """y = erfinv(x), the inverse of erf on (-1, 1);  dx = g * sqrt(pi) / 2 * exp(y^2), y
    computed again from x, as torch's ErfinvBackward0 (it saves x: y may change in place)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        return self._erfinv(x)

    @staticmethod
    def _erfinv(x):
        kernel = erfinv_float32_array if x.dtype in (np.float32, np.float16) else erfinv_array
        return kernel(x).astype(_out_dtype(x), copy=False)

    def backward(self, grad_output):
        y = self._erfinv(self.x).astype(np.float64)
        return (grad_output * (math.sqrt(math.pi) / 2) * np.exp(y * y),)

    def backward_graph(self, grad_output, output):
        y = Erfinv()(self.inputs[0])
        return (grad_output * (math.sqrt(math.pi) / 2) * (y * y).exp(),)


@follows_inputs(numpy_order=False)
class Gammainc(Op):
    """z = P(a, x), the regularized lower incomplete gamma function;
    dx = g * x^(a-1) e^-x / Gamma(a). The gradient of a is not implemented (as PyTorch)."""

    forward_ad_unsupported = "igamma"  # (torch's name in its refusal)

    def forward(self, a, x):
        self.a, self.x = a, x
        return gammainc_array(a, x).astype(np.result_type(a, x), copy=False)

    def backward(self, grad_output):
        if self.inputs[0].requires_grad:
            raise NotImplementedError("gammainc: the gradient with respect to the first "
                                      "argument (a) is not implemented (nor in PyTorch)")
        a, x = np.broadcast_arrays(_float64(self.a), _float64(self.x))
        with np.errstate(divide="ignore", invalid="ignore"):
            density = np.exp((a - 1) * np.log(x) - x - lgamma_array(a))
        return None, grad_output * density

    def backward_graph(self, grad_output, output):
        a, x = self.inputs
        if a.requires_grad:
            self.backward(grad_output.data)  # raises, naming the first argument
        return None, grad_output * ((a - 1) * x.log() - x - Lgamma()(a)).exp()


def lgamma(input: Tensor) -> Tensor:
    """torch.lgamma: log |Gamma(x)| (inf at 0, -1, -2, ...)."""
    return Lgamma()(input)


def digamma(input: Tensor) -> Tensor:
    """torch.digamma: psi(x), the derivative of lgamma."""
    return Digamma()(input)


def tensor_operand(name: str, input, other) -> None:  # noqa: A002 - torch's names
    """Refuse two numbers, as torch's binary special functions (a Tensor on one side at least)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got "
            f"({type(input).__name__}, {type(other).__name__}), but expected one of: "
            "(Tensor input, Tensor other), (Number self, Tensor other), "
            "(Tensor input, Number other)")


def xlogy(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.xlogy: x * log(y), 0 where x == 0 (unless y is nan); broadcast."""
    x, y = input, other
    tensor_operand("xlogy", x, y)
    _check_broadcast("xlogy", x, y)
    x, y = promote_floating(x, y)  # integers give the default float, as torch's
    return rename_scalar_overload(Xlogy()(x, y), "Xlogy", input, other)


def erfinv(input: Tensor) -> Tensor:
    """torch.erfinv: the y in (-inf, inf) with erf(y) = x, for x in [-1, 1] (nan outside)."""
    return Erfinv()(input)


def gammainc_operands(name: str, a, x) -> list:
    """a and x of gammainc/gammaincc in torch's result dtype: both Tensors, and floating after
    promotion (torch has no integer kernel: "igamma_cpu" not implemented for 'Long')."""
    a, x = (Tensor(v) if isinstance(v, np.ndarray) else v for v in (a, x))  # arrays: dlpy's
    for position, (argument, v) in enumerate((("input", a), ("other", x)), 1):
        if not isinstance(v, Tensor):
            raise TypeError(f"{name}(): argument '{argument}' (position {position}) must be "
                            f"Tensor, not {type(v).__name__}")
    _check_broadcast(name, a, x)
    dtype = result_type(a, x)
    if dtype.kind != "f" and dtype.name != "bfloat16":
        raise NotImplementedError(f"{name}: not implemented for {dtype} tensors (torch has no "
                                  "integer kernel); pass floating-point tensors")
    return promote(a, x, dtype=dtype)


def gammainc(a, x) -> Tensor:
    """torch.special.gammainc: the regularized lower incomplete gamma function
    P(a, x) = integral from 0 to x of t^(a-1) e^-t dt / Gamma(a); broadcast. Differentiable
    in x only."""
    return Gammainc()(*gammainc_operands("gammainc", a, x))
