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
from typing import NamedTuple

import numpy as np

from dlpy.models._hf import read_json
from dlpy.tensor import Tensor

__all__ = ["BatchEncoding", "CharSpan", "PreTrainedTokenizer"]

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token")
TRUNCATIONS = (True, False, "longest_first", "only_first", "only_second", "do_not_truncate")
# transformers' "no limit": a model_max_length this large means none was saved
NO_LIMIT = int(1e20)


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("dlpy.models.tokenizer needs the tokenizers library: "
                          "pip install tokenizers (or pip install 'dlpy[hf]')") from None
    return tokenizers


class CharSpan(NamedTuple):
    """A token's characters in the original text: ``text[start:end]``."""
    start: int
    end: int


class BatchEncoding(dict):
    """The tokenizer's output: input_ids, attention_mask (and token_type_ids) by key or by
    attribute, to unpack into a model: ``model(**batch)``; with the ``tokenizers`` encodings
    behind each row, the maps between tokens, words and characters (``word_ids(row)``...)."""

    def __init__(self, data=None, encodings=None):
        super().__init__(data or {})
        self.encodings = encodings

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _encoding(self, name: str, first: int, second: int | None = None):
        """The encoding and index of a ``(row, index)`` call, or of ``(index)`` in row 0."""
        if not self.encodings:
            raise ValueError(f"BatchEncoding.{name}: no encodings (the batch was built by hand)")
        row, index = (0, first) if second is None else (first, second)
        return self.encodings[row], index

    def tokens(self, row: int = 0) -> list[str]:
        """The token strings of a row (padding included)."""
        return self._encoding("tokens", row, 0)[0].tokens

    def word_ids(self, row: int = 0) -> list[int | None]:
        """Each token's word index in its text (None for special tokens and padding)."""
        return self._encoding("word_ids", row, 0)[0].word_ids

    def sequence_ids(self, row: int = 0) -> list[int | None]:
        """Each token's sequence: 0 the text, 1 its pair, None special tokens and padding."""
        return self._encoding("sequence_ids", row, 0)[0].sequence_ids

    def token_to_chars(self, row_or_token: int, token: int | None = None) -> CharSpan | None:
        """The characters of a token (of row 0 when one index is given); None for special
        tokens."""
        encoding, token = self._encoding("token_to_chars", row_or_token, token)
        span = encoding.token_to_chars(token)
        return None if span is None else CharSpan(*span)

    def char_to_token(self, row_or_char: int, char: int | None = None,
                      sequence_index: int = 0) -> int | None:
        """The token holding a character of the text (``sequence_index`` 1: of the pair)."""
        encoding, char = self._encoding("char_to_token", row_or_char, char)
        return encoding.char_to_token(char, sequence_index)

    def token_to_word(self, row_or_token: int, token: int | None = None) -> int | None:
        """The word index of a token."""
        encoding, token = self._encoding("token_to_word", row_or_token, token)
        return encoding.token_to_word(token)


