"""Embedding lookup with a scatter-add backward (sorted segments)."""

import numpy as np

from dlpy.tensor import Op, Tensor


class Embedding(Op):
    """y = weight[ids];  d weight = zeros with g scatter-added at the ids (repeats accumulate)."""

    def __init__(self, ids):
        self.ids = ids

    def forward(self, weight):
        self.shape = weight.shape
        return weight[self.ids]

    def backward(self, grad_output):
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        ids = self.ids.reshape(-1)
        if ids.size == 0:
            return (grad,)
        rows = grad_output.reshape(ids.size, self.shape[1])
        # sorted segments instead of np.add.at (unbuffered, several times slower): sort the
        # ids, sum each run of equal ids with one reduceat, write each sum to its row once
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        grad[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
        return (grad,)


def embedding(ids, weight):
    """ids: integer array (...); weight (num_embeddings, dim) -> (..., dim)."""
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
    return Embedding(ids)(weight)
