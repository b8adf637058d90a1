"""StridedNestedTensor: torch.nested's default (strided) layout. B component tensors of one
number of dims that may differ in every dim, e.g. (2, 3) and (4, 5): the logical shape is
(B, *irregular) and only the batch dim and the dims where all components agree have a size.

Held as the component Tensors themselves (each a node of the graph: every op maps them with
dlpy's ops, so gradients reach the components and, through them, what made them). What torch
2.13 supports on this layout (CPU) is supported; anything else raises as torch's does:

    nt = dlpy.nested.nested_tensor([a, b])          # a (2, 3), b (4, 5)
    nt.to_padded_tensor(0.0)                        # (2, 4, 5)
    (nt * 2 + nt).relu().softmax(-1).unbind()
    nt @ nt.transpose(1, 2)                         # per component: (2, 2) and (4, 4)

Element-wise: + - * / with a nested tensor of the same sizes or a number (a 0-d tensor),
> >= == with a number, and abs / neg / sqrt / sin / cos / tanh / sgn / logical_not /
relu / gelu / silu (torch has no other unary kernel for it). Along dims: softmax (a non-batch
dim), sum(-1, keepdim=True), layer_norm over regular trailing dims with weight and bias;
linear (B, n, in) with a regular ``in``, matmul / bmm with a nested tensor; transpose,
reshape / view (the batch dim kept, -1 for the irregular dims), unsqueeze / squeeze (not the
batch dim), select / narrow / chunk where torch has them, masked_fill with a nested mask, dropout.

A view that torch leaves non-contiguous (transpose, narrow from a later component, select of
an inner dim, chunk) is flagged so: to_padded_tensor and the unary kernels refuse it until
``contiguous()``, as torch's.
"""

from __future__ import annotations

import operator

import numpy as np

from dlpy import functional as F
from dlpy.amp.dtypes import is_low_precision
from dlpy.device import OnCPU
from dlpy.masked.maskedtensor import ArithmeticOperators, CastMethods, OperandError
from dlpy.ops import ArgError, DimError
from dlpy.sparse_tensor import strided
from dlpy.tensor import Tensor, _comparable


class StridedOperandError(OperandError):
    """A strided nested tensor read as an array by a dense op (it has no shape to show)."""

    def __init__(self, tensor, what: str):
        TypeError.__init__(self, f"expected a dense tensor, got {what}: use its own ops or "
                                 f"to_padded_tensor() first")
        self.tensor = tensor


def _unsupported(name: str) -> NotImplementedError:
    """torch's refusal of an op without a kernel for the strided nested layout."""
    return NotImplementedError(f"Could not run '{name}' with a strided nested tensor: torch "
                               "has no kernel for it (NestedTensorCPU)")


# the unary element-wise functions torch has a NestedTensorCPU kernel for
UNARY = ("abs", "neg", "sqrt", "sin", "cos", "tanh", "sgn", "logical_not", "relu", "gelu",
         "silu")
# those of dlpy.masked.maskedtensor.UNARY (and a few more) that torch refuses
UNSUPPORTED = ("acos", "asin", "atan", "ceil", "cosh", "exp", "expm1", "floor", "log", "log1p",
               "log2", "log10", "sigmoid", "sign", "sinh", "tan", "trunc", "square", "erf",
               "round", "frac", "clamp", "reciprocal", "pow", "mean", "log_softmax", "max",
               "min", "amax", "amin", "prod", "permute", "flatten", "t", "unflatten")


