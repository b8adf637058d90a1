"""load(mmap=True) maps the checkpoint's storages from the file instead of reading them."""

import mmap
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import dlpy
from dlpy.serialization import get_default_mmap_options, set_default_mmap_options
from dlpy.utils.serialization import config


def _mapped(tensor) -> bool:
    array = tensor.data
    while array is not None and not isinstance(array, np.memmap):
        # (a mapped storage is seen through a memoryview of the mapping)
        array = array.obj if isinstance(array, memoryview) else getattr(array, "base", None)
    return array is not None


def _peak_traced(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_mapped_load_reads_no_storage_into_memory(tmp_path):
    path = tmp_path / "big.pt"
    weight = dlpy.randn(1024, 2048)  # 8 MiB
    dlpy.save({"w": weight, "b": dlpy.arange(7)}, path)
    read = _peak_traced(lambda: dlpy.load(path))
    mapped = _peak_traced(lambda: dlpy.load(path, mmap=True))
    assert read > 8 << 20 and mapped < 1 << 20, (read, mapped)
    back = dlpy.load(path, mmap=True)
    assert _mapped(back["w"]) and _mapped(back["b"])
    assert np.array_equal(back["w"].numpy(), weight.numpy())
    assert back["w"].data.flags.aligned  # the storage starts at a multiple of 64 in the file
    assert not _mapped(dlpy.load(path)["w"])


def test_private_mapping_keeps_the_file_and_shared_writes_it(tmp_path):
    path = tmp_path / "m.pt"
    dlpy.save(dlpy.arange(4.0), path)
    x = dlpy.load(path, mmap=True)
    x[0] = 7.0  # private: copy on write
    assert x.tolist() == [7.0, 1.0, 2.0, 3.0]
    assert dlpy.load(path).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert get_default_mmap_options() == mmap.MAP_PRIVATE
    with set_default_mmap_options(mmap.MAP_SHARED):
        assert get_default_mmap_options() == mmap.MAP_SHARED
        y = dlpy.load(path, mmap=True)
    assert get_default_mmap_options() == mmap.MAP_PRIVATE  # back after the block
    y[2] = -5.0
    del y
    assert dlpy.load(path).tolist() == [0.0, 1.0, -5.0, 3.0]
    with pytest.raises(ValueError, match="MAP_PRIVATE or mmap.MAP_SHARED"):
        set_default_mmap_options(12345)


def test_views_of_one_storage_stay_views_of_one_mapping(tmp_path):
    path = tmp_path / "v.pt"
    w = dlpy.arange(6.0)
    dlpy.save({"w": w, "v": w.view(2, 3)}, path)
    back = dlpy.load(path, mmap=True)
    back["w"][4] = -1.0
    assert back["v"].tolist() == [[0.0, 1.0, 2.0], [3.0, -1.0, 5.0]]


def test_config_mmap_is_the_default_and_still_wants_a_path(tmp_path):
    path = tmp_path / "c.pt"
    dlpy.save(dlpy.ones(3), path)
    assert config.load.mmap is False
    config.load.mmap = True
    try:
        assert _mapped(dlpy.load(path))
        with open(path, "rb") as handle, pytest.raises(ValueError, match="file path"):
            dlpy.load(handle)
    finally:
        config.load.mmap = False
    assert not _mapped(dlpy.load(path))


def test_a_compressed_member_is_read_and_a_damaged_header_named(tmp_path):
    path, other = tmp_path / "s.pt", tmp_path / "deflated.pt"
    dlpy.save({"w": dlpy.arange(6.0)}, path)
    with zipfile.ZipFile(path) as source, \
            zipfile.ZipFile(other, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info.filename))
    back = dlpy.load(other, mmap=True)
    assert back["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and not _mapped(back["w"])
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo("archive/data/0").header_offset
    raw[offset:offset + 4] = b"XXXX"  # the storage's local header, the central directory intact
    (tmp_path / "bad.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad\.pt: .*local header of member 'archive/data/0'"):
        dlpy.load(tmp_path / "bad.pt", mmap=True)


@pytest.mark.parametrize("alignment", [64, 4096])
def test_saved_storages_start_at_the_alignment(tmp_path, alignment):
    path = tmp_path / "a.pt"
    before = config.save.storage_alignment
    config.save.storage_alignment = alignment
    try:
        dlpy.save({"a": dlpy.ones(3), "b": dlpy.arange(5), "c": dlpy.zeros(2, 2)}, path)
    finally:
        config.save.storage_alignment = before
    with zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
        starts = []
        for info in archive.infolist():
            handle.seek(info.header_offset)
            names, extra = struct.unpack("<2H", handle.read(30)[26:30])
            starts.append(info.header_offset + 30 + names + extra)
        assert archive.testzip() is None
    assert len(starts) == 6 and all(start % alignment == 0 for start in starts)
    assert dlpy.load(path, mmap=True)["c"].tolist() == [[0.0, 0.0], [0.0, 0.0]]
