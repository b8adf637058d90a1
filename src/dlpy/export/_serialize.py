"""The saved form of an exported graph (``dlpy.export.save`` / ``dlpy.jit.save``): a zip of

    archive/version               "1"
    archive/graph.json            the node table, the leaf modules' settings, the input specs
                                  (and, from jit.save, a scripted module's other graphs)
    archive/code.py               the generated forward, for reading only (never executed)
    archive/weights.safetensors   every tensor: parameters, buffers, constants

Loading runs no pickle and no stored code: the graph is rebuilt from the node table, every
call_function target checked against an allow-list of dlpy's own functions (``ALLOWED``), every
call_method against Tensor's method names, every module class against dlpy.nn's layers, every
name against Python identifiers; the forward is then generated again from that graph. Anything
else is a ``SerializationError`` naming the file and the node.
"""

from __future__ import annotations

import builtins
import inspect
import json
import keyword
import math
import operator
import types
import zipfile
from typing import Any

import numpy as np

from dlpy.fx.graph import BINARY_OPERATORS, UNARY_OPERATORS, Graph
from dlpy.fx.graph_module import GraphModule, _copy_attr
from dlpy.fx.node import Node
from dlpy.nn.module import Module, Parameter
from dlpy.tensor import Tensor

FORMAT_VERSION = "1"
_MEMBERS = ("archive/version", "archive/graph.json", "archive/code.py",
            "archive/weights.safetensors")
# public dlpy functions a graph may not call after loading: files, global settings, seeds
_DENIED = {"save", "load", "manual_seed", "seed", "use_deterministic_algorithms", "from_dlpack",
           "to_dlpack", "frombuffer", "from_file", "detect_anomaly", "initial_seed",
           "get_rng_state", "cond", "while_loop"}
_DENIED_METHODS = {"tofile", "dump", "dumps", "register_hook", "register_post_accumulate_grad_hook",
                   "backward", "apply_", "map_", "map2_", "share_memory_", "set_", "retain_grad",
                   "untyped_storage", "storage", "data_ptr"}
_MODULE_INTERNALS = {"_parameters", "_modules", "_buffers", "_non_persistent",
                     "_forward_pre_hooks", "_forward_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "training", "_forward_pre_hooks_with_kwargs",
                     "_forward_hooks_with_kwargs", "_forward_hooks_always_called"}
_PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "complex": complex}


class SerializationError(ValueError):
    """A saved program that cannot be loaded: not a dlpy export archive, or tampered with."""


# ---------------------------------------------------------------------------- allow-list
_ALLOWED: dict[str, Any] | None = None
_NAME_OF: dict[int, str] = {}


def allowed_functions() -> dict[str, Any]:
    """name -> function a loaded graph may call: dlpy's and dlpy.functional's public
    functions (no file, seed or global-setting ones), Python's operators, ``math``'s functions
    and ``getattr`` (checked further: public Tensor attributes only)."""
    global _ALLOWED
    if _ALLOWED is None:
        import dlpy
        from dlpy import functional
        from dlpy.func import functional_call
        from dlpy.fx._symbolic_trace import (
            _ORIGINALS,
            _assert_is_none,
            _assert_specialized,
            _assign_buffer,
        )
        from dlpy.torch_functions import _assert

        table: dict[str, Any] = {}
        for module in (functional, dlpy):
            for name, value in vars(module).items():
                value = _ORIGINALS.get(id(value), value)  # (a trace in progress: the original)
                if name.startswith("_") or not isinstance(value, types.FunctionType) \
                        or name in _DENIED or name.startswith("set_"):
                    continue
                table[f"{module.__name__}.{name}"] = value
        for name in list(BINARY_OPERATORS) + list(UNARY_OPERATORS):
            table[f"operator.{name}"] = getattr(operator, name)
        for name, value in vars(math).items():
            if not name.startswith("_") and callable(value):
                table[f"math.{name}"] = value
        table["builtins.getattr"] = builtins.getattr
        table["dlpy.func.functional_call"] = functional_call
        table["dlpy.fx._symbolic_trace._assert_specialized"] = _assert_specialized
        # (the checks symbolic_trace records for concrete_args, as torch.fx's: eq + _assert,
        # _assert_is_none for a None)
        table["dlpy._assert"] = _assert
        table["dlpy.fx._symbolic_trace._assert_is_none"] = _assert_is_none
        table["dlpy.fx._symbolic_trace._assign_buffer"] = _assign_buffer  # (buffer updates)
        for name, value in table.items():
            _NAME_OF.setdefault(id(value), name)
            # (and by what it wraps: dlpy.overrides swaps dispatching wrappers in and out of
            # these modules, so the table may have been built with either)
            _NAME_OF.setdefault(id(inspect.unwrap(value)), name)
        _ALLOWED = table
    return _ALLOWED


