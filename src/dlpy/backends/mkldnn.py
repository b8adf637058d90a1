"""``torch.backends.mkldnn``: oneDNN (MKL-DNN), not used by dlpy (numpy on the CPU)."""

__all__ = ["enabled", "is_available", "is_built"]

enabled = True  # settable, as torch.backends.mkldnn.enabled; changes nothing


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
