"""Image preprocessing for the vision models, as transformers' ViTImageProcessor and
CLIPImageProcessor (their PIL backend), settings from ``preprocessor_config.json``:

    resize       to size {"height", "width"}, or the shorter edge to size["shortest_edge"]
                 (the other int(s * long / short)); bilinear (resample 2) or bicubic (3),
                 antialiased when shrinking; a uint8 image exactly as PIL (8-bit fixed-point
                 passes, in PIL's order), a float one with F.interpolate(antialias=True)
    center crop  to crop_size, top = (H - h) // 2, left = (W - w) // 2 (zero-padded if larger)
    rescale      x * rescale_factor (1 / 255)
    normalise    (x - image_mean) / image_std, per channel

Images: numpy arrays (H, W, C), (C, H, W) or (H, W) (one channel is repeated to RGB), uint8 or
float, or PIL images (anything ``np.asarray`` reads). Output: {"pixel_values": (batch, 3, h,
w) float32}.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from dlpy import functional as F
from dlpy.models import _hf
from dlpy.tensor import Tensor

__all__ = ["BaseImageProcessor", "CLIPImageProcessor", "PREPROCESSOR_CONFIG",
           "ViTImageProcessor"]

PREPROCESSOR_CONFIG = _hf.PREPROCESSOR_CONFIG
RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL's numbers: BILINEAR, BICUBIC
IMAGENET_STANDARD = [0.5, 0.5, 0.5]
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclasses.dataclass
class BaseImageProcessor(_hf.PreprocessorFile):
    """resize -> center crop -> rescale -> normalise, each switched by its do_* field."""

    directory_kind = "an image model's"

    image_processor_type: ClassVar[str] = ""
    do_resize: bool = True
    size: dict | None = None
    resample: int = 2
    do_center_crop: bool = False
    crop_size: dict | None = None
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: list | None = None
    image_std: list | None = None
    do_convert_rgb: bool = True

    def __post_init__(self):
        owner = type(self).__name__
        if self.resample not in RESAMPLE:
            raise ValueError(f"{owner}: resample must be 2 (bilinear) or 3 (bicubic), got "
                             f"{self.resample!r}")
        if self.do_resize and not _valid_size(self.size):
            raise ValueError(f"{owner}: size must be {{'height': h, 'width': w}} or "
                             f"{{'shortest_edge': s}}, got {self.size!r}")
        if self.do_center_crop and not (isinstance(self.crop_size, dict)
                                        and {"height", "width"} <= set(self.crop_size)):
            raise ValueError(f"{owner}: crop_size must be {{'height': h, 'width': w}}, got "
                             f"{self.crop_size!r}")

    # ------------------------------------------------------------------ config files
    @classmethod
    def from_dict(cls, values: dict, source: str = "preprocessor config"):
        """From a preprocessor_config.json dict; unknown keys are ignored, as transformers
        keeps them unused. An int ``size`` / ``crop_size`` means a square (crop) or the
        shorter edge (CLIP's resize), as transformers' get_size_dict."""
        if not isinstance(values, dict):
            raise TypeError(f"{source}: expected a dict, got {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        known = {key: value for key, value in values.items() if key in names}
        if isinstance(known.get("size"), int):
            known["size"] = cls._int_size(known["size"])
        if isinstance(known.get("crop_size"), int):
            known["crop_size"] = {"height": known["crop_size"], "width": known["crop_size"]}
        try:
            return cls(**known)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    @classmethod
    def _int_size(cls, size: int) -> dict:
        return {"height": size, "width": size}

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "image_processor_type": type(self).__name__}

    # ------------------------------------------------------------------ the steps
    def __call__(self, images, return_tensors: str | None = None, **overrides) -> dict:
        """images (one or a list) -> {"pixel_values": (batch, channels, h, w) float32}
        (a dlpy Tensor with return_tensors="dl"). ``overrides`` replace settings for this
        call (do_resize=False, size=...)."""
        settings = dataclasses.replace(self, **overrides) if overrides else self
        if isinstance(images, (list, tuple)):
            images = list(images)
        else:
            array = np.asarray(images)
            images = list(array) if array.ndim == 4 else [images]
        if not images:
            raise ValueError(f"{type(self).__name__}: no images given")
        pixels = [settings.preprocess(image) for image in images]
        shapes = {p.shape for p in pixels}
        if len(shapes) > 1:
            raise ValueError(f"{type(self).__name__}: the images came out in different sizes "
                             f"{sorted(shapes)}; set size / crop_size so they agree")
        batch = np.stack(pixels)
        if return_tensors not in (None, "np", "dl"):
            raise ValueError(f"{type(self).__name__}: return_tensors must be None, 'np' or "
                             f"'dl', got {return_tensors!r}")
        return {"pixel_values": Tensor(batch) if return_tensors == "dl" else batch}

    def preprocess(self, image) -> np.ndarray:
        """One image -> (channels, h, w) float32."""
        x = channels_first(type(self).__name__, image, self.do_convert_rgb)
        if self.do_resize:
            x = self.resize(x, self.output_size(x.shape[1:]))
        if self.do_center_crop:
            x = center_crop(x, self.crop_size["height"], self.crop_size["width"])
        x = x.astype(np.float32)
        if self.do_rescale:
            x = x * np.float32(self.rescale_factor)
        if self.do_normalize:
            mean = np.asarray(self.image_mean, np.float32).reshape(-1, 1, 1)
            std = np.asarray(self.image_std, np.float32).reshape(-1, 1, 1)
            if len(mean) != len(x) or len(std) != len(x):
                raise ValueError(f"{type(self).__name__}: image_mean and image_std need one "
                                 f"value a channel ({len(x)}), got {len(mean)} and {len(std)}")
            x = (x - mean) / std
        return x.astype(np.float32)

    def output_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The resized (height, width) of an image of ``shape`` (height, width)."""
        height, width = shape
        if "shortest_edge" in self.size:
            edge = self.size["shortest_edge"]
            short, long = (width, height) if width <= height else (height, width)
            new_long = int(edge * long / short)
            return (new_long, edge) if width <= height else (edge, new_long)
        return self.size["height"], self.size["width"]

    def resize(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(C, H, W) -> (C, *size), antialiased bilinear / bicubic: a uint8 image exactly as
        PIL (its 8-bit fixed-point passes, in its order), any other through dlpy's
        F.interpolate(antialias=True) (torch's and torchvision's float resize)."""
        mode = RESAMPLE[self.resample]
        if x.dtype == np.uint8:
            return pil_resize(x, size, mode)
        return F.interpolate(Tensor(x[None].astype(np.float32)), size=tuple(size), mode=mode,
                             align_corners=False, antialias=True).data[0]


PRECISION_BITS = 22  # PIL's fixed point for 8-bit images: 32 - 8 - 2


def _filter(mode: str, t: np.ndarray) -> np.ndarray:
    """PIL's filters: triangle (bilinear, support 1), cubic with a = -0.5 (bicubic, 2)."""
    t = np.abs(t)
    if mode == "bilinear":
        return np.maximum(1.0 - t, 0.0)
    a = -0.5
    return np.where(t < 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((t - 5) * t + 8) * t * a - 4 * a, 0.0))


def pil_resize(x: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """A uint8 (C, H, W) image to (C, *size) as PIL's Image.resize: two passes, the width
    first unless the image loses more than twice as many rows as columns (then the height
    first, as Pillow 13's Resample.c; the rounding to 8 bits between passes makes the order
    show)."""
    (rows, cols), (height, width) = x.shape[1:], size
    order = ((1, height), (2, width)) if 0 < rows - height and rows - height > 2 * (
        cols - width) else ((2, width), (1, height))
    for axis, length in order:
        if x.shape[axis] != length:
            x = _pil_resample(x, length, axis, mode)
    return x


def _pil_resample(x: np.ndarray, out_size: int, axis: int, mode: str) -> np.ndarray:
    """One of PIL's resampling passes over ``axis`` of a uint8 (C, H, W) image: each output
    pixel a normalised filter window (widened by the scale when shrinking), the weights
    rounded to PRECISION_BITS fixed point, the sum rounded half up and clipped to 0..255."""
    in_size = x.shape[axis]
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = (1.0 if mode == "bilinear" else 2.0) * filter_scale
    weights = np.zeros((out_size, in_size))
    for out in range(out_size):
        center = (out + 0.5) * scale
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), in_size)
        k = _filter(mode, (np.arange(low, high) - center + 0.5) / filter_scale)
        total = k.sum()
        weights[out, low:high] = k / total if total != 0 else k
    fixed = np.trunc(weights * (1 << PRECISION_BITS)
                     + np.where(weights < 0, -0.5, 0.5)).astype(np.int64)
    moved = np.moveaxis(x.astype(np.int64), axis, -1)  # (..., in_size)
    summed = moved @ fixed.T + (1 << (PRECISION_BITS - 1))
    out = np.clip(summed >> PRECISION_BITS, 0, 255).astype(np.uint8)
    return np.moveaxis(out, -1, axis)


