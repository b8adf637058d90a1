"""Layer normalisation and dropout modules."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter


class LayerNorm(Module):
    """Normalise over the last axis (size normalized_shape), then weight * x + bias."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        self.normalized_shape, self.eps = int(normalized_shape), eps
        self.weight = Parameter(np.ones(self.normalized_shape), dtype=dtype) \
            if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape), dtype=dtype) \
            if elementwise_affine else None

    def forward(self, x):
        return F.layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """Zero elements with probability p while training; identity in eval mode."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng  # None: the default generator (dlpy.manual_seed), drawn at call time

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
