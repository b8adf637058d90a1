"""torchvision's VGG (Simonyan and Zisserman 2014), with or without BatchNorm; module names as
torchvision (features.<i>, classifier.0/3/6)."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import Weights, WeightsEnum, load_weights, weights_path

CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
          "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
          512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm: bool = False, rng=None) -> nn.Sequential:
    """3x3 convolutions (padding 1) with ReLU (and BatchNorm2d), "M" a 2x2 max pool."""
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, 3, padding=1, rng=rng))
        layers += [nn.BatchNorm2d(v), nn.ReLU()] if batch_norm else [nn.ReLU()]
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision.models.VGG(features, num_classes, init_weights, dropout): features, an
    adaptive average pool to 7x7 (any input of 32x32 and more), then three Linear layers
    (512 * 7 * 7 -> 4096 -> 4096 -> num_classes) with ReLU and Dropout. ``hidden_features``
    (dlpy's, keyword only; torchvision's is always 4096) narrows the two hidden layers."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5, rng=None, *, hidden_features: int = 4096):
        super().__init__()
        hidden = hidden_features
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, hidden, rng=rng), nn.ReLU(), nn.Dropout(dropout, rng=rng),
            nn.Linear(hidden, hidden, rng=rng), nn.ReLU(), nn.Dropout(dropout, rng=rng),
            nn.Linear(hidden, num_classes, rng=rng),
        )
        if init_weights:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                         generator=rng)
                    init.zeros_(module.bias)
                elif isinstance(module, nn.Linear):
                    init.normal_(module.weight, 0.0, 0.01, generator=rng)
                    init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


_URL = "https://download.pytorch.org/models/"


def _imagenet(file: str, num_params: int) -> Weights:
    return Weights(_URL + file, {"num_params": num_params, "categories_count": 1000,
                                 "min_size": (32, 32)})


class VGG11_Weights(WeightsEnum):  # noqa: N801 - torchvision's name
    """torchvision's published VGG-11 weights, by name (see ``WeightsEnum``)."""

    IMAGENET1K_V1 = _imagenet("vgg11-8a719046.pth", 132863336)
    DEFAULT = IMAGENET1K_V1


class VGG11_BN_Weights(WeightsEnum):  # noqa: N801
    """torchvision's published VGG-11-BN weights, by name."""

    IMAGENET1K_V1 = _imagenet("vgg11_bn-6002323d.pth", 132868840)
    DEFAULT = IMAGENET1K_V1


class VGG16_Weights(WeightsEnum):  # noqa: N801
    """torchvision's published VGG-16 weights, by name (``IMAGENET1K_FEATURES``: the feature
    extractor's, without the classifier's values)."""

    IMAGENET1K_V1 = _imagenet("vgg16-397923af.pth", 138357544)
    IMAGENET1K_FEATURES = Weights(_URL + "vgg16_features-amdegroot-88682ab5.pth",
                                  {"num_params": 138357544, "categories_count": 0,
                                   "min_size": (32, 32)})
    DEFAULT = IMAGENET1K_V1


class VGG16_BN_Weights(WeightsEnum):  # noqa: N801
    """torchvision's published VGG-16-BN weights, by name."""

    IMAGENET1K_V1 = _imagenet("vgg16_bn-6c64b313.pth", 138365992)
    DEFAULT = IMAGENET1K_V1


def _vgg(name: str, cfg: str, batch_norm: bool, weights, num_classes: int, rng,
         **kwargs) -> VGG:
    path = weights_path(weights, name)
    model = VGG(make_layers(CFGS[cfg], batch_norm, rng), num_classes=num_classes, rng=rng,
                **kwargs)
    return load_weights(model, path)


def vgg11(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VGG:
    """VGG-11 (configuration "A"), 133 M parameters at 1000 classes."""
    return _vgg("vgg11", "A", False, weights, num_classes, rng, **kwargs)


def vgg11_bn(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VGG:
    """VGG-11 with BatchNorm after every convolution."""
    return _vgg("vgg11_bn", "A", True, weights, num_classes, rng, **kwargs)


def vgg16(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VGG:
    """VGG-16 (configuration "D")."""
    return _vgg("vgg16", "D", False, weights, num_classes, rng, **kwargs)


def vgg16_bn(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VGG:
    """VGG-16 with BatchNorm after every convolution."""
    return _vgg("vgg16_bn", "D", True, weights, num_classes, rng, **kwargs)
