"""BERT (Devlin et al., 2019) in Hugging Face ``transformers``' layout: the same module and
parameter names (``bert.encoder.layer.0.attention.self.query.weight``), so a ``transformers``
checkpoint directory loads with ``from_pretrained`` and gives the same outputs.

The encoder is post-LN: each layer is

    h = LayerNorm(h + Dropout(Attention(h) W_o))
    h = LayerNorm(h + Dropout(act(h W_1) W_2))

over embeddings LayerNorm(word + position + token type), with

    Attention(h) = concat_heads(softmax(q k^T / sqrt(head_dim) + mask) v),  q, k, v = h W_q, ...

and ``mask`` additive (batch, 1, 1, seq_len): 0 at tokens, a large negative number at padding.
What RoBERTa and DistilBERT share with it lives here too: the attention function, the heads'
losses, EncoderConfig (the labels) and PreTrainedEncoder (transformers' initialisation, lenient
loading). Loading, saving, the outputs and the input checks are modeling_utils'.

    BertModel: input_ids (batch, seq_len) -> last_hidden_state (batch, seq_len, hidden_size),
               pooler_output (batch, hidden_size)
    BertForMaskedLM: -> logits (batch, seq_len, vocab_size)
    BertForSequenceClassification: -> logits (batch, num_labels)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.modeling_utils import (
    ModelOutput,
    PretrainedConfig,
    PreTrainedModel,
    activation,
    check_ids,
    extended_attention_mask,
    integer_input,
    token_loss,
)
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array

__all__ = [
    "BertConfig", "BertForMaskedLM", "BertForQuestionAnswering", "BertForSequenceClassification",
    "BertForTokenClassification", "BertModel", "ModelOutput", "PreTrainedEncoder",
]


# ------------------------------------------------------------------------------------ config
@dataclasses.dataclass
class EncoderConfig(PretrainedConfig):
    """What the encoder configs add to PretrainedConfig: the label count from ``id2label`` and
    the classification problem type, as transformers' configs hold them."""

    num_labels: int = 2  # config.json stores id2label; num_labels follows from it
    problem_type: str | None = None  # regression, single_label_ or multi_label_classification
    id2label: dict[str, str] | None = None  # the label names (None: LABEL_0, LABEL_1...)

    @classmethod
    def _known_fields(cls, values: dict, names: set[str]) -> dict:
        known = super()._known_fields(values, names)
        if isinstance(values.get("id2label"), dict):
            names = {str(key): str(name) for key, name in values["id2label"].items()}
            known.setdefault("num_labels", len(names))
            # transformers' default names LABEL_0, LABEL_1... say no more than num_labels
            default = {str(i): f"LABEL_{i}" for i in range(len(names))}
            known["id2label"] = None if names == default else names
        return known

    def to_dict(self) -> dict:
        """transformers' ``config.json`` fields, with id2label / label2id for num_labels."""
        config = super().to_dict()
        num_labels = config.pop("num_labels")
        names = self.id2label if self.id2label and len(self.id2label) == num_labels else \
            {str(i): f"LABEL_{i}" for i in range(num_labels)}
        config["id2label"] = dict(names)
        config["label2id"] = {name: int(i) for i, name in names.items()}
        return config

    def _checked(self, source: str = "config"):
        super()._checked(source)
        if self.num_labels < 1:
            raise ValueError(f"{source}: num_labels must be >= 1, got {self.num_labels}")
        if self.problem_type not in (None, "regression", "single_label_classification",
                                     "multi_label_classification"):
            raise ValueError(f"{source}: problem_type must be regression, "
                             f"single_label_classification or multi_label_classification, got "
                             f"{self.problem_type!r}")
        return self


@dataclasses.dataclass
class BertConfig(EncoderConfig):
    """transformers' BertConfig: its field names and defaults (bert-base-uncased's sizes)."""

    model_type: ClassVar[str] = "bert"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "intermediate_size", "max_position_embeddings")
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: float | None = None
    tie_word_embeddings: bool = True

    def _checked(self, source: str = "config"):
        super()._checked(source)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"{source}: hidden_size ({self.hidden_size}) must be a multiple of "
                             f"num_attention_heads ({self.num_attention_heads})")
        activation(self.hidden_act, source)
        return self


