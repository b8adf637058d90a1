"""Making tensors, with PyTorch's names: tensor, zeros, ones, full, empty, eye, arange,
linspace, the ``*_like`` forms, and the random rand, randn, randint, randperm (drawn from
dlpy's default generator, or the numpy Generator given as ``generator=`` or ``rng=``). Each takes
torch's ``device=``, ``pin_memory=`` and ``layout=``: the CPU, the only device, dense
(zeros / empty also make empty sparse_coo / sparse_csr tensors), or a RuntimeError."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from dlpy import random_streams
from dlpy._caller import user_stacklevel
from dlpy.device import as_device, check_pin_memory
from dlpy.ops import ArgDtypeError, NoKernelError
from dlpy.random import get_rng
from dlpy.tensor import (
    Tensor,
    _ElementCountError,
    _refuse_quantized,
    default_complex_dtype,
    default_dtype,
    is_narrow_float,
    narrow_float,
    python_array,
    real_part_for,
)


def _place(name: str, device, pin_memory, layout=None) -> None:
    """torch's ``device=``, ``pin_memory=`` and ``layout=``: the CPU (None, "cpu", "cpu:0",
    dlpy.device("cpu")), no pinning and dense (dlpy.strided); anything else raises
    RuntimeError (dlpy has no other device; sparse tensors have their own constructors)."""
    as_device(device, name)
    check_pin_memory(pin_memory, name)
    if layout is not None:
        from dlpy.sparse_tensor import strided

        if layout is not strided:  # torch's NotImplementedError, or TypeError (a string)
            raise NoKernelError(f"{name}: only layout=dlpy.strided is supported here, got "
                                f"{layout}")


def _dense(layout):
    """dlpy.strided for the sparse layouts zeros / empty make (sparse_coo, sparse_csr),
    else ``layout`` itself (for _place to check)."""
    from dlpy.sparse_tensor import sparse_coo, sparse_csr, strided

    return strided if layout is sparse_coo or layout is sparse_csr else layout


def _sparse_zeros(name: str, shape: tuple, dtype, layout, requires_grad: bool):
    """torch.zeros / torch.empty with ``layout=torch.sparse_coo`` or ``torch.sparse_csr``
    (at least 2-D): no entries."""
    from dlpy.sparse_tensor import sparse_coo, sparse_coo_tensor, sparse_csr_tensor

    values = np.zeros(0, dtype=default_dtype(dtype))
    if layout is sparse_coo:
        if not shape:
            raise RuntimeError(f"{name}: a sparse_coo tensor needs at least one dim")
        return sparse_coo_tensor(np.zeros((len(shape), 0), np.int64), values, shape,
                                 requires_grad=requires_grad)
    if len(shape) < 2:
        raise RuntimeError(f"{name}: a sparse_csr tensor must have at least 2 dims, got size "
                           f"{shape}")
    batch = shape[:-2]  # batched CSR: one (crow, col, values) set per leading index
    return sparse_csr_tensor(np.zeros((*batch, shape[-2] + 1), np.int64),
                             np.zeros((*batch, 0), np.int64), values.reshape(*batch, 0),
                             shape, requires_grad=requires_grad)


def _laid_like(name: str, values: np.ndarray, like: np.ndarray, memory_format) -> np.ndarray:
    """``values`` (row-major, ``like``'s shape) in the memory order ``memory_format`` asks
    for: ``preserve_format`` (the default) keeps the order of ``like``'s strides (dense), as
    torch's ``*_like``."""
    from dlpy.layouts import _checked, laid_out, preserve_format, suggested_format

    fmt = preserve_format if memory_format is None else _checked(name, memory_format,
                                                                   values.ndim)
    if fmt is preserve_format:
        if like.flags.c_contiguous:
            return values
        if like.size and all(like.strides):  # like's axes in its memory order, made dense
            axes = np.argsort([-abs(s) for s in like.strides], kind="stable")
            return np.ascontiguousarray(values.transpose(axes)).transpose(np.argsort(axes))
        if like.size:  # expanded (a stride 0): torch's infer_dense_strides, as clone's
            from dlpy.layouts import dense_like

            out = dense_like(like, values.dtype)
            out[...] = values
            return out
        fmt = suggested_format(like) or preserve_format  # (torch's suggest_memory_format)
    return laid_out(values, fmt)


def _drawn_like(name: str, draw, like: np.ndarray, dtype, memory_format) -> np.ndarray:
    """A new array laid out as ``_laid_like`` lays ``like``'s, filled by ``draw(shape,
    contiguous)`` (values for ``shape`` in row-major order) in its memory order: torch's
    ``*_like`` draws walk the new tensor's memory, and its normal_ batches only a contiguous
    one (nn.init's _in_memory_order for a new array; a complex draw makes its own pairs)."""
    from dlpy.tensor_methods import _memory_order

    out = _laid_like(name, np.empty(like.shape, dtype), like, memory_format)
    perm = _memory_order(out)
    if perm is None:
        out[...] = draw(out.shape, out.flags.c_contiguous)
    else:
        out.transpose(perm)[...] = draw(tuple(out.shape[i] for i in perm), False)
    return out


class CreationError(RuntimeError, ValueError):
    """A size, count or bound a factory refuses: torch's RuntimeError (a ValueError too)."""


def plain_dtype(dtype, name: str = "a creation function"):
    """A factory's ``dtype=`` as given (None stays None), a quantized dtype (quint8, ...)
    refused as torch's factories refuse it: its RuntimeError / NotImplementedError (dlpy's
    QuantizedOpError, a TypeError as numpy's refusal was), naming ``name``."""
    if isinstance(dtype, tuple):  # dlpy.ao's QDtype
        _refuse_quantized(dtype, name)
    return dtype


def _check_length(name: str, count: float, itemsize: int = 8) -> None:
    """torch's refusal of a range (arange, range) with more values than an int64 counts ("invalid
    size, possible overflow?") or whose bytes do not (its storage size overflows): RuntimeError
    (CreationError) both, where numpy's is a ValueError or a MemoryError."""
    if not count < 2.0 ** 63:
        raise CreationError(f"{name}: invalid size, possible overflow? ({count:g} values)")
    if count * itemsize >= 2.0 ** 63:
        raise CreationError(f"{name}: storage size calculation overflowed with sizes="
                            f"[{int(count)}]")


_SIZED = frozenset(("zeros", "ones", "empty", "rand", "randn"))  # f(*size) with no size


def _shape(name: str, shape, size=None) -> tuple[int, ...]:
    """The sizes given as ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(size=(2, 3))``
    (ints, or one-value integer tensors, as torch's)."""
    if size is not None:
        if shape:
            raise TypeError(f"{name}: got the sizes both positionally and as size=")
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"{name}: size must be a tuple of ints, got "
                            f"{type(size).__name__}")
        shape = (size,)
    elif shape == () and name in _SIZED:  # zeros(): torch's TypeError (zeros(()) is 0-d)
        raise TypeError(f'{name}() missing 1 required positional arguments: "size"')
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        shape = tuple(_index(name, n) for n in shape)
    if any(n < 0 for n in shape):
        raise CreationError(f"{name}: the shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _index(name: str, n) -> int:
    """A size that is not an int: a one-value integer tensor's value, else torch's TypeError."""
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
        return int(n)
    if isinstance(n, Tensor) and n.data.size == 1 and n.data.dtype.kind in "iu":
        return int(n.data.reshape(()))
    if isinstance(n, np.ndarray) and n.ndim == 0 and n.dtype.kind in "iu":
        return int(n)  # a 0-d integer array (its __index__), as torch's
    raise TypeError(f"{name}: the sizes must be ints, got {type(n).__name__}")


_TORCH_NUMPY_TYPES = ("float64, float32, float16, complex64, complex128, int64, int32, int16, "
                      "int8, uint64, uint32, uint16, uint8, and bool")


def unsupported_numpy_dtype(dtype: np.dtype) -> TypeError | None:
    """torch's TypeError for numpy data of a dtype it has no tensor for (objects, strings,
    dates, long doubles, records); None for the others (ml_dtypes' bfloat16 and float8 too)."""
    kind = dtype.kind
    if kind in "OSUMm" or (kind == "V" and (dtype.names is not None or dtype.name.startswith(
            "void"))) or (kind in "fc" and dtype.itemsize > (8 if kind == "f" else 16)):
        return TypeError(f"can't convert np.ndarray of type numpy.{dtype.type.__name__}. The "
                         f"only supported types are: {_TORCH_NUMPY_TYPES}.")
    return None


def numpy_source(array: np.ndarray) -> np.ndarray:
    """``array`` if torch can read it (from_numpy, as_tensor, asarray, tensor), else torch's
    TypeError for a dtype torch lacks (object, str, datetime64, longdouble), or its ValueError:
    a byte order other than the machine's, or a negative stride."""
    if array.dtype.kind not in "fiubc" or array.dtype.itemsize > 8:
        error = unsupported_numpy_dtype(array.dtype)
        if error is not None:
            raise error
    if not array.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte "
                         "order. Conversion between byte orders is currently not supported.")
    if any(stride < 0 for stride in array.strides):
        raise ValueError("At least one stride in the given numpy array is negative, and tensors "
                         "with negative strides are not currently supported. (You can probably "
                         "work around this by making a copy of your array with array.copy().)")
    return array


