"""torch.fx's symbolic tracing for dlpy: Proxy objects flow through ``forward`` and every call
on them becomes a Node.

A Proxy records Tensor methods and operators itself. dlpy's public functions (``dlpy.*``,
``dlpy.functional.*``), ``Module.__call__``, module attribute reads (parameters and buffers
become ``get_attr``) and Tensor's methods (a constant tensor meeting a Proxy) are swapped for
recording versions only while ``Tracer.trace`` runs and put back after it, an exception
included; outside a trace nothing is swapped, so normal calls cost the same.
"""

from __future__ import annotations

import builtins
import dataclasses
import dis
import functools
import inspect
import math
import operator
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from dlpy.autograd_function import swap_call_sites
from dlpy.fx._functional_forms import functional_name, recorded_call
from dlpy.fx.graph import BINARY_OPERATORS, UNARY_OPERATORS, Graph
from dlpy.fx.node import Node, map_aggregate

__all__ = ["PH", "Attribute", "PHBase", "PHWithMeta", "Proxy", "TraceError", "Tracer",
           "symbolic_trace", "wrap"]


class TraceError(ValueError):
    """A Proxy used where a concrete value is needed (control flow), as torch.fx's."""


# ---------------------------------------------------------------------------- Proxy
class Proxy:
    """A value during symbolic tracing: what is done to it is recorded in ``tracer.graph``
    (``proxy.node`` is the node that produced it)."""

    def __init__(self, node: Node, tracer: Tracer | None = None):
        self.node, self.tracer = node, tracer if tracer is not None else GraphAppendingTracer(
            node.graph)

    def __repr__(self) -> str:
        return f"Proxy({self.node.name})"

    def __getattr__(self, k: str) -> Attribute:
        # x.shape, x.view(...): an attribute read (recorded only if used as a value) or a
        # method call (recorded as call_method)
        if k.startswith("__") and k.endswith("__"):
            raise AttributeError(k)
        return Attribute(self, k)

    def __call__(self, *args, **kwargs) -> Proxy:
        return self.tracer.create_proxy("call_method", "__call__", (self, *args), kwargs)

    def __iter__(self):
        # ``a, b = proxy`` unpacks into getitems (the caller's bytecode says how many)
        frame = sys._getframe(1)
        instructions = list(dis.get_instructions(frame.f_code))
        for inst in instructions:
            if inst.offset == frame.f_lasti and inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
        return self.tracer.iter(self)

    def __bool__(self) -> bool:
        return self.tracer.to_bool(self)

    def __len__(self) -> int:
        raise RuntimeError("'len' is not supported in symbolic tracing by default. If you want "
                           "this call to be recorded, please call dlpy.fx.wrap('len') at "
                           "module scope")

    def keys(self):
        return self.tracer.keys(self)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """A dlpy function or Tensor method given a Proxy where no trace swapped in recording
        call sites (a Proxy made on a bare Graph: ``GraphAppendingTracer``): recorded as a
        ``call_method`` for a Tensor method, else a ``call_function`` of ``func``, as
        torch.fx's."""
        kwargs = kwargs or {}
        tracers = []
        map_aggregate((args, kwargs), lambda a: tracers.append(a.tracer) if isinstance(
            a, Proxy) and all(a.tracer is not t for t in tracers) else a)
        if len(tracers) > 1:
            raise RuntimeError(f"Found multiple different tracers {tracers} while trying to "
                               f"trace operations {func}")
        # a Tensor method or property getter (overrides.is_tensor_method_or_property, read from
        # how dispatch names them: its scan of Tensor's members costs a millisecond a call)
        name = getattr(func, "__name__", None)
        if name == "__get__" or getattr(func, "__qualname__", "").startswith("Tensor."):
            return tracers[0].create_proxy("call_method", name, args, kwargs)
        return tracers[0].create_proxy("call_function", func, args, kwargs)

    __hash__ = object.__hash__


# Python's in-place operators and the Tensor methods that do them in place
_INPLACE_METHODS = {"add": "add_", "sub": "sub_", "mul": "mul_", "truediv": "div_",
                    "floordiv": "floor_divide_", "mod": "remainder_", "pow": "pow_",
                    "and": "bitwise_and_", "or": "bitwise_or_", "xor": "bitwise_xor_",
                    "lshift": "bitwise_left_shift_", "rshift": "bitwise_right_shift_"}


def _binary(name: str):
    target = getattr(operator, name)

    def forward(self, rhs):
        return self.tracer.create_proxy("call_function", target, (self, rhs), {})

    def reflected(self, lhs):
        return self.tracer.create_proxy("call_function", target, (lhs, self), {})

    return forward, reflected


for _name in BINARY_OPERATORS:
    _dunder = f"__{_name.rstrip('_')}__"
    _forward, _reflected = _binary(_name)
    setattr(Proxy, _dunder, _forward)
    if _name not in ("eq", "ne", "lt", "gt", "le", "ge", "getitem"):
        setattr(Proxy, f"__r{_name.rstrip('_')}__", _reflected)


def _inplace(name: str):
    def inplace(self, rhs):
        return self.tracer.inplace_operator(self, name, rhs)

    return inplace


# ``x += y``: the tracer decides (Tracer.inplace_operator): torch.fx's Proxy has no in-place
# operators, so Python falls back to ``x + y``; export records the in-place method ``add_``
for _name in _INPLACE_METHODS:
    setattr(Proxy, f"__i{_name}__", _inplace(_name))
for _name in UNARY_OPERATORS:
    setattr(Proxy, f"__{_name}__", (lambda target: lambda self: self.tracer.create_proxy(
        "call_function", target, (self,), {}))(getattr(operator, _name)))
Proxy.__hash__ = object.__hash__  # __eq__ records a node; proxies are hashed by identity


class Attribute(Proxy):
    """``proxy.name``: a ``getattr`` node when used as a value, a ``call_method`` when
    called."""

    def __init__(self, root: Proxy, attr: str):
        self.root, self.attr, self.tracer = root, attr, root.tracer
        self._node: Node | None = None

    @property
    def node(self) -> Node:  # type: ignore[override]
        if self._node is None:
            self._node = self.tracer.create_proxy("call_function", builtins.getattr,
                                                  (self.root, self.attr), {}).node
        return self._node

    def __call__(self, *args, **kwargs) -> Proxy:
        return self.tracer.create_proxy("call_method", self.attr, (self.root, *args), kwargs)


