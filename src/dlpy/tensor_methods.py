"""The rest of torch.Tensor's methods, attached to ``Tensor`` once when dlpy.tensor is imported
(tensor.py keeps the engine and the common methods):

- comparisons (gt, le, ...) and PyTorch's aliases (absolute, divide, greater_equal, ger, ...);
- methods that are dlpy functions of the same name (addmm, cov, fmax, unfold, scatter_reduce, ...);
- casts (int, long, bool, half, type) and introspection (stride, is_contiguous, element_size);
- random fills (bernoulli_, exponential_, random_, ...) and other in-place utilities;
- the in-place twin ``f_`` of every out-of-place method torch has one for, generated from one
  table through ``Tensor._in_place``, so PyTorch's leaf rules and the version counter come with
  it.

Nothing here is on the path of an op: attaching costs once, at import.
"""

from __future__ import annotations

import sys
import weakref

import numpy as np

from dlpy import random_streams
from dlpy.creation import check_int_bounds as _check_int_bounds
from dlpy.creation import plain_dtype as _plain_dtype
from dlpy.device import CPU as _CPU
from dlpy.device import META as _META
from dlpy.device import MetaArray as _MetaArray
from dlpy.ops import ArgDtypeError, ArgError, NoKernelError, int_of
from dlpy.ops import arithmetic as _arith
from dlpy.ops import multi_output as _multi_output
from dlpy.storage import TypedStorage, UntypedStorage  # noqa: F401 - torch's names
from dlpy.storage import typed_storage as _typed_storage
from dlpy.storage import untyped_storage as _untyped_storage
from dlpy.storage import view_storage as _view_storage
from dlpy.tensor import (
    InPlaceCastError,
    ShapeError,
    Tensor,
    _buffer,
    _bump,
    _comparable,
    _compare_type_error,
    _filled,
    _functional_method,
    _grad_tensor,
    is_floating_dtype,
)
from dlpy.tensor import is_grad_enabled as _is_grad_enabled


def _method(name: str, function, doc: str):
    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


def _attach(name: str, method) -> None:
    if not hasattr(Tensor, name):  # never replace a method the class (or another module) defines
        setattr(Tensor, name, method)


# ----------------------------------------------------------------- comparisons and aliases
def _comparison(name: str, ufunc):
    def compare(self, other):
        if not _comparable(other):  # None, a string, a list: torch's TypeError (the operator
            raise _compare_type_error(name, other)  # answers NotImplemented instead)
        return self._compare(other, ufunc, f"{name}_cpu")

    return _method(name, compare, f"self {name} other element-wise, a bool tensor (no "
                   "gradient); a Tensor or number only.")


for _name, _ufunc in (("gt", np.greater), ("ge", np.greater_equal), ("lt", np.less),
                      ("le", np.less_equal)):
    _attach(_name, _comparison(_name, _ufunc))

# PyTorch's other names for methods Tensor has (the same function objects)
ALIASES = {
    "absolute": "abs", "divide": "div", "multiply": "mul", "subtract": "sub",
    "negative": "neg", "greater": "gt", "greater_equal": "ge", "less": "lt", "less_equal": "le",
    "not_equal": "ne", "ger": "outer", "ndimension": "dim",
    "true_divide": "div",
}

# methods that are dlpy.functional.<name>(self, ...), as torch.Tensor.<name>
FUNCTIONAL_METHODS = """
    addbmm addmm addmv addr baddbmm corrcoef cov diag diag_embed diagonal_scatter dist erfc
    fmax fmin frexp gcd hardshrink i0 igamma igammac index_put index_reduce isin isneginf
    isposinf isreal kron lcm ldexp logdet matrix_power mvlgamma nextafter pinverse prelu
    renorm scatter_reduce select select_scatter sgn signbit slice_scatter slogdet unflatten
    floor_divide qr svd cholesky
""".split()
for _name in FUNCTIONAL_METHODS:
    _attach(_name, _functional_method(_name))


def _addmm(self, mat1, mat2, *args, **kwargs):
    from dlpy import sparse_tensor

    if isinstance(mat1, sparse_tensor.SparseTensor):
        return sparse_tensor.addmm(self, mat1, mat2, *args, **kwargs)
    return _functional("addmm")(self, mat1, mat2, *args, **kwargs)


Tensor.addmm = _method("addmm", _addmm, "functional.addmm(self, ...), or sparse.addmm when mat1 "
                                        "is a sparse tensor, as torch.Tensor.addmm.")


def _varargs(name: str, function, keyword: str):
    """A method taking sizes as ``f(2, 3)``, ``f((2, 3))`` or by torch's keyword
    (``f(dims=(2, 3))``, ``keyword`` naming it)."""
    def method(self, *sizes, **named):
        if named:
            wrong = [k for k in named if k != keyword]
            if wrong:
                raise TypeError(f"{name}() got an unexpected keyword argument '{wrong[0]}'")
            if sizes:
                raise TypeError(f"{name}() got multiple values for argument '{keyword}'")
            sizes = (named[keyword],)
        return function(self, sizes[0] if len(sizes) == 1 and isinstance(
            sizes[0], (tuple, list)) else sizes)

    return _method(name, method, f"functional.{name}(self, sizes), sizes given as ints, one "
                                 f"tuple or keyword ``{keyword}``, as torch.Tensor's.")


Tensor.tile = _varargs("tile", lambda self, dims: _functional("tile")(self, dims), "dims")
Tensor.sum_to_size = _varargs("sum_to_size",
                              lambda self, size: _functional("sum_to_size")(self, *size), "size")


def _functional(name: str):
    from dlpy import functional

    return getattr(functional, name)


def _polygamma(self, n: int):
    return _functional("polygamma")(n, self)


def _unfold(self, dimension: int, size: int, step: int):
    from dlpy.ops.rearrange import sliding_windows

    return sliding_windows(self, dimension, size, step)


def _msort(self):
    return self.sort(dim=0).values


def _split_with_sizes(self, split_sizes, dim: int = 0):
    return self.split(list(split_sizes), dim)


def _unsafe_split(self, split_size, dim: int = 0):
    """split whose pieces torch lets change in place while recording (UnsafeSplitBackward0)."""
    from dlpy import functional

    return functional.split(self, split_size, dim, _unsafe=True)


def _unsafe_split_with_sizes(self, split_sizes, dim: int = 0):
    from dlpy import functional

    return functional.split(self, list(split_sizes), dim, _unsafe=True)


def _unsafe_chunk(self, chunks: int, dim: int = 0):
    from dlpy import functional

    return functional.chunk(self, chunks, dim, _unsafe=True)


def _clamp_min(self, min):  # noqa: A002 - PyTorch's names
    return _clamp_named(self.clamp(min, None), "ClampMin", min)


def _clamp_max(self, max):  # noqa: A002
    return _clamp_named(self.clamp(None, max), "ClampMax", max)


def _clamp_named(out, kind: str, bound):
    """clamp_min/clamp_max's result with torch's node name (ClampMinBackward0; 1: a tensor
    bound)."""
    if out.op is not None:
        from dlpy.node_names import rename

        rename(out.op, f"{kind}Backward{int(isinstance(bound, Tensor))}")
    return out


def _positive(self):
    if self.data.dtype == np.bool_:
        raise RuntimeError("positive: the `+` operator, on a bool tensor is not supported, as "
                           "torch's")
    return self