def tensor(data, dtype=None, requires_grad: bool = False, *,
           device=None, pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``, of torch.tensor's dtype: Python ints int64,
    floats the default dtype (float32 unless dlpy.set_default_dtype), bools bool, complex
    numbers complex64 (with float32), a mix the widest; numpy arrays keep their dtype; a
    storage's memory is read as ``dtype`` and shared, as torch's (dlpy.storage.storage_elements)."""
    _place("tensor", device, pin_memory)
    dtype = plain_dtype(dtype, "tensor")
    if isinstance(data, Tensor):
        import warnings

        warnings.warn("To copy construct from a tensor, it is recommended to use "
                      "sourceTensor.detach().clone() or sourceTensor.detach().clone()"
                      ".requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=user_stacklevel())  # torch's words
        data = data.data
    elif isinstance(data, np.ndarray):
        numpy_source(data)
    elif data is None:
        raise _NoDtypeError("tensor: could not infer dtype of NoneType")
    else:
        from dlpy.storage import TypedStorage, UntypedStorage, storage_elements

        if isinstance(data, (UntypedStorage, TypedStorage)):  # its memory as dtype: torch
            return Tensor(storage_elements(data, dtype), requires_grad=requires_grad)  # shares it
    if isinstance(data, np.ndarray):
        data = real_part_for(data, dtype)
        from dlpy.layouts import copied

        array = narrow_float(data, np.dtype(dtype)) if dtype is not None and is_narrow_float(
            dtype) and data.dtype != np.dtype(dtype) else copied(data, dtype)
    else:
        try:
            array = python_array(data, dtype)
        except ValueError as error:
            if "inhomogeneous" not in str(error):
                raise
            raise _RaggedError(f"tensor: nested lists must be rectangular, {_ragged(data)}") \
                from None
    if array.dtype.kind in "Mm":  # a numpy datetime64 / timedelta64 scalar
        raise unsupported_numpy_dtype(array.dtype)
    if array.dtype.kind in "OSU":
        raise (_NoDtypeError if array.dtype.kind == "O" else _TextError)(
            f"tensor: expected numbers (bool, int, float or complex), got data that numpy reads "
            f"as {array.dtype}")
    return Tensor(array, requires_grad=requires_grad)


class _NotForBoolError(NotImplementedError, TypeError):
    """randperm of dtype bool, a random float draw into an integer dtype: torch's
    NotImplementedError (a TypeError too)."""


class _NoDtypeError(RuntimeError, TypeError):
    """tensor() of None or other objects: torch's RuntimeError (a TypeError too)."""


class _TextError(TypeError, ValueError):
    """tensor() of strings: torch's TypeError, or its ValueError for a list of them."""


class _RaggedError(ValueError, TypeError):
    """tensor() of nested lists that are not rectangular: a ValueError (numpy's), and torch's
    TypeError."""


def _ragged(data, dim: int = 0) -> str:
    """Where nested lists stop being rectangular, in torch's words (only on the error path)."""
    rows = list(data)
    lengths = [len(row) if isinstance(row, (list, tuple)) else None for row in rows]
    if any(n is None for n in lengths) and any(n is not None for n in lengths):
        return f"a sequence and a number side by side at dim {dim + 1}"
    if any(n != lengths[0] for n in lengths):
        other = next(n for n in lengths if n != lengths[0])
        return f"expected sequence of length {lengths[0]} at dim {dim + 1} (got {other})"
    for row in rows:
        if isinstance(row, (list, tuple)):
            try:
                np.asarray(row)
            except ValueError:
                return _ragged(row, dim + 1)
    return "got data of uneven shape"


def zeros(*shape, dtype=None, requires_grad: bool = False,
          device=None, pin_memory: bool = False, size=None, layout=None) -> Tensor:
    """``zeros(2, 3)`` or ``zeros((2, 3))``, of the default dtype unless ``dtype`` (as every
    float creation function here)."""
    if layout is not None:
        _place("zeros", device, pin_memory, _dense(layout))
        if layout is not _dense(layout):
            return _sparse_zeros("zeros", _shape("zeros", shape, size), dtype, layout,
                                 requires_grad)
    _place("zeros", device, pin_memory)
    return Tensor(np.zeros(_shape("zeros", shape, size), dtype=default_dtype(dtype)),
                  requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False,
         device=None, pin_memory: bool = False, size=None, layout=None) -> Tensor:
    _place("ones", device, pin_memory, layout)
    return Tensor(np.ones(_shape("ones", shape, size), dtype=default_dtype(dtype)),
                  requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False,
          rng: np.random.Generator | None = None,
          generator: np.random.Generator | None = None,
          device=None, pin_memory: bool = False, size=None, layout=None) -> Tensor:
    """Standard normal values from ``generator`` (or ``rng``; None: the default generator,
    dlpy.manual_seed)."""
    _place("randn", device, pin_memory, layout)
    values = _normal("randn", _shape("randn", shape, size), default_dtype(dtype), generator, rng)
    return Tensor(values, requires_grad=requires_grad)


def arange(start=None, end=None, step=1, *, dtype=None, requires_grad: bool = False,
           device=None, pin_memory: bool = False, layout=None) -> Tensor:
    """``arange(5)``, ``arange(end=5)`` or ``arange(start, end, step)`` (numbers or one-value
    tensors): int64 for int arguments, else the default dtype."""
    _place("arange", device, pin_memory, layout)
    if end is None:
        if start is None:
            raise TypeError("arange: expected arange(end) or arange(start, end, step)")
        start, end = 0, start
    elif start is None:
        start = 0
    for value in (start, end, step):
        if isinstance(value, Tensor) and value.ndim:
            raise TypeError(f"arange(): the bounds and step must be numbers or 0-d tensors, got "
                            f"a tensor of shape {tuple(value.shape)}")
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if dtype is not None and np.dtype(plain_dtype(dtype, "arange")).kind in "cb":
        # torch has no bool or complex arange, of any length (its dispatch comes first)
        raise NoKernelError(f"arange: not implemented for {np.dtype(dtype)}, as torch's "
                            f"(\"arange_cpu\" not implemented for its dtype)")
    if not all(math.isfinite(v) for v in (start, end, step) if not isinstance(v, complex)):
        raise CreationError(f"arange: unsupported range: {start} -> {end}")
    if step == 0:
        raise CreationError("arange: step must not be zero")
    try:
        backwards = (end < start) if step > 0 else (end > start)
    except TypeError as error:  # a complex bound: torch's RuntimeError
        raise ArgDtypeError(str(error)) from None
    if backwards:
        raise RuntimeError(f"arange: the bounds go against the step's sign (start {start}, end "
                           f"{end}, step {step}), as torch refuses")
    _check_length("arange", (end - start) / step)
    dtype = plain_dtype(dtype, "arange")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else default_dtype()
    elif np.dtype(dtype).kind in "iu":
        # as torch: the length from the numbers as given, the values from start and step
        # truncated to integers, counted in int64 and wrapped into the dtype
        # (arange(-3, 3, dtype=uint8) starts at 253; arange(0, 5, 1.5, dtype=int64) is 0..4)
        if np.dtype(dtype) == np.int64:  # torch counts int64 in the truncated integers
            first, last, stride = int(start), int(end), int(step)
            span = last - first + stride - (1 if stride > 0 else -1 if stride < 0 else 0)
            count = abs(span) // abs(stride) * (1 if (span >= 0) == (stride > 0) else -1) \
                if stride else 0
        elif all(isinstance(v, (int, np.integer)) for v in (start, end, step)):
            count = -((start - end) // step)
        else:
            count = math.ceil((end - start) / step)
        if int(step) == 0 and np.dtype(dtype) == np.int64:  # narrower ints repeat start
            raise ValueError(f"arange: step {step} truncated to the integer dtype {dtype} is "
                             "zero (torch: step must be nonzero)")
        values = int(start) + np.arange(count, dtype=np.int64) * int(step)
        return Tensor(values.astype(dtype), requires_grad=requires_grad)
    dtype = np.dtype(dtype)
    if dtype.kind in "fV":
        return Tensor(_arange(start, end, step, dtype), requires_grad=requires_grad)
    return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad=requires_grad)


def _arange(start, end, step, dtype: np.dtype) -> np.ndarray:
    """torch's CPU arange kernel for a float dtype, bit for bit: ceil((end - start) / step)
    values, each ``start + step * i`` as one fused multiply-add in float64 (float32 for
    float16/bfloat16), except that its vector loop (pairs of 32-byte vectors) computes each
    vector's first value so, rounds it to the dtype and adds ``k * step`` for its k-th lane."""
    count = math.ceil((end - start) / step)
    wide = np.dtype(np.float32) if dtype.itemsize == 2 else np.dtype(np.float64)
    first, stride = np.float64(wide.type(start)), np.float64(wide.type(step))
    if _exact_range(float(first), float(stride), count, dtype):
        return (first + stride * np.arange(count, dtype=np.float64)).astype(dtype)
    if count < 64 // dtype.itemsize:  # no vector loop: one fused multiply-add each
        if wide == np.float64:
            try:
                return np.array(_fma_line(float(first), float(stride), count)).astype(dtype)
            except OverflowError:  # (beyond float64: numpy's inf)
                pass
        return np.asarray(_fma(stride, np.arange(count), first, wide)).astype(dtype)
    return _arange_kernel(first, stride, count, dtype)


def _fma_line(first: float, stride: float, count: int) -> list[float]:
    """``stride * i + first`` (i < count) each rounded once to float64, as _fma, for a few
    values: the exact sum is an integer over a power of 2, and Python's int / int rounds
    correctly. A zero sum is the plain one's (its product exact: a zero's sign as fused)."""
    (top, scale), (first_top, first_scale) = stride.as_integer_ratio(), first.as_integer_ratio()
    denominator = max(scale, first_scale)
    top, first_top = top * (denominator // scale), first_top * (denominator // first_scale)
    return [(top * i + first_top) / denominator if top * i + first_top else stride * i + first
            for i in range(count)]


def _arange_kernel(first: np.float64, stride: np.float64, count: int, dtype: np.dtype):
    """_arange's values in general (``first`` and ``stride`` in its wide dtype)."""
    wide = np.dtype(np.float32) if dtype.itemsize == 2 else np.dtype(np.float64)
    lanes = 32 // dtype.itemsize
    index = np.arange(count)
    vectored = index < count // (2 * lanes) * (2 * lanes)
    lane = np.where(vectored, index % lanes, 0)
    base = _fma(stride, (index - lane).astype(np.float64), first, wide)
    base = np.where(vectored, np.asarray(base).astype(dtype).astype(np.float64), base)
    values = np.where(lane > 0, _fma(lane.astype(np.float64), stride, base, wide), base)
    return np.asarray(values, wide).astype(dtype)


def _exact_range(first: float, stride: float, count: int, dtype: np.dtype) -> bool:
    """Whether every ``first + stride * i`` (i < count) is exact in ``dtype`` (so in float64
    and float32 too): first and stride multiples of 2^-q (q <= 24: no float16 subnormal is
    finer), every value a multiple below 2^digits of it. Then each of _arange's fused
    multiply-adds, its roundings to the dtype and plain float64 arithmetic all give the exact
    value (the sign of a zero as well: the products are exact, so fused and plain sums
    agree): arange(6.), arange(-3, 3, 0.5) take numpy's arange, bit for bit."""
    if not (first.is_integer() or (first * 2.0 ** 24).is_integer()) or not (
            stride.is_integer() or (stride * 2.0 ** 24).is_integer()):
        return False
    (first_top, first_scale), (stride_top, stride_scale) = (first.as_integer_ratio(),
                                                            stride.as_integer_ratio())
    scale = max(first_scale, stride_scale)  # 2^q
    low = first_top * (scale // first_scale)
    high = low + stride_top * (scale // stride_scale) * max(count - 1, 0)
    return max(abs(low), abs(high)) < 2 ** _DIGITS.get(dtype.itemsize, 0)


_DIGITS = {8: 53, 4: 24, 2: 8}  # significand bits (2 bytes: bfloat16's 8, float16 has 11)


def _generator(name: str, generator, rng) -> np.random.Generator:
    """PyTorch's ``generator=`` or dlpy's ``rng=`` (the same thing), else the default one."""
    if generator is not None and rng is not None:
        raise TypeError(f"{name}: give generator or rng (the same thing), not both")
    chosen = rng if generator is None else generator
    if chosen is not None and not isinstance(chosen, np.random.Generator):
        raise TypeError(f"{name}: generator must be a numpy Generator or None, got "
                        f"{type(chosen).__name__}")
    return get_rng(chosen)


def _data(x, name: str = "") -> np.ndarray:
    """The array of a ``*_like`` function's tensor (a numpy array is taken as it is); a list or
    a number is torch's TypeError."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name}: argument 'input' must be Tensor, not {type(x).__name__}")


def _count(name: str, what: str, value) -> int:
    if isinstance(value, Tensor) and value.data.size == 1 and value.data.dtype.kind in "iu":
        value = int(value.data.reshape(()))  # a one-value integer tensor, as torch's
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {value!r}")
    if value < 0:
        raise CreationError(f"{name}: {what} must be an int >= 0, got {value!r}")
    return int(value)


def _fill_dtype(value) -> np.dtype:
    """torch.full's dtype for a fill value: bool, int64 for ints, the default dtype for other
    reals (its complex pair for complex values)."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(value, (complex, np.complexfloating)):
        return default_complex_dtype()
    return default_dtype()


_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
              "float32": 3.4028234663852886e38}


_FLOAT_MAX_OF: dict = {}  # dtype -> _FLOAT_MAX's value or None (dtype.name is slow)


def _float_max(dtype: np.dtype):
    if dtype not in _FLOAT_MAX_OF:
        _FLOAT_MAX_OF[dtype] = _FLOAT_MAX.get(dtype.name)
    return _FLOAT_MAX_OF[dtype]


def _checked(name: str, value, dtype, numel: int | None = None):
    """``value`` to fill ``dtype`` with (a negative int wrapped for an unsigned dtype), or
    torch's refusal of a fill value ``dtype`` cannot hold ("value cannot be converted to type
    ... without overflow"): a finite float beyond the float dtype's max, an integer out of range
    (a negative one down to -max for an unsigned dtype, which wraps), a complex number with an
    imaginary part to a real dtype; a Python int beyond [-2 ** 63, 2 ** 64) whatever the
    dtype (torch's OverflowError, reading it as a Scalar). ``numel`` 1 and a float16 or
    bfloat16 dtype: torch's one-element fill (scalar_fill) converts unchecked, to inf."""
    if type(value) is int and not -2 ** 63 <= value < 2 ** 64:
        raise OverflowError(f"{name}: int too big to convert" if value > 0 else
                            f"{name}: can't convert negative int to unsigned")
    dtype = np.dtype(dtype)
    if dtype == np.complex64 and isinstance(value, (int, float, complex)) and not isinstance(
            value, bool):  # each finite part within float32's range, as torch's check
        parts = (value.real, value.imag) if isinstance(value, complex) else (value,)
        if any(math.isfinite(v) and abs(v) > _FLOAT_MAX["float32"] for v in parts):
            raise RuntimeError(f"{name}: value {value} cannot be converted to type "
                               "complex<float> without overflow")
    if isinstance(value, (bool, np.bool_)) or dtype.kind in "cb":
        return value
    given = value
    if isinstance(value, (complex, np.complexfloating)):
        fits = value.imag == 0
        value = value.real
    else:
        fits = True
    if numel == 1 and dtype.itemsize == 2 and dtype.kind != "i" and fits:  # float16, bfloat16
        return value  # (an imaginary part is refused all the same)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low = info.min if dtype.kind == "i" or isinstance(value, (float, np.floating)) \
            else -int(info.max)  # -1 wraps to 255 in uint8, -1.0 is refused
        fits = fits and bool(np.isfinite(value)) and low <= value <= info.max
    elif dtype.itemsize <= 4 and _float_max(dtype) and np.isfinite(value):
        fits = fits and abs(value) <= _float_max(dtype)
    if not fits:
        raise RuntimeError(f"{name}: value {given} cannot be converted to type {dtype.name} "
                           "without overflow")
    if dtype.kind == "u" and value < 0:
        return np.array(int(value), dtype=np.int64).astype(dtype)  # wraps, as torch's
    return value


def _fill_value(name: str, value):
    if isinstance(value, Tensor):
        if value.data.size != 1:
            raise _ElementCountError(f"{name}: fill_value must be a number or a one-element "
                                     f"tensor, got shape {value.shape}")
        return value.data.reshape(()).item()
    if not isinstance(value, (bool, int, float, complex, np.generic)):
        raise TypeError(f"{name}: fill_value must be a number, got {type(value).__name__}")
    return value


def zeros_like(input, dtype=None, requires_grad: bool = False, *, device=None,
               pin_memory: bool = False, memory_format=None, layout=None) -> Tensor:
    """Zeros of x's shape and dtype (or ``dtype``), in x's memory order (``memory_format``)."""
    _place("zeros_like", device, pin_memory, layout)
    data = _data(input, "zeros_like")
    dtype = data.dtype if dtype is None else plain_dtype(dtype, "zeros_like")
    values = np.zeros(data.shape, dtype=dtype)
    return Tensor(_laid_like("zeros_like", values, data, memory_format),
                  requires_grad=requires_grad)


def ones_like(input, dtype=None, requires_grad: bool = False, *, device=None,
              pin_memory: bool = False, memory_format=None, layout=None) -> Tensor:
    _place("ones_like", device, pin_memory, layout)
    data = _data(input, "ones_like")
    dtype = data.dtype if dtype is None else plain_dtype(dtype, "ones_like")
    values = np.ones(data.shape, dtype=dtype)
    return Tensor(_laid_like("ones_like", values, data, memory_format),
                  requires_grad=requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad: bool = False, device=None,
         pin_memory: bool = False, layout=None) -> Tensor:
    """``fill_value`` everywhere; the dtype as torch.full's: bool for a bool, int64 for an int,
    the default dtype for a float (or ``dtype``)."""
    _place("full", device, pin_memory, layout)
    size = _shape("full", size if isinstance(size, (tuple, list)) else (size,))
    value = _fill_value("full", fill_value)
    dtype = _fill_dtype(value) if dtype is None else plain_dtype(dtype, "full")
    value = _checked("full", value, dtype, math.prod(size))
    with np.errstate(over="ignore"):  # (a one-element float16 fill of 1e5: inf, as torch's)
        return Tensor(np.full(size, _narrowed(value, dtype), dtype=dtype),
                      requires_grad=requires_grad)


def _narrowed(value, dtype: np.dtype):
    """A fill value for float16/bfloat16 through float32, as torch's Half and BFloat16 are made
    (a float64 just below a tie rounds twice); anything else as it is."""
    dtype = np.dtype(dtype)
    if dtype.itemsize == 2 and dtype.kind in "fV" and isinstance(value, (float, int)) \
            and not isinstance(value, bool):
        return narrow_float(np.asarray(value, np.float64), dtype)
    return value


def full_like(input, fill_value, dtype=None, requires_grad: bool = False, *, device=None,
              pin_memory: bool = False, memory_format=None, layout=None) -> Tensor:
    """``fill_value`` in x's shape and dtype (or ``dtype``)."""
    _place("full_like", device, pin_memory, layout)
    data = _data(input, "full_like")
    value = _fill_value("full_like", fill_value)
    dtype = data.dtype if dtype is None else plain_dtype(dtype, "full_like")
    value = _checked("full_like", value, dtype, data.size)
    with np.errstate(over="ignore"):
        values = np.full(data.shape, _narrowed(value, dtype), dtype=dtype)
    return Tensor(_laid_like("full_like", values, data, memory_format),
                  requires_grad=requires_grad)


def empty(*shape, dtype=None, requires_grad: bool = False,
          device=None, pin_memory: bool = False, size=None, memory_format=None,
          layout=None) -> Tensor:
    """torch.empty: here zeros (numpy's uninitialised memory saves nothing worth the surprise),
    laid out as ``memory_format`` says (``dlpy.channels_last``, ...)."""
    if layout is not None:
        _place("empty", device, pin_memory, _dense(layout))
        if layout is not _dense(layout):
            return _sparse_zeros("empty", _shape("empty", shape, size), dtype, layout,
                                 requires_grad)
    _place("empty", device, pin_memory)
    values = np.zeros(_shape("empty", shape, size), dtype=default_dtype(dtype))
    if memory_format is not None:
        from dlpy.layouts import _checked, laid_out, preserve_format

        if _checked("empty", memory_format, values.ndim) is preserve_format:
            raise RuntimeError("empty: preserve_format is not a memory format to create a "
                               "tensor in, as torch's")
        values = laid_out(values, memory_format)
    return Tensor(values, requires_grad=requires_grad)


_SQUARE = object()  # eye's m when it is not given


def eye(n: int, m: int = _SQUARE, *, dtype=None, requires_grad: bool = False,
        device=None, pin_memory: bool = False, layout=None) -> Tensor:
    """The (n, m) identity matrix (m defaults to n; an explicit None is refused, a TypeError
    as torch's, whose eye takes (n) or (n, m))."""
    _place("eye", device, pin_memory, layout)
    if m is None:
        raise TypeError("eye() received an invalid combination of arguments: m must be an int, "
                        "got None (leave it out for a square matrix)")
    m = None if m is _SQUARE else m
    n, m = (_index("eye", v) if isinstance(v, Tensor) else v for v in (n, m))
    n = _count("eye", "n", n)
    m = n if m is None else _count("eye", "m", m)
    return Tensor(np.eye(n, m, dtype=default_dtype(dtype)), requires_grad=requires_grad)


def linspace(start, end, steps: int, *, dtype=None, requires_grad: bool = False,
             device=None, pin_memory: bool = False, layout=None) -> Tensor:
    """``steps`` evenly spaced values from start to end, both included, bit for bit as torch's
    CPU kernel: in the dtype (complex ends give the default complex dtype), the first half
    counted up from start, the rest back from end."""
    _place("linspace", device, pin_memory, layout)
    steps = _count("linspace", "steps", steps)
    _scalar_ends("linspace", start, end)
    dtype = _complex_ends_dtype("linspace", start, end, dtype)
    _not_bool("linspace", dtype, steps)
    _ends_fit("linspace", start, end, dtype, steps)
    part = _complex_parts(dtype)
    if part is not None:  # the real and imaginary parts each as a real linspace
        start, end = complex(start), complex(end)
        values = (_linspace(start.real, end.real, steps, part)
                  + 1j * _linspace(start.imag, end.imag, steps, part))
    else:
        values = _linspace(float(start), float(end), steps, dtype)
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def _scalar_ends(name: str, start, end) -> None:
    for what, value in (("start", start), ("end", end)):
        if isinstance(value, Tensor) and value.ndim:
            raise CreationError(f"{name} only supports 0-dimensional start and end tensors, but "
                                f"got {what} with {value.ndim} dimension(s).")


def _real_base_power(base: float, exponent: complex) -> complex:
    """libstdc++'s std::pow(double, complex<double>): polar(base ** re, im * log(base)) for a
    positive base, the complex power otherwise."""
    if base > 0:
        with np.errstate(all="ignore"):
            radius, angle = np.power(base, exponent.real), exponent.imag * np.log(base)
            return complex(radius * np.cos(angle), radius * np.sin(angle))
    with np.errstate(all="ignore"):
        return complex(np.power(complex(base), exponent))


def _complex_ends_dtype(name: str, start, end, dtype) -> np.dtype:
    """linspace's / logspace's dtype: the default complex dtype for a complex end (a real
    ``dtype`` is torch's refusal), else ``dtype`` or the default dtype."""
    if any(isinstance(v, (complex, np.complexfloating)) or (
            isinstance(v, Tensor) and v.dtype.kind == "c") for v in (start, end)):
        dtype = default_complex_dtype() if dtype is None else np.dtype(dtype)
        if dtype.kind != "c":
            raise RuntimeError(f"{name}: complex ends can't be safely cast to {dtype}")
    return np.dtype(default_dtype(dtype))


def _end_value(value):
    return value.item() if isinstance(value, Tensor) else value


def _ends_fit(name: str, start, end, dtype: np.dtype, steps: int) -> None:
    """torch's check that linspace's / logspace's real ends convert to ``dtype`` ("value cannot
    be converted to type ... without overflow"): a float end out of an integer dtype's range
    (or not finite), an int end past it (a negative one down to -max for an unsigned dtype,
    which wraps), a finite end past a float dtype's max. Only the ends torch converts: none
    for 0 steps, the start for 1."""
    for value in (start, end)[:min(steps, 2)]:
        value = _end_value(value)
        if not isinstance(value, (complex, np.complexfloating)):
            _checked(name, value, dtype)


def _not_bool(name: str, dtype: np.dtype, steps: int) -> None:
    """torch's kernel has no bool version; 0 or 1 steps never reach it (a fill of start)."""
    if dtype.kind == "b" and steps > 1:
        raise NoKernelError(f'"{name}_cpu" not implemented for \'Bool\'')


def _linspace(start: float, end: float, steps: int, dtype: np.dtype) -> np.ndarray:
    """torch's CPU linspace kernel: ``start + step * i`` for the first half, ``end - step *
    (steps - 1 - i)`` for the rest; in float32/float64 as one fused multiply-add each (as its
    build compiles them); in float16/bfloat16 every operation rounded to the dtype; for
    integer dtypes in float64 from the truncated ends, truncated back."""
    if steps <= 1:
        return np.full(steps, start).astype(dtype)
    index = np.arange(steps)
    forward = index < steps // 2
    count = np.where(forward, index, steps - 1 - index).astype(np.float64)
    if dtype.kind in "biu":  # the ends truncated, wrapped into the dtype (-2 is 254 in uint8)
        first, last = (float(np.array(int(v), np.int64).astype(dtype)) for v in (start, end))
        step = (last - first) / (steps - 1)
        values = _fma(np.where(forward, step, -step), count, np.where(forward, first, last),
                      np.float64)
        return np.trunc(values).astype(np.int64)
    if dtype.itemsize == 2:  # float16, bfloat16: through float32, rounded after every step
        def rounded(value):
            return np.asarray(value, np.float32).astype(dtype).astype(np.float32)

        first, last = rounded(start), rounded(end)
        step = rounded(rounded(last - first) / rounded(steps - 1))
        return np.where(forward, rounded(first + rounded(step * rounded(count))),
                        rounded(last - rounded(step * rounded(count))))
    first, last = dtype.type(start), dtype.type(end)
    step = dtype.type(dtype.type(last - first) / dtype.type(steps - 1))
    # both halves in one call: step * count + first, then -step * count + last
    scale, base = np.where(forward, step, -step), np.where(forward, first, last)
    if dtype == np.float32 and steps <= 2 ** 24:  # float32 operands, exact float64 products
        return random_streams._madd(scale, count, base)
    return _fma(scale, count, base, dtype)


def _fma(x, y, z, dtype) -> np.ndarray:
    """``x * y + z`` rounded once to float64 or float32 (a fused multiply-add), from float64
    operands: the product split exactly (Dekker), the sum kept as a float64 pair."""
    x, y, z = (np.asarray(v, np.float64) for v in (x, y, z))
    if np.dtype(dtype) == np.float64 and y.ndim == 0 and (y == 1 or (z.ndim == 0 and z == 0)):
        # one rounding already: x * 1 is exact (so x + z is the fused sum), and x * y + 0.0 is
        # the rounded product (+ 0.0: a -0.0 product becomes +0.0, as the fused one's)
        return x + z if y == 1 else x * y + 0.0
    product = x * y
    x_hi, x_lo = _halves(x)
    y_hi, y_lo = _halves(y)
    product_error = ((x_hi * y_hi - product) + x_hi * y_lo + x_lo * y_hi) + x_lo * y_lo
    total = z + product
    other = total - z
    rest = (z - (total - other)) + (product - other) + product_error
    result = total + rest
    if np.isnan(result).any():  # an infinite operand (the split's inf - inf): the plain sum's
        # value, as fused (inf + a finite product is inf; arange past float16's range is inf)
        result = np.where(np.isnan(result), product + z, result)
    if not result.all():  # an exact zero: the plain sum's sign (-0 for -0 * y + -0, as fused)
        result = np.where(result == 0, product + z, result)
    if np.dtype(dtype) == np.float64:
        return result
    left_out = (total - result) + rest
    single = result.astype(np.float32)
    # a float64 result halfway between two float32s: what it left out picks the side
    away = np.nextafter(single, np.where(single < result, np.float32(np.inf), np.float32(-np.inf)))
    tie = (single != result) & (2 * np.abs(single - result) == np.abs(
        away.astype(np.float64) - single))
    if tie.any():
        nudged = np.nextafter(result, np.copysign(np.inf, left_out))
        single = np.where(tie & (left_out != 0), nudged, result).astype(np.float32)
    return single


def _halves(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split of float64 values into two 26-bit halves (exact products)."""
    scaled = 134217729.0 * a
    high = scaled - (scaled - a)
    return high, a - high


def _complex_parts(dtype: np.dtype) -> np.dtype | None:
    """The float dtype of a complex dtype's parts (None for a real dtype)."""
    return np.empty(0, dtype).real.dtype if dtype.kind == "c" else None


def _uniform(name: str, shape, dtype, generator, rng) -> np.ndarray:
    """U[0, 1) drawn in float64 and cast, kept below 1 where the cast rounds up; a complex
    dtype draws its real and imaginary parts each so (torch's)."""
    dtype = np.dtype(dtype)
    _check_float(name, dtype)
    part = _complex_parts(dtype)
    if part is not None:
        pair = _uniform(name, (*shape, 2), part, generator, rng)
        return (pair[..., 0] + 1j * pair[..., 1]).astype(dtype)
    values = random_streams.uniform(_generator(name, generator, rng), tuple(shape), dtype)
    if dtype.kind == "f":
        np.minimum(values, np.nextafter(dtype.type(1), dtype.type(0)), out=values)
    return values


_INT_RANGE: dict = {}  # integer dtype -> (its min, its max)


# the integers a floating dtype holds exactly: up to 2^digits; torch's name of the dtype
_FLOAT_DIGITS = {"float16": (11, "c10::Half"), "bfloat16": (8, "c10::BFloat16"),
                 "float32": (24, "float"), "float64": (53, "double")}


def check_int_bounds(name: str, low: int, high: int, dtype: np.dtype) -> tuple[int, int]:
    """torch's refusal of integers [low, high) that an integer (or bool) dtype cannot hold,
    and of a complex dtype. Returns the bounds drawn between: for a floating dtype torch's
    update_from / update_to move a bound the dtype rounds outward (to - 1 rounding up to
    ``to`` or beyond) inward by a step of the dtype at it, so every draw rounds into
    [low, high); it warns of bounds beyond 2^digits and refuses those beyond the dtype's range
    (float16's 65504)."""
    if dtype.kind == "c":
        raise CreationError(f"{name}: random integers need an integral, floating-point or bool "
                            f"dtype, got {dtype}")
    if dtype.name in _FLOAT_DIGITS:
        return _float_bounds(name, low, high, dtype)
    if dtype.kind not in "biu":
        return low, high
    info = _INT_RANGE.get(dtype)
    if info is None:  # (np.iinfo costs microseconds a call)
        info = _INT_RANGE[dtype] = (0, 1) if dtype.kind == "b" else (
            int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    if low < info[0]:
        raise CreationError(f"{name}: from ({low}) is out of bounds for {dtype}")
    if high - 1 > info[1]:
        raise CreationError(f"{name}: to - 1 ({high - 1}) is out of bounds for {dtype}")
    return low, high


def _float_bounds(name: str, low: int, high: int, dtype: np.dtype) -> tuple[int, int]:
    """check_int_bounds' for a floating dtype (torch's update_from, update_to and
    check_from_to_in_range)."""
    digits, torch_name = _FLOAT_DIGITS[dtype.name]
    with np.errstate(over="ignore"):
        from_plus_1 = np.array(low + 1, np.float64).astype(dtype).astype(np.float64)
        if np.isfinite(from_plus_1) and int(from_plus_1) < low:
            low = int(from_plus_1) + (1 << (abs(low + 1).bit_length() - 1 - digits + 1))
        to_minus_1 = np.array(high - 1, np.float64).astype(dtype).astype(np.float64)
        if np.isfinite(to_minus_1) and int(to_minus_1) >= high:
            high = int(to_minus_1) - (1 << (abs(high - 1).bit_length() - 1 - digits + 1))
    if not low < high:
        raise CreationError(f"{name}: expects 'from' casted to dtype to be less than 'to' "
                            f"casted to dtype, but got from={low} >= to={high}")
    largest = float(np.finfo(dtype).max) if dtype.kind == "f" else 3.3895313892515355e38
    for what, value in (("from", low), ("to - 1", high - 1)):
        if not -largest <= value <= largest:
            raise CreationError(f"{name}: {what} is out of bounds for {torch_name}")
    for what, value in (("from", low), ("to - 1", high - 1)):
        if abs(value) > 2 ** digits:
            import warnings

            warnings.warn(f"{what} is out of bounds [-(2^{digits}), 2^{digits}]. Due to "
                          f"precision limitations {torch_name} can support discrete uniform "
                          "distribution only within this range. This warning will become an "
                          "error in version 1.7 release, please fix the code in advance",
                          UserWarning, stacklevel=user_stacklevel())
    return low, high


def _check_float(name: str, dtype: np.dtype) -> None:
    if dtype.kind not in "fcV":  # V: bfloat16 and the float8 kinds
        raise _NotForBoolError(f"{name}: expected a floating-point or complex dtype, got {dtype}")


def _normal(name: str, shape, dtype, generator, rng, contiguous: bool = True) -> np.ndarray:
    """Standard normal values; a complex dtype's parts each N(0, 1/2), so E|z|^2 = 1
    (torch's). ``contiguous``: whether the tensor filled is (random_streams.normal's)."""
    dtype = np.dtype(dtype)
    if math.prod(shape) == 0 and dtype.kind in "biu":  # torch's normal_ returns before its
        return np.empty(tuple(shape), dtype)  # kernel's dtype check for an empty tensor
    _check_float(name, dtype)
    chosen = _generator(name, generator, rng)
    if dtype.kind != "c":
        return random_streams.normal(chosen, tuple(shape), dtype, contiguous=contiguous)
    # torch's: normal_ of the real view (*shape, 2) with std 1 / sqrt(2)
    pair = random_streams.normal(chosen, (*shape, 2), _complex_parts(dtype), 0.0,
                                 1.0 / math.sqrt(2.0), contiguous=contiguous)
    return (pair[..., 0] + 1j * pair[..., 1]).astype(dtype)


def rand(*shape, dtype=None, requires_grad: bool = False,
         generator: np.random.Generator | None = None,
         rng: np.random.Generator | None = None, device=None, pin_memory: bool = False,
         size=None, layout=None) -> Tensor:
    """Uniform values in [0, 1) from ``generator`` (None: the default generator)."""
    _place("rand", device, pin_memory, layout)
    return Tensor(_uniform("rand", _shape("rand", shape, size), default_dtype(dtype), generator,
                           rng), requires_grad=requires_grad)


def rand_like(input, dtype=None, requires_grad: bool = False,
              generator: np.random.Generator | None = None,
              rng: np.random.Generator | None = None,
              device=None, pin_memory: bool = False, *, memory_format=None, layout=None) -> Tensor:
    _place("rand_like", device, pin_memory, layout)
    data = _data(input, "rand_like")
    dtype = data.dtype if dtype is None else np.dtype(dtype)
    values = _drawn_like("rand_like", lambda shape, contiguous: _uniform(
        "rand_like", shape, dtype, generator, rng), data, dtype, memory_format)
    return Tensor(values, requires_grad=requires_grad)


def randn_like(input, dtype=None, requires_grad: bool = False,
               generator: np.random.Generator | None = None,
               rng: np.random.Generator | None = None,
               device=None, pin_memory: bool = False, *, memory_format=None, layout=None) -> Tensor:
    _place("randn_like", device, pin_memory, layout)
    data = _data(input, "randn_like")
    dtype = data.dtype if dtype is None else np.dtype(dtype)
    values = _drawn_like("randn_like", lambda shape, contiguous: _normal(
        "randn_like", shape, dtype, generator, rng, contiguous), data, dtype, memory_format)
    return Tensor(values, requires_grad=requires_grad)


def randint(low=None, high=None, size=None, *, dtype=np.int64, requires_grad: bool = False,
            generator: np.random.Generator | None = None,
            rng: np.random.Generator | None = None,
            device=None, pin_memory: bool = False, layout=None) -> Tensor:
    """Integers in [low, high) of shape ``size``: ``randint(high, size)`` or
    ``randint(low, high, size)`` (or by keywords), int64 by default, as torch.randint."""
    _place("randint", device, pin_memory, layout)
    if size is None:
        if not isinstance(high, (tuple, list)):
            raise TypeError("randint: size is required: randint(high, size) or "
                            "randint(low, high, size)")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    elif low is None:  # randint(high=5, size=...)
        low = 0
    for what, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"randint: {what} must be an int, got {value!r}")
    if not low < high:
        raise CreationError(f"randint: low must be less than high, got [{low}, {high})")
    low, high = check_int_bounds("randint", low, high, np.dtype(dtype))
    size = _shape("randint", size if isinstance(size, (tuple, list)) else (size,))
    values = random_streams.integers(_generator("randint", generator, rng), size, low, high,
                                     np.dtype(dtype))
    return Tensor(values.astype(dtype, copy=False), requires_grad=requires_grad)


def randperm(n: int, *, dtype=np.int64, requires_grad: bool = False,
             generator: np.random.Generator | None = None,
             rng: np.random.Generator | None = None,
             device=None, pin_memory: bool = False, layout=None) -> Tensor:
    """A random permutation of 0 .. n - 1, int64 by default."""
    _place("randperm", device, pin_memory, layout)
    n = _count("randperm", "n", n)
    dtype = np.dtype(dtype)
    if dtype.kind in "bc":
        raise _NotForBoolError(f'"randperm" not implemented for {dtype}')
    if (dtype.kind in "iu" and n - 1 > np.iinfo(dtype).max) or (dtype == np.float16 and n > 2049):
        raise CreationError(f"randperm: {dtype} cannot hold the values 0 .. {n - 1}")
    values = random_streams.randperm(_generator("randperm", generator, rng), n)
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def empty_like(input, dtype=None, requires_grad: bool = False, *, device=None,
               pin_memory: bool = False, memory_format=None, layout=None) -> Tensor:
    """torch.empty_like: here zeros of x's shape and dtype (as ``empty``)."""
    _place("empty_like", device, pin_memory, layout)
    return zeros_like(input, dtype, requires_grad, memory_format=memory_format)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None,
             requires_grad: bool = False, device=None, pin_memory: bool = False,
             layout=None) -> Tensor:
    """torch.logspace: base ** the exponents of a linspace, as torch's CPU kernel: the ends
    in the dtype, the exponents and the powers in float64 (the first half counted up from
    start, the rest back from end), then cast."""
    _place("logspace", device, pin_memory, layout)
    steps = _count("logspace", "steps", steps)
    _scalar_ends("logspace", start, end)
    dtype = _complex_ends_dtype("logspace", start, end, dtype)
    _not_bool("logspace", dtype, steps)
    _ends_fit("logspace", start, end, dtype, steps)
    if dtype.kind == "c":
        kind = dtype.type
        if steps == 1:  # torch's fill with std::pow(double base, complex<double> start)
            values = np.full(1, _real_base_power(float(base), complex(_end_value(start))))
        else:  # in the dtype's precision, the powers as exp(y log(base)) (glibc's cpow)
            first, last = kind(complex(_end_value(start))), kind(complex(_end_value(end)))
            step = (last - first) / kind(max(steps - 1, 1))
            index = np.arange(steps)
            exponents = np.where(index < steps // 2, first + step * index.astype(kind),
                                 last - step * (steps - 1 - index).astype(kind))
            with np.errstate(all="ignore"):  # (numpy's power is exact at integer powers)
                values = (np.exp(exponents * np.log(kind(base))) if base > 0
                          else np.power(kind(base), exponents))
    elif steps <= 1:
        values = np.power(float(base), np.full(steps, float(start)))
    else:
        if dtype.kind in "biu":  # the ends truncated, wrapped into the dtype
            first, last = (float(np.array(int(v), np.int64).astype(dtype)) for v in (start, end))
            span = last - first
        else:
            first, last = (float(np.asarray(v).astype(dtype)) for v in (start, end))
            low = np.float32 if dtype.itemsize == 2 else dtype  # float16 arithmetic: in float32
            span = float(np.asarray(np.asarray(last, low) - np.asarray(first, low), low)
                         .astype(dtype))
        step = span / (steps - 1)
        index = np.arange(steps)
        exponents = np.where(index < steps // 2, first + step * index,
                             last - step * (steps - 1 - index))
        values = np.power(float(base), exponents)
    if dtype.kind in "fcV" and dtype.itemsize <= 4:
        values = values.astype(np.float32)  # float64 to float16 through float32, as torch
    with np.errstate(over="ignore", invalid="ignore"):  # powers past the dtype: torch's too
        values = values.astype(dtype)
    return Tensor(values, requires_grad=requires_grad)


def _triangle_indices(name: str, row, col, offset, dtype, numpy_indices) -> Tensor:
    row, col = _count(name, "row", row), _count(name, "col", col)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise TypeError(f"{name}: offset must be an int, got {offset!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.int64, np.int32):  # torch's kernels: int32 and int64 only
        from dlpy.amp.dtypes import _torch_name

        raise NotImplementedError(f'"{name}" not implemented for {_torch_name(dtype)!r}')
    return Tensor(np.stack(numpy_indices(row, int(offset), col)).astype(dtype).reshape(2, -1))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=np.int64, device=None,
                 pin_memory: bool = False, layout=None) -> Tensor:
    """torch.tril_indices: (2, count) row and column indices of the lower triangle of a
    row x col matrix (the offset-th diagonal and below), in row-major order."""
    _place("tril_indices", device, pin_memory, layout)
    return _triangle_indices("tril_indices", row, col, offset, dtype, np.tril_indices)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=np.int64, device=None,
                 pin_memory: bool = False, layout=None) -> Tensor:
    """torch.triu_indices: (2, count) indices of the offset-th diagonal and above."""
    _place("triu_indices", device, pin_memory, layout)
    return _triangle_indices("triu_indices", row, col, offset, dtype, np.triu_indices)


# ------------------------------------------------------------------------ the meta device
def _shrunk(shape: tuple) -> tuple:
    """``shape`` with every size above 1 made 1 (a 0 stays 0)."""
    return tuple(min(n, 1) for n in shape)


# where the size is in the factories' arguments: all the positional ones (ints, or one
# sequence), the first, or the last (randint's (low, high, size))
_SIZE_AT = {"zeros": "all", "ones": "all", "empty": "all", "rand": "all", "randn": "all",
            "full": "first", "randint": "last"}


def _small_request(name: str, args: tuple, kwargs: dict):
    """A meta factory's call made small: (args, kwargs, shape) with the size asked for
    (``shape``) replaced by ``_shrunk(shape)``, so the call checks every argument as given
    (dtypes, negative sizes: torch's errors) and allocates nothing of the shape; None where the
    size is not plain non-negative ints (the call as given)."""
    where = _SIZE_AT.get(name)
    if where is None:
        return None

    def plain(size):
        if isinstance(size, (list, tuple)) and all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
                for n in size):
            return tuple(int(n) for n in size)
        return None

    if "size" in kwargs:
        shape = plain(kwargs["size"])
        return None if shape is None else (args, {**kwargs, "size": _shrunk(shape)}, shape)
    if where == "all":
        given = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        shape = plain(tuple(given)) if given else None
        if shape is None:
            return None
        small = _shrunk(shape)
        return ((small,) if given is not args else small), kwargs, shape
    if not args:
        return None
    at = 0 if where == "first" else len(args) - 1
    shape = plain(args[at])
    if shape is None:
        return None
    return (*args[:at], _shrunk(shape), *args[at + 1:]), kwargs, shape


def _meta_strides(shape, memory_format, source) -> tuple | None:
    """The strides (None: row-major) of a meta factory's result of ``shape``: those of
    ``memory_format``, or with none (preserve_format) those of a ``*_like`` function's meta
    input of that shape, as torch's."""
    from dlpy import meta as _meta
    from dlpy.layouts import preserve_format

    if memory_format is not None and memory_format is not preserve_format:
        return _meta.format_strides(shape, memory_format)
    if source is not None and _meta.holds_meta(source) and source.data.shape == tuple(shape):
        return _meta.preserved_strides(source.data)
    return None


def _on_meta(function, like: bool = False, default: bool = True):
    """``function`` (a creation function taking ``device=``) making a meta tensor when the
    device given, or the default one when none is, is ``meta``: the tensor is made on the CPU
    under a forked generator (torch's meta factories draw nothing), then keeps only its shape
    and dtype (dlpy.meta); a ``generator=`` given is not drawn from either. A ``*_like``
    function follows its input's device when none is given, and reads only its input's shape
    and dtype. ``default=False``: the default device does not count (torch.normal of numbers,
    which torch's default-device mode leaves on the CPU)."""
    import functools

    from dlpy.device import wants_meta
    from dlpy.meta import holds_meta as _meta_holds

    @functools.wraps(function)
    def make(*args, **kwargs):
        where = kwargs.get("device")
        if like:
            source = args[0] if args else kwargs.get("input")
            source_meta = _meta_holds(source)
            if where is None and not source_meta:
                return function(*args, **kwargs)
            meta = source_meta if where is None else wants_meta(where)
            shape = source.data.shape if source_meta and meta else None
            if source_meta:  # read as a plain tensor of its dtype (and its shape: one of
                # ones and zeros where the result is meta, which takes the shape itself)
                stand_in = Tensor(np.empty(source.data.shape if shape is None
                                           else _shrunk(shape), source.data.dtype))
                args = (stand_in, *args[1:]) if args else args
                if not args:
                    kwargs["input"] = stand_in
        else:
            if not wants_meta(where) if default or where is not None else True:
                return function(*args, **kwargs)
            meta = True
            shape = None
            small = _small_request(function.__name__, args, kwargs)
            if small is not None:
                args, kwargs, shape = small
        if not meta:
            return function(*args, **kwargs)
        kwargs["device"] = None
        if kwargs.get("generator") is not None:
            kwargs["generator"] = None  # (the forked default generator's draws instead)
        from dlpy import meta as _meta
        from dlpy.random import fork_rng

        if _meta._fake[0] is not None and function.__name__ == "tensor":  # (Python data on
            # device="meta" inside a FakeTensorMode: a real meta tensor, as torch's)
            real = _meta._fake[0].real_meta(where, args[0] if args else kwargs.get("data"))
        else:
            real = contextlib.nullcontext()
        with real:
            with fork_rng():
                out = function(*args, **kwargs)
            if shape is not None:  # made small (its arguments checked as given): the asked
                # shape (in the memory format asked for, or a meta input's order: torch's
                # strides)
                from dlpy.device import meta_array

                out.data = meta_array(shape, out.data.dtype, _meta_strides(
                    shape, kwargs.get("memory_format"), source if like else None))
            out = _meta.metafy(out)
            if _meta._fake[0] is not None:  # (made fake, or a FakeTensor's: on the fake
                # device asked for, else on its input's)
                if like and source_meta:
                    _meta._fake[0].follow(out, (source,))
                    where = source.device if where is None else where
                _meta._fake[0].placed(out, where)
        return out

    return make


for _name in ("tensor", "zeros", "ones", "randn", "arange", "full", "empty", "eye", "linspace",
              "rand", "randint", "randperm", "logspace", "tril_indices", "triu_indices"):
    globals()[_name] = _on_meta(globals()[_name])
for _name in ("zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "empty_like"):
    globals()[_name] = _on_meta(globals()[_name], like=True)
del _name
