"""Hugging Face's ``.safetensors`` files, read and written with numpy (no safetensors package).

    from dlpy.utils.safetensors import load_file, safe_open, save_file
    state = load_file("model.safetensors")          # name -> Tensor
    save_file({"w": w}, "out.safetensors", metadata={"step": "10"})
    with safe_open("model.safetensors") as f:      # reads only the tensors asked for
        w = f.get_tensor("w")

The format: an 8-byte little-endian header length N, N bytes of JSON (per tensor its dtype,
shape and ``data_offsets`` [begin, end) into the data, and an optional ``__metadata__`` of
strings), then the raw little-endian bytes. BF16, F8_E4M3 and F8_E5M2 tensors load as
ml_dtypes' types (``dlpy.bfloat16``, ``dlpy.float8_e4m3fn``, ``dlpy.float8_e5m2``, bit patterns
kept) and are saved from them; where ml_dtypes is missing they load as float32 (exactly, with
one warning). A file is checked as the safetensors package checks it (the header is JSON, dtypes
are known, offsets tile the data without gaps or overlaps and match the shapes);
errors name the file.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np

from dlpy.device import as_device
from dlpy.io import atomic_write
from dlpy.serialization import bfloat16_to_float32
from dlpy.tensor import Tensor

__all__ = ["load", "load_file", "safe_open", "save", "save_file"]

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32,
    "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_, "C64": np.complex64,
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
# the safetensors package's Dtype enum order (its layout sorts by it)
_ENUM_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32",
               "F32", "C64", "F64", "I64", "U64"]
# stored as these raw types, viewed as ml_dtypes' type of the second name on load
_CONVERTED = {"BF16": (np.uint16, "bfloat16"), "F8_E4M3": (np.uint8, "float8_e4m3fn"),
              "F8_E5M2": (np.uint8, "float8_e5m2")}
_LOW_NAMES = {low: name for name, (_, low) in _CONVERTED.items()}  # ml_dtypes' name -> ours
_MAX_HEADER = 100_000_000  # the safetensors package's limit


def _float8_e4m3_table() -> np.ndarray:
    """float32 value of every float8 e4m3fn byte: bias 7, no infinities, S.1111.111 is NaN."""
    bits = np.arange(256)
    sign = np.where(bits & 0x80, -1.0, 1.0)
    exponent, mantissa = (bits >> 3) & 0xF, bits & 0x7
    value = np.where(exponent == 0, mantissa / 8 * 2.0 ** -6,
                     (1 + mantissa / 8) * 2.0 ** (exponent - 7))
    value = np.where((exponent == 0xF) & (mantissa == 0x7), np.nan, value)
    return (sign * value).astype(np.float32)


def float8_to_float32(name: str, raw: np.ndarray) -> np.ndarray:
    """float8 bit patterns (uint8) of torch's dtype ``name`` as float32 values, exactly."""
    if name == "float8_e5m2":  # the high byte of a float16
        return (raw.astype(np.uint16) << 8).view(np.float16).astype(np.float32)
    return _float8_e4m3_table()[raw]


def _low_precision(name: str, raw: np.ndarray, source: str) -> np.ndarray:
    from dlpy.amp.dtypes import stored_dtype

    low = _CONVERTED[name][1]
    dtype = stored_dtype(low, source)
    if dtype is not None:
        return raw.view(dtype)
    return bfloat16_to_float32(raw) if name == "BF16" else float8_to_float32(low, raw)


