"""ONNX export, as torch.onnx.export's classic (tracing) form: ``export(model, args, f)`` runs the
model once on example inputs with the graph recorded and writes that graph as an ONNX model.

Every op on the path from the inputs to the outputs becomes ONNX nodes (``CONVERTERS``: one
function per op class); parameters become initializers named by the model's state-dict names,
and other constant tensors become initializers too. ``dynamic_axes`` makes axes symbolic: the
model is traced a second time with those axes one longer, every size that changes stays symbolic
(a reshape keeps it with 0 or -1), and a size baked into the graph is a ValueError. Integer ids
and masks are inputs through the ops that take them as settings (an embedding's ids, an
attention mask). The recurrent ops become ONNX LSTM / GRU / RNN nodes, one a layer direction,
with packed lengths as sequence_lens. Settings that hold positions or masks (where's condition,
gather's index) come from a model input, or are constants if a trace on other input values
(``_Exporter.probe``) leaves them unchanged; positions the values picked become TopK /
ReduceMax / ArgMax (topk, sort, max(dim), argmax and their integer outputs), others are
refused. Fake quantization exports as QuantizeLinear / DequantizeLinear. Needs the ``onnx``
package: ``pip install dlpy[onnx]``.
"""

from __future__ import annotations

import copy
import enum
import math
import os
import re
import sys
import types
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from dlpy.ao.quantization import fake_quantize
from dlpy.graph import _walk
from dlpy.layouts import Relayout
from dlpy.ops import (
    UnsupportedArgError,
    activation,
    activation_more,
    arithmetic,
    attention,
    conv,
    cumulative,
    einsum,
    embedding,
    indexing,
    mask,
    matmul,
    norm,
    pad,
    pointwise,
    rearrange,
    reduce,
    resample,
    rnn,
    shape,
    softmax,
)
from dlpy.tensor import Op, Tensor, enable_grad

__all__ = ["CONVERTERS", "JitScalarType", "ONNXProgram", "OnnxExporterError",
           "OperatorExportTypes", "TensorProtoDataType", "TrainingMode", "errors", "export",
           "is_in_onnx_export", "producer_name", "producer_version",
           "register_custom_op_symbolic", "select_model_mode_for_export",
           "unregister_custom_op_symbolic", "utils"]

_exporting = 0  # how many exports are tracing a model now


def is_in_onnx_export() -> bool:
    """True while ``export`` runs the model (torch.onnx's): code may take an exportable path
    (nn.MultiheadAttention's weights then carry no gradient)."""
    return _exporting > 0

_MIN_OPSET = 17  # LayerNormalization
_INT_MAX = int(np.iinfo(np.int64).max)
_INT_MIN = int(np.iinfo(np.int64).min)


def _import_onnx():
    try:
        import onnx
        import onnx.checker  # noqa: F401
        import onnx.helper  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "dlpy.onnx.export needs the onnx package, which is not installed: "
            "pip install dlpy[onnx] (or pip install onnx onnxruntime)"
        ) from error
    return onnx


# ----------------------------------------------------------------------------- tracing
class _Trace:
    """One forward pass with the graph recorded: the traced inputs, the outputs, and every tensor
    they depend on, each after its inputs."""

    def __init__(self, model, args: tuple):
        self.inputs: list[Tensor] = []
        call_args = []
        for value in args:
            if isinstance(value, np.ndarray):
                value = Tensor(value)
            if isinstance(value, Tensor):
                # a float input records the ops on it; ids and masks (no gradient) are found
                # by their arrays in the settings of the ops that take them
                value = Tensor(value.data, requires_grad=True) if value.dtype.kind == "f" \
                    else Tensor(value.data)
                self.inputs.append(value)
            call_args.append(value)
        global _exporting
        _exporting += 1
        try:
            with enable_grad():
                result = model(*call_args)
        finally:
            _exporting -= 1
        self.outputs = list(result) if isinstance(result, (tuple, list)) else [result]
        for i, out in enumerate(self.outputs):
            if isinstance(out, np.ndarray) and out.dtype.kind in "iu":
                # positions (argmax, argsort): found by their values in _positions_output
                self.outputs[i] = out = Tensor(out)
            if not isinstance(out, Tensor):
                raise TypeError(f"export: the model must return a Tensor or a tuple of Tensors, "
                                f"got {type(out).__name__} as output {i}")
        self.order: list[Tensor] = []
        seen: set[int] = set()
        for out in self.outputs:
            for t in _walk(out)[0]:
                if id(t) not in seen:
                    seen.add(id(t))
                    self.order.append(t)


@contextmanager
def _eval_mode(model):
    """The model in eval mode while it is traced (as torch's exporters do), its modes restored
    afterwards."""
    modules = list(model.modules()) if hasattr(model, "modules") else []
    modes = [m.training for m in modules]
    if modules:
        model.eval()
    try:
        yield model
    finally:
        for m, mode in zip(modules, modes):
            object.__setattr__(m, "training", mode)


def _grown(args: tuple, dynamic: dict[int, set[int]]) -> tuple:
    """The example inputs with each dynamic axis one longer (its last slice repeated)."""
    grown, k = [], 0
    for value in args:
        if isinstance(value, (Tensor, np.ndarray)):
            array = value.data if isinstance(value, Tensor) else value
            for axis in sorted(dynamic.get(k, ())):
                array = np.concatenate([array, np.take(array, [-1], axis=axis)], axis=axis)
            value = Tensor(array)
            k += 1
        grown.append(value)
    return tuple(grown)


def _kind(t: Tensor) -> str:
    return "leaf" if t.op is None else type(t.op).__name__


