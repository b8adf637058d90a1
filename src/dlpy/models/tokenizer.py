"""Hugging Face tokenizers for the models here: a ``tokenizer.json`` (WordPiece, BPE, Unigram...)
run by the ``tokenizers`` library (an optional dependency: ``pip install tokenizers``), with
transformers' calling convention: ``tokenizer(texts)`` gives padded ``input_ids``,
``attention_mask`` (and ``token_type_ids``) arrays ready for a model.

    tokenizer = PreTrainedTokenizer.from_pretrained("path/to/bert")
    batch = tokenizer(["a first text", "a second, longer text"])
    out = BertModel.from_pretrained("path/to/bert")(**batch)
"""

from __future__ import annotations

import os

import numpy as np

from dlpy.models._hf import read_json
from dlpy.tensor import Tensor

__all__ = ["BatchEncoding", "PreTrainedTokenizer"]

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token")
# transformers' "no limit": a model_max_length this large means none was saved
NO_LIMIT = int(1e20)


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("dlpy.models.tokenizer needs the tokenizers library: "
                          "pip install tokenizers (or pip install 'dlpy[hf]')") from None
    return tokenizers


class BatchEncoding(dict):
    """The tokenizer's output: input_ids, attention_mask (and token_type_ids) by key or by
    attribute, to unpack into a model: ``model(**batch)``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _token_text(value) -> str | None:
    """A special token as tokenizer_config.json stores it: a string or {"content": ...}."""
    return value.get("content") if isinstance(value, dict) else value


class PreTrainedTokenizer:
    """A ``tokenizers.Tokenizer`` with transformers' special tokens, length limit and padding.

    ``special_tokens`` maps transformers' names (``pad_token``, ``cls_token``...) to token
    strings; ``model_max_length`` is the length ``truncation`` cuts to when no ``max_length``
    is given (None: no limit); ``model_input_names`` says whether ``token_type_ids`` is returned
    (BERT's tokenizers do, RoBERTa's and DistilBERT's do not).
    """

    def __init__(self, tokenizer, special_tokens: dict[str, str] | None = None,
                 model_max_length: int | None = None, padding_side: str = "right",
                 model_input_names: tuple[str, ...] = ("input_ids", "attention_mask"),
                 additional_special_tokens: tuple[str, ...] = ()):
        if padding_side not in ("right", "left"):
            raise ValueError(f"PreTrainedTokenizer: padding_side must be 'right' or 'left', got "
                             f"{padding_side!r}")
        self._tokenizer = tokenizer
        self.special_tokens = dict(special_tokens or {})
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.model_input_names = tuple(model_input_names)
        specials = [t for t in (*self.special_tokens.values(), *additional_special_tokens) if t]
        if specials:  # as transformers: matched whole in texts, left out by skip_special_tokens
            tokenizer.add_special_tokens(list(dict.fromkeys(specials)))
        for name, token in self.special_tokens.items():
            setattr(self, name, token)
            setattr(self, name + "_id", None if token is None else tokenizer.token_to_id(token))

    def __getattr__(self, name):  # a special token the files did not name is None
        if name in SPECIAL_NAMES or name[:-3] in SPECIAL_NAMES and name.endswith("_id"):
            return None
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> PreTrainedTokenizer:
        """The tokenizer of the directory ``path`` (``tokenizer.json``, with the special tokens,
        model_max_length and padding side of ``tokenizer_config.json`` /
        ``special_tokens_map.json`` when present), or of a ``tokenizer.json`` file."""
        tokenizers = _tokenizers()
        path = os.fspath(path)
        if os.path.isdir(path):
            directory, name = path, os.path.join(path, TOKENIZER_FILE)
        else:
            directory, name = os.path.dirname(path), path
        if not os.path.exists(name):
            raise FileNotFoundError(f"{name}: no such file (a tokenizer directory holds "
                                    f"{TOKENIZER_FILE}, as transformers' fast tokenizers save)")
        try:
            tokenizer = tokenizers.Tokenizer.from_file(name)
        except Exception as err:  # the library raises a bare Exception on a bad file
            raise ValueError(f"{name}: not a tokenizers tokenizer.json ({err})") from None
        config = {}
        for extra in (SPECIAL_TOKENS_FILE, CONFIG_FILE):
            extra = os.path.join(directory, extra)
            if os.path.exists(extra):
                config.update(read_json(extra))
        special = {key: _token_text(config[key]) for key in SPECIAL_NAMES if config.get(key)}
        limit = config.get("model_max_length")
        limit = int(limit) if isinstance(limit, (int, float)) and limit < NO_LIMIT else None
        names = config.get("model_input_names")
        if names is None:
            with_types = str(config.get("tokenizer_class", "")).startswith("Bert")
            names = ("input_ids", "token_type_ids", "attention_mask") if with_types else \
                ("input_ids", "attention_mask")
        extra = tuple(_token_text(t) for t in config.get("additional_special_tokens") or ())
        return cls(tokenizer, special, limit, config.get("padding_side", "right"), tuple(names),
                   extra)

    # --------------------------------------------------------------------------------- encode
    def __call__(self, text, text_pair=None, padding: bool | str = True,
                 truncation: bool = True, max_length: int | None = None,
                 return_tensors: str | None = "np",
                 return_token_type_ids: bool | None = None) -> BatchEncoding:
        """Encode a text or a list of texts (with ``text_pair``: pairs, [SEP]-joined as the
        tokenizer's post-processor says) into input_ids, attention_mask (1 token, 0 padding)
        and token_type_ids, each (batch, seq_len).

        padding: True / "longest" pads to the longest, "max_length" to ``max_length``, False
        not at all. truncation: cut each to ``max_length`` (default model_max_length), special
        tokens included, the longer of a pair first. return_tensors: "np" (int64 arrays),
        "dlpy" (Tensors) or None (lists).
        """
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("tokenizer: expected a text or a list of texts (str)")
        pairs = None
        if text_pair is not None:
            pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
            if len(pairs) != len(texts):
                raise ValueError(f"tokenizer: {len(texts)} texts but {len(pairs)} text pairs")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"tokenizer: padding must be True, False, 'longest' or "
                             f"'max_length', got {padding!r}")
        if return_tensors not in ("np", "dlpy", None):
            raise ValueError(f"tokenizer: return_tensors must be 'np', 'dlpy' or None, got "
                             f"{return_tensors!r}")
        limit = max_length if max_length is not None else self.model_max_length
        if padding == "max_length" and max_length is None:
            raise ValueError("tokenizer: padding='max_length' needs max_length")
        encodings = self._encode(texts, pairs, padding, truncation, limit, max_length)
        lengths = {len(e.ids) for e in encodings}
        if return_tensors is not None and len(lengths) > 1:
            raise ValueError(f"tokenizer: sequences of lengths {sorted(lengths)} cannot be one "
                             f"array; pass padding=True (or return_tensors=None for lists)")
        with_types = "token_type_ids" in self.model_input_names \
            if return_token_type_ids is None else return_token_type_ids
        fields = {"input_ids": [e.ids for e in encodings]}
        if with_types:
            fields["token_type_ids"] = [e.type_ids for e in encodings]
        fields["attention_mask"] = [e.attention_mask for e in encodings]
        if return_tensors is None:
            return BatchEncoding({key: value[0] if single else value
                                  for key, value in fields.items()})
        arrays = {key: np.array(value, dtype=np.int64).reshape(len(texts), -1)
                  for key, value in fields.items()}
        if return_tensors == "dlpy":
            arrays = {key: Tensor(value) for key, value in arrays.items()}
        return BatchEncoding(arrays)

    def _encode(self, texts, pairs, padding, truncation, limit, max_length,
                add_special_tokens=True):
        """encode_batch with the truncation and padding of this call, the tokenizer's own
        settings restored after."""
        tokenizer = self._tokenizer
        saved_truncation, saved_padding = tokenizer.truncation, tokenizer.padding
        try:
            if truncation and limit is not None:
                tokenizer.enable_truncation(int(limit), strategy="longest_first")
            else:
                tokenizer.no_truncation()
            if padding in (True, "longest", "max_length"):
                if self.pad_token_id is None:
                    raise ValueError("tokenizer: padding needs a pad_token, and "
                                     "tokenizer_config.json names none (pass padding=False)")
                tokenizer.enable_padding(direction=self.padding_side, pad_id=self.pad_token_id,
                                         pad_token=self.pad_token,
                                         length=max_length if padding == "max_length" else None)
            else:
                tokenizer.no_padding()
            batch = texts if pairs is None else list(zip(texts, pairs))
            return tokenizer.encode_batch(batch, add_special_tokens=add_special_tokens)
        finally:
            if saved_truncation is None:
                tokenizer.no_truncation()
            else:
                tokenizer.enable_truncation(**saved_truncation)
            if saved_padding is None:
                tokenizer.no_padding()
            else:
                tokenizer.enable_padding(**saved_padding)

    def encode(self, text: str, text_pair: str | None = None, truncation: bool = True,
               max_length: int | None = None) -> list[int]:
        """The ids of one text (special tokens included), unpadded."""
        return self(text, text_pair, padding=False, truncation=truncation,
                    max_length=max_length, return_tensors=None)["input_ids"]

    # --------------------------------------------------------------------------------- decode
    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """The text of one sequence of ids (a list, 1-d array or Tensor)."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"decode: expected one sequence of integer ids, got shape "
                             f"{ids.shape} of {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"decode: ids must lie in [0, vocab_size={self.vocab_size}), got "
                             f"{ids.min() if ids.min() < 0 else ids.max()}")
        return self._tokenizer.decode(ids.tolist(), skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences, skip_special_tokens: bool = False) -> list[str]:
        """decode for each sequence of a (batch, seq_len) array or a list of lists."""
        sequences = sequences.data if isinstance(sequences, Tensor) else sequences
        return [self.decode(ids, skip_special_tokens) for ids in sequences]

    # ------------------------------------------------------------------------------ the vocab
    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, without special tokens."""
        return self._encode([text], None, False, False, None, None, False)[0].tokens

    def convert_tokens_to_ids(self, tokens):
        """A token's id (None if unknown), or a list of them for a list."""
        if isinstance(tokens, str):
            return self._tokenizer.token_to_id(tokens)
        return [self._tokenizer.token_to_id(token) for token in tokens]

    def convert_ids_to_tokens(self, ids):
        if isinstance(ids, (int, np.integer)):
            return self._tokenizer.id_to_token(int(ids))
        return [self._tokenizer.id_to_token(int(i)) for i in ids]

    def __repr__(self) -> str:
        return (f"PreTrainedTokenizer(vocab_size={self.vocab_size}, model_max_length="
                f"{self.model_max_length}, special_tokens={self.special_tokens})")
