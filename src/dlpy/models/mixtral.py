"""Mixtral (Jiang et al. 2024): Mistral's blocks with a sparse mixture of experts in place of
the feed-forward, in Hugging Face ``transformers`` 5's layout (experts fused into 3-d
``mlp.experts.gate_up_proj`` / ``mlp.experts.down_proj``; the older per-expert
``block_sparse_moe.experts.N.w1/w2/w3`` checkpoints load too).

    router:  p = softmax(gate(x)) over num_local_experts; the top num_experts_per_tok experts,
             their weights p_e / sum of the chosen p (renormalised)
    experts: y = sum over chosen e of w_e * down_e(silu(gate_e(x)) * up_e(x)), computed per
             expert on the tokens routed to it (gather -> expert MLP -> scatter-add)
    aux loss (Switch Transformer, transformers' load_balancing_loss_func):
             num_experts * sum_e (fraction of top-k choices on e) * (mean router probability of e)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy.models.llama import (
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
    _normal_linear,
    with_last,
)
from dlpy.models.modeling_utils import ACTIVATIONS, ModelOutput, causal_lm_loss, last_positions
from dlpy.nn.module import Module, Parameter
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array

__all__ = ["MixtralConfig", "MixtralModel", "MixtralForCausalLM", "MoeCausalLMOutputWithPast",
           "MoeModelOutputWithPast", "load_balancing_loss"]


@dataclass
class MixtralConfig(LlamaConfig):
    """transformers' MixtralConfig: Mistral's fields and the experts'."""

    model_types: ClassVar[tuple[str, ...]] = ("mixtral",)
    intermediate_size: int = 14336
    num_key_value_heads: int | None = 8
    max_position_embeddings: int = 131072
    rms_norm_eps: float = 1e-5
    rope_theta: float = 1000000.0
    num_experts_per_tok: int = 2  # top-k
    num_local_experts: int = 8
    output_router_logits: bool = False  # forward returns router_logits (and the aux loss)
    router_aux_loss_coef: float = 0.001
    router_jitter_noise: float = 0.0  # training: inputs times U(1 - noise, 1 + noise)
    model_type: str = "mixtral"

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.num_experts_per_tok <= self.num_local_experts:
            raise ValueError(f"MixtralConfig: num_experts_per_tok must lie in [1, "
                             f"num_local_experts={self.num_local_experts}], got "
                             f"{self.num_experts_per_tok}")


class MoeModelOutputWithPast(ModelOutput):
    """last_hidden_state (batch, seq, hidden), past_key_values, hidden_states, attentions
    (with output_hidden_states, output_attentions), router_logits (one (batch * seq,
    num_experts) a sparse layer, with output_router_logits); transformers' order."""
    fields = ("last_hidden_state", "past_key_values", "hidden_states", "attentions",
              "router_logits")


class MoeCausalLMOutputWithPast(ModelOutput):
    """loss (+ router_aux_loss_coef * aux_loss with output_router_logits), aux_loss, logits
    (batch, seq, vocab), past_key_values, hidden_states, attentions, router_logits."""
    fields = ("loss", "aux_loss", "logits", "past_key_values", "hidden_states", "attentions",
              "router_logits")


class MixtralExperts(Module):
    """num_local_experts SwiGLU MLPs in two 3-d parameters: gate_up_proj (experts,
    2 * intermediate, hidden) (gate rows first, then up) and down_proj (experts, hidden,
    intermediate)."""

    def __init__(self, config: MixtralConfig, rng, intermediate_size: int | None = None):
        super().__init__()
        experts, d = config.num_local_experts, config.hidden_size
        inner = config.intermediate_size if intermediate_size is None else intermediate_size
        std = config.initializer_range
        self.intermediate_size = inner
        self.gate_up_proj = Parameter(rng.normal(0.0, std, (experts, 2 * inner, d)).astype(
            np.float32))
        self.down_proj = Parameter(rng.normal(0.0, std, (experts, d, inner)).astype(np.float32))
        self.act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, x: Tensor, top_k_index: np.ndarray, top_k_weights: Tensor) -> Tensor:
        """x (tokens, hidden), top_k_index (tokens, k) experts, top_k_weights (tokens, k) ->
        (tokens, hidden): each expert runs once, on the tokens routed to it."""
        out = Tensor(np.zeros(x.shape, x.dtype))
        inner = self.intermediate_size
        for expert in np.unique(top_k_index):
            token, slot = np.nonzero(top_k_index == expert)
            gate_up = F.linear(x[token], self.gate_up_proj[int(expert)])  # (m, 2 * inner)
            hidden = self.act_fn(gate_up[:, :inner]) * gate_up[:, inner:]
            y = F.linear(hidden, self.down_proj[int(expert)]) * top_k_weights[token, slot][:, None]
            out = F.index_add(out, 0, token, y)
        return out


