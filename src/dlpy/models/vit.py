"""ViT (Dosovitskiy et al., 2021) in Hugging Face ``transformers``' checkpoint layout: the
module names a transformers checkpoint holds (``vit.encoder.layer.0.attention.attention.query``
...), so it loads with ``from_pretrained`` and gives the same outputs; the names transformers
5 uses in memory (``vit.layers.0.attention.q_proj``...) are read too.

    patches:  x (batch, channels, H, W) -> conv (kernel = stride = patch_size) -> (batch,
              (H / p) (W / p), hidden); [CLS] prepended; + position_embeddings (bicubically
              resized to the grid with interpolate_pos_encoding)
    layer:    x = x + attn(layernorm_before(x));  x = x + fc2(act(fc1(layernorm_after(x))))
    output:   layernorm(x); pooler tanh(W x[:, 0] + b); classifier on layernorm(x)[:, 0]

    ViTModel: pixel_values (batch, C, H, W) -> last_hidden_state (batch, 1 + patches, hidden),
              pooler_output (batch, hidden)
    ViTForImageClassification: -> logits (batch, num_labels), loss by config.problem_type
"""

from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.models.bert import (
    EncoderConfig,
    PreTrainedEncoder,
    init_weights,
    multi_head_attention,
    sequence_classification_loss,
)
from dlpy.models.modeling_utils import ModelOutput, activation
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["ViTConfig", "ViTForImageClassification", "ViTModel", "pixel_input"]


@dataclasses.dataclass
class ViTConfig(EncoderConfig):
    """transformers' ViTConfig: its field names and defaults (google/vit-base-patch16-224)."""

    model_type: ClassVar[str] = "vit"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "image_size", "patch_size", "num_channels")
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    qkv_bias: bool = True
    encoder_stride: int = 16
    pooler_output_size: int | None = None  # None: hidden_size
    pooler_act: str = "tanh"

    def _checked(self, source: str = "config"):
        super()._checked(source)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"{source}: hidden_size ({self.hidden_size}) must be a multiple of "
                             f"num_attention_heads ({self.num_attention_heads})")
        if self.image_size % self.patch_size:
            raise ValueError(f"{source}: image_size ({self.image_size}) must be a multiple of "
                             f"patch_size ({self.patch_size})")
        activation(self.hidden_act, source)
        activation(self.pooler_act, source)
        return self

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


def pixel_input(owner: str, pixel_values, num_channels: int) -> Tensor:
    """pixel_values (batch, num_channels, H, W) as a float Tensor, or an error naming the
    shape."""
    if pixel_values is None:
        raise ValueError(f"{owner}: give pixel_values (batch, {num_channels}, height, width)")
    if not isinstance(pixel_values, Tensor):
        array = np.asarray(pixel_values)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{owner}: pixel_values must hold numbers, got {array.dtype}")
        pixel_values = Tensor(array.astype(np.float32, copy=False))
    if pixel_values.ndim != 4 or pixel_values.shape[1] != num_channels:
        raise ValueError(f"{owner}: pixel_values must be (batch, num_channels={num_channels}, "
                         f"height, width), got shape {tuple(pixel_values.shape)}")
    return pixel_values


