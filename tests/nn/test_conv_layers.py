"""Conv1d, AvgPool2d, AdaptiveAvgPool2d, Unflatten, Conv2d's padding strings, dilation and
groups of Conv2d / Conv1d / MaxPool2d, ConvTranspose2d / 1d, padding_mode, MaxPool1d, AvgPool1d,
AdaptiveAvgPool1d, AdaptiveMaxPool2d and unbatched inputs: PyTorch state dicts loading unchanged
and giving PyTorch's outputs (tests/fixtures/nn/conv_layers.npz), the layers against the
functions, initialisation, errors, and a conv autoencoder that learns."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn, optim

from .helpers import fit
from .reference import load_grouped

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "conv_layers.npz"


@pytest.fixture(scope="module")
def torch_models():
    return load_grouped(FIXTURE)


def build(name):
    """The architectures of make_conv_layer_fixtures.py."""
    if name == "cnn1d":
        return nn.Sequential(
            nn.Conv1d(3, 6, 5, padding=2), nn.ReLU(),
            nn.Conv1d(6, 4, 3, stride=2, bias=False), nn.Tanh(),
            nn.Conv1d(4, 4, 4, padding="same"), nn.Flatten(), nn.Linear(4 * 7, 3),
        )
    if name == "cnn_pool":
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding="same"), nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            nn.Conv2d(4, 6, (2, 3), padding="same"), nn.AdaptiveAvgPool2d((2, 3)),
            nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(), nn.Linear(6 * 1 * 2, 6),
            nn.Unflatten(1, (2, 3)),
        )
    if name == "grouped":
        return nn.Sequential(
            nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
            nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, bias=False),  # depthwise
            nn.Flatten(), nn.Linear(6 * 3 * 2, 3),
        )
    if name == "grouped1d":
        return nn.Sequential(
            nn.Conv1d(4, 8, 3, padding="same", dilation=2, groups=4), nn.ReLU(),
            nn.Conv1d(8, 4, 2, stride=2, dilation=3, groups=2), nn.Flatten(), nn.Linear(4 * 9, 2),
        )
    if name == "transpose2d":
        return nn.Sequential(
            nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), groups=2,
                               dilation=(2, 1), bias=False), nn.Tanh(),
            nn.ConvTranspose2d(6, 3, 2, stride=3, padding=1, output_padding=2, dilation=3),
        )
    if name == "transpose1d":
        return nn.Sequential(
            nn.ConvTranspose1d(3, 4, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose1d(4, 2, 3, stride=3, output_padding=2, groups=2, dilation=2),
        )
    if name == "padding_modes":
        return nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
            nn.Conv2d(3, 4, (3, 4), padding="same", padding_mode="replicate"), nn.Tanh(),
            nn.Conv2d(4, 2, 3, stride=2, padding=(2, 1), dilation=2, groups=2,
                      padding_mode="circular"),
            nn.Conv2d(2, 2, 2, padding="same", dilation=(1, 3), padding_mode="reflect",
                      bias=False),
        )
    if name == "padding_modes1d":
        return nn.Sequential(
            nn.Conv1d(2, 3, 4, padding="same", padding_mode="reflect"), nn.ReLU(),
            nn.Conv1d(3, 4, 3, stride=2, padding=2, padding_mode="circular"),
            nn.Conv1d(4, 2, 3, padding=1, groups=2, padding_mode="replicate"),
        )
    if name == "pool1d":
        return nn.Sequential(
            nn.Conv1d(2, 4, 3), nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True), nn.ReLU(),
            nn.AvgPool1d(2, ceil_mode=True, count_include_pad=False), nn.AdaptiveAvgPool1d(3),
            nn.Flatten(), nn.Linear(4 * 3, 2),
        )
    if name == "adaptive_max":
        return nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveMaxPool2d((3, 2)), nn.Flatten(),
                             nn.Linear(3 * 3 * 2, 2))
    return nn.Sequential(nn.Conv2d(3, 5, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(5, 2))


MODELS = ["cnn1d", "cnn_pool", "global_pool", "grouped", "grouped1d", "transpose2d",
          "transpose1d", "padding_modes", "padding_modes1d", "pool1d", "adaptive_max"]


def test_every_fixture_model_is_tested(torch_models):
    assert set(torch_models) == set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_torch_state_dict_loads_unchanged_and_gives_torch_output(name, torch_models):
    reference = torch_models[name]
    model = build(name)
    own = model.state_dict()
    assert list(own) == list(reference["state"])  # the same names, in the same order
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in
                                                    reference["state"].items()}
    model.load_state_dict(reference["state"])
    out = model(reference["input"])
    assert out.shape == reference["output"].shape and out.dtype == np.float32
    np.testing.assert_allclose(out.data, reference["output"], rtol=1e-5, atol=1e-6)


def test_conv1d_shapes_init_and_draws_as_conv2d():
    conv = nn.Conv1d(3, 8, 5, stride=2, padding=1, rng=np.random.default_rng(0))
    assert conv.weight.shape == (8, 3, 5) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32
    assert (conv.kernel_size, conv.stride, conv.padding) == ((5,), (2,), (1,))
    bound = 1 / np.sqrt(3 * 5)
    assert np.abs(conv.weight.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.9 * bound  # uniform over the whole range
    assert conv(np.zeros((4, 3, 11), np.float32)).shape == (4, 8, 5)
    # the same draws, in the same order, as Conv2d's with a (1, k) kernel
    flat = nn.Conv2d(3, 8, (1, 5), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(conv.weight.data, flat.weight.data[:, :, 0])
    np.testing.assert_array_equal(conv.bias.data, flat.bias.data)
    assert [k for k, _ in nn.Conv1d(3, 2, 3, bias=False).named_parameters()] == ["weight"]


@pytest.mark.parametrize("layer, fan_in", [
    (lambda rng: nn.Conv2d(6, 4, (3, 2), groups=2, rng=rng), 3 * 3 * 2),
    (lambda rng: nn.Conv2d(3, 6, 3, dilation=2, groups=3, rng=rng), 1 * 3 * 3),  # depthwise
    (lambda rng: nn.Conv1d(4, 8, 5, dilation=2, groups=4, rng=rng), 1 * 5),
])
def test_grouped_shapes_and_init_bound_as_pytorch(layer, fan_in):
    """weight (out, in / groups, *kernel), U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in =
    in / groups * kernel size (dilation plays no part), as PyTorch."""
    conv = layer(np.random.default_rng(0))
    assert conv.weight.shape == (conv.out_channels, conv.in_channels // conv.groups,
                                 *conv.kernel_size)
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(conv.bias.data).max() <= bound
    assert bound >= np.abs(conv.weight.data).max() > 0.8 * bound  # the whole range, not in * k
    # the draws: weight then bias, from the one generator
    rng = np.random.default_rng(0)
    expected = rng.uniform(-bound, bound, conv.weight.shape).astype(np.float32)
    np.testing.assert_array_equal(conv.weight.data, expected)
    np.testing.assert_array_equal(conv.bias.data, rng.uniform(-bound, bound, conv.out_channels)
                                  .astype(np.float32))


def test_groups_1_dilation_1_draw_as_before():
    """Layers without groups or dilation draw exactly what they drew before these existed
    (trained models and other tests pin them): weight, then bias, with fan_in = in * kernel."""
    for conv, fan_in in ((nn.Conv2d(3, 4, (3, 2), rng=np.random.default_rng(5)), 18),
                         (nn.Conv2d(3, 4, (3, 2), dilation=3, groups=1,
                                    rng=np.random.default_rng(5)), 18),
                         (nn.Conv1d(2, 3, 4, rng=np.random.default_rng(5)), 8)):
        rng, bound = np.random.default_rng(5), 1 / np.sqrt(fan_in)
        np.testing.assert_array_equal(
            conv.weight.data, rng.uniform(-bound, bound, conv.weight.shape).astype(np.float32))
        np.testing.assert_array_equal(
            conv.bias.data, rng.uniform(-bound, bound, conv.out_channels).astype(np.float32))
    np.testing.assert_array_equal(  # a value printed before dilation and groups existed
        nn.Conv2d(1, 1, 1, rng=np.random.default_rng(0)).weight.data.ravel(),
        np.float32(0.27392337))


def test_layers_compute_what_the_functions_do():
    rng = np.random.default_rng(0)
    x1 = Tensor(rng.standard_normal((2, 3, 10)).astype(np.float32))
    conv1 = nn.Conv1d(3, 4, 3, stride=2, padding=1, rng=rng)
    np.testing.assert_array_equal(conv1(x1).data,
                                  F.conv1d(x1, conv1.weight, conv1.bias, 2, 1).data)
    same1 = nn.Conv1d(3, 4, 4, padding="same", bias=False, rng=rng)
    np.testing.assert_array_equal(same1(x1).data, F.conv1d(x1, same1.weight, None, 1,
                                                           "same").data)
    x = Tensor(rng.standard_normal((2, 3, 7, 6)).astype(np.float32))
    same2 = nn.Conv2d(3, 2, (2, 3), padding="same", rng=rng)
    assert same2(x).shape == (2, 2, 7, 6)
    np.testing.assert_array_equal(same2(x).data, F.conv2d(x, same2.weight, same2.bias,
                                                          padding="same").data)
    assert nn.Conv2d(3, 2, 3, padding="valid", rng=rng)(x).shape == (2, 2, 5, 4)
    pool = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_array_equal(pool(x).data, F.avg_pool2d(x, 3, 2, 1, True, False).data)
    np.testing.assert_array_equal(nn.AvgPool2d(2, divisor_override=3)(x).data,
                                  F.avg_pool2d(x, 2, divisor_override=3).data)
    assert nn.AvgPool2d(2)(x).shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d((3, None))(x).data,
                                  F.adaptive_avg_pool2d(x, (3, None)).data)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    assert list(nn.AvgPool2d(2).parameters()) == []
    assert list(nn.AdaptiveAvgPool2d(1).parameters()) == []
    grouped = nn.Conv2d(3, 6, (2, 3), padding="same", dilation=(2, 1), groups=3, rng=rng)
    np.testing.assert_array_equal(grouped(x).data, F.conv2d(x, grouped.weight, grouped.bias, 1,
                                                            "same", (2, 1), 3).data)
    grouped1 = nn.Conv1d(3, 3, 3, stride=2, padding=2, dilation=2, groups=3, bias=False,
                         rng=rng)
    np.testing.assert_array_equal(grouped1(x1).data,
                                  F.conv1d(x1, grouped1.weight, None, 2, 2, 2, 3).data)
    pool = nn.MaxPool2d(3, 2, 1, dilation=2, return_indices=True, ceil_mode=True)
    values, indices = pool(x)
    expected, expected_indices = F.max_pool2d(x, 3, 2, 1, 2, True, True)
    np.testing.assert_array_equal(values.data, expected.data)
    np.testing.assert_array_equal(indices.data, expected_indices.data)
    assert nn.MaxPool2d(2, ceil_mode=True)(x).shape == (2, 3, 4, 3)


def test_unflatten_undoes_flatten():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    flat = nn.Flatten()(x)
    back = nn.Unflatten(1, (3, 4, 5))(flat)
    np.testing.assert_array_equal(back.data, x.data)
    assert nn.Unflatten(-1, (-1, 2))(Tensor(np.zeros((2, 6)))).shape == (2, 3, 2)
    assert nn.Unflatten(0, [2, 1])(Tensor(np.zeros((2, 6)))).shape == (2, 1, 6)
    back.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(x.shape))


def test_reprs():
    # torch's: settings at their defaults left out; pools' sizes as given
    assert repr(nn.Conv1d(2, 3, 4, padding="same")) == (
        "Conv1d(2, 3, kernel_size=(4,), stride=(1,), padding=same)")
    assert repr(nn.AvgPool2d(3, 2, 1, count_include_pad=False)) == (
        "AvgPool2d(kernel_size=3, stride=2, padding=1)")
    assert repr(nn.AdaptiveAvgPool2d((None, 2))) == "AdaptiveAvgPool2d(output_size=(None, 2))"
    assert repr(nn.Unflatten(1, (3, 4))) == "Unflatten(dim=1, unflattened_size=(3, 4))"
    assert repr(nn.Conv2d(4, 6, 3, dilation=2, groups=2)) == (
        "Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2), groups=2)")
    assert repr(nn.Conv1d(2, 2, 3, groups=2, bias=False)) == (
        "Conv1d(2, 2, kernel_size=(3,), stride=(1,), groups=2, bias=False)")
    assert repr(nn.MaxPool2d(2, dilation=(1, 2), return_indices=True, ceil_mode=True)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=(1, 2), ceil_mode=True)")
    assert repr(nn.MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv1d(3, 2, 3)(Tensor(np.zeros((1, 2, 8)))), ValueError,
     r"Conv1d: expected input \(N, 3, L\) or unbatched \(3, L\), got \(1, 2, 8\)"),
    (lambda: nn.Conv1d(3, 2, 3)(Tensor(np.zeros((1, 3, 8, 8)))), ValueError,
     r"Conv1d: expected input \(N, 3, L\) or unbatched \(3, L\), got \(1, 3, 8, 8\)"),
    (lambda: nn.Conv1d(1, 1, 5)(Tensor(np.zeros((1, 1, 4), np.float32))), ValueError,
     r"conv1d: kernel size 5 does not fit the input length 4 with padding 0"),
    (lambda: nn.Conv1d(-1, 2, 3), ValueError, r"Conv1d: in_channels and out_channels must be "
                                              r">= 0, got -1, 2"),
    (lambda: nn.Conv1d(1, 2, (3, 3)), ValueError,
     r"Conv1d: kernel_size: expected an int or a 1-tuple of ints, got \(3, 3\)"),
    (lambda: nn.Conv1d(1, 2, 3, stride=2, padding="same"), ValueError,
     r"Conv1d: padding='same' needs stride 1, as in PyTorch, got stride 2"),
    (lambda: nn.Conv2d(1, 2, 3, stride=2, padding="same"), ValueError,
     r"Conv2d: padding='same' needs stride 1, as in PyTorch, got stride \(2, 2\)"),
    (lambda: nn.Conv2d(1, 2, 3, padding="full"), ValueError,
     r"Conv2d: padding must be ints, 'valid' or 'same', got 'full'"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError,
     r"Conv2d: in_channels and out_channels must be divisible by groups=2, got 3, 4"),
    (lambda: nn.Conv1d(4, 6, 3, groups=4), ValueError,
     r"Conv1d: in_channels and out_channels must be divisible by groups=4, got 4, 6"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, r"Conv2d: groups must be an int >= 1, "
                                                       r"got 0"),
    (lambda: nn.Conv2d(4, 4, 3, dilation=0), ValueError,
     r"Conv2d: need dilation >= 1, got \(0, 0\)"),
    (lambda: nn.Conv1d(4, 4, 3, dilation=-1), ValueError, r"Conv1d: need dilation >= 1, got -1"),
    (lambda: nn.Conv1d(4, 4, 3, 1, 0, False), ValueError,  # bias comes after groups, as torch
     r"Conv1d: dilation: expected an int or a 1-tuple of ints, got False"),
    (lambda: nn.MaxPool2d(2, dilation=0), ValueError, r"MaxPool2d: need dilation >= 1"),
    (lambda: nn.AvgPool2d(2)(Tensor(np.zeros((4, 4)))), ValueError,
     r"avg_pool2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\), got \(4, 4\)"),
    (lambda: nn.AdaptiveAvgPool2d(-1)(Tensor(np.zeros((1, 3, 4, 4)))), ValueError,
     r"adaptive_avg_pool2d: output_size must be an int >= 0"),
    (lambda: nn.Unflatten(1, (5, 4))(Tensor(np.zeros((2, 12)))), ValueError,
     r"Unflatten: sizes \(5, 4\) do not multiply to the size 12 of axis 1 of \(2, 12\)"),
    (lambda: nn.Unflatten(1, (-1, 5))(Tensor(np.zeros((2, 12)))), ValueError,
     r"Unflatten: sizes \(-1, 5\) do not multiply to the size 12"),
    (lambda: nn.Unflatten(2, (3, 4))(Tensor(np.zeros((2, 12)))), ValueError,
     r"Unflatten: dim 2 is out of range for shape \(2, 12\)"),
    # (as torch's, bad sizes or a bad dim fail when the layer is called, not when it is made)
    (lambda: nn.Unflatten(1, (-1, -1))(Tensor(np.zeros((2, 12)))), ValueError,
     r"unflattened_size must be sizes >= 0 with at most one -1, got \(-1, -1\)"),
    (lambda: nn.Unflatten(1, 3), TypeError,
     r"Unflatten: unflattened_size must be a tuple of ints, got 3"),
    (lambda: nn.Unflatten(1.0, (3, 4))(Tensor(np.zeros((2, 12)))), TypeError,
     r"Unflatten: dim must be an int, got 1.0"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_flatten_takes_start_and_end_dim_as_torch():
    # torch.nn.Flatten(0, 2) and Flatten(2) give (24, 5) and (2, 3, 20) for a (2, 3, 4, 5) input
    x = Tensor(np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten(2)(x).data, x.data.reshape(2, 3, 20))
    with pytest.raises(ValueError, match="start_dim 3 comes after end_dim 1"):
        nn.Flatten(3, 1)(x)


@pytest.mark.parametrize("name", ["transpose2d", "transpose1d", "padding_modes",
                                  "padding_modes1d"])
def test_unbatched_input_gives_the_batched_rows(name, torch_models):
    """Convolution layers (transposed, padding modes) take (C, H, W) / (C, L) as PyTorch."""
    reference = torch_models[name]
    model = build(name)
    model.load_state_dict(reference["state"])
    for i in range(len(reference["input"])):
        out = model(Tensor(reference["input"][i]))
        assert out.shape == reference["output"].shape[1:]
        np.testing.assert_allclose(out.data, reference["output"][i], rtol=1e-5, atol=1e-6)


def test_pooling_layers_take_unbatched_inputs():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 7, 6)).astype(np.float32))
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(3, 2, 1), nn.AdaptiveAvgPool2d((2, 3)),
                  nn.AdaptiveMaxPool2d(2)):
        np.testing.assert_array_equal(layer(x).data, layer(x[None]).data[0])
    x1 = Tensor(rng.standard_normal((3, 9)).astype(np.float32))
    for layer in (nn.MaxPool1d(2), nn.AvgPool1d(3, 2, 1), nn.AdaptiveAvgPool1d(4)):
        np.testing.assert_array_equal(layer(x1).data, layer(x1[None]).data[0])
    values, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert values.shape == indices.shape == (3, 3, 3)
    np.testing.assert_array_equal(nn.MaxUnpool2d(2)(values, indices, (7, 6)).data,
                                  nn.MaxUnpool2d(2)(values[None], indices.data[None],
                                                    (7, 6)).data[0])


@pytest.mark.parametrize("layer, weight_shape, fan_in", [
    (lambda rng: nn.ConvTranspose2d(4, 6, 3, rng=rng), (4, 6, 3, 3), 6 * 9),
    (lambda rng: nn.ConvTranspose2d(4, 6, (3, 2), groups=2, rng=rng), (4, 3, 3, 2), 3 * 6),
    (lambda rng: nn.ConvTranspose1d(3, 8, 5, groups=1, dilation=2, rng=rng), (3, 8, 5), 8 * 5),
])
def test_conv_transpose_shapes_and_init_as_pytorch(layer, weight_shape, fan_in):
    """weight (in, out / groups, *kernel), U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with PyTorch's
    fan_in = out / groups * kernel size (its weight's axis 1), bias the same bound; weight then
    bias from the one generator."""
    conv = layer(np.random.default_rng(0))
    assert conv.weight.shape == weight_shape and conv.bias.shape == (conv.out_channels,)
    assert conv.weight.dtype == np.float32
    rng, bound = np.random.default_rng(0), 1 / np.sqrt(fan_in)
    np.testing.assert_array_equal(conv.weight.data, rng.uniform(-bound, bound, weight_shape)
                                  .astype(np.float32))
    np.testing.assert_array_equal(conv.bias.data, rng.uniform(-bound, bound, conv.out_channels)
                                  .astype(np.float32))
    assert [k for k, _ in conv.named_parameters()] == ["weight", "bias"]
    assert list(nn.ConvTranspose2d(2, 2, 3, bias=False).state_dict()) == ["weight"]


def test_conv_transpose_settings_and_output_size():
    rng = np.random.default_rng(0)
    conv1 = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, dilation=2)
    assert (conv1.kernel_size, conv1.stride, conv1.padding, conv1.output_padding,
            conv1.dilation) == ((3,), (2,), (1,), (1,), (2,))  # 1-tuples, as PyTorch
    x = Tensor(rng.standard_normal((1, 4, 5, 5)).astype(np.float32))
    up = nn.ConvTranspose2d(4, 3, 3, stride=2, rng=rng)
    assert up(x).shape == (1, 3, 11, 11)
    # output_size picks output_padding in [0, stride): PyTorch's forward(x, output_size)
    big = up(x, output_size=[12, 12])
    np.testing.assert_array_equal(big.data, F.conv_transpose2d(x, up.weight, up.bias, 2, 0,
                                                               1).data)
    assert up(x, output_size=(1, 3, 12, 11)).shape == (1, 3, 12, 11)
    assert up(x[0], output_size=(3, 12, 12)).shape == (3, 12, 12)  # unbatched
    np.testing.assert_array_equal(up(x[0], (12, 12)).data, big.data[0])
    x1 = Tensor(rng.standard_normal((2, 4, 5)).astype(np.float32))
    np.testing.assert_array_equal(
        conv1(x1, output_size=[11]).data,
        F.conv_transpose1d(x1, conv1.weight, conv1.bias, 2, 1, 0, 1, 2).data)


def test_padding_mode_pads_with_f_pad_then_convolves_without_padding():
    """PyTorch's rule: F.pad(x, the padding each side, last axis first; "same": d (k - 1) in
    total, the odd one at the end) in the mode, then the convolution with padding 0."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 2, 7, 8)).astype(np.float32))
    for mode in ("reflect", "replicate", "circular"):
        conv = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode, rng=rng)
        np.testing.assert_array_equal(conv(x).data, F.conv2d(F.pad(x, (2, 2, 1, 1), mode),
                                                             conv.weight, conv.bias).data)
        same = nn.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2), padding_mode=mode,
                         rng=rng)
        np.testing.assert_array_equal(same(x).data, F.conv2d(
            F.pad(x, (2, 2, 1, 2), mode), same.weight, same.bias, dilation=(1, 2)).data)
        x1 = x[:, :, 0]
        conv1 = nn.Conv1d(2, 3, 4, padding="same", padding_mode=mode, rng=rng)
        np.testing.assert_array_equal(conv1(x1).data, F.conv1d(F.pad(x1, (1, 2), mode),
                                                               conv1.weight, conv1.bias).data)
    zeros = nn.Conv2d(2, 3, 3, padding=1, rng=rng)
    assert zeros.padding_mode == "zeros"
    np.testing.assert_array_equal(zeros(x).data, F.conv2d(x, zeros.weight, zeros.bias,
                                                          padding=1).data)
    valid = nn.Conv2d(2, 3, 3, padding="valid", padding_mode="circular", rng=rng)
    assert valid(x).shape == (2, 3, 5, 6)


