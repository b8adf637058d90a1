"""torch.cpu's namespace: ``dlpy.cpu.amp`` (autocast and GradScaler for the CPU) and the
device-module functions torch.get_device_module("cpu") offers (one device, always ready)."""

from dlpy.cpu import amp

__all__ = ["amp", "current_device", "device_count", "is_available", "synchronize"]


def is_available() -> bool:
    """torch.cpu.is_available: always True."""
    return True


def device_count() -> int:
    """torch.cpu.device_count: 1."""
    return 1


def current_device() -> str:
    """torch.cpu.current_device: "cpu"."""
    return "cpu"


def synchronize(device=None) -> None:
    """torch.cpu.synchronize: nothing to wait for."""
