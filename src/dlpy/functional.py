"""The lowercase API (``import dlpy.functional as F``): every primitive op, plus composites built
from them with no hand-written backward."""

from __future__ import annotations

import numpy as np

from dlpy.ops import attention as _attention
from dlpy.ops import conv as _conv
from dlpy.ops import loss as _loss
from dlpy.ops import real_number as _real_number
from dlpy.ops.activation import (
    clamp,
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    relu,
    sigmoid,
    silu,
    softplus,
    tanh,
)
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
from dlpy.ops.conv import avg_pool2d, conv2d, max_pool2d
from dlpy.ops.embedding import embedding
from dlpy.ops.loss import binary_cross_entropy_with_logits, cross_entropy
from dlpy.ops.mask import dropout, masked_fill, where
from dlpy.ops.matmul import linear, matmul
from dlpy.ops.norm import batch_norm, layer_norm
from dlpy.ops.pad import pad
from dlpy.ops.reduce import (  # noqa: A004
    logsumexp,
    max,
    mean,
    min,
    norm,
    std,
    sum,
    sum_of_squares,
    var,
)
from dlpy.ops.shape import (
    concat,
    flatten,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
)
from dlpy.ops.softmax import log_softmax, softmax
from dlpy.ops.sparse import SparseRows, sparse_linear
from dlpy.tensor import Tensor

__all__ = [
    "abs", "adaptive_avg_pool2d", "add", "avg_pool2d", "batch_norm",
    "binary_cross_entropy_with_logits",
    "cast", "cat", "clamp", "concat", "conv1d", "conv2d", "pad",
    "cosine_similarity", "cross_entropy", "div", "dropout", "elu", "embedding", "exp",
    "flatten", "gelu", "getitem", "hardtanh", "huber_loss", "identity", "kl_div", "l1_loss",
    "layer_norm", "leaky_relu", "linear", "log", "log_softmax", "logsumexp", "masked_fill",
    "matmul", "max", "max_pool2d", "mean", "min", "mse_loss", "mul", "neg", "nll_loss", "norm",
    "normalize", "one_hot", "permute", "power", "relu", "reshape",
    "scaled_dot_product_attention", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus",
    "sparse_linear", "SparseRows", "sqrt", "squeeze", "stack", "std", "sub", "sum",
    "sum_of_squares", "swapaxes", "tanh", "transpose", "unsqueeze", "var", "where",
]


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")


def cat(tensors, dim: int = 0) -> Tensor:
    """torch.cat: ``concat`` under PyTorch's names."""
    return concat(tensors, axis=dim)


def _reduce(name: str, losses: Tensor, reduction: str) -> Tensor:
    _check_reduction(name, reduction)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


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


def _piecewise_loss(name: str, prediction: Tensor, target, reduction: str, cut: float,
                    quadratic_scale: float, linear_scale: float) -> Tensor:
    """quadratic_scale * d^2 / 2 where |d| < cut, else linear_scale * (|d| - cut / 2), with
    d = prediction - target: smooth L1 and Huber, which differ in scale only."""
    _check_reduction(name, reduction)
    _check_same_shape(name, prediction, target)
    diff = prediction - target
    magnitude = abs(diff)
    quadratic = diff * diff * (0.5 * quadratic_scale)
    linear = magnitude - 0.5 * cut
    if linear_scale != 1:
        linear = linear * linear_scale
    return _reduce(name, where(magnitude.data < cut, quadratic, linear), reduction)


