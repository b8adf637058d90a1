"""loss_parallel: cross-entropy of logits sharded on the class dimension, never gathered.

    with loss_parallel():
        loss = F.cross_entropy(logits, labels)   # logits (N, C): a Shard(1) DTensor
        loss.backward()

The classes lie on axis 1 as in torch: logits (N, C) or (N, C, d1, ..., dK) (sharded on C),
labels (N,) or (N, d1, ..., dK); 1-d logits (C,) take a 0-d label. Each rank holds a slice of
the classes of every row. The row's max, then its sum of exp(x - max), the label's logit and the
sum of the logits (label smoothing's) are all-reduced over the mesh dimension that shards the
classes (4 numbers a row, in two all-reduces); the backward, softmax - onehot on this rank's
classes, needs no communication.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.distributed.tensor._api import DTensor
from dlpy.distributed.tensor._ops import local, wrap
from dlpy.distributed.tensor.placement_types import Partial, Placement, Replicate, Shard
from dlpy.ops.loss import check_class_labels
from dlpy.ops.rearrange import movedim
from dlpy.tensor import Op, Tensor, as_array

_active = [0]  # how many loss_parallel() contexts are open


@contextlib.contextmanager
def loss_parallel() -> Iterator[None]:
    """Within it, ``F.cross_entropy`` (and ``nn.CrossEntropyLoss``) of logits sharded on the
    class dimension (1, or 0 of 1-d logits, as torch's) computes the loss without gathering them
    (torch's ``torch.distributed.tensor.parallel.loss_parallel``). Integer labels: a plain array
    or Tensor (every rank's the same), or a DTensor laid out as the rows: the logits'
    placements with the class dimension's Shard made Replicate and Shard(d), d > 1, made
    Shard(d - 1) (logits (batch, class, seq) in (Shard(2), Shard(1)) take labels (batch, seq)
    in (Shard(1), Replicate())). The loss is a DTensor: Replicate, or with
    ``reduction="none"`` laid out as the labels."""
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
        top = self._all_reduce(np.array(top, order="C"), torch_api.ReduceOp.MAX)  # 0-d kept
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
    """F.cross_entropy (dlpy's arguments) given DTensor logits (N, C, d1, ..., dK), (N, C) or
    (C,) (torch's layout: the classes on dimension 1, or 0 when 1-d): with the classes sharded
    (on one mesh dimension), only inside ``loss_parallel()``; other mesh dimensions may be
    Replicate or Shard of a row dimension."""
    name = "loss_parallel" if _active[0] else "cross_entropy"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be mean, sum or none, got "
                         f"{reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got "
                         f"{label_smoothing!r}")
    if input.ndim == 0:
        raise ValueError(f"cross_entropy: logits need a class axis (N, C, ...) or (C,), got "
                         f"{input.shape}")
    class_dim = 1 if input.ndim >= 2 else 0  # torch's channel_dim
    classes = input.shape[class_dim]
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
    # the rows' (the labels') layout: the class dimension's shard becomes Replicate, and a
    # Shard of a later dimension moves down one, as the class dimension is gone
    row_placements = tuple(
        Replicate() if i in tp else Shard(p.dim - 1) if p.is_shard() and p.dim > class_dim
        else p for i, p in enumerate(placements))
    row_shape = input.shape[:class_dim] + input.shape[class_dim + 1:]
    if reduction == "mean" and input.device_mesh.ndim > 1 and any(
            p.is_shard() for p in row_placements):
        raise NotImplementedError(f"{name}: reduction='mean' over rows sharded on another "
                                  "mesh dimension is not supported; use reduction='sum' or "
                                  "'none' and divide by the global count")
    labels = _labels(name, target, input, row_placements, row_shape)
    pieces = input.data.shape
    labels, ignored = check_class_labels(
        "cross_entropy", (*pieces[:class_dim], *pieces[class_dim + 1:], classes), labels,
        ignore_index)
    kept = np.ones(labels.shape, bool) if ignored is None else ~ignored
    if weight is not None:
        if label_smoothing:
            raise NotImplementedError(f"{name}: weight with label_smoothing is not supported")
        weight = np.asarray(weight.full_tensor().data if isinstance(weight, DTensor) else
                            as_array(weight), dtype=input.data.dtype)
        if weight.shape != (classes,):
            raise ValueError(f"cross_entropy: weight must have shape ({classes},), got "
                             f"{weight.shape}")
        row_weight = weight[labels]
    else:
        row_weight = np.ones(labels.shape, dtype=input.data.dtype)
    start = input._spec.local_range(class_dim)[0]
    group = input.device_mesh.get_group(tp[0]) if tp else None
    piece = local(input)
    if class_dim != input.ndim - 1:  # the op takes the classes last
        piece = movedim(piece, class_dim, -1)
    rows = ShardedCrossEntropy(labels, kept, row_weight, float(label_smoothing), start,
                               classes, group)(piece)
    if reduction == "none":
        return wrap(rows, input, list(row_placements), row_shape)
    total = rows.sum()
    out_placements: list[Placement] = [Partial() if p.is_shard() else Replicate()
                                       for p in row_placements]
    if reduction == "mean":
        total = total / float(np.where(kept, row_weight, 0).sum())
    return wrap(total, input, out_placements, ())


def _labels(name: str, target: Any, input: DTensor, placements: tuple[Placement, ...],
            shape: tuple[int, ...]) -> np.ndarray:
    """This rank's integer labels (global ``shape``) for the rows of ``input``: a DTensor must
    be laid out as the rows; a plain array only when the rows are Replicate on every mesh
    dimension."""
    if isinstance(target, DTensor):
        if target.placements != placements:
            raise RuntimeError(f"{name}: expected labels laid out as {placements} but got "
                               f"{target.placements}.")
        _check_label_shape(name, input, target.shape, shape)
        return np.asarray(target.data)
    if any(p.is_shard() for p in placements):
        raise ValueError(f"{name}: requires a DTensor (not a plain Tensor) for the labels when "
                         f"the rows are sharded ({placements}); wrap them with "
                         "DTensor.from_local or distribute_tensor")
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    if labels.dtype.kind not in "iu":
        raise NotImplementedError(f"{name}: labels must be integer class indices (class "
                                  f"probabilities are not supported), got {labels.dtype}")
    _check_label_shape(name, input, labels.shape, shape)
    return labels


def _check_label_shape(name: str, input: DTensor, got: tuple[int, ...],
                       shape: tuple[int, ...]) -> None:
    if tuple(got) != shape:
        raise ValueError(
            f"{name}: logits {tuple(input.shape)} hold the classes on dimension "
            f"{1 if input.ndim >= 2 else 0} (torch's (N, C, d1, ..., dK)), so integer labels "
            f"must have shape {shape}, got {tuple(got)}")


__all__ = ["loss_parallel"]
