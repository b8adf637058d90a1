"""The larger torchvision constructors of families defined elsewhere in dlpy.vision.models:
ViT-L/16, ViT-L/32, ViT-H/14, EfficientNetV2-M/L, ConvNeXt-L and RegNetY-128GF (same classes,
torchvision's settings)."""

from __future__ import annotations

from functools import partial

from dlpy import nn
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.convnext import ConvNeXt, _convnext
from dlpy.vision.models.efficientnet import EfficientNet, MBConvConfig
from dlpy.vision.models.regnet import BlockParams, RegNet
from dlpy.vision.models.vision_transformer import VisionTransformer


def _vit(name: str, patch_size: int, num_layers: int, hidden_dim: int, mlp_dim: int, weights,
         num_classes: int, rng, **kwargs) -> VisionTransformer:
    path = weights_path(weights, name)
    model = VisionTransformer(kwargs.pop("image_size", 224), patch_size, num_layers, 16,
                              hidden_dim, mlp_dim, num_classes=num_classes, rng=rng, **kwargs)
    return load_weights(model, path)


def vit_l_16(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VisionTransformer:
    """ViT-L/16: 16x16 patches, 24 layers, 16 heads, width 1024, MLP 4096 (304 M)."""
    return _vit("vit_l_16", 16, 24, 1024, 4096, weights, num_classes, rng, **kwargs)


def vit_l_32(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VisionTransformer:
    """ViT-L/32: as ViT-L/16 with 32x32 patches (306 M)."""
    return _vit("vit_l_32", 32, 24, 1024, 4096, weights, num_classes, rng, **kwargs)


def vit_h_14(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VisionTransformer:
    """ViT-H/14: 14x14 patches, 32 layers, 16 heads, width 1280, MLP 5120 (632 M; torchvision's
    SWAG weights are for image_size=518, a keyword here)."""
    return _vit("vit_h_14", 14, 32, 1280, 5120, weights, num_classes, rng, **kwargs)


_V2_SETTINGS = {  # fused stages then MBConv stages, (expand, kernel, stride, in, out, layers)
    "efficientnet_v2_m": ([(1, 3, 1, 24, 24, 3), (4, 3, 2, 24, 48, 5), (4, 3, 2, 48, 80, 5)],
                          [(4, 3, 2, 80, 160, 7), (6, 3, 1, 160, 176, 14),
                           (6, 3, 2, 176, 304, 18), (6, 3, 1, 304, 512, 5)], 0.3),
    "efficientnet_v2_l": ([(1, 3, 1, 32, 32, 4), (4, 3, 2, 32, 64, 7), (4, 3, 2, 64, 96, 7)],
                          [(4, 3, 2, 96, 192, 10), (6, 3, 1, 192, 224, 19),
                           (6, 3, 2, 224, 384, 25), (6, 3, 1, 384, 640, 7)], 0.4),
}


def _efficientnet_v2(name: str, weights, num_classes: int, rng, **kwargs) -> EfficientNet:
    path = weights_path(weights, name)
    fused, plain, dropout = _V2_SETTINGS[name]
    setting = ([MBConvConfig(*row, fused=True) for row in fused]
               + [MBConvConfig(*row) for row in plain])
    kwargs.setdefault("norm_layer", partial(nn.BatchNorm2d, eps=1e-3))
    model = EfficientNet(setting, kwargs.pop("dropout", dropout), num_classes=num_classes,
                         last_channel=1280, rng=rng, **kwargs)
    return load_weights(model, path)


def efficientnet_v2_m(*, weights=None, num_classes: int = 1000, rng=None,
                      **kwargs) -> EfficientNet:
    """EfficientNetV2-M (54.1 M parameters): dropout 0.3, BatchNorm eps 1e-3."""
    return _efficientnet_v2("efficientnet_v2_m", weights, num_classes, rng, **kwargs)


def efficientnet_v2_l(*, weights=None, num_classes: int = 1000, rng=None,
                      **kwargs) -> EfficientNet:
    """EfficientNetV2-L (118.5 M parameters): dropout 0.4, BatchNorm eps 1e-3."""
    return _efficientnet_v2("efficientnet_v2_l", weights, num_classes, rng, **kwargs)


def convnext_large(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ConvNeXt:
    """ConvNeXt-L: widths 192-1536, depths (3, 3, 27, 3), stochastic depth 0.5 (197.8 M)."""
    return _convnext("convnext_large", [(192, 384, 3), (384, 768, 3), (768, 1536, 27),
                                        (1536, None, 3)], 0.5, weights, num_classes, rng,
                     **kwargs)


def regnet_y_128gf(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> RegNet:
    """RegNetY-128GF (644.8 M parameters): depth 27, w_0 456, w_a 160.83, w_m 2.52, groups of
    264, SE ratio 0.25."""
    path = weights_path(weights, "regnet_y_128gf")
    params = BlockParams.from_init_params(27, 456, 160.83, 2.52, 264, se_ratio=0.25)
    return load_weights(RegNet(params, num_classes=num_classes, rng=rng, **kwargs), path)
