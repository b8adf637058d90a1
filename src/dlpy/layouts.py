"""torch's memory formats: ``dlpy.contiguous_format``, ``channels_last`` (NCHW tensors whose
memory is NHWC), ``channels_last_3d`` (NCDHW as NDHWC) and ``preserve_format``. A tensor's
shape and values never change with its format; its strides (``stride()``) do, as torch's:

    x = x.to(memory_format=dlpy.channels_last)    # stride (18, 1, 6, 2) for (1, 2, 3, 3)
    x.is_contiguous(memory_format=dlpy.channels_last)   # True

dlpy's ops take any strides (numpy's), so a format only changes how the array lies in memory
(and so which numpy loops run fastest)."""

from __future__ import annotations

import numpy as np

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


def is_in_format(array: np.ndarray, fmt: memory_format) -> bool:
    """Whether ``array`` lies in memory as ``fmt`` says (torch's is_contiguous(fmt))."""
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
    if (fmt not in _ORDER or array.ndim == len(order)) and _is_dense_in_order(array, order):
        return array
    if fmt in _ORDER:
        return np.array(array.transpose(order), order="C").transpose(np.argsort(order))
    return np.array(array, order="C")


class Relayout(Op):
    """y = x in another memory order (a copy);  dx = g."""

    saves_tensors = False  # torch saves only sizes: a second backward works

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
    elif is_in_format(x.data, fmt):
        return x
    return Relayout(fmt)(x)


__all__ = ["channels_last", "channels_last_3d", "contiguous_format", "memory_format",
           "preserve_format"]
