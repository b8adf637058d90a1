"""Qwen3 (Qwen Team 2025) and Qwen3-MoE in Hugging Face ``transformers``' layout: LLaMA's
blocks with these changes.

    Qwen3:     q and k normalised per head before the rotation, q = rms_norm(q_h) * q_norm,
               k = rms_norm(k_h) * k_norm (over head_dim, its own setting); no q/k/v biases
               (all four with attention_bias); sliding-window layers as layer_types says
               (by default those from max_window_layers on, when use_sliding_window)
    Qwen3-MoE: Qwen3's attention (every layer slides when use_sliding_window); layer i's
               feed-forward a sparse MoE (Mixtral's: router softmax, top num_experts_per_tok
               experts of moe_intermediate_size, weights renormalised only with
               norm_topk_prob) when i is not in mlp_only_layers and (i + 1) %
               decoder_sparse_step == 0, else a dense SwiGLU of intermediate_size; router
               logits and the load-balancing loss as Mixtral's
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dlpy import nn
from dlpy.models.llama import (
    LlamaAttention,
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
)
from dlpy.models.mixtral import (
    MixtralForCausalLM,
    MixtralModel,
    MixtralSparseMoeBlock,
)
from dlpy.nn.module import Module
from dlpy.tensor import Tensor

__all__ = ["Qwen3Config", "Qwen3Model", "Qwen3ForCausalLM", "Qwen3MoeConfig", "Qwen3MoeModel",
           "Qwen3MoeForCausalLM"]


@dataclass
class Qwen3Config(LlamaConfig):
    """transformers' Qwen3Config: as there, sliding_window is None unless use_sliding_window,
    and layer_types by default slides the layers from max_window_layers on."""

    model_types: ClassVar[tuple[str, ...]] = ("qwen3",)
    vocab_size: int = 151936
    intermediate_size: int = 22016
    max_position_embeddings: int = 32768
    num_key_value_heads: int | None = 32
    head_dim: int | None = 128
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    use_sliding_window: bool = False
    sliding_window: int | None = 4096
    model_type: str = "qwen3"

    def __post_init__(self):
        if not self.use_sliding_window:
            self.sliding_window = None
        if self.layer_types is None:
            self.layer_types = [
                "sliding_attention" if self.sliding_window is not None
                and i >= self.max_window_layers else "full_attention"
                for i in range(self.num_hidden_layers)]
        super().__post_init__()


@dataclass
class Qwen3MoeConfig(Qwen3Config):
    """transformers' Qwen3MoeConfig: its num_experts is num_local_experts (as config.json
    writes it; a ``num_experts`` there is read too). Every layer slides when
    use_sliding_window (no layer_types, as there)."""

    model_types: ClassVar[tuple[str, ...]] = ("qwen3_moe",)
    hidden_size: int = 2048
    intermediate_size: int = 6144
    num_hidden_layers: int = 24
    num_key_value_heads: int | None = 4
    head_dim: int | None = None  # hidden_size // num_attention_heads
    decoder_sparse_step: int = 1
    moe_intermediate_size: int = 768
    num_experts_per_tok: int = 8
    num_local_experts: int = 128
    norm_topk_prob: bool = False
    output_router_logits: bool = False
    router_aux_loss_coef: float = 0.001
    mlp_only_layers: list[int] | None = None
    model_type: str = "qwen3_moe"

    def __post_init__(self):
        self.mlp_only_layers = list(self.mlp_only_layers or [])
        if not 1 <= self.num_experts_per_tok <= self.num_local_experts:
            raise ValueError(f"Qwen3MoeConfig: num_experts_per_tok must lie in [1, "
                             f"num_local_experts={self.num_local_experts}], got "
                             f"{self.num_experts_per_tok}")
        if self.decoder_sparse_step < 1:
            raise ValueError(f"Qwen3MoeConfig: decoder_sparse_step must be >= 1, got "
                             f"{self.decoder_sparse_step}")
        if not self.use_sliding_window:
            self.sliding_window = None
        LlamaConfig.__post_init__(self)  # no layer_types: every layer slides, or none

    @classmethod
    def _known_fields(cls, values: dict, names: set[str]) -> dict:
        values = dict(values)
        if "num_experts" in values:
            values.setdefault("num_local_experts", values.pop("num_experts"))
        return super()._known_fields(values, names)

    @property
    def num_experts(self) -> int:
        return self.num_local_experts

    def sparse_layer(self, index: int) -> bool:
        """Whether layer ``index``'s feed-forward is the sparse MoE (else a dense MLP)."""
        return (index not in self.mlp_only_layers and self.num_local_experts > 0
                and (index + 1) % self.decoder_sparse_step == 0)


class Qwen3Attention(LlamaAttention):
    """LLaMA's attention with q_norm and k_norm (RMSNorm over head_dim) on each head of q and
    k before the rotation."""

    def __init__(self, config: Qwen3Config, rng):
        super().__init__(config, rng)
        self.q_norm = nn.RMSNorm(config.head_dim, eps=config.rms_norm_eps)
        self.k_norm = nn.RMSNorm(config.head_dim, eps=config.rms_norm_eps)

    def norm_heads(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        return self.q_norm(q), self.k_norm(k)


class Qwen3DecoderLayer(LlamaDecoderLayer):
    """LLaMA's block with Qwen3's attention."""
    attention_class = Qwen3Attention


class Qwen3Model(LlamaModel):
    """The Qwen3 body: LLaMA's with q/k norms."""
    config_class = Qwen3Config
    layer_class = Qwen3DecoderLayer


class Qwen3ForCausalLM(LlamaForCausalLM):
    """Qwen3 with its lm_head (tied with tie_word_embeddings)."""
    config_class = Qwen3Config
    base_model_class = Qwen3Model


class Qwen3MoeSparseMoeBlock(MixtralSparseMoeBlock):
    """Mixtral's MoE block with experts of moe_intermediate_size, the top-k weights
    renormalised only with norm_topk_prob."""

    def __init__(self, config: Qwen3MoeConfig, rng):
        super().__init__(config, rng, config.moe_intermediate_size, config.norm_topk_prob)


class Qwen3MoeDecoderLayer(Qwen3DecoderLayer):
    """Qwen3's block with the sparse MoE feed-forward."""
    mlp_class = Qwen3MoeSparseMoeBlock


class Qwen3MoeModel(MixtralModel):
    """The Qwen3-MoE body: Qwen3's layers, sparse or dense as the config says; router_logits
    one a sparse layer."""

    config_class = Qwen3MoeConfig
    layer_class = Qwen3MoeDecoderLayer

    def build_layer(self, config: Qwen3MoeConfig, index: int, rng) -> Module:
        if config.sparse_layer(index):
            return Qwen3MoeDecoderLayer(config, rng)
        return Qwen3DecoderLayer(config, rng)


class Qwen3MoeForCausalLM(MixtralForCausalLM):
    """Qwen3-MoE with its lm_head; router logits, aux loss and the loss with labels as
    MixtralForCausalLM's."""
    config_class = Qwen3MoeConfig
    base_model_class = Qwen3MoeModel
