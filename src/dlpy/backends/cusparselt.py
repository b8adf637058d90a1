"""``torch.backends.cusparselt``: NVIDIA's cuSPARSELt (2:4 sparse matmuls on CUDA), which dlpy
lacks, as a CPU-only torch build does."""

from __future__ import annotations

__all__ = ["get_max_alg_id", "is_available", "version"]


def is_available() -> bool:
    """False: no cuSPARSELt."""
    return False


def version() -> None:
    """None: no cuSPARSELt library (torch's answer without one)."""
    return None


def get_max_alg_id() -> None:
    """None: no cuSPARSELt algorithms."""
    return None
