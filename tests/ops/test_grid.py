"""F.affine_grid and F.grid_sample (nearest, bilinear, bicubic; zeros, border, reflection
padding; align_corners; 4-D and 5-D): values and gradients against PyTorch
(tests/fixtures/ops/grid.npz, with points exactly on the borders and nearest's ties), gradient
checks, errors, and a spatial transformer that learns to undo a shift."""

import itertools

import numpy as np
import pytest
from second_order import check_second_order

import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.grid import MODES, PADDING_MODES
from dlpy.optim import Adam
from dlpy.testing import gradcheck


def sample(mode, padding_mode, align_corners):
    return lambda x, grid: F.grid_sample(x, grid, mode, padding_mode, align_corners)


TORCH_CASES = {
    "affine_2d": lambda th: F.affine_grid(th, (2, 3, 4, 5), False),
    "affine_2d_align_corners": lambda th: F.affine_grid(th, (2, 3, 4, 5), True),
    "affine_3d": lambda th: F.affine_grid(th, (2, 1, 2, 3, 4), False),
    "affine_3d_align_corners": lambda th: F.affine_grid(th, (1, 2, 2, 3, 4), True),
    "affine_2d_size_one": lambda th: F.affine_grid(th, (3, 1, 1, 4), False),
    "sample_size_one_axes": sample("bilinear", "reflection", True),
    "sample_bicubic_size_one_axes": sample("bicubic", "border", False),
    "spatial_transformer": lambda x, th: F.grid_sample(x, F.affine_grid(th, (2, 3, 4, 7))),
}
for _mode, _padding, _align in itertools.product(MODES, PADDING_MODES, (False, True)):
    _suffix = f"{_mode}_{_padding}{'_align_corners' if _align else ''}"
    TORCH_CASES[f"sample_{_suffix}"] = sample(_mode, _padding, _align)
    TORCH_CASES[f"edges_{_suffix}"] = sample(_mode, _padding, _align)
    if _mode != "bicubic" and _align == (_padding == "border"):
        TORCH_CASES[f"sample_3d_{_suffix}"] = sample(_mode, _padding, _align)


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("grid", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("grid") == set(TORCH_CASES)


def test_nearest_gives_the_grid_a_zero_gradient(rng):
    x = Tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    grid = Tensor(rng.uniform(-1, 1, (1, 2, 2, 2)), requires_grad=True)
    F.grid_sample(x, grid, mode="nearest").sum().backward()
    np.testing.assert_array_equal(grid.grad, np.zeros(grid.shape))
    assert x.grad.sum() == pytest.approx(2 * 4)  # each of 4 points read one value a channel


def test_gradient_of_one_input_alone_is_the_same(rng):
    x = rng.standard_normal((2, 2, 3, 4))
    grid = rng.uniform(-1.2, 1.2, (2, 3, 2, 2))
    both = [Tensor(x, requires_grad=True), Tensor(grid, requires_grad=True)]
    F.grid_sample(*both, mode="bicubic").sum().backward()
    for wanted in range(2):
        alone = [Tensor(x, requires_grad=wanted == 0), Tensor(grid, requires_grad=wanted == 1)]
        F.grid_sample(*alone, mode="bicubic").sum().backward()
        np.testing.assert_allclose(alone[wanted].grad, both[wanted].grad, rtol=1e-12)
        assert alone[1 - wanted].grad is None


def test_identity_grid_reads_the_image_back(rng):
    x = rng.standard_normal((2, 3, 5, 4))
    for align_corners in (False, True):
        grid = F.affine_grid(Tensor(np.tile(np.eye(2, 3), (2, 1, 1))), x.shape, align_corners)
        for mode in ("bilinear", "nearest", "bicubic"):
            y = F.grid_sample(Tensor(x), grid, mode, align_corners=align_corners)
            np.testing.assert_allclose(y.data, x, atol=1e-12, err_msg=mode)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_gradcheck(mode, padding_mode, align_corners):
    # random points: none within the finite differences' step of a kink (integer pixels, the
    # borders), where the one-sided derivatives differ
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((2, 2, 3, 4)), requires_grad=True)
    grid = Tensor(rng.uniform(-1.3, 1.3, (2, 3, 2, 2)), requires_grad=True)
    assert gradcheck(sample(mode, padding_mode, align_corners), x, grid)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_3d_gradcheck(mode, padding_mode):
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((1, 2, 2, 3, 4)), requires_grad=True)
    grid = Tensor(rng.uniform(-1.3, 1.3, (1, 2, 2, 2, 3)), requires_grad=True)
    assert gradcheck(sample(mode, padding_mode, padding_mode == "border"), x, grid)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_second_order(mode, padding_mode):
    # create_graph gradients (the image's and the grid's) are differentiable again, as torch's
    check_second_order(sample(mode, padding_mode, padding_mode == "border"), (2, 2, 3, 4),
                       (2, 3, 2, 2), seed=5)
    if mode != "bicubic":
        check_second_order(sample(mode, padding_mode, padding_mode == "zeros"), (1, 2, 2, 3, 3),
                           (1, 2, 1, 2, 3), seed=6)


