"""Sliding blocks to columns and back, as PyTorch's F.unfold (im2col) and F.fold (col2im): each
the other's adjoint, built on the window helpers of the convolution (ops/conv.py)."""

from __future__ import annotations

import math

import numpy as np

from dlpy.ops import ArgError, ArgIndexError, NoKernelError
from dlpy.ops.conv import _add_windows, _pad, _pair, _shape_of, _unpad, _windows
from dlpy.ops.shape import squeeze, unsqueeze
from dlpy.tensor import Op, ShapeError, Tensor


def _im2col(x: np.ndarray, kernel, dilation, padding, stride, out_size) -> np.ndarray:
    """x (N, C, H, W) -> (N, C kh kw, H_out W_out): every block of the padded x as a column, its
    rows channel-major (c, i, j) and the blocks row by row, as PyTorch's unfold."""
    n, c = x.shape[:2]
    windows = _windows(_pad(x, padding), kernel, stride, dilation, out_size)
    # (N, C, H_out, W_out, kh, kw) -> (N, C, kh, kw, H_out, W_out): one copy
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1],
                                                        math.prod(out_size))  # (n may be 0)


def _col2im(cols: np.ndarray, shape, kernel, dilation, padding, stride,
            out_size) -> np.ndarray:
    """The adjoint of _im2col: cols (N, C kh kw, L) added back block by block into a zero
    (N, C, H, W) = shape array, where blocks overlap the values sum."""
    n, c, h, w = shape
    (kh, kw), (ph, pw) = kernel, padding
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    blocks = cols.reshape(n, c, kh, kw, *out_size).transpose(0, 1, 4, 5, 2, 3)
    _add_windows(padded, blocks, stride, dilation, out_size)
    return np.ascontiguousarray(_unpad(padded, padding))


class Unfold(Op):
    """y[n, (c, i, j), (h, w)] = x_pad[n, c, s h + d i, s w + d j]: x (N, C, H, W) ->
    (N, C kh kw, H_out W_out);  dx = the columns of g added back block by block (col2im).
    Linear with 0/1 coefficients: complex values go through as they are."""

    complex_ok = True
    saves = ()  # sizes only, as torch's Im2ColBackward0: a second backward works
    saves_tensors = False

    def __init__(self, kernel, dilation, padding, stride, out_size):
        self.kernel, self.dilation, self.padding = kernel, dilation, padding
        self.stride, self.out_size = stride, out_size

    def forward(self, x):
        self.x_shape = x.shape
        out = _im2col(x, self.kernel, self.dilation, self.padding, self.stride, self.out_size)
        if not out.flags.c_contiguous or np.may_share_memory(out, x):  # (a window view: torch's
            out = np.array(out, order="C")  # im2col always writes a new contiguous tensor)
        return out

    def backward(self, grad_output):
        return (_col2im(grad_output, self.x_shape, self.kernel, self.dilation, self.padding,
                        self.stride, self.out_size),)

    def backward_graph(self, grad_output, output):  # linear: the gradient is its adjoint, fold
        return (Fold(self.x_shape[2:], self.kernel, self.dilation, self.padding, self.stride,
                     self.out_size)(grad_output),)


class Fold(Op):
    """Unfold's adjoint: x (N, C kh kw, L) -> y (N, C, H, W) = output_size, each column added
    into its block (overlaps sum);  dx = the blocks of g as columns (im2col)."""

    complex_ok = True
    saves = ()  # sizes only, as torch's Col2ImBackward0
    saves_tensors = False

    def __init__(self, output_size, kernel, dilation, padding, stride, out_size):
        self.output_size, self.kernel, self.dilation = output_size, kernel, dilation
        self.padding, self.stride, self.out_size = padding, stride, out_size

    def forward(self, x):
        n, rows = x.shape[:2]
        shape = (n, rows // math.prod(self.kernel), *self.output_size)
        return _col2im(x, shape, self.kernel, self.dilation, self.padding, self.stride,
                       self.out_size)

    def backward(self, grad_output):
        return (_im2col(grad_output, self.kernel, self.dilation, self.padding, self.stride,
                        self.out_size),)

    def backward_graph(self, grad_output, output):  # linear: the gradient is unfold
        return (Unfold(self.kernel, self.dilation, self.padding, self.stride,
                       self.out_size)(grad_output),)


def _settings(name: str, kernel_size, dilation, padding, stride):
    kernel, dilation = _pair(kernel_size, f"{name}: kernel_size"), _pair(dilation,
                                                                          f"{name}: dilation")
    padding, stride = _pair(padding, f"{name}: padding"), _pair(stride, f"{name}: stride")
    if min(kernel) < 1 or min(dilation) < 1 or min(padding) < 0 or min(stride) < 1:
        raise ShapeError(f"{name}: need kernel_size >= 1, dilation >= 1, padding >= 0 and "
                         f"stride >= 1, got {kernel}, {dilation}, {padding}, {stride}")
    return kernel, dilation, padding, stride


def _blocks(name: str, size, kernel, dilation, padding, stride) -> tuple[int, int]:
    """The number of blocks along each axis: (size + 2 p - d (k - 1) - 1) // s + 1, >= 1."""
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))
    if min(out) < 1:
        raise ShapeError(f"{name}: kernel_size {kernel} with dilation {dilation} does not fit "
                         f"the spatial size {tuple(size)} with padding {padding}")
    return out


