"""NestedTensor: torch.nested's jagged layout. B sequences of different lengths held as one
``values`` Tensor (total, *inner) and ``offsets`` (B + 1,): sequence i is
values[offsets[i] : offsets[i] + lengths[i]] (lengths = diff(offsets) unless given: a view with
holes, from ``narrow`` or ``nested_tensor_from_jagged(..., lengths=)``).

The logical shape is (B, j, *inner) with the ragged dim j at ``_ragged_idx`` 1, or (B, H, j, D)
after ``transpose(1, 2)`` (ragged_idx 2; the values stay (total, H, D)). Every op maps values
with dlpy's ops (or pads, runs the dense op and unpads through GetItem), so gradients reach the
values and, through them, the component tensors of ``as_nested_tensor``.
"""

from __future__ import annotations

import operator

import numpy as np

from dlpy import functional as F
from dlpy.creation import full
from dlpy.device import OnCPU
from dlpy.masked.maskedtensor import (
    ArithmeticOperators,
    CastMethods,
    OperandError,
    attach_elementwise,
)
from dlpy.ops import ArgDtypeError, ArgError, DimError, NoKernelError, UnsupportedArgError
from dlpy.sparse_tensor import jagged  # torch.jagged: the only nested layout dlpy has
from dlpy.tensor import Tensor, _comparable, ambiguous_truth, as_array


