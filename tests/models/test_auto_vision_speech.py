"""The Auto classes for ViT, CLIP and Whisper checkpoints and their preprocessors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlpy.models import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForSpeechSeq2Seq,
    AutoModelForZeroShotImageClassification,
)
from dlpy.models.clip import CLIPModel, CLIPVisionModel
from dlpy.models.feature_extraction import WhisperFeatureExtractor
from dlpy.models.image_processing import CLIPImageProcessor, ViTImageProcessor
from dlpy.models.vit import ViTForImageClassification, ViTModel
from dlpy.models.whisper import WhisperForConditionalGeneration, WhisperModel
from tests.models.vision_speech_fixture import arrays, configs, model


def test_models_by_model_type(tmp_path):
    data = arrays()
    model(ViTForImageClassification, "vit").save_pretrained(tmp_path / "vit")
    vit = AutoModelForImageClassification.from_pretrained(tmp_path / "vit")
    assert type(vit) is ViTForImageClassification
    np.testing.assert_allclose(vit(data["vit/pixels"]).logits.data, data["vit/logits"],
                               rtol=1e-5, atol=1e-5)
    with pytest.warns(UserWarning) as caught:  # the classifier's head dropped, a pooler added
        assert type(AutoModel.from_pretrained(tmp_path / "vit")) is ViTModel
    messages = " ".join(str(warning.message) for warning in caught)
    assert "no weights for ['pooler.dense.weight'" in messages
    assert "'classifier.weight'] are not used by ViTModel" in messages
    model(CLIPModel, "clip").save_pretrained(tmp_path / "clip")
    assert type(AutoModelForZeroShotImageClassification.from_pretrained(tmp_path / "clip")) \
        is CLIPModel
    assert type(AutoConfig.from_pretrained(tmp_path / "clip")).__name__ == "CLIPConfig"
    tower = CLIPVisionModel.from_pretrained(tmp_path / "clip")  # a tower out of CLIPModel's
    assert type(tower) is CLIPVisionModel
    model(WhisperForConditionalGeneration, "whisper").save_pretrained(tmp_path / "whisper")
    assert type(AutoModelForSpeechSeq2Seq.from_pretrained(tmp_path / "whisper")) \
        is WhisperForConditionalGeneration
    assert type(AutoModel.from_pretrained(tmp_path / "whisper")) is WhisperModel
    with pytest.raises(ValueError, match="AutoModelForImageClassification has no model for "
                                         "model_type 'whisper'; it supports vit"):
        AutoModelForImageClassification.from_pretrained(tmp_path / "whisper")


def test_preprocessors_by_type(tmp_path):
    for name, processor in (("vit", ViTImageProcessor.from_dict(configs()["vit_processor"])),
                            ("clip", CLIPImageProcessor.from_dict(configs()["clip_processor"]))):
        processor.save_pretrained(tmp_path / name)
        loaded = AutoImageProcessor.from_pretrained(tmp_path / name)
        assert type(loaded) is type(processor) and loaded.size == processor.size
    WhisperFeatureExtractor.from_dict(configs()["whisper_features"]).save_pretrained(
        tmp_path / "whisper")
    extractor = AutoFeatureExtractor.from_pretrained(tmp_path / "whisper")
    assert type(extractor) is WhisperFeatureExtractor
    assert extractor(arrays()["proc/audio0"])["input_features"].shape[1] == 8
    with pytest.raises(ValueError, match="image_processor_type None is not supported"):
        AutoImageProcessor.from_pretrained(tmp_path / "whisper")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="preprocessor_config.json: not valid JSON"):
        AutoFeatureExtractor.from_pretrained(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="AutoImageProcessor: no .*preprocessor_config"):
        AutoImageProcessor.from_pretrained(tmp_path / "missing")
    assert json.loads((tmp_path / "vit" / "preprocessor_config.json").read_text())[
        "image_processor_type"] == "ViTImageProcessor"
