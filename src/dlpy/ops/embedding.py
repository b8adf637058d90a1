"""Embedding lookup with a scatter-add backward (sorted runs of ids), or a row-sparse one."""

import numpy as np

from dlpy.ops import ArgDtypeError
from dlpy.ops.indexing import IndexDtypeError
from dlpy.ops.sparse import MAX_LEVELS, sorted_runs, sum_runs
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Op, ShapeError, Tensor, increment_version, is_grad_enabled


class IdRangeError(ValueError, IndexError):
    """An embedding id outside [0, num_embeddings): torch's IndexError ("index out of range in
    self"), and a ValueError as dlpy's other bad-argument errors are."""


class _EmptyTableError(IdRangeError, RuntimeError):
    """An id looked up in a weight of no rows: torch refuses it with a RuntimeError
    (index_select's "self indexing axis dim should be positive"), not its IndexError."""


class _PaddingIdxError(ValueError, AssertionError):
    """padding_idx outside [-num_embeddings, num_embeddings), or from_pretrained's weight not
    2-D: torch asserts them."""


class Embedding(Op):
    """y = weight[ids];  d weight = zeros with g scatter-added at the ids (repeats accumulate),
    or with ``sparse`` the SparseGrad of the ids' rows (no scatter, no dense zeros). The row
    ``padding_idx`` (if any) gets no gradient, as PyTorch's. ``scale_grad_by_freq``: each
    id's rows of g divided by the number of times the id occurs in ids (dense only, as
    PyTorch's)."""

    complex_ok = True  # values move: linear with real coefficients
    # backward reads only the ids and the weight's shape: an in-place change of the weight or
    # of the output after the lookup is allowed, as torch's (which saves the indices only)
    saves = ()

    def __init__(self, ids, sparse=False, padding_idx=None, scale_grad_by_freq=False):
        self.ids, self.sparse, self.padding_idx = ids, sparse, padding_idx
        self.scale_grad_by_freq = scale_grad_by_freq

    def forward(self, weight):
        self.shape = weight.shape
        # (C-ordered ids: numpy's gather may follow a transposed index's layout, torch's
        # result is contiguous)
        return weight[np.asarray(self.ids, order="C")]  # (0-d ids stay 0-d)

    def _frequency_scale(self, ids, dtype) -> np.ndarray:
        """(ids.size, 1): 1 / the count of each id among all the ids (padding's too)."""
        if self.sparse:
            raise RuntimeError("embedding_backward: scale_grad_by_freq is not supported with "
                               "sparse gradients (as in PyTorch)")
        counts = np.bincount(ids, minlength=self.shape[0])
        return (1.0 / counts[ids]).astype(dtype)[:, None]

    def backward(self, grad_output):
        ids = self.ids.reshape(-1)
        grad_output = grad_output.reshape(ids.size, self.shape[1])
        if self.scale_grad_by_freq:
            grad_output = grad_output * self._frequency_scale(ids, grad_output.dtype)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids = ids[keep]
            grad_output = grad_output[keep]
        if self.sparse:
            return (SparseGrad(ids, grad_output.reshape(ids.size, self.shape[1]).copy(),
                               self.shape),)
        return (_scatter_rows(self.shape, ids, grad_output.reshape(ids.size, self.shape[1])),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.indexing import add_at  # dense under create_graph, also with sparse

        ids = self.ids.reshape(-1)
        rows = grad_output.reshape(ids.size, self.shape[1])
        if self.scale_grad_by_freq:
            rows = rows * self._frequency_scale(ids, rows.dtype)
        if self.padding_idx is not None:
            rows = rows * (ids != self.padding_idx)[:, None].astype(rows.dtype)
        return (add_at(self.shape, 0, ids, rows),)


class RowGradScale(Op):
    """y = weight;  d weight = g * scale[:, None]: each row's gradient scaled (embedding_bag's
    ``scale_grad_by_freq``: 1 / the row's count among the ids). With ``refusal`` (a message)
    the backward raises it instead, as PyTorch's for the bags it cannot scale."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, scale, refusal=None):
        self.scale, self.refusal = scale, refusal

    def forward(self, weight):
        return weight

    def backward(self, grad_output):
        if self.refusal:
            raise RuntimeError(self.refusal)
        return (grad_output * self.scale.astype(grad_output.dtype)[:, None],)

    def backward_graph(self, grad_output, output):
        if self.refusal:
            raise RuntimeError(self.refusal)
        return (grad_output * Tensor(self.scale.astype(grad_output.dtype)[:, None]),)


class BagMean(Op):
    """y = sums / counts[:, None] (an empty bag's 0 over 1);  d sums = g * (1 / counts), the
    reciprocal rounded to g's dtype first, as torch's embedding_bag backward (a float16 bag
    of 3 rows: g * float16(1 / 3), rounded, not g / 3)."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, counts):
        self.counts = np.maximum(counts, 1)

    def forward(self, sums):
        return sums / self.counts.astype(sums.dtype)[:, None]

    def backward(self, grad_output):
        return (grad_output * (1.0 / self.counts).astype(grad_output.dtype)[:, None],)

    def backward_graph(self, grad_output, output):
        return (grad_output * Tensor((1.0 / self.counts).astype(grad_output.dtype)[:, None]),)


def frequency_scaled(name, weight, ids, sparse):
    """weight whose gradient rows are divided by their id's count in ids (torch's
    scale_grad_by_freq for embedding_bag; dense sums and means only, as PyTorch's, whose
    backward refuses sparse gradients; max mode is refused at the call)."""
    counts = np.bincount(ids, minlength=weight.shape[0])
    refusal = None
    if sparse:
        refusal = f"{name}: scale_grad_by_freq is not supported with sparse gradients"
    return RowGradScale(1.0 / np.maximum(counts, 1), refusal)(weight)


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


def renorm_rows(weight, ids, max_norm, norm_type=2.0) -> None:
    """torch's embedding_renorm_: each row of weight (num_embeddings, dim) that ``ids`` look up
    whose ``norm_type``-norm exceeds ``max_norm`` scaled by max_norm / (norm + 1e-7), in place
    and unrecorded (torch's no_grad); the norm rounded to the weight's dtype and the scale too,
    as torch's. The weight's version goes up, as after torch's in-place op: an op recorded
    before that read the weight refuses to backward."""
    array = weight.data if isinstance(weight, Tensor) else weight
    rows = np.unique(np.asarray(ids))
    if rows.size:
        norms = np.linalg.norm(array[rows].astype(np.float64), ord=norm_type, axis=1)
        # torch's row.norm() is a Tensor of the weight's (real) dtype, read as a double
        norms = norms.astype(_REAL.get(array.dtype, array.dtype)).astype(np.float64)
        over = norms > max_norm
        if over.any():
            scale = max_norm / (norms[over] + 1e-7)
            array[rows[over]] *= scale[:, None].astype(array.dtype)
    increment_version(weight)


_REAL = {np.dtype(np.complex64): np.dtype(np.float32),
         np.dtype(np.complex128): np.dtype(np.float64)}


_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))


