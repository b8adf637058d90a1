"""ConvNd's path for groups of a few channels (depthwise convolutions, groups == in_channels,
and groups of up to 7 channels, as ResNeXt's 32 of 4; any stride, padding, dilation, channel
multiplier, 1-3 spatial axes). E is x copied kw times, the copy for kernel column j holding
x_pad[..., s_w t + d_w j] at column t (t < out_w: only the columns the windows read), its
leading axes split into their strides' phases (x_pad[..., s q + r, :] at [..., r, q, :]), a
block's samples laid end to end in each (group, phase, channel, column) row. A kernel position
a of the leading axes (kh; kd kh in 3-d; one in 1-d) reads one phase from flat offset
(d a) // s on, so

    P[g] = W_r[g] (T O/G, C/G kw) @ E_r[g] (C/G kw, samples x run),  y = sum_a P_a shifted by a,

one BLAS product a (group, phase) for all T kernel positions of that phase (M = 3 for a
depthwise 3x3), over rows of the whole block, not a matrix-vector product a plane and position;
BLAS reads E in place (its rows are uniformly strided), and the kh products' shifted views are
summed into y (3-d: over a "wide" grid, (out_0, *Q[1:-1], out_w), cropped). Against copying
each kernel position's values (a group's im2col: prod(kernel) copies), kw copies, as flat runs
of x's planes where rows are W = s_w out_w wide (no loop a row). Backward: dw[g, a] = g @ E_a^T
(E_a: the rows from a's offset on); dx at stride 1 is this forward of g with the flipped kernel
(the groups' input and output channels swapped), else dE_r = W_r^T @ (g shifted to each of the
phase's positions), added back into dx (over whole rows, not phases, where they are
s_w out_w wide). Blocks of about 2 conv_channels_last.BLOCK_BYTES (as many samples as fit,
then groups) run at a time through reused buffers. 1-D and 2-D layers of one channel a group
with wide kernels (2-d 5+, 1-d 7+) or outputs at most 14 wide run as banded matrix products
instead (conv_banded.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from dlpy.ops import conv_banded, conv_channels_last

# the most input channels a group this path takes (from 8 a group's own channels-last or
# Winograd path does better, conv.conv_path's "grouped")
MOST_CHANNELS = 7
# runs (values a sample, plane and phase) from which forward sums the kernel positions'
# products flat, then copies y out (measured, 3x3 on 28x28 and 56x56 planes: forward
# 0.87-0.90x; on 14x14 and 7x7 1.0-1.1x, so they sum into y's views)
FLAT_SUMS = 512


def applies(x_shape, w_shape, groups: int) -> bool:
    """Whether this path computes the convolution: 1 to MOST_CHANNELS input channels a group."""
    return groups > 1 and x_shape[1] // groups <= MOST_CHANNELS


class _Plan:
    """The layout E of x for one convolution's settings: per group (phases prod(s[:-1]),
    C/G kw rows (channel, kernel column), N_block runs) with runs (*Q, out_w), Q = out +
    d (k - 1) // s along the leading axes (so every kernel position's run stays inside; in 3-d
    one more along the first); each leading kernel position's phase and flat offset, and the
    positions each phase holds."""

    def __init__(self, spatial, kernel, stride, padding, dilation, out_size,
                 whole_rows: bool = False):
        self.spatial, self.kernel, self.stride = tuple(spatial), tuple(kernel), tuple(stride)
        self.padding, self.dilation, self.out_size = tuple(padding), tuple(dilation), \
            tuple(out_size)
        # whole_rows (backward): a strided 2-d layer whose rows are W = s_w out_w wide keeps its
        # rows whole, not split into phases, so that E is copied and added back in long flat
        # runs: the products run over every row, s_h x the multiplications, and the outputs
        # take every s_h-th (measured, 3x3/2: dx 0.7-0.9x the phases' time, whose adds run a
        # short row at a time; forward and dw 1.05-1.15x, so they keep the phases)
        whole_rows = whole_rows and len(kernel) == 2 and stride[0] > 1 and \
            spatial[-1] == stride[-1] * out_size[-1]
        self.split_stride = (1,) if whole_rows else tuple(stride[:-1])
        self.rows_taken = stride[0] if whole_rows else 1  # every rows_taken-th output row
        lead = zip(out_size[:-1], kernel[:-1], self.split_stride, dilation[:-1])
        q = [o + d * (k - 1) // s for o, k, s, d in lead]
        if q:
            q[0] += (self.rows_taken - 1) * out_size[0]
        if len(q) > 1:  # a row more, so that the wide grid's last run stays inside
            q[0] += 1
        self.q = tuple(q)
        self.phases = math.prod(self.split_stride)
        self.run = math.prod(self.q) * out_size[-1]  # values of one sample's run
        # L: a run's wide grid (out_0 rows_taken, *Q[1:-1], out_w), whose values past out_size
        # (and the rows between those taken) are dropped
        self.length = out_size[0] * self.rows_taken * math.prod(self.q[1:]) * out_size[-1] \
            if self.q else out_size[-1]
        self.taps = []  # (phase, flat offset) per leading kernel position, row-major
        for position in itertools.product(*map(range, kernel[:-1])):
            phase = start = 0
            for i, d, s, q in zip(position, dilation, self.split_stride, self.q):
                phase, start = phase * s + d * i % s, start * q + d * i // s
            self.taps.append((phase, start * out_size[-1]))
        self.by_phase = [[i for i, (phase, _) in enumerate(self.taps) if phase == r]
                         for r in range(self.phases)]
        self.slices = list(self._slices())
        # whether each copy is the first to reach its values of x: copies reach the same
        # values only from the same leading phase and column phase (d j - p) % s_w
        reached = set()
        self.slices_first = []
        for flat, j, x_index, e_index in self.slices:
            key = (flat, x_index[-1].start % stride[-1])
            self.slices_first.append((flat, j, x_index, e_index, key not in reached))
            reached.add(key)
        # 2-d at row stride 1 with W = s_w out_w: each kernel column's copy is one strided run
        # of x's flattened planes (long loops, not one a row), the columns that it fills from
        # the neighbouring rows zeroed after (measured: the copies 2x faster)
        self.flat = [self._flat_run(*copy) for copy in self.slices] if len(self.q) == 1 \
            and self.split_stride[0] == 1 and spatial[-1] == stride[-1] * out_size[-1] \
            else None
        self.flat_sums = self._flat_sums() if self.flat else None

    def _flat_run(self, flat, j, x_index, e_index):
        """For one kernel column's copy (split's slices): x's flat slice, E's flat slice of a
        plane's run, and the (rows, columns) of E to zero (filled from the neighbouring rows)."""
        (rows, columns), (q_rows, q_columns) = x_index, e_index
        size, out = self.spatial[-1], self.out_size[-1]
        s, count = self.stride[-1], (q_rows.stop - q_rows.start) * out
        base = rows.start * size + columns.start - s * q_columns.start  # x of E's column 0
        first = max(0, -(base // s))  # the first E value whose x index is >= 0
        last = min(count, (self.spatial[0] * size - 1 - base) // s + 1)
        zeros = [(slice(None), flat, slice(None), j, slice(None), q_rows, columns)
                 for columns in (slice(0, q_columns.start), slice(q_columns.stop, out))
                 if columns.start < columns.stop]
        return ((slice(None), flat, slice(None), j, slice(None),
                 slice(q_rows.start * out + first, q_rows.start * out + last)),
                (Ellipsis, slice(base + s * first, base + s * (last - 1) + 1, s)), zeros)

    def _flat_sums(self):
        """unsplit's plan for the flat runs: the copies that reach the same values of x (the
        same column phase: 3x3 / 2's first and last kernel columns) summed in E first, where
        their runs overlap (a contiguous add of one run shifted), then each phase's sum set
        into x by one strided assignment, not added by one a copy (measured, 3x3 / 2: unsplit
        about 2x faster). Per phase: (E run, x slice) of the first copy, (E part added into
        it, its part) of each other, and (E part, x slice) of what falls outside the first's
        run, added into x after."""
        groups = {}
        for e_run, (_, x_run), _ in self.flat:
            groups.setdefault(x_run.start % self.stride[-1], []).append((e_run, x_run))
        sums = []
        for (e_first, x_first), *others in groups.values():
            s, a, last = x_first.step, x_first.start, x_first.stop - 1  # stop = last + 1
            adds, rest = [], []
            for e_run, x_run in others:
                b, b_last, e_b = x_run.start, x_run.stop - 1, e_run[-1].start
                lo, hi = max(a, b), min(last, b_last)  # the x indices both reach

                def part(x_lo, x_hi, e_run=e_run, b=b, e_b=e_b, s=s):  # e_run's values for
                    return e_run[:-1] + (slice(e_b + (x_lo - b) // s,  # x_lo..x_hi
                                               e_b + (x_hi - b) // s + 1),)
                if lo > hi:
                    rest.append((e_run, x_run))
                    continue
                adds.append((slice((lo - a) // s, (hi - a) // s + 1), part(lo, hi)))
                for x_lo, x_hi in ((b, lo - s), (hi + s, b_last)):
                    if x_lo <= x_hi:
                        rest.append((part(x_lo, x_hi), (Ellipsis, slice(x_lo, x_hi + 1, s))))
            sums.append((e_first, x_first, adds, rest))
        return sums

    def _slices(self):
        """For each (phase, kernel column) of E: its flat phase, the column, the values of x
        that land there and where they go in a run's (*Q, out_w) grid."""
        per_axis = []
        for size, p, s, q in zip(self.spatial, self.padding, self.split_stride, self.q):
            axis = []
            for r in range(s):
                start = (r - p) % s  # the first x index in phase r
                first = (start + p) // s
                count = max(0, min(len(range(start, size, s)), q - first))
                axis.append((slice(start, start + s * count, s), slice(first, first + count)))
            per_axis.append(axis)
        size, p, s, d, out = (self.spatial[-1], self.padding[-1], self.stride[-1],
                              self.dilation[-1], self.out_size[-1])
        for flat, parts in enumerate(itertools.product(*per_axis)):
            for j in range(self.kernel[-1]):
                first = max(0, -(-(p - d * j) // s))  # the first column inside x
                last = min(out - 1, (size - 1 + p - d * j) // s)
                if last < first or any(q.start == q.stop for _, q in parts):
                    continue
                start = s * first + d * j - p
                yield (flat, j, tuple(x for x, _ in parts) + (slice(start, start + s * (
                    last - first) + 1, s),), tuple(q for _, q in parts) + (
                    slice(first, last + 1),))

    def _grid(self, e: np.ndarray, width: int) -> np.ndarray:
        """E (G_block, phases, C/G kw, n runs) as (G_block, phases, C/G, kw, n, *Q, out_w)."""
        return e.reshape(e.shape[0], self.phases, width, self.kernel[-1], -1, *self.q,
                         self.out_size[-1])

    def split(self, x: np.ndarray, e: np.ndarray) -> None:
        """E of x (n, G_block, C/G, *spatial); what it leaves must be zero already."""
        grid = self._grid(e, x.shape[2])
        x = x.transpose(1, 2, 0, *range(3, x.ndim))  # (G_block, C/G, n, *spatial), as E's rows
        whole = (slice(None),) * 3
        if self.flat:
            runs, x_runs = grid.reshape(*grid.shape[:5], -1), x.reshape(*x.shape[:3], -1)
            for e_run, x_run, zeros in self.flat:
                runs[e_run] = x_runs[x_run]
                for index in zeros:
                    grid[index] = 0
            return
        for flat, j, x_index, e_index in self.slices:
            grid[(slice(None), flat, slice(None), j, slice(None), *e_index)] = x[whole + x_index]

    def unsplit(self, e: np.ndarray, x: np.ndarray) -> None:
        """The adjoint of split: E's values added into x (n, G_block, C/G, *spatial), zero
        before."""
        grid = self._grid(e, x.shape[2])
        x = x.transpose(1, 2, 0, *range(3, x.ndim))
        whole = (slice(None),) * 3
        if self.flat:  # E's columns past x zeroed (E is spent), the copies of a column
            # phase summed in E, then one run a plane and phase
            runs, x_runs = grid.reshape(*grid.shape[:5], -1), x.reshape(*x.shape[:3], -1)
            for _, _, zeros in self.flat:
                for index in zeros:
                    grid[index] = 0
            for e_first, x_first, adds, rest in self.flat_sums:
                first = runs[e_first]
                for part, e_part in adds:
                    first[..., part] += runs[e_part]
                x_runs[..., x_first] = first
                for e_part, x_part in rest:
                    x_runs[x_part] += runs[e_part]
            return
        for flat, j, x_index, e_index, first in self.slices_first:
            values = grid[(slice(None), flat, slice(None), j, slice(None), *e_index)]
            if first:  # the first copy to reach these values of x: set, not added
                x[whole + x_index] = values
            else:
                x[whole + x_index] += values

    def wide(self, array: np.ndarray) -> np.ndarray:
        """(..., L) on the wide grid -> its (..., *out_size) values (a view)."""
        if not self.q:
            return array
        grid = array.reshape(*array.shape[:-1], self.out_size[0], self.rows_taken, *self.q[1:],
                             self.out_size[-1])
        return grid[(..., slice(None), 0, *(slice(0, o) for o in self.out_size[1:]))]

    def outputs(self, rows: np.ndarray, n: int, start: int) -> np.ndarray:
        """rows (G_block, O/G, n runs) of a product read from start on in each run, as
        (n, G_block, O/G, *out_size) (a view)."""
        runs = rows.reshape(*rows.shape[:2], n, self.run)[..., start:start + self.length]
        return self.wide(runs).transpose(2, 0, 1, *range(3, 3 + len(self.out_size)))


def _blocks(plan: _Plan, n: int, groups: int, per_run: int, itemsize: int):
    """(samples, groups, (samples, groups)) blocks of about 2 BLOCK_BYTES
    (conv_channels_last's) of per_run values a (sample, group): as many samples as fit (long
    runs for BLAS), then as many groups."""
    budget = 2 * conv_channels_last.BLOCK_BYTES // (per_run * plan.run * itemsize)
    samples = min(n, max(1, budget))
    step = min(groups, max(1, budget // samples))
    for start in range(0, groups, step):
        stop = min(groups, start + step)
        for first in range(0, n, samples):
            last = min(n, first + samples)
            yield slice(first, last), slice(start, stop), (last - first, stop - start)


def _channels(groups: slice, width: int) -> slice:
    """The channels of a run of groups of width channels."""
    return slice(groups.start * width, groups.stop * width)


def _phase_weights(plan: _Plan, weight: np.ndarray, groups: int) -> list:
    """For each phase, (G, T O/G, C/G kw): the w[g] of its T leading kernel positions stacked,
    contiguous for BLAS."""
    out_channels, width, *kernel = weight.shape
    w = weight.reshape(groups, out_channels // groups, width, -1, kernel[-1])
    w = w.transpose(3, 0, 1, 2, 4).reshape(len(plan.taps), groups, out_channels // groups, -1)
    return [np.ascontiguousarray(w[taps].transpose(1, 0, 2, 3)).reshape(groups, -1, w.shape[-1])
            for taps in plan.by_phase]


class _Buffer:
    """E's buffer: the start taken for each block; refilled with zeros only when the block's
    layout changes or the adjoint wrote it (split leaves the padding's zeros in place)."""

    def __init__(self, size: int, dtype):
        self.array, self.clean = np.zeros(size, dtype=dtype), None

    def take(self, shape) -> tuple[np.ndarray, bool]:
        e = conv_channels_last.take(self.array, shape)
        fresh = self.clean == tuple(shape)
        self.clean = tuple(shape)
        return e, fresh


def _finite(array: np.ndarray) -> bool:
    """Whether every value is finite: the banded products multiply each value by the zeros off
    its windows, which an inf or nan would turn into nan (torch's sums see its windows only)."""
    return bool(np.isfinite(array).all())


def forward(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, out_size,
            groups: int) -> np.ndarray:
    """y (N, O, *out_size) from x (N, C, *spatial) and weight (O, C/G, *kernel)."""
    if conv_banded.applies(x.shape, weight.shape, groups, out_size, stride) and _finite(x):
        return conv_banded.forward(x, weight, stride, padding, dilation, out_size)
    n, c, *spatial = x.shape
    out_channels, width = weight.shape[0], c // groups
    filters, rows = out_channels // groups, width * weight.shape[-1]
    plan = _Plan(spatial, weight.shape[2:], stride, padding, dilation, out_size)
    w = _phase_weights(plan, weight, groups)
    dtype = np.result_type(x, weight)
    y = np.empty((n, groups, filters, *out_size), dtype=dtype)
    per_run = plan.phases * rows + len(plan.taps) * filters
    blocks = list(_blocks(plan, n, groups, per_run, dtype.itemsize))
    most = max(math.prod(shape) for *_, shape in blocks) * plan.run
    e_buffer = _Buffer(most * plan.phases * rows, dtype)
    p_buffer = np.empty(most * len(plan.taps) * filters, dtype=dtype)
    for samples, run, shape in blocks:
        e, fresh = e_buffer.take((shape[1], plan.phases, rows, shape[0] * plan.run))
        if not fresh:
            e.fill(0)
        plan.split(x[samples, _channels(run, width)].reshape(*shape, width, *spatial), e)
        # each phase's product (G_block, T O/G, n runs), its kernel positions' rows in turn
        products = conv_channels_last.take(p_buffer, (shape[1], len(plan.taps) * filters,
                                                      shape[0] * plan.run))
        # each kernel position's rows of the products and its offset in a run, in order
        rows_at, row = [], 0
        for phase, taps in enumerate(plan.by_phase):
            if taps:
                np.matmul(w[phase][run], e[:, phase],
                          out=products[:, row:row + len(taps) * filters])
                for t, i in enumerate(taps):
                    rows_at.append((row + t * filters, plan.taps[i][1]))
                row += len(taps) * filters
        out = y[samples, run]
        if plan.run < FLAT_SUMS or len(rows_at) == 1:  # summed into y's views
            views = [plan.outputs(products[:, r:r + filters], shape[0], start)
                     for r, start in rows_at]
            if len(views) == 1:
                np.copyto(out, views[0])
            else:
                np.add(views[0], views[1], out=out)
                for view in views[2:]:
                    out += view
            continue
        # long runs: the positions' shifted rows summed flat over the block's runs into the
        # first position's (offset 0), then copied out once, where y's (n, G, O/G,
        # *out_size) views run an inner loop a plane (the sums past a run's values, which
        # reach into the next run, are dropped)
        first = products[:, rows_at[0][0]:rows_at[0][0] + filters]
        count = shape[0] * plan.run - max(start for _, start in rows_at)
        acc = first[..., :count]
        with np.errstate(invalid="ignore", over="ignore"):
            for r, start in rows_at[1:]:
                np.add(acc, products[:, r:r + filters, start:start + count], out=acc)
        np.copyto(out, plan.outputs(first, shape[0], 0))
    return y.reshape(n, out_channels, *out_size)


def backward(x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride, padding,
             dilation, groups: int, need_x: bool, need_weight: bool):
    """(dx (N, C, *spatial) or None, dw (O, C/G, *kernel) or None) from g (N, O, *out_size):
    x is read only for dw (for dx alone its shape and dtype are enough)."""
    if conv_banded.applies(x.shape, weight.shape, groups, grad_output.shape[2:], stride) \
            and _finite(grad_output) and (not need_weight or _finite(x)):
        return conv_banded.backward(x, weight, grad_output, stride, padding, dilation, need_x,
                                    need_weight)
    n, c, *spatial = x.shape
    out_channels, kernel, out_size = weight.shape[0], weight.shape[2:], grad_output.shape[2:]
    width, filters = c // groups, out_channels // groups  # C/G and O/G
    rows = width * kernel[-1]
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
    plan = _Plan(spatial, kernel, stride, padding, dilation, out_size, whole_rows=need_x)
    g = grad_output.reshape(n, groups, filters, *out_size)
    # each phase's (G, C/G kw, T O/G): its kernel positions' w[g]^T side by side
    w_t = [np.ascontiguousarray(w.swapaxes(-1, -2)) for w in
           _phase_weights(plan, weight, groups)] if need_x else None
    x_grad = np.zeros((n, groups, width, *spatial), dtype=dtype) if need_x else None
    w_grad = np.zeros((len(plan.taps), groups, filters, rows), dtype=dtype) \
        if need_weight else None
    most_taps = max(map(len, plan.by_phase))
    per_run = plan.phases * rows + filters + (most_taps * filters if need_x else 0)
    blocks = list(_blocks(plan, n, groups, per_run, dtype.itemsize))
    most = max(math.prod(shape) for *_, shape in blocks) * plan.run
    e_buffer = _Buffer(most * plan.phases * rows, dtype)
    g_buffer = np.empty(most * filters, dtype=dtype)
    shifted_buffer = np.empty(most * most_taps * filters if need_x else 0, dtype=dtype)
    for samples, run, shape in blocks:
        total = shape[0] * plan.run  # a row's values: the block's runs
        # g as runs (G_block, O/G, n runs), zero past each run's out_size values
        g_runs = conv_channels_last.take(g_buffer, (shape[1], filters, shape[0], plan.run))
        if plan.length == math.prod(out_size):
            g_runs[..., plan.length:] = 0
        else:
            g_runs.fill(0)
        plan.wide(g_runs[..., :plan.length])[...] = np.moveaxis(g[samples, run], 0, 2)
        g_runs = g_runs.reshape(shape[1], filters, total)
        e, fresh = e_buffer.take((shape[1], plan.phases, rows, total))
        if need_weight:
            if not fresh:
                e.fill(0)
            plan.split(x[samples, _channels(run, width)].reshape(*shape, width, *spatial), e)
            for i, (phase, start) in enumerate(plan.taps):
                # (G_block, O/G, values) @ (G_block, values, C/G kw): E's rows from start
                w_grad[i, run] += np.matmul(g_runs[..., :total - start],
                                            e[:, phase, :, start:].swapaxes(-1, -2))
        if need_x:  # each phase's rows: its kernel positions' w^T times g shifted to them
            for phase, taps in enumerate(plan.by_phase):
                if not taps:
                    e[:, phase] = 0
                    continue
                shifted = conv_channels_last.take(shifted_buffer, (shape[1], len(taps), filters,
                                                                   total))
                for t, i in enumerate(taps):
                    start = plan.taps[i][1]
                    shifted[:, t, :, :start] = 0
                    shifted[:, t, :, start:] = g_runs[..., :total - start]
                np.matmul(w_t[phase][run], shifted.reshape(shape[1], -1, total),
                          out=e[:, phase])
            plan.unsplit(e, x_grad[samples, run])
            e_buffer.clean = None  # the adjoint wrote over the padding
    if need_weight:  # (A, G, O/G, C/G kw) -> (O, C/G, *kernel)
        w_grad = w_grad.reshape(len(plan.taps), groups, filters, width, kernel[-1])
        w_grad = np.ascontiguousarray(w_grad.transpose(1, 2, 3, 0, 4)).reshape(weight.shape)
    return None if x_grad is None else x_grad.reshape(x.shape), w_grad
