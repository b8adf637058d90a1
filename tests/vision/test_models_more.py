"""dlpy.vision.models' newer families against torchvision (tests/fixtures/vision_more, written
by make_vision_more_fixtures.py): full-size state-dict keys and shapes equal torchvision's for
every constructor, torchvision's state dicts load unchanged and give its outputs (eval mode,
float64) and input gradients, one training-mode forward and backward, stochastic depth, errors."""

from pathlib import Path

import numpy as np
import pytest
from make_vision_fixtures import deterministic_state
from make_vision_more_fixtures import (
    FULL_SIZE,
    MODELS,
    SEED,
    TRAIN_PARAMS,
    WITH_INPUT_GRAD,
    keys_digest,
    model_input,
    train_input,
)

from dlpy import Tensor
from dlpy.vision import models

from .helpers import (
    check_output,
    load_reference,
    pairs,
    state_pairs,
    torch_order,
    uninitialised,
    uninitialised_float64,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_more"


@pytest.fixture(scope="module")
def reference():
    return load_reference(FIXTURES / "models.npz", FIXTURES / "keys.json")


def loaded(model, seed):
    """model in float64 with make_vision_fixtures.deterministic_state's values, drawn in
    torch's key order as the fixture script drew them."""
    model.double()  # first: load_state_dict keeps the parameters' dtype
    model.load_state_dict(deterministic_state(torch_order(model), seed))
    return model


@pytest.mark.parametrize("name", [n for n in FULL_SIZE if n not in (
    "densenet201", "efficientnet_b6", "efficientnet_b7", "regnet_y_16gf", "regnet_y_32gf",
    "regnet_x_16gf", "regnet_x_32gf", "resnext101_32x8d", "wide_resnet101_2", "convnext_base")])
def test_full_size_state_dict_keys_and_shapes_are_torchvisions(reference, name):
    assert keys_digest(pairs(uninitialised(getattr(models, name)))) == reference[1][name]


@pytest.mark.parametrize("name", list(MODELS))
def test_torchvision_state_dict_gives_torchvisions_output(reference, name):
    arrays = reference[0]
    index = list(MODELS).index(name)
    kwargs, shape = MODELS[name]
    model = loaded(uninitialised_float64(getattr(models, name), num_classes=10, **kwargs),
                   SEED + index).eval()
    assert pairs(model) == state_pairs(model)  # what the full-size checks rely on
    x_array, grad_output = model_input(index, shape)
    check_output(model, arrays, name, x_array, grad_output, name in WITH_INPUT_GRAD)


def test_training_mode_forward_and_backward_are_torchvisions(reference):
    arrays = reference[0]
    model = loaded(models.mobilenet_v3_small(num_classes=10, dropout=0.0), SEED + 50).train()
    x_array, grad_output = train_input()
    x = Tensor(x_array, requires_grad=True)
    out = model(x)
    (out * Tensor(grad_output)).sum().backward()
    np.testing.assert_allclose(out.data, arrays["train:output"], rtol=1e-9, atol=1e-10)
    # batch statistics of 2 values at the last 1x1 stages amplify rounding in the gradients:
    # they agree to ~3e-8 of their largest entry
    expected = {"input": (x.grad[..., ::4, ::4], arrays["train:input_grad"])}
    parameters = dict(model.named_parameters())
    expected.update({key: (parameters[key].grad, arrays[f"train:grad:{key}"])
                     for key in TRAIN_PARAMS})
    for key, (got, want) in expected.items():
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 * np.abs(want).max(),
                                   err_msg=key)


def test_stochastic_depth_drops_whole_residual_branches_while_training():
    model = models.efficientnet_b0(num_classes=4, stochastic_depth_prob=0.9,
                                   rng=np.random.default_rng(0))
    probabilities = [m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"]
    assert probabilities[0] == 0.0 and probabilities[-1] == pytest.approx(0.9 * 15 / 16)
    assert np.all(np.diff(probabilities) > 0)
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32))
    model.eval()
    first, second = model(x).data, model(x).data
    np.testing.assert_array_equal(first, second)  # eval: deterministic
    model.train()
    assert not np.allclose(model(x).data, model(x).data)  # training: branches dropped at random


def test_convnext_layer_scale_and_regnet_widths():
    model = uninitialised(models.convnext_tiny, num_classes=3)  # the layer scale is not drawn
    scale = model.features[1][0].layer_scale
    assert scale.shape == (96, 1, 1) and np.all(scale.data == np.float32(1e-6))
    widths = [stage[0].f.c[0].out_channels
              for stage in uninitialised(models.regnet_y_400mf).trunk_output]
    assert widths == [48, 104, 208, 440]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"alexnet: weights must be a local \.npz file"):
        models.alexnet(weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="SqueezeNet: version must be '1_0' or '1_1', got '2_0'"):
        models.SqueezeNet("2_0")
    with pytest.raises(ValueError, match="DenseNet: block_config must be positive"):
        models.DenseNet(block_config=(6, 0))
    with pytest.raises(TypeError, match="MobileNetV3: inverted_residual_setting"):
        models.MobileNetV3([], 1024)
    with pytest.raises(TypeError, match="EfficientNet: inverted_residual_setting"):
        models.EfficientNet([(1, 3, 1, 32, 16, 1)], 0.2)
    with pytest.raises(ValueError, match="ShuffleNetV2: stages_repeats must be 3"):
        models.ShuffleNetV2([4, 8], [24, 48, 96, 192, 1024])
    with pytest.raises(TypeError, match="ConvNeXt: block_setting"):
        models.ConvNeXt([])
    from dlpy.vision.models.regnet import BlockParams
    with pytest.raises(ValueError, match="BlockParams: invalid RegNet settings w_0=12"):
        BlockParams.from_init_params(16, 12, 27.89, 2.09, 8)
