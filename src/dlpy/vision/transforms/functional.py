"""torchvision.transforms.functional for numpy arrays, dlpy Tensors and (if pillow is
installed) PIL images.

Images are (..., C, H, W) (or (..., H, W)) arrays or Tensors, as torchvision's tensor images;
each function returns the kind it was given. A PIL image goes through ``pil_to_tensor`` (a
uint8 (C, H, W) array) and back through ``to_pil_image`` (torchvision instead calls PIL's own
kernels, which round differently). The arithmetic follows torchvision's tensor kernels: uint8
images are computed in float32 and truncated or rounded back as torchvision does; float images
in their own dtype. ``resize``, ``normalize`` and the grid transforms (``affine``, ``rotate``,
``perspective``, ``elastic_transform``) of a Tensor that requires grad are differentiable (the
grid ones through dlpy's grid_sample); every other result is a new Tensor outside the graph."""

from __future__ import annotations

import functools
import math
import numbers
from enum import Enum

import numpy as np

from dlpy.ops.grid import grid_sample
from dlpy.tensor import Tensor, is_grad_enabled, no_grad

PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


class InterpolationMode(Enum):
    """torchvision's interpolation names (the tensor kernels here do nearest, nearest-exact and
    bilinear; the grid transforms nearest, bilinear and bicubic)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_PIL_CODES = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR,
              3: InterpolationMode.BICUBIC, 4: InterpolationMode.BOX,
              5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}


def _interpolation(value, name: str, allowed: tuple[str, ...]) -> str:
    """An InterpolationMode, its string or PIL's integer code -> the mode's string, checked."""
    if isinstance(value, InterpolationMode):
        mode = value.value
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool) \
            and int(value) in _PIL_CODES:
        mode = _PIL_CODES[int(value)].value
    elif isinstance(value, str):
        mode = value.lower()
    else:
        raise TypeError(f"{name}: interpolation must be an InterpolationMode, got {value!r}")
    if mode not in allowed:
        raise ValueError(f"{name}: interpolation must be one of {', '.join(allowed)}, got "
                         f"{value!r}")
    return mode


# ---------------------------------------------------------------------------------------------
# helpers: what kind of image came in, and giving the same kind back

def _is_pil(img) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(img, Image.Image)


def _pil_aware(fn):
    """Run ``fn`` on a PIL image's uint8 (C, H, W) array and give a PIL image back."""
    @functools.wraps(fn)
    def wrapper(img, *args, **kwargs):
        if _is_pil(img):
            out = fn(pil_to_tensor(img), *args, **kwargs)
            if isinstance(out, (list, tuple)):
                return type(out)(to_pil_image(o, mode=img.mode) for o in out)
            return to_pil_image(out, mode=img.mode)
        return fn(img, *args, **kwargs)
    return wrapper


def _array(img, name: str, min_ndim: int = 2) -> np.ndarray:
    data = img.data if isinstance(img, Tensor) else img
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array or a dlpy Tensor, got "
                        f"{type(img).__name__}")
    if data.ndim < min_ndim:
        shape = "(..., C, H, W)" if min_ndim == 3 else "(..., H, W)"
        raise ValueError(f"{name}: expected an image {shape}, got shape {data.shape}")
    return data


def _like(result: np.ndarray, img):
    return Tensor(result) if isinstance(img, Tensor) else result


def _tracked(img) -> bool:
    """A Tensor whose result should stay in the autograd graph."""
    return isinstance(img, Tensor) and img.requires_grad and is_grad_enabled()


def _channels(data: np.ndarray, name: str, allowed=(1, 3)) -> int:
    if data.ndim < 3 or data.shape[-3] not in allowed:
        raise TypeError(f"{name}: expected an image (..., C, H, W) with C in "
                        f"{list(allowed)}, got shape {data.shape}")
    return data.shape[-3]


def _max_value(dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return 1
    return float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0


def _float_dtype(dtype) -> np.dtype:
    """torchvision's compute dtype: the image's own if floating, else float32."""
    return np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float32)


def _cast_back(out: np.ndarray, dtype, rounding: bool = True) -> np.ndarray:
    """A float result back in an integer image's dtype (rounded, as _cast_squeeze_out)."""
    if np.dtype(dtype).kind in "iu" and rounding:
        out = np.round(out)
    return out.astype(dtype, copy=False)


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


def _linspace32(start: float, end: float, steps: int) -> np.ndarray:
    """torch.linspace in float32 as its CPU kernel computes it, so grids and magnitude tables
    equal torchvision's bit for bit: start + step * i for the first half, end - step * (steps
    - 1 - i) for the rest, each a fused multiply-add (one rounding: exact in float64, then
    rounded to float32)."""
    start, end = np.float32(start), np.float32(end)
    if steps == 1:
        return np.array([start], dtype=np.float32)
    step = np.float64((end - start) / np.float32(steps - 1))
    index = np.arange(steps)
    out = np.where(index < steps // 2, np.float64(start) + step * index,
                   np.float64(end) - step * (steps - 1 - index))
    return out.astype(np.float32)


