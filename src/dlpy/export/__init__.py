"""torch.export for dlpy, built on dlpy.fx's symbolic tracing:

    ep = dlpy.export.export(model, (x,), dynamic_shapes={"x": {0: Dim("batch", max=64)}})
    ep.graph_signature.parameters        # ["fc1.weight", ...]
    y = ep.module()(x)                   # checks x's shape against the export
    dlpy.export.save(ep, "model.pt2");  ep = dlpy.export.load("model.pt2")

The graph is dlpy.fx's (dlpy.nn's layers stay one node each; other modules are traced
through). Inputs are flattened with pytree as torch's: a list, tuple, dict, NamedTuple or
registered dataclass of tensors is one placeholder per leaf, named by its path (``xs_0``,
``d_k``, ``o_a``), and ``ep.module()`` takes the same structure (``ep.call_spec.in_spec``);
other values are specialised (the graph checks they come back equal). A dynamic dim is
checked at export by running the program with that dim changed; one the program cannot
change (a Linear's in_features) is an error. The saved file is a zip of JSON, generated code
(for reading) and safetensors: loading runs no pickle and no stored code.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import sys
import types
from typing import Any

import numpy as np

from dlpy.export import _unflatten as _unflatten_module
from dlpy.export._decompositions import default_decompositions
from dlpy.export._draft_export import draft_export
from dlpy.export._dynamic_shapes import AdditionalInputs, Constraint, ShapesCollection
from dlpy.export._program import (
    CallSpec,
    ConstantArgument,
    ExportedProgram,
    ExportGraphSignature,
    InputKind,
    InputSpec,
    ModuleCallEntry,
    ModuleCallSignature,
    OutputKind,
    OutputSpec,
    TensorArgument,
    ValueRange,
    _UserInput,
    output_leaves,
)
from dlpy.export._serialize import SerializationError, read_archive, write_archive
from dlpy.export._unflatten import (
    FlatArgsAdapter,
    InterpreterModule,
    UnflattenedModule,
    unflatten,
)
from dlpy.fx._symbolic_trace import Tracer, _assert_specialized
from dlpy.fx.graph_module import GraphModule
from dlpy.nn.module import Module
from dlpy.ops import ArgError
from dlpy.tensor import Tensor, no_grad
from dlpy.utils import _pytree as pytree

__all__ = ["AdditionalInputs", "CallSpec", "ConstantArgument", "Constraint", "Dim",
           "ExportGraphSignature", "ExportedProgram", "FlatArgsAdapter", "InputKind",
           "InputSpec", "InterpreterModule", "ModuleCallEntry", "ModuleCallSignature",
           "OutputKind", "OutputSpec", "SerializationError", "ShapesCollection",
           "TensorArgument", "UnflattenedModule", "ValueRange", "default_decompositions", "dims",
           "draft_export", "export", "load", "register_dataclass", "save", "unflatten"]


class _DimHint:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"DimHint({self.name})"  # torch's


class Dim:
    """A dynamic dimension for ``dynamic_shapes``: ``Dim("batch", min=1, max=64)``; dims of
    one name must be equal. ``Dim.AUTO``/``Dim.DYNAMIC``: dynamic, named for you;
    ``Dim.STATIC`` (or None): the example's size only."""

    AUTO = _DimHint("AUTO")
    DYNAMIC = _DimHint("DYNAMIC")
    STATIC = _DimHint("STATIC")

    def __init__(self, name: str, *, min: int | None = None, max: int | None = None):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Dim: name must be a Python identifier, got {name!r}")
        lower = 0 if min is None else min
        upper = math.inf if max is None else max
        if not isinstance(lower, int) or lower < 0 or not (upper == math.inf
                                                           or isinstance(upper, int)) \
                or upper < lower:
            raise ValueError(f"Dim {name!r}: expected 0 <= min <= max (ints), got min={min}, "
                             f"max={max}")
        self.__name__, self.min, self.max = name, lower, upper

    def __repr__(self) -> str:
        return f"Dim({self.__name__!r}, min={self.min}, max={self.max})"


