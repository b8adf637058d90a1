"""The Resample paths F.interpolate picks by shape (ops/resample.py): gathers for linear
downsampling along an axis followed by long runs (GATHER_RUN) against the band products, and
nearest upsampling by an integer factor (a sum of strided views of the gradient) against the
sorted scatter, in float64 to 1e-12; gradient checks of both."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.resample import Resample, resample, taps
from dlpy.testing import gradcheck


def run(x, axis, indices, weights, grad_output):
    t = Tensor(x, requires_grad=True)
    y = resample(t, axis, indices, weights)
    y.backward(grad_output)
    return y.data, t.grad


@pytest.mark.parametrize("mode, size, out", [("linear", 40, 15), ("linear", 33, 32),
                                             ("cubic", 40, 15), ("linear", 40, 90)])
def test_gathers_for_long_runs_equal_the_bands(mode, size, out, rng, monkeypatch):
    indices, weights = taps(mode, size, out, None, False, np.float64)
    x = rng.standard_normal((3, size, 20))  # runs of 20 after the axis
    grad_output = rng.standard_normal((3, out, 20))
    monkeypatch.setattr("dlpy.ops.resample.FORWARD_ROWS", 0)
    chosen = run(x, 1, indices, weights, grad_output)
    monkeypatch.setattr("dlpy.ops.resample.GATHER_RUN", 10 ** 9)  # never gathers: bands
    banded = run(x, 1, indices, weights, grad_output)
    monkeypatch.setattr("dlpy.ops.resample.FORWARD_FILL", 0)  # every band too full: gathers
    monkeypatch.setattr("dlpy.ops.resample.GATHER_RUN", 0)
    gathered = run(x, 1, indices, weights, grad_output)
    for ours, bands, gathers in zip(chosen, banded, gathered):
        np.testing.assert_allclose(ours, bands, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours, gathers, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("factor", [1, 2, 3])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_nearest_repeats_sum_their_gradients(factor, axis, rng):
    shape = [2, 3, 4]
    size = shape[axis]
    indices = (np.arange(size * factor) // factor)[None]
    resampler = Resample(axis, indices, None)
    assert resampler.forward(np.zeros(shape)).shape[axis] == size * factor
    assert resampler._repeats() == factor
    grad_output = rng.standard_normal(shape[:axis] + [size * factor] + shape[axis + 1:])
    expected = np.zeros(shape)
    for i, index in enumerate(indices[0]):  # the scatter, one output at a time
        np.moveaxis(expected, axis, 0)[index] += np.moveaxis(grad_output, axis, 0)[i]
    (grad,) = resampler.backward(grad_output)
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def test_repeats_need_the_exact_pattern():
    for indices in ([[0, 0, 1, 2]], [[0, 1, 0, 1]], [[1, 1, 0, 0]]):  # not i // 2 in order
        resampler = Resample(0, np.array(indices), None)
        resampler.forward(np.zeros(2 if max(indices[0]) == 1 else 3))
        assert resampler._repeats() == 0
    weighted = Resample(0, np.array([[0, 0, 1, 1]]), np.ones((1, 4)))
    weighted.forward(np.zeros(2))
    assert weighted._repeats() == 0


def test_interpolate_paths_gradcheck(rng):
    x = Tensor(rng.standard_normal((1, 2, 9, 18)), requires_grad=True)
    for settings in (dict(size=(4, 18), mode="bilinear"), dict(scale_factor=3, mode="nearest"),
                     dict(size=(4, 7), mode="bicubic")):
        assert gradcheck(lambda t, s=settings: F.interpolate(t, **s), x)


def test_indices_outside_the_axis_are_refused():
    x = Tensor(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"resample: indices must be in \[0, 5\) along axis 1, "
                                         r"got 0 to 5"):
        resample(x, 1, np.array([[0, 5]]), None)
    with pytest.raises(ValueError, match=r"got -1 to 1"):
        resample(x, 1, np.array([[-1, 1]]), None)
