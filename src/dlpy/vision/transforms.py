"""torchvision.transforms (v2, on tensors) for numpy arrays and dlpy Tensors.

Images are (..., C, H, W) (or (..., H, W)) arrays or Tensors, as torchvision's tensor images;
each transform returns the kind it was given (a Tensor's result is a new Tensor, outside the
autograd graph). ``ToTensor`` turns an (H, W, C) uint8 image (PIL's layout, as numpy holds it)
into a (C, H, W) float32 Tensor in [0, 1]. The random transforms draw from ``rng`` (a numpy
Generator) or, when it is None, from dlpy's default generator (dlpy.manual_seed)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Tensor

PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _array(img, name: str) -> np.ndarray:
    data = img.data if isinstance(img, Tensor) else img
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or a dlpy Tensor, got "
                        f"{type(img).__name__}")
    if data.ndim < 2:
        raise ValueError(f"{name}: expected an image (..., H, W), got shape {data.shape}")
    return data


def _like(result: np.ndarray, img):
    return Tensor(result) if isinstance(img, Tensor) else result


def _pair(size, name: str, what: str = "size") -> tuple[int, int]:
    """(h, w) from an int (a square) or a sequence of one or two positive ints."""
    values = [size] if isinstance(size, numbers.Integral) else list(size)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                               or v < 1 for v in values):
        raise ValueError(f"{name}: {what} must be a positive int or a sequence of 1 or 2 of "
                         f"them, got {size!r}")
    return int(values[0]), int(values[1])


def _resize_weights(in_size: int, out_size: int, antialias: bool) -> np.ndarray:
    """(out_size, in_size) weights of bilinear (triangle) interpolation, half-pixel centres;
    with antialias and a reduction the triangle is widened by the scale (PyTorch's
    _upsample_bilinear2d_aa, PIL's rule). Each row sums to 1 over the pixels inside."""
    scale = in_size / out_size
    widen = antialias and scale > 1.0
    support, inverse = (scale, 1.0 / scale) if widen else (1.0, 1.0)
    weights = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        first = max(int(center - support + 0.5), 0)
        last = min(int(center + support + 0.5), in_size)
        j = np.arange(first, last)
        w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) * inverse))
        weights[i, first:last] = w / w.sum()
    return weights


def _output_size(height: int, width: int, size, name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) or (not isinstance(size, str) and len(size) == 1):
        short = size if isinstance(size, numbers.Integral) else size[0]
        _pair(short, name)
        if height <= width:  # torchvision: the smaller edge becomes size, the ratio kept
            return int(short), int(short * width / height)
        return int(short * height / width), int(short)
    return _pair(size, name)


def resize(img, size, antialias: bool = True):
    """Bilinear resize of the last two axes to ``size`` ((h, w), or an int: the smaller edge,
    keeping the aspect ratio), as torchvision.transforms.v2.functional.resize on tensors
    (antialias=True by default, half-pixel centres). uint8 images are rounded back to uint8."""
    data = _array(img, "resize")
    height, width = data.shape[-2:]
    out_h, out_w = _output_size(height, width, size, "resize")
    x = data.astype(np.float64) if data.dtype.kind != "f" else data
    rows = _resize_weights(height, out_h, antialias).astype(x.dtype)
    cols = _resize_weights(width, out_w, antialias).astype(x.dtype)
    out = rows @ (x @ cols.T)
    if data.dtype == np.uint8:
        out = np.clip(np.round(out), 0, 255)
    return _like(out.astype(data.dtype, copy=False), img)


def pad(img, padding, fill: float = 0, padding_mode: str = "constant"):
    """Pad the last two axes: padding an int (all sides), [left/right, top/bottom] or [left,
    top, right, bottom]; padding_mode constant (``fill``), edge, reflect or symmetric."""
    data = _array(img, "pad")
    values = [padding] if isinstance(padding, numbers.Integral) else list(padding)
    if len(values) not in (1, 2, 4) or any(not isinstance(v, numbers.Integral) or v < 0
                                           for v in values):
        raise ValueError(f"pad: padding must be a non-negative int or a sequence of 1, 2 or 4 "
                         f"of them, got {padding!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"pad: padding_mode must be one of {', '.join(PADDING_MODES)}, got "
                         f"{padding_mode!r}")
    left, top, right, bottom = (values * 4)[:4] if len(values) == 1 else \
        (values * 2) if len(values) == 2 else values
    widths = [(0, 0)] * (data.ndim - 2) + [(top, bottom), (left, right)]
    extra = {"constant_values": fill} if padding_mode == "constant" else {}
    return _like(np.pad(data, widths, mode=padding_mode, **extra), img)


def crop(img, top: int, left: int, height: int, width: int):
    """img[..., top:top + height, left:left + width], zeros where the box leaves the image."""
    data = _array(img, "crop")
    h, w = data.shape[-2:]
    out = np.zeros(data.shape[:-2] + (height, width), dtype=data.dtype)
    rows = slice(max(top, 0), min(top + height, h))
    cols = slice(max(left, 0), min(left + width, w))
    out[..., rows.start - top:rows.stop - top, cols.start - left:cols.stop - left] = \
        data[..., rows, cols]
    return _like(out, img)


