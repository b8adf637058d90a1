"""torch._C's names that Python code of the ``__torch_function__`` protocol reaches for:
``DisableTorchFunctionSubclass``, ``DisableTorchFunction``, ``_disabled_torch_function_impl``
and ``_has_torch_function*`` (dlpy/overrides.py has them); ``_log_api_usage_once``, which
libraries built on torch call as they start (torchmetrics' Metric); and
``_are_functorch_transforms_active``."""

from dlpy import overrides as _overrides

DisableTorchFunction = _overrides.DisableTorchFunction
DisableTorchFunctionSubclass = _overrides.DisableTorchFunctionSubclass
_disabled_torch_function_impl = _overrides._disabled_torch_function_impl
_has_torch_function = _overrides.has_torch_function
_has_torch_function_unary = _overrides.has_torch_function_unary
_has_torch_function_variadic = _overrides.has_torch_function_variadic


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


def _log_api_usage_once(event: str) -> None:
    """torch's usage-logging hook (a library names its API once per process): dlpy logs
    nothing."""


__all__ = ["DisableTorchFunction", "DisableTorchFunctionSubclass"]
