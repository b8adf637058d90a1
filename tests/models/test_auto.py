"""The Auto classes pick the config and model class of a checkpoint directory by its
config.json (model_type, else architectures), as transformers does; nn.save_checkpoint stores a
model's config with to_dict, and AutoConfig rebuilds it."""

import json

import numpy as np
import pytest

from dlpy import nn
from dlpy.models import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    _hf,
)
from dlpy.models.bart import BartForConditionalGeneration
from dlpy.models.bert import BertForMaskedLM, BertForSequenceClassification, BertModel
from dlpy.models.gpt2 import GPT2Config, GPT2LMHeadModel, GPT2Model
from dlpy.models.llama import Qwen2Config, Qwen2ForCausalLM
from dlpy.models.t5 import T5ForConditionalGeneration
from dlpy.models.tokenizer import PreTrainedTokenizer

from . import hf_fixture, seq2seq_fixture
from .hf_encoder import BERT_DIR, TOKENIZER_DIR, feed


def write(tmp_path, fixture, case, **changes):
    """A checkpoint directory as transformers writes it for the fixture's ``case``."""
    config = {key: value for key, value in {**fixture.configs()[case], **changes}.items()
              if value is not None}
    _hf.write_pretrained(tmp_path / case, config, fixture.state(case))
    return tmp_path / case


def test_decoders_and_seq2seq_by_model_type(tmp_path):
    ids = hf_fixture.arrays()["ids"]
    for case, cls in (("gpt2", GPT2LMHeadModel), ("qwen2", Qwen2ForCausalLM)):
        path = write(tmp_path, hf_fixture, case)
        lm = AutoModelForCausalLM.from_pretrained(path)
        assert type(lm) is cls and not lm.training
        np.testing.assert_array_equal(lm(ids).logits.data, hf_fixture.model(case)(ids).logits.data)
    assert type(AutoConfig.from_pretrained(tmp_path / "qwen2")) is Qwen2Config
    assert type(AutoModel.from_pretrained(tmp_path / "gpt2")) is GPT2Model
    ids = seq2seq_fixture.arrays()["t5/ids"]
    for case, cls in (("t5", T5ForConditionalGeneration), ("bart", BartForConditionalGeneration)):
        lm = AutoModelForSeq2SeqLM.from_pretrained(write(tmp_path, seq2seq_fixture, case))
        assert type(lm) is cls
        reference = seq2seq_fixture.model(case)(ids, decoder_input_ids=ids).logits.data
        np.testing.assert_array_equal(lm(ids, decoder_input_ids=ids).logits.data, reference)


def test_encoders_by_head():
    mlm = AutoModelForMaskedLM.from_pretrained(BERT_DIR)
    assert type(mlm) is BertForMaskedLM
    np.testing.assert_array_equal(mlm(**feed("bert")).logits.data,
                                  BertForMaskedLM.from_pretrained(BERT_DIR)(**feed("bert")).logits.data)
    with pytest.warns(UserWarning) as caught:  # a new head: its weights are not in the file
        classifier = AutoModelForSequenceClassification.from_pretrained(BERT_DIR)
    assert type(classifier) is BertForSequenceClassification
    said = " ".join(str(warning.message) for warning in caught)
    assert "no weights for ['bert.pooler.dense.weight'" in said and "'classifier.bias']" in said
    assert "'cls.predictions.bias'" in said and "not used by BertForSequenceClassification" in said
    with pytest.warns(UserWarning) as caught:
        assert type(AutoModel.from_pretrained(BERT_DIR)) is BertModel
    assert "not used by BertModel" in " ".join(str(warning.message) for warning in caught)


def test_architectures_without_model_type_and_errors(tmp_path):
    path = write(tmp_path, hf_fixture, "gpt2", model_type=None, architectures=["GPT2LMHeadModel"])
    assert type(AutoModelForCausalLM.from_pretrained(path)) is GPT2LMHeadModel
    with pytest.raises(ValueError, match=r"AutoModelForCausalLM has no model for model_type "
                                         r"'bert'; it supports gemma, gemma2, gpt2, gpt_neox, "
                                         r"llama, mistral, mixtral, phi3, qwen2"):
        AutoModelForCausalLM.from_pretrained(BERT_DIR)
    path = write(tmp_path, hf_fixture, "llama", model_type="mamba")
    with pytest.raises(ValueError, match=r"config.json: model_type 'mamba' is not supported; "
                                         r"dlpy.models reads bart, bert, clip, clip_text_model"):
        AutoModel.from_pretrained(path)
    with pytest.raises(ValueError, match="no model_type, and no architectures"):
        AutoConfig.from_dict({"architectures": ["MambaForCausalLM"]})
    with pytest.raises(TypeError, match=r"use AutoModel.from_pretrained\(path\)"):
        AutoModel()


def test_auto_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    assert type(tokenizer) is PreTrainedTokenizer
    np.testing.assert_array_equal(tokenizer(["a text"])["input_ids"],
                                  PreTrainedTokenizer.from_pretrained(TOKENIZER_DIR)(
                                      ["a text"])["input_ids"])


def test_save_checkpoint_stores_the_config(tmp_path):
    """nn.save_checkpoint / Module.save keep config.to_dict() in the metadata: AutoConfig
    rebuilds the config, from_config the model, load_checkpoint the weights; same logits."""
    lm = hf_fixture.model("gpt2")
    nn.save_checkpoint(tmp_path / "gpt2.npz", lm)
    meta = nn.read_meta(tmp_path / "gpt2.npz")
    assert meta["class"] == "GPT2LMHeadModel" and meta["config"]["model_type"] == "gpt2"
    config = AutoConfig.from_dict(meta["config"])
    assert config == lm.config and type(config) is GPT2Config
    again = AutoModelForCausalLM.from_config(config)
    nn.load_checkpoint(tmp_path / "gpt2.npz", again)
    ids = hf_fixture.arrays()["ids"]
    np.testing.assert_array_equal(again.eval()(ids).logits.data, lm(ids).logits.data)
    mlm = BertForMaskedLM.from_pretrained(BERT_DIR)
    mlm.save(tmp_path / "bert.npz")
    config = AutoConfig.from_dict(json.loads(json.dumps(nn.read_meta(tmp_path / "bert.npz")
                                                        ["config"])))
    assert config == mlm.config
    again = AutoModelForMaskedLM.from_config(config)
    again.load(tmp_path / "bert.npz")
    np.testing.assert_array_equal(again.eval()(**feed("bert")).logits.data,
                                  mlm(**feed("bert")).logits.data)
