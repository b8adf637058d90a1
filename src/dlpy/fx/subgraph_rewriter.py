"""torch.fx.subgraph_rewriter.replace_pattern: find every copy of a small traced pattern in a
GraphModule's graph and put a traced replacement in its place."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from dlpy.fx._symbolic_trace import symbolic_trace
from dlpy.fx.graph import Graph
from dlpy.fx.node import Node

__all__ = ["Match", "replace_pattern"]


class Match(NamedTuple):
    anchor: Node  # the node the pattern's output matched
    nodes_map: dict[Node, Node]  # pattern node -> graph node


def _graph_of(what: Callable | Graph) -> Graph:
    if isinstance(what, Graph):
        return what
    return symbolic_trace(what).graph


def _match(pattern: Node, node: Node, nodes_map: dict[Node, Node]) -> bool:
    """Whether the pattern ending at ``pattern`` matches the graph ending at ``node``,
    filling ``nodes_map``; a pattern placeholder matches any node (the same one each time)."""
    if pattern in nodes_map:
        return nodes_map[pattern] is node
    if node in nodes_map.values():
        return False
    if pattern.op != "placeholder":
        if pattern.op != node.op or pattern.target != node.target \
                or len(pattern.args) != len(node.args) \
                or pattern.kwargs.keys() != node.kwargs.keys():
            return False
    nodes_map[pattern] = node
    if pattern.op == "placeholder":
        return True
    pairs = list(zip(pattern.args, node.args))
    pairs += [(pattern.kwargs[k], node.kwargs[k]) for k in pattern.kwargs]
    return all(_match_arg(p, g, nodes_map) for p, g in pairs)


def _match_arg(p, g, nodes_map: dict[Node, Node]) -> bool:
    if isinstance(p, Node):
        return isinstance(g, Node) and _match(p, g, nodes_map)
    if isinstance(p, (tuple, list)):
        return type(p) is type(g) and len(p) == len(g) and \
            all(_match_arg(a, b, nodes_map) for a, b in zip(p, g))
    return not isinstance(g, Node) and type(p) is type(g) and p == g


def replace_pattern(gm, pattern: Callable | Graph, replacement: Callable | Graph) -> list[Match]:
    """Replace every non-overlapping match of ``pattern`` (a function or module, traced) in
    ``gm`` by ``replacement`` (same inputs, in the same order); returns the matches. A match
    whose inner values are used outside it is skipped, as torch's."""
    pattern_graph, replacement_graph = _graph_of(pattern), _graph_of(replacement)
    pattern_placeholders = [n for n in pattern_graph.nodes if n.op == "placeholder"]
    output = next(n for n in pattern_graph.nodes if n.op == "output")
    anchor = output.args[0]
    if not isinstance(anchor, Node):
        raise ValueError(f"replace_pattern: the pattern must return one value computed from "
                         f"its inputs, got {anchor!r}")
    graph = gm.graph
    matches: list[Match] = []
    taken: set[Node] = set()
    for node in list(graph.nodes):
        nodes_map: dict[Node, Node] = {}
        if not _match(anchor, node, nodes_map):
            continue
        inner = [g for p, g in nodes_map.items() if p.op != "placeholder"]
        if taken.intersection(inner):
            continue
        if any(user not in inner for g in inner if g is not node for user in g.users):
            continue  # a value inside the match is needed elsewhere
        taken.update(inner)
        matches.append(Match(node, nodes_map))
    replaced: dict[Node, Node] = {}  # an anchor already replaced -> what replaced it
    for match in matches:
        val_map = {r: replaced.get(match.nodes_map[p], match.nodes_map[p]) for r, p in zip(
            [n for n in replacement_graph.nodes if n.op == "placeholder"], pattern_placeholders)}
        with graph.inserting_before(match.anchor):
            result = graph.graph_copy(replacement_graph, val_map)
        match.anchor.replace_all_uses_with(result)
        replaced[match.anchor] = result
        for g in reversed([g for g in graph.nodes if g in set(
                n for p, n in match.nodes_map.items() if p.op != "placeholder")]):
            graph.erase_node(g)
    gm.recompile()
    return matches
