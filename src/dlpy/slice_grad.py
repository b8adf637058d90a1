"""The gradient of one basic slice ``x[index]``, kept as the slice until it is added up.

``GetItem.backward`` for a basic index (ints, slices, None, Ellipsis) returns a ``SliceGrad``
(the index, the slice's values, the input's shape and dtype) instead of a zero array of the
input's shape. The engine adds the slices a tensor receives into one array of its own
(``total[index] += values``), so a loop over ``x[t]`` for t in range(L) costs O(slice) a step
in backward, not O(x). The type never leaves the engine: before an op's backward, a hook, a
leaf's ``.grad`` or ``autograd.grad`` sees a gradient it is made dense (``to_dense``).
"""

from __future__ import annotations

import numpy as np


class SliceGrad:
    """An array of ``shape`` and ``dtype`` that is zero except ``values`` at ``index`` (a basic
    index: each position selected once)."""

    __slots__ = ("index", "values", "shape", "dtype")

    def __init__(self, index, values: np.ndarray, shape: tuple[int, ...], dtype):
        self.index = index
        self.values = values  # may be another op's grad_output: read, never written
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def dense(self) -> np.ndarray:
        """A fresh array (nobody else holds it)."""
        out = np.zeros(self.shape, dtype=self.dtype)
        out[self.index] = self.values
        return out

    def add_to(self, out: np.ndarray) -> None:
        """out += self, in place: only the slice is touched."""
        out[self.index] += self.values

    def astype(self, dtype) -> SliceGrad:
        return SliceGrad(self.index, self.values.astype(dtype), self.shape, dtype)

    def __repr__(self) -> str:
        return f"SliceGrad(index={self.index!r}, shape={self.shape}, dtype={self.dtype})"
