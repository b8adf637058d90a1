"""tests/fixtures on the import path: the torch-free case tables there (cases_*.py) are read both
by the fixture scripts that write the .npz files and by the tests that replay them."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent / "fixtures"))
