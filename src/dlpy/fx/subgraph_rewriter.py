"""torch.fx.subgraph_rewriter: find every copy of a small traced pattern in a GraphModule's
graph and put a traced replacement in its place (``replace_pattern``), optionally keeping only
the matches some filters accept and treating literal arguments as wildcards
(``replace_pattern_with_filters``). A pattern may return one value or a tuple of values (a
multi-output pattern); the replacement then returns as many."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dlpy.fx._symbolic_trace import symbolic_trace
from dlpy.fx.graph import Graph
from dlpy.fx.node import Node

__all__ = ["InternalMatch", "Match", "ReplacedPatterns", "replace_pattern",
           "replace_pattern_with_filters"]


class Match(NamedTuple):
    anchor: Node  # the pattern's node the match was found from (as torch's)
    nodes_map: dict[Node, Node]  # pattern node -> graph node


@dataclass
class ReplacedPatterns:
    """What ``replace_pattern_with_filters`` returns per replaced match (as torch's)."""

    anchor: Node  # the pattern's node the match was found from (as torch's)
    nodes_map: dict[Node, Node]  # pattern node -> graph node (or literal, for a placeholder)
    replacements: list[Node]  # the nodes added to the graph


@dataclass
class InternalMatch:
    """One match as a filter sees it: ``anchors`` (the pattern's outputs that nothing else
    in it uses, where matching starts), ``nodes_map``
    (pattern node -> graph node), ``placeholder_nodes`` (what the pattern's inputs matched, in
    order) and ``returning_nodes`` (what its outputs matched, in order)."""

    anchors: list[Node]
    nodes_map: dict[Node, Any] = field(default_factory=dict)
    placeholder_nodes: list[Any] = field(default_factory=list)
    returning_nodes: list[Node] = field(default_factory=list)
    name_node_map: dict[str, Node] = field(default_factory=dict)


def _traced(what: Callable | Graph, role: str):
    """(graph, the module its get_attr / call_module targets live in, or None)."""
    if isinstance(what, Graph):
        return what, what.owning_module
    graph = getattr(what, "graph", None)  # a GraphModule
    if isinstance(graph, Graph):
        return graph, what
    if not callable(what):
        raise TypeError(f"replace_pattern: the {role} must be a function, a Module, a Graph or "
                        f"a GraphModule, got {type(what).__name__}")
    traced = symbolic_trace(what)
    return traced.graph, traced


def _graph_of(what: Callable | Graph, role: str) -> Graph:
    return _traced(what, role)[0]


def _copy_attributes(gm, graph: Graph, owner) -> None:
    """The parameters, buffers and layers a replacement reads, put into ``gm`` (shared) where
    it has none of that name, as torch's."""
    from dlpy.fx.graph_module import _copy_attr

    for node in graph.nodes:
        if node.op not in ("get_attr", "call_module") or owner is None:
            continue
        found = gm
        for atom in node.target.split("."):
            found = getattr(found, atom, None)
        if found is None:
            _copy_attr(owner, gm, node.target)


class _Matcher:
    """Matches a pattern graph against a graph node by node, backwards from the outputs:
    the same op and target, the same number of arguments, keyword names and equal literals (or
    any literals with ``ignore_literals``); a pattern placeholder matches any value, the same
    one each time it appears."""

    def __init__(self, pattern: Graph, ignore_literals: bool):
        self.ignore_literals = ignore_literals
        self.placeholders = [n for n in pattern.nodes if n.op == "placeholder"]
        outputs = [n for n in pattern.nodes if n.op == "output"]
        if len(outputs) != 1:
            raise ValueError(f"replace_pattern: the pattern graph must have one output node, "
                             f"got {len(outputs)}")
        result = outputs[0].args[0]
        returning = list(result) if isinstance(result, (tuple, list)) else [result]
        if not returning or not all(isinstance(a, Node) and a.op != "placeholder"
                                    for a in returning):
            raise ValueError(f"replace_pattern: the pattern must return one value or a tuple of "
                             f"values computed from its inputs, got {result!r}")
        self.returning = returning
        # matching starts from the outputs nothing else in the pattern reads (torch's anchors)
        self.anchors = [n for n in returning if len(n.users) == 1] or returning

    def node(self, p: Node, g: Node, nodes_map: dict) -> bool:
        if p in nodes_map:
            return nodes_map[p] is g
        if p.op == "placeholder":
            nodes_map[p] = g
            return True
        if any(v is g for q, v in nodes_map.items() if q.op != "placeholder"):
            return False  # two pattern nodes never match one graph node
        if p.op != g.op or p.target != g.target or len(p.args) != len(g.args) \
                or p.kwargs.keys() != g.kwargs.keys():
            return False
        nodes_map[p] = g
        pairs = list(zip(p.args, g.args)) + [(p.kwargs[k], g.kwargs[k]) for k in p.kwargs]
        return all(self.arg(a, b, nodes_map) for a, b in pairs)

    def arg(self, p: Any, g: Any, nodes_map: dict) -> bool:
        if isinstance(p, Node) and isinstance(g, Node):
            return self.node(p, g, nodes_map)
        if isinstance(p, (tuple, list)) and isinstance(g, (tuple, list)):
            return len(p) == len(g) and all(self.arg(a, b, nodes_map) for a, b in zip(p, g))
        if isinstance(p, Node) and p.op == "placeholder":  # an input matching a literal
            if p in nodes_map:
                return not isinstance(nodes_map[p], Node) and type(nodes_map[p]) is type(g) \
                    and nodes_map[p] == g
            nodes_map[p] = g
            return True
        if isinstance(p, Node) or isinstance(g, Node):
            return self.ignore_literals
        return self.ignore_literals or (type(p) is type(g) and p == g)

    def matches(self, graph: Graph) -> list[InternalMatch]:
        """Every self-contained match, in graph order of the first anchor: values computed
        inside a match (but not returned by it) are used by the match only."""
        nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
        found: list[InternalMatch] = []

        def extend(i: int, nodes_map: dict) -> None:
            if i == len(self.anchors):
                found.append(self._internal(nodes_map))
                return
            anchor = self.anchors[i]
            if anchor in nodes_map:  # an output that another output's match already covers
                extend(i + 1, nodes_map)
                return
            for g in nodes:
                trial = dict(nodes_map)
                if self.node(anchor, g, trial):
                    extend(i + 1, trial)

        for g in nodes:
            first: dict = {}
            if self.node(self.anchors[0], g, first):
                extend(1, first)
        return [m for m in found if all(r in m.nodes_map for r in self.returning)
                and self._self_contained(m)]

    def _internal(self, nodes_map: dict) -> InternalMatch:
        return InternalMatch(
            anchors=list(self.anchors), nodes_map=nodes_map,
            placeholder_nodes=[nodes_map.get(p) for p in self.placeholders],
            returning_nodes=[nodes_map.get(r) for r in self.returning],
            name_node_map={p.name: v for p, v in nodes_map.items() if isinstance(v, Node)})

    @staticmethod
    def _self_contained(match: InternalMatch) -> bool:
        inner = {v for p, v in match.nodes_map.items() if p.op != "placeholder"}
        returning = set(match.returning_nodes)
        return all(user in inner for g in inner - returning for user in g.users)


def replace_pattern(gm, pattern: Callable | Graph, replacement: Callable | Graph
                    ) -> list[Match]:
    """Replace every non-overlapping match of ``pattern`` (a function, module or graph) in
    ``gm`` by ``replacement`` (same inputs, in the same order; as many outputs); returns the
    matches. A match whose inner values are used outside it is skipped, as torch's."""
    replaced = replace_pattern_with_filters(gm, pattern, replacement)
    return [Match(r.anchor, r.nodes_map) for r in replaced]


def replace_pattern_with_filters(
        gm, pattern: Callable | Graph, replacement: Callable | Graph | None = None,
        match_filters: list[Callable[[InternalMatch, Graph, Graph], bool]] | None = None,
        ignore_literals: bool = False,
        replacement_callback: Callable[[InternalMatch, Graph, Graph], Graph] | None = None,
) -> list[ReplacedPatterns]:
    """torch.fx.subgraph_rewriter.replace_pattern_with_filters: as ``replace_pattern``, keeping
    only the matches every ``match_filters`` function accepts (``f(match, original_graph,
    pattern_graph) -> bool``); ``ignore_literals=True`` lets a literal argument of the pattern
    match any literal (``x + 1`` matches ``x + 3``); ``replacement_callback(match,
    original_graph, pattern_graph)`` gives the replacement graph per match instead."""
    if replacement is None and replacement_callback is None:
        raise ValueError("replace_pattern_with_filters: give a replacement or a "
                         "replacement_callback")
    pattern_graph = _graph_of(pattern, "pattern")
    matcher = _Matcher(pattern_graph, ignore_literals)
    graph = gm.graph
    candidates, taken = [], set()
    for match in matcher.matches(graph):  # earlier matches win over overlapping later ones
        inner = {v for p, v in match.nodes_map.items() if p.op != "placeholder"}
        if taken & inner:
            continue
        taken |= inner
        candidates.append(match)
    matches = [m for m in candidates
               if all(f(m, graph, pattern_graph) for f in match_filters or ())]
    fixed, owner = (None, None) if replacement is None else _traced(replacement, "replacement")
    replaced: dict[Node, Node] = {}  # a returning node already replaced -> its replacement
    results: list[ReplacedPatterns] = []
    for match in matches:
        replacement_graph = fixed if fixed is not None else \
            replacement_callback(match, graph, pattern_graph)
        _copy_attributes(gm, replacement_graph, owner if fixed is not None
                         else replacement_graph.owning_module)
        results.append(_replace(graph, match, replacement_graph, replaced))
    graph.lint()
    gm.recompile()
    return results


def _replace(graph: Graph, match: InternalMatch, replacement_graph: Graph,
             replaced: dict[Node, Node]) -> ReplacedPatterns:
    inputs = [n for n in replacement_graph.nodes if n.op == "placeholder"]
    if len(inputs) != len(match.placeholder_nodes):
        raise ValueError(f"replace_pattern: the replacement takes {len(inputs)} inputs, the "
                         f"pattern {len(match.placeholder_nodes)}")
    val_map: dict[Node, Any] = {r: replaced.get(g, g) if isinstance(g, Node) else g
                                for r, g in zip(inputs, match.placeholder_nodes)}
    returning = match.returning_nodes
    inner = {v for p, v in match.nodes_map.items() if p.op != "placeholder"}
    users = {u for r in returning for u in r.users} - inner
    first_user = next((n for n in graph.nodes if n in users), None)
    before = set(graph.nodes)
    if first_user is not None:
        context = graph.inserting_before(first_user)
    else:
        last = [n for n in graph.nodes if n in set(returning)][-1]
        context = graph._inserting_after_in_order(last)
    with context:
        result = graph.graph_copy(replacement_graph, val_map)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(outputs) != len(returning):
        raise ValueError(f"replace_pattern: the pattern returns {len(returning)} values, the "
                         f"replacement {len(outputs)}")
    for old, new in zip(returning, outputs):
        old.replace_all_uses_with(new)
        replaced[old] = new
    for g in reversed([n for n in graph.nodes if n in inner]):
        graph.erase_node(g)
    added = [n for n in graph.nodes if n not in before]
    return ReplacedPatterns(match.anchors[0], match.nodes_map, added)