# ----------------------------------------------------------------------------- attention
def multi_head_attention(hidden_states: Tensor, query: nn.Linear, key: nn.Linear,
                         value: nn.Linear, mask, num_heads: int, dropout_p: float,
                         training: bool, output_attentions: bool = False):
    """Self-attention over hidden_states (batch, seq_len, hidden) with the projections
    ``query``, ``key``, ``value``: softmax(q k^T / sqrt(head_dim) + mask) v per head, heads
    concatenated -> (batch, seq_len, hidden), and the weights (batch, heads, seq_len, seq_len)
    as numpy when ``output_attentions`` (else None)."""
    batch, seq_len, _ = hidden_states.shape

    def heads(x):  # (batch, seq_len, hidden) -> (batch, num_heads, seq_len, head_dim)
        return x.reshape(batch, seq_len, num_heads, -1).transpose(1, 2)

    q, k, v = heads(query(hidden_states)), heads(key(hidden_states)), heads(value(hidden_states))
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                             training=training, return_weights=output_attentions)
    weights = None
    if output_attentions:
        context, weights = context
    return context.transpose(1, 2).reshape(batch, seq_len, -1), weights


# ------------------------------------------------------------------------------- the encoder
class BertEmbeddings(nn.Module):
    """LayerNorm(word + position + token type embeddings), then dropout: ids (batch, seq_len)
    -> (batch, seq_len, hidden_size). ``type_vocab_size`` 0 leaves token types out (DistilBERT);
    ``position_padding_idx`` gives the position table a padding row (RoBERTa)."""

    def __init__(self, vocab_size: int, hidden_size: int, max_position_embeddings: int,
                 type_vocab_size: int, pad_token_id: int | None, layer_norm_eps: float,
                 dropout: float, rng=None, position_padding_idx: int | None = None):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id,
                                            rng=rng)
        self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size,
                                                padding_idx=position_padding_idx, rng=rng)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, hidden_size, rng=rng) \
            if type_vocab_size else None
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def make_position_ids(self, input_ids: np.ndarray | None, batch: int, seq_len: int):
        """BERT's absolute positions 0 .. seq_len - 1, (1, seq_len)."""
        return np.arange(seq_len)[None, :]

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None) -> Tensor:
        owner = "embeddings"
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{owner}: give exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            input_ids = integer_input(owner, "input_ids", input_ids)
            check_ids(owner, "input_ids", input_ids, self.word_embeddings.num_embeddings,
                      "vocab_size")
            inputs_embeds = self.word_embeddings(input_ids)  # (batch, seq_len, hidden)
        batch, seq_len = inputs_embeds.shape[:2]
        max_positions = self.position_embeddings.num_embeddings
        if position_ids is None:
            position_ids = self.make_position_ids(input_ids, batch, seq_len)
            if position_ids.size and position_ids.max() >= max_positions:
                raise ValueError(f"{owner}: a sequence of {seq_len} tokens is too long for "
                                 f"max_position_embeddings={max_positions} (positions up to "
                                 f"{position_ids.max()}); truncate the input")
        else:
            position_ids = as_array(position_ids)
            check_ids(owner, "position_ids", position_ids, max_positions,
                      "max_position_embeddings")
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = np.zeros((batch, seq_len), dtype=np.int64)
            token_type_ids = integer_input(owner, "token_type_ids", token_type_ids,
                                           (batch, seq_len))
            check_ids(owner, "token_type_ids", token_type_ids,
                      self.token_type_embeddings.num_embeddings, "type_vocab_size")
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        elif token_type_ids is not None:
            raise ValueError(f"{owner}: this model has no token types; got token_type_ids")
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    """The query, key and value projections, (hidden, hidden) each, and the attention over
    them (``multi_head_attention``); the output projection is BertSelfOutput's."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        hidden = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.query = nn.Linear(hidden, hidden, rng=rng)
        self.key = nn.Linear(hidden, hidden, rng=rng)
        self.value = nn.Linear(hidden, hidden, rng=rng)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        return multi_head_attention(hidden_states, self.query, self.key, self.value, mask,
                                    self.num_attention_heads, self.dropout.p, self.training,
                                    output_attentions)


class BertOutput(nn.Module):
    """LayerNorm(residual + Dropout(x W^T + b)): x (..., in_features) -> (..., hidden)."""

    def __init__(self, config: BertConfig, in_features: int | None = None, rng=None):
        super().__init__()
        in_features = config.intermediate_size if in_features is None else in_features
        self.dense = nn.Linear(in_features, config.hidden_size, rng=rng)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertSelfOutput(BertOutput):
    """BertOutput after the attention: the output projection (hidden, hidden)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__(config, config.hidden_size, rng=rng)


