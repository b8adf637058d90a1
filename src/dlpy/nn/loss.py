"""Loss modules with PyTorch's names and arguments (its deprecated size_average and reduce
included): each calls its function in dlpy.functional."""

from __future__ import annotations

from dlpy import functional as F
from dlpy.nn.distance import PairwiseDistance
from dlpy.nn.module import Module
from dlpy.ops.loss import _legacy_reduction
from dlpy.tensor import Tensor


class _Loss(Module):
    """The losses' base (torch's ``_Loss``): ``reduction``, from torch's deprecated
    size_average and reduce where either is given (with its warning). dlpy's losses refuse an
    unknown reduction here; a loss defined outside dlpy (a subclass with reductions of its own)
    keeps any, as torch's base."""

    reductions = ("mean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce, reduction)
        # torch's deprecated spelling of "mean" is kept as given; the function warns on it
        if type(self).__module__.startswith("dlpy.") and reduction not in self.reductions \
                and reduction != "elementwise_mean":
            raise ValueError(
                f"{type(self).__name__}: reduction must be {', '.join(self.reductions[:-1])} or "
                f"{self.reductions[-1]}, got {reduction!r}"
            )
        self.reduction = reduction

    def _weight_buffer(self, name: str, weight) -> None:
        """weight (or pos_weight) a buffer, as torch's: in state_dict, moved by .to/.double; a
        list stays a plain attribute."""
        if weight is None or isinstance(weight, Tensor) or hasattr(weight, "__array__"):
            self.register_buffer(name, weight)
        else:
            setattr(self, name, weight)


class _WeightedLoss(_Loss):
    """A loss with a ``weight`` (torch's ``_WeightedLoss``): a buffer (None, or a Tensor: in
    state_dict, moved by .to/.double), then torch's size_average, reduce and reduction."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """loss(logits (..., classes), target): integer class labels (...) or probabilities
    (..., classes); log-softmax and negative log-likelihood in one fused op. Labels equal to
    ``ignore_index`` count nothing; ``label_smoothing`` mixes in the uniform distribution
    (``F.cross_entropy``)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002 - PyTorch's name
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class MSELoss(_Loss):
    """loss(prediction, target) = mean (sum) of (prediction - target)^2; same shapes."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """loss(prediction, target) = mean (sum) of |prediction - target|; same shapes."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


def _weight(name: str, weight):
    """A weight array (or Tensor) as given; a string is the old positional reduction."""
    if isinstance(weight, str):
        raise TypeError(f"{name}: the first argument is weight, as PyTorch's; got {weight!r} "
                        f"(write reduction={weight!r})")
    return weight


class BCEWithLogitsLoss(_Loss):
    """loss(logits, target probabilities) of the same shape: sigmoid + binary cross-entropy,
    stable for large |logits|; ``weight`` scales each element, ``pos_weight`` the positive
    term (one per class, broadcast along the last axis) (``F.binary_cross_entropy_with_logits``).
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self._weight_buffer("weight", _weight("BCEWithLogitsLoss", weight))
        self._weight_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class NLLLoss(_WeightedLoss):
    """loss(log-probabilities (..., classes), integer labels (...)): -log_probs at each label;
    ``ignore_index`` and ``weight`` as CrossEntropyLoss (``F.nll_loss``)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)



