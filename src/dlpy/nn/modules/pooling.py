"""``torch.nn.modules.pooling``: the pooling layers and their bases (``_MaxPoolNd``, ``_AvgPoolNd``,
``_AdaptiveAvgPoolNd``, ``_AdaptiveMaxPoolNd``, ``_MaxUnpoolNd``, ``_LPPoolNd``) (dlpy.nn.conv's
and dlpy.nn.pool_fractional's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.conv import (  # noqa: F401
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _LPPoolNd,
    _MaxPoolNd,
    _MaxUnpoolNd,
)
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.modules.utils import (
    _pair,  # noqa: F401
    _single,  # noqa: F401
    _triple,  # noqa: F401
)
from dlpy.nn.pool_fractional import (
    FractionalMaxPool2d,
    FractionalMaxPool3d,
)

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
    "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
]