class MixtralSparseMoeBlock(Module):
    """The router ``gate`` (hidden -> num_experts, no bias) and the experts (of
    ``intermediate_size``, by default the config's). Keeps its last router logits (tokens,
    num_experts) in ``router_logits`` for the model to collect. ``norm_topk_prob``: the top-k
    weights renormalised to sum to one (Mixtral's always; Qwen3-MoE's by its config)."""

    def __init__(self, config: MixtralConfig, rng, intermediate_size: int | None = None,
                 norm_topk_prob: bool = True):
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.jitter_noise = getattr(config, "router_jitter_noise", 0.0)
        self.norm_topk_prob = norm_topk_prob
        self.gate = _normal_linear(config.hidden_size, config.num_local_experts, False,
                                   config.initializer_range, rng)
        self.experts = MixtralExperts(config, rng, intermediate_size)
        self.router_logits = None

    def forward(self, x: Tensor) -> Tensor:
        batch, seq_len, d = x.shape
        if self.training and self.jitter_noise > 0:
            x = x * get_rng(None).uniform(1.0 - self.jitter_noise, 1.0 + self.jitter_noise,
                                          x.shape).astype(x.dtype)
        flat = x.reshape(batch * seq_len, d)
        logits = self.gate(flat)  # (tokens, experts)
        top = F.topk(F.softmax(logits, -1), self.top_k, dim=-1)
        weights = top.values
        if self.norm_topk_prob:
            weights = weights / weights.sum(-1, keepdims=True)  # renormalised over the k
        out = self.experts(flat, np.asarray(top.indices.data), weights)
        self.router_logits = logits
        return out.reshape(batch, seq_len, d)


class MixtralDecoderLayer(LlamaDecoderLayer):
    """x + attn(input_layernorm(x)), then + moe(post_attention_layernorm(.))."""
    mlp_class = MixtralSparseMoeBlock


# an older checkpoint's per-expert names (Mixtral's w1/w3/w2, Qwen-MoE's) -> gate, up, down
_EXPERT_NAMES = {"w1": "gate", "w3": "up", "w2": "down", "gate_proj": "gate",
                 "up_proj": "up", "down_proj": "down"}


def _fused_experts(state: dict) -> dict:
    """An older checkpoint's per-expert weights (``block_sparse_moe.experts.N.w1/w3/w2``,
    ``mlp.experts.N.gate_proj/up_proj/down_proj``) as transformers 5's fused
    ``mlp.experts.gate_up_proj`` / ``down_proj``."""
    state = {key.replace(".block_sparse_moe.", ".mlp."): value for key, value in state.items()}
    fused, grouped = {}, {}
    for key, value in state.items():
        head, sep, tail = key.partition(".mlp.experts.")
        parts = tail.split(".")
        if sep and len(parts) == 3 and parts[0].isdigit() and parts[1] in _EXPERT_NAMES:
            grouped.setdefault(head, {}).setdefault(_EXPERT_NAMES[parts[1]], {})[
                int(parts[0])] = as_array(value)
        else:
            fused[key] = value
    for head, weights in grouped.items():
        stack = {name: np.stack([w[e] for e in sorted(w)]) for name, w in weights.items()}
        fused[f"{head}.mlp.experts.gate_up_proj"] = np.concatenate([stack["gate"],
                                                                    stack["up"]], 1)
        fused[f"{head}.mlp.experts.down_proj"] = stack["down"]
    return fused


