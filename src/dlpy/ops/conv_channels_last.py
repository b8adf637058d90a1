"""ConvNd's channels-last im2col path (groups 1, any stride, padding, dilation, 1-3 spatial
axes): x moved to (N, *spatial, C) once, so each window's row of the im2col matrix, ordered
(*kernel, C), copies runs of C (kw C at stride 1) contiguous values, and the matrix is built a
block of rows at a time into one cache-sized buffer, multiplied at once and dropped: no
k^d-times-the-input array is ever allocated (a fresh page costs microseconds here), and the
buffer stays in cache for the product. Backward rebuilds each block for the weight gradient;
the input gradient is, at stride 1, the same forward on g with the flipped kernel; at a stride
that divides the kernel (dilation 1: DCGAN's 4x4 / 2), the same forward on g with each phase's
flipped taps as output channels (phase_input_grad), interleaved back once; else the block of
g w added back window by window (conv's col2im adds)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from dlpy.ops import conv

# bytes of one im2col block: about half the L2 cache, so the block and the weight both fit
BLOCK_BYTES = 1 << 19


def channels_last(x: np.ndarray, padding) -> np.ndarray:
    """(N, C, *spatial) -> (N, *(spatial + 2 padding), C), zero-padded, one copy."""
    n, c, *spatial = x.shape
    moved = np.moveaxis(x, 1, -1)
    if not any(padding):
        return np.ascontiguousarray(moved)
    padded = np.zeros((n, *(s + 2 * p for s, p in zip(spatial, padding)), c), dtype=x.dtype)
    padded[(slice(None), *(slice(p, p + s) for p, s in zip(padding, spatial)))] = moved
    return padded


def windows_last(padded: np.ndarray, kernel, stride, dilation, out_size) -> np.ndarray:
    """A view (N, *out_size, *kernel, C) of every window of padded (N, *spatial, C)."""
    return np.moveaxis(conv._windows(np.moveaxis(padded, -1, 1), kernel, stride, dilation,
                                     out_size), 1, -1)


def blocks(n: int, out_size, row_bytes: int):
    """Split the (N, out_0) rows of the im2col matrix into blocks of about BLOCK_BYTES: whole
    samples where one fits, else runs of out_0 within one sample. Yields each block's
    (samples, lines) slices and its shape (samples, lines, *out_size[1:])."""
    rest = tuple(out_size[1:])
    per_line = math.prod(rest) * row_bytes
    if per_line * out_size[0] <= BLOCK_BYTES:
        step = max(1, BLOCK_BYTES // (per_line * out_size[0]))
        for start in range(0, n, step):
            stop = min(n, start + step)
            yield slice(start, stop), slice(0, out_size[0]), (stop - start, out_size[0], *rest)
        return
    step = max(1, BLOCK_BYTES // per_line)
    for sample in range(n):
        for start in range(0, out_size[0], step):
            stop = min(out_size[0], start + step)
            yield slice(sample, sample + 1), slice(start, stop), (1, stop - start, *rest)


def weight_matrix(weight: np.ndarray) -> np.ndarray:
    """(O, C, *kernel) -> (O, prod(kernel) C), the columns ordered (*kernel, C) as the rows of
    the channels-last im2col matrix."""
    return np.ascontiguousarray(np.moveaxis(weight, 1, -1)).reshape(weight.shape[0], -1)


def take(buffer: np.ndarray, shape) -> np.ndarray:
    """The start of buffer as an array of shape, or a new one where buffer is too small."""
    size = math.prod(shape)
    return (buffer[:size] if buffer.size >= size else np.empty(size, buffer.dtype)).reshape(shape)


def forward(x: np.ndarray, weight: np.ndarray, stride, padding, dilation,
            out_size, padded: np.ndarray | None = None) -> np.ndarray:
    """y (N, *out_size, O) = im2col(x) @ w^T, block by block (x (N, C, *spatial); padded:
    channels_last(x, padding) where the caller made it)."""
    n, kernel = x.shape[0], weight.shape[2:]
    if padded is None:
        padded = channels_last(x, padding)
    windows = windows_last(padded, kernel, stride, dilation, out_size)
    w_t = weight_matrix(weight).T  # (K, O)
    width = w_t.shape[0]
    y = np.empty((n, *out_size, weight.shape[0]), dtype=np.result_type(x, weight))
    buffer = np.empty(BLOCK_BYTES // x.itemsize, dtype=x.dtype)
    for samples, lines, shape in blocks(n, out_size, width * x.itemsize):
        cols = take(buffer, (*shape, *kernel, x.shape[1]))
        np.copyto(cols, windows[samples, lines])
        # y[samples, lines] is contiguous (whole samples, or lines of one), so this is a view
        np.matmul(cols.reshape(-1, width), w_t, out=y[samples, lines].reshape(-1, w_t.shape[1]))
    return y


def backward(x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride, padding,
             dilation, need_x: bool, need_weight: bool, padded: np.ndarray | None = None):
    """(dx (N, C, *spatial) or None, dw (O, C, *kernel) or None) from g (N, O, *out_size):
    dw = g^T @ im2col(x) and d cols = g @ w added back window by window, block by block
    (padded: forward's channels_last(x, padding), kept, or None)."""
    n, c, *spatial = x.shape
    out_channels, kernel = weight.shape[0], weight.shape[2:]
    out_size = grad_output.shape[2:]
    g = np.ascontiguousarray(np.moveaxis(grad_output, 1, -1))  # (N, *out, O)
    w_matrix = weight_matrix(weight)  # (O, K)
    width = w_matrix.shape[1]
    x_grad = w_grad = None
    if need_weight:
        if padded is None:
            padded = channels_last(x, padding)
        windows = windows_last(padded, kernel, stride, dilation, out_size)
        w_grad = np.zeros(w_matrix.shape, dtype=x.dtype)
    # at stride 1 (and padding within the kernel's reach), dx is the convolution of g padded
    # by d (k - 1) - p by the flipped kernel: a product of long rows, no window-by-window adds
    flip_padding = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dilation, padding))
    strided = any(s != 1 for s in stride)
    by_phases = need_x and strided and phase_split(kernel, stride, dilation)
    by_windows = need_x and not by_phases and (strided or min(flip_padding) < 0)
    if by_windows:
        x_grad = np.zeros((n, *(s + 2 * p for s, p in zip(spatial, padding)), c), dtype=x.dtype)
    buffer = np.empty(BLOCK_BYTES // x.itemsize, dtype=x.dtype)
    for samples, lines, shape in blocks(n, out_size, width * x.itemsize) \
            if need_weight or by_windows else ():
        g_block = g[samples, lines].reshape(-1, out_channels)
        cols = take(buffer, (*shape, *kernel, c))
        if need_weight:
            np.copyto(cols, windows[samples, lines])
            w_grad += g_block.T @ cols.reshape(-1, width)
        if by_windows:
            np.matmul(g_block, w_matrix, out=cols.reshape(-1, width))
            # conv's col2im adds, on channels-first views, from the block's first window on
            first = (slice(None), slice(None), slice(lines.start * stride[0], None))
            conv._add_windows(np.moveaxis(x_grad[samples], -1, 1)[first],
                              np.moveaxis(cols, -1, 1), stride, dilation, shape[1:])
    if by_phases:
        x_grad = np.moveaxis(phase_input_grad(grad_output, weight, stride, padding, spatial),
                             -1, 1)
    elif need_x and not by_windows:
        flipped = np.flip(weight, tuple(range(2, weight.ndim))).swapaxes(0, 1)  # (C, O, *k)
        x_grad = np.moveaxis(forward(grad_output, flipped, stride, flip_padding, dilation,
                                     spatial), -1, 1)
    elif need_x:
        inside = (slice(None),) + tuple(slice(p, p + s) for p, s in zip(padding, spatial))
        x_grad = np.moveaxis(x_grad[inside], -1, 1)
    if need_weight:  # (O, *kernel, C) -> (O, C, *kernel)
        w_grad = np.moveaxis(w_grad.reshape(out_channels, *kernel, c), -1, 1)
    return x_grad, w_grad


def phase_split(kernel, stride, dilation) -> bool:
    """Whether phase_input_grad takes a strided convolution: dilation 1, each kernel size a
    multiple of its stride."""
    return set(dilation) == {1} and all(k % s == 0 for k, s in zip(kernel, stride))


# phase_input_grad's products reach prod(m - 1 + out) of a phase's prod(out) positions;
# past this ratio (small images: DCGAN's 8x8 -> 4x4, 1.56) it multiplies g by w once instead
PHASE_WASTE = 1.4


def phase_input_grad(grad_output: np.ndarray, weight: np.ndarray, stride, padding,
                     spatial) -> np.ndarray:
    """dx (N, *spatial, C) of a convolution of dilation 1 whose kernel k is a multiple of its
    stride s (phase_split), from g (N, O, *out): phase r of x_pad, x_pad[s q + r], gets
    sum_a g[q - a] w[s a + r] (m = k / s taps a). Either all prod(s) phases as one stride-1
    forward of g padded by m - 1 with the phases' flipped taps as prod(s) C output channels
    (its positions past the image wasted), or, where that wastes more than PHASE_WASTE, g @ w
    once (the im2col's gradient, (N, *out, *m, *s, C)) added back in prod(m) shifted whole
    passes; either way interleaved back into place by one copy."""
    n, out_channels, *out_size = grad_output.shape
    c, nd = weight.shape[1], len(stride)
    taps = tuple(k // s for k, s in zip(weight.shape[2:], stride))
    q = tuple(o + m - 1 for o, m in zip(out_size, taps))  # phase positions g reaches
    if math.prod(q) > PHASE_WASTE * math.prod(out_size):
        by_phase = _phase_adds(grad_output, weight, stride, taps, q)
    else:
        # (O, C, m_0, s_0, m_1, s_1, ...) -> (s_0, s_1, ..., C, O, m_0, m_1, ...), flipped
        split = weight.reshape(out_channels, c, *itertools.chain(*zip(taps, stride)))
        order = (*range(3, 2 + 2 * nd, 2), 1, 0, *range(2, 2 + 2 * nd, 2))
        w_phases = np.flip(split.transpose(order), tuple(range(nd + 2, 2 * nd + 2)))
        z = forward(grad_output, w_phases.reshape(-1, out_channels, *taps), (1,) * nd,
                    tuple(m - 1 for m in taps), (1,) * nd, q)  # (N, *q, prod(s) C)
        # (N, *q, *s, C) -> (N, q_0, s_0, q_1, s_1, ..., C)
        interleave = (0, *itertools.chain(*zip(range(1, nd + 1), range(nd + 1, 2 * nd + 1))),
                      2 * nd + 1)
        by_phase = z.reshape(n, *q, *stride, c).transpose(interleave)
    reach = tuple(a * s for a, s in zip(q, stride))
    grad = by_phase.reshape(n, *reach, c)  # x_pad's gradient up to s q
    if all(r >= p + size for r, p, size in zip(reach, padding, spatial)):
        return grad[(slice(None), *(slice(p, p + size) for p, size in zip(padding, spatial)))]
    x_grad = np.zeros((n, *spatial, c), dtype=grad.dtype)  # x's end past every window: 0
    ends = tuple(min(r, p + size) for r, p, size in zip(reach, padding, spatial))
    x_grad[(slice(None), *(slice(0, e - p) for e, p in zip(ends, padding)))] = grad[
        (slice(None), *(slice(p, e) for e, p in zip(ends, padding)))]
    return x_grad


def _phase_adds(grad_output: np.ndarray, weight: np.ndarray, stride, taps, q) -> np.ndarray:
    """x_pad's gradient (N, q_0, s_0, q_1, s_1, ..., C) as d cols = g @ w, (N, *out, m_0, s_0,
    m_1, s_1, ..., C), each tap a's values added at phase positions t + a: prod(m) passes."""
    n, out_channels, *out_size = grad_output.shape
    c, nd = weight.shape[1], len(stride)
    g_rows = np.ascontiguousarray(np.moveaxis(grad_output, 1, -1)).reshape(-1, out_channels)
    d_cols = (g_rows @ weight_matrix(weight)).reshape(
        n, *out_size, *itertools.chain(*zip(taps, stride)), c)
    by_phase = np.zeros((n, *itertools.chain(*zip(q, stride)), c), dtype=d_cols.dtype)
    # a tap's (N, *out, *s, C) -> (N, out_0, s_0, out_1, s_1, ..., C)
    interleave = (0, *itertools.chain(*zip(range(1, nd + 1), range(nd + 1, 2 * nd + 1))),
                  2 * nd + 1)
    for position in itertools.product(*map(range, taps)):
        tap = d_cols[(slice(None),) * (nd + 1)
                     + tuple(itertools.chain(*((a, slice(None)) for a in position)))]
        by_phase[(slice(None), *itertools.chain(*((slice(a, a + o), slice(None))
                                                  for a, o in zip(position, out_size))))] += \
            tap.transpose(interleave)
    return by_phase