class NLLLoss2d(NLLLoss):
    """torch.nn.NLLLoss2d (deprecated: warns a FutureWarning): NLLLoss."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        import warnings

        warnings.warn("NLLLoss2d has been deprecated. Please use NLLLoss instead as a drop-in "
                      "replacement and see https://pytorch.org/docs/main/nn.html#torch.nn."
                      "NLLLoss for more details.", FutureWarning, stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)

class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (``F.smooth_l1_loss``)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2) (``F.huber_loss``)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """loss(log-probabilities, target probabilities (log-probabilities with ``log_target``)):
    target * (log target - input); reduction "batchmean" gives the KL per sample
    (``F.kl_div``)."""

    reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class BCELoss(_WeightedLoss):
    """loss(probabilities, targets in [0, 1]) of the same shape: binary cross-entropy with each
    log clamped at -100, as PyTorch's; ``weight`` scales each element
    (``F.binary_cross_entropy``)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_weight("BCELoss", weight), size_average, reduce, reduction)

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class _MarginLoss(_Loss):
    """A loss with one setting, ``margin``, before torch's size_average, reduce, reduction."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class MarginRankingLoss(_MarginLoss):
    """loss(x1, x2, y) = max(0, -y (x1 - x2) + margin) (``F.margin_ranking_loss``)."""

    def forward(self, input1: Tensor, input2: Tensor, target) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """loss(x, y) = x where y is 1, max(0, margin - x) where y is -1
    (``F.hinge_embedding_loss``)."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """loss(x, y) = log(1 + exp(-y x)) for labels y = +-1 (``F.soft_margin_loss``)."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """loss(x1, x2, y) = 1 - cos(x1, x2) where y is 1, max(0, cos(x1, x2) - margin) where y is
    -1 (``F.cosine_embedding_loss``)."""

    def forward(self, input1: Tensor, input2: Tensor, target) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, self.margin,
                                       reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """loss(anchor, positive, negative) = max(0, margin + d(a, p) - d(a, n)) with the
    pairwise p-norm distance; ``swap`` uses min(d(a, n), d(p, n)) (``F.triplet_margin_loss``).
    PyTorch's arguments in its order (margin, p, eps, swap, size_average, reduce, reduction)."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:  # (torch's check, at construction)
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                     self.swap, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """loss(logits (N, C), 0/1 labels (N, C)): the binary cross-entropy of each class, times
    ``weight``, averaged over the classes (``F.multilabel_soft_margin_loss``)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_weight("MultiLabelSoftMarginLoss", weight), size_average, reduce,
                         reduction)

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.multilabel_soft_margin_loss(input, target, self.weight,
                                             reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """loss(scores (N, C), labels (N,)): the multi-class hinge loss, sum over j != y of
    max(0, margin - x[y] + x[j])^p / C, times weight[y] (``F.multi_margin_loss``). PyTorch's
    arguments in its order (p, margin, weight, size_average, reduce, reduction)."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                 reduce=None, reduction: str = "mean"):
        _Loss.__init__(self, size_average, reduce, reduction)
        if isinstance(p, bool) or p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: p must be 1 or 2, got {p!r}")
        if weight is not None and hasattr(weight, "ndim") and weight.ndim != 1:  # torch's words
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got "
                             f"{weight.ndim}D instead")
        self.p, self.margin = p, margin
        self._weight_buffer("weight", _weight("MultiMarginLoss", weight))

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                   reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """loss(input, counts): the Poisson negative log-likelihood, exp(input) - y input
    (``log_input``) or input - y log(input + eps); ``full`` adds Stirling's term where y > 1
    (``F.poisson_nll_loss``); PyTorch's arguments in its order."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target) -> Tensor:
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """loss(input, target, var): 0.5 (log v + (input - target)^2 / v), v = max(var, eps)
    (``F.gaussian_nll_loss``, with its rules for var's shape). All keywords, as PyTorch's."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target, var) -> Tensor:  # noqa: A002
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class CTCLoss(_Loss):
    """loss(log_probs (T, N, C), targets, input_lengths, target_lengths): connectionist
    temporal classification, -log p(target | input) summed over the alignments
    (``F.ctc_loss``); "mean" divides each loss by its target length before averaging."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs: Tensor, targets, input_lengths, target_lengths) -> Tensor:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)


class MultiLabelMarginLoss(_Loss):
    """loss(scores (N, C), targets (N, C) of class indices up to the first -1): the
    multi-label hinge loss (``F.multilabel_margin_loss``)."""

    def forward(self, input: Tensor, target) -> Tensor:  # noqa: A002
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """loss(anchor, positive, negative) = max(0, margin + d(a, p) - d(a, n)) with any distance
    function (default F.pairwise_distance) (``F.triplet_margin_with_distance_loss``)."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:  # torch's words
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater "
                             f"than 0, got {margin} instead")
        # the default distance a submodule, as torch's (shown by repr)
        self.distance_function = distance_function if distance_function is not None \
            else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)

