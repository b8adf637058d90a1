"""BART (Lewis et al. 2019) in Hugging Face ``transformers``' layout: the same module and
parameter names (``model.encoder.layers.0.self_attn.q_proj.weight``...), so a transformers
checkpoint loads unchanged and gives the same logits.

    embeddings: shared(ids) * (sqrt(d_model) if scale_embedding) + embed_positions(pos + 2),
                then layernorm_embedding (learned positions, offset by 2 as fairseq's)
    encoder layer: x = ln(x + attn(x));  x = ln(x + fc2(act(fc1(x))))                (post-LN)
    decoder layer: x = ln(x + causal_attn(x)); x = ln(x + cross_attn(x, enc)); x = ln(x + ff(x))
    attn: softmax(q k^T / sqrt(head_dim)) v, q, k, v, out projections with biases
    logits: lm_head(x) + final_logits_bias, lm_head tied to the shared embedding
"""

from __future__ import annotations

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
    activation,
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
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["BartConfig", "BartModel", "BartForConditionalGeneration", "shift_tokens_right"]

POSITION_OFFSET = 2  # fairseq kept positions 0 and 1 for padding


@dataclass
class BartConfig(PretrainedConfig):
    """transformers' BartConfig fields. forced_bos_token_id is read for generate's default
    (transformers 5 takes it from generation_config.json instead)."""

    model_type: ClassVar[str] = "bart"
    required_fields: ClassVar[tuple[str, ...]] = (
        "vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
        "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim")
    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    encoder_layers: int = 12
    encoder_ffn_dim: int = 4096
    encoder_attention_heads: int = 16
    decoder_layers: int = 12
    decoder_ffn_dim: int = 4096
    decoder_attention_heads: int = 16
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    activation_function: str = "gelu"
    d_model: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False
    use_cache: bool = True
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    is_encoder_decoder: bool = True
    decoder_start_token_id: int | None = 2
    forced_eos_token_id: int | list[int] | None = 2
    forced_bos_token_id: int | None = None
    tie_word_embeddings: bool = True

    def __post_init__(self):
        for heads in (self.encoder_attention_heads, self.decoder_attention_heads):
            if self.d_model % heads:
                raise ValueError(f"BartConfig: d_model ({self.d_model}) must be a multiple of "
                                 f"the attention heads ({heads})")
        activation(self.activation_function, "BartConfig: activation_function")
        if self.encoder_layerdrop or self.decoder_layerdrop:
            raise NotImplementedError("BartConfig: layerdrop (skipping whole layers in "
                                      "training) is not implemented; set it to 0")

    @property
    def hidden_size(self) -> int:
        return self.d_model


class BartAttention(Module):
    """Multi-head attention with biases; self-attention (a cache of past keys appended) or
    cross-attention over ``key_value_states`` (its keys cached once)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, rng=None):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.dropout_p = dropout
        self.k_proj = nn.Linear(d_model, d_model, rng=rng)
        self.v_proj = nn.Linear(d_model, d_model, rng=rng)
        self.q_proj = nn.Linear(d_model, d_model, rng=rng)
        self.out_proj = nn.Linear(d_model, d_model, rng=rng)

    def _heads(self, t: Tensor) -> Tensor:  # (batch, seq, d) -> (batch, heads, seq, head_dim)
        return t.reshape(t.shape[0], t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, mask, key_value_states=None, layer_past=None):
        batch, seq_len, d = x.shape
        q = self._heads(self.q_proj(x))
        if key_value_states is None:
            k, v = append_cache(layer_past, self._heads(self.k_proj(x)),
                                self._heads(self.v_proj(x)))
        elif layer_past is not None:
            k, v = layer_past
        else:
            k = self._heads(self.k_proj(key_value_states))
            v = self._heads(self.v_proj(key_value_states))
        out = F.scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=self.dropout_p,
                                             training=self.training)
        return self.out_proj(out.transpose(1, 2).reshape(batch, seq_len, d)), (k, v)


class _FeedForward(Module):
    """The residual feed-forward half of a layer, post-LN: ln(x + fc2(act(fc1(x))))."""

    def _add_feed_forward(self, config: BartConfig, ffn_dim: int, rng) -> None:
        """fc1 (d_model -> ffn_dim), fc2 (ffn_dim -> d_model), final_layer_norm, dropouts:
        added last, after the attention, so parameters come in transformers' order."""
        self.fc1 = nn.Linear(config.d_model, ffn_dim, rng=rng)
        self.fc2 = nn.Linear(ffn_dim, config.d_model, rng=rng)
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.act = ACTIVATIONS[config.activation_function]
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        hidden = self.activation_dropout(self.act(self.fc1(x)))
        return self.final_layer_norm(x + self.dropout(self.fc2(hidden)))


