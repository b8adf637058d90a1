"""The fast paths of batch norm's and the sigmoid family's kernels (ops/norm.py, ops/activation.py,
ops/activation_more.py): channel sums as BLAS products, the blocked backward over several blocks
and its fallback for strided arrays, in-place activations at the extremes. The values and
gradients themselves are checked against PyTorch in test_batch_norm.py and test_activation*.py.
"""

import warnings

import numpy as np
import pytest

from dlpy.ops import norm
from dlpy.ops.activation import Sigmoid, SiLU
from dlpy.ops.activation_more import Hardsigmoid, Hardswish


def reference_batch_norm(x, w, b, g, eps=1e-5):
    """Training batch norm and its gradients in float64, the textbook formulas."""
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    h = g * w.reshape(shape)
    dx = (h - h.mean(axis=axes, keepdims=True)
          - xhat * (h * xhat).mean(axis=axes, keepdims=True)) * inv_std
    return xhat * w.reshape(shape) + b.reshape(shape), dx, (g * xhat).sum(axes), g.sum(axes)


# (2, 3, 110, 120): 39600 values a sample, more than one block of _channel_blocks; (40, 3, 16,
# 24): 1152 a sample, 28 samples a block and a last block of 12 (DCGAN's small images)
@pytest.mark.parametrize("shape", [(2, 3, 110, 120), (40, 3, 16, 24), (3, 2, 5), (4, 3)])
@pytest.mark.parametrize("strided", [False, True])
def test_batch_norm_blocks_and_strided_gradients(shape, strided, rng):
    width = shape[1] * int(np.prod(shape[2:]))
    assert len(shape) < 4 or width > norm._CHANNEL_BLOCK or (
        norm._CHANNEL_BLOCK // width < shape[0] and shape[0] % (norm._CHANNEL_BLOCK // width))
    x = rng.standard_normal(shape) * 3 + 2
    g = rng.standard_normal(shape)
    if strided:  # a gradient that is a transposed view: the unblocked formula
        g = np.ascontiguousarray(np.swapaxes(g, 0, -1)).swapaxes(0, -1)
        assert not g.flags.c_contiguous
    w, b = rng.uniform(0.5, 1.5, shape[1]), rng.standard_normal(shape[1])
    op = norm.BatchNorm(1e-5, True, True, True)
    got = [op.forward(x, w, b), *op.backward(g)]
    for a, expected in zip(got, reference_batch_norm(x, w, b, g)):
        np.testing.assert_allclose(a, expected, rtol=1e-10, atol=1e-10)


def test_batch_norm_float32_blocks_match_float64(rng):
    x = (rng.standard_normal((2, 3, 110, 120)) + 4).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w, b = np.full(3, 1.5, np.float32), np.zeros(3, np.float32)
    op = norm.BatchNorm(1e-5, True, True, True)
    got = [op.forward(x, w, b), *op.backward(g)]
    expected = reference_batch_norm(x.astype(np.float64), w.astype(np.float64),
                                    b.astype(np.float64), g.astype(np.float64))
    for a, e in zip(got, expected):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-5 * np.abs(e).max())


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (3, 4), (0, 4, 2), (2, 0, 3)])
def test_channel_sums_and_dots(dtype, shape, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    axes = (0, *range(2, len(shape)))
    sums, dots = norm._channel_sums(x), norm._channel_dots(x, y)
    assert sums.shape == dots.shape == (shape[1],) and sums.dtype == dots.dtype == dtype
    tol = 1e-2 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(sums, x.astype(np.float64).sum(axes), rtol=tol, atol=tol)
    np.testing.assert_allclose(dots, (x.astype(np.float64) * y).sum(axes), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_silu_at_the_extremes(dtype):
    x = np.array([-1e4, -100.0, -88.0, -20.0, -1.0, 0.0, 1.0, 20.0, 88.0, 100.0, 1e4], dtype)
    g = np.linspace(-1.0, 2.0, x.size).astype(dtype)
    wide = x.astype(np.float64)
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-wide))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from exp(-x)
        sigmoid, silu = Sigmoid(), SiLU()
        y, y_silu = sigmoid.forward(x), silu.forward(x)
        (dy,), (dy_silu,) = sigmoid.backward(g), silu.backward(g)
    assert y.dtype == y_silu.dtype == dy.dtype == dy_silu.dtype == dtype
    tiny = np.finfo(dtype).tiny  # exp(-x) = inf gives exactly 0 below a float32 underflow
    np.testing.assert_allclose(y, s, rtol=1e-6, atol=tiny)
    np.testing.assert_allclose(y_silu, wide * s, rtol=1e-6, atol=tiny)
    # y (1 - y) from the rounded y, as torch's (0 where float32's y rounds to 1)
    np.testing.assert_allclose(dy, g * y * (1 - y.astype(np.float64)), rtol=1e-6, atol=tiny)
    np.testing.assert_allclose(dy_silu, g * s * (1 + wide * (1 - s)), rtol=1e-5, atol=tiny)


