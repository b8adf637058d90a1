"""torch.optim.adamax, the module PyTorch keeps Adamax in
(``from torch.optim.adamax import Adamax``): dlpy.optim.adaptive's Adamax,
the same class as ``dlpy.optim.Adamax``."""

from dlpy.optim.adaptive import Adamax

__all__ = ["Adamax"]
