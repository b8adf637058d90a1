"""``torch.nn.modules.distance``: PairwiseDistance and CosineSimilarity (dlpy.nn.distance's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.distance import (
    CosineSimilarity,
    PairwiseDistance,
)
from dlpy.nn.module import Module  # noqa: F401

__all__ = [
    "PairwiseDistance", "CosineSimilarity",
]
