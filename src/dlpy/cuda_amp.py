"""torch.cuda.amp (``dlpy.cuda.amp``): PyTorch's deprecated CUDA spellings of mixed precision,
as a torch without CUDA has them. Each warns FutureWarning (torch's message naming its
``torch.amp`` replacement), then:

- ``GradScaler(init_scale=2.**16, ...)``: ``torch.amp.GradScaler("cuda", ...)``, which warns
  (UserWarning) and is disabled without CUDA: every method passes through;
- ``autocast(enabled=True, dtype=float16, cache_enabled=True)``: ``torch.amp.autocast("cuda",
  ...)``, which warns (UserWarning) and does nothing without CUDA;
- ``custom_fwd(fwd=None, *, cast_inputs=None)`` / ``custom_bwd(bwd)``: ``torch.amp``'s with
  ``device_type="cuda"``.

The classes subclass dlpy.amp's and are made on first use (dlpy.amp is imported then).
"""

from __future__ import annotations

import warnings

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]  # noqa: F822 - made lazily


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"`torch.cuda.amp.{old}` is deprecated. Please use `torch.amp.{new}` "
                  "instead.", FutureWarning, stacklevel=3)


def custom_fwd(fwd=None, *, cast_inputs=None):
    """torch.cuda.amp.custom_fwd (deprecated): ``torch.amp.custom_fwd(...,
    device_type="cuda")``."""
    _deprecated("custom_fwd(args...)", "custom_fwd(args..., device_type='cuda')")
    from dlpy.amp.autocast_mode import custom_fwd as amp_custom_fwd

    return amp_custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd):
    """torch.cuda.amp.custom_bwd (deprecated): ``torch.amp.custom_bwd(...,
    device_type="cuda")``."""
    _deprecated("custom_bwd(args...)", "custom_bwd(args..., device_type='cuda')")
    from dlpy.amp.autocast_mode import custom_bwd as amp_custom_bwd

    return amp_custom_bwd(bwd, device_type="cuda")


def _classes() -> dict:
    """GradScaler and autocast, subclasses of dlpy.amp's (made once, on first use)."""
    from dlpy import float16
    from dlpy.amp.autocast_mode import autocast as amp_autocast
    from dlpy.amp.grad_scaler import GradScaler as AmpGradScaler

    class GradScaler(AmpGradScaler):
        """torch.cuda.amp.GradScaler (deprecated): ``torch.amp.GradScaler("cuda", ...)``,
        disabled without CUDA (a UserWarning says so when ``enabled``)."""

        def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                     backoff_factor: float = 0.5, growth_interval: int = 2000,
                     enabled: bool = True) -> None:
            _deprecated("GradScaler(args...)", "GradScaler('cuda', args...)")
            super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                             backoff_factor=backoff_factor, growth_interval=growth_interval,
                             enabled=enabled)

    class autocast(amp_autocast):  # noqa: N801 - torch's name
        """torch.cuda.amp.autocast (deprecated): ``torch.amp.autocast("cuda", ...)``, which
        does nothing without CUDA (a UserWarning says so when ``enabled``)."""

        def __init__(self, enabled: bool = True, dtype=float16, cache_enabled: bool = True):
            _deprecated("autocast(args...)", "autocast('cuda', args...)")
            super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    for cls in (GradScaler, autocast):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return {"GradScaler": GradScaler, "autocast": autocast}


def __getattr__(name: str):
    if name in ("GradScaler", "autocast"):
        globals().update(_classes())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"GradScaler", "autocast"})
