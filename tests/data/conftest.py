"""Helpers for the data tests: IDX files written by the tests themselves; the import path
that worker processes need."""

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from dlpy.data import mnist as mnist_module

# DataLoader workers started by spawn or forkserver unpickle the test datasets by the module
# name pytest gave them (data.worker_datasets, under --import-mode=importlib), with this
# process's sys.path: tests/ must be on it.
TESTS_DIR = str(Path(__file__).resolve().parents[1])
if TESTS_DIR not in sys.path:
    sys.path.append(TESTS_DIR)


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def make_idx():
    """make_idx(array, type_code=0x08) -> the bytes of an IDX file holding array."""
    return idx_bytes


def write_set(folder, n_train=6, n_test=4, compress=True, rng=None):
    """A tiny MNIST-shaped set in folder: returns the arrays written."""
    rng = rng or np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, (stem, _) in mnist_module.FILES.items():
        raw = idx_bytes(arrays[key])
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.fixture
def write_mnist():
    """write_mnist(folder, n_train=6, n_test=4, compress=True) -> the random arrays written as
    the four MNIST files in folder."""
    return write_set