def function_name(fn: Any, where: str) -> str:
    """The allow-list name of ``fn``; a ValueError when it has none (it could not be loaded)."""
    allowed_functions()
    name = _NAME_OF.get(id(fn))
    if name is None and callable(fn):
        name = _NAME_OF.get(id(inspect.unwrap(fn)))
    if name is None and getattr(type(fn), "_is_custom_op", False):  # dlpy.library's op
        return fn._path
    if name is None:
        shown = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        raise ValueError(f"save: {where} calls {shown}, which is not one of dlpy's functions a "
                         f"saved program may call (dlpy.*, dlpy.functional.*, operators, math)")
    return name


def tensor_methods() -> set[str]:
    """Method names a loaded graph may call (Tensor's public methods, no hooks or files)."""
    names = {n for n, v in vars(Tensor).items() if not n.startswith("_") and callable(v)}
    return names - _DENIED_METHODS


def tensor_attributes() -> set[str]:
    """Attribute names ``getattr`` may read in a loaded graph (x.shape, x.ndim, x.T, ...)."""
    return {n for n in dir(Tensor) if not n.startswith("_")} - _DENIED_METHODS - {"op", "grad_fn"}


def _is_identifier(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def _is_path(path: Any) -> bool:
    return isinstance(path, str) and all(_is_identifier(a) or a.isdigit()
                                         for a in path.split("."))


# ---------------------------------------------------------------------------- values
class _Encoder:
    """Node arguments and module settings as JSON; tensors go to ``self.tensors``."""

    def __init__(self) -> None:
        self.tensors: dict[str, Any] = {}
        self._constant_keys: dict[int, str] = {}

    def tensor(self, value: Any, key: str | None = None) -> dict:
        if key is None:
            key = self._constant_keys.get(id(value))
            if key is None:
                key = f"constants/{len(self._constant_keys)}"  # "/": never a module path
                self._constant_keys[id(value)] = key
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        # (np.ascontiguousarray would make a 0-d array 1-d: num_batches_tracked)
        self.tensors[key] = np.ascontiguousarray(array).reshape(array.shape)
        return {"__tensor__" if isinstance(value, Tensor) else "__array__": key}

    def value(self, a: Any, where: str) -> Any:
        if isinstance(a, Node):
            return {"__node__": a.name}
        if a is None or isinstance(a, (bool, int, str)):
            return a
        if isinstance(a, float):
            return a if math.isfinite(a) else {"__float__": repr(a)}
        if isinstance(a, tuple):
            if hasattr(a, "_fields"):
                raise ValueError(f"save: {where} holds a namedtuple ({type(a).__name__}), "
                                 f"which cannot be saved")
            return {"__tuple__": [self.value(x, where) for x in a]}
        if isinstance(a, list):
            return [self.value(x, where) for x in a]
        if isinstance(a, dict):
            if not all(isinstance(k, (str, int)) for k in a):
                raise ValueError(f"save: {where} holds a dict with keys other than str/int")
            return {"__dict__": [[k, self.value(v, where)] for k, v in a.items()]}
        if isinstance(a, slice):
            return {"__slice__": [self.value(x, where) for x in (a.start, a.stop, a.step)]}
        if a is ...:
            return {"__ellipsis__": True}
        if isinstance(a, range):
            return {"__range__": [a.start, a.stop, a.step]}
        if isinstance(a, complex):
            return {"__complex__": [self.value(a.real, where), self.value(a.imag, where)]}
        if isinstance(a, np.dtype):
            return {"__dtype__": a.str}
        if isinstance(a, np.generic):
            return {"__scalar__": [a.dtype.str, self.value(a.item(), where)]}
        if isinstance(a, (Tensor, np.ndarray)):
            return self.tensor(a)
        if isinstance(a, type) and a in _PYTHON_TYPES.values():
            return {"__type__": a.__name__}
        if isinstance(a, type) and issubclass(a, np.generic):
            return {"__dtype__": np.dtype(a).str}
        if isinstance(a, np.random.Generator):
            if type(a.bit_generator) is not np.random.PCG64:
                raise ValueError(f"save: {where} holds a {type(a.bit_generator).__name__} "
                                 f"generator; only PCG64 ones are saved")
            return {"__generator__": a.bit_generator.state}
        if callable(a):
            return {"__function__": function_name(a, where)}
        raise ValueError(f"save: {where} holds a {type(a).__name__}, which cannot be saved")


class _Decoder:
    """The inverse of _Encoder, refusing anything the encoder does not write."""

    def __init__(self, tensors: dict[str, Tensor], fail):
        self.tensors, self.fail = tensors, fail
        self.nodes: dict[str, Node] = {}
        self.cache: dict[str, Any] = {}

    def tensor(self, key: Any, where: str, as_tensor: bool) -> Any:
        if not isinstance(key, str) or key not in self.tensors:
            self.fail(f"{where} refers to tensor {key!r}, which the weights do not hold")
        cache_key = f"{as_tensor}:{key}"
        if cache_key not in self.cache:
            array = self.tensors[key].data
            self.cache[cache_key] = Tensor(array) if as_tensor else array
        return self.cache[cache_key]

    def value(self, a: Any, where: str) -> Any:
        if a is None or isinstance(a, (bool, int, float, str)):
            return a
        if isinstance(a, list):
            return [self.value(x, where) for x in a]
        if not isinstance(a, dict) or len(a) != 1:
            self.fail(f"{where}: unexpected value {a!r:.80}")
        (tag, body), = a.items()
        if tag == "__node__":
            if body not in self.nodes:
                self.fail(f"{where} uses node {body!r} before it is defined")
            return self.nodes[body]
        if tag == "__tuple__" and isinstance(body, list):
            return tuple(self.value(x, where) for x in body)
        if tag == "__dict__" and isinstance(body, list) and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int))
                for p in body):
            return {k: self.value(v, where) for k, v in body}
        if tag == "__slice__" and isinstance(body, list) and len(body) == 3:
            return slice(*(self.value(x, where) for x in body))
        if tag == "__ellipsis__":
            return ...
        if tag == "__float__" and body in ("inf", "-inf", "nan"):
            return float(body)
        if tag == "__range__" and isinstance(body, list) and len(body) == 3 \
                and all(type(x) is int for x in body):
            return range(*body)
        if tag == "__complex__" and isinstance(body, list) and len(body) == 2:
            real, imag = (self.value(x, where) for x in body)
            if isinstance(real, (int, float)) and isinstance(imag, (int, float)):
                return complex(real, imag)
        if tag == "__dtype__":
            return self.dtype(body, where)
        if tag == "__scalar__" and isinstance(body, list) and len(body) == 2:
            value = self.value(body[1], where)
            if isinstance(value, (bool, int, float, complex)):
                return self.dtype(body[0], where).type(value)
        if tag in ("__tensor__", "__array__"):
            return self.tensor(body, where, tag == "__tensor__")
        if tag == "__type__" and body in _PYTHON_TYPES:
            return _PYTHON_TYPES[body]
        if tag == "__generator__" and isinstance(body, dict):
            bit_generator = np.random.PCG64()
            try:
                bit_generator.state = body
            except (TypeError, ValueError, KeyError) as error:
                self.fail(f"{where}: bad generator state ({error})")
            return np.random.Generator(bit_generator)
        if tag == "__function__":
            function = allowed_functions().get(body) if isinstance(body, str) else None
            if function is None:
                self.fail(f"{where} calls {body!r}, which is not one of the dlpy functions a "
                          f"saved program may call")
            return function
        self.fail(f"{where}: unexpected value {a!r:.80}")

    def dtype(self, name: Any, where: str) -> np.dtype:
        try:
            dtype = np.dtype(name) if isinstance(name, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biufc":
            self.fail(f"{where}: unexpected dtype {name!r}")
        return dtype


# ---------------------------------------------------------------------------- modules
def _leaf_class_name(module: Module, where: str) -> str:
    cls = type(module)
    if not cls.__module__.startswith("dlpy.nn") or isinstance(module, GraphModule):
        raise ValueError(f"save: {where} is a {cls.__module__}.{cls.__qualname__}; only "
                         f"dlpy.nn's layers are saved as modules (others are traced through)")
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode_module(enc: _Encoder, module: Module, path: str) -> dict:
    """A leaf module (and its children): class, settings, where its tensors are."""
    record: dict[str, Any] = {"class": _leaf_class_name(module, f"module {path!r}"),
                              "training": bool(module.training), "parameters": {},
                              "buffers": {}, "children": {}, "attributes": {}}
    for kind in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks",
                 "_backward_pre_hooks"):
        if getattr(module, kind, None):
            raise ValueError(f"save: module {path!r} has {kind[1:]}, which are not saved")
    for name, p in module._parameters.items():
        record["parameters"][name] = None if p is None else {
            "key": enc.tensor(p, f"{path}.{name}")["__tensor__"],
            "requires_grad": bool(p.requires_grad)}
    for name, b in module._buffers.items():
        record["buffers"][name] = None if b is None else {
            "key": next(iter(enc.tensor(b, f"{path}.{name}").values())),
            "tensor": isinstance(b, Tensor), "persistent": name not in module._non_persistent}
    for name, child in module._modules.items():
        record["children"][name] = None if child is None else _encode_module(
            enc, child, f"{path}.{name}")
    taken = set(module._parameters) | set(module._buffers) | set(module._modules)
    for name, value in vars(module).items():
        if name in _MODULE_INTERNALS or name in taken:
            continue
        record["attributes"][name] = enc.value(value, f"module {path!r} attribute {name!r}")
    return record


