"""dlpy.compat's finders before the path finder (``_BeforePathFinder``): the path finder's
search is made once per import however many of them stand together (the program's and the
installed libraries'), a finder put between them and the path finder keeps its turn, and a
module's links are resolved as ``os.path.realpath`` resolves them (``_real_path``, its folders
resolved once per finder)."""

import importlib.machinery
import os
import sys

import pytest

from dlpy import compat


def _counting_path_finder(monkeypatch):
    """Counts the path finder's searches of each module name (the finder object in
    ``sys.meta_path`` stays the same)."""
    searched: list[str] = []
    original = importlib.machinery.PathFinder.find_spec.__func__

    def find_spec(cls, fullname, path=None, target=None):
        searched.append(fullname)
        return original(cls, fullname, path, target)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", classmethod(find_spec))
    return searched


def _fresh_modules(tmp_path, monkeypatch, names):
    for name in names:
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_one_path_search_per_import(tmp_path, monkeypatch):
    (tmp_path / "prog").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "prog" / "own_module.py").write_text("def kind(t):\n    return type(t.data)\n")
    (tmp_path / "lib" / "plain_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    monkeypatch.syspath_prepend(str(tmp_path / "prog"))
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))
    searched = _counting_path_finder(monkeypatch)
    try:
        with compat.as_torch(), compat._program_modules(str(tmp_path / "prog")):
            import own_module
            import plain_module

            assert isinstance(own_module.__loader__, compat._ProgramLoader)
            assert type(plain_module.__loader__) is importlib.machinery.SourceFileLoader
            assert plain_module.VALUE == 1
            # a module nobody has is searched once by dlpy's finders, once by the path finder
            with pytest.raises(ModuleNotFoundError):
                import no_such_module_anywhere  # noqa: F401
    finally:
        sys.modules.pop("plain_module", None)
    assert searched.count("own_module") == 1
    assert searched.count("plain_module") == 1
    assert searched.count("no_such_module_anywhere") == 2
    assert "own_module" not in sys.modules


class _Recording(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.asked: list[str] = []

    def find_spec(self, fullname, path=None, target=None):
        self.asked.append(fullname)
        return None


def test_a_finder_before_the_path_finder_keeps_its_turn(tmp_path, monkeypatch):
    _fresh_modules(tmp_path, monkeypatch, ["turn_module"])
    recording = _Recording()
    try:
        with compat.as_torch():
            index = sys.meta_path.index(importlib.machinery.PathFinder)
            sys.meta_path.insert(index, recording)
            try:
                import turn_module
            finally:
                sys.meta_path.remove(recording)
        assert turn_module.VALUE == 1
        assert recording.asked == ["turn_module"]
    finally:
        sys.modules.pop("turn_module", None)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_real_path_resolves_links(tmp_path):
    real = tmp_path / "real"
    (real / "pkg").mkdir(parents=True)
    (real / "pkg" / "m.py").write_text("")
    (tmp_path / "linked").symlink_to(real)
    (real / "pkg" / "linked_file.py").symlink_to(tmp_path / "elsewhere.py")
    folders: dict[str, str] = {}
    for path in (tmp_path / "linked" / "pkg" / "m.py", real / "pkg" / "m.py",
                 tmp_path / "linked" / "pkg" / "linked_file.py", tmp_path / "linked" / "x.py"):
        for _ in range(2):  # the folder resolved, then taken from ``folders``
            assert compat._real_path(str(path), folders) == os.path.realpath(path)
    assert folders[str(tmp_path / "linked" / "pkg")] == os.path.realpath(real / "pkg")
