"""torchvision.transforms.v2.functional: v1's functions under v2's names, plus ``to_image``
and ``to_dtype``; the geometric ones (flips, crop, center_crop, resize, resized_crop, pad,
rotate, affine) and the kernels ``*_bounding_boxes`` / ``*_mask`` dispatch on
dlpy.vision.tv_tensors as torchvision's: boxes move with the image and are clamped to the new
canvas, masks are resized by nearest neighbour and padded with 0; ``clamp_bounding_boxes``,
``convert_bounding_box_format``, ``gaussian_noise``, ``permute_channels``."""

from __future__ import annotations

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array
from dlpy.vision import tv_tensors
from dlpy.vision.ops import box_convert
from dlpy.vision.transforms import functional as _v1
from dlpy.vision.transforms.functional import *  # noqa: F403
from dlpy.vision.transforms.functional import (
    InterpolationMode,
    _array,
    _expanded_size,
    _inverse_affine_matrix,
    _like,
    _max_value,
    _output_size,
    convert_image_dtype,
    get_image_size,
    pil_to_tensor,
)
from dlpy.vision.transforms.functional import (
    __all__ as _v1_names,
)
from dlpy.vision.tv_tensors import BoundingBoxes, BoundingBoxFormat, Mask, TVTensor


def to_image(inpt) -> Tensor:
    """A (H, W, C) / (H, W) numpy array or a PIL image -> a (C, H, W) Tensor, dtype kept; a
    Tensor is returned as is."""
    if isinstance(inpt, Tensor):
        return inpt
    if isinstance(inpt, np.ndarray):
        if inpt.ndim not in (2, 3):
            raise ValueError(f"to_image: expected an (H, W, C) or (H, W) array, got {inpt.shape}")
        chw = inpt[None] if inpt.ndim == 2 else inpt.transpose(2, 0, 1)
        return Tensor(np.ascontiguousarray(chw))
    return Tensor(pil_to_tensor(inpt))


def to_dtype(inpt, dtype=np.float32, scale: bool = False):
    """Cast to ``dtype``; with scale, rescale as convert_image_dtype (ints -> floats multiply
    by 1 / max, v2's formula)."""
    data = _array(inpt, "to_dtype", 0)
    dtype = np.dtype(dtype)
    if data.dtype == dtype:
        return inpt
    if not scale:
        return _like(data.astype(dtype), inpt)
    if data.dtype.kind in "iub" and dtype.kind == "f":
        return _like(data.astype(dtype) * dtype.type(1.0 / _max_value(data.dtype)), inpt)
    return convert_image_dtype(inpt, dtype)


def get_size(inpt) -> list[int]:
    """[height, width] (v2's order; get_image_size is [width, height])."""
    width, height = get_image_size(inpt)
    return [height, width]


def grayscale_to_rgb(inpt):
    """A 1-channel image repeated to 3 channels (a 3-channel one as is)."""
    data = _array(inpt, "grayscale_to_rgb", 3)
    if data.shape[-3] == 3:
        return inpt
    if data.shape[-3] != 1:
        raise ValueError(f"grayscale_to_rgb: expected 1 or 3 channels, got {data.shape}")
    return _like(np.ascontiguousarray(np.repeat(data, 3, axis=-3)), inpt)


# ---------------------------------------------------------------------------------------------
# bounding boxes

_FORMAT_NAMES = {BoundingBoxFormat.XYXY: "xyxy", BoundingBoxFormat.XYWH: "xywh",
                 BoundingBoxFormat.CXCYWH: "cxcywh"}


def _boxes_array(boxes, name: str) -> np.ndarray:
    data = as_array(boxes)
    if data.shape[-1:] != (4,):
        raise ValueError(f"{name}: expected boxes (..., 4), got shape {data.shape}")
    return data


def convert_bounding_box_format(inpt, old_format=None, new_format=None):
    """Boxes from old_format to new_format (XYXY, XYWH, CXCYWH); a BoundingBoxes brings its own
    format and comes back relabelled."""
    if new_format is None:
        raise ValueError("convert_bounding_box_format: new_format must be given")
    new_format = tv_tensors._box_format(new_format)
    if isinstance(inpt, BoundingBoxes):
        if old_format is not None:
            raise ValueError("convert_bounding_box_format: old_format must not be given for "
                             "BoundingBoxes (they carry their format)")
        out = _convert(inpt.data, inpt.format, new_format)
        return tv_tensors.wrap(out, like=inpt, format=new_format)
    if old_format is None:
        raise ValueError("convert_bounding_box_format: old_format must be given for plain "
                         "boxes")
    out = _convert(_boxes_array(inpt, "convert_bounding_box_format"),
                   tv_tensors._box_format(old_format), new_format)
    return _like(out, inpt)