def resized_positions(table: Tensor, height: int, width: int, patch_size: int) -> Tensor:
    """A position table (1, 1 + n * n, dim), the first row the [CLS] one, with its n x n grid
    resized bicubically to (height // patch_size, width // patch_size) as transformers'
    interpolate_pos_encoding -> (1, 1 + grid, dim)."""
    dim, count = table.shape[-1], table.shape[1] - 1
    side = int(count ** 0.5)
    grid = table[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(height // patch_size, width // patch_size), mode="bicubic",
                         align_corners=False)
    return F.cat([table[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)


class ViTPatchEmbeddings(nn.Module):
    """conv(kernel = stride = patch_size): (batch, C, H, W) -> (batch, patches, hidden)."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        self.num_channels = config.num_channels
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, config.patch_size,
                                    stride=config.patch_size, rng=rng)

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    """[CLS] + patch embeddings + position_embeddings, dropout: (batch, C, H, W) -> (batch,
    1 + patches, hidden)."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        self.config = config
        rng = get_rng(rng)
        std = config.initializer_range
        self.cls_token = nn.Parameter(rng.normal(0, std, (1, 1, config.hidden_size))
                                      .astype(np.float32))
        self.position_embeddings = nn.Parameter(
            rng.normal(0, std, (1, config.num_patches + 1, config.hidden_size))
            .astype(np.float32))
        self.patch_embeddings = ViTPatchEmbeddings(config, rng=rng)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: Tensor, interpolate_pos_encoding: bool = False) -> Tensor:
        batch, _, height, width = pixel_values.shape
        size, patch = self.config.image_size, self.config.patch_size
        if not interpolate_pos_encoding and (height, width) != (size, size):
            raise ValueError(f"ViTEmbeddings: images of {height} x {width} pixels, but the model "
                             f"was built for {size} x {size}; resize them, or pass "
                             f"interpolate_pos_encoding=True")
        if height < patch or width < patch:
            raise ValueError(f"ViTEmbeddings: images of {height} x {width} pixels are smaller "
                             f"than one patch ({patch} x {patch})")
        patches = self.patch_embeddings(pixel_values)
        x = F.cat([self.cls_token.expand(batch, -1, -1), patches], dim=1)
        positions = self.position_embeddings
        if interpolate_pos_encoding and not (height == width and
                                             patches.shape[1] == positions.shape[1] - 1):
            positions = resized_positions(positions, height, width, patch)
        return self.dropout(x + positions)


class ViTSelfAttention(nn.Module):
    """query, key, value projections: softmax(q k^T / sqrt(head_dim)) v per head."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads, self.dropout_p = config.num_attention_heads, \
            config.attention_probs_dropout_prob
        self.query = nn.Linear(hidden, hidden, bias=config.qkv_bias, rng=rng)
        self.key = nn.Linear(hidden, hidden, bias=config.qkv_bias, rng=rng)
        self.value = nn.Linear(hidden, hidden, bias=config.qkv_bias, rng=rng)

    def forward(self, hidden_states, output_attentions=False):
        return multi_head_attention(hidden_states, self.query, self.key, self.value, None,
                                    self.num_heads, self.dropout_p, self.training,
                                    output_attentions)


class _Dense(nn.Module):
    """dropout(dense(x)), optionally activated: the checkpoint's ``*.dense`` wrappers."""

    def __init__(self, in_features: int, out_features: int, dropout: float, act=None,
                 rng=None):
        super().__init__()
        self.dense = nn.Linear(in_features, out_features, rng=rng)
        self.act = act
        self.dropout = nn.Dropout(dropout) if act is None else None

    def forward(self, x):
        x = self.dense(x)
        return self.act(x) if self.act is not None else self.dropout(x)


class ViTAttention(nn.Module):
    """attention.attention (q, k, v) and attention.output.dense: (batch, seq, hidden) -> the
    same, and the weights when asked."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        self.attention = ViTSelfAttention(config, rng=rng)
        self.output = _Dense(config.hidden_size, config.hidden_size, config.hidden_dropout_prob,
                             rng=rng)

    def forward(self, hidden_states, output_attentions=False):
        context, weights = self.attention(hidden_states, output_attentions)
        return self.output(context), weights


class ViTLayer(nn.Module):
    """Pre-LN: x + attn(layernorm_before(x)), then x + output(intermediate(layernorm_after(x)))."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_eps
        self.attention = ViTAttention(config, rng=rng)
        self.intermediate = _Dense(hidden, config.intermediate_size, 0.0,
                                   activation(config.hidden_act, "ViTConfig"), rng=rng)
        self.output = _Dense(config.intermediate_size, hidden, config.hidden_dropout_prob,
                             rng=rng)
        self.layernorm_before = nn.LayerNorm(hidden, eps=eps)
        self.layernorm_after = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, output_attentions=False):
        out, weights = self.attention(self.layernorm_before(x), output_attentions)
        x = x + out
        return x + self.output(self.intermediate(self.layernorm_after(x))), weights


class ViTEncoder(nn.Module):
    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(config, rng=rng)
                                    for _ in range(config.num_hidden_layers)])

    def forward(self, x, output_hidden_states=False, output_attentions=False):
        hidden = [x] if output_hidden_states else None
        weights = [] if output_attentions else None
        for layer in self.layer:
            x, w = layer(x, output_attentions)
            if output_hidden_states:
                hidden.append(x)
            if output_attentions:
                weights.append(w)
        return x, None if hidden is None else tuple(hidden), \
            None if weights is None else tuple(weights)


