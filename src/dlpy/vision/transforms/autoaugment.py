"""torchvision's automatic augmentation policies: AutoAugment (ImageNet, CIFAR10, SVHN),
RandAugment, TrivialAugmentWide and AugMix, on uint8 (or float) images (..., 1 or 3, H, W).

Each picks operations and magnitudes as torchvision does (the magnitude tables are torch's
float32 ``linspace``, bit for bit) and applies them with ``apply_op``; the random draws come
from ``rng`` or dlpy's default generator."""

from __future__ import annotations

import math
from enum import Enum

import numpy as np

from dlpy.random import get_rng
from dlpy.vision.transforms import functional as F
from dlpy.vision.transforms.functional import InterpolationMode, _linspace32
from dlpy.vision.transforms.transforms import Transform, _channel_fill


def apply_op(img, op_name: str, magnitude: float, interpolation=InterpolationMode.NEAREST,
             fill=None):
    """One named operation at ``magnitude`` (torchvision's _apply_op): shears are the tangent
    of the angle, about the top-left corner; translations whole pixels."""
    if op_name in ("ShearX", "ShearY"):
        angle = math.degrees(math.atan(magnitude))
        shear = [angle, 0.0] if op_name == "ShearX" else [0.0, angle]
        return F.affine(img, 0.0, [0, 0], 1.0, shear, interpolation, fill, center=[0, 0])
    if op_name in ("TranslateX", "TranslateY"):
        shift = [int(magnitude), 0] if op_name == "TranslateX" else [0, int(magnitude)]
        return F.affine(img, 0.0, shift, 1.0, [0.0, 0.0], interpolation, fill)
    if op_name == "Rotate":
        return F.rotate(img, magnitude, interpolation, fill=fill)
    adjust = {"Brightness": F.adjust_brightness, "Color": F.adjust_saturation,
              "Contrast": F.adjust_contrast, "Sharpness": F.adjust_sharpness}
    if op_name in adjust:
        return adjust[op_name](img, 1.0 + magnitude)
    if op_name == "Posterize":
        return F.posterize(img, int(magnitude))
    if op_name == "Solarize":
        return F.solarize(img, magnitude)
    plain = {"AutoContrast": F.autocontrast, "Equalize": F.equalize, "Invert": F.invert,
             "Identity": lambda x: x}
    if op_name in plain:
        return plain[op_name](img)
    raise ValueError(f"apply_op: unknown operation {op_name!r}")


def _posterize_bits(num_bins: int, top: int, spread: int) -> np.ndarray:
    """top - round(arange(num_bins) / ((num_bins - 1) / spread)), in float32 as torch."""
    steps = np.arange(num_bins, dtype=np.float32) / np.float32((num_bins - 1) / spread)
    return (top - np.round(steps)).astype(np.int32)


def _space(num_bins: int, image_size, shear: float, translate, rotate: float,
           enhance: float, bits: tuple[int, int]) -> dict:
    """op_name -> (magnitudes, signed), the tables shared by the policies."""
    zero = np.array(0.0, dtype=np.float32)
    return {
        "ShearX": (_linspace32(0.0, shear, num_bins), True),
        "ShearY": (_linspace32(0.0, shear, num_bins), True),
        "TranslateX": (_linspace32(0.0, translate[1], num_bins), True),
        "TranslateY": (_linspace32(0.0, translate[0], num_bins), True),
        "Rotate": (_linspace32(0.0, rotate, num_bins), True),
        "Brightness": (_linspace32(0.0, enhance, num_bins), True),
        "Color": (_linspace32(0.0, enhance, num_bins), True),
        "Contrast": (_linspace32(0.0, enhance, num_bins), True),
        "Sharpness": (_linspace32(0.0, enhance, num_bins), True),
        "Posterize": (_posterize_bits(num_bins, *bits), False),
        "Solarize": (_linspace32(255.0, 0.0, num_bins), False),
        "AutoContrast": (zero, False),
        "Equalize": (zero, False),
    }


class AutoAugmentPolicy(Enum):
    IMAGENET = "imagenet"
    CIFAR10 = "cifar10"
    SVHN = "svhn"