def _convert(data: np.ndarray, old: BoundingBoxFormat, new: BoundingBoxFormat) -> np.ndarray:
    if old == new:
        return data.copy()
    flat = data.reshape(-1, 4)
    out = box_convert(flat.astype(np.float64) if flat.dtype.kind != "f" else flat,
                      _FORMAT_NAMES[old], _FORMAT_NAMES[new]).data
    return out.astype(data.dtype).reshape(data.shape)  # integer boxes truncate, as torch's .to


def clamp_bounding_boxes(inpt, format=None, canvas_size=None):  # noqa: A002
    """Boxes clipped to [0, W] x [0, H] of canvas_size (in XYXY, then back to their format);
    a BoundingBoxes brings its own format and canvas."""
    if isinstance(inpt, BoundingBoxes):
        if format is not None or canvas_size is not None:
            raise ValueError("clamp_bounding_boxes: format and canvas_size must not be given "
                             "for BoundingBoxes")
        return tv_tensors.wrap(_clamp(inpt.data, inpt.format, inpt.canvas_size), like=inpt)
    if format is None or canvas_size is None:
        raise ValueError("clamp_bounding_boxes: plain boxes need format and canvas_size")
    return _like(_clamp(_boxes_array(inpt, "clamp_bounding_boxes"),
                        tv_tensors._box_format(format), canvas_size), inpt)


def _clamp(data: np.ndarray, fmt: BoundingBoxFormat, canvas_size) -> np.ndarray:
    xyxy = _convert(data.astype(np.float32) if data.dtype.kind != "f" else data, fmt,
                    BoundingBoxFormat.XYXY)
    xyxy[..., 0::2] = np.clip(xyxy[..., 0::2], 0, canvas_size[1])
    xyxy[..., 1::2] = np.clip(xyxy[..., 1::2], 0, canvas_size[0])
    return _convert(xyxy, BoundingBoxFormat.XYXY, fmt).astype(data.dtype)


def horizontal_flip_bounding_boxes(boxes, format, canvas_size):  # noqa: A002
    """x mirrored about the canvas width, in the boxes' own format."""
    data = _boxes_array(boxes, "horizontal_flip_bounding_boxes").copy()
    fmt, width = tv_tensors._box_format(format), canvas_size[1]
    if fmt == BoundingBoxFormat.XYXY:
        data[..., [0, 2]] = width - data[..., [2, 0]]
    elif fmt == BoundingBoxFormat.XYWH:
        data[..., 0] = width - (data[..., 0] + data[..., 2])
    else:
        data[..., 0] = width - data[..., 0]
    return data


def vertical_flip_bounding_boxes(boxes, format, canvas_size):  # noqa: A002
    """y mirrored about the canvas height, in the boxes' own format."""
    data = _boxes_array(boxes, "vertical_flip_bounding_boxes").copy()
    fmt, height = tv_tensors._box_format(format), canvas_size[0]
    if fmt == BoundingBoxFormat.XYXY:
        data[..., [1, 3]] = height - data[..., [3, 1]]
    elif fmt == BoundingBoxFormat.XYWH:
        data[..., 1] = height - (data[..., 1] + data[..., 3])
    else:
        data[..., 1] = height - data[..., 1]
    return data


def _shift(data: np.ndarray, fmt: BoundingBoxFormat, dx: float, dy: float) -> np.ndarray:
    move = [dx, dy, dx, dy] if fmt == BoundingBoxFormat.XYXY else [dx, dy, 0, 0]
    return data + np.asarray(move, dtype=data.dtype)


def crop_bounding_boxes(boxes, format, top: int, left: int, height: int,  # noqa: A002
                        width: int):
    """(boxes moved by (-left, -top) and clamped to (height, width), (height, width))."""
    fmt = tv_tensors._box_format(format)
    moved = _shift(_boxes_array(boxes, "crop_bounding_boxes"), fmt, -left, -top)
    return _clamp(moved, fmt, (height, width)), (height, width)


