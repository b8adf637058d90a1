"""Fused, numerically stable losses."""

import warnings

import numpy as np

from dlpy import meta as _meta
from dlpy._caller import user_stacklevel
from dlpy.amp.state import FP32, autocast_policy
from dlpy.ops import ArgDtypeError, ArgError, NoKernelError
from dlpy.ops.activation import softplus
from dlpy.ops.pointwise import logit
from dlpy.tensor import Op, ShapeError, Tensor, is_grad_enabled


def _mean_alias(reduction: str) -> str:
    """torch's deprecated spelling "elementwise_mean" of "mean" (with its warning)."""
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", UserWarning, stacklevel=user_stacklevel("ops/loss.py"))
        return "mean"
    return reduction


def _legacy_reduction(size_average, reduce, reduction: str, alias: bool = True) -> str:
    """torch's deprecated ``size_average`` / ``reduce`` flags folded into ``reduction``, as
    torch's (with its warning): reduce False is "none", else size_average False is "sum". A
    string in size_average's place is dlpy's older positional reduction. With ``alias``,
    "elementwise_mean" is "mean" (torch's losses in C++; not its Python-written ones)."""
    if size_average is not None and isinstance(size_average, str):
        return size_average
    if size_average is None and reduce is None:
        return _mean_alias(reduction) if alias else reduction
    size_average = True if size_average is None else size_average
    reduction = "none" if reduce is not None and not reduce else \
        "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", UserWarning,
                  stacklevel=user_stacklevel("ops/loss.py"))
    return reduction


def _weight_or_reduction(weight, reduction: str):
    """(weight, reduction) where torch takes weight third: a string there is dlpy's older
    positional reduction."""
    return (None, weight) if weight is not None and isinstance(weight, str) else \
        (weight, reduction)


