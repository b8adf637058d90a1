"""Convolution and its transpose, max and average pooling and max unpooling over (N, C, *spatial)
arrays with 1, 2 or 3 spatial axes (L; H, W; D, H, W), one implementation for all three (the
lowercase functions also take unbatched (C, *spatial)). The convolution is by im2col (each output
position's input window becomes one column, so it is one matrix product per group; a strided
stem's from the input split into the stride's phases) or, where conv_path finds them faster,
by the depthwise (kw copies of the input, or banded), pointwise, channels-last or Winograd
kernels of the conv_*.py files; the transposed convolution is the same convolution's input
gradient (by the same kernels) and the pools run over the kernel's strided views of the
input."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from dlpy import meta as _meta
from dlpy.amp.dtypes import _c_name, _torch_name, float32_compute, is_low_precision
from dlpy.amp.state import FP32, autocast_policy
from dlpy.device import meta_array
from dlpy.layouts import (
    channels_last,
    contiguous_format,
    laid_like,
    laid_out,
    suggests_channels_last,
    to_format,
)
from dlpy.node_names import optional_edges
from dlpy.ops import (
    ArgDtypeError,
    NoKernelError,
    conv_channels_last,
    conv_depthwise,
    conv_pointwise,
    conv_winograd,
)
from dlpy.ops.arithmetic import slope_grad
from dlpy.ops.norm import _channel_sums
from dlpy.ops.pad import pad
from dlpy.ops.shape import IndexAdd, squeeze, unsqueeze
from dlpy.tensor import Op, Tensor, is_floating_dtype

# the spatial axes and the kernel's, by number of spatial axes, for the error messages
SPATIAL = {1: ("L", "k"), 2: ("H, W", "kh, kw"), 3: ("D, H, W", "kd, kh, kw")}
_TUPLE_WORDS = {1: "a 1-tuple", 2: "a pair", 3: "a triple"}


class ConvError(RuntimeError, ValueError):
    """A convolution called with settings or shapes that do not fit: torch's RuntimeError, and
    a ValueError as dlpy's argument errors are (the layers' constructors raise plain
    ValueErrors, as torch's do)."""


class ConvTypeError(TypeError, ValueError):
    """An argument of a type torch's convolution does not take (torch's TypeError)."""


class _ConvArgTypeError(ConvError, TypeError):
    """A setting (kernel_size, padding, divisor_override...) that is not an int or ints: dlpy's
    ConvError, and torch's TypeError (its argument parser refuses a float or a string)."""


class _PoolRankError(ConvError, IndexError):
    """A pool's x with too few axes: dlpy's ConvError, and torch's IndexError (avg_pool2d's;
    its other pools raise a RuntimeError, which ConvError is)."""


_same_copy_warned: list[bool] = []


def _warn_same_copy() -> None:
    """torch's warning of padding='same' with an odd total (an even kernel at an odd
    dilation: the input is padded by a copy), once a process (TORCH_WARN_ONCE; every time after
    ``set_warn_always(True)``)."""
    from dlpy import torch_misc

    if _same_copy_warned and not torch_misc._warn_always:
        return
    _same_copy_warned.append(True)
    import warnings

    from dlpy._caller import user_stacklevel

    warnings.warn("Using padding='same' with even kernel lengths and odd dilation may require a "
                  "zero-padded copy of the input be created", UserWarning,
                  stacklevel=user_stacklevel())


def _ntuple(value, n: int, name: str, one: bool = False) -> tuple[int, ...]:
    """An int (repeated n times) or n ints as a tuple (one: a single int in a tuple or list
    repeated too, as torch's functional convolutions and pools take it); anything else (bools
    too) a ValueError."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if one and len(items) == 1:
        items *= n
    not_int = not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                      for v in items)
    if len(items) != n or not_int:
        raise (_ConvArgTypeError if not_int else ConvError)(
            f"{name}: expected an int or {_TUPLE_WORDS[n]} of ints, got {value!r}")
    return tuple(int(v) for v in items)


def _pair(value, name: str) -> tuple[int, int]:
    return _ntuple(value, 2, name)


def _single(value, name: str) -> int:
    return _ntuple(value, 1, name)[0]


def _show(values: tuple):
    """A setting as the messages show it: one int for 1-d, else the tuple."""
    return values[0] if len(values) == 1 else tuple(values)


def _padding(name: str, padding, stride: tuple, one: bool = False, error=ValueError):
    """A convolution's padding as given: "valid", "same" (stride 1 only, as PyTorch), or one int
    per spatial axis (len(stride) of them) that the caller checks are >= 0."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise error(f"{name}: padding must be ints, 'valid' or 'same', got {padding!r}")
        if padding == "same" and any(s != 1 for s in stride):
            raise error(f"{name}: padding='same' needs stride 1, as in PyTorch, got stride "
                        f"{_show(stride)}")
        return padding
    return _ntuple(padding, len(stride), f"{name}: padding", one)


def _dilation(value, name: str, n: int = 2, one: bool = False,
              error=ConvError) -> tuple[int, ...]:
    """dilation as n ints (one: as _ntuple), checked >= 1."""
    dilation = _ntuple(value, n, f"{name}: dilation", one)
    if min(dilation) < 1:
        raise error(f"{name}: need dilation >= 1, got {_show(dilation)}")
    return dilation


def _groups(value, name: str, error=ValueError) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise error(f"{name}: groups must be an int >= 1, got {value!r}")
    return int(value)


def _check_dtype(name: str, x) -> None:
    """torch has no bool convolution. (Mixed dtypes are promoted, as dlpy's matmul and linear
    promote them, where torch refuses them.)"""
    if getattr(x, "dtype", None) == np.bool_:
        raise NotImplementedError(f"{name}: not implemented for bool, as torch")


def _check_conv_shapes(name: str, x_shape, w_shape, groups: int, nd: int) -> None:
    """x (N, C, *spatial) and weight (O, C / groups, *kernel), C and O divisible by groups."""
    spatial, kernel = SPATIAL[nd]
    if len(x_shape) != nd + 2 or len(w_shape) != nd + 2:
        raise ConvError(
            f"{name}: expected x (N, C, {spatial}) or unbatched (C, {spatial}) and weight "
            f"(O, C / groups, {kernel}), got x {x_shape} and weight {w_shape}"
        )
    if groups == 1 and x_shape[1] != w_shape[1]:
        raise ConvError(
            f"{name}: expected x (N, C, {spatial}) and weight (O, C, {kernel}) with the same C, "
            f"got x {x_shape} and weight {w_shape}"
        )
    if x_shape[1] % groups or w_shape[0] % groups:
        raise ConvError(
            f"{name}: in_channels and out_channels must be divisible by groups={groups}, got x "
            f"{x_shape} and weight {w_shape}"
        )
    if w_shape[1] * groups != x_shape[1]:
        raise ConvError(
            f"{name}: expected weight (O, C / groups, {kernel}) = (O, {x_shape[1] // groups}, "
            f"{kernel}) for x {x_shape} and groups={groups}, got weight {w_shape}"
        )


def _span(kernel, dilation) -> tuple[int, ...]:
    """How far a dilated window reaches: d * (k - 1) + 1 along each axis."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def _output_size(name: str, size, kernel, stride, padding, dilation) -> tuple[int, ...]:
    """(size + 2 padding - d (k - 1) - 1) // stride + 1 along each axis, at least 1."""
    size, kernel, dilation = tuple(size), tuple(kernel), tuple(dilation)
    out = tuple((n + 2 * p - span) // s + 1 for n, span, s, p in
                zip(size, _span(kernel, dilation), stride, padding))
    if min(out) < 1:
        dilated = "" if set(dilation) == {1} else f" with dilation {_show(dilation)}"
        if len(size) == 1:
            raise ConvError(f"{name}: kernel size {kernel[0]}{dilated} does not fit the input "
                            f"length {size[0]} with padding {padding[0]}")
        raise ConvError(f"{name}: kernel {kernel}{dilated} does not fit the input {size} with "
                        f"padding {tuple(padding)}")
    return out


def _kernel_positions(kernel, stride, dilation, out_size):
    """Yield each kernel position (i, j, ...) in row-major order and the index of the values it
    reads in every window: the (N, C) axes whole, then out_size values every stride from d i
    along each spatial axis (the slices made once per axis, as this runs per position)."""
    per_axis = [[slice(i * d, i * d + s * (o - 1) + 1, s) for i in range(k)]
                for k, s, d, o in zip(kernel, stride, dilation, out_size)]
    whole = (slice(None), slice(None))
    for position, slices in zip(itertools.product(*map(range, kernel)),
                                itertools.product(*per_axis)):
        yield position, whole + slices


def _windows(x: np.ndarray, kernel, stride, dilation, out_size) -> np.ndarray:
    """A view (N, C, *out_size, *kernel) of every window of x (already padded): windows start
    every stride and take every dilation-th value."""
    nd = len(kernel)
    view = sliding_window_view(x, _span(kernel, dilation), axis=tuple(range(2, 2 + nd)))
    return view[(slice(None), slice(None))
                + tuple(slice(None, s * (o - 1) + 1, s) for s, o in zip(stride, out_size))
                + tuple(slice(None, None, d) for d in dilation)]


def _add_windows(grad_padded: np.ndarray, window_grads: np.ndarray, stride, dilation,
                 out_size) -> None:
    """The adjoint of _windows: add window_grads (N, C, *out_size, *kernel) back in place, one
    strided slice per kernel position."""
    kernel = window_grads.shape[-len(stride):]
    for position, index in _kernel_positions(kernel, stride, dilation, out_size):
        grad_padded[index] += window_grads[(..., *position)]


def _im2col(x_padded: np.ndarray, kernel, stride, dilation, out_size,
            groups: int) -> np.ndarray:
    """(G, C/G*prod(kernel), N*prod(out_size)): each window of x (N, C, *spatial, already
    padded) as a column, the rows channel-major (C, *kernel), one block per group; one copy."""
    n, nd = x_padded.shape[0], len(kernel)
    windows = _windows(x_padded, kernel, stride, dilation, out_size)
    # (N, C, *out, *kernel) -> (C, *kernel, N, *out) -> (G, C/G*prod(kernel), N*prod(out))
    order = (1, *range(2 + nd, 2 + 2 * nd), 0, *range(2, 2 + nd))
    return windows.transpose(order).reshape(groups, -1, n * math.prod(out_size))


