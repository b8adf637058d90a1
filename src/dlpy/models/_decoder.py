"""What the decoder language models (GPT-2, LLaMA) share: their outputs, the causal mask with
padding and a key/value cache, the shifted language-modelling loss, and loading and saving a
checkpoint directory in Hugging Face ``transformers``' layout."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpy import functional as F
from dlpy.models import _hf
from dlpy.tensor import Tensor

# One layer's cache: (key, value), each (batch, kv_heads, past_len, head_dim)
LayerCache = tuple[Tensor, Tensor]


@dataclass
class BaseModelOutputWithPast:
    """The body's output: last_hidden_state (batch, seq, hidden), past_key_values (one
    (key, value) pair a layer, or None without use_cache)."""
    last_hidden_state: Tensor
    past_key_values: tuple[LayerCache, ...] | None = None

    def __getitem__(self, index):
        return (self.last_hidden_state, self.past_key_values)[index]


@dataclass
class CausalLMOutputWithPast:
    """The language model's output: loss (a scalar, with labels), logits (batch, seq, vocab),
    past_key_values (one (key, value) pair a layer, or None without use_cache)."""
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: tuple[LayerCache, ...] | None = None

    def __getitem__(self, index):
        return tuple(x for x in (self.loss, self.logits, self.past_key_values)
                     if x is not None)[index]


# ------------------------------------------------------------------------ inputs and masks
def as_ids(name: str, ids, vocab_size: int) -> np.ndarray:
    """``ids`` (batch, seq) as an int64 array, every id in [0, vocab_size)."""
    ids = np.asarray(getattr(ids, "data", ids))
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name}: input_ids must be integers, got {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name}: input_ids must be (batch, seq_len), got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{name}: input_ids must lie in [0, vocab_size={vocab_size}), got "
                         f"values from {ids.min()} to {ids.max()}")
    return ids.astype(np.int64, copy=False)


def past_length(name: str, past_key_values, num_layers: int) -> int:
    """The number of cached positions (0 without a cache); checks one pair a layer."""
    if past_key_values is None:
        return 0
    if len(past_key_values) != num_layers:
        raise ValueError(f"{name}: past_key_values must hold one (key, value) pair for each of "
                         f"the {num_layers} layers, got {len(past_key_values)}")
    return past_key_values[0][0].shape[-2]


def default_position_ids(seq_len: int, past_len: int) -> np.ndarray:
    """(1, seq_len): past_len, past_len + 1, ... as transformers' models count without
    position_ids (generate derives them from the attention mask instead)."""
    return np.arange(past_len, past_len + seq_len, dtype=np.int64)[None, :]


def causal_mask(name: str, attention_mask, batch: int, seq_len: int,
                past_len: int) -> np.ndarray:
    """Boolean (batch or 1, 1, seq_len, past_len + seq_len), True where a query may NOT look:
    key j is hidden from query i when j > past_len + i (the future) or attention_mask[:, j] is 0
    (padding). attention_mask (batch, past_len + seq_len) of 1 (token) and 0 (padding)."""
    total = past_len + seq_len
    query = np.arange(past_len, total)[:, None]
    hidden = np.arange(total)[None, :] > query  # (seq_len, total)
    if attention_mask is None:
        return hidden[None, None]
    attention_mask = np.asarray(getattr(attention_mask, "data", attention_mask))
    if attention_mask.shape != (batch, total):
        raise ValueError(f"{name}: attention_mask must be (batch, past + seq_len) = "
                         f"({batch}, {total}), got {attention_mask.shape}")
    padding = (attention_mask == 0)[:, None, None, :]  # (batch, 1, 1, total)
    return hidden[None, None] | padding


def append_cache(layer_past: LayerCache | None, key: Tensor, value: Tensor) -> LayerCache:
    """The layer's cache with this step's key and value (batch, heads, seq, head_dim) appended
    on the sequence axis."""
    if layer_past is None:
        return key, value
    past_key, past_value = (x if isinstance(x, Tensor) else Tensor(np.asarray(x))
                            for x in layer_past)
    return F.concat([past_key, key], axis=2), F.concat([past_value, value], axis=2)


def causal_lm_loss(logits: Tensor, labels, vocab_size: int) -> Tensor:
    """Mean cross-entropy of logits (batch, seq, vocab) at position t against labels[:, t + 1],
    as transformers' ForCausalLMLoss: labels are shifted inside, -100 is ignored."""
    labels = np.asarray(getattr(labels, "data", labels))
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"causal LM loss: labels must be (batch, seq_len) = "
                         f"{logits.shape[:-1]}, got {labels.shape}")
    shifted = np.full(labels.shape, -100, dtype=np.int64)
    shifted[:, :-1] = labels[:, 1:]
    return F.cross_entropy(logits.reshape(-1, vocab_size), shifted.reshape(-1),
                           ignore_index=-100)