class SoftmaxCrossEntropy(Op):
    """loss = -sum(t * log_softmax(logits)) over classes, averaged (or summed) over the batch.

    Targets t are class indices (one-hot implied) or probabilities. Classes on the last axis.
    With label smoothing e over C classes, t = (1 - e) t + e / C. Rows whose label is
    ``ignore`` (a boolean mask, or None) count nothing and leave the mean's denominator.
    d logits = (softmax(logits) sum(t) - t) * g / n: the O(N) fused gradient. Class weights w (as
    PyTorch's ``weight=``) scale class c's terms by w_c; with labels the mean divides by the
    sum of the rows' w_label.
    """

    # backward reads the softmax forward kept, the double backward the logits; never the loss
    # itself nor the logits (torch's log_softmax and nll_loss nodes save the log-probabilities,
    # which a program does not see), so `loss += reg` or a change of the logits in place before
    # backward is allowed, as torch's (in-place checks, Op.saves)
    saves = ()
    graph_saves = (0,)

    def pack_order(self, inputs):
        """torch's cross_entropy (log_softmax, then nll_loss) packs (saved_tensors_hooks) the
        log-probabilities twice, the targets, the class weights if given and the total weight:
        for class-index targets of (N, C) or (C,) logits without label smoothing (else
        nothing is packed)."""
        if self.labels.dtype.kind not in "iu" or self.smoothing or inputs[0].ndim > 2:
            return None
        return (["log_probs", "log_probs", "target"]
                + (["weight"] if self.weight is not None else []) + ["total_weight"])

    def saved_array(self, what):
        """The log-probabilities, the targets as given (ignore_index where ignored), the
        weights, or nll_loss's total weight (0 for reduction "none")."""
        if what == "log_probs":
            with np.errstate(divide="ignore"):
                return np.log(self.probs)
        if what == "target":
            if self.ignore is None:
                return self.labels
            return np.where(self.ignore, self.__dict__.get("ignore_index", -100), self.labels)
        if what == "total_weight":
            dtype = self.probs.dtype
            if self.reduction == "none":
                return np.zeros((), dtype=dtype)
            total = self.count if self.weight is None else self.row_weight.sum()
            return np.asarray(total, dtype=dtype)
        return getattr(self, what)

    def __init__(self, labels, reduction, smoothing=0.0, ignore=None, weight=None):
        self.labels, self.reduction = labels, reduction
        self.smoothing, self.ignore, self.weight = smoothing, ignore, weight

    def forward(self, logits):
        if self.weight is not None:
            return self._reduce(self._weighted_losses(logits), logits.dtype)
        # (the ufuncs' reduce: max and sum without ndarray's Python wrappers, the same numbers)
        shifted = logits - np.maximum.reduce(logits, axis=-1, keepdims=True)  # no overflow
        probs = np.exp(shifted)
        total = np.add.reduce(probs, axis=-1, keepdims=True)
        probs /= total
        self.probs = probs
        log_total = np.log(total)  # log_softmax = shifted - log_total
        e = self.smoothing
        if self.labels.dtype.kind in "iu":
            # each row's label as one index into the flat scores, kept for backward: numpy
            # applies one index array ~3x faster than a (rows, labels) pair
            self.flat = _flat_labels(self.labels, logits.shape[-1])
            picked = shifted.reshape(-1)[self.flat]
            if self.labels.ndim != 1:
                picked = picked.reshape(self.labels.shape)
            losses = log_total[..., 0] - picked
            if e:  # the uniform part: -mean over classes of log_softmax
                uniform = log_total[..., 0] - shifted.mean(axis=-1)
                losses = (1 - e) * losses + e * uniform
        else:
            targets = self.labels if not e else (1 - e) * self.labels + e / logits.shape[-1]
            losses = -(targets * (shifted - log_total)).sum(axis=-1)
        if self.ignore is not None:
            losses = np.where(self.ignore, 0, losses)  # a 0-d result too (unbatched)
            self.count = losses.size - int(self.ignore.sum())
        else:
            self.count = losses.size
        return self._reduce(losses, logits.dtype)

    def _reduce(self, losses, dtype):
        if self.reduction == "none":
            return losses
        loss = np.add.reduce(losses, axis=None)  # losses.sum()
        if self.reduction == "mean":
            # every row ignored (or weighing 0): 0 / 0 = nan, as PyTorch
            loss = loss / self.count if self.count else np.float64("nan")
        return np.asarray(loss, dtype=dtype)

    def _weighted_losses(self, logits):
        """The per-row losses with class weights (the general, slower path)."""
        shifted = logits - logits.max(axis=-1, keepdims=True)
        probs = np.exp(shifted)
        total = probs.sum(axis=-1, keepdims=True)
        probs /= total
        self.probs = probs
        log_probs = shifted - np.log(total)
        w, e, classes = self.weight, self.smoothing, logits.shape[-1]
        if self.labels.dtype.kind in "iu":
            self.row_weight = w[self.labels]  # w of each row's label
            if self.ignore is not None:
                self.row_weight = np.where(self.ignore, 0, self.row_weight)
            losses = -(1 - e) * self.row_weight * _pick(log_probs, self.labels)
            if e:
                smooth = -(log_probs * w).sum(axis=-1)
                if self.ignore is not None:
                    smooth = np.where(self.ignore, 0, smooth)
                losses = losses + e / classes * smooth
            self.count = float(self.row_weight.sum())
        else:
            self.targets = self.labels if not e else (1 - e) * self.labels + e / classes
            losses = -(log_probs * self.targets * w).sum(axis=-1)
            self.count = losses.size
        return losses

    def _weighted_grad(self):
        p, w, e = self.probs, self.weight, self.smoothing
        if self.labels.dtype.kind in "iu":
            grad = p.copy()
            rows = grad.reshape(-1, grad.shape[-1])
            rows[np.arange(len(rows)), self.labels.reshape(-1)] -= 1
            grad *= (1 - e) * self.row_weight[..., None]
            if e:
                smooth = p * w.sum() - w
                if self.ignore is not None:
                    smooth[self.ignore] = 0
                grad += e / p.shape[-1] * smooth
            return grad
        tw = self.targets * w
        return p * tw.sum(axis=-1, keepdims=True) - tw

    def backward(self, grad_output):
        if self.weight is not None:
            return (self._ignored_zero(self._scale(self._weighted_grad(), grad_output)),)
        grad = self.probs.copy()  # a second backward (retain_graph) needs probs intact
        e = self.smoothing
        if self.labels.dtype.kind in "iu":
            # one label per row: no repeats to accumulate; grad.reshape(-1) is a view (grad
            # is a fresh row-major copy)
            grad.reshape(-1)[self.flat] -= 1 - e
            if e:
                grad -= e / grad.shape[-1]
        else:  # probabilities t: d logits = p sum(t) - t (sum(t) need not be 1)
            targets = self._soft_targets()
            grad *= targets.sum(axis=-1, keepdims=True)
            grad -= targets
        if self.ignore is not None:
            grad[self.ignore] = 0
        return (self._ignored_zero(self._scale(grad, grad_output)),)

    def _ignored_zero(self, grad):
        """The ignored rows 0 after scaling too: an inf or nan g leaves them alone, as torch's
        nll_loss_backward, which never writes them (0 * inf would be nan)."""
        if self.ignore is not None and grad.dtype.kind in "fc" and not np.isfinite(grad).all():
            grad[self.ignore] = 0
        return grad

    def _soft_targets(self):
        e = self.smoothing
        return (1 - e) * self.labels + e / self.labels.shape[-1] if e else self.labels

    def backward_graph(self, grad_output, output):
        # d logits = (a p - b) g: affine in p = softmax(logits), a and b constants of each row.
        # Written as (a (P - p) + G) g with G the numeric gradient at g = 1 and P the recorded
        # softmax (equal to p): the value of backward, and the derivative a dP g.
        (logits,) = self.inputs
        unit = self.backward(np.ones_like(grad_output.data))[0]  # G, the mean's 1/n included
        e, classes = self.smoothing, logits.shape[-1]
        if self.weight is None and self.labels.dtype.kind in "iu":
            a = np.ones(unit.shape[:-1] + (1,), dtype=unit.dtype)
        elif self.weight is None:
            a = self._soft_targets().sum(axis=-1, keepdims=True)
        elif self.labels.dtype.kind in "iu":
            a = (1 - e) * self.row_weight[..., None] + e / classes * self.weight.sum()
        else:
            a = (self.targets * self.weight).sum(axis=-1, keepdims=True)
        if self.ignore is not None:
            a = a * ~self.ignore[..., None]
        if self.reduction == "mean":
            a = a / self.count if self.count else a * 0
        probs = logits.softmax(-1)
        g = grad_output.reshape(grad_output.shape + (1,)) if self.reduction == "none" \
            else grad_output
        return (((probs - self.probs) * a + unit) * g,)

    def _scale(self, grad, grad_output):
        if self.reduction == "none":
            grad *= grad_output[..., None]
        elif self.reduction == "mean":
            grad *= grad_output / self.count if self.count else 0
        else:
            grad *= grad_output
        return grad


