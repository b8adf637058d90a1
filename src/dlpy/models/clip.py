"""CLIP (Radford et al., 2021) in Hugging Face ``transformers``' layout: the same module and
parameter names (``text_model.encoder.layers.0.self_attn.q_proj.weight``, ``logit_scale``...),
so a transformers checkpoint loads with ``from_pretrained`` and gives the same outputs.

    text tower:    token + position embeddings; pre-LN layers x + attn(ln1(x)), x + mlp(ln2(x))
                   under a causal (and padding) mask; final_layer_norm; pooled at the EOS token
                   (the largest id when eos_token_id == 2, as the original checkpoints, else
                   the first position holding eos_token_id)
    vision tower:  [CLS] (class_embedding) + conv patches (no bias) + positions; pre_layrnorm;
                   the same layers; pooled = post_layernorm(x[:, 0])
    mlp:           fc2(quick_gelu(fc1(x))), quick_gelu(x) = x sigmoid(1.702 x)
    CLIPModel:     t = text_projection(text pooled), i = visual_projection(image pooled), both
                   L2-normalised; logits_per_text = exp(logit_scale) t i^T, logits_per_image
                   its transpose; loss = (CE(logits_per_text, diag) + CE(logits_per_image,
                   diag)) / 2
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.modeling_utils import (
    ModelOutput,
    PretrainedConfig,
    PreTrainedModel,
    activation,
    as_ids,
    causal_mask,
    quick_gelu,
)
from dlpy.models.vit import pixel_input, resized_positions
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array

__all__ = [
    "CLIPConfig", "CLIPModel", "CLIPOutput", "CLIPTextConfig", "CLIPTextModel",
    "CLIPTextModelWithProjection", "CLIPVisionConfig", "CLIPVisionModel",
    "CLIPVisionModelWithProjection", "quick_gelu",
]


# ----------------------------------------------------------------------------------- configs
@dataclasses.dataclass
class _TowerConfig(PretrainedConfig):
    """What the two towers share. Read from a whole CLIP config.json too (its sub-config)."""

    positive_fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    sub_config: ClassVar[str] = ""
    hidden_size: int = 512
    intermediate_size: int = 2048
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    initializer_factor: float = 1.0

    @classmethod
    def from_dict(cls, values: dict, source: str = "config"):
        if isinstance(values, dict) and values.get("model_type") == "clip":
            values = values.get(cls.sub_config) or {}
        return super().from_dict(values, source)

    def _checked(self, source: str = "config"):
        super()._checked(source)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"{source}: hidden_size ({self.hidden_size}) must be a multiple of "
                             f"num_attention_heads ({self.num_attention_heads})")
        activation(self.hidden_act, source)
        return self


@dataclasses.dataclass
class CLIPTextConfig(_TowerConfig):
    """transformers' CLIPTextConfig (openai/clip-vit-base-patch32's text tower)."""

    model_type: ClassVar[str] = "clip_text_model"
    model_types: ClassVar[tuple[str, ...]] = ("clip_text_model", "clip")
    sub_config: ClassVar[str] = "text_config"
    vocab_size: int = 49408
    max_position_embeddings: int = 77
    pad_token_id: int | None = 1
    bos_token_id: int | None = 49406
    eos_token_id: int | None = 49407


@dataclasses.dataclass
class CLIPVisionConfig(_TowerConfig):
    """transformers' CLIPVisionConfig (openai/clip-vit-base-patch32's vision tower)."""

    model_type: ClassVar[str] = "clip_vision_model"
    model_types: ClassVar[tuple[str, ...]] = ("clip_vision_model", "clip")
    sub_config: ClassVar[str] = "vision_config"
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: int = 224
    patch_size: int = 32

    def _checked(self, source: str = "config"):
        super()._checked(source)
        if self.image_size % self.patch_size:
            raise ValueError(f"{source}: image_size ({self.image_size}) must be a multiple of "
                             f"patch_size ({self.patch_size})")
        return self


@dataclasses.dataclass
class CLIPConfig(PretrainedConfig):
    """transformers' CLIPConfig: text_config and vision_config (dicts in config.json),
    projection_dim, logit_scale_init_value."""

    model_type: ClassVar[str] = "clip"
    text_config: CLIPTextConfig = dataclasses.field(default_factory=CLIPTextConfig)
    vision_config: CLIPVisionConfig = dataclasses.field(default_factory=CLIPVisionConfig)
    projection_dim: int = 512
    logit_scale_init_value: float = 2.6592
    initializer_factor: float = 1.0

    @classmethod
    def _known_fields(cls, values: dict, names: set[str]) -> dict:
        known = super()._known_fields(values, names)
        for name, sub in (("text_config", CLIPTextConfig), ("vision_config", CLIPVisionConfig)):
            value = known.get(name)
            if value is None or isinstance(value, dict):
                known[name] = sub.from_dict(dict(value or {}), f"config {name}")
        return known

    def __post_init__(self):
        for name, sub in (("text_config", CLIPTextConfig), ("vision_config", CLIPVisionConfig)):
            if isinstance(getattr(self, name), dict):
                setattr(self, name, sub.from_dict(getattr(self, name), f"CLIPConfig {name}"))

    def to_dict(self) -> dict:
        values = super().to_dict()
        values["text_config"] = self.text_config.to_dict()
        values["vision_config"] = self.vision_config.to_dict()
        return values


# ------------------------------------------------------------------------------------ layers
class CLIPAttention(nn.Module):
    """q, k, v, out projections with biases: softmax(q k^T / sqrt(head_dim) + mask) v."""

    def __init__(self, config: _TowerConfig, rng=None):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads, self.dropout_p = config.num_attention_heads, config.attention_dropout
        self.k_proj = nn.Linear(hidden, hidden, rng=rng)
        self.v_proj = nn.Linear(hidden, hidden, rng=rng)
        self.q_proj = nn.Linear(hidden, hidden, rng=rng)
        self.out_proj = nn.Linear(hidden, hidden, rng=rng)

    def forward(self, x: Tensor, mask=None, output_attentions: bool = False):
        batch, seq_len, hidden = x.shape

        def heads(t):  # (batch, seq, hidden) -> (batch, heads, seq, head_dim)
            return t.reshape(batch, seq_len, self.num_heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x)), mask=mask,
            dropout_p=self.dropout_p, training=self.training, return_weights=output_attentions)
        weights = None
        if output_attentions:
            out, weights = out
        return self.out_proj(out.transpose(1, 2).reshape(batch, seq_len, hidden)), weights


class CLIPMLP(nn.Module):
    """fc2(act(fc1(x)))."""

    def __init__(self, config: _TowerConfig, rng=None):
        super().__init__()
        self.act = activation(config.hidden_act, "CLIPMLP")
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size, rng=rng)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size, rng=rng)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    """Pre-LN: x + attn(layer_norm1(x)), x + mlp(layer_norm2(x))."""

    def __init__(self, config: _TowerConfig, rng=None):
        super().__init__()
        self.self_attn = CLIPAttention(config, rng=rng)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CLIPMLP(config, rng=rng)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x, mask=None, output_attentions=False):
        out, weights = self.self_attn(self.layer_norm1(x), mask, output_attentions)
        x = x + out
        return x + self.mlp(self.layer_norm2(x)), weights


class CLIPEncoder(nn.Module):
    """The layers: (batch, seq, hidden) -> the same, with the input and each layer's output
    (hidden_states) and weights when asked."""

    def __init__(self, config: _TowerConfig, rng=None):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(config, rng=rng)
                                     for _ in range(config.num_hidden_layers)])

    def forward(self, x, mask=None, output_hidden_states=False, output_attentions=False):
        hidden = [x] if output_hidden_states else None
        weights = [] if output_attentions else None
        for layer in self.layers:
            x, w = layer(x, mask, output_attentions)
            if output_hidden_states:
                hidden.append(x)
            if output_attentions:
                weights.append(w)
        return x, None if hidden is None else tuple(hidden), \
            None if weights is None else tuple(weights)


class CLIPTextEmbeddings(nn.Module):
    """token_embedding(ids) + position_embedding(positions): (batch, seq) -> (batch, seq,
    hidden)."""

    def __init__(self, config: CLIPTextConfig, rng=None):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size, rng=rng)
        self.position_embedding = nn.Embedding(config.max_position_embeddings,
                                               config.hidden_size, rng=rng)

    def forward(self, input_ids: np.ndarray, position_ids=None) -> Tensor:
        seq_len, limit = input_ids.shape[1], self.position_embedding.num_embeddings
        if seq_len > limit:
            raise ValueError(f"CLIPTextEmbeddings: {seq_len} tokens are more than "
                             f"max_position_embeddings={limit}; truncate the text")
        if position_ids is None:
            position_ids = np.arange(seq_len)[None, :]
        position_ids = as_array(position_ids)
        return self.token_embedding(input_ids) + self.position_embedding(position_ids)


class CLIPVisionEmbeddings(nn.Module):
    """class_embedding + conv patches (no bias), + position_embedding: (batch, C, H, W) ->
    (batch, 1 + patches, hidden)."""

    def __init__(self, config: CLIPVisionConfig, rng=None):
        super().__init__()
        self.config = config
        rng = get_rng(rng)
        hidden = config.hidden_size
        self.class_embedding = nn.Parameter(rng.normal(0, hidden ** -0.5, hidden)
                                            .astype(np.float32))
        self.patch_embedding = nn.Conv2d(config.num_channels, hidden, config.patch_size,
                                         stride=config.patch_size, bias=False, rng=rng)
        count = (config.image_size // config.patch_size) ** 2 + 1
        self.position_embedding = nn.Embedding(count, hidden, rng=rng)

    def forward(self, pixel_values: Tensor, interpolate_pos_encoding: bool = False) -> Tensor:
        batch, _, height, width = pixel_values.shape
        size, patch = self.config.image_size, self.config.patch_size
        if not interpolate_pos_encoding and (height, width) != (size, size):
            raise ValueError(f"CLIPVisionEmbeddings: images of {height} x {width} pixels, but "
                             f"the model was built for {size} x {size}; resize them, or pass "
                             f"interpolate_pos_encoding=True")
        patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.reshape(1, 1, -1).expand(batch, -1, -1)
        x = F.cat([cls, patches], dim=1)
        table = self.position_embedding.weight.unsqueeze(0)  # (1, 1 + patches, hidden)
        if interpolate_pos_encoding and not (height == width
                                             and patches.shape[1] == table.shape[1] - 1):
            table = resized_positions(table, height, width, patch)
        return x + table


# ------------------------------------------------------------------------------------ models
class CLIPPreTrainedModel(PreTrainedModel, nn.Module):
    """The CLIP classes' loading: a whole CLIPModel checkpoint loads into one tower (the other
    tower's weights dropped silently, as the towers are routinely taken out of it)."""

    config_class: ClassVar[type] = CLIPConfig
    ignored_keys = ("position_ids",)  # old buffers

    def __init__(self, config):
        super().__init__()
        self._set_config(config)

    def _init_weights(self, rng) -> None:
        """Normal(0, initializer_range * factor) weights, zero biases, unit layer norms."""
        rng = get_rng(rng)
        config = getattr(self.config, "text_config", self.config)
        std = config.initializer_range * config.initializer_factor
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv2d)):
                module.weight.data[...] = rng.normal(0.0, std, module.weight.shape)
                if getattr(module, "bias", None) is not None:
                    module.bias.data[...] = 0


