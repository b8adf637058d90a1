"""torch.nn.parallel: ``DistributedDataParallel`` (dlpy.distributed's, over MPI) and
``DataParallel`` (one CPU device: it calls the module)."""

from dlpy.distributed.ddp import DistributedDataParallel
from dlpy.nn.parallel.data_parallel import DataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
