"""Element-wise non-linearities."""

import math

import numpy as np

from dlpy.amp.dtypes import check_float8, float32_compute
from dlpy.layouts import follows_inputs, iterator_layout, laid_as_inputs
from dlpy.ops import ArgDtypeError, ArgError, NoKernelError, real_number
from dlpy.ops import promotion as _promotion
from dlpy.ops.arithmetic import dropped_as_zeros, slope_grad
from dlpy.ops.mask import where
from dlpy.tensor import Op, Tensor, is_floating_dtype, is_grad_enabled

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


def _erfc_outer(y, relative: bool, limit: float | None = None):
    """erfc(y) for float64 y >= 0.46875 (below, erfc(0.46875)), Cody's outer ranges: exp(-y^2) R(y)
    up to 4, exp(-y^2) / y (1/sqrt(pi) - z R(z)), z = 1 / y^2, beyond. ``relative``: to about
    1e-15 relative out to the underflow at 27 (y^2 split as Cody does); otherwise what erf needs,
    absolute accuracy: y^2 rounded (erfc off by < erfc(y) y^2 1.1e-16 < 2e-17) and y past 6
    taken as 6 (erfc(6) ~ 2e-17 is below half an ulp of 1: exactly +-1 there and at inf).
    ``limit`` replaces that 6 (or 30)."""
    ym = np.clip(y, 0.46875, 4.0)
    erfc = _rational(ym, _ERF_C, _ERF_D)
    erfc *= _exp_minus_square(ym, relative)
    large = y > 4.0  # false for nan, which the clips and np.where carry through as nan
    if large.any():
        if limit is None:
            limit = 30.0 if relative else 6.0  # (erfc(30) = 0 in float64)
        yl = np.minimum(y[large], limit)
        z = 1.0 / (yl * yl)
        tail = z * _rational(z, _ERF_P, _ERF_Q)
        np.subtract(0.56418958354775628695, tail, out=tail)  # 1/sqrt(pi) - z R(z)
        tail *= _exp_minus_square(yl, relative)
        tail /= yl
        erfc[large] = tail
    return erfc


def _exp_minus_square(y, relative: bool):
    """exp(-y^2); ``relative``: as exp(-h^2) exp(-(y - h)(y + h)) with h = y rounded down to a
    sixteenth, so h^2 is exact and the rounding of y^2 (y^2 1.1e-16 relative) is avoided."""
    if not relative:
        return np.exp(-y * y)
    head = np.trunc(y * 16.0) / 16.0
    return np.exp(-head * head) * np.exp(-(y - head) * (y + head))


def _erf_block(x):
    """erf of a 1-d float64 block. The two common ranges are computed for every element on clipped
    copies and picked with np.where (a random boolean mask costs more to gather than to compute);
    the rare |x| > 4 goes through a mask."""
    y = np.abs(x)
    xs = np.clip(x, -0.46875, 0.46875)
    small = xs * _rational(xs * xs, _ERF_A, _ERF_B)
    erfc = _erfc_outer(y, relative=False)
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


def _erfc_block(x, single: bool):
    """erfc of a 1-d float64 block: 1 - erf near 0, Cody's outer ranges beyond (2 - erfc(-x)
    for negative x), nan kept. To about 1e-15 relative (exp(-y^2) split); ``single``: to what
    float32 needs (y^2 rounded: erfc off by < y^2 1.1e-16 relative, 1e-14 out to float32's
    underflow at 10.1)."""
    y = np.abs(x)
    xs = np.clip(x, -0.46875, 0.46875)
    small = xs * _rational(xs * xs, _ERF_A, _ERF_B)
    np.subtract(1.0, small, out=small)
    tail = _erfc_outer(y, relative=not single, limit=11.0 if single else None)
    negative = 2.0 - tail
    return np.where(y <= 0.46875, small, np.where(x < 0, negative, tail))


