"""torch.overrides: the ``__torch_function__`` protocol for Tensor subclasses, Tensor-like types
and function modes.

A call of a public callable (``dlpy.add``, ``dlpy.functional.linear``, ``Tensor.add``, ``+``,
``t[0]``, ``t.grad``) whose arguments, nested lists and tuples included, hold an overriding type
(a Tensor subclass whose ``__torch_function__`` is not ``_disabled_torch_function_impl``, or any
other type with a ``__torch_function__``) goes to the innermost active ``TorchFunctionMode``,
then to each overriding argument's ``__torch_function__(func, types, args, kwargs)``, subclasses
before their superclasses, until one returns something other than NotImplemented. ``func`` is
the public callable itself, or for an operator the method torch names (``t + 1`` and ``1 + t``
give ``Tensor.add``, ``-t`` ``Tensor.neg``, ``t += 1`` ``Tensor.add_``); factories
(``dlpy.tensor``, ``dlpy.ones``) go to the modes only. ``Tensor.__torch_function__`` runs
``func`` with subclass dispatch off and gives Tensor results as the subclass (torch's
``_convert``). ``has_torch_function`` and ``handle_torch_function`` look at the arguments given,
not into lists among them, as torch's.

Dispatch costs nothing until it is needed: the public callables are swapped for dispatching ones
(``_install``) when the first overriding Tensor subclass is defined, the first mode is entered,
or ``enable_dispatch`` / ``get_overridable_functions`` is called; the plain dense path has no
check before then. A Tensor-like type that is no Tensor (a duck type) is seen once dispatch is
on, and the swap gives the public functions new identities (call ``enable_dispatch`` first for a
table keyed by them).
"""

from __future__ import annotations

import collections
import functools
import types as _types
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from dlpy.tensor import Tensor

__all__ = [
    "BaseTorchFunctionMode", "DisableTorchFunction", "DisableTorchFunctionSubclass",
    "TorchFunctionMode", "enable_dispatch", "get_default_nowrap_functions",
    "get_ignored_functions", "get_overridable_functions", "get_testing_overrides",
    "handle_torch_function",
    "has_torch_function", "has_torch_function_unary", "has_torch_function_variadic",
    "is_tensor_like", "is_tensor_method_or_property", "wrap_torch_function",
]


def _disabled_torch_function_impl(func, types, args=(), kwargs=None):
    """A class's ``__torch_function__ = _disabled_torch_function_impl`` opts it out: its
    instances take the plain path and results stay plain Tensors (nn.Parameter's, as torch's)."""
    with DisableTorchFunctionSubclass():
        return func(*args, **(kwargs or {}))


# ---------------------------------------------------------------------------- state
_installed = False
_subclass_off = 0  # DisableTorchFunctionSubclass / DisableTorchFunction depth
_all_off = 0  # DisableTorchFunction depth (modes off too)
_modes: list[TorchFunctionMode] = []  # the mode stack, innermost last
# type -> whether its __torch_function__ takes part; weak, so a subclass defined and dropped
# (with it any __torch_dispatch__ call sites it installed) can be collected
_overriding: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()
_PLAIN = frozenset({int, float, bool, str, complex, type(None), slice, type(Ellipsis),
                    np.ndarray, np.dtype, type})


def _overrides(kind: type) -> bool:
    known = _overriding.get(kind)
    if known is None:
        handler = getattr(kind, "__torch_function__", None)
        known = (handler is not None and kind is not Tensor
                 and handler is not _disabled_torch_function_impl)
        _overriding[kind] = known
    return known


def _collect(values: Iterable, found: list) -> None:
    """Append the overriding arguments among ``values`` (nested lists and tuples included) to
    ``found``: one per type, a subclass before its superclasses, else in order (torch's
    ``_get_overloaded_args``)."""
    for value in values:
        kind = type(value)
        if kind is Tensor or kind in _PLAIN:
            continue
        if kind is tuple or kind is list:
            _collect(value, found)
        elif _overrides(kind) and all(type(x) is not kind for x in found):
            index = next((i for i, x in enumerate(found) if issubclass(kind, type(x))),
                         len(found))
            found.insert(index, value)


