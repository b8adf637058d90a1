"""The ATen-level graphs of exported programs: ``ep.graph``'s nodes call torch's
``torch.ops.aten`` overloads (``dlpy.ops.aten``), as torch.export's do.

dlpy.fx records dlpy's functions, Tensor methods and layers (``F.relu``, ``x.view(2, 4)``,
``functional_call(linear, ...)``); ``lower`` rewrites such a graph one node at a time into the
aten calls torch records for the same code, at one of two levels:

- the export level (``torch.export.export``): torch's pre-dispatch ops, composite ones kept
  (``aten.linear.default``, ``aten.conv2d.default``, ``aten.batch_norm.default`` after a
  training BatchNorm's ``aten.add_.Tensor`` on its batch count, ``aten.softmax.int``,
  ``aten.flatten.using_ints``, ``aten.numpy_T.default`` for ``x.T``...);
- the core level (after ``run_decompositions()``): those ops decomposed as torch 2.13's
  default table does (linear -> permute + addmm/mm, with views for a batch; conv2d ->
  convolution; batch_norm -> ``_native_batch_norm_legit_functional`` in training, its updated
  statistics returned as buffer mutations, ``_native_batch_norm_legit_no_training`` in eval;
  layer_norm -> native_layer_norm; dropout -> native_dropout or clone; softmax -> _softmax;
  silu -> sigmoid * x; reshape/flatten -> view; transpose/t/T -> permute; stack -> cat +
  view; max_pool2d -> max_pool2d_with_indices; sum() -> sum.dim_IntList(x, [])...).

A node is named after its op (``linear``, ``add_1``, ``sum_1``: never a builtin's name), its
trailing arguments equal to the schema's defaults left out, and ``node.meta["val"]`` holds its
value on the example inputs (a real tensor where torch has a FakeTensor: the same shape and
dtype). A node with no rule here (or whose rule cannot apply: ``inplace=True``, a dtype
argument, an index with an Ellipsis...) is kept as dlpy's call.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable
from typing import Any

from dlpy.fx.graph import Graph, _target_to_str
from dlpy.fx.node import Node, map_arg
from dlpy.tensor import Tensor, no_grad

__all__ = ["core_decompositions", "core_rule", "lower"]

_INT64_MAX = 9223372036854775807


class _Decline(Exception):
    """A rule that does not apply to these arguments: the node is kept as it is."""


def _overload(name: str):
    from dlpy.aten import aten

    packet, _, overload = name.partition(".")
    return getattr(getattr(aten, packet), overload or "default")


def _pair(value: Any, n: int = 2) -> list:
    return list(value) if isinstance(value, (tuple, list)) else [value] * n


def _is_default(value: Any, arg: Any) -> bool:
    """Whether ``value`` is the schema argument's default (as torch.export leaves it out)."""
    if not arg.has_default:
        return False
    default = arg.default_value
    if default is None or value is None:
        return value is None and default is None
    if isinstance(value, (Node, Tensor)):
        return False
    if isinstance(value, (list, tuple)):
        if isinstance(default, (list, tuple)):
            return list(value) == list(default)
        return len(value) == (arg.list_size or len(value)) and all(
            type(v) is type(default) and v == default for v in value)
    if isinstance(value, bool) != isinstance(default, bool):
        return False
    return value == default