def _find_proxy(args: tuple, kwargs: dict) -> Proxy | None:
    found = []

    def look(a):
        if isinstance(a, Proxy) and not found:
            found.append(a)
        return a

    if args:
        map_aggregate(args, look)
    if kwargs and not found:
        map_aggregate(kwargs, look)
    return found[0] if found else None


# ---------------------------------------------------------------------------- PH
class PHBase:
    """An input placeholder in ``concrete_args`` (torch.fx.PH): the argument is not
    specialised but stays an input of the traced graph (a placeholder named ``<arg>_1``)."""

    def __repr__(self) -> str:
        return "PH"


PH = PHBase()


class PHWithMeta(PHBase):
    """A PH whose attributes (``ph_key`` and any set on it) are set on its placeholder
    node."""

    def __init__(self, ph_key: str | None = None) -> None:
        super().__init__()
        self.ph_key = ph_key


def _without_star_parameters(fn: Callable, positional: list, keyword: dict,
                             starred: dict[str, Any], is_module: bool) -> tuple[Callable, list]:
    """``fn`` (whose code has ``*args`` / ``**kwargs``) as a function taking every parameter
    as a plain positional one, in its code's order (the positional ones, the keyword-only
    ones, then the starred ones), and the arguments to call it with: the starred parameters
    get their placeholders' Proxies whole, as torch.fx's patched root function does (so
    ``args[0]`` is a getitem node and ``torch.cat(args)`` one call)."""
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        raise TraceError(f"symbolic_trace: cannot trace the *args / **kwargs of "
                         f"{getattr(fn, '__qualname__', fn)!r}, which has no Python code")
    values = dict(keyword, **starred)
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount
                             + len(starred)]
    first = 1 if is_module else 0  # (self: passed by the caller)
    plain = iter(positional)
    arguments = [values[name] if name in values else next(plain) for name in names[first:]]
    patched = code.replace(co_argcount=len(names), co_posonlyargcount=0, co_kwonlyargcount=0,
                           co_flags=code.co_flags & ~(inspect.CO_VARARGS
                                                      | inspect.CO_VARKEYWORDS))
    function = types.FunctionType(patched, fn.__globals__, fn.__name__, None, fn.__closure__)
    function.__qualname__ = fn.__qualname__
    return function, arguments


def _contains_placeholder(value: Any) -> bool:
    found = []
    map_aggregate(value, lambda v: found.append(v) if isinstance(v, PHBase) else v)
    return bool(found)