# what each returned field holds for one row (a tokenizers Encoding)
_ROW_FIELDS = {"input_ids": lambda e: e.ids, "token_type_ids": lambda e: e.type_ids,
               "attention_mask": lambda e: e.attention_mask,
               "special_tokens_mask": lambda e: e.special_tokens_mask,
               "offset_mapping": lambda e: e.offsets,
               "length": lambda e: len(e.ids)}


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
                 extra_special_tokens: tuple[str, ...] = ()):
        if padding_side not in ("right", "left"):
            raise ValueError(f"PreTrainedTokenizer: padding_side must be 'right' or 'left', got "
                             f"{padding_side!r}")
        self._tokenizer = tokenizer
        self.special_tokens = {}
        self.extra_special_tokens = []
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.model_input_names = tuple(model_input_names)
        # as transformers: matched whole in texts, left out by skip_special_tokens
        self.add_special_tokens({**(special_tokens or {}),
                                 "extra_special_tokens": list(extra_special_tokens)})

    def __getattr__(self, name):  # a special token the files did not name is None
        if name in SPECIAL_NAMES or name[:-3] in SPECIAL_NAMES and name.endswith("_id"):
            return None
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ---------------------------------------------------------------------- special tokens
    def add_special_tokens(self, special_tokens: dict,
                           replace_extra_special_tokens: bool = True) -> int:
        """Name special tokens (``{"pad_token": "<pad>", "extra_special_tokens": [...]}``, any
        ``*_token`` name), adding those not in the vocabulary; returns how many were added.
        As transformers 5: an extra_special_tokens list replaces the previous one unless
        ``replace_extra_special_tokens=False``."""
        tokens = []
        for name, value in special_tokens.items():
            if name in ("extra_special_tokens", "additional_special_tokens"):
                if not isinstance(value, (list, tuple)):
                    raise TypeError(f"add_special_tokens: {name} must be a list of tokens, got "
                                    f"{type(value).__name__}")
                value = [_token_text(t) for t in value]
                if replace_extra_special_tokens and value:
                    self.extra_special_tokens = list(value)
                else:
                    self.extra_special_tokens += [t for t in value
                                                  if t not in self.extra_special_tokens]
                tokens += value
            elif name.endswith("_token"):
                value = _token_text(value)
                self.special_tokens[name] = value
                tokens.append(value)
            else:
                raise ValueError(f"add_special_tokens: expected *_token names or "
                                 f"extra_special_tokens, got {name!r}")
        tokens = [t for t in dict.fromkeys(tokens) if t]
        added = self._tokenizer.add_special_tokens(tokens) if tokens else 0
        for name, token in self.special_tokens.items():  # ids may have come with the new ones
            setattr(self, name, token)
            setattr(self, name + "_id", None if token is None else
                    self._tokenizer.token_to_id(token))
        return added

    def add_tokens(self, tokens, special_tokens: bool = False) -> int:
        """Add words to the vocabulary (matched whole in texts); returns how many were new."""
        tokens = [tokens] if isinstance(tokens, str) else list(tokens)
        if special_tokens:
            return self._tokenizer.add_special_tokens(tokens)
        return self._tokenizer.add_tokens(tokens)

    @property
    def all_special_tokens(self) -> list[str]:
        """The named special tokens (transformers' order) then the extra ones, each once."""
        names = [n for n in SPECIAL_NAMES if n in self.special_tokens]
        names += [n for n in self.special_tokens if n not in SPECIAL_NAMES]
        tokens = [self.special_tokens[n] for n in names] + self.extra_special_tokens
        return [t for t in dict.fromkeys(tokens) if t]

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None,
                                already_has_special_tokens: bool = False) -> list[int]:
        """1 where an id of an encoded sequence is a special token, 0 elsewhere."""
        if not already_has_special_tokens or token_ids_1 is not None:
            raise ValueError("get_special_tokens_mask: as transformers' fast tokenizers, only "
                             "already_has_special_tokens=True with one sequence (for a new "
                             "encoding pass return_special_tokens_mask=True to the call)")
        special = set(self.all_special_ids)
        return [int(int(i) in special) for i in token_ids_0]

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
        special.update({key: value for key, value in config.items()  # model tokens, as 5.x
                        if key.endswith("_token") and key not in special
                        and isinstance(value, str)})
        limit = config.get("model_max_length")
        limit = int(limit) if isinstance(limit, (int, float)) and limit < NO_LIMIT else None
        names = config.get("model_input_names")
        if names is None:
            with_types = str(config.get("tokenizer_class", "")).startswith("Bert")
            names = ("input_ids", "token_type_ids", "attention_mask") if with_types else \
                ("input_ids", "attention_mask")
        extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or ()
        if isinstance(extra, dict):  # transformers 5: named model tokens (image_token...)
            special.update({name: _token_text(token) for name, token in extra.items()})
            extra = ()
        extra = tuple(_token_text(t) for t in extra)
        return cls(tokenizer, special, limit, config.get("padding_side", "right"), tuple(names),
                   extra)

    # --------------------------------------------------------------------------------- encode
    def __call__(self, text, text_pair=None, padding: bool | str = True,
                 truncation: bool | str = True, max_length: int | None = None, stride: int = 0,
                 return_tensors: str | None = "np",
                 return_token_type_ids: bool | None = None,
                 return_attention_mask: bool | None = None,
                 return_overflowing_tokens: bool = False,
                 return_special_tokens_mask: bool = False,
                 return_offsets_mapping: bool = False, return_length: bool = False,
                 is_split_into_words: bool = False,
                 add_special_tokens: bool = True) -> BatchEncoding:
        """Encode a text or a list of texts (with ``text_pair``: pairs, [SEP]-joined as the
        tokenizer's post-processor says) into input_ids, attention_mask (1 token, 0 padding)
        and token_type_ids, each (batch, seq_len).

        padding: True / "longest" pads to the longest, "max_length" to ``max_length``, False
        not at all. truncation: cut each to ``max_length`` (default model_max_length), special
        tokens included, the longer of a pair first ("only_first" / "only_second": only that
        one). return_tensors: "np" (int64 arrays),
        "dlpy" (Tensors) or None (lists). is_split_into_words: a text is a list of words.
        return_overflowing_tokens: what truncation cuts comes back as more rows of
        ``max_length`` (``stride`` tokens repeated between rows), ``overflow_to_sample_mapping``
        naming each row's text. Also offset_mapping (batch, seq_len, 2) characters,
        special_tokens_mask, length; the result's ``word_ids(row)``, ``sequence_ids(row)``,
        ``token_to_chars``, ``char_to_token`` as transformers' fast tokenizers.
        """
        single, texts = self._batch_of(text, is_split_into_words, "text")
        pairs = None
        if text_pair is not None:
            _, pairs = self._batch_of(text_pair, is_split_into_words, "text_pair")
            if len(pairs) != len(texts):
                raise ValueError(f"tokenizer: {len(texts)} texts but {len(pairs)} text pairs")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"tokenizer: padding must be True, False, 'longest' or "
                             f"'max_length', got {padding!r}")
        if return_tensors not in ("np", "dlpy", None):
            raise ValueError(f"tokenizer: return_tensors must be 'np', 'dlpy' or None, got "
                             f"{return_tensors!r}")
        if truncation not in TRUNCATIONS:
            raise ValueError(f"tokenizer: truncation must be True, False or one of "
                             f"{', '.join(map(repr, TRUNCATIONS[2:]))}, got {truncation!r}")
        limit = max_length if max_length is not None else self.model_max_length
        if padding == "max_length" and max_length is None:
            raise ValueError("tokenizer: padding='max_length' needs max_length")
        encodings = self._encode(texts, pairs, padding, truncation, limit, max_length,
                                 add_special_tokens, stride, is_split_into_words)
        rows, sample = encodings, None
        if return_overflowing_tokens:
            rows, sample = [], []
            for index, encoding in enumerate(encodings):
                pieces = [encoding, *encoding.overflowing]
                rows += pieces
                sample += [index] * len(pieces)
        lengths = {len(e.ids) for e in rows}
        if return_tensors is not None and len(lengths) > 1:
            raise ValueError(f"tokenizer: sequences of lengths {sorted(lengths)} cannot be one "
                             f"array; pass padding=True (or return_tensors=None for lists)")
        wanted = {"input_ids": True,
                  "token_type_ids": "token_type_ids" in self.model_input_names
                  if return_token_type_ids is None else return_token_type_ids,
                  "attention_mask": "attention_mask" in self.model_input_names
                  if return_attention_mask is None else return_attention_mask,
                  "special_tokens_mask": return_special_tokens_mask,
                  "offset_mapping": return_offsets_mapping, "length": return_length}
        fields = {key: [_ROW_FIELDS[key](e) for e in rows]
                  for key, want in wanted.items() if want}
        if sample is not None:
            fields["overflow_to_sample_mapping"] = sample
        if return_tensors is None:  # one text: its rows unwrapped, as transformers
            unwrap = single and sample is None
            return BatchEncoding({key: value[0] if unwrap and isinstance(value[0], list)
                                  else value for key, value in fields.items()}, rows)
        arrays = {key: np.array(value, dtype=np.int64).reshape(len(rows), *(
                      (-1, 2) if key == "offset_mapping" else (-1,) if key not in
                      ("length", "overflow_to_sample_mapping") else ()))
                  for key, value in fields.items()}
        if return_tensors == "dlpy":
            arrays = {key: Tensor(value) for key, value in arrays.items()}
        return BatchEncoding(arrays, rows)

    @staticmethod
    def _batch_of(text, split: bool, what: str) -> tuple[bool, list]:
        """(whether ``text`` is one input, the inputs as a list): a text (str), or with
        ``split`` a list of words, or a list of either."""
        one = (lambda t: isinstance(t, (list, tuple)) and all(isinstance(w, str) for w in t)) \
            if split else (lambda t: isinstance(t, str))
        if one(text) and not (split and not text):
            return True, [list(text) if split else text]
        if isinstance(text, (list, tuple)) and all(one(t) for t in text):
            return False, [list(t) if split else t for t in text]
        kind = "a list of words or a list of such lists (is_split_into_words=True)" if split \
            else "a text or a list of texts (str)"
        raise TypeError(f"tokenizer: expected {kind} for {what}, got {type(text).__name__}")

    def _encode(self, texts, pairs, padding, truncation, limit, max_length,
                add_special_tokens=True, stride=0, is_split_into_words=False):
        """encode_batch with the truncation and padding of this call, the tokenizer's own
        settings restored after."""
        tokenizer = self._tokenizer
        saved_truncation, saved_padding = tokenizer.truncation, tokenizer.padding
        try:
            if truncation and truncation != "do_not_truncate" and limit is not None:
                strategy = truncation if isinstance(truncation, str) else "longest_first"
                tokenizer.enable_truncation(int(limit), stride=stride, strategy=strategy)
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
            return tokenizer.encode_batch(batch, add_special_tokens=add_special_tokens,
                                          is_pretokenized=is_split_into_words)
        except Exception as err:  # the library raises bare Exceptions (a stride too long...)
            if isinstance(err, (ValueError, TypeError)):
                raise
            raise ValueError(f"tokenizer: {err}") from None
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
