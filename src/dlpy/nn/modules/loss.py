"""``torch.nn.modules.loss``: the losses and their bases, ``_Loss`` (``reduction``, from the legacy
size_average / reduce too) and ``_WeightedLoss`` (its ``weight`` buffer) (dlpy.nn.loss's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.distance import PairwiseDistance  # noqa: F401
from dlpy.nn.linear import Linear  # noqa: F401
from dlpy.nn.linear_cross_entropy import LinearCrossEntropyLoss
from dlpy.nn.loss import (  # noqa: F401
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    CTCLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    NLLLoss2d,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
    TripletMarginWithDistanceLoss,
    _Loss,
    _WeightedLoss,
)
from dlpy.nn.module import Module  # noqa: F401
from dlpy.ops.linear_cross_entropy import LinearCrossEntropyOptions  # noqa: F401

__all__ = [
    "L1Loss", "NLLLoss", "NLLLoss2d", "PoissonNLLLoss", "GaussianNLLLoss", "KLDivLoss", "MSELoss",
    "BCELoss", "BCEWithLogitsLoss", "HingeEmbeddingLoss", "MultiLabelMarginLoss", "SmoothL1Loss",
    "HuberLoss", "SoftMarginLoss", "CrossEntropyLoss", "LinearCrossEntropyLoss",
    "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "MultiMarginLoss",
    "TripletMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss",
]
