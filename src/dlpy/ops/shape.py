"""Shape ops: reshape (and squeeze, unsqueeze, flatten on it), transpose, indexing, concat,
stack. They move values, so backward moves the gradient back to where each value came from."""

import functools
import math
import operator
import warnings

import numpy as np

from dlpy import meta as _meta
from dlpy.amp.state import PROMOTE, autocast_policy
from dlpy.device import MetaArray
from dlpy.layouts import suggested_format, torch_strides
from dlpy.node_names import named
from dlpy.ops import ArgError, DimError, RepeatedDimError, index_values, int_of
from dlpy.slice_grad import SliceGrad
from dlpy.tensor import Op, ShapeError, Tensor, _row_major, row_major


class Reshape(Op):
    """y = x viewed with a new shape;  dx = g reshaped back."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    node_name = "ViewBackward0"  # torch's grad_fn name (unsqueeze/squeeze give theirs)

    # the strides of a view, as torch's: None, computeStride's (view / reshape); an int,
    # unsqueeze's new axis there; a tuple, squeeze's axes of x kept (with their strides)
    strides_rule = None
    by_reshape = False  # made by reshape/flatten: torch's node says what reshape did

    def __init__(self, shape, node_name: str | None = None, strides_rule=None):
        self.new_shape = shape
        if node_name is not None:
            self.node_name = node_name
        if strides_rule is not None:
            self.strides_rule = strides_rule

    def forward(self, x):
        self.shape = x.shape
        out = x.reshape(self.new_shape)
        if type(out) is np.ndarray and not (
                x.flags.c_contiguous and (1 not in x.shape or _row_major(x)) and out.size):
            # numpy's strides of size-1 axes may not be torch's (those of a view of an array
            # with row-major strides, a size-1 axis's too, are)
            out = _torch_view(x, out, self.strides_rule) if out.size else \
                _empty_reshape(x, out, self.strides_rule)
        if self.by_reshape and not x.flags.c_contiguous:  # torch's reshape of a view
            self.node_name = "ReshapeAliasBackward0"  # it can view again: _reshape_alias
        return out

    def backward(self, grad_output):
        return (grad_output.reshape(self.shape),)

    def backward_graph(self, grad_output, output):
        return (grad_output.reshape(self.inputs[0].shape),)


def _torch_view(x: np.ndarray, out: np.ndarray, rule) -> np.ndarray:
    """``out``, numpy's reshape of ``x``, with torch's strides where it is a view: unsqueeze's
    (x's, and for the new axis the size times the stride of the axis after it, 1 at the end),
    squeeze's (those of the axes kept), else ATen's computeStride's (which numpy's rule matches
    but for size-1 axes)."""
    if out.base is not (x if x.base is None else x.base):  # a copy: row-major, as torch's
        return out
    shape = x.shape
    if type(rule) is tuple and out.shape == tuple(shape[axis] for axis in rule):
        strides = tuple(x.strides[axis] for axis in rule)
        return out if out.strides == strides else restrided(out, strides)
    if type(rule) is int and out.shape == shape[:rule] + (1,) + shape[rule:]:
        if rule < x.ndim and 1 not in shape:  # numpy's reshape gives such a new axis
            return out  # unsqueeze's stride
        if rule == x.ndim:
            last = with_last_ones(x)
            if last is not None:
                return last
        strides = x.strides[:rule] + (
            shape[rule] * x.strides[rule] if rule < x.ndim else x.itemsize,
        ) + x.strides[rule:]
        return out if out.strides == strides else restrided(out, strides)
    strides = _meta.view_strides(x.shape, torch_strides(x), out.shape)
    if strides is None:
        return out
    strides = tuple(s * x.itemsize for s in strides)
    if strides == out.strides or any(size != 1 and new != old for size, new, old in zip(
            out.shape, strides, out.strides)):  # (another axis's: numpy's view kept)
        return out
    return restrided(out, strides)


_ONES_DTYPES: dict = {}  # (dtype, k) -> a dtype of a (1,) * k subarray of it


def _empty_reshape(x: np.ndarray, out: np.ndarray, rule) -> np.ndarray:
    """``_torch_view`` for an empty ``x``: unsqueeze's rule (the new axis's stride the size
    times the stride of the axis after it: 0 before a size-0 axis), squeeze's kept strides,
    else computeStride's (row-major for a new shape)."""
    if type(x) is not np.ndarray:
        return out
    shape, strides = x.shape, empty_strides(x)
    if type(rule) is tuple and out.shape == tuple(shape[axis] for axis in rule):
        new = [strides[axis] for axis in rule]
    elif type(rule) is int and out.shape == shape[:rule] + (1,) + shape[rule:]:
        new = strides[:rule] + [shape[rule] * strides[rule] if rule < x.ndim else 1] \
            + strides[rule:]
    else:
        new = _meta.view_strides(shape, strides, out.shape)
    return out if new is None else empty_view(x, out, new)


def restrided(array: np.ndarray, strides: tuple) -> np.ndarray:
    """``array`` with other ``strides`` (in bytes) for its size-1 axes, which read nothing else,
    over the same memory and writable as it is (torch's strides where numpy's differ)."""
    from dlpy.tensor import _buffer

    flags = array.flags
    if flags.c_contiguous or flags.f_contiguous:  # its own memory as the buffer: no address
        owner, offset = array, 0
    else:  # the memory's owner's, from the first element's address (np.ndarray's: fast)
        out = _new_last_axes(array, strides)
        if out is not None:
            return out
        owner = _buffer(array)
        offset = (array.__array_interface__["data"][0]
                  - owner.__array_interface__["data"][0]
                  if type(owner) is np.ndarray and owner.flags.c_contiguous else None)
    if offset is not None:
        try:
            out = np.ndarray(array.shape, array.dtype, owner, offset, strides)
        except (TypeError, ValueError, BufferError):  # (a buffer numpy will not lend)
            pass
        else:
            if not flags.writeable:
                out.flags.writeable = False
            return out
    return np.lib.stride_tricks.as_strided(array, strides=strides,
                                           writeable=array.flags.writeable)


