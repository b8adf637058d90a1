"""conv1d (conv2d on a height-1 image), the padding strings "same" / "valid", dilation and groups
of conv1d and conv2d: PyTorch values (tests/fixtures/ops/conv1d.npz), gradient checks, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "conv1d": F.conv1d,
    "conv1d_stride_padding": lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
    "conv1d_no_bias": lambda x, w: F.conv1d(x, w, stride=3, padding=2),
    "conv1d_same_odd": lambda x, w, b: F.conv1d(x, w, b, padding="same"),
    "conv1d_same_even": lambda x, w, b: F.conv1d(x, w, b, padding="same"),
    "conv1d_valid_kernel_as_long_as_input": lambda x, w, b: F.conv1d(x, w, b, padding="valid"),
    "conv1d_kernel1": F.conv1d,
    "conv2d_same_odd": lambda x, w, b: F.conv2d(x, w, b, padding="same"),
    "conv2d_same_even": lambda x, w, b: F.conv2d(x, w, b, padding="same"),
    "conv2d_same_mixed_no_bias": lambda x, w: F.conv2d(x, w, padding="same"),
    "conv2d_valid": lambda x, w, b: F.conv2d(x, w, b, padding="valid"),
    "conv2d_dilation2": lambda x, w, b: F.conv2d(x, w, b, dilation=2),
    "conv2d_groups2": lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
    "conv2d_depthwise": lambda x, w, b: F.conv2d(x, w, b, groups=3),
    "conv2d_dilation_stride_padding_groups_no_bias":
        lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(2, 1), dilation=(2, 3), groups=2),
    "conv2d_same_dilation": lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=(2, 3)),
    "conv1d_dilation_groups":
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2),
    "conv1d_same_dilation_depthwise":
        lambda x, w, b: F.conv1d(x, w, b, padding="same", dilation=3, groups=3),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("conv1d", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("conv1d") == set(TORCH_CASES)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 3, 9), (4, 3, 3), 1, 0),
    ((1, 2, 10), (3, 2, 4), 2, 1),
    ((2, 1, 7), (2, 1, 5), 3, 2),  # odd length, stride that skips the last values
    ((1, 2, 6), (2, 2, 4), 1, "same"),  # even kernel: the extra zero on the right
    ((2, 2, 5), (3, 2, 3), (1,), "same"),
    ((1, 3, 4), (2, 3, 4), 1, "valid"),
    ((1, 1, 1), (1, 1, 1), 1, 0),  # size-1 everything
])
def test_conv1d_gradcheck(x_shape, w_shape, stride, padding, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding), x, w, b)
    assert gradcheck(lambda x, w: F.conv1d(x, w, None, stride, padding), x, w)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((2, 3, 11), (4, 3, 3), 1, 0, 2, 1),  # dilation 2
    ((2, 4, 8), (6, 2, 3), 2, 1, 1, 2),  # groups 2
    ((1, 3, 9), (3, 1, 4), 1, "same", 3, 3),  # depthwise, "same" with an odd total 9
    ((2, 2, 10), (4, 1, 2), 3, 2, 2, 2),  # dilation + stride + padding, the last value skipped
])
def test_conv1d_dilation_groups_gradcheck(x_shape, w_shape, stride, padding, dilation, groups,
                                          rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    y = F.conv1d(x, w, b, stride, padding, dilation, groups)
    span = dilation * (w_shape[2] - 1) + 1
    length = x_shape[2] if padding == "same" else (x_shape[2] + 2 * padding - span) // stride + 1
    assert y.shape == (x_shape[0], w_shape[0], length)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups),
                     x, w, b)


def test_conv1d_is_the_sum_it_promises(rng):
    """y[n, o, t] = sum_{c, i} w[o, c, i] x_pad[n, c, s t + i] + b[o], written out."""
    x, w = rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 4))
    b = rng.standard_normal(4)
    stride, padding = 3, 2
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    length = (11 + 2 * padding - 4) // stride + 1
    expected = np.stack([np.einsum("nci,oci->no", x_pad[:, :, stride * t: stride * t + 4], w)
                         for t in range(length)], axis=-1) + b[:, None]
    y = F.conv1d(Tensor(x), Tensor(w), Tensor(b), stride, padding)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape", [
    ((1, 2, 5, 6), (3, 2, 3, 3)),
    ((1, 2, 5, 6), (3, 2, 2, 4)),  # even both ways: the extra row and column bottom / right
    ((2, 1, 4, 3), (2, 1, 1, 2)),
])
def test_conv2d_same_keeps_the_size_and_gradchecks(x_shape, w_shape, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert F.conv2d(x, w, b, padding="same").shape == (x_shape[0], w_shape[0], *x_shape[2:])
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding="same"), x, w, b)


def test_conv1d_same_keeps_the_length_and_float32(rng):
    x = Tensor(rng.standard_normal((2, 3, 7)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((5, 3, 4)).astype(np.float32), requires_grad=True)
    y = F.conv1d(x, w, padding="same")
    assert y.shape == (2, 5, 7) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


@pytest.mark.parametrize("make, error, message", [
    (lambda: F.conv1d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 3, 3)))), ValueError,
     r"conv1d: expected x \(N, C, L\) or unbatched \(C, L\) and weight \(O, C / groups, k\), "
     r"got x \(1, 3, 5, 5\) and weight \(2, 3, 3\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 3, 5))), Tensor(np.zeros((2, 4, 3)))), ValueError,
     r"got x \(1, 3, 5\) and weight \(2, 4, 3\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 3))), Tensor(np.zeros((1, 1, 5)))), ValueError,
     r"conv1d: kernel size 5 does not fit the input length 3 with padding 0"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 3))), Tensor(np.zeros((1, 1, 5))),
                      padding="valid"), ValueError, r"does not fit the input length 3"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 4))), Tensor(np.zeros((2, 1, 3))),
                      Tensor(np.zeros(3))), ValueError, r"conv1d: bias must have shape \(2,\), "
                                                        r"got \(3,\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 4))), Tensor(np.zeros((1, 1, 3))), stride=0),
     ValueError, r"conv1d: need stride >= 1 and padding >= 0, got 0, 0"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 4))), Tensor(np.zeros((1, 1, 3))), padding=-1),
     ValueError, r"need stride >= 1 and padding >= 0, got 1, -1"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 4))), Tensor(np.zeros((1, 1, 3))), stride=(1, 1)),
     ValueError, r"conv1d: stride: expected an int or a 1-tuple of ints, got \(1, 1\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 8))), Tensor(np.zeros((1, 1, 3))), stride=2,
                      padding="same"), ValueError,
     r"conv1d: padding='same' needs stride 1, as in PyTorch, got stride 2"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 8))), Tensor(np.zeros((1, 1, 3))),
                      padding="full"), ValueError,
     r"conv1d: padding must be ints, 'valid' or 'same', got 'full'"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 1, 8, 8))), Tensor(np.zeros((1, 1, 3, 3))),
                      stride=(1, 2), padding="same"), ValueError,
     r"conv2d: padding='same' needs stride 1, as in PyTorch, got stride \(1, 2\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 8))), Tensor(np.zeros((1, 1, 3))), dilation=0),
     ValueError, r"conv1d: need dilation >= 1, got 0"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 8))), Tensor(np.zeros((1, 1, 3))),
                      dilation=(2, 2)), ValueError,
     r"conv1d: dilation: expected an int or a 1-tuple of ints, got \(2, 2\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 1, 4))), Tensor(np.zeros((1, 1, 3))), dilation=2),
     ValueError, r"conv1d: kernel size 3 with dilation 2 does not fit the input length 4 with "
                 r"padding 0"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 3, 8))), Tensor(np.zeros((2, 1, 3))), groups=2),
     ValueError, r"conv1d: in_channels and out_channels must be divisible by groups=2, got x "
                 r"\(1, 3, 8\) and weight \(2, 1, 3\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 4, 8))), Tensor(np.zeros((2, 1, 3))), groups=2),
     ValueError, r"conv1d: expected weight \(O, C / groups, k\) = \(O, 2, k\) for x "
                 r"\(1, 4, 8\) and groups=2, got weight \(2, 1, 3\)"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 4, 8))), Tensor(np.zeros((2, 2, 3))), groups=2.0),
     ValueError, r"conv1d: groups must be an int >= 1, got 2.0"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 1, 8, 8))), Tensor(np.zeros((1, 1, 3, 3))),
                      dilation=(1, 2, 3)), ValueError,
     r"conv2d: dilation: expected an int or a pair of ints, got \(1, 2, 3\)"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
