"""torch.fx's Node: one instruction of a Graph (placeholder, get_attr, call_function,
call_method, call_module, output), its arguments and the nodes that use it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


class TargetTypeError(TypeError, ValueError):
    """A node target of the wrong kind (a callable for a method, a string for a function):
    dlpy's TypeError, torch.fx's ValueError."""


Target = Any
"""What a node calls: a callable (call_function) or a name (the other opcodes); typing only."""
Argument = Any
"""A node argument: a Node, a constant, or tuples/lists/dicts/slices of them; typing only."""

OPCODES = ("placeholder", "get_attr", "call_function", "call_method", "call_module", "output")


def map_aggregate(a: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` applied to every leaf of nested tuples, lists, dicts and slices (as torch.fx)."""
    if isinstance(a, tuple):
        mapped = tuple(map_aggregate(x, fn) for x in a)
        return type(a)(*mapped) if hasattr(a, "_fields") else mapped  # a namedtuple stays one
    if isinstance(a, list):
        return [map_aggregate(x, fn) for x in a]
    if isinstance(a, dict):
        return {k: map_aggregate(v, fn) for k, v in a.items()}
    if isinstance(a, slice):
        return slice(map_aggregate(a.start, fn), map_aggregate(a.stop, fn),
                     map_aggregate(a.step, fn))
    return fn(a)


def map_arg(a: Any, fn: Callable[[Node], Any]) -> Any:
    """``fn`` applied to every Node inside the nested argument ``a``."""
    return map_aggregate(a, lambda x: fn(x) if isinstance(x, Node) else x)


