"""2-D convolution and its transpose, max and average pooling and max unpooling over NCHW arrays
(the lowercase functions also take unbatched CHW). The convolution is by im2col (each output
position's input window becomes one row, so it is one matrix product per group) and the
transposed convolution by its adjoint, col2im; the pools run over the kernel's strided views of
the input."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dlpy.ops.pad import pad
from dlpy.ops.shape import squeeze, unsqueeze
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


def _dilation(value, name: str, pair: bool = True):
    """dilation as given (a pair, or one int for conv1d), checked >= 1."""
    dilation = _pair(value, f"{name}: dilation") if pair else (_single(value, f"{name}: dilation"),)
    if min(dilation) < 1:
        raise ValueError(f"{name}: need dilation >= 1, got {dilation if pair else dilation[0]}")
    return dilation if pair else dilation[0]


def _groups(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: groups must be an int >= 1, got {value!r}")
    return int(value)


def _check_conv_shapes(name: str, x_shape, w_shape, groups: int, spatial: str,
                       kernel: str) -> None:
    """x (N, C, *spatial) and weight (O, C / groups, *kernel), C and O divisible by groups."""
    ndim = 2 + spatial.count(",") + 1
    if len(x_shape) != ndim or len(w_shape) != ndim:
        raise ValueError(
            f"{name}: expected x (N, C, {spatial}) or unbatched (C, {spatial}) and weight "
            f"(O, C / groups, {kernel}), got x {x_shape} and weight {w_shape}"
        )
    if groups == 1 and x_shape[1] != w_shape[1]:
        raise ValueError(
            f"{name}: expected x (N, C, {spatial}) and weight (O, C, {kernel}) with the same C, "
            f"got x {x_shape} and weight {w_shape}"
        )
    if x_shape[1] % groups or w_shape[0] % groups:
        raise ValueError(
            f"{name}: in_channels and out_channels must be divisible by groups={groups}, got x "
            f"{x_shape} and weight {w_shape}"
        )
    if w_shape[1] * groups != x_shape[1]:
        raise ValueError(
            f"{name}: expected weight (O, C / groups, {kernel}) = (O, {x_shape[1] // groups}, "
            f"{kernel}) for x {x_shape} and groups={groups}, got weight {w_shape}"
        )


def _span(kernel, dilation) -> tuple[int, ...]:
    """How far a dilated window reaches: d * (k - 1) + 1 along each axis."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def _output_size(name: str, size: tuple[int, int], kernel, stride, padding,
                 dilation=(1, 1)) -> tuple[int, int]:
    span = _span(kernel, dilation)
    out = tuple((size[i] + 2 * padding[i] - span[i]) // stride[i] + 1 for i in range(2))
    if out[0] < 1 or out[1] < 1:
        dilated = "" if dilation == (1, 1) else f" with dilation {dilation}"
        raise ValueError(
            f"{name}: kernel {kernel}{dilated} does not fit the input {size} with padding "
            f"{padding}"
        )
    return out


def _windows(x: np.ndarray, kernel, stride, dilation, out_size) -> np.ndarray:
    """A view (N, C, H_out, W_out, kh, kw) of every window of x (already padded): windows start
    every stride and take every dilation-th value."""
    view = sliding_window_view(x, _span(kernel, dilation), axis=(2, 3))
    return view[:, :, : stride[0] * (out_size[0] - 1) + 1: stride[0],
                : stride[1] * (out_size[1] - 1) + 1: stride[1], :: dilation[0], :: dilation[1]]


def _add_windows(grad_padded: np.ndarray, window_grads: np.ndarray, stride, dilation,
                 out_size) -> None:
    """The adjoint of _windows: add window_grads (N, C, H_out, W_out, kh, kw) back in place."""
    kh, kw = window_grads.shape[-2:]
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilation[0], j * dilation[1]
            grad_padded[:, :, top: top + stride[0] * (out_size[0] - 1) + 1: stride[0],
                        left: left + stride[1] * (out_size[1] - 1) + 1: stride[1]] += \
                window_grads[..., i, j]


def _im2col(x_padded: np.ndarray, kernel, stride, dilation, out_size,
            groups: int) -> np.ndarray:
    """(G, C/G*kh*kw, N*H_out*W_out): each window of x (N, C, H, W, already padded) as a column,
    the rows channel-major (C, kh, kw), one block per group; one copy."""
    n = x_padded.shape[0]
    windows = _windows(x_padded, kernel, stride, dilation, out_size)
    # (C, kh, kw, N, H_out, W_out) -> (G, C/G*kh*kw, N*H_out*W_out)
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(groups, -1, n * out_size[0] * out_size[1])


def _col2im(cols: np.ndarray, shape, kernel, stride, padding, dilation,
            out_size) -> np.ndarray:
    """The adjoint of _im2col of x padded: cols (G, C/G*kh*kw, N*H_out*W_out) added back window
    by window into an (N, C, H, W) = shape array (a transposed view of a (C, N, H, W) one:
    accumulating channel-major, the cols' own order, is faster)."""
    n, c, h, w = shape
    (kh, kw), (ph, pw) = kernel, padding
    padded = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    _add_windows(padded, cols.reshape(c, kh, kw, n, *out_size).transpose(0, 3, 4, 5, 1, 2),
                 stride, dilation, out_size)
    return _unpad(padded, padding).transpose(1, 0, 2, 3)


def _pad(x: np.ndarray, padding) -> np.ndarray:
    if padding == (0, 0):
        return x
    widths = ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2)
    return np.pad(x, widths)


