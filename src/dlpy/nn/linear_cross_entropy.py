"""nn.LinearCrossEntropyLoss: a Linear head and softmax cross-entropy in one module, chunked
when given LinearCrossEntropyOptions (F.linear_cross_entropy)."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.nn.linear import Linear
from dlpy.nn.loss import _WeightedLoss
from dlpy.ops.linear_cross_entropy import LinearCrossEntropyOptions
from dlpy.tensor import Tensor

__all__ = ["LinearCrossEntropyLoss", "LinearCrossEntropyOptions"]


class LinearCrossEntropyLoss(_WeightedLoss):
    """loss(input (N, in_features), target) = cross_entropy(self.linear(input), target).

    ``self.linear`` is a Linear(in_features, num_classes * prod(out_features)) whose weight
    (and bias) are reshaped to (num_classes, *out_features, in_features) for a K-dimensional
    loss, as torch's; ``weight`` (num_classes,) a buffer, as torch's _WeightedLoss;
    ``options``: see F.linear_cross_entropy.
    """

    def __init__(self, in_features: int, num_classes: int, *, out_features: tuple = (),
                 bias: bool = False, dtype=None, reduction: str = "mean", weight=None,
                 ignore_index: int | None = None, label_smoothing: float = 0.0,
                 options: LinearCrossEntropyOptions | None = None, rng=None):
        if weight is not None and np.shape(weight.data if isinstance(weight, Tensor)
                                            else weight) != (num_classes,):
            raise ValueError(f"LinearCrossEntropyLoss: expected weight shape {(num_classes,)}, "
                             f"got {np.shape(getattr(weight, 'data', weight))}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError("LinearCrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        super().__init__(weight, reduction=reduction)
        self.num_classes, self.out_features = num_classes, tuple(out_features)
        self.ignore_index = ignore_index
        self.label_smoothing, self.options = label_smoothing, options
        self.linear = Linear(in_features, math.prod(self.out_features, start=num_classes),
                             bias=bias, rng=rng, dtype=dtype)

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002 - PyTorch's name
        shape = (self.num_classes, *self.out_features)
        linear_bias = None if self.linear.bias is None else self.linear.bias.reshape(shape)
        return F.linear_cross_entropy(
            input, self.linear.weight.reshape(*shape, self.linear.in_features), target,
            linear_bias=linear_bias, weight=self.weight, reduction=self.reduction,
            ignore_index=self.ignore_index, label_smoothing=self.label_smoothing,
            options=self.options)

    def extra_repr(self) -> str:
        return (f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
                f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")
