"""One progress helper for the whole package: a tqdm bar on stderr when tqdm is installed and
the bar is enabled, otherwise a silent pass-through with the same small interface."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class _Silent:
    """Stands in for a tqdm bar: iterates, and ignores postfix and update calls."""

    def __init__(self, items: Iterable[T] | None):
        self._items = items if items is not None else ()

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(items: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             enabled: bool = True, unit: str = "it", unit_scale: bool = False):
    """Wrap `items` in a progress bar (tqdm on stderr) when `enabled` and tqdm is installed.

    The result iterates like `items` and has `set_postfix`, `update` and `close` either way, so
    callers never branch on whether a bar is shown. `items=None` gives a manual bar (`update`);
    `unit_scale` shows k/M prefixes (byte counts: `unit="B", unit_scale=True`)."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm comes with the [korean] extra; without it, no bar
            pass
        else:
            return tqdm(items, total=total, desc=desc, unit=unit, unit_scale=unit_scale,
                        dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
    return _Silent(items)
