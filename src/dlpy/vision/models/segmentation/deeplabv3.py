"""torchvision's DeepLabV3 (Chen et al. 2017): atrous spatial pyramid pooling over a dilated
ResNet or a dilated MobileNetV3-Large."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.mobilenetv3 import mobilenet_v3_large
from dlpy.vision.models.resnet import resnet50, resnet101
from dlpy.vision.models.segmentation._utils import (
    IntermediateLayerGetter,
    _SimpleSegmentationModel,
    mobilenet_stage_indices,
    upsample_to,
)
from dlpy.vision.models.segmentation.fcn import FCNHead, _resnet_segmentation


class DeepLabV3(_SimpleSegmentationModel):
    """torchvision.models.segmentation.DeepLabV3(backbone, classifier, aux_classifier)."""


def _conv_bn_relu(in_channels, out_channels, kernel_size, dilation=1, rng=None):
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=dilation
                      if kernel_size == 3 else 0, dilation=dilation, bias=False, rng=rng),
            nn.BatchNorm2d(out_channels), nn.ReLU()]


class ASPPConv(nn.Sequential):
    """3x3 conv dilated by ``dilation``, BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int, rng=None):
        super().__init__(*_conv_bn_relu(in_channels, out_channels, 3, dilation, rng))


class ASPPPooling(nn.Sequential):
    """Global average pool, 1x1 conv, BatchNorm, ReLU, upsampled back to the input's size."""

    def __init__(self, in_channels: int, out_channels: int, rng=None):
        super().__init__(nn.AdaptiveAvgPool2d(1),
                         *_conv_bn_relu(in_channels, out_channels, 1, rng=rng))

    def forward(self, x):
        return upsample_to(super().forward(x), x.shape[-2:])


class ASPP(nn.Module):
    """A 1x1 branch, one ASPPConv per atrous rate and ASPPPooling, concatenated and projected
    to out_channels (1x1 conv, BatchNorm, ReLU, Dropout(0.5))."""

    def __init__(self, in_channels: int, atrous_rates, out_channels: int = 256, rng=None):
        super().__init__()
        branches = [nn.Sequential(*_conv_bn_relu(in_channels, out_channels, 1, rng=rng))]
        branches += [ASPPConv(in_channels, out_channels, rate, rng=rng) for rate in atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels, rng=rng))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            *_conv_bn_relu(len(branches) * out_channels, out_channels, 1, rng=rng),
            nn.Dropout(0.5, rng=rng))

    def forward(self, x):
        return self.project(F.concat([conv(x) for conv in self.convs], axis=1))


class DeepLabHead(nn.Sequential):
    """ASPP (rates 12, 24, 36), 3x3 conv, BatchNorm, ReLU, 1x1 conv to num_classes."""

    def __init__(self, in_channels: int, num_classes: int, atrous_rates=(12, 24, 36),
                 rng=None):
        super().__init__(ASPP(in_channels, atrous_rates, rng=rng),
                         *_conv_bn_relu(256, 256, 3, rng=rng),
                         nn.Conv2d(256, num_classes, 1, rng=rng))


def deeplabv3_resnet50(*, weights=None, num_classes: int | None = None,
                       aux_loss: bool | None = None, weights_backbone=None,
                       rng=None) -> DeepLabV3:
    """DeepLabV3 on a dilated ResNet-50; 21 classes by default; aux_loss: an FCNHead on
    layer3. weights / weights_backbone: local .npz files (no download)."""
    return _resnet_segmentation("deeplabv3_resnet50", resnet50, DeepLabHead, weights,
                                num_classes, aux_loss, weights_backbone, rng)


def deeplabv3_resnet101(*, weights=None, num_classes: int | None = None,
                        aux_loss: bool | None = None, weights_backbone=None,
                        rng=None) -> DeepLabV3:
    """DeepLabV3 on a dilated ResNet-101."""
    return _resnet_segmentation("deeplabv3_resnet101", resnet101, DeepLabHead, weights,
                                num_classes, aux_loss, weights_backbone, rng)


def dilated_mobilenet_features(weights_backbone, rng):
    """mobilenet_v3_large(dilated=True).features and torchvision's stage indices."""
    features = mobilenet_v3_large(weights=weights_backbone, dilated=True, rng=rng).features
    return features, mobilenet_stage_indices(features)


def deeplabv3_mobilenet_v3_large(*, weights=None, num_classes: int | None = None,
                                 aux_loss: bool | None = None, weights_backbone=None,
                                 rng=None) -> DeepLabV3:
    """DeepLabV3 on a dilated MobileNetV3-Large (last block: "out"; aux_loss: an FCNHead on
    the block that begins the fourth-last stage)."""
    path = weights_path(weights, "deeplabv3_mobilenet_v3_large")
    num_classes = 21 if num_classes is None else num_classes
    features, stages = dilated_mobilenet_features(weights_backbone, rng)
    out_pos, aux_pos = stages[-1], stages[-4]
    return_layers = {str(out_pos): "out"}
    if aux_loss:
        return_layers[str(aux_pos)] = "aux"
    model = DeepLabV3(IntermediateLayerGetter(features, return_layers),
                      DeepLabHead(features[out_pos].out_channels, num_classes, rng=rng),
                      FCNHead(features[aux_pos].out_channels, num_classes, rng=rng)
                      if aux_loss else None)
    return load_weights(model, path)
