"""``torch.nn.parameter`` as dlpy spells it: Parameter, Buffer, the lazy modules'
UninitializedParameter / UninitializedBuffer, and ``is_lazy``."""

from dlpy.nn.lazy import UninitializedBuffer, UninitializedParameter, is_lazy
from dlpy.nn.module import Buffer, Parameter

__all__ = ["Buffer", "Parameter", "UninitializedBuffer", "UninitializedParameter", "is_lazy"]
