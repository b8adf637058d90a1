"""torch.masked: reductions that skip masked-out elements, and MaskedTensor.

    y = dlpy.masked.sum(x, 1, mask=m)          # a plain Tensor: the sum of x where m is True
    mt = dlpy.masked_tensor(data, mask, requires_grad=True)
    mt.exp().sum(1).to_tensor(0.0)             # ops on the kept elements; mask of the result

Every function fills the masked-out elements with the reduction's identity (0 for sum, -inf for
amax / logsumexp / softmax, ...) with ``where`` and reduces with dlpy's ops, so the gradients
come from the engine and a masked-out element gets none. A MaskedTensor's methods give a
MaskedTensor (its mask reduced with ``any``); these functions given one give a plain Tensor, as
torch's. Shape ops (reshape/view, transpose/permute/T, flatten/unflatten, unsqueeze/squeeze,
expand, narrow/select/split/chunk/unbind, flip, indexing, dlpy.cat) act on the data and the
mask alike.
"""

from dlpy.masked._ops import (
    amax,
    amin,
    argmax,
    argmin,
    cumprod,
    cumsum,
    log_softmax,
    logaddexp,
    logsumexp,
    mean,
    median,
    norm,
    normalize,
    prod,
    softmax,
    softmin,
    std,
    sum,  # noqa: A004 - torch.masked.sum's name
    var,
)
from dlpy.masked.maskedtensor import MaskedTensor, as_masked_tensor, is_masked_tensor, masked_tensor

__all__ = [
    "MaskedTensor", "amax", "amin", "argmax", "argmin", "as_masked_tensor", "cumprod", "cumsum",
    "is_masked_tensor", "log_softmax", "logaddexp", "logsumexp", "masked_tensor", "mean", "median",
    "norm", "normalize", "prod", "softmax", "softmin", "std", "sum", "var",
]
