"""Embedding lookup with a scatter-add backward (sorted runs of ids), or a row-sparse one."""

import numpy as np

from dlpy.ops.sparse import MAX_LEVELS, sorted_runs, sum_runs
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Op, Tensor


class Embedding(Op):
    """y = weight[ids];  d weight = zeros with g scatter-added at the ids (repeats accumulate),
    or with ``sparse`` the SparseGrad of the ids' rows (no scatter, no dense zeros). The row
    ``padding_idx`` (if any) gets no gradient, as PyTorch's."""

    def __init__(self, ids, sparse=False, padding_idx=None):
        self.ids, self.sparse, self.padding_idx = ids, sparse, padding_idx

    def forward(self, weight):
        self.shape = weight.shape
        return weight[self.ids]

    def backward(self, grad_output):
        ids = self.ids.reshape(-1)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids = ids[keep]
            grad_output = grad_output.reshape(-1, self.shape[1])[keep]
        if self.sparse:
            return (SparseGrad(ids, grad_output.reshape(ids.size, self.shape[1]).copy(),
                               self.shape),)
        return (_scatter_rows(self.shape, ids, grad_output.reshape(ids.size, self.shape[1])),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.indexing import add_at  # dense under create_graph, also with sparse

        ids = self.ids.reshape(-1)
        rows = grad_output.reshape(ids.size, self.shape[1])
        if self.padding_idx is not None:
            rows = rows * (ids != self.padding_idx)[:, None].astype(rows.dtype)
        return (add_at(self.shape, 0, ids, rows),)


def _scatter_rows(shape, ids, rows):
    """zeros(shape) with rows[j] added at row ids[j], repeats summed in order: the ids sorted
    (stable; radix sorts of 16-bit keys, ops.sparse.sorted_runs, 4x faster), then
    the first of each run of equal ids written, the second added, ... one gather and scatter a
    level straight into the gradient. Runs longer than MAX_LEVELS go through sum_runs."""
    grad = np.zeros(shape, dtype=rows.dtype)
    if ids.size == 0:
        return grad
    order, sorted_ids, starts, lengths = sorted_runs(ids, shape[0])
    longest = int(lengths.max())
    if longest > MAX_LEVELS:  # sum_runs sums the long runs' tails by np.add.reduceat
        grad[sorted_ids[starts]] = sum_runs(rows, lengths, order)
        return grad
    grad[sorted_ids[starts]] = rows[order[starts]]
    for level in range(1, longest):
        at = starts[lengths > level] + level
        grad[sorted_ids[at]] += rows[order[at]]
    return grad


def embedding(ids, weight, padding_idx=None, sparse=False):
    """ids: integer array (...); weight (num_embeddings, dim) -> (..., dim). The row
    ``padding_idx`` (negative counts from the end) is looked up as any other but gets no
    gradient. With ``sparse`` the weight's gradient is a SparseGrad over the looked-up rows
    (``optim.SparseAdam``)."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got {ids.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got {weight.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
        raise ValueError(
            f"embedding: ids must lie in [0, {weight.shape[0]}), got values from {ids.min()} "
            f"to {ids.max()}"
        )
    if padding_idx is not None:
        n = weight.shape[0]
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                or not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx must be an integer in [-{n}, {n}), got "
                             f"{padding_idx!r}")
        padding_idx = int(padding_idx) % n
    return Embedding(ids, bool(sparse), padding_idx)(weight)
