"""torch.export's ExportedProgram for dlpy: the traced graph, its signature (which placeholders
are parameters, buffers, constants, user inputs) and the input shapes it accepts."""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

import numpy as np

from dlpy.export._aten_graph import lower
from dlpy.export._serialize import resolve
from dlpy.fx.graph import Graph
from dlpy.fx.graph_module import GraphModule
from dlpy.fx.node import Node, map_arg
from dlpy.nn.module import Module
from dlpy.tensor import Tensor

__all__ = ["CallSpec", "ConstantArgument", "ExportGraphSignature", "ExportedProgram", "InputKind",
           "InputSpec", "ModuleCallEntry", "ModuleCallSignature", "OutputKind", "OutputSpec",
           "TensorArgument", "ValueRange"]


class InputKind(Enum):
    USER_INPUT = auto()
    PARAMETER = auto()
    BUFFER = auto()
    CONSTANT_TENSOR = auto()
    CUSTOM_OBJ = auto()
    TOKEN = auto()


class OutputKind(Enum):
    USER_OUTPUT = auto()
    LOSS_OUTPUT = auto()
    BUFFER_MUTATION = auto()
    PARAMETER_MUTATION = auto()
    GRADIENT_TO_PARAMETER = auto()
    GRADIENT_TO_USER_INPUT = auto()
    USER_INPUT_MUTATION = auto()
    TOKEN = auto()


@dataclass
class TensorArgument:
    name: str


@dataclass
class ConstantArgument:
    name: str
    value: Any


@dataclass
class InputSpec:
    """One placeholder of ``ep.graph``: what it is (``kind``) and, for state, its name in the
    module (``target``: ``"fc1.weight"``)."""

    kind: InputKind
    arg: TensorArgument | ConstantArgument
    target: str | None
    persistent: bool | None = None


@dataclass
class OutputSpec:
    kind: OutputKind
    arg: TensorArgument | ConstantArgument
    target: str | None


@dataclass
class ExportGraphSignature:
    """torch.export's graph signature: the input and output specs, in placeholder order."""

    input_specs: list[InputSpec]
    output_specs: list[OutputSpec]

    def _names(self, kind: InputKind) -> list[str]:
        return [s.target for s in self.input_specs if s.kind is kind]

    @property
    def parameters(self) -> list[str]:
        return self._names(InputKind.PARAMETER)

    @property
    def buffers(self) -> list[str]:
        return self._names(InputKind.BUFFER)

    @property
    def lifted_tensor_constants(self) -> list[str]:
        return self._names(InputKind.CONSTANT_TENSOR)

    @property
    def non_persistent_buffers(self) -> list[str]:
        return [s.target for s in self.input_specs
                if s.kind is InputKind.BUFFER and s.persistent is False]

    @property
    def user_inputs(self) -> list[str]:
        """The user inputs' placeholder names (a constant input: its value, as torch's)."""
        return [s.arg.name if isinstance(s.arg, TensorArgument) or s.arg.value is None
                else s.arg.value for s in self.input_specs if s.kind is InputKind.USER_INPUT]

    @property
    def user_outputs(self) -> list[Any]:
        return [s.arg.name if isinstance(s.arg, TensorArgument) else s.arg.value
                for s in self.output_specs if s.kind is OutputKind.USER_OUTPUT]

    @property
    def inputs_to_parameters(self) -> dict[str, str]:
        return {s.arg.name: s.target for s in self.input_specs
                if s.kind is InputKind.PARAMETER}

    @property
    def inputs_to_buffers(self) -> dict[str, str]:
        return {s.arg.name: s.target for s in self.input_specs if s.kind is InputKind.BUFFER}

    @property
    def inputs_to_lifted_tensor_constants(self) -> dict[str, str]:
        return {s.arg.name: s.target for s in self.input_specs
                if s.kind is InputKind.CONSTANT_TENSOR}

    @property
    def user_inputs_to_mutate(self) -> dict[str, str]:
        """Output name -> user input, for the inputs the program updates in place (only a
        functional program, after run_decompositions, returns them, as torch's)."""
        return {s.arg.name: s.target for s in self.output_specs
                if s.kind is OutputKind.USER_INPUT_MUTATION}

    @property
    def buffers_to_mutate(self) -> dict[str, str]:
        """Output name -> buffer, for the buffers the program updates (only a functional
        program, after run_decompositions, returns them, as torch's)."""
        return {s.arg.name: s.target for s in self.output_specs
                if s.kind is OutputKind.BUFFER_MUTATION}