class StridedNestedTensor(CastMethods, ArithmeticOperators, OnCPU):
    """A strided nested tensor (see the module's docstring); made by dlpy.nested's
    ``nested_tensor`` / ``as_nested_tensor`` (layout None or dlpy.strided) and its ops."""

    __array_ufunc__ = None  # ndarray (op) nested defers to the reflected method
    is_nested = True
    layout = strided
    __hash__ = object.__hash__

    def __init__(self, components, dtype, ndim: int, contiguous: bool = True):
        # trusted arguments: the constructors and the ops make these (ndim counts the batch dim)
        self._components = tuple(components)
        self._dtype, self._ndim, self._contiguous = dtype, ndim, contiguous

    def _like(self, components, contiguous: bool = True) -> StridedNestedTensor:
        """Other components of this kind (dtype and number of dims from them)."""
        components = tuple(components)
        dtype = components[0].dtype if components else self._dtype
        ndim = components[0].ndim + 1 if components else self._ndim
        return StridedNestedTensor(components, dtype, ndim, contiguous)

    # ------------------------------------------------------------- what it is
    @property
    def dtype(self):
        return self._dtype

    def dim(self) -> int:
        return self._ndim

    ndim = property(dim)

    def _sizes(self) -> list[tuple]:
        return [tuple(c.shape) for c in self._components]

    @property
    def shape(self):
        """Refused (``RuntimeError``), as torch's: the sizes are per component (size(d))."""
        raise ArgError("shape: a strided nested tensor has no sizes (its components' sizes "
                       "differ); use size(dim) or unbind()")

    def __len__(self) -> int:
        raise ArgError("len: a strided nested tensor has no sizes; use size(0)")

    def size(self, dim: int | None = None):
        """size(0): the number of components; size(d): the components' common size of dim d
        (``RuntimeError`` where they differ: an irregular dim, as torch's)."""
        if dim is None:
            return self.shape
        d = self._dim("size", dim)
        if d == 0:
            return len(self._components)
        sizes = {s[d - 1] for s in self._sizes()}
        if len(sizes) != 1:
            raise ArgError(f"Given dimension {dim} is irregular and does not have a size.")
        return sizes.pop()

    def numel(self) -> int:
        """The number of elements of all the components."""
        return int(sum(int(np.prod(s)) for s in self._sizes()))

    nelement = numel

    def element_size(self) -> int:
        return np.dtype(self._dtype).itemsize

    def is_floating_point(self) -> bool:
        return np.dtype(self._dtype).kind == "f" or is_low_precision(self._dtype)  # (bfloat16:
        # numpy's kind "V")

    def is_complex(self) -> bool:
        return np.dtype(self._dtype).kind == "c"

    def is_contiguous(self, memory_format=None) -> bool:
        """False for the views torch leaves non-contiguous (see the module's docstring)."""
        return self._contiguous

    def contiguous(self, memory_format=None) -> StridedNestedTensor:
        return self if self._contiguous else self._like(self._components)

    @property
    def requires_grad(self) -> bool:
        return any(c.requires_grad for c in self._components)

    @property
    def is_leaf(self) -> bool:
        """True unless the components come out of a graph (as_nested_tensor of tensors that
        take gradients, an op's result)."""
        return all(c.is_leaf for c in self._components)

    def requires_grad_(self, requires_grad: bool = True) -> StridedNestedTensor:
        for c in self._components:
            c.requires_grad_(requires_grad)
        return self

    @property
    def grad(self) -> StridedNestedTensor | None:
        """The gradient of a leaf (a nested tensor of its sizes), None before a backward."""
        grads = [c.grad for c in self._components]
        if all(g is None for g in grads):
            return None
        return self._like(Tensor(np.zeros(c.shape, c.dtype)) if g is None else Tensor(g.data)
                          for c, g in zip(self._components, grads))

    def backward(self, gradient=None, retain_graph=None) -> None:
        """Back-propagate ``gradient``, a nested tensor of these sizes (a nested tensor is no
        scalar, so it must be given)."""
        from dlpy.autograd import backward

        if not isinstance(gradient, StridedNestedTensor):
            raise ArgError("backward: a nested tensor needs a gradient, a nested tensor of its "
                           "sizes")
        self._same_sizes("backward", gradient)
        pairs = [(c, g) for c, g in zip(self._components, gradient._components)
                 if c.requires_grad]
        if not pairs:
            raise ArgError("element 0 of tensors does not require grad and does not have a "
                           "grad_fn")
        backward([c for c, _ in pairs], [g.detach() for _, g in pairs],
                 retain_graph=retain_graph)

    def detach(self) -> StridedNestedTensor:
        return self._like((c.detach() for c in self._components), self._contiguous)

    def clone(self, memory_format=None) -> StridedNestedTensor:
        return self._like((c.clone() for c in self._components), self._contiguous)

    def to(self, *args, **kwargs) -> StridedNestedTensor:
        """Each component's ``to(...)`` (self when nothing changes, as torch's); gradients
        flow back through a cast."""
        if not self._components:
            out = Tensor(np.zeros(0, self._dtype)).to(*args, **kwargs)
            return StridedNestedTensor((), out.dtype, self._ndim)
        components = [c.to(*args, **kwargs) for c in self._components]
        if all(n is c for n, c in zip(components, self._components)):
            return self
        self._need_contiguous("to")
        return self._like(components)

    def __array__(self, dtype=None, copy=None):
        raise StridedOperandError(self, "a strided nested tensor")

    def numpy(self):
        raise StridedOperandError(self, "a strided nested tensor")

    def tolist(self):
        raise StridedOperandError(self, "a strided nested tensor (unbind() gives its "
                                        "components)")

    def item(self):
        raise ArgError("item: a nested tensor cannot be converted to a Python number")

    def __bool__(self) -> bool:
        raise ArgError("bool: a nested tensor has no truth value")

    def __repr__(self) -> str:
        inner = "".join(f"\n  {c!r}," for c in self._components)
        return f"nested_tensor([{inner.rstrip(',')}\n])"

    # ------------------------------------------------------------- helpers
    def _dim(self, name: str, dim) -> int:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{name}: dim must be an int, got {dim!r}")
        if not -self._ndim <= dim < self._ndim:
            raise DimError(f"Dimension out of range (expected to be in range of "
                           f"[{-self._ndim}, {self._ndim - 1}], but got {dim})")
        return int(dim) % self._ndim

    def _inner_dim(self, name: str, dim) -> int:
        """The component dim of a dim that is not the batch dim (refused there)."""
        d = self._dim(name, dim)
        if d == 0:
            raise ArgError(f"{name}: not supported on the batch dim (0) of a nested tensor")
        return d - 1

    def _same_sizes(self, name: str, other: StridedNestedTensor) -> None:
        if self._sizes() != other._sizes():
            raise ArgError(f"{name} does not support broadcasting when given a NestedTensor "
                           f"(sizes {self._sizes()} and {other._sizes()})")

    def _need_contiguous(self, name: str) -> None:
        if not self._contiguous:
            raise ArgError(f"{name}: NestedTensor must be contiguous to get buffer (call "
                           "contiguous() first)")

    def _map(self, function, contiguous: bool = True) -> StridedNestedTensor:
        return self._like((function(c) for c in self._components), contiguous)

    # ------------------------------------------------------------- element-wise
    def _other(self, name: str, other):
        """The operand of component i: a nested tensor of these sizes (its components), a
        number or a 0-d tensor (torch refuses other dense ones)."""
        if isinstance(other, StridedNestedTensor):
            self._same_sizes(name, other)
            return other._components
        if getattr(type(other), "is_nested", False) is True:
            raise ArgError(f"{name}: nested tensors of different layouts (strided and "
                           f"{other.layout})")
        if isinstance(other, Tensor) and other.ndim != 0:
            raise ArgError(f"{name}: Expected both self and other to be nested, but got a "
                           "nested self and non-nested other")
        if not isinstance(other, (Tensor, int, float, bool, np.number)):
            raise TypeError(f"{name}: unsupported operand {type(other).__name__}")
        return (other,) * len(self._components)

    def _binary(self, name: str, function, other, reflected: bool = False):
        others = self._other(name, other)
        pairs = zip(self._components, others)
        out = [function(o, c) if reflected else function(c, o) for c, o in pairs]
        return self._like(out, self._contiguous)

    def __rsub__(self, other):
        raise _unsupported("aten::rsub.Scalar")

    def __rtruediv__(self, other):
        raise _unsupported("aten::reciprocal")

    def __pow__(self, other):
        raise _unsupported("aten::pow.Tensor_Scalar")

    def __floordiv__(self, other):
        raise _unsupported("aten::floor_divide")

    def __mod__(self, other):
        raise _unsupported("aten::remainder.Scalar")

    def __neg__(self):
        return self.neg()

    def add(self, other, *, alpha=1) -> StridedNestedTensor:
        """self + alpha * other, as torch.add."""
        return self._binary("add", lambda a, b: F.add(a, b, alpha=alpha), other)

    def sub(self, other, *, alpha=1) -> StridedNestedTensor:
        return self._binary("sub", lambda a, b: F.sub(a, b, alpha=alpha), other)

    pow = __pow__  # (the refusal, not ArithmeticOperators')

    def _compare(self, name: str, function, other):
        """A comparison with a number: a nested tensor of bools (torch has no kernel for two
        tensors)."""
        if isinstance(other, (Tensor, StridedNestedTensor)):
            raise _unsupported(f"aten::{name}.Tensor")
        return self._binary(name, function, other)

    def __gt__(self, other):
        return self._compare("gt", operator.gt, other)

    def __ge__(self, other):
        return self._compare("ge", operator.ge, other)

    def __lt__(self, other):
        raise _unsupported("aten::lt.Scalar")

    def __le__(self, other):
        raise _unsupported("aten::le.Scalar")

    def __ne__(self, other):
        if not (isinstance(other, StridedNestedTensor) or _comparable(other)):
            return NotImplemented
        raise _unsupported("aten::ne.Scalar")

    gt, ge, lt, le, ne = __gt__, __ge__, __lt__, __le__, __ne__

    def __eq__(self, other):
        if not (isinstance(other, StridedNestedTensor) or _comparable(other)):
            return NotImplemented  # anything but a tensor or a number: Python's identity
        if isinstance(other, StridedNestedTensor):
            raise ArgError("eq does not support nested tensor as other value.")
        return self._compare("eq", operator.eq, other)

    eq = __eq__

    def _inplace(self, name: str, other) -> StridedNestedTensor:
        """component.<name>(other) for each component (other as ``_binary`` takes it)."""
        for c, o in zip(self._components, self._other(name, other)):
            getattr(c, name)(o)
        return self

    def zero_(self) -> StridedNestedTensor:
        for c in self._components:
            c.zero_()
        return self

    def relu_(self) -> StridedNestedTensor:
        for c in self._components:
            c.relu_()
        return self

    def tanh_(self) -> StridedNestedTensor:
        for c in self._components:
            c.tanh_()
        return self

    def masked_fill(self, mask, value) -> StridedNestedTensor:
        """value where the nested boolean ``mask`` (of these sizes) is True; value a number
        (torch has no kernel for a tensor value)."""
        if not isinstance(mask, StridedNestedTensor):
            raise ArgError("masked_fill: Expected both self and other to be nested, but got a "
                           "nested self and non-nested other")
        self._same_sizes("masked_fill", mask)
        if isinstance(value, Tensor):
            raise _unsupported("aten::masked_fill.Tensor")
        return self._like(F.masked_fill(c, m, value)
                          for c, m in zip(self._components, mask._components))

    def dropout(self, p: float = 0.5, training: bool = True, inplace: bool = False):
        return self._map(lambda c: F.dropout(c, p, training, inplace))

    # ------------------------------------------------------------- linear maps
    def linear(self, weight, bias=None) -> StridedNestedTensor:
        """F.linear of each (n, in) component (a nested tensor of 3 dims, as torch's): the last
        dim must be regular and match weight's."""
        if self._ndim != 3 or weight.ndim != 2:
            raise ArgError(f"Linear requires nested_tensor.dim == 3 and dense_matrix.dim == 2."
                           f" Nested tensor dim: {self._ndim}. Dense tensor dim: {weight.ndim}")
        last = self.size(-1)
        if last != weight.shape[1]:
            raise ArgError(f"Shape mismatch for NestedTensor Linear: Expected input's (a "
                           f"nested tensor) 'last_dim' to equal 'weight.size(1), but got: "
                           f"last_dim = {last}, and weight.size(1) = {weight.shape[-1]}")
        return self._map(lambda c: F.linear(c, weight, bias))

    def matmul(self, other) -> StridedNestedTensor:
        """Component i @ other's component i (both nested, of at least 3 dims)."""
        if not isinstance(other, StridedNestedTensor):
            raise ArgError("matmul: Expected both to be nested, but got a nested self and "
                           "non-nested other")
        if len(other._components) != len(self._components):
            raise ArgError(f"matmul: Expected size for the 1st dimension of 2nd input tensor "
                           f"to be: {len(self._components)} but got: {len(other._components)}.")
        if self._ndim < 3 or other._ndim < 3:
            raise ArgError("matmul: For nested tensors, only inputs with >= 3 dims are "
                           "currently supported")
        for i, (a, b) in enumerate(zip(self._components, other._components)):
            if a.shape[-1] != b.shape[-2]:
                raise ArgError(f"matmul: Nested tensors cannot be matrix multiplied: "
                               f"component {i} is {tuple(a.shape)} @ {tuple(b.shape)}")
        return self._like(F.matmul(a, b) for a, b in zip(self._components, other._components))

    __matmul__ = matmul

    def bmm(self, mat2) -> StridedNestedTensor:
        """Component i (n, m) @ mat2's i-th (m, p): mat2 nested or a dense (B, m, p)."""
        if self._ndim != 3:
            raise ArgError("batch1 must be a 3D tensor")
        if isinstance(mat2, StridedNestedTensor):
            others = mat2._components
            if mat2._ndim != 3:
                raise ArgError("batch2 must be a 3D tensor")
        elif isinstance(mat2, Tensor) and mat2.ndim == 3:
            others = mat2.unbind(0)
        else:
            raise ArgError("bmm: expected a nested or a dense 3-D mat2")
        if len(others) != len(self._components):
            raise ArgError(f"bmm: expected {len(self._components)} matrices in mat2, got "
                           f"{len(others)}")
        for i, (a, b) in enumerate(zip(self._components, others)):
            if a.shape[-1] != b.shape[0]:
                raise ArgError(f"{i}-th nested matrices in batch cannot be multiplied "
                               f"({a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
        return self._like(F.matmul(a, b) for a, b in zip(self._components, others))

    # ------------------------------------------------------------- along a dim
    def softmax(self, dim=-1, dtype=None) -> StridedNestedTensor:
        """F.softmax of each component along a dim that is not the batch dim."""
        if self._dim("softmax", dim) == 0:
            raise ArgError(f"Cannot apply softmax across nested dimension {dim}")
        axis = self._dim("softmax", dim) - 1
        source = self if dtype is None else self.to(dtype)
        return source._map(lambda c: F.softmax(c, axis))

    def sum(self, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A003
        """Over the last dim with keepdim=True only (what torch supports)."""
        if dim is None:
            raise _unsupported("aten::sum")
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        if len(dims) != 1:
            raise ArgError("NestedTensor only allows reduction of a single dimension for now.")
        d = self._dim("sum", dims[0])
        if d != self._ndim - 1:
            raise ArgError(f"NestedTensor can only be reduced across the last dimension for "
                           f"now got dimension {dims[0]} instead.")
        if not keepdim:
            raise ArgError("NestedTensor always requires keepdim=True for now.")
        if dtype is not None:
            raise ArgError("NestedTensor does not support dtype argument for now.")
        return self._map(lambda c: F.sum(c, dim=-1, keepdim=True))

    def layer_norm(self, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
        """Over trailing regular dims; torch needs weight and bias."""
        if weight is None or bias is None:
            raise ValueError("NestedTensor layer_norm requires weight and bias")
        shape = (normalized_shape,) if isinstance(normalized_shape, int) \
            else tuple(normalized_shape)
        for k in range(1, len(shape) + 1):
            sizes = {s[-k] if len(s) >= k else None for s in self._sizes()}
            if len(sizes) != 1:
                raise ArgError("normalized_shape extends into irregular dimensions for the "
                               "nested tensor")
        return self._map(lambda c: F.layer_norm(c, shape, weight, bias, eps))

    # ------------------------------------------------------------- shape
    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The components (graph nodes: gradients flow back)."""
        if dim != 0:
            raise ArgError(f"NestedTensor can only be unbound along dimension 0 got dimension "
                           f"{dim} instead.")
        return self._components

    def select(self, dim: int, index: int):
        """Component ``index`` (dim 0) or index ``index`` of an inner dim of each component
        (a non-contiguous nested tensor)."""
        d = self._dim("select", dim)
        if d == 0:
            return self[index]
        for i, c in enumerate(self._components):
            n = c.shape[d - 1]
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of bounds for dimension {d - 1} of the "
                                 f"{i}th constituent tensor with size {n}")
        return self._map(lambda c: c.select(d - 1, index), contiguous=False)

    def __getitem__(self, index):
        """``nt[i]``: component i, ``nt[i, ...]`` indexes it further; ``nt[..., k]`` selects
        the last dim; torch has no kernel for slices of a nested tensor."""
        if isinstance(index, Tensor) and index.ndim == 0 and index.dtype.kind in "iu":
            index = int(index.item())
        items = index if isinstance(index, tuple) else (index,)
        first = items[0] if items else None
        if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
            n = len(self._components)
            if not -n <= first < n:
                raise DimError(f"index {first} is out of bounds for dimension 0 with size {n}")
            component = self._components[first]
            return component[items[1:]] if len(items) > 1 else component
        if len(items) == 2 and first is Ellipsis and isinstance(items[1], (int, np.integer)):
            return self.select(-1, items[1])
        if first is None or isinstance(first, bool):
            raise ArgError("unsqueeze(): For nested tensors, unsqueezing dimension 0 is not "
                           "supported at the moment")
        raise _unsupported("aten::slice.Tensor / aten::index.Tensor")

    def transpose(self, dim0, dim1) -> StridedNestedTensor:
        """Two non-batch dims swapped (a non-contiguous view; swapping back restores it)."""
        d0, d1 = self._dim("transpose", dim0), self._dim("transpose", dim1)
        if 0 in (d0, d1):
            raise ArgError("Nested tensor dimension 0 cannot be transposed")
        if d0 == d1:
            return self._map(lambda c: c, self._contiguous)
        return self._map(lambda c: c.transpose(d0 - 1, d1 - 1), not self._contiguous)

    @property
    def mT(self) -> StridedNestedTensor:  # noqa: N802 - torch's name
        return self.transpose(-2, -1)

    def reshape(self, *shape) -> StridedNestedTensor:
        """(B, *new): the batch dim given as B, each other dim a size every component takes
        or -1 (the component's own, in order)."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) \
            else tuple(shape)
        if not shape or shape[0] != len(self._components):
            raise ArgError("reshape: For now nested reshape cannot change or infer the "
                           "implicit batch dimension")
        out = []
        for c in self._components:
            sizes, inferred, k = [], [], 0
            for n in shape[1:]:
                sizes.append(n if n != -1 else (c.shape[k] if k < c.ndim else 0))
                inferred.append(n == -1)
                k += 1
            if int(np.prod(sizes)) != int(np.prod(c.shape)) or any(
                    flag and k >= c.ndim for k, flag in enumerate(inferred)):
                raise ArgError(f"shape '{list(shape)}' is invalid for input of size "
                               f"{int(np.prod(c.shape))}")
            out.append(c.reshape(tuple(sizes)))
        return self._like(out)

    view = reshape

    def unsqueeze(self, dim: int) -> StridedNestedTensor:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) \
                or not -self._ndim - 1 <= dim <= self._ndim:
            raise DimError(f"Dimension out of range (expected to be in range of "
                           f"[{-self._ndim - 1}, {self._ndim}], but got {dim})")
        d = int(dim) % (self._ndim + 1)
        if d == 0:
            raise ArgError("unsqueeze(): For nested tensors, unsqueezing dimension 0 is not "
                           "supported at the moment")
        return self._map(lambda c: c.unsqueeze(d - 1), self._contiguous)

    def squeeze(self, dim=None) -> StridedNestedTensor:
        """Dim ``dim`` removed where every component has size 1 there (else unchanged)."""
        if dim is None:
            raise ArgError("squeeze(): For nested tensors, squeeze without the dim argument is "
                           "not supported at the moment")
        d = self._dim("squeeze", dim)
        if d == 0:
            raise ArgError("squeeze(): For nested tensors, squeezing dimension 0 is not "
                           "supported at the moment")
        if any(s[d - 1] != 1 for s in self._sizes()):
            return self._map(lambda c: c, self._contiguous)
        return self._map(lambda c: c.squeeze(d - 1), self._contiguous)

    def narrow(self, dim: int, start: int, length: int) -> StridedNestedTensor:
        """Components start .. start + length - 1 (dim 0 only, as torch's)."""
        if self._dim("narrow", dim) != 0:
            raise ArgError(f"narrow(): only dim=0 supported for nested tensors, but got: {dim}")
        n = len(self._components)
        begin = start + n if start < 0 else start
        if not 0 <= begin <= n or length < 0 or begin + length > n:
            raise ArgError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self._like(self._components[begin:begin + length],
                          self._contiguous and begin == 0)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[StridedNestedTensor, ...]:
        """``chunks`` pieces of the last dim (regular), each a non-contiguous view."""
        if self._dim("chunk", dim) != self._ndim - 1:
            raise ArgError("Chunk for nested tensors is currently only supported for the last "
                           "dimension.")
        self.size(-1)  # regular, or torch's error
        pieces = [F.chunk(c, chunks, -1) for c in self._components]
        return tuple(self._like((p[k] for p in pieces), len(pieces[0]) == 1)
                     for k in range(len(pieces[0]) if pieces else 0))

    def to_padded_tensor(self, padding, output_size=None) -> Tensor:
        return to_padded_tensor(self, padding, output_size)

    # dlpy.functional's functions that take a nested tensor (its __dlpy_function__ hook)
    @classmethod
    def __dlpy_function__(cls, name: str, input, *args, **kwargs):
        if name in ("softmax", "log_softmax") and "axis" in kwargs:
            kwargs["dim"] = kwargs.pop("axis")
        if name in _METHODS:
            return getattr(input, name)(*args, **kwargs)
        if name in UNSUPPORTED:
            raise _unsupported(f"aten::{name}")
        raise NotImplementedError(f"{name}: not supported on a strided nested tensor "
                                  "(dlpy.nested.strided's docstring lists the ops)")


_METHODS = {"linear", "softmax", "matmul", "add", "sub", "mul", "div", "sum", "bmm", "unbind",
            "layer_norm", "dropout", "masked_fill", "transpose", "reshape", "select",
            "narrow", "chunk", "squeeze", "unsqueeze"} | set(UNARY)


def _attach_unary(name: str) -> None:
    function = getattr(F, name) if hasattr(F, name) else getattr(operator, name)

    def method(self, *args, **kwargs):
        self._need_contiguous(name)
        return self._map(lambda c: function(c, *args, **kwargs))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"dlpy.functional.{name} of each component."
    setattr(StridedNestedTensor, name, method)


for _name in UNARY:
    _attach_unary(_name)
def _attach_refusal(name: str) -> None:
    def method(self, *args, **kwargs):
        raise _unsupported(f"aten::{name}")

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Refused (NotImplementedError): torch has no strided nested {name}."
    setattr(StridedNestedTensor, name, method)


for _name in UNSUPPORTED:
    if not hasattr(StridedNestedTensor, _name):
        _attach_refusal(_name)
del _name


def to_padded_tensor(input: StridedNestedTensor, padding, output_size=None) -> Tensor:
    """(B, *max sizes): each component padded after its end with ``padding`` (cast to the
    dtype); ``output_size`` (one size per dim, none smaller) pads further, also with more
    components of padding only."""
    if not input._contiguous:
        raise ArgError("to_padded_tensor: for now to_padded_tensor only supports contiguous "
                       "nested tensor")
    sizes = input._sizes()
    if sizes and not sizes[0]:
        raise ArgError("to_padded_tensor: the components are 0-d (sizes_size_1 > 0)")
    inner = tuple(max(s[k] for s in sizes) for k in range(input._ndim - 1)) if sizes else ()
    natural = (len(sizes),) + inner
    if output_size is not None:
        output_size = tuple(int(n) for n in output_size)
        if len(output_size) != input._ndim:
            raise ArgError("Length of output_size does not match NestedTensor dims. "
                           "Broadcasting is not supported.")
        if any(o < n for o, n in zip(output_size, natural)):
            raise ArgError("Value in output_size is less than NestedTensor padded size. "
                           "Truncation is not supported.")
    else:
        output_size = natural
    dtype = input._dtype
    value = np.array(padding).astype(dtype).item()
    padded = []
    for c in input._components:
        widths = []
        for have, want in zip(reversed(c.shape), reversed(output_size[1:])):
            widths += [0, want - have]
        padded.append(F.pad(c, widths, value=value) if any(widths) else c)
    extra = output_size[0] - len(padded)
    if extra or not padded:
        padded += [Tensor(np.full(output_size[1:], value, dtype))] * extra
    if not padded:
        return Tensor(np.zeros(output_size, dtype))
    return F.stack(padded, 0)
