"""Storages: the memory a tensor shares with its views, as torch's UntypedStorage (bytes) and
TypedStorage (``x.storage()``: elements of the tensor's dtype). Both wrap the numpy array that
owns the memory (the end of the tensor's ``.base`` chain); writes through them show in every
tensor over that memory."""
from __future__ import annotations

import copy
import io
import os

import numpy as np


class StorageSliceError(ValueError, RuntimeError):
    """A typed storage indexed with a slice (torch's RuntimeError)."""


class StorageFileError(ValueError, RuntimeError):
    """``UntypedStorage.from_file`` asked for more bytes than the file has (torch's
    RuntimeError)."""


# the size of torch's UntypedStorage object without its memory, as its ``__sizeof__`` counts it
# (64 with the 16 bytes ``sys.getsizeof`` adds for the garbage collector's header)
_STORAGE_OBJECT_BYTES = 48


class UntypedStorage:
    """The memory a tensor shares with its views, as bytes (``x.untyped_storage()``), or
    ``UntypedStorage(nbytes)``: new zeroed memory."""

    __slots__ = ("_buffer", "_holder")

    device = "cpu"
    is_cuda = False
    is_sparse = False

    def __init__(self, buffer=0):
        if isinstance(buffer, (int, np.integer)) and not isinstance(buffer, bool):
            buffer = np.zeros(int(buffer), np.uint8)
        elif not isinstance(buffer, np.ndarray):
            buffer = np.frombuffer(bytearray(bytes(buffer)), np.uint8)  # a sequence of bytes
        self._buffer = buffer

    @classmethod
    def from_file(cls, filename, shared: bool = False, nbytes: int = 0) -> UntypedStorage:
        """The first ``nbytes`` bytes of the file ``filename``, mapped into memory (torch's
        ``UntypedStorage.from_file``; safetensors loads through it): ``shared`` writes go to the
        file, else the mapping is private (copy on write: the file never changes). A file
        shorter than ``nbytes`` is torch's RuntimeError."""
        nbytes = int(nbytes)
        size = os.path.getsize(filename)
        if nbytes > size:
            raise StorageFileError(f"unable to mmap {nbytes} bytes from file <{filename}>: "
                                   f"the file has {size} bytes")
        if nbytes == 0:
            return cls(0)
        return cls(np.memmap(filename, np.uint8, "r+" if shared else "c", shape=(nbytes,)))

    def _bytes(self) -> np.ndarray:
        """The memory as a 1-D uint8 array sharing it."""
        buffer = self._buffer
        flat = buffer.reshape(-1) if buffer.flags.c_contiguous else np.ascontiguousarray(buffer)
        return flat.view(np.uint8)

    def nbytes(self) -> int:
        return self._buffer.nbytes

    size = nbytes
    __len__ = nbytes

    def __sizeof__(self) -> int:
        """The memory counts, as torch's: ``sys.getsizeof(x.untyped_storage())`` is 64 bytes
        (torch's storage object with CPython's garbage-collector header) plus ``nbytes()``
        (torchinfo's ``total_input`` sums it)."""
        return _STORAGE_OBJECT_BYTES + self.nbytes()

    def element_size(self) -> int:
        return 1

    def data_ptr(self) -> int:
        return self._buffer.__array_interface__["data"][0]

    def tolist(self) -> list:
        return self._bytes().tolist()

    def __getitem__(self, index):
        value = self._bytes()[index]
        return UntypedStorage(value.copy()) if isinstance(index, slice) else int(value)

    def __setitem__(self, index, value) -> None:
        self._bytes()[index] = value

    def fill_(self, value) -> UntypedStorage:
        self._bytes()[...] = value
        return self

    def copy_(self, source, non_blocking: bool = False) -> UntypedStorage:
        if source.nbytes() != self.nbytes():
            raise RuntimeError(f"copy_: expected a storage of {self.nbytes()} bytes, got "
                               f"{source.nbytes()}")
        self._bytes()[...] = source._bytes()
        return self

    def clone(self) -> UntypedStorage:
        return UntypedStorage(self._bytes().copy())

    def cpu(self) -> UntypedStorage:
        return self

    def resize_(self, size: int) -> UntypedStorage:
        """``size`` bytes: the old ones kept, zeros after them (new memory: tensors made before
        keep the old one)."""
        data = self._bytes()
        grown = np.zeros(int(size), np.uint8)
        grown[:min(size, data.size)] = data[:size]
        self._buffer = grown
        return self

    def is_shared(self) -> bool:
        from dlpy.tensor import _buffer
        from dlpy.torch_misc import _shared

        return any(_buffer(t.data) is self._buffer for t in list(_shared.values()))

    def share_memory_(self) -> UntypedStorage:
        from dlpy.tensor import Tensor
        from dlpy.torch_misc import _shared

        holder = Tensor(self._buffer)
        _shared[id(holder)] = holder
        self._holder = holder
        return self

    def is_pinned(self, device=None) -> bool:
        return False

    def untyped(self) -> UntypedStorage:
        return self

    def __repr__(self) -> str:
        values = "".join(f" {v}\n" for v in self.tolist())
        return f"{values}[UntypedStorage(device=cpu) of size {self.nbytes()}]"


