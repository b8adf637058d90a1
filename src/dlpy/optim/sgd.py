"""torch.optim.sgd, the module PyTorch keeps SGD in
(``from torch.optim.sgd import SGD``): dlpy.optim.optimizer's SGD,
the same class as ``dlpy.optim.SGD``.
``sgd`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import sgd
from dlpy.optim.optimizer import SGD

__all__ = ["SGD", "sgd"]