def _unpad(x: np.ndarray, padding) -> np.ndarray:
    ph, pw = padding
    return x[:, :, ph: x.shape[2] - ph, pw: x.shape[3] - pw]


class Conv2d(Op):
    """y[n, o] = sum_{c,i,j} w[o, c, i, j] * x_pad[n, g(o) C/G + c, s*h + d*i, s*w + d*j] + b[o],
    g(o) = o // (O/G) the group of output channel o (G = groups; depthwise: G = C).

    x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,) -> y (N, O, H_out, W_out).
    With cols the im2col matrix, one (C/G*kh*kw, N*H_out*W_out) block per group: y = w @ cols,
    dw = g @ cols^T, d cols = w^T @ g, added back window by window (col2im) to give dx.
    Channel-major cols keep the copies' inner loops along image rows, which is faster than
    window-major.
    """

    def __init__(self, stride, padding, dilation=(1, 1), groups=1):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, weight, bias=None):
        n, c, h, w = x.shape
        out_channels, _, kh, kw = weight.shape
        groups = self.groups
        self.out_size = ho, wo = _output_size("conv2d", (h, w), (kh, kw), self.stride,
                                              self.padding, self.dilation)
        self.x_shape, self.weight = x.shape, weight
        self.cols = _im2col(_pad(x, self.padding), (kh, kw), self.stride, self.dilation,
                            self.out_size, groups)
        y = weight.reshape(groups, out_channels // groups, -1) @ self.cols  # (G, O/G, N*HW)
        if bias is not None:
            y += bias.reshape(groups, -1, 1)
        return np.ascontiguousarray(y.reshape(out_channels, n, ho, wo).transpose(1, 0, 2, 3))

    def backward(self, grad_output):
        weight, groups = self.weight, self.groups
        out_channels = weight.shape[0]
        # (G, O/G, N*H_out*W_out)
        g = grad_output.transpose(1, 0, 2, 3).reshape(groups, out_channels // groups, -1)
        x_grad = None
        if self.inputs[0].requires_grad:
            w_t = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
            x_grad = _col2im(w_t @ g, self.x_shape, weight.shape[2:], self.stride, self.padding,
                             self.dilation, self.out_size)
        w_grad = None
        if self.inputs[1].requires_grad:
            w_grad = (g @ self.cols.transpose(0, 2, 1)).reshape(weight.shape)
        if len(self.inputs) == 2:
            return x_grad, w_grad
        b_grad = g.sum(axis=2).reshape(out_channels) if self.inputs[2].requires_grad else None
        return x_grad, w_grad, b_grad


class ConvTranspose2d(Op):
    """The transpose of Conv2d's map x -> y (PyTorch's conv_transpose2d): each input value
    spreads w times itself over its window of the output,
    y[n, g(c) O/G + o, s*h + d*i - p, s*w + d*j - p] += x[n, c, h, w] * w[c, o, i, j], then
    y[:, o] += b[o] (what lands in the padding p is dropped; G = groups, g(c) = c // (C/G)).

    x (N, C, H, W), weight (C, O/G, kh, kw), bias (O,) -> y (N, O, H_out, W_out),
    H_out = (H - 1) s - 2p + d (kh - 1) + 1 + output_padding (the extra rows at the bottom).
    Forward is Conv2d's input gradient: cols = w^T @ x, added back window by window (col2im).
    Backward is Conv2d's forward and weight gradient: with cols(g) the im2col matrix of the
    output gradient, dx = w @ cols(g) (conv2d of g by w), dw = x @ cols(g)^T.
    """

    def __init__(self, stride, padding, output_padding, dilation, groups):
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation, self.groups = dilation, groups

    def forward(self, x, weight, bias=None):
        n, c, h, w = x.shape
        groups = self.groups
        kernel = weight.shape[2:]
        out_channels = weight.shape[1] * groups
        self.out_size = _transpose_output_size(
            "conv_transpose2d", (h, w), kernel, self.stride, self.padding, self.output_padding,
            self.dilation)
        self.x_shape, self.weight = x.shape, weight
        self.x_cols = x.transpose(1, 0, 2, 3).reshape(groups, c // groups, -1)  # (G, C/G, NHW)
        w_t = weight.reshape(groups, c // groups, -1).transpose(0, 2, 1)  # (G, O/G*kh*kw, C/G)
        y = np.ascontiguousarray(_col2im(w_t @ self.x_cols, (n, out_channels, *self.out_size),
                                         kernel, self.stride, self.padding, self.dilation,
                                         (h, w)))
        if bias is not None:
            y += bias.reshape(-1, 1, 1)
        return y

    def backward(self, grad_output):
        weight, groups = self.weight, self.groups
        c = weight.shape[0]
        n, _, h, w = self.x_shape
        x_grad = w_grad = None
        if self.inputs[0].requires_grad or self.inputs[1].requires_grad:
            # (G, O/G*kh*kw, N*H*W): the windows of g that each input value wrote to
            cols = _im2col(_pad(grad_output, self.padding), weight.shape[2:], self.stride,
                           self.dilation, (h, w), groups)
            if self.inputs[0].requires_grad:
                x_grad = (weight.reshape(groups, c // groups, -1) @ cols).reshape(
                    c, n, h, w).transpose(1, 0, 2, 3)
            if self.inputs[1].requires_grad:
                w_grad = (self.x_cols @ cols.transpose(0, 2, 1)).reshape(weight.shape)
        if len(self.inputs) == 2:
            return x_grad, w_grad
        b_grad = grad_output.sum(axis=(0, 2, 3)) if self.inputs[2].requires_grad else None
        return x_grad, w_grad, b_grad


def _transpose_output_size(name: str, size, kernel, stride, padding, output_padding,
                           dilation) -> tuple[int, ...]:
    """(size - 1) s - 2p + d (k - 1) + 1 + output_padding along each axis, at least 1."""
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 + op for n, k, s, p, op, d in
                zip(size, kernel, stride, padding, output_padding, dilation))
    if min(out) < 1:
        raise ValueError(f"{name}: the input {tuple(size)} with kernel {tuple(kernel)}, stride "
                         f"{stride}, padding {padding}, output_padding {output_padding} and "
                         f"dilation {dilation} gives an output of size {out}, too small")
    return out


class MaxPool2d(Op):
    """y[n, c, h, w] = max of the window at (s*h, s*w) of x padded with -inf (past the bottom and
    right too where ceil_mode keeps a partial last window), taking every d-th value (dilation);
    the gradient goes to the first maximum in x of each window (as in PyTorch).
    x (N, C, H, W) -> (N, C, H_out, W_out).

    Computed over the kh*kw strided views x[:, :, d*i::s, d*j::s] (one per window position), so
    no window array is copied: kh*kw element-wise maxima forward, comparisons backward.
    """

    def __init__(self, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False):
        self.kernel, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def _views(self, array):
        return _pool_views(array, self.kernel, self.stride, self.out_size, self.dilation)

    def forward(self, x):
        self.x_shape = x.shape
        self.out_size = _pool_output_size("max_pool2d", x.shape[2:], self.kernel, self.stride,
                                          self.padding, self.ceil_mode, self.dilation)
        self.padded = _pool_pad(x, self._padded_shape(), self.padding, -np.inf)
        views = self._views(self.padded)
        y = next(views).copy()
        for view in views:
            np.maximum(y, view, out=y)
        self.y = y
        return y

    def _padded_shape(self):
        return _pool_padded_shape(self.x_shape, self.kernel, self.stride, self.padding,
                                  self.dilation, self.out_size)

    def _reads(self, i: int, j: int):
        """The input rows (H_out,) and columns (W_out,) that window position (i, j) reads."""
        (sh, sw), (dh, dw), (ph, pw) = self.stride, self.dilation, self.padding
        ho, wo = self.out_size
        return np.arange(ho) * sh - ph + i * dh, np.arange(wo) * sw - pw + j * dw

    def _first_maxima(self):
        """For each window position (i, j) in turn, where it holds its window's first maximum
        inside x (so a window of -inf only takes its first value in x, as PyTorch)."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        (ph, pw), (ho, wo), (h, w) = self.padding, self.out_size, self.x_shape[2:]
        taken = np.zeros(self.y.shape, dtype=bool)  # windows whose maximum is already found
        views = self._views(self.padded)
        for i in range(kh):
            for j in range(kw):
                first = next(views) == self.y
                top, left = i * dh - ph, j * dw - pw
                if top < 0 or top + sh * (ho - 1) >= h or left < 0 or left + sw * (wo - 1) >= w:
                    rows, cols = self._reads(i, j)  # it reads padding: never the maximum
                    first &= ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))
                first &= ~taken
                taken |= first
                yield i, j, first

    def indices(self) -> np.ndarray:
        """(N, C, H_out, W_out) int64: where each maximum is, as an index into the flattened
        H*W of its input plane (PyTorch's return_indices)."""
        indices = np.zeros(self.y.shape, dtype=np.int64)
        for i, j, first in self._first_maxima():
            rows, cols = self._reads(i, j)
            np.copyto(indices, rows[:, None] * self.x_shape[3] + cols, where=first)
        return indices

    def backward(self, grad_output):
        grad = np.zeros(self._padded_shape(), dtype=grad_output.dtype)
        for (_, _, first), grad_view in zip(self._first_maxima(), self._views(grad)):
            grad_view += grad_output * first
        (ph, pw), (h, w) = self.padding, self.x_shape[2:]
        return (grad[:, :, ph: ph + h, pw: pw + w],)


def _pool_views(array, kernel, stride, out_size, dilation=(1, 1)):
    """Yield the (N, C, H_out, W_out) view of array at each window position, in order."""
    (kh, kw), (sh, sw), (ho, wo), (dh, dw) = kernel, stride, out_size, dilation
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            yield array[:, :, top: top + sh * (ho - 1) + 1: sh, left: left + sw * (wo - 1) + 1: sw]


def _pool_padded_shape(x_shape, kernel, stride, padding, dilation, out_size):
    """The padded input a pool reads: padding each side, plus (ceil_mode) what the last window
    needs past it."""
    return tuple(x_shape[:2]) + tuple(
        max(size + 2 * p, (out - 1) * s + span) for size, p, s, span, out in
        zip(x_shape[2:], padding, stride, _span(kernel, dilation), out_size))


def _pool_pad(x: np.ndarray, shape, padding, value) -> np.ndarray:
    """x inside a shape-sized array of value, padding[0] rows above and padding[1] columns left
    of it (x itself where nothing is added)."""
    if shape == x.shape:
        return x
    (ph, pw), (h, w) = padding, x.shape[2:]
    padded = np.full(shape, value, dtype=x.dtype)
    padded[:, :, ph: ph + h, pw: pw + w] = x
    return padded


def _pool_output_size(name: str, size, kernel, stride, padding, ceil_mode: bool,
                      dilation=(1, 1)):
    """PyTorch's pooling sizes: floor((size + 2p - d (k - 1) - 1) / s) + 1, or with ceil_mode the
    ceiling, less one where the last window would start in the right padding."""
    out = []
    for n, span, s, p in zip(size, _span(kernel, dilation), stride, padding):
        length = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (length - 1) * s >= n + p:
            length -= 1
        out.append(length)
    if min(out) < 1:
        dilated = "" if set(dilation) == {1} else f" with dilation {tuple(dilation)}"
        raise ValueError(
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
        return _pool_padded_shape(self.x_shape, self.kernel, self.stride, self.padding, (1, 1),
                                  self.out_size)

    def forward(self, x):
        self.x_shape = x.shape
        self.out_size = _pool_output_size("avg_pool2d", x.shape[2:], self.kernel, self.stride,
                                          self.padding, self.ceil_mode)
        h, w = x.shape[2:]
        padded = _pool_pad(x, self._padded_shape(), self.padding, 0.0)
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
    """2-D cross-correlation (PyTorch's conv2d): x (N, C, H, W), weight (O, C / groups, kh, kw),
    bias (O,) or None -> (N, O, H_out, W_out), H_out = (H + 2 padding - dilation (kh - 1) - 1)
    // stride + 1. padding: an int, a pair, "valid" (0) or "same" (stride 1; H_out = H; total
    padding dilation (k - 1), an odd one putting the extra row and column at the bottom and
    right, as PyTorch). groups splits the channels into groups convolved apart (C and O divisible
    by groups; groups = C is the depthwise convolution). An unbatched x (C, H, W) gives
    (O, H_out, W_out), as PyTorch."""
    stride = _pair(stride, "conv2d: stride")
    padding = _padding("conv2d", padding, stride)
    if min(stride) < 1 or not isinstance(padding, str) and min(padding) < 0:
        raise ValueError(f"conv2d: need stride >= 1 and padding >= 0, got {stride}, {padding}")
    dilation, groups = _dilation(dilation, "conv2d"), _groups(groups, "conv2d")
    x_shape, w_shape = _shape_of(x), _shape_of(weight)
    if len(x_shape) == 3 and len(w_shape) == 4:  # unbatched (C, H, W): a batch of one
        return squeeze(conv2d(unsqueeze(x, 0), weight, bias, stride, padding, dilation, groups),
                       0)
    _check_conv_shapes("conv2d", x_shape, w_shape, groups, "H, W", "kh, kw")
    if bias is not None and _shape_of(bias) != (w_shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w_shape[0]},), got {_shape_of(bias)}")
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # total d (k - 1): half each side, the odd one at the bottom / right
        total = [d * (k - 1) for k, d in zip(w_shape[2:], dilation)]
        padding = (total[0] // 2, total[1] // 2)
        if total[0] % 2 or total[1] % 2:
            x = pad(x, (0, total[1] % 2, 0, total[0] % 2))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, padding, dilation, groups)(*inputs)


def _pool_settings(name: str, kernel_size, stride, padding, pair: bool = True):
    """kernel, stride (default: the kernel) and padding as pairs, or (pair False) 1-tuples."""
    def as_tuple(value, what):
        return _pair(value, f"{name}: {what}") if pair else (_single(value, f"{name}: {what}"),)

    def show(values):
        return values if pair else values[0]

    kernel = as_tuple(kernel_size, "kernel_size")
    stride = kernel if stride is None else as_tuple(stride, "stride")
    padding = as_tuple(padding, "padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(
            f"{name}: need kernel_size >= 1, stride >= 1, padding >= 0, got {show(kernel)}, "
            f"{show(stride)}, {show(padding)}"
        )
    if any(p * 2 > k for p, k in zip(padding, kernel)):
        raise ValueError(
            f"{name}: padding must be at most half the kernel, got padding {show(padding)} for "
            f"kernel {show(kernel)}"
        )
    return kernel, stride, padding


def _check_pool_rank(name: str, shape, spatial: str) -> None:
    if len(shape) not in (spatial.count(",") + 3, spatial.count(",") + 2):
        raise ValueError(f"{name}: expected x (N, C, {spatial}) or unbatched (C, {spatial}), got "
                         f"{tuple(shape)}")


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W) padded
    with -inf, each window taking every dilation-th value, as PyTorch's max_pool2d: H_out =
    floor or (ceil_mode) ceil of (H + 2 padding - dilation (kh - 1) - 1) / stride, plus 1, a
    ceil_mode window kept only if it starts inside the input or the left padding.
    return_indices: also a Tensor of int64 indices of the maxima into each flattened H*W plane
    (PyTorch's, which max_unpool2d takes). An unbatched x (C, H, W) gives (C, H_out, W_out)."""
    kernel, stride, padding = _pool_settings("max_pool2d", kernel_size, stride, padding)
    dilation = _dilation(dilation, "max_pool2d")
    _check_pool_rank("max_pool2d", _shape_of(x), "H, W")
    if len(_shape_of(x)) == 3:  # unbatched (C, H, W): a batch of one, as PyTorch
        y = max_pool2d(unsqueeze(x, 0), kernel, stride, padding, dilation, ceil_mode,
                       return_indices)
        return (squeeze(y[0], 0), Tensor(y[1].data[0])) if return_indices else squeeze(y, 0)
    pool = MaxPool2d(kernel, stride, padding, dilation, bool(ceil_mode))
    y = pool(x)
    return (y, Tensor(pool.indices())) if return_indices else y


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel_size windows every stride (default: kernel_size) of x (N, C, H, W),
    zero-padded by padding, as PyTorch's avg_pool2d: the padding counts in the mean unless
    count_include_pad=False; divisor_override (a nonzero int) replaces the window's count;
    ceil_mode keeps a last partial window. An unbatched x (C, H, W) gives (C, H_out, W_out)."""
    kernel, stride, padding = _pool_settings("avg_pool2d", kernel_size, stride, padding)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a nonzero int or None, got "
                         f"{divisor_override!r}")
    _check_pool_rank("avg_pool2d", _shape_of(x), "H, W")
    if len(_shape_of(x)) == 3:  # unbatched (C, H, W): a batch of one, as PyTorch
        return squeeze(avg_pool2d(unsqueeze(x, 0), kernel, stride, padding, ceil_mode,
                                  count_include_pad, divisor_override), 0)
    return AvgPool2d(kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
                     None if divisor_override is None else int(divisor_override))(x)


def _check_transpose_settings(name: str, stride, padding, output_padding, dilation,
                              pair: bool = True) -> None:
    """stride >= 1, padding and output_padding >= 0, and output_padding below the stride or
    the dilation along each axis (PyTorch's rule: a larger one would add rows no input
    value reaches)."""
    def show(values):
        return values if pair else values[0]

    if min(stride) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{name}: need stride >= 1, padding >= 0 and output_padding >= 0, got "
                         f"{show(stride)}, {show(padding)}, {show(output_padding)}")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{name}: output_padding must be smaller than either stride or "
                         f"dilation, as in PyTorch, got output_padding {show(output_padding)}, "
                         f"stride {show(stride)} and dilation {show(dilation)}")


def _check_transpose_shapes(name: str, x_shape, w_shape, groups: int, spatial: str,
                            kernel: str) -> None:
    """x (N, C, *spatial) and weight (C, O / groups, *kernel), C divisible by groups."""
    ndim = 2 + spatial.count(",") + 1
    if len(x_shape) != ndim or len(w_shape) != ndim or x_shape[1] != w_shape[0]:
        raise ValueError(
            f"{name}: expected x (N, C, {spatial}) or unbatched (C, {spatial}) and weight "
            f"(C, O / groups, {kernel}) with the same C, got x {x_shape} and weight {w_shape}"
        )
    if x_shape[1] % groups:
        raise ValueError(f"{name}: in_channels must be divisible by groups={groups}, got x "
                         f"{x_shape} and weight {w_shape}")


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """The transposed convolution (PyTorch's conv_transpose2d, arguments in its order): conv2d's
    gradient with respect to its input, as a layer. x (N, C, H, W) or unbatched (C, H, W),
    weight (C, O / groups, kh, kw), bias (O,) or None -> (N, O, H_out, W_out) or
    (O, H_out, W_out), H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + 1 +
    output_padding. padding crops the output (conv2d with that padding maps it back to H);
    output_padding (smaller than stride or dilation) adds rows at the bottom and columns at the
    right, to pick one of the sizes that a strided conv2d maps to H."""
    stride = _pair(stride, "conv_transpose2d: stride")
    padding = _pair(padding, "conv_transpose2d: padding")
    output_padding = _pair(output_padding, "conv_transpose2d: output_padding")
    dilation = _dilation(dilation, "conv_transpose2d")
    groups = _groups(groups, "conv_transpose2d")
    _check_transpose_settings("conv_transpose2d", stride, padding, output_padding, dilation)
    x_shape, w_shape = _shape_of(x), _shape_of(weight)
    if len(x_shape) == 3 and len(w_shape) == 4:  # unbatched (C, H, W): a batch of one
        return squeeze(conv_transpose2d(unsqueeze(x, 0), weight, bias, stride, padding,
                                        output_padding, groups, dilation), 0)
    _check_transpose_shapes("conv_transpose2d", x_shape, w_shape, groups, "H, W", "kh, kw")
    if bias is not None and _shape_of(bias) != (w_shape[1] * groups,):
        raise ValueError(f"conv_transpose2d: bias must have shape ({w_shape[1] * groups},), got "
                         f"{_shape_of(bias)}")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d(stride, padding, output_padding, dilation, groups)(*inputs)


class MaxUnpool2d(Op):
    """y = zeros (..., H_out, W_out) with x[..., k] written at the flat position indices[..., k]
    of its H_out*W_out plane (k over the H*W values of x's plane);  dx = g gathered at the
    indices. Several values sent to one place (overlapping pool windows) leave the last there,
    as PyTorch's CPU kernel, and each gets the gradient of that place."""

    def __init__(self, indices, out_size):
        self.indices, self.out_size = indices, out_size  # indices (..., H*W) int64

    def forward(self, x):
        self.x_shape = x.shape
        lead = x.shape[:-2]
        y = np.zeros((*lead, self.out_size[0] * self.out_size[1]), dtype=x.dtype)
        np.put_along_axis(y, self.indices, x.reshape(*lead, -1), axis=-1)
        return y.reshape(*lead, *self.out_size)

    def backward(self, grad_output):
        planes = grad_output.reshape(*grad_output.shape[:-2], -1)
        return (np.take_along_axis(planes, self.indices, axis=-1).reshape(self.x_shape),)


def _unpool_output_size(name: str, size, kernel, stride, padding, output_size):
    """PyTorch's rule: (size - 1) stride - 2 padding + kernel, or output_size ((H, W) or
    (N, C, H, W)) if it lies strictly within stride of that."""
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


def max_unpool2d(x: Tensor, indices, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool2d (PyTorch's max_unpool2d): a zero (N, C, H_out, W_out)
    with each value of x (N, C, H, W) put back where max_pool2d(..., return_indices=True) took
    it from: indices (x's shape, integers) into each flattened H_out*W_out plane. H_out =
    (H - 1) stride - 2 padding + kernel_size (stride defaults to kernel_size), or output_size
    ((H_out, W_out) or (N, C, H_out, W_out)), which must lie strictly within stride of it (the
    sizes max_pool2d maps to H). An unbatched x (C, H, W) gives (C, H_out, W_out). The gradient
    of x is the output's gradient at the indices."""
    kernel = _pair(kernel_size, "max_unpool2d: kernel_size")
    stride = kernel if stride is None else _pair(stride, "max_unpool2d: stride")
    padding = _pair(padding, "max_unpool2d: padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"max_unpool2d: need kernel_size >= 1, stride >= 1, padding >= 0, got "
                         f"{kernel}, {stride}, {padding}")
    shape = _shape_of(x)
    _check_pool_rank("max_unpool2d", shape, "H, W")
    index = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"max_unpool2d: indices must be integers (max_pool2d's return_indices), "
                        f"got {index.dtype}")
    if index.shape != shape:
        raise ValueError(f"max_unpool2d: expected indices of x's shape {shape}, got "
                         f"{index.shape}")
    out = _unpool_output_size("max_unpool2d", shape[-2:], kernel, stride, padding, output_size)
    if index.size and (index.min() < 0 or index.max() >= out[0] * out[1]):
        bad = index.min() if index.min() < 0 else index.max()
        raise ValueError(f"max_unpool2d: found an invalid index {bad}: the output planes are "
                         f"{out[0]}x{out[1]}")
    return MaxUnpool2d(index.reshape(*shape[:-2], -1).astype(np.int64, copy=False), out)(x)
