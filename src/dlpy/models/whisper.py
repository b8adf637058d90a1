"""Whisper (Radford et al., 2022) in Hugging Face ``transformers``' layout: the same module and
parameter names (``model.encoder.conv1.weight``, ``model.decoder.layers.0.encoder_attn...``),
so a transformers checkpoint loads with ``from_pretrained`` and gives the same logits.

    encoder:  log-mel features (batch, num_mel_bins, 2 * max_source_positions) -> gelu(conv1),
              gelu(conv2, stride 2) -> (batch, max_source_positions, d_model) + sinusoidal
              positions (fixed); pre-LN layers x + attn(ln(x)), x + fc2(gelu(fc1(ln(x))));
              layer_norm
    decoder:  embed_tokens(ids) + learned positions; pre-LN layers with causal self-attention,
              cross-attention over the encoder and the feed-forward; layer_norm; logits =
              proj_out(x), proj_out tied to embed_tokens
    attn:     softmax(q k^T / sqrt(head_dim)) v; k_proj has no bias
    generate: greedy, short-form (one 30 s window, no timestamps): the decoder starts from
              decoder_start_token_id, the language and task tokens (forced_decoder_ids,
              language= / task=, or the language detected) and no_timestamps_token_id, or from
              decoder_input_ids given; suppress_tokens never, begin_suppress_tokens not first
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.bart import BartAttention
from dlpy.models.generation import (
    GENERATION_CONFIG,
    GenerationConfig,
    GenerationMixin,
    _Processors,
)
from dlpy.models.modeling_utils import (
    BaseModelOutput,
    PretrainedConfig,
    PreTrainedModel,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    activation,
    as_ids,
    causal_mask,
    encoder_states,
    last_positions,
    lm_head,
    past_length,
    shift_tokens_right,
    token_loss,
)
from dlpy.random import get_rng
from dlpy.tensor import Tensor, no_grad

__all__ = ["WhisperConfig", "WhisperForConditionalGeneration", "WhisperGenerationConfig",
           "WhisperModel", "sinusoids"]


# transformers' generate arguments dlpy's Whisper takes only at these (greedy) values
GREEDY_ONLY = {"num_beams": (1,), "do_sample": (False,), "return_timestamps": (False,),
               "temperature": (0.0, 1.0), "prompt_ids": ()}


@dataclasses.dataclass
class WhisperConfig(PretrainedConfig):
    """transformers' WhisperConfig fields (openai/whisper-tiny's sizes)."""

    model_type: ClassVar[str] = "whisper"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "vocab_size", "num_mel_bins", "d_model", "encoder_layers", "decoder_layers",
        "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim",
        "decoder_ffn_dim", "max_source_positions", "max_target_positions")
    vocab_size: int = 51865
    num_mel_bins: int = 80
    encoder_layers: int = 4
    encoder_attention_heads: int = 6
    decoder_layers: int = 4
    decoder_attention_heads: int = 6
    decoder_ffn_dim: int = 1536
    encoder_ffn_dim: int = 1536
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    decoder_start_token_id: int | None = 50257
    use_cache: bool = True
    is_encoder_decoder: bool = True
    activation_function: str = "gelu"
    d_model: int = 384
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False
    max_source_positions: int = 1500
    max_target_positions: int = 448
    pad_token_id: int | None = 50256
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None
    forced_decoder_ids: list | None = None
    apply_spec_augment: bool = False
    tie_word_embeddings: bool = True

    def _checked(self, source: str = "config"):
        super()._checked(source)
        for heads in (self.encoder_attention_heads, self.decoder_attention_heads):
            if self.d_model % heads:
                raise ValueError(f"{source}: d_model ({self.d_model}) must be a multiple of "
                                 f"the attention heads ({heads})")
        if self.d_model % 2:
            raise ValueError(f"{source}: d_model ({self.d_model}) must be even (sinusoidal "
                             f"positions pair sines and cosines)")
        activation(self.activation_function, source)
        if self.encoder_layerdrop or self.decoder_layerdrop:
            raise NotImplementedError(f"{source}: layerdrop (skipping whole layers in "
                                      f"training) is not implemented; set it to 0")
        return self

    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_hidden_layers(self) -> int:  # transformers' attribute_map
        return self.encoder_layers


@dataclasses.dataclass
class WhisperGenerationConfig(GenerationConfig):
    """GenerationConfig with the fields a Whisper generation_config.json adds: the prompt
    tokens (forced_decoder_ids [[1, language], [2, task], ...], lang_to_id, task_to_id,
    no_timestamps_token_id) and the tokens never to generate (suppress_tokens) or not first
    (begin_suppress_tokens)."""

    forced_decoder_ids: list | None = None
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None
    no_timestamps_token_id: int | None = None
    lang_to_id: dict[str, int] | None = None
    task_to_id: dict[str, int] | None = None
    is_multilingual: bool | None = None
    language: str | None = None
    task: str | None = None


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """(length, channels): sin(t / s_i) then cos(t / s_i), s_i = max_timescale^(i / (c/2 - 1))
    (Whisper's encoder positions)."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inverse = np.exp(-increment * np.arange(channels // 2, dtype=np.float32))
    scaled = np.arange(length, dtype=np.float32)[:, None] * inverse[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], 1).astype(np.float32)


