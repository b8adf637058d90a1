"""torch's ``meta`` device: tensors that hold a shape and a dtype and no values.

A meta tensor is a ``Tensor`` whose array is a ``MetaArray`` (``dlpy.device.meta_array``: a
zero-stride view of one NaN, or 0 for integers). It is made by the creation functions given
``device="meta"`` (or inside ``with dlpy.device("meta"):`` / after
``set_default_device("meta")``), by ``Tensor.to("meta")``, by ``Module.to("meta")`` and by
dlpy's layers built on the meta device (``nn.Linear(4096, 4096, device="meta")``: the layer's
draws from the default generator are meta arrays of their shapes, and its parameters and
buffers become meta tensors as they are registered: nothing is drawn or allocated).

Ops on meta tensors run their forward on the meta arrays and keep only the result's shape and
dtype, so shapes, dtypes and errors are those of the real computation; gradients are meta
tensors too. Products, linear layers, convolutions (transposed ones too) and attention take
their result's shape from rules on their inputs' shapes instead, and so do the ops that move or
reduce elements (``_shape_rules``: concatenation, reductions, sorts' gathers, indexing,
scatters, fold / unfold, grid sampling, linalg's factorisations, losses, pooling...), the
Fourier transforms their shape and complex or real dtype (``_typed_rules``), and functions
that compute outside one op (take, index_put, masked_scatter, kthvalue, quantile,
embedding_bag, ctc_loss, adaptive pooling) return a node of their result's shape (``shaped``);
element-wise ops take it from their forward on small stand-ins; their gradients are meta arrays
of their inputs' shapes: nothing of the tensors' size is computed (``_shape_rule``). A meta
array carries the layout its tensor reports, as torch's: strides (``strides_in_elements``: a
memory format's, empty_strided's, those of a dense CPU array moved to meta), storage offset
and storage size; a view's come from its base's (``_lay_out_view``: torch's rule for view /
reshape, the op's own forward on a one-byte stand-in for slices, transposes, expand, diagonal
and unfold), element-wise results and clones are dense in their inputs' order (torch's
TensorIterator), pooling keeps a channels-last order. Positions
found from values (argmax, sort, topk: ``positions``) and comparisons (``compared``) are meta
arrays of their shapes, made without reading the arrays. In-place changes of a meta tensor
(``uniform_``, ``copy_``, ``nn.init``) check their arguments and change nothing; reading values
(``item``, ``tolist``, ``numpy``, ``bool``, ``to("cpu")``) raises torch's errors. A CPU tensor
with dimensions given to an op beside a meta tensor is torch's device error (a 0-d one or a
Python number is taken, as torch's).

While no meta array is alive the engine's call sites are the plain ones: the first meta array
puts the meta layer in (``dlpy.autograd_function.swap_call_sites``), and it leaves again once
every meta array is gone."""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import sys
import weakref

import numpy as np

from dlpy.device import MetaArray

# weak references to the fill arrays under every live MetaArray (by id: arrays are unhashable)
_live: dict[int, weakref.ref] = {}
_layer = [None]  # the swap_call_sites block while the meta layer is in
_building = [0]  # depth of dlpy layers being built on the meta device
building_where: list = []  # the device= each of them was given (None: not given)
# torch's FakeTensorMode (dlpy._subclasses.fake_tensor): its hooks object once a mode was made,
# else None; the meta call site asks it about an op's inputs (real tensors refused, the mode
# and device of fake results) and gives it the results to make FakeTensors of (``_faked``)
_fake = [None]


# the ids of the live fill arrays (and each one's by its weak reference's id): what tells a
# plain view of a meta array (``np.asarray`` of one) from a CPU array
_fill_ids: set[int] = set()
_fills: dict[int, int] = {}


def made(fill: np.ndarray) -> None:
    """A MetaArray over ``fill`` was made: note it, and put the meta layer in."""
    ref = weakref.ref(fill, _gone)
    _live[id(ref)] = ref
    _fills[id(ref)] = id(fill)
    _fill_ids.add(id(fill))
    if _layer[0] is None:
        _activate()


def _gone(ref) -> None:
    _live.pop(id(ref), None)
    _fill_ids.discard(_fills.pop(id(ref), None))


def _activate() -> None:
    from dlpy.autograd_function import swap_call_sites

    block = swap_call_sites(-100, op_call=_meta_op_call, checked_grads=_meta_grads)
    _layer[0] = block
    block.__enter__()


def _maybe_deactivate() -> None:
    if _layer[0] is not None and not _live:
        block, _layer[0] = _layer[0], None
        block.__exit__(None, None, None)


def is_meta_array(array) -> bool:
    return type(array) is MetaArray


def compared(op, a, b):
    """A comparison (numpy's ``op``) of a meta array: a meta bool array of the broadcast shape,
    ``op`` run on one element of each (its TypeErrors as the full one's); None where neither
    is a meta array (the comparison runs)."""
    if type(a) is not MetaArray and type(b) is not MetaArray:
        return None
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))  # (ValueError: the caller's)
    one = [x.reshape(-1)[:1] if isinstance(x, np.ndarray) and x.ndim and x.size else x
           for x in (a, b)]
    op(*one)
    from dlpy.device import meta_array

    return meta_array(shape, np.bool_)


def positions(data, axis, keepdims: bool = False, *, same: bool = False):
    """What numpy's argmax/argmin (``same``: argsort's result of ``data``'s shape) would find
    along ``axis`` (None: all) of a meta array: a meta int64 array of that shape, without the
    pass over its one repeated value (and the copy numpy's arg-functions make of a
    non-contiguous array); None for any other array, or an empty one (numpy's own errors)."""
    if type(data) is not MetaArray or not data.size:
        return None
    from dlpy.device import meta_array

    if same:
        return meta_array(data.shape, np.int64)
    if axis is None:
        shape = (1,) * data.ndim if keepdims else ()
    else:
        shape = _reduced(data.shape, axis, keepdims)
    return None if shape is None else meta_array(shape, np.int64)