# (op, probability, magnitude bin) pairs, torchvision's tables
_POLICIES = {
    AutoAugmentPolicy.IMAGENET: [
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ],
    AutoAugmentPolicy.CIFAR10: [
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ],
    AutoAugmentPolicy.SVHN: [
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ],
}


def _signed(magnitude: float, signed: bool, rng) -> float:
    return -magnitude if signed and rng.integers(2) else magnitude


class _Augment(Transform):
    def __init__(self, interpolation, fill, rng):
        F._interpolation(interpolation, type(self).__name__, F._GRID_MODES)
        self.interpolation, self.fill, self.rng = interpolation, fill, rng

    def _apply(self, img, ops) -> object:
        fill = _channel_fill(self.fill, img)
        for name, magnitude in ops:
            img = apply_op(img, name, magnitude, self.interpolation, fill)
        return img

    def __call__(self, img):
        _, height, width = F.get_dimensions(img)
        return self._apply(img, self.sample_ops((height, width)))


class AutoAugment(_Augment):
    """A random sub-policy of two (op, probability, magnitude) of a learned policy."""

    def __init__(self, policy=AutoAugmentPolicy.IMAGENET,
                 interpolation=InterpolationMode.NEAREST, fill=None, rng=None):
        super().__init__(interpolation, fill, rng)
        try:
            self.policy = AutoAugmentPolicy(policy)
        except ValueError:
            raise ValueError(f"AutoAugment: policy must be one of "
                             f"{[p.value for p in AutoAugmentPolicy]}, got {policy!r}") from None
        self.policies = _POLICIES[self.policy]

    def _augmentation_space(self, num_bins: int, image_size) -> dict:
        space = _space(num_bins, image_size, 0.3, [150.0 / 331.0 * s for s in image_size],
                       30.0, 0.9, (8, 4))
        space["Invert"] = (np.array(0.0, dtype=np.float32), False)
        return space

    @staticmethod
    def get_params(transform_num: int, rng=None):
        """(policy index, 2 uniform draws, 2 signs in {0, 1})."""
        rng = get_rng(rng)
        return int(rng.integers(transform_num)), rng.random(2), rng.integers(0, 2, 2)

    def sample_ops(self, image_size) -> list[tuple[str, float]]:
        """The (op, magnitude) pairs one call applies."""
        policy_id, probs, signs = self.get_params(len(self.policies), self.rng)
        space = self._augmentation_space(10, image_size)
        ops = []
        for i, (name, p, magnitude_id) in enumerate(self.policies[policy_id]):
            if probs[i] <= p:
                magnitudes, signed = space[name]
                magnitude = float(magnitudes[magnitude_id]) if magnitude_id is not None else 0.0
                ops.append((name, -magnitude if signed and signs[i] == 0 else magnitude))
        return ops


class RandAugment(_Augment):
    """``num_ops`` ops drawn uniformly, each at bin ``magnitude`` of ``num_magnitude_bins``."""

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation=InterpolationMode.NEAREST, fill=None, rng=None):
        super().__init__(interpolation, fill, rng)
        if not 0 <= magnitude < num_magnitude_bins or num_ops < 0:
            raise ValueError(f"RandAugment: expected num_ops >= 0 and 0 <= magnitude < "
                             f"num_magnitude_bins, got {num_ops}, {magnitude}, "
                             f"{num_magnitude_bins}")
        self.num_ops, self.magnitude = num_ops, magnitude
        self.num_magnitude_bins = num_magnitude_bins

    def _augmentation_space(self, num_bins: int, image_size) -> dict:
        return {"Identity": (np.array(0.0, dtype=np.float32), False),
                **_space(num_bins, image_size, 0.3, [150.0 / 331.0 * s for s in image_size],
                         30.0, 0.9, (8, 4))}

    def sample_ops(self, image_size) -> list[tuple[str, float]]:
        rng = get_rng(self.rng)
        space = self._augmentation_space(self.num_magnitude_bins, image_size)
        names, ops = list(space), []
        for _ in range(self.num_ops):
            name = names[int(rng.integers(len(names)))]
            magnitudes, signed = space[name]
            magnitude = float(magnitudes[self.magnitude]) if magnitudes.ndim > 0 else 0.0
            ops.append((name, _signed(magnitude, signed, rng)))
        return ops


