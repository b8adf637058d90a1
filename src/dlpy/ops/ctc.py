"""Connectionist temporal classification (CTC), as PyTorch's F.ctc_loss: the negative
log-likelihood of a label sequence summed over all its alignments to the frames, by the
forward-backward algorithm in log space (vectorised over the batch and the label positions; a
Python loop over time only).

    loss = ctc_loss(log_probs, targets, input_lengths, target_lengths)   # log_probs (T, N, C)
"""

from __future__ import annotations

import operator

import numpy as np

from dlpy import meta as _meta
from dlpy.amp.state import FP32, autocast_policy
from dlpy.node_names import named
from dlpy.ops import ArgDtypeError
from dlpy.ops.loss import _mean_alias
from dlpy.ops.shape import squeeze
from dlpy.tensor import Op, Tensor

NEG_INF = -np.inf


class CTCError(RuntimeError, ValueError):
    """ctc_loss called with shapes, lengths or a blank that do not fit: torch's RuntimeError,
    and a ValueError as dlpy's argument errors are."""


class CTCKernelError(CTCError, NotImplementedError):
    """log_probs of a dtype torch's CPU kernel lacks (float16, bfloat16, integers): torch's
    NotImplementedError ('"ctc_loss_cpu" not implemented for 'Half'')."""


class CTCTypeError(CTCError, TypeError):
    """An argument of a type torch's signature refuses (an int for the lengths, a float or bool
    blank, a list of targets, a non-bool zero_infinity): torch's TypeError."""


