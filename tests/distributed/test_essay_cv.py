"""`dlpy essay cv --distributed` under ``mpirun -n 2``: the folds spread over the ranks give what
one process gives, and only rank 0 prints and writes (skipped where MPI is not installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "essay"))

from corpus import write_aihub_corpus  # noqa: E402

# a tiny model, a few epochs: seconds per fold
TINY = ["--folds", "3", "--epochs", "2", "--batch-size", "4",
        "--d-model", "8", "--dim-feedforward", "16", "--hidden", "8", "--embedding-dim", "8",
        "--max-len", "32", "--max-char-ngrams", "200", "--max-morpheme-ngrams", "200",
        "--val-fraction", "0.25", "--workers", "1", "--no-progress"]


def test_distributed_cv_equals_the_single_process_cv(mpirun, tmp_path, monkeypatch, capsys):
    from dlpy.cli import main

    # one process first: its analyses fill the cache (with this process's Kiwi, loaded once per
    # session), so the ranks read them and never spend seconds loading a Kiwi model of their own
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))
    data = write_aihub_corpus(tmp_path / "aihub", per_prompt=3).folder
    one = tmp_path / "one.json"
    assert main(["essay", "cv", "--data", str(data), "--json", str(one), *TINY]) == 0
    assert capsys.readouterr().out.count("3-fold CV (essaynet") == 1

    two = tmp_path / "two" / "cv.json"
    two.parent.mkdir()
    result = mpirun("-m", "dlpy", "essay", "cv", "--distributed", "--data", str(data),
                    "--json", str(two), *TINY, timeout=120, cwd=two.parent)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.count("3-fold CV (essaynet") == 1  # rank 0 alone prints
    assert result.stdout.count("[fold 3/3] RMSE") == 1
    assert sorted(p.name for p in two.parent.iterdir()) == ["cv.json"]  # and writes

    expected = json.loads(one.read_text(encoding="utf-8"))
    got = json.loads(two.read_text(encoding="utf-8"))
    assert got["ids"] == expected["ids"] and got["fold_of"] == expected["fold_of"]
    assert got["predictions"] == pytest.approx(expected["predictions"], abs=1e-9)
    for key in ("rmse", "pearson", "qwk", "within_batch_pearson"):
        assert got[key] == pytest.approx(expected[key], abs=1e-9), key
    assert [f["rmse"] for f in got["folds"]] == \
        pytest.approx([f["rmse"] for f in expected["folds"]], abs=1e-9)