@dataclasses.dataclass
class ViTImageProcessor(BaseImageProcessor):
    """ViT's: resize to 224 x 224 (bilinear), rescale, normalise by mean = std = 0.5."""

    size: dict | None = dataclasses.field(default_factory=lambda: {"height": 224,
                                                                    "width": 224})
    image_mean: list | None = dataclasses.field(default_factory=lambda: IMAGENET_STANDARD)
    image_std: list | None = dataclasses.field(default_factory=lambda: IMAGENET_STANDARD)


@dataclasses.dataclass
class CLIPImageProcessor(BaseImageProcessor):
    """CLIP's: the shorter edge to 224 (bicubic), center crop 224 x 224, rescale, normalise by
    OpenAI's mean and std."""

    size: dict | None = dataclasses.field(default_factory=lambda: {"shortest_edge": 224})
    resample: int = 3
    do_center_crop: bool = True
    crop_size: dict | None = dataclasses.field(default_factory=lambda: {"height": 224,
                                                                         "width": 224})
    image_mean: list | None = dataclasses.field(default_factory=lambda: OPENAI_CLIP_MEAN)
    image_std: list | None = dataclasses.field(default_factory=lambda: OPENAI_CLIP_STD)

    @classmethod
    def _int_size(cls, size: int) -> dict:
        return {"shortest_edge": size}


