"""RoBERTa (Liu et al., 2019) in Hugging Face ``transformers``' layout. The encoder is BERT's
(bert.py), with two differences: positions count from ``pad_token_id + 1`` and skip padding
(fairseq's ``make_positions``), and the masked-LM and classification heads are RoBERTa's
(``lm_head``, ``classifier.dense`` / ``classifier.out_proj`` on the <s> token, no pooler)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.bert import (
    BertConfig,
    BertEmbeddings,
    BertForQuestionAnswering,
    BertForTokenClassification,
    BertModel,
    PreTrainedEncoder,
    classifier_dropout,
    sequence_classification_loss,
    tie_output_embeddings,
)
from dlpy.models.modeling_utils import ModelOutput, token_loss

__all__ = [
    "RobertaConfig", "RobertaForMaskedLM", "RobertaForQuestionAnswering",
    "RobertaForSequenceClassification", "RobertaForTokenClassification", "RobertaModel",
]


@dataclasses.dataclass
class RobertaConfig(BertConfig):
    """transformers' RobertaConfig: BertConfig's fields with RoBERTa's defaults (roberta-base
    has max_position_embeddings 514 and type_vocab_size 1 in its config.json)."""

    model_type: ClassVar[str] = "roberta"
    vocab_size: int = 50265
    pad_token_id: int = 1
    bos_token_id: int | None = 0
    eos_token_id: int | None = 2


class RobertaEmbeddings(BertEmbeddings):
    """BERT's embeddings with RoBERTa's positions: a token's position is pad_token_id + its
    1-based index among the non-padding tokens, padding keeps pad_token_id (whose row of the
    position table is a zero padding row)."""

    def __init__(self, config: RobertaConfig, rng=None):
        super().__init__(config.vocab_size, config.hidden_size, config.max_position_embeddings,
                         config.type_vocab_size, config.pad_token_id, config.layer_norm_eps,
                         config.hidden_dropout_prob, rng=rng,
                         position_padding_idx=config.pad_token_id)
        self.padding_idx = config.pad_token_id

    def make_position_ids(self, input_ids, batch, seq_len):
        if input_ids is None:  # embeddings given: nothing is padding
            return np.arange(self.padding_idx + 1, seq_len + self.padding_idx + 1)[None, :]
        not_padding = (input_ids != self.padding_idx).astype(np.int64)  # (batch, seq_len)
        return np.cumsum(not_padding, axis=1) * not_padding + self.padding_idx


class RobertaModel(BertModel):
    """BertModel with RobertaEmbeddings; the same module names under ``roberta.``."""

    config_class = RobertaConfig
    base_model_prefix = "roberta"

    @staticmethod
    def make_embeddings(config, rng):
        return RobertaEmbeddings(config, rng=rng)


class RobertaLMHead(nn.Module):
    """LayerNorm(gelu(x W^T + b)) then the decoder tied to the input embedding, bias ``bias``:
    (..., hidden) -> (..., vocab_size). Always the exact gelu, whatever hidden_act says."""

    def __init__(self, config: RobertaConfig, rng=None):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, rng=rng)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, rng=rng)
        self.bias = nn.Parameter(np.zeros(config.vocab_size, dtype=np.float32))
        self.decoder.bias = self.bias

    def forward(self, features):
        return self.decoder(self.layer_norm(F.gelu(self.dense(features))))


class RobertaForMaskedLM(PreTrainedEncoder):
    """RobertaModel without pooler + RobertaLMHead: logits (batch, seq_len, vocab_size);
    ``labels`` (-100 where not predicted) give the cross-entropy ``loss``."""

    config_class = RobertaConfig
    base_model_prefix = "roberta"
    tied_weights = ("lm_head.decoder.weight", "lm_head.decoder.bias")

    def __init__(self, config: RobertaConfig, rng=None):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False, rng=rng)
        self.lm_head = RobertaLMHead(config, rng=rng)
        self.post_init(rng)
        tie_output_embeddings(self, self.lm_head.decoder)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False) -> ModelOutput:
        outputs = self.roberta(input_ids, attention_mask, token_type_ids, position_ids,
                               inputs_embeds, output_hidden_states, output_attentions)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None if labels is None else token_loss(logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class RobertaClassificationHead(nn.Module):
    """out_proj(dropout(tanh(dense(dropout(h[:, 0]))))): the <s> token's state, (batch, hidden)
    -> (batch, num_labels)."""

    def __init__(self, config: RobertaConfig, rng=None):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, rng=rng)
        self.dropout = classifier_dropout(config)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels, rng=rng)

    def forward(self, features):
        x = F.tanh(self.dense(self.dropout(features[:, 0])))
        return self.out_proj(self.dropout(x))


class RobertaForSequenceClassification(PreTrainedEncoder):
    """RobertaModel without pooler + RobertaClassificationHead: logits (batch, num_labels);
    ``labels`` give the loss of ``config.problem_type`` (num_labels == 1: MSE)."""

    config_class = RobertaConfig
    base_model_prefix = "roberta"

    def __init__(self, config: RobertaConfig, rng=None):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False, rng=rng)
        self.classifier = RobertaClassificationHead(config, rng=rng)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False) -> ModelOutput:
        outputs = self.roberta(input_ids, attention_mask, token_type_ids, position_ids,
                               inputs_embeds, output_hidden_states, output_attentions)
        logits = self.classifier(outputs.last_hidden_state)
        loss = None if labels is None else \
            sequence_classification_loss(self.config, logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class RobertaForTokenClassification(BertForTokenClassification):
    """BertForTokenClassification's head on RobertaModel."""

    config_class = RobertaConfig
    base_model_prefix = "roberta"
    base_model_class = RobertaModel


class RobertaForQuestionAnswering(BertForQuestionAnswering):
    """BertForQuestionAnswering's head on RobertaModel."""

    config_class = RobertaConfig
    base_model_prefix = "roberta"
    base_model_class = RobertaModel
