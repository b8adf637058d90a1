"""Element-wise non-linearities."""

import math

import numpy as np

from dlpy.ops import real_number
from dlpy.ops.mask import where
from dlpy.tensor import Op

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
# with the coefficients of his SPECFUN routine CALERF (netlib specfun/erf): erf on |x| <= 0.46875,
# erfc as exp(-x^2) * R(x) on 0.46875..4 and exp(-x^2) / x * (1/sqrt(pi) - R(1/x^2)) above 4.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)


def _rational(t, num, den):
    """Cody's rational form by Horner's rule, in place to spare temporaries:
    (num[-1] t^n + num[0] t^(n-1) + ... + num[-2]) / (t^n + den[0] t^(n-1) + ... + den[-1])."""
    top, bottom = num[-1] * t, t.copy()
    for a, b in zip(num[:-2], den[:-1]):
        top += a
        top *= t
        bottom += b
        bottom *= t
    top += num[-2]
    bottom += den[-1]
    top /= bottom
    return top


def _erf_block(x):
    """erf of a 1-d float64 block. The two common ranges are computed for every element on clipped
    copies and picked with np.where (a random boolean mask costs more to gather than to compute);
    the rare |x| > 4 goes through a mask."""
    y = np.abs(x)
    xs = np.clip(x, -0.46875, 0.46875)
    small = xs * _rational(xs * xs, _ERF_A, _ERF_B)

    # erfc(y) = exp(-y^2) * R. Cody splits y^2 to keep erfc's relative error small far out; erf
    # needs only absolute accuracy, and rounding y*y moves erfc by < erfc(y) y^2 1.1e-16 < 2e-17.
    ym = np.clip(y, 0.46875, 4.0)
    erfc = _rational(ym, _ERF_C, _ERF_D)
    erfc *= np.exp(-ym * ym)

    large = y > 4.0  # false for nan, which the clips and np.where carry through as nan
    if large.any():
        # erfc(6) ~ 2e-17 is below half an ulp of 1: clipping gives exactly +-1 there and at inf
        yl = np.minimum(y[large], 6.0)
        z = 1.0 / (yl * yl)
        tail = z * _rational(z, _ERF_P, _ERF_Q)
        np.subtract(0.56418958354775628695, tail, out=tail)  # 1/sqrt(pi) - z R(z)
        tail *= np.exp(-yl * yl)
        tail /= yl
        erfc[large] = tail

    np.subtract(1.0, erfc, out=erfc)
    np.copysign(erfc, x, out=erfc)
    return np.where(y <= 0.46875, small, erfc)


_ERF_BLOCK = 32768  # elements: a block's dozen temporaries stay in a 1 MiB L2 cache (~2x faster)


def _erf(x):
    """erf(x) element-wise in float64 to about 3e-16 absolute; same shape as x (0-d included)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for start in range(0, flat.size, _ERF_BLOCK):
        out[start:start + _ERF_BLOCK] = _erf_block(flat[start:start + _ERF_BLOCK])
    return out.reshape(x.shape)


class ReLU(Op):
    """y = max(x, 0);  dx = g * (x > 0)."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)  # keeps x's dtype; faster than np.where

    def backward(self, grad_output):
        return (grad_output * self.mask,)

    def backward_graph(self, grad_output, output):
        return (grad_output * self.mask,)  # a constant mask: relu'' = 0 almost everywhere


def _sigmoid(x):
    """1 / (1 + exp(-x)) in x's dtype, without overflow for large |x|."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)


class Sigmoid(Op):
    """y = 1 / (1 + exp(-x));  dx = g * y * (1 - y). Computed without overflow for large |x|."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.y = _sigmoid(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * self.y * (1 - self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output * output * (1 - output),)


