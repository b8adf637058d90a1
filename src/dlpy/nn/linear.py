"""Fully connected layers and element-wise activation modules."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
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
    def forward(self, x):
        return F.gelu(x)


class Identity(Module):
    def forward(self, x):
        return x
