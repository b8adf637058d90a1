"""T5 (Raffel et al. 2020) and T5 v1.1 / flan-t5 in Hugging Face ``transformers``' layout: the
same module and parameter names (``encoder.block.0.layer.0.SelfAttention.q.weight``...), so a
transformers checkpoint loads unchanged and gives the same logits.

    embeddings: shared(ids), one table for the encoder, the decoder and (tied) the lm_head
    encoder block: x = x + attn(rms(x));  x = x + ff(rms(x))                       (pre-norm)
    decoder block: x = x + causal_attn(rms(x)); x = x + cross_attn(rms(x), enc); x = x + ff(rms(x))
    attn: softmax(q k^T + position_bias) v: no 1 / sqrt(d_kv) scaling; position_bias from
          relative-position buckets (bidirectional in the encoder, causal in the decoder),
          computed by the first block's embedding and shared by every block of the stack
    ff: wo(relu(wi(x))), or wo(gelu_tanh(wi_0(x)) * wi_1(x)) with feed_forward_proj="gated-gelu"
    rms(x) = weight * x / sqrt(mean(x^2) + eps)                          (T5 LayerNorm: no bias)
    logits: lm_head(rms(x) * d_model ** -0.5) when tied, lm_head(rms(x)) otherwise
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.generation import GenerationMixin
from dlpy.models.modeling_utils import (
    ACTIVATIONS,
    BaseModelOutput,
    PretrainedConfig,
    PreTrainedModel,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    append_cache,
    as_ids,
    causal_mask,
    encoder_states,
    last_positions,
    lm_head,
    padding_mask,
    past_length,
    shift_tokens_right,
    token_loss,
)
from dlpy.nn.module import Module
from dlpy.ops.attention import ScoresAttention, additive_mask
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["T5Config", "T5Model", "T5ForConditionalGeneration", "T5EncoderModel",
           "relative_position_bucket"]



@dataclass
class T5Config(PretrainedConfig):
    """transformers' T5Config fields. ``tie_word_embeddings`` False (T5 v1.1, flan-t5): a
    separate lm_head and no d_model ** -0.5 rescale of the decoder output."""

    model_type: ClassVar[str] = "t5"
    required_fields: ClassVar[tuple[str, ...]] = ("vocab_size", "d_model", "d_kv", "d_ff",
                                                  "num_layers", "num_heads")
    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None  # None: num_layers
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"  # "relu", "gelu", "gated-gelu", "gated-silu", ...
    is_encoder_decoder: bool = True
    use_cache: bool = True
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    decoder_start_token_id: int | None = None  # 0 in every published T5 config
    tie_word_embeddings: bool = True

    def __post_init__(self):
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers
        parts = str(self.feed_forward_proj).split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated") \
                or self.activation not in ACTIVATIONS:
            raise ValueError(f"T5Config: feed_forward_proj must be an activation or 'gated-' and "
                             f"one ({', '.join(sorted(ACTIVATIONS))}), got "
                             f"{self.feed_forward_proj!r}")

    @property
    def is_gated_act(self) -> bool:
        return self.feed_forward_proj.startswith("gated-")

    @property
    def activation(self) -> str:
        """The feed-forward activation (transformers' dense_act_fn): gated-gelu is gelu_new."""
        if self.feed_forward_proj == "gated-gelu":
            return "gelu_new"
        return self.feed_forward_proj.split("-")[-1]

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> T5Config:
        """From a transformers config.json dict; the size fields are required. transformers 5
        writes tie_word_embeddings true for every T5 and scale_decoder_outputs false for an
        untied one (flan-t5): that is read as tie_word_embeddings false."""
        values = dict(values)
        if "scale_decoder_outputs" in values:
            values["tie_word_embeddings"] = bool(values["scale_decoder_outputs"])
        return super().from_dict(values, source)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "scale_decoder_outputs": self.tie_word_embeddings}

    @property
    def hidden_size(self) -> int:
        return self.d_model


def relative_position_bucket(relative_position: np.ndarray, bidirectional: bool = True,
                             num_buckets: int = 32, max_distance: int = 128) -> np.ndarray:
    """Bucket of each relative position (key - query), as Mesh TensorFlow's T5: exact buckets
    for small distances, logarithmic ones up to max_distance, one bucket beyond; with
    ``bidirectional`` half the buckets for keys after the query, else later keys share bucket 0."""
    relative_position = np.asarray(relative_position, dtype=np.int64)
    buckets = np.zeros(relative_position.shape, dtype=np.int64)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).astype(np.int64) * num_buckets
        relative_position = np.abs(relative_position)
    else:
        relative_position = -np.minimum(relative_position, 0)
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0): a small one, not used
        scaled = (np.log(relative_position.astype(np.float32) / np.float32(max_exact))
                  / np.float32(math.log(max_distance / max_exact))
                  * np.float32(num_buckets - max_exact))
        large = max_exact + np.where(is_small, 0, scaled).astype(np.int64)
    large = np.minimum(large, num_buckets - 1)
    return buckets + np.where(is_small, relative_position, large)


