"""``torch.nn.utils.parametrize``: a module's tensor recomputed from other tensors at every use.

    parametrize.register_parametrization(layer, "weight", Symmetric())
    layer.weight          # Symmetric()(layer.parametrizations.weight.original), each access

``register_parametrization`` moves the parameter (or buffer) ``name`` to
``module.parametrizations[name].original`` and makes ``module.name`` a property that runs the
parametrizations on it, in the order registered, so the layer's own forward is unchanged and
the gradient flows to the original. A parametrization is a Module whose ``forward`` maps the
original(s) to the tensor; its optional ``right_inverse`` maps a tensor back (used at
registration, where it may also split the tensor into several originals, ``original0``,
``original1``...; and by ``module.name = value``). The module's class becomes a subclass
``Parametrized<Class>`` holding the properties, as PyTorch's; ``remove_parametrizations``
undoes it.
"""

from __future__ import annotations

import copy
import copyreg
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from dlpy.nn.container import ModuleDict, ModuleList
from dlpy.nn.module import Module, Parameter
from dlpy.tensor import Tensor, no_grad

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations", "transfer_parametrizations_and_params",
           "type_before_parametrizations"]

# cached(): (id(module), tensor name) -> the tensor computed first inside the outermost block
_cache: dict[tuple[int, str], Tensor] = {}
_cache_depth = 0


@contextmanager
def cached() -> Iterator[None]:
    """Inside the block each parametrized tensor is computed once, at its first use, and
    reused (one graph node for a weight an RNN reads at every step), as torch's."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _as_tensor(value) -> Tensor:
    """A parameter or buffer (a Tensor) as it is; an array as a constant tensor."""
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _register(module: Module, name: str, value: Tensor | np.ndarray, buffer: bool) -> None:
    if buffer:  # a Tensor stays the same object (as torch's), an array is wrapped
        module.register_buffer(name, value)
    else:
        module.register_parameter(name, value)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and its original: ``original``,
    or ``original0``, ``original1``... when the first ``right_inverse`` returns several
    tensors. Calling it computes the tensor."""

    def __init__(self, modules: Sequence[Module], original: Tensor | np.ndarray,
                 unsafe: bool = False):
        if not modules:
            raise ValueError("ParametrizationList: expected one or more parametrizations")
        super().__init__(modules)
        self.unsafe = unsafe
        buffer = not isinstance(original, Parameter)
        self.is_buffer = buffer
        original_tensor = _as_tensor(original)
        shape, dtype = original_tensor.shape, original_tensor.dtype
        with no_grad():
            new = original_tensor
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(f"ParametrizationList: right_inverse must return a Tensor or a "
                             f"sequence of tensors, got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new.dtype != dtype:
                raise ValueError(f"ParametrizationList: right_inverse may not change the "
                                 f"dtype of a single tensor: {dtype} became {new.dtype}")
            if new is not original_tensor:  # the same Parameter (or buffer) keeps the new value
                original_tensor.data = np.array(new.data, copy=True)
            _register(self, "original", original_tensor, buffer)
        else:
            for i, part in enumerate(new):
                if not isinstance(part, Tensor):
                    raise ValueError(f"ParametrizationList: right_inverse must return tensors, "
                                     f"got element {i} of type {type(part).__name__}")
                value = np.array(part.data, copy=True) if buffer else \
                    Parameter(part.data, requires_grad=original_tensor.requires_grad)
                _register(self, f"original{i}", value, buffer)
        if not unsafe:
            result = self()
            if not isinstance(result, Tensor):
                raise ValueError(f"ParametrizationList: a parametrization must return a "
                                 f"Tensor, got {type(result).__name__}")
            if result.dtype != dtype or result.shape != shape:
                raise ValueError(
                    f"ParametrizationList: a parametrization may not change the tensor's dtype "
                    f"or shape unless unsafe=True: {dtype} {shape} became {result.dtype} "
                    f"{result.shape}")

    def _originals(self) -> list[Tensor]:
        names = ["original"] if self.is_tensor else [f"original{i}"
                                                     for i in range(self.ntensors)]
        return [_as_tensor(getattr(self, name)) for name in names]

    def forward(self) -> Tensor:
        modules = list(self)
        x = modules[0](*self._originals())
        for module in modules[1:]:
            x = module(x)
        return x

    def right_inverse(self, value) -> None:
        """Set the original(s) so the parametrized tensor becomes ``value`` (each
        parametrization's ``right_inverse``, last to first), in place."""
        with no_grad():
            value = _as_tensor(value)
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not "
                                       "implement right_inverse")
                value = module.right_inverse(value)
            values = [value] if self.is_tensor else list(value)
            if len(values) != self.ntensors:
                raise ValueError(f"right_inverse must return {self.ntensors} tensors, got "
                                 f"{len(values)}")
            names = ["original"] if self.is_tensor else [f"original{i}"
                                                         for i in range(self.ntensors)]
            for name, part in zip(names, values):
                target = getattr(self, name)
                data = _as_tensor(part).data
                if data.dtype != target.dtype:
                    raise ValueError(f"right_inverse returned {data.dtype} for {name}, which is "
                                     f"{target.dtype}")
                if data.shape == target.shape:
                    target.data[...] = data
                else:  # a new shape replaces the storage, as torch's set_
                    target.data = np.array(data, copy=True)


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrization (on ``tensor_name``, if given)."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def _setattr(self, name, value) -> None:
    """``module.name = value`` on a parametrized name sets the originals (right_inverse); a
    Parameter may not replace it (torch's KeyError)."""
    if is_parametrized(self, name):
        if isinstance(value, Parameter):
            raise KeyError(f"attribute '{name}' already exists (parametrized); remove the "
                           "parametrization first")
        self.parametrizations[name].right_inverse(value)
    else:
        type(self).__bases__[0].__setattr__(self, name, value)