# ------------------------------------------------------------------------------------ layers
class WhisperAttention(BartAttention):
    """BART's attention with k_proj without bias; self-attention (a cache of past keys
    appended) or cross-attention over ``key_value_states`` (its keys cached once)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, rng=None):
        super().__init__(d_model, num_heads, dropout, rng=rng)
        self.k_proj = nn.Linear(d_model, d_model, bias=False, rng=rng)  # keeps its place

    def forward(self, x: Tensor, mask=None, key_value_states=None, layer_past=None):
        return super().forward(x, mask, key_value_states, layer_past)


class _FeedForward(nn.Module):
    """The pre-LN feed-forward half of a layer: x + fc2(act(fc1(final_layer_norm(x))))."""

    def _add_feed_forward(self, config: WhisperConfig, ffn_dim: int, rng) -> None:
        self.fc1 = nn.Linear(config.d_model, ffn_dim, rng=rng)
        self.fc2 = nn.Linear(ffn_dim, config.d_model, rng=rng)
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.act = activation(config.activation_function, "WhisperConfig")
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def _feed_forward(self, x: Tensor) -> Tensor:
        hidden = self.activation_dropout(self.act(self.fc1(self.final_layer_norm(x))))
        return x + self.dropout(self.fc2(hidden))


class WhisperEncoderLayer(_FeedForward):
    """x + attn(self_attn_layer_norm(x)), then the feed-forward."""

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__()
        self.self_attn = WhisperAttention(config.d_model, config.encoder_attention_heads,
                                          config.attention_dropout, rng)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self._add_feed_forward(config, config.encoder_ffn_dim, rng)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.self_attn(self.self_attn_layer_norm(x))
        return self._feed_forward(x + self.dropout(out))


class WhisperDecoderLayer(_FeedForward):
    """x + causal_attn(ln(x)); x + cross_attn(ln(x), encoder); the feed-forward -> x and the
    layer's cache (self k, self v, cross k, cross v)."""

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__()
        d, heads = config.d_model, config.decoder_attention_heads
        self.self_attn = WhisperAttention(d, heads, config.attention_dropout, rng)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = WhisperAttention(d, heads, config.attention_dropout, rng)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self._add_feed_forward(config, config.decoder_ffn_dim, rng)

    def forward(self, x, mask, encoder_hidden_states=None, layer_past=None):
        out, present = self.self_attn(self.self_attn_layer_norm(x), mask,
                                      layer_past=None if layer_past is None else layer_past[:2])
        x = x + self.dropout(out)
        if encoder_hidden_states is not None:
            out, cross = self.encoder_attn(self.encoder_attn_layer_norm(x), None,
                                           encoder_hidden_states,
                                           None if layer_past is None else layer_past[2:])
            x = x + self.dropout(out)
            present = present + cross
        return self._feed_forward(x), present


