"""torch.jit's deployment API for dlpy, on the export path (dlpy.fx graphs, the safe file
format of dlpy.export):

    traced = dlpy.jit.trace(model, x)     # TracedModule: .graph, .code, forward, save
    scripted = dlpy.jit.script(model)     # a symbolic trace: no TorchScript compiler
    frozen = dlpy.jit.freeze(scripted.eval())
    dlpy.jit.save(traced, "m.pt");  m = dlpy.jit.load("m.pt")

There is no TorchScript here: ``script`` traces ``forward`` symbolically (every argument a
placeholder), so Python control flow on tensor values is an error (use ``trace``, which
specialises such arguments to the example's, or ``dlpy.fx.wrap`` the function that branches).
``trace`` is also symbolic (dlpy.export.export on the example inputs), so a branch on a value
is an error there too, where torch.jit.trace would silently record the branch taken.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any, Final

import numpy as np

from dlpy.export._serialize import read_archive, resolve, write_archive
from dlpy.fx._symbolic_trace import TraceError, Tracer
from dlpy.fx.graph import Graph
from dlpy.fx.graph_module import GraphModule
from dlpy.nn.module import Module
from dlpy.ops import ArgError
from dlpy.tensor import Tensor, no_grad

__all__ = ["Final", "Future", "RecursiveScriptModule", "ScriptFunction", "ScriptModule",
           "TracedModule", "TracerWarning", "annotate", "export", "fork", "freeze", "ignore",
           "is_scripting", "is_tracing", "load", "save", "script", "trace", "unused", "wait"]

_ACTIVE = {"tracing": 0, "scripting": 0}


@contextlib.contextmanager
def _active(what: str) -> Iterator[None]:
    _ACTIVE[what] += 1
    try:
        yield
    finally:
        _ACTIVE[what] -= 1


class _SaveTypeError(TypeError, AttributeError):
    """jit.save of a module that is not a ScriptModule: a TypeError, and torch's
    AttributeError (it calls the module's ``save``)."""


class _FreezeTypeError(TypeError, RuntimeError):
    """jit.freeze of a module that is not a ScriptModule: a TypeError, and torch's
    RuntimeError."""


class TracerWarning(Warning):
    """torch.jit.TracerWarning: a trace may not generalise to other inputs."""


def is_tracing() -> bool:
    """True only while ``dlpy.jit.trace`` traces (a forward may take another branch then)."""
    return _ACTIVE["tracing"] > 0


def is_scripting() -> bool:
    """True only while ``dlpy.jit.script`` traces."""
    return _ACTIVE["scripting"] > 0


# ---------------------------------------------------------------------------- modules
class ScriptModule(GraphModule):
    """A compiled module: a GraphModule whose ``graph`` and ``code`` are dlpy.fx's; ``save``
    writes the safe format of ``dlpy.jit.save``."""

    @property
    def original_name(self) -> str:
        return type(self).__name__

    @property
    def inlined_graph(self) -> Graph:
        return self.graph

    def save(self, f: Any, _extra_files: dict | None = None) -> None:
        save(self, f, _extra_files)

    def __deepcopy__(self, memo):
        cls = next(t for t in type(self).__mro__ if t.__qualname__.split(".")[-1]
                   != "GraphModuleImpl")
        return _wrap(cls, super().__deepcopy__(memo), type(self).__name__)

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__}: a ScriptModule is not pickled; use "
                        f"dlpy.jit.save / dlpy.jit.load")


class TracedModule(ScriptModule):
    """What ``dlpy.jit.trace`` returns for a module."""


class RecursiveScriptModule(ScriptModule):
    """What ``dlpy.jit.script`` and ``dlpy.jit.load`` return."""


class ScriptFunction(ScriptModule):
    """A traced or scripted function (callable, with ``graph`` and ``code``)."""


