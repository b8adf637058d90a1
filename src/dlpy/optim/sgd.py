"""torch.optim.sgd, the module PyTorch keeps SGD in
(``from torch.optim.sgd import SGD``): dlpy.optim.optimizer's SGD,
the same class as ``dlpy.optim.SGD``."""

from dlpy.optim.optimizer import SGD

__all__ = ["SGD"]
