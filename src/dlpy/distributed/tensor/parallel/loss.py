"""loss_parallel: cross-entropy of logits sharded on the class dimension, never gathered.

    with loss_parallel():
        loss = F.cross_entropy(logits, labels)   # logits: a Shard(-1) DTensor (lm_head colwise)
        loss.backward()

Each rank holds a slice of the classes of every row. The row's max, then its sum of
exp(x - max), the label's logit and the sum of the logits (label smoothing's) are all-reduced
over the mesh dimension that shards the classes (4 numbers a row, in two all-reduces); the
backward, softmax - onehot on this rank's classes, needs no communication.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.distributed.tensor._api import DTensor
from dlpy.distributed.tensor._ops import local, wrap
from dlpy.distributed.tensor.placement_types import Partial, Placement, Replicate
from dlpy.ops.loss import check_class_labels
from dlpy.tensor import Op, Tensor, as_array

_active = [0]  # how many loss_parallel() contexts are open


@contextlib.contextmanager
def loss_parallel() -> Iterator[None]:
    """Within it, ``F.cross_entropy`` (and ``nn.CrossEntropyLoss``) of logits sharded on the
    class (last) dimension computes the loss without gathering them (torch's
    ``torch.distributed.tensor.parallel.loss_parallel``). Integer labels: a plain array or
    Tensor (every rank's the same), or a DTensor laid out as the rows. The loss is a DTensor:
    Replicate, or with ``reduction="none"`` laid out as the rows."""
    _active[0] += 1
    try:
        yield
    finally:
        _active[0] -= 1


class ShardedCrossEntropy(Op):
    """Per-row loss (...) of logits (..., classes here) whose classes lie over a process
    group: lse = log sum exp over all classes (max and sum all-reduced), loss = lse -
    (1 - e) x[label] - e mean(x), times weight[label]; 0 where ignored.
    dx = g weight[label] (softmax - (1 - e) onehot - e / classes), from this rank's classes."""

    saves = ()  # it keeps what its backward needs itself

    def __init__(self, labels: np.ndarray, kept: np.ndarray, row_weight: np.ndarray,
                 smoothing: float, start: int, classes: int, group: Any):
        self.labels, self.kept, self.row_weight = labels, kept, row_weight
        self.smoothing, self.start, self.classes, self.group = smoothing, start, classes, group

    def _all_reduce(self, array: np.ndarray, op) -> np.ndarray:
        if self.group is not None:
            torch_api.all_reduce(array, op, self.group)
        return array

    def forward(self, x):
        width = x.shape[-1]
        top = x.max(axis=-1) if width else np.full(x.shape[:-1], -np.inf, dtype=x.dtype)
        top = self._all_reduce(np.ascontiguousarray(top), torch_api.ReduceOp.MAX)
        shifted = x - top[..., None]
        exp = np.exp(shifted)
        here = (self.labels >= self.start) & (self.labels < self.start + width)
        index = np.where(here, self.labels - self.start, 0)[..., None]
        picked = np.take_along_axis(shifted, index, -1)[..., 0] if width else 0 * top
        sums = self._all_reduce(np.ascontiguousarray(np.stack(
            [exp.sum(axis=-1), np.where(here, picked, 0), shifted.sum(axis=-1)])),
            torch_api.ReduceOp.SUM)
        log_total = np.log(sums[0])
        e = self.smoothing
        loss = log_total - (1 - e) * sums[1] - e * sums[2] / self.classes
        self.probs, self.here, self.index = exp / sums[0][..., None], here, index
        return np.where(self.kept, loss * self.row_weight, 0).astype(x.dtype)

    def backward(self, grad_output):
        scale = np.where(self.kept, grad_output * self.row_weight, 0)[..., None]
        grad = self.probs * scale
        if self.smoothing:
            grad -= scale * (self.smoothing / self.classes)
        if grad.shape[-1]:  # the label's class, on the rank that holds it
            hit = np.where(self.here[..., None], (1 - self.smoothing) * scale, 0)
            np.put_along_axis(grad, self.index, np.take_along_axis(grad, self.index, -1) - hit,
                              -1)
        return (grad.astype(self.probs.dtype, copy=False),)


def cross_entropy(input: DTensor, target: Any, reduction: str = "mean",  # noqa: A002
                  ignore_index: int = -100, label_smoothing: float = 0.0,
                  weight: Any = None) -> DTensor:
    """F.cross_entropy (dlpy's arguments) given DTensor logits (..., classes): with the
    classes sharded (on one mesh dimension), only inside ``loss_parallel()``; other mesh
    dimensions may be Replicate or Shard of a row dimension."""
    name = "loss_parallel" if _active[0] else "cross_entropy"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be mean, sum or none, got "
                         f"{reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got "
                         f"{label_smoothing!r}")
    if input.ndim == 0:
        raise ValueError(f"cross_entropy: logits need a class axis (..., classes), got "
                         f"{input.shape}")
    class_dim = input.ndim - 1
    placements = input.placements
    tp = [i for i, p in enumerate(placements) if p.is_shard(class_dim)]
    if tp and not _active[0]:
        raise NotImplementedError(
            f"cross_entropy: the logits are sharded on the class dimension "
            f"({list(placements)}, shape {input.shape}); compute the loss inside `with "
            "loss_parallel():` (dlpy.distributed.tensor.parallel), which never gathers them, "
            "or call .full_tensor() first")
    if len(tp) > 1:
        raise ValueError(f"{name}: the class dimension is sharded over mesh dimensions {tp} "
                         f"({list(placements)}); exactly one may shard it")
    for i, p in enumerate(placements):
        if p.is_partial():
            raise ValueError(f"{name}: expected Shard or Replicate logits, got {p} on mesh "
                             f"dimension {i}; redistribute first")
    # the rows' layout: the class dimension's shard becomes Replicate
    row_placements = tuple(Replicate() if i in tp else p for i, p in enumerate(placements))
    if reduction == "mean" and input.device_mesh.ndim > 1 and any(
            p.is_shard() for p in row_placements):
        raise NotImplementedError(f"{name}: reduction='mean' over rows sharded on another "
                                  "mesh dimension is not supported; use reduction='sum' or "
                                  "'none' and divide by the global count")
    labels = _labels(name, target, input, row_placements)
    pieces = input.data.shape
    labels, ignored = check_class_labels("cross_entropy", (*pieces[:-1], input.shape[-1]),
                                         labels, ignore_index)
    kept = np.ones(labels.shape, bool) if ignored is None else ~ignored
    if weight is not None:
        if label_smoothing:
            raise NotImplementedError(f"{name}: weight with label_smoothing is not supported")
        weight = np.asarray(weight.full_tensor().data if isinstance(weight, DTensor) else
                            as_array(weight), dtype=input.data.dtype)
        if weight.shape != (input.shape[-1],):
            raise ValueError(f"cross_entropy: weight must have shape ({input.shape[-1]},), "
                             f"got {weight.shape}")
        row_weight = weight[labels]
    else:
        row_weight = np.ones(labels.shape, dtype=input.data.dtype)
    start = input._spec.local_range(class_dim)[0]
    group = input.device_mesh.get_group(tp[0]) if tp else None
    rows = ShardedCrossEntropy(labels, kept, row_weight, float(label_smoothing), start,
                               input.shape[-1], group)(local(input))
    if reduction == "none":
        return wrap(rows, input, list(row_placements), input.shape[:-1])
    total = rows.sum()
    out_placements: list[Placement] = [Partial() if p.is_shard() else Replicate()
                                       for p in row_placements]
    if reduction == "mean":
        total = total / float(np.where(kept, row_weight, 0).sum())
    return wrap(total, input, out_placements, ())


def _labels(name: str, target: Any, input: DTensor, placements: tuple[Placement, ...]
            ) -> np.ndarray:
    """This rank's integer labels for the rows of ``input``: a DTensor must be laid out as the
    rows; a plain array only when the rows are Replicate on every mesh dimension."""
    if isinstance(target, DTensor):
        if target.placements != placements:
            raise RuntimeError(f"{name}: expected labels laid out as {placements} but got "
                               f"{target.placements}.")
        return np.asarray(target.data)
    if any(p.is_shard() for p in placements):
        raise ValueError(f"{name}: requires a DTensor (not a plain Tensor) for the labels when "
                         f"the rows are sharded ({placements}); wrap them with "
                         "DTensor.from_local or distribute_tensor")
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    if labels.dtype.kind not in "iu":
        raise NotImplementedError(f"{name}: labels must be integer class indices (class "
                                  f"probabilities are not supported), got {labels.dtype}")
    return labels


__all__ = ["loss_parallel"]
