"""torch.optim.radam, the module PyTorch keeps RAdam in
(``from torch.optim.radam import RAdam``): dlpy.optim.adaptive's RAdam,
the same class as ``dlpy.optim.RAdam``.
``radam`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import radam
from dlpy.optim.adaptive import RAdam

__all__ = ["RAdam", "radam"]
