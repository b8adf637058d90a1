"""BERT in transformers' layout against transformers 5.25 (tests/fixtures/
make_hf_encoder_fixtures.py): the encoder, each head, losses, gradients, fine-tuning with AdamW,
from_pretrained on a directory transformers wrote, save_pretrained, and the errors."""

import json
import shutil
import warnings

import numpy as np
import pytest

from dlpy import optim
from dlpy.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from dlpy.utils.safetensors import load_file

from .hf_encoder import (
    BERT_DIR,
    build,
    check_base,
    check_gradients,
    check_head,
    close,
    feed,
    group,
    labels_for,
    weights,
)

SIZES = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=37, max_position_embeddings=40, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)
HEADS = {"mlm": BertForMaskedLM, "seq": BertForSequenceClassification,
         "regression": BertForSequenceClassification, "tok": BertForTokenClassification,
         "qa": BertForQuestionAnswering}


def bert(head=None):
    return build(HEADS[head] if head else BertModel, BertConfig, "bert", head, SIZES)


def test_encoder_outputs_equal_transformers():
    check_base(bert(), "bert")


@pytest.mark.parametrize("head", list(HEADS))
def test_heads_equal_transformers(head):
    check_head(bert(head), "bert", head)


def test_regression_is_mse_when_one_label():
    model = bert("regression")
    model(**feed("bert"), **labels_for("bert", "regression"))
    assert model.config.problem_type == "regression"


@pytest.mark.parametrize("head", ["seq", "mlm"])
def test_gradients_equal_torch(head):
    check_gradients(bert(head), "bert", head)


def test_adamw_fine_tuning_follows_torch_and_lowers_the_loss():
    model = bert("seq").train()  # dropout probabilities are 0: train mode is deterministic
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    losses = []
    for _ in range(4):
        loss = model(**feed("bert"), **labels_for("bert", "seq")).loss
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    close(losses, group("bert/seq")["train_losses"], rtol=1e-4)
    assert losses[-1] < losses[0] / 2


def test_from_pretrained_reads_what_transformers_wrote(tmp_path):
    model = BertForMaskedLM.from_pretrained(BERT_DIR)
    assert not model.training
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    check_head(model, "bert", "mlm")
    # save_pretrained writes transformers' names, the tied ones once, and reads back equal
    model.save_pretrained(tmp_path)
    assert set(load_file(tmp_path / "model.safetensors")) == \
        set(load_file(BERT_DIR / "model.safetensors"))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"] and config["model_type"] == "bert"
    check_head(BertForMaskedLM.from_pretrained(tmp_path), "bert", "mlm")


def test_head_checkpoint_into_encoder_and_back(tmp_path):
    with pytest.warns(UserWarning, match=r"cls\.predictions\.bias.*not used by BertModel"):
        with pytest.warns(UserWarning, match=r"no weights for \['pooler\.dense\.weight'"):
            encoder = BertModel.from_pretrained(BERT_DIR)
    close(encoder(**feed("bert")).last_hidden_state, group("bert/base/out")["last_hidden_state"])
    encoder.save_pretrained(tmp_path)  # a bare checkpoint loads into a head model
    with pytest.warns(UserWarning, match=r"no weights for \['classifier\.weight'"):
        BertForSequenceClassification.from_pretrained(tmp_path)


def test_config_reads_transformers_json():
    config = BertConfig.from_dict(json.loads((BERT_DIR / "config.json").read_text()))
    assert (config.hidden_size, config.intermediate_size, config.num_labels) == (32, 37, 2)
    config = BertConfig.from_dict({"id2label": {"0": "a", "1": "b", "2": "c"}})
    assert config.num_labels == 3 and config.to_dict()["label2id"] == {"a": 0, "b": 1, "c": 2}
    assert BertConfig.from_dict(config.to_dict()) == config


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        BertModel.from_pretrained(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="config.json: no such file"):
        BertModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_type 'distilbert', but BertConfig"):
        BertConfig.from_dict({"model_type": "distilbert"})
    with pytest.raises(ValueError, match=r"hidden_size \(30\) must be a multiple of "
                                         r"num_attention_heads \(4\)"):
        BertConfig.from_dict({"hidden_size": 30, "num_attention_heads": 4})
    with pytest.raises(ValueError, match="num_hidden_layers must be an integer, got '2'"):
        BertConfig.from_dict({"num_hidden_layers": "2"})
    with pytest.raises(ValueError, match="unknown activation 'gelu_fancy'"):
        BertConfig.from_dict({"hidden_act": "gelu_fancy"})
    wrong = tmp_path / "wrong"
    shutil.copytree(BERT_DIR, wrong)
    config = json.loads((wrong / "config.json").read_text())
    config["intermediate_size"] = 40
    (wrong / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"bert\.encoder\.layer\.0\.intermediate\.dense\.weight "
                                         r"has shape \(37, 32\), but BertForMaskedLM expects "
                                         r"\(40, 32\)"):
        BertForMaskedLM.from_pretrained(wrong)
    model = bert()
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=100\), got 100"):
        model(np.array([[1, 100]]))
    with pytest.raises(ValueError, match="41 tokens is too long for max_position_embeddings=40"):
        model(np.ones((1, 41), dtype=np.int64))
    with pytest.raises(ValueError, match=r"token_type_ids must lie in \[0, type_vocab_size=2\)"):
        model(np.array([[1, 2]]), token_type_ids=np.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, seq_len\) = \(1, 2\)"):
        model(np.array([[1, 2]]), attention_mask=np.array([[1, 1, 1]]))
    with pytest.raises(TypeError, match="input_ids must hold integers, got float64"):
        model(np.array([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="expected a BertConfig, got dict"):
        BertModel({"hidden_size": 32})


def test_inputs_embeds_and_dropout_in_training_only():
    model = bert()
    x = feed("bert")
    embedded = model.embeddings.word_embeddings(x["input_ids"])
    close(model(inputs_embeds=embedded, attention_mask=x["attention_mask"],
                token_type_ids=x["token_type_ids"]).last_hidden_state,
          group("bert/base/out")["last_hidden_state"])
    dropped = BertModel(BertConfig(**{**SIZES, "hidden_dropout_prob": 0.3}),
                        rng=np.random.default_rng(0))
    float_mask = {**x, "attention_mask": x["attention_mask"].astype(np.float32)}
    close(model(**float_mask).last_hidden_state, group("bert/base/out")["last_hidden_state"])
    first, second = (dropped(**x).last_hidden_state.numpy() for _ in range(2))
    assert not np.allclose(first, second)
    dropped.eval()
    np.testing.assert_array_equal(dropped(**x).last_hidden_state.numpy(),
                                  dropped(**x).last_hidden_state.numpy())


def test_legacy_names_and_buffers_of_old_checkpoints():
    """Old BERT checkpoints name LayerNorm's parameters gamma / beta and store position_ids and
    the tied decoder weight; they load as transformers loads them, silently."""
    state = {key.replace("LayerNorm.weight", "LayerNorm.gamma")
             .replace("LayerNorm.bias", "LayerNorm.beta"): value
             for key, value in weights("bert", "mlm").items() if "pooler" not in key}
    state["bert.embeddings.position_ids"] = np.arange(40)[None]
    state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    model = BertForMaskedLM(BertConfig(**SIZES))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.load_pretrained_state(state)
    check_head(model.eval(), "bert", "mlm")
