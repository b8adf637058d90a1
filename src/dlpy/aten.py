"""``dlpy.ops.aten`` (``torch.ops.aten``): PyTorch's built-in ops by their ATen names, as code
written for torch meets them (``func is torch.ops.aten.add.Tensor`` in ``__torch_dispatch__``,
the targets of FX and export graphs, decompositions, ``torch.ops.aten.mm.default(a, b)``).

``dlpy.ops.aten.add`` is an ``OpOverloadPacket``; ``.Tensor``, ``.Scalar``, ``.default``...
its ``OpOverload``\\ s, one object each (``aten.add.Tensor is aten.add.Tensor``), with
torch's names, ``overloads()`` and schemas (the strings of ``_aten_schemas``, taken from torch
2.13). Calling an overload binds its arguments as the schema says (positional and keyword
names, defaults, type checks: a mismatch is an OpCallError, a TypeError and torch's
RuntimeError) and runs dlpy's implementation; calling the packet runs the first overload whose
schema the arguments fit, as torch's. Overloads with no dlpy implementation here (``out=``
variants, ops on Python scalars, the rest of ATen) exist for names and schemas but raise
NotImplementedError when called.
"""

from __future__ import annotations

import ast
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from dlpy._aten_schemas import NUMBERS_AS_TENSORS, SCHEMAS
from dlpy.library import OpCallError, _find_proxy, _proxy_type, _split_top
from dlpy.tensor import Tensor

__all__ = ["OpOverload", "OpOverloadPacket", "aten"]


class _NoSchemaMatchError(OpCallError):
    """A packet called with arguments no overload's schema fits (torch's RuntimeError)."""


# ---------------------------------------------------------------------------- schemas
_ENUM_DEFAULTS = {"Mean": 1, "Sum": 2, "contiguous_format": "contiguous_format",
                  "long": "long", "None": None, "True": True, "False": False}


def _default(text: str) -> Any:
    if text in _ENUM_DEFAULTS:
        return _ENUM_DEFAULTS[text]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class Argument:
    """One argument of an aten schema, as torch's ``Argument``: name, type, default."""

    def __init__(self, text: str, kwarg_only: bool):
        type_part, eq, default = text.partition("=")
        self.type_str, self.name = type_part.rsplit(" ", 1)
        self.kwarg_only = kwarg_only
        self.has_default = bool(eq)
        self.default_value = _default(default) if eq else None
        bare = self.type_str
        while "(" in bare:  # alias annotations: Tensor(a!), t[](a), Dict(str, t)
            i = bare.index("(")
            j = bare.index(")", i)
            bare = bare[:i] + bare[j + 1:]
        self.base = bare.split("[")[0].rstrip("?")
        self.optional = bare.endswith("?")
        self.is_list = "[" in bare
        self.elem_optional = "?[" in bare
        size = bare[bare.index("[") + 1:bare.index("]")] if self.is_list else ""
        self.list_size = int(size) if size.isdigit() else None
        self.is_out = "!" in self.type_str

    def __repr__(self) -> str:
        return f"{self.type_str} {self.name}" + (
            f"={self.default_value!r}" if self.has_default else "")


class FunctionSchema:
    """An aten op's schema: ``str()`` is torch's string; ``name``, ``overload_name``,
    ``arguments`` and ``returns`` (their type strings) as torch's FunctionSchema."""

    def __init__(self, text: str):
        self._text = text
        head, _, rest = text.partition("(")
        self.name, _, self.overload_name = head.partition(".")
        depth, end = 1, -1
        while depth:  # the parenthesis that closes the arguments
            end += 1
            depth += (rest[end] == "(") - (rest[end] == ")")
        args, returns = rest[:end], rest[end + 1:].strip()
        self.arguments: list[Argument] = []
        kwarg_only = False
        for part in _split_top(args):
            if part == "*":
                kwarg_only = True
            else:
                self.arguments.append(Argument(part, kwarg_only))
        returns = returns[2:].strip() if returns.startswith("->") else returns
        if returns.startswith("(") and returns.endswith(")"):
            self.returns = _split_top(returns[1:-1])
        else:
            self.returns = [returns] if returns and returns != "()" else []
        self.positional = [a for a in self.arguments if not a.kwarg_only]
        self.by_name = {a.name: a for a in self.arguments}
        self.is_mutable = any(a.is_out for a in self.arguments)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return self._text


# ---------------------------------------------------------------------------- argument types
def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, Tensor)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer))


