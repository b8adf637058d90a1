"""torchvision's ResNeXt (Xie et al. 2016) and Wide ResNet (Zagoruyko & Komodakis 2016): the
Bottleneck ResNet with grouped 3x3 convolutions or wider bottlenecks, so the classes, module
names and state dicts are ResNet's."""

from __future__ import annotations

from dlpy.vision.models.resnet import Bottleneck, ResNet, _resnet


def resnext50_32x4d(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNeXt-50 32x4d: [3, 4, 6, 3], 32 groups of width 4 (25.0 M parameters)."""
    return _resnet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], weights, num_classes, rng,
                   groups=32, width_per_group=4, **kwargs)


def resnext101_32x8d(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNeXt-101 32x8d: [3, 4, 23, 3], 32 groups of width 8."""
    return _resnet("resnext101_32x8d", Bottleneck, [3, 4, 23, 3], weights, num_classes, rng,
                   groups=32, width_per_group=8, **kwargs)


def resnext101_64x4d(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNeXt-101 64x4d: [3, 4, 23, 3], 64 groups of width 4."""
    return _resnet("resnext101_64x4d", Bottleneck, [3, 4, 23, 3], weights, num_classes, rng,
                   groups=64, width_per_group=4, **kwargs)


def wide_resnet50_2(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """Wide ResNet-50-2: [3, 4, 6, 3] with bottlenecks twice as wide (68.9 M parameters)."""
    return _resnet("wide_resnet50_2", Bottleneck, [3, 4, 6, 3], weights, num_classes, rng,
                   width_per_group=128, **kwargs)


def wide_resnet101_2(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """Wide ResNet-101-2: [3, 4, 23, 3] with bottlenecks twice as wide."""
    return _resnet("wide_resnet101_2", Bottleneck, [3, 4, 23, 3], weights, num_classes, rng,
                   width_per_group=128, **kwargs)
