"""Fused, numerically stable losses."""

import numpy as np

from dlpy.tensor import Op, Tensor


class SoftmaxCrossEntropy(Op):
    """loss = -sum(t * log_softmax(logits)) over classes, averaged (or summed) over the batch.

    Targets t are class indices (one-hot implied) or probabilities. Classes on the last axis.
    d logits = (softmax(logits) - t) * g / n: the O(N) fused gradient.
    """

    def __init__(self, labels, reduction):
        self.labels, self.reduction = labels, reduction

    def forward(self, logits):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=-1, keepdims=True)
        log_probs = shifted - np.log(total)
        self.probs = exp / total
        if self.labels.dtype.kind in "iu":
            picked = np.take_along_axis(log_probs, self.labels[..., None], axis=-1)[..., 0]
            losses = -picked
        else:
            losses = -(self.labels * log_probs).sum(axis=-1)
        self.count = losses.size
        if self.reduction == "none":
            return losses
        loss = losses.sum()
        if self.reduction == "mean":
            loss = loss / self.count
        return np.asarray(loss, dtype=logits.dtype)

    def backward(self, grad_output):
        grad = self.probs.copy()
        if self.labels.dtype.kind in "iu":
            np.add.at(grad, (*np.indices(self.labels.shape), self.labels), -1)
        else:
            grad -= self.labels
        if self.reduction == "none":
            return (grad * grad_output[..., None],)
        if self.reduction == "mean":
            grad_output = grad_output / self.count
        return (grad * grad_output,)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of logits (..., classes) against integer labels (...) or
    probabilities (..., classes). reduction: "mean" (over the batch), "sum" or "none"."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be mean, sum or none, got {reduction!r}")
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    shape = logits.shape
    if labels.dtype.kind in "iu":
        if labels.shape != shape[:-1]:
            raise ValueError(
                f"cross_entropy: integer labels must have shape {shape[:-1]} for logits {shape},"
                f" got {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= shape[-1]):
            raise ValueError(
                f"cross_entropy: labels must lie in [0, {shape[-1]}), got values from "
                f"{labels.min()} to {labels.max()}"
            )
    elif labels.shape != shape:
        raise ValueError(
            f"cross_entropy: probability targets must have the logits' shape {shape}, "
            f"got {labels.shape}"
        )
    else:
        labels = labels.astype(logits.dtype, copy=False)
    return SoftmaxCrossEntropy(labels, reduction)(logits)
