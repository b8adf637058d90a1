"""Embedding: a lookup table of learnable vectors."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
from dlpy.random import get_rng
from dlpy.tensor import Tensor


class Embedding(Module):
    """ids (...) integers in [0, num_embeddings) -> (..., embedding_dim);
    weight (num_embeddings, embedding_dim) initialised N(0, 1) as in PyTorch.

    padding_idx: that row starts at zero and gets no gradient (its positions output the row,
    zeros unless it was set otherwise), as PyTorch's. sparse: the weight's gradient is a
    SparseGrad over the looked-up rows, for ``optim.SparseAdam`` or ``SGD``
    (dlpy.sparse_grad).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: np.random.Generator | None = None, dtype=np.float32,
                 sparse: bool = False):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(
                f"Embedding: num_embeddings and embedding_dim must be >= 1, got "
                f"{num_embeddings}, {embedding_dim}"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must lie in [-{num_embeddings}, {num_embeddings}),"
                    f" got {padding_idx}"
                )
            padding_idx %= num_embeddings
        rng = get_rng(rng)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.sparse = padding_idx, bool(sparse)
        weight = rng.standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            weight[padding_idx] = 0.0
        self.weight = Parameter(weight, dtype=dtype)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (num_embeddings, embedding_dim), in its
        dtype; ``freeze`` (the default, as PyTorch) keeps it out of training. Draws nothing from
        the default generator."""
        weight = np.array(getattr(embeddings, "data", embeddings))
        if weight.ndim != 2 or weight.dtype.kind != "f":
            raise ValueError(f"Embedding.from_pretrained: expected a 2-D float array, got shape "
                             f"{weight.shape} of {weight.dtype}")
        layer = cls(*weight.shape, padding_idx=padding_idx, rng=np.random.default_rng(0),
                    dtype=weight.dtype, sparse=sparse)
        layer.weight = Parameter(weight, requires_grad=not freeze, dtype=weight.dtype)
        return layer

    def forward(self, ids) -> Tensor:
        return F.embedding(ids, self.weight, padding_idx=self.padding_idx, sparse=self.sparse)

    def extra_repr(self) -> str:
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        extra += ", sparse=True" if self.sparse else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"
