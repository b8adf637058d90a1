"""``torch.backends.nnpack``: NNPACK's on/off switch. dlpy is not built with NNPACK
(``is_available()`` is False); the flag is kept with torch's default (on) and checks, and
changes nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["flags", "is_available", "set_flags"]

_enabled = True


def is_available() -> bool:
    """False: dlpy has no NNPACK (torch's answer depends on its build)."""
    return False


def set_flags(_enabled: bool) -> tuple[bool]:
    """Set whether NNPACK is enabled; returns the previous setting as a 1-tuple, as torch's.
    Only a bool is accepted (RuntimeError otherwise, as torch's)."""
    if not isinstance(_enabled, bool):
        raise RuntimeError(f"set_enabled_NNPACK expects a bool, but got "
                           f"{type(_enabled).__name__}")
    previous = (globals()["_enabled"],)
    globals()["_enabled"] = _enabled
    return previous


@contextlib.contextmanager
def flags(enabled: bool = False) -> Iterator[None]:
    """Set the NNPACK flag inside the block (off by default, as torch's) and restore it
    after."""
    previous = set_flags(enabled)
    try:
        yield
    finally:
        set_flags(previous[0])
