"""Spatial transformers, as PyTorch's: affine_grid turns affine matrices into sampling grids in
[-1, 1], grid_sample reads an image at a grid's points (nearest, bilinear, bicubic; zeros, border
or reflection padding).

    grid = affine_grid(theta, (N, C, H, W))       # theta (N, 2, 3) -> grid (N, H, W, 2)
    y = grid_sample(x, grid, mode="bilinear")     # x (N, C, H_in, W_in) -> y (N, C, H, W)
"""

from __future__ import annotations

import itertools

import numpy as np

from dlpy.ops.resample import _cubic
from dlpy.tensor import Op, Tensor

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")


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
        grid = np.matmul(self.base, theta.transpose(0, 2, 1))  # (N, P, k)
        return grid.reshape((theta.shape[0],) + self.spatial + (len(self.spatial),))

    def backward(self, grad_output):
        g = grad_output.reshape(grad_output.shape[0], -1, grad_output.shape[-1])  # (N, P, k)
        return (np.matmul(g.transpose(0, 2, 1), self.base),)

    def backward_graph(self, grad_output, output):
        # linear in theta: g^T base with dlpy ops (base a constant)
        g = grad_output.reshape(grad_output.shape[0], -1, grad_output.shape[-1])
        return (g.transpose(0, 2, 1) @ Tensor(self.base),)


def _linspace(size: int, align_corners: bool, dtype) -> np.ndarray:
    """PyTorch's linspace_from_neg_one: size points from -1 to 1 (their centres' positions,
    scaled by (size - 1) / size, without align_corners); one point: 0."""
    if size <= 1:
        return np.zeros(size, dtype=dtype)
    values = np.linspace(-1, 1, size, dtype=dtype)
    return values if align_corners else values * (size - 1) / size


class GridSample(Op):
    """y[n, c, p] = sum over the taps t of w_t(p) x[n, c, i_t(p)]: the input (N, C, *in) read
    at the grid's points (N, *out, k), each axis' taps and weights from one coordinate (grid's
    last axis: W's first), their products over the axes (2 x 2 bilinear, 4 x 4 bicubic, 1 for
    nearest). dx scatters w_t g back to i_t; d grid sums g x[i_t] times the weights'
    derivatives, PyTorch's: 0 for nearest, 0 where border or reflection clipped a coordinate.
    """

    def __init__(self, mode: str, padding_mode: str, align_corners: bool):
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners

    def forward(self, x, grid):
        self.x, self.grid = x, grid
        rows, weights, _ = self._taps(need_derivatives=False)
        values = self._channels_last(x)  # (N * S_in, C)
        out = np.zeros((rows[0].size, x.shape[1]), dtype=x.dtype)  # (N * P, C)
        for row, weight in zip(rows, weights):
            out += weight.reshape(-1, 1) * np.take(values, row.reshape(-1), axis=0)
        return np.moveaxis(out.reshape(grid.shape[:-1] + (x.shape[1],)), -1, 1)

    def backward(self, grad_output):
        x, grid = self.x, self.grid
        x_wanted, grid_wanted = (t.requires_grad for t in self.inputs)
        rows, weights, derivatives = self._taps(need_derivatives=grid_wanted)
        grad_x = grad_grid = None
        if x_wanted:  # a bincount a channel, over all the taps at once
            at, weights = np.stack(rows).reshape(-1), np.stack(weights)  # (taps, N, *out)
            grad_x = np.empty((x.shape[0], x.shape[1], x[0, 0].size), dtype=x.dtype)
            for channel in range(x.shape[1]):
                parts = (weights * grad_output[:, channel]).reshape(-1)
                grad_x[:, channel] = np.bincount(at, parts, minlength=grad_x.shape[0] *
                                                 grad_x.shape[2]).reshape(x.shape[0], -1)
            grad_x = grad_x.reshape(x.shape)
        if grid_wanted:
            grad_grid = np.zeros(grid.shape, dtype=grid.dtype)
            if derivatives is not None:
                values, g = self._channels_last(x), self._channels_last(grad_output)
                for row, parts in zip(rows, derivatives):
                    read = np.einsum("pc,pc->p", g, np.take(values, row.reshape(-1), axis=0))
                    read = read.reshape(row.shape)  # sum over channels of g x[tap]
                    for axis, part in enumerate(parts):  # axis: W first, as grid's last axis
                        grad_grid[..., axis] += read * part
        return grad_x, grad_grid

    @staticmethod
    def _channels_last(array: np.ndarray) -> np.ndarray:
        """(N, C, *spatial) -> (N * prod(spatial), C): a row of channels per point."""
        return np.moveaxis(array, 1, -1).reshape(-1, array.shape[1])

    def _taps(self, need_derivatives: bool):
        """rows (N, *out) into the channels-last input, weights (N, *out) and, with
        need_derivatives, each tap's d weight / d grid per axis (W first), for every tap."""
        need_derivatives = need_derivatives and self.mode != "nearest"  # nearest's: zero
        sizes = self.x.shape[2:][::-1]  # W first, as the grid's coordinates
        batch = self.grid.shape[0]
        per_axis = [_axis_taps(self.grid[..., k], size, self.mode, self.padding_mode,
                               self.align_corners) for k, size in enumerate(sizes)]
        offset = np.arange(batch).reshape((-1,) + (1,) * (self.grid.ndim - 2))
        strides = np.cumprod((1,) + sizes[:-1])
        offset = offset * int(strides[-1] * sizes[-1])
        rows, weights, derivatives = [], [], []
        for combo in itertools.product(*[range(len(taps[0])) for taps in per_axis]):
            row, weight = offset, 1
            for (index, weight_k, _), k, stride in zip(per_axis, combo, strides):
                row = row + index[k] * int(stride)
                weight = weight * weight_k[k]
            rows.append(row)
            weights.append(weight)
            if need_derivatives:  # d weight / d axis a: a's factor replaced by its slope
                factors = [(taps[1][k], taps[2][k]) for taps, k in zip(per_axis, combo)]
                derivatives.append([
                    np.prod([slope if b == a else w for b, (w, slope) in enumerate(factors)],
                            axis=0) for a in range(len(factors))])
        return rows, weights, derivatives if need_derivatives else None


