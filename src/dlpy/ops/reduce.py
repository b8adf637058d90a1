"""Reductions: sum, mean, max over an axis (or axes, or everything), and the weighted sum of
squares (a ridge penalty in one op)."""

import numpy as np

from dlpy.ops import broadcasts_to
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

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        y = np.max(x, axis=self.axes, keepdims=True)
        self.mask = x == y
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        count = self.mask.sum(axis=self.axes, keepdims=True)
        return (grad_output * self.mask / count,)


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
