"""Parameter and Module: the learnable state lives inside the layers."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import types
import warnings
import weakref
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from dlpy import meta as _meta_device
from dlpy._caller import user_stacklevel
from dlpy.device import MetaArray, as_device, meta_array, wants_meta
from dlpy.io import atomic_write
from dlpy.ops.complex import ComplexTensor
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import (
    Tensor,
    as_array,
    default_dtype,
    increment_version,
    is_floating_dtype,
    is_grad_enabled,
)


class _GlobalHooks(dict):
    """One table of global hooks: removing a hook (its handle pops it) re-reads whether any
    global hook is left, so module calls go back to the plain path when none is."""

    def pop(self, *args):
        value = dict.pop(self, *args)
        _refresh_global_hooks()
        return value


# torch.nn.modules.module's public names (Parameter, defined here too, is torch.nn.parameter's)
__all__ = ["register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_pre_hook", "register_module_backward_hook",
           "register_module_full_backward_hook", "register_module_buffer_registration_hook",
           "register_module_module_registration_hook",
           "register_module_parameter_registration_hook", "Module"]

# torch.nn.modules.module's global hooks (register_module_forward_hook, ...): every module's
# call runs them before its own; ids are unique across all hooks, so the flag sets can mix
_global_forward_pre_hooks: dict[int, Any] = _GlobalHooks()
_global_forward_hooks: dict[int, Any] = _GlobalHooks()
_global_backward_pre_hooks: dict[int, Any] = _GlobalHooks()
_global_backward_hooks: dict[int, Any] = _GlobalHooks()
_GLOBAL_FLAGS: dict[str, set[int]] = {"_forward_hooks_with_kwargs": set(),
                                      "_forward_hooks_always_called": set()}
_global_hooks_used = False  # whether a global hook is registered: calls then look for them


def _refresh_global_hooks() -> None:
    global _global_hooks_used
    _global_hooks_used = bool(_global_forward_pre_hooks or _global_forward_hooks
                              or _global_backward_pre_hooks or _global_backward_hooks)


def _add_global_hook(hooks: dict, hook, owner: str, flags: tuple = ()):
    from dlpy.hooks import add_hook

    handle = add_hook(hooks, hook, owner, flags=flags)
    _refresh_global_hooks()
    return handle


def register_module_forward_pre_hook(hook):
    """``hook(module, args)`` before every module's forward (and before its own pre-hooks);
    returning a value replaces the positional arguments. A removable handle."""
    return _add_global_hook(_global_forward_pre_hooks, hook, "register_module_forward_pre_hook")


def register_module_forward_hook(hook, *, with_kwargs: bool = False,
                                 always_call: bool = False):
    """``hook(module, args, output)`` (``with_kwargs``: ``(module, args, kwargs, output)``)
    after every module's forward, before its own forward hooks; ``always_call`` also when
    forward raises. A removable handle."""
    flags = ((_GLOBAL_FLAGS["_forward_hooks_with_kwargs"],) if with_kwargs else ()) + (
        (_GLOBAL_FLAGS["_forward_hooks_always_called"],) if always_call else ())
    return _add_global_hook(_global_forward_hooks, hook, "register_module_forward_hook", flags)


def register_module_full_backward_pre_hook(hook):
    """``hook(module, grad_output)`` for every module's backward, before its own. A
    removable handle."""
    return _add_global_hook(_global_backward_pre_hooks, hook,
                            "register_module_full_backward_pre_hook")


_global_is_full_backward_hook: bool | None = None  # the kind of the first global backward hook


def _global_backward_hook_kind(full: bool) -> None:
    """Global backward hooks are all full ones or all the deprecated kind: the first one
    registered decides for the rest of the process, removed or not (torch's RuntimeError)."""
    global _global_is_full_backward_hook
    if _global_is_full_backward_hook is not None and _global_is_full_backward_hook != full:
        raise RuntimeError("Cannot use both regular backward hooks and full backward hooks as "
                           "a global Module hook. Please use only one of them.")
    _global_is_full_backward_hook = full


def register_module_full_backward_hook(hook):
    """``hook(module, grad_input, grad_output)`` for every module's backward, before its own.
    A removable handle."""
    _global_backward_hook_kind(True)
    return _add_global_hook(_global_backward_hooks, hook, "register_module_full_backward_hook")


def register_module_backward_hook(hook):
    """Deprecated (as torch's, which calls it the old kind): ``hook(module, grad_input,
    grad_output)`` for every module's backward, run as ``Module.register_backward_hook`` runs
    its hook (modules called with one tensor input). A removable handle."""
    _global_backward_hook_kind(False)
    return _add_global_hook(_global_backward_hooks, _deprecated_backward_hook(hook),
                            "register_module_backward_hook")


def _deprecated_backward_hook(hook):
    """The deprecated backward hook as a full one: for a module with one positional tensor
    input that is what torch's old hook sees when the forward is one autograd node (an
    activation); a module called with several inputs refuses in backward, where torch's old
    hook would see another node's gradients."""
    if not callable(hook):
        raise TypeError(f"register_backward_hook: a hook must be callable, got "
                        f"{type(hook).__name__}")

    def single_input(module, grad_input, grad_output):
        if len(grad_input) != 1:
            raise ValueError(
                f"{type(module).__name__}.register_backward_hook: the deprecated hook is "
                f"supported for one input only, the module got {len(grad_input)}; use "
                "register_full_backward_hook")
        return hook(module, grad_input, grad_output)

    return single_input


# torch's global registration hooks: ``hook(module, name, value)`` when a parameter, buffer
# or child module is registered (by assignment too); a value returned replaces it
_global_parameter_registration_hooks: dict[int, Any] = {}
_global_buffer_registration_hooks: dict[int, Any] = {}
_global_module_registration_hooks: dict[int, Any] = {}


def register_module_parameter_registration_hook(hook):
    """``hook(module, name, param)`` each time a module registers a parameter (not None);
    returning a value registers that instead. A removable handle."""
    from dlpy.hooks import add_hook

    return add_hook(_global_parameter_registration_hooks, hook,
                    "register_module_parameter_registration_hook")


def register_module_buffer_registration_hook(hook):
    """``hook(module, name, buffer)`` each time a module registers a buffer (None too);
    returning a value registers that instead. A removable handle."""
    from dlpy.hooks import add_hook

    return add_hook(_global_buffer_registration_hooks, hook,
                    "register_module_buffer_registration_hook")


def register_module_module_registration_hook(hook):
    """``hook(module, name, submodule)`` each time a module registers a child (None too, as
    torch's); returning a value registers that instead. A removable handle."""
    from dlpy.hooks import add_hook

    return add_hook(_global_module_registration_hooks, hook,
                    "register_module_module_registration_hook")


def _registered(hooks: dict, module, name: str, value):
    """``value`` after the global registration ``hooks``, each given the last one's result."""
    for hook in list(hooks.values()):
        output = hook(module, name, value)
        if output is not None:
            value = output
    return value


class _ParameterMeta(type):
    """torch's: ``isinstance(t, Parameter)`` is also True for an instance of a Tensor subclass
    that ``Parameter(t)`` made a parameter (marked ``_is_param``)."""

    def __instancecheck__(cls, instance) -> bool:
        if cls is Parameter and isinstance(instance, Tensor) and \
                getattr(instance, "_is_param", False):
            return True
        return super().__instancecheck__(instance)


class Parameter(Tensor, metaclass=_ParameterMeta):
    """A tensor that a Module owns and an optimiser updates (requires_grad by default). Float
    and complex data keep their dtype (a complex one makes a ComplexParameter); other data
    becomes the default dtype (float32 unless dlpy.set_default_dtype). ``Parameter(t)`` of a
    float Tensor shares its memory, as torch's (a change of one is seen by the other); an
    array or a list is copied; no data is an empty one, as torch's. ``Parameter(t)`` of an
    instance of a Tensor subclass of the user's is, as torch's, ``t.detach()`` (of t's class,
    on its memory) marked a parameter: ``isinstance(p, Parameter)`` holds and modules
    register it."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors
    __slots__ = ()

    def __new__(cls, data=None, requires_grad: bool = True, dtype=None):
        kind = type(data)
        if cls is Parameter and isinstance(data, Tensor) and not isinstance(
                data, (Parameter, ComplexTensor)) and kind is not Tensor and (
                kind.__module__.partition(".")[0] != "dlpy"  # (dlpy's own kinds: below)
                or getattr(kind, "_marked_parameter", False)):  # (a FakeTensor: marked too)
            marked = data.detach().requires_grad_(requires_grad)
            if type(marked) is not kind:  # torch's check and message
                raise RuntimeError(
                    f"Creating a Parameter from an instance of type {kind.__name__} requires "
                    f"that detach() returns an instance of the same type, but return type "
                    f"{type(marked).__name__} was found instead. To use the type as a "
                    "Parameter, please correct the detach() semantics defined by its "
                    "__torch_dispatch__() implementation.")
            marked._is_param = True
            return marked
        return super().__new__(cls)

    def __init__(self, data=None, requires_grad: bool = True, dtype=None):
        if data is None:
            data = np.empty(0, dtype=default_dtype() if dtype is None else dtype)
        if type(data) is MetaArray:  # a meta draw of a layer built on meta: a meta Parameter
            data = Tensor(data)
        if isinstance(data, Tensor):
            if dtype is None and data.data.dtype.kind in "biu":  # torch's: kept, or refused
                if requires_grad:
                    raise RuntimeError(f"Parameter: only Tensors of floating point and complex "
                                       f"dtype can require gradients, got {data.data.dtype}")
                super().__init__(np.array(data.data, copy=True))
                return
            if type(data.data) is MetaArray:  # a meta tensor: a meta Parameter
                meta_dtype = data.data.dtype if dtype is None else np.dtype(dtype)
                super().__init__(meta_array(data.data.shape, meta_dtype),
                                 requires_grad=requires_grad and meta_dtype.kind in "fcV")
                return
            if (dtype is None or np.dtype(dtype) == data.data.dtype) \
                    and data.data.dtype.kind == "f" and type(data.data) is np.ndarray:
                # a float Tensor's own memory, as torch's (Parameter(t) and t share it)
                super().__init__(data.data, requires_grad=requires_grad)
                return
            data = data.data
        if dtype is not None and np.dtype(dtype).kind != "c" and np.iscomplexobj(data):
            raise TypeError(f"Parameter: complex data cannot become {np.dtype(dtype)} (the "
                            "imaginary part would be lost); give a complex dtype, or pass "
                            "data.real explicitly")
        array = np.array(data, dtype=dtype if dtype is not None else None, copy=True)
        if array.dtype.kind not in "fc" and not is_floating_dtype(array.dtype):
            array = array.astype(default_dtype())
        if array.dtype.kind == "c":  # (Tensor's own test admits complex for a Tensor only)
            super().__init__(array)
            self.requires_grad = bool(requires_grad)
            self.__class__ = ComplexParameter  # so ops take the complex path (ops/complex.py)
        else:
            super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        """copy.deepcopy as torch's Parameter: new memory, the same requires_grad and class,
        no gradient and none of its Python attributes (a Tensor's deepcopy keeps both; torch's
        Parameter is made afresh from its data)."""
        if id(self) in memo:
            return memo[id(self)]
        new = super().__deepcopy__(memo)
        new._grad = None
        extra = getattr(new, "__dict__", None)
        if extra:
            extra.clear()
        return new


class ComplexParameter(Parameter, ComplexTensor):
    """A Parameter holding complex64 or complex128 data (``Parameter(complex data)`` makes
    one): a Parameter to modules and optimisers, a ComplexTensor to ops."""

    __slots__ = ()


class Buffer(Tensor):
    """``self.x = nn.Buffer(t)`` registers a buffer, as torch 2.5+'s nn.Buffer: the module
    keeps a copy of ``t``'s array under that name (``register_buffer``); ``persistent=False``
    leaves it out of the state dict."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors
    __slots__ = ("persistent",)

    def __init__(self, data, *, persistent: bool = True):
        data = data.data if isinstance(data, Tensor) else data
        super().__init__(np.array(data, copy=True))
        self.persistent = bool(persistent)


def _factory_kwargs(cls: type) -> None:
    """torch's factory kwargs (``device=``, ``dtype=``) of a dlpy layer. One whose constructor
    takes ``dtype=`` but not ``device=`` takes ``device=`` too: the CPU, or torch's error for
    another device. One given ``device="meta"`` (or made where the default device is meta,
    ``with dlpy.device("meta"):``) is built as usual, its draws from a scratch generator, and
    its parameters and buffers become meta tensors as they are registered
    (``dlpy.meta.building``)."""
    init = cls.__dict__["__init__"]
    try:
        parameters = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return
    if "device" in parameters:
        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            where = kwargs.get("device")
            if (not wants_meta(where)) or _meta_device._building[0]:
                return init(self, *args, **kwargs)
            if where is not None:
                kwargs["device"] = None
            with _meta_device.building(where):
                init(self, *args, **kwargs)
    elif "dtype" in parameters and not any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        @functools.wraps(init)
        def __init__(self, *args, device=None, **kwargs):
            if wants_meta(device) and not _meta_device._building[0]:
                with _meta_device.building(device):
                    init(self, *args, **kwargs)
                return
            as_device(device, type(self).__name__)
            init(self, *args, **kwargs)
    else:
        return
    cls.__init__ = __init__


def _is_fake(t) -> bool:
    """Whether ``t`` is a FakeTensor (one holds a meta array)."""
    if not isinstance(t, Tensor) or type(t.data) is not MetaArray:
        return False
    from dlpy._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor)


