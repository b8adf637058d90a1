"""torch.fx.experimental.optimization.fuse: fold every eval-mode batch norm into the
convolution (or linear layer) before it, on the traced graph (torch's fx fusion tutorial)."""

from __future__ import annotations

import copy

from dlpy import nn
from dlpy.fx._symbolic_trace import symbolic_trace
from dlpy.fx.graph_module import GraphModule
from dlpy.fx.node import Node
from dlpy.nn.utils import fuse_conv_bn_eval, fuse_linear_bn_eval

__all__ = ["fuse", "matches_module_pattern", "replace_node_module"]


def matches_module_pattern(pattern: tuple[type, type], node: Node, modules: dict) -> bool:
    """``node`` calls a ``pattern[1]`` module on the output of a ``pattern[0]`` module."""
    if not node.args or not isinstance(node.args[0], Node):
        return False
    for expected, current in zip(pattern, (node.args[0], node)):
        if current.op != "call_module" or current.target not in modules \
                or type(modules[current.target]) is not expected:
            return False
    return True


def replace_node_module(node: Node, modules: dict, new_module: nn.Module) -> None:
    """Put ``new_module`` where the call_module ``node``'s target was."""
    parent_name, _, name = node.target.rpartition(".")
    modules[node.target] = new_module
    setattr(modules[parent_name], name, new_module)


def fuse(model: nn.Module, inplace: bool = False, no_trace: bool = False) -> GraphModule:
    """A GraphModule of ``model`` (in eval mode) with each Conv1d/2d/3d -> BatchNorm1d/2d/3d
    and Linear -> BatchNorm1d pair whose first layer feeds only the norm made one layer
    (torch's list). ``no_trace=True`` with a GraphModule uses its graph as it is."""
    patterns = [(nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d),
                (nn.Conv3d, nn.BatchNorm3d), (nn.Linear, nn.BatchNorm1d)]
    if not inplace:
        model = copy.deepcopy(model)
    fx_model = model if no_trace and isinstance(model, GraphModule) else symbolic_trace(model)
    modules = dict(fx_model.named_modules())
    graph = fx_model.graph
    for pattern in patterns:
        for node in list(graph.nodes):
            if not matches_module_pattern(pattern, node, modules):
                continue
            if len(node.args[0].users) > 1:  # the convolution's output is used elsewhere
                continue
            conv, bn = modules[node.args[0].target], modules[node.target]
            if not bn.track_running_stats:
                continue
            fold = fuse_linear_bn_eval if pattern[0] is nn.Linear else fuse_conv_bn_eval
            replace_node_module(node.args[0], modules, fold(conv, bn))
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    fx_model.recompile()
    return GraphModule(fx_model, graph)