def _erfc(x, single: bool = False):
    """erfc(x) = 1 - erf(x) element-wise in float64, accurate in the upper tail (where 1 - erf
    rounds to 0: erfc(6) = 2.2e-17, erfc(26) = 5.7e-296); same shape as x. ``single``: float32
    accuracy (see _erfc_block)."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for start in range(0, flat.size, _ERF_BLOCK):
        out[start:start + _ERF_BLOCK] = _erfc_block(flat[start:start + _ERF_BLOCK], single)
    return out.reshape(x.shape)


# float32 erf as tanh(v(x)), v = atanh(erf): odd, 2/sqrt(pi) x near 0 and ~x^2 far out, so
# v(x) = x P(x^2) with P of degree 10, and tanh carries the rest: one branch, no np.where (which
# costs ~12 passes on a random mask). P is a weighted minimax fit of atanh(erf(x)) / x on
# 0 < x <= 4, weight (1 - erf^2) x / erf (erf's relative error per unit error of P), made by
# `benchmarks/gelu_erf.py --fit-erf` in float64 from math.erf/erfc: 2.1e-9 relative. Computed in
# float64 (as fast as float32 in L2-sized blocks) and rounded once: within 0.54 ulp of the true
# erf, 98% correctly rounded (torch's float32 erf: 1 ulp, 96%). |x| is clipped to 4, where
# float32 erf is already +-1.
_ATANH_ERF = (1.12837916940133054e+00, 1.02772518776879471e-01, -2.08740531815991429e-04,
              -5.90912908669136107e-04, 6.49658291883050396e-05, 3.63588470232364703e-06,
              -1.98673234021440688e-06, 2.78783764334499036e-07, -2.07527630351322279e-08,
              8.23425489973533104e-10, -1.36488705389916333e-11)


def _x_times_even_polynomial(x, coefficients, square, out):
    """out = x P(x^2), P's coefficients lowest first, by Horner's rule in the given buffers
    (square gets x^2; both of x's size); returns out."""
    np.multiply(x, x, out=square)
    np.multiply(square, coefficients[-1], out=out)
    for c in coefficients[-2:0:-1]:
        out += c
        out *= square
    out += coefficients[0]
    out *= x
    return out


def _erf_float32(x):
    """erf of a float32 array, a new float32 array of its shape (0-d included)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    n = min(_ERF_BLOCK, flat.size)
    clipped, square, poly = (np.empty(n) for _ in range(3))  # float64
    for start in range(0, flat.size, _ERF_BLOCK):
        xb = flat[start:start + _ERF_BLOCK]
        cb, sb, pb = clipped[:xb.size], square[:xb.size], poly[:xb.size]
        np.clip(xb, -4.0, 4.0, out=cb)  # (nan stays nan)
        _x_times_even_polynomial(cb, _ATANH_ERF, sb, pb)
        np.tanh(pb, out=out[start:start + _ERF_BLOCK])  # rounded to float32 once
    return out.reshape(np.shape(x))


# float32 erfc as exp(-y^2) P(t), t = 2 / (2 + y), y = |x| (2 - that for negative x): P a degree-12
# weighted minimax fit of erfc(y) exp(y^2) on [0, 10.1] (float32's erfc underflows past 10.06),
# 7.6e-11 relative (`python benchmarks/gelu_erf.py --fit-erfc`); y^2 of a float32 y is exact
_ERFC_SCALED = (-5.87067604959423068e-07, 2.82117024024301888e-01, 2.81719075437358080e-01,
                2.50581085733388664e-01, 1.51717361764419106e-01, 1.95531860040801447e-01,
                -3.64894703943582532e-01, 7.70579165138916555e-01, -1.37920256465592317e+00,
                1.40080002320726282e+00, -8.09587452097541349e-01, 2.55136523914947677e-01,
                -3.44968115720274762e-02)


def _erfc_float32_block(x):
    """erfc of a 1-d float64 block of float32 values, to float32's accuracy (rounded by the
    caller); nan stays nan, erfc(+-inf) = 0, 2."""
    y = np.abs(x)
    t = np.add(y, 2.0)
    np.divide(2.0, t, out=t)
    tail = np.full_like(t, _ERFC_SCALED[-1])
    for c in _ERFC_SCALED[-2::-1]:
        tail *= t
        tail += c
    np.multiply(y, y, out=y)
    np.negative(y, out=y)
    np.exp(y, out=y)
    tail *= y
    np.maximum(tail, 0.0, out=tail)  # past the fit P(t) < 0 meets exp = 0: +0, never -0
    np.subtract(2.0, tail, out=tail, where=x < 0)
    return tail


def _erfc_float32(x):
    """erfc of a float32 array, a new float32 array of its shape (0-d included)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    for start in range(0, flat.size, _ERF_BLOCK):
        out[start:start + _ERF_BLOCK] = _erfc_float32_block(
            flat[start:start + _ERF_BLOCK].astype(np.float64))
    return out.reshape(np.shape(x))