def _check_max_norm(name, max_norm, norm_type) -> None:
    for what, value in (("max_norm", max_norm), ("norm_type", norm_type)):
        if value is not None and (isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating))):
            raise TypeError(f"{name}: {what} must be a number or None, got {value!r}")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,  # noqa: A002
              scale_grad_by_freq=False, sparse=False):
    """input: int64 or int32 ids (...) (a Tensor, an array or a list); weight
    (num_embeddings, dim) -> (..., dim), torch's F.embedding. The row ``padding_idx``
    (negative counts from the end) is looked up as any other but gets no gradient.
    ``max_norm``: first the looked-up rows whose ``norm_type``-norm exceeds it are renormalised
    to it, in the weight itself (``renorm_rows``, as PyTorch's). ``scale_grad_by_freq``: each
    id's gradient divided by its count in ids. With ``sparse`` the weight's gradient is a
    SparseGrad over the looked-up rows (``optim.SparseAdam``)."""
    ids = np.asarray(input.data if isinstance(input, Tensor) else input)
    if ids.dtype not in _INDEX_DTYPES:  # torch's: Long or Int only (no int16, uint8, bool)
        raise IndexDtypeError(f"embedding: ids must be integers, got {ids.dtype} (int64 or "
                              f"int32, as torch)")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be (num_embeddings, dim), got {weight.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
        raise (_EmptyTableError if weight.shape[0] == 0 else IdRangeError)(
            f"embedding: ids must lie in [0, {weight.shape[0]}), got values from {ids.min()} "
            f"to {ids.max()}"
        )
    if padding_idx is not None:
        n = weight.shape[0]
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                or not -n <= padding_idx < n:
            raise _PaddingIdxError(f"embedding: padding_idx must be an integer in [-{n}, {n}), got "
                             f"{padding_idx!r}")
        padding_idx = int(padding_idx) % n
    _check_max_norm("embedding", max_norm, norm_type)
    if max_norm is not None:
        if weight.dtype.kind in "biu":
            raise ArgDtypeError(f"embedding: max_norm needs a floating or complex weight (its "
                                f"norms), got {weight.dtype}, as torch")
        renorm_rows(weight, ids, max_norm, norm_type)
    if weight.dtype.kind == "c" and weight.requires_grad and is_grad_enabled():
        raise ArgDtypeError("embedding: no gradient for a complex weight, as torch (look up under "
                            "torch.no_grad() or with a weight that needs no gradient)")
    return Embedding(ids, bool(sparse), padding_idx, bool(scale_grad_by_freq))(weight)
