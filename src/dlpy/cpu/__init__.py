"""torch.cpu's namespace: ``dlpy.cpu.amp`` (autocast and GradScaler for the CPU)."""

from dlpy.cpu import amp

__all__ = ["amp", "is_available"]


def is_available() -> bool:
    """torch.cpu.is_available: always True."""
    return True
