"""Whisper (encoder-decoder, generate) and its log-mel feature extractor against transformers
(tests/fixtures/make_hf_vision_speech_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlpy.models import _hf
from dlpy.models.feature_extraction import WhisperFeatureExtractor
from dlpy.models.generation import GENERATION_CONFIG
from dlpy.models.whisper import (
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperGenerationConfig,
    WhisperModel,
    sinusoids,
)

from .vision_speech_fixture import arrays, check_gradients, configs, group, model

TOL = dict(rtol=1e-5, atol=1e-5)


def whisper(generation: str | None = "whisper_generation") -> WhisperForConditionalGeneration:
    net = model(WhisperForConditionalGeneration, "whisper")
    if generation:
        net.generation_config = WhisperGenerationConfig.from_dict(configs()[generation])
    return net


def test_logits_loss_encoder_and_hidden_states_equal_transformers():
    data = arrays()
    net = whisper()
    out = net(data["whisper/features"], labels=data["whisper/labels"])
    assert out.logits.shape == (2, 5, 64)
    np.testing.assert_allclose(out.logits.data, data["whisper/logits"], **TOL)
    np.testing.assert_allclose(out.loss.item(), data["whisper/loss_eval"], rtol=1e-5)
    np.testing.assert_allclose(out.encoder_last_hidden_state.data, data["whisper/encoder"],
                               **TOL)
    encoder = net.get_encoder()(data["whisper/features"], output_hidden_states=True)
    for i, hidden in enumerate(encoder.hidden_states):  # the last one after layer_norm
        np.testing.assert_allclose(hidden.data, data[f"whisper/encoder_hidden/{i}"], **TOL)
    positions = net.model.encoder.embed_positions.weight
    np.testing.assert_allclose(positions.data, sinusoids(12, 32), atol=1e-6)
    assert not positions.requires_grad  # fixed, as transformers
    assert net.proj_out.weight is net.model.decoder.embed_tokens.weight


def test_training_gradients_equal_transformers():
    data = arrays()
    net = whisper().train()
    loss = net(data["whisper/features"], labels=data["whisper/labels"]).loss
    np.testing.assert_allclose(loss.item(), data["whisper/loss"], rtol=1e-5)
    loss.backward()
    check_gradients(net, "whisper")
    assert net.model.encoder.embed_positions.weight.grad is None


@pytest.mark.parametrize("run, generation, kwargs", [
    ("generate", "whisper_generation", dict(max_new_tokens=8)),
    ("generate_eos", "whisper_generation", dict(max_new_tokens=8, eos_token_id=61)),
    ("generate_detect", "whisper_multilingual", dict(max_new_tokens=6)),
    ("generate_language", "whisper_multilingual",
     dict(max_new_tokens=6, language="de", task="translate")),
])
def test_generate_equals_transformers(run, generation, kwargs):
    data = arrays()
    out = whisper(generation).generate(data["whisper/features"], **kwargs)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.data, data[f"whisper/{run}"])


def test_generate_with_decoder_input_ids_and_without_the_cache():
    data = arrays()
    net = whisper()
    prompt = data["whisper/prompt"]  # start, language, task, no timestamps, one text token
    out = net.generate(data["whisper/features"], decoder_input_ids=prompt, max_new_tokens=6)
    np.testing.assert_array_equal(out.data, data["whisper/generate_prompt"])
    uncached = net.generate(data["whisper/features"], max_new_tokens=8, use_cache=False)
    np.testing.assert_array_equal(uncached.data, data["whisper/generate"])
    # the prompt the generation config makes: start, forced [[1, 5], [2, 6]], no timestamps
    encoded = net.get_encoder()(data["whisper/features"]).last_hidden_state
    np.testing.assert_array_equal(net._prompt_tokens(net.generation_config, encoded),
                                  [[4, 5, 6, 63]] * 2)


def test_cached_decoding_equals_one_pass():
    data = arrays()
    net = whisper()
    ids = np.array([[4, 5, 6, 63, 20, 21], [4, 5, 6, 63, 30, 31]])
    full = net(data["whisper/features"], decoder_input_ids=ids).logits.data
    out = net(data["whisper/features"], decoder_input_ids=ids[:, :3], use_cache=True)
    steps = [out.logits.data]
    for t in range(3, ids.shape[1]):
        out = net(decoder_input_ids=ids[:, t:t + 1], encoder_outputs=out.encoder_last_hidden_state,
                  past_key_values=out.past_key_values)
        steps.append(out.logits.data)
    assert len(out.past_key_values[0]) == 4 and out.past_key_values[0][2].shape[2] == 12
    np.testing.assert_allclose(np.concatenate(steps, 1), full, **TOL)


def test_checkpoint_round_trip(tmp_path):
    data = arrays()
    net = whisper()
    net.save_pretrained(tmp_path)
    assert set(_hf.read_state_dict(tmp_path)) == set(group("whisper/state"))  # proj_out tied
    generation = json.loads((tmp_path / GENERATION_CONFIG).read_text())
    assert generation["forced_decoder_ids"] == [[1, 5], [2, 6]]
    assert generation["no_timestamps_token_id"] == 63
    again = WhisperForConditionalGeneration.from_pretrained(tmp_path)
    assert isinstance(again.generation_config, WhisperGenerationConfig)
    np.testing.assert_array_equal(again.generate(data["whisper/features"], max_new_tokens=8).data,
                                  data["whisper/generate"])
    body = WhisperModel.from_pretrained(tmp_path)  # "model." dropped
    hidden = body(data["whisper/features"], decoder_input_ids=np.array([[4, 5], [4, 6]]))
    logits = again(data["whisper/features"], decoder_input_ids=np.array([[4, 5], [4, 6]]))
    np.testing.assert_allclose(hidden.last_hidden_state.data @ net.proj_out.weight.data.T,
                               logits.logits.data, **TOL)


def test_feature_extractor_equals_transformers(tmp_path):
    data = arrays()
    extractor = WhisperFeatureExtractor.from_dict(configs()["whisper_features"])
    audio = [data["proc/audio0"], data["proc/audio1"]]
    out = extractor(audio, sampling_rate=16000, return_attention_mask=True)
    assert out["input_features"].shape == (2, 8, 250)
    np.testing.assert_allclose(out["input_features"], data["proc/mel_small"], **TOL)  # torch's
    np.testing.assert_allclose(out["input_features"], data["proc/mel_small_np"], **TOL)
    np.testing.assert_array_equal(out["attention_mask"], data["proc/mel_small_mask"])
    extractor.save_pretrained(tmp_path)
    again = WhisperFeatureExtractor.from_pretrained(tmp_path)
    np.testing.assert_allclose(again(audio[1])["input_features"][0],
                               data["proc/mel_small"][1], **TOL)
    full = WhisperFeatureExtractor()(audio[0])["input_features"]  # 80 mels, 30 s
    assert full.shape == (1, 80, 3000)
    np.testing.assert_allclose(full[:, :, :40], data["proc/mel_default"], **TOL)
    np.testing.assert_allclose(full[0, :, -1], data["proc/mel_default_pad"], **TOL)


def test_errors():
    data = arrays()
    net = whisper()
    features = data["whisper/features"]
    with pytest.raises(ValueError, match=r"num_mel_bins=8, 24 frames\).*got shape \(2, 8, 20\)"):
        net(features[:, :, :20], decoder_input_ids=np.array([[4], [4]]))
    with pytest.raises(ValueError, match="labels of length 25 exceed max_target_positions=24"):
        net(features, labels=np.ones((2, 25), np.int64))
    with pytest.raises(ValueError, match="25 positions are beyond the max_target_positions=24"):
        net(features, decoder_input_ids=np.ones((2, 25), np.int64))
    with pytest.raises(ValueError, match="give decoder_input_ids"):
        net.model(features)
    with pytest.raises(ValueError, match=r"4 prompt tokens \+ max_new_tokens=30 exceed"):
        net.generate(features, max_new_tokens=30)
    with pytest.raises(ValueError, match="language 'xx' is not in the generation config"):
        whisper("whisper_multilingual").generate(features, language="xx")
    with pytest.raises(ValueError, match="no `alignment_heads`"):
        net.generate(features, return_token_timestamps=True)
    with pytest.raises(TypeError, match="unexpected argument 'beams'"):
        net.generate(features, beams=3)
    np.testing.assert_array_equal(net.generate(features, max_new_tokens=8, num_beams=1,
                                               do_sample=False).data, data["whisper/generate"])
    with pytest.raises(ValueError, match=r"d_model \(30\) must be a multiple"):
        WhisperConfig(d_model=30, encoder_attention_heads=4)._checked()
    with pytest.raises(ValueError, match="sampled at 8000 Hz, but the model takes 16000"):
        WhisperFeatureExtractor()(data["proc/audio0"], sampling_rate=8000)
    with pytest.raises(ValueError, match=r"mono waveforms.*shape \(2, 3\)"):
        WhisperFeatureExtractor()([np.zeros((2, 3))])
