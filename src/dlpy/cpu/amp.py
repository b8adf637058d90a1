"""torch.cpu.amp: ``autocast(enabled=True, dtype=bfloat16, cache_enabled=True)`` is
``dlpy.autocast("cpu", ...)``; ``GradScaler`` is ``dlpy.amp.GradScaler("cpu", ...)``."""

from __future__ import annotations

import warnings

from dlpy.amp.autocast_mode import autocast as _autocast
from dlpy.amp.grad_scaler import GradScaler as _GradScaler

__all__ = ["GradScaler", "autocast"]


class autocast(_autocast):  # noqa: N801 - PyTorch's name
    """torch.cpu.amp.autocast: ``dlpy.autocast("cpu", dtype, enabled, cache_enabled)``
    (deprecated, as torch's: a FutureWarning)."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
        warnings.warn("`torch.cpu.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cpu', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """torch.cpu.amp.GradScaler: ``dlpy.amp.GradScaler("cpu", ...)`` (deprecated, as torch's:
    a FutureWarning)."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True):
        warnings.warn("`torch.cpu.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler(\"cpu\", args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)
