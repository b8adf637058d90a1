"""dlpy.vision.models' round-two families against torchvision (tests/fixtures/vision_round2,
written by make_vision_round2_fixtures.py): GoogLeNet, Inception v3, MNASNet, Swin (V1 and V2)
and the larger ViT / EfficientNetV2 / ConvNeXt / RegNet constructors: full-size state-dict keys
and shapes, eval outputs and input gradients in float64, GoogLeNet's auxiliary outputs in
training mode, the Swin tables, errors."""

import os
from pathlib import Path

import numpy as np
import pytest
from make_vision_fixtures import deterministic_state
from make_vision_round2_fixtures import (
    FULL_SIZE,
    MODELS,
    SEED,
    WITH_INPUT_GRAD,
    drawn,
    keys_digest,
    model_input,
)

from dlpy import Tensor
from dlpy.vision import models
from dlpy.vision.models import swin_transformer as swin

from .helpers import (
    check_output,
    load_reference,
    pairs,
    state_pairs,
    torch_order,
    uninitialised,
    uninitialised_float64,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_round2"
# 300 to 650 M parameters (GBs of zeros and seconds each even uninitialised): checked with
# DLPY_HUGE_MODELS=1 (all agreed when this was written)
HUGE = ("vit_l_16", "vit_l_32", "vit_h_14", "regnet_y_128gf")
huge = pytest.mark.skipif(not os.environ.get("DLPY_HUGE_MODELS"),
                          reason="set DLPY_HUGE_MODELS=1 to build the 300-650 M models")


@pytest.fixture(scope="module")
def reference():
    return load_reference(FIXTURES / "models.npz", FIXTURES / "keys.json")


def build(name, **kwargs):
    """MODELS[name] without its random initialisation, in float64 (the values are loaded over
    it)."""
    constructor, extra, _ = MODELS[name]
    extra = dict(extra)
    if extra.pop("v2", False):
        extra.update(block=swin.SwinTransformerBlockV2, downsample_layer=swin.PatchMergingV2)
    return uninitialised_float64(getattr(models, constructor), **extra, **kwargs)


def loaded(model, seed, arrays):
    """model in float64 with the fixture script's drawn values (torch's key order); the
    computed Swin tables kept, V2's coordinate table torchvision's float32 one (widened, as
    torch's double() widens that buffer)."""
    model.double()
    model.load_state_dict(deterministic_state(drawn(torch_order(model)), seed), strict=False)
    for module in model.modules():
        if isinstance(module, swin.ShiftedWindowAttentionV2):
            module.relative_coords_table = arrays["swin_v2:coords_table"].astype(np.float64)
    return model


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.slow, huge]) if n in HUGE else n for n in FULL_SIZE])
def test_full_size_state_dict_keys_and_shapes_are_torchvisions(reference, name):
    assert keys_digest(pairs(uninitialised(getattr(models, name)))) == reference[1][name]


@pytest.mark.parametrize("name", list(MODELS))
def test_torchvision_state_dict_gives_torchvisions_output(reference, name):
    arrays = reference[0]
    index = list(MODELS).index(name)
    model = loaded(build(name, num_classes=10), SEED + index, arrays).eval()
    assert pairs(model) == state_pairs(model)  # what the full-size checks rely on
    x_array, grad_output = model_input(index, MODELS[name][2])
    check_output(model, arrays, name, x_array, grad_output, name in WITH_INPUT_GRAD)


def test_googlenet_training_mode_returns_both_auxiliary_outputs(reference):
    arrays = reference[0]
    model = loaded(build("googlenet", num_classes=10, dropout=0.0, dropout_aux=0.0), SEED + 50,
                   arrays).train()
    x = Tensor(model_input(50, (2, 3, 32, 32))[0], requires_grad=True)
    out = model(x)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    (out.logits.sum() + 2 * out.aux_logits2.sum() + 3 * out.aux_logits1.sum()).backward()
    for field in out._fields:
        np.testing.assert_allclose(getattr(out, field).data,
                                   arrays[f"train:googlenet:{field}"], rtol=1e-9, atol=1e-10)
    want = arrays["train:googlenet:input_grad"]
    np.testing.assert_allclose(x.grad[..., ::4, ::4], want, rtol=0,
                               atol=1e-8 * np.abs(want).max())
    model.eval()
    assert isinstance(model(x), Tensor)  # eval: the logits only


def test_swin_tables_are_torchvisions(reference):
    attention = swin.ShiftedWindowAttentionV2(8, [4, 4], [2, 2], 2)
    np.testing.assert_allclose(attention.relative_coords_table,
                               reference[0]["swin_v2:coords_table"], rtol=1e-6)
    index = attention.relative_position_index.reshape(16, 16)
    assert index.dtype == np.int64 and index[0, 0] == 24 and index.max() == 48
    np.testing.assert_array_equal(np.diag(index), np.full(16, 24))  # zero offset: the middle


def test_mnasnet_widths_and_inception_aux_classifier_init():
    assert uninitialised(models.mnasnet0_5).layers[8][0].layers[0].in_channels == 8
    assert uninitialised(models.mnasnet1_3).layers[14].in_channels == 416
    model = models.inception_v3(num_classes=5, rng=np.random.default_rng(0))
    assert model.AuxLogits.fc.weight.data.std() == pytest.approx(0.001, rel=0.1)
    assert model.fc.weight.data.std() == pytest.approx(0.1, rel=0.05)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="MNASNet: alpha must be > 0, got 0"):
        models.MNASNet(0)
    with pytest.raises(ValueError, match="SwinTransformer: depths and num_heads"):
        models.SwinTransformer([4, 4], 16, [2, 2], [2], [7, 7])
    with pytest.raises(ValueError, match="ShiftedWindowAttention: window_size and shift_size"):
        swin.ShiftedWindowAttention(8, [7], [0, 0], 2)
    with pytest.raises(ValueError, match=r"googlenet: weights must be a local \.npz"):
        models.googlenet(weights="IMAGENET1K_V1")