def dims(*names: str, min: int | None = None, max: int | None = None) -> tuple[Dim, ...]:
    """Several Dims with the same bounds: ``batch, seq = dims("batch", "seq", max=512)``."""
    return tuple(Dim(name, min=min, max=max) for name in names)


def _is_tensor(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray))


def _by_name(dynamic_shapes: Any, names: list[str]) -> Any:
    """``dynamic_shapes`` given as a tuple/list in argument order as a dict by argument name
    (anything else as it is)."""
    if isinstance(dynamic_shapes, (tuple, list)):
        if len(dynamic_shapes) > len(names):
            raise ValueError(f"export: dynamic_shapes has {len(dynamic_shapes)} entries but "
                             f"the inputs are {names}")
        return dict(zip(names, dynamic_shapes))
    return dynamic_shapes


def _dynamic_dims(dynamic_shapes: Any, names: list[str], values: dict[str, Any]
                  ) -> dict[str, dict[int, Dim]]:
    """``dynamic_shapes`` (a dict by argument name, or a tuple/list in argument order; per
    tensor a dict axis -> Dim or a tuple of Dim/None) as name -> {axis: Dim}."""
    if dynamic_shapes is None:
        return {}
    dynamic_shapes = _by_name(dynamic_shapes, names)
    if not isinstance(dynamic_shapes, dict):
        raise TypeError(f"export: dynamic_shapes must be a dict, tuple or list, got "
                        f"{type(dynamic_shapes).__name__}")
    result: dict[str, dict[int, Dim]] = {}
    auto = 0
    for name, spec in dynamic_shapes.items():
        if name not in values:
            raise ValueError(f"export: dynamic_shapes names {name!r}, which is not an input "
                             f"(inputs: {names})")
        if spec is None:
            continue
        value = values[name]
        if not _is_tensor(value):
            raise ValueError(f"export: dynamic_shapes[{name!r}] is given but input {name!r} "
                             f"is a {type(value).__name__}, not a tensor")
        ndim = np.ndim(value.data if isinstance(value, Tensor) else value)
        if isinstance(spec, (tuple, list)):
            if len(spec) != ndim:
                raise ValueError(f"export: dynamic_shapes[{name!r}] has {len(spec)} entries "
                                 f"but {name!r} has {ndim} dims")
            spec = dict(enumerate(spec))
        if not isinstance(spec, dict):
            raise TypeError(f"export: dynamic_shapes[{name!r}] must be a dict axis -> Dim or a "
                            f"tuple, got {type(spec).__name__}")
        for axis, dim in spec.items():
            if not isinstance(axis, int) or not -ndim <= axis < ndim:
                raise ValueError(f"export: dynamic_shapes[{name!r}] has axis {axis!r}; "
                                 f"{name!r} has {ndim} dims")
            if dim is None or dim is Dim.STATIC:
                continue
            if dim is Dim.AUTO or dim is Dim.DYNAMIC:
                dim = Dim(f"s{auto}")
                auto += 1
            if not isinstance(dim, Dim):
                raise TypeError(f"export: dynamic_shapes[{name!r}][{axis}] must be a Dim or "
                                f"None, got {dim!r}")
            result.setdefault(name, {})[axis % ndim] = dim
    return result


