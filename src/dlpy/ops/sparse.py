"""Sparse-input linear map (an embedding bag with per-entry weights), for inputs too wide to
densify (e.g. 38k essays x 40k n-grams).

    rows = SparseRows.from_rows([(indices, values), ...], num_columns)   # CSR
    y = sparse_linear(rows, weight)      # y[b] = sum_j values[b, j] * weight[indices[b, j]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Op, Tensor


class SparseRows:
    """A batch of sparse rows in CSR form: row b holds entries indptr[b]:indptr[b + 1] of
    `indices` (column numbers, repeats allowed and summed) and `values`."""

    def __init__(self, indptr, indices, values, num_columns: int):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.values = np.asarray(values)
        self.num_columns = int(num_columns)
        if self.indptr.ndim != 1 or self.indptr.size < 1 or self.indptr[0] != 0 \
                or np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise ValueError(f"SparseRows: indptr must rise from 0 to {self.indices.size} "
                             f"(the number of entries), got {self.indptr[:5]}...")
        if self.values.shape != self.indices.shape:
            raise ValueError(f"SparseRows: {self.values.size} values for "
                             f"{self.indices.size} indices")
        if self.indices.size and (self.indices.min() < 0
                                  or self.indices.max() >= self.num_columns):
            raise ValueError(f"SparseRows: indices must lie in [0, {self.num_columns}), got "
                             f"values from {self.indices.min()} to {self.indices.max()}")

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[np.ndarray, np.ndarray]], num_columns: int,
                  dtype=np.float32) -> SparseRows:
        """[(indices, values) per row] -> SparseRows."""
        lengths = np.array([len(i) for i, _ in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        if not rows or indptr[-1] == 0:
            return cls(indptr, np.zeros(0, np.int64), np.zeros(0, dtype), num_columns)
        indices = np.concatenate([np.asarray(i, dtype=np.int64) for i, _ in rows])
        values = np.concatenate([np.asarray(v, dtype=dtype) for _, v in rows])
        return cls(indptr, indices, values, num_columns)

    @property
    def num_rows(self) -> int:
        return self.indptr.size - 1

    def row_of_entry(self) -> np.ndarray:
        """(nnz,) the row of every entry."""
        return np.repeat(np.arange(self.num_rows), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        out = np.zeros((self.num_rows, self.num_columns), dtype=self.values.dtype)
        np.add.at(out, (self.row_of_entry(), self.indices), self.values)
        return out


def _segment_sum(x: np.ndarray, starts: np.ndarray, num_segments: int,
                 nonempty: np.ndarray) -> np.ndarray:
    """Sums of consecutive runs of x's rows: run s = x[starts[s]:starts[s + 1]]; empty runs 0."""
    out = np.zeros((num_segments,) + x.shape[1:], dtype=x.dtype)
    if x.shape[0]:
        out[nonempty] = np.add.reduceat(x, starts[nonempty], axis=0)
    return out


class SparseLinear(Op):
    """y[b] = sum over b's entries j of values[j] * weight[indices[j]]: (num_columns, K) ->
    (num_rows, K). d weight[c] = sum over entries j with indices[j] = c of values[j] * g[row j];
    rows no entry touches get zero. Summed with bincount per column when K is small, else by
    sorted segments (np.add.reduceat); never np.add.at, which is slow."""

    def __init__(self, rows: SparseRows, sparse: bool = False):
        self.rows, self.sparse = rows, sparse

    def forward(self, weight):
        rows = self.rows
        self.shape = weight.shape
        gathered = weight[rows.indices] * rows.values.astype(weight.dtype)[:, None]  # (nnz, K)
        lengths = np.diff(rows.indptr)
        return _segment_sum(gathered, rows.indptr[:-1], rows.num_rows, lengths > 0)

    def backward(self, grad_output):
        rows = self.rows
        if self.sparse:  # one gradient row per entry; repeats are summed by coalesce()
            values = grad_output[rows.row_of_entry()] \
                * rows.values.astype(grad_output.dtype)[:, None]
            return (SparseGrad(rows.indices, values, self.shape),)
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        if rows.indices.size == 0:
            return (grad,)
        row_of = rows.row_of_entry()
        values = rows.values.astype(np.float64)
        if self.shape[1] <= 16:
            # few columns: one bincount per column (O(nnz), no sort)
            for k in range(self.shape[1]):
                grad[:, k] = np.bincount(rows.indices, values * grad_output[row_of, k],
                                         minlength=self.shape[0])
            return (grad,)
        order = np.argsort(rows.indices, kind="stable")
        sorted_indices = rows.indices[order]
        contributions = grad_output[row_of[order]] \
            * rows.values[order].astype(grad_output.dtype)[:, None]  # (nnz, K)
        starts = np.concatenate([[0], np.nonzero(np.diff(sorted_indices))[0] + 1])
        grad[sorted_indices[starts]] = np.add.reduceat(contributions, starts, axis=0)
        return (grad,)


def sparse_linear(rows: SparseRows, weight: Tensor, sparse: bool = False) -> Tensor:
    """rows: SparseRows (B rows over num_columns); weight (num_columns, K) -> (B, K). With
    ``sparse`` the weight's gradient is a SparseGrad over the touched rows (as PyTorch's
    ``EmbeddingBag(mode="sum", sparse=True)`` with per-sample weights)."""
    if not isinstance(rows, SparseRows):
        raise TypeError(f"sparse_linear: rows must be SparseRows, got {type(rows).__name__}")
    if weight.ndim != 2 or weight.shape[0] != rows.num_columns:
        raise ValueError(f"sparse_linear: expected weight ({rows.num_columns}, K), got "
                         f"{weight.shape}")
    return SparseLinear(rows, bool(sparse))(weight)
