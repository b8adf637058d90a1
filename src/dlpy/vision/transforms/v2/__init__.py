"""torchvision.transforms.v2 on plain arrays and Tensors: v1's classes (the same objects) plus
``ToImage``, ``ToDtype(scale=)``, ``Identity``, ``RGB``, the batch transforms ``MixUp`` and
``CutMix`` (called as ``transform(images, labels)``) and ``SanitizeBoundingBoxes`` on a dict
with XYXY ``boxes`` and ``labels``.

The geometric transforms ``RandomHorizontalFlip``, ``RandomVerticalFlip``, ``Resize``,
``CenterCrop``, ``RandomResizedCrop``, ``Pad``, ``RandomRotation``, ``RandomAffine`` and the
detection ones ``RandomIoUCrop``, ``ScaleJitter``, ``RandomShortestSize``, ``RandomZoomOut``,
``ClampBoundingBoxes``, with
``GaussianNoise``, ``RandomPhotometricDistort`` and ``JPEG`` (pillow), take a whole sample
(one input, several, or nested tuples / lists / dicts) and transform its
dlpy.vision.tv_tensors together with one draw of their parameters: boxes move with the
image, masks are resized by nearest neighbour. A plain array or Tensor is the image when the
sample holds no Image or Video (the first one only, as torchvision); other leaves pass
through."""

from __future__ import annotations

import math

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array
from dlpy.vision import tv_tensors
from dlpy.vision.ops import box_iou
from dlpy.vision.transforms import *  # noqa: F403
from dlpy.vision.transforms import __all__ as _v1_names
from dlpy.vision.transforms import transforms as _v1_transforms
from dlpy.vision.transforms.functional import InterpolationMode, _array, _like
from dlpy.vision.transforms.transforms import Transform
from dlpy.vision.transforms.v2 import functional
from dlpy.vision.transforms.v2.functional import grayscale_to_rgb, to_dtype, to_image


class ToImage(Transform):
    """An (H, W, C) numpy array or PIL image -> a (C, H, W) Tensor of the same dtype."""

    def __call__(self, inpt) -> Tensor:
        return to_image(inpt)


class ToDtype(Transform):
    """Cast images to ``dtype``; ``scale=True`` rescales the value range (uint8 255 -> 1.0)."""

    def __init__(self, dtype, scale: bool = False):
        self.dtype, self.scale = np.dtype(dtype), scale

    def __call__(self, inpt):
        return to_dtype(inpt, self.dtype, self.scale)


class Identity(Transform):
    def __call__(self, inpt):
        return inpt


class RGB(Transform):
    """A grayscale image repeated to 3 channels."""

    def __call__(self, inpt):
        return grayscale_to_rgb(inpt)


class _MixBase(Transform):
    def __init__(self, *, alpha: float = 1.0, num_classes: int | None = None, rng=None):
        if alpha <= 0:
            raise ValueError(f"{type(self).__name__}: alpha must be positive, got {alpha}")
        self.alpha, self.num_classes, self.rng = float(alpha), num_classes, rng

    def _check(self, images, labels) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        data = _array(images, name, 4)
        if data.ndim != 4:
            raise ValueError(f"{name}: expected a batch (N, C, H, W), got {data.shape}")
        y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
        if y.ndim not in (1, 2) or y.shape[0] != data.shape[0]:
            raise ValueError(f"{name}: expected labels (N,) or (N, num_classes) for {data.shape[0]}"
                             f" images, got shape {y.shape}")
        if y.ndim == 1:
            if self.num_classes is None:
                raise ValueError(f"{name}: num_classes must be given for index labels")
            y = np.eye(self.num_classes, dtype=np.float32)[y]
        elif self.num_classes is not None and y.shape[1] != self.num_classes:
            raise ValueError(f"{name}: labels have {y.shape[1]} classes, num_classes is "
                             f"{self.num_classes}")
        return data, y.astype(np.float32) if y.dtype.kind != "f" else y

    @staticmethod
    def _mix_labels(y: np.ndarray, lam: float) -> np.ndarray:
        return np.roll(y, 1, axis=0) * (1.0 - lam) + y * lam

    def __call__(self, images, labels):
        data, y = self._check(images, labels)
        out, lam = self._mix(data, get_rng(self.rng))
        mixed = self._mix_labels(y, lam)
        return _like(out, images), Tensor(mixed) if isinstance(labels, Tensor) else mixed


