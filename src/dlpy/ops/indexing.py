"""Indexing by integer arrays along one axis: gather, index_select, scatter, scatter_add (and
take_along_dim, repeat_interleave on top), and sorting: sort, argsort, topk. Values move, so
backward moves (or adds) the gradient back to where each value came from.

Indices are PyTorch's: non-negative (an index of -1 is an error, not the last position), any
integer dtype in (a numpy array, a list or an integer Tensor); indices that come out are int64.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from dlpy import meta as _meta
from dlpy.amp.dtypes import _torch_name as torch_dtype_name
from dlpy.amp.dtypes import check_float8, is_low_precision
from dlpy.amp.state import PROMOTE, autocast_policy
from dlpy.layouts import cloned_layout, iterator_layout
from dlpy.node_names import named, rename
from dlpy.ops import (
    ArgDtypeError,
    ArgError,
    DimError,
    NoKernelError,
    check_dim,
    index_values,
    int_of,
)
from dlpy.ops.complex import refuse, refuse_complex_grad
from dlpy.ops.rearrange import expand
from dlpy.ops.shape import _INDEX_DTYPES, GetItem, reshape, scalar_copy
from dlpy.return_types import structseq_repr
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Op, ShapeError, Tensor, as_array, is_floating_dtype


class IndexDtypeError(TypeError, RuntimeError):
    """An index tensor of the wrong dtype (gather, scatter, index_add, ...): torch's
    RuntimeError, and a TypeError as dlpy's dtype errors are."""


class IndexShapeError(ValueError, IndexError):
    """An index that does not fit where torch says IndexError (index_select's 2-D index,
    index_copy's and index_fill's out-of-range values): a ValueError, and torch's IndexError."""


class IndexRangeError(IndexShapeError, ArgError):
    """An index that does not fit where torch's error is IndexError for some ops and
    RuntimeError for others (out-of-range values of index_select, index_add, index_reduce:
    IndexError; index_fill's 2-D index: RuntimeError): an IndexShapeError and an ArgError."""


class IndexNoneError(TypeError, IndexError):
    """A None among index_put's indices: torch's TypeError (its signature takes tensors), and
    the IndexError dlpy raised for it before."""


class IndexKernelError(IndexDtypeError, NotImplementedError):
    """repeat_interleave's repeats of a float dtype: an IndexDtypeError, and torch's
    NotImplementedError ("not implemented for 'Float'")."""


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def _index_array(name: str, index, what: str = "index") -> np.ndarray:
    """A numpy array of integers from an array, a list, a number or a Tensor (no gradient)."""
    array = np.asarray(index_values(index) if isinstance(index, Tensor) else index)
    if array.dtype.kind not in "iu":
        error = IndexKernelError if name == "repeat_interleave" else IndexDtypeError
        raise error(f"{name}: {what} must hold integers, got dtype {array.dtype}")
    return array


def _vector_index(name: str, index) -> None:
    """torch's IndexError for an index tensor of more than one axis (checked before its
    dtype)."""
    if isinstance(index, Tensor) and index.ndim > 1:
        raise IndexShapeError(f"{name}(): Index is supposed to be a vector (of at most one "
                              f"axis), got shape {tuple(index.shape)}")


def _check_source(name: str, x, source) -> None:
    """torch writes a source tensor only into an x of its own dtype (no cast)."""
    if isinstance(source, Tensor) and source.dtype != as_array(x).dtype:
        raise ArgDtypeError(f"{name}: source must have x's dtype {as_array(x).dtype}, got "
                        f"{source.dtype}")


def _check_range(name: str, index: np.ndarray, size: int, dim: int) -> None:
    if index.size and not _meta.valueless(index) and (index.min() < 0 or index.max() >= size):
        bad = index.min() if index.min() < 0 else index.max()
        error = (IndexShapeError if name in ("index_copy", "index_fill") else IndexRangeError
                 if name in ("index_select", "index_add", "index_reduce") else ArgError)
        raise error(f"{name}: index {bad} is out of range for dim {dim} of size {size} "
                         f"(expected 0 <= index < {size})")


