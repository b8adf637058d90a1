"""LLaMA (Touvron et al. 2023) in Hugging Face ``transformers``' layout, and the models that
share its shape: Mistral (LLaMA's blocks, sliding-window attention) and Qwen2 (q, k, v biases).
The module and parameter names are transformers' (``model.layers.0.self_attn.q_proj.weight``),
so its checkpoints load unchanged and give the same logits.

    each layer: x = x + attn(rms_norm(x));  x = x + mlp(rms_norm(x))     (pre-norm)
    attn: rotary positions on q and k, causal softmax(q k^T / sqrt(head_dim)) v, with
          num_key_value_heads <= num_attention_heads (grouped-query attention)
    mlp: down_proj(silu(gate_proj(x)) * up_proj(x))                     (SwiGLU)
    logits: lm_head(norm(x))

Rotary scaling (``rope_scaling``) as transformers' ROPE_INIT_FUNCTIONS: linear, llama3, dynamic
(NTK: theta grows with the sequence past max_position_embeddings), yarn (frequencies blended
between interpolated and kept, cos and sin scaled by an attention factor) and longrope (short or
long per-frequency factors, chosen by the length). Mixtral, Phi-3, Gemma and GPT-NeoX build on
the pieces here (``decoder_stack``, ``rotary``, ``apply_rotary``, ``SlidingWindowCache``).
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
    StaticCache,
    StaticCacheLayer,
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
)
from dlpy.nn.module import Module
from dlpy.ops.attention import group_heads
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, is_grad_enabled

__all__ = ["LlamaConfig", "LlamaModel", "LlamaForCausalLM", "MistralConfig",
           "MistralForCausalLM", "Qwen2Config", "Qwen2ForCausalLM", "SlidingWindowCache"]

ROPE_TYPES = ("default", "linear", "llama3", "dynamic", "yarn", "longrope")


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
    rope_scaling: dict | None = None  # {"rope_type": "linear" | "llama3" | ..., "factor": ...}
    partial_rotary_factor: float = 1.0  # the first head_dim * this dimensions are rotated
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
            needed = {"linear": ("factor",), "dynamic": ("factor",), "yarn": ("factor",),
                      "llama3": ("factor", "low_freq_factor", "high_freq_factor"),
                      "longrope": ("short_factor", "long_factor")}.get(kind, ())
            missing = [key for key in needed if key not in self.rope_scaling]
            if missing:
                raise ValueError(f"{type(self).__name__}: rope_scaling of type {kind!r} needs "
                                 f"{', '.join(missing)}, got {self.rope_scaling!r}")
            for key in ("short_factor", "long_factor"):
                if key in self.rope_scaling and len(self.rope_scaling[key]) != \
                        self.rotary_dim // 2:
                    raise ValueError(f"{type(self).__name__}: rope_scaling {key} must hold "
                                     f"rotary_dim / 2 = {self.rotary_dim // 2} numbers, got "
                                     f"{len(self.rope_scaling[key])}")

    @classmethod
    def from_dict(cls, values: dict, source: str = "config"):
        """From a transformers config.json dict; the size fields are required."""
        values = dict(values)
        rope = values.pop("rope_parameters", None)
        if isinstance(rope, dict):  # transformers 5: theta and scaling in one dict
            rope = dict(rope)
            values.setdefault("rope_theta", rope.pop("rope_theta", cls.rope_theta))
            if "partial_rotary_factor" in rope:
                values.setdefault("partial_rotary_factor", rope.pop("partial_rotary_factor"))
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
        partial = values.pop("partial_rotary_factor")
        if partial != 1.0:
            values["rope_parameters"]["partial_rotary_factor"] = partial
        return values

    @property
    def rotary_dim(self) -> int:
        """The rotated dimensions of a head: int(head_dim * partial_rotary_factor)."""
        return int(self.head_dim * self.partial_rotary_factor)

    def original_context(self) -> int:
        """The pretraining context that yarn, longrope and llama3 scale from."""
        scaling = self.rope_scaling or {}
        return scaling.get("original_max_position_embeddings", self.max_position_embeddings)

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

    def inverse_frequencies(self, seq_len: int | None = None) -> np.ndarray:
        """Rotary inverse frequencies (rotary_dim / 2,) float32, theta^(-2i / rotary_dim),
        scaled as rope_scaling says (transformers' ROPE_INIT_FUNCTIONS). ``seq_len``: the
        positions in use (max position + 1), which dynamic and longrope depend on."""
        dim, theta = self.rotary_dim, self.rope_theta
        scaling = self.rope_scaling or {}
        kind = scaling.get("rope_type", "default")
        if kind == "dynamic":  # NTK: a larger theta once past the context
            context, factor = self.max_position_embeddings, scaling["factor"]
            length = max(seq_len or context, context)
            theta = theta * ((factor * length / context) - (factor - 1)) ** (dim / (dim - 2))
        exponent = np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)
        inv_freq = (1.0 / np.power(np.float32(theta), exponent)).astype(np.float32)
        if kind == "linear":  # positions / factor, i.e. frequencies / factor
            inv_freq = inv_freq / np.float32(scaling["factor"])
        elif kind == "llama3":  # long wavelengths / factor, short kept, smooth in between
            factor, low, high = (scaling[k] for k in ("factor", "low_freq_factor",
                                                      "high_freq_factor"))
            context = self.original_context()
            wavelen = 2 * math.pi / inv_freq
            scaled = np.where(wavelen > context / low, inv_freq / factor, inv_freq)
            smooth = (context / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = ~(wavelen < context / high) & ~(wavelen > context / low)
            inv_freq = np.where(medium, smoothed, scaled)
        elif kind == "yarn":  # interpolated (/ factor) where slow, kept where fast, a ramp between
            factor, context = self._yarn_factor(), self.original_context()

            def correction(rotations):  # the dimension that turns ``rotations`` times
                return dim * math.log(context / (rotations * 2 * math.pi)) / (2 * math.log(theta))

            low = correction(scaling.get("beta_fast") or 32)
            high = correction(scaling.get("beta_slow") or 1)
            if scaling.get("truncate", True):
                low, high = math.floor(low), math.ceil(high)
            low, high = max(low, 0), min(high, dim - 1)
            high = high + 0.001 if low == high else high
            ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1)
            kept = (1 - ramp).astype(np.float32)
            inv_freq = (inv_freq / np.float32(factor)) * (1 - kept) + inv_freq * kept
        elif kind == "longrope":  # per-frequency factors, the long ones past the context
            long = seq_len is not None and seq_len > self.original_context()
            factors = np.asarray(scaling["long_factor" if long else "short_factor"], np.float32)
            inv_freq = (1.0 / (factors * np.power(np.float32(theta), exponent))).astype(
                np.float32)
        return inv_freq.astype(np.float32)

    def _yarn_factor(self) -> float:
        scaling = self.rope_scaling
        factor = scaling.get("factor")
        return self.max_position_embeddings / self.original_context() if factor is None \
            else factor

    def attention_scaling(self) -> float:
        """The factor on cos and sin (transformers' attention_scaling): yarn's
        0.1 ln(factor) + 1, longrope's sqrt(1 + ln(factor) / ln(context)), else 1."""
        scaling = self.rope_scaling or {}
        kind = scaling.get("rope_type", "default")
        if scaling.get("attention_factor") is not None and kind in ("yarn", "longrope"):
            return float(scaling["attention_factor"])
        if kind == "yarn":
            def mscale(scale, m=1.0):
                return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

            factor = self._yarn_factor()
            if scaling.get("mscale") and scaling.get("mscale_all_dim"):
                return float(mscale(factor, scaling["mscale"])
                             / mscale(factor, scaling["mscale_all_dim"]))
            return mscale(factor)
        if kind == "longrope":
            context = self.original_context()
            factor = scaling.get("factor") or self.max_position_embeddings / context
            return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(context))
        return 1.0


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
    if not (x.requires_grad and is_grad_enabled()):  # nothing to record: one array, no ops
        return Tensor(np.concatenate([-x.data[..., half:], x.data[..., :half]], axis=-1))
    return F.concat([-x[..., half:], x[..., :half]], axis=-1)


def apply_rotary(x: Tensor, cos: np.ndarray, sin: np.ndarray) -> Tensor:
    """x (batch, heads, seq, head_dim) rotated by position: x cos + rotate_half(x) sin, with
    cos, sin (batch or 1, 1, seq, rotary_dim) (arrays, or Tensors: no conversion in each
    product when they have x's dtype); with rotary_dim < head_dim (partial rotary)
    only the first rotary_dim dimensions turn, the rest pass."""
    if isinstance(cos, Tensor) and cos.dtype != x.dtype:  # constants take x's dtype
        cos, sin = cos.data, sin.data
    rotary_dim = cos.shape[-1]
    if rotary_dim == x.shape[-1]:
        return x * cos + rotate_half(x) * sin
    turned, passed = x[..., :rotary_dim], x[..., rotary_dim:]
    return F.concat([turned * cos + rotate_half(turned) * sin, passed], axis=-1)


def rotary(config, inv_freq, position_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin (batch or 1, 1, seq, rotary_dim) of angles position * inv_freq (an array or
    the model's buffer), float32, times the config's attention_scaling. Dynamic and longrope
    scaling recompute the frequencies for the positions in use (max position + 1), as
    transformers' dynamic_rope_update."""
    position_ids, inv_freq = as_array(position_ids), as_array(inv_freq)
    kind = (config.rope_scaling or {}).get("rope_type", "default")
    if kind in ("dynamic", "longrope") and position_ids.size:
        inv_freq = config.inverse_frequencies(int(position_ids.max()) + 1)
    freqs = position_ids[..., None].astype(np.float32) * inv_freq  # (b, seq, rotary_dim / 2)
    angles = np.concatenate([freqs, freqs], axis=-1)[:, None]
    scale = np.float32(config.attention_scaling())
    if scale == 1:
        return np.cos(angles), np.sin(angles)
    return np.cos(angles) * scale, np.sin(angles) * scale


class SlidingWindowCache:
    """The key/value cache of a model with sliding-window layers. A full-attention layer keeps
    every key and value in a buffer (batch, kv_heads, capacity, head_dim) that doubles when
    full (a step writes its key, not the whole past); a sliding layer keeps a ring buffer of
    its last ``window`` keys and values, (batch, kv_heads, window, head_dim), allocated once:
    position p lives in slot p % window, and a decode step writes its key over the oldest in
    place and attends to the buffer as it lies (attention does not care about the order of
    the keys; the padding mask follows the slots). A prompt of several tokens attends to the
    last ``window - 1`` keys in order followed by its own, then the buffer takes the last
    ``window`` of them. Memory stays bounded however long the generation, and a step copies
    one key, not the window. ``cache[i]``: layer i's (key, value), for a sliding layer its last
    ``window - 1`` keys in order (all the next query can see, as transformers'
    DynamicSlidingWindowLayer); ``get_seq_length()``: the positions seen. For inference: no
    gradient reaches the keys of earlier calls through the buffers."""

    def __init__(self, windows, seen: int = 0):
        self.windows, self.seen = list(windows), int(seen)
        count = len(self.windows)
        self.keys: list[np.ndarray | None] = [None] * count  # a buffer a layer, or a ring
        self.values: list[np.ndarray | None] = [None] * count

    @classmethod
    def from_presents(cls, presents, windows, seen: int) -> SlidingWindowCache:
        """A cache of the (key, value) pairs of ``seen`` positions, one pair a layer."""
        cache = cls(windows)  # each pair holds all ``seen`` positions
        for i, (key, value) in enumerate(presents):
            cache.update(i, key, value)
        cache.seen = seen
        return cache

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, layer: int):
        if self.windows[layer] is None:
            return (Tensor(self.keys[layer][:, :, :self.seen]),
                    Tensor(self.values[layer][:, :, :self.seen]))
        slots = self._slots(layer, min(self.seen, self.windows[layer] - 1), self.seen)
        return Tensor(self.keys[layer][:, :, slots]), Tensor(self.values[layer][:, :, slots])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def get_seq_length(self) -> int:
        return self.seen

    def _slots(self, layer: int, count: int, end: int) -> np.ndarray:
        """The slots of positions end - count .. end - 1 of layer ``layer``, in order."""
        return np.arange(end - count, end) % self.windows[layer]

    def in_place(self, layer: int, seq_len: int) -> bool:
        """Whether a call of seq_len new positions writes layer ``layer``'s ring in place and
        attends to it as it lies: one position, a buffer there, no gradient recorded."""
        return (seq_len == 1 and self.windows[layer] is not None
                and self.keys[layer] is not None and not is_grad_enabled())

    def slot_positions(self, layer: int) -> np.ndarray:
        """The position each slot of a sliding layer's ring holds once the step at position
        ``seen`` is written (the filled slots only)."""
        window, total = self.windows[layer], self.seen + 1
        slots = np.arange(min(total, window))
        return slots + window * ((total - 1 - slots) // window)

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """This call's key and value (batch, kv_heads, seq_len, head_dim) for layer
        ``layer`` -> the keys and values its queries attend to (see the class docstring)."""
        window, steps = self.windows[layer], key.shape[2]
        if window is None:
            return self._append(layer, key, value)
        keys, values = self.keys[layer], self.values[layer]
        if self.in_place(layer, steps):
            slot = self.seen % window
            keys[:, :, slot] = key.data[:, :, 0]
            values[:, :, slot] = value.data[:, :, 0]
            filled = min(self.seen + 1, window)
            return Tensor(keys[:, :, :filled]), Tensor(values[:, :, :filled])
        if keys is not None:  # the window - 1 keys before, in order, then these
            past_key, past_value = self[layer]
            key, value = F.concat([past_key, key], 2), F.concat([past_value, value], 2)
        total, kept = self.seen + steps, min(key.shape[2], window)
        if keys is None or keys.shape[:2] != key.shape[:2]:
            shape = key.shape[:2] + (window,)
            keys = self.keys[layer] = np.zeros(shape + key.shape[3:], key.data.dtype)
            values = self.values[layer] = np.zeros(shape + value.shape[3:], value.data.dtype)
        slots = self._slots(layer, kept, total)
        keys[:, :, slots] = key.data[:, :, -kept:]
        values[:, :, slots] = value.data[:, :, -kept:]
        return key, value

    def _append(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """A full layer: this call's keys written after the cached ones (the buffer doubled
        when full) -> all of them (with a gradient recorded: the cached ones, then these)."""
        start, end = self.seen, self.seen + key.shape[2]
        keys, values = self.keys[layer], self.values[layer]
        if keys is None or keys.shape[2] < end:
            shape = key.shape[:2] + (max(end, 2 * start, 16),)
            grown = (np.zeros(shape + key.shape[3:], key.data.dtype),
                     np.zeros(shape + value.shape[3:], value.data.dtype))
            if keys is not None:
                grown[0][:, :, :start], grown[1][:, :, :start] = keys[:, :, :start], \
                    values[:, :, :start]
            keys, values = self.keys[layer], self.values[layer] = grown
        past_key, past_value = Tensor(keys[:, :, :start]), Tensor(values[:, :, :start])
        keys[:, :, start:end], values[:, :, start:end] = key.data, value.data
        if is_grad_enabled() and (key.requires_grad or value.requires_grad):
            if not start:
                return key, value
            return F.concat([past_key, key], 2), F.concat([past_value, value], 2)
        return Tensor(keys[:, :, :end]), Tensor(values[:, :, :end])

    def reorder(self, order: np.ndarray) -> None:
        """Rows of every layer taken in ``order`` (beam search follows its beams)."""
        for i, keys in enumerate(self.keys):
            if keys is not None:
                self.keys[i], self.values[i] = keys[order], self.values[i][order]


def with_last(hidden_states, last: Tensor):
    """transformers' hidden_states: the stack's (embeddings, each layer's output) with the last
    one replaced by ``last`` (after the final norm); None stays None."""
    return None if hidden_states is None else hidden_states[:-1] + (last,)


def _attention_module(layer) -> Module:
    """The self-attention module of a decoder layer (GPT-NeoX names it ``attention``)."""
    return layer.self_attn if hasattr(layer, "self_attn") else layer.attention


def decoder_stack(model, x: Tensor, attention_mask, position_ids, past_key_values,
                  use_cache: bool, cos_sin=None, output_hidden_states: bool = False,
                  output_attentions: bool = False):
    """The layers of a rotary decoder body over x (batch, seq, hidden): masks (causal,
    padding, each layer's sliding window), rotary cos and sin, the cache in and out. ``model``
    has ``config`` (layer_windows(), use_cache, num_hidden_layers), ``layers`` (each called as
    layer(x, cos, sin, mask, layer_past) -> (x, (key, value)), its attention module keeping
    its weights in ``attn_weights`` when its ``output_attentions`` is set) and ``inv_freq``.

    past_key_values: None, a tuple of (key, value) pairs, a StaticCache (filled in place and
    returned) or a SlidingWindowCache (the same). With sliding layers and no StaticCache the
    cache returned is a SlidingWindowCache (ring buffers of window keys in the sliding layers).
    Returns (x, past_key_values or None, hidden_states, attentions): hidden_states the input
    and each layer's output (with output_hidden_states, else None), attentions each layer's
    weights (batch, heads, seq, keys) as numpy (with output_attentions, else None)."""
    config, name = model.config, type(model).__name__
    batch, seq_len = x.shape[:2]
    windows = config.layer_windows()
    ring = isinstance(past_key_values, SlidingWindowCache)
    if ring:
        past_len = past_key_values.get_seq_length()
        if len(past_key_values) != config.num_hidden_layers:
            raise ValueError(f"{name}: past_key_values must hold one (key, value) pair for each "
                             f"of the {config.num_hidden_layers} layers, got "
                             f"{len(past_key_values)}")
    else:
        past_len = past_length(name, past_key_values, config.num_hidden_layers)
    if position_ids is None:
        position_ids = default_position_ids(seq_len, past_len)
    cos, sin = cos_sin if cos_sin is not None else rotary(config, model.inv_freq, position_ids)
    # as Tensors once, not converted again by each of the layers' products
    cos, sin = (t if isinstance(t, Tensor) else Tensor(t) for t in (cos, sin))
    if attention_mask is not None:
        attention_mask = as_array(attention_mask)
    masks = {}
    use_cache = config.use_cache if use_cache is None else use_cache
    presents, hidden, weights = [], [x] if output_hidden_states else None, []
    for i, (layer, window) in enumerate(zip(model.layers, windows)):
        if ring:  # its update(key, value) is the SlidingWindowCache's
            layer_past = StaticCacheLayer(past_key_values, i)
        else:
            layer_past = None if past_key_values is None else past_key_values[i]
        key = window, past_len
        if ring and past_key_values.in_place(i, seq_len):  # the keys as the ring's slots hold them
            key = window, "ring"
            if key not in masks:
                masks[key] = None
                if attention_mask is not None and attention_mask.ndim == 2:
                    positions = past_key_values.slot_positions(i)
                    hidden_keys = attention_mask[:, positions] == 0
                    masks[key] = hidden_keys[:, None, None, :] if hidden_keys.any() else None
        elif key not in masks:
            kept = min(past_len, window - 1) if ring and window is not None else past_len
            layer_mask = attention_mask  # padding columns of the keys this layer sees
            if attention_mask is not None and attention_mask.ndim == 2 and kept < past_len:
                layer_mask = attention_mask[:, past_len - kept:]
            masks[key] = causal_mask(name, layer_mask, batch, seq_len, kept, window)
        if output_attentions:
            attention = _attention_module(layer)
            attention.output_attentions = True
        x, present = layer(x, cos, sin, masks[key], layer_past)
        if output_attentions:
            weights.append(attention.attn_weights)
            attention.attn_weights, attention.output_attentions = None, False
        if output_hidden_states:
            hidden.append(x)
        presents.append(present)
    attentions = tuple(weights) if output_attentions else None
    hidden = tuple(hidden) if output_hidden_states else None
    if ring:
        past_key_values.seen = past_len + seq_len
    if not use_cache:
        return x, None, hidden, attentions
    if ring:  # written in place
        return x, past_key_values, hidden, attentions
    if isinstance(past_key_values, StaticCache) or all(w is None for w in windows):
        return x, returned_cache(past_key_values, presents, use_cache), hidden, attentions
    return (x, SlidingWindowCache.from_presents(presents, windows, past_len + seq_len), hidden,
            attentions)


class LlamaAttention(Module):
    """Causal self-attention with rotary positions and grouped key/value heads."""

    output_attentions = False  # set by decoder_stack: attend keeps its weights in attn_weights
    attn_weights = None

    def __init__(self, config: LlamaConfig, rng):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = (
            config.num_attention_heads, config.num_key_value_heads, config.head_dim)
        self.attention_dropout = config.attention_dropout
        self.init_projections(config, rng)

    def init_projections(self, config, rng) -> None:
        """q_proj, k_proj, v_proj and o_proj (Phi-3 fuses the first three)."""
        d, std, hd = config.hidden_size, config.initializer_range, config.head_dim
        qkv_bias = config.attention_bias or config.qkv_bias
        self.q_proj = _normal_linear(d, self.num_heads * hd, qkv_bias, std, rng)
        self.k_proj = _normal_linear(d, self.num_kv_heads * hd, qkv_bias, std, rng)
        self.v_proj = _normal_linear(d, self.num_kv_heads * hd, qkv_bias, std, rng)
        self.o_proj = _normal_linear(self.num_heads * hd, d, config.attention_bias, std, rng)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q (batch, seq, heads * head_dim), k and v (batch, seq, kv_heads * head_dim)."""
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: np.ndarray) -> Tensor:
        """softmax(q k^T / sqrt(head_dim), masked) v, (batch, heads, seq, head_dim); the weights
        (batch, heads, seq, keys) kept in attn_weights when output_attentions is set."""
        grouped = self.num_heads != self.num_kv_heads
        keep = self.output_attentions
        if grouped and not (is_grad_enabled() and (q.requires_grad or k.requires_grad
                                                   or v.requires_grad)):
            # nothing to record (generation): the query heads grouped by kv head on the
            # arrays, as enable_gqa does with reshape ops, and back
            q5, k5, v5, mask = group_heads(q.data, k.data, v.data, mask)
            out = F.scaled_dot_product_attention(Tensor(q5), Tensor(k5), Tensor(v5), mask=mask,
                                                 dropout_p=self.attention_dropout,
                                                 training=self.training, return_weights=keep)
            out = self._kept_weights(out, q.shape[:-1] + k.shape[-2:-1])
            return Tensor(out.data.reshape(q.shape[:-1] + out.shape[-1:]))
        out = F.scaled_dot_product_attention(q, k, v, mask=mask,
                                             dropout_p=self.attention_dropout,
                                             training=self.training, enable_gqa=grouped,
                                             return_weights=keep)
        return self._kept_weights(out, q.shape[:-1] + k.shape[-2:-1])

    def _kept_weights(self, out, shape):
        """The output of an attention asked for its weights (when output_attentions) with
        the weights, reshaped to ``shape`` (batch, heads, seq, keys), kept in attn_weights."""
        if not self.output_attentions:
            return out
        out, weights = out
        self.attn_weights = np.asarray(weights).reshape(shape)
        return out

    def norm_heads(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """q and k (batch, heads, seq, head_dim) before the rotation: as they are (Qwen3
        normalises each head)."""
        return q, k

    def forward(self, x: Tensor, cos, sin, mask: np.ndarray | None, layer_past=None):
        q, k, v = self.project(x)
        q, k = self.norm_heads(split_heads(q, self.num_heads), split_heads(k, self.num_kv_heads))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        k, v = append_cache(layer_past, k, split_heads(v, self.num_kv_heads))
        return self.o_proj(merge_heads(self.attend(q, k, v, mask))), (k, v)


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

    attention_class: ClassVar[type] = LlamaAttention
    mlp_class: ClassVar[type] = LlamaMLP
    norm_class: ClassVar[type] = nn.RMSNorm  # Gemma's is x / rms(x) * (1 + weight)

    def __init__(self, config: LlamaConfig, rng):
        super().__init__()
        d, eps = config.hidden_size, config.rms_norm_eps
        self.self_attn = self.attention_class(config, rng)
        self.mlp = self.mlp_class(config, rng)
        self.input_layernorm = self.norm_class(d, eps=eps)
        self.post_attention_layernorm = self.norm_class(d, eps=eps)

    def forward(self, x: Tensor, cos, sin, mask: np.ndarray, layer_past=None):
        attn_out, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, layer_past)
        x = x + attn_out
        return x + self.mlp(self.post_attention_layernorm(x)), present


class LlamaModel(PreTrainedModel, Module):
    """The LLaMA body: token embeddings, num_hidden_layers layers, a final RMSNorm.
    input_ids (batch, seq) -> last_hidden_state (batch, seq, hidden_size)."""

    config_class = LlamaConfig
    base_model_prefix = "model"
    layer_class: ClassVar[type] = LlamaDecoderLayer
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
        self.layers = nn.ModuleList([self.build_layer(config, i, rng)
                                     for i in range(config.num_hidden_layers)])
        self.norm = self.layer_class.norm_class(config.hidden_size, eps=config.rms_norm_eps)
        self.register_buffer("inv_freq", config.inverse_frequencies(), persistent=False)

    def build_layer(self, config: LlamaConfig, index: int, rng) -> Module:
        """Layer ``index`` (Qwen3-MoE's layers differ by index: sparse or dense)."""
        return self.layer_class(config, rng)

    def embed(self, input_ids) -> Tensor:
        """(batch, seq) ids -> (batch, seq, hidden) embeddings (Gemma scales them)."""
        return self.embed_tokens(as_ids(type(self).__name__, input_ids, self.config.vocab_size))

    def rotary(self, position_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos, sin (batch or 1, 1, seq, rotary_dim) of angles position * inv_freq, float32."""
        return rotary(self.config, self.inv_freq, position_ids)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, use_cache: bool | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False
                ) -> BaseModelOutputWithPast:
        """input_ids (batch, seq) or inputs_embeds (batch, seq, hidden); attention_mask (batch,
        past + seq) of 1/0 (0: padding); position_ids (batch or 1, seq), by default counting on
        from the cache; past_key_values: one (key, value) pair a layer, each (batch,
        num_key_value_heads, past, head_dim), a StaticCache (returned filled) or a
        SlidingWindowCache. A sliding_window hides the keys more than that many positions
        back (in the layers layer_windows says), as transformers' mask does; the cache
        returned then keeps only the last window keys of those layers in a ring buffer (a
        SlidingWindowCache; not a StaticCache, which keeps every key).
        output_hidden_states: hidden_states, the embeddings and each layer's output, the last
        one after the final norm (num_hidden_layers + 1 Tensors, transformers'); output_attentions:
        attentions, each layer's weights (batch, heads, seq, past + seq) as numpy."""
        x, cache, hidden, attentions = self.body(
            input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
            output_hidden_states, output_attentions)
        x = self.norm(x)
        return BaseModelOutputWithPast(x, cache, hidden_states=with_last(hidden, x),
                                       attentions=attentions)

    def body(self, input_ids, attention_mask, position_ids, past_key_values, inputs_embeds,
             use_cache, output_hidden_states=False, output_attentions=False):
        """The embeddings through the layers (before the final norm) -> (x, cache,
        hidden_states, attentions), as decoder_stack."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{type(self).__name__}: give exactly one of input_ids and "
                             f"inputs_embeds")
        if input_ids is not None:
            inputs_embeds = self.embed(input_ids)
        return decoder_stack(self, inputs_embeds, attention_mask, position_ids,
                             past_key_values, use_cache, output_hidden_states=output_hidden_states,
                             output_attentions=output_attentions)


class LlamaForCausalLM(GenerationMixin, PreTrainedModel, Module):
    """LLaMA with its language-modelling head lm_head (hidden -> vocab; tied to the input
    embedding with tie_word_embeddings). With ``labels`` the loss is the shifted cross-entropy
    (-100 ignored)."""

    config_class = LlamaConfig
    base_model_class: ClassVar[type] = LlamaModel
    base_model_prefix = "model"
    ignored_keys = LlamaModel.ignored_keys

    def __init__(self, config: LlamaConfig, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.config = config
        self.model = self.base_model_class(config, rng)
        self.lm_head = lm_head(config.hidden_size, self.model.embed_tokens,
                               config.tie_word_embeddings, config.initializer_range, rng)

    @property
    def supports_static_cache(self) -> bool:
        """generate decodes into a StaticCache unless a layer slides: then into a
        SlidingWindowCache, whose sliding layers keep a ring of window keys."""
        return all(window is None for window in self.config.layer_windows())

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0,
                output_hidden_states: bool = False, output_attentions: bool = False
                ) -> CausalLMOutputWithPast:
        """As LlamaModel, then logits (batch, seq, vocab) (only the last ``logits_to_keep``
        positions when it is > 0) and, with labels (batch, seq), the loss."""
        out = self.model(input_ids, attention_mask, position_ids, past_key_values,
                         inputs_embeds, use_cache, output_hidden_states=output_hidden_states,
                         output_attentions=output_attentions)
        logits = self.lm_head(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else causal_lm_loss(logits, labels)
        return CausalLMOutputWithPast(loss, logits, out.past_key_values,
                                      hidden_states=out.hidden_states,
                                      attentions=out.attentions)


class MistralForCausalLM(LlamaForCausalLM):
    """Mistral: LlamaForCausalLM with MistralConfig (sliding-window attention)."""
    config_class = MistralConfig


class Qwen2ForCausalLM(LlamaForCausalLM):
    """Qwen2: LlamaForCausalLM with Qwen2Config (q, k, v biases)."""
    config_class = Qwen2Config
