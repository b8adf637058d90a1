"""torchvision's ConvNeXt (Liu et al. 2022): depthwise 7x7, LayerNorm over channels, an
inverted MLP, layer scale and stochastic depth; module names as torchvision
(features.<stage>.<block>.block.<j>, .layer_scale)."""

from __future__ import annotations

from functools import partial

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.ops import Conv2dNormActivation, Permute, StochasticDepth


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W)."""

    def forward(self, x):
        x = F.layer_norm(F.permute(x, (0, 2, 3, 1)), self.weight, self.bias, self.eps)
        return F.permute(x, (0, 3, 1, 2))


class CNBlock(nn.Module):
    """x + stochastic_depth(layer_scale * (dwconv7, LayerNorm, Linear 4x, GELU, Linear)(x))."""

    def __init__(self, dim: int, layer_scale: float, stochastic_depth_prob: float,
                 norm_layer=None, rng=None):
        super().__init__()
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim, rng=rng), Permute([0, 2, 3, 1]),
            norm_layer(dim), nn.Linear(dim, 4 * dim, rng=rng), nn.GELU(),
            nn.Linear(4 * dim, dim, rng=rng), Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(np.full((dim, 1, 1), layer_scale),
                                        dtype=self.block[0].weight.dtype)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row", rng=rng)

    def forward(self, x):
        return self.stochastic_depth(self.layer_scale * self.block(x)) + x


class CNBlockConfig:
    """A stage: input_channels, out_channels (None for the last stage), num_layers."""

    def __init__(self, input_channels: int, out_channels: int | None, num_layers: int):
        self.input_channels, self.out_channels = input_channels, out_channels
        self.num_layers = num_layers


class ConvNeXt(nn.Module):
    """torchvision.models.ConvNeXt(block_setting, stochastic_depth_prob, layer_scale,
    num_classes): x (N, 3, H, W) -> (N, num_classes), H, W >= 32; a 4x4 stride-4 stem and 2x2
    downsampling between stages. Initialised as torchvision: truncated N(0, 0.02) weights,
    zero biases."""

    def __init__(self, block_setting, stochastic_depth_prob: float = 0.0,
                 layer_scale: float = 1e-6, num_classes: int = 1000, norm_layer=None, rng=None):
        super().__init__()
        if not block_setting or not all(isinstance(s, CNBlockConfig) for s in block_setting):
            raise TypeError("ConvNeXt: block_setting must be a non-empty list of CNBlockConfig, "
                            f"got {block_setting!r}")
        norm_layer = norm_layer or partial(LayerNorm2d, eps=1e-6)
        layers = [Conv2dNormActivation(3, block_setting[0].input_channels, 4, stride=4,
                                       padding=0, norm_layer=norm_layer, activation_layer=None,
                                       bias=True, rng=rng)]
        total = sum(cnf.num_layers for cnf in block_setting)
        block_id = 0
        for cnf in block_setting:
            stage = []
            for _ in range(cnf.num_layers):
                stage.append(CNBlock(cnf.input_channels, layer_scale,
                                     stochastic_depth_prob * block_id / (total - 1.0), rng=rng))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if cnf.out_channels is not None:
                layers.append(nn.Sequential(
                    norm_layer(cnf.input_channels),
                    nn.Conv2d(cnf.input_channels, cnf.out_channels, 2, stride=2, rng=rng)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = block_setting[-1]
        channels = last.out_channels if last.out_channels is not None else last.input_channels
        self.classifier = nn.Sequential(norm_layer(channels), nn.Flatten(1),
                                        nn.Linear(channels, num_classes, rng=rng))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                init.trunc_normal_(module.weight, std=0.02, generator=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


def _convnext(name, setting, default_sd, weights, num_classes, rng, **kwargs) -> ConvNeXt:
    path = weights_path(weights, name)
    blocks = [CNBlockConfig(*row) for row in setting]
    model = ConvNeXt(blocks, kwargs.pop("stochastic_depth_prob", default_sd),
                     num_classes=num_classes, rng=rng, **kwargs)
    return load_weights(model, path)


def convnext_tiny(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ConvNeXt:
    """ConvNeXt-T: widths 96-768, depths (3, 3, 9, 3), stochastic depth 0.1 (28.6 M)."""
    return _convnext("convnext_tiny", [(96, 192, 3), (192, 384, 3), (384, 768, 9),
                                       (768, None, 3)], 0.1, weights, num_classes, rng, **kwargs)


def convnext_small(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ConvNeXt:
    """ConvNeXt-S: widths 96-768, depths (3, 3, 27, 3), stochastic depth 0.4."""
    return _convnext("convnext_small", [(96, 192, 3), (192, 384, 3), (384, 768, 27),
                                        (768, None, 3)], 0.4, weights, num_classes, rng,
                     **kwargs)


def convnext_base(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ConvNeXt:
    """ConvNeXt-B: widths 128-1024, depths (3, 3, 27, 3), stochastic depth 0.5."""
    return _convnext("convnext_base", [(128, 256, 3), (256, 512, 3), (512, 1024, 27),
                                       (1024, None, 3)], 0.5, weights, num_classes, rng,
                     **kwargs)
