"""The CLI conventions on the essay commands: --json is pure JSON on stdout, `score` reads the
encodings Korean files come in and goes on past a bad file, `train --out` will not overwrite a
model without --force."""

import json

import pytest

from dlpy.cli import main

SMALL = ["--epochs", "1", "--batch-size", "4", "--d-model", "0", "--hidden", "8",
         "--max-char-ngrams", "400", "--max-morpheme-ngrams", "400", "--no-progress"]
ESSAY = "나는 커서 선생님이 되고 싶다. 그래서 매일 책을 읽는다.\n친구들에게 설명하는 연습도 한다."


@pytest.fixture(scope="module")
def model_dir(corpus_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("conventions_model")
    assert main(["essay", "train", "--data", str(corpus_dir), "--out", str(out), *SMALL]) == 0
    return out


def _json_lines(text: str) -> list:
    return [json.loads(line) for line in text.splitlines()]  # every line, or it fails


def test_score_reads_korean_encodings_and_goes_on_past_a_bad_file(model_dir, tmp_path, capsys):
    files = []
    for name, encoding in (("utf8.txt", "utf-8"), ("bom.txt", "utf-8-sig"),
                           ("cp949.txt", "cp949"), ("euckr.txt", "euc-kr"),
                           ("utf16.txt", "utf-16")):
        path = tmp_path / name
        path.write_bytes(ESSAY.encode(encoding))
        files.append(str(path))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xff\xff broken")
    missing = tmp_path / "missing.txt"
    arguments = ["essay", "score", "--model", str(model_dir), "--prompt-id", "0", "--json"]
    assert main([*arguments, files[0], str(bad), str(missing), *files[1:]]) == 1
    out, err = capsys.readouterr()
    rows = _json_lines(out)
    assert [r["file"] for r in rows] == files  # the bad files did not stop the others
    assert len({r["score"] for r in rows}) == 1  # the same essay in every encoding
    assert "bad.txt: not UTF-8" in err and "missing.txt" in err
    assert "2 of 7 file(s) could not be scored" in err


def test_json_is_pure_on_stdout(model_dir, corpus_dir, tmp_path, capsys):
    essay = tmp_path / "essay.txt"
    essay.write_text(ESSAY, encoding="utf-8")
    assert main(["essay", "score", "--model", str(model_dir), "--prompt", "없는 주제",
                 "--json", str(essay)]) == 0
    out, err = capsys.readouterr()
    (row,) = _json_lines(out)
    assert "unknown_prompt" in [w["code"] for w in row["warnings"]] and "없는 주제" in err
    assert main(["essay", "explain", "--model", str(model_dir), "--json", str(essay)]) == 0
    (result,) = _json_lines(capsys.readouterr().out)
    assert result["explanation"]["total"] == pytest.approx(
        result["explanation"]["model_output"], abs=1e-3)
    assert main(["essay", "evaluate", "--model", str(model_dir), "--data", str(corpus_dir),
                 "--json", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    (metrics,) = _json_lines(out)
    assert metrics["n"] == 24 and "24 essays: RMSE" in err  # the report went to stderr


def test_explain_for_people(model_dir, tmp_path, capsys):
    essay = tmp_path / "essay.txt"
    essay.write_text(ESSAY, encoding="utf-8")
    assert main(["essay", "explain", "--model", str(model_dir), "--prompt", "미래의 나의 모습",
                 str(essay)]) == 0
    out = capsys.readouterr().out
    assert "/ 30" in out and "why: base" in out and "(the model:" in out


def test_train_will_not_overwrite_a_model_without_force(model_dir, corpus_dir, capsys):
    arguments = ["essay", "train", "--data", str(corpus_dir), "--out", str(model_dir), *SMALL]
    assert main(arguments) == 1
    assert "already exists: --force overwrites it" in capsys.readouterr().err
    assert main([*arguments, "--force"]) == 0
