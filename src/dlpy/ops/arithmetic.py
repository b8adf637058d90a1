"""Element-wise arithmetic with numpy broadcasting. Gradients are returned at the broadcast shape;
the engine sums them back to each input's shape."""

import numpy as np

from dlpy.tensor import Op


class Identity(Op):
    """y = x;  dx = g."""

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return (grad_output,)


class Add(Op):
    """y = a + b;  da = g, db = g."""

    def forward(self, a, b):
        return a + b

    def backward(self, grad_output):
        return grad_output, grad_output


class Sub(Op):
    """y = a - b;  da = g, db = -g."""

    def forward(self, a, b):
        return a - b

    def backward(self, grad_output):
        return grad_output, -grad_output


class Mul(Op):
    """y = a * b;  da = g * b, db = g * a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_output):
        a_grad = grad_output * self.b if self.inputs[0].requires_grad else None
        b_grad = grad_output * self.a if self.inputs[1].requires_grad else None
        return a_grad, b_grad


class Div(Op):
    """y = a / b;  da = g / b, db = -g * y / b."""

    def forward(self, a, b):
        self.b = b
        self.y = a / b
        return self.y

    def backward(self, grad_output):
        a_grad = grad_output / self.b
        b_grad = -a_grad * self.y if self.inputs[1].requires_grad else None
        return a_grad, b_grad


class Neg(Op):
    """y = -x;  dx = -g."""

    def forward(self, x):
        return -x

    def backward(self, grad_output):
        return (-grad_output,)


class Power(Op):
    """y = x ** p for a constant p;  dx = g * p * x ** (p - 1)."""

    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, x):
        self.x = x
        return x**self.exponent

    def backward(self, grad_output):
        p = self.exponent
        return (grad_output * (p * self.x ** (p - 1)).astype(self.x.dtype, copy=False),)


class Exp(Op):
    """y = exp(x);  dx = g * y."""

    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * self.y,)


class Log(Op):
    """y = log(x);  dx = g / x."""

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, grad_output):
        return (grad_output / self.x,)


class Sqrt(Op):
    """y = sqrt(x);  dx = g / (2 y)."""

    def forward(self, x):
        self.y = np.sqrt(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output / (2 * self.y),)


def _check_broadcast(name, a, b):
    shapes = [x.shape for x in (a, b) if hasattr(x, "shape")]
    if len(shapes) == 2:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(
                f"{name}: shapes {shapes[0]} and {shapes[1]} cannot be broadcast together"
            ) from None


def identity(x):
    return Identity()(x)


def add(a, b):
    _check_broadcast("add", a, b)
    return Add()(a, b)


def sub(a, b):
    _check_broadcast("sub", a, b)
    return Sub()(a, b)


def mul(a, b):
    _check_broadcast("mul", a, b)
    return Mul()(a, b)


def div(a, b):
    _check_broadcast("div", a, b)
    return Div()(a, b)


def neg(x):
    return Neg()(x)


def power(x, exponent):
    if not isinstance(exponent, (int, float, np.integer, np.floating)):
        raise TypeError(f"power: the exponent must be a number, got {type(exponent).__name__}")
    return Power(float(exponent))(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)
