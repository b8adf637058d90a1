"""torch.optim.asgd, the module PyTorch keeps ASGD in
(``from torch.optim.asgd import ASGD``): dlpy.optim.adaptive's ASGD,
the same class as ``dlpy.optim.ASGD``."""

from dlpy.optim.adaptive import ASGD

__all__ = ["ASGD"]
