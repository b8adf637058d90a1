"""Positional information added to token embeddings (the report multiplied; we add)."""

from __future__ import annotations

import numpy as np

from dlpy.nn.module import Module, Parameter
from dlpy.random import get_rng
from dlpy.tensor import Tensor, default_dtype


def _check(name, x, max_len, d_model):
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name}: expected (batch, seq, {d_model}), got {x.shape}")
    if x.shape[1] > max_len:
        raise ValueError(f"{name}: sequence of length {x.shape[1]} exceeds max_len={max_len}")


class SinusoidalPositionalEncoding(Module):
    """x + PE[:seq] with PE[pos, 2i] = sin(pos / 10000^(2i / d_model)) and PE[pos, 2i + 1] the
    cosine of the same angle (Vaswani et al.). No parameters; x is (batch, seq, d_model)."""

    def __init__(self, d_model: int, max_len: int = 5000, dtype=None):
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        position = np.arange(max_len)[:, None]
        inv_freq = np.exp(-np.log(10000.0) * np.arange(0, d_model, 2) / d_model)
        angles = position * inv_freq  # (max_len, ceil(d_model / 2))
        pe = np.empty((max_len, d_model))
        pe[:, 0::2] = np.sin(angles)
        pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
        self.pe = pe.astype(dtype)  # (max_len, d_model), a constant

    def forward(self, x: Tensor) -> Tensor:
        _check("SinusoidalPositionalEncoding", x, self.max_len, self.d_model)
        return x + self.pe[: x.shape[1]].astype(x.dtype, copy=False)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """x + weight[:seq], one learned vector per position; weight (max_len, d_model) ~ N(0, 1) as
    PyTorch's nn.Embedding. x is (batch, seq, d_model)."""

    def __init__(self, max_len: int, d_model: int, rng=None, dtype=None):
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__()
        rng = get_rng(rng)
        self.max_len, self.d_model = max_len, d_model
        self.weight = Parameter(rng.standard_normal((max_len, d_model)), dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        _check("LearnedPositionalEmbedding", x, self.max_len, self.d_model)
        return x + self.weight[: x.shape[1]]

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