def _new_last_axes(array: np.ndarray, strides: tuple) -> np.ndarray | None:
    """``restrided`` by numpy's own views, where they give ``strides``: the array with its
    size-1 axes dropped, reshaped to put back those before a longer axis (numpy's reshape gives
    such an axis unsqueeze's stride, the size times the stride of the axis after it), and
    ``with_last_ones`` for the last ones, of a step of one element (x[..., None], x[:, None] of
    a strided tensor); None where the strides come out otherwise."""
    ndim, size, ones = array.ndim, array.itemsize, 0
    shape = array.shape
    while ones < ndim and strides[ndim - 1 - ones] == size and shape[ndim - 1 - ones] == 1:
        ones += 1
    if not ones and 1 not in shape:
        return None
    kept = ndim - ones
    if 1 in shape[:kept]:
        core = array[tuple(0 if n == 1 else _ALL for n in shape[:kept]) + (0,) * ones]
        core = core.reshape(shape[:kept])
    else:
        core = array[(Ellipsis,) + (0,) * ones] if ones else array
    if core.strides != strides[:kept]:
        return None
    return with_last_ones(core, ones) if ones else core


def with_last_ones(array: np.ndarray, ones: int = 1) -> np.ndarray | None:
    """``array`` with ``ones`` new last axes of size 1 and torch's stride for them, one element
    (unsqueeze(-1)): a view of it as a dtype of a (1, ..., 1) subarray, which numpy lays out as
    axes of the item's size, its other strides kept (no address to read: a fraction of the cost
    of building an array over its memory). None for a dtype numpy will not nest."""
    key = (array.dtype, ones)
    dtype = _ONES_DTYPES.get(key)
    if dtype is None:
        try:
            dtype = _ONES_DTYPES[key] = np.dtype((array.dtype, (1,) * ones))
        except (TypeError, ValueError):
            return None
    try:
        return array.view(dtype)
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------- views of empty tensors
# numpy gives an empty array all-zero strides and drops a slice's start where the slice is
# empty; torch keeps the strides and storage offset a non-empty tensor of that shape would
# have. A view op on an empty array gives its result torch's with ``empty_view``: an array
# over the same memory at torch's offset with torch's strides (no element is ever read).

class _Interface:
    """An object numpy reads an array from (``__array_interface__``), keeping ``base``."""

    def __init__(self, interface: dict, base):
        self.__array_interface__, self.base = interface, base


