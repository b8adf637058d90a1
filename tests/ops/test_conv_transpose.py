"""conv_transpose2d and conv_transpose1d: PyTorch values and gradients
(tests/fixtures/ops/conv_transpose.npz), gradient checks, the sum written out, the adjoint of
conv2d, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "conv_transpose2d": F.conv_transpose2d,
    "conv_transpose2d_stride2": lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2),
    "conv_transpose2d_stride_padding_output_padding":
        lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1),
    "conv_transpose2d_rect_no_bias": lambda x, w: F.conv_transpose2d(
        x, w, stride=(2, 1), padding=(1, 0), output_padding=(1, 0)),
    "conv_transpose2d_dilation": lambda x, w, b: F.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1, dilation=2),
    "conv_transpose2d_output_padding_below_dilation":
        lambda x, w, b: F.conv_transpose2d(x, w, b, 1, 0, 1, 1, 2),
    "conv_transpose2d_groups2":
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, groups=2),
    "conv_transpose2d_depthwise": lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, groups=3),
    "conv_transpose2d_everything_no_bias": lambda x, w: F.conv_transpose2d(
        x, w, stride=(3, 2), padding=(2, 1), output_padding=(2, 1), groups=2, dilation=(2, 3)),
    "conv_transpose2d_padding_crops_to_one": lambda x, w, b: F.conv_transpose2d(x, w, b,
                                                                                padding=1),
    "conv_transpose1d": F.conv_transpose1d,
    "conv_transpose1d_stride_padding_output_padding": lambda x, w, b: F.conv_transpose1d(
        x, w, b, stride=3, padding=2, output_padding=2),
    "conv_transpose1d_dilation_groups_no_bias": lambda x, w: F.conv_transpose1d(
        x, w, stride=2, padding=1, output_padding=1, groups=2, dilation=3),
    "conv_transpose2d_unbatched": lambda x, w, b: F.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1),
    "conv_transpose1d_unbatched": lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("conv_transpose", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("conv_transpose") == set(TORCH_CASES)


SETTINGS_2D = [  # x shape, weight shape, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 5), (3, 2, 3, 3), 1, 0, 0, 1, 1),
    ((1, 2, 3, 4), (2, 3, 3, 2), 2, 1, 1, 1, 1),
    ((2, 4, 3, 3), (4, 1, 2, 3), (2, 3), (1, 0), (1, 2), 2, 1),  # groups, rectangular
    ((1, 3, 4, 3), (3, 2, 3, 3), 2, 0, 0, 3, 2),  # depthwise-like, dilation 2
    ((1, 2, 3, 3), (2, 2, 2, 3), 1, 1, 1, 1, 2),  # output_padding below the dilation only
    ((1, 4, 4, 5), (4, 2, 3, 2), (3, 2), (2, 1), (2, 1), 2, (2, 3)),  # everything
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0, 0, 1, 1),  # size-1 everything
]


SETTINGS_1D = [
    ((2, 3, 5), (3, 2, 3), 1, 0, 0, 1, 1),
    ((1, 4, 4), (4, 3, 4), 3, 2, 2, 2, 1),
    ((2, 2, 3), (2, 1, 3), 2, 1, 1, 2, 3),
]


@pytest.mark.parametrize(
    "conv, x_shape, w_shape, stride, padding, output_padding, groups, dilation",
    [(F.conv_transpose2d, *settings) for settings in SETTINGS_2D]
    + [(F.conv_transpose1d, *settings) for settings in SETTINGS_1D])
def test_conv_transpose_gradcheck(conv, x_shape, w_shape, stride, padding, output_padding,
                                  groups, dilation, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[1] * groups), requires_grad=True)
    settings = (stride, padding, output_padding, groups, dilation)
    assert gradcheck(lambda x, w, b: conv(x, w, b, *settings), x, w, b)
    assert gradcheck(lambda x, w: conv(x, w, None, *settings), x, w)
    assert gradcheck(lambda x: conv(x[0], w, b, *settings), x)  # unbatched


def _pairs(v):
    return v if isinstance(v, tuple) else (v, v)


def _conv_transpose2d_loops(x, w, b, stride, padding, output_padding, groups, dilation):
    """The definition, one input value at a time: x[n, c, h, w] * w[c, o, i, j] lands at row
    s h + d i - p, column s w + d j - p of output channel g(c) O/G + o, if inside the output."""
    (sh, sw), (ph, pw) = _pairs(stride), _pairs(padding)
    (oph, opw), (dh, dw) = _pairs(output_padding), _pairs(dilation)
    (n, c, h, width), (_, o_per_group, kh, kw) = x.shape, w.shape
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + 1 + oph
    wo = (width - 1) * sw - 2 * pw + dw * (kw - 1) + 1 + opw
    y = np.zeros((n, o_per_group * groups, ho, wo))
    c_per_group = c // groups
    for ch in range(c):
        first = ch // c_per_group * o_per_group
        for r in range(h):
            for col in range(width):
                for i in range(kh):
                    for j in range(kw):
                        row, column = sh * r + dh * i - ph, sw * col + dw * j - pw
                        if 0 <= row < ho and 0 <= column < wo:
                            y[:, first: first + o_per_group, row, column] += (
                                x[:, ch, r, col, None] * w[ch, :, i, j])
    return y + (0 if b is None else b[:, None, None])


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation",
                         SETTINGS_2D)
def test_conv_transpose2d_is_the_sum_it_promises(x_shape, w_shape, stride, padding,
                                                 output_padding, groups, dilation, rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * groups)
    y = F.conv_transpose2d(Tensor(x), Tensor(w), Tensor(b), stride, padding, output_padding,
                           groups, dilation)
    np.testing.assert_allclose(y.data, _conv_transpose2d_loops(
        x, w, b, stride, padding, output_padding, groups, dilation), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((2, 3, 9, 8), (4, 3, 3, 3), 2, 1, 1, 1),
    ((1, 4, 10, 7), (6, 2, 3, 2), (3, 2), (2, 1), (2, 1), 2),
    ((2, 3, 6, 6), (3, 1, 3, 3), 1, 1, 2, 3),
])
def test_conv_transpose2d_is_conv2ds_input_gradient(x_shape, w_shape, stride, padding, dilation,
                                                    groups, rng):
    """For any g: conv2d's gradient of x is conv_transpose2d(g, w) with the output_padding that
    restores x's size, and <conv2d(x, w), g> = <x, conv_transpose2d(g, w)> (the adjoint)."""
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape))
    y = F.conv2d(x, w, None, stride, padding, dilation, groups)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    (sh, sw), (ph, pw), (dh, dw) = _pairs(stride), _pairs(padding), _pairs(dilation)
    smallest = ((y.shape[2] - 1) * sh - 2 * ph + dh * (w_shape[2] - 1) + 1,
                (y.shape[3] - 1) * sw - 2 * pw + dw * (w_shape[3] - 1) + 1)
    output_padding = (x_shape[2] - smallest[0], x_shape[3] - smallest[1])
    back = F.conv_transpose2d(Tensor(g), w, None, stride, padding, output_padding, groups,
                              dilation)
    np.testing.assert_allclose(back.data, x.grad, rtol=1e-12, atol=1e-12)
    assert np.vdot(y.data, g) == pytest.approx(np.vdot(x.data, back.data), rel=1e-12)