# ----------------------------------------------------------------------------- the graph
class _Exporter:
    """The ONNX graph being built: names for tensors, nodes, initializers, and what the second
    trace said about each tensor's dynamic axes."""

    def __init__(self, onnx, opset: int, trace: _Trace, twin: _Trace | None,
                 input_names: list[str], param_names: dict[int, str],
                 buffer_names: dict[int, str]):
        self.onnx, self.helper, self.opset = onnx, onnx.helper, opset
        self.nodes: list = []
        self.initializers: list = []
        self.taken: set[str] = set(input_names) | set(param_names.values())
        self.names: dict[int, str] = {}  # id(tensor) -> its ONNX name
        self.producer: dict[str, Any] = {}  # ONNX name -> the node that makes it
        self.param_names, self.buffer_names = param_names, buffer_names
        self.used_inputs: set[str] = set()
        self.input_arrays: list[tuple[str, np.ndarray]] = []  # non-float inputs, by array
        for t, name in zip(trace.inputs, input_names):
            if t.dtype.kind == "f":
                self.names[id(t)] = name
            else:
                self.input_arrays.append((name, t.data))
        self.float_inputs = {name: t.data for t, name in zip(trace.inputs, input_names)
                             if t.dtype.kind == "f"}
        self.twins: dict[int, Tensor] = {}
        if twin is not None:
            self.twins = {id(a): b for a, b in zip(trace.order, twin.order)}
        self.lstm_states: dict[str, tuple] = {}  # ONNX name of an LSTM's h -> its parts
        self.outputs: set[str] = set()  # the graph's outputs so far
        self.trace = trace
        self.index_outputs: dict[int, str] = {}  # id(positions array) -> TopK's indices
        self.retrace: Callable[[], _Trace] | None = None  # the model on other input values
        self._probe: tuple[dict[int, Tensor], _Trace | None] | None = None

    # names
    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def name(self, t: Tensor) -> str:
        """The ONNX name of a tensor; a leaf seen for the first time becomes an initializer."""
        known = self.names.get(id(t))
        if known is not None:
            if known in self.lstm_states:
                raise NotImplementedError(
                    "export: an LSTM's state sequence is exported as ONNX LSTM, whose outputs "
                    "are h at every step and c at the last: only slices of those can be used")
            self.used_inputs.add(known)
            return known
        if t.op is not None:
            raise RuntimeError(f"export: {type(t.op).__name__} used before it was converted")
        name = self.param_names.get(id(t))
        if name is None:
            self._check_constant(t)
            # a buffer itself, or a Tensor over its array: under its state-dict name
            name = self.fresh(self.buffer_names.get(id(t), self.buffer_names.get(
                id(t.data), "constant")))
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(t.data), name))
        self.names[id(t)] = name
        return name

    def _check_constant(self, t: Tensor) -> None:
        twin = self.twins.get(id(t))
        if twin is not None and twin.shape != t.shape:
            raise ValueError(
                f"export: a constant of shape {t.shape} made inside forward changes with the "
                f"dynamic axes ({twin.shape} with them one longer), so the exported graph would "
                "bake it in; build it from the inputs with dlpy ops, or export without "
                "dynamic_axes")

    # settings that follow the input values (positions, masks computed from them)
    def probe(self) -> tuple[dict[int, Tensor], _Trace | None]:
        """({id(tensor): the same tensor in a trace on other float input values}, that trace);
        empty where the model fails there or records another graph."""
        if self._probe is None:
            self._probe = ({}, None)
            try:
                other = self.retrace() if self.retrace is not None else None
            except Exception:  # noqa: BLE001 -- other values may break a model: unknown
                other = None
            if other is not None and [_kind(t) for t in other.order] == \
                    [_kind(t) for t in self.trace.order]:
                pairs = list(zip(self.trace.order, other.order)) + \
                    list(zip(self.trace.inputs, other.inputs))
                self._probe = ({id(a): b for a, b in pairs}, other)
        return self._probe

    def varies(self, out: Tensor, attribute: str) -> bool:
        """Whether the setting ``attribute`` of out's op changes when the float inputs take
        other values (then the traced one must not become a constant); True where unknown."""
        twin = self.probe()[0].get(id(out))
        if twin is None or type(twin.op) is not type(out.op):
            return True
        a, b = getattr(out.op, attribute), getattr(twin.op, attribute)
        return np.shape(a) != np.shape(b) or not np.array_equal(a, b)

    def refuse_varying(self, out: Tensor, attribute: str, what: str, fix: str) -> None:
        """A setting about to become a constant: an error if it follows the input values or
        the dynamic axes."""
        twin = self.twins.get(id(out))
        if twin is not None and np.shape(getattr(twin.op, attribute)) != \
                np.shape(getattr(out.op, attribute)):
            raise ValueError(f"export: {what} {np.shape(getattr(out.op, attribute))} change "
                             f"with the dynamic axes but are not a model input; {fix}")
        if self.varies(out, attribute):
            raise NotImplementedError(
                f"export: {what} {np.shape(getattr(out.op, attribute))} follow the input "
                "values (as x > 0 or topk's positions do), which dlpy does not record, so "
                f"ONNX would keep the traced ones; {fix}")

    def inputs(self, op: Op) -> list[str]:
        return [self.name(t) for t in op.inputs]

    def dynamic(self, t: Tensor) -> set[int]:
        """The axes of t whose size changed in the second trace (none without dynamic_axes)."""
        twin = self.twins.get(id(t))
        if twin is None:
            return set()
        return {i for i, (a, b) in enumerate(zip(t.shape, twin.shape)) if a != b}

    # nodes and constants
    def node(self, op_type: str, inputs: list[str], outputs: int = 1, **attributes):
        names = [self.fresh(op_type) for _ in range(outputs)]
        node = self.helper.make_node(op_type, inputs, names, name=self.fresh(f"{op_type}_node"),
                                     **attributes)
        self.nodes.append(node)
        for name in names:
            self.producer[name] = node
        return names[0] if outputs == 1 else names

    def const(self, array, base: str = "constant") -> str:
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, dtype=np.int64), "ints")

    def scalar(self, value, dtype) -> str:
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        # ReduceSum takes axes as an input from opset 13, the others from opset 18
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.node(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    def rename(self, name: str, wanted: str) -> None:
        """Make the tensor ``name`` appear as the graph output ``wanted`` (a name reserved in
        ``taken``): its node's output renamed, or an Identity where others use it too."""
        node = self.producer.get(name)
        consumed = any(name in n.input for n in self.nodes)
        self.outputs.add(wanted)
        if node is None or consumed or name in self.outputs or name in self.lstm_states:
            self.nodes.append(self.helper.make_node("Identity", [name], [wanted],
                                                    name=self.fresh("Identity_node")))
            return
        node.output[list(node.output).index(name)] = wanted
        self.producer[wanted] = self.producer.pop(name)
        for key, value in self.names.items():  # the tensor goes by its new name
            if value == name:
                self.names[key] = wanted

    def input_array(self, array: np.ndarray) -> str | None:
        """The name of the non-float input whose array this is (an embedding's ids)."""
        for name, data in self.input_arrays:
            if data is array:
                self.used_inputs.add(name)
                return name
        return None


# ----------------------------------------------------------------------------- converters
Converter = Callable[[_Exporter, Op, Tensor], str]
CONVERTERS: dict[type, Converter] = {}


def _converts(*op_classes):
    def register(function):
        for op_class in op_classes:
            CONVERTERS[op_class] = function
        return function
    return register


def _simple(op_class, op_type: str) -> None:
    CONVERTERS[op_class] = lambda ex, op, out: ex.node(op_type, ex.inputs(op))


for _op_class, _op_type in [
    (arithmetic.Add, "Add"), (arithmetic.Sub, "Sub"), (arithmetic.Mul, "Mul"),
    (arithmetic.Div, "Div"), (arithmetic.Neg, "Neg"), (arithmetic.Exp, "Exp"),
    (arithmetic.Log, "Log"), (arithmetic.Sqrt, "Sqrt"), (arithmetic.Abs, "Abs"),
    (arithmetic.Identity, "Identity"), (matmul.MatMul, "MatMul"), (activation.ReLU, "Relu"),
    (activation.Sigmoid, "Sigmoid"), (activation.Tanh, "Tanh"),
    (Relayout, "Identity"),  # (a copy in another memory order: ONNX has no memory order)
]:
    _simple(_op_class, _op_type)


@_converts(arithmetic.Power)
def _power(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("Pow", [x, ex.scalar(op.exponent, out.dtype)])


@_converts(arithmetic.Cast)
def _cast(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("Cast", [x], to=ex.helper.np_dtype_to_tensor_dtype(np.dtype(op.dtype)))


@_converts(activation.GELU)
def _gelu(ex, op, out):
    """0.5 x (1 + erf(x / sqrt 2)); ONNX has Gelu only from opset 20."""
    (x,) = ex.inputs(op)
    if ex.opset >= 20:
        return ex.node("Gelu", [x])
    erf = ex.node("Erf", [ex.node("Mul", [x, ex.scalar(1 / math.sqrt(2), out.dtype)])])
    half_x = ex.node("Mul", [x, ex.scalar(0.5, out.dtype)])
    return ex.node("Mul", [half_x, ex.node("Add", [erf, ex.scalar(1, out.dtype)])])


@_converts(activation.GELUTanh)
def _gelu_tanh(ex, op, out):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    (x,) = ex.inputs(op)
    if ex.opset >= 20:
        return ex.node("Gelu", [x], approximate="tanh")
    cube = ex.node("Mul", [ex.node("Mul", [x, x]), x])
    inner = ex.node("Add", [x, ex.node("Mul", [cube, ex.scalar(0.044715, out.dtype)])])
    tanh = ex.node("Tanh", [ex.node("Mul", [inner, ex.scalar(math.sqrt(2 / math.pi),
                                                              out.dtype)])])
    half_x = ex.node("Mul", [x, ex.scalar(0.5, out.dtype)])
    return ex.node("Mul", [half_x, ex.node("Add", [tanh, ex.scalar(1, out.dtype)])])


@_converts(activation.SiLU)
def _silu(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("Mul", [x, ex.node("Sigmoid", [x])])


@_converts(activation.LeakyReLU)
def _leaky_relu(ex, op, out):
    return ex.node("LeakyRelu", ex.inputs(op), alpha=float(op.negative_slope))


@_converts(activation.ELU)
def _elu(ex, op, out):
    return ex.node("Elu", ex.inputs(op), alpha=float(op.alpha))


@_converts(activation.Clamp)
def _clamp(ex, op, out):
    bounds = ["" if b is None else ex.scalar(b, out.dtype) for b in (op.low, op.high)]
    return ex.node("Clip", ex.inputs(op) + bounds)


@_converts(softmax.Softmax, softmax.LogSoftmax)
def _softmax(ex, op, out):
    return ex.node(type(op).__name__, ex.inputs(op), axis=int(op.axis))


@_converts(matmul.Linear)
def _linear(ex, op, out):
    """x @ w^T + b: Gemm for a 2-D x, else MatMul with the weight transposed, and Add."""
    names = ex.inputs(op)
    if op.inputs[0].ndim == 2:
        return ex.node("Gemm", names, transB=1)
    y = ex.node("MatMul", [names[0], ex.node("Transpose", [names[1]], perm=[1, 0])])
    return ex.node("Add", [y, names[2]]) if len(names) == 3 else y


@_converts(norm.LayerNorm)
def _layer_norm(ex, op, out):
    names = ex.inputs(op)
    if len(names) == 1:  # LayerNormalization needs a scale
        names.append(ex.const(np.ones(out.shape[-1], dtype=out.dtype), "ones"))
    return ex.node("LayerNormalization", names, axis=-1, epsilon=float(op.eps))


@_converts(norm.BatchNorm)
def _batch_norm(ex, op, out):
    if op.training:
        raise NotImplementedError("export: BatchNorm with batch statistics (training mode) has no "
                                  "ONNX form here; call model.eval() (export does) or use "
                                  "running statistics")
    names = ex.inputs(op)
    x, channels = names[0], out.shape[1]
    affine = iter(names[1:])
    scale = next(affine) if op.has_weight else ex.const(np.ones(channels, out.dtype), "ones")
    bias = next(affine) if op.has_bias else ex.const(np.zeros(channels, out.dtype), "zeros")
    # the running statistics under the layer's state-dict names where the weight has one
    prefix = scale[:-len("weight")] if op.has_weight and scale.endswith("weight") else ""
    mean = ex.const(op.running_mean, prefix + "running_mean")
    var = ex.const(op.running_var, prefix + "running_var")
    return ex.node("BatchNormalization", [x, scale, bias, mean, var], epsilon=float(op.eps))


@_converts(conv.Conv1d, conv.Conv2d, conv.Conv3d)
def _conv(ex, op, out):
    names = ex.inputs(op)
    return ex.node("Conv", names, kernel_shape=list(op.inputs[1].shape[2:]),
                   strides=list(op.stride), pads=list(op.padding) * 2,
                   dilations=list(op.dilation), group=int(op.groups))


@_converts(conv.MaxPool1d, conv.MaxPool2d, conv.MaxPool3d)
def _max_pool(ex, op, out):
    return ex.node("MaxPool", ex.inputs(op), kernel_shape=list(op.kernel),
                   strides=list(op.stride), pads=list(op.padding) * 2,
                   dilations=list(op.dilation), ceil_mode=int(op.ceil_mode))


@_converts(conv.AvgPool1d, conv.AvgPool2d, conv.AvgPool3d)
def _avg_pool(ex, op, out):
    if op.divisor_override is not None:
        raise NotImplementedError("export: avg_pool with divisor_override has no ONNX "
                                  "AveragePool form")
    return ex.node("AveragePool", ex.inputs(op), kernel_shape=list(op.kernel),
                   strides=list(op.stride), pads=list(op.padding) * 2,
                   ceil_mode=int(op.ceil_mode), count_include_pad=int(op.count_include_pad))


@_converts(reduce.Sum, reduce.Mean, reduce.Max, reduce.Min)
def _reduce(ex, op, out):
    op_type = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax",
               "Min": "ReduceMin"}[type(op).__name__]
    (x,) = ex.inputs(op)
    return ex.reduce(op_type, x, [int(a) for a in op.axes], op.keepdims)


@_converts(shape.Transpose)
def _transpose(ex, op, out):
    return ex.node("Transpose", ex.inputs(op), perm=[int(a) for a in op.axes])


@_converts(shape.Concat)
def _concat(ex, op, out):
    return ex.node("Concat", ex.inputs(op), axis=int(op.axis))


@_converts(shape.Stack)
def _stack(ex, op, out):
    axis = ex.ints([op.axis])
    return ex.node("Concat", [ex.node("Unsqueeze", [x, axis]) for x in ex.inputs(op)],
                   axis=int(op.axis))


@_converts(shape.Reshape)
def _reshape(ex, op, out):
    """The target shape with the sizes that the dynamic axes change as 0 (copy the input's size
    at that axis) or -1 (whatever is left; one at most)."""
    (x,) = ex.inputs(op)
    source = op.inputs[0]
    dynamic_in, dynamic_out = ex.dynamic(source), ex.dynamic(out)
    twin_in, twin_out = ex.twins.get(id(source)), ex.twins.get(id(out))
    target = []
    for axis, size in enumerate(out.shape):
        if axis not in dynamic_out:
            target.append(size)
        elif axis in dynamic_in and source.shape[axis] == size \
                and twin_in.shape[axis] == twin_out.shape[axis]:
            target.append(0)
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise ValueError(
            f"export: a reshape from {source.shape} to {out.shape} mixes two dynamic sizes "
            f"into axes {[i for i, n in enumerate(target) if n == -1]}; ONNX Reshape can infer "
            "only one (reshape so the dynamic axes stay where they are, or export without "
            "dynamic_axes)")
    if 0 in out.shape:
        raise NotImplementedError(f"export: a reshape to {out.shape}, with an empty axis")
    return ex.node("Reshape", [x, ex.ints(target)])


def _index_parts(index, ndim: int) -> list:
    """A basic index as one entry per item: an int, a slice, None, or an integer array, with
    Ellipsis expanded to full slices."""
    items = list(index) if isinstance(index, tuple) else [index]
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    parts = []
    for item in items:
        if item is Ellipsis:
            parts.extend([slice(None)] * (ndim - used))
        else:
            parts.append(item)
    if not any(item is Ellipsis for item in items):
        parts.extend([slice(None)] * (ndim - used))
    return parts


def _apply_index(ex, x: str, index, ndim: int) -> str:
    """x[index] in ONNX: Slice for the slices, Gather for the ints and one integer array,
    Unsqueeze for the Nones; GatherND for integer arrays on the leading axes alone."""
    parts = _index_parts(index, ndim)
    arrays = [p for p in parts if isinstance(p, (np.ndarray, list))]
    leading = len(arrays)
    if leading > 1 and all(isinstance(p, (np.ndarray, list)) for p in parts[:leading]) \
            and all(p == slice(None) for p in parts[leading:]):
        # integer arrays on the leading axes (as packing a sequence): GatherND at their
        # broadcast positions
        positions = np.stack(np.broadcast_arrays(*[np.asarray(p) for p in arrays]), -1)
        if positions.dtype.kind in "iu":
            return ex.node("GatherND", [x, ex.const(positions.astype(np.int64), "indices")])
    for p in parts:
        ok = p is None or isinstance(p, (slice, int, np.integer)) \
            or isinstance(p, (np.ndarray, list)) and np.asarray(p).dtype.kind in "iu"
        if not ok or isinstance(p, bool) or len(arrays) > 1 or arrays and any(
                isinstance(q, (int, np.integer)) for q in parts):
            raise NotImplementedError(
                f"export: indexing with {index!r} is not supported: ints, slices, None, "
                "Ellipsis and one integer array are")
    starts, ends, axes, steps = [], [], [], []
    gathers, new_axes, axis, out_axis = [], [], 0, 0
    for p in parts:
        if p is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        if isinstance(p, slice):
            step = 1 if p.step is None else int(p.step)
            if (p.start, p.stop, step) != (None, None, 1):
                starts.append(int(p.start) if p.start is not None
                              else (0 if step > 0 else _INT_MAX))
                ends.append(int(p.stop) if p.stop is not None
                            else (_INT_MAX if step > 0 else _INT_MIN))
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        elif isinstance(p, (np.ndarray, list)):
            gathers.append((axis, np.asarray(p, dtype=np.int64)))
            out_axis += np.asarray(p).ndim
        else:
            gathers.append((axis, np.asarray(int(p), dtype=np.int64)))
        axis += 1
    if axes:
        x = ex.node("Slice", [x, ex.ints(starts), ex.ints(ends), ex.ints(axes), ex.ints(steps)])
    for gather_axis, indices in sorted(gathers, key=lambda g: -g[0]):  # later axes first
        x = ex.node("Gather", [x, ex.const(indices, "indices")], axis=gather_axis)
    if new_axes:
        x = ex.node("Unsqueeze", [x, ex.ints(new_axes)])
    return x


@_converts(shape.GetItem)
def _getitem(ex, op, out):
    source = op.inputs[0]
    name = ex.names.get(id(source))
    if name in ex.lstm_states:
        return _lstm_state_item(ex, op, name)
    reduced = _extreme_item(ex, op, out)
    if reduced is not None:
        return reduced
    _refuse_traced_extreme(op.index, source.data)
    (x,) = ex.inputs(op)
    return _apply_index(ex, x, op.index, source.ndim)


def _refuse_traced_extreme(index, data: np.ndarray) -> None:
    """x.max(dim) (min, and the values of topk / sort through their gathers) records a gather
    at the positions the traced values had: an integer array that is the argmax along its
    axis. Exported, those positions would be constants, right for the traced input only."""
    parts = _index_parts(index, data.ndim) if data.ndim else []
    for axis, p in enumerate(parts[:data.ndim]):
        if not isinstance(p, np.ndarray) or p.dtype.kind not in "iu" or not data.size:
            continue
        for keepdims in (False, True):
            for find, name in ((np.argmax, "max"), (np.argmin, "min")):
                found = find(data, axis=axis, keepdims=keepdims)
                if found.shape == p.shape and np.array_equal(found, p):
                    raise NotImplementedError(
                        f"export: indexing with the {name} positions along axis {axis} "
                        f"(x.{name}(dim)) is not supported: dlpy records a gather at the "
                        "positions of the traced input only, which ONNX would keep as "
                        "constants; use x.amax(dim) / x.amin(dim) for the values")


@_converts(embedding.Embedding)
def _embedding(ex, op, out):
    (weight,) = ex.inputs(op)
    ids = ex.input_array(op.ids)
    if ids is None:
        twin = ex.twins.get(id(out))
        if twin is not None and twin.op.ids.shape != op.ids.shape:
            raise ValueError(
                f"export: an embedding's ids {op.ids.shape} change with the dynamic axes but are "
                "not a model input; pass them to the model as an input")
        ids = ex.const(op.ids.astype(np.int64), "ids")
    return ex.node("Gather", [weight, ids], axis=0)


def _attention_mask(ex, op, out) -> str:
    """The additive mask: built from a model input (a boolean or float key padding or attention
    mask) where its values are the input's, else a constant."""
    mask = op.mask
    for name, data in list(ex.input_arrays) + list(ex.float_inputs.items()):
        additive = attention.additive_mask(data, mask.dtype) if data.dtype.kind in "bf" else None
        if additive is None:
            continue
        extra = None
        if mask.shape == additive.shape:
            unsqueeze = None
        elif data.ndim == 2 and mask.shape == (data.shape[0], 1, 1, data.shape[1]):
            unsqueeze = [1, 2]  # a key padding mask (batch, seq_k)
        elif data.ndim == 2 and mask.ndim == 4 and mask.shape[:2] == (data.shape[0], 1) \
                and mask.shape[3] == data.shape[1]:
            # a key padding mask plus an attention mask (seq_q, seq_k), a constant
            unsqueeze, extra = [1, 2], _attention_mask_rest(mask, additive)
            if extra is None:
                continue
        else:
            continue
        if extra is None and not np.array_equal(mask.reshape(additive.shape), additive):
            continue
        ex.used_inputs.add(name)
        if data.dtype == np.bool_:
            name = ex.node("Where", [name, ex.scalar(-np.inf, mask.dtype),
                                     ex.scalar(0, mask.dtype)])
        elif data.dtype != mask.dtype:
            name = ex.node("Cast", [name], to=ex.helper.np_dtype_to_tensor_dtype(mask.dtype))
        if unsqueeze is not None:
            name = ex.node("Unsqueeze", [name, ex.ints(unsqueeze)])
        return name if extra is None else ex.node("Add", [name, ex.const(extra, "attn_mask")])
    twin = ex.twins.get(id(out))
    if twin is not None and twin.op.mask.shape != mask.shape:
        raise ValueError(
            f"export: an attention mask {mask.shape} changes with the dynamic axes but is not "
            "a model input; pass it to the model as an input")
    return ex.const(mask, "attention_mask")


def _attention_mask_rest(mask: np.ndarray, padding: np.ndarray) -> np.ndarray | None:
    """The (seq_q, seq_k) mask that, added to the key padding mask padding (batch, seq_k), gives
    mask (batch, 1, seq_q, seq_k); None if there is none, or if some key is padded in every
    row (its column cannot be read off)."""
    open_rows = ~np.isneginf(padding)  # (batch, seq_k)
    if not open_rows.any(axis=0).all():
        return None
    row = open_rows.argmax(axis=0)  # for each key, a sequence where it is not padding
    keys = np.arange(padding.shape[1])
    rest = mask[row, 0, :, keys].T - padding[row, keys]  # (seq_q, seq_k)
    return rest if np.array_equal(padding[:, None, None, :] + rest, mask) else None


@_converts(attention.Attention)
def _attention(ex, op, out):
    """softmax(q k^T * scale + mask) v, heads split and merged by Reshape and Transpose."""
    if op.keep is not None:
        raise NotImplementedError("export: attention with dropout on its weights (training "
                                  "mode); export in eval mode")
    dtype, heads = out.dtype, op.num_heads
    if op.packed:
        width = op.inputs[0].shape[-1] // 3
        (qkv,) = ex.inputs(op)
        q, k, v = ex.node("Split", [qkv, ex.ints([width] * 3)], outputs=3, axis=-1)
    else:
        q, k, v = ex.inputs(op)
    if heads is not None:  # (batch, seq, heads * dim) -> (batch, heads, seq, dim)
        split = ex.ints([0, 0, heads, -1])
        q, k, v = (ex.node("Transpose", [ex.node("Reshape", [t, split])], perm=[0, 2, 1, 3])
                   for t in (q, k, v))
        rank = 4
    else:
        rank = op.inputs[1].ndim
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    scores = ex.node("MatMul", [ex.node("Mul", [q, ex.scalar(op.scale, dtype)]),
                                ex.node("Transpose", [k], perm=perm)])
    if op.mask is not None:
        scores = ex.node("Add", [scores, _attention_mask(ex, op, out)])
    y = ex.node("MatMul", [ex.node("Softmax", [scores], axis=-1), v])
    if heads is None:
        return y
    merged = ex.node("Transpose", [y], perm=[0, 2, 1, 3])
    return ex.node("Reshape", [merged, ex.ints([0, 0, -1])])


# ONNX's gate order from dlpy's (PyTorch's): LSTM i, f, g, o -> i, o, f, c (= g); GRU r, z, n
# -> z, r, h (= n)
_GATES = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}


def _is_zeros(ex, t: Tensor) -> bool:
    return t.op is None and id(t) not in ex.names and not t.requires_grad \
        and not np.any(t.data)


def _recurrence(ex, op, out, op_type: str, x_proj: str, **attributes) -> list[str]:
    """An ONNX LSTM / GRU / RNN node on x_proj (L, N, G) (already x W_ih^T + b_ih, so W is a
    constant that reorders the gates): R is W_hh with its gates reordered, B is [0 | b_hh]
    reordered, the initial states are dlpy's (left out where they are zeros) and packed
    ``lengths`` become sequence_lens. Returns the node's outputs (Y, Y_h[, Y_c])."""
    states = op.inputs[1:1 + op.num_states]
    w_hh = op.inputs[1 + op.num_states]
    gates = _GATES[op_type]
    hidden = w_hh.shape[0] // len(gates)
    order = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in gates])
    w = np.eye(len(order), dtype=out.dtype)[order][None]  # (1, G, G): picks the gates
    recurrence = ex.node("Gather", [ex.name(w_hh), ex.ints(order)], axis=0)
    recurrence = ex.node("Unsqueeze", [recurrence, ex.ints([0])])
    if op.bias:
        b_hh = ex.node("Gather", [ex.name(op.inputs[2 + op.num_states]), ex.ints(order)], axis=0)
        zeros = ex.const(np.zeros(len(order), out.dtype), "zeros")
        bias = ex.node("Unsqueeze", [ex.node("Concat", [zeros, b_hh], axis=0), ex.ints([0])])
    else:
        bias = ""
    if op.lengths is not None and ex.dynamic(out):
        raise ValueError("export: a recurrent layer with packed lengths bakes them in as "
                         "sequence_lens, so its sequence and batch axes cannot be dynamic")
    lengths = "" if op.lengths is None else ex.const(op.lengths.astype(np.int32),
                                                     "sequence_lens")
    initial = ["" if _is_zeros(ex, s) else ex.node("Unsqueeze", [ex.name(s), ex.ints([0])])
               for s in states]
    return ex.node(op_type, [x_proj, ex.const(w, f"{op_type.lower()}_W"), recurrence, bias,
                             lengths] + initial, outputs=2 + (op_type == "LSTM"),
                   hidden_size=hidden, direction="reverse" if op.reverse else "forward",
                   **attributes)