class Node:
    """``op`` (one of OPCODES), ``target`` (a function, or the dotted name of a module,
    attribute or method), ``args``/``kwargs`` (nodes and constants), ``users`` (the nodes that
    take this one as an argument, in insertion order), ``meta`` (a dict for passes). Nodes form
    a doubly linked list owned by their Graph."""

    def __init__(self, graph, name: str, op: str, target: Any, args: tuple, kwargs: dict,
                 type_expr: Any = None):
        if op not in OPCODES + ("root",):
            raise ValueError(f"Node: op must be one of {OPCODES}, got {op!r}")
        if op in ("call_method", "call_module", "get_attr", "placeholder", "output") \
                and not isinstance(target, str):
            raise TargetTypeError(f"Node: a {op} node's target must be a string, got "
                                  f"{target!r}")
        if op == "call_function" and not callable(target):
            raise TargetTypeError(f"Node: a call_function node's target must be callable, "
                                  f"got {target!r}")
        self.graph, self.name, self.op, self.target, self.type = graph, name, op, target, type_expr
        self._input_nodes: dict[Node, None] = {}
        self.users: dict[Node, None] = {}
        self.meta: dict[str, Any] = {}
        self._prev = self._next = self
        self._erased = False
        self._args: tuple = ()
        self._kwargs: dict = {}
        self._update_args_kwargs(args, kwargs)

    # ------------------------------------------------------------------ list order
    @property
    def next(self) -> Node:
        return self._next

    @property
    def prev(self) -> Node:
        return self._prev

    def prepend(self, x: Node) -> None:
        """Move (or insert) ``x`` just before this node (a node of the same graph; ``x`` being
        this node does nothing, with a warning, as torch.fx)."""
        from dlpy.ops import ArgAssertionError

        if x.graph is not self.graph:
            raise ArgAssertionError("Attempting to move a Node into a different Graph")
        if x is self:
            warnings.warn("Trying to prepend a node to itself. This behavior has no effect on "
                          "the graph.", stacklevel=2)
            return
        x._remove_from_list()
        p = self._prev
        p._next, x._prev = x, p
        x._next, self._prev = self, x

    def append(self, x: Node) -> None:
        """Move (or insert) ``x`` just after this node."""
        self._next.prepend(x)

    def _remove_from_list(self) -> None:
        p, n = self._prev, self._next
        p._next, n._prev = n, p
        self._prev = self._next = self

    # ------------------------------------------------------------------ arguments
    @property
    def args(self) -> tuple:
        return self._args

    @args.setter
    def args(self, a: tuple) -> None:
        self._update_args_kwargs(a, self._kwargs)

    @property
    def kwargs(self) -> dict:
        return self._kwargs

    @kwargs.setter
    def kwargs(self, k: dict) -> None:
        self._update_args_kwargs(self._args, k)

    @property
    def all_input_nodes(self) -> list[Node]:
        """The nodes this one reads, in the order they first appear in args then kwargs."""
        return list(self._input_nodes)

    def update_arg(self, idx: int, arg: Any) -> None:
        args = list(self._args)
        args[idx] = arg
        self.args = tuple(args)

    def update_kwarg(self, key: str, arg: Any) -> None:
        self.kwargs = {**self._kwargs, key: arg}

    def _update_args_kwargs(self, args: tuple, kwargs: dict) -> None:
        for old in self._input_nodes:
            old.users.pop(self, None)
        self._input_nodes = {}
        self._args = map_arg(tuple(args), self._collect)
        self._kwargs = map_arg(dict(kwargs), self._collect)
        for node in self._input_nodes:
            node.users.setdefault(self, None)

    def _collect(self, node: Node) -> Node:
        if node.graph is not self.graph:
            from dlpy.ops import ArgError  # torch.fx's lint refuses it with a RuntimeError

            raise ArgError(f"Node {self.name}: argument {node.name} belongs to another graph")
        self._input_nodes.setdefault(node, None)
        return node

    def replace_all_uses_with(self, replace_with: Node,
                              delete_user_cb: Callable[[Node], bool] = lambda user: True
                              ) -> list[Node]:
        """Every user reads ``replace_with`` instead of this node (those ``delete_user_cb``
        accepts); returns the users changed."""
        changed = [user for user in list(self.users) if delete_user_cb(user)]
        for user in changed:
            user.replace_input_with(self, replace_with)
        return changed

    def replace_input_with(self, old_input: Node, new_input: Any) -> None:
        """Every occurrence of ``old_input`` in this node's arguments becomes ``new_input``."""
        def swap(n: Node) -> Any:
            return new_input if n is old_input else n

        self._update_args_kwargs(map_arg(self._args, swap), map_arg(self._kwargs, swap))

    def is_impure(self) -> bool:
        """Whether dead-code elimination must keep this node though nothing reads it:
        placeholders, the output, checks and writes (``_assert_specialized``, ``torch._assert``,
        ``operator.setitem``), modules marked ``_is_impure``. A call_method is never impure,
        in-place ones (``x.add_(1)``) included: torch.fx's."""
        import operator

        from dlpy.fx._symbolic_trace import _assert_specialized
        from dlpy.torch_functions import _assert

        if self.op in ("placeholder", "output"):
            return True
        if self.op == "call_function":
            return self.target in (_assert_specialized, _assert, operator.setitem)
        if self.op == "call_module" and self.graph.owning_module is not None:
            module = self.graph.owning_module
            for atom in self.target.split("."):
                module = getattr(module, atom, None)
            return bool(getattr(module, "_is_impure", False))
        return False

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        return self.name

    def format_node(self) -> str:
        """One line of ``str(graph)``, as torch.fx's: ``%relu : [num_users=1] = ...``
        (``return add`` for the output, ``(default=2)`` after a placeholder with a default,
        builtins as ``builtins.getattr``)."""
        if self.op == "output":
            return f"return {self.args[0]}"
        target = self.target if isinstance(self.target, str) else _callable_name(self.target)
        if callable(self.target) and getattr(self.target, "__module__", None) == "builtins":
            target = f"builtins.{getattr(self.target, '__name__', target)}"
        head = f"%{self.name} : [num_users={len(self.users)}] = {self.op}[target={target}]"
        if self.op == "placeholder":
            return head + (f"(default={self.args[0]})" if self.args else "")
        if self.op == "get_attr":
            return head
        return f"{head}(args = {_format_arg(self.args)}, kwargs = {_format_arg(self.kwargs)})"


def _format_arg(a: Any) -> str:
    if isinstance(a, Node):
        return f"%{a.name}"
    if isinstance(a, tuple):
        items = ", ".join(_format_arg(x) for x in a)
        return f"({items},)" if len(a) == 1 else f"({items})"
    if isinstance(a, list):
        return "[" + ", ".join(_format_arg(x) for x in a) + "]"
    if isinstance(a, dict):
        return "{" + ", ".join(f"{k}: {_format_arg(v)}" for k, v in a.items()) + "}"
    return str(a)


def _callable_name(target: Callable) -> str:
    """``dlpy.functional.relu``, ``operator.add``: where a function lives, for printing."""
    from dlpy.fx._symbolic_trace import qualified_name

    if qualified_name(target) is not None:
        return qualified_name(target)
    module = getattr(target, "__module__", None) or "builtins"
    module = "operator" if module == "_operator" else module
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    return name if module == "builtins" else f"{module}.{name}"