def empty_strides(x: np.ndarray) -> list:
    """The strides (in elements) torch gives an empty ``x``: numpy's all-zero ones (a new
    array's) row-major, a size-0 axis counting as 1; else its own (an ``empty_view``'s)."""
    strides = [n // (x.itemsize or 1) for n in x.strides]
    return strides if any(strides) else list(_meta.contiguous_strides(x.shape))


def empty_view(x: np.ndarray, out: np.ndarray, strides, offset: int = 0) -> np.ndarray:
    """``out`` (numpy's empty view of ``x``) with ``strides`` and a storage ``offset`` from
    x's first element (in elements), as torch's view: over x's memory, never read."""
    size = x.itemsize
    if not size or type(out) is not np.ndarray:
        return out
    interface = x.__array_interface__  # (a new dict each time)
    interface["data"] = (interface["data"][0] + offset * size, not x.flags.writeable)
    interface["shape"], interface["strides"] = out.shape, tuple(n * size for n in strides)
    array = np.asarray(_Interface(interface, x))
    return array if array.dtype == x.dtype else array.view(x.dtype)


def _empty_index(x: np.ndarray, out: np.ndarray, index) -> np.ndarray:
    """``empty_view`` for ``x[index]`` (a basic index) as torch reads it, left to right: an int
    or a slice's start moves the offset (an empty slice's too), a slice's step multiplies the
    stride, a new axis (None) steps over the unsliced axis after it."""
    items = index if type(index) is tuple else (index,)
    strides, sizes = empty_strides(x), x.shape
    new, offset, dim = [], 0, 0
    span = x.ndim - sum(1 for item in items if item is not None and item is not Ellipsis)
    for item in items:
        if item is None:
            new.append(sizes[dim] * strides[dim] if dim < x.ndim else 1)
        elif item is Ellipsis:
            new += strides[dim:dim + span]
            dim += span
        elif type(item) is slice:
            start, _, step = item.indices(sizes[dim])
            if step < 0:
                return out
            offset += start * strides[dim]
            new.append(strides[dim] * step)
            dim += 1
        else:
            offset += (int(item) % sizes[dim] if sizes[dim] else 0) * strides[dim]
            dim += 1
    return empty_view(x, out, new + strides[dim:], offset)


class Transpose(Op):
    """y = x with axes permuted;  dx = g permuted back by the inverse permutation."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, axes, node_name=None):
        self.axes = axes
        self.node_name = node_name  # None: from the axes (node_names.py)

    def forward(self, x):
        if not x.size and type(x) is np.ndarray:
            strides = empty_strides(x)
            return empty_view(x, np.transpose(x, self.axes), [strides[a] for a in self.axes])
        return np.transpose(x, self.axes)

    def backward(self, grad_output):
        return (np.transpose(grad_output, np.argsort(self.axes)),)

    def backward_graph(self, grad_output, output):
        return (Transpose(tuple(int(a) for a in np.argsort(self.axes)))(grad_output),)


class GetItem(Op):
    """y = x[index];  dx = zeros with g added at the indexed positions (repeats accumulate).

    A basic index (ints, slices, None, Ellipsis) gives a SliceGrad, g and where it goes, with no
    zeros of x's shape: the engine adds the slices up in one array, so looping over x[t] costs
    O(slice) a step in backward."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    node_name = None  # torch's grad_fn name where an op is built on it (max(dim): MaxBackward0)
    torch_layout = False  # an advanced index's result laid out as torch's x[index] (getitem)

    def __init__(self, index, node_name: str | None = None, torch_layout: bool = False):
        self.index = index
        if torch_layout:
            self.torch_layout = True
        if node_name is not None:
            self.node_name = node_name

    def free(self) -> None:
        """A basic index saves no tensor (torch's SliceBackward0/SelectBackward0 keep sizes
        only): kept as it is, so a second backward through it works, as torch's; an advanced
        one's index tensors are freed with the graph."""
        if not _is_basic(self.index):
            super().free()

    def pack_order(self, inputs):
        """torch's IndexBackward0 saves the index tensors (ints or a bool mask), one per
        advanced item, packed by saved_tensors_hooks; a basic index saves none."""
        items = self.index if type(self.index) is tuple else (self.index,)
        return [("index", k) for k, item in enumerate(items) if type(item) is np.ndarray]

    def saved_array(self, what):
        return (self.index if type(self.index) is tuple else (self.index,))[what[1]]

    def use_unpacked(self, what, array):
        """saved_tensors_hooks: the index item from what unpack gave."""
        if type(self.index) is tuple:
            items = list(self.index)
            items[what[1]] = array
            self.index = tuple(items)
        else:
            self.index = array

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        if (self.index is None or type(self.index) is tuple and _NONE_TYPE in map(
                type, self.index)) and type(x) is np.ndarray and x.size:
            out = _with_new_axes(x, self.index)
        else:
            out = x[self.index]
        if type(out) is not np.ndarray and not isinstance(out, np.ndarray):
            # ints on every axis: a numpy scalar, a copy (a meta array's view is an ndarray)
            if not (self.torch_layout or _is_basic(self.index)):
                # a 0-d index array an op built (torch.take's): torch's result is a new tensor
                # (only a user's x[t] reads a 0-d t as an int, a view)
                return np.array(out)
            index = self.index if type(self.index) is tuple else (self.index,)
            return x[index + (Ellipsis,)]  # a 0-d view, as torch's (x[2] sees x[2] = 4)
        if not out.size and type(x) is np.ndarray and _is_basic(self.index) and bool not in map(
                type, self.index if type(self.index) is tuple else (self.index,)):
            return _empty_index(x, out, self.index)
        if not _is_basic(self.index) and type(out) is np.ndarray:
            if self.torch_layout:  # (a user's x[index]: torch's index kernel's layout)
                out = _index_layout(x, self.index, out)
            elif not out.flags.c_contiguous:  # numpy lays some advanced-index results out
                out = np.ascontiguousarray(out)  # transposed; the ops built on it, row-major
        return out

    def backward(self, grad_output):
        if _is_basic(self.index):  # each position selected once
            return (SliceGrad(self.index, grad_output, self.shape, self.dtype),)
        grad = np.zeros(self.shape, dtype=self.dtype)
        np.add.at(grad, self.index, grad_output)
        return (grad,)

    def backward_graph(self, grad_output, output):
        grad = IndexAdd(self.index, self.inputs[0].shape)(grad_output)
        return (named(grad, _index_grad_name(self.index)),)


def _index_layout(x: np.ndarray, index, out: np.ndarray) -> np.ndarray:
    """``out = x[index]`` (an advanced index: arrays, masks, slices, Ellipsis) laid out as
    torch's index kernel lays it: one TensorIterator over x restrided (the indexed axes
    replaced by the index's, stride 0) and the index tensors (stride 0 outside their axes), so
    the axes x keeps follow x's memory order (x3.permute(0, 2, 1)[[1, 0]]: (12, 1, 4)); numpy's
    own order where every operand is row-major (torch's there too)."""
    items = list(index) if type(index) is tuple else [index]
    arrays = [i for i in items if type(i) is np.ndarray]
    if out.ndim < 2 or not out.size or (x.flags.c_contiguous
                                        and all(a.flags.c_contiguous for a in arrays)):
        return row_major(out)
    at = next((k for k, i in enumerate(items) if i is Ellipsis), None)
    if at is not None:
        used = sum(i.ndim if type(i) is np.ndarray and i.dtype == bool else 1
                   for i in items if i is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    items += [slice(None)] * (x.ndim - sum(i.ndim if type(i) is np.ndarray and i.dtype == bool
                                           else 1 for i in items))
    view = x[tuple(i if type(i) is slice else slice(None) for i in items
                   for _ in range(i.ndim if type(i) is np.ndarray and i.dtype == bool else 1))]
    strides = torch_strides(view)
    kept, indexers, axis = [], [], 0  # kept: (axis of x); indexers: (axis, index array)
    for item in items:
        if type(item) is np.ndarray and item.dtype == bool:
            for column in np.nonzero(item):  # torch's nonzero(): a (k, ndim) matrix's columns
                indexers.append((axis, np.lib.stride_tricks.as_strided(
                    column, strides=(column.itemsize * item.ndim,))))
                axis += 1
        elif type(item) is np.ndarray:
            indexers.append((axis, item))
            axis += 1
        else:
            kept.append(axis)
            axis += 1
    if not indexers:
        return row_major(out)
    at = [a for a, _ in indexers]
    shape = np.broadcast_shapes(*(i.shape for _, i in indexers))
    adjacent = at == list(range(at[0], at[0] + len(at)))
    before = [a for a in kept if adjacent and a < at[0]]
    after = [a for a in kept if a not in before]
    dims = len(before) + len(shape) + len(after)
    if dims != out.ndim:  # (a shape this reading does not cover: numpy's, row-major)
        return row_major(out)
    rows = [[strides[a] for a in before] + [0] * len(shape) + [strides[a] for a in after]]
    for _, array in indexers:
        own = torch_strides(array) if array.ndim else []
        lead = len(shape) - array.ndim
        row = [0] * lead + [0 if n == 1 and shape[lead + k] != 1 else own[k]
                            for k, n in enumerate(array.shape)]
        # torch reshapes the (broadcast) index to size 1 on x's other axes: a view whose
        # leading size-1 axes step over its first axis, its trailing ones step as its last
        # (0-d: contiguous); they decide the order where the result's axis is size 1 too
        first, last = (row[0] * shape[0], row[-1]) if shape else (1, 1)
        rows.append([first if out.shape[k] == 1 else 0 for k in range(len(before))] + row
                    + [last if out.shape[k] == 1 else 0
                       for k in range(len(before) + len(shape), dims)])
    order = _meta.axis_sort(out.shape, rows)[::-1]
    if order == list(range(out.ndim)):
        return row_major(out)
    from dlpy.layouts import empty_in_order

    laid = empty_in_order(out.shape, order, out.dtype)
    laid[...] = out
    return laid


def _with_new_axes(x: np.ndarray, index) -> np.ndarray:
    """``x[index]`` for an index with ``None`` and torch's stride for each new axis: torch
    unsqueezes as it reads the index, so the stride is the size times the stride of the axis of
    ``x`` the new axis goes before, unsliced (1 at the end), where numpy's is 0. An ``x`` with
    row-major strides (a size-1 axis's too) is reshaped with the new axes first, which gives
    them those strides at numpy's speed."""
    row_major = x.flags.c_contiguous and (1 not in x.shape or _row_major(x))
    if index is None:
        return x.reshape((1,) + x.shape) if row_major else _restrided_new_axes(x, (None,))
    if not row_major:
        return _restrided_new_axes(x, index)
    sizes, shape, dim, sliced = x.shape, [], 0, False
    for item in index:
        if item is None:
            shape.append(1)
        elif item is Ellipsis:
            span = x.ndim - sum(1 for i in index if i is not None and i is not Ellipsis)
            if span < 0:
                return x[index]  # (numpy's IndexError)
            shape += sizes[dim:dim + span]
            dim += span
        else:
            kind = type(item)
            if kind is not slice and kind is not int and (
                    kind is bool or not isinstance(item, np.integer)) or dim == len(sizes):
                return x[index]  # (a bool, an index array: numpy's strides; numpy's errors)
            shape.append(sizes[dim])
            dim += 1
            if not sliced and item != _ALL:
                sliced = True
    out = x.reshape(shape + list(sizes[dim:]) if dim < len(sizes) else shape)
    return out[tuple(_ALL if item is None else item for item in index)] if sliced else out


_ALL = slice(None)
_NONE_TYPE = type(None)


def _restrided_new_axes(x: np.ndarray, index: tuple) -> np.ndarray:
    """``_with_new_axes`` for any ``x``: numpy's ``x[index]`` with the new axes' strides set."""
    out = x[index]
    if not out.size or not _is_basic(index) or bool in map(type, index):
        return out
    span = x.ndim - sum(1 for item in index if item is not None and item is not Ellipsis)
    strides, waiting = list(out.strides), []
    axis = dim = 0  # the output's axis, x's
    for item in index:
        if item is None:
            waiting.append(axis)
            axis += 1
            continue
        step = span if item is Ellipsis else 1
        if step and waiting:
            for new in waiting:
                strides[new] = x.shape[dim] * x.strides[dim]
            waiting = []
        dim += step
        axis += step if item is Ellipsis or type(item) is slice else 0
    for new in waiting:
        strides[new] = x.shape[dim] * x.strides[dim] if dim < x.ndim else x.itemsize
    strides = tuple(strides)
    return out if strides == out.strides else restrided(out, strides)


def _index_grad_name(index) -> str:
    """torch's node for the gradient of x[index]: its first step's backward (an int's
    SelectBackwardBackward0, a slice's SliceBackwardBackward0) or IndexPutImplBackward0."""
    items = index if isinstance(index, tuple) else (index,)
    if not _is_basic(items):
        return "IndexPutImplBackward0"
    for item in items:
        if isinstance(item, slice) and item != slice(None):
            return "SliceBackwardBackward0"
        if isinstance(item, (int, np.integer)):
            return "SelectBackwardBackward0"
    return "IndexAddBackward0"


class IndexAdd(Op):
    """y = zeros of ``shape`` with g added at ``index`` (repeats accumulate): GetItem's
    gradient as an op, for create_graph;  dg = dy[index]."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, values):
        out = np.zeros(self.shape, dtype=values.dtype)
        np.add.at(out, self.index, values)
        return out

    def backward(self, grad_output):
        return (grad_output[self.index],)

    def backward_graph(self, grad_output, output):
        return (getitem(grad_output, self.index),)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class Concat(Op):
    """y = inputs joined along an axis;  each input gets its slice of g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.splits = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        y = np.concatenate(xs, axis=self.axis)
        if y.flags.c_contiguous or suggested_format(xs[0]) is not None:
            return y  # (channels-last inputs give a channels-last result, as torch's)
        return np.ascontiguousarray(y)  # numpy keeps a transposed input's order; torch not

    def backward(self, grad_output):
        return tuple(np.split(grad_output, self.splits, axis=self.axis))

    def backward_graph(self, grad_output, output):
        before, grads, start = (slice(None),) * self.axis, [], 0
        for x in self.inputs:
            stop = start + x.shape[self.axis]
            grads.append(getitem(grad_output, before + (slice(start, stop),)))
            start = stop
        return tuple(grads)


class Stack(Op):
    """y = inputs stacked along a new axis;  each input gets its slice of g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        y = np.stack(xs, axis=self.axis)
        if y.flags.c_contiguous or suggested_format(xs[0]) is not None:
            return y  # (channels-last inputs stay so in each slice, as torch's)
        return np.ascontiguousarray(y)  # numpy keeps a transposed input's order; torch not

    def backward(self, grad_output):
        return tuple(np.moveaxis(grad_output, self.axis, 0))

    def backward_graph(self, grad_output, output):
        before = (slice(None),) * self.axis
        return tuple(getitem(grad_output, before + (i,)) for i in range(len(self.inputs)))


def _shape_of(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


class _IndexValueError(IndexError, ValueError):
    """An index numpy refuses with a ValueError (a slice step of 0): an IndexError, as dlpy's
    other bad indices, and torch's ValueError."""


def _axis(name, axis, ndim, shape):
    """Check one axis and make it non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        if int_of(axis) is None:
            raise TypeError(f"{name}: axis must be an int, got {axis!r}")
        axis = int_of(axis)
    if not -ndim <= axis < ndim:
        raise DimError(f"{name}: axis {axis} is out of range for shape {shape}")
    return int(axis) % ndim



class _ScalarCopy(GetItem):
    """x[()] in memory of its own: no view of x (so under no_grad no tensor requiring grad
    with x, as a view of x would)."""

    def forward(self, x):
        return super().forward(x).copy()


def scalar_copy(x, node_name: str):
    """A 0-d x as a new tensor, in memory of its own, whose gradient flows to x through a node
    of torch's name: the values that sort, topk, max(dim), ... give for a 0-d x (torch's are
    new tensors: changing one leaves x alone, and under no_grad none requires grad)."""
    return _ScalarCopy((), node_name)(x)


def reshape(input, shape):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(n, (int, np.integer)) for n in shape):
        ints = [n if isinstance(n, (int, np.integer)) else int_of(n) for n in shape]
        if None in ints:
            raise TypeError(f"reshape: the shape must be ints, got {shape}")
        shape = ints
    shape = tuple(int(n) for n in shape)
    old = _shape_of(input)
    size = math.prod(old)
    known = math.prod(n for n in shape if n != -1)
    if (
        any(n < -1 for n in shape)
        or shape.count(-1) > 1
        or (-1 not in shape and known != size)
        or (-1 in shape and (known == 0 or size % known))
    ):
        raise ReshapeError(f"reshape: cannot reshape {old} ({size} values) into {shape}")
    return _reshaped(input, shape)


def _reshaped(input, shape):
    """reshape's / flatten's op, as torch's reshape: a view where the strides allow one (an
    alias of a non-contiguous x: ReshapeAliasBackward0), else a copy (UnsafeViewBackward0;
    torch's node has a CloneBackward0 before it, which dlpy's one node stands for)."""
    op = Reshape(shape)
    data = input.data if isinstance(input, Tensor) else None
    if type(data) is np.ndarray and not data.flags.c_contiguous and data.size:
        try:
            data.reshape(shape, copy=False)
        except ValueError:  # no view: torch's _unsafe_view of a contiguous clone, one node
            op.node_name = "UnsafeViewBackward0"  # here (its result owns its memory; the
            return op(input)  # dispatch layer shows clone and _unsafe_view)
    op.by_reshape = True
    return op(input)


class OwnReshape(Reshape):
    """y = x with a new shape, in new memory: the last step of an op computed at another shape
    (a 0-d input's softmax or cumsum over its one element), whose result is no view in torch."""

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(self.new_shape).copy()


def own_reshape(inner: Tensor, shape) -> Tensor:
    """``inner`` (an op's fresh output) reshaped into new memory (OwnReshape); an in-place
    change of the result counts as one of inner for the ops that saved it (softmax's output:
    torch's node saved the result itself)."""
    import importlib

    out = OwnReshape(shape)(inner)
    inner._version_of = (out.data, importlib.import_module("dlpy.tensor")._clock)
    return out


class ReshapeError(RuntimeError, ValueError):
    """A shape reshape / view cannot give: torch's RuntimeError (a ValueError as dlpy's was)."""


def _permute(name, x, axes, node_name=None):
    shape = _shape_of(x)
    ndim = len(shape)
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    axes = tuple(axes)
    if len(axes) != ndim:
        raise ShapeError(
            f"{name}: axes {axes} are not a permutation of the {ndim} axes of {shape}"
        )
    axes = tuple(_axis(name, a, ndim, shape) for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise RepeatedDimError(
            f"{name}: axes {axes} are not a permutation of the {ndim} axes of {shape}"
        )
    return Transpose(axes, node_name)(x)


def transpose(input, dim0=None, dim1=None):
    """numpy's ``transpose(x, axes)``: the axes in the order ``axes`` (reversed when None); or
    torch's ``transpose(x, dim0, dim1)``: those two axes swapped."""
    if dim1 is not None:
        return swapaxes(input, dim0, dim1)
    return _permute("transpose", input, dim0)


def permute(input, dims):
    """x with its axes in the order dims (a permutation), as torch.permute."""
    return _permute("permute", input, dims, "PermuteBackward0")


def unsqueeze(input, dim):
    """x with a new axis of length 1 at position dim (-ndim - 1 <= dim <= ndim), as PyTorch."""
    shape = _shape_of(input)
    given, dim = dim, _axis("unsqueeze", dim, len(shape) + 1, shape)
    op = Reshape(shape[:dim] + (1,) + shape[dim:], "UnsqueezeBackward0", dim)
    if given != dim:  # (torch's backward shows dim as given: TorchDispatchMode)
        op.given_dim = int(given)
    return op(input)


def squeeze(input, dim=None):
    """x without its axes of length 1 (dim None), or without axis dim (an int or a tuple) where
    it has length 1; an axis of another length is kept, as PyTorch."""
    shape = _shape_of(input)
    if dim is None:
        axes = range(len(shape))
    else:
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        ndim = len(shape) if shape else 1  # a scalar's one pseudo-axis, as in PyTorch
        axes = [_axis("squeeze", d, ndim, shape) for d in dims]
        if len(set(axes)) != len(axes):
            raise RepeatedDimError(f"squeeze: dim {dim!r} names an axis twice")
    drop = {a for a in axes if a < len(shape) and shape[a] == 1}
    # torch's overloads: squeeze(), squeeze(int), squeeze(tuple)
    name = f"SqueezeBackward{0 if dim is None else 2 if isinstance(dim, (tuple, list)) else 1}"
    kept = tuple(i for i in range(len(shape)) if i not in drop)
    return Reshape(tuple(shape[i] for i in kept), name, kept)(input)


def flatten(input, start_dim=0, end_dim=-1):
    """x with axes start_dim..end_dim (inclusive) merged into one; a scalar becomes shape (1,),
    as PyTorch."""
    shape = _shape_of(input)
    ndim = len(shape) if shape else 1
    start = _axis("flatten", start_dim, ndim, shape)
    end = _axis("flatten", end_dim, ndim, shape)
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"shape {shape}")
    if not shape:
        return Reshape((1,))(input)
    if start == end and isinstance(input, Tensor):  # nothing to merge: x itself, as torch's
        return input
    return _reshaped(input, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


def swapaxes(input, axis0, axis1):
    shape = _shape_of(input)
    axes = list(range(len(shape)))
    if not shape:  # a scalar: its one pseudo-axis (0 or -1) swapped with itself, as torch's
        for a in (axis0, axis1):
            _axis("swapaxes", a, 1, shape)
        return Transpose((), "TransposeBackward0")(input)
    given = (axis0, axis1)
    axis0, axis1 = (_axis("swapaxes", a, len(shape), shape) for a in (axis0, axis1))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    op = Transpose(tuple(axes), "TransposeBackward0")
    if axis0 != axis1 and given != (min(axis0, axis1), max(axis0, axis1)):
        op.given_dims = (int(given[0]), int(given[1]))  # (as torch's TorchDispatchMode shows)
    return op(input)


_INDEX_DTYPES = frozenset(np.dtype(d) for d in (np.int64, np.int32, np.uint8, np.bool_))


def _list_is_tuple(index: list) -> bool:
    """torch's (and old numpy's) rule: a short list holding a sequence, slice, tensor, None or
    Ellipsis is a tuple of indices (x[[[0, 1], [2, 2]]] is x[[0, 1], [2, 2]])."""
    return len(index) < 32 and any(
        i is None or i is Ellipsis or isinstance(i, (list, tuple, slice, Tensor, np.ndarray))
        for i in index)


def _warn_list_as_tuple() -> None:
    """torch's deprecation warning for a list read as a tuple of indices (``_list_is_tuple``),
    on x[seq] and x[seq] = v alike, at the line of the user's indexing."""
    from dlpy._caller import user_stacklevel

    warnings.warn(
        "Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
        "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will "
        "be interpreted as tensor index, x[torch.tensor(seq)], which will result either in an "
        "error or a different result", UserWarning, stacklevel=user_stacklevel())


def _plain_item(item):
    if isinstance(item, Tensor):
        array = index_values(item)
        if array.ndim == 0 and (array.dtype.kind == "i" or array.dtype.kind == "u"
                                and array.dtype.itemsize > 1) and type(array) is np.ndarray:
            return int(array)  # torch selects with a 0-d integer index of any width
        if array.dtype not in _INDEX_DTYPES:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors, "
                             f"got {array.dtype}")
        if array.dtype == np.uint8:  # torch's legacy byte mask
            warn_byte_index()
            return array.astype(bool)
        if array.ndim == 0 and array.dtype.kind == "i":  # torch selects with a 0-d index
            return int(array)
        return array
    if isinstance(item, (list, range)):  # x[range(n), t]: a sequence, as torch's
        array = np.asarray(item)
        if array.dtype.kind == "f":  # torch's: a list of numbers is cast to int64 (truncated)
            if not np.isfinite(array).all():
                raise ArgError(f"getitem: {item!r}: value cannot be converted to type int64 "
                               "without overflow")
            return array.astype(np.int64)
        if array.dtype.kind == "c":
            raise TypeError(f"getitem: {item!r}: 'complex' object cannot be interpreted as an "
                            "integer")
        return array.astype(np.int64) if array.size == 0 else array
    if type(item) is slice:
        if (type(item.start) in _BOUNDS and type(item.stop) in _BOUNDS
                and type(item.step) in _BOUNDS):
            return item  # (a negative step is dlpy's, numpy's: torch refuses it)
        return slice(*map(_slice_bound, (item.start, item.stop, item.step)))
    if type(item) is str:  # torch's: it tries torch.tensor(item)
        raise TypeError(f"getitem: a string is not an index, got {item!r}")
    if type(item) is np.bool_:  # numpy's mask, torch's error
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                         "tensors are valid indices, got numpy.bool_")
    return item


