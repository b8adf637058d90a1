"""torch.optim.rprop, the module PyTorch keeps Rprop in
(``from torch.optim.rprop import Rprop``): dlpy.optim.adaptive's Rprop,
the same class as ``dlpy.optim.Rprop``."""

from dlpy.optim.adaptive import Rprop

__all__ = ["Rprop"]