class MixUp(_MixBase):
    """lam ~ Beta(alpha, alpha); images and one-hot labels become lam x + (1 - lam) x rolled
    by one along the batch."""

    def _mix(self, data, rng):
        lam = float(rng.beta(self.alpha, self.alpha))
        out = np.roll(data, 1, axis=0) * (1.0 - lam) + data * lam
        return out.astype(data.dtype, copy=False), lam

    @staticmethod
    def get_params(alpha: float, rng=None) -> float:
        return float(get_rng(rng).beta(alpha, alpha))


class CutMix(_MixBase):
    """A box of area about (1 - lam) of each image is pasted from the previous image of the
    batch; the labels are mixed by the box's true area."""

    @staticmethod
    def get_params(alpha: float, height: int, width: int, rng=None):
        """((x1, y1, x2, y2), lam_adjusted), as torchvision's make_params."""
        rng = get_rng(rng)
        lam = float(rng.beta(alpha, alpha))
        r_x, r_y = int(rng.integers(width)), int(rng.integers(height))
        r = 0.5 * math.sqrt(1.0 - lam)
        r_w_half, r_h_half = int(r * width), int(r * height)
        x1, y1 = max(r_x - r_w_half, 0), max(r_y - r_h_half, 0)
        x2, y2 = min(r_x + r_w_half, width), min(r_y + r_h_half, height)
        return (x1, y1, x2, y2), float(1.0 - (x2 - x1) * (y2 - y1) / (width * height))

    def _mix(self, data, rng):
        (x1, y1, x2, y2), lam = self.get_params(self.alpha, *data.shape[-2:], rng)
        out = data.copy()
        out[..., y1:y2, x1:x2] = np.roll(data, 1, axis=0)[..., y1:y2, x1:x2]
        return out, lam


class SanitizeBoundingBoxes(Transform):
    """Drop the boxes (XYXY, (N, 4)) narrower or shorter than ``min_size`` or with a
    non-finite coordinate, and the matching entries of ``labels``, from a dict sample."""

    def __init__(self, min_size: float = 1.0, labels_getter: str = "labels"):
        if min_size < 1:
            raise ValueError(f"SanitizeBoundingBoxes: min_size must be >= 1, got {min_size}")
        self.min_size, self.labels_getter = float(min_size), labels_getter

    def __call__(self, sample: dict) -> dict:
        if not isinstance(sample, dict) or "boxes" not in sample:
            raise TypeError("SanitizeBoundingBoxes: expected a dict with 'boxes' (and labels)")
        boxes = np.asarray(getattr(sample["boxes"], "data", sample["boxes"]))
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"SanitizeBoundingBoxes: expected boxes (N, 4), got {boxes.shape}")
        keep = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] - boxes[:, 0] >= self.min_size) & \
            (boxes[:, 3] - boxes[:, 1] >= self.min_size)
        out = dict(sample)
        for key in ("boxes", self.labels_getter):
            if key in out:
                value = out[key]
                kept = as_array(value)[keep]
                out[key] = Tensor(kept) if isinstance(value, Tensor) else kept
        return out


# ---------------------------------------------------------------------------------------------
# transforms of whole samples (tv_tensors)

def _flatten(sample):
    """(leaves, rebuild): the leaves of nested tuples / lists / dicts and a function putting
    new leaves back in the same structure."""
    if isinstance(sample, (tuple, list)):
        parts = [_flatten(item) for item in sample]
        sizes = [len(leaves) for leaves, _ in parts]

        def rebuild(values):
            out, start = [], 0
            for (_, inner), size in zip(parts, sizes):
                out.append(inner(values[start:start + size]))
                start += size
            return type(sample)(out)

        return [leaf for leaves, _ in parts for leaf in leaves], rebuild
    if isinstance(sample, dict):
        keys = list(sample)
        leaves, inner = _flatten([sample[k] for k in keys])
        return leaves, lambda values: type(sample)(zip(keys, inner(values)))
    return [sample], lambda values: values[0]