def _overloaded(args: tuple, kwargs: dict | None = None) -> list:
    if _subclass_off:
        return []
    found: list = []
    _collect(args, found)
    if kwargs:
        _collect(kwargs.values(), found)
    return found


def _name(public: Callable) -> str:
    if type(public) is _METHOD_WRAPPER:  # a property's getter: dlpy.Tensor.grad.__get__
        return f"dlpy.Tensor.{public.__self__.fget.__name__}.__get__"
    return f"{getattr(public, '__module__', None)}.{getattr(public, '__qualname__', public)}"


def _handle(public: Callable, overloaded: list, args: tuple, kwargs: dict | None,
            operator: bool = False):
    """The mode's answer, else the first overriding argument's that is not NotImplemented."""
    kwargs = {} if kwargs is None else kwargs
    kinds = tuple(type(x) for x in overloaded)
    if _modes and not _all_off:
        mode = _modes.pop()  # calls inside the mode's handler do not come back to it
        try:
            result = mode.__torch_function__(public, kinds, args, kwargs)
        finally:
            _modes.append(mode)
        if result is not NotImplemented:
            return result
    for value in overloaded:
        result = value.__torch_function__(public, kinds, args, kwargs)
        if result is not NotImplemented:
            return result
    if operator:  # Python then tries the reflected operator, or says "unsupported operand"
        return NotImplemented
    message = (f"no implementation found for '{_name(public)}' on types that implement "
               f"__torch_function__: {list(kinds)}")
    if _modes and not _all_off:
        message += f" nor in mode {_modes[-1]}"
    raise TypeError(message)


_METHOD_WRAPPER = type(property().__get__)


# ---------------------------------------------------------------------------- public helpers
def has_torch_function(relevant_args: Iterable) -> bool:
    """Whether one of ``relevant_args`` (itself, not the items of a list in it) overrides, or,
    while a mode is on, whether there is any argument at all (torch's ``_has_torch_function``)."""
    relevant_args = tuple(relevant_args)
    if _modes and not _all_off:
        return bool(relevant_args)
    return not _subclass_off and any(
        type(x) is not Tensor and type(x) not in _PLAIN and _overrides(type(x))
        for x in relevant_args)


def has_torch_function_unary(obj: Any) -> bool:
    """``has_torch_function((obj,))``."""
    return has_torch_function((obj,))


def has_torch_function_variadic(*args: Any) -> bool:
    """``has_torch_function(args)``."""
    return has_torch_function(args)


def handle_torch_function(public_api: Callable, relevant_args: Iterable, *args, **kwargs):
    """Hand a call of the user's own function ``public_api`` to the modes and the types among
    ``relevant_args`` with a ``__torch_function__`` (plain Tensors' included, items of a list in
    it not), as torch's Python-level helper (after ``has_torch_function`` said yes)."""
    found: list = []
    for value in relevant_args:
        kind = type(value)
        handler = getattr(kind, "__torch_function__", None)
        if (handler is None or handler is _disabled_torch_function_impl
                or any(type(x) is kind for x in found)):
            continue
        index = next((i for i, x in enumerate(found) if issubclass(kind, type(x))), len(found))
        found.insert(index, value)
    return _handle(public_api, found, args, kwargs)


def is_tensor_like(inp: Any) -> bool:
    """A Tensor, or an instance of a type with ``__torch_function__``."""
    return type(inp) is Tensor or hasattr(inp, "__torch_function__")


