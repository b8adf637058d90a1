"""`dlpy mnist train` / `evaluate` end to end on a tiny MNIST-shaped set the test writes."""

import gzip
import json

import numpy as np
import pytest

from dlpy.cli import main
from dlpy.data import mnist as mnist_module


def write_learnable_set(folder, make_idx, n_train=240, n_test=60):
    """Digit k is a bright 4x4 square at a position that depends on k, plus noise."""
    rng = np.random.default_rng(0)

    def make(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            row, col = 2 + 6 * (k // 4), 2 + 6 * (k % 4)
            images[i, row:row + 4, col:col + 4] = 250
        return images, labels

    (train_images, train_labels), (test_images, test_labels) = make(n_train), make(n_test)
    arrays = {"train_images": train_images, "train_labels": train_labels,
              "test_images": test_images, "test_labels": test_labels}
    for key, (stem, _) in mnist_module.FILES.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(make_idx(arrays[key])))


def test_train_then_evaluate(tmp_path, capsys, make_idx):
    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    write_learnable_set(data, make_idx)
    code = main(["mnist", "train", "--data-dir", str(data), "--no-download", "--epochs", "3",
                 "--batch-size", "10", "--out", str(out), "--no-progress", "--seed", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch 3/3: train loss" in printed and "validation loss" in printed
    assert {p.name for p in out.iterdir()} == {"checkpoint.npz", "metrics.json", "curves.png"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["split"] == {"train": 200, "validation": 40, "test": 60}
    assert metrics["config"]["optimizer"] == "sgd" and metrics["config"]["model"]["hidden"] == 128
    assert [r["epoch"] for r in metrics["epochs"]] == [1, 2, 3]
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    assert metrics["test_accuracy"] >= 0.9

    assert main(["mnist", "evaluate", "--model", str(out), "--data-dir", str(data)]) == 0
    printed = capsys.readouterr().out
    assert f"test accuracy: {metrics['test_accuracy']:.2%}" in printed
    assert "trained 3 epochs with sgd" in printed


def test_train_cnn_with_adam_and_step_schedule(tmp_path, capsys, make_idx):
    data, out = tmp_path / "data", tmp_path / "cnn"
    data.mkdir()
    write_learnable_set(data, make_idx, n_train=60, n_test=20)
    code = main(["mnist", "train", "--data-dir", str(data), "--no-download", "--model", "cnn",
                 "--epochs", "3", "--batch-size", "25", "--schedule", "step", "--out", str(out),
                 "--no-progress", "--no-plot"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["optimizer"] == "adam"
    assert [r["lr"] for r in metrics["epochs"]] == pytest.approx([1e-3, 1e-3, 1e-4])
    assert not (out / "curves.png").exists()


def test_missing_data_gives_a_clear_error(tmp_path, capsys):
    code = main(["mnist", "train", "--data-dir", str(tmp_path / "none"), "--no-download"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"in {tmp_path / 'none'} or pass --data-dir" in err


def test_evaluate_without_a_checkpoint(tmp_path, capsys):
    assert main(["mnist", "evaluate", "--model", str(tmp_path)]) == 1
    assert "checkpoint.npz: no such checkpoint file" in capsys.readouterr().err


def test_missing_matplotlib_skips_the_plot_with_a_message(tmp_path, capsys, make_idx,
                                                           monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    write_learnable_set(data, make_idx, n_train=60, n_test=10)
    assert main(["mnist", "train", "--data-dir", str(data), "--epochs", "1", "--out", str(out),
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "curves.png skipped: plot_curves: matplotlib is not installed; install it with " \
           "pip install 'dlpy[plot]'" in captured.err
    assert "wrote checkpoint.npz, metrics.json to" in captured.out
