import numpy as np
import pytest

pytest.importorskip("kiwipiepy")

from dlpy.text import load_vectors  # noqa: E402
from dlpy.text.kiwi_vectors import export_kiwi_vectors  # noqa: E402


def test_reconstruction_on_a_subset(tmp_path):
    wv, report = export_kiwi_vectors(tmp_path / "kiwi.vec", limit=600, num_anchors=300,
                                     check_pairs=2000, show_progress=False)
    assert report.dim == 256 and wv.dim == 256 and report.num_words == len(wv) > 500
    # dot products reproduce Kiwi's cosines (up to float32 rounding)
    assert report.mean_cosine_error < 1e-4 and report.max_cosine_error < 1e-3
    np.testing.assert_allclose(np.linalg.norm(wv.vectors, axis=1), 1.0, atol=2e-3)
    assert all("/" in w for w in wv.words) and not any(w.startswith("/") for w in wv.words)
    back = load_vectors(tmp_path / "kiwi.vec")  # the written file loads, same keys and values
    assert back.words == wv.words and back.skipped == 0
    np.testing.assert_allclose(back.vectors, wv.vectors, atol=1e-5)


def test_too_few_anchors():
    with pytest.raises(ValueError, match="num_anchors >= dim"):
        export_kiwi_vectors(None, limit=10, num_anchors=100, show_progress=False)
