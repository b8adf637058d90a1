"""Softmax and log-softmax over one axis, with the O(N) backward of the report."""

import numpy as np

from dlpy.tensor import Op


class Softmax(Op):
    """y = exp(x - max) / sum(exp(x - max));  dx = y * (g - sum(y * g)): O(N), no Jacobian."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        self.y = e
        return e

    def backward(self, grad_output):
        y = self.y
        return (y * (grad_output - (y * grad_output).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Op):
    """y = x - logsumexp(x);  dx = g - softmax(x) * sum(g)."""

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


def _axis(name, x, axis):
    ndim = np.ndim(x.data)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for shape {x.shape}")
    return axis % ndim


def softmax(x, axis=-1):
    return Softmax(_axis("softmax", x, axis))(x)


def log_softmax(x, axis=-1):
    return LogSoftmax(_axis("log_softmax", x, axis))(x)