def _weighted_reduce(losses, weight, reduction, dtype):
    """Element-wise losses times ``weight`` (None: 1), then their mean or sum as a scalar of
    ``dtype``, or the losses themselves for reduction "none"."""
    if weight is not None:
        losses = losses * weight
    if reduction == "none":
        return losses
    if losses.dtype.itemsize == 2:  # float16/bfloat16: accumulated in float32, as torch's
        losses = losses.astype(np.float32)
    with np.errstate(invalid="ignore"):  # an empty mean: nan, as torch's (no numpy warning)
        loss = losses.sum() / (losses.size if reduction == "mean" else 1)
    return np.asarray(loss, dtype=dtype)


def _log_sigmoid(x):
    """log(sigmoid(x)) = -(max(-x, 0) + log(1 + exp(-|x|))), float16/bfloat16 computed in
    float32 and rounded."""
    wide = x.astype(np.float32) if x.dtype.itemsize == 2 else x
    return (-(np.maximum(-wide, 0) + np.log1p(np.exp(-np.abs(wide))))).astype(x.dtype)


class BCEWithLogits(Op):
    """loss = (1 - t) x + max(-x, 0) + log(1 + exp(-|x|)) (= -t log sigmoid(x) - (1-t)
    log(1-sigmoid(x)) without overflow; torch's formula, nan where (1 - t) x is 0 * inf),
    averaged or summed;  dx = (sigmoid(x) - t) * g (/ n).

    PyTorch's ``pos_weight`` p (broadcast to x) weighs the positive term:
    loss = (1 - t) x + l (max(-x, 0) + log(1 + exp(-|x|))), l = 1 + (p - 1) t;
    dx = (l sigmoid(x) - p t) * g. ``weight`` w multiplies both loss and gradient. Targets
    that need gradients come as a second input: dt = (-x + (p - 1) log(1 + exp(-x))) w g."""

    saves = (0, 1)  # torch's node saves self and target, not the loss (in-place checks)

    def __init__(self, targets, reduction, weight=None, pos_weight=None, rounding=None):
        self.targets, self.reduction = targets, reduction
        self.weight, self.pos_weight = weight, pos_weight
        self.rounding = rounding  # float16/bfloat16 logits cast to the target's dtype

    def forward(self, logits, targets=None):
        if targets is not None:
            self.given_targets, self.logits = targets, logits
        t = self.targets if targets is None else targets
        if logits.dtype.itemsize == 2 and logits.dtype.kind in "fV" or self.rounding:
            return self._forward_low_precision(logits, t)
        z = np.exp(-np.abs(logits))
        self.probs = np.where(logits >= 0, 1 / (1 + z), z / (1 + z)).astype(logits.dtype)
        if self.pos_weight is None:  # (1 - t) x - log sigmoid(x), as torch's
            losses = (1 - t) * logits + (np.maximum(-logits, 0) + np.log1p(z))
        else:  # -log sigmoid(x) = max(-x, 0) + log(1 + exp(-|x|))
            log_weight = (self.pos_weight - 1) * t + 1
            losses = (1 - t) * logits + log_weight * (np.maximum(-logits, 0) + np.log1p(z))
        return _weighted_reduce(losses, self.weight, self.reduction, logits.dtype)

    def _forward_low_precision(self, logits, t):
        """torch's float16/bfloat16 formula, each step rounded to the dtype:
        (1 - t) x - log_sigmoid(x) l, times w; the mean or sum accumulated in float32.
        log_sigmoid is rounded to the logits' own dtype first (``rounding``) where they
        were cast to the target's."""
        dtype, x = logits.dtype, logits.astype(np.float32)
        z = np.exp(-np.abs(x))
        self.probs = np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(dtype)
        log_sigmoid = (-(np.maximum(-x, 0) + np.log1p(z))).astype(self.rounding or dtype)
        log_sigmoid = log_sigmoid.astype(dtype)
        one = dtype.type(1)
        if self.pos_weight is not None:
            log_sigmoid = log_sigmoid * ((self.pos_weight - one) * t + one)
        losses = (one - t) * logits - log_sigmoid
        if self.weight is not None:
            losses = losses * self.weight
        if self.reduction == "none":
            return losses
        total = losses.astype(np.float64 if dtype == np.float64 else np.float32).sum()
        return np.asarray(total / losses.size if self.reduction == "mean" else total, dtype)

    def backward(self, grad_output):
        t = self.targets if len(self.inputs) == 1 else self.given_targets
        if self.pos_weight is None:
            grad = self.probs - t
        else:
            positive = self.pos_weight * t
            grad = (positive + 1 - t) * self.probs - positive
        grad *= grad_output  # then the weight and the mean's 1/n, in torch's order (which
        if self.weight is not None:  # float16/bfloat16 rounds at each step)
            grad *= self.weight
        if self.reduction == "mean":
            grad /= grad.size
        if len(self.inputs) == 1:
            return (grad,)
        if not self.inputs[1].requires_grad:
            return grad, None
        x = self.logits
        if self.pos_weight is None:  # torch's order: times g, the weight, then the mean's 1/n
            t_grad = -x * grad_output
        else:  # log_sigmoid(-x) - log_sigmoid(x) p
            t_grad = (_log_sigmoid(-x) - _log_sigmoid(x) * self.pos_weight) * grad_output
        if self.weight is not None:
            t_grad = t_grad * self.weight
        return grad, t_grad / t_grad.size if self.reduction == "mean" else t_grad

    def backward_graph(self, grad_output, output):
        logits, t = self.inputs[0], (self.inputs[1] if len(self.inputs) == 2
                                     else self.targets)
        probs = logits.sigmoid()
        if self.pos_weight is None:
            grad = probs - t
        else:
            positive = self.pos_weight * t
            grad = probs * (positive + 1 - t) - positive
        if self.weight is not None:
            grad = grad * self.weight
        scale = grad_output / grad.data.size if self.reduction == "mean" else grad_output
        if len(self.inputs) == 1:
            return (grad * scale,)
        t_grad = -logits
        if self.pos_weight is not None:
            t_grad = t_grad + (self.pos_weight - 1) * softplus(-logits)
        if self.weight is not None:
            t_grad = t_grad * self.weight
        return grad * scale, t_grad * scale