_BOUNDS = (type(None), int)


def _slice_bound(bound):
    """A slice bound as an int, as torch's: a one-element integer tensor is one; a float,
    another tensor or anything without __index__ is a TypeError."""
    if bound is None:
        return None
    if isinstance(bound, Tensor):
        if bound.data.size == 1 and bound.data.dtype.kind in "iu":
            return int(bound.data.reshape(()))
    else:
        try:
            return operator.index(bound)
        except TypeError:
            pass
    raise TypeError(f"slice indices must be integers or None or have an __index__ method, got "
                    f"{bound!r}")


def warn_byte_index() -> None:
    """torch's warning of an index tensor of dtype uint8 (a mask, deprecated)."""
    from dlpy._caller import user_stacklevel

    warnings.warn("indexing with dtype torch.uint8 is now deprecated, please use a dtype "
                  "torch.bool instead.", UserWarning, stacklevel=user_stacklevel())


def check_index_count(index, ndim: int) -> None:
    """torch's IndexError for an index that takes more axes than the tensor has (before any
    check of the value written)."""
    items = index if type(index) is tuple else (index,)
    used = sum(i.ndim if type(i) is np.ndarray and i.dtype == bool else
               0 if i is None or i is Ellipsis or type(i) is bool else 1 for i in items)
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")


