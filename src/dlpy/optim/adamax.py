"""torch.optim.adamax, the module PyTorch keeps Adamax in
(``from torch.optim.adamax import Adamax``): dlpy.optim.adaptive's Adamax,
the same class as ``dlpy.optim.Adamax``.
``adamax`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import adamax
from dlpy.optim.adaptive import Adamax

__all__ = ["Adamax", "adamax"]
