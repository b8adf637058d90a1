"""The MNIST IDX reader on small files the tests write (and corrupt ones), and the offline error.
No network: the download is pointed at a mirror that cannot answer."""

import gzip
import hashlib
import re

import numpy as np
import pytest

from dlpy.data import load_mnist, parse_idx, read_idx
from dlpy.data import mnist as mnist_module


@pytest.mark.parametrize("compress", [True, False])
def test_load_gz_or_raw(tmp_path, compress, write_mnist):
    written = write_mnist(tmp_path, compress=compress)
    loaded = load_mnist(tmp_path, download=False)
    assert set(loaded) == set(written)
    for key in written:
        assert loaded[key].dtype == np.uint8
        np.testing.assert_array_equal(loaded[key], written[key])


def test_read_idx_other_types(tmp_path, make_idx):
    values = np.arange(12, dtype=">i4").reshape(3, 4) - 5
    path = tmp_path / "ints.idx"
    path.write_bytes(make_idx(values, 0x0C))
    out = read_idx(path)
    np.testing.assert_array_equal(out, values)
    assert out.dtype == np.int32 and out.dtype.isnative
    floats = np.linspace(-1, 1, 5)
    np.testing.assert_array_equal(parse_idx(make_idx(floats, 0x0E)), floats)


def test_truncated_file_names_the_file(tmp_path, write_mnist):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: truncated: shape "
                                         r"\(6, 28, 28\) needs 4720 bytes, the file has 4620"):
        load_mnist(tmp_path, download=False)


def test_truncated_header(tmp_path):
    with pytest.raises(ValueError, match="x.idx: truncated IDX header: 8 bytes, expected 16"):
        parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 1]), "x.idx")
    with pytest.raises(ValueError, match="y.idx: truncated IDX file: 2 bytes"):
        parse_idx(b"\0\0", "y.idx")


def test_wrong_magic_names_the_file(tmp_path, write_mnist):
    write_mnist(tmp_path)
    # labels where images belong: a valid IDX file with the wrong magic number
    labels = (tmp_path / "train-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(labels)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: wrong magic number "
                                         r"0x00000801, expected 0x00000803 \(images\)"):
        load_mnist(tmp_path, download=False)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world")
    with pytest.raises(ValueError, match=r"notes.txt: not an IDX file: magic number 0x68656c6c"):
        read_idx(path)


def test_corrupt_gzip_names_the_file(tmp_path, write_mnist):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: cannot read"):
        load_mnist(tmp_path, download=False)


def test_count_mismatch_names_both_files(tmp_path, write_mnist, make_idx):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(make_idx(np.zeros(3, dtype=np.uint8))))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz has 4 images but .*"
                                         r"t10k-labels-idx1-ubyte.gz has 3 labels"):
        load_mnist(tmp_path, download=False)


def test_labels_out_of_range(tmp_path, write_mnist, make_idx):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(make_idx(np.array([0, 1, 2, 3, 4, 12], dtype=np.uint8))))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: labels must be 0-9, "
                                         "found 12"):
        load_mnist(tmp_path, download=False)


def test_missing_files_without_download_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"in {tmp_path} or pass --data-dir") as err:
        load_mnist(tmp_path, download=False)
    assert "train-images-idx3-ubyte.gz" in str(err.value)


def test_offline_download_error_names_the_folder(tmp_path, monkeypatch):
    # a mirror that refuses connections stands in for "no network"
    monkeypatch.setattr(mnist_module, "MIRRORS", ["http://127.0.0.1:9/"])
    with pytest.raises(RuntimeError, match=rf"download failed \(offline\?\)\. Put the four "
                                           rf"files .* in {tmp_path}"):
        load_mnist(tmp_path, download=True)


def test_download_verifies_the_checksum(tmp_path, monkeypatch, write_mnist, capsys):
    # a local "mirror" (file:// URLs) serving the tiny set: its checksums cannot match MNIST's
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_mnist(mirror)
    target = tmp_path / "cache"
    monkeypatch.setattr(mnist_module, "MIRRORS", [mirror.as_uri() + "/"])
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        load_mnist(target, download=True)
    assert not list(target.glob("*.gz"))  # nothing half-written is left behind

    # with the checksums of the tiny files, the same download succeeds
    files = {key: (stem, hashlib.sha256(gzip.decompress(
        (mirror / f"{stem}.gz").read_bytes())).hexdigest())
        for key, (stem, _) in mnist_module.FILES.items()}
    monkeypatch.setattr(mnist_module, "FILES", files)
    loaded = load_mnist(target, download=True, verify=True)
    assert loaded["train_images"].shape == (6, 28, 28)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{s}.gz" for s, _ in
                                                              files.values())
    # the package's progress helper counts the bytes (k/M prefixes), one bar per file, on stderr
    from tqdm import tqdm
    bars = capsys.readouterr().err
    for stem, _ in files.values():
        size = re.escape(tqdm.format_sizeof((mirror / f"{stem}.gz").stat().st_size))
        assert re.search(rf"downloading {stem}\.gz: 100%.*{size}/{size} .*B/s", bars), bars


def test_default_data_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DLPY_DATA", str(tmp_path))
    assert mnist_module.default_data_dir() == tmp_path / "mnist"
