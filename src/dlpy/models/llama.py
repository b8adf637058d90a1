"""LLaMA (Touvron et al. 2023) in Hugging Face ``transformers``' layout, and the models that
share its shape: Mistral (LLaMA's blocks; no sliding window here) and Qwen2 (q, k, v biases).
The module and parameter names are transformers' (``model.layers.0.self_attn.q_proj.weight``),
so its checkpoints load unchanged and give the same logits.

    each layer: x = x + attn(rms_norm(x));  x = x + mlp(rms_norm(x))     (pre-norm)
    attn: rotary positions on q and k, causal softmax(q k^T / sqrt(head_dim)) v, with
          num_key_value_heads <= num_attention_heads (grouped-query attention)
    mlp: down_proj(silu(gate_proj(x)) * up_proj(x))                     (SwiGLU)
    logits: lm_head(norm(x))
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
    past_length,
    returned_cache,
)
from dlpy.nn.module import Module
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["LlamaConfig", "LlamaModel", "LlamaForCausalLM", "MistralConfig",
           "MistralForCausalLM", "Qwen2Config", "Qwen2ForCausalLM"]

ROPE_TYPES = ("default", "linear", "llama3")


@dataclass
class LlamaConfig(PretrainedConfig):
    """transformers' LlamaConfig fields. Rotary settings as in either config.json form:
    ``rope_theta`` + ``rope_scaling`` (older) or ``rope_parameters`` (transformers 5).
    ``model_type`` is a field: this one class reads llama, mistral and qwen2 configs."""

    model_types: ClassVar[tuple[str, ...]] = ("llama", "mistral", "qwen2")
    required_fields: ClassVar[tuple[str, ...]] = ("vocab_size", "hidden_size",
                                                  "intermediate_size", "num_hidden_layers",
                                                  "num_attention_heads")
    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # None: num_attention_heads (no grouping)
    head_dim: int | None = None  # None: hidden_size // num_attention_heads
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    initializer_range: float = 0.02
    rms_norm_eps: float = 1e-6
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    tie_word_embeddings: bool = False
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # {"rope_type": "linear" | "llama3", "factor": ...}
    attention_bias: bool = False  # bias on q, k, v and o
    attention_dropout: float = 0.0
    mlp_bias: bool = False
    qkv_bias: bool = False  # bias on q, k, v only (Qwen2)
    sliding_window: int | None = None  # Mistral's, Qwen2's: each query sees this many keys
    use_sliding_window: bool = True  # Qwen2 turns its window off with False
    max_window_layers: int = 28  # Qwen2: layers from this one on slide (without layer_types)
    layer_types: list[str] | None = None  # "full_attention" / "sliding_attention" a layer
    model_type: str = "llama"

    def __post_init__(self):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"{type(self).__name__}: num_attention_heads "
                             f"({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        activation(self.hidden_act, f"{type(self).__name__}: hidden_act")
        if self.sliding_window is not None and (isinstance(self.sliding_window, bool) or not
                                                isinstance(self.sliding_window, int)
                                                or self.sliding_window < 1):
            raise ValueError(f"{type(self).__name__}: sliding_window must be a positive "
                             f"integer or None, got {self.sliding_window!r}")
        if self.layer_types is not None:
            self.layer_types = list(self.layer_types)
            kinds = {"full_attention", "sliding_attention"}
            if len(self.layer_types) != self.num_hidden_layers or not set(
                    self.layer_types) <= kinds:
                raise ValueError(f"{type(self).__name__}: layer_types must name "
                                 f"{sorted(kinds)} for each of the {self.num_hidden_layers} "
                                 f"layers, got {self.layer_types!r}")
        if self.rope_scaling is not None:
            self.rope_scaling = dict(self.rope_scaling)
            kind = self.rope_scaling.setdefault(
                "rope_type", self.rope_scaling.get("type", "default"))
            if kind not in ROPE_TYPES:
                raise ValueError(f"{type(self).__name__}: rope_scaling type {kind!r} is not "
                                 f"supported (one of {', '.join(ROPE_TYPES)})")

    @classmethod
    def from_dict(cls, values: dict, source: str = "config"):
        """From a transformers config.json dict; the size fields are required."""
        values = dict(values)
        rope = values.pop("rope_parameters", None)
        if isinstance(rope, dict):  # transformers 5: theta and scaling in one dict
            rope = dict(rope)
            values.setdefault("rope_theta", rope.pop("rope_theta", cls.rope_theta))
            if rope.get("rope_type", rope.get("type", "default")) != "default":
                values.setdefault("rope_scaling", rope)
        if values.get("model_type") == "qwen2":
            values.setdefault("qkv_bias", True)
        return super().from_dict(values, source)

    def to_dict(self) -> dict:
        """The config.json dict, in transformers 5's form (``rope_parameters``)."""
        values = super().to_dict()
        theta, scaling = values.pop("rope_theta"), values.pop("rope_scaling")
        values["rope_parameters"] = {"rope_type": "default", **(scaling or {}),
                                     "rope_theta": theta}
        return values

    def layer_windows(self) -> list[int | None]:
        """Each layer's sliding window (None: full attention), as transformers: layer_types
        when given, else Qwen2's layers from max_window_layers on, else every layer."""
        window = self.sliding_window if self.use_sliding_window else None
        layers = range(self.num_hidden_layers)
        if window is None:
            return [None for _ in layers]
        if self.layer_types is not None:
            return [window if kind == "sliding_attention" else None for kind in self.layer_types]
        if self.model_type == "qwen2":
            return [window if i >= self.max_window_layers else None for i in layers]
        return [window for _ in layers]

    def inverse_frequencies(self) -> np.ndarray:
        """Rotary inverse frequencies (head_dim / 2,) float32, theta^(-2i / head_dim), scaled
        as rope_scaling says (transformers' modeling_rope_utils)."""
        dim = self.head_dim
        exponent = np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)
        inv_freq = (1.0 / np.power(np.float32(self.rope_theta), exponent)).astype(np.float32)
        scaling = self.rope_scaling or {}
        kind = scaling.get("rope_type", "default")
        if kind == "linear":  # positions / factor, i.e. frequencies / factor
            inv_freq = inv_freq / np.float32(scaling["factor"])
        elif kind == "llama3":  # long wavelengths / factor, short kept, smooth in between
            factor, low, high = (scaling[k] for k in ("factor", "low_freq_factor",
                                                      "high_freq_factor"))
            context = scaling.get("original_max_position_embeddings",
                                  self.max_position_embeddings)
            wavelen = 2 * math.pi / inv_freq
            scaled = np.where(wavelen > context / low, inv_freq / factor, inv_freq)
            smooth = (context / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = ~(wavelen < context / high) & ~(wavelen > context / low)
            inv_freq = np.where(medium, smoothed, scaled)
        return inv_freq.astype(np.float32)


@dataclass
class MistralConfig(LlamaConfig):
    """Mistral's defaults: LLaMA's blocks with 8 key/value heads and a sliding window of 4096
    keys in every layer."""
    intermediate_size: int = 14336
    num_key_value_heads: int | None = 8
    max_position_embeddings: int = 131072
    sliding_window: int | None = 4096
    model_type: str = "mistral"


@dataclass
class Qwen2Config(LlamaConfig):
    """Qwen2's defaults: LLaMA's blocks with biases on q, k and v (sliding window off unless
    use_sliding_window: then in the layers from max_window_layers on, or as layer_types)."""
    vocab_size: int = 151936
    intermediate_size: int = 22016
    max_position_embeddings: int = 32768
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    qkv_bias: bool = True
    use_sliding_window: bool = False
    model_type: str = "qwen2"


def _normal_linear(in_features, out_features, bias, std, rng) -> nn.Linear:
    """A Linear initialised as transformers does: weight N(0, std), bias zeros."""
    layer = nn.Linear(in_features, out_features, bias=bias, rng=np.random.default_rng(0))
    layer.weight.data = rng.normal(0.0, std, layer.weight.shape).astype(layer.weight.dtype)
    if bias:
        layer.bias.data = np.zeros(out_features, layer.bias.dtype)
    return layer


def rotate_half(x: Tensor) -> Tensor:
    """(x1, x2) -> (-x2, x1) over the two halves of the last axis (transformers' convention:
    dimension i pairs with i + head_dim / 2)."""
    half = x.shape[-1] // 2
    return F.concat([-x[..., half:], x[..., :half]], axis=-1)


def apply_rotary(x: Tensor, cos: np.ndarray, sin: np.ndarray) -> Tensor:
    """x (batch, heads, seq, head_dim) rotated by position: x cos + rotate_half(x) sin, with
    cos, sin (batch or 1, 1, seq, head_dim)."""
    return x * cos + rotate_half(x) * sin


class LlamaAttention(Module):
    """Causal self-attention with rotary positions and grouped key/value heads."""

    def __init__(self, config: LlamaConfig, rng):
        super().__init__()
        d, std, hd = config.hidden_size, config.initializer_range, config.head_dim
        self.num_heads, self.num_kv_heads, self.head_dim = (
            config.num_attention_heads, config.num_key_value_heads, hd)
        self.attention_dropout = config.attention_dropout
        qkv_bias = config.attention_bias or config.qkv_bias
        self.q_proj = _normal_linear(d, self.num_heads * hd, qkv_bias, std, rng)
        self.k_proj = _normal_linear(d, self.num_kv_heads * hd, qkv_bias, std, rng)
        self.v_proj = _normal_linear(d, self.num_kv_heads * hd, qkv_bias, std, rng)
        self.o_proj = _normal_linear(self.num_heads * hd, d, config.attention_bias, std, rng)

    def forward(self, x: Tensor, cos, sin, mask: np.ndarray, layer_past=None):
        batch, seq_len, _ = x.shape

        def heads(t, n):  # (batch, seq, n * head_dim) -> (batch, n, seq, head_dim)
            return t.reshape(batch, seq_len, n, self.head_dim).transpose(1, 2)

        q = apply_rotary(heads(self.q_proj(x), self.num_heads), cos, sin)
        k = apply_rotary(heads(self.k_proj(x), self.num_kv_heads), cos, sin)
        k, v = append_cache(layer_past, k, heads(self.v_proj(x), self.num_kv_heads))
        out = F.scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=self.attention_dropout,
                                             training=self.training,
                                             enable_gqa=self.num_heads != self.num_kv_heads)
        out = out.transpose(1, 2).reshape(batch, seq_len, self.num_heads * self.head_dim)
        return self.o_proj(out), (k, v)