def _refuse_fake_swap(module: Module, key: str, p) -> None:
    """torch's error for a conversion (``to``, ``double``, ``cpu``, ``to_empty``) of a
    module holding a FakeTensor parameter (one built inside a FakeTensorMode): its
    Parameter cannot take the new tensor's place."""
    if _is_fake(p):
        raise RuntimeError(f"_apply(): Couldn't swap {type(module).__name__}.{key}")


def _numeric(dtype: np.dtype) -> bool:
    """A floating or complex dtype: what ``Module.to`` casts to a complex dtype."""
    return is_floating_dtype(dtype) or dtype.kind == "c"


class _LazyHookDict:
    """A Module's hook dict as an attribute, made empty on first read (a non-data descriptor:
    once made, the instance's own entry is read). Reading it turns on state_dict's hooked path,
    since the reader may add hooks to it directly."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, module, owner=None):
        if module is None:
            return self
        return module._hooks(self.name)


class _Entries(dict):
    """A module's table of parameters, buffers or submodules (``_parameters``, ``_buffers``,
    ``_modules``). dlpy keeps each entry in the module's own dict as well, so that a plain
    attribute lookup reads it (``_set_entry``); this table keeps that copy in step where code
    written for torch changes the table itself, as torch's attribute lookup through the tables
    would see it (``m._parameters["weight"] = p`` then ``m.weight is p``; ``del
    m._modules[name]`` and the attribute is gone: learn2learn's MAML updates, pyro's
    ``to_pyro_module_``). Copied and pickled as a plain dict (``Module.__setstate__`` makes a
    table again)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Module, entries=()) -> None:
        dict.__init__(self, entries)
        self._owner = weakref.ref(owner)

    def __reduce__(self):
        return dict, (dict(self),)

    def __setitem__(self, name, value) -> None:
        dict.__setitem__(self, name, value)
        owner = self._owner()
        if owner is not None:
            _set_entry(owner, name, value)

    def __delitem__(self, name) -> None:
        dict.__delitem__(self, name)
        owner = self._owner()
        if owner is not None:
            owner.__dict__.pop(name, None)

    def pop(self, name, *default):
        if name in self:
            owner = self._owner()
            if owner is not None:
                owner.__dict__.pop(name, None)
        return dict.pop(self, name, *default)

    def popitem(self):
        name, value = dict.popitem(self)
        owner = self._owner()
        if owner is not None:
            owner.__dict__.pop(name, None)
        return name, value

    def clear(self) -> None:
        owner = self._owner()
        if owner is not None:
            for name in self:
                owner.__dict__.pop(name, None)
        dict.clear(self)

    def setdefault(self, name, default=None):
        if name not in self:
            self[name] = default
        return dict.__getitem__(self, name)

    def update(self, *args, **kwargs) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def __ior__(self, other):
        self.update(other)
        return self


_NOTHING = object()
# the state-dict key suffix of get_extra_state's value (torch's name; loaders compare keys with it)
_EXTRA_STATE_KEY_SUFFIX = "_extra_state"


def _class_attribute(cls: type, name: str) -> Any:
    """``cls``'s own attribute ``name`` through its method order (not an instance's), or
    _NOTHING; remembered per class, in the class (entries are registered on every module made
    and every functional_call, and a class rarely gains attributes once it has instances)."""
    cache = cls.__dict__.get("_dlpy_class_attributes")
    if cache is None:
        cache = {}
        try:
            type.__setattr__(cls, "_dlpy_class_attributes", cache)
        except (AttributeError, TypeError):  # (a metaclass that refuses: looked up each time)
            pass
    found = cache.get(name, None)
    if found is None:
        found = next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__),
                     _NOTHING)
        cache[name] = found
    return found


def _answers(module: Module, name: str) -> bool:
    """``hasattr(module, name)``, without a call of ``Module.__getattr__`` where only it could
    answer (its tables, looked up here): registering a name asks this of every new entry."""
    cls, state = type(module), module.__dict__
    if name in state:
        return True
    if cls.__getattr__ is Module.__getattr__ and _class_attribute(cls, name) is _NOTHING:
        return (name in state.get("_parameters", ()) or name in state.get("_buffers", ())
                or name in state.get("_modules", ()))
    return hasattr(module, name)


_METHODS = (types.FunctionType, staticmethod, classmethod)


def _set_entry(module: Module, name: str, value: Any) -> None:
    """The instance's own copy of a registered parameter, buffer or submodule (dlpy reads them
    by a plain attribute lookup); none where the class defines a data descriptor of that name
    (a property: it keeps the name, as in torch, whose entries live in their tables only, and
    its setter is not called); none either where the class defines its own ``__getattr__``
    (pyro's PyroModule): that class gets torch's lookup, its ``__getattr__`` sees every read."""
    cls = type(module)
    attribute = _class_attribute(cls, name)
    if cls.__getattr__ is not Module.__getattr__ or attribute is not _NOTHING and (
            hasattr(type(attribute), "__set__") or hasattr(type(attribute), "__delete__")
            or isinstance(attribute, _METHODS)):  # a method keeps its name, as torch's lookup
        module.__dict__.pop(name, None)
    else:
        module.__dict__[name] = value