class _Emitter:
    """Writes aten calls into the new graph, computing each one's value (``meta["val"]``)."""

    def __init__(self, graph: Graph, core: set[str]):
        self.graph, self.core = graph, core
        self.created: list[Node] = []  # nodes made by the rule being applied
        self.updates: dict[str, Node] = {}  # buffer placeholder name -> its new value's node
        self.multi: set[Node] = set()  # getitem nodes of multi-output ops (dropped if unused)
        # a tensor updated in place: the node that holds its value now (torch's proxy of the
        # mutated tensor), by the node that first held it; and each such node's first one
        self.latest: dict[Node, Node] = {}
        self.roots: dict[Node, Node] = {}
        self.user_inputs: set[Node] = set()  # the placeholders of user inputs

    def current(self, node: Any) -> Any:
        """The node holding ``node``'s tensor's value now (later than ``node`` where an
        in-place op or a buffer assignment updated it)."""
        if not isinstance(node, Node):
            return node
        return self.latest.get(self.roots.get(node, node), node)

    def root(self, node: Any) -> Any:
        """The node that first held the tensor ``node`` holds (a buffer's placeholder)."""
        return self.roots.get(node, node) if isinstance(node, Node) else node

    @staticmethod
    def val(value: Any) -> Any:
        """The value (a node's meta["val"]) of an argument."""
        def one(node: Node) -> Any:
            if "val" not in node.meta:
                raise _Decline(f"no value for {node.name}")
            return node.meta["val"]

        return map_arg(value, one)

    def call(self, name: str, *args, _node_name: str | None = None, **kwargs) -> Node:
        """The node of the aten overload ``name`` (``"add.Tensor"``): at the core level one
        with a decomposition is written as the ops it decomposes to. ``_node_name``: the
        node's name if not the op's."""
        if name in self.core and name in _CORE:
            return _CORE[name](self, *args, **kwargs)
        op = _overload(name)
        schema = op._schema
        positional = list(args)
        while positional and len(positional) <= len(schema.positional) and _is_default(
                positional[-1], schema.positional[len(positional) - 1]):
            positional.pop()
        kwargs = {k: v for k, v in kwargs.items()
                  if k not in schema.by_name or not _is_default(v, schema.by_name[k])}
        value = op(*self.val(tuple(positional)), **self.val(kwargs))
        node = self.graph.create_node("call_function", op, tuple(positional), kwargs,
                                      name=_node_name or _target_to_str(
                                          op.overloadpacket.__name__))
        node.meta["val"] = value
        self.created.append(node)
        return node

    def items(self, node: Node, count: int) -> list[Node]:
        """``operator.getitem`` nodes for the ``count`` outputs of ``node`` (as torch, all
        made; the unused ones are removed at the end, their names kept taken)."""
        out = []
        for i in range(count):
            item = self.graph.create_node("call_function", operator.getitem, (node, i), {},
                                          name="getitem")
            item.meta["val"] = node.meta["val"][i]
            self.created.append(item)
            self.multi.add(item)
            out.append(item)
        return out

    def update(self, tensor: Any, node: Node) -> None:
        """``node`` is the new value of ``tensor`` (updated in place): later reads of it are
        ``node``; at the core level, a buffer placeholder's new value is an output."""
        if not isinstance(tensor, Node):
            return
        root = self.root(tensor)
        self.latest[root], self.roots[node] = node, root
        if root.op == "placeholder":
            self.updates[root.name] = node


def _tensor(value: Any) -> Any:
    return isinstance(value, Node) or isinstance(value, Tensor)


def _ndim(e: _Emitter, x: Any) -> int:
    return e.val(x).ndim


# ---------------------------------------------------------------------------- core level
def _linear(e, x, weight, bias=None):
    shape = list(e.val(x).shape)
    if len(shape) < 2:
        raise _Decline("1-d linear")
    lead = shape[:-1]
    flat = x if len(shape) == 2 else e.call("view.default", x, [math.prod(lead), shape[-1]])
    wt = e.call("permute.default", weight, [1, 0])
    out = e.call("mm.default", flat, wt) if bias is None else \
        e.call("addmm.default", bias, flat, wt)
    return out if len(shape) == 2 else e.call("view.default", out,
                                               [*lead, e.val(weight).shape[0]])


