"""The ``.metadata`` file of a checkpoint directory, in torch.distributed.checkpoint's format.

torch writes ``pickle.dump(Metadata(...))`` of its dataclasses; dlpy writes the same pickle
without torch (protocol 2 opcodes naming torch's classes, as ``dlpy.serialization`` writes
``torch.save``'s pickles) and reads one with an unpickler that builds only these classes, the
dtypes, ``torch.Size`` and paths: any other global is refused, nothing pickled is run.

    Metadata.state_dict_metadata   fqn -> TensorStorageMetadata (dtype, global size, chunks:
                                   boxes of offsets and sizes) or BytesStorageMetadata
    Metadata.storage_data          MetadataIndex(fqn, chunk offsets) -> StorageInfo (file,
                                   byte offset, byte length of that item's torch.save bytes)
    Metadata.planner_data          fqn -> its path in the nested state dict
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlpy.serialization import _DTYPES, UnpicklingError, _Pickler

__all__ = ["BytesStorageMetadata", "ChunkStorageMetadata", "Metadata", "MetadataIndex",
           "StorageInfo", "StorageMeta", "TensorProperties", "TensorStorageMetadata",
           "read_metadata", "write_metadata"]

_MODULE = "torch.distributed.checkpoint.metadata"
# (a string or None in _DTYPES: an ml_dtypes type, named as torch names it)
_NUMPY_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()
                if v is not None and not isinstance(v, str)}


@dataclass
class ChunkStorageMetadata:
    """One saved box of a tensor: ``offsets`` and ``sizes`` per dimension."""

    offsets: tuple[int, ...]
    sizes: tuple[int, ...]


@dataclass
class TensorProperties:
    """``dtype`` as torch's name ("float32"); the rest as torch writes it for a dense tensor."""

    dtype: str = "float32"
    layout: str = "torch.strided"
    requires_grad: bool = False
    memory_format: int = 0  # torch.contiguous_format
    pin_memory: bool = False

    def __setstate__(self, state: Any) -> None:  # torch pickles a tuple
        if isinstance(state, dict):
            self.__dict__.update(state)
            return
        (self.dtype, self.layout, self.requires_grad, self.memory_format,
         self.pin_memory) = state

    @property
    def numpy_dtype(self) -> np.dtype:
        np_dtype = _DTYPES.get(self.dtype, False)
        if np_dtype is False:
            raise ValueError(f"tensors of dtype torch.{self.dtype} are not supported")
        if np_dtype is None or isinstance(np_dtype, str):  # ml_dtypes' (else float32)
            try:
                import ml_dtypes

                return np.dtype(getattr(ml_dtypes, self.dtype))
            except (ImportError, AttributeError):
                return np.dtype(np.float32)
        return np.dtype(np_dtype)


@dataclass
class TensorStorageMetadata:
    properties: TensorProperties
    size: tuple[int, ...]
    chunks: list[ChunkStorageMetadata]


@dataclass
class BytesStorageMetadata:
    """A non-tensor value (a number, a string, a list...), saved with ``torch.save``."""


@dataclass
class StorageMeta:
    checkpoint_id: str | None = None
    save_id: str | None = None
    load_id: str | None = None
    modules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MetadataIndex:
    """The key of one saved item: the fqn and, for a tensor, its chunk's offsets."""

    fqn: str
    offset: tuple[int, ...] | None = None
    index: int | None = field(default=None, hash=False, compare=False)


@dataclass
class StorageInfo:
    """Where an item's bytes are: ``relative_path`` (a file of the directory), ``offset``,
    ``length`` (torch's ``_StorageInfo``)."""

    relative_path: str
    offset: int
    length: int
    transform_descriptors: Any = None

    def __setstate__(self, state: dict) -> None:  # torch leaves out the None fields
        self.transform_descriptors = None
        self.__dict__.update(state)


@dataclass
class Metadata:
    state_dict_metadata: dict[str, TensorStorageMetadata | BytesStorageMetadata]
    planner_data: Any = None
    storage_data: Any = None
    storage_meta: StorageMeta | None = None
    version: str | None = "1.0.0"


