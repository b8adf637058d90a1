"""Loss modules with PyTorch's names: each calls its function in dlpy.functional."""

from __future__ import annotations

from dlpy import functional as F
from dlpy.nn.module import Module
from dlpy.tensor import Tensor


class _Loss(Module):
    reductions = ("mean", "sum", "none")

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in self.reductions:
            raise ValueError(
                f"{type(self).__name__}: reduction must be {', '.join(self.reductions[:-1])} or "
                f"{self.reductions[-1]}, got {reduction!r}"
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


class NLLLoss(_Loss):
    """loss(log-probabilities (..., classes), integer labels (...)): -log_probs at each label;
    ``ignore_index`` and ``weight`` as CrossEntropyLoss (``F.nll_loss``)."""

    def __init__(self, weight=None, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.reduction, self.ignore_index, self.weight)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        if self.ignore_index != -100:
            extra += f", ignore_index={self.ignore_index}"
        return extra


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (``F.smooth_l1_loss``)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, beta={self.beta}"


class HuberLoss(_Loss):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2) (``F.huber_loss``)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, delta={self.delta}"


class KLDivLoss(_Loss):
    """loss(log-probabilities, target probabilities (log-probabilities with ``log_target``)):
    target * (log target - input); reduction "batchmean" gives the KL per sample
    (``F.kl_div``)."""

    reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.kl_div(input, target, self.reduction, self.log_target)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, log_target={self.log_target}"