class BertAttention(nn.Module):
    """LayerNorm(h + Dropout(Attention(h) W_o)): (batch, seq_len, hidden) -> the same, and
    the attention weights (or None)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.self = BertSelfAttention(config, rng=rng)
        self.output = BertSelfOutput(config, rng=rng)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        context, weights = self.self(hidden_states, mask, output_attentions)
        return self.output(context, hidden_states), weights


class BertIntermediate(nn.Module):
    """act(x W_1^T + b_1): (..., hidden) -> (..., intermediate_size)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size, rng=rng)
        self.hidden_act = config.hidden_act

    def forward(self, hidden_states):
        return activation(self.hidden_act, "BertIntermediate")(self.dense(hidden_states))


class BertLayer(nn.Module):
    """One post-LN encoder layer: attention, then the feed-forward block, each added to its
    input and normalised."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.attention = BertAttention(config, rng=rng)
        self.intermediate = BertIntermediate(config, rng=rng)
        self.output = BertOutput(config, rng=rng)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions)
        return self.output(self.intermediate(attention_output), attention_output), weights


def run_layers(layers, hidden_states, mask, output_hidden_states, output_attentions):
    """hidden_states through each layer; returns the last, then (embeddings, each layer's
    output) and each layer's weights when asked (else None)."""
    all_hidden = [hidden_states] if output_hidden_states else None
    all_weights = [] if output_attentions else None
    for layer in layers:
        hidden_states, weights = layer(hidden_states, mask, output_attentions)
        if output_hidden_states:
            all_hidden.append(hidden_states)
        if output_attentions:
            all_weights.append(weights)
    return (hidden_states, None if all_hidden is None else tuple(all_hidden),
            None if all_weights is None else tuple(all_weights))


