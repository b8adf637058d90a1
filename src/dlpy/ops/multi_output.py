"""Nodes with several outputs, as torch's: ``a, b = x.split(2)`` gives ``a.grad_fn is
b.grad_fn`` (one ``SplitBackward0``), ``a.output_nr == 0``, ``b.output_nr == 1``, and a node
that uses ``b`` lists the edge ``(SplitBackward0, 1)``.

dlpy's engine keeps one array per node: such a node's result is one array (``x`` itself for
split, chunk and unbind; the packed factors for eigh, qr, svd and eig), and each output is a
view of it (a slice, reshaped) recorded as an op of its own. ``group`` makes those outputs
show the node instead: ``grad_fn``, ``output_nr``, ``next_functions`` and gradient edges go to
the node, the views between stay out of sight. The engine runs the node once, with the sum of
its outputs' gradients, so its hooks run once, as torch's, and get one gradient per output
(``Layout.unpack``); calling the node, ``grad_fn(g0, g1, ...)``, takes one per output
(``Layout.pack``; None for an output without one, zeros)."""

from __future__ import annotations

import copy
import math
import sys
import weakref

import numpy as np

from dlpy.tensor import Op, Tensor

# the op of an output (the view of its node's result it is) -> (the node, the output's number)
_outputs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# a node with several outputs -> its Layout
_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Outputs(Op):
    """The node of a function whose outputs are views of its input (split, chunk, unbind and
    their unsafe forms): its result is the input's array as it is (a view of it), the outputs
    views of that. Gradient: the sum of the outputs' (the engine adds them up), passed on."""

    complex_ok = True  # a view: the gradient passes as it is
    saves = ()
    saves_tensors = False  # sizes only, as torch's: a second backward through it works

    def __init__(self, node_name: str, saved: dict | None = None):
        self.node_name = node_name
        self.saved = saved or {}  # what torch's node saved: grad_fn._saved_dim, ...

    def __dir__(self):
        """The node's attributes, of the ``_saved_*`` ones those it has (as torch's)."""
        return [name for name in super().__dir__()
                if not name.startswith("_saved_") or name in self.saved]

    def forward(self, x):
        return x[...]

    def backward(self, grad_output):
        return (grad_output,)

    def backward_graph(self, grad_output, output):
        return (grad_output,)


class Layout:
    """Where a node's outputs lie in its one result: output i is ``result[index_i]``
    reshaped to ``shape_i`` (its real part where the output is real and the result complex,
    in the output's dtype).
    The outputs are held weakly (a gradient edge given as an input finds its tensor)."""

    def __init__(self, result: Tensor, parts, outputs):
        self.shape, self.dtype = tuple(result.shape), result.data.dtype
        self.parts = [(index, tuple(shape), out.data.dtype)
                      for (index, shape), out in zip(parts, outputs)]
        self.outputs = [weakref.ref(t) for t in outputs]
        self.received: set[int] = set()  # the outputs given a gradient in this pass (hooks)

    def __len__(self) -> int:
        return len(self.parts)

    def unpack(self, grad, received: bool = False) -> tuple:
        """The result's gradient (an array or, in a create_graph pass, a Tensor) as one per
        output; ``received``: None for the outputs that got no gradient in this pass (the
        node's hooks see them so, as torch's), which starts the next pass's count."""
        if received:
            got, self.received = self.received, set()
        if grad is None:
            return (None,) * len(self.parts)
        if not isinstance(grad, Tensor):
            grad = np.asarray(grad.dense() if hasattr(grad, "dense") else grad)
        out = []
        for i, (index, shape, dtype) in enumerate(self.parts):
            if received and i not in got:
                out.append(None)
                continue
            piece = grad[index].reshape(shape)
            if dtype.kind != "c" and piece.dtype.kind == "c":  # a real output's: real part
                piece = piece.real
            if type(piece) is np.ndarray and piece.dtype != dtype:  # (a packed common dtype)
                piece = piece.astype(dtype)
            out.append(piece)
        return tuple(out)

    def pack(self, grads):
        """One gradient per output (None: zeros) as the result's: an array, or a Tensor
        recorded by ``Pack`` where any is a Tensor."""
        if any(isinstance(g, Tensor) for g in grads):
            return Pack(self)(*[Tensor(np.zeros(shape, self.dtype)) if g is None else g
                                for g, (_, shape, _) in zip(grads, self.parts)])
        return Pack(self).forward(*[np.zeros(shape, self.dtype) if g is None else g
                                    for g, (_, shape, _) in zip(grads, self.parts)])


