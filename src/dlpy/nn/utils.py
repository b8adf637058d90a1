"""``torch.nn.utils`` as dlpy spells it: gradient clipping, flat parameter vectors, and the
``parametrize`` / ``parametrizations`` modules (weight_norm, spectral_norm).

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()

``clip_grad_norm_`` is ``dlpy.optim.clip_grad_norm`` with PyTorch's defaults (a non-finite
norm is returned, not raised) and its return type (a one-element tensor).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from dlpy.nn import parametrizations, parametrize
from dlpy.optim.optimizer import clip_grad_norm
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters", "parametrizations", "parametrize"]


def _tensors(parameters) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients in place to a joint ``norm_type``-norm of at most ``max_norm``;
    returns the norm before clipping (float32, as PyTorch's for float32 gradients)."""
    total = clip_grad_norm(_tensors(parameters), max_norm, error_if_nonfinite=error_if_nonfinite,
                           norm_type=norm_type)
    return Tensor(np.asarray(total, dtype=np.float32))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if not math.isfinite(clip_value) or clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be finite and >= 0, got "
                         f"{clip_value}")
    for p in _tensors(parameters):
        if isinstance(p.grad, SparseGrad):
            np.clip(p.grad.values, -clip_value, clip_value, out=p.grad.values)
        elif p.grad is not None:
            np.clip(p.grad, -clip_value, clip_value, out=p.grad)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters' values, flattened and concatenated in order (a copy, no gradient)."""
    tensors = _tensors(parameters)
    if not tensors:
        raise ValueError("parameters_to_vector: no parameters")
    return Tensor(np.concatenate([t.data.reshape(-1) for t in tensors]))


def vector_to_parameters(vec: Tensor | np.ndarray, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in place (each keeps its shape
    and dtype); ``vec`` must hold exactly as many numbers as the parameters."""
    data = np.asarray(vec.data if isinstance(vec, Tensor) else vec)
    if data.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {data.shape}")
    tensors = _tensors(parameters)
    needed = sum(t.data.size for t in tensors)
    if data.size != needed:
        raise ValueError(f"vector_to_parameters: the vector has {data.size} numbers, the "
                         f"parameters {needed}")
    offset = 0
    for t in tensors:
        n = t.data.size
        t.data[...] = data[offset:offset + n].reshape(t.data.shape)
        offset += n


# torch.nn.utils.rnn (pad_sequence, PackedSequence, ...) lives in nn/utils_rnn.py, the
# parametrizations in nn/parametrize.py and nn/parametrizations.py; they are registered as
# submodules of dlpy.nn.utils, so ``from dlpy.nn.utils.rnn import pad_sequence`` and ``import
# dlpy.nn.utils.parametrizations`` work while this file stays a module.
import sys as _sys  # noqa: E402

from dlpy.nn import utils_rnn as rnn  # noqa: E402

for _name, _module in (("rnn", rnn), ("parametrize", parametrize),
                       ("parametrizations", parametrizations)):
    _sys.modules[f"{__name__}.{_name}"] = _module


# torch.nn.utils.stateless.functional_call is torch.func.functional_call (dlpy/func.py): a
# submodule that imports dlpy.func when the function is first asked for, so ``import dlpy.nn``
# does not pay for it.
def _stateless_getattr(name: str):
    if name == "functional_call":
        from dlpy.func import functional_call

        return functional_call
    raise AttributeError(f"module 'dlpy.nn.utils.stateless' has no attribute {name!r}")


stateless = type(_sys)(f"{__name__}.stateless",
                       "torch.nn.utils.stateless: functional_call, as dlpy.func's.")
stateless.__all__ = ["functional_call"]
stateless.__getattr__ = _stateless_getattr
_sys.modules[stateless.__name__] = stateless
__all__ += ["stateless"]
