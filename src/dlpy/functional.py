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
from dlpy.ops.conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d, max_unpool2d
from dlpy.ops.cumulative import cumprod, cumsum, diff, prod
from dlpy.ops.embedding import embedding
from dlpy.ops.indexing import (
    argsort,
    gather,
    index_select,
    repeat_interleave,
    scatter,
    scatter_add,
    sort,
    take_along_dim,
    topk,
)
from dlpy.ops.loss import binary_cross_entropy_with_logits, cross_entropy
from dlpy.ops.mask import dropout, masked_fill, where
from dlpy.ops.matmul import linear, matmul
from dlpy.ops.norm import batch_norm, layer_norm
from dlpy.ops.pad import pad
from dlpy.ops.pointwise import (  # noqa: A004
    atan2,
    ceil,
    cos,
    erf,
    expm1,
    floor,
    log1p,
    maximum,
    minimum,
    round,
    sign,
    sin,
    tan,
)
from dlpy.ops.rearrange import expand, expand_as, flip, repeat, roll, tril, triu
from dlpy.ops.reduce import (  # noqa: A004
    amax,
    amin,
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
    "abs", "adaptive_avg_pool2d", "add", "amax", "amin", "avg_pool2d", "batch_norm",
    "binary_cross_entropy_with_logits",
    "adaptive_avg_pool1d", "adaptive_max_pool2d", "avg_pool1d", "conv_transpose1d",
    "conv_transpose2d", "max_pool1d", "max_unpool2d",
    "cast", "cat", "chunk", "clamp", "concat", "conv1d", "conv2d", "pad",
    "cosine_similarity", "cross_entropy", "div", "dropout", "elu", "embedding", "exp",
    "flatten", "gelu", "getitem", "hardtanh", "huber_loss", "identity", "kl_div", "l1_loss",
    "layer_norm", "leaky_relu", "linear", "log", "log_softmax", "logsumexp", "masked_fill",
    "matmul", "max", "max_pool2d", "mean", "min", "mse_loss", "mul", "neg", "nll_loss", "norm",
    "normalize", "one_hot", "permute", "power", "relu", "reshape",
    "scaled_dot_product_attention", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus",
    "sparse_linear", "SparseRows", "split", "sqrt", "squeeze", "stack", "std", "sub", "sum",
    "sum_of_squares", "swapaxes", "tanh", "transpose", "unbind", "unsqueeze", "var", "where",
]
__all__ += [  # indexing, rearranging, cumulative and more element-wise ops
    "argsort", "atan2", "ceil", "cos", "cumprod", "cumsum", "diff", "erf", "expand", "expand_as",
    "expm1", "flip", "floor", "gather", "index_select", "log1p", "maximum", "minimum", "prod",
    "repeat", "repeat_interleave", "roll", "round", "scatter", "scatter_add", "sign", "sin",
    "sort", "take_along_dim", "tan", "topk", "tril", "triu",
]


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")


def cat(tensors, dim: int = 0) -> Tensor:
    """torch.cat: ``concat`` under PyTorch's names."""
    return concat(tensors, axis=dim)