def _fits(arg: Argument, value: Any, numbers_as_tensors: bool) -> bool:
    """Whether ``value`` fits ``arg``'s type (the conversions torch's schema matcher does)."""
    if value is None:
        return arg.optional or arg.base in ("Any", "t")
    if arg.is_list:
        if arg.list_size is not None and arg.base in ("int", "bool") and _is_int(value):
            return True
        if not isinstance(value, (list, tuple)):
            return False
        return all((v is None and arg.elem_optional) or _fits_base(arg.base, v,
                                                                  numbers_as_tensors)
                   for v in value)
    return _fits_base(arg.base, value, numbers_as_tensors)


def _fits_base(base: str, value: Any, numbers_as_tensors: bool) -> bool:
    if value is None:
        return False
    if base == "Tensor":
        return isinstance(value, Tensor) or (numbers_as_tensors and _is_number(value))
    if base in ("int", "SymInt"):
        return _is_int(value) or (isinstance(value, Tensor) and value.ndim == 0
                                  and value.dtype.kind in "iub")
    if base in ("float", "SymFloat"):
        return (_is_number(value) and not isinstance(value, complex)) or \
            (isinstance(value, Tensor) and value.ndim == 0)
    if base in ("Scalar", "complex"):
        return _is_number(value)
    if base == "bool":
        return isinstance(value, (bool, np.bool_)) or _is_int(value)
    if base == "str":
        return isinstance(value, str)
    if base == "ScalarType":
        import dlpy
        return isinstance(value, dlpy.dtype)
    return True  # Device, Layout, MemoryFormat, Generator, Any, t, Dict...


def _same(value: Any, default: Any) -> bool:
    """Whether an argument's value is its schema default (None, a number, a list, a str)."""
    if value is None or default is None:
        return value is default
    if isinstance(value, (Tensor, np.ndarray)) or type(value) is not type(default):
        return False
    return value == default


def _type_name(value: Any) -> str:
    return "Tensor" if isinstance(value, Tensor) else type(value).__name__


# ---------------------------------------------------------------------------- implementations
def _dlpy():
    import dlpy
    return dlpy


def _F():
    import dlpy.functional
    return dlpy.functional


