"""The ops of sparse tensors (dlpy/sparse_tensor.py) on their values: a sparse tensor is a fixed
pattern of indices and a values Tensor (nnz, *dense_dims) in the graph, so each op here maps
values to values (or to a dense result) and its gradient is the values' gradient.

- Coalesce: the entries of each repeated index summed (values sorted by index);
- SparseSoftmax: softmax / log_softmax over the entries that share a segment (a row);
- sparse_dense_mm: S (m, k) @ D (k, n) through SparseLinear (ops/sparse.py), whose backward
  gives both the values' and D's gradients;
- SparseOperandMatMul: that product's value with dense gradients (torch.mm's, not
  torch.sparse.mm's) for an operand converted from a dense tensor.
Everything else (to_dense, S * D, transposes, sums) is composed from GetItem / IndexAdd and
the arithmetic ops in dlpy/sparse_tensor.py.
"""

from __future__ import annotations

import numpy as np

from dlpy.ops.matmul import MatMul
from dlpy.ops.sparse import SparseLinear, SparseRows, sum_runs
from dlpy.tensor import Op, Tensor


class SparseCooTensorWithDimsAndTensors(Op):
    """The values of a sparse tensor made from a Tensor that requires gradients: y = values,
    d values = g; the sparse tensor is then no leaf and has this as its grad_fn, as torch's."""

    saves = ()
    complex_ok = True  # the identity: complex values' gradient passes unchanged, as torch's

    def forward(self, values):
        return values

    def backward(self, grad_output):
        return (grad_output,)

    def backward_graph(self, grad_output, output):
        return (grad_output,)


class SparseCompressedTensor(SparseCooTensorWithDimsAndTensors):
    """The same for CSR / CSC / BSR / BSC (torch's name for their node)."""


class Coalesce(Op):
    """y[r] = sum of values[order[starts[r]:starts[r + 1]]] (the runs of equal indices);
    d values[i] = g[run of i]. values (nnz, *dense) -> (runs, *dense)."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)
    complex_ok = True  # sums with real coefficients: the gradient gathers g, complex or not

    def __init__(self, order: np.ndarray, starts: np.ndarray):
        self.order, self.starts = order, starts

    def forward(self, values):
        lengths = np.diff(np.append(self.starts, self.order.size))
        rows = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))  # (N, K)
        return sum_runs(rows, lengths, self.order).reshape((lengths.size,) + values.shape[1:])

    def _run(self) -> np.ndarray:  # the run of each entry
        first = np.zeros(self.order.size, dtype=np.int64)
        first[self.starts] = 1
        run = np.empty(self.order.size, dtype=np.int64)
        run[self.order] = np.cumsum(first) - 1
        return run

    def backward(self, grad_output):
        return (grad_output[self._run()],)

    def backward_graph(self, grad_output, output):
        return (grad_output[self._run()],)


class SparseSoftmax(Op):
    """Softmax (or log-softmax) of values (nnz, *dense) over the entries with the same
    segment id, each dense position apart: y = exp(v - max) / sum exp(v - max);
    dv = y (g - sum(g y)); log: y = v - logsumexp, dv = g - softmax * sum(g)."""

    saves = ("output",)

    def __init__(self, segments: np.ndarray, num_segments: int, log: bool):
        self.segments, self.num_segments, self.log = segments, num_segments, log

    def _sum(self, x):  # (nnz, *dense) -> the segment sums gathered back to each entry
        total = np.zeros((self.num_segments,) + x.shape[1:], dtype=x.dtype)
        np.add.at(total, self.segments, x)
        return total[self.segments]

    def forward(self, values):
        top = np.full((self.num_segments,) + values.shape[1:], -np.inf, dtype=values.dtype)
        np.maximum.at(top, self.segments, values)
        shifted = values - top[self.segments]
        exp = np.exp(shifted)
        total = self._sum(exp)
        self.y = shifted - np.log(total) if self.log else exp / total
        return self.y

    def backward(self, grad_output):
        if self.log:
            return (grad_output - np.exp(self.y) * self._sum(grad_output),)
        return (self.y * (grad_output - self._sum(grad_output * self.y)),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.shape import GetItem, IndexAdd

        def segment_sum(x):  # _sum of Tensors, recorded
            total = IndexAdd((self.segments,), (self.num_segments,) + tuple(x.shape[1:]))(x)
            return GetItem(self.segments)(total)

        if self.log:
            return (grad_output - output.exp() * segment_sum(grad_output),)
        return (output * (grad_output - segment_sum(grad_output * output)),)


class SparseOperandMatMul(MatMul):
    """y = a @ b as the sparse kernel computed it (``out``: a missing entry makes no product,
    so an inf of the dense operand times it stays out of y), with MatMul's gradients of the
    dense a and b: torch.mm's gradient of a sparse operand is dense and whole (not masked to
    its entries, as torch.sparse.mm's), and it reaches the dense tensor the operand was
    converted from."""

    def __init__(self, out: np.ndarray):
        self.out = out

    def forward(self, a, b):
        super().forward(a, b)  # (keeps what backward reads; its product is not used)
        return self.out


def sparse_dense_mm(crow: np.ndarray, col: np.ndarray, values: Tensor, num_columns: int,
                    dense: Tensor) -> Tensor:
    """The rows of a CSR matrix (crow, col, values (nnz,)) times dense (num_columns, n) ->
    (rows, n): SparseLinear's y[b] = sum_j values[j] * dense[col[j]], with the gradients of
    values (each entry's dot product) and of dense (the transposed product)."""
    rows = SparseRows(crow, col, values.data, num_columns)
    if values.requires_grad:
        return SparseLinear(rows)(dense, values)
    return SparseLinear(rows)(dense)
