"""torchvision's counterpart: ``dlpy.vision.models`` (ResNet, MobileNetV2, VGG, ViT with
torchvision's module names, so its state dicts load unchanged) and ``dlpy.vision.transforms``
(Compose, ToTensor, Normalize, Resize, crops, flips on numpy arrays and Tensors)."""

from dlpy.vision import models, transforms

__all__ = ["models", "transforms"]
