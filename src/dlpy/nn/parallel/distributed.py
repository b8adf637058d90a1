"""torch.nn.parallel.distributed: where torch defines DistributedDataParallel."""

from dlpy.distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
