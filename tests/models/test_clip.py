"""CLIP (both towers, the projections, the contrastive loss) and its image processor against
transformers (tests/fixtures/make_hf_vision_speech_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlpy.models import _hf
from dlpy.models.clip import (
    CLIPConfig,
    CLIPModel,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPVisionConfig,
    CLIPVisionModel,
    CLIPVisionModelWithProjection,
    quick_gelu,
)
from dlpy.models.image_processing import CLIPImageProcessor
from dlpy.tensor import Tensor

from .vision_speech_fixture import arrays, check_gradients, configs, group, model

TOL = dict(rtol=1e-5, atol=1e-5)


def clip() -> CLIPModel:
    return model(CLIPModel, "clip")


def test_towers_hidden_states_and_pooling_equal_transformers():
    data = arrays()
    net = clip()
    text = net.text_model(data["clip/ids"], data["clip/mask"], output_hidden_states=True)
    np.testing.assert_allclose(text.last_hidden_state.data, data["clip/text_last"], **TOL)
    np.testing.assert_allclose(text.pooler_output.data, data["clip/text_pooled"], **TOL)
    vision = net.vision_model(data["clip/pixels"], output_hidden_states=True)
    np.testing.assert_allclose(vision.last_hidden_state.data, data["clip/vision_last"], **TOL)
    np.testing.assert_allclose(vision.pooler_output.data, data["clip/vision_pooled"], **TOL)
    for tower, out in (("text", text), ("vision", vision)):
        assert len(out.hidden_states) == 3  # the layers' input, then each layer
        for i, hidden in enumerate(out.hidden_states):
            np.testing.assert_allclose(hidden.data, data[f"clip/{tower}_hidden/{i}"], **TOL)
    weights = net.text_model(data["clip/ids"], data["clip/mask"], output_attentions=True
                             ).attentions[0]  # (batch, heads, seq, seq): causal, no padding
    assert not np.triu(weights[0, 0], 1).any() and not weights[1, :, :, 4:].any()
    features = net.get_text_features(data["clip/ids"], data["clip/mask"]).pooler_output
    np.testing.assert_allclose(features.data, data["clip/text_features"], **TOL)
    features = net.get_image_features(data["clip/pixels"]).pooler_output
    np.testing.assert_allclose(features.data, data["clip/image_features"], **TOL)


def test_eos_pooling_by_token_id():
    """eos_token_id 2: the largest id is pooled (legacy); otherwise its first position."""
    data = arrays()
    config = CLIPTextConfig.from_dict(dict(configs()["clip"]["text_config"], eos_token_id=7))
    tower = model(CLIPTextModel, "clip", config=config)  # text_model. dropped, vision skipped
    np.testing.assert_allclose(tower(data["clip/eos_ids"]).pooler_output.data,
                               data["clip/eos_pooled"], **TOL)
    legacy = clip().text_model(data["clip/eos_ids"])  # eos_token_id 2: argmax of the ids
    np.testing.assert_allclose(legacy.pooler_output.data,
                               legacy.last_hidden_state.data[[0, 1], [2, 1]], **TOL)


def test_contrastive_logits_loss_and_gradients_equal_transformers():
    data = arrays()
    net = clip().train()
    out = net(data["clip/ids"], data["clip/pixels"], data["clip/mask"], return_loss=True)
    np.testing.assert_allclose(out.logits_per_image.data, data["clip/logits_per_image"], **TOL)
    np.testing.assert_allclose(out.logits_per_text.data, data["clip/logits_per_image"].T, **TOL)
    np.testing.assert_allclose(out.text_embeds.data, data["clip/text_embeds"], **TOL)
    np.testing.assert_allclose(out.image_embeds.data, data["clip/image_embeds"], **TOL)
    np.testing.assert_allclose(out.loss.item(), data["clip/loss"], rtol=1e-5)
    assert out[0] is out.loss and "text_model_output" in out
    out.loss.backward()
    check_gradients(net, "clip")


def test_zero_shot_classification_example():
    """Three label prompts scored against three images: the softmax over logits_per_image
    picks the same label as transformers for each image."""
    data = arrays()
    net = clip()
    logits = net(input_ids=data["clip/zs_ids"], pixel_values=data["clip/zs_pixels"]
                 ).logits_per_image.data  # (images, prompts)
    np.testing.assert_allclose(logits, data["clip/zs_logits"], **TOL)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_array_equal(probs.argmax(1), data["clip/zs_logits"].argmax(1))
    assert len(set(probs.argmax(1))) > 1  # not one label for everything


def test_projection_models_and_checkpoints(tmp_path):
    data = arrays()
    net = clip()
    net.save_pretrained(tmp_path)
    assert set(_hf.read_state_dict(tmp_path)) == set(group("clip/state"))
    saved = json.loads((tmp_path / _hf.CONFIG).read_text())
    assert saved["model_type"] == "clip" and saved["text_config"]["hidden_size"] == 32
    assert saved["vision_config"]["model_type"] == "clip_vision_model"
    again = CLIPModel.from_pretrained(tmp_path)
    np.testing.assert_allclose(again(data["clip/zs_ids"], data["clip/zs_pixels"])
                               .logits_per_image.data, data["clip/zs_logits"], **TOL)
    text = CLIPTextModelWithProjection.from_pretrained(tmp_path)  # the tower out of CLIPModel
    np.testing.assert_allclose(text(data["clip/ids"], data["clip/mask"]).text_embeds.data,
                               data["clip/text_features"], **TOL)
    vision = CLIPVisionModelWithProjection.from_pretrained(tmp_path)
    np.testing.assert_allclose(vision(data["clip/pixels"]).image_embeds.data,
                               data["clip/image_features"], **TOL)
    tower = CLIPVisionModel.from_pretrained(tmp_path)
    np.testing.assert_allclose(tower(data["clip/pixels"]).pooler_output.data,
                               data["clip/vision_pooled"], **TOL)
    tower.save_pretrained(tmp_path / "vision")  # transformers 5 saves a tower unprefixed
    assert "embeddings.class_embedding" in _hf.read_state_dict(tmp_path / "vision")
    np.testing.assert_allclose(CLIPVisionModel.from_pretrained(tmp_path / "vision")(
        data["clip/pixels"]).pooler_output.data, data["clip/vision_pooled"], **TOL)


def test_quick_gelu_and_interpolated_positions():
    x = np.linspace(-4, 4, 9, dtype=np.float32)
    np.testing.assert_allclose(quick_gelu(Tensor(x)).data, x / (1 + np.exp(-1.702 * x)),
                               rtol=1e-6)
    data = arrays()
    tower = clip().vision_model
    same = tower(data["clip/pixels"], interpolate_pos_encoding=True).pooler_output.data
    np.testing.assert_allclose(same, data["clip/vision_pooled"], **TOL)  # 16 x 16: no resize
    bigger = tower(np.zeros((1, 3, 24, 20), np.float32), interpolate_pos_encoding=True)
    assert bigger.last_hidden_state.shape == (1, 1 + 30, 24)


def test_image_processor_equals_transformers():
    data = arrays()
    processor = CLIPImageProcessor.from_dict(configs()["clip_processor"])
    assert processor.size == {"shortest_edge": 14} and processor.resample == 3
    for image, expected in (("clip_image_chw", "clip_pixels"), ("clip_image_u8", "clip_pixels_u8")):
        out = processor(data[f"proc/{image}"])["pixel_values"]
        np.testing.assert_allclose(out, data[f"proc/{expected}"], rtol=1e-5, atol=1e-5)
    crop = processor(data["proc/clip_image_u8"], do_resize=False)["pixel_values"]
    np.testing.assert_allclose(crop, data["proc/clip_crop_only"], rtol=1e-5, atol=1e-5)
    small = processor(np.full((4, 6, 3), 255, np.uint8), do_resize=False)["pixel_values"]
    assert small.shape == (1, 3, 12, 12) and small[0, 0, 0, 0] < small[0, 0, 6, 6]  # padded


def test_errors():
    data = arrays()
    net = clip()
    with pytest.raises(ValueError, match="as many texts as images"):
        net(data["clip/zs_ids"][:2], data["clip/zs_pixels"], return_loss=True)
    with pytest.raises(ValueError, match="13 tokens are more than max_position_embeddings=12"):
        net.text_model(np.ones((1, 13), np.int64))
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=50\)"):
        net.text_model(np.array([[1, 50]]))
    with pytest.raises(ValueError, match="built for 16 x 16"):
        net.vision_model(np.zeros((1, 3, 24, 24), np.float32))
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        CLIPVisionConfig.from_dict(dict(configs()["clip"]["vision_config"], hidden_act="swishy"))
    with pytest.raises(TypeError, match="expected a CLIPTextConfig, got CLIPConfig"):
        CLIPTextModel(CLIPConfig())
    with pytest.raises(ValueError, match="unexpected keys"):
        net.load_hf_state_dict(dict(group("clip/state"), extra=np.zeros(1)))
