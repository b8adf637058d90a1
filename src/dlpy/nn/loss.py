"""Loss modules with PyTorch's names: each calls its function in dlpy.functional."""

from __future__ import annotations

from dlpy import functional as F
from dlpy.nn.module import Module
from dlpy.tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"{type(self).__name__}: reduction must be mean, sum or none, got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """loss(logits (..., classes), target): integer class labels (...) or probabilities
    (..., classes); log-softmax and negative log-likelihood in one fused op."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002 - PyTorch's name
        return F.cross_entropy(input, target, self.reduction)


class MSELoss(_Loss):
    """loss(prediction, target) = mean (sum) of (prediction - target)^2; same shapes."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """loss(prediction, target) = mean (sum) of |prediction - target|; same shapes."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """loss(logits, target probabilities) of the same shape: sigmoid + binary cross-entropy,
    stable for large |logits|."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)