@dataclass(frozen=True)
class ValueRange:
    """The sizes a dynamic dimension may take, ``lower <= size <= upper`` (upper may be inf)."""

    lower: int
    upper: int | float = math.inf

    def __contains__(self, size: int) -> bool:
        return self.lower <= size <= self.upper


@dataclass
class CallSpec:
    """How a call of the exported module is flattened (torch.export's ``ep.call_spec``):
    ``in_spec`` the pytree structure of ``(args, kwargs)``, ``out_spec`` the outputs'."""

    in_spec: Any
    out_spec: Any


@dataclass
class ModuleCallSignature:
    """How a module of the program is called (torch.export's): its flat ``inputs`` and
    ``outputs`` (arguments, empty for the root), the pytree structures ``in_spec`` of its
    ``(args, kwargs)`` and ``out_spec`` of its result, and the root's ``forward_arg_names``
    (the user inputs' names: ``x``, ``args_0`` for ``*args``, a ``**kwargs`` key)."""

    inputs: list[Any]
    outputs: list[Any]
    in_spec: Any
    out_spec: Any
    forward_arg_names: list[str] | None = None


@dataclass
class ModuleCallEntry:
    """One module of ``ep.module_call_graph``: its path (``""`` the root, ``"seq.0"``) and its
    call signature (the root's; None for a submodule)."""

    fqn: str
    signature: ModuleCallSignature | None = None


@dataclass
class _UserInput:
    """What a user input must look like: a tensor of ``shape`` (ints, or names of dynamic
    dimensions), or a constant (checked by the graph itself)."""

    name: str
    kind: str  # "tensor" | "constant" | "any" (dlpy.jit's: not checked)
    shape: list[int | str] = field(default_factory=list)
    dtype: str = ""
    value: Any = None  # a constant's example value

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "shape": self.shape, "dtype": self.dtype}



def _state_kind(root: Module, target: str) -> tuple[InputKind, bool]:
    *prefix, name = target.split(".")
    owner = resolve(root, ".".join(prefix)) if prefix else root
    if name in owner._parameters:
        return InputKind.PARAMETER, True
    if name in owner._buffers:
        return InputKind.BUFFER, name not in owner._non_persistent
    return InputKind.CONSTANT_TENSOR, False


