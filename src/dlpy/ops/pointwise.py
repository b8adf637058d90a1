"""More element-wise math: sin, cos, tan, their inverses and the hyperbolic functions, atan2,
erf, log1p, expm1, the rounding family (sign, floor, ceil, round: zero gradient, as PyTorch)
and maximum / minimum with broadcasting."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dlpy import meta as _meta
from dlpy._caller import user_stacklevel
from dlpy.amp.dtypes import check_float8
from dlpy.layouts import follows_inputs, laid_as_inputs, laid_result
from dlpy.ops import ArgDtypeError, ArgError, NoKernelError, real_number
from dlpy.ops import complex as _complex
from dlpy.ops import promotion as _promotion
from dlpy.ops.activation import _erf, _erf_float32, _erfc, _erfc_float32
from dlpy.ops.mask import where
from dlpy.return_types import structseq_repr
from dlpy.tensor import (
    IntegerDivisionError,
    Op,
    ShapeError,
    Tensor,
    default_dtype,
    is_floating_dtype,
    is_grad_enabled,
    is_narrow_float,
    narrow_float,
    row_major,
)


@follows_inputs
class Sin(Op):
    """y = sin(x);  dx = g * cos(x)."""

    complex_ok = "holomorphic"
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, grad_output):
        return (grad_output * np.cos(self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output * self.inputs[0].cos(),)


@follows_inputs
class Cos(Op):
    """y = cos(x);  dx = -g * sin(x)."""

    complex_ok = "holomorphic"
    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, grad_output):
        return (-grad_output * np.sin(self.x),)

    def backward_graph(self, grad_output, output):
        return (-grad_output * self.inputs[0].sin(),)


@follows_inputs
class Tan(Op):
    """y = tan(x);  dx = g * (1 + y^2)."""

    saves = ("output",)  # backward reads the result, never x (as torch's)

    complex_ok = "holomorphic"

    def forward(self, x):
        self.y = np.tan(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (1 + self.y * self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (1 + output * output),)


@follows_inputs
class _OfInput(Op):
    """An element-wise op whose derivative is a function of x alone: ``forward`` saves x,
    ``derivative(x, lib)`` gives dy/dx from numpy (``lib`` np) or from recorded ops (``lib``
    None, x a Tensor), so backward and backward_graph share one formula. Holomorphic for complex
    x (numpy's principal branches, torch's)."""

    complex_ok = "holomorphic"
    function = None
    saves = (0,)  # backward reads x, never y: y may change in place, as torch's

    def forward(self, x):
        self.x = x
        return type(self).function(x)

    def backward(self, grad_output):
        return (grad_output * self.derivative(self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output * self.derivative(self.inputs[0]),)


def _sqrt(value):
    return value.sqrt() if isinstance(value, Tensor) else np.sqrt(value)


class Asin(_OfInput):
    """y = asin(x);  dx = g / sqrt(1 - x^2)."""

    function = staticmethod(np.arcsin)

    def derivative(self, x):
        return 1 / _sqrt(1 - x * x)


class Acos(_OfInput):
    """y = acos(x);  dx = -g / sqrt(1 - x^2)."""

    function = staticmethod(np.arccos)

    def derivative(self, x):
        return -1 / _sqrt(1 - x * x)


class Atan(_OfInput):
    """y = atan(x);  dx = g / (1 + x^2)."""

    function = staticmethod(np.arctan)

    def derivative(self, x):
        return 1 / (1 + x * x)


class Asinh(_OfInput):
    """y = asinh(x);  dx = g / sqrt(x^2 + 1)."""

    function = staticmethod(np.arcsinh)

    def derivative(self, x):
        return 1 / _sqrt(x * x + 1)


class Acosh(_OfInput):
    """y = acosh(x);  dx = g / sqrt(x^2 - 1) (as PyTorch: x * x - 1 under the root, bit for
    bit, inf at -1 and 1; for complex x sqrt(x - 1) sqrt(x + 1), the principal branch's
    derivative, as torch's)."""

    function = staticmethod(np.arccosh)

    def derivative(self, x):
        if (x.data if isinstance(x, Tensor) else x).dtype.kind == "c":
            return 1 / (_sqrt(x - 1) * _sqrt(x + 1))
        return 1 / _sqrt(x * x - 1)


class Atanh(_OfInput):
    """y = atanh(x);  dx = g / (1 - x^2)."""

    function = staticmethod(np.arctanh)

    def derivative(self, x):
        return 1 / (1 - x * x)


class Sinh(_OfInput):
    """y = sinh(x);  dx = g * cosh(x)."""

    function = staticmethod(np.sinh)

    def derivative(self, x):
        return x.cosh() if isinstance(x, Tensor) else np.cosh(x)


class Cosh(_OfInput):
    """y = cosh(x);  dx = g * sinh(x)."""

    function = staticmethod(np.cosh)

    def derivative(self, x):
        return x.sinh() if isinstance(x, Tensor) else np.sinh(x)


@follows_inputs
class Atan2(Op):
    """z = atan2(y, x), the angle of the point (x, y);  dy = g x / r^2, dx = -g y / r^2 with
    r^2 = x^2 + y^2, and 0 where r^2 is 0 (as PyTorch)."""

    saves = (0, 1)  # backward reads y and x, never the result (as torch's)

    def forward(self, y, x):
        self.y, self.x = y, x
        return np.arctan2(y, x)

    def backward(self, grad_output):
        y, x = self.y, self.x
        r2 = x * x + y * y
        scale = grad_output / np.where(r2 == 0, 1, r2)
        scale = np.where(r2 == 0, 0, scale)
        return scale * x, -scale * y

    def backward_graph(self, grad_output, output):
        y, x = self.inputs
        r2 = x * x + y * y
        zero = r2.data == 0  # a constant: no gradient at the origin, as backward
        scale = where(zero, 0.0, grad_output / where(zero, 1.0, r2))
        return scale * x, -scale * y


def _is_half(a: np.ndarray) -> bool:
    return a.dtype.itemsize == 2 and a.dtype.kind in "fV"  # float16 / bfloat16


def _half_density(x: np.ndarray, grad_output: np.ndarray, scale: float) -> np.ndarray:
    """erf's / erfc's gradient scale * exp(-x^2) * g for a float16/bfloat16 g as torch's
    formula computes it: each of x^2, exp, * scale and * g rounded to the half type."""
    x = x.astype(grad_output.dtype)
    return _scaled(np.exp(-(x * x)), scale) * grad_output


@follows_inputs
class Erf(Op):
    """y = erf(x) (float32: tanh(x P(x^2)) in float64; otherwise in float64 by Cody's rational
    approximations);  dx = g * 2 / sqrt(pi) * exp(-x^2)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        if x.dtype == np.float32:
            return _erf_float32(x)
        if x.dtype.itemsize == 2 and x.dtype.kind in "fV":  # float16/bfloat16: float32, rounded
            self.x = x.astype(np.float32)
            return _erf_float32(self.x).astype(x.dtype)
        return _erf(x).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)

    def backward(self, grad_output):
        if _is_half(grad_output):
            return (_half_density(self.x, grad_output, 2 / math.sqrt(math.pi)),)
        x = self.x if self.x.dtype.kind == "f" else self.x.astype(np.float64)
        density = np.multiply(x, x, out=np.empty_like(x))  # 2/sqrt(pi) exp(-x^2), in place
        np.negative(density, out=density)
        np.exp(density, out=density)
        density *= density.dtype.type(2 / math.sqrt(math.pi))
        return (grad_output * density,)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        return (grad_output * (2 / math.sqrt(math.pi)) * (-x * x).exp(),)


@follows_inputs
class Erfc(Op):
    """y = erfc(x) = 1 - erf(x), computed in float64 to about 1e-15 relative (so its upper tail
    is not the 0 of 1 - erf);  dx = -g * 2 / sqrt(pi) * exp(-x^2)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        if x.dtype == np.float32:
            return _erfc_float32(x)
        if x.dtype.name == "bfloat16":  # in float32, rounded
            self.x = x.astype(np.float32)
            return _erfc_float32(self.x).astype(x.dtype)
        single = x.dtype.kind == "f" and x.dtype.itemsize < 4  # (float16: its accuracy)
        return _erfc(x, single).astype(x.dtype if x.dtype.kind == "f" else np.float64,
                                       copy=False)

    def backward(self, grad_output):
        if _is_half(grad_output):
            return (_half_density(self.x, grad_output, -2 / math.sqrt(math.pi)),)
        x = self.x if self.x.dtype.kind == "f" else self.x.astype(np.float64)
        density = np.multiply(x, x, out=np.empty_like(x))
        np.negative(density, out=density)
        np.exp(density, out=density)
        density *= density.dtype.type(-2 / math.sqrt(math.pi))
        return (grad_output * density,)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        return (grad_output * (-2 / math.sqrt(math.pi)) * (-x * x).exp(),)


def _complex_log1p(z: np.ndarray) -> np.ndarray:
    """log(1 + z) for complex z as torch's: log|1 + z| = 0.5 log1p(x (2 + x) + y^2) where
    |z| < 0.5 (numpy's log(1 + z) loses a small real part: log1p(1e-10 + 0j) was 0 in complex64),
    x itself where that underflows; arg(1 + z) = atan2(y, 1 + x)."""
    x, y = z.real, z.imag
    with np.errstate(all="ignore"):
        r = x * (2 + x) + y * y
        near = np.where(r == 0, x, 0.5 * np.log1p(r))
        out = np.empty_like(z)
        out.real = np.where(np.abs(z) < 0.5, near, np.log(np.hypot(x + 1, y)))
        out.imag = np.arctan2(y, x + 1)
    return out


@follows_inputs
class Log1p(Op):
    """y = log(1 + x), accurate for small x;  dx = g / (1 + x)."""

    complex_ok = "holomorphic"
    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        return _complex_log1p(x) if x.dtype.kind == "c" else np.log1p(x)

    def backward(self, grad_output):
        return (grad_output / (1 + self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output / (1 + self.inputs[0]),)


@follows_inputs
class Expm1(Op):
    """y = exp(x) - 1, accurate for small x;  dx = g * (y + 1)."""

    complex_ok = "holomorphic"
    saves = ("output",)  # backward reads the result, never x (as torch's)

    def forward(self, x):
        self.y = np.expm1(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (self.y + 1),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (output + 1),)


@follows_inputs
class Exp2(Op):
    """y = 2^x (exact at integers, unlike exp(x log 2) in float32);  dx = g * y * log(2)."""

    saves = ("output",)  # backward reads the result, never x (as torch's)

    complex_ok = "holomorphic"

    def forward(self, x):
        self.y = np.exp2(x)
        return self.y

    def backward(self, grad_output):
        return (_scaled(grad_output * self.y, math.log(2.0)),)

    def backward_graph(self, grad_output, output):
        return (grad_output * output * math.log(2.0),)


def _scaled(a: np.ndarray, factor: float) -> np.ndarray:
    """a * factor as torch's tensor-by-number product: a float16/bfloat16 array in float32 with
    the factor unrounded, the product rounded once (numpy would round the factor first)."""
    if a.dtype.itemsize == 2 and a.dtype.kind in "fV":
        return (a.astype(np.float32) * np.float32(factor)).astype(a.dtype)
    return a * factor


# torch's kernel names in its refusals of float8 (amp/dtypes.py's refuse_float8)
_STEP_KERNELS = {"sign": "sign_cpu", "floor": "floor_vml_cpu", "ceil": "ceil_vml_cpu",
                 "round": "round_vml_cpu", "trunc": "trunc_vml_cpu"}


class _GivenValues(Op):
    """y = values computed apart from the inputs; every input's gradient 0."""

    saves = ()
    saves_tensors = False

    def __init__(self, values: np.ndarray):
        self.values = values

    def forward(self, *arrays):
        return self.values

    def backward(self, grad_output):
        return tuple(np.zeros_like(grad_output) for _ in self.inputs)

    def backward_graph(self, grad_output, output):
        return tuple(grad_output * 0 for _ in self.inputs)


@follows_inputs
class Rounded(_GivenValues):
    """y = values computed apart (div with a rounding_mode) from its inputs; every input's
    gradient 0, as torch's DivBackward2."""


class Compared(_GivenValues):
    """x.ge_(other) and the other in-place comparisons of a float tensor: the comparison's 0 and
    1 in x's dtype; every input's gradient 0, as torch's GeBackward0 (a number other) and
    GeBackward1 (a tensor other). Torch's out-of-place comparisons have no gradient at all."""

    def backward_graph(self, grad_output, output):
        return tuple(Tensor(np.zeros_like(grad_output.data)) for _ in self.inputs)  # (constant)


class Drawn(_GivenValues):
    """y = random draws with the inputs as parameters (torch.normal's mean and std, bernoulli's
    probabilities, poisson's rates); every input's gradient 0, as torch's NormalBackward,
    BernoulliBackward0 and PoissonBackward0. The draws keep their own (row-major) layout,
    whatever the inputs' (torch's results are new contiguous tensors)."""


@follows_inputs  # (numpy's copy of an expanded integer array is in no order torch's is)
class Step(Op):
    """y = a piecewise-constant function of x (sign, floor, ceil, round);  dx = 0 everywhere, as
    PyTorch (the jumps have no gradient either)."""

    saves = ()  # a zero gradient: reads nothing, saves nothing (as torch's)
    saves_tensors = False

    def __init__(self, function, decimals: int = 0):
        self.function, self.decimals = function, decimals

    def forward(self, x):
        if x.itemsize == 1:  # float8 and bool: torch refuses
            if x.dtype.kind == "b":
                raise NotImplementedError(f"{self.function.__name__}: not implemented for bool "
                                          "tensors, as torch")
            check_float8(_STEP_KERNELS.get(self.function.__name__), x)
        if self.decimals:
            with np.errstate(over="ignore", invalid="ignore"):  # (numpy's frames: inf, silently)
                if x.itemsize == 2 and x.dtype.kind in "fV":  # float16/bfloat16: in float32,
                    return self.function(x.astype(np.float32), self.decimals).astype(x.dtype)
                return self.function(x, self.decimals)  # as torch
        return self.function(x)

    def backward(self, grad_output):
        return (np.zeros_like(grad_output),)

    def backward_graph(self, grad_output, output):
        return (Tensor(np.zeros_like(grad_output.data)),)

    def describe(self) -> str:
        return f"Step({self.function.__name__})"


@follows_inputs
class Maximum(Op):
    """y = max(a, b) element-wise (broadcast);  the gradient goes to the larger input, and half
    to each where a == b (PyTorch's rule). ``Maximum(smaller=True)`` is minimum."""

    saves = (0, 1)  # read by backward (in-place checks, Op.saves)

    def __init__(self, smaller: bool = False):
        self.smaller = smaller

    def forward(self, a, b):
        if a.itemsize == 1 or b.itemsize == 1:  # float8: torch refuses
            check_float8("minimum_cpu" if self.smaller else "maximum_cpu", a, b)
        self.a, self.b = a, b
        return np.minimum(a, b) if self.smaller else np.maximum(a, b)

    def backward(self, grad_output):
        a, b = self.a, self.b
        shared = np.where(a == b, grad_output * 0.5, grad_output)
        a_loses, b_loses = (a > b, a < b) if self.smaller else (a < b, a > b)
        return np.where(a_loses, 0, shared), np.where(b_loses, 0, shared)

    def backward_graph(self, grad_output, output):
        # constant shares, as PyTorch: the second derivative is 0 almost everywhere
        a, b = self.inputs[0].data, self.inputs[1].data
        shared = np.where(a == b, 0.5, 1.0)
        a_loses, b_loses = (a > b, a < b) if self.smaller else (a < b, a > b)
        return grad_output * np.where(a_loses, 0, shared), grad_output * np.where(b_loses, 0,
                                                                                  shared)

    def describe(self) -> str:
        return "Minimum" if self.smaller else "Maximum"


def sin(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Sin()(input)


def cos(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Cos()(input)


def tan(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Tan()(input)


def sinh(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Sinh()(input)


def cosh(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Cosh()(input)


def asin(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Asin()(input)


def acos(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Acos()(input)


def atan(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Atan()(input)


def asinh(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Asinh()(input)


def acosh(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Acosh()(input)


def atanh(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Atanh()(input)


# numpy's names, which torch accepts too
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


def _check_broadcast(name: str, a, b) -> None:
    shapes = [np.shape(v.data if isinstance(v, Tensor) else v) for v in (a, b)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"{name}: shapes {shapes[0]} and {shapes[1]} cannot be broadcast "
                         f"together") from None


def atan2(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - torch's names
    """torch.atan2(input=y, other=x): the angle of (x, y) in (-pi, pi], broadcast."""
    y, x = input, other
    _check_broadcast("atan2", y, x)
    _tensors("atan2", y, None)
    _tensor_other("atan2", x)
    y, x = _promotion.promote_floating(y, x)  # integers give the default float, as torch's
    return Atan2()(y, x)


arctan2 = atan2


def erf(input: Tensor) -> Tensor:
    """The error function 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt."""
    input = _promotion.floating(input)
    return Erf()(input)


def log1p(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Log1p()(input)


def expm1(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return Expm1()(input)


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of x; zero gradient. Complex x is a TypeError (use sgn), as torch."""
    if isinstance(input, _complex.ComplexTensor):
        raise NoKernelError(f"sign: complex tensors are not supported, got {input.dtype} (as torch."
                            "sign); use sgn for z / |z|")
    if _data(input).dtype == np.bool_:  # True stays True, as torch's
        return Tensor(_data(input).copy())
    return Step(_sign)(input)


def _sign(x: np.ndarray) -> np.ndarray:
    """numpy's sign, but 0 at nan (torch's sign, which computes (0 < x) - (x < 0))."""
    out = np.sign(x)
    if out.dtype.kind in "fV":  # (bfloat16's kind is V); -0 gives +0, as torch's
        out = np.where((out != out) | (out == 0), out.dtype.type(0), out)
    return out


_sign.__name__ = "sign"  # the name the float8 check and the ONNX export look up


def floor(input: Tensor) -> Tensor:
    return Step(np.floor)(input)


def ceil(input: Tensor) -> Tensor:
    return Step(np.ceil)(input)


def round(input: Tensor, *, decimals: int | None = None) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round to ``decimals`` places (a keyword, as torch's), halves to even (as torch.round and
    numpy); zero gradient. An integer tensor is returned as it is, but only when decimals is
    not given (as torch)."""
    kind = np.asarray(input.data if isinstance(input, Tensor) else input).dtype.kind
    if kind == "b" or (kind in "iu" and decimals is not None):
        dtype = np.asarray(getattr(input, 'data', input)).dtype
        raise NoKernelError(f"round: not implemented for {dtype}"
                            f" tensors{'' if kind == 'b' else ' when decimals is given'}")
    given, decimals = decimals is not None, 0 if decimals is None else decimals
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    out = Step(np.round, int(decimals))(input)
    if given and out.op is not None:  # torch's round.decimals overload, decimals=0 too
        from dlpy.node_names import rename

        rename(out.op, "RoundBackward1")
    return out


def maximum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.maximum: the larger of a and b element-wise (broadcast); ties share the gradient."""
    a, b = input, other
    _tensors("maximum", a, b)
    _check_broadcast("maximum", a, b)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    return Maximum()(a, b)


def minimum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.minimum: the smaller of a and b element-wise (broadcast); ties share the gradient."""
    a, b = input, other
    _tensors("minimum", a, b)
    _check_broadcast("minimum", a, b)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    return _torch_node(Maximum(smaller=True)(a, b), "MinimumBackward0")


# ----------------------------------------------------------------- more of torch's element-wise
# functions, composed from the ops above (so their gradients, and gradients of gradients, come
# free); boolean and integer results carry no gradient, as in PyTorch


def _data(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _as_tensor(value, like=None) -> Tensor:
    """value as a Tensor; a number takes the floating/complex dtype of the Tensor ``like``
    (a complex number a complex one's: (0.5 + 1j) ** a complex64 tensor is complex64)."""
    if isinstance(value, Tensor):
        return value
    kind = np.asarray(value).dtype.kind
    dtype = like.dtype if like is not None and (
        (kind in "biuf" and like.dtype.kind in "fc") or (kind == "c" and like.dtype.kind == "c")) \
        else None
    return Tensor(np.asarray(value, dtype=dtype))


@follows_inputs
class Modulo(Op):
    """z = a - q * b: fmod (q = trunc(a / b), C's %) or remainder (q = floor_divide(a, b),
    Python's % and torch's div(rounding_mode="floor"), exact where floor(a / b) is not);
    da = g, db = -g * q, as PyTorch."""

    saves = ((0, 1), (1, 1))  # the quotient, for the divisor's gradient only (as torch's)

    def __init__(self, function, quotient):
        self.function, self.quotient_of = function, quotient

    def forward(self, a, b):
        if _is_float(a.dtype) or _is_float(b.dtype):  # bfloat16 too
            self.quotient = self.quotient_of(a, b)
        else:
            self.quotient = None
            # torch raises (numpy would give 0); with no element to divide, nothing is
            if b.dtype.kind in "iu" and not b.all() and np.broadcast(a, b).size:
                raise IntegerDivisionError(f"{self.describe().lower()}: integer division by zero")
        return self.function(a, b)

    def backward(self, grad_output):
        return grad_output, -grad_output * self.quotient

    def backward_graph(self, grad_output, output):
        # the quotient as torch's graph has it, a rounding div of the inputs (zero gradient;
        # b's gradient then requires grad, as torch's)
        a, b = self.inputs
        mode = "trunc" if self.function is np.fmod else "floor"
        return grad_output, -grad_output * a.div(b, rounding_mode=mode)

    def describe(self) -> str:
        return "Fmod" if self.function is np.fmod else "Remainder"


def _trunc_divide(a, b):
    """trunc(a / b): fmod's quotient (torch's div(rounding_mode="trunc"))."""
    return np.trunc(a / b)


def trunc(input: Tensor) -> Tensor:
    """Round toward zero; zero gradient."""
    return Step(np.trunc)(input)


fix = trunc


def frac(input: Tensor) -> Tensor:
    """x - trunc(x), with x's sign;  dx = g."""
    if _data(input).dtype.kind in "biu":
        raise NotImplementedError(f"frac: not implemented for {_data(input).dtype} tensors, as "
                                  "torch")
    return _torch_node(input - trunc(input).detach(), "FracBackward0")


def _tensor_input(name: str, a) -> None:
    """torch's refusal of a number as the first operand (torch.fmod(5, t))."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor as the input, got {type(a).__name__}, as "
                        "torch")


def _tensor_other(name: str, b) -> None:
    """torch's refusal of a number as the second operand of ops with no Scalar form."""
    if not isinstance(b, Tensor):
        raise TypeError(f"{name}: expected a Tensor as the other operand, got "
                        f"{type(b).__name__}, as torch")


def _tensors(name: str, a, b) -> None:
    """torch's refusal of a Python number for either operand of ops whose two arguments are
    Tensors (no Scalar overload: torch.maximum(t, 2), torch.atan2(2, t)); dlpy's own arrays
    pass."""
    for label, value in (("input", a), ("other", b)):
        if isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
            raise TypeError(f"{name}(): argument '{label}' must be Tensor, not "
                            f"{type(value).__name__}, as torch")


def _no_bools(name: str, a, b) -> None:
    """torch has no bool kernel for remainder, fmod and pow: refused where the result would be
    bool (two bool tensors, or one with a Python bool)."""
    if (isinstance(a, Tensor) or isinstance(b, Tensor)) and _data(a).dtype.kind == "b" and \
            _data(b).dtype.kind == "b":
        raise NotImplementedError(f"{name}: not implemented for bool tensors, as torch")


def fmod(input: Tensor, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.fmod: a - trunc(a / b) * b, the sign of a (C's fmod), broadcast."""
    a, b = input, other
    _tensor_input("fmod", a)
    _no_bools("fmod", a, b)
    _check_broadcast("fmod", a, b)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    out = Modulo(np.fmod, _trunc_divide)(a, _as_tensor(b, a))
    return _torch_node(out, "FmodBackward1") if isinstance(other, Tensor) else \
        _drop_numbers(out, input, other)


def remainder(input: Tensor, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.remainder: a - floor(a / b) * b, the sign of b (Python's %), broadcast; with a
    number first (torch's remainder.Scalar_Tensor) no derivative, as torch's."""
    a, b = input, other
    _no_bools("remainder", a, b)
    _check_broadcast("remainder", a, b)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    out = Modulo(_remainder, np.floor_divide)(_as_tensor(a, _as_tensor(b)), _as_tensor(b, a))
    if not isinstance(input, (Tensor, np.ndarray)):  # torch's remainder(Scalar, Tensor): no
        # derivative (an array is a tensor operand, as torch takes one)
        return _no_derivative("remainder", out, other)
    # torch's remainder(Tensor, Tensor) is RemainderBackward1, (Tensor, Scalar) Backward0
    return _torch_node(out, "RemainderBackward1") if isinstance(other, Tensor) \
        and isinstance(input, Tensor) else _drop_numbers(out, input, other)


def _remainder(a, b):
    """torch's remainder: fmod(a, b), plus b where that is nonzero with the other sign; a zero
    keeps fmod's sign (a's: torch.remainder(-0., 2.) is -0.0), where numpy's takes b's."""
    r = np.remainder(a, b)
    if _is_float(r.dtype):  # bfloat16 too
        zero = r == 0
        if zero.any():
            r = np.where(zero, np.copysign(r, a), r)
    return r


@follows_inputs
class Copysign(Op):
    """z = |a| with the sign bit of b (-0.0 counts as negative);  da = g * z / a, 0 at a == 0;
    db = 0 (a zero gradient, as PyTorch's)."""

    saves = ()

    def forward(self, a, b):
        self.ratio = np.where(np.signbit(b), -1.0, 1.0).astype(a.dtype) * np.sign(a)
        # np.copysign, not |a| * -1: a product keeps a nan's sign bit on most machines
        return np.copysign(a, np.where(np.signbit(b), -1.0, 1.0).astype(a.dtype))

    def backward(self, grad_output):
        return grad_output * self.ratio, np.zeros_like(grad_output)

    def backward_graph(self, grad_output, output):
        return grad_output * self.ratio, grad_output * 0


def copysign(input: Tensor, other) -> Tensor:  # noqa: A002 - torch's names
    """|a| with the sign of b (its sign bit: -0.0 counts as negative), broadcast; da = g *
    sign(a) * sign of b, 0 at a == 0; a zero gradient for b, as PyTorch."""
    a, b = input, other
    _tensor_input("copysign", a)
    _check_broadcast("copysign", a, b)
    if _data(a).dtype.kind == "c" or _data(b).dtype.kind == "c":
        raise NotImplementedError("copysign: not implemented for complex tensors, as torch")
    a, b = _promotion.promote_floating(a, b)  # int32 with float64: float64, as torch's
    a = _as_tensor(a)
    if a.dtype.kind in "biu":
        a = a.astype(np.float32)
    out = Copysign()(a, b)  # torch's copysign(Tensor, Scalar): CopysignBackward1
    return out if isinstance(other, Tensor) else _drop_numbers(
        _torch_node(out, "CopysignBackward1"), input, other)


def _no_integers(name: str, *operands) -> None:
    """torch's refusal of an op it has no integer kernel for (hypot, logaddexp, lerp)."""
    if all(_data(x).dtype.kind in "biu" for x in operands):
        raise NotImplementedError(f"{name}: not implemented for {_data(operands[0]).dtype} "
                                  "tensors, as torch (make one of them floating first)")


@follows_inputs
class Hypot(Op):
    """z = sqrt(a^2 + b^2) without overflow (inf where either is inf, even with a nan);
    da = g * a / z, db = g * b / z (PyTorch's formula)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.z = np.hypot(a, b)
        return self.z

    def backward(self, grad_output):
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad_output * self.a / self.z, grad_output * self.b / self.z

    def backward_graph(self, grad_output, output):
        a, b = self.inputs
        return grad_output * a / output, grad_output * b / output


def hypot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - torch's names
    """sqrt(a^2 + b^2), broadcast."""
    a, b = input, other
    _tensors("hypot", a, None)
    _tensor_other("hypot", b)
    _check_broadcast("hypot", a, b)
    _no_integers("hypot", a, b)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    return Hypot()(_as_tensor(a, _as_tensor(b)), b)


@follows_inputs
class LogAddExp(Op):
    """z = log(exp(a) + exp(b)) (base e, or log2(2^a + 2^b) with base 2) as torch's kernel:
    max(a, b) + log1p(exp(-|a - b|)), a itself where a == b is infinite; da = g / (1 +
    exp(b - a)), db = g / (1 + exp(a - b)) (torch's formulas: 1 and 0 at a = inf, b finite)."""

    saves = (0, 1)

    def __init__(self, base2: bool):
        self.base2 = base2

    def forward(self, a, b):
        self.a, self.b = a, b
        low = a.dtype if a.itemsize == 2 and a.dtype.kind in "fV" else None
        if low is not None:  # float16/bfloat16: computed in float32, as torch
            a, b = a.astype(np.float32), b.astype(np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            gap = -np.abs(a - b)
            tail = np.log1p(np.exp2(gap)) / math.log(2) if self.base2 else np.log1p(np.exp(gap))
            out = np.where(np.isinf(a) & (a == b), a, np.maximum(a, b) + tail)
        return out.astype(low if low is not None else a.dtype, copy=False)

    def _scale(self, d):
        with np.errstate(over="ignore"):
            return 1 / (1 + (np.exp2(d) if self.base2 else np.exp(d)))

    def backward(self, grad_output):
        with np.errstate(invalid="ignore"):
            d = self.b - self.a
            return grad_output * self._scale(d), grad_output * self._scale(-d)

    def backward_graph(self, grad_output, output):
        a, b = self.inputs
        d = b - a
        if self.base2:
            return grad_output / (1 + 2 ** d), grad_output / (1 + 2 ** -d)
        return grad_output / (1 + d.exp()), grad_output / (1 + (-d).exp())


def _logaddexp(name: str, a, b, base: float | None) -> Tensor:
    _tensors(name, a, None)
    _tensor_other(name, b)
    _check_broadcast(name, a, b)
    _no_integers(name, a, b)
    if _promotion.needs_promotion(a, b):
        a, b = _promotion.promote(a, b)
    if base is None and b.dtype.kind == "c":  # torch's complex kernel: shift by the larger real
        a = _as_tensor(a, b)
        larger = a.data.real >= b.data.real
        high, low = where(larger, a, b), where(larger, b, a)
        return high + (1 + (low - high).exp()).log()
    return LogAddExp(base is not None)(_as_tensor(a, _as_tensor(b)), b)


def logaddexp(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - torch's names
    """log(exp(a) + exp(b)), without overflow, broadcast."""
    return _torch_node(_logaddexp("logaddexp", input, other, None), "LogaddexpBackward0")


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - torch's names
    """log2(2^a + 2^b), without overflow, broadcast."""
    return _torch_node(_logaddexp("logaddexp2", input, other, 2.0), "Logaddexp2Backward0")


@follows_inputs
class Logit(Op):
    """y = log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps >= 0 is given;
    dx = g / (x (1 - x)), 0 where the clamp cut x, nan outside [0, 1] without a clamp (torch's
    logit_backward)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def __init__(self, eps: float | None):
        self.eps = eps

    def _bounds(self, x):
        low = x.dtype.type(self.eps)  # as torch: lo = eps, hi = 1 - lo in x's dtype
        return low, x.dtype.type(1) - low

    def forward(self, x):
        self.x = x
        if self.eps is not None and self.eps >= 0:  # torch's x < lo ? lo : (x > hi ? hi : x),
            low, high = self._bounds(x)  # (not a clip: eps > 0.5 gives lo > hi)
            x = np.where(x < low, low, np.where(x > high, high, x))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x / (1 - x))

    def backward(self, grad_output):
        x = self.x
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = grad_output / (x * (1 - x))
        cut, value = self._cut(x, self.eps is not None and self.eps >= 0)
        return (np.where(cut, value, grad).astype(grad.dtype, copy=False),)

    def _cut(self, x, clamped):
        """Where the gradient is not g / (x (1 - x)), and its value there: 0 outside
        [eps, 1 - eps] when ``clamped``, else nan outside [0, 1]."""
        if clamped:
            low, high = self._bounds(x)
            return (x < low) | (x > high), 0.0
        return (x < 0) | (x > 1), np.nan

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        # torch's differentiable logit_backward tests eps is None, not eps < 0 as its kernel
        # does: under create_graph, eps = -0.1 gives 0 beyond [-0.1, 1.1] and g / (x (1 - x))
        # at x = -0.05 (the kernel: nan outside [0, 1]; the forward's log is nan there anyway);
        # it keeps g / (x (1 - x)) where lo <= x <= hi, so a nan x gets 0 too
        if self.eps is None:
            cut, value = self._cut(x.data, False)
        else:
            low, high = self._bounds(x.data)
            cut, value = ~((x.data >= low) & (x.data <= high)), 0.0
        return (where(cut, value, grad_output / (x * (1 - x))),)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps is given."""
    if eps is not None:
        eps = real_number("logit", "eps", eps)
    return Logit(eps)(_promotion.floating(input))


@follows_inputs
class Sinc(Op):
    """y = sin(pi x) / (pi x), 1 at x = 0;  dx = g (pi x cos(pi x) - sin(pi x)) / (x x pi), 0
    where x x pi is 0, in torch's order of operations (its float32 rounding near 0)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        half = x.dtype.itemsize == 2  # float16 / bfloat16: in float32, as torch's opmath
        xf = x.astype(np.float32) if half else x
        px = xf * math.pi
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(xf == 0, xf.dtype.type(1), np.sin(px) / px)
        return out.astype(x.dtype) if half else out

    def backward(self, grad_output):
        x = self.x
        px, squared = _scaled(x, math.pi), _scaled(x * x, math.pi)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = grad_output * (px * np.cos(px) - np.sin(px)) / squared
        return (np.where(squared == 0, out.dtype.type(0), out),)

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]  # as torch's: an unmasked 0 / 0 at x = 0 (nan second derivative)
        squared, px = x * x * math.pi, x * math.pi
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = (px * cos(px) - sin(px)) / squared
        # (the factor masked, not the product: linear in g, so forward-mode's tangent at 0 is
        # 0 as torch's, not g's derivative times nan)
        return (grad_output * where(_data(squared) == 0, 0.0, factor),)


def sinc(input: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at x = 0 (gradient 0 there)."""
    if not isinstance(input, _complex.ComplexTensor):
        return Sinc()(_promotion.floating(input))
    zero = _data(input) == 0
    px = where(zero, 1.0, input) * math.pi
    return where(zero, 1.0, sin(px) / px)


def deg2rad(input: Tensor) -> Tensor:
    if isinstance(input, _complex.ComplexTensor):
        raise RuntimeError("deg2rad is not supported for complex tensors (as torch's)")
    return _torch_node(input * (math.pi / 180.0), "Deg2RadBackward0")


def rad2deg(input: Tensor) -> Tensor:
    if isinstance(input, _complex.ComplexTensor):
        raise RuntimeError("rad2deg is not supported for complex tensors (as torch's)")
    return _torch_node(input * (180.0 / math.pi), "Rad2DegBackward0")


def exp2(input: Tensor) -> Tensor:
    """2^x."""
    input = _promotion.floating(input)
    return Exp2()(input)


def log2(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return _torch_node(_rounded_once(input, lambda x: _scaled_log(x, 1.0 / math.log(2.0))),
                       "Log2Backward0")


def log10(input: Tensor) -> Tensor:
    input = _promotion.floating(input)
    return _torch_node(_rounded_once(input, lambda x: _scaled_log(x, 1.0 / math.log(10.0))),
                       "Log10Backward0")


def _scaled_log(x: Tensor, scale: float) -> Tensor:
    """log(x) * scale; a complex log's parts scaled each (as torch's), so that log2(0j) is
    -inf + 0j, not the -inf + nanj of a complex product."""
    out = x.log()
    if isinstance(out, _complex.ComplexTensor):
        return _complex.complex(out.real * scale, out.imag * scale)
    return out * scale


def _rounded_once(input: Tensor, compute) -> Tensor:
    """compute(input), a float16/bfloat16 input's in float32 and rounded once (torch's kernel
    for ops that dlpy composes of several)."""
    dtype = input.data.dtype
    if dtype.itemsize != 2 or dtype.kind not in "fV":
        return compute(input)
    from dlpy.ops.arithmetic import cast
    return cast(compute(cast(input, np.float32)), dtype)


def float_power(input: Tensor, exponent) -> Tensor:  # noqa: A002 - torch's name
    """x ** exponent computed in float64 (complex128 when either is complex), as
    torch.float_power."""
    x = input
    x = _as_tensor(x)
    complex_ = x.dtype.kind == "c" or _data(exponent).dtype.kind == "c"
    dtype = np.dtype(np.complex128 if complex_ else np.float64)
    x = x if x.dtype == dtype else x.astype(dtype)
    if isinstance(exponent, Tensor) and exponent.dtype != dtype:
        exponent = exponent.astype(dtype)
    elif complex_ and not isinstance(exponent, Tensor):
        exponent = complex(exponent)
    if isinstance(input, (int, float, complex, np.number)) and isinstance(exponent, Tensor):
        # torch's float_power(Scalar, Tensor): PowBackward2, no edge for the number
        return _drop_numbers(_torch_node(x ** exponent, "PowBackward2"), input, exponent)
    return x ** exponent


def heaviside(input: Tensor, values) -> Tensor:  # noqa: A002 - torch's name
    """0 where x < 0, 1 where x > 0, ``values`` where x == 0; not differentiable, as PyTorch:
    where an input requires grad the result does too, and backward through it raises torch's
    RuntimeError."""
    x = input
    _tensors("heaviside", x, None)
    _tensor_other("heaviside", values)
    _complex.refuse("heaviside", x, values)
    _check_broadcast("heaviside", x, values)
    tracked = [t for t in (x, values) if isinstance(t, Tensor) and t.requires_grad]
    data, values = _data(x), _data(values)
    if data.dtype != values.dtype:
        raise RuntimeError("heaviside: x and values must have the same dtype, got "
                           f"{data.dtype} and {values.dtype}, as torch")
    # torch's x == 0 ? values : x > 0 (nan gives 0; numpy's heaviside gives nan)
    out = laid_as_inputs(np.where(data == 0, values, data > 0).astype(data.dtype), data, values)
    if tracked:
        from dlpy.node_names import named
        from dlpy.ops.indexing import _NoDerivative

        return named(_NoDerivative("heaviside", out)(*tracked), "torch::autograd::NotImplemented")
    return Tensor(out)


def _real_lerp(*operands) -> bool:
    """Whether lerp's operands are plain float32/float64 tensors (the ops below; complex ones
    go through the composite of dlpy ops)."""
    return all(type(t) is Tensor and t.data.dtype in (np.float32, np.float64)
               for t in operands)


def _lerp_values(s, e, w):
    """torch's kernel, its fused multiply-adds (one rounding each): start + w (end - start)
    where |w| < 0.5, else end - (end - start)(1 - w) (from the nearer end); float32 through
    float64 (the products are exact there, the sum rounded to odd then to float32: once, in
    effect), float64 by ``_fma64``."""
    with np.errstate(over="ignore", invalid="ignore"):
        small = np.abs(w) < 0.5
        diff = e - s
        rest = s.dtype.type(1) - w  # (1 - w, rounded in the dtype)
        if s.dtype == np.float32:
            d = diff.astype(np.float64)
            product = np.where(small, np.asarray(w, np.float64) * d,
                               -d * np.asarray(rest, np.float64))
            total, error = _two_sum(product, np.where(small, s, e).astype(np.float64))
            return _to_odd(total, error).astype(np.float32)
        return np.where(small, _fma64(w, diff, s), _fma64(-diff, rest, e))


def _two_sum(a, b):
    """a + b rounded, and what the rounding lost (Knuth: exact where nothing overflows)."""
    total = a + b
    back = total - a
    return total, (a - (total - back)) + (b - back)


def _to_odd(value, residual):
    """``value`` rounded to odd where ``residual`` (what it lacks) is not 0: the next float64
    toward it when value's last bit is even, so rounding it again to fewer bits is rounding
    the exact value once."""
    with np.errstate(invalid="ignore"):
        even = (np.asarray(value, np.float64).view(np.int64) & 1) == 0
        nudge = (residual != 0) & even & np.isfinite(value) & np.isfinite(residual)
    if not nudge.any():
        return value
    return np.where(nudge, np.nextafter(value, np.where(residual > 0, np.inf, -np.inf)), value)


def _fma(a, b, c):
    """a * b + c rounded once, in the dtype of float32 or float64 arrays (``_fma64``; float32
    through float64, where the product is exact, rounded to odd, then to float32)."""
    if np.result_type(a, b, c) == np.float64:
        return _fma64(a, b, c)
    with np.errstate(over="ignore", invalid="ignore"):
        total, error = _two_sum(a.astype(np.float64) * b.astype(np.float64),
                                np.asarray(c, np.float64))
        return _to_odd(total, error).astype(np.float32)


def _fma64(a, b, c):
    """a * b + c for float64 arrays with one rounding (Dekker's exact product, Knuth's exact
    sums, the errors' sum rounded to odd); where that overflows, a * b + c."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, c)))
    with np.errstate(over="ignore", invalid="ignore"):
        product = a * b
        split = 134217729.0  # 2 ** 27 + 1
        t = split * a
        a_hi = t - (t - a)
        t = split * b
        b_hi = t - (t - b)
        a_lo, b_lo = a - a_hi, b - b_hi
        lost = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
        total, error = _two_sum(product, c)
        error, rest = _two_sum(lost, error)
        out = np.where(error == 0, total, total + _to_odd(error, rest))  # (a zero keeps its
        exact = np.isfinite(out) & np.isfinite(error)  # sign)
    return np.where(exact, out, total)


class Lerp(Op):
    """y = lerp(start, end, weight) of float32/float64 tensors (torch's LerpBackward1):
    dstart = g (1 - w), dend = g w, dweight = g (end - start)."""

    saves = (2, (0, 2), (1, 2))  # weight; start and end where weight needs a gradient

    def forward(self, s, e, w):
        return _lerp_values(s, e, w)

    def backward(self, grad_output):
        s, e, w = (t.data for t in self.inputs)
        with np.errstate(over="ignore", invalid="ignore"):
            return (grad_output * (1 - w), grad_output * w,
                    grad_output * (e - s) if self.inputs[2].requires_grad else None)

    def backward_graph(self, grad_output, output):
        s, e, w = self.inputs
        return grad_output * (1 - w), grad_output * w, grad_output * (e - s)


class LerpScalar(Op):
    """y = lerp(start, end, w) with a number w (torch's LerpBackward0): dstart = g (1 - w),
    dend = g w."""

    saves = ()

    def __init__(self, weight: float):
        self.weight = weight

    def forward(self, s, e):
        return _lerp_values(s, e, s.dtype.type(self.weight))

    def backward(self, grad_output):
        w = self.weight
        with np.errstate(over="ignore", invalid="ignore"):
            return grad_output * (1 - w), grad_output * w

    def backward_graph(self, grad_output, output):
        return grad_output * (1 - self.weight), grad_output * self.weight


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """start + weight * (end - start), computed from the nearer end as PyTorch (weight < 0.5
    from start, else from end), broadcast."""
    if not isinstance(end, Tensor):  # torch's signatures take only a Tensor end
        raise TypeError(f"lerp(): argument 'end' (position 2) must be Tensor, not "
                        f"{type(end).__name__}")
    _check_broadcast("lerp", input, end)
    _check_broadcast("lerp", input, weight)
    _no_integers("lerp", input)
    for what, other in (("end", end), ("weight", weight)):
        if isinstance(other, Tensor) and other.dtype != input.dtype and (
                what == "end" or other.ndim) and type(input) in (Tensor, _complex.ComplexTensor):
            raise RuntimeError(f"lerp: expected {what} of dtype {input.dtype} (start's), got "
                               f"{other.dtype}, as torch")
    if isinstance(weight, Tensor) and weight.ndim == 0 and weight.dtype != input.dtype \
            and weight.data.dtype.kind in "biu":  # a 0-d integer weight: its value in start's
        from dlpy.ops.arithmetic import cast  # dtype, as torch's (not 1 - w wrapped in uint8)

        weight = cast(weight, input.data.dtype)
    if input.data.dtype.itemsize == 2 and input.data.dtype.kind in "fV":  # float16/bfloat16:
        from dlpy.ops.arithmetic import cast

        low = input.data.dtype  # computed in float32 and rounded once, as torch's
        return _torch_node(cast(lerp(cast(input, np.float32), cast(end, np.float32) if isinstance(
            end, Tensor) else end, cast(weight, np.float32) if isinstance(weight, Tensor)
            else weight), low), f"LerpBackward{int(isinstance(weight, Tensor))}")
    if not isinstance(weight, Tensor):
        w = float(weight) if isinstance(weight, (float, np.floating)) and weight != weight \
            else _complex.number("lerp", "weight", weight, finite=False)  # nan: nan, as torch
        if isinstance(w, complex) and input.data.dtype.kind != "c":
            raise RuntimeError("lerp: a complex weight cannot be converted to the real dtype "
                               f"{input.dtype}, as torch")
        if _real_lerp(input, end):
            return _torch_node(laid_result(LerpScalar(w)(input, end), input, end),
                               "LerpBackward0")
        diff = end - input
        out = input + w * diff if abs(w) < 0.5 else end - diff * (1 - w)
        return _torch_node(laid_result(out, input, end), "LerpBackward0")  # (start's order)
    if _real_lerp(input, end, weight):
        return _torch_node(laid_result(Lerp()(input, end, weight), input, end, weight),
                           "LerpBackward1")
    diff = end - input
    small = np.abs(weight.data) < 0.5
    out = where(small, input + weight * diff, end - diff * (1 - weight))
    return _torch_node(laid_result(out, input, end, weight), "LerpBackward1")


def _drop_numbers(out, *operands):
    """``out`` with no edge for its Python-number operands, as torch's Scalar overloads."""
    from dlpy.node_names import drop_numbers

    return drop_numbers(out, *operands)


def _torch_node(out, name: str):
    """``out`` with its recorded node named torch's ``name`` (for grad_fn.name())."""
    if isinstance(out, Tensor) and out.op is not None:
        from dlpy.node_names import rename

        rename(out.op, name)
    return out


def scalar_argument(name: str, what: str, value):
    """A Scalar argument (addcmul's ``value``, add's ``alpha``) as torch takes it: a number, or
    a 0-d Tensor that needs no gradient (its item); other Tensors torch's TypeError."""
    if isinstance(value, Tensor):
        if value.ndim != 0 or value.requires_grad:
            raise TypeError(f"{name}(): argument '{what}' must be Number, not Tensor")
        return value.item()
    return value


_number_first_warned: list[bool] = []


def number_first(name: str, operands: tuple, more: tuple, value, what: str = "value",
                 default=1) -> tuple[tuple, object]:
    """torch's deprecated overloads that take the number first, positionally:
    ``addcmul(input, value, tensor1, tensor2)``, ``add_(alpha, other)``: ``operands`` (the
    positional arguments after ``input``, the first one being the number) and ``more`` (the
    ones past the current form's count) as (the operands of the current form, the number), with
    torch's deprecation warning; ``more`` empty gives them back unchanged. Any other extra
    positional argument is torch's TypeError. The warning comes once a process, as torch's
    (``TORCH_WARN_ONCE``)."""
    if not more:
        return operands, value
    count = len(operands)
    if len(more) != 1 or isinstance(operands[0], Tensor) or not isinstance(
            operands[0], (int, float, complex, np.number)) or value is not default:
        raise TypeError(f"{name}() takes {count + 1} positional arguments but "
                        f"{count + 1 + len(more)} were given")
    import warnings

    if _number_first_warned:
        return (*operands[1:], *more), operands[0]
    _number_first_warned.append(True)
    names = ", ".join(["Tensor tensor1", "Tensor tensor2"][:count] if count == 2 else
                      ["Tensor other"])
    warnings.warn(f"This overload of {name} is deprecated:\n\t{name}(Number {what}, {names})\n"
                  f"Consider using one of the following signatures instead:\n\t{name}({names}, "
                  f"*, Number {what} = 1)", UserWarning, stacklevel=user_stacklevel())
    return (*operands[1:], *more), operands[0]


def _check_broadcast_all(name: str, *operands) -> None:
    """torch's RuntimeError for operands whose shapes do not broadcast together (numpy's
    ValueError otherwise)."""
    shapes = [np.shape(v.data if isinstance(v, Tensor) else v) for v in operands]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"{name}: shapes {', '.join(map(str, shapes))} cannot be broadcast "
                         "together") from None


def _tensor_operands(name: str, *operands) -> None:
    """torch's TypeError for a number where its signature takes a tensor (addcmul(x, t, 2.0):
    no such overload)."""
    for k, t in enumerate(operands, 1):
        if isinstance(t, (bool, int, float, complex, np.number)):
            raise TypeError(f"{name}(): argument 'tensor{k}' must be Tensor, not "
                            f"{type(t).__name__}")


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *more, value=1) -> Tensor:
    """x + value * tensor1 * tensor2, out of place (``value`` a number or a 0-d Tensor; torch's
    deprecated ``addcmul(x, value, tensor1, tensor2)`` too)."""
    (tensor1, tensor2), value = number_first("addcmul", (tensor1, tensor2), more, value)
    _tensor_operands("addcmul", tensor1, tensor2)
    _check_broadcast_all("addcmul", input, tensor1, tensor2)
    value = scalar_argument("addcmul", "value", value)
    if isinstance(value, (bool, np.bool_)):  # torch's Scalar of a bool: the integer 1 or 0
        value = int(value)
    if all(_data(t).dtype.kind in "biu" for t in (input, tensor1, tensor2)):
        if all(_data(t).dtype.kind == "b" for t in (input, tensor1, tensor2)):
            raise NotImplementedError("addcmul: not implemented for bool tensors, as torch")
        # integers stay integers: torch truncates a float value (0.5 -> 0)
        if isinstance(value, (float, np.floating)):
            value = int(real_number("addcmul", "value", value))
    else:  # (checked; an int stays an int: torch's Scalar, int times an int tensor)
        checked = _complex.number("addcmul", "value", value)
        value = int(value) if isinstance(value, (int, np.integer)) else checked
    from dlpy.ops.arithmetic import cast

    result = _promotion.result_type(input, tensor1, tensor2)  # torch's: value takes no part
    value = _value_in("addcmul", value, result)
    if _plain_real(input, tensor1, tensor2) and not isinstance(value, complex):
        return _torch_node(laid_result(Addc(value, False, result)(input, tensor1, tensor2),
                                       input, tensor1, tensor2), "AddcmulBackward0")
    low = _same_low_precision(input, tensor1, tensor2)
    if low is None and result.itemsize == 2 and result.kind in "fV" and all(
            isinstance(t, Tensor) for t in (input, tensor1, tensor2)):
        low = result  # (float16/bfloat16 with integer tensors: their dtype, as torch's)
    if low is not None:  # float16/bfloat16: computed in float32 and rounded once, as torch's
        wide = [cast(t, np.float32) for t in (input, tensor1, tensor2)]
        return _torch_node(cast(addcmul(*wide, value=value), low), "AddcmulBackward0")
    if result.kind == "c":  # every operand in the result's dtype first, as torch's kernel
        input, tensor1, tensor2 = _in_dtype(result, input, tensor1, tensor2)
    out = input + value * (tensor1 * tensor2)
    if isinstance(out, Tensor) and out.data.dtype != result and result.kind in "fc" and all(
            isinstance(t, Tensor) for t in (input, tensor1, tensor2)):
        out = cast(out, result)  # (a float value times integer tensors is the default dtype)
    return _torch_node(out, "AddcmulBackward0")


def _value_in(name: str, value, result: np.dtype):
    """addcmul/addcdiv's ``value`` as torch converts it to a real result's dtype: a complex
    number with an imaginary part is refused (dlpy dropped it, or made the result complex), one
    without is its real part."""
    if not isinstance(value, complex) or result.kind == "c":
        return value
    if value.imag != 0:
        raise RuntimeError(f"{name}: value cannot be converted to type {result.name} without "
                           "overflow")
    return value.real


def _plain_real(*operands) -> bool:
    """Plain Tensors (not complex, not subclasses routed elsewhere) of real dtypes."""
    return all(type(t) is Tensor and ((t.data.dtype.kind == "f" or is_floating_dtype(
        t.data.dtype)) and t.data.dtype.itemsize > 1 or t.data.dtype.kind in "biu")
        for t in operands)  # (integers of any width; no float8)


def _scaled(array: np.ndarray, value, divide: bool = False) -> np.ndarray:
    """``array * value`` (``value / array`` with ``divide``) as torch computes a tensor with a
    Python number: in the tensor's dtype, an integer one made the default float dtype by a
    float number or by division."""
    if array.dtype.kind in "biu" and (divide or isinstance(value, float)):
        array = array.astype(default_dtype())
    elif array.dtype.kind == "b":
        array = array.astype(np.int64)
    elif is_narrow_float(array.dtype):  # (float16/bfloat16: computed in float32, rounded
        # once; torch's mul takes the number as a float, its division as one of the dtype)
        if divide:
            value = float(array.dtype.type(value))
        return _scaled(array.astype(np.float32), value, divide).astype(array.dtype)
    with np.errstate(all="ignore"):
        return (array.dtype.type(value) / array) if divide else array * array.dtype.type(value)


class Addc(Op):
    """y = x + value * t1 * t2 (``divide``: x + value * t1 / t2), as torch's kernel: every
    tensor in the result dtype (float16/bfloat16: float32, rounded once), (value * t1) then
    times (or over) t2, then plus x; backward as torch's formulas, each factor in its tensor's
    own dtype: dt1 = g (t2 value) (addcdiv: g (value / t2)), dt2 = g (t1 value) (addcdiv:
    -g (value t1) / (t2 t2))."""

    def __init__(self, value, divide: bool, result: np.dtype):
        self.value, self.divide, self.result = value, divide, np.dtype(result)
        self.saves = ((2, 1), (1, 2), (2, 2)) if divide else ((2, 1), (1, 2))

    def forward(self, x, t1, t2):
        result = self.result
        wide = np.dtype(np.float32) if is_narrow_float(result) else result
        value = self.value
        if wide.kind in "iu":  # (torch truncates a float value for integer tensors, and
            value = np.asarray(int(value)).astype(wide)  # wraps it: -1 into uint8 is 255)
        elif wide.kind == "b":
            value = bool(value)
        x, t1, t2 = (a.astype(wide, copy=False) for a in (x, t1, t2))
        with np.errstate(all="ignore"):
            if wide.kind == "b":
                out = x | (t1 & value & t2)
            elif self.divide:
                out = x + t1 * wide.type(value) / t2
            elif wide.kind == "f":  # (torch's kernel fuses the last multiply and add)
                out = _fma(t1 * wide.type(value), t2, x)
            else:
                out = x + t1 * value * t2
        return out.astype(result, copy=False)

    def backward(self, grad_output):
        _, t1, t2 = (t.data for t in self.inputs)
        value = self.value
        need1, need2 = self.inputs[1].requires_grad, self.inputs[2].requires_grad
        with np.errstate(all="ignore"):
            if self.divide:
                g1 = grad_output * _scaled(t2, value, divide=True) if need1 else None
                g2 = -grad_output * (_scaled(t1, value) / (t2 * t2)) if need2 else None
            else:
                g1 = grad_output * _scaled(t2, value) if need1 else None
                g2 = grad_output * _scaled(t1, value) if need2 else None
        return grad_output, g1, g2

    def backward_graph(self, grad_output, output):
        _, t1, t2 = self.inputs
        value = self.value
        if self.divide:
            return grad_output, grad_output * (value / t2), \
                -grad_output * (value * t1 / (t2 * t2))
        return grad_output, grad_output * (t2 * value), grad_output * (t1 * value)


def _same_low_precision(*tensors):
    """The float16/bfloat16 dtype that all ``tensors`` share, else None."""
    dtype = _data(tensors[0]).dtype
    if dtype.itemsize != 2 or dtype.kind not in "fV":
        return None
    if all(isinstance(t, Tensor) and t.data.dtype == dtype for t in tensors):
        return dtype
    return None


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *more, value=1) -> Tensor:
    """x + value * tensor1 / tensor2, out of place (``value`` a number or a 0-d Tensor; torch's
    deprecated ``addcdiv(x, value, tensor1, tensor2)`` too)."""
    (tensor1, tensor2), value = number_first("addcdiv", (tensor1, tensor2), more, value)
    _tensor_operands("addcdiv", tensor1, tensor2)
    _check_broadcast_all("addcdiv", input, tensor1, tensor2)
    value = scalar_argument("addcdiv", "value", value)
    if isinstance(value, (bool, np.bool_)):  # torch's Scalar of a bool: the integer 1 or 0
        value = int(value)
    checked = _complex.number("addcdiv", "value", value)  # (an int stays an int, as above)
    value = int(value) if isinstance(value, (int, np.integer)) else checked
    value = _value_in("addcdiv", value, _promotion.result_type(input, tensor1, tensor2))
    if _data(tensor1).dtype.kind in "biu" and _data(tensor2).dtype.kind in "biu":
        raise RuntimeError("addcdiv: integer tensor1 and tensor2 are refused, as torch's "
                           "(which no longer divides them as integers); use "
                           "input + value * torch.true_divide(tensor1, tensor2)")
    if _plain_real(input, tensor1, tensor2) and not isinstance(value, complex):
        result = _promotion.result_type(input, tensor1, tensor2)
        return _torch_node(laid_result(Addc(value, True, result)(input, tensor1, tensor2),
                                       input, tensor1, tensor2), "AddcdivBackward0")
    low = _same_low_precision(input, tensor1, tensor2)
    if low is not None:  # float16/bfloat16: computed in float32 and rounded once, as torch's
        from dlpy.ops.arithmetic import cast
        wide = [cast(t, np.float32) for t in (input, tensor1, tensor2)]
        return _torch_node(cast(addcdiv(*wide, value=value), low), "AddcdivBackward0")
    result = _promotion.result_type(input, tensor1, tensor2)
    if result.kind == "c":  # every operand in the result's dtype first, as torch's kernel
        input, tensor1, tensor2 = _in_dtype(result, input, tensor1, tensor2)
    return _torch_node(input + value * (tensor1 / tensor2), "AddcdivBackward0")


def _in_dtype(dtype, *operands):
    """Each tensor operand cast to ``dtype`` (where it is another)."""
    from dlpy.ops.arithmetic import cast

    return tuple(cast(t, dtype) if isinstance(t, Tensor) and t.data.dtype != dtype else t
                 for t in operands)


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """nan -> nan, +inf -> posinf, -inf -> neginf (default: 0, and the dtype's largest and
    smallest finite numbers);  dx = g where x is finite, 0 elsewhere, as PyTorch. Each
    replacement is a real number (a bool, a 0-d tensor) or None, else torch's TypeError."""
    if (isinstance(input, Tensor) and input.data.dtype.kind == "c" and input.requires_grad
            and is_grad_enabled()):  # (torch's in-place nan_to_num_ has the derivative)
        raise RuntimeError("nan_to_num does not support automatic differentiation for outputs "
                           "with complex dtype.")
    return replace_non_finite(input, nan, posinf, neginf)


def replace_non_finite(input: Tensor, nan: float = 0.0, posinf: float | None = None,
                       neginf: float | None = None) -> Tensor:
    """nan_to_num's values and gradient (nan_to_num_ calls it for complex tensors too)."""
    nan, posinf, neginf = (_replacement(what, value) for what, value in (
        ("nan", nan), ("posinf", posinf), ("neginf", neginf)))
    nan = 0.0 if nan is None else nan
    data = _data(input)
    if data.dtype.kind == "c":
        # each part replaced on its own, as torch's; the gradient passes where the whole
        # number is finite (torch's grad * isfinite(z): nothing through -800 - inf j's real part)
        fill = np.empty_like(data)
        fill.real = _filled(data.real, nan, posinf, neginf)
        fill.imag = _filled(data.imag, nan, posinf, neginf)
        finite = laid_as_inputs(np.isfinite(data), data)
        return _torch_node(where(finite, input, fill), "NanToNumBackward0")
    if data.dtype.kind != "f" and data.dtype.name not in ("bfloat16", "float8_e4m3fn",
                                                          "float8_e5m2"):
        # (nothing to replace: a new tensor all the same, as torch's, never input itself)
        return input.clone() if isinstance(input, Tensor) else Tensor(data)
    fill = _filled(data, nan, posinf, neginf)
    finite = laid_as_inputs(np.isfinite(data), data)  # (where's order: the mask's, as x's)
    return _torch_node(where(finite, input, fill), "NanToNumBackward0")


def _filled(data: np.ndarray, nan: float, posinf: float | None, neginf: float | None):
    """Real ``data`` with its non-finite elements replaced as nan_to_num's."""
    info = np.finfo(data.dtype)  # (ml_dtypes registers bfloat16's)
    return np.where(np.isfinite(data), data, np.where(np.isnan(data), nan, np.where(
        data > 0, info.max if posinf is None else posinf,
        info.min if neginf is None else neginf))).astype(data.dtype)


def _replacement(what: str, value) -> float | None:
    """nan_to_num's ``what`` replacement as a float (None stays None), as torch's parser."""
    if value is None:
        return None
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype.kind != "c":
        return float(value.item())
    if not isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        raise TypeError(f"nan_to_num(): argument '{what}' must be float, not "
                        f"{type(value).__name__}")
    return float(value)


def clip(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.clip, clamp's alias."""
    from dlpy.ops.activation import clamp

    return clamp(input, min, max)


@_meta.follows
def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    """input == other, or |input - other| finite and <= atol + |rtol * other|, element-wise
    (torch's formula: an infinite tolerance still keeps inf apart from a finite number); a bool
    tensor, no gradient. Integers and bools are compared as float32, as torch's."""
    _tensors("isclose", input, None)
    _tensor_other("isclose", other)
    _check_broadcast("isclose", input, other)
    a, b = _data(input), _data(other)
    if a.dtype != b.dtype:
        raise RuntimeError(f"isclose: {a.dtype} did not match {b.dtype} (the tensors must have "
                           "the same dtype, as torch's)")
    rtol = real_number("isclose", "rtol", rtol, finite=False)
    atol = real_number("isclose", "atol", atol, finite=False)
    for what, tolerance in (("rtol", rtol), ("atol", atol)):
        if tolerance < 0:
            raise RuntimeError(f"isclose: {what} must be greater than or equal to zero, but "
                               f"got {tolerance:g}")
    operands = a, b  # (the result in their order, as torch's element-wise steps)
    close = a == b
    if equal_nan and a.dtype.kind in "fc":
        close |= np.isnan(a) & np.isnan(b)
    if rtol == 0 and atol == 0:
        return Tensor(laid_as_inputs(close, *operands))
    if a.dtype.kind in "biu":
        a, b = a.astype(np.float32), b.astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(a - b)
        close |= np.isfinite(error) & (error <= atol + np.abs(rtol * b))
    return Tensor(laid_as_inputs(close, *operands))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:
    """Whether isclose holds everywhere: a Python bool (meta tensors: torch's error of a
    value read)."""
    close = isclose(input, other, rtol, atol, equal_nan)
    if _meta.holds_meta(close):
        _meta.refuse_values(close, "item")
    return bool(close.data.all())


@_meta.refuses("aten::equal")
def equal(input, other) -> bool:  # noqa: A002 - PyTorch's names
    """Same shape and same values: a Python bool (nan is not equal to itself)."""
    _tensors("equal", input, other)
    if not isinstance(other, (Tensor, np.ndarray)):
        _tensor_other("equal", other)
    a, b = _data(input), _data(other)
    return a.shape == b.shape and bool((a == b).all())


def _logical(name, function, *values) -> Tensor:
    if len(values) == 2:
        _tensors(name, values[0], None)
        _tensor_other(name, values[1])
        _check_broadcast(name, *values)
    arrays = given = [_data(v) for v in values]
    if len(arrays) == 2 and arrays[0].dtype != arrays[1].dtype and all(
            isinstance(v, Tensor) for v in values):  # torch's: both in their common dtype
        common = _promotion.result_type(*values)  # first (1e-310 is 0 in float32)
        with np.errstate(all="ignore"):
            arrays = [a if a.dtype == common else narrow_float(a, common)
                      if is_narrow_float(common) else a.astype(common) for a in arrays]
    # laid out after the operands as given (a cast copy of an expanded one has lost its order)
    return Tensor(laid_as_inputs(function(*arrays), *given))


def logical_and(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    return _logical("logical_and", np.logical_and, input, other)


def logical_or(input, other) -> Tensor:  # noqa: A002
    return _logical("logical_or", np.logical_or, input, other)


def logical_xor(input, other) -> Tensor:  # noqa: A002
    return _logical("logical_xor", np.logical_xor, input, other)


def logical_not(input) -> Tensor:  # noqa: A002
    return _logical("logical_not", np.logical_not, input)


def _bitwise(name, function, *values) -> Tensor:
    arrays = given = _integers(name, *values, bools=True)
    if len(arrays) == 2 and arrays[0].dtype != arrays[1].dtype:  # torch's result dtype
        dtype = _promotion.result_type(*values)  # (int8 & 3: int8)
        arrays = [v.astype(dtype, copy=False) for v in arrays]
    if function in (np.left_shift, np.right_shift) and arrays[0].dtype.kind == "b" \
            and arrays[1].dtype.kind == "b":  # torch has no bool shift kernel
        raise NotImplementedError(f"{name}: not implemented for bool tensors, as torch")
    return Tensor(laid_as_inputs(function(*arrays), *given))  # (as _logical's)


def bitwise_and(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    return _bitwise("bitwise_and", np.bitwise_and, input, other)


def bitwise_or(input, other) -> Tensor:  # noqa: A002
    return _bitwise("bitwise_or", np.bitwise_or, input, other)


def bitwise_xor(input, other) -> Tensor:  # noqa: A002
    return _bitwise("bitwise_xor", np.bitwise_xor, input, other)


def bitwise_not(input) -> Tensor:  # noqa: A002
    return _bitwise("bitwise_not", np.invert, input)


def bitwise_left_shift(input, other) -> Tensor:  # noqa: A002
    return _bitwise("bitwise_left_shift", np.left_shift, input, other)


def bitwise_right_shift(input, other) -> Tensor:  # noqa: A002
    return _bitwise("bitwise_right_shift", np.right_shift, input, other)


# ----------------------------------------------------------------- the rest of torch's
# element-wise functions: fmax/fmin, pow with a tensor exponent, the integer and floating
# point utilities (gcd, lcm, ldexp, frexp, nextafter, signbit), i0 and polygamma
def fmax(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.fmax: the larger of a and b, ignoring a nan (nan only where both are);  the
    gradient goes to a where a >= b or b is nan, to b elsewhere (torch's rule: ties to a)."""
    a, b = input, other
    _tensors("fmax", a, b)
    _check_broadcast("fmax", a, b)
    a, b = _as_tensor(a, _as_tensor(b)), _as_tensor(b, _as_tensor(a))
    _complex.refuse("fmax", a, b)
    if _promotion.needs_promotion(a, b):  # compared in the result dtype, as torch: a uint8
        a, b = _promotion.promote(a, b)  # tensor's fmax with a 0-d int -4 sees 252
    larger = laid_as_inputs((a.data >= b.data) | np.isnan(b.data), a.data, b.data)
    return _torch_node(where(larger, a, b), "FmaxBackward0")  # (in torch's order: a's first)


def fmin(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.fmin: the smaller of a and b, ignoring a nan; ties' gradient to a."""
    a, b = input, other
    _tensors("fmin", a, b)
    _check_broadcast("fmin", a, b)
    a, b = _as_tensor(a, _as_tensor(b)), _as_tensor(b, _as_tensor(a))
    _complex.refuse("fmin", a, b)
    if _promotion.needs_promotion(a, b):  # compared in the result dtype, as torch: a uint8
        a, b = _promotion.promote(a, b)  # tensor's fmax with a 0-d int -4 sees 252
    smaller = laid_as_inputs((a.data <= b.data) | np.isnan(b.data), a.data, b.data)
    return _torch_node(where(smaller, a, b), "FminBackward0")


@follows_inputs
class Pow(Op):
    """z = a ** b, both tensors (broadcast);  da = g * b * a^(b-1), db = g * z * log(a), 0 where
    a == 0 and b >= 0 (PyTorch's choice). Holomorphic for complex a, b (a real b >= 0 there)."""

    complex_ok = "holomorphic"
    # read by backward (in-place checks, Op.saves), in torch's order (saved_tensors_hooks)
    saves = (1, 0, "output")

    def forward(self, a, b):
        self.a, self.b = a, b
        if b.dtype.kind == "i" and a.dtype.kind in "iu" and (b < 0).any():
            # torch's integer powers: a ** -n is 1 / a ** n truncated (1, +-1 for a == -1, else 0)
            z = np.power(a, np.maximum(b, 0))  # (not |b|: the smallest int's is negative)
            reciprocal = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
            self.z = np.where(b < 0, reciprocal, z).astype(z.dtype)
            return self.z
        self.z = np.power(a, b)
        return self.z

    def complex_forward(self, a, b):
        self.a, self.b = a, b
        self.z = _complex.power(a, b)
        return self.z

    def backward(self, grad_output):
        a, b = self.a, self.b
        power = np.power if self.z.dtype.kind != "c" else _complex.power
        with np.errstate(divide="ignore", invalid="ignore"):
            a_grad = grad_output * b * power(a, b - 1)
            a_grad = np.where(b == 0, 0.0, a_grad)
            b_grad = grad_output * self.z * np.log(a)
            b_grad = np.where((a == 0) & _nonnegative(b), 0.0, b_grad)
        return a_grad, b_grad

    def backward_graph(self, grad_output, output):
        a, b = self.inputs
        a_grad = where(b.data == 0, 0.0, grad_output * b * Pow()(a, b - 1))
        b_grad = where((a.data == 0) & _nonnegative(b.data), 0.0, grad_output * output * a.log())
        return a_grad, b_grad


def _nonnegative(b: np.ndarray) -> np.ndarray:
    """b >= 0; for complex b a real b >= 0 (torch's test in pow's exponent gradient)."""
    return b >= 0 if b.dtype.kind != "c" else (b.real >= 0) & (b.imag == 0)


def pow(input, exponent) -> Tensor:  # noqa: A001, A002 - PyTorch's names
    """torch.pow: x ** exponent, either or both tensors (broadcast); a number base or exponent
    works too."""
    x = input
    if not isinstance(exponent, Tensor) and np.ndim(exponent) == 0:
        if not isinstance(x, Tensor):
            raise TypeError(f"pow: expected a tensor base or exponent, got {x!r} and "
                            f"{exponent!r}")
        return x ** exponent
    _no_bools("pow", x, exponent)
    _check_broadcast("pow", x, exponent)
    if _promotion.needs_promotion(x, exponent):  # torch's result dtype
        x, exponent = _promotion.promote(x, exponent)
    x, exponent = _as_tensor(x, _as_tensor(exponent)), _as_tensor(exponent, _as_tensor(x))
    if x.dtype != exponent.dtype:
        dtype = np.result_type(x.dtype, exponent.dtype)
        x, exponent = x.astype(dtype), exponent.astype(dtype)
    out = Pow()(x, exponent)  # number ** tensor: torch's pow(Scalar, Tensor), no edge for
    # the number; a tensor base (requiring grad or not): pow(Tensor, Tensor), PowBackward1
    if isinstance(input, Tensor):
        return _torch_node(out, "PowBackward1")
    out.data = row_major(out.data)  # torch's pow(Scalar, Tensor): a row-major result
    return _drop_numbers(out, input, exponent)


def _integers(name: str, *values, bools: bool = False) -> list[np.ndarray]:
    """The values' arrays, checked to be integers (or bools, with ``bools``) that broadcast."""
    arrays = [_data(v) for v in values]
    kinds, expected = ("biu", "integer or bool") if bools else ("iu", "integer")
    for v in arrays:
        if v.dtype.kind not in kinds:
            raise NoKernelError(f"{name}: expected {expected} tensors, got {v.dtype}")
    if len(arrays) == 2:
        _check_broadcast(name, *arrays)
    return arrays


def gcd(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.gcd: the greatest common divisor, element-wise (integers; no gradient)."""
    _tensors("gcd", input, None)
    _tensor_other("gcd", other)
    a, b = _integer_pair("gcd", input, other)
    return Tensor(laid_as_inputs(_gcd(a, b), a, b))


def lcm(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.lcm: the least common multiple, element-wise (integers; no gradient): torch's
    |a / gcd * b| in C's arithmetic (int for the narrower types, else the dtype), wrapping where
    it overflows (numpy's |a| / gcd * |b| wraps to another value)."""
    _tensors("lcm", input, None)
    _tensor_other("lcm", other)
    a, b = x, y = _integer_pair("lcm", input, other)
    g = _gcd(a, b)
    wide = np.promote_types(g.dtype, np.int32) if g.dtype.itemsize < 4 else g.dtype
    a, b, divisor = a.astype(wide), b.astype(wide), np.where(g == 0, 1, g).astype(wide)
    with np.errstate(over="ignore"):
        quotient = np.floor_divide(a, divisor)  # C's division truncates: floor one too low
        quotient += (np.remainder(a, divisor) != 0) & ((a < 0) != (divisor < 0))
        out = np.where(g == 0, 0, np.abs(quotient * b)).astype(g.dtype)
    return Tensor(laid_as_inputs(out, x, y))


def _gcd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gcd as torch's kernel: Euclid's on |a| and |b| in the integer dtype, where the smallest
    value is its own |.|, so with it the result can be negative (gcd(-2**31, -6) in int32 is
    -2, numpy's 2): those few elements replayed with C's remainder."""
    out = np.gcd(a, b)
    if out.dtype.kind != "i" or not out.size:
        return out
    low = np.iinfo(out.dtype).min
    odd = (a == low) | (b == low)
    if odd.any():
        out = np.array(out, copy=True)
        pairs = np.broadcast_arrays(a, b)
        for at in map(tuple, np.argwhere(np.broadcast_to(odd, out.shape))):  # (0-d too)
            x, y = (int(abs(int(p[at]))) for p in pairs)
            x, y = (low if v == -low else v for v in (x, y))
            while x != 0:  # b % a with the dividend's sign, as C's
                x, y = (abs(y) % abs(x)) * (1 if y >= 0 else -1), x
            out[at] = y
    return out


def _integer_pair(name: str, a, b) -> list[np.ndarray]:
    """The two integer arrays in torch's result dtype (a 0-d int64 tensor with an int8 one
    gives int8, its value wrapped)."""
    x, y = _integers(name, a, b, bools=True)  # (a bool with an integer: promoted)
    dtype = _promotion.result_type(a, b) if x.dtype != y.dtype else x.dtype
    if dtype.kind == "b":
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'Bool\', as torch')
    if x.dtype != y.dtype:
        x, y = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    return [x, y]


def ldexp(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.ldexp: x * 2 ** other (a float result), broadcast; differentiable in both."""
    x = input
    _tensors("ldexp", x, None)
    _tensor_other("ldexp", other)
    _check_broadcast("ldexp", x, other)
    x = _as_tensor(x)
    x_float, other_float = _is_float(x.dtype), _is_float(other.dtype)
    if x_float and not other_float and other.dtype.kind != "c":  # torch's exact kernel, in
        # x's dtype (no bool exponent)
        if other.dtype.kind == "b":
            raise NotImplementedError('"ldexp_cpu_exp" not implemented for \'Bool\', as torch')
        return _torch_node((x * exp2(other.astype(np.float64))).astype(x.dtype),
                           "LdexpBackward0")
    if x.dtype.kind == "c" and other.dtype == np.float16:  # torch's pow(2, other) in complex32
        raise NotImplementedError('"pow" not implemented for \'ComplexHalf\', as torch')
    if not other_float and other.dtype.kind != "c":  # x * pow(2.0, other): 2 ** an integer
        other = other.astype(np.float32)  # in the default float dtype (a complex one as it is)
    if not x_float and x.dtype.kind != "c":
        x = x.astype(other.dtype)
    from dlpy.node_names import named

    return named(x * exp2(other), "LdexpBackward0")  # (torch's one kernel)


def _is_float(dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"


class FrexpResult(NamedTuple):

    _torch_name = "frexp"  # torch.return_types.frexp
    __repr__ = structseq_repr
    mantissa: Tensor
    exponent: Tensor


def frexp(input) -> FrexpResult:
    """torch.frexp: (mantissa in (-1, -0.5] or [0.5, 1), int32 exponent) with x = mantissa *
    2 ** exponent (no gradient, as PyTorch)."""
    data = _data(input)
    if not is_floating_dtype(data.dtype):
        raise ArgDtypeError(f"frexp: expected a float tensor, got {data.dtype}")
    if data.dtype.kind != "f":  # bfloat16: exact in float32, its mantissa exact in bfloat16
        mantissa, exponent = np.frexp(data.astype(np.float32))
        mantissa = mantissa.astype(data.dtype)
    else:
        mantissa, exponent = np.frexp(data)
    if isinstance(input, Tensor) and input.requires_grad:  # d mantissa = g / 2^exponent
        from dlpy.node_names import named

        mantissa = named(input * Tensor(np.exp2(-exponent.astype(np.float64)).astype(
            data.dtype)), "FrexpBackward0")
    else:
        mantissa = Tensor(mantissa)
    return FrexpResult(mantissa, Tensor(exponent.astype(np.int32)))


@follows_inputs
class Nextafter(Op):
    """z = the next float after a toward b;  da = g where a != b, else 0 (z is b itself
    there), db = 0 (torch's gradient)."""

    saves = ()

    def forward(self, a, b):
        self.moved = np.not_equal(a, b)  # (broadcast: the output's shape)
        return np.nextafter(a, b)

    def backward(self, grad_output):
        return np.where(self.moved, grad_output, 0).astype(grad_output.dtype, copy=False), \
            np.zeros_like(grad_output)

    def backward_graph(self, grad_output, output):
        return grad_output * Tensor(self.moved.astype(grad_output.dtype)), grad_output * 0


def nextafter(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.nextafter: the next float after input toward other, broadcast."""
    _tensors("nextafter", input, None)
    _tensor_other("nextafter", other)
    _check_broadcast("nextafter", input, other)
    a, b = _data(input), _data(other)
    if not any(d.kind == "f" or d.name == "bfloat16" for d in (a.dtype, b.dtype)):
        raise NoKernelError(f"nextafter: expected float tensors, got {a.dtype} and {b.dtype}")
    if a.dtype != b.dtype:
        input, other = _promotion.promote(input, other)
    return Nextafter()(_as_tensor(input), other)


def signbit(input) -> Tensor:
    """torch.signbit: whether the sign bit is set (True for -0.0), a bool tensor."""
    if isinstance(input, _complex.ComplexTensor):
        raise NoKernelError(f"signbit: complex tensors are not supported, got {input.dtype}")
    data = _data(input)
    return Tensor(laid_as_inputs(np.signbit(data), data))


def _infinite(test, input) -> Tensor:
    try:
        data = _data(input)
        return Tensor(laid_as_inputs(test(data), data))
    except TypeError as err:  # numpy's refusal of complex values: torch's RuntimeError
        raise ArgDtypeError(*err.args) from None


def isposinf(input) -> Tensor:
    return _infinite(np.isposinf, input)


def isneginf(input) -> Tensor:
    return _infinite(np.isneginf, input)


def isreal(input) -> Tensor:
    """torch.isreal: True everywhere for a real tensor (a complex one: where imag == 0)."""
    data = _data(input)
    return Tensor(np.isreal(data) if data.dtype.kind == "c" else np.ones(data.shape, bool))


def erfc(input: Tensor) -> Tensor:
    """torch.erfc: 1 - erf(x), accurate where it is tiny (x past 4)."""
    return Erfc()(_promotion.floating(input))


def sgn(input: Tensor) -> Tensor:
    """torch.sgn: sign for a real tensor, z / |z| for a complex one (0 at 0)."""
    if isinstance(input, _complex.ComplexTensor):
        return _complex.sgn(input)
    return _torch_node(sign(input), "SgnBackward0")


@follows_inputs
class FloorDivide(Op):
    """z = floor(a / b) for floats, as torch's div_floor (numpy's floor_divide: the quotient of
    a - fmod(a, b), so inf // 2 is nan and -1 // inf is -1); zero gradients, as torch's."""

    saves = ()
    node_name = "DivBackward2"  # torch's node for a rounding div

    def __init__(self, dtype, number=None, number_first: bool = False):
        # a Python number operand is a setting: a half tensor // 0.7 divides by float32's 0.7
        self.dtype, self.number, self.number_first = dtype, number, number_first

    def forward(self, a, b=None):
        work = np.float32 if self.dtype.itemsize == 2 else self.dtype  # halves: in float32
        a = a.astype(work, copy=False)
        b = np.asarray(self.number, work) if b is None else b.astype(work, copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.floor_divide(b, a) if self.number_first else np.floor_divide(a, b)
        return out.astype(self.dtype, copy=False)

    def backward(self, grad_output):
        zero = np.zeros_like(grad_output)
        return (zero,) if self.number is not None else (zero, zero)

    def backward_graph(self, grad_output, output):
        return (grad_output * 0,) * (1 if self.number is not None else 2)


def floor_divide(input, other) -> Tensor:  # noqa: A002 - torch's names
    """torch.floor_divide: a / b rounded down (integers stay integers); no derivative: its
    node is torch's NotImplemented, whose backward raises (div(rounding_mode="floor") has a
    zero gradient)."""
    a, b = input, other
    _check_broadcast("floor_divide", a, b)
    if _promotion.needs_promotion(a, b) and _promotion.opmath_scalar(a, b) is None:
        a, b = _promotion.promote(a, b)  # (a half tensor // a number: float32's number)
    out = _as_tensor(a, _as_tensor(b)).div(b, rounding_mode="floor")
    return _no_derivative("floor_divide", out, input, other)


def _no_derivative(name: str, out: Tensor, *operands) -> Tensor:
    """``out`` of torch's op ``name`` that has no derivative formula: where it requires grad,
    a node torch names NotImplemented whose backward raises torch's RuntimeError."""
    if not out.requires_grad:
        return out
    from dlpy.node_names import named
    from dlpy.ops.indexing import _NoDerivative

    tracked = [t for t in operands if isinstance(t, Tensor) and t.requires_grad]
    return named(_NoDerivative(name, out.data)(*tracked), "torch::autograd::NotImplemented")


def _bessel_i1(x: np.ndarray) -> np.ndarray:
    """I1(x), the modified Bessel function of order 1 (i0's derivative), in float64: the power
    series sum (x/2)^(2k+1) / (k! (k+1)!) for |x| <= 30, the asymptotic series beyond."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) <= 30
    out = np.empty(x.shape)
    xs = x[small] / 2
    term = xs.copy()
    total = term.copy()
    for k in range(1, 80):
        term = term * xs * xs / (k * (k + 1))
        total += term
    out[small] = total
    xl = np.abs(x[~small])
    series, coefficient = np.ones(xl.shape), 1.0
    for k in range(1, 10):
        coefficient *= (4 - (2 * k - 1) ** 2) / (k * 8)
        series += coefficient * (-1) ** k / xl ** k
    with np.errstate(over="ignore"):
        out[~small] = np.sign(x[~small]) * np.exp(xl) / np.sqrt(2 * np.pi * xl) * series
    return out


@follows_inputs
class I0(Op):
    """y = I0(x), the modified Bessel function of order 0;  dx = g * I1(x)."""

    saves = (0,)  # backward reads x, never the result (as torch's)

    def forward(self, x):
        self.x = x
        dtype = x.dtype if x.dtype.kind == "f" or x.dtype.name == "bfloat16" else np.float32
        from dlpy.ops.special_more import past_float32_exp

        with np.errstate(over="ignore", invalid="ignore"):  # (i0(inf) = inf, silently)
            y = np.i0(np.asarray(x, np.float64))
        return past_float32_exp(x, y, odd=False).astype(dtype)

    def backward(self, grad_output):
        return (grad_output * _bessel_i1(self.x),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.special_more import i1

        return (grad_output * i1(self.inputs[0]),)


def i0(input: Tensor) -> Tensor:
    """torch.i0: the modified Bessel function of the first kind of order 0."""
    return I0()(input)


def polygamma_array(n: int, x) -> np.ndarray:
    """psi^(n)(x), the n-th derivative of digamma, in float64 (n >= 1), as torch's kernels:
    trigamma for n = 1, (-1)^(n+1) n! zeta(n + 1, x) above (so inf at the poles and -inf, nan
    at +inf where zeta's Euler-Maclaurin tail makes 0 * inf)."""
    if n == 1:
        from dlpy.ops.special import trigamma_array

        return trigamma_array(x)
    from dlpy.ops.special_more import zeta_array

    sign = -1.0 if n % 2 == 0 else 1.0  # (-1)^(n+1)
    with np.errstate(over="ignore", invalid="ignore"):
        return sign * math.exp(math.lgamma(n + 1.0)) * zeta_array(float(n + 1), x)


@follows_inputs
class Polygamma(Op):
    """y = psi^(n)(x);  dx = g * psi^(n+1)(x)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    def __init__(self, n: int):
        self.n = n

    def forward(self, x):
        self.x = x
        dtype = x.dtype if x.dtype.kind == "f" or x.dtype.name == "bfloat16" else np.float32
        if self.n == 0:
            from dlpy.ops.special import digamma_array

            return digamma_array(x).astype(dtype)
        return polygamma_array(self.n, x).astype(dtype)

    def backward(self, grad_output):
        return (grad_output * polygamma_array(self.n + 1, self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output * Polygamma(self.n + 1)(self.inputs[0]),)

    def describe(self) -> str:
        return f"Polygamma({self.n})"


def polygamma(n: int, input: Tensor) -> Tensor:
    """torch.polygamma: the n-th derivative of digamma (n = 0: digamma itself)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ArgError(f"polygamma: n must be a non-negative int, got {n!r}")
    return Polygamma(int(n))(input)


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """torch.mvlgamma: the multivariate log-gamma of dimension p,
    sum_{i<p} lgamma(x - i/2) + p (p - 1)/4 log(pi) (every x must exceed (p - 1)/2)."""
    from dlpy.ops.special import lgamma

    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
        raise ArgError(f"mvlgamma: p must be a positive int, got {p!r}")
    input = _as_tensor(input)  # (torch 2.13 no longer checks x > (p - 1) / 2: inf or nan there)
    if input.data.dtype.kind == "b":
        raise ArgError("mvlgamma: The input tensor may not be a boolean tensor.")
    dtype = input.data.dtype if input.data.dtype.kind not in "iu" else default_dtype()
    # torch's: arange(-(p - 1) / 2, 1/2, 1/2) in x's float dtype (+0.0 last), plus x, summed
    offsets = (np.arange(p, dtype=np.float64) * 0.5 - (p - 1) * 0.5).astype(dtype)
    out = lgamma(Tensor(offsets) + input.unsqueeze(-1)).sum(-1) \
        + p * (p - 1) / 4 * math.log(math.pi)
    if out.op is not None:  # torch's own node for the composite
        from dlpy.node_names import rename

        rename(out.op, "MvlgammaBackward0")
    return out


def igamma(input, other) -> Tensor:
    """torch.igamma (special.gammainc): the regularized lower incomplete gamma function."""
    from dlpy.ops.special import Gammainc, gammainc_operands

    return Gammainc()(*gammainc_operands("igamma", input, other))


def igammac(input, other) -> Tensor:
    """torch.igammac (special.gammaincc): Q(a, x) = 1 - igamma(a, x), by its own continued
    fraction where P is near 1."""
    from dlpy.ops.special import gammainc_operands
    from dlpy.ops.special_more import Gammaincc

    return Gammaincc()(*gammainc_operands("igammac", input, other))
