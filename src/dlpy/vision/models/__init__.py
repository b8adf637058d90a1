"""torchvision.models' architectures built from dlpy.nn layers, with torchvision's module
names: ``model.load_state_dict(torchvision_model.state_dict())`` works unchanged. No download:
``weights`` is None or a local ``.npz`` (convert a torchvision ``.pth`` once where torch is
installed: see ``load_weights``)."""

from dlpy.vision.models import segmentation
from dlpy.vision.models._weights import Weights, WeightsEnum, load_weights, weights_path
from dlpy.vision.models.alexnet import AlexNet, alexnet
from dlpy.vision.models.convnext import (
    ConvNeXt,
    convnext_base,
    convnext_small,
    convnext_tiny,
)
from dlpy.vision.models.densenet import (
    DenseNet,
    densenet121,
    densenet161,
    densenet169,
    densenet201,
)
from dlpy.vision.models.efficientnet import (
    EfficientNet,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
    efficientnet_b5,
    efficientnet_b6,
    efficientnet_b7,
    efficientnet_v2_s,
)
from dlpy.vision.models.googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from dlpy.vision.models.inception import Inception3, InceptionOutputs, inception_v3
from dlpy.vision.models.large_variants import (
    convnext_large,
    efficientnet_v2_l,
    efficientnet_v2_m,
    regnet_y_128gf,
    vit_h_14,
    vit_l_16,
    vit_l_32,
)
from dlpy.vision.models.maxvit import MaxVit, maxvit_t
from dlpy.vision.models.mnasnet import MNASNet, mnasnet0_5, mnasnet0_75, mnasnet1_0, mnasnet1_3
from dlpy.vision.models.mobilenetv2 import InvertedResidual, MobileNetV2, mobilenet_v2
from dlpy.vision.models.mobilenetv3 import (
    MobileNetV3,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from dlpy.vision.models.regnet import (
    RegNet,
    regnet_x_1_6gf,
    regnet_x_3_2gf,
    regnet_x_8gf,
    regnet_x_16gf,
    regnet_x_32gf,
    regnet_x_400mf,
    regnet_x_800mf,
    regnet_y_1_6gf,
    regnet_y_3_2gf,
    regnet_y_8gf,
    regnet_y_16gf,
    regnet_y_32gf,
    regnet_y_400mf,
    regnet_y_800mf,
)
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
from dlpy.vision.models.resnext import (
    resnext50_32x4d,
    resnext101_32x8d,
    resnext101_64x4d,
    wide_resnet50_2,
    wide_resnet101_2,
)
from dlpy.vision.models.shufflenetv2 import (
    ShuffleNetV2,
    shufflenet_v2_x0_5,
    shufflenet_v2_x1_0,
    shufflenet_v2_x1_5,
    shufflenet_v2_x2_0,
)
from dlpy.vision.models.squeezenet import SqueezeNet, squeezenet1_0, squeezenet1_1
from dlpy.vision.models.swin_transformer import (
    SwinTransformer,
    swin_b,
    swin_s,
    swin_t,
    swin_v2_b,
    swin_v2_s,
    swin_v2_t,
)
from dlpy.vision.models.vgg import (
    VGG,
    VGG11_BN_Weights,
    VGG11_Weights,
    VGG16_BN_Weights,
    VGG16_Weights,
    make_layers,
    vgg11,
    vgg11_bn,
    vgg16,
    vgg16_bn,
)
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
    # more families (alexnet.py ... convnext.py)
    "AlexNet", "ConvNeXt", "DenseNet", "EfficientNet", "MobileNetV3", "RegNet", "ShuffleNetV2",
    "SqueezeNet", "alexnet", "convnext_base", "convnext_small", "convnext_tiny", "densenet121",
    "densenet161", "densenet169", "densenet201", "efficientnet_b0", "efficientnet_b1",
    "efficientnet_b2", "efficientnet_b3", "efficientnet_b4", "efficientnet_b5",
    "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_s", "mobilenet_v3_large",
    "mobilenet_v3_small", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
    "regnet_x_32gf", "regnet_x_400mf", "regnet_x_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf",
    "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf", "regnet_y_400mf", "regnet_y_800mf",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "squeezenet1_0",
    "squeezenet1_1", "wide_resnet50_2", "wide_resnet101_2",
    # round two (googlenet.py ... large_variants.py, segmentation/)
    "segmentation",
    "GoogLeNet", "GoogLeNetOutputs", "Inception3", "InceptionOutputs", "MNASNet", "MaxVit",
    "maxvit_t",
    "SwinTransformer", "convnext_large", "efficientnet_v2_l", "efficientnet_v2_m", "googlenet",
    "inception_v3", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3", "regnet_y_128gf",
    "swin_b", "swin_s", "swin_t", "swin_v2_b", "swin_v2_s", "swin_v2_t", "vit_h_14",
    "vit_l_16", "vit_l_32",
    # torchvision's weights enums, by name (no download)
    "VGG11_BN_Weights", "VGG11_Weights", "VGG16_BN_Weights", "VGG16_Weights", "Weights",
    "WeightsEnum",
]