def smooth_l1_loss(prediction: Tensor, target, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (d = prediction - target), averaged
    (or summed, or per element); beta = 0 is the L1 loss, as PyTorch."""
    beta = _real_number("smooth_l1_loss", "beta", beta)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        _check_reduction("smooth_l1_loss", reduction)
        _check_same_shape("smooth_l1_loss", prediction, target)
        return _reduce("smooth_l1_loss", abs(prediction - target), reduction)
    return _piecewise_loss("smooth_l1_loss", prediction, target, reduction, beta, 1 / beta, 1.0)


def huber_loss(prediction: Tensor, target, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2) (d = prediction - target):
    delta * smooth_l1_loss(beta=delta), as PyTorch."""
    delta = _real_number("huber_loss", "delta", delta)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _piecewise_loss("huber_loss", prediction, target, reduction, delta, 1.0, delta)


def nll_loss(log_probs: Tensor, labels, reduction: str = "mean", ignore_index: int = -100,
             weight=None) -> Tensor:
    """The negative log-likelihood -log_probs[..., label] of integer labels (...) under
    log-probabilities (..., classes), e.g. from log_softmax: cross_entropy without the softmax.
    As F.cross_entropy: classes on the last axis, ``ignore_index`` rows count nothing (the mean
    is over the others, nan if none), ``weight`` (classes,) scales each class and the mean
    divides by the rows' label weights."""
    _check_reduction("nll_loss", reduction)
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: labels must be integer class indices, got {labels.dtype}")
    shape = log_probs.shape
    labels, ignore = _loss.check_class_labels("nll_loss", shape, labels, ignore_index)
    flat_labels = labels.reshape(-1)
    rows = reshape(log_probs, (flat_labels.size, shape[-1]))
    losses = -getitem(rows, (np.arange(flat_labels.size), flat_labels))  # (rows,)
    kept = None if ignore is None else ~ignore.reshape(-1)
    if weight is not None:
        row_weight = _loss.check_class_weight("nll_loss", weight, shape[-1], log_probs.dtype)
        row_weight = row_weight[flat_labels]
        losses = losses * row_weight
        total = float(row_weight.sum() if kept is None else row_weight[kept].sum())
    else:
        total = float(flat_labels.size if kept is None else kept.sum())
    if kept is not None:  # 0, not 0 * log_prob, which is nan for a log-probability of -inf
        losses = where(kept, losses, 0.0)
    losses = reshape(losses, labels.shape)
    if reduction == "none":
        return losses
    loss = sum(losses)
    if reduction == "sum":
        return loss
    if total == 0:  # every row ignored (or weighing 0): nan, with a zero gradient, as PyTorch
        return loss + float("nan")
    return loss / total


def kl_div(input: Tensor, target, reduction: str = "mean",  # noqa: A002 - PyTorch's names
           log_target: bool = False) -> Tensor:
    """sum of target * (log(target) - input): the KL divergence of the distribution ``input``
    (log-probabilities) from ``target`` (probabilities, or log-probabilities with
    ``log_target``); 0 where target is 0. reduction: "mean" over every element (PyTorch's
    default, not the true KL), "batchmean" (the sum over the size of axis 0: the KL per
    sample), "sum" or "none". Both inputs may need gradients; the same shape, as mse_loss."""
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"kl_div: reduction must be mean, batchmean, sum or none, got "
                         f"{reduction!r}")
    _check_same_shape("kl_div", input, target)
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=input.dtype))
    if log_target:
        losses = exp(target) * (target - input)
    else:  # xlogy(t, t) - t * input, with log(t + 1) = 0 where t is 0
        zero = (target.data == 0).astype(target.dtype)
        losses = target * log(target + zero) - target * input
    if reduction == "batchmean":
        total = sum(losses)
        return total / input.shape[0] if input.ndim else total
    return _reduce("kl_div", losses, reduction)


def _dim(name: str, dim, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{name}: dim {dim} is out of range for a tensor with {ndim} axes")
    return int(dim) % ndim


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(norm_p(x along dim), eps): unit vectors along dim, as torch's F.normalize; a zero
    vector stays zero (with gradient 1 / eps, as PyTorch)."""
    dim = _dim("normalize", dim, x.ndim)
    eps = _real_number("normalize", "eps", eps)
    return x / clamp(norm(x, p, dim, keepdims=True), min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum((x1 / max(|x1|, eps)) * (x2 / max(|x2|, eps))) along dim, x1 and x2 broadcast first,
    as torch's (which leaves the clamping to eps out of the gradient, and so does this)."""
    eps = _real_number("cosine_similarity", "eps", eps)
    shapes = [np.shape(getattr(v, "data", v)) for v in (x1, x2)]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {shapes[0]} and {shapes[1]} cannot be "
                         f"broadcast together") from None
    dim = _dim("cosine_similarity", dim, len(shape))
    # a numpy operand is a constant of the other's dtype (two arrays: Tensor's own rules)
    dtype = next((v.dtype for v in (x1, x2) if isinstance(v, Tensor)), None)
    x1, x2 = (v if isinstance(v, Tensor) else Tensor(v, dtype=dtype) for v in (x1, x2))
    units = []
    for v, v_shape in zip((x1, x2), shapes):
        if v_shape != shape:  # the norm is over the broadcast vectors, as PyTorch's
            v = add(v, np.zeros(shape, dtype=v.dtype))
        length = norm(v, 2, dim, keepdims=True)
        short = length.data < eps
        if short.any():  # max(|v|, eps), the gradient flowing as if through |v| alone
            length = length + np.where(short, eps - length.data, 0).astype(length.dtype)
        units.append(v / length)
    return sum(units[0] * units[1], dim)


