"""Reductions: sum, mean, max over an axis (or axes, or everything)."""

import numpy as np

from dlpy.tensor import Op


def _normalize_axis(name, axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{name}: axis {a} is out of range for a tensor with {ndim} axes")
        out.append(int(a) % max(ndim, 1))
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


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the name users expect
    return Sum(_normalize_axis("sum", axis, np.ndim(x.data)), keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(_normalize_axis("mean", axis, np.ndim(x.data)), keepdims)(x)


def max(x, axis=None, keepdims=False):  # noqa: A001
    if np.size(x.data) == 0:
        raise ValueError("max: the tensor is empty")
    return Max(_normalize_axis("max", axis, np.ndim(x.data)), keepdims)(x)