class Pack(Op):
    """The outputs' gradients written into one array of the node's result's shape (their
    gradients: the slices again)."""

    complex_ok = True
    saves = ()
    saves_tensors = False

    def __init__(self, layout: Layout):
        self.layout = layout

    def forward(self, *grads):
        layout = self.layout
        dtype = np.result_type(layout.dtype, *[np.asarray(g).dtype for g in grads])
        out = np.zeros(layout.shape, dtype)
        for g, (index, _, _) in zip(grads, layout.parts):
            out[index] = np.reshape(g, out[index].shape)
        return out

    def backward(self, grad_output):
        return self.layout.unpack(grad_output)

    def backward_graph(self, grad_output, output):
        return self.layout.unpack(grad_output)


class Joint(Op):
    """The node of a function whose outputs dlpy computes by ops of their own on the same
    inputs (var_mean: Var and Mean; aminmax; slogdet): ``parts``, those ops, recorded
    once; the node's result packs their outputs (flat, one after another), its backward is
    the sum of theirs, each at its output's slice of the gradient; it saves what they save."""

    def __init__(self, node_name: str, parts: list):
        self.node_name = node_name
        self.parts = parts
        self.saves = tuple(dict.fromkeys(what for part in parts for what in part.saves))
        self.saves_tensors = any(part.saves_tensors for part in parts)

    def forward(self, *arrays):  # (a node call in grad mode recomputes the result so)
        outs = [np.asarray(copy.copy(part).forward(*arrays)) for part in self.parts]
        return np.concatenate([o.reshape(-1) for o in outs])

    def _slices(self):
        start = 0
        for part in self.parts:
            size = math.prod(part.out_shape)
            yield part, slice(start, start + size)
            start += size

    def backward(self, grad_output):
        total = [None] * len(self.inputs)
        for part, where in self._slices():
            grad = grad_output[where].reshape(part.out_shape).astype(part.out_dtype, copy=False)
            for i, g in enumerate(_as_tuple(part.backward(grad))):
                if g is not None:
                    g = g.dense() if hasattr(g, "dense") else g
                    total[i] = g if total[i] is None else total[i] + g
        return tuple(total)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.shape import getitem, reshape

        total = [None] * len(self.inputs)
        for part, where in self._slices():
            grad = reshape(getitem(grad_output, where), part.out_shape)
            for i, g in enumerate(_as_tuple(part.backward_graph(
                    grad, reshape(getitem(output, where), part.out_shape)))):
                if g is not None:
                    total[i] = g if total[i] is None else total[i] + g
        return tuple(total)

    def free(self) -> None:
        for part in self.parts:
            part.free()
        super().free()


