"""torchvision's DenseNet (Huang et al. 2016): dense blocks whose layers see the concatenation
of all earlier outputs, with transitions halving channels and size; module names as
torchvision (features.denseblock<i>.denselayer<j>.norm1, features.transition<i>.conv)."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path


class _DenseLayer(nn.Module):
    """conv2(relu(norm2(conv1(relu(norm1(cat(inputs))))))): growth_rate new channels."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int,
                 drop_rate: float, rng=None):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False, rng=rng)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False,
                               rng=rng)
        self.drop_rate = float(drop_rate)
        self.rng = rng

    def forward(self, inputs):
        features = inputs[0] if len(inputs) == 1 else F.cat(list(inputs), 1)
        out = self.conv1(self.relu1(self.norm1(features)))
        out = self.conv2(self.relu2(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training, self.rng)
        return out


class _DenseBlock(nn.ModuleDict):
    """num_layers dense layers; returns the input and every layer's output concatenated."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int,
                 growth_rate: int, drop_rate: float, rng=None):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = _DenseLayer(num_input_features + i * growth_rate,
                                                     growth_rate, bn_size, drop_rate, rng)

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return F.cat(features, 1)


class _Transition(nn.Sequential):
    """norm, relu, 1x1 conv, 2x2 average pool."""

    def __init__(self, num_input_features: int, num_output_features: int, rng=None):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(num_input_features, num_output_features, 1, bias=False, rng=rng)
        self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(nn.Module):
    """torchvision.models.DenseNet(growth_rate, block_config, num_init_features, bn_size,
    drop_rate, num_classes): x (N, 3, H, W) -> (N, num_classes), H, W >= 29. Initialised as
    torchvision: Kaiming-normal convolutions, zero Linear bias. memory_efficient (checkpointing)
    is not supported."""

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0,
                 num_classes: int = 1000, rng=None):
        super().__init__()
        if not block_config or any(int(n) < 1 for n in block_config):
            raise ValueError(f"DenseNet: block_config must be positive layer counts, got "
                             f"{block_config!r}")
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, num_init_features, 7, stride=2,
                                                    padding=3, bias=False, rng=rng))
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", _DenseBlock(
                num_layers, num_features, bn_size, growth_rate, drop_rate, rng))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}",
                                         _Transition(num_features, num_features // 2, rng))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, generator=rng)
            elif isinstance(module, nn.Linear):
                init.zeros_(module.bias)

    def forward(self, x):
        out = F.adaptive_avg_pool2d(F.relu(self.features(x)), (1, 1))
        return self.classifier(F.flatten(out, 1))


def _densenet(name, growth_rate, block_config, num_init_features, weights, num_classes, rng,
              **kwargs) -> DenseNet:
    path = weights_path(weights, name)
    return load_weights(DenseNet(growth_rate, block_config, num_init_features,
                                 num_classes=num_classes, rng=rng, **kwargs), path)


def densenet121(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> DenseNet:
    """DenseNet-121: growth 32, blocks (6, 12, 24, 16), 64 initial features (8.0 M
    parameters)."""
    return _densenet("densenet121", 32, (6, 12, 24, 16), 64, weights, num_classes, rng, **kwargs)


def densenet161(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> DenseNet:
    """DenseNet-161: growth 48, blocks (6, 12, 36, 24), 96 initial features."""
    return _densenet("densenet161", 48, (6, 12, 36, 24), 96, weights, num_classes, rng, **kwargs)


def densenet169(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> DenseNet:
    """DenseNet-169: growth 32, blocks (6, 12, 32, 32)."""
    return _densenet("densenet169", 32, (6, 12, 32, 32), 64, weights, num_classes, rng, **kwargs)


def densenet201(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> DenseNet:
    """DenseNet-201: growth 32, blocks (6, 12, 48, 32)."""
    return _densenet("densenet201", 32, (6, 12, 48, 32), 64, weights, num_classes, rng, **kwargs)
