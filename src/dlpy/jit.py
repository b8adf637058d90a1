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

import builtins
import collections.abc
import contextlib
import copy
import functools
import inspect
import itertools
import numbers
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Final, NamedTuple

import numpy as np

from dlpy.export._serialize import read_archive, resolve, write_archive
from dlpy.fx._symbolic_trace import TraceError, Tracer
from dlpy.fx.graph import Graph
from dlpy.fx.graph_module import GraphModule
from dlpy.nn.module import Module
from dlpy.ops import ArgError
from dlpy.tensor import Tensor, no_grad

__all__ = ["Attribute", "Error", "Final", "Future", "RecursiveScriptModule", "ScriptFunction",
           "ScriptModule", "ScriptWarning", "TopLevelTracedModule", "TracedModule",
           "TracerWarning", "TracingCheckError", "annotate", "enable_onednn_fusion", "export",
           "fork", "freeze", "fuser", "ignore", "interface", "is_scripting", "is_tracing",
           "isinstance", "last_executed_optimized_graph", "load", "onednn_fusion_enabled",
           "optimize_for_inference", "optimized_execution", "run_frozen_optimizations", "save",
           "script", "script_if_tracing", "set_fusion_strategy", "strict_fusion", "trace",
           "trace_module", "unused", "wait"]

_isinstance = builtins.isinstance  # (this module's ``isinstance`` is torch.jit.isinstance)

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


class ScriptWarning(Warning):
    """torch.jit.ScriptWarning: a warning about scripted code."""


class Error(Exception):
    """torch.jit.Error: the error a TorchScript program raises (torch's JIT exception)."""


class TracingCheckError(Exception):
    """torch.jit.TracingCheckError: a traced function's check (``check_trace``) failed."""

    def __init__(self, graph_diff_error: str | None, tensor_compare_error: str | None,
                 extra_msg: str | None = None) -> None:
        self.message = "Tracing failed sanity checks!\n"
        if extra_msg is not None:
            self.message += extra_msg + "\n"
        if graph_diff_error is not None:
            self.message += "ERROR: Graphs differed across invocations!\n" + graph_diff_error
        if tensor_compare_error is not None:
            self.message += ("ERROR: Tensor-valued Constant nodes differed in value across "
                             "invocations. This often indicates that the tracer has encountered "
                             "untraceable code.\n" + tensor_compare_error)
        super().__init__(self.message)


class _ModuleArgError(TypeError, AttributeError):
    """A jit function given something that is not the module it needs: a TypeError, and
    torch's AttributeError."""


class _ScriptArgError(TypeError, RuntimeError):
    """A jit function given a module that is not a ScriptModule: a TypeError, and torch's
    RuntimeError."""


class Attribute(NamedTuple):
    """torch.jit.Attribute(value, type): outside TorchScript, the pair (a ScriptModule's
    attribute declared with a type)."""

    value: Any
    type: Any


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

    def recompile(self):
        python_code = super().recompile()
        if self.__dict__.get("_dlpy_variants") is not None:
            _dispatch_variants(self)
        return python_code

    def __deepcopy__(self, memo):
        clone = super().__deepcopy__(memo)  # (first: the variants' module shares its copies)
        return _wrap(self._kind(), clone, type(self).__name__,
                     copy.deepcopy(self.__dict__.get("_dlpy_variants"), memo))

    def __copy__(self):
        return _wrap(self._kind(), super().__copy__(), type(self).__name__,
                     self.__dict__.get("_dlpy_variants"))

    def _kind(self) -> type:
        """TracedModule, RecursiveScriptModule...: the class below this one's own."""
        return next(t for t in type(self).__mro__ if t.__qualname__.split(".")[-1]
                    != "GraphModuleImpl")

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__}: a ScriptModule is not pickled; use "
                        f"dlpy.jit.save / dlpy.jit.load")


class TracedModule(ScriptModule):
    """What ``dlpy.jit.trace`` returns for a module."""


class RecursiveScriptModule(ScriptModule):
    """What ``dlpy.jit.script`` and ``dlpy.jit.load`` return."""


class ScriptFunction(ScriptModule):
    """A traced or scripted function (callable, with ``graph`` and ``code``)."""


def _wrap(cls: type, gm: GraphModule, name: str, variants: _Variants | None = None
          ) -> ScriptModule:
    module = cls(gm, copy.deepcopy(gm.graph), name)
    object.__setattr__(module, "training", gm.training)
    variants = variants or gm.__dict__.get("_dlpy_variants")
    if variants is not None:
        object.__setattr__(module, "_dlpy_variants", variants)
        _dispatch_variants(module)
        for graph in variants.saved.values():  # (every weight of a loaded one: torch's)
            _install_attributes(module, graph, variants.root)
    return module


_MAX_PATTERN_ARGUMENTS = 6  # jit.save stores every pattern of at most this many arguments


