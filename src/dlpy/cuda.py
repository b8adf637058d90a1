"""``torch.cuda`` as a CPU-only build of torch has it: dlpy runs on numpy, so there is no device.

Queries answer "none" (``is_available()`` False, ``device_count()`` 0, memory 0), seeding and
synchronisation are no-ops, so ``device = "cuda" if dlpy.cuda.is_available() else "cpu"`` and a
training script's bookkeeping run unchanged; anything that needs a GPU (``current_device``,
``set_device``, ``Stream``, ``get_device_name``) raises ``RuntimeError``.
"""

from __future__ import annotations

import sys
from typing import Any

NO_CUDA = "dlpy runs on the CPU (numpy); there is no CUDA device"

__all__ = [
    "Event", "Stream", "current_device", "current_stream", "device", "device_count",
    "empty_cache", "get_device_capability", "get_device_name", "get_device_properties",
    "get_rng_state", "get_rng_state_all", "init", "ipc_collect", "is_available",
    "is_bf16_supported", "is_initialized", "manual_seed", "manual_seed_all", "max_memory_allocated",
    "max_memory_reserved", "mem_get_info", "memory_allocated", "memory_reserved",
    "memory_stats", "memory_summary", "reset_accumulated_memory_stats",
    "reset_max_memory_allocated", "reset_peak_memory_stats", "seed", "seed_all", "set_device",
    "set_rng_state", "set_rng_state_all", "stream", "synchronize",
]


class NoCudaError(RuntimeError, AssertionError):
    """Something that needs a CUDA device: a RuntimeError, and the AssertionError of a torch
    built without CUDA ("Torch not compiled with CUDA enabled")."""


def _no_device(name: str):
    raise NoCudaError(f"torch.cuda.{name}: {NO_CUDA}")


def is_available() -> bool:
    """False: dlpy has no CUDA device."""
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def init() -> None:
    """torch.cuda.init: raises, as a torch built without CUDA does."""
    _no_device("init")


# seeding, synchronisation and caches: nothing to do without a device (as torch's, which
# silently ignores manual_seed when CUDA is unavailable)
def manual_seed(seed: int) -> None:
    """No-op (there is no CUDA generator); seed dlpy's with ``dlpy.manual_seed``."""


def manual_seed_all(seed: int) -> None:
    """No-op (there is no CUDA generator)."""


def seed() -> None:
    """No-op."""


def seed_all() -> None:
    """No-op."""


def synchronize(device: Any = None) -> None:
    """No-op: numpy's work is done when a call returns."""


def empty_cache() -> None:
    """No-op: no device memory is cached."""


def ipc_collect() -> None:
    """No-op."""


# memory: no device memory, so every count is 0
def memory_allocated(device: Any = None) -> int:
    return 0


def max_memory_allocated(device: Any = None) -> int:
    return 0


def memory_reserved(device: Any = None) -> int:
    return 0


def max_memory_reserved(device: Any = None) -> int:
    return 0


def memory_stats(device: Any = None) -> dict:
    return {}


def memory_summary(device: Any = None, abbreviated: bool = False) -> str:
    return "No CUDA device: dlpy runs on the CPU (numpy)."


def reset_peak_memory_stats(device: Any = None) -> None:
    """No-op."""


def reset_max_memory_allocated(device: Any = None) -> None:
    """No-op."""


def reset_accumulated_memory_stats(device: Any = None) -> None:
    """No-op."""


# anything that needs a GPU
def current_device() -> int:
    _no_device("current_device")


def set_device(device: Any) -> None:
    _no_device("set_device")


def get_device_name(device: Any = None) -> str:
    _no_device("get_device_name")


def get_device_capability(device: Any = None) -> tuple[int, int]:
    _no_device("get_device_capability")


def get_device_properties(device: Any = None):
    _no_device("get_device_properties")


def mem_get_info(device: Any = None) -> tuple[int, int]:
    _no_device("mem_get_info")


def get_rng_state(device: Any = "cuda"):
    _no_device("get_rng_state")


def set_rng_state(new_state: Any, device: Any = "cuda") -> None:
    _no_device("set_rng_state")


def get_rng_state_all() -> list:
    """Every CUDA device's generator state: [] (no device), as torch's CPU build."""
    return []


def set_rng_state_all(new_states: Any) -> None:
    """Sets each CUDA device's generator state from ``new_states``: with no device, nothing
    (as torch's CPU build, which sets one per state given: none for ``get_rng_state_all()``)."""
    for _ in new_states:
        _no_device("set_rng_state_all")


def current_stream(device: Any = None):
    _no_device("current_stream")


def stream(stream: Any):
    _no_device("stream")


class Stream:
    """torch.cuda.Stream: raises (no device)."""

    def __init__(self, *args, **kwargs):
        _no_device("Stream")


class Event:
    """torch.cuda.Event: raises (no device)."""

    def __init__(self, *args, **kwargs):
        _no_device("Event")


class device:  # noqa: N801 - torch's name
    """torch.cuda.device(index) context manager: raises (no device)."""

    def __init__(self, device: Any):
        _no_device("device")


def default_stream(device: Any = None):
    _no_device("default_stream")


def is_current_stream_capturing() -> bool:
    """Whether a CUDA graph is being captured: raises (no device), as torch's CPU build."""
    _no_device("is_current_stream_capturing")


class StreamContext:
    """torch.cuda.StreamContext: raises (no device)."""

    def __init__(self, stream: Any):
        _no_device("StreamContext")


class CUDAGraph:
    """torch.cuda.CUDAGraph (a captured graph of CUDA work): raises (no device); the class
    exists for annotations and isinstance checks."""

    def __init__(self, *args, **kwargs):
        _no_device("CUDAGraph")


class graph:  # noqa: N801 - torch's name
    """torch.cuda.graph(cuda_graph) capture context manager: raises (no device)."""

    def __init__(self, cuda_graph: Any, *args, **kwargs):
        _no_device("graph")


# torch.cuda.amp, the deprecated CUDA spellings of torch.amp (dlpy/cuda_amp.py): disabled
# without a device, as a torch without CUDA; importable as dlpy.cuda.amp
from dlpy import cuda_amp as amp  # noqa: E402

sys.modules[f"{__name__}.amp"] = amp