def _is_plain_image(leaf) -> bool:
    return (isinstance(leaf, (np.ndarray, Tensor)) and not isinstance(leaf, tv_tensors.TVTensor)
            or functional._v1._is_pil(leaf))


def _chosen(leaves) -> list[bool]:
    """Which leaves are transformed: tv_tensors, and the first plain image when there is no
    Image or Video."""
    has_image = any(isinstance(x, (tv_tensors.Image, tv_tensors.Video)) for x in leaves)
    chosen, plain_seen = [], has_image
    for leaf in leaves:
        if isinstance(leaf, tv_tensors.TVTensor):
            chosen.append(True)
        elif _is_plain_image(leaf) and not plain_seen:
            chosen.append(True)
            plain_seen = True
        else:
            chosen.append(False)
    return chosen


def _query_size(leaves, name: str) -> tuple[int, int]:
    """(H, W) of the sample's image (or video, mask, boxes' canvas)."""
    for kinds in ((tv_tensors.Image, tv_tensors.Video), (tv_tensors.Mask,)):
        for leaf in leaves:
            if isinstance(leaf, kinds):
                return tuple(leaf.shape[-2:])
    for leaf in leaves:
        if _is_plain_image(leaf):
            return tuple(functional.get_size(leaf))
        if isinstance(leaf, tv_tensors.BoundingBoxes):
            return leaf.canvas_size
    raise TypeError(f"{name}: the sample holds no image, video, mask or bounding boxes")


def _is_image_like(inpt) -> bool:
    return isinstance(inpt, (tv_tensors.Image, tv_tensors.Video)) or _is_plain_image(inpt)


class _SampleTransform(Transform):
    """``transform(*inputs)``: one draw of ``make_params`` for the sample, then ``apply`` to
    each transformed leaf (see the module docstring)."""

    def __call__(self, *inputs):
        sample = inputs if len(inputs) > 1 else inputs[0]
        leaves, rebuild = _flatten(sample)
        chosen = _chosen(leaves)
        params = self.make_params([x for x, c in zip(leaves, chosen) if c])
        if params is None:
            return sample
        return rebuild([self.apply(x, params) if c else x for x, c in zip(leaves, chosen)])

    def make_params(self, leaves) -> dict | None:
        """None: leave the sample as it is."""
        return {}

    def apply(self, inpt, params: dict):
        raise NotImplementedError


class _RandomSample(_SampleTransform):
    """Applied with probability p (one draw per sample)."""

    def __init__(self, p: float = 0.5, rng=None):
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.rng = p, rng

    def make_params(self, leaves):
        return {} if get_rng(self.rng).random() < self.p else None


class RandomHorizontalFlip(_RandomSample):
    """Flip the sample left-right with probability p."""

    def apply(self, inpt, params):
        return functional.horizontal_flip(inpt)


class RandomVerticalFlip(_RandomSample):
    """Flip the sample upside down with probability p."""

    def apply(self, inpt, params):
        return functional.vertical_flip(inpt)


class Resize(_SampleTransform):
    """functional.resize of every leaf to ``size``."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias: bool = True):
        self.size, self.interpolation = size, interpolation
        self.max_size, self.antialias = max_size, antialias

    def apply(self, inpt, params):
        return functional.resize(inpt, self.size, self.interpolation, self.max_size,
                                 self.antialias)


class CenterCrop(_SampleTransform):
    def __init__(self, size):
        self.size = size

    def apply(self, inpt, params):
        return functional.center_crop(inpt, self.size)


class Pad(_SampleTransform):
    """functional.pad (boxes: constant padding only)."""

    def __init__(self, padding, fill: float = 0, padding_mode: str = "constant"):
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def apply(self, inpt, params):
        return functional.pad(inpt, self.padding, self.fill, self.padding_mode)


class RandomResizedCrop(_SampleTransform, _v1_transforms.RandomResizedCrop):
    """v1's RandomResizedCrop (its parameter draw) over a whole sample."""

    def make_params(self, leaves):
        top, left, h, w = self.get_params(*_query_size(leaves, "RandomResizedCrop"))
        return {"top": top, "left": left, "height": h, "width": w}

    def apply(self, inpt, params):
        return functional.resized_crop(inpt, params["top"], params["left"], params["height"],
                                       params["width"], self.size, self.interpolation,
                                       self.antialias)