def _count(name: str, what: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: {what} must be >= {minimum}, got {value}")
    return int(value)


def _split_axis(name: str, x, dim) -> int:
    if x.ndim == 0:
        raise ValueError(f"{name}: expected a tensor with at least one axis, got shape ()")
    return _dim(name, dim, x.ndim)


def _pieces(x, sizes: list[int], dim: int) -> tuple[Tensor, ...]:
    """Consecutive slices of ``sizes`` along ``dim``: each piece's gradient is a slice."""
    before = (slice(None),) * dim
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, before + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.split: pieces of ``split_size`` along ``dim`` (the last one smaller where it does
    not divide), or of the sizes in a list, which must sum to the axis' length."""
    dim = _split_axis("split", x, dim)
    length = x.shape[dim]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [_count("split", "each split size", s, 0) for s in split_size_or_sections]
        total = int(np.sum(sizes, dtype=np.int64))
        if total != length:
            raise ValueError(f"split: split sizes {sizes} must sum to the length {length} of "
                             f"axis {dim} (shape {x.shape}), they sum to {total}")
        return _pieces(x, sizes, dim)
    size = _count("split", "split_size", split_size_or_sections, 0)
    if size == 0 and length:
        raise ValueError(f"split: split_size 0 is only valid for an axis of length 0, axis "
                         f"{dim} has length {length} (shape {x.shape})")
    if length == 0:
        return _pieces(x, [0], dim)  # one empty piece, as torch
    last = length % size or size  # the last piece is smaller where size does not divide
    return _pieces(x, [size] * (-(-length // size) - 1) + [last], dim)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.chunk: split into pieces of ceil(length / chunks) along ``dim``, so fewer than
    ``chunks`` pieces where that size leaves nothing for the last ones (6 in 4: 2, 2, 2)."""
    chunks = _count("chunk", "chunks", chunks, 1)
    dim = _split_axis("chunk", x, dim)
    length = x.shape[dim]
    if length == 0:
        return _pieces(x, [0] * chunks, dim)  # as torch: chunks empty pieces
    return split(x, -(-length // chunks), dim)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.unbind: the slices along ``dim``, each without that axis."""
    dim = _split_axis("unbind", x, dim)
    before = (slice(None),) * dim
    return tuple(getitem(x, before + (i,)) for i in range(x.shape[dim]))


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
    An unbatched x (C, L) gives (O, L_out). conv2d on a height-1 image, so its gradients are
    conv2d's."""
    stride = _conv._single(stride, "conv1d: stride")
    padding = _conv._padding("conv1d", padding, (stride,), pair=False)
    if stride < 1 or not isinstance(padding, str) and padding < 0:
        raise ValueError(f"conv1d: need stride >= 1 and padding >= 0, got {stride}, {padding}")
    dilation = _conv._dilation(dilation, "conv1d", pair=False)
    groups = _conv._groups(groups, "conv1d")
    x_shape, w_shape = _conv._shape_of(x), _conv._shape_of(weight)
    if len(x_shape) == 2 and len(w_shape) == 3:  # unbatched (C, L): a batch of one, as PyTorch
        return squeeze(conv1d(unsqueeze(x, 0), weight, bias, stride, padding, dilation, groups),
                       0)
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


def _adaptive_size(name: str, output_size, shape) -> tuple[int, int]:
    """(out_h, out_w) from an int, a pair, or None in a pair for the input's size."""
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(size) != 2 or not all(n is None or isinstance(n, (int, np.integer))
                                 and not isinstance(n, bool) and n >= 1 for n in size):
        raise ValueError(f"{name}: output_size must be an int >= 1 or a pair of "
                         f"them (None: the input's size), got {output_size!r}")
    return tuple(shape[-2 + i] if n is None else int(n) for i, n in enumerate(size))


def _float_dtype(x):
    return np.result_type(x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype, np.float32)


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """x (N, C, H, W) or unbatched (C, H, W) -> (..., out_h, out_w), each output the mean of x
    over rows floor(i H / out_h) to ceil((i + 1) H / out_h) (exclusive) and the like columns, as
    PyTorch; output_size an int, a pair, or None in a pair for the input's size; (1, 1) is the
    global average pool. Two products with constant averaging matrices, A_h @ x @ A_w^T, so the
    gradient is matmul's."""
    shape = _conv._shape_of(x)
    _conv._check_pool_rank("adaptive_avg_pool2d", shape, "H, W")
    out_h, out_w = _adaptive_size("adaptive_avg_pool2d", output_size, shape)
    (h, w), dtype = shape[-2:], _float_dtype(x)
    y = x
    if out_h != h:  # an equal size averages single values: nothing to do
        y = matmul(_averaging_matrix(h, out_h, dtype), y)  # (N, C, out_h, W)
    if out_w != w:
        y = matmul(y, _averaging_matrix(w, out_w, dtype).T)  # (N, C, out_h, out_w)
    return identity(y) if y is x else y


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """The transposed 1-D convolution (PyTorch's conv_transpose1d, arguments in its order):
    x (N, C, L) or unbatched (C, L), weight (C, O / groups, k), bias (O,) or None ->
    (N, O, L_out), L_out = (L - 1) stride - 2 padding + dilation (k - 1) + 1 + output_padding
    (output_padding smaller than stride or dilation). conv_transpose2d on a height-1 image."""
    name = "conv_transpose1d"
    stride = _conv._single(stride, f"{name}: stride")
    padding = _conv._single(padding, f"{name}: padding")
    output_padding = _conv._single(output_padding, f"{name}: output_padding")
    dilation = _conv._dilation(dilation, name, pair=False)
    groups = _conv._groups(groups, name)
    _conv._check_transpose_settings(name, (stride,), (padding,), (output_padding,), (dilation,),
                                    pair=False)
    x_shape, w_shape = _conv._shape_of(x), _conv._shape_of(weight)
    if len(x_shape) == 2 and len(w_shape) == 3:  # unbatched (C, L): a batch of one, as PyTorch
        return squeeze(conv_transpose1d(unsqueeze(x, 0), weight, bias, stride, padding,
                                        output_padding, groups, dilation), 0)
    _conv._check_transpose_shapes(name, x_shape, w_shape, groups, "L", "k")
    if bias is not None and _conv._shape_of(bias) != (w_shape[1] * groups,):
        raise ValueError(f"{name}: bias must have shape ({w_shape[1] * groups},), got "
                         f"{_conv._shape_of(bias)}")
    _conv._transpose_output_size(name, x_shape[2:], w_shape[2:], (stride,), (padding,),
                                 (output_padding,), (dilation,))
    y = conv_transpose2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, (1, stride), (0, padding),
                         (0, output_padding), groups, (1, dilation))
    return squeeze(y, 2)  # (N, O, 1, L_out) -> (N, O, L_out)


def max_pool1d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kernel_size windows every stride (default: kernel_size) of x (N, C, L) or
    unbatched (C, L), as PyTorch's max_pool1d (max_pool2d's rules along one axis: -inf
    padding, dilation, ceil_mode). return_indices: also the int64 positions of the maxima along
    L (what max_pool2d gives for a height-1 image)."""
    kernel, stride, padding = _conv._pool_settings("max_pool1d", kernel_size, stride, padding,
                                                   pair=False)
    dilation = _conv._dilation(dilation, "max_pool1d", pair=False)
    shape = _conv._shape_of(x)
    _conv._check_pool_rank("max_pool1d", shape, "L")
    _conv._pool_output_size("max_pool1d", shape[-1:], kernel, stride, padding, bool(ceil_mode),
                            (dilation,))
    y = max_pool2d(unsqueeze(x, -2), (1, *kernel), (1, *stride), (0, *padding), (1, dilation),
                   ceil_mode, return_indices)
    if return_indices:
        return squeeze(y[0], -2), Tensor(np.squeeze(y[1].data, -2))
    return squeeze(y, -2)


def avg_pool1d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over kernel_size windows every stride (default: kernel_size) of x (N, C, L) or
    unbatched (C, L), zero-padded, as PyTorch's avg_pool1d (avg_pool2d's rules along one
    axis)."""
    kernel, stride, padding = _conv._pool_settings("avg_pool1d", kernel_size, stride, padding,
                                                   pair=False)
    shape = _conv._shape_of(x)
    _conv._check_pool_rank("avg_pool1d", shape, "L")
    _conv._pool_output_size("avg_pool1d", shape[-1:], kernel, stride, padding, bool(ceil_mode))
    return squeeze(avg_pool2d(unsqueeze(x, -2), (1, *kernel), (1, *stride), (0, *padding),
                              ceil_mode, count_include_pad), -2)


def adaptive_avg_pool1d(x: Tensor, output_size) -> Tensor:
    """x (N, C, L) or unbatched (C, L) -> (..., output_size): the means over PyTorch's adaptive
    windows along L (as adaptive_avg_pool2d's columns), one product with an averaging matrix."""
    shape = _conv._shape_of(x)
    _conv._check_pool_rank("adaptive_avg_pool1d", shape, "L")
    out = _conv._single(output_size, "adaptive_avg_pool1d: output_size")
    if out < 1:
        raise ValueError(f"adaptive_avg_pool1d: output_size must be >= 1, got {out}")
    if out == shape[-1]:
        return identity(x)
    return matmul(x, _averaging_matrix(shape[-1], out, _float_dtype(x)).T)


def _adaptive_windows(size: int, out: int) -> np.ndarray:
    """(out, k): the positions of PyTorch's adaptive windows along an axis (floor(i size / out)
    to ceil((i + 1) size / out), exclusive), k the longest; a shorter one repeats its last."""
    i = np.arange(out)
    start, end = i * size // out, -(-(i + 1) * size // out)
    return np.minimum(start[:, None] + np.arange((end - start).max()), end[:, None] - 1)


def adaptive_max_pool2d(x: Tensor, output_size,
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """x (N, C, H, W) or unbatched (C, H, W) -> (..., out_h, out_w): the max over each of
    PyTorch's adaptive windows (as adaptive_avg_pool2d's), its first maximum row by row (or its
    last NaN) taking the gradient, as PyTorch; return_indices: also their int64 indices into
    each flattened H*W plane. The maxima are found on the array; the values are a gather
    (getitem) of x, so the gradient is getitem's."""
    shape = _conv._shape_of(x)
    _conv._check_pool_rank("adaptive_max_pool2d", shape, "H, W")
    out_h, out_w = _adaptive_size("adaptive_max_pool2d", output_size, shape)
    h, w = shape[-2:]
    rows, cols = _adaptive_windows(h, out_h), _adaptive_windows(w, out_w)
    # (out_h, out_w, kh * kw): each window's positions in the flat plane, row by row
    positions = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(out_h, out_w, -1)
    planes = np.asarray(x.data if isinstance(x, Tensor) else x).reshape(*shape[:-2], h * w)
    windows = planes[..., positions]  # (..., out_h, out_w, kh * kw)
    nan = np.isnan(windows)  # PyTorch's scan ends on a window's last NaN, if it has one
    last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    first = np.where(nan.any(axis=-1), last_nan, np.argmax(windows, axis=-1))  # (..., oh, ow)
    indices = np.take_along_axis(np.broadcast_to(positions, first.shape + positions.shape[-1:]),
                                 first[..., None], axis=-1)[..., 0].astype(np.int64)
    lead = np.ix_(*(np.arange(n) for n in shape[:-2]))  # each leading axis, broadcast
    index = tuple(a.reshape(a.shape + (1, 1)) for a in lead) + (indices,)
    y = getitem(reshape(x, (*shape[:-2], h * w)), index)
    return (y, Tensor(indices)) if return_indices else y
