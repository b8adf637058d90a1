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
    generate: transformers' Whisper generate: greedy, beam search or sampling per 30 s
              window from decoder_start_token_id, the language (given or detected), the task
              and no_timestamps_token_id (or timestamps); suppress_tokens never,
              begin_suppress_tokens not first; long-form windows seek by the last timestamp,
              conditioned on the previous text, with the temperature fallback;
              return_token_timestamps: each token's time by dynamic time warping over the
              cross-attention of the generation config's alignment_heads
    tokenizer: WhisperTokenizer decodes timestamps (decode_with_timestamps, output_offsets),
              makes prompt_ids (get_prompt_ids) and the speech pipeline's text, segments and
              words (decode_asr)
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import zlib
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.bart import BartAttention
from dlpy.models.generation import (
    GENERATION_CONFIG,
    GenerationConfig,
    GenerationMixin,
    _log_softmax,
    _Processors,
    _softmax,
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
from dlpy.models.tokenizer import PreTrainedTokenizer
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, no_grad

__all__ = ["LANGUAGES", "TO_LANGUAGE_CODE", "WhisperConfig", "WhisperForConditionalGeneration",
           "WhisperGenerationConfig", "WhisperModel", "WhisperTokenizer", "average_logprob",
           "compression_ratio", "sinusoids"]

# transformers' generate arguments dlpy's Whisper does not take (beyond None / False)
NOT_IMPLEMENTED = ("assistant_model",
                   "logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn",
                   "force_unique_generate_call", "num_segment_frames", "monitor_progress",
                   "synced_gpus")

# Whisper's languages (transformers' tokenization_whisper.LANGUAGES): code -> name
LANGUAGES = dict(pair.split(":") for pair in """
en:english, zh:chinese, de:german, es:spanish, ru:russian, ko:korean, fr:french,
ja:japanese, pt:portuguese, tr:turkish, pl:polish, ca:catalan, nl:dutch, ar:arabic,
sv:swedish, it:italian, id:indonesian, hi:hindi, fi:finnish, vi:vietnamese, he:hebrew,
uk:ukrainian, el:greek, ms:malay, cs:czech, ro:romanian, da:danish, hu:hungarian, ta:tamil,
no:norwegian, th:thai, ur:urdu, hr:croatian, bg:bulgarian, lt:lithuanian, la:latin,
mi:maori, ml:malayalam, cy:welsh, sk:slovak, te:telugu, fa:persian, lv:latvian, bn:bengali,
sr:serbian, az:azerbaijani, sl:slovenian, kn:kannada, et:estonian, mk:macedonian, br:breton,
eu:basque, is:icelandic, hy:armenian, ne:nepali, mn:mongolian, bs:bosnian, kk:kazakh,
sq:albanian, sw:swahili, gl:galician, mr:marathi, pa:punjabi, si:sinhala, km:khmer,
sn:shona, yo:yoruba, so:somali, af:afrikaans, oc:occitan, ka:georgian, be:belarusian,
tg:tajik, sd:sindhi, gu:gujarati, am:amharic, yi:yiddish, lo:lao, uz:uzbek, fo:faroese,
ht:haitian creole, ps:pashto, tk:turkmen, nn:nynorsk, mt:maltese, sa:sanskrit,
lb:luxembourgish, my:myanmar, bo:tibetan, tl:tagalog, mg:malagasy, as:assamese, tt:tatar,
haw:hawaiian, ln:lingala, ha:hausa, ba:bashkir, jw:javanese, su:sundanese, yue:cantonese
""".replace("\n", " ").strip().split(", "))
# name (and transformers' aliases) -> code
TO_LANGUAGE_CODE = {**{name: code for code, name in LANGUAGES.items()},
                    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht",
                    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro",
                    "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh"}


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
    median_filter_width: int = 7  # token timestamps: the median filter over frames

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
    no_timestamps_token_id, prev_sot_token_id), the tokens never to generate (suppress_tokens)
    or not first (begin_suppress_tokens), the timestamp and long-form settings; keys it does
    not know (alignment_heads...) are kept in ``extra`` and written back by save_pretrained."""

    forced_decoder_ids: list | None = None
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None
    no_timestamps_token_id: int | None = None
    prev_sot_token_id: int | None = None
    lang_to_id: dict[str, int] | None = None
    task_to_id: dict[str, int] | None = None
    is_multilingual: bool | None = None
    language: str | list[str] | None = None
    task: str | None = None
    return_timestamps: bool | None = None
    max_initial_timestamp_index: int | None = None
    condition_on_prev_tokens: bool | None = None
    prompt_condition_type: str | None = None
    compression_ratio_threshold: float | None = None
    logprob_threshold: float | None = None
    no_speech_threshold: float | None = None
    extra: dict | None = None  # the keys of generation_config.json no field holds

    @classmethod
    def from_dict(cls, values: dict, source: str = "generation config"):
        """From a generation_config.json dict, unknown keys kept in ``extra``."""
        config = super().from_dict(values, source)
        names = {field.name for field in dataclasses.fields(cls)}
        config.extra = {k: v for k, v in values.items() if k not in names} or None
        return config

    @classmethod
    def copy_of(cls, config) -> WhisperGenerationConfig:
        """A WhisperGenerationConfig with the fields ``config`` (any GenerationConfig or None)
        has."""
        if config is None:
            return cls()
        return cls(**{field.name: getattr(config, field.name, None)
                      for field in dataclasses.fields(cls)})

    def to_dict(self) -> dict:
        values = super().to_dict()
        return {**values.pop("extra", {}), **values}


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

    def attention_weights(self, x: Tensor, keys: Tensor) -> Tensor:
        """The attention weights of an unmasked (cross-)attention, softmax((q / sqrt(head_dim))
        k^T) as transformers' eager path: x (batch, tgt, d_model), keys (batch, heads, src,
        head_dim) -> (batch, heads, tgt, src)."""
        q = self._heads(self.q_proj(x) * self.head_dim ** -0.5)
        return F.softmax(q @ keys.transpose(-1, -2), -1)


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
    layer's cache (self k, self v, cross k, cross v) (with output_attentions also the
    cross-attention weights (batch, heads, tgt, src))."""

    def __init__(self, config: WhisperConfig, rng=None):
        super().__init__()
        d, heads = config.d_model, config.decoder_attention_heads
        self.self_attn = WhisperAttention(d, heads, config.attention_dropout, rng)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = WhisperAttention(d, heads, config.attention_dropout, rng)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self._add_feed_forward(config, config.decoder_ffn_dim, rng)

    def forward(self, x, mask, encoder_hidden_states=None, layer_past=None,
                output_attentions: bool = False):
        out, present = self.self_attn(self.self_attn_layer_norm(x), mask,
                                      layer_past=None if layer_past is None else layer_past[:2])
        x = x + self.dropout(out)
        weights = None
        if encoder_hidden_states is not None:
            normed = self.encoder_attn_layer_norm(x)
            out, cross = self.encoder_attn(normed, None, encoder_hidden_states,
                                           None if layer_past is None else layer_past[2:])
            if output_attentions:
                weights = self.encoder_attn.attention_weights(normed, cross[0])
            x = x + self.dropout(out)
            present = present + cross
        if output_attentions:
            return self._feed_forward(x), present, weights
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
    (last_hidden_state (batch, tgt, d_model), the new cache or None), with output_attentions
    also the cross-attention weights (one (batch, heads, tgt, src) a layer)."""

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
                use_cache: bool | None = None, output_attentions: bool = False):
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
        position_ids = as_array(position_ids)
        x = self.dropout(inputs_embeds + self.embed_positions(position_ids))
        mask = causal_mask(name, attention_mask, batch, seq_len, past_len)
        presents, weights = [], []
        for i, layer in enumerate(self.layers):
            x, present, *cross = layer(x, mask, encoder_hidden_states,
                                       None if past_key_values is None else past_key_values[i],
                                       output_attentions)
            presents.append(present)
            weights += cross
        use_cache = config.use_cache if use_cache is None else use_cache
        out = self.layer_norm(x), tuple(presents) if use_cache else None
        return (*out, tuple(weights)) if output_attentions else out


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
                use_cache: bool | None = None,
                output_attentions: bool = False) -> Seq2SeqModelOutput:
        """attention_mask (of the features) is ignored, as transformers; past_key_values:
        one (self k, self v, cross k, cross v) a decoder layer; output_attentions: also
        cross_attentions, one (batch, heads, tgt, src) a decoder layer (the decoder's
        self-attention and the encoder's weights are not returned)."""
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("WhisperModel: give decoder_input_ids (the decoder's tokens, "
                             "decoder_start_token_id first) or labels to the LM")
        if encoder_outputs is None:
            encoded = self.encoder(input_features).last_hidden_state
        else:
            encoded = encoder_states("WhisperModel", encoder_outputs)
        hidden, presents, *cross = self.decoder(
            decoder_input_ids, decoder_attention_mask, encoded, past_key_values,
            decoder_inputs_embeds, decoder_position_ids, use_cache, output_attentions)
        return Seq2SeqModelOutput(hidden, presents, encoded,
                                  cross_attentions=cross[0] if cross else None)


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
    def from_pretrained(cls, path: str | os.PathLike, rng=None, config=None, *, dtype=None,
                        torch_dtype=None):
        """As PreTrainedModel's, generation_config.json read with Whisper's fields."""
        model = super().from_pretrained(path, rng=rng, config=config, dtype=dtype,
                                        torch_dtype=torch_dtype)
        if os.path.exists(os.path.join(os.fspath(path), GENERATION_CONFIG)):
            model.generation_config = WhisperGenerationConfig.from_pretrained(path)
        return model

    def get_encoder(self) -> WhisperEncoder:
        return self.model.encoder

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                decoder_inputs_embeds=None, decoder_position_ids=None, labels=None,
                use_cache: bool | None = None, logits_to_keep: int = 0,
                output_attentions: bool = False) -> Seq2SeqLMOutput:
        """As WhisperModel (output_attentions: its cross_attentions), then logits (batch, tgt,
        vocab) (the last ``logits_to_keep`` only when > 0) and, with labels (batch, tgt), the
        loss."""
        config = self.config
        if labels is not None:
            labels = as_array(labels)
            if labels.ndim == 2 and labels.shape[1] > config.max_target_positions:
                raise ValueError(f"WhisperForConditionalGeneration: labels of length "
                                 f"{labels.shape[1]} exceed max_target_positions="
                                 f"{config.max_target_positions}")
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = shift_tokens_right(labels, config.pad_token_id,
                                                       config.decoder_start_token_id)
        out = self.model(input_features, attention_mask, decoder_input_ids,
                         decoder_attention_mask, encoder_outputs, past_key_values,
                         decoder_inputs_embeds, decoder_position_ids, use_cache,
                         output_attentions)
        logits = self.proj_out(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else token_loss(logits, labels, "Whisper loss")
        return Seq2SeqLMOutput(loss, logits, out.past_key_values, out.encoder_last_hidden_state,
                               cross_attentions=out.cross_attentions)

    # ------------------------------------------------------------------------ generate
    def generate(self, input_features=None, generation_config: GenerationConfig | None = None,
                 max_new_tokens: int | None = None, max_length: int | None = None,
                 decoder_input_ids=None, forced_decoder_ids=None,
                 language: str | list[str] | None = None, task: str | None = None,
                 eos_token_id=None, pad_token_id=None, use_cache: bool | None = None,
                 encoder_outputs=None, streamer=None, *, return_timestamps: bool | None = None,
                 is_multilingual: bool | None = None, prompt_ids=None,
                 prompt_condition_type: str | None = None,
                 condition_on_prev_tokens: bool | None = None,
                 temperature: float | tuple[float, ...] | None = None,
                 compression_ratio_threshold: float | None = None,
                 logprob_threshold: float | None = None, no_speech_threshold: float | None = None,
                 attention_mask=None, time_precision: float = 0.02,
                 time_precision_features: float = 0.01, return_segments: bool = False,
                 num_beams: int | None = None, do_sample: bool | None = None,
                 top_k: int | None = None, top_p: float | None = None,
                 length_penalty: float | None = None, early_stopping: bool | str | None = None,
                 num_return_sequences: int | None = None, generator=None,
                 return_dict_in_generate: bool = False, output_scores: bool = False,
                 return_token_timestamps: bool | None = None, **kwargs):
        """Transcription of input_features (batch, mels, frames), as transformers'
        WhisperForConditionalGeneration.generate: per 30 s window (2 * max_source_positions
        frames) greedy search, beam search (num_beams, length_penalty, early_stopping) or
        sampling at each of ``temperature`` (a float or a fallback tuple; > 0 samples, with
        top_k / top_p, from ``generator``); the result is the new tokens (batch *
        num_return_sequences, n), a row's final eos dropped, padded right with pad_token_id.

        The prompt: ``decoder_input_ids`` (first window) or decoder_start_token_id, the
        language (``language`` a code, a name of transformers' LANGUAGES or "<|de|>", one or
        one a row; else forced_decoder_ids; else detected), the task, and without timestamps
        no_timestamps_token_id; ``prompt_ids`` (<|startofprev|> text) before it.
        return_timestamps: timestamp tokens in pairs (WhisperTimeStampLogitsProcessor).
        Long-form (frames > one window; batches need ``attention_mask``): windows follow the
        last timestamp, conditioned on the previous text (condition_on_prev_tokens); a window
        whose compression ratio or average log-probability passes its threshold is decoded
        again at the next temperature, or skipped as silence (no_speech_threshold).
        return_segments: {"sequences", "segments": per row a list of {"start", "end",
        "tokens", "idxs", "result"}}. return_dict_in_generate (one window): {"sequences": the
        decoder prompt and the new tokens, eos kept, as transformers; with output_scores
        (greedy or sampling) "scores": a tuple of (batch, vocab) processed scores a step}.
        return_token_timestamps: also "token_timestamps" (batch, n) float32, each token's time
        in seconds (transformers' _extract_token_timestamps: the cross-attention weights of
        the generation config's ``alignment_heads`` [[layer, head], ...], cropped to
        attention_mask's frames / 2, normalised over the tokens, median-filtered over the
        frames (config.median_filter_width), averaged over the heads, aligned by dynamic time
        warping; the prompt's tokens at 0, the last token at the one before); segments get
        theirs shifted by the window's time, and "result" {"sequences", "token_timestamps"}."""
        for key, value in kwargs.items():
            if key not in NOT_IMPLEMENTED:
                raise TypeError(f"generate: unexpected argument {key!r}")
            if value is not None and value is not False:
                raise NotImplementedError(f"generate: {key}={value!r} is not implemented for "
                                          f"Whisper")
        if output_scores and not return_dict_in_generate:
            output_scores = False  # transformers returns only the sequences then
        config = self.config
        settings = WhisperGenerationConfig.copy_of(
            generation_config if generation_config is not None else self.generation_config)
        settings = settings.merged(
            max_new_tokens=max_new_tokens, max_length=max_length,
            forced_decoder_ids=forced_decoder_ids, eos_token_id=eos_token_id,
            pad_token_id=pad_token_id, use_cache=use_cache, num_beams=num_beams,
            do_sample=do_sample, top_k=top_k, top_p=top_p, length_penalty=length_penalty,
            early_stopping=early_stopping, num_return_sequences=num_return_sequences,
            logprob_threshold=logprob_threshold, no_speech_threshold=no_speech_threshold,
            compression_ratio_threshold=compression_ratio_threshold,
            condition_on_prev_tokens=condition_on_prev_tokens, is_multilingual=is_multilingual)
        for name in ("decoder_start_token_id", "eos_token_id", "pad_token_id",
                     "forced_decoder_ids", "suppress_tokens", "begin_suppress_tokens"):
            if getattr(settings, name) is None:
                setattr(settings, name, getattr(config, name, None))
        for name in ("num_beams", "num_return_sequences", "length_penalty", "early_stopping",
                     "top_k", "top_p", "use_cache"):
            if getattr(settings, name) is None:
                setattr(settings, name, GenerationConfig.DEFAULTS[name])
        if settings.max_new_tokens is None and settings.max_length is None:
            settings.max_length = 20  # transformers' GenerationConfig default
        for name in ("num_beams", "num_return_sequences"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"generate: {name} must be a positive integer, got {value!r}")
        heads = _alignment_heads(settings, config) if return_token_timestamps else None

        # the input: features (batch, mels, frames), or the encoder's states (short-form)
        stride = 2  # conv1's stride 1 times conv2's 2
        window = stride * config.max_source_positions
        given = None
        if encoder_outputs is not None:
            given = encoder_states("generate", encoder_outputs).data
            features, batch, total = None, given.shape[0], given.shape[1] * stride
        elif input_features is None:
            raise ValueError("generate: give input_features (batch, num_mel_bins, frames) or "
                             "encoder_outputs")
        else:
            features = np.asarray(as_array(input_features), np.float32)
            if features.ndim != 3 or features.shape[1] != config.num_mel_bins:
                raise ValueError(f"generate: input_features must be (batch, num_mel_bins="
                                 f"{config.num_mel_bins}, frames), got shape {features.shape}")
            batch, total = features.shape[0], features.shape[2]
        short = total <= window

        # timestamps, language and task, thresholds (transformers' _set_* steps)
        stamps = settings.return_timestamps if return_timestamps is None else return_timestamps
        if not short:
            if stamps is False:
                raise ValueError(f"generate: {total} frames are more than one window ({window}), "
                                 f"which is long-form transcription: it needs timestamps; pass "
                                 f"return_timestamps=True or at most {window} frames")
            stamps = True
        stamps = bool(stamps)
        if return_dict_in_generate and (not short or return_segments or stamps):
            raise NotImplementedError("generate: return_dict_in_generate is implemented for one "
                                      "window (short-form) without timestamps or segments "
                                      "(transformers then returns the segments' results)")
        if stamps and settings.no_timestamps_token_id is None:
            raise ValueError("generate: return_timestamps needs the generation config's "
                             "no_timestamps_token_id (timestamps are the tokens after it)")
        settings.return_timestamps = stamps
        timestamp_begin = config.vocab_size + 1 if settings.no_timestamps_token_id is None \
            else settings.no_timestamps_token_id + 1
        if settings.is_multilingual is False and (task is not None or language is not None):
            raise ValueError("generate: task= and language= need a multilingual model; this "
                             "generation config has is_multilingual=False")
        if language is not None:
            settings.language = language
        if task is not None:
            settings.task = task
        if settings.no_speech_threshold is not None and settings.logprob_threshold is None:
            raise ValueError("generate: no_speech_threshold is used with logprob_threshold "
                             "(a window is silence when both say so); set logprob_threshold")
        condition_type = prompt_condition_type or settings.prompt_condition_type \
            or "first-segment"
        if condition_type not in ("first-segment", "all-segments"):
            raise ValueError(f"generate: prompt_condition_type must be 'first-segment' or "
                             f"'all-segments', got {condition_type!r}")
        if condition_type == "all-segments" and settings.condition_on_prev_tokens is not True:
            raise ValueError("generate: prompt_condition_type='all-segments' needs "
                             "condition_on_prev_tokens=True")
        settings.prompt_condition_type = condition_type
        if prompt_ids is not None:
            prompt_ids = as_ids("generate", as_array(prompt_ids)
                                .reshape(1, -1), config.vocab_size, "prompt_ids")[0]
        if settings.num_beams > 1 and settings.logprob_threshold is not None:
            raise NotImplementedError("generate: logprob_threshold with beam search (it reads "
                                      "the beams' sequences_scores) is not implemented")
        if streamer is not None and settings.num_beams > 1:
            raise ValueError("generate: streamer cannot be used with beam search, as in "
                             "transformers")

        was_training = self.training
        self.eval()
        try:
            with no_grad():
                def first_window():
                    if given is not None:
                        return Tensor(given)
                    return self.model.encoder(_windows(features, np.zeros(batch, np.int64),
                                                       np.full(batch, window), window))[0]
                init = self._prompt_tokens(settings, first_window, batch)
                out = self._transcribe(features, given, init, settings, total, short, window,
                                       stride, timestamp_begin, attention_mask,
                                       decoder_input_ids, prompt_ids, condition_on_prev_tokens,
                                       temperature, time_precision, time_precision_features,
                                       get_rng(generator), streamer, heads)
        finally:
            self.train(was_training)
        sequences, times, segments = out
        if return_dict_in_generate:
            tokens, scores, window_times = self._last_window
            self._last_window = None
            if output_scores and scores is None:
                raise NotImplementedError("generate: output_scores with beam search "
                                          "(sequences_scores, beam_indices) is not implemented")
            result = {"sequences": Tensor(tokens)}
            if output_scores:
                result["scores"] = tuple(Tensor(step) for step in scores)
            if heads is not None:
                result["token_timestamps"] = Tensor(window_times)
            return result
        if not (return_segments or heads is not None):
            return Tensor(sequences)
        result = {"sequences": Tensor(sequences)}
        if heads is not None:
            result["token_timestamps"] = Tensor(times)
        if return_segments:
            result["segments"] = segments
        return result

    def _transcribe(self, features, given, init, settings, total, short, window, stride,
                    timestamp_begin, attention_mask, decoder_input_ids, prompt_ids,
                    condition_first, temperature, time_precision, time_precision_features,
                    rng, streamer, heads=None):
        """transformers' sequential loop: windows from each row's seek until max_frames ->
        (the padded tokens, their padded token timestamps (with ``heads``, else None), the
        segments)."""
        config = self.config
        batch = len(init)
        if batch > 1 and not short:
            if attention_mask is None:
                raise ValueError("generate: batched long-form transcription needs the features' "
                                 "attention_mask (batch, frames) (the extractor's "
                                 "return_attention_mask=True)")
            mask = as_array(attention_mask)
            max_frames = mask.sum(-1).astype(np.int64)
        else:
            max_frames = np.full(batch, total, np.int64)
        seek = np.zeros(batch, np.int64)
        # token timestamps crop the attention to the features' frames (attention_mask's)
        frames = None if heads is None or attention_mask is None else \
            as_array(attention_mask).sum(-1).astype(np.int64)
        copies = settings.num_return_sequences
        if copies > 1:  # transformers repeats the rows and decodes each once
            features = None if features is None else np.repeat(features, copies, 0)
            given = None if given is None else np.repeat(given, copies, 0)
            seek, max_frames, init = (np.repeat(x, copies, 0) for x in (seek, max_frames, init))
            frames = None if frames is None else np.repeat(frames, copies, 0)
            batch *= copies
            settings.num_return_sequences = 1
        condition = [condition_first] * batch  # the argument (not the config) at first
        first_segment = prompt_ids is not None and settings.prompt_condition_type == \
            "first-segment"
        segments: list[list[dict]] = [[] for _ in range(batch)]
        if first_segment:
            prev = settings.prev_sot_token_id
            tokens = prompt_ids[1:] if prompt_ids[0] == prev else prompt_ids
            segments = [[{"tokens": tokens}] for _ in range(batch)]
        suppress = None if not settings.suppress_tokens else list(settings.suppress_tokens)
        temperatures = list(temperature) if isinstance(temperature, (list, tuple)) \
            else [temperature]
        rows = list(range(batch))
        while (seek < max_frames).any():
            rows = [i for i in rows if seek[i] < max_frames[i]]
            time_offset = seek.astype(np.float64) * time_precision / stride
            seek_frames = np.minimum(max_frames - seek, window)
            if given is not None:
                encoded = given[rows]
            else:
                encoded = self.model.encoder(_windows(features[rows], seek[rows],
                                                      seek_frames[rows], window))[0].data
            if decoder_input_ids is not None:  # the first window only, as transformers
                ids = as_ids("generate", decoder_input_ids, config.vocab_size,
                             "decoder_input_ids")
                decoder_input_ids = None
                if len(ids) != len(rows):
                    raise ValueError(f"generate: decoder_input_ids hold {len(ids)} rows for "
                                     f"{len(rows)} inputs")
            else:
                ids = self._decoder_prompt(init[rows], segments, rows, condition, prompt_ids,
                                           settings, suppress, timestamp_begin)
            steps = self._window_length(settings, ids.shape[1])
            timing = None if heads is None else \
                (heads, None if frames is None else (frames - seek)[rows])
            sequences, times, skip, condition = self._generate_with_fallback(
                encoded, ids, len(init[0]), steps, temperatures, settings, condition, rng,
                streamer, timestamp_begin, timing)
            for i, sequence in enumerate(sequences):
                row = rows[i]
                if skip[i]:
                    seek[row] += seek_frames[row]
                    continue
                found, offset = _segments(sequence, ids, i, time_offset[row], timestamp_begin,
                                          seek_frames[row], time_precision,
                                          time_precision_features, stride, times[i])
                seek[row] += offset
                segments[row] += found
        final = [row[1:] for row in segments] if first_segment else segments
        return (*_pad_segments(final, settings.pad_token_id, heads is not None), final)

    def _decoder_prompt(self, init, segments, rows, condition, prompt_ids, settings, suppress,
                        timestamp_begin) -> np.ndarray:
        """transformers' _prepare_decoder_input_ids: the previous text (the last
        max_target_positions / 2 - 1 tokens after <|startofprev|>) or prompt_ids, then the
        start tokens."""
        cut = self.config.max_target_positions // 2 - 1
        if any(condition) and len(segments[0]) > 0:
            prev = settings.prev_sot_token_id
            if prev is None and suppress is not None and len(suppress) >= 2:
                prev = suppress[-2]
            if prompt_ids is not None and settings.prompt_condition_type == "all-segments":
                head = list(prompt_ids)
            else:
                head = [] if prev is None else [prev]
            prefixes = []
            for i in rows:
                if condition[i] and segments[i]:
                    tokens = [t[:-1] if len(t) > 2 and t[-2] >= timestamp_begin else t
                              for t in (np.asarray(s["tokens"]) for s in segments[i])]
                    prefixes.append(head + list(np.concatenate(tokens)[-cut:]))
                else:
                    prefixes.append(list(head))
            if len({len(p) for p in prefixes}) > 1:
                raise NotImplementedError("generate: rows conditioned on previous text of "
                                          "different lengths need a padded decoder (transformers' "
                                          "decoder_attention_mask); decode them one at a time")
            return np.concatenate([np.array(prefixes, np.int64).reshape(len(rows), -1), init], 1)
        if prompt_ids is not None:
            return np.concatenate([np.repeat(prompt_ids[None], len(rows), 0), init], 1)
        return init

    def _window_length(self, settings, prompt_len: int) -> int:
        """New tokens for a window (transformers' _set_max_new_tokens_and_length, which
        raises max_length by the prompt, capped at max_target_positions, at every window)."""
        limit = self.config.max_target_positions
        if settings.max_new_tokens is not None:
            if settings.max_new_tokens + prompt_len > limit:
                raise ValueError(f"generate: {prompt_len} prompt tokens + max_new_tokens="
                                 f"{settings.max_new_tokens} exceed max_target_positions="
                                 f"{limit}")
            steps = settings.max_new_tokens
        else:
            settings.max_length = min(settings.max_length + min(limit // 2 - 1, prompt_len),
                                      limit)
            steps = settings.max_length - prompt_len
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"generate: no room for new tokens after {prompt_len} prompt "
                             f"tokens (max_new_tokens={settings.max_new_tokens}, max_length="
                             f"{settings.max_length}, max_target_positions={limit})")
        return int(steps)

    def _generate_with_fallback(self, encoded, ids, init_len, steps, temperatures, settings,
                                condition, rng, streamer, timestamp_begin, timing=None):
        """One window at each temperature in turn while a row needs the fallback (transformers'
        generate_with_fallback, its indexing kept) -> (sequences, their token timestamps (rows
        of prompt + new tokens, or None), should_skip, condition). ``timing``: (alignment
        heads, each row's frames or None) for token timestamps."""
        eos = settings.eos_token_id
        eos = None if eos is None else np.atleast_1d(np.asarray(eos, np.int64))
        pad = settings.pad_token_id if settings.pad_token_id is not None else \
            (None if eos is None else int(eos[0]))
        count = len(ids)
        results: list = [None] * count
        times: list = [None] * count
        needs, skip = [False] * count, [False] * count
        where = list(range(count))  # fallback_index_map
        no_speech = None
        if settings.no_speech_threshold is not None:  # WhisperNoSpeechDetection, per window
            logits = self(decoder_input_ids=ids, encoder_outputs=Tensor(encoded),
                          use_cache=False).logits.data
            probs = _softmax(logits[:, ids.shape[1] - init_len].astype(np.float32))
            no_speech = probs[:, settings.no_timestamps_token_id - 1]
        for index, temperature in enumerate(temperatures):
            sample = temperature is not None and temperature > 0.0
            settings.do_sample = sample
            settings.temperature = temperature if sample else 1.0
            if sample:
                settings.num_beams = 1  # kept for the later windows, as transformers
            tokens, scores, first_rows = self._decode(encoded, ids, steps, settings, eos, pad,
                                                      rng, streamer, timestamp_begin,
                                                      timing is not None)
            stamps = None
            if timing is not None:
                heads, frames = timing
                stamps = self._token_timestamps(
                    encoded, tokens, ids.shape[1], heads,
                    None if frames is None else frames[where],
                    first_rows, eos)
            self._last_window = (tokens, scores, stamps)  # for return_dict_in_generate
            next_where = []
            for i in range(len(tokens)):
                sequence = tokens[i, ids.shape[1]:]
                if pad is not None and len(sequence) and sequence[-1] == pad:
                    paddings = int((sequence == pad).sum()) - (
                        1 if eos is not None and pad == eos[0] else 0)
                    if paddings:
                        sequence = sequence[:-paddings]
                needs[i], skip[i] = self._need_fallback(
                    sequence, None if scores is None else scores[:, i], i, no_speech, settings,
                    temperature)
                if eos is not None and len(sequence) and sequence[-1] == eos[0]:
                    sequence = sequence[:-1]
                results[where[i]] = sequence
                times[where[i]] = None if stamps is None else stamps[i]
                condition[where[i]] = bool(settings.condition_on_prev_tokens) and (
                    temperature is None or temperature < 0.5)
                if needs[i]:
                    next_where.append(where[i])
            if not next_where or index == len(temperatures) - 1:
                break
            encoded, ids = encoded[[where.index(j) for j in next_where]], \
                ids[[where.index(j) for j in next_where]]
            where = next_where
        return results, times, skip, condition

    def _decode(self, encoded, ids, steps, settings, eos, pad, rng, streamer, timestamp_begin,
                keep_first_rows: bool = False):
        """GenerationMixin's greedy search, sampling or beam search over one window's encoder
        states, with Whisper's logits processors first -> (tokens (rows, prompt + new), the
        processed scores (steps, rows, vocab), None for beams; for beams with
        ``keep_first_rows`` the first beam's tokens at each step, else None)."""
        processors = _WhisperProcessors(
            _Processors(1.0, settings.do_sample, settings.temperature, settings.top_k,
                        settings.top_p, eos_token_id=eos),
            settings, ids.shape[1], timestamp_begin)
        use = bool(settings.use_cache)
        if settings.num_beams > 1:
            beams = settings.num_beams
            processors.first_rows = [] if keep_first_rows else None
            tokens = self._beam_search(
                ids, np.ones_like(ids), steps, beams, processors, settings.length_penalty,
                settings.early_stopping, eos, pad, 1, use,
                (Tensor(np.repeat(encoded, beams, 0)), None), None, None)
            return tokens, None, processors.first_rows
        if streamer is not None:
            streamer.put(ids)
        processors.record = []
        tokens = self._greedy_or_sample(ids, np.ones_like(ids), steps, settings.do_sample,
                                        processors, eos, pad, rng, use,
                                        (Tensor(encoded), None), None, streamer, None)
        if streamer is not None:
            streamer.end()
        return tokens, np.stack(processors.record), None

    def _token_timestamps(self, encoded, tokens, prompt_len, heads, frames, first_rows,
                          eos) -> np.ndarray:
        """transformers' _extract_token_timestamps for one window: each token's time (rows,
        prompt + new) float32, from the cross-attention weights of the alignment ``heads``
        that chose the tokens (the decoder run once over the tokens but the last). Beam
        search (``first_rows``: the first beam's tokens at each step) gives a row's steps after
        its eos the first beam's weights, as transformers' beam_indices of -1 do."""
        positions = tokens.shape[1] - 1  # the last token is never a query
        weights = self._cross_weights(encoded, tokens[:, :positions], heads)
        if first_rows is not None and eos is not None:
            new = np.isin(tokens[:, prompt_len:], eos)
            lengths = np.where(new.any(1), new.argmax(1) + 1, new.shape[1])
            late = list(range(int(lengths.min()), new.shape[1]))  # steps a row has ended by
            if late:
                rows = np.zeros((len(late), positions), np.int64)
                for k, step in enumerate(late):
                    rows[k, :prompt_len + step] = first_rows[step]
                tail = self._cross_weights(np.repeat(encoded[:1], len(late), 0), rows, heads)
                for k, step in enumerate(late):
                    ended = lengths <= step
                    weights[ended, :, prompt_len + step - 1] = \
                        tail[k, :, prompt_len + step - 1]
        return _alignment_times(weights, prompt_len, frames, self.config.median_filter_width)

    def _cross_weights(self, encoded, tokens, heads) -> np.ndarray:
        """The decoder's cross-attention weights of ``heads`` [[layer, head], ...] over the
        encoder states (rows, src, d_model) for ``tokens`` (rows, n): (rows, heads, n, src)."""
        cross = self(decoder_input_ids=tokens, encoder_outputs=Tensor(encoded), use_cache=False,
                     output_attentions=True).cross_attentions
        return np.stack([cross[layer].data[:, head] for layer, head in heads], 1)

    def _need_fallback(self, sequence, scores, index, no_speech, settings, temperature):
        """(needs the next temperature, is silence to skip), as transformers' _need_fallback."""
        needs, skip, logprob = False, False, None
        if settings.compression_ratio_threshold is not None:
            if compression_ratio(sequence, self.config.vocab_size) > \
                    settings.compression_ratio_threshold:
                needs = True
        if settings.logprob_threshold is not None:
            logprob = average_logprob(scores, sequence, temperature)
            if logprob < settings.logprob_threshold:
                needs = True
        if settings.no_speech_threshold is not None:
            if logprob < settings.logprob_threshold and \
                    no_speech[index] > settings.no_speech_threshold:
                needs, skip = False, True
        return needs, skip

    def _prompt_tokens(self, settings: WhisperGenerationConfig, encoded,
                       batch: int | None = None) -> np.ndarray:
        """The decoder's first tokens (batch, k), as transformers' _retrieve_init_tokens;
        ``encoded``: the first window's encoder states (batch, positions, d_model), or a
        function giving them (called only to detect the language)."""
        first_window = encoded if callable(encoded) else (lambda: encoded)
        batch = encoded.shape[0] if batch is None else batch
        start = settings.decoder_start_token_id
        if start is None:
            raise ValueError("generate: Whisper needs decoder_start_token_id (its "
                             "<|startoftranscript|>): set it in the config or generation config")
        tokens: list = [int(start)]
        language, task = settings.language, settings.task
        if language is None and task is None and settings.forced_decoder_ids:
            forced = [list(pair) for pair in settings.forced_decoder_ids]
            position = 1
            while forced and forced[0][0] == position:  # [[1, lang], [2, task], ...]
                tokens.append(forced.pop(0)[1])
                position += 1
            if forced:
                raise ValueError(f"generate: forced_decoder_ids must give positions 1, 2, ... "
                                 f"in order (Whisper's prompt), got {settings.forced_decoder_ids}")
        undefined = len(tokens) <= 1 or tokens[1] is None
        if isinstance(language, (list, tuple)):
            if any(item is None for item in language):
                raise TypeError(f"generate: language must be a string or a list of strings, got "
                                f"{language!r}")
            if len(language) != batch:
                raise ValueError(f"generate: {len(language)} languages for a batch of {batch}")
            languages = list(language)
        else:
            languages = [None] * batch if language is None else [language]
        rows = [list(tokens) for _ in languages]
        ids = None
        if language is not None:
            ids = [self._language_id(settings, item) for item in languages]
        elif settings.lang_to_id and undefined:
            ids = self._detect_language(settings, first_window())
        for row, language_id in zip(rows, ids or ()):
            if len(row) > 1:
                row[1] = language_id
            else:
                row.append(language_id)
        for row in rows:
            if task is not None:
                if task not in ("translate", "transcribe"):
                    raise ValueError(f"generate: task must be 'translate' or 'transcribe', got "
                                     f"{task!r}")
                if task not in (settings.task_to_id or {}):
                    raise ValueError(f"generate: task {task!r} is not in the generation "
                                     f"config's task_to_id {sorted(settings.task_to_id or {})}")
                row.append(settings.task_to_id[task])
            elif language is not None and settings.task_to_id:
                if not set(row) & set(settings.task_to_id.values()):
                    row.append(settings.task_to_id["transcribe"])
            stamp = settings.no_timestamps_token_id
            if not settings.return_timestamps and stamp is not None and row[-1] != stamp:
                row.append(stamp)
            elif settings.return_timestamps and row[-1] == stamp:
                row.pop()
        prompt = np.array([[t for t in row if t is not None] for row in rows], dtype=np.int64)
        prompt = np.broadcast_to(prompt, (batch, prompt.shape[1])).copy()
        return as_ids("generate", prompt, self.config.vocab_size, "the prompt tokens")

    @staticmethod
    def _language_id(settings: WhisperGenerationConfig, language: str) -> int:
        """lang_to_id's id of ``language``: a token "<|de|>", a code "de" or a name of
        transformers' LANGUAGES (and its aliases), as transformers' language_to_id."""
        table = settings.lang_to_id or {}
        name = language.lower()
        if name in table:
            token = name
        elif name in TO_LANGUAGE_CODE:
            token = f"<|{TO_LANGUAGE_CODE[name]}|>"
        elif name in LANGUAGES:
            token = f"<|{name}|>"
        else:
            raise ValueError(f"generate: language {language!r} is not in the generation "
                             f"config's lang_to_id {sorted(table)}, nor a Whisper language code "
                             f"or name (dlpy.models.whisper.LANGUAGES, TO_LANGUAGE_CODE)")
        if token not in table:
            raise ValueError(f"generate: language {language!r} ({token}) is not in the "
                             f"generation config's lang_to_id {sorted(table)}")
        return int(table[token])

    def _detect_language(self, settings: WhisperGenerationConfig, encoded: Tensor) -> list:
        """The most likely language token of each row after decoder_start_token_id."""
        start = np.full((encoded.shape[0], 1), settings.decoder_start_token_id, np.int64)
        logits = self(decoder_input_ids=start, encoder_outputs=encoded,
                      use_cache=False).logits.data[:, -1]
        allowed = np.array(sorted(settings.lang_to_id.values()))
        return [int(allowed[i]) for i in logits[:, allowed].argmax(-1)]


class _WhisperProcessors:
    """transformers' Whisper logits processors, in its order, before ``processors`` (the
    sampling warpers): SuppressTokensAtBegin (begin_suppress_tokens not first),
    SuppressTokens (suppress_tokens never) and, with timestamps, WhisperTimeStampLogitsProcessor:
    no <|notimestamps|>; timestamps in pairs (after a pair text, after one timestamp another or
    eos), never decreasing, the first token a timestamp at most max_initial_timestamp_index;
    only timestamps when their total probability beats every text token's. ``record`` (a
    list) collects the final scores of each call, ``first_rows`` (a list) the first row of
    ids."""

    def __init__(self, processors, settings: WhisperGenerationConfig, begin_index: int,
                 timestamp_begin: int):
        self.processors, self.begin_index = processors, begin_index
        suppress, begin = settings.suppress_tokens, settings.begin_suppress_tokens
        self.suppress = None if not suppress else np.asarray(suppress, np.int64)
        self.begin = None if not begin else np.asarray(begin, np.int64)
        self.timestamps = bool(settings.return_timestamps)
        self.no_timestamps = settings.no_timestamps_token_id
        self.timestamp_begin = timestamp_begin
        eos = settings.eos_token_id if settings.eos_token_id is not None \
            else settings.bos_token_id
        self.eos = int(np.atleast_1d(eos)[0]) if eos is not None else 0
        self.max_initial = settings.max_initial_timestamp_index
        self.record = None
        self.first_rows = None  # a list: the first row of ``ids`` at each call (beam search)

    def __call__(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.first_rows is not None:
            self.first_rows.append(ids[0].copy())
        scores = scores.copy()
        if self.begin is not None and ids.shape[1] == self.begin_index:
            scores[:, self.begin] = -np.inf
        if self.suppress is not None:
            scores[:, self.suppress] = -np.inf
        if self.timestamps:
            scores = self._timestamps(ids, scores)
        scores = self.processors(ids, scores)
        if self.record is not None:
            self.record.append(scores)
        return scores

    def _timestamps(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        first = self.timestamp_begin
        scores[:, self.no_timestamps] = -np.inf
        for k, row in enumerate(ids):
            seq = row[self.begin_index:]
            last = len(seq) >= 1 and seq[-1] >= first
            penultimate = len(seq) < 2 or seq[-2] >= first
            if last:
                if penultimate:  # a pair just closed: text next
                    scores[k, first:] = -np.inf
                else:  # one timestamp: another one (or eos), no text
                    scores[k, :self.eos] = -np.inf
            lowest = first
            stamps = seq[seq >= first]
            if len(stamps):  # never backwards; <|0.00|> not twice
                lowest = stamps[-1] if last and not penultimate else stamps[-1] + 1
            scores[k, first:lowest] = -np.inf
        if ids.shape[1] == self.begin_index:
            scores[:, :first] = -np.inf
            if self.max_initial is not None:
                scores[:, first + self.max_initial + 1:] = -np.inf
        logprobs = _log_softmax(scores.astype(np.float32))
        with np.errstate(divide="ignore"):
            stamp = np.logaddexp.reduce(logprobs[:, first:].astype(np.float64), axis=-1)
        text = logprobs[:, :first].max(-1)
        scores[stamp > text, :first] = -np.inf
        return scores


def compression_ratio(tokens, vocab_size: int) -> float:
    """len(token bytes) / len(zlib.compress(token bytes)), each token int(log2(vocab) / 8) + 1
    little-endian bytes (transformers' _retrieve_compression_ratio)."""
    width = int(math.log2(vocab_size) / 8) + 1
    raw = b"".join(int(token).to_bytes(width, "little") for token in tokens)
    return len(raw) / len(zlib.compress(raw))


def average_logprob(scores: np.ndarray, tokens: np.ndarray, temperature) -> float:
    """Mean log-softmax(scores * temperature) of the chosen tokens, eos counted (transformers'
    _retrieve_avg_logprobs); scores (steps, vocab) are the processed ones."""
    rescale = temperature if temperature is not None and temperature > 0.0 else 1
    if len(scores) > len(tokens):
        scores = scores[:len(tokens)]
    else:
        tokens = tokens[-len(scores):]
    logprobs = _log_softmax((scores * rescale).astype(np.float32))
    chosen = logprobs[np.arange(len(tokens)), tokens]
    return float(chosen.sum(dtype=np.float32) / len(tokens))


def _windows(features: np.ndarray, seek: np.ndarray, frames: np.ndarray, window: int) -> Tensor:
    """Each row's features[:, seek : seek + frames], zero-padded to ``window`` frames."""
    out = np.zeros((len(features), features.shape[1], window), np.float32)
    for i, (start, count) in enumerate(zip(seek, frames)):
        part = features[i, :, start:start + count]
        out[i, :, :part.shape[1]] = part
    return Tensor(out)


def _segments(sequence, ids, index, time_offset, timestamp_begin, seek_frames, time_precision,
              time_precision_features, stride, times=None):
    """transformers' _retrieve_segment: a window's tokens cut at each pair of timestamps ->
    (segments, frames to advance the seek). ``times``: the window's token timestamps (prompt
    and new tokens): "result" is then {"sequences", "token_timestamps"} and each segment has
    its "token_timestamps" shifted by time_offset."""
    found, advance = _cut_window(sequence, ids, index, time_offset, timestamp_begin,
                                 seek_frames, time_precision, time_precision_features, stride)
    if times is not None:
        result = {"sequences": found[0]["result"], "token_timestamps": times}
        for segment in found:
            start, stop = segment["idxs"]
            segment["result"] = result
            segment["token_timestamps"] = times[start:stop] + np.float32(time_offset)
    return found, advance


def _cut_window(sequence, ids, index, time_offset, timestamp_begin, seek_frames,
                time_precision, time_precision_features, stride):
    """_segments' cutting: segments with "result" the window's tokens, the seek's advance."""
    is_stamp = [int(token) >= timestamp_begin for token in sequence]
    single_ending = is_stamp[-2:] == [False, True]
    cuts = [i + 1 for i in range(len(is_stamp) - 1) if is_stamp[i] and is_stamp[i + 1]]
    offset = ids.shape[1]
    result = np.concatenate([ids[index], sequence])
    if cuts:
        if single_ending:
            cuts.append(len(sequence))
        else:
            cuts[-1] += 1  # the last pair's second timestamp stays in the last segment
        found, last = [], 0
        for i, cut in enumerate(cuts):
            tokens = sequence[last:cut]
            end = -1 if i < len(cuts) - 1 or single_ending else -2
            found.append({"start": time_offset + float(tokens[0] - timestamp_begin)
                          * time_precision,
                          "end": time_offset + float(tokens[end] - timestamp_begin)
                          * time_precision,
                          "tokens": tokens, "idxs": (offset + last, offset + cut),
                          "result": result})
            last = cut
        if single_ending:  # no speech after the last timestamp
            return found, int(seek_frames)
        return found, int(sequence[last - 2] - timestamp_begin) * stride
    stamps = [i for i, flag in enumerate(is_stamp) if flag]
    last_position = int(seek_frames * time_precision_features / time_precision)
    if stamps and sequence[stamps[-1]] != timestamp_begin:
        last_position = float(sequence[stamps[-1]] - timestamp_begin)
    return [{"start": time_offset, "end": time_offset + last_position * time_precision,
             "tokens": sequence, "idxs": (offset, offset + len(sequence)),
             "result": result}], int(seek_frames)


def _pad_segments(segments: list[list[dict]], pad, times: bool = False):
    """Each row's segment tokens one after another, padded right with pad (-1 without) ->
    (tokens, with ``times`` their token timestamps (the window's, not shifted, as
    transformers' _pad_to_max_length) padded with the row's last, else None)."""
    rows = [np.concatenate([np.asarray(s["tokens"], np.int64) for s in row]) if row
            else np.zeros(0, np.int64) for row in segments]
    width = max((len(row) for row in rows), default=0)
    out = np.full((len(rows), width), -1 if pad is None else pad, np.int64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    if not times:
        return out, None
    stamps = np.zeros((len(rows), width), np.float32)
    for i, row in enumerate(segments):
        if row:
            kept = np.concatenate([s["result"]["token_timestamps"][slice(*s["idxs"])]
                                   for s in row])
            stamps[i, :len(kept)], stamps[i, len(kept):] = kept, kept[-1] if len(kept) else 0.0
    return out, stamps


def _alignment_heads(settings, config) -> list[tuple[int, int]]:
    """The generation config's alignment_heads [[layer, head], ...], checked."""
    heads = (settings.extra or {}).get("alignment_heads")
    if heads is None:
        raise ValueError("generate: the model's generation config has no `alignment_heads`, "
                         "token-level timestamps not available (set generation_config.extra"
                         "['alignment_heads'] = [[layer, head], ...], the decoder's "
                         "cross-attention heads that follow the audio)")
    heads = [tuple(int(v) for v in pair) for pair in np.asarray(heads).reshape(-1, 2)]
    for layer, head in heads:
        if not (0 <= layer < config.decoder_layers and 0 <= head < config.decoder_attention_heads):
            raise ValueError(f"generate: alignment head [{layer}, {head}] is outside the "
                             f"decoder's {config.decoder_layers} layers x "
                             f"{config.decoder_attention_heads} heads")
    return heads


def _alignment_times(weights: np.ndarray, prompt_len: int, frames, filter_width: int,
                     time_precision: float = 0.02) -> np.ndarray:
    """Token times from cross-attention weights (rows, heads, positions, src), as
    transformers' _extract_token_timestamps: the prompt's queries dropped, each row's
    weights cropped to frames // 2 (``frames`` None: all), normalised over the tokens,
    median-filtered over the frames, averaged over the heads, aligned by dynamic time
    warping; a token's time is the frame where the path first reaches it -> (rows,
    positions + 1) float32: the prompt at 0, the last token as the one before."""
    rows, positions = weights.shape[0], weights.shape[2]
    out = np.zeros((rows, positions + 1), np.float32)
    if frames is not None and len(np.unique(frames)) == 1:
        # transformers crops all rows first when they agree, then each row again (twice when
        # the frames left after the seek are negative)
        weights = weights[..., :int(frames[0]) // 2]
    weights = weights[:, :, prompt_len:]
    if weights.shape[2] == 0:  # one new token: no query of a new token
        return out
    for i in range(rows):
        matrix = weights[i] if frames is None else weights[i, ..., :int(frames[i]) // 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = (matrix - matrix.mean(-2, keepdims=True)) / matrix.std(-2, keepdims=True)
        matrix = _median_filter(matrix, filter_width).mean(0)
        text, time = _dynamic_time_warping(-matrix.astype(np.float64))
        jumps = np.diff(text, prepend=-1).astype(bool)
        jump_times = time[jumps] * time_precision
        out[i] = np.concatenate([np.zeros(prompt_len), jump_times, jump_times[-1:]])
    return out


def _median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """The median of ``width`` neighbours along the last axis, reflect-padded (transformers'
    _median_filter); unchanged when that axis is at most width // 2 long."""
    if width <= 0 or width % 2 != 1:
        raise ValueError(f"median_filter_width must be an odd positive number, got {width}")
    half = width // 2
    if x.shape[-1] <= half:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.sort(windows, axis=-1)[..., half]


def _dynamic_time_warping(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through ``matrix`` (tokens, frames), as transformers'
    _dynamic_time_warping (float32 costs, its tie-breaking: diagonal, then up, then left),
    filled one anti-diagonal at a time -> (token index, frame index) along the path."""
    rows, cols = matrix.shape
    cost = np.full((rows + 1, cols + 1), np.inf, np.float32)
    trace = np.full((rows + 1, cols + 1), -1, np.int8)
    cost[0, 0] = 0
    for diagonal in range(2, rows + cols + 1):  # the cells i + j = diagonal
        i = np.arange(max(1, diagonal - cols), min(rows, diagonal - 1) + 1)
        j = diagonal - i
        c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
        step = np.where((c0 < c1) & (c0 < c2), 0, np.where((c1 < c0) & (c1 < c2), 1, 2))
        cost[i, j] = matrix[i - 1, j - 1] + np.choose(step, (c0, c1, c2))
        trace[i, j] = step
    trace[0, :], trace[:, 0] = 2, 1
    i, j, text, time = rows, cols, [], []
    while i > 0 or j > 0:
        text.append(i - 1)
        time.append(j - 1)
        step = trace[i, j]
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return np.array(text)[::-1], np.array(time)[::-1]


# ------------------------------------------------------------------------------ tokenizer
class WhisperTokenizer(PreTrainedTokenizer):
    """Whisper's tokenizer.json with transformers' WhisperTokenizer decoding: timestamp tokens
    (the ids after <|notimestamps|>) left out of the text, or written "<|1.08|>"
    (decode_with_timestamps), or the text of each timestamped segment (output_offsets);
    skip_special_tokens also drops a <|startofprev|> prompt. get_prompt_ids makes generate's
    prompt_ids."""

    TIMESTAMP = re.compile(r"<\|(\d+\.\d+)\|>")

    @property
    def timestamp_begin(self) -> int:
        stamp = self._tokenizer.token_to_id("<|notimestamps|>")
        if stamp is None:
            raise ValueError("WhisperTokenizer: the vocabulary has no <|notimestamps|> token "
                             "(timestamps are the ids after it)")
        return stamp + 1

    def decode(self, ids, skip_special_tokens: bool = False, output_offsets: bool = False,
               time_precision: float = 0.02, decode_with_timestamps: bool = False):
        """The text of one sequence; with output_offsets {"text", "offsets": [{"text",
        "timestamp": (start, end)}]} (seconds, time_precision a timestamp step)."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        kept = self._strip_prompt(ids.tolist()) if skip_special_tokens else ids.tolist()
        if decode_with_timestamps:
            text = self._decode_with_timestamps(kept, skip_special_tokens, time_precision)
        else:
            text = self.TIMESTAMP.sub("", super().decode(kept, skip_special_tokens))
        if output_offsets:
            return {"text": text, "offsets": self._offsets(ids.tolist(), time_precision)}
        return text

    def batch_decode(self, sequences, skip_special_tokens: bool = False, **kwargs) -> list:
        sequences = sequences.data if isinstance(sequences, Tensor) else sequences
        return [self.decode(ids, skip_special_tokens, **kwargs) for ids in sequences]

    def get_prompt_ids(self, text: str) -> np.ndarray:
        """<|startofprev|> and the ids of " " + text.strip() (1-d int64): generate's
        prompt_ids."""
        start = self._tokenizer.token_to_id("<|startofprev|>")
        if start is None:
            raise ValueError("WhisperTokenizer: the vocabulary has no <|startofprev|> token")
        ids = self._tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids
        first_special = min(self._special_ids())
        if any(i >= first_special for i in ids):
            token = self._tokenizer.id_to_token(next(i for i in ids if i >= first_special))
            raise ValueError(f"WhisperTokenizer: the prompt {text!r} holds the special token "
                             f"{token}")
        return np.array([start, *ids], np.int64)

    def decode_asr(self, outputs: list[dict], return_timestamps: bool | str = False,
                   return_language: bool = False, time_precision: float = 0.02,
                   segment_size: int = 1500) -> tuple[str, dict]:
        """The automatic-speech-recognition pipeline's text of a recording's windows, as
        transformers' _decode_asr: ``outputs`` a list of {"tokens": (1, n) ids, and with
        chunking "stride": (chunk, left, right) seconds}; overlapping windows joined by their
        longest common run of tokens, timestamps shifted to the recording's time and those in
        the strides dropped. Returns (text, {"chunks": [{"text", "timestamp": (start, end)
        (and "language")}]} with return_timestamps or return_language, else {}).
        return_timestamps="word": each output also has "token_timestamps" (1, n) (generate's
        return_token_timestamps), a token spans from the previous token's time to its own,
        and the chunks are the words (tokens joined at spaces and punctuation, or at whole
        characters for Chinese, Japanese, Thai, Lao, Burmese and Cantonese)."""
        first_stamp = self.timestamp_begin
        special = set(self.all_special_ids)
        words = return_timestamps == "word"
        language_of = {}
        last_language, time_offset, skip = None, 0.0, False
        chunks, previous, previous_times = [], [], []

        def new_chunk():
            return {"language": last_language, "timestamp": [None, None], "text": ""}

        def close(chunk):
            tokens = _longest_common_sequence(previous, previous_times if words else None)
            if words:
                tokens, times = tokens
                chunk["words"] = _collate_word_timestamps(self, tokens, times, last_language,
                                                          return_language)
            chunk["text"] = self.decode(tokens)
            chunks.append(chunk)

        chunk = new_chunk()
        for output in outputs:
            ids = self._strip_prompt(np.asarray(output["tokens"])[0].tolist())
            times = np.asarray(output["token_timestamps"])[0].tolist() if words else None
            last_stamp, first = None, first_stamp
            cur_max = previous_length = penultimate = 0.0
            if "stride" in output:
                chunk_length, left, right = output["stride"]
                time_offset -= left
                right_start = chunk_length - right
                if left:
                    first = left / time_precision + first_stamp
                if right:  # the last timestamp before the right stride
                    for token in reversed(ids):
                        if token >= first_stamp:
                            if last_stamp is not None and \
                                    (token - first_stamp) * time_precision < right_start:
                                break
                            last_stamp = token
            current, current_times = [], []
            for i, token in enumerate(ids):
                if token in special:
                    if token not in language_of:
                        language_of[token] = LANGUAGES.get(self.decode([token])[2:-2])
                    language = language_of[token]
                    if language is not None:
                        if last_language and language != last_language and not return_timestamps:
                            previous.append(current)
                            close(chunk)
                            previous, current, chunk = [], [], new_chunk()
                            previous_times, current_times = [], []
                        chunk["language"] = last_language = language
                elif token >= first_stamp:
                    stamp = float((token - first_stamp) * time_precision)
                    if stamp < cur_max:  # a new 30 s window of long-form generation
                        added, paired = _window_restart(ids, i, first_stamp, penultimate,
                                                        time_precision * segment_size)
                        previous_length += added
                        cur_max = penultimate if paired else cur_max
                    penultimate, cur_max = cur_max, stamp
                    time = round((token - first_stamp) * time_precision + time_offset
                                 + previous_length, 2)
                    if last_stamp and token >= last_stamp:
                        skip = True
                    elif skip or (previous and token < first):
                        skip = False
                    elif chunk["timestamp"][0] is None:
                        chunk["timestamp"][0] = time
                    elif time != chunk["timestamp"][0]:
                        chunk["timestamp"][1] = time
                        previous.append(current)
                        previous_times.append(current_times)
                        close(chunk)
                        previous, current, chunk = [], [], new_chunk()
                        previous_times, current_times = [], []
                else:
                    current.append(token)
                    if words:  # from the previous token's time to this one's
                        start = times[i - 1] if i else 0.0
                        current_times.append((round(start + time_offset, 2),
                                              round(times[i] + time_offset, 2)))
            if "stride" in output:
                time_offset += chunk_length - right
            if current:
                previous.append(current)
                previous_times.append(current_times)
            elif not any(previous):
                previous, previous_times, chunk = [], [], new_chunk()
        if previous:
            close(chunk)
        text = "".join(c["text"] for c in chunks)
        if not (return_timestamps or return_language):
            return text, {}
        for c in chunks:
            if return_timestamps:
                c["timestamp"] = tuple(c["timestamp"])
            else:
                del c["timestamp"]
            if not return_language:
                del c["language"]
        if words:
            return text, {"chunks": [word for c in chunks for word in c["words"]]}
        return text, {"chunks": chunks}

    def _special_ids(self) -> list[int]:
        return [i for i, token in self._tokenizer.get_added_tokens_decoder().items()
                if token.special]

    def _strip_prompt(self, ids: list) -> list:
        """Without a leading <|startofprev|> prompt: from <|startoftranscript|> on."""
        start = self._tokenizer.token_to_id("<|startoftranscript|>")
        if ids and ids[0] == self._tokenizer.token_to_id("<|startofprev|>"):
            return ids[ids.index(start):] if start in ids else []
        return ids

    def _decode_with_timestamps(self, ids: list, skip_special_tokens: bool,
                                time_precision: float, segment_size: int = 1500) -> str:
        """transformers' _decode_with_timestamps: a timestamp below the last starts a new
        30 s window (its times continue from the window's)."""
        first = self.timestamp_begin
        outputs: list = [[]]
        cur_max = previous = penultimate = 0.0
        for i, token in enumerate(ids):
            if token < first:
                outputs[-1].append(token)
                continue
            timestamp = float((token - first) * time_precision)
            if timestamp < cur_max:
                added, paired = _window_restart(ids, i, first, penultimate,
                                                time_precision * segment_size)
                previous += added
                if paired:
                    cur_max, outputs = penultimate, outputs[:-2]
            penultimate, cur_max = cur_max, timestamp
            outputs += [f"<|{(timestamp + previous):.2f}|>", []]
        return "".join(part if isinstance(part, str) else
                       PreTrainedTokenizer.decode(self, part, skip_special_tokens) if part else ""
                       for part in outputs)

    def _offsets(self, ids: list, time_precision: float, segment_size: int = 1500) -> list:
        """transformers' _compute_offsets: each segment between timestamps, its text and
        (start, end) seconds."""
        first = self.timestamp_begin
        tokens = np.array(ids, np.int64)
        stamps = tokens >= first
        consecutive = list(np.where(stamps[:-1] & stamps[1:])[0] + 1)
        if not consecutive and stamps.sum() <= 1:
            return []
        positions = np.where(stamps)[0]
        if positions[-1] + 1 not in consecutive:
            consecutive.append(positions[-1] + 1)
        last, cur_max, previous, offsets = positions[0], 0, 0, []
        for cut in consecutive:
            part = tokens[last:cut]
            if len(part) > 1:
                start, end = int(part[0]) - first, int(part[-1]) - first
                if start < cur_max:
                    single_ending = last >= 2 and not (tokens[last - 2] >= first
                                                       and tokens[last - 1] >= first)
                    previous += segment_size if single_ending else cur_max
                cur_max = end
                text = PreTrainedTokenizer.decode(self, part.tolist())
                offsets.append({"text": self.TIMESTAMP.sub("", text),
                                "timestamp": (start * time_precision + previous * time_precision,
                                              end * time_precision + previous * time_precision)})
            last = cut
        return offsets


def _longest_common_sequence(sequences: list[list[int]], times: list[list] | None = None):
    """Token runs of overlapping windows joined where they agree most, as transformers'
    _find_longest_common_sequence: each next run slid against the text so far, the offset
    with the best share of equal tokens (more than one, longer overlaps favoured) kept, the
    two cut at the middle of the overlap. With ``times`` (each token's (start, end)), a
    token counts as equal only if its left time is not after its right one, and the times
    are cut alike: (tokens, times)."""
    left = sequences[0]
    total: list[int] = []
    if times:
        left_times, total_times = times[0], []
    for index, right in enumerate(sequences[1:], 1):
        best, cut = 0.0, (len(left), len(left), 0, 0)
        for i in range(1, len(left) + len(right)):
            left_start = max(0, len(left) - i)
            left_stop = min(len(left), len(left) + len(right) - i)
            right_start, right_stop = max(0, i - len(left)), min(len(right), i)
            equal = np.array(left[left_start:left_stop]) == np.array(right[right_start:right_stop])
            if times:
                equal = [same and left_times[left_start + k] <= times[index][right_start + k]
                         for k, same in enumerate(equal)]
            matches = int(np.sum(equal))
            score = matches / i + i / 10000.0
            if matches > 1 and score > best:
                best, cut = score, (left_start, left_stop, right_start, right_stop)
        total += left[:(cut[0] + cut[1]) // 2]
        left = right[(cut[2] + cut[3]) // 2:]
        if times:
            total_times += left_times[:(cut[0] + cut[1]) // 2]
            left_times = times[index][(cut[2] + cut[3]) // 2:]
    if times is None:
        return total + left
    return total + left, (total_times + left_times if times else [])


def _collate_word_timestamps(tokenizer, tokens: list[int], times: list, language,
                             return_language: bool) -> list[dict]:
    """transformers' _collate_word_timestamps: each word's {"text", "timestamp": (its first
    token's start, its last token's end)} (and "language")."""
    words, _, indices = _combine_tokens_into_words(tokenizer, tokens, language)
    extra = {"language": language} if return_language else {}
    return [{"text": word, "timestamp": (times[kept[0]][0], times[kept[-1]][1]), **extra}
            for word, kept in zip(words, indices)]


def _combine_tokens_into_words(tokenizer, tokens: list[int], language=None,
                               prepend: str = "\"'“¡¿([{-",
                               append: str = "\"'.。,，!！?？:：”)]}、"):
    """Tokens grouped into words, as transformers' _combine_tokens_into_words -> (words,
    their tokens, their token indices): split at whole characters for languages written
    without spaces, else at spaces and punctuation; opening punctuation joins the next
    word, closing punctuation the previous one."""
    language = language or getattr(tokenizer, "language", None) or "english"
    if language in {"chinese", "japanese", "thai", "lao", "myanmar", "cantonese"}:
        words, pieces, indices = _split_tokens_on_unicode(tokenizer, tokens)
    else:
        words, pieces, indices = _split_tokens_on_spaces(tokenizer, tokens)
    _merge_punctuations(words, pieces, indices, prepend, append)
    return words, pieces, indices


def _split_tokens_on_unicode(tokenizer, tokens: list[int]):
    """Tokens grouped where their text ends on a whole character (no replacement character
    that the full text does not have) -> (texts, tokens, indices)."""
    full = tokenizer.decode(tokens, decode_with_timestamps=True)
    replacement = "\ufffd"
    words, pieces, indices, current, kept, offset = [], [], [], [], [], 0
    for index, token in enumerate(tokens):
        current.append(token)
        kept.append(index)
        text = tokenizer.decode(current, decode_with_timestamps=True)
        if replacement not in text or offset + text.index(replacement) >= len(full) \
                or full[offset + text.index(replacement)] == replacement:
            words.append(text)
            pieces.append(current)
            indices.append(kept)
            current, kept = [], []
            offset += len(text)
    return words, pieces, indices


def _split_tokens_on_spaces(tokenizer, tokens: list[int]):
    """Whole characters joined into words: a new word at a special token, a leading space or
    punctuation -> (words, tokens, indices)."""
    words, pieces, indices = [], [], []
    for text, group, kept in zip(*_split_tokens_on_unicode(tokenizer, tokens)):
        special = group[0] >= tokenizer.eos_token_id
        punctuation = text.strip() in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
        if special or text.startswith(" ") or punctuation or not words:
            words.append(text)
            pieces.append(group)
            indices.append(kept)
        else:
            words[-1] += text
            pieces[-1].extend(group)
            indices[-1].extend(kept)
    return words, pieces, indices


def _merge_punctuations(words: list, tokens: list, indices: list, prepended: str,
                        appended: str) -> None:
    """In place: a word " (" that is opening punctuation joins the next word, one that is
    closing punctuation the previous word (unless it ends with a space); empties dropped."""
    i, j = len(words) - 2, len(words) - 1
    while i >= 0:
        if words[i].startswith(" ") and words[i].strip() in prepended:
            words[j], tokens[j], indices[j] = (words[i] + words[j], tokens[i] + tokens[j],
                                               indices[i] + indices[j])
            words[i], tokens[i], indices[i] = "", [], []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(words):
        if not words[i].endswith(" ") and words[j] in appended:
            words[i] += words[j]
            tokens[i] += tokens[j]
            indices[i] += indices[j]
            words[j], tokens[j], indices[j] = "", [], []
        else:
            i = j
        j += 1
    words[:] = [word for word in words if word]
    tokens[:] = [group for group in tokens if group]
    indices[:] = [kept for kept in indices if kept]


def _window_restart(ids: list, i: int, first_stamp: int, penultimate: float,
                    window_seconds: float) -> tuple[float, bool]:
    """A timestamp below the last one starts a new window of long-form output: (the seconds
    that adds, whether the window ended on a timestamp pair, whose start is then undone)."""
    single_ending = i >= 2 and not (ids[i - 1] >= first_stamp and ids[i - 2] >= first_stamp)
    return (window_seconds, False) if single_ending else (penultimate, True)
