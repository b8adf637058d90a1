"""``torch.mps``: Apple's Metal device, absent in dlpy (numpy on the CPU)."""

from __future__ import annotations

__all__ = ["device_count", "empty_cache", "is_available", "manual_seed", "synchronize"]


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No-op."""


def synchronize() -> None:
    """No-op."""


def empty_cache() -> None:
    """No-op."""
