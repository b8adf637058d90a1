"""Embedding: a lookup table of learnable vectors; EmbeddingBag: the sum, mean or max of bags of
them."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, default_dtype


class Embedding(Module):
    """ids (...) integers in [0, num_embeddings) -> (..., embedding_dim);
    weight (num_embeddings, embedding_dim) initialised N(0, 1) as in PyTorch.

    padding_idx: that row starts at zero and gets no gradient (its positions output the row,
    zeros unless it was set otherwise), as PyTorch's. sparse: the weight's gradient is a
    SparseGrad over the looked-up rows, for ``optim.SparseAdam`` or ``SGD``
    (dlpy.sparse_grad).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: np.random.Generator | None = None, dtype=None,
                 sparse: bool = False):
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
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
        weight = np.array(as_array(embeddings))
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


class EmbeddingBag(Module):
    """Bags of ids -> the sum, mean or max of their rows of weight (num_embeddings,
    embedding_dim), (bags, embedding_dim), as torch.nn.EmbeddingBag (``F.embedding_bag``):
    forward(input, offsets=None, per_sample_weights=None) with 2-D ids (one bag a row) or 1-D
    ids split at offsets. PyTorch's arguments in its order, then rng and dtype; weight
    N(0, 1), the padding_idx row zero (left out of every bag). max_norm and scale_grad_by_freq
    are not supported (NotImplementedError)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight=None, include_last_offset: bool = False,
                 padding_idx: int | None = None, *, rng: np.random.Generator | None = None,
                 dtype=None):
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__()
        name = "EmbeddingBag"
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(f"{name}: num_embeddings and embedding_dim must be >= 1, got "
                             f"{num_embeddings}, {embedding_dim}")
        if max_norm is not None:
            raise NotImplementedError(f"{name}: max_norm (renormalising rows in place) is not "
                                      f"supported")
        if scale_grad_by_freq:
            raise NotImplementedError(f"{name}: scale_grad_by_freq is not supported")
        if mode not in F.EMBEDDING_BAG_MODES:
            raise ValueError(f"{name}: mode must be sum, mean or max, got {mode!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"{name}: padding_idx must lie in [-{num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.norm_type, self.mode, self.sparse = norm_type, mode, bool(sparse)
        self.include_last_offset, self.padding_idx = bool(include_last_offset), padding_idx
        if _weight is None:
            weight = get_rng(rng).standard_normal((num_embeddings, embedding_dim))
            if padding_idx is not None:
                weight[padding_idx] = 0.0
        else:
            weight = as_array(_weight)
            if weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"{name}: _weight must have shape ({num_embeddings}, "
                                 f"{embedding_dim}), got {weight.shape}")
        self.weight = Parameter(weight, dtype=dtype)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag holding a copy of ``embeddings`` (num_embeddings, embedding_dim) in
        its dtype, frozen by default, as PyTorch's; draws nothing from the default generator."""
        weight = np.array(as_array(embeddings))
        if weight.ndim != 2 or weight.dtype.kind != "f":
            raise ValueError(f"EmbeddingBag.from_pretrained: expected a 2-D float array, got "
                             f"shape {weight.shape} of {weight.dtype}")
        layer = cls(*weight.shape, max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                    weight, include_last_offset, padding_idx, dtype=weight.dtype)
        layer.weight.requires_grad = not freeze
        return layer

    def forward(self, input, offsets=None, per_sample_weights=None) -> Tensor:  # noqa: A002
        return F.embedding_bag(input, self.weight, offsets, mode=self.mode, sparse=self.sparse,
                               per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset,
                               padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        extra = f"{self.num_embeddings}, {self.embedding_dim}"
        extra += f", norm_type={self.norm_type}" if self.norm_type != 2 else ""
        extra += f", mode={self.mode!r}"
        extra += ", sparse=True" if self.sparse else ""
        extra += ", include_last_offset=True" if self.include_last_offset else ""
        extra += f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return extra
