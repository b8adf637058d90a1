"""torchvision's counterpart: ``dlpy.vision.models`` (ResNet, MobileNetV2, VGG, ViT with
torchvision's module names, so its state dicts load unchanged) and ``dlpy.vision.transforms``
(Compose, ToTensor, Normalize, Resize, crops, flips on numpy arrays and Tensors);
``dlpy.vision.utils`` (make_grid, save_image); ``dlpy.vision.tv_tensors`` (Image, Mask,
BoundingBoxes, Video) for the v2 transforms."""

from dlpy.version import VISION_VERSION as __version__
from dlpy.vision import datasets, models, ops, transforms, tv_tensors, utils

__all__ = ["__version__", "datasets", "models", "ops", "transforms", "tv_tensors", "utils"]
