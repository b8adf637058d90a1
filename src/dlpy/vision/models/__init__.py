"""torchvision.models' architectures built from dlpy.nn layers, with torchvision's module
names: ``model.load_state_dict(torchvision_model.state_dict())`` works unchanged. No download:
``weights`` is None or a local ``.npz`` (convert a torchvision ``.pth`` once where torch is
installed: see ``load_weights``)."""

from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.mobilenetv2 import InvertedResidual, MobileNetV2, mobilenet_v2
from dlpy.vision.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from dlpy.vision.models.vgg import VGG, make_layers, vgg11, vgg11_bn, vgg16, vgg16_bn
from dlpy.vision.models.vision_transformer import (
    EncoderBlock,
    VisionTransformer,
    vit_b_16,
    vit_b_32,
)

__all__ = [
    "VGG", "BasicBlock", "Bottleneck", "EncoderBlock", "InvertedResidual", "MobileNetV2",
    "ResNet", "VisionTransformer", "load_weights", "make_layers", "mobilenet_v2", "resnet18",
    "resnet34", "resnet50", "resnet101", "resnet152", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn",
    "vit_b_16", "vit_b_32", "weights_path",
]
