"""More element-wise math: sin, cos, tan, atan2, erf, log1p, expm1, the rounding family (sign,
floor, ceil, round: zero gradient, as PyTorch) and maximum / minimum with broadcasting."""

from __future__ import annotations

import math

import numpy as np

from dlpy.ops.activation import _erf
from dlpy.ops.mask import where
from dlpy.tensor import Op, Tensor


class Sin(Op):
    """y = sin(x);  dx = g * cos(x)."""

    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, grad_output):
        return (grad_output * np.cos(self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output * self.inputs[0].cos(),)


class Cos(Op):
    """y = cos(x);  dx = -g * sin(x)."""

    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, grad_output):
        return (-grad_output * np.sin(self.x),)

    def backward_graph(self, grad_output, output):
        return (-grad_output * self.inputs[0].sin(),)


class Tan(Op):
    """y = tan(x);  dx = g * (1 + y^2)."""

    def forward(self, x):
        self.y = np.tan(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (1 + self.y * self.y),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (1 + output * output),)


class Atan2(Op):
    """z = atan2(y, x), the angle of the point (x, y);  dy = g x / r^2, dx = -g y / r^2 with
    r^2 = x^2 + y^2, and 0 where r^2 is 0 (as PyTorch)."""

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


class Erf(Op):
    """y = erf(x) (computed in float64, Cody's rational approximations);
    dx = g * 2 / sqrt(pi) * exp(-x^2)."""

    def forward(self, x):
        self.x = x
        return _erf(x).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)

    def backward(self, grad_output):
        x = self.x
        return (grad_output * (2 / math.sqrt(math.pi)) * np.exp(-x * x),)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        return (grad_output * (2 / math.sqrt(math.pi)) * (-x * x).exp(),)


class Log1p(Op):
    """y = log(1 + x), accurate for small x;  dx = g / (1 + x)."""

    def forward(self, x):
        self.x = x
        return np.log1p(x)

    def backward(self, grad_output):
        return (grad_output / (1 + self.x),)

    def backward_graph(self, grad_output, output):
        return (grad_output / (1 + self.inputs[0]),)


class Expm1(Op):
    """y = exp(x) - 1, accurate for small x;  dx = g * (y + 1)."""

    def forward(self, x):
        self.y = np.expm1(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (self.y + 1),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (output + 1),)


class Step(Op):
    """y = a piecewise-constant function of x (sign, floor, ceil, round);  dx = 0 everywhere, as
    PyTorch (the jumps have no gradient either)."""

    def __init__(self, function, decimals: int = 0):
        self.function, self.decimals = function, decimals

    def forward(self, x):
        if self.decimals:
            return self.function(x, self.decimals)
        return self.function(x)

    def backward(self, grad_output):
        return (np.zeros_like(grad_output),)

    def backward_graph(self, grad_output, output):
        return (Tensor(np.zeros_like(grad_output.data)),)

    def describe(self) -> str:
        return f"Step({self.function.__name__})"


class Maximum(Op):
    """y = max(a, b) element-wise (broadcast);  the gradient goes to the larger input, and half
    to each where a == b (PyTorch's rule). ``Maximum(smaller=True)`` is minimum."""

    def __init__(self, smaller: bool = False):
        self.smaller = smaller

    def forward(self, a, b):
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


def sin(x: Tensor) -> Tensor:
    return Sin()(x)


def cos(x: Tensor) -> Tensor:
    return Cos()(x)


def tan(x: Tensor) -> Tensor:
    return Tan()(x)


def _check_broadcast(name: str, a, b) -> None:
    shapes = [np.shape(v.data if isinstance(v, Tensor) else v) for v in (a, b)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{name}: shapes {shapes[0]} and {shapes[1]} cannot be broadcast "
                         f"together") from None


def atan2(y: Tensor, x: Tensor) -> Tensor:
    """torch.atan2(input=y, other=x): the angle of (x, y) in (-pi, pi], broadcast."""
    _check_broadcast("atan2", y, x)
    return Atan2()(y, x)


def erf(x: Tensor) -> Tensor:
    """The error function 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt."""
    return Erf()(x)


def log1p(x: Tensor) -> Tensor:
    return Log1p()(x)


def expm1(x: Tensor) -> Tensor:
    return Expm1()(x)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of x; zero gradient."""
    return Step(np.sign)(x)


def floor(x: Tensor) -> Tensor:
    return Step(np.floor)(x)


def ceil(x: Tensor) -> Tensor:
    return Step(np.ceil)(x)


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round to ``decimals`` places, halves to even (as torch.round and numpy); zero gradient."""
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return Step(np.round, int(decimals))(x)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    """torch.maximum: the larger of a and b element-wise (broadcast); ties share the gradient."""
    _check_broadcast("maximum", a, b)
    return Maximum()(a, b)


def minimum(a: Tensor, b: Tensor) -> Tensor:
    """torch.minimum: the smaller of a and b element-wise (broadcast); ties share the gradient."""
    _check_broadcast("minimum", a, b)
    return Maximum(smaller=True)(a, b)
