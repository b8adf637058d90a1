"""torchvision's MobileNetV3 small and large (Howard et al. 2019): inverted residuals with
squeeze-and-excitation (hard-sigmoid gate) and hard-swish, module names as torchvision
(features.<i>.block.<j>, classifier.<i>)."""

from __future__ import annotations

from functools import partial

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.mobilenetv2 import _make_divisible
from dlpy.vision.ops import Conv2dNormActivation, SqueezeExcitation


class InvertedResidualConfig:
    """One block: input_channels, kernel, expanded_channels, out_channels, use_se, activation
    ("RE" ReLU or "HS" hard-swish), stride, dilation; channels scaled by width_mult and rounded
    to multiples of 8."""

    def __init__(self, input_channels: int, kernel: int, expanded_channels: int,
                 out_channels: int, use_se: bool, activation: str, stride: int, dilation: int,
                 width_mult: float):
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se, self.use_hs = use_se, activation == "HS"
        self.stride, self.dilation = stride, dilation

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        return _make_divisible(channels * width_mult, 8)


class InvertedResidual(nn.Module):
    """1x1 expansion (when the width changes), depthwise kxk (stride or dilation), optional
    squeeze-and-excitation, 1x1 projection; x is added back at stride 1 with equal widths."""

    def __init__(self, cnf: InvertedResidualConfig, norm_layer, rng=None):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        activation = nn.Hardswish if cnf.use_hs else nn.ReLU
        layers = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, cnf.expanded_channels, 1,
                                               norm_layer=norm_layer,
                                               activation_layer=activation, rng=rng))
        layers.append(Conv2dNormActivation(
            cnf.expanded_channels, cnf.expanded_channels, cnf.kernel,
            stride=1 if cnf.dilation > 1 else cnf.stride, dilation=cnf.dilation,
            groups=cnf.expanded_channels, norm_layer=norm_layer, activation_layer=activation,
            rng=rng))
        if cnf.use_se:
            layers.append(SqueezeExcitation(cnf.expanded_channels,
                                            _make_divisible(cnf.expanded_channels // 4, 8),
                                            scale_activation=nn.Hardsigmoid, rng=rng))
        layers.append(Conv2dNormActivation(cnf.expanded_channels, cnf.out_channels, 1,
                                           norm_layer=norm_layer, activation_layer=None,
                                           rng=rng))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, x):
        result = self.block(x)
        return result + x if self.use_res_connect else result


