"""Phi-3 (fused projections, partial rotary, LongRoPE) against transformers' logits, gradients
and generate (tests/fixtures/make_hf_decoder_more_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlpy.models import AutoModelForCausalLM, _hf
from dlpy.models.phi3 import Phi3Config, Phi3ForCausalLM, Phi3Model

from .decoder_more_fixture import (
    arrays,
    check_logits_hidden_greedy,
    check_training_step,
    configs,
    model,
    state,
)


def test_logits_hidden_states_and_greedy_equal_transformers():
    # 7 + 8 tokens cross original_max_position_embeddings = 8: short, then long factors (the
    # cache recomputed once at the switch, as transformers' generate)
    check_logits_hidden_greedy("phi3")


def test_training_step_matches_transformers():
    check_training_step("phi3")


def test_fused_projections_and_config():
    lm = model("phi3")
    config = lm.config
    assert config.rotary_dim == 4 and config.rope_scaling["rope_type"] == "longrope"
    assert config.original_context() == 8 and lm.model.inv_freq.shape == (2,)
    attn = lm.model.layers[0].self_attn
    assert attn.qkv_proj.weight.shape == (64, 32)  # 4 query + 2 + 2 key/value heads of 8
    assert lm.model.layers[0].mlp.gate_up_proj.weight.shape == (64, 32)
    assert list(lm.state_dict()) == list(state("phi3"))
    old = dict(configs()["phi3"])  # an older config.json: rope_scaling of type "su"
    rope = old.pop("rope_parameters")
    old.update(rope_scaling={"type": "su", "short_factor": rope["short_factor"],
                             "long_factor": rope["long_factor"]},
               partial_rotary_factor=0.5, rope_theta=rope["rope_theta"])
    again = Phi3Config.from_dict(old)
    assert again.rope_scaling["rope_type"] == "longrope"
    np.testing.assert_array_equal(again.inverse_frequencies(20), config.inverse_frequencies(20))


def test_auto_and_round_trip(tmp_path):
    data = arrays()
    _hf.write_pretrained(tmp_path / "hf", configs()["phi3"], state("phi3"))
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert type(lm) is Phi3ForCausalLM
    reference = lm(data["ids"]).logits.data
    lm.save_pretrained(tmp_path / "dlpy")
    saved = json.loads((tmp_path / "dlpy" / "config.json").read_text())
    assert saved["rope_parameters"]["partial_rotary_factor"] == 0.5
    again = Phi3ForCausalLM.from_pretrained(tmp_path / "dlpy")
    np.testing.assert_array_equal(again(data["ids"]).logits.data, reference)
    body = Phi3Model.from_pretrained(tmp_path / "dlpy")
    np.testing.assert_array_equal(body.norm.weight.data, lm.model.norm.weight.data)


def test_errors():
    with pytest.raises(ValueError, match="rope_scaling short_factor must hold rotary_dim / 2 = "
                                         "2 numbers, got 3"):
        Phi3Config(hidden_size=32, num_attention_heads=4, partial_rotary_factor=0.5,
                   rope_scaling={"type": "su", "short_factor": [1, 1, 1],
                                 "long_factor": [1, 1]})
