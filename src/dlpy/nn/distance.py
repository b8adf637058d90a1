"""Distances between batches of vectors, as layers: PairwiseDistance and CosineSimilarity."""

from __future__ import annotations

from dlpy import functional as F
from dlpy.nn.module import Module
from dlpy.tensor import Tensor


class PairwiseDistance(Module):
    """(x1, x2) -> the p-norm of x1 - x2 + eps along the last axis, as torch.nn.PairwiseDistance
    (``F.pairwise_distance``); p is kept as ``norm``, PyTorch's attribute name."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """(x1, x2) -> their cosine similarity along ``dim``, as torch.nn.CosineSimilarity
    (``F.cosine_similarity``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