def test_float32_stays_float32_and_unbatched_is_a_batch_of_one(rng):
    x = Tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(rng.standard_normal(2).astype(np.float32), requires_grad=True)
    y = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)
    assert y.dtype == np.float32 and y.shape == (2, 2, 8, 8)
    y.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    np.testing.assert_array_equal(F.conv_transpose2d(x[1], w, b, 2, 1, 1).data, y.data[1])
    x1 = Tensor(rng.standard_normal((3, 5)).astype(np.float32))
    w1 = Tensor(rng.standard_normal((3, 4, 2)).astype(np.float32))
    y1 = F.conv_transpose1d(x1, w1, stride=2)
    assert y1.shape == (4, 10) and y1.dtype == np.float32


def test_only_the_bias_needs_a_gradient(rng):
    x, w = Tensor(rng.standard_normal((2, 2, 3, 3))), Tensor(rng.standard_normal((2, 3, 2, 2)))
    b = Tensor(np.zeros(3), requires_grad=True)
    F.conv_transpose2d(x, w, b, stride=2).sum().backward()
    np.testing.assert_array_equal(b.grad, np.full(3, 2 * 6 * 6))


def _zeros(*shape):
    return Tensor(np.zeros(shape))


@pytest.mark.parametrize("make, error, message", [
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), output_padding=1),
     ValueError, r"conv_transpose2d: output_padding must be smaller than either stride or "
                 r"dilation, as in PyTorch, got output_padding \(1, 1\), stride \(1, 1\) and "
                 r"dilation \(1, 1\)"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), stride=2,
                                output_padding=(1, 2)), ValueError,
     r"output_padding must be smaller than either stride or dilation"),
    (lambda: F.conv_transpose1d(_zeros(1, 4, 5), _zeros(4, 3, 3), stride=2, dilation=2,
                                output_padding=2), ValueError,
     r"conv_transpose1d: output_padding must be smaller than either stride or dilation, as in "
     r"PyTorch, got output_padding 2, stride 2 and dilation 2"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), padding=-1), ValueError,
     r"conv_transpose2d: need stride >= 1, padding >= 0 and output_padding >= 0, got \(1, 1\), "
     r"\(-1, -1\), \(0, 0\)"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), stride=0), ValueError,
     r"need stride >= 1"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(3, 3, 3, 3)), ValueError,
     r"conv_transpose2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\) and weight "
     r"\(C, O / groups, kh, kw\) with the same C, got x \(1, 4, 5, 5\) and weight "
     r"\(3, 3, 3, 3\)"),
    (lambda: F.conv_transpose2d(_zeros(5, 5), _zeros(4, 3, 3, 3)), ValueError,
     r"got x \(5, 5\) and weight \(4, 3, 3, 3\)"),
    (lambda: F.conv_transpose1d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3)), ValueError,
     r"conv_transpose1d: expected x \(N, C, L\) or unbatched \(C, L\) and weight "
     r"\(C, O / groups, k\) with the same C"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), groups=3), ValueError,
     r"conv_transpose2d: in_channels must be divisible by groups=3, got x \(1, 4, 5, 5\) and "
     r"weight \(4, 3, 3, 3\)"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), _zeros(4)), ValueError,
     r"conv_transpose2d: bias must have shape \(3,\), got \(4,\)"),
    (lambda: F.conv_transpose1d(_zeros(1, 4, 5), _zeros(4, 3, 3), _zeros(3), groups=2),
     ValueError, r"conv_transpose1d: bias must have shape \(6,\), got \(3,\)"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), padding=4), ValueError,
     r"conv_transpose2d: the input \(5, 5\) with kernel \(3, 3\), stride \(1, 1\), padding "
     r"\(4, 4\), output_padding \(0, 0\) and dilation \(1, 1\) gives an output of size "
     r"\(-1, -1\), too small"),
    (lambda: F.conv_transpose1d(_zeros(1, 4, 2), _zeros(4, 3, 1), padding=1), ValueError,
     r"conv_transpose1d: the input \(2,\) with kernel \(1,\).* gives an output of size \(0,\)"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), padding="same"),
     ValueError, r"conv_transpose2d: padding: expected an int or a pair of ints, got 'same'"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), groups=0), ValueError,
     r"conv_transpose2d: groups must be an int >= 1, got 0"),
    (lambda: F.conv_transpose2d(_zeros(1, 4, 5, 5), _zeros(4, 3, 3, 3), dilation=0), ValueError,
     r"conv_transpose2d: need dilation >= 1, got \(0, 0\)"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
