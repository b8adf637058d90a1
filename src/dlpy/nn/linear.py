"""Fully connected layers and element-wise activation modules."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
from dlpy.ops import real_number
from dlpy.random import get_rng


class Linear(Module):
    """y = x @ weight^T + bias; weight (out_features, in_features) as in PyTorch.

    Initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__()
        rng = get_rng(rng)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        weight = rng.uniform(-bound, bound, (out_features, in_features))
        self.weight = Parameter(weight, dtype=dtype)
        self.bias = None
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, out_features), dtype=dtype)

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(
                f"Linear: expected input (..., {self.in_features}), got {x.shape}"
            )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    """x * Phi(x); ``approximate="tanh"`` for PyTorch's tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}" if self.approximate != "none" else ""


class SiLU(Module):
    """x * sigmoid(x)."""

    def forward(self, x):
        return F.silu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = real_number("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = real_number("ELU", "alpha", alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = real_number("Softplus", "beta", beta)
        if self.beta == 0:
            raise ValueError("Softplus: beta must be nonzero, got 0.0")
        self.threshold = real_number("Softplus", "threshold", threshold, finite=False)

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x limited to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        super().__init__()
        self.min_val = real_number("Hardtanh", "min_val", min_val, finite=False)
        self.max_val = real_number("Hardtanh", "max_val", max_val, finite=False)

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softmax(Module):
    """softmax over axis ``dim`` (which must be given: PyTorch's implicit choice is deprecated)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax over axis ``dim``."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Identity(Module):
    def forward(self, x):
        return x