def _wrap(cls: type, gm: GraphModule, name: str) -> ScriptModule:
    module = cls(gm, copy.deepcopy(gm.graph), name)
    object.__setattr__(module, "training", gm.training)
    return module


# ---------------------------------------------------------------------------- trace / script
def trace(func: Module | Callable, example_inputs: Any = None, optimize: Any = None,
          check_trace: bool = True, check_inputs: Any = None, check_tolerance: float = 1e-5,
          strict: bool = True, _force_outplace: bool = False, _module_class: Any = None,
          _compilation_unit: Any = None, example_kwarg_inputs: dict | None = None
          ) -> ScriptModule:
    """torch.jit.trace: a TracedModule of ``func`` (a Module: dlpy.export.export on the
    example inputs; a function: dlpy.fx.symbolic_trace). ``check_trace``: the traced program
    must give the module's outputs on the examples. Input shapes are not fixed (as torch)."""
    if isinstance(example_inputs, (Tensor, np.ndarray)):
        example_inputs = (example_inputs,)
    if example_inputs is None and example_kwarg_inputs is None:
        raise ValueError("jit.trace: give example_inputs (a tensor or a tuple of them) or "
                         "example_kwarg_inputs")
    if isinstance(example_inputs, list):  # torch takes a list of inputs as the tuple
        example_inputs = tuple(example_inputs)
    if example_inputs is not None and not isinstance(example_inputs, tuple):
        raise TypeError(f"jit.trace: example_inputs must be a Tensor or a tuple, got "
                        f"{type(example_inputs).__name__}")
    if isinstance(func, ScriptModule):
        return func
    with _active("tracing"):
        if isinstance(func, Module):
            from dlpy.export import export

            ep = export(func, example_inputs or (), example_kwarg_inputs, strict=check_trace)
            return _wrap(TracedModule, ep._root, type(func).__name__)
        if not callable(func):
            raise TypeError(f"jit.trace: expected a Module or a function, got "
                            f"{type(func).__name__}")
        gm = _symbolic(func, "trace")
        if check_trace:
            with no_grad():
                traced = gm(*(example_inputs or ()), **(example_kwarg_inputs or {}))
                eager = func(*(example_inputs or ()), **(example_kwarg_inputs or {}))
            _compare(traced, eager, check_tolerance, func)
        return _wrap(ScriptFunction, gm, getattr(func, "__name__", "function"))


def _compare(traced: Any, eager: Any, tolerance: float, func: Any) -> None:
    from dlpy.export import _arrays

    for a, b in zip(_arrays(traced), _arrays(eager)):
        if a.shape != b.shape or not np.allclose(a, b, rtol=tolerance, atol=tolerance):
            raise ValueError(f"jit.trace: the traced {getattr(func, '__name__', 'function')} "
                             f"gives other outputs than the original on the example inputs")


def _symbolic(root: Module | Callable, what: str) -> GraphModule:
    """A symbolic trace of ``root`` with every argument a placeholder; if that fails, once
    more with the arguments that have defaults fixed to them (optional masks); if that fails
    too and ``root`` is one of dlpy.nn's layers, the layer called as a leaf child is
    (``Tracer.trace_leaf_root``: nn.Linear, nn.LSTM)."""
    fn = type(root).forward if isinstance(root, Module) else root
    name = type(root).__name__ if isinstance(root, Module) else getattr(root, "__name__", "fn")
    leaf = Tracer().is_leaf_root(root)
    # a layer's own checks on a Proxy raise anything (BatchNorm's ValueError on x.ndim)
    failures = Exception if leaf else (TraceError, TypeError, NotImplementedError)
    try:
        graph = (tracer := Tracer())._trace_forward(root, None)
    except failures as first:
        params = list(inspect.signature(fn).parameters.values())
        defaults = {p.name: p.default for p in params if p.default is not p.empty}
        try:
            if not defaults:
                raise first
            graph = (tracer := Tracer())._trace_forward(root, defaults)
            from dlpy.export import restore_argument_names

            restore_argument_names(graph, set(defaults))
        except failures:
            if leaf:  # called as a leaf child is
                graph = (tracer := Tracer()).trace_leaf_root(root)
                return GraphModule(tracer.root, graph, name)
            raise TraceError(
                f"jit.{what}: {name} cannot be compiled: {first}. dlpy has no TorchScript "
                f"compiler; jit.{what} traces forward symbolically, so Python control flow on "
                f"tensor values is not supported. Move the branch into a function marked "
                f"dlpy.fx.wrap, or keep the module in eager mode") from first
    return GraphModule(tracer.root, graph, name)