class Module:
    """Base class of layers and models.

    Attributes that are Parameters or Modules are registered in assignment order, so
    ``named_parameters()`` gives dotted names (``encoder.layers.0.linear1.weight``) in a
    deterministic order. ``config`` (a JSON-able dict) rebuilds the model from a checkpoint.
    """

    # True once any module registers a state-dict hook or a class outside dlpy overrides
    # get/set_extra_state or _save_to_state_dict: until then state_dict takes its plain path and
    # pays nothing for either (load_state_dict also looks for _load_from_state_dict overrides)
    _state_extras_used = False
    # torch's state-dict hook dicts, which code written for torch reads directly
    _state_dict_hooks = _LazyHookDict()
    _state_dict_pre_hooks = _LazyHookDict()
    _state_dict_post_hooks = _LazyHookDict()
    _load_state_dict_pre_hooks = _LazyHookDict()
    _load_state_dict_post_hooks = _LazyHookDict()
    # the version ``state_dict()`` records in ``_metadata`` for this module's entries, which a
    # ``_load_from_state_dict`` override may read to convert an older layout (torch's)
    _version: int = 1
    # torch's class attributes that code reads: pickled modules' old flag, whether __init__
    # passes its extra arguments to super(), and the type of state_dict's destination
    dump_patches: bool = False
    call_super_init: bool = False
    T_destination = TypeVar("T_destination", bound=dict[str, Any])

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.get_extra_state is not Module.get_extra_state or \
                cls.set_extra_state is not Module.set_extra_state or \
                cls._save_to_state_dict is not Module._save_to_state_dict or \
                (cls.state_dict is not Module.state_dict  # a child's own state_dict is called,
                 and not cls.__module__.startswith("dlpy.")):  # as torch's (torchmetrics')
            Module._state_extras_used = True
        if cls.__module__.startswith("dlpy.") and "__init__" in cls.__dict__:
            _factory_kwargs(cls)

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", _Entries(self))
        object.__setattr__(self, "_modules", _Entries(self))
        object.__setattr__(self, "_buffers", _Entries(self))
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())

    @property
    def _non_persistent_buffers_set(self) -> set[str]:
        """torch's name for the set of the non-persistent buffers' names."""
        return self._non_persistent

    @_non_persistent_buffers_set.setter
    def _non_persistent_buffers_set(self, names: set[str]) -> None:
        object.__setattr__(self, "_non_persistent", names)

    def __setstate__(self, state: dict) -> None:
        """Unpickling (``copy.deepcopy``, ``dlpy.load`` of a whole module): the attributes as
        pickled; a module pickled while buffers were numpy arrays gets them as Tensors."""
        self.__dict__.update(state)
        for table in ("_parameters", "_modules", "_buffers"):  # (pickled as plain dicts)
            if type(state.get(table)) is dict:
                self.__dict__[table] = _Entries(self, state[table])
        # a pickle from before an attribute existed gets its default, as torch's
        if "_non_persistent_buffers_set" in state:
            self.__dict__["_non_persistent"] = set(state["_non_persistent_buffers_set"])
            del self.__dict__["_non_persistent_buffers_set"]
        for name in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks",
                     "_backward_pre_hooks"):
            self.__dict__.setdefault(name, {})
        self.__dict__.setdefault("_non_persistent", set())
        for name, value in state.get("_buffers", {}).items():
            if isinstance(value, np.ndarray):
                self._buffers[name] = self.__dict__[name] = Tensor(value)

    def __getattr__(self, name: str) -> Any:
        """torch's ``Module.__getattr__``, which Python calls only where the normal lookup
        fails: the registered parameter, buffer or submodule of that name (dlpy keeps them in
        the instance's dict as well, so a plain ``m.weight`` never comes here; code written
        for torch may call ``self.__getattr__(name)`` itself, as gpytorch's settable
        hyperparameters do), else torch's AttributeError."""
        state = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            registry = state.get(table)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __dir__(self) -> list[str]:
        """torch's: the class's and the instance's attributes with the registered names,
        sorted, without those no attribute syntax reaches (a child named "0" of a ModuleDict
        or a Sequential built from an OrderedDict: names starting with a digit)."""
        keys = {*dir(type(self)), *self.__dict__}
        for table in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(table) or ())
        return sorted(key for key in keys if not key[:1].isdigit())

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:  # plain attributes may come first, as torch's
            kind = "parameters" if isinstance(value, Parameter) else "module" \
                if isinstance(value, Module) else "buffer" if isinstance(value, Buffer) else None
            if kind is not None:
                raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
            object.__setattr__(self, name, value)
            return
        buffers = self.__dict__.get("_buffers", {})
        if not isinstance(value, Parameter) and value is not None:
            # torch's checks: a registered name takes only its own kind (or None)
            if name in self._parameters:
                raise TypeError(f"cannot assign '{_type_name(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            if name in self._modules and not isinstance(value, Module):
                raise TypeError(f"cannot assign '{_type_name(value)}' as child module "
                                f"'{name}' (torch.nn.Module or None expected)")
            if name in buffers and not isinstance(value, Module) and not _array_like(value):
                from dlpy.fx._symbolic_trace import Proxy

                if isinstance(value, Proxy) and value.tracer.assign_buffer(self, name, value):
                    return  # a traced forward's buffer update: recorded by its tracer
                raise TypeError(f"cannot assign '{_type_name(value)}' as buffer '{name}' "
                                "(torch.nn.Buffer, torch.Tensor or None expected)")
        if isinstance(value, Buffer):  # nn.Buffer: registered as one, by register_buffer's
            # rules (torch's): an attribute of that name refused, a buffer's place kept
            self.register_buffer(name, value.data, persistent=value.persistent)
            return
        if value is None and name in self._modules and _global_module_registration_hooks:
            value = _registered(_global_module_registration_hooks, self, name, None)
        if value is None and (name in self._parameters or name in self._modules):
            # the name stays (in its place), as torch's: `(b): None` in repr
            table = self._parameters if name in self._parameters else self._modules
            table[name] = None
            if type(table) is not _Entries:
                _set_entry(self, name, None)
            return
        if name in buffers and not isinstance(value, (Parameter, Module)):
            value = _as_buffer(value)
            if _meta_device._building[0]:  # a layer built on the meta device
                value = _meta_device.registered(value)
            if _global_buffer_registration_hooks:
                value = _registered(_global_buffer_registration_hooks, self, name, value)
            buffers[name] = value  # assigning to a buffer replaces its array (as PyTorch)
            if type(buffers) is not _Entries:
                _set_entry(self, name, value)
            return
        # a parameter (module) replaced by another keeps its place in the order, as PyTorch
        kind = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        if kind is self._parameters and not _registering[0] \
                and type(self).register_parameter is not _PLAIN_REGISTER_PARAMETER:
            # torch's __setattr__ registers a Parameter through self.register_parameter: a
            # subclass's own, or a patched one (accelerate's init_empty_weights), takes effect
            self.__dict__.pop(name, None)
            for registry in (self._modules, buffers):
                registry.pop(name, None)
            self.register_parameter(name, value)
            return
        if kind is not None and (_global_parameter_registration_hooks
                                 or _global_module_registration_hooks):
            value = _registered(_global_parameter_registration_hooks
                                if kind is self._parameters
                                else _global_module_registration_hooks, self, name, value)
        for registry in (self._parameters, self._modules, buffers):
            if registry is not kind and name in registry:
                del registry[name]
        if kind is self._parameters and (not name or "." in name):  # register_parameter's
            self._check_name(name, "parameter", kind)  # checks (a module's name has none)
        if kind is self._parameters and name not in kind:
            # torch's register_parameter: the name must not be the class's (a method, a
            # property whose getter answers), once an attribute of the instance is gone
            self.__dict__.pop(name, None)  # (and the other tables have no such entry now)
            cls = type(self)
            if (_class_attribute(cls, name) is not _NOTHING
                    or cls.__getattr__ is not Module.__getattr__) and hasattr(self, name):
                raise KeyError(f"attribute '{name}' already exists")
        if kind is not None:
            if _meta_device._building[0] and kind is self._parameters:  # built on the meta device
                value = _meta_device.registered(value)
            self._non_persistent.discard(name)
            kind[name] = value
            if type(kind) is not _Entries:
                _set_entry(self, name, value)
            return
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        registered = name in self._parameters or name in self._modules \
            or name in self.__dict__.get("_buffers", {})
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.get("_buffers", {}).pop(name, None)
        self._non_persistent.discard(name)
        if name in self.__dict__ or not registered:
            object.__delattr__(self, name)

    def register_buffer(self, name: str, array: Any, persistent: bool = True) -> None:
        """A named array that belongs to the module but is not learnt (no gradient, not in
        ``parameters()``): an index table, running statistics. Persistent buffers are saved in
        ``state_dict()`` beside the parameters and restored by ``load_state_dict`` (keeping the
        buffer's dtype); ``self.<name>`` is the numpy array (or None)."""
        if "_buffers" not in self.__dict__:  # torch's checks, in torch's order
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {_type_name(name)}")
        if "." in name:
            raise KeyError("buffer name can't contain \".\"")
        if not name:
            raise KeyError("buffer name can't be empty string \"\"")
        if name not in self._buffers and _answers(self, name):
            raise KeyError(f"attribute '{name}' already exists")
        if array is not None and not _array_like(array):
            raise TypeError(f"cannot assign '{_type_name(array)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        value = _as_buffer(array)
        if _meta_device._building[0]:  # a layer built on the meta device
            value = _meta_device.registered(value)
        if _global_buffer_registration_hooks:  # None too, as torch's
            value = _registered(_global_buffer_registration_hooks, self, name, value)
        self._buffers[name] = value
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        if type(self._buffers) is not _Entries:
            _set_entry(self, name, value)

    def forward(self, *input) -> None:  # noqa: A002 - torch's signature
        """The forward of a Module that defines none (torch's ``_forward_unimplemented(self,
        *input)``): torch's NotImplementedError naming the class."""
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required "
                                  "\"forward\" function")  # (torch's words)

    def __call__(self, *args, **kwargs):
        hooks = self.__dict__
        if not (_global_hooks_used or hooks.get("_forward_pre_hooks")
                or hooks.get("_forward_hooks") or hooks.get("_backward_hooks")
                or hooks.get("_backward_pre_hooks")):
            return self.forward(*args, **kwargs)  # no hooks: the plain call
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        hooks = self.__dict__.get("_forward_hooks")
        if _global_forward_hooks:
            hooks = {**_global_forward_hooks, **(hooks or {})}
        out = None
        called: set[int] = set()  # the forward hooks run so far (always_call: not again)
        try:
            pre_hooks = self.__dict__.get("_forward_pre_hooks")
            if pre_hooks or _global_forward_pre_hooks:  # the global ones first, as torch's
                args, kwargs = self._run_pre_hooks(
                    {**_global_forward_pre_hooks, **(pre_hooks or {})}
                    if _global_forward_pre_hooks else pre_hooks, args, kwargs)
            backward_hooks = self.__dict__.get("_backward_hooks")
            backward_pre_hooks = self.__dict__.get("_backward_pre_hooks")
            if _global_backward_hooks or _global_backward_pre_hooks:
                backward_hooks = {**_global_backward_hooks, **(backward_hooks or {})}
                backward_pre_hooks = {**_global_backward_pre_hooks, **(backward_pre_hooks or {})}
            call = None
            if (backward_hooks or backward_pre_hooks) and is_grad_enabled():
                from dlpy.hooks import BackwardHookCall

                call = BackwardHookCall(self, backward_hooks, backward_pre_hooks)
                args = call.gate_inputs(args)
            out = self.forward(*args, **kwargs)
            if hooks:
                with_kwargs = self._flags("_forward_hooks_with_kwargs")
                for key, hook in list(hooks.items()):
                    called.add(key)
                    result = hook(self, args, kwargs, out) if key in with_kwargs \
                        else hook(self, args, out)
                    if result is not None:
                        out = result
        except Exception:
            if hooks:
                self._run_always_called_hooks(hooks, args, kwargs, out, called)
            raise
        return out if call is None else call.gate_outputs(out)

    def _run_pre_hooks(self, pre_hooks: dict, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        with_kwargs = self.__dict__.get("_forward_pre_hooks_with_kwargs", ())  # (no global)
        for key, hook in list(pre_hooks.items()):
            if key in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {result}.")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        return args, kwargs

    def _run_always_called_hooks(self, hooks: dict, args: tuple, kwargs: dict, out,
                                 called: set[int]) -> None:
        """After a pre-hook, forward or a forward hook raised: the ``always_call`` forward
        hooks not run yet, with the output so far (None when forward did not finish); a hook
        that raises too is a warning, and the first exception goes on, as torch's."""
        always = self._flags("_forward_hooks_always_called")
        with_kwargs = self._flags("_forward_hooks_with_kwargs")
        for key, hook in list(hooks.items()):
            if key in always and key not in called:
                try:
                    result = hook(self, args, kwargs, out) if key in with_kwargs \
                        else hook(self, args, out)
                    if result is not None:
                        out = result
                except Exception as err:
                    warnings.warn("module forward hook with ``always_call=True`` raised an "
                                  "exception that was silenced as another error was raised "
                                  f"in forward: {err}", stacklevel=3)

    def _hook_flags(self, name: str) -> set[int]:
        return self.__dict__.setdefault(name, set())

    def _flags(self, name: str) -> set[int]:
        """This module's hook ids flagged ``name`` (with_kwargs, always_call) and the global
        hooks' (the module-level sets of that name)."""
        own, shared = self.__dict__.get(name, ()), _GLOBAL_FLAGS[name]
        return shared.union(own) if shared else own

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False):
        """``hook(module, args)`` before every ``forward``; returning a value replaces the
        positional arguments (a tuple, or one value). ``with_kwargs``: ``hook(module, args,
        kwargs)`` returning None or ``(new_args, new_kwargs)``; ``prepend``: before the hooks
        already registered. Returns a removable handle."""
        from dlpy.hooks import add_hook

        flags = (self._hook_flags("_forward_pre_hooks_with_kwargs"),) if with_kwargs else ()
        return add_hook(self._forward_pre_hooks, hook, "register_forward_pre_hook", prepend,
                        flags)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """``hook(module, args, output)`` after every ``forward``; returning a value replaces
        the output (e.g. to read a layer's activations: store them and return None).
        ``with_kwargs``: ``hook(module, args, kwargs, output)``; ``always_call``: also called
        (with output None) when forward raises; ``prepend``: before the hooks already
        registered. Returns a removable handle."""
        from dlpy.hooks import add_hook

        flags = ((self._hook_flags("_forward_hooks_with_kwargs"),) if with_kwargs else ()) + (
            (self._hook_flags("_forward_hooks_always_called"),) if always_call else ())
        return add_hook(self._forward_hooks, hook, "register_forward_hook", prepend, flags)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_input, grad_output)`` in the backward pass, once the gradients
        w.r.t. the module's positional tensor inputs are known: tuples of Tensors (None
        for an input that needs no gradient; grad_output has one entry per output tensor).
        Returning a tuple replaces grad_input. Called with grad_input all None when no input
        needs a gradient. Returns a removable handle."""
        from dlpy.hooks import add_hook

        self._backward_hook_kind(True)
        return add_hook(self.__dict__.setdefault("_backward_hooks", OrderedDict()), hook,
                        "register_full_backward_hook", prepend)

    def _backward_hook_kind(self, full: bool) -> None:
        """Note whether this module's backward hooks are full ones or the deprecated kind:
        one module may not have both (torch's RuntimeError, when the second is registered)."""
        kind = self.__dict__.get("_is_full_backward_hook")
        if kind is not None and kind != full:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks "
                               "on a single Module. Please use only one of them.")
        object.__setattr__(self, "_is_full_backward_hook", full)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_output)`` in the backward pass when the gradients w.r.t. the
        module's outputs are known, before its own backward; returning a tuple replaces
        grad_output. Returns a removable handle."""
        from dlpy.hooks import add_hook

        return add_hook(self.__dict__.setdefault("_backward_pre_hooks", OrderedDict()), hook,
                        "register_full_backward_pre_hook", prepend)

    def register_backward_hook(self, hook):
        """Deprecated (as torch): warns, then registers ``hook`` as a full backward hook. For a
        module with one positional tensor input that is what torch's old hook sees when the
        forward is one autograd node (an activation); a module called with several inputs
        refuses in backward, where torch's old hook would see another node's gradients."""
        warnings.warn("register_backward_hook is deprecated and does not see every grad_input "
                      "as torch's; use register_full_backward_hook", FutureWarning, stacklevel=2)
        single_input = _deprecated_backward_hook(hook)
        from dlpy.hooks import add_hook

        self._backward_hook_kind(False)
        return add_hook(self.__dict__.setdefault("_backward_hooks", OrderedDict()), single_input,
                        "register_backward_hook")

    def _hooks(self, name: str) -> dict:
        """The module's hook dict ``name``, made on first use (most modules never have one);
        torch's state-dict hook dicts read as attributes (``self._state_dict_hooks``, as
        opacus' DPMultiheadAttention does) are made this way too (``_LazyHookDict``)."""
        hooks = self.__dict__.get(name)
        if hooks is None:
            hooks = OrderedDict()  # (torch's hook dicts are OrderedDicts)
            object.__setattr__(self, name, hooks)
        Module._state_extras_used = True
        return hooks

    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` before ``state_dict()`` reads this module.
        Returns a removable handle."""
        from dlpy.hooks import add_hook

        return add_hook(self._hooks("_state_dict_pre_hooks"), hook,
                        "register_state_dict_pre_hook")

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` once ``state_dict()`` has read
        this module and its children; it edits the dict in place and must return None."""
        from dlpy.hooks import add_hook

        return add_hook(self._hooks("_state_dict_post_hooks"), hook,
                        "register_state_dict_post_hook")

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before ``load_state_dict`` reads the dict (it may edit
        it, e.g. rename keys; messages added to error_msgs make the load fail)."""
        from dlpy.hooks import add_hook

        return add_hook(self._hooks("_load_state_dict_pre_hooks"), hook,
                        "register_load_state_dict_pre_hook")

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` after ``load_state_dict`` has loaded this module
        and its children: its ``missing_keys`` / ``unexpected_keys`` lists may be edited in
        place (the strict check reads them after the hooks); it must return None."""
        from dlpy.hooks import add_hook

        return add_hook(self._hooks("_load_state_dict_post_hooks"), hook,
                        "register_load_state_dict_post_hook")

    def _register_state_dict_hook(self, hook):
        """torch's older post hook: ``hook(module, state_dict, prefix, local_metadata)``, whose
        return value (when not None) replaces the dict."""
        from dlpy.hooks import add_hook

        return add_hook(self._hooks("_state_dict_hooks"), hook, "_register_state_dict_hook")

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False):
        """torch's older load pre hook: ``hook(state_dict, prefix, local_metadata, strict,
        missing_keys, unexpected_keys, error_msgs)``, the module first with ``with_module``."""
        from dlpy.hooks import add_hook

        if not callable(hook):
            raise TypeError(f"_register_load_state_dict_pre_hook: a hook must be callable, got "
                            f"{type(hook).__name__}")
        wrapped = hook if with_module else functools.wraps(hook)(
            lambda module, *args: hook(*args))
        return add_hook(self._hooks("_load_state_dict_pre_hooks"), wrapped,
                        "_register_load_state_dict_pre_hook")

    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to save something beside the arrays: stored in
        ``state_dict()`` under ``<prefix>_extra_state``, as torch."""
        raise RuntimeError(f"{type(self).__name__}.get_extra_state: not overridden")

    def set_extra_state(self, state: Any) -> None:
        """Override to restore what ``get_extra_state`` returned (``load_state_dict`` calls it)."""
        raise RuntimeError(f"{type(self).__name__}.set_extra_state: not overridden")

    # ----------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for self and every submodule, depth first; a module reached twice
        (shared) comes once, under its first name, unless ``remove_duplicate=False``;
        modules in ``memo`` (a set, added to as torch's) are skipped."""
        if memo is not None and self in memo:
            return
        if remove_duplicate:
            memo = set() if memo is None else memo
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:  # (a name registered with None)
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct submodules; one shared under two names comes once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def _check_name(self, name: str, what: str, registry: dict) -> None:
        """torch's checks: a string, non-empty, no '.', and no attribute of that name unless
        ``registry`` (the parameters or the modules) already holds it."""
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string. Got {_type_name(name)}")
        if "." in name:  # torch's messages
            got = f", got: {name}" if what == "module" else ""
            raise KeyError(f"{what} name can't contain \".\"{got}")
        if not name:
            raise KeyError(f"{what} name can't be empty string \"\"")
        if name not in registry and _answers(self, name):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """``self.name = param`` with PyTorch's checks. None registers the name without a
        value, as torch's: ``self.name`` is None, it is in neither ``parameters()`` nor
        ``state_dict()``, and only a Parameter (or None) may be assigned to it later."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_type_name(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        if param is None:
            self._modules.pop(name, None)
            self.__dict__.get("_buffers", {}).pop(name, None)
            self._parameters[name] = None
            if type(self._parameters) is not _Entries:
                _set_entry(self, name, None)
            return
        _registering[0] += 1  # (Module.__setattr__ then stores it, not calling this again)
        try:
            Module.__setattr__(self, name, param)  # (not a subclass's __setattr__, as torch's)
        finally:
            _registering[0] -= 1

    def add_module(self, name: str, module: Module | None) -> None:
        """``self.name = module`` with PyTorch's checks (the value's type first);
        ``register_module`` is the same."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_type_name(module)} is not a Module subclass")
        self._check_name(name, "module", self._modules)
        if module is None and _global_module_registration_hooks:
            module = _registered(_global_module_registration_hooks, self, name, None)
            if module is not None:
                Module.__setattr__(self, name, module)
                return
        if module is None:  # registered without a module, as torch's: `(name): None`
            self._parameters.pop(name, None)
            self.__dict__.get("_buffers", {}).pop(name, None)
            self._modules[name] = None
            if type(self._modules) is not _Entries:
                _set_entry(self, name, None)
            return
        Module.__setattr__(self, name, module)  # (not a subclass's __setattr__, as torch's)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"encoder.layers.0"``; ``""`` is self)."""
        module = self
        for part in target.split(".") if target != "" else []:  # a non-str: torch's error
            child = module._modules.get(part)
            if child is None:  # torch's messages
                if not hasattr(module, part):
                    raise AttributeError(f"{module._get_name()} has no attribute `{part}`")
                raise AttributeError(f"`{part}` is not an nn.Module")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"encoder.layers.0.linear1.weight"``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        if not isinstance(module._parameters.get(name), Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return module._parameters[name]

    def get_buffer(self, target: str) -> np.ndarray:
        """The buffer at a dotted path (``"bn.running_mean"``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return module._buffers[name]

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Put ``module`` at a dotted path, replacing a submodule there or (unless ``strict``)
        adding one to an existing parent; as torch."""
        if not isinstance(target, str) or not target:
            raise ValueError(f"set_submodule: the target must be a non-empty dotted name, got "
                             f"{target!r}")
        if not isinstance(module, Module):
            raise ValueError(f"set_submodule({target!r}): expected a Module, got "
                             f"{type(module).__name__}")
        path, _, name = target.rpartition(".")
        parent = self.get_submodule(path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"set_submodule({target!r}, strict=True): "
                                 f"{type(parent).__name__} has no submodule {name!r}")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"set_submodule({target!r}): {name!r} is not a Module")
        setattr(parent, name, module)

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every submodule, children before their parent (post-order,
        as PyTorch; a child registered twice under one parent is visited once), then on
        ``self``; returns self. ``model.apply(init_weights)`` re-initialises a model."""
        seen: set[int] = set()
        for child in self._modules.values():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                child.apply(fn)
        fn(self)
        return self

    def _apply(self, fn, recurse: bool = True) -> Module:
        """torch's conversion hook, which ``to``/``double``/``float``/... are built on:
        ``fn(tensor)`` gives each parameter its new values (the same Parameter object, or a new
        one under torch.__future__'s overwrite flag; its gradient is converted too, a sparse one
        dropped) and each buffer its new tensor (written to ``_buffers``, as torch's, not through
        ``__setattr__``), children first unless ``recurse=False``; returns self."""
        from dlpy.future_flags import get_overwrite_module_params_on_conversion
        from dlpy.tensor import no_grad

        if recurse:
            for child in self.children():
                child._apply(fn)
        overwrite = get_overwrite_module_params_on_conversion()
        with no_grad():
            for key, p in list(self._parameters.items()):
                if p is None:
                    continue
                applied = fn(p)
                if applied is p:
                    continue
                _refuse_fake_swap(self, key, p)
                grad = p._grad
                if overwrite:  # a new Parameter takes its place
                    p = Parameter(Tensor(as_array(applied)), p.requires_grad)
                    self._parameters[key] = p
                else:
                    p.data = applied.data if isinstance(applied, Tensor) else as_array(applied)
                    if _is_fake(applied):  # (a real one converted inside a FakeTensorMode
                        # that allows real inputs: a fake, as torch's swapped Parameter)
                        from dlpy._subclasses.fake_tensor import _make_fake

                        _make_fake(p, applied.fake_mode, applied.fake_device)
                if grad is not None:
                    p.grad = Tensor(as_array(fn(grad))) if isinstance(grad, Tensor) else None
            for name, buffer in self._buffers.items():
                if buffer is not None:
                    self._buffers[name] = fn(buffer)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes the module); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        """(module, own name, dotted name, value) of the non-None entries of each module's
        ``table``, self first then depth first; a value reached twice (shared) comes once
        unless ``remove_duplicate=False``."""
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse
                   else [(prefix, self)])
        seen: set[int] = set()
        for module_name, module in modules:
            for name, value in module.__dict__.get(table, {}).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module, name, (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), a generator as torch's; ``recurse=False``: own only."""
        for _, _, name, param in self._named_members("_parameters", prefix, recurse,
                                                     remove_duplicate):
            yield name, param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """A generator over the parameters, as torch's (``next(model.parameters())`` works;
        ``list(...)`` where a list is needed)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True, *, persistent_only: bool = False
                      ) -> Iterator[tuple[str, np.ndarray]]:
        for module, own, name, array in self._named_members("_buffers", prefix, recurse,
                                                            remove_duplicate):
            if not (persistent_only and own in module._non_persistent):
                yield name, array

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """A generator over the buffers, as torch's."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, only_trainable: bool = False,
                       exclude_embeddings: bool = False) -> int:
        """The number of parameter elements (each shared parameter once). The keywords are
        those of Hugging Face's ``ModuleUtilsMixin.num_parameters``, which this method would
        otherwise hide from a model that lists ``nn.Module`` before that mixin:
        ``only_trainable`` counts those that require grad, ``exclude_embeddings`` leaves out
        the weights of ``nn.Embedding`` layers."""
        skip = set()
        if exclude_embeddings:
            from dlpy.nn.embedding import Embedding
            skip = {id(m.weight) for m in self.modules() if isinstance(m, Embedding)}
        return int(sum(p.data.size for p in self.parameters()
                       if id(p) not in skip and (p.requires_grad or not only_trainable)))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients: None (PyTorch's default) or zero-filled arrays."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    def to(self, *args, **kwargs) -> Module:
        """torch's ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or
        keywords ``device, dtype, non_blocking``: cast every floating-point parameter and
        buffer to ``dtype``, in place (the Parameter objects stay the same, so an optimiser
        made before still holds them; their ``.grad`` is cast too); returns the module. Complex
        parameters are left as they are (as torch's ``float()``/``double()``); a complex
        ``dtype`` makes the floating ones complex too, with torch's warning. dlpy has one
        device: ``to("cpu")`` does nothing, any other device raises ``RuntimeError``, except
        ``to("meta")``: every parameter and buffer keeps its shape and dtype and loses its
        values (a ``MetaArray``), torch's stateless base for ``func.functional_call``."""
        from dlpy.device import parse_to_device

        name = f"{type(self).__name__}.to"
        dtype, _, where = parse_to_device(name, args, kwargs)
        if where is not None and where.type != "meta" and any(
                type(t.data) is MetaArray for t in (*self.parameters(), *self.buffers())):
            _meta_device.refuse_values(self, "module")  # torch's: to_empty() is the way off meta
        if where is not None and where.type == "meta":
            for module in self.modules():
                for key, p in list(module._parameters.items()):
                    _refuse_fake_swap(module, key, p)
                    if p is not None:  # a new Parameter, as torch's (its tensor changes kind)
                        floating = dtype is not None and is_floating_dtype(p.data.dtype)
                        setattr(module, key, Parameter(Tensor(meta_array(
                            p.data.shape, dtype if floating else p.data.dtype)),
                            requires_grad=p.requires_grad))
                for key, buffer in module._buffers.items():
                    if buffer is not None:
                        floating = dtype is not None and is_floating_dtype(buffer.dtype)
                        setattr(module, key, meta_array(buffer.shape,
                                                        dtype if floating else buffer.dtype))
            return self
        if kwargs.get("memory_format") is not None:
            self._relayout(kwargs["memory_format"])
        if dtype is None:
            return self
        if dtype.kind == "c":
            return self._to_complex(dtype)
        if not is_floating_dtype(dtype):  # torch's words
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype=torch.{dtype.name}")

        # complex tensors too, as torch's to() (which float()/double()/... do not cast)
        return self._cast_floating(dtype, complex_too=True)

    def _cast_floating(self, dtype: np.dtype, complex_too: bool) -> Module:
        """Every floating parameter and buffer (and complex one, where ``complex_too``) cast
        to the real ``dtype`` in place, gradients along; returns self."""
        from dlpy.ops.arithmetic import cast

        def convert(t):
            if not isinstance(t, Tensor) or t.dtype == dtype or not (
                    is_floating_dtype(t.dtype) or complex_too and t.dtype.kind == "c"):
                return t
            if type(t.data) is MetaArray:  # (a FakeTensor buffer: a fake one)
                return t.to(dtype) if _is_fake(t) else Tensor(meta_array(t.data.shape, dtype))
            if t.dtype.kind == "c":  # the real part, with torch's warning
                return cast(t, dtype)
            return t.astype(dtype)  # (an UninitializedBuffer stays one)

        # through _apply, as torch's: a subclass's _apply sees the conversion (gpytorch's ExactGP
        # casts its training data there, BoTorch's BetaPrior refreshes its Dirichlet)
        self._apply(convert)
        if complex_too:
            self._parameter_classes()
        return self

    def _parameter_classes(self) -> None:
        # a Parameter's class follows its values: complex ones are ComplexParameters
        for p in self.parameters():
            if p.data.dtype.kind == "c" and type(p) is Parameter:
                p.__class__ = ComplexParameter
            elif p.data.dtype.kind != "c" and type(p) is ComplexParameter:
                p.__class__ = Parameter

    def _to_complex(self, dtype: np.dtype) -> Module:
        """``to(complex dtype)``: every floating or complex parameter and buffer takes it (a
        Parameter stays the same object, now a ComplexParameter), with torch's warning."""
        warnings.warn(
            "Complex modules are a new feature under active development whose design may "
            "change, and some modules might not work as expected when using complex tensors as "
            "parameters or buffers. Please file an issue at https://github.com/pytorch/pytorch/"
            "issues/new?template=bug-report.yml if a complex module does not work as expected.",
            UserWarning, stacklevel=3)
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None and _numeric(p.data.dtype) and p.data.dtype != dtype:
                    grad = p._grad
                    p.data = p.data.astype(dtype)
                    if type(p) is Parameter:
                        p.__class__ = ComplexParameter
                    p.grad = (Tensor(grad.data.astype(dtype)) if isinstance(grad, Tensor)
                              else None)
            for name, buffer in module._buffers.items():
                if buffer is not None and _numeric(buffer.dtype) and buffer.dtype != dtype:
                    setattr(module, name, buffer.astype(dtype))
        return self

    def _relayout(self, fmt) -> None:
        """``to(memory_format=)``: every 4-d and 5-d parameter's and buffer's memory in
        ``fmt``'s order (in place: the same Parameter objects), as torch's."""
        from dlpy.layouts import _checked, laid_out

        for module in self.modules():
            for p in module._parameters.values():
                if p is not None and p.data.ndim in (4, 5):
                    p.data = laid_out(p.data, _checked("to", fmt, p.data.ndim))
            for buffer in module._buffers.values():
                if buffer is not None and buffer.ndim in (4, 5):
                    buffer.data = laid_out(buffer.data, _checked("to", fmt, buffer.ndim))

    def float(self) -> Module:
        """``to(np.float32)`` of the floating tensors (complex ones stay, as torch's)."""
        return self._to_floating(np.float32)

    def double(self) -> Module:
        """``to(np.float64)`` of the floating tensors (complex ones stay, as torch's)."""
        return self._to_floating(np.float64)

    def half(self) -> Module:
        """``to(np.float16)``: float16 parameters and floating buffers (complex ones stay)."""
        return self._to_floating(np.float16)

    def bfloat16(self) -> Module:
        """``to(dlpy.bfloat16)``: bfloat16 parameters and floating buffers (needs ml_dtypes;
        complex ones stay)."""
        from dlpy.amp.dtypes import bfloat16

        return self._to_floating(np.dtype(bfloat16))

    def _to_floating(self, dtype: np.dtype) -> Module:
        return self._cast_floating(dtype, complex_too=False)

    def type(self, dtype) -> Module:
        """Cast every parameter and every buffer, integer and complex ones too, to ``dtype``
        (a dtype, its name, or a legacy type name such as "torch.DoubleTensor"), in place, as
        torch's ``_apply(lambda t: t.type(dtype))``: a complex ``dtype`` makes them all complex
        (without ``to``'s warning), a real one drops complex values' imaginary parts, gradients
        are cast alike. A non-floating ``dtype`` is refused while a parameter requires grad,
        in torch's words."""
        from dlpy.tensor_methods import _type

        probe = _type(Tensor(np.zeros((0,), np.float32)), dtype)  # torch's errors of a bad name
        target = probe.dtype
        if not is_floating_dtype(target) and target.kind != "c" and any(
                p.requires_grad for p in self.parameters()):
            raise RuntimeError("data set to a tensor that requires gradients must be "
                               "floating point or complex dtype")
        self._apply(lambda t: _type(t, target))
        self._parameter_classes()
        return self

    def cpu(self) -> Module:
        """dlpy's tensors are on the CPU: returns self (one with meta parameters or buffers:
        torch's error, as ``to("cpu")``; one with FakeTensor parameters: torch's error of a
        parameter it cannot swap)."""
        for module in self.modules():
            for key, p in module._parameters.items():
                _refuse_fake_swap(module, key, p)
        if any(type(t.data) is MetaArray for t in (*self.parameters(), *self.buffers())):
            _meta_device.refuse_values(self, "module")
        return self

    def cuda(self, device=None) -> Module:
        """Raises RuntimeError: dlpy has no CUDA device (use ``to("cpu")`` or nothing); a
        module without parameters or buffers has nothing to move and is returned, as torch's."""
        from dlpy.cuda import NO_CUDA

        return self._move_to_device(_AssertedError(f"{type(self).__name__}.cuda: {NO_CUDA}"))

    def xpu(self, device=None) -> Module:
        """torch's error of a build without XPU, or self for a module with no tensors."""
        return self._move_to_device(_AssertedError("Torch not compiled with XPU enabled"))

    def ipu(self, device=None) -> Module:
        """torch's error of a build without IPU, or self for a module with no tensors."""
        return self._move_to_device(
            RuntimeError("PyTorch is not linked with support for ipu devices"))

    def mtia(self, device=None) -> Module:
        """torch's error of a build without MTIA, or self for a module with no tensors."""
        return self._move_to_device(_AssertedError("Torch not compiled with MTIA enabled"))

    def _move_to_device(self, error: Exception) -> Module:
        # torch's _apply(lambda t: t.cuda()): the error comes from the first tensor moved, so a
        # module holding none (ReLU, Dropout, a Sequential of them) is returned as it is
        if next(self.parameters(), None) is not None or next(self.buffers(), None) is not None:
            raise error
        return self

    def share_memory(self) -> Module:
        """Marks every parameter, gradient and buffer shared (``is_shared()``), as torch's
        ``_apply(lambda t: t.share_memory_())``; returns self. dlpy's arrays live in this
        process: nothing moves (torch moves them to shared memory for multiprocessing)."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    p.share_memory_()
                    if p.grad is not None:
                        p.grad.share_memory_()
            for buffer in module._buffers.values():
                if buffer is not None:
                    buffer.share_memory_()
        return self

    def to_empty(self, *, device=None, recurse: bool = True) -> Module:
        """Parameters and buffers become zeros of the same shape and dtype (torch leaves
        uninitialised memory; dlpy has none), in place; ``device`` the CPU (None, "cpu",
        "cpu:0", a dlpy.device) or ``meta`` (shapes and dtypes only), any other a
        ``RuntimeError``. The way from the meta device to the CPU: ``to_empty(device="cpu")``,
        then ``load_state_dict`` or ``reset_parameters``."""
        from dlpy.device import as_device, meta_array

        where = as_device(device, f"{type(self).__name__}.to_empty", meta=True)

        def empty(array) -> np.ndarray:
            return meta_array(array.shape, array.dtype) if where.type == "meta" \
                else np.zeros(array.shape, array.dtype)

        for module in self.modules() if recurse else (self,):
            for key, p in module._parameters.items():
                if p is None:
                    continue
                _refuse_fake_swap(module, key, p)
                p.data = empty(p.data)
                if p.grad is not None:
                    p.grad = empty(p.grad.data)
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    setattr(module, name, empty(buffer.data))
        return self

    def train(self, mode: bool = True) -> Module:
        """Training (True) or evaluation mode for self and, through each child's own
        ``train`` (a subclass's override is honoured, as torch's), every submodule."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: training mode is expected to be "
                             f"boolean, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def compile(self, *args, **kwargs) -> None:
        """torch's ``Module.compile``: the arguments are checked as ``torch.compile`` checks
        them; calls stay eager (dlpy has no compiler), so the module is left as it is."""
        from dlpy.compiler import compile as compile_

        compile_(self.forward, *args, **kwargs)

    # ----------------------------------------------------------------- state
    def state_dict(self, *args, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:
        """Name -> each parameter's and persistent buffer's values, in torch's order: each
        module's own parameters, then its own buffers, then its children's, depth first (a
        shared module or parameter under each of its names, as torch's). The values are
        detached Tensors over the parameters' own arrays, as torch's: writing into one writes
        the parameter, and training changes them (``clone()`` them for a snapshot);
        ``keep_vars``: the Parameters and buffers themselves. ``prefix`` starts every name;
        ``destination``: a dict the entries are added to (and returned).

        The result is an OrderedDict whose ``_metadata`` maps each module's name (prefix
        without its last dot) to ``{"version": module._version}``, as torch's; load_state_dict
        hands that dict to each module's ``_load_from_state_dict``."""
        if args:  # torch's deprecated positional form
            warnings.warn("Positional args are being deprecated, use kwargs instead. Refer to "
                          "https://pytorch.org/docs/main/generated/torch.nn.Module.html"
                          "#torch.nn.Module.state_dict for details.", FutureWarning, stacklevel=2)
            destination, prefix, keep_vars = (*args, *(destination, prefix, keep_vars)[len(args):])
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        if Module._state_extras_used:
            return self._state_dict_hooked(destination, prefix, keep_vars)
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:
            for name, module in self.named_modules(remove_duplicate=False):
                key = prefix + (f"{name}." if name else "")
                metadata[key[:-1]] = {"version": module._version}
        destination.update(self._state_arrays(prefix=prefix, keep_vars=keep_vars))
        return destination

    def _state_arrays(self, prefix: str = "", keep_vars: bool = False
                      ) -> Iterator[tuple[str, Any]]:
        """(name, value) of every module's parameters and persistent buffers, for state_dict's
        plain path and load_state_dict's."""
        for module_name, module in self.named_modules(remove_duplicate=False):
            head = prefix + (f"{module_name}." if module_name else "")
            for name, param in module._parameters.items():
                if param is not None:  # None: no entry, as torch's
                    yield head + name, _state_value(param, keep_vars)
            for name, buffer in module.__dict__.get("_buffers", {}).items():
                if buffer is not None and name not in module._non_persistent:
                    yield head + name, _state_value(buffer, keep_vars)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """This module's own entries (not its children's) into ``destination``: parameters,
        persistent buffers, and ``<prefix>_extra_state`` when ``get_extra_state`` is
        overridden. state_dict calls it for each module; a subclass may override it, as
        torch's."""
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = _state_value(param, keep_vars)
        for name, buffer in self.__dict__.get("_buffers", {}).items():
            if buffer is not None and name not in self._non_persistent:
                destination[prefix + name] = _state_value(buffer, keep_vars)
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def _state_dict_hooked(self, destination: dict, prefix: str, keep_vars: bool) -> dict:
        """state_dict() once hooks, extra state or overrides exist, as torch's: this module's
        pre hooks, its ``_metadata`` entry, ``_save_to_state_dict``, each child's
        ``state_dict`` (its own hooks), then this module's post hooks."""
        for hook in list(self.__dict__.get("_state_dict_pre_hooks", {}).values()):
            hook(self, prefix, keep_vars)
        local_metadata = {"version": self._version}
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:
            metadata[prefix[:-1]] = local_metadata
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=f"{prefix}{name}.",
                                  keep_vars=keep_vars)
        public = self.__dict__.get("_state_dict_post_hooks") or {}
        older = self.__dict__.get("_state_dict_hooks") or {}
        if public or older:  # both kinds in the order registered (torch keeps one dict)
            for key in sorted([*public, *older]):
                if key in public:
                    if public[key](self, destination, prefix, local_metadata) is not None:
                        raise RuntimeError("state_dict post-hook must return None")
                elif key in older:
                    result = older[key](self, destination, prefix, local_metadata)
                    if result is not None:  # the older form may replace the dict
                        destination = result
        return destination

    def _buffer_owner(self, name: str) -> tuple[Module, str]:
        module_name, _, attribute = name.rpartition(".")
        module = dict(self.named_modules())[module_name]
        return module, attribute

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy arrays (Tensors, numpy arrays, torch tensors) into the parameters and the
        persistent buffers, in place (each keeps its dtype); returns ``(missing_keys,
        unexpected_keys)`` as torch.

        Strict: every parameter and persistent buffer must be present and nothing extra; shapes
        must match always. As torch's, what can be loaded is loaded before a ``StateDictError``
        (a RuntimeError and a ValueError) names what could not. ``assign``: the module takes
        the given tensors themselves (their dtype; a parameter keeps ``requires_grad``).
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state)}.")
        modules = list(self.modules())
        if Module._state_extras_used or any(
                type(m)._load_from_state_dict is not Module._load_from_state_dict
                for m in modules):
            return self._load_state_dict_hooked(state, strict, assign)
        for prefix, module in self.named_modules():  # lazy modules take their shapes first
            materialize = getattr(module, "_materialize_from_state", None)
            if materialize is not None:
                materialize(state, f"{prefix}." if prefix else "")
        keys = self._load_arrays(state, assign)
        if strict:
            self._check_keys(keys.missing_keys, keys.unexpected_keys, [])
        return keys

    def _check_keys(self, missing: list[str], unexpected: list[str],
                    errors: list[tuple[str, str]]) -> None:
        """Raise torch's error for ``missing``/``unexpected`` keys and ``errors`` (size
        mismatches), after dlpy's one-line summary."""
        if not (missing or unexpected or errors):
            return
        name = type(self).__name__
        lines = [f"Missing key(s) in state_dict: {', '.join(_quoted(k) for k in missing)}. "]\
            if missing else []
        if unexpected:
            lines.append("Unexpected key(s) in state_dict: "
                         f"{', '.join(_quoted(k) for k in unexpected)}. ")
        if missing or unexpected:
            summary = (f"load_state_dict: {name} state mismatch; missing keys: "
                       f"{missing or 'none'}; unexpected keys: {unexpected or 'none'}")
        else:
            summary = errors[0][1]
        lines += [torch_line for torch_line, _ in errors]
        raise StateDictError(f"{summary}\nError(s) in loading state_dict for {name}:\n\t"
                             + "\n\t".join(lines))

    def _load_arrays(self, state: Mapping[str, Any], assign: bool = False
                     ) -> IncompatibleKeys:
        """load_state_dict's plain path (no hooks, no overrides): load what matches, raise for
        size mismatches; return the missing and unexpected keys."""
        own = {}
        for module_name, module in self.named_modules(remove_duplicate=False):
            head = f"{module_name}." if module_name else ""
            for table in (module._parameters, module.__dict__.get("_buffers", {})):
                for name, value in table.items():
                    if value is not None and (table is module._parameters
                                              or name not in module._non_persistent):
                        own[head + name] = (module, name, value)
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatches = []
        for key, (module, name, param) in own.items():
            if key in state:
                error = module._load_entry(name, key, param, state[key], assign)
                if error is not None:
                    mismatches.append(error)
        self._check_keys([], [], mismatches)
        return IncompatibleKeys(missing, unexpected)

    def _load_entry(self, name: str, key: str, param: Tensor, given: Any, assign: bool
                    ) -> tuple[str, str] | None:
        """Load ``given`` into this module's parameter or buffer ``name`` (state key ``key``):
        in place, keeping its dtype, or with ``assign`` the given tensor itself. Returns
        (torch's line, dlpy's line) for a size mismatch, None when loaded."""
        if not (isinstance(given, (Tensor, np.ndarray)) or hasattr(given, "__array__")
                or hasattr(given, "load_state_dict_value")):
            line = (f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(given)}")
            return line, line
        load = getattr(param, "load_state_dict_value", None)
        if load is not None:  # a DTensor parameter: it finds its own piece
            load(key, given)
            return None
        value = _as_numpy(given)
        if param.ndim == 0 and np.shape(value) == (1,):  # torch's 0.3-era layout
            value = value.reshape(())
            if isinstance(given, Tensor):  # (its element, as torch's input_param[0])
                given = given[0]
        if np.shape(value) != param.shape:
            return (f"size mismatch for {key}: copying a param with shape "
                    f"{_torch_size(np.shape(value))} from checkpoint, the shape in current model "
                    f"is {_torch_size(param.shape)}.",
                    f"load_state_dict: shape mismatch for {key}: the model has "
                    f"{tuple(param.shape)}, the state has {np.shape(value)}")
        if assign:
            if isinstance(param, Parameter) and param.requires_grad and not (
                    is_floating_dtype(value.dtype) or value.dtype.kind == "c"):
                line = (f'While copying the parameter named "{key}", whose dimensions in the '
                        f"model are {_torch_size(param.shape)} and whose dimensions in the "
                        f"checkpoint are {_torch_size(np.shape(value))}, an exception occurred "
                        ": ('Only Tensors of floating point and complex dtype can require "
                        "gradients',).")
                return line, line
            self._assign(name, param, given, value)
            return None
        array = param.data
        if type(array) is MetaArray:  # torch's copy_ into a meta tensor: nothing
            if type(value) is not MetaArray:
                warnings.warn(f"for {key}: copying from a non-meta parameter in the checkpoint "
                              "to a meta parameter in the current model, which is a no-op. "
                              "(Did you mean to pass `assign=True` to assign items in the state "
                              "dictionary to their corresponding key in the module instead of "
                              "copying them in place?)", UserWarning,
                              stacklevel=user_stacklevel())
            return None
        if _meta_device.holds_meta(given):  # torch's copy_ out of a meta tensor, collected
            line = (f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {_torch_size(param.shape)} and whose dimensions in the checkpoint are "
                    f"{_torch_size(np.shape(value))}, an exception occurred : ('Cannot copy out "
                    "of meta tensor; no data!',).")
            return line, line
        if np.iscomplexobj(value) and array.dtype.kind != "c":
            from dlpy.ops.arithmetic import warn_discarding_imaginary

            warn_discarding_imaginary()  # torch's copy_ of complex values into a real tensor
            value = np.real(value)
        if type(array) is np.ndarray and array.flags.writeable:
            array[...] = value  # in place, as torch's copy_: views of it see the values
            increment_version(param)
        else:
            param.data = np.array(value, dtype=param.dtype, copy=True)
        return None

    def _assign(self, attribute: str, old: Tensor, given: Any, value: np.ndarray) -> None:
        """``load_state_dict(assign=True)``'s entry: this module's attribute becomes ``given``
        (a parameter a Parameter over its array, with the old one's requires_grad)."""
        if isinstance(old, Parameter):
            if isinstance(given, Parameter):
                new = given
            else:
                new = Parameter(np.empty((0,), value.dtype))
                new.data = value  # the given tensor's array itself
            new.requires_grad = old.requires_grad
            setattr(self, attribute, new)
        else:
            self._buffers[attribute] = buffer = given if isinstance(given, Tensor) \
                else Tensor(value)
            object.__setattr__(self, attribute, buffer)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list[str],
                              unexpected_keys: list[str], error_msgs: list) -> None:
        """Load this module's own entries (not its children's) from ``state_dict``, as
        torch's: run its load pre hooks, copy each parameter and persistent buffer found under
        ``prefix`` (adding a missing one's key to ``missing_keys`` and a bad one's message to
        ``error_msgs``), call ``set_extra_state``, and with ``strict`` add each key under
        ``prefix`` that names nothing here to ``unexpected_keys``. ``local_metadata`` is what
        ``state_dict()`` recorded for this module (``{"version": ...}``; empty for a plain
        dict): a subclass overriding this may convert an older layout, then call super()."""
        for hook in list(self.__dict__.get("_load_state_dict_pre_hooks", {}).values()):
            hook(self, state_dict, prefix, local_metadata, strict, missing_keys,
                 unexpected_keys, error_msgs)
        buffers = self.__dict__.get("_buffers", {})
        local = {name: p for name, p in self._parameters.items() if p is not None}
        local.update((name, b) for name, b in buffers.items()
                     if b is not None and name not in self._non_persistent)
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            error = self._load_entry(name, key, param, state_dict[key], assign)
            if error is not None:
                error_msgs.append(error)
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head, dot, _ = key[len(prefix):].partition(".")
                    if (head not in self._modules) if dot else (head not in local):
                        unexpected_keys.append(key)

    def _load_state_dict_hooked(self, state: Mapping[str, Any], strict: bool,
                                assign: bool = False) -> IncompatibleKeys:
        """load_state_dict() once hooks, extra state or ``_load_from_state_dict`` overrides
        exist, as torch's: each module's ``_load_from_state_dict`` on its part of a copy of
        ``state`` with its ``_metadata`` entry, its children's, then its post hooks; the
        strict check reads the key lists the hooks may have edited."""
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list = []
        metadata = getattr(state, "_metadata", None)
        state = OrderedDict(state)
        if metadata is not None:
            state._metadata = metadata

        def load(module: Module, local: dict, prefix: str = "") -> None:
            local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            materialize = getattr(module, "_materialize_from_state", None)
            if materialize is not None:  # a lazy module takes its shapes first
                materialize(local, prefix)
            module._load_from_state_dict(local, prefix, local_metadata, True, missing,
                                         unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    head = f"{prefix}{name}."
                    load(child, {k: v for k, v in local.items() if k.startswith(head)}, head)
            incompatible = IncompatibleKeys(missing, unexpected)
            for hook in list(module.__dict__.get("_load_state_dict_post_hooks", {}).values()):
                if hook(module, incompatible) is not None:
                    raise _AssertedError("load_state_dict post-hook must return None; edit "
                                         "incompatible_keys in place")

        load(self, state)
        pairs = [e if isinstance(e, tuple) else (e, e) for e in errors]
        if strict:
            self._check_keys(missing, unexpected, pairs)
        else:
            self._check_keys([], [], pairs)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | os.PathLike, extra: dict[str, np.ndarray] | None = None) -> None:
        """Write parameters (and ``config``) to an ``.npz`` file, atomically, without pickle."""
        save_checkpoint(path, self, extra=extra)

    def load(self, path: str | os.PathLike) -> dict[str, np.ndarray]:
        """Load parameters saved by ``save``; returns the extra arrays stored beside them."""
        return load_checkpoint(path, self)["extra"]

    def _get_name(self) -> str:
        """The name repr prints (torch's hook for a layer shown under another name)."""
        return type(self).__name__

    def __repr__(self) -> str:
        """torch's layout: ``Name(extra)`` for a one-line extra_repr and no children, else the
        extra_repr's lines and one ``(name): child`` line each (a child's own lines indented
        two more columns), each on a line of its own."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): {_addindent(repr(module), 2)}"
                    for name, module in self._modules.items()]
        if len(lines) == 1 and not children:
            return f"{self._get_name()}({lines[0]})"
        return _block(self._get_name(), lines + children)

    def extra_repr(self) -> str:
        """The settings repr shows in the parentheses (one line, or several)."""
        return ""


# Module.register_parameter as defined above: Module.__setattr__ calls register_parameter only
# where a class overrides it or it was patched (torch's __setattr__ always calls it)
_PLAIN_REGISTER_PARAMETER = Module.register_parameter
_registering = [0]  # depth of register_parameter's own Module.__setattr__ calls


def _addindent(text: str, spaces: int) -> str:
    """Every line of ``text`` but the first indented by ``spaces`` (blank lines left empty), as
    torch's ``torch.nn.modules.module._addindent``."""
    first, *rest = text.split("\n")
    if not rest:
        return text
    return "\n".join([first] + [" " * spaces + line if line.strip() else "" for line in rest])


def _block(name: str, lines: list[str]) -> str:
    """``name(`` then each line indented two columns, then ``)``; ``name()`` without lines."""
    if not lines:
        return f"{name}()"
    return f"{name}(\n  " + "\n  ".join(lines) + "\n)"


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as torch's ``_IncompatibleKeys`` (and shown as it)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")


IncompatibleKeys = _IncompatibleKeys  # dlpy's name for it (torch's is private)


class _AssertedError(RuntimeError, AssertionError):
    """A call torch refuses with an ``assert`` (``cuda()`` with no CUDA device, a
    load_state_dict post-hook that returns a value): a RuntimeError, and torch's
    AssertionError."""


class StateDictError(RuntimeError, ValueError):
    """load_state_dict's error: a RuntimeError as torch's, a ValueError as dlpy's other
    bad-input errors."""


def _quoted(key: str) -> str:
    return f'"{key}"'


def _torch_size(shape: tuple[int, ...]) -> str:
    return f"torch.Size({list(shape)})"


def _state_value(param: Tensor, keep_vars: bool = False) -> Any:
    """state_dict()'s value for a parameter or buffer: a detached Tensor over its array (the
    tensor itself with ``keep_vars``), or what its class gives (``state_dict_value()``: a
    DTensor parameter's DTensor copy, an uninitialized one itself)."""
    if keep_vars:
        return param
    value = getattr(param, "state_dict_value", None)
    return Tensor(param.data) if value is None else value()


def _as_buffer(value: Any) -> Tensor | None:
    """A buffer's value: None, the Tensor itself (``self.x is t`` after ``register_buffer("x",
    t)``, as torch), or a Tensor over an array's values (a numpy array is not copied: the
    Tensor writes into it)."""
    if value is None or (isinstance(value, Tensor) and type(value) is not Buffer):
        return value
    return Tensor(value if isinstance(value, np.ndarray) else np.asarray(_as_numpy(value)))


def _array_like(value: Any) -> bool:
    """A buffer's value: a Tensor, a numpy array or scalar, or what numpy can read as one (a
    torch tensor); not a list or a Python number (torch's buffers take tensors only)."""
    return isinstance(value, (Tensor, np.ndarray, np.generic)) or hasattr(value, "__array__")


def _type_name(value: Any) -> str:
    """torch.typename's words for an assigned value: ``torch.FloatTensor`` for a float32
    tensor, else the qualified class name."""
    if isinstance(value, Tensor):
        return value.type()
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"


def _as_numpy(value: Any) -> np.ndarray:
    return as_array(value)  # a Tensor, a torch tensor (bfloat16 too), an array, a list


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray],
             compress: bool = False) -> None:
    """np.savez (np.savez_compressed with ``compress``: zlib, smaller, slower to write and
    read) to a temporary file in the same folder, then rename: a crash never leaves a
    half-written checkpoint."""
    with atomic_write(path) as f:
        (np.savez_compressed if compress else np.savez)(f, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by save_npz (no pickle); errors name the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # a cut or corrupted file: zipfile's own errors would not say which file
        raise ValueError(
            f"{path}: not a readable .npz checkpoint, the file is cut or corrupted "
            f"({type(err).__name__}: {err})"
        ) from None


def _meta(path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    try:
        return json.loads(arrays["__meta__"].tobytes().decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: the checkpoint's metadata is corrupted ({err})") from None


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer=None,
                    extra: dict[str, np.ndarray] | None = None,
                    meta: dict[str, Any] | None = None, compress: bool = False) -> None:
    """One ``.npz`` (atomic, no pickle) with the model's parameters (``param/<name>``), the
    optimiser's state (``optim/<key>``), extra arrays (``extra/<key>``) and JSON metadata:
    the model's class and ``config``, the optimiser's class, and ``meta``. ``compress``
    deflates the arrays (for files that are kept and shipped rather than rewritten every
    epoch); ``load_checkpoint`` reads either."""
    arrays = {f"param/{k}": np.asarray(v) for k, v in state_dict_once(model).items()}
    info: dict[str, Any] = {"class": type(model).__name__, "config": _json_config(model)}
    if optimizer is not None:
        info["optimizer"] = type(optimizer).__name__
        arrays.update({f"optim/{k}": v
                       for k, v in optimizer.state_dict(torch_layout=False).items()})
    info.update(meta or {})
    arrays["__meta__"] = np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8)
    for k, v in (extra or {}).items():
        arrays[f"extra/{k}"] = np.asarray(v)
    save_npz(path, arrays, compress=compress)


def _json_config(model: Module):
    """``model.config`` as JSON can hold it: a config object with ``to_dict`` (as transformers'
    configs) or a dataclass becomes a dict."""
    config = getattr(model, "config", None)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return config


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer=None) -> dict[str, Any]:
    """Restore ``model`` (strictly) and, if given, ``optimizer`` from ``save_checkpoint``'s file.

    Returns ``{"meta": the JSON metadata, "extra": the extra arrays}``. Errors name the file.
    """
    arrays = load_npz(path)
    meta = _meta(path, arrays) if "__meta__" in arrays else {}
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    _tied_names(model, params)
    try:
        model.load_state_dict(params)
    except ValueError as err:
        raise type(err)(f"{path}: {err}") from None
    if optimizer is not None:
        saved = meta.get("optimizer")
        if saved is None:
            raise ValueError(f"{path}: the checkpoint holds no optimiser state")
        if saved != type(optimizer).__name__:
            raise ValueError(
                f"{path}: the checkpoint holds {saved} state, cannot load it into "
                f"{type(optimizer).__name__}"
            )
        state = {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
        try:
            optimizer.load_state_dict(state)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    extra = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
    return {"meta": meta, "extra": extra}


def state_dict_once(module: Module) -> dict[str, Any]:
    """``module.state_dict()`` with a shared (tied) parameter or buffer once, under its first
    name: what dlpy's checkpoints and transformers' ``save_pretrained`` store (torch's
    state_dict lists it under each name); loading fills the other names in."""
    first: dict[int, str] = {}
    duplicates = set()
    for name, value in module._state_arrays(keep_vars=True):
        if first.setdefault(id(value), name) != name:
            duplicates.add(name)
    return {k: v for k, v in module.state_dict().items() if k not in duplicates}


def _tied_names(model: Module, params: dict[str, np.ndarray]) -> None:
    """A checkpoint (``state_dict_once``) has a shared parameter under its first name only:
    the other names are filled in from it."""
    first: dict[int, str] = {}
    for name, value in model._state_arrays(keep_vars=True):
        first.setdefault(id(value), name)
        if name not in params and first[id(value)] in params:
            params[name] = params[first[id(value)]]


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The class name and config stored by Module.save."""
    arrays = load_npz(path)
    if "__meta__" not in arrays:
        raise ValueError(f"{path}: no model metadata (not written by Module.save)")
    return _meta(path, arrays)
