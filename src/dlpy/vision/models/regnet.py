"""torchvision's RegNet X and Y (Radosavovic et al. 2020): stages of residual bottlenecks with
grouped 3x3 convolutions (Y: squeeze-and-excitation), widths from a quantised linear rule;
module names as torchvision (trunk_output.block<i>.block<i>-<j>.f.a)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.mobilenetv2 import _make_divisible
from dlpy.vision.ops import Conv2dNormActivation, SqueezeExcitation


class BottleneckTransform(nn.Sequential):
    """a: 1x1, b: grouped 3x3 (stride), se (Y models), c: 1x1 without activation."""

    def __init__(self, width_in: int, width_out: int, stride: int, norm_layer, activation_layer,
                 group_width: int, bottleneck_multiplier: float, se_ratio: float | None,
                 rng=None):
        super().__init__()
        w_b = int(round(width_out * bottleneck_multiplier))
        conv = partial(Conv2dNormActivation, norm_layer=norm_layer, rng=rng)
        self.a = conv(width_in, w_b, 1, activation_layer=activation_layer)
        self.b = conv(w_b, w_b, 3, stride=stride, groups=w_b // group_width,
                      activation_layer=activation_layer)
        if se_ratio:
            self.se = SqueezeExcitation(w_b, int(round(se_ratio * width_in)),
                                        activation=activation_layer, rng=rng)
        self.c = conv(w_b, width_out, 1, activation_layer=None)


class ResBottleneckBlock(nn.Module):
    """activation(proj(x) + f(x)), proj a strided 1x1 convolution where the shape changes."""

    def __init__(self, width_in: int, width_out: int, stride: int, norm_layer, activation_layer,
                 group_width: int = 1, bottleneck_multiplier: float = 1.0,
                 se_ratio: float | None = None, rng=None):
        super().__init__()
        self.proj = None
        if width_in != width_out or stride != 1:
            self.proj = Conv2dNormActivation(width_in, width_out, 1, stride=stride,
                                             norm_layer=norm_layer, activation_layer=None,
                                             rng=rng)
        self.f = BottleneckTransform(width_in, width_out, stride, norm_layer, activation_layer,
                                     group_width, bottleneck_multiplier, se_ratio, rng)
        self.activation = activation_layer()

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class AnyStage(nn.Sequential):
    """depth blocks named block<stage_index>-<i>, the first with the stride."""

    def __init__(self, width_in: int, width_out: int, stride: int, depth: int, norm_layer,
                 activation_layer, group_width: int, bottleneck_multiplier: float,
                 se_ratio: float | None = None, stage_index: int = 0, rng=None):
        super().__init__()
        for i in range(depth):
            self.add_module(f"block{stage_index}-{i}", ResBottleneckBlock(
                width_in if i == 0 else width_out, width_out, stride if i == 0 else 1,
                norm_layer, activation_layer, group_width, bottleneck_multiplier, se_ratio, rng))


class BlockParams:
    """Per-stage depths, widths, group widths, bottleneck multipliers, strides and the SE
    ratio."""

    def __init__(self, depths, widths, group_widths, bottleneck_multipliers, strides,
                 se_ratio: float | None = None):
        self.depths, self.widths, self.group_widths = depths, widths, group_widths
        self.bottleneck_multipliers, self.strides = bottleneck_multipliers, strides
        self.se_ratio = se_ratio

    @classmethod
    def from_init_params(cls, depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
                         bottleneck_multiplier: float = 1.0,
                         se_ratio: float | None = None) -> BlockParams:
        """RegNet's rule: widths w_0 + w_a j quantised to w_0 w_m^k, multiples of 8, in float32
        as torchvision computes them; runs of equal width are the stages."""
        if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % 8 != 0:
            raise ValueError(f"BlockParams: invalid RegNet settings w_0={w_0}, w_a={w_a}, "
                             f"w_m={w_m} (need w_a >= 0, w_0 > 0 a multiple of 8, w_m > 1)")
        f32 = np.float32
        widths_cont = np.arange(depth).astype(f32) * f32(w_a) + f32(w_0)
        capacity = np.round(np.log(widths_cont / f32(w_0)) / f32(math.log(w_m)))
        block_widths = (np.round(f32(w_0) * np.power(f32(w_m), capacity) / f32(8)) * 8)
        block_widths = block_widths.astype(np.int64).tolist()
        splits = [w != wp for w, wp in zip(block_widths + [0], [0] + block_widths)]
        stage_widths = [w for w, t in zip(block_widths, splits[:-1]) if t]
        stage_depths = np.diff([d for d, t in enumerate(splits) if t]).tolist()
        stages = len(stage_widths)
        multipliers = [bottleneck_multiplier] * stages
        widths = [int(w * b) for w, b in zip(stage_widths, multipliers)]
        group_widths = [min(group_width, w) for w in widths]
        widths = [int(_make_divisible(w, g) / b) for w, g, b in zip(widths, group_widths,
                                                                    multipliers)]
        return cls(stage_depths, widths, group_widths, multipliers, [2] * stages, se_ratio)


class RegNet(nn.Module):
    """torchvision.models.RegNet(block_params, num_classes, stem_width, norm_layer,
    activation): x (N, 3, H, W) -> (N, num_classes). Initialised as torchvision: N(0, 2 /
    fan_out) convolutions, N(0, 0.01) Linear, zero Linear bias."""

    def __init__(self, block_params: BlockParams, num_classes: int = 1000,
                 stem_width: int = 32, norm_layer=None, activation=None, rng=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        activation = activation or nn.ReLU
        self.stem = Conv2dNormActivation(3, stem_width, 3, stride=2, norm_layer=norm_layer,
                                         activation_layer=activation, rng=rng)
        width = stem_width
        self.trunk_output = nn.Sequential()
        for i, (width_out, stride, depth, group_width, multiplier) in enumerate(zip(
                block_params.widths, block_params.strides, block_params.depths,
                block_params.group_widths, block_params.bottleneck_multipliers)):
            self.trunk_output.add_module(f"block{i + 1}", AnyStage(
                width, width_out, stride, depth, norm_layer, activation, group_width,
                multiplier, block_params.se_ratio, i + 1, rng))
            width = width_out
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width, num_classes, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = math.prod(module.kernel_size) * module.out_channels
                init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out), generator=rng)
            elif isinstance(module, nn.Linear):
                init.normal_(module.weight, 0.0, 0.01, generator=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(F.flatten(x, 1))


# name: depth, w_0, w_a, w_m, group_width, se_ratio (torchvision's settings)
_SETTINGS = {
    "regnet_y_400mf": (16, 48, 27.89, 2.09, 8, 0.25),
    "regnet_y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
    "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25),
    "regnet_y_3_2gf": (21, 80, 42.63, 2.66, 24, 0.25),
    "regnet_y_8gf": (17, 192, 76.82, 2.19, 56, 0.25),
    "regnet_y_16gf": (18, 200, 106.23, 2.48, 112, 0.25),
    "regnet_y_32gf": (20, 232, 115.89, 2.53, 232, 0.25),
    "regnet_x_400mf": (22, 24, 24.48, 2.54, 16, None),
    "regnet_x_800mf": (16, 56, 35.73, 2.28, 16, None),
    "regnet_x_1_6gf": (18, 80, 34.01, 2.25, 24, None),
    "regnet_x_3_2gf": (25, 88, 26.31, 2.25, 48, None),
    "regnet_x_8gf": (23, 80, 49.56, 2.88, 120, None),
    "regnet_x_16gf": (22, 216, 55.59, 2.1, 128, None),
    "regnet_x_32gf": (23, 320, 69.86, 2.0, 168, None),
}


def _regnet(name: str, weights, num_classes: int, rng, **kwargs) -> RegNet:
    path = weights_path(weights, name)
    depth, w_0, w_a, w_m, group_width, se_ratio = _SETTINGS[name]
    params = BlockParams.from_init_params(depth, w_0, w_a, w_m, group_width, se_ratio=se_ratio)
    return load_weights(RegNet(params, num_classes=num_classes, rng=rng, **kwargs), path)


def regnet_y_400mf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-400MF (4.3 M parameters)."""
    return _regnet("regnet_y_400mf", weights, num_classes, rng, **kwargs)