_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _dims(dim: Any) -> Any:
    """An ``int[1]? dim`` as dlpy's reductions take it: [] or None is every axis."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def _slice(self, dim=0, start=None, end=None, step=1):
    index = (slice(None),) * (dim % max(self.ndim, 1)) + (slice(start, end, step),)
    return self[index]


def _index(self, indices):
    return self[tuple(slice(None) if i is None else i for i in indices)]


def _nll_loss_forward(self, target, weight, reduction, ignore_index):
    dlpy = _dlpy()
    out = _F().nll_loss(self, target, weight, ignore_index=ignore_index,
                        reduction=_REDUCTIONS[reduction])
    if reduction == 0:
        return out, dlpy.tensor(0.0, dtype=self.dtype)
    keep = target != ignore_index
    w = dlpy.ones(self.shape[-1] if self.ndim else 1, dtype=self.dtype) \
        if weight is None else weight
    safe = dlpy.where(keep, target, dlpy.zeros_like(target))
    total = dlpy.sum(dlpy.where(keep, w[safe], dlpy.zeros_like(w[safe])))
    return out, total.detach().to(self.dtype)


def _convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                 groups):
    F, n = _F(), input.ndim - 2
    if transposed:
        fn = getattr(F, f"conv_transpose{n}d")
        return fn(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return getattr(F, f"conv{n}d")(input, weight, bias, stride, padding, dilation, groups)


def _creation(name: str) -> Callable:
    def create(*args, dtype=None, layout=None, device=None, pin_memory=None,
               memory_format=None, generator=None):
        kw = {} if dtype is None else {"dtype": dtype}
        if generator is not None:
            kw["generator"] = generator
        return getattr(_dlpy(), name)(*args, **kw)
    return create


def _like(name: str) -> Callable:
    def create(self, *args, dtype=None, layout=None, device=None, pin_memory=None,
               memory_format=None):
        return getattr(_dlpy(), name)(self, *args, **({} if dtype is None else
                                                      {"dtype": dtype}))
    return create


def _to_copy(self, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False,
             memory_format=None):
    return self.to(self.dtype if dtype is None else dtype, copy=True)


def _to(kind: str) -> Callable:
    """to.dtype (self, dtype, non_blocking, copy), to.other (self, other, non_blocking, copy),
    to.device (self, device, dtype, non_blocking, copy), to.dtype_layout (keywords)."""
    def to(self, *args, dtype=None, layout=None, device=None, pin_memory=None,
           non_blocking=False, copy=False, memory_format=None):
        if kind == "dtype":
            dtype, copy = args[0], args[2]
        elif kind == "other":
            dtype, copy = args[0].dtype, args[2]
        elif kind == "device":
            dtype, copy = args[1], args[3]
        return self.to(self.dtype if dtype is None else dtype, copy=copy)
    return to


def _loss(name: str, *keys: str) -> Callable:
    def loss(self, target, *args):
        values = dict(zip(keys, args))
        if "reduction" in values:
            values["reduction"] = _REDUCTIONS[values["reduction"]]
        return getattr(_F(), name)(self, target, **values)
    return loss


def _sort_stable(self, stable=None, dim=-1, descending=False):
    return _dlpy().sort(self, dim=dim, descending=descending, stable=bool(stable))


def _var_std(name: str, kind: str) -> Callable:
    def reduce(self, *args, correction=None, keepdim=False):
        fn = getattr(_dlpy(), name)
        if kind == "default":
            unbiased = args[0] if args else True
            return fn(self, correction=int(unbiased))
        if kind == "dim":
            dim, unbiased, keep = (list(args) + [None, True, False][len(args):])[:3]
            return fn(self, _dims(dim), correction=int(unbiased), keepdim=keep)
        dim = args[0] if args else None
        return fn(self, _dims(dim), correction=1 if correction is None else correction,
                  keepdim=keepdim)
    return reduce


def _method(name: str) -> Callable:
    return lambda self, *args: getattr(self, name)(*args)


def _tuple(fn: Callable) -> Callable:
    return lambda *args, **kwargs: tuple(fn(*args, **kwargs))


def _list(fn: Callable) -> Callable:
    return lambda *args, **kwargs: list(fn(*args, **kwargs))


def _reduce(name: str) -> Callable:
    def reduce(self, dim=None, keepdim=False, dtype=None):
        kw = {} if dtype is None else {"dtype": dtype}
        dims = _dims(dim)
        if dims is None and not keepdim:
            return getattr(_dlpy(), name)(self, **kw)
        if dims is None:
            dims = tuple(range(self.ndim))
        return getattr(_dlpy(), name)(self, dims, keepdim, **kw)
    return reduce


def _d(name: str) -> Callable:
    return lambda *args, **kwargs: getattr(_dlpy(), name)(*args, **kwargs)


def _f(name: str) -> Callable:
    return lambda *args, **kwargs: getattr(_F(), name)(*args, **kwargs)


def _native(name: str) -> Callable:
    """torch.<name> of dlpy.native_functions (the kernels with their saved statistics)."""
    return lambda *args, **kwargs: getattr(_native_functions(), name)(*args, **kwargs)


def _native_functions():
    from dlpy import native_functions

    return native_functions


def _inplace_fill(self, value):
    return self.fill_(value)


_IMPLS: dict[str, Callable] = {
    "sum.default": lambda self, dtype=None: _dlpy().sum(self, **({} if dtype is None else
                                                                  {"dtype": dtype})),
    "sum.dim_IntList": _reduce("sum"),
    "mean.default": lambda self, dtype=None: _dlpy().mean(self, **({} if dtype is None else
                                                                    {"dtype": dtype})),
    "mean.dim": _reduce("mean"),
    "amax.default": lambda self, dim=(), keepdim=False: _reduce("amax")(self, dim, keepdim),
    "amin.default": lambda self, dim=(), keepdim=False: _reduce("amin")(self, dim, keepdim),
    "max.dim": _tuple(_d("max")), "min.dim": _tuple(_d("min")),
    "var.default": _var_std("var", "default"), "var.dim": _var_std("var", "dim"),
    "var.correction": _var_std("var", "correction"),
    "std.default": _var_std("std", "default"), "std.dim": _var_std("std", "dim"),
    "std.correction": _var_std("std", "correction"),
    "all.dims": lambda self, dim=None, keepdim=False: _reduce("all")(self, dim, keepdim),
    "any.dims": lambda self, dim=None, keepdim=False: _reduce("any")(self, dim, keepdim),
    "logsumexp.default": lambda self, dim, keepdim=False: _dlpy().logsumexp(
        self, _dims(dim) if _dims(dim) is not None else tuple(range(self.ndim)), keepdim),
    "view.default": _method("view"), "view.dtype": _method("view"),
    "_unsafe_view.default": _method("reshape"), "expand.default": lambda self, size,
    implicit=False: self.expand(*size), "alias.default": lambda self: self.view(self.shape),
    "contiguous.default": lambda self, memory_format=None: self.contiguous(),
    "slice.Tensor": _slice, "index.Tensor": _index,
    "split.Tensor": _list(_d("split")), "split.sizes": _list(_d("split")),
    "split_with_sizes.default": _list(_d("split")), "unbind.int": _list(_d("unbind")),
    "chunk.default": _list(_d("chunk")), "unsafe_split.Tensor": _list(_d("split")),
    "select.int": _d("select"), "where.default": _list(_d("where")),
    "softmax.int": _d("softmax"), "log_softmax.int": _d("log_softmax"),
    "_softmax.default": lambda self, dim, half_to_float: _dlpy().softmax(self, dim),
    "_log_softmax.default": lambda self, dim, half_to_float: _dlpy().log_softmax(self, dim),
    "relu.default": _f("relu"), "silu.default": _f("silu"), "gelu.default": _f("gelu"),
    "hardtanh.default": _f("hardtanh"), "leaky_relu.default": _f("leaky_relu"),
    "softplus.default": _f("softplus"), "hardswish.default": _f("hardswish"),
    "hardsigmoid.default": _f("hardsigmoid"), "mish.default": _f("mish"),
    "elu.default": lambda self, alpha=1, scale=1, input_scale=1: _F().elu(
        self * input_scale, alpha) * scale if (scale, input_scale) != (1, 1)
    else _F().elu(self, alpha),
    "convolution.default": _convolution, "conv1d.default": _f("conv1d"),
    "conv1d.padding": _f("conv1d"), "conv2d.default": _f("conv2d"),
    "conv2d.padding": _f("conv2d"), "linear.default": _f("linear"),
    "native_layer_norm.default": _native("native_layer_norm"),
    "layer_norm.default": lambda input, normalized_shape, weight=None, bias=None, eps=1e-5,
    cudnn_enable=True: _F().layer_norm(input, list(normalized_shape), weight, bias, eps),
    "native_batch_norm.default": _native("native_batch_norm"),
    "batch_norm.default": lambda input, weight, bias, running_mean, running_var, training,
    momentum, eps, cudnn_enabled: _F().batch_norm(input, running_mean, running_var, weight,
                                                  bias, training, momentum, eps),
    "group_norm.default": lambda input, num_groups, weight=None, bias=None, eps=1e-5,
    cudnn_enabled=True: _F().group_norm(input, num_groups, weight, bias, eps),
    "nll_loss.default": _loss("nll_loss", "weight", "reduction", "ignore_index"),
    "nll_loss_forward.default": _nll_loss_forward,
    "mse_loss.default": _loss("mse_loss", "reduction"),
    "binary_cross_entropy.default": _loss("binary_cross_entropy", "weight", "reduction"),
    "cross_entropy_loss.default": _loss("cross_entropy", "weight", "reduction",
                                        "ignore_index", "label_smoothing"),
    "embedding.default": lambda weight, indices, padding_idx=-1, scale_grad_by_freq=False,
    sparse=False: _F().embedding(indices, weight, None if padding_idx == -1 else padding_idx),
    "dropout.default": _f("dropout"), "native_dropout.default": _native("native_dropout"),
    "zeros.default": _creation("zeros"), "ones.default": _creation("ones"),
    "empty.memory_format": _creation("empty"), "full.default": _creation("full"),
    "arange.default": _creation("arange"), "arange.start": _creation("arange"),
    "arange.start_step": _creation("arange"), "rand.default": _creation("rand"),
    "randn.default": _creation("randn"), "eye.default": _creation("eye"),
    "eye.m": _creation("eye"), "empty_strided.default": lambda size, stride, **kw:
    _creation("empty")(size, **kw),
    "scalar_tensor.default": lambda s, dtype=None, **kw: _dlpy().tensor(
        s, dtype=_dlpy().get_default_dtype() if dtype is None else dtype),
    "zeros_like.default": _like("zeros_like"), "ones_like.default": _like("ones_like"),
    "empty_like.default": _like("empty_like"), "full_like.default": _like("full_like"),
    "rand_like.default": _like("rand_like"), "randn_like.default": _like("randn_like"),
    "new_zeros.default": lambda self, size, **kw: _creation("zeros")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "new_ones.default": lambda self, size, **kw: _creation("ones")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "new_empty.default": lambda self, size, **kw: _creation("empty")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "new_full.default": lambda self, size, fill_value, **kw: _creation("full")(
        size, fill_value, **{"dtype": self.dtype,
                             **{k: v for k, v in kw.items() if v is not None}}),
    "copy_.default": lambda self, src, non_blocking=False: self.copy_(src),
    "clone.default": lambda self, memory_format=None: self.clone(),
    "detach.default": lambda self: self.detach(), "_to_copy.default": _to_copy,
    "to.dtype": _to("dtype"), "to.other": _to("other"), "to.device": _to("device"),
    "to.dtype_layout": _to("dtype_layout"),
    "lift_fresh_copy.default": lambda self: self.clone(),
    "zero_.default": lambda self: self.zero_(), "fill_.Scalar": _inplace_fill,
    "fill_.Tensor": _inplace_fill,
    "fill.Scalar": lambda self, value: _dlpy().full_like(self, value),
    "fill.Tensor": lambda self, value: _dlpy().full_like(self, value.item()),
    "add_.Tensor": lambda self, other, alpha=1: self.add_(other, alpha=alpha),
    "add_.Scalar": lambda self, other, alpha=1: self.add_(other, alpha=alpha),
    "sub_.Tensor": lambda self, other, alpha=1: self.sub_(other, alpha=alpha),
    "sub_.Scalar": lambda self, other, alpha=1: self.sub_(other, alpha=alpha),
    "mul_.Tensor": _method("mul_"), "mul_.Scalar": _method("mul_"),
    "div_.Tensor": _method("div_"), "div_.Scalar": _method("div_"),
    "abs_.default": _method("abs_"), "relu_.default": _method("relu_"),
    "sigmoid_.default": _method("sigmoid_"),
    "sort.default": _tuple(_d("sort")), "sort.stable": _tuple(_sort_stable),
    "topk.default": _tuple(_d("topk")), "var_mean.correction": None,
    "expand_as.default": _method("expand_as"), "view_as.default": _method("view_as"),
    "sym_size.int": lambda self, dim: self.shape[dim], "sym_numel.default": _method("numel"),
    "numel.default": _method("numel"), "dim.default": _method("dim"),
    "size.int": lambda self, dim: self.shape[dim], "size.default": lambda self: list(self.shape),
    "item.default": _method("item"), "_local_scalar_dense.default": _method("item"),
    "round.decimals": lambda self, decimals=0: _dlpy().round(self, decimals=decimals),
    "clamp.default": lambda self, min=None, max=None: _dlpy().clamp(self, min, max),
    "clamp.Tensor": lambda self, min=None, max=None: _dlpy().clamp(self, min, max),
    "flatten.using_ints": _d("flatten"), "permute.default": _d("permute"),
    "repeat.default": _method("repeat"), "max_pool2d.default": _f("max_pool2d"),
    "avg_pool2d.default": _f("avg_pool2d"),
    "adaptive_avg_pool2d.default": _f("adaptive_avg_pool2d"),
    "_adaptive_avg_pool2d.default": _f("adaptive_avg_pool2d"),
    "constant_pad_nd.default": lambda self, pad, value=0: _F().pad(self, list(pad),
                                                                  value=value),
    "pad.default": lambda self, pad, mode="constant", value=None: _F().pad(
        self, list(pad), mode, 0 if value is None else value),
    "norm.Scalar": lambda self, p=2: _dlpy().norm(self, p),
    "norm.ScalarOpt_dim": lambda self, p, dim, keepdim=False: _dlpy().norm(
        self, 2 if p is None else p, _dims(dim), keepdim),
    "argsort.default": lambda self, dim=-1, descending=False: _dlpy().argsort(self, dim,
                                                                             descending),
    "argsort.stable": lambda self, stable, dim=-1, descending=False: _dlpy().argsort(
        self, dim, descending, stable=stable),
    "nonzero.default": _d("nonzero"), "masked_select.default": _d("masked_select"),
    "diagonal.default": _d("diagonal"), "movedim.int": _d("movedim"),
    "movedim.intlist": _d("movedim"), "tile.default": _d("tile"),
}

# overloads named for their scalar forms (``aten.add.int(int a, int b) -> int``): TorchScript's
_SCALAR_OVERLOADS = {"int", "float", "complex", "bool", "str", "t", "enum", "device", "any",
                     "int_list", "float_list", "Tensor_list", "bool_list", "str_list",
                     "int_int", "float_float", "complex_complex", "int_float", "float_int",
                     "int_complex", "complex_int", "float_complex", "complex_float",
                     "Scalar_Scalar", "int_to_int", "left_t", "right_", "list_int",
                     "list_float", "list_bool", "list_Tensor", "list_str", "prim_Device",
                     "prim_dtype", "prim_other"}


def _unsupported(schema: FunctionSchema) -> bool:
    overload = schema.overload_name
    return (schema.is_mutable and not schema.name.endswith("_")) or \
        (overload in _SCALAR_OVERLOADS and not any(a.base == "Tensor" and not a.is_list
                                                   for a in schema.arguments)) or \
        (overload == "Scalar" and not any(a.base == "Tensor" for a in schema.arguments)) or \
        overload in ("out", "dtype_out") or overload.endswith("_out") or \
        (overload == "dtype" and schema.name.split("::")[1] in ("mm", "bmm", "addmm"))


def _generic(opname: str) -> Callable | None:
    """dlpy's function (dlpy.<op>, dlpy.functional.<op>) or Tensor method of that name."""
    dlpy = _dlpy()
    fn = getattr(dlpy, opname, None)
    if callable(fn):
        return fn
    fn = getattr(_F(), opname, None)
    if callable(fn):
        return fn
    if callable(getattr(Tensor, opname, None)):
        return _method(opname)
    return None


