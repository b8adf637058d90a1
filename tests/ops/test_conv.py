"""conv2d and max_pool2d: gradient checks (dilation, groups, ceil_mode too), PyTorch values
(tests/fixtures/ops/conv.npz; dilation, groups and ceil_mode in conv1d.npz and pool.npz), the
sums written out, errors."""

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


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((2, 3, 9, 8), (4, 3, 3, 3), 1, 0, 2, 1),  # dilation 2
    ((2, 4, 6, 5), (6, 2, 3, 3), 1, 1, 1, 2),  # groups 2
    ((2, 3, 6, 6), (3, 1, 3, 3), 1, 1, 1, 3),  # depthwise
    ((1, 3, 7, 7), (6, 1, 2, 3), 1, 0, 1, 3),  # depthwise, two filters a channel
    ((1, 4, 11, 9), (4, 2, 3, 2), (2, 3), (2, 1), (2, 3), 2),  # dilation + stride + padding
    ((1, 2, 7, 5), (2, 2, 3, 2), 2, 1, 3, 1),  # odd sizes: stride skips the last rows
    ((1, 2, 7, 8), (4, 1, 3, 4), 1, "same", (2, 3), 2),  # "same" with dilation: odd total
    ((1, 1, 5, 5), (1, 1, 1, 1), 1, 0, 4, 1),  # a 1x1 kernel ignores dilation
])
def test_conv2d_dilation_groups_gradcheck(x_shape, w_shape, stride, padding, dilation, groups,
                                          rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding, dilation, groups), x, w, b)
    assert gradcheck(lambda x, w: conv2d(x, w, None, stride, padding, dilation, groups), x, w)


def _conv2d_loops(x, w, b, stride, padding, dilation, groups):
    """The definition, one output value at a time: output channel o, in group g = o // (O / G),
    sees input channels g C/G .. (g + 1) C/G - 1 at rows s h - p + d i, columns s w - p + d j."""
    (n, _, h, width), (o, c_per_group, kh, kw) = x.shape, w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (width + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for out in range(o):
        first = out // (o // groups) * c_per_group
        for r in range(ho):
            for col in range(wo):
                for i in range(kh):
                    for j in range(kw):
                        y[:, out, r, col] += x_pad[:, first: first + c_per_group,
                                                   stride * r + dilation * i,
                                                   stride * col + dilation * j] @ w[out, :, i, j]
        y[:, out] += b[out]
    return y


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((2, 4, 9, 8), (6, 2, 3, 3), 2, 1, 2, 2),
    ((1, 6, 7, 7), (3, 2, 2, 3), 1, 2, 3, 3),
    ((2, 3, 6, 5), (6, 1, 3, 2), 1, 0, 1, 3),
])
def test_conv2d_is_the_sum_it_promises(x_shape, w_shape, stride, padding, dilation, groups, rng):
    x, w, b = (rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1]))
    y = conv2d(Tensor(x), Tensor(w), Tensor(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(y.data, _conv2d_loops(x, w, b, stride, padding, dilation, groups),
                               rtol=1e-12, atol=1e-12)


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


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", [
    ((2, 2, 9, 8), 3, 1, 1, 2, False),
    ((1, 2, 7, 8), 3, 2, 1, 1, True),  # ceil_mode: a last window past the padding
    ((2, 1, 5, 5), 2, 2, 0, 1, True),
    ((1, 3, 10, 7), (2, 3), (3, 2), (1, 1), (3, 2), True),
    ((1, 1, 4, 4), 2, 3, 1, 1, True),  # a window that would start in the right padding is cut
])
def test_max_pool2d_dilation_ceil_mode_gradcheck(shape, kernel, stride, padding, dilation,
                                                 ceil_mode, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), x)


def test_max_pool2d_ceil_mode_drops_a_window_starting_in_the_right_padding():
    # (4 + 2 - 2 + 2) // 3 + 1 = 3 windows by the ceiling, but the third would start at 6 >= 4 + 1
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    y, indices = max_pool2d(x, 2, 3, 1, ceil_mode=True, return_indices=True)
    assert y.shape == (1, 1, 2, 2) and max_pool2d(x, 2, 3, 1).shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y.data[0, 0], [[0, 3], [12, 15]])
    np.testing.assert_array_equal(indices.data[0, 0], [[0, 3], [12, 15]])
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert max_pool2d(Tensor(np.zeros((1, 1, 5, 5))), 2, ceil_mode=True).shape == (1, 1, 3, 3)