def _module_class(name: Any, fail) -> type:
    import importlib

    module_name, _, qualname = name.partition(":") if isinstance(name, str) else ("", "", "")
    if not (module_name == "dlpy.nn" or module_name.startswith("dlpy.nn.")) \
            or not all(_is_identifier(a) for a in module_name.split(".") + qualname.split(".")):
        fail(f"module class {name!r} is not one of dlpy.nn's layers")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError:
        fail(f"module class {name!r}: no module {module_name}")
    for atom in qualname.split("."):
        found = getattr(found, atom, None)
    if not (isinstance(found, type) and issubclass(found, Module)) \
            or issubclass(found, GraphModule):
        fail(f"module class {name!r} is not one of dlpy.nn's layers")
    return found


def _decode_module(dec: _Decoder, record: Any, path: str) -> Module:
    fail = dec.fail
    keys = {"class", "training", "parameters", "buffers", "children", "attributes"}
    if not isinstance(record, dict) or set(record) != keys \
            or not all(isinstance(record[k], dict) for k in keys - {"class", "training"}):
        fail(f"module {path!r}: malformed record")
    cls = _module_class(record["class"], fail)
    module = cls.__new__(cls)
    Module.__init__(module)
    object.__setattr__(module, "training", bool(record["training"]))
    for group in ("parameters", "buffers", "children", "attributes"):
        for name in record[group]:
            if not _is_identifier(name) and not (group == "children" and name.isdigit()) \
                    or name.startswith("__") or name in _MODULE_INTERNALS:
                fail(f"module {path!r}: bad {group[:-1]} name {name!r}")
    for name, spec in record["parameters"].items():
        value = None
        if spec is not None:
            array = dec.tensor(spec.get("key") if isinstance(spec, dict) else None,
                               f"module {path!r} parameter {name!r}", False)
            value = Parameter(array, requires_grad=bool(spec.get("requires_grad", True)))
        module._parameters[name] = value
        object.__setattr__(module, name, value)
    for name, spec in record["buffers"].items():
        value = None
        if spec is not None:
            if not isinstance(spec, dict):
                fail(f"module {path!r}: malformed buffer {name!r}")
            # a Tensor, as every buffer (a file from before buffers were Tensors says
            # "tensor": false)
            value = dec.tensor(spec.get("key"), f"module {path!r} buffer {name!r}", True)
            if not spec.get("persistent", True):
                module._non_persistent.add(name)
        module._buffers[name] = value
        object.__setattr__(module, name, value)
    for name, child in record["children"].items():
        value = None if child is None else _decode_module(dec, child, f"{path}.{name}")
        module._modules[name] = value
        object.__setattr__(module, name, value)
    for name, value in record["attributes"].items():
        object.__setattr__(module, name, dec.value(value, f"module {path!r} attribute {name!r}"))
    return module