def check_masks(index, shape: tuple) -> None:
    """torch's IndexError for a mask whose shape is not that of the axes it indexes (numpy
    takes an empty mask over any axis as an empty integer index)."""
    items = index if type(index) is tuple else (index,)
    if not any(type(i) is np.ndarray and i.dtype == bool and i.ndim for i in items):
        return
    used = sum(i.ndim if type(i) is np.ndarray and i.dtype == bool else
               0 if i is None or i is Ellipsis or type(i) is bool else 1 for i in items)
    axis = 0
    for item in items:
        if item is Ellipsis:
            axis += max(len(shape) - used, 0)
        elif type(item) is np.ndarray and item.dtype == bool and item.ndim:
            for k, size in enumerate(item.shape):
                if axis + k < len(shape) and size != shape[axis + k]:
                    raise IndexError(f"The shape of the mask {list(item.shape)} at index {k} "
                                     "does not match the shape of the indexed tensor "
                                     f"{list(shape)} at index {axis + k}")
            axis += item.ndim
        elif not (item is None or type(item) is bool or (type(item) is np.ndarray
                                                         and item.dtype == bool)):
            axis += 1


def _plain_index(index):
    """A torch index as numpy's: tensors and lists become arrays (a list holding a sequence, a
    slice or a tensor is a tuple of indices), a 0-d integer tensor an int, a uint8 tensor a
    mask; other index dtypes are refused, and of several Ellipses only the first counts (an
    index whose second one would expand past the last axis is refused first:
    check_ellipses)."""
    if type(index) is tuple:
        items = index
    elif type(index) is list and _list_is_tuple(index):
        _warn_list_as_tuple()
        items = tuple(index)
    else:
        return _plain_item(index)
    out, ellipsis = [], False
    for item in items:
        if item is Ellipsis:
            if ellipsis:
                continue
            ellipsis = True
        out.append(_plain_item(item))
    return tuple(out)