def _elementwise_weight(name, what, weight, shape, dtype):
    """A constant (array, number or Tensor) that broadcasts to ``shape``, as an array of dtype."""
    weight = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if weight.dtype.kind not in "biuf" and weight.dtype.name != "bfloat16":
        raise TypeError(f"{name}: {what} must be numbers, got {weight.dtype}")
    try:
        fits = np.broadcast_shapes(weight.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{name}: {what} {weight.shape} must broadcast to the input's shape "
                         f"{tuple(shape)}")
    return weight.astype(dtype)


@autocast_policy(FP32)
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable op: logits and targets (probabilities in
    [0, 1]) of the same shape. reduction: "mean" (over every element), "sum" or "none".
    ``weight`` scales each element's loss and ``pos_weight`` the positive term (e.g. one number
    per class, on the last axis), as PyTorch's; both broadcast to the logits' shape. Arguments
    in torch's order, with its deprecated size_average and reduce (a string third is the
    reduction)."""
    name = "binary_cross_entropy_with_logits"
    weight, reduction = _weight_or_reduction(weight, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")
    given = target
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target.shape != input.shape:
        raise ValueError(f"{name}: targets {target.shape} must have the logits' shape "
                         f"{input.shape}")
    check_floating(name, "logits", input)
    if isinstance(given, Tensor) and given.dtype.kind in "biu":
        raise ArgDtypeError(f"{name}: expected floating-point targets, got {given.dtype}")
    # torch's result takes a target tensor's dtype (its formula works in place on 1 - target)
    rounding = None
    if isinstance(given, Tensor) and given.dtype != input.dtype:
        rounding = input.dtype if input.dtype.itemsize == 2 else None
        input = input.astype(given.dtype)
    dtype = input.dtype
    refuse_gradient(name, "weight", weight)
    refuse_gradient(name, "pos_weight", pos_weight)
    if weight is not None:
        weight = _elementwise_weight(name, "weight", weight, input.shape, dtype)
    if pos_weight is not None:
        pos_weight = _elementwise_weight(name, "pos_weight", pos_weight, input.shape, dtype)
    if isinstance(given, Tensor):  # an input: its gradient (or tangent) too, as torch's
        return BCEWithLogits(None, reduction, weight, pos_weight, rounding)(input, given)
    return BCEWithLogits(target.astype(dtype), reduction, weight, pos_weight)(input)


_BCE_EPSILON = float(np.float32(1e-12))  # PyTorch's EPSILON is a C float


class MSELoss(Op):
    """loss = (x - t)^2, averaged ("mean"), summed ("sum") or per element ("none"), one node
    as torch's MseLossBackward0 (floating operands of one dtype and shape);
    dx = 2 (x - t) g (/ n),  dt = -dx. float16/bfloat16 as torch's CPU kernels: the sum
    accumulated in float32, and the gradient's steps (2/n) * d * g each rounded to the dtype."""

    saves = (0, 1)  # torch's node saves self and target, not the loss (in-place checks)

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t):
        self.diff = x - t
        losses = self.diff * self.diff
        if losses.dtype.itemsize == 2:
            return _weighted_reduce(losses, None, self.reduction, losses.dtype)
        if self.reduction == "mean":
            if not losses.size:  # nan, silently as torch's (numpy warns "Mean of empty slice")
                return np.asarray(np.nan, dtype=losses.dtype)
            with np.errstate(over="ignore", invalid="ignore"):  # (inf, silently as torch's)
                return np.mean(losses)
        return np.add.reduce(losses, axis=None) if self.reduction == "sum" else losses

    def _scale(self, grad_output, n):
        scale = grad_output * 2
        return scale / n if self.reduction == "mean" else scale

    def backward(self, grad_output):
        d = self.diff
        if d.dtype.itemsize == 2:  # norm * d * g in the dtype, as torch's mse_backward kernel
            norm = d.dtype.type(2 / d.size if self.reduction == "mean" else 2)
            grad = (norm * d * np.asarray(grad_output, dtype=d.dtype)).astype(d.dtype)
        else:
            grad = (d * self._scale(grad_output, np.asarray(d.size, dtype=d.dtype))).astype(d.dtype)
        return (grad if self.inputs[0].requires_grad else None,
                -grad if self.inputs[1].requires_grad else None)

    def backward_graph(self, grad_output, output):
        x, t = self.inputs
        grad = (x - t) * self._scale(grad_output, x.data.size)
        return (grad if x.requires_grad else None, -grad if t.requires_grad else None)


