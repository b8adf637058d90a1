"""Spatial transformers, as PyTorch's: affine_grid turns affine matrices into sampling grids in
[-1, 1], grid_sample reads an image at a grid's points (nearest, bilinear, bicubic; zeros, border
or reflection padding).

    grid = affine_grid(theta, (N, C, H, W))       # theta (N, 2, 3) -> grid (N, H, W, 2)
    y = grid_sample(x, grid, mode="bilinear")     # x (N, C, H_in, W_in) -> y (N, C, H, W)
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from dlpy._caller import user_stacklevel
from dlpy.amp.state import FP32, LOWER, autocast_policy
from dlpy.creation import _linspace as _torch_linspace
from dlpy.ops import ArgDtypeError, ArgError, UnsupportedArgError
from dlpy.ops.arithmetic import slope_grad
from dlpy.ops.resample import Resample, _cubic
from dlpy.ops.shape import IndexAdd, stack
from dlpy.tensor import Op, ShapeError, Tensor, is_floating_dtype

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")


class _SizeTypeError(ValueError, TypeError):
    """affine_grid's size with a value that is not an int: a ValueError, as its other size
    errors, and torch's TypeError (its argument parser refuses a float)."""


class _ThetaDtypeError(TypeError, ValueError):
    """affine_grid's theta not floating point: a TypeError, and torch's ValueError (its
    Python check)."""


class _NoKernelDtypeError(ArgDtypeError, NotImplementedError):
    """grid_sample's input of an integer dtype: dlpy's ArgDtypeError, and torch's
    NotImplementedError (its kernel has no integer version)."""


class AffineGrid(Op):
    """grid[n, p] = theta[n] (x_p, y_p[, z_p], 1) over the points p of the base grid (W's
    coordinate first): theta (N, k, k + 1) -> grid (N, *spatial, k); d theta[n] = sum_p
    g[n, p] (x_p, y_p[, z_p], 1)^T."""

    def __init__(self, spatial: tuple[int, ...], align_corners: bool):
        self.spatial, self.align_corners = spatial, align_corners

    def forward(self, theta):
        axes = [_linspace(size, self.align_corners, theta.dtype) for size in self.spatial]
        points = list(np.meshgrid(*axes, indexing="ij"))[::-1]  # x (along W) first
        ones = np.ones(self.spatial, dtype=theta.dtype)
        self.base = np.stack(points + [ones], axis=-1).reshape(-1, len(self.spatial) + 1)
        if theta.dtype.kind == "V":  # bfloat16: its base grid, products summed in float32
            grid = np.matmul(self.base.astype(np.float32),
                             theta.astype(np.float32).transpose(0, 2, 1)).astype(theta.dtype)
        else:
            grid = np.matmul(self.base, theta.transpose(0, 2, 1))  # (N, P, k)
        return grid.reshape((theta.shape[0],) + self.spatial + (len(self.spatial),))

    def backward(self, grad_output):
        # (N, P, k); P not -1: numpy cannot infer it for an empty batch
        g = grad_output.reshape(grad_output.shape[0], self.base.shape[0], grad_output.shape[-1])
        # base^T g (N, k + 1, k) transposed, as torch's (a (N, k, k + 1) view of it)
        if g.dtype.kind == "V":  # bfloat16
            return (np.matmul(self.base.T.astype(np.float32),
                              g.astype(np.float32)).astype(g.dtype).transpose(0, 2, 1),)
        return (np.matmul(self.base.T, g).transpose(0, 2, 1),)

    def backward_graph(self, grad_output, output):
        # linear in theta: g^T base with dlpy ops (base a constant)
        g = grad_output.reshape(grad_output.shape[0], self.base.shape[0], grad_output.shape[-1])
        return (g.transpose(0, 2, 1) @ Tensor(self.base),)


