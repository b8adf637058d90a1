"""``torch.nn.modules.padding``: the padding layers and their bases ``_ConstantPadNd``
(``__init__(value)``), ``_ReflectionPadNd``, ``_ReplicationPadNd``, ``_CircularPadNd`` (a
subclass sets ``padding``) (dlpy.nn.padding's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.modules.utils import (
    _ntuple,  # noqa: F401
    _pair,  # noqa: F401
    _quadruple,  # noqa: F401
)
from dlpy.nn.padding import (  # noqa: F401
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
    _CircularPadNd,
    _ConstantPadNd,
    _ReflectionPadNd,
    _ReplicationPadNd,
)

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]