class ExportedProgram:
    """What ``dlpy.export.export`` returns. ``graph_module``/``graph``: the program with every
    parameter, buffer and constant lifted to a placeholder (named by ``graph_signature``), so
    ``ep.graph_module(*state, *inputs)`` is a pure function; leaf layers with state run through
    ``dlpy.func.functional_call``. ``module()``: a runnable Module (state read from
    attributes) that checks its inputs' shapes against the exported ones."""

    def __init__(self, root: GraphModule, user_inputs: list[_UserInput],
                 range_constraints: dict[str, ValueRange],
                 example_inputs: tuple[tuple, dict] | None = None,
                 state_order: list[str] | None = None, call_spec: CallSpec | None = None,
                 input_paths: list[tuple] | None = None):
        self._root = root
        # in_spec/out_spec, and each placeholder's key path in (args, kwargs): None for a
        # loaded program (its module() takes the placeholders, flat)
        self.call_spec = call_spec or CallSpec(None, None)
        self._input_paths = input_paths
        self._state_order = list(state_order or ())  # the module's named_parameters/buffers
        self._user_inputs = user_inputs
        self.range_constraints = dict(range_constraints)
        self.example_inputs = example_inputs
        self._lifted: GraphModule | None = None
        self._signature: ExportGraphSignature | None = None
        # run_decompositions' programs are functional, as torch's: the buffers a layer updates
        # (BatchNorm's statistics in training) are outputs too (BUFFER_MUTATION specs)
        self._functional = False
        self._decomposed: set[str] = set()  # the aten ops ep.graph shows decomposed
        # the root's call signature and one entry per submodule (export fills it)
        self.module_call_graph: list[ModuleCallEntry] = []

    # ---------------------------------------------------------------- lifted form
    def _lift(self) -> None:
        from dlpy.func import functional_call

        root, source = self._root, self._root.graph
        state: dict[str, tuple[InputKind, bool, Any]] = {}
        for node in source.nodes:
            if node.op == "get_attr":
                value = resolve(root, node.target)
                if isinstance(value, (Tensor, np.ndarray)):
                    state.setdefault(node.target, (*_state_kind(root, node.target), value))
            elif node.op == "call_module":
                for name, value in _module_state(resolve(root, node.target)):
                    full = f"{node.target}.{name}"
                    state.setdefault(full, (*_state_kind(root, full), value))
        rank = {name: i for i, name in enumerate(self._state_order)}
        state = dict(sorted(state.items(), key=lambda item: rank.get(item[0], len(rank))))
        graph = Graph()
        placeholders: dict[str, Node] = {}
        input_specs: list[InputSpec] = []
        prefixes = {InputKind.PARAMETER: "p_", InputKind.BUFFER: "b_",
                    InputKind.CONSTANT_TENSOR: "c_"}
        for kind in prefixes:  # torch's order: parameters, buffers, constants, user inputs
            for target, (k, persistent, _) in state.items():
                if k is kind:
                    node = graph.placeholder(prefixes[kind] + target.replace(".", "_"))
                    placeholders[target] = node
                    input_specs.append(InputSpec(kind, TensorArgument(node.name), target,
                                                 persistent if kind is InputKind.BUFFER
                                                 else None))
        env: dict[Node, Any] = {}
        output_specs: list[OutputSpec] = []
        mutated: list[str] = []  # targets of the buffers the program updates, in call order
        inputs_mutated: list[Node] = []  # the user inputs it updates (a functional program)
        for node in source.nodes:
            if node.op == "placeholder":
                env[node] = graph.node_copy(node)
                user = next(u for u in self._user_inputs if u.name == node.target)
                arg = TensorArgument(env[node].name) if user.kind == "tensor" else \
                    ConstantArgument(env[node].name, user.value)
                input_specs.append(InputSpec(InputKind.USER_INPUT, arg, None))
            elif node.op == "get_attr" and node.target in placeholders:
                env[node] = placeholders[node.target]
            elif node.op == "call_module" and _module_state(resolve(root, node.target)):
                mutated += [f"{node.target}.{name}" for name in
                            _mutated_buffers(resolve(root, node.target))]
                module_state = {name: placeholders[f"{node.target}.{name}"] for name, _ in
                                _module_state(resolve(root, node.target))}
                module = graph.get_attr(node.target)
                env[node] = graph.call_function(functional_call, (
                    module, module_state, map_arg(node.args, env.__getitem__),
                    map_arg(node.kwargs, env.__getitem__)))
            elif node.op == "output":
                result = map_arg(node.args[0], env.__getitem__)
                flat: list[Any] = []
                _flatten(result, flat)
                mutated = _in_state_order(mutated + _buffer_updates(source, state),
                                          list(state)) if self._functional else []
                inputs_mutated = [env[n] for n in _input_updates(source)] \
                    if self._functional else []
                if mutated or inputs_mutated:
                    # (updated buffers..., updated user inputs..., user outputs...), flat, as
                    # torch's
                    result = tuple(placeholders[t] for t in mutated) + tuple(inputs_mutated) \
                        + tuple(flat)
                graph.output(result)
            else:
                layer = _layer_call(node, root) if node.op == "call_function" else None
                if layer is not None:
                    mutated += [layer[1][name] for name in _mutated_buffers(layer[0])
                                if name in layer[1]]
                env[node] = graph.node_copy(node, env.__getitem__)
        # the nodes as torch's aten calls (dlpy's calls where there is no rule), each with
        # its value on the example inputs in meta["val"]
        # a functional program (run_decompositions') updates no buffer in place
        core = self._decomposed | (_FUNCTIONALIZED if self._functional else set())
        graph, _ = lower(graph, root, self._placeholder_values(input_specs), core,
                         len(mutated) + len(inputs_mutated),
                         {s.arg.name for s in input_specs if s.kind is InputKind.USER_INPUT})
        for spec, node in zip(input_specs, [n for n in graph.nodes if n.op == "placeholder"]):
            spec.arg.name = node.name  # (a user input named ``input`` keeps its name)
        output = next(n for n in graph.nodes if n.op == "output").args[0]
        if mutated:
            output_specs = [OutputSpec(OutputKind.BUFFER_MUTATION, TensorArgument(v.name), t)
                            for v, t in zip(output, mutated)]
            output = output[len(mutated):]
        if inputs_mutated:
            output_specs += [OutputSpec(OutputKind.USER_INPUT_MUTATION, TensorArgument(v.name),
                                        placeholder.target)
                             for v, placeholder in zip(output, inputs_mutated)]
            output = output[len(inputs_mutated):]
        flat: list[Any] = []
        _flatten(output, flat)
        output_specs += [OutputSpec(OutputKind.USER_OUTPUT, TensorArgument(v.name)
                                    if isinstance(v, Node) else ConstantArgument("", v), None)
                         for v in flat]
        self._lifted = GraphModule(root, graph, type(root).__name__)
        self._signature = ExportGraphSignature(input_specs, output_specs)

    def _placeholder_values(self, input_specs: list[InputSpec]) -> dict[str, Any]:
        """Each placeholder's example value, by name: the state's tensors and the example
        inputs (a loaded program's: zeros of the saved shapes, a dynamic dim at its lower
        bound, at least 2)."""
        values: dict[str, Any] = {}
        users = iter(self._user_inputs)
        paths = iter(self._input_paths or ())
        for spec in input_specs:
            if spec.kind is not InputKind.USER_INPUT:
                values[spec.arg.name] = resolve(self._root, spec.target)
                continue
            user, path = next(users, None), next(paths, None)
            if self.example_inputs is not None and path is not None:
                from dlpy.utils import _pytree as pytree

                values[spec.arg.name] = pytree.key_get(self.example_inputs, path)
            elif user is not None and user.kind == "tensor":
                import dlpy

                shape = [d if isinstance(d, int) else min(
                    max(self.range_constraints[d].lower, 2), self.range_constraints[d].upper)
                    for d in user.shape]
                values[spec.arg.name] = dlpy.tensor(np.zeros(shape, dtype=np.dtype(
                    user.dtype or "float32")))
            elif user is not None:
                values[spec.arg.name] = user.value
        return values

    @property
    def graph_module(self) -> GraphModule:
        if self._lifted is None:
            self._lift()
        return self._lifted

    @property
    def graph(self) -> Graph:
        return self.graph_module.graph

    @property
    def graph_signature(self) -> ExportGraphSignature:
        if self._signature is None:
            self._lift()
        return self._signature

    @property
    def state_dict(self) -> dict[str, Any]:
        """The parameters and persistent buffers, by their names in the module."""
        signature = self.graph_signature
        return {s.target: resolve(self._root, s.target) for s in signature.input_specs
                if s.kind is InputKind.PARAMETER
                or s.kind is InputKind.BUFFER and s.persistent}

    @property
    def constants(self) -> dict[str, Any]:
        """Constant tensors and non-persistent buffers, by name."""
        return {s.target: resolve(self._root, s.target) for s in self.graph_signature.input_specs
                if s.kind is InputKind.CONSTANT_TENSOR
                or s.kind is InputKind.BUFFER and not s.persistent}

    # ---------------------------------------------------------------- running
    def module(self) -> GraphModule:
        """A Module running the program (sharing this program's parameters), which refuses
        inputs whose shapes the export did not allow."""
        gm = GraphModule(self._root, copy.deepcopy(self._root.graph), type(self._root).__name__)
        _in_order(gm, self._state_order)
        if self.call_spec.in_spec is not None and self._input_paths is not None:
            gm.register_forward_pre_hook(_InputFlatten(self.call_spec.in_spec,
                                                       self._input_paths), with_kwargs=True)
        gm.register_forward_pre_hook(_InputCheck(type(self._root).__name__, self._user_inputs,
                                                 self.range_constraints))
        return gm

    def run_decompositions(self, decomp_table: dict | None = None) -> ExportedProgram:
        """A new ExportedProgram (sharing the weights), functional (the buffers it updates are
        outputs too: BUFFER_MUTATION), whose graph shows the aten overloads keyed in
        ``decomp_table`` decomposed as torch 2.13 does (None: ``default_decompositions()``,
        linear -> permute + addmm, batch_norm -> _native_batch_norm_legit_functional...;
        ``{}``: none). A key that is a dlpy function or dlpy.nn layer class is a custom
        decomposition: the program's calls of it are replaced by the ops it calls, repeatedly
        until none is left (``primitive_decompositions()``: dlpy's, to primitive ops)."""
        from dlpy.aten import OpOverload
        from dlpy.export._aten_graph import core_rule
        from dlpy.export._decompositions import decompose, default_decompositions

        table = default_decompositions() if decomp_table is None else dict(decomp_table)
        for key, value in table.items():
            if not callable(value):
                raise TypeError(f"run_decompositions: the decomposition of {key!r} must be a "
                                f"function, got {type(value).__name__}")
            if isinstance(key, OpOverload) and value is not core_rule(key):
                raise NotImplementedError(f"run_decompositions: {key} has dlpy's own "
                                          f"decomposition only; key a custom one by the dlpy "
                                          f"function or layer it replaces")
        aten_ops = {key.__name__ for key in table if isinstance(key, OpOverload)}
        root = decompose(self._root, {k: v for k, v in table.items()
                                      if not isinstance(k, OpOverload)})
        program = ExportedProgram(root, self._user_inputs, self.range_constraints,
                                  self.example_inputs, self._state_order, self.call_spec,
                                  self._input_paths)
        program._functional = True
        program._decomposed = self._decomposed | aten_ops
        program.module_call_graph = list(self.module_call_graph)
        return program

    def __call__(self, *args, **kwargs):
        raise _DirectCallError("ExportedProgram: cannot be called directly; call "
                        "exported_program.module()(...) instead")

    def __str__(self) -> str:
        signature = self.graph_signature
        specs = "\n".join(f"    {s.kind.name}: {s.arg.name}" + (f" -> {s.target}" if s.target
                                                                 else "")
                          for s in signature.input_specs)
        ranges = {k: (v.lower, v.upper) for k, v in self.range_constraints.items()}
        return (f"ExportedProgram:\n{self.graph_module.print_readable(False)}\n"
                f"Graph signature:\n{specs}\nRange constraints: {ranges}\n")

    __repr__ = __str__