class SmoothL1LowPrecision(Op):
    """float16/bfloat16 smooth L1 loss: the element losses as given (the forward's rounding
    is the caller's), reduced as ``reduction``; torch's gradient, in float32 rounded once:
    d = x - t, -n g where d <= -beta, n g where d >= beta, else n d g / beta (n = 1/numel for
    the mean). A target that needs a gradient comes as a second input: dt = -dx (torch's
    smooth_l1_loss_backward with the operands swapped)."""

    def __init__(self, target, losses, reduction, beta):
        self.target, self.losses = target, losses
        self.reduction, self.beta = reduction, beta

    def forward(self, x, t=None):
        self.x = x
        return _weighted_reduce(self.losses, None, self.reduction, x.dtype)

    def backward(self, grad_output):
        x = self.x
        d = x.astype(np.float32) - self.target.astype(np.float32)
        # (an empty input's gradient is empty: no 1 / 0)
        norm = np.float32(1 / max(x.size, 1) if self.reduction == "mean" else 1)
        g = np.asarray(grad_output).astype(np.float32)
        grad = np.where(d <= -self.beta, -norm * g, np.where(
            d >= self.beta, norm * g, norm * d * g / np.float32(self.beta)))
        if len(self.inputs) == 1:
            return (grad.astype(x.dtype),)
        return (grad.astype(x.dtype) if self.inputs[0].requires_grad else None,
                (-grad).astype(x.dtype) if self.inputs[1].requires_grad else None)

    def backward_graph(self, grad_output, output):
        # backward's values (float32, rounded once), differentiable as torch's double backward:
        # n g / beta where |x - t| < beta, 0 elsewhere (and the slope by g)
        from dlpy.ops.mask import where

        x = self.inputs[0]
        t = self.inputs[1] if len(self.inputs) == 2 else Tensor(self.target)
        d = x - t
        small = np.abs(self.x.astype(np.float32) - self.target.astype(np.float32)) < self.beta
        slope = where(small, d * (1 / self.beta), np.sign(d.data).astype(d.data.dtype))
        norm = 1 / max(self.x.size, 1) if self.reduction == "mean" else 1
        composite = slope * grad_output * norm
        values = self.backward(grad_output.data)
        # (composite - its value) is exactly 0: the values stay backward's
        return tuple(None if v is None else (c - c.detach()) + Tensor(v)
                     for c, v in zip((composite, -composite), values))


class SoftMarginLowPrecision(Op):
    """float16/bfloat16 soft margin loss log(1 + exp(-y x)) in torch's kernel steps, each
    rounded to x's dtype, reduced as ``reduction``; dx = -y z / (1 + z) * g (/ n), z = exp(-y x)
    (torch's order: y z, times -1/n in x's dtype, over 1 + z, times g)."""

    def __init__(self, target, reduction):
        self.target, self.reduction = target, reduction

    def forward(self, x):
        self.x = x
        losses = np.log1p(np.exp((-self.target * x).astype(x.dtype)))
        return _weighted_reduce(losses, None, self.reduction, x.dtype)

    def backward(self, grad_output):
        x, t = self.x, self.target
        norm = 1 / max(x.size, 1) if self.reduction == "mean" else 1.0  # (empty: no 1 / 0)
        z = np.exp(-t * x)
        grad = (t * z).astype(x.dtype) * x.dtype.type(-norm)  # -1/n rounded too, as torch's
        grad = (grad / (z + 1)).astype(x.dtype)
        return ((grad * grad_output).astype(x.dtype),)

    def backward_graph(self, grad_output, output):
        # backward's values (torch's rounded steps), differentiable as torch's double backward:
        # -y sigmoid(-y x) g (/ n) composed, whose derivative is y^2 z / (1 + z)^2 g (/ n)
        x, y = self.inputs[0], self.target
        norm = 1 / max(self.x.size, 1) if self.reduction == "mean" else 1
        composite = (x * -y).sigmoid() * (-y * norm) * grad_output
        (value,) = self.backward(grad_output.data)
        return ((composite - composite.detach()) + Tensor(value),)  # (the difference is 0)


class BinaryCrossEntropy(Op):
    """loss = -w (t log(x) + (1 - t) log(1 - x)) with each log at least -100 (PyTorch's clamp:
    x = 0 or 1 costs 100, never inf), averaged or summed. PyTorch's gradients:
    dx = w (x - t) / max(x (1 - x), 1e-12) * g,  dt = -w log(x / (1 - x)) * g  (/ n)."""

    saves = (0, 1)  # torch's node saves self and target, not the loss (in-place checks)

    def __init__(self, reduction, weight=None):
        self.reduction, self.weight = reduction, weight

    def forward(self, x, t):
        self.x, self.t = x, t
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_rest = np.maximum(np.log1p(-x), -100)
        losses = (t - 1) * log_rest - t * log_x
        return _weighted_reduce(losses, self.weight, self.reduction, x.dtype)

    def backward(self, grad_output):
        x, t = self.x, self.t
        scale = grad_output / x.size if self.reduction == "mean" else grad_output
        if self.weight is not None:
            scale = scale * self.weight
        x_grad = t_grad = None
        if self.inputs[0].requires_grad:
            x_grad = _bce_input_grad(grad_output, x, t, self.weight, self.reduction)
        if self.inputs[1].requires_grad:
            with np.errstate(divide="ignore"):
                t_grad = -(np.log(x) - np.log1p(-x)) * scale
        return x_grad, t_grad

    def backward_graph(self, grad_output, output):
        # torch's: the input gradient is a node of its own (binary_cross_entropy_backward, its
        # derivatives torch's closed forms, below), the target's -logit(x) g (w) (/ n) of ops
        x, t = self.inputs
        x_grad = t_grad = None
        if x.requires_grad:
            x_grad = BinaryCrossEntropyBackward(self.reduction, self.weight)(grad_output, x, t)
        if t.requires_grad:
            t_grad = -logit(x) * grad_output
            if self.weight is not None:
                t_grad = t_grad * self.weight
            if self.reduction == "mean":
                t_grad = t_grad / x.data.size
        return x_grad, t_grad


