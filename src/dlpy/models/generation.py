"""Text generation for the language models, as transformers' ``generate``: greedy search,
sampling (temperature, top-k, top-p) and beam search, over the key/value cache, with
transformers' logits processors (repetition penalty, no-repeat n-grams, minimum length, forced
first and last tokens). ``GenerationConfig`` (generation_config.json) holds the defaults;
decoders that support it decode into a preallocated ``StaticCache``; a streamer
(``TextStreamer``) sees the tokens as they come; max_time and stop_strings stop early.

A decoder model that mixes in ``GenerationMixin`` has ``config`` (vocab_size, eos_token_id,
pad_token_id) and is called as ``model(input_ids, past_key_values=..., attention_mask=...,
position_ids=..., use_cache=True, logits_to_keep=1)``, returning ``.logits`` (batch, seq, vocab)
and ``.past_key_values`` (one tuple of cached arrays a layer, batch on axis 0).

An encoder-decoder model (``config.is_encoder_decoder``: T5, BART) also has
``get_encoder()``, run once on the prompt; the decoder starts from decoder_start_token_id and
is called as ``model(decoder_input_ids=..., encoder_outputs=..., attention_mask=...,
past_key_values=..., use_cache=..., logits_to_keep=1)``."""

from __future__ import annotations

import dataclasses
import os
import time
import unicodedata
from typing import Any, ClassVar

import numpy as np

from dlpy.models import _hf
from dlpy.models.modeling_utils import StaticCache
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, no_grad

__all__ = ["BaseStreamer", "GenerationConfig", "GenerationMixin", "TextStreamer"]

NEG = np.float32(-1.0e9)  # transformers' "never choose this beam" score
GENERATION_CONFIG = "generation_config.json"
TOKEN_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id",
                "forced_bos_token_id", "forced_eos_token_id")