def _col2im(cols: np.ndarray, shape, kernel, stride, padding, dilation,
            out_size) -> np.ndarray:
    """The adjoint of _im2col of x padded: cols (G, C/G*prod(kernel), N*prod(out_size)) added
    back window by window into an (N, C, *spatial) = shape array (a transposed view of a
    (C, N, *spatial) one: accumulating channel-major, the cols' own order, is faster)."""
    n, c, *spatial = shape
    nd = len(kernel)
    padded = np.zeros((c, n, *(size + 2 * p for size, p in zip(spatial, padding))),
                      dtype=cols.dtype)
    # (C, *kernel, N, *out) -> (C, N, *out, *kernel)
    order = (0, 1 + nd, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd))
    _add_windows(padded, cols.reshape(c, *kernel, n, *out_size).transpose(order), stride,
                 dilation, out_size)
    return _unpad(padded, padding).transpose(1, 0, *range(2, 2 + nd))


def _pad(x: np.ndarray, padding) -> np.ndarray:
    if not any(padding):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))


def _unpad(x: np.ndarray, padding) -> np.ndarray:
    return x[(slice(None), slice(None)) + tuple(slice(p, n - p) for p, n in
                                                zip(padding, x.shape[2:]))]


# the most rows (C/G prod(kernel)) of a strided im2col made block by block (_Phases.blocked)
BLOCKED_ROWS = 256


