"""torch.optim.adagrad, the module PyTorch keeps Adagrad in
(``from torch.optim.adagrad import Adagrad``): dlpy.optim.adaptive's Adagrad,
the same class as ``dlpy.optim.Adagrad``.
``adagrad`` is torch's functional form (dlpy.optim._functional)."""

from dlpy.optim._functional import adagrad
from dlpy.optim.adaptive import Adagrad

__all__ = ["Adagrad", "adagrad"]