class Tanh(Op):
    """y = tanh(x);  dx = g * (1 - y^2)."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (1 - self.y * self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (1 - output * output),)


# Abramowitz & Stegun 7.1.26: erf(z) = 1 - t (a1 + t (a2 + ... a5 t)) exp(-z^2), t = 1/(1 + p z),
# z >= 0, |error| <= 1.5e-7: float32's own precision, in about twenty float32 passes over blocks
# that stay in the L2 cache instead of the float64 rational approximations (~10x faster on a
# (2048, 1024) activation)
_AS_P = np.float32(0.3275911 / math.sqrt(2.0))  # z = |x| / sqrt(2) folded in
_AS_HALF_A = tuple(np.float32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741,
                                                 -1.453152027, 1.061405429))
_GELU_BLOCK = 16384  # float32 elements: a block's four arrays fit in a 256 KiB L2


def _cdf_float32(x):
    """(Phi(x), exp(-x^2 / 2)) for a float32 array, Phi to about 2e-7."""
    flat = x.reshape(-1)
    cdf, gauss = np.empty_like(flat), np.empty_like(flat)
    t = np.empty(min(_GELU_BLOCK, flat.size), dtype=np.float32)
    poly = np.empty_like(t)
    for start in range(0, flat.size, _GELU_BLOCK):
        xb = flat[start:start + _GELU_BLOCK]
        n = xb.size
        tb, pb = t[:n], poly[:n]
        gb, cb = gauss[start:start + n], cdf[start:start + n]
        np.abs(xb, out=tb)
        tb *= _AS_P
        tb += np.float32(1.0)
        np.reciprocal(tb, out=tb)
        np.square(xb, out=gb)
        gb *= np.float32(-0.5)
        np.exp(gb, out=gb)  # exp(-x^2 / 2), kept for the backward pass
        np.multiply(tb, _AS_HALF_A[4], out=pb)
        for a in _AS_HALF_A[3::-1]:
            pb += a
            pb *= tb
        pb *= gb  # erfc(|x| / sqrt 2) / 2
        np.subtract(np.float32(0.5), pb, out=pb)
        np.copysign(pb, xb, out=pb)
        np.add(pb, np.float32(0.5), out=cb)  # Phi(x) = 1/2 + sign(x) (1/2 - erfc / 2)
    return cdf.reshape(x.shape), gauss.reshape(x.shape)


class GELU(Op):
    """y = x * Phi(x) with Phi the standard normal CDF (PyTorch's exact GELU);
    dx = g * (Phi(x) + x * phi(x)). float32 takes a float32 erf accurate to 1.5e-7."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        if x.dtype == np.float32:
            self.cdf, self.gauss = _cdf_float32(x)
            return x * self.cdf
        self.gauss = None
        erf = _erf(x / math.sqrt(2.0))  # float64 whatever x's dtype, as math.erf was
        self.cdf = (0.5 * (1.0 + erf)).astype(x.dtype, copy=False)
        return x * self.cdf

    def backward(self, grad_output):
        x = self.x
        if self.gauss is not None:
            pdf = self.gauss * np.float32(1 / math.sqrt(2 * math.pi))
        else:
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        pdf *= x
        pdf += self.cdf
        pdf *= grad_output
        return (pdf,)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.pointwise import erf  # pointwise imports this module

        (x,) = self.inputs
        cdf = (erf(x * (1 / math.sqrt(2.0))) + 1) * 0.5
        pdf = (x * x * -0.5).exp() * (1 / math.sqrt(2 * math.pi))
        return (grad_output * (cdf + x * pdf),)


class GELUTanh(Op):
    """PyTorch's GELU(approximate="tanh"): y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715
    x^3); dx = g (1/2 (1 + t) + x/2 (1 - t^2) du/dx), t = tanh(u)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        c = np.asarray(math.sqrt(2.0 / math.pi), dtype=x.dtype)
        self.x = x
        self.t = np.tanh(c * (x + np.asarray(0.044715, dtype=x.dtype) * x * x * x))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, grad_output):
        x, t = self.x, self.t
        c = math.sqrt(2.0 / math.pi)
        du = c * (1.0 + 3 * 0.044715 * x * x)
        return ((grad_output * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du))
                .astype(x.dtype, copy=False),)

    def backward_graph(self, grad_output, output):
        (x,), c = self.inputs, math.sqrt(2.0 / math.pi)
        t = ((x + x * x * x * 0.044715) * c).tanh()
        du = (x * x * (3 * 0.044715) + 1) * c
        return (grad_output * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * du),)


class SiLU(Op):
    """y = x * sigmoid(x);  dx = g * s * (1 + x * (1 - s)), s = sigmoid(x). No overflow."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x, self.s = x, _sigmoid(x)
        return x * self.s

    def backward(self, grad_output):
        s = self.s
        return (grad_output * s * (1 + self.x * (1 - s)),)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        s = x.sigmoid()
        return (grad_output * s * (1 + x * (1 - s)),)


class LeakyReLU(Op):
    """y = x if x > 0 else slope * x;  dx = g if x > 0 else slope * g (slope at 0, as PyTorch)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, x * self.negative_slope)

    def backward(self, grad_output):
        return (np.where(self.mask, grad_output, grad_output * self.negative_slope),)

    def backward_graph(self, grad_output, output):
        return (grad_output * np.where(self.mask, 1.0, self.negative_slope),)  # a constant


class ELU(Op):
    """y = x if x > 0 else alpha * (exp(x) - 1);  dx = g if x > 0 else alpha * exp(x) * g
    (alpha at 0, as PyTorch)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, grad_output):
        x = self.x
        return (np.where(x > 0, grad_output, grad_output * self.alpha * np.exp(np.minimum(x, 0))),)

    def backward_graph(self, grad_output, output):
        # alpha exp(x) = y + alpha where x <= 0: no exp of a large x to overflow
        return (grad_output * where(self.inputs[0].data > 0, 1.0, output + self.alpha),)