def _positions(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """The numpy index that reads, for each element of ``index``, the value at that element's own
    position on every axis but ``dim`` and at ``index`` on ``dim`` (torch.gather's rule)."""
    ndim = index.ndim
    where = [np.arange(n).reshape((n,) + (1,) * (ndim - 1 - i)) for i, n in enumerate(index.shape)]
    where[dim] = index
    return tuple(where)


def _leading(shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The first shape[d] positions of every axis: the part of src that index covers."""
    return tuple(slice(n) for n in shape)


class Gather(Op):
    """y[i, j] = x[i, index[i, j]] for dim 1 (any rank, any dim), as torch.gather;
    dx = zeros with g added at the gathered positions (repeats accumulate)."""

    complex_ok = True  # values move: linear with real coefficients
    saves = (0,)  # torch's gather saves x (dlpy's backward needs only its shape)
    node_name = "GatherBackward0"  # torch's grad_fn name (sort, topk, cummax, ... give theirs)

    def __init__(self, dim: int, index: np.ndarray, node_name: str | None = None,
                 sparse: bool = False):
        self.dim, self.index, self.sparse = dim, index, sparse
        if node_name is not None:
            self.node_name = node_name
            # sort, topk, max(dim), kthvalue...: torch's node saves the indices, not x, so x
            # may change in place after it (gather's saves x)
            self.saves = ()

    def forward(self, x):
        self.shape = x.shape
        # row-major whatever the index's layout (numpy's fancy indexing follows a transposed
        # index's), as torch's gather writes a new contiguous tensor
        out = x[_positions(self.index, self.dim)]
        return out if out.flags.c_contiguous else out.copy(order="C")

    def backward(self, grad_output):
        where = _positions(self.index, self.dim)
        if self.sparse:  # sparse_grad: only the rows (axis 0) that were read
            rows, inverse = np.unique(np.broadcast_to(where[0], self.index.shape),
                                      return_inverse=True)
            values = np.zeros((rows.size,) + self.shape[1:], dtype=grad_output.dtype)
            np.add.at(values, (inverse.reshape(self.index.shape),) + where[1:], grad_output)
            return (SparseGrad(rows, values, self.shape),)
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        _add_at(grad, where, grad_output)  # torch's scatter_add
        return (grad,)

    def backward_graph(self, grad_output, output):
        zeros = Tensor(np.zeros(self.shape, dtype=grad_output.dtype))
        return (ScatterAdd(self.dim, self.index)(zeros, grad_output),)


class IndexSelect(Op):
    """y = x at the positions index (1-D) along dim;  dx = zeros with g added back there
    (repeats accumulate)."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, dim: int, index: np.ndarray):
        self.dim, self.index = dim, index

    def forward(self, x):
        self.shape = x.shape
        return np.take(x, self.index, axis=self.dim)

    def backward(self, grad_output):
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        np.add.at(np.moveaxis(grad, self.dim, 0), self.index, np.moveaxis(grad_output, self.dim, 0))
        return (grad,)

    def backward_graph(self, grad_output, output):
        return (add_at(self.shape, self.dim, self.index, grad_output),)


def _add_at(target: np.ndarray, where, values: np.ndarray, wide: bool = True) -> None:
    """np.add.at(target, where, values) (repeats accumulate); ``wide``: float16/bfloat16 in a
    float32 accumulator rounded once, as torch's CPU scatter_add (index_add and index_put round
    each add: np.add.at itself, wide=False)."""
    if not wide or not is_low_precision(target.dtype):
        np.add.at(target, where, values)
        return
    total = target.astype(np.float32)
    np.add.at(total, where, values.astype(np.float32))
    target[...] = total


class ScatterAdd(Op):
    """y = x with src[i, j] added at y[i, index[i, j]] for dim 1 (repeats accumulate), as
    torch.scatter_add;  dx = g, dsrc = g read back at those positions (0 where src is past
    index's shape). float16/bfloat16 add up in float32 (``wide``, torch's scatter_add) or in
    their own dtype, rounding each add (torch's index_add)."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, dim: int, index: np.ndarray, wide: bool = True):
        self.dim, self.index, self.wide = dim, index, wide

    def forward(self, x, src):
        self.src_shape = src.shape
        y = x.copy()
        _add_at(y, _positions(self.index, self.dim), src[_leading(self.index.shape)], self.wide)
        return y

    def backward(self, grad_output):
        return grad_output, _src_grad(self, grad_output)

    def backward_graph(self, grad_output, output):
        return grad_output, _src_grad_graph(self, grad_output)


def _src_grad(op, grad_output):
    """Gradient of scatter's src: g at the written positions, zeros where index does not reach."""
    if not op.inputs[1].requires_grad:
        return None
    read = grad_output[_positions(op.index, op.dim)]
    if read.shape == op.src_shape:
        return read
    grad = np.zeros(op.src_shape, dtype=grad_output.dtype)
    grad[_leading(op.index.shape)] = read
    return grad


def _src_grad_graph(op, grad_output):
    """``_src_grad`` with dlpy ops (create_graph): a Gather, zero-padded up to src's shape."""
    if not op.inputs[1].requires_grad:
        return None
    from dlpy.ops.pad import Pad  # pad's backward_graph uses add_at

    read = Gather(op.dim, op.index)(grad_output)
    if read.shape == op.src_shape:
        return read
    return Pad(tuple((0, n - i) for i, n in zip(op.index.shape, op.src_shape)), "constant",
               0.0)(read)


def add_at(shape: tuple[int, ...], dim: int, index: np.ndarray, values: Tensor) -> Tensor:
    """Zeros of ``shape`` with values[..., j, ...] added at position index[j] of dim (repeats
    add up, rounding each add as torch's index_add): the gradient of ``np.take(x, index,
    axis=dim)`` as a recorded ScatterAdd."""
    where = [1] * values.ndim
    where[dim] = -1
    full = np.broadcast_to(index.reshape(where), values.shape)
    return ScatterAdd(dim, full, wide=False)(Tensor(np.zeros(shape, dtype=values.dtype)), values)


class Scatter(Op):
    """y = x with y[i, index[i, j]] = src[i, j] for dim 1 (or = value, a number), as
    torch.scatter; dx = g where nothing was written (0 there), dsrc = g at the written positions.
    With repeated positions one of the writes wins (numpy's choice; PyTorch's is undefined)."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, dim: int, index: np.ndarray, value: float | complex | None = None):
        self.dim, self.index, self.value = dim, index, value

    def forward(self, x, src=None):
        y = x.copy()
        where = _positions(self.index, self.dim)
        if src is None:
            y[where] = self.value
        else:
            self.src_shape = src.shape
            y[where] = src[_leading(self.index.shape)]
        return y

    def backward(self, grad_output):
        grad = None
        if self.inputs[0].requires_grad:
            grad = grad_output.copy()
            grad[_positions(self.index, self.dim)] = 0
        if self.value is not None:
            return (grad,)
        return grad, _src_grad(self, grad_output)

    def backward_graph(self, grad_output, output):
        grad = None
        if self.inputs[0].requires_grad:
            kept = np.ones(grad_output.shape, dtype=grad_output.dtype)
            kept[_positions(self.index, self.dim)] = 0
            grad = grad_output * kept
        if self.value is not None:
            return (grad,)
        return grad, _src_grad_graph(self, grad_output)


def _check_index(name: str, x, dim, index, src_shape=None):
    """PyTorch's rules for gather/scatter: index has x's number of axes and is no larger than x
    on every axis but dim (and no larger than src on every axis); values in [0, size of dim)."""
    shape = _shape_of(x)
    index = _index_array(name, index)
    if not shape:
        raise ValueError(f"{name}: x must have at least one axis, got a tensor of shape ()")
    dim = check_dim(name, dim, len(shape))
    if index.ndim != len(shape):
        raise ArgError(f"{name}: index must have as many axes as x ({len(shape)}), got index "
                         f"of shape {index.shape} for x of shape {shape}")
    if any(i > n for d, (i, n) in enumerate(zip(index.shape, shape)) if d != dim):
        raise ArgError(f"{name}: index of shape {index.shape} must be no larger than x "
                         f"{shape} on every axis but dim {dim}")
    if src_shape is not None and (len(src_shape) != index.ndim
                                  or any(i > n for i, n in zip(index.shape, src_shape))):
        raise ArgError(f"{name}: index of shape {index.shape} must be no larger than src "
                         f"{src_shape} on every axis")
    _check_range(name, index, shape[dim], dim)
    return dim, index


def gather(input: Tensor, dim: int, index, *, sparse_grad: bool = False) -> Tensor:
    """torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim 1, out of index's shape.
    index (int64 or int32) has x's number of axes and is no larger than x on the other axes.
    sparse_grad: x's gradient is a SparseGrad over the rows read (dlpy.sparse_grad)."""
    if isinstance(index, Tensor) and index.dtype not in (np.int64, np.int32):
        raise IndexDtypeError("gather(): Expected dtype int32/int64 for index")
    index = _index_array("gather", index)
    if index.ndim <= 1 and len(_shape_of(input)) <= 1 and 0 in (index.ndim, len(_shape_of(input))):
        # a 0-d x or index counts as 1-D, as torch's
        dim, flat = _check_index("gather", reshape(input, (-1,)), dim, index.reshape(-1))
        return reshape(Gather(dim, flat, sparse=sparse_grad)(reshape(input, (-1,))), index.shape)
    given = dim
    dim, index = _check_index("gather", input, dim, index)
    op = Gather(dim, index, sparse=bool(sparse_grad))
    if given != dim:  # (torch's backward shows dim as given: TorchDispatchMode)
        op.given_dim = given
    return op(input)


def take_along_dim(input: Tensor, indices, dim: int | None = None) -> Tensor:
    """torch.take_along_dim: ``gather`` with x and indices broadcast on every axis but dim;
    dim None reads the flattened x at the flattened indices (a 1-D result). With a dim the
    indices are taken modulo its size (-1 the last, size the first), without one an index
    out of [0, numel) is an error, as PyTorch 2.13's."""
    given = indices
    indices = _index_array("take_along_dim", indices, "indices")
    if indices.dtype != np.int64 and (dim is not None or indices.dtype != np.int32):
        # torch's: int32 only without a dim (the flattened read)
        raise IndexDtypeError(f"take_along_dim: indices must be int64 (Long), got {indices.dtype}")
    if dim is None:
        # torch flattens both with view(-1): memory a view cannot flatten (x.t()) is its
        # RuntimeError, for x and for the indices
        for tensor in (input, given):
            if isinstance(tensor, Tensor):
                tensor.view(-1)
        input, indices = reshape(input, (-1,)), indices.reshape(-1)
        dim, indices = _check_index("take_along_dim", input, 0, indices)
        return Gather(dim, indices)(input)
    shape = _shape_of(input)
    if indices.ndim != len(shape):
        raise ShapeError(f"take_along_dim: x and indices need the same number of axes, got "
                         f"{shape} and {indices.shape}")
    dim = check_dim("take_along_dim", dim, len(shape))
    others = [tuple(1 if d == dim else n for d, n in enumerate(s))
              for s in (shape, indices.shape)]
    try:
        common = list(np.broadcast_shapes(*others))
    except ValueError:
        raise ShapeError(f"take_along_dim: x {shape} and indices {indices.shape} cannot be "
                         f"broadcast together on the axes other than dim {dim}") from None
    x_shape = tuple(common[:dim] + [shape[dim]] + common[dim + 1:])
    if x_shape != shape:
        input = expand(input, *x_shape)
    indices = np.broadcast_to(indices, tuple(common[:dim] + [indices.shape[dim]] +
                                             common[dim + 1:]))
    if indices.size:
        # torch 2.13 takes the indices modulo the size of dim (torch.remainder's sign): -1 is
        # the last, and one past the end wraps to the first rather than raising
        if not shape[dim]:
            raise ArgError(f"take_along_dim: indices into dim {dim} of size 0 (taken modulo "
                           f"the size: ZeroDivisionError)")
        indices = np.mod(indices, shape[dim])
    dim, indices = _check_index("take_along_dim", input, dim, indices)
    return Gather(dim, indices)(input)


def index_select(input: Tensor, dim: int, index) -> Tensor:
    """torch.index_select: x at the positions index (1-D, or a single number) along dim."""
    shape = _shape_of(input)
    _vector_index("index_select", index)
    if isinstance(index, Tensor) and index.dtype not in (np.int64, np.int32):
        raise IndexDtypeError("index_select(): Expected dtype int32 or int64 for index")
    index = _index_array("index_select", index)
    if index.ndim > 1:
        raise IndexShapeError(f"index_select: index must be 1-D, got shape {index.shape}")
    if not shape:  # torch: a scalar is read as one element, by an index of one value
        check_dim("index_select", dim, 1)
        if index.size != 1:
            raise ArgError(f"index_select: an index into a scalar must have one value, got "
                           f"{index.size}")
        _check_range("index_select", index, 1, dim)
        from dlpy.node_names import named  # (torch's one node, IndexSelectBackward0)

        return named(reshape(IndexSelect(0, index.reshape(-1))(reshape(input, (1,))), ()),
                     "IndexSelectBackward0")
    given, dim = dim, check_dim("index_select", dim, len(shape))
    _check_range("index_select", index, shape[dim], dim)
    op = IndexSelect(dim, index.reshape(-1))
    if given != dim:  # (torch's backward shows dim as given: TorchDispatchMode)
        op.given_dim = given
    return op(input)


def scatter_add(input: Tensor, dim: int, index, src) -> Tensor:
    """torch.scatter_add: x with src[i][j] added at [i][index[i][j]] for dim 1, repeats adding
    up (float16/bfloat16 in float32, rounded once, as torch's); index no larger than src on any
    axis, nor than x on the axes other than dim. Gradients reach x and src (also where src is
    larger than index, which PyTorch's backward refuses)."""
    return _scatter_add(input, dim, index, src, wide=True)


def _scatter_add(input: Tensor, dim: int, index, src, wide: bool) -> Tensor:
    """scatter_add; ``wide`` False: float16/bfloat16 round each add (index_add's)."""
    _check_scatter_index(index)
    if not _shape_of(input) and isinstance(input, Tensor):
        return _scalar_scatter(scatter_add, input, dim, index, src)
    dim, index = _check_index("scatter_add", input, dim, index, _shape_of(src))
    _check_source("scatter_add", input, src)
    _check_complex_src("scatter_add", input, src)
    return ScatterAdd(dim, index, wide)(input, src)


def _named(out: Tensor, name: str) -> Tensor:
    """out, its recorded node named ``name``: torch's node for the composite that made it
    (index_add's IndexAddBackward0, built here from scatter_add)."""
    if out.op is not None:
        rename(out.op, name)
    return out


def _scalar_scatter(fn, input, dim, index, src, **kwargs):
    """scatter/scatter_add of a 0-d x: read as one element (torch's), the result 0-d again."""
    check_dim(fn.__name__, dim, 1)
    from dlpy.node_names import named, torch_name

    if isinstance(src, Tensor):
        src = reshape(src, (-1,))
    inner = fn(reshape(input, (1,)), 0, _index_array(fn.__name__, index).reshape(-1), src,
               **kwargs)
    out = reshape(inner, ())
    if inner.op is not None:  # torch's one node (ScatterBackward0, ScatterAddBackward0...)
        named(out, torch_name(inner.op))
    return out


def scatter(input: Tensor, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """torch.scatter: x with [i][index[i][j]] set to src[i][j] for dim 1 (src a tensor), or to
    ``value`` (a number or a 0-d tensor; also accepted in src's place). Repeated positions: one
    write wins.
    ``reduce`` (torch's older form of scatter_reduce): "add" adds src (or value) into x at
    each position, "multiply" multiplies it in, repeated positions accumulating; with a
    gradient (torch's has none)."""
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor) and value (a number)")
    if isinstance(value, Tensor) and not value.ndim:  # a 0-d tensor is a number to torch
        value = value.item()
    numbers = (int, float, complex, np.integer, np.floating, np.complexfloating)
    if value is None and isinstance(src, numbers):
        src, value = None, src
    _check_scatter_index(index)
    if not _shape_of(input) and isinstance(input, Tensor):
        return _scalar_scatter(scatter, input, dim, index, src, value=value, reduce=reduce)
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise ArgError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        if value is not None:
            if not isinstance(value, numbers):  # a bool is a number to torch (True -> 1)
                raise TypeError(f"scatter: value must be a number, got {value!r}")
            value = _real_value("scatter", value, as_array(input).dtype)
            src = np.full(np.shape(as_array(index)), value, dtype=as_array(input).dtype)
        if reduce == "add":
            return scatter_add(input, dim, index, src)
        return reduced_into(input, dim, index, src, "prod")
    if value is not None:
        if not isinstance(value, numbers):
            raise TypeError(f"scatter: value must be a number, got {value!r}")
        dim, index = _check_index("scatter", input, dim, index)
        value = _real_value("scatter", value, as_array(input).dtype)
        if isinstance(value, (complex, np.complexfloating)):
            return _named(Scatter(dim, index, complex(value))(input), "ScatterBackward1")
        dtype = as_array(input).dtype
        if dtype.kind in "biu":  # torch's checked conversion: -2 wraps into uint8, 300 refused
            from dlpy.ops.mask import _check_fits

            _check_fits("scatter", value, dtype)
            return _named(Scatter(dim, index, np.array(value).astype(dtype)[()])(input),
                          "ScatterBackward1")
        return _named(Scatter(dim, index, float(value))(input), "ScatterBackward1")
    dim, index = _check_index("scatter", input, dim, index, _shape_of(src))
    _check_source("scatter", input, src)
    _check_complex_src("scatter", input, src)
    return Scatter(dim, index)(input, src)


def _real_value(name: str, value, dtype: np.dtype):
    """A complex scalar written into a tensor of real ``dtype`` as torch's checked conversion
    takes it: its real part when the imaginary part is 0, else the overflow error."""
    if not isinstance(value, (complex, np.complexfloating)) or dtype.kind == "c":
        return value
    if value.imag != 0:
        raise ArgError(f"{name}: value {value!r} cannot be converted to type {dtype} "
                       "without overflow")
    return value.real


def _check_scatter_index(index) -> None:
    """torch's scatter/scatter_add take an index tensor of int64 or int32 only."""
    if isinstance(index, Tensor) and index.dtype not in (np.int64, np.int32):
        raise IndexDtypeError(f"scatter(): Expected dtype int32/int64 for index, got {index.dtype}")


def _check_complex_src(name: str, x, src) -> None:
    """A complex src needs a complex x (numpy would drop its imaginary part writing it)."""
    x_dtype, src_dtype = (as_array(v).dtype for v in (x, src))
    if src_dtype.kind == "c" and x_dtype.kind != "c":
        raise TypeError(f"{name}: x and src must both be complex, got {x_dtype} and "
                        f"{src_dtype}")


def repeat_interleave(input: Tensor | None = None, repeats=None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """torch.repeat_interleave: each value along dim repeated ``repeats`` times in place
    ([a, b] -> [a, a, b, b]); repeats an int or one count per position (a 1-D integer array);
    dim None works on the flattened x. index_select with a repeated index, so repeats add up in
    backward. Without repeats, x holds the counts of 0, 1, 2, ... ([2, 0, 1] -> [0, 0, 2]), as
    does ``repeats=`` alone (torch's one-argument overload's keyword)."""
    if input is None:
        if repeats is None:
            raise TypeError("repeat_interleave() missing required argument 'repeats'")
        input, repeats = repeats, None  # noqa: A001
    if _meta.holds_meta(repeats) and _meta.holds_meta(input):  # no counts to read
        if output_size is None:
            raise RuntimeError("cannot repeat_interleave a meta tensor without output_size")
        from dlpy.device import meta_array

        if dim is None:
            input, dim = reshape(input, (-1,)), 0  # noqa: A001
        return IndexSelect(check_dim("repeat_interleave", dim, input.ndim),
                           meta_array((int(output_size),), np.int64))(input)
    if isinstance(repeats, Tensor) and _meta.holds_meta(input):  # torch reads the counts
        _meta.refuse_values(input, "numpy")
    if repeats is None:
        counts = _index_array("repeat_interleave", input, "repeats")
        if counts.ndim != 1:
            raise ArgError(f"repeat_interleave: repeats must be 1-D, got shape {counts.shape}")
        input, repeats, dim = Tensor(np.arange(counts.size, dtype=counts.dtype)), counts, 0
    if dim is None:
        input, dim = reshape(input, (-1,)), 0
    shape = _shape_of(input)
    if not shape:
        raise DimError("repeat_interleave: x must have at least one axis, got shape () (dim "
                       f"{dim} is out of range)")  # (torch's IndexError too)
    dim = check_dim("repeat_interleave", dim, len(shape))
    counts = _index_array("repeat_interleave", repeats, "repeats")
    if counts.ndim > 1 or counts.ndim == 1 and counts.size not in (1, shape[dim]):
        raise ArgError(f"repeat_interleave: repeats must be an int or hold one count per "
                         f"position along dim {dim} ({shape[dim]}), got shape {counts.shape}")
    if counts.size and counts.min() < 0:
        raise ArgError(f"repeat_interleave: repeats must be >= 0, got {counts.min()}")
    index = np.repeat(np.arange(shape[dim]), counts.reshape(-1) if counts.size != 1
                      else int(counts.reshape(-1)[0]))
    if output_size is not None and output_size != index.size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"repeats' total {index.size}")
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool) and \
            type(input.data) is np.ndarray:
        # torch's int overload: x.unsqueeze(dim + 1).expand(...).clone().view(...), so the
        # result is a view of the expanded copy (ViewBackward0 over CloneBackward0), as torch's
        from dlpy.layouts import contiguous_format

        n = int(repeats)
        grown = input.unsqueeze(dim + 1).expand(*shape[:dim + 1], n, *shape[dim + 1:])
        return grown.clone(memory_format=contiguous_format).view(
            *shape[:dim], shape[dim] * n, *shape[dim + 1:])
    return IndexSelect(dim, index)(input)


class SortResult(NamedTuple):
    """torch.return_types.sort: the sorted values (with gradient) and their int64 indices."""

    _torch_name = "sort"  # torch.return_types.sort
    __repr__ = structseq_repr

    values: Tensor
    indices: Tensor


class TopKResult(NamedTuple):
    """torch.return_types.topk: the k values (with gradient) and their int64 indices."""

    _torch_name = "topk"  # torch.return_types.topk
    __repr__ = structseq_repr

    values: Tensor
    indices: Tensor


def _sort_order(data: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Positions that sort data along axis, equal values in their original order (stable);
    NaN last ascending and first descending, as torch.sort. (A meta array's: meta positions.)"""
    found = _meta.positions(data, axis, same=True)
    if found is not None:
        return found
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    # a stable ascending sort of the reversed data, read backwards: descending, ties in order
    order = np.argsort(np.flip(data, axis), axis=axis, kind="stable")
    return data.shape[axis] - 1 - np.flip(order, axis)


def _check_flag(name: str, what: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {what} must be True or False, got {value!r}")
    return bool(value)


def _sort_setup(name, x, dim, **flags):
    """(shape, dim, data) after checking dim and the flags (True/False, or None for stable)."""
    shape = _shape_of(x)
    dim = check_dim(name, dim, len(shape), scalar_ok=True)
    for what, value in flags.items():
        if value is not None or what != "stable":
            _check_flag(name, what, value)
    refuse(name, x)  # complex numbers have no order, as torch
    data = np.asarray(x.data if isinstance(x, Tensor) else x)
    if _meta.is_meta_array(getattr(x, "data", None)):
        data = _meta.as_meta(data)  # (positions of no values: _sort_order's)
    if data.itemsize == 1:  # float8: torch refuses
        check_float8("topk_cpu" if name == "topk" else "sorting_kernel_method_name", data)
    return shape, dim, data.reshape(shape or (1,))


def _stable_overload(function):
    """torch's two overloads of sort/argsort: ``(input, dim=-1, descending=False)`` and
    ``(input, *, stable, dim=-1, descending=False)``; with ``stable`` given (even None), dim and
    descending are keyword-only, and a positional one is torch's TypeError."""

    @functools.wraps(function)
    def call(input, *args, **kwargs):  # noqa: A002 - torch's name
        if args and "stable" in kwargs:
            raise TypeError(f"{function.__name__}() received an invalid combination of arguments: "
                            "with stable=, dim and descending are keyword-only, got "
                            f"{len(args)} positional after the input")
        return function(input, *args, **kwargs)

    return call


@_stable_overload
@_meta.follows
def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool | None = None
         ) -> SortResult:
    """torch.sort: (values, indices) along dim; values carry the gradient (gather's), indices are
    an int64 Tensor. Always stable (equal values keep their order; ``stable`` is accepted);
    NaN sorts as the largest value."""
    shape, dim, data = _sort_setup("sort", input, dim, descending=descending, stable=stable)
    if not shape:
        node_name = "SortBackward0" if stable is None else "SortBackward1"  # torch's overloads
        return SortResult(scalar_copy(input, node_name), Tensor(np.zeros((), dtype=np.int64)))
    order = _sorted_layout(_sort_order(data, dim, bool(descending)).astype(np.int64, copy=False),
                           data)
    node_name = "SortBackward0" if stable is None else "SortBackward1"  # torch's overloads
    values = Gather(dim, order, node_name)(input)
    values.data = _sorted_layout(values.data, data)
    return SortResult(values, Tensor(order))


def _sorted_layout(result: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``result`` (sort's values or indices) laid out as torch's sort allocates both: with x's
    strides where x is dense, else dense in the order of x's strides (a transposed x gives
    transposed results)."""
    if type(result) is not np.ndarray or type(data) is not np.ndarray:
        return result  # (a meta array: no memory)
    return iterator_layout(result, data)


@_stable_overload
@_meta.follows
def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """torch.argsort: the int64 positions that sort x along dim, a Tensor (no gradient);
    stable, NaN largest. Unlike sort's, argsort's ``stable`` is a bool: None is torch's
    TypeError."""
    if stable is None:
        raise TypeError("argsort() received an invalid combination of arguments: stable must be "
                        "a bool, got None")
    shape, dim, data = _sort_setup("argsort", input, dim, descending=descending,
                                   stable=stable)
    order = _sort_order(data, dim, bool(descending)).astype(np.int64, copy=False)
    return Tensor(_sorted_layout(order, data).reshape(shape))  # (sort's indices)


def _tied_rows(data, ranked, order, dim, largest, sorted_):
    """``order`` (topk's k positions along dim) with the rows where equal values decide (a tie
    among the first k + 1 ranked) replaced by torch's choice."""
    k = order.shape[dim]
    if dim != data.ndim - 1:
        data, ranked = np.moveaxis(data, dim, -1), np.moveaxis(ranked, dim, -1)
    top = np.take_along_axis(data, ranked[..., :k + 1], axis=-1)
    same = top[..., 1:] == top[..., :-1]
    if is_floating_dtype(top.dtype) and np.isnan(top).any():  # nan ties nan
        same |= np.isnan(top[..., 1:]) & np.isnan(top[..., :-1])
    if not same.any():
        return order
    from dlpy.ops.topk_ties import topk_positions

    rows = data.reshape(-1, data.shape[-1])
    out = np.moveaxis(order, dim, -1)
    shape = out.shape
    out = out.reshape(-1, k).copy()
    for r in np.flatnonzero(same.reshape(len(rows), -1).any(axis=-1)):
        out[r] = topk_positions(rows[r].tolist(), k, largest, sorted_)
    return np.moveaxis(out.reshape(shape), -1, dim)


@_meta.follows
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True  # noqa: A002
         ) -> TopKResult:
    """torch.topk: the k largest (``largest=False``: smallest) values along dim and their int64
    indices (a Tensor); values carry the gradient (gather's). In sorted order (also with
    ``sorted=False``, where torch's order is its own); where equal values decide, the positions
    and order torch's CPU kernel gives (replayed: topk_ties.py)."""
    shape, dim, data = _sort_setup("topk", input, dim, largest=largest, sorted=sorted)
    if data.dtype == np.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        if int_of(k) is None:  # (a 0-d integer tensor is taken, as torch's)
            raise TypeError(f"topk: k must be an int, got {k!r}")
        k = int_of(k)
    size = shape[dim] if shape else 1
    if not 0 <= k <= size:
        raise ArgError(f"topk: k ({k}) must lie in [0, {size}], the size of dim {dim} of x "
                         f"{shape}")
    if not shape:  # a scalar is its own top value, for k 0 or 1 alike (as PyTorch)
        return TopKResult(scalar_copy(input, "TopkBackward0"), Tensor(np.zeros((), dtype=np.int64)))
    ranked = _sort_order(data, dim, bool(largest))
    if _meta.is_meta_array(ranked):  # (no values: no ties to settle)
        from dlpy.device import meta_array

        order = meta_array(shape[:dim] + (k,) + shape[dim + 1:], np.int64)
    else:
        order = np.take(ranked, np.arange(k), axis=dim).astype(np.int64)
    if k and not _meta.is_meta_array(order):
        # (row-major as torch's results, whichever axes the tied rows were settled along)
        order = np.ascontiguousarray(_tied_rows(data, ranked, order, dim, bool(largest),
                                                bool(sorted)))
    return TopKResult(Gather(dim, order, "TopkBackward0")(input), Tensor(order))


# ----------------------------------------------------------------- more of torch's indexing
# functions, composed from gather / scatter / getitem (gradients of gradients come free);
# index results are int64 tensors with no gradient


def _data(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


@_meta.refuses("aten::nonzero")
def nonzero(input, *, as_tuple: bool = False):
    """torch.nonzero: the indices of the non-zero elements, (count, ndim) int64 in row-major
    order; with as_tuple one 1-D index tensor per axis."""
    data = _data(input)
    if data.itemsize == 1:  # float8: torch refuses
        check_float8("nonzero_count_cpu", data)
    if as_tuple:
        # torch's: the columns of nonzero()'s (count, ndim) result, whose memory is one
        # (ndim, count) block: each a view of it (storage offsets 0, count, 2 * count, ...)
        rows = np.array(np.nonzero(np.atleast_1d(data)), dtype=np.int64)
        return tuple(Tensor(row) for row in rows)
    return Tensor(np.argwhere(data).astype(np.int64))


def argwhere(input) -> Tensor:
    """torch.argwhere: nonzero(x) as (count, ndim) int64."""
    return nonzero(input)


def _mask_array(name: str, mask) -> np.ndarray:
    mask = _data(mask)
    if mask.dtype != np.bool_:
        raise ArgDtypeError(f"{name}: mask must be a bool tensor, got {mask.dtype}")
    return mask


@_meta.refuses("aten::masked_select")
def masked_select(input: Tensor, mask) -> Tensor:
    """The elements of x where mask (broadcast with x) holds, as a 1-D tensor;  dx = g scattered
    back there."""
    from dlpy.ops.pointwise import _tensors

    _tensors("masked_select", input, mask)
    mask = _mask_array("masked_select", mask)
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise ShapeError(f"masked_select: mask of shape {mask.shape} does not broadcast with x "
                         f"of shape {input.shape}") from None
    if input.shape != shape:
        input = expand(input, shape)
    from dlpy.node_names import named

    return named(input[np.broadcast_to(mask, shape)], "MaskedSelectBackward0")


def take(input: Tensor, index) -> Tensor:
    """torch.take: x flattened, read at ``index`` (int64, any shape; negative counts from the
    end)."""
    from dlpy.ops.pointwise import _tensors

    _tensors("take", input, index)
    if isinstance(index, Tensor) and index.dtype != np.int64:
        raise IndexDtypeError(f"take(): Expected a long tensor for index, but got "
                        f"{torch_dtype_name(index.dtype)}")
    index = _index_array("take", index)
    size = _data(input).size
    if index.size and not _meta.valueless(index) and (index.min() < -size
                                                     or index.max() >= size):
        raise IndexError(f"take: index out of range for a tensor of {size} elements")
    if not _meta.valueless(index):  # (a meta index's positions are not read)
        # (kept an array: a 0-d index's numpy int would make x[index] a view of x)
        index = np.asarray(index % max(size, 1))
    return GetItem(index, "TakeBackward0")(reshape(input, (size,)))


def put(input: Tensor, index, source: Tensor, accumulate: bool = False) -> Tensor:
    """torch.put (out of place): input flattened, source's elements written (or with accumulate,
    added) at ``index``, reshaped back;  dx = g where nothing was written (everywhere with
    accumulate), dsource = g at its positions."""
    if isinstance(index, Tensor) and index.dtype != np.int64:
        raise IndexDtypeError(f"put_(): Expected a long tensor for index, got {index.dtype}")
    index = _index_array("put", index).reshape(-1)
    _check_source("put", input, source)
    size = _data(input).size
    if index.size != _data(source).size:
        raise IndexShapeError(f"put: index has {index.size} elements and source "
                         f"{_data(source).size}; they must match")
    if index.size and not _meta.valueless(index) and (index.min() < -size
                                                     or index.max() >= size):
        raise IndexError(f"put: index out of range for a tensor of {size} elements")
    index = index % max(size, 1)
    flat, values = reshape(input, (size,)), reshape(source, (index.size,))
    out = (_scatter_add(flat, 0, index, values, wide=False) if accumulate  # index_put's adds
           else scatter(flat, 0, index, values))
    return cloned_layout(_named(reshape(out, input.shape), "PutBackward0"), input)


def _along(name: str, x, dim, index, shape):
    """index (1-D) spread along dim over ``shape``: the index tensor gather/scatter expect."""
    dim = check_dim(name, dim, x.ndim, scalar_ok=True)
    index = _index_array(name, index)
    if index.ndim > 1:
        raise IndexRangeError(f"{name}: index must be 1-D, got shape {index.shape}")
    index = index.reshape(-1)
    size = x.shape[dim] if x.ndim else 1
    _check_range(name, index, size, dim)
    if not _meta.valueless(index):  # (a meta index's positions are not read)
        index = index % max(size, 1)
    where = [1] * len(shape)
    where[dim] = -1
    return dim, np.broadcast_to(index.reshape(where), shape)


def _source_shape(name, x, dim, index, source):
    shape = list(x.shape)
    shape[dim] = len(_index_array(name, index).reshape(-1))
    if tuple(_data(source).shape) != tuple(shape):
        # torch: index_copy's count of indices against source's dim is an IndexError
        count_only = name == "index_copy" and _data(source).ndim == len(shape) and all(
            n == m for d, (n, m) in enumerate(zip(_data(source).shape, shape)) if d != dim)
        error = IndexShapeError if count_only else ArgError
        raise error(f"{name}: source must have shape {tuple(shape)} (x's with dim {dim} "
                    f"the index's length), got {_data(source).shape}")


def _scalar_index_op(fn, name: str, input: Tensor, dim, index, source, node: str, **kwargs):
    """index_add/index_copy/index_reduce of a 0-d x, as torch's: x read as one element at dim
    0 or -1, index one position (0-d or of one element), source 0-d (index_copy's also of one
    element); the result 0-d again."""
    check_dim(name, dim, 0, scalar_ok=True)
    if isinstance(index, Tensor) and index.dtype not in (np.int64, np.int32):
        raise IndexDtypeError(f"{name}_(): Expected dtype int32/int64 for index, got "
                              f"{index.dtype}")
    flat = _index_array(name, index).reshape(-1)
    if flat.size != 1:
        raise IndexRangeError(f"{name}: into a 0-d tensor the index must have one element, got "
                              f"{flat.size}")
    count = np.size(_data(source))
    if name == "index_copy" and _data(source).ndim == 1 and count != 1:  # (torch's IndexError)
        raise IndexShapeError(f"index_copy_(): Number of indices (1) should be equal to "
                              f"source.size(dim) ({count})")
    if _data(source).ndim > (name == "index_copy") or count != 1:
        raise ArgError(f"{name}: source must be 0-d for a 0-d x, got shape "
                       f"{tuple(np.shape(_data(source)))}")
    _check_range(name, flat, 1, 0)
    source = reshape(source, (1,)) if isinstance(source, Tensor) else np.reshape(source, (1,))
    return _named(reshape(fn(reshape(input, (1,)), 0, flat, source, **kwargs), ()), node)


def index_add(input: Tensor, dim: int, index, source: Tensor, *, alpha=1) -> Tensor:
    """torch.index_add (out of place): x with alpha * source[..., i, ...] added at position
    index[i] of dim (repeats add up); a 0-d x is read as one element."""
    if not input.ndim:
        return _scalar_index_op(index_add, "index_add", input, dim, index, source,
                                "IndexAddBackward0", alpha=alpha)
    dim = check_dim("index_add", dim, input.ndim)
    _vector_index("index_add", index)
    if isinstance(index, Tensor) and index.dtype not in (np.int64, np.int32):
        raise IndexDtypeError(f"index_add_(): Expected dtype int32/int64 for index, got "
                              f"{index.dtype}")
    _source_shape("index_add", input, dim, index, source)
    _check_source("index_add", input, source)
    if input.dtype == np.bool_ and alpha != 1:  # torch takes alpha in x's dtype: a bool
        if not bool(alpha):  # (True for any nonzero alpha, as torch's cast)
            source = source * False
        alpha = 1
    elif isinstance(alpha, float) and input.dtype.kind in "iu":  # torch takes alpha in x's dtype
        alpha = int(alpha)
    elif alpha != 1 and input.dtype.itemsize == 2 and input.dtype.kind not in "iu":
        alpha = float(np.asarray(alpha, input.dtype))  # float16/bfloat16: rounded as torch's
    dim, full = _along("index_add", input, dim, index, _data(source).shape)
    return _named(_scatter_add(input, dim, full, source if alpha == 1 else source * alpha,
                               wide=False), "IndexAddBackward0")


@autocast_policy(PROMOTE)
def index_copy(input: Tensor, dim: int, index, source: Tensor) -> Tensor:
    """torch.index_copy (out of place): x with source[..., i, ...] written at index[i] of dim;
    a 0-d x is read as one element."""
    _vector_index("index_copy", index)
    count, source_ndim = _index_array("index_copy", index).size, np.ndim(_data(source))
    if source_ndim == 0 and count != 1:  # (torch's IndexErrors, checked before the dtypes)
        raise IndexShapeError(f"index_copy_(): When source is scalar, index should have one "
                              f"element (got {count})")
    if source_ndim not in (0, input.ndim) and input.ndim:
        raise IndexShapeError(f"index_copy_(): When source and destination are not scalars, "
                              f"their dimensionality must match, got {source_ndim} and "
                              f"{input.ndim}")
    if not input.ndim:
        if isinstance(index, Tensor) and index.dtype != np.int64:
            raise IndexDtypeError(f"index_copy_(): Expected a long tensor for index, got "
                                  f"{index.dtype}")
        return _scalar_index_op(index_copy, "index_copy", input, dim, index, source,
                                "IndexCopyBackward0")
    dim = check_dim("index_copy", dim, input.ndim)
    if isinstance(index, Tensor) and index.dtype != np.int64:
        raise IndexDtypeError(f"index_copy_(): Expected a long tensor for index, got {index.dtype}")
    _source_shape("index_copy", input, dim, index, source)
    _check_source("index_copy", input, source)
    dim, full = _along("index_copy", input, dim, index, _data(source).shape)
    return _named(scatter(input, dim, full, source), "IndexCopyBackward0")


def index_fill(input: Tensor, dim: int, index, value) -> Tensor:
    """torch.index_fill (out of place): input with the slices index[i] of dim set to value; index
    int64, negative positions counted from the end (unlike index_add/index_copy), a 0-d x read
    as one element (the first argument is torch's ``input``)."""
    if isinstance(value, Tensor) and value.ndim:  # (checked first, as torch's)
        raise ArgError(f"index_fill: only a 0-dimensional value tensor is supported, got "
                       f"shape {tuple(value.shape)}")
    dim = check_dim("index_fill", dim, input.ndim, scalar_ok=True)
    if isinstance(index, Tensor) and index.dtype != np.int64:  # a float index too: IndexError
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if _meta.holds_meta(input) and isinstance(index, Tensor) and not index.is_meta:
        raise RuntimeError("index_copy(): self, index and source expected to be in the same "
                           "device, but got (self) meta, (index) cpu, and (source) meta")
    index = _index_array("index_fill", index)
    if index.dtype != np.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if isinstance(input, Tensor) and input.data.dtype.kind != "c" and (isinstance(
            value, complex) or isinstance(value, Tensor) and value.data.dtype.kind == "c"):
        raise RuntimeError("index_fill_(): Converting complex Scalar to non-complex type is "
                           "not supported")  # (whatever its imaginary part: torch's)
    name = f"IndexFillBackward{int(isinstance(value, Tensor))}"  # a number's, a tensor's
    if not input.ndim:
        return _named(reshape(index_fill(reshape(input, (1,)), 0, index, value), ()), name)
    size = input.shape[dim]
    if index.size and not _meta.valueless(index) and (index.min() < -size
                                                     or index.max() >= size):
        bad = index.min() if index.min() < -size else index.max()
        raise IndexError(f"index_fill: index {bad} is out of bounds for dimension {dim} with "
                         f"size {size}")
    index = np.where(index < 0, index + size, index)
    shape = list(input.shape)
    shape[dim] = len(_index_array("index_fill", index).reshape(-1))
    if isinstance(value, Tensor):  # a 0-d tensor's value, as torch's index_fill(Tensor value)
        if value.ndim:
            raise ArgError(f"index_fill: only a 0-dimensional value tensor is supported, got "
                             f"shape {tuple(value.shape)}")
        if value.requires_grad and (is_floating_dtype(input.dtype) or input.dtype.kind == "c"):
            # the value gets the sum of g over the filled positions, each counted once however
            # often the index repeats it (torch's; an integer x has no gradient)
            index = np.unique(index)
            shape[dim] = index.size
            dim, full = _along("index_fill", input, dim, index, tuple(shape))
            value = value if value.dtype == input.dtype else value.to(input.dtype)
            return cloned_layout(_named(scatter(input, dim, full, expand(value, tuple(shape))),
                                        name), input)
        value = value.item()
    dim, full = _along("index_fill", input, dim, index, tuple(shape))
    if type(value) in (int, float):  # torch's checked conversion of the number
        from dlpy.ops.mask import _check_fits

        _check_fits("index_fill", value, input.data.dtype)
    if isinstance(value, (bool, np.bool_)):  # torch's True / False: 1 / 0 of x's dtype
        value = int(value)
    return cloned_layout(_named(scatter(input, dim, full, value=value), name), input)


def masked_scatter(input: Tensor, mask, source: Tensor) -> Tensor:
    """torch.masked_scatter (out of place): where mask holds, input takes source's elements in
    order (row-major); input and mask broadcast together (a mask with more axes makes a larger
    result, as torch's; the in-place form refuses it)."""
    mask = _mask_array("masked_scatter", mask)
    try:
        shape = np.broadcast_shapes(mask.shape, tuple(input.shape))
    except ValueError as err:  # numpy's text, as torch's RuntimeError too
        raise ShapeError(str(err)) from None
    if shape != tuple(input.shape):
        input = expand(input, shape)
    mask = np.broadcast_to(mask, shape)
    _check_source("masked_scatter", input, source)
    if _meta.given_meta((input, mask, source)) and _meta.live():  # (no values to count)
        return _meta.shaped((input, source), shape, input.dtype, "MaskedScatterBackward0")
    count = int(mask.sum())
    if _data(source).size < count:
        raise ArgError(f"masked_scatter: source has {_data(source).size} elements, the mask "
                       f"selects {count}")
    positions = np.flatnonzero(mask)
    values = reshape(source, (_data(source).size,))[:count]
    flat = reshape(input, (input.data.size,))
    return _named(reshape(scatter(flat, 0, positions, values), input.shape),
                  "MaskedScatterBackward0")


def check_histogram_dtypes(name: str, data: np.ndarray, weight, halves: bool = False
                           ) -> np.ndarray | None:
    """torch's histogram/histogramdd take float input and a weight of the input's dtype;
    returns weight's array. float16/bfloat16 only where ``halves`` (histogram with its range
    or edges given, or no values: torch's kernel that finds the range from the data has none
    for them, its NotImplementedError)."""
    if data.dtype not in (np.float32, np.float64):
        if data.dtype.kind != "f" and data.dtype.name != "bfloat16":
            raise NoKernelError(f"{name}: expected a float tensor, got {data.dtype}")
        if not (halves and data.dtype.itemsize == 2):
            raise NotImplementedError(f'"histogramdd" not implemented for '
                                      f"{torch_dtype_name(data.dtype)!r}")
    if weight is None:
        return None
    weight = _data(weight)
    if weight.dtype != data.dtype:
        raise ArgDtypeError(f"{name}: weight must have the input's dtype {data.dtype}, got "
                            f"{weight.dtype}")
    return weight


class HistogramResult(NamedTuple):

    _torch_name = "histogram"  # torch.return_types.histogram
    __repr__ = structseq_repr
    hist: Tensor
    bin_edges: Tensor


def histogram(input, bins=100, *, range=None, weight=None,  # noqa: A002 - PyTorch's names
              density: bool = False) -> HistogramResult:
    """torch.histogram: (hist, bin_edges) of a float tensor; bins an int (equal bins over
    ``range``, default the input's min and max) or a 1-D tensor of increasing edges; the last
    bin holds its right edge; ``weight`` weighs each element, ``density`` divides by the total
    and the bin widths."""
    data = _data(input)
    tracked = [t for t in (input, weight, bins) if isinstance(t, Tensor) and t.requires_grad]
    halves = not isinstance(bins, (int, np.integer)) or range is not None or not data.size
    weight = check_histogram_dtypes("histogram", data, weight, halves)
    if weight is not None:
        if weight.shape != data.shape:
            raise ShapeError(f"histogram: weight must have the input's shape {data.shape}, "
                             f"got {weight.shape}")
        weight = weight.ravel()
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ArgError(f"histogram: bins must be a positive int, got {bins}")
        if range is None:
            low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
        else:
            low, high = (float(v) for v in range)
            if low > high:
                raise ArgError(f"histogram: range {tuple(range)} must have min <= max")
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ArgError(f"histogram: range [{low}, {high}] is not finite")
        if low == high:
            low, high = low - 0.5, high + 0.5
        from dlpy.creation import _linspace  # (torch's edges: its linspace, bit for bit)

        edges = _linspace(low, high, int(bins) + 1, data.dtype).astype(data.dtype)
    else:
        if range is not None:  # torch's overload of edges has no range: its parser's TypeError
            raise TypeError("histogram() received an invalid combination of arguments: range= "
                            "goes with an int bins, not a tensor of edges")
        edges = _data(bins)
        if edges.dtype != data.dtype:
            raise ArgDtypeError(f"histogram: bins must have the input's dtype {data.dtype}, "
                                f"got {edges.dtype}")
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
            raise ArgError("histogram: bins must be an int or a 1-D increasing tensor of at "
                           f"least 2 edges, got {edges.tolist()}")
    hist = np.histogram(data.ravel(), edges, weights=weight)[0].astype(data.dtype)
    if density:  # torch's: divided by the total, then by each bin's width, in x's dtype
        with np.errstate(divide="ignore", invalid="ignore"):
            hist = (hist / data.dtype.type(hist.astype(np.float64).sum())
                    / np.diff(edges)).astype(data.dtype)
    if tracked:  # torch's outputs stay in the graph, and backward through them raises
        return HistogramResult(*(named(_NoDerivative("histogram", v)(*tracked), "NotImplemented")
                                 for v in (hist, edges)))
    return HistogramResult(Tensor(hist), Tensor(edges))


class _NoDerivative(Op):
    """An output of an op torch's autograd has no formula for (histogram), computed beside the
    graph (``value``) but in it where an input requires grad: backward raises torch's
    RuntimeError."""

    def __init__(self, name: str, value: np.ndarray):
        self.op_name, self.value = name, value

    def forward(self, *inputs):
        return self.value

    def backward(self, grad_output):
        from dlpy.tensor import AutogradError

        raise AutogradError(f"derivative for aten::{self.op_name} is not implemented")


class _NoFormula(_NoDerivative):
    """``_NoDerivative`` of an op whose torch node says so with a NotImplementedError (unique,
    geqrf): "the derivative for 'name' is not implemented."."""

    def backward(self, grad_output):
        raise NotImplementedError(f"the derivative for '{self.op_name}' is not implemented.")


# ----------------------------------------------------------------- scatter_reduce,
# index_reduce, index_put, and torch's choice among ties for kthvalue
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


class ScatterReduce(Op):
    """y = x with src[i, j] combined into y[i, index[i, j]] (dim 1) by ``reduce`` (sum, prod,
    mean, amax, amin), x's own value taking part where ``include_self``, as
    torch.scatter_reduce. Gradients as PyTorch's: sum passes g; mean g / count; amax/amin
    share g equally among the values equal to the result; prod g * (product of the others).
    Complex x: sum, prod and mean (torch's kernels; scatter_reduce refuses amax / amin)."""

    complex_ok = "holomorphic"  # (sum and mean are linear, prod's derivative is analytic)

    def __init__(self, dim: int, index: np.ndarray, reduce: str, include_self: bool):
        self.dim, self.index, self.reduce, self.include_self = dim, index, reduce, include_self

    def forward(self, x, src):
        where = _positions(self.index, self.dim)
        src = src[_leading(self.index.shape)]
        touched = np.zeros(x.shape, dtype=bool)
        touched[where] = True
        start = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[self.reduce]
        if x.dtype.kind != "f" and self.reduce in ("amax", "amin"):
            info = np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
            start = (info.min if self.reduce == "amax" else info.max) if info else start
            if x.dtype == np.bool_:  # (-inf as a bool is True: amax's start is False)
                start = self.reduce == "amin"
        y = x.copy() if self.include_self else np.where(touched, np.asarray(start, x.dtype), x)
        ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
                 "amin": np.minimum}[self.reduce]
        if ufunc is np.add:  # float16/bfloat16: a float32 accumulator, as torch's scatter_add
            _add_at(y, where, src)
        else:
            ufunc.at(y, where, src)
        count = np.zeros(x.shape, dtype=np.int64)
        np.add.at(count, where, 1)
        count = count + (touched & self.include_self)
        if self.reduce == "mean":
            divided = np.maximum(count, 1)
            y = (y / divided if is_floating_dtype(y.dtype) or y.dtype.kind == "c"
                 else y // divided).astype(x.dtype)
        self.x, self.src, self.y, self.touched, self.count = x, src, y, touched, count
        return y

    def backward(self, grad_output):
        where = _positions(self.index, self.dim)
        x, src, y, touched = self.x, self.src, self.y, self.touched
        own = touched & self.include_self  # x's value took part in a reduction
        if self.reduce == "sum":
            x_grad, src_grad = grad_output, grad_output[where]
        elif self.reduce == "mean":
            share = grad_output / np.maximum(self.count, 1)
            x_grad, src_grad = np.where(touched, share, grad_output), share[where]
        elif self.reduce in ("amax", "amin"):
            wins = np.zeros(y.shape, dtype=np.int64)
            np.add.at(wins, where, src == y[where])
            wins = wins + (touched & (x == y))  # torch counts x's tie even if not included
            share = grad_output / np.maximum(wins, 1)
            x_grad = np.where(touched, np.where(x == y, share, 0), grad_output)
            src_grad = np.where(src == y[where], share[where], 0)
        else:  # prod: g times the product of the others, zeros counted apart
            zeros = np.zeros(y.shape, dtype=np.int64)
            np.add.at(zeros, where, src == 0)
            zeros = zeros + (own & (x == 0))
            nonzero = np.where(own, np.where(x == 0, 1, x), 1).astype(y.dtype)
            np.multiply.at(nonzero, where, np.where(src == 0, 1, src))

            def others(values, at_zeros, at_product, at_g):
                with np.errstate(divide="ignore", invalid="ignore"):
                    return at_g * np.where(values == 0, np.where(at_zeros == 1, at_product, 0),
                                           np.where(at_zeros == 0, at_product / values, 0))

            x_grad = np.where(touched, others(x, zeros, nonzero, grad_output), grad_output)
            src_grad = others(src, zeros[where], nonzero[where], grad_output[where])
        x_grad = np.where(touched & ~own, 0, x_grad)
        if self.inputs[1].requires_grad and src_grad.shape != self.inputs[1].shape:
            full = np.zeros(self.inputs[1].shape, dtype=src_grad.dtype)
            full[_leading(self.index.shape)] = src_grad
            src_grad = full
        return x_grad, src_grad

    def backward_graph(self, grad_output, output):
        # torch's scatter_reduce_backward recorded: sum, mean, amax and amin are linear in g
        # (their masks and counts constants); prod's gradients are products of x and src
        where, g = _positions(self.index, self.dim), grad_output
        x, src = self.inputs
        region = src if src.shape == self.index.shape else src[_leading(self.index.shape)]
        touched, own = self.touched, self.touched & self.include_self
        if self.reduce == "sum":
            x_grad, src_grad = g, g[where]
        elif self.reduce == "mean":
            count = Tensor(np.maximum(self.count, 1).astype(g.dtype))
            x_grad, src_grad = g / count, g[where] / count[where]
        elif self.reduce in ("amax", "amin"):
            src_wins = self.src == self.y[where]
            wins = np.zeros(self.y.shape, dtype=np.int64)
            np.add.at(wins, where, src_wins)
            wins = wins + (touched & (self.x == self.y))
            share = g / Tensor(np.maximum(wins, 1).astype(g.dtype))
            x_grad = share * Tensor(np.where(touched, self.x == self.y, True))
            src_grad = share[where] * Tensor(src_wins)
        else:
            x_grad, src_grad = self._prod_grads(g, output, x, region, where)
        x_grad = x_grad.masked_fill(Tensor(touched & ~own), 0.0)
        if src_grad.shape != src.shape:  # src beyond index's extent: zeros, as backward
            from dlpy.functional import pad

            widths = [(0, n - m) for n, m in zip(src.shape, src_grad.shape)]
            src_grad = pad(src_grad, tuple(w for pair in reversed(widths) for w in pair))
        return x_grad, src_grad

    def _prod_grads(self, g, output, x, src, where):
        """torch's prod gradients: zeros of x and src masked to 1 so the products of the others
        stay exact; differentiating src's gradient where two zeros of src meet is its error."""
        from dlpy.autograd_function import _DelayedError
        from dlpy.ops.mask import where as select

        dim, index = self.dim, Tensor(self.index)
        masked_x = x.masked_fill(Tensor(x.data == 0), 1)
        x_grad = g * reduced_into(masked_x, dim, index, src, "prod",
                                    include_self=self.include_self) / masked_x
        src_zero = src.data == 0
        zeros = np.zeros(self.y.shape, dtype=np.int64)
        np.add.at(zeros, where, src_zero)
        single = src_zero & (zeros[where] == 1)
        masked_src = src.masked_fill(Tensor(single), 1)
        single_grad = (g * reduced_into(x, dim, index, masked_src, "prod",
                                          include_self=self.include_self))[where]
        src_grad = select(Tensor(single), single_grad,
                          (g * output)[where] / src.masked_fill(Tensor(src_zero), 1))
        if (zeros > 1).any():
            src_grad = _DelayedError("scatter_reduce(): Double backward is unsupported for src "
                                     "when >1 zeros in src are scattered to the same position "
                                     "in self")(src_grad)
        return x_grad, src_grad

    def describe(self) -> str:
        return f"ScatterReduce({self.reduce!r}, dim={self.dim})"


def scatter_reduce(input: Tensor, dim: int, index, src, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """torch.scatter_reduce: x with each src[i, j] reduced into position index[i, j] of dim
    (dim 1 here) by ``reduce``: "sum", "prod", "mean", "amax" or "amin" (a complex x: no
    gradient, as torch's; its scatter_reduce_ has one)."""
    out = reduced_into(input, dim, index, src, reduce, include_self=include_self)
    refuse_complex_grad("scatter_reduce", out.dtype, input, src)  # (after the kernel's checks)
    return out


def reduced_into(input: Tensor, dim: int, index, src, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """scatter_reduce's values and gradient (scatter_reduce_ and index_reduce call it)."""
    if reduce in ("max", "min") and _meta.live() and _meta.given_meta((input, index, src)):
        # (torch's CPU kernel takes its older names, its meta kernel does not)
        raise RuntimeError("reduce argument must be either sum, prod, mean, amax or amin.")
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # torch's older names
    if reduce not in _REDUCTIONS:
        raise ArgError(f"scatter_reduce: reduce must be one of {_REDUCTIONS}, got {reduce!r}")
    _check_scatter_index(index)
    if not _shape_of(input) and isinstance(input, Tensor):
        return _scalar_scatter(reduced_into, input, dim, index, src, reduce=reduce,
                               include_self=include_self)
    dim, index = _check_index("scatter_reduce", input, dim, index, _shape_of(src))
    if not isinstance(input, Tensor):
        input = Tensor(np.asarray(input))
    if not isinstance(src, Tensor):
        src = Tensor(np.asarray(src, dtype=input.dtype))
    if src.dtype != input.dtype:
        raise ArgDtypeError(f"scatter_reduce: src must have x's dtype {input.dtype}, got "
                            f"{src.dtype}")
    if reduce in ("amax", "amin") and input.dtype.kind == "c" \
            or reduce == "mean" and input.dtype == np.bool_:  # (complex has no order; torch's
        # mean kernel has no bool form)
        raise NoKernelError(f'"scatter_gather_tensor_cpu_reduce_{reduce}" not implemented for '
                            f"{torch_dtype_name(input.dtype)!r}")
    return ScatterReduce(dim, index, reduce, bool(include_self))(input, src)


def index_reduce(input: Tensor, dim: int, index, source, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """torch.index_reduce: x with source[..., i, ...] reduced into position index[i] of dim by
    ``reduce``: "prod", "mean", "amax" or "amin"; a 0-d x is read as one element. bool and
    complex x have torch's kernels only with include_self on 2 or more axes (bool: not mean;
    complex: not amax/amin): elsewhere torch's NotImplementedError; a complex result needing
    a gradient is torch's RuntimeError (index_reduce_ has one)."""
    out = index_reduced(input, dim, index, source, reduce, include_self=include_self)
    refuse_complex_grad("index_reduce", out.dtype, input, source)  # (after the kernel's checks)
    return out


def index_reduced(input: Tensor, dim: int, index, source, reduce: str, *,
                  include_self: bool = True) -> Tensor:
    """index_reduce's values and gradient (index_reduce_ calls it: a complex x's too)."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ArgError(f"index_reduce: reduce must be 'prod', 'mean', 'amax' or 'amin', got "
                       f"{reduce!r}")
    if isinstance(index, Tensor) and index.dtype not in (np.int64, np.int32):
        raise IndexDtypeError(f"index_reduce_(): Expected dtype int32/int64 for index but got: "
                              f"{torch_dtype_name(index.dtype)}")
    dtype = as_array(input).dtype
    if dtype.kind in "bc" and (not include_self or np.ndim(as_array(input)) <= 1 or (
            reduce == "mean" if dtype.kind == "b" else reduce in ("amax", "amin"))):
        error = NoKernelError(f'"index_reduce" not implemented for {torch_dtype_name(dtype)!r} '
                              f"(reduce={reduce!r}, include_self={bool(include_self)})")
    else:
        error = None
    if not input.ndim:
        if error is not None:
            raise error
        return _scalar_index_op(index_reduced, "index_reduce", input, dim, index, source,
                                "IndexReduceBackward0", reduce=reduce,
                                include_self=include_self)
    dim = check_dim("index_reduce", dim, input.ndim)
    _source_shape("index_reduce", input, dim, index, source)
    if error is not None and (not include_self or input.ndim == 1):
        raise error  # (torch's missing kernel: after the dim and shape checks; before the
        # index range check without self or on one axis, after it else)
    dim, full = _along("index_reduce", input, dim, index, _data(source).shape)
    if error is not None:
        raise error
    return _named(reduced_into(input, dim, np.ascontiguousarray(full), source, reduce,
                               include_self=include_self), "IndexReduceBackward0")


def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """torch.index_put (out of place): input with input[indices] = values (``indices`` a tuple
    of index tensors, as input[indices] reads), or with accumulate added (repeats add up). A
    None among the indices is an IndexNoneError, torch's TypeError (its signature takes tensors
    only; dlpy also takes lists and arrays); values that are not a Tensor, or an accumulate
    that is not a bool, are torch's TypeError."""
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put: argument 'values' must be Tensor, not "
                        f"{type(values).__name__}")
    if not isinstance(accumulate, (bool, np.bool_)):
        raise TypeError(f"index_put: argument 'accumulate' must be bool, not "
                        f"{type(accumulate).__name__}")
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put: indices must be a tuple of index tensors, got "
                        f"{type(indices).__name__}")
    for k, i in enumerate(indices):
        if i is None:
            raise IndexNoneError(f"index_put: expected Tensor as element {k} of indices, but got "
                            "NoneType")
    index = tuple(_put_index(i) for i in indices)
    shape = _shape_of(input)
    if _meta.live() and _meta.given_meta((input, values, *indices)):
        return _meta_index_put(input, index, values, shape)
    mask_fill = (len(index) == 1 and index[0].dtype in (np.bool_, np.uint8) and not accumulate
                 and values.numel() == 1)  # torch's masked_fill_ with values.item()
    if mask_fill and index[0].dtype == np.uint8:
        raise ArgDtypeError("index_put: masked_fill_ only supports boolean masks, but got mask "
                            "with dtype unsigned char (a uint8 index alone, values of one "
                            "element)")
    if any(i.dtype == np.uint8 for i in index):
        from dlpy.ops.shape import warn_byte_index

        warn_byte_index()
    index = tuple(i.astype(bool) if i.dtype == np.uint8 else i for i in index)  # byte masks
    if not mask_fill:  # (the dtypes before the positions, as torch's, but after the shapes)
        _check_index_structure(index, shape)
        _check_source("index_put", input, values)
    try:
        positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    except (IndexError, TypeError, ValueError) as err:
        raise IndexError(f"index_put: indices are invalid for shape {shape}: {err}") from None
    if mask_fill and values.data.dtype.kind == "c" and input.data.dtype.kind not in "cb" \
            and values.data.size == 1 and complex(values.data.reshape(())).imag != 0:
        raise RuntimeError(f"index_put: value {complex(values.data.reshape(()))} cannot be "
                           f"converted to {input.dtype} without overflow (torch's masked_fill_)")
    if mask_fill and values.dtype != input.dtype:  # (a scalar: cast, no dtype check)
        from dlpy.ops.arithmetic import cast

        values = cast(values, input.dtype)
    _check_source("index_put", input, values)
    values = expanded_to(values, positions.shape,
                         f"index_put: values of shape {values.shape} do not broadcast to "
                         f"x[indices]'s shape {positions.shape}")
    return _named(put(input, positions, values, accumulate=accumulate), "IndexPutBackward0")


def _check_index_structure(index: tuple, shape) -> None:
    """torch's IndexErrors of index_put that come before its dtype check: more indices than
    axes, a mask of another shape than the axes it covers, index tensors that do not
    broadcast together, an index into an axis of size 0 (the positions' bounds come after)."""
    covered = sum(i.ndim if i.dtype == np.bool_ else 1 for i in index)
    if covered > len(shape):
        raise IndexError(f"index_put: too many indices for tensor of dimension {len(shape)} "
                         f"(got {covered})")
    axis, shapes = 0, []
    for item in index:
        if item.dtype == np.bool_:
            if item.shape != tuple(shape[axis:axis + item.ndim]):
                raise IndexError(f"index_put: the shape of the mask {list(item.shape)} does not "
                                 f"match the shape of the indexed tensor {list(shape)}")
            shapes.append((int(np.count_nonzero(item)),))
            axis += item.ndim
            continue
        if item.size and shape[axis] == 0:
            raise IndexError("index_put: index is out of bounds for dimension with size 0")
        shapes.append(item.shape)
        axis += 1
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError(f"index_put: shape mismatch: indexing tensors could not be broadcast "
                         f"together with shapes {[list(s) for s in shapes]}") from None


def _put_index(item) -> np.ndarray:
    """An index of index_put as an array; a tensor of another dtype than torch's index dtypes
    (int64, int32, uint8 and bool) is torch's IndexError."""
    array = np.asarray(item.data if isinstance(item, Tensor) else item)
    if isinstance(item, Tensor) and array.dtype not in _INDEX_DTYPES:
        raise IndexError(f"index_put: tensors used as indices must be long, int, byte or bool "
                         f"tensors, got {torch_dtype_name(array.dtype)}")
    return array


def _meta_index_put(input: Tensor, index: tuple, values: Tensor, shape) -> Tensor:
    """index_put on the meta device: input's shape, the indices' and values' shapes checked
    (a stand-in of input's shape whose elements take no bytes, indexed), nothing read."""
    if any(i.dtype == np.bool_ and _meta.valueless(i) for i in index):  # (what a mask
        _meta.refuse_values(input, "numpy")  # selects depends on its values: torch's error)
    nothing = np.lib.stride_tricks.as_strided(np.zeros(1, np.dtype([])), shape, (0,) * len(shape))
    try:
        selected = _meta._indexed_shape(nothing, index)
    except (IndexError, TypeError, ValueError) as err:
        raise IndexError(f"index_put: indices are invalid for shape {shape}: {err}") from None
    _check_source("index_put", input, values)
    try:
        np.broadcast_shapes(tuple(values.shape), selected)
    except ValueError:
        raise ShapeError(f"index_put: values of shape {values.shape} do not broadcast to "
                         f"x[indices]'s shape {selected}") from None
    return _meta.shaped((input, values), shape, input.dtype, "IndexPutBackward0")


def expanded_to(value: Tensor, shape: tuple[int, ...], message: str) -> Tensor:
    """value broadcast (recorded) to ``shape``, the shape of the positions an indexed write
    fills (setitem, index_put); a ShapeError (ValueError, torch's RuntimeError) with
    ``message`` where it does not broadcast."""
    try:
        fits = np.broadcast_shapes(value.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(message)
    return value if value.shape == shape else expand(value, shape)