class WhisperEncoder(nn.Module):
    """input_features (batch, num_mel_bins, 2 * max_source_positions) -> BaseModelOutput(
    last_hidden_state (batch, max_source_positions, d_model), hidden_states)."""

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__()
        self.config = config
        d = config.d_model
        self.conv1 = nn.Conv1d(config.num_mel_bins, d, 3, padding=1, rng=rng)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1, rng=rng)
        self.embed_positions = nn.Embedding(config.max_source_positions, d, rng=rng)
        self.embed_positions.weight.data[...] = sinusoids(config.max_source_positions, d)
        self.embed_positions.weight.requires_grad = False  # fixed, as transformers
        self.layers = nn.ModuleList([WhisperEncoderLayer(config, rng)
                                     for _ in range(config.encoder_layers)])
        self.layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_features=None, attention_mask=None,
                output_hidden_states: bool = False) -> BaseModelOutput:
        """attention_mask is accepted and ignored, as transformers: Whisper attends to the
        padding (silence) of its 30 s window."""
        config = self.config
        frames = 2 * config.max_source_positions
        if input_features is None:
            raise ValueError("WhisperEncoder: give input_features (batch, num_mel_bins, "
                             "frames)")
        if not isinstance(input_features, Tensor):
            input_features = Tensor(np.asarray(input_features, dtype=np.float32))
        if input_features.ndim != 3 or input_features.shape[1:] != (config.num_mel_bins,
                                                                      frames):
            raise ValueError(f"WhisperEncoder: input_features must be (batch, num_mel_bins="
                             f"{config.num_mel_bins}, {frames} frames) (pad the audio to "
                             f"{frames} frames, as WhisperFeatureExtractor does), got shape "
                             f"{tuple(input_features.shape)}")
        if self.training and config.apply_spec_augment:
            raise NotImplementedError("WhisperEncoder: SpecAugment (apply_spec_augment) is not "
                                      "implemented; set it to False")
        x = F.gelu(self.conv1(input_features))
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (batch, positions, d_model)
        x = self.dropout(x + self.embed_positions.weight)
        hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x)
            if output_hidden_states:
                hidden.append(x)
        x = self.layer_norm(x)
        if output_hidden_states:  # the last one normalised, as transformers 5
            hidden[-1] = x
        return BaseModelOutput(x, None if hidden is None else tuple(hidden))


class WhisperDecoder(nn.Module):
    """decoder input_ids (batch, tgt) over encoder_hidden_states (batch, src, d_model) ->
    (last_hidden_state (batch, tgt, d_model), the new cache or None)."""

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed_tokens = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id,
                                         rng=rng)
        self.embed_positions = nn.Embedding(config.max_target_positions, d, rng=rng)
        self.layers = nn.ModuleList([WhisperDecoderLayer(config, rng)
                                     for _ in range(config.decoder_layers)])
        self.layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None,
                past_key_values=None, inputs_embeds=None, position_ids=None,
                use_cache: bool | None = None):
        name, config = "WhisperDecoder", self.config
        past_len = past_length(name, past_key_values, len(self.layers))
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{name}: give exactly one of decoder_input_ids and "
                             f"decoder_inputs_embeds")
        if input_ids is not None:
            inputs_embeds = self.embed_tokens(as_ids(name, input_ids, config.vocab_size,
                                                     "decoder_input_ids"))
        batch, seq_len = inputs_embeds.shape[:2]
        if position_ids is None:
            if past_len + seq_len > config.max_target_positions:
                raise ValueError(f"{name}: {past_len + seq_len} positions are beyond the "
                                 f"max_target_positions={config.max_target_positions} the "
                                 f"model was built for")
            position_ids = np.arange(past_len, past_len + seq_len)[None, :]
        position_ids = np.asarray(getattr(position_ids, "data", position_ids))
        x = self.dropout(inputs_embeds + self.embed_positions(position_ids))
        mask = causal_mask(name, attention_mask, batch, seq_len, past_len)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, mask, encoder_hidden_states,
                               None if past_key_values is None else past_key_values[i])
            presents.append(present)
        use_cache = config.use_cache if use_cache is None else use_cache
        return self.layer_norm(x), tuple(presents) if use_cache else None


# ------------------------------------------------------------------------------------ models
class WhisperPreTrainedModel(PreTrainedModel, nn.Module):
    config_class: ClassVar[type] = WhisperConfig
    base_model_prefix: ClassVar[str] = "model"
    ignored_keys = ("embed_positions.position_ids",)

    def __init__(self, config: WhisperConfig):
        super().__init__()
        self._set_config(config)

    def _init_weights(self, rng) -> None:
        """N(0, init_std) weights (the encoder's sinusoids kept), zero biases."""
        rng = get_rng(rng)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv1d)) \
                    and module.weight.requires_grad:
                module.weight.data[...] = rng.normal(0.0, self.config.init_std,
                                                     module.weight.shape)
                if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    module.weight.data[module.padding_idx] = 0
                if getattr(module, "bias", None) is not None:
                    module.bias.data[...] = 0