# ---------------------------------------------------------------------------- graphs
def resolve(root: Module, target: str) -> Any:
    """The attribute at a dotted path (``"layer1.0.conv1.weight"``) of ``root``."""
    value: Any = root
    for atom in target.split("."):
        value = getattr(value, atom)
    return value


def _owner(root: Module, target: str) -> tuple[Module, str]:
    *prefix, field = target.split(".")
    owner = root
    for atom in prefix:
        owner = getattr(owner, atom)
    return owner, field


def encode_program(gm: GraphModule, meta: dict, graphs: dict[str, Graph] | None = None
                   ) -> tuple[dict, dict[str, Any]]:
    """The JSON document and the tensors of an (unlifted) GraphModule; ``meta`` is stored as
    given (input specs, range constraints: plain JSON). ``graphs``: more graphs over ``gm``'s
    attributes (name -> Graph), stored beside its own, sharing its tables and weights."""
    enc = _Encoder()
    modules: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    nodes = _encode_nodes(enc, gm, gm.graph, modules, attributes)
    document = {"format": "dlpy.export", "version": FORMAT_VERSION,
                "class_name": type(gm).__name__, "training": bool(gm.training),
                "nodes": nodes, "modules": modules, "attributes": attributes, "meta": meta}
    if graphs:
        document["graphs"] = {name: _encode_nodes(enc, gm, graph, modules, attributes)
                              for name, graph in graphs.items()}
    return document, enc.tensors