def _narrow_copy(self, dim: int, start: int, length: int):
    """self.narrow(...) as a row-major tensor of its own (torch's narrow_copy, which checks
    start's range before a negative length, where narrow checks the length first)."""
    from dlpy.layouts import contiguous_format
    from dlpy.node_names import named

    if type(length) is int and length < 0 and type(start) is int and self.ndim:
        self.narrow(dim, start, 0)  # (its dim and start errors)
    out = self.narrow(dim, start, length).clone(memory_format=contiguous_format)
    return named(out, "NarrowCopyBackward0") if out.grad_fn is not None else out


def _adjoint(self):
    """The conjugate transpose of the last two axes (the transpose, for real tensors)."""
    out = self.mT
    return out.conj() if self.dtype.kind == "c" and hasattr(out, "conj") else out


for _name, _function in (("polygamma", _polygamma), ("unfold", _unfold), ("msort", _msort),
                         ("split_with_sizes", _split_with_sizes), ("clamp_min", _clamp_min),
                         ("unsafe_split", _unsafe_split), ("unsafe_chunk", _unsafe_chunk),
                         ("unsafe_split_with_sizes", _unsafe_split_with_sizes),
                         ("clamp_max", _clamp_max), ("positive", _positive),
                         ("narrow_copy", _narrow_copy), ("adjoint", _adjoint)):
    _attach(_name, _method(_name, _function, _function.__doc__ or
                           f"torch.Tensor.{_name}."))
if not hasattr(Tensor, "mH"):
    Tensor.mH = property(_adjoint, doc="The conjugate transpose of the last two axes.")


def _matrix_adjoint(self):
    """The conjugate transpose of a matrix; a 0-D tensor's conjugate (as torch, which warns
    that this is deprecated); other shapes are torch's error."""
    if self.ndim == 2:
        return _adjoint(self)
    if self.ndim == 0:
        return self.conj() if self.dtype.kind == "c" else self
    from dlpy.tensor import ShapeError

    raise ShapeError(f"tensor.H is only supported on matrices (2-D tensors), got shape "
                     f"{self.shape}")


if not hasattr(Tensor, "H"):
    Tensor.H = property(_matrix_adjoint, doc=_matrix_adjoint.__doc__)


# ----------------------------------------------------------------- casts
# name -> numpy dtype (bfloat16, ml_dtypes', by _amp_dtype)
CASTS = {"int": np.int32, "long": np.int64, "short": np.int16, "byte": np.uint8,
         "char": np.int8, "bool": np.bool_, "half": np.float16}


def _cast(name: str, dtype):
    def method(self, *, memory_format=None):
        """This tensor as {dtype} (itself when of it already); to a non-float dtype the result
        has no gradient (as torch); ``memory_format`` as ``to``'s."""
        target = _amp_dtype(dtype)
        if self.data.dtype == target:
            out = self
        else:
            source = (self.detach() if self.requires_grad
                      and not is_floating_dtype(np.dtype(target)) else self)
            out = _arith.cast(source, target)
        return out if memory_format is None else out.to(memory_format=memory_format)

    label = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    return _method(name, method, f"This tensor cast to {label} (no gradient unless a float "
                                 "dtype), as torch.Tensor.{name}().")


def _amp_dtype(dtype):
    """dlpy.bfloat16 (ml_dtypes', imported on first use: "bfloat16" stands for it in CASTS)."""
    if isinstance(dtype, str):
        from dlpy.amp.dtypes import bfloat16

        return bfloat16
    return dtype


for _name, _dtype in CASTS.items():
    _attach(_name, _cast(_name, _dtype))
_attach("bfloat16", _cast("bfloat16", "bfloat16"))

# dtype -> torch's legacy type name, for type()
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor",
               "complex64": "ComplexFloatTensor", "complex128": "ComplexDoubleTensor",
               "uint16": "UInt16Tensor", "uint32": "UInt32Tensor", "uint64": "UInt64Tensor",
               "float8_e4m3fn": "Float8_e4m3fnTensor", "float8_e5m2": "Float8_e5m2Tensor",
               "float8_e4m3fnuz": "Float8_e4m3fnuzTensor",
               "float8_e5m2fnuz": "Float8_e5m2fnuzTensor"}


def _type(self, dtype=None):
    """With no dtype, the type's name as torch's ("dlpy.FloatTensor"; "torch.FloatTensor" while
    dlpy.compat stands in for torch, so a program comparing it with torch's name still works);
    with one, the tensor cast to it (a numpy dtype, its name, or a name type() returns)."""
    if dtype is None:
        compat = sys.modules.get("dlpy.compat")
        prefix = "torch" if compat is not None and compat.is_installed() else "dlpy"
        prefix += ".meta" if type(self.data) is _MetaArray else ""  # torch.meta.FloatTensor
        return f"{prefix}.{_TYPE_NAMES.get(self.dtype.name, self.dtype.name)}"
    dtype = getattr(dtype, "dtype_name", dtype)  # a legacy type (torch.DoubleTensor)
    if dtype is int or dtype is float or dtype is bool or dtype is complex:  # torch's takes none
        raise ValueError(f"invalid type: {dtype.__name__!r}")
    if isinstance(dtype, str) and dtype.split(".")[-1] in _TYPE_NAMES.values():
        dtype = next(k for k, v in _TYPE_NAMES.items() if v == dtype.split(".")[-1])
    try:
        dtype = np.dtype(_plain_dtype(dtype, "type"))  # a quantized dtype: torch's RuntimeError
    except TypeError:
        if isinstance(dtype, str):  # torch: a name it does not know is a ValueError
            raise ValueError(f"invalid type: {dtype!r}") from None
        raise
    source = (self.detach() if self.requires_grad and dtype.kind != "c"
              and not is_floating_dtype(dtype) else self)
    return self if dtype == self.dtype else _arith.cast(source, dtype)


_attach("type", _method("type", _type, _type.__doc__))


# ----------------------------------------------------------------- introspection
def _is_floating_point(self) -> bool:
    return is_floating_dtype(self.dtype)


def _is_signed(self) -> bool:
    return self.dtype.kind in "ic" or is_floating_dtype(self.dtype)  # bfloat16 too


def _is_contiguous(self, memory_format=None) -> bool:
    """Whether the memory is row-major (or, given ``memory_format``, in its order; a meta
    tensor's as its ``stride`` says)."""
    if type(self.data) is _MetaArray:  # (its strides: those its tensor reports)
        from dlpy.meta import layout_view

        if memory_format is None:
            return bool(layout_view(self.data).flags.c_contiguous)
    elif memory_format is None:
        return bool(self.data.flags.c_contiguous)
    from dlpy.layouts import is_in_format
    from dlpy.layouts import memory_format as format_type

    if not isinstance(memory_format, format_type):
        raise TypeError(f"is_contiguous: memory_format must be a dlpy.memory_format, got "
                        f"{memory_format!r}")
    if self.data.size == 0 and type(self.data) is not _MetaArray:
        return _empty_in_format(self, memory_format)
    return is_in_format(self.data, memory_format)  # (another rank: False, as torch's)