class CLIPTextModel(CLIPPreTrainedModel):
    """The text tower. input_ids (batch, seq) [attention_mask (batch, seq) of 1/0] ->
    ModelOutput(last_hidden_state (batch, seq, hidden), pooler_output (batch, hidden) at the
    EOS token, hidden_states, attentions)."""

    config_class = CLIPTextConfig
    base_model_prefix = "text_model"  # a 4.x CLIPTextModel checkpoint's prefix, dropped
    ignored_prefixes = ("vision_model.", "visual_projection.", "text_projection.",
                        "logit_scale")

    def __init__(self, config: CLIPTextConfig, rng=None):
        super().__init__(config)
        self.embeddings = CLIPTextEmbeddings(config, rng=rng)
        self.encoder = CLIPEncoder(config, rng=rng)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self._init_weights(rng)

    @property
    def base_model(self):
        return self

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        name = type(self).__name__
        if input_ids is None:
            raise ValueError(f"{name}: give input_ids (batch, seq_len)")
        ids = as_ids(name, input_ids, self.config.vocab_size)
        x = self.embeddings(ids, position_ids)
        mask = causal_mask(name, attention_mask, *ids.shape, 0)
        x, hidden_states, attentions = self.encoder(x, mask, output_hidden_states,
                                                    output_attentions)
        last = self.final_layer_norm(x)
        eos = self.config.eos_token_id
        # the original checkpoints' eos (49407) is the largest id; others name it
        positions = ids.argmax(-1) if eos == 2 else (ids == eos).argmax(-1)
        pooled = last[np.arange(len(ids)), positions]
        return ModelOutput(last_hidden_state=last, pooler_output=pooled,
                           hidden_states=hidden_states, attentions=attentions)


