"""PyTorch's checkpoint files (``torch.save``'s zip format, torch >= 1.6) read and written
without torch: ``dlpy.load`` and ``dlpy.save``.

    state = dlpy.load("resnet18.pth")              # OrderedDict name -> Tensor
    model.load_state_dict(state)
    dlpy.save(model.state_dict(), "w.pt")           # torch.load("w.pt") reads it

The archive holds ``<name>/data.pkl`` (a pickle whose tensors point at storages by key),
``<name>/data/<key>`` (each storage's raw bytes), ``<name>/byteorder`` and ``<name>/version``.
The pickle is read by an unpickler that knows only the globals torch's ``weights_only=True``
unpickler allows (OrderedDict, the tensor rebuild functions, storage types, dtypes,
torch.Size, a few builtins), each mapped to a stand-in that builds numpy arrays; any other
global is an ``UnpicklingError`` naming it, unless the caller passes ``weights_only=False``
(as torch's: a whole pickled Module, whose code runs). Tensors are views into their storage,
as torch's (two tensors that shared a storage still share memory); bfloat16 and float8
tensors come back as ml_dtypes' types (``dlpy.bfloat16``, ``dlpy.float8_e4m3fn``,
``dlpy.float8_e5m2``, bit patterns kept), or as float32 (exactly) with a warning where
ml_dtypes is missing.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import pickletools
import struct
import types
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from dlpy.ao import qtensor as _qtensor_module
from dlpy.ao.qtensor import QDtype, QScheme, QTensor
from dlpy.device import MetaArray, device
from dlpy.io import atomic_write
from dlpy.size import Size
from dlpy.storage import TypedStorage, UntypedStorage
from dlpy.tensor import Tensor, _without_gradless, as_array, is_floating_dtype

__all__ = ["DEFAULT_PROTOCOL", "CheckpointError", "EmptyCheckpointError", "UnpicklingError",
           "get_unsafe_globals_in_checkpoint",
           "add_safe_globals", "bfloat16_to_float32", "clear_safe_globals",
           "get_default_mmap_options", "get_safe_globals", "load", "safe_globals", "save",
           "save_tree", "set_default_mmap_options"]


DEFAULT_PROTOCOL = 2
"""``torch.serialization.DEFAULT_PROTOCOL``: the pickle protocol ``save`` writes by default."""

MAP_LOCATION = Callable[[Any, str], Any] | device | str | dict[str, str] | None
"""``torch.serialization.MAP_LOCATION``: the type of ``load``'s ``map_location`` (annotations
of libraries that wrap ``torch.load``)."""


class UnpicklingError(pickle.UnpicklingError, ValueError):
    """A checkpoint's pickle asks for something dlpy does not build (a ValueError too)."""


class CheckpointError(ValueError, RuntimeError):
    """A zip file that is no readable checkpoint (cut, corrupted, another zip): a ValueError as
    dlpy's other bad-file errors, a RuntimeError as torch's."""


class _LegacyCheckpointError(UnpicklingError, RuntimeError):
    """A pickle that is no zip checkpoint, loaded with weights_only=False: torch reads it as a
    legacy checkpoint and raises RuntimeError ("Invalid magic number"); with weights_only=True,
    or a file that is no pickle, its UnpicklingError."""


class EmptyCheckpointError(EOFError, ValueError):
    """An empty file: an EOFError as torch's, a ValueError as dlpy's other bad-file errors."""


def bfloat16_to_float32(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) as float32 values: the high half of a float32, exactly."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


# torch's legacy storage classes -> the numpy dtype of their elements (None: bfloat16)
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": None, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128, "UntypedStorage": np.uint8,
    # a quantized tensor's integers (_rebuild_qtensor's storage)
    "QInt8Storage": np.int8, "QUInt8Storage": np.uint8, "QInt32Storage": np.int32,
}
_QSTORAGE_NAMES = {"qint8": "QInt8Storage", "quint8": "QUInt8Storage", "qint32": "QInt32Storage"}
# torch's dtype names -> numpy's (a string: ml_dtypes' type of that name, see _LOW)
_DTYPES = {
    "float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": "bfloat16",
    "float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2",
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "bool": np.bool_, "complex64": np.complex64, "complex128": np.complex128,
}
_STORAGE_NAMES = {np.dtype(v): k for k, v in _STORAGE_DTYPES.items()
                  if v is not None and k != "UntypedStorage" and not k.startswith("Q")}
