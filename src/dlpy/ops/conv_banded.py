"""ConvNd's depthwise 1-D and 2-D convolutions (one input channel a group, any channel
multiplier m, stride, padding and dilation; 1-d as rows of height 1) as banded matrix
products: along W, a run of Wb outputs of one row reads Vb = sw (Wb - 1) + dw (kw - 1) + 1
consecutive inputs of each of its kh input rows, so for channel c, with rows r = (n, t, chunk),

    y[n, c m + o, t, chunk Wb + u] = sum_{i, v} A[c, r, (i, v)] T[c, (i, v), (o, u)],
    A[c, r, (i, v)] = x_pad[n, c, sh t + dh i, chunk sw Wb + v],
    T[c, (i, sw u + dw j), (o, u)] = w[c m + o, 0, i, j] (a banded, Toeplitz, matrix),

one BLAS product a channel: Vb / kw times the multiplications of the direct sum, at BLAS speed,
against the depthwise path's prod(kernel) copies and matrix-vector products a plane (measured,
forward: 3-10x faster for 5x5 and 7x7 kernels). Backward: dT = A^T g (dw read off T's bands);
dx at stride 1 this forward of g with the flipped kernel, else dA = g T^T added back row tap
by row tap. A is copied a block of channels at a time into one buffer of about BLOCK_BYTES."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

# bytes of a block's A (and its g or y): the product's operands stay in the L2 cache
BLOCK_BYTES = 1 << 20
# the rule of applies: kernels this wide (by spatial axes: the phase-split kernel's 1-d rows
# are contiguous runs already; measured, banded 0.3x its time forward for k4, 1.4x for k7),
# or outputs this narrow
WIDE_KERNEL, NARROW = {1: 7, 2: 5}, 14
# the most outputs of a chunk of a row: wider chunks waste more multiplications (Vb / kw),
# narrower ones make the products too small (measured on 14-56 wide rows, k 5 and 7: 32 best
# of 12-64)
MOST_CHUNK = 32


def applies(x_shape, w_shape, groups: int, out_size, stride=None) -> bool:
    """Whether this path computes the depthwise path's convolution: 1-D or 2-D, one input
    channel a group, and a kernel WIDE_KERNEL+ wide or outputs at most NARROW wide, those
    strided (stride None: any). On wider rows a 3x3 kernel's bands waste too many
    multiplications (measured, the depthwise kernel is as fast forward and faster for dw), and
    at stride 1 it is faster on narrow rows too (forward + backward 0.77-0.93x on 14x14 and
    7x7), where at stride 2 the bands are (forward 0.8x)."""
    strided = stride is None or any(s > 1 for s in stride)
    return (len(x_shape) in (3, 4) and groups > 1 and x_shape[1] == groups
            and (w_shape[-1] >= WIDE_KERNEL[len(x_shape) - 2]
                 or out_size[-1] <= NARROW and strided))


class _Plan:
    """The chunks of one convolution's output rows and the padded input they read."""

    def __init__(self, x_shape, w_shape, stride, padding, dilation, out_size, itemsize: int):
        n, c, h, w = x_shape
        self.n, self.c, self.m = n, c, w_shape[0] // c
        self.kh, self.kw = w_shape[2:]
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        self.out_h, self.out_w = out_size
        self.chunks = -(-self.out_w // MOST_CHUNK)
        self.wb = -(-self.out_w // self.chunks)  # outputs a chunk (the last may reach past)
        sh, sw = stride
        dh, dw = dilation
        self.vb = sw * (self.wb - 1) + dw * (self.kw - 1) + 1  # inputs a chunk reads a row
        self.rows = n * self.out_h * self.chunks  # A's rows a channel
        self.width = self.kh * self.vb  # A's columns
        self.padded = (max(h + 2 * padding[0], sh * (self.out_h - 1) + dh * (self.kh - 1) + 1),
                       max(w + 2 * padding[1], sw * (self.chunks * self.wb - 1)
                           + dw * (self.kw - 1) + 1))
        per_channel = self.rows * (self.width + self.m * self.wb) + n * math.prod(self.padded)
        self.block = max(1, min(c, BLOCK_BYTES // max(1, itemsize * per_channel)))  # a block

    def blocks(self):
        for start in range(0, self.c, self.block):
            yield slice(start, min(self.c, start + self.block))

    def a_view(self, x_pad: np.ndarray) -> np.ndarray:
        """A of x_pad (N, c, *padded) as a view (c, N, out_h, chunks, kh, vb)."""
        sn, sc, sy, sx = x_pad.strides
        (sh, sw), (dh, _) = self.stride, self.dilation
        return as_strided(x_pad, (x_pad.shape[1], self.n, self.out_h, self.chunks, self.kh,
                                  self.vb),
                          (sc, sn, sh * sy, sw * self.wb * sx, dh * sy, sx), writeable=False)

    def band_index(self):
        """For each kernel column j, T's (v, u) entries that hold w[..., j]: (j, v, u)."""
        u = np.arange(self.wb)
        sw, dw = self.stride[1], self.dilation[1]
        for j in range(self.kw):
            yield j, sw * u + dw * j, u

    def bands(self, weight: np.ndarray) -> np.ndarray:
        """T (C, kh vb, m wb) of weight (C m, 1, kh, kw)."""
        w = weight.reshape(self.c, self.m, self.kh, self.kw)
        t = np.zeros((self.c, self.kh, self.vb, self.m, self.wb), dtype=weight.dtype)
        for j, v, u in self.band_index():
            # the advanced indices (v, u) go first: (wb, C, kh, m)
            t[:, :, v, :, u] = w[..., j].transpose(0, 2, 1)
        return t.reshape(self.c, self.width, self.m * self.wb)

    def unbands(self, t_grad: np.ndarray) -> np.ndarray:
        """dw (C m, 1, kh, kw) from dT (C, kh vb, m wb): each w's entries of T summed."""
        t_grad = t_grad.reshape(self.c, self.kh, self.vb, self.m, self.wb)
        w_grad = np.empty((self.c, self.m, self.kh, self.kw), dtype=t_grad.dtype)
        for j, v, u in self.band_index():
            w_grad[..., j] = t_grad[:, :, v, :, u].sum(axis=0).transpose(0, 2, 1)
        return w_grad.reshape(self.c * self.m, 1, self.kh, self.kw)

    def to_rows(self, g: np.ndarray, channels: slice, out: np.ndarray) -> np.ndarray:
        """g (N, C m, out_h, out_w) of channels as (c, rows, m wb), zero past out_w."""
        c = channels.stop - channels.start
        rows = out.reshape(c, self.n, self.out_h, self.chunks, self.m, self.wb)
        g = g.reshape(self.n, self.c, self.m, self.out_h, self.out_w)[:, channels]
        if self.chunks * self.wb != self.out_w:
            rows[..., -1, :, :].fill(0)  # the last chunk's columns past out_w
        for chunk in range(self.chunks):
            start = chunk * self.wb
            stop = min(self.out_w, start + self.wb)
            rows[:, :, :, chunk, :, :stop - start] = g[..., start:stop].transpose(1, 0, 3, 2, 4)
        return out

    def from_rows(self, rows: np.ndarray, channels: slice, y: np.ndarray) -> None:
        """The inverse of to_rows: (c, rows, m wb) into y (N, C m, out_h, out_w)."""
        c = channels.stop - channels.start
        rows = rows.reshape(c, self.n, self.out_h, self.chunks, self.m, self.wb)
        y = y.reshape(self.n, self.c, self.m, self.out_h, self.out_w)[:, channels]
        for chunk in range(self.chunks):
            start = chunk * self.wb
            stop = min(self.out_w, start + self.wb)
            y[..., start:stop] = rows[:, :, :, chunk, :, :stop - start].transpose(1, 0, 3, 2, 4)


def _take(buffer: np.ndarray, shape) -> np.ndarray:
    return buffer[:math.prod(shape)].reshape(shape)


def _padded(plan: _Plan, x: np.ndarray, channels: slice, buffer: np.ndarray) -> np.ndarray:
    """x's channels zero-padded (N, c, *padded) in buffer (its borders zero: only the inside
    is ever written)."""
    c = channels.stop - channels.start
    x_pad = buffer[:, :c]
    h, w = x.shape[2:]
    (ph, pw) = plan.padding
    x_pad[:, :, ph:ph + h, pw:pw + w] = x[:, channels]
    return x_pad


def forward(x: np.ndarray, weight: np.ndarray, stride, padding, dilation,
            out_size) -> np.ndarray:
    """y (N, C m, *out_size) from x (N, C, H, W) and weight (C m, 1, kh, kw), or 1-d."""
    if x.ndim == 3:  # rows of height 1
        return forward(x[:, :, None], weight[:, :, None], (1, *stride), (0, *padding),
                       (1, *dilation), (1, *out_size))[:, :, 0]
    dtype = np.result_type(x, weight)
    plan = _Plan(x.shape, weight.shape, stride, padding, dilation, out_size, dtype.itemsize)
    t = plan.bands(weight.astype(dtype, copy=False))
    y = np.empty((plan.n, plan.c * plan.m, *out_size), dtype=dtype)
    pad_buffer = np.zeros((plan.n, plan.block, *plan.padded), dtype=dtype)
    a_buffer = np.empty(plan.block * plan.rows * plan.width, dtype=dtype)
    y_buffer = np.empty(plan.block * plan.rows * plan.m * plan.wb, dtype=dtype)
    for channels in plan.blocks():
        c = channels.stop - channels.start
        a = _take(a_buffer, (c, plan.n, plan.out_h, plan.chunks, plan.kh, plan.vb))
        np.copyto(a, plan.a_view(_padded(plan, x, channels, pad_buffer)))
        rows = np.matmul(a.reshape(c, plan.rows, plan.width), t[channels],
                         out=_take(y_buffer, (c, plan.rows, plan.m * plan.wb)))
        plan.from_rows(rows, channels, y)
    return y


def backward(x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride, padding,
             dilation, need_x: bool, need_weight: bool):
    """(dx (N, C, H, W) or None, dw (C m, 1, kh, kw) or None) from g (N, C m, *out_size); x
    is read only for dw; or 1-d."""
    if x.ndim == 3:  # rows of height 1
        grads = backward(x[:, :, None], weight[:, :, None], grad_output[:, :, None],
                         (1, *stride), (0, *padding), (1, *dilation), need_x, need_weight)
        return tuple(None if grad is None else grad[:, :, 0] for grad in grads)
    dtype = grad_output.dtype
    kernel, multiplier = weight.shape[2:], weight.shape[0] // x.shape[1]
    # at stride 1 (padding within the kernel's reach), dx is this forward of g padded by
    # d (k - 1) - p with the flipped kernel (a channel multiplier has m inputs a group there)
    flip_padding = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dilation, padding))
    if need_x and set(stride) == {1} and min(flip_padding) >= 0 and multiplier == 1:
        flipped = weight[:, :, ::-1, ::-1]
        return (forward(grad_output, flipped, stride, flip_padding, dilation, x.shape[2:]),
                backward(x, weight, grad_output, stride, padding, dilation, False,
                         True)[1] if need_weight else None)
    plan = _Plan(x.shape, weight.shape, stride, padding, dilation, grad_output.shape[2:],
                 dtype.itemsize)
    h, w = x.shape[2:]
    (ph, pw), (sh, sw), (dh, _) = plan.padding, plan.stride, plan.dilation
    x_grad = np.empty(x.shape, dtype=dtype) if need_x else None
    t_grad = np.empty((plan.c, plan.width, plan.m * plan.wb), dtype=dtype) \
        if need_weight else None
    t = plan.bands(weight.astype(dtype, copy=False)) if need_x else None
    pad_buffer = np.zeros((plan.n, plan.block, *plan.padded), dtype=dtype) \
        if need_weight else None
    grad_buffer = np.empty((plan.n, plan.block, *plan.padded), dtype=dtype) if need_x else None
    a_buffer = np.empty(plan.block * plan.rows * plan.width, dtype=dtype)
    g_buffer = np.empty(plan.block * plan.rows * plan.m * plan.wb, dtype=dtype)
    for channels in plan.blocks():
        c = channels.stop - channels.start
        g = plan.to_rows(grad_output, channels, _take(g_buffer, (c, plan.rows,
                                                                   plan.m * plan.wb)))
        a = _take(a_buffer, (c, plan.n, plan.out_h, plan.chunks, plan.kh, plan.vb))
        if need_weight:
            np.copyto(a, plan.a_view(_padded(plan, x, channels, pad_buffer)))
            np.matmul(a.reshape(c, plan.rows, plan.width).swapaxes(1, 2), g,
                      out=t_grad[channels])
        if need_x:
            np.matmul(g, t[channels].swapaxes(1, 2), out=a.reshape(c, plan.rows, plan.width))
            x_pad = grad_buffer[:, :c]
            x_pad.fill(0)
            a = a.transpose(1, 0, 2, 3, 4, 5)  # (N, c, out_h, chunks, kh, vb)
            for i in range(plan.kh):
                rows = slice(dh * i, dh * i + sh * (plan.out_h - 1) + 1, sh)
                for chunk in range(plan.chunks):
                    start = chunk * sw * plan.wb
                    x_pad[:, :, rows, start:start + plan.vb] += a[:, :, :, chunk, i]
            x_grad[:, channels] = x_pad[:, :, ph:ph + h, pw:pw + w]
    return x_grad, plan.unbands(t_grad) if need_weight else None
