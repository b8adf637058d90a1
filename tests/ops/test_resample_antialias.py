"""F.interpolate(..., antialias=True), bilinear and bicubic: values and gradients against
PyTorch's _upsample_bilinear2d_aa / _upsample_bicubic2d_aa in float64
(tests/fixtures/ops/resample_antialias.npz, make_resample_antialias_fixtures.py), the taps'
normalisation, gradient checks, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.resample import antialias_taps
from dlpy.testing import gradcheck


def antialiased(**settings):
    return lambda x: F.interpolate(x, antialias=True, **settings)


TORCH_CASES = {
    "bilinear_down": antialiased(size=(4, 5), mode="bilinear"),
    "bilinear_up": antialiased(size=(7, 9), mode="bilinear"),
    "bilinear_mixed": antialiased(size=(3, 9), mode="bilinear"),
    "bilinear_far_down": antialiased(size=(3, 2), mode="bilinear"),
    "bilinear_scale": antialiased(scale_factor=0.4, mode="bilinear"),
    "bilinear_scale_pair": antialiased(scale_factor=(0.45, 1.7), mode="bilinear"),
    "bilinear_align_corners": antialiased(size=(4, 3), mode="bilinear", align_corners=True),
    "bilinear_keeps_one_axis": antialiased(size=(6, 4), mode="bilinear"),
    "bicubic_down": antialiased(size=(4, 5), mode="bicubic"),
    "bicubic_up": antialiased(size=(8, 7), mode="bicubic"),
    "bicubic_far_down": antialiased(size=(3, 4), mode="bicubic"),
    "bicubic_scale": antialiased(scale_factor=(0.3, 0.6), mode="bicubic"),
    "bicubic_align_corners": antialiased(size=(4, 3), mode="bicubic", align_corners=True),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("resample_antialias", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("resample_antialias") == set(TORCH_CASES)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("size, out", [(9, 4), (23, 3), (4, 7), (10, 9), (5, 1)])
def test_taps_sum_to_one_within_the_axis(mode, size, out):
    indices, weights, skip = antialias_taps(mode, size, out, None, False, np.float64)
    assert indices.shape == weights.shape and indices.min() >= 0 and indices.max() < size
    np.testing.assert_allclose(weights.sum(axis=0), np.ones(out), rtol=1e-12)
    # the taps past an output's window weigh nothing, and are the skipped ones
    if skip is not None:
        assert skip.shape == weights.shape and (weights[skip] == 0).all()
    half = 1 if mode == "linear" else 2
    assert indices.shape[0] == 2 * int(np.ceil(half * max(size / out, 1.0))) + 1


def test_downsampling_averages_what_plain_bilinear_skips():
    # one bright pixel in three, reduced 3 times: plain bilinear reads x[3 i + 1] only and
    # misses every bright pixel; antialiased averages each triple (1/3 away from the edges)
    x = Tensor(np.tile(np.array([1.0, 0.0, 0.0]), 8).reshape(1, 1, 1, 24))
    plain = F.interpolate(x, size=(1, 8), mode="bilinear").data
    smooth = F.interpolate(x, size=(1, 8), mode="bilinear", antialias=True).data
    np.testing.assert_array_equal(plain, 0.0)
    np.testing.assert_allclose(smooth[..., 1:-1], 1 / 3, rtol=1e-12)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("shape, size", [((2, 1, 7, 6), (3, 4)), ((1, 2, 3, 5), (6, 2)),
                                         ((1, 1, 1, 8), (1, 3))])
def test_gradcheck(mode, shape, size, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda t: F.interpolate(t, size=size, mode=mode, antialias=True), x)


def test_float32_stays_float32_and_near_float64(rng):
    x = rng.standard_normal((1, 3, 40, 33))
    for mode in ("bilinear", "bicubic"):
        ours32 = F.interpolate(Tensor(x.astype(np.float32)), size=(9, 14), mode=mode,
                               antialias=True)
        ours64 = F.interpolate(Tensor(x), size=(9, 14), mode=mode, antialias=True)
        assert ours32.dtype == np.float32
        np.testing.assert_allclose(ours32.data, ours64.data, rtol=1e-4, atol=1e-5)


def test_errors():
    x = Tensor(np.zeros((1, 2, 3, 4)))
    for mode in ("nearest", "nearest-exact", "area"):
        with pytest.raises(NotImplementedError, match=r"interpolate: antialias is only for modes "
                                                      rf"bilinear and bicubic.*'{mode}'"):
            F.interpolate(x, size=2, mode=mode, antialias=True)
    with pytest.raises(NotImplementedError, match=r"interpolate: antialias.*'linear'"):
        F.interpolate(Tensor(np.zeros((1, 2, 3))), size=2, mode="linear", antialias=True)
    with pytest.raises(TypeError, match=r"interpolate: antialias must be True or False, got 1"):
        F.interpolate(x, size=2, mode="bilinear", antialias=1)