# ---------------------------------------------------------------------------- Tracer
class Tracer:
    """torch.fx.Tracer: ``trace(root, concrete_args)`` runs ``root``'s forward on Proxies and
    returns the Graph. Override ``is_leaf_module`` to choose which submodules stay one
    ``call_module`` node (dlpy.nn's layers by default, not Sequential).

    ``proxy_buffer_attributes`` (torch's): whether a buffer read in a traced forward is a
    ``get_attr`` Proxy; False (torch.fx's default) leaves it the real tensor, so what is done
    to it alone runs at trace time (``self.count += 1`` updates the buffer once, while
    tracing) and it becomes a ``get_attr`` node where it meets a Proxy. dlpy.export and
    dlpy.jit set it, and ``inplace_operators``: ``x += y`` on a Proxy recorded as ``x.add_(y)``
    (else as ``x + y``, torch.fx's), a traced value assigned to a buffer
    (``self.count = self.count + 1``) recorded as that buffer's update at the end of the graph
    (``_assign_buffer``)."""

    proxy_buffer_attributes: bool = False
    inplace_operators: bool = False

    def __init__(self, autowrap_modules: tuple = (math,),
                 autowrap_functions: tuple[Callable, ...] = (),
                 param_shapes_constant: bool = False):
        self._autowrap_function_ids = set().union(*map(_autowrap_ids, autowrap_modules)) \
            | {id(f) for f in autowrap_functions}
        self.param_shapes_constant = param_shapes_constant
        self.graph = Graph()
        self.root = None
        self.submodule_paths: dict[int, str] | None = None
        self.tensor_attrs: dict[int, str] = {}
        # (module, buffer name) -> the Proxy assigned to it in the forward being traced (None:
        # no forward is being traced)
        self._assigned: dict[tuple[int, str], tuple[Any, Proxy]] | None = None

    # ---------------------------------------------------------------- mutation
    def inplace_operator(self, proxy: Proxy, name: str, rhs: Any) -> Any:
        """``proxy <op>= rhs`` (``name``: ``"add"``...): the in-place method recorded
        (``call_method add_``) when ``inplace_operators``, else NotImplemented (Python then
        records ``proxy <op> rhs``, as torch.fx)."""
        if not self.inplace_operators:
            return NotImplemented
        return self.create_proxy("call_method", _INPLACE_METHODS[name], (proxy, rhs), {})

    def assign_buffer(self, module: Any, name: str, value: Proxy) -> bool:
        """``module.<name> = value`` in a traced forward, ``name`` a buffer of ``module``:
        later reads of the attribute in this trace give ``value``; with
        ``proxy_buffer_attributes`` the graph ends by writing it into the buffer (torch.export's
        ``copy_``). The module itself is left as it was. False outside a trace (refused)."""
        if self._assigned is None:
            return False
        key = (id(module), name)
        self._assigned.pop(key, None)  # (kept in the order of the last assignment)
        self._assigned[key] = (module, value)
        return True

    def _record_assignments(self) -> None:
        """The buffer updates ``assign_buffer`` saw, as ``_assign_buffer(get_attr, value)``
        nodes (with ``proxy_buffer_attributes``)."""
        assigned, self._assigned = self._assigned or {}, None
        if not self.proxy_buffer_attributes:
            return
        paths = {id(m): n for n, m in self.root.named_modules()}
        for (_, name), (module, value) in assigned.items():
            path = f"{paths[id(module)]}.{name}".lstrip(".")
            buffer = self._get_attr_proxy(path).node
            if module is not self.root and _updated_in_place(value.node, buffer):
                # a child's ``self.steps += 1``: the buffer's own tensor, nothing to write
                # (torch.export records assignments to the root's attributes only)
                continue
            self.create_node("call_function", _assign_buffer, (buffer, value.node), {})

    # ---------------------------------------------------------------- nodes
    def create_node(self, kind: str, target: Any, args: tuple, kwargs: dict,
                    name: str | None = None, type_expr: Any = None) -> Node:
        return self.graph.create_node(kind, target, args, kwargs, name, type_expr)

    def proxy(self, node: Node) -> Proxy:
        return Proxy(node, self)

    def create_proxy(self, kind: str, target: Any, args: tuple, kwargs: dict,
                     name: str | None = None, type_expr: Any = None) -> Proxy:
        node = self.create_node(kind, target, self.create_arg(args), self.create_arg(kwargs),
                                name, type_expr)
        return self.proxy(node)

    def create_arg(self, a: Any) -> Any:
        """A value as a node argument: Proxies become their nodes, parameters and buffers of
        the root ``get_attr`` nodes, other tensors and arrays constants kept on the root
        (``_tensor_constant0``)."""
        from dlpy.nn.module import Module, Parameter
        from dlpy.tensor import Tensor

        if isinstance(a, Proxy):
            return a.node
        if isinstance(a, Node):
            return a
        if isinstance(a, tuple) and hasattr(a, "_fields"):
            return type(a)(*(self.create_arg(x) for x in a))
        if isinstance(a, (tuple, list)):
            return type(a)(self.create_arg(x) for x in a)
        if isinstance(a, dict):
            return {k: self.create_arg(v) for k, v in a.items()}
        if isinstance(a, slice):
            return slice(self.create_arg(a.start), self.create_arg(a.stop),
                         self.create_arg(a.step))
        if isinstance(a, (Tensor, np.ndarray)):
            if not self.proxy_buffer_attributes and isinstance(a, Tensor) \
                    and hasattr(self.root, "named_parameters"):
                # torch.fx's: the parameter or buffer it is now, a get_attr node each use
                for name, value in [*self.root.named_parameters(), *self.root.named_buffers()]:
                    if value is a:
                        return self.create_node("get_attr", name, (), {})
            path = self._attribute_paths().get(id(a))
            if path is not None:
                return self._get_attr_proxy(path).node
            if isinstance(a, Parameter):
                raise NameError("parameter is not a member of this module")
            if id(a) not in self.tensor_attrs:
                i = 0
                while hasattr(self.root, f"_tensor_constant{i}"):
                    i += 1
                name = f"_tensor_constant{i}"
                object.__setattr__(self.root, name, a)
                self.tensor_attrs[id(a)] = name
                self._tensor_constants.append(name)
            return self.create_node("get_attr", self.tensor_attrs[id(a)], (), {})
        if isinstance(a, Module):
            raise NotImplementedError(f"argument of type: {type(a).__name__} (a module can "
                                      f"only be called during symbolic tracing)")
        if a is None or a is ... or isinstance(a, (bool, int, float, complex, str, range,
                                                   np.generic, np.dtype, type)) \
                or callable(a):
            return a
        if dataclasses.is_dataclass(a):  # built again by a node: ``Out(a=add, b=mul)``
            return self.create_node("call_function", type(a), (), {
                f.name: self.create_arg(getattr(a, f.name)) for f in dataclasses.fields(a)})
        raise NotImplementedError(f"argument of type: {type(a).__name__}")

    # ---------------------------------------------------------------- modules
    def is_leaf_module(self, m, module_qualified_name: str) -> bool:
        """dlpy.nn's own layers are leaves (one call_module node), containers are not."""
        from dlpy.nn.container import Sequential

        return m.__module__.startswith("dlpy.nn") and not isinstance(m, Sequential)

    def path_of_module(self, mod) -> str:
        if self.submodule_paths is None:
            self.submodule_paths = {id(m): n for n, m in self.root.named_modules()}
        path = self.submodule_paths.get(id(mod))
        if path is None:
            raise NameError("module is not installed as a submodule")
        return path

    def call_module(self, m, forward: Callable, args: tuple, kwargs: dict) -> Any:
        """A leaf becomes a ``call_module`` node; any other module's forward is traced."""
        module_qualified_name = self.path_of_module(m)
        if not self.is_leaf_module(m, module_qualified_name):
            return forward(*args, **kwargs)
        return self.create_proxy("call_module", module_qualified_name, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        """A parameter read in a traced forward (a buffer too with
        ``proxy_buffer_attributes``): a ``get_attr`` proxy (one a name)."""
        from dlpy.nn.module import Parameter

        if not (self.proxy_buffer_attributes or isinstance(attr_val, Parameter)):
            return attr_val  # a buffer or constant: the tensor (torch.fx's)
        path = self._attribute_paths().get(id(attr_val))
        return attr_val if path is None else self._get_attr_proxy(path)

    def _attribute_paths(self) -> dict[int, str]:
        if self._paths is None:
            self._paths = {}
            if self.root is not None and hasattr(self.root, "named_parameters"):
                for name, p in self.root.named_parameters():
                    self._paths.setdefault(id(p), name)
                for name, b in self.root.named_buffers():
                    if b is not None:  # a buffer Tensor, or its array (``self.buf.data``)
                        self._paths.setdefault(id(b), name)
                        self._paths.setdefault(id(getattr(b, "data", b)), name)
        return self._paths

    _paths: dict[int, str] | None = None

    def _get_attr_proxy(self, path: str) -> Proxy:
        if path not in self._parameter_proxy_cache:
            self._parameter_proxy_cache[path] = self.create_proxy("get_attr", path, (), {})
        return self._parameter_proxy_cache[path]

    # ---------------------------------------------------------------- control flow
    def to_bool(self, obj: Proxy) -> bool:
        raise TraceError("symbolically traced variables cannot be used as inputs to control "
                         "flow")

    def iter(self, obj: Proxy):
        raise TraceError("Proxy object cannot be iterated. This can be attempted when the "
                         "Proxy is used in a loop or as a *args or **kwargs function argument. "
                         "See the torch.fx docs on pytorch.org for a more detailed explanation "
                         "of what types of control flow can be traced, and check out the Proxy "
                         "docstring for help troubleshooting Proxy iteration errors")

    def keys(self, obj: Proxy):
        return Attribute(obj, "keys")()

    # ---------------------------------------------------------------- tracing
    def create_args_for_root(self, root_fn: Callable, is_module: bool,
                             concrete_args: dict | None) -> tuple[Callable, list]:
        """One placeholder a parameter of ``root_fn`` (``self`` skipped); those named in
        ``concrete_args`` are specialised to their value (checked when called)."""
        sig = inspect.signature(root_fn)
        params = list(sig.parameters.values())[1 if is_module else 0:]
        concrete_args = dict(concrete_args or {})
        unknown = set(concrete_args) - {p.name for p in params}
        if unknown:
            raise ValueError(f"symbolic_trace: concrete_args names {sorted(unknown)}, which "
                             f"are not parameters of {root_fn.__qualname__}")
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params) \
                and type(self).var_argument is Tracer.var_argument:
            # torch.fx's order for a forward with *args / **kwargs: its code's (the
            # keyword-only parameters before *args, taken positionally: the traced forward's
            # signature is (x, scale=2.0, *args, **kwargs))
            kinds = inspect.Parameter
            order = (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY,
                     kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
            params = sorted(params, key=lambda q: order.index(q.kind))
        positional, keyword = [], {}
        trees: list[Any] = []  # each parameter's structure (a container of PH: its leaves)
        starred: dict[str, Any] = {}  # *args / **kwargs -> a placeholder's Proxy (torch.fx's)
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                value = self.var_argument(p)
                if isinstance(value, Proxy):
                    starred[p.name] = value
                elif p.kind == p.VAR_POSITIONAL:
                    positional.extend(value)
                else:
                    keyword.update(value)
                continue
            default = inspect.Signature.empty if p.default is p.empty else p.default
            if p.name in concrete_args and isinstance(concrete_args[p.name], PHBase):
                # fx.PH: the argument stays an input (a placeholder ``y_1``), as torch's
                arg = self.create_proxy("placeholder", f"{p.name}_1",
                                        () if default is inspect.Signature.empty else (default,),
                                        {})
                if concrete_args[p.name] is not PH:  # a PHWithMeta's attributes: the node's
                    for key, value in vars(concrete_args[p.name]).items():
                        if not key.startswith("__"):
                            setattr(arg.node, key, value)
            elif p.name in concrete_args and _contains_placeholder(concrete_args[p.name]):
                arg = self._container_placeholders(p.name, concrete_args[p.name], default)
                trees.append(concrete_args[p.name])
            elif p.name in concrete_args:
                arg = self.specialize(p.name, concrete_args[p.name], default)
            else:
                arg = self.create_proxy("placeholder", p.name,
                                        () if default is inspect.Signature.empty else (default,),
                                        {})
            if len(trees) < len(positional) + len(keyword) + 1:
                trees.append(_LEAF)
            if p.kind == p.KEYWORD_ONLY:
                keyword[p.name] = arg
            else:
                positional.append(arg)
        if any(tree is not _LEAF for tree in trees):
            # forward takes the arguments as they were and flattens them (torch's _in_spec)
            from dlpy.utils import _pytree as pytree

            self.graph._pytree_in = ([p.name for p in params], pytree.tree_structure(
                tuple(trees), is_leaf=lambda v: isinstance(v, PHBase) or v is _LEAF))
        if starred:
            return _without_star_parameters(root_fn, positional, keyword, starred, is_module)
        return functools.partial(root_fn, **keyword), positional

    def specialize(self, name: str, value: Any, default: Any) -> Any:
        """``concrete_args[name] = value`` (no fx.PH in it): a placeholder ``name_1`` checked
        as torch.fx checks it (``eq`` and ``_assert`` nodes, ``_assert_is_none``); ``value``
        is what forward gets. A container stays one placeholder checked whole."""
        from dlpy.utils import _pytree as pytree

        if pytree.tree_is_leaf(value):
            return self._container_placeholders(name, value, default)
        node = self.graph.placeholder(f"{name}_1", default_value=default)
        self.create_node("call_function", _assert_specialized,
                         (node, value, f"{name} has been specialized to have value "
                                       f"{value!r} but got another value"), {})
        return value

    def _container_placeholders(self, name: str, value: Any, default: Any) -> Any:
        """``concrete_args[name]`` a container holding fx.PH (torch.fx's): each leaf is a
        placeholder ``name_1``, ``name_2``...; a PH leaf's Proxy is passed on, another leaf
        is specialised (``eq`` and ``_assert`` nodes for a number, a string, a bool; None
        checked by ``_assert_is_none``) and passed on as it is."""
        from dlpy.torch_functions import _assert
        from dlpy.utils import _pytree as pytree

        count = 0

        def replace(leaf: Any) -> Any:
            nonlocal count
            count += 1
            out = self.create_proxy("placeholder", f"{name}_{count}",
                                    () if default is inspect.Signature.empty else (default,),
                                    {})
            if isinstance(leaf, PHBase):
                if leaf is not PH:
                    for key, attr in vars(leaf).items():
                        if not key.startswith("__"):
                            setattr(out.node, key, attr)
                return out
            message = f"{name} has been specialized to have value {leaf} but got another value"
            if isinstance(leaf, (bool, int, float, complex, str)):
                eq = self.create_proxy("call_function", operator.eq, (out, leaf), {})
                self.create_proxy("call_function", _assert, (eq, message), {})
            elif leaf is None:
                self.create_proxy("call_function", _assert_is_none, (out, message), {})
            else:
                warnings.warn(f"Was not able to add assertion to guarantee correct input {name} "
                              f"to specialized function. It is up to the user to make sure that "
                              f"your inputs match the inputs you specialized the function with.",
                              stacklevel=4)
            return leaf

        return pytree.tree_map(replace, value, is_leaf=lambda v: isinstance(v, PHBase))

    def var_argument(self, parameter: inspect.Parameter) -> Any:
        """What a ``*args`` / ``**kwargs`` parameter of the traced forward is given: one
        placeholder ``*args`` (node ``_args``) whose Proxy is the tuple (the dict) whole, as
        torch.fx's; a tracer may give a tuple (a dict) of values instead, spread into the call
        (dlpy.export's: one placeholder per leaf)."""
        star = "*" if parameter.kind == parameter.VAR_POSITIONAL else "**"
        return self.create_proxy("placeholder", star + parameter.name, (), {})

    def trace(self, root, concrete_args: dict[str, Any] | None = None) -> Graph:
        """The Graph of ``root`` (a Module, or a function) called on Proxies. A root that is
        one of dlpy.nn's leaf layers whose forward cannot be traced (Linear's shape check,
        LSTM's loop over time) is called as a leaf child is: see ``trace_leaf_root``."""
        try:
            return self._trace_forward(root, concrete_args)
        except Exception:
            if not self.is_leaf_root(root):
                raise
            return self.trace_leaf_root(root, concrete_args)

    def is_leaf_root(self, root) -> bool:
        """Whether ``root`` is one of dlpy.nn's layers and a leaf (``is_leaf_module``)."""
        from dlpy.nn.module import Module

        return isinstance(root, Module) and type(root).__module__.startswith("dlpy.nn") \
            and self.is_leaf_module(root, "")

    def _trace_forward(self, root, concrete_args: dict[str, Any] | None) -> Graph:
        """``trace`` with ``root``'s forward traced, whatever it is (torch.fx's trace)."""
        from dlpy.nn.module import Module

        self.graph = Graph()
        self.tensor_attrs, self._paths, self._parameter_proxy_cache = {}, None, {}
        self._tensor_constants = []
        self.submodule_paths = None
        if isinstance(root, Module):
            self.root = root
            fn = type(root).forward
            is_module = True
            self._collect_tensor_attrs(root, "")
        elif callable(root):
            self.root = Module()
            fn = root
            is_module = False
        else:
            from dlpy.ops import ArgTypeAssertionError  # torch.fx asserts it

            raise ArgTypeAssertionError(f"symbolic_trace: expected a Module or a function, "
                                        f"got {type(root).__name__}")
        self.graph.owning_module = self.root if is_module else None
        fn_globals = getattr(inspect.unwrap(fn), "__globals__", {})
        self._assigned = {}
        try:
            with _Patcher(self, fn_globals):
                call, args = self.create_args_for_root(fn, is_module, concrete_args)
                result = call(root, *args) if is_module else call(*args)
                result = self.create_arg(result)
                self._record_assignments()
                self.create_node("output", "output", (result,), {})
        except Exception:
            self._assigned = None
            if is_module:
                for name in self._tensor_constants:  # constants it kept on the root
                    root.__dict__.pop(name, None)
            raise
        self.graph.owning_module = None
        return self.graph

    def _collect_tensor_attrs(self, module, prefix: str) -> None:
        """Tensors kept as plain attributes of ``module`` and its children (neither parameters
        nor buffers), by their paths: a forward using one reads it with a ``get_attr`` of that
        path (torch.fx's ``collect_tensor_attrs``), not a ``_tensor_constant`` copy."""
        from dlpy.tensor import Tensor

        for name, value in vars(module).items():
            if isinstance(value, Tensor):
                self.tensor_attrs[id(value)] = prefix + name
        for name, child in module.named_children():
            self._collect_tensor_attrs(child, f"{prefix}{name}.")

    _tensor_constants: list[str] = []

    def trace_leaf_root(self, layer, concrete_args: dict[str, Any] | None = None) -> Graph:
        """The Graph of a root that is itself a leaf layer (``symbolic_trace(nn.Linear(2,
        2))``), its forward not traced (as a leaf child's is not): the layer is called as
        dlpy.export calls a leaf child, ``dlpy.func.functional_call(layer, {"weight":
        self.weight, ...}, args, kwargs)``. ``self.root`` becomes a Module holding the layer's
        parameters and buffers (the same objects) under their own names (``weight``, no
        prefix) and a copy of the layer without them at ``self.<class name, lowercased>``."""
        from dlpy.func import functional_call

        self.graph = Graph()
        self.tensor_attrs, self._paths, self._parameter_proxy_cache = {}, None, {}
        self.submodule_paths = None
        self.root, layer_name, state_names = _leaf_root(layer)
        self.graph.owning_module = self.root
        call, args = self.create_args_for_root(type(layer).forward, True, concrete_args)
        state = {name: self._get_attr_proxy(name) for name in state_names}
        module = self.create_proxy("get_attr", layer_name, (), {})
        result = self.create_proxy("call_function", functional_call,
                                   (module, state, tuple(args), dict(call.keywords)), {})
        self.create_node("output", "output", (result.node,), {})
        self.graph.owning_module = None
        return self.graph


def _leaf_root(layer) -> tuple[Any, str, list[str]]:
    """(a Module holding ``layer``'s parameters and buffers, the same objects, under their
    state_dict names, with ``layer`` without them as a child; that child's name; the names of
    the state, in state_dict order)."""
    from dlpy.fx.graph_module import GraphModule
    from dlpy.nn.module import Module

    holder = Module()
    object.__setattr__(holder, "training", layer.training)
    names: list[str] = []
    for path, module in layer.named_modules(remove_duplicate=False):
        owner = holder
        for atom in path.split(".") if path else ():
            if atom not in owner._modules:
                setattr(owner, atom, Module())
            owner = owner._modules[atom]
        prefix = f"{path}." if path else ""
        for name, p in module._parameters.items():
            if p is not None:
                setattr(owner, name, p)
                names.append(prefix + name)
        for name, b in module._buffers.items():
            if b is not None:
                owner.register_buffer(name, b, persistent=name not in module._non_persistent)
                names.append(prefix + name)
    layer_name = type(layer).__name__.lower()
    while not layer_name.isidentifier() or hasattr(holder, layer_name) \
            or hasattr(GraphModule, layer_name):
        layer_name = f"{layer_name}_"
    setattr(holder, layer_name, _stateless(layer))
    return holder, layer_name, names


def _stateless(module):
    """A shallow copy of ``module`` (and of its children) whose parameters and buffers are
    None and that has no hooks: the layer ``functional_call`` is given the state of."""
    copy = object.__new__(type(module))
    copy.__dict__.update({k: v for k, v in module.__dict__.items() if "hook" not in k})
    for kind in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks",
                 "_backward_pre_hooks"):
        copy.__dict__[kind] = {}
    copy.__dict__["_parameters"] = dict.fromkeys(module._parameters)
    copy.__dict__["_buffers"] = dict.fromkeys(module._buffers)
    copy.__dict__["_non_persistent"] = set(module._non_persistent)
    copy.__dict__["_modules"] = {name: None if child is None else _stateless(child)
                                 for name, child in module._modules.items()}
    for registry in ("_parameters", "_buffers", "_modules"):
        copy.__dict__.update(copy.__dict__[registry])
    return copy


