"""torchvision's MaxViT (Tu et al. 2022): each layer an MBConv, then multi-axis attention:
within P x P windows ("window") and across a dilated P x P grid ("grid"), both with a learned
relative position bias; module names and buffers as torchvision (blocks.<i>.layers.<j>.layers.
MBconv / window_attention / grid_attention ...)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.tensor import default_dtype
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.swin_transformer import _relative_position_bias, _relative_position_index
from dlpy.vision.ops import Conv2dNormActivation, SqueezeExcitation, StochasticDepth


def _named_sequential(children) -> nn.Sequential:
    """A Sequential with named children (torch's Sequential(OrderedDict(...)))."""
    sequential = nn.Sequential()
    for name, module in children:
        sequential.add_module(name, module)
    return sequential


def _conv_output(size, kernel_size: int = 3, stride: int = 2, padding: int = 1):
    return tuple((s - kernel_size + 2 * padding) // stride + 1 for s in size)


class MBConv(nn.Module):
    """Pre-norm MBConv: BatchNorm, 1x1 expansion, depthwise 3x3 (stride), SE (SiLU), 1x1
    projection (bias); + the shortcut (3x3 average pool stride 2 and a 1x1 conv when the shape
    changes)."""

    def __init__(self, in_channels: int, out_channels: int, expansion_ratio: float,
                 squeeze_ratio: float, stride: int, activation_layer, norm_layer,
                 p_stochastic_dropout: float = 0.0, rng=None):
        super().__init__()
        if stride != 1 or in_channels != out_channels:
            proj = [nn.Conv2d(in_channels, out_channels, 1, rng=rng)]
            if stride == 2:
                proj = [nn.AvgPool2d(3, stride=stride, padding=1)] + proj
            self.proj = nn.Sequential(*proj)
        else:
            self.proj = nn.Identity()
        mid, squeeze = int(out_channels * expansion_ratio), int(out_channels * squeeze_ratio)
        self.stochastic_depth = StochasticDepth(p_stochastic_dropout, "row", rng=rng) \
            if p_stochastic_dropout else nn.Identity()
        self.layers = _named_sequential([
            ("pre_norm", norm_layer(in_channels)),
            ("conv_a", Conv2dNormActivation(in_channels, mid, 1, padding=0,
                                            activation_layer=activation_layer,
                                            norm_layer=norm_layer, rng=rng)),
            ("conv_b", Conv2dNormActivation(mid, mid, 3, stride=stride, padding=1, groups=mid,
                                            activation_layer=activation_layer,
                                            norm_layer=norm_layer, rng=rng)),
            ("squeeze_excitation", SqueezeExcitation(mid, squeeze, activation=nn.SiLU,
                                                     rng=rng)),
            ("conv_c", nn.Conv2d(mid, out_channels, 1, rng=rng)),
        ])

    def forward(self, x):
        return self.proj(x) + self.stochastic_depth(self.layers(x))


class RelativePositionalMultiHeadAttention(nn.Module):
    """Attention over the P tokens of each group, (B, G, P, D) -> the same; keys scaled by
    feat_dim ** -0.5 (torchvision's factor), a relative position bias per head."""

    def __init__(self, feat_dim: int, head_dim: int, max_seq_len: int, rng=None):
        super().__init__()
        if feat_dim % head_dim:
            raise ValueError(f"RelativePositionalMultiHeadAttention: feat_dim {feat_dim} must "
                             f"be divisible by head_dim {head_dim}")
        self.n_heads, self.head_dim = feat_dim // head_dim, head_dim
        self.size, self.max_seq_len = int(math.sqrt(max_seq_len)), max_seq_len
        self.to_qkv = nn.Linear(feat_dim, self.n_heads * head_dim * 3, rng=rng)
        self.scale_factor = feat_dim ** -0.5
        self.merge = nn.Linear(self.n_heads * head_dim, feat_dim, rng=rng)
        rows = (2 * self.size - 1) ** 2
        self.relative_position_bias_table = nn.Parameter(np.zeros((rows, self.n_heads)),
                                                         dtype=default_dtype())
        self.register_buffer("relative_position_index", _relative_position_index(
            [self.size, self.size]).reshape(max_seq_len, max_seq_len))
        init.trunc_normal_(self.relative_position_bias_table, std=0.02, generator=rng)

    def forward(self, x):
        b, g, p, d = x.shape
        heads, head_dim = self.n_heads, self.head_dim
        q, k, v = (F.permute(F.reshape(part, (b, g, p, heads, head_dim)), (0, 1, 3, 2, 4))
                   for part in F.chunk(self.to_qkv(x), 3, -1))
        scores = q @ F.swapaxes(k * self.scale_factor, -2, -1)  # (B, G, heads, P, P)
        bias = _relative_position_bias(self.relative_position_bias_table,
                                       self.relative_position_index.data.reshape(-1),
                                       [self.size, self.size])
        out = F.softmax(scores + bias, dim=-1) @ v
        return self.merge(F.reshape(F.permute(out, (0, 1, 3, 2, 4)), (b, g, p, d)))


def _partition(x, p: int):
    """(B, C, H, W) -> (B, H/p W/p, p p, C): non-overlapping p x p windows."""
    b, c, h, w = x.shape
    x = F.permute(F.reshape(x, (b, c, h // p, p, w // p, p)), (0, 2, 4, 3, 5, 1))
    return F.reshape(x, (b, (h // p) * (w // p), p * p, c))


def _departition(x, p: int, rows: int, cols: int):
    b, _, _, c = x.shape
    x = F.permute(F.reshape(x, (b, rows, cols, p, p, c)), (0, 5, 1, 3, 2, 4))
    return F.reshape(x, (b, c, rows * p, cols * p))


class PartitionAttentionLayer(nn.Module):
    """Window ("window": P x P windows) or grid ("grid": tokens P apart) attention and an MLP,
    each residual with stochastic depth; (B, C, H, W) -> the same."""

    def __init__(self, in_channels: int, head_dim: int, partition_size: int,
                 partition_type: str, grid_size, mlp_ratio: int, activation_layer, norm_layer,
                 attention_dropout: float, mlp_dropout: float, p_stochastic_dropout: float,
                 rng=None):
        super().__init__()
        if partition_type not in ("grid", "window"):
            raise ValueError(f"PartitionAttentionLayer: partition_type must be 'grid' or "
                             f"'window', got {partition_type!r}")
        self.n_heads, self.head_dim = in_channels // head_dim, head_dim
        self.n_partitions = grid_size[0] // partition_size
        self.partition_type, self.grid_size = partition_type, tuple(grid_size)
        self.p, self.g = (partition_size, self.n_partitions) if partition_type == "window" \
            else (self.n_partitions, partition_size)
        self.attn_layer = nn.Sequential(
            norm_layer(in_channels),
            RelativePositionalMultiHeadAttention(in_channels, head_dim, partition_size ** 2,
                                                 rng=rng),
            nn.Dropout(attention_dropout, rng=rng))
        self.mlp_layer = nn.Sequential(
            nn.LayerNorm(in_channels), nn.Linear(in_channels, in_channels * mlp_ratio, rng=rng),
            activation_layer(), nn.Linear(in_channels * mlp_ratio, in_channels, rng=rng),
            nn.Dropout(mlp_dropout, rng=rng))
        self.stochastic_dropout = StochasticDepth(p_stochastic_dropout, "row", rng=rng)

    def forward(self, x):
        rows, cols = self.grid_size[0] // self.p, self.grid_size[1] // self.p
        x = _partition(x, self.p)
        if self.partition_type == "grid":
            x = F.swapaxes(x, -2, -3)
        x = x + self.stochastic_dropout(self.attn_layer(x))
        x = x + self.stochastic_dropout(self.mlp_layer(x))
        if self.partition_type == "grid":
            x = F.swapaxes(x, -2, -3)
        return _departition(x, self.p, rows, cols)


class MaxVitLayer(nn.Module):
    """MBConv, window attention, grid attention (layers.MBconv / window_attention /
    grid_attention)."""

    def __init__(self, in_channels: int, out_channels: int, squeeze_ratio: float,
                 expansion_ratio: float, stride: int, norm_layer, activation_layer,
                 head_dim: int, mlp_ratio: int, mlp_dropout: float, attention_dropout: float,
                 p_stochastic_dropout: float, partition_size: int, grid_size, rng=None):
        super().__init__()
        attention = partial(PartitionAttentionLayer, out_channels, head_dim, partition_size,
                            grid_size=grid_size, mlp_ratio=mlp_ratio,
                            activation_layer=activation_layer, norm_layer=nn.LayerNorm,
                            attention_dropout=attention_dropout, mlp_dropout=mlp_dropout,
                            p_stochastic_dropout=p_stochastic_dropout, rng=rng)
        self.layers = _named_sequential([
            ("MBconv", MBConv(in_channels, out_channels, expansion_ratio, squeeze_ratio, stride,
                              activation_layer, norm_layer, p_stochastic_dropout, rng=rng)),
            ("window_attention", attention(partition_type="window")),
            ("grid_attention", attention(partition_type="grid")),
        ])

    def forward(self, x):
        return self.layers(x)


class MaxVitBlock(nn.Module):
    """n_layers MaxVitLayers, the first with stride 2 (grid_size: its output size)."""

    def __init__(self, in_channels: int, out_channels: int, squeeze_ratio: float,
                 expansion_ratio: float, norm_layer, activation_layer, head_dim: int,
                 mlp_ratio: int, mlp_dropout: float, attention_dropout: float,
                 partition_size: int, input_grid_size, n_layers: int, p_stochastic, rng=None):
        super().__init__()
        if len(p_stochastic) != n_layers:
            raise ValueError(f"MaxVitBlock: p_stochastic must have n_layers={n_layers} values, "
                             f"got {p_stochastic!r}")
        self.grid_size = _conv_output(input_grid_size)
        self.layers = nn.ModuleList([MaxVitLayer(
            in_channels if i == 0 else out_channels, out_channels, squeeze_ratio,
            expansion_ratio, 2 if i == 0 else 1, norm_layer, activation_layer, head_dim,
            mlp_ratio, mlp_dropout, attention_dropout, p, partition_size, self.grid_size,
            rng=rng) for i, p in enumerate(p_stochastic)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class MaxVit(nn.Module):
    """torchvision.models.MaxVit(input_size, stem_channels, partition_size, block_channels,
    block_layers, head_dim, stochastic_depth_prob, norm_layer, activation_layer, squeeze_ratio,
    expansion_ratio, mlp_ratio, mlp_dropout, attention_dropout, num_classes): x (N, 3,
    *input_size) -> (N, num_classes); every block's input must be divisible by
    partition_size. Convolutions and Linear layers N(0, 0.02), zero bias, as torchvision."""

    def __init__(self, input_size, stem_channels: int, partition_size: int, block_channels,
                 block_layers, head_dim: int, stochastic_depth_prob: float, norm_layer=None,
                 activation_layer=nn.GELU, squeeze_ratio: float = 0.25,
                 expansion_ratio: float = 4, mlp_ratio: int = 4, mlp_dropout: float = 0.0,
                 attention_dropout: float = 0.0, num_classes: int = 1000, rng=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
        size = _conv_output(input_size)
        sizes = []
        for _ in block_channels:
            sizes.append(_conv_output(sizes[-1] if sizes else size))
        for index, block_size in enumerate(sizes):
            if block_size[0] % partition_size or block_size[1] % partition_size:
                raise ValueError(f"MaxVit: input size {block_size} of block {index} is not "
                                 f"divisible by partition_size {partition_size} (block input "
                                 f"sizes {sizes})")
        self.stem = nn.Sequential(
            Conv2dNormActivation(3, stem_channels, 3, stride=2, norm_layer=norm_layer,
                                 activation_layer=activation_layer, bias=False, rng=rng),
            Conv2dNormActivation(stem_channels, stem_channels, 3, norm_layer=None,
                                 activation_layer=None, bias=True, rng=rng))
        self.partition_size = partition_size
        self.blocks = nn.ModuleList()
        probabilities = np.linspace(0, stochastic_depth_prob, sum(block_layers)).tolist()
        first = 0
        for in_channels, out_channels, layers in zip([stem_channels] + list(block_channels[:-1]),
                                                     block_channels, block_layers):
            self.blocks.append(MaxVitBlock(
                in_channels, out_channels, squeeze_ratio, expansion_ratio, norm_layer,
                activation_layer, head_dim, mlp_ratio, mlp_dropout, attention_dropout,
                partition_size, size, layers, probabilities[first:first + layers], rng=rng))
            size, first = self.blocks[-1].grid_size, first + layers
        last = block_channels[-1]
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(last),
            nn.Linear(last, last, rng=rng), nn.Tanh(),
            nn.Linear(last, num_classes, bias=False, rng=rng))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                init.normal_(module.weight, std=0.02, generator=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.classifier(x)


def maxvit_t(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> MaxVit:
    """MaxViT-T (30.9 M parameters) for 224x224 images (input_size=): stem 64, blocks
    64-512 of (2, 2, 5, 2) layers, head_dim 32, 7x7 partitions, stochastic depth 0.2."""
    path = weights_path(weights, "maxvit_t")
    model = MaxVit(kwargs.pop("input_size", (224, 224)), 64, 7, [64, 128, 256, 512],
                   [2, 2, 5, 2], 32, kwargs.pop("stochastic_depth_prob", 0.2),
                   num_classes=num_classes, rng=rng, **kwargs)
    return load_weights(model, path)