def regnet_y_800mf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-800MF."""
    return _regnet("regnet_y_800mf", weights, num_classes, rng, **kwargs)


def regnet_y_1_6gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-1.6GF."""
    return _regnet("regnet_y_1_6gf", weights, num_classes, rng, **kwargs)


def regnet_y_3_2gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-3.2GF."""
    return _regnet("regnet_y_3_2gf", weights, num_classes, rng, **kwargs)


def regnet_y_8gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-8GF."""
    return _regnet("regnet_y_8gf", weights, num_classes, rng, **kwargs)


def regnet_y_16gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-16GF."""
    return _regnet("regnet_y_16gf", weights, num_classes, rng, **kwargs)


def regnet_y_32gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-32GF."""
    return _regnet("regnet_y_32gf", weights, num_classes, rng, **kwargs)


def regnet_x_400mf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-400MF (5.5 M parameters)."""
    return _regnet("regnet_x_400mf", weights, num_classes, rng, **kwargs)


def regnet_x_800mf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-800MF."""
    return _regnet("regnet_x_800mf", weights, num_classes, rng, **kwargs)


def regnet_x_1_6gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-1.6GF."""
    return _regnet("regnet_x_1_6gf", weights, num_classes, rng, **kwargs)


def regnet_x_3_2gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-3.2GF."""
    return _regnet("regnet_x_3_2gf", weights, num_classes, rng, **kwargs)


def regnet_x_8gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-8GF."""
    return _regnet("regnet_x_8gf", weights, num_classes, rng, **kwargs)


def regnet_x_16gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-16GF."""
    return _regnet("regnet_x_16gf", weights, num_classes, rng, **kwargs)


def regnet_x_32gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetX-32GF."""
    return _regnet("regnet_x_32gf", weights, num_classes, rng, **kwargs)