class _Variants:
    """The arguments a scripted module's graph was traced for, and the graphs for other calls.

    dlpy has no TorchScript compiler: ``script`` traces forward once. An argument that may be
    None (``mask: Optional[Tensor] = None``) was a placeholder there, so a branch such as
    ``if mask is not None`` took its "given" side; a call with None must not run that graph.
    Each call's pattern (which of these arguments are None) picks a graph traced for it, as
    TorchScript's compiled branches would (``mode`` "presence"). When forward could only be
    traced with its defaulted arguments fixed (``if flag:`` on a bool), other values of them
    get graphs traced with those values (``mode`` "value"). ``jit.save`` traces and stores
    every pattern (``patterns``), which a loaded module runs from ``saved``; a call that needs
    a graph neither saved nor traceable (no Python module) is refused, never run on the wrong
    one."""

    def __init__(self, original: Module | None, names: tuple, base: tuple, mode: str,
                 signature: inspect.Signature, saved: dict | None = None,
                 root: Module | None = None, notes: dict | None = None):
        self.original, self.names, self.base, self.mode = original, names, base, mode
        self.signature = signature
        self.saved: dict = dict(saved or {})  # key -> Graph, read from an archive
        self.root = root  # holds the attributes of the saved graphs
        self.notes: dict = dict(notes or {})  # key or "limit" -> why the archive has no graph
        self.traced: dict = {}  # (key, training) -> Graph traced from ``original``
        self.forwards: dict = {}  # id(graph) -> its generated forward
        params = list(signature.parameters.values())
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
        # each name's (position or None, default): read from a call without binding it
        self._where = [(positional.index(n) if n in positional else None,
                        signature.parameters[n].default) for n in names]

    def key(self, args: tuple, kwargs: dict) -> tuple | None:
        """The call's pattern (None when it cannot be told: the base graph then decides)."""
        values = []
        for name, (position, default) in zip(self.names, self._where):
            if position is not None and position < len(args):
                values.append(args[position])
            else:
                values.append(kwargs.get(name, default))
        if self.mode == "presence":
            return tuple(v is None for v in values)
        key = tuple(_value_key(v) for v in values)
        return None if None in key else key  # (a list...: the base graph's guard answers)

    def concrete(self, key: tuple) -> dict:
        """The arguments fixed in the graph for ``key``."""
        if self.mode == "presence":
            return {n: None for n, absent in zip(self.names, key) if absent}
        return {n: k[1] for n, k in zip(self.names, key) if k != ("tensor",)}

    def patterns(self) -> list[tuple] | None:
        """Every pattern jit.save stores a graph for, the base first: each optional argument
        None or given ("presence"); each bool argument both values and each None default
        None or a tensor ("value"; other values stay fixed). None past the cap."""
        if self.mode == "presence":
            choices = [(False, True)] * len(self.names)
        else:
            choices = [(b, ("bool", not b[1])) if b[0] == "bool" else (b, ("tensor",))
                       if b == ("NoneType", None) else (b,) for b in self.base]
        if sum(len(c) > 1 for c in choices) > _MAX_PATTERN_ARGUMENTS:
            return None
        return list(itertools.product(*choices))

    def forward_for(self, module: ScriptModule, key: tuple, name: str) -> Callable:
        graph = self.graph_for(module, key, name)
        installed = module.__dict__.setdefault("_dlpy_installed", set())
        if id(graph) not in installed:  # (a branch may use attributes the first graph did not)
            _install_attributes(module, graph, self.root if graph is self.saved.get(key)
                                else self.original)
            installed.add(id(graph))
        fn = self.forwards.get(id(graph))
        if fn is None:
            from dlpy.fx.graph_module import _exec_with_source

            python_code = graph.python_code(root_module="self")
            _exec_with_source(python_code.src, python_code.globals)
            fn = self.forwards[id(graph)] = python_code.globals["forward"]
        return fn

    def graph_for(self, module: ScriptModule, key: tuple, name: str) -> Graph:
        """The graph for ``key``: saved, or traced from the Python module in ``module``'s
        mode."""
        graph = self.saved.get(key, self.traced.get((key, module.training)))
        if graph is not None:
            return graph
        if self.original is None:
            raise TraceError(self._missing(key, name))
        from dlpy.export import restore_argument_names

        concrete = self.concrete(key)
        shared = {id(m) for m in module.modules()}
        modes = {m: m.training for m in self.original.modules() if id(m) not in shared}
        try:  # traced in the compiled module's mode (its own submodules follow it already)
            for m in modes:
                object.__setattr__(m, "training", module.training)
            with _active("scripting"):
                graph = _JitTracer()._trace_forward(self.original, concrete)
        finally:
            for m, mode in modes.items():
                object.__setattr__(m, "training", mode)
        restore_argument_names(graph, set(concrete))
        self.traced[key, module.training] = graph
        return graph

    def _missing(self, key: tuple, name: str) -> str:
        """Why a module without its Python module cannot run a call of pattern ``key``."""
        if self.mode == "presence":
            values = [None if absent else "a tensor" for absent in key]
        else:
            values = ["a tensor" if k == ("tensor",) else k[1] for k in key]
        known = [set(k[i] for k in (self.base, *self.saved)) for i in range(len(key))]
        unknown = [i for i, k in enumerate(key) if k not in known[i]] \
            or [i for i, k in enumerate(key) if k != self.base[i]]
        shown = ", ".join(f"{self.names[i]}={values[i]!r}".replace("'a tensor'", "a tensor")
                          for i in unknown)
        why = self.notes.get(key) or self.notes.get("limit")
        if why is None and self.mode == "value" and self.base[unknown[0]][0] != "bool" \
                and self.base[unknown[0]] != ("NoneType", None):
            default = self.base[unknown[0]][1]
            why = (f"{self.names[unknown[0]]} was fixed to its default {default!r} when the "
                   f"module was scripted (forward could not be traced with it an argument); "
                   f"jit.save stores graphs for both values of a bool argument and for an "
                   f"Optional one None or given, not for other values")
        why = why or ("the archive holds one graph (it was saved before jit.save stored a "
                      "graph for each pattern)" if not self.saved else "no graph was saved "
                      "for it")
        return (f"{name}: this compiled module was traced for other values of "
                f"{', '.join(self.names)} than the call's ({shown}), and it was loaded or "
                f"frozen without its Python module: {why}. dlpy has no TorchScript "
                f"compiler; script the Python module again")

    def to_archive(self, module: ScriptModule) -> tuple[dict, dict[str, Graph]]:
        """The meta entry and the graphs that jit.save stores: one graph for each pattern
        but the base (whose graph is the module's own); a pattern that cannot be traced is
        noted with the reason, for the loaded module's error."""
        patterns, graphs, notes = self.patterns(), {}, []
        entry = {"mode": self.mode, "names": list(self.names), "base": _key_json(self.base),
                 "graphs": [], "notes": notes, "limit": None}
        if patterns is None:
            varying = [n for n, k in zip(self.names, self.base) if self.mode == "presence"
                       or k[0] == "bool" or k == ("NoneType", None)]
            entry["limit"] = (f"jit.save stores a graph for every pattern of at most "
                              f"{_MAX_PATTERN_ARGUMENTS} optional or bool arguments, and "
                              f"forward has {len(varying)} ({', '.join(varying)}), so only "
                              f"the graph of the pattern it was scripted for was saved")
        for key in (patterns or [self.base])[1:]:
            try:
                graph = self.graph_for(module, key, type(module).__name__)
                _install_attributes(module, graph, self.root if graph is self.saved.get(key)
                                    else self.original)
            except Exception as error:  # noqa: BLE001 - anything user code raises on a Proxy
                notes.append([_key_json(key), f"that pattern could not be traced when it was "
                                              f"saved ({type(error).__name__}: {error})"])
                continue
            graphs[f"pattern_{len(graphs)}"] = graph
            entry["graphs"].append([_key_json(key), f"pattern_{len(graphs) - 1}"])
        return entry, graphs

    def copy(self, memo: dict | None = None) -> _Variants:
        """A copy whose Python module and saved graphs' attributes are copies (sharing
        ``memo`` with a module's deep copy); the traced forwards are rebuilt on its calls."""
        return _Variants(copy.deepcopy(self.original, memo), self.names, self.base, self.mode,
                         self.signature, self.saved, copy.deepcopy(self.root, memo),
                         self.notes)

    def __deepcopy__(self, memo):
        return self.copy(memo)


