"""GPT-NeoX (parallel residual, partial rotary, per-head fused qkv) against transformers'
logits, gradients and generate (tests/fixtures/make_hf_decoder_more_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlpy
from dlpy.models import AutoModelForCausalLM, _hf
from dlpy.models.gpt_neox import GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXModel

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


def test_logits_hidden_states_and_greedy_equal_transformers():
    check_logits_hidden_greedy("gpt_neox")


def test_serial_residual_equals_transformers():
    lm = model("gpt_neox_serial", weights="gpt_neox")
    assert not lm.config.use_parallel_residual
    data = arrays()
    with dlpy.no_grad():
        logits = lm(data["ids"], attention_mask=data["mask"]).logits.data
    np.testing.assert_allclose(real(logits), real(data["gpt_neox_serial/logits"]), **TOL)


def test_training_step_matches_transformers():
    check_training_step("gpt_neox")


def test_config_names_and_old_checkpoints(tmp_path):
    lm = model("gpt_neox")
    assert lm.config.rotary_dim == 4 and lm.config.head_dim == 8
    assert lm.gpt_neox.layers[0].attention.query_key_value.weight.shape == (96, 32)
    assert list(lm.state_dict()) == list(state("gpt_neox"))
    old = dict(configs()["gpt_neox"])  # transformers 4's config.json and weight names
    rope = old.pop("rope_parameters")
    old.update(rotary_pct=rope["partial_rotary_factor"], rotary_emb_base=rope["rope_theta"])
    weights = {("embed_out.weight" if key == "lm_head.weight" else key): value
               for key, value in state("gpt_neox").items()}
    weights["gpt_neox.layers.0.attention.masked_bias"] = np.array(-1e9, np.float32)
    _hf.write_pretrained(tmp_path / "old", old, weights)
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "old")
    assert type(again) is GPTNeoXForCausalLM and again.config.partial_rotary_factor == 0.5
    ids = arrays()["ids"]
    np.testing.assert_array_equal(again(ids).logits.data, lm(ids).logits.data)


def test_round_trip(tmp_path):
    data, lm = arrays(), model("gpt_neox")
    lm.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "gpt_neox"
    assert saved["rope_parameters"]["partial_rotary_factor"] == 0.5
    again = GPTNeoXForCausalLM.from_pretrained(tmp_path)
    np.testing.assert_array_equal(again(data["ids"]).logits.data, lm(data["ids"]).logits.data)
    body = GPTNeoXModel.from_pretrained(tmp_path)
    np.testing.assert_array_equal(body.final_layer_norm.weight.data,
                                  lm.gpt_neox.final_layer_norm.weight.data)


def test_errors():
    with pytest.raises(ValueError, match=r"hidden_size \(30\) must be a multiple of "
                                         r"num_attention_heads \(4\)"):
        GPTNeoXConfig(hidden_size=30, num_attention_heads=4)
