"""torch.optim.rmsprop, the module PyTorch keeps RMSprop in
(``from torch.optim.rmsprop import RMSprop``): dlpy.optim.adaptive's RMSprop,
the same class as ``dlpy.optim.RMSprop``."""

from dlpy.optim.adaptive import RMSprop

__all__ = ["RMSprop"]
