"""max_unpool2d (and nn.MaxUnpool2d) on max_pool2d's indices: PyTorch values and gradients
(tests/fixtures/ops/unpool.npz, gradients through the pool and the unpool), the gather that its
gradient is, gradient checks, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.testing import gradcheck

TORCH_CASES = {
    "max_unpool2d": lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
    "max_unpool2d_overlap_padding": lambda x: F.max_unpool2d(
        *F.max_pool2d(x, 3, 2, 1, return_indices=True), 3, 2, 1),
    "max_unpool2d_output_size": lambda x: F.max_unpool2d(
        *F.max_pool2d(x, 2, return_indices=True), 2, output_size=(7, 7)),
    "max_unpool2d_ceil_mode_rect": lambda x: F.max_unpool2d(
        *F.max_pool2d(x, (2, 3), 2, ceil_mode=True, return_indices=True), (2, 3), 2,
        output_size=x.shape),
    "max_unpool2d_values": lambda x, indices: F.max_unpool2d(x, indices, 2),
    "max_unpool2d_unbatched": lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True),
                                                       2),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("unpool", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("unpool") == set(TORCH_CASES)


def test_the_layer_is_the_function(rng):
    x = Tensor(rng.standard_normal((2, 3, 7, 7)))
    values, indices = nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    unpool = nn.MaxUnpool2d(3, 2, 1)
    np.testing.assert_array_equal(unpool(values, indices).data,
                                  F.max_unpool2d(values, indices, 3, 2, 1).data)
    np.testing.assert_array_equal(unpool(values, indices, output_size=(1, 3, 8, 7)).data,
                                  F.max_unpool2d(values, indices, 3, 2, 1, (8, 7)).data)
    assert list(unpool.parameters()) == [] and unpool.stride == (2, 2)
    assert repr(nn.MaxUnpool2d(2)) == (
        "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))")


def test_unpool_puts_each_maximum_back_and_zeros_the_rest():
    x = Tensor(np.array([[[[1.0, 5.0, 2.0, 0.0], [0.0, 3.0, 7.0, 1.0],
                           [4.0, 0.0, 1.0, 1.0], [2.0, 6.0, 0.0, 9.0]]]]))
    values, indices = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(indices.data[0, 0], [[1, 6], [13, 15]])
    restored = F.max_unpool2d(values, indices, 2)
    np.testing.assert_array_equal(restored.data[0, 0], [[0, 5, 0, 0], [0, 0, 7, 0],
                                                        [0, 0, 0, 0], [0, 6, 0, 9]])


def test_the_gradient_is_the_output_gradient_at_the_indices(rng):
    """dx[k] = g[indices[k]]: a gather, so an index used twice (overlapping pool windows) gives
    both values that gradient; a plain int64 numpy array works as indices (int32 is refused,
    as torch's)."""
    x = Tensor(rng.standard_normal((1, 2, 2, 3)), requires_grad=True)
    indices = np.array([[[[0, 0, 5], [7, 3, 15]], [[1, 2, 3], [4, 5, 6]]]], dtype=np.int64)
    y = F.max_unpool2d(x, indices, 2, output_size=(4, 5))
    g = rng.standard_normal(y.shape)
    y.backward(g)
    planes = g.reshape(1, 2, 20)
    np.testing.assert_array_equal(x.grad, np.take_along_axis(
        planes, indices.reshape(1, 2, 6), axis=2).reshape(x.shape))
    assert x.grad.numpy()[0, 0, 0, 0] == x.grad.numpy()[0, 0, 0, 1] == g[0, 0, 0, 0]
    assert y.data[0, 0, 0, 0] == x.data[0, 0, 0, 1]  # the last value sent there stays


def test_overlapping_windows_double_the_gradient_as_pytorch(rng):
    """Two overlapping windows with one maximum send it back twice; each copy gets the
    gradient of that place, so x's gradient there is twice the output's (PyTorch's rule, which
    max_unpool2d_overlap_padding checks against torch): not a finite difference."""
    x = Tensor(np.array([[[[0.0, 0.0, 9.0, 0.0, 0.0]]]]), requires_grad=True)
    values, indices = F.max_pool2d(x, (1, 3), (1, 1), return_indices=True)
    np.testing.assert_array_equal(indices.data.ravel(), [2, 2, 2])
    y = F.max_unpool2d(values, indices, (1, 3), (1, 1))
    np.testing.assert_array_equal(y.data, x.data)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad.ravel(), [0, 0, 3, 0, 0])


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((2, 3, 6, 4), 2, None, 0),
    ((1, 2, 7, 7), 2, 2, 1),  # padding, no overlap (overlapping windows: the test above)
    ((3, 5, 6), (2, 3), (2, 3), 0),  # unbatched
    ((1, 1, 1, 1), 1, None, 0),
])
def test_gradcheck(shape, kernel, stride, padding, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    pooled, indices = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    values = Tensor(rng.standard_normal(pooled.shape), requires_grad=True)
    size = shape[-2:]  # the indices point into x's planes
    assert gradcheck(lambda v: F.max_unpool2d(v, indices, kernel, stride, padding, size), values)
    assert gradcheck(lambda x: F.max_unpool2d(*F.max_pool2d(x, kernel, stride, padding,
                                                            return_indices=True),
                                              kernel, stride, padding, size), x)


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    y = F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2)
    assert y.dtype == np.float32 and y.shape == x.shape
    y.sum().backward()
    assert x.grad.dtype == np.float32


def _pooled(shape=(1, 2, 6, 6)):
    x = Tensor(np.arange(np.prod(shape), dtype=np.float64).reshape(shape))
    return F.max_pool2d(x, 2, return_indices=True)


@pytest.mark.parametrize("make, error, message", [
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1], 2, output_size=(8, 7)), ValueError,
     r"max_unpool2d: invalid output_size \(8, 7\): axis 0 must lie strictly between 4 and 8, "
     r"as in PyTorch"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1], 2, output_size=(2, 6, 6)), ValueError,
     r"max_unpool2d: output_size must have 2 or 4 elements, got \(2, 6, 6\)"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1], 2, output_size=6), ValueError,
     r"max_unpool2d: output_size must be a tuple of ints, got 6"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1], 2, output_size=(5, 6)), ValueError,
     r"max_unpool2d: found an invalid index 35: the output planes are 5x6"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1].data - 8, 2), ValueError,
     r"max_unpool2d: found an invalid index -1"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1].data[:, :1], 2), ValueError,
     r"max_unpool2d: expected indices of x's shape \(1, 2, 3, 3\), got \(1, 1, 3, 3\)"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1].data.astype(float), 2), TypeError,
     r"max_unpool2d: indices must be int64 \(max_pool2d's return_indices\), got float64"),
    (lambda: F.max_unpool2d(Tensor(np.zeros((3, 3))), np.zeros((3, 3), int), 2), ValueError,
     r"max_unpool2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\), got \(3, 3\)"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1], 0), ValueError,
     r"max_unpool2d: need kernel_size >= 1, stride >= 0, padding >= 0, got \(0, 0\)"),
    (lambda: F.max_unpool2d(_pooled()[0], _pooled()[1], 2, padding=3), ValueError,
     r"max_unpool2d: the input \(3, 3\) with kernel \(2, 2\), stride \(2, 2\) and padding "
     r"\(3, 3\) gives an output of size \(0, 0\), too small"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
