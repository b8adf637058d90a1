"""Element-wise arithmetic with numpy broadcasting. Gradients are returned at the broadcast shape;
the engine sums them back to each input's shape."""

import math

import numpy as np

from dlpy.amp.dtypes import refuse_float8
from dlpy.layouts import follows_inputs
from dlpy.ops import ArgError, norm
from dlpy.ops import complex as _complex
from dlpy.ops import promotion as _promotion
from dlpy.tensor import (
    Op,
    ShapeError,
    Tensor,
    as_array,
    default_dtype,
    is_floating_dtype,
    narrow_float,
)


class Identity(Op):
    """y = x;  dx = g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return (grad_output,)

    def backward_graph(self, grad_output, output):
        return (grad_output,)


class Valued(Identity):
    """y = the given values, dx = g: a recorded formula (x) that carries the derivatives, with
    the values of an exact computation of the same thing (a low-precision backward's roundings
    kept under create_graph)."""

    def __init__(self, values: np.ndarray):
        self.values = values

    def forward(self, x):
        return self.values.astype(x.dtype, copy=False)


@follows_inputs
class Add(Op):
    """y = a + b;  da = g, db = g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, a, b):
        if a.itemsize == 1 or b.itemsize == 1:  # float8: torch refuses
            refuse_float8("add_stub", a, b)
        return a + b

    def backward(self, grad_output):
        return grad_output, grad_output

    def backward_graph(self, grad_output, output):
        return grad_output, grad_output


@follows_inputs
class Sub(Op):
    """y = a - b;  da = g, db = -g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, a, b):
        if a.itemsize == 1 or b.itemsize == 1:  # float8: torch refuses
            if a.dtype.kind == "b" or b.dtype.kind == "b":
                raise RuntimeError(_BOOL_SUB)
            refuse_float8("add_stub", a, b)
        return a - b

    def backward(self, grad_output):
        return grad_output, -grad_output

    def backward_graph(self, grad_output, output):
        return grad_output, -grad_output


class ScaledAdd(Add):
    """y = a + alpha * b (torch.add's alpha, one node as torch's);  da = g, db = alpha * g."""

    complex_ok = False

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, a, b):
        if a.itemsize == 2:  # float16/bfloat16: torch's float32 a + alpha * b rounded once
            return _half_alpha(a, b, self.alpha)
        return a + self.alpha * b

    def backward(self, grad_output):
        if grad_output.itemsize == 2:  # float16/bfloat16: torch's float32 g * alpha, rounded
            return grad_output, _half_scaled(grad_output, self.alpha)
        return grad_output, grad_output * self.alpha

    def backward_graph(self, grad_output, output):
        return grad_output, grad_output * self.alpha


class ScaledSub(Sub):
    """y = a - alpha * b (torch.sub's alpha);  da = g, db = -alpha * g."""

    complex_ok = False

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, a, b):
        if a.itemsize == 2:  # float16/bfloat16: torch's float32 a - alpha * b rounded once
            return _half_alpha(a, b, -self.alpha)
        return a - self.alpha * b

    def backward(self, grad_output):
        if grad_output.itemsize == 2:  # float16/bfloat16: torch's float32 g * alpha, rounded
            return grad_output, _half_scaled(grad_output, -self.alpha)
        return grad_output, grad_output * -self.alpha

    def backward_graph(self, grad_output, output):
        return grad_output, grad_output * -self.alpha


def _half_alpha(a, b, alpha):
    """a + alpha * b for float16/bfloat16 arrays as torch's CPU kernel: alpha rounded to their
    dtype, the sum computed in float32 and rounded once."""
    dtype = a.dtype
    alpha = np.float32(np.asarray(alpha, dtype=dtype))
    return (a.astype(np.float32) + alpha * b.astype(np.float32)).astype(dtype)


def _half_scaled(g, alpha):
    """g * alpha for a float16/bfloat16 g: in float32, rounded once."""
    return (g.astype(np.float32) * np.float32(alpha)).astype(g.dtype)


def _one_node_alpha(a, b, alpha) -> bool:
    """whether a +/- alpha * b can be one scaled node: two float tensors of one dtype, a real
    number alpha (anything else keeps the checks and promotion of _scaled)"""
    return (type(a) is Tensor and type(b) is Tensor and a.data.dtype == b.data.dtype
            and (a.data.dtype.kind == "f" or a.data.dtype.name == "bfloat16")
            and type(alpha) in (int, float))


