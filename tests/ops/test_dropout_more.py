"""dropout1d / dropout2d / dropout3d (whole channels) and alpha_dropout: mask shapes, scaling,
statistics, eval mode, the generator they draw from, gradients, errors. numpy's streams are not
torch's, so these check the rules rather than torch's values."""

import warnings

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

ALPHA = 1.7580993408473766  # -SELU's floor, torch's alpha_dropout constant


def _channel_cases():
    # (function, input shape, mask shape: one draw per channel)
    return [
        (F.dropout1d, (4, 5, 7), (4, 5, 1)),
        (F.dropout1d, (5, 7), (5, 1)),  # unbatched (C, L)
        (F.dropout2d, (4, 5, 3, 2), (4, 5, 1, 1)),
        (F.dropout3d, (2, 5, 2, 3, 2), (2, 5, 1, 1, 1)),
        (F.dropout3d, (5, 2, 3, 2), (5, 1, 1, 1)),  # unbatched (C, D, H, W)
    ]


@pytest.mark.parametrize("fn, shape, mask_shape", _channel_cases())
def test_whole_channels_are_dropped_and_the_rest_rescaled(fn, shape, mask_shape, rng):
    x = rng.uniform(1, 2, shape)
    y = fn(Tensor(x), 0.4, True, np.random.default_rng(3)).data
    # the mask is one draw per channel from the generator given, keep = u >= p
    keep = np.random.default_rng(3).random(mask_shape) >= 0.4
    np.testing.assert_allclose(y, x * keep / 0.6, rtol=1e-15)
    assert 0 < keep.sum() < keep.size