class ReLU(Op):
    """y = max(x, 0);  dx = g where not x <= 0 (a nan passes it, as torch's)."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        if x.itemsize == 1:  # bool and float8: torch refuses
            if x.dtype.kind == "b":
                raise ArgDtypeError("relu: bool inputs are not supported, as torch's")
            check_float8("clamp_min_scalar_cpu", x)
        dead = np.less_equal(x, 0)
        self.mask = np.logical_not(dead, out=dead) if dead.ndim else ~dead  # (no 2nd array)
        if x.flags.c_contiguous:  # (follows_inputs' test inline: the hot path pays no call)
            return np.maximum(x, 0)  # keeps x's dtype; faster than np.where
        return iterator_layout(np.maximum(x, 0), x)  # torch's order (an expanded x's too)

    def backward(self, grad_output):
        return (dropped_as_zeros(grad_output * self.mask, self.mask),)

    def use_unpacked(self, what, array):
        """saved_tensors_hooks: torch's node saves the result and passes the gradient where
        it is not <= 0 (a nan passes): the mask made again from what unpack gave."""
        self.mask = np.logical_not(np.less_equal(array, 0))

    def backward_graph(self, grad_output, output):
        # relu'' = 0 almost everywhere; torch's node is threshold_backward's
        return (slope_grad(grad_output, self.mask, output, "ThresholdBackwardBackward0"),)


def _sigmoid(x):
    """1 / (1 + exp(-x)) in x's dtype, in one new array; exp(-x) = inf for x << 0 gives 0 (as
    torch's), no overflow error. Four in-place passes: 10x faster at float32 than exp(-|x|) with
    two branches picked by np.where, whose subnormals and random mask were slow."""
    if x.dtype.kind != "f":
        z = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
    with np.errstate(over="ignore"):
        return _sigmoid_into(x, np.empty_like(x))  # (an array for 0-d x too)


def _sigmoid_into(x, out):
    """out = 1 / (1 + exp(-x)) for float x, in place; returns out. Inside
    np.errstate(over="ignore")."""
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += out.dtype.type(1)
    return np.reciprocal(out, out=out)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Sigmoid(Op):
    """y = 1 / (1 + exp(-x));  dx = g * y * (1 - y). Computed without overflow for large |x|;
    holomorphic for complex x."""

    float8_kernel = "sigmoid_cpu_reduced_float"  # torch's refusal of float8 (amp/dtypes.py)
    complex_ok = "holomorphic"
    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    half = False  # float16: backward rounds after each step, as torch's kernel

    def forward(self, x):
        self.y = _sigmoid(x)
        return self.y

    def forward_low_precision(self, x):
        """float16/bfloat16: the float32 result (rounded once by the caller)."""
        self.half = x.dtype == np.float16
        self.y = _sigmoid(x.astype(np.float32))
        return self.y

    def complex_forward(self, x):
        with np.errstate(over="ignore"):
            self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, grad_output):
        y = self.y
        if self.half:  # torch's float16 kernel: g * (1 - y) * y, each step rounded to float16
            y = y.astype(np.float16)
            return (grad_output.astype(np.float16) * (1 - y) * y,)
        if y.dtype.kind != "f" or np.result_type(grad_output, y) != y.dtype \
                or np.shape(grad_output) != y.shape:
            return (grad_output * y * (1 - y),)
        one = y.dtype.type(1)

        def kernel(yb, gb, out):  # in place: one array, not three
            np.subtract(one, yb, out=out)
            out *= yb
            out *= gb

        grad = np.empty_like(y)
        _in_blocks(kernel, y, grad_output, grad)
        return (grad,)

    def backward_graph(self, grad_output, output):
        return (grad_output * output * (1 - output),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Tanh(Op):
    """y = tanh(x);  dx = g * (1 - y^2)."""

    float8_kernel = "tanh_vml_cpu"  # torch's refusal of float8 (amp/dtypes.py)
    complex_ok = "holomorphic"
    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (1 - self.y * self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (1 - output * output),)


# float32 GELU as x * sigmoid(v(x)), v = logit(Phi) = log(Phi / (1 - Phi)): odd, ~1.5958 x near 0
# and ~x^2 / 2 far out, so v(x) = x P(x^2) with P of degree 6 fits it, and the sigmoid saturates
# to exactly 0 or 1 by itself (no clamp, no branch for the tails). The coefficients are a weighted
# minimax fit (Lawson's iteratively reweighted least squares) of logit(Phi(x)) / x on 0 < x <= 6,
# weight x Phi (1 - Phi) (Phi's error per unit error of P), made by `benchmarks/gelu_erf.py --fit`
# in float64 from math.erfc: fit error 2.9e-8 in Phi; in float32 Phi's error is 1.3e-7 and GELU's
# 1.4e-7 max(1, |x|) (PyTorch's float32 GELU: 3.6e-7). v' has no real root for x > 0, so v rises
# to +-inf monotonically past the fitted range. About 17 float32 passes instead of 23.
_LOGIT_PHI = (1.595769883e+00, 7.266616915e-02, -6.518995390e-05, -1.106123860e-04,
              7.929488533e-06, -2.645266517e-07, 3.512340618e-09)
# GELU(approximate="tanh") = x/2 (1 + tanh(u)) = x sigmoid(2u), 2u = x (2c + 2c 0.044715 x^2)
_TANH_C = math.sqrt(2.0 / math.pi)
_LOGIT_TANH = (2 * _TANH_C, 2 * _TANH_C * 0.044715)
_GELU_BLOCK = 65536  # elements: a block's few arrays stay in the L2 cache; larger blocks add calls


def _in_blocks(kernel, *arrays) -> None:
    """kernel(*blocks) over matching flat blocks of _GELU_BLOCK elements of C-contiguous arrays
    of one shape (the last one written), or once over the whole arrays otherwise: a chain of
    in-place passes over a block stays in the L2 cache (1.2-1.4x faster than whole passes)."""
    if arrays[0].ndim and all(a.flags.c_contiguous for a in arrays):
        flat = [a.reshape(-1) for a in arrays]
        for start in range(0, flat[0].size, _GELU_BLOCK):
            kernel(*(a[start:start + _GELU_BLOCK] for a in flat))
    else:
        kernel(*arrays)


def _x_sigmoid(x, coefficients, plus_one: bool = False):
    """(x * sigmoid(v), z = exp(-v)) for v = x P(x^2), P's coefficients lowest first, in x's
    dtype; ``plus_one``: z = 1 + exp(-v), the divisor (what GELU's backward needs: one pass
    fewer there, none more here). Blocks of squares, Horner's rule and exp in reused buffers,
    written straight into the two results (no temporaries of x's size)."""
    if not x.flags.c_contiguous and x.ndim > 1:  # (channels-last...): in x's memory order
        axes = np.argsort([-s for s in x.strides], kind="stable")
        if x.transpose(axes).flags.c_contiguous:
            back = np.argsort(axes)
            y, z = _x_sigmoid(x.transpose(axes), coefficients, plus_one)
            return y.transpose(back), z.transpose(back)
    flat = x.reshape(-1)
    y, z = np.empty_like(flat), np.empty_like(flat)
    n = min(_GELU_BLOCK, flat.size)
    square, poly = np.empty(n, dtype=x.dtype), np.empty(n, dtype=x.dtype)
    negated = [x.dtype.type(-c) for c in coefficients]  # Horner gives -v for exp directly
    one = x.dtype.type(1)
    with np.errstate(over="ignore"):  # exp(-v) = inf for x << 0 gives y = x / inf = -0
        for start in range(0, flat.size, _GELU_BLOCK):
            xb = flat[start:start + _GELU_BLOCK]
            sb, pb, zb = square[:xb.size], poly[:xb.size], z[start:start + _GELU_BLOCK]
            _x_times_even_polynomial(xb, negated, sb, pb)
            np.exp(pb, out=zb)
            if plus_one:
                zb += one
                pb = zb
            else:
                np.add(zb, one, out=pb)
            np.divide(xb, pb, out=y[start:start + _GELU_BLOCK])
    return y.reshape(x.shape), z.reshape(x.shape)


def _x_sigmoid_grad(x, z, grad_output, coefficients=None):
    """grad_output * d/dx (x sigmoid(v)) from x and z: with coefficients (of v / x in x^2, as
    _x_sigmoid's; z = exp(-v)) g (s + x s (1 - s) v'), s = sigmoid(v); without them (z =
    1 + exp(-v), _x_sigmoid's plus_one) GELU's exact g (s + x phi(x)), phi the standard normal
    density. Blocks, as _x_sigmoid."""
    flat, z = x.reshape(-1), z.reshape(-1)
    g = np.broadcast_to(grad_output, x.shape).reshape(-1)
    grad = np.empty_like(flat)
    n = min(_GELU_BLOCK, flat.size)
    square, term, sig = (np.empty(n, dtype=x.dtype) for _ in range(3))
    t = x.dtype.type
    if coefficients is not None:  # v'(x) = sum (2k + 1) c_k x^2k
        derivative = [t((2 * k + 1) * c) for k, c in enumerate(coefficients)]
    with np.errstate(over="ignore", divide="ignore"):  # x^2 = inf: phi = 0; 1 / (z = 0) = inf
        for start in range(0, flat.size, _GELU_BLOCK):
            xb = flat[start:start + _GELU_BLOCK]
            qb, tb, sb = square[:xb.size], term[:xb.size], sig[:xb.size]
            zb = z[start:start + _GELU_BLOCK]
            if coefficients is None:  # s = 1 / z
                np.reciprocal(zb, out=sb)
            else:
                np.add(zb, t(1), out=sb)
                np.reciprocal(sb, out=sb)
            if coefficients is None:  # x phi(x) = x exp(-x^2 / 2 - log(sqrt(2 pi)))
                np.multiply(xb, xb, out=qb)
                np.multiply(qb, t(-0.5), out=tb)
                tb += t(-0.5 * math.log(2 * math.pi))
                np.exp(tb, out=tb)
                tb *= xb
            else:  # x s (1 - s) v'(x)
                _x_times_even_polynomial(xb, derivative, qb, tb)
                tb *= sb
                np.reciprocal(zb, out=qb)  # 1 - s = 1 / (1 + exp(v)): no cancellation near s = 1,
                qb += t(1)  # and no inf * 0 where exp(-v) overflowed (z s would give that)
                np.reciprocal(qb, out=qb)
                tb *= qb
            tb += sb
            np.multiply(tb, g[start:start + _GELU_BLOCK], out=grad[start:start + _GELU_BLOCK])
    return grad.reshape(x.shape)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class GELU(Op):
    """y = x * Phi(x) with Phi the standard normal CDF (PyTorch's exact GELU);
    dx = g * (Phi(x) + x * phi(x)). float32 takes Phi = sigmoid(x P(x^2)), to 1.3e-7."""

    float8_kernel = "GeluKernelImpl"  # torch's refusal of float8 (amp/dtypes.py)
    saves = (0,)  # read by backward (in-place checks, Op.saves)
    unpacked_rebuilds = ("z", "cdf")  # (saved_tensors_hooks: made again from the unpacked x)

    def forward(self, x):
        self.x = x
        if x.dtype == np.float32:
            y, self.z = _x_sigmoid(x, _LOGIT_PHI, plus_one=True)  # z = 1 + exp(-v)
            return y
        self.z = None
        erf = _erf(x / math.sqrt(2.0))  # float64 whatever x's dtype, as math.erf was
        self.cdf = (0.5 * (1.0 + erf)).astype(x.dtype, copy=False)
        return np.multiply(x, self.cdf, out=np.empty_like(x))  # (in x's memory order)

    def use_unpacked(self, what, array):
        if what == 0:  # forward's z (float32) or cdf again, from what unpack gave
            self.forward(array)

    def backward(self, grad_output):
        x = self.x
        if self.z is not None:
            return (_x_sigmoid_grad(x, self.z, grad_output),)
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


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class GELUTanh(Op):
    """PyTorch's GELU(approximate="tanh"): y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715
    x^3); dx = g (1/2 (1 + t) + x/2 (1 - t^2) du/dx), t = tanh(u). Computed as x sigmoid(2u)
    (the same function) for float32 and float64."""

    float8_kernel = "GeluKernelImpl"  # torch's refusal of float8 (amp/dtypes.py)
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        if x.dtype in (np.float32, np.float64):
            y, self.z = _x_sigmoid(x, _LOGIT_TANH)
            return y
        self.z = None
        c = np.asarray(_TANH_C, dtype=x.dtype)
        self.t = np.tanh(c * (x + np.asarray(0.044715, dtype=x.dtype) * x * x * x))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, grad_output):
        x = self.x
        if self.z is not None:
            return (_x_sigmoid_grad(x, self.z, grad_output, _LOGIT_TANH),)
        t = self.t
        du = _TANH_C * (1.0 + 3 * 0.044715 * x * x)
        return ((grad_output * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du))
                .astype(x.dtype, copy=False),)

    def backward_graph(self, grad_output, output):
        (x,), c = self.inputs, _TANH_C
        t = ((x + x * x * x * 0.044715) * c).tanh()
        du = (x * x * (3 * 0.044715) + 1) * c
        return (grad_output * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * du),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class SiLU(Op):
    """y = x * sigmoid(x);  dx = g * s * (1 + x * (1 - s)), s = sigmoid(x). No overflow."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        if x.dtype.kind != "f":
            self.x, self.s = x, _sigmoid(x)
            return x * self.s

        def kernel(xb, sb, yb):  # s and y in blocks: 1.1x faster than whole passes
            np.multiply(xb, _sigmoid_into(xb, sb), out=yb)

        self.x, self.s, y = x, np.empty_like(x), np.empty_like(x)
        with np.errstate(over="ignore"):
            _in_blocks(kernel, x, self.s, y)
        return y

    def backward(self, grad_output):
        s, x = self.s, self.x
        if s.dtype.kind != "f" or np.result_type(grad_output, s) != s.dtype \
                or np.shape(grad_output) != s.shape:
            return (grad_output * s * (1 + x * (1 - s)),)
        one = s.dtype.type(1)

        def kernel(sb, xb, gb, out):  # in place: one array, not five
            np.subtract(one, sb, out=out)
            out *= xb
            out += one
            out *= sb
            out *= gb

        grad = np.empty_like(s)
        _in_blocks(kernel, s, x, grad_output, grad)
        return (grad,)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        s = x.sigmoid()
        return (grad_output * s * (1 + x * (1 - s)),)


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _times_slope(x, slope):
    """x * slope; float16/bfloat16 x by a float32 slope, rounded once, as torch's kernel."""
    if x.dtype.itemsize == 2 and x.dtype.kind in "fV":
        return (x.astype(np.float32) * slope).astype(x.dtype)
    return x * slope


