"""Linear + softmax cross-entropy in batch chunks (torch 2.13's chunked
``linear_cross_entropy``): the (N, classes) logits are never held whole, only
(batch_chunk_size, classes) at a time."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from dlpy.node_names import named
from dlpy.ops.loss import check_class_labels, check_class_weight
from dlpy.ops.loss import cross_entropy as _cross_entropy
from dlpy.ops.matmul import linear as _linear
from dlpy.ops.shape import squeeze
from dlpy.tensor import Op, Tensor, is_grad_enabled

_POLICIES = ("auto", "accurate", "balanced", "compact")


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name if dtype is not None else "None"


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    """How ``linear_cross_entropy`` chunks the batch (torch's fields and checks).

    ``batch_chunk_size``: rows per chunk (None: one chunk). ``chunking_method``: "auto",
    "aspect_ratio" or "aspect_ratio:k" (chunks whose (rows, classes) logits match the
    (N, in_features) input in size, divided by k), or None to use ``batch_chunk_size``.
    ``acc_policy``/``acc_dtype``: the dtype of the intermediates (bfloat16/float16 inputs
    compute in float32). ``allow_retain_graph``: with reduction mean/sum the gradients
    computed in forward are consumed by the first backward unless this is True.
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None

    def __post_init__(self):
        if self.acc_policy not in _POLICIES:
            raise ValueError(f"LinearCrossEntropyOptions: acc_policy must be one of "
                             f"{', '.join(_POLICIES)}, got {self.acc_policy!r}")
        method = self.chunking_method
        if method is not None and method != "auto":
            name, sep, factor = str(method).partition(":")
            if not (name == "aspect_ratio" and (not sep or factor.isdigit() and int(factor) > 0)):
                raise ValueError("LinearCrossEntropyOptions: chunking_method must be 'auto', "
                                 f"'aspect_ratio', 'aspect_ratio:k' (k >= 1) or None, got "
                                 f"{method!r}")
        size = self.batch_chunk_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError("LinearCrossEntropyOptions: batch_chunk_size must be a positive int "
                             f"or None, got {size!r}")
        if self.acc_dtype is not None and _dtype_name(self.acc_dtype) not in (
                "float16", "bfloat16", "float32", "float64"):
            raise ValueError("LinearCrossEntropyOptions: acc_dtype must be None, float16, "
                             f"bfloat16, float32 or float64, got {self.acc_dtype!r}")

    def resolve(self, num_batches: int, in_features: int, num_classes: int, dtype):
        """-> (batch_chunk_size, acc_policy, acc_dtype) for one call, "auto" resolved as torch
        on the CPU: ("accurate", "aspect_ratio") for bfloat16/float16, else ("compact",
        "aspect_ratio:2")."""
        low = _dtype_name(dtype) in ("bfloat16", "float16")
        auto_policy, auto_method = ("accurate", "aspect_ratio") if low else \
            ("compact", "aspect_ratio:2")
        policy = auto_policy if self.acc_policy == "auto" else self.acc_policy
        method = self.chunking_method
        if method == "auto":
            method = None if self.batch_chunk_size is not None else auto_method
        size = num_batches if self.batch_chunk_size is None else \
            min(self.batch_chunk_size, num_batches)
        if method is not None:
            size = aspect_ratio_chunk(num_batches, in_features, num_classes, method)
            if self.batch_chunk_size is not None and self.batch_chunk_size != size:
                raise ValueError(
                    f"linear_cross_entropy: batch_chunk_size (={self.batch_chunk_size}) and "
                    f"chunking_method ({method!r}) give different chunk sizes "
                    f"({self.batch_chunk_size} vs {size}); pass only one")
        acc_dtype = dtype if self.acc_dtype is None else self.acc_dtype
        if _dtype_name(acc_dtype) in ("bfloat16", "float16"):
            acc_dtype = np.float32  # numpy has no bfloat16/float16 GEMM: float32, as torch's CPU
        return max(1, size), policy, np.dtype(acc_dtype)


def aspect_ratio_chunk(num_batches: int, in_features: int, num_classes: int,
                       method: str) -> int:
    """torch's "aspect_ratio[:k]" chunk: next_pow2(ceil(N / ceil(classes / in_features))) / k,
    at most N."""
    factor = int(method.split(":", 1)[1]) if ":" in method else 1
    growth = -(-num_classes // max(in_features, 1))
    rows = -(-num_batches // max(growth, 1))
    return min((1 << (rows - 1).bit_length()) // factor, num_batches)


class LinearCrossEntropy(Op):
    """loss = cross_entropy(x @ W^T + b, target) over (N, in_features) x, chunk by chunk.

    Per chunk: logits (rows, C), their log-sum-exp and the target's logit. With reduction
    mean/sum the gradients are accumulated in the same pass (d logits = s (softmax - onehot)
    with s each row's weight / the mean's divisor; dx = d logits @ W, dW += d logits^T x,
    db += column sums) and backward only scales them; with "none" backward recomputes each
    chunk's logits with s = grad_output * row weight. Targets: class indices (N,).
    """

    saves = ("inputs",)

    def __init__(self, target, row_weight, reduction, chunk, acc_dtype, acc_policy,
                 allow_retain_graph, needs):
        # target: (N,) class indices, ignored rows set to 0; row_weight: (N,) the class weight
        # of each row's target (1 without weights), 0 on ignored rows
        self.target, self.row_weight, self.reduction = target, row_weight, reduction
        self.chunk, self.acc_dtype, self.acc_policy = chunk, acc_dtype, acc_policy
        self.allow_retain_graph, self.needs = allow_retain_graph, needs

    def forward(self, x, weight, bias=None):
        self.dtype = x.dtype
        if self.reduction == "none":
            losses, _ = self._chunks(x, weight, bias, self.row_weight, (False,) * 3)
            return losses.astype(x.dtype)
        scale = self.row_weight
        if self.reduction == "mean":
            total = scale.sum()
            scale = scale / total if total else np.full_like(scale, np.nan)
        losses, self.precomputed = self._chunks(x, weight, bias, scale, self.needs)
        loss = losses.sum() if len(losses) else (np.nan if self.reduction == "mean" else 0.0)
        return np.asarray(loss, dtype=x.dtype)

    def backward(self, grad_output):
        if self.reduction == "none":
            x, weight = self.inputs[0].data, self.inputs[1].data
            bias = self.inputs[2].data if len(self.inputs) == 3 else None
            needs = (tuple(t.requires_grad for t in self.inputs) + (False,))[:3]
            scale = grad_output.astype(self.acc_dtype) * self.row_weight
            return self._chunks(x, weight, bias, scale, needs)[1][:len(self.inputs)]
        grads = self.precomputed
        if grads is None:
            raise RuntimeError(
                "linear_cross_entropy: the chunked backward ran twice; its gradients (computed "
                "in forward) were consumed by the first one. Pass LinearCrossEntropyOptions("
                "allow_retain_graph=True) to backward more than once")
        g = grad_output.astype(self.acc_dtype)
        if not self.allow_retain_graph:
            self.precomputed = None  # consumed, as torch's: scaled in place below
            return tuple(None if a is None else _cast(np.multiply(a, g, out=a), self.dtype)
                         for a in grads)[:len(self.inputs)]
        return tuple(None if a is None else _cast(a * g, self.dtype)
                     for a in grads)[:len(self.inputs)]

    def backward_graph(self, grad_output, output):
        raise NotImplementedError(
            "linear_cross_entropy: the chunked path (options given) has no double backward "
            "(create_graph=True, hessian); call it with options=None")

    def _chunks(self, x, weight, bias, scale, needs):
        """One pass over the chunks: -> (per-row loss times ``scale``, [dx, dW, db] or Nones)
        for the loss sum(scale * row_loss)."""
        acc, n, classes = self.acc_dtype, x.shape[0], weight.shape[0]
        w = weight.astype(acc, copy=False)  # bfloat16: one float32 copy, as torch's cast
        b = None if bias is None else bias.astype(acc, copy=False)
        # "accurate" keeps dx in acc_dtype, "compact" accumulates dW in the input dtype (they
        # differ only when acc_dtype is not the input's); numpy has no in-place addmm, so each
        # chunk's dW goes through one (classes, in_features) scratch
        grad_x = np.empty(x.shape, acc if self.acc_policy == "accurate" else x.dtype) \
            if needs[0] else None
        grad_w = np.zeros(w.shape, x.dtype if self.acc_policy == "compact" else acc) \
            if needs[1] else None
        scratch = np.empty(w.shape, acc) if needs[1] else None
        grad_b = np.zeros(classes, acc) if needs[2] else None
        losses = np.empty(n, acc)
        for start in range(0, n, self.chunk):
            stop = min(start + self.chunk, n)
            rows = np.arange(stop - start)
            xs = x[start:stop].astype(acc, copy=False)
            target, s = self.target[start:stop], scale[start:stop]
            logits = xs @ w.T  # (rows, classes): the only buffer of that size
            if b is not None:
                logits += b
            logits -= logits.max(axis=1, keepdims=True)  # exp cannot overflow
            picked = logits[rows, target]
            np.exp(logits, out=logits)
            total = logits.sum(axis=1)
            losses[start:stop] = s * (np.log(total) - picked)
            if not any(needs):
                continue
            logits *= (s / total)[:, None]  # s * softmax
            logits[rows, target] -= s  # d loss / d logits = s * (softmax - onehot)
            if grad_b is not None:
                grad_b += logits.sum(axis=0)
            if grad_x is not None:
                grad_x[start:stop] = logits @ w
            if grad_w is not None:
                grad_w += np.matmul(logits.T, xs, out=scratch)
        return losses, [grad_x, grad_w, grad_b]


def _cast(array, dtype):
    return array if array.dtype == dtype else array.astype(dtype)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None,  # noqa: A002
                         weight=None, reduction="mean", ignore_index=None, label_smoothing=0.0,
                         options=None) -> Tensor:
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...), torch 2.13's.

    input (in_features), (N, in_features) or (B, T, in_features) (dlpy's extension);
    linear_weight (C, in_features) or (C, d_1, ..., d_K, in_features) (K-dimensional loss,
    input (N, in_features)); target class indices (N, d_1, ..., d_K) or probabilities
    (N, C, d_1, ..., d_K), torch's layout. ``options=None``: the reference path, built from
    linear and cross_entropy. A LinearCrossEntropyOptions: the chunked op (class indices,
    no label smoothing, K = 0; otherwise the reference path with a warning, as torch).
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    if not 1 <= x.ndim <= 3:
        raise ValueError("linear_cross_entropy: expected input (in_features), (N, in_features) "
                         f"or (B, T, in_features), got shape {x.shape}")
    if linear_weight.ndim < 2:
        raise ValueError("linear_cross_entropy: expected linear_weight (C, ..., in_features), "
                         f"got shape {linear_weight.shape}")
    batches, in_features = x.shape[:-1], x.shape[-1]
    classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_weight.shape[-1] != in_features:
        raise ValueError(f"linear_cross_entropy: expected linear_weight (..., {in_features}) "
                         f"for input {x.shape}, got {linear_weight.shape}")
    if linear_weight.dtype != x.dtype:
        raise ValueError(f"linear_cross_entropy: linear_weight is {linear_weight.dtype}, "
                         f"input is {x.dtype}: expected one dtype")
    if linear_bias is not None and linear_bias.shape != (classes, *out_features):
        raise ValueError(f"linear_cross_entropy: expected linear_bias shape "
                         f"{(classes, *out_features)}, got {linear_bias.shape}")
    if out_features and x.ndim != 2:
        raise ValueError(f"linear_cross_entropy: K-dimensional loss (linear_weight "
                         f"{linear_weight.shape}) needs input (N, {in_features}), got {x.shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"linear_cross_entropy: reduction must be mean, sum or none, got "
                         f"{reduction!r}")
    if options is not None and not isinstance(options, LinearCrossEntropyOptions):
        raise TypeError("linear_cross_entropy: options must be None or a "
                        f"LinearCrossEntropyOptions, got {type(options).__name__}")
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    probabilities = labels.dtype.kind not in "iu"
    logits_shape = (*batches, classes, *out_features)
    if probabilities:
        if labels.shape != logits_shape:
            raise ValueError(f"linear_cross_entropy: probability target must have shape "
                             f"{logits_shape}, got {labels.shape}")
        if ignore_index is not None:
            raise ValueError("linear_cross_entropy: ignore_index cannot be given when target "
                             "holds probabilities")
    elif labels.shape != (*batches, *out_features):
        raise ValueError(f"linear_cross_entropy: expected target of class indices with shape "
                         f"{(*batches, *out_features)}, got {labels.shape}")
    ignore_index = -100 if ignore_index is None else ignore_index
    if options is not None and (out_features or label_smoothing != 0.0 or probabilities):
        warnings.warn(
            "linear_cross_entropy: options ignored; the chunked path needs label_smoothing == 0,"
            f" target of class indices and out_features == (). Got label_smoothing="
            f"{label_smoothing}, target.dtype={labels.dtype}, out_features={out_features}",
            stacklevel=2)
        options = None
    if options is None:
        return _reference(x, linear_weight, labels, linear_bias, weight, reduction,
                          ignore_index, label_smoothing)
    rows = x.reshape(-1, in_features)
    count = rows.shape[0]
    labels, ignore = check_class_labels("linear_cross_entropy (target)", (count, classes),
                                        labels.reshape(-1), ignore_index)
    chunk, policy, acc_dtype = options.resolve(count, in_features, classes, x.dtype)
    row_weight = np.ones(count, acc_dtype) if weight is None else \
        check_class_weight("linear_cross_entropy", weight, classes, acc_dtype)[labels]
    if ignore is not None:
        row_weight[ignore] = 0
    operands = (rows, linear_weight) + (() if linear_bias is None else (linear_bias,))
    needs = tuple(is_grad_enabled() and getattr(t, "requires_grad", False) for t in operands)
    loss = LinearCrossEntropy(labels, row_weight, reduction, chunk, acc_dtype, policy,
                              options.allow_retain_graph, (needs + (False,))[:3])(*operands)
    # torch's nodes: its custom op's generated backward, then a squeeze for an unbatched input
    named(loss, "GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_"
                f"{'no_reduction_' if reduction == 'none' else ''}defaultBackward")
    if x.ndim == 1:
        return squeeze(loss, 0)
    return loss.reshape(batches) if reduction == "none" and x.ndim == 3 else loss


def _reference(x, linear_weight, labels, linear_bias, weight, reduction, ignore_index,
               label_smoothing):
    """options=None: linear, then cross_entropy (classes moved to dlpy's last axis)."""
    classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if out_features:
        width = classes * math.prod(out_features)
        linear_weight = linear_weight.reshape(width, x.shape[-1])
        linear_bias = None if linear_bias is None else linear_bias.reshape(width)
    logits = _linear(x, linear_weight, linear_bias)
    if out_features:  # (N, C, d_1, ..., d_K) -> (N, d_1, ..., d_K, C)
        logits = logits.reshape(x.shape[0], classes, *out_features)
        logits = logits.permute(0, *range(2, logits.ndim), 1)
        if labels.dtype.kind not in "iu":
            labels = np.moveaxis(labels, 1, -1)
    return _cross_entropy(logits, labels, reduction, ignore_index, label_smoothing, weight)
