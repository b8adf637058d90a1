"""conv3d and conv_transpose3d (and nn.Conv3d's padding modes): PyTorch values and gradients
(tests/fixtures/ops/conv3d.npz), the sum written out, the 2-d ops as the 3-d ones on a depth-1
volume, the adjoint, gradient checks, errors."""

import itertools

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.testing import gradcheck

from .conftest import load_cases

TORCH_CASES = {
    "conv3d": F.conv3d,
    "conv3d_stride_padding_dilation": lambda x, w, b: F.conv3d(
        x, w, b, stride=(2, 1, 2), padding=(1, 2, 0), dilation=(2, 1, 2)),
    "conv3d_groups_no_bias": lambda x, w: F.conv3d(x, w, stride=2, padding=1, groups=2),
    "conv3d_same_dilation": lambda x, w, b: F.conv3d(x, w, b, padding="same",
                                                     dilation=(1, 2, 1)),
    "conv3d_valid_unbatched": lambda x, w, b: F.conv3d(x, w, b, padding="valid"),
    "conv3d_depthwise": lambda x, w, b: F.conv3d(x, w, b, padding=1, groups=3),
    "conv_transpose3d": lambda x, w, b: F.conv_transpose3d(x, w, b, stride=2, padding=1,
                                                           output_padding=1),
    "conv_transpose3d_groups_dilation_no_bias": lambda x, w: F.conv_transpose3d(
        x, w, stride=(1, 2, 2), padding=(0, 1, 1), output_padding=(1, 0, 1), groups=2,
        dilation=(2, 1, 1)),
    "conv_transpose3d_unbatched": F.conv_transpose3d,
}
# nn.Conv3d with a padding_mode: (constructor arguments) of torch's layer in the fixture
LAYER_CASES = {
    "conv3d_reflect": ((2, 3, 3), dict(padding=1, padding_mode="reflect")),
    "conv3d_replicate_same": ((2, 2, (2, 3, 2)), dict(padding="same",
                                                      padding_mode="replicate")),
    "conv3d_circular_groups": ((4, 4, (3, 2, 3)), dict(stride=2, padding=(2, 1, 1), groups=2,
                                                       padding_mode="circular")),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("conv3d", case, TORCH_CASES[case])


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_conv3d_layer_padding_modes_match_torch(case):
    record = load_cases("conv3d")[case]
    args, kwargs = LAYER_CASES[case]
    layer = nn.Conv3d(*args, **kwargs, dtype=np.float64)
    layer.weight.data, layer.bias.data = record["in1"].copy(), record["in2"].copy()
    x = Tensor(record["in0"], requires_grad=True)
    y = layer(x)
    np.testing.assert_allclose(y.data, record["out"], rtol=1e-10, atol=1e-12)
    y.backward(record["grad_out"])
    for got, i in ((x.grad, 0), (layer.weight.grad, 1), (layer.bias.grad, 2)):
        np.testing.assert_allclose(got, record[f"grad{i}"], rtol=1e-10, atol=1e-12)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("conv3d") == set(TORCH_CASES) | set(LAYER_CASES)


def _triples(v):
    return v if isinstance(v, tuple) else (v,) * 3


def _conv3d_loops(x, w, b, stride, padding, dilation, groups):
    """y[n, o, t] = sum_{c, i} w[o, c, i] x_pad[n, g(o) C/G + c, s t + d i] + b[o], one output
    position at a time."""
    s, p, d = _triples(stride), _triples(padding), _triples(dilation)
    x_pad = np.pad(x, ((0, 0), (0, 0)) + tuple((q, q) for q in p))
    out_channels, c_per_group, *kernel = w.shape
    o_per_group = out_channels // groups
    out = [(n + 2 * q - e * (k - 1) - 1) // t + 1
           for n, q, e, k, t in zip(x.shape[2:], p, d, kernel, s)]
    y = np.zeros((x.shape[0], out_channels, *out))
    for o in range(out_channels):
        first = o // o_per_group * c_per_group
        for t in itertools.product(*map(range, out)):
            window = x_pad[(slice(None), slice(first, first + c_per_group)) + tuple(
                slice(ti * si, ti * si + ei * (k - 1) + 1, ei)
                for ti, si, ei, k in zip(t, s, d, kernel))]
            y[(slice(None), o, *t)] = np.einsum("ncijk,cijk->n", window, w[o]) + b[o]
    return y


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((2, 3, 4, 5, 4), (2, 3, 2, 3, 2), 1, 0, 1, 1),
    ((1, 4, 6, 5, 7), (6, 2, 3, 2, 3), (2, 1, 3), (1, 0, 2), (1, 2, 1), 2),
])
def test_conv3d_is_the_sum_it_promises(x_shape, w_shape, stride, padding, dilation, groups,
                                       rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    y = F.conv3d(Tensor(x), Tensor(w), Tensor(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(y.data, _conv3d_loops(x, w, b, stride, padding, dilation, groups),
                               rtol=1e-12, atol=1e-12)


def test_a_depth_1_conv3d_is_conv2d_and_conv2d_of_height_1_is_conv1d(rng):
    x = Tensor(rng.standard_normal((2, 4, 6, 7)), requires_grad=True)
    w = Tensor(rng.standard_normal((6, 2, 3, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal(6))
    y2 = F.conv2d(x, w, b, (2, 1), (1, 1), (1, 2), 2)
    y3 = F.conv3d(x[:, :, None], w[:, :, None], b, (1, 2, 1), (0, 1, 1), (1, 1, 2), 2)
    np.testing.assert_allclose(y3.data[:, :, 0], y2.data, rtol=1e-12)
    y1 = F.conv1d(x[:, :, 0], w[:, :, 0], b, 2, 1, 3, 2)
    y2 = F.conv2d(x[:, :, :1], w[:, :, :1], b, (1, 2), (0, 1), (1, 3), 2)
    np.testing.assert_allclose(y2.data[:, :, 0], y1.data, rtol=1e-12)
    t3 = F.conv_transpose3d(y3, w[:, :, None], None, (1, 2, 1), (0, 1, 1), (0, 1, 0), 2,
                            (1, 1, 2))
    t2 = F.conv_transpose2d(Tensor(y3.data[:, :, 0]), w, None, (2, 1), (1, 1), (1, 0), 2, (1, 2))
    np.testing.assert_allclose(t3.data[:, :, 0], t2.data, rtol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((1, 2, 4, 3, 4), (2, 2, 2, 2, 3), 1, 0, 1, 1),
    ((2, 2, 5, 4, 3), (2, 1, 3, 2, 2), (2, 1, 2), (1, 1, 0), (1, 2, 1), 2),
    ((1, 1, 1, 1, 1), (1, 1, 1, 1, 1), 1, 0, 1, 1),  # size-1 everything
    ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2), 1, "same", (2, 1, 1), 1),  # odd and even totals
])
def test_conv3d_gradcheck(x_shape, w_shape, stride, padding, dilation, groups, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride, padding, dilation, groups),
                     x, w, b)
    assert gradcheck(lambda x, w: F.conv3d(x[0], w, None, stride, padding, dilation, groups),
                     x, w)  # unbatched


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation", [
    ((1, 2, 2, 3, 2), (2, 2, 2, 2, 3), 2, 0, 1, 1, 1),
    ((2, 4, 3, 2, 2), (4, 1, 2, 3, 2), (1, 2, 3), (0, 1, 1), (1, 1, 2), 2, (2, 1, 1)),
])
def test_conv_transpose3d_gradcheck(x_shape, w_shape, stride, padding, output_padding, groups,
                                    dilation, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[1] * groups), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, stride, padding,
                                                        output_padding, groups, dilation),
                     x, w, b)