def _parse_header(header_bytes: bytes, data_size: int) -> tuple[dict, dict[str, str]]:
    """(name -> (dtype name, shape, begin, end), metadata); ValueError saying what is wrong."""
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"the header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError(f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("__metadata__ must map strings to strings")
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            raise ValueError(f"tensor {name!r}: expected an object, got {info!r:.60}")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES and dtype not in _CONVERTED:
            raise ValueError(f"tensor {name!r}: unknown dtype {dtype!r} (known: "
                             f"{', '.join([*_DTYPES, *_CONVERTED])})")
        if not isinstance(shape, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise ValueError(f"tensor {name!r}: shape must be a list of sizes, got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(n, int) and not isinstance(n, bool) for n in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise ValueError(f"tensor {name!r}: data_offsets {offsets!r} are not a range "
                             f"inside the {data_size} data bytes")
        itemsize = np.dtype(_DTYPES.get(dtype) or _CONVERTED[dtype][0]).itemsize
        needed = int(np.prod(shape, dtype=object)) * itemsize
        if offsets[1] - offsets[0] != needed:
            raise ValueError(f"tensor {name!r}: {dtype} of shape {tuple(shape)} needs {needed} "
                             f"bytes, data_offsets {offsets} hold {offsets[1] - offsets[0]}")
        entries[name] = (dtype, tuple(shape), offsets[0], offsets[1])
    end = 0
    for name, (_, _, begin, stop) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if begin != end:
            raise ValueError(f"tensor {name!r}: data_offsets start at {begin}, the previous "
                             f"tensor ends at {end} ({'an overlap' if begin < end else 'a gap'})")
        end = stop
    if end != data_size:
        raise ValueError(f"the tensors end at byte {end} of the data, the file holds "
                         f"{data_size} data bytes")
    return entries, metadata


def _read_header(handle, path: str, file_size: int) -> tuple[dict, dict[str, str], int]:
    head = handle.read(8)
    if len(head) < 8:
        raise ValueError(f"{path}: not a safetensors file, {len(head)} bytes is too short")
    (length,) = struct.unpack("<Q", head)
    if length > min(file_size - 8, _MAX_HEADER):
        raise ValueError(f"{path}: the header claims {length} bytes, the file has "
                         f"{file_size - 8} after the length (cut, or not a safetensors file)")
    try:
        entries, metadata = _parse_header(handle.read(length), file_size - 8 - length)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return entries, metadata, 8 + length


def _array(dtype: str, shape: tuple, raw: bytes | bytearray | memoryview,
           source: str) -> np.ndarray:
    if dtype in _CONVERTED:
        element = _CONVERTED[dtype][0]
        values = np.frombuffer(raw, np.dtype(element).newbyteorder("<")).astype(element,
                                                                                copy=False)
        return _low_precision(dtype, values, source).reshape(shape)
    array = np.frombuffer(raw, np.dtype(_DTYPES[dtype]).newbyteorder("<"))
    return array.astype(_DTYPES[dtype], copy=False).reshape(shape)


def _open(path) -> tuple[str, Any]:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    return path, open(path, "rb")


def load_file(path: str | os.PathLike, device="cpu") -> dict[str, Tensor]:
    """All the tensors of a ``.safetensors`` file, name -> Tensor, in the file's order.
    ``device``: the CPU (a string, a device), any other a RuntimeError."""
    as_device(device, "load_file")
    path, handle = _open(path)
    with handle:
        size = os.fstat(handle.fileno()).st_size
        entries, _, start = _read_header(handle, path, size)
        data = bytearray(handle.read())  # writable arrays, as torch's
    return _tensors(entries, data, path)


def _tensors(entries: dict, data: bytearray, source: str) -> dict[str, Tensor]:
    return {name: Tensor(_array(dtype, shape, memoryview(data)[begin:end], source))
            for name, (dtype, shape, begin, end) in entries.items()}


def load(data: bytes) -> dict[str, Tensor]:
    """``load_file`` of a file's bytes (safetensors.numpy.load)."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"safetensors.load: expected bytes, got {type(data).__name__}")
    import io

    handle = io.BytesIO(data)
    entries, _, start = _read_header(handle, "<bytes>", len(data))
    return _tensors(entries, bytearray(data[start:]), "<bytes>")


class safe_open:  # noqa: N801 - the safetensors package's name
    """Lazy access: the header is read on opening, each tensor when asked for.
    ``framework`` is accepted for call compatibility ("np", "numpy", "pt", ...) and ignored;
    ``device``: the CPU (a string, a device), any other a RuntimeError."""

    def __init__(self, path: str | os.PathLike, framework: str = "np", device="cpu"):
        as_device(device, "safe_open")
        self.path, self._handle = _open(path)
        try:
            size = os.fstat(self._handle.fileno()).st_size
            self._entries, self._metadata, self._start = _read_header(self._handle, self.path,
                                                                      size)
        except BaseException:
            self._handle.close()
            raise

    def keys(self) -> list[str]:
        return list(self._entries)

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)

    def get_tensor(self, name: str) -> Tensor:
        if name not in self._entries:
            raise KeyError(f"{self.path}: no tensor named {name!r}")
        dtype, shape, begin, end = self._entries[name]
        self._handle.seek(self._start + begin)
        return Tensor(_array(dtype, shape, bytearray(self._handle.read(end - begin)),
                             self.path))

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> safe_open:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def save(tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a ``.safetensors`` file holding ``tensors`` (Tensors or numpy arrays), laid
    out as the safetensors package lays them out (largest items first, then by name)."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file: tensors must be a dict name -> Tensor, got "
                        f"{type(tensors).__name__}")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError(f"save_file: metadata must map strings to strings, got {metadata!r:.80}")
    arrays, names = {}, {}  # name -> array (little-endian), its safetensors dtype
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"save_file: tensor names are strings other than '__metadata__', "
                             f"got {name!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.name in _LOW_NAMES:  # ml_dtypes' bfloat16 / float8: their bits
            names[name] = _LOW_NAMES[array.dtype.name]
            array = array.view(_CONVERTED[names[name]][0])
        else:
            dtype = np.dtype(array.dtype.newbyteorder("="))
            if dtype not in _NAMES:
                raise TypeError(f"save_file: tensor {name!r} has dtype {array.dtype}, which "
                                "safetensors cannot hold")
            names[name] = _NAMES[dtype]
        array = np.asarray(array, array.dtype.newbyteorder("<"))
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")
    # the safetensors package's order: by its dtype enum, last first, then by name
    order = sorted(arrays, key=lambda n: (-_ENUM_ORDER.index(names[n]), n))
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name in order:
        array = arrays[name]
        header[name] = {"dtype": names[name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    return b"".join([struct.pack("<Q", len(encoded)), encoded,
                     *(arrays[name].tobytes() for name in order)])


def save_file(tensors: dict[str, Any], path: str | os.PathLike,
              metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name -> Tensor or numpy array) and string ``metadata`` to ``path``,
    atomically."""
    data = save(tensors, metadata)
    with atomic_write(path) as handle:
        handle.write(data)