# ---------------------------------------------------------------------------- overloads
class OpOverload:
    """``dlpy.ops.aten.add.Tensor``: one ATen op of one schema."""

    _is_custom_op = False  # dlpy.fx records it as a function by its path (dlpy.ops.aten...)

    def __init__(self, packet: OpOverloadPacket, schema: FunctionSchema):
        self._schema = schema
        self._overloadpacket = packet
        self._namespace, self._opname = "aten", packet.__name__
        self._overloadname = schema.overload_name or "default"
        self.__name__ = f"{self._opname}.{self._overloadname}"
        self.__qualname__ = f"aten.{self.__name__}"  # dlpy.fx's generated code names
        self.__module__ = "dlpy.ops"  # it dlpy.ops.aten.add.Tensor
        self._numbers = self._opname in NUMBERS_AS_TENSORS
        self._impl: Callable | None | bool = False  # False: not looked up yet

    @property
    def overloadpacket(self) -> OpOverloadPacket:
        return self._overloadpacket

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def is_view(self) -> bool:
        returns = self._schema.returns
        return bool(returns) and "(" in returns[0] and "!" not in returns[0]

    def name(self) -> str:
        overload = "" if self._overloadname == "default" else f".{self._overloadname}"
        return f"aten::{self._opname}{overload}"

    def __repr__(self) -> str:
        return f"<OpOverload(op='aten.{self._opname}', overload='{self._overloadname}')>"

    def __str__(self) -> str:
        return f"aten.{self._opname}.{self._overloadname}"

    def __deepcopy__(self, memo) -> OpOverload:
        return self

    def __reduce__(self):
        return _overload_at, (self._opname, self._overloadname)

    # ---------------------------------------------------------------- arguments
    def _bind(self, args: tuple, kwargs: dict) -> tuple[list, dict]:
        """(positional values, keyword-only values), defaults filled and each value checked
        against the schema; a mismatch is an OpCallError (torch's RuntimeError)."""
        schema, where = self._schema, f"aten::{self._opname}()"
        positional = schema.positional
        if len(args) > len(positional):
            raise OpCallError(f"{where} takes {len(positional)} positional argument(s) but "
                              f"{len(args)} was/were given.  Declaration: {schema}")
        for key in kwargs:
            if key not in schema.by_name:
                raise OpCallError(f"Unknown keyword argument '{key}' for operator "
                                  f"'aten::{self._opname}'. Schema: {schema}")
            if schema.by_name[key] in positional[:len(args)]:
                raise OpCallError(f"{where} got multiple values for argument '{key}'. "
                                  f"Declaration: {schema}")
        values = list(args)
        for arg in schema.arguments[len(args):]:
            if arg.name in kwargs:
                values.append(kwargs[arg.name])
            elif arg.has_default:
                values.append(arg.default_value)
            else:
                raise OpCallError(f"{where} is missing value for argument '{arg.name}'. "
                                  f"Declaration: {schema}")
        proxy = _proxy_type()
        for k, (arg, value) in enumerate(zip(schema.arguments, values)):
            if proxy is not None and (isinstance(value, proxy) or (
                    isinstance(value, (list, tuple)) and any(isinstance(v, proxy)
                                                             for v in value))):
                continue  # dlpy.fx tracing: a Proxy passes anywhere
            if not _fits(arg, value, self._numbers):
                shown = "number" if arg.base == "Scalar" else arg.type_str
                raise OpCallError(f"{where} Expected a value of type '{shown}' for argument "
                                  f"'{arg.name}' but instead found type "
                                  f"'{_type_name(value)}'.\nPosition: {k}\nValue: "
                                  f"{value!r:.60}\nDeclaration: {schema}")
            values[k] = self._converted(arg, value)
        n = len(positional)
        return values[:n], {a.name: v for a, v in zip(schema.arguments[n:], values[n:])}

    def _converted(self, arg: Argument, value: Any) -> Any:
        if value is None:
            return None
        if arg.is_list and isinstance(value, tuple):
            value = list(value)
        if arg.is_list and _is_int(value) and arg.list_size:
            return [int(value)] * arg.list_size
        if arg.base == "Tensor" and not arg.is_list and _is_number(value) and \
                arg is self._schema.arguments[0]:
            return _dlpy().tensor(value)
        if arg.base in ("int", "SymInt") and isinstance(value, Tensor):
            return int(value.item())
        if arg.base in ("float", "Scalar") and isinstance(value, Tensor):
            return value.item()
        return value

    # ---------------------------------------------------------------- calling
    def _implementation(self) -> Callable | None:
        if self._impl is False:
            key = f"{self._opname}.{self._overloadname}"
            if key in _IMPLS:
                self._impl = _IMPLS[key]
            elif _unsupported(self._schema):
                self._impl = None
            else:
                self._impl = _generic(self._opname)
        return self._impl

    def __call__(self, /, *args, **kwargs):  # (``self=`` is the schema's first argument)
        args, kwargs = self._bind(args, kwargs)
        return self._run(args, kwargs)

    def _traced(self, args: list, kwargs: dict):
        proxy = _find_proxy(tuple(args), kwargs)
        if proxy is None:
            return None
        return proxy.tracer.create_proxy("call_function", self, tuple(args), kwargs)

    def _run(self, args: list, kwargs: dict):
        traced = self._traced(args, kwargs)  # dlpy.fx tracing: one call_function node
        if traced is not None:
            return traced
        impl = self._implementation()
        if impl is None:
            raise NotImplementedError(f"dlpy.ops.aten: {self.name()} ({self._schema}) has no "
                                      f"dlpy implementation; call the dlpy function instead")
        if self.__name__ not in _IMPLS:  # dlpy's function: its required arguments by
            # position, the others by name where they are not the schema's default
            schema = self._schema
            required = [v for a, v in zip(schema.positional, args) if not a.has_default]
            named = {a.name: v for a, v in zip(schema.positional, args) if a.has_default}
            named.update(kwargs)
            kwargs = {k: v for k, v in named.items()
                      if not _same(v, schema.by_name[k].default_value)}
            args = required
        result = impl(*args, **kwargs)
        returns = self._schema.returns
        if len(returns) > 1 and isinstance(result, tuple) and type(result) is not tuple:
            result = tuple(result)  # torch's ops return plain tuples, not named ones
        elif len(returns) == 1 and returns[0].startswith("Tensor") and "[]" in returns[0] \
                and isinstance(result, tuple):
            result = list(result)
        return result

    def _try_bind(self, args: tuple, kwargs: dict) -> tuple | None:
        try:
            return self._bind(args, kwargs)
        except OpCallError as error:
            return None, error