@follows_inputs
class LeakyReLU(Op):
    """y = x if x > 0 else slope * x;  dx = g if x > 0 else slope * g (slope at 0, as PyTorch)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)
    result = None  # leaky_relu_'s node (LeakyReluBackward1): its result (activation_inplace)

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            check_float8("leaky_relu_cpu", x)
        self.mask = x > 0
        if x.ndim and x.dtype in _BLAS_FLOATS and 0 < self.negative_slope <= 1:
            # max(x, slope x) is the same values (NaN, inf and -0.0 too; slope 0 would make
            # inf * 0 NaN), with no branch on the mask: np.where on a random mask ran 14x
            # slower (DCGAN's (64, 32, 16, 16))
            y = np.multiply(x, self.negative_slope)
            return np.maximum(y, x, out=y)
        return np.where(self.mask, x, _times_slope(x, self.negative_slope))

    def backward(self, grad_output):
        if self.result is not None:  # (its mask is the result's sign, but for a negative slope)
            refuse_negative_in_place_slope("leakyReLu", self.negative_slope)
        if grad_output.dtype in _BLAS_FLOATS and grad_output.ndim:
            # g times the factor (slope, 1)[mask], a lookup: 4x faster than np.where's branches
            factors = np.array([self.negative_slope, 1], dtype=grad_output.dtype)
            grad = np.take(factors, self.mask.view(np.uint8))
            grad *= grad_output
            return (grad,)
        return (np.where(self.mask, grad_output, _times_slope(grad_output, self.negative_slope)),)

    def backward_graph(self, grad_output, output):
        if self.result is not None:  # (create_graph too, as torch's)
            refuse_negative_in_place_slope("leakyReLu", self.negative_slope)
        slope = np.where(self.mask, 1.0, self.negative_slope)
        return (slope_grad(grad_output, slope, self.inputs[0], "LeakyReluBackwardBackward0"),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class ELU(Op):
    """y = x if x > 0 else alpha * (exp(x) - 1);  dx = g if x > 0 else alpha * exp(x) * g
    (alpha at 0, as PyTorch)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)
    result = None  # elu_'s node (EluBackward1): its result, the slope's source, as torch's

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, grad_output):
        if self.result is not None:  # g (y + alpha) where y <= 0: the rounded y of float16
            refuse_negative_in_place_slope("elu", self.alpha)  # and bfloat16, as torch's
            y = self.result.astype(grad_output.dtype, copy=False)
            return (np.where(y > 0, grad_output, grad_output * (y + self.alpha)),)
        x = self.x
        return (np.where(x > 0, grad_output, grad_output * self.alpha * np.exp(np.minimum(x, 0))),)

    def backward_graph(self, grad_output, output):
        if self.result is not None:  # (create_graph too, as torch's)
            refuse_negative_in_place_slope("elu", self.alpha)
        # alpha exp(x) = y + alpha where x < 0: no exp of a large x to overflow; at x = 0
        x = self.inputs[0].data  # the slope alpha without a second derivative (torch's x < 0)
        return (grad_output * where(x > 0, 1.0, where(x == 0, float(self.alpha),
                                                       output + self.alpha)),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Softplus(Op):
    """y = log(1 + exp(beta x)) / beta, or x where beta x > threshold (PyTorch's linear region);
    dx = g * sigmoid(beta x), or g there. log1p(exp(-|z|)) + max(z, 0): no overflow at any x."""

    float8_kernel = "softplus_cpu"  # torch's refusal of float8 (amp/dtypes.py)
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        z = x * self.beta
        self.z = z
        soft = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        if self.beta == 0:  # log(2) / 0: inf, as torch's (no numpy warning; numpy's 0-d
            soft = np.full_like(z, np.inf)  # result is a scalar: no soft[...] = inf)
        else:
            soft /= self.beta
        return np.where(z > self.threshold, x, soft)

    def backward(self, grad_output):
        z = self.z
        return (np.where(z > self.threshold, grad_output, grad_output * _sigmoid(z)),)

    def backward_graph(self, grad_output, output):
        # differentiable only where beta x < threshold: at beta x = threshold the slope is
        # sigmoid(beta x) but its derivative 0, as torch's softplus_double_backward
        z, threshold = self.z, self.threshold
        fixed = np.where(z > threshold, 1.0, _sigmoid(z)).astype(z.dtype, copy=False)
        return (grad_output * where(z < threshold, (self.inputs[0] * self.beta).sigmoid(), fixed),)


@follows_inputs
class Clamp(Op):
    """y = min(max(x, low), high), a bound of None left out;  dx = g where low <= x <= high
    (PyTorch's clamp: a value at a bound passes the gradient), or low < x < high with
    ``open_bounds`` (PyTorch's hardtanh). low > high gives high everywhere and no gradient.
    Forward is one np.clip, no mask: inference and no_grad pay for none, and backward makes it
    from x (alive as the op's input anyway) with one bool array, not two."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, low, high, open_bounds=False):
        self.low, self.high, self.open_bounds = low, high, open_bounds

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            check_float8("clamp_scalar_cpu" if self.low is not None and self.high is not None
                         else "clamp_min_scalar_cpu" if self.low is not None
                         else "clamp_max_scalar_cpu", x)
        self.x = x
        y = np.clip(x, self.low, self.high)
        # numpy widens bfloat16 (an ml_dtypes dtype) when both bounds are given; torch keeps it
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def _mask(self):
        """Where the gradient passes: a bool array, or None for everywhere."""
        low, high, x = self.low, self.high, self.x
        mask = None
        if low is not None:
            mask = np.greater(x, low) if self.open_bounds else np.greater_equal(x, low)
        if high is not None:
            below = np.less(x, high) if self.open_bounds else np.less_equal(x, high)
            if mask is None:
                mask = below
            elif isinstance(mask, np.ndarray):
                mask &= below
            else:  # a 0-d x: numpy's bools
                mask = mask & below
        return mask

    def backward(self, grad_output):
        mask = self._mask()
        return (grad_output.copy() if mask is None else
                dropped_as_zeros(grad_output * mask, mask),)

    def backward_graph(self, grad_output, output):
        mask = self._mask()
        if mask is None:
            return (grad_output,)
        if self.open_bounds:  # hardtanh: tied to x, as torch's hardtanh_backward
            return (slope_grad(grad_output, mask, self.inputs[0], "HardtanhBackwardBackward0"),)
        from dlpy.ops.mask import where

        # clamp: torch's where(mask, g, 0) (WhereBackward0; an inf g dropped gives 0)
        return (where(Tensor(mask), grad_output, 0.0),)


def refuse_negative_in_place_slope(name: str, slope: float) -> None:
    """torch's refusal to differentiate an in-place elu/celu/leaky_relu (whose node reads the
    result) with a negative alpha or slope: its result's sign no longer tells x's."""
    if slope < 0:
        raise ArgError(f"In-place {name} backward calculation is triggered with a negative slope "
                       "which is not supported. This is caused by calling in-place forward "
                       "function with a negative slope, please call out-of-place version "
                       "instead.")


def relu(x, inplace=False):
    """max(x, 0); in place with ``inplace=True`` (``relu_``)."""
    if inplace:
        from dlpy.ops.activation_inplace import relu_

        return relu_(x)
    return ReLU()(x)


def sigmoid(input):
    return Sigmoid()(_promotion.floating(input))


def tanh(input):
    return Tanh()(_promotion.floating(input))


def floating_only(name: str, x, kinds: str = "biu") -> None:
    """torch's refusal of integer and bool input (``kinds``) to a floating-point activation."""
    kind = getattr(getattr(x, "dtype", None), "kind", "f")
    if kind in kinds:
        raise NoKernelError(f"{name}: expected a floating-point input, got {x.dtype}, as torch's")