# ------------------------------------------------------------------------ configs
def config_from_dict(cls, values: dict, required: tuple[str, ...], model_types: tuple[str, ...],
                     source: str = "config"):
    """The dataclass ``cls`` from a transformers config dict: known fields taken, the rest
    (transformers' bookkeeping) ignored; the ``required`` fields must be present."""
    if not isinstance(values, dict):
        raise TypeError(f"{cls.__name__}.from_dict: expected a dict, got "
                        f"{type(values).__name__}")
    model_type = values.get("model_type")
    if model_type is not None and model_type not in model_types:
        raise ValueError(f"{source}: model_type {model_type!r} is not one {cls.__name__} "
                         f"reads (expected {' or '.join(model_types)})")
    missing = [name for name in required if name not in values]
    if missing:
        raise ValueError(f"{source}: missing required field(s) {', '.join(missing)} for "
                         f"{cls.__name__}")
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in values.items() if key in names})


# ------------------------------------------------------------------------ checkpoints
class PreTrainedMixin:
    """from_pretrained / save_pretrained over a checkpoint directory in transformers' layout.

    A subclass sets ``config_class``, ``body_prefix``, ``is_body``, ``model_type`` and
    ``ignored_keys`` (suffixes of old buffers to drop on load)."""

    config_class: Any = None
    body_prefix = ""  # the body's attribute in the language model: "transformer", "model"
    is_body = False  # True for the body alone (GPT2Model, LlamaModel)
    model_type = ""
    ignored_keys: tuple[str, ...] = ()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, rng=None):
        """The model of the local directory ``path`` (config.json + model.safetensors, its
        shards, or pytorch_model.bin), in eval mode as transformers' from_pretrained."""
        directory = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
        config = cls.config_class.from_dict(_hf.read_config(directory),
                                            source=os.path.join(str(directory), _hf.CONFIG))
        state = _hf.read_state_dict(directory)
        model = cls(config, rng=rng if rng is not None else np.random.default_rng(0))
        model.load_hf_state_dict(state, source=str(directory))
        return model.eval()

    def load_hf_state_dict(self, state: dict, source: str = "state dict") -> None:
        """Load a transformers state dict, whichever model saved it: the body's keys gain or
        lose its prefix (``h.0...`` <-> ``transformer.h.0...``), old buffers (attention bias
        tables, rotary inv_freq) and a tied lm_head are dropped; then every parameter must be
        there, and nothing else."""
        prefix = self.body_prefix + "."
        own = set(dict(self.named_parameters()))
        fixed = {}
        for key, value in state.items():
            if key.endswith(self.ignored_keys) or (self.is_body and key.startswith("lm_head.")):
                continue
            if key not in own and prefix + key in own:
                key = prefix + key
            elif key not in own and key.startswith(prefix) and key[len(prefix):] in own:
                key = key[len(prefix):]
            fixed[key] = np.asarray(getattr(value, "data", value))
        if getattr(self.config, "tie_word_embeddings", False):
            fixed.pop("lm_head.weight", None)
        try:
            self.load_state_dict(fixed, strict=True)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config.json and model.safetensors into the directory ``path``, as transformers
        does (a tied lm_head stored once, as the input embedding)."""
        config = self.config.to_dict()
        config.update(model_type=self.model_type, architectures=[type(self).__name__])
        _hf.write_pretrained(path, config, self.state_dict())