@follows_inputs
class Mul(Op):
    """y = a * b;  da = g * b, db = g * a."""

    complex_ok = "holomorphic"
    saves = ((1, 0), (0, 1))  # read by backward (in-place checks, Op.saves)

    def forward(self, a, b):
        if a.itemsize == 1 or b.itemsize == 1:  # float8: torch's, of one dtype only
            refuse_float8(None if a.dtype == b.dtype else "mul_cpu_reduced_float", a, b)
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_output):
        if grad_output.size >= _REDUCED_MIN_SIZE and self.a.shape != self.b.shape:
            # a broadcast input (squeeze-excitation's (N, C, 1, 1) scale): its gradient summed
            # without the full-size product where _product_sums can
            a, b = self.a, self.b
            return (_product_sums(grad_output, b, a.shape) if self.inputs[0].requires_grad
                    else None,
                    _product_sums(grad_output, a, b.shape) if self.inputs[1].requires_grad
                    else None)
        a_grad = grad_output * self.b if self.inputs[0].requires_grad else None
        b_grad = grad_output * self.a if self.inputs[1].requires_grad else None
        return a_grad, b_grad

    def backward_graph(self, grad_output, output):
        a, b = self.inputs
        return (grad_output * b if a.requires_grad else None,
                grad_output * a if b.requires_grad else None)


# Mul's summed gradients: from this many gradient elements, each output (at least this many
# products summed) is an einsum dot product rather than a product array and its sum
_REDUCED_MIN_SIZE = 4096
_REDUCED_MIN_LENGTH = 16


def _product_sums(grad_output, other, shape):
    """g * other (both of g's shape) summed to ``shape`` (the engine's sum_to_shape) without the
    product array where the summed axes are trailing ((N, C, 1, 1): one dot product per leading
    index) or all but axis 1 of g (N, C, ...) ((C, 1, 1): norm's _channel_dots); elsewhere, and
    for other dtypes or a short sum, the product, which the engine sums."""
    if (other.shape != grad_output.shape or grad_output.dtype != other.dtype
            or grad_output.dtype not in norm._BLAS_TYPES or shape == grad_output.shape):
        return grad_output * other
    ndim = grad_output.ndim
    padded = (1,) * (ndim - len(shape)) + tuple(shape)
    kept = ndim
    while kept and padded[kept - 1] == 1:  # the trailing summed axes
        kept -= 1
    rows = math.prod(padded[:kept])
    if padded[:kept] == grad_output.shape[:kept] and grad_output.size >= _REDUCED_MIN_LENGTH * rows:
        return np.einsum("ml,ml->m", grad_output.reshape(rows, -1),
                         other.reshape(rows, -1)).reshape(shape)
    if (ndim >= 3 and padded[1] == grad_output.shape[1] and padded.count(1) == ndim - 1
            and grad_output.size >= _REDUCED_MIN_LENGTH * padded[1]):
        return norm._channel_dots(grad_output, other).reshape(shape)
    return grad_output * other


@follows_inputs
class Div(Op):
    """y = a / b;  da = g / b, db = -g * y / b."""

    complex_ok = "holomorphic"
    # read by backward (in-place checks, Op.saves), in torch's order: other, then self when
    # other requires grad (torch's node saves these, not the result)
    saves = (1, (0, 1))

    def forward(self, a, b):
        if a.itemsize == 1 or b.itemsize == 1:  # float8: torch refuses
            refuse_float8("div_cpu", a, b)
        self.a, self.b = a, b
        return a / b

    def backward(self, grad_output):
        a_grad = grad_output / self.b
        if not self.inputs[1].requires_grad:
            b_grad = None
        else:
            # torch's order of roundings, -g * (y / b): -(g / b) * y overflows or underflows
            # where it does not (g / b past float max while y / b is small)
            b_grad = -(grad_output * (self.quotient() / self.b))
        return a_grad if self.inputs[0].requires_grad else None, b_grad

    def quotient(self) -> np.ndarray:
        """a / b again, for other's gradient (torch's node keeps the operands, not it)."""
        return self.a / self.b

    def backward_graph(self, grad_output, output):
        b = self.inputs[1]
        return (grad_output / b,
                -grad_output * (output / b) if b.requires_grad else None)  # as backward's