def _changed(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    """``array`` with ``axis`` made ``size`` long (its slices repeated cyclically)."""
    return np.take(array, np.arange(size) % array.shape[axis], axis=axis)


class _KeepBuffers:
    """Buffers (BatchNorm's statistics) as they were, after the checking runs."""

    def __init__(self, module: Module):
        self.saved = [(owner, name, b, np.array(b.data, copy=True))
                      for owner in module.modules() for name, b in owner._buffers.items()
                      if b is not None]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, buffer, saved in self.saved:
            if owner._buffers.get(name) is not buffer:  # replaced by the run: the same Tensor
                setattr(owner, name, buffer)
            if buffer.data.shape == saved.shape and buffer.data.dtype == saved.dtype:
                np.copyto(buffer.data, saved)  # in place: a reference a user holds sees it
            else:
                buffer.data = saved


def _arrays(values: Any) -> list[np.ndarray]:
    out: list[np.ndarray] = []

    def walk(v):
        if isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif _is_tensor(v):
            out.append(np.asarray(v.data if isinstance(v, Tensor) else v))

    walk(values)
    return out


def restore_argument_names(graph, names: set[str]) -> None:
    """The placeholders fx names ``k_1`` for an argument fixed by concrete_args take back the
    argument's name (so it can still be passed by keyword)."""
    taken = {node.name for node in graph.nodes}
    for node in graph.nodes:
        name = node.target.removesuffix("_1") if node.op == "placeholder" else None
        if name in names:
            node.target = name
            if name not in taken:
                node.name = name
                graph._graph_namespace._used_names.add(name)  # never given out again


def _is_structured(value: Any) -> bool:
    """Whether an input is a pytree container (list, tuple, dict, NamedTuple, registered
    dataclass or node) that export flattens into one input per leaf."""
    return value is not None and not _is_tensor(value) and not pytree.tree_is_leaf(value)


def _key_name(key: Any) -> str:
    """One step of a pytree key path as it appears in a placeholder's name."""
    if isinstance(key, pytree.SequenceKey):
        return str(key.idx)
    if isinstance(key, pytree.MappingKey):
        return str(key.key)
    if isinstance(key, pytree.GetAttrKey):
        return key.name
    return str(key)


def _leaf_name(name: str, path: tuple, keyword: bool = False) -> str:
    """The placeholder name of the leaf at ``path`` in argument ``name`` (``d_a_0`` for
    ``d["a"][0]``), as torch.export names it; in a ``**kwargs`` argument (``keyword``) the
    path alone (``scale``, ``a_b``)."""
    parts = [] if keyword else [name]
    return re.sub(r"[^0-9a-zA-Z_]", "_", "_".join([*parts, *(_key_name(k) for k in path)]))


class _ExportTracer(Tracer):
    """The Tracer of export: an argument that is a pytree container is given to ``forward``
    as that container with one placeholder per leaf (a tensor leaf a Proxy, another value
    specialised: checked when called), instead of one placeholder for the whole argument.
    Buffers are Proxies and ``+=`` is recorded in place, so the updates a forward makes to its
    buffers are in the program (torch.export's non-strict tracing)."""

    proxy_buffer_attributes = True
    inplace_operators = True

    def __init__(self, structured: dict[str, Any], var_keyword: str | None = None):
        super().__init__()
        self.structured = structured  # argument name -> its example value
        self.leaf_names: dict[str, tuple[str, tuple]] = {}  # placeholder -> (argument, path)
        self.var_keyword = var_keyword  # the name of forward's ``**kwargs``, if any

    def specialize(self, name: str, value: Any, default: Any) -> Any:
        """An argument fixed by concrete_args: one placeholder ``name_1`` checked by
        ``_assert_specialized`` (dropped, or its placeholder renamed, once traced)."""
        node = self.graph.placeholder(f"{name}_1", default_value=default)
        self.create_node("call_function", _assert_specialized,
                         (node, value, f"{name} has been specialized to have value "
                                       f"{value!r} but got another value"), {})
        return value

    def var_argument(self, parameter: inspect.Parameter) -> Any:
        """``*args`` (a tuple) and ``**kwargs`` (a dict) are structured inputs: one
        placeholder per leaf (``args_0``, ``args_1``; a keyword's own name)."""
        return self.create_proxy("placeholder", parameter.name, (), {})

    def create_proxy(self, kind: str, target: Any, args: tuple, kwargs: dict, *rest, **kw):
        if kind != "placeholder" or target not in self.structured:
            return super().create_proxy(kind, target, args, kwargs, *rest, **kw)
        flat, spec = pytree.tree_flatten_with_path(self.structured[target])
        leaves = []
        for path, value in flat:
            name = _leaf_name(target, path, target == self.var_keyword)
            if _is_tensor(value):
                proxy = super().create_proxy("placeholder", name, (), {})
                self.leaf_names[proxy.node.target] = (target, path)
                leaves.append(proxy)
                continue
            node = self.graph.placeholder(name)
            self.leaf_names[node.target] = (target, path)
            self.create_node("call_function", _assert_specialized, (
                node, value, f"Guard failed: {target}{pytree.keystr(path)} == {value!r}"), {})
            leaves.append(value)
        return pytree.tree_unflatten(leaves, spec)


def _keep_state_kinds(gm: GraphModule, root: Module, constants: list[str]) -> None:
    """GraphModule makes every tensor it copies from ``root`` a persistent buffer (torch.fx's);
    the exported program keeps ``root``'s kinds: a non-persistent buffer stays one, a plain
    tensor attribute is a constant, and a tensor the forward made (the tracer's
    ``_tensor_constant0``) a constant named ``lifted_tensor_0`` (torch.export's)."""
    lifted = 0
    for node in gm.graph.nodes:
        if node.op != "get_attr":
            continue
        *prefix, field = node.target.split(".")
        owner = root.get_submodule(".".join(prefix))
        copied = gm.get_submodule(".".join(prefix))
        if field not in copied._buffers or field in owner._buffers:
            if field in owner._non_persistent:
                copied._non_persistent.add(field)
            continue
        value = copied._buffers.pop(field)
        if not prefix and field in constants:
            field = node.target = f"lifted_tensor_{lifted}"
            lifted += 1
        object.__setattr__(copied, field, value)
    gm.recompile()


class _ArgsTypeError(TypeError, RuntimeError):
    """``export``'s example args not given as a tuple (torch's UserError, a RuntimeError)."""


def export(mod: Module, args: tuple, kwargs: dict | None = None, *,
           dynamic_shapes: Any = None, strict: bool = False,
           preserve_module_call_signature: tuple = ()) -> ExportedProgram:
    """torch.export.export: ``mod`` traced (dlpy.fx) for the example ``args``/``kwargs``.
    ``dynamic_shapes``: which dims may change (see Dim; or a ShapesCollection, or an
    AdditionalInputs, whose added inputs the program is then checked to accept); every other
    dim of a tensor input is static. A ``forward(self, *args, **kwargs)`` takes each leaf of
    ``args`` as ``args_0``, ``args_1``..., each keyword by its name. ``strict=True`` also
    checks that the traced program gives the module's own outputs on the example inputs (a
    difference means Python-side effects the trace cannot see)."""
    additional = dynamic_shapes if isinstance(dynamic_shapes, AdditionalInputs) else None
    if isinstance(dynamic_shapes, (AdditionalInputs, ShapesCollection)) \
            and isinstance(args, tuple):
        dynamic_shapes = dynamic_shapes.dynamic_shapes(mod, args, kwargs)
    program = _export(mod, args, kwargs, dynamic_shapes, strict)
    if additional is not None:
        additional.verify(program)
    return program


def _export(mod: Module, args: tuple, kwargs: dict | None, dynamic_shapes: Any,
            strict: bool) -> ExportedProgram:
    """``export`` for a ``dynamic_shapes`` in its plain form."""
    if not isinstance(mod, Module):
        raise TypeError(f"export: expected a dlpy.nn.Module, got {type(mod).__name__}")
    if not isinstance(args, tuple):
        raise _ArgsTypeError(f"export: args must be a tuple of example inputs, got "
                        f"{type(args).__name__} (write (x,) for one input)")
    kwargs = dict(kwargs or {})
    signature = inspect.signature(type(mod).forward)
    try:
        bound = signature.bind(mod, *args, **kwargs)
    except TypeError as error:
        raise TypeError(f"export: the example inputs do not match "
                        f"{type(mod).__name__}.forward{signature}: {error}") from None
    params = list(signature.parameters.values())[1:]
    values = {p.name: bound.arguments[p.name] for p in params if p.name in bound.arguments}
    forward_arg_names = _forward_arg_names(params, values)
    var_positional = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
    var_keyword = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    if var_positional is not None:
        values[var_positional] = tuple(values.get(var_positional, ()))
    if var_keyword is not None:
        values[var_keyword] = dict(values.get(var_keyword, {}))
    before = len(args) - len(values.get(var_positional, ()))  # positions before ``*args``
    for name, value in values.items():
        for leaf in pytree.tree_leaves(value):
            if dataclasses.is_dataclass(leaf) and not isinstance(leaf, type):
                raise ValueError(f"export: input {name!r} holds a {type(leaf).__name__}, an "
                                 f"unregistered dataclass. Unsupported input type "
                                 f"{type(leaf)}: use torch.export.register_dataclass")
    structured = {k: v for k, v in values.items()
                  if _is_structured(v) or k in (var_positional, var_keyword)}
    concrete = {p.name: p.default for p in params if p.name not in values}
    concrete.update({k: v for k, v in values.items()
                     if not _is_tensor(v) and k not in structured})
    dynamic_shapes = _structured_dynamic_shapes(dynamic_shapes, [p.name for p in params],
                                                values, structured, var_keyword)
    tracer = _ExportTracer(structured, var_keyword)
    graph = tracer.trace(mod, concrete)
    # every placeholder's value in the example and where it is in (args, kwargs)
    positions = {p.name: ((pytree.SequenceKey(0), pytree.SequenceKey(i))
                          if i < len(args) and p.kind in (p.POSITIONAL_ONLY,
                                                          p.POSITIONAL_OR_KEYWORD)
                          else (pytree.SequenceKey(1), pytree.MappingKey(p.name)))
                 for i, p in enumerate(params) if p.name in values}
    leaf_values = {k: v for k, v in values.items() if k not in structured}
    paths = {k: positions[k] for k in leaf_values}
    for placeholder, (name, path) in tracer.leaf_names.items():
        leaf_values[placeholder] = pytree.key_get(values[name], path)
        if name == var_positional:  # args_i is the call's positional argument before + i
            paths[placeholder] = (pytree.SequenceKey(0), pytree.SequenceKey(
                before + path[0].idx), *path[1:])
        elif name == var_keyword:  # a keyword of **kwargs is one of the call's kwargs
            paths[placeholder] = (pytree.SequenceKey(1), *path)
        else:
            paths[placeholder] = positions[name] + tuple(path)
    # an argument left at its default is no input at all (as torch.export): drop its check
    specialised: dict[str, str] = {}  # placeholder -> argument name
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is _assert_specialized:
            placeholder = node.args[0]
            if placeholder.target in tracer.leaf_names:
                continue
            name = placeholder.target.removesuffix("_1")
            if name in values:
                specialised[placeholder.target] = name
            else:
                graph.erase_node(node)
                graph.erase_node(placeholder)
    restore_argument_names(graph, set(specialised.values()))
    values = leaf_values
    dynamic = _dynamic_dims(dynamic_shapes, list(values), values)
    output_leaves(graph)  # outputs pytree can flatten (registered dataclasses), else an error
    specialised = {name: name for name in specialised.values()}
    # tracer.root: mod, or for a mod that is a leaf layer the holder of its state
    gm = GraphModule(tracer.root, graph, type(mod).__name__)
    _keep_state_kinds(gm, tracer.root, tracer._tensor_constants)

    user_inputs, ranges, ordered = [], {}, []
    for node in graph.nodes:
        if node.op != "placeholder":
            continue
        name = specialised.get(node.target, node.target)
        value = values[name]
        ordered.append(name)
        if not _is_tensor(value):
            user_inputs.append(_UserInput(node.target, "constant", value=value))
            continue
        shape: list[int | str] = list(np.shape(value.data if isinstance(value, Tensor)
                                               else value))
        for axis, dim in dynamic.get(name, {}).items():
            size = shape[axis]
            if not dim.min <= size <= dim.max:
                raise ValueError(f"export: {name}.shape[{axis}] is {size}, outside "
                                 f"{dim.__name__}'s range [{dim.min}, {dim.max}]")
            known = ranges.get(dim.__name__)
            if known is not None and known != ValueRange(dim.min, dim.max):
                raise ValueError(f"export: two Dims named {dim.__name__!r} with different "
                                 f"ranges")
            ranges[dim.__name__] = ValueRange(dim.min, dim.max)
            shape[axis] = dim.__name__
        dtype = (value.data if isinstance(value, Tensor) else value).dtype.str
        user_inputs.append(_UserInput(node.target, "tensor", shape, dtype))
    traced = _check(mod, gm, args, kwargs, ordered, values, dynamic, strict)
    if any(getattr(type(n.target), "_is_custom_op", False) for n in graph.nodes):
        from dlpy.library import annotate_fake  # node.meta["val"] from the fake kernels

        annotate_fake(gm, [values[name] for name in ordered])
    order = [n for n, _ in mod.named_parameters()] + [n for n, _ in mod.named_buffers()]
    call_spec = CallSpec(pytree.tree_structure((args, kwargs)), pytree.tree_structure(traced))
    program = ExportedProgram(gm, user_inputs, ranges, (args, kwargs), order, call_spec,
                              [paths[name] for name in ordered])
    program.module_call_graph = [ModuleCallEntry("", ModuleCallSignature(
        [], [], call_spec.in_spec, call_spec.out_spec, forward_arg_names))] + [
        ModuleCallEntry(name) for name, _ in mod.named_modules(remove_duplicate=False) if name]
    return program


def _forward_arg_names(params: list[inspect.Parameter], values: dict[str, Any]) -> list[str]:
    """The names of the inputs given to forward, as torch.export lists them
    (``ModuleCallSignature.forward_arg_names``): ``*args`` as ``args_0``..., ``**kwargs`` by
    its keys."""
    names: list[str] = []
    for p in params:
        if p.name not in values:
            continue
        if p.kind is p.VAR_POSITIONAL:
            names += [f"{p.name}_{i}" for i in range(len(values[p.name]))]
        elif p.kind is p.VAR_KEYWORD:
            names += list(values[p.name])
        else:
            names.append(p.name)
    return names


def _structured_dynamic_shapes(dynamic_shapes: Any, names: list[str], values: dict[str, Any],
                               structured: dict[str, Any], var_keyword: str | None = None
                               ) -> Any:
    """``dynamic_shapes`` with the spec of each structured input (given in the input's own
    structure: ``{"xs": [{0: batch}, None]}``, ``{"o": Inp(a={0: batch}, b=None)}``) spread
    over its leaves' placeholder names (``{"xs_0": {0: batch}}``)."""
    if not structured or dynamic_shapes is None:
        return dynamic_shapes
    dynamic_shapes = _by_name(dynamic_shapes, names)
    if not isinstance(dynamic_shapes, dict):
        return dynamic_shapes
    result = {}
    for name, spec in dynamic_shapes.items():
        if name not in structured:
            result[name] = spec
        elif spec is not None:
            _spread(name, (), structured[name], spec, result, name == var_keyword)
    return result


def _spread(name: str, path: tuple, value: Any, spec: Any, out: dict,
            keyword: bool = False) -> None:
    """Put the per-tensor specs of ``spec`` (the structure of ``value``) in ``out``, by
    the placeholder names of ``value``'s tensor leaves (``keyword``: ``value`` is
    ``**kwargs``, its leaves named without the argument's name)."""
    if spec is None:
        return
    if not _is_structured(value):
        if _is_tensor(value):
            out[_leaf_name(name, path, keyword)] = spec
        return
    handler = pytree.SUPPORTED_NODES[pytree._node_type(value)]
    children, context = handler.flatten_fn(value)
    keyed = handler.flatten_with_keys_fn(value)[0] if handler.flatten_with_keys_fn else \
        [(pytree.SequenceKey(i), child) for i, child in enumerate(children)]
    if isinstance(value, dict) and isinstance(spec, dict):
        parts = [spec.get(k) for k in context]
    elif type(spec) is type(value) or isinstance(spec, (tuple, list)) \
            and isinstance(value, (tuple, list)):
        parts = pytree.SUPPORTED_NODES[pytree._node_type(spec)].flatten_fn(spec)[0]
    else:
        raise ArgError(f"export: dynamic_shapes[{name!r}]{pytree.keystr(path)} must have "
                         f"the structure of the input ({type(value).__name__}), got "
                         f"{type(spec).__name__}")
    if len(parts) != len(children):
        raise ArgError(f"export: dynamic_shapes[{name!r}]{pytree.keystr(path)} has "
                         f"{len(parts)} entries but the input has {len(children)}")
    for (key, child), part in zip(keyed, parts):
        _spread(name, (*path, key), child, part, out, keyword)


def _check(mod: Module, gm: GraphModule, args: tuple, kwargs: dict, ordered: list[str],
           values: dict, dynamic: dict[str, dict[int, Dim]], strict: bool) -> Any:
    """Run the program on the example inputs (and the module, when strict), then with each
    dynamic dim changed; buffers are put back afterwards. Returns the example's outputs."""
    # the runs update copies of the inputs: export leaves the example inputs as they were
    values = {name: Tensor(np.array(v.data, copy=True)) if isinstance(v, Tensor)
              else np.array(v, copy=True) if isinstance(v, np.ndarray) else v
              for name, v in values.items()}
    with no_grad(), _KeepBuffers(mod):
        traced = gm(*(values[name] for name in ordered))
        if strict:
            eager = mod(*args, **kwargs)
            for a, b in zip(_arrays(traced), _arrays(eager)):
                if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=1e-6,
                                                         equal_nan=True):
                    raise ValueError(f"export(strict=True): the traced program's outputs differ "
                                     f"from {type(mod).__name__}'s on the example inputs "
                                     f"(Python-side effects or data-dependent values the "
                                     f"trace cannot see)")
        if not dynamic:
            return traced
        sizes: dict[str, tuple[int, int]] = {}
        for name, axes in dynamic.items():
            value = values[name]
            for axis, dim in axes.items():
                size = np.shape(value.data if isinstance(value, Tensor) else value)[axis]
                other = size + 1 if size + 1 <= dim.max else size - 1
                if other >= max(dim.min, 1) and dim.__name__ not in sizes:
                    sizes[dim.__name__] = (size, other)
        if not sizes:
            return traced
        changed = {}
        for name, value in values.items():
            if name in dynamic:
                array = value.data if isinstance(value, Tensor) else value
                for axis, dim in dynamic[name].items():
                    if dim.__name__ in sizes:
                        array = _changed(array, axis, sizes[dim.__name__][1])
                value = Tensor(array) if isinstance(value, Tensor) else array
            changed[name] = value
        try:
            gm(*(changed[name] for name in ordered))
        except Exception as error:
            shown = ", ".join(f"{k} from {a} to {b}" for k, (a, b) in sizes.items())
            raise ValueError(f"export: Constraints violated: {type(mod).__name__} does not run "
                             f"with dynamic dims changed ({shown}): {type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}. Mark "
                             f"those dims static (None) in dynamic_shapes") from None
    return traced