def center_crop(img, output_size):
    """The central (h, w) box (zero padded first where the image is smaller), torchvision's
    rounding: top = round((H - h) / 2)."""
    data = _array(img, "center_crop")
    crop_h, crop_w = _pair(output_size, "center_crop", "output_size")
    h, w = data.shape[-2:]
    top = -((crop_h - h) // 2) if crop_h > h else int(round((h - crop_h) / 2.0))
    left = -((crop_w - w) // 2) if crop_w > w else int(round((w - crop_w) / 2.0))
    return crop(img, top, left, crop_h, crop_w)


def resized_crop(img, top: int, left: int, height: int, width: int, size,
                 antialias: bool = True):
    """crop, then resize to ``size``."""
    return resize(crop(img, top, left, height, width), size, antialias)


def horizontal_flip(img):
    """The last axis reversed."""
    return _like(np.ascontiguousarray(_array(img, "horizontal_flip")[..., ::-1]), img)


def normalize(img, mean, std):
    """(img - mean[c]) / std[c] over the channel axis (-3), in the image's float dtype."""
    data = _array(img, "normalize")
    if data.dtype.kind != "f" or data.ndim < 3:
        raise TypeError(f"normalize: expected a float image (..., C, H, W), got {data.dtype} "
                        f"of shape {data.shape} (ToTensor converts uint8 images)")
    mean = np.asarray(mean, dtype=data.dtype).reshape(-1, 1, 1)
    std = np.asarray(std, dtype=data.dtype).reshape(-1, 1, 1)
    if (std == 0).any():
        raise ValueError(f"normalize: std must be non-zero, got {std.ravel().tolist()}")
    if mean.shape[0] not in (1, data.shape[-3]) or std.shape[0] not in (1, data.shape[-3]):
        raise ValueError(f"normalize: expected mean and std of 1 or {data.shape[-3]} values, got "
                         f"{mean.shape[0]} and {std.shape[0]}")
    return _like((data - mean) / std, img)


class Compose:
    """Apply the transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for transform in self.transforms:
            img = transform(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({body}\n)"


class ToTensor:
    """(H, W, C) or (H, W) numpy image -> (C, H, W) Tensor; uint8 becomes float32 / 255, other
    dtypes are kept (as torchvision's ToTensor on ndarrays)."""

    def __call__(self, pic) -> Tensor:
        if not isinstance(pic, np.ndarray) or pic.ndim not in (2, 3):
            raise TypeError(f"ToTensor: expected an (H, W, C) or (H, W) numpy array, got "
                            f"{getattr(pic, 'shape', type(pic).__name__)}")
        chw = (pic[None] if pic.ndim == 2 else pic.transpose(2, 0, 1))
        if pic.dtype == np.uint8:
            return Tensor(chw.astype(np.float32) / np.float32(255))
        return Tensor(np.ascontiguousarray(chw))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(img - mean) / std per channel."""

    def __init__(self, mean, std):
        self.mean, self.std = list(mean), list(std)

    def __call__(self, img):
        return normalize(img, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Resize:
    """Bilinear resize to ``size`` (an int: the smaller edge), antialias=True as torchvision."""

    def __init__(self, size, antialias: bool = True):
        _pair(size, "Resize")  # checked now; an int keeps its meaning (the smaller edge)
        self.size, self.antialias = size, antialias

    def __call__(self, img):
        return resize(img, self.size, self.antialias)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, antialias={self.antialias})"


class CenterCrop:
    """The central (h, w) box."""

    def __init__(self, size):
        self.size = _pair(size, "CenterCrop")

    def __call__(self, img):
        return center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """A random (h, w) box, after ``padding`` (as ``pad``) and, with pad_if_needed, padding
    an image smaller than the box."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant", rng=None):
        self.size = _pair(size, "RandomCrop")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of "
                             f"{', '.join(PADDING_MODES)}, got {padding_mode!r}")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode, self.rng = fill, padding_mode, rng

    def __call__(self, img):
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = _array(img, "RandomCrop").shape[-2:]
        th, tw = self.size
        if self.pad_if_needed and (h < th or w < tw):
            grow_w, grow_h = max(tw - w, 0), max(th - h, 0)
            img = pad(img, [grow_w, grow_h], self.fill, self.padding_mode)
            h, w = h + 2 * grow_h, w + 2 * grow_w
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: the crop {self.size} is larger than the (padded) "
                             f"image ({h}, {w})")
        rng = get_rng(self.rng)
        top, left = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
        return crop(img, top, left, th, tw)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Flip left-right with probability p."""

    def __init__(self, p: float = 0.5, rng=None):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p, self.rng = p, rng

    def __call__(self, img):
        return horizontal_flip(img) if get_rng(self.rng).random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomResizedCrop:
    """A box of a random area fraction (``scale``) and aspect ratio (``ratio``, drawn
    log-uniformly), resized to ``size``; torchvision's 10 tries, then a central crop of the
    ratio clamped to ``ratio``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 antialias: bool = True, rng=None):
        self.size = _pair(size, "RandomResizedCrop")
        if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: scale and ratio must be increasing positive "
                             f"(min, max) pairs, got scale={scale}, ratio={ratio}")
        self.scale, self.ratio, self.antialias, self.rng = scale, ratio, antialias, rng

    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the box."""
        rng, area = get_rng(self.rng), height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)),\
                    h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        height, width = _array(img, "RandomResizedCrop").shape[-2:]
        top, left, h, w = self.get_params(height, width)
        return resized_crop(img, top, left, h, w, self.size, self.antialias)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"