def gelu(x, approximate: str = "none"):
    """x * Phi(x) (``approximate="none"``, exact) or PyTorch's tanh approximation
    (``approximate="tanh"``, GPT-2's)."""
    floating_only("gelu", x)
    if approximate == "none":
        return GELU()(x)
    if approximate == "tanh":
        return GELUTanh()(x)
    raise ArgError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x, inplace=False):
    """x * sigmoid(x) (also called swish); in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import silu_

        return silu_(x)
    floating_only("silu", x)
    if isinstance(x, Tensor) and x.data.dtype.kind == "c":  # torch's complex silu, forward only
        if x.requires_grad and is_grad_enabled():
            raise RuntimeError("silu does not support automatic differentiation for outputs "
                               "with complex dtype (as torch's)")
        return x * sigmoid(x)
    return SiLU()(x)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope x; in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import leaky_relu_

        return leaky_relu_(input, negative_slope)
    floating_only("leaky_relu", input)
    return LeakyReLU(real_number("leaky_relu", "negative_slope", negative_slope))(input)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha (exp(x) - 1); in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import elu_

        return elu_(input, alpha)
    floating_only("elu", input)
    return ELU(real_number("elu", "alpha", alpha))(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta; x itself where beta x > threshold, as PyTorch."""
    floating_only("softplus", input)
    beta = real_number("softplus", "beta", beta)  # 0 gives inf, as torch
    return Softplus(beta, real_number("softplus", "threshold", threshold, finite=False))(input)