class CTC(Op):
    """losses[n] = -log sum over the alignments of targets[n] of prod_t p[t, n, label_t]
    (N,) from log_probs (T, N, C). The labels extended with blanks l' = (blank, l_1, blank, ...,
    l_S, blank) have forward variables alpha[t, s] = lse(alpha[t - 1, s - 2 (where l'_s differs
    from l'_(s-2), so never for a blank), s - 1, s]) + log_probs[t, l'_s] and backward ones beta
    (a target equal to the blank is an ordinary label, as torch's CPU kernel takes it).
    d log_probs[t, n, c] = (exp(log_probs[t, n, c]) - sum_(s: l'_s = c) exp(alpha + beta -
    log_probs[t, n, c] - log p)) g[n], PyTorch's gradient: exact once a log_softmax's backward
    has taken it (the exp term sums to 1 over c and cancels), 0 for t >= input_lengths[n], nan
    where log_probs is -inf before that (torch's exp(-inf + inf)).
    Infeasible samples (too short an input) lose inf and get a nan gradient, or 0 and 0 with
    ``zero_infinity``."""

    def __init__(self, targets: np.ndarray, input_lengths: np.ndarray,
                 target_lengths: np.ndarray, blank: int, zero_infinity: bool):
        self.targets, self.blank, self.zero_infinity = targets, blank, zero_infinity
        self.input_lengths, self.target_lengths = input_lengths, target_lengths

    def forward(self, log_probs):
        steps, batch, _ = log_probs.shape
        lengths, target_lengths = self.input_lengths, self.target_lengths
        width = 2 * int(target_lengths.max(initial=0)) + 1  # extended labels' length L
        labels = np.full((batch, width), self.blank, dtype=np.int64)
        labels[:, 1::2] = self.targets[:, :width // 2]
        # the padding past each target is never read (it may hold any value)
        labels[np.arange(width) > 2 * target_lengths[:, None]] = self.blank
        reachable = np.arange(width) <= 2 * target_lengths[:, None]  # (N, L)
        emit = np.take_along_axis(log_probs, labels[None], axis=2)  # (T, N, L)
        emit = np.where(reachable, emit, NEG_INF)
        skip = np.zeros((batch, width), dtype=bool)  # s - 2 -> s allowed
        skip[:, 2:] = labels[:, 2:] != labels[:, :-2]  # never into a blank: l'_(s-2) is one
        alpha = np.full((steps, batch, width + 2), NEG_INF, dtype=log_probs.dtype)  # 2 -inf first
        alpha[0, :, 2:2 + min(2, width)] = emit[0, :, :2]
        for t in range(1, steps):
            previous = alpha[t - 1]
            merged = np.logaddexp(previous[:, 2:], previous[:, 1:-1])
            np.logaddexp(merged, np.where(skip, previous[:, :-2], NEG_INF), out=merged)
            np.add(merged, emit[t], out=alpha[t, :, 2:])
        rows = np.arange(batch)
        last = alpha[np.maximum(lengths - 1, 0), rows]  # (N, L + 2)
        end = 2 + 2 * target_lengths  # l'_(2S) (blank) in alpha's columns; end - 1: l_S
        likelihood = np.logaddexp(last[rows, end], last[rows, end - 1])
        # no frames: the empty target has probability 1, any other 0
        likelihood = np.where(lengths == 0, np.where(target_lengths == 0, 0.0, NEG_INF),
                              likelihood)
        self.log_probs, self.labels, self.emit, self.alpha = log_probs, labels, emit, alpha
        self.skip, self.nll = skip, -likelihood
        losses = -likelihood
        if self.zero_infinity:
            losses = np.where(np.isinf(losses), 0.0, losses)
        return losses.astype(log_probs.dtype)

    def backward_graph(self, grad_output, output):
        # torch's gradient is a node with no derivative of its own: create_graph gives it (in
        # the graph), and only a gradient through it raises
        from dlpy.ops.indexing import _NoDerivative

        (grad,) = self.backward(grad_output.data)
        return (_NoDerivative("_ctc_loss_backward", grad)(grad_output, self.inputs[0]),)

    def backward(self, grad_output):
        log_probs, emit, skip, labels = self.log_probs, self.emit, self.skip, self.labels
        steps, batch, classes = log_probs.shape
        width, lengths = labels.shape[1], self.input_lengths
        beta = np.full((steps, batch, width + 2), NEG_INF, dtype=log_probs.dtype)  # 2 -inf last
        skip_ahead = np.zeros((batch, width), dtype=bool)  # s -> s + 2 allowed
        skip_ahead[:, :-2] = skip[:, 2:]
        start = np.arange(width) >= 2 * self.target_lengths[:, None] - 1  # l_S and the blank
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                after = beta[t + 1]
                merged = np.logaddexp(after[:, :width], after[:, 1:-1])
                np.logaddexp(merged, np.where(skip_ahead, after[:, 2:], NEG_INF), out=merged)
                merged += emit[t]
            else:
                merged = np.full((batch, width), NEG_INF)
            first = (lengths - 1 == t)[:, None]
            beta[t, :, :width] = np.where(first, np.where(start, emit[t], NEG_INF),
                                          np.where((t < lengths - 1)[:, None], merged, NEG_INF))
        # the posterior of being at s at t: alpha beta / (p(l'_s at t) p(target))
        both = self.alpha[:, :, 2:] + beta[:, :, :width]
        finite = np.isfinite(both)
        with np.errstate(invalid="ignore"):
            posterior = np.exp(np.where(finite, both - emit + self.nll[:, None], NEG_INF))
        one_hot = labels[:, :, None] == np.arange(classes)  # (N, L, C)
        occupancy = np.matmul(posterior.transpose(1, 0, 2), one_hot).transpose(1, 0, 2)
        grad = np.exp(log_probs) - occupancy  # (T, N, C)
        grad[log_probs == NEG_INF] = np.nan  # torch's exp(lcab + nll - log_probs): -inf + inf
        infinite = np.isinf(self.nll)
        scale = np.where(infinite, np.nan, grad_output.astype(log_probs.dtype))
        grad *= scale[:, None]
        if self.zero_infinity:
            grad[:, infinite] = 0
        grad[np.arange(steps)[:, None] >= lengths] = 0  # frames past each input's end
        return (grad,)


def _integers(name: str, what: str, value, kinds: str = "iu") -> np.ndarray:
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.dtype.kind not in kinds and array.size:  # [] is float64 to numpy
        raise ArgDtypeError(f"{name}: {what} must hold integers, got {array.dtype}")
    return array.astype(np.int64)


@autocast_policy(FP32)
def ctc_loss(log_probs: Tensor, targets, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """F.ctc_loss: log_probs (T, N, C) (from log_softmax; or (T, C) unbatched), targets padded
    (N, S) or concatenated (sum(target_lengths),), input_lengths and target_lengths (N,). The
    losses -log p(target | input) (N,) ("none"), their sum, or ("mean") the mean of each loss
    divided by its target length (at least 1)."""
    name = "ctc_loss"
    reduction = _mean_alias(reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")
    if not isinstance(log_probs, Tensor):
        log_probs = Tensor(np.asarray(log_probs))
    if log_probs.dtype.kind != "f" or log_probs.dtype.itemsize < 4:
        raise CTCKernelError(f"{name}: log_probs must be float32 or float64 (torch's CPU kernel "
                             f"has no other), got {log_probs.dtype}")
    if log_probs.ndim not in (2, 3):
        raise CTCError(f"{name}: expected floating log_probs (T, N, C) or (T, C), got "
                       f"{log_probs.dtype} {log_probs.shape}")
    if log_probs.numel() == 0:
        raise CTCError(f"{name}: log_probs tensor must not be empty, got {log_probs.shape}")
    if not isinstance(targets, (Tensor, np.ndarray)):
        raise CTCTypeError(f"{name}: targets must be a tensor, got {type(targets).__name__}")
    if not isinstance(zero_infinity, (bool, np.bool_)):
        raise CTCTypeError(f"{name}: zero_infinity must be a bool, got "
                           f"{type(zero_infinity).__name__}")
    if isinstance(input_lengths, Tensor) != isinstance(target_lengths, Tensor):
        raise TypeError(f"{name}: input_lengths and target_lengths must both be tensors or both "
                        f"sequences of ints, as torch's, got {type(input_lengths).__name__} and "
                        f"{type(target_lengths).__name__}")
    on_meta = _meta.live() and _meta.given_meta((log_probs, targets, input_lengths,
                                                  target_lengths))
    if on_meta and isinstance(input_lengths, Tensor):  # (torch's meta kernel takes lists)
        raise NotImplementedError(_meta.no_kernel("aten::_ctc_loss.Tensor"))
    for what, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if not isinstance(lengths, (Tensor, np.ndarray)) and np.ndim(lengths) != 1:
            raise CTCTypeError(f"{name}: {what} must be a tensor or a sequence of ints, got "
                               f"{type(lengths).__name__}")
    if isinstance(blank, (bool, np.bool_)) or not hasattr(blank, "__index__"):
        raise CTCTypeError(f"{name}: blank must be an int, got {type(blank).__name__}")
    blank = operator.index(blank)
    targets = _integers(name, "targets", targets, "biuf")  # torch truncates float targets
    # tensors of lengths are read flat, whatever their shape (a 0-d one for unbatched inputs)
    input_lengths = _integers(name, "input_lengths", input_lengths).reshape(-1)
    target_lengths = _integers(name, "target_lengths", target_lengths).reshape(-1)
    unbatched = log_probs.ndim == 2
    if unbatched:  # a batch of one; 1-D targets stay concatenated
        log_probs = log_probs.reshape(log_probs.shape[0], 1, log_probs.shape[1])
    steps, batch, classes = log_probs.shape
    for what, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if lengths.shape != (batch,):
            raise CTCError(f"{name}: expected {what} of shape ({batch},) for log_probs "
                           f"{log_probs.shape}, got {lengths.shape}")
        if lengths.size and lengths.min() < 0:
            raise CTCError(f"{name}: {what} must be >= 0, got {lengths.tolist()}")
    if input_lengths.size and input_lengths.max() > steps:
        raise CTCError(f"{name}: input_lengths must be at most T = {steps} (log_probs "
                       f"{log_probs.shape}), got {input_lengths.tolist()}")
    if not 0 <= blank < classes:
        raise CTCError(f"{name}: blank must be a class index in [0, {classes}), got {blank!r}")
    if on_meta:  # the losses' shape; no targets read
        shape = (batch,) if reduction == "none" and not unbatched else ()
        return _meta.shaped((log_probs, targets), shape, log_probs.dtype)
    longest = int(target_lengths.max(initial=0))
    if targets.ndim == 1:  # concatenated: split by the lengths
        if targets.size != target_lengths.sum():
            raise CTCError(f"{name}: concatenated targets must hold sum(target_lengths) = "
                           f"{target_lengths.sum()} labels, got {targets.size}")
        padded = np.full((batch, longest), blank, dtype=np.int64)
        padded[np.arange(longest) < target_lengths[:, None]] = targets
        targets = padded
    elif targets.ndim != 2 or targets.shape[0] != batch or targets.shape[1] < longest:
        raise CTCError(f"{name}: expected targets (N, S) with N = {batch} and S >= "
                       f"max(target_lengths) = {longest}, or concatenated 1-D, got "
                       f"{targets.shape}")
    used = targets[:, :longest][np.arange(longest) < target_lengths[:, None]]
    if used.size and (used.min() < 0 or used.max() >= classes):
        raise ValueError(f"{name}: targets must be class indices in [0, {classes}), got "
                         f"{sorted(set(used.tolist()))}")
    losses = CTC(targets, input_lengths, target_lengths, blank,
                 bool(zero_infinity))(log_probs)
    if zero_infinity:  # torch's infinite losses zeroed by a where after its kernel
        named(losses, "WhereBackward0")
    if reduction == "none":
        return squeeze(losses, 0) if unbatched else losses  # torch's squeeze
    if reduction == "sum":
        return losses.sum()
    per_label = np.maximum(target_lengths, 1).astype(log_probs.dtype)
    return (losses / per_label).mean()
