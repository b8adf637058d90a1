"""torch.ao.quantization.fuse_modules (the module): ``fuse_modules`` / ``fuse_modules_qat``
replace each list of named submodules (conv + bn (+ relu), conv + relu, linear + bn,
linear + relu, bn + relu, conv-transpose + bn) by the fused module (first name) and
``nn.Identity`` (the others), through ``fuser_func`` (``fuse_known_modules``: the fuser
methods of ``fuser_method_mappings``, plus ``fuse_custom_config_dict``'s
"additional_fuser_method_mapping"). The first module's forward pre-hooks and the last one's
forward hooks move to the fused module, as torch's."""

from __future__ import annotations

import copy
from collections.abc import Callable

from dlpy import nn
from dlpy.ao.quantization.fuser_method_mappings import get_fuser_method
from dlpy.nn.parametrize import type_before_parametrizations

__all__ = ["fuse_known_modules", "fuse_modules", "fuse_modules_qat"]


def _get_module(model: nn.Module, submodule_key: str) -> nn.Module:
    module = model
    for name in submodule_key.split("."):
        module = getattr(module, name)
    return module


def _set_module(model: nn.Module, submodule_key: str, module: nn.Module) -> None:
    *parents, last = submodule_key.split(".")
    owner = model
    for name in parents:
        owner = getattr(owner, name)
    setattr(owner, last, module)


def fuse_known_modules(mod_list: list, is_qat: bool,
                       additional_fuser_method_mapping: dict | None = None) -> list:
    """The modules that replace ``mod_list``: the fused module, then ``nn.Identity`` (in the
    first module's training mode) for each other one. An unknown sequence of types is
    ``get_fuser_method``'s AssertionError."""
    types = tuple(type_before_parametrizations(m) for m in mod_list)
    fuser_method = get_fuser_method(types, additional_fuser_method_mapping)
    if fuser_method is None:
        raise NotImplementedError(f"Cannot fuse modules: {types}")
    fused = fuser_method(is_qat, *mod_list)
    # the hooks of the modules fused away: the first's pre-hooks, the last's hooks move over
    for hook in list(mod_list[0]._forward_pre_hooks.values()):
        fused.register_forward_pre_hook(hook)
    mod_list[0]._forward_pre_hooks.clear()
    for hook in list(mod_list[-1]._forward_hooks.values()):
        fused.register_forward_hook(hook)
    mod_list[-1]._forward_hooks.clear()
    new_mod: list = [fused]
    for _ in mod_list[1:]:
        identity = nn.Identity()
        identity.training = mod_list[0].training
        new_mod.append(identity)
    return new_mod


def _fuse_group(model: nn.Module, names: list, is_qat: bool, fuser_func: Callable,
                fuse_custom_config_dict: dict | None) -> None:
    additional = (fuse_custom_config_dict or {}).get("additional_fuser_method_mapping", {})
    new_mods = fuser_func([_get_module(model, name) for name in names], is_qat, additional)
    for name, module in zip(names, new_mods):
        _set_module(model, name, module)


def _fuse_modules(model: nn.Module, modules_to_fuse: list, is_qat: bool, inplace: bool,
                  fuser_func: Callable, fuse_custom_config_dict: dict | None) -> nn.Module:
    if not inplace:
        model = copy.deepcopy(model)
    if all(isinstance(name, str) for name in modules_to_fuse):
        _fuse_group(model, modules_to_fuse, is_qat, fuser_func, fuse_custom_config_dict)
    else:
        for names in modules_to_fuse:
            _fuse_group(model, names, is_qat, fuser_func, fuse_custom_config_dict)
    return model


def fuse_modules(model: nn.Module, modules_to_fuse: list, inplace: bool = False,
                 fuser_func: Callable = fuse_known_modules,
                 fuse_custom_config_dict: dict | None = None) -> nn.Module:
    """Fuse each list of dotted submodule names (or the one list, given as strings) for
    post-training quantization: batch norms folded into the layer before them (both in eval
    mode), the first name becomes the fused module, the others ``nn.Identity``. A copy
    unless ``inplace``."""
    return _fuse_modules(model, modules_to_fuse, False, inplace, fuser_func,
                         fuse_custom_config_dict)


def fuse_modules_qat(model: nn.Module, modules_to_fuse: list, inplace: bool = False,
                     fuser_func: Callable = fuse_known_modules,
                     fuse_custom_config_dict: dict | None = None) -> nn.Module:
    """``fuse_modules`` for quantization-aware training: batch norms kept
    (intrinsic.ConvBn2d, ConvBnReLU2d, LinearBn1d, ...) for ``prepare_qat``."""
    return _fuse_modules(model, modules_to_fuse, True, inplace, fuser_func,
                         fuse_custom_config_dict)
