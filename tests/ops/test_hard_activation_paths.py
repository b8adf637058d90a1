"""Hardswish's and Hardsigmoid's blocked kernels (dlpy.ops.activation_more): forward by one
clamp, Hardswish's backward without masks (x / 3 clamped to [-1, 1], its ends found by trunc),
Hardsigmoid's mask made in backward. Bit for bit against the textbook piecewise formulas, at
and next to the kinks, over several blocks (the last one short) and on strided arrays."""

import numpy as np
import pytest

from dlpy.ops.activation_more import Hardsigmoid, Hardswish


def values(dtype, size, rng):
    """size values of dtype: the kinks, their float neighbours, extremes, then ~3 N(0, 1)."""
    kinks = np.array([-3, 3, 0], dtype)
    special = np.concatenate([
        kinks, np.nextafter(kinks, dtype(-np.inf)), np.nextafter(kinks, dtype(np.inf)),
        np.array([-np.inf, np.inf, np.nan, -1.5, 1.5, 1e-30, -1e-30, 1e4, -1e4], dtype)])
    return np.concatenate([special, (3 * rng.standard_normal(size - special.size)).astype(dtype)])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("size, strided", [(40, False), (2 * 65536 + 7, False), (600, True)])
def test_hardswish_and_hardsigmoid_bit_for_bit(dtype, size, strided, rng):
    x = values(dtype, size, rng)
    g = rng.standard_normal(size).astype(dtype)
    if strided:
        x, g = x.reshape(20, -1).T, g.reshape(20, -1).T
        assert not x.flags.c_contiguous
    # float16 computes in float32 and rounds once (dlpy.amp's float32_compute, as torch's CPU
    # kernels); the formulas below run in the compute dtype and are rounded the same way
    work = np.float32 if dtype == np.float16 else dtype
    xw, gw = x.astype(work), g.astype(work)
    three, six = work(3), work(6)
    swish, hard = Hardswish(), Hardsigmoid()
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(swish.forward(x),
                                      (xw * np.clip(xw + three, 0, six) / six).astype(dtype))
        np.testing.assert_array_equal(hard.forward(x),
                                      (np.clip(xw + three, 0, six) / six).astype(dtype))
        # torch 2.13's: g at and above 3, g (x / 3 + 1/2) inside, 0 at and below -3; nan at a
        # nan (its vectorized loop's; its scalar tail gives g there)
        inside = gw * (xw / three + work(0.5))
        expected = np.where(xw >= 3, gw, np.where(xw <= -3, work(0), inside)).astype(dtype)
        (grad,) = swish.backward(g)
    assert grad.dtype == work  # the engine rounds an input's gradient to its dtype
    np.testing.assert_array_equal(grad.astype(dtype), expected)
    (grad,) = hard.backward(g)
    np.testing.assert_array_equal(grad.astype(dtype),
                                  (gw * ((xw > -3) & (xw < 3)) / six).astype(dtype))
    assert grad.dtype == work