class GraphAppendingTracer(Tracer):
    """The tracer of a Proxy made on a bare Graph: nodes are appended to it. No trace swaps
    in recording call sites for it, so dlpy's functions reach its Proxies through
    ``__torch_function__`` dispatch, turned on here (torch's Proxy always dispatches)."""

    def __init__(self, graph: Graph):
        from dlpy.overrides import enable_dispatch

        super().__init__()
        self.graph = graph
        self._parameter_proxy_cache = {}
        enable_dispatch()


def _updated_in_place(node: Node, buffer: Node) -> bool:
    """Whether ``node`` is ``buffer``'s tensor after in-place calls (``buffer.add_(1)``,
    ``.mul_(2).add_(x)``)."""
    while node.op == "call_method" and node.target.endswith("_") and node.args:
        node = node.args[0]
    return node is buffer


def _assign_buffer(buffer: Any, value: Any) -> Any:
    """What a traced ``self.<buffer> = value`` records (dlpy.export, dlpy.jit): ``value``
    written into the buffer in place (torch.export's ``aten.copy_``), so the module running
    the graph sees it updated."""
    buffer.copy_(value)
    return buffer


class _Leaf:
    """A parameter that is one leaf of the traced forward's inputs (in ``_pytree_in``)."""

    def __repr__(self) -> str:
        return "*"


