import gzip
from pathlib import Path

import numpy as np
import pytest

from dlpy.cli import main
from dlpy.text import WordVectors

FIXTURES = Path(__file__).parent.parent / "fixtures" / "essays"


def test_inspect_vectors(tmp_path, capsys):
    words = ["학교", "학생", "선생님", "사과"]
    vectors = np.array([[1, 0], [0.9, 0.1], [0.8, 0.3], [0, 1]], np.float32)
    WordVectors(words, vectors).save(tmp_path / "v.vec")
    with open(tmp_path / "v.vec", "a", encoding="utf-8") as f:
        f.write("나쁨 1\n")
    assert main(["text", "inspect-vectors", str(tmp_path / "v.vec"), "--words", "학교",
                 "학교들", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 words, dim 2" in out and "skipped: 1" in out and "header says 4 rows" in out
    assert "학교: 학생 0.99" in out and "학교들 -> 학교 (prefix)" in out


def test_oov_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "ref.json"
    path.write_text('{"prompt": "글@#@", "paragraph": "학교@에@가@았@다@.@#@", "score": 0.5}',
                    encoding="utf-8")
    WordVectors(["학교", "에", "다"], np.eye(3, dtype=np.float32)).save(tmp_path / "v.vec")
    assert main(["essay", "oov", str(tmp_path / "v.vec"), "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "on 1 essays" in out
    assert "6 tokens" in out and "50.00% of tokens" in out  # 학교 에 다: exact; 가 았 .: not


def test_oov_command_on_plain_text(tmp_path, capsys, monkeypatch):
    pytest.importorskip("kiwipiepy")
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("학교에 갔다.\n\n학교", encoding="utf-8")
    (tmp_path / "texts" / "b.txt.gz").write_bytes(gzip.compress("학교".encode()))
    WordVectors(["학교/NNG"], np.eye(1, dtype=np.float32)).save(tmp_path / "v.vec")
    assert main(["text", "oov", str(tmp_path / "v.vec"), "--data",
                 str(tmp_path / "texts")]) == 0
    out = capsys.readouterr().out
    assert "on 3 documents" in out and "tokens as form/TAG" in out
    (tmp_path / "texts" / "c.txt").write_bytes("학교".encode("cp949"))
    assert main(["text", "oov", str(tmp_path / "v.vec"), "--data",
                 str(tmp_path / "texts")]) != 0
    assert "c.txt: not UTF-8" in capsys.readouterr().err


def test_text_does_not_import_essay():
    for path in (Path(__file__).parents[2] / "src" / "dlpy" / "text").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "dlpy.essay" not in source and "from ..essay" not in source, path


def test_missing_file_is_a_clean_error(tmp_path, capsys):
    assert main(["text", "inspect-vectors", str(tmp_path / "none.vec")]) == 1
    assert "no such file" in capsys.readouterr().err