class OpOverloadPacket:
    """``dlpy.ops.aten.add``: the overloads of one ATen op (``.Tensor``, ``.Scalar``,
    ``.default``...); calling it calls the first overload the arguments fit."""

    def __init__(self, name: str, schemas: list[str]):
        self.__name__ = name
        self.__qualname__ = f"aten.{name}"
        self.__module__ = "dlpy.ops"
        self._qualified_op_name = f"aten::{name}"
        self._schemas = schemas
        self._overloads: dict[str, OpOverload] = {}

    def overloads(self) -> list[str]:
        return [FunctionSchema(s).overload_name or "default" for s in self._schemas] \
            if not self._overloads else list(self._overloads)

    def _all(self) -> dict[str, OpOverload]:
        if not self._overloads:
            for text in self._schemas:
                schema = FunctionSchema(text)
                self._overloads[schema.overload_name or "default"] = \
                    OpOverload(self, schema)
        return self._overloads

    def __getattr__(self, key: str) -> OpOverload:
        if key.startswith("__"):
            raise AttributeError(key)
        overload = self._all().get(key)
        if overload is None:
            raise AttributeError(f"The underlying op of '{self}' has no overload name "
                                 f"'{key}'")
        return overload

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.overloads()))

    def __repr__(self) -> str:
        return f"<OpOverloadPacket(op='aten.{self.__name__}')>"

    def __str__(self) -> str:
        return f"aten.{self.__name__}"

    def __deepcopy__(self, memo) -> OpOverloadPacket:
        return self

    def __reduce__(self):
        return _packet_at, (self.__name__,)

    def __call__(self, /, *args, **kwargs):
        errors = []
        for overload in self._all().values():
            bound = overload._try_bind(args, kwargs)
            if bound[0] is None:
                errors.append(str(bound[1]))
                continue
            if overload._implementation() is None and not overload._schema.is_mutable:
                continue
            return overload._run(*bound)
        raise _NoSchemaMatchError("Overloaded torch operator invoked from Python failed to "
                                  "match any schema:\n" + "\n\n".join(errors))