# unsigned types torch has no typed storage for: written untyped with their dtype
_WIDE_UINTS = {np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64)}
# ml_dtypes' types: the raw element type their bits are stored as
_LOW = {"bfloat16": np.uint16, "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8}


def _low_precision(raw: np.ndarray, name: str) -> np.ndarray:
    """Raw bit patterns (uint16/uint8) of torch's ``name`` dtype as ml_dtypes' type (a view),
    or float32 values (a copy, one warning) without ml_dtypes."""
    from dlpy.amp.dtypes import stored_dtype

    dtype = stored_dtype(name, "dlpy.load")
    if dtype is not None:
        return raw.view(dtype)
    if name == "bfloat16":
        return bfloat16_to_float32(raw)
    from dlpy.utils.safetensors import float8_to_float32

    return float8_to_float32(name, raw)


class _StorageType:
    """Stands in for ``torch.FloatStorage`` & co. in a storage's persistent id."""

    def __init__(self, name: str):
        self.name, self.dtype = name, _STORAGE_DTYPES[name]


class _DType:
    """Stands in for a ``torch.<dtype>`` global (``_rebuild_tensor_v3``'s, an optimizer's)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


def _storage(array: np.ndarray) -> TypedStorage:
    """A loaded storage: a TypedStorage over ``array``'s memory (its elements, 1-D; bfloat16
    as ml_dtypes', or float32), as torch's load gives one: what a callable
    ``map_location(storage, location)`` is given and what a saved storage loads as."""
    return TypedStorage(UntypedStorage(array), array.dtype)


class _MetaStorage:
    """A storage loaded with ``map_location="meta"``: its element type and count, no data."""

    def __init__(self, storage_type, numel: int):
        self.storage_type, self.numel = storage_type, numel

    def cpu(self):
        return self


def _is_meta_location(map_location) -> bool:
    """Whether a ``map_location`` (or what its dict maps a storage's location to) is the meta
    device: "meta" or a meta device."""
    if isinstance(map_location, str):
        return map_location == "meta"
    return isinstance(map_location, device) and map_location.type == "meta"


def _is_cuda_location(where) -> bool:
    """Whether a storage's location (or what ``map_location`` puts it on) is a CUDA device,
    which dlpy, as torch without CUDA, has none of."""
    if isinstance(where, device):
        return where.type == "cuda"
    return isinstance(where, str) and where.split(":")[0] == "cuda"


_NO_CUDA = ("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is "
            "False. If you are running on a CPU-only machine, please use torch.load with "
            "map_location=torch.device('cpu') to map your storages to the CPU.")


def _strided(storage: TypedStorage, storage_offset, size, stride, dtype=None) -> np.ndarray:
    """The view torch's ``_rebuild_tensor`` makes: ``size`` elements ``stride`` apart from
    ``storage_offset``, checked to lie inside the storage (a meta storage: a meta array of
    ``size``)."""
    if isinstance(storage, _MetaStorage):
        from dlpy.device import meta_array

        if dtype is not None:  # (_rebuild_tensor_v3's: an untyped storage and a dtype)
            element = _DTYPES.get(dtype.name, False)
            if element is False:
                raise ValueError(f"tensors of dtype torch.{dtype.name} are not supported")
        else:  # a typed storage's (BFloat16Storage: None)
            element = storage.storage_type.dtype or "bfloat16"
        if isinstance(element, str):  # ml_dtypes' (float32 without it)
            element = _dtype(_DType(element))
            element = np.float32 if isinstance(element, _DType) else element
        # the view torch makes of a meta storage: the saved strides and offset, the storage's
        # bytes (a typed storage counts elements, an untyped one bytes: UntypedStorage's uint8)
        array = meta_array(tuple(int(n) for n in size), element, tuple(int(s) for s in stride))
        array.offset_in_elements = int(storage_offset)
        array.storage_nbytes = storage.numel * np.dtype(
            storage.storage_type.dtype or np.uint16).itemsize
        return array
    elements = storage._elements() if dtype is None else _typed(storage, dtype)
    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    offset = int(storage_offset)
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride) \
            or offset < 0:
        raise ValueError(f"a tensor of size {size}, stride {stride}, offset {offset} is "
                         "not a valid view")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= elements.size:
            raise ValueError(f"a tensor of size {size}, stride {stride}, offset {offset} needs "
                             f"{last + 1} elements, its storage holds {elements.size}")
    else:  # no elements: the saved strides and offset still, as torch's (over no memory)
        item = elements.itemsize
        return np.ndarray(size, elements.dtype, buffer=elements,
                          offset=min(offset, elements.size) * item,
                          strides=tuple(s * item for s in stride))
    item = elements.itemsize  # a view whose .base is the storage: dlpy.save shares it again
    return np.ndarray(size, elements.dtype, buffer=elements, offset=offset * item,
                      strides=tuple(s * item for s in stride))


def _typed(storage: TypedStorage, dtype: _DType) -> np.ndarray:
    """An untyped (byte) storage seen as ``dtype``'s elements (``_rebuild_tensor_v3``)."""
    np_dtype = _DTYPES.get(dtype.name, False)
    if np_dtype is False:
        raise ValueError(f"tensors of dtype torch.{dtype.name} are not supported")
    raw = storage._elements()
    if isinstance(np_dtype, str):
        element = _LOW[np_dtype]
        item = np.dtype(element).itemsize
        return _low_precision(raw[: raw.size // item * item].view(element), np_dtype)
    item = np.dtype(np_dtype).itemsize
    return raw[: raw.size // item * item].view(np_dtype)


def _differentiable(dtype: np.dtype) -> bool:
    """A dtype that can require grad: floating (bfloat16 too: numpy's kind "V") or complex."""
    return is_floating_dtype(dtype) or dtype.kind == "c"


def _tensor(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    tensor = Tensor(array)
    tensor.requires_grad = bool(requires_grad) and _differentiable(array.dtype)
    return tensor


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _tensor(_strided(storage, storage_offset, size, stride))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    array = _strided(storage, storage_offset, size, stride)
    return _tensor(_apply_metadata(array, metadata), requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    array = _strided(storage, storage_offset, size, stride, dtype)
    return _tensor(_apply_metadata(array, metadata), requires_grad)


def _apply_metadata(array: np.ndarray, metadata) -> np.ndarray:
    # torch's lazy conjugate / negative bits, made real (a copy)
    if metadata and metadata.get("conj"):
        array = np.conj(array)
    if metadata and metadata.get("neg"):
        array = -array
    return array


def _rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params, requires_grad,
                     backward_hooks):
    """A quantized tensor as torch pickles one: its integers over a QInt8/QUInt8/QInt32
    storage and ``(qscheme, scale, zero_point)`` or ``(qscheme, scales, zero_points, axis)``."""
    qtensor = _qtensor_module
    array = _strided(storage, storage_offset, size, stride)
    dtype = {np.dtype(np.int8): qtensor.qint8, np.dtype(np.uint8): qtensor.quint8,
             np.dtype(np.int32): qtensor.qint32}.get(array.dtype)
    if dtype is None or not isinstance(quantizer_params, tuple) or not quantizer_params:
        raise ValueError(f"_rebuild_qtensor: integers of dtype {array.dtype} with quantizer "
                         f"{quantizer_params!r:.80} are no quantized tensor dlpy reads")
    scheme, *params = quantizer_params
    if scheme is qtensor.per_tensor_affine and len(params) == 2:
        return qtensor.QTensor(array, dtype, params[0], params[1])
    if scheme in (qtensor.per_channel_affine, qtensor.per_channel_affine_float_qparams) \
            and len(params) == 3:
        scales, zero_points, axis = (as_array(p) if isinstance(p, Tensor) else p for p in params)
        return qtensor.QTensor(array, dtype, scales, zero_points, axis=int(axis),
                               qscheme=scheme)
    raise ValueError(f"_rebuild_qtensor: quantizer {scheme!r} with {len(params)} parameters "
                     "is not one dlpy reads (per_tensor_affine, per_channel_affine, "
                     "per_channel_affine_float_qparams)")


def _rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad):
    """A meta tensor as torch writes one (no storage): its dtype and size."""
    from dlpy.device import meta_array

    if isinstance(dtype, _DType):
        raise ValueError(f"tensors of dtype torch.{dtype.name} are not supported")
    return _tensor(meta_array(tuple(int(n) for n in size), dtype), requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    from dlpy.nn.module import ComplexParameter, Parameter

    if not isinstance(data, Tensor):
        raise ValueError(f"_rebuild_parameter: expected a tensor, got {type(data).__name__}")
    # not Parameter(data), which copies: the storage's view itself, so shared memory stays shared
    cls = ComplexParameter if data.dtype.kind == "c" else Parameter
    parameter = cls.__new__(cls)
    Tensor.__init__(parameter, data.data)
    # an integer Parameter (requires_grad=False, as torch's only kind of one) stays a Parameter
    parameter.requires_grad = bool(requires_grad) and _differentiable(data.dtype)
    _set_state(parameter, state)
    return parameter


def _rebuild_from_type_v2(function, new_type, args, state):
    if new_type is not _TORCH_TENSOR:
        raise ValueError(f"tensor subclass {new_type!r} is not supported")
    return _set_state(function(*args), state)


def _set_state(tensor: Tensor, state) -> Tensor:
    """A tensor's Python attributes as torch pickles them (its ``__dict__``, or a pair of that
    and its slots' values), set on ``tensor``."""
    if state is None:
        return tensor
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state, None)
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict):
            raise ValueError(f"a tensor's pickled state must be a dict of attributes, got "
                             f"{type(part).__name__}")
        for name, value in part.items():
            setattr(tensor, name, value)
    return tensor


_TORCH_TENSOR = object()  # stands in for the torch.Tensor global


def _encode(text: str, encoding: str = "latin1") -> bytes:
    # pickle protocol 2 writes bytes as _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding != "latin1":
        raise ValueError("_codecs.encode: only (str, 'latin1') builds bytes")
    return text.encode("latin1")


def _size(*args):
    return Size(*args)


def _device(*args):
    """torch.device(type[, index]) as pickled: a dlpy device (as torch's load gives one)."""
    return device(*args) if args else device("cpu")


def _allowed_globals() -> dict[str, Any]:
    allowed: dict[str, Any] = {
        "collections.OrderedDict": OrderedDict, "collections.Counter": Counter,
        "builtins.set": set, "builtins.bytearray": bytearray, "builtins.complex": complex,
        "_codecs.encode": _encode, "torch.Size": _size, "torch.device": _device,
        "torch.Tensor": _TORCH_TENSOR, "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_meta_tensor_no_storage": _rebuild_meta_tensor_no_storage,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
        "torch.nn.parameter.Parameter":
            lambda data, requires_grad=True: _rebuild_parameter(data, requires_grad, None),
    }
    for name in _STORAGE_DTYPES:
        allowed[f"torch.{name}"] = _StorageType(name)
    allowed["torch._utils._rebuild_qtensor"] = _rebuild_qtensor
    for name in ("qint8", "quint8", "qint32", "quint4x2", "per_tensor_affine",
                 "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                 "per_channel_affine_float_qparams"):  # quantized dtypes and schemes
        allowed[f"torch.{name}"] = getattr(_qtensor_module, name)
    allowed["torch.storage.UntypedStorage"] = allowed["torch.UntypedStorage"]  # torch >= 2.x
    for name, np_dtype in _DTYPES.items():  # ml_dtypes' types: resolved on use (_dtype)
        allowed[f"torch.{name}"] = _DType(name) if isinstance(np_dtype, str) \
            else np.dtype(np_dtype)
    return allowed


def _dtype(standin: _DType) -> np.dtype | _DType:
    """A pickled ``torch.bfloat16`` (float8...): ml_dtypes' dtype, or the stand-in (which
    ``_rebuild_tensor_v3`` reads as float32) where ml_dtypes is missing."""
    from dlpy.amp.dtypes import ml_dtype

    try:
        return np.dtype(ml_dtype(standin.name))
    except ImportError:
        return standin


# torch.serialization.add_safe_globals: "module.qualname" -> the object load(weights_only=True)
# may also build, and the entries as they were given (a set, as torch's: get_safe_globals)
_SAFE_GLOBALS: dict[str, Any] = {}
_SAFE_ENTRIES: dict[Any, None] = {}


def _global_name(entry) -> tuple[Any, str]:
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str):
        return entry
    module, name = getattr(entry, "__module__", None), getattr(entry, "__qualname__", None)
    if module is None or name is None:
        raise TypeError(f"add_safe_globals: expected classes or functions (or (object, "
                        f"'module.name') pairs), got {entry!r}")
    return entry, f"{module}.{name}"


def get_unsafe_globals_in_checkpoint(f: str | os.PathLike | BinaryIO) -> list[str]:
    """The globals ("module.name") a checkpoint's pickle names that ``load(weights_only=True)``
    would refuse (not torch's own, not added by ``add_safe_globals``), as torch's: what to pass
    to ``add_safe_globals`` for a file you trust. Read without unpickling anything."""
    try:
        archive = zipfile.ZipFile(f)
    except zipfile.BadZipFile:
        raise ValueError(f"{_name(f)}: get_unsafe_globals_in_checkpoint reads zip checkpoints "
                         "(torch >= 1.6's format) only") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            raise ValueError(f"{_name(f)}: the archive has no member '<name>/data.pkl'")
        data = archive.read(pickles[0])
    names, strings = [], []
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(argument)
        elif opcode.name == "GLOBAL":
            names.append(argument.replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            names.append(f"{strings[-2]}.{strings[-1]}")
    unsafe = []
    for name in dict.fromkeys(names):
        module, _, attribute = name.rpartition(".")
        key = f"{'builtins' if module == '__builtin__' else module}.{attribute}"
        if key not in _ALLOWED and key not in _SAFE_GLOBALS and key not in unsafe:
            unsafe.append(key)
    return unsafe


def add_safe_globals(safe_globals: list) -> None:
    """``torch.serialization.add_safe_globals``: classes and functions (or ``(object,
    "module.name")`` pairs) that ``load(f, weights_only=True)`` may build, as torch's."""
    for entry in safe_globals:
        obj, name = _global_name(entry)
        _SAFE_GLOBALS[name] = obj
        _SAFE_ENTRIES[entry] = None


def clear_safe_globals() -> None:
    """``torch.serialization.clear_safe_globals``: forget every ``add_safe_globals`` entry."""
    _SAFE_GLOBALS.clear()
    _SAFE_ENTRIES.clear()


def get_safe_globals() -> list:
    """``torch.serialization.get_safe_globals``: what ``add_safe_globals`` allowed, each entry
    as it was given (an ``(object, "module.name")`` pair stays one), as torch's."""
    return list(_SAFE_ENTRIES)


class safe_globals:  # noqa: N801 - torch's name
    """``with torch.serialization.safe_globals([Cls]):`` ``add_safe_globals`` inside the block
    only."""

    def __init__(self, safe_globals: list):
        self.given = list(safe_globals)
        self.entries = dict(_global_name(entry)[::-1] for entry in safe_globals)

    def __enter__(self) -> None:
        self.saved = dict(_SAFE_GLOBALS), dict(_SAFE_ENTRIES)
        _SAFE_GLOBALS.update(self.entries)
        _SAFE_ENTRIES.update(dict.fromkeys(self.given))

    def __exit__(self, *exc) -> None:
        for table, saved in zip((_SAFE_GLOBALS, _SAFE_ENTRIES), self.saved):
            table.clear()
            table.update(saved)


_ALLOWED = _allowed_globals()
# globals torch's weights-only unpickler allows that dlpy cannot build
_UNSUPPORTED = ("_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_nested_tensor",
                "_rebuild_wrapper_subclass",
                "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor")


class _CallerError(Exception):
    """An error of the caller's ``map_location`` function, raised by ``load`` as it is."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class _Unpickler(pickle.Unpickler):
    """Builds only the allowed globals; storages are read from the archive on first use."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, big_endian: bool,
                 weights_only: bool = True, map_location=None, encoding: str = "ASCII",
                 mapped: tuple[str, str] | None = None):
        super().__init__(file, encoding=encoding)
        self.archive, self.prefix, self.big_endian = archive, prefix, big_endian
        self.weights_only, self.map_location = weights_only, map_location
        self.mapped = mapped  # (the file's path, numpy's memmap mode): storages mapped from it
        self.storages: dict[str, TypedStorage] = {}

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2 written with Python 2's module names
            module = "builtins"
        key = f"{module}.{name}"
        if key in _ALLOWED:
            value = _ALLOWED[key]
            return _dtype(value) if isinstance(value, _DType) else value
        if key in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[key]
        if module == "torch._utils" and name in _UNSUPPORTED:
            raise UnpicklingError(f"the pickle needs {key}, a kind of tensor dlpy does not "
                                  "load (quantized, sparse, nested or device-only)")
        if not self.weights_only:  # the caller trusts the file: any global, as torch's
            return super().find_class(module, name)
        raise UnpicklingError(f"the pickle asks for the global {key}, which is not allowed "
                              "with weights_only=True: dlpy.load builds only tensors, "
                              "containers and numbers; load(f, weights_only=False) unpickles "
                              "any object, running its code (only for a file you trust)")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) == 5 and saved_id[0] == "storage"
                and isinstance(saved_id[1], _StorageType)):
            raise UnpicklingError(f"unknown persistent id {saved_id!r:.80}")
        _, storage_type, key, location, numel = saved_id
        key = str(key)
        if key not in self.storages:
            where = self.map_location.get(location, location) \
                if isinstance(self.map_location, dict) else self.map_location
            if _is_meta_location(where):  # torch's: nothing read, a meta storage
                self.storages[key] = _MetaStorage(storage_type, int(numel))
                return self.storages[key]
            if not callable(where) and _is_cuda_location(location if where is None else where):
                raise _CallerError(RuntimeError(_NO_CUDA))
            storage = self._read_storage(storage_type, key, int(numel))
            if callable(self.map_location):  # torch's map_location(storage, location)
                try:
                    mapped = self.map_location(storage, location)
                except Exception as err:  # the caller's own error, passed on unchanged
                    raise _CallerError(err) from err
                if mapped is not None and not isinstance(mapped, TypedStorage):
                    raise _CallerError(TypeError(
                        f"load: map_location returned a {type(mapped).__name__}, expected "
                        "the storage it was given (or None)"))
                storage = storage if mapped is None else mapped
            self.storages[key] = storage
        return self.storages[key]

    def _read_storage(self, storage_type: _StorageType, key: str, numel: int) -> TypedStorage:
        member = f"{self.prefix}/data/{key}"
        dtype = np.dtype(np.uint16 if storage_type.dtype is None else storage_type.dtype)
        try:
            info = self.archive.getinfo(member)
        except KeyError:
            raise ValueError(f"the archive has no member {member!r} (storage {key})") from None
        if info.file_size < numel * dtype.itemsize:
            raise ValueError(f"storage {key} ({storage_type.name}) needs {numel} elements "
                             f"({numel * dtype.itemsize} bytes), {member!r} holds "
                             f"{info.file_size} bytes")
        size = numel * dtype.itemsize
        if info.compress_type != zipfile.ZIP_STORED:  # (another tool's zip) read and inflated
            data = bytearray(self.archive.read(member))[:size]
        elif self.mapped and not self.big_endian and numel:
            path, mode = self.mapped
            mapped = np.memmap(path, dtype, mode, offset=self._start(info), shape=(numel,))
            # seen through a buffer of exactly the storage's bytes: numpy's mapping starts at
            # a page boundary before them, which the tensors' storage (its nbytes, their
            # storage_offset) would otherwise count from, as torch's never does
            elements = np.frombuffer(memoryview(mapped), dtype)
            return _storage(elements if storage_type.dtype is not None
                            else _low_precision(elements, "bfloat16"))
        else:  # the bytes as they are, read into the array (no copy), no CRC-32 check (as
            # torch's reader: a file changed through a shared mapping, or written without
            # CRCs, loads)
            handle = self.archive.fp
            handle.seek(self._start(info))
            if hasattr(handle, "readinto"):  # (the elements own their memory: views of
                # them are found as views of one storage again when saved)
                data = np.empty(numel, dtype.newbyteorder(">") if self.big_endian else dtype)
                got = handle.readinto(data.view(np.uint8)) if size else 0
            else:  # a file object of the caller's with read() only
                data = bytearray(handle.read(size))
                got = len(data)
            if got != size:
                raise ValueError(f"storage {key} ({member!r}) is cut: {got} of its {size} "
                                 f"bytes are in the file")
        if isinstance(data, np.ndarray):
            elements = data
        else:
            elements = np.frombuffer(data, dtype.newbyteorder(">") if self.big_endian
                                     else dtype, count=numel)
        if self.big_endian:
            elements = elements.astype(dtype)
        if storage_type.dtype is None:
            return _storage(_low_precision(elements, "bfloat16"))
        return _storage(elements)

    def _start(self, info: zipfile.ZipInfo) -> int:
        """Where a stored member's bytes start in the archive's file (after its local header,
        whose name and extra field lengths may differ from the central directory's)."""
        handle = self.archive.fp  # (the pickle's member reads through its own position)
        handle.seek(info.header_offset)
        header = handle.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise ValueError(f"the local header of member {info.filename!r} is damaged")
        *_, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


# a zip member's local header (PKZIP's APPNOTE 4.3.7): signature, versions, flags, method,
# time, date, CRC-32, sizes, then the lengths of the name and the extra field that follow it
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")

_MMAP_MODES = {"private": "c", "shared": "r+"}


def get_default_mmap_options() -> int:
    """``torch.serialization.get_default_mmap_options``: how ``load(mmap=True)`` maps a file,
    ``mmap.MAP_PRIVATE`` (the default: writes to the tensors stay in memory, the file never
    changes) or ``mmap.MAP_SHARED`` (writes go to the file)."""
    from dlpy.utils.serialization import config

    return config.load.mmap_flags


class set_default_mmap_options:  # noqa: N801 - torch's name
    """``torch.serialization.set_default_mmap_options(flags)``: ``mmap.MAP_PRIVATE`` or
    ``mmap.MAP_SHARED`` for ``load(mmap=True)``, set at once (a function) or for a ``with``
    block (the previous setting back at its end), as torch's."""

    def __init__(self, flags: int) -> None:
        import mmap

        from dlpy.utils.serialization import config

        if flags not in (mmap.MAP_PRIVATE, mmap.MAP_SHARED):
            raise ValueError("Invalid argument in function set_default_mmap_options, "
                             f"expected mmap.MAP_PRIVATE or mmap.MAP_SHARED, but got {flags}")
        self.prev = config.load.mmap_flags
        config.load.mmap_flags = flags

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info) -> None:
        from dlpy.utils.serialization import config

        config.load.mmap_flags = self.prev


def _mmap_mode() -> str:
    """numpy's memmap mode for the mapping ``get_default_mmap_options`` names."""
    import mmap

    return _MMAP_MODES["shared" if get_default_mmap_options() == mmap.MAP_SHARED
                       else "private"]


def _name(f) -> str:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return str(getattr(f, "name", "<file object>"))


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def load(f: str | os.PathLike | BinaryIO, map_location=None, weights_only: bool | None = True,
         *, mmap: bool | None = None, **pickle_load_args) -> Any:
    """Read a file written by ``torch.save`` (its zip format, or the legacy one of torch < 1.6
    and ``_use_new_zipfile_serialization=False``) or ``dlpy.save``: tensors come back as
    dlpy Tensors (Parameters as nn.Parameter, requires_grad kept), inside the saved dicts,
    lists, tuples, numbers and strings. ``map_location`` is accepted (a string, a device, a
    dict or a function): the CPU changes nothing; the meta device ("meta", or a dict mapping a
    storage's location to it) reads no values and gives meta tensors, as torch's.
    ``weights_only=True`` (torch's default) builds only those; ``weights_only=False`` unpickles
    any object, as torch's (a whole Module written by ``save``), which runs code the file
    names: only for a file you trust. ``mmap=True`` (only for a file path, as torch's) maps the
    storages from the file instead of reading them (pages are read as the tensors are used:
    loading a checkpoint bigger than memory, or only part of one, reads only what is used);
    the mapping is private unless ``set_default_mmap_options(mmap.MAP_SHARED)`` (writes to the
    tensors never reach the file, as torch's; storages are read without checking their CRC-32,
    as torch reads them, so a file changed through a shared mapping loads); ``mmap=None`` is
    ``torch.utils.serialization.config.load.mmap`` (False). A storage stored compressed (a zip
    written by another tool) or big-endian is read into memory instead.
    ``weights_only=None`` is True (torch's default); ``pickle_load_args`` (``encoding=``) go to
    the unpickler. Errors name the file; a bad file raises torch's class too (EOFError empty,
    UnpicklingError not a zip, RuntimeError a bad zip), all ValueErrors."""
    name = _name(f)
    if weights_only is None:
        weights_only = True
    if mmap is None:
        from dlpy.utils.serialization import config

        mmap = config.load.mmap
    if map_location is not None and not isinstance(map_location, (str, dict, device)) \
            and not callable(map_location):
        raise TypeError(f"load: map_location must be None, a device (string), a dict or a "
                        f"function (storage, location) (dlpy loads to host memory), got "
                        f"{type(map_location).__name__}")
    if not isinstance(weights_only, bool):
        raise TypeError(f"load: weights_only must be True or False, got {weights_only!r}")
    if isinstance(f, (str, os.PathLike)) and not os.path.exists(f):
        raise FileNotFoundError(errno.ENOENT, f"{name}: no such file")
    if not isinstance(f, (str, os.PathLike)) and getattr(f, "seekable", lambda: False)():
        start = f.tell()  # torch reads from the file's position, as pickle.load would
        if not f.read(1):
            raise EOFError(f"{name}: nothing to read at position {start} (the end of the "
                           f"file: seek(0) after torch.save into a buffer)")
        f.seek(start)
    if isinstance(f, (str, os.PathLike)) and os.path.isdir(f):
        raise IsADirectoryError(errno.EISDIR, f"{name}: a folder, not a file")
    position = f.tell() if not isinstance(f, (str, os.PathLike)) and getattr(
        f, "seekable", lambda: False)() else None
    try:
        archive = zipfile.ZipFile(f)
        if not _head(f, position).startswith(b"PK\x03\x04"):
            # (zipfile finds a zip after other bytes, as a self-extracting archive; torch's
            # reader wants one from the file's start, and reads the rest as a legacy pickle)
            archive.close()
            raise zipfile.BadZipFile("the file does not start with a zip member")
    except zipfile.BadZipFile as err:
        # torch reads a file that does not start as a zip as a legacy pickle
        if mmap and not _head(f).startswith(b"PK\x03\x04"):  # (torch: no zip, no mmap)
            raise _MmapLegacyError(
                f"{name}: mmap can only be used with files saved with "
                "`torch.save(_use_new_zipfile_serialization=True)`, please torch.save "
                "your checkpoint with this option in order to use mmap.") from None
        if position is not None:
            f.seek(position)
        if _is_legacy(f):
            try:
                return _load_legacy(f, weights_only, map_location,
                                    pickle_load_args.get("encoding", "ASCII"))
            except _CallerError as error:
                raise error.error from None
            except UnpicklingError as error:
                raise UnpicklingError(f"{name}: {error}") from None
            except (ValueError, EOFError, struct.error) as error:
                raise CheckpointError(f"{name}: a legacy (torch < 1.6) checkpoint that is cut "
                                      f"or corrupted ({error})") from None
        head = _head(f)
        # (torch's legacy reader unpickles a magic number first: a pickle (protocol 2 and
        # later start with PROTO, 0x80) is read and refused with RuntimeError, anything else
        # fails to unpickle)
        legacy = not weights_only and head.startswith(b"\x80")
        error = CheckpointError if head.startswith(b"PK\x03\x04") else \
            (_LegacyCheckpointError if legacy else UnpicklingError) if head else \
            EmptyCheckpointError
        raise error(f"{name}: not a readable PyTorch zip checkpoint, the file is cut or "
                    f"corrupted or not a checkpoint "
                    f"({type(err).__name__}: {err})") from None
    with archive:
        if mmap and not isinstance(f, (str, os.PathLike)):  # (a zip's storages map from a path)
            raise ValueError("load: f must be a file path in order to use the mmap argument")
        try:
            return _load_archive(archive, weights_only, map_location,
                                 pickle_load_args.get("encoding", "ASCII"),
                                 (os.fspath(f), _mmap_mode()) if mmap else None)
        except _CallerError as err:
            raise err.error from None
        except UnpicklingError as err:
            raise UnpicklingError(f"{name}: {err}") from None
        except ValueError as err:
            raise CheckpointError(f"{name}: {err}") from None
        except (ImportError, AttributeError):
            if not weights_only:  # a class the pickled object needs is not importable here
                raise
            raise CheckpointError(f"{name}: not a readable PyTorch checkpoint, the file is cut "
                                  f"or corrupted") from None
        except Exception as err:  # a corrupted pickle or member raises anything (EOFError, ...)
            raise CheckpointError(f"{name}: not a readable PyTorch checkpoint, the file is cut "
                                  f"or corrupted ({type(err).__name__}: {err})") from None


def _head(f, position: int | None = 0) -> bytes:
    """The first 4 bytes of a file (from ``position`` of a file object, its start where
    None; b"" where they cannot be read)."""
    try:
        if isinstance(f, (str, os.PathLike)):
            with open(f, "rb") as handle:
                return handle.read(4)
        f.seek(position or 0)
        return f.read(4)
    except (OSError, ValueError):
        return b""


class _MmapLegacyError(ValueError, RuntimeError):
    """load(mmap=True) of a file that is no zip (a legacy one): torch's RuntimeError."""


_LEGACY_PROTOCOL = 1001


def _is_legacy(f) -> bool:
    """Whether the file starts with the pickle of torch's legacy magic number (rewound): in
    whatever protocol ``save(pickle_protocol=)`` wrote it (1's text, 2 and 3's LONG1, 4 and
    5's framed one), so unpickled, with no globals, rather than matched byte by byte."""
    try:
        if isinstance(f, (str, os.PathLike)):
            with open(f, "rb") as handle:
                head = handle.read(64)
        else:
            start = f.tell()
            head = f.read(64)
            f.seek(start)
    except (OSError, ValueError):
        return False
    try:
        magic = _Unpickler(io.BytesIO(head), None, "", False, True).load()
    except Exception:  # noqa: BLE001 - anything else (a zip, a pickle of another object, cut)
        return False
    return type(magic) is int and magic == _LEGACY_MAGIC


class _LegacyUnpickler(_Unpickler):
    """The object pickle of a legacy file: its storage ids are (..., numel, view); each
    storage's bytes follow the pickle, so storages are made empty and filled afterwards."""

    def __init__(self, file, weights_only: bool, map_location, encoding: str):
        super().__init__(file, None, "", False, weights_only, map_location, encoding)
        self.pending: dict[str, np.ndarray] = {}
        self.views: dict[str, TypedStorage] = {}

    def persistent_load(self, saved_id):
        if isinstance(saved_id, tuple) and len(saved_id) == 4 and saved_id[0] == "module":
            # a whole Module's class, with its source file and source (torch checks these
            # against the class's own and warns on a change; dlpy's classes have other
            # source): the class, as torch returns it
            return saved_id[1]
        if not (isinstance(saved_id, tuple) and len(saved_id) == 6):
            raise UnpicklingError(f"unknown persistent id {saved_id!r:.80}")
        *root_id, view = saved_id
        root = super().persistent_load(tuple(root_id))
        if view is None or isinstance(root, _MetaStorage):
            return root
        view_key, offset, size = view
        if str(view_key) not in self.views:
            self.views[str(view_key)] = _storage(
                root._elements()[int(offset):int(offset) + int(size)])
        return self.views[str(view_key)]

    def _read_storage(self, storage_type: _StorageType, key: str, numel: int) -> TypedStorage:
        dtype = np.dtype(np.uint16 if storage_type.dtype is None else storage_type.dtype)
        data = np.zeros(numel, dtype)
        self.pending[key] = data
        if storage_type.dtype is None:
            return _storage(_low_precision(data, "bfloat16"))
        return _storage(data)


def _load_legacy(f, weights_only: bool, map_location, encoding: str) -> Any:
    """torch's legacy (torch < 1.6) format: magic number, protocol version and system info
    pickles, the object's pickle, the storage keys' pickle, then each storage's element count
    (int64) and bytes."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as handle:
            return _load_legacy(handle, weights_only, map_location, encoding)

    def small():
        return _Unpickler(f, None, "", False, True).load()

    if small() != _LEGACY_MAGIC:
        raise ValueError("invalid magic number; corrupt file?")
    if small() != _LEGACY_PROTOCOL:
        raise ValueError("invalid protocol version")
    info = small()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise ValueError("a big-endian legacy checkpoint, which dlpy does not read")
    unpickler = _LegacyUnpickler(f, weights_only, map_location, encoding)
    result = unpickler.load()
    keys = small()
    for key in keys:
        (count,) = struct.unpack("<q", f.read(8))
        data = unpickler.pending.get(str(key))
        size = count * (data.itemsize if data is not None else 0)
        if data is None:  # (a meta storage, or one no tensor used: skipped)
            f.seek(count * _storage_itemsize(unpickler, str(key)), os.SEEK_CUR)
            continue
        if count != data.size:
            raise ValueError(f"storage {key} holds {count} elements, its tensors "
                             f"{data.size}")
        raw = f.read(size)
        if len(raw) != size:
            raise ValueError(f"storage {key} is cut: {len(raw)} of its {size} bytes")
        data.view(np.uint8)[:] = np.frombuffer(raw, np.uint8)
    return result


def _storage_itemsize(unpickler: _LegacyUnpickler, key: str) -> int:
    storage = unpickler.storages.get(key)
    if isinstance(storage, _MetaStorage):
        dtype = storage.storage_type.dtype
        return np.dtype(np.uint16 if dtype is None else dtype).itemsize
    return 1


# the end of a zip's central directory (PKZIP's APPNOTE 4.3.16): signature, this disk's number,
# the disk where the directory starts, its entries on this disk and in all, its size and offset,
# the comment's length; and ZIP64's locator of its own end record (4.3.15): signature, that
# record's disk, its offset, the number of disks
_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
# ZIP64's end record (4.3.14): signature, its size, versions, the disks and counts as above
_END64 = struct.Struct("<4sQ2H2L4Q")


def _check_archive(archive: zipfile.ZipFile) -> None:
    """What torch's zip reader (miniz) checks and Python's zipfile lets pass: one disk, as
    many directory entries on it as in all, members that end inside the file (a flipped byte
    in the directory's sizes or disk numbers is a corrupted checkpoint, not a file)."""
    handle = archive.fp
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - (1 << 16) - _END.size))
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at >= 0 and at + _END.size <= len(tail):
        _, disk, start_disk, here, total, *_ = _END.unpack_from(tail, at)
        locator = at - _END64_LOCATOR.size
        if locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
            # (a ZIP64 archive, as torch writes: its own end record counts, not the other)
            _, _, end64_at, disks = _END64_LOCATOR.unpack_from(tail, locator)
            handle.seek(min(end64_at, size))  # (zipfile finds it by its size, miniz by this)
            end64 = handle.read(_END64.size)
            if disks != 1 or len(end64) != _END64.size \
                    or end64[:4] != b"PK\x06\x06":
                raise ValueError("the zip archive's ZIP64 end record is damaged (corrupted)")
            _, _, _, _, disk, start_disk, here, total, _, _ = _END64.unpack(end64)
        if disk != 0 or start_disk != 0 or here != total:
            raise ValueError("the zip archive spans several disks (corrupted)")
    for info in archive.infolist():
        if info.header_offset + info.compress_size > size:
            raise ValueError(f"member {info.filename!r}: its directory entry is damaged "
                             f"({info.compress_size} bytes at {info.header_offset}, past the "
                             f"end of the file)")