def _linspace(size: int, align_corners: bool, dtype) -> np.ndarray:
    """PyTorch's linspace_from_neg_one: size points from -1 to 1 (their centres' positions,
    scaled by (size - 1) / size, without align_corners); one point: 0."""
    if size <= 1:
        return np.zeros(size, dtype=dtype)
    values = _torch_linspace(-1.0, 1.0, size, np.dtype(dtype)).astype(dtype)
    return values if align_corners else values * dtype.type(size - 1) / dtype.type(size)


# From this many channels on the input is read as rows of channels (a gather copies a row),
# below as planes (a gather a channel: faster for few channels, as images' 3)
CHANNELS_LAST = 8


class GridSample(Op):
    """y[n, c, p] = sum over the taps t of w_t(p) x[n, c, i_t(p)]: the input (N, C, *in) read
    at the grid's points (N, *out, k), each axis' taps and weights from one coordinate (grid's
    last axis: W's first), their products over the axes (2 x 2 bilinear, 4 x 4 bicubic, 1 for
    nearest). dx scatters w_t g back to i_t; d grid sums g x[i_t] times the weights'
    derivatives, PyTorch's: 0 for nearest, 0 where border or reflection clipped a coordinate.

    The input is read as a 2-D array, (N * padded, C) or (C, N * padded) (CHANNELS_LAST),
    padded so that every point's taps are a whole stencil (zeros outside, or the border's or
    reflection's indices): a tap is one gather (np.take) of every channel at one row offset,
    dx one bincount a channel over all the taps. The taps are computed once, in forward;
    backward gathers again for the grid's gradient (into one buffer: allocating the arrays
    costs more than the gathers).
    """

    saves = (0, 1)  # read by backward (in-place checks, Op.saves): not the output

    def pack_order(self, inputs):
        """torch's GridSampler2DBackward0 packs (saved_tensors_hooks) the grid, then the
        input."""
        return [1, 0]

    def __init__(self, mode: str, padding_mode: str, align_corners: bool):
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners

    def forward(self, x, grid):
        self.x_shape, self.out_shape = x.shape, grid.shape[:-1]
        # W first, as the grid's coordinates
        self.axes = axes = [_Axis(grid[..., k], size, self.mode, self.padding_mode,
                                  self.align_corners) for k, size in
                            enumerate(x.shape[2:][::-1])]
        self.strides = strides = np.cumprod([1] + [a.lookup.size for a in axes]).tolist()
        base = axes[-1].position  # (its own: changed in place)
        base *= strides[-2]
        for axis, stride in zip(axes[:-1], strides):
            base += axis.position if stride == 1 else axis.position * stride
        if x.shape[0] > 1:
            base = base.reshape(x.shape[0], -1)
            base += np.arange(x.shape[0])[:, None] * strides[-1]
        self.base = base.reshape(-1)
        self.last = last = x.shape[1] >= CHANNELS_LAST
        self.values = values = _padded(x, axes, last)
        points, channels = self.base.size, x.shape[1]
        total = np.empty((points, channels) if last else (channels, points), dtype=x.dtype)
        read = None  # every tap but the first gathered into one buffer, summed into total
        for rows, weight in self._taps():
            if read is None:
                read = total
            elif read is total:
                read = np.empty_like(total)
            # the rows are valid: "wrap" skips the bounds check and the copy of out of "raise"
            np.take(values, rows, axis=1 - last, out=read, mode="wrap")
            if weight is not None:
                read *= weight[:, None] if last else weight
            if read is not total:
                total += read
        if last:  # (P, C)
            out = np.moveaxis(total.reshape(self.out_shape + x.shape[1:2]), -1, 1)
        else:  # (C, P)
            out = np.moveaxis(total.reshape(x.shape[1::-1] + self.out_shape[1:]), 0, 1)
        out = np.ascontiguousarray(out)  # (a copy but for one image: the next ops run faster)
        if self.padding_mode == "zeros" and self.mode != "nearest" and x.ndim == 4:
            # a NaN or inf point reads NaN, as PyTorch's 2-D kernel (its weights NaN; the
            # 3-D one's reads 0)
            wild = ~np.isfinite(grid).all(axis=-1)
            if wild.any():
                np.copyto(out, np.nan, where=wild[:, None])
        return out

    def backward(self, grad_output):
        x_wanted, grid_wanted = (t.requires_grad for t in self.inputs)
        axes, dtype, last = self.axes, grad_output.dtype, self.last
        grad_x = grad_grid = None
        if x_wanted:
            grad_x = self._grad_input(grad_output)
        if grid_wanted and self.mode == "nearest":  # nearest's: zero
            grad_grid = np.zeros(self.out_shape + (len(axes),), dtype=dtype)
        elif grid_wanted:
            channels, points = grad_output.shape[1], self.base.size
            grad_grid = np.zeros((len(axes), points), dtype=dtype)
            g = np.moveaxis(grad_output, 1, -1).reshape(points, channels) if last else \
                np.moveaxis(grad_output, 1, 0).reshape(channels, points)
            slopes = [axis.derivatives() for axis in axes]
            read = np.empty(g.shape, dtype=dtype)
            factor = np.empty(points, dtype=dtype)
            for combo, (rows, _) in zip(self._combos(), self._taps(weights=False)):
                np.take(self.values, rows, axis=1 - last, out=read, mode="wrap")
                if last:  # over the channels: g x[tap]
                    along = np.einsum("pc,pc->p", g, read)
                else:
                    read *= g
                    along = read.sum(axis=0)
                for a in range(len(axes)):  # a's factor replaced by its slope
                    factor = _product(axes, combo, slopes, a, factor)
                    factor *= along
                    grad_grid[a] += factor
            grad_grid = np.ascontiguousarray(  # (contiguous, as torch's)
                np.moveaxis(grad_grid, 0, -1)).reshape(self.out_shape + (len(axes),))
        return grad_x, grad_grid

    def backward_graph(self, grad_output, output):
        # backward's formulas with dlpy ops, for create_graph: dx = A(grid)^T g, each tap's
        # weighted g added at the input position it read; d grid = sum over the taps of
        # (g . x[tap]) times the weights' derivatives. Each axis' fraction is written as
        # slope * coordinate + constant (the padding's clipping and reflection held fixed, as
        # PyTorch's double backward) so that the weights' own derivatives enter
        x, grid = self.inputs
        channels, points, k = self.x_shape[1], self.base.size, len(self.axes)
        g = grad_output.permute((1, 0, *range(2, grad_output.ndim))).reshape((channels, points))
        fractions = [None] * k if self.mode == "nearest" else [
            grid[..., a].reshape((points,)) * Tensor(slope)
            + Tensor(axis.fraction - axis.coordinate * slope)
            for a, (axis, slope) in enumerate(zip(self.axes, self._slopes()))]
        weights = [_tap_weights(self.mode, f) for f in fractions]
        sources, valid = self._sources()
        length = math.prod(self.x_shape[:1] + self.x_shape[2:])  # x flattened, (N, *spatial)
        x_flat = x.permute((1, 0, *range(2, x.ndim))).reshape((channels, length)) \
            if grid.requires_grad and self.mode != "nearest" else None
        grad_x = grad_grid = None
        axis_grads = [None] * k
        for combo, (rows, _) in zip(self._combos(), self._taps(weights=False)):
            at, mask = sources[rows], Tensor(valid[rows].astype(self.axes[0].dtype))
            factors = [w[j] for w, j in zip(weights, combo) if w is not None]
            weight = mask
            for factor in factors:
                weight = weight * factor
            if x.requires_grad:
                part = IndexAdd((slice(None), at), (channels, length))(g * weight)
                grad_x = part if grad_x is None else grad_x + part
            if grid.requires_grad and self.mode != "nearest":
                along = (g * x_flat[:, at]).sum(0) * mask  # g . x[tap], (P,)
                for a in range(k):  # a's factor replaced by its derivative
                    term = along * _tap_slopes(self.mode, fractions[a])[combo[a]]
                    for b, (w, j) in enumerate(zip(weights, combo)):
                        if b != a:
                            term = term * w[j]
                    axis_grads[a] = term if axis_grads[a] is None else axis_grads[a] + term
        if grad_x is not None:
            grad_x = grad_x.reshape(self.x_shape[1::-1] + self.x_shape[2:]).permute(
                (1, 0, *range(2, len(self.x_shape))))
            if self.mode == "nearest":  # tied to the grid, as torch's: its gradient zero
                grad_x = slope_grad(grad_x, np.True_, grid)
        if grid.requires_grad:
            if self.mode == "nearest":  # nearest's: zero (tied to the grid, as torch's)
                grad_grid = slope_grad(Tensor(np.zeros(self.out_shape + (k,),
                                                       dtype=self.axes[0].dtype)), np.True_, grid)
            else:
                slopes = [Tensor(slope) for slope in self._slopes()]
                grad_grid = stack([d * s for d, s in zip(axis_grads, slopes)], -1).reshape(
                    self.out_shape + (k,))
        return grad_x, grad_grid

    def _slopes(self) -> list[np.ndarray]:
        return [axis.slope() for axis in self.axes]

    def _sources(self) -> tuple[np.ndarray, np.ndarray]:
        """(sources, valid): for each row of the padded input (_padded's), the input position
        it reads as an index into x's flattened (N, *spatial), and whether it reads one (else
        a zero of the padding, its source 0)."""
        spatial = self.x_shape[2:]
        lookups = [axis.lookup for axis in self.axes[::-1]]  # (D, H, W order)
        index = np.arange(self.x_shape[0]).reshape((-1,) + (1,) * len(spatial)) * math.prod(
            spatial)
        valid = np.ones((1,) * (len(spatial) + 1), dtype=bool)
        stride = 1
        for axis in range(len(spatial) - 1, -1, -1):
            shape = [1] * (len(spatial) + 1)
            shape[axis + 1] = -1
            lookup = lookups[axis].reshape(shape)
            inside = lookup < spatial[axis]
            index = index + np.where(inside, lookup, 0) * stride
            valid = valid & inside
            stride *= spatial[axis]
        index, valid = np.broadcast_arrays(index, valid)
        return index.reshape(-1), valid.reshape(-1)

    def _combos(self) -> list[tuple[int, ...]]:
        """Every combination of the axes' taps (W's first)."""
        return list(itertools.product(*[range(len(axis.taps)) for axis in self.axes]))

    def _taps(self, weights: bool = True, out: np.ndarray | None = None):
        """(rows (P,), weight (P,) or None: 1) of every tap, one after the other: rows (and
        weights) written into the same buffers each time, or into out[t] ((taps, P): the
        weights) where given."""
        rows = np.empty_like(self.base)
        weight = None if out is not None or not weights else \
            np.empty(self.base.shape, self.axes[0].dtype)
        for t, combo in enumerate(self._combos()):
            np.add(self.base, sum(k * stride for k, stride in zip(combo, self.strides)),
                   out=rows)
            into = weight if out is None else out[t]
            yield rows, _product(self.axes, combo, out=into) if weights else None

    def _grad_input(self, grad_output: np.ndarray) -> np.ndarray:
        """A^T g: a bincount a channel over all the taps, the padding folded onto the
        input."""
        combos, points, channels = self._combos(), self.base.size, self.x_shape[1]
        at = np.empty((len(combos), points), dtype=self.base.dtype)
        weights = None if self.mode == "nearest" else \
            np.empty((len(combos), points), dtype=grad_output.dtype)
        for t, (rows, _) in enumerate(self._taps(weights is not None, weights)):
            at[t] = rows
        at = at.reshape(-1)
        g = np.moveaxis(grad_output, 1, 0).reshape(channels, points)  # (C, P)
        length = self.values.shape[1 - self.last]
        grad = np.empty((channels, length), dtype=g.dtype)
        parts = np.empty((len(combos), points))  # float64, as bincount wants its weights
        for channel, part in enumerate(g):
            if weights is None:
                parts[:] = part
            else:
                np.multiply(weights, part, out=parts)
            grad[channel] = np.bincount(at, parts.reshape(-1), minlength=length)
        grad = grad.reshape(self.x_shape[1::-1] + tuple(axis.lookup.size
                                                        for axis in self.axes[::-1]))
        for a, axis in enumerate(self.axes):  # fold the padding back
            grad = axis.fold(grad, grad.ndim - 1 - a)
        return np.ascontiguousarray(np.moveaxis(grad, 0, 1))  # (contiguous, as torch's)


