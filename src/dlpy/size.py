"""torch.Size: the type of ``Tensor.shape`` and ``Tensor.size()``. A tuple of ints (it equals,
hashes and unpacks as the tuple) with ``numel()``; slices, sums and products stay Sizes.
While dlpy.compat stands in for torch it prints as torch's, ``torch.Size([2, 3])`` (print,
str, repr and f-strings); otherwise its repr is ``dlpy.Size([2, 3])`` and its str the tuple's,
``(2, 3)``, as dlpy's shapes (and its messages) always read. tensor.py makes one per ``.shape``
(no check: the array's shape is ints)."""

from __future__ import annotations

import math
import sys

import numpy as np

_tuple_new = tuple.__new__


class Size(tuple):
    """A tuple of ints with numel(); ``Size(sizes)`` checks that each is an int (as torch's:
    a bool, a numpy integer or a one-element integer tensor counts as one)."""

    __slots__ = ()

    def __new__(cls, sizes=()):
        sizes = tuple(sizes)
        return _tuple_new(cls, (_as_int(size, sizes) for size in sizes))

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return _tuple_new(Size, item) if isinstance(index, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):  # torch's: a Size takes only a tuple, not a list
            return NotImplemented
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, times):
        return Size(tuple(self) * times)

    __rmul__ = __mul__

    def __reduce__(self):
        return Size, (tuple(self),)

    def __repr__(self) -> str:
        return f"{'torch' if _as_torch() else 'dlpy'}.Size({list(self)})"

    def __str__(self) -> str:
        return repr(self) if _as_torch() else tuple.__repr__(self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _as_int(size, sizes) -> int:
    if isinstance(size, (int, np.integer)):
        return int(size)
    array = getattr(size, "data", None)  # a Tensor: one integer (or bool) element, any shape
    if isinstance(array, np.ndarray) and array.dtype.kind in "iub" and array.size == 1:
        return int(array.reshape(()))
    raise TypeError(f"Size: expected a sequence of ints, got {size!r} in {sizes}")


def _as_torch() -> bool:
    compat = sys.modules.get("dlpy.compat")
    return compat is not None and compat.is_installed()


def shape_of(array: np.ndarray) -> Size:
    """An array's shape as a Size, without checking its ints again."""
    return _tuple_new(Size, array.shape)
