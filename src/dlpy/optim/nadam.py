"""torch.optim.nadam, the module PyTorch keeps NAdam in
(``from torch.optim.nadam import NAdam``): dlpy.optim.adaptive's NAdam,
the same class as ``dlpy.optim.NAdam``.
``nadam`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import nadam
from dlpy.optim.adaptive import NAdam

__all__ = ["NAdam", "nadam"]