def resize_bounding_boxes(boxes, canvas_size, size, max_size=None):
    """(boxes scaled by new / old width and height, the new (H, W)); any format."""
    data = _boxes_array(boxes, "resize_bounding_boxes")
    new_h, new_w = _output_size(canvas_size[0], canvas_size[1], size, "resize", max_size)
    if (new_h, new_w) == tuple(canvas_size):
        return data, tuple(canvas_size)
    # torchvision's ratio tensor is float32 (torch's default dtype)
    ratios = np.array([new_w / canvas_size[1], new_h / canvas_size[0]] * 2, dtype=np.float32)
    return (data * ratios).astype(data.dtype), (new_h, new_w)


def _pad_sides(padding) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of pad's int / [lr, tb] / [l, t, r, b] padding."""
    values = [padding] if isinstance(padding, int) else list(padding)
    if len(values) == 1:
        return (values[0],) * 4
    if len(values) == 2:
        return values[0], values[1], values[0], values[1]
    return tuple(values)


def pad_bounding_boxes(boxes, format, canvas_size, padding,  # noqa: A002
                       padding_mode: str = "constant"):
    """(boxes moved by (left, top), the padded (H, W)); constant padding only."""
    if padding_mode != "constant":
        raise ValueError(f"pad_bounding_boxes: padding_mode {padding_mode!r} is not supported "
                         "with bounding boxes (only 'constant')")
    left, top, right, bottom = _pad_sides(padding)
    fmt = tv_tensors._box_format(format)
    size = (canvas_size[0] + top + bottom, canvas_size[1] + left + right)
    return _clamp(_shift(_boxes_array(boxes, "pad_bounding_boxes"), fmt, left, top), fmt,
                  size), size


def affine_bounding_boxes(boxes, format, canvas_size, angle: float, translate,  # noqa: A002
                          scale: float, shear, center=None, expand: bool = False):
    """(the boxes enclosing the affinely moved corners of each box, clamped, the canvas):
    torchvision's _affine_bounding_boxes_with_expand (center: absolute (x, y), default the
    canvas centre; expand grows the canvas as rotate's)."""
    fmt = tv_tensors._box_format(format)
    data = _boxes_array(boxes, "affine_bounding_boxes")
    if data.size == 0:
        return data, tuple(canvas_size)
    work = data.astype(np.float32) if data.dtype.kind != "f" else data
    xyxy = _convert(work, fmt, BoundingBoxFormat.XYXY).reshape(-1, 4)
    height, width = canvas_size
    shear = [float(shear), 0.0] if isinstance(shear, (int, float)) else [float(v) for v in shear]
    center = [width * 0.5, height * 0.5] if center is None else [float(c) for c in center]
    angle, translate = float(angle), [float(t) for t in translate]
    forward = np.array(_inverse_affine_matrix(center, angle, translate, scale, shear,
                                              inverted=False), dtype=work.dtype).reshape(2, 3)
    corners = xyxy[:, [[0, 1], [2, 1], [2, 3], [0, 3]]].reshape(-1, 2)
    moved = (np.concatenate([corners, np.ones((len(corners), 1), work.dtype)], 1)
             @ forward.T).reshape(-1, 4, 2)
    out = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    if expand:
        frame = np.array([[0.0, 0.0, 1.0], [0.0, height, 1.0], [width, height, 1.0],
                          [width, 0.0, 1.0]], dtype=work.dtype) @ forward.T
        out = out - np.tile(frame.min(axis=0), 2)
        inverse = _inverse_affine_matrix(center, angle, translate, scale, shear)
        new_w, new_h = _expanded_size(inverse, width, height)
        canvas_size = (new_h, new_w)
    out = _clamp(out, BoundingBoxFormat.XYXY, canvas_size)
    out = _convert(out, BoundingBoxFormat.XYXY, fmt).reshape(data.shape)
    return out.astype(data.dtype), tuple(canvas_size)


def rotate_bounding_boxes(boxes, format, canvas_size, angle: float,  # noqa: A002
                          expand: bool = False, center=None):
    """(boxes enclosing each box rotated counter-clockwise by ``angle`` degrees, the canvas)."""
    return affine_bounding_boxes(boxes, format, canvas_size, -float(angle), [0.0, 0.0], 1.0,
                                 [0.0, 0.0], center, expand)


# ---------------------------------------------------------------------------------------------
# masks

def resize_mask(mask, size, max_size=None):
    """Nearest-neighbour resize of (..., H, W)."""
    return _v1.resize(mask, size, InterpolationMode.NEAREST, max_size, antialias=False)


