"""torch's remaining top-level machinery: dtype limits (finfo, iinfo), Size, the thread, the
determinism and the float32-matmul-precision settings, as_strided, segment_reduce, frombuffer,
DLPack exchange, the control-flow operators cond and while_loop, nonzero_static, and the
flags of the lazy conjugate/negative bits that dlpy has no need of, and inference tensors.
``dlpy/__init__.py`` exports TOP_LEVEL; ``tensor_methods.py`` attaches TENSOR_METHODS."""

from __future__ import annotations

import os
import warnings
import weakref

import numpy as np

from dlpy import meta as _meta
from dlpy.ops import ArgError
from dlpy.ops import multi_output as _multi_output
from dlpy.ops.segment import segment_reduce  # noqa: F401 - exported (TOP_LEVEL)
from dlpy.size import Size
from dlpy.storage import TypedStorage, UntypedStorage  # noqa: F401 - exported (TOP_LEVEL)
from dlpy.tensor import Tensor, default_dtype


def _dtype(name: str, dtype) -> np.dtype:
    if isinstance(dtype, (Tensor, np.ndarray)):  # numpy would take its dtype; torch refuses
        raise TypeError(f"{name}: expected a dtype, got {type(dtype).__name__}")
    try:
        return np.dtype(default_dtype(dtype))
    except TypeError:
        raise TypeError(f"{name}: expected a dtype, got {dtype!r}") from None


# ----------------------------------------------------------------- dtype limits
_DEFAULT = object()  # finfo's "no argument" (None is refused)


class finfo:  # noqa: N801 - PyTorch's name
    """torch.finfo(type): bits, eps, max, min, tiny (= smallest_normal), resolution and
    dtype (its name) of a floating-point dtype (no argument: the default dtype's; None, a
    tensor or an integer dtype is a TypeError); a complex dtype gives its real part's."""

    def __init__(self, type=_DEFAULT):  # noqa: A002 - PyTorch's name
        if type is None:  # finfo() is the default dtype's, finfo(None) an error, as torch's
            raise TypeError("finfo: expected a dtype, got None")
        dtype = _dtype("finfo", None if type is _DEFAULT else type)
        if dtype.kind == "c":
            dtype = np.dtype(dtype.char.lower())  # complex64 -> float32
        if dtype.kind != "f" and dtype.name not in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            raise TypeError(f"finfo: expected a floating-point dtype, got {dtype}")
        info = np.finfo(dtype)  # ml_dtypes registers bfloat16's and float8's
        self.bits, self.dtype = int(info.bits), dtype.name
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        # torch's: 10 ** -digits10, digits10 = floor(nmant * log10(2)) (float8: 1, not 0.1)
        self.resolution = 10.0 ** -int(info.nmant * 0.30102999566398120)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")

    def __eq__(self, other) -> bool:  # torch's: equal fields (complex64's is float32's)
        return type(other) is finfo and vars(self) == vars(other)

    __hash__ = None  # unhashable, as torch's


class iinfo:  # noqa: N801 - PyTorch's name
    """torch.iinfo(dtype): bits, max, min and dtype (its name) of an integer dtype."""

    def __init__(self, type):  # noqa: A002 - PyTorch's name
        dtype = _dtype("iinfo", type)
        if dtype.kind not in "iu":
            raise TypeError(f"iinfo: expected an integer dtype, got {dtype}")
        info = np.iinfo(dtype)
        self.bits, self.max, self.min, self.dtype = (int(info.bits), int(info.max),
                                                     int(info.min), dtype.name)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"  # torch's %g

    def __eq__(self, other) -> bool:
        return type(other) is iinfo and vars(self) == vars(other)

    __hash__ = None  # unhashable, as torch's


# ----------------------------------------------------------------- Size (dlpy/size.py)


# ----------------------------------------------------------------- threads
_interop_threads: int | None = None


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ArgError(f"{name}: expected a positive number of threads, got {value!r}")
    return int(value)


