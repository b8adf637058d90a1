"""RoBERTa in transformers' layout against transformers 5.25 (tests/fixtures/
make_hf_encoder_fixtures.py): positions that skip padding, lm_head, the classification head."""

import numpy as np
import pytest

from dlpy.models.roberta import (
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
)
from dlpy.nn.module import state_dict_once

from .hf_encoder import build, check_base, check_gradients, check_head, feed

SIZES = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=37, max_position_embeddings=40, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)
HEADS = {"mlm": RobertaForMaskedLM, "seq": RobertaForSequenceClassification,
         "regression": RobertaForSequenceClassification, "tok": RobertaForTokenClassification,
         "qa": RobertaForQuestionAnswering}


def roberta(head=None):
    return build(HEADS[head] if head else RobertaModel, RobertaConfig, "roberta", head, SIZES)


def test_encoder_outputs_equal_transformers():
    check_base(roberta(), "roberta")


@pytest.mark.parametrize("head", list(HEADS))
def test_heads_equal_transformers(head):
    check_head(roberta(head), "roberta", head)


def test_gradients_equal_torch():
    model = roberta("tok")
    check_gradients(model, "roberta", "tok")
    # the position table's padding row (pad_token_id = 1) gets no gradient
    assert not model.roberta.embeddings.position_embeddings.weight.grad[1].any()


def test_positions_skip_padding_and_are_named_in_errors():
    embeddings = roberta().embeddings
    ids = feed("roberta")["input_ids"]
    positions = embeddings.make_position_ids(ids, *ids.shape)
    np.testing.assert_array_equal(positions[2], [2, 3, 4, 1, 1, 1, 1])  # pad_token_id 1
    with pytest.raises(ValueError, match="39 tokens is too long for max_position_embeddings=40 "
                                         r"\(positions up to 40\)"):
        embeddings(np.full((1, 39), 5))
    with pytest.raises(ValueError, match="model_type 'bert', but RobertaConfig"):
        RobertaConfig.from_dict({"model_type": "bert"})


def test_mlm_decoder_is_the_input_embedding():
    model = roberta("mlm")
    assert model.lm_head.decoder.weight is model.roberta.embeddings.word_embeddings.weight
    assert "lm_head.decoder.weight" in model.state_dict()  # every name, as torch's
    assert "lm_head.decoder.weight" not in state_dict_once(model)  # saved once