class ViTPooler(nn.Module):
    """act(W x[:, 0] + b): (batch, seq, hidden) -> (batch, pooler_output_size)."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.pooler_output_size
                               or config.hidden_size, rng=rng)
        self.act = activation(config.pooler_act, "ViTConfig")

    def forward(self, hidden_states):
        return self.act(self.dense(hidden_states[:, 0]))


# transformers 5's in-memory names -> the checkpoint names used here
RENAMES = [(re.compile(pattern), target) for pattern, target in (
    (r"layers\.(\d+)\.attention\.q_proj\.", r"encoder.layer.\1.attention.attention.query."),
    (r"layers\.(\d+)\.attention\.k_proj\.", r"encoder.layer.\1.attention.attention.key."),
    (r"layers\.(\d+)\.attention\.v_proj\.", r"encoder.layer.\1.attention.attention.value."),
    (r"layers\.(\d+)\.attention\.o_proj\.", r"encoder.layer.\1.attention.output.dense."),
    (r"layers\.(\d+)\.mlp\.fc1\.", r"encoder.layer.\1.intermediate.dense."),
    (r"layers\.(\d+)\.mlp\.fc2\.", r"encoder.layer.\1.output.dense."),
    (r"layers\.(\d+)\.layernorm_", r"encoder.layer.\1.layernorm_"),
)]


class ViTPreTrainedModel(PreTrainedEncoder):
    """Loading as the encoders (lenient: a new classifier starts random, with a warning), the
    transformers 5 in-memory names renamed to the checkpoint ones."""

    config_class: ClassVar[type] = ViTConfig
    base_model_prefix: ClassVar[str] = "vit"
    ignored_keys = ()

    def load_hf_state_dict(self, state, source: str = "state dict") -> None:
        renamed = {}
        for key, value in state.items():
            for pattern, target in RENAMES:
                key = pattern.sub(target, key)
            renamed[key] = value
        super().load_hf_state_dict(renamed, source)

    load_pretrained_state = load_hf_state_dict

    def post_init(self, rng) -> None:
        super().post_init(rng)  # Linear / LayerNorm as transformers; the convolutions too:
        rng = get_rng(rng)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data[...] = rng.normal(0.0, self.config.initializer_range,
                                                     module.weight.shape)
                module.bias.data[...] = 0


class ViTModel(ViTPreTrainedModel):
    """Patch embeddings, ``num_hidden_layers`` pre-LN layers, the final layernorm and (unless
    add_pooling_layer=False) the pooler. pixel_values (batch, C, H, W) -> ModelOutput(
    last_hidden_state (batch, 1 + patches, hidden), pooler_output (batch, hidden),
    hidden_states, attentions)."""

    def __init__(self, config: ViTConfig, add_pooling_layer: bool = True, rng=None):
        super().__init__(config)
        self.embeddings = ViTEmbeddings(config, rng=rng)
        self.encoder = ViTEncoder(config, rng=rng)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTPooler(config, rng=rng) if add_pooling_layer else None
        self.post_init(rng)

    def forward(self, pixel_values=None, interpolate_pos_encoding: bool = False,
                output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        pixels = pixel_input(type(self).__name__, pixel_values, self.config.num_channels)
        x = self.embeddings(pixels, interpolate_pos_encoding)
        x, hidden_states, attentions = self.encoder(x, output_hidden_states, output_attentions)
        last = self.layernorm(x)
        return ModelOutput(last_hidden_state=last,
                           pooler_output=None if self.pooler is None else self.pooler(last),
                           hidden_states=hidden_states, attentions=attentions)


class ViTForImageClassification(ViTPreTrainedModel):
    """ViTModel without pooler + a linear classifier on the final [CLS] state: logits (batch,
    num_labels); ``labels`` give the loss of config.problem_type (integers: cross-entropy;
    num_labels == 1: MSE; floats: BCE with logits), as transformers."""

    def __init__(self, config: ViTConfig, rng=None):
        super().__init__(config)
        self.vit = ViTModel(config, add_pooling_layer=False, rng=rng)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, rng=rng)
        init_weights(self.classifier, config.initializer_range, get_rng(rng))

    def forward(self, pixel_values=None, labels=None, interpolate_pos_encoding: bool = False,
                output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        out = self.vit(pixel_values, interpolate_pos_encoding, output_hidden_states,
                       output_attentions)
        logits = self.classifier(out.last_hidden_state[:, 0])
        loss = None if labels is None else \
            sequence_classification_loss(self.config, logits, labels)
        return ModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                           attentions=out.attentions)