def _product(axes, combo, slopes=None, replaced: int = -1, out: np.ndarray | None = None):
    """The weight (P,) of one combination of the axes' taps (None: nearest's 1), with axis
    ``replaced``'s factor its derivative from ``slopes``; into ``out`` if given."""
    factors = [slopes[a][k] if a == replaced else axis.weights[k]
               for a, (axis, k) in enumerate(zip(axes, combo))
               if a == replaced or axis.weights is not None]
    if not factors:
        return None
    if len(factors) == 1:
        if out is None:
            return factors[0]
        np.copyto(out, factors[0])
        return out
    product = np.multiply(factors[0], factors[1], out=out)
    for factor in factors[2:]:
        product *= factor
    return product


def _padded(x: np.ndarray, axes, last: bool) -> np.ndarray:
    """x (N, C, *spatial) -> (N * prod(padded), C) (``last``) or (C, N * prod(padded)): each
    spatial axis read at its lookup (its size: a zero)."""
    channels = x.shape[1]
    values = np.moveaxis(x, 1, -1 if last else 0)
    lengths = tuple(axis.lookup.size for axis in axes[::-1])
    if lengths == x.shape[2:]:  # no padding (nearest with border or reflection)
        padded = np.ascontiguousarray(values)  # (one image, planes: x itself)
    elif all(axis.inner is not None for axis in axes):  # zeros around the input: one copy
        if last:
            padded = np.zeros(x.shape[:1] + lengths + (channels,), dtype=x.dtype)
            padded[(slice(None),) + tuple(axis.inner for axis in axes[::-1])] = values
        else:
            padded = np.zeros(x.shape[1::-1] + lengths, dtype=x.dtype)
            padded[(Ellipsis,) + tuple(axis.inner for axis in axes[::-1])] = values
    else:
        padded = values
        for a, axis in enumerate(axes):
            padded = axis.pad(padded, padded.ndim - 1 - last - a)
    rows = padded.size // channels if channels else 0
    return padded.reshape(rows, channels) if last else padded.reshape(channels, rows)


