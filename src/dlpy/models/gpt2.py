"""GPT-2 (Radford et al. 2019) in Hugging Face ``transformers``' layout: the same module and
parameter names (``transformer.h.0.attn.c_attn.weight``...), so a transformers checkpoint loads
unchanged and gives the same logits.

    embeddings: wte(ids) + wpe(positions)
    each block: x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))        (pre-LN)
    attn: causal softmax(q k^T / sqrt(head_dim)) v over n_head heads, q, k, v from one c_attn
    mlp: c_proj(gelu_tanh(c_fc(x)))
    logits: ln_f(x) @ wte.weight^T                                   (tied lm_head)

GPT-2's projections are "Conv1D": a Linear whose weight is stored (in, out), y = x W + b.
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
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    PretrainedConfig,
    PreTrainedModel,
    activation,
    append_cache,
    as_ids,
    causal_lm_loss,
    causal_mask,
    default_position_ids,
    last_positions,
    lm_head,
    merge_heads,
    past_length,
    returned_cache,
    split_heads,
    split_last,
)
from dlpy.nn.module import Module, Parameter
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, default_dtype, is_grad_enabled

__all__ = ["GPT2Config", "GPT2Model", "GPT2LMHeadModel", "Conv1D"]

@dataclass
class GPT2Config(PretrainedConfig):
    """transformers' GPT2Config fields (the ones that shape the model and its generation)."""

    model_type: ClassVar[str] = "gpt2"
    required_fields: ClassVar[tuple[str, ...]] = ("vocab_size", "n_embd", "n_layer", "n_head")
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # None: 4 * n_embd
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False  # float32 throughout here: nothing to reorder
    use_cache: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    pad_token_id: int | None = None
    tie_word_embeddings: bool = True

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"GPT2Config: n_embd ({self.n_embd}) must be a multiple of n_head "
                             f"({self.n_head})")
        activation(self.activation_function, "GPT2Config: activation_function")

    @property
    def hidden_size(self) -> int:
        return self.n_embd

    @property
    def num_hidden_layers(self) -> int:
        return self.n_layer


