"""``torch.backends.mha``: the switch of torch's fused fast path for ``nn.MultiheadAttention``
and ``nn.TransformerEncoderLayer`` in inference. dlpy has one attention computation, so the
flag is kept (and read back as set) but changes nothing."""

from __future__ import annotations

__all__ = ["get_fastpath_enabled", "set_fastpath_enabled"]

_is_fastpath_enabled = True


def get_fastpath_enabled() -> bool:
    """Whether the fast path is enabled: the value last given to ``set_fastpath_enabled``
    (as given, not converted to bool, as torch's), True at start."""
    return _is_fastpath_enabled


def set_fastpath_enabled(value: bool) -> None:
    """Set the fast-path flag (no effect on dlpy's computation)."""
    global _is_fastpath_enabled
    _is_fastpath_enabled = value