class _Axis:
    """One axis' taps, for every point (flattened): ``position`` (P,) of the first tap in the
    padded axis (forward turns it into the rows), ``taps`` its offsets (0, 1, .. width - 1),
    ``weights`` one (P,) array a tap (None: one tap of 1, nearest), ``lookup`` the input index
    of each padded position (size: zero, the zeros padding). Zeros padding clips the source to
    where a tap can still touch the input (beyond, every tap reads a zero), its derivative 0
    there; border and reflection pad the source as PyTorch (bilinear, nearest) or every tap's
    index (bicubic: the stencil shifted into a period of the reflection, or next to the
    border, reads the same)."""

    def __init__(self, coordinate: np.ndarray, size: int, mode: str, padding_mode: str,
                 align_corners: bool):
        self.coordinate = coordinate.reshape(-1)
        self.size, self.mode, self.padding_mode = size, mode, padding_mode
        self.align_corners, self.dtype = align_corners, coordinate.dtype
        source = self._source()
        if padding_mode == "zeros":  # NaN: -reach
            np.fmax(source, -self._reach(), out=source)
            np.fmin(source, size - 1 + self._reach(), out=source)
        elif mode != "bicubic":
            source = _pad(source, size, padding_mode, align_corners)[0]
        if mode == "nearest":
            first, self.taps, self.weights = np.rint(source).astype(np.int64), (0,), None
            low, high = (1, 1) if padding_mode == "zeros" else (0, 0)
        else:
            floor = np.floor(source)
            first = floor.astype(np.int64)
            self.fraction = fraction = np.subtract(source, floor, out=floor)
            if mode == "bilinear":
                self.taps, self.weights = (0, 1), [1 - fraction, fraction]
                low, high = (2, 3) if padding_mode == "zeros" else (0, 1)
            else:
                first -= 1
                self.taps, self.weights = (0, 1, 2, 3), _cubic(fraction, self.dtype.type)
                low, high = (4, 5) if padding_mode == "zeros" else (3, 4)
                if padding_mode == "border":  # every tap left of 0 (right of size - 1)
                    np.clip(first, -3, size - 1, out=first)  # reads there
                elif padding_mode == "reflection":
                    period = max(2 * (size - 1) if align_corners else 2 * size, 1)
                    first %= period
                    low, high = 0, period + 3 - size
        positions = np.arange(-low, size + high)
        if mode == "bicubic" and padding_mode != "zeros":
            lookup = _pad(positions.astype(np.float64), size, padding_mode, align_corners)[0]
        else:
            lookup = np.where((positions >= 0) & (positions < size), positions, size)
        self.lookup = lookup.astype(np.int64)
        # the input's positions, where zeros are all around them (else None)
        inner = slice(low, low + size)
        identity = np.array_equal(lookup[inner], np.arange(size)) and \
            np.all(np.delete(lookup, np.arange(low, low + size)) == size)
        self.inner = inner if identity else None
        first += low
        self.position = first

    def _source(self) -> np.ndarray:
        """The coordinate in pixel units (unpadded), a new array."""
        source = self.coordinate + 1
        source *= self._scale()
        if not self.align_corners:
            source -= 0.5
        return source

    def _scale(self) -> float:
        return (self.size - 1) / 2 if self.align_corners else self.size / 2

    def _reach(self) -> int:
        """How far beyond the axis zeros padding clips the source: where every tap reads a
        zero, even those of weight 0 (an inf or NaN pixel next to them stays unread, as
        PyTorch skips the taps outside)."""
        return {"nearest": 1, "bilinear": 2, "bicubic": 3}[self.mode]

    def slope(self) -> np.ndarray:
        """d source / d coordinate (P,): 0 where zeros padding clipped the source, times the
        padding's (0 clipped, -1 reflected)."""
        slope = np.full(self.coordinate.shape, self._scale(), dtype=self.coordinate.dtype)
        source = self._source()
        if self.padding_mode == "zeros":
            slope *= (source >= -self._reach()) & (source <= self.size - 1 + self._reach())
        elif self.mode != "bicubic":
            slope = _pad(source, self.size, self.padding_mode, self.align_corners, slope)[1]
        return slope

    def derivatives(self) -> list[np.ndarray]:
        """d weights / d coordinate, (P,) a tap: the weights' derivatives times the slope."""
        slope = self.slope()
        if self.mode == "bilinear":
            return [-slope, slope]
        near, far = _cubic_slopes(self.fraction)
        t = self.fraction
        return [d * slope for d in (far(t + 1), near(t), -near(1 - t), -far(2 - t))]

    def pad(self, values: np.ndarray, axis: int) -> np.ndarray:
        """values read at the lookup along ``axis`` (a zero where it says size)."""
        zero = np.zeros(values.shape[:axis] + (1,) + values.shape[axis + 1:], values.dtype)
        return np.take(np.concatenate([values, zero], axis=axis), self.lookup, axis=axis)

    def fold(self, grad: np.ndarray, axis: int) -> np.ndarray:
        """pad's adjoint: the padded positions' gradients summed onto the input's."""
        if self.inner is not None:
            return grad[(slice(None),) * axis + (self.inner,)]
        shape = grad.shape[:axis] + (self.size + 1,) + grad.shape[axis + 1:]
        folded = Resample(axis, self.lookup[None], None)
        folded.x_shape = shape
        return np.take(folded.backward(grad)[0], np.arange(self.size), axis=axis)


