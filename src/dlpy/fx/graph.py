"""torch.fx's Graph: an ordered list of Nodes that can be read, rewritten and turned back into
Python source (``python_code``), which GraphModule compiles as its ``forward``."""

from __future__ import annotations

import builtins
import contextlib
import copy
import inspect
import keyword
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpy.fx.node import OPCODES, Node, _callable_name, map_aggregate, map_arg
from dlpy.ops import ArgAssertionError, ArgError, ArgTypeAssertionError

_snake_case_sub = re.compile(r"(?<=[a-z])([A-Z])").sub
_illegal_char_regex = re.compile("[^0-9a-zA-Z_]+")
_name_regex = re.compile(r"^([a-zA-Z_][0-9a-zA-Z_]*?)(?:_(\d+))?$")
_illegal_names = {k: object() for k in keyword.kwlist}
_illegal_names.update(builtins.__dict__)  # a node never shadows a builtin (input -> input_1)
_illegal_names.update({"self": object(), "dlpy": object(), "operator": object(),
                       "numpy": object(), "math": object(), "inf": object(), "nan": object()})

# operator functions written as Python operators in generated code (torch.fx's magic_methods)
BINARY_OPERATORS = {
    "add": "{} + {}", "sub": "{} - {}", "mul": "{} * {}", "floordiv": "{} // {}",
    "truediv": "{} / {}", "mod": "{} % {}", "pow": "{} ** {}", "lshift": "{} << {}",
    "rshift": "{} >> {}", "and_": "{} & {}", "or_": "{} | {}", "xor": "{} ^ {}",
    "matmul": "{} @ {}", "eq": "{} == {}", "ne": "{} != {}", "lt": "{} < {}", "gt": "{} > {}",
    "le": "{} <= {}", "ge": "{} >= {}", "getitem": "{}[{}]",
}
UNARY_OPERATORS = {"neg": "-{}", "pos": "+{}", "invert": "~{}", "abs": "abs({})"}


class _Namespace:
    """Unique Python identifiers for nodes, as torch.fx's: ``add``, ``add_1``, ...; never a
    keyword or a builtin (``input`` becomes ``input_1``)."""

    def __init__(self) -> None:
        self._used_names: set[str] = set()
        self._base_count: dict[str, int] = {}

    def create_name(self, candidate: str) -> str:
        match = _name_regex.match(candidate)
        if match is None:
            candidate = _illegal_char_regex.sub("_", candidate) or "_unnamed"
            if candidate[0].isdigit():
                candidate = f"_{candidate}"
            match = _name_regex.match(candidate)
        base, num = match.group(1, 2)
        if num is None or candidate in self._used_names:
            num = self._base_count.get(base, 0)
            if candidate in _illegal_names:
                num += 1
                candidate = f"{base}_{num}"
        else:
            num = int(num)
        while candidate in self._used_names:
            num += 1
            candidate = f"{base}_{num}"
        self._used_names.add(candidate)
        self._base_count[base] = num
        return candidate


def _snake_case(s: str) -> str:
    return _snake_case_sub(r"_\1", s).lower()


def _target_to_str(target: Any) -> str:
    if callable(target):
        name = target.__name__
    elif not isinstance(target, str):
        raise ArgTypeAssertionError(f"Expected target to be str, got {type(target)}")
    else:
        name = target[2:-2] if target.startswith("__") and target.endswith("__") else target
    return _snake_case(name)


@dataclass
class PythonCode:
    """What ``Graph.python_code`` makes: the source of ``forward`` and the globals it needs."""

    src: str
    globals: dict[str, Any]


class _NodeList:
    """``graph.nodes``: iterable (forwards, or ``reversed``), with ``len``; nodes may be erased
    while iterating."""

    def __init__(self, graph: Graph, direction: str = "_next"):
        self.graph, self.direction = graph, direction

    def __len__(self) -> int:
        return self.graph._len

    def __iter__(self) -> Iterator[Node]:
        root = self.graph._root
        cur = getattr(root, self.direction)
        while cur is not root:
            nxt = getattr(cur, self.direction)
            if not cur._erased:
                yield cur
            cur = nxt

    def __reversed__(self) -> Iterator[Node]:
        return iter(_NodeList(self.graph, "_prev" if self.direction == "_next" else "_next"))