def _valid_size(size) -> bool:
    return isinstance(size, dict) and ({"height", "width"} <= set(size)
                                       or "shortest_edge" in size)


def channels_first(owner: str, image, convert_rgb: bool = True) -> np.ndarray:
    """An image as (C, H, W): (H, W, C) or (C, H, W) with C in 1, 3 (C first when both ends
    could be channels, as transformers' infer_channel_dimension_format), or (H, W); one
    channel repeated to three when convert_rgb."""
    x = np.asarray(image)
    if x.dtype.kind not in "iubf":
        raise TypeError(f"{owner}: expected an image of numbers, got {x.dtype}")
    if x.ndim == 2:
        x = x[None]
    elif x.ndim != 3:
        raise ValueError(f"{owner}: expected an image (H, W, C), (C, H, W) or (H, W), got shape "
                         f"{x.shape}")
    elif x.shape[0] not in (1, 3):
        if x.shape[-1] not in (1, 3):
            raise ValueError(f"{owner}: expected 1 or 3 channels first or last, got shape "
                             f"{x.shape}")
        x = x.transpose(2, 0, 1)
    if convert_rgb and x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    return x


def center_crop(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, H, W) -> (C, height, width) around the centre, top = (H - height) // 2, zero-padded
    (centred) when the image is smaller, as transformers' center_crop."""
    channels, rows, cols = x.shape
    if rows < height or cols < width:
        padded = np.zeros((channels, max(rows, height), max(cols, width)), x.dtype)
        top, left = -(-(padded.shape[1] - rows) // 2), -(-(padded.shape[2] - cols) // 2)
        padded[:, top:top + rows, left:left + cols] = x
        x = padded
        rows, cols = x.shape[1:]
    top, left = (rows - height) // 2, (cols - width) // 2
    return x[:, top:top + height, left:left + width]