def _empty_in_format(self, memory_format) -> bool:
    """torch's is_contiguous(memory_format) of an empty tensor: its strides (not numpy's zeros)
    checked from the innermost axis of the format out, size-1 axes skipped, a size-0 axis
    making every stride outside it 0."""
    from dlpy.layouts import _ORDER

    if memory_format not in _ORDER:
        return True  # (contiguous_format / preserve_format: numel 0 is contiguous)
    rank, order = _ORDER[memory_format]
    if self.data.ndim != rank:
        return False
    shape, strides, expected = self.data.shape, self.stride(), 1
    for axis in reversed(order):
        if shape[axis] != 1:
            if strides[axis] != expected:
                return False
            expected *= shape[axis]
    return True


def _stride(self, dim: int | None = None):
    """The steps between elements along each axis, in elements (numpy's strides / itemsize;
    a meta tensor's, whose array is a zero-stride view, torch's row-major ones)."""
    shape = self.data.shape
    if type(self.data) is _MetaArray:
        from dlpy.meta import strides_of

        strides = list(strides_of(self.data))
    else:
        strides = [s // self.data.itemsize for s in self.data.strides]
    if self.data.size == 0:  # an empty view has torch's strides (shape.py's empty_view)
        if not any(strides):  # numpy's zeros of a new empty array: torch's contiguous strides
            step = 1  # (a size-0 axis counting as 1)
            for axis in range(len(shape) - 1, -1, -1):
                strides[axis] = step
                step *= max(shape[axis], 1)
        return tuple(strides) if dim is None else _stride_of(strides, dim, self.data.ndim)
    for axis in range(len(shape) - 1, -1, -1):
        if shape[axis] == 1 and strides[axis] == 0:  # numpy's for x[None] / a new expand axis;
            strides[axis] = (shape[axis + 1] * strides[axis + 1]  # torch's: unsqueeze's rule
                             if axis + 1 < len(shape) else 1)
    strides = tuple(strides)
    if dim is None:
        return strides
    return _stride_of(strides, dim, self.data.ndim)


def _stride_of(strides, dim, ndim: int) -> int:
    try:
        return strides[dim]
    except (IndexError, TypeError):
        from dlpy.tensor import _dim_error

        raise _dim_error("stride", dim, ndim) from None


def _buffer_address(array: np.ndarray) -> int:
    from dlpy.tensor import _buffer

    buffer = _buffer(array)
    if isinstance(buffer, np.ndarray):
        return buffer.__array_interface__["data"][0]
    try:  # a bytearray / memoryview (np.frombuffer's, a loaded checkpoint's storage)
        return np.frombuffer(buffer, np.uint8).__array_interface__["data"][0]
    except (TypeError, ValueError):
        return array.__array_interface__["data"][0]


def _storage_offset(self) -> int:
    """Where this tensor's first element sits in the memory it shares, in elements (a meta
    tensor's: the one its view was given)."""
    if type(self.data) is _MetaArray:
        return self.data.offset_in_elements
    return (self.data.__array_interface__["data"][0] - _buffer_address(self.data)) \
        // self.data.itemsize


def _element_size(self) -> int:
    return self.data.itemsize


def _data_ptr(self) -> int:
    """The address of the first element (0 for a tensor with no elements or on the meta
    device, as torch's)."""
    if not self.data.size or type(self.data) is _MetaArray:
        return 0
    return self.data.__array_interface__["data"][0]


def _is_set_to(self, other) -> bool:
    """Whether both view the same memory with the same size and strides (torch's)."""
    a, b = self.data, other.data
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def _is_same_size(self, other) -> bool:
    return self.shape == np.shape(other.data if isinstance(other, Tensor) else other)


def _is_nonzero(self) -> bool:
    from dlpy.torch_functions import is_nonzero

    return is_nonzero(self)


def _cpu(self, memory_format=None):
    """The tensor itself: dlpy's tensors are on the CPU (a meta tensor: torch's error)."""
    if type(self.data) is _MetaArray:
        from dlpy.meta import refuse_values

        refuse_values(self, "copy")
    return self


def _cuda(self, device=None, non_blocking: bool = False, memory_format=None):
    """Raises RuntimeError: dlpy has no CUDA device (pick ``"cpu"`` when
    ``dlpy.cuda.is_available()`` is False)."""
    from dlpy.cuda import NO_CUDA, NoCudaError

    raise NoCudaError(f"Tensor.cuda: {NO_CUDA}")


def _get_device(self) -> int:
    """-1: the tensor is on the CPU (torch's answer for a CPU tensor)."""
    return -1


def _new_empty(self, *sizes, dtype=None, requires_grad: bool = False, device=None,
               pin_memory: bool = False, layout=None, size=None) -> Tensor:
    """Zeros of this tensor's dtype (torch leaves them uninitialised), on ``device`` or this
    tensor's (the CPU or meta)."""
    self._new_device("new_empty", device, pin_memory, layout)  # (its arguments checked)
    return self.new_zeros(*sizes, dtype=dtype, requires_grad=requires_grad, size=size,
                          device=device)


for _name, _function in (("is_floating_point", _is_floating_point), ("is_signed", _is_signed),
                         ("is_contiguous", _is_contiguous), ("stride", _stride),
                         ("storage_offset", _storage_offset), ("element_size", _element_size),
                         ("untyped_storage", _untyped_storage), ("storage", _typed_storage),
                         ("data_ptr", _data_ptr), ("is_same_size", _is_same_size),
                         ("is_nonzero", _is_nonzero), ("cpu", _cpu), ("cuda", _cuda),
                         ("get_device", _get_device), ("new_empty", _new_empty),
                         ("const_data_ptr", _data_ptr), ("is_set_to", _is_set_to),
                         ("sparse_dim", lambda self: 0),  # a dense tensor's (torch's)
                         ("dense_dim", lambda self: self.data.ndim)):
    _attach(_name, _method(_name, _function, _function.__doc__ or f"torch.Tensor.{_name}()."))

def _fresh_op(tensor):
    """tensor.op, or torch's error where its node cannot be re-made after its base changed in
    place (ops/views.py's ViewOfBase.stale)."""
    op = tensor.op
    stale = getattr(op, "stale", None)
    if stale is not None:
        raise RuntimeError(stale)
    if op is None and tensor._gradless:
        from dlpy.tensor import _STALE_NO_GRAD, _stale_gradless

        if _stale_gradless(tensor):
            raise RuntimeError(_STALE_NO_GRAD)
    return op


for _name, _getter in (("itemsize", lambda self: self.data.itemsize),
                       ("nbytes", lambda self: self.data.nbytes),
                       ("is_cpu", lambda self: type(self.data) is not _MetaArray),
                       ("is_cuda", lambda self: False),
                       ("device", lambda self: _META if type(self.data) is _MetaArray else _CPU),
                       ("grad_fn", lambda self: _multi_output.node_of(_fresh_op(self))[0])):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, property(_getter))
# torch's layout and device flags a dense CPU tensor answers False (nested tensors are
# dlpy.nested's class, which says True); one whose storage is a MetaArray is on the meta device
if not hasattr(Tensor, "is_meta"):
    Tensor.is_meta = property(lambda self: type(self.data) is _MetaArray)
if not hasattr(Tensor, "is_distributed"):  # a method in torch, the other flags properties
    Tensor.is_distributed = lambda self: False
for _name in ("is_nested", "is_quantized", "is_mkldnn", "is_xpu",
              "is_xla", "is_mps", "is_ipu", "is_maia", "is_mtia", "is_vulkan"):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, property(lambda self: False))