def script(obj: Any, optimize: Any = None, _frames_up: int = 0, _rcb: Any = None,
           example_inputs: Any = None) -> ScriptModule:
    """torch.jit.script on a dlpy module or function: a symbolic trace (no TorchScript
    compiler). Arguments with defaults become placeholders with those defaults, or, when the
    forward cannot take a placeholder for them, fixed to the default."""
    if isinstance(obj, ScriptModule):
        return obj
    if not (isinstance(obj, Module) or isinstance(obj, types.FunctionType)):
        raise TypeError(f"jit.script: expected a dlpy Module or a function, got "
                        f"{type(obj).__name__}")
    with _active("scripting"):
        gm = _symbolic(obj, "script")
    if isinstance(obj, Module):
        return _wrap(RecursiveScriptModule, gm, type(obj).__name__)
    return _wrap(ScriptFunction, gm, obj.__name__)


# ---------------------------------------------------------------------------- decorators
def _mark(fn: Callable, mark: str) -> Callable:
    try:
        setattr(fn, f"_dlpy_jit_{mark}", True)
    except (AttributeError, TypeError):
        pass
    return fn


def ignore(drop: Any = False, **kwargs) -> Callable:
    """``@dlpy.jit.ignore`` / ``@dlpy.jit.ignore(drop=True)``: accepted; the function is
    returned unchanged (there is no compiler to leave it out of)."""
    if callable(drop):
        return _mark(drop, "ignore")
    return functools.partial(_mark, mark="ignore")


def unused(fn: Callable) -> Callable:
    """``@dlpy.jit.unused``: accepted, the function returned unchanged."""
    return _mark(fn, "unused")


def export(fn: Callable) -> Callable:
    """``@dlpy.jit.export``: accepted, the method returned unchanged (only forward is
    traced)."""
    return _mark(fn, "export")


def annotate(the_type: Any, the_value: Any) -> Any:
    """torch.jit.annotate: the value, unchanged."""
    return the_value


