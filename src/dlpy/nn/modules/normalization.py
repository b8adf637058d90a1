"""``torch.nn.modules.normalization``: LocalResponseNorm, CrossMapLRN2d, LayerNorm, GroupNorm,
RMSNorm (dlpy.nn.norm's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn import init  # noqa: F401
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)
from dlpy.nn.norm import (
    CrossMapLRN2d,
    GroupNorm,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)

__all__ = [
    "LocalResponseNorm", "CrossMapLRN2d", "LayerNorm", "GroupNorm", "RMSNorm",
]
