"""torch._tensor: the module PyTorch defines its Tensor class in (``from torch._tensor import
Tensor``); dlpy's Tensor is dlpy.tensor's, the same class as ``dlpy.Tensor``."""

from dlpy.tensor import Tensor

__all__ = ["Tensor"]