def get_dimensions(img) -> list[int]:
    """[channels, height, width] (channels 1 for an (H, W) image)."""
    if _is_pil(img):
        return [len(img.getbands()), img.height, img.width]
    data = _array(img, "get_dimensions")
    return [data.shape[-3] if data.ndim > 2 else 1, data.shape[-2], data.shape[-1]]


def get_image_size(img) -> list[int]:
    """[width, height], torchvision's order."""
    _, height, width = get_dimensions(img)
    return [width, height]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


# ---------------------------------------------------------------------------------------------
# conversions

def pil_to_tensor(pic) -> np.ndarray:
    """A PIL image -> its (C, H, W) array in the image's dtype (uint8 for L/RGB/RGBA)."""
    if not _is_pil(pic):
        raise TypeError(f"pil_to_tensor: expected a PIL image, got {type(pic).__name__}")
    array = np.array(pic, copy=True)
    return np.ascontiguousarray(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))


def to_tensor(pic) -> Tensor:
    """(H, W, C) / (H, W) numpy image or PIL image -> (C, H, W) Tensor; uint8 becomes
    float32 / 255, other dtypes are kept (as torchvision's to_tensor)."""
    if _is_pil(pic):
        pic = np.array(pic)
    if not isinstance(pic, np.ndarray) or pic.ndim not in (2, 3):
        raise TypeError(f"to_tensor: expected an (H, W, C) or (H, W) numpy array or a PIL "
                        f"image, got {getattr(pic, 'shape', type(pic).__name__)}")
    # contiguous, as torchvision's (permute(2, 0, 1).contiguous()): an (H, W, C)-strided
    # tensor would make every batch stacked from them channels-last
    chw = np.ascontiguousarray(pic[None] if pic.ndim == 2 else pic.transpose(2, 0, 1))
    if pic.dtype == np.uint8:
        return Tensor(chw.astype(np.float32) / np.float32(255))
    return Tensor(chw)


