"""``torch.utils`` as dlpy spells it: ``dlpy.utils.checkpoint`` (activation checkpointing).
Datasets and loaders are ``dlpy.data``."""

from dlpy.utils import checkpoint

__all__ = ["checkpoint"]
