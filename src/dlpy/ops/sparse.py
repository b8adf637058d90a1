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

    def transposed(self) -> tuple[SparseRows, np.ndarray]:
        """(the rows of the transposed matrix, (num_columns, num_rows), and the order of the
        entries in it: entry j of the transpose is entry order[j] of self)."""
        order = stable_order(self.indices, self.num_columns)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(self.indices,
                                                            minlength=self.num_columns))])
        return (SparseRows(indptr, self.row_of_entry()[order], self.values[order],
                           self.num_rows), order)

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


# a run's rows past this many are summed by np.add.reduceat (sum_runs)
MAX_LEVELS = 64


def sum_runs(x: np.ndarray, lengths: np.ndarray, at: np.ndarray | None = None,
             scale: np.ndarray | None = None) -> np.ndarray:
    """(runs, K): the sums of consecutive runs of rows of x (N, K), lengths[r] rows in run r
    (empty runs: 0); with ``at`` the rows are x[at] (at: indices, lengths.sum() of them),
    never gathered whole, and with ``scale`` row i is multiplied by scale[i]. Level by level:
    every run's first row (one gather), then the second row of the runs that have one added,
    ...: one gather and add of whole rows a level, where np.add.reduceat loops row by row
    (several times slower for rows of tens of values). The runs are taken longest first, so
    the runs that have a row at a level are a prefix: an in-place add to a slice of the
    total, never a masked gather and scatter of it (2-3x faster for rows of uneven length,
    as a sparse matrix's). A run's rows past MAX_LEVELS are summed by reduceat."""
    n = int(lengths.sum())
    if n == 0:
        return np.zeros((lengths.size,) + x.shape[1:], dtype=x.dtype)

    in_place = scale is not None and np.result_type(x, scale) == x.dtype

    def rows(i):  # the sequence's rows i
        taken = x[i] if at is None else x[at[i]]
        if in_place:  # taken is a fresh copy
            taken *= scale[i, None]
            return taken
        return taken if scale is None else taken * scale[i, None]

    starts = np.cumsum(lengths) - lengths
    longest, shortest = int(lengths.max()), int(lengths.min())
    by_length, ordered, alive = _longest_first(lengths, starts)
    total = rows(np.minimum(ordered, n - 1))  # (runs, K), level 0
    for level in range(1, min(longest, MAX_LEVELS)):
        count = int(alive[level])
        total[:count] += rows(ordered[:count] + level)
    if by_length is not None:  # back to the runs' order
        unsorted = np.empty_like(total)
        unsorted[by_length] = total
        total = unsorted
    long = lengths > MAX_LEVELS
    if long.any():  # the rest of each long run, one reduceat
        rest = lengths[long] - MAX_LEVELS
        first = np.cumsum(rest) - rest
        tail = np.repeat(starts[long] + MAX_LEVELS - first, rest) + np.arange(rest.sum())
        total[long] += np.add.reduceat(rows(tail), first, axis=0)
    if shortest == 0:
        total[lengths == 0] = 0
    return total


def _longest_first(lengths: np.ndarray, starts: np.ndarray):
    """(by_length, ordered, alive) of runs: by_length the runs longest first (stable; None
    when all are as long), ordered their starts in that order, alive[level] how many runs are
    longer than level (they are the prefix of ordered)."""
    longest = int(lengths.max())
    by_length = None if longest == int(lengths.min()) \
        else stable_order(longest - lengths, longest + 1)
    ordered = starts if by_length is None else starts[by_length]
    alive = lengths.size - np.cumsum(np.bincount(lengths, minlength=longest + 1))
    return by_length, ordered, alive


