"""torch.utils.data.dataloader's names (``from torch.utils.data.dataloader import
default_collate``): dlpy.data.loader's."""

from dlpy.data.loader import DataLoader, default_collate, default_convert
from dlpy.data.workers import get_worker_info

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
