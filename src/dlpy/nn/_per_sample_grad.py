"""torch.nn.utils._per_sample_grad: ``call_for_per_sample_grads(module)``, the module's forward
with every parameter that needs a gradient replaced by an ExpandedWeight
(``dlpy.nn._expanded_weights``) for the call, so backward fills ``p.grad_sample`` (batch,
*p.shape) and leaves ``p.grad`` alone; torch's checks and messages.

    out = call_for_per_sample_grads(model)(x)   # batch size from x.shape[0]
    out.sum().backward()                        # model.weight.grad_sample: (N, *weight.shape)
"""

from __future__ import annotations

import functools

__all__ = ["call_for_per_sample_grads"]


def _leaves(value, out: list) -> list:
    """The leaves of args/kwargs as torch's pytree sees them (tuples, lists, dicts)."""
    if isinstance(value, (tuple, list)):
        for item in value:
            _leaves(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _leaves(item, out)
    else:
        out.append(value)
    return out


def _refuse_cell(module, args):
    """A recurrent cell called with ExpandedWeights: refused as torch refuses it (its message,
    the functional's name). (RNN, LSTM and GRU run one op a step then, nn/rnn.py, as torch's
    decompositions, each step's linear adding its part of the per-sample gradients.)"""
    from dlpy.nn._expanded_weights import ExpandedWeight

    if not any(isinstance(getattr(module, name, None), ExpandedWeight)
               for name in module._parameters):
        return None
    mode = getattr(module, "nonlinearity", "tanh")
    name = {"LSTMCell": "lstm_cell", "GRUCell": "gru_cell"}.get(type(module).__name__,
                                                                f"rnn_{mode}_cell")
    raise RuntimeError(f"Expanded Weights encountered but cannot handle function {name}")


def call_for_per_sample_grads(module, *, batch_size=None, loss_reduction="sum",
                              batch_first=True):
    """torch's: a function calling ``module`` so that backward fills each trainable
    parameter's ``grad_sample`` with per-sample gradients. ``batch_size``: None (every tensor
    among the arguments has the same batch size, axis 0, or 1 where not ``batch_first``) or an
    int. ``loss_reduction``: "sum", or "mean" (per-sample gradients times the batch size)."""
    from dlpy.func import functional_call
    from dlpy.nn._expanded_weights import ExpandedWeight
    from dlpy.nn.module import Module
    from dlpy.nn.rnn import RNNCellBase
    from dlpy.tensor import Tensor

    def maybe_build_expanded_weight(og_tensor, size):
        return ExpandedWeight(og_tensor, size, loss_reduction) if og_tensor.requires_grad \
            else og_tensor

    def compute_batch_size(*args, **kwargs):
        found = None
        for arg in _leaves((args, kwargs), []):
            if not isinstance(arg, Tensor):
                continue
            arg_batch_size = arg.shape[0] if batch_first else arg.shape[1]
            if found is not None and found != arg_batch_size:
                raise RuntimeError(
                    "When computing batch size, found at least one input with batch size "
                    f"{found} and one with batch size {arg_batch_size}. Please specify it "
                    "explicitly using the batch size kwarg in call_for_per_sample_grads")
            found = arg_batch_size
        if found is None:
            raise RuntimeError(
                "Unable to find a tensor in the passed args and kwargs. They may not be "
                "pytree-able and so ExpandedWeights cannot compute the batch size from the "
                "inputs. Please specify it explicitly")
        return found

    if loss_reduction not in ["sum", "mean"]:
        raise RuntimeError(
            f"Expected loss_reduction argument to be sum or mean, got {loss_reduction}")
    if not isinstance(module, Module):
        raise RuntimeError(f"Module passed must be nn.Module, got {type(module).__name__}")
    if not (batch_size is None or isinstance(batch_size, int)):
        raise RuntimeError("Batch size passed must be None or an integer, got "
                           f"{type(batch_size).__name__}")
    if batch_size is not None and batch_size < 1:
        raise RuntimeError(f"Batch size must be positive, got {batch_size}")
    for weight in module.parameters():
        if getattr(weight, "grad_sample", None) is not None:
            raise RuntimeError(
                "Current Expanded Weights accumulates the gradients, which will be incorrect "
                "for multiple calls without clearing gradients. Please clear out the "
                f"grad_sample parameter of {weight} or post an issue to pytorch/pytorch to "
                "prioritize correct behavior")

    @functools.wraps(module.forward)
    def wrapper(*args, **kwargs):
        wrapper_batch_size = batch_size
        if wrapper_batch_size is None:
            wrapper_batch_size = compute_batch_size(*args, **kwargs)
        params = {name: maybe_build_expanded_weight(value, wrapper_batch_size)
                  for (name, value) in module.named_parameters()}
        handles = [m.register_forward_pre_hook(_refuse_cell) for m in module.modules()
                   if isinstance(m, RNNCellBase)]
        try:
            return functional_call(module, params, args, kwargs)
        finally:
            for handle in handles:
                handle.remove()

    return wrapper