# ------------------------------------------------------------------------ writing
class _MetadataPickler(_Pickler):
    """dlpy.serialization's protocol 2 writer, plus the metadata classes under torch's names."""

    def _newobj(self, module: str, name: str, state: Any) -> None:
        self._global(module, name)
        self.out += pickle.EMPTY_TUPLE + pickle.NEWOBJ
        if state is not None:
            self._save(state)
            self.out += pickle.BUILD

    def _reduce(self, module: str, name: str, *args: Any) -> None:
        self._global(module, name)
        self._save(tuple(args))
        self.out += pickle.REDUCE

    def _size(self, shape: tuple[int, ...]) -> None:
        self._reduce("torch", "Size", tuple(int(n) for n in shape))

    def _save(self, obj: Any) -> None:
        out = self.out
        if isinstance(obj, Metadata):
            self._newobj(_MODULE, "Metadata", {
                "state_dict_metadata": obj.state_dict_metadata,
                "planner_data": obj.planner_data, "storage_data": obj.storage_data,
                "storage_meta": obj.storage_meta, "version": obj.version})
        elif isinstance(obj, TensorStorageMetadata):
            self._global(_MODULE, "TensorStorageMetadata")
            out += pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.EMPTY_DICT + pickle.MARK
            self._save("properties")
            self._save(obj.properties)
            self._save("size")
            self._size(obj.size)
            self._save("chunks")
            self._save(obj.chunks)
            out += pickle.SETITEMS + pickle.BUILD
        elif isinstance(obj, TensorProperties):
            self._global(_MODULE, "TensorProperties")
            out += pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.MARK
            self._global("torch", obj.dtype)
            self._reduce("torch.serialization", "_get_layout", obj.layout)
            self._save(bool(obj.requires_grad))
            self._reduce(_MODULE, "_MEM_FORMAT_ENCODING", int(obj.memory_format))
            self._save(bool(obj.pin_memory))
            out += pickle.TUPLE + pickle.BUILD
        elif isinstance(obj, ChunkStorageMetadata):
            self._global(_MODULE, "ChunkStorageMetadata")
            out += pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.EMPTY_DICT + pickle.MARK
            self._save("offsets")
            self._size(obj.offsets)
            self._save("sizes")
            self._size(obj.sizes)
            out += pickle.SETITEMS + pickle.BUILD
        elif isinstance(obj, BytesStorageMetadata):
            self._newobj(_MODULE, "BytesStorageMetadata", None)
        elif isinstance(obj, MetadataIndex):
            self._global(_MODULE, "MetadataIndex")
            out += pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.EMPTY_DICT + pickle.MARK
            self._save("fqn")
            self._save(obj.fqn)
            self._save("offset")
            if obj.offset is None:
                out += pickle.NONE
            else:
                self._size(obj.offset)
            self._save("index")
            self._save(obj.index)
            out += pickle.SETITEMS + pickle.BUILD
        elif isinstance(obj, StorageInfo):
            self._newobj("torch.distributed.checkpoint.filesystem", "_StorageInfo", {
                "relative_path": obj.relative_path, "offset": int(obj.offset),
                "length": int(obj.length)})
        elif isinstance(obj, StorageMeta):
            self._newobj(_MODULE, "StorageMeta", {
                "checkpoint_id": obj.checkpoint_id, "save_id": obj.save_id,
                "load_id": obj.load_id, "modules": list(obj.modules)})
        else:
            super()._save(obj)


def torch_dtype_name(dtype: np.dtype) -> str:
    """torch's name of a numpy dtype ("float32"); a TypeError for one torch has not."""
    dtype = np.dtype(dtype)
    name = _NUMPY_NAMES.get(dtype.newbyteorder("="))
    if name is None and dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        name = dtype.name  # ml_dtypes' types: torch's names
    if name is None:
        raise TypeError(f"a tensor of dtype {dtype} cannot be saved in a torch checkpoint")
    return name


def write_metadata(metadata: Metadata) -> bytes:
    """The pickle bytes of ``metadata`` that torch's ``pickle.load`` reads as its Metadata."""
    pickler = _MetadataPickler()
    pickler.dump(metadata)
    return bytes(pickler.out)


# ------------------------------------------------------------------------ reading
def _size(*args: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in (args[0] if args else ()))


class _Name(str):
    """A torch dtype global, read as its name."""


_ALLOWED: dict[str, Any] = {
    f"{_MODULE}.Metadata": Metadata,
    f"{_MODULE}.TensorStorageMetadata": TensorStorageMetadata,
    f"{_MODULE}.TensorProperties": TensorProperties,
    f"{_MODULE}.ChunkStorageMetadata": ChunkStorageMetadata,
    f"{_MODULE}.BytesStorageMetadata": BytesStorageMetadata,
    f"{_MODULE}.MetadataIndex": MetadataIndex,
    f"{_MODULE}.StorageMeta": StorageMeta,
    f"{_MODULE}._MEM_FORMAT_ENCODING": int,
    "torch.distributed.checkpoint.filesystem._StorageInfo": StorageInfo,
    "torch.Size": _size,
    "torch.serialization._get_layout": str,
    "pathlib.PosixPath": str, "pathlib.WindowsPath": str, "pathlib.PurePosixPath": str,
    "pathlib.Path": str,
    "collections.OrderedDict": dict,
    **{f"torch.{name}": _Name(name) for name in _DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        key = f"{module}.{name}"
        if key in _ALLOWED:
            return _ALLOWED[key]
        raise UnpicklingError(f"the metadata asks for the global {key}, which dlpy does not "
                              "build (it reads torch.distributed.checkpoint's Metadata only)")


def read_metadata(data: bytes, name: str) -> Metadata:
    """Parse ``.metadata`` bytes (torch's or dlpy's); errors name the file ``name``."""
    try:
        metadata = _Unpickler(io.BytesIO(data)).load()
    except UnpicklingError as err:
        raise UnpicklingError(f"{name}: {err}") from None
    except Exception as err:  # a cut pickle raises anything (EOFError, UnpicklingError...)
        raise ValueError(f"{name}: not a readable checkpoint metadata file, it is cut or "
                         f"corrupted ({type(err).__name__}: {err})") from None
    if not isinstance(metadata, Metadata):
        raise ValueError(f"{name}: expected a Metadata, got {type(metadata).__name__}")
    for entry in metadata.state_dict_metadata.values():
        if isinstance(entry, TensorStorageMetadata):
            entry.properties.dtype = str(entry.properties.dtype)
    return metadata