def _tap_weights(mode: str, fraction):
    """An axis' tap weights at ``fraction`` (a Tensor): None for nearest's one tap of 1."""
    if mode == "nearest":
        return None
    if mode == "bilinear":
        return [1 - fraction, fraction]
    a = -0.75  # PyTorch's cubic convolution (resample's _cubic)

    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(fraction + 1), near(fraction), near(1 - fraction), far(2 - fraction)]


def _tap_slopes(mode: str, fraction):
    """d weight / d fraction of each tap (a Tensor, or a number for bilinear's)."""
    if mode == "bilinear":
        return [-1.0, 1.0]
    near, far = _cubic_slopes(fraction)
    return [far(fraction + 1), near(fraction), -near(1 - fraction), -far(2 - fraction)]


def _cubic_slopes(t):
    """d/dx of the cubic convolution's two pieces (A = -0.75): near for |x| <= 1, far for
    1 < |x| < 2 (the weights are far(t + 1), near(t), near(1 - t), far(2 - t))."""
    a = -0.75

    def near(x):
        return (3 * (a + 2) * x - 2 * (a + 3)) * x

    def far(x):
        return (3 * a * x - 10 * a) * x + 8 * a

    return near, far


def _pad(source: np.ndarray, size: int, padding_mode: str, align_corners: bool,
         slope: np.ndarray | None = None):
    """(source, slope): the source position reflected (reflection) and clipped to the axis
    (border, reflection), slope times d padded / d source: 0 where clipped (the borders count
    as clipped), -1 where reflected an odd number of times, as PyTorch's CPU kernel."""
    if padding_mode == "zeros":
        return source, slope
    if padding_mode == "reflection":
        twice_span = 2 * (size - 1) if align_corners else 2 * size
        if twice_span == 0:
            return np.zeros_like(source), None if slope is None else 0 * slope
        shifted = source if align_corners else source + 0.5
        negative, magnitude = shifted < 0, np.abs(shifted)
        extra = magnitude - np.trunc(magnitude / twice_span) * twice_span
        reflected = twice_span - extra
        flip = extra > reflected
        source = np.where(flip, reflected, extra) - (0 if align_corners else 0.5)
        if slope is not None:
            slope = np.where(flip ^ negative, -slope, slope)
    low = np.fmax(source, 0)  # NaN (and reflection's of inf): 0, as PyTorch's std::max
    clipped = np.fmin(low, size - 1)
    if slope is None:  # (forward needs no slope)
        return clipped, None
    return clipped, slope * ((low != 0) & (clipped != size - 1))


