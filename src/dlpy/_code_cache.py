"""dlpy's on-disk cache of compiled code: ``<root>/<kind>/<interpreter>/<key[:2]>/<key>``, the
root ``DLPY_CACHE_DIR`` (else ``$XDG_CACHE_HOME/dlpy``, else ``~/.cache/dlpy``). An entry is
a SHA-256 of its marshalled code, then the code; it is written whole (a temporary file, then a
rename) and checked on reading. A folder that cannot be written leaves entries unwritten.

Two kinds: dlpy.compat's rewritten library code (``compat``, see dlpy/compat.py) and, where
Python keeps no ``.pyc`` files (``PYTHONDONTWRITEBYTECODE``, set in many containers), dlpy's
own modules (``code``): without .pyc files, every process that imports dlpy compiles each
module whose ``.pyc`` is missing or stale (a fresh checkout: all of them; ``import dlpy``
0.65 s of CPU instead of 0.22, more under dlpy.compat, benchmarks/import_time.py).
The second is opt-in, ``DLPY_CODE_CACHE=1``: ``PYTHONDONTWRITEBYTECODE`` asks that no compiled
files be written, and dlpy honours that unless told otherwise. Then ``install()`` (at the start
of ``import dlpy``) serves dlpy's folders with ``OwnLoader``, which compiles a module's source
at most once per content (the key: a SHA-256 of the source, its path and the interpreter's
bytecode magic and optimisation level); a current ``.pyc`` is still read first, as Python
reads it; the folder is the one of when dlpy was imported.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import types


def cache_folder(kind: str) -> str:
    """This interpreter's folder of the entries of ``kind``."""
    root = os.environ.get("DLPY_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        root = os.path.join(base, "dlpy")
    return os.path.join(root, kind, sys.implementation.cache_tag or "python")


def code_key(*parts: bytes) -> str:
    """A SHA-256 of the interpreter's bytecode magic, its optimisation level and ``parts``."""
    import hashlib

    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER)
    for part in (str(sys.flags.optimize).encode(), *parts):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def entry_path(folder: str, key: str) -> str:
    return os.path.join(folder, key[:2], key)


def read_entry(entry: str, path: str) -> types.CodeType | None:
    """The code stored at ``entry`` for the source file ``path``; None when it is missing,
    damaged or another file's."""
    import hashlib

    try:
        with open(entry, "rb") as file:
            stored = file.read()
        check, payload = stored[:32], stored[32:]
        if hashlib.sha256(payload).digest() == check:
            code = marshal.loads(payload)
            if isinstance(code, types.CodeType) and code.co_filename == path:
                return code
    except (OSError, EOFError, ValueError, TypeError):
        pass
    return None


def write_entry(entry: str, code: types.CodeType) -> None:
    """Store ``code`` at ``entry`` whole, or not at all (best effort)."""
    import hashlib

    payload = marshal.dumps(code)
    temporary = f"{entry}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        with open(temporary, "wb") as file:
            file.write(hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, entry)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(temporary)


def _wanted() -> bool:
    """Whether dlpy's own modules go through the cache: Python writes no ``.pyc`` and
    ``DLPY_CODE_CACHE=1`` asks for it."""
    return sys.dont_write_bytecode and os.environ.get("DLPY_CODE_CACHE") == "1"


class OwnLoader(importlib.machinery.SourceFileLoader):
    """A dlpy module's loader: Python's, with the source compiled through the cache while
    Python writes no ``.pyc`` (a current ``.pyc`` is read first, as Python's loader does)."""

    # the cache's folder, fixed when dlpy is imported (a later DLPY_CACHE_DIR, a test's
    # scratch folder, gets none of dlpy's modules)
    folder: str | None = None

    def source_to_code(self, data, path, *, _optimize=-1):
        if not _wanted():
            return super().source_to_code(data, path, _optimize=_optimize)
        if OwnLoader.folder is None:
            OwnLoader.folder = cache_folder("code")
        entry = entry_path(OwnLoader.folder,
                           code_key(str(_optimize).encode(), os.fsencode(path), data))
        code = read_entry(entry, path)
        if code is None:
            code = super().source_to_code(data, path, _optimize=_optimize)
            write_entry(entry, code)
        return code


# Python's own file loaders, in its order, the source's OwnLoader
_LOADERS = ((importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
            (OwnLoader, importlib.machinery.SOURCE_SUFFIXES),
            (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES))


def install(folder: str) -> None:
    """Serve the modules in ``folder`` (dlpy's; subfolders included) with ``OwnLoader``: its
    folders' finders in ``sys.path_importer_cache``, made by a path hook that answers for
    them only (so nothing is added to any other import), when ``_wanted()``."""
    if not _wanted():
        return
    OwnLoader.folder = cache_folder("code")
    folder = os.path.join(os.path.abspath(folder), "")

    def hook(path: str):
        if (not os.path.join(os.path.abspath(path), "").startswith(folder)
                or not os.path.isdir(path)):  # (a zip's folders are zipimport's)
            raise ImportError("not one of dlpy's folders")
        return importlib.machinery.FileFinder(path, *_LOADERS)

    hook.dlpy_own_code = folder
    if not any(getattr(other, "dlpy_own_code", None) == folder for other in sys.path_hooks):
        sys.path_hooks.insert(0, hook)
    for path in [path for path in sys.path_importer_cache
                 if os.path.join(os.path.abspath(path), "").startswith(folder)]:
        del sys.path_importer_cache[path]  # (made by the hooks before; made again by ours)


# (imported first by ``import dlpy``, before any other of its modules)
install(os.path.dirname(__file__))