def _every_step(ex, op, out, y: str, y_h: str, h0: Tensor) -> str:
    """dlpy's h at every step (L, N, H) from ONNX's Y (L, 1, N, H). With packed lengths, ONNX
    writes 0 past a sequence's end where dlpy keeps its state: the last state going forward,
    the initial one going backward (the reverse direction starts at the sequence's end)."""
    h = ex.node("Squeeze", [y, ex.ints([1])])
    if op.lengths is None:
        return h
    seq_len = out.shape[0]
    running = (np.arange(seq_len)[:, None] < op.lengths[None, :])[..., None]  # (L, N, 1)
    if not op.reverse:
        kept = y_h  # (1, N, H), the state after each sequence's last step
    elif _is_zeros(ex, h0):
        kept = ex.const(np.zeros((1, 1, 1), out.dtype), "zeros")
    else:
        kept = ex.node("Unsqueeze", [ex.name(h0), ex.ints([0])])
    return ex.node("Where", [ex.const(running, "running"), h, kept])


@_converts(rnn.LSTMSequence)
def _lstm(ex, op, out):
    """ONNX LSTM. Its outputs are h at every step and c at the last, so only slices of those
    can be taken from dlpy's state sequence [h | c]; with proj_size (W_hr) there is no ONNX
    form."""
    if op.proj:
        raise NotImplementedError("export: LSTM with proj_size has no ONNX form (ONNX LSTM has "
                                  "no projection of h)")
    y, y_h, c_last = _recurrence(ex, op, out, "LSTM", ex.name(op.inputs[0]))
    h = _every_step(ex, op, out, y, y_h, op.inputs[1])
    ex.lstm_states[h] = (c_last, op.inputs[3].shape[1], op.reverse, out.shape[0])
    return h