def as_meta(array: np.ndarray) -> MetaArray:
    """A MetaArray of ``array``'s shape and dtype: ``array`` itself when it is a zero-stride
    MetaArray already (a view of one keeps its memory relation), else a new one (with the
    strides of a real array that is dense but not row-major: a channels-last one moved to
    meta keeps them, as torch's)."""
    if type(array) is MetaArray and not any(array.strides):
        return array
    from dlpy.device import meta_array

    strides = None
    if type(array) is np.ndarray and array.size > 1 and not array.flags.c_contiguous and \
            array.itemsize and all(n > 0 for n in array.strides) and \
            sorted(array.strides)[0] == array.itemsize and \
            math.prod(array.shape) * array.itemsize == _span(array):
        strides = tuple(n // array.itemsize for n in array.strides)
    return meta_array(array.shape, array.dtype, strides)


def _span(array) -> int:
    """The bytes from ``array``'s first element to past its last (positive strides)."""
    return sum((n - 1) * step for n, step in zip(array.shape, array.strides)) + array.itemsize


def strides_of(array) -> tuple:
    """The strides in elements a meta array's tensor reports (torch's): those it was given
    (a memory format's, a transpose's), else the row-major ones."""
    given = getattr(array, "strides_in_elements", None)
    return contiguous_strides(array.shape) if given is None else given


def layout_view(array) -> np.ndarray:
    """A stand-in for a meta array's memory order: a uint8 array of its shape whose strides
    (in bytes) are its tensor's strides in elements, over one byte, never read (numpy's
    ``flags`` and ``transpose`` of it answer what the memory-format checks ask)."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), array.shape,
                                           strides_of(array), writeable=False)


def format_strides(shape, fmt) -> tuple | None:
    """The strides torch gives a fresh tensor of ``shape`` in memory format ``fmt``
    (channels_last's (H W C, 1, W C, C) for (N, C, H, W)); None for the row-major ones."""
    from dlpy.layouts import _ORDER

    if fmt not in _ORDER or len(shape) != _ORDER[fmt][0]:
        return None
    order = _ORDER[fmt][1]  # the axes from the outermost in memory
    steps = contiguous_strides([shape[a] for a in order])
    strides = [0] * len(shape)
    for axis, step in zip(order, steps):
        strides[axis] = step
    return tuple(strides)


def metafy(value):
    """Tensors in ``value`` (a Tensor, or tuples / lists of them) given meta arrays in place
    of their values; returns ``value``."""
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor):
        data = value.data
        if isinstance(data, np.ndarray):
            value.data = as_meta(data)
        grad = value._grad
        if isinstance(grad, Tensor) and isinstance(grad.data, np.ndarray):
            grad.data = as_meta(grad.data)
    elif isinstance(value, (tuple, list)):
        for item in value:
            metafy(item)
    if _fake[0] is not None:  # (made inside a FakeTensorMode: a FakeTensor)
        _fake[0].made(value, None)
    return value


def holds_meta(t) -> bool:
    """Whether ``t`` is a tensor on the meta device (a numpy array's ``.data`` is a
    memoryview, not read: float16's cannot be made)."""
    return not isinstance(t, np.ndarray) and type(getattr(t, "data", None)) is MetaArray


def check_devices(inputs) -> None:
    """torch's refusal of a CPU tensor with dimensions beside a meta one."""
    from dlpy.tensor import Tensor

    for t in inputs:
        if isinstance(t, Tensor) and type(t.data) is not MetaArray and t.data.ndim:
            raise RuntimeError("Tensor on device cpu is not on the expected device meta!")


def _meta_op_call(inner):
    def meta_call(self, *inputs):
        for t in inputs:
            if type(t) is not np.ndarray and type(getattr(t, "data", None)) is MetaArray:
                break
        else:
            if _fake[0] is not None and not self.inputs:  # (a FakeTensorMode: real inputs)
                return _fake[0].real_call(inner, self, inputs)
            if not _live:
                _maybe_deactivate()
            return inner(self, *inputs)
        if self.inputs:  # a recorded node called as torch's Node: its backward
            return inner(self, *inputs)
        fake = None if _fake[0] is None else _fake[0].check(inputs)
        if fake is None:
            check_devices(inputs)
        refusal = getattr(self, "meta_refusal", None)
        if refusal is None and _masks(getattr(self, "index", None)):
            refusal = data_dependent("aten::nonzero (a boolean mask index)")
        if refusal is not None:
            raise _refused(refusal, fake)
        if fake is not None:
            return _faked(_fake[0].run(meta_call_body, inner, self, inputs), fake)
        return meta_call_body(inner, self, inputs)

    return meta_call


def meta_call_body(inner, self, inputs):
    """An op on meta inputs (checked): its result's shape from a rule or its forward."""
    shape = _shape_rule(self, inputs, inner)
    if shape is not None:  # a costly op: its result's shape and dtype alone
        from dlpy.device import meta_array

        result = meta_array(*shape, _result_strides(self, inputs, shape[0]))
        self.__dict__["forward"] = lambda *arrays: result
        self.__dict__["_meta_shaped"] = True
        try:
            out = inner(self, *inputs)
        finally:
            self.__dict__.pop("forward", None)
        metafy(out)  # (Op.__call__'s np.asarray took the subclass off)
        if result.strides_in_elements is not None and type(getattr(out, "data", None)) \
                is MetaArray:
            out.data.strides_in_elements = result.strides_in_elements
        return out
    with np.errstate(all="ignore"):
        out = inner(self, *inputs)
    metafy(out)
    base = getattr(out, "_view_of", None)
    if base is None and type(getattr(out, "data", None)) is MetaArray \
            and out.data.strides_in_elements is None:
        out.data.strides_in_elements = _result_strides(self, inputs, out.data.shape)
    if base is not None and holds_meta(base):
        _share_memory(out, base)
        if inputs and holds_meta(inputs[0]):
            _lay_out_view(self, inputs[0].data, out)
    return out


# the view ops whose forward, given any strided array, returns a view of it (never a copy):
# run on a stand-in with the source's strides, they give the view's strides and offset
_STRIDED_VIEWS = frozenset({"Transpose", "GetItem", "Expand", "Diagonal", "SlidingWindows"})


def _lay_out_view(op, source, out) -> None:
    """``out`` (a meta tensor viewing ``source``'s storage, made by ``op``) given torch's
    strides, storage offset and storage size: a reshape's from torch's rule (where none fits,
    ``reshape`` copies: ``out`` gets storage of its own), as_strided's those asked for, the
    other views' those the op's forward gives on a stand-in of ``source``'s strides (one byte
    of memory, never read), as on the CPU; an op not known here: row-major ones."""
    array = out.data
    name = type(op).__name__
    strides, offset = strides_of(source), source.offset_in_elements
    if name == "Reshape":
        found = view_strides(source.shape, strides, array.shape)
        if found is None:  # (no view fits: torch's reshape copies)
            from dlpy.device import meta_array

            out.data = meta_array(array.shape, array.dtype)
            return
        strides = found
    elif name == "AsStrided" and getattr(op, "index", 0) is None:
        strides, offset = op.stride, op.offset
    elif name in ("Real", "Imag") and source.dtype.kind == "c":  # (in units of the part)
        strides = tuple(2 * n for n in strides)
        offset = 2 * offset + (name == "Imag")
    elif name in _STRIDED_VIEWS and array.ndim < 64:
        fill = np.zeros(1, np.uint8)
        stand_in = np.lib.stride_tricks.as_strided(fill, source.shape, strides,
                                                   writeable=source.flags.writeable)
        with np.errstate(all="ignore"):
            result = copy.copy(op).forward(stand_in)
        from dlpy.tensor import _buffer

        if not isinstance(result, np.ndarray) or result.shape != array.shape \
                or _buffer(result) is not fill:
            return
        strides = result.strides
        offset += result.__array_interface__["data"][0] - fill.__array_interface__["data"][0]
        if name == "GetItem":
            strides = _new_axes(op.index, source.shape, strides_of(source), strides)
    else:
        return
    array.strides_in_elements = torch_strides(array.shape, strides)
    array.offset_in_elements = int(offset)
    array.storage_nbytes = storage_nbytes(source)


def _new_axes(index, shape, strides, found) -> tuple:
    """``found`` (a basic index's strides) with each new axis's (None's) as torch's: its
    indexing unsqueezes before the axes after it are sliced, so the step is that of the
    source's next axis as it was (``x[None, 1:]`` of a (4, 6) tensor: 24, not 18)."""
    items = index if type(index) is tuple else (index,)
    if not any(item is None for item in items) or not all(
            item is None or item is Ellipsis or type(item) is slice
            or isinstance(item, (int, np.integer)) and not isinstance(item, bool)
            for item in items):
        return found
    taken = sum(item is not None and item is not Ellipsis for item in items)
    found, dim, at = list(found), 0, 0
    for item in items:
        if item is None:
            found[at] = shape[dim] * strides[dim] if dim < len(shape) else 1
            at += 1
        elif item is Ellipsis:
            dim += len(shape) - taken
            at += len(shape) - taken
        else:
            dim += 1
            at += type(item) is slice
    return tuple(found)


def retyped(source, array) -> None:
    """``array``, ``source`` (a meta array) read as another dtype (``view(dtype)``), given
    torch's strides, storage offset and storage: where the item sizes differ, the strides
    but the last and the offset in units of the new dtype."""
    old, new = source.itemsize, array.itemsize
    strides, offset = strides_of(source), source.offset_in_elements
    if old != new:
        if not source.size:
            return
        strides = tuple(n * old // new for n in strides[:-1]) + (1,)
        offset = offset * old // new
    array.strides_in_elements = torch_strides(array.shape, strides)
    array.offset_in_elements = offset
    array.storage_nbytes = storage_nbytes(source)


def torch_strides(shape, strides) -> tuple:
    """``strides`` (in elements) as torch reports them: an empty tensor's all-zero ones its
    row-major ones, a size-1 axis of stride 0 (numpy's new axis) unsqueeze's step."""
    strides = [int(n) for n in strides]
    if 0 in shape and not any(strides):
        return contiguous_strides(shape)
    for axis in range(len(shape) - 1, -1, -1):
        if shape[axis] == 1 and strides[axis] == 0:
            strides[axis] = shape[axis + 1] * strides[axis + 1] if axis + 1 < len(shape) else 1
    return tuple(strides)


def storage_nbytes(array) -> int:
    """The bytes of the storage a meta array's tensor views (torch's
    ``untyped_storage().nbytes()``): its own, else what its shape, strides and offset reach."""
    given = getattr(array, "storage_nbytes", None)
    if given is not None:
        return given
    if 0 in array.shape:
        return 0
    offset = getattr(array, "offset_in_elements", 0)
    last = sum((n - 1) * step for n, step in zip(array.shape, strides_of(array)))
    return (offset + last + 1) * array.itemsize


def view_strides(shape, strides, new_shape) -> tuple | None:
    """torch's strides of a view of ``new_shape`` over a tensor of ``shape`` and ``strides``
    (ATen's computeStride: runs of axes that lie contiguously may be split or merged), None
    where none fits (``view`` refuses it, ``reshape`` copies)."""
    shape, new_shape = tuple(shape), tuple(new_shape)
    if not shape:
        return (1,) * len(new_shape)
    numel = math.prod(shape)
    if numel == 0 and shape == new_shape:
        return tuple(strides)
    new_strides = [0] * len(new_shape)
    if numel == 0:
        return contiguous_strides(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (shape[tensor_d - 1] != 1
                             and strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    return tuple(new_strides) if view_d == -1 else None


def axis_sort(shape, rows) -> list:
    """torch's one stride sort of the axes of ``shape`` (TensorIterator's reorder_dimensions,
    infer_dense_strides), innermost first: ``rows`` of strides (one per operand, aligned to
    ``shape``), the first row that tells two axes apart deciding, a stride 0 deciding nothing,
    equal strides the smaller axis inside; an insertion sort whose swaps skip the undecided
    axes between (torch's, not numpy's)."""
    ndim = len(shape)

    def should_swap(dim0: int, dim1: int) -> int:
        for row in rows:
            stride0, stride1 = row[dim0], row[dim1]
            if stride0 == 0 or stride1 == 0:
                continue
            if stride0 != stride1:
                return 1 if stride0 > stride1 else -1
            if shape[dim0] > shape[dim1]:
                return 1
        return 0

    perm = list(range(ndim - 1, -1, -1))  # the innermost axis first
    for i in range(1, ndim):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            comparison = should_swap(perm[dim0], perm[dim1])
            if comparison > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif comparison < 0:
                break
    return perm


def dense_strides(shape, operands) -> tuple | None:
    """The strides of a new dense tensor of ``shape`` whose axes lie in memory in the order of
    ``operands``' strides (torch's TensorIterator / ``infer_dense_strides``: the axis of the
    smaller stride inside, a stride 0 (a broadcast axis) deciding nothing, equal strides the
    smaller axis inside); None where that is row-major. ``operands``: strides in elements, one
    tuple per input, aligned to ``shape``'s last axes."""
    ndim = len(shape)
    rows = [(0,) * (ndim - len(s)) + tuple(s) for s in operands if len(s) <= ndim]
    if ndim < 2 or not rows:
        return None
    perm = axis_sort(shape, rows)
    strides, step = [0] * ndim, 1
    for axis in perm:
        strides[axis] = step
        step *= max(shape[axis], 1)
    strides = tuple(strides)
    return None if strides == contiguous_strides(shape) else strides


def _result_strides(op, inputs, shape) -> tuple | None:
    """The strides of a ruled op's meta result (None: row-major): a memory-format copy's
    (``Relayout``) those of its format; an element-wise op's those of its first input of the
    result's shape that is not row-major (torch's keeps a channels-last input's order)."""
    fmt = getattr(op, "fmt", None)
    if fmt is not None and type(op).__name__ == "Relayout":
        return format_strides(shape, fmt)
    if type(op).__module__ in _ELEMENTWISE_MODULES:
        return iterated_strides(inputs, shape)
    if "Pool" in type(op).__name__ and inputs and holds_meta(inputs[0]):
        from dlpy.layouts import suggested_format  # (pooling keeps a channels-last order)

        return format_strides(shape, suggested_format(inputs[0].data))
    return None


def iterated_strides(inputs, shape) -> tuple | None:
    """The strides of an element-wise op's result of ``shape`` (None: row-major): dense, its
    axes in the order of its meta inputs' strides (torch's TensorIterator; a broadcast axis,
    stride 0, decides nothing), row-major while every input is row-major."""
    shape = tuple(shape)
    operands, ordered = [], False
    for t in inputs:
        data = getattr(t, "data", None)
        if type(data) is not MetaArray or data.ndim > len(shape):
            continue
        given = data.strides_in_elements
        if given is None:
            given = contiguous_strides(data.shape)
        else:
            ordered = True
        lead = len(shape) - data.ndim
        operands.append(tuple(0 if n == 1 and shape[lead + k] != 1 else step
                              for k, (n, step) in enumerate(zip(data.shape, given))))
    return dense_strides(shape, operands) if ordered else None


def dense(shape, strides) -> bool:
    """Whether a tensor of ``shape`` and ``strides`` covers its memory without gaps or
    overlaps (torch's ``is_non_overlapping_and_dense``)."""
    pairs = sorted((step, n) for n, step in zip(shape, strides) if n != 1)
    expected = 1
    for step, n in pairs:
        if step != expected:
            return False
        expected *= n
    return True


def preserved_strides(array) -> tuple | None:
    """The strides of a new tensor like a meta array's (torch's ``empty_like`` /
    ``clone`` with preserve_format): its own where it is dense, else dense ones in its
    axes' order (``infer_dense_strides``); None: row-major."""
    given = array.strides_in_elements
    if given is None or dense(array.shape, given):
        return given
    return dense_strides(array.shape, [given])


def shaped(inputs, shape, dtype, name: str | None = None):
    """The result of an op on meta tensors found from their shapes alone (``shape``, ``dtype``:
    torch's meta kernel's), recorded as a node of ``inputs`` (the tensors it depends on; its
    gradients are meta arrays of their shapes) named torch's ``name``: what functions that
    compute outside one Op (the decompositions of linalg, kthvalue, take) return on meta."""
    from dlpy.node_names import named
    from dlpy.tensor import Tensor

    tensors = [t for t in inputs if isinstance(t, Tensor)]  # (the call checks their devices)
    if not any(holds_meta(t) for t in tensors):
        return metafy(Tensor(_meta_array(shape, dtype)))
    out = _shaped_op()(shape, dtype)(*tensors)
    return named(out, name) if name else out


def _refused(message: str, fake):
    """The error of an op whose result's shape depends on values: torch's NotImplementedError
    on meta, FakeTensorMode's DynamicOutputShapeException on fake tensors."""
    return NotImplementedError(message) if fake is None else _fake[0].refused(message)


def _faked(out, fake):
    """An op's results on fake inputs made FakeTensors (``fake``: the check's answer)."""
    if fake is not None:
        _fake[0].made(out, fake)
    return out


def check_together(values) -> None:
    """torch's device check of an op's tensor arguments read outside its inputs (a loss's
    labels and class weights): beside a meta tensor, a CPU tensor with dimensions is refused
    (a 0-d one is taken)."""
    if any(holds_meta(v) for v in values):
        check_devices(values)


def check_where(condition, input, other) -> None:
    """torch.where's devices: a condition with dimensions on the CPU beside a meta value, or a
    meta condition beside a CPU value with dimensions, is torch's error."""
    values = [v for v in (input, other) if not np.isscalar(v)]
    if holds_meta(condition):
        check_devices(values)
    elif any(holds_meta(v) for v in values):
        check_devices([condition])


def where_values(condition, input, other):
    """torch.where's values (after promotion: 0-d arrays or tensors of the result's dtype)
    beside a meta condition when neither is a meta tensor (numbers, 0-d CPU tensors): the
    first as a 0-d meta tensor (a recorded copy where it requires grad), so the op runs on the
    meta device and its result is a meta tensor of the condition's shape, as torch's."""
    if not holds_meta(condition) or holds_meta(input) or holds_meta(other):
        return input, other
    from dlpy.device import META, meta_array
    from dlpy.tensor import Tensor

    if isinstance(input, Tensor) and input.requires_grad:
        input = moved(input, META, None)
    else:
        dtype = input.data.dtype if isinstance(input, Tensor) else np.asarray(input).dtype
        input = Tensor(meta_array((), dtype))
    if _fake[0] is not None:  # (a fake condition's: a fake)
        _fake[0].follow(input, (condition,))
    return input, other


def following(values):
    """A context in which the ops run take the fake device of the FakeTensors among
    ``values`` (torch.where's condition, which is no input of its op, counts)."""
    if _fake[0] is None:
        return contextlib.nullcontext()
    return _fake[0].following(values)


def _masks(index) -> bool:
    """Whether an op's ``index`` (GetItem's, IndexPut's) holds a boolean mask: what it selects
    depends on the mask's values, so torch refuses it on a meta tensor."""
    if index is None:
        return False
    for item in index if type(index) is tuple else (index,):
        if type(item) is MetaArray and item.dtype == np.bool_ and item.ndim:
            return True
    return False


def _share_memory(view, base) -> None:
    """A view of a meta tensor made by a copying numpy call (``view`` of a zero-stride array)
    shares its base's one element again, so ``view._base`` is its base, as torch's."""
    from dlpy.tensor import _buffer

    owner = _buffer(base.data)
    if (_buffer(view.data) is not owner and isinstance(owner, np.ndarray) and owner.size == 1
            and owner.dtype == view.data.dtype):
        shape = view.data.shape
        view.data = np.lib.stride_tricks.as_strided(
            owner, shape, (0,) * len(shape), writeable=owner.flags.writeable).view(MetaArray)


def _meta_array(shape, dtype):
    from dlpy.device import meta_array

    return meta_array(tuple(int(n) for n in shape), dtype)


@functools.cache
def _shaped_op():
    from dlpy.tensor import Op

    class Shaped(Op):
        """A meta result of ``shape`` and ``dtype`` (``shaped``); the gradients are meta
        arrays of the inputs' shapes."""

        complex_ok = True
        saves = ()

        def __init__(self, shape, dtype):
            self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)
            self._meta_shaped = True  # (_meta_grads: its inputs' shapes)

        def forward(self, *arrays):
            return _meta_array(self.shape, self.dtype)

        def backward(self, grad_output):
            return tuple(_meta_array(t.shape, t.dtype) for t in self.inputs)

    return Shaped


# ---------------------------------------------------------- shapes of the costly ops
# The products, convolutions and attention on meta tensors get their result's shape and dtype
# from the inputs' shapes, without running the product (a meta forward of a large model would
# otherwise cost its real time), and their gradients are meta arrays of the inputs' shapes.
# Anything unusual (two dtypes, complex or integer arrays, shapes that do not fit, a
# saved_tensors_hooks block) runs the op's own forward, which raises its own errors.
_RULES: list = []


def _rules() -> list:
    if not _RULES:
        from dlpy.ops.attention import Attention
        from dlpy.ops.conv import ConvNd, _output_size
        from dlpy.ops.matmul import Linear, MatMul

        def matmul(op, a, b):
            if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
                return None
            if b.ndim == 1:
                return a.shape[:-1]
            if a.ndim == 1:
                return b.shape[:-2] + b.shape[-1:]
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            return batch + (a.shape[-2], b.shape[-1])

        def linear(op, x, weight, bias=None):
            if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1] or (
                    bias is not None and bias.shape not in ((weight.shape[0],), ())):
                return None
            return x.shape[:-1] + weight.shape[:1]

        def conv(op, x, weight, bias=None):
            nd = len(op.stride)
            if (x.ndim != nd + 2 or weight.ndim != nd + 2 or x.shape[1] != weight.shape[1]
                    * op.groups or weight.shape[0] % op.groups or (
                        bias is not None and bias.shape != weight.shape[:1])):
                return None
            size = _output_size(op.name, x.shape[2:], weight.shape[2:], op.stride,
                                op.padding, op.dilation)
            return (x.shape[0], weight.shape[0], *size)

        def attention(op, *arrays):
            # the result's shape; the weights (what the caller may return) as a meta array
            from dlpy.device import meta_array

            if op.with_lse:
                return None
            if op.packed:  # (batch, seq, 3 * width): q, k, v side by side
                (qkv,) = arrays
                if qkv.ndim != 3 or qkv.shape[-1] % 3 or (qkv.shape[-1] // 3) % op.num_heads:
                    return None
                batch, seq = qkv.shape[:2]
                op.weights = meta_array((batch, op.num_heads, seq, seq), qkv.dtype)
                return (batch, seq, qkv.shape[-1] // 3)
            if len(arrays) != 3:
                return None
            q, k, v = arrays
            if op.num_heads is not None:  # (batch, seq, heads * dim)
                heads = op.num_heads
                if (q.ndim != 3 or k.ndim != 3 or v.ndim != 3 or q.shape[-1] != k.shape[-1]
                        or q.shape[-1] % heads or v.shape[-1] % heads or k.shape[:2]
                        != v.shape[:2] or q.shape[0] != k.shape[0]):
                    return None
                op.weights = meta_array((q.shape[0], heads, q.shape[1], k.shape[1]), q.dtype)
                return q.shape[:2] + v.shape[-1:]
            if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] \
                    or k.shape[-2] != v.shape[-2]:
                return None
            batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
            op.weights = meta_array(batch + (q.shape[-2], k.shape[-2]), q.dtype)
            return batch + (q.shape[-2], v.shape[-1])

        _RULES.extend([(MatMul, matmul), (Linear, linear), (ConvNd, conv),
                       (Attention, attention), *_shape_rules()])
    return _RULES


def _reduced(shape: tuple, axes, keepdims: bool) -> tuple | None:
    """``shape`` reduced over ``axes`` (None: all; ints, negative from the end), the axes kept
    as 1s with ``keepdims``; None for a 0-d or empty shape (the op's own forward: its errors
    for an empty reduction)."""
    if not shape or 0 in shape:
        return None
    if axes is None:
        axes = range(len(shape))
    elif isinstance(axes, (int, np.integer)):
        axes = (axes,)
    try:
        gone = {range(len(shape))[int(a)] for a in axes}
    except (IndexError, TypeError):
        return None
    return tuple(1 if i in gone else n for i, n in enumerate(shape)
                 if keepdims or i not in gone)


def _shape_rules() -> list:
    """The shapes of the ops that move or reduce a meta tensor's elements (concatenations,
    reductions, copies to another memory order, sorts' gathers, index selections, lookups,
    normalisations, losses): each rule gives the result's shape from the inputs' shapes and
    the op's settings (or None: the op's forward runs); the dtype is the inputs' one (the
    rules are used for floating inputs of one dtype only)."""
    from dlpy.layouts import Relayout
    from dlpy.ops.conv import AvgPoolNd, ConvTransposeNd, MaxPoolNd, _transpose_output_size
    from dlpy.ops.cumulative import CumProd, CumSum, LogCumSumExp
    from dlpy.ops.einsum import Einsum
    from dlpy.ops.embedding import Embedding
    from dlpy.ops.fold import Fold, Unfold
    from dlpy.ops.grid import AffineGrid, GridSample
    from dlpy.ops.indexing import Gather, IndexSelect, Scatter, ScatterAdd, ScatterReduce
    from dlpy.ops.linalg import (
        QR,
        SVD,
        Cholesky,
        Det,
        DetSign,
        Eigh,
        Eigvalsh,
        Inv,
        LogAbsDet,
        Pinv,
        Solve,
        Svdvals,
        _svd_shapes,
    )
    from dlpy.ops.loss import MSELoss, SoftmaxCrossEntropy
    from dlpy.ops.norm import BatchNorm, GroupNorm
    from dlpy.ops.pad import Pad
    from dlpy.ops.rearrange import Repeat, Roll, Triangle
    from dlpy.ops.reduce import LogSumExp, Max, Norm, Sum, Var
    from dlpy.ops.resample import Resample
    from dlpy.ops.shape import Concat, GetItem, Stack

    def concat(op, *arrays):
        if any(a.ndim == 0 or a.size == 0 for a in arrays) or len(
                {a.ndim for a in arrays}) != 1:
            return None  # (0-d refusals, torch's legacy empty tensors: the forward's rules)
        axis = range(arrays[0].ndim)[op.axis]
        rest = {a.shape[:axis] + a.shape[axis + 1:] for a in arrays}
        if len(rest) != 1:
            return None
        first = arrays[0].shape
        return first[:axis] + (sum(a.shape[axis] for a in arrays),) + first[axis + 1:]

    def stack(op, *arrays):
        if len({a.shape for a in arrays}) != 1:
            return None
        first = arrays[0].shape
        axis = range(len(first) + 1)[op.axis]
        return first[:axis] + (len(arrays),) + first[axis:]

    def reduction(op, x):
        return _reduced(x.shape, op.axes, op.keepdims)

    def same(op, x, *rest):
        return x.shape if x.size else None

    def normalised(op, x, *affine):
        return x.shape if x.ndim >= 2 and x.size and all(
            a.shape == (x.shape[1],) for a in affine) else None

    def batch_norm(op, x, *affine):
        shape = normalised(op, x, *affine)
        if shape is None or getattr(op, "stats_dtype", None) is not None:
            return None
        if op.training:  # the batch's statistics, which batch_norm then folds into the
            # running buffers: meta arrays of the channels
            from dlpy.device import meta_array

            op.batch_mean = op.batch_var = meta_array(x.shape[1:2], x.dtype)
        elif not (_meta_like(op.running_mean) and _meta_like(op.running_var)):
            return None  # (CPU buffers beside a meta input: the forward's devices)
        return shape

    def advanced_index(op, x):
        index = op.index if type(op.index) is tuple else (op.index,)
        if not any(isinstance(i, np.ndarray) and i.ndim for i in index):
            return None  # (basic indexing: a view, which the forward makes for nothing)
        # numpy's indexing of a stand-in whose elements take no bytes: the result's shape (and
        # numpy's errors) with nothing allocated
        nothing = np.lib.stride_tricks.as_strided(np.zeros(1, np.dtype([])), x.shape,
                                                  (0,) * x.ndim)
        if not any(_meta_like(i) for i in index):
            return nothing[op.index].shape
        return _indexed_shape(nothing, index)

    def pool(op, x):
        nd = len(op.kernel)
        if x.ndim != nd + 2 or not x.size:
            return None
        from dlpy.ops.conv import _pool_output_size

        size = _pool_output_size(op.name, x.shape[2:], op.kernel, op.stride, op.padding,
                                 op.ceil_mode, getattr(op, "dilation", None))
        op.x_shape, op.out_size = x.shape, size
        return x.shape[:2] + size

    def resample(op, x):  # (interpolate: one axis at a time, its (taps, out) indices)
        if op.indices.ndim != 2 or not x.size:
            return None
        axis = range(x.ndim)[op.axis]
        return x.shape[:axis] + (op.indices.shape[1],) + x.shape[axis + 1:]

    # (an index may be a CPU tensor beside a meta input, as torch allows)
    def gather(op, x):
        index = op.index
        if not isinstance(index, np.ndarray) or index.ndim != x.ndim or not x.size:
            return None
        return index.shape

    def index_select(op, x):
        index = op.index
        if not isinstance(index, np.ndarray) or index.ndim > 1 or x.ndim == 0:
            return None
        dim = range(x.ndim)[op.dim]
        return x.shape[:dim] + (index.size,) + x.shape[dim + 1:]

    def repeat(op, x):
        reps = tuple(int(r) for r in op.reps)
        if len(reps) < x.ndim or min(reps, default=0) < 0:
            return None
        shape = (1,) * (len(reps) - x.ndim) + x.shape
        return tuple(n * r for n, r in zip(shape, reps))

    def embedding(op, weight):
        ids = op.ids
        if not isinstance(ids, np.ndarray) or weight.ndim != 2 or op.scale_grad_by_freq:
            return None
        return ids.shape + weight.shape[1:]

    def cross_entropy(op, logits):
        labels = op.labels  # (CPU labels beside meta logits: torch's device error, the op's)
        weight = op.weight  # (one per class: checked by cross_entropy)
        if not _meta_like(labels) or logits.ndim < 1 or (
                weight is not None and not _meta_like(weight)) \
                or labels.shape not in (logits.shape[:-1], logits.shape):
            return None  # (the op's classes are last: cross_entropy moved them there)
        return logits.shape[:-1] if op.reduction == "none" else ()

    def mse(op, x, y):
        if x.shape != y.shape:
            return None  # (torch's broadcast warning: the op's own forward)
        return x.shape if op.reduction == "none" else ()

    def pad(op, x):
        widths = [tuple(int(w) for w in pair) for pair in op.widths]
        if op.mode != "constant" or len(widths) != x.ndim:
            return None  # (the other modes' limits on the widths: the op's own checks)
        shape = tuple(n + before + after for n, (before, after) in zip(x.shape, widths))
        return shape if min(shape, default=1) > 0 else None

    def einsum(op, *arrays):
        sizes: dict = {}
        for array, labels in zip(arrays, op.input_labels):
            if len(labels) != array.ndim:
                return None
            for label, n in zip(labels, array.shape):
                known = sizes.setdefault(label, n)
                if known != n:
                    if 1 not in (known, n):
                        return None  # (sizes that do not match: the op's own error)
                    sizes[label] = max(known, n)
        return tuple(sizes[label] for label in op.output_labels)

    def unfold(op, x):  # (N, C, H, W) -> (N, C kh kw, L)
        if x.ndim != 4:
            return None
        return (x.shape[0], x.shape[1] * math.prod(op.kernel), math.prod(op.out_size))

    def fold(op, x):  # (N, C kh kw, L) -> (N, C, *output_size)
        if x.ndim != 3:
            return None
        return (x.shape[0], x.shape[1] // math.prod(op.kernel), *op.output_size)

    def affine_grid(op, theta):
        return (theta.shape[0], *op.spatial, len(op.spatial))

    def grid_sample(op, x, grid):
        if x.ndim != grid.ndim or x.shape[0] != grid.shape[0] or grid.shape[-1] != x.ndim - 2:
            return None
        return x.shape[:2] + grid.shape[1:-1]

    def conv_transpose(op, x, weight, bias=None):
        nd = len(op.stride)
        if (x.ndim != nd + 2 or weight.ndim != nd + 2 or x.shape[1] != weight.shape[0]
                or x.shape[1] % op.groups or (bias is not None and bias.shape != (
                    weight.shape[1] * op.groups,))):
            return None
        size = _transpose_output_size(op.name, x.shape[2:], weight.shape[2:], op.stride,
                                      op.padding, op.output_padding, op.dilation)
        return (x.shape[0], weight.shape[1] * op.groups, *size)

    # linalg's decompositions: the packed (batch, sizes...) of their factors (ops.linalg._pack)
    def matrices(op, a):
        return a.shape if a.ndim >= 2 else None

    def determinant(op, a):
        return a.shape[:-2] if a.ndim >= 2 else None

    def solve(op, a, b):
        if op.vector:
            return np.broadcast_shapes(a.shape[:-2], b.shape[:-1]) + b.shape[-1:]
        return np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:]

    def packed(op, a):
        m, n = a.shape[-2:]
        if isinstance(op, QR):
            k = m if op.mode == "complete" else min(m, n)
            sizes = (m * k, k * n)
        elif isinstance(op, Eigh):
            sizes = (n, n * n)
        else:  # (SVD)
            sizes = [math.prod(s) for s in _svd_shapes(a.shape, op.full_matrices)]
        return a.shape[:-2] + (sum(sizes),)

    def eigenvalues(op, a):
        return a.shape[:-1]

    def singular_values(op, a):
        return a.shape[:-2] + (min(a.shape[-2:]),)

    def pseudo_inverse(op, a):
        return a.shape[:-2] + a.shape[:-3:-1]

    return [(Concat, concat), (Stack, stack), (Sum, reduction), (Max, reduction),
            (LogSumExp, reduction), (Var, reduction), (Norm, reduction), (Relayout, same),
            (Roll, same), (Triangle, same), (CumSum, same), (CumProd, same),
            (LogCumSumExp, same), (Gather, gather), (IndexSelect, index_select),
            (Repeat, repeat), (Embedding, embedding), (GroupNorm, normalised),
            (BatchNorm, batch_norm), (GetItem, advanced_index), (MaxPoolNd, pool),
            (AvgPoolNd, pool), (Resample, resample),
            (SoftmaxCrossEntropy, cross_entropy), (MSELoss, mse),
            (Pad, pad), (Einsum, einsum), (Scatter, same), (ScatterAdd, same),
            (ScatterReduce, same), (Unfold, unfold), (Fold, fold), (AffineGrid, affine_grid),
            (GridSample, grid_sample), (ConvTransposeNd, conv_transpose),
            (Inv, matrices), (Cholesky, matrices), (Det, determinant),
            (LogAbsDet, determinant), (DetSign, determinant), (Solve, solve), (QR, packed),
            (Eigh, packed), (SVD, packed), (Eigvalsh, eigenvalues), (Svdvals, singular_values),
            (Pinv, pseudo_inverse)]


_TYPED: list = []


def _typed_rules() -> list:
    """The rules of the ops whose result's dtype is not their input's (the discrete Fourier
    transforms: complex from real and back), for meta inputs of any dtype: each gives
    (shape, dtype) from the input's and the op's settings (the axes' lengths ``s``)."""
    if not _TYPED:
        from dlpy.ops.complex import complex_dtype, real_dtype
        from dlpy.ops.spectral import FFT, IRFFT, RFFT, FFTShift

        def resized(op, x) -> list:
            shape = list(x.shape)
            for axis, n in zip(op.axes, op.s):
                shape[axis] = n
            return shape

        def fft(op, x):
            return resized(op, x), complex_dtype(x.dtype)

        def rfft(op, x):  # the n // 2 + 1 non-negative frequencies of the last axis
            shape = resized(op, x)
            shape[op.axes[-1]] = op.s[-1] // 2 + 1
            return shape, complex_dtype(x.dtype)

        def irfft(op, x):
            return resized(op, x), real_dtype(x.dtype)

        def shift(op, x):
            return x.shape, x.dtype

        _TYPED.extend([(FFT, fft), (RFFT, rfft), (IRFFT, irfft), (FFTShift, shift)])
    return _TYPED


def _indexed_shape(nothing, index: tuple) -> tuple:
    """The shape of ``nothing[index]`` where index arrays are meta (zeros, as many as their
    shapes say: numpy would read them all): indexed twice with small stand-ins, their sizes
    above 1 made 1 and then 2, the axes that differ are those of the index arrays' broadcast
    shape (numpy's placement of them), which then take its sizes."""
    meta = [i for i in index if _meta_like(i)]
    block = [n for n in np.broadcast_shapes(*(np.shape(i) for i in index
                                              if isinstance(i, np.ndarray))) if n > 1]

    def stand_in(size: int) -> tuple:
        return tuple(np.zeros(tuple(min(n, size) for n in i.shape), i.dtype)
                     if any(i is m for m in meta) else i for i in index)

    ones, twos = nothing[stand_in(1)].shape, nothing[stand_in(2)].shape
    sizes = iter(block)
    return tuple(next(sizes) if a != b else a for a, b in zip(ones, twos))


def _meta_like(array) -> bool:
    """A meta array, or a plain view of one (every stride 0: ``np.asarray`` of a MetaArray;
    a CPU tensor's array is never one unless it has one element or is a broadcast view, which
    the ops' device checks take as CPU: the rules using this then leave it to the forward)."""
    if type(array) is MetaArray:
        return True
    if type(array) is not np.ndarray or array.size <= 1 or any(array.strides):
        return False
    from dlpy.tensor import _buffer

    return id(_buffer(array)) in _fill_ids


def _where(op, inputs):
    """(shape, dtype) of ``where(condition, a, b)`` (masked_fill) on meta: the broadcast shape
    of a meta condition and the inputs (meta arrays or 0-d values), the dtype of numpy's
    ``where`` on one element of each, as the forward's."""
    condition = op.condition
    # (a Python number: masked_fill's value; a 0-d array: a promoted number, whose own .data
    # is a memoryview)
    arrays = [t if isinstance(t, np.ndarray) else getattr(t, "data", t) for t in inputs]
    if not _meta_like(condition) or len(arrays) != 2 or any(
            not (type(a) is MetaArray or (isinstance(a, np.ndarray) and a.ndim == 0)
                 or type(a) in (bool, int, float, complex)) for a in arrays):
        return None
    try:
        shape = np.broadcast_shapes(condition.shape, *(np.shape(a) for a in arrays))
    except ValueError:
        return None
    one = [a.reshape(-1)[:1] if isinstance(a, np.ndarray) and a.ndim else a for a in arrays]
    return shape, np.where(np.ones(1, bool), *one).dtype


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47)
# the modules of the element-wise ops (activations, arithmetic, pointwise functions, softmax,
# dropout and where, the normalisations): those the stand-ins may stand for
_ELEMENTWISE_MODULES = frozenset(f"dlpy.ops.{name}" for name in (
    "activation", "activation_inplace", "activation_more", "arithmetic", "pointwise",
    "special", "special_more", "softmax", "mask", "complex", "norm"))


# the modules whose ops' gradients on meta are meta arrays of their inputs' shapes without
# running their backward (whose only errors are about what forward already checked)
_SHAPED_GRADS = _ELEMENTWISE_MODULES | frozenset(f"dlpy.ops.{name}" for name in (
    "reduce", "shape", "views", "rearrange", "matmul", "conv", "attention", "pad", "loss",
    "cumulative"))


def _elementwise(op, inputs, inner):
    """(shape, dtype) of an element-wise op's result (its inputs' broadcast shape), found by
    calling it (unrecorded, on a copy of the op) on small stand-ins of its meta inputs: each
    size above 1 becomes its own prime, so a result of the stand-ins' broadcast shape is one of
    the inputs' broadcast shape (a product or a reduction gives another shape, or refuses the
    stand-ins: None, its own forward). Numbers and 0-d tensors are given as they are, so the
    result's dtype follows torch's promotion as on the CPU."""
    if type(op).__module__ not in _ELEMENTWISE_MODULES or any(
            not isinstance(value, (bool, int, float, str, type(None), np.dtype, np.generic))
            and not (type(value) is np.ndarray and value.ndim == 0)
            for value in vars(op).values()):
        return None  # (settings with arrays or tuples: indices, statistics, shapes)
    shapes = [np.shape(t.data) if holds_meta(t) else () for t in inputs]
    sizes = sorted({n for shape in shapes for n in shape if n > 1})
    if not sizes or len(sizes) > len(_PRIMES):
        return None
    from dlpy.tensor import Tensor, no_grad

    small = dict(zip(sizes, _PRIMES))
    stand_ins = [Tensor(np.zeros(tuple(small.get(n, n) for n in t.data.shape), t.data.dtype))
                 if holds_meta(t) else t for t in inputs]
    try:
        with no_grad(), np.errstate(all="ignore"):
            out = inner(copy.copy(op), *stand_ins)
        expected = np.broadcast_shapes(*(np.shape(getattr(t, "data", t)) for t in stand_ins))
    except Exception:  # noqa: BLE001 - the op's own forward gives its own error
        return None
    data = getattr(out, "data", None)
    if type(data) is not np.ndarray or data.shape != expected:
        return None
    return np.broadcast_shapes(*shapes), data.dtype


def _shape_rule(op, inputs, inner):
    """(shape, dtype) of an op's result on meta inputs from their shapes (a costly op's rule,
    or an element-wise op's stand-ins), or None: its forward runs on the meta arrays."""
    if sys.modules["dlpy.tensor"]._pack_hooks is not None:  # (dlpy.tensor is also a function)
        return None
    module = type(op).__module__
    if not (module.startswith("dlpy.ops.") or module == "dlpy.layouts"):
        return None  # (an autograd.Function's, a hook's, a collective's: their own code)
    if type(op).__name__ == "Where" and module == "dlpy.ops.mask":
        return _where(op, inputs)
    typed = next((rule for cls, rule in _typed_rules() if isinstance(op, cls)), None)
    if typed is not None and all(type(getattr(t, "data", None)) is MetaArray for t in inputs):
        shape, dtype = typed(op, *(t.data for t in inputs))
        return tuple(shape), np.dtype(dtype)
    rule = next((rule for cls, rule in _rules() if isinstance(op, cls)), None)
    if rule is None:
        for t in inputs:  # meta tensors, numbers and 0-d CPU tensors
            data = getattr(t, "data", t)
            if not (type(data) is MetaArray or isinstance(data, (bool, int, float))
                    or (type(data) is np.ndarray and data.ndim == 0)):
                return None
            if np.asarray(data).dtype.kind not in "biuf":
                return None
        return _elementwise(op, inputs, inner)
    arrays = [getattr(t, "data", None) for t in inputs]
    if any(type(a) is not MetaArray for a in arrays) or len({a.dtype for a in arrays}) != 1 \
            or arrays[0].dtype.kind != "f":
        return None  # (a number or a CPU operand, two dtypes: the op's own path and errors)
    try:
        shape = rule(op, *arrays)
    except (ValueError, TypeError, IndexError, AttributeError):
        return None  # (batch shapes that do not broadcast, a dim out of range, an op subclass
        # with other settings: the op's own forward and errors)
    return None if shape is None else (tuple(shape), arrays[0].dtype)


def _meta_grads(inner):
    def meta_checked(op, grad_output):
        if op.__dict__.get("_meta_shaped") or (type(grad_output) is MetaArray and
                                                type(op).__module__ in _SHAPED_GRADS):
            # (its forward ran on nothing, or on stand-ins: the gradients' shapes alone)
            from dlpy.device import meta_array

            return [meta_array(t.data.shape, t.data.dtype)
                    if getattr(t, "requires_grad", False) else None for t in op.inputs]
        if type(grad_output) is not MetaArray and not any(
                holds_meta(t) for t in op.inputs):
            return inner(op, grad_output)
        with np.errstate(all="ignore"):
            grads = inner(op, grad_output)
        return [None if g is None else as_meta(g if isinstance(g, np.ndarray)
                                               else np.broadcast_to(np.zeros((), g.dtype),
                                                                    g.shape))
                for g in grads]

    return meta_checked


def valueless(array) -> bool:
    """Whether ``array`` is a meta tensor's (a MetaArray, or a plain view of one): its values
    are not to be read (range checks of an index are skipped, as torch's meta kernels do)."""
    return _layer[0] is not None and _meta_like(array)


def live() -> bool:
    """Whether a meta array is alive (the meta layer is in): the one check the functions
    below cost while none is."""
    return _layer[0] is not None


def given_meta(values) -> bool:
    """Whether ``values`` (arguments: tensors, or tuples / lists of them) hold a meta tensor."""
    for value in values:
        if type(value) is tuple or type(value) is list:
            if any(holds_meta(v) for v in value):
                return True
        elif holds_meta(value):
            return True
    return False


def like_fakes(out, values):
    """``out``'s meta tensors, made outside an op from ``values`` (an optimiser's state of its
    parameter), FakeTensors where one of ``values`` is one (its mode and device)."""
    if _fake[0] is not None:
        _fake[0].follow(out, values)
    return out


def _metafy_new(value, given: set):
    """``metafy`` of the tensors in ``value`` that are not among the arguments (ids in
    ``given``): a function's own results, never a CPU tensor it was given and returns."""
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor):
        if id(value) not in given:
            metafy(value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _metafy_new(item, given)
    return value


def follows(function):
    """``function`` makes (part of) its result outside an Op (indices from numpy, a
    ``Tensor(...)`` of its own): given a meta tensor, the tensors of its result are meta
    tensors too, as torch's (the values it computed from a meta array's stand-in values are
    dropped). Costs one check while no meta array is alive."""

    @functools.wraps(function)
    def meta_follows(*args, **kwargs):
        out = function(*args, **kwargs)
        if _layer[0] is not None and (given_meta(args) or given_meta(kwargs.values())):
            given = {id(a) for a in (*args, *kwargs.values())}
            _metafy_new(out, given)
            if _fake[0] is not None:  # (given a FakeTensor: its new tensors are fake)
                _fake[0].follow(out, (*args, *kwargs.values()))
        return out

    return meta_follows


def data_dependent(name: str) -> str:
    """torch's message for an op whose result's shape depends on values, given a meta tensor."""
    return (f"{name}: attempted to run this operator with Meta tensors: its result's shape "
            "depends on the values, which a meta tensor does not have")


def no_kernel(name: str) -> str:
    """torch's message for an op that has no meta kernel, given a meta tensor."""
    return (f"{name}: attempted to run this operator with Meta tensors, but there was no fake "
            "impl or Meta kernel registered.")


def refuses(name: str):
    """A function whose result's shape depends on its input's values (nonzero, unique,
    masked_select, bincount) or that reads values (equal, allclose): given a meta tensor,
    torch's ``NotImplementedError``. Costs one check while no meta array is alive."""

    def wrap(function):
        @functools.wraps(function)
        def meta_refuses(*args, **kwargs):
            if _layer[0] is not None and (given_meta(args) or given_meta(kwargs.values())):
                raise _refused(data_dependent(name), None if _fake[0] is None else
                               _fake[0].check((*args, *kwargs.values())))
            return function(*args, **kwargs)

        return meta_refuses

    return wrap


def contiguous_strides(shape) -> tuple:
    """torch's row-major strides of ``shape``, in elements (a size-0 or 1 axis counting as 1):
    what a meta tensor reports (its array is a zero-stride view)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def refuse_values(tensor, what: str) -> None:
    """torch's errors for reading a meta tensor's values."""
    if _fake[0] is not None:  # (a FakeTensor's are FakeTensorMode's)
        _fake[0].refuse(tensor, what)
    if what in ("item", "bool"):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")
    if what == "numpy":
        raise TypeError("can't convert meta device type tensor to numpy. Use Tensor.cpu() to "
                        "copy the tensor to host memory first.")
    raise NotImplementedError("Cannot copy out of meta tensor; no data!" + (
        " Please use torch.nn.Module.to_empty() instead of torch.nn.Module.to() when moving "
        "module from meta to a different device." if what == "module" else ""))


class _ShapeDraws:
    """The generator a layer built on the meta device draws its initial values from: every
    draw is a MetaArray of the size asked for (float64, or int64 for ``integers``), so
    ``nn.Linear(8192, 8192, device="meta")`` neither draws nor allocates its weight. A method
    other than those numpy's layers call draws from a scratch generator."""

    def uniform(self, low=0.0, high=1.0, size=None):
        if _fake[0] is not None:  # (torch's uniform_ on a FakeTensorMode's CUDA device fails)
            _fake[0].uniform_drawn()
        return self._drawn(size, low, high)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._drawn(size, loc, scale)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._drawn(size, dtype=dtype)

    def random(self, size=None, dtype=np.float64, out=None):
        return self._drawn(size, dtype=dtype)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._drawn(size, low, high, dtype=dtype)

    @staticmethod
    def _drawn(size, *parameters, dtype=np.float64):
        from dlpy.device import meta_array

        shape = np.broadcast_shapes(*(np.shape(p) for p in parameters if p is not None)) \
            if size is None else ((size,) if isinstance(size, (int, np.integer)) else size)
        return meta_array(shape, dtype)

    def __getattr__(self, name: str):
        return getattr(np.random.default_rng(0), name)


_SHAPE_DRAWS = _ShapeDraws()
# _SHAPE_DRAWS while a layer is built on meta: dlpy.random.get_rng's list itself
from dlpy.random import _meta_draws as shape_draws  # noqa: E402


@contextlib.contextmanager
def building(where=None):
    """A dlpy layer being built on the meta device: its draws from the default generator are
    meta arrays of their shapes (``_ShapeDraws``; the default generator is left as it was, as
    torch's meta factories leave it), and its parameters and buffers become meta tensors as
    they are registered. ``where``: the ``device=`` the layer was given (inside a
    FakeTensorMode, the fake device of its tensors; None: the mode's CPU)."""
    from dlpy.device import _DEFAULT, META
    from dlpy.random import fork_rng

    _building[0] += 1
    _DEFAULT.append(META)
    building_where.append(where)
    kept = shape_draws[0]
    shape_draws[0] = _SHAPE_DRAWS
    try:
        if _building[0] == 1:
            with fork_rng():
                yield
        else:
            yield
    finally:
        shape_draws[0] = kept
        building_where.pop()
        _DEFAULT.pop()
        _building[0] -= 1


def registered(value):
    """What a layer being built on the meta device registers: a Parameter keeps its identity
    and takes a meta array; an array or tensor buffer becomes a meta tensor."""
    if not _building[0] or value is None:
        return value
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor):
        if type(value.data) is not MetaArray and isinstance(value.data, np.ndarray):
            value.data = as_meta(value.data)
            value._grad = None
        if _fake[0] is not None:  # (a layer built inside a FakeTensorMode: FakeTensors)
            _fake[0].made(value, None)
        return value
    if isinstance(value, np.ndarray):
        return as_meta(value)
    return value


_NO_VALUES = ("copy_", "fill_", "zero_", "normal_", "uniform_", "bernoulli_", "exponential_",
              "geometric_", "log_normal_", "cauchy_", "random_")


def in_place(tensor, name: str, compute, operands, reshape: bool, cast: str = "same_kind"):
    """An in-place change of a meta tensor (or of a tensor by a meta operand): the result's
    shape and dtype and the devices are checked by running ``compute`` on the meta arrays
    (unrecorded); a meta tensor keeps its meta array (a new one where the shape changes:
    ``t_``, ``unsqueeze_``) and its version goes up, a CPU tensor given a meta operand is
    torch's error. ``x[index] = value`` takes CPU values and indices, as torch's copy_."""
    from dlpy.device import meta_array
    from dlpy.tensor import Tensor, _bump, _check_store, no_grad

    if type(tensor.data) is not MetaArray:
        if name == "copy_":
            refuse_values(tensor, "copy")
        raise RuntimeError("Tensor on device meta is not on the expected device cpu!")
    if name not in _NO_VALUES:
        if name == "setitem":  # (value, index): the value as a meta tensor of its shape
            value = operands[0]
            operands = (meta_like(value) if isinstance(value, Tensor) else Tensor(
                meta_array(np.shape(value), tensor.dtype)), *operands[1:])
        with no_grad(), np.errstate(all="ignore"):
            result = compute(tensor, *operands)
        if reshape:
            tensor.data = as_meta(result.data)
        elif result.shape != tensor.shape:
            from dlpy.tensor import _in_place_shape_error

            raise _in_place_shape_error(name, tensor.shape, result.shape)
        else:
            _check_store(name, result.dtype, tensor.dtype, cast)
    _bump(tensor.data)
    return tensor


def meta_like(tensor):
    """``tensor`` as a meta tensor: itself when it is one, else an unrecorded meta tensor of
    its shape and dtype."""
    if holds_meta(tensor):
        return tensor
    from dlpy.device import meta_array
    from dlpy.tensor import Tensor

    return Tensor(meta_array(tensor.data.shape, tensor.data.dtype))


def moved(tensor, where, dtype):
    """``tensor.to(where, dtype)`` across the meta device: to meta, a recorded copy keeping
    the shape and (cast) dtype; from meta to the CPU, torch's error."""
    if where.type != "meta":
        refuse_values(tensor, "copy")
    from dlpy.ops import arithmetic

    out = arithmetic.cast(tensor, dtype) if dtype is not None and dtype != tensor.dtype \
        else tensor.clone()
    return metafy(out)