def is_tensor_method_or_property(func: Callable) -> bool:
    """Whether ``func`` is a method or property of Tensor (``Tensor.add``, ``Tensor.grad``'s
    getter), not a module-level function such as ``dlpy.add`` (torch's helper for overriders:
    such functions get the tensor itself as their first argument)."""
    return func in _tensor_members() or getattr(func, "__name__", None) == "__get__"


def _tensor_members() -> set:
    """Tensor's methods and properties' getters, as in the class dicts along its MRO."""
    members = set()
    for kind in Tensor.__mro__[:-1]:
        for value in vars(kind).values():
            if isinstance(value, property):
                value = value.fget
            if callable(value):
                try:
                    members.add(value)
                except TypeError:  # an unhashable callable: not a method
                    pass
    return members


def wrap_torch_function(dispatcher: Callable):
    """Decorator making a user function overridable by ``__torch_function__`` (and modes):
    ``dispatcher`` has the function's signature and returns the arguments to check for
    overrides; when one overrides, the call goes to ``handle_torch_function``."""

    def inner(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            relevant_args = dispatcher(*args, **kwargs)
            if has_torch_function(relevant_args):
                return handle_torch_function(wrapped, relevant_args, *args, **kwargs)
            return func(*args, **kwargs)

        return wrapped

    return inner


class DisableTorchFunctionSubclass:
    """Within this block the arguments' ``__torch_function__`` are not called (modes still are),
    as ``torch._C.DisableTorchFunctionSubclass``."""

    def __enter__(self) -> None:
        global _subclass_off
        _subclass_off += 1

    def __exit__(self, *exc) -> None:
        global _subclass_off
        _subclass_off -= 1


class DisableTorchFunction:
    """Within this block neither the arguments' ``__torch_function__`` nor the modes are called,
    as ``torch._C.DisableTorchFunction``."""

    def __enter__(self) -> None:
        global _subclass_off, _all_off
        _subclass_off += 1
        _all_off += 1

    def __exit__(self, *exc) -> None:
        global _subclass_off, _all_off
        _subclass_off -= 1
        _all_off -= 1


# ---------------------------------------------------------------------------- modes
class TorchFunctionMode:
    """``with mode:`` hands every public call to ``mode.__torch_function__(func, types, args,
    kwargs)``; a call made inside the handler goes to the modes outside this one (calling
    ``func`` there runs it)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError(f"{type(self).__name__}: a TorchFunctionMode defines "
                                  f"__torch_function__")

    def __enter__(self) -> TorchFunctionMode:
        _install()
        _modes.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if not _modes or _modes[-1] is not self:
            raise RuntimeError(f"{type(self).__name__}: modes are exited innermost first")
        _modes.pop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BaseTorchFunctionMode(TorchFunctionMode):
    """A mode that runs every call as it is (a base for modes that look at some)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _get_current_function_mode_stack() -> list[TorchFunctionMode]:
    """The active modes, outermost first."""
    return list(_modes)


# ---------------------------------------------------------------------------- Tensor's side
def default_torch_function(cls: type, func: Callable, types: tuple, args=(), kwargs=None):
    """``Tensor.__torch_function__``: NotImplemented unless ``cls`` subclasses every type, else
    ``func`` with subclass dispatch off, Tensor results as ``cls`` (``t.grad`` as it is)."""
    for kind in types:
        if not issubclass(cls, kind):
            return NotImplemented
    with DisableTorchFunctionSubclass():
        result = func(*args, **(kwargs or {}))
    if func in get_default_nowrap_functions():
        return result
    return _convert(result, cls)


def _convert(result, cls: type):
    if cls is Tensor:
        return result
    if isinstance(result, Tensor):
        return result if isinstance(result, cls) else _retyped(result, cls)
    if isinstance(result, (tuple, list)):
        items = (_convert(r, cls) for r in result)
        if hasattr(result, "_make"):  # a namedtuple (MaxResult)
            return result._make(items)
        return type(result)(items)
    return result


_SLOTS = tuple(name for name in Tensor.__slots__ if name != "__weakref__")


def _retyped(tensor: Tensor, cls: type, keep_grad: bool = True) -> Tensor:
    """A ``cls`` object on the same array and graph node as ``tensor`` (no __new__/__init__).
    An overriding class made while dispatch is off (``_uninstall``, which tests call, after
    the class was defined) turns it back on: its calls must reach its handler."""
    if not _installed and _overrides(cls):
        _install()
    out = object.__new__(cls)
    for name in _SLOTS:
        try:
            setattr(out, name, getattr(tensor, name))
        except AttributeError:  # an unset slot (_post_hooks)
            pass
    if not keep_grad:
        out._grad, out._hooks = None, None
    return out


def as_subclass(tensor: Tensor, cls: type) -> Tensor:
    """``Tensor.as_subclass``: a ``cls`` view of the same values; a tensor that requires
    gradients passes them back through it (the view is not a leaf, its grad_fn torch's
    AliasBackward0), as torch's."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"as_subclass: expected a subclass of dlpy.Tensor, got {cls!r}")
    if tensor.requires_grad:
        from dlpy.node_names import named
        from dlpy.ops.arithmetic import identity

        tensor = named(identity(tensor), "AliasBackward0")
    return _retyped(tensor, cls, keep_grad=False)


def make_subclass(cls: type, data: Tensor, require_grad: bool = False) -> Tensor:
    """``Tensor._make_subclass``: a ``cls`` object on ``data``'s array, a leaf with no graph
    that requires gradients when ``require_grad`` (no ``__new__``/``__init__`` call)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"_make_subclass: cls must be a subclass of dlpy.Tensor, got {cls!r}")
    if not isinstance(data, Tensor):
        raise TypeError(f"_make_subclass: data must be a Tensor, got {type(data).__name__}")
    with DisableTorchFunctionSubclass():
        out = _retyped(data.detach(), cls, keep_grad=False)
    out.requires_grad = bool(require_grad)
    return out


