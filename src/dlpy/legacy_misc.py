"""torch's miscellaneous top-level names: the symbolic-shape helpers on plain Python numbers
(sym_int, sym_float, sym_max, sym_min, sym_not, sym_sqrt, sym_ite, sym_sum, sym_fresh_size)
and the SymInt / SymFloat / SymBool classes (dlpy traces no symbolic shapes: nothing is ever
their instance), newaxis, the build flags, the legacy set_default_tensor_type, the legacy typed
storages (torch.FloatStorage, ...: classes whose call makes a TypedStorage of their dtype),
from_file, as_strided_ / as_strided_scatter, Tensor.resize / resize_as (deprecated), the removed
linear algebra (eig, lstsq, solve, symeig, matrix_rank: torch's RuntimeError naming their
replacements), the removed Variable API (Tensor.volatile, reinforce), legacy_contiguous_format,
fork / wait, slice_inverse and Tensor.record_stream.
``dlpy/__init__.py`` exports TOP_LEVEL; ``tensor_methods.py`` attaches TENSOR_METHODS."""

from __future__ import annotations

import builtins
import math
import numbers
import warnings

import numpy as np

from dlpy._caller import user_stacklevel
from dlpy.layouts import contiguous_format as legacy_contiguous_format  # noqa: F401 - TOP_LEVEL
from dlpy.legacy_types import _LegacyType
from dlpy.ops import ArgError
from dlpy.overrides import (  # noqa: F401 - exported (TOP_LEVEL)
    DisableTorchFunction,
    DisableTorchFunctionSubclass,
)
from dlpy.storage import TypedStorage, UntypedStorage
from dlpy.tensor import Tensor