class WhisperModel(WhisperPreTrainedModel):
    """The encoder and the decoder (no head). input_features (batch, mels, frames),
    decoder_input_ids (batch, tgt) -> Seq2SeqModelOutput(last_hidden_state (batch, tgt,
    d_model), past_key_values, encoder_last_hidden_state)."""

    ignored_prefixes = ("proj_out.",)

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__(config)
        rng = get_rng(rng)
        self.encoder = WhisperEncoder(config, rng)
        self.decoder = WhisperDecoder(config, rng)
        self._init_weights(rng)

    def get_encoder(self) -> WhisperEncoder:
        return self.encoder

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                decoder_inputs_embeds=None, decoder_position_ids=None,
                use_cache: bool | None = None) -> Seq2SeqModelOutput:
        """attention_mask (of the features) is ignored, as transformers; past_key_values:
        one (self k, self v, cross k, cross v) a decoder layer."""
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("WhisperModel: give decoder_input_ids (the decoder's tokens, "
                             "decoder_start_token_id first) or labels to the LM")
        if encoder_outputs is None:
            encoded = self.encoder(input_features).last_hidden_state
        else:
            encoded = encoder_states("WhisperModel", encoder_outputs)
        hidden, presents = self.decoder(decoder_input_ids, decoder_attention_mask, encoded,
                                        past_key_values, decoder_inputs_embeds,
                                        decoder_position_ids, use_cache)
        return Seq2SeqModelOutput(hidden, presents, encoded)


