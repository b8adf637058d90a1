"""torch.distributed.optim's name: ``dlpy.distributed.optim.ZeroRedundancyOptimizer``."""

from dlpy.distributed.zero import ZeroRedundancyOptimizer

__all__ = ["ZeroRedundancyOptimizer"]
