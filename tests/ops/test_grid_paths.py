"""F.grid_sample's gather/bincount paths (ops/grid.py) against the implementation they replaced,
kept here as the reference (per-tap masks and indices, channels-last gathers): every mode,
padding mode and align_corners, 2-D and 3-D, both input layouts (planes for few channels, rows
of channels for many), values and both gradients in float64 to 1e-12; points far outside,
exactly on the borders and on pixel centres; empty batches and channels; gradient checks."""

import itertools

import numpy as np
import pytest

import dlpy.functional as F
import dlpy.ops.grid as grid_ops
from dlpy import Tensor, no_grad
from dlpy.ops.grid import MODES, PADDING_MODES, _cubic_slopes, _pad
from dlpy.ops.resample import _cubic
from dlpy.testing import gradcheck


def reference_axis_taps(coordinate, size, mode, padding_mode, align_corners):
    """The previous _axis_taps: (indices, weights, derivatives) over one axis' taps."""
    scale = (size - 1) / 2 if align_corners else size / 2
    source = (coordinate + 1) * scale - (0 if align_corners else 0.5)
    slope = np.full(coordinate.shape, scale, dtype=coordinate.dtype)
    if mode == "bicubic":
        first = np.floor(source)
        fraction = source - first
        near, far = _cubic_slopes(fraction)
        indices = [first - 1 + k for k in range(4)]
        weights = _cubic(fraction, coordinate.dtype.type)
        derivatives = [d * slope for d in (far(fraction + 1), near(fraction),
                                           -near(1 - fraction), -far(2 - fraction))]
        if padding_mode != "zeros":
            indices = [_pad(index, size, padding_mode, align_corners)[0] for index in indices]
    else:
        source, slope = _pad(source, size, padding_mode, align_corners, slope)
        if mode == "nearest":
            indices, weights, derivatives = [np.rint(source)], [1], [0 * slope]
        else:
            first = np.floor(source)
            fraction = source - first
            indices, weights, derivatives = [first, first + 1], [1 - fraction, fraction], \
                [-slope, slope]
    inside = [(index >= 0) & (index <= size - 1) for index in indices]
    indices = [np.clip(index, 0, size - 1).astype(np.int64) for index in indices]
    weights = [np.where(ok, w, 0).astype(coordinate.dtype) for ok, w in zip(inside, weights)]
    derivatives = [np.where(ok, d, 0) for ok, d in zip(inside, derivatives)]
    return indices, weights, derivatives


def reference(x, grid, grad_output, mode, padding_mode, align_corners):
    """(y, dx, d grid) as the previous GridSample computed them: every tap's row into the
    channels-last input, its weight and its weight's derivatives, gathered and scattered."""
    sizes = x.shape[2:][::-1]
    per_axis = [reference_axis_taps(grid[..., k], size, mode, padding_mode, align_corners)
                for k, size in enumerate(sizes)]
    strides = np.cumprod((1,) + sizes[:-1])
    offset = np.arange(x.shape[0]).reshape((-1,) + (1,) * (grid.ndim - 2))
    offset = offset * int(strides[-1] * sizes[-1])
    values = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    g = np.moveaxis(grad_output, 1, -1).reshape(-1, x.shape[1])
    y = np.zeros(g.shape)
    dx = np.zeros(values.shape)
    dgrid = np.zeros(grid.shape)
    for combo in itertools.product(*[range(len(taps[0])) for taps in per_axis]):
        row, weight = offset, 1
        for (index, weight_k, _), k, stride in zip(per_axis, combo, strides):
            row = row + index[k] * int(stride)
            weight = weight * weight_k[k]
        row, weight = row.reshape(-1), np.broadcast_to(weight, grid.shape[:-1]).reshape(-1)
        y += weight[:, None] * values[row]
        np.add.at(dx, row, weight[:, None] * g)
        read = np.einsum("pc,pc->p", g, values[row]).reshape(grid.shape[:-1])
        factors = [(taps[1][k], taps[2][k]) for taps, k in zip(per_axis, combo)]
        for a in range(len(factors)):
            dgrid[..., a] += read * np.prod([slope if b == a else w for b, (w, slope)
                                             in enumerate(factors)], axis=0)
    y = np.moveaxis(y.reshape(grid.shape[:-1] + (x.shape[1],)), -1, 1)
    dx = np.moveaxis(dx.reshape((x.shape[0],) + x.shape[2:] + (x.shape[1],)), -1, 1)
    return y, dx, dgrid


