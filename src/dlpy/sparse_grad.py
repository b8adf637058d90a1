"""Row-sparse gradients, as PyTorch's sparse COO gradients of ``nn.Embedding(sparse=True)``.

An embedding table or an n-gram weight matrix of a million rows sees a few thousand of them in a
mini-batch. With ``sparse=True`` the op's backward hands its weight a ``SparseGrad`` (the rows it
touched and their values) instead of a dense array of zeros, and ``optim.SparseAdam`` (or plain
``SGD``) updates only those rows::

    emb = nn.Embedding(1_000_000, 64, sparse=True)
    opt = optim.SparseAdam(emb.parameters(), lr=1e-3)
    loss = F.mse_loss(emb(ids), target)
    loss.backward()                       # emb.weight.grad is a SparseGrad
    opt.step()                            # moves the rows in ids only

The engine keeps a sparse gradient sparse only where it ends: in a leaf's ``.grad``. Sparse plus
sparse concatenates (``coalesce()`` sums repeated rows); sparse plus dense is dense; an op that
receives a sparse gradient from further down the graph gets it densified.
"""

from __future__ import annotations

import numpy as np

from dlpy.size import Size


def _sequential_sums(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each run's rows of a 2-byte float ``values`` added one after another in float32, every
    sum rounded to the dtype (numpy's float16 reduceat keeps float32 partial sums)."""
    ends = np.append(starts[1:], order.size)
    sums = values[order[starts]].copy()
    for k in range(1, int(np.max(ends - starts, initial=1))):
        more = starts + k < ends
        sums[more] = (sums[more].astype(np.float32)
                      + values[order[starts[more] + k]].astype(np.float32)).astype(values.dtype)
    return sums


class _Values(np.ndarray):
    """A SparseGrad's ``values``: the array (what optimisers read), and called, torch's
    ``values()``: a Tensor."""

    def __call__(self):
        from dlpy.tensor import Tensor

        return Tensor(self.view(np.ndarray))


class _Rows(_Values):
    """A SparseGrad's ``indices``: the rows, and called, torch's ``indices()``: (1, nnz)."""

    def __call__(self):
        from dlpy.tensor import Tensor

        return Tensor(self.view(np.ndarray)[None])


class SparseGrad:
    """Rows ``indices[i]`` of a ``shape`` array hold ``values[i]``, every other row is zero;
    repeated indices add up. ``values`` is (len(indices), *shape[1:]). Both are arrays that can
    also be called as torch's ``indices()`` / ``values()`` (Tensors)."""

    is_sparse = True

    @property
    def indices(self) -> np.ndarray:
        return self._rows.view(_Rows)

    @indices.setter
    def indices(self, rows) -> None:
        self._rows = np.asarray(rows)

    @property
    def values(self) -> np.ndarray:
        return self._entries.view(_Values)

    @values.setter
    def values(self, entries) -> None:
        self._entries = np.asarray(entries)
    __array_ufunc__ = None  # ndarray + SparseGrad defers to __radd__ (a dense result)

    def __init__(self, indices, values, shape, coalesced: bool = False):
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.values = np.asarray(values)
        self.shape = Size(int(s) for s in shape)  # a torch.Size, as a sparse tensor's
        if not self.shape or self.values.shape != (self.indices.size,) + self.shape[1:]:
            raise ValueError(f"SparseGrad: values of shape {self.values.shape} do not fit "
                             f"{self.indices.size} rows of an array of shape {self.shape}")
        if self.indices.size and (self.indices.min() < 0
                                  or self.indices.max() >= self.shape[0]):
            raise ValueError(f"SparseGrad: row indices must lie in [0, {self.shape[0]}), got "
                             f"values from {self.indices.min()} to {self.indices.max()}")
        self.coalesced = bool(coalesced)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    # torch's sparse COO tensor's attributes, where they do not clash with indices / values
    @property
    def data(self) -> SparseGrad:
        """torch's ``grad.data`` of a sparse gradient (a detached alias): the gradient itself,
        which records no graph (optimisers written for torch test ``p.grad.data.is_sparse``)."""
        return self

    @property
    def layout(self):
        from dlpy.sparse_tensor import sparse_coo

        return sparse_coo

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def sparse_dim(self) -> int:
        return 1

    def dense_dim(self) -> int:
        return len(self.shape) - 1

    def _nnz(self) -> int:
        return int(self.indices.size)

    def _indices(self):
        """torch's ``_indices()``: the rows as a (1, nnz) int64 Tensor (``indices`` the array)."""
        from dlpy.tensor import Tensor

        return Tensor(self.indices[None])

    def _values(self):
        """torch's ``_values()``: a (nnz, *shape[1:]) Tensor (``values`` the array)."""
        from dlpy.tensor import Tensor

        return Tensor(self.values)

    def is_coalesced(self) -> bool:
        return self.coalesced or self.indices.size <= 1

    def coalesce(self) -> SparseGrad:
        """The same gradient with each row once (sorted), repeated rows summed (float16 and
        bfloat16 in lookup order, each sum rounded to the dtype, as torch's coalesce)."""
        if self.coalesced:
            return self
        if self.indices.size == 0:
            return SparseGrad(self.indices, self.values, self.shape, coalesced=True)
        order, starts = runs(self.indices)
        if self.values.dtype.itemsize == 2 and self.values.dtype.kind != "i":
            values = _sequential_sums(self.values, order, starts)
        else:
            values = np.add.reduceat(self.values[order], starts, axis=0)
        return SparseGrad(self.indices[order[starts]], values, self.shape, coalesced=True)

    def dense(self) -> np.ndarray:
        """The dense gradient as a numpy array (the engine's and optimisers' form)."""
        coalesced = self.coalesce()
        out = np.zeros(self.shape, dtype=self.dtype)
        out[coalesced.indices] = coalesced.values
        return out

    def to_dense(self):
        """The dense gradient as a Tensor, as torch's ``grad.to_dense()``."""
        from dlpy.tensor import Tensor

        return Tensor(self.dense())

    def to_sparse_coo(self):
        """This gradient as a sparse COO tensor (dlpy/sparse_tensor.py): the rows its sparse
        dim, the rest dense (torch's sparse gradient of an embedding)."""
        from dlpy.sparse_tensor import sparse_coo_tensor

        return sparse_coo_tensor(self.indices[None], self.values, self.shape,
                                 is_coalesced=self.coalesced)

    def __array__(self, dtype=None, copy=None):
        dense = self.dense()
        return dense if dtype is None else dense.astype(dtype, copy=False)

    def astype(self, dtype, copy: bool = True) -> SparseGrad:
        return SparseGrad(self.indices, self.values.astype(dtype, copy=copy), self.shape,
                          self.coalesced)

    def copy(self) -> SparseGrad:
        return SparseGrad(self.indices.copy(), self.values.copy(), self.shape, self.coalesced)

    def _check(self, other_shape) -> None:
        if tuple(other_shape) != self.shape:
            raise ValueError(f"SparseGrad: cannot add shapes {self.shape} and "
                             f"{tuple(other_shape)}")

    def __add__(self, other):
        if isinstance(other, SparseGrad):
            self._check(other.shape)
            dtype = np.result_type(self.dtype, other.dtype)
            return SparseGrad(np.concatenate([self.indices, other.indices]),
                              np.concatenate([self.values.astype(dtype, copy=False),
                                              other.values.astype(dtype, copy=False)]),
                              self.shape)
        other = np.asarray(other)
        self._check(other.shape)
        out = other.astype(np.result_type(self.dtype, other.dtype), copy=True)
        coalesced = self.coalesce()  # unique rows: += on a fancy index then adds each once
        out[coalesced.indices] += coalesced.values
        return out

    __radd__ = __add__

    def __mul__(self, scalar) -> SparseGrad:
        if not np.isscalar(scalar):
            return NotImplemented
        return SparseGrad(self.indices, self.values * scalar, self.shape, self.coalesced)

    __rmul__ = __mul__

    def __imul__(self, scalar) -> SparseGrad:
        if not np.isscalar(scalar):
            return NotImplemented
        self.values *= scalar
        return self

    def zero_(self) -> SparseGrad:
        """No rows left, in place (the same object), as torch's zero_ of a sparse tensor: what
        ``zero_grad(set_to_none=False)`` leaves of a sparse gradient."""
        self.indices = self.indices[:0]
        self.values = self.values[:0]
        self.coalesced = True
        return self

    def __repr__(self) -> str:
        return (f"SparseGrad(shape={self.shape}, {self.indices.size} rows"
                f"{', coalesced' if self.coalesced else ''}, dtype={self.dtype})")


def runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, starts): ``keys[order]`` sorted (stable), and where each run of equal keys
    begins in it; coalescing sums ``values[order]`` run by run (np.add.reduceat at starts)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1])) if keys.size else ordered
    return order, np.flatnonzero(first)


def dense(grad) -> np.ndarray:
    """A gradient as a dense array (a SparseGrad densified, a Tensor's array, an array as it
    is)."""
    return grad.dense() if isinstance(grad, SparseGrad) else np.asarray(grad)