@_converts(rnn.GRUSequence)
def _gru(ex, op, out):
    """ONNX GRU with linear_before_reset=1: r multiplies h W_hn^T + b_hn, as PyTorch's."""
    y, y_h = _recurrence(ex, op, out, "GRU", ex.name(op.inputs[0]), linear_before_reset=1)
    return _every_step(ex, op, out, y, y_h, op.inputs[1])


@_converts(rnn.RNNSequence)
def _rnn(ex, op, out):
    """ONNX RNN, its activation Tanh or Relu."""
    y, y_h = _recurrence(ex, op, out, "RNN", ex.name(op.inputs[0]),
                         activations=[op.nonlinearity.capitalize()])
    return _every_step(ex, op, out, y, y_h, op.inputs[1])


@_converts(rnn.LSTMCell, rnn.GRUCell, rnn.RNNCell)
def _cell(ex, op, out):
    """One step: the sequence node on x_proj (1, N, G); the new state is Y_h ([Y_h | Y_c] for
    an LSTM)."""
    op_type = {rnn.LSTMCell: "LSTM", rnn.GRUCell: "GRU", rnn.RNNCell: "RNN"}[type(op)]
    attributes = {"GRU": {"linear_before_reset": 1},
                  "RNN": {"activations": [getattr(op, "nonlinearity", "tanh").capitalize()]},
                  "LSTM": {}}[op_type]
    x_proj = ex.node("Unsqueeze", [ex.name(op.inputs[0]), ex.ints([0])])
    outputs = _recurrence(ex, op, out, op_type, x_proj, **attributes)
    states = [ex.node("Squeeze", [s, ex.ints([0])]) for s in outputs[1:]]
    return states[0] if len(states) == 1 else ex.node("Concat", states, axis=1)


def _lstm_state_item(ex, op, h: str) -> str:
    """A slice of dlpy's LSTM states (L, N, 2H) = [h | c]: of h at any step, or of c at the
    last step taken (ONNX LSTM's Y and Y_c)."""
    c_last, hidden, reverse, seq_len = ex.lstm_states[h]
    ex.used_inputs.add(h)
    parts = _index_parts(op.index, 3)
    last = parts[-1] if len(parts) == 3 else None
    if isinstance(last, slice) and last.step in (None, 1):
        start, stop, _ = last.indices(2 * hidden)
        if stop <= hidden:
            return _apply_index(ex, h, op.index, 3)
        step = parts[0]
        final = 0 if reverse else seq_len - 1
        if start >= hidden and isinstance(step, (int, np.integer)) \
                and int(step) % seq_len == final and parts[1] == slice(None):
            return _apply_index(ex, c_last, (0, slice(None), slice(start - hidden,
                                                                   stop - hidden)), 3)
    raise NotImplementedError(
        f"export: the LSTM states indexed with {op.index!r}: ONNX LSTM gives h at every step "
        "and c at the last step only")


# ----------------------------------------------------------------------------- more ops
for _op_class, _op_type in [
    (pointwise.Erf, "Erf"), (pointwise.Pow, "Pow"), (pointwise.Sin, "Sin"),
    (pointwise.Cos, "Cos"), (pointwise.Atan, "Atan"), (activation_more.Hardswish, "HardSwish"),
]:
    _simple(_op_class, _op_type)


@_converts(pointwise.Maximum)
def _maximum(ex, op, out):
    return ex.node("Min" if op.smaller else "Max", ex.inputs(op))


