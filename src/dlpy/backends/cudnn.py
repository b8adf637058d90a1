"""``torch.backends.cudnn``: settable flags with torch's defaults; cuDNN is never available."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["allow_tf32", "benchmark", "benchmark_limit", "deterministic", "enabled", "flags",
           "is_acceptable", "is_available", "version"]

enabled = True
benchmark = False
benchmark_limit = None  # torch's without cuDNN (flags() leaves it)
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    """None: no cuDNN library (torch's answer without one)."""
    return None


def is_acceptable(tensor) -> bool:
    return False


@contextlib.contextmanager
def flags(enabled: bool = False, benchmark: bool = False, benchmark_limit: int = 10,
          deterministic: bool = False, allow_tf32: bool = True) -> Iterator[None]:
    """Sets the flags inside the block and restores them after, as torch's (benchmark_limit
    stays None: torch sets it only where cuDNN is available)."""
    names = ("enabled", "benchmark", "deterministic", "allow_tf32")
    module = globals()
    saved = {name: module[name] for name in names}
    module.update(zip(names, (enabled, benchmark, deterministic, allow_tf32)))
    try:
        yield
    finally:
        module.update(saved)
