"""``torch.backends.kleidiai``: Arm's KleidiAI micro-kernels, which dlpy (numpy) does not use."""

from __future__ import annotations

__all__ = ["is_available"]


def is_available() -> bool:
    """False: dlpy is not built with KleidiAI."""
    return False