def test_max_pool2d_window_of_minus_inf_takes_its_first_value_inside_x():
    """Padding never wins a tie: torch.nn.functional.max_pool2d(x, 3, 1, 1, return_indices=True)
    of a 3x3 plane of -inf gives these indices, and these gradients of the summed output."""
    x = Tensor(np.full((1, 1, 3, 3), -np.inf), requires_grad=True)
    y, indices = max_pool2d(x, 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(indices.data.ravel(), [0, 0, 1, 0, 0, 1, 3, 3, 4])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.ravel(), [4, 2, 0, 2, 1, 0, 0, 0, 0])


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
    (lambda: conv2d(Tensor(np.zeros((5, 5))), Tensor(np.zeros((2, 3, 3, 3)))),
     r"conv2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\) and weight "
     r"\(O, C / groups, kh, kw\), got x \(5, 5\) and weight \(2, 3, 3, 3\)"),
    (lambda: conv2d(Tensor(np.zeros((4, 5, 5))), Tensor(np.zeros((2, 3, 3, 3)))),
     r"got x \(1, 4, 5, 5\) and weight \(2, 3, 3, 3\)"),  # unbatched: as a batch of one
    (lambda: conv2d(Tensor(np.zeros((1, 1, 2, 2))), Tensor(np.zeros((1, 1, 3, 3)))),
     r"conv2d: kernel \(3, 3\) does not fit the input \(2, 2\) with padding \(0, 0\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((2, 1, 3, 3))),
                    Tensor(np.zeros(3))), r"bias must have shape \(2,\), got \(3,\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3))), stride=0),
     r"need stride >= 1 and padding >= 0, got \(0, 0\), \(0, 0\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3))),
                    stride=1.5), r"conv2d: stride: expected an int or a pair of ints, got 1.5"),
    (lambda: max_pool2d(Tensor(np.zeros((4, 4))), 2),
     r"max_pool2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\), got \(4, 4\)"),
    (lambda: max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2),
     "padding must be at most half the kernel"),
    (lambda: conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((2, 1, 3, 3))), groups=2),
     r"conv2d: in_channels and out_channels must be divisible by groups=2, got x "
     r"\(1, 3, 5, 5\) and weight \(2, 1, 3, 3\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 4, 5, 5))), Tensor(np.zeros((3, 2, 3, 3))), groups=2),
     r"in_channels and out_channels must be divisible by groups=2"),
    (lambda: conv2d(Tensor(np.zeros((1, 4, 5, 5))), Tensor(np.zeros((4, 4, 3, 3))), groups=2),
     r"conv2d: expected weight \(O, C / groups, kh, kw\) = \(O, 2, kh, kw\) for x "
     r"\(1, 4, 5, 5\) and groups=2, got weight \(4, 4, 3, 3\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 4, 5, 5))), Tensor(np.zeros((4, 2, 3, 3))), groups=0),
     r"conv2d: groups must be an int >= 1, got 0"),
    (lambda: conv2d(Tensor(np.zeros((1, 4, 5, 5))), Tensor(np.zeros((4, 2, 3, 3))),
                    groups=True), r"conv2d: groups must be an int >= 1, got True"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 5, 5))), Tensor(np.zeros((1, 1, 3, 3))),
                    dilation=0), r"conv2d: need dilation >= 1, got \(0, 0\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 5, 5))), Tensor(np.zeros((1, 1, 3, 3))),
                    dilation=(1, -2)), r"conv2d: need dilation >= 1, got \(1, -2\)"),
    (lambda: conv2d(Tensor(np.zeros((1, 1, 4, 4))), Tensor(np.zeros((1, 1, 3, 3))),
                    dilation=2), r"conv2d: kernel \(3, 3\) with dilation \(2, 2\) does not fit "
                                 r"the input \(4, 4\) with padding \(0, 0\)"),
    (lambda: max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, dilation=0),
     r"max_pool2d: need dilation >= 1, got \(0, 0\)"),
    (lambda: max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 3, dilation=2),
     r"max_pool2d: kernel \(3, 3\) with dilation \(2, 2\) does not fit the input \(4, 4\)"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_in_place_change_of_a_conv_output_is_allowed_of_its_inputs_refused():
    # torch's convolutions save input and weight, not the output: DCGAN's
    # Conv2d -> LeakyReLU(inplace=True) (and ConvTranspose2d -> ReLU(True)) trains
    import dlpy.functional as F

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    for conv in (lambda a, b: F.conv2d(a, b, stride=2, padding=1),
                 lambda a, b: F.conv_transpose2d(a, b.transpose(0, 1), stride=2, padding=1)):
        y = conv(x, w)
        y.backward(Tensor(np.where(y.data > 0, 1.0, 0.2)))  # leaky_relu's gradient by hand
        x_grad, w_grad = x.grad.numpy().copy(), w.grad.numpy().copy()
        x.grad = w.grad = None
        y = conv(x, w)
        F.leaky_relu(y, 0.2, inplace=True).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), x_grad, rtol=1e-12)
        np.testing.assert_allclose(w.grad.numpy(), w_grad, rtol=1e-12)
        x.grad = w.grad = None
        a = x * 1
        y = conv(a, w)
        a.mul_(2)
        with pytest.raises(RuntimeError, match="input 0 of .* was modified in place"):
            y.sum().backward()
