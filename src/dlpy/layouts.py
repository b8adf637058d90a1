"""torch's memory formats: ``dlpy.contiguous_format``, ``channels_last`` (NCHW tensors whose
memory is NHWC), ``channels_last_3d`` (NCDHW as NDHWC) and ``preserve_format``. A tensor's
shape and values never change with its format; its strides (``stride()``) do, as torch's:

    x = x.to(memory_format=dlpy.channels_last)    # stride (18, 1, 6, 2) for (1, 2, 3, 3)
    x.is_contiguous(memory_format=dlpy.channels_last)   # True

dlpy's ops take any strides (numpy's), so a format only changes how the array lies in memory
(and so which numpy loops run fastest)."""

from __future__ import annotations

import numpy as np

from dlpy import meta as _meta
from dlpy.device import MetaArray
from dlpy.size import _as_torch
from dlpy.tensor import Op, Tensor


class NamedConstant:
    """A constant torch names at top level (``torch.channels_last``, ``torch.strided``): its
    name, printed as ``dlpy.<name>`` (``torch.<name>`` while dlpy.compat stands in for torch);
    compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"{'torch' if _as_torch() else 'dlpy'}.{self.name}"


class memory_format(NamedConstant):  # noqa: N801 - torch's name
    """torch.memory_format: one of ``dlpy.contiguous_format``, ``channels_last``,
    ``channels_last_3d``, ``preserve_format``."""

    __slots__ = ()


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

# a format's memory order of the axes (outermost first), by rank
_ORDER = {channels_last: (4, (0, 2, 3, 1)), channels_last_3d: (5, (0, 2, 3, 4, 1))}


def _checked(name: str, fmt, ndim: int) -> memory_format:
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{name}: memory_format must be a dlpy.memory_format (dlpy."
                        f"channels_last, ...), got {fmt!r}")
    if fmt in _ORDER and ndim != _ORDER[fmt][0]:
        raise RuntimeError(f"required rank {_ORDER[fmt][0]} tensor to use {fmt.name} format "
                           f"(got a {ndim}-d tensor)")
    return fmt


def _is_dense_in_order(array: np.ndarray, order) -> bool:
    """Whether ``array``'s strides are exactly those of a fresh dense array whose axes lie in
    memory in ``order`` (outermost first), size-1 axes included (torch's empty_like(format)
    strides: a size-1 axis steps over the axes inside it); a size-1 axis of stride 0 (numpy's
    new axis, which ``stride()`` shows as the contiguous step) passes for the row-major order."""
    step = array.itemsize
    row_major = tuple(order) == tuple(range(array.ndim))
    for axis in reversed(order):
        size, stride = array.shape[axis], array.strides[axis]
        if stride != step and not (size == 1 and stride == 0 and row_major) \
                and not (size == 1 and array.size == 0):
            return False
        step *= max(size, 1)
    return True


def _meta_layout(array):
    """A meta array's memory order as an array numpy can answer about (``meta.layout_view``:
    its tensor's strides), any other array itself."""
    if type(array) is MetaArray:
        from dlpy.meta import layout_view

        return layout_view(array)
    return array


def is_in_format(array: np.ndarray, fmt: memory_format) -> bool:
    """Whether ``array`` lies in memory as ``fmt`` says (torch's is_contiguous(fmt))."""
    array = _meta_layout(array)
    if fmt in _ORDER:
        rank, order = _ORDER[fmt]
        return array.ndim == rank and array.transpose(order).flags.c_contiguous
    return array.flags.c_contiguous


def suggests_channels_last(array: np.ndarray) -> bool:
    """torch's ``suggest_memory_format() == channels_last`` for a 4-d array: its strides run
    C, W, H, N from the innermost (an ambiguous one, as a contiguous (N, 1, 1, 1), counts as
    contiguous, as torch's)."""
    return array.ndim == 4 and suggested_format(array) is channels_last


_SUGGEST_ORDER = {4: (channels_last, (1, 3, 2, 0)), 5: (channels_last_3d, (1, 4, 3, 2, 0))}


