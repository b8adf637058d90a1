"""Convolution and pooling layers over NCHW inputs, and Flatten (feature maps -> Linear)."""

from __future__ import annotations

import math

import numpy as np

from dlpy.nn.module import Module, Parameter
from dlpy.ops.conv import _pair, conv2d, max_pool2d
from dlpy.random import get_rng
from dlpy.tensor import Tensor


class Conv2d(Module):
    """x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out);
    weight (out_channels, in_channels, kh, kw), bias (out_channels,) as in PyTorch.

    Initialised as PyTorch does: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels*kh*kw.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"Conv2d: in_channels and out_channels must be >= 1, got {in_channels}, "
                f"{out_channels}"
            )
        rng = get_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "Conv2d: kernel_size")
        self.stride, self.padding = _pair(stride, "Conv2d: stride"), _pair(padding,
                                                                           "Conv2d: padding")
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape), dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels), dtype=dtype) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d: expected input (N, {self.in_channels}, H, W), got {x.shape}"
            )
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class MaxPool2d(Module):
    """Max over kernel_size windows every stride (default kernel_size): (N, C, H, W) ->
    (N, C, H_out, W_out)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "MaxPool2d: kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "MaxPool2d: stride")
        self.padding = _pair(padding, "MaxPool2d: padding")

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), as torch.nn.Flatten() with its defaults."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected a batch axis, got shape {x.shape}")
        return x.reshape(x.shape[0], -1)
