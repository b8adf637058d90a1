"""2-D convolution and max pooling over NCHW arrays, by im2col: each output position's input
window becomes one row, so the convolution is one matrix product."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlpy.tensor import Op, Tensor


def _pair(value, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _output_size(name: str, size: tuple[int, int], kernel, stride, padding) -> tuple[int, int]:
    out = tuple((size[i] + 2 * padding[i] - kernel[i]) // stride[i] + 1 for i in range(2))
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"{name}: kernel {kernel} does not fit the input {size} with padding {padding}"
        )
    return out


def _windows(x: np.ndarray, kernel, stride, out_size) -> np.ndarray:
    """A view (N, C, H_out, W_out, kh, kw) of every window of x (already padded)."""
    view = sliding_window_view(x, kernel, axis=(2, 3))
    return view[:, :, : stride[0] * (out_size[0] - 1) + 1: stride[0],
                : stride[1] * (out_size[1] - 1) + 1: stride[1]]


def _add_windows(grad_padded: np.ndarray, window_grads: np.ndarray, stride, out_size) -> None:
    """The adjoint of _windows: add window_grads (N, C, H_out, W_out, kh, kw) back in place."""
    kh, kw = window_grads.shape[-2:]
    for i in range(kh):
        for j in range(kw):
            grad_padded[:, :, i: i + stride[0] * (out_size[0] - 1) + 1: stride[0],
                        j: j + stride[1] * (out_size[1] - 1) + 1: stride[1]] += \
                window_grads[..., i, j]


def _pad(x: np.ndarray, padding, value=0.0) -> np.ndarray:
    if padding == (0, 0):
        return x
    widths = ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2)
    return np.pad(x, widths, constant_values=value)


def _unpad(x: np.ndarray, padding) -> np.ndarray:
    ph, pw = padding
    return x[:, :, ph: x.shape[2] - ph, pw: x.shape[3] - pw]


class Conv2d(Op):
    """y[n, o] = sum_{c,i,j} w[o, c, i, j] * x_pad[n, c, s*h + i, s*w + j] + b[o].

    x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> y (N, O, H_out, W_out).
    With cols the im2col matrix (C*kh*kw, N*H_out*W_out): y = w @ cols, dw = g @ cols^T,
    d cols = w^T @ g, added back window by window (col2im) to give dx. Channel-major cols keep
    the copies' inner loops along image rows, which is faster than window-major.
    """

    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        n, c, h, w = x.shape
        out_channels, _, kh, kw = weight.shape
        self.out_size = ho, wo = _output_size("conv2d", (h, w), (kh, kw), self.stride,
                                              self.padding)
        self.x_shape, self.weight = x.shape, weight
        windows = _windows(_pad(x, self.padding), (kh, kw), self.stride, self.out_size)
        # (C, kh, kw, N, H_out, W_out) -> (C*kh*kw, N*H_out*W_out): one copy, the im2col matrix
        self.cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * ho * wo)
        y = weight.reshape(out_channels, -1) @ self.cols  # (O, N*H_out*W_out)
        if bias is not None:
            y += bias[:, None]
        return np.ascontiguousarray(y.reshape(out_channels, n, ho, wo).transpose(1, 0, 2, 3))

    def backward(self, grad_output):
        weight = self.weight
        out_channels, c, kh, kw = weight.shape
        n, ho, wo = self.x_shape[0], *self.out_size
        g = grad_output.transpose(1, 0, 2, 3).reshape(out_channels, -1)  # (O, N*H_out*W_out)
        x_grad = None
        if self.inputs[0].requires_grad:
            col_grads = (weight.reshape(out_channels, -1).T @ g).reshape(c, kh, kw, n, ho, wo)
            ph, pw = self.padding
            # accumulate channel-major (C, N, H, W), the cols' own order, then view as NCHW
            padded = np.zeros((c, n, self.x_shape[2] + 2 * ph, self.x_shape[3] + 2 * pw),
                              dtype=grad_output.dtype)
            _add_windows(padded, col_grads.transpose(0, 3, 4, 5, 1, 2), self.stride,
                         self.out_size)
            x_grad = _unpad(padded, self.padding).transpose(1, 0, 2, 3)
        w_grad = (g @ self.cols.T).reshape(weight.shape) if self.inputs[1].requires_grad else None
        if len(self.inputs) == 2:
            return x_grad, w_grad
        b_grad = g.sum(axis=1) if self.inputs[2].requires_grad else None
        return x_grad, w_grad, b_grad


class MaxPool2d(Op):
    """y[n, c, h, w] = max of the window at (s*h, s*w) of x padded with -inf;  the gradient goes
    to the first maximum of each window (as in PyTorch). x (N, C, H, W) -> (N, C, H_out, W_out).

    Computed over the kh*kw strided views x[:, :, i::s, j::s] (one per window position), so no
    window array is copied: kh*kw element-wise maxima forward, comparisons backward.
    """

    def __init__(self, kernel_size, stride, padding):
        self.kernel, self.stride, self.padding = kernel_size, stride, padding

    def _views(self, array):
        """Yield the (N, C, H_out, W_out) view of array at each window position, in order."""
        (kh, kw), (sh, sw), (ho, wo) = self.kernel, self.stride, self.out_size
        for i in range(kh):
            for j in range(kw):
                yield array[:, :, i: i + sh * (ho - 1) + 1: sh, j: j + sw * (wo - 1) + 1: sw]

    def forward(self, x):
        self.x_shape = x.shape
        self.out_size = _output_size("max_pool2d", x.shape[2:], self.kernel, self.stride,
                                     self.padding)
        self.padded = _pad(x, self.padding, -np.inf)
        views = self._views(self.padded)
        y = next(views).copy()
        for view in views:
            np.maximum(y, view, out=y)
        self.y = y
        return y

    def backward(self, grad_output):
        n, c, h, w = self.x_shape
        ph, pw = self.padding
        grad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=grad_output.dtype)
        taken = np.zeros(self.y.shape, dtype=bool)  # windows whose maximum is already routed
        for view, grad_view in zip(self._views(self.padded), self._views(grad)):
            first = view == self.y
            first &= ~taken
            taken |= first
            grad_view += grad_output * first
        return (_unpad(grad, self.padding),)


def _shape_of(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), weight (O, C, kh, kw),
    bias (O,) or None -> (N, O, H_out, W_out), H_out = (H + 2 padding - kh) // stride + 1."""
    stride, padding = _pair(stride, "conv2d: stride"), _pair(padding, "conv2d: padding")
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"conv2d: need stride >= 1 and padding >= 0, got {stride}, {padding}")
    x_shape, w_shape = _shape_of(x), _shape_of(weight)
    if len(x_shape) != 4 or len(w_shape) != 4 or x_shape[1] != w_shape[1]:
        raise ValueError(
            f"conv2d: expected x (N, C, H, W) and weight (O, C, kh, kw) with the same C, got x "
            f"{x_shape} and weight {w_shape}"
        )
    if bias is None:
        return Conv2d(stride, padding)(x, weight)
    if _shape_of(bias) != (w_shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w_shape[0]},), got {_shape_of(bias)}")
    return Conv2d(stride, padding)(x, weight, bias)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W)."""
    kernel = _pair(kernel_size, "max_pool2d: kernel_size")
    stride = kernel if stride is None else _pair(stride, "max_pool2d: stride")
    padding = _pair(padding, "max_pool2d: padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(
            f"max_pool2d: need kernel_size >= 1, stride >= 1, padding >= 0, got {kernel}, "
            f"{stride}, {padding}"
        )
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(
            f"max_pool2d: padding must be at most half the kernel, got padding {padding} for "
            f"kernel {kernel}"
        )
    if len(_shape_of(x)) != 4:
        raise ValueError(f"max_pool2d: expected x (N, C, H, W), got {_shape_of(x)}")
    return MaxPool2d(kernel, stride, padding)(x)
