"""``torch.nn.modules.fold``: Fold and Unfold (dlpy.nn.resample's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.resample import (
    Fold,
    Unfold,
)

__all__ = [
    "Fold", "Unfold",
]