# ----------------------------------------------------------------- symbolic-shape helpers
class SymInt:
    """torch.SymInt: a symbolic integer of traced shapes; dlpy has none (no plain int is one)."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("dlpy.SymInt: dlpy traces no symbolic shapes; use a Python int")


class SymFloat:
    """torch.SymFloat: a symbolic float of traced shapes; dlpy has none."""

    __new__ = SymInt.__new__


class SymBool:
    """torch.SymBool: a symbolic bool of traced shapes; dlpy has none."""

    __new__ = SymInt.__new__


def sym_int(a):
    """torch.sym_int: ``int(a)`` for a plain value."""
    return builtins.int(a)


def sym_float(a):
    """torch.sym_float: ``float(a)`` for a plain value."""
    if hasattr(a, "__sym_float__"):
        return a.__sym_float__()
    return builtins.float(a)


def _sym_numbers(a, b):
    for value in (a, b):
        if not isinstance(value, (numbers.Real, np.number)):
            raise AssertionError(f"expected int or float, got {type(value)}")
    return isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating))


def sym_max(a, b):
    """torch.sym_max: max(a, b) of ints / floats, a float when either is one."""
    floating = _sym_numbers(a, b)
    return builtins.float(builtins.max(a, b)) if floating else builtins.max(a, b)


def sym_min(a, b):
    """torch.sym_min: min(a, b) of ints / floats, a float when either is one."""
    floating = _sym_numbers(a, b)
    return builtins.float(builtins.min(a, b)) if floating else builtins.min(a, b)


def sym_not(a):
    """torch.sym_not: ``not a``."""
    if hasattr(a, "__sym_not__"):
        return a.__sym_not__()
    return not a


def sym_sqrt(a):
    """torch.sym_sqrt: math.sqrt of a plain number (a float)."""
    return math.sqrt(a)


def sym_ite(b, t, f):
    """torch.sym_ite: ``t if b else f``; ``b`` must be a bool and ``t``, ``f`` of one type
    (AssertionError otherwise, as torch's)."""
    if not isinstance(b, bool):
        raise AssertionError(f"expected SymBool or bool, got {type(b)}")
    if type(t) is not type(f):
        raise AssertionError(f"type mismatch: {type(t)} vs {type(f)}")
    return t if b else f


def sym_sum(*args):
    """torch.sym_sum: the sum of ``args`` (``sym_sum([a, b])`` or ``sym_sum(a, b)``)."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    return builtins.sum(args)


def sym_fresh_size(expr):
    """torch.sym_fresh_size: the value of ``expr`` (torch.tensor(expr).item())."""
    from dlpy.creation import tensor

    return tensor(expr).item()


newaxis = None  # torch.newaxis: indexing with it adds a dimension, as None does

# the build flags: dlpy's numpy has LAPACK (numpy.linalg) and an FFT; no MKL, OpenMP, CUDA
has_lapack = True
has_spectral = True
has_mkl = False
has_openmp = False


def is_distributed(input) -> bool:  # noqa: A002 - PyTorch's name
    """torch.is_distributed: False (dlpy has no distributed tensors)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_distributed(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    return False


def compiled_with_cxx11_abi() -> bool:
    """torch.compiled_with_cxx11_abi: True, as torch 2.13's (dlpy compiles nothing)."""
    return True


# ----------------------------------------------------------------- legacy default tensor type
def set_default_tensor_type(t, /) -> None:
    """torch.set_default_tensor_type (deprecated; set_default_dtype replaces it): a legacy
    floating-point tensor type (``dlpy.DoubleTensor``) or its name (``'torch.DoubleTensor'``)
    sets the default dtype; an integer type or a dtype is a TypeError."""
    from dlpy import legacy_types
    from dlpy.torch_functions import set_default_dtype

    if isinstance(t, str):
        module, _, name = t.rpartition(".")
        if module not in ("torch", "dlpy", ""):
            raise ModuleNotFoundError(f"No module named {module!r}")
        found = getattr(legacy_types, name, None)
        if not isinstance(found, legacy_types._LegacyTensorType):
            raise AttributeError(f"module 'torch' has no attribute {name!r}")
        t = found
    if not isinstance(t, legacy_types._LegacyTensorType):
        raise TypeError(f"invalid type object: expected a tensor type (dlpy.DoubleTensor), "
                        f"got {t!r}")
    if t.dtype_name not in ("float32", "float64", "float16", "bfloat16"):
        raise TypeError("only floating-point types are supported as the default type")
    set_default_dtype(t.dtype)


# ----------------------------------------------------------------- legacy typed storages
class _LegacyStorageType(_LegacyType):
    """The metaclass of torch.FloatStorage & co: calling one makes a TypedStorage of its dtype;
    ``isinstance(s, FloatStorage)`` is whether ``s`` is a TypedStorage of float32."""

    def __call__(cls, *args, device=None, **kwargs):
        if kwargs:
            raise ArgError(f"{cls.__name__}(): got an invalid combination of arguments: "
                           f"unexpected keyword arguments {sorted(kwargs)}; expected a size, "
                           f"a sequence of values or nothing")
        dtype = cls.dtype
        if not args:
            return TypedStorage(UntypedStorage(0), dtype)
        if len(args) > 1:
            raise TypeError(f"{cls.__name__}(): expected one size or one sequence, got "
                            f"{len(args)} arguments")
        (data,) = args
        if isinstance(data, numbers.Integral) and not isinstance(data, bool):
            if data < 0:
                raise ArgError(f"{cls.__name__}(): negative size {data}")
            return TypedStorage(UntypedStorage(int(data) * np.dtype(dtype).itemsize), dtype)
        if isinstance(data, TypedStorage) or not isinstance(data, (list, tuple)):
            raise TypeError(f"new(): invalid data type {type(data).__name__!r}")
        for value in data:
            if not isinstance(value, (numbers.Number, np.number)):
                raise TypeError(f"must be real number, not {type(value).__name__}")
        values = np.array(data).astype(dtype) if data else np.zeros(0, dtype)
        return TypedStorage(UntypedStorage(values.reshape(-1).view(np.uint8)), dtype)

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, TypedStorage) and instance.dtype == np.dtype(cls.dtype)

    @property
    def dtype(cls):
        return cls._named_dtype()


_STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
             "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
             "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
             "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
             "ComplexDoubleStorage": "complex128"}
_STORAGE_TYPES = {
    name: _LegacyStorageType(name, (), {
        "dtype_name": dtype, "__module__": "dlpy",
        "__doc__": f"torch.{name}: ``{name}(n)`` a storage of n {dtype} elements, "
                   f"``{name}(values)`` one holding the values (a TypedStorage)."})
    for name, dtype in _STORAGES.items()}
globals().update(_STORAGE_TYPES)


def storage_type_of(dtype) -> type:
    """The legacy storage class (dlpy.FloatStorage, ...) of ``dtype``."""
    name = np.dtype(dtype).name
    for cls in _STORAGE_TYPES.values():
        if cls.dtype_name == name:
            return cls
    raise TypeError(f"no legacy storage type for dtype {name}")


