"""What every model in ``dlpy.models`` shares, in the roles transformers gives them:

    PretrainedConfig   config.json <-> a dataclass: required fields, model_type, type checks
    ModelOutput        outputs by attribute, key or position (None fields left out)
    integer_input ...  input checks: ids, masks, labels, with errors that name the value
    token_loss         cross-entropy over tokens, -100 ignored (masked LM, seq2seq, causal LM)
    PreTrainedModel    from_pretrained / save_pretrained on a transformers checkpoint directory

Masks come in the two forms the attention functions take: boolean, True where a query may
NOT look (``padding_mask``, ``causal_mask``), or additive, 0 or the dtype's most negative
number (``extended_attention_mask``, BERT's). A key/value cache holds one pair a layer, each
(batch, kv_heads, past_len, head_dim).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy._caller import user_stacklevel
from dlpy.models import _hf
from dlpy.nn.module import state_dict_once
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, is_floating_dtype, is_grad_enabled

__all__ = [
    "ACTIVATIONS", "BaseModelOutput", "BaseModelOutputWithPast", "CausalLMOutputWithPast",
    "ModelOutput", "PreTrainedModel", "PretrainedConfig", "Seq2SeqLMOutput",
    "Seq2SeqModelOutput", "StaticCache", "activation", "as_ids", "causal_mask", "check_ids",
    "extended_attention_mask", "integer_input", "merge_heads", "padding_mask",
    "shift_tokens_right", "split_heads", "split_last", "token_loss",
]


# ------------------------------------------------------------------------------ activations
ACTIVATIONS = {  # transformers' ACT2FN names
    "gelu": F.gelu,  # the exact erf form
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": F.tanh,
    "quick_gelu": lambda x: quick_gelu(x),
}


def quick_gelu(x: Tensor) -> Tensor:
    """x * sigmoid(1.702 x): the GELU approximation OpenAI's CLIP was trained with."""
    return x * F.sigmoid(x * np.asarray(1.702, x.dtype))


def activation(name: str, owner: str):
    """The function transformers' ACT2FN gives ``name``, or an error listing the known ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown activation {name!r}; expected one of "
                         f"{sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


# ----------------------------------------------------------------------------------- configs
@dataclasses.dataclass
class PretrainedConfig:
    """The base of every config: a dataclass with transformers' field names and defaults.

    A subclass sets ``model_type`` (what config.json says; LLaMA's config keeps it as a field,
    since one class reads llama, mistral and qwen2), ``model_types`` (the values from_dict
    accepts, default ``(model_type,)``) and ``required_fields`` (those config.json must hold).
    """

    model_type: ClassVar[str] = ""
    model_types: ClassVar[tuple[str, ...]] = ()
    required_fields: ClassVar[tuple[str, ...]] = ()
    positive_fields: ClassVar[tuple[str, ...]] = ()  # sizes that must be >= 1 (checked)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config"):
        """A config from transformers' ``config.json`` dict: known fields taken, the rest
        (architectures, transformers_version...) ignored, as transformers keeps them as
        attributes nobody reads. ``source`` names the file in errors."""
        if not isinstance(values, dict):
            raise TypeError(f"{source}: expected a dict, got {type(values).__name__}")
        accepted = cls.model_types or (cls.model_type,)
        model_type = values.get("model_type")
        if model_type is not None and model_type not in accepted:
            raise ValueError(f"{source}: model_type {model_type!r}, but {cls.__name__} reads "
                             f"{' or '.join(map(repr, accepted))} configs")
        missing = [name for name in cls.required_fields if name not in values]
        if missing:
            raise ValueError(f"{source}: missing required field(s) {', '.join(missing)} for "
                             f"{cls.__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**cls._known_fields(values, names))._checked(source)

    @classmethod
    def _known_fields(cls, values: dict, names: set[str]) -> dict:
        """The constructor's arguments from config.json's dict (a subclass renames here)."""
        return {key: value for key, value in values.items() if key in names}

    def to_dict(self) -> dict:
        """transformers' ``config.json`` fields, model_type included."""
        return {**dataclasses.asdict(self), "model_type": self.model_type}

    def _checked(self, source: str = "config"):
        """Self, once every ``int`` and ``float`` field holds one and the positive_fields are
        >= 1 (a subclass checks more)."""
        for field in dataclasses.fields(self):
            value, kind = getattr(self, field.name), field.type
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{source}: {field.name} must be an integer, got {value!r}")
            if kind == "float" and (isinstance(value, bool)
                                    or not isinstance(value, (int, float))):
                raise ValueError(f"{source}: {field.name} must be a number, got {value!r}")
        for name in self.positive_fields:
            if getattr(self, name) < 1:
                raise ValueError(f"{source}: {name} must be >= 1, got {getattr(self, name)}")
        return self