def test_padding_mode_gradients_reach_the_input():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((1, 1, 4, 4), dtype=np.float32), requires_grad=True)
    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular", bias=False, rng=rng)
    conv.weight.data[...] = 1.0
    conv(x).sum().backward()
    # circular: every value is read by all 9 positions of the kernel
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 4, 4), 9.0))


def test_pool1d_layers_compute_what_the_functions_do():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 11)).astype(np.float32))
    pool = nn.MaxPool1d(3, 2, 1, dilation=2, return_indices=True, ceil_mode=True)
    assert (pool.kernel_size, pool.stride, pool.padding, pool.dilation) == (3, 2, 1, 2)
    values, indices = pool(x)
    expected, expected_indices = F.max_pool1d(x, 3, 2, 1, 2, True, True)
    np.testing.assert_array_equal(values.data, expected.data)
    np.testing.assert_array_equal(indices.data, expected_indices.data)
    avg = nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert (avg.kernel_size, avg.stride, avg.padding) == ((3,), (2,), (1,))
    np.testing.assert_array_equal(avg(x).data, F.avg_pool1d(x, 3, 2, 1, True, False).data)
    assert nn.AvgPool1d(2)(x).shape == (2, 3, 5)
    np.testing.assert_array_equal(nn.AdaptiveAvgPool1d(4)(x).data,
                                  F.adaptive_avg_pool1d(x, 4).data)
    x2 = Tensor(rng.standard_normal((2, 3, 7, 6)).astype(np.float32))
    values, indices = nn.AdaptiveMaxPool2d((3, None), return_indices=True)(x2)
    expected, expected_indices = F.adaptive_max_pool2d(x2, (3, None), True)
    np.testing.assert_array_equal(values.data, expected.data)
    np.testing.assert_array_equal(indices.data, expected_indices.data)
    for layer in (nn.MaxPool1d(2), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(2),
                  nn.AdaptiveMaxPool2d(2), nn.MaxUnpool2d(2)):
        assert list(layer.parameters()) == []


