"""dlpy.vision.models.segmentation against torchvision (tests/fixtures/vision_round2, written
by make_vision_round2_fixtures.py): full-size state-dict keys and shapes, torchvision's state
dicts give its "out" / "aux" outputs (eval, float64, 32x32), the dilated backbones, errors."""

from pathlib import Path

import numpy as np
import pytest
from make_vision_fixtures import deterministic_state
from make_vision_round2_fixtures import SEED, SEGMENTATION, keys_digest, segmentation_input

from dlpy import Tensor
from dlpy.vision.models import segmentation

from .helpers import (
    load_reference,
    pairs,
    state_pairs,
    torch_order,
    uninitialised,
    uninitialised_float64,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_round2"


@pytest.fixture(scope="module")
def reference():
    return load_reference(FIXTURES / "segmentation.npz", FIXTURES / "keys.json")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if "101" in n else n for n in SEGMENTATION])
def test_full_size_state_dict_keys_and_shapes_are_torchvisions(reference, name):
    model = uninitialised(getattr(segmentation, name), **SEGMENTATION[name])
    assert keys_digest(pairs(model)) == reference[1][f"segmentation:{name}"]


@pytest.mark.parametrize("name", [n for n in SEGMENTATION if "101" not in n])
def test_torchvision_state_dict_gives_torchvisions_outputs(reference, name):
    arrays = reference[0]
    index = list(SEGMENTATION).index(name)
    model = uninitialised_float64(getattr(segmentation, name), num_classes=5,
                                  **SEGMENTATION[name]).double()
    model.load_state_dict(deterministic_state(torch_order(model), SEED + 200 + index))
    assert pairs(model) == state_pairs(model)  # what the full-size checks rely on
    out = model.eval()(Tensor(segmentation_input(index)))
    assert list(out) == (["out", "aux"] if SEGMENTATION[name].get("aux_loss") else ["out"])
    for key, value in out.items():
        assert value.shape == (1, 5, 32, 32)
        np.testing.assert_allclose(value.data[..., ::3, ::3], arrays[f"{name}:{key}"],
                                   rtol=1e-10, atol=1e-10)


def test_backbones_are_dilated_as_torchvisions():
    model = uninitialised(segmentation.fcn_resnet50, num_classes=3)
    layer4 = model.backbone.layer4
    assert [b.conv2.dilation for b in layer4] == [(2, 2), (4, 4), (4, 4)]
    assert layer4[0].downsample[0].stride == (1, 1) and "fc" not in dict(
        model.backbone.named_children())
    out = model.backbone(Tensor(np.zeros((1, 3, 32, 32), dtype=np.float32)))
    assert out["out"].shape == (1, 2048, 4, 4)  # output stride 8
    lraspp = uninitialised(segmentation.lraspp_mobilenet_v3_large, num_classes=3)
    assert lraspp.backbone.return_layers == {"4": "low", "16": "high"}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="lraspp_mobilenet_v3_large: this model has no aux"):
        segmentation.lraspp_mobilenet_v3_large(aux_loss=True)
    with pytest.raises(ValueError, match=r"IntermediateLayerGetter: return_layers \['head'\]"):
        segmentation.IntermediateLayerGetter(segmentation.FCNHead(8, 2), {"head": "out"})
    with pytest.raises(ValueError, match=r"fcn_resnet50: weights must be a local \.npz"):
        segmentation.fcn_resnet50(weights="COCO_WITH_VOC_LABELS_V1")
