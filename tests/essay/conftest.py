import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from corpus import write_corpus  # noqa: E402


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Analyses and spacing counts go to a cache private to the test session."""
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("essay_corpus"))


@pytest.fixture(scope="session")
def docs(corpus_dir, tmp_path_factory):
    import os

    os.environ.setdefault("DLPY_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    from dlpy.essay.data import read_essays
    from dlpy.essay.features import docs_from_records

    return docs_from_records(read_essays(corpus_dir), show_progress=False)
