"""``torch.backends.opt_einsum``: the opt-einsum package's optimal contraction paths. dlpy does
not use it (einsum takes numpy's greedy path), so it is unavailable, ``enabled`` is False and
cannot be set True, and ``strategy`` is None, as torch's without opt-einsum installed."""

from contextlib import contextmanager

__all__ = ["enabled", "flags", "get_opt_einsum", "is_available", "set_flags", "strategy"]

enabled = False
strategy = None


def is_available() -> bool:
    return False


def get_opt_einsum():
    return None


def _check_enabled(value) -> None:
    if value:
        raise ValueError(f"opt_einsum is not available, so setting `enabled` to {value} will not "
                         f"reap the benefits of calculating an optimal path for einsum. "
                         f"torch.einsum will fall back to contracting from left to right. To "
                         f"enable this optimal path calculation, please install opt-einsum.")


def set_flags(_enabled=None, _strategy=None):
    """Set the flags, returning the old (enabled, strategy)."""
    global enabled
    old = (enabled, None)
    if _enabled is not None:
        _check_enabled(_enabled)
        enabled = _enabled
    if _strategy is not None:
        raise ValueError(f"opt_einsum is not available, so setting `strategy` to {_strategy} "
                         f"will not be meaningful. Please install opt_einsum or unset `strategy`.")
    return old


@contextmanager
def flags(enabled=None, strategy=None):
    """Set the flags inside a ``with`` block."""
    old = set_flags(enabled, strategy)
    try:
        yield
    finally:
        globals()["enabled"] = old[0]

