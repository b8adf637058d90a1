"""torch.fx for dlpy: trace a module into a Graph of Nodes (``symbolic_trace``), read and
rewrite it, and run it again as generated Python code (``GraphModule``).

    gm = dlpy.fx.symbolic_trace(model)
    print(gm.code)                      # def forward(self, x): ...
    gm.graph.print_tabular()
    dlpy.fx.replace_pattern(gm, pattern, replacement)
"""

from dlpy.fx import passes, proxy, subgraph_rewriter
from dlpy.fx._symbolic_trace import (
    PH,
    Attribute,
    PHBase,
    PHWithMeta,
    Proxy,
    TraceError,
    Tracer,
    symbolic_trace,
    wrap,
)
from dlpy.fx.graph import Graph, PythonCode
from dlpy.fx.graph_module import GraphModule
from dlpy.fx.interpreter import Interpreter, Transformer
from dlpy.fx.node import Node, map_arg
from dlpy.fx.subgraph_rewriter import replace_pattern, replace_pattern_with_filters

__all__ = [
    "PH", "Attribute", "Graph", "GraphModule", "Interpreter", "Node", "PHBase", "PHWithMeta",
    "Proxy", "PythonCode",
    "TraceError", "Tracer", "Transformer", "map_arg", "passes", "proxy", "replace_pattern",
    "replace_pattern_with_filters", "subgraph_rewriter", "symbolic_trace", "wrap",
]
