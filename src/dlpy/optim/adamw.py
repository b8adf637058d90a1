"""torch.optim.adamw, the module PyTorch keeps AdamW in
(``from torch.optim.adamw import AdamW``): dlpy.optim.optimizer's AdamW,
the same class as ``dlpy.optim.AdamW``.
``adamw`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import adamw
from dlpy.optim.optimizer import AdamW

__all__ = ["AdamW", "adamw"]
