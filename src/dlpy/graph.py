"""Inspecting a recorded graph: ``to_dot`` (Graphviz text), ``save`` (render it) and ``validate``.

The engine keeps ``op.inputs`` after backward() frees an op's saved arrays, so a graph can still
be drawn or validated after backward.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from dlpy.tensor import Op, Tensor


def _walk(root: Tensor) -> tuple[list[Tensor], dict[int, list[Tensor]]]:
    """Every tensor the root depends on, each after its inputs (iterative DFS, no recursion).

    Returns the order and, per op (by id), the tensors it produced. Raises ValueError on a cycle.
    """
    order: list[Tensor] = []
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    producers: dict[int, list[Tensor]] = {}
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:
        node, child = stack.pop()
        if child == 0:
            if state.get(id(node)) == 2:
                continue
            state[id(node)] = 1
            if node.op is not None:
                producers.setdefault(id(node.op), []).append(node)
        inputs = node.op.inputs if node.op is not None else ()
        if child < len(inputs):
            stack.append((node, child + 1))
            parent = inputs[child]
            if not isinstance(parent, Tensor):
                raise ValueError(
                    f"validate: {type(node.op).__name__} has input {child} of type "
                    f"{type(parent).__name__}, not a Tensor"
                )
            seen = state.get(id(parent))
            if seen == 1:
                path = [type(n.op).__name__ for n, _ in stack if n.op is not None]
                raise ValueError(
                    "validate: the graph has a cycle through " + " -> ".join(path)
                )
            if seen is None:
                stack.append((parent, 0))
        else:
            state[id(node)] = 2
            order.append(node)
    return order, producers


def _parameter_class() -> type | tuple:
    """dlpy.nn.Parameter, imported lazily (nn imports the engine, not the other way round);
    () when nn cannot be imported, so isinstance(t, _parameter_class()) is simply False."""
    try:
        from dlpy.nn import Parameter
    except ImportError:
        return ()
    return Parameter


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _shape_text(t: Tensor) -> str:
    shape = "(" + ", ".join(str(n) for n in t.shape) + ("," if t.ndim == 1 else "") + ")"
    return f"{shape} {t.dtype}"


def to_dot(tensor: Tensor, params: dict[str, Tensor] | None = None) -> str:
    """Graphviz DOT text of the graph that produced ``tensor``.

    Ops are boxes, tensors ellipses labelled with shape and dtype. Parameters (``nn.Parameter``,
    or any leaf with requires_grad) are green; constants are dashed; the output is orange.
    ``params``: optional names, e.g. ``dict(model.named_parameters())``, to label parameters.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    order, _ = _walk(tensor)
    names = {id(t): name for name, t in (params or {}).items()}
    parameter = _parameter_class()
    tensor_ids = {id(t): f"t{i}" for i, t in enumerate(order)}
    lines = [
        "digraph dlpy {",
        "  rankdir=BT;",
        '  node [fontname="Helvetica", fontsize=10];',
    ]
    op_count = 0
    for t in order:
        node = tensor_ids[id(t)]
        name = names.get(id(t)) or t.name
        parts = [name] if name else []
        parts.append(_shape_text(t))
        if isinstance(t, parameter) or t.op is None and t.requires_grad:
            if not name:
                parts.insert(0, "parameter" if isinstance(t, parameter) else "leaf")
            style = 'shape=box, style=filled, fillcolor="#c8e6c9"'
        elif t.op is None:
            if t.data.size == 1 and not name:  # a constant such as the 2 in x * 2: show it
                parts.insert(0, f"{t.data.item():.4g}")
            style = 'shape=ellipse, style=dashed, color="#888888"'
        else:
            style = "shape=ellipse"
        if t is tensor:
            style = 'shape=ellipse, style=filled, fillcolor="#ffd8a8"'
        label = "\\n".join(_escape(part) for part in parts)  # \n: a line break in DOT
        lines.append(f'  {node} [label="{label}", {style}];')
        if t.op is not None:
            op_node = f"op{op_count}"
            op_count += 1
            op_label = t.op.describe()
            lines.append(
                f'  {op_node} [label="{_escape(op_label)}", shape=box, style="rounded,filled", '
                'fillcolor="#dbe4f0"];'
            )
            for parent in t.op.inputs:
                lines.append(f"  {tensor_ids[id(parent)]} -> {op_node};")
            lines.append(f"  {op_node} -> {node};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def save(tensor: Tensor, path, params: dict[str, Tensor] | None = None) -> Path:
    """Render the graph of ``tensor`` to ``path``; the format comes from the suffix (.svg, .png,
    .pdf; .dot writes the DOT text and needs nothing installed). Returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"graph.save: {path} needs a suffix such as .svg, .png, .pdf or .dot")
    dot_text = to_dot(tensor, params)
    if fmt in ("dot", "gv"):
        path.write_text(dot_text)
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"graph.save: rendering {path.name} needs the Graphviz `dot` program, which is not "
            "installed. Install the Debian package graphviz (`apt-get install graphviz`), or "
            "save the DOT text instead (a .dot path, or graph.to_dot())."
        )
    result = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(path)], input=dot_text, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"graph.save: dot failed to write {path}: {result.stderr.strip()}")
    return path


# Ops whose output has the broadcast shape of their inputs / the shape of their one input.
_BROADCASTING = {"Add", "Sub", "Mul", "Div"}
_SAME_SHAPE = {
    "Identity", "Neg", "Power", "Exp", "Log", "Sqrt", "ReLU", "Sigmoid", "Tanh", "GELU", "GELUTanh",
    "Softmax", "LogSoftmax", "Dropout", "LayerNorm", "BatchNorm", "SiLU", "LeakyReLU", "ELU",
    "Softplus", "Clamp",
}


def validate(tensor: Tensor) -> dict[str, int]:
    """Check the recorded graph behind ``tensor``; raise ValueError saying what is wrong.

    Checks: it is a DAG; ``tensor`` is its one sink and every op produced exactly one tensor (an
    Op instance called twice would mix up its saved state); every tensor's data is an ndarray and
    any ``.grad`` has its shape; element-wise ops, matmul and reshape have consistent shapes.
    Returns counts: {"tensors": ..., "ops": ..., "parameters": ...}.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"validate: expected a Tensor, got {type(tensor).__name__}")
    order, producers = _walk(tensor)
    consumers: dict[int, int] = {}
    for t in order:
        if t.op is not None:
            for parent in t.op.inputs:
                consumers[id(parent)] = consumers.get(id(parent), 0) + 1
    sinks = [t for t in order if id(t) not in consumers]
    if len(sinks) != 1 or sinks[0] is not tensor:
        raise ValueError(f"validate: the graph must have one sink (the output), found {len(sinks)}")
    for outputs in producers.values():
        if len(outputs) > 1:
            raise ValueError(
                f"validate: one {type(outputs[0].op).__name__} op produced {len(outputs)} tensors "
                f"{[tuple(o.shape) for o in outputs]}; create a new op instance for every call"
            )
    parameters = 0
    for t in order:
        if not isinstance(t.data, np.ndarray):
            raise ValueError(f"validate: a tensor's data is {type(t.data).__name__}, not ndarray")
        if t.grad is not None and np.shape(t.grad) != t.shape:
            raise ValueError(
                f"validate: a tensor of shape {t.shape} has a gradient of shape "
                f"{np.shape(t.grad)}"
            )
        if t.op is None:
            parameters += t.requires_grad
        else:
            _check_shapes(t.op, t)
    return {"tensors": len(order), "ops": len(producers), "parameters": parameters}


def _check_shapes(op: Op, out: Tensor) -> None:
    name = type(op).__name__
    shapes = [tuple(t.shape) for t in op.inputs]
    if name in _BROADCASTING:
        try:
            expected = np.broadcast_shapes(*shapes)
        except ValueError:
            expected = None
        if expected != out.shape:
            raise ValueError(
                f"validate: {name} produced {out.shape} from inputs {shapes}, which broadcast "
                f"to {expected if expected is not None else 'nothing'}"
            )
    elif name in _SAME_SHAPE and shapes[0] != out.shape:
        raise ValueError(f"validate: {name} produced {out.shape} from an input of {shapes[0]}")
    elif name == "MatMul":
        a, b = shapes
        k_b = b[-2] if len(b) >= 2 else b[0]
        if a[-1] != k_b:
            raise ValueError(f"validate: MatMul inputs {a} @ {b} do not agree on the inner axis")
    elif name == "Reshape" and int(np.prod(shapes[0])) != out.data.size:
        raise ValueError(f"validate: Reshape produced {out.shape} from {shapes[0]}")