def save(ep: ExportedProgram, f: Any, *, extra_files: dict[str, str | bytes] | None = None
         ) -> None:
    """Write ``ep`` to ``f`` (a path or a binary file): a zip of the node table as JSON, the
    generated code and the weights as safetensors (see dlpy.export._serialize)."""
    if not isinstance(ep, ExportedProgram):
        raise TypeError(f"dlpy.export.save: expected an ExportedProgram, got "
                        f"{type(ep).__name__}")
    meta = {"kind": "exported_program", "inputs": [u.to_json() for u in ep._user_inputs],
            "range_constraints": {k: [v.lower, None if v.upper == math.inf else v.upper]
                                  for k, v in ep.range_constraints.items()},
            "state_order": ep._state_order,
            # run_decompositions' programs load decomposed (and functional)
            "decomposed": sorted(ep._decomposed), "functional": ep._functional}
    write_archive(f, ep._root, meta, extra_files)


def register_dataclass(cls: type, *, serialized_type_name: str | None = None) -> None:
    """Lets instances of the dataclass ``cls`` be inputs and outputs of exported programs
    (torch.export.register_dataclass): registers it as a pytree node whose children are its
    fields (``dlpy.utils._pytree.register_dataclass``)."""
    from dlpy.utils._pytree import register_dataclass as _register

    _register(cls, serialized_type_name=serialized_type_name)


