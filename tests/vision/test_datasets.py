"""dlpy.vision.datasets on tiny datasets written into tmp_path in each format: class folders
(.npy and PNG), MNIST / FashionMNIST IDX files, CIFAR10 / CIFAR100 pickle batches; FakeData;
transforms, DataLoader batching, and errors (missing files, download=True, no pillow)."""

import builtins
import gzip
import pickle

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.data import DataLoader
from dlpy.vision import datasets as D
from dlpy.vision import transforms as T


def _write_idx(path, array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(s).to_bytes(4, "big")
                                                         for s in array.shape)
    data = header + array.astype(">u1").tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def _mnist(root, name="MNIST", n=7, gz=True):
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    suffix = ".gz" if gz else ""
    _write_idx(raw / f"train-images-idx3-ubyte{suffix}", images)
    _write_idx(raw / f"train-labels-idx1-ubyte{suffix}", labels)
    _write_idx(raw / "t10k-images-idx3-ubyte", images[:3])
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels[:3])
    return images, labels


def test_mnist_reads_idx_files_and_batches(tmp_path):
    images, labels = _mnist(tmp_path)
    train = D.MNIST(tmp_path, transform=T.ToTensor())
    assert len(train) == 7 and train.targets.dtype == np.int64
    image, label = train[2]
    assert isinstance(image, Tensor) and image.shape == (1, 28, 28) and label == labels[2]
    np.testing.assert_allclose(image.data[0], images[2] / 255, rtol=1e-6)
    test = D.MNIST(tmp_path, train=False, target_transform=lambda y: y + 100)
    assert len(test) == 3 and test[1][1] == labels[1] + 100
    np.testing.assert_array_equal(test[1][0], images[1])
    x, y = next(iter(DataLoader(train, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and list(y) == list(labels[:4])
    assert isinstance(y, Tensor) and y.dtype == np.int64  # torch collates int labels to a tensor
    assert train.class_to_idx["3 - three"] == 3
    # torchvision's data and targets are tensors: (N, 28, 28) uint8, (N,) int64
    assert isinstance(train.data, Tensor) and train.data.dtype == np.uint8
    assert train.data.shape == (7, 28, 28) and isinstance(train.targets, Tensor)
    np.testing.assert_array_equal((train.data.float() / 255).numpy(), images / np.float32(255))
    assert train.targets.tolist() == labels.tolist()
    assert train.raw_folder == str(tmp_path / "MNIST" / "raw")


def test_fashion_mnist_uses_its_folder_and_classes(tmp_path):
    _mnist(tmp_path, "FashionMNIST", n=4, gz=False)
    data = D.FashionMNIST(tmp_path)
    assert len(data) == 4 and data.classes[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError, match=r"MNIST: train-images-idx3-ubyte\(.gz\) and "
                                                r"train-labels-idx1-ubyte\(.gz\) not found in"):
        D.MNIST(tmp_path)


def _cifar(root, folder, names, labels_key, meta, n=5, classes=10):
    base = root / folder
    base.mkdir()
    rng = np.random.default_rng(1)
    written = []
    for name in names:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, classes, n).tolist()
        with open(base / name, "wb") as f:
            pickle.dump({"data": data, labels_key: labels, "batch_label": name}, f)
        written.append((data, labels))
    with open(base / meta[0], "wb") as f:
        pickle.dump({meta[1]: [f"class{i}" for i in range(classes)]}, f)
    return written


def test_cifar10_reads_pickle_batches(tmp_path):
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = _cifar(tmp_path, "cifar-10-batches-py", names, "labels",
                     ("batches.meta", "label_names"))
    train = D.CIFAR10(tmp_path, transform=T.Compose([T.ToTensor(), T.RandomHorizontalFlip(0)]))
    assert len(train) == 25 and train.classes[3] == "class3"
    image, label = train[6]  # the second batch's second image
    data, labels = written[1]
    assert label == labels[1] and image.shape == (3, 32, 32)
    np.testing.assert_allclose(image.data, data[1].reshape(3, 32, 32) / 255, rtol=1e-6)
    test = D.CIFAR10(tmp_path, train=False)
    assert len(test) == 5 and test[0][0].shape == (32, 32, 3) and test[0][0].dtype == np.uint8
    np.testing.assert_array_equal(test[0][0], written[5][0][0].reshape(3, 32, 32)
                                  .transpose(1, 2, 0))
    x, y = next(iter(DataLoader(train, batch_size=10)))
    assert x.shape == (10, 3, 32, 32) and y.shape == (10,)


def test_cifar100_fine_labels(tmp_path):
    written = _cifar(tmp_path, "cifar-100-python", ["train", "test"], "fine_labels",
                     ("meta", "fine_label_names"), n=3, classes=100)
    data = D.CIFAR100(tmp_path, train=False)
    assert len(data) == 3 and len(data.classes) == 100 and data[2][1] == written[1][1][2]
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"cifar-100-python/train: not a CIFAR pickle batch"):
        D.CIFAR100(tmp_path)


def test_download_is_refused_and_missing_files_named(tmp_path):
    with pytest.raises(ValueError, match=r"MNIST: download=True is not supported .*put "
                                         r"train-images-idx3-ubyte"):
        D.MNIST(tmp_path, download=True)
    with pytest.raises(ValueError, match=r"CIFAR10: download=True is not supported"):
        D.CIFAR10(tmp_path, download=True)
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py/data_batch_1 not found"):
        D.CIFAR10(tmp_path)


def _folder(root):
    rng = np.random.default_rng(2)
    arrays = {}
    for name in ("dog", "cat"):
        (root / name / "sub").mkdir(parents=True)
        for i in range(3):
            arrays[(name, i)] = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
            where = root / name / ("sub" if i == 2 else "") / f"{i}.npy"
            np.save(where, arrays[(name, i)])
        (root / name / "notes.txt").write_text("not an image")
    return arrays


def test_image_folder_of_npy_images(tmp_path):
    arrays = _folder(tmp_path)
    data = D.ImageFolder(tmp_path, transform=T.ToTensor())
    assert data.classes == ["cat", "dog"] and data.class_to_idx == {"cat": 0, "dog": 1}
    assert len(data) == 6 and data.targets == [0, 0, 0, 1, 1, 1]
    image, label = data[4]
    assert label == 1 and image.shape == (3, 4, 5)
    np.testing.assert_allclose(image.data, arrays[("dog", 1)].transpose(2, 0, 1) / 255,
                               rtol=1e-6)
    assert data.samples[2][0].endswith("sub/2.npy")
    x, y = next(iter(DataLoader(data, batch_size=6, shuffle=False)))
    assert x.shape == (6, 3, 4, 5) and y.tolist() == [0, 0, 0, 1, 1, 1]
    texts = D.DatasetFolder(tmp_path, loader=lambda p: open(p).read(), extensions=(".txt",))
    assert len(texts) == 2 and texts[1] == ("not an image", 1)
    only_first = D.ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith("0.npy"))
    assert len(only_first) == 2


