"""tests/fixtures on the import path: the torch-free case tables there (cases_*.py) are read both
by the fixture scripts that write the .npz files and by the tests that replay them."""

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