class WhisperForConditionalGeneration(GenerationMixin, WhisperPreTrainedModel):
    """Whisper with its output projection (proj_out, tied to the decoder's embed_tokens).
    With ``labels`` (batch, tgt) the decoder reads them shifted right (after
    decoder_start_token_id, -100 -> pad) and the loss is their mean cross-entropy."""

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__(config)
        rng = get_rng(rng)
        self.model = WhisperModel(config, rng)
        self.proj_out = lm_head(config.d_model, self.model.decoder.embed_tokens,
                                config.tie_word_embeddings, config.init_std, rng)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, rng=None, config=None):
        """As PreTrainedModel's, generation_config.json read with Whisper's fields."""
        model = super().from_pretrained(path, rng=rng, config=config)
        if os.path.exists(os.path.join(os.fspath(path), GENERATION_CONFIG)):
            model.generation_config = WhisperGenerationConfig.from_pretrained(path)
        return model

    def get_encoder(self) -> WhisperEncoder:
        return self.model.encoder

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                decoder_inputs_embeds=None, decoder_position_ids=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0) -> Seq2SeqLMOutput:
        """As WhisperModel, then logits (batch, tgt, vocab) (the last ``logits_to_keep``
        only when > 0) and, with labels (batch, tgt), the loss."""
        config = self.config
        if labels is not None:
            labels = np.asarray(getattr(labels, "data", labels))
            if labels.ndim == 2 and labels.shape[1] > config.max_target_positions:
                raise ValueError(f"WhisperForConditionalGeneration: labels of length "
                                 f"{labels.shape[1]} exceed max_target_positions="
                                 f"{config.max_target_positions}")
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = shift_tokens_right(labels, config.pad_token_id,
                                                       config.decoder_start_token_id)
        out = self.model(input_features, attention_mask, decoder_input_ids,
                         decoder_attention_mask, encoder_outputs, past_key_values,
                         decoder_inputs_embeds, decoder_position_ids, use_cache)
        logits = self.proj_out(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else token_loss(logits, labels, "Whisper loss")
        return Seq2SeqLMOutput(loss, logits, out.past_key_values, out.encoder_last_hidden_state)

    # ------------------------------------------------------------------------ generate
    def generate(self, input_features=None, generation_config: GenerationConfig | None = None,
                 max_new_tokens: int | None = None, max_length: int | None = None,
                 decoder_input_ids=None, forced_decoder_ids=None, language: str | None = None,
                 task: str | None = None, eos_token_id=None, pad_token_id=None,
                 use_cache: bool | None = None, encoder_outputs=None, streamer=None,
                 **kwargs) -> Tensor:
        """Greedy transcription of input_features (batch, mels, frames) (one 30 s window,
        no timestamps), as transformers' WhisperForConditionalGeneration.generate: the new
        tokens (batch, n) only, a row's final eos dropped and shorter rows padded on the right
        with pad_token_id. The prompt: ``decoder_input_ids`` (batch, k) when given, else
        decoder_start_token_id, then the language (``language`` "de" or "<|de|>", or one of
        a few English names, through lang_to_id; else forced_decoder_ids [[1, lang], [2,
        task]...]; else detected, when the config has lang_to_id) and the task (``task``
        "transcribe" / "translate" through task_to_id), then no_timestamps_token_id.
        max_new_tokens, or max_length (new tokens + prompt, at most max_target_positions),
        bound the length. Settings left None come from ``generation_config`` (default the
        model's), then the model config."""
        for key, value in kwargs.items():
            if key not in GREEDY_ONLY:
                raise TypeError(f"generate: unexpected argument {key!r}")
            if value is not None and (not np.isscalar(value) or value not in GREEDY_ONLY[key]):
                raise NotImplementedError(f"generate: {key}={value!r} is not implemented for "
                                          f"Whisper (greedy, short-form, no timestamps only)")
        base = generation_config if generation_config is not None else self.generation_config
        settings = WhisperGenerationConfig(**{
            field.name: getattr(base, field.name, None)
            for field in dataclasses.fields(WhisperGenerationConfig)}) if base is not None \
            else WhisperGenerationConfig()
        settings = settings.merged(max_new_tokens=max_new_tokens, max_length=max_length,
                                   forced_decoder_ids=forced_decoder_ids, language=language,
                                   task=task, eos_token_id=eos_token_id,
                                   pad_token_id=pad_token_id, use_cache=use_cache)
        for name in ("decoder_start_token_id", "eos_token_id", "pad_token_id",
                     "forced_decoder_ids", "suppress_tokens", "begin_suppress_tokens"):
            if getattr(settings, name) is None:
                setattr(settings, name, getattr(self.config, name, None))
        config = self.config
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                if encoder_outputs is None:
                    encoded = self.model.encoder(input_features).last_hidden_state
                else:
                    encoded = encoder_states("generate", encoder_outputs)
                if decoder_input_ids is None:
                    prompt = self._prompt_tokens(settings, encoded)
                else:
                    prompt = as_ids("generate", decoder_input_ids, config.vocab_size,
                                    "decoder_input_ids")
                    if len(prompt) != encoded.shape[0]:
                        raise ValueError(f"generate: decoder_input_ids hold {len(prompt)} rows "
                                         f"for {encoded.shape[0]} inputs")
                steps = self._max_new_tokens(settings, prompt.shape[1])
                eos = settings.eos_token_id
                eos = None if eos is None else np.atleast_1d(np.asarray(eos, np.int64))
                pad = settings.pad_token_id if settings.pad_token_id is not None else \
                    (None if eos is None else int(eos[0]))
                processors = _Suppress(
                    _Processors(1.0, False, 1.0, 0, 1.0, eos_token_id=eos),
                    settings.suppress_tokens, settings.begin_suppress_tokens, prompt.shape[1])
                use = True if settings.use_cache is None else settings.use_cache
                if streamer is not None:
                    streamer.put(prompt)
                tokens = self._greedy_or_sample(
                    prompt, np.ones_like(prompt), steps, False, processors, eos, pad,
                    get_rng(None), use, (encoded, None), None, streamer, None)
        finally:
            self.train(was_training)
        if streamer is not None:
            streamer.end()
        return Tensor(_short_form_output(tokens[:, prompt.shape[1]:], eos, pad))

    def _prompt_tokens(self, settings: WhisperGenerationConfig, encoded: Tensor) -> np.ndarray:
        """The decoder's first tokens (batch, k), as transformers' _retrieve_init_tokens."""
        batch = encoded.shape[0]
        start = settings.decoder_start_token_id
        if start is None:
            raise ValueError("generate: Whisper needs decoder_start_token_id (its "
                             "<|startoftranscript|>): set it in the config or generation config")
        tokens: list = [int(start)]
        if settings.language is None and settings.task is None and settings.forced_decoder_ids:
            forced = [list(pair) for pair in settings.forced_decoder_ids]
            position = 1
            while forced and forced[0][0] == position:  # [[1, lang], [2, task], ...]
                tokens.append(forced.pop(0)[1])
                position += 1
            if forced:
                raise ValueError(f"generate: forced_decoder_ids must give positions 1, 2, ... "
                                 f"in order (Whisper's prompt), got {settings.forced_decoder_ids}")
        rows = [list(tokens) for _ in range(batch)]
        languages = None
        if settings.language is not None:
            languages = [self._language_id(settings)] * batch
        elif settings.lang_to_id and (len(tokens) == 1 or tokens[1] is None):
            languages = self._detect_language(settings, encoded)
        for row, language in zip(rows, languages or ()):
            if len(row) > 1:
                row[1] = language
            else:
                row.append(language)
        for row in rows:
            if settings.task is not None:
                if settings.task not in (settings.task_to_id or {}):
                    raise ValueError(f"generate: task {settings.task!r} is not in the "
                                     f"generation config's task_to_id "
                                     f"{sorted(settings.task_to_id or {})}")
                row.append(settings.task_to_id[settings.task])
            elif settings.language is not None and settings.task_to_id:
                if not set(row) & set(settings.task_to_id.values()):
                    row.append(settings.task_to_id["transcribe"])
            stamp = settings.no_timestamps_token_id
            if stamp is not None and row[-1] != stamp:
                row.append(stamp)
        prompt = np.array([[t for t in row if t is not None] for row in rows], dtype=np.int64)
        return as_ids("generate", prompt, self.config.vocab_size, "the prompt tokens")

    @staticmethod
    def _language_id(settings: WhisperGenerationConfig) -> int:
        """lang_to_id's id of ``language``: a token "<|de|>", a code "de" or a name."""
        from_names = {"english": "en", "german": "de", "french": "fr", "spanish": "es",
                      "korean": "ko", "japanese": "ja", "chinese": "zh", "italian": "it"}
        table = settings.lang_to_id or {}
        language = settings.language.lower()
        for token in (language, f"<|{language}|>", f"<|{from_names.get(language, '')}|>"):
            if token in table:
                return int(table[token])
        raise ValueError(f"generate: language {settings.language!r} is not in the generation "
                         f"config's lang_to_id {sorted(table)}")

    def _detect_language(self, settings: WhisperGenerationConfig, encoded: Tensor) -> list:
        """The most likely language token of each row after decoder_start_token_id."""
        start = np.full((encoded.shape[0], 1), settings.decoder_start_token_id, np.int64)
        logits = self(decoder_input_ids=start, encoder_outputs=encoded,
                      use_cache=False).logits.data[:, -1]
        allowed = np.array(sorted(settings.lang_to_id.values()))
        return [int(allowed[i]) for i in logits[:, allowed].argmax(-1)]

    def _max_new_tokens(self, settings: WhisperGenerationConfig, prompt_len: int) -> int:
        """max_new_tokens, or max_length counted after the prompt, within the decoder's
        max_target_positions (transformers' _set_max_new_tokens_and_length)."""
        limit = self.config.max_target_positions
        if settings.max_new_tokens is not None:
            if settings.max_new_tokens + prompt_len > limit:
                raise ValueError(f"generate: {prompt_len} prompt tokens + max_new_tokens="
                                 f"{settings.max_new_tokens} exceed max_target_positions="
                                 f"{limit}")
            steps = settings.max_new_tokens
        else:
            max_length = 20 if settings.max_length is None else settings.max_length
            steps = min(max_length + min(limit // 2 - 1, prompt_len), limit) - prompt_len
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"generate: no room for new tokens after {prompt_len} prompt "
                             f"tokens (max_new_tokens={settings.max_new_tokens}, max_length="
                             f"{settings.max_length}, max_target_positions={limit})")
        return int(steps)


class _Suppress:
    """transformers' SuppressTokensLogitsProcessor and SuppressTokensAtBeginLogitsProcessor
    before ``processors``: suppress_tokens never, begin_suppress_tokens not as the first new
    token."""

    def __init__(self, processors, suppress, begin_suppress, begin_index: int):
        self.processors, self.begin_index = processors, begin_index
        self.suppress = None if not suppress else np.asarray(suppress, np.int64)
        self.begin = None if not begin_suppress else np.asarray(begin_suppress, np.int64)

    def __call__(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        scores = scores.copy()
        if self.suppress is not None:
            scores[:, self.suppress] = -np.inf
        if self.begin is not None and ids.shape[1] == self.begin_index:
            scores[:, self.begin] = -np.inf
        return self.processors(ids, scores)


def _short_form_output(new: np.ndarray, eos, pad) -> np.ndarray:
    """transformers' short-form result: per row the new tokens without trailing padding (one
    kept when pad is eos) and without a final eos, padded right with pad to the longest."""
    rows = []
    for row in new:
        if pad is not None and len(row) and row[-1] == pad:
            count = int((row == pad).sum()) - (1 if eos is not None and pad in eos else 0)
            if count:
                row = row[:-count]
        if eos is not None and len(row) and row[-1] in eos:
            row = row[:-1]
        rows.append(row)
    width = max((len(row) for row in rows), default=0)
    out = np.full((len(rows), width), -1 if pad is None else pad, np.int64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out
