"""torchvision's Lite R-ASPP (Howard et al. 2019) on a dilated MobileNetV3-Large."""

from __future__ import annotations

from collections import OrderedDict

from dlpy import functional as F
from dlpy import nn
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.segmentation._utils import IntermediateLayerGetter, upsample_to
from dlpy.vision.models.segmentation.deeplabv3 import dilated_mobilenet_features


class LRASPPHead(nn.Module):
    """high: 1x1 conv, BatchNorm, ReLU, gated by sigmoid(1x1 conv(global pool)), upsampled
    to low's size and classified; added to a 1x1 classifier of low."""

    def __init__(self, low_channels: int, high_channels: int, num_classes: int,
                 inter_channels: int, rng=None):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False,
                                           rng=rng), nn.BatchNorm2d(inter_channels), nn.ReLU())
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                   nn.Conv2d(high_channels, inter_channels, 1, bias=False,
                                             rng=rng), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1, rng=rng)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1, rng=rng)

    def forward(self, features):
        low, high = features["low"], features["high"]
        x = upsample_to(self.cbr(high) * self.scale(high), low.shape[-2:])
        return F.add(self.low_classifier(low), self.high_classifier(x))


class LRASPP(nn.Module):
    """torchvision.models.segmentation.LRASPP(backbone, low_channels, high_channels,
    num_classes, inter_channels): {"out": (N, num_classes, H, W)}."""

    def __init__(self, backbone: nn.Module, low_channels: int, high_channels: int,
                 num_classes: int, inter_channels: int = 128, rng=None):
        super().__init__()
        self.backbone = backbone
        self.classifier = LRASPPHead(low_channels, high_channels, num_classes, inter_channels,
                                     rng=rng)

    def forward(self, x) -> OrderedDict:
        out = self.classifier(self.backbone(x))
        return OrderedDict(out=upsample_to(out, x.shape[-2:]))


def lraspp_mobilenet_v3_large(*, weights=None, num_classes: int | None = None,
                              weights_backbone=None, rng=None, **kwargs) -> LRASPP:
    """LR-ASPP on a dilated MobileNetV3-Large: "low" from the block beginning the
    fourth-last stage, "high" from the last. No auxiliary head (aux_loss raises)."""
    if kwargs.pop("aux_loss", None):
        raise ValueError("lraspp_mobilenet_v3_large: this model has no auxiliary head, got "
                         "aux_loss=True")
    if kwargs:
        raise TypeError(f"lraspp_mobilenet_v3_large: unexpected arguments {sorted(kwargs)}")
    path = weights_path(weights, "lraspp_mobilenet_v3_large")
    num_classes = 21 if num_classes is None else num_classes
    features, stages = dilated_mobilenet_features(weights_backbone, rng)
    low, high = stages[-4], stages[-1]
    backbone = IntermediateLayerGetter(features, {str(low): "low", str(high): "high"})
    model = LRASPP(backbone, features[low].out_channels, features[high].out_channels,
                   num_classes, rng=rng)
    return load_weights(model, path)
