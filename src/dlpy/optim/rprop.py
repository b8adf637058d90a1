"""torch.optim.rprop, the module PyTorch keeps Rprop in
(``from torch.optim.rprop import Rprop``): dlpy.optim.adaptive's Rprop,
the same class as ``dlpy.optim.Rprop``.
``rprop`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import rprop
from dlpy.optim.adaptive import Rprop

__all__ = ["Rprop", "rprop"]