def _fill_for(fill, inpt):
    """A transform's fill for one leaf, as torchvision's _get_fill: a dict picks by the leaf's
    type (None where absent); an image's number becomes one value per channel (v1's rule)."""
    if isinstance(fill, dict):
        fill = next((value for kind, value in fill.items()
                     if isinstance(kind, type) and isinstance(inpt, kind)), None)
    if fill is None or isinstance(inpt, (tv_tensors.Mask, tv_tensors.BoundingBoxes)):
        return fill
    return _v1_transforms._channel_fill(fill, inpt)


class RandomRotation(_SampleTransform, _v1_transforms.RandomRotation):
    """v1's RandomRotation over a whole sample: one angle, boxes and masks rotated with the
    image (fill: a number, per-channel values or a dict by tv_tensors type)."""

    def make_params(self, leaves):
        return {"angle": self.get_params(self.degrees, self.rng)}

    def apply(self, inpt, params):
        return functional.rotate(inpt, params["angle"], self.interpolation, self.expand,
                                 self.center, _fill_for(self.fill, inpt))


class RandomAffine(_SampleTransform, _v1_transforms.RandomAffine):
    """v1's RandomAffine over a whole sample: one draw, boxes and masks moved with the
    image."""

    def make_params(self, leaves):
        height, width = _query_size(leaves, "RandomAffine")
        angle, translate, scale, shear = self.get_params(
            self.degrees, self.translate, self.scale, self.shear, [width, height], self.rng)
        return {"angle": angle, "translate": translate, "scale": scale, "shear": shear}

    def apply(self, inpt, params):
        return functional.affine(inpt, params["angle"], params["translate"], params["scale"],
                                 params["shear"], self.interpolation,
                                 _fill_for(self.fill, inpt), self.center)


class RandomIoUCrop(_SampleTransform):
    """SSD's crop (torchvision's): draw a minimum IoU from sampler_options (1.0: leave the
    sample), then up to ``trials`` crops of scale in [min_scale, max_scale] and aspect ratio in
    range, until one contains box centres and overlaps a box by that IoU; boxes whose centre
    is outside are zeroed (SanitizeBoundingBoxes removes them). Needs BoundingBoxes."""

    def __init__(self, min_scale: float = 0.3, max_scale: float = 1.0,
                 min_aspect_ratio: float = 0.5, max_aspect_ratio: float = 2.0,
                 sampler_options=None, trials: int = 40, rng=None):
        self.min_scale, self.max_scale = min_scale, max_scale
        self.min_aspect_ratio, self.max_aspect_ratio = min_aspect_ratio, max_aspect_ratio
        self.options = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0] if sampler_options is None else \
            list(sampler_options)
        self.trials, self.rng = trials, rng

    def make_params(self, leaves):
        boxes = [x for x in leaves if isinstance(x, tv_tensors.BoundingBoxes)]
        if not boxes or not any(_is_image_like(x) for x in leaves):
            raise TypeError("RandomIoUCrop: the sample must hold an image and BoundingBoxes")
        height, width = _query_size(leaves, "RandomIoUCrop")
        xyxy = functional.convert_bounding_box_format(
            boxes[0], new_format=tv_tensors.BoundingBoxFormat.XYXY).data
        rng = get_rng(self.rng)
        while True:
            min_iou = self.options[int(rng.integers(len(self.options)))]
            if min_iou >= 1.0:
                return None
            for _ in range(self.trials):
                params = self.try_crop(rng.random(2), rng.random(2), height, width, xyxy,
                                       min_iou)
                if params is not None:
                    return params

    def try_crop(self, size_draw, place_draw, height: int, width: int, xyxy: np.ndarray,
                 min_iou: float) -> dict | None:
        """The crop for two pairs of U(0, 1) draws, or None where torchvision's checks reject
        it."""
        r = self.min_scale + (self.max_scale - self.min_scale) * np.asarray(size_draw)
        new_w, new_h = int(width * r[0]), int(height * r[1])
        if new_h == 0 or not self.min_aspect_ratio <= new_w / new_h <= self.max_aspect_ratio:
            return None
        left, top = int((width - new_w) * place_draw[0]), int((height - new_h) * place_draw[1])
        right, bottom = left + new_w, top + new_h
        if left == right or top == bottom:
            return None
        cx, cy = 0.5 * (xyxy[..., 0] + xyxy[..., 2]), 0.5 * (xyxy[..., 1] + xyxy[..., 3])
        within = (left < cx) & (cx < right) & (top < cy) & (cy < bottom)
        if not within.any():
            return None
        ious = box_iou(xyxy[within], np.array([[left, top, right, bottom]], xyxy.dtype)).data
        if ious.max() < min_iou:
            return None
        return {"top": top, "left": left, "height": new_h, "width": new_w, "within": within}

    def apply(self, inpt, params):
        out = functional.crop(inpt, params["top"], params["left"], params["height"],
                              params["width"])
        if isinstance(out, tv_tensors.BoundingBoxes):
            data = out.data.copy()
            data[~params["within"]] = 0
            out = tv_tensors.wrap(data, like=out)
        return out


