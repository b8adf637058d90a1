"""torchvision.utils' image helpers: ``make_grid`` tiles a batch of (C, H, W) images into one
image, ``save_image`` writes that grid as an 8-bit picture (PNG by dlpy's own writer, needing
nothing but numpy and zlib; other formats through pillow)."""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from dlpy.tensor import Tensor


def _as_batch(tensor) -> np.ndarray:
    """A Tensor or list of Tensors as a (B, C, H, W) array, grey images made RGB."""
    if isinstance(tensor, (list, tuple)):
        if not tensor or not all(isinstance(t, Tensor) for t in tensor):
            raise TypeError(f"make_grid: expected a Tensor or a non-empty list of Tensors, got "
                            f"{[type(t).__name__ for t in tensor]}")
        shapes = {tuple(t.shape) for t in tensor}
        if len(shapes) != 1:
            raise ValueError(f"make_grid: the images of a list must have one shape, got "
                             f"{sorted(shapes)}")
        array = np.stack([t.data for t in tensor])
    elif isinstance(tensor, Tensor):
        array = tensor.data
    else:
        raise TypeError(f"make_grid: expected a Tensor or a list of Tensors, got "
                        f"{type(tensor).__name__}")
    if array.ndim == 2:                                   # (H, W)
        array = array[None]
    if array.ndim == 3:                                   # (C, H, W)
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"make_grid: expected (B, C, H, W), (C, H, W) or (H, W) images, got "
                         f"shape {tuple(array.shape)}")
    if array.shape[1] == 1:
        array = np.concatenate([array] * 3, axis=1)
    return array


def _scale(images: np.ndarray, value_range) -> np.ndarray:
    """Clamp to [low, high] (the images' own min and max when value_range is None) and map
    that range onto [0, 1]."""
    if value_range is None:
        low, high = float(images.min()), float(images.max())
    else:
        low, high = value_range
    clamped = np.clip(images, low, high)
    return ((clamped - low) / max(high - low, 1e-5)).astype(images.dtype, copy=False)


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile (B, C, H, W) images (or a list of (C, H, W) ones) ``nrow`` to a row with
    ``padding`` pixels of ``pad_value`` around each: a (C, rows * (H + p) + p,
    nrow * (W + p) + p) Tensor. Grey images become RGB; a single image comes back unpadded.
    ``normalize`` maps ``value_range`` (default: the min and max of the batch, or of each
    image with ``scale_each``) onto [0, 1]. Not recorded for autograd."""
    images = _as_batch(tensor)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError(f"make_grid: value_range has to be a tuple (min, max), got "
                            f"{type(value_range).__name__}")
        if scale_each:
            images = np.stack([_scale(image, value_range) for image in images])
        else:
            images = _scale(images, value_range)
    count, channels, height, width = images.shape
    if count == 1:
        return Tensor(images[0].copy())
    columns = min(nrow, count)
    rows = int(math.ceil(count / columns))
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((channels, rows * cell_h + padding, columns * cell_w + padding), pad_value,
                   dtype=images.dtype)
    for k, image in enumerate(images):
        top, left = (k // columns) * cell_h + padding, (k % columns) * cell_w + padding
        grid[:, top:top + height, left:left + width] = image
    return Tensor(grid)


def _to_uint8(grid: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 0..255 rounded to nearest, as torchvision: (x * 255 + 0.5) clamped,
    then truncated."""
    values = grid if np.issubdtype(grid.dtype, np.floating) else grid.astype(np.float32)
    return np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)


def write_png(fp, pixels: np.ndarray) -> None:
    """Write an (H, W) or (H, W, C) uint8 array (C = 1, 2, 3, 4: grey, grey+alpha, RGB, RGBA)
    as an 8-bit PNG to a path or a binary file object."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"write_png: expected an (H, W) or (H, W, C) uint8 array, got "
                         f"{pixels.dtype} of shape {pixels.shape}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    color_types = {1: 0, 2: 4, 3: 2, 4: 6}
    if channels not in color_types:
        raise ValueError(f"write_png: expected 1 to 4 channels, got {channels}")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, width * channels)
    # each scanline starts with its filter type (0: none)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, color_types[channels], 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    if hasattr(fp, "write"):
        fp.write(data)
    else:
        with open(fp, "wb") as f:
            f.write(data)


def save_image(tensor, fp, format: str | None = None, **kwargs) -> None:
    """``make_grid(tensor, **kwargs)`` saved as an 8-bit image: values in [0, 1] map to
    0..255. The format comes from ``format`` or the file name's extension; PNG needs nothing
    more, other formats need pillow."""
    grid = make_grid(tensor, **kwargs).data
    pixels = _to_uint8(np.transpose(grid, (1, 2, 0)))     # (H, W, C)
    if format is None:
        if hasattr(fp, "write"):
            raise ValueError("save_image: give `format` when fp is a file object")
        format = os.path.splitext(str(fp))[1].lstrip(".")
    if format.lower() == "png":
        write_png(fp, pixels)
        return
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"save_image: writing {format!r} images needs pillow "
                          f"(pip install pillow); PNG needs nothing") from None
    Image.fromarray(pixels).save(fp, format=format)


__all__ = ["make_grid", "save_image"]
