"""torch.optim.asgd, the module PyTorch keeps ASGD in
(``from torch.optim.asgd import ASGD``): dlpy.optim.adaptive's ASGD,
the same class as ``dlpy.optim.ASGD``.
``asgd`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import asgd
from dlpy.optim.adaptive import ASGD

__all__ = ["ASGD", "asgd"]
