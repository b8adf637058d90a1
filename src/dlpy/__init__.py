"""dlpy: deep learning from scratch in Python."""

from dlpy import functional
from dlpy.tensor import Op, Tensor, is_grad_enabled, no_grad, sum_to_shape

__version__ = "0.1.0"
__all__ = ["Op", "Tensor", "functional", "is_grad_enabled", "no_grad", "sum_to_shape"]