class Piece(Op):
    """Output ``where`` (a slice) of a Joint's packed result, reshaped: a copy of its own, as
    torch's outputs are (changed in place, it is rebased as any tensor, not a view)."""

    saves = ()
    saves_tensors = False

    def __init__(self, where: slice, shape: tuple, dtype):
        self.where, self.shape, self.dtype = where, shape, dtype

    def forward(self, packed):
        self.size = packed.shape[0]
        return packed[self.where].reshape(self.shape).astype(self.dtype)

    def backward(self, grad_output):
        from dlpy.slice_grad import SliceGrad

        values = np.reshape(grad_output, -1)
        return (SliceGrad(self.where, values, (self.size,), values.dtype),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.pad import pad

        flat = grad_output.reshape(-1)
        return (pad(flat, (self.where.start, self.size - self.where.stop)),)


def _as_tuple(grads) -> tuple:
    return grads if isinstance(grads, tuple) else tuple(grads) if isinstance(grads, list) \
        else (grads,)


def join(node_name: str, outputs) -> tuple:
    """``outputs`` (Tensors each made by one recorded op from the same inputs, as var_mean's
    var and mean) as the outputs 0, 1, ... of one node named ``node_name`` (a ``Joint`` of
    their ops, which keep what their forward saved; nothing runs again), as torch's node of
    several outputs. Outputs not made so (nothing recorded; complex ones; ops packed by
    saved_tensors_hooks) come back on nodes of their own, each named ``node_name``."""
    from dlpy.ops.shape import GetItem, reshape

    engine = sys.modules["dlpy.tensor"]  # (the module: dlpy.tensor the attribute is a function)

    ops = [getattr(out, "op", None) for out in outputs]
    forward_ad = sys.modules.get("dlpy.forward_ad")
    if forward_ad is not None and forward_ad.active():  # each output keeps its own op and
        return _named_apart(node_name, outputs)  # tangent (one node would carry neither)
    if None in ops or any(out.data.dtype.kind == "c" or type(out.data) is not np.ndarray
                          for out in outputs):  # (complex ones; meta ones hold no values)
        return _named_apart(node_name, outputs)
    inputs = ops[0].inputs
    if any(len(op.inputs) != len(inputs) or any(a is not b for a, b in zip(op.inputs, inputs))
           for op in ops[1:]) or any("_packed" in op.__dict__ for op in ops):
        # (packed by saved_tensors_hooks: their inputs are stand-ins the engine gives back op
        # by op)
        return _named_apart(node_name, outputs)
    dtype = np.result_type(*[out.data.dtype for out in outputs])
    for op, out in zip(ops, outputs):
        op.out_shape, op.out_dtype = tuple(out.data.shape), out.data.dtype
    node = Joint(node_name, ops)
    node.inputs, node._seq = inputs, ops[0]._seq  # (torch's one node: the first op's number)
    if "_created_at" in ops[0].__dict__:  # (anomaly mode)
        node._created_at = ops[0]._created_at
    result = Tensor(np.concatenate([out.data.reshape(-1).astype(dtype, copy=False)
                                    for out in outputs]))
    result.op, result.requires_grad, result._tick = node, True, engine._clock
    pieces, parts = [], []
    for op, where in node._slices():
        if "output" in op.saves and op.out_dtype == dtype:  # its backward reads it: a view, so
            piece = reshape(GetItem((where,))(result), op.out_shape)  # a change in place is
        else:  # caught, as torch's; else a copy of its own, changed in place as any tensor
            piece = Piece(where, op.out_shape, op.out_dtype)(result)
        pieces.append(piece)
        parts.append(((where,), op.out_shape))
    group(result, pieces, parts)
    return tuple(pieces)


def _named_apart(node_name: str, outputs) -> tuple:
    """``outputs`` left on nodes of their own, each named ``node_name`` as torch's shared one."""
    from dlpy.node_names import named

    return tuple(named(out, node_name) for out in outputs)


def group(result: Tensor, outputs, parts) -> None:
    """Make ``outputs`` (Tensors, output i being ``result[index_i]`` reshaped to ``shape_i``
    for ``parts`` [(index_i, shape_i)]) the outputs 0, 1, ... of ``result``'s node, as torch's
    node of several outputs. Nothing where nothing was recorded."""
    node = result.op
    if node is None:
        return
    _layouts[node] = Layout(result, parts, outputs)
    for i, out in enumerate(outputs):
        if out.op is not None and out.op is not node:
            _outputs[out.op] = (node, i)


def note_gradient(op) -> None:
    """The engine ran ``op`` with a gradient: if it is an output's view, note that output's
    gradient for its node's hooks (Layout.unpack)."""
    if _outputs:
        try:
            found = _outputs.get(op)
        except TypeError:
            return
        if found is not None:
            layout = _layouts.get(found[0])
            if layout is not None:
                layout.received.add(found[1])


def node_of(op):
    """(the node, the output's number) of a tensor whose op is ``op``: a node of several
    outputs where ``op`` is one of its outputs' views, else ``(op, 0)``."""
    if _outputs and op is not None:
        try:
            found = _outputs.get(op)
        except TypeError:  # an unhashable node (a user's class with __eq__)
            return op, 0
        if found is not None:
            return found
    return op, 0


def layout_of(node) -> Layout | None:
    """The Layout of a node of several outputs, else None."""
    if not _layouts:
        return None
    try:
        return _layouts.get(node)
    except TypeError:
        return None