_LEAF = _Leaf()


def _assert_is_none(value: Any, message: str) -> None:
    """torch.fx's check of an input specialised to None."""
    if value is not None:
        from dlpy.ops import ArgAssertionError

        raise ArgAssertionError(message)


def _tree_flatten_spec(tree: Any, spec: Any) -> list[Any]:
    """The leaves of ``tree`` read by the structure ``spec`` (torch.fx._pytree's
    tree_flatten_spec): a list's or tuple's children by position, a dict's by key (an
    IndexError or KeyError when one is missing; extra ones are not read)."""
    if spec.is_leaf():
        return [tree]
    if spec.type in (list, tuple):
        children = [tree[i] for i in range(spec.num_children)]
    elif spec.type is dict:
        children = [tree[key] for key in spec.context]
    else:
        from dlpy.utils import _pytree as pytree

        children = pytree.SUPPORTED_NODES[spec.type].flatten_fn(tree)[0]
    out: list[Any] = []
    for child, child_spec in zip(children, spec.children()):
        out += _tree_flatten_spec(child, child_spec)
    return out


def _assert_specialized(value: Any, expected: Any, message: str) -> None:
    """What ``concrete_args`` leave in the graph: the argument must be what was traced."""
    same = value is expected if expected is None or isinstance(expected, bool) else \
        type(value) is type(expected) and value == expected
    if not same:
        from dlpy.ops import ArgAssertionError  # torch.fx's _assert_is_none asserts

        raise ArgAssertionError(message)


