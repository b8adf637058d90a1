"""``torch.nn.modules.linear``: Identity, Linear, Bilinear, NonDynamicallyQuantizableLinear
(dlpy.nn.linear's) and LazyLinear (dlpy.nn.lazy's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn import init  # noqa: F401
from dlpy.nn.lazy import (
    LazyLinear,
    LazyModuleMixin,  # noqa: F401
    UninitializedParameter,  # noqa: F401
)
from dlpy.nn.linear import (  # noqa: F401
    Bilinear,
    Identity,
    Linear,
    NonDynamicallyQuantizableLinear,
)
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)

__all__ = [
    "Bilinear", "Identity", "LazyLinear", "Linear",
]