def load(f: Any, *, extra_files: dict | None = None) -> ExportedProgram:
    """The ExportedProgram saved in ``f`` by ``save`` (or ``dlpy.jit.save``); every node is
    checked against dlpy's allow-list (SerializationError when the file was tampered with).
    ``extra_files``: a dict whose names are filled with the text saved under them (str, as
    torch.export.load; ``dlpy.jit.load`` gives bytes)."""
    gm, meta = read_archive(f, extra_files)
    for name, content in (extra_files or {}).items():
        if isinstance(content, bytes):
            extra_files[name] = content.decode("utf-8")
    user_inputs, ranges = program_meta(gm, meta, str(getattr(f, "name", f)))
    order = meta.get("state_order", [])
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise SerializationError(f"load: {getattr(f, 'name', f)}: bad state_order (tampered "
                                 f"with)")
    program = ExportedProgram(gm, user_inputs, ranges, None, order)
    decomposed = meta.get("decomposed", [])
    if not isinstance(decomposed, list) or not all(isinstance(n, str) for n in decomposed):
        raise SerializationError(f"load: {getattr(f, 'name', f)}: bad decomposed ops (tampered "
                                 f"with)")
    program._decomposed, program._functional = set(decomposed), bool(meta.get("functional"))
    return program


def program_meta(gm: GraphModule, meta: dict, name: str
                 ) -> tuple[list[_UserInput], dict[str, ValueRange]]:
    """The input specs and range constraints stored beside a graph, checked against it."""
    def fail(message: str):
        raise SerializationError(f"load: {name}: {message} (not a program saved by dlpy, or "
                                 f"tampered with)")

    ranges = {}
    raw_ranges = meta.get("range_constraints", {})
    if not isinstance(raw_ranges, dict):
        fail("bad range_constraints")
    for key, bounds in raw_ranges.items():
        if not (isinstance(bounds, list) and len(bounds) == 2 and isinstance(bounds[0], int)
                and (bounds[1] is None or isinstance(bounds[1], int))):
            fail(f"bad range for dim {key!r}")
        ranges[key] = ValueRange(bounds[0], math.inf if bounds[1] is None else bounds[1])
    placeholders = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    raw_inputs = meta.get("inputs")
    if not isinstance(raw_inputs, list) or len(raw_inputs) != len(placeholders):
        fail("the input specs do not match the graph's placeholders")
    user_inputs = []
    for spec, placeholder in zip(raw_inputs, placeholders):
        if not isinstance(spec, dict) or spec.get("name") != placeholder \
                or spec.get("kind") not in ("tensor", "constant", "any") \
                or not isinstance(spec.get("shape"), list) \
                or not all(isinstance(d, int) or d in ranges for d in spec["shape"]):
            fail(f"bad input spec {spec!r:.80}")
        user_inputs.append(_UserInput(placeholder, spec["kind"], list(spec["shape"]),
                                      str(spec.get("dtype", ""))))
    return user_inputs, ranges



