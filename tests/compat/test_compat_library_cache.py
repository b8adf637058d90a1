"""dlpy.compat's on-disk cache of installed libraries' rewritten code (``library_code``): an
entry is written once and loaded after, never stale (another source, path or rewrite is
another key), checked on reading, and optional (``DLPY_COMPAT_CACHE=0``, a folder that cannot
be written)."""

import marshal
import sys

import pytest

from dlpy import compat

SOURCE = b"def kind(t):\n    return type(t.data).__name__\n"
PATH = "/venv/lib/python3.11/site-packages/pkg/m.py"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache in a scratch folder; returns a function listing its entries."""
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DLPY_COMPAT_CACHE", raising=False)
    return lambda: sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())


def _refuse_compiling(*args):
    raise AssertionError("compiled again instead of loading the cached entry")


def test_written_once_then_loaded(cache, monkeypatch):
    code = compat.library_code(SOURCE, PATH)
    assert marshal.dumps(code) == marshal.dumps(compat.program_code(SOURCE, PATH))
    entries = cache()
    assert len(entries) == 1 and entries[0].parent.parent.name == sys.implementation.cache_tag
    monkeypatch.setattr(compat, "program_code", _refuse_compiling)
    again = compat.library_code(SOURCE, PATH)
    assert marshal.dumps(again) == marshal.dumps(code) and again.co_filename == PATH
    assert "__dlpy_data__" in again.co_consts[0].co_names  # the rewritten code


def test_another_source_or_path_is_another_entry(cache):
    compat.library_code(SOURCE, PATH)
    compat.library_code(SOURCE + b"x = 1\n", PATH)
    other = compat.library_code(SOURCE, PATH.replace("pkg", "other"))
    assert other.co_filename == PATH.replace("pkg", "other")
    assert len(cache()) == 3


def test_a_damaged_entry_is_compiled_again(cache):
    compat.library_code(SOURCE, PATH)
    (entry,) = cache()
    entry.write_bytes(entry.read_bytes()[:-5])
    code = compat.library_code(SOURCE, PATH)
    assert marshal.dumps(code) == marshal.dumps(compat.program_code(SOURCE, PATH))
    assert entry.read_bytes()[32:] == marshal.dumps(code)  # written whole again


def test_turned_off_or_unwritable(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("DLPY_COMPAT_CACHE", "0")
    compat.library_code(SOURCE, PATH)
    assert cache() == []
    monkeypatch.delenv("DLPY_COMPAT_CACHE")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DLPY_CACHE_DIR", str(blocker))
    code = compat.library_code(SOURCE, PATH)
    assert marshal.dumps(code) == marshal.dumps(compat.program_code(SOURCE, PATH))


def test_installed_library_imported_through_the_cache(cache, tmp_path, monkeypatch):
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "fake_cachedlib.py").write_bytes(b"import torch\n" + SOURCE)
    monkeypatch.syspath_prepend(str(site))
    try:
        for _ in range(2):
            with compat.as_torch():
                import fake_cachedlib
                import torch

                assert fake_cachedlib.kind(torch.ones(2)) == "_DataView"
            sys.modules.pop("fake_cachedlib")
            monkeypatch.setattr(compat, "program_code", _refuse_compiling)  # 2nd: loaded
        assert len(cache()) == 1
        assert not list(site.rglob("*.pyc"))
    finally:
        sys.modules.pop("fake_cachedlib", None)


def test_a_library_defining_torch_function_is_dispatched_to(cache, tmp_path, monkeypatch):
    """A library whose source defines ``__torch_function__`` on a type that is no Tensor, with
    a table keyed by torch's functions built at import (linear_operator's LinearOperator):
    dispatch is on before it runs, so ``torch.matmul(op, t)`` reaches its override."""
    from dlpy import overrides

    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "fake_ducklib.py").write_bytes(
        b"import torch\n"
        b"HANDLED = {torch.matmul: 'matmul'}\n"
        b"class Op:\n"
        b"    def matmul(self, other):\n"
        b"        return ('matmul', tuple(other.shape))\n"
        b"    @classmethod\n"
        b"    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        b"        if func not in HANDLED:\n"
        b"            return NotImplemented\n"
        b"        return getattr(args[0], HANDLED[func])(*args[1:])\n")
    monkeypatch.syspath_prepend(str(site))
    overrides._uninstall()
    try:
        for _ in range(2):  # compiled, then loaded from the cache
            with compat.as_torch():
                import fake_ducklib
                import torch

                assert torch.matmul(fake_ducklib.Op(), torch.ones(2, 3)) == ("matmul", (2, 3))
            sys.modules.pop("fake_ducklib")
            overrides._uninstall()
    finally:
        sys.modules.pop("fake_ducklib", None)
        overrides._uninstall()
