"""torch.signal: window functions (dlpy.signal.windows)."""

from dlpy.signal import windows

__all__ = ["windows"]
