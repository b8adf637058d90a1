"""``torch.nn.modules.instancenorm``: the instance norms, their base ``_InstanceNorm``
(dlpy.nn.norm's) and their lazy forms (dlpy.nn.lazy's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.lazy import (
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
)
from dlpy.nn.lazy import _LazyNormMixin as _LazyNormBase  # noqa: F401
from dlpy.nn.norm import (  # noqa: F401
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    _InstanceNorm,
    _NormBase,  # noqa: F401
)

__all__ = [
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d",
    "LazyInstanceNorm2d", "LazyInstanceNorm3d",
]
