"""Fractional max pooling (Graham, 2014), as torch's F.fractional_max_pool2d / 3d: windows of
``kernel_size`` at pseudo-random starts, one sample in [0, 1) per (batch, channel, axis)
deciding where the windows of that plane start along that axis.

Along an axis of n inputs, k the window, o outputs and u the sample: alpha = (n - k) / (o - 1),
start_i = int((i + u) alpha) - int(u alpha) for i < o - 1 and start_{o-1} = n - k, computed in
the input's dtype as PyTorch's kernel does, so the same samples give the same windows. A
window's maximum is its first in row-major order, or its last NaN, as PyTorch's; the values
are a gather (getitem) of x, so the gradient (and its gradient) are getitem's.
"""

from __future__ import annotations

import math

import numpy as np

from dlpy.amp.state import FP32, autocast_policy
from dlpy.node_names import named
from dlpy.ops.conv import SPATIAL, _check_pool_rank, _ntuple, _shape_of
from dlpy.ops.shape import getitem, reshape
from dlpy.random import get_rng
from dlpy.tensor import ShapeError, Tensor

# which sample of a plane's (nd,) decides each spatial axis: PyTorch's 2-d kernel reads
# (W, H), its 3-d kernel (T, H, W)
_SAMPLE_OF_AXIS = {2: (1, 0), 3: (0, 1, 2)}


def _output_size(name: str, nd: int, spatial, output_size, output_ratio) -> tuple[int, ...]:
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name}: give an output_size or an output_ratio, got neither")
    if output_size is not None:
        return _ntuple(output_size, nd, f"{name}: output_size")
    return tuple(int(n * r) for n, r in zip(spatial, output_ratios(name, nd, output_ratio)))


def output_ratios(name: str, nd: int, output_ratio) -> tuple[float, ...]:
    """``output_ratio`` (a number or nd numbers, each in (0, 1)) as nd floats."""
    ratios = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) \
        else (output_ratio,) * nd
    if len(ratios) != nd or not all(
            isinstance(r, (int, float, np.number)) and not isinstance(r, bool)
            and math.isfinite(r) and 0 < r < 1 for r in ratios):
        raise ValueError(f"{name}: output_ratio must be a number or {nd} numbers in (0, 1), got "
                         f"{output_ratio!r}")
    return tuple(float(r) for r in ratios)


def window_starts(sample: np.ndarray, size: int, out: int, kernel: int) -> np.ndarray:
    """(..., out) window starts along one axis for samples (...,) (of the input's dtype), as
    PyTorch's ``generate_intervals``."""
    starts = np.empty(sample.shape + (out,), dtype=np.int64)
    if out > 1:
        dtype = sample.dtype.type
        alpha = dtype(size - kernel) / dtype(out - 1)
        i = np.arange(out - 1).astype(sample.dtype)
        scaled = (i + sample[..., None]) * alpha
        starts[..., :-1] = scaled.astype(np.int64) - (sample * alpha).astype(np.int64)[..., None]
    if out:  # (an empty output has no windows)
        starts[..., -1] = size - kernel
    return starts