class LlamaMLP(Module):
    """down_proj(act(gate_proj(x)) * up_proj(x)): SwiGLU with silu."""

    def __init__(self, config: LlamaConfig, rng):
        super().__init__()
        d, inner, std = config.hidden_size, config.intermediate_size, config.initializer_range
        self.gate_proj = _normal_linear(d, inner, config.mlp_bias, std, rng)
        self.up_proj = _normal_linear(d, inner, config.mlp_bias, std, rng)
        self.down_proj = _normal_linear(inner, d, config.mlp_bias, std, rng)
        self.act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(Module):
    """x + attn(input_layernorm(x)), then + mlp(post_attention_layernorm(.))."""

    def __init__(self, config: LlamaConfig, rng):
        super().__init__()
        d, eps = config.hidden_size, config.rms_norm_eps
        self.self_attn = LlamaAttention(config, rng)
        self.mlp = LlamaMLP(config, rng)
        self.input_layernorm = nn.RMSNorm(d, eps=eps)
        self.post_attention_layernorm = nn.RMSNorm(d, eps=eps)

    def forward(self, x: Tensor, cos, sin, mask: np.ndarray, layer_past=None):
        attn_out, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, layer_past)
        x = x + attn_out
        return x + self.mlp(self.post_attention_layernorm(x)), present


