"""LLaMA, Mistral and Qwen2 in transformers' layout against transformers' own logits,
gradients and checkpoints (tests/fixtures/make_hf_decoder_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlpy
from dlpy import optim
from dlpy.models import _hf
from dlpy.models.llama import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaModel,
    MistralConfig,
    Qwen2ForCausalLM,
    rotate_half,
)

from .hf_fixture import arrays, configs, model, real_positions, state

TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case, weights", [
    ("llama", None), ("qwen2", None), ("mistral", "llama"),  # Mistral: LLaMA's weights
    ("llama_linear", "llama"), ("llama3", "llama"),  # rope_scaling on LLaMA's weights
])
def test_logits_equal_transformers_with_left_padding(case, weights):
    data = arrays()
    logits = model(case, weights)(data["ids"], attention_mask=data["mask"]).logits
    assert logits.shape == (2, 7, 64) and logits.dtype == np.float32
    np.testing.assert_allclose(real_positions(logits.data),
                               real_positions(data[f"{case}/logits"]), **TOL)


def test_configs_read_both_rope_forms():
    new = LlamaConfig.from_dict(configs()["llama3"])
    assert new.rope_scaling["rope_type"] == "llama3" and new.rope_theta == 10000.0
    old = dict(configs()["llama"])
    del old["rope_parameters"]
    old.update(rope_theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0})
    config = LlamaConfig.from_dict(old)
    assert config.rope_theta == 500000.0 and config.rope_scaling["rope_type"] == "linear"
    base = 1.0 / 500000.0 ** (np.arange(0, 8, 2) / 8)
    np.testing.assert_allclose(config.inverse_frequencies(), base / 2.0, rtol=1e-6)
    assert LlamaConfig.from_dict(config.to_dict()) == config  # written as rope_parameters


def test_grouped_query_attention_and_names():
    lm = model("llama")
    assert list(lm.state_dict()) == list(state("llama"))
    attn = lm.model.layers[0].self_attn
    assert attn.q_proj.weight.shape == (32, 32) and attn.k_proj.weight.shape == (16, 32)
    qwen = model("qwen2")
    assert qwen.lm_head.weight is qwen.model.embed_tokens.weight
    assert qwen.model.layers[0].self_attn.q_proj.bias is not None
    assert qwen.model.layers[0].self_attn.o_proj.bias is None
    x = dlpy.Tensor(np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(rotate_half(x).data, [-2, -3, 0, 1])


def test_cached_decoding_equals_one_pass():
    data = arrays()
    lm, ids, mask = model("llama"), data["ids"], data["mask"]
    with dlpy.no_grad():
        full = lm(ids, attention_mask=mask).logits.data
        out = lm(ids[:, :3], attention_mask=mask[:, :3], use_cache=True)
        steps = [out.logits.data]
        for t in range(3, 7):
            out = lm(ids[:, t:t + 1], past_key_values=out.past_key_values,
                     attention_mask=mask[:, :t + 1])
            steps.append(out.logits.data)
    assert out.past_key_values[1][1].shape == (2, 2, 7, 8)  # kv heads only
    np.testing.assert_allclose(real_positions(np.concatenate(steps, 1)),
                               real_positions(full), **TOL)


@pytest.mark.parametrize("case, names", [
    ("llama", ["model.layers.0.self_attn.q_proj.weight", "model.embed_tokens.weight"]),
    ("qwen2", ["model.layers.0.self_attn.k_proj.bias", "model.embed_tokens.weight"]),
])
def test_training_step_matches_transformers(case, names):
    data = arrays()
    lm = model(case).train()
    opt = optim.AdamW(lm.parameters(), lr=1e-2)
    loss = lm(data["ids"], labels=data["labels"]).loss
    loss.backward()
    np.testing.assert_allclose(loss.item(), data[f"{case}/loss"], rtol=1e-5)
    norm = np.sqrt(sum(float((p.grad ** 2).sum()) for p in lm.parameters()))
    np.testing.assert_allclose(norm, data[f"{case}/grad_norm"], rtol=1e-4)
    params = dict(lm.named_parameters())
    for name in names:
        np.testing.assert_allclose(params[name].grad, data[f"{case}/grad/{name}"],
                                   rtol=1e-4, atol=1e-6)
    opt.step()
    after = lm(data["ids"], labels=data["labels"]).loss.item()
    np.testing.assert_allclose(after, data[f"{case}/loss_after"], rtol=1e-4)


def test_from_pretrained_round_trip(tmp_path):
    _hf.write_pretrained(tmp_path / "hf", configs()["qwen2"], state("qwen2"))
    lm = Qwen2ForCausalLM.from_pretrained(tmp_path / "hf")
    data = arrays()
    reference = lm(data["ids"]).logits.data
    lm.save_pretrained(tmp_path / "dlpy")
    saved = json.loads((tmp_path / "dlpy" / "config.json").read_text())
    assert saved["model_type"] == "qwen2" and saved["architectures"] == ["Qwen2ForCausalLM"]
    again = LlamaForCausalLM.from_pretrained(tmp_path / "dlpy")  # one class reads all three
    assert again.config.qkv_bias and again.config.tie_word_embeddings
    np.testing.assert_array_equal(again(data["ids"]).logits.data, reference)
    body = LlamaModel.from_pretrained(tmp_path / "dlpy")
    np.testing.assert_array_equal(body.norm.weight.data, lm.model.norm.weight.data)


def test_errors(tmp_path):
    config = dict(configs()["llama"])
    del config["num_attention_heads"]
    _hf.write_pretrained(tmp_path, config, state("llama"))
    with pytest.raises(ValueError, match="missing required field.*num_attention_heads"):
        LlamaForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="must be a multiple of num_key_value_heads"):
        LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=3)
    with pytest.raises(ValueError, match="rope_scaling type 'ntk' is not supported"):
        LlamaConfig(rope_scaling={"rope_type": "ntk", "factor": 2.0})
    weights = state("llama")
    del weights["lm_head.weight"]
    _hf.write_pretrained(tmp_path / "b", configs()["llama"], weights)
    with pytest.raises(ValueError, match=r"missing keys: \['lm_head.weight'\]"):
        LlamaForCausalLM.from_pretrained(tmp_path / "b")
    lm = model("llama")
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=64\)"):
        lm(np.array([[-1, 3]]))
    with pytest.raises(ValueError, match="sliding_window must be a positive integer or "
                                         "None, got 0"):
        MistralConfig(sliding_window=0)
    with pytest.raises(ValueError, match="layer_types must name .* each of the 2 layers"):
        MistralConfig(num_hidden_layers=2, layer_types=["sliding_attention"])