@pytest.mark.parametrize("size", [(2, 1, 3, 4), (1, 2, 2, 3, 4)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_gradcheck(size, align_corners, rng):
    k = len(size) - 2
    theta = Tensor(rng.standard_normal((size[0], k, k + 1)), requires_grad=True)
    assert gradcheck(lambda th: F.affine_grid(th, size, align_corners), theta)


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((1, 2, 3, 4)).astype(np.float32), requires_grad=True)
    theta = Tensor(np.eye(2, 3, dtype=np.float32)[None] * 0.9, requires_grad=True)
    y = F.grid_sample(x, F.affine_grid(theta, (1, 2, 5, 5)), mode="bicubic")
    y.sum().backward()
    assert y.dtype == x.grad.dtype == theta.grad.dtype == np.float32


@pytest.mark.parametrize("align_corners", [False, True])
def test_identity_grid_is_symmetric_as_torch_linspace(align_corners):
    # torch's linspace counts the second half back from 1, so the base grid is symmetric bit
    # for bit; identity-warped pixels then sit exactly on pixel centres (the side bilinear's
    # gradient takes at a centre depends on that last bit)
    theta = Tensor(np.eye(2, 3)[None])
    grid = F.affine_grid(theta, (1, 1, 6, 6), align_corners=align_corners).data
    assert np.array_equal(grid[0, 0, :, 0], -grid[0, 0, ::-1, 0])
    if not align_corners:  # torch 2.13's values
        assert grid[0, 0, :, 0].tolist() == [-0.8333333333333334, -0.5, -0.16666666666666663,
                                             0.16666666666666663, 0.5, 0.8333333333333334]


def test_spatial_transformer_learns_to_undo_a_shift():
    """Two blobs shifted by (0.3, -0.2) in grid units; a learnable theta, starting at the
    identity, resamples the shifted image back: the loss falls 20-fold (to what two bilinear
    resamplings of 16 x 16 pixels leave) and theta is the inverse shift, which a wrong grid
    gradient would not find."""
    size = (1, 1, 16, 16)
    ys, xs = np.meshgrid(np.linspace(-1, 1, 16), np.linspace(-1, 1, 16), indexing="ij")

    def blob(x0, y0, width):
        return np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / width)

    image = Tensor((blob(-0.2, 0.1, 0.1) + 0.7 * blob(0.3, -0.2, 0.05))[None, None])
    shift = Tensor(np.array([[[1.0, 0.0, 0.3], [0.0, 1.0, -0.2]]]))
    shifted = F.grid_sample(image, F.affine_grid(shift, size), padding_mode="border")
    theta = Tensor(np.eye(2, 3)[None].copy(), requires_grad=True)
    optimizer = Adam([theta], lr=0.02)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        restored = F.grid_sample(shifted, F.affine_grid(theta, size), padding_mode="border")
        loss = F.mse_loss(restored, image)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert losses[-1] < losses[0] / 20
    np.testing.assert_allclose(theta.data[0, :, 2], [-0.3, 0.2], atol=0.01)
    np.testing.assert_allclose(theta.data[0, :, :2], np.eye(2), atol=0.05)