def _check_flag(name: str, what: str, value) -> bool:
    if value is None and what == "align_corners":  # not given: False, with torch's warning
        import warnings

        warnings.warn("Default grid_sample and affine_grid behavior has changed to "
                      "align_corners=False since 1.3.0. Please specify align_corners=True if "
                      "the old behavior is desired. See the documentation of grid_sample for "
                      "details.", UserWarning, stacklevel=user_stacklevel())
        return False
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {what} must be True or False, got {value!r}")
    return bool(value)


@autocast_policy(LOWER)  # torch's composite multiplies with bmm, on the list: in low precision
def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """F.affine_grid: the sampling grid (N, H, W, 2) of affine matrices theta (N, 2, 3) for an
    output of size (N, C, H, W), or (N, D, H, W, 3) of theta (N, 3, 4) for (N, C, D, H, W):
    grid[n, p] = theta[n] (x, y[, z], 1) at the points of [-1, 1]^k (their centres without
    align_corners; not given: False, with torch's warning)."""
    if not isinstance(theta, Tensor):
        theta = Tensor(np.asarray(theta))
    align_corners = _check_flag("affine_grid", "align_corners", align_corners)
    # one-element integer tensors count as ints, as in torch's int lists (MONAI's Spacing
    # passes its output shape as tensors)
    size = tuple(int(s.item()) if isinstance(s, Tensor) and s.numel() == 1
                 and s.dtype.kind in "iu" else s for s in size)
    if len(size) not in (4, 5) or not all(isinstance(s, (int, np.integer)) for s in size):
        # torch: another rank a NotImplementedError, a float a TypeError
        error = UnsupportedArgError if len(size) not in (4, 5) else _SizeTypeError
        raise error(f"affine_grid: size must be (N, C, H, W) or (N, C, D, H, W) of positive "
                    f"ints, as torch, got {size}")
    k = len(size) - 2
    if not is_floating_dtype(theta.dtype):
        raise _ThetaDtypeError(f"affine_grid: theta must be floating point, got {theta.dtype}")
    if theta.shape != (size[0], k, k + 1):
        # torch: a batch that does not fit a RuntimeError, the rest a ValueError
        raise ArgError(f"affine_grid: expected theta of shape {(size[0], k, k + 1)} "
                       f"(N, {k}, {k + 1}) for size {size}, got {theta.shape}")
    if align_corners and min(size[2:]) == 1:
        import warnings

        from dlpy._caller import user_stacklevel

        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", UserWarning,
                      stacklevel=user_stacklevel())
    elif min(size) <= 0:  # (torch's check: skipped where it warned, those sizes go on)
        raise ValueError(f"affine_grid: size must be (N, C, H, W) or (N, C, D, H, W) of "
                         f"positive ints, as torch, got {size}")
    return AffineGrid(tuple(int(s) for s in size[2:]), align_corners)(theta)


