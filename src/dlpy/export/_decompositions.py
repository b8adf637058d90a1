"""``ExportedProgram.run_decompositions``: composite functions and layers rewritten as the
primitive ops they are built from (matmul, transpose, + - * /, exp, log, erf, tanh, sigmoid,
mean, sum, amax, rsqrt as 1 / sqrt), as torch.export lowers to its core ATen op set.

A decomposition is a plain function written with ``dlpy.functional`` (``F.matmul(...)``); it
runs on Proxies while dlpy.fx's tracer records, so what it calls becomes the new nodes. The
key is the function it replaces (``F.linear``) or a dlpy.nn layer class (``nn.Linear``: the
function then takes the layer first, its parameters read as attributes become get_attr
nodes). A decomposition may return NotImplemented to keep the node (a training-mode dropout or
batch norm)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

from dlpy import functional as F
from dlpy import nn

__all__ = ["decompose", "default_decompositions", "primitive_decompositions"]


def _axis(name: str, axis, kwargs: dict):
    if "dim" in kwargs:
        axis = kwargs.pop("dim")
    if kwargs:
        raise TypeError(f"{name} decomposition: unexpected arguments {sorted(kwargs)}")
    return axis


def linear(x, weight, bias=None):
    """x @ weight^T (+ bias)."""
    out = F.matmul(x, F.transpose(weight, 0, 1))
    return out if bias is None else out + bias


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) over the last axis (biased var), then * weight + bias;
    over several axes (``normalized_shape`` of more than one size) kept as it is."""
    if len(normalized_shape) != 1:
        return NotImplemented
    centred = x - F.mean(x, -1, True)
    variance = F.mean(centred * centred, -1, True)
    out = centred / F.sqrt(variance + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def gelu(x, approximate: str = "none"):
    """x * (1 + erf(x / sqrt(2))) / 2, or the tanh form."""
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (F.tanh(inner) + 1.0)
    return x * 0.5 * (F.erf(x * (1.0 / math.sqrt(2.0))) + 1.0)


def silu(x):
    """x * sigmoid(x)."""
    return x * F.sigmoid(x)


def softmax(x, axis=-1, **kwargs):
    """exp(x - max) / sum(exp(x - max)) along axis."""
    axis = _axis("softmax", axis, kwargs)
    shifted = F.exp(x - F.amax(x, axis, True))
    return shifted / F.sum(shifted, axis, True)


def log_softmax(x, axis=-1, **kwargs):
    """(x - max) - log(sum(exp(x - max))) along axis."""
    axis = _axis("log_softmax", axis, kwargs)
    shifted = x - F.amax(x, axis, True)
    return shifted - F.log(F.sum(F.exp(shifted), axis, True))


def dropout(x, p=0.5, training=True, rng=None):
    """The identity when not training (a training-mode dropout stays one node)."""
    return NotImplemented if training else x


def _batch_norm_2d_layer(module, x):
    """Eval mode with running statistics: (x - mean) / sqrt(var + eps) * weight + bias per
    channel (a training-mode one, which updates its buffers, stays one node)."""
    if module.training or module.running_mean is None:
        return NotImplemented
    shape = (1, -1, 1, 1)
    scale = 1.0 / F.sqrt(module.running_var.reshape(shape) + module.eps)
    out = (x - module.running_mean.reshape(shape)) * scale
    if module.weight is not None:
        out = out * module.weight.reshape(shape)
    return out if module.bias is None else out + module.bias.reshape(shape)


def _dropout_layer(module, x):
    return dropout(x, module.p, module.training)


def _relu_layer(module, x):
    return F.relu(x)


def _tanh_layer(module, x):
    return F.tanh(x)


def _sigmoid_layer(module, x):
    return F.sigmoid(x)


def _flatten_layer(module, x):
    return F.flatten(x, module.start_dim, module.end_dim)


def _linear_layer(module, x):
    return linear(x, module.weight, module.bias)


def _layer_norm_layer(module, x):
    return layer_norm(x, module.normalized_shape, module.weight, module.bias, module.eps)


def _gelu_layer(module, x):
    return gelu(x, module.approximate)


def _silu_layer(module, x):
    return silu(x)


def _softmax_layer(module, x):
    return softmax(x, module.dim)


def _log_softmax_layer(module, x):
    return log_softmax(x, module.dim)


def default_decompositions() -> dict[Any, Callable]:
    """torch.export.default_decompositions: a new dict (edit it freely) from the aten
    overload to decompose (``aten.linear.default``...) to dlpy's decomposition of it, as
    ``ep.graph`` shows them (dlpy.export._aten_graph). A custom entry is keyed by the dlpy
    function or layer class it replaces (``{F.relu: my_relu}``, see this module's doc);
    ``primitive_decompositions()`` holds dlpy's own ones."""
    from dlpy.export._aten_graph import core_decompositions

    return core_decompositions()


def primitive_decompositions() -> dict[Any, Callable]:
    """dlpy's decompositions of composite functions and layers into primitive dlpy functions
    (linear -> transpose + matmul + add, layer_norm -> mean / sub / sqrt, gelu -> erf...),
    for ``run_decompositions(primitive_decompositions())``: a new dict."""
    return {
        F.linear: linear, F.layer_norm: layer_norm, F.gelu: gelu, F.silu: silu,
        F.softmax: softmax, F.log_softmax: log_softmax, F.dropout: dropout,
        nn.Linear: _linear_layer, nn.LayerNorm: _layer_norm_layer, nn.GELU: _gelu_layer,
        nn.SiLU: _silu_layer, nn.Softmax: _softmax_layer, nn.LogSoftmax: _log_softmax_layer,
        nn.BatchNorm2d: _batch_norm_2d_layer, nn.Dropout: _dropout_layer, nn.ReLU: _relu_layer,
        nn.Tanh: _tanh_layer, nn.Sigmoid: _sigmoid_layer, nn.Flatten: _flatten_layer,
    }


def _as_given(node, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """A dlpy.functional call's arguments without the defaults the tracer recorded (torch.fx's
    form of the call): a decomposition gets ``F.relu(x)``'s ``x`` alone, not ``inplace``."""
    from dlpy.fx._functional_forms import functional_name, given_call
    from dlpy.fx._symbolic_trace import _ORIGINALS

    name = functional_name(_ORIGINALS.get(id(node.target), node.target))
    return (args, kwargs) if name is None else given_call(name, args, kwargs)


def _lookup(table: dict, node, root) -> Callable | None:
    from dlpy.export._serialize import resolve
    from dlpy.fx._symbolic_trace import _ORIGINALS

    if node.op == "call_function":
        layer = _layer_call(node, root)
        if layer is not None:
            return table.get(type(layer[0]))
        target = _ORIGINALS.get(id(node.target), node.target)
        return table.get(target)
    if node.op == "call_module":
        return table.get(type(resolve(root, node.target)))
    return None


def _layer_call(node, root) -> tuple[Any, dict[str, str]] | None:
    """(the layer, its state's get_attr targets by name) when ``node`` is the call of a
    traced root that is a leaf, ``functional_call(layer, {"weight": weight, ...}, args,
    kwargs)`` with the layer and its state read by get_attr; else None."""
    from dlpy.export._serialize import resolve
    from dlpy.func import functional_call
    from dlpy.fx.node import Node
    from dlpy.nn.module import Module

    if node.target is not functional_call or len(node.args) != 4 or node.kwargs:
        return None
    layer, state, args, kwargs = node.args
    if not (isinstance(layer, Node) and layer.op == "get_attr" and isinstance(state, dict)
            and isinstance(args, tuple) and isinstance(kwargs, dict)
            and all(isinstance(v, Node) and v.op == "get_attr" for v in state.values())):
        return None
    module = resolve(root, layer.target)
    return (module, {k: v.target for k, v in state.items()}) if isinstance(module, Module) \
        else None


@contextlib.contextmanager
def _state_installed(module, state: dict[str, Any]) -> Iterator[None]:
    """``module`` with ``state`` (dotted name -> tensor) as its parameters and buffers for
    the duration (the layer of a leaf root has none of its own)."""
    saved = []
    try:
        for key, value in state.items():
            path, _, attr = key.rpartition(".")
            owner = module.get_submodule(path)
            registry = owner._parameters if attr in owner._parameters else owner._buffers
            saved.append((owner, attr, registry, registry.get(attr)))
            registry[attr] = owner.__dict__[attr] = value
        yield
    finally:
        for owner, attr, registry, kept in reversed(saved):
            registry[attr] = owner.__dict__[attr] = kept


def _keep_state(tracer, targets: list[str]) -> None:
    """A get_attr node for each parameter and buffer of a decomposed layer (``targets``) its
    decomposition did not read (BatchNorm's num_batches_tracked), so the program's signature
    keeps every input, as torch's does."""
    read = {n.target for n in tracer.graph.nodes if n.op == "get_attr"}
    for target in targets:
        if target not in read:
            tracer.create_proxy("get_attr", target, (), {})


def decompose(gm, table: dict[Any, Callable], max_rounds: int = 8):
    """A new GraphModule of ``gm``'s root with every node whose function (or layer class) is
    in ``table`` replaced by the nodes its decomposition records; repeated until none is left
    (a decomposition may call another decomposed function)."""
    from dlpy.export._program import _module_state
    from dlpy.export._serialize import resolve
    from dlpy.fx._symbolic_trace import Proxy, Tracer, _Patcher
    from dlpy.fx.graph import Graph
    from dlpy.fx.graph_module import GraphModule
    from dlpy.fx.node import map_arg
    from dlpy.nn.module import Module

    for _ in range(max_rounds):
        source = gm.graph
        if not any(_lookup(table, n, gm) for n in source.nodes):
            return gm
        decomposed = 0
        tracer = Tracer()
        tracer.proxy_buffer_attributes = True  # a decomposed layer's buffers are get_attr
        tracer.graph, tracer.root = Graph(), gm
        tracer.tensor_attrs, tracer._paths, tracer._parameter_proxy_cache = {}, None, {}
        tracer.submodule_paths = None
        env: dict = {}
        value = env.__getitem__
        with _Patcher(tracer, globals()):
            for node in source.nodes:
                if node.op == "output":
                    tracer.create_node("output", "output",
                                       (tracer.create_arg(map_arg(node.args[0], value)),), {})
                    continue
                args, kwargs = map_arg(node.args, value), map_arg(node.kwargs, value)
                decomposition = _lookup(table, node, gm)
                result = NotImplemented
                layer = _layer_call(node, gm) if decomposition is not None else None
                if decomposition is not None and node.op == "call_module":
                    module = resolve(gm, node.target)
                    result = decomposition(module, *args, **kwargs)
                    if result is not NotImplemented:
                        _keep_state(tracer, [f"{node.target}.{name}"
                                             for name, _ in _module_state(module)])
                elif layer is not None:  # a traced leaf root's functional_call
                    module, targets = layer
                    with _state_installed(module, {k: resolve(gm, t)
                                                   for k, t in targets.items()}):
                        result = decomposition(module, *args[2], **args[3])
                    if result is not NotImplemented:
                        _keep_state(tracer, list(targets.values()))
                elif decomposition is not None:
                    given_args, given_kwargs = _as_given(node, args, kwargs)
                    result = decomposition(*given_args, **given_kwargs)
                if result is not NotImplemented:  # a decomposition may decline: kept
                    decomposed += 1
                elif node.op == "placeholder":
                    result = Proxy(tracer.graph.node_copy(node), tracer)
                else:
                    result = tracer.create_proxy(node.op, node.target, args, kwargs)
                env[node] = result
        if not decomposed:
            return gm
        for node in list(tracer.graph.nodes):  # the layer of a decomposed leaf root
            if node.op == "get_attr" and not node.users \
                    and isinstance(resolve(gm, node.target), Module):
                tracer.graph.erase_node(node)
        gm = GraphModule(gm, tracer.graph, type(gm).__name__)
    raise RuntimeError(f"run_decompositions: still decomposing after {max_rounds} rounds (a "
                       f"decomposition that calls itself?)")
