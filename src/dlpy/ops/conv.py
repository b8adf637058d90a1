"""2-D convolution, max and average pooling over NCHW arrays. The convolution is by im2col (each
output position's input window becomes one row, so it is one matrix product); the pools run over
the kernel's strided views of the input."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlpy.ops.pad import pad
from dlpy.tensor import Op, Tensor


def _pair(value, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _single(value, name: str) -> int:
    one = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(one) != 1 or not isinstance(one[0], (int, np.integer)) or isinstance(one[0], bool):
        raise ValueError(f"{name}: expected an int or a 1-tuple of ints, got {value!r}")
    return int(one[0])


def _padding(name: str, padding, stride: tuple, pair: bool = True):
    """A convolution's padding as given: "valid", "same" (stride 1 only, as PyTorch), or ints (a
    pair for conv2d, one int for conv1d) that the caller checks are >= 0."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{name}: padding must be ints, 'valid' or 'same', got {padding!r}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(f"{name}: padding='same' needs stride 1, as in PyTorch, got stride "
                             f"{stride if pair else stride[0]}")
        return padding
    return _pair(padding, f"{name}: padding") if pair else _single(padding, f"{name}: padding")


def _no_dilation_or_groups(name: str, dilation, groups) -> None:
    """dilation and groups stand in the signature for PyTorch's positional order; only 1 runs."""
    dilations = tuple(dilation) if isinstance(dilation, (tuple, list)) else (dilation,)
    if any(d != 1 for d in dilations) or groups != 1:
        raise NotImplementedError(
            f"{name}: only dilation=1 and groups=1 are implemented, got dilation={dilation!r}, "
            f"groups={groups!r}"
        )


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
        return _pool_views(array, self.kernel, self.stride, self.out_size)

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