class ScaleJitter(_SampleTransform):
    """Large-scale jitter: resize by min(target_h / H, target_w / W) times a scale drawn from
    scale_range (target_size is (H, W) as torchvision reads it)."""

    def __init__(self, target_size, scale_range=(0.1, 2.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True, rng=None):
        self.target_size, self.scale_range = tuple(target_size), tuple(scale_range)
        self.interpolation, self.antialias, self.rng = interpolation, antialias, rng

    def make_params(self, leaves):
        height, width = _query_size(leaves, "ScaleJitter")
        low, high = self.scale_range
        scale = low + get_rng(self.rng).random() * (high - low)
        r = min(self.target_size[1] / height, self.target_size[0] / width) * scale
        return {"size": (int(height * r), int(width * r))}

    def apply(self, inpt, params):
        return functional.resize(inpt, params["size"], self.interpolation,
                                 antialias=self.antialias)


class RandomShortestSize(_SampleTransform):
    """Resize so that the shorter side is one of min_size (drawn), the longer at most
    max_size."""

    def __init__(self, min_size, max_size: int | None = None,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True, rng=None):
        self.min_size = [min_size] if isinstance(min_size, int) else list(min_size)
        self.max_size, self.interpolation = max_size, interpolation
        self.antialias, self.rng = antialias, rng

    def make_params(self, leaves):
        height, width = _query_size(leaves, "RandomShortestSize")
        shortest = self.min_size[int(get_rng(self.rng).integers(len(self.min_size)))]
        r = shortest / min(height, width)
        if self.max_size is not None:
            r = min(r, self.max_size / max(height, width))
        return {"size": (int(height * r), int(width * r))}

    def apply(self, inpt, params):
        return functional.resize(inpt, params["size"], self.interpolation,
                                 antialias=self.antialias)


class RandomZoomOut(_RandomSample):
    """With probability p, place the sample on a canvas side_range times larger (a drawn
    factor) at a drawn position, the rest ``fill``."""

    def __init__(self, fill: float = 0, side_range=(1.0, 4.0), p: float = 0.5, rng=None):
        super().__init__(p, rng)
        if len(side_range) != 2 or side_range[0] < 1.0 or side_range[0] > side_range[1]:
            raise ValueError(f"RandomZoomOut: side_range must be (low, high) with 1 <= low <= "
                             f"high, got {side_range!r}")
        self.fill, self.side_range = fill, tuple(side_range)

    def make_params(self, leaves):
        rng = get_rng(self.rng)
        if rng.random() >= self.p:
            return None
        height, width = _query_size(leaves, "RandomZoomOut")
        r = self.side_range[0] + rng.random() * (self.side_range[1] - self.side_range[0])
        canvas_w, canvas_h = int(width * r), int(height * r)
        place = rng.random(2)
        left, top = int((canvas_w - width) * place[0]), int((canvas_h - height) * place[1])
        return {"padding": [left, top, canvas_w - (left + width), canvas_h - (top + height)]}

    def apply(self, inpt, params):
        return functional.pad(inpt, params["padding"], self.fill)


class ClampBoundingBoxes(_SampleTransform):
    """clamp_bounding_boxes on every BoundingBoxes of the sample."""

    def apply(self, inpt, params):
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return functional.clamp_bounding_boxes(inpt)
        return inpt


class GaussianNoise(_SampleTransform):
    """functional.gaussian_noise on the sample's images and videos (masks and boxes pass)."""

    def __init__(self, mean: float = 0.0, sigma: float = 0.1, clip: bool = True, rng=None):
        self.mean, self.sigma, self.clip, self.rng = mean, sigma, clip, rng

    def apply(self, inpt, params):
        if not _is_image_like(inpt):
            return inpt
        return functional.gaussian_noise(inpt, self.mean, self.sigma, self.clip, self.rng)


class JPEG(_SampleTransform):
    """functional.jpeg of the sample's uint8 images at a quality drawn from [min, max] (an int:
    that quality)."""

    def __init__(self, quality, rng=None):
        low, high = (quality, quality) if isinstance(quality, int) else tuple(quality)
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= 100):
            raise ValueError(f"JPEG: quality must be an int from 1 to 100 or a (min, max) pair "
                             f"of them, got {quality!r}")
        self.quality, self.rng = (low, high), rng

    def make_params(self, leaves):
        return {"quality": int(get_rng(self.rng).integers(self.quality[0],
                                                           self.quality[1] + 1))}

    def apply(self, inpt, params):
        return functional.jpeg(inpt, params["quality"]) if _is_image_like(inpt) else inpt


