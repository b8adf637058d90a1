"""DistilBERT in transformers' layout against transformers 5.25 (tests/fixtures/
make_hf_encoder_fixtures.py): its names (q_lin, sa_layer_norm, ffn.lin1...), no token types."""

import numpy as np
import pytest

from dlpy.models.distilbert import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
    sinusoidal_table,
)

from .hf_encoder import build, check_base, check_gradients, check_head

SIZES = dict(vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
             max_position_embeddings=40, dropout=0.0, attention_dropout=0.0, qa_dropout=0.0,
             seq_classif_dropout=0.0)
HEADS = {"mlm": DistilBertForMaskedLM, "seq": DistilBertForSequenceClassification,
         "regression": DistilBertForSequenceClassification,
         "tok": DistilBertForTokenClassification, "qa": DistilBertForQuestionAnswering}


def distilbert(head=None):
    return build(HEADS[head] if head else DistilBertModel, DistilBertConfig, "distilbert", head,
                 SIZES)


def test_encoder_outputs_equal_transformers():
    check_base(distilbert(), "distilbert", token_types=False)


@pytest.mark.parametrize("head", list(HEADS))
def test_heads_equal_transformers(head):
    check_head(distilbert(head), "distilbert", head, token_types=False)


def test_gradients_through_the_tied_projection_equal_torch():
    check_gradients(distilbert("mlm"), "distilbert", "mlm", token_types=False)


def test_config_names_and_errors():
    config = DistilBertConfig.from_dict({"model_type": "distilbert", "dim": 32, "n_heads": 4,
                                         "n_layers": 2})
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == \
        (32, 4, 2)
    with pytest.raises(ValueError, match=r"dim \(30\) must be a multiple of n_heads \(4\)"):
        DistilBertConfig.from_dict({"dim": 30, "n_heads": 4})
    with pytest.raises(ValueError, match="num_labels must be 2 .*got 3"):
        DistilBertForQuestionAnswering(DistilBertConfig(num_labels=3, **SIZES))
    with pytest.raises(ValueError, match="this model has no token types"):
        distilbert().embeddings(np.array([[1, 2]]), token_type_ids=np.array([[0, 0]]))


def test_sinusoidal_positions():
    model = DistilBertModel(DistilBertConfig(sinusoidal_pos_embds=True, **SIZES))
    table = model.embeddings.position_embeddings.weight.numpy()
    np.testing.assert_allclose(table[3, :2], [np.sin(3), np.cos(3)], rtol=1e-6)
    np.testing.assert_allclose(table, sinusoidal_table(40, 32), rtol=1e-6, atol=1e-7)