class HalfScalarMul(Mul):
    """y = a * b for a float16/bfloat16 array and a float32 constant (a number): the float32
    product rounded once to ``dtype``, as torch's CPU kernel (the gradient g * b, float32
    too, is rounded once by the engine)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, a, b):
        self.a, self.b = a, b
        return (a * b).astype(self.dtype)


class HalfScalarDiv(Div):
    """y = a / b for a float16/bfloat16 array and a float32 constant (a number), either side:
    the float32 quotient rounded once to ``dtype``, as torch's CPU kernel."""

    saves = (1, ("output", 1))  # read by backward (in-place checks, Op.saves)

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, a, b):
        self.b = b
        self.y = (a / b).astype(self.dtype)
        return self.y

    def quotient(self) -> np.ndarray:
        """the rounded quotient, as torch's kernel gave it"""
        return self.y


@follows_inputs
class Neg(Op):
    """y = -x;  dx = -g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses; bool too
            if x.dtype == np.bool_:
                raise RuntimeError("Negation, the `-` operator, on a bool tensor is not "
                                   "supported. If you are trying to invert a mask, use the `~` "
                                   "or `logical_not()` operator instead.")
            refuse_float8("neg_cpu", x)
        return -x

    def backward(self, grad_output):
        return (-grad_output,)

    def backward_graph(self, grad_output, output):
        return (-grad_output,)


def integer_power(x: np.ndarray, p):
    """x ** p, by multiplication for a float32/float64 x and some integer p (numpy's power calls
    pow per element there: 60-120 ns each). p = 3 and -2 as PyTorch's CPU kernel, (x * x) * x
    and 1 / (x * x) in x's dtype, so equal to torch's; other |p| <= 16 for float32: repeated
    squaring in float64, rounded once (numpy's float64 power rounded to float32, where torch's
    1-ulp pow is 1 ulp off in ~2% of values). The rest is numpy's power: fast for 2, -1 and
    0.5, exact for 0 and 1, correctly rounded for float64 (squaring would add p/2 ulp)."""
    if x.dtype not in (np.float32, np.float64) or not x.ndim or type(p) not in (int, float) \
            or not float(p).is_integer() or not -16 <= p <= 16 or p in (0, 1, 2, -1):
        return x**p
    p = int(p)
    if p == 3:
        return x * x * x
    if p == -2:
        with np.errstate(divide="ignore"):  # 1 / 0 = inf, as torch
            return np.reciprocal(x * x)
    if x.dtype == np.float64:
        return x**p
    with np.errstate(over="ignore", divide="ignore"):  # inf and 1 / 0: the true float32 values
        result = _power_by_squaring(x.astype(np.float64), -p if p < 0 else p)
        if p < 0:  # 1 / x^|p| in float64 overflows or underflows only where float32 x^p does
            np.reciprocal(result, out=result)
        return result.astype(np.float32)


def _power_by_squaring(base: np.ndarray, n: int) -> np.ndarray:
    """base ** n (n >= 2), written into base or a new array: base squared ~log2(n) times, the
    squares for n's set bits multiplied together."""
    result, square = None, base
    while True:
        if n & 1:
            if result is None:
                result = square
            else:
                np.multiply(result, square, out=result)
        n >>= 1
        if not n:
            return result
        square = square * square


def _half_pow_factor(x, p, power):
    """p * x ** (p - 1) for a float16/bfloat16 x as torch's pow backward rounds it: x ** -1
    squared for the reciprocal (p = -1: -(1 / x) * (1 / x)), else p times the rounded power,
    computed in float32 and rounded once."""
    if p == -1:
        with np.errstate(divide="ignore"):
            y = (1 / x).astype(x.dtype)
        return -(y * y)
    return (np.float32(p) * power.astype(np.float32)).astype(x.dtype)