def _load_archive(archive: zipfile.ZipFile, weights_only: bool = True,
                  map_location=None, encoding: str = "ASCII",
                  mapped: tuple[str, str] | None = None) -> Any:
    _check_archive(archive)
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if not pickles:
        if any(n.endswith("constants.pkl") for n in names):
            raise ValueError("a TorchScript archive (torch.jit.save), not a torch.save file")
        raise ValueError("the archive has no member '<name>/data.pkl'")
    prefix = pickles[0].split("/")[0]
    byteorder = "little"
    if f"{prefix}/byteorder" in names:
        byteorder = archive.read(f"{prefix}/byteorder").decode("ascii", "replace").strip()
    if byteorder not in ("little", "big"):
        raise ValueError(f"unknown byteorder {byteorder!r}")
    with archive.open(pickles[0]) as data:
        return _Unpickler(data, archive, prefix, byteorder == "big", weights_only,
                          map_location, encoding, mapped).load()


# ------------------------------------------------------------------------------------- save
def save(obj: Any, f: str | os.PathLike | BinaryIO, pickle_module: Any = None,
         pickle_protocol: int = DEFAULT_PROTOCOL, _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False) -> None:
    """``torch.save``: write ``obj`` in torch's zip format. A state dict (nested dicts, lists,
    tuples, sets of Tensors, numpy arrays, dtypes, Sizes, numbers, strings, bytes, None) is
    written with torch's own globals only, so ``torch.load(f, weights_only=True)`` reads it;
    any other picklable object (a whole Module, an instance of the program's own class) is
    pickled as torch pickles it, its Tensors as torch's tensors over storages in the
    archive, and needs ``load(f, weights_only=False)``. Tensors that view one numpy array
    share one storage, as torch's views; a path is written atomically.
    ``pickle_module``/``pickle_protocol``: only Python's pickle; every protocol is written as
    2 (torch's default, which loads the same). ``_use_new_zipfile_serialization=False``: torch's
    legacy (torch < 1.6) format, a sequence of pickles and the storages' bytes, as torch
    writes it (``_disable_byteorder_record``: the zip's byteorder record left out)."""
    if pickle_module not in (None, pickle) or isinstance(pickle_protocol, bool) or \
            pickle_protocol not in range(pickle.HIGHEST_PROTOCOL + 1):
        raise ValueError(f"save: dlpy writes with Python's pickle, protocol 2 (torch's "
                         f"default; the others are written as 2, which loads the same), got "
                         f"pickle_module={pickle_module!r}, pickle_protocol={pickle_protocol!r}")
    if isinstance(f, (str, os.PathLike)):
        parent = os.path.dirname(os.path.abspath(f))
        if not os.path.isdir(parent):  # as torch's: no folders made
            raise RuntimeError(f"save: the parent directory {parent} does not exist")
        if os.path.isdir(f):
            raise RuntimeError(f"save: {os.fspath(f)} is a folder, not a file")
    pickler = _Pickler()
    pickler.legacy = not _use_new_zipfile_serialization
    try:
        pickler.dump(obj)
    except (_NotATree, _Cycle):  # an object, or a container that holds itself: pickled
        pickler = _Pickler()  # the storages written so far are dropped with the first one
        pickler.legacy = not _use_new_zipfile_serialization
        _ObjectPickler(pickler).dump(obj)
    if pickler.legacy:
        _write_legacy(pickler, f)
    else:
        _write_records(pickler, f, not _disable_byteorder_record)