def test_silu_and_sigmoid_backward_with_a_broadcast_or_wider_gradient(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    for op, derivative in ((SiLU(), s * (1 + x * (1 - s))), (Sigmoid(), s * (1 - s))):
        op.forward(x)
        for g in (np.float32(2.0) * np.ones(3, np.float32), np.full((2, 3), 2.0)):
            (grad,) = op.backward(g)
            assert grad.shape == (2, 3)
            assert grad.dtype == np.result_type(g, x)
            np.testing.assert_allclose(grad, 2 * derivative, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hardswish_and_hardsigmoid_at_the_kinks(dtype):
    x = np.array([-np.inf, -4.0, -3.0, -2.9, -1.0, 0.0, 1.5, 2.9, 3.0, 4.0, np.inf, np.nan],
                 dtype)
    g = np.linspace(0.5, 3.0, x.size).astype(dtype)
    swish, hard = Hardswish(), Hardsigmoid()
    with np.errstate(invalid="ignore"):  # inf * 0
        y = swish.forward(x)
        np.testing.assert_array_equal(y, x * np.clip(x + 3, 0, 6) / 6)
        np.testing.assert_array_equal(hard.forward(x), np.clip(x + 3, 0, 6) / 6)
    (dx,) = swish.backward(g)
    # torch 2.13's: 0 at and below -3, g at and above 3, nan at nan (its vectorised loop; its
    # scalar tail for the last few elements gives g there)
    expected = np.where(np.isnan(x), np.nan,
                        np.where(x >= 3, g, np.where(x > -3, g * (x / 3 + 0.5), 0)))
    np.testing.assert_array_equal(dx, expected)
    (dx,) = hard.backward(g)
    np.testing.assert_array_equal(dx, g * ((x > -3) & (x < 3)) / 6)
    assert dx.dtype == y.dtype == dtype


def derivatives(x):
    """The derivatives at x, in float64."""
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    return {SiLU: s * (1 + x * (1 - s)), Sigmoid: s * (1 - s),
            Hardswish: np.where(x >= 3, 1.0, np.where(x > -3, x / 3 + 0.5, 0.0)),
            Hardsigmoid: ((x > -3) & (x < 3)) / 6}


@pytest.mark.parametrize("cls", [SiLU, Sigmoid, Hardswish, Hardsigmoid])
@pytest.mark.parametrize("layout", ["blocks", "transposed"])
def test_backward_in_blocks_and_on_a_strided_input(cls, layout, rng):
    # 70,000 values: two of the 65,536-value blocks; a transposed input: one whole pass
    x = (3 * rng.standard_normal((350, 200))).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    if layout == "transposed":
        x, g = x.T, g.T
    op = cls()
    op.forward(x)
    (grad,) = op.backward(g)
    assert grad.shape == x.shape and grad.dtype == np.float32
    np.testing.assert_allclose(grad, g * derivatives(x)[cls], rtol=1e-5, atol=1e-6)