class NestedTensor(CastMethods, ArithmeticOperators, OnCPU):
    """A jagged nested tensor (see the module's docstring); made by dlpy.nested's
    ``nested_tensor``, ``as_nested_tensor``, ``nested_tensor_from_jagged`` or ``narrow``."""

    __array_ufunc__ = None  # ndarray (op) NestedTensor defers to the reflected method
    is_nested = True
    layout = jagged

    def __init__(self, values: Tensor, offsets: np.ndarray, lengths: np.ndarray | None = None,
                 ragged_idx: int = 1):
        # trusted arguments: the checked constructors and the ops make these
        self._values, self._offsets, self._lengths = values, offsets, lengths
        self._ragged_idx = ragged_idx

    # ------------------------------------------------------------- what it is
    def values(self) -> Tensor:
        """The values (total, *inner): a node of the graph."""
        return self._values

    def offsets(self) -> Tensor:
        return Tensor(self._offsets.copy())

    def lengths(self) -> Tensor | None:
        return None if self._lengths is None else Tensor(self._lengths.copy())

    def _lens(self) -> np.ndarray:
        return np.diff(self._offsets) if self._lengths is None else self._lengths

    @property
    def shape(self) -> tuple:
        """(B, ..., None, ...): the ragged dim is None (torch shows a symbol, j1)."""
        inner = tuple(self._values.shape[1:])
        r = self._ragged_idx
        return (len(self._offsets) - 1,) + inner[:r - 1] + (None,) + inner[r - 1:]

    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        d = self._dim("size", dim)
        if d == self._ragged_idx:
            raise ArgError(f"size: dim {dim} is the ragged dim of the nested tensor "
                           f"{self.shape}: its sizes are lengths()")
        return self.shape[d]

    def dim(self) -> int:
        return self._values.ndim + 1

    ndim = property(dim)

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def requires_grad(self) -> bool:
        return self._values.requires_grad

    def requires_grad_(self, requires_grad: bool = True) -> NestedTensor:
        self._values.requires_grad_(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._values.op is None

    @property
    def grad(self) -> NestedTensor | None:
        """The gradient (a nested tensor of this structure), None before a backward."""
        grad = self._values.grad
        return None if grad is None else self._like(Tensor(np.asarray(grad)))

    def detach(self) -> NestedTensor:
        return self._like(self._values.detach())

    def to(self, *args, **kwargs) -> NestedTensor:
        """``values().to(...)`` with Tensor.to's overloads (dtype, device, other tensor,
        keywords ``non_blocking``, ``copy``): self when nothing changes, as torch's;
        gradients flow back through a cast."""
        values = self._values.to(*args, **kwargs)
        return self if values is self._values else self._like(values)

    def backward(self, gradient=None, retain_graph=None) -> None:
        """Back-propagate with ``gradient`` a nested tensor of this structure."""
        if isinstance(gradient, NestedTensor):
            self._same_structure("backward", gradient)
            gradient = gradient._values.data
        self._values.backward(gradient, retain_graph=retain_graph)

    def __array__(self, dtype=None, copy=None):
        raise OperandError(self, "a nested tensor (values() or to_padded_tensor() make one)")

    def __repr__(self) -> str:
        return (f"NestedTensor(size={self.shape}, offsets={self._offsets.tolist()}, "
                f"lengths={None if self._lengths is None else self._lengths.tolist()})")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def numel(self) -> int:
        """The number of elements of the sequences (holes not counted)."""
        return int(self._lens().sum()) * int(np.prod(self._values.shape[1:]))

    def is_contiguous(self) -> bool:
        """True without holes and with the ragged dim 1, as torch's."""
        return self._lengths is None and self._ragged_idx == 1

    def item(self):
        """Refused (``RuntimeError``): a nested tensor is no scalar, as torch's."""
        raise ArgError(f"item: a nested tensor with {self.numel()} elements cannot be converted "
                       "to a Python number")

    def tolist(self):
        raise OperandError(self, "a nested tensor (unbind() gives its components)")

    def numpy(self):
        raise OperandError(self, "a nested tensor (values() or to_padded_tensor() make one)")

    def __bool__(self) -> bool:
        """Ambiguous (``RuntimeError``) for more or fewer than one element, as torch's; torch
        has no truth value for a nested tensor of one element either."""
        size = int(self._lens().sum()) * int(np.prod(self._values.shape[1:]))
        if size != 1:
            raise ambiguous_truth(size, self.shape)
        raise NotImplementedError("bool: a nested tensor has no truth value (torch's neither); "
                                  "use bool(t.values())")

    # == and != element-wise (a nested tensor of bools, no gradient), as torch's; anything
    # but a tensor or a number is not equal (Python's identity), so hashed by identity
    def __eq__(self, other):
        if not (isinstance(other, NestedTensor) or _comparable(other)):
            return NotImplemented
        return self._binary("eq", operator.eq, other)

    def __ne__(self, other):
        if not (isinstance(other, NestedTensor) or _comparable(other)):
            return NotImplemented
        return self._binary("ne", operator.ne, other)

    def __gt__(self, other):
        return self._binary("gt", operator.gt, other)

    def __ge__(self, other):
        return self._binary("ge", operator.ge, other)

    def __lt__(self, other):
        return self._binary("lt", operator.lt, other)

    def __le__(self, other):
        return self._binary("le", operator.le, other)

    def __and__(self, other):
        return self._binary("and", operator.and_, other)

    def __or__(self, other):
        return self._binary("or", operator.or_, other)

    def __xor__(self, other):
        return self._binary("xor", operator.xor, other)

    def __invert__(self):
        return self._like(~self._values)

    __hash__ = object.__hash__

    def is_floating_point(self) -> bool:
        return self._values.is_floating_point()

    def is_complex(self) -> bool:
        return self._values.is_complex()

    def element_size(self) -> int:
        return self._values.element_size()

    def nelement(self) -> int:
        return self.numel()

    # ------------------------------------------------------------- helpers
    def _like(self, values: Tensor, ragged_idx: int | None = None) -> NestedTensor:
        """The same structure with other values (rows unchanged)."""
        return NestedTensor(values, self._offsets, self._lengths,
                            self._ragged_idx if ragged_idx is None else ragged_idx)

    def _dim(self, name: str, dim) -> int:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{name}: dim must be an int, got {dim!r}")
        if not -self.ndim <= dim < self.ndim:
            raise DimError(f"{name}: dim {dim} is out of range for the nested tensor "
                           f"{self.shape}")
        return int(dim) % self.ndim

    def _values_dim(self, name: str, dim) -> int:
        """The axis of values for a dim that is neither the batch nor the ragged dim."""
        d = self._dim(name, dim)
        if d == 0 or d == self._ragged_idx:
            which = "batch" if d == 0 else "ragged"
            raise NotImplementedError(f"{name}: not supported on the {which} dim ({dim}) of a "
                                      "nested tensor")
        return d - 1 if d > self._ragged_idx else d

    def _same_structure(self, name: str, other: NestedTensor, inner: bool = True) -> None:
        """Refuse other unless it has these sequences (and, with inner, these other dims)."""
        if (other._ragged_idx != self._ragged_idx
                or not np.array_equal(other._offsets, self._offsets)
                or not np.array_equal(other._lens(), self._lens())
                or inner and other._values.shape[1:] != self._values.shape[1:]):
            raise ArgError(f"{name}: nested tensors of different structure, shapes "
                           f"{self.shape} and {other.shape} with lengths "
                           f"{self._lens().tolist()} and {other._lens().tolist()}")

    def _same_ragged_dim(self, name: str, other: NestedTensor) -> None:
        """_same_structure, and the same ragged dim as torch's nested ints tell it: one made
        from this tensor (its offsets themselves), not one built apart with equal lengths
        (torch's RuntimeError: a dimension j1 does not broadcast to j2)."""
        self._same_structure(name, other)
        if other._offsets is not self._offsets:
            raise ArgError(f"{name}: nested tensors built apart have different ragged dims "
                           f"(torch's j1 and j2), even of equal lengths {self._lens().tolist()}")

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(row of values, position in its sequence) of every element, sequence by sequence."""
        lens = self._lens()
        starts = np.repeat(self._offsets[:-1], lens)
        position = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        return starts + position, position

    def _padded(self, padding, length: int | None = None) -> Tensor:
        """(B, L, *inner) with padding after each sequence (L: the longest, or ``length``)."""
        lens = self._lens()
        length = int(lens.max(initial=0)) if length is None else length
        total = self._values.shape[0]
        fill = full((1,) + self._values.shape[1:], padding, dtype=self.dtype)
        extended = F.cat([self._values, fill], 0)  # row ``total``: the padding
        t = np.arange(length)
        index = np.where(t < lens[:, None], self._offsets[:-1, None] + t, total)
        return extended[index]

    def _unpadded(self, padded: Tensor) -> Tensor:
        """The valid rows of (B, L, *rest) as compact values (sum(lengths), *rest)."""
        lens = self._lens()
        length = padded.shape[1]
        flat = np.repeat(np.arange(len(lens)) * length, lens) + self._rows()[1]
        return padded.reshape((-1,) + padded.shape[2:])[flat]

    def _compact(self, values: Tensor) -> NestedTensor:
        lens = self._lens()
        return NestedTensor(values, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                            None, self._ragged_idx)

    # ------------------------------------------------------------- element-wise
    def _binary(self, name: str, function, other, reflected: bool = False) -> NestedTensor:
        if isinstance(other, NestedTensor):
            self._same_structure(name, other)
            other = other._values
        elif not isinstance(other, (int, float, np.number)):
            other = self._dense_operand(name, other)
        a, b = (other, self._values) if reflected else (self._values, other)
        return self._like(function(a, b))

    def _dense_operand(self, name: str, other):
        """A dense operand as an operand of values: trailing dims broadcast as they are; a
        (B, 1, *inner) one (ragged_idx 1) is read at each row's sequence."""
        other = other if isinstance(other, Tensor) else Tensor(np.asarray(other))
        trailing = self.shape[self._ragged_idx + 1:]
        try:
            if other.ndim <= len(trailing):
                np.broadcast_shapes(other.shape, trailing)
                return other
            if (other.ndim == self.ndim and self._ragged_idx == 1 and other.shape[1] == 1
                    and other.shape[0] in (1, len(self))):
                np.broadcast_shapes(other.shape[2:], self._values.shape[1:])
                rows = np.zeros(self._values.shape[0], np.int64)
                if other.shape[0] > 1:  # each row's sequence (rows in holes: sequence 0)
                    rows[self._rows()[0]] = np.repeat(np.arange(len(self)), self._lens())
                return other.reshape((other.shape[0],) + other.shape[2:])[rows]
        except ValueError:
            pass
        raise ArgError(f"{name}: a dense operand of shape {other.shape} does not broadcast "
                         f"to the nested tensor {self.shape}")

    def __neg__(self):
        return self._like(-self._values)

    def masked_fill(self, mask, value) -> NestedTensor:
        """value where ``mask`` (a nested tensor of bools of this structure, or a dense one
        that broadcasts as ``+``'s operand) is True."""
        if isinstance(mask, NestedTensor):
            self._same_ragged_dim("masked_fill", mask)
            mask = mask._values
        else:
            mask = self._dense_operand("masked_fill", mask)
        return self._like(F.masked_fill(self._values, mask, value))

    def _inplace(self, name: str, other) -> NestedTensor:
        """values.<name>(other) in place: other a nested tensor of this structure, a number or
        a dense tensor of the dims after the ragged one."""
        if isinstance(other, NestedTensor):
            self._same_structure(name, other)
            other = other._values
        elif not isinstance(other, (int, float, np.number)):
            other = self._dense_operand(name, other)
        getattr(self._values, name)(other)
        return self

    def zero_(self) -> NestedTensor:
        self._values.zero_()
        return self

    def add(self, other, *, alpha=1) -> NestedTensor:
        """self + alpha * other, as torch.add."""
        return self + other if alpha == 1 else self._binary(
            "add", lambda a, b: F.add(a, b, alpha=alpha), other)

    def sub(self, other, *, alpha=1) -> NestedTensor:
        return self - other if alpha == 1 else self._binary(
            "sub", lambda a, b: F.sub(a, b, alpha=alpha), other)

    # ------------------------------------------------------------- linear maps
    def __matmul__(self, other):
        return self.matmul(other)

    def matmul(self, other) -> NestedTensor:
        """nested (..., in) @ dense (in, out) on values; the last dim must not be ragged."""
        if isinstance(other, NestedTensor) or np.ndim(as_array(other)) != 2:
            raise NotImplementedError("matmul: a nested tensor is multiplied by a dense 2-D "
                                      "matrix only (nested @ (in, out))")
        self._values_dim("matmul", -1)
        return self._like(F.matmul(self._values, other))

    def bmm(self, mat2) -> NestedTensor:
        """nested (B, j, m) @ dense (B, m, p): sequence i times mat2[i], (B, j, p)."""
        mat2 = mat2 if isinstance(mat2, Tensor) else Tensor(np.asarray(mat2))
        if (isinstance(mat2, NestedTensor) or self.ndim != 3 or self._ragged_idx != 1
                or mat2.ndim != 3 or mat2.shape[0] != len(self)
                or mat2.shape[1] != self._values.shape[1]):
            raise ValueError(f"bmm: expected a nested (B, j, m) tensor and a dense (B, m, p) "
                             f"one, got {self.shape} and {getattr(mat2, 'shape', None)}")
        rows = np.zeros(self._values.shape[0], np.int64)  # each row's sequence (holes: 0)
        rows[self._rows()[0]] = np.repeat(np.arange(len(self)), self._lens())
        out = F.matmul(self._values.unsqueeze(-2), mat2[rows])  # (total, 1, p)
        return self._like(out.squeeze(-2))

    def linear(self, weight, bias=None) -> NestedTensor:
        self._values_dim("linear", -1)
        return self._like(F.linear(self._values, weight, bias))

    # ------------------------------------------------------------- along a dim
    def softmax(self, dim=-1, dtype=None) -> NestedTensor:
        return self._normalise("softmax", F.softmax, dim, dtype)

    def log_softmax(self, dim=-1, dtype=None) -> NestedTensor:
        return self._normalise("log_softmax", F.log_softmax, dim, dtype)

    def _normalise(self, name, function, dim, dtype) -> NestedTensor:
        values = self._values if dtype is None else self._values.to(dtype)
        if self._dim(name, dim) == self._ragged_idx == 1:  # over each sequence: pad with -inf
            padded = self._like(values)._padded(-np.inf)
            return self._compact(self._unpadded(function(padded, 1)))
        return self._like(function(values, self._values_dim(name, dim)))

    def layer_norm(self, *args, **kwargs) -> NestedTensor:
        """Over the last dim: dlpy's ``(weight, bias, eps)`` or torch's ``(normalized_shape,
        weight, bias, eps)`` (trailing dims that leave the batch and ragged dims out)."""
        shape = args[0] if args else kwargs.get("normalized_shape")
        if isinstance(shape, (int, np.integer, tuple, list)) and not isinstance(shape, bool):
            count = 1 if isinstance(shape, (int, np.integer)) else len(shape)
            if count > self.dim() - 1 - self._ragged_idx:
                raise ArgError(f"layer_norm: normalized_shape {shape} must be dims after "
                               f"the ragged one of a nested tensor of {self.dim()} dims")
        else:
            self._values_dim("layer_norm", -1)
        return self._like(F.layer_norm(self._values, *args, **kwargs))

    def sum(self, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A003
        """Over every element (a dense scalar), the ragged dim (dense (B, *inner)) or another
        non-batch dim (nested)."""
        return self._reduce("sum", F.sum, dim, keepdim, dtype)

    def mean(self, dim=None, keepdim: bool = False, *, dtype=None):
        return self._reduce("mean", F.mean, dim, keepdim, dtype)

    def _reduce(self, name, function, dim, keepdim, dtype):
        values = self._values if dtype is None else self._values.to(dtype)
        if dim is None:
            valid = values if self._lengths is None else values[self._rows()[0]]
            return function(valid)
        d = self._dim(name, dim)
        if d == self._ragged_idx:  # padded (B, L, *inner): L is the ragged dim wherever it is
            padded = self._like(values)._padded(0.0)
            out = F.sum(padded, dim=1, keepdim=keepdim)
            if name == "mean":
                lens = self._lens().astype(values.dtype)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out = out / lens.reshape((-1,) + (1,) * (out.ndim - 1))
            return F.movedim(out, 1, d) if keepdim and d != 1 else out
        return self._like(function(values, dim=self._values_dim(name, dim), keepdim=keepdim))

    # ------------------------------------------------------------- shape
    def transpose(self, dim0, dim1) -> NestedTensor:
        """Two dims swapped; swapping the ragged dim with another moves the ragged dim (the
        values stay); the batch dim stays."""
        d0, d1 = self._dim("transpose", dim0), self._dim("transpose", dim1)
        if 0 in (d0, d1):  # transpose(0, 0) too, as torch's
            raise UnsupportedArgError("transpose: the batch dim (0) of a nested tensor cannot "
                                      "be transposed")
        order = list(range(self.ndim))
        order[d0], order[d1] = order[d1], order[d0]
        r = self._ragged_idx
        axes = [0] + [old - 1 if old > r else old for old in order if old not in (0, r)]
        values = self._values if axes == sorted(axes) else F.permute(self._values, axes)
        return self._like(values, ragged_idx=order.index(r))

    def unflatten(self, dim, sizes) -> NestedTensor:
        return self._like(F.unflatten(self._values, self._values_dim("unflatten", dim), sizes))

    def flatten(self, start_dim=0, end_dim=-1) -> NestedTensor:
        """Non-batch, non-ragged dims start_dim..end_dim merged (consecutive in values)."""
        start, end = (self._values_dim("flatten", d) for d in (start_dim, end_dim))
        if (end - start) != self._dim("flatten", end_dim) - self._dim("flatten", start_dim):
            raise NotImplementedError("flatten: the dims to merge include the ragged dim")
        return self._like(F.flatten(self._values, start, end))

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The B component tensors (views of values: gradients flow back)."""
        if dim != 0:  # torch: dim=0 literally (not -ndim)
            raise NotImplementedError(f"unbind: a nested tensor unbinds along dim 0, got {dim}")
        out = []
        for start, n in zip(self._offsets[:-1].tolist(), self._lens().tolist()):
            part = self._values[start:start + n]
            out.append(part if self._ragged_idx == 1 else F.movedim(part, 0,
                                                                    self._ragged_idx - 1))
        return tuple(out)

    def permute(self, *dims) -> NestedTensor:
        """The dims reordered; the batch dim stays first, the ragged dim may move (values are
        permuted alike)."""
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) \
            else dims
        order = [self._dim("permute", d) for d in dims]
        if sorted(order) != list(range(self.ndim)):
            raise ValueError(f"permute: expected a permutation of the {self.ndim} dims of the "
                             f"nested tensor {self.shape}, got {dims}")
        if order[0] != 0:
            raise UnsupportedArgError("permute: the batch dim (0) of a nested tensor must stay "
                                      "first")
        r = self._ragged_idx
        axes = [0] + [old - 1 if old > r else old for old in order if old not in (0, r)]
        values = self._values if axes == sorted(axes) else F.permute(self._values, axes)
        return self._like(values, ragged_idx=order.index(r))

    def reshape(self, *shape) -> NestedTensor:
        """(B, j, *inner) -> (B, j, *new_inner): the batch (B or -1) and ragged (None or -1)
        dims stay, the dims after them are reshaped as values (total, *inner) would be."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) \
            else shape
        if self._ragged_idx != 1 or len(shape) < 2 or shape[0] not in (len(self), -1) \
                or shape[1] not in (None, -1) or shape[0] == shape[1] == -1:
            raise ArgError(f"reshape: a nested tensor {self.shape} keeps its batch and "
                             f"ragged dims: expected ({len(self)} or -1, None or -1, *inner) "
                             f"with one -1 at most among the first two, got {shape}")
        if any(not isinstance(n, (int, np.integer)) for n in shape[2:]):
            raise TypeError(f"reshape: the inner sizes must be ints, got {shape[2:]}")
        total, inner = self._values.shape[0], self._values.shape[1:]
        try:
            target = np.empty(int(np.prod(inner)), np.int8).reshape(tuple(shape[2:])).shape
        except ValueError:
            raise ArgError(f"reshape: the inner dims {inner} of the nested tensor "
                             f"{self.shape} cannot be reshaped to {shape[2:]}") from None
        return self._like(self._values.reshape((total,) + tuple(target)))

    view = reshape

    def unsqueeze(self, dim: int) -> NestedTensor:
        """A size-1 dim inserted at ``dim`` (not the batch dim)."""
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) \
                or not -self.ndim - 1 <= dim <= self.ndim:
            raise DimError(f"unsqueeze: dim must be in [{-self.ndim - 1}, {self.ndim}] for "
                             f"the nested tensor {self.shape}, got {dim!r}")
        d = int(dim) % (self.ndim + 1)
        if d == 0:
            raise NotImplementedError("unsqueeze: not supported on the batch dim (0) of a "
                                      "nested tensor")
        r = self._ragged_idx + 1 if d <= self._ragged_idx else self._ragged_idx
        return self._like(F.unsqueeze(self._values, d if d < r else d - 1), ragged_idx=r)

    def squeeze(self, dim=None) -> NestedTensor:
        """The size-1 dim ``dim`` removed (neither the batch nor the ragged dim; dim=None is
        refused, as torch's)."""
        if dim is None:
            raise NotImplementedError("squeeze: give the dim to squeeze (a nested tensor's "
                                      "ragged sizes are not known to be 1)")
        d = self._dim("squeeze", dim)
        axis = self._values_dim("squeeze", dim)
        if self._values.shape[axis] != 1:
            return self
        r = self._ragged_idx - 1 if d < self._ragged_idx else self._ragged_idx
        return self._like(F.squeeze(self._values, axis), ragged_idx=r)

    def expand(self, *sizes) -> NestedTensor:
        """Size-1 dims after the batch and ragged ones broadcast (those two given as -1, the
        batch size or None)."""
        sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
            else sizes
        if len(sizes) != self.ndim:
            raise ValueError(f"expand: expected {self.ndim} sizes for the nested tensor "
                             f"{self.shape}, got {sizes}")
        r = self._ragged_idx
        if sizes[0] not in (-1, len(self)) or sizes[r] not in (-1, None):
            raise NotImplementedError(f"expand: the batch and ragged dims of a nested tensor "
                                      f"cannot be expanded, got {sizes} for {self.shape}")
        inner = [n for i, n in enumerate(sizes) if i not in (0, r)]
        return self._like(self._values.expand(-1, *inner))

    def narrow(self, dim: int, start: int, length: int) -> NestedTensor:
        """Elements start .. start + length - 1 of a dim that is neither batch nor ragged."""
        return self._like(self._values.narrow(self._values_dim("narrow", dim), start, length))

    def select(self, dim: int, index: int):
        """Component ``index`` (dim 0, a dense tensor) or one index of a dim that is neither
        batch nor ragged (a nested tensor with that dim removed)."""
        d = self._dim("select", dim)
        if d == 0:
            return self.unbind()[index]
        axis = self._values_dim("select", dim)
        r = self._ragged_idx - 1 if d < self._ragged_idx else self._ragged_idx
        return self._like(self._values.select(axis, index), ragged_idx=r)

    def split(self, split_size_or_sections, dim: int = 0) -> tuple[NestedTensor, ...]:
        """Pieces of a dim that is neither batch nor ragged (as torch.split)."""
        axis = self._values_dim("split", dim)
        return tuple(self._like(v) for v in F.split(self._values, split_size_or_sections, axis))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[NestedTensor, ...]:
        """``chunks`` pieces of a dim that is neither ragged nor (with a non-nested piece)
        batch; along the batch dim each piece is a nested tensor of whole sequences."""
        if self._dim("chunk", dim) != 0:
            axis = self._values_dim("chunk", dim)
            return tuple(self._like(v) for v in F.chunk(self._values, chunks, axis))
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ArgError(f"chunk: chunks must be a positive int, got {chunks!r}")
        step = -(-len(self) // int(chunks))
        pieces = []
        for first in range(0, len(self), step):
            last = min(first + step, len(self))
            begin, end = int(self._offsets[first]), int(self._offsets[last])
            lengths = None if self._lengths is None else self._lengths[first:last].copy()
            pieces.append(NestedTensor(self._values[begin:end],
                                       self._offsets[first:last + 1] - begin, lengths,
                                       self._ragged_idx))
        return tuple(pieces)

    def clone(self) -> NestedTensor:
        return self._like(self._values.clone())

    def contiguous(self) -> NestedTensor:
        return self

    def __getitem__(self, index):
        """``nt[i]``: component i (dense), ``nt[i, ...]`` indexes it further; ``nt[:, :, k]``,
        ``nt[..., a:b]``: an index of the dims after the batch and ragged ones (those two given
        as ``:``)."""
        if isinstance(index, (int, np.integer)):
            return self.unbind()[index]
        items = index if isinstance(index, tuple) else (index,)
        if items and isinstance(items[0], (int, np.integer)) and not isinstance(items[0], bool):
            return self.unbind()[items[0]][items[1:]]
        if sum(i is Ellipsis for i in items) > 1 or any(i is None for i in items):
            raise NotImplementedError(f"getitem: not supported on a nested tensor: {index!r}")
        if Ellipsis in items:
            at = items.index(Ellipsis)
            items = items[:at] + (slice(None),) * (self.ndim - len(items) + 1) + items[at + 1:]
        items = items + (slice(None),) * (self.ndim - len(items))
        r = self._ragged_idx
        whole = slice(None)
        if len(items) != self.ndim or not (isinstance(items[0], slice) and items[0] == whole
                                           and isinstance(items[r], slice)
                                           and items[r] == whole):
            raise NotImplementedError(f"getitem: a nested tensor is indexed by one int (a "
                                      f"component) or by ':' at the batch and ragged dims and "
                                      f"anything at the others, got {index!r}")
        inner = tuple(i for k, i in enumerate(items) if k not in (0, r))
        dropped_before = sum(isinstance(i, (int, np.integer)) for i in items[1:r])
        return self._like(self._values[(whole,) + inner], ragged_idx=r - dropped_before)


    def to_padded_tensor(self, padding: float, output_size=None) -> Tensor:
        return to_padded_tensor(self, padding, output_size)

    # dlpy.functional's functions that take a nested tensor (its __dlpy_function__ hook)
    @classmethod
    def __dlpy_function__(cls, name: str, input, *args, **kwargs):
        if name == "scaled_dot_product_attention":
            return scaled_dot_product_attention(input, *args, **kwargs)
        if name == "cat":
            return cat(input, *args, **kwargs)
        if name == "dropout":
            return input._like(F.dropout(input._values, *args, **kwargs))
        if name == "unbind":
            return input.unbind(*args, **kwargs)
        if name == "where" and len(args) == 2:  # the condition nested: x and y too, or numbers
            for other in args:
                if isinstance(other, NestedTensor):
                    input._same_ragged_dim("where", other)
            return input._like(F.where(input._values, *[
                a._values if isinstance(a, NestedTensor) else a for a in args]))
        if name in ("linear", "softmax", "log_softmax", "layer_norm", "matmul", "add", "sub",
                    "mul", "div", "sum", "mean", "bmm", "masked_fill") + _ELEMENTWISE \
                + _VALUES_ELEMENTWISE:
            if name in ("softmax", "log_softmax") and "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            return getattr(input, name)(*args, **kwargs)
        raise NotImplementedError(f"{name}: not supported on a nested tensor (dlpy.nested's "
                                  "docstring lists the ops)")


_ELEMENTWISE = attach_elementwise(NestedTensor, lambda self, values: self._like(values),
                                  lambda self: self._values)
# the other element-wise methods of torch's jagged layout: the values' own, the structure kept
_VALUES_ELEMENTWISE = ("neg", "square", "reciprocal", "rsqrt", "erf", "round", "frac", "isnan",
                       "isinf", "isfinite", "logical_not", "nan_to_num", "clamp")


def _values_method(name: str):
    def method(self, *args, **kwargs):
        return self._like(getattr(self._values, name)(*args, **kwargs))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Tensor.{name} of the values, element by element."
    return method


for _name in _VALUES_ELEMENTWISE:
    setattr(NestedTensor, _name, _values_method(_name))


def to_padded_tensor(input: NestedTensor, padding: float, output_size=None) -> Tensor:
    """torch.nested.to_padded_tensor: a dense tensor, each sequence padded to the longest (or to
    ``output_size``, which may also widen the other dims) with ``padding``."""
    if not isinstance(input, NestedTensor):
        raise NoKernelError(f"to_padded_tensor: expected a nested tensor, got "
                            f"{type(input).__name__}")
    lens, r = input._lens(), input._ragged_idx
    length = int(lens.max(initial=0))
    if output_size is not None:
        output_size = tuple(int(n) for n in output_size)
        natural = input.shape[:r] + (length,) + input.shape[r + 1:]
        if len(output_size) != len(natural) or any(o < n for o, n in zip(output_size, natural)):
            raise ArgError(f"to_padded_tensor: output_size {output_size} must have "
                           f"{len(natural)} dims, each at least the tensor's {natural}")
        length = output_size[r]
    out = input._padded(padding, length)  # (B, L, *inner)
    if r != 1:
        out = F.movedim(out, 1, r)
    if output_size is not None and output_size != out.shape:
        widths = []
        for have, want in zip(reversed(out.shape), reversed(output_size)):
            widths += [0, want - have]
        out = F.pad(out, widths, value=padding)
    return out


def cat(tensors, dim: int = 0) -> NestedTensor:
    """torch.cat of nested tensors of one structure along a dim that is neither the batch nor
    the ragged dim (as torch's)."""
    first = tensors[0]
    if not all(isinstance(t, NestedTensor) for t in tensors):  # torch's RuntimeError
        raise ArgDtypeError("cat: expected only nested tensors (a nested tensor cannot be "
                        "concatenated with a dense one)")
    for t in tensors[1:]:
        first._same_structure("cat", t, inner=False)
    axis = first._values_dim("cat", dim)
    return first._like(F.cat([t._values for t in tensors], axis))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, **kwargs) -> NestedTensor:
    """F.scaled_dot_product_attention on nested (B, H, j, D) query / key / value (ragged dim 2,
    as after ``transpose(1, 2)``): each sequence attends to its own keys only. Computed padded,
    with the padding keys masked out; key and value share a structure, query may differ."""
    name = "scaled_dot_product_attention"
    for what, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, NestedTensor):
            raise TypeError(f"{name}: expected nested query, key and value, got a "
                            f"{type(t).__name__} {what}")
    if all(t.ndim == 4 and t._ragged_idx == 1 for t in (query, key, value)):
        # (B, j, L, D) untransposed: the ragged dim is a batch dim, as torch's
        query._same_structure(name, key, inner=False)
        key._same_structure(name, value, inner=False)
        return query._like(F.scaled_dot_product_attention(
            query._values, key._values, value._values, attn_mask, dropout_p=dropout_p,
            training=dropout_p > 0, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa,
            **kwargs))
    for what, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim != 4 or t._ragged_idx != 2:
            raise ValueError(f"{name}: expected nested (B, H, j, D) operands with the ragged "
                             f"dim 2 (transpose(1, 2) of (B, j, H, D)), got {what} {t.shape}")
    if attn_mask is not None or kwargs.pop("mask", None) is not None:
        raise NotImplementedError(f"{name}: a mask (attn_mask or mask) is not supported with "
                                  "nested tensors; is_causal is, and padding needs none")
    if len(query) != len(key):
        raise ValueError(f"{name}: query has {len(query)} sequences, key {len(key)}")
    key._same_structure(name, value, inner=False)
    lens_k = key._lens()
    q = F.transpose(query._padded(0.0), 1, 2)  # (B, H, Lq, D)
    k = F.transpose(key._padded(0.0), 1, 2)
    v = F.transpose(value._padded(0.0), 1, 2)
    padding = (np.arange(k.shape[2]) >= lens_k[:, None])[:, None, None, :]  # (B, 1, 1, Lk)
    out = F.scaled_dot_product_attention(q, k, v, mask=padding, dropout_p=dropout_p,
                                         training=dropout_p > 0, is_causal=is_causal,
                                         scale=scale, enable_gqa=enable_gqa, **kwargs)
    return query._compact(query._unpadded(F.transpose(out, 1, 2)))
