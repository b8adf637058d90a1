"""The vision programs of examples/pytorch (unchanged PyTorch code) run on dlpy through
dlpy.compat and learn: tiny settings, in-process, each printing a `RESULT {json}` line."""

import gzip
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import compat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pytorch"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(capsys, name: str, *args: str) -> dict:
    compat.run([str(EXAMPLES / name), *args])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{name} printed no RESULT line"
    return json.loads(lines[-1][len("RESULT "):])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])  # (width, height)


def test_mnist_cnn_learns_synthetic_digits_and_saves_a_state_dict(capsys, tmp_path):
    path = tmp_path / "mnist_cnn.pt"
    result = run_example(capsys, "mnist_cnn.py", "--train-size", "256", "--test-size", "100",
                         "--batch-size", "16", "--epochs", "1", "--save-model", str(path))
    assert result["steps"] == 16
    assert result["last_loss"] < result["first_loss"] - 0.2
    assert result["test_accuracy"] > 0.25  # chance: 0.1
    assert result["lr"] == pytest.approx(0.7)  # StepLR(gamma=0.7) stepped once
    state = dlpy.load(str(path))
    assert list(state) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                           "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert tuple(state["fc1.weight"].shape) == (128, 9216)


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> None:
    header = struct.pack(">HBB", 0, type_code, array.ndim)
    header += b"".join(struct.pack(">I", size) for size in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(">u1").tobytes())


def test_mnist_cnn_reads_torchvisions_mnist_layout(capsys, tmp_path):
    # torchvision.datasets.MNIST(root) reads root/MNIST/raw/<name>; dlpy's reads the .gz too
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 48), ("t10k", 32)):
        write_idx(raw / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz",
                  rng.integers(0, 10, count, dtype=np.uint8))
    result = run_example(capsys, "mnist_cnn.py", "--data-root", str(tmp_path), "--batch-size",
                         "16", "--max-batches", "2", "--test-batch-size", "16")
    assert result["steps"] == 2 and 0 <= result["test_accuracy"] <= 1
    assert np.isfinite(result["test_loss"])


def test_dcgan_discriminator_learns_and_generator_moves_towards_the_data(capsys, tmp_path):
    result = run_example(capsys, "dcgan.py", "--image-size", "16", "--ngf", "8", "--ndf", "8",
                         "--nz", "8", "--num-images", "512", "--batch-size", "32", "--epochs",
                         "2", "--steps", "24", "--lr", "0.001", "--seed", "1", "--outf",
                         str(tmp_path))
    assert result["steps"] == 24
    assert result["loss_D_last"] < result["loss_D_first"]
    assert result["D_x_last"] > 0.6 and result["D_x_last"] > result["D_G_z_last"]
    assert result["sample_gap_last"] < result["sample_gap_first"]
    assert result["grid_shape"] == [3, 74, 74]  # 16 samples, 4 a row, padding 2
    # 64 fixed-noise samples of 16x16, 8 a row with 2 pixels of padding: 8 * 18 + 2 = 146
    assert png_size(tmp_path / "fake_samples_epoch_000.png") == (146, 146)
    assert png_size(tmp_path / "real_samples.png") == (146, 74)  # a batch of 32: 4 rows
    # ConvTranspose2d (no bias), BatchNorm2d, ReLU twice, then ConvTranspose2d and Tanh
    batch_norm = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    assert list(dlpy.load(str(tmp_path / "netG_epoch_0.pth"))) == [
        "main.0.weight", *(f"main.1.{name}" for name in batch_norm), "main.3.weight",
        *(f"main.4.{name}" for name in batch_norm), "main.6.weight"]


def test_vae_learns_synthetic_strokes_and_saves_grids(capsys, tmp_path):
    result = run_example(capsys, "vae.py", "--train-size", "2048", "--test-size", "128",
                         "--epochs", "1", "--results", str(tmp_path))
    assert result["steps"] == 16
    assert result["last_loss"] < 0.85 * result["first_loss"]
    assert result["test_loss"] < result["first_loss"]
    assert 0 < result["sample_mean"] < 1
    # originals above reconstructions: 2 rows of 8; samples: 8 x 8 of 28x28 (30 * 8 + 2)
    assert png_size(tmp_path / "reconstruction_1.png") == (242, 62)
    assert png_size(tmp_path / "sample_1.png") == (242, 242)


def test_super_resolution_learns_and_saves_the_whole_model(capsys, tmp_path):
    path = tmp_path / "espcn.pth"
    result = run_example(capsys, "super_resolution.py", "--train-images", "128",
                         "--test-images", "16", "--batch-size", "16", "--epochs", "1",
                         "--crop-size", "16", "--seed", "1", "--save-model", str(path))
    assert result["steps"] == 8
    assert result["last_loss"] < 0.5 * result["first_loss"]
    assert result["psnr"] > result["psnr_start"] + 3
    # the whole module pickled (its class is the program's __main__.Net), in torch's zip format
    assert zipfile.is_zipfile(path) and any(name.endswith("data.pkl")
                                            for name in zipfile.ZipFile(path).namelist())


def test_unet_segments_shapes_with_a_k_dimensional_cross_entropy(capsys):
    # nn.CrossEntropyLoss on (N, C, H, W) logits and (N, H, W) labels, the classes on axis 1
    result = run_example(capsys, "unet_segmentation.py", "--size", "24", "--train-images", "128",
                 "--test-images", "32", "--epochs", "8", "--width", "6", "--lr", "1e-2",
                 "--seed", "1")
    assert result["last_loss"] < 0.5 * result["first_loss"], result
    assert result["iou"] > 0.5 > result["first_iou"] and result["accuracy"] > 0.85, result