# ---------------------------------------------------------------------------- patching
_METHODS_OF_FUNCTIONAL = ("tanh", "sigmoid")  # torch's F.tanh(x) is x.tanh()
_WRAPPERS: dict[int, Callable] = {}  # id(function) -> its recording wrapper (made once)
_ORIGINALS: dict[int, Callable] = {}  # id(wrapper) -> function
_QUALIFIED: dict[int, str] = {}  # id(function) -> "dlpy.functional.relu" (where it was found)
_KEEP_ALIVE: list[Callable] = []
_WRAPPED_NAMES: list[tuple[dict, str]] = []  # dlpy.fx.wrap("name"): (globals, name)


def qualified_name(obj: Any) -> str | None:
    """The public dlpy path a recorded function was found at (None if it is none of them)."""
    return _QUALIFIED.get(id(obj))


def _recording(function: Callable) -> Callable:
    """``function``, recorded as a call_function node when an argument is a Proxy (one of
    dlpy.functional's with the arguments torch.fx records for torch's, see
    _functional_forms; F.tanh and F.sigmoid as the call_method nodes of torch's
    ``input.tanh()``)."""
    wrapper = _WRAPPERS.get(id(function))
    if wrapper is None:
        name = functional_name(function)
        functional = name is not None

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            proxy = _find_proxy(args, kwargs)
            if proxy is None:
                return function(*args, **kwargs)
            if functional and name in _METHODS_OF_FUNCTIONAL and len(args) == 1 and not kwargs:
                return proxy.tracer.create_proxy("call_method", name, args, {})
            if functional:
                args, kwargs = recorded_call(name, args, kwargs)
            return proxy.tracer.create_proxy("call_function", function, args, kwargs)

        _WRAPPERS[id(function)], _ORIGINALS[id(wrapper)] = wrapper, function
        _KEEP_ALIVE.append(function)
    return wrapper


def _method_recording(name: str, method: Callable) -> Callable:
    """A Tensor method: a Proxy argument makes binary operators give way to the Proxy's
    reflected one, and other methods a call_method node on the constant tensor."""
    gives_way = name in _REFLECTABLE or name.startswith("__i") and name[3:] in _REFLECTABLE

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        proxy = _find_proxy(args, kwargs)
        if proxy is None:
            return method(self, *args, **kwargs)
        if name in _TENSOR_FIRST:  # ``tensor + proxy``: torch.fx's ``tensor.add(proxy)``
            return proxy.tracer.create_proxy("call_method", _TENSOR_FIRST[name],
                                             (self, *args), kwargs)
        if gives_way:
            return NotImplemented
        if name == "__getitem__":
            return proxy.tracer.create_proxy("call_function", operator.getitem,
                                             (self, *args), {})
        return proxy.tracer.create_proxy("call_method", name, (self, *args), kwargs)

    return wrapper


# a binary operator with a tensor first and a Proxy second, recorded as torch.fx records it:
# the Tensor method of that name (``add``...; the dunder itself where torch has no such name)
_TENSOR_FIRST = {f"__{n}__": n for n in ("add", "sub", "mul", "matmul", "pow", "eq", "ne",
                                         "lt", "gt", "le", "ge")}