def test_dropout2d_reads_a_3d_input_as_n_c_l_with_a_warning_as_torch(rng):
    x = rng.uniform(1, 2, (4, 5, 3))
    with pytest.warns(UserWarning, match=r"dropout2d: a 3D input is read as \(N, C, L\)"):
        y = F.dropout2d(Tensor(x), 0.5, True, np.random.default_rng(0)).data
    keep = np.random.default_rng(0).random((4, 5, 1)) >= 0.5
    np.testing.assert_allclose(y, x * keep / 0.5, rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # eval mode still warns: the reading does not depend on it
        with pytest.raises(UserWarning):
            F.dropout2d(Tensor(x), 0.5, training=False)


@pytest.mark.parametrize("fn, shape, spatial_axes", [
    (F.dropout1d, (2000, 10, 3), 1), (F.dropout1d, (20000, 3), 1),
    (F.dropout2d, (2000, 10, 2, 2), 2), (F.dropout3d, (1000, 20, 1, 2, 1), 3),
    (F.dropout3d, (20000, 2, 1, 1), 3),
])
def test_dropped_fraction_is_p(fn, shape, spatial_axes):
    # 20,000 channels at p = 0.3: the dropped fraction is within 4 standard deviations of p
    y = fn(Tensor(np.ones(shape)), 0.3, True, np.random.default_rng(1)).data
    per_channel = y.reshape(-1, int(np.prod(shape[-spatial_axes:])))
    dropped = np.all(per_channel == 0, axis=1)
    np.testing.assert_allclose(per_channel[~dropped], 1 / 0.7, rtol=1e-15)
    assert dropped.size == 20000
    assert abs(dropped.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / dropped.size)


_RANKS = {"dropout1d": 3, "dropout2d": 4, "dropout3d": 5}  # (by name: dispatch may wrap F.*)


@pytest.mark.parametrize("fn", [F.dropout1d, F.dropout2d, F.dropout3d])
def test_identity_when_not_training_or_p_is_zero(fn, rng):
    x = Tensor(rng.standard_normal((2, 3, 2, 2, 2)[:_RANKS[fn.__name__]]))
    assert fn(x, 0.5, training=False) is x
    assert fn(x, 0.0) is x
    assert F.alpha_dropout(x, 0.5) is x  # torch's F.alpha_dropout defaults to training=False
    assert F.alpha_dropout(x, 0.0, training=True) is x


@pytest.mark.parametrize("fn, shape, mask_shape", _channel_cases())
def test_draws_from_the_default_generator(fn, shape, mask_shape):
    x = Tensor(np.ones(shape))
    dlpy.manual_seed(7)
    first = fn(x, 0.5).data
    after = dlpy.default_generator().random()
    dlpy.manual_seed(7)
    np.testing.assert_array_equal(fn(x, 0.5).data, first)
    dlpy.manual_seed(7)  # torch's: one Bernoulli(1 - p) draw per channel, then divided by 1 - p
    keep = dlpy.empty(mask_shape, dtype=dlpy.float64).bernoulli_(0.5).numpy()
    np.testing.assert_array_equal(first, np.broadcast_to(keep / 0.5, shape))
    assert dlpy.default_generator().random() == after


@pytest.mark.parametrize("fn, shape, mask_shape", _channel_cases())
def test_gradient_is_the_mask(fn, shape, mask_shape, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda t: fn(t, 0.5, True, np.random.default_rng(2)), x)
    y = fn(x, 0.5, True, np.random.default_rng(2))
    x.grad = None
    y.backward(np.ones(shape))
    keep = np.random.default_rng(2).random(mask_shape) >= 0.5
    np.testing.assert_array_equal(x.grad, np.broadcast_to(keep * 2.0, shape))


def test_alpha_dropout_values_and_statistics():
    p = 0.2
    x = np.random.default_rng(0).standard_normal(400_000)
    y = F.alpha_dropout(Tensor(x), p, True, np.random.default_rng(1)).data
    a = 1 / np.sqrt((ALPHA**2 * p + 1) * (1 - p))
    keep = np.random.default_rng(1).random(x.shape) >= p
    np.testing.assert_allclose(y, np.where(keep, a * x + ALPHA * a * p, -ALPHA * a + ALPHA * a * p),
                               rtol=1e-14, atol=1e-15)
    # a zero-mean, unit-variance input keeps its mean and variance (the point of alpha dropout)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    assert abs((~keep).mean() - p) < 0.005


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_alpha_dropout_gradient_and_dtype(dtype, rng):
    x = Tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    y = F.alpha_dropout(x, 0.5, True, np.random.default_rng(4))
    assert y.dtype == dtype
    y.backward(np.ones((3, 4), dtype=dtype))
    a = 1 / np.sqrt((ALPHA**2 * 0.5 + 1) * 0.5)
    keep = np.random.default_rng(4).random((3, 4)) >= 0.5
    np.testing.assert_allclose(x.grad, keep * a, rtol=1e-6)
    assert x.grad.dtype == dtype
    x64 = Tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    assert gradcheck(lambda t: F.alpha_dropout(t, 0.3, True, np.random.default_rng(5)), x64)


@pytest.mark.parametrize("fn", [F.dropout1d, F.dropout2d, F.dropout3d])
def test_channel_dropout_keeps_float32(fn, rng):
    shape = (2, 3, 4, 2, 2)[:_RANKS[fn.__name__]]
    x = Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    y = fn(x, 0.5, True, np.random.default_rng(0))
    y.backward(np.ones(shape, dtype=np.float32))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_errors():
    x3 = Tensor(np.zeros((2, 3, 4)))
    x5 = Tensor(np.zeros((2, 3, 4, 5, 6)))
    with pytest.raises(ValueError, match=r"dropout1d: expected a 2D \(C, L\) or 3D \(N, C, L\) "
                                         r"input, got 4D input of shape \(2, 3, 4, 5\)"):
        F.dropout1d(Tensor(np.zeros((2, 3, 4, 5))))
    # other ranks warn and run, as torch's: dropout2d per (n, c), dropout3d read as unbatched
    with pytest.warns(UserWarning, match=r"dropout2d: received a 5D input of shape"):
        y = F.dropout2d(x5 + 1, 0.5, True, np.random.default_rng(0))
    assert np.all((y.data == y.data[..., :1, :1, :1]) & np.isin(y.data, (0, 2)))
    with pytest.warns(UserWarning, match=r"dropout3d: received a 3D input of shape"):
        y = F.dropout3d(x3 + 1, 0.5, True, np.random.default_rng(0))
    assert np.all((y.data == y.data[:, :1, :1]) & np.isin(y.data, (0, 2)))
    with pytest.raises(ValueError, match=r"dropout2d: feature dropout needs an input with at "
                                         r"least 2 dimensions \(N, C, \.\.\.\), got shape \(3,\)"):
        with pytest.warns(UserWarning):
            F.dropout2d(Tensor(np.ones(3)), 0.5)
    with pytest.raises(TypeError, match=r"dropout: expected a floating point input for 0 < p < 1"):
        F.dropout(Tensor(np.arange(3)), 0.5)
    for fn in (F.dropout1d, F.alpha_dropout):
        name = fn.__name__
        with pytest.raises(ValueError, match=rf"{name}: p must be in \[0, 1\], got 1.5"):
            fn(x3, 1.5, True)
        np.testing.assert_array_equal(fn(x3, 1, True).data, np.zeros(x3.shape))  # as torch's
        with pytest.raises(ValueError, match=rf"{name}: p must be in \[0, 1\], got -0.1"):
            fn(x3, -0.1, True)
        with pytest.raises(ValueError, match=rf"{name}: p must be in \[0, 1\], got '0.5'"):
            fn(x3, "0.5", True)
