"""torch.utils.data.distributed: the DistributedSampler (dlpy.distributed's)."""

from dlpy.distributed.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
