"""What the encoder-decoder models (T5, BART) share: their outputs, padding masks, the
right shift of labels into decoder inputs, the loss, and loading a checkpoint directory in
Hugging Face ``transformers``' layout whose embedding is stored once for several names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlpy import functional as F
from dlpy.models._decoder import PreTrainedMixin
from dlpy.tensor import Tensor

# One decoder layer's cache: (self key, self value, cross key, cross value), each
# (batch, heads, len, head_dim); the cross pair is the projected encoder output, made once
LayerCache = tuple[Tensor, Tensor, Tensor, Tensor]


def _pick(values, index):
    return tuple(x for x in values if x is not None)[index]


@dataclass
class BaseModelOutput:
    """An encoder's output: last_hidden_state (batch, src_len, d_model)."""
    last_hidden_state: Tensor

    def __getitem__(self, index):
        return (self.last_hidden_state,)[index]


@dataclass
class Seq2SeqModelOutput:
    """The body's output: the decoder's last_hidden_state (batch, tgt_len, d_model),
    past_key_values (one LayerCache a decoder layer, or None), encoder_last_hidden_state."""
    last_hidden_state: Tensor
    past_key_values: tuple[LayerCache, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None

    def __getitem__(self, index):
        return _pick((self.last_hidden_state, self.past_key_values,
                      self.encoder_last_hidden_state), index)


@dataclass
class Seq2SeqLMOutput:
    """The language model's output: loss (with labels), logits (batch, tgt_len, vocab),
    past_key_values, encoder_last_hidden_state (batch, src_len, d_model)."""
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: tuple[LayerCache, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None

    def __getitem__(self, index):
        return _pick((self.loss, self.logits, self.past_key_values,
                      self.encoder_last_hidden_state), index)


def padding_mask(name: str, attention_mask, batch: int, seq_len: int) -> np.ndarray | None:
    """Boolean (batch, 1, 1, seq_len), True at padding keys (attention_mask 0), or None."""
    if attention_mask is None:
        return None
    attention_mask = np.asarray(getattr(attention_mask, "data", attention_mask))
    if attention_mask.shape != (batch, seq_len):
        raise ValueError(f"{name}: attention_mask must be (batch, seq_len) = ({batch}, "
                         f"{seq_len}), got {attention_mask.shape}")
    return (attention_mask == 0)[:, None, None, :]


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
    ids = np.asarray(getattr(input_ids, "data", input_ids))
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"shift_tokens_right: expected integer labels (batch, tgt_len), got "
                         f"{ids.dtype} of shape {ids.shape}")
    shifted = np.empty(ids.shape, dtype=np.int64)
    shifted[:, 1:] = ids[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    shifted[shifted == -100] = pad_token_id
    return shifted


def seq2seq_loss(logits: Tensor, labels, vocab_size: int) -> Tensor:
    """Mean cross-entropy of logits (batch, tgt_len, vocab) against labels (batch, tgt_len),
    -100 ignored (no shift: the decoder inputs are the shifted labels)."""
    labels = np.asarray(getattr(labels, "data", labels))
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"seq2seq loss: labels must be (batch, tgt_len) = {logits.shape[:-1]}, "
                         f"got {labels.shape}")
    if labels.size and ((labels < -100) | ((labels > -100) & (labels < 0))
                        | (labels >= vocab_size)).any():
        raise ValueError(f"seq2seq loss: labels must lie in [0, vocab_size={vocab_size}) or be "
                         f"-100 (ignored), got values from {labels.min()} to {labels.max()}")
    return F.cross_entropy(logits.reshape(-1, vocab_size), labels.reshape(-1).astype(np.int64),
                           ignore_index=-100)


def encoder_states(name: str, encoder_outputs) -> Tensor:
    """The encoder's last hidden state from ``encoder_outputs``: an output object, a tuple whose
    first item it is, or the Tensor itself."""
    if isinstance(encoder_outputs, Tensor):
        return encoder_outputs
    if isinstance(encoder_outputs, (BaseModelOutput, Seq2SeqModelOutput)):
        return encoder_outputs.last_hidden_state
    if isinstance(encoder_outputs, (tuple, list)) and encoder_outputs \
            and isinstance(encoder_outputs[0], Tensor):
        return encoder_outputs[0]
    raise TypeError(f"{name}: encoder_outputs must be a Tensor (batch, src_len, d_model), an "
                    f"encoder output or a tuple starting with one, got "
                    f"{type(encoder_outputs).__name__}")


class Seq2SeqPreTrainedMixin(PreTrainedMixin):
    """PreTrainedMixin for models whose one embedding has several names in transformers'
    state dicts (``shared.weight``, ``encoder.embed_tokens.weight``, a tied lm_head).

    A subclass sets, besides PreTrainedMixin's attributes, ``tied_keys`` (alias -> the name
    dlpy stores it under), ``ignored_prefixes`` (keys of parts this model does not have) and
    ``optional_keys`` (buffers that keep their value when a checkpoint lacks them)."""

    tied_keys: dict[str, str] = {}
    ignored_prefixes: tuple[str, ...] = ()
    optional_keys: tuple[str, ...] = ()

    def tied_names(self) -> dict[str, str]:
        tied = dict(self.tied_keys)
        if getattr(self.config, "tie_word_embeddings", False) and hasattr(self, "lm_head"):
            tied["lm_head.weight"] = self.lm_head_source
        return tied

    lm_head_source = "shared.weight"

    def load_hf_state_dict(self, state: dict, source: str = "state dict") -> None:
        """Load a transformers state dict (of this model or its body / its language model):
        the body prefix is added or dropped, an alias of a tied weight fills that weight when
        the weight itself is absent, parts this model lacks are skipped; then every parameter
        and buffer must be there, and nothing else."""
        names = {name for name, _ in self.named_parameters()}
        names |= {name for name, _ in self.named_buffers(persistent_only=True)}
        tied = self.tied_names()
        known = names | set(tied)
        prefix = self.body_prefix + "." if self.body_prefix else ""
        fixed, aliases = {}, {}
        for key, value in state.items():
            if prefix and key not in known:
                if prefix + key in known:
                    key = prefix + key
                elif key.startswith(prefix) and key[len(prefix):] in known:
                    key = key[len(prefix):]
            if key.endswith(self.ignored_keys) or key.startswith(self.ignored_prefixes):
                continue
            value = np.asarray(getattr(value, "data", value))
            if key in tied:
                aliases.setdefault(tied[key], value)
            else:
                fixed[key] = value
        for key, value in aliases.items():
            fixed.setdefault(key, value)
        current = dict(self.named_buffers(persistent_only=True))
        for key in self.optional_keys:
            if key not in fixed and key in current:
                fixed[key] = current[key]
        try:
            self.load_state_dict(fixed, strict=True)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None