def pad_mask(mask, padding, fill: float = 0, padding_mode: str = "constant"):
    return _v1.pad(mask, padding, 0 if fill is None else fill, padding_mode)


def rotate_mask(mask, angle: float, expand: bool = False, center=None, fill: float = 0):
    """Nearest-neighbour rotation of (..., H, W), fill 0 outside."""
    return _v1.rotate(mask, angle, InterpolationMode.NEAREST, expand, center,
                      0 if fill is None else fill)


def affine_mask(mask, angle: float, translate, scale: float, shear, fill: float = 0,
                center=None):
    return _v1.affine(mask, angle, translate, scale, shear, InterpolationMode.NEAREST,
                      0 if fill is None else fill, center)


# ---------------------------------------------------------------------------------------------
# dispatch: plain arrays and Tensors, Image and Video go to v1's kernels (re-labelled), Mask
# and BoundingBoxes to theirs

def _relabel(out, inpt):
    return type(inpt)(out) if isinstance(inpt, TVTensor) else out


def _boxes_out(result, inpt: BoundingBoxes):
    data, canvas_size = result
    return tv_tensors.wrap(data, like=inpt, canvas_size=canvas_size)


def horizontal_flip(inpt):
    """Left-right flip of an image, video, mask or BoundingBoxes."""
    if isinstance(inpt, BoundingBoxes):
        return tv_tensors.wrap(horizontal_flip_bounding_boxes(inpt, inpt.format,
                                                              inpt.canvas_size), like=inpt)
    return _relabel(_v1.horizontal_flip(inpt), inpt)


def vertical_flip(inpt):
    """Upside-down flip of an image, video, mask or BoundingBoxes."""
    if isinstance(inpt, BoundingBoxes):
        return tv_tensors.wrap(vertical_flip_bounding_boxes(inpt, inpt.format,
                                                            inpt.canvas_size), like=inpt)
    return _relabel(_v1.vertical_flip(inpt), inpt)


hflip, vflip = horizontal_flip, vertical_flip


def crop(inpt, top: int, left: int, height: int, width: int):
    """The (height, width) box at (top, left); boxes moved and clamped to it."""
    if isinstance(inpt, BoundingBoxes):
        return _boxes_out(crop_bounding_boxes(inpt, inpt.format, top, left, height, width),
                          inpt)
    return _relabel(_v1.crop(inpt, top, left, height, width), inpt)


def center_crop(inpt, output_size):
    """The central box; boxes use torchvision's anchor round((H - h) / 2)."""
    if isinstance(inpt, BoundingBoxes):
        crop_h, crop_w = _v1._pair(output_size, "center_crop", "output_size")
        height, width = inpt.canvas_size
        top, left = int(round((height - crop_h) / 2.0)), int(round((width - crop_w) / 2.0))
        return crop(inpt, top, left, crop_h, crop_w)
    return _relabel(_v1.center_crop(inpt, output_size), inpt)


def resize(inpt, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
           antialias: bool = True):
    """Images as v1's resize, masks by nearest neighbour, boxes scaled."""
    if isinstance(inpt, BoundingBoxes):
        return _boxes_out(resize_bounding_boxes(inpt, inpt.canvas_size, size, max_size), inpt)
    if isinstance(inpt, Mask):
        return Mask(resize_mask(inpt, size, max_size))
    return _relabel(_v1.resize(inpt, size, interpolation, max_size, antialias), inpt)


def resized_crop(inpt, top: int, left: int, height: int, width: int, size,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True):
    """crop, then resize (any kind of input)."""
    return resize(crop(inpt, top, left, height, width), size, interpolation,
                  antialias=antialias)


def pad(inpt, padding, fill: float = 0, padding_mode: str = "constant"):
    """Padding of images (fill), masks (0 unless fill) and boxes (moved)."""
    if isinstance(inpt, BoundingBoxes):
        return _boxes_out(pad_bounding_boxes(inpt, inpt.format, inpt.canvas_size, padding,
                                             padding_mode), inpt)
    return _relabel(_v1.pad(inpt, padding, 0 if fill is None else fill, padding_mode), inpt)