def _bce_input_grad(grad_output, x, t, weight, reduction):
    """binary_cross_entropy's input gradient g (x - t) / max((1 - x) x, 1e-12) (w) (/ n), in
    torch's order (float16/bfloat16 round each step)."""
    x_grad = grad_output * (x - t) / np.maximum((1 - x) * x, _BCE_EPSILON)
    if weight is not None:  # then the weight, then the mean's 1/n
        x_grad = x_grad * weight
    if reduction == "mean":
        x_grad = x_grad / x.size
    return x_grad


class BinaryCrossEntropyBackward(Op):
    """binary_cross_entropy's input gradient as an op of (g, x, t), for create_graph, with
    torch's closed-form derivatives (eps = 1e-12 added where the first derivative clamps):
    d/dx = (x^2 - 2 x t + t) / ((x + eps)^2 (1 - x + eps)^2) gg g,
    d/dt = -gg g / max((1 - x) x, eps),  d/dg = (x - t) / ((x + eps) (1 - x + eps)) gg,
    each times w and / n as the loss (at x = 0 or 1 the clamped first derivative's
    derivatives are these, ~1e24 t, not the clamp's)."""

    saves = ("inputs",)

    def __init__(self, reduction, weight=None):
        self.reduction, self.weight = reduction, weight

    def forward(self, g, x, t):
        self.g, self.x, self.t = g, x, t
        return _bce_input_grad(g, x, t, self.weight, self.reduction)

    def _scaled(self, value):
        if self.weight is not None:
            value = value * self.weight
        return value / self.x.size if self.reduction == "mean" else value

    def backward(self, grad_output):
        g, x, t, eps = self.g, self.x, self.t, 1e-12
        need = [i.requires_grad for i in self.inputs]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g_grad = self._scaled((x - t) / ((x + eps) * (1 - x + eps)) * grad_output) \
                if need[0] else None
            x_grad = self._scaled((x * x - 2 * x * t + t) / ((x + eps) ** 2 * (1 - x + eps) ** 2)
                                  * (grad_output * g)) if need[1] else None
            t_grad = self._scaled(-grad_output * g / np.maximum((1 - x) * x, 1e-12)) \
                if need[2] else None
        return g_grad, x_grad, t_grad


