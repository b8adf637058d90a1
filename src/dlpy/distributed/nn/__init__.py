"""torch.distributed.nn's differentiable collectives: ``dlpy.distributed.nn.functional``."""

from dlpy.distributed.nn import functional

__all__ = ["functional"]