class TypedStorage:
    """``x.storage()``: the tensor's memory as elements of its dtype (torch's deprecated
    TypedStorage)."""

    is_cuda = False
    device = "cpu"

    def __init__(self, untyped: UntypedStorage, dtype):
        self._untyped = untyped
        self.dtype = np.dtype(dtype)

    def _elements(self) -> np.ndarray:
        data = self._untyped._bytes()
        return data[:data.size - data.size % self.dtype.itemsize].view(self.dtype)

    def size(self) -> int:
        return self._untyped.nbytes() // self.dtype.itemsize

    __len__ = size

    def nbytes(self) -> int:
        return self.size() * self.dtype.itemsize

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + self.nbytes()  # the memory counts, as torch's

    def element_size(self) -> int:
        return self.dtype.itemsize

    def data_ptr(self) -> int:
        return self._untyped.data_ptr()

    def untyped(self) -> UntypedStorage:
        return self._untyped

    def tolist(self) -> list:
        return self._elements().tolist()

    def _index(self, index) -> int:
        """An element index (negative from the end): a slice is torch's RuntimeError, a place
        out of range an IndexError."""
        if isinstance(index, slice):
            raise StorageSliceError("slices are only supported in UntypedStorage.__getitem__")
        size = self.size()
        if not -size <= index < size:
            raise IndexError(f"index {index} out of range for storage of size {size}")
        return index % size

    def __getitem__(self, index):
        return self._elements()[self._index(index)].tolist()

    def __setitem__(self, index, value) -> None:
        self._elements()[self._index(index)] = value

    def __iter__(self):
        return iter(self.tolist())

    def fill_(self, value) -> TypedStorage:
        self._elements()[...] = value
        return self

    def is_shared(self) -> bool:
        return self._untyped.is_shared()

    def clone(self) -> TypedStorage:
        """A copy in new memory."""
        return TypedStorage(self._untyped.clone(), self.dtype)

    def copy_(self, source, non_blocking: bool = False) -> TypedStorage:
        """Copies ``source``'s elements (as many, converted to this dtype) in place."""
        values = np.asarray(source.tolist()) if isinstance(source, TypedStorage) else source
        self._elements()[...] = values
        return self

    def resize_(self, size: int) -> TypedStorage:
        """Resizes to ``size`` elements, keeping the first ones."""
        self._untyped.resize_(int(size) * self.dtype.itemsize)
        return self

    def cpu(self) -> TypedStorage:
        return self

    def __reduce__(self):
        # as torch pickles one: the bytes of its legacy-format save, loaded again by
        # ``_load_from_bytes`` (a pickle of torch's loads here too, under dlpy.compat)
        from dlpy.serialization import save

        buffer = io.BytesIO()
        save(self, buffer, _use_new_zipfile_serialization=False)
        return _load_from_bytes, (buffer.getvalue(),)

    def __deepcopy__(self, memo) -> TypedStorage:
        return TypedStorage(copy.deepcopy(self._untyped, memo), self.dtype)

    def _to(self, dtype) -> TypedStorage:
        values = self._elements().astype(dtype)
        return TypedStorage(UntypedStorage(values.view(np.uint8)), values.dtype)

    def type(self, dtype=None):
        """Without an argument the legacy type's name (``'torch.FloatStorage'``)."""
        from dlpy.legacy_misc import storage_type_of

        if dtype is None:
            return f"torch.{storage_type_of(self.dtype).__name__}"
        return self._to(getattr(dtype, "dtype", dtype))

    def double(self) -> TypedStorage:
        return self._to(np.float64)

    def float(self) -> TypedStorage:
        return self._to(np.float32)

    def half(self) -> TypedStorage:
        return self._to(np.float16)

    def long(self) -> TypedStorage:
        return self._to(np.int64)

    def int(self) -> TypedStorage:
        return self._to(np.int32)

    def short(self) -> TypedStorage:
        return self._to(np.int16)

    def char(self) -> TypedStorage:
        return self._to(np.int8)

    def byte(self) -> TypedStorage:
        return self._to(np.uint8)

    def bool(self) -> TypedStorage:
        return self._to(np.bool_)

    def __repr__(self) -> str:
        values = "".join(f" {v}\n" for v in self.tolist())
        return f"{values}[TypedStorage(dtype={self.dtype}, device=cpu) of size {self.size()}]"


