"""Writes through views while recording, as PyTorch's: ``v = y[1]; v.mul_(3)`` changes y, and
y's gradient follows. A view is located in its base by the memory addresses of its elements
(``positions``: for each element of the view, the flat index of the same element in the base),
so any chain of view ops (indexing, transpose, reshape, diagonal, ...) is one gather.

- ``CopySlices``: the base after the write, old base with new values at ``positions``;
  d old = g with zeros there, d values = g at ``positions`` (torch's CopySlices node).
- ``ViewOfBase``: a view re-made from its base's new value after the base changed in place
  (torch's AsStridedBackward0); its second input is the view's stand-in before the change,
  which gets no gradient and is an input only so the reverse pass visits it."""

from __future__ import annotations

import numpy as np

from dlpy.tensor import Op


def element_addresses(array: np.ndarray) -> np.ndarray:
    """The memory address of each element of ``array``, int64 of its shape."""
    addresses = np.full(array.shape, array.__array_interface__["data"][0], dtype=np.int64)
    for axis, (size, stride) in enumerate(zip(array.shape, array.strides)):
        shape = [1] * array.ndim
        shape[axis] = size
        addresses += (np.arange(size, dtype=np.int64) * stride).reshape(shape)
    return addresses


def repeats_elements(array: np.ndarray) -> bool:
    """Whether some elements of ``array`` share memory: an axis of stride 0 (an expanded or
    broadcast view), or, for a read-only array, overlapping windows (unfold, as_strided)."""
    if any(stride == 0 and size > 1 for size, stride in zip(array.shape, array.strides)):
        return True
    if array.flags.writeable or array.size < 2:
        return False
    addresses = element_addresses(array).reshape(-1)
    return np.unique(addresses).size != addresses.size


def positions(base: np.ndarray, view: np.ndarray) -> np.ndarray | None:
    """For each element of ``view``, the flat (C-order) index in ``base`` of the element at the
    same address (an int64 array of view's shape); None when view is not made of base's
    elements (another dtype, or memory outside base)."""
    if view.dtype != base.dtype:
        return None
    if base.flags.c_contiguous:  # the flat index is the offset from base's start
        offsets = element_addresses(view) - base.__array_interface__["data"][0]
        where, rest = np.divmod(offsets, base.itemsize)
        if rest.any() or (where.size and (where.min() < 0 or where.max() >= base.size)):
            return None
        return where
    flat = element_addresses(base).reshape(-1)
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    wanted = element_addresses(view)
    found = np.asarray(np.searchsorted(ordered, wanted))
    if ordered.size == 0:
        return found if wanted.size == 0 else None
    np.minimum(found, ordered.size - 1, out=found)
    if not np.array_equal(ordered[found], wanted):
        return None
    return np.asarray(order[found]).reshape(view.shape)


class CopySlices(Op):
    """y = old with y.flat[positions] = values;  d old = g zeroed at positions,
    d values = g.flat[positions]."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    node_name = "CopySlices"

    def __init__(self, positions: np.ndarray, into: np.ndarray | None = None):
        # into: the array that held old's values and is to hold y's (the base's own, written
        # in place: only the positions change), else y is a new array
        self.positions, self.into = positions, into

    def forward(self, old, values):
        if self.into is not None:
            out, self.into = self.into, None
            out.flat[self.positions] = values
            return out
        out = np.array(old, order="C")  # a copy: reshape(-1) is then a view
        out.reshape(-1)[self.positions] = values
        return out

    def backward(self, grad_output):
        grad_old = np.array(grad_output, order="C")
        grad_old.reshape(-1)[self.positions] = 0
        return grad_old, grad_output.reshape(-1)[self.positions]

    def backward_graph(self, grad_output, output):
        keep = np.ones(output.shape, dtype=grad_output.dtype)
        keep.reshape(-1)[self.positions] = 0
        return grad_output * keep, grad_output.reshape(-1)[self.positions]


class IndexPut(CopySlices):
    """CopySlices by an index that torch writes with one index_put_ on the tensor itself
    (``x[[0, 2]] = v``, ``x[mask] = v``): its node is torch's IndexPutBackward0."""

    node_name = "IndexPut"