def _encode_nodes(enc: _Encoder, gm: GraphModule, graph: Graph, modules: dict,
                  attributes: dict) -> list:
    """``graph``'s node table; the modules and attributes it uses go to the two tables."""
    nodes = []
    for node in graph.nodes:
        where = f"node {node.name!r}"
        target = node.target
        if node.op == "call_function":
            target = function_name(node.target, where)
        elif node.op == "call_module" and target not in modules:
            modules[target] = _encode_module(enc, resolve(gm, target), target)
        elif node.op == "get_attr" and target not in attributes:
            value = resolve(gm, target)
            owner, field = _owner(gm, target)
            if isinstance(value, Module):
                attributes[target] = {"kind": "module",
                                      "module": _encode_module(enc, value, target)}
            elif isinstance(value, (Tensor, np.ndarray)):
                kind = "parameter" if field in owner._parameters else "buffer" \
                    if field in owner._buffers else "constant"
                tag, key = next(iter(enc.tensor(value, target).items()))
                attributes[target] = {"kind": kind, "key": key, "tensor": tag == "__tensor__",
                                      "requires_grad": bool(getattr(value, "requires_grad",
                                                                    False)),
                                      "persistent": field not in owner._non_persistent}
            else:
                raise ValueError(f"save: {where} reads {target!r}, a "
                                 f"{type(value).__name__}, which cannot be saved")
        nodes.append({"name": node.name, "op": node.op, "target": target,
                      "args": enc.value(node.args, where),
                      "kwargs": enc.value(node.kwargs, where)})
    return nodes


