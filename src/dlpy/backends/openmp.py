"""``torch.backends.openmp``: OpenMP, not used by dlpy (numpy on the CPU)."""

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
