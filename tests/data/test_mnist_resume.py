"""`dlpy mnist train`: --resume, an empty test set, a mistyped --data-dir, defaults in --help."""

import json

import numpy as np
import pytest

from dlpy import nn
from dlpy.cli import build_parser, main
from dlpy.data.mnist import load_mnist
from dlpy.data.mnist_train import train

from .conftest import write_set
from .test_commands import write_learnable_set

# errors are asserted as a non-zero exit: the code (2 today) belongs to cli.py
ARGS = ["--no-download", "--epochs", "3", "--batch-size", "20", "--no-progress", "--no-plot",
        "--seed", "2"]


class Interrupt(Exception):
    pass


def _killed_in(epoch):
    def log(message):
        if message.startswith(f"epoch {epoch}/"):
            raise Interrupt
    return log


def _weights(folder):
    return {k: v for k, v in np.load(folder / "checkpoint.npz").items() if k.startswith("param/")}


def test_resume_ends_as_if_never_interrupted(tmp_path, make_idx, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write_learnable_set(data, make_idx, n_train=120, n_test=30)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["mnist", "train", "--data-dir", str(data), "--out", str(straight), *ARGS]) == 0
    with pytest.raises(Interrupt):  # killed in epoch 3, before its checkpoint
        train(load_mnist(data, download=False), resumed, epochs=3, batch_size=20, seed=2,
              progress=False, log=_killed_in(3))
    assert nn.read_meta(resumed / "checkpoint.npz")["epoch"] == 2
    capsys.readouterr()
    assert main(["mnist", "train", "--data-dir", str(data), "--out", str(resumed), *ARGS,
                 "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "after epoch 2 of 3" in printed and "epoch 3/3" in printed and "epoch 2/3" not in printed
    for key, value in _weights(straight).items():
        np.testing.assert_array_equal(_weights(resumed)[key], value)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (straight, resumed))
    assert [r["train_loss"] for r in a["epochs"]] == [r["train_loss"] for r in b["epochs"]]
    assert a["test_accuracy"] == b["test_accuracy"]


def test_resume_refuses_other_settings_and_a_missing_checkpoint(tmp_path, make_idx, capsys):
    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    write_learnable_set(data, make_idx, n_train=60, n_test=20)
    common = ["mnist", "train", "--data-dir", str(data), "--out", str(out), *ARGS]
    assert main([*common, "--resume"]) != 0
    assert "checkpoint.npz: no checkpoint to resume" in capsys.readouterr().err
    assert main([*common, "--epochs", "1"]) == 0
    assert main([*common, "--epochs", "1", "--lr", "0.5", "--resume"]) != 0
    assert "cannot resume, this run differs from the checkpoint's in: lr (checkpoint 0.2, " \
           "now 0.5)" in capsys.readouterr().err
    write_learnable_set(data, make_idx, n_train=66, n_test=20)  # other data
    assert main([*common, "--epochs", "1", "--resume"]) != 0
    assert "data_sha256" in capsys.readouterr().err


def test_an_empty_test_set_is_an_error_before_training(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    write_set(data, n_train=60, n_test=0)
    assert main(["mnist", "train", "--data-dir", str(data), "--out", str(out), *ARGS]) != 0
    assert "the MNIST test set is empty: nothing to report test accuracy on" in \
        capsys.readouterr().err
    assert not out.exists()  # nothing trained, nothing written


def test_a_mistyped_data_dir_is_not_created(tmp_path, capsys):
    typo = tmp_path / "mnsit"
    code = main(["mnist", "train", "--data-dir", str(typo), "--out", str(tmp_path / "o")])
    assert code != 0 and not typo.exists()
    err = capsys.readouterr().err
    assert f"--data-dir {typo} does not exist" in err and "--download" in err
    with pytest.raises(SystemExit):  # one or the other
        build_parser().parse_args(["mnist", "train", "--download", "--no-download"])


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_shows_every_default(command, capsys):
    with pytest.raises(SystemExit):
        main(["mnist", command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in (["--epochs", "--batch-size", "--seed", "--schedule", "--model", "--threads"]
                   if command == "train" else ["--threads"]):
        part = text.split(option, 2)[-1].split(" --", 1)[0]
        assert "default" in part, (option, part)
    if command == "train":
        assert "--no-progress" in text
