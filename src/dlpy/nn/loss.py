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
    (..., classes); log-softmax and negative log-likelihood in one fused op. Labels equal to
    ``ignore_index`` count nothing; ``label_smoothing`` mixes in the uniform distribution
    (``F.cross_entropy``)."""

    def __init__(self, weight=None, reduction: str = "mean", ignore_index: int = -100,
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight = weight
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002 - PyTorch's name
        return F.cross_entropy(input, target, self.reduction, self.ignore_index,
                               self.label_smoothing, self.weight)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        if self.ignore_index != -100:
            extra += f", ignore_index={self.ignore_index}"
        if self.label_smoothing:
            extra += f", label_smoothing={self.label_smoothing}"
        return extra


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