class Graph:
    """torch.fx.Graph: nodes in execution order; ``create_node`` (and the shorthands
    ``placeholder``, ``get_attr``, ``call_function``, ``call_method``, ``call_module``,
    ``output``) adds one at the insertion point (the end, or ``inserting_before/after``)."""

    def __init__(self, owning_module=None):
        self._root = Node(self, "", "root", "", (), {})
        self._len = 0
        self._graph_namespace = _Namespace()
        self._insert = self._root.prepend
        self.owning_module = owning_module

    @property
    def nodes(self) -> _NodeList:
        return _NodeList(self)

    def find_nodes(self, *, op: str, target: Any = None) -> list[Node]:
        return [n for n in self.nodes if n.op == op and (target is None or n.target == target)]

    # ------------------------------------------------------------------ building
    def create_node(self, op: str, target: Any, args: tuple | None = None,
                    kwargs: dict | None = None, name: str | None = None,
                    type_expr: Any = None) -> Node:
        if op not in OPCODES:  # torch.fx asserts these
            raise ArgAssertionError(f"create_node: op must be one of {OPCODES}, got {op!r}")
        if args is not None and not isinstance(args, tuple):
            raise ArgTypeAssertionError(f"args must be a tuple, got {type(args)}")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ArgTypeAssertionError(f"kwargs must be a dict, got {type(kwargs)}")
        name = self._graph_namespace.create_name(name if name else _target_to_str(target))
        node = Node(self, name, op, target, tuple(args or ()), dict(kwargs or {}), type_expr)
        self._insert(node)
        self._len += 1
        return node

    def placeholder(self, name: str, type_expr: Any = None,
                    default_value: Any = inspect.Signature.empty) -> Node:
        args = () if default_value is inspect.Signature.empty else (default_value,)
        return self.create_node("placeholder", name, args, type_expr=type_expr)

    def get_attr(self, qualified_name: str, type_expr: Any = None) -> Node:
        return self.create_node("get_attr", qualified_name, type_expr=type_expr)

    def call_module(self, module_name: str, args: tuple | None = None,
                    kwargs: dict | None = None, type_expr: Any = None) -> Node:
        """A call_module node; in a graph owned by a module, ``module_name`` must name one of
        its submodules (``get_submodule``'s AttributeError otherwise, as torch.fx)."""
        if self.owning_module is not None and isinstance(module_name, str):
            self.owning_module.get_submodule(module_name)
        return self.create_node("call_module", module_name, args, kwargs, type_expr=type_expr)

    def call_method(self, method_name: str, args: tuple | None = None,
                    kwargs: dict | None = None, type_expr: Any = None) -> Node:
        return self.create_node("call_method", method_name, args, kwargs, type_expr=type_expr)

    def call_function(self, the_function: Callable, args: tuple | None = None,
                      kwargs: dict | None = None, type_expr: Any = None,
                      name: str | None = None) -> Node:
        return self.create_node("call_function", the_function, args, kwargs, name=name,
                                type_expr=type_expr)

    def output(self, result: Any, type_expr: Any = None) -> Node:
        return self.create_node("output", "output", (result,), type_expr=type_expr)

    @contextlib.contextmanager
    def _inserting(self, insert: Callable[[Node], None]) -> Iterator[None]:
        previous, self._insert = self._insert, insert
        try:
            yield
        finally:
            self._insert = previous

    def inserting_before(self, n: Node | None = None):
        """``with graph.inserting_before(n):`` new nodes go just before ``n`` (None: at the
        start)."""
        if n is None:
            return self.inserting_after(self._root)
        self._check_owned(n, "inserting_before", ArgAssertionError)
        return self._inserting(n.prepend)

    def inserting_after(self, n: Node | None = None):
        """``with graph.inserting_after(n):`` each new node goes just after ``n`` (None: at
        the end), so two made in a row end up in reverse order, as torch.fx's ``n.append``."""
        if n is None:
            return self.inserting_before(self._root)
        if n is not self._root:
            self._check_owned(n, "inserting_after", ArgAssertionError)
        return self._inserting(n.append)

    def _inserting_after_in_order(self, n: Node):
        """New nodes go after ``n`` in creation order (a copied subgraph, kept topological)."""
        anchor = [n]

        def insert(node: Node) -> None:
            anchor[0].append(node)
            anchor[0] = node

        return self._inserting(insert)

    def _check_owned(self, n: Node, what: str, error: type[Exception]) -> None:
        """``n`` must be a node of this graph, not erased (``error`` otherwise: torch.fx's
        assert for an insertion point, its RuntimeError for erase_node)."""
        if not isinstance(n, Node) or n.graph is not self or n._erased:
            raise error(f"{what}: node {n} is not in this graph")

    def erase_node(self, to_erase: Node) -> None:
        """Remove a node that no other node uses (one already erased: a warning, as
        torch.fx)."""
        if isinstance(to_erase, Node) and to_erase.graph is self and to_erase._erased:
            warnings.warn(f"erase_node({to_erase}) on an already erased node", stacklevel=2)
            return
        self._check_owned(to_erase, "erase_node", ArgError)
        if to_erase.users:
            raise RuntimeError(f"Tried to erase Node {to_erase} but it still had "
                               f"{len(to_erase.users)} users in the graph: {to_erase.users}!")
        to_erase._remove_from_list()
        to_erase._erased = True
        self._len -= 1
        to_erase._update_args_kwargs((), {})  # it no longer uses its inputs

    def node_copy(self, node: Node, arg_transform: Callable[[Node], Any] = lambda x: x) -> Node:
        """A copy of ``node`` (from any graph) here, its node arguments mapped by
        ``arg_transform``."""
        args = map_arg(node.args, arg_transform)
        kwargs = map_arg(node.kwargs, arg_transform)
        copied = self.create_node(node.op, node.target, args, kwargs, node.name, node.type)
        copied.meta = copy.copy(node.meta)
        return copied

    def graph_copy(self, g: Graph, val_map: dict[Node, Any]) -> Any:
        """Copy every node of ``g`` but its output here, ``val_map`` mapping g's nodes to
        values here (filled as it goes; nodes already in it are not copied); returns what g's
        output returned, mapped."""
        for node in g.nodes:
            if node in val_map:
                continue
            if node.op == "output":
                return map_arg(node.args[0], lambda n: val_map[n])
            val_map[node] = self.node_copy(node, lambda n: val_map[n])
        return None

    def __reduce__(self):
        """Pickled as a table of its nodes (op, name, target, args and kwargs naming the nodes
        they take, type), rebuilt in order when loading: no recursion along the list of
        nodes, and no owning module (a GraphModule given the graph sets itself)."""
        table = [(n.op, n.name, n.target, map_arg(n.args, _NodeName.of),
                  map_arg(n.kwargs, _NodeName.of), n.type) for n in self.nodes]
        return _graph_from_table, (table, getattr(self, "_pytree_in", None))

    def __deepcopy__(self, memo=None) -> Graph:
        g = Graph()
        output = g.graph_copy(self, {})
        g.output(output)
        if hasattr(self, "_pytree_in"):  # forward's arguments flattened (fx.PH in containers)
            g._pytree_in = self._pytree_in
        return g

    # ------------------------------------------------------------------ checking
    def lint(self) -> None:
        """Check the graph: every node's inputs are in it and come before it, names are
        unique, use lists agree, and (with an owning module) targets exist."""
        seen: set[Node] = set()
        names: set[str] = set()
        for node in self.nodes:
            if node.graph is not self:
                raise RuntimeError(f"Node '{node}' does not belong to this Graph!")
            if node.name in names:
                raise RuntimeError(f"Node redefined name {node.name}!")
            names.add(node.name)
            for arg in node._input_nodes:
                if arg not in seen:  # torch.fx's message ends with the graph
                    raise RuntimeError(f"Argument '{arg}' of Node '{node}' was used before "
                                       f"it has been defined! Please check that Nodes in the "
                                       f"graph are topologically ordered\n{self}")
                if node not in arg.users:
                    raise RuntimeError(f"Node {arg} does not list {node} among its users")
            seen.add(node)
            if self.owning_module is not None and node.op in ("get_attr", "call_module"):
                obj = self.owning_module
                for i, atom in enumerate(node.target.split(".")):
                    if not hasattr(obj, atom):
                        where = ".".join(node.target.split(".")[:i])
                        raise RuntimeError(f"Node {node} target {node.target} references "
                                           f"nonexistent attribute {atom} of {where}")
                    obj = getattr(obj, atom)
        outputs = [n for n in self.nodes if n.op == "output"]
        if len(outputs) > 1:
            raise RuntimeError(f"Graph has {len(outputs)} output nodes; expected at most one")

    def eliminate_dead_code(self, is_impure_node: Callable[[Node], bool] | None = None) -> bool:
        """Erase nodes whose value nobody uses, except impure ones (``Node.is_impure``, or
        ``is_impure_node`` when given: placeholders and the output always stay); returns
        whether anything changed. The graph is linted first (torch.fx's: nodes out of order
        are an error, not code to keep)."""
        self.lint()
        changed = False
        for node in reversed(self.nodes):
            impure = is_impure_node(node) if is_impure_node else node.is_impure()
            if node.op not in ("placeholder", "output") and not node.users and not impure:
                self.erase_node(node)
                changed = True
        return changed

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        lines = ["graph():"]  # as torch.fx's, the placeholders listed as nodes only
        lines += [f"    {n.format_node()}" for n in self.nodes]
        return "\n".join(lines)

    def print_tabular(self) -> None:
        """A table of the nodes (opcode, name, target, args, kwargs), as torch.fx's."""
        print(self._tabular())

    def _tabular(self) -> str:
        header = ("opcode", "name", "target", "args", "kwargs")
        rows = [(n.op, n.name, n.target if isinstance(n.target, str) else
                 _callable_name(n.target), str(n.args), str(n.kwargs)) for n in self.nodes]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        line = "  ".join("-" * w for w in widths)
        out = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip(), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(out)

    # ------------------------------------------------------------------ code generation
    def python_code(self, root_module: str = "self") -> PythonCode:
        """Python source for ``forward(self, <placeholders>)``: one line a node, each value set
        to None after its last use (as torch.fx's), operators written as operators."""
        return _CodeGen(self, root_module).generate()