# ----------------------------------------------------------------- retain_grad
def _retain_grad(self) -> None:
    """Keep this non-leaf tensor's gradient in ``.grad`` at the next backward (summed over
    calls, as torch's); a leaf keeps its own anyway. Done by a gradient hook: non-leaf tensors
    that did not ask get no ``.grad``, as in torch."""
    if not self.requires_grad:  # (a leaf too, as torch)
        raise RuntimeError("retain_grad: can't retain_grad on a tensor that has "
                           "requires_grad=False")
    if self.op is None:
        return
    if self.retains_grad:
        return
    tensor = weakref.ref(self)  # the hook lives on the tensor: no cycle through it

    def keep(grad):
        owner = tensor()
        if owner is None:
            return
        if isinstance(grad, Tensor) and grad.requires_grad:  # create_graph: kept with its graph
            owner._grad = grad if owner._grad is None else owner._grad + grad
            return
        array = np.asarray(grad.data if isinstance(grad, Tensor) else (
            grad.dense() if hasattr(grad, "dense") else grad))
        if owner._grad is not None:
            array = np.asarray(owner._grad.data) + array
        owner._grad = _grad_tensor(np.array(array))

    keep.retains_grad = True
    self.register_hook(keep)


def _retains_grad(self) -> bool:
    """Whether retain_grad() was called on this non-leaf tensor."""
    return self.op is not None and any(getattr(hook, "retains_grad", False)
                                       for hook in (self._hooks or {}).values())


_attach("retain_grad", _method("retain_grad", _retain_grad, _retain_grad.__doc__))
if not hasattr(Tensor, "retains_grad"):
    Tensor.retains_grad = property(_retains_grad, doc=_retains_grad.__doc__)


# ----------------------------------------------------------------- in place: the twins
# out-of-place method -> its in-place twin ``name_``, generated: self <- self.name(...).
IN_PLACE = """
    abs absolute acos acosh addbmm addcdiv addcmul addmm addmv addr arccos arccosh arcsin
    arcsinh arctan arctan2 arctanh asin asinh atan atan2 atanh baddbmm bitwise_and
    bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor ceil clamp_max
    clamp_min clip conj_physical copysign cos cosh cumprod cumsum deg2rad diagonal_scatter
    digamma divide erf
    erfc erfinv exp2 expm1 fix float_power floor floor_divide fmod frac gcd heaviside hypot i0
    igamma igammac index_add index_copy index_fill index_put index_reduce lcm ldexp lerp
    lgamma log10 log1p log2 logit masked_scatter multiply mvlgamma nan_to_num negative rad2deg
    nextafter polygamma put reciprocal remainder renorm round rsqrt scatter scatter_add
    scatter_reduce sgn sign sin sinc sinh square subtract tan tril triu true_divide trunc
    xlogy
""".split()
# comparisons and logical ops: a bool result stored as self's dtype (1 or 0, as torch)
IN_PLACE_CAST = """
    eq ne gt ge lt le greater greater_equal less less_equal not_equal logical_and logical_not
    logical_or logical_xor
""".split()
# in-place ops that change the shape: self takes the new shape
IN_PLACE_RESHAPE = "unsqueeze squeeze t transpose swapdims swapaxes as_strided".split()


# in-place twins torch has no derivative for: its node <op>Backward1 raises in backward
_NO_DERIVATIVE = {"acosh": "acosh", "arccosh": "acosh", "asinh": "asinh", "arcsinh": "asinh",
                  "atanh": "atanh", "arctanh": "atanh"}


def _no_in_place_derivative(out, op: str):
    """``out`` behind a node named as torch's for ``op``_ whose backward raises, as torch's."""
    from dlpy.node_names import rename
    from dlpy.tensor import Op

    class NoDerivative(Op):
        saves = ()
        complex_ok = True  # (atanh_ of a complex tensor: its values, then torch's refusal)

        def forward(self, x):
            return x.copy()

        def backward(self, grad_output):
            raise NotImplementedError(f"the derivative for 'inplace version of {op}' is not "
                                      "implemented.")

        def backward_graph(self, grad_output, output):
            return self.backward(grad_output)

    node = NoDerivative()
    rename(node, f"{op.capitalize()}Backward1")
    return node(out)


_SCANS = ("cumsum", "cumprod")  # torch: not implemented in place for bool


# torch's nodes of the in-place shape ops (squeeze_ by its overload: none, a dim, dims)
_SHAPE_NODES = {"unsqueeze": "UnsqueezeBackward1", "t": "TBackward1",
                "swapdims": "TransposeBackward1", "swapaxes": "TransposeBackward1",
                "as_strided": "AsStridedBackward1"}


def _shape_twin(name: str, base: str):
    """squeeze_, t_, transpose_...: new sizes and strides over the same memory (views of the
    tensor keep sharing it), recorded as torch's in-place view nodes."""
    from dlpy.node_names import rename

    def compute(x, *args, **kwargs):
        out = getattr(x, base)(*args, **kwargs)
        if out.op is not None:
            node = _SHAPE_NODES.get(base)
            if node is None:  # squeeze
                dims = args[0] if args else kwargs.get("dim")
                node = ("SqueezeBackward3" if dims is None else "SqueezeBackward5"
                        if isinstance(dims, (tuple, list)) else "SqueezeBackward4")
            rename(out.op, node)
        return out

    return _method(name, lambda self, *args, **kwargs: self._in_place(
        name, lambda x, *a: compute(x, *a, **kwargs), *args, reshape=True),
        f"self.{base}(...) in place: new sizes and strides over the same memory; returns self "
        f"(as torch's Tensor.{name}).")


def _put_written(self, indices=None, values=None, accumulate=False):
    """index_put_'s written elements, for a write into an expanded tensor (``_in_place``), and
    whether it accumulates."""
    if indices is None or not isinstance(indices, (tuple, list)):
        return None  # (index_put's own error)

    def written():
        items = tuple(np.asarray(i.data if isinstance(i, Tensor) else i) for i in indices)
        mask = np.zeros(self.shape, dtype=bool)
        mask[tuple(i.astype(bool) if i.dtype == np.uint8 else i for i in items)] = True
        return mask

    written.accumulate = accumulate is True
    return written


def _in_place_form(module: str, function: str):
    def form():
        import importlib

        return getattr(importlib.import_module(module), function)
    return form


# torch's node names of the in-place comparisons (GeBackward0: a number other; 1: a tensor)
_COMPARISON_NODES = {"eq": "Eq", "ne": "Ne", "not_equal": "Ne", "gt": "Gt", "greater": "Gt",
                     "ge": "Ge", "greater_equal": "Ge", "lt": "Lt", "less": "Lt", "le": "Le",
                     "less_equal": "Le"}


def _compared(base: str):
    """x.ge_(other) and co.: the comparison, recorded with a zero gradient for x and a tensor
    other where either requires grad and x is a float tensor (torch's in-place comparisons are
    differentiable, as its out-of-place ones are not: x stays in the graph)."""
    def compare(x, other, **kwargs):
        out = getattr(x, base)(other, **kwargs)
        inputs = [t for t in (x, other) if isinstance(t, Tensor)]
        if not (_is_grad_enabled() and is_floating_dtype(x.dtype)
                and any(t.requires_grad for t in inputs)):
            return out
        from dlpy.node_names import rename
        from dlpy.ops.pointwise import Compared

        result = Compared(out.data.astype(x.dtype))(*inputs)
        rename(result.op, f"{_COMPARISON_NODES[base]}Backward{int(isinstance(other, Tensor))}")
        return result

    return lambda: compare


