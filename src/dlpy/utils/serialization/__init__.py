"""``torch.utils.serialization``: the settings of ``save`` and ``load`` (its ``config``)."""

from dlpy.utils.serialization import config

__all__ = ["config"]