class BartEncoderLayer(_FeedForward):
    """x = ln(x + attn(x)), then the feed-forward: (batch, src, d_model) -> the same."""

    def __init__(self, config: BartConfig, rng=None):
        super().__init__()
        d = config.d_model
        self.self_attn = BartAttention(d, config.encoder_attention_heads,
                                       config.attention_dropout, rng)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self._add_feed_forward(config, config.encoder_ffn_dim, rng)

    def forward(self, x: Tensor, mask) -> Tensor:
        out, _ = self.self_attn(x, mask)
        return self._feed_forward(self.self_attn_layer_norm(x + self.dropout(out)))


class BartDecoderLayer(_FeedForward):
    """x = ln(x + causal_attn(x)); x = ln(x + cross_attn(x, encoder)); the feed-forward:
    (batch, tgt, d_model) -> the same, and the layer's cache (self k, self v, cross k, cross v)."""

    def __init__(self, config: BartConfig, rng=None):
        super().__init__()
        d, heads = config.d_model, config.decoder_attention_heads
        self.self_attn = BartAttention(d, heads, config.attention_dropout, rng)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = BartAttention(d, heads, config.attention_dropout, rng)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self._add_feed_forward(config, config.decoder_ffn_dim, rng)

    def forward(self, x, mask, encoder_hidden_states=None, cross_mask=None, layer_past=None):
        out, present = self.self_attn(x, mask,
                                      layer_past=None if layer_past is None else layer_past[:2])
        x = self.self_attn_layer_norm(x + self.dropout(out))
        if encoder_hidden_states is not None:
            out, cross = self.encoder_attn(x, cross_mask, encoder_hidden_states,
                                           None if layer_past is None else layer_past[2:])
            x = self.encoder_attn_layer_norm(x + self.dropout(out))
            present = present + cross
        return self._feed_forward(x), present


class _BartStack(Module):
    """Token embedding (shared, scaled), learned positions, layernorm_embedding, the layers."""

    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding, layers, rng=None):
        super().__init__()
        self.config = config
        self.embed_scale = float(np.sqrt(config.d_model)) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = nn.Embedding(config.max_position_embeddings + POSITION_OFFSET,
                                            config.d_model, rng=rng)
        self.embed_positions.weight.data = self.embed_positions.weight.data * np.asarray(
            config.init_std, self.embed_positions.weight.dtype)
        self.layers = nn.ModuleList(layers)
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def _embed(self, name, input_ids, inputs_embeds, past_len):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{name}: give exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            inputs_embeds = self.embed_tokens(as_ids(name, input_ids, self.config.vocab_size))
            if self.embed_scale != 1.0:
                inputs_embeds = inputs_embeds * np.asarray(self.embed_scale, inputs_embeds.dtype)
        seq_len = inputs_embeds.shape[1]
        if past_len + seq_len > self.config.max_position_embeddings:
            raise ValueError(f"{name}: {past_len + seq_len} positions are beyond the "
                             f"max_position_embeddings={self.config.max_position_embeddings} "
                             f"the model was built for")
        positions = np.arange(past_len, past_len + seq_len)[None, :] + POSITION_OFFSET
        x = self.layernorm_embedding(inputs_embeds + self.embed_positions(positions))
        return self.dropout(x)


class BartEncoder(_BartStack):
    """input_ids (batch, src) [attention_mask (batch, src) of 1/0] -> (batch, src, d_model)."""

    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding, rng=None):
        super().__init__(config, embed_tokens,
                         [BartEncoderLayer(config, rng) for _ in range(config.encoder_layers)],
                         rng)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None) -> BaseModelOutput:
        x = self._embed("BartEncoder", input_ids, inputs_embeds, 0)
        mask = padding_mask("BartEncoder", attention_mask, *x.shape[:2])
        for layer in self.layers:
            x = layer(x, mask)
        return BaseModelOutput(x)


