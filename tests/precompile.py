"""Compile once, on every core, what each process of a test run would otherwise compile for
itself (``make test`` runs this before pytest):

- dlpy's and the tests' modules to ``.pyc`` (``compileall``). Where ``PYTHONDONTWRITEBYTECODE``
  is set (many containers set it) a fresh checkout never gets them: every pytest worker and
  every process a test starts (the MPI ranks, the command-line runs) compiles dlpy afresh;
- the test modules' assertion-rewritten code, to the ``.pyc`` pytest reads before rewriting a
  test module (its rewrite of 400 test modules costs each pytest worker about 10 s, and it
  writes nothing where ``PYTHONDONTWRITEBYTECODE`` is set). This uses pytest's own rewrite
  (private functions of ``_pytest.assertion.rewrite``); a pytest without them is reported and
  leaves the rewriting to the workers, as before;
- the torch-semantics cases' code (tests/fixtures/semantics_codes.py: 105,000 snippets and
  expressions, about 23 s of CPU that each run's workers spent compiling them).

Usage: ``python tests/precompile.py`` (from anywhere). Entries are written whole (pytest's and
compileall's atomic writes), so two runs at once are safe; a current ``.pyc`` is left as is.
"""

from __future__ import annotations

import compileall
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _test_modules() -> list[Path]:
    """The modules pytest rewrites: the test modules and the conftest files under tests/."""
    tests = ROOT / "tests"
    return sorted(p for p in tests.rglob("*.py") if "__pycache__" not in p.parts
                  and (p.name.startswith("test_") or p.name == "conftest.py"))


class _Quiet:
    """The assertion state pytest's pyc writer traces to."""

    @staticmethod
    def trace(*_args) -> None:
        pass


def _rewrite(paths: list[Path]) -> int:
    """Write pytest's rewritten ``.pyc`` of each of ``paths`` that lacks a current one; the
    number written."""
    from _pytest.assertion import rewrite

    written = 0
    for path in paths:
        pyc = rewrite.get_cache_dir(path) / (path.name[:-3] + rewrite.PYC_TAIL)
        if rewrite._read_pyc(path, pyc) is not None:
            continue
        source_hash, code = rewrite._rewrite_test(path, None)
        pyc.parent.mkdir(exist_ok=True)
        written += bool(rewrite._write_pyc(_Quiet(), code, source_hash, pyc))
    return written


def main() -> int:
    workers = os.cpu_count() or 1
    # (the test modules themselves: pytest loads them rewritten, below)
    ok = all(compileall.compile_dir(str(ROOT / folder), quiet=1, workers=workers,
                                    rx=re.compile(r"[/\\]test_[^/\\]*\.py$"))
             for folder in ("src", "tests"))
    modules = _test_modules()
    shares = [modules[i::workers] for i in range(workers)]
    try:
        with ProcessPoolExecutor(workers) as pool:
            written = sum(pool.map(_rewrite, shares))
    except (ImportError, AttributeError, TypeError) as err:
        print(f"precompile: pytest's rewritten modules not written ({err!r}); each pytest "
              "worker rewrites them", file=sys.stderr)
    else:
        print(f"precompile: {written} of {len(modules)} test modules rewritten for pytest")
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    from cases_torch_semantics import EXPRS, SNIPPETS
    from semantics_codes import write

    print(f"precompile: {write(SNIPPETS, EXPRS, workers)} semantics cases compiled")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