def suggested_format(array: np.ndarray) -> memory_format | None:
    """torch's ``suggest_memory_format()`` of an array: channels_last (channels_last_3d) for a
    4-d (5-d) one whose strides run C, W, H, (D,) N from the innermost, else None (contiguous;
    an ambiguous one, as a contiguous (N, 1, 1, 1), too, as torch's; None for what is not an
    ndarray: vmap's batched stand-ins have no memory order)."""
    array = _meta_layout(array)
    if type(array) is not np.ndarray or array.ndim not in _SUGGEST_ORDER:
        return None
    if array.flags.c_contiguous and 1 not in array.shape[1:]:  # (a size-1 axis: ambiguous)
        return None
    fmt, order = _SUGGEST_ORDER[array.ndim]
    shape, strides = array.shape, array.strides
    if strides[1] == 0:
        return None
    low = 0
    for axis in order:
        if shape[axis] == 0 or strides[axis] < low or axis == 0 and low == strides[1]:
            return None
        low = strides[axis] * max(shape[axis], 1)
    return fmt


def laid_like(result: np.ndarray, array: np.ndarray) -> np.ndarray:
    """``result`` in the memory format ``array`` suggests (a pooling's, an interpolation's
    output for a channels-last input, as torch's): itself when that is the contiguous one."""
    fmt = suggested_format(array)
    return result if fmt is None or result.ndim != array.ndim else laid_out(result, fmt)


def laid_out(array: np.ndarray, fmt: memory_format) -> np.ndarray:
    """``array`` (the same shape and values) in ``fmt``'s memory order with the strides torch
    gives a fresh tensor of that format (``clone(memory_format=)``, ``empty_like``, a
    conversion's copy; a size-1 axis's stride included: (3, 1, 3, 3) for a channels-last
    (2, 3, 1, 1)): itself if it already has them, else a copy."""
    if fmt is preserve_format:
        return array
    order = _ORDER[fmt][1] if fmt in _ORDER else tuple(range(array.ndim))
    if not array.size and fmt in _ORDER and array.ndim == len(order) \
            and type(array) is np.ndarray:  # torch's strides: the sizes' products, 0 outside
        from dlpy.ops.shape import empty_view  # a size-0 axis (numpy's: all 0)

        strides, step = [0] * array.ndim, 1
        for axis in reversed(order):
            strides[axis] = step
            step *= array.shape[axis]
        fresh = np.empty(array.shape, array.dtype)
        return empty_view(fresh, fresh, strides)
    if (fmt not in _ORDER or array.ndim == len(order)) and _is_dense_in_order(array, order):
        return array
    if fmt in _ORDER:
        return np.array(array.transpose(order), order="C").transpose(np.argsort(order))
    return np.array(array, order="C")


