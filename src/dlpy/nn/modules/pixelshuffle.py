"""``torch.nn.modules.pixelshuffle``: PixelShuffle and PixelUnshuffle (dlpy.nn.resample's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.resample import (
    PixelShuffle,
    PixelUnshuffle,
)

__all__ = [
    "PixelShuffle", "PixelUnshuffle",
]
