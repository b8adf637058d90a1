"""``torch.nn.modules.flatten``: Flatten and Unflatten (dlpy.nn.conv's)."""

from dlpy.nn.conv import (
    Flatten,
    Unflatten,
)
from dlpy.nn.module import Module  # noqa: F401

__all__ = [
    "Flatten", "Unflatten",
]
