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
    if type(array) is not np.ndarray or array.ndim not in _SUGGEST_ORDER \
            or array.flags.c_contiguous:
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
    """``array`` (the same shape and values) in ``fmt``'s memory order: itself if it already
    is, else a copy."""
    if fmt is preserve_format or is_in_format(array, fmt):
        return array
    if fmt in _ORDER:
        order = _ORDER[fmt][1]
        return np.ascontiguousarray(array.transpose(order)).transpose(np.argsort(order))
    return np.ascontiguousarray(array)


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
    """``x`` itself when it already lies as ``fmt`` says, else a recorded copy that does."""
    fmt = _checked(name, fmt, x.ndim)
    if fmt is preserve_format or is_in_format(x.data, fmt):
        return x
    return Relayout(fmt)(x)


__all__ = ["channels_last", "channels_last_3d", "contiguous_format", "memory_format",
           "preserve_format"]
