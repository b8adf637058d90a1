"""Fractional max pooling against PyTorch (tests/fixtures/nn/last.npz, written by
tests/fixtures/make_nn_last_fixtures.py): the same samples give torch's values, indices and
gradients exactly, 2-d and 3-d, batched or not, float32 too; gradient checks; drawing samples;
the layers; F.max_pool*_with_indices; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_nn_last import FRACTIONAL
from npz_reference import load_npz

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.ops.pool_fractional import window_starts
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "last.npz"


@pytest.fixture(scope="module")
def ref():
    return load_npz(FIXTURE)


@pytest.mark.parametrize("name", sorted(FRACTIONAL))
def test_values_indices_and_gradients_match_torch(name, ref):
    nd, shape, kernel, size, ratio = FRACTIONAL[name]
    key = f"frac{nd}:{name}"
    x = Tensor(ref[f"{key}:x"], requires_grad=True)
    assert x.shape == shape and x.dtype == (np.float32 if name.endswith(":f32") else np.float64)
    pool = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    y, indices = pool(x, kernel, size, ratio, True, _random_samples=ref[f"{key}:samples"])
    np.testing.assert_array_equal(y.data, ref[f"{key}:y"])
    np.testing.assert_array_equal(indices.data, ref[f"{key}:indices"])
    assert indices.dtype == np.int64 and y.dtype == x.dtype
    (y * Tensor(ref[f"{key}:weight"])).sum().backward()
    np.testing.assert_array_equal(x.grad, ref[f"{key}:grad"])


@pytest.mark.parametrize("nd, shape, kernel, size", [
    (2, (2, 2, 7, 6), 2, (4, 3)), (2, (3, 6, 5), (3, 2), (3, 4)),
    (3, (1, 2, 5, 4, 6), 2, (3, 2, 4)),
])
def test_gradcheck(nd, shape, kernel, size):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    batch = shape[0] if len(shape) == nd + 2 else 1
    samples = rng.random((batch, shape[-nd - 1], nd))
    pool = F.fractional_max_pool2d if nd == 2 else F.fractional_max_pool3d
    assert gradcheck(lambda t: pool(t, kernel, size, _random_samples=samples), x)


def test_overlapping_windows_add_their_gradients():
    # a 1 x 4 row pooled by windows of 3 into 2 outputs: both windows hold the maximum x[2]
    x = Tensor(np.array([[[[0.0, 1.0, 5.0, 2.0]]]]), requires_grad=True)
    y, indices = F.fractional_max_pool2d(x, (1, 3), (1, 2), return_indices=True,
                                         _random_samples=np.array([[[0.5, 0.5]]]))
    np.testing.assert_array_equal(indices.data, [[[[2, 2]]]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.0, 0.0, 2.0, 0.0]]]])


def test_window_starts_are_torchs_intervals():
    # alpha = (10 - 2) / (4 - 1): start_i = int((i + u) alpha) - int(u alpha); the last window
    # ends at the input's end
    starts = window_starts(np.array([0.0, 0.5, 0.99]), 10, 4, 2)
    np.testing.assert_array_equal(starts, [[0, 2, 5, 8], [0, 3, 5, 8], [0, 3, 5, 8]])
    np.testing.assert_array_equal(window_starts(np.array([0.3]), 5, 1, 2), [[3]])


def test_nan_wins_its_window_and_the_last_nan_is_taken():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan
    y, indices = F.fractional_max_pool2d(Tensor(x), 2, (1, 2), return_indices=True,
                                         _random_samples=np.zeros((1, 1, 2)))
    assert np.isnan(y.data[0, 0, 0, 0]) and indices.data[0, 0, 0, 0] == 4  # (1, 0), the last
    assert y.data[0, 0, 0, 1] == 0 and indices.data[0, 0, 0, 1] == 2  # the first maximum


def test_extra_sample_rows_are_left_unused():
    # torch takes _random_samples with more rows than the batch (an unbatched input has 1) and
    # uses the first N
    x = dlpy.randn(2, 3, 8, 8)
    samples = np.random.default_rng(0).random((4, 3, 2))
    more = F.fractional_max_pool2d(x, 2, 4, _random_samples=samples)
    exact = F.fractional_max_pool2d(x, 2, 4, _random_samples=samples[:2])
    assert np.array_equal(more.data, exact.data)
    single = F.fractional_max_pool3d(dlpy.randn(3, 6, 6, 6), 2, 3,
                                     _random_samples=np.full((2, 3, 3), 0.5))
    assert single.shape == (3, 3, 3, 3)


def test_samples_are_drawn_from_the_generator():
    x = dlpy.randn(2, 3, 13, 13)  # alpha = 11 / 5: the starts depend on the samples
    a = F.fractional_max_pool2d(x, 2, output_ratio=0.5, rng=np.random.default_rng(5))
    b = F.fractional_max_pool2d(x, 2, output_ratio=0.5, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.data, b.data)
    samples = np.random.default_rng(5).random((2, 3, 2)).astype(np.float32)
    c = F.fractional_max_pool2d(x, 2, output_ratio=0.5, _random_samples=samples)
    np.testing.assert_array_equal(a.data, c.data)
    dlpy.manual_seed(1)
    d = F.fractional_max_pool2d(x, 2, output_ratio=0.5)
    draws = {F.fractional_max_pool2d(x, 2, output_ratio=0.5).data.tobytes() for _ in range(5)}
    assert len(draws) > 1  # new windows each call
    dlpy.manual_seed(1)
    np.testing.assert_array_equal(d.data, F.fractional_max_pool2d(x, 2, output_ratio=0.5).data)
    assert a.shape == (2, 3, 6, 6)


def test_with_indices_forms_always_return_indices(ref):
    key = "frac3:cube"
    x = Tensor(ref[f"{key}:x"])
    y, indices = F.fractional_max_pool3d_with_indices(x, 2, (3, 4, 3),
                                                      _random_samples=ref[f"{key}:samples"])
    np.testing.assert_array_equal(indices.data, ref[f"{key}:indices"])
    y2, i2 = F.fractional_max_pool2d_with_indices(Tensor(ref["frac2:square:x"]), 2, (4, 5),
                                                  _random_samples=ref["frac2:square:samples"])
    np.testing.assert_array_equal(i2.data, ref["frac2:square:indices"])
    x = dlpy.randn(2, 3, 9, 8)
    for nd, pool, adaptive in [(1, F.max_pool1d, F.adaptive_max_pool1d),
                               (2, F.max_pool2d, F.adaptive_max_pool2d),
                               (3, F.max_pool3d, F.adaptive_max_pool3d)]:
        data = x.reshape(2, 3, 72) if nd == 1 else x if nd == 2 else x.reshape(2, 3, 3, 3, 8)
        values, indices = getattr(F, f"max_pool{nd}d_with_indices")(data, 2, 1, 1)
        expected = pool(data, 2, 1, 1, return_indices=True)
        np.testing.assert_array_equal(values.data, expected[0].data)
        np.testing.assert_array_equal(indices.data, expected[1].data)
        values, indices = getattr(F, f"adaptive_max_pool{nd}d_with_indices")(data, 2)
        expected = adaptive(data, 2, return_indices=True)
        np.testing.assert_array_equal(indices.data, expected[1].data)
        assert indices.dtype == np.int64


def test_unpooling_the_indices_puts_the_maxima_back(ref):
    key = "frac2:square"
    y, indices = F.fractional_max_pool2d(Tensor(ref[f"{key}:x"]), 2, (4, 5), return_indices=True,
                                         _random_samples=ref[f"{key}:samples"])
    back = F.max_unpool2d(y, indices, (2, 4), (2, 1), output_size=(9, 8))  # (any that fit)
    flat = back.data.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, indices.data.reshape(2, 3, -1), -1),
                                  y.data.reshape(2, 3, -1))


def test_layers(ref):
    key = "frac2:rect"
    layer = nn.FractionalMaxPool2d((3, 2), output_ratio=(0.5, 0.7), return_indices=True,
                                   _random_samples=ref[f"{key}:samples"])
    y, indices = layer(Tensor(ref[f"{key}:x"]))
    np.testing.assert_array_equal(y.data, ref[f"{key}:y"])
    assert list(layer.state_dict()) == ["_random_samples"]  # a buffer, as PyTorch's
    assert repr(layer) == "FractionalMaxPool2d()"  # torch's prints no settings
    layer = nn.FractionalMaxPool3d(2, output_size=3, rng=np.random.default_rng(0))
    assert layer(dlpy.randn(2, 4, 6, 6, 6)).shape == (2, 4, 3, 3, 3)
    assert layer(dlpy.randn(4, 6, 6, 6)).shape == (4, 3, 3, 3)
    assert layer.state_dict() == {} and layer.output_size == (3, 3, 3)


@pytest.mark.parametrize("make, error, match", [
    (lambda: F.fractional_max_pool2d(dlpy.randn(1, 1, 8, 8), 2), ValueError,
     "fractional_max_pool2d: give an output_size or an output_ratio, got neither"),
    (lambda: F.fractional_max_pool2d(dlpy.randn(1, 1, 8, 8), 5, 5), ValueError,
     r"kernel_size 5 with output size 5 is too large for input size 8 \(axis 0"),
    (lambda: F.fractional_max_pool2d(dlpy.randn(1, 1, 8, 8), 2, output_ratio=1.5), ValueError,
     r"output_ratio must be a number or 2 numbers in \(0, 1\), got 1.5"),
    (lambda: F.fractional_max_pool3d(dlpy.randn(1, 8, 8), 2, 2), ValueError,
     r"fractional_max_pool3d: expected x \(N, C, D, H, W\) or unbatched"),
    (lambda: F.fractional_max_pool2d(dlpy.randn(2, 3, 8, 8), 2, 4,
                                     _random_samples=np.zeros((2, 3, 3))), ValueError,
     r"_random_samples must have shape \(at least N, C, 2\) = \(2, 3, 2\), got \(2, 3, 3\)"),
    (lambda: F.fractional_max_pool3d(dlpy.randn(2, 3, 8, 8, 8), 2, 4,
                                     _random_samples=np.zeros((1, 3, 3))), ValueError,
     r"_random_samples must have shape \(at least N, C, 3\) = \(2, 3, 3\), got \(1, 3, 3\)"),
    (lambda: F.fractional_max_pool2d(dlpy.randn(1, 1, 8, 8), 2, 4,
                                     _random_samples=np.ones((1, 1, 2))), ValueError,
     r"_random_samples must lie in \[0, 1\)"),
    (lambda: F.fractional_max_pool2d(dlpy.randn(1, 1, 8, 8), 0, 4), ValueError,
     "kernel_size must be positive"),
    (lambda: F.fractional_max_pool2d(dlpy.randn(1, 1, 8, 8), 2.5, 4), ValueError,
     "kernel_size: expected an int or a pair of ints, got 2.5"),
    (lambda: F.fractional_max_pool2d(Tensor(np.ones((1, 1, 4, 4), dtype=np.int64)), 2, 2),
     TypeError, "fractional_max_pool2d: expected a floating-point input, got int64"),
    (lambda: nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5), ValueError,
     "FractionalMaxPool2d: give one of output_size and output_ratio, got both"),
    (lambda: nn.FractionalMaxPool3d(2), ValueError,
     "FractionalMaxPool3d: give one of output_size and output_ratio, got neither"),
    (lambda: nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.0)), ValueError,
     r"FractionalMaxPool2d: output_ratio must be a number or 2 numbers in \(0, 1\)"),
])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_exported():
    assert {"fractional_max_pool2d", "fractional_max_pool3d_with_indices",
            "max_pool1d_with_indices", "adaptive_max_pool3d_with_indices"} <= set(F.__all__)
    assert {"FractionalMaxPool2d", "FractionalMaxPool3d"} <= set(nn.__all__)
