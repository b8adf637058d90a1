"""torchvision.tv_tensors: Tensors that say what they hold, so that the v2 transforms treat
them accordingly (an image resized bilinearly, its mask by nearest neighbour, its boxes moved
with it). ``Image`` (C, H, W), ``Video`` (T, C, H, W), ``Mask`` (..., H, W) and
``BoundingBoxes`` (N, 4) with ``format`` (XYXY, XYWH, CXCYWH) and ``canvas_size`` (H, W).
Arithmetic on them gives plain Tensors (torchvision's default); ``wrap`` re-labels one."""

from __future__ import annotations

from enum import Enum

import numpy as np

from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Tensor


def _data(data) -> np.ndarray:
    if isinstance(data, Tensor):
        return data.data
    array = np.asarray(data)
    # Python lists of floats become float32, as Tensor's
    return array.astype(np.float32) if array.dtype == np.float64 and not isinstance(
        data, np.ndarray) else array


class TVTensor(Tensor):
    """Base of the labelled Tensors."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors

    def __repr__(self) -> str:
        """torchvision's: the tensor's repr under the class's name, then its metadata
        (``Image([[[...]]], )``)."""
        return self._make_repr()

    def _make_repr(self, **metadata) -> str:
        extra = ", ".join(f"{key}={value}" for key, value in metadata.items())
        return f"{Tensor.__repr__(self)[:-1]}, {extra})"


class Image(TVTensor):
    """An image (..., C, H, W); an (H, W) array gets a channel axis."""

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        array = _data(data)
        if array.ndim < 2:
            raise ValueError(f"Image: expected (..., C, H, W) or (H, W), got shape {array.shape}")
        super().__init__(array[None] if array.ndim == 2 else array, requires_grad, dtype)


class Video(TVTensor):
    """A video (..., T, C, H, W)."""

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        array = _data(data)
        if array.ndim < 4:
            raise ValueError(f"Video: expected (..., T, C, H, W), got shape {array.shape}")
        super().__init__(array, requires_grad, dtype)


class Mask(TVTensor):
    """A segmentation or detection mask (..., H, W): resized by nearest neighbour, padded and
    rotated with 0."""

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        array = _data(data)
        if array.ndim < 2:
            raise ValueError(f"Mask: expected (..., H, W), got shape {array.shape}")
        super().__init__(array, requires_grad, dtype)


class BoundingBoxFormat(Enum):
    """Box coordinates: corners (XYXY), corner and size (XYWH), centre and size (CXCYWH)."""

    XYXY = "XYXY"
    XYWH = "XYWH"
    CXCYWH = "CXCYWH"


def _box_format(value) -> BoundingBoxFormat:
    if isinstance(value, BoundingBoxFormat):
        return value
    try:
        return BoundingBoxFormat[str(value).upper()]
    except KeyError:
        raise ValueError(f"BoundingBoxes: format must be one of XYXY, XYWH, CXCYWH (rotated "
                         f"formats are not supported), got {value!r}") from None


class BoundingBoxes(TVTensor):
    """Boxes (N, 4) (or (4,)) in ``format`` on an image of ``canvas_size`` (H, W)."""

    def __init__(self, data, *, format, canvas_size, requires_grad: bool = False,  # noqa: A002
                 dtype=None):
        array = _data(data)
        if array.shape[-1:] != (4,) or array.ndim > 2:
            raise ValueError(f"BoundingBoxes: expected (N, 4) or (4,), got shape {array.shape}")
        size = tuple(int(s) for s in canvas_size)
        if len(size) != 2:
            raise ValueError(f"BoundingBoxes: canvas_size must be (height, width), got "
                             f"{canvas_size!r}")
        super().__init__(array, requires_grad, dtype)
        self.format, self.canvas_size = _box_format(format), size

    def __repr__(self) -> str:
        return self._make_repr(format=self.format, canvas_size=self.canvas_size)


def wrap(wrappee, *, like: TVTensor, **kwargs) -> TVTensor:
    """``wrappee`` (an array or Tensor) as a TVTensor of like's type and metadata (format and
    canvas_size of BoundingBoxes, overridable by keyword)."""
    if isinstance(like, BoundingBoxes):
        return BoundingBoxes(wrappee, format=kwargs.get("format", like.format),
                             canvas_size=kwargs.get("canvas_size", like.canvas_size))
    if isinstance(like, TVTensor):
        return type(like)(wrappee)
    raise TypeError(f"wrap: like must be a TVTensor, got {type(like).__name__}")


__all__ = ["BoundingBoxFormat", "BoundingBoxes", "Image", "Mask", "TVTensor", "Video", "wrap"]
