"""tests/precompile.py writes the rewritten test modules pytest reads before rewriting them."""

import importlib.util
from pathlib import Path

import pytest
from _pytest.assertion import rewrite

_spec = importlib.util.spec_from_file_location(
    "precompile", Path(__file__).resolve().parent / "precompile.py")
precompile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(precompile)


def test_rewritten_module_is_what_pytest_reads_and_is_written_once(tmp_path):
    module = tmp_path / "test_sample.py"
    module.write_text("def check(x):\n    assert x + 1 == 3\n")
    assert precompile._rewrite([module]) == 1
    pyc = rewrite.get_cache_dir(module) / ("test_sample" + rewrite.PYC_TAIL)
    code = rewrite._read_pyc(module, pyc)
    assert code is not None
    scope = {}
    exec(code, scope)
    with pytest.raises(AssertionError) as raised:
        scope["check"](1)
    assert str(raised.value) == "assert (1 + 1) == 3"  # pytest's message (a bare assert has none)
    assert precompile._rewrite([module]) == 0  # current: left as is
    module.write_text("def check(x):\n    assert x == 3\n")
    assert precompile._rewrite([module]) == 1  # the source changed: written again


def test_modules_are_the_test_modules_and_conftest():
    names = {p.name for p in precompile._test_modules()}
    assert {"conftest.py", "test_precompile.py", "test_torch_semantics.py"} <= names
    assert not {n for n in names if not (n.startswith("test_") or n == "conftest.py")}