def _torch_order(index: tuple, ndim: int):
    """(basic, advanced): torch applies ints, slices, None and Ellipsis first and the index
    arrays to what is left, so x[0, :, [1, 2]] keeps the indexed axis where the array stands
    (numpy counts the int as an index array and moves the axis to the front); None when
    numpy's placement is already torch's."""
    if all(type(i) is slice or isinstance(i, np.ndarray) and (i.ndim or i.dtype != bool)
           for i in index):  # (numpy refuses a 0-d bool array beside another index array)
        return None
    used = sum(i.ndim if isinstance(i, np.ndarray) and i.dtype == bool else
               0 if i is None or i is Ellipsis or type(i) is bool else 1 for i in index)
    basic, advanced = [], []
    for item in index:
        if item is Ellipsis:
            basic += [slice(None)] * (ndim - used)
            advanced += [slice(None)] * (ndim - used)
        elif type(item) is bool or (isinstance(item, np.ndarray) and item.ndim == 0
                                    and item.dtype == bool):
            basic.append(None)  # torch: a new axis, indexed by [0] (True) or [] (False)
            advanced.append(np.zeros(1 if item else 0, dtype=np.int64))
        elif isinstance(item, np.ndarray):  # (a meta index tensor's: a MetaArray)
            basic += [slice(None)] * (item.ndim if item.dtype == bool else 1)
            advanced.append(item)
        else:  # an int (no axis left), a slice or None
            basic.append(item)
            if item is None or type(item) is slice:
                advanced.append(slice(None))
    return tuple(basic), tuple(advanced)


