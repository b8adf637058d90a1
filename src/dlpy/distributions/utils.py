"""torch.distributions.utils: the helpers PyTorch's distributions share, with torch's
signatures, for code that writes its own distributions (``from torch.distributions.utils
import broadcast_all, probs_to_logits, lazy_property``).

- ``broadcast_all(*values)``: Tensors and Python numbers broadcast to one shape; numbers
  become tensors of the first Tensor's dtype (the default dtype when there is none); anything
  else is a ValueError;
- ``probs_to_logits`` / ``logits_to_probs`` / ``clamp_probs``: as dlpy's distributions use
  them (probs clamped to [eps, 1 - eps], eps the dtype's machine epsilon);
- ``lazy_property``: a method computed on first access (with gradients on), then stored on
  the instance;
- ``tril_matrix_to_vec`` / ``vec_to_tril_matrix``: a matrix's lower triangle (below the
  ``diag``-th diagonal) as a vector, row by row, and back;
- ``euler_constant``: the Euler-Mascheroni constant.
"""

from __future__ import annotations

from dlpy.creation import tensor
from dlpy.distributions.distribution import (  # noqa: F401 - re-exported
    EULER_GAMMA,
    _lazy_property_and_property,
    clamp_probs,
    lazy_property,
    logits_to_probs,
)
from dlpy.distributions.distribution import probs_to_logits as _probs_to_logits
from dlpy.distributions.distribution import sum_rightmost as _sum_rightmost
from dlpy.distributions.transforms import tril_matrix_to_vec, vec_to_tril_matrix
from dlpy.ops.rearrange import broadcast_tensors
from dlpy.overrides import is_tensor_like
from dlpy.tensor import Tensor, default_dtype

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs",
           "probs_to_logits", "tril_matrix_to_vec", "vec_to_tril_matrix"]

euler_constant: float = EULER_GAMMA


def broadcast_all(*values) -> tuple[Tensor, ...]:
    """``values`` (Tensors, tensor-likes or Python numbers) broadcast to one shape, as
    ``broadcast_tensors``; a number becomes a tensor of the first Tensor's dtype (the default
    dtype when all are numbers). Anything else is a ValueError, as torch's."""
    if not all(is_tensor_like(v) or isinstance(v, (int, float, bool)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor or "
                         "objects implementing __torch_function__.")
    if not all(is_tensor_like(v) for v in values):
        dtype = next((v.dtype for v in values if isinstance(v, Tensor)), None)
        dtype = default_dtype() if dtype is None else dtype
        values = tuple(v if is_tensor_like(v) else tensor(v, dtype=dtype) for v in values)
    return tuple(broadcast_tensors(*values))


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log(p) (the log-odds log(p) - log1p(-p) when ``is_binary``), p clamped to
    [eps, 1 - eps]."""
    return _probs_to_logits(probs, is_binary)


# (torch's private helper, for code that imports it)
_ = _sum_rightmost


def _standard_normal(shape, dtype, device) -> Tensor:
    """torch's private helper (gpytorch imports it): a tensor of ``shape`` and ``dtype`` drawn
    from the standard normal with the global generator (``device`` is the CPU)."""
    from dlpy.creation import randn

    return randn(tuple(shape), dtype=dtype, device=device)
