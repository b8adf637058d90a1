"""Gemma and Gemma 2 against transformers' logits, gradients and generate
(tests/fixtures/make_hf_decoder_more_fixtures.py), and the trimmed sliding-window cache (Gemma
2's sliding layers, Mistral's)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlpy
from dlpy.models import AutoModelForCausalLM, _hf
from dlpy.models.gemma import Gemma2Config, Gemma2ForCausalLM, GemmaConfig, GemmaModel
from dlpy.models.llama import MistralConfig, MistralForCausalLM, SlidingWindowCache

from . import hf_fixture
from .decoder_more_fixture import (
    TOL,
    arrays,
    check_logits_hidden_greedy,
    check_training_step,
    configs,
    model,
    real,
    state,
)


@pytest.mark.parametrize("case", ["gemma", "gemma2"])
def test_logits_hidden_states_and_greedy_equal_transformers(case):
    check_logits_hidden_greedy(case)


@pytest.mark.parametrize("case", ["gemma", "gemma2"])
def test_training_step_matches_transformers(case):
    check_training_step(case)


def test_gemma_parts():
    lm = model("gemma")
    assert lm.lm_head.weight is lm.model.embed_tokens.weight  # tied
    assert lm.model.layers[0].self_attn.q_proj.weight.shape == (64, 32)  # head_dim 16
    norm = lm.model.norm
    x = dlpy.Tensor(np.array([[3.0, -4.0]], np.float32))
    norm2 = type(norm)(2, eps=0.0)
    np.testing.assert_allclose(norm2(x).data, [[3 / 12.5 ** 0.5, -4 / 12.5 ** 0.5]], rtol=1e-6)
    assert GemmaConfig(hidden_act="gelu").hidden_act == "gelu_pytorch_tanh"
    config = Gemma2Config(num_hidden_layers=3)
    assert config.layer_types == ["sliding_attention", "full_attention", "sliding_attention"]
    gemma2 = model("gemma2")
    assert gemma2.config.layer_windows() == [4, None]
    logits = gemma2(arrays()["ids"]).logits.data
    assert np.abs(logits).max() < 3.0  # final_logit_softcapping


def test_gemma2_sliding_cache_keeps_window_minus_one_keys():
    data, lm = arrays(), model("gemma2")
    ids, mask = data["ids"], data["mask"]
    with dlpy.no_grad():
        full = lm(ids, attention_mask=mask).logits.data
        out = lm(ids[:, :3], attention_mask=mask[:, :3])
        steps = [out.logits.data]
        for t in range(3, 7):
            out = lm(ids[:, t:t + 1], past_key_values=out.past_key_values,
                     attention_mask=mask[:, :t + 1])
            steps.append(out.logits.data)
    cache = out.past_key_values
    assert isinstance(cache, SlidingWindowCache) and cache.get_seq_length() == 7
    assert cache[0][0].shape == (2, 2, 3, 16) and cache[1][0].shape == (2, 2, 7, 16)
    np.testing.assert_allclose(real(np.concatenate(steps, 1)), real(full), **TOL)


def test_mistral_generation_memory_is_bounded():
    config = MistralConfig.from_dict(dict(hf_fixture.configs()["mistral"], sliding_window=3))
    lm = MistralForCausalLM(config, rng=np.random.default_rng(0))
    lm.load_hf_state_dict(hf_fixture.state("llama"))
    lm.eval()
    ids, mask = hf_fixture.arrays()["ids"], hf_fixture.arrays()["mask"]
    lengths = []
    forward = lm.forward

    def recording(*args, **kwargs):  # the cache after every step of generate
        out = forward(*args, **kwargs)
        lengths.append([layer[0].shape[2] for layer in out.past_key_values])
        return out

    lm.forward = recording
    tokens = lm.generate(ids, attention_mask=mask, max_new_tokens=12).data
    assert lengths[0] == [2, 2] and all(step == [2, 2] for step in lengths)  # window - 1
    del lm.forward
    uncached = lm.generate(ids, attention_mask=mask, max_new_tokens=12, use_cache=False).data
    np.testing.assert_array_equal(tokens, uncached)
    beams = lm.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=2).data
    np.testing.assert_array_equal(
        beams, lm.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=2,
                           use_cache=False).data)


def test_auto_and_round_trip(tmp_path):
    data = arrays()
    for case, cls in (("gemma", GemmaModel), ("gemma2", Gemma2ForCausalLM)):
        _hf.write_pretrained(tmp_path / case, configs()[case], state(case))
        lm = AutoModelForCausalLM.from_pretrained(tmp_path / case)
        assert type(lm).__name__ == ("GemmaForCausalLM" if case == "gemma"
                                     else "Gemma2ForCausalLM")
        reference = lm(data["ids"]).logits.data
        lm.save_pretrained(tmp_path / f"{case}_dlpy")
        saved = json.loads((tmp_path / f"{case}_dlpy" / "config.json").read_text())
        assert saved["model_type"] == case
        again = AutoModelForCausalLM.from_pretrained(tmp_path / f"{case}_dlpy")
        np.testing.assert_array_equal(again(data["ids"]).logits.data, reference)
        body = cls.from_pretrained(tmp_path / f"{case}_dlpy")  # a body or a head model
        assert body.config == lm.config


def test_errors():
    with pytest.raises(ValueError, match="use_bidirectional_attention is not supported"):
        GemmaConfig(use_bidirectional_attention=True)
    with pytest.raises(ValueError, match="layer_types must name"):
        Gemma2Config(num_hidden_layers=2, layer_types=["sliding_attention"])