def decode_program(document: Any, tensors: dict[str, Tensor], name: str,
                   graphs: dict | None = None) -> tuple[GraphModule, dict]:
    """The GraphModule a document describes, every part checked (see the module docstring).
    The document's other graphs are checked too; ``graphs``, when given, is filled with them
    (name -> Graph), their modules and attributes installed on the GraphModule."""
    def fail(message: str):
        raise SerializationError(f"load: {name}: {message} (not a program saved by dlpy, or "
                                 f"tampered with)")

    if not isinstance(document, dict) or document.get("format") != "dlpy.export":
        fail("graph.json is not a dlpy.export graph")
    if document.get("version") != FORMAT_VERSION:
        fail(f"format version {document.get('version')!r}, expected {FORMAT_VERSION!r}")
    for key, kind in (("nodes", list), ("modules", dict), ("attributes", dict), ("meta", dict)):
        if not isinstance(document.get(key), kind):
            fail(f"graph.json's {key!r} is missing or not a {kind.__name__}")
    dec = _Decoder(tensors, fail)
    root = Module()
    object.__setattr__(root, "training", bool(document.get("training", False)))

    def install(target: str, value: Any, kind: str = "module", spec: dict | None = None):
        *prefix, field = target.split(".")
        owner = root
        for atom in prefix:
            child = owner._modules.get(atom)
            if child is None:
                child = Module()
                setattr(owner, atom, child)
            owner = child
        if kind == "parameter":
            setattr(owner, field, Parameter(value.data if isinstance(value, Tensor) else value,
                                            requires_grad=bool(spec.get("requires_grad"))))
        elif kind == "buffer":
            owner.register_buffer(field, value, persistent=bool(spec.get("persistent", True)))
        elif kind == "constant":
            object.__setattr__(owner, field, value)
        else:
            setattr(owner, field, value)

    for target, record in document["modules"].items():
        if not _is_path(target):
            fail(f"bad module path {target!r}")
        install(target, _decode_module(dec, record, target))
    for target, spec in document["attributes"].items():
        if not _is_path(target) or not isinstance(spec, dict) \
                or spec.get("kind") not in ("parameter", "buffer", "constant", "module"):
            fail(f"bad attribute {target!r}")
        if spec["kind"] == "module":
            install(target, _decode_module(dec, spec.get("module"), target))
        else:
            value = dec.tensor(spec.get("key"), f"attribute {target!r}",
                               bool(spec.get("tensor", True)))
            install(target, value, spec["kind"], spec)

    allowed = tensor_methods(), tensor_attributes()  # (once for every graph)
    graph = _decode_graph(dec, document["nodes"], document, name, fail, allowed)
    others = document.get("graphs", {})
    if not isinstance(others, dict) or not all(_is_identifier(n) for n in others):
        fail("graph.json's 'graphs' is not a table of named graphs")
    others = {n: _decode_graph(dec, records, document, name, fail, allowed)
              for n, records in others.items()}
    gm = GraphModule(root, graph, document.get("class_name") if _is_identifier(
        document.get("class_name")) else "GraphModule")
    if graphs is not None:
        for other in others.values():
            for node in other.nodes:
                if node.op in ("get_attr", "call_module"):
                    _copy_attr(root, gm, node.target)
        graphs.update(others)
    return gm, document["meta"]


def _decode_graph(dec: _Decoder, records: Any, document: dict, name: str, fail,
                  allowed: tuple[set[str], set[str]]) -> Graph:
    """The Graph of one node table, every node checked (see the module docstring) against
    ``allowed``: Tensor's method and attribute names a graph may use."""
    if not isinstance(records, list):
        fail("a node table is not a list")
    graph = Graph()
    dec.nodes = {}  # (each graph its own names)
    methods, attribute_names = allowed
    outputs = 0
    for i, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != {"name", "op", "target", "args",
                                                           "kwargs"}:
            fail(f"node {i}: malformed record")
        node_name, op, target = record["name"], record["op"], record["target"]
        where = f"node {i} ({node_name!r})"
        if not _is_identifier(node_name) or node_name in dec.nodes:
            fail(f"{where}: bad or repeated node name")
        args = dec.value(record["args"], where)
        kwargs = dec.value(record["kwargs"], where)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict) \
                or not all(_is_identifier(k) for k in kwargs):
            fail(f"{where}: malformed args or kwargs")
        if op == "call_function":
            function = allowed_functions().get(target) if isinstance(target, str) else None
            if function is None and isinstance(target, str) and target.startswith("dlpy.ops."):
                from dlpy.library import custom_op_at

                function, op_name = custom_op_at(target)
                if function is None:
                    raise SerializationError(f"load: {name}: {where} calls the custom op "
                                             f"{op_name}, which is not registered in this "
                                             f"process: import the module that defines it "
                                             f"(dlpy.library.custom_op or Library.define) "
                                             f"before loading")
            if function is None:
                fail(f"{where} calls {target!r}, which is not one of the dlpy functions a "
                     f"saved program may call")
            if function is builtins.getattr and (len(args) != 2 or kwargs
                                                 or args[1] not in attribute_names):
                fail(f"{where} reads attribute {args[1:]!r}, which is not a Tensor attribute")
            target = function
        elif op == "call_method":
            if target not in methods:
                fail(f"{where} calls method {target!r}, which is not a Tensor method")
        elif op in ("call_module", "get_attr"):
            table = document["modules"] if op == "call_module" else document["attributes"]
            if target not in table:
                fail(f"{where} uses {target!r}, which the file does not define")
        elif op == "placeholder":
            if not _is_identifier(target) or len(args) > 1 or kwargs:
                fail(f"{where}: bad placeholder")
        elif op == "output":
            outputs += 1
            if target != "output" or len(args) != 1 or kwargs:
                fail(f"{where}: bad output")
        else:
            fail(f"{where}: unknown opcode {op!r}")
        node = graph.create_node(op, target, args, kwargs, name=node_name)
        if node.name != node_name:
            fail(f"{where}: bad node name")
        dec.nodes[node_name] = node
    if outputs != 1:
        fail(f"the graph has {outputs} output nodes, expected 1")
    return graph


