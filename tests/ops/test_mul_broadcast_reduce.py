"""Mul's gradient for a broadcast input of a large product (squeeze-excitation's (N, C, 1, 1)
scale, a (C, 1, 1) or scalar factor): summed by einsum dot products (arithmetic._product_sums)
rather than a product array; against numpy's sum of g * other, float64 gradient checks, and
the cases left to the product (other dtypes, short sums, other summed axes)."""

import numpy as np
import pytest

from dlpy import Tensor, autograd
from dlpy.ops import arithmetic
from dlpy.testing import gradcheck

# (small input's shape, large input's shape): 4096 elements or more, sums of 16 or more
FAST = [((2, 3, 1, 1), (2, 3, 32, 32)),  # squeeze-excitation: one dot per (n, c)
        ((2, 3, 1), (2, 3, 1024)),
        ((3, 1, 1), (2, 3, 32, 32)),  # one per channel (norm._channel_dots)
        ((1, 3, 1, 1), (2, 3, 32, 32)),
        ((2, 1, 1, 1), (2, 3, 32, 32)),  # one per sample
        ((), (2, 3, 32, 32)),  # a scalar: one dot
        ((1,), (4096,))]
# left to the product and the engine's sum: summed axes neither trailing nor all but 1,
# sums shorter than 16, fewer than 4096 elements
SLOW = [((1, 1, 32, 32), (2, 3, 32, 32)), ((2, 1, 32, 1), (2, 3, 32, 32)),
        ((512, 1), (512, 8)), ((2, 3, 1, 1), (2, 3, 8, 8))]


def _reference(small, large, grad_output):
    """(d small, d large) of y = small * large, by numpy's sums of the products."""
    extra = grad_output.ndim - small.ndim
    small_grad = (grad_output * large).sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(small.shape) if n == 1 and small_grad.shape[i] != 1)
    return small_grad.sum(axis=axes, keepdims=True).reshape(small.shape), grad_output * small


@pytest.mark.parametrize("small_first", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("small_shape, large_shape", FAST + SLOW)
def test_gradients_against_numpy(small_shape, large_shape, dtype, small_first):
    rng = np.random.default_rng(0)
    small = Tensor(rng.standard_normal(small_shape).astype(dtype), requires_grad=True)
    large = Tensor(rng.standard_normal(large_shape).astype(dtype), requires_grad=True)
    grad_output = rng.standard_normal(large_shape).astype(dtype)
    y = small * large if small_first else large * small
    y.backward(Tensor(grad_output))
    expected_small, expected_large = _reference(small.data, large.data, grad_output)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    for tensor, expected in ((small, expected_small), (large, expected_large)):
        assert tensor.grad.shape == tensor.shape and tensor.grad.dtype == dtype
        np.testing.assert_allclose(tensor.grad.numpy(), expected, rtol=rtol,
                                   atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("small_shape, large_shape", FAST[:3] + FAST[5:6])
def test_gradcheck_small_input(small_shape, large_shape):
    rng = np.random.default_rng(1)
    small = Tensor(rng.standard_normal(small_shape), requires_grad=True)
    large = Tensor(rng.standard_normal(large_shape))
    assert gradcheck(lambda s, x: s * x, small, large)
    assert gradcheck(lambda x, s: x * s, large, small)


@pytest.mark.parametrize("small_shape, large_shape", FAST)
def test_fast_cases_sum_without_the_product(small_shape, large_shape):
    # the gradient comes back at the small input's shape: no full-size array
    rng = np.random.default_rng(2)
    grad_output, other = (rng.standard_normal(large_shape, dtype=np.float32) for _ in range(2))
    summed = arithmetic._product_sums(grad_output, other, small_shape)
    assert summed.shape == small_shape and summed.dtype == np.float32


@pytest.mark.parametrize("small_shape, large_shape", SLOW[:3])  # the last: Mul's size test
def test_other_cases_left_to_the_product(small_shape, large_shape):
    rng = np.random.default_rng(3)
    grad_output, other = (rng.standard_normal(large_shape) for _ in range(2))
    np.testing.assert_array_equal(arithmetic._product_sums(grad_output, other, small_shape),
                                  grad_output * other)


def test_mixed_dtypes_float16_and_non_contiguous():
    rng = np.random.default_rng(4)
    large_data = rng.standard_normal((2, 3, 32, 32))
    grad_output = rng.standard_normal((2, 3, 32, 32))
    for large_array, small_dtype, rtol in (
            (large_data.astype(np.float32), np.float64, 1e-5),  # a float64 product
            (large_data.astype(np.float16), np.float16, 2e-2),  # numpy's sums
            (large_data.transpose(0, 1, 3, 2), np.float64, 1e-12)):  # copied by reshape
        small = Tensor(rng.standard_normal((2, 3, 1, 1)).astype(small_dtype), requires_grad=True)
        large = Tensor(large_array, requires_grad=True)
        y = small * large
        y.backward(Tensor(grad_output.astype(y.dtype)))
        expected = (grad_output.astype(y.dtype) * large_array).sum(axis=(2, 3), keepdims=True)
        assert small.grad.dtype == small_dtype
        np.testing.assert_allclose(small.grad.numpy().astype(np.float64), expected, rtol=rtol,
                                   atol=rtol * np.abs(expected).max())


def test_second_order_through_the_broadcast_mul():
    # backward_graph (create_graph) is the product and the engine's sum, unchanged
    rng = np.random.default_rng(5)
    scale = Tensor(rng.standard_normal((2, 3, 1, 1)), requires_grad=True)
    x = Tensor(rng.standard_normal((2, 3, 32, 32)), requires_grad=True)
    (grad_scale,) = autograd.grad((scale * x * x).sum(), [scale],
                                                     create_graph=True)
    np.testing.assert_allclose(grad_scale.numpy(), (x.data ** 2).sum(axis=(2, 3), keepdims=True),
                               rtol=1e-12)
    grad_scale.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.data, rtol=1e-12)