def _install_attributes(module: Module, graph: Graph, source: Module | None) -> None:
    """The submodules and tensors ``graph`` reads that ``module`` lacks, put there from
    ``source`` (the same objects)."""
    from dlpy.fx.graph_module import _copy_attr

    for node in graph.nodes:
        if node.op in ("get_attr", "call_module"):
            try:
                resolve(module, node.target)
            except (AttributeError, KeyError, ValueError):
                _copy_attr(source, module, node.target)


def _key_json(key: tuple) -> list:
    """A pattern as JSON: bools ("presence") or [type, value] / ["tensor"] ("value")."""
    return [k if _isinstance(k, bool) else list(k) for k in key]


def _key_from_json(raw: Any, mode: str, size: int) -> tuple | None:
    """The pattern ``_key_json`` wrote, or None when ``raw`` is not one."""
    if not (_isinstance(raw, list) and len(raw) == size):
        return None
    if mode == "presence":
        return tuple(raw) if all(type(k) is bool for k in raw) else None
    key = []
    for k in raw:
        if k == ["tensor"]:
            key.append(("tensor",))
        elif _isinstance(k, list) and len(k) == 2 and k[0] in ("bool", "int", "float", "str",
                                                                "NoneType") \
                and type(k[1]).__name__ == k[0]:
            key.append(tuple(k))
        else:
            return None
    return tuple(key)


def _keep_every_attribute(module: ScriptModule, root: Module) -> None:
    """The submodules, parameters and buffers of ``root`` that its graph does not use are the
    compiled module's too, in ``root``'s order (TorchScript keeps them all: its state_dict is
    the module's, and a branch traced later may use them)."""
    for table in ("_modules", "_parameters", "_buffers"):
        theirs, ours = getattr(root, table), getattr(module, table)
        if list(ours) == list(theirs):
            continue
        for name, value in theirs.items():
            if name not in ours:
                if table == "_buffers":
                    module.register_buffer(name, value,
                                           persistent=name not in root._non_persistent)
                else:
                    setattr(module, name, value)
        extra = [name for name in ours if name not in theirs]
        for name in [*theirs, *extra]:  # (the graph's constants after them)
            ours[name] = ours.pop(name)


def _value_key(value: Any) -> tuple | None:
    """An argument's part of a call's pattern in "value" mode (None: not a plain value)."""
    if _isinstance(value, Tensor):
        return ("tensor",)
    if value is None or type(value) in (bool, int, float, str):
        return (type(value).__name__, value)
    return None


def _dispatch_variants(module: ScriptModule) -> None:
    """Puts the pattern check in front of ``module``'s generated forward (its class is its
    own: GraphModule's)."""
    base = type(module).forward

    def forward(self, *args, **kwargs):
        variants = self.__dict__.get("_dlpy_variants")
        if variants is not None:
            key = variants.key(args, kwargs)
            if key is not None and key != variants.base:
                return variants.forward_for(self, key, type(self).__name__)(
                    self, *args, **kwargs)
        return base(self, *args, **kwargs)

    forward.__signature__ = inspect.signature(base)
    type(module).forward = forward