class BertEncoder(nn.Module):
    """num_hidden_layers layers of ``layer_class``: (batch, seq_len, hidden) -> the same, and
    each layer's output and attention weights when asked (run_layers)."""

    layer_class: ClassVar[type] = BertLayer

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.layer = nn.ModuleList([self.layer_class(config, rng=rng)
                                    for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, mask=None, output_hidden_states=False,
                output_attentions=False):
        return run_layers(self.layer, hidden_states, mask, output_hidden_states,
                          output_attentions)


class BertPooler(nn.Module):
    """tanh(h[:, 0] W^T + b): the first ([CLS]) token's state, (batch, hidden)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, rng=rng)

    def forward(self, hidden_states):
        return F.tanh(self.dense(hidden_states[:, 0]))


# ------------------------------------------------------------------ loading and saving models
def init_weights(model: nn.Module, std: float, rng, skip: nn.Module | None = None) -> None:
    """transformers' initialisation: Linear and Embedding weights N(0, std) (an embedding's
    padding row zero), biases zero, LayerNorm weight one and bias zero; the modules of
    ``skip`` (an encoder that initialised itself) left alone."""
    done = set() if skip is None else {id(module) for module in skip.modules()}
    for module in model.modules():
        if id(module) in done:
            continue
        if isinstance(module, nn.Linear):
            module.weight.data[...] = rng.normal(0.0, std, module.weight.shape)
            if module.bias is not None:
                module.bias.data[...] = 0
        elif isinstance(module, nn.Embedding):
            module.weight.data[...] = rng.normal(0.0, std, module.weight.shape)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx] = 0
        elif isinstance(module, nn.LayerNorm):
            module.weight.data[...] = 1
            module.bias.data[...] = 0


class PreTrainedEncoder(PreTrainedModel, nn.Module):
    """PreTrainedModel for the encoders (BERT, RoBERTa, DistilBERT): the config is checked on
    construction and the weights initialised as transformers does (``post_init``). Loading is
    lenient, as transformers': weights the checkpoint lacks (a new head) keep their random
    initialisation and those the model lacks are ignored, each with a warning naming them."""

    config_class: ClassVar[type] = BertConfig
    base_model_prefix: ClassVar[str] = "bert"
    ignored_keys = ("embeddings.position_ids", "embeddings.token_type_ids")  # old buffers
    strict_load = False

    def __init__(self, config):
        super().__init__()
        self._set_config(config)

    def post_init(self, rng) -> None:
        """Initialise as transformers does (the base model, built first, did its own part)."""
        base = self.base_model
        init_weights(self, self.config.initializer_range, get_rng(rng),
                     skip=None if base is self else base)

    # the name this family's loader had first; one loader for every model
    load_pretrained_state = PreTrainedModel.load_hf_state_dict


class BertModel(PreTrainedEncoder):
    """The bare encoder: embeddings, ``num_hidden_layers`` BertLayers and (optionally) the
    pooler. input_ids (batch, seq_len) -> ModelOutput(last_hidden_state (batch, seq_len,
    hidden), pooler_output (batch, hidden), hidden_states, attentions)."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, rng=None):
        super().__init__(config)
        self.embeddings = self.make_embeddings(config, rng)
        self.encoder = BertEncoder(config, rng=rng)
        self.pooler = BertPooler(config, rng=rng) if add_pooling_layer else None
        self.post_init(rng)

    @staticmethod
    def make_embeddings(config: BertConfig, rng) -> BertEmbeddings:
        return BertEmbeddings(config.vocab_size, config.hidden_size,
                              config.max_position_embeddings, config.type_vocab_size,
                              config.pad_token_id, config.layer_norm_eps,
                              config.hidden_dropout_prob, rng=rng)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        embeddings = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask = extended_attention_mask(type(self).__name__, attention_mask,
                                       embeddings.shape[:2], embeddings.dtype)
        last, hidden_states, attentions = self.encoder(embeddings, mask, output_hidden_states,
                                                       output_attentions)
        return ModelOutput(last_hidden_state=last,
                           pooler_output=None if self.pooler is None else self.pooler(last),
                           hidden_states=hidden_states, attentions=attentions)


