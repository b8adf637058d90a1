"""torch.utils.data._utils.collate's names (``from torch.utils.data._utils.collate import
default_collate``): dlpy.data.loader's."""

from dlpy.data.loader import default_collate, default_convert

__all__ = ["default_collate", "default_convert"]