def points(rng, shape):
    """A grid (N, *out, k) of random points in [-1.6, 1.6], with some far outside (+-5),
    exactly on the borders (+-1) and at pixel centres of a 5-wide axis (align_corners)."""
    grid = rng.uniform(-1.6, 1.6, shape)
    flat = grid.reshape(-1)
    special = np.array([-5.0, 5.0, -1.0, 1.0, 0.0, -0.5, 0.5, 1.0 + 1e-9, -1.0 - 1e-9])
    at = rng.choice(flat.size, size=flat.size // 3, replace=False)
    flat[at] = rng.choice(special, size=at.size)
    return grid


CASES = [(mode, padding, align, dims) for mode, padding, align, dims in
         itertools.product(MODES, PADDING_MODES, (False, True), (2, 3))
         if not (mode == "bicubic" and dims == 3)]


@pytest.fixture(params=["planes", "rows"])
def layout(request, monkeypatch):
    """The input read as planes (few channels) or as rows of channels (many)."""
    monkeypatch.setattr(grid_ops, "CHANNELS_LAST", 10 ** 9 if request.param == "planes" else 1)
    return request.param


@pytest.mark.parametrize("mode, padding_mode, align_corners, dims", CASES)
def test_matches_the_previous_implementation(mode, padding_mode, align_corners, dims, layout):
    rng = np.random.default_rng(len(CASES) * dims + CASES.index(
        (mode, padding_mode, align_corners, dims)))
    spatial = (5, 4) if dims == 2 else (3, 5, 4)
    out = (4, 6) if dims == 2 else (2, 3, 4)
    x = rng.standard_normal((2, 3) + spatial)
    grid = points(rng, (2,) + out + (dims,))
    grad_output = rng.standard_normal((2, 3) + out)
    xt, gt = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
    y = F.grid_sample(xt, gt, mode, padding_mode, align_corners)
    y.backward(grad_output)
    expected = reference(x, grid, grad_output, mode, padding_mode, align_corners)
    for name, got, want in zip(("y", "dx", "dgrid"), (y.data, xt.grad, gt.grad), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("size", [1, 2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_tiny_axes_match_the_previous_implementation(size, mode, padding_mode, layout):
    # one- and two-pixel axes: reflection's period of 0 (align_corners) or 2, every tap padded
    rng = np.random.default_rng(size)
    x = rng.standard_normal((1, 2, size, size + 1))
    grid = points(rng, (1, 3, 3, 2)) * 2
    grad_output = rng.standard_normal((1, 2, 3, 3))
    for align_corners in (False, True):
        xt, gt = Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)
        y = F.grid_sample(xt, gt, mode, padding_mode, align_corners)
        y.backward(grad_output)
        expected = reference(x, grid, grad_output, mode, padding_mode, align_corners)
        for got, want in zip((y.data, xt.grad, gt.grad), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_float32_is_computed_in_float32(mode, layout):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 5))
    grid = points(rng, (2, 4, 4, 2))
    grad_output = rng.standard_normal((2, 3, 4, 4))
    results = []
    for dtype in (np.float32, np.float64):
        xt = Tensor(x.astype(dtype), requires_grad=True)
        gt = Tensor(grid.astype(dtype), requires_grad=True)
        y = F.grid_sample(xt, gt, mode, "reflection")
        y.backward(grad_output.astype(dtype))
        assert y.dtype == xt.grad.dtype == gt.grad.dtype == dtype
        results.append((y.data, xt.grad, gt.grad))
    for low, high in zip(*results):
        np.testing.assert_allclose(low, high, rtol=1e-4, atol=1e-4)


def test_no_grad_forward_equals_the_recorded_one(rng):
    x = rng.standard_normal((2, 9, 5, 4))  # rows of channels
    grid = points(rng, (2, 3, 3, 2))
    with no_grad():
        plain = F.grid_sample(Tensor(x), Tensor(grid), "bicubic", "border")
    recorded = F.grid_sample(Tensor(x, requires_grad=True), Tensor(grid), "bicubic", "border")
    np.testing.assert_array_equal(plain.data, recorded.data)


def test_many_points_on_one_pixel_sum_their_gradients():
    # every point reads the same four pixels: the scattered gradients add up, none is lost
    x = Tensor(np.zeros((1, 2, 3, 3)), requires_grad=True)
    grid = Tensor(np.full((1, 5, 7, 2), 0.1))
    F.grid_sample(x, grid, align_corners=True).sum().backward()
    np.testing.assert_allclose(x.grad.sum(axis=(2, 3)), np.full((1, 2), 35.0), rtol=1e-12)
    assert np.count_nonzero(x.grad[0, 0]) == 4


@pytest.mark.parametrize("shape, grid_shape", [((0, 2, 3, 4), (0, 2, 2, 2)),
                                               ((2, 0, 3, 4), (2, 2, 2, 2)),
                                               ((2, 2, 3, 4), (2, 0, 2, 2))])
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_empty_batches_channels_and_grids(shape, grid_shape, padding_mode):
    x = Tensor(np.ones(shape), requires_grad=True)
    grid = Tensor(np.zeros(grid_shape), requires_grad=True)
    y = F.grid_sample(x, grid, "bicubic", padding_mode)
    y.sum().backward()
    assert y.shape == shape[:2] + grid_shape[1:3]
    np.testing.assert_array_equal(x.grad, np.zeros(shape))
    np.testing.assert_array_equal(grid.grad, np.zeros(grid_shape))


@pytest.mark.parametrize("mode, expected", [("bilinear", [0.0, 0.0, np.inf, 5.0]),
                                            ("nearest", [0.0, 0.0, np.inf, 5.0]),
                                            ("bicubic", [0.0, -np.inf, np.inf, np.nan])])
def test_an_inf_pixel_is_read_only_by_taps_inside(mode, expected):
    # PyTorch's values: points far outside, 1.5 and 0.5 pixels left of the inf pixel (0, 0),
    # and the centre; a tap outside the image is never read, so never 0 * inf (bicubic's
    # centre point reads the inf pixel with weight 0, as PyTorch's)
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 0, 0], x[0, 0, 1, 1] = np.inf, 5.0
    grid = np.array([[[[-3.0, -1 + 1 / 3], [-5 / 3, -2 / 3], [-1.0, -2 / 3], [0.0, 0.0]]]])
    with np.errstate(invalid="ignore"):
        y = F.grid_sample(Tensor(x), Tensor(grid), mode)
    np.testing.assert_array_equal(y.data.reshape(-1), expected)


def test_non_finite_points():
    # zeros padding: NaN (bilinear, bicubic: PyTorch's 2-D kernel's NaN weights), nearest
    # reads nothing; border and reflection: NaN reads index 0 and inf the border, as
    # PyTorch's clipping; bicubic's NaN stays NaN
    x = Tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    grid = Tensor(np.array([[[[np.nan, 0.0], [0.0, np.nan], [np.inf, 0.0], [-np.inf, 0.0]]]]))
    with np.errstate(invalid="ignore"):  # (numpy's warnings on NaN and inf)
        assert np.isnan(F.grid_sample(x, grid).data).all()
        assert np.isnan(F.grid_sample(x, grid, "bicubic").data).all()
        np.testing.assert_array_equal(F.grid_sample(x, grid, "nearest").data,
                                      np.zeros((1, 1, 1, 4)))
        for mode in ("bilinear", "nearest"):
            for padding_mode, expected in (("border", [3.0, 1.0, 5.0, 3.0]),
                                           ("reflection", [3.0, 1.0, 3.0, 3.0])):
                y = F.grid_sample(x, grid, mode, padding_mode)
                np.testing.assert_array_equal(y.data.reshape(-1), expected)
        assert np.isnan(F.grid_sample(x, grid, "bicubic", "border").data[..., :2]).all()


@pytest.mark.parametrize("mode, dims", [(mode, dims) for mode in MODES for dims in (2, 3)
                                        if not (mode == "bicubic" and dims == 3)])
def test_gradcheck_each_mode(mode, dims, layout):
    rng = np.random.default_rng(7)
    spatial = (3, 4) if dims == 2 else (2, 3, 4)
    x = Tensor(rng.standard_normal((2, 2) + spatial), requires_grad=True)
    grid = Tensor(rng.uniform(-1.3, 1.3, (2, 2, 3, dims) if dims == 2 else (2, 2, 2, 2, dims)),
                  requires_grad=True)
    for padding_mode in PADDING_MODES:
        assert gradcheck(lambda a, b, p=padding_mode: F.grid_sample(a, b, mode, p), x, grid)