def check_ellipses(name: str, index, ndim: int) -> None:
    """torch expands each Ellipsis of an index to every axis the other items leave: an item
    that takes an axis after a second one is out of range there (torch's IndexError); with
    one Ellipsis, or nothing to expand, or only full slices after it, it is numpy's."""
    if type(index) is not tuple or sum(1 for i in index if i is Ellipsis) < 2:
        return
    taking = sum(1 for i in index if i is not None and i is not Ellipsis and type(i) is not bool)
    if taking >= ndim:
        return
    second = [k for k, i in enumerate(index) if i is Ellipsis][1]
    if any(i is not Ellipsis and type(i) is not bool and not (
            type(i) is slice and i == slice(None)) for i in index[second + 1:]):
        # (torch passes over a full slice there; a None there unsqueezes past the end)
        raise IndexError(f"{name}: index {index!r} has an item after its second Ellipsis "
                         f"which (as torch expands each Ellipsis to the {ndim - taking} axes "
                         "left) falls past the last axis")


def getitem(x, index):
    check_ellipses("getitem", index, len(_shape_of(x)))
    index = _plain_index(index)
    if type(index) is np.ndarray and index.ndim == 0 and index.dtype == bool:
        index = (index,)  # (torch's order below: a new axis indexed by [0] or [])
    check_masks(index, _shape_of(x))
    try:
        if type(index) is tuple and (np.ndarray in map(type, index) or (
                _meta.live() and MetaArray in map(type, index)) or (  # (meta index tensors)
                bool in map(type, index) and any(  # a Python bool beside an int: numpy
                    isinstance(i, (int, np.integer)) and type(i) is not bool  # would move
                    for i in index))):  # its axis to the front (it takes the int as an array)
            split = _torch_order(index, len(_shape_of(x)))
            if split is not None:
                basic, advanced = split
                y = GetItem(basic)(x) if any(i != slice(None) for i in basic) else x
                return GetItem(advanced, torch_layout=True)(y)
        return GetItem(index, torch_layout=True)(x)
    except (IndexError, TypeError, ValueError) as err:
        # numpy's ValueError (a slice step of 0) is torch's ValueError too
        raise (_IndexValueError if isinstance(err, ValueError) else IndexError)(
            f"getitem: index {index!r} is invalid for shape {_shape_of(x)}: {err}"
        ) from None


