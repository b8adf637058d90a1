"""Rotary scaling (dynamic NTK, yarn, longrope) in dlpy.models.llama against transformers' cos,
sin, logits past the original context and generate, on the LLaMA weights of hf_decoder.npz
(tests/fixtures/make_hf_decoder_more_fixtures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlpy.models.llama import LlamaConfig, LlamaForCausalLM, rotary

from . import hf_fixture
from .decoder_more_fixture import TOL, arrays, configs, real

CASES = ["llama_dynamic", "llama_yarn", "llama_longrope"]


def scaled_llama(case: str) -> LlamaForCausalLM:
    lm = LlamaForCausalLM(LlamaConfig.from_dict(configs()[case]), rng=np.random.default_rng(0))
    lm.load_hf_state_dict(hf_fixture.state("llama"))
    return lm.eval()


@pytest.mark.parametrize("case", CASES)
def test_cos_sin_equal_transformers(case):
    config = LlamaConfig.from_dict(configs()[case])
    inv_freq = config.inverse_frequencies()
    cos, sin = rotary(config, inv_freq, np.arange(20)[None])  # past the context of 4 or 16
    np.testing.assert_allclose(cos[:, 0], arrays()[f"{case}/cos"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sin[:, 0], arrays()[f"{case}/sin"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_logits_and_greedy_past_the_context_equal_transformers(case):
    data, lm = arrays(), scaled_llama(case)
    logits = lm(data["ids"], attention_mask=data["mask"]).logits.data
    np.testing.assert_allclose(real(logits), real(data[f"{case}/logits"]), **TOL)
    tokens = lm.generate(data["ids"], attention_mask=data["mask"], max_new_tokens=8).data
    np.testing.assert_array_equal(tokens, data[f"{case}/greedy"])
    plain = hf_fixture.arrays()["llama/logits"]
    assert not np.allclose(real(logits), real(plain), atol=1e-3)  # the scaling matters


def test_scaling_formulas():
    base = dict(hidden_size=32, num_attention_heads=4, max_position_embeddings=16)
    plain = LlamaConfig(**base).inverse_frequencies()
    dynamic = LlamaConfig(**base, rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    np.testing.assert_array_equal(dynamic.inverse_frequencies(16), plain)  # within: unchanged
    theta = 10000.0 * (2.0 * 32 / 16 - 1) ** (8 / 6)  # NTK at 32 positions
    np.testing.assert_allclose(dynamic.inverse_frequencies(32),
                               theta ** -(np.arange(0, 8, 2) / 8), rtol=1e-5)
    yarn = LlamaConfig(**base, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                             "original_max_position_embeddings": 4})
    assert yarn.attention_scaling() == pytest.approx(0.1 * math.log(4.0) + 1)
    assert LlamaConfig(**base, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                             "attention_factor": 0.5}).attention_scaling() == 0.5
    longrope = LlamaConfig(**base, rope_scaling={
        "rope_type": "longrope", "original_max_position_embeddings": 4,
        "short_factor": [1, 1, 1, 1], "long_factor": [2, 2, 2, 2]})
    np.testing.assert_allclose(longrope.inverse_frequencies(4), plain, rtol=1e-6)
    np.testing.assert_allclose(longrope.inverse_frequencies(5), plain / 2, rtol=1e-6)
    assert longrope.attention_scaling() == pytest.approx(math.sqrt(1 + math.log(4) / math.log(4)))
    partial = LlamaConfig(**base, partial_rotary_factor=0.5)
    assert partial.rotary_dim == 4 and partial.inverse_frequencies().shape == (2,)
    assert LlamaConfig.from_dict(partial.to_dict()) == partial


def test_errors():
    with pytest.raises(ValueError, match="rope_scaling of type 'yarn' needs factor"):
        LlamaConfig(rope_scaling={"rope_type": "yarn"})
    with pytest.raises(ValueError, match="rope_scaling of type 'longrope' needs short_factor, "
                                         "long_factor"):
        LlamaConfig(rope_scaling={"rope_type": "longrope"})
    with pytest.raises(ValueError, match="rope_scaling type 'ntk' is not supported"):
        LlamaConfig(rope_scaling={"rope_type": "ntk", "factor": 2.0})