class Conv1D(Module):
    """y = x @ weight + bias with weight (in_features, out_features): a Linear stored transposed,
    GPT-2's layout (transformers' Conv1D), so its checkpoints load unchanged."""

    def __init__(self, in_features: int, out_features: int, std: float = 0.02, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.in_features, self.out_features = in_features, out_features
        dtype = default_dtype(None)
        self.weight = Parameter(rng.normal(0.0, std, (in_features, out_features)), dtype=dtype)
        self.bias = Parameter(np.zeros(out_features), dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Conv1D: expected input (..., {self.in_features}), got {x.shape}")
        if is_grad_enabled() or self.weight.data.dtype.itemsize < 4:
            return F.matmul(x, self.weight) + self.bias
        # nothing recorded (generation): one fused op, weight^T a view of the same array (in
        # float32/64 only: half precision would round once where matmul + add round twice)
        return F.linear(x, Tensor(self.weight.data.T), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class GPT2Attention(Module):
    """Causal multi-head self-attention; q, k, v from one c_attn (n_embd -> 3 n_embd). With
    ``output_attentions`` set (by GPT2Model) the weights are kept in attn_weights."""

    output_attentions = False
    attn_weights = None

    def __init__(self, config: GPT2Config, layer_idx: int, rng=None):
        super().__init__()
        d, std = config.n_embd, config.initializer_range
        self.num_heads, self.head_dim = config.n_head, d // config.n_head
        self.scale = self.head_dim ** -0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            self.scale /= layer_idx + 1
        self.attn_pdrop = config.attn_pdrop
        self.c_attn = Conv1D(d, 3 * d, std, rng)
        # GPT-2's residual projections start smaller: std / sqrt(2 n_layer)
        self.c_proj = Conv1D(d, d, std / math.sqrt(2 * config.n_layer), rng)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: Tensor, mask: np.ndarray | None, layer_past=None):
        q, k, v = (split_heads(t, self.num_heads)  # each (batch, heads, seq, head_dim)
                   for t in split_last(self.c_attn(x), x.shape[-1]))
        k, v = append_cache(layer_past, k, v)  # (batch, heads, past + seq, head_dim)
        out = F.scaled_dot_product_attention(q, k, v, mask=mask, scale=self.scale,
                                             dropout_p=self.attn_pdrop, training=self.training,
                                             return_weights=self.output_attentions)
        if self.output_attentions:
            out, self.attn_weights = out
        out = self.c_proj(merge_heads(out))
        return (self.resid_dropout(out) if self.training else out), (k, v)


class GPT2MLP(Module):
    """c_proj(act(c_fc(x))): n_embd -> n_inner -> n_embd."""

    def __init__(self, config: GPT2Config, rng=None):
        super().__init__()
        d, std = config.n_embd, config.initializer_range
        inner = config.n_inner if config.n_inner is not None else 4 * d
        self.c_fc = Conv1D(d, inner, std, rng)
        self.c_proj = Conv1D(inner, d, std / math.sqrt(2 * config.n_layer), rng)
        self.act = ACTIVATIONS[config.activation_function]
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: Tensor) -> Tensor:
        out = self.c_proj(self.act(self.c_fc(x)))
        return self.dropout(out) if self.training else out


class GPT2Block(Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(.)): a pre-LN Transformer block."""

    def __init__(self, config: GPT2Config, layer_idx: int, rng=None):
        super().__init__()
        d, eps = config.n_embd, config.layer_norm_epsilon
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = GPT2Attention(config, layer_idx, rng)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = GPT2MLP(config, rng)

    def forward(self, x: Tensor, mask: np.ndarray | None, layer_past=None):
        attn_out, present = self.attn(self.ln_1(x), mask, layer_past)
        x = x + attn_out
        return x + self.mlp(self.ln_2(x)), present


class GPT2Model(PreTrainedModel, Module):
    """The GPT-2 body: token and position embeddings, n_layer blocks, a final LayerNorm.
    input_ids (batch, seq) -> last_hidden_state (batch, seq, n_embd)."""

    config_class = GPT2Config
    base_model_prefix = "transformer"
    ignored_keys = (".attn.bias", ".attn.masked_bias")  # old checkpoints' causal-mask buffers
    ignored_prefixes = ("lm_head.",)  # a language model's checkpoint loads into the body

    def __init__(self, config: GPT2Config, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.config = config
        std = config.initializer_range
        self.wte = nn.Embedding(config.vocab_size, config.n_embd, rng=rng)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd, rng=rng)
        for embedding in (self.wte, self.wpe):
            embedding.weight.data = embedding.weight.data * np.asarray(std, embedding.weight.dtype)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config, i, rng) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None,
                token_type_ids=None, position_ids=None, inputs_embeds=None,
                use_cache: bool | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> BaseModelOutputWithPast:
        """input_ids (batch, seq) or inputs_embeds (batch, seq, n_embd); attention_mask (batch,
        past + seq) of 1/0 (0: padding); token_type_ids (batch, seq), looked up in wte as
        transformers does; position_ids (batch or 1, seq), by default counting on from the
        cache; past_key_values: one (key, value) pair a layer, each (batch, n_head, past,
        head_dim), or a StaticCache (returned filled). output_hidden_states: hidden_states,
        the embeddings and each block's output, the last after ln_f (n_layer + 1 Tensors);
        output_attentions: attentions, each block's weights (batch, n_head, seq, past + seq)
        as numpy."""
        config = self.config
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("GPT2Model: give exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            ids = as_ids("GPT2Model", input_ids, config.vocab_size)
            inputs_embeds = self.wte(ids)
        batch, seq_len = inputs_embeds.shape[:2]
        past_len = past_length("GPT2Model", past_key_values, config.n_layer)
        if position_ids is None:
            position_ids = default_position_ids(seq_len, past_len)
        position_ids = as_array(position_ids)
        if position_ids.size and position_ids.max() >= config.n_positions:
            raise ValueError(f"GPT2Model: position {position_ids.max()} is beyond the "
                             f"n_positions={config.n_positions} the model was built for "
                             f"(sequence of {past_len + seq_len} tokens)")
        x = inputs_embeds + self.wpe(position_ids)  # (batch, seq, n_embd)
        if token_type_ids is not None:
            x = x + self.wte(as_ids("GPT2Model", token_type_ids, config.vocab_size,
                                    "token_type_ids"))
        if self.training:
            x = self.drop(x)
        mask = causal_mask("GPT2Model", attention_mask, batch, seq_len, past_len)
        use_cache = config.use_cache if use_cache is None else use_cache
        presents, hidden, weights = [], [x] if output_hidden_states else None, []
        for i, block in enumerate(self.h):
            if output_attentions:
                block.attn.output_attentions = True
            x, present = block(x, mask, None if past_key_values is None else past_key_values[i])
            if output_attentions:
                weights.append(block.attn.attn_weights)
                block.attn.attn_weights, block.attn.output_attentions = None, False
            if output_hidden_states:
                hidden.append(x)
            presents.append(present)
        x = self.ln_f(x)
        return BaseModelOutputWithPast(
            x, returned_cache(past_key_values, presents, use_cache),
            hidden_states=tuple(hidden[:-1]) + (x,) if output_hidden_states else None,
            attentions=tuple(weights) if output_attentions else None)


class GPT2LMHeadModel(GenerationMixin, PreTrainedModel, Module):
    """GPT-2 with its language-modelling head: logits = hidden @ wte.weight^T (lm_head tied to
    the input embedding). With ``labels`` the loss is the shifted cross-entropy (-100 ignored)."""

    config_class = GPT2Config
    base_model_prefix = "transformer"
    ignored_keys = GPT2Model.ignored_keys
    supports_static_cache = True

    def __init__(self, config: GPT2Config, rng=None):
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config, rng)
        self.lm_head = lm_head(config.n_embd, self.transformer.wte, config.tie_word_embeddings,
                               config.initializer_range, rng)

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None,
                token_type_ids=None, position_ids=None, inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0,
                output_hidden_states: bool = False, output_attentions: bool = False
                ) -> CausalLMOutputWithPast:
        """As GPT2Model, then logits (batch, seq, vocab) (only the last ``logits_to_keep``
        positions when it is > 0) and, with labels (batch, seq), the loss."""
        out = self.transformer(input_ids, past_key_values, attention_mask, token_type_ids,
                               position_ids, inputs_embeds, use_cache, output_hidden_states,
                               output_attentions)
        logits = self.lm_head(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else causal_lm_loss(logits, labels)
        return CausalLMOutputWithPast(loss, logits, out.past_key_values,
                                      hidden_states=out.hidden_states,
                                      attentions=out.attentions)
