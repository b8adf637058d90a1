"""conv2d and max_pool2d: gradient checks, PyTorch values (tests/fixtures/ops/conv.npz), errors."""

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.ops.conv import conv2d, max_pool2d
from dlpy.testing import gradcheck

TORCH_CASES = {
    "conv2d": conv2d,
    "conv2d_stride_padding": lambda x, w, b: conv2d(x, w, b, stride=2, padding=1),
    "conv2d_no_bias_rect": lambda x, w: conv2d(x, w, stride=(2, 1), padding=(1, 2)),
    "conv2d_5x5_pad2": lambda x, w, b: conv2d(x, w, b, padding=2),
    "max_pool2d": lambda x: max_pool2d(x, 2),
    "max_pool2d_overlap_padding": lambda x: max_pool2d(x, 3, stride=2, padding=1),
    "max_pool2d_rect_odd": lambda x: max_pool2d(x, (2, 3), stride=(2, 3)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("conv", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("conv") == set(TORCH_CASES)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 3, 6, 5), (4, 3, 3, 3), 1, 0),
    ((1, 2, 7, 7), (3, 2, 3, 2), 2, 1),
    ((2, 1, 5, 5), (2, 1, 5, 5), 1, 2),
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0),  # size-1 everything
    ((3, 2, 4, 6), (1, 2, 1, 3), (1, 2), (0, 1)),
])
def test_conv2d_gradcheck(x_shape, w_shape, stride, padding, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), x, w, b)
    assert gradcheck(lambda x, w: conv2d(x, w, None, stride, padding), x, w)


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((2, 3, 6, 4), 2, None, 0),  # windows tile the input: the reshape path
    ((1, 2, 7, 5), 2, None, 0),  # a remainder row and column are dropped
    ((2, 1, 7, 7), 3, 2, 1),  # overlapping windows with -inf padding
    ((1, 2, 5, 6), (1, 3), (1, 2), (0, 1)),
    ((1, 1, 1, 1), 1, None, 0),
])
def test_max_pool2d_gradcheck(shape, kernel, stride, padding, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: max_pool2d(x, kernel, stride, padding), x)


def test_max_pool2d_gradient_goes_to_the_first_of_tied_maxima():
    x = Tensor(np.zeros((1, 1, 2, 2)), requires_grad=True)
    max_pool2d(x, 2).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0], [0, 0]])


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((2, 1, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), requires_grad=True)
    y = max_pool2d(conv2d(x, w, padding=1), 2)
    assert y.dtype == np.float32 and y.shape == (2, 2, 3, 3)
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda: conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 4, 3, 3)))),
     r"expected x \(N, C, H, W\) and weight \(O, C, kh, kw\) with the same C, got x "
     r"\(1, 3, 5, 5\) and weight \(2, 4, 3, 3\)"),
    (lambda: conv2d(Tensor(np.zeros((3, 5, 5))), Tensor(np.zeros((2, 3, 3, 3)))),
     r"got x \(3, 5, 5\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 2, 2))), Tensor(np.zeros((1, 1, 3, 3)))),
     r"conv2d: kernel \(3, 3\) does not fit the input \(2, 2\) with padding \(0, 0\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((2, 1, 3, 3))),
                    Tensor(np.zeros(3))), r"bias must have shape \(2,\), got \(3,\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3))), stride=0),
     r"need stride >= 1 and padding >= 0, got \(0, 0\), \(0, 0\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3))),
                    stride=1.5), r"conv2d: stride: expected an int or a pair of ints, got 1.5"),
    (lambda: max_pool2d(Tensor(np.zeros((1, 4, 4))), 2), r"expected x \(N, C, H, W\)"),
    (lambda: max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2),
     "padding must be at most half the kernel"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