def _pool_views(array, kernel, stride, out_size):
    """Yield the (N, C, H_out, W_out) view of array at each window position, in order."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_size
    for i in range(kh):
        for j in range(kw):
            yield array[:, :, i: i + sh * (ho - 1) + 1: sh, j: j + sw * (wo - 1) + 1: sw]


def _pool_output_size(name: str, size, kernel, stride, padding, ceil_mode: bool):
    """PyTorch's pooling sizes: floor((size + 2p - k) / s) + 1, or with ceil_mode the ceiling,
    less one where the last window would start in the right padding."""
    out = []
    for n, k, s, p in zip(size, kernel, stride, padding):
        length = (n + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (length - 1) * s >= n + p:
            length -= 1
        out.append(length)
    if min(out) < 1:
        raise ValueError(
            f"{name}: kernel {kernel} does not fit the input {tuple(size)} with padding {padding}"
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


class AvgPool2d(Op):
    """y[n, c, h, w] = (sum of the window at (s*h - p, s*w - p) of x, zero outside) / d[h, w];
    dx = g / d added back to every window. x (N, C, H, W) -> (N, C, H_out, W_out).

    d is the window's size (count_include_pad; with ceil_mode a window running past the padded
    input counts only its part inside it), or the count of its values inside x, or
    divisor_override: a product of one count per axis. Summed over the kernel's strided views.
    """

    def __init__(self, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override):
        self.kernel, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def _padded_shape(self):
        """The zero-padded input: padding each side, plus (ceil_mode) what the last window needs."""
        n, c, h, w = self.x_shape
        return (n, c) + tuple(
            max(size + 2 * p, (out - 1) * s + k) for size, p, s, k, out in
            zip((h, w), self.padding, self.stride, self.kernel, self.out_size))

    def forward(self, x):
        self.x_shape = x.shape
        self.out_size = _pool_output_size("avg_pool2d", x.shape[2:], self.kernel, self.stride,
                                          self.padding, self.ceil_mode)
        (ph, pw), (h, w) = self.padding, x.shape[2:]
        padded = x
        if self._padded_shape() != x.shape:
            padded = np.zeros(self._padded_shape(), dtype=x.dtype)
            padded[:, :, ph: ph + h, pw: pw + w] = x
        views = _pool_views(padded, self.kernel, self.stride, self.out_size)
        y = next(views).copy()
        for view in views:
            y += view
        if self.divisor_override is not None:
            self.divisor = np.asarray(self.divisor_override, dtype=x.dtype)
        else:
            counts = [_window_counts(*axis, self.count_include_pad) for axis in zip(
                (h, w), self.kernel, self.stride, self.padding, self.out_size)]
            self.divisor = np.outer(*counts).astype(x.dtype)  # (H_out, W_out)
        y /= self.divisor
        return y

    def backward(self, grad_output):
        grad = np.zeros(self._padded_shape(), dtype=grad_output.dtype)
        share = grad_output / self.divisor
        for grad_view in _pool_views(grad, self.kernel, self.stride, self.out_size):
            grad_view += share
        (ph, pw), (h, w) = self.padding, self.x_shape[2:]
        return (grad[:, :, ph: ph + h, pw: pw + w],)


def _shape_of(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups=1) -> Tensor:
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), weight (O, C, kh, kw),
    bias (O,) or None -> (N, O, H_out, W_out), H_out = (H + 2 padding - kh) // stride + 1.
    padding: an int, a pair, "valid" (0) or "same" (stride 1; H_out = H; an odd total padding
    puts the extra row and column at the bottom and right, as PyTorch). Only dilation=1 and
    groups=1 are implemented."""
    stride = _pair(stride, "conv2d: stride")
    padding = _padding("conv2d", padding, stride)
    if min(stride) < 1 or not isinstance(padding, str) and min(padding) < 0:
        raise ValueError(f"conv2d: need stride >= 1 and padding >= 0, got {stride}, {padding}")
    _no_dilation_or_groups("conv2d", dilation, groups)
    x_shape, w_shape = _shape_of(x), _shape_of(weight)
    if len(x_shape) != 4 or len(w_shape) != 4 or x_shape[1] != w_shape[1]:
        raise ValueError(
            f"conv2d: expected x (N, C, H, W) and weight (O, C, kh, kw) with the same C, got x "
            f"{x_shape} and weight {w_shape}"
        )
    if bias is not None and _shape_of(bias) != (w_shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w_shape[0]},), got {_shape_of(bias)}")
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # total k - 1: half each side, the odd one at the bottom / right
        padding = ((w_shape[2] - 1) // 2, (w_shape[3] - 1) // 2)
        extra = ((w_shape[2] - 1) % 2, (w_shape[3] - 1) % 2)
        if any(extra):
            x = pad(x, (0, extra[1], 0, extra[0]))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, padding)(*inputs)


def _pool_settings(name: str, kernel_size, stride, padding):
    kernel = _pair(kernel_size, f"{name}: kernel_size")
    stride = kernel if stride is None else _pair(stride, f"{name}: stride")
    padding = _pair(padding, f"{name}: padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(
            f"{name}: need kernel_size >= 1, stride >= 1, padding >= 0, got {kernel}, "
            f"{stride}, {padding}"
        )
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(
            f"{name}: padding must be at most half the kernel, got padding {padding} for "
            f"kernel {kernel}"
        )
    return kernel, stride, padding


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W)."""
    kernel, stride, padding = _pool_settings("max_pool2d", kernel_size, stride, padding)
    if len(_shape_of(x)) != 4:
        raise ValueError(f"max_pool2d: expected x (N, C, H, W), got {_shape_of(x)}")
    return MaxPool2d(kernel, stride, padding)(x)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W),
    zero-padded by padding, as PyTorch's avg_pool2d: the padding counts in the mean unless
    count_include_pad=False; divisor_override (a nonzero int) replaces the window's count;
    ceil_mode keeps a last partial window."""
    kernel, stride, padding = _pool_settings("avg_pool2d", kernel_size, stride, padding)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a nonzero int or None, got "
                         f"{divisor_override!r}")
    if len(_shape_of(x)) != 4:
        raise ValueError(f"avg_pool2d: expected x (N, C, H, W), got {_shape_of(x)}")
    return AvgPool2d(kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
                     None if divisor_override is None else int(divisor_override))(x)