def rotate(inpt, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False,
           center=None, fill=None):
    """Rotate an image, video, mask (nearest, fill 0 unless given) or BoundingBoxes (the boxes
    enclosing the rotated corners, clamped to the new canvas) counter-clockwise by ``angle``
    degrees about ``center``."""
    if isinstance(inpt, BoundingBoxes):
        return _boxes_out(rotate_bounding_boxes(inpt, inpt.format, inpt.canvas_size, angle,
                                                expand, center), inpt)
    if isinstance(inpt, Mask):
        return Mask(rotate_mask(inpt, angle, expand, center, fill))
    return _relabel(_v1.rotate(inpt, angle, interpolation, expand, center, fill), inpt)


def affine(inpt, angle: float, translate, scale: float, shear,
           interpolation=InterpolationMode.NEAREST, fill=None, center=None):
    """v1's affine of an image, video or mask (nearest), or the BoundingBoxes moved with it."""
    if isinstance(inpt, BoundingBoxes):
        return _boxes_out(affine_bounding_boxes(inpt, inpt.format, inpt.canvas_size, angle,
                                                translate, scale, shear, center), inpt)
    if isinstance(inpt, Mask):
        return Mask(affine_mask(inpt, angle, translate, scale, shear, fill, center))
    return _relabel(_v1.affine(inpt, angle, translate, scale, shear, interpolation, fill,
                               center), inpt)


def gaussian_noise(inpt, mean: float = 0.0, sigma: float = 0.1, clip: bool = True, rng=None):
    """image + N(mean, sigma^2) noise (uint8: scaled by 255, added in int16), clipped to the
    value range; noise from ``rng`` (numpy), not torch's generator."""
    if sigma < 0:
        raise ValueError(f"gaussian_noise: sigma must be non-negative, got {sigma}")
    data = _array(inpt, "gaussian_noise")
    noise = get_rng(rng).standard_normal(data.shape)
    if data.dtype.kind == "f":
        out = data + (mean + noise * sigma).astype(data.dtype)
        out = np.clip(out, 0, 1) if clip else out
    elif data.dtype == np.uint8:
        shift = (mean * 255 + noise.astype(np.float32) * np.float32(sigma * 255))
        out = data.astype(np.int16) + shift.astype(np.int16)
        out = (np.clip(out, 0, 255) if clip else out).astype(np.uint8)
    else:
        raise ValueError(f"gaussian_noise: expected a uint8 or float image, got {data.dtype}")
    return _relabel(_like(out, inpt), inpt)


def jpeg(inpt, quality: int):
    """JPEG compression artefacts: each uint8 (1 or 3, H, W) image encoded at ``quality``
    (1..100) and decoded again by pillow (torchvision's path for PIL images; its tensor path
    uses its own libjpeg build)."""
    import io

    try:
        from PIL import Image as PILImage
    except ImportError:
        raise ImportError("jpeg: needs pillow (pip install pillow)") from None
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"jpeg: quality must be an int from 1 to 100, got {quality!r}")
    data = _array(inpt, "jpeg", 3)
    if data.dtype != np.uint8 or data.shape[-3] not in (1, 3):
        raise TypeError(f"jpeg: expected uint8 images (..., 1 or 3, H, W), got {data.dtype} "
                        f"{data.shape}")
    flat = data.reshape((-1,) + data.shape[-3:])
    out = np.empty_like(flat)
    for i, image in enumerate(flat):
        picture = PILImage.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2,
                                                                                          0))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(PILImage.open(buffer))
        out[i] = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
    return _relabel(_like(out.reshape(data.shape), inpt), inpt)


def permute_channels(inpt, permutation):
    """The channel axis (-3) reordered by ``permutation``."""
    data = _array(inpt, "permute_channels", 3)
    order = list(permutation)
    if sorted(order) != list(range(data.shape[-3])):
        raise ValueError(f"permute_channels: expected a permutation of {data.shape[-3]} "
                         f"channels, got {order}")
    return _relabel(_like(np.ascontiguousarray(data[..., order, :, :]), inpt), inpt)


__all__ = list(_v1_names) + [
    "affine_bounding_boxes", "affine_mask", "clamp_bounding_boxes",
    "convert_bounding_box_format", "crop_bounding_boxes", "gaussian_noise", "get_size",
    "grayscale_to_rgb", "horizontal_flip_bounding_boxes", "jpeg", "pad_bounding_boxes", "pad_mask",
    "permute_channels", "resize_bounding_boxes", "resize_mask", "rotate_bounding_boxes",
    "rotate_mask", "to_dtype", "to_image", "vertical_flip_bounding_boxes",
]