def _made_in_new(cls: type) -> Callable:
    """The ``__init__`` of a user's Tensor subclass whose ``__new__`` makes its instances
    (torch's idiom: ``return Tensor._make_subclass(cls, data, requires_grad)``) and that
    defines no ``__init__``: an instance that ``__new__`` made is left as it is, whatever the
    arguments (``ManifoldTensor(x, manifold=m)``), as torch.Tensor's ``__init__`` takes and
    ignores them; one not yet made (a ``__new__`` that called the base's) is made by the next
    ``__init__`` in the MRO, as before."""
    slot = Tensor.__dict__["data"]

    def __init__(self, *args, **kwargs) -> None:
        try:
            slot.__get__(self, cls)
        except AttributeError:
            super(cls, self).__init__(*args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def subclass_defined(cls: type) -> None:
    """``Tensor.__init_subclass__``: an overriding subclass installs dispatch. A class on
    dlpy's own ``__dlpy_function__`` hook (DTensor) keeps to it and opts out here. A user's
    subclass that makes its instances in ``__new__`` gets ``_made_in_new``'s ``__init__``."""
    if "__new__" in vars(cls) and "__init__" not in vars(cls) \
            and cls.__module__.partition(".")[0] != "dlpy":
        cls.__init__ = _made_in_new(cls)
    if "__torch_function__" not in vars(cls) and hasattr(cls, "__dlpy_function__"):
        cls.__torch_function__ = _disabled_torch_function_impl
    _overriding.pop(cls, None)
    if "__torch_dispatch__" in vars(cls):  # ops given its instances go to it
        from dlpy.utils._python_dispatch import subclass_defined as dispatch_subclass

        dispatch_subclass(cls)
    if not _installed and _overrides(cls):
        _install()


# ---------------------------------------------------------------------------- the swap
# what dispatch never sees: state and settings that take no tensor (torch's ignored ones)
_STATE = frozenset({
    "get_default_device", "set_default_device", "manual_seed", "detect_anomaly", "enable_grad",
    "inference_mode", "is_grad_enabled", "no_grad", "set_detect_anomaly", "get_default_dtype",
    "set_default_dtype", "is_anomaly_enabled", "set_anomaly_enabled", "set_printoptions",
    "is_anomaly_check_nan_enabled",
    "get_rng_state", "initial_seed", "seed", "set_rng_state", "get_num_threads",
    "set_num_threads", "get_num_interop_threads", "set_num_interop_threads",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled", "set_deterministic_debug_mode",
    "get_deterministic_debug_mode", "set_float32_matmul_precision",
    "get_float32_matmul_precision", "promote_types", "can_cast", "typename", "is_tensor",
    "is_storage", "load", "save", "compile", "broadcast_shapes",
    # the dispatch machinery itself (nn.functional re-exports it, as torch's)
    "handle_torch_function", "has_torch_function", "has_torch_function_unary",
    "has_torch_function_variadic",
})
# dispatched (modes see them) but no argument can override them, as torch's ignored factories
_FACTORIES = frozenset({
    "tensor", "as_tensor", "asarray", "from_numpy", "frombuffer", "scalar_tensor", "arange",
    "range", "empty", "eye", "full", "linspace", "logspace", "ones", "rand", "randint", "randn",
    "randperm", "zeros", "tril_indices", "triu_indices", "bartlett_window", "blackman_window",
    "hamming_window", "hann_window", "kaiser_window",
})
_NOT_METHODS = frozenset({
    "__init__", "__new__", "__init_subclass__", "__torch_function__", "__repr__", "__str__",
    "__format__", "__hash__", "__iter__", "__complex__", "__array__", "__array_ufunc__",
    "__array_function__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__",
    "__copy__", "__deepcopy__", "__dlpack__", "__dlpack_device__", "as_subclass",
})
_PROPERTIES = ("grad", "T", "mT", "H", "mH", "real", "imag")  # the Tensor-valued ones
_OPERATORS = frozenset(
    {f"__{n}__" for n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                          "and", "or", "xor", "lshift", "rshift")}
    | {f"__r{n}__" for n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                             "matmul", "and", "or", "xor", "lshift", "rshift")}
    | {"__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"})
