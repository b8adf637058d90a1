"""``torch.nn.modules.container``: Container, Sequential, ModuleList, ModuleDict, ParameterList,
ParameterDict (dlpy.nn.container's) and ``_addindent``."""

from dlpy.nn.container import (
    Container,
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
    _addindent,  # noqa: F401
)

__all__ = [
    "Container", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
]
