"""F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, area; sizes, non-integer
scale factors, align_corners, recompute_scale_factor), its Resample op, and pixel_shuffle /
pixel_unshuffle: values and gradients against PyTorch (tests/fixtures/ops/resample.npz), the
float32 index arithmetic on a grid of sizes (resample_index.npz), gradient checks, errors."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.resample import resample, taps
from dlpy.testing import gradcheck

from .conftest import load_cases


def interpolate(**settings):
    return lambda x: F.interpolate(x, **settings)


TORCH_CASES = {
    "nearest_1d_scale": interpolate(scale_factor=1.7),
    "nearest_1d_size_down": interpolate(size=4),
    "nearest_2d_scale2": interpolate(scale_factor=2),
    "nearest_2d_scale_pair": interpolate(scale_factor=(0.6, 2.3)),
    "nearest_2d_size": interpolate(size=(7, 3)),
    "nearest_scale_keeps_size": interpolate(scale_factor=1.1),
    "nearest_recompute_scale": interpolate(scale_factor=1.1, recompute_scale_factor=True),
    "nearest_exact_1d_scale": interpolate(scale_factor=1.7, mode="nearest-exact"),
    "nearest_exact_2d_size": interpolate(size=(7, 3), mode="nearest-exact"),
    "linear_scale": interpolate(scale_factor=1.7, mode="linear"),
    "linear_size_down": interpolate(size=4, mode="linear"),
    "linear_align_corners": interpolate(scale_factor=2.5, mode="linear", align_corners=True),
    "linear_recompute_scale": interpolate(scale_factor=2.5, mode="linear",
                                          recompute_scale_factor=True),
    "linear_scale_keeps_size": interpolate(scale_factor=1.1, mode="linear"),
    "bilinear_scale": interpolate(scale_factor=1.5, mode="bilinear"),
    "bilinear_size_align_corners": interpolate(size=(3, 8), mode="bilinear",
                                               align_corners=True),
    "bilinear_scale_pair": interpolate(scale_factor=(0.6, 2.3), mode="bilinear"),
    "bilinear_scale2": interpolate(scale_factor=2, mode="bilinear"),
    "bicubic_scale": interpolate(scale_factor=1.5, mode="bicubic"),
    "bicubic_size_align_corners": interpolate(size=(6, 3), mode="bicubic", align_corners=True),
    "bicubic_scale_pair": interpolate(scale_factor=(0.7, 2.2), mode="bicubic"),
    "bicubic_scale_keeps_size": interpolate(scale_factor=1.1, mode="bicubic"),
    "area_1d_scale": interpolate(scale_factor=0.5, mode="area"),
    "area_2d_size": interpolate(size=(3, 4), mode="area"),
    "pixel_shuffle": lambda x: F.pixel_shuffle(x, 2),
    "pixel_shuffle_5d": lambda x: F.pixel_shuffle(x, 3),
    "pixel_shuffle_unbatched": lambda x: F.pixel_shuffle(x, 2),
    "pixel_unshuffle": lambda x: F.pixel_unshuffle(x, 2),
    "pixel_unshuffle_unbatched": lambda x: F.pixel_unshuffle(x, 3),
    "nearest_2d_scale_keeps_and_doubles": interpolate(scale_factor=(1.1, 2.3)),
}
# Where a scale factor gives out == in (1.1 on 5), PyTorch's 1-D nearest and its bicubic
# resample in forward but copy in backward: its gradient is not its forward's. dlpy matches the
# forward and gives the forward's gradient (gradcheck below).
FORWARD_ONLY = {"nearest_scale_keeps_size", "bicubic_scale_keeps_size"}


@pytest.mark.parametrize("case", sorted(set(TORCH_CASES) - FORWARD_ONLY))
def test_matches_torch(case, torch_reference):
    torch_reference("resample", case, TORCH_CASES[case])


@pytest.mark.parametrize("case", sorted(FORWARD_ONLY))
def test_forward_matches_torch_where_its_backward_is_a_copy(case, rng):
    record = load_cases("resample")[case]
    x = Tensor(record["in0"], requires_grad=True)
    np.testing.assert_allclose(TORCH_CASES[case](x).data, record["out"], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(record["grad0"], record["grad_out"])  # PyTorch's: a copy
    assert gradcheck(TORCH_CASES[case], x)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("resample") == set(TORCH_CASES)


INDEX_GRID = Path(__file__).resolve().parent.parent / "fixtures" / "ops" / "resample_index.npz"


@pytest.mark.parametrize("name", ["nearest", "nearest-exact", "linear",
                                  "linear_align_corners", "nearest_2d"])
def test_float32_grid_matches_torch(name):
    """Every size 1..11 to every output size up to 3 n + 1, and 15 scale factors (0.3 to 4.7,
    1/3, 0.999...): nearest's indices exactly (PyTorch's float32 arithmetic, and its 2-D
    kernel's copy at out == n and halving at out == 2 n), linear's values to float32
    rounding."""
    with np.load(INDEX_GRID) as data:
        rows, expected = data["rows"], data[f"out_{name}"]
        inputs = data[f"in_{name}"] if f"in_{name}" in data.files else None
    mode = "linear" if name.startswith("linear") else name.replace("_2d", "")
    extra = {"align_corners": name.endswith("corners")} if mode == "linear" else {}
    at = read = 0
    for n, out, scale in rows:
        n = int(n)
        if inputs is None:
            x = np.arange(n, dtype=np.float32)
        else:
            x, read = inputs[read: read + n], read + n
        if name == "nearest_2d":
            y = F.interpolate(Tensor(x.reshape(1, 1, 1, n)), size=(1, int(out)) if out else None,
                              scale_factor=None if out else (1.0, float(scale)))
        else:
            y = F.interpolate(Tensor(x.reshape(1, 1, n)), size=int(out) if out else None,
                              scale_factor=None if out else float(scale), mode=mode, **extra)
        assert y.dtype == np.float32
        want, at = expected[at: at + y.data.size], at + y.data.size
        if inputs is None:
            np.testing.assert_array_equal(y.data.reshape(-1), want,
                                          err_msg=f"{name} n={n} out={out} scale={scale}")
        else:
            np.testing.assert_allclose(y.data.reshape(-1), want, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} n={n} out={out} scale={scale}")
    assert at == expected.size


SETTINGS_1D = [dict(scale_factor=1.7), dict(size=4), dict(size=9), dict(scale_factor=0.6)]
SETTINGS_2D = [dict(scale_factor=1.5), dict(size=(3, 7)), dict(scale_factor=(0.6, 2.3))]


@pytest.mark.parametrize("settings", SETTINGS_1D)
@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("nearest-exact", None),
                                                 ("linear", False), ("linear", True),
                                                 ("area", None)])
def test_interpolate_1d_gradcheck(settings, mode, align_corners, rng):
    x = Tensor(rng.standard_normal((2, 2, 6)), requires_grad=True)
    assert gradcheck(interpolate(mode=mode, align_corners=align_corners, **settings), x)


@pytest.mark.parametrize("settings", SETTINGS_2D)
@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("bilinear", False),
                                                 ("bilinear", True), ("bicubic", False),
                                                 ("bicubic", True), ("area", None)])
def test_interpolate_2d_gradcheck(settings, mode, align_corners, rng):
    x = Tensor(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    assert gradcheck(interpolate(mode=mode, align_corners=align_corners, **settings), x)


def test_resample_backward_handles_unsorted_indices(rng):
    x = Tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
    indices = np.array([[4, 0, 0, 2, 4, 1], [3, 3, 1, 0, 2, 2]])
    weights = rng.standard_normal((2, 6))
    assert gradcheck(lambda t: resample(t, 1, indices, weights), x)
    assert gradcheck(lambda t: resample(t, 1, indices[:1], None), x)


def test_taps_are_pytorch_weights():
    # linear, align_corners False: 4 -> 8 puts sources at (i + 0.5) / 2 - 0.5, clamped at 0
    indices, weights = taps("linear", 4, 8, None, False, np.float64)
    np.testing.assert_array_equal(indices, [[0, 0, 0, 1, 1, 2, 2, 3], [1, 1, 1, 2, 2, 3, 3, 3]])
    np.testing.assert_allclose(weights[1], [0, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0.25])
    # cubic weights sum to 1 and copy at whole positions
    indices, weights = taps("cubic", 5, 9, None, True, np.float64)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-14)
    np.testing.assert_allclose(weights[:, ::2], [[0] * 5, [1] * 5, [0] * 5, [0] * 5],
                               atol=1e-15)


def test_nearest_upsampling_repeats_and_sums_gradients():
    x = Tensor(np.arange(6.0).reshape(1, 1, 2, 3), requires_grad=True)
    y = F.interpolate(x, scale_factor=2)
    np.testing.assert_array_equal(y.data[0, 0], np.repeat(np.repeat(x.data[0, 0], 2, 0), 2, 1))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 2, 3), 4.0))


def test_interpolate_keeps_dtype_and_copies_integers(rng):
    x = Tensor(rng.standard_normal((1, 2, 3, 4)).astype(np.float32))
    for mode in ("nearest", "bilinear", "bicubic", "area"):
        assert F.interpolate(x, scale_factor=2, mode=mode).dtype == np.float32
    ints = Tensor(np.arange(4).reshape(1, 1, 4))
    np.testing.assert_array_equal(F.interpolate(ints, size=8).data[0, 0],
                                  [0, 0, 1, 1, 2, 2, 3, 3])


def test_pixel_shuffle_round_trip_and_gradcheck(rng):
    x = Tensor(rng.standard_normal((2, 12, 2, 3)), requires_grad=True)
    y = F.pixel_shuffle(x, 2)
    assert y.shape == (2, 3, 4, 6)
    assert y.data[0, 1, 3, 5] == x.data[0, 1 * 4 + 1 * 2 + 1, 1, 2]  # c r^2 + i r + j
    np.testing.assert_array_equal(F.pixel_unshuffle(y, 2).data, x.data)
    assert gradcheck(lambda t: F.pixel_shuffle(t, 2), x)
    assert gradcheck(lambda t: F.pixel_unshuffle(t, 2), Tensor(y.data, requires_grad=True))
    assert gradcheck(lambda t: F.pixel_shuffle(t, 1), x)


def test_interpolate_errors():
    x = Tensor(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"interpolate: mode must be one of nearest, "
                                         r"nearest-exact, linear, bilinear, bicubic, trilinear, "
                                         r"area, got 'cubic'"):
        F.interpolate(x, size=2, mode="cubic")
    with pytest.raises(ValueError, match=r"interpolate: mode 'linear' needs x \(N, C, L\), got "
                                         r"\(1, 2, 3, 4\)"):
        F.interpolate(x, size=2, mode="linear")
    with pytest.raises(ValueError, match=r"interpolate: mode 'nearest' needs x \(N, C, L\), "
                                         r"\(N, C, H, W\) or \(N, C, D, H, W\), got \(3, 4\)"):
        F.interpolate(Tensor(np.zeros((3, 4))), size=2)
    with pytest.raises(ValueError, match=r"interpolate: give either size or scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match=r"interpolate: give either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate: align_corners can only be set with the "
                                         r"interpolating modes"):
        F.interpolate(x, size=2, align_corners=False)
    with pytest.raises(ValueError, match=r"interpolate: input and output sizes must be > 0, got "
                                         r"input \(3, 4\) and output \(0, 0\)"):
        F.interpolate(x, scale_factor=0.2)
    with pytest.raises(TypeError, match=r"interpolate: size must be an int or 2 ints for x "
                                        r"\(1, 2, 3, 4\), got \(2, 3, 4\)"):
        F.interpolate(x, size=(2, 3, 4))
    with pytest.raises(TypeError, match=r"interpolate: size must be an int or 2 ints"):
        F.interpolate(x, size=2.0)
    with pytest.raises(ValueError, match=r"interpolate: recompute_scale_factor is not "
                                         r"meaningful with an explicit size"):
        F.interpolate(x, size=2, recompute_scale_factor=True)
    with pytest.raises(NotImplementedError, match=r"interpolate: antialias is only for modes "
                                                  r"bilinear and bicubic"):  # as PyTorch
        F.interpolate(x, size=2, mode="nearest", antialias=True)
    assert F.interpolate(x, size=2, mode="bilinear", antialias=True).shape == (1, 2, 2, 2)
    with pytest.raises(TypeError, match=r"interpolate: mode 'bilinear' needs a floating-point "
                                        r"x, got int64"):
        F.interpolate(Tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), size=3, mode="bilinear")


def test_pixel_shuffle_errors():
    with pytest.raises(ValueError, match=r"pixel_shuffle: the channels \(axis -3\) must be "
                                         r"divisible by upscale_factor\^2 = 4, got 6"):
        F.pixel_shuffle(Tensor(np.zeros((1, 6, 2, 3))), 2)
    with pytest.raises(ValueError, match=r"pixel_shuffle: upscale_factor must be an int >= 1, "
                                         r"got 0"):
        F.pixel_shuffle(Tensor(np.zeros((1, 4, 2, 3))), 0)
    with pytest.raises(ValueError, match=r"pixel_shuffle: expected x \(\.\.\., C, H, W\), got "
                                         r"\(8, 2\)"):
        F.pixel_shuffle(Tensor(np.zeros((8, 2))), 2)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: the height and width must be "
                                         r"divisible by downscale_factor 2, got \(3, 4\)"):
        F.pixel_unshuffle(Tensor(np.zeros((1, 1, 3, 4))), 2)


@pytest.mark.parametrize("mode, size, out", [("linear", 300, 701), ("cubic", 300, 701),
                                             ("nearest", 300, 701), ("linear", 300, 37),
                                             ("cubic", 90, 41), ("nearest", 257, 64)])
@pytest.mark.parametrize("axis", [1, 2])
def test_band_products_equal_the_gathers(mode, size, out, axis, rng, monkeypatch):
    """Several bands (long axes), up- and downsampling, the last axis and an inner one: the
    products with A's bands give the gathered taps' values and gradients."""
    indices, weights = taps(mode, size, out, None, False, np.float64)
    shape = [2, 3, 4]
    shape[axis] = size
    x = rng.standard_normal(shape)
    grad_output = rng.standard_normal(shape[:axis] + [out] + shape[axis + 1:])

    def run():
        t = Tensor(x, requires_grad=True)
        y = resample(t, axis, indices, weights)
        y.backward(grad_output)
        return y.data, t.grad

    monkeypatch.setattr("dlpy.ops.resample.FORWARD_ROWS", 0)  # bands however few the rows
    banded = run()
    monkeypatch.setattr("dlpy.ops.resample.FORWARD_FILL", 0)  # every band too full: gathers
    monkeypatch.setattr("dlpy.ops.resample.BACKWARD_FILL", 0)
    gathered = run()
    for ours, theirs in zip(banded, gathered):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_non_finite_values_stay_in_their_taps(rng):
    """inf and NaN reach only the outputs whose taps read them (0 * inf would spread them
    over a band): the gathers' values, as PyTorch's kernels."""
    x = rng.standard_normal((1, 1, 40, 40))
    x[0, 0, 5, 7], x[0, 0, 30, 20] = np.inf, np.nan
    y = F.interpolate(Tensor(x), size=(80, 80), mode="bicubic").data
    bad = ~np.isfinite(y[0, 0])
    rows, columns = np.nonzero(bad)
    assert bad.sum() <= 2 * 8 * 8  # about 4 taps of each axis per value, doubled
    assert np.all((np.abs(rows - 11) <= 5) & (np.abs(columns - 15) <= 5)
                  | (np.abs(rows - 61) <= 5) & (np.abs(columns - 41) <= 5))
    t = Tensor(rng.standard_normal((1, 1, 40, 40)), requires_grad=True)
    grad_output = np.zeros((1, 1, 80, 80))
    grad_output[0, 0, 10, 10] = np.inf
    F.interpolate(t, size=(80, 80), mode="bilinear").backward(grad_output)
    assert 0 < np.isinf(t.grad).sum() <= 4 and not np.isnan(t.grad).any()