def get_num_threads() -> int:
    """The threads numpy's BLAS (and OpenMP) use for one op (torch's intra-op threads): read
    with threadpoolctl when it is installed, else OMP_NUM_THREADS or the CPU count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    counts = [pool["num_threads"] for pool in threadpool_info()
              if pool["user_api"] in ("blas", "openmp")]
    return max(counts) if counts else 1


def set_num_threads(num: int) -> None:
    """Limit numpy's BLAS and OpenMP pools to ``num`` threads (torch.set_num_threads), through
    threadpoolctl; without it only OMP_NUM_THREADS & co. are set, which libraries read when
    they load (so it acts on a BLAS loaded later, not numpy's)."""
    num = _positive("set_num_threads", num)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(num)
        return
    threadpool_limits(limits=num)  # stays in force (never restored)


def get_num_interop_threads() -> int:
    """torch's inter-op threads: dlpy runs ops one after another, so 1 unless set."""
    return 1 if _interop_threads is None else _interop_threads


def set_num_interop_threads(num: int) -> None:
    """Accepted and remembered (get_num_interop_threads); dlpy has no inter-op pool."""
    global _interop_threads
    _interop_threads = _positive("set_num_interop_threads", num)


def init_num_threads() -> None:
    """torch.init_num_threads (a worker thread's pool set up): nothing to do, numpy's BLAS
    pool is set up when it loads."""


# ----------------------------------------------------------------- device modules
_DEVICE_MODULES = {"cpu": "dlpy.cpu", "cuda": "dlpy.cuda", "mps": "dlpy.mps"}


def get_device_module(device=None):
    """torch.get_device_module: the module of a device type (``dlpy.cpu`` for "cpu",
    ``dlpy.cuda``, ``dlpy.mps``); None is the current accelerator's, the CPU's here. A type
    with no module (meta, xpu, ...) raises RuntimeError, as does a value that is no device."""
    import importlib

    from dlpy.device import device as _device

    if device is None:
        kind = "cpu"
    elif isinstance(device, (str, _device)):
        kind = _device(device).type
    else:
        raise RuntimeError(f"Invalid value of device '{device}', expect torch.device, str, or "
                           f"None")
    if kind not in _DEVICE_MODULES:
        raise RuntimeError(f"Device '{kind}' does not have a corresponding module registered as "
                           f"'torch.{kind}'.")
    return importlib.import_module(_DEVICE_MODULES[kind])


# ----------------------------------------------------------------- settings with no effect
_deterministic = {"mode": False, "warn_only": False}
_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}
_matmul_precision = "highest"


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """A flag, as torch's: dlpy's ops are deterministic already (numpy on the CPU; no atomics)."""
    for name, value in (("mode", mode), ("warn_only", warn_only)):
        if not isinstance(value, bool):
            raise TypeError(f"use_deterministic_algorithms: {name} must be True or False, got "
                            f"{value!r}")
    _deterministic.update(mode=mode, warn_only=warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic["warn_only"]


def set_deterministic_debug_mode(debug_mode) -> None:
    """'default' (0), 'warn' (1) or 'error' (2), as torch: sets use_deterministic_algorithms."""
    mode = _DEBUG_MODES.get(debug_mode, debug_mode) if isinstance(debug_mode, str) else debug_mode
    if isinstance(mode, str) or mode not in (0, 1, 2) or isinstance(mode, bool):
        raise ArgError(f"set_deterministic_debug_mode: expected 'default', 'warn', 'error' or "
                       f"0, 1, 2, got {debug_mode!r}")
    use_deterministic_algorithms(mode > 0, warn_only=mode == 1)


def get_deterministic_debug_mode() -> int:
    if not _deterministic["mode"]:
        return 0
    return 1 if _deterministic["warn_only"] else 2


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted and remembered, with no effect: numpy's float32 matmul is always full float32
    ('highest'; no TF32 or bfloat16 passes on the CPU)."""
    global _matmul_precision
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got "
                           f"{type(precision).__name__}")
    if precision not in ("highest", "high", "medium"):  # torch: a warning, and no change
        warnings.warn(f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', "
                      f"got {precision!r}; the call has no effect", UserWarning, stacklevel=2)
        return
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision


# ----------------------------------------------------------------- memory views
def _sizes(name: str, what: str, values) -> tuple[int, ...]:
    values = tuple(values) if isinstance(values, (tuple, list, Size)) else (values,)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ArgError(f"{name}: {what} must be non-negative ints, got {values}")
    return tuple(int(v) for v in values)


def as_strided(input, size, stride, storage_offset: int | None = None) -> Tensor:  # noqa: A002
    """torch.as_strided over ``input``'s storage: out[i] = storage[storage_offset + sum_k i_k *
    stride[k]] (``storage_offset``: input's own by default), reaching only elements of
    ``input`` (torch reads its whole storage). A view of a contiguous input's memory, as
    torch's (read-only where windows overlap), else a copy; overlapping windows' gradients
    add up."""
    from dlpy.tensor_methods import _storage_offset

    input = input if isinstance(input, Tensor) else Tensor(np.asarray(input))  # noqa: A001
    size, stride = _sizes("as_strided", "size", size), _sizes("as_strided", "stride", stride)
    first = _storage_offset(input) if input.data.size else 0  # input's first element's place
    if storage_offset is None:
        storage_offset = first
    (storage_offset,) = _sizes("as_strided", "storage_offset", storage_offset)
    if len(size) != len(stride):
        raise ValueError(f"as_strided: size {size} and stride {stride} must have the same "
                         f"length")
    from dlpy.ops.views import AsStrided

    if _meta.holds_meta(input):  # the view's strides and offset, unchecked, as torch's
        return AsStrided(None, tuple(size), tuple(stride), storage_offset)(input)
    index = np.full(size, storage_offset - first, dtype=np.int64)
    for axis, (n, step) in enumerate(zip(size, stride)):
        index += (np.arange(n, dtype=np.int64) * step).reshape((n,) + (1,) * (len(size)
                                                                           - axis - 1))
    data = input.data
    if not data.flags.c_contiguous and index.size:
        # storage places -> input's row-major elements (x.t(): storage order, as torch's)
        places = np.zeros(data.shape, dtype=np.int64)
        for axis, step in enumerate(data.strides):
            places += (np.arange(data.shape[axis], dtype=np.int64) * (step // data.itemsize)
                       ).reshape((-1,) + (1,) * (data.ndim - axis - 1))
        places = places.reshape(-1)
        order = np.argsort(places, kind="stable")
        found = np.searchsorted(places[order], index).clip(0, places.size - 1)
        if not np.array_equal(places[order][found], index):
            raise ValueError(f"as_strided: size {size}, stride {stride} and storage_offset "
                             f"{storage_offset} reach memory outside the tensor")
        index = order[found]
    elif index.size and index.max() >= data.size:
        raise ArgError(f"as_strided: size {size}, stride {stride} and storage_offset "
                       f"{storage_offset} reach element {int(index.max())} of a tensor of "
                       f"{data.size} elements")
    elif index.size and index.min() < 0:
        raise ValueError(f"as_strided: storage_offset {storage_offset} reaches memory before "
                         f"the tensor's first element (storage element {first})")
    return AsStrided(index, tuple(size), tuple(stride), storage_offset - first)(input)


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0,
               requires_grad: bool = False) -> Tensor:
    """torch.frombuffer: a 1-D tensor sharing ``buffer``'s memory (numpy.frombuffer)."""
    dtype = _dtype("frombuffer", dtype)
    length = memoryview(buffer).nbytes
    if length == 0 or count == 0:
        raise ValueError(f"frombuffer: both buffer length ({length}) and count ({count}) must "
                         "not be 0")
    if not 0 <= offset < length:
        raise ValueError(f"frombuffer: offset ({offset} bytes) must be non-negative and no "
                         f"greater than buffer length ({length} bytes) minus 1")
    try:
        array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    except (ValueError, TypeError) as error:
        raise ValueError(f"frombuffer: {error} (dtype {dtype}, count {count}, offset "
                         f"{offset})") from None
    # over the bytes it reads only, so its storage starts there (storage_offset 0, as torch)
    memory = memoryview(buffer).cast("B")[offset:offset + array.nbytes]
    return Tensor(np.frombuffer(memory, dtype=dtype), requires_grad=requires_grad)


class _Capsule:
    """A bare DLPack capsule (torch.to_dlpack's) given the __dlpack__ protocol numpy reads."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


class DLPackTypeError(TypeError, RuntimeError):
    """from_dlpack of an object that is neither a DLPack capsule nor has __dlpack__ (torch's
    RuntimeError)."""


_INVALID_CAPSULE = ("from_dlpack received an invalid capsule. Note that DLTensor capsules can "
                    "be consumed only once, so you might have already constructed a tensor "
                    "from it once.")


def from_dlpack(ext_tensor) -> Tensor:
    """torch.from_dlpack: a tensor sharing the memory of any object with __dlpack__ (numpy,
    torch, jax arrays, a dlpy Tensor) or of a DLPack capsule. Anything else, or a capsule
    already consumed, raises torch's RuntimeError (``DLPackTypeError``, ``ArgError``)."""
    if isinstance(ext_tensor, Tensor):
        if ext_tensor.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        return ext_tensor
    if not hasattr(ext_tensor, "__dlpack__"):
        if type(ext_tensor).__name__ != "PyCapsule":
            raise DLPackTypeError(f"{_INVALID_CAPSULE} (from_dlpack: expected an object with "
                                  f"__dlpack__ or a DLPack capsule, got "
                                  f"{type(ext_tensor).__name__})")
        try:
            return Tensor(np.from_dlpack(_Capsule(ext_tensor)))
        except ValueError as err:  # numpy: a capsule renamed "used_dltensor"
            raise ArgError(_INVALID_CAPSULE) from err
    return Tensor(np.from_dlpack(ext_tensor))


def to_dlpack(tensor: Tensor):
    """torch.to_dlpack: a DLPack capsule of the tensor's memory (numpy's __dlpack__)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack: expected a Tensor, got {type(tensor).__name__}")
    return tensor.data.__dlpack__(max_version=(1, 0))  # versioned: read back writeable


# ----------------------------------------------------------------- control flow
def _predicate(name: str, pred) -> bool:
    if isinstance(pred, Tensor):
        if pred.data.size != 1:
            raise ValueError(f"{name}: the predicate must be a tensor of one element, got "
                             f"shape {pred.shape}")
        return bool(pred.data.reshape(-1)[0])
    if isinstance(pred, (bool, np.bool_)):
        return bool(pred)
    raise TypeError(f"{name}: the predicate must be a bool or a one-element tensor, got "
                    f"{type(pred).__name__}")


def cond(pred, true_fn, false_fn, operands=()):
    """torch.cond: true_fn(*operands) if pred else false_fn(*operands); recorded as the branch
    taken, so gradients flow through it (torch traces both; dlpy runs only one)."""
    if not isinstance(operands, (tuple, list)):
        raise TypeError(f"cond: operands must be a tuple or list, got "
                        f"{type(operands).__name__}")
    return (true_fn if _predicate("cond", pred) else false_fn)(*operands)


def while_loop(cond_fn, body_fn, carried_inputs):
    """torch.while_loop: while cond_fn(*carried): carried = body_fn(*carried); returns the
    final carried tuple. Each step is recorded, so the result is differentiable."""
    if not isinstance(carried_inputs, (tuple, list)):
        raise TypeError(f"while_loop: carried_inputs must be a tuple or list, got "
                        f"{type(carried_inputs).__name__}")
    carried = tuple(carried_inputs)
    while _predicate("while_loop", cond_fn(*carried)):
        new = body_fn(*carried)
        new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        if len(new) != len(carried):
            raise ValueError(f"while_loop: body_fn must return as many values as it takes "
                             f"({len(carried)}), got {len(new)}")
        carried = new
    return carried


# ----------------------------------------------------------------- indices
@_meta.follows
def nonzero_static(input, *, size: int, fill_value: int = -1) -> Tensor:  # noqa: A002
    """torch.nonzero_static: nonzero's (n, ndim) int64 indices cut or padded (with
    fill_value) to exactly ``size`` rows."""
    (size,) = _sizes("nonzero_static", "size", size)
    data = input.data if isinstance(input, Tensor) else np.asarray(input)
    found = np.argwhere(data)
    out = np.full((size, data.ndim), fill_value, dtype=np.int64)
    out[:min(size, len(found))] = found[:size]
    return Tensor(out)


# ----------------------------------------------------------------- bits dlpy never sets
def conj_physical(input) -> Tensor:  # noqa: A002
    """torch.conj_physical: the conjugate, computed (dlpy's conj always is); a real tensor is
    returned itself, as torch's."""
    from dlpy.ops.complex import conj

    input = input if isinstance(input, Tensor) else Tensor(np.asarray(input))  # noqa: A001
    return conj(input) if input.dtype.kind == "c" else input


def resolve_conj(input) -> Tensor:  # noqa: A002
    """input: dlpy has no lazy conjugate bit to resolve."""
    return input


def resolve_neg(input) -> Tensor:  # noqa: A002
    """input: dlpy has no lazy negative bit to resolve."""
    return input


def is_conj(input) -> bool:  # noqa: A002
    """False: dlpy's conj computes the conjugate (no lazy bit)."""
    return False


def is_neg(input) -> bool:  # noqa: A002
    """False: dlpy has no lazy negative bit."""
    return False


def is_inference(input) -> bool:  # noqa: A002
    """Whether ``input`` is an inference tensor: made in an inference_mode block (or a view of
    one), which refuses in-place changes outside such a block and being saved for backward."""
    return bool(getattr(input, "_inference", False))


# ----------------------------------------------------------------- memory layouts
def empty_strided(size, stride, *, dtype=None, device=None, requires_grad: bool = False,
                  pin_memory: bool = False, layout=None) -> Tensor:
    """torch.empty_strided: zeros (dlpy's empty) laid out with ``stride`` (in elements) over a
    fresh buffer, as numpy's strided view of it (overlapping strides alias, as torch's)."""
    from dlpy.device import as_device

    as_device(device, "empty_strided")
    if layout is not None:
        from dlpy.creation import _place

        _place("empty_strided", None, False, layout)
    size, stride = _sizes("empty_strided", "size", size), _sizes("empty_strided", "stride",
                                                                  stride)
    if len(size) != len(stride):
        from dlpy.creation import CreationError

        raise CreationError(f"empty_strided: size {size} and stride {stride} must have the same "
                         "length")
    dtype = _dtype("empty_strided", dtype)
    count = 0 if 0 in size else 1 + sum((n - 1) * s for n, s in zip(size, stride))
    buffer = np.zeros(count, dtype)
    view = np.lib.stride_tricks.as_strided(buffer, size, tuple(s * dtype.itemsize
                                                                for s in stride))
    return Tensor(view, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, device=None,
                   requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """torch.empty_permuted: zeros of ``size`` whose dimensions lie in memory in the order
    ``physical_layout`` (outermost first): a transposed view of a contiguous buffer."""
    size = _sizes("empty_permuted", "size", size)
    layout = _sizes("empty_permuted", "physical_layout", physical_layout)
    if sorted(layout) != list(range(len(size))):
        raise ValueError(f"empty_permuted: physical_layout must be a permutation of "
                         f"0..{len(size) - 1}, got {layout}")
    from dlpy.device import as_device

    as_device(device, "empty_permuted")
    buffer = np.zeros([size[d] for d in layout], _dtype("empty_permuted", dtype))
    return Tensor(buffer.transpose(np.argsort(layout)), requires_grad=requires_grad)


def _dim_order(self, *, ambiguity_check=False) -> tuple[int, ...]:
    """The dimensions from the outermost in memory to the innermost (by stride, ties in
    order), as torch's Tensor.dim_order. ``ambiguity_check=True`` refuses (RuntimeError) a
    tensor with several orders (a size-1 dim, or two neighbouring dims of equal stride); a
    list of memory formats refuses such a tensor unless exactly one of them fits it; anything
    else than a bool or a list of memory formats is a TypeError, as torch's."""
    from dlpy.layouts import memory_format as _memory_format

    if not isinstance(ambiguity_check, bool) and (
            not isinstance(ambiguity_check, list)
            or not all(isinstance(f, _memory_format) for f in ambiguity_check)):
        raise TypeError("The ambiguity_check argument must be a bool or a list of memory "
                        "formats.")
    if ambiguity_check is not False:
        strides = self.stride()
        several = (any(a == b for a, b in zip(strides, strides[1:]))
                   or any(size == 1 for size in self.shape))
        formats = ambiguity_check if isinstance(ambiguity_check, list) else []
        if several and sum(bool(self.is_contiguous(memory_format=f)) for f in formats) != 1:
            raise RuntimeError("The tensor does not have unique dim order, or cannot map to "
                               "exact one of the given memory formats.")
    strides = self.data.strides
    return tuple(sorted(range(self.data.ndim), key=lambda d: (-strides[d], d)))


def _new_empty_strided(self, size, stride, *, dtype=None, device=None,
                       requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    return empty_strided(size, stride, dtype=self.dtype if dtype is None else dtype,
                         device=device, requires_grad=requires_grad)


def _complex_cast(dtype):
    def cast(self, memory_format=None) -> Tensor:
        if memory_format is None:
            return self.to(dtype)
        return self.to(dtype, memory_format=memory_format)

    return cast


# ----------------------------------------------------------------- global switches
_warn_always = False


def set_warn_always(b: bool) -> None:
    """torch.set_warn_always: a flag (dlpy's warnings follow Python's own filters)."""
    global _warn_always
    _warn_always = bool(b)


def is_warn_always_enabled() -> bool:
    return _warn_always


def set_flush_denormal(mode: bool) -> bool:
    """torch.set_flush_denormal: False, unsupported (numpy keeps denormals), as torch on a
    CPU without the instructions."""
    return False


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is open (dlpy's is no_grad with this flag)."""
    from dlpy.tensor import _inference_depth

    return _inference_depth[0] > 0


# ----------------------------------------------------------------- Tensor-only methods
# id -> tensor (a WeakSet would compare tensors with ==, which is element-wise)
_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _new(self, *args, **kwargs) -> Tensor:
    """torch's legacy Tensor.new: new() empty, new(2, 3) / new(size) uninitialised (zeros
    here), new(data) a tensor of data; self's dtype unless dtype= is given."""
    dtype = kwargs.pop("dtype", None) or self.dtype
    if kwargs:
        raise TypeError(f"Tensor.new: unexpected keyword arguments {sorted(kwargs)}")
    if not args:
        return Tensor(np.empty((0,), dtype))
    if len(args) == 1 and isinstance(args[0], Size):
        return Tensor(np.zeros(tuple(args[0]), dtype))
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in args):
        return Tensor(np.zeros(_sizes("Tensor.new", "sizes", args), dtype))
    if len(args) == 1:  # data, a tuple of ints included (as torch)
        data = args[0].data if isinstance(args[0], Tensor) else args[0]
        return Tensor(np.array(data, dtype=dtype))
    raise TypeError(f"Tensor.new: expected sizes or one sequence of data, got {args!r}")


def _share_memory_(self) -> Tensor:
    """Marks the tensor shared (is_shared); numpy memory needs no moving (a no-op)."""
    _shared[id(self)] = self
    return self


def _is_shared(self) -> bool:
    return _shared.get(id(self)) is self


def _pin_memory(self, device=None) -> Tensor:
    """Refused, as torch's without an accelerator (no pinned-memory allocator on the CPU)."""
    raise RuntimeError("pin_memory: cannot access an accelerator device when none is "
                       "available (dlpy runs on the CPU only)")


def _is_pinned(self, device=None) -> bool:
    return False


def _dlpack(self, *, stream=None, **kwargs):
    if self.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    return self.data.__dlpack__(stream=stream, **kwargs)


def _dlpack_device(self):
    return self.data.__dlpack_device__()


# ------------------------------------------------- small top-level names torch also has
class OutOfMemoryError(RuntimeError):
    """torch.OutOfMemoryError (torch.cuda.OutOfMemoryError): dlpy never raises it; it is here
    for programs that catch it."""


def get_device(input) -> int:  # noqa: A002
    """torch.get_device: -1, the CPU's index (dlpy's tensors all live there)."""
    return -1


def as_strided_copy(input, size, stride, storage_offset: int | None = None) -> Tensor:  # noqa: A002
    """torch.as_strided_copy: as_strided, copied."""
    from dlpy.torch_functions import _copied

    return _copied(as_strided(input, size, stride, storage_offset))


def view_as_real_copy(input) -> Tensor:  # noqa: A002
    """torch.view_as_real_copy: view_as_real, copied."""
    from dlpy.ops.complex import view_as_real
    from dlpy.torch_functions import _copied

    return _copied(view_as_real(input))


def view_as_complex_copy(input) -> Tensor:  # noqa: A002
    """torch.view_as_complex_copy: view_as_complex, copied."""
    from dlpy.ops.complex import view_as_complex
    from dlpy.torch_functions import _copied

    return _copied(view_as_complex(input))


def conj_physical_(input) -> Tensor:  # noqa: A002
    """torch.conj_physical_: input.conj_physical_()."""
    return input.conj_physical_()


def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,  # noqa: A002
                groups) -> Tensor:
    """torch.convolution: conv{1,2,3}d or conv_transpose{1,2,3}d by weight's dimensions."""
    from dlpy import functional as F

    dims = weight.dim() - 2
    if dims not in (1, 2, 3):
        raise RuntimeError(f"convolution: expected a 3-D, 4-D or 5-D weight, got {weight.dim()}-D")
    if transposed:
        return getattr(F, f"conv_transpose{dims}d")(input, weight, bias, stride, padding,
                                                    output_padding, groups, dilation)
    return getattr(F, f"conv{dims}d")(input, weight, bias, stride, padding, dilation, groups)


def _module_load(self, other, assign: bool = False):
    """Tensor.module_load: what ``load_state_dict`` swaps into a parameter or buffer when
    torch.__future__'s swap flag is set: ``other.detach()`` with ``assign``, else
    ``self.copy_(other).detach()`` (a subclass may override it)."""
    if assign:
        return other.detach()
    return self.copy_(other).detach()


TENSOR_METHODS = {
    "module_load": _module_load,
    "as_strided": as_strided, "nonzero_static": nonzero_static, "new": _new,
    "share_memory_": _share_memory_, "is_shared": _is_shared, "pin_memory": _pin_memory,
    "is_pinned": _is_pinned, "conj_physical": conj_physical, "resolve_conj": resolve_conj,
    "resolve_neg": resolve_neg, "is_conj": is_conj, "is_neg": is_neg,
    "is_inference": is_inference, "__dlpack__": _dlpack, "__dlpack_device__": _dlpack_device,
    "dim_order": _dim_order, "new_empty_strided": _new_empty_strided,
    "cfloat": _complex_cast(np.complex64), "cdouble": _complex_cast(np.complex128),
    # which output of its node (dlpy.ops.multi_output: split's pieces, eigh's two, ...)
    "output_nr": property(lambda self: _multi_output.node_of(self.op)[1]),
}

TOP_LEVEL = [
    "finfo", "iinfo", "Size", "get_num_threads", "set_num_threads", "get_num_interop_threads",
    "set_num_interop_threads", "init_num_threads", "get_device_module",
    "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
    "set_deterministic_debug_mode", "get_deterministic_debug_mode",
    "set_float32_matmul_precision", "get_float32_matmul_precision", "as_strided",
    "segment_reduce", "frombuffer", "from_dlpack", "to_dlpack", "cond", "while_loop",
    "nonzero_static", "conj_physical", "resolve_conj", "resolve_neg", "is_conj", "is_neg",
    "is_inference", "empty_strided", "empty_permuted", "set_warn_always",
    "is_warn_always_enabled", "set_flush_denormal", "is_inference_mode_enabled",
    "UntypedStorage", "TypedStorage", "OutOfMemoryError", "get_device", "as_strided_copy",
    "view_as_real_copy", "view_as_complex_copy", "conj_physical_", "convolution",
]


# torch's meta device (dlpy.meta): empty_strided(..., device="meta") is a meta tensor with the
# strides asked for (its arguments checked by a call of at most one element)
from dlpy.creation import _on_meta  # noqa: E402

_empty_strided_on_meta = _on_meta(empty_strided)


def empty_strided(size, stride, **kwargs) -> Tensor:  # noqa: F811 - the meta device's wrapper
    from dlpy.device import meta_array, wants_meta

    if not wants_meta(kwargs.get("device")) or not isinstance(size, (tuple, list, Size)) \
            or not all(isinstance(n, (int, np.integer)) and n >= 0 for n in size):
        return _empty_strided_on_meta(size, stride, **kwargs)
    out = _empty_strided_on_meta(tuple(min(int(n), 1) for n in size), stride, **kwargs)
    shape = tuple(int(n) for n in size)
    out.data = meta_array(shape, out.data.dtype, _sizes("empty_strided", "stride", stride))
    return out


empty_strided.__doc__ = _empty_strided_on_meta.__doc__
