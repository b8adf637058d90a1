"""Loading the quantization fixtures (tests/fixtures/quantization/, made by
make_quantization_fixtures.py)."""

from pathlib import Path

from npz_reference import load_grouped

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quantization"


def reference(name: str) -> dict[str, dict]:
    """{case: {field: array}} of quantization/<name>.npz."""
    return load_grouped(FIXTURES / f"{name}.npz")