@autocast_policy(FP32)
def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",  # noqa: A002
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """F.grid_sample: input (N, C, H_in, W_in) read at grid (N, H, W, 2) -> (N, C, H, W), or
    (N, C, D_in, H_in, W_in) at (N, D, H, W, 3) (bilinear means trilinear; no bicubic). The
    grid holds (x, y[, z]) in [-1, 1]: -1 the first pixel's centre (its left edge without
    align_corners), x along W. Points outside read ``padding_mode``: zeros, the border's
    value, or the image reflected."""
    input, grid = (t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in (input, grid))
    if mode not in MODES:
        raise ValueError(f"grid_sample: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"grid_sample: padding_mode must be one of {', '.join(PADDING_MODES)}, "
                         f"got {padding_mode!r}")
    align_corners = _check_flag("grid_sample", "align_corners", align_corners)
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise ShapeError(f"grid_sample: expected a 4-D or 5-D input and a grid with as many "
                         f"axes, got input {input.shape} and grid {grid.shape}")
    if grid.shape[0] != input.shape[0]:
        raise ShapeError(f"grid_sample: expected grid and input to have the same batch size, "
                         f"got input {input.shape} and grid {grid.shape}")
    if grid.shape[-1] != input.ndim - 2:
        raise ShapeError(f"grid_sample: expected grid's last axis to have size {input.ndim - 2} "
                         f"for a {input.ndim}-D input, got grid {grid.shape}")
    if min(input.shape[2:]) == 0:
        raise ArgError(f"grid_sample: expected an input with non-empty spatial axes, got "
                       f"{input.shape}")
    if mode == "bicubic" and input.ndim != 4:
        raise ShapeError(f"grid_sample: bicubic supports only 4-D input, got {input.shape}")
    if not is_floating_dtype(input.dtype) or grid.dtype != input.dtype:
        # torch: an integer input has no kernel (NotImplementedError), other dtypes that do
        # not match are a RuntimeError
        raise (ArgDtypeError if is_floating_dtype(input.dtype) else _NoKernelDtypeError)(
            f"grid_sample: expected floating input and grid of the same dtype, got "
            f"{input.dtype} and {grid.dtype}")
    return GridSample(mode, padding_mode, align_corners)(input, grid)