class _CodeGen:
    def __init__(self, graph: Graph, root_module: str):
        self.graph, self.root_module = graph, root_module
        self.globals: dict[str, Any] = {"inf": math.inf, "nan": math.nan}
        self.global_names: dict[int, str] = {}
        self.taken: set[str] = set()  # node names: a global never shadows one

    def add_global(self, obj: Any) -> str:
        """The name the generated code reads ``obj`` by: ``dlpy.functional.relu`` when that
        path leads to it, else a global of its own."""
        if id(obj) in self.global_names:
            return self.global_names[id(obj)]
        path = _importable_path(obj)
        if path is not None:
            top = path.split(".")[0]
            if top != "builtins":
                self.globals[top] = sys.modules[top]
            name = path.removeprefix("builtins.")
        else:
            base = _illegal_char_regex.sub("_", getattr(obj, "__name__", "_constant"))
            name, i = base, 0
            while name in self.globals or name in _illegal_names or name in self.taken:
                i += 1
                name = f"{base}_{i}"
            self.globals[name] = obj
        self.global_names[id(obj)] = name
        return name

    def arg(self, a: Any) -> str:
        if isinstance(a, Node):
            return a.name
        if isinstance(a, tuple):
            items = ", ".join(self.arg(x) for x in a)
            if hasattr(a, "_fields"):
                return f"{self.add_global(type(a))}({items})"
            return f"({items},)" if len(a) == 1 else f"({items})"
        if isinstance(a, list):
            return "[" + ", ".join(self.arg(x) for x in a) + "]"
        if isinstance(a, dict):
            return "{" + ", ".join(f"{k!r}: {self.arg(v)}" for k, v in a.items()) + "}"
        if isinstance(a, slice):
            return f"slice({self.arg(a.start)}, {self.arg(a.stop)}, {self.arg(a.step)})"
        if a is None or isinstance(a, (bool, int, str, range, type(...))):
            return repr(a)
        if isinstance(a, float):
            return repr(a)  # inf and nan are globals
        if isinstance(a, np.dtype):
            self.globals["numpy"] = np
            return f"numpy.dtype({str(a)!r})"
        if isinstance(a, (complex, np.generic)) or callable(a):
            return repr(a) if isinstance(a, complex) else self.add_global(a)
        return self.add_global(a)

    def args_kwargs(self, args: tuple, kwargs: dict) -> str:
        parts = [self.arg(a) for a in args]
        parts += [f"{k} = {self.arg(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def attribute(self, target: str) -> str:
        expr = self.root_module
        for atom in target.split("."):
            expr = f"{expr}.{atom}" if atom.isidentifier() and not keyword.iskeyword(atom) \
                else f'getattr({expr}, "{atom}")'
        return expr

    def generate(self) -> PythonCode:
        nodes = list(self.graph.nodes)
        self.taken = {n.name for n in nodes} | {n.target.lstrip("*") for n in nodes
                                                if n.op == "placeholder"}
        # each value freed after its last use, the values one node frees in the order of its
        # arguments (torch.fx's: nodes walked backwards, a value's first sighting its last use)
        seen: set[Node] = set()
        to_free: dict[Node, list[Node]] = {}
        for node in reversed(nodes):
            for arg in node._input_nodes:
                if arg not in seen:
                    seen.add(arg)
                    to_free.setdefault(node, []).append(arg)
        signature, body = [self.root_module], []
        for node in nodes:
            if node.op == "placeholder":
                default = f" = {self.arg(node.args[0])}" if node.args else ""
                signature.append(f"{node.target}{default}")
                if node.name != node.target:  # (*args: `_args = args`)
                    body.append(f"{node.name} = {node.target.lstrip('*')}")
                continue
            if node.op == "output":
                body.append(f"return {self.arg(node.args[0])}")
                continue
            line = f"{node.name} = {self.expression(node)}"
            free = to_free.get(node, []) + ([node] if not node.users else [])
            if free:
                line += ";  " + " = ".join([n.name for n in free] + ["None"])
            body.append(line)
        pytree_in = getattr(self.graph, "_pytree_in", None)
        if pytree_in is not None:  # forward takes the arguments whole and flattens them
            from dlpy.fx._symbolic_trace import _tree_flatten_spec

            names, spec = pytree_in
            self.globals["_in_spec"] = spec
            leaves = [n.name for n in nodes if n.op == "placeholder"]
            body = [line for line in body if not any(line == f"{n.name} = {n.target}"
                                                     for n in nodes if n.op == "placeholder")]
            body.insert(0, f"{', '.join(leaves)}, = {self.add_global(_tree_flatten_spec)}("
                           f"[{', '.join(names)}], _in_spec)")
            signature = [self.root_module, *names]
        if not body:
            body.append("pass")
        src = "\n\n\ndef forward(" + ", ".join(signature) + "):\n"
        src += "".join(f"    {line}\n" for line in body) + "    "  # torch.fx's trailing indent
        return PythonCode(src, self.globals)

    def expression(self, node: Node) -> str:
        args, kwargs, target = node.args, node.kwargs, node.target
        if node.op == "get_attr":
            return self.attribute(target)
        if node.op == "call_module":
            return f"{self.attribute(target)}({self.args_kwargs(args, kwargs)})"
        if node.op == "call_method":
            return f"{self.arg(args[0])}.{target}({self.args_kwargs(args[1:], kwargs)})"
        name = getattr(target, "__name__", "")
        if getattr(target, "__module__", None) in ("_operator", "operator") and not kwargs:
            if name in BINARY_OPERATORS and len(args) == 2:
                return BINARY_OPERATORS[name].format(self.arg(args[0]), self.arg(args[1]))
            if name in UNARY_OPERATORS and len(args) == 1:
                return UNARY_OPERATORS[name].format(self.arg(args[0]))
        if target is builtins.getattr and len(args) == 2 and isinstance(args[1], str) \
                and args[1].isidentifier() and not kwargs:
            return f"{self.arg(args[0])}.{args[1]}"
        return f"{self.add_global(target)}({self.args_kwargs(args, kwargs)})"


def _importable_path(obj: Any) -> str | None:
    """``module.qualname`` when importing that module and following the name gives ``obj``
    back (preferring the public dlpy namespaces the tracer records); else None."""
    from dlpy.fx._symbolic_trace import qualified_name

    path = qualified_name(obj)
    if path is not None:
        return path
    if getattr(type(obj), "_is_custom_op", False):  # dlpy.library's op: dlpy.ops.ns.name.default
        return obj._path
    for public in ("dlpy", "dlpy.functional"):  # torch.neg, not where it is defined
        short = getattr(obj, "__name__", None)
        if short and public in sys.modules and getattr(sys.modules[public], short, None) is obj:
            return f"{public}.{short}"
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module == "_operator":
        module = "operator"
    if not module or not name or "<" in name or module not in sys.modules:
        return None
    found = sys.modules[module]
    for atom in name.split("."):
        found = getattr(found, atom, None)
    return f"{module}.{name}" if found is obj else None


class _NodeName(str):
    """A node's name standing for the node in a pickled graph's table."""

    @classmethod
    def of(cls, node: Node) -> _NodeName:
        return cls(node.name)


def _graph_from_table(table: list[tuple], pytree_in: Any = None) -> Graph:
    """The Graph ``Graph.__reduce__`` pickled as ``table``."""
    graph, made = Graph(), {}

    def node_of(value: Any) -> Any:
        return made[value] if type(value) is _NodeName else value

    for op, name, target, args, kwargs, type_expr in table:
        made[name] = graph.create_node(op, target, map_aggregate(args, node_of),
                                       map_aggregate(kwargs, node_of), name, type_expr)
    if pytree_in is not None:
        graph._pytree_in = pytree_in
    return graph
