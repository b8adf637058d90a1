"""torchvision's SqueezeNet 1.0 and 1.1 (Iandola et al. 2016): Fire modules (a 1x1 squeeze,
then 1x1 and 3x3 expansions concatenated), module names as torchvision."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path


class Fire(nn.Module):
    """cat(relu(expand1x1(s)), relu(expand3x3(s))), s = relu(squeeze(x)), on the channels."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                 expand3x3_planes: int, rng=None):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1, rng=rng)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1, rng=rng)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1, rng=rng)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return F.cat([self.expand1x1_activation(self.expand1x1(x)),
                      self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """torchvision.models.SqueezeNet(version "1_0" or "1_1", num_classes, dropout): x (N, 3,
    H, W) -> (N, num_classes); the classifier is a 1x1 convolution, ReLU and a global average
    pool. Initialised as torchvision: Kaiming-uniform convolutions, N(0, 0.01) final one, zero
    biases."""

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5,
                 rng=None):
        super().__init__()
        self.num_classes = num_classes
        pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, 7, stride=2, rng=rng), nn.ReLU(), pool,
                Fire(96, 16, 64, 64, rng), Fire(128, 16, 64, 64, rng),
                Fire(128, 32, 128, 128, rng), nn.MaxPool2d(3, stride=2, ceil_mode=True),
                Fire(256, 32, 128, 128, rng), Fire(256, 48, 192, 192, rng),
                Fire(384, 48, 192, 192, rng), Fire(384, 64, 256, 256, rng),
                nn.MaxPool2d(3, stride=2, ceil_mode=True), Fire(512, 64, 256, 256, rng))
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, stride=2, rng=rng), nn.ReLU(), pool,
                Fire(64, 16, 64, 64, rng), Fire(128, 16, 64, 64, rng),
                nn.MaxPool2d(3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128, rng), Fire(256, 32, 128, 128, rng),
                nn.MaxPool2d(3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192, rng), Fire(384, 48, 192, 192, rng),
                Fire(384, 64, 256, 256, rng), Fire(512, 64, 256, 256, rng))
        else:
            raise ValueError(f"SqueezeNet: version must be '1_0' or '1_1', got {version!r}")
        final_conv = nn.Conv2d(512, num_classes, 1, rng=rng)
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng), final_conv, nn.ReLU(),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module is final_conv:
                    init.normal_(module.weight, 0.0, 0.01, generator=rng)
                else:
                    init.kaiming_uniform_(module.weight, generator=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        return F.flatten(self.classifier(self.features(x)), 1)


def squeezenet1_0(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SqueezeNet:
    """SqueezeNet 1.0 (1.25 M parameters at 1000 classes)."""
    path = weights_path(weights, "squeezenet1_0")
    return load_weights(SqueezeNet("1_0", num_classes=num_classes, rng=rng, **kwargs), path)


def squeezenet1_1(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SqueezeNet:
    """SqueezeNet 1.1: 2.4x less computation than 1.0 for the same accuracy."""
    path = weights_path(weights, "squeezenet1_1")
    return load_weights(SqueezeNet("1_1", num_classes=num_classes, rng=rng, **kwargs), path)