class Softplus(Op):
    """y = log(1 + exp(beta x)) / beta, or x where beta x > threshold (PyTorch's linear region);
    dx = g * sigmoid(beta x), or g there. log1p(exp(-|z|)) + max(z, 0): no overflow at any x."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        z = x * self.beta
        self.z = z
        soft = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        soft /= self.beta
        return np.where(z > self.threshold, x, soft)

    def backward(self, grad_output):
        z = self.z
        return (np.where(z > self.threshold, grad_output, grad_output * _sigmoid(z)),)

    def backward_graph(self, grad_output, output):
        linear = self.z > self.threshold
        return (grad_output * where(linear, 1.0, (self.inputs[0] * self.beta).sigmoid()),)


class Clamp(Op):
    """y = min(max(x, low), high), a bound of None left out;  dx = g where low <= x <= high
    (PyTorch's clamp: a value at a bound passes the gradient), or low < x < high with
    ``open_bounds`` (PyTorch's hardtanh). low > high gives high everywhere and no gradient."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, low, high, open_bounds=False):
        self.low, self.high, self.open_bounds = low, high, open_bounds

    def forward(self, x):
        low, high = self.low, self.high
        mask = None
        if low is not None:
            mask = x > low if self.open_bounds else x >= low
        if high is not None:
            below = x < high if self.open_bounds else x <= high
            mask = below if mask is None else mask & below
        self.mask = mask
        return np.clip(x, low, high)

    def backward(self, grad_output):
        return (grad_output * self.mask,)

    def backward_graph(self, grad_output, output):
        return (grad_output if self.mask is None else grad_output * self.mask,)  # a constant


def relu(x, inplace=False):
    """max(x, 0); in place with ``inplace=True`` (``relu_``)."""
    if inplace:
        from dlpy.ops.activation_inplace import relu_

        return relu_(x)
    return ReLU()(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def gelu(x, approximate: str = "none"):
    """x * Phi(x) (``approximate="none"``, exact) or PyTorch's tanh approximation
    (``approximate="tanh"``, GPT-2's)."""
    if approximate == "none":
        return GELU()(x)
    if approximate == "tanh":
        return GELUTanh()(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x):
    """x * sigmoid(x) (also called swish)."""
    return SiLU()(x)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope x; in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import leaky_relu_

        return leaky_relu_(x, negative_slope)
    return LeakyReLU(real_number("leaky_relu", "negative_slope", negative_slope))(x)


def elu(x, alpha=1.0, inplace=False):
    """x if x > 0 else alpha (exp(x) - 1); in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import elu_

        return elu_(x, alpha)
    return ELU(real_number("elu", "alpha", alpha))(x)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta; x itself where beta x > threshold, as PyTorch."""
    beta = real_number("softplus", "beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero, got 0.0")
    return Softplus(beta, real_number("softplus", "threshold", threshold, finite=False))(x)


def clamp(x, min=None, max=None):  # noqa: A002 - PyTorch's names
    """x limited to [min, max] (either may be None); the gradient passes where
    min <= x <= max, bounds included, as torch.clamp."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    low = None if min is None else real_number("clamp", "min", min, finite=False)
    high = None if max is None else real_number("clamp", "max", max, finite=False)
    return Clamp(low, high)(x)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """x limited to [min_val, max_val]; the gradient passes only strictly inside, as PyTorch;
    in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import hardtanh_

        return hardtanh_(x, min_val, max_val)
    low = real_number("hardtanh", "min_val", min_val, finite=False)
    high = real_number("hardtanh", "max_val", max_val, finite=False)
    if low > high:
        raise ValueError(f"hardtanh: min_val ({low}) must not exceed max_val ({high})")
    return Clamp(low, high, open_bounds=True)(x)
