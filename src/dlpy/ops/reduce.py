"""Reductions: sum, mean, max, min, logsumexp, var, std and p-norms over an axis (or axes, or
everything), and the weighted sum of squares (a ridge penalty in one op)."""

import math

import numpy as np

from dlpy.ops import broadcasts_to, real_number
from dlpy.tensor import Op, Tensor


def _normalize_axis(name, axis, ndim):
    """axis (None, an int or a sequence of ints) -> a tuple of distinct non-negative axes.
    (This module defines sum and max, so it must not call the builtins of those names.)"""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
        if ndim == 0 and a in (0, -1):  # a scalar's one pseudo-axis, as in PyTorch
            continue
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor with {ndim} axes")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: axis {axis!r} names an axis twice")
    return tuple(out)


class Sum(Op):
    """y = sum of x over axes;  dx = g broadcast back over those axes."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.shape = x.shape
        return np.sum(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        return (np.broadcast_to(grad_output, self.shape),)


class Mean(Sum):
    """y = mean of x over axes;  dx = g / n broadcast back."""

    def forward(self, x):
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        self.shape = x.shape
        return np.mean(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad_output):
        (grad,) = super().backward(grad_output)
        return (grad / np.asarray(self.count, dtype=grad.dtype),)


class Max(Op):
    """y = max of x over axes;  dx = g shared equally among the positions that reach the max."""

    reduce = staticmethod(np.max)

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        y = self.reduce(x, axis=self.axes, keepdims=True)
        self.mask = x == y
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        count = self.mask.sum(axis=self.axes, keepdims=True)
        return (grad_output * self.mask / count,)


class Min(Max):
    """y = min of x over axes;  dx = g shared equally among the positions that reach the min."""

    reduce = staticmethod(np.min)


class LogSumExp(Op):
    """y = log(sum(exp(x))) over axes, computed as m + log(sum(exp(x - m))) with m the max;
    dx = g * softmax(x), kept from the forward pass (exp(x - y) would lose float32's digits
    when |y| is large): the fused, stable form."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        # initial=-inf: an empty axis sums to 0 and gives -inf, as PyTorch
        m = np.max(x, axis=self.axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)  # a row of -inf (or a +inf) must not make inf - inf
        probs = np.exp(x - m)
        total = probs.sum(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (np.log(total) + m).astype(x.dtype, copy=False)
            probs /= total  # nan on a row of -inf or with a +inf, as PyTorch's gradient
        self.probs = probs
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        return (grad_output * self.probs,)


class Var(Op):
    """y = sum((x - mean)^2) / max(0, n - correction) over axes;  dx = 2 (x - mean) g / that.
    n - correction <= 0 gives inf (or nan when every deviation is 0), as PyTorch."""

    root = False

    def __init__(self, axes, keepdims, correction):
        self.axes, self.keepdims, self.correction = axes, keepdims, correction

    def forward(self, x):
        dof = math.prod(x.shape[a] for a in self.axes) - self.correction
        self.dof = x.dtype.type(dof if dof > 0 else 0)  # max(0, dof): this module shadows max
        self.deviation = x - x.mean(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.square(self.deviation).sum(axis=self.axes, keepdims=True) / self.dof
            if self.root:
                y = np.sqrt(y)
        self.y = y
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.root:  # d std = d var / (2 std), and 0 where std = 0, as PyTorch
                scale = np.where(self.y == 0, 0, grad_output / (self.y * self.dof))
            else:
                scale = grad_output * (2 / self.dof)
            return (self.deviation * scale,)


class Std(Var):
    """y = sqrt(var(x));  dx = (x - mean) g / (std * (n - correction)), 0 where std is 0."""

    root = True


class Norm(Op):
    """y = (sum |x|^p)^(1/p) over axes (p = inf: max |x|);  dx = g sign(x) |x|^(p-1) / y^(p-1),
    p = 2: g x / y; p = inf: g sign(x) shared among the positions that reach the max. Where
    y = 0 the gradient is 0 (as PyTorch), so normalising a zero vector gives no nan."""

    def __init__(self, p, axes, keepdims):
        self.p, self.axes, self.keepdims = p, axes, keepdims

    def forward(self, x):
        p, axes, magnitude = self.p, self.axes, np.abs(x)
        if p == math.inf:
            y = np.max(magnitude, axis=axes, keepdims=True, initial=0)
        elif p == 1:
            y = magnitude.sum(axis=axes, keepdims=True)
        elif p == 2:
            y = np.sqrt(np.square(x).sum(axis=axes, keepdims=True))
        else:
            y = (magnitude ** p).sum(axis=axes, keepdims=True) ** (1 / p)
        self.x, self.y = x, y.astype(x.dtype, copy=False)
        return self.y if self.keepdims else np.squeeze(self.y, axis=axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        p, x, y = self.p, self.x, self.y
        if p == math.inf:
            at_max = np.abs(x) == y
            return (np.sign(x) * at_max * (grad_output / at_max.sum(axis=self.axes,
                                                                   keepdims=True)),)
        if p == 1:
            return (np.sign(x) * grad_output,)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(y == 0, 0, grad_output / (y if p == 2 else y ** (p - 1)))
            if p == 2:
                return (x * scale,)
            magnitude = np.abs(x)
            # sign(x) |x|^(p-1), with 0^(negative) taken as 0 where x is 0 (p < 1)
            powered = np.where(magnitude == 0, 0, magnitude ** (p - 1))
            return (np.sign(x) * powered * scale,)


class SumOfSquares(Op):
    """y = sum(w * x^2) over everything, w a constant broadcast to x;  dx = 2 w x g.

    One op instead of sum(x * x * w): two passes over x forward and one backward instead of
    three temporaries and the gradient of a product (a ridge penalty on a large weight matrix
    is evaluated every step)."""

    def __init__(self, weight):
        self.weight = weight

    def forward(self, x):
        self.x = x
        w = self.weight
        if w is None:
            return np.asarray(np.vdot(x, x), dtype=x.dtype)
        return np.asarray(np.vdot(x * w, x), dtype=x.dtype)

    def backward(self, grad_output):
        scale = 2.0 * np.asarray(grad_output, dtype=self.x.dtype)
        # the small weight array is scaled, then x multiplied once
        return (self.x * (scale if self.weight is None else self.weight * scale),)


def sum_of_squares(x, weight=None):
    """sum(weight * x ** 2) as a scalar; `weight` (a constant: number or array that broadcasts to
    x without changing its shape) defaults to 1."""
    shape = _shape(x)
    if weight is not None:
        weight = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
        if not broadcasts_to(weight.shape, shape):
            raise ValueError(f"sum_of_squares: weight of shape {weight.shape} does not "
                             f"broadcast to x's shape {shape}")
        dtype = np.asarray(x.data if isinstance(x, Tensor) else x).dtype
        weight = weight.astype(dtype if dtype.kind == "f" else np.float32, copy=False)
    return SumOfSquares(weight)(x)


def _shape(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the name users expect
    return Sum(_normalize_axis("sum", axis, len(_shape(x))), keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(_normalize_axis("mean", axis, len(_shape(x))), keepdims)(x)


def max(x, axis=None, keepdims=False):  # noqa: A001
    shape = _shape(x)
    axes = _normalize_axis("max", axis, len(shape))
    if 0 in shape and (axis is None or any(shape[a] == 0 for a in axes)):
        raise ValueError(f"max: cannot take the max over an empty axis of shape {shape}")
    return Max(axes, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001
    shape = _shape(x)
    axes = _normalize_axis("min", axis, len(shape))
    if 0 in shape and (axis is None or any(shape[a] == 0 for a in axes)):
        raise ValueError(f"min: cannot take the min over an empty axis of shape {shape}")
    return Min(axes, keepdims)(x)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over axis (None: every axis), without overflow; -inf over an empty axis."""
    return LogSumExp(_normalize_axis("logsumexp", axis, len(_shape(x))), keepdims)(x)


def _correction(name, correction, unbiased):
    """PyTorch's correction (default 1, Bessel's) or its older unbiased=True/False."""
    if unbiased is not None:
        if correction is not None:
            raise ValueError(f"{name}: give correction or unbiased, not both")
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{name}: unbiased must be True or False, got {unbiased!r}")
        return float(unbiased)
    return 1.0 if correction is None else real_number(name, "correction", correction)


def var(x, axis=None, *, keepdims=False, correction=None, unbiased=None):
    """Variance over axis (None: every axis): sum((x - mean)^2) / (n - correction), correction 1
    by default (unbiased=False is correction 0), as torch.var. keepdims is keyword-only: a
    second positional argument of torch's older var(dim, unbiased) must not pass silently."""
    axes = _normalize_axis("var", axis, len(_shape(x)))
    return Var(axes, keepdims, _correction("var", correction, unbiased))(x)


def std(x, axis=None, *, keepdims=False, correction=None, unbiased=None):
    """sqrt(var(x, axis, keepdims, correction)), as torch.std; its gradient is 0 where std is 0."""
    axes = _normalize_axis("std", axis, len(_shape(x)))
    return Std(axes, keepdims, _correction("std", correction, unbiased))(x)


def norm(x, p=2, axis=None, keepdims=False):
    """The p-norm (sum |x|^p)^(1/p) over axis (None: every axis, flattened), p > 0 or inf, as
    torch.linalg.vector_norm; the gradient at a zero vector is 0."""
    p = real_number("norm", "p", p, finite=False)
    if not p > 0:
        raise ValueError(f"norm: p must be positive (or inf), got {p}")
    return Norm(p, _normalize_axis("norm", axis, len(_shape(x))), keepdims)(x)