def load_balancing_loss(router_logits, num_experts: int, top_k: int,
                        attention_mask=None) -> Tensor:
    """transformers' load_balancing_loss_func: router_logits one (tokens, num_experts) a
    layer; attention_mask (batch, seq) leaves padding out. num_experts * sum_e f_e P_e, f_e the
    share of top-k choices on expert e, P_e its mean router probability, over every layer."""
    mask = None
    if attention_mask is not None:
        mask = np.asarray(as_array(attention_mask), np.float32)
        mask = mask.reshape(-1)
    counts, prob_sum, rows = np.zeros(num_experts, np.float32), None, 0.0
    for logits in router_logits:
        probs = F.softmax(logits, -1)
        chosen = np.argsort(-probs.data, axis=-1, kind="stable")[:, :top_k].reshape(-1)
        if mask is None:
            counts += np.bincount(chosen, minlength=num_experts)
            layer_sum, rows = probs.sum(0), rows + probs.shape[0]
        else:
            counts += np.bincount(chosen, weights=np.repeat(mask, top_k), minlength=num_experts)
            layer_sum, rows = (probs * mask[:, None]).sum(0), rows + float(mask.sum())
        prob_sum = layer_sum if prob_sum is None else prob_sum + layer_sum
    shares = (counts / np.float32(rows)).astype(np.float32)
    return (prob_sum * (shares / np.float32(rows))).sum() * np.float32(num_experts)


class _FusedExpertsLoading:
    def load_hf_state_dict(self, state, source: str = "state dict") -> None:
        """As PreTrainedModel's, the per-expert layout fused first."""
        super().load_hf_state_dict(_fused_experts(state), source)


class MixtralModel(_FusedExpertsLoading, LlamaModel):
    """The Mixtral body: LLaMA's with sparse MoE feed-forwards. With output_router_logits
    it also returns each layer's router logits."""

    config_class = MixtralConfig
    layer_class = MixtralDecoderLayer

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, use_cache: bool | None = None,
                output_router_logits: bool | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> MoeModelOutputWithPast:
        """As LlamaModel; router_logits: a tuple of (batch * seq, num_experts), one a sparse
        layer."""
        x, cache, hidden, attentions = self.body(
            input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
            output_hidden_states, output_attentions)
        if output_router_logits is None:
            output_router_logits = self.config.output_router_logits
        blocks = [layer.mlp for layer in self.layers
                  if isinstance(layer.mlp, MixtralSparseMoeBlock)]
        router = tuple(block.router_logits for block in blocks) if output_router_logits \
            else None
        for block in blocks:  # not kept: they hold the graph
            block.router_logits = None
        x = self.norm(x)
        return MoeModelOutputWithPast(x, cache, with_last(hidden, x), attentions, router)


class MixtralForCausalLM(_FusedExpertsLoading, LlamaForCausalLM):
    """Mixtral with its lm_head. With output_router_logits (argument or config) the output
    has router_logits and aux_loss, and the loss with labels adds router_aux_loss_coef *
    aux_loss (padding left out of the aux loss by attention_mask), as transformers'."""

    config_class = MixtralConfig
    base_model_class = MixtralModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0,
                output_router_logits: bool | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> MoeCausalLMOutputWithPast:
        config = self.config
        if output_router_logits is None:
            output_router_logits = config.output_router_logits
        out = self.model(input_ids, attention_mask, position_ids, past_key_values,
                         inputs_embeds, use_cache, output_router_logits,
                         output_hidden_states=output_hidden_states,
                         output_attentions=output_attentions)
        logits = self.lm_head(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else causal_lm_loss(logits, labels)
        aux_loss = None
        if output_router_logits:
            mask = attention_mask
            if mask is not None:  # the positions of this call (the cache's are not routed)
                seq_len = out.last_hidden_state.shape[1]
                mask = as_array(mask)[:, -seq_len:]
            aux_loss = load_balancing_loss(out.router_logits, config.num_local_experts,
                                           config.num_experts_per_tok, mask)
            if loss is not None:
                loss = loss + aux_loss * np.float32(config.router_aux_loss_coef)
        return MoeCausalLMOutputWithPast(loss, aux_loss, logits, out.past_key_values,
                                         out.hidden_states, out.attentions, out.router_logits)