def _attend(scores: Tensor, v: Tensor, mask, dropout: nn.Dropout, training: bool) -> Tensor:
    """softmax(scores + mask) v; fused (one op, O(N) backward) unless dropout is on."""
    if mask is not None:
        mask = additive_mask(mask, scores.dtype)
    if training and dropout.p > 0:
        weights = F.softmax(scores if mask is None else scores + Tensor(mask), -1)
        return F.matmul(dropout(weights), v)
    return ScoresAttention(mask)(scores, v)


class T5Attention(Module):
    """Multi-head attention without scaling, plus the relative position bias (made here when
    ``has_relative_attention_bias``, else passed in). Self-attention, or cross-attention over
    ``key_value_states`` (the encoder output)."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool,
                 rng=None):
        super().__init__()
        d, inner = config.d_model, config.num_heads * config.d_kv
        self.num_heads, self.head_dim = config.num_heads, config.d_kv
        self.is_decoder = is_decoder
        self.num_buckets = config.relative_attention_num_buckets
        self.max_distance = config.relative_attention_max_distance
        factor = config.initializer_factor
        self.q = nn.Linear(d, inner, bias=False, rng=rng)
        self.k = nn.Linear(d, inner, bias=False, rng=rng)
        self.v = nn.Linear(d, inner, bias=False, rng=rng)
        self.o = nn.Linear(inner, d, bias=False, rng=rng)
        # transformers' initialisation: q by (d * d_kv) ** -0.5, k and v by d ** -0.5, o by inner
        for layer, std in ((self.q, (d * config.d_kv) ** -0.5), (self.k, d ** -0.5),
                           (self.v, d ** -0.5), (self.o, inner ** -0.5)):
            layer.weight.data = get_rng(rng).normal(0.0, factor * std, layer.weight.shape
                                                    ).astype(layer.weight.dtype)
        self.has_relative_attention_bias = has_relative_attention_bias
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.num_heads,
                                                        rng=rng)
        self.dropout = nn.Dropout(config.dropout_rate)

    def compute_bias(self, query_len: int, key_len: int, past_len: int = 0) -> Tensor:
        """(1, heads, query_len, key_len): the bias of each key position for each query at
        past_len, past_len + 1, ..."""
        context = np.arange(query_len)[:, None] + past_len
        memory = np.arange(key_len)[None, :]
        buckets = relative_position_bucket(memory - context, not self.is_decoder,
                                           self.num_buckets, self.max_distance)
        values = self.relative_attention_bias(buckets)  # (query_len, key_len, heads)
        return values.permute(2, 0, 1).reshape(1, self.num_heads, query_len, key_len)

    def _heads(self, t: Tensor) -> Tensor:  # (batch, seq, inner) -> (batch, heads, seq, d_kv)
        return t.reshape(t.shape[0], t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, mask, position_bias=None, key_value_states=None,
                layer_past=None, past_len: int = 0):
        batch, seq_len, _ = x.shape
        q = self._heads(self.q(x))
        if key_value_states is None:  # self-attention: this step's keys after the cached ones
            k, v = append_cache(layer_past, self._heads(self.k(x)), self._heads(self.v(x)))
        elif layer_past is not None:  # cross-attention: the encoder's keys, projected once
            k, v = layer_past
        else:
            k, v = self._heads(self.k(key_value_states)), self._heads(self.v(key_value_states))
        if position_bias is None and self.has_relative_attention_bias:
            position_bias = self.compute_bias(seq_len, k.shape[-2], past_len)
        scores = F.matmul(q, k.transpose(-1, -2))  # (batch, heads, seq, keys): no scaling
        if position_bias is not None:
            scores = scores + position_bias
        out = _attend(scores, v, mask, self.dropout, self.training)
        out = out.transpose(1, 2).reshape(batch, seq_len, self.num_heads * self.head_dim)
        return self.o(out), position_bias, (k, v)


class T5LayerSelfAttention(Module):
    """x + dropout(attn(rms(x))): (batch, seq, d_model) -> the same, the position bias (made
    by the stack's first block, then passed on) and this step's (key, value) cache."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool,
                 rng=None):
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias, is_decoder, rng)
        self.layer_norm = nn.RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x, mask, position_bias=None, layer_past=None, past_len=0):
        out, position_bias, present = self.SelfAttention(self.layer_norm(x), mask, position_bias,
                                                         layer_past=layer_past,
                                                         past_len=past_len)
        return x + self.dropout(out), position_bias, present


