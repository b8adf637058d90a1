"""torch.amp's mixed precision: ``autocast`` (PyTorch's CPU op lists), ``GradScaler`` (dynamic
loss scaling) and the bfloat16 dtype (ml_dtypes'). dlpy computes on numpy, so low precision is
not faster here: it is for running AMP scripts unchanged and for studying their numerics
(rounding, loss scaling, overflow) against PyTorch's. float8_e4m3fn / float8_e5m2 (ml_dtypes')
are storage dtypes, as torch's.

This package is light to import (the ops import ``dlpy.amp.dtypes`` and ``dlpy.amp.state``);
``autocast`` and ``GradScaler`` are imported on first use.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "autocast": "dlpy.amp.autocast_mode", "custom_fwd": "dlpy.amp.autocast_mode",
    "custom_bwd": "dlpy.amp.autocast_mode", "is_autocast_available": "dlpy.amp.autocast_mode",
    "get_autocast_dtype": "dlpy.amp.state", "is_autocast_enabled": "dlpy.amp.state",
    "GradScaler": "dlpy.amp.grad_scaler", "bfloat16": "dlpy.amp.dtypes",
    "float8_e4m3fn": "dlpy.amp.dtypes", "float8_e5m2": "dlpy.amp.dtypes",
    **dict.fromkeys(["set_autocast_enabled", "set_autocast_dtype", "clear_autocast_cache",
                     "is_autocast_cache_enabled", "set_autocast_cache_enabled",
                     "autocast_increment_nesting", "autocast_decrement_nesting",
                     "is_autocast_cpu_enabled", "set_autocast_cpu_enabled",
                     "get_autocast_cpu_dtype", "get_autocast_gpu_dtype",
                     "set_autocast_cpu_dtype"], "dlpy.amp.autocast_mode"),
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'dlpy.amp' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(_NAMES))