# ----------------------------------------------------------------------------------- outputs
class ModelOutput(dict):
    """A model's outputs by name (``out.logits``, ``out["logits"]``) or by position
    (``out[0]``), as transformers' ModelOutput: the fields that are None are left out of the
    dict and the positions but read as None by attribute (``out.loss`` without labels).

    A subclass lists its ``fields`` in order, so it can also be built positionally."""

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args, **kwargs):
        if len(args) > len(self.fields):
            raise TypeError(f"{type(self).__name__}: expected at most {len(self.fields)} "
                            f"positional fields {self.fields}, got {len(args)}")
        values = {name: None for name in self.fields}
        values.update(zip(self.fields, args))
        values.update(kwargs)
        super().__init__((name, value) for name, value in values.items() if value is not None)
        self.__dict__.update(values)

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def __setattr__(self, name, value):  # out.logits = ... updates out["logits"] too
        super().__setattr__(name, value)
        if value is None:
            self.pop(name, None)
        else:
            super().__setitem__(name, value)

    def to_tuple(self) -> tuple:
        return tuple(self.values())


class BaseModelOutput(ModelOutput):
    """An encoder's output: last_hidden_state (batch, seq_len, hidden)."""
    fields = ("last_hidden_state", "hidden_states", "attentions")


class BaseModelOutputWithPast(ModelOutput):
    """A decoder body's output: last_hidden_state (batch, seq_len, hidden), past_key_values
    (one (key, value) pair a layer, or None without use_cache)."""
    fields = ("last_hidden_state", "past_key_values")


class CausalLMOutputWithPast(ModelOutput):
    """A language model's output: loss (a scalar, with labels), logits (batch, seq_len,
    vocab), past_key_values."""
    fields = ("loss", "logits", "past_key_values")


class Seq2SeqModelOutput(ModelOutput):
    """An encoder-decoder body's output: the decoder's last_hidden_state (batch, tgt_len,
    d_model), past_key_values (one (self k, self v, cross k, cross v) a decoder layer),
    encoder_last_hidden_state (batch, src_len, d_model)."""
    fields = ("last_hidden_state", "past_key_values", "encoder_last_hidden_state")


class Seq2SeqLMOutput(ModelOutput):
    """An encoder-decoder language model's output: loss (with labels), logits (batch, tgt_len,
    vocab), past_key_values, encoder_last_hidden_state (batch, src_len, d_model)."""
    fields = ("loss", "logits", "past_key_values", "encoder_last_hidden_state")


# -------------------------------------------------------------------------- inputs and masks
def integer_input(owner: str, name: str, value, shape=None,
                  dims: str = "(batch, seq_len)") -> np.ndarray | None:
    """``value`` (a list, numpy array or Tensor of integers) as int64 of shape ``dims``
    (``shape`` when given); None stays None."""
    if value is None:
        return None
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.dtype.kind not in "iub":
        raise TypeError(f"{owner}: {name} must hold integers, got {array.dtype}")
    if array.ndim != 2 or (shape is not None and array.shape != tuple(shape)):
        expected = f"{dims} = {tuple(shape)}" if shape is not None else dims
        raise ValueError(f"{owner}: {name} must be {expected}, got shape {array.shape}")
    return array.astype(np.int64, copy=False)


