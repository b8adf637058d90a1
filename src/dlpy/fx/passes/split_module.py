"""torch.fx.passes.split_module: cut a GraphModule into submodules ``submod_<k>``, one per
partition id that ``split_callback(node)`` gives, called in turn by a new top-level graph."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from dlpy.fx.graph import Graph
from dlpy.fx.graph_module import GraphModule
from dlpy.fx.node import Node, map_arg
from dlpy.nn.module import Module

__all__ = ["split_module"]


class _Partition:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[Node] = []
        self.inputs: dict[Node, None] = {}  # values from outside, in order of first use
        self.outputs: dict[Node, None] = {}  # values used outside, in order of first use
        self.depends_on: dict[str, None] = {}


def split_module(m: GraphModule, root_m: Module, split_callback: Callable[[Node], Any],
                 qualname_map: dict[str, str] | None = None) -> GraphModule:
    """A GraphModule whose forward calls ``submod_<p>`` for each partition ``p`` (the values
    ``split_callback`` returns for the call_* nodes of ``m``), in an order where every partition
    comes after the ones it reads from; a submodule takes the values it reads from outside (in
    order of first use) and returns the one value (or tuple of values) read outside it.
    Placeholders and get_attr nodes stay in the top-level graph (as torch's); call_module and
    get_attr targets are taken from ``root_m``. ``qualname_map``, if given, is filled with
    ``"submod_<p>.<target>" -> "<target>"`` for the modules moved."""
    if not isinstance(m, GraphModule):
        raise TypeError(f"split_module: expected a GraphModule, got {type(m).__name__}")
    partitions: dict[str, _Partition] = {}
    owner: dict[Node, _Partition] = {}
    for node in m.graph.nodes:
        if node.op in ("placeholder", "get_attr", "output"):
            continue
        name = str(split_callback(node))
        partition = partitions.setdefault(name, _Partition(name))
        partition.nodes.append(node)
        owner[node] = partition

    def use(definition: Node, user: Node | None) -> None:
        source, target = owner.get(definition), owner.get(user)
        if source is target:
            return
        if source is not None:
            source.outputs.setdefault(definition, None)
        if target is not None:
            target.inputs.setdefault(definition, None)
            if source is not None:
                target.depends_on.setdefault(source.name, None)

    for node in m.graph.nodes:
        if node.op == "placeholder":
            continue
        for definition in node.all_input_nodes:
            use(definition, None if node.op == "output" else node)

    order = _topological(partitions)
    base = Graph()
    env: dict[Node, Any] = {}
    for node in m.graph.nodes:
        if node.op in ("placeholder", "get_attr"):
            env[node] = base.node_copy(node)
    modules: dict[str, Module] = {}
    for partition in order:
        graph = Graph()
        local: dict[Node, Node] = {}
        targets: dict[str, Module] = {}  # a submodule's layers under flat names (seq_0)
        for value in partition.inputs:
            local[value] = graph.placeholder(value.name)
        for node in partition.nodes:
            local[node] = graph.node_copy(node, local.__getitem__)
            if node.op == "call_module":
                flat = node.target.replace(".", "_")  # torch's: self.md_b, not self.md.b
                local[node].target = flat
                targets[flat] = m.get_submodule(node.target)
                if qualname_map is not None:
                    qualname_map[f"submod_{partition.name}.{flat}"] = node.target
        outputs = list(partition.outputs)
        graph.output(local[outputs[0]] if len(outputs) == 1 else
                     tuple(local[v] for v in outputs))  # () for a partition nobody reads
        module_name = f"submod_{partition.name}"
        modules[module_name] = GraphModule(targets, graph)
        call = base.call_module(module_name, tuple(env[v] for v in partition.inputs))
        if len(outputs) == 1:
            env[outputs[0]] = call
        else:
            for i, value in enumerate(outputs):
                env[value] = base.call_function(operator.getitem, (call, i))
    output = next(n for n in m.graph.nodes if n.op == "output")
    base.output(map_arg(output.args[0], env.__getitem__))
    root: dict[str, Any] = dict(modules)
    for node in base.nodes:
        if node.op == "get_attr":
            obj = root_m
            for atom in node.target.split("."):
                obj = getattr(obj, atom)
            root[node.target] = obj
    return GraphModule(root, base)


def _topological(partitions: dict[str, _Partition]) -> list[_Partition]:
    """Partitions ordered so that each comes after those it reads (Kahn's algorithm, in order
    of creation); a cycle is a ValueError."""
    waiting = {name: len(p.depends_on) for name, p in partitions.items()}
    readers: dict[str, list[str]] = {name: [] for name in partitions}
    for name, p in partitions.items():
        for source in p.depends_on:
            readers[source].append(name)
    queue = [name for name, count in waiting.items() if count == 0]
    order: list[_Partition] = []
    while queue:
        name = queue.pop(0)
        order.append(partitions[name])
        for reader in readers[name]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                queue.append(reader)
    if len(order) != len(partitions):
        raise RuntimeError("cycle exists between partitions!")  # torch's error
    return order