# torch.export's submodules, for ``from torch.export.graph_signature import InputKind`` and the
# like: modules of the names above (the same objects as ``dlpy.export.X``).
def _torch_submodule(name: str, doc: str, names: list[str]) -> types.ModuleType:
    module = types.ModuleType(f"{__name__}.{name}", doc)
    module.__all__ = names
    for key in names:
        setattr(module, key, globals()[key])
    sys.modules[module.__name__] = module
    return module


dynamic_shapes = _torch_submodule(
    "dynamic_shapes", "torch.export.dynamic_shapes: Dim, dims and the dynamic_shapes builders.",
    ["AdditionalInputs", "Constraint", "Dim", "ShapesCollection", "dims"])
exported_program = _torch_submodule(
    "exported_program", "torch.export.exported_program: ExportedProgram.",
    ["ExportedProgram", "ModuleCallEntry", "ModuleCallSignature", "default_decompositions"])
graph_signature = _torch_submodule(
    "graph_signature", "torch.export.graph_signature: the signature classes.",
    ["ConstantArgument", "ExportGraphSignature", "InputKind", "InputSpec", "OutputKind",
     "OutputSpec", "TensorArgument"])
# torch.export.unflatten the module is _unflatten's; the attribute stays the function, as torch's
sys.modules[f"{__name__}.unflatten"] = _unflatten_module