def clamp(input, min=None, max=None):  # noqa: A002 - PyTorch's names
    """x limited to [min, max] (either may be None); the gradient passes where
    min <= x <= max, bounds included, as torch.clamp."""
    from dlpy.ops.pointwise import _tensors

    _tensors("clamp", input, None)
    if min is None and max is None:
        raise ArgError("clamp: at least one of min and max must be given")
    from dlpy.ops.complex import refuse

    refuse("clamp", input)  # before reading the bounds: a complex one is no error of its own
    for bound in (min, max):  # torch's maximum/minimum have no complex kernel
        if isinstance(bound, (complex, np.complexfloating)) or (
                isinstance(bound, Tensor) and bound.data.dtype.kind == "c"):
            from dlpy.ops import NoKernelError

            raise NoKernelError(f"clamp: a complex bound ({bound!r}) is not supported (complex "
                                "numbers have no order), as torch")
    if (isinstance(min, Tensor) and max is not None and not isinstance(max, Tensor)
            or isinstance(max, Tensor) and min is not None and not isinstance(min, Tensor)):
        bound = min if isinstance(min, Tensor) else max
        if bound.ndim or bound.requires_grad:  # (torch's parser reads a 0-d one as a number)
            raise TypeError("clamp: expected both bounds Tensors or both numbers, got "
                            f"{type(min).__name__} and {type(max).__name__}, as torch")
        # both numbers then: the dtype is x's (a uint8 x with a 0-d int64 bound stays uint8),
        # a bound x's dtype cannot hold an overflow
        min, max = (b.item() if isinstance(b, Tensor) else b for b in (min, max))
    if any(isinstance(b, (Tensor, np.ndarray)) and (isinstance(b, Tensor) or np.ndim(b))
           or isinstance(b, float) and b != b for b in (min, max)):  # (a nan bound: nan)
        numbers = not any(isinstance(b, (Tensor, np.ndarray)) for b in (min, max))
        out = _clamp_by_tensors(input, min, max)
        if numbers and out.op is not None:  # (torch's node of clamp(Tensor, Scalar, Scalar))
            from dlpy.node_names import rename

            rename(out.op, "ClampBackward1")
        return out
    # a bool bound counts as an integer, as torch's
    low = None if min is None else real_number(
        "clamp", "min", int(min) if isinstance(min, (bool, np.bool_)) else min, finite=False)
    high = None if max is None else real_number(
        "clamp", "max", int(max) if isinstance(max, (bool, np.bool_)) else max, finite=False)
    dtype = getattr(getattr(input, "data", None), "dtype", np.dtype(float))
    if dtype.kind in "biu":
        # torch's promotion: int bounds keep an integer tensor's dtype (a bool tensor's:
        # int64), a float bound makes the result the default float dtype
        if all(bound is None or isinstance(bound, (int, np.integer)) for bound in (min, max)):
            if dtype.kind == "b":
                if all(bound is None or isinstance(bound, (bool, np.bool_))
                       for bound in (min, max)):
                    raise NotImplementedError("clamp: not implemented for bool tensors with "
                                              "bool bounds, as torch")
                input, dtype = input.to(np.int64), np.dtype(np.int64)
            low = None if min is None else _integer_bound(dtype, int(min))
            high = None if max is None else _integer_bound(dtype, int(max))
        else:
            from dlpy.tensor import default_dtype

            input = input.to(default_dtype())
    elif dtype.kind == "f" and dtype.itemsize <= 4:  # torch: a bound the dtype cannot hold
        limit = float(np.finfo(dtype).max)
        for bound in (low, high):
            if bound is not None and limit < abs(bound) < math.inf:
                raise RuntimeError(f"clamp: value {bound:g} cannot be converted to type "
                                   f"{dtype} without overflow, as torch")
    return Clamp(low, high)(input)