class CLIPVisionModel(CLIPPreTrainedModel):
    """The vision tower. pixel_values (batch, C, H, W) -> ModelOutput(last_hidden_state
    (batch, 1 + patches, hidden), pooler_output = post_layernorm(last[:, 0]), hidden_states,
    attentions)."""

    config_class = CLIPVisionConfig
    base_model_prefix = "vision_model"
    ignored_prefixes = ("text_model.", "visual_projection.", "text_projection.",
                        "logit_scale")

    def __init__(self, config: CLIPVisionConfig, rng=None):
        super().__init__(config)
        eps = config.layer_norm_eps
        self.embeddings = CLIPVisionEmbeddings(config, rng=rng)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=eps)  # sic: transformers'
        self.encoder = CLIPEncoder(config, rng=rng)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=eps)
        self._init_weights(rng)

    @property
    def base_model(self):
        return self

    def forward(self, pixel_values=None, interpolate_pos_encoding: bool = False,
                output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        pixels = pixel_input(type(self).__name__, pixel_values, self.config.num_channels)
        x = self.pre_layrnorm(self.embeddings(pixels, interpolate_pos_encoding))
        last, hidden_states, attentions = self.encoder(x, None, output_hidden_states,
                                                       output_attentions)
        return ModelOutput(last_hidden_state=last, pooler_output=self.post_layernorm(last[:, 0]),
                           hidden_states=hidden_states, attentions=attentions)


class CLIPOutput(ModelOutput):
    """CLIPModel's output: loss (with return_loss), logits_per_image (images, texts),
    logits_per_text (texts, images), text_embeds and image_embeds (normalised, (n,
    projection_dim)), the towers' outputs."""

    fields = ("loss", "logits_per_image", "logits_per_text", "text_embeds", "image_embeds",
              "text_model_output", "vision_model_output")


def _normalised(x: Tensor) -> Tensor:
    """x / ||x|| over the last axis."""
    return x / ((x * x).sum(axis=-1, keepdims=True) ** 0.5)


def contrastive_loss(logits_per_text: Tensor) -> Tensor:
    """(CE(logits_per_text, i) + CE(logits_per_image, i)) / 2, pair i matching row i."""
    count = logits_per_text.shape[0]
    if logits_per_text.shape[1] != count:
        raise ValueError(f"CLIPModel: return_loss needs as many texts as images (pair i is "
                         f"text i with image i), got {count} texts and "
                         f"{logits_per_text.shape[1]} images")
    targets = np.arange(count)
    return (F.cross_entropy(logits_per_text, targets)
            + F.cross_entropy(logits_per_text.transpose(0, 1), targets)) / 2.0


class CLIPModel(CLIPPreTrainedModel):
    """Both towers, their projections and logit_scale: texts and images scored by the cosine
    of their projected embeddings times exp(logit_scale)."""

    config_class = CLIPConfig

    def __init__(self, config: CLIPConfig, rng=None):
        super().__init__(config)
        rng = get_rng(rng)
        text, vision = config.text_config, config.vision_config
        self.text_model = CLIPTextModel(text, rng=rng)
        self.vision_model = CLIPVisionModel(vision, rng=rng)
        self.visual_projection = nn.Linear(vision.hidden_size, config.projection_dim,
                                           bias=False, rng=rng)
        self.text_projection = nn.Linear(text.hidden_size, config.projection_dim, bias=False,
                                         rng=rng)
        self.logit_scale = nn.Parameter(np.array(config.logit_scale_init_value, np.float32))

    def get_text_features(self, input_ids=None, attention_mask=None,
                          position_ids=None) -> ModelOutput:
        """The text tower's output with pooler_output projected: (batch, projection_dim), as
        transformers 5 (4.x returned that tensor alone)."""
        out = self.text_model(input_ids, attention_mask, position_ids)
        out.pooler_output = self.text_projection(out.pooler_output)
        return out

    def get_image_features(self, pixel_values=None,
                           interpolate_pos_encoding: bool = False) -> ModelOutput:
        """The vision tower's output with pooler_output projected: (batch, projection_dim)."""
        out = self.vision_model(pixel_values, interpolate_pos_encoding)
        out.pooler_output = self.visual_projection(out.pooler_output)
        return out

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None,
                position_ids=None, return_loss: bool = False,
                interpolate_pos_encoding: bool = False, output_hidden_states: bool = False,
                output_attentions: bool = False) -> CLIPOutput:
        vision = self.vision_model(pixel_values, interpolate_pos_encoding,
                                   output_hidden_states, output_attentions)
        text = self.text_model(input_ids, attention_mask, position_ids, output_hidden_states,
                               output_attentions)
        image_embeds = _normalised(self.visual_projection(vision.pooler_output))
        text_embeds = _normalised(self.text_projection(text.pooler_output))
        logits_per_text = (text_embeds @ image_embeds.transpose(0, 1)) * self.logit_scale.exp()
        loss = contrastive_loss(logits_per_text) if return_loss else None
        return CLIPOutput(loss, logits_per_text.transpose(0, 1), logits_per_text, text_embeds,
                          image_embeds, text, vision)


