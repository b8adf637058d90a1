import os
import stat

import numpy as np
import pytest

from dlpy.io import atomic_write, atomic_write_bytes
from dlpy.nn import load_npz, save_npz


def test_atomic_write_replaces_and_gives_normal_permissions(tmp_path):
    path = tmp_path / "sub" / "out.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(path.parent) == ["out.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    atomic_write_bytes(path, b"kept")
    with pytest.raises(RuntimeError, match="crash"), atomic_write(path) as f:
        f.write(b"half")
        raise RuntimeError("crash")
    assert path.read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_save_npz_round_trip_is_readable_by_others(tmp_path):
    path = tmp_path / "model.npz"
    save_npz(path, {"w": np.arange(3.0)})
    assert np.array_equal(load_npz(path)["w"], np.arange(3.0))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not a bare mkstemp's 0600