def _integer_bound(dtype: np.dtype, bound: int) -> int:
    """An integer bound as torch converts it to an integer tensor's dtype: refused outside
    the dtype's range; a negative one for an unsigned dtype wraps (down to -max, as torch's
    checked conversion)."""
    info = np.iinfo(dtype)
    if bound > info.max or bound < (-info.max if info.min == 0 else info.min):
        raise RuntimeError(f"clamp: value {bound} cannot be converted to type {dtype} without "
                           "overflow, as torch")
    return bound % (info.max + 1) if bound < 0 and info.min == 0 else bound


def _clamp_by_tensors(x, min, max):  # noqa: A002 - PyTorch's names
    """torch.clamp with tensor bounds (broadcast): max where x > max, else min where x < min,
    else x (so min > max gives max, as torch's); the gradient goes to x where it is kept,
    and to a bound where it is taken (where's: to x at a tie, as torch's); the operands in
    torch's promoted dtype."""
    operands = [x] + [b for b in (min, max) if b is not None]
    shapes = [np.shape(_values(b)) for b in operands]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ArgError(f"clamp: the input and the bounds of shapes {shapes} cannot be "
                       "broadcast together") from None
    dtype = _promotion.result_type(*operands)
    if dtype.kind == "b" and min is not None and max is not None:  # (one bound: torch's
        raise NotImplementedError("\"clamp_cpu\" not implemented for 'Bool', as torch")  # max)
    operands = _promotion.promote(*operands, dtype=dtype)
    out = operands[0]
    rest = iter(operands[1:])
    low = None if min is None else next(rest)
    high = None if max is None else next(rest)
    x, xv = out, _values(out)
    lv = None if low is None else _values(low)
    hv = None if high is None else _values(high)
    floating = xv.dtype.kind in "fc" or is_floating_dtype(xv.dtype)
    # the values: a nan x or bound gives nan, max wins over a larger min (as torch's kernel)
    value = xv
    if low is not None:
        value = np.where((value < lv) | np.isnan(lv) if floating else value < lv, lv, value)
    if high is not None:
        value = np.where((value > hv) | np.isnan(hv) if floating else value > hv, hv, value)
    # the gradient as torch's clamp_backward(_min_max): to x where lo <= x <= hi, to lo where
    # x < lo < hi, to hi where x > hi or hi < lo; to none of them at a nan or at x < lo == hi
    keep = np.ones(xv.shape, bool) if low is None else xv >= lv
    if high is not None:
        keep = keep & (xv <= hv)

    def laid(mask):  # where's order is its mask's: torch's one kernel's over x and the bounds
        return laid_as_inputs(mask, xv, lv, hv)

    out = where(laid(keep), x, np.asarray(value))
    if low is not None:
        out = where(laid((xv < lv) & (lv < hv) if high is not None else xv < lv), low, out)
    if high is not None:
        out = where(laid((xv > hv) | (hv < lv) if low is not None else xv > hv), high, out)
    if floating and np.isnan(value).any():  # nan kept where hi < lo picked hi's gradient
        np.copyto(out.data, value)
    if out.op is not None:
        from dlpy.node_names import rename

        rename(out.op, "ClampBackward0")  # torch's node of clamp(Tensor, Tensor)
    return out


