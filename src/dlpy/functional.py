"""The lowercase API (``import dlpy.functional as F``): every primitive op, plus composites built
from them with no hand-written backward."""

from __future__ import annotations

import numpy as np

from dlpy.ops import attention as _attention
from dlpy.ops.activation import gelu, relu, sigmoid, tanh
from dlpy.ops.arithmetic import (  # noqa: A004
    abs,
    add,
    cast,
    div,
    exp,
    identity,
    log,
    mul,
    neg,
    power,
    sqrt,
    sub,
)
from dlpy.ops.conv import conv2d, max_pool2d
from dlpy.ops.embedding import embedding
from dlpy.ops.loss import binary_cross_entropy_with_logits, cross_entropy
from dlpy.ops.mask import dropout, masked_fill, where
from dlpy.ops.matmul import linear, matmul
from dlpy.ops.norm import layer_norm
from dlpy.ops.reduce import max, mean, sum, sum_of_squares  # noqa: A004
from dlpy.ops.shape import concat, getitem, reshape, stack, swapaxes, transpose
from dlpy.ops.softmax import log_softmax, softmax
from dlpy.ops.sparse import SparseRows, sparse_linear
from dlpy.tensor import Tensor

__all__ = [
    "abs", "add", "binary_cross_entropy_with_logits", "cast", "concat", "conv2d", "cross_entropy",
    "div", "dropout", "embedding", "exp", "gelu", "getitem", "identity", "l1_loss", "layer_norm",
    "linear", "log", "log_softmax", "masked_fill", "matmul", "max", "max_pool2d", "mean",
    "mse_loss", "mul", "neg", "power", "relu", "reshape", "scaled_dot_product_attention",
    "sigmoid", "softmax", "sparse_linear", "SparseRows", "sqrt", "stack", "sub", "sum",
    "sum_of_squares", "swapaxes",
    "tanh", "transpose", "where",
]


def _reduce(name: str, losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")


def _check_same_shape(name: str, prediction: Tensor, target) -> None:
    target_shape = np.shape(getattr(target, "data", target))
    if prediction.shape != target_shape:
        raise ValueError(
            f"{name}: prediction {prediction.shape} and target {target_shape} must have the "
            "same shape"
        )


def mse_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean (or summed, or per-element) squared error."""
    _check_same_shape("mse_loss", prediction, target)
    diff = prediction - target
    return _reduce("mse_loss", diff * diff, reduction)


def l1_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean (or summed, or per-element) absolute error."""
    _check_same_shape("l1_loss", prediction, target)
    return _reduce("l1_loss", abs(prediction - target), reduction)


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask=None,
                                 dropout_p: float = 0.0, training: bool = False, rng=None,
                                 return_weights: bool = False, *, attn_mask=None,
                                 is_causal: bool = False):
    """softmax(q k^T / sqrt(dim), masked) v, fused with its backward (ops/attention.py).

    q (..., seq_q, dim), k (..., seq_k, dim), v (..., seq_k, dim_v) -> (..., seq_q, dim_v), e.g.
    (batch, heads, seq, head_dim). mask: boolean, broadcastable to (..., seq_q, seq_k), True where
    attention is NOT allowed (or a float mask, added to the scores). ``attn_mask`` is PyTorch's
    spelling with PyTorch's meaning: boolean True where attention IS allowed (or float, added);
    ``is_causal``: each query sees only keys at or before it. A row with every key masked gets
    zero weights (and output), never NaN. Dropout on the weights only when ``training``.
    ``return_weights``: also return the weights (a numpy array).
    """
    masks = []
    if mask is not None:
        masks.append(_attention.additive_mask(mask, q.dtype))
    if attn_mask is not None:
        attn_mask = np.asarray(getattr(attn_mask, "data", attn_mask))
        masks.append(_attention.additive_mask(~attn_mask if attn_mask.dtype == np.bool_
                                              else attn_mask, q.dtype))
    if is_causal:
        seq_q, seq_k = q.shape[-2], k.shape[-2]
        masks.append(_attention.additive_mask(np.triu(np.ones((seq_q, seq_k), bool), 1),
                                              q.dtype))
    combined = None
    for m in masks:
        combined = m if combined is None else combined + m
    return _attention.attention(q, k, v, combined, dropout_p=dropout_p if training else 0.0,
                                rng=rng, return_weights=return_weights)
