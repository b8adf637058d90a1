"""ConvNd's pointwise path (a 1x1 kernel, groups 1, any stride and padding; dilation moves
nothing): no windows to copy, y[n] = w (O, C) @ x_s[n] (C, prod(out_size)) with x_s the input
taken every stride, one batched matrix product straight into a channels-first y; backward
dx_s[n] = w^T @ g[n] (put back every stride in a zero dx) and dw = sum_n g[n] @ x_s[n]^T.
With few positions (_flat) each is one product over the batch's N * positions columns."""

from __future__ import annotations

import numpy as np

from dlpy.ops import conv


def applies(kernel, groups: int) -> bool:
    """Whether this path computes the convolution: an all-1 kernel and groups 1."""
    return groups == 1 and set(kernel) == {1}


def _taken(stride, out_size) -> tuple:
    """The index of the input values a strided 1x1 kernel reads: every stride from 0."""
    return (slice(None), slice(None)) + tuple(slice(0, s * (o - 1) + 1, s)
                                              for s, o in zip(stride, out_size))


def forward(x: np.ndarray, weight: np.ndarray, stride, padding, out_size) -> np.ndarray:
    """y (N, O, *out_size) from x (N, C, *spatial) and weight (O, C, 1, ...)."""
    n, c = x.shape[:2]
    x = conv._pad(x, padding)
    taken = x[_taken(stride, out_size)].reshape(n, c, -1)  # a copy only where strided
    w = weight.reshape(weight.shape[0], c)
    if taken.shape[2] == 1:  # (N, C) rows: one product, no copies
        y = taken.reshape(n, c) @ w.T
    elif _flat(n, taken.shape[2], weight.shape[0], c):
        y = _uncolumns(w @ _columns(taken), n)
    else:
        y = np.matmul(w, taken)
    return y.reshape(n, weight.shape[0], *out_size)


def backward(x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride, padding,
             need_x: bool, need_weight: bool):
    """(dx (N, C, *spatial) or None, dw (O, C, 1, ...) or None) from g (N, O, *out_size);
    x is read only for dw."""
    n, c = x.shape[:2]
    out_channels, out_size = weight.shape[0], grad_output.shape[2:]
    padded_shape = (n, c, *(size + 2 * p for size, p in zip(x.shape[2:], padding)))
    g = grad_output.reshape(n, out_channels, -1)
    flat = _flat(n, g.shape[2], out_channels, c)
    g_flat = _columns(g) if flat else None  # (O, N * positions)
    x_grad = w_grad = None
    if need_x:
        w_t = weight.reshape(out_channels, c).T
        if g.shape[2] == 1:  # (N, O) rows: one product, no copies
            taken_grad = g.reshape(n, out_channels) @ w_t.T
        elif flat:
            taken_grad = _uncolumns(w_t @ g_flat, n)  # (N, C, positions)
        else:
            taken_grad = np.matmul(w_t, g)  # (N, C, prod(out_size))
        if padded_shape[2:] == tuple(out_size):
            x_grad = taken_grad.reshape(padded_shape)
        else:
            x_grad = np.zeros(padded_shape, dtype=taken_grad.dtype)
            x_grad[_taken(stride, out_size)] = taken_grad.reshape(n, c, *out_size)
        x_grad = conv._unpad(x_grad, padding)
    if need_weight:
        taken = conv._pad(x, padding)[_taken(stride, out_size)].reshape(n, c, -1)
        if flat:
            w_grad = g_flat @ _columns(taken).T
        elif n == 1:
            w_grad = g[0] @ taken[0].T
        else:
            w_grad = np.matmul(g, taken.transpose(0, 2, 1)).sum(axis=0)
        w_grad = w_grad.reshape(weight.shape)
    return x_grad, w_grad


def _flat(n: int, positions: int, out_channels: int, in_channels: int) -> bool:
    """Whether to multiply over the batch's N * positions columns at once (_columns) rather
    than N products of positions columns: with few positions (the late stages,
    squeeze-excitation's 1x1 maps), where copying the (channels, N * positions) columns costs
    less than N narrow products and, for dw, their (N, O, C) stack and its sum over N."""
    return n > 1 and positions * (out_channels + in_channels) < out_channels * in_channels


def _columns(a: np.ndarray) -> np.ndarray:
    """a (N, K, P) as (K, N * P), column n * P + p = a[n, :, p]: one copy (none when P is 1)."""
    n, k, p = a.shape
    if p == 1:
        return a.reshape(n, k).T
    return a.transpose(1, 0, 2).reshape(k, n * p)


def _uncolumns(a: np.ndarray, n: int) -> np.ndarray:
    """_columns undone: a (K, N * P) as a contiguous (N, K, P)."""
    k = a.shape[0]
    return np.ascontiguousarray(a.reshape(k, n, -1).transpose(1, 0, 2))