# the functions computing an in-place twin where the out-of-place one refuses a complex
# gradient (imported when first called: the ops import this module's Tensor), or has none
_IN_PLACE_FORMS = {"nan_to_num": _in_place_form("dlpy.ops.pointwise", "replace_non_finite"),
                   "scatter_reduce": _in_place_form("dlpy.ops.indexing", "reduced_into"),
                   "index_reduce": _in_place_form("dlpy.ops.indexing", "index_reduced"),
                   **{base: _compared(base) for base in _COMPARISON_NODES}}


def _twin(base: str, cast: str = "same_kind", reshape: bool = False):
    name = base + "_"
    if base == "transpose":  # torch's transpose_(dim0, dim1) swaps two axes (dlpy's
        base = "swapdims"  # Tensor.transpose(*axes) is numpy's permutation)
    refused = _NO_DERIVATIVE.get(base)
    if reshape:
        return _shape_twin(name, base)

    def compute(x, *args, **kwargs):
        out = getattr(x, base)(*args, **kwargs)
        return out if out.op is None else _no_in_place_derivative(out, refused)

    def method(self, *args, **kwargs):
        dtype = kwargs.get("dtype")  # (not `in (None, ...)`: a float64 dtype equals None)
        if dtype is not None and dtype != self.dtype:  # cumsum_(dim, dtype=...), as torch
            raise ArgDtypeError(f"{name}: dtype {kwargs['dtype']} does not match the tensor's "
                                f"{self.dtype}")
        try:
            if refused is not None:
                return self._in_place(name, lambda x, *a: compute(x, *a, **kwargs), *args,
                                      cast=cast, reshape=reshape)
            written = _put_written(self, *args, **kwargs) if base == "index_put" else None
            # (nan_to_num_, scatter_reduce_, index_reduce_: torch's in-place forms have the
            # complex derivative their out-of-place forms refuse)
            form = _IN_PLACE_FORMS.get(base)
            return self._in_place(name, lambda x, *a: (
                form()(x, *a, **kwargs) if form is not None
                else getattr(x, base)(*a, **kwargs)), *args, cast=cast, reshape=reshape,
                written=written)
        except InPlaceCastError as error:
            if base not in _SCANS or self.dtype != np.bool_:
                raise
            # torch has no kernel for these scans into bool: its NotImplementedError
            raise NoKernelError(str(error)) from None

    return _method(name, method, f"self.{base}(...) in place; returns self (as torch's "
                                 f"Tensor.{name}).")


for _base in IN_PLACE:
    _attach(_base + "_", _twin(_base, cast="equiv" if _base == "float_power" else "same_kind"))
for _base in IN_PLACE_CAST:
    _attach(_base + "_", _twin(_base, cast="unsafe"))
for _base in IN_PLACE_RESHAPE:
    _attach(_base + "_", _twin(_base, reshape=True))


def _augmented(symbol: str, base: str):
    """``x &= y`` and the like: in place (bitwise_and_), as torch's, not ``x = x & y``; a
    result self's dtype can not hold (bool &= int) is refused."""
    return _method(f"__i{base}__", lambda self, other: self._in_place(
        symbol, getattr(Tensor, f"__{base}__"), other, view_ok=True), f"self {symbol} other.")


for _symbol, _base in (("&=", "and"), ("|=", "or"), ("^=", "xor"), ("<<=", "lshift"),
                       (">>=", "rshift")):
    _attach(f"__i{_base}__", _augmented(_symbol, _base))


def _polygamma_(self, n: int) -> Tensor:
    return self._in_place("polygamma_", lambda x: x.polygamma(n))


Tensor.polygamma_ = _method("polygamma_", _polygamma_, "self.polygamma(n) in place.")


def _reversed(self) -> Tensor:
    """reversed(x): x flipped along its first axis (a tensor with no axes: itself), as torch's."""
    return self if self.data.ndim == 0 else self.flip(0)


Tensor.__reversed__ = _method("__reversed__", _reversed, _reversed.__doc__)


def _detach_(self) -> Tensor:
    """Cut this tensor from the graph in place: it becomes a leaf that needs no gradient. A
    view cannot be (its base would still record it), as torch's."""
    if self._is_view():
        raise RuntimeError("detach_: can't detach views in-place; use detach() instead")
    from dlpy.tensor import _detach_in_place

    _detach_in_place(self)
    return self


