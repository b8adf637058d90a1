"""torch.nn.parallel: ``DistributedDataParallel`` (dlpy.distributed's, over MPI),
``DataParallel`` (one CPU device: it calls the module) and ``data_parallel`` (the function,
which shadows its module's name, as torch's: torch's RuntimeError without a GPU)."""

from dlpy.distributed.ddp import DistributedDataParallel
from dlpy.nn.parallel.data_parallel import DataParallel
from dlpy.nn.parallel.data_parallel import data_parallel as _data_parallel

data_parallel = _data_parallel  # the attribute is the function (torch's), the module stays
# importable as dlpy.nn.parallel.data_parallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
