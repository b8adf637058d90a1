"""torchvision's EfficientNet B0-B7 (Tan & Le 2019) and EfficientNetV2-S (2021): MBConv and
FusedMBConv blocks with SiLU, squeeze-and-excitation and stochastic depth growing linearly
with depth; module names as torchvision (features.<stage>.<block>.block.<j>)."""

from __future__ import annotations

import math
from functools import partial

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.mobilenetv2 import _make_divisible
from dlpy.vision.ops import Conv2dNormActivation, SqueezeExcitation, StochasticDepth


class MBConvConfig:
    """A stage of MBConv (fused=False) or FusedMBConv blocks: expand_ratio, kernel, stride,
    input_channels, out_channels, num_layers; widths and depth scaled by width_mult and
    depth_mult (channels to multiples of 8, layers rounded up)."""

    def __init__(self, expand_ratio: float, kernel: int, stride: int, input_channels: int,
                 out_channels: int, num_layers: int, width_mult: float = 1.0,
                 depth_mult: float = 1.0, fused: bool = False):
        self.expand_ratio, self.kernel, self.stride = expand_ratio, kernel, stride
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.num_layers = int(math.ceil(num_layers * depth_mult))
        self.fused = fused

    @staticmethod
    def adjust_channels(channels: float, width_mult: float) -> int:
        return _make_divisible(channels * width_mult, 8)


