"""On-disk cache of morphological analyses, one JSON file per input file.

The key is (analyser name, analyser version, SHA-256 of the input file's bytes): edit the file or
upgrade the analyser and the entry is simply not found. Entries are written atomically (a temp
file in the same folder, then os.replace), so an interrupted run never leaves a half entry.

    <root>/analysis/<analyser>-<version>/<sha[:2]>/<sha>.json

`root` is `DLPY_CACHE_DIR` if set, else `$XDG_CACHE_HOME/dlpy`, else `~/.cache/dlpy`.

`lock(shard)` is an exclusive lock per shard folder (an fcntl lock on `<shard>/.lock`, released
by the kernel when its process dies): a run holds it while it fills that shard, so two runs
never analyse the same file twice, and a reader needs no lock (entries appear whole or not at
all).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from dlpy.io import atomic_write_bytes

from .analysis import Sentence

Fields = dict[str, list[Sentence]]  # e.g. {"essay": [...], "prompt": [...]}


def default_cache_dir() -> Path:
    """Where caches live unless told otherwise."""
    if os.environ.get("DLPY_CACHE_DIR"):
        return Path(os.environ["DLPY_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlpy"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AnalysisCache:
    """Analyses of input files by one analyser, keyed by the file's SHA-256."""

    def __init__(self, analyzer_name: str, analyzer_version: str,
                 root: str | os.PathLike | None = None) -> None:
        self.analyzer_name = analyzer_name
        self.analyzer_version = analyzer_version
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{analyzer_name}-{analyzer_version}")
        self.directory = Path(root if root is not None else default_cache_dir()) / "analysis" / safe

    @classmethod
    def for_analyzer(cls, analyzer, root: str | os.PathLike | None = None) -> AnalysisCache:
        return cls(analyzer.name, analyzer.version, root)

    def path_for(self, source_sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", source_sha256):
            raise ValueError(f"AnalysisCache: expected a hex SHA-256, got {source_sha256!r}")
        return self.directory / source_sha256[:2] / f"{source_sha256}.json"

    def get(self, source_sha256: str, tokens: dict | None = None,
            known: Fields | None = None) -> Fields | None:
        """The cached fields, or None when absent or unreadable (a corrupt entry is a miss).
        `tokens`, a dict shared across calls, keeps one tuple per distinct (form, tag): a corpus
        of 20M tokens then holds ~100k tuples instead of 20M (and ~4 GB less). A field in
        `known` (e.g. the analysis of a prompt already loaded) is taken from there as it is."""
        path = self.path_for(source_sha256)
        try:
            entry = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        if (not isinstance(entry, dict) or entry.get("source_sha256") != source_sha256
                or entry.get("analyzer") != self.analyzer_name
                or entry.get("version") != self.analyzer_version):
            return None
        try:
            known = known or {}
            return {name: known[name] if name in known else intern_tokens(sentences, tokens)
                    for name, sentences in entry["fields"].items()}
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def put(self, source_sha256: str, fields: Fields) -> Path:
        """Store `fields` for the file with this hash, atomically; returns the entry's path."""
        path = self.path_for(source_sha256)
        entry = {"analyzer": self.analyzer_name, "version": self.analyzer_version,
                 "source_sha256": source_sha256,
                 "fields": {name: [[list(t) for t in s] for s in sentences]
                            for name, sentences in fields.items()}}
        atomic_write_bytes(path, json.dumps(entry, ensure_ascii=False,
                                            separators=(",", ":")).encode("utf-8"))
        return path

    def __contains__(self, source_sha256: str) -> bool:
        return self.path_for(source_sha256).is_file() and self.get(source_sha256) is not None

    @contextlib.contextmanager
    def lock(self, shard: str | None = None, *, blocking: bool = True,
             wait_message: str | None = None) -> Iterator[bool]:
        """Hold the lock of one shard (a sha[:2] folder; None: the whole cache) for the block;
        yields whether it is held (always True when `blocking`, which waits for another run,
        printing `wait_message` to stderr first when it has to wait)."""
        folder = self.directory if shard is None else self.directory / shard
        with file_lock(folder / ".lock", wait_message, blocking) as held:
            yield held


@contextlib.contextmanager
def file_lock(path: Path, wait_message: str | None = None,
              blocking: bool = True) -> Iterator[bool]:
    """An exclusive fcntl lock on `path` (created if absent) for the block; yields False, at
    once, when another process holds it and not `blocking`."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not blocking:
                yield False
                return
            if wait_message:
                print(wait_message, file=sys.stderr, flush=True)
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def intern_tokens(sentences, tokens: dict | None = None) -> list[Sentence]:
    """[[form, tag], ...] per sentence -> [(form, tag), ...], one shared tuple per distinct token
    when `tokens` (a dict) is given."""
    if tokens is None:
        return [[(form, tag) for form, tag in s] for s in sentences]
    result = []
    for s in sentences:
        row = []
        for form, tag in s:
            key = (form, tag)
            row.append(tokens.setdefault(key, key))
        result.append(row)
    return result