@_converts(pointwise.Log1p)
def _log1p(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("Log", [ex.node("Add", [x, ex.scalar(1, out.dtype)])])


_STEPS = {"sign": "Sign", "floor": "Floor", "ceil": "Ceil", "round": "Round", "rint": "Round",
          "around": "Round"}


@_converts(pointwise.Step)
def _step(ex, op, out):
    """sign / floor / ceil / round (half to even in both) to their ONNX ops."""
    op_type = _STEPS.get(op.function.__name__)
    if op_type is None or op.decimals:
        raise NotImplementedError(f"export: {op.function.__name__} (decimals={op.decimals}) "
                                  "has no ONNX form here; sign, floor, ceil and round "
                                  "(decimals=0) do")
    return ex.node(op_type, ex.inputs(op))


@_converts(activation_more.Hardsigmoid)
def _hardsigmoid(ex, op, out):
    return ex.node("HardSigmoid", ex.inputs(op), alpha=1 / 6, beta=0.5)


def _softplus_of(ex, x: str, dtype) -> str:
    """log(1 + exp(x)) without overflow: max(x, 0) + log(1 + exp(-|x|))."""
    tail = ex.node("Log", [ex.node("Add", [ex.node("Exp", [ex.node("Neg", [ex.node(
        "Abs", [x])])]), ex.scalar(1, dtype)])])
    return ex.node("Add", [ex.node("Relu", [x]), tail])


@_converts(activation.Softplus)
def _softplus(ex, op, out):
    """log(1 + exp(beta x)) / beta, x where beta x > threshold (torch's linear region)."""
    (x,) = ex.inputs(op)
    z = ex.node("Mul", [x, ex.scalar(op.beta, out.dtype)])
    soft = ex.node("Div", [_softplus_of(ex, z, out.dtype), ex.scalar(op.beta, out.dtype)])
    linear = ex.node("Greater", [z, ex.scalar(op.threshold, out.dtype)])
    return ex.node("Where", [linear, x, soft])


@_converts(activation_more.Mish)
def _mish(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("Mul", [x, ex.node("Tanh", [_softplus_of(ex, x, out.dtype)])])


@_converts(activation_more.LogSigmoid)
def _log_sigmoid(ex, op, out):
    """-softplus(-x)."""
    (x,) = ex.inputs(op)
    return ex.node("Neg", [_softplus_of(ex, ex.node("Neg", [x]), out.dtype)])


@_converts(activation_more.PReLU)
def _prelu(ex, op, out):
    """ONNX PRelu, the (C,) weight as (C, 1, ...) to broadcast along axis 1."""
    x, weight = ex.inputs(op)
    ndim, channels = op.inputs[0].ndim, op.inputs[1].data.size
    if channels > 1 and ndim > 2:
        weight = ex.node("Reshape", [weight, ex.ints([channels] + [1] * (ndim - 2))])
    return ex.node("PRelu", [x, weight])


@_converts(activation_more.GLU)
def _glu(ex, op, out):
    (x,) = ex.inputs(op)
    half = op.inputs[0].shape[op.axis] // 2
    a, b = ex.node("Split", [x, ex.ints([half, half])], outputs=2, axis=int(op.axis))
    return ex.node("Mul", [a, ex.node("Sigmoid", [b])])


@_converts(activation_more.ScaledELU)
def _scaled_elu(ex, op, out):
    """Selu / Celu where they fit, else scale * where(x > 0, x, alpha (exp(s x) - 1))."""
    (x,) = ex.inputs(op)
    if op.input_scale == 1 and not np.isclose(op.scale, 1):
        return ex.node("Selu", [x], alpha=float(op.alpha), gamma=float(op.scale))
    if op.scale == 1 and np.isclose(op.input_scale * op.alpha, 1):
        return ex.node("Celu", [x], alpha=float(op.alpha))
    dtype = out.dtype
    negative = ex.node("Mul", [ex.node("Sub", [ex.node("Exp", [ex.node(
        "Mul", [x, ex.scalar(op.input_scale, dtype)])]), ex.scalar(1, dtype)]),
        ex.scalar(op.alpha, dtype)])
    y = ex.node("Where", [ex.node("Greater", [x, ex.scalar(0, dtype)]), x, negative])
    return ex.node("Mul", [y, ex.scalar(op.scale, dtype)])


# reductions
def _axes(op_axes, ndim: int) -> list[int]:
    return list(range(ndim)) if op_axes is None else [int(a) % ndim for a in np.atleast_1d(
        op_axes)]


@_converts(cumulative.Prod)
def _prod(ex, op, out):
    (x,) = ex.inputs(op)
    ndim = op.inputs[0].ndim
    return ex.reduce("ReduceProd", x, _axes(op.dim, ndim), op.keepdim and op.dim is not None)


@_converts(reduce.LogSumExp)
def _logsumexp(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.reduce("ReduceLogSumExp", x, _axes(op.axes, op.inputs[0].ndim), op.keepdims)


@_converts(reduce.Var, reduce.Std)
def _var(ex, op, out):
    """mean((x - mean x)^2) * n / (n - correction), its square root for std."""
    (x,) = ex.inputs(op)
    source, dtype = op.inputs[0], out.dtype
    axes = _axes(op.axes, source.ndim)
    if any(a in ex.dynamic(source) for a in axes):
        raise ValueError("export: var / std over a dynamic axis bakes its length into the "
                         "correction n / (n - correction); export without dynamic_axes there")
    count = math.prod(source.shape[a] for a in axes)
    centred = ex.node("Sub", [x, ex.reduce("ReduceMean", x, axes, True)])
    mean_square = ex.reduce("ReduceMean", ex.node("Mul", [centred, centred]), axes, op.keepdims)
    dof = count - op.correction
    y = ex.node("Mul", [mean_square, ex.scalar(count / dof if dof > 0 else np.inf, dtype)])
    return ex.node("Sqrt", [y]) if op.root else y


@_converts(reduce.Norm)
def _norm(ex, op, out):
    """ReduceL2 / ReduceL1, ReduceMax of |x| (p = inf), else (sum |x|^p)^(1/p)."""
    (x,) = ex.inputs(op)
    axes, dtype = _axes(op.axes, op.inputs[0].ndim), out.dtype
    if op.p == 2:
        return ex.reduce("ReduceL2", x, axes, op.keepdims)
    if op.p == 1:
        return ex.reduce("ReduceL1", x, axes, op.keepdims)
    magnitude = ex.node("Abs", [x])
    if op.p == math.inf:
        return ex.reduce("ReduceMax", magnitude, axes, op.keepdims)
    if op.p == 0 or op.p == -math.inf:
        raise NotImplementedError(f"export: vector_norm with ord={op.p} has no ONNX form here")
    powered = ex.node("Pow", [magnitude, ex.scalar(op.p, dtype)])
    total = ex.reduce("ReduceSum", powered, axes, op.keepdims)
    return ex.node("Pow", [total, ex.scalar(1 / op.p, dtype)])


@_converts(cumulative.CumSum)
def _cumsum(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("CumSum", [x, ex.const(np.asarray(op.dim, np.int64), "axis")])


# rearranging
@_converts(rearrange.Expand)
def _expand(ex, op, out):
    """Expand to the new shape; an axis that the dynamic axes change keeps the input's size
    (1 in the target: Expand broadcasts, so a size-1 target copies the input's)."""
    (x,) = ex.inputs(op)
    dynamic = ex.dynamic(out)
    source = op.inputs[0]
    lead = out.ndim - source.ndim
    target = []
    for axis, size in enumerate(out.shape):
        if axis in dynamic:
            if axis < lead or source.shape[axis - lead] == 1:
                raise ValueError(f"export: expand to {out.shape} makes axis {axis} dynamic "
                                 "from a size the input does not have; export without "
                                 "dynamic_axes there")
            target.append(1)
        else:
            target.append(size)
    return ex.node("Expand", [x, ex.ints(target)])


@_converts(rearrange.Repeat)
def _repeat(ex, op, out):
    """Tile; torch's repeat with more repeats than axes adds leading axes first."""
    (x,) = ex.inputs(op)
    reps, ndim = list(op.reps), op.inputs[0].ndim
    if len(reps) > ndim:
        x = ex.node("Unsqueeze", [x, ex.ints(list(range(len(reps) - ndim)))])
    elif len(reps) < ndim:
        reps = [1] * (ndim - len(reps)) + reps
    return ex.node("Tile", [x, ex.ints(reps)])


@_converts(rearrange.Flip)
def _flip(ex, op, out):
    (x,) = ex.inputs(op)
    dims = _axes(op.dims, op.inputs[0].ndim)
    n = len(dims)
    return ex.node("Slice", [x, ex.ints([-1] * n), ex.ints([_INT_MIN] * n), ex.ints(dims),
                             ex.ints([-1] * n)])


@_converts(rearrange.Triangle)
def _triangle(ex, op, out):
    (x,) = ex.inputs(op)
    return ex.node("Trilu", [x, ex.const(np.asarray(op.diagonal, np.int64), "k")],
                   upper=int(op.upper))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


@_converts(pad.Pad)
def _pad(ex, op, out):
    """ONNX Pad (constant, reflect, replicate as edge); circular padding and negative widths
    (a crop) as constant Slice and Gather maps."""
    (x,) = ex.inputs(op)
    widths = [tuple(int(w) for w in pair) for pair in op.widths]
    if op.mode in _PAD_MODES and all(w >= 0 for pair in widths for w in pair):
        pads = [b for b, _ in widths] + [a for _, a in widths]
        inputs = [x, ex.ints(pads)]
        if op.mode == "constant":
            inputs.append(ex.scalar(op.value, out.dtype))
        return ex.node("Pad", inputs, mode=_PAD_MODES[op.mode])
    source = op.inputs[0]
    padded = [axis for axis, (b, a) in enumerate(widths) if b or a]
    if set(padded) & ex.dynamic(source):
        raise ValueError(f"export: {op.mode} padding with widths {widths} along a dynamic axis "
                         "has no ONNX form here; export without dynamic_axes there")
    if op.mode == "constant":  # a crop, then the growth
        cut = [(max(-b, 0), max(-a, 0)) for b, a in widths]
        x = _apply_index(ex, x, tuple(slice(b, n - a) for n, (b, a) in
                                      zip(source.shape, cut)), source.ndim)
        grown = [max(b, 0) for b, _ in widths] + [max(a, 0) for _, a in widths]
        return ex.node("Pad", [x, ex.ints(grown), ex.scalar(op.value, out.dtype)])
    for axis, index in pad._index_maps(widths, op.mode, source.shape):
        x = ex.node("Gather", [x, ex.const(index.astype(np.int64), "indices")], axis=axis)
    return x


@_converts(resample.Resample)
def _resample(ex, op, out):
    """interpolate along one axis: y = sum_k weights[k] * x gathered at indices[k] (constant
    taps: the sizes are baked in)."""
    (x,) = ex.inputs(op)
    if op.axis in ex.dynamic(op.inputs[0]) or op.axis in ex.dynamic(out):
        raise ValueError(f"export: interpolate along dynamic axis {op.axis} bakes in its size; "
                         "export without dynamic_axes there")
    ndim = op.inputs[0].ndim
    y = None
    for k, index in enumerate(op.indices):
        term = ex.node("Gather", [x, ex.const(index.astype(np.int64), "indices")],
                       axis=int(op.axis))
        if op.weights is not None:
            shape = [1] * ndim
            shape[op.axis] = -1
            weight = np.asarray(op.weights[k], out.dtype).reshape(shape)
            term = ex.node("Mul", [term, ex.const(weight, "weights")])
        y = term if y is None else ex.node("Add", [y, term])
    return y


@_converts(conv.ConvTranspose1d, conv.ConvTranspose2d, conv.ConvTranspose3d)
def _conv_transpose(ex, op, out):
    return ex.node("ConvTranspose", ex.inputs(op),
                   kernel_shape=list(op.inputs[1].shape[2:]), strides=list(op.stride),
                   pads=list(op.padding) * 2, output_padding=list(op.output_padding),
                   dilations=list(op.dilation), group=int(op.groups))


@_converts(norm.GroupNorm)
def _group_norm(ex, op, out):
    """x (N, C, *) as (N, G, -1): centred by the mean, divided by sqrt(var + eps), back to x's
    shape, then the per-channel weight and bias."""
    names = ex.inputs(op)
    x, dtype = names[0], out.dtype
    ndim = op.inputs[0].ndim
    grouped = ex.node("Reshape", [x, ex.ints([0, op.num_groups, -1])])
    centred = ex.node("Sub", [grouped, ex.reduce("ReduceMean", grouped, [2], True)])
    var = ex.reduce("ReduceMean", ex.node("Mul", [centred, centred]), [2], True)
    std = ex.node("Sqrt", [ex.node("Add", [var, ex.scalar(op.eps, dtype)])])
    y = ex.node("Reshape", [ex.node("Div", [centred, std]), ex.node("Shape", [x])])
    affine = iter(names[1:])
    channel_shape = ex.ints([-1] + [1] * (ndim - 2))
    if op.has_weight:
        y = ex.node("Mul", [y, ex.node("Reshape", [next(affine), channel_shape])])
    if op.has_bias:
        y = ex.node("Add", [y, ex.node("Reshape", [next(affine), channel_shape])])
    return y


@_converts(einsum.Einsum)
def _einsum(ex, op, out):
    return ex.node("Einsum", ex.inputs(op), equation=op.equation.replace(" ", ""))


@_converts(fake_quantize.FakeQuantizePerTensor, fake_quantize.FakeQuantizePerChannel)
def _fake_quantize(ex, op, out):
    """QuantizeLinear then DequantizeLinear (per channel: their axis), as torch exports fake
    quantization; a narrower range than the 8-bit type's (reduce_range: 0..127) clips the
    integers in between."""
    if out.dtype != np.float32:
        raise NotImplementedError(f"export: fake quantization of {out.dtype} has no ONNX form "
                                  "here (QuantizeLinear takes float32)")
    if op.quant_min >= 0 and op.quant_max <= 255:
        storage, low, high = np.uint8, 0, 255
    elif op.quant_min >= -128 and op.quant_max <= 127:
        storage, low, high = np.int8, -128, 127
    else:
        raise NotImplementedError(f"export: fake quantization to [{op.quant_min}, "
                                  f"{op.quant_max}] has no 8-bit ONNX form")
    (x,) = ex.inputs(op)
    scale, zero_point = np.asarray(op.scale, np.float32), np.asarray(op.zero_point)
    attributes = {}
    if isinstance(op, fake_quantize.FakeQuantizePerChannel):
        attributes["axis"] = int(np.argmax(scale.shape))
        scale, zero_point = scale.reshape(-1), zero_point.reshape(-1)
    else:
        scale, zero_point = scale.reshape(()), zero_point.reshape(())
    qparams = [ex.const(scale, "scale"), ex.const(zero_point.astype(storage), "zero_point")]
    q = ex.node("QuantizeLinear", [x] + qparams, **attributes)
    if (op.quant_min, op.quant_max) != (low, high):
        q = ex.node("Clip", [q, ex.const(np.asarray(op.quant_min, storage), "quant_min"),
                             ex.const(np.asarray(op.quant_max, storage), "quant_max")])
    return ex.node("DequantizeLinear", [q] + qparams, **attributes)


# ops whose settings hold positions or masks: from a model input, a constant, or (positions
# picked by the input's values) TopK / ReduceMax / ArgMax
@_converts(mask.Where)
def _where(ex, op, out):
    """Where with the condition a boolean model input (a mask passed in), else a constant; a
    condition computed from the input values (x > 0) is not recorded, so it is refused."""
    condition = ex.input_array(op.condition)
    if condition is None:
        ex.refuse_varying(out, "condition", "where / masked_fill's condition",
                          "pass the mask to the model as an input, or use relu / clamp / "
                          "maximum")
        condition = ex.const(np.asarray(op.condition, bool), "condition")
    elif op.condition.dtype != np.bool_:
        condition = ex.node("Cast", [condition], to=ex.onnx.TensorProto.BOOL)
    return ex.node("Where", [condition] + ex.inputs(op))


def _index_input(ex, index: np.ndarray) -> str | None:
    """The model input holding these positions (same object, or same values), as int64."""
    name = ex.input_array(index)
    if name is None:
        for candidate, data in ex.input_arrays:
            if data.dtype.kind in "iu" and data.shape == index.shape \
                    and np.array_equal(data, index):
                ex.used_inputs.add(candidate)
                name = candidate
                break
    if name is not None and index.dtype != np.int64:
        name = ex.node("Cast", [name], to=ex.onnx.TensorProto.INT64)
    return name


def _top_k(data: np.ndarray, index: np.ndarray, axis: int) -> bool | None:
    """True (largest first) / False (smallest first) if the values at ``index`` along ``axis``
    are data's k largest / smallest in order (topk, sort), else None."""
    k = index.shape[axis]
    if index.shape[:axis] + index.shape[axis + 1:] != data.shape[:axis] + data.shape[axis + 1:] \
            or k > data.shape[axis] or not data.size:
        return None
    values = np.take_along_axis(data, index, axis)
    ordered = np.sort(data, axis=axis)
    if np.array_equal(values, np.flip(ordered, axis).take(range(k), axis)):
        return True
    if np.array_equal(values, ordered.take(range(k), axis)):
        return False
    return None


@_converts(indexing.Gather)
def _gather(ex, op, out):
    """torch.gather as GatherElements; the values of topk / sort (a gather at positions the
    input's values picked) as TopK."""
    (x,) = ex.inputs(op)
    axis, source = int(op.dim) % op.inputs[0].ndim, op.inputs[0]
    index = _index_input(ex, op.index)
    if index is not None:
        return ex.node("GatherElements", [x, index], axis=axis)
    if ex.varies(out, "index"):
        largest = _top_k(source.data, op.index, axis)
        if largest is None:
            ex.refuse_varying(out, "index", "gather's positions", "pass them as an input")
        k = op.index.shape[axis]
        values, indices = ex.node("TopK", [x, ex.ints([k])], outputs=2, axis=axis,
                                  largest=int(largest), sorted=1)
        ex.index_outputs[id(op.index)] = indices
        return values
    ex.refuse_varying(out, "index", "gather's positions", "pass them as an input")
    return ex.node("GatherElements", [x, ex.const(op.index.astype(np.int64), "indices")],
                   axis=axis)


@_converts(indexing.IndexSelect)
def _index_select(ex, op, out):
    (x,) = ex.inputs(op)
    index = _index_input(ex, op.index)
    if index is None:
        ex.refuse_varying(out, "index", "index_select's positions", "pass them as an input")
        index = ex.const(np.asarray(op.index, np.int64), "indices")
    return ex.node("Gather", [x, index], axis=int(op.dim))


def _extreme_item(ex, op, out) -> str | None:
    """x.max(dim) / x.min(dim) record x[positions of the extremes]: ReduceMax / ReduceMin
    over that axis, where the index is the traced argmax / argmin along one axis and aranges
    elsewhere."""
    data = op.inputs[0].data
    if not isinstance(op.index, tuple) or len(op.index) != data.ndim or not data.size:
        return None
    if not all(isinstance(part, np.ndarray) and part.dtype.kind in "iu" for part in op.index):
        return None
    for axis in range(data.ndim):
        for find, op_type in ((np.argmax, "ReduceMax"), (np.argmin, "ReduceMin")):
            for keepdims in (False, True):
                found = find(data, axis=axis, keepdims=keepdims)
                grid = list(np.indices(found.shape, sparse=True))
                if not keepdims:
                    grid.insert(axis, found)
                else:
                    grid[axis] = found
                try:
                    same = len(grid) == len(op.index) and all(
                        np.array_equal(*np.broadcast_arrays(g, p)) for g, p in
                        zip(grid, op.index))
                except ValueError:  # shapes that do not broadcast: another index
                    same = False
                if not same or out.shape != found.shape:
                    continue
                (x,) = ex.inputs(op)
                return ex.reduce(op_type, x, [axis], keepdims)
    return None


# ----------------------------------------------------------------------------- export
def _dynamic_spec(dynamic_axes, names: list[str], outputs: list[str]) -> dict[str, dict]:
    """{name: {axis: dim name}} from torch's forms ({name: {axis: dim}} or {name: [axes]})."""
    spec: dict[str, dict] = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in names and name not in outputs:
            raise ValueError(f"export: dynamic_axes names {name!r}, which is neither an input "
                             f"{names} nor an output {outputs}")
        if isinstance(axes, dict):
            spec[name] = {int(a): str(d) for a, d in axes.items()}
        elif isinstance(axes, (list, tuple)):
            spec[name] = {int(a): f"{name}_dynamic_axes_{int(a) + 1}" for a in axes}
        else:
            raise TypeError(f"export: dynamic_axes[{name!r}] must be a dict {{axis: name}} or a "
                            f"list of axes, got {type(axes).__name__}")
    return spec


def _value_info(ex, name: str, t: Tensor, dims: dict[int, str]):
    shape = [dims.get(i, n) for i, n in enumerate(t.shape)]
    return ex.helper.make_tensor_value_info(
        name, ex.helper.np_dtype_to_tensor_dtype(t.dtype), shape)


def export(model, args=(), f=None, input_names: list[str] | None = None,
           output_names: list[str] | None = None, dynamic_axes: dict | None = None,
           opset_version: int | None = _MIN_OPSET, *, kwargs: dict | None = None,
           dynamo: bool | None = None, verbose: bool | None = None, export_params: bool = True,
           keep_initializers_as_inputs: bool = False, training: TrainingMode | None = None,
           operator_export_type: OperatorExportTypes | None = None,
           do_constant_folding: bool = True, custom_opsets: dict | None = None,
           external_data: bool = True, dynamic_shapes: Any = None, report: bool = False,
           optimize: bool = True, verify: bool = False, profile: bool = False,
           dump_exported_program: bool = False, artifacts_dir: Any = ".",
           custom_translation_table: dict | None = None,
           export_modules_as_functions: bool = False, autograd_inlining: bool = True):
    """Trace ``model(*args)`` and write it as an ONNX model to ``f`` (a path or a binary file;
    None writes nothing); returns the ``onnx.ModelProto``, or with torch's ``dynamo=True`` an
    ``ONNXProgram`` holding it, with ``dynamo=False`` (torch's legacy exporter) None.

    ``args``: a Tensor (or numpy array) or a tuple of them and other values passed as they are.
    ``dynamic_axes``: {input or output name: {axis: dim name}} (or a list of axes), as in
    torch.onnx.export. The model runs in eval mode (its mode is restored afterwards):
    ``training`` must leave it so (EVAL, or PRESERVE of a model in eval mode). The other
    keywords of torch's exporters are accepted where dlpy's exporter does what they ask
    (``verbose``, ``do_constant_folding``, the dynamo exporter's reporting and optimising
    switches); others are an UnsupportedArgError naming them.
    """
    if dynamo is False:
        warnings.warn("You are using the legacy TorchScript-based ONNX export. Starting in "
                      "PyTorch 2.9, the new torch.export-based ONNX exporter has become the "
                      "default.", DeprecationWarning, stacklevel=2)
    _check_export_options(model, kwargs, export_params, keep_initializers_as_inputs, training,
                          operator_export_type, dynamic_shapes, custom_translation_table,
                          export_modules_as_functions)
    proto = _export(model, args, f, input_names, output_names, dynamic_axes,
                    _MIN_OPSET if opset_version is None else opset_version)
    if dynamo is None:
        return proto
    return ONNXProgram(proto) if dynamo else None


def _check_export_options(model, kwargs, export_params, keep_initializers_as_inputs,
                          training, operator_export_type, dynamic_shapes,
                          custom_translation_table, export_modules_as_functions) -> None:
    """torch.onnx.export's keywords that would ask dlpy's exporter for what it does not do."""
    refused = []
    if kwargs:
        refused.append("kwargs (keyword inputs)")
    if not export_params:
        refused.append("export_params=False")
    if keep_initializers_as_inputs:
        refused.append("keep_initializers_as_inputs=True")
    if training not in (None, TrainingMode.EVAL):
        if not isinstance(training, TrainingMode):
            raise TypeError(f"export: training must be a torch.onnx.TrainingMode, got "
                            f"{type(training).__name__}")
        if training is TrainingMode.TRAINING or getattr(model, "training", False):
            refused.append(f"training={training} (dlpy exports the model in eval mode)")
    if operator_export_type not in (None, OperatorExportTypes.ONNX):
        refused.append(f"operator_export_type={operator_export_type}")
    if dynamic_shapes is not None:
        refused.append("dynamic_shapes (use dynamic_axes)")
    if custom_translation_table:
        refused.append("custom_translation_table")
    if export_modules_as_functions:
        refused.append("export_modules_as_functions")
    if refused:
        raise UnsupportedArgError(f"export: dlpy's ONNX exporter does not support "
                                  f"{', '.join(refused)}")


def _export(model, args, f, input_names, output_names, dynamic_axes, opset_version):
    """The export itself (see ``export``): the checked ModelProto, written to ``f``."""
    onnx = _import_onnx()
    _refuse_quantized(model)
    if isinstance(opset_version, bool) or not isinstance(opset_version, int) \
            or not _MIN_OPSET <= opset_version <= onnx.defs.onnx_opset_version():
        raise ValueError(f"export: opset_version must be an int from {_MIN_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()}, got {opset_version!r}")
    if not callable(model):
        raise TypeError(f"export: model must be a Module or a callable, got "
                        f"{type(model).__name__}")
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    count = sum(isinstance(a, (Tensor, np.ndarray)) for a in args)
    input_names = [f"input_{i}" for i in range(count)] if input_names is None \
        else list(input_names)
    if len(input_names) != count or len(set(input_names)) != count:
        raise ValueError(f"export: input_names must name the {count} tensor inputs once each, "
                         f"got {input_names}")

    with _eval_mode(model):
        trace = _Trace(model, args)
        output_names = _output_names(output_names, len(trace.outputs), input_names)
        spec = _dynamic_spec(dynamic_axes, input_names, output_names)
        twin = None
        dynamic_in = {k: set(spec.get(name, {})) for k, name in enumerate(input_names)}
        for k, t in enumerate(trace.inputs):
            for axis in dynamic_in[k]:
                if not 0 <= axis < t.ndim:
                    raise ValueError(f"export: dynamic axis {axis} of input {input_names[k]!r} "
                                     f"is out of range for its shape {t.shape}")
        if any(dynamic_in.values()):
            twin = _twin_trace(model, args, dynamic_in, trace)

    params = dict(model.named_parameters()) if hasattr(model, "named_parameters") else {}
    buffers = dict(model.named_buffers()) if hasattr(model, "named_buffers") else {}
    ex = _Exporter(onnx, opset_version, trace, twin, input_names,
                   {id(p): name for name, p in params.items()},
                   {id(b): name for name, b in buffers.items()}
                   | {id(getattr(b, "data", b)): name for name, b in buffers.items()})
    ex.taken |= set(output_names)

    def retrace() -> _Trace:
        # on a copy: other values must not move a module's state (an observer's range)
        other = copy.deepcopy(model) if hasattr(model, "named_modules") else model
        with _eval_mode(other):
            return _Trace(other, _other_values(args))

    ex.retrace = retrace
    for t in trace.order:
        if t.op is None or id(t) in ex.names:
            continue
        converter = CONVERTERS.get(type(t.op))
        if converter is None:
            supported = ", ".join(sorted({c.__name__ for c in CONVERTERS}))
            raise NotImplementedError(
                f"export: {type(t.op).__name__} (from {type(t.op).__module__}) has no ONNX "
                f"mapping; supported ops: {supported}")
        ex.names[id(t)] = converter(ex, t.op, t)

    outputs = []
    for k, (t, name) in enumerate(zip(trace.outputs, output_names)):
        if t.op is None and t.dtype.kind in "iu" and id(t) not in ex.names \
                and all(t is not i for i in trace.inputs):
            ex.names[id(t)] = _positions_output(ex, t, k)
        ex.rename(ex.name(t), name)
        dims = dict(spec.get(name, {}))
        for axis in ex.dynamic(t) - set(dims):
            dims[axis] = _dim_name(ex, trace, twin, spec, input_names, t, axis, name)
        outputs.append(_value_info(ex, name, t, dims))
    unused = [n for n in input_names if n not in ex.used_inputs]
    if unused:
        raise ValueError(
            f"export: the inputs {unused} reach no exported op. dlpy records ops on float "
            "tensors only (not under no_grad, not on .data): an integer or boolean input can "
            "be an embedding's ids or an attention mask, used as given (a key padding mask "
            "added to an attn_mask needs each key unpadded in some example sequence)")
    inputs = [_value_info(ex, name, t, spec.get(name, {}))
              for t, name in zip(trace.inputs, input_names)]
    graph = onnx.helper.make_graph(ex.nodes, type(model).__name__, inputs, outputs,
                                   ex.initializers)
    opset = onnx.helper.make_opsetid("", opset_version)
    proto = onnx.helper.make_model(graph, opset_imports=[opset], producer_name="dlpy")
    proto.ir_version = onnx.helper.find_min_ir_version_for([opset])
    onnx.checker.check_model(proto, full_check=True)
    if isinstance(f, (str, os.PathLike)):
        onnx.save(proto, f)
    elif f is not None:
        f.write(proto.SerializeToString())
    return proto


def _refuse_quantized(model) -> None:
    """Integer (converted) layers compute on QTensors, which dlpy does not record."""
    for name, module in (model.named_modules() if hasattr(model, "named_modules") else ()):
        if type(module).__module__.startswith("dlpy.ao.nn.quantized"):
            raise NotImplementedError(
                f"export: {type(module).__name__} ({name or 'the model'}, from "
                f"{type(module).__module__}) is a converted quantized layer, which has no ONNX "
                "export here; export the float model, or the prepared / QAT model before "
                "convert (its fake quantization exports as QuantizeLinear / DequantizeLinear)")


def _other_values(args: tuple) -> tuple:
    """The example inputs with every float tensor drawn again (same shape and dtype)."""
    rng = np.random.default_rng(12345)
    other = []
    for value in args:
        array = value.data if isinstance(value, Tensor) else value
        if isinstance(array, np.ndarray) and array.dtype.kind == "f":
            value = Tensor((rng.standard_normal(array.shape) * 2).astype(array.dtype))
        other.append(value)
    return tuple(other)


def _positions_output(ex, t: Tensor, k: int) -> str:
    """An integer output (argmax, argmin, argsort, topk's or max(dim)'s positions): the TopK
    whose indices it is, else ArgMax / ArgMin / TopK of the exported float tensor whose
    positions these are, checked on the trace with other input values."""
    known = ex.index_outputs.get(id(t.data))
    if known is not None:
        return known
    probe, other = ex.probe()
    found = t.data
    for source in list(reversed(ex.trace.order)) + ex.trace.inputs:
        data = source.data
        if data.dtype.kind != "f" or not data.size or id(source) not in ex.names:
            continue
        twin = probe.get(id(source))
        twin_found = other.outputs[k].data if other is not None else None
        for rule in _position_rules(data.ndim):
            if rule.matches(data, found) and twin is not None and twin_found is not None \
                    and rule.matches(twin.data, twin_found):
                return rule.export(ex, ex.name(source), found)
    raise NotImplementedError(
        f"export: output {k} holds integers {t.shape} that no recorded op made: dlpy records "
        "ops on float tensors; argmax / argmin / argsort / topk positions of an exported "
        "tensor export (as ArgMax / ArgMin / TopK), other integer results do not")


class _PositionRule(NamedTuple):
    """Positions along ``axis`` (None: of the flattened tensor) picked by argmax / argmin /
    argsort."""

    kind: str  # "ArgMax", "ArgMin", "TopK" (descending) or "BottomK" (ascending)
    axis: int | None
    keepdims: bool

    def positions(self, data: np.ndarray, k: int) -> np.ndarray:
        if self.kind in ("ArgMax", "ArgMin"):
            find = np.argmax if self.kind == "ArgMax" else np.argmin
            return find(data, axis=self.axis, keepdims=self.keepdims)
        order = np.argsort(data, axis=self.axis, kind="stable")
        order = np.flip(order, self.axis) if self.kind == "TopK" else order
        return order.take(range(k), self.axis)

    def matches(self, data: np.ndarray, found: np.ndarray) -> bool:
        if self.kind in ("ArgMax", "ArgMin"):
            positions = self.positions(data, 0)
            return positions.shape == found.shape and np.array_equal(positions, found)
        if found.ndim != data.ndim or found.shape[self.axis] > data.shape[self.axis] or \
                found.dtype.kind not in "iu" or found.size and (
                    found.min() < 0 or found.max() >= data.shape[self.axis]):
            return False
        positions = self.positions(data, found.shape[self.axis])
        # the k largest (smallest) in order: compared by value (ties in either order)
        return positions.shape == found.shape and np.array_equal(
            np.take_along_axis(data, positions, self.axis),
            np.take_along_axis(data, found.astype(np.int64), self.axis))

    def export(self, ex, x: str, found: np.ndarray) -> str:
        if self.axis is None:
            x = ex.node("Reshape", [x, ex.ints([-1])])
        axis = 0 if self.axis is None else self.axis
        if self.kind in ("ArgMax", "ArgMin"):
            return ex.node(self.kind, [x], axis=axis, keepdims=int(self.keepdims))
        return ex.node("TopK", [x, ex.ints([found.shape[axis]])], outputs=2, axis=axis,
                       largest=int(self.kind == "TopK"), sorted=1)[1]


def _position_rules(ndim: int) -> list[_PositionRule]:
    rules = [_PositionRule(kind, None, False) for kind in ("ArgMax", "ArgMin")]
    for axis in range(ndim):
        rules += [_PositionRule(kind, axis, keepdims) for kind in ("ArgMax", "ArgMin")
                  for keepdims in (False, True)]
        rules += [_PositionRule(kind, axis, False) for kind in ("TopK", "BottomK")]
    return rules


def _output_names(output_names, count: int, input_names: list[str]) -> list[str]:
    names = [] if output_names is None else list(output_names)
    if len(names) > count or len(set(names)) != len(names) or set(names) & set(input_names):
        raise ValueError(f"export: output_names must name at most the {count} outputs once "
                         f"each, with names that no input has, got {names}")
    return names + [f"output_{i}" for i in range(len(names), count)]


def _twin_trace(model, args, dynamic_in, trace) -> _Trace:
    """The model traced again with the dynamic axes one longer; its graph must match."""
    try:
        twin = _Trace(model, _grown(args, dynamic_in))
    except Exception as error:
        raise ValueError(
            "export: the model fails with the dynamic axes one longer than in the example "
            f"inputs ({type(error).__name__}: {error}); the graph bakes in a size, such as a "
            "reshape to a constant batch size (use x.view(x.shape[0], -1) or flatten)"
        ) from error
    kinds, twin_kinds = [_kind(t) for t in trace.order], [_kind(t) for t in twin.order]
    if kinds != twin_kinds or len(twin.outputs) != len(trace.outputs):
        raise ValueError("export: the model records a different graph when the dynamic axes "
                         "change size (control flow that depends on a size), so they cannot "
                         "be dynamic")
    return twin


def _dim_name(ex, trace, twin, spec, input_names, t: Tensor, axis: int, name: str) -> str:
    """A dynamic output axis takes the name of the input axis that changed the same way."""
    change = (t.shape[axis], ex.twins[id(t)].shape[axis])
    for a, b, input_name in zip(trace.inputs, twin.inputs, input_names):
        for input_axis, dim in spec.get(input_name, {}).items():
            if (a.shape[input_axis], b.shape[input_axis]) == change:
                return dim
    return f"{name}_dim_{axis}"


# ----------------------------------------------------------------------------- torch.onnx API
producer_name = "dlpy"  # what an exported model's producer_name says (torch's: "pytorch")
try:
    from importlib.metadata import version as _version

    producer_version = _version("dlpy")
except Exception:  # (not installed as a package: the source tree's version)
    producer_version = "0.1.0"


class OnnxExporterError(RuntimeError):
    """torch.onnx.OnnxExporterError: an error of the ONNX exporter."""


class OnnxExporterWarning(UserWarning):
    """torch.onnx.errors.OnnxExporterWarning: a warning of the ONNX exporter."""


class UnsupportedOperatorError(OnnxExporterError):
    """torch.onnx.errors.UnsupportedOperatorError: an operator with no ONNX mapping at this
    opset."""

    def __init__(self, name: str, version: int, supported_version: int | None) -> None:
        if supported_version is not None:
            msg = (f"Exporting the operator '{name}' to ONNX opset version {version} is not "
                   f"supported. Support for this operator was added in version "
                   f"{supported_version}, try exporting with this version")
        else:
            msg = (f"Exporting the operator '{name}' to ONNX opset version {version} is not "
                   f"supported")
        super().__init__(msg)


class SymbolicValueError(OnnxExporterError):
    """torch.onnx.errors.SymbolicValueError: an error about a value of the graph."""

    def __init__(self, msg: str, value: Any) -> None:
        super().__init__(f"{msg}  [Caused by the value '{value}'.]")


errors = types.ModuleType(f"{__name__}.errors", "torch.onnx.errors: the exporter's errors")
errors.__dict__.update(OnnxExporterError=OnnxExporterError,
                       OnnxExporterWarning=OnnxExporterWarning,
                       SymbolicValueError=SymbolicValueError,
                       UnsupportedOperatorError=UnsupportedOperatorError)
sys.modules[errors.__name__] = errors  # (import torch.onnx.errors)


class _IntEnum(enum.Enum):
    """A pybind11 enum of torch._C._onnx: ``int()`` gives its value, but it is no int."""

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value


class TrainingMode(_IntEnum):
    """torch.onnx.TrainingMode: the mode a model is exported in."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(_IntEnum):
    """torch.onnx.OperatorExportTypes: how the legacy exporter writes ops (ONNX ones only,
    or ATen fallbacks)."""

    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


TensorProtoDataType = _IntEnum("TensorProtoDataType", [
    ("UNDEFINED", 0), ("FLOAT", 1), ("UINT8", 2), ("INT8", 3), ("UINT16", 4), ("INT16", 5),
    ("INT32", 6), ("INT64", 7), ("STRING", 8), ("BOOL", 9), ("FLOAT16", 10), ("DOUBLE", 11),
    ("UINT32", 12), ("UINT64", 13), ("COMPLEX64", 14), ("COMPLEX128", 15), ("BFLOAT16", 16),
    ("FLOAT8E4M3FN", 17), ("FLOAT8E4M3FNUZ", 18), ("FLOAT8E5M2", 19), ("FLOAT8E5M2FNUZ", 20)],
    module=__name__, qualname="TensorProtoDataType")
TensorProtoDataType.__doc__ = "torch.onnx.TensorProtoDataType: ONNX's element types."

# JitScalarType member: (scalar name, torch name, dlpy dtype name, ONNX type)
_SCALAR_TYPES = {
    "UINT8": ("Byte", "uint8_t", "uint8", "UINT8"),
    "INT8": ("Char", "int8_t", "int8", "INT8"),
    "INT16": ("Short", "int16_t", "int16", "INT16"),
    "INT": ("Int", "int", "int32", "INT32"),
    "INT64": ("Long", "int64_t", "int64", "INT64"),
    "HALF": ("Half", "half", "float16", "FLOAT16"),
    "FLOAT": ("Float", "float", "float32", "FLOAT"),
    "DOUBLE": ("Double", "double", "float64", "DOUBLE"),
    "COMPLEX32": ("ComplexHalf", "complex32", "complex32", "UNDEFINED"),
    "COMPLEX64": ("ComplexFloat", "complex64", "complex64", "COMPLEX64"),
    "COMPLEX128": ("ComplexDouble", "complex128", "complex128", "COMPLEX128"),
    "BOOL": ("Bool", "bool", "bool", "BOOL"),
    "QINT8": ("QInt8", "qint8", "qint8", "INT8"),
    "QUINT8": ("QUInt8", "quint8", "quint8", "UINT8"),
    "QINT32": ("QInt32", "qint32", "qint32", "INT32"),
    "BFLOAT16": ("BFloat16", "bfloat16", "bfloat16", "BFLOAT16"),
    "FLOAT8E5M2": ("Float8E5M2", "float8_e5m2", "float8_e5m2", "FLOAT8E5M2"),
    "FLOAT8E4M3FN": ("Float8E4M3FN", "float8_e4m3fn", "float8_e4m3fn", "FLOAT8E4M3FN"),
    "FLOAT8E5M2FNUZ": ("Float8E5M2FNUZ", "float8_e5m2fnuz", "float8_e5m2fnuz",
                       "FLOAT8E5M2FNUZ"),
    "FLOAT8E4M3FNUZ": ("Float8E4M3FNUZ", "float8_e4m3fnuz", "float8_e4m3fnuz",
                       "FLOAT8E4M3FNUZ"),
    "UNDEFINED": ("Undefined", None, None, "UNDEFINED"),
}


# the order of torch's table from scalar to ONNX types (its inverse keeps the last of each)
_ONNX_ORDER = ("BOOL", "UINT8", "INT8", "INT16", "INT", "INT64", "HALF", "FLOAT", "DOUBLE",
               "COMPLEX64", "COMPLEX128", "BFLOAT16", "UNDEFINED", "COMPLEX32", "QINT8", "QUINT8",
               "QINT32", "FLOAT8E5M2", "FLOAT8E4M3FN", "FLOAT8E5M2FNUZ", "FLOAT8E4M3FNUZ")


def _dlpy_dtype(name: str | None):
    import dlpy

    return getattr(dlpy, name, None) if name else None


class JitScalarType(enum.IntEnum):
    """torch.onnx.JitScalarType: torch's scalar types with their names, dtypes and ONNX
    element types (``from_dtype``, ``from_onnx_type``, ``dtype``, ``onnx_type``...)."""

    UINT8 = 0
    INT8 = 1
    INT16 = 2
    INT = 3
    INT64 = 4
    HALF = 5
    FLOAT = 6
    DOUBLE = 7
    COMPLEX32 = 8
    COMPLEX64 = 9
    COMPLEX128 = 10
    BOOL = 11
    QINT8 = 12
    QUINT8 = 13
    QINT32 = 14
    BFLOAT16 = 15
    FLOAT8E5M2 = 16
    FLOAT8E4M3FN = 17
    FLOAT8E5M2FNUZ = 18
    FLOAT8E4M3FNUZ = 19
    UNDEFINED = 20

    @classmethod
    def from_dtype(cls, dtype: Any) -> JitScalarType:
        """The scalar type of a dtype; anything else is an OnnxExporterError."""
        for member in cls:
            target = _dlpy_dtype(_SCALAR_TYPES[member.name][2])
            try:
                if target is not None and dtype is not None \
                        and not isinstance(dtype, str) and dtype == target:
                    return member
            except TypeError:
                continue
        raise OnnxExporterError(f"Unknown dtype: {dtype}")

    @classmethod
    def from_onnx_type(cls, onnx_type: Any) -> JitScalarType:
        """The scalar type of an ONNX element type (torch's table: where several map to one
        ONNX type, the last one listed: INT8 gives QINT8)."""
        inverse = {int(TensorProtoDataType[_SCALAR_TYPES[k][3]]): cls[k] for k in _ONNX_ORDER}
        try:
            key = int(onnx_type)
        except (TypeError, ValueError):
            key = None
        if key not in inverse:
            raise OnnxExporterError(f"Unknown onnx_type: {onnx_type}")
        return inverse[key]

    def scalar_name(self) -> str:
        """The JIT scalar type name (``"Float"``)."""
        return _SCALAR_TYPES[self.name][0]

    def torch_name(self) -> str:
        """The C++ type name (``"float"``, ``"int64_t"``)."""
        if _SCALAR_TYPES[self.name][1] is None:
            raise KeyError(self)
        return _SCALAR_TYPES[self.name][1]

    def dtype(self) -> Any:
        """The dtype (a KeyError where dlpy has none, as torch's for UNDEFINED)."""
        dtype = _dlpy_dtype(_SCALAR_TYPES[self.name][2])
        if dtype is None:
            raise KeyError(self)
        return dtype

    def onnx_type(self) -> TensorProtoDataType:
        """The ONNX element type."""
        return TensorProtoDataType[_SCALAR_TYPES[self.name][3]]

    def onnx_compatible(self) -> bool:
        """Whether ONNX has an element type for it."""
        return self not in (JitScalarType.UNDEFINED, JitScalarType.COMPLEX32)


@contextmanager
def select_model_mode_for_export(model, mode: TrainingMode):
    """torch.onnx.select_model_mode_for_export: the model in ``mode`` (EVAL, TRAINING, or
    PRESERVE: as it is) inside the block, its mode restored after."""
    if not isinstance(mode, TrainingMode):
        raise TypeError(f"'mode' should be a torch.onnx.TrainingMode enum, but got "
                        f"'{type(mode)}'.")
    originally_training = getattr(model, "training", False)
    if hasattr(model, "train") and mode is not TrainingMode.PRESERVE:
        model.train(mode is TrainingMode.TRAINING)
    try:
        yield
    finally:
        if hasattr(model, "train") and mode is not TrainingMode.PRESERVE:
            model.train(originally_training)


_CUSTOM_SYMBOLICS: dict[str, dict[int, Callable]] = {}  # name -> opset -> symbolic function


def _custom_op_name(symbolic_name: str) -> str:
    if symbolic_name.startswith("::"):
        symbolic_name = f"aten{symbolic_name}"
    if not re.match(r"^[a-zA-Z0-9-_]+::[a-zA-Z-_]+[a-zA-Z0-9-_]*$", symbolic_name):
        raise OnnxExporterError(f"Failed to register operator {symbolic_name}. The symbolic name "
                                f"must match the format domain::name, and should start with a "
                                f"letter and contain only alphanumeric characters")
    if symbolic_name.split("::")[0] == "onnx":
        raise ValueError(f"Failed to register operator {symbolic_name}. onnx domain cannot be "
                         f"modified.")
    return symbolic_name


def register_custom_op_symbolic(symbolic_name: str, symbolic_fn: Callable,
                                opset_version: int) -> None:
    """torch.onnx.register_custom_op_symbolic: the legacy exporter's ``symbolic_fn(g, *inputs)``
    for the op ``domain::name`` from ``opset_version`` on, checked and kept. dlpy's exporter
    maps its own op classes (``CONVERTERS``), not TorchScript nodes, so a kept symbolic is not
    called: an op dlpy cannot convert stays a NotImplementedError naming it."""
    _CUSTOM_SYMBOLICS.setdefault(_custom_op_name(symbolic_name), {})[opset_version] = symbolic_fn


def unregister_custom_op_symbolic(symbolic_name: str, opset_version: int) -> None:
    """torch.onnx.unregister_custom_op_symbolic: forget what ``register_custom_op_symbolic``
    kept (torch's warning where the name was registered but not at this opset)."""
    name = _custom_op_name(symbolic_name)
    if name not in _CUSTOM_SYMBOLICS:
        return
    if _CUSTOM_SYMBOLICS[name].pop(opset_version, None) is None:
        warnings.warn(f"No custom function registered for '{name}' opset {opset_version}",
                      stacklevel=2)


class ONNXProgram:
    """torch.onnx.ONNXProgram as ``export(..., dynamo=True)`` returns it: ``model_proto``,
    ``save(path)``, and a call that runs the model in onnxruntime on tensors (their outputs,
    as tensors)."""

    def __init__(self, model_proto) -> None:
        self.model_proto = model_proto
        self._session = None

    def __repr__(self) -> str:
        return f"ONNXProgram(model_proto=<{self.model_proto.graph.name}>)"

    def save(self, destination, *, include_initializers: bool = True,
             keep_initializers_as_inputs: bool = False, external_data: bool | None = None
             ) -> None:
        """Write the model to ``destination`` (a path or a binary file)."""
        onnx = _import_onnx()
        if isinstance(destination, (str, os.PathLike)):
            onnx.save(self.model_proto, destination)
        else:
            destination.write(self.model_proto.SerializeToString())

    def initialize_inference_session(self, initializer: Callable | None = None) -> None:
        """Start the onnxruntime session calls use (``initializer(model bytes)`` if given)."""
        data = self.model_proto.SerializeToString()
        if initializer is not None:
            self._session = initializer(data)
            return
        import onnxruntime as ort

        self._session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])

    def release(self) -> None:
        """Drop the inference session."""
        self._session = None

    def __call__(self, *args, **kwargs) -> list[Tensor]:
        if self._session is None:
            self.initialize_inference_session()
        arrays = [getattr(a, "data", a) for a in (*args, *kwargs.values())
                  if isinstance(a, (Tensor, np.ndarray))]
        feeds = {i.name: np.asarray(a) for i, a in zip(self._session.get_inputs(), arrays)}
        return [Tensor(out) for out in self._session.run(None, feeds)]


# torch.onnx.utils: the legacy exporter's functions
utils = types.ModuleType(f"{__name__}.utils", "torch.onnx.utils: the legacy exporter's API")
utils.__dict__.update(export=export, errors=errors,
                      register_custom_op_symbolic=register_custom_op_symbolic,
                      unregister_custom_op_symbolic=unregister_custom_op_symbolic,
                      select_model_mode_for_export=select_model_mode_for_export)
sys.modules[utils.__name__] = utils  # (import torch.onnx.utils)