def _fill_diagonal_(self, fill_value, wrap: bool = False) -> Tensor:
    """The main diagonal set to fill_value, in place (all axes of one length for 3+ axes;
    ``wrap``: a tall matrix's diagonal restarts every columns + 1 rows), as torch's."""
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise ArgError(f"fill_diagonal_: expected a matrix, or all axes of one length, got "
                       f"shape {self.shape}")
    mask = np.zeros(self.shape, dtype=bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    return self._in_place("fill_diagonal_", Tensor.masked_fill, mask, fill_value)


def _resize_(self, *sizes, size=None, memory_format=None) -> Tensor:
    """A new shape in place (no gradient), as torch's: contiguous over the memory from this
    tensor's first element (shrinking keeps that memory, and views keep sharing it; growing
    past its end moves to new memory holding the old values, zeros after them where torch
    leaves them uninitialised). The same shape changes nothing. The shape as ints, one tuple
    or torch's keyword ``size``; ``memory_format`` accepted (the result is row-major)."""
    if size is not None:
        if sizes:
            raise TypeError("resize_() got multiple values for argument 'size'")
        sizes = (size,)
    if self.requires_grad:
        raise RuntimeError("resize_: cannot resize a tensor that requires grad")
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
        else tuple(sizes)
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ArgError(f"resize_: sizes must be non-negative ints, got {shape}")
    shape = tuple(int(n) for n in shape)
    if shape == self.shape:
        return self
    if type(self.data) is _MetaArray:  # a meta tensor: a meta array of the new shape
        from dlpy.device import meta_array

        self.data = meta_array(shape, self.dtype)
        return self
    array, count = self.data, int(np.prod(shape))
    version = self._version
    storage = _storage_after(array)  # this tensor's first element to its memory's end
    if storage is not None and storage.size >= count:
        self.data = storage[:count].reshape(shape)
    else:
        flat = np.zeros(count, dtype=self.dtype)
        kept = storage[:count] if storage is not None else array.reshape(-1)[:count]
        flat[:kept.size] = kept
        self.data = flat.reshape(shape)
    _bump(self.data, version)
    return self


def _storage_after(array: np.ndarray) -> np.ndarray | None:
    """The elements of ``array``'s memory from its first element to the memory's end, as a
    1-D view (None when that memory is not one plain C-contiguous array)."""
    buffer = _buffer(array)
    if not isinstance(buffer, np.ndarray) or not buffer.flags.c_contiguous or array.size == 0:
        return None
    start = array.__array_interface__["data"][0] - buffer.__array_interface__["data"][0]
    if start < 0 or start % array.itemsize:
        return None
    raw = buffer.reshape(-1).view(np.uint8)[start:]
    raw = raw[:raw.size - raw.size % array.itemsize]
    return raw.view(array.dtype)


def _resize_as_(self, the_template, *, memory_format=None) -> Tensor:
    """resize_ to ``the_template``'s shape (torch's name for it)."""
    return self.resize_(np.shape(the_template.data if isinstance(the_template, Tensor)
                                 else the_template))


def _set_(self, source=None, storage_offset: int = 0, size=None, stride=None) -> Tensor:
    """This tensor made to share ``source``'s memory (its shape and values, writes seen both
    ways), or to hold no elements when ``source`` is None, as torch's (no gradient). A storage
    ``source`` (``x.untyped_storage()``) is read as this tensor's dtype: the whole of it, or
    ``size`` / ``stride`` elements from element ``storage_offset``."""
    if self.requires_grad and _is_grad_enabled():
        raise RuntimeError("set_: a tensor that requires grad can be given new memory only "
                           "under no_grad(), as in PyTorch")
    if source is None:
        self.data = np.zeros(0, dtype=self.dtype)
    elif isinstance(source, (UntypedStorage, TypedStorage)):
        if isinstance(source, TypedStorage) and source.dtype != self.dtype:
            raise RuntimeError(f"set_: expected a storage of dtype {self.dtype}, got "
                               f"{source.dtype}")
        self.data = _view_storage(source, self.dtype, int(storage_offset), size, stride)
    elif not isinstance(source, Tensor):
        raise TypeError(f"set_: expected a Tensor, got {type(source).__name__}")
    elif source.dtype != self.dtype:
        raise ArgDtypeError(f"set_: expected a source of dtype {self.dtype}, got "
                            f"{source.dtype}")
    else:
        self.data = source.data
    return self


def _apply_(self, callable) -> Tensor:  # noqa: A002 - PyTorch's name
    """Each value replaced by callable(value), a Python function, in place (no gradient)."""
    if self.requires_grad:
        raise RuntimeError("apply_: not differentiable: use it on tensors that do not require "
                           "gradients")
    values = np.vectorize(callable, otypes=[self.dtype])(self.data) if self.data.size else \
        self.data

    def write(array):
        array[...] = values

    return self._in_place("apply_", None, write=write)


def _map_(self, tensor, callable) -> Tensor:  # noqa: A002 - PyTorch's name
    """Each value replaced by callable(value, other's value) (other broadcast), in place."""
    if self.requires_grad:
        raise RuntimeError("map_: not differentiable: use it on tensors that do not require "
                           "gradients")
    if isinstance(tensor, Tensor) and tensor.dtype != self.dtype:
        raise TypeError(f"map_: expected a tensor of dtype {self.dtype} for 'other', got "
                        f"{tensor.dtype}")
    try:
        other = np.broadcast_to(tensor.data if isinstance(tensor, Tensor) else tensor,
                                self.shape)
    except ValueError as error:  # torch's RuntimeError
        raise ShapeError(str(error)) from None
    values = np.vectorize(callable, otypes=[self.dtype])(self.data, other) if self.data.size \
        else self.data

    def write(array):
        array[...] = values

    return self._in_place("map_", None, write=write)


def _map2_(self, x, y, callable) -> Tensor:  # noqa: A002 - PyTorch's name
    """Each value replaced by callable(value, x's value, y's value), Python numbers (x and y
    broadcast to this tensor's shape, of its dtype), in place; torch's legacy map2_. The
    results are cast to the dtype (an int tensor truncates)."""
    if any(isinstance(t, Tensor) and t.requires_grad for t in (self, x, y)):
        raise RuntimeError("Can't call map2_() on Variable that requires grad. Use "
                           "var.detach().map2_() instead.")
    for label, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"map2_(): argument '{label}' must be Tensor, not "
                            f"{type(t).__name__}")
        if t.dtype != self.dtype:
            raise TypeError(f"map2_: expected a tensor of dtype {self.dtype} for argument "
                            f"'{label}' (got {t.dtype})")
    try:
        xs, ys = (np.broadcast_to(t.data, self.shape) for t in (x, y))
    except ValueError as error:  # torch's RuntimeError (x, y expand to self's shape)
        raise ShapeError(f"map2_: {error}") from None
    kind = {"b": bool, "f": float, "c": complex}.get(self.dtype.kind, int)

    def cast(value):
        if not isinstance(value, (int, float, complex, np.number)) or (
                kind is not complex and isinstance(value, (complex, np.complexfloating))):
            raise TypeError(f"must be real number, not {type(value).__name__}")
        return kind(value)

    values = np.array([cast(callable(a, b, c)) for a, b, c in zip(
        self.data.reshape(-1).tolist(), xs.reshape(-1).tolist(), ys.reshape(-1).tolist())],
        dtype=self.dtype).reshape(self.shape)

    def write(array):
        array[...] = values

    return self._in_place("map2_", None, write=write)


for _name, _function in (("detach_", _detach_), ("fill_diagonal_", _fill_diagonal_),
                         ("resize_", _resize_), ("resize_as_", _resize_as_), ("set_", _set_),
                         ("apply_", _apply_), ("map_", _map_), ("map2_", _map2_)):
    _attach(_name, _method(_name, _function, _function.__doc__ or f"torch.Tensor.{_name}."))


# ----------------------------------------------------------------- random fills in place
def _rng(generator):
    from dlpy.random import get_rng

    return get_rng(generator)


def _filled_first(x: Tensor, value: Tensor, *others) -> Tensor:
    return _filled(x, value)


def _meta_tensor(value) -> bool:
    return isinstance(value, Tensor) and type(value.data) is _MetaArray


def _random_fill(name: str, draw):
    """A method filling self with draw(rng, shape, dtype, *args), in place (PyTorch's random_
    family); ``generator`` a numpy Generator (default: dlpy's)."""

    def method(self, *args, generator=None, **kwargs):
        self._check_in_place(name)  # before drawing
        self._check_distinct(name)
        if type(self.data) is _MetaArray:
            # torch draws nothing on meta: the arguments checked by a scratch generator's draw
            # of one value (of the shape where a tensor p, bernoulli_'s, is given: a meta one
            # read as 1/2s), the tensors given operands of the change (their devices checked)
            tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
            args = tuple(np.full(a.shape, 0.5) if _meta_tensor(a) else a for a in args)
            kwargs = {k: np.full(a.shape, 0.5) if _meta_tensor(a) else a
                      for k, a in kwargs.items()}
            values = np.asarray(draw(np.random.default_rng(0), self.shape if tensors else (),
                                     self.dtype, *args, **kwargs))
            return self._in_place(name, _filled_first, Tensor(values.astype(self.dtype)),
                                  *tensors, cast="unsafe")
        perm = _memory_order(self.data)
        if perm is None:
            values = np.asarray(draw(_rng(generator), self.shape, self.dtype, *args, **kwargs))
        else:  # drawn in memory order (torch's kernels walk the memory), put back in place
            shape = tuple(self.shape[i] for i in perm)
            args = tuple(_permuted(a, self.shape, perm) for a in args)
            kwargs = {k: _permuted(a, self.shape, perm) for k, a in kwargs.items()}
            values = np.asarray(draw(_rng(generator), shape, self.dtype, *args, **kwargs))
            values = values.transpose(np.argsort(perm))
        return self._in_place(name, _filled, Tensor(values.astype(self.dtype)), cast="unsafe")

    return _method(name, method, f"Values drawn in place, as torch.Tensor.{name}.")


def _memory_order(array) -> list[int] | None:
    """The axes of ``array`` from the largest stride to the smallest (torch's TensorIterator
    order of a non-contiguous tensor), or None where that is their own order."""
    if type(array) is not np.ndarray or array.ndim < 2 or array.flags.c_contiguous:
        return None
    axes = [i for i in range(array.ndim) if array.shape[i] != 1]
    ordered = sorted(axes, key=lambda i: -abs(array.strides[i]))  # (stable: ties in order)
    if ordered == axes:
        return None
    moved = iter(ordered)
    return [i if array.shape[i] == 1 else next(moved) for i in range(array.ndim)]


