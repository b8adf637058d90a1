"""torch.optim.adam, the module PyTorch keeps Adam in
(``from torch.optim.adam import Adam``): dlpy.optim.optimizer's Adam,
the same class as ``dlpy.optim.Adam``."""

from dlpy.optim.optimizer import Adam

__all__ = ["Adam"]