class _Phases:
    """The im2col of a strided convolution from x_pad split into its stride's phases
    (x_pad[..., s q + r] at [..., r, q]), each plane flattened: kernel position i reads phase
    (d i) % s from flat offset (d i) // s in row-major units, so each of its rows of the
    columns is one contiguous run of a phase, over a "wide" grid (out_0, *Q[1:]) of whole phase
    rows whose values past out_size are dropped (zero in g). For a stem (blocked): its forward
    and weight gradient block by block (forward 0.71-0.88x the whole im2col's time), its input
    gradient's columns added back a whole run at a time, not a short strided row at a time.
    (A 3x3/2 on 64 channels measured 0.93-1.06x either way: it keeps the whole im2col.)
    Phases (C, N, prod(s), prod(Q)) of (Q_0 + 1, Q_1, ...) values: one row more, so that the
    wide grid's last row stays inside."""

    def __init__(self, spatial, kernel, stride, padding, dilation, out_size):
        self.spatial, self.stride, self.padding = tuple(spatial), tuple(stride), tuple(padding)
        self.out_size = tuple(out_size)
        quotients = [-(-(n + 2 * p) // s) for n, p, s in zip(spatial, padding, stride)]
        self.q = (quotients[0] + 1, *quotients[1:])
        self.length = self.out_size[0] * math.prod(self.q[1:])  # L: the wide grid of a plane
        self.taps = []  # (phase, flat offset) per kernel position, row-major
        for position in itertools.product(*map(range, kernel)):
            phase = start = 0
            for i, d, s, q in zip(position, dilation, stride, self.q):
                phase, start = phase * s + d * i % s, start * q + d * i // s
            self.taps.append((phase, start))
        per_axis = []
        for size, p, s in zip(self.spatial, self.padding, self.stride):
            axis = []
            for r in range(s):  # the values of x in phase r: every s-th from (r - p) % s
                first_x = (r - p) % s
                first_q = (first_x + p) // s
                axis.append((slice(first_x, None, s),
                             slice(first_q, first_q + len(range(first_x, size, s)))))
            per_axis.append(axis)
        self.slices = [(flat, tuple(x for x, _ in parts), tuple(q for _, q in parts))
                       for flat, parts in enumerate(itertools.product(*per_axis))]
        # per phase that holds kernel positions: its flat index, the positions along each axis
        # (every s / gcd(s, d)-th), the flat offset of the first and the steps between them
        self.kernel, self.phase_taps = tuple(kernel), []
        row_sizes = [math.prod(self.q[axis + 1:]) for axis in range(len(self.q))]
        for flat, phase in enumerate(itertools.product(*map(range, stride))):
            taps = [[i for i in range(k) if d * i % s == r]
                    for r, k, s, d in zip(phase, kernel, stride, dilation)]
            if all(taps):
                start = sum(d * t[0] // s * size for t, s, d, size in
                            zip(taps, stride, dilation, row_sizes))
                steps = [d * (t[1] - t[0]) // s * size if len(t) > 1 else 0 for t, s, d, size in
                         zip(taps, stride, dilation, row_sizes)]
                self.phase_taps.append((flat, taps, start, steps))

    def wide(self, array: np.ndarray) -> np.ndarray:
        """(..., L) on the wide grid -> its (..., *out_size) values (a view)."""
        grid = array.reshape(*array.shape[:-1], self.out_size[0], *self.q[1:])
        return grid[(..., slice(None), *(slice(0, o) for o in self.out_size[1:]))]

    def split(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, *spatial) -> its phases (C, N, prod(s), prod(Q)), zero-padded."""
        n, c = x.shape[:2]
        phases = np.zeros((c, n, math.prod(self.stride), math.prod(self.q)), dtype=x.dtype)
        grid = phases.reshape(c, n, -1, *self.q)
        x = _channels_first(x)
        for flat, x_index, q_index in self.slices:
            grid[(slice(None), slice(None), flat, *q_index)] = x[(slice(None), slice(None),
                                                                 *x_index)]
        return phases

    def weight_matrix(self, weight: np.ndarray, groups: int) -> np.ndarray:
        """(G, O/G, K): w's columns in block_cols' row order, phase by phase."""
        w = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
        return np.concatenate([w[(..., *np.ix_(*taps))].reshape(*w.shape[:2], -1)
                               for _, taps, _, _ in self.phase_taps], axis=-1)

    def weight_grad(self, grad: np.ndarray, shape) -> np.ndarray:
        """weight_matrix's adjoint: (G, O/G, K) back to the weight's (O, C/G, *kernel)."""
        w_grad = np.empty((grad.shape[0], grad.shape[1], *shape[1:]), dtype=grad.dtype)
        start = 0
        for _, taps, _, _ in self.phase_taps:
            size = shape[1] * math.prod(map(len, taps))
            w_grad[(..., *np.ix_(*taps))] = grad[..., start:start + size].reshape(
                *grad.shape[:2], shape[1], *map(len, taps))
            start += size
        return w_grad.reshape(shape)

    def block_cols(self, phases: np.ndarray, sample: int, lo: int, hi: int, groups: int,
                   buffer: np.ndarray) -> np.ndarray:
        """(G, C/G K, hi - lo): the columns lo:hi of one sample's im2col, its rows phase by
        phase (C/G, *that phase's kernel positions), each phase one strided copy."""
        c, itemsize = phases.shape[0], phases.itemsize
        rows = c * math.prod(self.kernel)
        cols = conv_channels_last.take(buffer, (groups, rows // groups, hi - lo))
        start_row = 0
        for flat, taps, start, steps in self.phase_taps:
            lengths = tuple(map(len, taps))
            plane = phases[:, sample, flat, start + lo:]
            view = as_strided(plane, (c, *lengths, hi - lo),
                              (plane.strides[0], *(st * itemsize for st in steps), itemsize),
                              writeable=False)
            count = c // groups * math.prod(lengths)
            np.copyto(cols[:, start_row:start_row + count].reshape(
                groups, c // groups, *lengths, hi - lo), view.reshape(
                groups, c // groups, *lengths, hi - lo))
            start_row += count
        return cols

    def blocked(self, width: int) -> bool:
        """Whether to make the columns block by block (forward and dw) rather than im2col's
        whole: for few rows, C/G prod(kernel) <= BLOCKED_ROWS (a stem), where the whole im2col
        is a long array for a small product (measured, ResNet's 7x7/2 stem: forward 0.71-0.84x;
        a 3x3/2 on 64 channels: its small blocks' products slower, and dw 2x without the kept
        columns)."""
        return width * math.prod(self.kernel) <= BLOCKED_ROWS

    def blocks(self, rows: int, itemsize: int):
        """Column ranges (lo, hi) of a sample's wide grid, about BLOCK_BYTES of columns each."""
        step = max(256, conv_channels_last.BLOCK_BYTES // (rows * itemsize))
        return [(lo, min(self.length, lo + step)) for lo in range(0, self.length, step)]

    def forward(self, x: np.ndarray, weight: np.ndarray, groups: int) -> np.ndarray:
        """y (N, O, *out_size) (a transposed view): each block of columns made in a cache-sized
        buffer and multiplied at once (the whole im2col is prod(kernel) x the input)."""
        n, out_channels = x.shape[0], weight.shape[0]
        phases, w = self.split(x), self.weight_matrix(weight, groups)
        dtype = np.result_type(x, weight)
        y = np.empty((groups, out_channels // groups, n, self.length), dtype=dtype)
        blocks = self.blocks(w.shape[-1] * groups, phases.itemsize)
        buffer = np.empty(groups * w.shape[-1] * (blocks[0][1] - blocks[0][0]),
                          dtype=phases.dtype)
        for sample in range(n):
            for lo, hi in blocks:
                np.matmul(w, self.block_cols(phases, sample, lo, hi, groups, buffer),
                          out=y[:, :, sample, lo:hi])
        return _channels_first(self.wide(y.reshape(out_channels, n, self.length)))

    def weight_backward(self, x: np.ndarray, g: np.ndarray, w_shape, groups: int):
        """dw (O, C/G, *kernel) = sum over blocks g (G, O/G, N, L) @ cols^T."""
        phases = self.split(x)
        blocks = self.blocks(x.shape[1] * math.prod(self.kernel), phases.itemsize)
        buffer = np.empty(x.shape[1] * math.prod(self.kernel) * (blocks[0][1] - blocks[0][0]),
                          dtype=phases.dtype)
        grad = np.zeros((*g.shape[:2], x.shape[1] // groups * math.prod(self.kernel)),
                        dtype=g.dtype)
        for sample in range(x.shape[0]):
            for lo, hi in blocks:
                cols = self.block_cols(phases, sample, lo, hi, groups, buffer)
                grad += g[:, :, sample, lo:hi] @ cols.transpose(0, 2, 1)
        return self.weight_grad(grad, w_shape)

    def uncols(self, cols: np.ndarray, shape) -> np.ndarray:
        """The adjoint of cols: (G, C/G*prod(kernel), N*L) added back into an (N, C, *spatial)
        = shape array (a transposed view of a (C, N, *spatial) one)."""
        n, c = shape[:2]
        cols = cols.reshape(c, len(self.taps), n, self.length)
        phases = np.zeros((c, n, math.prod(self.stride), math.prod(self.q)), dtype=cols.dtype)
        for i, (phase, start) in enumerate(self.taps):
            phases[:, :, phase, start:start + self.length] += cols[:, i]
        grid = phases.reshape(c, n, -1, *self.q)
        x = np.empty((c, n, *shape[2:]), dtype=cols.dtype)  # each value in one phase
        for flat, x_index, q_index in self.slices:
            x[(slice(None), slice(None), *x_index)] = grid[(slice(None), slice(None), flat,
                                                            *q_index)]
        return _channels_first(x)


def _phase_plan(x_shape, w_shape, stride, padding, dilation, out_size) -> _Phases | None:
    """The phase split's plan for a strided im2col, or None: stride 1, or windows that reach
    past x_pad's end (a transposed convolution's output_padding of a stride or more)."""
    if set(stride) == {1} or _output_size("conv", x_shape[2:], w_shape[2:], stride, padding,
                                          dilation) != tuple(out_size):
        return None
    return _Phases(x_shape[2:], w_shape[2:], stride, padding, dilation, out_size)


def _correlate(cols: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g @ cols^T per group, (G, M, L) and (G, K, L) -> (G, M, K), as the transpose of
    cols @ g^T: the same sums, but OpenBLAS runs this orientation 20-25% faster (the long L
    axis contiguous in the first operand), and the (K, M) result is small to transpose."""
    return (cols @ g.transpose(0, 2, 1)).transpose(0, 2, 1)


def _channels_first(array: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) <-> (C, N, *spatial)."""
    return array.transpose(1, 0, *range(2, array.ndim))


def conv_path(x_shape, w_shape, stride, dilation, groups: int, out_size) -> str:
    """How ConvNd computes, by shape (the rule conv_speed.py's cases measure and
    tests/ops/test_conv_paths.py checks; all give the same sums to rounding), the first that
    applies of:
    "depthwise" (conv_depthwise: a group's im2col times its own filters, a product batched
    over (sample, group); in 1-d and 2-d with one input channel a group and kernels 5+ wide
    (1-d: 7+) or outputs at most 14 wide, conv_banded's banded products, one a channel) for
    groups > 1 of 1 (depthwise) to 7 input channels, any rank, stride, dilation and channel
    multiplier;
    "pointwise" (conv_pointwise: one batched matrix product, no windows) for 1x1 kernels,
    groups 1, any stride;
    "grouped" (one convolution a group, each by the path this rule picks for it) for other
    groups > 1 where a group's path is not im2col;
    "winograd" (conv_winograd: F(2x2, 3x3), 2.25x fewer multiplications) for 2-D 3x3 kernels
    at stride 1, dilation 1, groups 1, with at least 32 input and output channels and outputs
    of at least 16x16 (fewer tiles make its products too small);
    "channels_last" (conv_channels_last: im2col of x moved to (N, *spatial, C), block by block)
    for stride 1, groups 1 and 8 (1-d: 32) to 1024 / prod(kernel) input channels (its copies
    run over C contiguous values; wider rows make its blocks' products too small), and for
    strides that divide the kernel (dilation 1, up to 1024 / prod(kernel) channels, any
    number: its copies run over kw C values), whose input gradient it makes by phases (DCGAN's
    4x4 / 2: forward + backward 0.53-0.74x im2col's time, 1.0-1.2x PyTorch);
    else "im2col" (channel-major, below: its copies run along image rows, better for a few
    channels, other strides (measured, 3x3 / 2: channels-last 10-40% slower) and groups; a strided
    stem's, C/G prod(kernel) <= BLOCKED_ROWS, made block by block from the stride's phases,
    _Phases).
    ConvTransposeNd takes the path of the convolution whose input gradient it is."""
    channels, kernel = x_shape[1], w_shape[2:]
    if conv_depthwise.applies(x_shape, w_shape, groups):
        return "depthwise"
    if conv_pointwise.applies(kernel, groups):
        return "pointwise"
    if groups != 1:  # a group's own path where that is not im2col (batched over the groups)
        per_group = conv_path((x_shape[0], channels // groups, *x_shape[2:]),
                              (w_shape[0] // groups, *w_shape[1:]), stride, dilation, 1, out_size)
        return "im2col" if per_group == "im2col" else "grouped"
    if any(s != 1 for s in stride):  # channels-last where its input gradient is by phases
        return "channels_last" if (conv_channels_last.phase_split(kernel, stride, dilation)
                                   and channels * math.prod(kernel) <= 1024) else "im2col"
    if (conv_winograd.applies(kernel, stride, dilation, groups) and channels >= 32
            and w_shape[0] >= 32 and min(out_size) >= 16):
        return "winograd"
    if (32 if len(stride) == 1 else 8) <= channels and channels * math.prod(kernel) <= 1024:
        return "channels_last"
    return "im2col"


def conv_forward(path: str, x: np.ndarray, weight: np.ndarray, stride, padding, dilation,
                 groups: int, out_size):
    """ConvNd's y (N, O, *out_size) without bias by path (possibly a transposed view), and the
    im2col matrix where the path made one, channels-last's padded x (N, *spatial, C) (its
    weight gradient reads them; conv_backward's cols)."""
    if x.size == 0 or weight.size == 0:
        # an empty batch (or no channels, as the backward's convolutions of an empty batch's
        # gradient have): sums of nothing, zeros, as PyTorch (the kernels need samples)
        return np.zeros((x.shape[0], weight.shape[0], *out_size),
                        dtype=np.result_type(x, weight)), None
    if path == "depthwise":
        return conv_depthwise.forward(x, weight, stride, padding, dilation, out_size,
                                      groups), None
    if path == "pointwise":
        return conv_pointwise.forward(x, weight, stride, padding, out_size), None
    if path == "grouped":  # one convolution a group, each by its own path
        y = np.empty((x.shape[0], weight.shape[0], *out_size), dtype=np.result_type(x, weight))
        for inputs, outputs in _group_slices(x.shape[1], weight.shape[0], groups):
            x_part, w_part = x[:, inputs], weight[outputs]
            y[:, outputs] = conv_forward(_group_path(x_part, w_part, stride, dilation, out_size),
                                         x_part, w_part, stride, padding, dilation, 1,
                                         out_size)[0]
        return y, None
    if path == "winograd":  # y channels-last, (N, *out_size, O)
        return np.moveaxis(conv_winograd.forward(x, weight, padding, out_size), -1, 1), None
    if path == "channels_last":  # y channels-last; x padded and moved kept for dw
        padded = conv_channels_last.channels_last(x, padding)
        return np.moveaxis(conv_channels_last.forward(x, weight, stride, padding, dilation,
                                                      out_size, padded), -1, 1), padded
    n, out_channels = x.shape[0], weight.shape[0]
    plan = _phase_plan(x.shape, weight.shape, stride, padding, dilation, out_size)
    if plan is not None and plan.blocked(weight.shape[1]):  # a stem: block by block
        return plan.forward(x, weight, groups), None
    cols = _im2col(_pad(x, padding), weight.shape[2:], stride, dilation, out_size, groups)
    y = weight.reshape(groups, out_channels // groups, -1) @ cols  # (G, O/G, N*out)
    return _channels_first(y.reshape(out_channels, n, *out_size)), cols


def conv_backward(path: str, x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride,
                  padding, dilation, groups: int, need_x: bool, need_weight: bool, cols=None):
    """ConvNd's (dx or None, dw or None) from g (N, O, *out_size) by path; x is read only for
    dw (for dx alone an array of its shape and dtype will do); cols: conv_forward's."""
    if x.size == 0 or grad_output.size == 0:  # an empty batch: zero dx and dw, as PyTorch
        return (np.zeros(x.shape, dtype=grad_output.dtype) if need_x else None,
                np.zeros(weight.shape, dtype=grad_output.dtype) if need_weight else None)
    if need_x and path != "im2col" and not np.isfinite(weight).all():
        # torch's input gradient adds each window's products w^T g back (col2im): an inf or
        # nan weight reaches the positions its windows read only, where the other paths'
        # products (a flipped kernel over padded g, Winograd's transforms) multiply it by
        # zeros and spread nan (ConvTransposeNd's output is this gradient)
        return (conv_backward("im2col", x, weight, grad_output, stride, padding, dilation,
                              groups, True, False)[0],
                conv_backward(path, x, weight, grad_output, stride, padding, dilation, groups,
                              False, True, cols)[1] if need_weight else None)
    if path == "depthwise":
        return conv_depthwise.backward(x, weight, grad_output, stride, padding, dilation, groups,
                                       need_x, need_weight)
    if path == "pointwise":
        return conv_pointwise.backward(x, weight, grad_output, stride, padding, need_x,
                                       need_weight)
    if path == "grouped":
        x_grad = np.empty(x.shape, dtype=grad_output.dtype) if need_x else None
        w_grad = np.empty(weight.shape, dtype=grad_output.dtype) if need_weight else None
        for inputs, outputs in _group_slices(x.shape[1], weight.shape[0], groups):
            x_part, w_part, g_part = x[:, inputs], weight[outputs], grad_output[:, outputs]
            dx, dw = conv_backward(
                _group_path(x_part, w_part, stride, dilation, g_part.shape[2:]), x_part, w_part,
                g_part, stride, padding, dilation, 1, need_x, need_weight)
            if need_x:
                x_grad[:, inputs] = dx
            if need_weight:
                w_grad[outputs] = dw
        return x_grad, w_grad
    if path == "winograd":
        return conv_winograd.backward(x, weight, grad_output, padding, need_x, need_weight)
    if path == "channels_last":
        return conv_channels_last.backward(x, weight, grad_output, stride, padding, dilation,
                                           need_x, need_weight, cols)
    out_channels, out_size = weight.shape[0], grad_output.shape[2:]
    x_grad = w_grad = None
    plan = _phase_plan(x.shape, weight.shape, stride, padding, dilation, out_size)
    if plan is not None and plan.blocked(weight.shape[1]):
        # a stem: g on the phases' wide grid (G, O/G, N*L), zero past out_size; dx added back
        # into the phases a whole run at a time, dw block by block
        g_wide = np.zeros((out_channels, x.shape[0], plan.length), dtype=grad_output.dtype)
        plan.wide(g_wide)[...] = _channels_first(grad_output)
        g_wide = g_wide.reshape(groups, out_channels // groups, -1)
        if need_x:
            w_t = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
            x_grad = plan.uncols(w_t @ g_wide, x.shape)
        if need_weight:
            w_grad = plan.weight_backward(x, g_wide.reshape(groups, out_channels // groups,
                                                            x.shape[0], -1), weight.shape,
                                          groups)
        return x_grad, w_grad
    # (G, O/G, N*prod(out_size))
    g = _channels_first(grad_output).reshape(groups, out_channels // groups, -1)
    if need_x:
        w_t = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
        x_grad = _col2im(w_t @ g, x.shape, weight.shape[2:], stride, padding, dilation, out_size)
    if need_weight:
        if cols is None:
            cols = _im2col(_pad(x, padding), weight.shape[2:], stride, dilation, out_size, groups)
        w_grad = _correlate(cols, g).reshape(weight.shape)
    return x_grad, w_grad


def _group_slices(channels: int, out_channels: int, groups: int):
    """For each group, the slices of its input channels and of its output channels."""
    c, o = channels // groups, out_channels // groups
    for group in range(groups):
        yield slice(group * c, (group + 1) * c), slice(group * o, (group + 1) * o)


def _group_path(x_part, w_part, stride, dilation, out_size) -> str:
    """The path of one group's convolution (groups 1)."""
    return conv_path(x_part.shape, w_part.shape, stride, dilation, 1, out_size)


def _with_bias(y: np.ndarray, bias, nhwc: bool = False) -> np.ndarray:
    """y (N, O, *out) made C-contiguous (one copy where it is a view), bias (O,) added; nhwc:
    a 4-d y laid out channels-last instead (torch's output for a channels-last x or weight)."""
    if nhwc:
        dtype = y.dtype if bias is None else np.result_type(y, bias)
        out = np.empty((y.shape[0], *y.shape[2:], y.shape[1]), dtype=dtype).transpose(0, 3, 1, 2)
        if bias is None:
            np.copyto(out, y)
        else:
            np.add(y, bias.reshape(-1, 1, 1), out=out)
        return out
    if bias is None:
        return np.ascontiguousarray(y)
    bias = bias.reshape(-1, *(1,) * (y.ndim - 2))
    if y.flags.c_contiguous:
        y += bias
        return y
    return np.add(y, bias, out=np.empty(y.shape, dtype=np.result_type(y, bias)))


def _grads_format(x: np.ndarray, weight: np.ndarray):
    """The format of a convolution's input and weight gradients, as torch's backward gives
    them: channels-last where its output was (a 4-d channels-last x or weight), else
    contiguous (the kernels' own are often transposed views)."""
    return channels_last if suggests_channels_last(x) or suggests_channels_last(weight) \
        else contiguous_format


def _laid_grads(grads, x: np.ndarray, weight: np.ndarray) -> tuple:
    """(dx, dw) arrays (or None) in the format torch's convolution backward gives them."""
    fmt = _grads_format(x, weight)
    return tuple(None if g is None else laid_out(g, fmt) for g in grads)


def _laid_grad_tensors(grads, x: Tensor, weight: Tensor) -> tuple:
    """_laid_grads for create_graph's recorded gradients (a recorded copy where needed)."""
    fmt = _grads_format(x.data, weight.data)
    return tuple(None if g is None else to_format(g, fmt, "contiguous") for g in grads)


def _check_dtypes(x, weight, bias) -> None:
    """torch's refusals of a convolution over two dtypes (it promotes none): the bias's
    against the input's first, then the weight's."""
    if bias is not None and bias.dtype != x.dtype:
        raise RuntimeError(f"Input type ({_c_name(x.dtype)}) and bias type "
                           f"({_c_name(bias.dtype)}) should be the same")
    if weight.dtype != x.dtype:
        raise RuntimeError(f"expected scalar type {_torch_name(x.dtype)} but found "
                           f"{_torch_name(weight.dtype)}")


@float32_compute  # float16/bfloat16 arrays: float32 products, rounded output
class ConvNd(Op):
    """y[n, o, *t] = sum_{c, *i} w[o, c, *i] * x_pad[n, g(o) C/G + c, *(s t + d i)] + b[o],
    g(o) = o // (O/G) the group of output channel o (G = groups; depthwise: G = C), over 1, 2 or
    3 spatial axes (Conv1d, Conv2d, Conv3d: the same op, named for the graph).

    x (N, C, *spatial), weight (O, C/G, *kernel), bias (O,) -> y (N, O, *out_size).
    With cols the im2col matrix, one (C/G*prod(kernel), N*prod(out_size)) block per group:
    y = w @ cols, dw = g @ cols^T, d cols = w^T @ g, added back window by window (col2im) to
    give dx. Channel-major cols keep the copies' inner loops along image rows, which is faster
    than window-major for a few channels; conv_path picks the depthwise, pointwise,
    channels-last blocked im2col or Winograd kernels where they are faster.
    """

    name = "conv"
    saves = (0, 1)  # torch's convolution saves input and weight, never its output
    complex_ok = "holomorphic"  # linear in x and in weight

    def __init__(self, stride, padding, dilation, groups=1):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def check_dtypes(self, x, weight, bias=None):
        """torch's refusal of two dtypes (float32_compute asks before widening)."""
        _check_dtypes(x, weight, bias)

    def forward(self, x, weight, bias=None):
        if x.dtype != weight.dtype or bias is not None and bias.dtype != x.dtype:
            _check_dtypes(x, weight, bias)
        self.out_size = _output_size(self.name, x.shape[2:], weight.shape[2:], self.stride,
                                     self.padding, self.dilation)
        self.x, self.weight = x, weight
        self.path = conv_path(x.shape, weight.shape, self.stride, self.dilation, self.groups,
                              self.out_size)
        y, self.cols = conv_forward(self.path, x, weight, self.stride, self.padding,
                                    self.dilation, self.groups, self.out_size)
        return _with_bias(y, bias, suggests_channels_last(x) or suggests_channels_last(weight))

    def backward(self, grad_output):
        need = self.inputs[0].requires_grad, self.inputs[1].requires_grad
        grads = _laid_grads(conv_backward(self.path, self.x, self.weight, grad_output,
                                          self.stride, self.padding, self.dilation, self.groups,
                                          *need, self.cols), self.x, self.weight)
        if len(self.inputs) == 2:
            return grads
        return (*grads, _bias_grad(grad_output) if self.inputs[2].requires_grad else None)

    def backward_graph(self, grad_output, output):
        x, weight = self.inputs[:2]
        nd, kernel = len(self.stride), weight.shape[2:]
        x_grad = w_grad = None
        if x.requires_grad:  # the transposed convolution of g by the same weight, padded at
            # the end (output_padding) to what the strided windows did not reach
            reach = _transpose_output_size(self.name, output.shape[2:], kernel, self.stride,
                                           self.padding, (0,) * nd, self.dilation)
            extra = tuple(size - r for size, r in zip(x.shape[2:], reach))
            x_grad = _CONV_TRANSPOSE_OPS[nd](self.stride, self.padding, extra, self.dilation,
                                             self.groups)(grad_output, weight)
        if weight.requires_grad:
            w_grad = _conv_weight_grad(x, grad_output, kernel, self.stride, self.padding,
                                       self.dilation, self.groups)
        x_grad, w_grad = _laid_grad_tensors((x_grad, w_grad), x, weight)
        return (x_grad, w_grad, _bias_grad(grad_output))[:len(self.inputs)]


class Conv1d(ConvNd):
    name = "conv1d"


class Conv2d(ConvNd):
    name = "conv2d"


class Conv3d(ConvNd):
    name = "conv3d"


@float32_compute  # float16/bfloat16 arrays: float32 products, rounded output
class ConvTransposeNd(Op):
    """The transpose of ConvNd's map x -> y (PyTorch's conv_transpose1d / 2d / 3d): each input
    value spreads w times itself over its window of the output,
    y[n, g(c) O/G + o, *(s t + d i - p)] += x[n, c, *t] * w[c, o, *i], then y[:, o] += b[o]
    (what lands in the padding p is dropped; G = groups, g(c) = c // (C/G)).

    x (N, C, *spatial), weight (C, O/G, *kernel), bias (O,) -> y (N, O, *out_size),
    out = (size - 1) s - 2p + d (k - 1) + 1 + output_padding (the extra values at the end).
    Forward is the input gradient of the convolution (N, O, *out) -> x's shape by w (conv_path
    picks its kernel: im2col's is cols = w^T @ x added back window by window, col2im).
    Backward is that convolution's forward, dx = conv(g, w), and its weight gradient with x
    as the output gradient (im2col's: dw = x @ cols(g)^T).
    """

    name = "conv_transpose"
    saves = (0, 1)  # torch's convolution saves input and weight, never its output
    complex_ok = "holomorphic"  # linear in x and in weight

    def __init__(self, stride, padding, output_padding, dilation, groups):
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation, self.groups = dilation, groups

    def check_dtypes(self, x, weight, bias=None):
        """torch's refusal of an input and a weight of two dtypes (float32_compute asks before
        widening); a bias of another dtype is taken in the input's in 1-D and 2-D, as torch's
        (its 3-D kernel refuses it)."""
        _check_dtypes(x, weight, None)
        if bias is not None and bias.dtype != x.dtype and len(self.stride) == 3:
            _check_dtypes(x, bias, None)

    def forward(self, x, weight, bias=None):
        if x.dtype != weight.dtype or bias is not None and bias.dtype != x.dtype:
            self.check_dtypes(x, weight, bias)
            if bias is not None:
                bias = bias.astype(x.dtype, copy=False)
        n, _, *spatial = x.shape
        out_channels = weight.shape[1] * self.groups
        self.out_size = _transpose_output_size(self.name, spatial, weight.shape[2:], self.stride,
                                               self.padding, self.output_padding, self.dilation)
        self.x, self.weight = x, weight
        # the convolution whose input gradient this is: of (N, O, *out_size) to x's shape
        conv_x = np.broadcast_to(np.zeros((), dtype=x.dtype), (n, out_channels, *self.out_size))
        reach = tuple((size + 2 * p - span) // s + 1 for size, p, span, s in zip(
            self.out_size, self.padding, _span(weight.shape[2:], self.dilation), self.stride))
        # an output_padding of a stride or more leaves that convolution windows past x's end:
        # only im2col's col2im takes its window count from x then
        self.path = "im2col" if reach != tuple(spatial) else conv_path(
            conv_x.shape, weight.shape, self.stride, self.dilation, self.groups, spatial)
        y = conv_backward(self.path, conv_x, weight, x, self.stride, self.padding, self.dilation,
                          self.groups, True, False)[0]
        return _with_bias(y, bias, suggests_channels_last(x) or suggests_channels_last(weight))

    def backward(self, grad_output):
        x_grad = w_grad = None
        need_x, need_weight = self.inputs[0].requires_grad, self.inputs[1].requires_grad
        cols = None
        if need_x:  # the convolution of g by w
            x_grad, cols = conv_forward(self.path, grad_output, self.weight, self.stride,
                                        self.padding, self.dilation, self.groups,
                                        self.x.shape[2:])
        if need_weight:  # that convolution's weight gradient, x as its output's gradient
            w_grad = conv_backward(self.path, grad_output, self.weight, self.x, self.stride,
                                   self.padding, self.dilation, self.groups, False, True,
                                   cols)[1]
        x_grad, w_grad = _laid_grads((x_grad, w_grad), self.x, self.weight)
        if len(self.inputs) == 2:
            return x_grad, w_grad
        return x_grad, w_grad, _bias_grad(grad_output) if self.inputs[2].requires_grad else None

    def backward_graph(self, grad_output, output):
        x, weight = self.inputs[:2]
        nd, kernel = len(self.stride), weight.shape[2:]
        x_grad = w_grad = None
        if x.requires_grad:  # the convolution of g by the same weight; an output_padding of a
            # stride or more gives windows past x's end, cut off
            x_grad = _CONV_OPS[nd](self.stride, self.padding, self.dilation,
                                   self.groups)(grad_output, weight)
            if x_grad.shape != x.shape:
                x_grad = x_grad[(slice(None), slice(None))
                                + tuple(slice(0, size) for size in x.shape[2:])]
        if weight.requires_grad:
            w_grad = _conv_weight_grad(grad_output, x, kernel, self.stride, self.padding,
                                       self.dilation, self.groups)
        x_grad, w_grad = _laid_grad_tensors((x_grad, w_grad), x, weight)
        return (x_grad, w_grad, _bias_grad(grad_output))[:len(self.inputs)]


class ConvTranspose1d(ConvTransposeNd):
    name = "conv_transpose1d"


class ConvTranspose2d(ConvTransposeNd):
    name = "conv_transpose2d"


class ConvTranspose3d(ConvTransposeNd):
    name = "conv_transpose3d"


def _bias_grad(grad_output):
    """The bias gradient of a convolution: g summed over all but the channels (an array, or a
    Tensor, recorded); an array's by BLAS products (norm._channel_sums: numpy's sum over axes
    (0, 2, ...) is 1.6-9x slower)."""
    if isinstance(grad_output, np.ndarray) and grad_output.ndim >= 3:
        return _channel_sums(grad_output)
    return grad_output.sum(axis=(0, *range(2, grad_output.ndim)))


def _conv_weight_grad(x: Tensor, g: Tensor, kernel, stride, padding, dilation,
                      groups: int) -> Tensor:
    """dw[o, c, *i] = sum_{n, t} g[n, o, *t] x_pad[n, q(o) C/G + c, *(s t + d i)] (q(o) the
    group of o), ConvNd's weight gradient as a recorded graph: itself a convolution, of x's
    channels within a group as the batch and (group, sample) as the channels, by g (O, N, *out)
    as the weight, stride and dilation swapped; cut to the kernel where strides left some."""
    n, c, *spatial = x.shape
    nd = len(spatial)
    inner = tuple(range(3, 3 + nd))
    # (N, G, C/G, *spatial) -> (C/G, G, N, *spatial) -> (C/G, G N, *spatial)
    batch = x.reshape((n, groups, c // groups, *spatial)).permute(2, 1, 0, *inner)
    batch = batch.reshape((c // groups, groups * n, *spatial))
    weight = g.permute(1, 0, *range(2, 2 + nd))  # (O, N, *out): each group's N channels
    w_grad = _CONV_OPS[nd](dilation, padding, stride, groups)(batch, weight)  # (C/G, O, ...)
    w_grad = w_grad.permute(1, 0, *range(2, 2 + nd))
    if w_grad.shape[2:] != tuple(kernel):
        w_grad = w_grad[(slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)]
    return w_grad


def _plane_index(flat: np.ndarray) -> tuple:
    """The index that takes flat[..., k] from each plane of a (*lead, P) array: the lead
    axes' positions, broadcast against flat (*lead, m)."""
    lead = flat.shape[:-1]
    return tuple(np.arange(size).reshape((size,) + (1,) * (len(lead) - axis))
                 for axis, size in enumerate(lead)) + (flat,)


def _transpose_output_size(name: str, size, kernel, stride, padding, output_padding,
                           dilation) -> tuple[int, ...]:
    """(size - 1) s - 2p + d (k - 1) + 1 + output_padding along each axis, at least 1."""
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 + op for n, k, s, p, op, d in
                zip(size, kernel, stride, padding, output_padding, dilation))
    if min(out) < 1:
        raise ConvError(f"{name}: the input {tuple(size)} with kernel {tuple(kernel)}, stride "
                        f"{stride}, padding {padding}, output_padding {output_padding} and "
                        f"dilation {dilation} gives an output of size {out}, too small")
    return out


class MaxPoolNd(Op):
    """y[n, c, *t] = max of the window at s t of x padded with -inf (past the end too where
    ceil_mode keeps a partial last window), taking every d-th value (dilation); the gradient
    goes to the first maximum in x of each window (as in PyTorch). x (N, C, *spatial) ->
    (N, C, *out_size), 1, 2 or 3 spatial axes.

    Computed over the prod(kernel) strided views x[:, :, *(d i::s)] (one per window position),
    so no window array is copied: element-wise maxima forward, comparisons backward.
    """

    name = "max_pool"
    # backward reads the input (its windows) and a private copy of the maxima, so the output
    # may be changed in place (a ReLU(inplace=True) after the pool, as torch allows: torch
    # saves the input and the argmax indices)
    saves = (0,)

    def __init__(self, kernel_size, stride, padding, dilation, ceil_mode=False):
        self.kernel, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def _views(self, array):
        return _pool_views(array, self.kernel, self.stride, self.out_size, self.dilation)

    def forward(self, x):
        self.x_shape = x.shape
        self.out_size = _pool_output_size(self.name, x.shape[2:], self.kernel, self.stride,
                                          self.padding, self.ceil_mode, self.dilation)
        lowest = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf  # (int8 -inf: 0)
        self.padded = _pool_pad(x, self._padded_shape(), self.padding, lowest)
        views = self._views(self.padded)
        y = next(views).copy()
        for view in views:
            np.maximum(y, view, out=y)
        self.y = y
        out = laid_like(y, x)  # channels-last for a channels-last x, as torch's
        return y.copy() if out is y else out

    def _padded_shape(self):
        return _pool_padded_shape(self.x_shape, self.kernel, self.stride, self.padding,
                                  self.dilation, self.out_size)

    def _reads(self, position) -> list[np.ndarray]:
        """Along each axis, the input positions (out_size[axis],) that window position reads."""
        return [np.arange(out) * s - p + i * d for i, s, d, p, out in
                zip(position, self.stride, self.dilation, self.padding, self.out_size)]

    def _first_maxima(self):
        """For each window position in turn, where it holds its window's first maximum inside
        x (so a window of -inf only takes its first value in x, as PyTorch)."""
        nd = len(self.kernel)
        axes = list(enumerate(zip(self.stride, self.dilation, self.padding, self.out_size,
                                  self.x_shape[2:])))
        taken = np.zeros(self.y.shape, dtype=bool)  # windows whose maximum is already found
        nan = np.isnan(self.y) if is_floating_dtype(self.y.dtype) else None
        if nan is not None and nan.any():  # a NaN window: its last NaN, as torch's kernel
            last = np.full(self.y.shape, -1)
            for k, view in enumerate(self._views(self.padded)):  # (padding is -inf)
                last[np.isnan(view)] = k
        else:
            nan = None
        for k, (position, view) in enumerate(zip(itertools.product(*map(range, self.kernel)),
                                                 self._views(self.padded))):
            first = view == self.y if nan is None else np.where(nan, last == k, view == self.y)
            for (axis, (s, d, p, out, size)), i in zip(axes, position):
                start = i * d - p
                if start < 0 or start + s * (out - 1) >= size:  # it reads padding: never the max
                    reads = np.arange(out) * s + start
                    inside = (reads >= 0) & (reads < size)
                    first &= inside.reshape((-1,) + (1,) * (nd - 1 - axis))
            first &= ~taken
            taken |= first
            yield position, first

    def indices(self) -> np.ndarray:
        """(N, C, *out_size) int64: where each maximum is, as an index into the flattened
        spatial axes of its input plane (PyTorch's return_indices)."""
        nd, size = len(self.kernel), self.x_shape[2:]
        indices = np.zeros(self.y.shape, dtype=np.int64)
        for position, first in self._first_maxima():
            flat = 0
            for axis, reads in enumerate(self._reads(position)):
                flat = flat * size[axis] + reads.reshape((-1,) + (1,) * (nd - 1 - axis))
            np.copyto(indices, flat, where=first)
        return indices

    def backward(self, grad_output):
        grad = np.zeros(self._padded_shape(), dtype=grad_output.dtype)
        # an inf or nan g reaches its window's maximum only, as torch's scatter (g * first
        # would put nan everywhere else; np.add's where= is the slow path, for those only)
        finite = grad_output.dtype.kind not in "fc" or np.isfinite(grad_output).all()
        for (_, first), grad_view in zip(self._first_maxima(), self._views(grad)):
            if finite:
                grad_view += grad_output * first
            else:
                np.add(grad_view, grad_output, out=grad_view, where=first)
        # channels-last (channels_last_3d) for such an x, as torch's
        return (laid_like(_pool_crop(grad, self.padding, self.x_shape), self.inputs[0].data),)

    def backward_graph(self, grad_output, output):
        # g added at each window's first maximum: constant positions, so a recorded IndexAdd
        n, c, *spatial = self.x_shape
        windows = math.prod(self.y.shape[2:])  # (not -1: numpy cannot infer it for an empty batch)
        flat = self.indices().reshape(n, c, windows)
        planes = IndexAdd(_plane_index(flat), (n, c, math.prod(spatial)))(
            grad_output.reshape((n, c, windows)))
        # tied to x, as torch's max_pool backward: a gradient of it reaches x, as zeros
        return (slope_grad(planes.reshape(self.x_shape), np.True_, self.inputs[0]),)


class MaxPool1d(MaxPoolNd):
    name = "max_pool1d"


class MaxPool2d(MaxPoolNd):
    name = "max_pool2d"


class MaxPool3d(MaxPoolNd):
    name = "max_pool3d"


def _pool_views(array, kernel, stride, out_size, dilation=None):
    """Yield the (N, C, *out_size) view of array at each window position, in order."""
    dilation = (1,) * len(kernel) if dilation is None else dilation
    for _, index in _kernel_positions(kernel, stride, dilation, out_size):
        yield array[index]


def _pool_padded_shape(x_shape, kernel, stride, padding, dilation, out_size):
    """The padded input a pool reads: padding each side, plus (ceil_mode) what the last window
    needs past it."""
    return tuple(x_shape[:2]) + tuple(
        max(size + 2 * p, (out - 1) * s + span) for size, p, s, span, out in
        zip(x_shape[2:], padding, stride, _span(kernel, dilation), out_size))


def _inside(padding, x_shape) -> tuple[slice, ...]:
    """Where x lies in its padded array: padding[axis] values after the start of each axis."""
    return (slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in
                                              zip(padding, x_shape[2:]))


def _pool_pad(x: np.ndarray, shape, padding, value) -> np.ndarray:
    """x inside a shape-sized array of value, padding[axis] values before it along each spatial
    axis (x itself where nothing is added)."""
    if shape == x.shape:
        return x
    padded = np.full(shape, value, dtype=x.dtype)
    padded[_inside(padding, x.shape)] = x
    return padded


def _pool_crop(grad: np.ndarray, padding, x_shape) -> np.ndarray:
    return grad[_inside(padding, x_shape)]


def _pool_output_size(name: str, size, kernel, stride, padding, ceil_mode: bool,
                      dilation=None):
    """PyTorch's pooling sizes: floor((size + 2p - d (k - 1) - 1) / s) + 1, or with ceil_mode the
    ceiling, less one where the last window would start in the right padding."""
    dilation = (1,) * len(kernel) if dilation is None else dilation
    out = []
    for n, span, s, p in zip(size, _span(kernel, dilation), stride, padding):
        length = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (length - 1) * s >= n + p:
            length -= 1
        out.append(length)
    if min(out) < 1:
        dilated = "" if set(dilation) == {1} else f" with dilation {tuple(dilation)}"
        raise ConvError(
            f"{name}: kernel {kernel}{dilated} does not fit the input {tuple(size)} with padding "
            f"{padding}"
        )
    return tuple(out)


def _window_counts(size: int, kernel: int, stride: int, padding: int, out: int,
                   include_pad: bool) -> np.ndarray:
    """How many values each window along one axis averages (PyTorch's rule): the window clipped
    to the padded input, or with include_pad False to the input itself."""
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if not include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)
    return end - start


class AvgPoolNd(Op):
    """y[n, c, *t] = (sum of the window at s t - p of x, zero outside) / d[*t];
    dx = g / d added back to every window. x (N, C, *spatial) -> (N, C, *out_size).

    d is the window's size (count_include_pad; with ceil_mode a window running past the padded
    input counts only its part inside it), or the count of its values inside x, or
    divisor_override: a product of one count per axis. Summed over the kernel's strided views.
    """

    saves = (0,)  # torch's node saves x (dlpy's backward reads only sizes): y may change

    name = "avg_pool"

    def __init__(self, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override):
        self.kernel, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def _padded_shape(self):
        return _pool_padded_shape(self.x_shape, self.kernel, self.stride, self.padding,
                                  (1,) * len(self.kernel), self.out_size)

    def _settings(self) -> tuple:
        return (self.kernel, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                self.divisor_override)

    def _prepare(self, x_shape, dtype) -> None:
        """The output size and the divisor for an input of x_shape."""
        self.x_shape = x_shape
        self.out_size = _pool_output_size(self.name, x_shape[2:], self.kernel, self.stride,
                                          self.padding, self.ceil_mode)
        if self.divisor_override is not None:
            self.divisor = np.asarray(self.divisor_override, dtype=dtype)
        else:
            counts = [_window_counts(*axis, self.count_include_pad) for axis in zip(
                x_shape[2:], self.kernel, self.stride, self.padding, self.out_size)]
            self.divisor = functools.reduce(np.multiply.outer, counts).astype(dtype)

    def forward(self, x):
        self._prepare(x.shape, x.dtype)
        low = x.dtype if is_low_precision(x.dtype) else None  # float32 sums, as torch's
        padded = _pool_pad(x if low is None else x.astype(np.float32), self._padded_shape(),
                           self.padding, 0.0)
        views = _pool_views(padded, self.kernel, self.stride, self.out_size)
        y = next(views).copy()
        for view in views:
            y += view
        if y.dtype.kind == "i":  # int64: the quotient truncated, as torch's
            y = np.trunc(y / self.divisor).astype(y.dtype)
        elif low is not None:
            y = (y / self.divisor.astype(np.float32)).astype(low)
        else:
            y /= self.divisor
        # channels-last for a channels-last x, as torch's (whose 3-d pool is contiguous)
        return laid_like(y, x) if x.ndim == 4 else y

    def backward(self, grad_output):
        grad = self.spread(grad_output)
        # channels-last for a channels-last x, as torch's (whose 3-d pool's is contiguous)
        return (laid_like(grad, self.inputs[0].data) if grad.ndim == 4 else grad,)

    def spread(self, grad_output: np.ndarray) -> np.ndarray:
        """g / d added back to every window: the input's gradient (N, C, *spatial)."""
        grad = np.zeros(self._padded_shape(), dtype=grad_output.dtype)
        share = grad_output / self.divisor
        for grad_view in _pool_views(grad, self.kernel, self.stride, self.out_size):
            grad_view += share
        return _pool_crop(grad, self.padding, self.x_shape)

    def backward_graph(self, grad_output, output):
        return (AvgPoolBackward(type(self), self._settings(), self.x_shape)(grad_output),)


class AvgPoolBackward(Op):
    """AvgPoolNd's backward as an op, for create_graph: g (N, C, *out) -> (N, C, *spatial) =
    x_shape, g / d added back to every window. Linear, and the pool's adjoint, so its own
    gradient is the pool of the output's gradient."""

    name = "avg_pool_backward"

    def __init__(self, pool_type, settings, x_shape):
        self.pool_type, self.settings, self.x_shape = pool_type, settings, x_shape

    def _pool(self, dtype) -> AvgPoolNd:
        pool = self.pool_type(*self.settings)
        pool._prepare(self.x_shape, dtype)
        return pool

    def forward(self, grad_output):
        return np.ascontiguousarray(self._pool(grad_output.dtype).spread(grad_output))

    def backward(self, grad_output):
        return (self._pool(grad_output.dtype).forward(grad_output),)

    def backward_graph(self, grad_output, output):
        return (self.pool_type(*self.settings)(grad_output),)


class AvgPool1d(AvgPoolNd):
    name = "avg_pool1d"


class AvgPool2d(AvgPoolNd):
    name = "avg_pool2d"


class AvgPool3d(AvgPoolNd):
    name = "avg_pool3d"


class MaxUnpoolNd(Op):
    """y = zeros (..., *out_size) with x[..., k] written at the flat position indices[..., k]
    of its prod(out_size) plane (k over the values of x's plane);  dx = g gathered at the
    indices. Several values sent to one place (overlapping pool windows) leave the last there,
    as PyTorch's CPU kernel, and each gets the gradient of that place."""

    def __init__(self, indices, out_size):
        self.indices, self.out_size = indices, out_size  # indices (..., prod(spatial)) int64

    def forward(self, x):
        self.x_shape = x.shape
        lead = x.shape[:-len(self.out_size)]
        y = np.zeros((*lead, math.prod(self.out_size)), dtype=x.dtype)
        np.put_along_axis(y, self.indices, x.reshape(*lead, self.indices.shape[-1]), axis=-1)
        return y.reshape(*lead, *self.out_size)

    def backward(self, grad_output):
        planes = grad_output.reshape(*grad_output.shape[:-len(self.out_size)],
                                     math.prod(self.out_size))
        return (np.take_along_axis(planes, self.indices, axis=-1).reshape(self.x_shape),)

    def backward_graph(self, grad_output, output):
        planes = grad_output.reshape((*grad_output.shape[:-len(self.out_size)],
                                      math.prod(self.out_size)))
        return (planes[_plane_index(self.indices)].reshape(self.x_shape),)


class MaxUnpool1d(MaxUnpoolNd):
    pass


class MaxUnpool2d(MaxUnpoolNd):
    pass


class MaxUnpool3d(MaxUnpoolNd):
    pass


def _shape_of(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


_CONV_OPS = {1: Conv1d, 2: Conv2d, 3: Conv3d}


def _conv(nd: int, x, weight, bias, stride, padding, dilation, groups) -> Tensor:
    """conv1d / conv2d / conv3d: the settings checked, "same" / "valid" resolved, unbatched x
    made a batch of one."""
    op = _CONV_OPS[nd]
    name = op.name
    stride = _ntuple(stride, nd, f"{name}: stride", True)
    padding = _padding(name, padding, stride, True, ConvError)
    if min(stride) < 1 or not isinstance(padding, str) and min(padding) < 0:
        shown = padding if isinstance(padding, str) else _show(padding)
        raise ConvError(f"{name}: need stride >= 1 and padding >= 0, got {_show(stride)}, "
                        f"{shown}")
    dilation = _dilation(dilation, name, nd, True, ConvError)
    groups = _groups(groups, name, ConvError)
    _check_dtype(name, x)
    kind = getattr(x, "dtype", None)
    if max(dilation) > 1 and kind is not None and kind.kind in "iu" and kind != np.int64:
        # torch's CPU dilated kernel: int64 the only integer
        raise NotImplementedError(f"{name}: dilation > 1 is not implemented for {kind}, as "
                                  "torch (int64 is)")
    x_shape, w_shape = _shape_of(x), _shape_of(weight)
    if len(x_shape) == nd + 1 and len(w_shape) == nd + 2:  # unbatched: a batch of one
        return squeeze(_conv(nd, unsqueeze(x, 0), weight, bias, stride, padding, dilation,
                             groups), 0)
    _check_conv_shapes(name, x_shape, w_shape, groups, nd)
    if w_shape[0] == 0 and x_shape[0]:  # (an empty batch gives an empty y; torch refuses it)
        raise ConvError(f"{name}: expected weight to be at least 1 at dimension 0 (no output "
                        f"channels), got weight {w_shape}, as torch")
    if bias is not None and _shape_of(bias) != (w_shape[0],):
        raise ConvError(f"{name}: bias must have shape ({w_shape[0]},), got {_shape_of(bias)}")
    if padding == "valid":
        padding = (0,) * nd
    elif padding == "same":  # total d (k - 1): half each side, the odd one at the end
        totals = [d * (k - 1) for k, d in zip(w_shape[2:], dilation)]
        padding = tuple(t // 2 for t in totals)
        if any(t % 2 for t in totals):
            _warn_same_copy()
            x = pad(x, tuple(w for t in reversed(totals) for w in (0, t % 2)))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return optional_edges(op(stride, padding, dilation, groups)(*inputs), op, True, True,
                          bias is not None)  # torch's (None, 0) edge for bias=None


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002 - torch's
           stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D cross-correlation (PyTorch's conv1d): x (N, C, L), weight (O, C / groups, k), bias
    (O,) or None -> (N, O, L_out), L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1;
    padding may be "valid" or "same" (stride 1, the odd one on the right); groups as conv2d.
    An unbatched x (C, L) gives (O, L_out)."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002 - torch's
           stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), weight (O, C / groups, kh, kw),
    bias (O,) or None -> (N, O, H_out, W_out), H_out = (H + 2 padding - dilation (kh - 1) - 1)
    // stride + 1. padding: an int, a pair, "valid" (0) or "same" (stride 1; H_out = H; total
    padding dilation (k - 1), an odd one putting the extra row and column at the bottom and
    right, as PyTorch). groups splits the channels into groups convolved apart (C and O divisible
    by groups; groups = C is the depthwise convolution). An unbatched x (C, H, W) gives
    (O, H_out, W_out), as PyTorch."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002 - torch's
           stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D cross-correlation (PyTorch's conv3d): x (N, C, D, H, W), weight
    (O, C / groups, kd, kh, kw), bias (O,) or None -> (N, O, D_out, H_out, W_out), each size
    (n + 2 padding - dilation (k - 1) - 1) // stride + 1; stride, padding, dilation an int or a
    triple; padding also "valid" or "same" (stride 1, an odd total's extra value at the end);
    groups as conv2d. An unbatched x (C, D, H, W) gives (O, D_out, H_out, W_out)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _pool_settings(name: str, kernel_size, stride, padding, nd: int = 2):
    """kernel, stride (default, None or empty: the kernel) and padding as nd-tuples (each an
    int, or one or nd ints, as torch), checked."""
    kernel = _ntuple(kernel_size, nd, f"{name}: kernel_size", True)
    stride = kernel if stride is None or isinstance(stride, (tuple, list)) and not stride else \
        _ntuple(stride, nd, f"{name}: stride", True)
    padding = _ntuple(padding, nd, f"{name}: padding", True)
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ConvError(
            f"{name}: need kernel_size >= 1, stride >= 1, padding >= 0, got {_show(kernel)}, "
            f"{_show(stride)}, {_show(padding)}"
        )
    if any(p * 2 > k for p, k in zip(padding, kernel)):
        raise ConvError(
            f"{name}: padding must be at most half the kernel, got padding {_show(padding)} for "
            f"kernel {_show(kernel)}"
        )
    return kernel, stride, padding


def _check_pool_rank(name: str, shape, spatial: str) -> None:
    if len(shape) not in (spatial.count(",") + 3, spatial.count(",") + 2):
        raise (_PoolRankError if len(shape) < spatial.count(",") + 2 else ConvError)(
            f"{name}: expected x (N, C, {spatial}) or unbatched (C, {spatial}), got "
            f"{tuple(shape)}")


def _check_pool_nonempty(name: str, shape, nd: int) -> None:
    """torch's pools take an empty batch only: C and the spatial sizes must be > 0."""
    if 0 in tuple(shape)[-nd - 1:]:
        raise ConvError(f"{name}: expected x's non-batch dimensions to be > 0 (only the batch "
                        f"may be empty), got {tuple(shape)}")


_MAX_POOL_OPS = {1: MaxPool1d, 2: MaxPool2d, 3: MaxPool3d}


def _unbatched_node(y: Tensor, nd: int, name: str) -> Tensor:
    """An unbatched pool's result (a squeeze of a batch of one) with torch's node name: its 2-d
    and 3-d kernels take the unbatched input itself (its 1-d one is a squeeze too)."""
    if nd > 1 and isinstance(y, Tensor) and y.op is not None:
        from dlpy.node_names import rename

        rename(y.op, name)
    return y


def _max_pool(nd: int, x, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices) -> Tensor | tuple[Tensor, Tensor]:
    op = _MAX_POOL_OPS[nd]
    default_stride = stride is None or isinstance(stride, (tuple, list)) and not stride
    kernel, stride, padding = _pool_settings(op.name, kernel_size, stride, padding, nd)
    dilation = _dilation(dilation, op.name, nd, True)
    _check_pool_rank(op.name, _shape_of(x), SPATIAL[nd][0])
    _check_pool_nonempty(op.name, _shape_of(x), nd)
    kind = np.dtype(getattr(x, "dtype", np.float32)).kind
    if kind == "b" or kind in "iu" and nd == 1 and not return_indices:  # torch's kernels
        raise NotImplementedError(f"{op.name}: not implemented for {np.dtype(x.dtype)} (without "
                                  f"return_indices), as torch")
    if len(_shape_of(x)) == nd + 1:  # unbatched (C, *spatial): a batch of one, as PyTorch
        y = _max_pool(nd, unsqueeze(x, 0), kernel, stride, padding, dilation, ceil_mode,
                      return_indices)
        out = _unbatched_node(squeeze(y[0] if return_indices else y, 0), nd,
                              f"MaxPool{nd}DWithIndicesBackward0")
        return (out, Tensor(y[1].data[0])) if return_indices else out
    pool = op(kernel, stride, padding, dilation, bool(ceil_mode))
    if default_stride:  # (torch's backward shows the stride as given: [])
        pool.default_stride = True
    y = pool(x)
    if not return_indices:
        return y
    if _meta.is_meta_array(y.data):  # (its shape rule ran no forward: no maxima to find)
        return y, Tensor(meta_array(y.data.shape, np.int64))
    return y, Tensor(laid_like(pool.indices(), np.asarray(getattr(x, "data", x))))


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, L) or
    unbatched (C, L), as PyTorch's max_pool1d (max_pool2d's rules along one axis: -inf
    padding, dilation, ceil_mode). return_indices: also the int64 positions of the maxima
    along L."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W) padded
    with -inf, each window taking every dilation-th value, as PyTorch's max_pool2d: H_out =
    floor or (ceil_mode) ceil of (H + 2 padding - dilation (kh - 1) - 1) / stride, plus 1, a
    ceil_mode window kept only if it starts inside the input or the left padding.
    return_indices: also a Tensor of int64 indices of the maxima into each flattened H*W plane
    (PyTorch's, which max_unpool2d takes). An unbatched x (C, H, W) gives (C, H_out, W_out)."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@autocast_policy(FP32)
def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, D, H, W) or
    unbatched (C, D, H, W), as PyTorch's max_pool3d (max_pool2d's rules along three axes: -inf
    padding, dilation, ceil_mode). return_indices: also the int64 indices of the maxima into
    each flattened D*H*W volume (which max_unpool3d takes)."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


_AVG_POOL_OPS = {1: AvgPool1d, 2: AvgPool2d, 3: AvgPool3d}


def _avg_pool(nd: int, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override) -> Tensor:
    op = _AVG_POOL_OPS[nd]
    default_stride = stride is None or isinstance(stride, (tuple, list)) and not stride
    kernel, stride, padding = _pool_settings(op.name, kernel_size, stride, padding, nd)
    not_int = isinstance(divisor_override, bool) or not isinstance(divisor_override,
                                                                   (int, np.integer))
    if divisor_override is not None and (not_int or divisor_override == 0):
        raise (_ConvArgTypeError if not_int else ConvError)(
            f"{op.name}: divisor_override must be a nonzero int or None, got "
            f"{divisor_override!r}")
    _check_pool_rank(op.name, _shape_of(x), SPATIAL[nd][0])
    _check_pool_nonempty(op.name, _shape_of(x), nd)
    dtype = np.dtype(x.dtype) if isinstance(x, Tensor) else np.asarray(x).dtype
    if dtype.kind in "biu" and dtype != np.int64:
        raise NoKernelError(f"{op.name}: expected a floating-point or int64 x, got {dtype}, as "
                            f"torch's")
    if nd == 3 and dtype.itemsize == 2 and dtype.kind in "fV":  # (bfloat16: kind V)
        raise NoKernelError(f"{op.name}: torch's CPU kernel takes no {dtype} x (float32 does)")
    if nd == 3 and any(n < k for n, k in zip(_shape_of(x)[-3:], kernel)):
        t, h, w = _shape_of(x)[-3:]  # (torch's avg_pool3d checks the input before padding)
        raise ConvError(f"{op.name}: input image (T: {t} H: {h} W: {w}) smaller than kernel "
                        f"size (kT: {kernel[0]} kH: {kernel[1]} kW: {kernel[2]})")
    if len(_shape_of(x)) == nd + 1:  # unbatched (C, *spatial): a batch of one, as PyTorch
        return _unbatched_node(squeeze(_avg_pool(nd, unsqueeze(x, 0), kernel, stride, padding,
                                                 ceil_mode, count_include_pad,
                                                 divisor_override), 0),
                               nd, f"AvgPool{nd}DBackward0")
    pool = op(kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
              None if divisor_override is None else int(divisor_override))
    if default_stride:  # (torch's backward shows the stride as given: [])
        pool.default_stride = True
    return pool(x)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over kernel_size windows every stride (default: kernel_size) of x (N, C, L) or
    unbatched (C, L), zero-padded, as PyTorch's avg_pool1d (avg_pool2d's rules along one
    axis)."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W),
    zero-padded by padding, as PyTorch's avg_pool2d: the padding counts in the mean unless
    count_include_pad=False; divisor_override (a nonzero int) replaces the window's count;
    ceil_mode keeps a last partial window. An unbatched x (C, H, W) gives (C, H_out, W_out)."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


@autocast_policy(FP32)
def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel_size windows every stride (default: kernel_size) of x (N, C, D, H, W) or
    unbatched (C, D, H, W), zero-padded, as PyTorch's avg_pool3d (avg_pool2d's rules along three
    axes: count_include_pad, divisor_override, ceil_mode)."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _check_transpose_settings(name: str, stride, padding, output_padding, dilation,
                               error=ValueError) -> None:
    """stride >= 1, padding and output_padding >= 0, and output_padding below the stride or
    the dilation along each axis (PyTorch's rule: a larger one would add values no input
    value reaches)."""
    if min(stride) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise error(f"{name}: need stride >= 1, padding >= 0 and output_padding >= 0, got "
                    f"{_show(stride)}, {_show(padding)}, {_show(output_padding)}")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise error(f"{name}: output_padding must be smaller than either stride or "
                    f"dilation, as in PyTorch, got output_padding {_show(output_padding)}, "
                    f"stride {_show(stride)} and dilation {_show(dilation)}")


def _check_transpose_shapes(name: str, x_shape, w_shape, groups: int, nd: int) -> None:
    """x (N, C, *spatial) and weight (C, O / groups, *kernel), C divisible by groups."""
    spatial, kernel = SPATIAL[nd]
    if len(x_shape) != nd + 2 or len(w_shape) != nd + 2 or x_shape[1] != w_shape[0]:
        raise ConvError(
            f"{name}: expected x (N, C, {spatial}) or unbatched (C, {spatial}) and weight "
            f"(C, O / groups, {kernel}) with the same C, got x {x_shape} and weight {w_shape}"
        )
    if x_shape[1] % groups:
        raise ConvError(f"{name}: in_channels must be divisible by groups={groups}, got x "
                        f"{x_shape} and weight {w_shape}")


_CONV_TRANSPOSE_OPS = {1: ConvTranspose1d, 2: ConvTranspose2d, 3: ConvTranspose3d}


def _conv_transpose(nd: int, x, weight, bias, stride, padding, output_padding, groups,
                    dilation) -> Tensor:
    op = _CONV_TRANSPOSE_OPS[nd]
    name = op.name
    if isinstance(padding, str):  # torch's transposed convolutions take no "same" / "valid"
        raise ConvTypeError(f"{name}: padding: expected an int or {_TUPLE_WORDS[nd]} of ints, "
                            f"got {padding!r}")
    stride = _ntuple(stride, nd, f"{name}: stride", True)
    padding = _ntuple(padding, nd, f"{name}: padding", True)
    output_padding = _ntuple(output_padding, nd, f"{name}: output_padding", True)
    dilation = _dilation(dilation, name, nd, True, ConvError)
    groups = _groups(groups, name, ConvError)
    _check_dtype(name, x)
    kind = getattr(x, "dtype", np.dtype(np.float32))
    if kind.kind in "iu" and kind != np.int64:  # torch's CPU kernels: int64 the only integer
        raise NotImplementedError(f"{name}: not implemented for {kind}, as torch (int64 is)")
    _check_transpose_settings(name, stride, padding, output_padding, dilation, ConvError)
    x_shape, w_shape = _shape_of(x), _shape_of(weight)
    if len(x_shape) == nd + 1 and len(w_shape) == nd + 2:  # unbatched: a batch of one
        return squeeze(_conv_transpose(nd, unsqueeze(x, 0), weight, bias, stride, padding,
                                       output_padding, groups, dilation), 0)
    _check_transpose_shapes(name, x_shape, w_shape, groups, nd)
    if x_shape[0] and x_shape[1] and 0 in x_shape[2:]:
        raise ConvError(f"{name}: only zero batch or zero channel inputs are supported, as "
                        f"torch, got x {x_shape}")
    if bias is not None and _shape_of(bias) != (w_shape[1] * groups,):
        raise ConvError(f"{name}: bias must have shape ({w_shape[1] * groups},), got "
                        f"{_shape_of(bias)}")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return optional_edges(op(stride, padding, output_padding, dilation, groups)(*inputs), op,
                          True, True, bias is not None)  # torch's (None, 0) edge for bias=None


def conv_transpose1d(input: Tensor, weight: Tensor,  # noqa: A002 - torch's name
                     bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """The transposed 1-D convolution (PyTorch's conv_transpose1d, arguments in its order):
    x (N, C, L) or unbatched (C, L), weight (C, O / groups, k), bias (O,) or None ->
    (N, O, L_out), L_out = (L - 1) stride - 2 padding + dilation (k - 1) + 1 + output_padding
    (output_padding smaller than stride or dilation)."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor,  # noqa: A002 - torch's name
                     bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """The transposed convolution (PyTorch's conv_transpose2d, arguments in its order): conv2d's
    gradient with respect to its input, as a layer. x (N, C, H, W) or unbatched (C, H, W),
    weight (C, O / groups, kh, kw), bias (O,) or None -> (N, O, H_out, W_out) or
    (O, H_out, W_out), H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + 1 +
    output_padding. padding crops the output (conv2d with that padding maps it back to H);
    output_padding (smaller than stride or dilation) adds rows at the bottom and columns at the
    right, to pick one of the sizes that a strided conv2d maps to H."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor,  # noqa: A002 - torch's name
                     bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """The transposed 3-D convolution (PyTorch's conv_transpose3d, arguments in its order):
    x (N, C, D, H, W) or unbatched (C, D, H, W), weight (C, O / groups, kd, kh, kw), bias (O,)
    or None -> (N, O, D_out, H_out, W_out), each size (n - 1) stride - 2 padding +
    dilation (k - 1) + 1 + output_padding (output_padding smaller than stride or dilation)."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def _unpool_output_size(name: str, size, kernel, stride, padding, output_size):
    """PyTorch's rule: (size - 1) stride - 2 padding + kernel, or output_size (the spatial sizes,
    or with (N, C) before them) if it lies strictly within stride of that."""
    default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(size, kernel, stride, padding))
    if output_size is None:
        out = default
    else:
        if not isinstance(output_size, (tuple, list)) or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in output_size):
            raise ValueError(f"{name}: output_size must be a tuple of ints, got {output_size!r}")
        out = tuple(int(n) for n in output_size)
        if len(out) == len(kernel) + 2:
            out = out[2:]
        if len(out) != len(kernel):
            raise ValueError(f"{name}: output_size must have {len(kernel)} or {len(kernel) + 2} "
                             f"elements, got {tuple(output_size)}")
        for axis, (n, d, s) in enumerate(zip(out, default, stride)):
            if not d - s < n < d + s:
                raise ValueError(f"{name}: invalid output_size {out}: axis {axis} must lie "
                                 f"strictly between {d - s} and {d + s}, as in PyTorch")
    if min(out) < 1:
        raise ValueError(f"{name}: the input {tuple(size)} with kernel {kernel}, stride {stride} "
                         f"and padding {padding} gives an output of size {out}, too small")
    return out


_MAX_UNPOOL_OPS = {1: MaxUnpool1d, 2: MaxUnpool2d, 3: MaxUnpool3d}


@autocast_policy(FP32)
def _max_unpool(nd: int, x, indices, kernel_size, stride, padding, output_size) -> Tensor:
    name = f"max_unpool{nd}d"
    kernel = _ntuple(kernel_size, nd, f"{name}: kernel_size")
    stride = kernel if stride is None else _ntuple(stride, nd, f"{name}: stride")
    padding = _ntuple(padding, nd, f"{name}: padding")
    if min(kernel) < 1 or min(stride) < 0 or min(padding) < 0:  # (stride 0: torch's too)
        raise ValueError(f"{name}: need kernel_size >= 1, stride >= 0, padding >= 0, got "
                         f"{_show(kernel)}, {_show(stride)}, {_show(padding)}")
    shape = _shape_of(x)
    _check_pool_rank(name, shape, SPATIAL[nd][0])
    if len(shape) == nd + 2 and shape[1] == 0:  # torch: an empty batch only (unbatched C may be)
        raise ConvError(f"{name}: expected x's non-batch dimensions to be > 0, got {shape}")
    index = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if np.dtype(getattr(x, "dtype", np.float32)).kind in "biu":
        raise NotImplementedError(f"{name}: expected a floating-point x, got "
                                  f"{np.dtype(x.dtype)}, as torch")
    if index.dtype != np.int64:  # torch: int64 only (not int32, uint8...)
        raise ArgDtypeError(f"{name}: indices must be int64 (max_pool{nd}d's "
                            f"return_indices), got {index.dtype}")
    if index.shape != shape:
        raise ConvError(f"{name}: expected indices of x's shape {shape}, got {index.shape}")
    out = _unpool_output_size(name, shape[-nd:], kernel, stride, padding, output_size)
    if index.size and (index.min() < 0 or index.max() >= math.prod(out)):
        bad = index.min() if index.min() < 0 else index.max()
        raise ConvError(f"{name}: found an invalid index {bad}: the output planes are "
                        f"{'x'.join(str(n) for n in out)}")
    # an explicit plane size: -1 cannot be inferred for an empty batch
    flat = index.reshape(*shape[:-nd], math.prod(shape[-nd:])).astype(np.int64, copy=False)
    return _MAX_UNPOOL_OPS[nd](flat, out)(x)


def max_unpool1d(input: Tensor, indices, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool1d (PyTorch's max_unpool1d): a zero (N, C, L_out) with
    each value of x (N, C, L) or unbatched (C, L) put back where max_pool1d(...,
    return_indices=True) took it from. L_out = (L - 1) stride - 2 padding + kernel_size, or
    output_size as max_unpool2d's."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool2d (PyTorch's max_unpool2d): a zero (N, C, H_out, W_out)
    with each value of x (N, C, H, W) put back where max_pool2d(..., return_indices=True) took
    it from: indices (x's shape, integers) into each flattened H_out*W_out plane. H_out =
    (H - 1) stride - 2 padding + kernel_size (stride defaults to kernel_size), or output_size
    ((H_out, W_out) or (N, C, H_out, W_out)), which must lie strictly within stride of it (the
    sizes max_pool2d maps to H). An unbatched x (C, H, W) gives (C, H_out, W_out). The gradient
    of x is the output's gradient at the indices."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool3d (PyTorch's max_unpool3d): a zero
    (N, C, D_out, H_out, W_out) with each value of x (N, C, D, H, W) or unbatched (C, D, H, W)
    put back at its index into the flattened D_out*H_out*W_out volume; sizes and output_size
    as max_unpool2d's."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)