class TrivialAugmentWide(_Augment):
    """One op drawn uniformly at a magnitude bin drawn uniformly (the wide ranges)."""

    def __init__(self, num_magnitude_bins: int = 31, interpolation=InterpolationMode.NEAREST,
                 fill=None, rng=None):
        super().__init__(interpolation, fill, rng)
        self.num_magnitude_bins = num_magnitude_bins

    def _augmentation_space(self, num_bins: int) -> dict:
        return {"Identity": (np.array(0.0, dtype=np.float32), False),
                **_space(num_bins, (32.0, 32.0), 0.99, (32.0, 32.0), 135.0, 0.99, (8, 6))}

    def sample_ops(self, image_size=None) -> list[tuple[str, float]]:
        rng = get_rng(self.rng)
        space = self._augmentation_space(self.num_magnitude_bins)
        names = list(space)
        name = names[int(rng.integers(len(names)))]
        magnitudes, signed = space[name]
        magnitude = float(magnitudes[int(rng.integers(len(magnitudes)))]) \
            if magnitudes.ndim > 0 else 0.0
        return [(name, _signed(magnitude, signed, rng))]


class AugMix(_Augment):
    """A Dirichlet(alpha)-weighted mix of ``mixture_width`` chains of 1-3 (or chain_depth)
    ops at up to ``severity``, blended with the image by a Beta(alpha, alpha) weight."""

    PARAMETER_MAX = 10

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1,
                 alpha: float = 1.0, all_ops: bool = True,
                 interpolation=InterpolationMode.BILINEAR, fill=None, rng=None):
        super().__init__(interpolation, fill, rng)
        if not 1 <= severity <= self.PARAMETER_MAX:
            raise ValueError(f"AugMix: severity must be in [1, {self.PARAMETER_MAX}], got "
                             f"{severity}")
        if mixture_width < 1 or alpha <= 0:
            raise ValueError(f"AugMix: expected mixture_width >= 1 and alpha > 0, got "
                             f"{mixture_width} and {alpha}")
        self.severity, self.mixture_width, self.chain_depth = severity, mixture_width, chain_depth
        self.alpha, self.all_ops = alpha, all_ops

    def _augmentation_space(self, num_bins: int, image_size) -> dict:
        space = _space(num_bins, image_size, 0.3, [s / 3.0 for s in image_size], 30.0, 0.9,
                       (4, 4))
        if not self.all_ops:
            for name in ("Brightness", "Color", "Contrast", "Sharpness"):
                del space[name]
        return space

    def sample_chain(self, image_size, rng) -> list[tuple[str, float]]:
        space = self._augmentation_space(self.PARAMETER_MAX, image_size)
        names, ops = list(space), []
        depth = self.chain_depth if self.chain_depth > 0 else int(rng.integers(1, 4))
        for _ in range(depth):
            name = names[int(rng.integers(len(names)))]
            magnitudes, signed = space[name]
            magnitude = float(magnitudes[int(rng.integers(self.severity))]) \
                if magnitudes.ndim > 0 else 0.0
            ops.append((name, _signed(magnitude, signed, rng)))
        return ops

    def __call__(self, img):
        data = F._array(img, "AugMix", 3)
        rng = get_rng(self.rng)
        batch = data.reshape((-1,) + data.shape[-3:])
        n = batch.shape[0]
        m = rng.dirichlet([self.alpha] * 2, size=n).astype(np.float32)
        weights = rng.dirichlet([self.alpha] * self.mixture_width, size=n).astype(np.float32) \
            * m[:, 1:2]
        mix = m[:, 0].reshape(n, 1, 1, 1) * batch
        for i in range(self.mixture_width):
            chain = self.sample_chain(data.shape[-2:], rng)
            mix = mix + weights[:, i].reshape(n, 1, 1, 1) * self._apply(batch, chain)
        return F._like(mix.reshape(data.shape).astype(data.dtype), img)
