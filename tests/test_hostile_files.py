"""Hostile files are clear errors naming the file, never raw tracebacks or huge allocations."""

import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from dlpy import nn
from dlpy.io import atomic_write_bytes
from dlpy.text import load_vectors


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    nn.save_checkpoint(path, nn.Linear(20, 30, rng=np.random.default_rng(0)))
    return path


def test_cut_checkpoint_names_the_file(checkpoint, tmp_path):
    cut = tmp_path / "cut.npz"
    cut.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: not a readable \.npz checkpoint, the file "
                                         r"is cut or corrupted \(BadZipFile"):
        nn.load_checkpoint(cut, nn.Linear(20, 30))


def test_corrupted_checkpoint_names_the_file(checkpoint):
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the weights: the CRC check fails
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.npz: not a readable .*Bad CRC-32"):
        nn.load_checkpoint(checkpoint, nn.Linear(20, 30))
    with pytest.raises(ValueError, match=r"model\.npz: not a readable"):
        nn.read_meta(checkpoint)


def test_corrupted_metadata_names_the_file(tmp_path):
    path = tmp_path / "meta.npz"
    nn.save_npz(path, {"__meta__": np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(ValueError, match=r"meta\.npz: the checkpoint's metadata is corrupted"):
        nn.read_meta(path)


def test_vec_header_claiming_a_terabyte_is_not_allocated(tmp_path):
    path = tmp_path / "huge.vec"
    path.write_bytes(b"1000000000000 300\nword " + b"0 " * 299 + b"0\n")
    wv = load_vectors(path)  # would raise MemoryError if the header sized the allocation
    assert len(wv) == 1 and wv.dim == 300
    assert any("header says 1000000000000 rows, the file has 1" in p for p in wv.problems)


def test_vec_header_claiming_an_impossible_dimension(tmp_path):
    path = tmp_path / "wide.vec"
    path.write_bytes(b"2 999999999999\na 1 2\n")
    with pytest.raises(ValueError, match=r"wide\.vec:1: the header claims 999999999999 values "
                                         r"per row .* the whole file has 21 bytes"):
        load_vectors(path)


def test_bin_header_claiming_absurd_sizes(tmp_path):
    path = tmp_path / "huge.bin"
    path.write_bytes(b"999999999999 3\nw " + struct.pack("<3f", 1, 2, 3) + b"\n")
    wv = load_vectors(path)
    assert wv.words == ["w"] and wv.skipped == 1  # the missing records are reported, not fatal
    path.write_bytes(b"3 999999999999\nw \x00\x00")
    with pytest.raises(ValueError, match=r"huge\.bin:1: the header claims 999999999999 values"):
        load_vectors(path)


def test_headerless_vec_with_a_short_first_row(tmp_path):
    path = tmp_path / "glove.txt"
    rows = ["short 0.1"] + [f"w{i} {i} {i} {i}" for i in range(5)]
    path.write_text("\n".join(rows) + "\n")
    wv = load_vectors(path, binary=False)
    assert wv.dim == 3 and len(wv) == 5  # the rows decide, not the first one alone
    assert wv.skip_reasons == {"expected 3 values, got 1": 1}
    assert any("glove.txt:1: skipped" in p for p in wv.problems)


def test_dimension_mismatch_that_skips_every_row_is_an_error(tmp_path):
    path = tmp_path / "wrong.vec"
    path.write_text("3 5\na 1 2 3\nb 4 5 6\nc 7 8 9\n")
    with pytest.raises(ValueError, match=r"wrong\.vec: every row was skipped, no word kept "
                                         r"\(3 x expected 5 values, got 3\); is the dimension 5"):
        load_vectors(path)


def test_a_killed_writer_leaves_no_temporary_on_the_next_run(tmp_path):
    path = tmp_path / "ckpt.npz"
    # a writer that dies between creating its temporary and renaming it
    code = ("import os, sys; from dlpy.io import atomic_write\n"
            "with atomic_write(sys.argv[1]) as f:\n    f.write(b'half'); f.flush(); os._exit(9)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", code, str(path)], env=env).returncode == 9
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".ckpt.npz.") and stale[0].endswith(".tmp")
    old = tmp_path / ".ckpt.npz.legacy.tmp"  # an old-style name: removed once a day old
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    mine = tmp_path / f".ckpt.npz.{os.getpid()}.inflight.tmp"  # a live writer's: kept
    mine.write_bytes(b"x")
    atomic_write_bytes(path, b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "ckpt.npz"]
