"""Softmax and log-softmax over one axis, with the O(N) backward of the report."""

import numpy as np

from dlpy.amp.dtypes import float32_compute
from dlpy.tensor import Op, Tensor


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class Softmax(Op):
    """y = exp(x - max) / sum(exp(x - max));  dx = y * (g - sum(y * g)): O(N), no Jacobian."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = x - x.max(axis=self.axis, keepdims=True)  # shifted: exp cannot overflow
        np.exp(e, out=e)
        e /= e.sum(axis=self.axis, keepdims=True)
        self.y = e
        return e

    def backward(self, grad_output):
        y = self.y
        grad = y * grad_output
        grad -= y * grad.sum(axis=self.axis, keepdims=True)  # y * (g - sum(y * g))
        return (grad,)

    def backward_graph(self, grad_output, output):
        return (output * (grad_output - (output * grad_output).sum(self.axis, keepdims=True)),)


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class LogSoftmax(Op):
    """y = x - logsumexp(x);  dx = g - softmax(x) * sum(g)."""

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.y = y
        return y

    def backward(self, grad_output):
        softmax = np.exp(self.y)
        return (grad_output - softmax * grad_output.sum(axis=self.axis, keepdims=True),)

    def backward_graph(self, grad_output, output):
        return (grad_output - output.exp() * grad_output.sum(self.axis, keepdims=True),)


def _axis(name, x, axis):
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int, got {axis!r}")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"{name}: axis {axis} is out of range for shape {shape}")
    if shape[axis] == 0:
        raise ValueError(f"{name}: axis {axis} of shape {shape} is empty")
    return int(axis) % len(shape)


def softmax(x, axis=-1):
    return Softmax(_axis("softmax", x, axis))(x)


def log_softmax(x, axis=-1):
    return LogSoftmax(_axis("log_softmax", x, axis))(x)