def test_conv_transpose3d_is_conv3ds_adjoint(rng):
    """<conv3d(x, w), g> = <x, conv_transpose3d(g, w)> with the output_padding restoring x."""
    x = rng.standard_normal((2, 4, 7, 6, 5))
    w = Tensor(rng.standard_normal((6, 2, 3, 2, 3)))
    y = F.conv3d(Tensor(x), w, None, (2, 2, 1), (1, 0, 1), (1, 2, 1), 2)
    g = rng.standard_normal(y.shape)
    back = F.conv_transpose3d(Tensor(g), w, None, (2, 2, 1), (1, 0, 1), (0, 1, 0), 2,
                              (1, 2, 1))
    assert back.shape == x.shape
    np.testing.assert_allclose((y.data * g).sum(), (x * back.data).sum(), rtol=1e-12)


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 2, 2, 2)).astype(np.float32), requires_grad=True)
    y = F.conv3d(x, w, padding="same")
    assert y.shape == (1, 3, 3, 4, 5) and y.dtype == np.float32
    F.conv_transpose3d(y, Tensor(np.ones((3, 2, 2, 2, 2), np.float32))).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def _zeros(*shape):
    return Tensor(np.zeros(shape))


@pytest.mark.parametrize("make, error, message", [
    (lambda: F.conv3d(_zeros(2, 4, 4), _zeros(3, 2, 2, 2, 2)), ValueError,
     r"conv3d: expected x \(N, C, D, H, W\) or unbatched \(C, D, H, W\) and weight "
     r"\(O, C / groups, kd, kh, kw\), got x \(2, 4, 4\) and weight \(3, 2, 2, 2, 2\)"),
    (lambda: F.conv3d(_zeros(1, 2, 4, 4, 4), _zeros(3, 4, 2, 2, 2)), ValueError,
     r"conv3d: expected x \(N, C, D, H, W\) and weight \(O, C, kd, kh, kw\) with the same C, got "
     r"x \(1, 2, 4, 4, 4\) and weight \(3, 4, 2, 2, 2\)"),
    (lambda: F.conv3d(_zeros(1, 1, 2, 5, 5), _zeros(1, 1, 3, 3, 3)), ValueError,
     r"conv3d: kernel \(3, 3, 3\) does not fit the input \(2, 5, 5\) with padding \(0, 0, 0\)"),
    (lambda: F.conv3d(_zeros(1, 1, 4, 5, 5), _zeros(1, 1, 3, 3, 3), dilation=(2, 1, 1)),
     ValueError, r"conv3d: kernel \(3, 3, 3\) with dilation \(2, 1, 1\) does not fit"),
    (lambda: F.conv3d(_zeros(1, 1, 4, 4, 4), _zeros(1, 1, 2, 2, 2), stride=(1, 2)), ValueError,
     r"conv3d: stride: expected an int or a triple of ints, got \(1, 2\)"),
    (lambda: F.conv3d(_zeros(1, 1, 4, 4, 4), _zeros(1, 1, 2, 2, 2), padding=-1), ValueError,
     r"conv3d: need stride >= 1 and padding >= 0, got \(1, 1, 1\), \(-1, -1, -1\)"),
    (lambda: F.conv3d(_zeros(1, 1, 4, 4, 4), _zeros(1, 1, 2, 2, 2), stride=2, padding="same"),
     ValueError, r"conv3d: padding='same' needs stride 1, as in PyTorch, got stride \(2, 2, 2\)"),
    (lambda: F.conv3d(_zeros(1, 3, 4, 4, 4), _zeros(2, 1, 2, 2, 2), groups=2), ValueError,
     r"conv3d: in_channels and out_channels must be divisible by groups=2"),
    (lambda: F.conv3d(_zeros(1, 2, 4, 4, 4), _zeros(2, 2, 2, 2, 2), _zeros(3)), ValueError,
     r"conv3d: bias must have shape \(2,\), got \(3,\)"),
    (lambda: F.conv3d(_zeros(1, 1, 4, 4, 4), _zeros(1, 1, 2, 2, 2), dilation=0), ValueError,
     r"conv3d: need dilation >= 1, got \(0, 0, 0\)"),
    (lambda: F.conv3d(_zeros(1, 1, 4, 4, 4), _zeros(1, 1, 2, 2, 2), groups=True), ValueError,
     r"conv3d: groups must be an int >= 1, got True"),
    (lambda: F.conv_transpose3d(_zeros(1, 2, 3, 3, 3), _zeros(3, 2, 2, 2, 2)), ValueError,
     r"conv_transpose3d: expected x \(N, C, D, H, W\) or unbatched \(C, D, H, W\) and weight "
     r"\(C, O / groups, kd, kh, kw\) with the same C, got x \(1, 2, 3, 3, 3\)"),
    (lambda: F.conv_transpose3d(_zeros(1, 2, 3, 3, 3), _zeros(2, 2, 2, 2, 2),
                                output_padding=(0, 1, 0)), ValueError,
     r"conv_transpose3d: output_padding must be smaller than either stride or dilation, as in "
     r"PyTorch, got output_padding \(0, 1, 0\), stride \(1, 1, 1\) and dilation \(1, 1, 1\)"),
    (lambda: F.conv_transpose3d(_zeros(1, 2, 2, 3, 3), _zeros(2, 2, 1, 2, 2), padding=1),
     ValueError, r"conv_transpose3d: the input \(2, 3, 3\) with kernel \(1, 2, 2\), stride "
                 r"\(1, 1, 1\), padding \(1, 1, 1\), output_padding \(0, 0, 0\) and dilation "
                 r"\(1, 1, 1\) gives an output of size \(0, 2, 2\), too small"),
    (lambda: F.conv_transpose3d(_zeros(1, 4, 3, 3, 3), _zeros(4, 1, 2, 2, 2), groups=3),
     ValueError, r"conv_transpose3d: in_channels must be divisible by groups=3"),
    (lambda: F.conv_transpose3d(_zeros(1, 2, 3, 3, 3), _zeros(2, 2, 2, 2, 2), _zeros(4)),
     ValueError, r"conv_transpose3d: bias must have shape \(2,\), got \(4,\)"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