_TENSOR_FIRST.update({"__truediv__": "div"}, **{f"__{n}__": f"__{n}__" for n in (
    "floordiv", "mod", "and", "or", "xor", "lshift", "rshift")})
# ``buffer += proxy`` (a real buffer, torch.fx's default): its in-place method, ``add_``
_TENSOR_FIRST.update({f"__i{n}__": method for n, method in _INPLACE_METHODS.items()})
_REFLECTABLE = {f"__{n.rstrip('_')}__" for n in BINARY_OPERATORS} - {"__getitem__"}
_REFLECTABLE |= {f"__r{n[2:]}" for n in _REFLECTABLE}
_NOT_SWAPPED = {"__init__", "__new__", "__getattribute__", "__getattr__", "__setattr__",
                "__delattr__", "__repr__", "__str__", "__hash__", "__del__", "__init_subclass__",
                "__subclasshook__", "__class_getitem__", "__reduce__", "__reduce_ex__",
                "__getstate__", "__setstate__", "__copy__", "__deepcopy__", "__len__",
                "__iter__", "__bool__", "__array__", "__array_ufunc__", "__array_function__",
                "__format__", "__sizeof__", "__dir__", "__index__", "__int__", "__float__",
                "__complex__", "__contains__", "__setitem__", "__delitem__", "__enter__",
                "__exit__", "__dlpack__", "__dlpack_device__", "__torch_function__"}


# ---------------------------------------------------------------------------- the tables
# What a trace swaps in, namespace by namespace, is built once and built again only when that
# namespace changed (a function added or replaced: dlpy.fx.wrap, dlpy.library's ops,
# backend_registration's Tensor methods, a monkeypatch); a trace then swaps a whole table in
# and out with dict.update instead of name by name.
class _Snapshot:
    """A namespace as a table was built from it: the same names, in the same order, bound to
    the same values (``==``, identity first: a function, what the tables are made of, is equal
    only to itself)."""

    __slots__ = ("names", "values")

    def __init__(self, namespace: Any) -> None:
        self.names, self.values = list(namespace), list(namespace.values())

    def matches(self, namespace: Any) -> bool:
        # list equality tries identity first, so an unchanged namespace calls no __eq__; a
        # changed value whose == is not a bool (an array) counts as changed
        try:
            return len(namespace) == len(self.names) and list(namespace) == self.names \
                and list(namespace.values()) == self.values
        except Exception:
            return False


_MAX_TABLES = 256  # globals tables kept (exec'd code makes a new globals dict a call)
_MODULE_TABLES: dict[int, tuple[_Snapshot, dict, dict]] = {}  # id(owner) -> (snapshot, new, old)
_GLOBALS_TABLES: dict[int, tuple] = {}  # id(globals) -> (snapshot, len(_WRAPPERS), autowrap, ...)
_AUTOWRAP_IDS: dict[int, tuple[_Snapshot, frozenset[int]]] = {}  # id(module) -> callables' ids


def _remember(cache: dict, key: int, entry: Any) -> Any:
    if len(cache) >= _MAX_TABLES:
        cache.pop(next(iter(cache)))  # the oldest
    cache[key] = entry
    return entry


def _module_table(module: types.ModuleType) -> tuple[dict, dict]:
    """dlpy's or dlpy.functional's public functions: ({name: recording wrapper},
    {name: function})."""
    namespace = vars(module)
    entry = _MODULE_TABLES.get(id(module))
    if entry is None or not entry[0].matches(namespace):
        originals = _public_functions(module)
        for name, function in originals.items():
            _QUALIFIED.setdefault(id(function), f"{module.__name__}.{name}")
        entry = _remember(_MODULE_TABLES, id(module), (_Snapshot(namespace), {
            name: _recording(function) for name, function in originals.items()}, originals))
    return entry[1], entry[2]


def _tensor_table() -> tuple[list[tuple[str, Callable]], list[tuple[str, Callable]]]:
    """Tensor's methods: ([(name, recording wrapper)], [(name, method)])."""
    from dlpy.tensor import Tensor

    namespace = vars(Tensor)
    entry = _MODULE_TABLES.get(id(Tensor))
    if entry is None or not entry[0].matches(namespace):
        originals = [(name, value) for name, value in namespace.items()
                     if isinstance(value, types.FunctionType) and name not in _NOT_SWAPPED]
        entry = _remember(_MODULE_TABLES, id(Tensor), (_Snapshot(namespace), [
            (name, _method_recording(name, value)) for name, value in originals], originals))
    return entry[1], entry[2]


def _globals_table(namespace: dict, autowrap_ids: set[int]) -> tuple[dict, dict, list[str]]:
    """A traced forward's globals: ({name: recording wrapper}, {name: function}) for those
    that are dlpy's public functions (or already recorded: dlpy.fx.wrap'd) or in
    ``autowrap_ids``, and the names bound to dicts (which may be tables of functions:
    transformer.py's _ACTIVATIONS; their contents are read each trace)."""
    entry = _GLOBALS_TABLES.get(id(namespace))
    if entry is not None and entry[1] == len(_WRAPPERS) and entry[2] == autowrap_ids \
            and entry[0].matches(namespace):
        return entry[3]
    originals = {name: value for name, value in namespace.items()
                 if isinstance(value, types.FunctionType) and id(value) in _WRAPPERS
                 or id(value) in autowrap_ids}
    table = ({name: _recording(value) for name, value in originals.items()}, originals,
             [name for name, value in namespace.items() if type(value) is dict])
    # (_WRAPPERS only grows: the same length is the same functions recorded)
    _remember(_GLOBALS_TABLES, id(namespace), (_Snapshot(namespace), len(_WRAPPERS),
                                               frozenset(autowrap_ids), table))
    return table


def _autowrap_ids(module: Any) -> frozenset[int]:
    """The ids of ``module``'s public callables (Tracer's ``autowrap_modules``: math)."""
    namespace = vars(module)
    entry = _AUTOWRAP_IDS.get(id(module))
    if entry is None or not entry[0].matches(namespace):
        entry = _remember(_AUTOWRAP_IDS, id(module), (_Snapshot(namespace), frozenset(
            id(value) for name, value in namespace.items()
            if not name.startswith("_") and callable(value))))
    return entry[1]


def _public_functions(module: types.ModuleType) -> dict[str, Callable]:
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and isinstance(value, types.FunctionType)}