@autocast_policy(FP32)
def binary_cross_entropy(input, target, weight=None, size_average=None,  # noqa: A002
                         reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities ``input`` (in [0, 1], e.g. from a sigmoid) against
    ``target`` (in [0, 1]) of the same shape, each log clamped at -100 as PyTorch's; ``weight``
    (broadcast to the input's shape) scales each element. reduction: "mean" (over every
    element), "sum" or "none". For logits use binary_cross_entropy_with_logits (stabler).
    Arguments in torch's order, with its deprecated size_average and reduce."""
    name = "binary_cross_entropy"
    weight, reduction = _weight_or_reduction(weight, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")
    shape = np.shape(input.data if isinstance(input, Tensor) else input)
    target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
    if target_shape != shape:
        raise ValueError(f"{name}: target {target_shape} must have the input's shape {shape}")
    if isinstance(input, Tensor) and isinstance(target, Tensor) and target.dtype != input.dtype:
        raise ArgDtypeError(f"{name}: target must have the input's dtype {input.dtype}, got "
                            f"{target.dtype}")  # as torch's
    if isinstance(input, Tensor) and input.dtype.kind in "biu":  # before the values, as torch's
        from dlpy.tensor import _TORCH_DTYPE_NAMES

        raise NoKernelError(f'"{name}" not implemented for '
                            f"'{_TORCH_DTYPE_NAMES.get(input.dtype.name, input.dtype.name)}'")
    for what, value in (("input", input), ("target", target)):
        data = np.asarray(value.data if isinstance(value, Tensor) else value)
        if data.size and not np.all((data >= 0) & (data <= 1)):
            nan = " (and nan)" if np.isnan(data).any() else ""
            raise ArgError(f"{name}: every {what} value must lie in [0, 1], got values from "
                             f"{np.nanmin(data)} to {np.nanmax(data)}{nan}")
    if weight is not None:
        refuse_gradient(name, "weight", weight)
        dtype = input.dtype if isinstance(input, Tensor) else np.result_type(input, np.float32)
        weight = _elementwise_weight(name, "weight", weight, shape, dtype)
    return BinaryCrossEntropy(reduction, weight)(input, target)


def _flat_labels(labels, classes: int):
    """The index of each row's label in the row-major flat scores (..., classes): row *
    classes + label, one index per row."""
    return np.arange(0, labels.size * classes, classes) + (
        labels if labels.ndim == 1 else labels.reshape(-1))


def _pick(values, labels):
    """values[..., labels[...]]: the entry of each row at its label, shaped like labels."""
    if values.ndim == 2:  # (batch, classes): no reshapes
        return values[np.arange(len(values)), labels]
    rows = values.reshape(-1, values.shape[-1])
    return rows[np.arange(len(rows)), labels.reshape(-1)].reshape(labels.shape)


# the unsigned dtype of each signed integer one (native byte order), for check_class_labels
_UNSIGNED = {np.dtype(f"i{size}"): np.dtype(f"u{size}") for size in (1, 2, 4, 8)}


def check_class_labels(name, shape, labels, ignore_index):
    """Integer labels for scores of ``shape`` (..., classes): -> (labels with ignored entries
    set to 0, boolean mask of the ignored ones or None). Shared by cross_entropy and nll_loss."""
    if type(ignore_index) is not int and (isinstance(ignore_index, bool) or not isinstance(
            ignore_index, (int, np.integer))):  # (type() first: isinstance costs more)
        raise ValueError(f"{name}: ignore_index must be an integer, got {ignore_index!r}")
    if len(shape) == 0 or shape[-1] == 0:
        raise ValueError(f"{name}: logits need a class axis (..., classes), got {shape}")
    if labels.shape != shape[:-1]:
        raise ArgError(
            f"{name}: integer labels must have shape {shape[:-1]} for logits {shape},"
            f" got {labels.shape}"
        )
    if labels.size and not 0 <= ignore_index < shape[-1] and (
            labels.dtype.kind == "u" or labels.dtype in _UNSIGNED):
        # every label a class (the common case), checked by one reduction: read as unsigned,
        # a negative label is larger than any class count (ufunc.reduce: no Python wrapper)
        unsigned = labels if labels.dtype.kind == "u" else labels.view(_UNSIGNED[labels.dtype])
        if np.maximum.reduce(unsigned, axis=None) < shape[-1]:
            return labels, None
    ignore = None
    ignored = labels == ignore_index
    if ignored.any():
        ignore = ignored
        labels = np.where(ignored, 0, labels)
    kept = labels[~ignored] if ignore is not None else labels
    if kept.size and (kept.min() < 0 or kept.max() >= shape[-1]):
        raise _LabelRangeError(
            f"{name}: labels must lie in [0, {shape[-1]}) or be ignore_index "
            f"({ignore_index}), got values from {kept.min()} to {kept.max()}"
        )
    return labels, ignore


def check_floating(name, what, x):
    """torch's losses take floating-point scores only."""
    if isinstance(x, Tensor) and x.dtype.kind in "biu":
        raise NoKernelError(f"{name}: expected floating-point {what}, got {x.dtype}")


class _LabelRangeError(ValueError, IndexError):
    """A class index outside [0, C) that is not ignore_index: torch's IndexError ("Target out
    of bounds"), and a ValueError."""


class LabelDtypeError(TypeError, RuntimeError):
    """Class indices of a dtype torch refuses: a TypeError, and torch's RuntimeError for code
    written against torch (``except RuntimeError``)."""


def check_label_dtype(name, labels, dtype):
    """torch's class indices are int64 or uint8 tensors (int32, int16, bool are refused; dlpy
    takes arrays of any integer dtype). ``labels`` as given, ``dtype`` its array's."""
    if dtype.kind == "b" or (type(labels) is not np.ndarray and isinstance(labels, Tensor)
                             and dtype not in (np.int64, np.uint8)):
        raise LabelDtypeError(f"{name}: expected class indices of dtype int64 or uint8, "
                              f"got {dtype}")


def check_weight_dtype(name, weight, dtype):
    """A class-weight tensor must have the scores' dtype, as torch's."""
    if isinstance(weight, Tensor) and weight.dtype != dtype:
        raise ArgDtypeError(f"{name}: weight must have the input's dtype {dtype}, got "
                            f"{weight.dtype}")


def refuse_gradient(function, argument, value):
    """torch's refusal of an argument its kernel has no derivative for (a class ``weight``, a
    BCE ``weight`` or ``pos_weight``): it must not require grad while recording."""
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        raise RuntimeError(f"The function '{function}' is not differentiable with respect to "
                           f"argument '{argument}'. This input cannot have requires_grad True.")


def check_weight_size(name, weight, classes):
    """torch's first check of a class weight: its size, before the labels' range."""
    size = np.size(getattr(weight, "data", weight)) if weight is not None else classes
    if size != classes:
        raise ShapeError(f"{name}: weight tensor should be defined either for all {classes} "
                         f"classes or no classes but got weight tensor of shape: "
                         f"{list(np.shape(getattr(weight, 'data', weight)))}")


def check_class_weight(name, weight, classes, dtype):
    """``weight=``: one finite number per class, as an array of ``dtype``."""
    weight = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if weight.shape != (classes,) or (  # (a meta weight has no values to check)
            not _meta.is_meta_array(weight) and not np.all(np.isfinite(weight))):
        raise ShapeError(f"{name}: weight must be {classes} finite numbers (one "
                         f"per class), got shape {weight.shape}")
    return weight.astype(dtype)


@autocast_policy(FP32)
def cross_entropy(logits, labels, reduction="mean", ignore_index=-100, label_smoothing=0.0,
                  weight=None):
    """Softmax cross-entropy of logits (..., classes) against integer labels (...) or
    probabilities (..., classes). reduction: "mean" (over the batch), "sum" or "none".

    As PyTorch: integer labels equal to ``ignore_index`` count nothing (loss 0, and the mean
    is over the other rows; nan if there are none); ``label_smoothing`` e in [0, 1] mixes the
    target with the uniform distribution, (1 - e) t + e / classes; ``weight`` (classes,)
    scales each class's terms (with labels, the mean is over the rows' label weights)."""
    name = "cross_entropy"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be mean, sum or none, got {reduction!r}")
    # as torch's: at most 1, and a negative value smooths nothing (type() tests first: an
    # isinstance that fails costs more)
    if type(label_smoothing) is not float and (isinstance(label_smoothing, bool) or not
                                               isinstance(label_smoothing, (int, float))) \
            or not label_smoothing <= 1.0:
        raise ShapeError(f"{name}: label_smoothing must be a number in [0, 1], got "
                         f"{label_smoothing!r}")
    if type(ignore_index) is not int and (isinstance(ignore_index, bool) or not isinstance(
            ignore_index, (int, np.integer))):
        raise ValueError(f"{name}: ignore_index must be an integer, got {ignore_index!r}")
    check_floating(name, "logits", logits)
    if _meta.live():  # a meta tensor beside a CPU one with dimensions: torch's device error
        _meta.check_together((logits, labels, weight))
    target = labels
    if type(labels) is not np.ndarray:
        labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    shape = logits.data.shape if isinstance(logits, Tensor) else np.shape(logits)
    ignore = None
    smoothing = max(float(label_smoothing), 0.0)
    if len(shape) == 0 or shape[-1] == 0:
        raise ArgError(f"{name}: logits need a class axis (..., classes), got {shape}")
    if labels.dtype.kind in "biu":
        check_label_dtype(name, target, labels.dtype)
        check_weight_size(name, weight, shape[-1])  # (before the labels, as torch's)
        labels, ignore = check_class_labels(name, shape, labels, ignore_index)
        if weight is not None:
            check_weight_dtype(name, weight, logits.dtype)
            refuse_gradient("nll_loss_forward", "weight", weight)
    elif labels.shape != shape:
        raise ShapeError(
            f"{name}: probability targets must have the logits' shape {shape}, "
            f"got {labels.shape}"
        )
    else:
        if ignore_index >= 0:  # (torch refuses a class index only: -1 and the like pass)
            raise ArgError(f"{name}: ignore_index is not supported for probability targets "
                           f"(floating point), got ignore_index={ignore_index}")
        dtype = np.result_type(logits.dtype, labels.dtype, *(
            [] if weight is None else [np.asarray(getattr(weight, "data", weight)).dtype]))
        # a wider target or weight: torch's log_softmax in the logits' dtype, then promoted by
        # the products (float16 logits' log-probabilities rounded to float16 first)
        wider = dtype.kind == "f" and dtype.itemsize > logits.dtype.itemsize
        # (and a narrower target's smoothing in its own dtype)
        wider = wider or smoothing and labels.dtype != logits.dtype
        if wider or isinstance(target, Tensor) and (
                target.requires_grad or _forward_ad_active()) or (
                isinstance(weight, Tensor) and weight.requires_grad):
            return _soft_cross_entropy(logits, target, reduction, smoothing, weight)
        labels = labels.astype(logits.dtype, copy=False)
    if weight is not None:
        weight = check_class_weight(name, weight, shape[-1], logits.dtype)
    op = SoftmaxCrossEntropy(labels, reduction, smoothing, ignore, weight)
    if ignore is not None:
        op.ignore_index = ignore_index  # (what saved_tensors_hooks see of the targets)
    return op(logits)


def _forward_ad_active():
    from dlpy import forward_ad

    return forward_ad.active()


def _soft_cross_entropy(logits, target, reduction, smoothing, weight):
    """Cross-entropy against probability targets that need gradients themselves: composed of
    log_softmax (d target = -(1 - e) w log_softmax(logits) g / n)."""
    from dlpy.ops.softmax import log_softmax

    classes = logits.shape[-1]
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target))
    # torch's composite: the smoothing in the target's dtype, log_softmax in the logits', and
    # the products promoted (a wider target or weight widens the loss)
    if smoothing:
        target = target * (1 - smoothing) + smoothing / classes
    terms = target * log_softmax(logits, -1)
    if weight is not None:
        from dlpy.ops.promotion import promote_types

        given = np.asarray(getattr(weight, "data", weight)).dtype
        dtype = promote_types(logits.dtype, given) if given.kind == "f" else logits.dtype
    if isinstance(weight, Tensor) and weight.requires_grad:  # a differentiable weight, as torch's
        check_class_weight("cross_entropy", weight, classes, dtype)
        terms = terms * weight.astype(dtype)
    elif weight is not None:
        terms = terms * Tensor(check_class_weight("cross_entropy", weight, classes, dtype))
    # torch's composite's order, so its last node (grad_fn) is torch's: the negation of the
    # sum over classes, of the whole sum, or the whole sum's negation over the rows' count
    if reduction == "none":
        return -terms.sum(-1)
    if reduction == "sum":
        return -terms.sum()
    rows = terms.data.size // classes if classes else 0
    if not rows:  # an empty batch's mean: nan, as torch's (its sum filled with nan, negated)
        return -(terms.sum() * float("nan"))
    from dlpy.node_names import named

    return named(-terms.sum() / rows, "DivBackward1")  # torch's division by a number
