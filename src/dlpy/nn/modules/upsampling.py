"""``torch.nn.modules.upsampling``: Upsample, UpsamplingNearest2d and UpsamplingBilinear2d
(dlpy.nn.resample's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.resample import (
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)

__all__ = [
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
]
