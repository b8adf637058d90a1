"""``torch.nn.modules.adaptive``: AdaptiveLogSoftmaxWithLoss and its output tuple, ``_ASMoutput``
(dlpy.nn.adaptive's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.adaptive import (  # noqa: F401
    AdaptiveLogSoftmaxWithLoss,
    _ASMoutput,
)
from dlpy.nn.container import (
    ModuleList,  # noqa: F401
    Sequential,  # noqa: F401
)
from dlpy.nn.linear import Linear  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401

__all__ = [
    "AdaptiveLogSoftmaxWithLoss",
]