class _AtenNamespace:
    """``dlpy.ops.aten``: the ATen ops dlpy knows, as attributes (torch's ``_OpNamespace``)."""

    def __init__(self):
        self.name = "aten"
        self.__name__ = "dlpy.ops.aten"
        self._packets: dict[str, OpOverloadPacket] = {}

    def __getattr__(self, op_name: str) -> OpOverloadPacket:
        if op_name.startswith("__") or op_name not in _BY_OP:
            raise AttributeError(f"'_OpNamespace' 'aten' object has no attribute '{op_name}'")
        packet = self._packets.get(op_name)
        if packet is None:
            packet = self._packets[op_name] = OpOverloadPacket(op_name, _BY_OP[op_name])
        return packet

    def __dir__(self) -> list[str]:
        return sorted(_BY_OP)

    def __repr__(self) -> str:
        return "<module 'dlpy.ops.aten' from 'dlpy.ops'>"


def _schemas_by_op() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text in SCHEMAS:
        name = text[len("aten::"):text.index("(")].partition(".")[0]
        out.setdefault(name, []).append(text)
    return out


_BY_OP = _schemas_by_op()
aten = _AtenNamespace()


def _packet_at(name: str) -> OpOverloadPacket:
    return getattr(aten, name)


def _overload_at(name: str, overload: str) -> OpOverload:
    return getattr(getattr(aten, name), overload)


