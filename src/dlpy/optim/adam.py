"""torch.optim.adam, the module PyTorch keeps Adam in
(``from torch.optim.adam import Adam``): dlpy.optim.optimizer's Adam,
the same class as ``dlpy.optim.Adam``.
``adam`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import adam
from dlpy.optim.optimizer import Adam

__all__ = ["Adam", "adam"]
