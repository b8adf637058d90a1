"""Gemma (Gemma Team 2024) and Gemma 2 in Hugging Face ``transformers``' layout: LLaMA's blocks
with these changes.

    Gemma:   RMSNorm x / rms(x) * (1 + weight) (weights start at zero); embeddings times
             sqrt(hidden_size); GeGLU down(gelu_tanh(gate(x)) * up(x)); head_dim its own
             setting (not hidden / heads); lm_head tied to the embedding
    Gemma 2: x = x + post_attention_norm(attn(input_norm(x)));
             x = x + post_feedforward_norm(mlp(pre_feedforward_norm(x)));
             attention scores q.k * query_pre_attn_scalar^-0.5, soft-capped
             cap * tanh(s / cap) (attn_logit_softcapping) before the mask and softmax;
             layers alternate sliding-window (even) and global (odd); final logits soft-capped
             by final_logit_softcapping
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy.models.llama import (
    LlamaAttention,
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
)
from dlpy.models.modeling_utils import CausalLMOutputWithPast, causal_lm_loss
from dlpy.nn.module import Module, Parameter
from dlpy.tensor import Tensor

__all__ = ["GemmaConfig", "GemmaModel", "GemmaForCausalLM", "Gemma2Config", "Gemma2Model",
           "Gemma2ForCausalLM", "GemmaRMSNorm"]


@dataclass
class GemmaConfig(LlamaConfig):
    """transformers' GemmaConfig (hidden_act "gelu" is read as the tanh GELU, as there)."""

    model_types: ClassVar[tuple[str, ...]] = ("gemma",)
    vocab_size: int = 256000
    hidden_size: int = 3072
    intermediate_size: int = 24576
    num_hidden_layers: int = 28
    num_attention_heads: int = 16
    num_key_value_heads: int | None = 16
    head_dim: int | None = 256
    hidden_act: str = "gelu_pytorch_tanh"
    max_position_embeddings: int = 8192
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    bos_token_id: int | None = 2
    tie_word_embeddings: bool = True
    use_bidirectional_attention: bool | None = None
    model_type: str = "gemma"

    def __post_init__(self):
        if self.hidden_act == "gelu":  # Gemma's releases say gelu and mean the tanh form
            self.hidden_act = "gelu_pytorch_tanh"
        if self.use_bidirectional_attention:
            raise ValueError(f"{type(self).__name__}: use_bidirectional_attention is not "
                             f"supported (dlpy's Gemma is causal)")
        super().__post_init__()


@dataclass
class Gemma2Config(GemmaConfig):
    """transformers' Gemma2Config: its MLP's activation is hidden_activation; layer_types by
    default alternate sliding_attention (even layers) and full_attention (odd)."""

    model_types: ClassVar[tuple[str, ...]] = ("gemma2",)
    hidden_size: int = 2304
    intermediate_size: int = 9216
    num_hidden_layers: int = 26
    num_attention_heads: int = 8
    num_key_value_heads: int | None = 4
    hidden_activation: str = "gelu_pytorch_tanh"
    query_pre_attn_scalar: float = 256
    sliding_window: int | None = 4096
    final_logit_softcapping: float | None = 30.0
    attn_logit_softcapping: float | None = 50.0
    model_type: str = "gemma2"

    def __post_init__(self):
        self.hidden_act = self.hidden_activation
        if self.layer_types is None:
            self.layer_types = ["sliding_attention" if (i + 1) % 2 else "full_attention"
                                for i in range(self.num_hidden_layers)]
        super().__post_init__()


class GemmaRMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) * (1 + weight) over the last axis; weight starts at zero."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = Parameter(np.zeros(hidden_size, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, x.shape[-1:], eps=self.eps) * (self.weight + 1.0)


class GemmaDecoderLayer(LlamaDecoderLayer):
    """LLaMA's block with Gemma's norms (the MLP's activation is the config's: GeGLU)."""
    norm_class = GemmaRMSNorm


class GemmaModel(LlamaModel):
    """The Gemma body: LLaMA's, the embeddings times sqrt(hidden_size) (not inputs_embeds)."""

    config_class = GemmaConfig
    layer_class = GemmaDecoderLayer

    def embed(self, input_ids) -> Tensor:
        return super().embed(input_ids) * np.float32(math.sqrt(self.config.hidden_size))


