"""A progress bar that is tqdm when installed and silent otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "",
             enabled: bool = True) -> Iterator[T]:
    """Iterate over `items`, showing a tqdm bar on stderr when `enabled` and tqdm is installed."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm comes with the [korean] extra; without it, no bar
            pass
        else:
            yield from tqdm(items, total=total, desc=desc, unit="it", dynamic_ncols=True)
            return
    yield from items
