"""torch.fx's Interpreter (run a GraphModule node by node, each opcode a method to override)
and Transformer (the same walk on Proxies, building a new, rewritten GraphModule)."""

from __future__ import annotations

import inspect
from typing import Any

from dlpy.fx._symbolic_trace import Proxy, Tracer
from dlpy.fx.graph import Graph
from dlpy.fx.graph_module import GraphModule
from dlpy.fx.node import Node, map_aggregate, map_arg

__all__ = ["Interpreter", "Transformer"]


class Interpreter:
    """``Interpreter(gm).run(*args)``: the graph's result, computed one node at a time by
    ``run_node`` -> ``placeholder`` / ``get_attr`` / ``call_function`` / ``call_method`` /
    ``call_module`` / ``output``; values are dropped after their last use."""

    def __init__(self, module, garbage_collect_values: bool = True, graph: Graph | None = None):
        self.module = module
        self.submodules = dict(module.named_modules())
        self.graph = graph if graph is not None else module.graph
        self.env: dict[Node, Any] = {}
        self.garbage_collect_values = garbage_collect_values
        if garbage_collect_values:
            last_use: dict[Node, Node] = {}
            for node in self.graph.nodes:
                for arg in node.all_input_nodes:
                    last_use[arg] = node
            self.user_to_last_uses: dict[Node, list[Node]] = {}
            for value, user in last_use.items():
                self.user_to_last_uses.setdefault(user, []).append(value)

    def run(self, *args, initial_env: dict[Node, Any] | None = None,
            enable_io_processing: bool = True) -> Any:
        self.env = dict(initial_env or {})
        self.args_iter = iter(args)
        for node in self.graph.nodes:
            if node in self.env:
                continue  # given by initial_env
            try:
                self.env[node] = self.run_node(node)
            except Exception as error:
                error.args = (f"{error.args[0] if error.args else ''}\n\nWhile executing "
                              f"{node.format_node()}",) + error.args[1:]
                raise
            if self.garbage_collect_values:
                for to_delete in self.user_to_last_uses.get(node, []):
                    del self.env[to_delete]
            if node.op == "output":
                return self.env[node]
        return None

    def boxed_run(self, args_list: list[Any]) -> Any:
        """``run`` with the inputs in a list, one a placeholder, which it empties (the
        "boxed" calling convention: the caller holds no reference to them afterwards)."""
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        if len(args_list) != len(placeholders):
            detail = "extra arguments" if len(args_list) > len(placeholders) \
                else "missing arguments"
            raise RuntimeError(f"Interpreter.boxed_run expected {len(placeholders)} arguments "
                               f"for placeholders but received {len(args_list)} ({detail})")
        env = dict(zip(placeholders, args_list))
        args_list.clear()
        return self.run(initial_env=env)

    def run_node(self, n: Node) -> Any:
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        return getattr(self, n.op)(n.target, args, kwargs)

    def placeholder(self, target: str, args: tuple, kwargs: dict) -> Any:
        if target.startswith("*"):  # a *args parameter: the rest of the arguments, as torch's
            return list(self.args_iter)
        try:
            return next(self.args_iter)
        except StopIteration:
            if args:
                return args[0]
            raise RuntimeError(f"Expected positional argument for parameter {target}, but one "
                               f"was not passed in!") from None

    def get_attr(self, target: str, args: tuple, kwargs: dict) -> Any:
        return self.fetch_attr(target)

    def call_function(self, target, args: tuple, kwargs: dict) -> Any:
        return target(*args, **kwargs)

    def call_method(self, target: str, args: tuple, kwargs: dict) -> Any:
        self_obj, *args_tail = args
        return getattr(self_obj, target)(*args_tail, **kwargs)

    def call_module(self, target: str, args: tuple, kwargs: dict) -> Any:
        return self.fetch_attr(target)(*args, **kwargs)

    def output(self, target: str, args: tuple, kwargs: dict) -> Any:
        return args[0]

    def fetch_attr(self, target: str) -> Any:
        """The attribute at a dotted path of the module."""
        atoms = target.split(".")
        attr = self.module
        for i, atom in enumerate(atoms):
            if not hasattr(attr, atom):
                raise RuntimeError(f"Node referenced nonexistent target "
                                   f"{'.'.join(atoms[:i + 1])}")
            attr = getattr(attr, atom)
        return attr

    def fetch_args_kwargs_from_env(self, n: Node) -> tuple[tuple, dict]:
        return self.map_nodes_to_values(n.args, n), self.map_nodes_to_values(n.kwargs, n)

    def map_nodes_to_values(self, args: Any, n: Node) -> Any:
        def load(node: Node) -> Any:
            if node not in self.env:
                raise RuntimeError(f"Node {n} referenced nonexistent value {node}! Run "
                                   f"Graph.lint() to diagnose such issues")
            return self.env[node]

        return map_arg(args, load)


class Transformer(Interpreter):
    """``Transformer(gm).transform()``: a new GraphModule made by running the graph on Proxies
    (override ``call_function`` etc. to rewrite what is recorded)."""

    def __init__(self, module):
        super().__init__(module)
        self.new_graph = Graph()

        class TransformerTracer(Tracer):
            def __init__(self, graph: Graph):
                super().__init__()
                self.graph = graph
                self._parameter_proxy_cache = {}

            def is_leaf_module(self, _, __) -> bool:
                return True

        self.tracer = TransformerTracer(self.new_graph)
        self.tracer.root = module

    def placeholder(self, target: str, args: tuple, kwargs: dict) -> Proxy:
        default = args[0] if args else inspect.Signature.empty
        return Proxy(self.new_graph.placeholder(target, default_value=default), self.tracer)

    def get_attr(self, target: str, args: tuple, kwargs: dict) -> Proxy:
        return self.tracer.create_proxy("get_attr", target, args, kwargs)

    def call_module(self, target: str, args: tuple, kwargs: dict) -> Any:
        submod = self.fetch_attr(target)
        return self.tracer.call_module(submod, submod.forward, args, kwargs)

    def run_node(self, n: Node) -> Any:
        """As Interpreter's; a call_function's target is given as ``dlpy.neg`` reads while
        transforming (its recording version), so ``target == torch.neg`` holds in an
        override."""
        if n.op != "call_function":
            return super().run_node(n)
        from dlpy.fx._symbolic_trace import _WRAPPERS

        args, kwargs = self.fetch_args_kwargs_from_env(n)
        return self.call_function(_WRAPPERS.get(id(n.target), n.target), args, kwargs)

    def call_function(self, target, args: tuple, kwargs: dict) -> Any:
        from dlpy.fx._symbolic_trace import _ORIGINALS

        return self.tracer.create_proxy("call_function", _ORIGINALS.get(id(target), target),
                                        args, kwargs)

    def transform(self) -> GraphModule:
        """The rewritten GraphModule. The graph runs with dlpy's functions and Tensor methods
        recording (as in ``symbolic_trace``), so an override may call them on Proxies
        (``return dlpy.sigmoid(*args)`` in ``call_function``)."""
        from dlpy.fx._symbolic_trace import _Patcher

        with _Patcher(self.tracer, {}):
            result = super().run(enable_io_processing=False)
        if result is not None:
            self.new_graph.output(
                map_aggregate(result, lambda a: a.node if isinstance(a, Proxy) else a))
        return GraphModule(self.module, self.new_graph)