class BartDecoder(_BartStack):
    """decoder input_ids (batch, tgt) over encoder_hidden_states (batch, src, d_model) ->
    (last_hidden_state (batch, tgt, d_model), the new cache or None)."""

    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding, rng=None):
        super().__init__(config, embed_tokens,
                         [BartDecoderLayer(config, rng) for _ in range(config.decoder_layers)],
                         rng)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_values=None, inputs_embeds=None,
                use_cache: bool | None = None):
        past_len = past_length("BartDecoder", past_key_values, len(self.layers))
        x = self._embed("BartDecoder", input_ids, inputs_embeds, past_len)
        batch, seq_len = x.shape[:2]
        mask = causal_mask("BartDecoder", attention_mask, batch, seq_len, past_len)
        cross_mask = None if encoder_hidden_states is None else padding_mask(
            "BartDecoder: encoder", encoder_attention_mask, batch, encoder_hidden_states.shape[1])
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, mask, encoder_hidden_states, cross_mask,
                               None if past_key_values is None else past_key_values[i])
            presents.append(present)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        return x, tuple(presents) if use_cache else None


class BartModel(PreTrainedModel, Module):
    """The BART body: encoder and decoder over one shared embedding. Without
    decoder_input_ids the decoder reads input_ids shifted right (denoising pre-training)."""

    config_class = BartConfig
    base_model_prefix = "model"
    ignored_keys = ("encoder.version", "decoder.version")  # fairseq's
    ignored_prefixes = ("lm_head.", "final_logits_bias")

    def __init__(self, config: BartConfig, rng=None):
        super().__init__()
        if not isinstance(config, BartConfig):
            raise TypeError(f"BartModel: expected a BartConfig, got {type(config).__name__}")
        rng = get_rng(rng)
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model,
                                   padding_idx=config.pad_token_id, rng=rng)
        weight = self.shared.weight
        weight.data = weight.data * np.asarray(config.init_std, weight.dtype)
        self.encoder = BartEncoder(config, self.shared, rng)
        self.decoder = BartDecoder(config, self.shared, rng)

    def get_encoder(self) -> BartEncoder:
        return self.encoder

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache: bool | None = None) -> Seq2SeqModelOutput:
        """input_ids (batch, src) with attention_mask (batch, src) of 1/0; decoder_input_ids
        (batch, tgt); past_key_values: one (self k, self v, cross k, cross v) a layer."""
        config = self.config
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ValueError("BartModel: give decoder_input_ids, or input_ids to shift "
                                 "right into them")
            decoder_input_ids = shift_tokens_right(input_ids, config.pad_token_id,
                                                   config.decoder_start_token_id)
        if encoder_outputs is None:
            encoded = self.encoder(input_ids, attention_mask, inputs_embeds).last_hidden_state
        else:
            encoded = encoder_states("BartModel", encoder_outputs)
        hidden, presents = self.decoder(decoder_input_ids, decoder_attention_mask, encoded,
                                        attention_mask, past_key_values, decoder_inputs_embeds,
                                        use_cache)
        return Seq2SeqModelOutput(hidden, presents, encoded)


class BartForConditionalGeneration(GenerationMixin, PreTrainedModel, Module):
    """BART with its language-modelling head: logits = lm_head(x) + final_logits_bias. With
    ``labels`` the decoder reads them shifted right (after decoder_start_token_id, -100 ->
    pad) and the loss is their mean cross-entropy (-100 ignored)."""

    config_class = BartConfig
    base_model_prefix = "model"
    ignored_keys = BartModel.ignored_keys
    optional_keys = ("final_logits_bias",)  # zeros when a checkpoint lacks it

    def __init__(self, config: BartConfig, rng=None):
        super().__init__()
        self.config = config
        self.model = BartModel(config, rng)
        self.lm_head = lm_head(config.d_model, self.model.shared, config.tie_word_embeddings,
                               config.init_std, rng)
        self.register_buffer("final_logits_bias",
                             np.zeros((1, config.vocab_size), self.lm_head.weight.dtype))

    def get_encoder(self) -> BartEncoder:
        return self.model.encoder

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                inputs_embeds=None, decoder_inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0) -> Seq2SeqLMOutput:
        """As BartModel, then logits (batch, tgt, vocab) (the last ``logits_to_keep`` only when
        > 0) and, with labels (batch, tgt), the loss."""
        config = self.config
        if labels is not None:
            use_cache = False  # as transformers
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = shift_tokens_right(labels, config.pad_token_id,
                                                       config.decoder_start_token_id)
        out = self.model(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                         encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds,
                         use_cache)
        hidden = last_positions(out.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden) + self.final_logits_bias
        loss = None if labels is None else token_loss(logits, labels, "seq2seq loss")
        return Seq2SeqLMOutput(loss, logits, out.past_key_values, out.encoder_last_hidden_state)
