import json
from pathlib import Path

import pytest

from dlpy.cli import main

FAST = ["--epochs", "3", "--batch-size", "4", "--d-model", "8", "--dim-feedforward", "16",
        "--hidden", "8", "--embedding-dim", "8", "--max-len", "64", "--max-char-ngrams", "400",
        "--max-morpheme-ngrams", "400", "--val-fraction", "0.25", "--quiet"]


@pytest.fixture(scope="module")
def model_dir(corpus_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    assert main(["essay", "train", "--data", str(corpus_dir), "--out", str(out), *FAST]) == 0
    return out


def test_train_writes_the_model_and_reports(model_dir):
    for name in ("model.npz", "checkpoint.npz", "metrics.json", "curves.png"):
        assert (model_dir / name).stat().st_size > 0
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]


def test_evaluate_json_last_line(model_dir, corpus_dir, capsys):
    assert main(["essay", "evaluate", "--model", str(model_dir), "--data", str(corpus_dir),
                 "--json", "--quiet"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    metrics = json.loads(last)
    assert metrics["n"] == 24
    assert {"rmse", "pearson", "qwk", "per_prompt"} <= set(metrics)
    assert metrics["pearson"] > 0.5
    assert len(metrics["per_prompt"]) == 2


def test_score_files_and_stdin(model_dir, tmp_path, capsys, monkeypatch):
    essay = tmp_path / "essay.txt"
    essay.write_text("나는 커서 선생님이 되고 싶다. 그래서 매일 책을 읽는다.\n", encoding="utf-8")
    assert main(["essay", "score", "--model", str(model_dir), "--prompt-id", "0", "--json",
                 str(essay)]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert 0 <= result["score"] <= 30 and isinstance(result["integer"], int)
    assert set(result["criteria"]) == {"organisation", "content", "expression"}
    assert result["prompt"] == "미래의 나의 모습"
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(essay.read_bytes())))
    assert main(["essay", "score", "--model", str(model_dir), "-"]) == 0
    assert "/ 30" in capsys.readouterr().out


def test_prompts_lists_the_training_prompts(model_dir, capsys):
    assert main(["essay", "prompts", "--model", str(model_dir)]) == 0
    expected = ["글짓기:", "  0: 미래의 나의 모습", "  1: 소중함을 잃었던 경험"]
    assert capsys.readouterr().out.splitlines() == expected


def test_bad_input_gives_clear_errors(model_dir, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n  \n", encoding="utf-8")
    assert main(["essay", "score", "--model", str(model_dir), str(empty)]) == 1
    assert "empty.txt: the essay is empty" in capsys.readouterr().err

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    assert main(["essay", "score", "--model", str(model_dir), str(latin1)]) == 1
    assert "latin1.txt: not UTF-8" in capsys.readouterr().err

    missing = tmp_path / "nowhere" / "model.npz"
    assert main(["essay", "score", "--model", str(missing), str(empty)]) == 1
    assert "no such model file" in capsys.readouterr().err

    not_a_model = tmp_path / "junk.npz"
    not_a_model.write_bytes(b"not a zip")
    assert main(["essay", "prompts", "--model", str(not_a_model)]) == 1
    assert "junk.npz" in capsys.readouterr().err

    assert main(["essay", "score", "--model", str(model_dir), "--prompt-id", "9",
                 str(empty)]) == 1
    assert "--prompt-id must lie in [0, 1]" in capsys.readouterr().err


def test_train_on_an_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert main(["essay", "train", "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "m"), "--quiet"]) == 1
    assert "no essays found" in capsys.readouterr().err


EXAMPLES = Path(__file__).parents[2] / "src" / "dlpy" / "essay" / "examples"


def test_bundled_model_loads_and_ranks_the_examples(capsys):
    from dlpy.essay.commands import BUNDLED_MODEL
    from dlpy.essay.data import CATEGORIES
    from dlpy.essay.scorer import load_scorer

    assert BUNDLED_MODEL.exists(), "the bundled model is missing"
    assert BUNDLED_MODEL.stat().st_size <= 30 * 1024 * 1024
    files = [str(EXAMPLES / f"{name}.txt") for name in ("good", "average", "poor")]
    assert main(["essay", "score", "--prompt", "미래의 나의 모습", "--json", *files]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    scores = [r["score"] for r in results]
    assert scores[0] > scores[1] > scores[2], scores
    assert all(r["milliseconds"] < 1000 for r in results)
    # the whole corpus: 50 prompts in the five categories, listed by category
    scorer = load_scorer(BUNDLED_MODEL)
    assert len(scorer.prompts) == 50 and scorer.info["trained_on"] == 38626
    by_category = scorer.prompts_by_category()
    assert set(by_category) == set(CATEGORIES)
    assert main(["essay", "prompts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("  ") for line in lines) == 50
    assert [line[:-1] for line in lines if not line.startswith("  ")] == sorted(CATEGORIES)


def test_cv_writes_json_and_fold_seed_picks_the_folds(corpus_dir, tmp_path, capsys):
    def run(fold_seed, name):
        out = tmp_path / name
        assert main(["essay", "cv", "--data", str(corpus_dir), "--folds", "3", "--fold-seed",
                     str(fold_seed), "--folds-by", "essay", "--json", str(out), *FAST]) == 0
        return json.loads(out.read_text(encoding="utf-8"))

    first, again, other = run(0, "a.json"), run(0, "b.json"), run(1, "c.json")
    printed = capsys.readouterr().out
    assert "3-fold CV (essaynet, 24 essays, folds by essay): RMSE" in printed
    assert "residual (prediction - score) by score band" in printed and "per category" in printed
    assert first["n"] == 24 and len(first["predictions"]) == 24 and len(first["folds"]) == 3
    assert first["predictions"] == again["predictions"]  # seeded: the same run twice
    assert first["predictions"] != other["predictions"]  # another fold seed, other folds
    assert first["folds_by"] == "essay" and first["batches"] == 2  # one run of ids per prompt


def test_cv_keeps_batches_whole_by_default(corpus_dir, tmp_path, capsys):
    out = tmp_path / "batch.json"
    # the fixture numbers each prompt's essays consecutively: gap 0 makes every essay a batch
    assert main(["essay", "cv", "--data", str(corpus_dir), "--folds", "3",
                 "--batch-gap", "0", "--json", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "folds by collection batch (gap 0) and duplicate text" in printed
    assert "r within batches" in printed
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["batches"] == 24 and len(result["fold_of"]) == 24
    # with the default gap each prompt is one batch: two batches cannot fill three folds
    assert main(["essay", "cv", "--data", str(corpus_dir), "--folds", "3", *FAST]) == 1
    assert "2 groups cannot fill 3 folds" in capsys.readouterr().err


def test_evaluate_writes_one_prediction_line_per_essay(model_dir, corpus_dir, tmp_path, capsys):
    out = tmp_path / "predictions.jsonl"
    assert main(["essay", "evaluate", "--model", str(model_dir), "--data", str(corpus_dir),
                 "--predictions", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "wrote 24 predictions" in printed.out
    assert "24 of 24 essays were in the model's training data" in printed.err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 24 and len({r["id"] for r in rows}) == 24
    assert set(rows[0]) == {"id", "category", "prompt", "score", "prediction", "criteria"}
    assert rows[0]["category"] == "글짓기" and set(rows[0]["criteria"]) == {
        "organisation", "content", "expression"}
    assert all(0 <= r["prediction"] <= 30 and 0 <= r["score"] <= 30 for r in rows)


def test_training_refuses_zero_epochs_and_a_cut_model_names_the_file(corpus_dir, model_dir,
                                                                     tmp_path, capsys):
    assert main(["essay", "train", "--data", str(corpus_dir), "--out", str(tmp_path / "m"),
                 *FAST, "--epochs", "0"]) == 1
    assert "epochs must be at least 1, got 0" in capsys.readouterr().err
    cut = tmp_path / "cut.npz"
    data = (model_dir / "model.npz").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    assert main(["essay", "prompts", "--model", str(cut)]) == 1
    err = capsys.readouterr().err
    assert f"{cut}: not a readable model file" in err and "Traceback" not in err


def test_config_fields_become_options_with_help_and_defaults(capsys):
    from dataclasses import fields

    from dlpy.essay.config import EssayConfig

    with pytest.raises(SystemExit):
        main(["essay", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in fields(EssayConfig):
        assert "--" + f.name.replace("_", "-") in text
    assert "ridge penalty on the per-category (and per-prompt) n-gram" in text
    assert f"(default: {EssayConfig().l2_group})" in text
    assert "0.05 for --family seed" in text


def test_preset_aihub_is_the_bundled_recipe_and_given_options_win(corpus_dir, tmp_path, capsys):
    import argparse

    from dlpy.essay.config import PRESETS, EssayConfig, add_config_arguments, config_from_args
    from dlpy.essay.scorer import load_scorer

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    config = config_from_args(parser.parse_args(["--preset", "aihub", "--lr", "1e-3"]))
    assert (config.balance, config.refit, config.prompt_copies, config.ema) == (0.5, True, True,
                                                                             0.99)
    assert (config.max_char_ngrams, config.spacing_features, config.lr) == (60000, False, 1e-3)
    assert config_from_args(parser.parse_args([])) == EssayConfig()
    assert config_from_args(parser.parse_args(["--preset", "aihub"])) \
        == EssayConfig(**PRESETS["aihub"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--preset", "nope"])
    with pytest.raises(SystemExit):
        main(["essay", "train", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps inside options
    assert "aihub:--epochs3--patience1--lr0.0005--no-spacing-features--balance0.5--refit" \
           "--prompt-copies--ema0.99--max-char-ngrams60000--max-morpheme-ngrams60000" \
           in help_text
    # a whole run from the preset, the fixture's sizes given beside it
    out = tmp_path / "preset"
    assert main(["essay", "train", "--data", str(corpus_dir), "--out", str(out), "--preset",
                 "aihub", *FAST]) == 0
    saved = load_scorer(out).config
    assert (saved.refit, saved.prompt_copies, saved.ema, saved.balance, saved.epochs) \
        == (True, True, 0.99, 0.5, 3)
    assert saved.max_char_ngrams == 400  # FAST's, given after the preset


def test_settings_missing_from_an_older_model_take_their_older_value(monkeypatch):
    from dlpy.essay import config as config_module

    monkeypatch.setitem(config_module.ADDED_LATER, "balance", 0.25)
    assert config_module.EssayConfig.from_dict({"family": "essaynet"}).balance == 0.25
    assert config_module.EssayConfig.from_dict({"balance": 0.0}).balance == 0.0