def _values(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x limited to [min_val, max_val]; the gradient passes only strictly inside, as PyTorch;
    in place with ``inplace=True``."""
    low = real_number("hardtanh", "min_val", min_val, finite=False)
    high = real_number("hardtanh", "max_val", max_val, finite=False)
    if low > high:
        raise ValueError(f"hardtanh: min_val ({low}) must not exceed max_val ({high})")
    if inplace:
        from dlpy.ops.activation_inplace import hardtanh_

        return hardtanh_(input, min_val, max_val)
    low, high = hardtanh_bounds("hardtanh", input, low, high)
    return Clamp(low, high, open_bounds=True)(input)


def hardtanh_unordered(input, min_val=-1.0, max_val=1.0):
    """hardtanh without the min_val <= max_val check, as torch's hardtanh_ (which has none):
    min_val > max_val gives max_val everywhere, and no gradient."""
    low = real_number("hardtanh", "min_val", min_val, finite=False)
    high = real_number("hardtanh", "max_val", max_val, finite=False)
    low, high = hardtanh_bounds("hardtanh", input, low, high)
    return Clamp(low, high, open_bounds=True)(input)


def hardtanh_bounds(name, x, low, high):
    """hardtanh's bounds for x: an integer x keeps its dtype, the bounds truncated to integers,
    as torch's; a bool x is refused, as torch's."""
    kind = (x.data if isinstance(x, Tensor) else np.asarray(x)).dtype.kind
    if kind == "b":
        raise ArgDtypeError(f"{name}: bool inputs are not supported, as torch's")
    if kind in "iu":
        bounds = tuple(int(v) if np.isfinite(v) else None for v in (low, high))
        if kind == "u" and any(v is not None and v < 0 for v in bounds):
            raise ArgError(f"{name}: cannot do hardtanh on an unsigned type with negative "
                           f"limits {bounds}, as torch's")
        return bounds
    return low, high
