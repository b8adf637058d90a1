"""ConvNd's path for groups of a few channels (depthwise convolutions, groups == in_channels,
and groups of up to 7 channels, as ResNeXt's 32 of 4; any stride, padding, dilation, 1-3
spatial axes): an im2col of a group at a time, y[n, g] (O/G, L) = w[g] (O/G, C/G K) @
cols[n, g] (C/G K, L), K = prod(kernel), row (c, i) of cols the values channel c of the group
has at kernel position i of each window: a product batched over (sample, group) (a
matrix-vector product each for a depthwise convolution), not one product of a mostly zero
block-diagonal matrix. Backward: dw[g, :, :, i] = sum_n g[n, g] @ (rows i of cols[n, g])^T,
read straight from the shifted views; dx at stride 1 is this forward of g with the flipped
kernel (its groups' input and output channels swapped), else w[g, :, :, i]^T g[n, g] is added
back at the windows of each kernel position i.

To make every row one contiguous copy, x_pad is split into its stride's phases
(x_pad[..., s q + r] at [..., r, q]) and each plane flattened: kernel position i reads phase
(d i) % s from flat offset F(i) = (d i) // s in row-major units, so the rows cover a "wide"
grid (out_0, *Q[1:]) of whole phase rows, the columns past out_size dropped at the end (zero
in g). (Sample, group) blocks of about conv_channels_last.BLOCK_BYTES run at a time, through
cache-sized buffers. 1-D and 2-D layers of one channel a group with wide kernels (2-d 5+, 1-d
7+) or outputs at most 14 wide run as banded matrix products instead (conv_banded.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from dlpy.ops import conv_banded, conv_channels_last

# wide planes of fewer values than this sum their weight gradient's products by einsum where
# they are small (C/G O/G <= 16), longer ones by a BLAS product a plane (measured, depthwise:
# 2x faster each way on its side)
SHORT_PLANES = 256


# the most input channels a group this path takes (from 8 a group's own channels-last or
# Winograd path does better, conv.conv_path's "grouped")
MOST_CHANNELS = 7


def applies(x_shape, w_shape, groups: int) -> bool:
    """Whether this path computes the convolution: 1 to MOST_CHANNELS input channels a group."""
    return groups > 1 and x_shape[1] // groups <= MOST_CHANNELS


class _Plan:
    """The phase-split layout of x_pad for one convolution's settings: phases (s_0, ...) of
    (Q_0 + 1, Q_1, ...) values (one row more than the strided windows read, so the wide grid's
    last row stays inside), and each kernel position's phase and flat offset."""

    def __init__(self, spatial, kernel, stride, padding, dilation, out_size):
        self.spatial, self.stride, self.padding = tuple(spatial), tuple(stride), tuple(padding)
        self.out_size = tuple(out_size)
        quotients = [-(-(n + 2 * p) // s) for n, p, s in zip(spatial, padding, stride)]
        self.q = (quotients[0] + 1, *quotients[1:])
        self.row = math.prod(self.q[1:])  # values per wide-grid row
        self.length = self.out_size[0] * self.row  # L: the wide grid of one plane
        self.taps = []  # (phase, flat offset) per kernel position, row-major
        for position in itertools.product(*map(range, kernel)):
            phase = start = 0
            for i, d, s, q in zip(position, dilation, stride, self.q):  # row-major flat indices
                phase, start = phase * s + d * i % s, start * q + d * i // s
            self.taps.append((phase, start))

    def _phase_slices(self):
        """For each phase (r_0, ...) of x_pad: its flat index, the values of x that land in
        it (every s-th from the first with (index + p) % s == r) and where they go in it."""
        per_axis = []
        for size, p, s in zip(self.spatial, self.padding, self.stride):
            axis = []
            for r in range(s):
                start = (r - p) % s
                first = (start + p) // s
                count = len(range(start, size, s))
                axis.append((slice(start, None, s), slice(first, first + count)))
            per_axis.append(axis)
        for flat, parts in enumerate(itertools.product(*per_axis)):
            yield flat, tuple(x for x, _ in parts), tuple(q for _, q in parts)

    def phase_shape(self, n: int, c: int) -> tuple[int, ...]:
        return n, c, math.prod(self.stride), math.prod(self.q)

    def split(self, x: np.ndarray, phases: np.ndarray) -> np.ndarray:
        """x (n, C, *spatial) into phases (n, C, prod(s), prod(Q)), zero-padded, phase by
        phase."""
        n, c = x.shape[:2]
        phases.fill(0)
        grid = phases.reshape(n, c, -1, *self.q)
        whole = (slice(None), slice(None))
        for flat, x_index, q_index in self._phase_slices():
            grid[(*whole, flat, *q_index)] = x[whole + x_index]
        return phases

    def unsplit(self, phases: np.ndarray, x: np.ndarray) -> None:
        """The adjoint of split: phases (n, C, prod(s), prod(Q)) read back into x."""
        n, c = phases.shape[:2]
        grid = phases.reshape(n, c, -1, *self.q)
        whole = (slice(None), slice(None))
        for flat, x_index, q_index in self._phase_slices():
            x[whole + x_index] = grid[(*whole, flat, *q_index)]

    def wide(self, array: np.ndarray) -> np.ndarray:
        """(..., L) on the wide grid -> its (..., *out_size) values (a view)."""
        grid = array.reshape(*array.shape[:-1], self.out_size[0], *self.q[1:])
        return grid[(..., slice(None), *(slice(0, o) for o in self.out_size[1:]))]


def _blocks(plan: _Plan, n: int, groups: int, per_group: tuple, dtype):
    """(samples, groups, shape (samples, groups)) blocks of about BLOCK_BYTES in all
    (conv_channels_last.blocks over the (N, G) groups of planes), and buffers enough for the
    largest: per_group wide-grid rows a group for each of (cols or a product, the wide y or g),
    then the phases of its channels."""
    sizes = (per_group[0] * plan.length, per_group[1] * plan.length,
             per_group[2] * math.prod(plan.phase_shape(1, 1)))
    plan_blocks = list(conv_channels_last.blocks(n, (groups,), sum(sizes)
                                                 * np.dtype(dtype).itemsize))
    most = max(math.prod(shape) for *_, shape in plan_blocks)
    return plan_blocks, [np.empty(most * size, dtype=dtype) for size in sizes]


def _cols(plan: _Plan, phases: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """(n, c, K, L): row i of each plane the wide-grid values kernel position i reads."""
    cols = conv_channels_last.take(buffer, (*phases.shape[:2], len(plan.taps), plan.length))
    for i, (phase, start) in enumerate(plan.taps):
        np.copyto(cols[:, :, i], phases[:, :, phase, start:start + plan.length])
    return cols


def _channels(groups: slice, width: int) -> slice:
    """The channels of a run of groups of width channels."""
    return slice(groups.start * width, groups.stop * width)


def forward(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, out_size,
            groups: int) -> np.ndarray:
    """y (N, O, *out_size) from x (N, C, *spatial) and weight (O, C/G, *kernel)."""
    if conv_banded.applies(x.shape, weight.shape, groups, out_size):
        return conv_banded.forward(x, weight, stride, padding, dilation, out_size)
    n, c = x.shape[:2]
    out_channels, width = weight.shape[0], c // groups
    plan = _Plan(x.shape[2:], weight.shape[2:], stride, padding, dilation, out_size)
    rows = width * len(plan.taps)
    # (G, O/G, C/G K), contiguous for BLAS (also where weight is a flipped view)
    w = np.ascontiguousarray(weight.reshape(groups, out_channels // groups, rows))
    dtype = np.result_type(x, weight)
    y = np.empty((n, groups, out_channels // groups, *out_size), dtype=dtype)
    blocks, (cols_buffer, y_buffer, phase_buffer) = _blocks(
        plan, n, groups, (rows, out_channels // groups, width), dtype)
    for samples, run, shape in blocks:
        channels = _channels(run, width)
        phases = plan.split(x[samples, channels], conv_channels_last.take(
            phase_buffer, plan.phase_shape(shape[0], shape[1] * width)))
        cols = _cols(plan, phases, cols_buffer).reshape(*shape, rows, plan.length)
        y_wide = np.matmul(w[run], cols, out=conv_channels_last.take(
            y_buffer, (*shape, out_channels // groups, plan.length)))
        y[samples, run] = plan.wide(y_wide)
    return y.reshape(n, out_channels, *out_size)


def backward(x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride, padding,
             dilation, groups: int, need_x: bool, need_weight: bool):
    """(dx (N, C, *spatial) or None, dw (O, C/G, *kernel) or None) from g (N, O, *out_size):
    x is read only for dw (for dx alone its shape and dtype are enough)."""
    if conv_banded.applies(x.shape, weight.shape, groups, grad_output.shape[2:]):
        return conv_banded.backward(x, weight, grad_output, stride, padding, dilation, need_x,
                                    need_weight)
    n, c, *spatial = x.shape
    out_channels, kernel, out_size = weight.shape[0], weight.shape[2:], grad_output.shape[2:]
    width, filters = c // groups, out_channels // groups  # C/G and O/G
    dtype = grad_output.dtype
    # at stride 1 (padding within the kernel's reach), dx is this convolution of g padded by
    # d (k - 1) - p with the flipped kernel, each group's O/G and C/G swapped
    flip_padding = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dilation, padding))
    if need_x and set(stride) == {1} and min(flip_padding) >= 0:
        flipped = np.flip(weight, tuple(range(2, weight.ndim))).reshape(
            groups, filters, width, *kernel).swapaxes(1, 2).reshape(c, filters, *kernel)
        return (forward(grad_output, flipped, stride, flip_padding, dilation, spatial, groups),
                backward(x, weight, grad_output, stride, padding, dilation, groups, False,
                         True)[1] if need_weight else None)
    plan = _Plan(spatial, kernel, stride, padding, dilation, out_size)
    g = grad_output.reshape(n, groups, filters, *out_size)
    # (K, G, C/G, O/G): each kernel position's w[g]^T
    w_t = np.ascontiguousarray(weight.reshape(groups, filters, width, -1).transpose(3, 0, 2, 1))
    x_grad = np.empty(x.shape, dtype=dtype) if need_x else None
    w_grad = np.zeros((len(plan.taps), groups, filters, width), dtype=dtype) \
        if need_weight else None
    blocks, (product_buffer, g_buffer, phase_buffer) = _blocks(
        plan, n, groups, (width, filters, width), dtype)
    for samples, run, shape in blocks:
        channels = _channels(run, width)
        g_wide = conv_channels_last.take(g_buffer, (*shape, filters, plan.length))
        g_wide.fill(0)  # the columns past out_size
        plan.wide(g_wide)[...] = g[samples, run]
        phases = conv_channels_last.take(phase_buffer, plan.phase_shape(shape[0],
                                                                        shape[1] * width))
        rows = (*shape, width, plan.length)  # a kernel position's rows of cols, by group
        if need_weight:
            plan.split(x[samples, channels], phases)
            for i, (phase, start) in enumerate(plan.taps):
                view = phases[:, :, phase, start:start + plan.length].reshape(rows)
                if plan.length < SHORT_PLANES and width * filters <= 16:
                    # small products of short planes: one call, not a BLAS call per plane
                    w_grad[i, run] += np.einsum("ngol,ngcl->goc", g_wide, view)
                else:
                    w_grad[i, run] += np.matmul(g_wide, view.swapaxes(-1, -2)).sum(axis=0)
        if need_x:  # w[g]^T g added back at each kernel position's windows
            phases.fill(0)
            product = conv_channels_last.take(product_buffer, rows)
            for i, (phase, start) in enumerate(plan.taps):
                # (G, C/G, O/G) @ (n, G, O/G, L): an outer product where O/G = 1, faster
                # multiplied
                (np.matmul if filters > 1 else np.multiply)(w_t[i, run], g_wide, out=product)
                phases[:, :, phase, start:start + plan.length] += product.reshape(
                    shape[0], -1, plan.length)
            plan.unsplit(phases, x_grad[samples, channels])
    if need_weight:  # (K, G, O/G, C/G) -> (O, C/G, *kernel)
        w_grad = np.ascontiguousarray(w_grad.transpose(1, 2, 3, 0)).reshape(weight.shape)
    return x_grad, w_grad
