"""Element-wise non-linearities."""

import math

import numpy as np

from dlpy.tensor import Op

_erf = np.frompyfunc(math.erf, 1, 1)


class ReLU(Op):
    """y = max(x, 0);  dx = g * (x > 0)."""

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)  # keeps x's dtype; faster than np.where

    def backward(self, grad_output):
        return (grad_output * self.mask,)


class Sigmoid(Op):
    """y = 1 / (1 + exp(-x));  dx = g * y * (1 - y). Computed without overflow for large |x|."""

    def forward(self, x):
        z = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
        return self.y

    def backward(self, grad_output):
        return (grad_output * self.y * (1 - self.y),)


class Tanh(Op):
    """y = tanh(x);  dx = g * (1 - y^2)."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_output):
        return (grad_output * (1 - self.y * self.y),)


class GELU(Op):
    """y = x * Phi(x) with Phi the standard normal CDF (PyTorch's exact GELU);
    dx = g * (Phi(x) + x * phi(x))."""

    def forward(self, x):
        self.x = x
        erf = np.asarray(_erf(x / math.sqrt(2.0)), dtype=np.float64)  # 0-d gives a float
        self.cdf = (0.5 * (1.0 + erf)).astype(x.dtype, copy=False)
        return x * self.cdf

    def backward(self, grad_output):
        x = self.x
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (grad_output * (self.cdf + x * pdf),)


def relu(x):
    return ReLU()(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def gelu(x):
    return GELU()(x)