def _set_attributes(owner: Any, items: list[tuple[str, Any]]) -> None:
    for name, value in items:
        setattr(owner, name, value)


def _refuse_proxies(inner: Callable) -> Callable:
    """The op_call site while tracing: a Proxy reaching an op means the function that called
    it was not recorded; say which op and what to do (instead of a numpy error)."""
    def op_call(self, *inputs):
        if any(isinstance(x, Proxy) for x in inputs):
            raise TraceError(f"symbolic_trace: the dlpy op {type(self).__name__} was called on "
                             f"a Proxy by a function the tracer does not record (only dlpy.*, "
                             f"dlpy.functional.* and the traced forwards' globals are): call it "
                             f"through dlpy.functional, or dlpy.fx.wrap the function that "
                             f"calls it")
        return inner(self, *inputs)

    return op_call


class _Patcher:
    """Swaps in the recording call sites for one trace and puts every one back after."""

    def __init__(self, tracer: Tracer, fn_globals: dict):
        self.tracer, self.fn_globals = tracer, fn_globals
        # what to undo, last first: a callable, or (class, name, old value or _MISSING); the
        # old values of dicts and modules' namespaces (thousands a trace, written directly) are
        # kept by namespace and put back at once, after the undo list
        self.undo: list[Any] = []
        self.saved: dict[int, tuple[dict, dict]] = {}

    def _set(self, owner: Any, name: str, value: Any, is_dict: bool = False) -> None:
        if is_dict or isinstance(owner, types.ModuleType):
            namespace = owner if is_dict else owner.__dict__
            self._swap(namespace, {name: value}, {name: namespace[name]})
        else:
            self.undo.append((owner, name, vars(owner).get(name, _MISSING)))
            setattr(owner, name, value)

    def _swap(self, namespace: dict, new: dict, old: dict) -> None:
        """``namespace.update(new)``; ``old``: what ``new`` replaces, put back on exit (the
        first value swapped out of a name is the one put back)."""
        saved = self.saved.setdefault(id(namespace), (namespace, {}))[1]
        if saved:
            for name, value in old.items():
                saved.setdefault(name, value)
        else:
            saved.update(old)
        namespace.update(new)

    def __enter__(self) -> _Patcher:
        import dlpy
        from dlpy import functional
        from dlpy.nn.module import Module
        from dlpy.tensor import Tensor

        tracer = self.tracer
        try:
            for module in (dlpy, functional):
                self._swap(vars(module), *_module_table(module))
            wrappers, methods = _tensor_table()
            self.undo.append(lambda: _set_attributes(Tensor, methods))
            _set_attributes(Tensor, wrappers)
            # the traced forwards' own globals: ``from dlpy.functional import relu``, math,
            # dlpy.fx.wrap'd names
            globals_seen: set[int] = set()
            modules = tracer.root.modules() if tracer.root is not None else []
            for g in [self.fn_globals] + [getattr(type(m).forward, "__globals__", {})
                                          for m in modules]:
                if not g or id(g) in globals_seen:
                    continue
                globals_seen.add(id(g))
                new, old, dict_names = _globals_table(g, tracer._autowrap_function_ids)
                if new:
                    self._swap(g, new, old)
                for name in dict_names:
                    value = g[name]
                    if type(value) is dict and any(id(v) in _WRAPPERS for v in value.values()
                           if isinstance(v, types.FunctionType)):
                        # a table of functions (transformer.py's _ACTIVATIONS)
                        self._swap(g, {name: {k: _WRAPPERS.get(id(v), v) if isinstance(
                            v, types.FunctionType) else v for k, v in value.items()}},
                            {name: value})
            for g, name in _WRAPPED_NAMES:
                if name in g:
                    self._set(g, name, _recording(g[name]), is_dict=True)
                elif hasattr(builtins, name):  # a builtin (``wrap('len')``): shadowed, then unset
                    g[name] = _recording(getattr(builtins, name))
                    self.undo.append(lambda g=g, name=name: g.pop(name, None))

            original_call = Module.__call__

            def module_call(mod, *args, **kwargs):
                return tracer.call_module(
                    mod, lambda *a, **k: original_call(mod, *a, **k), args, kwargs)

            self._set(Module, "__call__", module_call)

            def module_getattribute(mod, name):
                value = object.__getattribute__(mod, name)
                if tracer._assigned and (id(mod), name) in tracer._assigned:
                    return tracer._assigned[id(mod), name][1]  # a traced buffer assignment
                if isinstance(value, (np.ndarray, Tensor)):  # a parameter or buffer: get_attr
                    return tracer.getattr(name, value, tracer._parameter_proxy_cache)
                if isinstance(value, types.FunctionType) and id(value) in _WRAPPERS:
                    return _WRAPPERS[id(value)]  # self.activation = F.gelu
                return value

            self._set(Module, "__getattribute__", module_getattribute)
            guard = swap_call_sites(2, op_call=_refuse_proxies)
            guard.__enter__()
            self.undo.append(lambda: guard.__exit__(None, None, None))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        while self.undo:
            step = self.undo.pop()
            if callable(step):
                step()
                continue
            owner, name, old = step
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
        while self.saved:
            namespace, saved = self.saved.popitem()[1]
            namespace.update(saved)


_MISSING = object()


def wrap(fn_or_name: str | Callable) -> str | Callable:
    """At module scope: calls of this global function stay one call_function node when traced
    (its body is not traced), as torch.fx.wrap."""
    caller = sys._getframe(1)
    if caller.f_code.co_name != "<module>":
        raise NotImplementedError("wrap must be called at the top level of a module")
    name = fn_or_name if isinstance(fn_or_name, str) else getattr(fn_or_name, "__name__", "")
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"wrap: expected a function or the name of one, got {fn_or_name!r}")
    _WRAPPED_NAMES.append((caller.f_globals, name))
    return fn_or_name


def symbolic_trace(root, concrete_args: dict[str, Any] | None = None):
    """The GraphModule of ``root`` (a Module or a function), traced with Proxies."""
    from dlpy.fx.graph_module import GraphModule

    tracer = Tracer()
    graph = tracer.trace(root, concrete_args)
    name = type(root).__name__ if not isinstance(root, types.FunctionType) else root.__name__
    return GraphModule(tracer.root, graph, name)