@dataclasses.dataclass
class GenerationConfig:
    """generate's settings under transformers' names, as ``generation_config.json`` holds them.
    None means unset: generate then takes the argument, the model's generation_config, the
    model config's token ids, and last ``DEFAULTS`` (transformers' defaults, except that
    without max_length or max_new_tokens 20 new tokens are made, not 20 in all)."""

    DEFAULTS: ClassVar[dict[str, Any]] = dict(
        max_new_tokens=20, min_length=0, do_sample=False, temperature=1.0, top_k=50,
        top_p=1.0, num_beams=1, num_return_sequences=1, repetition_penalty=1.0,
        length_penalty=1.0, early_stopping=False, no_repeat_ngram_size=0, use_cache=True,
        cache_implementation="static")

    max_length: int | None = None  # prompt + new tokens (max_new_tokens wins)
    max_new_tokens: int | None = None
    min_length: int | None = None  # prompt + new tokens before eos may come
    min_new_tokens: int | None = None  # min_length counted in new tokens (wins)
    max_time: float | None = None  # seconds; rows stop after the step that passes it
    stop_strings: str | list[str] | None = None  # needs generate(tokenizer=...)
    do_sample: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int | None = None
    num_return_sequences: int | None = None
    repetition_penalty: float | None = None
    length_penalty: float | None = None
    early_stopping: bool | str | None = None
    no_repeat_ngram_size: int | None = None
    use_cache: bool | None = None
    cache_implementation: str | None = None  # "static" (preallocated) or "dynamic"
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None

    @classmethod
    def from_dict(cls, values: dict, source: str = "generation config") -> GenerationConfig:
        """From a generation_config.json dict; keys dlpy does not use (transformers_version,
        output_scores...) are ignored, as transformers ignores the ones it does not know."""
        if not isinstance(values, dict):
            raise TypeError(f"{source}: expected a dict, got {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})

    @classmethod
    def from_model_config(cls, config) -> GenerationConfig:
        """The token ids of a model config (eos, pad, bos, decoder start, forced ones)."""
        return cls(**{name: getattr(config, name, None) for name in TOKEN_FIELDS})

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> GenerationConfig:
        """The generation_config.json of the directory ``path``."""
        name = os.path.join(os.fspath(path), GENERATION_CONFIG)
        if not os.path.exists(name):
            raise FileNotFoundError(f"{name}: no such file")
        return cls.from_dict(_hf.read_json(name), name)

    def to_dict(self) -> dict:
        """The fields that are set (transformers' to_diff_dict)."""
        return {key: value for key, value in dataclasses.asdict(self).items()
                if value is not None}

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write generation_config.json into the directory ``path`` (made if missing)."""
        import json

        os.makedirs(os.fspath(path), exist_ok=True)
        _hf._atomic_write(os.path.join(os.fspath(path), GENERATION_CONFIG),
                          (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
                          .encode("utf-8"))

    def update(self, **kwargs) -> dict:
        """Set the given fields; returns the keyword arguments that are not fields."""
        names = {field.name for field in dataclasses.fields(self)}
        for key, value in kwargs.items():
            if key in names:
                setattr(self, key, value)
        return {key: value for key, value in kwargs.items() if key not in names}

    def merged(self, **kwargs) -> GenerationConfig:
        """A copy with the kwargs that are not None set over this config's values."""
        return dataclasses.replace(self, **{k: v for k, v in kwargs.items() if v is not None})


class BaseStreamer:
    """What generate(streamer=...) calls: put(token ids) with the prompt (batch, prompt_len)
    first, then each step's new tokens (batch,); end() once generation stops."""

    def put(self, value) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class TextStreamer(BaseStreamer):
    """Prints the decoded text as generate makes it (batch size 1), as transformers'
    TextStreamer: whole words at a time, the rest at the end. ``tokenizer.decode(ids,
    **decode_kwargs)`` decodes; skip_prompt leaves the prompt out."""

    def __init__(self, tokenizer, skip_prompt: bool = False, **decode_kwargs):
        self.tokenizer, self.skip_prompt, self.decode_kwargs = (tokenizer, skip_prompt,
                                                                decode_kwargs)
        self.token_cache: list[int] = []
        self.print_len = 0
        self.next_tokens_are_prompt = True

    def put(self, value) -> None:
        value = as_array(value)
        if value.ndim > 1 and value.shape[0] > 1:
            raise ValueError(f"TextStreamer: only batch size 1 is supported, got token ids "
                             f"of shape {value.shape}")
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(int(token) for token in value.reshape(-1))
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if text.endswith("\n"):  # flush, keeping the last token as context for spacing
            printable = text[self.print_len:]
            self.token_cache = self.token_cache[-1:]
            self.print_len = len(self.tokenizer.decode(self.token_cache, **self.decode_kwargs))
        elif text and _is_cjk(ord(text[-1])):
            printable = text[self.print_len:]
            self.print_len += len(printable)
        elif all(char.isspace() or unicodedata.category(char)[0] in "LMN"
                 for char in text[self.print_len:]):  # letters, digits, spaces: at once
            printable = text[self.print_len:]
            self.print_len += len(printable)
        else:  # a symbol may start something longer: wait for the next space
            printable = text[self.print_len:text.rfind(" ") + 1]
            self.print_len += len(printable)
        self.on_finalized_text(printable)

    def end(self) -> None:
        printable = ""
        if self.token_cache:
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            printable = text[self.print_len:]
        self.token_cache, self.print_len, self.next_tokens_are_prompt = [], 0, True
        self.on_finalized_text(printable, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Print ``text`` (a newline after the last); override to send it elsewhere."""
        print(text, flush=True, end=None if stream_end else "")


def _is_cjk(code: int) -> bool:
    """Whether the code point is a CJK ideograph (printed at once: no spaces between)."""
    return any(low <= code <= high for low, high in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


class GenerationMixin:
    """``generate`` for a decoder or encoder-decoder language model (see the module's
    docstring). ``generation_config`` (read by from_pretrained from generation_config.json)
    holds its defaults; a class with ``supports_static_cache`` decodes into a StaticCache."""

    generation_config: GenerationConfig | None = None
    supports_static_cache: ClassVar[bool] = False

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int | None = None,
                 do_sample: bool | None = None, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None,
                 repetition_penalty: float | None = None, num_beams: int | None = None,
                 length_penalty: float | None = None, early_stopping: bool | str | None = None,
                 eos_token_id=None, pad_token_id=None, generator=None,
                 num_return_sequences: int | None = None, use_cache: bool | None = None,
                 min_length: int | None = None, no_repeat_ngram_size: int | None = None,
                 forced_bos_token_id=None, forced_eos_token_id=None,
                 decoder_start_token_id=None, generation_config: GenerationConfig | None = None,
                 streamer: BaseStreamer | None = None, max_length: int | None = None,
                 min_new_tokens: int | None = None, max_time: float | None = None,
                 stop_strings: str | list[str] | None = None, tokenizer=None,
                 cache_implementation: str | None = None) -> Tensor:
        """input_ids (batch, prompt_len), left-padded with attention_mask (batch, prompt_len)
        for prompts of different lengths -> (batch * num_return_sequences, prompt_len + new)
        int64, as transformers' generate: greedy when not do_sample and num_beams == 1,
        sampling with do_sample (drawn from ``generator``: a dlpy.Generator or numpy
        Generator, the default generator when None), beam search with num_beams > 1.
        Each argument left None comes from ``generation_config`` (default the model's, see
        GenerationConfig), then the model config (token ids), then transformers' defaults.
        Finished sequences (eos_token_id) are filled with pad_token_id. min_length: eos is
        banned while sequences are shorter; no_repeat_ngram_size: no n-gram twice;
        forced_bos_token_id / forced_eos_token_id: the first / the last token (at the maximum
        length). max_time (seconds) and stop_strings (decoded by ``tokenizer``) stop rows as
        eos does. streamer: put(prompt), put(new tokens) each step, end() (not with beams).
        cache_implementation: "static" (preallocated buffers, where the model supports them)
        or "dynamic" (concatenation). An encoder-decoder model encodes input_ids once and
        returns the decoder's tokens (batch, 1 + new), decoder_start_token_id first."""
        ids = _ids(input_ids, self.config.vocab_size)
        base = generation_config if generation_config is not None else self.generation_config
        if base is not None and not isinstance(base, GenerationConfig):
            raise TypeError(f"generate: generation_config must be a GenerationConfig, got "
                            f"{type(base).__name__}")
        settings = (base or GenerationConfig()).merged(
            max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
            top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
            num_beams=num_beams, length_penalty=length_penalty, early_stopping=early_stopping,
            eos_token_id=eos_token_id, pad_token_id=pad_token_id,
            num_return_sequences=num_return_sequences, use_cache=use_cache,
            min_length=min_length, no_repeat_ngram_size=no_repeat_ngram_size,
            forced_bos_token_id=forced_bos_token_id, forced_eos_token_id=forced_eos_token_id,
            decoder_start_token_id=decoder_start_token_id, max_length=max_length,
            min_new_tokens=min_new_tokens, max_time=max_time, stop_strings=stop_strings,
            cache_implementation=cache_implementation)
        for name in TOKEN_FIELDS:  # unset token ids: the model config's
            if getattr(settings, name) is None:
                setattr(settings, name, getattr(self.config, name, None))
        for name, value in GenerationConfig.DEFAULTS.items():
            if getattr(settings, name) is None and not (name == "max_new_tokens"
                                                        and settings.max_length is not None):
                setattr(settings, name, value)
        return self._generate(ids, attention_mask, settings, generator, streamer, tokenizer)

    def _generate(self, ids, attention_mask, settings: GenerationConfig, generator, streamer,
                  tokenizer) -> Tensor:
        """generate with every setting resolved."""
        encoder_decoder = bool(getattr(self.config, "is_encoder_decoder", False))
        max_new_tokens = settings.max_new_tokens
        if max_new_tokens is None:  # max_length counts the prompt (one start token)
            max_new_tokens = settings.max_length - (1 if encoder_decoder else ids.shape[1])
            if max_new_tokens < 1:
                raise ValueError(f"generate: max_length ({settings.max_length}) leaves no room "
                                 f"for new tokens after the prompt of {ids.shape[1]}; set "
                                 f"max_new_tokens")
        num_beams, num_return_sequences = settings.num_beams, settings.num_return_sequences
        do_sample, temperature = settings.do_sample, settings.temperature
        for name, value in (("max_new_tokens", max_new_tokens), ("num_beams", num_beams),
                            ("num_return_sequences", num_return_sequences)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"generate: {name} must be a positive integer, got {value!r}")
        if num_return_sequences > num_beams and not (do_sample and num_beams == 1):
            raise ValueError(f"generate: num_return_sequences ({num_return_sequences}) must be "
                             f"<= num_beams ({num_beams})")
        if do_sample and num_beams > 1:
            raise NotImplementedError("generate: beam sampling (do_sample with num_beams > 1) "
                                      "is not implemented; use one of them")
        if do_sample and not temperature > 0:
            raise ValueError(f"generate: temperature must be > 0, got {temperature!r}")
        if not 0 < settings.top_p <= 1:
            raise ValueError(f"generate: top_p must be in (0, 1], got {settings.top_p!r}")
        if not settings.repetition_penalty > 0:
            raise ValueError(f"generate: repetition_penalty must be > 0, got "
                             f"{settings.repetition_penalty!r}")
        min_length = settings.min_length
        if settings.min_new_tokens is not None:
            min_length = (1 if encoder_decoder else ids.shape[1]) + settings.min_new_tokens
        for name, value in (("min_length", min_length),
                            ("no_repeat_ngram_size", settings.no_repeat_ngram_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"generate: {name} must be a non-negative integer, got "
                                 f"{value!r}")
        if settings.cache_implementation not in ("static", "dynamic"):
            raise ValueError(f"generate: cache_implementation must be 'static' or 'dynamic', "
                             f"got {settings.cache_implementation!r}")
        if streamer is not None and num_beams > 1:
            raise ValueError("generate: streamer cannot be used with beam search (num_beams "
                             f"= {num_beams}), as in transformers")
        stopper = _Stopper(settings.max_time, settings.stop_strings, tokenizer)
        eos = settings.eos_token_id
        eos = None if eos is None else np.atleast_1d(np.asarray(eos, dtype=np.int64))
        pad = settings.pad_token_id
        if pad is None and eos is not None:
            pad = int(eos[0])  # as transformers: finished rows are filled with eos
        if attention_mask is None:  # transformers' guess: padding where pad (not eos) appears
            guess = pad is not None and np.isin(pad, ids) and (eos is None or pad not in eos)
            attention_mask = (ids != pad) if guess else np.ones_like(ids)
        mask = as_array(attention_mask).astype(np.int64)
        if mask.shape != ids.shape:
            raise ValueError(f"generate: attention_mask must have input_ids' shape {ids.shape}, "
                             f"got {mask.shape}")
        forced_bos_token_id = settings.forced_bos_token_id
        forced_eos_token_id = settings.forced_eos_token_id
        for name, value in (("forced_bos_token_id", forced_bos_token_id),
                            ("forced_eos_token_id", forced_eos_token_id)):
            if value is not None and not all(0 <= int(token) < self.config.vocab_size
                                             for token in np.atleast_1d(value)):
                raise ValueError(f"generate: {name} must lie in [0, vocab_size="
                                 f"{self.config.vocab_size}), got {value!r}")
        use_cache = settings.use_cache
        static = use_cache and settings.cache_implementation == "static" \
            and self.supports_static_cache
        was_training = getattr(self, "training", False)
        self.eval()
        try:
            with no_grad():
                expand = num_beams if num_beams > 1 else num_return_sequences
                encoder = None
                if encoder_decoder:  # the encoder once; the decoder starts from one token
                    start = _decoder_start(self.config, settings.decoder_start_token_id)
                    hidden = self.get_encoder()(input_ids=ids, attention_mask=mask)[0]
                    hidden = np.repeat(hidden.data, expand, 0)
                    encoder = (Tensor(hidden), np.repeat(mask, expand, 0))
                    ids = np.full((len(ids), 1), start, dtype=np.int64)
                    mask = np.ones_like(ids)
                if streamer is not None:
                    streamer.put(ids)
                # transformers 5: the left padding of a decoder's prompt is not penalised
                padding = None if encoder_decoder else (mask != 0).argmax(1)
                processors = _Processors(
                    settings.repetition_penalty, do_sample, temperature, settings.top_k,
                    settings.top_p, prompt_ignore_length=padding,
                    min_length=min_length, no_repeat_ngram_size=settings.no_repeat_ngram_size,
                    forced_bos_token_id=forced_bos_token_id,
                    forced_eos_token_id=forced_eos_token_id, eos_token_id=eos,
                    max_length=ids.shape[1] + max_new_tokens)
                past = None
                if static:  # every position of the run, allocated at the first step
                    past = StaticCache(self.config.num_hidden_layers,
                                       ids.shape[1] + max_new_tokens)
                if num_beams > 1:
                    out = self._beam_search(ids, mask, max_new_tokens, num_beams, processors,
                                            settings.length_penalty, settings.early_stopping,
                                            eos, pad, num_return_sequences, use_cache, encoder,
                                            past, stopper)
                else:
                    if num_return_sequences > 1:
                        ids, mask = (np.repeat(x, num_return_sequences, 0) for x in (ids, mask))
                    out = self._greedy_or_sample(ids, mask, max_new_tokens, do_sample,
                                                 processors, eos, pad, get_rng(generator),
                                                 use_cache, encoder, past, streamer, stopper)
        finally:
            self.train(was_training)
        if streamer is not None:
            streamer.end()
        return Tensor(out)

    # ------------------------------------------------------------------ one step
    def _next_logits(self, ids, mask, positions, past, use_cache, encoder=None):
        """Logits (rows, vocab) for the next token of every row, and the new cache: the whole
        sequence without a cache, else only the tokens the cache has not seen. ``encoder``:
        (encoder states, encoder attention mask) of an encoder-decoder model."""
        seen = _cache_length(past)
        if encoder is not None:
            out = self(decoder_input_ids=ids[:, seen:], encoder_outputs=encoder[0],
                       attention_mask=encoder[1], past_key_values=past, use_cache=use_cache,
                       logits_to_keep=1)
        else:  # no padding: no mask (a one-token step then builds none)
            out = self(ids[:, seen:], past_key_values=past,
                       attention_mask=None if mask.all() else mask,
                       position_ids=positions[:, seen:], use_cache=use_cache, logits_to_keep=1)
        return out.logits.data[:, -1, :].astype(np.float32), out.past_key_values

    # ------------------------------------------------------------------ greedy and sampling
    def _greedy_or_sample(self, ids, mask, max_new_tokens, do_sample, processors, eos, pad,
                          rng, use_cache, encoder=None, past=None, streamer=None,
                          stopper=None):
        prompt_len = ids.shape[1]
        # the token, mask and position tables of the whole run, filled column by column
        total = prompt_len + max_new_tokens
        tokens = np.zeros((len(ids), total), np.int64)
        tokens[:, :prompt_len] = ids
        masks = np.ones((len(ids), total), np.int64)
        masks[:, :prompt_len] = mask
        positions = np.zeros((len(ids), total), np.int64)
        positions[:, :prompt_len] = _positions(mask)
        positions[:, prompt_len:] = positions[:, prompt_len - 1:prompt_len] + np.arange(
            1, max_new_tokens + 1)
        unfinished = np.ones(len(ids), dtype=bool)
        cur_len = prompt_len
        for _ in range(max_new_tokens):
            logits, past = self._next_logits(tokens[:, :cur_len], masks[:, :cur_len],
                                             positions[:, :cur_len], past, use_cache, encoder)
            scores = processors(tokens[:, :cur_len], logits)
            if do_sample:
                next_tokens = _sample(scores, rng)
            else:
                next_tokens = scores.argmax(-1)
            if pad is not None:  # finished rows only grow padding
                next_tokens = np.where(unfinished, next_tokens, pad)
            if eos is not None:
                unfinished &= ~np.isin(next_tokens, eos)
            tokens[:, cur_len] = next_tokens
            cur_len += 1
            if streamer is not None:
                streamer.put(next_tokens)
            if stopper is not None and stopper.active:
                unfinished &= ~stopper(tokens[:, :cur_len], prompt_len)
            if not unfinished.any():
                break
        return tokens[:, :cur_len]

    # ------------------------------------------------------------------ beam search
    def _beam_search(self, ids, mask, max_new_tokens, num_beams, processors, length_penalty,
                     early_stopping, eos, pad, num_return_sequences, use_cache, encoder=None,
                     past=None, stopper=None):
        """transformers' beam search (generation/utils.py, _beam_search), step for step: keep
        the num_beams best running hypotheses; a candidate ending in eos (or at max length)
        joins the finished ones, scored sum(log p) / generated_len ** length_penalty."""
        batch, prompt_len = ids.shape
        max_length = prompt_len + max_new_tokens
        beams, keep = num_beams, max(2, 1 + (0 if eos is None else len(eos))) * num_beams
        fill = (pad if pad else int(eos[0])) if eos is not None else -1
        # running hypotheses and finished ones: (batch, beams, max_length) token tables
        running = np.full((batch, beams, max_length), fill, dtype=np.int64)
        running[:, :, :prompt_len] = ids[:, None, :]
        finished = running.copy()
        running_scores = np.zeros((batch, beams), np.float32)
        running_scores[:, 1:] = NEG  # only beam 0 extends at the first step
        finished_scores = np.full((batch, beams), NEG, np.float32)
        finished_lengths = np.zeros((batch, beams), np.int64)  # generated tokens
        is_finished = np.zeros((batch, beams), dtype=bool)
        improvable = np.ones((batch, 1), dtype=bool)
        top_beams = np.arange(keep) < beams  # the first num_beams of the keep candidates
        flat_mask = np.repeat(mask, beams, axis=0)  # (batch * beams, prompt_len)
        positions = _positions(flat_mask)
        cur_len = prompt_len
        if stopper is not None and stopper.stop_strings:
            raise NotImplementedError("generate: stop_strings with beam search (num_beams > 1) "
                                      "is not implemented; max_time is")
        while True:
            flat = running[:, :, :cur_len].reshape(batch * beams, cur_len)
            logits, past = self._next_logits(flat, flat_mask, positions, past, use_cache,
                                             encoder)
            log_probs = processors(flat, _log_softmax(logits))
            vocab = log_probs.shape[-1]
            log_probs = log_probs.reshape(batch, beams, vocab) + running_scores[:, :, None]
            # the keep best continuations over all beams: (batch, keep)
            top = _topk(log_probs.reshape(batch, beams * vocab), keep)
            top_scores = np.take_along_axis(log_probs.reshape(batch, -1), top, 1)
            source_beam, top_tokens = top // vocab, top % vocab
            candidates = np.take_along_axis(running, source_beam[:, :, None], 1)
            candidates[:, :, cur_len] = top_tokens
            done = np.full((batch, keep), cur_len + 1 >= max_length)
            if eos is not None:
                done |= np.isin(top_tokens, eos)
            # running beams for the next step: the best candidates that did not finish
            alive_scores = top_scores + done.astype(np.float32) * NEG
            pick = _topk(alive_scores, beams)
            running = np.take_along_axis(candidates, pick[:, :, None], 1)
            running_scores = np.take_along_axis(alive_scores, pick, 1)
            beam_source = np.take_along_axis(source_beam, pick, 1)
            # finished hypotheses: merge the newly finished top candidates, keep num_beams best
            just_finished = done & top_beams[None, :]
            new_scores = top_scores / np.float32((cur_len + 1 - prompt_len) ** length_penalty)
            full = is_finished.all(-1, keepdims=True) & (early_stopping is True)
            new_scores = new_scores + full * NEG + (~improvable) * NEG + (~just_finished) * NEG
            merged_scores = np.concatenate([finished_scores, new_scores], 1)
            best = _topk(merged_scores, beams)
            finished = np.take_along_axis(np.concatenate([finished, candidates], 1),
                                          best[:, :, None], 1)
            finished_scores = np.take_along_axis(merged_scores, best, 1)
            new_lengths = np.where(just_finished, cur_len + 1 - prompt_len, 0)
            finished_lengths = np.take_along_axis(
                np.concatenate([finished_lengths, new_lengths], 1), best, 1)
            is_finished = np.take_along_axis(np.concatenate([is_finished, just_finished], 1),
                                             best, 1)
            # the cache follows the beams it came from
            if past is not None:
                order = (beam_source + np.arange(batch)[:, None] * beams).reshape(-1)
                if hasattr(past, "reorder"):  # StaticCache, SlidingWindowCache: in place
                    past.reorder(order)
                else:
                    past = tuple(tuple(Tensor(x.data[order]) for x in layer) for layer in past)
            cur_len += 1
            flat_mask = np.concatenate([flat_mask, np.ones((batch * beams, 1), np.int64)], 1)
            positions = np.concatenate([positions, positions[:, -1:] + 1], 1)
            improvable = _improvable(improvable, running_scores, finished_scores, is_finished,
                                     cur_len - prompt_len, max_length - prompt_len,
                                     early_stopping, length_penalty)
            if not (improvable.any() and not (is_finished.all() and early_stopping is True)
                    and not done.all()):
                break
            if stopper is not None and stopper.active and stopper(flat, prompt_len).all():
                break  # out of time: the finished hypotheses so far
        out = finished[:, :num_return_sequences].reshape(batch * num_return_sequences, -1)
        return out[:, :prompt_len + finished_lengths[:, :num_return_sequences].max()]


class _Stopper:
    """transformers' MaxTimeCriteria and StopStringCriteria (the text decoded from the new
    tokens ends with a stop string): (ids (rows, cur_len), prompt_len) -> rows done (rows,)."""

    def __init__(self, max_time, stop_strings, tokenizer):
        self.start, self.max_time = time.monotonic(), max_time
        if max_time is not None and not max_time > 0:
            raise ValueError(f"generate: max_time must be > 0 seconds, got {max_time!r}")
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        self.stop_strings = list(stop_strings or ())
        if self.stop_strings and tokenizer is None:
            raise ValueError("generate: stop_strings needs tokenizer=... (to decode the new "
                             "tokens)")
        if not all(isinstance(text, str) and text for text in self.stop_strings):
            raise ValueError(f"generate: stop_strings must be non-empty strings, got "
                             f"{stop_strings!r}")
        self.tokenizer = tokenizer
        self.active = max_time is not None or bool(self.stop_strings)

    def __call__(self, ids: np.ndarray, prompt_len: int) -> np.ndarray:
        if self.max_time is not None and time.monotonic() - self.start > self.max_time:
            return np.ones(len(ids), dtype=bool)
        done = np.zeros(len(ids), dtype=bool)
        for row in range(len(ids)) if self.stop_strings else ():
            text = self.tokenizer.decode(ids[row, prompt_len:].tolist())
            done[row] = any(text.endswith(stop) for stop in self.stop_strings)
        return done


def _cache_length(past) -> int:
    """The number of positions a cache holds (0 for none)."""
    if past is None:
        return 0
    if hasattr(past, "get_seq_length"):  # StaticCache, SlidingWindowCache (cut layers)
        return past.get_seq_length()
    return past[0][0].shape[-2]


def _improvable(improvable, running_scores, finished_scores, is_finished, generated,
                max_generated, early_stopping, length_penalty):
    """Whether each batch row's best running beam could still beat its worst finished one
    (transformers' _check_early_stop_heuristic)."""
    if early_stopping == "never" and length_penalty > 0.0:
        generated = max_generated
    best_running = running_scores[:, :1] / np.float32(generated ** length_penalty)
    worst_finished = np.where(is_finished, finished_scores.min(1, keepdims=True), NEG)
    return improvable & (best_running > worst_finished).any(-1, keepdims=True)


class _Processors:
    """transformers' logits processors in its order: repetition penalty, no-repeat n-grams,
    minimum length, forced first token, forced last token, then (sampling only) temperature,
    top-k, top-p. (ids (rows, cur_len), scores (rows, vocab)) -> scores."""

    def __init__(self, repetition_penalty, do_sample, temperature, top_k, top_p, *,
                 prompt_ignore_length=None, min_length=0, no_repeat_ngram_size=0,
                 forced_bos_token_id=None, forced_eos_token_id=None, eos_token_id=None,
                 max_length=None):
        self.repetition_penalty, self.do_sample = repetition_penalty, do_sample
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.min_length, self.ngram = min_length, no_repeat_ngram_size
        self.eos = None if eos_token_id is None else np.atleast_1d(eos_token_id)
        self.forced_bos = forced_bos_token_id
        self.forced_eos = None if forced_eos_token_id is None or max_length is None \
            else np.atleast_1d(forced_eos_token_id)
        self.max_length = max_length
        self.ignore = prompt_ignore_length  # (batch,): leading positions the penalty skips

    def __call__(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        scores = scores.copy()
        cur_len = ids.shape[1]
        if self.repetition_penalty != 1.0:  # seen tokens: positive scores / p, negative * p
            rows, seen_ids = np.arange(len(ids))[:, None], ids
            if self.ignore is not None:  # skipped positions point at an extra column
                ignore = np.repeat(self.ignore, len(ids) // len(self.ignore))
                seen_ids = np.where(np.arange(cur_len)[None, :] < ignore[:, None],
                                    scores.shape[1], ids)
                scores = np.concatenate([scores, np.zeros((len(ids), 1), scores.dtype)], 1)
            seen = scores[rows, seen_ids]
            scores[rows, seen_ids] = np.where(seen < 0, seen * self.repetition_penalty,
                                              seen / self.repetition_penalty)
            if self.ignore is not None:
                scores = scores[:, :-1]
        if self.ngram and cur_len >= self.ngram:
            _ban_repeated_ngrams(ids, scores, self.ngram)
        if cur_len < self.min_length and self.eos is not None:
            scores[:, self.eos] = -np.inf
        if self.forced_bos is not None and cur_len == 1:
            scores[:] = -np.inf
            scores[:, self.forced_bos] = 0.0
        if self.forced_eos is not None and cur_len == self.max_length - 1:
            scores[:] = -np.inf
            scores[:, self.forced_eos] = 0.0
        if not self.do_sample:
            return scores
        if self.temperature != 1.0:
            scores = scores / np.float32(self.temperature)
        if self.top_k:  # keep the top_k best (ties with the k-th kept too)
            k = min(self.top_k, scores.shape[-1])
            kth = -np.partition(-scores, k - 1, axis=-1)[:, k - 1:k]
            scores = np.where(scores < kth, -np.inf, scores).astype(np.float32)
        if self.top_p < 1.0:  # keep the smallest set of best tokens with probability >= top_p
            order = np.argsort(scores, axis=-1, kind="stable")  # ascending
            cumulative = np.cumsum(_softmax(np.take_along_axis(scores, order, -1)), -1)
            drop = cumulative <= 1 - self.top_p
            drop[:, -1] = False  # always keep the best token
            removed = np.zeros_like(drop)
            np.put_along_axis(removed, order, drop, -1)
            scores = np.where(removed, -np.inf, scores).astype(np.float32)
        return scores


def _ban_repeated_ngrams(ids: np.ndarray, scores: np.ndarray, n: int) -> None:
    """Set to -inf (in place) every token that would repeat an n-gram of its row: the last
    token of each earlier n-gram whose first n - 1 tokens are the row's last n - 1."""
    windows = np.lib.stride_tricks.sliding_window_view(ids, n, axis=1)  # (rows, count, n)
    suffix = ids[:, ids.shape[1] - n + 1:]  # (rows, n - 1)
    hits = (windows[:, :, :n - 1] == suffix[:, None, :]).all(-1)  # (rows, count)
    rows, starts = np.nonzero(hits)
    scores[rows, windows[rows, starts, n - 1]] = -np.inf


def _decoder_start(config, decoder_start_token_id) -> int:
    """The decoder's first token: the argument, the config's decoder_start_token_id, or its
    bos_token_id, as transformers."""
    for value in (decoder_start_token_id, getattr(config, "decoder_start_token_id", None),
                  getattr(config, "bos_token_id", None)):
        if value is not None:
            if not 0 <= int(value) < config.vocab_size:
                raise ValueError(f"generate: decoder_start_token_id must lie in [0, "
                                 f"vocab_size={config.vocab_size}), got {value}")
            return int(value)
    raise ValueError("generate: an encoder-decoder model needs decoder_start_token_id (the "
                     "decoder's first token): pass it, or set it in the config")


def _ids(input_ids, vocab_size) -> np.ndarray:
    ids = as_array(input_ids)
    if ids.dtype.kind not in "iu" or ids.ndim != 2:
        raise ValueError(f"generate: input_ids must be integers (batch, prompt_len), got "
                         f"{ids.dtype} of shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"generate: input_ids must lie in [0, vocab_size={vocab_size}), got "
                         f"values from {ids.min()} to {ids.max()}")
    return ids.astype(np.int64)


def _positions(mask: np.ndarray) -> np.ndarray:
    """Position ids from the attention mask, as transformers' generate: counting tokens only,
    so left padding does not shift the prompt (padding itself gets position 0)."""
    return np.where(mask == 0, 0, np.cumsum(mask, -1) - 1).astype(np.int64)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(-1, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))).astype(np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _topk(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest of each row, largest first (ties: the lower index first).
    Wide rows: a partition finds each row's k-th value and only the entries at or above it are
    sorted (the stable full sort's order); many ties or NaNs there fall back to the full sort."""
    width = x.shape[-1]
    if width <= 1024 or k >= width // 8:
        return np.argsort(-x, axis=-1, kind="stable")[:, :k]
    kth = -np.partition(-x, k - 1, axis=-1)[:, k - 1:k]
    keep = x >= kth
    counts = keep.sum(-1)
    if counts.min() < k or counts.max() > 4 * k:
        return np.argsort(-x, axis=-1, kind="stable")[:, :k]
    out = np.empty((x.shape[0], k), dtype=np.int64)
    for row in range(x.shape[0]):
        candidates = np.flatnonzero(keep[row])  # ascending: ties keep the lower index first
        out[row] = candidates[np.argsort(-x[row, candidates], kind="stable")[:k]]
    return out


def _sample(scores: np.ndarray, rng) -> np.ndarray:
    """One token a row, drawn with probability softmax(scores)."""
    cumulative = np.cumsum(_softmax(scores.astype(np.float64)), -1)
    draws = rng.random((len(scores), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative < draws).sum(-1), scores.shape[-1] - 1)
