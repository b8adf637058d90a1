"""torch._C's names that Python code of the ``__torch_function__`` protocol reaches for:
``DisableTorchFunctionSubclass``, ``DisableTorchFunction``, ``_disabled_torch_function_impl``
and ``_has_torch_function*`` (dlpy/overrides.py has them); ``_log_api_usage_once``, which
libraries built on torch call as they start (torchmetrics' Metric); and
``_are_functorch_transforms_active``; ``_TensorMeta``, the metaclass of Tensor (libraries
annotate with it); ``_nn._parse_to``, the argument parser of ``Module.to``."""

from dlpy import overrides as _overrides
from dlpy.tensor import Tensor as _Tensor

DisableTorchFunction = _overrides.DisableTorchFunction
DisableTorchFunctionSubclass = _overrides.DisableTorchFunctionSubclass
_disabled_torch_function_impl = _overrides._disabled_torch_function_impl
_has_torch_function = _overrides.has_torch_function
_has_torch_function_unary = _overrides.has_torch_function_unary
_has_torch_function_variadic = _overrides.has_torch_function_variadic
_TensorMeta = type(_Tensor)


def _is_torch_function_enabled() -> bool:
    """Whether arguments' ``__torch_function__`` are called (False inside
    DisableTorchFunctionSubclass / DisableTorchFunction)."""
    return not _overrides._subclass_off

def _are_functorch_transforms_active() -> bool:
    """Whether a dlpy.func transform (grad, vjp, jacrev, vmap, jvp, ...) is running its
    function now (libraries take a transform-safe path then, as kornia's morphology)."""
    import sys

    if sys.modules["dlpy.tensor"]._transform_depth[0]:
        return True
    batching = sys.modules.get("dlpy.func_batching")
    if batching is not None and batching._sizes:
        return True
    forward = sys.modules.get("dlpy.forward_ad")  # jvp's levels (dual_level's are not)
    return forward is not None and len(forward._tables) > len(forward._public)


class _nn:
    """torch._C._nn's ``_parse_to``: what ``Module.to`` / ``Tensor.to`` were asked for."""

    @staticmethod
    def _parse_to(*args, **kwargs) -> tuple:
        """``to``'s arguments (``(device)``, ``(dtype)``, ``(device, dtype)``, ``(tensor)``,
        then ``non_blocking``, or keywords) as torch's tuple ``(device, dtype, non_blocking,
        memory_format)``, None for what is not given; a device is parsed, not checked for
        being present (as torch's)."""
        from dlpy.device import _dtype, _parse_to_arguments, device

        given = _parse_to_arguments("_parse_to", args, kwargs)
        where, dtype = given.get("device"), given.get("dtype")
        return (None if where is None else device(where),
                None if dtype is None else _dtype(dtype, "_parse_to"),
                bool(given.get("non_blocking", False)), given.get("memory_format"))


class _TracingState:
    """What ``_get_tracing_state`` gives while ``dlpy.jit.trace`` runs its function."""


def _get_tracing_state() -> _TracingState | None:
    """torch's tracer state: None outside ``jit.trace`` (libraries branch on it to keep
    data-dependent checks out of traces: pyro's ``if not torch._C._get_tracing_state()``), an
    object (truthy) while a trace runs."""
    from dlpy import jit

    return _TracingState() if jit.is_tracing() else None


def _log_api_usage_once(event: str) -> None:
    """torch's usage-logging hook (a library names its API once per process): dlpy logs
    nothing."""


__all__ = ["DisableTorchFunction", "DisableTorchFunctionSubclass"]


def _get_default_device() -> str:
    """torch._C._get_default_device: the name of the device type factories allocate on by
    default, ``'cpu'`` (as torch's CPU build answers, even under ``set_default_device('meta')``)."""
    return "cpu"
