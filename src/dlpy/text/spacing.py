"""Spacing errors: how many spaces Kiwi's spacing model would insert into a text.

    counter = SpacingCounter(get_analyzer("kiwi").kiwi)
    counter("나는커서 돈을많이 벌고싶다")   # 3

Counted per line (paragraph), cached on disk by the SHA-256 of the text's UTF-8 bytes under
`<cache root>/essay-spacing/kiwipiepy-<version>/<sha[:2]>/<sha>.json` (the folder keeps its first
name so caches filled before the move stay valid).
"""

from __future__ import annotations

import json
from pathlib import Path

from dlpy.io import atomic_write_bytes

from .cache import default_cache_dir, sha256_bytes


def missing_spaces(kiwi, text: str) -> int:
    """Spaces `kiwi.space` inserts into `text`, line by line (never negative per line)."""
    count = 0
    for paragraph in text.split("\n"):
        if paragraph.strip():
            spaced = kiwi.space(paragraph, reset_whitespace=False)
            count += max(spaced.count(" ") - paragraph.count(" "), 0)
    return count


def spacing_cache_dir(root: str | Path | None = None) -> Path:
    import kiwipiepy

    base = Path(root) if root is not None else default_cache_dir()
    return base / "essay-spacing" / f"kiwipiepy-{kiwipiepy.__version__}"


class SpacingCounter:
    """`missing_spaces` through the on-disk cache (a second run over a corpus is fast)."""

    def __init__(self, kiwi, use_cache: bool = True, root: str | Path | None = None):
        self.kiwi = kiwi
        self.directory = spacing_cache_dir(root)
        self.use_cache = use_cache

    def path_for(self, text: str) -> Path:
        key = sha256_bytes(text.encode("utf-8"))
        return self.directory / key[:2] / f"{key}.json"

    def cached(self, text: str) -> int | None:
        """The cached count, or None when absent or unreadable."""
        try:
            value = json.loads(self.path_for(text).read_bytes())["missing_spaces"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def put(self, text: str, count: int) -> None:
        atomic_write_bytes(self.path_for(text), json.dumps({"missing_spaces": count}).encode())

    def __call__(self, text: str) -> int:
        if self.use_cache:
            count = self.cached(text)
            if count is not None:
                return count
        count = missing_spaces(self.kiwi, text)
        if self.use_cache:
            self.put(text, count)
        return count
