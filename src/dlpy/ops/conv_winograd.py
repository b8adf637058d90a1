"""ConvNd's Winograd path for 3x3 kernels at stride 1, dilation 1, groups 1 (2-D): F(2x2, 3x3)
(Lavin and Gray, 2016). Each 2x2 block of outputs comes from a 4x4 tile of the input (tiles
every 2 values): Y = A^T [(G w G^T) * (B^T d B)] A, so a tile's 16 products are 16 matrix
products over the channels, V_ab (tiles, C) @ U_ab^T (C, O): 2.25x fewer multiplications than
im2col's. The transforms only add and subtract (B, A) or halve (G), so float32 loses little
(tests/ops/test_conv_paths.py measures it). Backward by the transposed transforms: dM =
A dY A^T, dU = dM^T V, dw = G^T dU G, dV = dM U, dx = B dV B^T added back tile by tile.

The arrays are channels-last with each spatial axis split by parity, x_pad[n, 2q + r, ...] at
[n, r, q, ...]: a tile row or column is then a contiguous run of the array, so every
transform is an element-wise operation over long runs (tiles x C values), not over 4-value
strided ones."""

from __future__ import annotations

import math

import numpy as np

from dlpy.ops import conv_channels_last

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def applies(kernel, stride, dilation, groups: int) -> bool:
    """Whether this path computes the convolution: 3x3, stride 1, dilation 1, groups 1."""
    return (tuple(kernel) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1)