def run_dots(y: np.ndarray, x: np.ndarray, lengths: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(N,): out[i] = y[run of i] . x[at[i]] for the N = lengths.sum() entries of the runs
    (y (runs, K), x (M, K)), level by level as sum_runs (never an (N, K) gather of y: a run's
    row is read once a level from y in longest-first order); entries past MAX_LEVELS at once."""
    n = int(lengths.sum())
    out = np.empty(n, dtype=np.result_type(y, x))
    if n == 0:
        return out
    if out.dtype.itemsize == 2:  # 16-bit floats: in float32, as torch's dot (and einsum's)
        y, x = y.astype(np.float32), x.astype(np.float32)
    starts = np.cumsum(lengths) - lengths
    by_length, ordered, alive = _longest_first(lengths, starts)
    y_ordered = y if by_length is None else y[by_length]
    for level in range(min(int(lengths.max()), MAX_LEVELS)):
        count = int(alive[level])
        entries = ordered[:count] + level
        out[entries] = np.einsum("jk,jk->j", y_ordered[:count], x[at[entries]])
    long = lengths > MAX_LEVELS
    if long.any():
        rest = lengths[long] - MAX_LEVELS
        first = np.cumsum(rest) - rest
        tail = np.repeat(starts[long] + MAX_LEVELS - first, rest) + np.arange(rest.sum())
        out[tail] = np.einsum("jk,jk->j", y[np.repeat(np.flatnonzero(long), rest)], x[at[tail]])
    return out


def stable_order(ids: np.ndarray, num_rows: int) -> np.ndarray:
    """np.argsort(ids, kind="stable") for integer ids in [0, num_rows), faster: numpy sorts
    16-bit keys by radix, so one pass of the ids as uint16 when num_rows <= 65,536, two (the low
    half, then the high half of the ids in that order: least significant digit first) below
    2^32; 1.4x (4,096 ids of 200,000) to 13x (12,800 ids of 20,000) faster than the merge sort
    of int64 keys."""
    if num_rows <= 1 << 16:
        return np.argsort(ids.astype(np.uint16), kind="stable")
    if num_rows <= 1 << 32:
        low = np.argsort(ids.astype(np.uint16), kind="stable")  # astype keeps the low bits
        return low[np.argsort((ids[low] >> 16).astype(np.uint16), kind="stable")]
    return np.argsort(ids, kind="stable")


def sorted_runs(ids: np.ndarray, num_rows: int):
    """(order, sorted_ids, starts, lengths) of ids (n,) in [0, num_rows), n > 0: ids[order] =
    sorted_ids (stable), whose runs of equal ids start at ``starts`` and are ``lengths`` long."""
    order = stable_order(ids, num_rows)
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    return order, sorted_ids, starts, np.diff(np.append(starts, ids.size))


def add_rows(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray, at: np.ndarray | None = None,
             scale: np.ndarray | None = None) -> np.ndarray:
    """grad[ids[j]] += rows[j] for every j, repeated ids summed, into grad (M, K); rows (N, K).
    With ``at`` (and ``scale``) the j-th row is rows[at[j]] (* scale[j]), never gathered
    whole. The ids are sorted (stable) and each run of equal ids summed by sum_runs, written
    to its row once: never np.add.at, which is several times slower."""
    if ids.size == 0:
        return grad
    order, sorted_ids, starts, lengths = sorted_runs(ids, grad.shape[0])
    grad[sorted_ids[starts]] += sum_runs(rows, lengths, order if at is None else at[order],
                                         None if scale is None else scale[order])
    return grad


class SparseLinear(Op):
    """y[b] = sum over b's entries j of values[j] * weight[indices[j]]: (num_columns, K) ->
    (num_rows, K). d weight[c] = sum over entries j with indices[j] = c of values[j] * g[row j];
    rows no entry touches get zero. The values are rows.values, or a second input (nnz,) that
    gets d values[j] = g[row j] . weight[indices[j]]. Few columns (K <= 16, as the essay
    scorer's n-gram weights): rows summed by np.add.reduceat, the gradient by one bincount per
    column (O(nnz), no sort); wider rows (embedding bags): both by sum_runs, level by level.
    float16 / bfloat16 weights, as torch's bags: the rows summed in float32 and rounded once,
    the weight's gradient summed in their dtype entry by entry (add_rows)."""

    # bilinear in weight and values: complex ones (torch's sparse @ dense of complex tensors)
    # take the conjugate form of these gradients (ops/complex.py)
    complex_ok = "holomorphic"

    def __init__(self, rows: SparseRows, sparse: bool = False):
        self.rows, self.sparse = rows, sparse

    def forward(self, weight, values=None):
        rows = self.rows
        self.shape = weight.shape
        if values is not None:  # saved for the gradients
            self.weight, self.values = weight, values
        values = rows.values if values is None else values
        lengths = np.diff(rows.indptr)
        if weight.dtype.itemsize == 2:  # float16 / bfloat16: summed in float32, rounded once
            gathered = weight[rows.indices].astype(np.float32) * values.astype(np.float32)[:, None]
            return _segment_sum(gathered, rows.indptr[:-1], rows.num_rows,
                                lengths > 0).astype(weight.dtype)
        values = values.astype(weight.dtype, copy=False)
        if weight.shape[1] > 16:  # no gathered copy: the rows taken level by level
            return sum_runs(weight, lengths, rows.indices,
                            None if np.all(values == 1) else values)
        gathered = weight[rows.indices] * values[:, None]  # (nnz, K)
        return _segment_sum(gathered, rows.indptr[:-1], rows.num_rows, lengths > 0)

    def backward(self, grad_output):
        rows, values = self.rows, self.rows.values
        row_of = rows.row_of_entry()
        values_grad = ()  # with values as an input: (its gradient,)
        if len(self.inputs) > 1:
            values = self.values
            values_grad = (None,)
            if self.inputs[1].requires_grad and self.shape[1] > 16:  # as the forward
                values_grad = (run_dots(grad_output, self.weight, np.diff(rows.indptr),
                                        rows.indices),)
            elif self.inputs[1].requires_grad:  # each entry's dot product, no (nnz, K) product
                # (16-bit floats: in float32, rounded once, as torch's dot; numpy's einsum
                # takes no bfloat16)
                dtype = np.result_type(grad_output, self.weight)
                compute = np.float32 if dtype.itemsize == 2 else dtype
                values_grad = (np.einsum("jk,jk->j", grad_output[row_of].astype(compute),
                                         self.weight[rows.indices].astype(compute))
                               .astype(dtype),)
            if not self.inputs[0].requires_grad:
                return (None, *values_grad)
        return (self._weight_grad(grad_output, row_of, values), *values_grad)

    def backward_graph(self, grad_output, output):
        # linear in the weight: its gradient is A^T g, a SparseLinear of the transposed rows
        # (itself differentiable again); values' is each entry's dot product, by gathers
        rows, weight = self.rows, self.inputs[0]
        values = self.inputs[1] if len(self.inputs) > 1 else None
        row_of = rows.row_of_entry()
        grads = [None] * len(self.inputs)
        if weight.requires_grad:
            transposed, order = rows.transposed()
            grads[0] = SparseLinear(transposed)(grad_output) if values is None \
                else SparseLinear(transposed)(grad_output, values[order])
        if values is not None and values.requires_grad:
            grads[1] = (grad_output[row_of] * weight[rows.indices]).sum(-1)
        return tuple(grads)

    def _weight_grad(self, grad_output, row_of, values):
        rows = self.rows
        if self.sparse:  # one gradient row per entry; repeats are summed by coalesce()
            grad = grad_output[row_of] * values.astype(grad_output.dtype)[:, None]
            return SparseGrad(rows.indices, grad, self.shape)
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        if rows.indices.size == 0:
            return grad
        if self.shape[1] <= 16 and grad_output.dtype.itemsize > 2 \
                and grad_output.dtype.kind != "c":
            # few columns: one bincount per column (O(nnz), no sort); 16-bit floats by
            # add_rows, each entry's product rounded and added in their dtype, as torch's
            # (and complex ones, which bincount does not weigh)
            values = values.astype(np.float64)
            for k in range(self.shape[1]):
                grad[:, k] = np.bincount(rows.indices, values * grad_output[row_of, k],
                                         minlength=self.shape[0])
            return grad
        # grad_output[row_of[j]] * values[j] summed per column, taken row by row from
        # grad_output (no (nnz, K) copy)
        return add_rows(grad, rows.indices, grad_output, row_of,
                        values.astype(grad_output.dtype, copy=False))


def sparse_linear(rows: SparseRows, weight: Tensor, sparse: bool = False,
                  values: Tensor | None = None) -> Tensor:
    """rows: SparseRows (B rows over num_columns); weight (num_columns, K) -> (B, K). With
    ``sparse`` the weight's gradient is a SparseGrad over the touched rows (as PyTorch's
    ``EmbeddingBag(mode="sum", sparse=True)`` with per-sample weights). ``values``: a Tensor
    (nnz,) used instead of rows.values, which gets a gradient (per-sample weights)."""
    if not isinstance(rows, SparseRows):
        raise TypeError(f"sparse_linear: rows must be SparseRows, got {type(rows).__name__}")
    if weight.ndim != 2 or weight.shape[0] != rows.num_columns:
        raise ValueError(f"sparse_linear: expected weight ({rows.num_columns}, K), got "
                         f"{weight.shape}")
    if values is None:
        return SparseLinear(rows, bool(sparse))(weight)
    if tuple(values.shape) != rows.indices.shape:
        raise ValueError(f"sparse_linear: values must have one value per entry "
                         f"{rows.indices.shape}, got {tuple(values.shape)}")
    return SparseLinear(rows, bool(sparse))(weight, values)