def _permuted(value, shape, perm):
    """A draw's tensor argument (bernoulli_'s p) broadcast to the tensor's shape, its axes in
    ``perm``'s order."""
    if isinstance(value, Tensor):
        return Tensor(np.broadcast_to(value.data, shape).transpose(perm))
    if isinstance(value, np.ndarray) and value.ndim:
        return np.broadcast_to(value, shape).transpose(perm)
    return value


def _probability(name: str, p):
    p = np.asarray(p.data if isinstance(p, Tensor) else p)
    if not ((p >= 0) & (p <= 1)).all():  # NaN too
        raise ArgError(f"{name}: p must be in [0, 1], got {p!r}")
    return p


def _continuous(name: str, dtype: np.dtype, error=ArgDtypeError) -> None:
    """torch draws continuous distributions into real floating-point tensors only (its
    RuntimeError, or NotImplementedError where it has no kernel: ``error``; normal_ and
    uniform_ take complex ones, these do not)."""
    if dtype.kind not in "fV":
        raise error(f"{name}: a continuous distribution needs a floating-point tensor, got "
                    f"{dtype}")


# random_()'s upper bound (inclusive) for floats: the integers the mantissa holds exactly
_FLOAT_TOP = {2: 2 ** 11, 4: 2 ** 24, 8: 2 ** 53}


def _bernoulli(rng, shape, dtype, p=0.5):
    if dtype.kind == "c":
        raise NoKernelError(f"bernoulli_: not implemented for {dtype}, as torch's")
    if np.ndim(getattr(p, "data", p)):  # a tensor p: torch checks each value as it draws,
        # those before the first invalid one drawn (the generator advanced)
        probs = np.asarray(getattr(p, "data", p))
        try:
            fits = np.broadcast_shapes(probs.shape, shape) == tuple(shape)
        except ValueError:  # (refused below, torch's RuntimeError)
            fits = False
        if fits:
            probs = np.broadcast_to(probs, shape)
            count = random_streams.draws_before((probs >= 0) & (probs <= 1))
            if count < probs.size and random_streams.is_torch(rng):
                random_streams.bernoulli(rng, (count,), probs.reshape(-1)[:count])
    p = _probability("bernoulli_", p)
    try:
        if np.ndim(p) and np.broadcast_shapes(np.shape(p), shape) != tuple(shape):
            raise ValueError(f"bernoulli_: p of shape {np.shape(p)} does not expand to the "
                             f"tensor's {tuple(shape)}")
        return random_streams.bernoulli(rng, tuple(shape), p)
    except ValueError as error:  # a p that does not broadcast: torch's RuntimeError
        raise ShapeError(str(error)) from None


_UNTIL_TOP = object()  # random_(from)'s missing `to` (random_(from, None) is another call)


def _random(rng, shape, dtype, low=None, high=_UNTIL_TOP, *, to=None):
    """random_(to) or random_(from, to): ints in [from, to); random_() 0 .. the dtype's largest
    integer (for floats the mantissa's range, 2^24 for float32, as torch's), inclusive;
    random_(from, None): from .. that largest integer, inclusive."""
    from_to_top = high is None and low is not None  # torch's random_(from, to=None)
    high = None if high is _UNTIL_TOP else high
    if dtype.kind == "c":
        raise NoKernelError(f"random_: not implemented for {dtype}, as torch's")
    bounds = []
    for bound in (low, to if to is not None else high):
        if bound is not None and (isinstance(bound, bool)
                                  or not isinstance(bound, (int, np.integer))):
            if int_of(bound) is None:  # a 0-d int tensor is taken, as torch's
                raise TypeError(f"random_: from and to must be ints, got {bound!r}")
            bound = int_of(bound)
        if bound is not None and not -2 ** 63 <= bound < 2 ** 63:  # torch's int64 arguments
            raise ArgError(f"random_: {bound} does not fit an int64")
        bounds.append(bound)
    low, high = bounds
    if from_to_top:
        high = _FLOAT_TOP[dtype.itemsize] if dtype.kind == "f" else 2 ** 8 \
            if dtype.kind == "V" else 1 if dtype.kind == "b" else int(np.iinfo(dtype).max)
        # (inclusive)
        if dtype.kind in "biu" and not (0 if dtype.kind == "b" else int(np.iinfo(dtype).min)) \
                <= low <= high:  # torch's check_from_to_in_range
            raise ArgError(f"random_: from is out of bounds for {dtype}")
        if not low <= high:
            raise ArgError(f"random_: expected from <= to, got from={low} > to={high}")
        return random_streams.integers(rng, tuple(shape), low, high + 1, dtype)
    if high is None and low is not None:
        low, high = 0, low
    elif low is None:  # random_(to=...)
        low = 0
    if high is not None and not low < high:
        raise ArgError(f"random_: expected from < to, got from={low} >= to={high}")
    if high is None:
        if dtype.kind == "b":
            top = 1
        elif dtype.kind in "iu":
            top = int(np.iinfo(dtype).max)
        else:  # bfloat16 (kind V, 2 bytes): 8 bits of mantissa
            top = _FLOAT_TOP[dtype.itemsize] if dtype.kind == "f" else 2 ** 8
        if random_streams.is_torch(rng):
            return random_streams.random_full(rng, tuple(shape), dtype)
        return rng.integers(0, top, shape, endpoint=True, dtype=np.uint64 if top >= 2 ** 63
                            else np.int64)
    low, high = _check_int_bounds("random_", low, high, dtype)
    return random_streams.integers(rng, tuple(shape), low, high, dtype)


def _exponential(rng, shape, dtype, lambd=1.0):
    _continuous("exponential_", dtype)
    if not lambd > 0:
        raise ArgError(f"exponential_: lambd must be positive, got {lambd}")
    return random_streams.exponential(rng, tuple(shape), lambd)


def _geometric(rng, shape, dtype, p):
    if dtype.kind in "bc":
        raise NoKernelError(f"geometric_: not implemented for {dtype} tensors, as torch's")
    if not 0 < p < 1:  # torch refuses p = 1 too
        raise ArgError(f"geometric_: p must be in (0, 1), got {p}")
    return random_streams.geometric(rng, tuple(shape), p)


def _cauchy(rng, shape, dtype, median=0.0, sigma=1.0):
    _continuous("cauchy_", dtype)
    if not sigma > 0:
        raise ArgError(f"cauchy_: sigma must be positive, got {sigma}")
    return random_streams.cauchy(rng, tuple(shape), median, sigma)


def _log_normal(rng, shape, dtype, mean=1.0, std=2.0):
    _continuous("log_normal_", dtype, NoKernelError)
    if not std > 0:
        raise ArgError(f"log_normal_: std must be positive, got {std}")
    return random_streams.log_normal(rng, tuple(shape), mean, std)


for _name, _draw in (("bernoulli_", _bernoulli), ("random_", _random),
                     ("exponential_", _exponential), ("geometric_", _geometric),
                     ("cauchy_", _cauchy), ("log_normal_", _log_normal)):
    _attach(_name, _random_fill(_name, _draw))