# ------------------------------------------------------------------------------------ heads
def sequence_classification_loss(config, logits: Tensor, labels) -> Tensor:
    """transformers' problem_type logic: one label -> MSE (regression); integer labels ->
    cross-entropy; float labels with several -> BCE with logits (multi-label). The choice is
    stored in ``config.problem_type`` as there."""
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype.kind in "iu":
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        labels = labels.astype(logits.dtype)
        if config.num_labels == 1:
            return F.mse_loss(logits.squeeze(), labels.squeeze())
        return F.mse_loss(logits, labels)
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.reshape(-1, config.num_labels), labels.reshape(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.astype(logits.dtype))


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of the start and end cross-entropies; positions outside the sequence are clamped
    to seq_len and left out, as transformers does."""
    seq_len = start_logits.shape[1]
    losses = []
    for logits, positions in ((start_logits, start_positions), (end_logits, end_positions)):
        positions = as_array(positions).reshape(-1)
        positions = np.clip(positions.astype(np.int64), 0, seq_len)
        losses.append(F.cross_entropy(logits, positions, ignore_index=seq_len))
    return (losses[0] + losses[1]) / 2


def split_span_logits(logits: Tensor) -> tuple[Tensor, Tensor]:
    """(batch, seq_len, 2) -> start and end logits, (batch, seq_len) each."""
    start, end = logits.split(1, dim=-1)
    return start.squeeze(-1), end.squeeze(-1)


class BertPredictionHeadTransform(nn.Module):
    """LayerNorm(act(x W^T + b)): (..., hidden) -> (..., hidden)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, rng=rng)
        self.hidden_act = config.hidden_act
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        act = activation(self.hidden_act, "BertPredictionHeadTransform")
        return self.LayerNorm(act(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """The transform, then the decoder (hidden -> vocab) whose weight is the input embedding's
    when tied and whose bias is ``bias``: (..., hidden) -> (..., vocab_size)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.bias = nn.Parameter(np.zeros(config.vocab_size, dtype=np.float32))
        self.transform = BertPredictionHeadTransform(config, rng=rng)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, rng=rng)
        self.decoder.bias = self.bias  # one parameter under both names, as transformers

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    """transformers' wrapper (``cls.predictions``): (..., hidden) -> (..., vocab_size)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__()
        self.predictions = BertLMPredictionHead(config, rng=rng)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


def classifier_dropout(config: BertConfig) -> nn.Dropout:
    """The dropout before a classifier: config.classifier_dropout, or hidden_dropout_prob when
    that is None (transformers' rule)."""
    p = config.classifier_dropout
    return nn.Dropout(config.hidden_dropout_prob if p is None else p)


def tie_output_embeddings(model: PreTrainedEncoder, decoder: nn.Linear) -> None:
    """Make ``decoder.weight`` the input embedding (vocab, hidden) itself, when the config ties
    them (transformers' default): one array, trained once."""
    if model.config.tie_word_embeddings:
        decoder.weight = model.base_model.embeddings.word_embeddings.weight


class BertForMaskedLM(PreTrainedEncoder):
    """BertModel without pooler + the masked-LM head: logits (batch, seq_len, vocab_size);
    ``labels`` (batch, seq_len), -100 where not predicted, give the cross-entropy ``loss``."""

    tied_weights = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")

    def __init__(self, config: BertConfig, rng=None):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False, rng=rng)
        self.cls = BertOnlyMLMHead(config, rng=rng)
        self.post_init(rng)
        tie_output_embeddings(self, self.cls.predictions.decoder)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False) -> ModelOutput:
        outputs = self.bert(input_ids, attention_mask, token_type_ids, position_ids,
                            inputs_embeds, output_hidden_states, output_attentions)
        logits = self.cls(outputs.last_hidden_state)
        loss = None if labels is None else token_loss(logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class BertForSequenceClassification(PreTrainedEncoder):
    """BertModel + dropout + a linear layer on the pooled [CLS] state: logits (batch,
    num_labels); ``labels`` give the loss of ``config.problem_type`` (num_labels == 1: MSE)."""

    def __init__(self, config: BertConfig, rng=None):
        super().__init__(config)
        self.bert = BertModel(config, rng=rng)
        self.dropout = classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, rng=rng)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False) -> ModelOutput:
        outputs = self.bert(input_ids, attention_mask, token_type_ids, position_ids,
                            inputs_embeds, output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None if labels is None else \
            sequence_classification_loss(self.config, logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class BertForTokenClassification(PreTrainedEncoder):
    """The encoder (no pooler) + dropout + a linear layer per token: logits (batch, seq_len,
    num_labels); ``labels`` (batch, seq_len), -100 left out, give the cross-entropy."""

    base_model_class: ClassVar[type] = BertModel

    def __init__(self, config: BertConfig, rng=None):
        super().__init__(config)
        setattr(self, self.base_model_prefix,
                self.base_model_class(config, add_pooling_layer=False, rng=rng))
        self.dropout = classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, rng=rng)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None,
                output_hidden_states=False, output_attentions=False) -> ModelOutput:
        outputs = self.base_model(input_ids, attention_mask, token_type_ids, position_ids,
                                  inputs_embeds, output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None if labels is None else token_loss(logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                           attentions=outputs.attentions)


class BertForQuestionAnswering(PreTrainedEncoder):
    """The encoder (no pooler) + a linear layer giving each token a start and an end score:
    start_logits, end_logits (batch, seq_len); ``start_positions``, ``end_positions`` (batch,)
    give the mean of the two cross-entropies."""

    base_model_class: ClassVar[type] = BertModel

    def __init__(self, config: BertConfig, rng=None):
        super().__init__(config)
        setattr(self, self.base_model_prefix,
                self.base_model_class(config, add_pooling_layer=False, rng=rng))
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels, rng=rng)
        self.post_init(rng)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, start_positions=None,
                end_positions=None, output_hidden_states=False,
                output_attentions=False) -> ModelOutput:
        outputs = self.base_model(input_ids, attention_mask, token_type_ids, position_ids,
                                  inputs_embeds, output_hidden_states, output_attentions)
        start_logits, end_logits = split_span_logits(self.qa_outputs(outputs.last_hidden_state))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = question_answering_loss(start_logits, end_logits, start_positions,
                                           end_positions)
        return ModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                           hidden_states=outputs.hidden_states, attentions=outputs.attentions)

