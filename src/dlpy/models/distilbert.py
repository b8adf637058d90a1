"""DistilBERT (Sanh et al., 2019) in Hugging Face ``transformers``' layout. The math is BERT's
post-LN encoder (bert.py: the embeddings, the attention function, the heads' losses) without
token types and pooler; only the names differ: ``transformer.layer.0.attention.q_lin``,
``sa_layer_norm``, ``ffn.lin1`` / ``ffn.lin2``, ``output_layer_norm``, and the config's
``dim`` / ``n_heads`` / ``n_layers`` / ``hidden_dim``."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.bert import (
    BertEmbeddings,
    BertEncoder,
    EncoderConfig,
    PreTrainedEncoder,
    multi_head_attention,
    question_answering_loss,
    sequence_classification_loss,
    split_span_logits,
    tie_output_embeddings,
)
from dlpy.models.modeling_utils import (
    ModelOutput,
    activation,
    extended_attention_mask,
    token_loss,
)

__all__ = [
    "DistilBertConfig", "DistilBertForMaskedLM", "DistilBertForQuestionAnswering",
    "DistilBertForSequenceClassification", "DistilBertForTokenClassification", "DistilBertModel",
]

LAYER_NORM_EPS = 1e-12  # fixed in transformers' DistilBERT, not a config field


@dataclasses.dataclass
class DistilBertConfig(EncoderConfig):
    """transformers' DistilBertConfig: its field names and defaults (distilbert-base's sizes);
    ``hidden_size``, ``num_attention_heads`` and ``num_hidden_layers`` read dim, n_heads and
    n_layers, as its attribute_map."""

    model_type: ClassVar[str] = "distilbert"
    positive_fields: ClassVar[tuple[str, ...]] = ("vocab_size", "max_position_embeddings",
                                                  "n_layers", "n_heads", "dim", "hidden_dim")
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    initializer_range: float = 0.02
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int = 0
    tie_word_embeddings: bool = True

    hidden_size = property(lambda self: self.dim)
    num_attention_heads = property(lambda self: self.n_heads)
    num_hidden_layers = property(lambda self: self.n_layers)

    def _checked(self, source: str = "config"):
        super()._checked(source)
        if self.dim % self.n_heads:
            raise ValueError(f"{source}: dim ({self.dim}) must be a multiple of n_heads "
                             f"({self.n_heads})")
        activation(self.activation, source)
        return self


def sinusoidal_table(num_positions: int, dim: int) -> np.ndarray:
    """(num_positions, dim): sin(p / 10000^(2i / dim)) in even columns, cos in odd ones."""
    position = np.arange(num_positions)[:, None]
    angle = position / np.power(10000, 2 * (np.arange(dim) // 2) / dim)
    table = np.empty((num_positions, dim))
    table[:, 0::2], table[:, 1::2] = np.sin(angle[:, 0::2]), np.cos(angle[:, 1::2])
    return table


class MultiHeadSelfAttention(nn.Module):
    """q_lin, k_lin, v_lin, then out_lin on the attention (bert.multi_head_attention)."""

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__()
        self.n_heads = config.n_heads
        self.q_lin = nn.Linear(config.dim, config.dim, rng=rng)
        self.k_lin = nn.Linear(config.dim, config.dim, rng=rng)
        self.v_lin = nn.Linear(config.dim, config.dim, rng=rng)
        self.out_lin = nn.Linear(config.dim, config.dim, rng=rng)
        self.dropout = nn.Dropout(config.attention_dropout)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        context, weights = multi_head_attention(hidden_states, self.q_lin, self.k_lin,
                                                self.v_lin, mask, self.n_heads, self.dropout.p,
                                                self.training, output_attentions)
        return self.out_lin(context), weights


class FFN(nn.Module):
    """dropout(lin2(act(lin1(x)))): (..., dim) -> (..., dim) through hidden_dim."""

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lin1 = nn.Linear(config.dim, config.hidden_dim, rng=rng)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim, rng=rng)
        self.activation = config.activation

    def forward(self, x):
        return self.dropout(self.lin2(activation(self.activation, "FFN")(self.lin1(x))))


class TransformerBlock(nn.Module):
    """BertLayer's post-LN layer under DistilBERT's names: h = sa_layer_norm(h + attention(h)),
    then h = output_layer_norm(h + ffn(h)). The attention's own dropout is on its weights only,
    as in transformers."""

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config, rng=rng)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.ffn = FFN(config, rng=rng)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions)
        attention_output = self.sa_layer_norm(attention_output + hidden_states)
        return self.output_layer_norm(self.ffn(attention_output) + attention_output), weights


class Transformer(BertEncoder):
    """BertEncoder of n_layers TransformerBlocks: (batch, seq_len, dim) -> the same."""

    layer_class = TransformerBlock


class DistilBertModel(PreTrainedEncoder):
    """The bare encoder: embeddings (word + position, no token types) and ``n_layers``
    TransformerBlocks. input_ids (batch, seq_len) -> ModelOutput(last_hidden_state (batch,
    seq_len, dim), hidden_states, attentions)."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config.vocab_size, config.dim,
                                         config.max_position_embeddings, 0,
                                         config.pad_token_id, LAYER_NORM_EPS, config.dropout,
                                         rng=rng)
        self.transformer = Transformer(config, rng=rng)
        self.post_init(rng)
        if config.sinusoidal_pos_embds:
            table = self.embeddings.position_embeddings.weight
            table.data[...] = sinusoidal_table(*table.shape)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None,
                position_ids=None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        embeddings = self.embeddings(input_ids, None, position_ids, inputs_embeds)
        mask = extended_attention_mask(type(self).__name__, attention_mask,
                                       embeddings.shape[:2], embeddings.dtype)
        last, hidden_states, attentions = self.transformer(embeddings, mask,
                                                           output_hidden_states,
                                                           output_attentions)
        return ModelOutput(last_hidden_state=last, hidden_states=hidden_states,
                           attentions=attentions)