class T5LayerCrossAttention(Module):
    """x + dropout(attn(rms(x), encoder states)): the decoder reads the encoder output (batch,
    src, d_model); no position bias. Returns x and the encoder's projected (key, value)."""

    def __init__(self, config: T5Config, rng=None):
        super().__init__()
        self.EncDecAttention = T5Attention(config, False, True, rng)
        self.layer_norm = nn.RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x, encoder_hidden_states, mask, layer_past=None):
        out, _, present = self.EncDecAttention(self.layer_norm(x), mask,
                                               key_value_states=encoder_hidden_states,
                                               layer_past=layer_past)
        return x + self.dropout(out), present


class T5DenseActDense(Module):
    """wo(act(wi(x))): d_model -> d_ff -> d_model."""

    def __init__(self, config: T5Config, rng=None):
        super().__init__()
        self.wi = nn.Linear(config.d_model, config.d_ff, bias=False, rng=rng)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False, rng=rng)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = ACTIVATIONS[config.activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.wo(self.dropout(self.act(self.wi(x))))


class T5DenseGatedActDense(Module):
    """wo(act(wi_0(x)) * wi_1(x)): the gated feed-forward of T5 v1.1."""

    def __init__(self, config: T5Config, rng=None):
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False, rng=rng)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False, rng=rng)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False, rng=rng)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = ACTIVATIONS[config.activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.wo(self.dropout(self.act(self.wi_0(x)) * self.wi_1(x)))


class T5LayerFF(Module):
    """x + dropout(ff(rms(x))), ff the plain or the gated feed-forward."""

    def __init__(self, config: T5Config, rng=None):
        super().__init__()
        self.DenseReluDense = (T5DenseGatedActDense if config.is_gated_act
                               else T5DenseActDense)(config, rng)
        self.layer_norm = nn.RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class T5Block(Module):
    """layer[0] self-attention, (decoder) layer[1] cross-attention, layer[-1] feed-forward."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool, is_decoder: bool,
                 rng=None):
        super().__init__()
        layers = [T5LayerSelfAttention(config, has_relative_attention_bias, is_decoder, rng)]
        if is_decoder:
            layers.append(T5LayerCrossAttention(config, rng))
        layers.append(T5LayerFF(config, rng))
        self.layer = nn.ModuleList(layers)
        self.is_decoder = is_decoder

    def forward(self, x, mask, position_bias, encoder_hidden_states=None, cross_mask=None,
                layer_past=None, past_len=0):
        x, position_bias, present = self.layer[0](
            x, mask, position_bias, None if layer_past is None else layer_past[:2], past_len)
        if self.is_decoder and encoder_hidden_states is not None:
            x, cross = self.layer[1](x, encoder_hidden_states, cross_mask,
                                     None if layer_past is None else layer_past[2:])
            present = present + cross
        return self.layer[-1](x), position_bias, present


class T5Stack(Module):
    """The encoder (bidirectional) or the decoder (causal, with cross-attention): the
    embedding it is given, the blocks, a final T5 LayerNorm."""

    def __init__(self, config: T5Config, embed_tokens: nn.Embedding, is_decoder: bool,
                 rng=None):
        super().__init__()
        self.config, self.is_decoder = config, is_decoder
        self.owner = "T5Stack (decoder)" if is_decoder else "T5Stack (encoder)"
        self.embed_tokens = embed_tokens
        count = config.num_decoder_layers if is_decoder else config.num_layers
        self.block = nn.ModuleList([T5Block(config, i == 0, is_decoder, rng)
                                    for i in range(count)])
        self.final_layer_norm = nn.RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, inputs_embeds=None, past_key_values=None,
                use_cache: bool | None = None):
        """input_ids (batch, seq) or inputs_embeds (batch, seq, d_model); attention_mask (batch,
        [past +] seq) of 1/0; the decoder also takes encoder_hidden_states (batch, src, d_model)
        with encoder_attention_mask (batch, src) and past_key_values (one (self k, self v,
        cross k, cross v) a block). Returns (last_hidden_state, the new cache or None)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{self.owner}: give exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            inputs_embeds = self.embed_tokens(as_ids(self.owner, input_ids,
                                                     self.config.vocab_size))
        batch, seq_len = inputs_embeds.shape[:2]
        cross_mask = None
        if self.is_decoder:
            past_len = past_length(self.owner, past_key_values, len(self.block))
            mask = causal_mask(self.owner, attention_mask, batch, seq_len, past_len)
            if encoder_hidden_states is not None:
                cross_mask = padding_mask(f"{self.owner}: encoder", encoder_attention_mask,
                                          batch, encoder_hidden_states.shape[1])
        else:
            if past_key_values is not None:
                raise ValueError(f"{self.owner}: the encoder takes no past_key_values")
            past_len, mask = 0, padding_mask(self.owner, attention_mask, batch, seq_len)
        x = self.dropout(inputs_embeds)
        position_bias, presents = None, []
        for i, block in enumerate(self.block):
            x, position_bias, present = block(
                x, mask, position_bias, encoder_hidden_states, cross_mask,
                None if past_key_values is None else past_key_values[i], past_len)
            presents.append(present)
        use_cache = self.is_decoder and (self.config.use_cache if use_cache is None
                                         else use_cache)
        return self.dropout(self.final_layer_norm(x)), tuple(presents) if use_cache else None


class _T5Base(PreTrainedModel, Module):
    """The shared embedding, the encoder and (unless encoder_only) the decoder."""

    config_class = T5Config
    encoder_only = False
    ignored_keys = ("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",)

    def __init__(self, config: T5Config, rng=None):
        super().__init__()
        if not isinstance(config, T5Config):
            raise TypeError(f"{type(self).__name__}: expected a T5Config, got "
                            f"{type(config).__name__}")
        rng = get_rng(rng)
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model, rng=rng)
        self.shared.weight.data = self.shared.weight.data * np.asarray(
            config.initializer_factor, self.shared.weight.dtype)
        self.encoder = T5Stack(config, self.shared, False, rng)
        if not self.encoder_only:
            self.decoder = T5Stack(config, self.shared, True, rng)

    def get_encoder(self) -> T5Stack:
        return self.encoder

    def _run(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
             encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache):
        name = type(self).__name__
        if encoder_outputs is None:
            encoded = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds)[0]
        else:
            encoded = encoder_states(name, encoder_outputs)
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(f"{name}: give decoder_input_ids (starting with "
                             f"decoder_start_token_id) or labels")
        hidden, presents = self.decoder(decoder_input_ids, decoder_attention_mask, encoded,
                                        attention_mask, decoder_inputs_embeds, past_key_values,
                                        use_cache)
        return Seq2SeqModelOutput(hidden, presents, encoded)


