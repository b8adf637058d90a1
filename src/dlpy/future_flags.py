"""torch.__future__: two process-wide flags for how ``Module.to``/``double()``/``_apply``
convert parameters (both False by default, as torch's).

- overwrite: the converted values go into new Parameter objects (set as the module's
  attributes) instead of into the old ones (``param.data = new``, the default);
- swap: the old and new Parameter objects swap contents (``torch.utils.swap_tensors``), so the
  objects an optimiser holds stay valid; seen from Python this is the default's result.

The file is not called ``__future__.py`` so that no script run from inside src/dlpy imports
it for Python's own ``__future__``; ``dlpy.__future__`` names it."""

_overwrite_module_params_on_conversion = False
_swap_module_params_on_conversion = False


def set_overwrite_module_params_on_conversion(value: bool) -> None:
    """Whether conversions make new Parameter objects (True) or change them in place."""
    global _overwrite_module_params_on_conversion
    _overwrite_module_params_on_conversion = value


def get_overwrite_module_params_on_conversion() -> bool:
    return _overwrite_module_params_on_conversion


def set_swap_module_params_on_conversion(value: bool) -> None:
    """Whether conversions swap the old and new parameters' contents."""
    global _swap_module_params_on_conversion
    _swap_module_params_on_conversion = value


def get_swap_module_params_on_conversion() -> bool:
    return _swap_module_params_on_conversion