def one_hot(labels, num_classes: int = -1) -> Tensor:
    """Integer labels (...) -> an int64 tensor (..., num_classes) with a 1 at each label and no
    gradient, as torch's; num_classes -1: one more than the largest label."""
    data = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if data.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers (class indices), got {data.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 or a count >= 0, got "
                         f"{num_classes!r}")
    if data.size and data.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, got {data.min()}")
    if num_classes == -1:
        if not data.size:
            raise ValueError("one_hot: cannot infer num_classes from empty labels")
        num_classes = int(data.max()) + 1
    elif data.size and data.max() >= num_classes:
        raise ValueError(f"one_hot: labels must be < num_classes ({num_classes}), got "
                         f"{data.max()}")
    return Tensor((data[..., None] == np.arange(num_classes)).astype(np.int64))


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


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups=1) -> Tensor:
    """1-D cross-correlation (PyTorch's conv1d): x (N, C, L), weight (O, C / groups, k), bias
    (O,) or None -> (N, O, L_out), L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1;
    padding may be "valid" or "same" (stride 1, the odd one on the right); groups as conv2d.
    conv2d on a height-1 image, so its gradients are conv2d's."""
    stride = _conv._single(stride, "conv1d: stride")
    padding = _conv._padding("conv1d", padding, (stride,), pair=False)
    if stride < 1 or not isinstance(padding, str) and padding < 0:
        raise ValueError(f"conv1d: need stride >= 1 and padding >= 0, got {stride}, {padding}")
    dilation = _conv._dilation(dilation, "conv1d", pair=False)
    groups = _conv._groups(groups, "conv1d")
    x_shape, w_shape = _conv._shape_of(x), _conv._shape_of(weight)
    _conv._check_conv_shapes("conv1d", x_shape, w_shape, groups, "L", "k")
    if bias is not None and _conv._shape_of(bias) != (w_shape[0],):
        raise ValueError(f"conv1d: bias must have shape ({w_shape[0]},), got "
                         f"{_conv._shape_of(bias)}")
    padding = 0 if padding == "valid" else padding
    if padding != "same" and x_shape[2] + 2 * padding < dilation * (w_shape[2] - 1) + 1:
        dilated = "" if dilation == 1 else f" with dilation {dilation}"
        raise ValueError(f"conv1d: kernel size {w_shape[2]}{dilated} does not fit the input "
                         f"length {x_shape[2]} with padding {padding}")
    y = conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, (1, stride),
               padding if isinstance(padding, str) else (0, padding), (1, dilation), groups)
    return squeeze(y, 2)  # (N, O, 1, L_out) -> (N, O, L_out)


def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages x[start:end], start = floor(i size / out), end =
    ceil((i + 1) size / out), PyTorch's adaptive pooling windows."""
    i = np.arange(out)
    start, end = i * size // out, -(-(i + 1) * size // out)
    inside = (np.arange(size) >= start[:, None]) & (np.arange(size) < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """x (N, C, H, W) -> (N, C, out_h, out_w), each output the mean of x over rows
    floor(i H / out_h) to ceil((i + 1) H / out_h) (exclusive) and the like columns, as PyTorch;
    output_size an int, a pair, or None in a pair for the input's size; (1, 1) is the global
    average pool. Two products with constant averaging matrices, A_h @ x @ A_w^T, so the
    gradient is matmul's."""
    shape = _conv._shape_of(x)
    if len(shape) != 4:
        raise ValueError(f"adaptive_avg_pool2d: expected x (N, C, H, W), got {shape}")
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(size) != 2 or not all(n is None or isinstance(n, (int, np.integer))
                                 and not isinstance(n, bool) and n >= 1 for n in size):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int >= 1 or a pair of "
                         f"them (None: the input's size), got {output_size!r}")
    out_h, out_w = (shape[2 + i] if n is None else int(n) for i, n in enumerate(size))
    dtype = np.result_type(x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype,
                           np.float32)
    y = x
    if out_h != shape[2]:  # an equal size averages single values: nothing to do
        y = matmul(_averaging_matrix(shape[2], out_h, dtype), y)  # (N, C, out_h, W)
    if out_w != shape[3]:
        y = matmul(y, _averaging_matrix(shape[3], out_w, dtype).T)  # (N, C, out_h, out_w)
    return identity(y) if y is x else y