def to_pil_image(pic, mode: str | None = None):
    """A (C, H, W) / (H, W) array or Tensor (or an (H, W, C) numpy array, as torchvision) -> a
    PIL image; floats are scaled by 255 and truncated (torchvision's ``mul(255).byte()``)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("to_pil_image: pillow is not installed (pip install pillow)") from None
    if isinstance(pic, Tensor):
        data = pic.data
        data = data[None] if data.ndim == 2 else data
        if data.ndim != 3:
            raise ValueError(f"to_pil_image: expected a (C, H, W) image, got {data.shape}")
        data = data.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_pil_image: expected a 2-D or 3-D image, got {pic.shape}")
        data = pic[..., None] if pic.ndim == 2 else pic
        if data.shape[-1] > 4 >= data.shape[0]:  # a (C, H, W) array
            data = data.transpose(1, 2, 0)
    else:
        raise TypeError(f"to_pil_image: expected a numpy array or a Tensor, got "
                        f"{type(pic).__name__}")
    if data.dtype.kind == "f":
        data = (data * 255).astype(np.uint8)
    channels = data.shape[-1]
    if channels == 1:
        data = data[..., 0]
        mode = mode or ("L" if data.dtype == np.uint8 else None)
    elif mode is None:
        modes = {2: "LA", 3: "RGB", 4: "RGBA"}
        if channels not in modes:
            raise ValueError(f"to_pil_image: cannot make a PIL image of {channels} channels")
        mode = modes[channels]
    return Image.fromarray(np.ascontiguousarray(data), mode=mode)


def convert_image_dtype(image, dtype=np.float32):
    """Convert and rescale: ints -> floats divide by the int's max, floats -> ints multiply by
    max + 1 - 1e-3 and truncate, ints -> ints shift (torchvision's convert_image_dtype)."""
    data = _array(image, "convert_image_dtype", 0)
    dtype = np.dtype(dtype)
    if data.dtype == dtype:
        return image
    if data.dtype.kind == "f":
        if dtype.kind == "f":
            return _like(data.astype(dtype), image)
        if (data.dtype == np.float32 and dtype in (np.int32, np.int64)) or \
                (data.dtype == np.float64 and dtype == np.int64):
            raise ValueError(f"convert_image_dtype: the cast from {data.dtype} to {dtype} "
                             f"cannot be performed safely")
        return _like((data * (_max_value(dtype) + 1.0 - 1e-3)).astype(dtype), image)
    input_max = _max_value(data.dtype)
    if dtype.kind == "f":
        return _like(data.astype(dtype) / dtype.type(input_max), image)
    output_max = _max_value(dtype)
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return _like((data // factor).astype(dtype), image)
    factor = int((output_max + 1) // (input_max + 1))
    return _like(data.astype(dtype) * dtype.type(factor), image)


# ---------------------------------------------------------------------------------------------
# geometry: resize, pad, crops, flips

def _output_size(height: int, width: int, size, name: str, max_size=None) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) or (not isinstance(size, str) and len(size) == 1):
        short = size if isinstance(size, numbers.Integral) else size[0]
        _pair(short, name)
        small, large = (height, width) if height <= width else (width, height)
        new_small, new_large = int(short), int(short * large / small)
        if max_size is not None:
            if max_size <= new_small:
                raise ValueError(f"{name}: max_size ({max_size}) must be greater than the "
                                 f"requested size for the smaller edge ({new_small})")
            if new_large > max_size:
                new_small, new_large = int(max_size * new_small / new_large), int(max_size)
        return (new_small, new_large) if height <= width else (new_large, new_small)
    if max_size is not None:
        raise ValueError(f"{name}: max_size needs size to be an int, got {size!r}")
    return _pair(size, name)


@_pil_aware
def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
           antialias: bool | None = True):
    """Resize the last two axes to ``size`` ((h, w), or an int: the smaller edge, keeping the
    aspect ratio, at most ``max_size``), as torchvision's resize on tensors, through
    F.interpolate: bilinear or bicubic (antialias=True by default: torch's antialiased
    kernels; half-pixel centres), nearest or nearest-exact. Integer images are computed in
    float32 and rounded back (bicubic clamped), as torchvision's float path. Differentiable for
    a Tensor that requires grad."""
    from dlpy.functional import interpolate

    mode = _interpolation(interpolation, "resize",
                          ("bilinear", "bicubic", "nearest", "nearest-exact"))
    data = _array(img, "resize")
    height, width = data.shape[-2:]
    out_h, out_w = _output_size(height, width, size, "resize", max_size)
    smooth = mode in ("bilinear", "bicubic")
    settings = {"size": (out_h, out_w), "mode": mode,
                "align_corners": False if smooth else None,
                "antialias": bool(antialias) and smooth}
    flat = (1, int(np.prod(data.shape[:-2], dtype=np.int64)), height, width)
    shape = data.shape[:-2] + (out_h, out_w)
    if _tracked(img):
        return interpolate(img.reshape(*flat), **settings).reshape(*shape)
    dtype = data.dtype if not smooth else _float_dtype(data.dtype)
    with no_grad():
        out = interpolate(Tensor(data.astype(dtype, copy=False).reshape(flat)),
                          **settings).data.reshape(shape)
    if out.dtype != data.dtype:
        if data.dtype == np.uint8 and mode == "bicubic":
            out = np.clip(out, 0, 255)
        out = _cast_back(out, data.dtype)
    return _like(out, img)


@_pil_aware
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


@_pil_aware
def crop(img, top: int, left: int, height: int, width: int):
    """img[..., top:top + height, left:left + width], zeros where the box leaves the image."""
    data = _array(img, "crop")
    h, w = data.shape[-2:]
    out = np.zeros(data.shape[:-2] + (height, width), dtype=data.dtype)
    rows = slice(max(top, 0), min(top + height, h))
    cols = slice(max(left, 0), min(left + width, w))
    if rows.stop > rows.start and cols.stop > cols.start:
        out[..., rows.start - top:rows.stop - top, cols.start - left:cols.stop - left] = \
            data[..., rows, cols]
    return _like(out, img)


@_pil_aware
def center_crop(img, output_size):
    """The central (h, w) box (zero padded first where the image is smaller), torchvision's
    rounding: top = round((H - h) / 2)."""
    data = _array(img, "center_crop")
    crop_h, crop_w = _pair(output_size, "center_crop", "output_size")
    h, w = data.shape[-2:]
    top = -((crop_h - h) // 2) if crop_h > h else int(round((h - crop_h) / 2.0))
    left = -((crop_w - w) // 2) if crop_w > w else int(round((w - crop_w) / 2.0))
    return crop(img, top, left, crop_h, crop_w)


@_pil_aware
def resized_crop(img, top: int, left: int, height: int, width: int, size,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True):
    """crop, then resize to ``size``."""
    if isinstance(interpolation, bool):  # the old positional antialias argument
        interpolation, antialias = InterpolationMode.BILINEAR, interpolation
    return resize(crop(img, top, left, height, width), size, interpolation,
                  antialias=antialias)


@_pil_aware
def horizontal_flip(img):
    """The last axis reversed."""
    return _like(np.ascontiguousarray(_array(img, "horizontal_flip")[..., ::-1]), img)


@_pil_aware
def vertical_flip(img):
    """The second last axis reversed."""
    return _like(np.ascontiguousarray(_array(img, "vertical_flip")[..., ::-1, :]), img)


hflip, vflip = horizontal_flip, vertical_flip


def five_crop(img, size) -> tuple:
    """(top-left, top-right, bottom-left, bottom-right, center) crops of ``size``."""
    crop_h, crop_w = _pair(size, "five_crop")
    _, height, width = get_dimensions(img)
    if crop_h > height or crop_w > width:
        raise ValueError(f"five_crop: size {(crop_h, crop_w)} is bigger than the image "
                         f"{(height, width)}")
    return (crop(img, 0, 0, crop_h, crop_w), crop(img, 0, width - crop_w, crop_h, crop_w),
            crop(img, height - crop_h, 0, crop_h, crop_w),
            crop(img, height - crop_h, width - crop_w, crop_h, crop_w),
            center_crop(img, (crop_h, crop_w)))


def ten_crop(img, size, vertical_flip: bool = False) -> tuple:
    """five_crop of the image, then five_crop of its (horizontally or vertically) flipped
    copy."""
    flipped = globals()["vertical_flip"](img) if vertical_flip else horizontal_flip(img)
    return five_crop(img, size) + five_crop(flipped, size)


def normalize(img, mean, std, inplace: bool = False):
    """(img - mean[c]) / std[c] over the channel axis (-3), in the image's float dtype;
    differentiable for a Tensor that requires grad."""
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
    if _tracked(img):
        return (img - Tensor(mean)) / Tensor(std)
    if inplace:
        data -= mean
        data /= std
        return img
    return _like((data - mean) / std, img)


@_pil_aware
def erase(img, i: int, j: int, h: int, w: int, v, inplace: bool = False):
    """img with img[..., i:i + h, j:j + w] = v (v broadcast to the box)."""
    data = _array(img, "erase")
    out = data if inplace else data.copy()
    out[..., i:i + h, j:j + w] = np.asarray(v.data if isinstance(v, Tensor) else v)
    return img if inplace else _like(out, img)


# ---------------------------------------------------------------------------------------------
# colour

def _blend(img1: np.ndarray, img2, ratio: float) -> np.ndarray:
    """ratio * img1 + (1 - ratio) * img2, clamped to the dtype's range and cast back
    (truncating, as torchvision's ``_blend``)."""
    dtype = _float_dtype(img1.dtype)
    ratio = float(ratio)
    out = dtype.type(ratio) * img1.astype(dtype, copy=False) + \
        dtype.type(1.0 - ratio) * np.asarray(img2, dtype=dtype)
    return np.clip(out, 0, _max_value(img1.dtype)).astype(img1.dtype, copy=False)


def _gray(data: np.ndarray) -> np.ndarray:
    """0.2989 r + 0.587 g + 0.114 b, keeping the channel axis, in the image's dtype."""
    if data.shape[-3] == 1:
        return data.copy()
    dtype = _float_dtype(data.dtype)
    r, g, b = (data[..., c, :, :].astype(dtype, copy=False) for c in range(3))
    out = dtype.type(0.2989) * r + dtype.type(0.587) * g + dtype.type(0.114) * b
    return out.astype(data.dtype, copy=False)[..., None, :, :]


@_pil_aware
def rgb_to_grayscale(img, num_output_channels: int = 1):
    """ITU-R 601-2 luma of an RGB image, as 1 or 3 (equal) channels."""
    data = _array(img, "rgb_to_grayscale", 3)
    _channels(data, "rgb_to_grayscale")
    if num_output_channels not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: num_output_channels must be 1 or 3, got "
                         f"{num_output_channels}")
    gray = _gray(data)
    if num_output_channels == 3:
        gray = np.ascontiguousarray(np.broadcast_to(gray, data.shape))
    return _like(gray, img)


to_grayscale = rgb_to_grayscale


def _check_factor(value: float, name: str, what: str) -> None:
    if value < 0:
        raise ValueError(f"{name}: {what} must be non-negative, got {value}")


@_pil_aware
def adjust_brightness(img, brightness_factor: float):
    """img * factor, clamped."""
    _check_factor(brightness_factor, "adjust_brightness", "brightness_factor")
    data = _array(img, "adjust_brightness", 3)
    _channels(data, "adjust_brightness")
    return _like(_blend(data, np.zeros((), data.dtype), brightness_factor), img)


@_pil_aware
def adjust_contrast(img, contrast_factor: float):
    """A blend with the mean of the grayscale image (per image)."""
    _check_factor(contrast_factor, "adjust_contrast", "contrast_factor")
    data = _array(img, "adjust_contrast", 3)
    _channels(data, "adjust_contrast")
    dtype = _float_dtype(data.dtype)
    mean = _gray(data).astype(dtype).mean(axis=(-3, -2, -1), keepdims=True, dtype=dtype)
    return _like(_blend(data, mean, contrast_factor), img)


@_pil_aware
def adjust_saturation(img, saturation_factor: float):
    """A blend with the grayscale image."""
    _check_factor(saturation_factor, "adjust_saturation", "saturation_factor")
    data = _array(img, "adjust_saturation", 3)
    if _channels(data, "adjust_saturation") == 1:
        return img
    return _like(_blend(data, _gray(data), saturation_factor), img)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """torchvision's _rgb2hsv (Pillow's formulas): (..., 3, H, W) in [0, 1] -> h, s, v."""
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    maxc, minc = rgb.max(axis=-3), rgb.min(axis=-3)
    equal = maxc == minc
    chroma = maxc - minc
    s = chroma / np.where(equal, 1, maxc)
    divisor = np.where(equal, 1, chroma)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    h = (maxc == r) * (bc - gc) + ((maxc == g) & (maxc != r)) * (2.0 + rc - bc) + \
        ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = np.fmod(h / 6.0 + 1.0, 1.0)
    return np.stack((h, s, maxc), axis=-3).astype(rgb.dtype, copy=False)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """torchvision's _hsv2rgb: the sector i = floor(6 h) picks (r, g, b) among v, p, q, t."""
    h, s, v = hsv[..., 0, :, :], hsv[..., 1, :, :], hsv[..., 2, :, :]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int32) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = np.choose(i, (v, q, p, p, t, v))
    g = np.choose(i, (t, v, v, q, p, p))
    b = np.choose(i, (p, p, t, v, v, q))
    return np.stack((r, g, b), axis=-3).astype(hsv.dtype, copy=False)


@_pil_aware
def adjust_hue(img, hue_factor: float):
    """Shift the hue by hue_factor (in [-0.5, 0.5], a fraction of the colour wheel), computed
    in float32 as torchvision does (a float64 image comes back float64)."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"adjust_hue: hue_factor must be in [-0.5, 0.5], got {hue_factor}")
    data = _array(img, "adjust_hue", 3)
    if _channels(data, "adjust_hue") == 1:
        return img
    hsv = _rgb_to_hsv(convert_image_dtype(data, np.float32))
    hsv[..., 0, :, :] = np.mod(hsv[..., 0, :, :] + np.float32(hue_factor), np.float32(1.0))
    return _like(convert_image_dtype(_hsv_to_rgb(hsv), data.dtype), img)


@_pil_aware
def adjust_gamma(img, gamma: float, gain: float = 1):
    """gain * img ** gamma on [0, 1], clamped."""
    _check_factor(gamma, "adjust_gamma", "gamma")
    data = _array(img, "adjust_gamma", 3)
    _channels(data, "adjust_gamma")
    x = convert_image_dtype(data, np.float32) if data.dtype.kind != "f" else data
    out = np.clip(gain * x ** gamma, 0, 1).astype(x.dtype, copy=False)
    return _like(convert_image_dtype(out, data.dtype), img)


@_pil_aware
def invert(img):
    """max - img."""
    data = _array(img, "invert", 3)
    _channels(data, "invert")
    if data.dtype == np.uint8:
        return _like(255 - data, img)
    return _like((data.dtype.type(_max_value(data.dtype)) - data).astype(data.dtype), img)


@_pil_aware
def posterize(img, bits: int):
    """Keep the top ``bits`` bits of each uint8 value."""
    data = _array(img, "posterize", 3)
    if data.dtype != np.uint8:
        raise TypeError(f"posterize: expected a uint8 image, got {data.dtype}")
    if not 0 <= bits <= 8:
        raise ValueError(f"posterize: bits must be in [0, 8], got {bits}")
    _channels(data, "posterize")
    return _like(data & np.uint8((0xFF << (8 - int(bits))) & 0xFF), img)


@_pil_aware
def solarize(img, threshold: float):
    """Invert the values >= threshold."""
    data = _array(img, "solarize", 3)
    _channels(data, "solarize")
    if threshold > _max_value(data.dtype):
        raise ValueError(f"solarize: threshold must be at most {_max_value(data.dtype)} for a "
                         f"{data.dtype} image, got {threshold}")
    return _like(np.where(data >= threshold, invert(data), data), img)


def _conv_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate the last two axes with a 2-D kernel, no padding (conv2d per channel)."""
    kh, kw = kernel.shape
    out_h, out_w = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    out = np.zeros(x.shape[:-2] + (out_h, out_w), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            out += kernel[a, b] * x[..., a:a + out_h, b:b + out_w]
    return out


@_pil_aware
def adjust_sharpness(img, sharpness_factor: float):
    """A blend with the image smoothed by [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 (the border
    pixels kept)."""
    _check_factor(sharpness_factor, "adjust_sharpness", "sharpness_factor")
    data = _array(img, "adjust_sharpness", 3)
    _channels(data, "adjust_sharpness")
    if data.shape[-1] <= 2 or data.shape[-2] <= 2:
        return img
    dtype = _float_dtype(data.dtype)
    kernel = np.ones((3, 3), dtype=dtype)
    kernel[1, 1] = 5.0
    kernel /= kernel.sum()
    blurred = data.copy()
    blurred[..., 1:-1, 1:-1] = _cast_back(_conv_valid(data.astype(dtype), kernel), data.dtype)
    return _like(_blend(data, blurred, sharpness_factor), img)


@_pil_aware
def autocontrast(img):
    """Stretch each channel to [0, max] (a constant channel is kept)."""
    data = _array(img, "autocontrast", 3)
    _channels(data, "autocontrast")
    bound = _max_value(data.dtype)
    dtype = _float_dtype(data.dtype)
    minimum = data.min(axis=(-2, -1), keepdims=True).astype(dtype)
    maximum = data.max(axis=(-2, -1), keepdims=True).astype(dtype)
    with np.errstate(divide="ignore"):
        scale = dtype.type(bound) / (maximum - minimum)
    constant = ~np.isfinite(scale)
    minimum[constant], scale[constant] = 0, 1
    out = np.clip((data - minimum) * scale, 0, bound)
    return _like(out.astype(data.dtype), img)


def _equalize_channel(channel: np.ndarray) -> np.ndarray:
    hist = np.bincount(channel.ravel(), minlength=256)
    nonzero = hist[hist != 0]
    step = nonzero[:-1].sum() // 255
    if step == 0:
        return channel
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
    return lut[channel].astype(np.uint8)


@_pil_aware
def equalize(img):
    """Histogram equalisation of each channel of a uint8 image (torchvision's lookup table)."""
    data = _array(img, "equalize", 3)
    if data.dtype != np.uint8:
        raise TypeError(f"equalize: expected a uint8 image, got {data.dtype}")
    _channels(data, "equalize")
    flat = data.reshape((-1,) + data.shape[-2:])
    out = np.stack([_equalize_channel(c) for c in flat]).reshape(data.shape)
    return _like(out, img)


# ---------------------------------------------------------------------------------------------
# blur

def _gaussian_kernel1d(size: int, sigma: float, dtype) -> np.ndarray:
    half = (size - 1) * 0.5
    x = np.linspace(-half, half, size).astype(dtype)
    pdf = np.exp(dtype.type(-0.5) * (x / dtype.type(sigma)) ** 2)
    return pdf / pdf.sum()


@_pil_aware
def gaussian_blur(img, kernel_size, sigma=None):
    """Blur with a Gaussian kernel (kernel_size (kx, ky) odd positive; sigma (sx, sy), default
    0.3 ((k - 1) / 2 - 1) + 0.8), the borders reflected."""
    sizes = [kernel_size] * 2 if isinstance(kernel_size, numbers.Integral) else list(kernel_size)
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or any(not isinstance(k, numbers.Integral) or k <= 0 or k % 2 == 0
                              for k in sizes):
        raise ValueError(f"gaussian_blur: kernel_size must be odd positive ints, got "
                         f"{kernel_size!r}")
    if sigma is None:
        sigmas = [k * 0.15 + 0.35 for k in sizes]
    else:
        sigmas = [float(sigma)] * 2 if isinstance(sigma, numbers.Real) else list(sigma)
        sigmas = sigmas * 2 if len(sigmas) == 1 else sigmas
    if len(sigmas) != 2 or any(s <= 0 for s in sigmas):
        raise ValueError(f"gaussian_blur: sigma must be positive, got {sigma!r}")
    data = _array(img, "gaussian_blur")
    dtype = _float_dtype(data.dtype)
    kx = _gaussian_kernel1d(sizes[0], sigmas[0], dtype)
    ky = _gaussian_kernel1d(sizes[1], sigmas[1], dtype)
    px, py = sizes[0] // 2, sizes[1] // 2
    if px >= data.shape[-1] or py >= data.shape[-2]:
        raise ValueError(f"gaussian_blur: kernel_size {tuple(sizes)} needs an image larger than "
                         f"half of it (reflect padding), got {data.shape[-2:]}")
    widths = [(0, 0)] * (data.ndim - 2) + [(py, py), (px, px)]
    padded = np.pad(data.astype(dtype, copy=False), widths, mode="reflect")
    out = _conv_valid(padded, ky[:, None] * kx[None, :])
    return _like(_cast_back(out, data.dtype), img)


# ---------------------------------------------------------------------------------------------
# grid transforms: affine, rotate, perspective, elastic

def _inverse_affine_matrix(center, angle: float, translate, scale: float, shear,
                           inverted: bool = True) -> list[float]:
    """torchvision's _get_inverse_affine_matrix: the matrix taking output pixels to input ones
    of rotate(angle) . shear . scale about ``center`` then translate (angles in degrees)."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    if inverted:
        matrix = [x / scale for x in (d, -b, 0.0, -c, a, 0.0)]
        matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty) + cx
        matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty) + cy
    else:
        matrix = [x * scale for x in (a, b, 0.0, c, d, 0.0)]
        matrix[2] += matrix[0] * (-cx) + matrix[1] * (-cy) + cx + tx
        matrix[5] += matrix[3] * (-cx) + matrix[4] * (-cy) + cy + ty
    return matrix


def _affine_grid(theta: np.ndarray, w: int, h: int, ow: int, oh: int) -> np.ndarray:
    """torchvision's _gen_affine_grid: theta (2, 3) in pixels about the centre, applied to the
    output's pixel centres, normalised by the input's size -> (1, oh, ow, 2)."""
    base = np.empty((oh, ow, 3), dtype=theta.dtype)
    base[..., 0] = np.arange(ow) - ow * 0.5 + 0.5
    base[..., 1] = (np.arange(oh) - oh * 0.5 + 0.5)[:, None]
    base[..., 2] = 1
    rescaled = theta.T / np.array([0.5 * w, 0.5 * h], dtype=theta.dtype)
    return (base.reshape(-1, 3) @ rescaled).reshape(1, oh, ow, 2)


def _fill_values(fill, channels: int, name: str):
    if fill is None:
        return None
    values = [float(fill)] if isinstance(fill, numbers.Real) else [float(f) for f in fill]
    if len(values) not in (1, channels):
        raise ValueError(f"{name}: fill must be a number or {channels} values (one per "
                         f"channel), got {fill!r}")
    return values


def _grid_transform(img, grid: np.ndarray, mode: str, fill, name: str):
    """torchvision's _apply_grid_transform through dlpy's grid_sample (zeros outside); with a
    fill, a mask sampled the same way blends the fill in (nearest: where the mask < 0.5)."""
    data = _array(img, name)
    squeeze = data.ndim == 2
    if squeeze:
        data = data[None]
        img = img.reshape(1, *data.shape[-2:]) if _tracked(img) else data
    channels, height, width = data.shape[-3:]
    fill = _fill_values(fill, channels, name)
    if _tracked(img):  # else the image is computed in the grid's dtype, as torchvision
        grid = grid.astype(data.dtype, copy=False)
    n = int(np.prod(data.shape[:-3], dtype=np.int64))
    # one grid for every image: the batch folded into the channels, (1, n C, H, W), so that
    # grid_sample finds each tap once, not n times
    folded = (1, n * channels, height, width)
    if _tracked(img):
        out = grid_sample(img.reshape(*folded), Tensor(grid), mode=mode, padding_mode="zeros",
                          align_corners=False)
    else:
        with no_grad():
            x = Tensor(data.astype(grid.dtype, copy=False).reshape(folded))
            out = grid_sample(x, Tensor(grid), mode=mode, padding_mode="zeros",
                              align_corners=False).data
    out = out.reshape(n, channels, *grid.shape[1:3])
    if fill is not None:
        with no_grad():
            mask = grid_sample(Tensor(np.ones((1, 1, height, width), dtype=grid.dtype)),
                               Tensor(grid), mode=mode, padding_mode="zeros",
                               align_corners=False).data
        fill_img = np.asarray(fill, dtype=grid.dtype).reshape(1, -1, 1, 1)
        if mode == "nearest":
            mask = (mask >= 0.5).astype(grid.dtype)
        out = out * mask + (1.0 - mask) * fill_img
    shape = data.shape[:-2] + tuple(grid.shape[1:3])
    if squeeze:
        shape = shape[1:]
    if isinstance(out, Tensor):
        return out.reshape(*shape)
    return _like(_cast_back(out.reshape(shape), data.dtype), img)


def _center_offset(center, width: int, height: int) -> list[float]:
    if center is None:
        return [0.0, 0.0]
    if len(center) != 2:
        raise ValueError(f"expected center (x, y), got {center!r}")
    return [1.0 * (c - s * 0.5) for c, s in zip(center, (width, height))]


_GRID_MODES = ("nearest", "bilinear", "bicubic")


def affine(img, angle: float, translate, scale: float, shear,
           interpolation=InterpolationMode.NEAREST, fill=None, center=None):
    """Rotate by ``angle`` degrees (clockwise on screen), shear by ``shear`` degrees ((x, y) or
    one x value), scale and translate by (dx, dy) pixels about ``center`` (default the image
    centre), reading the source by grid sampling; outside the image ``fill`` (None: zeros)."""
    if _is_pil(img):
        return _pil_aware(affine)(img, angle, translate, scale, shear, interpolation, fill,
                                  center)
    mode = _interpolation(interpolation, "affine", _GRID_MODES)
    if not isinstance(angle, numbers.Real):
        raise TypeError(f"affine: angle must be a number, got {angle!r}")
    if len(translate) != 2:
        raise ValueError(f"affine: translate must be (dx, dy), got {translate!r}")
    if scale <= 0:
        raise ValueError(f"affine: scale must be positive, got {scale}")
    shear = [float(shear), 0.0] if isinstance(shear, numbers.Real) else list(shear)
    shear = shear * 2 if len(shear) == 1 else shear
    if len(shear) != 2:
        raise ValueError(f"affine: shear must be a number or (x, y), got {shear!r}")
    data = _array(img, "affine")
    height, width = data.shape[-2:]
    matrix = _inverse_affine_matrix(_center_offset(center, width, height), float(angle),
                                    [1.0 * t for t in translate], scale, shear)
    theta = np.array(matrix, dtype=_float_dtype(data.dtype)).reshape(2, 3)
    return _grid_transform(img, _affine_grid(theta, width, height, width, height), mode, fill,
                           "affine")


def _expanded_size(matrix: list[float], w: int, h: int) -> tuple[int, int]:
    """torchvision's _compute_affine_output_size (in float32, as it): the (w, h) holding the
    transformed corners."""
    points = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                       [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]], dtype=np.float32)
    theta = np.array(matrix, dtype=np.float32).reshape(2, 3)
    moved = points @ theta.T
    half = np.array([w * 0.5, h * 0.5], dtype=np.float32)
    low, high = moved.min(axis=0) + half, moved.max(axis=0) + half
    tol = np.float32(1e-4)
    size = np.ceil(np.trunc(high / tol) * tol) - np.floor(np.trunc(low / tol) * tol)
    return int(size[0]), int(size[1])


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False,
           center=None, fill=None):
    """Rotate counter-clockwise by ``angle`` degrees about ``center`` (default the centre);
    ``expand`` grows the output to hold the whole rotated image."""
    if _is_pil(img):
        return _pil_aware(rotate)(img, angle, interpolation, expand, center, fill)
    mode = _interpolation(interpolation, "rotate", _GRID_MODES)
    if not isinstance(angle, numbers.Real):
        raise TypeError(f"rotate: angle must be a number, got {angle!r}")
    data = _array(img, "rotate")
    height, width = data.shape[-2:]
    matrix = _inverse_affine_matrix(_center_offset(center, width, height), -float(angle),
                                    [0.0, 0.0], 1.0, [0.0, 0.0])
    out_w, out_h = _expanded_size(matrix, width, height) if expand else (width, height)
    theta = np.array(matrix, dtype=_float_dtype(data.dtype)).reshape(2, 3)
    return _grid_transform(img, _affine_grid(theta, width, height, out_w, out_h), mode, fill,
                           "rotate")


def _perspective_coeffs(startpoints, endpoints) -> list[float]:
    """The 8 coefficients (a..h) with (x, y) -> ((a x + b y + c) / (g x + h y + 1), (d x + e y
    + f) / (g x + h y + 1)) taking endpoints to startpoints; rounded to float32 as
    torchvision."""
    if len(startpoints) != 4 or len(endpoints) != 4:
        raise ValueError(f"perspective: expected four corners, got {len(startpoints)} "
                         f"startpoints and {len(endpoints)} endpoints")
    a_matrix = np.zeros((8, 8))
    for i, (p1, p2) in enumerate(zip(endpoints, startpoints)):
        a_matrix[2 * i] = [p1[0], p1[1], 1, 0, 0, 0, -p2[0] * p1[0], -p2[0] * p1[1]]
        a_matrix[2 * i + 1] = [0, 0, 0, p1[0], p1[1], 1, -p2[1] * p1[0], -p2[1] * p1[1]]
    b_matrix = np.asarray(startpoints, dtype=np.float64).reshape(8)
    solution = np.linalg.lstsq(a_matrix, b_matrix, rcond=None)[0]
    return solution.astype(np.float32).tolist()


def perspective(img, startpoints, endpoints, interpolation=InterpolationMode.BILINEAR,
                fill=None):
    """Warp so that the four ``startpoints`` ([x, y]: top-left, top-right, bottom-right,
    bottom-left) land on ``endpoints``."""
    if _is_pil(img):
        return _pil_aware(perspective)(img, startpoints, endpoints, interpolation, fill)
    mode = _interpolation(interpolation, "perspective", _GRID_MODES)
    coeffs = _perspective_coeffs(startpoints, endpoints)
    data = _array(img, "perspective")
    oh, ow = data.shape[-2:]
    dtype = _float_dtype(data.dtype)
    theta1 = np.array([coeffs[:3], coeffs[3:6]], dtype=dtype)
    theta2 = np.array([[coeffs[6], coeffs[7], 1.0]] * 2, dtype=dtype)
    base = np.empty((oh, ow, 3), dtype=dtype)
    base[..., 0] = np.arange(ow) + 0.5
    base[..., 1] = (np.arange(oh) + 0.5)[:, None]
    base[..., 2] = 1
    base = base.reshape(-1, 3)
    grid1 = base @ (theta1.T / np.array([0.5 * ow, 0.5 * oh], dtype=dtype))
    grid2 = base @ theta2.T
    grid = (grid1 / grid2 - 1.0).reshape(1, oh, ow, 2)
    return _grid_transform(img, grid, mode, fill, "perspective")


def elastic_transform(img, displacement, interpolation=InterpolationMode.BILINEAR,
                      fill=None):
    """Sample the image at the identity grid plus ``displacement`` (1, H, W, 2) (in grid
    units: [-1, 1] spans the image)."""
    if _is_pil(img):
        return _pil_aware(elastic_transform)(img, displacement, interpolation, fill)
    mode = _interpolation(interpolation, "elastic_transform", _GRID_MODES)
    data = _array(img, "elastic_transform")
    height, width = data.shape[-2:]
    displacement = np.asarray(displacement.data if isinstance(displacement, Tensor)
                              else displacement)
    if displacement.shape != (1, height, width, 2):
        raise ValueError(f"elastic_transform: expected a displacement of shape "
                         f"{(1, height, width, 2)}, got {displacement.shape}")
    # torch.linspace in float32, as torchvision's _create_identity_grid
    xs = _linspace32((-width + 1) / width, (width - 1) / width, width)
    ys = _linspace32((-height + 1) / height, (height - 1) / height, height)
    identity = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None]), axis=-1)[None]
    return _grid_transform(img, identity + displacement, mode, fill, "elastic_transform")


__all__ = [
    "InterpolationMode", "PADDING_MODES", "adjust_brightness", "adjust_contrast", "adjust_gamma",
    "adjust_hue", "adjust_saturation", "adjust_sharpness", "affine", "autocontrast",
    "center_crop", "convert_image_dtype", "crop", "elastic_transform", "equalize", "erase",
    "five_crop", "gaussian_blur", "get_dimensions", "get_image_num_channels", "get_image_size",
    "hflip", "horizontal_flip", "invert", "normalize", "pad", "perspective", "pil_to_tensor",
    "posterize", "resize", "resized_crop", "rgb_to_grayscale", "rotate", "solarize", "ten_crop",
    "to_grayscale", "to_pil_image", "to_tensor", "vertical_flip", "vflip",
]