class MetaStorage(UntypedStorage):
    """A meta tensor's storage: its size in bytes (torch's), no memory (the meta array's one
    element stands for it; its address is 0, as torch's)."""

    __slots__ = ("_nbytes",)

    device = "meta"

    def __init__(self, buffer, nbytes: int):
        super().__init__(buffer)
        self._nbytes = int(nbytes)

    def nbytes(self) -> int:
        return self._nbytes

    size = nbytes
    __len__ = nbytes

    def data_ptr(self) -> int:
        return 0


def _load_from_bytes(b: bytes) -> TypedStorage:
    """torch.storage._load_from_bytes: the storage a pickled storage holds (the bytes of a
    legacy-format ``save``), as ``pickle.loads`` of a torch tensor or storage calls it."""
    from dlpy.serialization import load

    return load(io.BytesIO(b), weights_only=False)


def untyped_storage(tensor) -> UntypedStorage:
    """The memory ``tensor`` views (a slice's is its base's; a meta tensor's its size alone)."""
    from dlpy.device import MetaArray
    from dlpy.tensor import _buffer

    buffer = _buffer(tensor.data)
    if type(tensor.data) is MetaArray:
        from dlpy.meta import storage_nbytes

        return MetaStorage(buffer, storage_nbytes(tensor.data))
    return UntypedStorage(buffer if isinstance(buffer, np.ndarray) else np.asarray(buffer))


def typed_storage(tensor) -> TypedStorage:
    """``x.storage()``: the memory ``tensor`` views, as elements of its dtype."""
    return TypedStorage(untyped_storage(tensor), tensor.dtype)


def view_storage(storage, dtype, storage_offset: int, size, stride) -> np.ndarray:
    """An array of ``dtype`` over ``storage``'s memory (sharing it): ``size`` / ``stride`` in
    elements from element ``storage_offset`` (None: the whole storage, 1-D)."""
    untyped = storage.untyped() if isinstance(storage, TypedStorage) else storage
    data = untyped._bytes()
    itemsize = np.dtype(dtype).itemsize
    elements = data[:data.size - data.size % itemsize].view(dtype)
    if size is None:
        return elements[storage_offset:]
    size = tuple(int(n) for n in size)
    if stride is None:
        stride = tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
    stride = tuple(int(s) for s in stride)
    if len(stride) != len(size):
        raise RuntimeError(f"set_: expected a stride of {len(size)} entries, got {stride}")
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) \
        else storage_offset
    if storage_offset < 0 or last >= elements.size and all(size):
        raise RuntimeError(f"set_: size {size}, stride {stride} and storage_offset "
                           f"{storage_offset} reach past the storage's {elements.size} "
                           f"elements")
    return np.lib.stride_tricks.as_strided(
        elements[storage_offset:], size, tuple(s * itemsize for s in stride))


class StorageDtypeError(ValueError, RuntimeError):
    """A typed storage given to a tensor constructor with another dtype (torch's
    RuntimeError)."""


def storage_elements(storage, dtype=None) -> np.ndarray:
    """The memory of ``storage`` as a 1-D array sharing it, as torch's tensor constructors
    (``torch.asarray`` / ``as_tensor`` / ``tensor``) read a storage: a TypedStorage's elements
    in its dtype (another ``dtype`` is torch's RuntimeError); an UntypedStorage's bytes viewed
    as ``dtype``, as many whole elements as fit (no ``dtype``: int64, the dtype torch infers
    from a sequence of byte values; an empty storage gives an empty tensor of the default
    dtype). Read as an array, not byte by byte (safetensors loads through this)."""
    from dlpy.tensor import _TORCH_DTYPE_NAMES, default_dtype

    if isinstance(storage, TypedStorage):
        if dtype is not None and np.dtype(dtype) != storage.dtype:
            names = _TORCH_DTYPE_NAMES
            raise StorageDtypeError(
                f"Expected a Storage of type {names.get(np.dtype(dtype).name, dtype)} or an "
                f"UntypedStorage, but got {names.get(storage.dtype.name, storage.dtype)}")
        dtype = storage.dtype
        storage = storage.untyped()
    elif dtype is None:
        dtype = np.int64 if storage.nbytes() else default_dtype(None)
    data = np.asarray(storage._bytes())  # (a memory-mapped file's bytes: a plain view of them)
    itemsize = np.dtype(dtype).itemsize
    return data[:data.size - data.size % itemsize].view(dtype)
