"""torch.utils.data.sampler's names (``from torch.utils.data.sampler import Sampler``):
dlpy.data.dataset's samplers."""

from dlpy.data.dataset import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]