def _conv2d(e, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return e.call("convolution.default", x, weight, bias, _pair(stride), _pair(padding),
                  _pair(dilation), False, [0, 0], groups)


def _batch_norm(e, x, weight, bias, mean, var, training, momentum, eps, cudnn_enabled):
    if training and mean is not None:
        node = e.call("_native_batch_norm_legit_functional.default", x, weight, bias, mean,
                      var, True, momentum, eps)
        items = e.items(node, 5)
        e.update(mean, items[3])
        e.update(var, items[4])
        return items[0]
    if not training:
        node = e.call("_native_batch_norm_legit_no_training.default", x, weight, bias, mean,
                      var, momentum, eps)
        return e.items(node, 3)[0]
    node = e.call("_native_batch_norm_legit.no_stats", x, weight, bias, True, momentum, eps)
    return e.items(node, 3)[0]


def _add_(e, buffer, other, alpha=1):
    node = e.call("add.Tensor", buffer, other, alpha=alpha)
    e.update(buffer, node)
    return node


def _functional(name: str) -> Callable:
    """The core level's ``sub_`` / ``mul_`` / ``div_``: the out-of-place op, the tensor's new
    value (functionalization)."""
    def rule(e, x, other):
        node = e.call(f"{name}.Tensor", x, other)
        e.update(x, node)
        return node

    return rule


def _copy_(e, x, src):
    """The core level's ``copy_``: ``src`` is the tensor's new value (a copy node where its
    shape or dtype differ); a user input's new value is an ``aten.copy`` node (as torch's
    functionalization writes it: the input keeps its own storage)."""
    if e.root(x) in e.user_inputs:
        node = e.call("copy.default", x, src)
        e.update(x, node)
        return node
    a, b = e.val(x), e.val(src)
    if not (_tensor(src) and tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype):
        raise _Decline("copy_ that broadcasts or converts")
    e.update(x, src)
    return src


def _layer_norm(e, x, shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return e.items(e.call("native_layer_norm.default", x, shape, weight, bias, eps), 3)[0]


def _dropout(e, x, p, train):
    if train:
        return e.items(e.call("native_dropout.default", x, p, True), 2)[0]
    return e.call("clone.default", x)


def _view(e, x, shape):
    if not e.val(x).is_contiguous():
        from dlpy import contiguous_format

        x = e.call("clone.default", x, memory_format=contiguous_format)
    return e.call("view.default", x, list(shape))


def _flatten(e, x, start_dim=0, end_dim=-1):
    shape = list(e.val(x).shape)
    start, end = start_dim % max(len(shape), 1), end_dim % max(len(shape), 1)
    if not shape or start == end:
        raise _Decline("flatten of one dim")
    return _view(e, x, shape[:start] + [math.prod(shape[start:end + 1])] + shape[end + 1:])


def _transpose(e, x, dim0, dim1):
    n = _ndim(e, x)
    order = list(range(n))
    order[dim0 % n], order[dim1 % n] = order[dim1 % n], order[dim0 % n]
    return e.call("permute.default", x, order)


def _reverse(e, x):
    return e.call("permute.default", x, list(reversed(range(_ndim(e, x)))))


def _stack(e, tensors, dim=0):
    first = e.val(tensors[0])
    dim = dim % (first.ndim + 1)
    if dim < first.ndim:
        shape = list(first.shape)
        shape.insert(dim, len(tensors))
        return e.call("view.default", e.call("cat.default", list(tensors), dim), shape)
    return e.call("cat.default", [e.call("unsqueeze.default", t, dim) for t in tensors], dim)


def _matmul(e, a, b):
    sa, sb = list(e.val(a).shape), list(e.val(b).shape)
    if len(sa) == len(sb) == 2:
        return e.call("mm.default", a, b)
    if len(sa) > 2 and len(sb) == 2:
        flat = e.call("view.default", a, [math.prod(sa[:-1]), sa[-1]])
        return e.call("view.default", e.call("mm.default", flat, b), [*sa[:-1], sb[-1]])
    if len(sa) == len(sb) == 3 and sa[0] == sb[0]:
        left = e.call("view.default", e.call("expand.default", a, sa), sa)
        right = e.call("view.default", e.call("expand.default", b, sb), sb)
        return e.call("view.default", e.call("bmm.default", left, right),
                      [sa[0], sa[1], sb[2]])
    raise _Decline("matmul of these ranks")


def _max_pool2d(e, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    node = e.call("max_pool2d_with_indices.default", x, kernel_size, stride, padding, dilation,
                  ceil_mode)
    return e.items(node, 2)[0]


def _adaptive_avg_pool2d(e, x, output_size):
    if list(output_size) == [1, 1]:
        return e.call("mean.dim", x, [-1, -2], True)
    return e.call("_adaptive_avg_pool2d.default", x, output_size)


def _silu(e, x):
    return e.call("mul.Tensor", x, e.call("sigmoid.default", x))


_CORE: dict[str, Callable] = {
    "linear.default": _linear, "conv2d.default": _conv2d, "batch_norm.default": _batch_norm,
    "add_.Tensor": _add_, "sub_.Tensor": _functional("sub"), "mul_.Tensor": _functional("mul"),
    "div_.Tensor": _functional("div"), "copy_.default": _copy_,
    "layer_norm.default": _layer_norm, "dropout.default": _dropout,
    "softmax.int": lambda e, x, dim, dtype=None: e.call("_softmax.default", x, dim, False),
    "log_softmax.int": lambda e, x, dim, dtype=None: e.call("_log_softmax.default", x, dim,
                                                            False),
    "silu.default": _silu, "reshape.default": _view, "flatten.using_ints": _flatten,
    "transpose.int": _transpose, "t.default": _reverse, "numpy_T.default": _reverse,
    "stack.default": _stack, "matmul.default": _matmul,
    "sum.default": lambda e, x: e.call("sum.dim_IntList", x, []),
    "max_pool2d.default": _max_pool2d, "adaptive_avg_pool2d.default": _adaptive_avg_pool2d,
    "rsub.Scalar": lambda e, x, other, alpha=1: e.call("sub.Tensor", other, x),
}


# ---------------------------------------------------------------------------- export level
def _dims(args: tuple) -> list:
    """Sizes or dims given spread out (``view(2, 4)``) or as one sequence (``view((2, 4))``)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return list(args[0])
    return list(args)


def _binary(name: str, reflected: str | None = None) -> Callable:
    """An arithmetic operator: ``x + 1`` is ``aten.add.Tensor(x, 1)``; a number first is
    reordered (``1 + x``) or, for ``-`` and ``/``, torch's ``rsub`` / ``reciprocal * n``."""
    def rule(e, a, b, *, alpha=1, rounding_mode=None):
        if rounding_mode is not None:
            raise _Decline("rounding_mode")
        if not _tensor(a):
            if name in ("add", "mul"):
                a, b = b, a
            elif name == "sub":
                return e.call("rsub.Scalar", b, a, alpha)
            else:
                return e.call("mul.Tensor", e.call("reciprocal.default", b), a)
        return e.call(f"{name}.Tensor", a, b, **({"alpha": alpha} if alpha != 1 else {}))

    return rule


def _unary(name: str) -> Callable:
    def rule(e, x, inplace=False):
        if inplace:
            raise _Decline("inplace")
        return e.call(f"{name}.default", x)

    return rule


def _softmax_rule(name: str) -> Callable:
    def rule(e, x, dim=None, _stacklevel=3, dtype=None, *, axis=None):
        dim = axis if dim is None else dim
        if dim is None or dtype is not None:
            raise _Decline("implicit dim or dtype")
        return e.call(f"{name}.int", x, dim)

    return rule


def _reduction(name: str) -> Callable:
    def rule(e, x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
        dim = axis if dim is None else dim
        keepdim = bool(keepdims) if keepdims is not None else keepdim
        if dtype is not None:
            raise _Decline("dtype")
        if dim is None:
            if keepdim:
                raise _Decline("keepdim without dim")
            return e.call(f"{name}.default", x)
        dims = list(dim) if isinstance(dim, (tuple, list)) else [dim]
        return e.call("sum.dim_IntList" if name == "sum" else f"{name}.dim", x, dims, keepdim)

    return rule


def _cat(e, tensors, dim=0, *, axis=None):
    return e.call("cat.default", list(tensors), dim if axis is None else axis)


def _stack_rule(e, tensors, dim=0, *, axis=None):
    return e.call("stack.default", list(tensors), dim if axis is None else axis)


def _view_rule(e, x, *shape):
    shape = _dims(shape)
    if not all(isinstance(s, (int, Node)) for s in shape):
        raise _Decline("view(dtype)")
    return e.call("view.default", x, shape)


def _reshape_rule(e, x, *shape):
    return e.call("reshape.default", x, _dims(shape))


def _permute_rule(e, x, *dims):
    return e.call("permute.default", x, _dims(dims))


def _transpose_rule(e, x, dim0, dim1):
    return e.call("transpose.int", x, dim0, dim1)


def _flatten_rule(e, x, start_dim=0, end_dim=-1):
    return e.call("flatten.using_ints", x, start_dim, end_dim)


def _linear_rule(e, x, weight, bias=None):
    return e.call("linear.default", x, weight, bias)


def _conv2d_rule(e, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if isinstance(padding, str):
        return e.call("conv2d.padding", x, weight, bias, _pair(stride), padding,
                      _pair(dilation), groups)
    return e.call("conv2d.default", x, weight, bias, _pair(stride), _pair(padding),
                  _pair(dilation), groups)


def _layer_norm_rule(e, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    return e.call("layer_norm.default", x, _pair(normalized_shape, 1), weight, bias, eps,
                  False)


def _batch_norm_rule(e, x, running_mean, running_var, weight=None, bias=None, training=False,
                     momentum=0.1, eps=1e-5):
    return e.call("batch_norm.default", x, weight, bias, running_mean, running_var, training,
                  momentum, eps, False)


def _dropout_rule(e, x, p=0.5, training=True, inplace=False):
    if inplace:
        raise _Decline("inplace")
    return e.call("dropout.default", x, p, training)


def _embedding_rule(e, indices, weight, padding_idx=None, max_norm=None, norm_type=2.0,
                    scale_grad_by_freq=False, sparse=False):
    if max_norm is not None:
        raise _Decline("max_norm")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += e.val(weight).shape[0]
    return e.call("embedding.default", weight, indices,
                  -1 if padding_idx is None else padding_idx)


def _max_pool2d_rule(e, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     return_indices=False):
    if return_indices:
        raise _Decline("return_indices")
    return e.call("max_pool2d.default", x, _pair(kernel_size),
                  [] if stride is None else _pair(stride), _pair(padding), _pair(dilation),
                  ceil_mode)


def _adaptive_avg_pool2d_rule(e, x, output_size):
    if None in _pair(output_size):
        raise _Decline("None in output_size")
    return e.call("adaptive_avg_pool2d.default", x, _pair(output_size))


def _sdpa_rule(e, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None,
               enable_gqa=False):
    return e.call("scaled_dot_product_attention.default", q, k, v, attn_mask, dropout_p,
                  is_causal, scale=scale, enable_gqa=enable_gqa)


def _gelu_rule(e, x, approximate="none"):
    return e.call("gelu.default", x, approximate=approximate)


def _getitem_rule(e, x, index):
    """``x[None]``, ``x[0]``, ``x[:, 1:]``: unsqueeze / select / slice per dim, as torch."""
    if not _tensor(x):
        raise _Decline("not a tensor")
    index = index if isinstance(index, tuple) else (index,)
    dim = 0
    for item in index:
        if item is None:
            x = e.call("unsqueeze.default", x, dim)
            dim += 1
        elif isinstance(item, int) and not isinstance(item, bool):
            x = e.call("select.int", x, dim, item)
        elif isinstance(item, slice) and all(isinstance(v, (int, type(None)))
                                             for v in (item.start, item.stop, item.step)):
            if item != slice(None):
                x = e.call("slice.Tensor", x, dim, 0 if item.start is None else item.start,
                           _INT64_MAX if item.stop is None else item.stop,
                           1 if item.step is None else item.step)
            dim += 1
        else:
            raise _Decline("advanced index")
    if not isinstance(x, Node) or x.op == "placeholder" or x not in e.created:
        raise _Decline("x[:]")
    return x


def _getattr_rule(e, x, name):
    if name == "T" and _tensor(x):
        return e.call("numpy_T.default", x)
    raise _Decline("attribute")


def _inplace(name: str) -> Callable:
    """``x.add_(y)`` / ``x += y`` (recorded in place): ``aten.add_.Tensor``, later reads of
    ``x`` its node."""
    def rule(e, x, other, *, alpha=1):
        if not _tensor(x) or name in ("mul", "div") and alpha != 1:
            raise _Decline("in place")
        node = e.call(f"{name}_.Tensor", x, other, **({"alpha": alpha} if alpha != 1 else {}))
        e.update(x, node)
        return node

    return rule


def _copy_rule(e, x, src, non_blocking=False):
    if not _tensor(x) or non_blocking:
        raise _Decline("copy_")
    node = e.call("copy_.default", x, src)
    e.update(x, node)
    return node


def _assign_buffer_rule(e, buffer, value):
    """A traced ``self.buf = value``: torch.export's ``copy_`` into the buffer's placeholder,
    named ``copy__default`` (the core level: ``value`` is the buffer's new value)."""
    buffer = e.root(buffer)
    if "copy_.default" in e.core:
        e.update(buffer, value)
        return value
    node = e.call("copy_.default", buffer, value, _node_name="copy__default")
    e.update(buffer, value)
    return node


# rules by name: functions of dlpy / dlpy.functional (torch / torch.nn.functional) and
# Tensor methods of that name
_BY_NAME: dict[str, Callable] = {
    "relu": _unary("relu"), "sigmoid": _unary("sigmoid"), "tanh": _unary("tanh"),
    "silu": _unary("silu"), "gelu": _gelu_rule,
    "add": _binary("add"), "sub": _binary("sub"), "mul": _binary("mul"),
    "div": _binary("div"), "matmul": lambda e, a, b: e.call("matmul.default", a, b),
    "mm": lambda e, a, b: e.call("mm.default", a, b),
    "bmm": lambda e, a, b: e.call("bmm.default", a, b),
    "cat": _cat, "concat": _cat, "concatenate": _cat, "stack": _stack_rule,
    "softmax": _softmax_rule("softmax"), "log_softmax": _softmax_rule("log_softmax"),
    "sum": _reduction("sum"), "mean": _reduction("mean"),
    "view": _view_rule, "reshape": _reshape_rule, "permute": _permute_rule,
    "transpose": _transpose_rule, "flatten": _flatten_rule,
    "t": lambda e, x: e.call("t.default", x),
    "unsqueeze": lambda e, x, dim: e.call("unsqueeze.default", x, dim),
    "linear": _linear_rule, "conv2d": _conv2d_rule, "layer_norm": _layer_norm_rule,
    "batch_norm": _batch_norm_rule, "dropout": _dropout_rule, "embedding": _embedding_rule,
    "max_pool2d": _max_pool2d_rule, "adaptive_avg_pool2d": _adaptive_avg_pool2d_rule,
    "scaled_dot_product_attention": _sdpa_rule,
    "add_": _inplace("add"), "sub_": _inplace("sub"), "mul_": _inplace("mul"),
    "div_": _inplace("div"), "copy_": _copy_rule,
}
# functions that are Tensor methods only under other names
_METHOD_ONLY = {"view"}
_OPERATORS: dict[Callable, Callable] = {
    operator.add: _binary("add"), operator.sub: _binary("sub"), operator.mul: _binary("mul"),
    operator.truediv: _binary("div"), operator.matmul: _BY_NAME["matmul"],
    operator.getitem: _getitem_rule, builtins.getattr: _getattr_rule,
}
_METHOD_ONLY |= {"add_", "sub_", "mul_", "div_", "copy_"}


def _function_rules() -> dict[int, Callable]:
    """id(function) -> rule, for the functions of dlpy and dlpy.functional named in
    ``_BY_NAME`` (the objects torch.* and torch.nn.functional.* stand for)."""
    import dlpy
    from dlpy import functional
    from dlpy.fx._symbolic_trace import _assign_buffer

    rules = {id(f): rule for f, rule in _OPERATORS.items()}
    rules[id(_assign_buffer)] = _assign_buffer_rule
    for namespace in (dlpy, functional):
        for name, rule in _BY_NAME.items():
            function = getattr(namespace, name, None)
            if callable(function) and name not in _METHOD_ONLY:
                for each in _unwrapped(function):
                    rules[id(each)] = rule
    return rules


def _unwrapped(function: Callable) -> list:
    """``function`` and what it wraps (``__wrapped__``, innermost last): the numpy-alias and
    torch-function dispatch wrappers stand for the same function, whenever they were made."""
    chain = [function]
    while hasattr(chain[-1], "__wrapped__") and len(chain) < 8:
        chain.append(chain[-1].__wrapped__)
    return chain


_FUNCTIONS: dict[int, Callable] | None = None


# ---------------------------------------------------------------------------- layers
def _layer_rule(e, layer, state: dict, args: tuple, kwargs: dict):
    """The aten calls of a dlpy.nn layer's forward (its state given as nodes)."""
    from dlpy import nn

    if kwargs or len(args) != 1:
        raise _Decline("layer arguments")
    x = args[0]
    kind = type(layer)
    if kind is nn.Linear:
        return _linear_rule(e, x, state["weight"], state.get("bias"))
    if kind is nn.Conv2d:
        if layer.padding_mode != "zeros":
            raise _Decline("padding_mode")
        return _conv2d_rule(e, x, state["weight"], state.get("bias"), layer.stride,
                            layer.padding, layer.dilation, layer.groups)
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        if layer.momentum is None:
            raise _Decline("cumulative moving average")
        mean, var = state.get("running_mean"), state.get("running_var")
        if layer.training and layer.track_running_stats and "num_batches_tracked" in state:
            e.call("add_.Tensor", state["num_batches_tracked"], 1)
        training = layer.training or mean is None and var is None
        return _batch_norm_rule(e, x, mean, var, state.get("weight"), state.get("bias"),
                                training, layer.momentum, layer.eps)
    if kind is nn.LayerNorm:
        return e.call("layer_norm.default", x, list(layer.normalized_shape),
                      state.get("weight"), state.get("bias"), layer.eps, False)
    if kind is nn.Embedding:
        return _embedding_rule(e, x, state["weight"], layer.padding_idx, layer.max_norm)
    if kind is nn.Dropout:
        return _dropout_rule(e, x, layer.p, layer.training, layer.inplace)
    if kind in (nn.ReLU, nn.SiLU):
        return _unary(kind.__name__.lower())(e, x, getattr(layer, "inplace", False))
    if kind in (nn.Tanh, nn.Sigmoid):
        return e.call(f"{kind.__name__.lower()}.default", x)
    if kind is nn.GELU:
        return _gelu_rule(e, x, layer.approximate)
    if kind in (nn.Softmax, nn.LogSoftmax):
        return _softmax_rule("softmax" if kind is nn.Softmax else "log_softmax")(
            e, x, layer.dim)
    if kind is nn.Flatten:
        return _flatten_rule(e, x, layer.start_dim, layer.end_dim)
    if kind is nn.MaxPool2d:
        return _max_pool2d_rule(e, x, layer.kernel_size, layer.stride, layer.padding,
                                layer.dilation, layer.ceil_mode, layer.return_indices)
    if kind is nn.AdaptiveAvgPool2d:
        return _adaptive_avg_pool2d_rule(e, x, layer.output_size)
    raise _Decline("layer")


# ---------------------------------------------------------------------------- the pass
def _rule_for(node: Node, root: Any) -> tuple[Callable, tuple, dict] | None:
    """(rule, args, kwargs) for a node of dlpy's graph, or None."""
    global _FUNCTIONS
    from dlpy.export._serialize import resolve
    from dlpy.func import functional_call
    from dlpy.fx._symbolic_trace import _ORIGINALS

    if node.op == "call_method":
        rule = _BY_NAME.get(node.target)
        return None if rule is None else (rule, node.args, node.kwargs)
    if node.op == "call_module":
        layer = resolve(root, node.target)
        return (lambda e, *a, **k: _layer_rule(e, layer, {}, a, k)), node.args, node.kwargs
    if node.op != "call_function":
        return None
    if node.target is functional_call:
        layer, state, args, kwargs = (list(node.args) + [{}] * 4)[:4]
        if not (isinstance(layer, Node) and layer.op == "get_attr" and isinstance(state, dict)
                and isinstance(args, tuple) and isinstance(kwargs, dict)):
            return None
        module = resolve(root, layer.target)
        return (lambda e, *a: _layer_rule(e, module, *a)), (state, args, kwargs), {}
    if _FUNCTIONS is None:
        _FUNCTIONS = _function_rules()
    target = _ORIGINALS.get(id(node.target), node.target)
    rule = next((r for each in _unwrapped(target)
                 if (r := _FUNCTIONS.get(id(each))) is not None), None)
    return None if rule is None else (rule, node.args, node.kwargs)


def _run_node(node: Node, args: tuple, kwargs: dict, root: Any) -> Any:
    """The value of one node of dlpy's graph (its arguments' values given)."""
    from dlpy.export._serialize import resolve

    if node.op == "call_function":
        return node.target(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    if node.op == "call_module":
        return resolve(root, node.target)(*args, **kwargs)
    if node.op == "get_attr":
        return resolve(root, node.target)
    raise _Decline(node.op)


def _copy(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, Tensor) else value


def core_decompositions() -> dict[Any, Callable]:
    """The aten overloads run_decompositions() decomposes by default, each to its rule here
    (the keys of torch.export.default_decompositions() that dlpy's graphs meet)."""
    return {_overload(name): rule for name, rule in _CORE.items()}


def core_rule(op: Any) -> Callable | None:
    """dlpy's decomposition of the aten overload ``op`` (None where it has none)."""
    return _CORE.get(getattr(op, "__name__", None))


def lower(source: Graph, root: Any, inputs: dict[str, Any], core: set[str] = frozenset(),
          mutations: int = 0, user_inputs: set[str] = frozenset()
          ) -> tuple[Graph, dict[str, Node]]:
    """``source`` (dlpy's lifted graph) as aten calls: a new Graph and the nodes of the
    buffers' new values by placeholder name (where a decomposition made them functional).
    ``core``: the aten overloads written decomposed (``"linear.default"``, ...: those
    ``run_decompositions`` was given; empty for the export level). ``inputs``: each placeholder's
    value (copied: running the program here changes nothing); ``mutations``: how many of the
    outputs are buffers (or user inputs) the program updates (replaced by their new values'
    nodes); ``user_inputs``: the names of the placeholders that are user inputs."""
    graph = Graph()
    e = _Emitter(graph, core)
    env: dict[Node, Any] = {}
    with no_grad():
        for node in source.nodes:
            if node.op == "placeholder":
                new = env[node] = graph.node_copy(node)
                if new.name != new.target and new.target not in graph._graph_namespace._used_names:
                    new.name = new.target  # an input named after its argument, ``input`` too
                    graph._graph_namespace._used_names.add(new.target)
                if node.name in inputs:
                    new.meta["val"] = _copy(inputs[node.name])
                if node.name in user_inputs:
                    e.user_inputs.add(new)
                continue
            if node.op == "output":
                result = map_arg(node.args[0], lambda n: e.current(env[n]))
                if mutations and isinstance(result, tuple):
                    result = tuple(e.updates.get(r.name, r) if isinstance(r, Node) else r
                                   for r in result[:mutations]) + result[mutations:]
                graph.output(result)
                continue
            # (a tensor updated in place read as its newest node, as torch's proxies)
            value = lambda n: e.current(env[n])  # noqa: E731
            args, kwargs = map_arg(node.args, value), map_arg(node.kwargs, value)
            found = _rule_for(node, root)
            if found is not None:
                rule, rule_args, rule_kwargs = found
                e.created = []
                try:
                    env[node] = rule(e, *map_arg(rule_args, value),
                                     **map_arg(rule_kwargs, value))
                    continue
                except Exception:  # noqa: BLE001 - a rule that does not apply (_Decline) or
                    # whose aten call fails on these values: the node kept as dlpy's call
                    for made in reversed(e.created):
                        e.multi.discard(made)
                        for name, update in list(e.updates.items()):
                            if update is made:
                                del e.updates[name]
                        for key, update in list(e.latest.items()):
                            if update is made:
                                del e.latest[key]
                        graph.erase_node(made)
            new = env[node] = graph.node_copy(node, value)
            try:
                new.meta["val"] = _run_node(node, e.val(args), e.val(kwargs), root)
            except Exception:  # noqa: BLE001 - no value: rules after it keep dlpy's calls
                new.meta.pop("val", None)
    for node in reversed(list(graph.nodes)):  # unused outputs, layers no node calls now
        if not node.users and (node in e.multi or node.op == "get_attr"):
            graph.erase_node(node)
    return graph, e.updates