def complex_scalar_power(x: np.ndarray, p) -> np.ndarray:
    """x ** p for a complex x and a Python number p, as PyTorch's CPU kernel: 1 a copy; 0.5,
    -0.5 and -1 by sqrt, 1 / sqrt and 1 / x (inf + nan j at 0, where numpy's power gives nan +
    nan j); 2, 3 and -2 by x * x, x * x * x and 1 / (x * x) (numpy's power rounds complex64
    differently); any other p but 0 by ops/complex.py's power (torch's exp(p log x) at a zero,
    infinite or nan x: inf + nan j at 0 for -1.6)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 1:  # x itself, as torch's (exp(log x) would turn inf + 1j into inf + nan j)
            return x.copy()
        if p == 0.5:
            return np.sqrt(x)
        if p == -0.5:
            return 1 / np.sqrt(x)
        if p == -1:
            return 1 / x
        if p == 2:
            return x * x
        if p == 3:
            return x * x * x
        if p == -2:
            return 1 / (x * x)
        if p != 0:  # (numpy's power gives nan + nan j at 0 for -1.6, +0 for 1.5)
            return _complex.power(x, p)
        return x**p


@follows_inputs
class Power(Op):
    """y = x ** p for a constant p;  dx = g * p * x ** (p - 1). A complex p (complex x only):
    torch's values at x = 0 (ops/complex.py's power)."""

    complex_ok = "holomorphic"
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, exponent: float | complex):
        self.exponent = exponent

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            refuse_float8("pow", x)
        self.x = x
        return integer_power(x, self.exponent)

    def complex_forward(self, x):
        self.x = x
        return complex_scalar_power(x, self.exponent)

    def backward(self, grad_output):
        p = self.exponent
        if p == 0:  # d/dx x**0 = 0 everywhere, also at x = 0 where x**-1 is inf
            return (np.zeros_like(grad_output),)
        if self.x.dtype.kind == "c":  # (p * x ** (p - 1)), x ** (p - 1) as torch's forward
            return (grad_output * p * complex_scalar_power(self.x, p - 1),)
        power = integer_power(self.x, p - 1)
        if self.x.itemsize == 2 and self.x.dtype.kind in "fV":  # float16/bfloat16: torch's
            return (grad_output * _half_pow_factor(self.x, p, power),)  # roundings
        return (grad_output * (p * power).astype(self.x.dtype, copy=False),)

    def backward_graph(self, grad_output, output):
        p, (x,) = self.exponent, self.inputs
        if p == 0:
            return (Tensor(np.zeros_like(grad_output.data)),)
        return (grad_output * (x ** (p - 1) * p),)


class Reciprocal(Power):
    """y = 1 / x for a float32/float64 x (Power at p = -1), whose backward reads its result
    as torch's ReciprocalBackward0: dx = -g * y * y (saved_tensors_hooks pack the result)."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def __init__(self):
        super().__init__(-1.0)

    def forward(self, x):
        self.y = integer_power(x, -1.0)
        return self.y

    def backward(self, grad_output):
        y = self.y
        return (-(grad_output * (y * y)).astype(y.dtype, copy=False),)


