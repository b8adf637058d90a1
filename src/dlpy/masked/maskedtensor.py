"""MaskedTensor: a Tensor of data and a boolean mask of the same shape (True: the element is
kept), as torch.masked.MaskedTensor. Element-wise ops act on the data and keep the mask
(binary ops need equal masks); reductions skip masked-out elements (dlpy/masked/_ops.py)."""

from __future__ import annotations

import operator

import numpy as np

from dlpy import functional as F
from dlpy.device import OnCPU
from dlpy.masked import _ops
from dlpy.ops import ArgError
from dlpy.tensor import SparseOperandError, Tensor, _comparable, ambiguous_truth


class OperandError(SparseOperandError):
    """A MaskedTensor or a nested tensor read as an array by a dense op; Tensor's operators
    catch it (as a sparse operand's) and hand ``dense (op) it`` to its reflected method."""

    def __init__(self, tensor, what: str):
        TypeError.__init__(self, f"expected a dense tensor, got {what} of shape {tensor.shape}: "
                                 f"use its own ops or make a dense tensor of it first")
        self.tensor = tensor


class IndexTypeError(TypeError, IndexError):
    """A MaskedTensor used as an index: a TypeError, and torch's IndexError."""


class CastMethods:
    """torch's cast methods of a MaskedTensor or a (strided or jagged) NestedTensor:
    ``x.float()``, ``x.long()``, ``x.type(dtype)``..., each the class's ``to(dtype)``."""

    def double(self):
        return self.to(np.float64)

    def float(self):  # noqa: A003 - torch's name
        return self.to(np.float32)

    def half(self):
        return self.to(np.float16)

    def bfloat16(self):
        from dlpy.amp.dtypes import bfloat16_type

        return self.to(bfloat16_type())

    def long(self):
        return self.to(np.int64)

    def int(self):  # noqa: A003 - torch's name
        return self.to(np.int32)

    def short(self):
        return self.to(np.int16)

    def bool(self):  # noqa: A003 - torch's name
        return self.to(np.bool_)

    def type(self, dtype):  # noqa: A003 - torch's name
        """``to(dtype)`` (torch's x.type(dtype))."""
        return self.to(dtype)


