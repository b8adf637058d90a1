"""torch.optim.sparse_adam, the module PyTorch keeps SparseAdam in
(``from torch.optim.sparse_adam import SparseAdam``): dlpy.optim.optimizer's SparseAdam,
the same class as ``dlpy.optim.SparseAdam``."""

from dlpy.optim.optimizer import SparseAdam

__all__ = ["SparseAdam"]