@pytest.mark.parametrize("call, message", [
    (lambda: F.affine_grid(Tensor(np.zeros((2, 2, 3))), (3, 1, 4, 4)),
     r"affine_grid: expected theta of shape \(3, 2, 3\) .* got \(2, 2, 3\)"),
    (lambda: F.affine_grid(Tensor(np.zeros((2, 2, 3))), (2, 1, 4, 4, 4)),
     r"affine_grid: expected theta of shape \(2, 3, 4\)"),
    (lambda: F.affine_grid(Tensor(np.zeros((2, 2, 3))), (2, 1, 4)),
     r"affine_grid: size must be \(N, C, H, W\) or \(N, C, D, H, W\).*got \(2, 1, 4\)"),
    (lambda: F.grid_sample(Tensor(np.zeros((2, 1, 3, 3))), Tensor(np.zeros((2, 3, 3, 3)))),
     r"grid_sample: expected grid's last axis to have size 2 .* got grid \(2, 3, 3, 3\)"),
    (lambda: F.grid_sample(Tensor(np.zeros((2, 1, 3, 3))), Tensor(np.zeros((1, 3, 3, 2)))),
     r"grid_sample: expected grid and input to have the same batch size"),
    (lambda: F.grid_sample(Tensor(np.zeros((1, 3, 3))), Tensor(np.zeros((1, 3, 2)))),
     r"grid_sample: expected a 4-D or 5-D input .* got input \(1, 3, 3\)"),
    (lambda: F.grid_sample(Tensor(np.zeros((1, 1, 3, 3))), Tensor(np.zeros((1, 2, 2, 2))),
                           mode="linear"),
     r"grid_sample: mode must be one of bilinear, nearest, bicubic, got 'linear'"),
    (lambda: F.grid_sample(Tensor(np.zeros((1, 1, 3, 3))), Tensor(np.zeros((1, 2, 2, 2))),
                           padding_mode="wrap"),
     r"grid_sample: padding_mode must be one of zeros, border, reflection, got 'wrap'"),
    (lambda: F.grid_sample(Tensor(np.zeros((1, 1, 2, 3, 3))), Tensor(np.zeros((1, 2, 2, 2, 3))),
                           mode="bicubic"),
     r"grid_sample: bicubic supports only 4-D input"),
    (lambda: F.grid_sample(Tensor(np.zeros((1, 1, 0, 3))), Tensor(np.zeros((1, 2, 2, 2)))),
     r"grid_sample: expected an input with non-empty spatial axes, got \(1, 1, 0, 3\)"),
])
def test_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_type_errors():
    x = Tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match="grid_sample: expected floating input and grid of the "
                                        "same dtype, got float64 and float32"):
        F.grid_sample(x, Tensor(np.zeros((1, 2, 2, 2), np.float32)))
    with pytest.raises(TypeError, match="grid_sample: align_corners must be True or False"):
        F.grid_sample(x, Tensor(np.zeros((1, 2, 2, 2))), align_corners=1)
    # not given (or None): False, with torch's warning
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        default = F.grid_sample(x + 1, Tensor(np.zeros((1, 2, 2, 2))))
    assert np.array_equal(default.data, F.grid_sample(x + 1, Tensor(np.zeros((1, 2, 2, 2))),
                                                      align_corners=False).data)
    with pytest.raises(TypeError, match="affine_grid: theta must be floating point, got int64"):
        F.affine_grid(Tensor(np.zeros((1, 2, 3), np.int64)), (1, 1, 2, 2))