def _bernoulli_method(self, p=None, *, generator=None) -> Tensor:
    """Draws of 1 with probability self (or the number p), else 0 (no gradient)."""
    from dlpy.torch_functions import bernoulli

    return bernoulli(self, p, generator=generator)


def _multinomial(self, num_samples: int, replacement: bool = False, *, generator=None):
    from dlpy.torch_functions import multinomial

    return multinomial(self, num_samples, replacement, generator=generator)


for _alias, _target in ALIASES.items():  # last: some targets are attached above
    _attach(_alias, getattr(Tensor, _target))

_attach("bernoulli", _method("bernoulli", _bernoulli_method, _bernoulli_method.__doc__))
_attach("multinomial", _method("multinomial", _multinomial,
                               "torch.multinomial(self, ...): category indices."))
del _name


# ----------------------------------------------------------------- sparse layouts
# (dlpy/sparse_tensor.py, imported on first use): a dense tensor is strided
def _to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """torch's to_sparse(sparse_dim) / to_sparse(layout=..., blocksize=..., dense_dim=...): a
    COO (CSR, CSC, BSR, BSC) tensor of the nonzero entries; gradients flow back to this
    tensor at them."""
    from dlpy.sparse_tensor import tensor_to_sparse

    return tensor_to_sparse(self, sparse_dim, layout=layout, blocksize=blocksize,
                            dense_dim=dense_dim)


def _to_sparse_csc(self, dense_dim=None):
    """torch's to_sparse_csc(dense_dim=None): the nonzero entries of a (batch of) matrix in
    CSC, the last dense_dim dims dense."""
    from dlpy.sparse_tensor import to_sparse_csc

    return to_sparse_csc(self, dense_dim)


def _to_sparse_bsr(self, blocksize, dense_dim=None):
    """torch's to_sparse_bsr(blocksize, dense_dim=None): the nonzero (R, C) blocks of a
    (batch of) matrix, row by row."""
    from dlpy.sparse_tensor import sparse_bsr, to_sparse_blocked

    return to_sparse_blocked(self, sparse_bsr, blocksize, dense_dim)


def _to_sparse_bsc(self, blocksize, dense_dim=None):
    """torch's to_sparse_bsc(blocksize, dense_dim=None): the nonzero (R, C) blocks, column
    by column."""
    from dlpy.sparse_tensor import sparse_bsc, to_sparse_blocked

    return to_sparse_blocked(self, sparse_bsc, blocksize, dense_dim)


def _to_sparse_csr(self, dense_dim=None):
    """torch's to_sparse_csr(dense_dim=None): the nonzero entries of a (batch of) matrix in
    CSR, the last dense_dim dims dense."""
    from dlpy.sparse_tensor import to_sparse_csr

    return to_sparse_csr(self, dense_dim)


def _strided():
    from dlpy.sparse_tensor import strided

    return strided


def _sparse_mask(self, mask):
    """torch's sparse_mask(mask): this tensor's entries at the sparse mask's indices."""
    from dlpy.sparse_tensor import sparse_mask

    return sparse_mask(self, mask)


_attach("to_sparse", _to_sparse)
_attach("sparse_mask", _sparse_mask)
_attach("to_sparse_coo", _method("to_sparse_coo", lambda self: _to_sparse(self),
                                 "torch's to_sparse_coo(): to_sparse()."))
_attach("to_sparse_csr", _to_sparse_csr)
_attach("to_sparse_csc", _to_sparse_csc)
_attach("to_sparse_bsr", _to_sparse_bsr)
_attach("to_sparse_bsc", _to_sparse_bsc)
_attach("to_dense", _method("to_dense", lambda self, dtype=None, *, masked_grad=None:
                            self if dtype is None else self.astype(dtype),
                            "A dense tensor is its own dense form (``masked_grad``, torch's "
                            "choice of a sparse input's gradient layout, changes nothing)."))


def _hash_tensor(self, dim=None, *, keepdim: bool = False, mode: int = 0):
    from dlpy.torch_functions import hash_tensor

    return hash_tensor(self, dim, keepdim=keepdim, mode=mode)


_attach("hash_tensor", _method("hash_tensor", _hash_tensor,
                               "torch.hash_tensor(self, dim, keepdim=, mode=), as "
                               "torch.Tensor.hash_tensor."))


def _dense_refusal(name: str, error: type[Exception], message: str):
    def refuse(self, *args, **kwargs):
        raise error(f"{name}: {message}")

    return _method(name, refuse, f"torch's {name} of a dense tensor: refused, as torch's "
                                 f"({message}).")


class _NoDenseKernelError(NoKernelError, RuntimeError):
    """An op torch has no dense (CPU) kernel for: dlpy's NoKernelError (NotImplementedError)
    and torch's RuntimeError."""


# sparse and nested ops called on a dense tensor (their own kinds have them)
for _name, _error, _message in (
        ("smm", RuntimeError, "tensor.sspaddmm(...) can only be called on sparse tensors"),
        ("sspaddmm", RuntimeError, "self.is_sparse() INTERNAL ASSERT FAILED: not a sparse "
                                   "tensor"),
        ("resize_as_sparse_", RuntimeError, "self.is_sparse() INTERNAL ASSERT FAILED: not a "
                                            "sparse tensor"),
        ("sparse_resize_", _NoDenseKernelError, "Could not run 'aten::sparse_resize_' with "
                                                "arguments from the 'CPU' backend"),
        ("sparse_resize_and_clear_", _NoDenseKernelError, "Could not run "
         "'aten::sparse_resize_and_clear_' with arguments from the 'CPU' backend"),
        ("to_padded_tensor", _NoDenseKernelError, "Could not run 'aten::to_padded_tensor' "
                                                  "with arguments from the 'CPU' backend")):
    _attach(_name, _dense_refusal(_name, _error, _message))
_attach("is_sparse", property(lambda self: False, doc="False: a dense (strided) tensor."))
_attach("is_sparse_csr", property(lambda self: False, doc="False: a dense (strided) tensor."))
_attach("layout", property(lambda self: _strided(), doc="dlpy.strided, as torch's."))

# torch's remaining Tensor machinery (as_strided, nonzero_static, new, share_memory_, DLPack,
# the conj/neg/inference flags): dlpy/torch_misc.py
from dlpy import torch_misc as _torch_misc  # noqa: E402

for _name, _function in _torch_misc.TENSOR_METHODS.items():
    _attach(_name, _function)
# Tensor.storage_type, the legacy resize / resize_as, as_strided_scatter (dlpy/legacy_misc.py)
from dlpy import legacy_misc as _legacy_misc  # noqa: E402

for _name, _function in _legacy_misc.TENSOR_METHODS.items():
    _attach(_name, _function)
_attach("dequantize", _method("dequantize", lambda self: self.float(),
                              "torch's dequantize() of a plain tensor: it as float32."))


def _quantized_only(name: str):
    def refuse(self, *args, **kwargs):
        raise _NoDenseKernelError(f"{name}: not implemented for a plain (not quantized) tensor; "
                            f"quantize_per_tensor / quantize_per_channel make quantized ones")

    return _method(name, refuse, f"torch's {name}() of a plain tensor: refused (torch has no "
                                 f"CPU kernel; quantized tensors only).")


for _name in ("int_repr", "q_scale", "q_zero_point", "q_per_channel_scales",
              "q_per_channel_zero_points", "q_per_channel_axis", "qscheme"):
    _attach(_name, _quantized_only(_name))