# (module, the names dispatched there, or () for all its public functions)
_NAMESPACES = (("dlpy", ()), ("dlpy.functional", ()), ("dlpy.linalg", ()), ("dlpy.special", ()),
               ("dlpy.fft", ()), ("dlpy.autograd", ("grad", "backward")))
# the operators whose handlers are given the named method (torch's: ``t + 1`` and ``1 + t`` are
# ``Tensor.add(t, 1)``, ``-t`` is ``Tensor.neg``, ``t += 1`` is ``Tensor.add_``); the others are
# given themselves, some under torch's name (``__pow__`` is named ``pow``)
_OPERATOR_FUNCS = {
    "__add__": "add", "__radd__": "add", "__sub__": "sub", "__mul__": "mul", "__rmul__": "mul",
    "__truediv__": "div", "__mod__": "remainder", "__matmul__": "matmul",
    "__rand__": "bitwise_and", "__ror__": "bitwise_or", "__rxor__": "bitwise_xor",
    "__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge", "__ne__": "ne",
    "__neg__": "neg", "__pos__": "positive", "__abs__": "abs",
    "__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_",
    "__ifloordiv__": "floor_divide_", "__imod__": "remainder_",
}
_OPERATOR_NAMES = {"__pow__": "pow", "__ipow__": "pow_", "__rtruediv__": "__rdiv__"}
# a function whose operands may come as one list (``einsum("ij,jk", [a, b])``): handlers are
# given them spread out (``einsum("ij,jk", a, b)``), as torch.functional's einsum hands them
# on; the number is where the operands start
_SPREAD_OPERANDS = {"einsum": 1}
_swapped: list[tuple[Any, str, Any]] = []  # (owner, name, plain value), to put back
_public: dict[Any, list[Callable]] = {}  # namespace -> its dispatching callables
_nowrap: set = set()