def _axis_taps(coordinate: np.ndarray, size: int, mode: str, padding_mode: str,
               align_corners: bool):
    """(indices, weights, derivatives): lists over one axis' taps (1 nearest, 2 linear, 4
    cubic) of arrays shaped as the normalised coordinate in [-1, 1]; zeros padding gives taps
    outside the axis a weight (and derivative) of 0 and a valid index; derivatives are d weight
    / d coordinate."""
    scale = (size - 1) / 2 if align_corners else size / 2
    source = (coordinate + 1) * scale - (0 if align_corners else 0.5)  # pixel units
    slope = np.full(coordinate.shape, scale, dtype=coordinate.dtype)
    if mode == "bicubic":  # the 4 taps around the source, each index padded on its own
        first = np.floor(source)
        fraction = source - first
        near, far = _cubic_slopes(fraction)
        indices = [first - 1 + k for k in range(4)]
        weights = _cubic(fraction, coordinate.dtype.type)
        derivatives = [far(fraction + 1), near(fraction), -near(1 - fraction),
                       -far(2 - fraction)]
        derivatives = [d * slope for d in derivatives]
        if padding_mode != "zeros":
            indices = [_pad(index, size, padding_mode, align_corners)[0] for index in indices]
    else:
        source, slope = _pad(source, size, padding_mode, align_corners, slope)
        if mode == "nearest":
            indices, weights, derivatives = [np.rint(source)], [1], [0 * slope]
        else:
            first = np.floor(source)
            fraction = source - first
            indices = [first, first + 1]
            weights, derivatives = [1 - fraction, fraction], [-slope, slope]
    inside = [(index >= 0) & (index <= size - 1) for index in indices]
    indices = [np.clip(index, 0, size - 1).astype(np.int64) for index in indices]
    weights = [np.where(ok, weight, 0).astype(coordinate.dtype) for ok, weight in
               zip(inside, weights)]
    derivatives = [np.where(ok, d, 0) for ok, d in zip(inside, derivatives)]
    return indices, weights, derivatives


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
    gain = np.ones_like(source)
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
        gain = np.where(flip ^ negative, -1.0, 1.0)
    low = np.maximum(source, 0)
    clipped = np.minimum(low, size - 1)
    gain = gain * ((low != 0) & (clipped != size - 1))
    return clipped, None if slope is None else slope * gain


def _check_flag(name: str, what: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {what} must be True or False, got {value!r}")
    return bool(value)


def affine_grid(theta: Tensor, size, align_corners: bool = False) -> Tensor:
    """F.affine_grid: the sampling grid (N, H, W, 2) of affine matrices theta (N, 2, 3) for an
    output of size (N, C, H, W), or (N, D, H, W, 3) of theta (N, 3, 4) for (N, C, D, H, W):
    grid[n, p] = theta[n] (x, y[, z], 1) at the points of [-1, 1]^k (their centres without
    align_corners)."""
    if not isinstance(theta, Tensor):
        theta = Tensor(np.asarray(theta))
    align_corners = _check_flag("affine_grid", "align_corners", align_corners)
    size = tuple(size)
    if len(size) not in (4, 5) or not all(isinstance(s, (int, np.integer)) and s >= 0
                                          for s in size):
        raise ValueError(f"affine_grid: size must be (N, C, H, W) or (N, C, D, H, W) of "
                         f"non-negative ints, got {size}")
    k = len(size) - 2
    if theta.dtype.kind != "f":
        raise TypeError(f"affine_grid: theta must be floating point, got {theta.dtype}")
    if theta.shape != (size[0], k, k + 1):
        raise ValueError(f"affine_grid: expected theta of shape {(size[0], k, k + 1)} "
                         f"(N, {k}, {k + 1}) for size {size}, got {theta.shape}")
    return AffineGrid(tuple(int(s) for s in size[2:]), align_corners)(theta)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",  # noqa: A002
                padding_mode: str = "zeros", align_corners: bool = False) -> Tensor:
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
        raise ValueError(f"grid_sample: expected a 4-D or 5-D input and a grid with as many "
                         f"axes, got input {input.shape} and grid {grid.shape}")
    if grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected grid and input to have the same batch size, "
                         f"got input {input.shape} and grid {grid.shape}")
    if grid.shape[-1] != input.ndim - 2:
        raise ValueError(f"grid_sample: expected grid's last axis to have size {input.ndim - 2} "
                         f"for a {input.ndim}-D input, got grid {grid.shape}")
    if min(input.shape[2:]) == 0:
        raise ValueError(f"grid_sample: expected an input with non-empty spatial axes, got "
                         f"{input.shape}")
    if mode == "bicubic" and input.ndim != 4:
        raise ValueError(f"grid_sample: bicubic supports only 4-D input, got {input.shape}")
    if input.dtype.kind != "f" or grid.dtype != input.dtype:
        raise TypeError(f"grid_sample: expected floating input and grid of the same dtype, got "
                        f"{input.dtype} and {grid.dtype}")
    return GridSample(mode, padding_mode, align_corners)(input, grid)