# ---------------------------------------------------------------------------- fork / wait
class Future:
    """torch.Future as ``fork`` returns it outside TorchScript: the call has already run."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def wait(self) -> Any:
        return self._value

    def value(self) -> Any:
        return self._value

    def done(self) -> bool:
        return True


def fork(func: Callable, *args, **kwargs) -> Future:
    """torch.jit.fork: ``func(*args, **kwargs)`` run now (as torch does in eager mode), its
    result in a Future for ``wait``."""
    return Future(func(*args, **kwargs))


def wait(future: Future) -> Any:
    """torch.jit.wait: the result of a ``fork``."""
    return future.wait()


# ---------------------------------------------------------------------------- files
def save(m: ScriptModule, f: Any, _extra_files: dict | None = None) -> None:
    """Write a ScriptModule to ``f`` in dlpy.export's safe format (JSON node table, generated
    code for reading, safetensors weights), with ``_extra_files`` (name -> str or bytes)."""
    if not isinstance(m, ScriptModule):
        raise _SaveTypeError(f"jit.save: expected a ScriptModule (from dlpy.jit.script or "
                             f"dlpy.jit.trace), got {type(m).__name__}")
    inputs = [{"name": n.target, "kind": "any", "shape": [], "dtype": ""}
              for n in m.graph.nodes if n.op == "placeholder"]
    write_archive(f, m, {"kind": "script_module", "inputs": inputs, "range_constraints": {}},
                  _extra_files)


def load(f: Any, map_location: Any = None, _extra_files: dict | None = None
         ) -> RecursiveScriptModule:
    """The ScriptModule saved in ``f`` (by jit.save or dlpy.export.save), every node checked
    against dlpy's allow-list; no pickle, no stored code is run. ``_extra_files``: a dict whose
    names are filled with the bytes saved under them."""
    from dlpy.export import program_meta

    gm, meta = read_archive(f, _extra_files)
    program_meta(gm, meta, str(getattr(f, "name", f)))
    return _wrap(RecursiveScriptModule, gm, type(gm).__name__)


# ---------------------------------------------------------------------------- freezing
_RANDOM = ("rand", "dropout", "bernoulli", "normal", "multinomial", "poisson", "binomial",
           "rrelu")


def _frozen_leaf(module: Module) -> Module:
    """A copy of a leaf layer whose parameters and buffers are plain constants."""
    module = copy.deepcopy(module)
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            del m._parameters[name]
            object.__setattr__(m, name, None if p is None else Tensor(p.data.copy()))
        for name, b in list(m._buffers.items()):
            del m._buffers[name]
            m._non_persistent.discard(name)
            object.__setattr__(m, name, b)
    return module


def freeze(mod: ScriptModule, preserved_attrs: list[str] | None = None,
           optimize_numerics: bool = True) -> RecursiveScriptModule:
    """torch.jit.freeze: a copy of an eval-mode ScriptModule whose parameters and buffers are
    constants: the graph's get_attr nodes are replaced by the values (no parameters are left),
    and nodes computed only from constants are computed once (random ones excepted)."""
    if not isinstance(mod, ScriptModule):
        raise _FreezeTypeError(f"jit.freeze: expected a ScriptModule (use dlpy.jit.script or "
                               f"dlpy.jit.trace first), got {type(mod).__name__}")
    if mod.training:
        raise ArgError("jit.freeze: freezing is only implemented for modules in eval mode; "
                       "call .eval() on the module first")
    preserved = set(preserved_attrs or ())
    graph = copy.deepcopy(mod.graph)
    root = Module()
    object.__setattr__(root, "training", False)
    for node in list(graph.nodes):
        if node.op == "call_module" or node.op == "get_attr" and isinstance(
                resolve(mod, node.target), Module):  # (the layer a traced leaf root calls)
            *prefix, field = node.target.split(".")
            owner = root
            for atom in prefix:
                if atom not in owner._modules:
                    setattr(owner, atom, Module())
                owner = owner._modules[atom]
            if field not in owner._modules:
                setattr(owner, field, _frozen_leaf(resolve(mod, node.target)))
        elif node.op == "get_attr" and node.target in preserved:
            setattr(root, node.target.replace(".", "_"), resolve(mod, node.target))
            node.target = node.target.replace(".", "_")
        elif node.op == "get_attr":
            value = resolve(mod, node.target)
            if isinstance(value, Tensor):
                value = Tensor(value.data.copy())
            elif isinstance(value, np.ndarray):
                value = value.copy()
            _replace(node, value)
    for node in list(graph.nodes):
        if node.op in ("call_function", "call_method") and not node.all_input_nodes \
                and not any(r in str(getattr(node.target, "__name__", node.target))
                            for r in _RANDOM):
            args, kwargs = node.args, node.kwargs
            with no_grad():
                value = node.target(*args, **kwargs) if node.op == "call_function" \
                    else getattr(args[0], node.target)(*args[1:], **kwargs)
            _replace(node, value)
    frozen = RecursiveScriptModule(root, graph, type(mod).__name__)
    object.__setattr__(frozen, "training", False)
    return frozen



def _replace(node, value: Any) -> None:
    for user in list(node.users):
        user.replace_input_with(node, value)
    node.graph.erase_node(node)
