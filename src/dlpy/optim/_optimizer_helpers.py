"""torch.optim.optimizer's helper functions that optimisers written for torch import (a custom
``step`` decorated with ``_use_grad_for_differentiable``, ``_get_value(step_t)``,
``_default_to_fused_or_foreach(params, differentiable)``...), re-exported by
dlpy.optim.optimizer under torch's names.

dlpy runs on the CPU with one implementation of each optimiser: no device has torch's
for-each or fused kernels here (the device lists are torch's, which name no "cpu" for foreach
and capturable), nothing is compiled (``_get_value`` is ``item()``, ``_stack_if_compiling``
leaves the list), and a step decorated as torch's runs with grad mode as the optimiser's
``differentiable`` setting says.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from dlpy.tensor import Tensor, is_grad_enabled, set_grad_enabled

# the tensor types torch's for-each kernels take (torch: Tensor and nn.Parameter)
_foreach_supported_types: list[type] = [Tensor]

# torch's docstring pieces for the optimisers' shared arguments (custom optimisers reuse them)
_params_doc = r"""params (iterable): iterable of parameters or named_parameters to optimize
            or iterable of dicts defining parameter groups. When using named_parameters,
            all parameters in all groups should be named"""
_foreach_doc = r"""foreach (bool, optional): whether foreach implementation of optimizer
            is used (default: None)"""
_fused_doc = r"""fused (bool, optional): whether the fused implementation is used
            (default: None)"""
_capturable_doc = r"""capturable (bool, optional): whether this instance is safe to
            capture in a graph (default: False)"""
_differentiable_doc = r"""differentiable (bool, optional): whether autograd should
            occur through the optimizer step in training (default: False)"""
_maximize_doc = r"""maximize (bool, optional): maximize the objective with respect to the
            params, instead of minimizing (default: False)"""


def _use_grad_for_differentiable(func: Callable) -> Callable:
    """torch's decorator of an optimiser's ``step(self, ...)``: runs it with grad mode set to
    ``self.defaults["differentiable"]`` (off unless the optimiser was made differentiable),
    restoring the mode after."""
    @functools.wraps(func)
    def _use_grad(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        previous = is_grad_enabled()
        try:
            set_grad_enabled(bool(self.defaults.get("differentiable", False)))
            return func(*args, **kwargs)
        finally:
            set_grad_enabled(previous)

    return _use_grad


def _get_value(x: Any) -> Any:
    """A one-element Tensor's Python number (``item()``), anything else as it is."""
    return x.item() if isinstance(x, Tensor) else x


def _stack_if_compiling(x: Any) -> Any:
    """torch stacks the list while compiling; nothing is compiled here: the list."""
    return x


def _to_scalar(x: Any) -> Any:
    """A one-element Tensor hyperparameter of more than 0 dims squeezed to 0-d; anything
    else as it is."""
    if isinstance(x, Tensor) and x.dim() != 0:
        return x.squeeze()
    return x


def _get_scalar_dtype(is_fused: bool | None = None):
    """The dtype of a step count: float32 (fused), else float64 under
    ``set_default_dtype(float64)``, else float32, as torch's."""
    from dlpy.tensor import default_dtype

    if is_fused:
        return np.dtype(np.float32)
    return np.dtype(np.float64 if default_dtype() == np.float64 else np.float32)


def _get_foreach_kernels_supported_devices() -> list[str]:
    """The device types of torch's for-each kernels (none of them the CPU)."""
    return ["cuda", "xpu", "mtia", "privateuseone"]


def _get_fused_kernels_supported_devices() -> list[str]:
    """The device types of torch's fused optimiser kernels (the CPU among them)."""
    return ["mps", "cuda", "xpu", "hpu", "cpu", "privateuseone"]


def _get_capturable_supported_devices(supports_xla: bool = True) -> list[str]:
    """The device types ``capturable=True`` takes (CUDA graphs: none of them the CPU)."""
    devices = ["cuda", "xpu", "hpu", "privateuseone"]
    if supports_xla:
        devices.append("xla")
    return devices


def _default_to_fused_or_foreach(params: list, differentiable: bool,
                                 use_fused: bool = False) -> tuple[bool, bool]:
    """torch's choice of implementation when neither ``foreach`` nor ``fused`` is given:
    (fused, foreach). Fused only if asked and every parameter is a floating point tensor of
    a fused device; for-each if not fused and every parameter is on a for-each device: on the
    CPU (False, False) unless ``use_fused``."""
    if differentiable:
        return False, False
    fused_devices = _get_fused_kernels_supported_devices()
    foreach_devices = _get_foreach_kernels_supported_devices()

    def device(p: Any) -> str:
        return getattr(getattr(p, "device", None), "type", "cpu")

    fused = use_fused and all(
        p is None or (isinstance(p, tuple(_foreach_supported_types))
                      and device(p) in fused_devices and p.is_floating_point())
        for p in params)
    foreach = not fused and all(
        p is None or (isinstance(p, tuple(_foreach_supported_types))
                      and device(p) in foreach_devices)
        for p in params)
    return fused, foreach


def _device_dtype_check_for_fused(p: Tensor, cuda_unsupported: bool = False) -> None:
    """torch's check that ``fused=True`` can take parameter ``p``: a floating point tensor
    of a fused device (RuntimeError otherwise)."""
    devices = _get_fused_kernels_supported_devices()
    if cuda_unsupported:
        devices.remove("cuda")
    kind = getattr(getattr(p, "device", None), "type", "cpu")
    if not (kind in devices and p.is_floating_point()):
        raise RuntimeError("`fused=True` requires all the params to be floating point Tensors "
                           f"of supported devices: {devices} but {p.dtype} and {kind}")


def _view_as_real(params: list, *state_and_grads: list) -> None:
    """torch's for-each helper: each complex parameter (and the same entry of every other
    list) replaced in its list by its ``view_as_real``."""
    from dlpy.ops.complex import view_as_real

    for i, p in enumerate(params):
        if p.is_complex():
            params[i] = view_as_real(params[i])
            for s in state_and_grads:
                s[i] = view_as_real(s[i])


def _disable_dynamo_if_unsupported(single_tensor_fn: Callable | None = None) -> Callable:
    """torch's decorator of an optimiser's functional form (a compiler fallback): nothing is
    compiled here, so the function as it is."""
    def wrapper(func: Callable) -> Callable:
        return func

    return wrapper
