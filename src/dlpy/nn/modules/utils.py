"""``torch.nn.modules.utils``: the helpers programs import from there, turning an int or a
sequence into an n-tuple (``_pair(3) == (3, 3)``) and stripping a wrapper's prefix
(``module.``, as DataParallel/DDP save) from a state dict's keys in place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["consume_prefix_in_state_dict_if_present"]


def _ntuple(n: int, name: str = "parse"):
    def parse(x):
        return tuple(x) if isinstance(x, Iterable) else (x,) * n
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n: int) -> tuple:
    """Each item of ``t`` n times, the items in reverse order (F.pad's order from a conv's
    padding): ``(1, 2), 2 -> (2, 2, 1, 1)``."""
    return tuple(x for x in reversed(t) for _ in range(n))


def consume_prefix_in_state_dict_if_present(state_dict: dict[str, Any], prefix: str) -> None:
    """Strip ``prefix`` from every key of ``state_dict`` that starts with it, in place (the
    order becomes: keys without it, then the stripped ones, as torch's), and from its
    ``_metadata`` keys (there the bare wrapper name, ``module``, becomes '')."""
    for key in list(state_dict.keys()):
        if key.startswith(prefix):
            state_dict[key[len(prefix):]] = state_dict.pop(key)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in list(metadata.keys()):
            if key and (key == prefix.replace(".", "") or key.startswith(prefix)):
                metadata[key[len(prefix):]] = metadata.pop(key)


def _list_with_default(out_size, defaults) -> list:
    """An adaptive pool's output size with each None taken from ``defaults``' trailing sizes
    (the input's), as torch's: an int is returned as it is; ``defaults`` must be longer than
    ``out_size`` (else torch's ValueError)."""
    if isinstance(out_size, int):
        return out_size
    if len(defaults) <= len(out_size):
        raise ValueError(f"Input dimension should be at least {len(out_size) + 1}")
    return [v if v is not None else d for v, d in zip(out_size, defaults[-len(out_size):])]
