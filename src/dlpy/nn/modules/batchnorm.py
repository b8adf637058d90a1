"""``torch.nn.modules.batchnorm``: the batch norms and their bases, ``_NormBase`` (the parameters
and running statistics, ``reset_running_stats``, ``_check_input_dim``), ``_BatchNorm`` (its
forward) and ``_LazyNormBase`` (the lazy norms' mixin): dlpy.nn.norm's and dlpy.nn.lazy's."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn import init  # noqa: F401
from dlpy.nn.lazy import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyModuleMixin,  # noqa: F401
    UninitializedBuffer,  # noqa: F401
    UninitializedParameter,  # noqa: F401
)
from dlpy.nn.lazy import _LazyNormMixin as _LazyNormBase  # noqa: F401
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)
from dlpy.nn.norm import (  # noqa: F401
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    SyncBatchNorm,
    _BatchNorm,
    _NormBase,
)

__all__ = [
    "BatchNorm1d", "LazyBatchNorm1d", "BatchNorm2d", "LazyBatchNorm2d", "BatchNorm3d",
    "LazyBatchNorm3d", "SyncBatchNorm",
]