def _check_join(name, xs, axis, same_axis):
    if not xs:  # torch's RuntimeError
        raise ShapeError(f"{name}: needs at least one tensor")
    shapes = [_shape_of(x) for x in xs]
    ndim = len(shapes[0])
    if same_axis and () in shapes:  # (checked before the dim, at any position, as torch's)
        raise ShapeError(f"{name}: zero-dimensional tensor (at position {shapes.index(())}) "
                         f"cannot be concatenated, got {shapes}")
    axis = _axis(name, axis, ndim + (0 if same_axis else 1), shapes[0])
    for s in shapes:
        other = [n for i, n in enumerate(s) if not (same_axis and i == axis)]
        first = [n for i, n in enumerate(shapes[0]) if not (same_axis and i == axis)]
        if len(s) != ndim or other != first:
            what = "all axes but the concat axis" if same_axis else "the same shape"
            raise ShapeError(f"{name}: tensors need {what} to match, got {shapes} (axis {axis})")
    return axis


@autocast_policy(PROMOTE)
def concat(xs, axis=0):
    xs = _joined(list(xs))
    if len(xs) > 1:
        xs = _legacy_empties(xs, axis)
    if axis not in (0, -1) and isinstance(axis, (int, np.integer)) and xs \
            and all(_shape_of(x) == (0,) for x in xs):
        axis = 0  # only legacy empties: torch takes any dim and gives the empty (0,)
    return Concat(_check_join("concat", xs, axis, True))(*xs)


def _legacy_empties(xs: list, axis) -> list:
    """torch.cat skips empty tensors of shape (0,) beside tensors of other ranks: each is
    reshaped here to the others' shape with 0 along ``axis`` (its gradient stays empty)."""
    shapes = [_shape_of(x) for x in xs]
    others = [s for s in shapes if s != (0,)]
    if len(others) == len(shapes) or not others or len(others[0]) < 2:
        return xs  # (beside a 0-d tensor: torch's error for it, _check_join's)
    target = list(others[0])
    if isinstance(axis, (int, np.integer)):
        target[_axis("concat", axis, len(target), others[0])] = 0
    return [reshape(x, target) if s == (0,) else x for x, s in zip(xs, shapes)]


def _joined(xs: list) -> list:
    """cat/stack's operands in one dtype, torch.promote_types over them all (int64 with
    float32: float32, where numpy gives float64)."""
    dtypes = {x.data.dtype for x in xs if isinstance(x, Tensor)}
    if len(dtypes) < 2:
        return xs
    from dlpy.ops import promotion

    dtype = functools.reduce(promotion.promote_types, dtypes)
    return promotion.promote(*xs, dtype=dtype)


@autocast_policy(PROMOTE)
def stack(tensors, axis=0, *, dim=None):
    """torch.stack: the tensors joined along a new axis ``dim`` (dlpy's ``axis``)."""
    if dim is not None:
        if axis != 0 and axis != dim:
            raise TypeError(f"stack: give dim or axis, not both (dim={dim}, axis={axis})")
        axis = dim
    tensors = _joined(list(tensors))
    return Stack(_check_join("stack", tensors, axis, False))(*tensors)
