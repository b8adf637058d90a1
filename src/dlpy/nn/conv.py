"""Convolution layers over (N, C, L) and NCHW inputs, pooling layers over NCHW inputs, and
Flatten / Unflatten (feature maps <-> Linear)."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
from dlpy.ops.conv import _dilation, _groups, _padding, _pair, _single, conv2d, max_pool2d
from dlpy.random import get_rng
from dlpy.tensor import Tensor


def _check_channels(name: str, in_channels: int, out_channels: int, groups) -> int:
    if in_channels < 1 or out_channels < 1:
        raise ValueError(
            f"{name}: in_channels and out_channels must be >= 1, got {in_channels}, "
            f"{out_channels}"
        )
    groups = _groups(groups, name)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{name}: in_channels and out_channels must be divisible by groups={groups}, got "
            f"{in_channels}, {out_channels}"
        )
    return groups


def _conv_repr(layer) -> str:
    return (f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, "
            f"stride={layer.stride}, padding={layer.padding}"
            + ("" if set(layer.dilation) == {1} else f", dilation={layer.dilation}")
            + ("" if layer.groups == 1 else f", groups={layer.groups}")
            + f", bias={layer.bias is not None}")


class Conv2d(Module):
    """x (N, in_channels, H, W) -> (N, out_channels, H_out, W_out); weight
    (out_channels, in_channels / groups, kh, kw), bias (out_channels,) as in PyTorch.

    Initialised as PyTorch does: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
    in_channels / groups * kh * kw. padding: an int, a pair, "valid" or "same" (stride 1).
    dilation and groups as F.conv2d.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.groups = _check_channels("Conv2d", in_channels, out_channels, groups)
        rng = get_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "Conv2d: kernel_size")
        self.stride = _pair(stride, "Conv2d: stride")
        self.padding = _padding("Conv2d", padding, self.stride)  # a pair, "valid" or "same"
        self.dilation = _dilation(dilation, "Conv2d")
        fan_in = in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        shape = (out_channels, in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape), dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels), dtype=dtype) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d: expected input (N, {self.in_channels}, H, W), got {x.shape}"
            )
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)

    def extra_repr(self) -> str:
        return _conv_repr(self)


class Conv1d(Module):
    """x (N, in_channels, L) -> (N, out_channels, L_out); weight
    (out_channels, in_channels / groups, k), bias (out_channels,) as in PyTorch.

    Initialised as Conv2d (and PyTorch): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
    in_channels / groups * k. padding: an int, "valid" or "same" (stride 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.groups = _check_channels("Conv1d", in_channels, out_channels, groups)
        rng = get_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        # 1-tuples, as PyTorch keeps them
        self.kernel_size = (_single(kernel_size, "Conv1d: kernel_size"),)
        self.stride = (_single(stride, "Conv1d: stride"),)
        padding = _padding("Conv1d", padding, self.stride, pair=False)
        self.padding = padding if isinstance(padding, str) else (padding,)
        self.dilation = (_dilation(dilation, "Conv1d", pair=False),)
        bound = 1.0 / math.sqrt(in_channels // self.groups * self.kernel_size[0])
        shape = (out_channels, in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape), dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels), dtype=dtype) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv1d: expected input (N, {self.in_channels}, L), got {x.shape}")
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        return _conv_repr(self)


class MaxPool2d(Module):
    """Max over kernel_size windows every stride (default kernel_size), as F.max_pool2d:
    (N, C, H, W) -> (N, C, H_out, W_out), and with return_indices the int64 indices too.
    The arguments in PyTorch's order (return_indices before ceil_mode, unlike F.max_pool2d)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "MaxPool2d: kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "MaxPool2d: stride")
        self.padding = _pair(padding, "MaxPool2d: padding")
        self.dilation = _dilation(dilation, "MaxPool2d")
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)

    def forward(self, x: Tensor):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + ("" if self.dilation == (1, 1) else f", dilation={self.dilation}")
                + (", return_indices=True" if self.return_indices else "")
                + (", ceil_mode=True" if self.ceil_mode else ""))


class AvgPool2d(Module):
    """Mean over kernel_size windows every stride (default kernel_size), as F.avg_pool2d:
    (N, C, H, W) -> (N, C, H_out, W_out)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "AvgPool2d: kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "AvgPool2d: stride")
        self.padding = _pair(padding, "AvgPool2d: padding")
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else "")
                + ("" if self.count_include_pad else ", count_include_pad=False")
                + ("" if self.divisor_override is None
                   else f", divisor_override={self.divisor_override}"))


class AdaptiveAvgPool2d(Module):
    """(N, C, H, W) -> (N, C, *output_size), averaging PyTorch's adaptive windows, as
    F.adaptive_avg_pool2d; AdaptiveAvgPool2d(1) is the global average pool."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """The axes start_dim..end_dim into one, as torch.nn.Flatten (default: all but the batch
    axis, (N, d1, d2, ...) -> (N, d1 * d2 * ...))."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected a batch axis, got shape {x.shape}")
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Axis dim -> the axes unflattened_size (their product its size; one may be -1), as
    torch.nn.Unflatten: Unflatten(1, (3, 4)) makes (N, 12) into (N, 3, 4)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r}")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                for n in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{unflattened_size!r}")
        sizes = tuple(int(n) for n in unflattened_size)
        if not sizes or any(n < -1 for n in sizes) or sizes.count(-1) > 1:
            raise ValueError(f"Unflatten: unflattened_size must be sizes >= 0 with at most one "
                             f"-1, got {sizes}")
        self.dim, self.unflattened_size = int(dim), sizes

    def forward(self, x: Tensor) -> Tensor:
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for shape {x.shape}")
        dim = self.dim % x.ndim
        sizes, n = self.unflattened_size, x.shape[dim]
        known = math.prod(s for s in sizes if s != -1)
        fits = n % known == 0 if -1 in sizes and known else known == n
        if not fits:
            raise ValueError(f"Unflatten: sizes {sizes} do not multiply to the size {n} of axis "
                             f"{dim} of {x.shape}")
        return x.reshape(*x.shape[:dim], *sizes, *x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