def _tiles(out_size) -> tuple[int, int]:
    """The number of 2x2 output blocks along each axis (an odd size gets a half-empty last)."""
    return tuple((size + 1) // 2 for size in out_size)


def _parity_slices(size: int, padding: int):
    """For parity r = 0, 1 of the padded axis: the values of x (every 2nd from start) that
    land there and where they start in the half-axis, as (r, x slice, q slice)."""
    for parity in (0, 1):
        start = (parity - padding) % 2  # the first x index with (index + padding) % 2 == parity
        count = len(range(start, size, 2))
        first = (start + padding) // 2
        yield parity, slice(start, None, 2), slice(first, first + count)


def _split(x: np.ndarray, padding, tiles) -> np.ndarray:
    """x (N, C, H, W) zero-padded to (2 th + 2, 2 tw + 2), channels-last, split by parity:
    (N, 2, th + 1, 2, tw + 1, C)."""
    n, c, h, w = x.shape
    th, tw = tiles
    split = np.zeros((n, 2, th + 1, 2, tw + 1, c), dtype=x.dtype)
    for rp, rows, rq in _parity_slices(h, padding[0]):
        for cp, columns, cq in _parity_slices(w, padding[1]):
            split[:, rp, rq, cp, cq] = x[:, :, rows, columns].transpose(0, 2, 3, 1)
    return split


def _unsplit(split: np.ndarray, x_shape, padding) -> np.ndarray:
    """The adjoint of _split: (N, C, H, W) read back from the parity-split padded array."""
    n, c, h, w = x_shape
    x = np.empty(x_shape, dtype=split.dtype)
    for rp, rows, rq in _parity_slices(h, padding[0]):
        for cp, columns, cq in _parity_slices(w, padding[1]):
            x[:, :, rows, columns] = split[:, rp, rq, cp, cq].transpose(0, 3, 1, 2)
    return x


# B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], row by row as
# (first, second, sign): row = d[first] + sign * d[second]
_BT_TERMS = ((0, 2, -1), (1, 2, 1), (2, 1, -1), (1, 3, -1))


def _bt(parts, outs) -> None:
    """B^T along 4 arrays, into outs: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    for (first, second, sign), out in zip(_BT_TERMS, outs):
        (np.subtract if sign < 0 else np.add)(parts[first], parts[second], out=out)


def _b(parts):
    """B along 4 arrays (B^T's adjoint), one per tile position: p0, p1 - p2 + p3,
    p1 + p2 - p0, -p3."""
    p0, p1, p2, p3 = parts
    return [p0, p1 - p2 + p3, p1 + p2 - p0, -p3]


def _tile_rows(split: np.ndarray, samples: slice, lines: slice):
    """Row i = 0..3 of the tiles of samples along tile rows lines of a (N, 2, th + 1, ...)
    split array: (samples, lines, ...) views."""
    return [split[samples, i % 2, lines.start + i // 2:lines.stop + i // 2] for i in range(4)]


def _tile_columns(rows: np.ndarray, tw: int):
    """Column j = 0..3 of every tile of (N, th, 2, tw + 1, C) rows: (N, th, tw, C) views."""
    return [rows[:, :, j % 2, j // 2:j // 2 + tw] for j in range(4)]


def weight_transform(weight: np.ndarray) -> np.ndarray:
    """U (16, O, C) = G w G^T for each (o, c), computed in float64."""
    rows = np.tensordot(_G, weight.astype(np.float64), axes=(1, 2))  # (4, O, C, 3)
    u = np.tensordot(rows, _G, axes=(3, 1)).transpose(0, 3, 1, 2)  # (4, 4, O, C)
    return u.reshape(16, *weight.shape[:2]).astype(weight.dtype)


def _blocks(n: int, tiles, width: int, itemsize: int):
    """Blocks of (samples, tile rows) whose V (16 values a tile, width channels) takes about
    conv_channels_last.BLOCK_BYTES, as conv_channels_last.blocks, and the most tiles of one."""
    plan = list(conv_channels_last.blocks(n, tiles, 16 * width * itemsize))
    return plan, max(math.prod(shape) for *_, shape in plan)


def _input_transform(split: np.ndarray, samples: slice, lines: slice, shape,
                     buffer: np.ndarray) -> np.ndarray:
    """V (16, block tiles, C) = B^T d B of the block's tiles d, in buffer: the tile rows
    combined first (over whole rows, both column parities), then the columns."""
    c = split.shape[-1]
    nb, lines_b, tw = shape
    rows = np.empty((4, nb, lines_b, 2, tw + 1, c), dtype=split.dtype)
    _bt(_tile_rows(split, samples, lines), rows)
    v = buffer[:16 * nb * lines_b * tw * c].reshape(4, 4, nb, lines_b, tw, c)
    for a in range(4):
        _bt(_tile_columns(rows[a], tw), v[a])
    return v.reshape(16, -1, c)


def forward(x: np.ndarray, weight: np.ndarray, padding, out_size) -> np.ndarray:
    """y (N, *out_size, O), channels-last, block of tiles by block of tiles."""
    n, c = x.shape[:2]
    out_channels = weight.shape[0]
    th, tw = _tiles(out_size)
    split = _split(x, padding, (th, tw))
    u_t = weight_transform(weight).transpose(0, 2, 1)  # (16, C, O)
    # Y = A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]], into the (N, th, 2, tw, 2, O) blocks
    y = np.empty((n, th, 2, tw, 2, out_channels), dtype=x.dtype)
    plan, most = _blocks(n, (th, tw), max(c, out_channels), x.itemsize)
    v_buffer = np.empty(16 * most * c, dtype=x.dtype)
    m_buffer = np.empty(16 * most * out_channels, dtype=x.dtype)
    for samples, lines, shape in plan:
        v = _input_transform(split, samples, lines, shape, v_buffer)
        m = np.matmul(v, u_t, out=conv_channels_last.take(m_buffer, (16, v.shape[1], out_channels)))
        m = m.reshape(4, 4, *shape, out_channels)
        y_block = y[samples, lines]
        for i, row in enumerate((m[0] + m[1] + m[2], m[1] - m[2] - m[3])):
            np.add(row[0] + row[1], row[2], out=y_block[:, :, i, :, 0])
            np.subtract(row[1] - row[2], row[3], out=y_block[:, :, i, :, 1])
    return y.reshape(n, 2 * th, 2 * tw, out_channels)[:, :out_size[0], :out_size[1]]


def backward(x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, padding,
             need_x: bool, need_weight: bool):
    """(dx (N, C, H, W) or None, dw (O, C, 3, 3) or None) from g (N, O, *out_size), block by
    block: V rebuilt for dU, dV's tiles added back into a split dx."""
    n, c = x.shape[:2]
    out_channels = weight.shape[0]
    out_size = grad_output.shape[2:]
    th, tw = _tiles(out_size)
    g = np.zeros((n, th, 2, tw, 2, out_channels), dtype=grad_output.dtype)
    g.reshape(n, 2 * th, 2 * tw, -1)[:, :out_size[0], :out_size[1]] = \
        grad_output.transpose(0, 2, 3, 1)
    plan, most = _blocks(n, (th, tw), max(c, out_channels), x.itemsize)
    m_buffer = np.empty(16 * most * out_channels, dtype=x.dtype)
    v_buffer = np.empty(16 * most * c, dtype=x.dtype)
    if need_weight:
        split = _split(x, padding, (th, tw))
        d_u = np.zeros((16, out_channels, c), dtype=x.dtype)
    if need_x:
        u = weight_transform(weight)
        d_split = np.zeros((n, 2, th + 1, 2, tw + 1, c), dtype=x.dtype)
    for samples, lines, shape in plan:
        # dM = A dY A^T, A = [[1, 0], [1, 1], [1, -1], [0, -1]]: rows, then columns
        g_block = g[samples, lines]
        d_m = conv_channels_last.take(m_buffer, (4, 4, *shape, out_channels))
        for a, row in enumerate(_a(g_block[:, :, 0], g_block[:, :, 1])):  # (.., tw, 2, O)
            first, second = row[..., 0, :], row[..., 1, :]
            d_m[a, 0] = first
            np.add(first, second, out=d_m[a, 1])
            np.subtract(first, second, out=d_m[a, 2])
            np.negative(second, out=d_m[a, 3])
        d_m = d_m.reshape(16, -1, out_channels)
        if need_weight:
            d_u += d_m.transpose(0, 2, 1) @ _input_transform(split, samples, lines, shape,
                                                             v_buffer)
        if need_x:
            d_v = np.matmul(d_m, u, out=conv_channels_last.take(v_buffer, (16, d_m.shape[1], c)))
            d_v = d_v.reshape(4, 4, *shape, c)
            d_rows = np.zeros((4, *shape[:2], 2, tw + 1, c), dtype=x.dtype)
            for a in range(4):
                for column, part in zip(_tile_columns(d_rows[a], tw), _b(d_v[a])):
                    column += part
            for row, part in zip(_tile_rows(d_split, samples, lines), _b(d_rows)):
                row += part
    x_grad = _unsplit(d_split, x.shape, padding) if need_x else None
    w_grad = None
    if need_weight:
        # dw = G^T dU G: (4, 4, O, C) -> (3, 4, O, C) -> (3, O, C, 3) -> (O, C, 3, 3)
        rows = np.tensordot(_G, d_u.reshape(4, 4, out_channels, c).astype(np.float64),
                            axes=(0, 0))
        w_grad = np.tensordot(rows, _G, axes=(1, 0)).transpose(1, 2, 0, 3).astype(
            weight.dtype)
    return x_grad, w_grad


def _a(first: np.ndarray, second: np.ndarray):
    """A = [[1, 0], [1, 1], [1, -1], [0, -1]] along 2 arrays: first, first + second,
    first - second, -second."""
    return [first, first + second, first - second, -second]