class Rsqrt(Power):
    """y = 1 / sqrt(x) for a float32/float64 x (Power at p = -0.5), as torch's kernel bit for
    bit (numpy's x ** -0.5 is 1 ulp off for about a quarter of floats; it also gave 0 at -inf
    and inf at -0.0, torch nan and -inf); backward reads its result as torch's
    RsqrtBackward0: dx = -g * y ** 3 / 2 (x may change in place after)."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def __init__(self):
        super().__init__(-0.5)

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            if x.itemsize == 2:  # float16/bfloat16: in float32, rounded once (torch's
                # vectorized loop, 32 elements a step); the last n % 32 (torch's scalar loop)
                # with the square root rounded to the dtype first
                wide = x.astype(np.float32)
                y = np.float32(1) / np.sqrt(wide)
                tail = x.size % 32
                if tail:
                    flat = y.reshape(-1)  # (y's own row-major array: the order torch walks)
                    root = np.sqrt(wide.reshape(-1)[-tail:]).astype(x.dtype)
                    flat[-tail:] = np.float32(1) / root.astype(np.float32)
                    y = flat.reshape(x.shape)
                self.y = y.astype(x.dtype)
            else:
                self.y = x.dtype.type(1) / np.sqrt(x)
        return self.y

    def backward(self, grad_output):
        y = self.y
        with np.errstate(over="ignore", invalid="ignore"):
            cube = (y.astype(np.float32) ** 3).astype(y.dtype) if y.dtype == np.float16 \
                else y * y * y  # (torch's pow(3): float16's in float32, bfloat16's by steps)
            return ((grad_output * cube) * y.dtype.type(-0.5),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (output * output * output) * -0.5,)


def rsqrt(x):
    """1 / sqrt(x): Rsqrt for a float32/float64 tensor, else x ** -0.5."""
    if isinstance(x, Tensor) and is_floating_dtype(x.data.dtype) and x.data.itemsize >= 2:
        return Rsqrt()(x)
    if isinstance(x, Tensor) and x.data.dtype.kind in "biu":  # in the default float dtype
        return Rsqrt()(cast(x, default_dtype()))
    return power(x, -0.5)


def reciprocal(x):
    """1 / x: Reciprocal for a float32/float64 tensor, else x ** -1."""
    if isinstance(x, Tensor) and x.data.dtype.kind == "f" and x.data.itemsize >= 4:
        return Reciprocal()(x)
    return power(x, -1)


class SlopeGrad(Op):
    """g * slope: the gradient of a piecewise-linear op of x (relu, leaky_relu, hardtanh,
    threshold, abs), ``slope`` a constant array. Recorded with x as an input, as torch's
    threshold_backward, so that a gradient of it reaches x, as zeros (the slope is constant
    where it exists), instead of leaving x unused."""

    def __init__(self, slope, node_name: str = "MulBackward0"):
        self.slope, self.node_name = slope, node_name  # torch's node (ThresholdBackwardBackward0)

    def forward(self, grad, x):
        self.zeros_shape, self.zeros_dtype = x.shape, x.dtype
        return self._times(grad)

    def _times(self, grad):
        product = np.multiply(grad, self.slope).astype(grad.dtype, copy=False)
        if getattr(self.slope, "dtype", None) == np.bool_:  # a mask: torch's selection
            return dropped_as_zeros(product, self.slope)
        return product

    def backward(self, grad_output):
        return self._times(grad_output), np.zeros(self.zeros_shape, self.zeros_dtype)

    def backward_graph(self, grad_output, output):
        grad, x = self.inputs
        return (SlopeGrad(self.slope, self.node_name)(grad_output, x),
                Tensor(np.zeros_like(x.data)))


def dropped_as_zeros(product: np.ndarray, keep) -> np.ndarray:
    """``product`` = g * keep (a bool mask; a multiply is ~10x faster than np.where with a
    scattered mask) with torch's zeros where keep is False: its kernels select (where,
    masked_fill, threshold_backward), so an inf or nan g there gives 0, not g * 0 = nan. Only
    a product holding a non-finite value is redone."""
    if product.dtype.kind in "fc" and not np.isfinite(product).all():
        return np.where(keep, product, product.dtype.type(0))
    return product


def slope_grad(grad_output, slope, x, node_name: str = "MulBackward0"):
    """grad_output * slope, tied to x (SlopeGrad, named ``node_name`` as torch's node) where
    x needs a gradient."""
    if not x.requires_grad:
        return grad_output * slope
    return SlopeGrad(slope, node_name)(grad_output, x)


@follows_inputs
class Abs(Op):
    """y = |x|;  dx = g * sign(x) (0 at x = 0, as in PyTorch; for complex z, sign(z) = z/|z|)."""

    complex_ok = True
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        if x.dtype == np.bool_:
            raise NotImplementedError("abs: \"abs_cpu\" not implemented for 'Bool', as torch's")
        self.x = x  # (sign(x) only in backward: a forward without one skips it)
        return np.abs(x)

    def backward(self, grad_output):
        return (grad_output * _sign0(self.x),)

    def backward_graph(self, grad_output, output):
        if self.x.dtype.kind == "c":  # z/|z| is no constant: |z|'' != 0
            return (grad_output * _complex.sgn(self.inputs[0]),)
        return (slope_grad(grad_output, _sign0(self.x), self.inputs[0]),)  # |x|'' = 0


def _sign0(x: np.ndarray) -> np.ndarray:
    """sign(x), 0 at a real nan (torch's sgn: (0 < x) - (x < 0)); a complex x's z / |z|, 0 at
    0, as torch's sgn (nan + nan j at an infinity, where numpy's sign gives -1 at -inf)."""
    if x.dtype.kind == "c":
        zero = x == 0
        with np.errstate(invalid="ignore"):
            return np.where(zero, 0, x / np.where(zero, 1, np.abs(x))).astype(x.dtype, copy=False)
    s = np.sign(x)
    if s.dtype.kind != "c" and s.ndim:
        np.copyto(s, 0, where=s != s)
    elif s.dtype.kind != "c" and s != s:
        s = np.zeros_like(s)
    return s


@follows_inputs
class Exp(Op):
    """y = exp(x);  dx = g * y."""

    complex_ok = "holomorphic"
    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            refuse_float8("exp_vml_cpu", x)
        self.y = np.exp(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * self.y,)

    def backward_graph(self, grad_output, output):
        return (grad_output * output,)


@follows_inputs
class Log(Op):
    """y = log(x);  dx = g / x."""

    complex_ok = "holomorphic"
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            refuse_float8("log_vml_cpu", x)
        self.x = x
        return np.log(x)

    def backward(self, grad_output):
        return (grad_output / self.x,)

    def backward_graph(self, grad_output, output):
        return (grad_output / self.inputs[0],)


@follows_inputs
class Sqrt(Op):
    """y = sqrt(x);  dx = g / (2 y)."""

    complex_ok = "holomorphic"
    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            refuse_float8("sqrt_vml_cpu", x)
        self.y = np.sqrt(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output / (2 * self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output / (output * 2),)


@follows_inputs
class Cast(Op):
    """y = x as another dtype;  dx = g (the engine casts it back to x's dtype)."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        if self.dtype.itemsize <= 2 and self.dtype.kind in "fV":
            if self.dtype.itemsize == 1:  # float8: torch's rounding
                from dlpy.amp.dtypes import to_float8  # (e4m3fn saturates, NaN keeps its sign)

                return to_float8(x, self.dtype)
            out = narrow_float(x, self.dtype)
        elif x.dtype.kind == "V" and self.dtype.kind in "iu":  # bfloat16 to an integer: through
            out = x.astype(np.float32).astype(self.dtype)  # float32, as torch's (nan, inf,
        else:  # negatives to uint8 wrap)
            out = x.astype(self.dtype)
        return out

    def backward(self, grad_output):
        return (grad_output,)

    def backward_graph(self, grad_output, output):
        return (grad_output,)  # the engine casts it back by a recorded Cast

    def describe(self) -> str:
        return f"Cast({self.dtype})"


def _broadcast_error(name, a, b):
    """The ValueError for operands that do not broadcast (checked only after numpy failed, so the
    common case pays nothing)."""
    a_shape, b_shape = (np.shape(as_array(v)) for v in (a, b))
    try:
        np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        return ShapeError(f"{name}: shapes {a_shape} and {b_shape} cannot be broadcast together")
    return None


def identity(x):
    return Identity()(x)


def _scaled(name: str, a, b, alpha):
    """alpha * b for torch.add/sub's ``alpha``: recorded for a tensor, a constant otherwise;
    a float alpha is refused for integer operands and a complex one for real operands, as
    torch's; for bools any nonzero alpha is True (the result stays bool)."""
    kind = _promotion.result_type(a, b).kind
    if isinstance(alpha, (float, np.floating)) and kind in "biu":
        raise RuntimeError(f"{name}: for integral input tensors, argument alpha must not be a "
                           "floating point number.")
    if isinstance(alpha, (complex, np.complexfloating)) and kind != "c":
        raise RuntimeError(f"{name}: for non-complex input tensors, argument alpha must not be "
                           "a complex number.")
    if kind == "b":
        alpha = bool(alpha)
    elif isinstance(alpha, (bool, np.bool_)):
        raise RuntimeError(f"{name}: Boolean alpha only supported for Boolean results.")
    if isinstance(b, Tensor):  # scaled in the result's dtype, as torch's kernel (an uint8 250
        result = _promotion.result_type(a, b)  # times 2 is 500 in an int16 sum, not 244)
        if b.data.dtype != result and kind != "b":
            b = cast(b, result)
        return mul(b, alpha)
    return np.multiply(b, alpha)


def add(input, other, *, alpha=1):  # noqa: A002 - torch's names
    """input + alpha * other (torch.add), broadcast."""
    a, b = input, other
    if alpha != 1 or alpha is True:
        if _promotion.opmath_scalar(a, b) is not None and isinstance(a, Tensor):
            # float16/bfloat16 + a number or a 0-d float tensor: one node, as torch's (b rounded)
            b = cast(b, a.data.dtype) if isinstance(b, Tensor) else Tensor(
                np.asarray(b, dtype=a.data.dtype))
        if _one_node_alpha(a, b, alpha):
            try:
                return ScaledAdd(alpha)(a, b)
            except ValueError as err:
                raise _broadcast_error("add", a, b) or err from None
        b = _scaled("add", a, b, alpha)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    try:
        out = Add()(a, b)
    except ValueError as err:
        raise _broadcast_error("add", a, b) or err from None
    return _number_first(out, input)


_BOOL_SUB = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def _is_bool(x) -> bool:
    return x.data.dtype.kind == "b" if isinstance(x, Tensor) else isinstance(x, (bool, np.bool_))


def sub(input, other, *, alpha=1):  # noqa: A002 - torch's names
    """input - alpha * other (torch.sub), broadcast; bool operands refused."""
    a, b = input, other
    if alpha != 1 or alpha is True:
        if _is_bool(a) or _is_bool(b):
            raise RuntimeError(_BOOL_SUB)
        if _promotion.opmath_scalar(a, b) is not None and isinstance(a, Tensor):
            # float16/bfloat16 + a number or a 0-d float tensor: one node, as torch's (b rounded)
            b = cast(b, a.data.dtype) if isinstance(b, Tensor) else Tensor(
                np.asarray(b, dtype=a.data.dtype))
        if _one_node_alpha(a, b, alpha):
            try:
                return ScaledSub(alpha)(a, b)
            except ValueError as err:
                raise _broadcast_error("sub", a, b) or err from None
        b = _scaled("sub", a, b, alpha)
    if _promotion.needs_promotion(a, b):  # (a bool operand always needs it, or is bool - bool)
        if _is_bool(a) or _is_bool(b):
            raise RuntimeError(_BOOL_SUB)
        a, b = _promotion.promote(a, b)
    try:
        out = Sub()(a, b)
    except ValueError as err:
        raise _broadcast_error("sub", a, b) or err from None
    if isinstance(input, _NUMBER):  # number - tensor: torch's rsub(Tensor, Scalar), no edge
        from dlpy.node_names import drop_numbers  # for the number

        drop_numbers(out, input, other)
    return out


def mul(input, other):  # noqa: A002 - torch's names
    a, b = input, other
    if _promotion.needs_promotion(a, b):
        half = _promotion.opmath_scalar(a, b)
        if half is not None:  # float16/bfloat16 with a number: float32, rounded once
            out = HalfScalarMul(half[0])(*half[1])
            _keep_number(out, input, other)
            return _number_first(out, input)
        a, b = _promotion.promote(a, b)
    try:
        out = Mul()(a, b)
    except ValueError as err:
        raise _broadcast_error("mul", a, b) or err from None
    _keep_number(out, input, other)
    return _number_first(out, input)


_PYTHON_NUMBERS = (int, float, bool, complex)


def _keep_number(out, input, other) -> None:  # noqa: A002
    """A Python number operand of a recorded mul or div, kept as given: a backward run inside
    a TorchDispatchMode shows it as torch's node keeps it (``mul.Tensor(grad, 2)``, not the
    wrapped tensor's ``2.0``)."""
    if (type(other) in _PYTHON_NUMBERS or type(input) in _PYTHON_NUMBERS) and \
            out.op is not None:
        out.op.__dict__["_given"] = (input, other)


_NUMBER = (int, float, complex, np.number)


def _number_first(out, input):  # noqa: A002
    """number + tensor, number * tensor: torch's node is the tensor's method's (x.add(2)),
    the tensor's edge first, the number's (a wrapped 0-d tensor: no node) second."""
    if isinstance(input, _NUMBER):
        from dlpy.node_names import edges

        edges(out, (1, 0))
    return out


def div(input, other, *, rounding_mode=None):  # noqa: A002 - torch's names
    """input / other (torch.div): true division (integers give the default float dtype), or
    with ``rounding_mode`` "trunc" / "floor" the rounded quotient (integers stay integers)."""
    a, b = input, other
    if rounding_mode is not None:
        from dlpy.tensor import _rounded_div

        if not isinstance(a, Tensor):  # a Python number first: a wrapped number, in the
            dtype = _promotion.result_type(a, b)  # result's dtype (-5 // an int8 is int8)
            a = Tensor(_promotion.promote(a, dtype=dtype)[0]) if _promotion._plain(a) \
                else Tensor(np.asarray(a))
        return _rounded_div(a, b, rounding_mode)
    if _promotion.needs_promotion(a, b) or (  # true division: integers give the default float
            isinstance(a, Tensor) and a.data.dtype.kind in "biu"):
        half = _promotion.opmath_scalar(a, b)
        if half is not None:  # float16/bfloat16 with a number: float32, rounded once
            out = HalfScalarDiv(half[0])(*half[1])
            _keep_number(out, input, other)
            return out
        dtype = _promotion.result_type(a, b)
        a, b = _promotion.promote(a, b, dtype=np.dtype(default_dtype()) if
                                  _promotion.category(dtype) < 2 else dtype)
    try:
        out = Div()(a, b)
    except ValueError as err:
        raise _broadcast_error("div", a, b) or err from None
    _keep_number(out, input, other)
    return out


def neg(input):
    return Neg()(input)


def power(x, exponent):
    if not isinstance(exponent, (int, float, np.integer, np.floating)):
        if isinstance(exponent, (complex, np.complexfloating)):
            # torch's pow(Tensor, complex): a complex result, also for a real x
            if not isinstance(x, _complex.ComplexTensor):
                if isinstance(x, Tensor) and x.data.dtype.kind in "biu":
                    x = _promotion.floating(x)  # an integer base: the default complex dtype
                dtype = np.dtype(getattr(x, "dtype", np.float64))
                x = cast(x, np.complex64 if dtype.itemsize == 2 else _complex.complex_dtype(
                    dtype))  # (float16/bfloat16: torch's complex32 / ComplexFloat; dlpy has
                # no complex32)
            return Power(complex(exponent))(x)
        raise TypeError(f"power: the exponent must be a number, got {type(exponent).__name__}")
    if isinstance(x, Tensor) and x.data.dtype.kind in "biu":  # torch's integer powers
        if isinstance(exponent, (bool, np.bool_)):  # x ** True is x, x ** False ones, of x's
            if x.data.dtype.kind == "b":  # dtype (bool too), as torch's
                return cast(Power(int(exponent))(cast(x, np.int64)), np.bool_)
            return Power(int(exponent))(x)
        if isinstance(exponent, (int, np.integer)):
            if exponent < 0:
                raise ArgError("power: integers to negative integer powers are not allowed")
            if x.data.dtype.kind == "b":
                x = cast(x, np.int64)
            return Power(int(exponent))(x)
        x = _promotion.floating(x)  # a float exponent: the default float dtype
    return Power(float(exponent))(x)


_imaginary_warned: list[bool] = []


def warn_discarding_imaginary() -> None:
    """torch's UserWarning on a cast from complex to real, once a process (TORCH_WARN_ONCE;
    every time after ``set_warn_always(True)``)."""
    from dlpy import torch_misc

    if not torch_misc._warn_always:  # (a warning under warn_always leaves the once to come)
        if _imaginary_warned:
            return
        _imaginary_warned.append(True)
    import warnings

    from dlpy._caller import user_stacklevel

    warnings.warn("Casting complex values to real discards the imaginary part", UserWarning,
                  stacklevel=user_stacklevel())


def cast(x, dtype):
    """x converted to ``dtype`` (a numpy dtype or its name); differentiable between floats."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"cast: {dtype!r} is not a dtype") from None
    requires_grad = getattr(x, "requires_grad", False)
    if requires_grad and dtype.kind not in "fc" and dtype.name != "bfloat16":
        raise TypeError(f"cast: a tensor that requires gradients can only become a float dtype "
                        f"(or a complex one), got {dtype}")
    if dtype.kind == "c":
        return _complex.mark(Cast(dtype)(x))
    if isinstance(x, _complex.ComplexTensor) and dtype.kind != "b":  # to a real dtype: the
        warn_discarding_imaginary()  # real part, as PyTorch's (to bool: nonzero in either part)
        x = _complex.real(x)
    if dtype.itemsize == 2 and dtype.kind in "fV":  # float16/bfloat16: too large values become
        with np.errstate(over="ignore"):  # inf silently, as torch's (GradScaler's overflows)
            return Cast(dtype)(x)
    return Cast(dtype)(x)


def abs(input):  # noqa: A001 - the name users expect
    return Abs()(input)


def exp(input):
    input = _promotion.floating(input)
    return Exp()(input)


def log(input):
    input = _promotion.floating(input)
    return Log()(input)


def sqrt(input):
    input = _promotion.floating(input)
    return Sqrt()(input)