class MobileNetV3(nn.Module):
    """torchvision.models.MobileNetV3(inverted_residual_setting, last_channel, num_classes,
    dropout): x (N, 3, H, W) -> (N, num_classes). BatchNorm eps 0.001, momentum 0.01.
    Initialised as torchvision: Kaiming-normal (fan_out) convolutions, N(0, 0.01) Linear,
    zero biases."""

    def __init__(self, inverted_residual_setting, last_channel: int, num_classes: int = 1000,
                 norm_layer=None, dropout: float = 0.2, rng=None):
        super().__init__()
        if not inverted_residual_setting or not all(
                isinstance(s, InvertedResidualConfig) for s in inverted_residual_setting):
            raise TypeError("MobileNetV3: inverted_residual_setting must be a non-empty list of "
                            f"InvertedResidualConfig, got {inverted_residual_setting!r}")
        norm_layer = norm_layer or partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        first = inverted_residual_setting[0].input_channels
        layers = [Conv2dNormActivation(3, first, 3, stride=2, norm_layer=norm_layer,
                                       activation_layer=nn.Hardswish, rng=rng)]
        layers += [InvertedResidual(cnf, norm_layer, rng) for cnf in inverted_residual_setting]
        last_in = inverted_residual_setting[-1].out_channels
        layers.append(Conv2dNormActivation(last_in, 6 * last_in, 1, norm_layer=norm_layer,
                                           activation_layer=nn.Hardswish, rng=rng))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last_channel, rng=rng), nn.Hardswish(),
            nn.Dropout(dropout, rng=rng), nn.Linear(last_channel, num_classes, rng=rng))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", generator=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                init.normal_(module.weight, 0.0, 0.01, generator=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def _mobilenet_v3_conf(arch: str, width_mult: float = 1.0, reduced_tail: bool = False,
                       dilated: bool = False):
    """torchvision's settings of mobilenet_v3_large / _small: (blocks, last_channel)."""
    divider, dilation = (2 if reduced_tail else 1), (2 if dilated else 1)
    conf = partial(InvertedResidualConfig, width_mult=width_mult)
    if arch == "mobilenet_v3_large":
        c4, c4e = 160 // divider, 960 // divider
        setting = [conf(16, 3, 16, 16, False, "RE", 1, 1), conf(16, 3, 64, 24, False, "RE", 2, 1),
                   conf(24, 3, 72, 24, False, "RE", 1, 1), conf(24, 5, 72, 40, True, "RE", 2, 1),
                   conf(40, 5, 120, 40, True, "RE", 1, 1), conf(40, 5, 120, 40, True, "RE", 1, 1),
                   conf(40, 3, 240, 80, False, "HS", 2, 1),
                   conf(80, 3, 200, 80, False, "HS", 1, 1),
                   conf(80, 3, 184, 80, False, "HS", 1, 1),
                   conf(80, 3, 184, 80, False, "HS", 1, 1),
                   conf(80, 3, 480, 112, True, "HS", 1, 1),
                   conf(112, 3, 672, 112, True, "HS", 1, 1),
                   conf(112, 5, 672, c4, True, "HS", 2, dilation),
                   conf(c4, 5, c4e, c4, True, "HS", 1, dilation),
                   conf(c4, 5, c4e, c4, True, "HS", 1, dilation)]
        last = 1280 // divider
    else:
        c4, c4e = 96 // divider, 576 // divider
        setting = [conf(16, 3, 16, 16, True, "RE", 2, 1), conf(16, 3, 72, 24, False, "RE", 2, 1),
                   conf(24, 3, 88, 24, False, "RE", 1, 1), conf(24, 5, 96, 40, True, "HS", 2, 1),
                   conf(40, 5, 240, 40, True, "HS", 1, 1), conf(40, 5, 240, 40, True, "HS", 1, 1),
                   conf(40, 5, 120, 48, True, "HS", 1, 1), conf(48, 5, 144, 48, True, "HS", 1, 1),
                   conf(48, 5, 288, c4, True, "HS", 2, dilation),
                   conf(c4, 5, c4e, c4, True, "HS", 1, dilation),
                   conf(c4, 5, c4e, c4, True, "HS", 1, dilation)]
        last = 1024 // divider
    return setting, InvertedResidualConfig.adjust_channels(last, width_mult)


def _mobilenet_v3(arch: str, weights, num_classes: int, rng, width_mult: float = 1.0,
                  reduced_tail: bool = False, dilated: bool = False, **kwargs) -> MobileNetV3:
    path = weights_path(weights, arch)
    setting, last_channel = _mobilenet_v3_conf(arch, width_mult, reduced_tail, dilated)
    return load_weights(MobileNetV3(setting, last_channel, num_classes=num_classes, rng=rng,
                                    **kwargs), path)


def mobilenet_v3_large(*, weights=None, num_classes: int = 1000, rng=None,
                       **kwargs) -> MobileNetV3:
    """MobileNetV3-Large (5.5 M parameters at 1000 classes); width_mult, reduced_tail, dilated
    as torchvision."""
    return _mobilenet_v3("mobilenet_v3_large", weights, num_classes, rng, **kwargs)


def mobilenet_v3_small(*, weights=None, num_classes: int = 1000, rng=None,
                       **kwargs) -> MobileNetV3:
    """MobileNetV3-Small (2.5 M parameters at 1000 classes)."""
    return _mobilenet_v3("mobilenet_v3_small", weights, num_classes, rng, **kwargs)
