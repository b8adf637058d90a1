"""torch.optim.rmsprop, the module PyTorch keeps RMSprop in
(``from torch.optim.rmsprop import RMSprop``): dlpy.optim.adaptive's RMSprop,
the same class as ``dlpy.optim.RMSprop``.
``rmsprop`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import rmsprop
from dlpy.optim.adaptive import RMSprop

__all__ = ["RMSprop", "rmsprop"]
