"""torchvision's MobileNetV2 (Sandler et al. 2018): inverted residual blocks of depthwise
convolutions with ReLU6, module names as torchvision (features.<i>.conv.<j>, classifier.1)."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path


def _make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """The nearest multiple of divisor (at least min_value), never under 90% of value
    (torchvision's rule for channel counts)."""
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return new_value + divisor if new_value < 0.9 * value else new_value


def conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1, rng=None) -> nn.Sequential:
    """torchvision's Conv2dNormActivation: Conv2d (no bias, "same" padding for odd kernels),
    BatchNorm2d, ReLU6, as children 0, 1, 2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                  padding=(kernel_size - 1) // 2, groups=groups, bias=False, rng=rng),
        nn.BatchNorm2d(out_channels), nn.ReLU6(),
    )


class InvertedResidual(nn.Module):
    """1x1 expansion (expand_ratio), 3x3 depthwise (stride), 1x1 linear projection; x is added
    back when the stride is 1 and the channel count stays."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, rng=None):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        hidden_dim = int(round(inp * expand_ratio))
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_bn_relu6(inp, hidden_dim, 1, rng=rng)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden_dim, hidden_dim, 3, stride, groups=hidden_dim, rng=rng),
                   nn.Conv2d(hidden_dim, oup, 1, bias=False, rng=rng), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# expand ratio t, output channels c, repeats n, first stride s
INVERTED_RESIDUAL_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                             [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]


class MobileNetV2(nn.Module):
    """torchvision.models.MobileNetV2(num_classes, width_mult, round_nearest, dropout): x
    (N, 3, H, W) -> (N, num_classes), global average pool before the classifier. Initialised
    as torchvision: Kaiming-normal (fan_out) convolutions, zero biases, N(0, 0.01) Linear."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 inverted_residual_setting=None, round_nearest: int = 8, dropout: float = 0.2,
                 rng=None):
        super().__init__()
        setting = INVERTED_RESIDUAL_SETTING if inverted_residual_setting is None \
            else inverted_residual_setting
        if not setting or any(len(row) != 4 for row in setting):
            raise ValueError(f"MobileNetV2: inverted_residual_setting must be a non-empty list "
                             f"of [t, c, n, s] rows, got {setting!r}")
        self.config = {"num_classes": num_classes, "width_mult": width_mult,
                       "round_nearest": round_nearest, "dropout": dropout}
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [conv_bn_relu6(3, input_channel, stride=2, rng=rng)]
        for t, c, n, s in setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel,
                                                  s if i == 0 else 1, t, rng=rng))
                input_channel = output_channel
        features.append(conv_bn_relu6(input_channel, self.last_channel, 1, rng=rng))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng),
                                        nn.Linear(self.last_channel, num_classes, rng=rng))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", generator=rng)
            elif isinstance(module, nn.Linear):
                init.normal_(module.weight, 0.0, 0.01, generator=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(F.flatten(x, 1))


def mobilenet_v2(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> MobileNetV2:
    """MobileNetV2 with width 1.0 (3.5 M parameters at 1000 classes)."""
    path = weights_path(weights, "mobilenet_v2")
    return load_weights(MobileNetV2(num_classes=num_classes, rng=rng, **kwargs), path)