# ------------------------------------------------------------- dlpy's ops as aten overloads
# dlpy's op class -> the aten overload torch's dispatcher runs for the same call, where there
# is one whatever the arguments (an element-wise op given a Python number is torch's
# ``.Tensor`` overload too: the number is wrapped)
_OP_CLASS_OVERLOADS = {
    **{kind: (kind.lower(), "default") for kind in (
        "Sin", "Cos", "Tan", "Sinh", "Cosh", "Asin", "Acos", "Atan", "Tanh", "Sigmoid", "Exp",
        "Expm1", "Log", "Log1p", "Abs", "Neg", "Sqrt", "Erf")},
    "ReLU": ("relu", "default"), "GELU": ("gelu", "default"), "SiLU": ("silu", "default"),
    "ELU": ("elu", "default"), "LeakyReLU": ("leaky_relu", "default"),
    "Softplus": ("softplus", "default"), "Maximum": ("maximum", "default"),
    "Add": ("add", "Tensor"), "Sub": ("sub", "Tensor"), "Mul": ("mul", "Tensor"),
    "Div": ("div", "Tensor"), "Power": ("pow", "Tensor_Scalar"), "Pow": ("pow", "Tensor_Tensor"),
    "Softmax": ("_softmax", "default"), "LogSoftmax": ("_log_softmax", "default"),
    "Expand": ("expand", "default"), "Cast": ("_to_copy", "default"),
}


