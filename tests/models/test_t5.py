"""T5 and T5 v1.1 (gated-gelu, untied) in transformers' layout against transformers' own
logits, generations, gradients and checkpoints (tests/fixtures/make_hf_seq2seq_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlpy
from dlpy.models import _hf
from dlpy.models.t5 import (
    T5Config,
    T5EncoderModel,
    T5ForConditionalGeneration,
    T5Model,
    relative_position_bucket,
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


@pytest.mark.parametrize("case", ["t5", "t5_gated"])
def test_logits_loss_and_encoder_equal_transformers(case):
    data = arrays()
    lm = model(case)
    out = lm(data[f"{case}/ids"], attention_mask=data[f"{case}/mask"],
             labels=data[f"{case}/labels"])
    assert out.logits.shape == (2, 5, 100) and out.logits.dtype == np.float32
    scale = np.abs(data[f"{case}/logits"]).max()
    np.testing.assert_allclose(out.logits.data, data[f"{case}/logits"], rtol=1e-5,
                               atol=1e-6 * scale)
    np.testing.assert_allclose(out.loss.item(), data[f"{case}/loss"], rtol=1e-5)
    np.testing.assert_allclose(out.encoder_last_hidden_state.data, data[f"{case}/encoder"],
                               rtol=1e-5, atol=1e-5)


def test_parameters_are_transformers_and_tied_as_it_ties():
    tied, untied = model("t5"), model("t5_gated")
    assert list(state_dict_once(tied)) == list(state("t5"))  # the shared embedding stored once
    assert tied.lm_head.weight is tied.shared.weight is tied.decoder.embed_tokens.weight
    assert untied.lm_head.weight is not untied.shared.weight
    assert set(state_dict_once(untied)) == set(state("t5_gated"))  # embed_tokens: shared
    assert untied.config.tie_word_embeddings is False  # scale_decoder_outputs false
    gated = untied.decoder.block[1].layer[2].DenseReluDense
    assert [name for name, _ in gated.named_parameters()] == ["wi_0.weight", "wi_1.weight",
                                                               "wo.weight"]
    assert not hasattr(untied.decoder.block[1].layer[0].SelfAttention,
                       "relative_attention_bias")  # the first block's bias serves all


def test_relative_position_buckets_equal_transformers():
    relative = np.arange(-150, 150)
    expected = arrays()["t5/buckets"]
    np.testing.assert_array_equal(relative_position_bucket(relative, True, 32, 128),
                                  expected[0])
    np.testing.assert_array_equal(relative_position_bucket(relative, False, 32, 128),
                                  expected[1])


@pytest.mark.parametrize("case", ["t5", "t5_gated"])
def test_generation_equals_transformers(case):
    check_generation(case)


@pytest.mark.parametrize("case", ["t5", "t5_gated"])
def test_training_step_matches_transformers(case):
    check_training_step(case)


def test_cached_decoding_equals_one_pass():
    check_cached_decoding("t5")


def test_body_and_encoder_models(tmp_path):
    data = arrays()
    lm = model("t5")
    lm.save_pretrained(tmp_path)
    ids, mask, labels = data["t5/ids"], data["t5/mask"], data["t5/labels"]
    decoder_ids = np.where(labels < 0, 0, labels)
    body = T5Model.from_pretrained(tmp_path)  # lm_head (tied) skipped
    hidden = body(ids, attention_mask=mask, decoder_input_ids=decoder_ids).last_hidden_state
    logits = lm(ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
    np.testing.assert_allclose((hidden.data * 32 ** -0.5) @ lm.shared.weight.data.T,
                               logits.data, rtol=1e-5, atol=1e-5)
    encoder = T5EncoderModel.from_pretrained(tmp_path)  # the decoder skipped
    assert not hasattr(encoder, "decoder")
    np.testing.assert_allclose(encoder(ids, attention_mask=mask).last_hidden_state.data,
                               data["t5/encoder"], rtol=1e-5, atol=1e-5)
    embeds = lm.shared(ids)
    np.testing.assert_allclose(lm(inputs_embeds=embeds, attention_mask=mask,
                                  decoder_input_ids=decoder_ids).logits.data, logits.data,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", ["t5", "t5_gated"])
def test_from_pretrained_round_trip(tmp_path, case):
    data = arrays()
    lm = model(case)
    lm.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / _hf.CONFIG).read_text())
    assert saved["model_type"] == "t5"
    assert saved["architectures"] == ["T5ForConditionalGeneration"]
    assert saved["scale_decoder_outputs"] is (case == "t5")
    assert set(_hf.read_state_dict(tmp_path)) == set(state(case))
    again = T5ForConditionalGeneration.from_pretrained(tmp_path)
    assert again.training is False
    ids, mask = data[f"{case}/ids"], data[f"{case}/mask"]
    np.testing.assert_array_equal(again.generate(ids, attention_mask=mask).data,
                                  lm.generate(ids, attention_mask=mask).data)
    # transformers 4's form of an untied model: tie_word_embeddings false, no scale field
    config = dict(configs()[case], tie_word_embeddings=case == "t5")
    config.pop("scale_decoder_outputs")
    assert T5Config.from_dict(config).tie_word_embeddings is (case == "t5")


def test_errors():
    data = arrays()
    lm = model("t5")
    ids = data["t5/ids"]
    config = {k: v for k, v in configs()["t5"].items() if k != "d_ff"}
    with pytest.raises(ValueError, match="missing required field.*d_ff"):
        T5Config.from_dict(config)
    with pytest.raises(ValueError, match="model_type 'bart'"):
        T5Config.from_dict(dict(configs()["t5"], model_type="bart"))
    with pytest.raises(ValueError, match="feed_forward_proj must be.*'gated-gelu-x'"):
        T5Config(feed_forward_proj="gated-gelu-x")
    with pytest.raises(TypeError, match="expected a T5Config"):
        T5Model({"d_model": 8})
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=100\)"):
        lm(ids + 100, decoder_input_ids=ids)
    with pytest.raises(ValueError, match="give decoder_input_ids"):
        lm(ids)
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, seq_len\)"):
        lm(ids, attention_mask=np.ones((2, 3)), decoder_input_ids=ids)
    with pytest.raises(ValueError, match="labels must lie in"):
        lm(ids, decoder_input_ids=ids[:, :3], labels=np.full((2, 3), 100))
    no_start = T5ForConditionalGeneration(T5Config(
        **{k: v for k, v in configs()["t5"].items()
           if k in ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads")}))
    assert no_start.config.decoder_start_token_id is None
    with pytest.raises(ValueError, match="needs decoder_start_token_id"):
        no_start.generate(ids)
    with pytest.raises(ValueError, match="no decoder_start_token_id"):
        no_start(ids, labels=ids)
    assert no_start.generate(ids, decoder_start_token_id=0, max_new_tokens=2).shape == (2, 3)
    with pytest.raises(ValueError, match="decoder_start_token_id must lie in"):
        lm.generate(ids, decoder_start_token_id=100)
    with pytest.raises(ValueError, match=r"forced_eos_token_id must lie in \[0, vocab_size=100"):
        lm.generate(ids, forced_eos_token_id=[1, 100])
    with pytest.raises(ValueError, match="no_repeat_ngram_size must be a non-negative"):
        lm.generate(ids, no_repeat_ngram_size=-1)
    with pytest.raises(ValueError, match="missing.*lm_head.weight"):
        model("t5_gated").load_hf_state_dict(
            {k: v for k, v in state("t5_gated").items() if k != "lm_head.weight"})
    with dlpy.no_grad():  # the encoder takes no cache
        with pytest.raises(ValueError, match="encoder takes no past_key_values"):
            lm.encoder(ids, past_key_values=((),))
