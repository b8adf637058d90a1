"""The lowercase API (``import dlpy.functional as F``): every primitive op, plus composites built
from them with no hand-written backward."""

from __future__ import annotations

import math

import numpy as np

from dlpy.ops.activation import gelu, relu, sigmoid, tanh
from dlpy.ops.arithmetic import add, div, exp, identity, log, mul, neg, power, sqrt, sub
from dlpy.ops.embedding import embedding
from dlpy.ops.loss import cross_entropy
from dlpy.ops.mask import dropout, masked_fill, where
from dlpy.ops.matmul import linear, matmul
from dlpy.ops.norm import layer_norm
from dlpy.ops.reduce import max, mean, sum  # noqa: A004
from dlpy.ops.shape import concat, getitem, reshape, stack, swapaxes, transpose
from dlpy.ops.softmax import log_softmax, softmax
from dlpy.tensor import Tensor

__all__ = [
    "add", "concat", "cross_entropy", "div", "dropout", "embedding", "exp", "gelu", "getitem",
    "identity", "layer_norm", "linear", "log", "log_softmax", "masked_fill", "matmul", "max",
    "mean", "mse_loss", "mul", "neg", "power", "relu", "reshape", "scaled_dot_product_attention",
    "sigmoid", "softmax", "sqrt", "stack", "sub", "sum", "swapaxes", "tanh", "transpose", "where",
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


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask=None, dropout_p=0.0,
                                 training=False, rng=None, return_weights=False):
    """softmax(q k^T / sqrt(d), masked) v.

    q (..., seq_q, d), k (..., seq_k, d), v (..., seq_k, dv) -> (..., seq_q, dv).

    mask: boolean, broadcastable to (..., seq_q, seq_k), True where attention is NOT allowed.
    A row with every key masked gets zero weights (and output), never NaN.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} needs (..., seq, dim), "
                             f"got {t.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            "scaled_dot_product_attention: expected q (..., Lq, d), k (..., Lk, d), "
            f"v (..., Lk, dv), got q {q.shape}, k {k.shape}, v {v.shape}"
        )
    scores = matmul(q, swapaxes(k, -1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        mask = np.asarray(getattr(mask, "data", mask), dtype=bool)
        try:
            mask = np.broadcast_to(mask, scores.shape)
        except ValueError:
            raise ValueError(
                f"scaled_dot_product_attention: mask {mask.shape} does not broadcast to the "
                f"scores {scores.shape}"
            ) from None
        scores = masked_fill(scores, mask, np.finfo(scores.dtype).min)
    weights = softmax(scores, axis=-1)
    if mask is not None:
        # a fully masked row has uniform weights over padding: zero it instead of attending
        full = mask.all(axis=-1, keepdims=True)
        if full.any():
            weights = masked_fill(weights, np.broadcast_to(full, weights.shape), 0.0)
    if dropout_p:
        weights = dropout(weights, dropout_p, training, rng)
    out = matmul(weights, v)
    return (out, weights) if return_weights else out