class ComplexCopySlices(CopySlices):
    """CopySlices into a complex tensor through a real view of its memory (z.real, z.imag,
    view_as_real(z)): the positions index its (..., 2) real pairs;  d old = g with those
    parts zeroed, d values = those parts of g."""

    def forward(self, old, values):
        if self.into is not None:
            out, self.into = self.into, None
        else:
            out = np.array(old, order="C")
        out[..., None].view(values.dtype).flat[self.positions] = values
        return out

    def backward(self, grad_output):
        grad_old = np.array(grad_output, order="C")
        pairs = grad_old[..., None].view(grad_old.real.dtype)
        grad_values = pairs.reshape(-1)[self.positions]  # a copy (fancy indexing)
        pairs.reshape(-1)[self.positions] = 0
        return grad_old, grad_values

    def backward_graph(self, grad_output, output):
        from dlpy.ops.complex import view_as_complex, view_as_real

        pairs = view_as_real(grad_output)
        keep = np.ones(pairs.shape, dtype=pairs.dtype)
        keep.reshape(-1)[self.positions] = 0
        return view_as_complex(pairs * keep), pairs.reshape(-1)[self.positions]


class ViewOfBase(Op):
    """y = base.flat[positions] (a view of base, re-made after base changed in place);
    d base = g added at positions, d stand-in = None. The positions are found when backward
    first needs them (a view re-made at every change of its base may never be)."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    node_name = "AsStridedBackward0"
    # torch's error for a view whose grad_fn cannot be re-made (a piece of split/unbind/chunk
    # or a view of one, a view made under no_grad): raised by backward and grad_fn
    stale = None

    def __init__(self, base: np.ndarray, view: np.ndarray):
        self.base, self.view = base, view  # the arrays: their memory gives the positions
        self.repeats = repeats_elements(view)  # an expanded view

    @property
    def positions(self) -> np.ndarray:
        where = self.__dict__.get("_positions")
        if where is None:
            where = positions(self.base, self.view)
            if where is None:
                raise RuntimeError(f"backward: a view of shape {self.view.shape} is no longer "
                                   f"in the memory of its base of shape {self.base.shape}")
            self.__dict__["_positions"] = where
        return where

    def forward(self, base, stand_in):
        return base.reshape(-1)[self.positions]

    def backward(self, grad_output):
        if self.stale is not None:
            raise RuntimeError(self.stale)
        shape = self.base.shape
        grad = np.zeros(int(np.prod(shape)), dtype=grad_output.dtype)
        if self.repeats:
            np.add.at(grad, self.positions, grad_output)
        else:
            grad[self.positions] = grad_output
        return grad.reshape(shape), None

    def backward_graph(self, grad_output, output):
        from dlpy.ops.shape import IndexAdd

        if self.stale is not None:
            raise RuntimeError(self.stale)
        shape = self.base.shape
        flat = IndexAdd(self.positions, (int(np.prod(shape)),))(grad_output)
        return flat.reshape(shape), None


class AsStrided(Op):
    """y[i] = x.flat[offset + sum_k i_k stride_k] (torch.as_strided): a view of x's memory
    when x is C-contiguous (x's storage order; read-only where windows overlap), else a copy
    over x's row-major elements;  dx = g added back at those positions (overlaps add up)."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    saves_tensors = False  # sizes only, as torch's: a second backward works

    def __init__(self, index: np.ndarray | None, size: tuple, stride: tuple, offset: int):
        # (index None: a meta input's view, its strides and storage offset those given)
        self.index, self.size, self.stride, self.offset = index, size, stride, offset
        self.overlaps = index is not None and np.unique(index).size != index.size

    def forward(self, x):
        self.shape = x.shape
        if self.index is None:  # (a meta array's view: dlpy.meta gives it its strides)
            return np.lib.stride_tricks.as_strided(x, self.size, (0,) * len(self.size))
        if not x.flags.c_contiguous:
            return x.reshape(-1)[self.index]
        return np.lib.stride_tricks.as_strided(
            x.reshape(-1)[self.offset:], shape=self.size,
            strides=tuple(step * x.itemsize for step in self.stride),
            writeable=x.flags.writeable and not self.overlaps)

    def backward(self, grad_output):
        grad = np.zeros(int(np.prod(self.shape)), dtype=grad_output.dtype)
        if self.overlaps:
            np.add.at(grad, self.index, grad_output)
        else:
            grad[self.index] = grad_output
        return (grad.reshape(self.shape),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.shape import IndexAdd

        flat = IndexAdd(self.index, (int(np.prod(self.shape)),))(grad_output)
        return (flat.reshape(self.shape),)