def test_new_reprs():
    assert repr(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                   dilation=2, bias=False)) == (
        "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
        "dilation=(2, 2), output_padding=(1, 1), groups=2, bias=False)")
    assert repr(nn.ConvTranspose1d(4, 6, 3)) == (
        "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(1,))")
    assert repr(nn.Conv2d(4, 6, 3, padding_mode="reflect")) == (
        "Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1), padding_mode=reflect)")
    assert repr(nn.MaxPool1d(3, dilation=2, ceil_mode=True)) == (
        "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=2, ceil_mode=True)")
    assert repr(nn.AvgPool1d(3, count_include_pad=False)) == (
        "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))")
    assert repr(nn.AdaptiveAvgPool1d(3)) == "AdaptiveAvgPool1d(output_size=3)"
    assert repr(nn.AdaptiveMaxPool2d((3, 4), return_indices=True)) == (
        "AdaptiveMaxPool2d(output_size=(3, 4))")


def _x(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d(2, 3, 3, padding_mode="foo"), ValueError,
     r"Conv2d: padding_mode must be one of zeros, reflect, replicate, circular, got 'foo'"),
    (lambda: nn.Conv1d(2, 3, 3, padding_mode="constant"), ValueError,
     r"Conv1d: padding_mode must be one of zeros, reflect, replicate, circular, got "
     r"'constant'"),
    (lambda: nn.Conv2d(2, 3, 3, padding=3, padding_mode="reflect")(_x(1, 2, 3, 3)), ValueError,
     r"pad: reflect needs widths below the size"),
    (lambda: nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect"), ValueError,
     r'ConvTranspose2d: only padding_mode "zeros" is supported, as in PyTorch, got '
     r"'reflect'"),
    (lambda: nn.ConvTranspose1d(2, 3, 3, padding_mode="circular"), ValueError,
     r'ConvTranspose1d: only padding_mode "zeros" is supported'),
    # output_padding is checked when called, as torch's (an output_size there replaces it)
    (lambda: nn.ConvTranspose2d(2, 3, 3, output_padding=1)(_x(1, 2, 3, 3)), RuntimeError,
     r"conv_transpose2d: output_padding must be smaller than either stride or dilation, as in "
     r"PyTorch, got output_padding \(1, 1\), stride \(1, 1\) and dilation \(1, 1\)"),
    (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=2)(_x(1, 2, 3)), RuntimeError,
     r"conv_transpose1d: output_padding must be smaller than either stride or dilation, as in "
     r"PyTorch, got output_padding 2, stride 2 and dilation 1"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, groups=2), ValueError,
     r"ConvTranspose2d: in_channels and out_channels must be divisible by groups=2, got 3, 4"),
    (lambda: nn.ConvTranspose2d(4, 3, 3)(_x(1, 3, 5, 5)), ValueError,
     r"ConvTranspose2d: expected input \(N, 4, H, W\) or unbatched \(4, H, W\), got "
     r"\(1, 3, 5, 5\)"),
    (lambda: nn.ConvTranspose1d(4, 3, 3)(_x(4, 5, 5, 5)), ValueError,
     r"ConvTranspose1d: expected input \(N, 4, L\) or unbatched \(4, L\), got "
     r"\(4, 5, 5, 5\)"),
    (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2)(_x(1, 4, 5, 5), output_size=(13, 12)),
     ValueError, r"ConvTranspose2d: requested an output size of \(13, 12\), but valid sizes "
                 r"range from \(11, 11\) to \(12, 12\) \(for an input of \(5, 5\)\)"),
    (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2)(_x(4, 5, 5), output_size=(1, 3, 12, 12)),
     ValueError, r"ConvTranspose2d: for a 3D input, output_size must have 2 or 3 elements, "
                 r"got \(1, 3, 12, 12\)"),
    (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2)(_x(1, 4, 5, 5), output_size=12),
     ValueError, r"ConvTranspose2d: output_size must be a tuple of ints, got 12"),
    (lambda: nn.Conv2d(3, 2, 3)(_x(3, 5)), ValueError,
     r"Conv2d: expected input \(N, 3, H, W\) or unbatched \(3, H, W\), got \(3, 5\)"),
    (lambda: nn.Conv2d(3, 2, 3)(_x(2, 5, 5)), ValueError,
     r"Conv2d: expected input \(N, 3, H, W\) or unbatched \(3, H, W\), got \(2, 5, 5\)"),
    (lambda: nn.MaxPool1d((2, 2)), ValueError,
     r"MaxPool1d: kernel_size: expected an int or a 1-tuple of ints, got \(2, 2\)"),
    (lambda: nn.AvgPool1d(2)(_x(8)), ValueError,
     r"avg_pool1d: expected x \(N, C, L\) or unbatched \(C, L\), got \(8,\)"),
    (lambda: nn.MaxUnpool2d(2)(_x(1, 1, 2, 2), np.zeros((1, 1, 2, 2), np.float32)), TypeError,
     r"max_unpool2d: indices must be int64"),
])
def test_new_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_conv_autoencoder_learns_to_reconstruct_its_images():
    """Conv2d down to 2x2, ConvTranspose2d back up to 8x8: six bar images pass through a
    16-number bottleneck, and Adam must bring the reconstruction error near zero."""
    rng = np.random.default_rng(0)
    images = np.zeros((6, 1, 8, 8), np.float32)
    for k in range(3):
        images[k, 0, :, 2 * k + 1] = 1.0  # vertical bars
        images[k + 3, 0, 2 * k + 1, :] = 1.0  # horizontal bars
    x = Tensor(images)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1, rng=rng), nn.ReLU(),  # (6, 8, 4, 4)
        nn.Conv2d(8, 4, 3, stride=2, padding=1, rng=rng), nn.ReLU(),  # (6, 4, 2, 2)
        nn.ConvTranspose2d(4, 8, 3, stride=2, padding=1, output_padding=1, rng=rng), nn.ReLU(),
        nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1, rng=rng),
    )
    opt = optim.Adam(model.parameters(), lr=0.01)
    losses = fit(model, x, x, opt, 150, loss_fn=F.mse_loss)
    assert losses[-1] < 0.02 * losses[0]
    reconstruction = model(x).data
    assert reconstruction.shape == images.shape
    assert np.abs(reconstruction - images).max() < 0.3  # every bar, in its own place