def torch_strides(array: np.ndarray) -> list:
    """``array``'s strides in elements as torch's ``stride()`` shows them: a size-1 axis of
    numpy stride 0 (a new axis) steps over the axes inside it (unsqueeze's rule)."""
    size = array.itemsize or 1
    strides = [s // size for s in array.strides]
    shape = array.shape
    for axis in range(len(shape) - 1, -1, -1):
        if shape[axis] == 1 and strides[axis] == 0:
            strides[axis] = shape[axis + 1] * strides[axis + 1] if axis + 1 < len(shape) else 1
    return strides


def _dense(shape, strides) -> bool:
    """torch's is_non_overlapping_and_dense, from sizes and element strides."""
    expected = 1
    for stride, size in sorted((s, n) for s, n in zip(strides, shape) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def iterator_order(shape, operands) -> list | None:
    """The memory order (outermost axis first) torch gives a dense result of ``shape`` laid out
    after ``operands`` (arrays in the op's argument order, each broadcastable to ``shape``), or
    None for the row-major one: torch's one stride sort, which both TensorIterator (the result
    of an element-wise op: reorder_dimensions) and empty_like / clone of a tensor that is not
    non-overlapping and dense (infer_dense_strides: one operand, ``dense_like``) use.

    The axes are sorted by the operands' strides (torch's, ``torch_strides``), innermost the
    smallest; a stride 0 (a broadcast or expanded axis) decides nothing, the first operand that
    tells two axes apart deciding; equal strides put the smaller axis inside. An insertion sort
    whose swaps skip the undecided axes between (torch's, not numpy's, which shifts them and lets
    row-major order win conflicts). A negative stride (a numpy view torch cannot have: np.flip's
    inside a kernel or a backward, as a gradient a hook sees) counts by its absolute value: as
    the tensor torch holds there, its flip re-materialised in its input's memory order."""
    ndim = len(shape)
    table = []
    for array in operands:
        if array.ndim == 0:  # all strides 0: decides nothing
            continue
        offset, strides = ndim - array.ndim, torch_strides(array)
        table.append([0] * offset + [0 if n == 1 and shape[offset + i] != 1 else abs(strides[i])
                                     for i, n in enumerate(array.shape)])

    perm = _meta.axis_sort(shape, table)
    order = perm[::-1]
    return None if order == list(range(ndim)) else order


def empty_in_order(shape, order, dtype) -> np.ndarray:
    """An empty dense array of ``shape`` whose axes lie in memory in ``order`` (outermost first;
    None: row-major)."""
    if order is None:
        return np.empty(shape, dtype)
    return np.empty([shape[a] for a in order], dtype).transpose(np.argsort(order))


def dense_like(array: np.ndarray, dtype=None) -> np.ndarray:
    """An empty dense array of ``array``'s shape and dtype (or ``dtype``) whose axes lie in
    memory in the order of ``array``'s strides (torch's infer_dense_strides, which empty_like /
    clone(preserve_format) use for a tensor that is not non-overlapping and dense:
    ``iterator_order`` of ``array`` alone), so an expanded tensor's copy is row-major where its
    stride-0 axes leave the order open, as torch's."""
    return empty_in_order(array.shape, iterator_order(array.shape, (array,)),
                          array.dtype if dtype is None else dtype)


def copied(array: np.ndarray, dtype=None) -> np.ndarray:
    """A copy of ``array`` (in ``dtype``, None: its own) laid out as torch's copy of a tensor
    (``to(dtype, copy=True)``: preserve_format): numpy's order 'K' is torch's, except for an
    expanded array, whose stride-0 axes numpy puts innermost and torch where row-major order
    has them (``dense_like``): torch.tensor(x.expand(2, 4)) is row-major."""
    if not any(stride == 0 and size > 1 for stride, size in zip(array.strides, array.shape)):
        return np.array(array, dtype=dtype, copy=True)
    out = dense_like(array, dtype)
    out[...] = array
    return out


def with_strides(array: np.ndarray, strides) -> np.ndarray:
    """A copy of ``array`` with exactly ``strides`` (in elements, non-negative, dense: a size-1
    axis's arbitrary stride kept, as torch's empty_strided)."""
    size = array.itemsize
    buffer = np.empty(array.size, array.dtype)
    out = np.ndarray(array.shape, array.dtype, buffer, 0, tuple(s * size for s in strides))
    out[...] = array
    return out


def iterator_layout(result: np.ndarray, *operands) -> np.ndarray:
    """``result`` (numpy's output of an element-wise op on ``operands``, numpy's order 'K')
    in the memory order torch's TensorIterator gives it: with operands all of the result's
    shape, row-major when all are contiguous, channels-last when all are, their strides when
    all share them and are dense (fast_set_up); else dense in ``iterator_order``. Itself when
    it already lies so, else a copy. Callers skip this for a row-major first operand (the
    common path: numpy's order is torch's there)."""
    if type(result) is not np.ndarray or result.ndim < 2 or not result.size:
        return result
    operands = [a for a in operands if type(a) is np.ndarray]
    if result.base is not None and any(np.may_share_memory(result, a) for a in operands):
        return result  # a view of an input: the op chose its memory itself
    shape = result.shape
    if all(a.shape == shape for a in operands):
        if all(a.flags.c_contiguous for a in operands):
            return row_major_array(result)
        for fmt in _ORDER:
            if _ORDER[fmt][0] == result.ndim and all(is_in_format(a, fmt) for a in operands):
                return laid_out(result, fmt)
        strides = torch_strides(operands[0])
        if _dense(shape, strides) and all(torch_strides(a) == strides for a in operands[1:]):
            return result if torch_strides(result) == strides else with_strides(result, strides)
    order = iterator_order(shape, operands)
    if order is None:
        return row_major_array(result)
    out = empty_in_order(shape, order, result.dtype)
    if out.strides == result.strides:
        return result
    out[...] = result
    return out


def laid_as_inputs(result, *operands):
    """``result`` (an array computed by numpy from ``operands``: arrays, numbers) laid out as
    torch's TensorIterator lays an element-wise op's result over those operands
    (``iterator_layout``): itself at once when every array operand is row-major (the common
    path), so a function built of several numpy steps, or a mask that a ``where`` decides the
    order by, follows torch's one kernel."""
    for array in operands:
        if type(array) is np.ndarray and not array.flags.c_contiguous:
            return iterator_layout(result, *operands)
    return result


def laid_result(out: Tensor, *operands) -> Tensor:
    """``out``, the fresh result of an element-wise function composed of several ops (its
    last op saving no array of it), with its array laid out as torch's one TensorIterator over
    ``operands`` (tensors, numbers) lays it: the first operand decides, not the last op's."""
    arrays = [t.data if isinstance(t, Tensor) else t for t in operands]
    out.data = laid_as_inputs(out.data, *arrays)
    return out


def cloned_layout(out: Tensor, like: Tensor) -> Tensor:
    """``out``, the fresh result of an op torch computes as ``like.clone()`` changed in place
    (index_put, put, index_fill, select/slice/diagonal_scatter), with its array laid out as
    that clone's (preserve_format: like's strides where it is dense, else its memory order)."""
    array = getattr(like, "data", None)
    if type(array) is np.ndarray and not array.flags.c_contiguous \
            and type(out.data) is np.ndarray and out.data.shape == array.shape:
        out.data = iterator_layout(out.data, array)
    return out


def storage_cloned_layout(out: Tensor, like: Tensor) -> Tensor:
    """``out``, the fresh result of an op torch computes on ``clone_preserve_strides(like)``
    (select/slice/diagonal_scatter): a copy of like's whole memory seen at like's strides
    and storage offset (x[:, ::2]'s: (2 * n, 2), offset kept). Where like's elements share
    memory a plain clone's layout (``cloned_layout``): torch's for an expanded axis; for
    overlapping windows (unfold's) torch writes src into the shared places, dlpy keeps the
    values right."""
    from dlpy import storage as _storage
    from dlpy.ops.views import repeats_elements

    array = getattr(like, "data", None)
    if type(array) is not np.ndarray or type(out.data) is not np.ndarray \
            or out.data.shape != array.shape or not array.size or repeats_elements(array):
        return cloned_layout(out, like)
    memory = _storage.untyped_storage(like)
    if array.flags.c_contiguous and array.nbytes == memory.nbytes():
        return out  # (like is its whole memory, row-major: the plain result)
    strides = [step // array.itemsize for step in array.strides]
    copy = _storage.UntypedStorage(memory._bytes().copy())
    laid = _storage.view_storage(copy, array.dtype, like.storage_offset(), array.shape,
                                 strides)
    laid[...] = out.data
    out.data = laid
    return out


def row_major_array(array: np.ndarray) -> np.ndarray:
    """``array`` with a new row-major array's strides (size-1 axes' too): itself or a copy."""
    from dlpy.tensor import row_major

    return row_major(array)


def follows_inputs(cls=None, *, numpy_order: bool = True):
    """Class decorator for an element-wise op: its forward's result laid out as torch's
    TensorIterator lays it (``iterator_layout``) unless the inputs say row-major, one flag test
    on the common path. ``numpy_order`` (the default): forward computes with numpy's ufuncs,
    whose order 'K' is torch's whenever the first input is row-major, so that alone is tested;
    False, for a forward that builds its result in row-major order whatever the inputs (a
    kernel on the flattened values): every input is tested (a row-major first input broadcast
    against a transposed one gives the transposed order). Subclasses that override forward are
    laid out too. An input without ``.flags`` (a number, an array-like) decides nothing."""
    if cls is None:
        return lambda cls: follows_inputs(cls, numpy_order=numpy_order)
    _lay_forward(cls, numpy_order)
    own = cls.__dict__.get("__init_subclass__")

    def __init_subclass__(sub, **kwargs):
        if own is not None:  # (another decorator's, float32_compute's: it wraps first)
            own.__func__(sub, **kwargs)
        else:
            super(cls, sub).__init_subclass__(**kwargs)
        if "forward" in sub.__dict__:
            _lay_forward(sub, numpy_order)

    cls.__init_subclass__ = classmethod(__init_subclass__)
    return cls


def _lay_forward(cls, numpy_order: bool) -> None:
    """Wraps ``cls.forward`` (see follows_inputs): a fixed-arity wrapper for the one- and
    two-input forwards (no argument tuple on the hot path)."""
    import functools
    import inspect

    forward = cls.forward
    code = inspect.unwrap(forward).__code__
    arity = code.co_argcount if not (code.co_flags & inspect.CO_VARARGS
                                     or inspect.unwrap(forward).__defaults__) else 0

    # (the try costs nothing when nothing is raised)
    if arity == 2:  # unary: x row-major gives a row-major result, whatever the kernel
        def laid_forward(self, x):
            result = forward(self, x)
            try:
                if x.flags.c_contiguous:
                    return result
            except AttributeError:
                return result
            return iterator_layout(result, x)
    elif arity == 3 and numpy_order:  # a row-major a: numpy's order is torch's (one test)
        def laid_forward(self, a, b):
            result = forward(self, a, b)
            try:
                if a.flags.c_contiguous:
                    return result
            except AttributeError:
                return result
            return iterator_layout(result, a, b)
    else:
        def laid_forward(self, *arrays):
            result = forward(self, *arrays)
            first = arrays[0]
            if numpy_order and getattr(first, "flags", None) is not None \
                    and first.flags.c_contiguous:
                return result
            if all(getattr(a, "flags", None) is None or a.flags.c_contiguous for a in arrays):
                return result
            return iterator_layout(result, *arrays)

    functools.update_wrapper(laid_forward, forward)
    cls.forward = laid_forward


class Relayout(Op):
    """y = x in another memory order (a copy);  dx = g."""

    saves_tensors = False  # torch saves only sizes: a second backward works
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    complex_ok = True  # values move: linear with real coefficients

    def __init__(self, fmt: memory_format):
        self.fmt = fmt

    def forward(self, x):
        return laid_out(x, self.fmt)

    def backward(self, grad_output):
        return (grad_output,)

    def backward_graph(self, grad_output, output):
        return (grad_output,)


def to_format(x: Tensor, fmt, name: str = "to") -> Tensor:
    """``x`` itself when it already lies as ``fmt`` says, else a recorded copy that does (with
    a fresh tensor's strides, ``laid_out``). What "already lies" means follows torch: for
    ``contiguous(memory_format=)`` that ``is_contiguous(fmt)`` holds (a size-1 axis's stride
    never matters); for ``to(memory_format=)`` that fmt is the format x suggests
    (``suggest_memory_format()``: a contiguous (2, 3, 1, 1) is copied to channels-last
    strides, a channels-last one to contiguous strides, though both are "contiguous" in
    either format)."""
    fmt = _checked(name, fmt, x.ndim)
    if fmt is preserve_format:
        return x
    if name == "to" and x.ndim in _SUGGEST_ORDER:
        if (suggested_format(x.data) or contiguous_format) is fmt:
            return x
    elif is_in_format(x.data, fmt) if x.data.size else x.is_contiguous(memory_format=fmt):
        return x  # (an empty tensor: as its strides say, not numpy's flags)
    return Relayout(fmt)(x)


__all__ = ["channels_last", "channels_last_3d", "contiguous_format", "memory_format",
           "preserve_format"]