class RandomPhotometricDistort(_SampleTransform):
    """SSD's photometric distortion of images and videos: each of brightness, contrast,
    saturation, hue applied with probability p by a factor drawn from its range, contrast
    before or after the rest (a coin), then with probability p a random channel order."""

    def __init__(self, brightness=(0.875, 1.125), contrast=(0.5, 1.5), saturation=(0.5, 1.5),
                 hue=(-0.05, 0.05), p: float = 0.5, rng=None):
        self.brightness, self.contrast = tuple(brightness), tuple(contrast)
        self.saturation, self.hue, self.p, self.rng = tuple(saturation), tuple(hue), p, rng

    def make_params(self, leaves):
        rng = get_rng(self.rng)
        images = [x for x in leaves if _is_image_like(x)]
        channels = functional.get_dimensions(images[0])[0] if images else 3
        params = {}
        for key, (low, high) in (("brightness_factor", self.brightness),
                                 ("contrast_factor", self.contrast),
                                 ("saturation_factor", self.saturation),
                                 ("hue_factor", self.hue)):
            params[key] = float(rng.uniform(low, high)) if rng.random() < self.p else None
        params["contrast_before"] = bool(rng.random() < 0.5)
        params["channel_permutation"] = (rng.permutation(channels).tolist()
                                         if rng.random() < self.p else None)
        return params

    def apply(self, inpt, params):
        if not _is_image_like(inpt):
            return inpt
        kind = type(inpt) if isinstance(inpt, tv_tensors.TVTensor) else None
        contrast = "contrast_before" if params["contrast_before"] else "contrast_after"
        steps = {"brightness_factor": functional.adjust_brightness,
                 "contrast_before": functional.adjust_contrast,
                 "saturation_factor": functional.adjust_saturation,
                 "hue_factor": functional.adjust_hue,
                 "contrast_after": functional.adjust_contrast}
        out = inpt
        for key, kernel in steps.items():
            factor = params["contrast_factor"] if key == contrast else params.get(key)
            if key.startswith("contrast") and key != contrast:
                continue
            if factor is not None:
                out = kernel(out, factor)
        if params["channel_permutation"] is not None:
            out = functional.permute_channels(out, params["channel_permutation"])
        return kind(out) if kind is not None and not isinstance(out, kind) else out


__all__ = list(_v1_names) + [
    "CenterCrop", "ClampBoundingBoxes", "CutMix", "GaussianNoise", "Identity", "JPEG", "MixUp",
    "Pad",
    "RGB", "RandomAffine", "RandomHorizontalFlip", "RandomIoUCrop", "RandomPhotometricDistort",
    "RandomResizedCrop", "RandomRotation", "RandomShortestSize", "RandomVerticalFlip",
    "RandomZoomOut", "Resize",
    "SanitizeBoundingBoxes", "ScaleJitter", "ToDtype", "ToImage", "functional",
]