def _storage_type(self) -> type:
    """Tensor.storage_type(): the legacy storage class of the tensor's dtype
    (dlpy.FloatStorage for float32, ...)."""
    return storage_type_of(self.dtype)


# ----------------------------------------------------------------- from_file
def from_file(filename, shared=None, size=0, *, dtype=None, layout=None, device=None,
              pin_memory=False, requires_grad=False) -> Tensor:
    """torch.from_file: a 1-D tensor of ``size`` elements of ``dtype`` (the default dtype)
    mapped from the file's start: ``shared`` True writes through to the file, else the
    mapping is private (copy on write). A file shorter than that, or a missing one, is a
    RuntimeError (ArgError)."""
    from dlpy.tensor import default_dtype

    dtype = np.dtype(default_dtype(dtype))
    size = int(size)
    if size < 0:
        raise ArgError(f"from_file: size must be non-negative, got {size}")
    try:
        if size == 0:
            open(filename, "rb").close()  # (numpy cannot map nothing)
            array = np.zeros(0, dtype)
        else:
            array = np.memmap(filename, dtype=dtype, mode="r+" if shared else "c", shape=(size,))
    except (OSError, ValueError) as error:
        raise ArgError(f"from_file: cannot map {size} elements of {dtype} from "
                       f"{filename!r}: {error}") from None
    return Tensor(array, requires_grad=requires_grad)


# ----------------------------------------------------------------- as_strided_ and scatter
def as_strided_(input, size, stride, storage_offset=None) -> Tensor:  # noqa: A002
    """torch.as_strided_: input.as_strided_(size, stride, storage_offset) (in place)."""
    return input.as_strided_(size, stride, storage_offset)


def as_strided_scatter(input, src, size, stride, storage_offset=None) -> Tensor:  # noqa: A002
    """torch.as_strided_scatter: a copy of ``input`` with ``src`` written where
    ``input.as_strided(size, stride, storage_offset)`` would look (the storage places follow
    input's memory order: a transposed input's are its transpose's); differentiable in both
    (input's gradient is zero where src was written, src's the gradient read there)."""
    from dlpy.torch_misc import _sizes

    size = _sizes("as_strided_scatter", "size", size)
    stride = _sizes("as_strided_scatter", "stride", stride)
    offset = 0 if storage_offset is None else int(storage_offset)
    if len(size) != len(stride):
        raise ArgError(f"as_strided_scatter: size {size} and stride {stride} must have the "
                       f"same length")
    if tuple(src.shape) != tuple(size):
        raise ArgError(f"expected src to have a size equal to the slice of self. src size = "
                       f"{list(src.shape)}, slice size = {list(size)}")
    # input's dimensions in memory order (largest stride first): its storage as row-major
    strides = input.stride()
    order = sorted(range(input.dim()), key=lambda d: -strides[d])
    inverse = [order.index(d) for d in range(input.dim())]
    base = input.permute(*order) if input.dim() else input
    places = np.full(size, offset, dtype=np.int64)
    for axis, (n, step) in enumerate(zip(size, stride)):
        places += (np.arange(n, dtype=np.int64) * step).reshape((n,) + (1,) * (len(size)
                                                                            - axis - 1))
    if places.size and (places.min() < 0 or places.max() >= max(input.numel(), 1)
                        or input.numel() == 0):
        raise ArgError(f"as_strided_scatter: size {size}, stride {stride} and storage offset "
                       f"{offset} reach past input's {input.numel()} elements")
    from dlpy.creation import tensor

    flat = base.contiguous().reshape(-1)
    out = flat.index_put((tensor(places.reshape(-1)),),
                         src.reshape(-1).to(input.dtype))
    out = out.reshape(base.shape)
    return out.permute(*inverse) if input.dim() else out


# ----------------------------------------------------------------- Tensor.resize (legacy)
def _resize(self, *sizes) -> Tensor:
    """Tensor.resize(*sizes) (deprecated, warns): the tensor viewed in that shape, which must
    hold as many elements (autograd's resize changes the shape only)."""
    warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=user_stacklevel())
    count = 1
    for n in sizes:
        count = count * n if isinstance(n, numbers.Integral) else None
        if count is None:
            break
    if count != self.numel():
        shown = ", ".join(str(n) for n in sizes)
        raise ArgError(f"requested resize to {shown} ({'*'.join(str(n) for n in sizes)} "
                       f"elements in total), but the given tensor has a size of "
                       f"{'x'.join(str(n) for n in self.shape)} ({self.numel()} elements). "
                       f"autograd's resize can only change the shape of a given tensor, while "
                       f"preserving the number of elements.")
    return self.contiguous().view(*sizes)