def check_ids(owner: str, name: str, ids: np.ndarray, size: int, what: str) -> None:
    """Every id in [0, size), or an error naming the first bad one and the config field."""
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"{owner}: {name} must lie in [0, {what}={size}), got {bad}")


def as_ids(owner: str, ids, vocab_size: int, name: str = "input_ids") -> np.ndarray:
    """``ids`` (batch, seq_len) as int64, every id in [0, vocab_size)."""
    ids = integer_input(owner, name, ids)
    check_ids(owner, name, ids, vocab_size, "vocab_size")
    return ids


def attention_mask_input(owner: str, attention_mask, shape,
                         dims: str = "(batch, seq_len)") -> np.ndarray:
    """attention_mask of 1 (token) and 0 (padding), int64 of ``shape``; floats 0.0 / 1.0 and
    booleans are taken, as transformers takes them."""
    mask = as_array(attention_mask)
    if mask.dtype.kind == "f" and np.isin(mask, (0, 1)).all():
        mask = mask.astype(np.int64)
    mask = integer_input(owner, "attention_mask", mask, shape, dims)
    if mask.size and (mask.min() < 0 or mask.max() > 1):
        raise ValueError(f"{owner}: attention_mask must hold 0 (padding) and 1 (token), got "
                         f"values from {mask.min()} to {mask.max()}")
    return mask


def padding_mask(owner: str, attention_mask, batch: int, seq_len: int) -> np.ndarray | None:
    """Boolean (batch, 1, 1, seq_len), True at padding keys (attention_mask 0), or None."""
    if attention_mask is None:
        return None
    mask = attention_mask_input(owner, attention_mask, (batch, seq_len))
    return (mask == 0)[:, None, None, :]


def causal_mask(owner: str, attention_mask, batch: int, seq_len: int,
                past_len: int, sliding_window: int | None = None) -> np.ndarray | None:
    """Boolean (batch or 1, 1, seq_len, past_len + seq_len), True where a query may NOT look:
    key j is hidden from query i when j > past_len + i (the future), attention_mask[:, j] is 0
    (padding) or, with a sliding_window, j <= past_len + i - sliding_window (each query sees
    its last sliding_window keys, itself included, as transformers' sliding_window_overlay).
    attention_mask (batch, past_len + seq_len) of 1 (token) and 0 (padding). None when
    nothing is hidden: one query (a decode step) without padding, inside its window."""
    total = past_len + seq_len
    if attention_mask is None and seq_len == 1 and (sliding_window is None
                                                    or total <= sliding_window):
        return None  # one query, the last position, sees every key: nothing to hide
    query = np.arange(past_len, total)[:, None]
    future = np.arange(total)[None, :] > query  # (seq_len, total)
    if sliding_window is not None:
        future |= np.arange(total)[None, :] <= query - sliding_window
    if attention_mask is None:
        return future[None, None]
    mask = attention_mask_input(owner, attention_mask, (batch, total),
                                "(batch, past + seq_len)")
    return future[None, None] | (mask == 0)[:, None, None, :]


def extended_attention_mask(owner: str, attention_mask, shape, dtype) -> np.ndarray | None:
    """transformers' additive padding mask: attention_mask (batch, seq_len) of 1 (token) and 0
    (padding) -> (batch, 1, 1, seq_len), 0 where attended and the dtype's most negative number
    where not (a fully padded row gets uniform weights, as there, never NaN)."""
    if attention_mask is None:
        return None
    mask = attention_mask_input(owner, attention_mask, shape)
    return ((1 - mask[:, None, None, :]) * np.finfo(dtype).min).astype(dtype)


