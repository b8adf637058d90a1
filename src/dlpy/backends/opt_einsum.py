"""``torch.backends.opt_einsum``: the opt-einsum package's contraction paths. As torch's, it is
available when the package is installed (imported on first use), ``enabled`` then starts True
and ``strategy`` "auto", and einsum of three or more operands contracts them pairwise in the
order opt_einsum's ``contract_path`` gives for that strategy ("auto", "greedy" or "optimal");
without it, or with ``enabled`` False, in np.einsum_path's greedy order (torch: left to
right). Setting ``enabled`` True or a strategy without the package is torch's ValueError."""

import importlib.util
from contextlib import contextmanager
from functools import lru_cache

__all__ = ["enabled", "flags", "get_opt_einsum", "is_available", "set_flags", "strategy"]


@lru_cache
def is_available() -> bool:
    """Whether the opt_einsum package is installed."""
    return importlib.util.find_spec("opt_einsum") is not None


def get_opt_einsum():
    """The opt_einsum package where it is installed, else None."""
    if not is_available():
        return None
    import opt_einsum

    return opt_einsum


enabled = is_available()
strategy = "auto" if enabled else None


def _set_enabled(value) -> None:
    global enabled
    if value and not is_available():
        raise ValueError(f"opt_einsum is not available, so setting `enabled` to {value} will not "
                         f"reap the benefits of calculating an optimal path for einsum. "
                         f"torch.einsum will fall back to contracting from left to right. To "
                         f"enable this optimal path calculation, please install opt-einsum.")
    enabled = value


def _set_strategy(value) -> None:
    global strategy
    if not is_available():
        raise ValueError(f"opt_einsum is not available, so setting `strategy` to {value} will "
                         f"not be meaningful. torch.einsum will bypass path calculation and "
                         f"simply contract from left to right. Please install opt_einsum or "
                         f"unset `strategy`.")
    if not enabled:
        raise ValueError(f"opt_einsum is not enabled, so setting a `strategy` to {value} will "
                         f"not be meaningful. torch.einsum will bypass path calculation and "
                         f"simply contract from left to right. Please set `enabled` to `True` "
                         f"as well or unset `strategy`.")
    if value not in ["auto", "greedy", "optimal"]:
        raise ValueError(f"`strategy` must be one of the following: [auto, greedy, optimal] but "
                         f"is {value}")
    strategy = value


def set_flags(_enabled=None, _strategy=None):
    """Set the flags, returning the old (enabled, strategy) (strategy None without the
    package), as torch's."""
    old = (enabled, strategy if is_available() else None)
    if _enabled is not None:
        _set_enabled(_enabled)
    if _strategy is not None:
        _set_strategy(_strategy)
    return old


@contextmanager
def flags(enabled=None, strategy=None):
    """Set the flags inside a ``with`` block; the old ones come back after it."""
    old = set_flags(enabled, strategy)
    try:
        yield
    finally:
        set_flags(*old)