def _variants_of(root: Module, fixed: tuple) -> _Variants | None:
    """The _Variants of ``root``'s forward: the arguments that may be None (default None or
    Optional) when it was traced with every argument a placeholder; the ``fixed`` ones when
    some were fixed to their defaults. None when there are none."""
    signature = inspect.signature(type(root).forward)
    params = list(signature.parameters.values())[1:]  # (self)
    signature = signature.replace(parameters=params)
    if fixed:
        names = tuple(p.name for p in params if p.name in fixed)
        mode = "value"
    else:
        names = tuple(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                      and (p.default is None or "Optional" in str(p.annotation)
                           or "None" in str(p.annotation)))
        mode = "presence"
    if not names:
        return None
    if mode == "presence":
        base = (False,) * len(names)
    else:
        base = tuple(_value_key(signature.parameters[n].default) for n in names)
        if None in base:  # a default that is no plain value: its own guard answers
            return None
    return _Variants(root, names, base, mode, signature)


# ---------------------------------------------------------------------------- trace / script
def trace(func: Module | Callable, example_inputs: Any = None, optimize: Any = None,
          check_trace: bool = True, check_inputs: Any = None, check_tolerance: float = 1e-5,
          strict: bool = True, _force_outplace: bool = False, _module_class: Any = None,
          _compilation_unit: Any = None, example_kwarg_inputs: dict | None = None
          ) -> ScriptModule:
    """torch.jit.trace: a TracedModule of ``func`` (a Module: dlpy.export.export on the
    example inputs; a function: dlpy.fx.symbolic_trace). ``check_trace``: the traced program
    must give the module's outputs on the examples. Input shapes are not fixed (as torch)."""
    if _isinstance(example_inputs, (Tensor, np.ndarray)):
        example_inputs = (example_inputs,)
    if example_inputs is None and example_kwarg_inputs is None:
        raise ValueError("jit.trace: give example_inputs (a tensor or a tuple of them) or "
                         "example_kwarg_inputs")
    if _isinstance(example_inputs, list):  # torch takes a list of inputs as the tuple
        example_inputs = tuple(example_inputs)
    if example_inputs is not None and not _isinstance(example_inputs, tuple):
        raise TypeError(f"jit.trace: example_inputs must be a Tensor or a tuple, got "
                        f"{type(example_inputs).__name__}")
    if _isinstance(func, ScriptModule):
        return func
    with _active("tracing"):
        if _isinstance(func, Module):
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


class _JitTracer(Tracer):
    """jit's tracer: buffers are Proxies and updates to them are recorded (``self.count +=
    1`` runs at every call of the compiled module, as TorchScript's)."""

    proxy_buffer_attributes = True
    inplace_operators = True

    def call_module(self, m, forward: Callable, args: tuple, kwargs: dict) -> Any:
        """A compiled function that is not a submodule of what is compiled (a scripted
        function calling another, linear_operator's CG updates): traced through, as
        TorchScript inlines the call; any other module as Tracer.call_module."""
        if _isinstance(m, ScriptFunction):
            try:
                self.path_of_module(m)
            except NameError:
                return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)


def _symbolic(root: Module | Callable, what: str) -> GraphModule:
    return _symbolic_how(root, what)[0]


def _symbolic_how(root: Module | Callable, what: str) -> tuple[GraphModule, tuple | None]:
    """A symbolic trace of ``root`` with every argument a placeholder; if that fails, once
    more with the arguments whose defaults are bools or None fixed to them (``if flag:``,
    optional masks), then with every defaulted one fixed; if that fails too and ``root`` is one
    of dlpy.nn's layers, the layer called as a leaf child is (``Tracer.trace_leaf_root``:
    nn.Linear, nn.LSTM). With it: the names of the arguments fixed (None for a leaf)."""
    fn = type(root).forward if _isinstance(root, Module) else root
    name = type(root).__name__ if _isinstance(root, Module) else getattr(root, "__name__", "fn")
    leaf = Tracer().is_leaf_root(root)
    # a layer's own checks on a Proxy raise anything (BatchNorm's ValueError on x.ndim)
    failures = Exception if leaf else (TraceError, TypeError, NotImplementedError)
    try:
        graph = (tracer := _JitTracer())._trace_forward(root, None)
    except failures as first:
        params = list(inspect.signature(fn).parameters.values())
        defaults = {p.name: p.default for p in params if p.default is not p.empty}
        # (an int, float or str left a placeholder is as general as in the first trace)
        branching = {n: v for n, v in defaults.items() if v is None or _isinstance(v, bool)}
        attempts = [branching] if branching and branching != defaults else []
        for fixed in attempts + ([defaults] if defaults else []):
            try:
                graph = (tracer := _JitTracer())._trace_forward(root, fixed)
            except failures:
                continue
            from dlpy.export import restore_argument_names

            restore_argument_names(graph, set(fixed))
            return GraphModule(tracer.root, graph, name), tuple(fixed)
        if leaf:  # called as a leaf child is
            graph = (tracer := _JitTracer()).trace_leaf_root(root)
            return GraphModule(tracer.root, graph, name), None
        raise TraceError(
            f"jit.{what}: {name} cannot be compiled: {first}. dlpy has no TorchScript "
            f"compiler; jit.{what} traces forward symbolically, so Python control flow on "
            f"tensor values is not supported. Move the branch into a function marked "
            f"dlpy.fx.wrap, or keep the module in eager mode") from first
    return GraphModule(tracer.root, graph, name), ()