def _check_dtype(name: str, x) -> None:
    """torch's im2col / col2im take floating-point, complex and bool values, not integers."""
    kind = np.dtype(x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype).kind
    if kind in "iu":
        raise NoKernelError(f"{name}: not implemented for integer x (as torch's), got "
                            f"{np.dtype(x.dtype)}")


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """The sliding blocks of x (N, C, H, W) as columns (PyTorch's F.unfold, im2col) ->
    (N, C kh kw, L), L = H_out W_out the number of blocks, H_out = (H + 2 padding - dilation
    (kh - 1) - 1) // stride + 1; an unbatched x (C, H, W) gives (C kh kw, L). Arguments in
    PyTorch's order; each an int or a pair."""
    kernel, dilation, padding, stride = _settings("unfold", kernel_size, dilation, padding,
                                                  stride)
    shape = _shape_of(input)
    if len(shape) in (3, 4) and 0 in shape[-3:]:  # torch: only the batch may be empty
        raise ShapeError(f"unfold: expected x (N, C, H, W) or unbatched (C, H, W) with only N "
                         f"possibly 0, got {shape}")
    if len(shape) == 3:  # unbatched (C, H, W): a batch of one, as PyTorch
        return squeeze(unfold(unsqueeze(input, 0), kernel, dilation, padding, stride), 0)
    if len(shape) != 4:  # torch: too few axes an IndexError (it reads a missing one), too many
        raise (ArgIndexError if len(shape) < 3 else ArgError)(  # a RuntimeError
            f"unfold: expected x (N, C, H, W) or unbatched (C, H, W), got {shape}")
    _check_dtype("unfold", input)
    out_size = _blocks("unfold", shape[2:], kernel, dilation, padding, stride)
    return Unfold(kernel, dilation, padding, stride, out_size)(input)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0,  # noqa: A002
         stride=1) -> Tensor:
    """Columns (N, C kh kw, L) summed back into an image (N, C, *output_size) (PyTorch's
    F.fold, col2im; overlapping blocks add up), L the number of blocks unfold would make of such
    an image; an unbatched (C kh kw, L) gives (C, H, W). fold(unfold(x)) is x times the number
    of blocks covering each pixel."""
    kernel, dilation, padding, stride = _settings("fold", kernel_size, dilation, padding, stride)
    output_size = _pair(output_size, "fold: output_size")
    shape = _shape_of(input)
    if len(shape) in (2, 3) and 0 in shape[-2:]:  # torch: only the batch may be empty
        raise ShapeError(f"fold: expected columns (N, C * kh * kw, L) or unbatched "
                         f"(C * kh * kw, L) with only N possibly 0, got {shape}")
    if len(shape) == 2:  # unbatched (C kh kw, L)
        return squeeze(fold(unsqueeze(input, 0), output_size, kernel, dilation, padding,
                            stride), 0)
    if len(shape) != 3:
        raise ShapeError(f"fold: expected columns (N, C * kh * kw, L) or unbatched "
                         f"(C * kh * kw, L), got {shape}")
    if min(output_size) < 1:
        raise ValueError(f"fold: output_size must be >= 1, got {output_size}")
    _check_dtype("fold", input)
    if shape[1] % math.prod(kernel):
        raise ShapeError(f"fold: the columns' size {shape[1]} (axis 1) must be a multiple of "
                         f"kh * kw = {math.prod(kernel)} for kernel_size {kernel}")
    out_size = _blocks("fold", output_size, kernel, dilation, padding, stride)
    if shape[2] != math.prod(out_size):
        raise ShapeError(f"fold: output_size {output_size} with kernel_size {kernel}, dilation "
                         f"{dilation}, padding {padding} and stride {stride} has "
                         f"{out_size[0]} * {out_size[1]} = {math.prod(out_size)} blocks, but "
                         f"the input has {shape[2]} columns (axis 2)")
    return Fold(output_size, kernel, dilation, padding, stride, out_size)(input)
