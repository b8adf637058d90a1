"""torchvision's FCN (Long et al. 2015) on a dilated ResNet: fcn_resnet50 / fcn_resnet101."""

from __future__ import annotations

from dlpy import nn
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.resnet import resnet50, resnet101
from dlpy.vision.models.segmentation._utils import (
    IntermediateLayerGetter,
    _SimpleSegmentationModel,
    dilated_resnet,
)


class FCNHead(nn.Sequential):
    """3x3 conv to in_channels / 4, BatchNorm, ReLU, Dropout(0.1), 1x1 conv to channels."""

    def __init__(self, in_channels: int, channels: int, rng=None):
        inter = in_channels // 4
        super().__init__(nn.Conv2d(in_channels, inter, 3, padding=1, bias=False, rng=rng),
                         nn.BatchNorm2d(inter), nn.ReLU(), nn.Dropout(0.1, rng=rng),
                         nn.Conv2d(inter, channels, 1, rng=rng))


class FCN(_SimpleSegmentationModel):
    """torchvision.models.segmentation.FCN(backbone, classifier, aux_classifier)."""


def _resnet_segmentation(name, constructor, head, weights, num_classes, aux_loss,
                         weights_backbone, rng):
    path = weights_path(weights, name)
    num_classes = 21 if num_classes is None else num_classes
    backbone = dilated_resnet(constructor, weights_backbone, rng)
    return_layers = {"layer4": "out", "layer3": "aux"} if aux_loss else {"layer4": "out"}
    model_class = FCN if head is FCNHead else _deeplab_class()
    model = model_class(IntermediateLayerGetter(backbone, return_layers),
                        head(2048, num_classes, rng=rng),
                        FCNHead(1024, num_classes, rng=rng) if aux_loss else None)
    return load_weights(model, path)


def _deeplab_class():
    from dlpy.vision.models.segmentation.deeplabv3 import DeepLabV3

    return DeepLabV3


def fcn_resnet50(*, weights=None, num_classes: int | None = None, aux_loss: bool | None = None,
                 weights_backbone=None, rng=None) -> FCN:
    """FCN on a dilated ResNet-50 (output stride 8); 21 classes by default; aux_loss adds an
    FCNHead on layer3. weights / weights_backbone: local .npz files (no download)."""
    return _resnet_segmentation("fcn_resnet50", resnet50, FCNHead, weights, num_classes,
                                aux_loss, weights_backbone, rng)


def fcn_resnet101(*, weights=None, num_classes: int | None = None,
                  aux_loss: bool | None = None, weights_backbone=None, rng=None) -> FCN:
    """FCN on a dilated ResNet-101."""
    return _resnet_segmentation("fcn_resnet101", resnet101, FCNHead, weights, num_classes,
                                aux_loss, weights_backbone, rng)