def _ndim(value: Any) -> int:
    return len(value.shape) if isinstance(value, Tensor) else 0


def _matmul_overload(op: Any, inputs: tuple) -> tuple[str, str] | None:
    a, b = (_ndim(x) for x in inputs[:2])
    if a == b == 2:
        return "mm", "default"
    if a == b == 3 and inputs[0].shape[0] == inputs[1].shape[0]:
        return "bmm", "default"
    if a == b == 1:
        return "dot", "default"
    if (a, b) == (2, 1):
        return "mv", "default"
    return None  # torch's matmul reshapes (views, then mm or bmm)


def _linear_overload(op: Any, inputs: tuple) -> tuple[str, str] | None:
    if _ndim(inputs[0]) != 2:
        return None  # torch's linear views a batch as a matrix first
    return ("addmm", "default") if len(inputs) > 2 and inputs[2] is not None else ("mm",
                                                                                    "default")


def _reduction_overload(name: str) -> Callable:
    def overload(op: Any, inputs: tuple) -> tuple[str, str]:
        if getattr(op, "dim_given", True):
            return name, "dim_IntList" if name == "sum" else "dim"
        return name, "default"

    return overload


def _transpose_overload(op: Any, inputs: tuple) -> tuple[str, str] | None:
    return ("t", "default") if getattr(op, "node_name", None) == "TBackward0" else None


_OP_CLASS_RULES: dict[str, Callable] = {
    "MatMul": _matmul_overload, "Linear": _linear_overload, "Sum": _reduction_overload("sum"),
    "Mean": _reduction_overload("mean"), "Transpose": _transpose_overload,
}


def overload_of(op: Any, inputs: tuple = ()) -> OpOverload | None:
    """The aten overload (``dlpy.ops.aten.mm.default``) that torch runs for the call of dlpy's
    op ``op`` on ``inputs``: what torch's dispatch-level hooks (selective checkpointing's
    policy functions) see; None where dlpy's op has no single counterpart (torch's op
    decomposes, or the match depends on more than the op and its inputs' ranks)."""
    kind = type(op).__name__
    rule = _OP_CLASS_RULES.get(kind)
    found = rule(op, inputs) if rule is not None else _OP_CLASS_OVERLOADS.get(kind)
    return None if found is None else _overload_at(*found)