def _getstate(self):
    raise RuntimeError("Serialization of parametrized modules is only supported through "
                       "state_dict()")


def _deepcopy(self, memo):
    """copy.deepcopy without __getstate__ (which refuses): the same class, the attributes
    copied, as torch's."""
    replica = memo.get(id(self))
    if replica is not None:
        return replica
    replica = self.__new__(type(self))
    memo[id(self)] = replica
    replica.__dict__ = copy.deepcopy(self.__dict__, memo)
    for slot in copyreg._slotnames(type(self)):
        if hasattr(self, slot):
            setattr(replica, slot, copy.deepcopy(getattr(self, slot), memo))
    return replica


def _inject_new_class(module: Module) -> None:
    """Make ``module`` an instance of a new subclass of its class, to hold the properties;
    it refuses pickling (only its state_dict is saved), as torch's, but deep-copies."""
    cls = type(module)
    namespace = {"__setattr__": _setattr, "__getstate__": _getstate}
    if not hasattr(cls, "__deepcopy__"):
        namespace["__deepcopy__"] = _deepcopy
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), namespace)


def _inject_property(module: Module, tensor_name: str) -> None:
    def get_parametrized(self) -> Tensor:
        if not _cache_depth:
            return self.parametrizations[tensor_name]()
        key = (id(self), tensor_name)
        tensor = _cache.get(key)
        if tensor is None:
            tensor = _cache[key] = self.parametrizations[tensor_name]()
        return tensor

    def set_original(self, value) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(type(module), tensor_name, property(get_parametrized, set_original))


def _check_right_inverse(parametrization: Module, value: Tensor, current: Tensor,
                         tensor_name: str) -> None:
    """A parametrization added to a chain must map back to one tensor of the current dtype
    and shape (unless unsafe), as torch checks."""
    if not hasattr(parametrization, "right_inverse"):
        return
    try:
        with no_grad():
            back = parametrization.right_inverse(value)
    except NotImplementedError:
        return
    _check_same("right_inverse", back, current, tensor_name)


