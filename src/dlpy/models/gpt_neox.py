"""GPT-NeoX (Black et al. 2022; Pythia) in Hugging Face ``transformers``' layout.

    each layer, parallel residual (use_parallel_residual):
        x = x + attn(input_layernorm(x)) + mlp(post_attention_layernorm(x))
    or serial: x = x + attn(input_layernorm(x));  x = x + mlp(post_attention_layernorm(x))
    attn: query_key_value(x) viewed (batch, seq, heads, 3 * head_size): each head's q, k, v
          side by side (interleaved per head); rotary on the first head_size * rotary_pct
          dimensions; causal softmax(q k^T / sqrt(head_size)) v; dense
    mlp:  dense_4h_to_h(gelu(dense_h_to_4h(x)));  LayerNorms; logits lm_head(final_layer_norm(x))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.generation import GenerationMixin
from dlpy.models.llama import (
    LlamaConfig,
    _normal_linear,
    apply_rotary,
    decoder_stack,
    with_last,
)
from dlpy.models.modeling_utils import (
    ACTIVATIONS,
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    PreTrainedModel,
    append_cache,
    as_ids,
    causal_lm_loss,
    last_positions,
    lm_head,
    merge_heads,
    split_heads,
    split_last,
)
from dlpy.nn.module import Module
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["GPTNeoXConfig", "GPTNeoXModel", "GPTNeoXForCausalLM"]


@dataclass
class GPTNeoXConfig(LlamaConfig):
    """transformers' GPTNeoXConfig. The older names rotary_pct and rotary_emb_base are read as
    partial_rotary_factor and rope_theta (written back in rope_parameters)."""

    model_types: ClassVar[tuple[str, ...]] = ("gpt_neox",)
    vocab_size: int = 50432
    hidden_size: int = 6144
    num_hidden_layers: int = 44
    num_attention_heads: int = 64
    intermediate_size: int = 24576
    hidden_act: str = "gelu"
    partial_rotary_factor: float = 0.25
    hidden_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    use_parallel_residual: bool = True
    attention_bias: bool = True
    model_type: str = "gpt_neox"

    def __post_init__(self):
        self.num_key_value_heads = self.num_attention_heads  # no grouped k/v heads
        self.head_dim = self.hidden_size // self.num_attention_heads
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"GPTNeoXConfig: hidden_size ({self.hidden_size}) must be a "
                             f"multiple of num_attention_heads ({self.num_attention_heads})")
        super().__post_init__()

    @classmethod
    def from_dict(cls, values: dict, source: str = "config"):
        values = dict(values)
        if "rotary_pct" in values:
            values.setdefault("partial_rotary_factor", values.pop("rotary_pct"))
        if "rotary_emb_base" in values:
            values.setdefault("rope_theta", values.pop("rotary_emb_base"))
        return super().from_dict(values, source)

    def to_dict(self) -> dict:
        values = super().to_dict()  # partial_rotary_factor always written: NeoX's default is 0.25
        values["rope_parameters"]["partial_rotary_factor"] = self.partial_rotary_factor
        return values


class GPTNeoXAttention(Module):
    """Causal self-attention from one query_key_value projection, each head's q, k, v side by
    side; partial rotary positions. With ``output_attentions`` set (by decoder_stack) the
    weights are kept in attn_weights."""

    output_attentions = False
    attn_weights = None

    def __init__(self, config: GPTNeoXConfig, rng):
        super().__init__()
        d, std = config.hidden_size, config.initializer_range
        self.num_heads, self.head_size = config.num_attention_heads, config.head_dim
        self.attention_dropout = config.attention_dropout
        self.query_key_value = _normal_linear(d, 3 * d, config.attention_bias, std, rng)
        self.dense = _normal_linear(d, d, config.attention_bias, std, rng)

    def forward(self, x: Tensor, cos, sin, mask: np.ndarray, layer_past=None):
        # (batch, heads, seq, 3 * head_size): each head's q, k, v side by side
        q, k, v = split_last(split_heads(self.query_key_value(x), self.num_heads), self.head_size)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        k, v = append_cache(layer_past, k, v)
        out = F.scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=self.attention_dropout,
                                             training=self.training,
                                             return_weights=self.output_attentions)
        if self.output_attentions:
            out, self.attn_weights = out
        return self.dense(merge_heads(out)), (k, v)


class GPTNeoXMLP(Module):
    """dense_4h_to_h(act(dense_h_to_4h(x)))."""

    def __init__(self, config: GPTNeoXConfig, rng):
        super().__init__()
        d, inner, std = config.hidden_size, config.intermediate_size, config.initializer_range
        self.dense_h_to_4h = _normal_linear(d, inner, True, std, rng)
        self.dense_4h_to_h = _normal_linear(inner, d, True, std, rng)
        self.act = ACTIVATIONS[config.hidden_act]

    def forward(self, x: Tensor) -> Tensor:
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class GPTNeoXLayer(Module):
    """Parallel (use_parallel_residual) or serial residual block; see the module docstring."""

    def __init__(self, config: GPTNeoXConfig, rng):
        super().__init__()
        d, eps = config.hidden_size, config.layer_norm_eps
        self.use_parallel_residual = config.use_parallel_residual
        self.input_layernorm = nn.LayerNorm(d, eps=eps)
        self.post_attention_layernorm = nn.LayerNorm(d, eps=eps)
        self.post_attention_dropout = nn.Dropout(config.hidden_dropout)
        self.post_mlp_dropout = nn.Dropout(config.hidden_dropout)
        self.attention = GPTNeoXAttention(config, rng)
        self.mlp = GPTNeoXMLP(config, rng)

    def forward(self, x: Tensor, cos, sin, mask: np.ndarray, layer_past=None):
        attn_out, present = self.attention(self.input_layernorm(x), cos, sin, mask, layer_past)
        attn_out = self.post_attention_dropout(attn_out)
        if self.use_parallel_residual:
            mlp_out = self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(x)))
            return mlp_out + attn_out + x, present
        x = attn_out + x
        return self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(x))) + x, present


class GPTNeoXModel(PreTrainedModel, Module):
    """The GPT-NeoX body: embed_in, the layers, final_layer_norm.
    input_ids (batch, seq) -> last_hidden_state (batch, seq, hidden_size)."""

    config_class = GPTNeoXConfig
    base_model_prefix = "gpt_neox"
    ignored_keys = ("rotary_emb.inv_freq", "attention.bias", "attention.masked_bias")
    ignored_prefixes = ("lm_head.", "embed_out.")

    def __init__(self, config: GPTNeoXConfig, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.config = config
        self.embed_in = nn.Embedding(config.vocab_size, config.hidden_size, rng=rng)
        self.embed_in.weight.data = rng.normal(0.0, config.initializer_range,
                                               self.embed_in.weight.shape).astype(np.float32)
        self.emb_dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([GPTNeoXLayer(config, rng)
                                     for _ in range(config.num_hidden_layers)])
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.register_buffer("inv_freq", config.inverse_frequencies(), persistent=False)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, use_cache: bool | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False
                ) -> BaseModelOutputWithPast:
        """As LlamaModel.forward: attention_mask (batch, past + seq) of 1/0, position_ids,
        past_key_values (tuple pairs or a StaticCache), use_cache, output_hidden_states,
        output_attentions."""
        name = type(self).__name__
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{name}: give exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            inputs_embeds = self.embed_in(as_ids(name, input_ids, self.config.vocab_size))
        x, cache, hidden, attentions = decoder_stack(
            self, self.emb_dropout(inputs_embeds), attention_mask, position_ids,
            past_key_values, use_cache, output_hidden_states=output_hidden_states,
            output_attentions=output_attentions)
        x = self.final_layer_norm(x)
        return BaseModelOutputWithPast(x, cache, hidden_states=with_last(hidden, x),
                                       attentions=attentions)


class GPTNeoXForCausalLM(GenerationMixin, PreTrainedModel, Module):
    """GPT-NeoX with its lm_head (older checkpoints' ``embed_out`` is read as lm_head)."""

    config_class = GPTNeoXConfig
    base_model_prefix = "gpt_neox"
    ignored_keys = GPTNeoXModel.ignored_keys
    supports_static_cache = True

    def __init__(self, config: GPTNeoXConfig, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.config = config
        self.gpt_neox = GPTNeoXModel(config, rng)
        self.lm_head = lm_head(config.hidden_size, self.gpt_neox.embed_in,
                               config.tie_word_embeddings, config.initializer_range, rng)

    def load_hf_state_dict(self, state, source: str = "state dict") -> None:
        """As PreTrainedModel's, ``embed_out.weight`` renamed lm_head.weight."""
        state = {("lm_head." + key[len("embed_out."):] if key.startswith("embed_out.")
                  else key): value for key, value in state.items()}
        super().load_hf_state_dict(state, source)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0,
                output_hidden_states: bool = False, output_attentions: bool = False
                ) -> CausalLMOutputWithPast:
        """As GPTNeoXModel, then logits (batch, seq, vocab) and, with labels, the loss."""
        out = self.gpt_neox(input_ids, attention_mask, position_ids, past_key_values,
                            inputs_embeds, use_cache, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions)
        logits = self.lm_head(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else causal_lm_loss(logits, labels)
        return CausalLMOutputWithPast(loss, logits, out.past_key_values,
                                      hidden_states=out.hidden_states,
                                      attentions=out.attentions)
