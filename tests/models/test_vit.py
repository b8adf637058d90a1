"""ViT and its image processor against transformers' outputs, losses, gradients and checkpoint
names (tests/fixtures/make_hf_vision_speech_fixtures.py)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from dlpy.models import _hf
from dlpy.models.image_processing import PREPROCESSOR_CONFIG, ViTImageProcessor
from dlpy.models.vit import RENAMES, ViTConfig, ViTForImageClassification, ViTModel

from .vision_speech_fixture import arrays, check_gradients, configs, group, model

TOL = dict(rtol=1e-5, atol=1e-5)


def in_memory_name(name: str) -> str:
    """transformers 5's in-memory name (vit.layers.0.attention.q_proj) -> the checkpoint's."""
    for pattern, target in RENAMES:
        name = pattern.sub(target, name)
    return name


def body() -> ViTModel:
    state = dict(group("vit/state"))
    state.update({f"vit.pooler.{k}": v for k, v in group("vit/pooler").items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the classifier's weights are not the body's
        return model(ViTModel, "vit", state=state)


def test_hidden_states_pooler_and_interpolation_equal_transformers():
    data = arrays()
    out = body()(data["vit/pixels"], output_hidden_states=True)
    assert out.last_hidden_state.shape == (2, 1 + 16, 32)
    np.testing.assert_allclose(out.last_hidden_state.data, data["vit/last"], **TOL)
    np.testing.assert_allclose(out.pooler_output.data, data["vit/pooled"], **TOL)
    assert len(out.hidden_states) == 3  # the embeddings, then each layer
    for i, hidden in enumerate(out.hidden_states):
        np.testing.assert_allclose(hidden.data, data[f"vit/hidden/{i}"], **TOL)
    weights = body()(data["vit/pixels"], output_attentions=True).attentions
    assert len(weights) == 2 and weights[0].shape == (2, 4, 17, 17)
    np.testing.assert_allclose(weights[1].sum(-1), 1.0, rtol=1e-5)
    # 24 x 20 pixels: the 4 x 4 position grid resized bicubically to 6 x 5
    bigger = body()(data["vit/big"], interpolate_pos_encoding=True).last_hidden_state
    assert bigger.shape == (1, 1 + 30, 32)
    np.testing.assert_allclose(bigger.data, data["vit/interp"], **TOL)


def test_classifier_logits_and_the_three_losses():
    data = arrays()
    classifier = model(ViTForImageClassification, "vit")
    pixels = data["vit/pixels"]
    np.testing.assert_allclose(classifier(pixels).logits.data, data["vit/logits"], **TOL)
    for problem, name in (("regression", "regression"), ("multi", "multi_label_classification")):
        classifier.config.problem_type = name
        loss = classifier(pixels, labels=data[f"vit/labels_{problem}"]).loss
        np.testing.assert_allclose(loss.item(), data[f"vit/loss_{problem}"], rtol=1e-5)
    classifier.config.problem_type = None  # integer labels: single-label, chosen and stored
    loss = classifier(pixels, labels=data["vit/labels_single"]).loss
    np.testing.assert_allclose(loss.item(), data["vit/loss_single"], rtol=1e-5)
    assert classifier.config.problem_type == "single_label_classification"


def test_training_gradients_equal_transformers():
    data = arrays()
    classifier = model(ViTForImageClassification, "vit").train()
    classifier(data["vit/pixels"], labels=data["vit/labels_single"]).loss.backward()
    check_gradients(classifier, "vit", in_memory_name)


def test_checkpoint_round_trip_and_transformers_names(tmp_path):
    data = arrays()
    classifier = model(ViTForImageClassification, "vit")
    classifier.save_pretrained(tmp_path)
    assert set(_hf.read_state_dict(tmp_path)) == set(group("vit/state"))  # transformers' names
    saved = json.loads((tmp_path / _hf.CONFIG).read_text())
    assert saved["model_type"] == "vit" and saved["id2label"] == {"0": "LABEL_0", "1": "LABEL_1",
                                                                  "2": "LABEL_2"}
    again = ViTForImageClassification.from_pretrained(tmp_path)
    np.testing.assert_allclose(again(data["vit/pixels"]).logits.data, data["vit/logits"], **TOL)
    # transformers 5's in-memory names (a torch state_dict()) load too
    renamed = {}
    for key, value in group("vit/state").items():
        for old, new in (("attention.attention.query", "attention.q_proj"),
                         ("attention.attention.key", "attention.k_proj"),
                         ("attention.attention.value", "attention.v_proj"),
                         ("attention.output.dense", "attention.o_proj"),
                         ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2"),
                         ("vit.encoder.layer.", "vit.layers.")):
            key = key.replace(old, new)
        renamed[key] = value
    assert "vit.layers.1.mlp.fc2.weight" in renamed and not any("encoder" in k for k in renamed)
    np.testing.assert_allclose(model(ViTForImageClassification, "vit", state=renamed)(
        data["vit/pixels"]).logits.data, data["vit/logits"], **TOL)
    with pytest.warns(UserWarning) as record:  # the classifier's checkpoint: a new pooler
        ViTModel.from_pretrained(tmp_path)
    messages = " ".join(str(w.message) for w in record)
    assert "no weights for ['pooler.dense.weight', 'pooler.dense.bias']" in messages
    assert "['classifier.bias', 'classifier.weight'] are not used by ViTModel" in messages


def test_image_processor_equals_transformers(tmp_path):
    data = arrays()
    processor = ViTImageProcessor.from_dict(configs()["vit_processor"])
    assert processor.size == {"height": 12, "width": 10} and processor.resample == 2
    out = processor(data["proc/vit_image_u8"])["pixel_values"]
    np.testing.assert_allclose(out, data["proc/vit_pixels"], rtol=1e-5, atol=1e-5)
    up = processor(data["proc/vit_small_image"], size={"height": 9, "width": 7})
    np.testing.assert_allclose(up["pixel_values"], data["proc/vit_pixels_up"], atol=1e-5)
    processor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / PREPROCESSOR_CONFIG).read_text())[
        "image_processor_type"] == "ViTImageProcessor"
    again = ViTImageProcessor.from_pretrained(tmp_path)
    batch = again([data["proc/vit_image_u8"]] * 2, return_tensors="dl")["pixel_values"]
    assert batch.shape == (2, 3, 12, 10)
    np.testing.assert_allclose(batch.data[1], data["proc/vit_pixels"][0], atol=1e-5)
    # a model on processed pixels: 224 x 224 by default
    assert ViTImageProcessor()(np.zeros((30, 40), np.uint8))["pixel_values"].shape == \
        (1, 3, 224, 224)


def test_errors(tmp_path):
    data = arrays()
    net = model(ViTForImageClassification, "vit")
    with pytest.raises(ValueError, match=r"images of 24 x 20 pixels, but the model was built "
                                         r"for 16 x 16.*interpolate_pos_encoding"):
        net(data["vit/big"])
    with pytest.raises(ValueError, match=r"num_channels=3.*got shape \(2, 1, 16, 16\)"):
        net(data["vit/pixels"][:, :1])
    with pytest.raises(ValueError, match=r"hidden_size \(30\) must be a multiple"):
        ViTConfig(hidden_size=30, num_attention_heads=4)._checked()
    with pytest.raises(ValueError, match=r"image_size \(18\) must be a multiple of patch_size"):
        ViTConfig.from_dict(dict(configs()["vit"], image_size=18))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        ViTConfig.from_dict(dict(configs()["vit"], model_type="bert"))
    with pytest.raises(ValueError, match="resample must be 2"):
        ViTImageProcessor(resample=7)
    with pytest.raises(ValueError, match=r"expected 1 or 3 channels.*\(5, 6, 7\)"):
        ViTImageProcessor()(np.zeros((5, 6, 7), np.uint8))
    with pytest.raises(FileNotFoundError, match=PREPROCESSOR_CONFIG):
        ViTImageProcessor.from_pretrained(tmp_path)
