"""torch.utils.data.dataloader's names (``from torch.utils.data.dataloader import
default_collate``): dlpy.data.loader's, and the typing aliases libraries annotate with
(``_collate_fn_t``, ``_worker_init_fn_t``); the iterator classes ``_BaseDataLoaderIter``,
``_SingleProcessDataLoaderIter`` (num_workers=0) and ``_MultiProcessingDataLoaderIter``."""

from collections.abc import Callable
from typing import Any, TypeVar

from dlpy.data.loader import (
    DataLoader,
    _SingleProcessDataLoaderIter,  # noqa: F401
    default_collate,
    default_convert,
)
from dlpy.data.workers import WorkerIterator as _MultiProcessingDataLoaderIter  # noqa: F401
from dlpy.data.workers import _BaseDataLoaderIter, get_worker_info  # noqa: F401

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_worker_init_fn_t = Callable[[int], None]
_collate_fn_t = Callable[[list[_T]], Any]