class GemmaForCausalLM(LlamaForCausalLM):
    """Gemma with its lm_head (tied to the embedding by default)."""
    config_class = GemmaConfig
    base_model_class = GemmaModel


class Gemma2Attention(LlamaAttention):
    """Attention scaled by query_pre_attn_scalar^-0.5, scores soft-capped by
    attn_logit_softcapping (transformers' eager attention, written out)."""

    def __init__(self, config: Gemma2Config, rng):
        super().__init__(config, rng)
        self.scaling = float(config.query_pre_attn_scalar) ** -0.5
        self.softcap = config.attn_logit_softcapping

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: np.ndarray) -> Tensor:
        if self.softcap is None:
            out = F.scaled_dot_product_attention(
                q, k, v, mask=mask, dropout_p=self.attention_dropout, training=self.training,
                scale=self.scaling, enable_gqa=self.num_heads != self.num_kv_heads,
                return_weights=self.output_attentions)
            return self._kept_weights(out, q.shape[:-1] + k.shape[-2:-1])
        batch, heads, seq_len, head_dim = q.shape
        groups, keys = heads // self.num_kv_heads, k.shape[2]
        # query head h reads kv head h // groups: (batch, kv_heads, groups, seq, head_dim)
        q = q.reshape(batch, self.num_kv_heads, groups, seq_len, head_dim)
        k = k.reshape(batch, self.num_kv_heads, 1, keys, head_dim)
        v = v.reshape(batch, self.num_kv_heads, 1, keys, v.shape[-1])
        scores = F.matmul(q, k.transpose(3, 4)) * np.float32(self.scaling)
        scores = F.tanh(scores / np.float32(self.softcap)) * np.float32(self.softcap)
        if mask is not None:  # None: a decode step that sees every key
            scores = F.masked_fill(scores, np.asarray(mask)[:, :, None],
                                   np.finfo(np.float32).min)
        weights = F.softmax(scores, -1)
        if self.output_attentions:
            self.attn_weights = weights.data.reshape(batch, heads, seq_len, keys)
        if self.training and self.attention_dropout > 0:
            weights = F.dropout(weights, self.attention_dropout, training=True)
        out = F.matmul(weights, v)  # (batch, kv_heads, groups, seq, head_dim)
        return out.reshape(batch, heads, seq_len, out.shape[-1])


class Gemma2DecoderLayer(GemmaDecoderLayer):
    """x + post_attention_layernorm(attn(input_layernorm(x))), then
    + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(.)))."""

    attention_class = Gemma2Attention

    def __init__(self, config: Gemma2Config, rng):
        super().__init__(config, rng)
        d, eps = config.hidden_size, config.rms_norm_eps
        self.pre_feedforward_layernorm = GemmaRMSNorm(d, eps=eps)
        self.post_feedforward_layernorm = GemmaRMSNorm(d, eps=eps)

    def forward(self, x: Tensor, cos, sin, mask, layer_past=None):
        attn_out, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, layer_past)
        x = x + self.post_attention_layernorm(attn_out)
        mlp_out = self.mlp(self.pre_feedforward_layernorm(x))
        return x + self.post_feedforward_layernorm(mlp_out), present


class Gemma2Model(GemmaModel):
    """The Gemma 2 body: sliding-window layers as layer_types says (their cache a ring of
    sliding_window keys during generation: SlidingWindowCache)."""
    config_class = Gemma2Config
    layer_class = Gemma2DecoderLayer


class Gemma2ForCausalLM(GemmaForCausalLM):
    """Gemma 2 with its lm_head; logits soft-capped cap * tanh(logits / cap) by
    final_logit_softcapping before the loss."""

    config_class = Gemma2Config
    base_model_class = Gemma2Model

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0,
                output_hidden_states: bool = False, output_attentions: bool = False
                ) -> CausalLMOutputWithPast:
        out = super().forward(input_ids, attention_mask, position_ids, past_key_values,
                              inputs_embeds, None, use_cache, logits_to_keep,
                              output_hidden_states=output_hidden_states,
                              output_attentions=output_attentions)
        logits, cap = out.logits, self.config.final_logit_softcapping
        if cap is not None:
            logits = F.tanh(logits / np.float32(cap)) * np.float32(cap)
        loss = None if labels is None else causal_lm_loss(logits, labels)
        return CausalLMOutputWithPast(loss, logits, out.past_key_values,
                                      hidden_states=out.hidden_states, attentions=out.attentions)