def _write_legacy(pickler: _Pickler, f: str | os.PathLike | BinaryIO) -> None:
    """torch's legacy format: pickles of the magic number, the protocol version (1001) and
    the system's sizes, the object's pickle, a pickle of the storage keys, then each storage
    as its element count (int64) and its little-endian bytes."""
    def small(value) -> bytes:
        return pickle.dumps(value, protocol=2)

    chunks = [small(_LEGACY_MAGIC), small(_LEGACY_PROTOCOL),
              small({"protocol_version": _LEGACY_PROTOCOL, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}),
              bytes(pickler.out)]
    stored = list(pickler.storage_bytes())
    chunks.append(small([key for key, _ in stored]))
    for key, data in stored:  # (an untyped storage's size is in bytes, as torch writes it)
        chunks.append(struct.pack("<q", pickler.numels[key]))
        chunks.append(bytes(data))
    if isinstance(f, (str, os.PathLike)):
        with atomic_write(f) as handle:
            for chunk in chunks:
                handle.write(chunk)
    else:
        for chunk in chunks:
            f.write(chunk)


def save_tree(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """``save`` for a state dict only: anything but dicts, lists, tuples, sets, Tensors, numpy
    arrays, devices, dtypes, Sizes, numbers, strings, bytes and None is a ``TypeError`` (what
    ``torch.load(weights_only=True)`` can read, written without pickling objects)."""
    pickler = _Pickler()
    pickler.dump(obj)
    _write_records(pickler, f)


def _write_records(pickler: _Pickler, f: str | os.PathLike | BinaryIO,
                   byteorder: bool = True) -> None:
    records = [("data.pkl", bytes(pickler.out))] + ([("byteorder", b"little")] if byteorder
                                                    else [])
    records += [(f"data/{key}", data) for key, data in pickler.storage_bytes()]
    records.append(("version", b"3\n"))
    if isinstance(f, (str, os.PathLike)):
        with atomic_write(f) as handle:
            _write_zip(handle, records)
    else:
        _write_zip(f, records)


def _write_zip(handle: BinaryIO, records: list[tuple[str, bytes]]) -> None:
    """The records as stored (uncompressed) members ``archive/<name>``, each one's bytes
    starting at a multiple of ``config.save.storage_alignment`` from the file's start (as
    torch's writer: an extra field ``FB`` of padding in its local header), so that a storage
    mapped by ``load(mmap=True)`` is aligned for its elements."""
    from dlpy.utils.serialization import config

    alignment = max(1, int(config.save.storage_alignment))
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            info = zipfile.ZipInfo(f"archive/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            # where the data would start with an empty padding field (zipfile adds a ZIP64
            # field of 20 bytes of its own for a member of 2 GiB or more)
            start = (archive.fp.tell() + _LOCAL_HEADER.size + len(info.filename.encode())
                     + 4 + (20 if len(data) > zipfile.ZIP64_LIMIT else 0))
            info.extra = _PADDING.pack(0x4246, -start % alignment) + b"Z" * (-start % alignment)
            archive.writestr(info, data)


_PADDING = struct.Struct("<2H")  # an extra field's id ("FB": torch's padding) and its length


class _MixedStorageError(ValueError, RuntimeError):
    """Tensors viewing one memory as different dtypes (torch's RuntimeError: a storage is
    saved with one element type)."""


class _NotATree(TypeError):
    """``_Pickler`` met an object that is no tensor, number, string or container of them."""


class _Cycle(ValueError):
    """``_Pickler`` met a container that holds itself (``save`` pickles it as an object)."""


class _Pickler:
    """Writes pickle protocol 2 opcodes for the few kinds of object a checkpoint holds, with
    torch's globals named as torch names them (no torch needed, nothing else pickled)."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        # id(storage owner) -> its key, the storage in the tensors' dtype and the owner (kept,
        # so that the id stays its own)
        self.storages: dict[int, tuple[str, np.ndarray, np.ndarray]] = {}
        self.active: set[int] = set()
        # id(tensor, list or dict) -> (memo index, the object, kept so its id stays its own):
        # an object met twice loads as one object, as pickle's (off when _ObjectPickler,
        # which keeps its own memo, writes the tensors)
        self.memo: dict[int, tuple[int, Any]] = {}
        self.use_memo = True
        self.legacy = False  # torch's legacy format: storage ids end with a view (None)
        self.numels: dict[str, int] = {}  # storage key -> its size as its id says it

    def storage_bytes(self):
        """(key, the storage's little-endian bytes): a view of a contiguous little-endian
        array's memory (no copy), else a copy."""
        for key, root, _ in self.storages.values():
            little = root.astype(root.dtype.newbyteorder("<"), copy=False)
            if little.flags.c_contiguous:
                yield key, memoryview(little.reshape(-1).view(np.uint8))
            else:
                yield key, little.tobytes()

    def _global(self, module: str, name: str) -> None:
        self.out += b"c" + f"{module}\n{name}\n".encode("ascii")

    def _empty_ordered_dict(self) -> None:
        self._global("collections", "OrderedDict")
        self.out += pickle.EMPTY_TUPLE + pickle.REDUCE

    def dump(self, obj: Any) -> None:
        self._save(obj)
        self.out += pickle.STOP

    def _memo_get(self, obj: Any) -> bool:
        """Write a reference to ``obj`` if it was written before (True)."""
        entry = self.memo.get(id(obj))
        if entry is None:
            return False
        index = entry[0]
        self.out += pickle.BINGET + bytes([index]) if index < 256 else \
            pickle.LONG_BINGET + struct.pack("<I", index)
        return True

    def _memo_put(self, obj: Any) -> None:
        if self.use_memo:
            index = len(self.memo)
            self.memo[id(obj)] = (index, obj)
            self.out += pickle.BINPUT + bytes([index]) if index < 256 else \
                pickle.LONG_BINPUT + struct.pack("<I", index)

    def _save(self, obj: Any) -> None:
        out = self.out
        if obj is None:
            out += pickle.NONE
        elif isinstance(obj, (bool, np.bool_)):
            out += pickle.NEWTRUE if obj else pickle.NEWFALSE
        elif isinstance(obj, (int, np.integer)):
            obj = int(obj)
            if -2**31 <= obj < 2**31:
                out += pickle.BININT + struct.pack("<i", obj)
            else:
                encoded = pickle.encode_long(obj)
                out += pickle.LONG1 + bytes([len(encoded)]) + encoded
        elif isinstance(obj, (float, np.floating)):
            out += pickle.BINFLOAT + struct.pack(">d", float(obj))
        elif isinstance(obj, (complex, np.complexfloating)):  # as torch's pickle writes one
            self._global("builtins", "complex")
            self._save((obj.real, obj.imag))
            out += pickle.REDUCE
        elif isinstance(obj, (QDtype, QScheme)):  # torch.qint8, torch.per_tensor_affine
            self._global("torch", str(obj) if isinstance(obj, QScheme) else obj.name)
        elif isinstance(obj, QTensor):
            if not self._memo_get(obj):
                self._qtensor(obj)
                self._memo_put(obj)
        elif isinstance(obj, str):
            encoded = obj.encode("utf-8", "surrogatepass")
            out += pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded
        elif isinstance(obj, bytes):  # as pickle protocol 2 writes bytes
            self._global("_codecs", "encode")
            self._save((obj.decode("latin1"), "latin1"))
            out += pickle.REDUCE
        elif isinstance(obj, (Tensor, np.ndarray)):
            if not self._memo_get(obj):
                self._tensor(obj)
                self._memo_put(obj)
        elif isinstance(obj, (TypedStorage, UntypedStorage)):
            if not self._memo_get(obj):
                self._storage_id(obj)
                self._memo_put(obj)
        elif isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
            name = np.dtype(obj).name  # a dtype (dlpy.float16, t.dtype): torch's global
            if name not in _DTYPES:
                raise _NotATree(f"save: cannot write the dtype {name}")
            self._global("torch", name)
        elif isinstance(obj, device):  # as torch pickles one: torch.device('cpu') or (type, index)
            self._global("torch", "device")
            self._save((obj.type,) if obj.index is None else (obj.type, obj.index))
            out += pickle.REDUCE
        elif isinstance(obj, Size):  # as torch pickles one: torch.Size((2, 3))
            self._global("torch", "Size")
            self._save((tuple(obj),))
            out += pickle.REDUCE
        elif type(obj) is set:  # as pickle writes a set: builtins.set([items])
            self._global("builtins", "set")
            self._save((list(obj),))
            out += pickle.REDUCE
        elif type(obj) is Counter:  # as pickle writes one: collections.Counter(dict)
            self._global("collections", "Counter")
            self._save((dict(obj),))
            out += pickle.REDUCE
        elif type(obj) in (dict, list, tuple, OrderedDict):  # a subclass is pickled as such
            if id(obj) in self.active:
                raise _Cycle("save: the object contains itself (a cycle), which "
                             "dlpy.save_tree cannot hold")
            if isinstance(obj, tuple) or not self._memo_get(obj):
                self.active.add(id(obj))
                self._container(obj)
                self.active.discard(id(obj))
        else:
            raise _NotATree(f"save: cannot write a {type(obj).__name__} (dlpy.save_tree writes "
                            "Tensors, numpy arrays, devices, dtypes, Sizes, numbers, strings, "
                            "bytes, None and dicts, lists, tuples, sets of them)")

    def _container(self, obj) -> None:
        out = self.out
        if isinstance(obj, tuple):
            out += pickle.MARK
            for item in obj:
                self._save(item)
            out += pickle.TUPLE
        elif isinstance(obj, list):
            out += pickle.EMPTY_LIST
            self._memo_put(obj)
            out += pickle.MARK
            for item in obj:
                self._save(item)
            out += pickle.APPENDS
        else:
            if isinstance(obj, OrderedDict):
                self._empty_ordered_dict()
            else:
                out += pickle.EMPTY_DICT
            self._memo_put(obj)
            out += pickle.MARK
            for key, value in obj.items():
                self._save(key)
                self._save(value)
            out += pickle.SETITEMS
            metadata = getattr(obj, "_metadata", None)
            if isinstance(obj, OrderedDict) and metadata is not None:
                # a state_dict's module versions, as torch pickles them (the dict's __dict__)
                out += pickle.EMPTY_DICT + pickle.MARK
                self._save("_metadata")
                self._save(metadata)
                out += pickle.SETITEMS + pickle.BUILD

    def _tensor(self, obj) -> None:
        from dlpy.nn import Parameter

        array = obj.data if isinstance(obj, Tensor) else obj
        low = array.dtype.name if array.dtype.name in _LOW else None  # ml_dtypes': torch's bits
        if isinstance(obj, Tensor) and array.dtype.newbyteorder("=") in _WIDE_UINTS:
            # a uint16/32/64 tensor: no typed storage, written untyped with its dtype (as
            # float8's); a numpy array of them is pickled as numpy's
            low = np.dtype(array.dtype.newbyteorder("=")).name
        if low is None and (array.dtype.kind not in "biufc" or np.dtype(
                array.dtype.newbyteorder("=")) not in _STORAGE_NAMES):
            # a numpy array of a dtype torch has no storage for (np.random.get_state()'s
            # uint32 key): ``save`` pickles it as numpy does (as torch.save pickles arrays)
            error = _NotATree if isinstance(obj, np.ndarray) else TypeError
            raise error(f"save: cannot write an array of dtype {array.dtype}")
        parameter = isinstance(obj, Parameter)
        state = _without_gradless(getattr(obj, "__dict__", None)) if isinstance(
            obj, Tensor) else None  # (a view made under no_grad loads as a leaf of its own)
        if parameter:  # its attributes, as torch writes them: _rebuild_parameter_with_state
            self._global("torch._utils", "_rebuild_parameter_with_state" if state
                         else "_rebuild_parameter")
            self.out += pickle.MARK
        elif state:  # a tensor's: _rebuild_from_type_v2(_rebuild_tensor_v2, Tensor, args, state)
            self._global("torch._tensor", "_rebuild_from_type_v2")
            self.out += pickle.MARK
        wrapped = state and not parameter
        if type(array) is MetaArray:  # torch's: no storage, its dtype, size and strides
            self._global("torch._utils", "_rebuild_meta_tensor_no_storage")
            if wrapped:
                self._global("torch", "Tensor")
            self.out += pickle.MARK
            self._global("torch", array.dtype.name)
            strides = tuple(int(np.prod(array.shape[i + 1:])) for i in range(array.ndim))
            for item in (tuple(array.shape), strides,
                         isinstance(obj, Tensor) and obj.requires_grad and not parameter):
                self._save(item)
            self._close_tensor(obj, parameter, state, wrapped)
            return
        owner, root, offset, stride = _storage_of(array)
        key, root = self._storage_key(owner, root)
        # float8 has no legacy storage class: torch writes an untyped (byte) storage and the
        # dtype, through _rebuild_tensor_v3
        untyped = low is not None and low != "bfloat16"
        self._global("torch._utils", "_rebuild_tensor_v3" if untyped else "_rebuild_tensor_v2")
        if wrapped:  # the function and the type are arguments; the call is the wrapper's
            self._global("torch", "Tensor")
        self.out += pickle.MARK
        if untyped:
            storage_class = ("torch.storage", "UntypedStorage")
        else:
            storage_class = ("torch", "BFloat16Storage" if low else
                             _STORAGE_NAMES[np.dtype(root.dtype.newbyteorder("="))])
        numel = root.size * root.itemsize if untyped else root.size  # (untyped: bytes)
        self._persistent_id(storage_class, key, numel)
        for item in (offset, tuple(array.shape), stride,
                     isinstance(obj, Tensor) and obj.requires_grad and not parameter):
            self._save(item)
        self._empty_ordered_dict()
        if untyped:
            self._global("torch", low)
        self._close_tensor(obj, parameter, state, wrapped)

    def _storage_id(self, storage) -> None:
        """A storage (``x.storage()``, ``x.untyped_storage()``) as torch saves one: its
        persistent id alone, one storage with the tensors that view the same memory (a typed
        storage's class names its dtype; an untyped one counts bytes)."""
        untyped = isinstance(storage, UntypedStorage)
        elements = storage._bytes() if untyped else storage._elements()
        low = elements.dtype.name if elements.dtype.name in _LOW else None
        if untyped:
            name = ("torch.storage", "UntypedStorage")
        elif low == "bfloat16":
            name = ("torch", "BFloat16Storage")
        elif np.dtype(elements.dtype.newbyteorder("=")) in _STORAGE_NAMES:
            name = ("torch", _STORAGE_NAMES[np.dtype(elements.dtype.newbyteorder("="))])
        else:  # (float8, uint16/32/64: torch has no typed storage class for them either)
            raise TypeError(f"save: cannot write a TypedStorage of dtype {elements.dtype}")
        owner, root, offset, _ = _storage_of(elements)
        if offset or root.size != elements.size:  # part of a larger array: its own storage
            owner = root = np.ascontiguousarray(elements)
        key, root = self._storage_key(owner, root)
        self._persistent_id(name, key, root.size)

    def _storage_key(self, owner: np.ndarray, root: np.ndarray) -> tuple[str, np.ndarray]:
        """The key of the storage ``owner`` (an array's memory, ``root`` its elements as this
        tensor's dtype): one key for everything over the same memory, of one element type."""
        saved = self.storages.get(id(owner))
        if saved is not None and saved[1].dtype != root.dtype:  # one storage, one element type
            raise _MixedStorageError("Cannot save multiple tensors or storages that view the "
                                     "same data as different types")
        key, root, _ = self.storages.setdefault(id(owner), (str(len(self.storages)), root,
                                                            owner))
        return key, root

    def _persistent_id(self, storage_class: tuple[str, str], key: str, numel: int) -> None:
        """A storage's persistent id, as torch writes it: ('storage', its class, key, 'cpu',
        its size[, None in the legacy format])."""
        self.numels[key] = numel  # (the legacy format writes it again before the bytes)
        self.out += pickle.MARK
        self._save("storage")
        self._global(*storage_class)
        for item in (key, "cpu", numel) + ((None,) if self.legacy else ()):
            self._save(item)
        self.out += pickle.TUPLE + pickle.BINPERSID

    def _qtensor(self, q: QTensor) -> None:
        """A quantized tensor as torch pickles one: ``_rebuild_qtensor`` over a QInt8 /
        QUInt8 / QInt32 storage of its integers and its quantizer's parameters."""
        storage_class = _QSTORAGE_NAMES.get(q.dtype.name)
        if storage_class is None:
            raise TypeError(f"save: cannot write a quantized tensor of dtype {q.dtype.name} "
                            "(qint8, quint8 and qint32 only)")
        owner, root, offset, stride = _storage_of(q._int)
        key, root = self._storage_key(owner, root)
        self._global("torch._utils", "_rebuild_qtensor")
        self.out += pickle.MARK
        self._persistent_id(("torch", storage_class), key, root.size)
        for item in (offset, tuple(q._int.shape), stride):
            self._save(item)
        self.out += pickle.MARK
        self._save(q._qscheme)
        if q._axis is None:
            self._save(float(q._scale))
            self._save(int(q._zero_point))
        else:  # torch's: the scales and zero points as tensors (float64 / int64), the axis
            self._save(Tensor(np.asarray(q._scale)))
            self._save(Tensor(np.asarray(q._zero_point)))
            self._save(int(q._axis))
        self.out += pickle.TUPLE
        self._save(False)
        self._empty_ordered_dict()
        self.out += pickle.TUPLE + pickle.REDUCE

    def _close_tensor(self, obj, parameter: bool, state, wrapped: bool) -> None:
        """The end of a tensor's rebuild call (its arguments' tuple open): the call, then the
        wrapping call of a Parameter or of a tensor with Python attributes."""
        if wrapped:
            self.out += pickle.TUPLE
            self._save(dict(state))
            self.out += pickle.TUPLE + pickle.REDUCE
            return
        self.out += pickle.TUPLE + pickle.REDUCE
        if parameter:
            self._save(obj.requires_grad)
            self._empty_ordered_dict()
            if state:
                self._save(dict(state))
            self.out += pickle.TUPLE + pickle.REDUCE


class _ObjectPickler(pickle._Pickler):
    """Python's (pure-Python) pickler, protocol 2, for whatever ``_Pickler`` does not write (a
    whole Module): Tensors and Parameters are written by ``tensors`` (a ``_Pickler``, whose
    storages go into the archive) as torch writes them, and memoised, so a tensor referenced
    twice (tied weights, a buffer under its attribute and in ``_buffers``) loads as one object;
    numpy arrays and the rest are pickled as Python pickles them."""

    def __init__(self, tensors: _Pickler):
        self.buffer = io.BytesIO()
        # fix_imports=False: Python 3's module names (builtins.set), as torch's files have
        super().__init__(self.buffer, protocol=2, fix_imports=False)
        self.tensors = tensors
        tensors.use_memo = False

    def dump(self, obj: Any) -> None:
        super().dump(obj)
        self.tensors.out = bytearray(self.buffer.getvalue())

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        from dlpy.nn import Parameter
        from dlpy.nn.module import ComplexParameter
        from dlpy.ops.complex import ComplexTensor

        if (type(obj) in (Tensor, Parameter, ComplexTensor, ComplexParameter, device, Size,
                          TypedStorage, UntypedStorage, QTensor, QDtype, QScheme)
                or isinstance(obj, np.dtype)
                and obj.name in _DTYPES) and id(obj) not in self.memo:
            self.tensors.out = bytearray()
            self.tensors._save(obj)  # the graph behind a recorded tensor is not saved, as torch
            self.write(bytes(self.tensors.out))
            self.memoize(obj)
            return
        super().save(obj, save_persistent_id)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        qualname = name or getattr(obj, "__qualname__", "")
        if "<locals>" in qualname:  # as Python's C pickler, torch's, says it
            raise AttributeError(f"Can't pickle local object {qualname!r}")
        super().save_global(obj, name)

    # pickle's table of savers names its own save_global: a function uses ours
    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[types.FunctionType] = save_global  # a class goes through save_type, to ours


def _storage_of(array: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, tuple[int, ...]]:
    """The C-contiguous array that ``array`` views (the storage's owner, and that storage seen
    with ``array``'s dtype: a loaded bfloat16 tensor views uint16 bits), the offset and the
    strides in elements; an array that is no plain view of one is its own storage (a copy if
    it is not contiguous)."""
    owner = array
    while True:
        base = owner.base
        if not isinstance(base, np.ndarray):  # as_strided's views hold an object over theirs
            base = getattr(base, "base", None)
        if not isinstance(base, np.ndarray):
            break
        owner = base
    item = array.itemsize
    # (a view of another dtype, x.view(torch.uint8), shares the owner's bytes seen as its own
    # elements, as torch's storage is untyped)
    if owner is not array and owner.flags.c_contiguous and owner.nbytes % item == 0 \
            and all(s >= 0 and s % item == 0 for s in array.strides):
        start = array.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
        # (an empty view may start at its base's end: x[3:] of 3 rows)
        if start % item == 0 and 0 <= start // item < max(owner.nbytes // item, 1) + (
                array.size == 0):
            root = owner if owner.dtype == array.dtype else \
                owner.reshape(-1).view(np.uint8).view(array.dtype)
            return owner, root, start // item, tuple(s // item for s in array.strides)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    contiguous = tuple(int(np.prod(array.shape[i + 1:])) for i in range(array.ndim))
    return array, array, 0, contiguous


class PyTorchFileReader:
    """``torch.PyTorchFileReader``: the records of a ``torch.save`` zip archive by name,
    without the archive's top folder (``"data.pkl"``, ``"data/0"``, ``"version"``), as torch's
    reader gives them to code that unpickles a checkpoint lazily. ``file`` is a path or a
    binary file object."""

    def __init__(self, file: str | os.PathLike | BinaryIO) -> None:
        self._archive = zipfile.ZipFile(file)
        names = self._archive.namelist()
        self._prefix = names[0].split("/")[0] + "/" if names and "/" in names[0] else ""

    def get_all_records(self) -> list[str]:
        """Every record's name, the archive's top folder left out."""
        n = len(self._prefix)
        return [name[n:] for name in self._archive.namelist() if name.startswith(self._prefix)]

    def has_record(self, name: str) -> bool:
        """Whether the archive holds the record ``name``."""
        return self._prefix + name in self._archive.NameToInfo

    def get_record(self, name: str) -> bytes:
        """The bytes of the record ``name`` (a RuntimeError where there is none, as torch's)."""
        if not self.has_record(name):
            raise CheckpointError(f"PyTorchFileReader: no record {name!r} in the archive")
        return self._archive.read(self._prefix + name)

    def get_record_offset(self, name: str) -> int:
        """Where the record ``name``'s bytes start in the file (they are stored uncompressed)."""
        info = self._archive.getinfo(self._prefix + name)
        self._archive.fp.seek(info.header_offset + 26)
        sizes = self._archive.fp.read(4)
        return info.header_offset + 30 + int.from_bytes(sizes[:2], "little") + \
            int.from_bytes(sizes[2:], "little")
