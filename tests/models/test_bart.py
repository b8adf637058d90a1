"""BART in transformers' layout against transformers' own logits, generations, gradients and
checkpoints (tests/fixtures/make_hf_seq2seq_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlpy.models import _hf
from dlpy.models.bart import (
    BartConfig,
    BartForConditionalGeneration,
    BartModel,
    shift_tokens_right,
)
from dlpy.nn.module import state_dict_once

from .seq2seq_fixture import (
    arrays,
    check_cached_decoding,
    check_generation,
    check_training_step,
    configs,
    model,
    state,
)


def test_logits_loss_and_encoder_equal_transformers():
    data = arrays()
    lm = model("bart")
    out = lm(data["bart/ids"], attention_mask=data["bart/mask"], labels=data["bart/labels"])
    assert out.logits.shape == (2, 5, 100) and out.logits.dtype == np.float32
    np.testing.assert_allclose(out.logits.data, data["bart/logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.loss.item(), data["bart/loss"], rtol=1e-5)
    np.testing.assert_allclose(out.encoder_last_hidden_state.data, data["bart/encoder"],
                               rtol=1e-5, atol=1e-5)
    assert out.past_key_values is None  # labels turn the cache off, as transformers


def test_parameters_are_transformers():
    lm = model("bart")
    assert set(state_dict_once(lm)) == set(state("bart"))  # shared embedding stored once
    assert "lm_head.weight" in lm.state_dict()  # (torch's lists every name)
    assert lm.lm_head.weight is lm.model.shared.weight is lm.model.encoder.embed_tokens.weight
    assert lm.model.encoder.embed_positions.weight.shape == (32 + 2, 32)  # offset 2
    np.testing.assert_array_equal(lm.final_logits_bias, state("bart")["final_logits_bias"])


def test_generation_equals_transformers():
    check_generation("bart")


def test_training_step_matches_transformers():
    check_training_step("bart")  # the pad row gets the tied lm_head's gradient only
    assert model("bart").model.shared.padding_idx == 1


def test_cached_decoding_equals_one_pass():
    check_cached_decoding("bart")


def test_shift_tokens_right_and_the_denoising_default():
    labels = np.array([[5, 6, 7], [8, -100, -100]])
    np.testing.assert_array_equal(shift_tokens_right(labels, 1, 2), [[2, 5, 6], [2, 8, 1]])
    data = arrays()
    body = model("bart", BartModel)
    ids, mask = data["bart/ids"], data["bart/mask"]
    default = body(ids, attention_mask=mask).last_hidden_state.data
    explicit = body(ids, attention_mask=mask,
                    decoder_input_ids=shift_tokens_right(ids, 1, 2)).last_hidden_state.data
    np.testing.assert_array_equal(default, explicit)


def test_from_pretrained_round_trip(tmp_path):
    data = arrays()
    lm = model("bart")
    lm.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / _hf.CONFIG).read_text())
    assert saved["model_type"] == "bart" and saved["forced_eos_token_id"] == 2
    assert set(_hf.read_state_dict(tmp_path)) == set(state("bart"))
    again = BartForConditionalGeneration.from_pretrained(tmp_path)
    ids, mask = data["bart/ids"], data["bart/mask"]
    np.testing.assert_array_equal(again.generate(ids, attention_mask=mask, num_beams=3,
                                                 max_new_tokens=8).data,
                                  data["bart/beam"])
    body = BartModel.from_pretrained(tmp_path)  # "model." dropped, the head skipped
    hidden = body(ids, attention_mask=mask, decoder_input_ids=ids).last_hidden_state.data
    logits = lm(ids, attention_mask=mask, decoder_input_ids=ids).logits.data
    np.testing.assert_allclose(hidden @ lm.lm_head.weight.data.T + lm.final_logits_bias,
                               logits, rtol=1e-5, atol=1e-5)
    # a checkpoint of the body alone, without final_logits_bias, loads into the LM
    body_state = {k[len("model."):]: v for k, v in state("bart").items()
                  if k.startswith("model.")}
    head = BartForConditionalGeneration(BartConfig.from_dict(configs()["bart"]))
    head.load_hf_state_dict(body_state)
    assert not head.final_logits_bias.any()
    np.testing.assert_allclose(head(ids, attention_mask=mask, decoder_input_ids=ids
                                    ).logits.data, hidden @ lm.lm_head.weight.data.T,
                               rtol=1e-5, atol=1e-5)


def test_errors():
    data = arrays()
    lm = model("bart")
    ids = data["bart/ids"]
    config = {k: v for k, v in configs()["bart"].items() if k != "decoder_ffn_dim"}
    with pytest.raises(ValueError, match="missing required field.*decoder_ffn_dim"):
        BartConfig.from_dict(config)
    with pytest.raises(ValueError, match=r"d_model \(30\) must be a multiple"):
        BartConfig(d_model=30, encoder_attention_heads=4)
    with pytest.raises(NotImplementedError, match="layerdrop"):
        BartConfig(encoder_layerdrop=0.1)
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=100\)"):
        lm(ids + 100)
    with pytest.raises(ValueError, match="40 positions are beyond the "
                                         "max_position_embeddings=32"):
        lm(np.ones((1, 40), np.int64))
    with pytest.raises(ValueError, match="give decoder_input_ids, or input_ids"):
        lm(encoder_outputs=lm.model.encoder(ids))
    with pytest.raises(TypeError, match="encoder_outputs must be a Tensor"):
        lm(decoder_input_ids=ids, encoder_outputs="states")
    with pytest.raises(ValueError, match="no pad_token_id"):
        shift_tokens_right(ids, None, 2)
    with pytest.raises(ValueError, match="unexpected"):
        lm.load_hf_state_dict(dict(state("bart"), extra=np.zeros(1)))