class T5Model(_T5Base):
    """The T5 body: encoder and decoder over one shared embedding. input_ids (batch, src) and
    decoder_input_ids (batch, tgt) -> last_hidden_state (batch, tgt, d_model)."""

    ignored_prefixes = ("lm_head.",)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache: bool | None = None) -> Seq2SeqModelOutput:
        return self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                         encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds,
                         use_cache)


class T5EncoderModel(_T5Base):
    """The T5 encoder alone (a checkpoint's decoder and lm_head skipped): input_ids (batch,
    src) -> last_hidden_state (batch, src, d_model)."""

    encoder_only = True
    ignored_prefixes = ("decoder.", "lm_head.")

    def forward(self, input_ids=None, attention_mask=None,
                inputs_embeds=None) -> BaseModelOutput:
        return BaseModelOutput(self.encoder(input_ids, attention_mask,
                                            inputs_embeds=inputs_embeds)[0])


class T5ForConditionalGeneration(GenerationMixin, _T5Base):
    """T5 with its language-modelling head. With ``labels`` (batch, tgt) the decoder inputs
    are the labels shifted right after decoder_start_token_id (-100 -> pad) and the loss is
    their mean cross-entropy (-100 ignored)."""

    def __init__(self, config: T5Config, rng=None):
        super().__init__(config, rng)
        self.lm_head = lm_head(config.d_model, self.shared, config.tie_word_embeddings,
                               config.initializer_factor, rng)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                inputs_embeds=None, decoder_inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0) -> Seq2SeqLMOutput:
        """As T5Model, then logits (batch, tgt, vocab) (the last ``logits_to_keep`` positions
        only when > 0) and, with labels, the loss."""
        config = self.config
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = shift_tokens_right(labels, config.pad_token_id,
                                                   config.decoder_start_token_id)
        out = self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                        encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds,
                        use_cache)
        hidden = last_positions(out.last_hidden_state, logits_to_keep)
        if config.tie_word_embeddings:  # the tied embedding's scale (Mesh TensorFlow's)
            hidden = hidden * np.asarray(config.d_model ** -0.5, hidden.dtype)
        logits = self.lm_head(hidden)
        loss = None if labels is None else token_loss(logits, labels, "seq2seq loss")
        return Seq2SeqLMOutput(loss, logits, out.past_key_values, out.encoder_last_hidden_state)