class CLIPTextModelWithProjection(CLIPPreTrainedModel):
    """The text tower and text_projection: ModelOutput(text_embeds (batch, projection_dim),
    last_hidden_state, hidden_states, attentions). A checkpoint without the projection
    leaves it random, with a warning."""

    config_class = CLIPTextConfig
    base_model_prefix = "text_model"
    ignored_prefixes = CLIPTextModel.ignored_prefixes[:2] + ("logit_scale",)
    strict_load = False

    def __init__(self, config: CLIPTextConfig, rng=None):
        super().__init__(config)
        self.text_model = CLIPTextModel(config, rng=rng)
        self.text_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False,
                                         rng=rng)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        out = self.text_model(input_ids, attention_mask, position_ids, output_hidden_states,
                              output_attentions)
        return ModelOutput(text_embeds=self.text_projection(out.pooler_output),
                           last_hidden_state=out.last_hidden_state,
                           hidden_states=out.hidden_states, attentions=out.attentions)


class CLIPVisionModelWithProjection(CLIPPreTrainedModel):
    """The vision tower and visual_projection: ModelOutput(image_embeds (batch,
    projection_dim), last_hidden_state, hidden_states, attentions)."""

    config_class = CLIPVisionConfig
    base_model_prefix = "vision_model"
    ignored_prefixes = ("text_model.", "text_projection.", "logit_scale")
    strict_load = False

    def __init__(self, config: CLIPVisionConfig, rng=None):
        super().__init__(config)
        self.vision_model = CLIPVisionModel(config, rng=rng)
        self.visual_projection = nn.Linear(config.hidden_size, config.projection_dim,
                                           bias=False, rng=rng)

    def forward(self, pixel_values=None, interpolate_pos_encoding: bool = False,
                output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        out = self.vision_model(pixel_values, interpolate_pos_encoding, output_hidden_states,
                                output_attentions)
        return ModelOutput(image_embeds=self.visual_projection(out.pooler_output),
                           last_hidden_state=out.last_hidden_state,
                           hidden_states=out.hidden_states, attentions=out.attentions)