def _dispatching(function: Callable, module: str, qualname: str, operator: bool = False,
                 func: Callable | None = None, ignored: bool = False) -> Callable:
    """``function``'s public callable: the plain call when its arguments are Tensors and plain
    values and no mode is on, else the modes' and overriding types' answer. Handlers are given
    ``func`` (the public callable itself unless told: ``Tensor.add`` for ``+``, as torch's); an
    ``ignored`` one (a factory) goes to the modes only. A binary operator's TypeError, or no
    answer, is NotImplemented (Python then tries the reflected operator), as torch's."""
    tensor, plain = Tensor, _PLAIN  # (closure cells: the fast path reads no module global)
    spread = _SPREAD_OPERANDS.get(qualname)
    if operator:  # a binary operator: two arguments spelled out (about half the cost)
        def public(self, other):
            if type(self) is tensor and (type(other) is tensor or type(other) in plain) \
                    and not _modes:
                return function(self, other)
            overloaded = _overloaded((self, other))
            if overloaded or _modes and not _all_off:
                try:
                    return _handle(func or public, overloaded, (self, other), None, True)
                except TypeError:
                    return NotImplemented
            return function(self, other)
    elif ignored:
        def public(*args, **kwargs):
            if _modes and not _all_off:
                return _handle(public, [], args, kwargs)
            return function(*args, **kwargs)
    else:
        def public(*args, **kwargs):
            for value in args:
                if type(value) is not tensor and type(value) not in plain:
                    break
            else:
                if not kwargs and not _modes:
                    return function(*args)
            overloaded = _overloaded(args, kwargs)
            if overloaded or _modes and not _all_off:
                if spread is not None and len(args) == spread + 1 \
                        and type(args[spread]) in (list, tuple):
                    args = (*args[:spread], *args[spread])
                return _handle(func or public, overloaded, args, kwargs)
            return function(*args, **kwargs)

    def set_inner(inner: Callable) -> None:
        """Call ``inner`` in place of ``function`` from now on (dlpy.utils._python_dispatch
        puts its wrapper inside: the public callable, which tables are keyed by, stays)."""
        nonlocal function
        function = public.__wrapped__ = inner

    public.__dict__.update(getattr(function, "__dict__", {}))  # its flags (_vmap_through)
    public.__name__, public.__qualname__, public.__module__ = (
        qualname.rpartition(".")[2], qualname, module)
    public.__doc__, public.__wrapped__ = function.__doc__, function
    public._set_inner = set_inner
    return public


def _dispatching_property(plain: property, name: str) -> property:
    fget = plain.fget

    def getter(self):
        if (not _subclass_off and type(self) is not Tensor and _overrides(type(self))
                or _modes and not _all_off):
            return _handle(swapped.__get__, _overloaded((self,)), (self,), None)
        return fget(self)

    getter.__name__ = getter.__qualname__ = name
    swapped = property(getter, plain.fset, plain.fdel, plain.__doc__)
    return swapped


def _swap(owner: Any, name: str, value: Any) -> None:
    _swapped.append((owner, name, vars(owner)[name]))
    setattr(owner, name, value)