def _check_same(what: str, result, current: Tensor, tensor_name: str) -> None:
    """``what`` (the parametrization, its right_inverse) gave one Tensor of ``current``'s dtype
    and shape, or raise saying that unsafe=True allows another."""
    if not isinstance(result, Tensor):
        raise ValueError(f"register_parametrization: {what} must return a Tensor, got "
                         f"{type(result).__name__}")
    if result.dtype != current.dtype or result.shape != current.shape:
        raise ValueError(
            f"register_parametrization: {what} maps module.{tensor_name} ({current.dtype} "
            f"{current.shape}) to {result.dtype} {result.shape}; pass unsafe=True to allow it")


class _NotModuleError(TypeError, AttributeError):
    """A parametrization that is not a Module: a TypeError, and the AttributeError of torch's
    ``parametrization.train(...)``."""


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Parametrize the parameter or buffer ``tensor_name`` of ``module`` by the Module
    ``parametrization`` (after any registered before); returns ``module``. ``unsafe=True``
    lets it change the tensor's shape or dtype."""
    if not isinstance(parametrization, Module):
        raise _NotModuleError(f"register_parametrization: the parametrization must be a "
                              f"Module, got {type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            current = getattr(module, tensor_name)
            result = parametrization(current)
            _check_same("the parametrization", result, current, tensor_name)
            _check_right_inverse(parametrization, result, current, tensor_name)
        parametrizations = module.parametrizations[tensor_name]
        parametrizations.append(parametrization)
        parametrizations.unsafe |= unsafe
        return module
    if tensor_name not in module._parameters and tensor_name not in module._buffers:
        raise ValueError(f"register_parametrization: {type(module).__name__} has no parameter, "
                         f"buffer or parametrized tensor named {tensor_name!r}")
    original = getattr(module, tensor_name)
    if original is None:  # torch's AttributeError ('NoneType' object has no attribute 'shape')
        raise AttributeError(f"register_parametrization: {type(module).__name__}."
                             f"{tensor_name} is None")
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    _inject_property(module, tensor_name)
    module.parametrizations[tensor_name] = parametrizations
    return module


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Make ``tensor_name`` a plain parameter (or buffer) again: holding the parametrized
    value (``leave_parametrized``) or the original (possible only with one original). With
    one original the same Parameter object comes back, so an optimiser holding it works on;
    with several, the value is a new Parameter if it requires grad, else a buffer."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"remove_parametrizations: {type(module).__name__} has no "
                         f"parametrization on {tensor_name!r}")
    parametrizations = module.parametrizations[tensor_name]
    buffer = parametrizations.is_buffer
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                value = getattr(module, tensor_name).data
            if value.dtype != original.dtype:  # torch's set_ cannot change a dtype
                raise RuntimeError(
                    f"remove_parametrizations: leave_parametrized=True needs the "
                    f"parametrized {tensor_name} to keep the original's dtype {original.dtype}, "
                    f"got {value.dtype}; use leave_parametrized=False")
            original.data = np.array(value, copy=True)  # the same Tensor, as torch's set_
    elif leave_parametrized:
        with no_grad():
            value = getattr(module, tensor_name).data
        # a Parameter only when the value requires grad, else a buffer (torch's)
        requires_grad = any(p.requires_grad for p in parametrizations.parameters())
        buffer = not requires_grad
        original = np.array(value, copy=True) if buffer else Parameter(value)
    else:
        raise ValueError("remove_parametrizations: leave_parametrized=False needs a tensor "
                         "parametrized by one original, this one has "
                         f"{parametrizations.ntensors}")
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    _register(module, tensor_name, original, buffer)
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before any parametrization."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Register ``from_module``'s parametrizations (all, or those of ``tensor_name``) on
    ``to_module``, sharing the parametrization modules and the original tensors; a tensor
    ``to_module`` lacks is first created as a Parameter holding the parametrized value.
    Returns ``to_module``."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        if not hasattr(to_module, name):
            with no_grad():
                value = getattr(from_module, name)
            setattr(to_module, name, Parameter(value.data))
        source = from_module.parametrizations[name]
        for parametrization in source:
            register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        originals = ["original"] if source.is_tensor else [f"original{i}"
                                                           for i in range(source.ntensors)]
        for original in originals:
            setattr(target, original, getattr(source, original))
    return to_module