# the in-place ops a functional program (run_decompositions') writes out of place
_FUNCTIONALIZED = {"add_.Tensor", "sub_.Tensor", "mul_.Tensor", "div_.Tensor", "copy_.default"}


def _buffer_updates(graph: Graph, state: dict[str, Any]) -> list[str]:
    """The buffers (targets) a traced forward updates itself: in place (``self.buf.add_(x)``,
    ``self.buf += x``, through the results of such calls too) or by assignment
    (``_assign_buffer``), in the order of the updates."""
    from dlpy.fx._symbolic_trace import _assign_buffer

    buffers = {t for t, (kind, _, _) in state.items() if kind is InputKind.BUFFER}
    holds: dict[Node, str] = {}  # node -> the buffer whose tensor it is
    updated: list[str] = []
    for node in graph.nodes:
        if node.op == "get_attr" and node.target in buffers:
            holds[node] = node.target
        elif node.op == "call_function" and node.target is _assign_buffer \
                and node.args[0] in holds:
            updated.append(holds[node.args[0]])
        elif node.op == "call_method" and node.args and node.args[0] in holds \
                and node.target.endswith("_") and not node.target.startswith("_"):
            holds[node] = holds[node.args[0]]
            updated.append(holds[node])
    return updated


def _input_updates(graph: Graph) -> list[Node]:
    """The user inputs (placeholders, in input order) a traced forward updates in place
    (``x.add_(1)``, ``x += 1``, ``x.copy_(y)``, through the results of such calls too)."""
    holds: dict[Node, Node] = {}  # node -> the input whose tensor it is
    updated: set[Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder":
            holds[node] = node
        elif node.op == "call_method" and node.args and node.args[0] in holds \
                and node.target.endswith("_") and not node.target.startswith("_"):
            holds[node] = holds[node.args[0]]
            updated.add(holds[node])
    return [node for node in graph.nodes if node in updated]


def _in_state_order(targets: list[str], order: list[str]) -> list[str]:
    """``targets`` without repeats, in the order of the program's state (as torch lists
    buffer mutations: by input)."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(dict.fromkeys(targets), key=lambda t: rank.get(t, len(rank)))


def _in_order(gm: GraphModule, order: list[str]) -> None:
    """``gm``'s parameters and buffers (each module's registries) put in the exported
    module's order (as torch's ``ep.module()`` registers them), not the graph's."""
    rank = {name: i for i, name in enumerate(order)}
    for prefix, module in gm.named_modules():
        for registry in (module._parameters, module._buffers):
            items = sorted(registry.items(), key=lambda item: rank.get(
                f"{prefix}.{item[0]}".lstrip("."), len(rank)))
            registry.clear()
            registry.update(items)


