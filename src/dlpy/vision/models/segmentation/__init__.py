"""torchvision.models.segmentation: FCN, DeepLabV3 and LR-ASPP with torchvision's module names
(backbone.*, classifier.*, aux_classifier.*); outputs an OrderedDict with "out" (and "aux")
at the input's size."""

from dlpy.vision.models.segmentation._utils import IntermediateLayerGetter
from dlpy.vision.models.segmentation.deeplabv3 import (
    ASPP,
    DeepLabHead,
    DeepLabV3,
    deeplabv3_mobilenet_v3_large,
    deeplabv3_resnet50,
    deeplabv3_resnet101,
)
from dlpy.vision.models.segmentation.fcn import FCN, FCNHead, fcn_resnet50, fcn_resnet101
from dlpy.vision.models.segmentation.lraspp import LRASPP, LRASPPHead, lraspp_mobilenet_v3_large

__all__ = [
    "ASPP", "FCN", "LRASPP", "DeepLabHead", "DeepLabV3", "FCNHead", "IntermediateLayerGetter",
    "LRASPPHead", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101",
    "fcn_resnet50", "fcn_resnet101", "lraspp_mobilenet_v3_large",
]