# ---------------------------------------------------------------------------- files
def _extra_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name \
            or name in (".", ".."):
        raise ValueError(f"extra_files: names must be plain file names, got {name!r}")
    return f"archive/extra/{name}"


def write_archive(f: Any, gm: GraphModule, meta: dict,
                  extra_files: dict[str, str | bytes] | None = None,
                  graphs: dict[str, Graph] | None = None) -> None:
    """Save ``gm`` and ``meta`` to ``f`` (a path, written atomically, or a binary file), with
    ``extra_files`` (name -> str or bytes) beside them and ``graphs``, more graphs over
    ``gm``'s attributes (see ``encode_program``)."""
    import io
    import os

    from dlpy.io import atomic_write
    from dlpy.utils import safetensors

    document, tensors = encode_program(gm, meta, graphs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/version", FORMAT_VERSION)
        archive.writestr("archive/graph.json", json.dumps(document, indent=1))
        archive.writestr("archive/code.py", gm.code)
        archive.writestr("archive/weights.safetensors", safetensors.save(tensors))
        for extra, content in (extra_files or {}).items():
            if not isinstance(content, (str, bytes)):
                raise TypeError(f"extra_files[{extra!r}]: expected str or bytes, got "
                                f"{type(content).__name__}")
            archive.writestr(_extra_name(extra), content)
    if isinstance(f, (str, os.PathLike)):
        with atomic_write(f) as handle:
            handle.write(buffer.getvalue())
    elif hasattr(f, "write"):
        f.write(buffer.getvalue())
    else:
        raise TypeError(f"save: f must be a path or a binary file, got {type(f).__name__}")


def read_archive(f: Any, extra_files: dict | None = None, graphs: dict | None = None
                 ) -> tuple[GraphModule, dict]:
    """The GraphModule and meta saved by ``write_archive``, checked; each name of
    ``extra_files`` gets the bytes saved under it (KeyError-free: '' when absent), and
    ``graphs`` the other graphs saved beside it (see ``decode_program``)."""
    import io
    import os

    from dlpy.utils import safetensors

    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        if not os.path.exists(name):
            raise FileNotFoundError(f"load: {name}: no such file")
        with open(name, "rb") as handle:
            data = handle.read()
    elif hasattr(f, "read"):
        name, data = getattr(f, "name", "<file>"), f.read()
    else:
        raise TypeError(f"load: f must be a path or a binary file, got {type(f).__name__}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            missing = [m for m in _MEMBERS if m not in archive.namelist()]
            if missing:
                raise SerializationError(f"load: {name}: not a dlpy export archive (missing "
                                         f"{', '.join(missing)})")
            version = archive.read("archive/version").decode("utf-8", "replace")
            document = json.loads(archive.read("archive/graph.json"))
            weights = archive.read("archive/weights.safetensors")
            for extra in extra_files or {}:
                member = _extra_name(extra)
                extra_files[extra] = archive.read(member) if member in archive.namelist() \
                    else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError,
            UnicodeDecodeError, EOFError, RecursionError) as error:
        raise SerializationError(f"load: {name}: not a readable dlpy export archive "
                                 f"({error})") from error
    if version != FORMAT_VERSION:
        raise SerializationError(f"load: {name}: format version {version!r}, expected "
                                 f"{FORMAT_VERSION!r}")
    try:
        tensors = safetensors.load(weights)
    except (ValueError, TypeError) as error:
        raise SerializationError(f"load: {name}: bad weights ({error})") from error
    try:
        return decode_program(document, tensors, name, graphs)
    except SerializationError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError,
            RecursionError) as error:  # a record of the right form with wrong contents
        raise SerializationError(f"load: {name}: malformed program ({type(error).__name__}: "
                                 f"{error}) (not a program saved by dlpy, or tampered "
                                 f"with)") from None