def _mutated_buffers(module: Module) -> list[str]:
    """The buffers (names in ``module``) a call of the layer updates: a training-mode
    BatchNorm's running statistics and batch count."""
    from dlpy.nn.norm import _BatchNorm

    if isinstance(module, _BatchNorm) and module.training and module.track_running_stats:
        return [name for name in ("running_mean", "running_var", "num_batches_tracked")
                if name in module._buffers]
    return []


def _layer_call(node: Node, root: Module):
    from dlpy.export._decompositions import _layer_call as layer_call

    return layer_call(node, root)


def _module_state(module: Module) -> list[tuple[str, Any]]:
    state = [(n, p) for n, p in module.named_parameters()]
    state += [(n, b) for n, b in module.named_buffers() if b is not None]
    return state


def _flatten(value: Any, out: list) -> None:
    """The leaves of a graph's output, as torch.export flattens it with pytree: tuples, lists,
    dicts, and dataclasses (a traced ``Out(a=add, b=mul)`` is a node building one) registered
    with ``register_dataclass``; an unregistered dataclass is refused (RuntimeError)."""
    if isinstance(value, (tuple, list)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    elif isinstance(value, Node) and value.op == "call_function" \
            and isinstance(value.target, type) and dataclasses.is_dataclass(value.target):
        from dlpy.utils._pytree import SUPPORTED_NODES

        node_def = SUPPORTED_NODES.get(value.target)
        if node_def is None:
            raise _UnknownOutputError(
                f"Found {value.target} in output, which is not a known type. If this type "
                f"holds tensors, you need to register a pytree for it (dlpy.export."
                f"register_dataclass)")
        children, _ = node_def.flatten_fn(value.target(**value.kwargs))
        for v in children:
            _flatten(v, out)
    else:
        out.append(value)


class _UnknownOutputError(TypeError, RuntimeError):
    """An exported program's output holds a type pytree cannot flatten (torch's
    RuntimeError)."""


def output_leaves(graph: Graph) -> list[Any]:
    """The flat outputs of ``graph`` (Nodes and constants); checks every container in the
    output is one pytree can flatten."""
    flat: list[Any] = []
    for node in graph.nodes:
        if node.op == "output":
            _flatten(node.args[0], flat)
    return flat


class _DirectCallError(TypeError, RuntimeError):
    """An ExportedProgram called directly instead of through ``module()`` (torch's
    RuntimeError)."""


class _StructureError(TypeError, ValueError):
    """Inputs of ``ep.module()`` whose pytree structure is not the exported one (torch's
    ValueError)."""


def _same_structure(a: Any, b: Any) -> bool:
    """Whether two TreeSpecs are the same structure, a dict's keys in any order (as torch's
    ``eq_spec``)."""
    if a.is_leaf() or b.is_leaf():
        return a.is_leaf() and b.is_leaf()
    if str(a.type) != str(b.type):
        return False
    if a.type in (dict,) and b.type in (dict,):
        if set(a.context) != set(b.context):
            return False
    elif a.context != b.context:
        return False
    return a.num_children == b.num_children and all(
        _same_structure(x, y) for x, y in zip(a.children(), b.children()))


class _InputShapeError(ValueError, AssertionError):
    """An input of ``ep.module()`` whose shape the export does not allow (torch's guard
    AssertionError)."""


class _InputFlatten:
    """The first forward pre-hook of ``ExportedProgram.module()``: the call's ``(args,
    kwargs)`` (kwargs in any order) must have the exported pytree structure (``in_spec``);
    they become the placeholders' values, flat, each read at its key path."""

    def __init__(self, in_spec: Any, paths: list[tuple]):
        self.in_spec, self.paths = in_spec, paths

    def __call__(self, module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        from dlpy.utils import _pytree as pytree

        expected = list(self.in_spec.child(1).context)
        if set(kwargs) != set(expected):
            raise _StructureError(f"Ran into a kwarg keyword mismatch: Got the following "
                                  f"keywords {list(kwargs)} but expected {expected}")
        call = (tuple(args), {k: kwargs[k] for k in expected})
        received = pytree.tree_structure(call)
        if not _same_structure(self.in_spec, received):
            raise _StructureError(f"Trying to flatten user inputs with exported input tree "
                                  f"spec: \n{self.in_spec}\nbut actually got inputs with tree "
                                  f"spec of: \n{received}.\nPlease check that the inputs have "
                                  f"the same number and type of args and kwargs as the ones "
                                  f"you used when tracing.")
        return tuple(pytree.key_get(call, path) for path in self.paths), {}


class _InputCheck:
    """The forward pre-hook of ``ExportedProgram.module()``: each tensor input's rank and
    static sizes as exported, dynamic sizes in their range and equal where they share a Dim."""

    def __init__(self, owner: str, user_inputs: list[_UserInput],
                 range_constraints: dict[str, ValueRange]):
        self.owner, self.user_inputs, self.ranges = owner, user_inputs, range_constraints

    def __call__(self, module, args: tuple) -> None:
        seen: dict[str, tuple[int, str]] = {}
        for spec, value in zip(self.user_inputs, args):
            if spec.kind != "tensor":  # a constant (checked by the graph) or "any" (jit)
                continue
            if not isinstance(value, (Tensor, np.ndarray)):
                raise TypeError(f"{self.owner}: input {spec.name!r} must be a Tensor, got "
                                f"{type(value).__name__}")
            shape = tuple(value.shape)
            expected = tuple(spec.shape)
            if len(shape) != len(expected):
                raise _InputShapeError(f"{self.owner}: input {spec.name!r} must have "
                                       f"{len(expected)} dims (exported as {expected}), "
                                       f"got shape {shape}")
            for axis, (size, dim) in enumerate(zip(shape, expected)):
                where = f"{spec.name}.shape[{axis}]"
                if isinstance(dim, int):
                    if size != dim:
                        raise _InputShapeError(f"{self.owner}: expected {where} == {dim} (a static "
                                         f"dim of the export), got {size}")
                    continue
                bounds = self.ranges[dim]
                if size not in bounds:
                    raise _InputShapeError(f"{self.owner}: expected {where} (dim {dim!r}) in "
                                     f"[{bounds.lower}, {bounds.upper}], got {size}")
                if dim in seen and seen[dim][0] != size:
                    raise _InputShapeError(f"{self.owner}: {where} and {seen[dim][1]} share dim "
                                     f"{dim!r} and must be equal, got {size} and {seen[dim][0]}")
                seen.setdefault(dim, (size, where))
