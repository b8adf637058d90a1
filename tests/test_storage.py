"""Storages (dlpy/storage.py): x.untyped_storage() / x.storage() share the tensor's memory,
set_ over a storage, frombuffer's refusals."""

import numpy as np
import pytest

import dlpy


def test_untyped_storage_writes_reach_the_tensor_and_its_views():
    x = dlpy.tensor([1, 2, 3], dtype=dlpy.uint8)
    storage = x[1:].untyped_storage()
    storage[2] = 9
    assert x.tolist() == [1, 2, 9]
    assert storage.data_ptr() == x.data_ptr() and storage.nbytes() == 3


def test_typed_storage_reads_elements_of_the_dtype():
    x = dlpy.arange(6.0).view(2, 3)[1]
    storage = x.storage()
    assert (storage.size(), storage.element_size(), storage.tolist()) == (
        6, 4, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    storage[0] = 7.0
    assert x._base.view(6).tolist()[0] == 7.0
    assert repr(dlpy.tensor([1.0, 2.5]).storage()).startswith(" 1.0\n 2.5\n[TypedStorage")


def test_set_over_a_storage_shares_memory():
    a = dlpy.arange(6.0)
    b = dlpy.empty(0)
    b.set_(a.untyped_storage(), 1, (2, 2), (2, 1))
    assert b.tolist() == [[1.0, 2.0], [3.0, 4.0]] and b.storage_offset() == 1
    b[0, 0] = -1.0
    assert a.tolist()[1] == -1.0
    with pytest.raises(RuntimeError, match="reach past"):
        dlpy.empty(0).set_(a.untyped_storage(), 4, (3,))


def test_untyped_storage_resize_keeps_bytes_and_pads_zeros():
    storage = dlpy.tensor([1, 2], dtype=dlpy.uint8).untyped_storage()
    assert storage.resize_(4).tolist() == [1, 2, 0, 0]
    assert dlpy.UntypedStorage(3).tolist() == [0, 0, 0]


def test_frombuffer_refuses_empty_and_out_of_range_offsets():
    with pytest.raises(ValueError, match="must not be 0"):
        dlpy.frombuffer(bytearray(0), dtype=dlpy.uint8)
    with pytest.raises(ValueError, match="must not be 0"):
        dlpy.frombuffer(bytearray(4), dtype=dlpy.uint8, count=0)
    with pytest.raises(ValueError, match="offset"):
        dlpy.frombuffer(bytearray(4), dtype=dlpy.uint8, offset=4)


def test_frombuffer_storage_starts_at_offset():
    buffer = bytearray(8)
    t = dlpy.frombuffer(buffer, dtype=dlpy.uint8, offset=3)
    assert (t.storage_offset(), t.untyped_storage().nbytes()) == (0, 5)
    t.add_(1)
    assert list(buffer) == [0, 0, 0, 1, 1, 1, 1, 1]
    assert np.shares_memory(t.numpy(), np.frombuffer(buffer, np.uint8))


def test_getsizeof_counts_the_memory():
    """sys.getsizeof of a storage counts its bytes, as torch's (torchinfo's input size)."""
    import sys

    x = dlpy.zeros(10)
    assert sys.getsizeof(x.untyped_storage()) - sys.getsizeof(dlpy.zeros(0).untyped_storage()) \
        == 40
    assert sys.getsizeof(x.storage()) - sys.getsizeof(dlpy.zeros(0).storage()) == 40


def test_untyped_storage_from_file(tmp_path):
    """UntypedStorage.from_file maps a file's first bytes (safetensors loads through it):
    private by default (writes never reach the file), shared ones do; too many bytes refused."""
    path = tmp_path / "bytes.bin"
    path.write_bytes(bytes(range(8)))
    private = dlpy.UntypedStorage.from_file(str(path), False, 6)
    assert private.nbytes() == 6 and private.tolist() == [0, 1, 2, 3, 4, 5]
    t = dlpy.asarray(private, dtype=dlpy.uint8).view(dtype=dlpy.int16)
    assert t.tolist() == [256, 770, 1284]
    private[0] = 9
    assert path.read_bytes()[0] == 0
    shared = dlpy.UntypedStorage.from_file(str(path), shared=True, nbytes=8)
    shared[1] = 7
    del shared
    assert path.read_bytes()[:2] == bytes([0, 7])
    assert dlpy.UntypedStorage.from_file(str(path), False, 0).nbytes() == 0
    with pytest.raises(RuntimeError, match="unable to mmap 9 bytes"):
        dlpy.UntypedStorage.from_file(str(path), False, 9)


def test_asarray_of_untyped_storage_reads_its_bytes_as_dtype():
    """torch.asarray / as_tensor / tensor of a storage: its memory read as the dtype, shared
    (as torch's), whole elements only; no dtype: int64 (torch infers it from byte values)."""
    t = dlpy.arange(4, dtype=dlpy.float64)
    storage = t.untyped_storage()
    a = dlpy.asarray(storage, dtype=dlpy.float64)
    assert a.dtype == dlpy.float64 and a.tolist() == [0.0, 1.0, 2.0, 3.0]
    a[0] = 5.0
    assert t[0].item() == 5.0  # shared
    assert dlpy.asarray(storage).dtype == dlpy.int64 and dlpy.asarray(storage).shape == (4,)
    assert dlpy.asarray(dlpy.UntypedStorage(5), dtype=dlpy.int16).shape == (2,)
    assert dlpy.asarray(dlpy.UntypedStorage(0)).dtype == dlpy.get_default_dtype()
    b = dlpy.asarray(storage, dtype=dlpy.uint8)
    assert b.shape == (32,) and b[8:16].tolist() == list(np.float64(1.0).tobytes())
    copied = dlpy.asarray(storage, dtype=dlpy.float64, copy=True)
    copied[1] = -1.0
    assert t[1].item() == 1.0
    with pytest.raises(ValueError):
        dlpy.asarray(storage, dtype=dlpy.float64, copy=False)  # torch's refusal
    c = dlpy.as_tensor(storage, dtype=dlpy.float64)
    d = dlpy.tensor(storage, dtype=dlpy.float64)
    c[2] = 7.0
    assert d[2].item() == 7.0 and t[2].item() == 7.0  # both share it, as torch's


def test_tensor_of_typed_storage_keeps_its_dtype():
    """A TypedStorage gives its own dtype; another dtype is torch's RuntimeError."""
    t = dlpy.arange(3, dtype=dlpy.float32)
    assert dlpy.asarray(t.storage()).dtype == dlpy.float32
    assert dlpy.tensor(t.storage()).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(RuntimeError, match="Expected a Storage of type Double"):
        dlpy.asarray(t.storage(), dtype=dlpy.float64)


def test_asarray_of_a_file_storage_slice(tmp_path):
    """safetensors' loading path: UntypedStorage.from_file, a byte slice, asarray as uint8,
    then a view as the tensor's dtype."""
    path = tmp_path / "data.bin"
    values = np.arange(6, dtype=np.float64)
    path.write_bytes(b"head" + values.tobytes())
    storage = dlpy.UntypedStorage.from_file(str(path), shared=False, nbytes=4 + values.nbytes)
    raw = dlpy.asarray(storage[4:], dtype=dlpy.uint8)
    assert raw.shape == (48,)
    assert raw.view(dlpy.float64).tolist() == values.tolist()


def test_getsizeof_of_storage_matches_torch():
    """sys.getsizeof(UntypedStorage): 64 bytes plus the memory, torch's numbers (torchinfo's
    total_input)."""
    import sys

    assert sys.getsizeof(dlpy.UntypedStorage(0)) == 64
    assert sys.getsizeof(dlpy.zeros(4, dtype=dlpy.float64).untyped_storage()) == 96