# ------------------------------------------------------------------------- attention heads
# Splitting heads apart and back only moves axes. When no gradient is recorded (generation runs
# under no_grad) the moves are done on the numpy arrays, each a view wrapped as a Tensor with no
# op behind it: the same values at a fraction of an op's Python cost, which is what a batch-1
# decode step is made of.
def _records(t: Tensor) -> bool:
    return t.requires_grad and is_grad_enabled()


def split_heads(t: Tensor, num_heads: int) -> Tensor:
    """(batch, seq, num_heads * head_dim) -> (batch, num_heads, seq, head_dim)."""
    batch, seq_len, width = t.shape
    shape = (batch, seq_len, num_heads, width // num_heads)
    if _records(t):
        return t.reshape(shape).transpose(1, 2)
    return Tensor(t.data.reshape(shape).swapaxes(1, 2))


def merge_heads(t: Tensor) -> Tensor:
    """(batch, heads, seq, head_dim) -> (batch, seq, heads * head_dim): split_heads undone."""
    batch, heads, seq_len, head_dim = t.shape
    if _records(t):
        return t.transpose(1, 2).reshape(batch, seq_len, heads * head_dim)
    return Tensor(t.data.swapaxes(1, 2).reshape(batch, seq_len, heads * head_dim))


def split_last(t: Tensor, sizes) -> tuple[Tensor, ...]:
    """t (..., n) cut along the last axis into pieces of ``sizes`` (a list summing to n), or of
    one size each (an int dividing n): t.split(sizes, -1)."""
    if isinstance(sizes, (int, np.integer)):
        sizes = [int(sizes)] * (t.shape[-1] // sizes)
    if _records(t):
        return t.split(list(sizes), dim=t.ndim - 1)
    data, pieces, start = t.data, [], 0
    for size in sizes:
        pieces.append(Tensor(data[..., start:start + size]))
        start += size
    return tuple(pieces)


# -------------------------------------------------------------------------------- the cache
def past_length(owner: str, past_key_values, num_layers: int) -> int:
    """The number of cached positions (0 without a cache); checks one entry a layer."""
    if past_key_values is None:
        return 0
    if isinstance(past_key_values, StaticCache):
        if len(past_key_values) != num_layers:
            raise ValueError(f"{owner}: the StaticCache holds {len(past_key_values)} layers, "
                             f"the model {num_layers}")
        return past_key_values.get_seq_length()
    if len(past_key_values) != num_layers:
        raise ValueError(f"{owner}: past_key_values must hold one (key, value) pair for each "
                         f"of the {num_layers} layers, got {len(past_key_values)}")
    return past_key_values[0][0].shape[-2]


def default_position_ids(seq_len: int, past_len: int) -> np.ndarray:
    """(1, seq_len): past_len, past_len + 1, ... as transformers' models count without
    position_ids (generate derives them from the attention mask instead)."""
    return np.arange(past_len, past_len + seq_len, dtype=np.int64)[None, :]


def append_cache(layer_past, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    """The layer's cache with this step's key and value (batch, heads, seq_len, head_dim)
    appended on the sequence axis."""
    if layer_past is None:
        return key, value
    if isinstance(layer_past, StaticCacheLayer):
        return layer_past.update(key, value)
    past_key, past_value = (x if isinstance(x, Tensor) else Tensor(np.asarray(x))
                            for x in layer_past)
    return F.concat([past_key, key], axis=2), F.concat([past_value, value], axis=2)


def returned_cache(past_key_values, presents: list, use_cache: bool):
    """What a decoder returns as past_key_values: the StaticCache it filled, else the layers'
    (key, value) pairs as a tuple; None without use_cache."""
    if not use_cache:
        return None
    return past_key_values if isinstance(past_key_values, StaticCache) else tuple(presents)


class StaticCache:
    """A key/value cache in preallocated buffers, as transformers' StaticCache: one key and one
    value (batch, kv_heads, max_length, head_dim) a layer, allocated at the first step and
    written in place, so a step copies only its own keys (concatenation copies the whole past).
    ``cache[i]`` is layer i's slot (``cache[i][0]``: its keys so far); a model given the cache
    as past_key_values returns it, filled. For inference: no gradient reaches the cached keys."""

    def __init__(self, num_layers: int, max_length: int):
        for name, size in (("num_layers", num_layers), ("max_length", max_length)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"StaticCache: {name} must be a positive integer, got "
                                 f"{size!r}")
        self.max_length = int(max_length)
        self.keys: list[np.ndarray | None] = [None] * num_layers
        self.values: list[np.ndarray | None] = [None] * num_layers
        self.lengths = [0] * num_layers

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, layer: int) -> StaticCacheLayer:
        return StaticCacheLayer(self, range(len(self))[layer])

    def get_seq_length(self) -> int:
        """The number of cached positions (layer 0's)."""
        return self.lengths[0]

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Write key and value (batch, kv_heads, seq_len, head_dim) after layer ``layer``'s
        cached ones -> all its keys and values so far (views of the buffers)."""
        start, steps = self.lengths[layer], key.shape[2]
        if is_grad_enabled() and (key.requires_grad or value.requires_grad):
            raise ValueError("StaticCache: no gradient flows through the preallocated buffers; "
                             "use it under dlpy.no_grad() (inference), or the tuple cache")
        if start + steps > self.max_length:
            raise ValueError(f"StaticCache: {start} cached + {steps} new positions exceed its "
                             f"max_length of {self.max_length}")
        if self.keys[layer] is None:
            shape = (key.shape[0], key.shape[1], self.max_length, key.shape[3])
            self.keys[layer] = np.zeros(shape, key.data.dtype)
            self.values[layer] = np.zeros(shape[:3] + value.shape[3:], value.data.dtype)
        keys, values = self.keys[layer], self.values[layer]
        if keys.shape[:2] != key.shape[:2]:
            raise ValueError(f"StaticCache: layer {layer} holds (batch, heads) = "
                             f"{keys.shape[:2]}, got keys of shape {key.shape}")
        keys[:, :, start:start + steps] = key.data
        values[:, :, start:start + steps] = value.data
        self.lengths[layer] = start + steps
        return Tensor(keys[:, :, :start + steps]), Tensor(values[:, :, :start + steps])

    def reorder(self, order: np.ndarray) -> None:
        """Rows of every layer taken in ``order`` (beam search follows its beams)."""
        for buffers in (self.keys, self.values):
            for i, buffer in enumerate(buffers):
                if buffer is not None:
                    filled = self.lengths[i]
                    buffer[:, :, :filled] = buffer[order, :, :filled]


class StaticCacheLayer:
    """Layer ``layer`` of a StaticCache: what a layer receives as its layer_past."""

    def __init__(self, cache: StaticCache, layer: int):
        self.cache, self.layer = cache, layer

    def update(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        return self.cache.update(self.layer, key, value)

    def __getitem__(self, index: int) -> Tensor:  # 0: the cached keys, 1: the values
        buffer = (self.cache.keys, self.cache.values)[index][self.layer]
        if buffer is None:
            raise ValueError(f"StaticCache: layer {self.layer} holds nothing yet")
        return Tensor(buffer[:, :, :self.cache.lengths[self.layer]])


# ----------------------------------------------------------------------------------- losses
def token_loss(logits: Tensor, labels, owner: str = "loss") -> Tensor:
    """Mean cross-entropy of each token's logits (batch, seq_len, classes) against labels
    (batch, seq_len), the positions labelled -100 left out: the masked-LM, token-classification
    and seq2seq loss."""
    labels = integer_input(owner, "labels", labels, logits.shape[:2])
    classes = logits.shape[-1]
    if labels.size and ((labels < -100) | ((labels > -100) & (labels < 0))
                        | (labels >= classes)).any():
        raise ValueError(f"{owner}: labels must lie in [0, {classes}) or be -100 (ignored), got "
                         f"values from {labels.min()} to {labels.max()}")
    return F.cross_entropy(logits.reshape(-1, classes), labels.reshape(-1), ignore_index=-100)


def causal_lm_loss(logits: Tensor, labels) -> Tensor:
    """token_loss of logits (batch, seq_len, vocab) at position t against labels[:, t + 1], as
    transformers' ForCausalLMLoss: labels are shifted inside, the last position ignored."""
    labels = integer_input("causal LM loss", "labels", labels, logits.shape[:2])
    shifted = np.full(labels.shape, -100, dtype=np.int64)
    shifted[:, :-1] = labels[:, 1:]
    return token_loss(logits, shifted, "causal LM loss")


# ---------------------------------------------------------------------- encoder-decoders
def shift_tokens_right(input_ids, pad_token_id: int | None,
                       decoder_start_token_id: int | None) -> np.ndarray:
    """Decoder inputs from labels (batch, tgt_len): decoder_start_token_id, then the labels
    without their last; -100 (ignored labels) becomes pad_token_id. As transformers'."""
    if decoder_start_token_id is None:
        raise ValueError("shift_tokens_right: the config has no decoder_start_token_id (the "
                         "decoder's first input); set it, or give decoder_input_ids")
    if pad_token_id is None:
        raise ValueError("shift_tokens_right: the config has no pad_token_id (put in place of "
                         "-100 labels); set it, or give decoder_input_ids")
    ids = as_array(input_ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"shift_tokens_right: expected integer labels (batch, tgt_len), got "
                         f"{ids.dtype} of shape {ids.shape}")
    shifted = np.empty(ids.shape, dtype=np.int64)
    shifted[:, 1:] = ids[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    shifted[shifted == -100] = pad_token_id
    return shifted


def encoder_states(owner: str, encoder_outputs) -> Tensor:
    """The encoder's last hidden state (batch, src_len, d_model) from ``encoder_outputs``: an
    output with last_hidden_state, a tuple whose first item it is, or the Tensor itself."""
    if isinstance(encoder_outputs, Tensor):
        return encoder_outputs
    if isinstance(encoder_outputs, ModelOutput) and "last_hidden_state" in encoder_outputs:
        return encoder_outputs.last_hidden_state
    if isinstance(encoder_outputs, (tuple, list)) and encoder_outputs \
            and isinstance(encoder_outputs[0], Tensor):
        return encoder_outputs[0]
    raise TypeError(f"{owner}: encoder_outputs must be a Tensor (batch, src_len, d_model), an "
                    f"encoder output or a tuple starting with one, got "
                    f"{type(encoder_outputs).__name__}")


# --------------------------------------------------------------------- language-model heads
def lm_head(hidden_size: int, embedding, tie: bool, std: float, rng) -> nn.Linear:
    """The output projection hidden -> vocab, no bias: the input ``embedding``'s own weight
    (vocab, hidden) when ``tie`` (one array, trained once), else a new one drawn N(0, std)."""
    vocab_size = embedding.num_embeddings
    head = nn.Linear(hidden_size, vocab_size, bias=False, rng=np.random.default_rng(0))
    if tie:
        head.weight = embedding.weight
    else:
        head.weight.data = get_rng(rng).normal(0.0, std, head.weight.shape).astype(
            head.weight.dtype)
    return head


def last_positions(hidden: Tensor, logits_to_keep: int) -> Tensor:
    """hidden (batch, seq_len, d) cut to its last ``logits_to_keep`` positions (all when 0):
    generation needs the last position's logits only (a decode step's one: hidden itself)."""
    if not logits_to_keep or 0 < hidden.shape[1] <= logits_to_keep:
        return hidden
    return hidden[:, -logits_to_keep:]


# --------------------------------------------------------------------------- the checkpoints
def tied_names(model) -> dict[str, str]:
    """name -> the name the same Parameter is stored under, for each parameter reachable under
    a second name (a tied lm_head, T5's ``encoder.embed_tokens`` = ``shared``)."""
    first: dict[int, str] = {}
    tied: dict[str, str] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for name, param in module._parameters.items():
            if param is None:
                continue
            full = f"{module_name}.{name}" if module_name else name
            if id(param) not in first:
                first[id(param)] = full
            elif first[id(param)] != full:
                tied[full] = first[id(param)]
    return tied


def _user_level() -> int:
    """warnings' stacklevel of the first caller outside dlpy: the warning names the user's
    line, whether from_pretrained was called directly or through an Auto class."""
    return user_stacklevel() - 1  # counted from the function that warns, not from this helper


def _load_dtype(dtype, config: dict, state: dict):
    """from_pretrained's ``dtype``: None (float32), a dtype or its name, or "auto" (config's
    ``dtype``/``torch_dtype``, else the first floating weight's), as a numpy dtype; None for
    float32."""
    if isinstance(dtype, str) and dtype == "auto":
        dtype = config.get("dtype") or config.get("torch_dtype")
        if dtype is None:
            dtype = next((v.dtype for v in state.values()
                          if is_floating_dtype(np.dtype(getattr(v, "dtype", np.int64)))), None)
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
        if name == "bfloat16":
            from dlpy.amp.dtypes import bfloat16_type

            dtype = bfloat16_type()
        else:
            try:
                dtype = np.dtype(name)
            except TypeError:
                raise ValueError(f"from_pretrained: unknown dtype {dtype!r} (expected 'auto', "
                                 "'float32', 'float16', 'bfloat16' or a dtype)") from None
    dtype = np.dtype(dtype)
    if not is_floating_dtype(dtype):
        raise ValueError(f"from_pretrained: dtype must be a floating dtype, got {dtype}")
    return None if dtype == np.float32 else dtype


class PreTrainedModel:
    """from_pretrained / save_pretrained over a checkpoint directory in transformers' layout
    (``config.json`` + ``model.safetensors``, its shards, or ``pytorch_model.bin``). Mixed into
    an ``nn.Module`` that has ``self.config``.

    A subclass sets:
      config_class       the config it is built from
      base_model_prefix  the attribute holding the body in a model with a head (``bert``,
                         ``transformer``): a body's checkpoint loads into a head model and the
                         other way round, as transformers does
      ignored_keys       suffixes of checkpoint entries to drop (old buffers: causal-mask tables,
                         rotary inv_freq, position_ids)
      ignored_prefixes   checkpoint entries of parts this model lacks, dropped silently
      optional_keys      buffers that keep their value when a checkpoint lacks them
      strict_load        True: a missing or unused weight is an error; False (encoders, whose
                         new heads are trained): a warning, the missing ones keep their
                         random initialisation
    """

    config_class: ClassVar[Any] = None
    base_model_prefix: ClassVar[str] = ""
    ignored_keys: ClassVar[tuple[str, ...]] = ()
    ignored_prefixes: ClassVar[tuple[str, ...]] = ()
    optional_keys: ClassVar[tuple[str, ...]] = ()
    strict_load: ClassVar[bool] = True

    @property
    def base_model(self):
        return getattr(self, self.base_model_prefix, self) if self.base_model_prefix else self

    def _set_config(self, config) -> None:
        """self.config = config, checked: an instance of config_class with valid fields."""
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__}: expected a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config._checked(f"{type(self).__name__} config")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, rng=None, config=None, *, dtype=None,
                        torch_dtype=None):
        """The model of the local directory ``path``, in eval mode as transformers'
        from_pretrained. ``config`` (a config_class) replaces the directory's config.json.
        ``dtype`` (transformers 5's; ``torch_dtype`` the old name): the parameters' dtype
        (``dlpy.bfloat16``, "float16", ...; "auto": config.json's ``dtype``/``torch_dtype``,
        else the weights' own); default float32, whatever the file holds.
        A generating model reads generation_config.json, when present, into
        ``generation_config`` (generate's defaults)."""
        values = _hf.read_config(path)  # first: it names a bad path
        if config is None:
            source = os.path.join(os.fspath(path), _hf.CONFIG)
            config = cls.config_class.from_dict(values, source)
        model = cls(config, rng=rng)
        state = _hf.read_state_dict(path)
        model.load_hf_state_dict(state, source=os.fspath(path))
        dtype = _load_dtype(dtype if torch_dtype is None else torch_dtype, values, state)
        if dtype is not None:  # loaded into float32 (exactly), then cast
            model.to(dtype)
        if hasattr(model, "generate"):  # generate's defaults, when the checkpoint has them
            from dlpy.models.generation import GENERATION_CONFIG, GenerationConfig

            if os.path.exists(os.path.join(os.fspath(path), GENERATION_CONFIG)):
                model.generation_config = GenerationConfig.from_pretrained(path)
        return model.eval()

    def load_hf_state_dict(self, state: dict[str, Any], source: str = "state dict") -> None:
        """Copy a transformers state dict in, naming keys as transformers does: legacy
        ``LayerNorm.gamma/beta``, the body's prefix added or dropped (``h.0...`` <->
        ``transformer.h.0...``), a tied weight read under any of its names, old buffers
        dropped. A shape that differs is an error; missing or unused weights are errors or
        warnings as ``strict_load`` says."""
        own = dict(self.named_parameters())
        own.update(self.named_buffers(persistent_only=True))
        tied = tied_names(self)
        known = set(own) | set(tied)
        prefix = self.base_model_prefix + "." if self.base_model_prefix else ""
        fixed: dict[str, np.ndarray] = {}
        aliases: dict[str, np.ndarray] = {}
        unexpected = []
        for key, value in state.items():
            key = key.replace("LayerNorm.gamma", "LayerNorm.weight")
            key = key.replace("LayerNorm.beta", "LayerNorm.bias")
            if prefix and key not in known:
                if prefix + key in known:
                    key = prefix + key
                elif key.startswith(prefix) and key[len(prefix):] in known:
                    key = key[len(prefix):]
            if key.endswith(self.ignored_keys) or key.startswith(self.ignored_prefixes):
                continue
            # (not np.asarray(value.data): an array's .data is its buffer, unreadable for bfloat16)
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if key in tied:  # the weight under another name: used when its own is absent
                aliases.setdefault(tied[key], value)
            elif key in own:
                fixed[key] = value
            else:
                unexpected.append(key)
        for key, value in aliases.items():
            fixed.setdefault(key, value)
        missing = [name for name in own if name not in fixed and name not in self.optional_keys]
        name = type(self).__name__
        for key, array in own.items():  # in the model's order: the first layer that differs
            if key in fixed and np.shape(fixed[key]) != array.shape:
                raise ValueError(f"{source}: {key} has shape {np.shape(fixed[key])}, but {name} "
                                 f"expects {array.shape} (does config.json match the "
                                 f"weights?)")
        if self.strict_load and (missing or unexpected):
            raise ValueError(f"{source}: {name} state mismatch; missing keys: "
                             f"{missing or 'none'}; unexpected keys: {unexpected or 'none'}")
        self.load_state_dict(fixed, strict=False)
        if missing:
            warnings.warn(f"{source}: no weights for {missing} of {name}; they keep their "
                          f"random initialisation (train them)", stacklevel=_user_level())
        if unexpected:
            warnings.warn(f"{source}: weights {unexpected} are not used by {name}",
                          stacklevel=_user_level())

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config.json and model.safetensors into the directory ``path``, as
        transformers does (a tied weight stored once, under its first name), and
        generation_config.json when the model has a ``generation_config``."""
        config = self.config.to_dict()
        floating = (p.dtype for p in self.parameters() if is_floating_dtype(p.data.dtype))
        config.update(architectures=[type(self).__name__],
                      dtype=np.dtype(next(floating, np.float32)).name)
        _hf.write_pretrained(path, config, state_dict_once(self))
        if getattr(self, "generation_config", None) is not None:  # set or read: written back
            self.generation_config.save_pretrained(path)
