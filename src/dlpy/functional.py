"""The lowercase API (``import dlpy.functional as F``): every primitive op, plus composites built
from them with no hand-written backward."""

from __future__ import annotations

import numpy as np

from dlpy.ops.activation import gelu, relu, sigmoid, tanh
from dlpy.ops.arithmetic import add, div, exp, identity, log, mul, neg, power, sqrt, sub
from dlpy.ops.attention import attention
from dlpy.ops.embedding import embedding
from dlpy.ops.loss import cross_entropy
from dlpy.ops.mask import dropout, masked_fill, where
from dlpy.ops.matmul import linear, matmul
from dlpy.ops.norm import layer_norm
from dlpy.ops.reduce import max, mean, sum  # noqa: A004
from dlpy.ops.shape import concat, getitem, reshape, stack, swapaxes, transpose
from dlpy.ops.softmax import log_softmax, softmax
from dlpy.ops.sparse import SparseRows, sparse_linear
from dlpy.tensor import Tensor

__all__ = [
    "add", "concat", "cross_entropy", "div", "dropout", "embedding", "exp", "gelu", "getitem",
    "identity", "layer_norm", "linear", "log", "log_softmax", "masked_fill", "matmul", "max",
    "mean", "mse_loss", "mul", "neg", "power", "relu", "reshape", "scaled_dot_product_attention",
    "sigmoid", "softmax", "SparseRows", "sparse_linear", "sqrt", "stack", "sub", "sum",
    "swapaxes", "tanh", "transpose", "where",
]


def mse_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean (or summed, or per-element) squared error."""
    target_shape = np.shape(getattr(target, "data", target))
    if prediction.shape != target_shape:
        raise ValueError(
            f"mse_loss: prediction {prediction.shape} and target {target_shape} must have the "
            "same shape"
        )
    diff = prediction - target
    squared = diff * diff
    if reduction == "mean":
        return squared.mean()
    if reduction == "sum":
        return squared.sum()
    if reduction == "none":
        return squared
    raise ValueError(f"mse_loss: reduction must be mean, sum or none, got {reduction!r}")


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask=None,
                                 dropout_p: float = 0.0, training: bool = False, rng=None,
                                 return_weights: bool = False):
    """softmax(q k^T / sqrt(dim), masked) v, fused with its backward (ops/attention.py).

    q (..., seq_q, dim), k (..., seq_k, dim), v (..., seq_k, dim_v) -> (..., seq_q, dim_v), e.g.
    (batch, heads, seq, head_dim). mask: boolean, broadcastable to (..., seq_q, seq_k), True where
    attention is NOT allowed (or a float mask, added to the scores). A row with every key masked
    gets zero weights (and output), never NaN. Dropout on the weights only when ``training``.
    ``return_weights``: also return the weights (a numpy array).
    """
    return attention(q, k, v, mask, dropout_p=dropout_p if training else 0.0, rng=rng,
                     return_weights=return_weights)