def test_image_folder_png_with_and_without_pillow(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    (tmp_path / "a").mkdir()
    pixels = np.random.default_rng(3).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a" / "x.png")
    image, label = D.ImageFolder(tmp_path)[0]
    assert isinstance(image, Image.Image) and label == 0
    np.testing.assert_array_equal(np.asarray(image), pixels)
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no pillow here")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(ImportError, match=r"x.png: reading this image needs pillow"):
        D.ImageFolder(tmp_path)[0]


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="find_classes: .* is not a folder"):
        D.ImageFolder(tmp_path / "missing")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no valid file .* in the class folders "
                                                r"\['empty_class'\]"):
        D.ImageFolder(tmp_path)
    assert len(D.ImageFolder(tmp_path, allow_empty=True)) == 0


def test_fake_data_is_repeatable():
    data = D.FakeData(size=5, image_size=(3, 6, 4), num_classes=3, transform=T.ToTensor())
    image, label = data[3]
    assert image.shape == (3, 6, 4) and 0 <= label < 3
    np.testing.assert_array_equal(image.data, data[3][0].data)
    assert not np.array_equal(image.data, data[2][0].data)
    shifted = D.FakeData(size=5, image_size=(3, 6, 4), random_offset=1, transform=T.ToTensor())
    np.testing.assert_array_equal(shifted[2][0].data, image.data)
    labels = [D.FakeData(size=300, num_classes=3, image_size=(1, 2, 2))[i][1] for i in range(300)]
    assert set(labels) == {0, 1, 2}
    with pytest.raises(IndexError, match="FakeData: index 5 out of range for 5 items"):
        data[5]
    x, y = next(iter(DataLoader(data, batch_size=5)))
    assert x.shape == (5, 3, 6, 4) and y.shape == (5,)
