"""dlpy's cache of its own compiled modules (dlpy/_code_cache.py): where Python writes no
``.pyc`` (``PYTHONDONTWRITEBYTECODE``), a module's source is compiled once per content and
loaded from the cache after; a current ``.pyc`` is still Python's; only with
``DLPY_CODE_CACHE=1`` (PYTHONDONTWRITEBYTECODE is honoured by default), never where Python
writes ``.pyc`` files itself."""

import importlib.machinery
import os
import subprocess
import sys

import pytest

from dlpy import _code_cache

SOURCE = b"VALUE = 41 + 1\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache in a scratch folder, Python writing no .pyc; returns its entries' lister."""
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DLPY_CODE_CACHE", "1")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(_code_cache.OwnLoader, "folder", _code_cache.cache_folder("code"))
    return lambda: sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())


def _counting_compiles(monkeypatch) -> list[str]:
    compiled: list[str] = []
    original = importlib.machinery.SourceFileLoader.source_to_code

    def source_to_code(self, data, path, *, _optimize=-1):
        compiled.append(path)
        return original(self, data, path, _optimize=_optimize)

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", source_to_code)
    return compiled


def test_compiled_once_then_loaded(cache, tmp_path, monkeypatch):
    path = str(tmp_path / "m.py")
    compiled = _counting_compiles(monkeypatch)
    loader = _code_cache.OwnLoader("m", path)
    first = loader.source_to_code(SOURCE, path)
    again = loader.source_to_code(SOURCE, path)
    assert compiled == [path] and len(cache()) == 1
    assert again.co_filename == path and again.co_consts == first.co_consts
    loader.source_to_code(SOURCE + b"x = 1\n", path)  # another content: another entry
    assert len(compiled) == 2 and len(cache()) == 2
    assert cache()[0].parent.parent.parent.name == "code"


@pytest.mark.parametrize("off", ["variable unset", "variable 0", "python writes .pyc"])
def test_off(cache, tmp_path, monkeypatch, off):
    if off == "variable unset":
        monkeypatch.delenv("DLPY_CODE_CACHE")
    elif off == "variable 0":
        monkeypatch.setenv("DLPY_CODE_CACHE", "0")
    else:
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = str(tmp_path / "m.py")
    compiled = _counting_compiles(monkeypatch)
    for _ in range(2):
        _code_cache.OwnLoader("m", path).source_to_code(SOURCE, path)
    assert len(compiled) == 2 and cache() == []


def test_a_folder_served_by_the_own_loader(cache, tmp_path, monkeypatch):
    package = tmp_path / "own_pkg_for_cache"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_bytes(b"")
    (package / "sub" / "__init__.py").write_bytes(b"")
    (package / "sub" / "leaf.py").write_bytes(SOURCE)
    (tmp_path / "beside.py").write_bytes(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    hooks = list(sys.path_hooks)
    try:
        import own_pkg_for_cache

        _code_cache.install(own_pkg_for_cache.__path__[0])
        import beside
        import own_pkg_for_cache.sub.leaf as leaf

        assert type(leaf.__loader__) is _code_cache.OwnLoader and leaf.VALUE == 42
        assert type(beside.__loader__) is importlib.machinery.SourceFileLoader
        assert len(cache()) == 2  # sub/__init__.py and leaf.py
    finally:
        sys.path_hooks[:] = hooks
        for name in ("own_pkg_for_cache", "own_pkg_for_cache.sub", "own_pkg_for_cache.sub.leaf",
                     "beside"):
            sys.modules.pop(name, None)
        for path in [p for p in sys.path_importer_cache if p.startswith(str(tmp_path))]:
            del sys.path_importer_cache[path]


def test_the_folder_is_fixed_at_install(cache, tmp_path, monkeypatch):
    (tmp_path / "own_fixed").mkdir()
    hooks = list(sys.path_hooks)
    try:
        _code_cache.install(str(tmp_path / "own_fixed"))
    finally:
        sys.path_hooks[:] = hooks
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "later"))  # a test's scratch folder
    path = str(tmp_path / "m.py")
    _code_cache.OwnLoader("m", path).source_to_code(SOURCE, path)
    assert len(cache()) == 1 and not (tmp_path / "later").exists()


@pytest.mark.parametrize("asked", [True, False])
def test_dlpy_itself_without_pyc_files(tmp_path, asked):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "DLPY_CACHE_DIR": str(tmp_path)}
    env.pop("DLPY_CODE_CACHE", None)
    if asked:
        env["DLPY_CODE_CACHE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", "import dlpy; print(type(dlpy.functional.__loader__).__name__)"],
        env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["OwnLoader" if asked else "SourceFileLoader"]
    if not asked:
        assert not any(tmp_path.rglob("*"))  # nothing written
