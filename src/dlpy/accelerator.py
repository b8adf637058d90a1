"""``torch.accelerator``: the current accelerator, which dlpy (numpy on the CPU) never has."""

from __future__ import annotations

from dlpy.cuda import NO_CUDA

__all__ = ["current_accelerator", "current_device_index", "device_count", "is_available",
           "set_device_index", "synchronize"]


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False):
    """None: dlpy has no accelerator (torch's answer on a CPU-only machine)."""
    return None


def device_count() -> int:
    return 0


def current_device_index() -> int:
    raise RuntimeError(f"torch.accelerator.current_device_index: {NO_CUDA} (nor any "
                       "accelerator)")


def set_device_index(device) -> None:
    raise RuntimeError(f"torch.accelerator.set_device_index: {NO_CUDA} (nor any accelerator)")


def synchronize(device=None) -> None:
    """No-op."""