def _script_function(fn: types.FunctionType) -> GraphModule:
    """jit.script of a function: its symbolic trace with every argument a placeholder, when
    every argument is a Tensor (no default, no annotation but Tensor). One that takes other
    values (``dim: int = -1``, ``keepdim: bool = False``: TorchScript specialises nothing on
    them, and a Proxy in ``if keepdim is False`` would silently take one branch) or that cannot
    be traced (Python control flow on a tensor's value: ``if torch.all(k == 0)``, which
    TorchScript compiles) becomes a graph of one call of the Python function, with the
    arguments it is given: it runs eagerly, giving what TorchScript's compiled code gives."""
    params = list(inspect.signature(fn).parameters.values())
    first: Exception | None = None
    if all(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
           and (p.annotation is p.empty or p.annotation is Tensor
                or str(p.annotation).rpartition(".")[2] == "Tensor") for p in params):
        try:
            graph = (tracer := _JitTracer())._trace_forward(fn, None)
            return GraphModule(tracer.root, graph, fn.__name__)
        except Exception as error:  # noqa: BLE001 - anything a Proxy meets in user code
            first = error
    graph, positional, keyword = Graph(), [], {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TraceError(f"jit.script: {fn.__name__} cannot be compiled: *args and "
                             f"**kwargs parameters are not supported") from first
        node = graph.placeholder(p.name, default_value=inspect.Signature.empty
                                 if p.default is p.empty else p.default)
        if p.kind == p.KEYWORD_ONLY:
            keyword[p.name] = node
        else:
            positional.append(node)
    graph.output(graph.call_function(fn, tuple(positional), keyword))
    return GraphModule(Module(), graph, fn.__name__)


def script(obj: Any, optimize: Any = None, _frames_up: int = 0, _rcb: Any = None,
           example_inputs: Any = None) -> ScriptModule:
    """torch.jit.script on a dlpy module or function: a symbolic trace (no TorchScript
    compiler). A module's arguments with defaults become placeholders with those defaults,
    or, when the forward cannot take a placeholder for them, fixed to the default; a function
    that cannot be traced runs eagerly (``_script_function``)."""
    if _isinstance(obj, ScriptModule):
        return obj
    if inspect.isclass(obj) and not issubclass(obj, Module):
        return obj  # a TorchScript class (a dataclass, an enum): torch hands the class back
    if not (_isinstance(obj, Module) or _isinstance(obj, types.FunctionType)):
        raise TypeError(f"jit.script: expected a dlpy Module or a function, got "
                        f"{type(obj).__name__}")
    with _active("scripting"):
        if _isinstance(obj, Module):
            gm, fixed = _symbolic_how(obj, "script")
        else:
            gm = _script_function(obj)
    if _isinstance(obj, Module):
        module = _wrap(RecursiveScriptModule, gm, type(obj).__name__,
                       None if fixed is None else _variants_of(obj, fixed))
        if fixed is not None:
            _keep_every_attribute(module, obj)
        return module
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
# torch.jit.Future is torch.futures.Future (dlpy/futures.py): fork gives a completed one
from dlpy.futures import Future  # noqa: E402


def fork(func: Callable, *args, **kwargs) -> Future:
    """torch.jit.fork: ``func(*args, **kwargs)`` run now (as torch does in eager mode), its
    result in a Future for ``wait``."""
    future = Future()
    future.set_result(func(*args, **kwargs))
    return future


def wait(future: Future) -> Any:
    """torch.jit.wait: the result of a ``fork``."""
    return future.wait()


# ---------------------------------------------------------------------------- files
def save(m: ScriptModule, f: Any, _extra_files: dict | None = None) -> None:
    """Write a ScriptModule to ``f`` in dlpy.export's safe format (JSON node table, generated
    code for reading, safetensors weights), with ``_extra_files`` (name -> str or bytes)."""
    if not _isinstance(m, ScriptModule):
        raise _SaveTypeError(f"jit.save: expected a ScriptModule (from dlpy.jit.script or "
                             f"dlpy.jit.trace), got {type(m).__name__}")
    inputs = [{"name": n.target, "kind": "any", "shape": [], "dtype": ""}
              for n in m.graph.nodes if n.op == "placeholder"]
    meta = {"kind": "script_module", "inputs": inputs, "range_constraints": {}}
    variants, graphs = m.__dict__.get("_dlpy_variants"), None
    if variants is not None:  # a graph for each pattern of the optional (or bool) arguments
        if variants.mode == "presence":
            meta["traced_given"] = list(variants.names)  # (what older dlpy reads: the base's)
        meta["patterns"], graphs = variants.to_archive(m)
    write_archive(f, m, meta, _extra_files, graphs)


def load(f: Any, map_location: Any = None, _extra_files: dict | None = None
         ) -> RecursiveScriptModule:
    """The ScriptModule saved in ``f`` (by jit.save or dlpy.export.save), every node checked
    against dlpy's allow-list; no pickle, no stored code is run. ``_extra_files``: a dict whose
    names are filled with the bytes saved under them."""
    from dlpy.export import program_meta

    graphs: dict = {}
    gm, meta = read_archive(f, _extra_files, graphs)
    where = str(getattr(f, "name", f))
    program_meta(gm, meta, where)
    # (an archive of a dlpy that stored one graph has traced_given alone)
    variants = _loaded_variants(gm, meta.get("traced_given"), where)
    if "patterns" in meta:
        variants = _archive_variants(gm, meta["patterns"], graphs, where, variants)
    return _wrap(RecursiveScriptModule, gm, type(gm).__name__, variants)


def _forward_signature(gm: GraphModule) -> inspect.Signature:
    signature = inspect.signature(type(gm).forward)
    return signature.replace(parameters=list(signature.parameters.values())[1:])


def _loaded_variants(gm: GraphModule, names: Any, where: str) -> _Variants | None:
    """The guard of a loaded module whose graph was traced with ``names`` given (not None)."""
    if names is None:
        return None
    signature = _forward_signature(gm)
    if not (_isinstance(names, list) and names and all(
            _isinstance(n, str) and n in signature.parameters for n in names)):
        from dlpy.export import SerializationError

        raise SerializationError(f"load: {where}: bad traced_given {names!r} (not a program "
                                 f"saved by dlpy, or tampered with)")
    return _Variants(None, tuple(names), (False,) * len(names), "presence", signature)


def _archive_variants(gm: GraphModule, entry: Any, graphs: dict, where: str,
                      given: _Variants | None) -> _Variants:
    """The _Variants of a loaded module from the meta entry ``_Variants.to_archive`` wrote
    and the graphs read beside it, every part checked (``given``: from the traced_given
    entry written beside a "presence" one)."""
    from dlpy.export import SerializationError

    def fail(what: str):
        raise SerializationError(f"load: {where}: bad patterns ({what}) (not a program saved "
                                 f"by dlpy, or tampered with)")

    signature = _forward_signature(gm)
    if not _isinstance(entry, dict) or entry.get("mode") not in ("presence", "value"):
        fail("not a table with a mode")
    mode, names = entry["mode"], entry.get("names")
    if not (_isinstance(names, list) and names and all(
            _isinstance(n, str) and n in signature.parameters for n in names)):
        fail(f"names {names!r:.80}")
    if (given is None) != (mode == "value") or given is not None and given.names != tuple(names):
        fail("they do not match traced_given")
    base = _key_from_json(entry.get("base"), mode, len(names))
    if base is None or (mode == "presence" and any(base)):
        fail(f"base pattern {entry.get('base')!r:.80}")
    saved, notes = {}, {}
    for table in ("graphs", "notes"):
        if not _isinstance(entry.get(table), list):
            fail(f"{table} is not a list")
        for item in entry[table]:
            key = _key_from_json(item[0], mode, len(names)) if _isinstance(item, list) \
                and len(item) == 2 and _isinstance(item[1], str) else None
            if key is None or table == "graphs" and item[1] not in graphs:
                fail(f"{table} entry {item!r:.80}")
            if table == "graphs":
                saved[key] = graphs[item[1]]
            else:
                notes[key] = item[1]
    if entry.get("limit") is not None:
        if not _isinstance(entry["limit"], str):
            fail("limit is not a string")
        notes["limit"] = entry["limit"]
    root = Module()  # the saved graphs' attributes, for the module and its copies
    for graph in saved.values():
        _install_attributes(root, graph, gm)
    return _Variants(None, tuple(names), base, mode, signature, saved, root, notes)


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
    if not _isinstance(mod, ScriptModule):
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
        if node.op == "call_module" or node.op == "get_attr" and _isinstance(
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
            if _isinstance(value, Tensor):
                value = Tensor(value.data.copy())
            elif _isinstance(value, np.ndarray):
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
    object.__setattr__(frozen, "_dlpy_frozen", True)
    variants = mod.__dict__.get("_dlpy_variants")
    if variants is not None:  # other patterns: traced from a snapshot of the Python module
        object.__setattr__(frozen, "_dlpy_variants", variants.copy())  # (or the saved ones)
        _dispatch_variants(frozen)
    return frozen



def _replace(node, value: Any) -> None:
    for user in list(node.users):
        user.replace_input_with(node, value)
    node.graph.erase_node(node)


# ---------------------------------------------------------------------------- eager helpers
def _container_missing(name: str) -> None:
    if name.endswith("ict"):
        raise RuntimeError(f"Attempted to use {name} without contained types. Please add "
                           f"contained type, e.g. {name}[int, int]")
    raise RuntimeError(f"Attempted to use {name} without a contained type. Please add a "
                       f"contained type, e.g. {name}[int]")


_RAW_CONTAINERS = {dict: "dict", list: "list", tuple: "tuple", typing.Dict: "Dict",  # noqa: UP006
                   typing.List: "List", typing.Optional: "Optional",  # noqa: UP006
                   typing.Tuple: "Tuple"}  # noqa: UP006


def _check_args_exist(target_type: Any) -> None:
    try:
        name = _RAW_CONTAINERS.get(target_type)
    except TypeError:  # an unhashable "type": isinstance refuses it below
        name = None
    if name:
        _container_missing(name)


def _check_empty(obj: Any) -> None:
    if _isinstance(obj, (list, dict, tuple)) and len(obj) == 0:
        warnings.warn("The inner type of a container is lost when calling torch.jit.isinstance "
                      "in eager mode. For example, List[int] would become list and therefore "
                      "falsely return True for List[float] or List[str].", stacklevel=3)


def _element_matches(value: Any, the_type: Any) -> bool:
    if typing.get_origin(the_type):
        return _container_matches(value, the_type)
    return _isinstance(value, the_type)


def _container_matches(obj: Any, target_type: Any) -> bool:
    """torch's eager check of ``obj`` against List[T] / Dict[K, V] / Tuple[...] / Optional[T]
    / Union[...] (element by element; an empty container matches any element type)."""
    origin = typing.get_origin(target_type)
    _check_args_exist(target_type)
    args = typing.get_args(target_type)
    if origin is None:
        return False
    if origin is list:
        _check_empty(obj)
        return _isinstance(obj, list) and all(_element_matches(e, args[0]) for e in obj)
    if origin is dict:
        _check_empty(obj)
        return _isinstance(obj, dict) and all(
            _isinstance(k, args[0]) and _element_matches(v, args[1]) for k, v in obj.items())
    if origin is tuple:
        _check_empty(obj)
        return _isinstance(obj, tuple) and len(obj) == len(args) and all(
            _element_matches(e, t) for e, t in zip(obj, args))
    if origin is typing.Union or origin is types.UnionType:  # Optional too
        if obj is None:
            return True
        for t in args:
            if typing.get_origin(t):
                return _container_matches(obj, t)  # (torch's: the first container type decides)
            if _isinstance(obj, t):
                return True
    return False


def isinstance(obj: Any, target_type: Any) -> bool:  # noqa: A001 - torch's name
    """torch.jit.isinstance in eager mode: Python's isinstance that also checks the element
    types of typing containers (``List[int]``, ``Dict[str, Tensor]``, ``Tuple[int, str]``,
    ``Optional[...]``, nested); a container with no element type is a RuntimeError, an empty
    one matches (with torch's warning that its element type is lost)."""
    if _isinstance(target_type, collections.abc.Container):
        if not _isinstance(target_type, tuple):
            raise RuntimeError("The second argument to `torch.jit.isinstance` must be a type "
                               "or a tuple of types")
        return any(isinstance(obj, t) for t in target_type)
    if typing.get_origin(target_type):
        return _container_matches(obj, target_type)
    _check_args_exist(target_type)
    return _isinstance(obj, target_type)


def script_if_tracing(fn: Callable) -> Callable:
    """torch.jit.script_if_tracing: ``fn`` compiled only when a trace calls it; called as it
    is otherwise. dlpy's traces are symbolic, so they follow ``fn``'s ops either way: the
    wrapper always calls ``fn`` (``__wrapped__`` / ``__original_fn`` are ``fn``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    wrapper.__original_fn = fn  # type: ignore[attr-defined]
    wrapper.__script_if_tracing_wrapper = True  # type: ignore[attr-defined]
    return wrapper


def trace_module(mod: Module, inputs: dict, optimize: Any = None, check_trace: bool = True,
                 check_inputs: Any = None, check_tolerance: float = 1e-5, strict: bool = True,
                 _force_outplace: bool = False, _module_class: Any = None,
                 _compilation_unit: Any = None, example_inputs_is_kwarg: bool = False,
                 _store_inputs: bool = True) -> ScriptModule:
    """torch.jit.trace_module: ``mod`` traced on ``inputs`` = {method name: example inputs}.
    dlpy traces ``forward`` only (the module's ``trace``); another method is a
    NotImplementedError, a name the module lacks an AttributeError (as torch's)."""
    if not _isinstance(mod, Module):
        raise _ModuleArgError("expected torch.nn.Module as the first argument")
    if not _isinstance(inputs, dict):
        raise _ModuleArgError("expected a dictionary of (method_name, input) pairs")
    for name in inputs:
        getattr(mod, name)  # torch's AttributeError for a method the module lacks
    if set(inputs) != {"forward"}:
        raise NotImplementedError(f"jit.trace_module: dlpy traces forward only, got methods "
                                  f"{sorted(inputs)}")
    example = inputs["forward"]
    if example_inputs_is_kwarg:
        return trace(mod, None, check_trace=check_trace, check_tolerance=check_tolerance,
                     example_kwarg_inputs=example)
    return trace(mod, example, check_trace=check_trace, check_tolerance=check_tolerance)


TopLevelTracedModule = TracedModule  # (torch's name for what trace_module returns)


def run_frozen_optimizations(mod: ScriptModule, optimize_numerics: bool = True,
                             preserved_methods: list[str] | None = None) -> None:
    """torch.jit.run_frozen_optimizations: in place on a frozen module; dlpy's ``freeze``
    already folds the constants, so nothing is left to do (None, as torch's)."""
    if not _isinstance(mod, ScriptModule):
        raise _ModuleArgError(f"'{type(mod).__name__}' object has no attribute '_c'")


def optimize_for_inference(mod: ScriptModule, other_methods: list[str] | None = None
                           ) -> ScriptModule:
    """torch.jit.optimize_for_inference: ``mod`` frozen (put in eval mode first, as torch's,
    unless it already is frozen) and optimised; its outputs are the module's."""
    if not _isinstance(mod, ScriptModule):
        raise _ScriptArgError("optimize_for_inference expects a ScriptModule as input. Please "
                              "use torch.jit.script or torch.jit.trace to script your "
                              "'nn.Module'.")
    if not getattr(mod, "_dlpy_frozen", False):
        mod = freeze(mod.eval(), preserved_attrs=other_methods)
    run_frozen_optimizations(mod, preserved_methods=other_methods)
    return mod


# ---------------------------------------------------------------------------- fuser settings
_FUSION = {"strategy": [("STATIC", 2), ("DYNAMIC", 10)], "onednn": False}


def set_fusion_strategy(strategy: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """torch.jit.set_fusion_strategy: the (``"STATIC"`` or ``"DYNAMIC"``, depth) pairs the
    JIT fuser specialises with; kept (dlpy has no fuser), the previous ones returned."""
    warnings.warn("`torch.jit.set_fusion_strategy` is deprecated. Please use `torch.compile` "
                  "instead.", DeprecationWarning, stacklevel=2)
    if not _isinstance(strategy, (list, tuple)) or not all(
            _isinstance(p, (list, tuple)) and len(p) == 2 and _isinstance(p[0], str)
            and _isinstance(p[1], int) for p in strategy):
        raise TypeError("set_fusion_strategy(): incompatible function arguments: expected a "
                        "list of (str, int) pairs")
    for kind, _ in strategy:
        if kind not in ("STATIC", "DYNAMIC"):
            raise ValueError(f"FusionBehavior only supported 'STATIC' or 'DYNAMIC', got: "
                             f"{kind}")
    previous, _FUSION["strategy"] = _FUSION["strategy"], [(k, int(d)) for k, d in strategy]
    return previous


def enable_onednn_fusion(enabled: bool) -> None:
    """torch.jit.enable_onednn_fusion: the oneDNN (LLGA) fusion flag, kept (no fuser here)."""
    if not (enabled is None or _isinstance(enabled, (numbers.Number, np.bool_))):
        raise TypeError(f"enable_onednn_fusion(): incompatible function arguments: expected "
                        f"a bool, got {type(enabled).__name__}")
    _FUSION["onednn"] = bool(enabled)


def onednn_fusion_enabled() -> bool:
    """torch.jit.onednn_fusion_enabled: the flag ``enable_onednn_fusion`` set."""
    return _FUSION["onednn"]


@contextlib.contextmanager
def optimized_execution(should_optimize: bool) -> Iterator[None]:
    """torch.jit.optimized_execution: a context in which the JIT's graph optimisation is on
    or off; accepted (dlpy runs the traced graph as it is)."""
    yield


_FUSERS = ("fuser0", "fuser1", "fuser2", "fuser3", "none")


@contextlib.contextmanager
def fuser(name: str) -> Iterator[None]:
    """torch.jit.fuser(name): the JIT fuser of the block (``fuser0`` legacy, ``fuser1`` NNC,
    ``fuser2`` nvFuser, ``fuser3`` oneDNN, ``none``); checked and accepted."""
    if name not in _FUSERS:
        raise ArgError(f"unrecognized fuser option (name: {name})")
    yield


class strict_fusion:  # noqa: N801 - torch's name
    """torch.jit.strict_fusion: a block whose ops must all fuse in TorchScript; outside
    scripting a no-op that warns, as torch's."""

    def __init__(self) -> None:
        if not is_scripting():
            warnings.warn("Only works in script mode", stacklevel=2)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def interface(obj: Any) -> Any:
    """torch.jit.interface: a class declaring methods (each with its return type annotated)
    that TorchScript modules implement; the class is returned unchanged."""
    if not inspect.isclass(obj):
        raise RuntimeError("interface must be applied to a class")
    warnings.warn("`torch.jit.interface` is deprecated. Please use `torch.compile` instead.",
                  DeprecationWarning, stacklevel=2)
    for name, member in vars(obj).items():
        if inspect.isfunction(member) and not name.startswith("__") \
                and "return" not in getattr(member, "__annotations__", {}):
            raise RuntimeError(f"interface declarations must have a return type annotated.: "
                               f"{obj.__name__}.{name}")
    return obj


def last_executed_optimized_graph() -> None:
    """torch.jit.last_executed_optimized_graph: the graph the JIT last optimised; None (dlpy
    optimises none)."""
    return None


# TorchScript's overload declarations: the signatures a function or method is declared with
# (each a body of ``pass`` or ``...``) before its one implementation, by qualified name
_overloaded_fns: dict[str, list[Callable]] = {}
_overloaded_methods: dict[str, list[Callable]] = {}


def _overload(func: Callable) -> Callable:
    """torch.jit._overload: records ``func`` as one declared signature of the function the
    next definition of its name implements, and returns it (eager Python calls that
    implementation; TorchScript would pick a declaration by the argument types)."""
    _overloaded_fns.setdefault(f"{func.__module__}.{func.__qualname__}", []).append(func)
    return func


def _overload_method(func: Callable) -> Callable:
    """torch.jit._overload_method: ``_overload`` for a method of a class."""
    _overloaded_methods.setdefault(f"{func.__module__}.{func.__qualname__}", []).append(func)
    return func


# torch.jit.annotations (``from torch.jit.annotations import List``): the typing names
# TorchScript annotations are written with, registered as the submodule dlpy.jit.annotations
# while this file stays a module
annotations = types.ModuleType(f"{__name__}.annotations", "torch.jit.annotations: the typing "
                               "names of TorchScript annotations (List, Tuple, Dict, ...).")
annotations.__all__ = ["Any", "Dict", "List", "Optional", "Tuple", "Union"]
for _name in annotations.__all__:
    setattr(annotations, _name, getattr(typing, _name))
annotations.Future = Future
annotations.Module = Module
annotations.NoneType = type(None)
sys.modules[annotations.__name__] = annotations
