"""Conv3d, ConvTranspose3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool1d / 3d and
MaxUnpool1d / 3d: the layers against the functions (which tests/ops/test_conv3d.py and
test_pool3d.py check against PyTorch; nn.Conv3d's padding modes too), PyTorch's initialisation
and settings, reprs, errors, and a small volumetric CNN that learns."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn, optim

from .helpers import fit


def _x(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape))


def test_conv3d_is_the_function_with_pytorchs_initialisation():
    rng = np.random.default_rng(0)
    layer = nn.Conv3d(4, 6, (3, 2, 3), stride=(1, 2, 1), padding=1,
                      dilation=(2, 1, 1), groups=2, rng=rng, dtype=np.float64)
    assert layer.weight.shape == (6, 2, 3, 2, 3) and layer.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 3 * 2 * 3)
    largest = np.abs(layer.weight.data).max()
    assert 0.8 * bound < largest <= bound
    x = _x(2, 4, 5, 6, 5)
    np.testing.assert_array_equal(layer(x).data, F.conv3d(
        x, layer.weight, layer.bias, (1, 2, 1), 1, (2, 1, 1), 2).data)
    np.testing.assert_allclose(layer(x[0]).data, layer(x).data[0], rtol=1e-12)  # unbatched
    assert nn.Conv3d(2, 3, 3, padding="same").padding == "same"
    assert nn.Conv3d(2, 3, 3).weight.dtype == np.float32
    assert list(nn.Conv3d(2, 2, 1, bias=False).state_dict()) == ["weight"]


def test_conv3d_same_keeps_the_size_in_every_padding_mode():
    x = _x(1, 2, 4, 5, 6)
    for mode in ("zeros", "reflect", "replicate", "circular"):
        layer = nn.Conv3d(2, 3, (2, 3, 4), padding="same", padding_mode=mode,
                          rng=np.random.default_rng(0), dtype=np.float64)
        assert layer(x).shape == (1, 3, 4, 5, 6), mode
    # circular padding wraps: a constant-per-position volume tiled in D stays periodic
    zeros = nn.Conv3d(1, 1, 3, padding=1, bias=False, dtype=np.float64)
    circular = nn.Conv3d(1, 1, 3, padding=1, bias=False, padding_mode="circular",
                         dtype=np.float64)
    circular.weight.data = zeros.weight.data.copy()
    ones = Tensor(np.ones((1, 1, 4, 4, 4)))
    np.testing.assert_allclose(circular(ones).data, zeros.weight.data.sum())
    assert not np.allclose(zeros(ones).data, zeros.weight.data.sum())


def test_conv_transpose3d_layer_and_output_size():
    layer = nn.ConvTranspose3d(4, 6, 3, stride=2, padding=1, groups=2,
                               rng=np.random.default_rng(1), dtype=np.float64)
    assert layer.weight.shape == (4, 3, 3, 3, 3)
    assert np.abs(layer.weight.data).max() <= 1 / math.sqrt(3 * 27)
    x = _x(2, 4, 3, 4, 2)
    y = layer(x, output_size=(6, 8, 3))
    assert y.shape == (2, 6, 6, 8, 3)
    np.testing.assert_array_equal(y.data, F.conv_transpose3d(
        x, layer.weight, layer.bias, 2, 1, (1, 1, 0), 2).data)
    np.testing.assert_allclose(layer(x[1], output_size=(6, 6, 8, 3)).data, y.data[1],
                               rtol=1e-12)
    with pytest.raises(ValueError, match=r"ConvTranspose3d: requested an output size of "
                                         r"\(7, 8, 3\), but valid sizes range from \(5, 7, 3\) "
                                         r"to \(6, 8, 4\) \(for an input of \(3, 4, 2\)\)"):
        layer(x, output_size=(7, 8, 3))


def test_pool_layers_are_the_functions():
    x = _x(2, 3, 5, 6, 7)
    values, indices = nn.MaxPool3d(3, 2, 1, dilation=(1, 2, 1), return_indices=True,
                                   ceil_mode=True)(x)
    expected = F.max_pool3d(x, 3, 2, 1, (1, 2, 1), True, True)
    np.testing.assert_array_equal(values.data, expected[0].data)
    np.testing.assert_array_equal(indices.data, expected[1].data)
    unpool = nn.MaxUnpool3d(3, 2, 1)
    np.testing.assert_array_equal(unpool(values, indices, output_size=x.shape).data,
                                  F.max_unpool3d(values, indices, 3, 2, 1, x.shape[2:]).data)
    np.testing.assert_array_equal(
        nn.AvgPool3d((2, 3, 2), 1, (1, 1, 0), ceil_mode=True, count_include_pad=False,
                     divisor_override=None)(x).data,
        F.avg_pool3d(x, (2, 3, 2), 1, (1, 1, 0), True, False).data)
    np.testing.assert_array_equal(nn.AvgPool3d(2, divisor_override=3)(x).data,
                                  F.avg_pool3d(x, 2, divisor_override=3).data)
    np.testing.assert_array_equal(nn.AdaptiveAvgPool3d((2, None, 3))(x).data,
                                  F.adaptive_avg_pool3d(x, (2, 6, 3)).data)
    y, i = nn.AdaptiveMaxPool3d(2, return_indices=True)(x)
    np.testing.assert_array_equal(i.data, F.adaptive_max_pool3d(x, 2, True)[1].data)
    line = _x(2, 3, 9)
    y, i = nn.AdaptiveMaxPool1d(4, return_indices=True)(line)
    np.testing.assert_array_equal(y.data, F.adaptive_max_pool1d(line, 4).data)
    values, indices = nn.MaxPool1d(2, return_indices=True)(line)
    restored = nn.MaxUnpool1d(2)(values, indices, output_size=(2, 3, 9))
    assert restored.shape == (2, 3, 9)
    np.testing.assert_array_equal(restored.data, F.max_unpool1d(values, indices, 2, None, 0,
                                                                (9,)).data)
    for layer in (nn.MaxPool3d(2), nn.AvgPool3d(2), nn.AdaptiveMaxPool1d(2), nn.MaxUnpool1d(2)):
        assert list(layer.parameters()) == []


def test_reprs():
    # torch's: settings at their defaults left out; pools' sizes as given
    assert repr(nn.Conv3d(2, 4, 3, stride=(1, 2, 2), padding=1)) == (
        "Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))")
    assert repr(nn.Conv3d(4, 4, 3, groups=2, dilation=2, padding_mode="replicate")) == (
        "Conv3d(4, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1), dilation=(2, 2, 2), groups=2, "
        "padding_mode=replicate)")
    assert repr(nn.ConvTranspose3d(2, 4, 2, stride=2, output_padding=1, bias=False)) == (
        "ConvTranspose3d(2, 4, kernel_size=(2, 2, 2), stride=(2, 2, 2), "
        "output_padding=(1, 1, 1), bias=False)")
    assert repr(nn.MaxPool3d(2, ceil_mode=True)) == (
        "MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=True)")
    assert repr(nn.AvgPool3d(3, 2, 1, divisor_override=4)) == (
        "AvgPool3d(kernel_size=3, stride=2, padding=1)")
    assert repr(nn.AdaptiveAvgPool3d((None, 2, 3))) == (
        "AdaptiveAvgPool3d(output_size=(None, 2, 3))")
    assert repr(nn.AdaptiveMaxPool1d(3, True)) == "AdaptiveMaxPool1d(output_size=3)"
    assert repr(nn.MaxUnpool1d(2)) == "MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))"
    assert repr(nn.MaxUnpool3d(2, 1)) == (
        "MaxUnpool3d(kernel_size=(2, 2, 2), stride=(1, 1, 1), padding=(0, 0, 0))")


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv3d(2, 3, 3)(_x(1, 2, 4, 4)), ValueError,
     r"Conv3d: expected input \(N, 2, D, H, W\) or unbatched \(2, D, H, W\), got \(1, 2, 4, 4\)"),
    (lambda: nn.Conv3d(2, 3, (3, 3)), ValueError,
     r"Conv3d: kernel_size: expected an int or a triple of ints, got \(3, 3\)"),
    (lambda: nn.Conv3d(2, 4, 3, stride=2, padding="same"), ValueError,
     r"Conv3d: padding='same' needs stride 1, as in PyTorch, got stride \(2, 2, 2\)"),
    (lambda: nn.Conv3d(3, 4, 3, groups=2), ValueError,
     r"Conv3d: in_channels and out_channels must be divisible by groups=2, got 3, 4"),
    (lambda: nn.Conv3d(2, 4, 3, padding_mode="edge"), ValueError,
     r"Conv3d: padding_mode must be one of zeros, reflect, replicate, circular, got 'edge'"),
    (lambda: nn.ConvTranspose3d(2, 4, 3, padding_mode="reflect"), ValueError,
     r'ConvTranspose3d: only padding_mode "zeros" is supported, as in PyTorch'),
    (lambda: nn.ConvTranspose3d(2, 4, 3, output_padding=1)(_x(1, 2, 2, 2, 2)), RuntimeError,
     r"conv_transpose3d: output_padding must be smaller than either stride or dilation"),
    (lambda: nn.ConvTranspose3d(2, 4, 3)(_x(1, 3, 2, 2, 2)), ValueError,
     r"ConvTranspose3d: expected input \(N, 2, D, H, W\) or unbatched \(2, D, H, W\), got "
     r"\(1, 3, 2, 2, 2\)"),
    (lambda: nn.MaxPool3d(2, dilation=0), ValueError, r"MaxPool3d: need dilation >= 1"),
    (lambda: nn.AvgPool3d((2, 2)), ValueError,
     r"AvgPool3d: kernel_size: expected an int or a triple of ints, got \(2, 2\)"),
    (lambda: nn.MaxUnpool1d((2, 2)), ValueError,
     r"MaxUnpool1d: kernel_size: expected an int or a 1-tuple of ints, got \(2, 2\)"),
    (lambda: nn.AdaptiveMaxPool3d(-1)(_x(1, 1, 2, 2, 2)), ValueError,
     r"adaptive_max_pool3d: output_size must be an int >= 0 or a triple of them"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_volumetric_cnn_learns_to_tell_cubes_from_rods():
    """Conv3d, MaxPool3d and a global AdaptiveAvgPool3d: a cube or a rod (along D, H or W) placed
    anywhere in a noisy 6x6x6 volume; the training loss must fall to near zero."""
    rng = np.random.default_rng(0)
    volumes, labels = [], []
    for k in range(24):
        v = rng.standard_normal((1, 6, 6, 6)).astype(np.float32) * 0.1
        d, h, w = rng.integers(0, 4, 3)
        if k % 2:
            v[0, d: d + 2, h: h + 2, w: w + 2] += 1.0  # a 2x2x2 cube
        else:
            axis = k // 2 % 3
            index = [slice(d, d + 1), slice(h, h + 1), slice(w, w + 1)]
            index[axis] = slice(0, 6)
            v[(0, *index)] += 1.0  # a rod through the volume
        volumes.append(v)
        labels.append(k % 2)
    x, y = Tensor(np.stack(volumes)), np.array(labels)
    model = nn.Sequential(
        nn.Conv3d(1, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool3d(2),
        nn.Conv3d(8, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
        nn.Flatten(), nn.Linear(8, 2, rng=rng),
    )
    opt = optim.Adam(model.parameters(), lr=0.02)
    losses = fit(model, x, y, opt, 60)
    assert losses[-1] < 0.1 * losses[0]
    assert (model(x).data.argmax(1) == y).all()