class ArithmeticOperators:
    """+ - * / ** (and the reflected + - * /) and add/sub/mul/div/pow of a MaskedTensor or a
    NestedTensor, each through the class's ``_binary(name, function, other, reflected)``."""

    def __add__(self, other):
        return self._binary("add", F.add, other)

    def __radd__(self, other):
        return self._binary("add", F.add, other, True)

    def __sub__(self, other):
        return self._binary("sub", F.sub, other)

    def __rsub__(self, other):
        return self._binary("sub", F.sub, other, True)

    def __mul__(self, other):
        return self._binary("mul", F.mul, other)

    def __rmul__(self, other):
        return self._binary("mul", F.mul, other, True)

    def __truediv__(self, other):
        return self._binary("div", F.div, other)

    def __rtruediv__(self, other):
        return self._binary("div", F.div, other, True)

    def __pow__(self, other):
        return self._binary("pow", F.pow, other)

    add, sub, mul, div, pow = __add__, __sub__, __mul__, __truediv__, __pow__

    # in place, on the data / values (the engine's in-place ops: views and versions follow),
    # through the class's ``_inplace(name, other)``, which checks other as ``_binary`` does
    def add_(self, other):
        return self._inplace("add_", other)

    def sub_(self, other):
        return self._inplace("sub_", other)

    def mul_(self, other):
        return self._inplace("mul_", other)

    def div_(self, other):
        return self._inplace("div_", other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_


class MaskedTensor(CastMethods, ArithmeticOperators, OnCPU):
    """A Tensor ``get_data()`` and a boolean ``get_mask()``; made by ``masked_tensor`` or
    ``as_masked_tensor``. The gradient of a leaf, ``.grad``, is a MaskedTensor with the same
    mask (its masked-out elements 0), as torch's."""

    _is_masked_tensor = True  # torch.add / torch.sum / ... hand it to __dlpy_function__

    __array_ufunc__ = None  # ndarray (op) MaskedTensor defers to the reflected method

    def __init__(self, data: Tensor, mask, requires_grad: bool = False):
        if not isinstance(mask, np.ndarray):  # torch.masked.MaskedTensor(data, mask), public:
            # masked_tensor's (data copied into a new leaf, mask checked)
            checked = masked_tensor(data, mask, requires_grad)
            data, mask = checked._data, checked._mask
        # else trusted arguments: the checked constructors and the ops make these
        self._data, self._mask = data, mask

    # ------------------------------------------------------------- what it is
    @property
    def shape(self) -> tuple[int, ...]:  # a Size
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        """The number of elements, masked-out ones included, as torch's."""
        return self._data.numel()

    def __len__(self) -> int:
        return len(self._data)

    def is_contiguous(self) -> bool:
        return True

    def item(self):
        """Refused (``RuntimeError``) but for one element, whose data it gives."""
        if self._data.numel() != 1:
            raise ArgError(f"item: a MaskedTensor with {self._data.numel()} elements cannot be "
                           "converted to a Python number")
        return self._data.item()

    def tolist(self):
        raise OperandError(self, "a MaskedTensor (to_tensor(value) makes one)")

    def numpy(self):
        raise OperandError(self, "a MaskedTensor (to_tensor(value) makes one)")

    def get_data(self) -> Tensor:
        """The data, masked-out elements included (a node of the graph)."""
        return self._data

    def get_mask(self) -> Tensor:
        return Tensor(self._mask.copy())

    def to_tensor(self, value) -> Tensor:
        """A Tensor: the data where the mask is True, value elsewhere (torch's masked_fill: the
        data's dtype kept, a bool one too)."""
        return F.masked_fill(self._data, ~self._mask, value)

    # ------------------------------------------------------------- gradients
    @property
    def requires_grad(self) -> bool:
        return self._data.requires_grad

    @property
    def is_leaf(self) -> bool:
        return self._data.op is None

    @property
    def grad(self) -> MaskedTensor | None:
        grad = self._data.grad
        if grad is None:
            return None
        return MaskedTensor(Tensor(np.where(self._mask, grad, 0).astype(grad.dtype)),
                            self._mask)

    def backward(self, gradient=None, retain_graph=None) -> None:
        """Back-propagate from this MaskedTensor (a gradient MaskedTensor or array for one of
        more than one element); masked-out elements send none."""
        if isinstance(gradient, MaskedTensor):
            gradient = gradient.to_tensor(0.0).data
        if gradient is None and self._data.size == 1:
            gradient = np.ones(self.shape, self.dtype)
        if gradient is not None:
            gradient = np.where(self._mask, gradient, 0).astype(self.dtype)
        self._data.backward(gradient, retain_graph=retain_graph)

    def detach(self) -> MaskedTensor:
        return MaskedTensor(self._data.detach(), self._mask)

    def to(self, *args, **kwargs) -> MaskedTensor:
        """``get_data().to(...)`` with Tensor.to's overloads (dtype, device, other tensor,
        keywords ``non_blocking``, ``copy``), the mask kept: self when nothing changes, as
        torch's; gradients flow back through a cast."""
        data = self._data.to(*args, **kwargs)
        _check_dtype(data.dtype)  # (to bfloat16: torch's TypeError)
        return self if data is self._data else MaskedTensor(data, self._mask)

    def __bool__(self) -> bool:
        """The truth of a one-element MaskedTensor whose element is kept; more or fewer
        elements are ambiguous (``RuntimeError``), as torch's."""
        if self._data.numel() != 1:
            raise ambiguous_truth(self._data.numel(), self.shape)
        if not self._mask.reshape(()):
            raise ValueError("bool: the one element of the MaskedTensor is masked out")
        return bool(self._data)

    def __array__(self, dtype=None, copy=None):
        raise OperandError(self, "a MaskedTensor (to_tensor(value) makes one)")

    def __repr__(self) -> str:
        cells = [(str(v) if self.dtype == np.bool_ else f"{v:.4f}") if kept else "--"
                 for v, kept in zip(self._data.data.reshape(-1), self._mask.reshape(-1))]
        text = np.array2string(np.array(cells, dtype=object).reshape(self.shape),
                               separator=", ", formatter={"all": str})
        return f"MaskedTensor(\n  {text}\n)"

    # ------------------------------------------------------------- element-wise
    def _binary(self, name: str, function, other, reflected: bool = False) -> MaskedTensor:
        if isinstance(other, MaskedTensor):
            if other.shape != self.shape or not np.array_equal(other._mask, self._mask):
                raise ValueError(f"{name}: the masks of the two MaskedTensors must match (as "
                                 f"torch's), got shapes {self.shape} and {other.shape} with "
                                 f"{int(self._mask.sum())} and {int(other._mask.sum())} "
                                 "elements kept")
            other = other._data
        a, b = (other, self._data) if reflected else (self._data, other)
        out = function(a, b)
        if out.shape != self.shape:
            raise ValueError(f"{name}: the other operand must broadcast to the MaskedTensor's "
                             f"shape {self.shape}, got a result of shape {out.shape}")
        return MaskedTensor(out, self._mask)

    def _inplace(self, name: str, other) -> MaskedTensor:
        if isinstance(other, MaskedTensor):
            self._binary(name, lambda a, b: a, other)  # the masks must match
            other = other._data
        getattr(self._data, name)(other)
        return self


    # == and != element-wise (a boolean MaskedTensor of this mask, no gradient), as torch's;
    # anything but a tensor or a number is not equal (Python's identity), so hashed by identity
    def __eq__(self, other):
        if not (isinstance(other, MaskedTensor) or _comparable(other)):
            return NotImplemented
        return self._binary("eq", operator.eq, other)

    def __ne__(self, other):
        if not (isinstance(other, MaskedTensor) or _comparable(other)):
            return NotImplemented
        return self._binary("ne", operator.ne, other)

    __hash__ = object.__hash__

    # <, <=, >, >= and torch.lt/le/gt/ge likewise (torch's `<` alone skips the mask check)
    def __lt__(self, other):
        return self._binary("lt", operator.lt, other)

    def __le__(self, other):
        return self._binary("le", operator.le, other)

    def __gt__(self, other):
        return self._binary("gt", operator.gt, other)

    def __ge__(self, other):
        return self._binary("ge", operator.ge, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # torch's casts (CastMethods): get_data() cast, the mask kept (to(dtype) above)
    def type_as(self, other) -> MaskedTensor:
        return self.to(other.dtype)

    def __rpow__(self, other):
        return self._binary("pow", F.pow, other, True)

    def __neg__(self):
        return MaskedTensor(-self._data, self._mask)

    def maximum(self, other):
        return self._binary("maximum", F.maximum, other)

    def minimum(self, other):
        return self._binary("minimum", F.minimum, other)

    # ------------------------------------------------------------- shape
    def _reshaped(self, name: str, *args, **kwargs):
        """Tensor.<name> applied to the data (in the graph) and to the mask alike."""
        data = getattr(self._data, name)(*args, **kwargs)
        mask = getattr(Tensor(self._mask), name)(*args, **kwargs)
        if isinstance(data, (tuple, list)):
            return tuple(MaskedTensor(d, m.data) for d, m in zip(data, mask))
        return MaskedTensor(data, mask.data)

    def reshape(self, *shape):
        return self._reshaped("reshape", *shape)

    def view(self, *shape):
        return self._reshaped("view", *shape)

    def reshape_as(self, other):
        return self.reshape(*other.shape)

    def view_as(self, other):
        return self.view(*other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return self._reshaped("flatten", start_dim, end_dim)

    def unflatten(self, dim: int, sizes):
        return self._reshaped("unflatten", dim, sizes)

    def transpose(self, dim0: int, dim1: int):
        return self._reshaped("transpose", dim0, dim1)

    swapaxes = swapdims = transpose

    def t(self):
        return self._reshaped("t")

    @property
    def T(self):  # noqa: N802 - torch's name
        return self.permute(*range(self.ndim - 1, -1, -1))

    def permute(self, *dims):
        return self._reshaped("permute", *dims)

    def movedim(self, source, destination):
        return self._reshaped("movedim", source, destination)

    def unsqueeze(self, dim: int):
        return self._reshaped("unsqueeze", dim)

    def squeeze(self, dim=None):
        return self._reshaped("squeeze", dim)

    def expand(self, *sizes):
        """A broadcast view (data and mask); its gradient sums back over the copies."""
        return self._reshaped("expand", *sizes)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def flip(self, *dims):
        return self._reshaped("flip", *dims)

    def narrow(self, dim: int, start: int, length: int):
        return self._reshaped("narrow", dim, start, length)

    def select(self, dim: int, index: int):
        return self._reshaped("select", dim, index)

    def split(self, split_size_or_sections, dim: int = 0):
        return self._reshaped("split", split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return self._reshaped("chunk", chunks, dim)

    def unbind(self, dim: int = 0):
        return self._reshaped("unbind", dim)

    def contiguous(self):
        return self

    def clone(self):
        return MaskedTensor(self._data.clone(), self._mask.copy())

    def __getitem__(self, index):
        if isinstance(index, MaskedTensor) or isinstance(index, tuple) and any(
                isinstance(i, MaskedTensor) for i in index):
            raise IndexTypeError("MaskedTensor: a MaskedTensor cannot be used as an index (use "
                            "get_mask() or to_tensor() to make a plain one)")
        return MaskedTensor(self._data[index], np.asarray(Tensor(self._mask)[index].data))

    # ------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False, *, dtype=None):  # noqa: A003
        return _ops.sum.__wrapped__(self, dim, keepdim=keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.mean.__wrapped__(self, dim, keepdim=keepdim, dtype=dtype)

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.prod.__wrapped__(self, dim, keepdim=keepdim, dtype=dtype)

    def amax(self, dim=None, keepdim=False):
        return _ops.amax.__wrapped__(self, dim, keepdim=keepdim)

    def amin(self, dim=None, keepdim=False):
        return _ops.amin.__wrapped__(self, dim, keepdim=keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _ops.argmax.__wrapped__(self, dim, keepdim=keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _ops.argmin.__wrapped__(self, dim, keepdim=keepdim)

    def logsumexp(self, dim=None, keepdim=False):
        return _ops.logsumexp.__wrapped__(self, dim, keepdim=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _ops.var.__wrapped__(self, dim, unbiased, correction=correction, keepdim=keepdim)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _ops.std.__wrapped__(self, dim, unbiased, correction=correction, keepdim=keepdim)

    def norm(self, p=2.0, dim=None, keepdim=False):
        return _ops.norm.__wrapped__(self, p, dim, keepdim=keepdim)

    def softmax(self, dim, dtype=None):
        return _ops.softmax.__wrapped__(self, dim, dtype=dtype)

    def log_softmax(self, dim, dtype=None):
        return _ops.log_softmax.__wrapped__(self, dim, dtype=dtype)

    # F.softmax(mt, dim) / F.log_softmax and the other dlpy.functional functions that take a
    # MaskedTensor (dlpy.functional's __dlpy_function__ hook)
    @classmethod
    def __dlpy_function__(cls, name: str, input, *args, **kwargs):
        if name in ("softmax", "log_softmax"):
            dim = kwargs.pop("dim", kwargs.pop("axis", args[0] if args else -1))
            return getattr(input, name)(dim, **kwargs)
        if name in _UNARY:
            return getattr(input, name)(*args, **kwargs)
        if name in ("cat", "stack"):
            return _join(name, input, *args, **kwargs)
        if name in _BINARY:  # torch.add(mt, other), torch.maximum(mt, other), ...
            if kwargs.get("alpha", 1) != 1:
                return input._binary(name, lambda a, b: getattr(F, name)(a, b, **kwargs),
                                     *args)
            return getattr(input, name)(*args)
        if name in _REDUCTIONS:  # torch.sum(mt, 1), torch.amax(mt, 1), ...
            return getattr(input, name)(*args, **kwargs)
        raise NotImplementedError(f"{name}: not supported on a MaskedTensor (dlpy.masked has "
                                  "the element-wise ops, the reductions, softmax, "
                                  "log_softmax, the shape ops and cat/stack)")


_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")
_REDUCTIONS = ("sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "logsumexp", "var",
               "std", "norm")


def _join(name: str, tensors, dim: int = 0, **kwargs) -> MaskedTensor:
    """cat / stack of MaskedTensors only (a dense tensor among them is a TypeError, as torch's):
    the data joined in the graph, the masks alike."""
    if "axis" in kwargs:
        dim = kwargs.pop("axis")
    if kwargs:
        raise TypeError(f"{name}: unexpected arguments {sorted(kwargs)}")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, MaskedTensor):
            raise TypeError(f"{name}: expected only MaskedTensors (torch's rule; make one of a "
                            f"dense tensor with masked_tensor(x, ones mask)), got a "
                            f"{type(t).__name__} at position {i}")
    function = F.cat if name == "cat" else F.stack
    data = function([t._data for t in tensors], dim)
    mask = (np.concatenate if name == "cat" else np.stack)([t._mask for t in tensors], dim)
    return MaskedTensor(data, mask)


# element-wise functions of one tensor: a MaskedTensor's (or a NestedTensor's) method applies
# dlpy.functional's to the data and keeps the mask (the structure)
UNARY = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "exp", "expm1", "floor", "gelu",
         "log", "log1p", "log2", "log10", "relu", "sigmoid", "sign", "silu", "sin", "sinh",
         "sqrt", "tan", "tanh", "trunc")


def attach_elementwise(cls, rewrap, data_of) -> tuple[str, ...]:
    """Give cls a method per name in UNARY: rewrap(self, F.<name>(data_of(self), ...))."""
    def make(name: str):
        function = getattr(F, name)

        def method(self, *args, **kwargs):
            return rewrap(self, function(data_of(self), *args, **kwargs))

        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"dlpy.functional.{name} of the data, element by element."
        return method

    for name in UNARY:
        setattr(cls, name, make(name))
    return UNARY


_UNARY = attach_elementwise(MaskedTensor, lambda self, data: MaskedTensor(data, self._mask),
                            lambda self: self._data)


# the data dtypes torch's MaskedTensor takes (others, bfloat16 among them, a TypeError)
_DTYPES = ("float16", "float32", "float64", "bool", "int8", "int16", "int32", "int64")


def _check_dtype(dtype) -> None:
    if np.dtype(dtype).name not in _DTYPES:
        raise TypeError(f"torch.{np.dtype(dtype).name} is not supported in MaskedTensor.")


def _mask_array(name: str, mask, shape) -> np.ndarray:
    if not isinstance(mask, (Tensor, np.ndarray)):
        raise TypeError(f"{name}: mask must be a Tensor, not {type(mask).__name__}")
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{name}: mask must be a boolean tensor, got dtype {mask.dtype}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{name}: data and mask must have the same shape, got {tuple(shape)} "
                         f"and {mask.shape}")
    return mask.copy()


def masked_tensor(data, mask, requires_grad: bool = False) -> MaskedTensor:
    """torch.masked.masked_tensor: a new leaf MaskedTensor (data copied, outside any graph);
    data and mask are tensors (or arrays), as torch's."""
    if not isinstance(data, (Tensor, np.ndarray)):
        raise TypeError(f"masked_tensor: data must be a Tensor, not {type(data).__name__}")
    array = np.array(data.data if isinstance(data, Tensor) else data)
    _check_dtype(array.dtype)
    mask = _mask_array("masked_tensor", mask, array.shape)
    return MaskedTensor(Tensor(array, requires_grad=requires_grad), mask)


def as_masked_tensor(data, mask) -> MaskedTensor:
    """torch.masked.as_masked_tensor: a MaskedTensor on data itself, so gradients reach it."""
    if not isinstance(data, (Tensor, np.ndarray)):
        raise TypeError(f"as_masked_tensor: data must be a Tensor, not {type(data).__name__}")
    data = data if isinstance(data, Tensor) else Tensor(data)
    _check_dtype(data.dtype)
    return MaskedTensor(data, _mask_array("as_masked_tensor", mask, data.shape))


def is_masked_tensor(obj) -> bool:
    return isinstance(obj, MaskedTensor)