@autocast_policy(FP32)  # torch's fractional_max_pool2d/3d run in float32 under autocast
def _fractional_max_pool(nd: int, input, kernel_size, output_size, output_ratio,  # noqa: A002
                         return_indices: bool, _random_samples, rng):
    name = f"fractional_max_pool{nd}d"
    shape = _shape_of(input)
    _check_pool_rank(name, shape, SPATIAL[nd][0])
    if not isinstance(input, Tensor):
        input = Tensor(np.asarray(input))  # noqa: A001
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point input, got {input.dtype}")
    kernel = _ntuple(kernel_size, nd, f"{name}: kernel_size")
    if min(kernel) < 1:
        raise ValueError(f"{name}: kernel_size must be positive, got {kernel_size!r}")
    batched = len(shape) == nd + 2
    batch, channels, spatial = (shape[0] if batched else 1), shape[-nd - 1], shape[-nd:]
    sizes = _output_size(name, nd, spatial, output_size, output_ratio)
    for axis, (n, k, o) in enumerate(zip(spatial, kernel, sizes)):
        if o < 0:  # (0: an empty result, as torch's)
            raise ValueError(f"{name}: output_size must not be negative, got {sizes}")
        if o + k - 1 > n - (nd == 3):  # torch's 3-d check is strict, its 2-d one not
            raise ShapeError(f"{name}: kernel_size {k} with output size {o} is too large for "
                             f"input size {n} (axis {axis} of {tuple(spatial)}): need output "
                             f"+ kernel - 1 {'<' if nd == 3 else '<='} input, as torch")
    expected = (batch, channels, nd)
    if _random_samples is None:
        samples = get_rng(rng).random(expected).astype(input.dtype)
    else:
        samples = np.asarray(_random_samples.data if isinstance(_random_samples, Tensor)
                             else _random_samples)
        # as torch's: at least N rows (the first N are used), C channels, nd samples each
        if samples.ndim != 3 or samples.shape[0] < batch or samples.shape[1:] != expected[1:]:
            raise ShapeError(f"{name}: _random_samples must have shape (at least N, C, {nd}) "
                             f"= {expected}, got {samples.shape}")
        samples = samples[:batch].astype(input.dtype)
        if not ((samples >= 0) & (samples < 1)).all():
            raise ValueError(f"{name}: _random_samples must lie in [0, 1), got values from "
                             f"{samples.min()} to {samples.max()}")
    # (batch, channels, *sizes, *kernel): each window position's index in its flat plane
    positions = np.zeros((batch, channels) + (1,) * (2 * nd), dtype=np.int64)
    for axis, (n, k, o) in enumerate(zip(spatial, kernel, sizes)):
        starts = window_starts(samples[..., _SAMPLE_OF_AXIS[nd][axis]], n, o, k)
        place = [batch, channels] + [1] * (2 * nd)
        place[2 + axis], place[2 + nd + axis] = o, k
        along = (starts[..., None] + np.arange(k)).reshape(place)
        positions = positions * n + along
    positions = positions.reshape(batch, channels, -1, math.prod(kernel))  # (..., windows, K)
    planes = input.data.reshape(batch, channels, -1)
    windows = np.take_along_axis(planes, positions.reshape(batch, channels, -1),
                                 axis=-1).reshape(positions.shape)
    nan = np.isnan(windows)
    last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    first = np.where(nan.any(axis=-1), last_nan, np.argmax(windows, axis=-1))
    indices = np.take_along_axis(positions, first[..., None], axis=-1)[..., 0]  # (B, C, windows)
    rows = np.arange(batch).reshape(-1, 1, 1), np.arange(channels).reshape(1, -1, 1)
    y = getitem(reshape(input, (batch, channels, -1)), (*rows, indices))
    out_shape = (batch, channels, *sizes) if batched else (channels, *sizes)
    y = named(reshape(y, out_shape), f"FractionalMaxPool{nd}DBackward0")  # torch's node
    return (y, Tensor(indices.reshape(out_shape))) if return_indices else y


def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                          output_ratio=None, return_indices: bool = False,
                          _random_samples=None, *, rng=None):
    """x (N, C, H, W) or unbatched (C, H, W) -> (..., oH, oW): the max over kh x kw windows at
    pseudo-random starts (``output_size``, or ``output_ratio`` times the input's); the samples
    (N, C, 2) in [0, 1) (W's, H's, as PyTorch's) come from ``_random_samples`` or are drawn from
    ``rng`` or dlpy's generator. return_indices: also the int64 indices of the maxima into each
    flattened H*W plane (``max_unpool2d`` takes them)."""
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples, rng)


def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                          output_ratio=None, return_indices: bool = False,
                          _random_samples=None, *, rng=None):
    """x (N, C, T, H, W) or unbatched (C, T, H, W) -> (..., oT, oH, oW), as
    fractional_max_pool2d; samples (N, C, 3) (T's, H's, W's); indices into each flattened
    T*H*W volume."""
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples, rng)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples=None, *, rng=None):
    """fractional_max_pool2d's (values, indices), whatever return_indices says (PyTorch's)."""
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio, True,
                                _random_samples, rng)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples=None, *, rng=None):
    """fractional_max_pool3d's (values, indices), whatever return_indices says (PyTorch's)."""
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio, True,
                                _random_samples, rng)