class LlamaModel(PreTrainedModel, Module):
    """The LLaMA body: token embeddings, num_hidden_layers layers, a final RMSNorm.
    input_ids (batch, seq) -> last_hidden_state (batch, seq, hidden_size)."""

    config_class = LlamaConfig
    base_model_prefix = "model"
    ignored_keys = ("rotary_emb.inv_freq",)  # old checkpoints saved the rotary table
    ignored_prefixes = ("lm_head.",)  # a language model's checkpoint loads into the body

    def __init__(self, config: LlamaConfig, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size,
                                         padding_idx=config.pad_token_id, rng=rng)
        self.embed_tokens.weight.data = rng.normal(
            0.0, config.initializer_range, self.embed_tokens.weight.shape).astype(
            self.embed_tokens.weight.dtype)
        self.layers = nn.ModuleList([LlamaDecoderLayer(config, rng)
                                     for _ in range(config.num_hidden_layers)])
        self.norm = nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.register_buffer("inv_freq", config.inverse_frequencies(), persistent=False)

    def rotary(self, position_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos, sin (batch or 1, 1, seq, head_dim) of angles position * inv_freq, float32."""
        freqs = position_ids[..., None].astype(np.float32) * self.inv_freq  # (b, seq, hd/2)
        angles = np.concatenate([freqs, freqs], axis=-1)[:, None]
        return np.cos(angles), np.sin(angles)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, use_cache: bool | None = None
                ) -> BaseModelOutputWithPast:
        """input_ids (batch, seq) or inputs_embeds (batch, seq, hidden); attention_mask (batch,
        past + seq) of 1/0 (0: padding); position_ids (batch or 1, seq), by default counting on
        from the cache; past_key_values: one (key, value) pair a layer, each (batch,
        num_key_value_heads, past, head_dim), or a StaticCache (returned filled). A
        sliding_window hides the keys more than that many positions back (in the layers
        layer_windows says), as transformers' mask does: the cache keeps every key."""
        config = self.config
        name = type(self).__name__
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{name}: give exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            inputs_embeds = self.embed_tokens(as_ids(name, input_ids, config.vocab_size))
        batch, seq_len = inputs_embeds.shape[:2]
        past_len = past_length(name, past_key_values, config.num_hidden_layers)
        if position_ids is None:
            position_ids = default_position_ids(seq_len, past_len)
        cos, sin = self.rotary(np.asarray(getattr(position_ids, "data", position_ids)))
        masks = {window: causal_mask(name, attention_mask, batch, seq_len, past_len, window)
                 for window in set(config.layer_windows())}  # full attention and the window
        use_cache = config.use_cache if use_cache is None else use_cache
        x, presents = inputs_embeds, []
        for i, (layer, window) in enumerate(zip(self.layers, config.layer_windows())):
            x, present = layer(x, cos, sin, masks[window],
                               None if past_key_values is None else past_key_values[i])
            presents.append(present)
        return BaseModelOutputWithPast(self.norm(x), returned_cache(past_key_values, presents,
                                                                    use_cache))


class LlamaForCausalLM(GenerationMixin, PreTrainedModel, Module):
    """LLaMA with its language-modelling head lm_head (hidden -> vocab; tied to the input
    embedding with tie_word_embeddings). With ``labels`` the loss is the shifted cross-entropy
    (-100 ignored)."""

    config_class = LlamaConfig
    base_model_prefix = "model"
    ignored_keys = LlamaModel.ignored_keys
    supports_static_cache = True

    def __init__(self, config: LlamaConfig, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.config = config
        self.model = LlamaModel(config, rng)
        self.lm_head = lm_head(config.hidden_size, self.model.embed_tokens,
                               config.tie_word_embeddings, config.initializer_range, rng)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0
                ) -> CausalLMOutputWithPast:
        """As LlamaModel, then logits (batch, seq, vocab) (only the last ``logits_to_keep``
        positions when it is > 0) and, with labels (batch, seq), the loss."""
        out = self.model(input_ids, attention_mask, position_ids, past_key_values,
                         inputs_embeds, use_cache)
        logits = self.lm_head(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else causal_lm_loss(logits, labels)
        return CausalLMOutputWithPast(loss, logits, out.past_key_values)


class MistralForCausalLM(LlamaForCausalLM):
    """Mistral: LlamaForCausalLM with MistralConfig (sliding-window attention)."""
    config_class = MistralConfig


class Qwen2ForCausalLM(LlamaForCausalLM):
    """Qwen2: LlamaForCausalLM with Qwen2Config (q, k, v biases)."""
    config_class = Qwen2Config
