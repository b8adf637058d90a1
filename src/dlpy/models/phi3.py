"""Phi-3 (Abdin et al. 2024) in Hugging Face ``transformers``' layout: LLaMA's blocks with q, k
and v in one projection and the SwiGLU's gate and up in one, partial rotary positions and
LongRoPE scaling.

    attn: qkv_proj(x) split into q (heads * head_dim), k, v (kv_heads * head_dim each);
          rotary on the first head_dim * partial_rotary_factor dimensions
    mlp:  gate, up = gate_up_proj(x) halves;  down_proj(up * silu(gate))
    longrope: inverse frequencies 1 / (factor_i theta^(2i/d)), short_factor within
          original_max_position_embeddings, long_factor past it; cos and sin times
          sqrt(1 + ln(max_position_embeddings / original) / ln(original))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dlpy import nn
from dlpy.models.generation import _cache_length
from dlpy.models.llama import (
    LlamaAttention,
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
    _normal_linear,
)
from dlpy.models.modeling_utils import ACTIVATIONS, split_last
from dlpy.nn.module import Module
from dlpy.tensor import Tensor

__all__ = ["Phi3Config", "Phi3Model", "Phi3ForCausalLM"]


@dataclass
class Phi3Config(LlamaConfig):
    """transformers' Phi3Config. An old ``rope_scaling`` of type "su" or "yarn" is read as
    longrope (as transformers does); original_max_position_embeddings (a field here) is the
    context longrope scales from."""

    model_types: ClassVar[tuple[str, ...]] = ("phi3",)
    vocab_size: int = 32064
    hidden_size: int = 3072
    intermediate_size: int = 8192
    max_position_embeddings: int = 4096
    original_max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5
    resid_pdrop: float = 0.0  # dropout on each block's output before the residual
    embd_pdrop: float = 0.0  # read, unused (as in transformers 5)
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 32000
    pad_token_id: int | None = 32000
    model_type: str = "phi3"

    def __post_init__(self):
        if self.rope_scaling is not None:
            self.rope_scaling = dict(self.rope_scaling)
            kind = self.rope_scaling.get("rope_type", self.rope_scaling.get("type"))
            if kind in ("su", "yarn"):
                self.rope_scaling["rope_type"] = "longrope"
            if self.rope_scaling.get("rope_type", kind) == "longrope":
                self.rope_scaling["original_max_position_embeddings"] = \
                    self.original_max_position_embeddings
        super().__post_init__()


class Phi3Attention(LlamaAttention):
    """LLaMA's attention with q, k, v from one qkv_proj (no biases)."""

    def init_projections(self, config: Phi3Config, rng) -> None:
        d, std, hd = config.hidden_size, config.initializer_range, config.head_dim
        size = (self.num_heads + 2 * self.num_kv_heads) * hd
        self.o_proj = _normal_linear(self.num_heads * hd, d, False, std, rng)
        self.qkv_proj = _normal_linear(d, size, False, std, rng)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        qkv = self.qkv_proj(x)
        queries, keys = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        return split_last(qkv, [queries, keys, keys])


class Phi3MLP(Module):
    """down_proj(up * act(gate)), gate and up the halves of gate_up_proj(x)."""

    def __init__(self, config: Phi3Config, rng):
        super().__init__()
        d, inner, std = config.hidden_size, config.intermediate_size, config.initializer_range
        self.gate_up_proj = _normal_linear(d, 2 * inner, False, std, rng)
        self.down_proj = _normal_linear(inner, d, False, std, rng)
        self.activation_fn = ACTIVATIONS[config.hidden_act]
        self.intermediate_size = inner

    def forward(self, x: Tensor) -> Tensor:
        gate_up = self.gate_up_proj(x)
        inner = self.intermediate_size
        return self.down_proj(gate_up[..., inner:] * self.activation_fn(gate_up[..., :inner]))


class Phi3DecoderLayer(LlamaDecoderLayer):
    """LLaMA's block with dropout (resid_pdrop) on the attention and MLP outputs."""

    attention_class = Phi3Attention
    mlp_class = Phi3MLP

    def __init__(self, config: Phi3Config, rng):
        super().__init__(config, rng)
        self.resid_attn_dropout = nn.Dropout(config.resid_pdrop)
        self.resid_mlp_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: Tensor, cos, sin, mask, layer_past=None):
        attn_out, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, layer_past)
        x = x + self.resid_attn_dropout(attn_out)
        return x + self.resid_mlp_dropout(self.mlp(self.post_attention_layernorm(x))), present


class Phi3Model(LlamaModel):
    """The Phi-3 body: LLaMA's with fused projections."""
    config_class = Phi3Config
    layer_class = Phi3DecoderLayer


class Phi3ForCausalLM(LlamaForCausalLM):
    """Phi-3 with its lm_head. Under longrope, generate recomputes the cache once when the
    sequence first passes original_max_position_embeddings (the long factors then apply to
    every key), as transformers' Phi3ForCausalLM.prepare_inputs_for_generation."""

    config_class = Phi3Config
    base_model_class = Phi3Model

    def _next_logits(self, ids, mask, positions, past, use_cache, encoder=None):
        context = self.config.original_max_position_embeddings
        if (past is not None and (self.config.rope_scaling or {}).get("rope_type") == "longrope"
                and ids.shape[1] >= context + 1 and _cache_length(past) <= context):
            past = None  # keys rotated with the short factors: recompute them all
        return super()._next_logits(ids, mask, positions, past, use_cache, encoder)