class MBConv(nn.Module):
    """1x1 expansion, depthwise kxk, squeeze-and-excitation (input_channels // 4), 1x1
    projection; with stride 1 and equal widths, stochastic_depth(block(x)) + x."""

    def __init__(self, cnf: MBConvConfig, stochastic_depth_prob: float, norm_layer, rng=None):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError(f"MBConv: stride must be 1 or 2, got {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        conv = partial(Conv2dNormActivation, norm_layer=norm_layer, rng=rng)
        layers = []
        if expanded != cnf.input_channels:
            layers.append(conv(cnf.input_channels, expanded, 1, activation_layer=nn.SiLU))
        layers += [conv(expanded, expanded, cnf.kernel, stride=cnf.stride, groups=expanded,
                        activation_layer=nn.SiLU),
                   SqueezeExcitation(expanded, max(1, cnf.input_channels // 4),
                                     activation=nn.SiLU, rng=rng),
                   conv(expanded, cnf.out_channels, 1, activation_layer=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        self.out_channels = cnf.out_channels

    def forward(self, x):
        result = self.block(x)
        return self.stochastic_depth(result) + x if self.use_res_connect else result


class FusedMBConv(MBConv):
    """A full kxk convolution in place of the expansion and depthwise pair (no SE), then a 1x1
    projection; only the kxk one when expand_ratio is 1."""

    def __init__(self, cnf: MBConvConfig, stochastic_depth_prob: float, norm_layer, rng=None):
        nn.Module.__init__(self)
        if not 1 <= cnf.stride <= 2:
            raise ValueError(f"FusedMBConv: stride must be 1 or 2, got {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        conv = partial(Conv2dNormActivation, norm_layer=norm_layer, rng=rng)
        if expanded != cnf.input_channels:
            layers = [conv(cnf.input_channels, expanded, cnf.kernel, stride=cnf.stride,
                           activation_layer=nn.SiLU),
                      conv(expanded, cnf.out_channels, 1, activation_layer=None)]
        else:
            layers = [conv(cnf.input_channels, cnf.out_channels, cnf.kernel, stride=cnf.stride,
                           activation_layer=nn.SiLU)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        self.out_channels = cnf.out_channels


class EfficientNet(nn.Module):
    """torchvision.models.EfficientNet(inverted_residual_setting, dropout,
    stochastic_depth_prob, num_classes, norm_layer, last_channel): x (N, 3, H, W) -> (N,
    num_classes); block i of n drops its branch with probability stochastic_depth_prob * i / n
    while training. Initialised as torchvision: Kaiming-normal (fan_out) convolutions,
    U(+-1/sqrt(out_features)) Linear, zero biases."""

    def __init__(self, inverted_residual_setting, dropout: float,
                 stochastic_depth_prob: float = 0.2, num_classes: int = 1000, norm_layer=None,
                 last_channel: int | None = None, rng=None):
        super().__init__()
        if not inverted_residual_setting or not all(
                isinstance(s, MBConvConfig) for s in inverted_residual_setting):
            raise TypeError("EfficientNet: inverted_residual_setting must be a non-empty list of "
                            f"MBConvConfig, got {inverted_residual_setting!r}")
        norm_layer = norm_layer or nn.BatchNorm2d
        first = inverted_residual_setting[0].input_channels
        layers = [Conv2dNormActivation(3, first, 3, stride=2, norm_layer=norm_layer,
                                       activation_layer=nn.SiLU, rng=rng)]
        total = sum(cnf.num_layers for cnf in inverted_residual_setting)
        block_id = 0
        for cnf in inverted_residual_setting:
            stage = []
            for i in range(cnf.num_layers):
                block_cnf = MBConvConfig.__new__(MBConvConfig)
                block_cnf.__dict__.update(cnf.__dict__)
                if i:
                    block_cnf.input_channels, block_cnf.stride = block_cnf.out_channels, 1
                block = FusedMBConv if cnf.fused else MBConv
                stage.append(block(block_cnf, stochastic_depth_prob * block_id / total,
                                   norm_layer, rng))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = inverted_residual_setting[-1].out_channels
        last_out = last_channel if last_channel is not None else 4 * last_in
        layers.append(Conv2dNormActivation(last_in, last_out, 1, norm_layer=norm_layer,
                                           activation_layer=nn.SiLU, rng=rng))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng),
                                        nn.Linear(last_out, num_classes, rng=rng))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", generator=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.out_features)
                init.uniform_(module.weight, -bound, bound, generator=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


_B_SETTING = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
              (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
              (6, 3, 1, 192, 320, 1)]
# name: (width_mult, depth_mult, dropout, BatchNorm eps and momentum)
_B_SCALES = {"b0": (1.0, 1.0, 0.2, None), "b1": (1.0, 1.1, 0.2, None),
             "b2": (1.1, 1.2, 0.3, None), "b3": (1.2, 1.4, 0.3, None),
             "b4": (1.4, 1.8, 0.4, None), "b5": (1.6, 2.2, 0.4, (0.001, 0.01)),
             "b6": (1.8, 2.6, 0.5, (0.001, 0.01)), "b7": (2.0, 3.1, 0.5, (0.001, 0.01))}


def _efficientnet_b(variant: str, weights, num_classes: int, rng, **kwargs) -> EfficientNet:
    name = f"efficientnet_{variant}"
    path = weights_path(weights, name)
    width, depth, dropout, norm = _B_SCALES[variant]
    setting = [MBConvConfig(*row, width_mult=width, depth_mult=depth) for row in _B_SETTING]
    if norm is not None:
        kwargs.setdefault("norm_layer", partial(nn.BatchNorm2d, eps=norm[0], momentum=norm[1]))
    model = EfficientNet(setting, kwargs.pop("dropout", dropout), num_classes=num_classes,
                         rng=rng, **kwargs)
    return load_weights(model, path)


def efficientnet_b0(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B0 (5.3 M parameters at 1000 classes); stochastic_depth_prob 0.2."""
    return _efficientnet_b("b0", weights, num_classes, rng, **kwargs)


def efficientnet_b1(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B1: width 1.0, depth 1.1."""
    return _efficientnet_b("b1", weights, num_classes, rng, **kwargs)


def efficientnet_b2(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B2: width 1.1, depth 1.2, dropout 0.3."""
    return _efficientnet_b("b2", weights, num_classes, rng, **kwargs)


def efficientnet_b3(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B3: width 1.2, depth 1.4, dropout 0.3."""
    return _efficientnet_b("b3", weights, num_classes, rng, **kwargs)


def efficientnet_b4(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B4: width 1.4, depth 1.8, dropout 0.4."""
    return _efficientnet_b("b4", weights, num_classes, rng, **kwargs)


def efficientnet_b5(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B5: width 1.6, depth 2.2, dropout 0.4, BatchNorm eps 1e-3 momentum 0.01."""
    return _efficientnet_b("b5", weights, num_classes, rng, **kwargs)


def efficientnet_b6(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B6: width 1.8, depth 2.6, dropout 0.5, BatchNorm eps 1e-3 momentum 0.01."""
    return _efficientnet_b("b6", weights, num_classes, rng, **kwargs)


def efficientnet_b7(*, weights=None, num_classes: int = 1000, rng=None,
                    **kwargs) -> EfficientNet:
    """EfficientNet-B7: width 2.0, depth 3.1, dropout 0.5, BatchNorm eps 1e-3 momentum 0.01."""
    return _efficientnet_b("b7", weights, num_classes, rng, **kwargs)


def efficientnet_v2_s(*, weights=None, num_classes: int = 1000, rng=None,
                      **kwargs) -> EfficientNet:
    """EfficientNetV2-S (21.5 M parameters): three FusedMBConv stages, then MBConv; BatchNorm
    eps 1e-3; last_channel 1280."""
    path = weights_path(weights, "efficientnet_v2_s")
    setting = [MBConvConfig(1, 3, 1, 24, 24, 2, fused=True),
               MBConvConfig(4, 3, 2, 24, 48, 4, fused=True),
               MBConvConfig(4, 3, 2, 48, 64, 4, fused=True),
               MBConvConfig(4, 3, 2, 64, 128, 6), MBConvConfig(6, 3, 1, 128, 160, 9),
               MBConvConfig(6, 3, 2, 160, 256, 15)]
    kwargs.setdefault("norm_layer", partial(nn.BatchNorm2d, eps=1e-3))
    model = EfficientNet(setting, kwargs.pop("dropout", 0.2), num_classes=num_classes,
                         last_channel=1280, rng=rng, **kwargs)
    return load_weights(model, path)