def _resize_as(self, tensor) -> Tensor:
    """Tensor.resize_as(tensor) (deprecated, warns): resize to ``tensor``'s shape."""
    warnings.warn("non-inplace resize_as is deprecated", UserWarning, stacklevel=user_stacklevel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _resize(self, *tensor.shape)


# ----------------------------------------------------------------- removed linear algebra
# torch.eig, lstsq, solve, symeig, matrix_rank (and the Tensor methods) were removed in 1.9;
# torch keeps the names to say what replaces them: RuntimeError, whatever the arguments
_REMOVED = "This function was deprecated since version 1.9 and is now removed."


def matrix_rank(input, tol=None, symmetric=False, *, out=None) -> Tensor:  # noqa: A002
    """torch.matrix_rank (removed): RuntimeError naming torch.linalg.matrix_rank."""
    raise RuntimeError(
        f"{_REMOVED}\nPlease use the `torch.linalg.matrix_rank` function instead. The parameter "
        "'symmetric' was renamed in `torch.linalg.matrix_rank()` to 'hermitian'.")


def solve(input, A, *, out=None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """torch.solve (removed): RuntimeError naming torch.linalg.solve."""
    raise RuntimeError(
        f"{_REMOVED} `torch.solve` is deprecated in favor of `torch.linalg.solve`. "
        "`torch.linalg.solve` has its arguments reversed and does not return the LU "
        "factorization.\n\nTo get the LU factorization see `torch.lu`, which can be used with "
        "`torch.lu_solve` or `torch.lu_unpack`.\nX = torch.solve(B, A).solution should be "
        "replaced with:\nX = torch.linalg.solve(A, B)")


def lstsq(input, A, *, out=None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """torch.lstsq (removed): RuntimeError naming torch.linalg.lstsq."""
    raise RuntimeError(
        f"{_REMOVED} `torch.lstsq` is deprecated in favor of `torch.linalg.lstsq`.\n"
        "`torch.linalg.lstsq` has reversed arguments and does not return the QR decomposition "
        "in the returned tuple (although it returns other information about the problem).\n\n"
        "To get the QR decomposition consider using `torch.linalg.qr`.\n\nThe returned "
        "solution in `torch.lstsq` stored the residuals of the solution in the last m - n "
        "columns of the returned value whenever m > n. In torch.linalg.lstsq, the residuals "
        "are in the field 'residuals' of the returned named tuple.\n\nThe unpacking of the "
        "solution, as in\nX, _ = torch.lstsq(B, A).solution[:A.size(1)]\nshould be replaced "
        "with:\nX = torch.linalg.lstsq(A, B).solution")


def symeig(input, eigenvectors=False, upper=True, *, out=None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """torch.symeig (removed): RuntimeError naming torch.linalg.eigvalsh / eigh."""
    raise RuntimeError(
        f"{_REMOVED} The default behavior has changed from using the upper triangular portion "
        "of the matrix by default to using the lower triangular portion.\n\nL, _ = "
        "torch.symeig(A, upper=upper) should be replaced with:\nL = torch.linalg.eigvalsh(A, "
        "UPLO='U' if upper else 'L')\n\nand\n\nL, V = torch.symeig(A, eigenvectors=True) "
        "should be replaced with:\nL, V = torch.linalg.eigh(A, UPLO='U' if upper else 'L')")


def eig(self, eigenvectors: bool = False, *, e=None, v=None) -> tuple[Tensor, Tensor]:
    """torch.eig (removed): RuntimeError naming torch.linalg.eig / eigvals."""
    raise RuntimeError(
        f"{_REMOVED} `torch.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` "
        "rather than real tensors mimicking complex tensors.\n\nL, _ = torch.eig(A) should be "
        "replaced with:\nL_complex = torch.linalg.eigvals(A)\n\nand\n\nL, V = torch.eig(A, "
        "eigenvectors=True) should be replaced with:\nL_complex, V_complex = "
        "torch.linalg.eig(A)")


# ----------------------------------------------------------------- removed Variable API
def _volatile(self) -> bool:
    """Tensor.volatile (removed with Variable): False, with torch's UserWarning."""
    warnings.warn("volatile was removed (Variable.volatile is always False)", UserWarning,
                  stacklevel=2)
    return False


def _set_volatile(self, value) -> None:
    warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` "
                  "instead.", UserWarning, stacklevel=2)


def _reinforce(self, reward):
    """Tensor.reinforce (removed): RuntimeError pointing to torch.distributions."""
    raise RuntimeError(
        "reinforce() was removed.\nUse torch.distributions instead.\nSee "
        "https://pytorch.org/docs/main/distributions.html\n\nInstead of:\n\nprobs = "
        "policy_network(state)\naction = probs.multinomial()\nnext_state, reward = "
        "env.step(action)\naction.reinforce(reward)\naction.backward()\n\nUse:\n\nprobs = "
        "policy_network(state)\n# NOTE: categorical is equivalent to what used to be called "
        "multinomial\nm = torch.distributions.Categorical(probs)\naction = m.sample()\n"
        "next_state, reward = env.step(action)\nloss = -m.log_prob(action) * reward\n"
        "loss.backward()\n")


# ----------------------------------------------------------------- streams, futures, views
def _record_stream(self, stream) -> None:
    """Tensor.record_stream(stream): a CUDA caching-allocator hint; a CPU tensor has no kernel
    (torch's NotImplementedError, a RuntimeError), anything but a Stream is a RuntimeError."""
    from dlpy.accelerator import Stream
    from dlpy.tensor_methods import _NoDenseKernelError

    if not isinstance(stream, Stream):
        raise RuntimeError(f"record_stream: unknown parameter type {type(stream).__name__} "
                           f"(expected a Stream)")
    raise _NoDenseKernelError("Could not run 'aten::record_stream' with arguments from the "
                              "'CPU' backend")


def fork(func, *args, **kwargs):
    """torch.fork (torch.jit.fork): ``func(*args, **kwargs)`` run now, its result in a Future
    (dlpy.futures.Future) for ``wait``."""
    from dlpy.jit import fork as _fork

    return _fork(func, *args, **kwargs)


def wait(future):
    """torch.wait (torch.jit.wait): a Future's result; anything else is a TypeError."""
    from dlpy.futures import Future

    if not isinstance(future, Future):
        raise TypeError(f"wait(): incompatible function arguments: expected a Future, got "
                        f"{type(future).__name__}")
    return future.wait()


def slice_inverse(input, src, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:  # noqa: A002
    """torch.slice_inverse (the inverse of ``src = base.slice(dim, start, end, step)``, used
    by functionalization): ``input`` viewed with src's sizes, strides and storage offset (the
    slice arguments only name the slice; input must hold that geometry)."""
    if not isinstance(src, Tensor):
        raise TypeError(f"slice_inverse(): argument 'src' must be Tensor, not "
                        f"{type(src).__name__}")
    return input.as_strided(tuple(src.shape), src.stride(), src.storage_offset())


TOP_LEVEL = ["matrix_rank", "solve", "lstsq", "symeig", "eig", "fork", "wait", "slice_inverse",
             "legacy_contiguous_format",
             "SymInt", "SymFloat", "SymBool", "sym_int", "sym_float", "sym_max", "sym_min",
             "sym_not", "sym_sqrt", "sym_ite", "sym_sum", "sym_fresh_size", "newaxis",
             "has_lapack", "has_spectral", "has_mkl", "has_openmp", "is_distributed",
             "compiled_with_cxx11_abi", "set_default_tensor_type", "from_file", "as_strided_",
             "as_strided_scatter", "DisableTorchFunction", "DisableTorchFunctionSubclass",
             *_STORAGES]
TENSOR_METHODS = {"storage_type": _storage_type, "resize": _resize, "resize_as": _resize_as,
                  "as_strided_scatter": as_strided_scatter,
                  "eig": lambda self, eigenvectors=False: eig(self, eigenvectors),
                  "lstsq": lambda self, other: lstsq(self, other),
                  "solve": lambda self, other: solve(self, other),
                  "symeig": lambda self, eigenvectors=False: symeig(self, eigenvectors),
                  "volatile": property(_volatile, _set_volatile), "reinforce": _reinforce,
                  "record_stream": _record_stream, "slice_inverse": slice_inverse}