class _DistilBertHead(PreTrainedEncoder):
    """A head on ``self.distilbert``: builds it, and runs it in ``encode``."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__(config)
        self.distilbert = DistilBertModel(config, rng=rng)

    def encode(self, input_ids, attention_mask, inputs_embeds, position_ids,
               output_hidden_states, output_attentions) -> ModelOutput:
        return self.distilbert(input_ids, attention_mask, inputs_embeds, position_ids,
                               output_hidden_states, output_attentions)


class DistilBertForMaskedLM(_DistilBertHead):
    """DistilBertModel + vocab_transform, activation, vocab_layer_norm and vocab_projector
    (tied to the input embedding): logits (batch, seq_len, vocab_size); ``labels`` (-100
    where not predicted) give the cross-entropy ``loss``."""

    tied_weights = ("vocab_projector.weight",)

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__(config, rng=rng)
        self.vocab_transform = nn.Linear(config.dim, config.dim, rng=rng)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size, rng=rng)
        self.post_init(rng)
        tie_output_embeddings(self, self.vocab_projector)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None,
                position_ids=None, output_hidden_states=False,
                output_attentions=False) -> ModelOutput:
        outputs = self.encode(input_ids, attention_mask, inputs_embeds, position_ids,
                              output_hidden_states, output_attentions)
        act = activation(self.config.activation, type(self).__name__)
        x = self.vocab_layer_norm(act(self.vocab_transform(outputs.last_hidden_state)))
        logits = self.vocab_projector(x)
        loss = None if labels is None else token_loss(logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class DistilBertForSequenceClassification(_DistilBertHead):
    """classifier(dropout(relu(pre_classifier(h[:, 0])))): logits (batch, num_labels);
    ``labels`` give the loss of ``config.problem_type`` (num_labels == 1: MSE)."""

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__(config, rng=rng)
        self.pre_classifier = nn.Linear(config.dim, config.dim, rng=rng)
        self.classifier = nn.Linear(config.dim, config.num_labels, rng=rng)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None,
                position_ids=None, output_hidden_states=False,
                output_attentions=False) -> ModelOutput:
        outputs = self.encode(input_ids, attention_mask, inputs_embeds, position_ids,
                              output_hidden_states, output_attentions)
        pooled = F.relu(self.pre_classifier(outputs.last_hidden_state[:, 0]))  # (batch, dim)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else \
            sequence_classification_loss(self.config, logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class DistilBertForTokenClassification(_DistilBertHead):
    """classifier(dropout(h)) per token: logits (batch, seq_len, num_labels); ``labels``
    (-100 left out) give the cross-entropy."""

    def __init__(self, config: DistilBertConfig, rng=None):
        super().__init__(config, rng=rng)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels, rng=rng)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None,
                position_ids=None, output_hidden_states=False,
                output_attentions=False) -> ModelOutput:
        outputs = self.encode(input_ids, attention_mask, inputs_embeds, position_ids,
                              output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None if labels is None else token_loss(logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class DistilBertForQuestionAnswering(_DistilBertHead):
    """qa_outputs(dropout(h)): start_logits, end_logits (batch, seq_len); start_positions and
    end_positions (batch,) give the mean of the two cross-entropies. num_labels must be 2."""

    def __init__(self, config: DistilBertConfig, rng=None):
        if config.num_labels != 2:
            raise ValueError(f"DistilBertForQuestionAnswering: config.num_labels must be 2 (a "
                             f"start and an end score), got {config.num_labels}")
        super().__init__(config, rng=rng)
        self.qa_outputs = nn.Linear(config.dim, config.num_labels, rng=rng)
        self.dropout = nn.Dropout(config.qa_dropout)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None,
                start_positions=None, end_positions=None, position_ids=None,
                output_hidden_states=False, output_attentions=False) -> ModelOutput:
        outputs = self.encode(input_ids, attention_mask, inputs_embeds, position_ids,
                              output_hidden_states, output_attentions)
        logits = self.qa_outputs(self.dropout(outputs.last_hidden_state))
        start_logits, end_logits = split_span_logits(logits)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions,
                                           end_positions)
        return ModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                           hidden_states=outputs.hidden_states, attentions=outputs.attentions)
