"""Selecting by a constant boolean mask: where / masked fill, and dropout."""

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Op, Tensor


class Where(Op):
    """y = a where condition else b;  da = g where condition, db = g elsewhere."""

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return np.where(self.condition, a, b)

    def backward(self, grad_output):
        zero = np.zeros((), dtype=grad_output.dtype)
        return (
            np.where(self.condition, grad_output, zero),
            np.where(self.condition, zero, grad_output),
        )


class Dropout(Op):
    """y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p);  dx = g * mask / (1 - p)."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, x):
        self.scale = self.scale.astype(x.dtype, copy=False)
        return x * self.scale

    def backward(self, grad_output):
        return (grad_output * self.scale,)


def where(condition, a, b):
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got {condition.dtype}")
    shapes = [np.shape(getattr(v, "data", v)) for v in (condition, a, b)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"where: shapes {shapes} cannot be broadcast together") from None
    return Where(condition)(a, b)


def masked_fill(x, mask, value):
    """x with value wherever mask (broadcast to x's shape) is True."""
    x_shape = np.shape(x.data if isinstance(x, Tensor) else x)
    mask_shape = np.shape(mask.data if isinstance(mask, Tensor) else mask)
    try:
        fits = np.broadcast_shapes(mask_shape, x_shape) == x_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask {mask_shape} does not broadcast to x {x_shape}")
    return where(mask, value, x)


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not
    training or p == 0. rng: a numpy Generator (None: the default one, dlpy.manual_seed)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    rng = get_rng(rng)
    keep = rng.random(x.shape) >= p
    return Dropout(keep / (1.0 - p))(x)