def _install() -> None:
    """Swap dlpy's public callables for dispatching ones (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    import importlib

    made: dict[int, Callable] = {}
    for home, names in _NAMESPACES:
        module = importlib.import_module(home)
        listed = _public.setdefault(module, [])
        for name, value in list(vars(module).items()):
            if (name.startswith("_") or name in _STATE or names and name not in names
                    or type(value) is not _types.FunctionType):
                continue
            if id(value) not in made:
                made[id(value)] = _dispatching(value, home, name,
                                               ignored=home == "dlpy" and name in _FACTORIES)
            _swap(module, name, made[id(value)])
            listed.append(made[id(value)])
    listed = _public.setdefault(Tensor, [])
    methods: dict[str, Callable] = {}
    for name, value in list(vars(Tensor).items()):
        if type(value) is property and name in _PROPERTIES:
            _swap(Tensor, name, _dispatching_property(value, name))
            listed.append(vars(Tensor)[name].__get__)
        elif type(value) is _types.FunctionType and name not in _NOT_METHODS and (
                not name.startswith("_") or name.startswith("__") and name.endswith("__")):
            methods[name] = value
    for name in sorted(methods, key=lambda n: n in _OPERATOR_FUNCS):  # the targets first
        target = _OPERATOR_FUNCS.get(name)
        shown = _OPERATOR_NAMES.get(name, name)
        _swap(Tensor, name, _dispatching(methods[name], "dlpy", f"Tensor.{shown}",
                                         name in _OPERATORS,
                                         target and vars(Tensor)[target]))
        listed.append(vars(Tensor)[name])
    _nowrap.add(vars(Tensor)["grad"].__get__)


def enable_dispatch() -> None:
    """Swap in the dispatching callables now (dlpy does it when the first overriding Tensor
    subclass is defined or a mode entered): for a Tensor-like type that is no Tensor, and for
    tables keyed by dlpy's functions (``HANDLED[dlpy.mean]``) built before that, since the
    swap gives ``dlpy.mean`` etc. new identities. dlpy's own; torch dispatches always."""
    _install()


def _uninstall() -> None:
    """Put the plain callables back (for tests: types defined before stop dispatching)."""
    global _installed
    while _swapped:
        owner, name, value = _swapped.pop()
        public = vars(owner).get(name)
        if getattr(public, "_set_inner", None) is not None:  # (its inner may have become
            value = public.__wrapped__  # a dispatch-mode wrapper since: that stays)
        setattr(owner, name, value)
    _public.clear()
    _nowrap.clear()
    _installed = False


def get_default_nowrap_functions() -> set:
    """The calls whose results ``Tensor.__torch_function__`` gives as they are (``t.grad``);
    installs dispatch."""
    _install()
    return _nowrap


def get_ignored_functions() -> set[Callable]:
    """Public callables that no argument can override: state and settings (never dispatched),
    factories that take no tensor (modes see them), ``Tensor.as_subclass``."""
    import dlpy

    names = _STATE | _FACTORIES
    return {getattr(dlpy, n) for n in names if hasattr(dlpy, n)} | {
        Tensor.as_subclass, Tensor.__torch_function__}


def get_overridable_functions() -> dict[Any, list[Callable]]:
    """``{namespace: [callables]}`` (a defaultdict) of what dispatches (dlpy, dlpy.functional,
    dlpy.linalg, dlpy.special, dlpy.fft, dlpy.autograd's grad and backward, dlpy.Tensor's
    methods and properties); installs dispatch."""
    _install()
    ignored = get_ignored_functions()
    return collections.defaultdict(list, {home: [f for f in functions if f not in ignored]
                                          for home, functions in _public.items()})


def _testing_override(function: Callable) -> Callable:
    """A dummy returning -1 whose signature (``inspect.signature``, through ``__wrapped__``)
    is ``function``'s."""
    def dummy(*args, **kwargs):
        return -1

    dummy.__wrapped__ = function
    dummy.__name__ = dummy.__qualname__ = getattr(function, "__name__", "dummy")
    return dummy


def get_testing_overrides() -> dict[Callable, Callable]:
    """torch.overrides.get_testing_overrides: ``{overridable callable: dummy}`` for every
    callable of ``get_overridable_functions`` (a property by its ``__get__``, as torch's),
    each dummy taking any arguments and returning -1, for testing ``__torch_function__``
    coverage; installs dispatch."""
    return {function: _testing_override(function)
            for functions in get_overridable_functions().values() for function in functions}
