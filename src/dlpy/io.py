"""Atomic file writes: a long run never leaves a half-written checkpoint, cache entry or report;
and ``no_gc``, for reading (or compiling) a file into very many small objects."""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


_STALE_AFTER_S = 24 * 3600  # a temporary file this old is stale whoever wrote it


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.<pid>.*.tmp`` files beside ``path`` left by a writer that was killed
    (its process is gone) or that are older than a day; returns what was removed."""
    path = Path(path)
    removed = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        try:
            stale = now - tmp.stat().st_mtime > _STALE_AFTER_S
            if not stale and pid.isdigit():
                stale = not _process_alive(int(pid))
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; when the block ends without an
    error it gets normal permissions and replaces ``path`` in one rename, otherwise it is removed.
    Temporaries left beside ``path`` by a killed writer are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as f:
        f.write(data)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (where it was on): reading millions of small lists or
    dicts (an analysis cache: loads 4-5x faster without it), or parsing a module into its
    AST (a third of the parse's time), otherwise starts collection after collection that
    finds nothing to free."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
