"""tests/fixtures on the import path: the torch-free case tables there (cases_*.py) are read both
by the fixture scripts that write the .npz files and by the tests that replay them."""

import gc
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent / "fixtures"))


def pytest_collection_modifyitems(items):
    """The items marked imports_libraries (tests/test_torch_semantics.py's chunks of cases that
    import libraries written for torch, the last of their module) run one after another, where
    the last of them stands: pytest-xdist hands a worker consecutive items, so one worker
    imports (and compiles) each library once."""
    marked = [item for item in items if item.get_closest_marker("imports_libraries")]
    if marked:
        last = len(items) - items[::-1].index(marked[-1])
        moved = set(map(id, marked))
        items[:last] = [*(item for item in items[:last] if id(item) not in moved), *marked]


def pytest_configure(config):
    """Python's collector runs less often: a test process holds the torch-recorded cases (100k
    of them, with their recorded results), and with the default thresholds (700 allocations) the
    collections that follow the parsing of 400 test modules and the cases' runs rescanned them
    again and again (the suite ran 224 s -> 203 s on 2 cores). Tests that need garbage gone
    call gc.collect() themselves."""
    gc.set_threshold(50000, 20, 100)


def pytest_collection_finish(session):
    """What collection built (the test modules, their parameters, the case tables) lives to the
    end: moved out of the collector's sight (gc.freeze), so later collections scan only what the
    tests make (203 s -> 191 s)."""
    gc.collect()
    gc.freeze()
