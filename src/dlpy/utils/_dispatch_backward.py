"""A backward run while a ``TorchDispatchMode`` is entered, shown to the modes as torch's
autograd shows it: the seed's ``ones_like``, each node's backward as the aten ops torch 2.13's
formula calls (``threshold_backward``, ``t`` + ``mm``, ``expand``...), the ``add`` of a tensor
used twice and the ``.grad`` accumulation (``detach``, ``add_``, ``new_empty_strided`` +
``copy_``), in the order of torch's engine (a leaf's accumulation first, else the newest
node).

The engine's call sites (``swap_call_sites``: the order of a pass, each op's gradients, the
sum of two, a leaf's accumulation, the implicit seed) are swapped for these only while a mode
is entered: outside, the engine runs as before. Each call is ``dispatch``\\ ed with the real
gradients (Tensors on the engine's arrays) and a numpy kernel; what the modes return is the
value the pass goes on with, so a mode that changes values changes the gradients, as torch's.
An op without a rule here runs its own numpy backward, unseen by the modes."""

from __future__ import annotations

import heapq
import itertools
import sys
from collections.abc import Callable

import numpy as np

from dlpy.aten import aten
from dlpy.tensor import Op, Tensor
from dlpy.utils import _python_dispatch as _dispatch

_engine = sys.modules["dlpy.tensor"]  # (``dlpy.tensor`` the attribute is the factory)

# (arrays handed on by the rules in this pass: id -> [array, count], so a gradient given to
# two inputs (an add's) is known shared, as torch's use_count; reset when a pass starts)
_handed: dict[int, list] = {}
# gradients whose last call torch's engine runs later (a Linear weight's ``t``, TBackward
# after the leaves its addmm feeds; a batched matmul input's ``view``): id -> (the gradient,
# a function showing the call and giving its value), shown when the gradient is used
_deferred: dict[int, tuple] = {}


def reset() -> None:
    """Forget the last pass's arrays (the last mode exited)."""
    _handed.clear()
    _deferred.clear()


def _active() -> bool:
    return bool(_dispatch._mode_stack) and not _dispatch._quiet[0] and not _dispatch._inside[0]


def _tensor(array) -> Tensor:
    """A Tensor on ``array`` without graph (what torch's engine holds)."""
    t = Tensor.__new__(Tensor)
    t.data, t._grad, t.name, t._hooks, t.op, t.requires_grad = (
        np.asarray(array), None, None, None, None, False)
    return t


def _call(func, *args, kernel: Callable, **kwargs) -> Tensor:
    """``func(*args, **kwargs)`` dispatched to the modes; ``kernel()`` its numpy value."""
    values, named = _dispatch._normalized(func, list(args), kwargs)
    # (a view of a tensor that requires grad requires it too, as torch's shows)
    viewed = func.is_view and isinstance(args[0], Tensor) and args[0].requires_grad

    def computed():
        out = _tensor(kernel())
        out.requires_grad = viewed
        return out

    result = _dispatch.dispatch(func, values, named, computed, (Tensor,))
    if not isinstance(result, Tensor):
        raise _dispatch.UnableToCastError(f"Unable to cast {result} to Tensor")
    return result


def _number(op, i: int):
    """Input ``i`` of ``op``; a number the caller gave as that number, as torch's node keeps
    it (the caller's own where the op was called inside a mode, ``_given``)."""
    given = op.__dict__.get("_given")
    if given is not None and not isinstance(given[i], Tensor):
        return given[i]
    value = op.inputs[i]
    if isinstance(value, Tensor) and value.data.ndim == 0 and not value.requires_grad and \
            value.op is None:
        return value.data.item()
    return value


def _array(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


# ---------------------------------------------------------------------------- shapes
def _sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """torch's sum_to (the engine's, for a broadcast input): ``sum.dim_IntList`` keeping dims
    over the broadcast ones, then ``view`` where leading dims go."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    lead = grad.data.ndim - len(shape)
    dims = list(range(lead)) + [lead + i for i, n in enumerate(shape)
                                if n == 1 and grad.shape[lead + i] != 1]
    if dims:
        data = grad.data
        grad = _call(aten.sum.dim_IntList, grad, dims, True,
                     kernel=lambda: data.sum(axis=tuple(dims), keepdims=True))
    if lead:
        data = grad.data
        grad = _call(aten.view.default, grad, list(shape), kernel=lambda: data.reshape(shape))
    return grad


def _expand(grad: Tensor, shape: tuple) -> Tensor:
    data = grad.data
    return _call(aten.expand.default, grad, list(shape),
                 kernel=lambda: np.broadcast_to(data, shape))


def _reduced_back(op, grad: Tensor) -> Tensor:
    """sum's backward: the reduced dims put back (``unsqueeze``) and ``expand``\\ ed."""
    if getattr(op, "dim_given", True) and not op.keepdims:
        for axis in sorted(a % len(op.shape) for a in op.axes):
            data = grad.data
            grad = _call(aten.unsqueeze.default, grad, axis,
                         kernel=lambda data=data, axis=axis: np.expand_dims(data, axis))
    return _expand(grad, op.shape)


def _transposed(grad: Tensor) -> Tensor:
    data = grad.data
    return _call(aten.t.default, grad, kernel=lambda: data.T)


def _mm(a: Tensor, b: Tensor) -> Tensor:
    x, y = a.data, b.data
    return _call(aten.mm.default, a, b, kernel=lambda: x @ y)


def _mul(a, b) -> Tensor:
    x, y = _array(a), _array(b)
    return _call(aten.mul.Tensor, a, b, kernel=lambda: x * y)


def _detached(array) -> Tensor:
    """A saved result unpacked: torch's ``detach`` of it, then the result as the node's
    formula gets it (requiring grad: torch's unpacked output keeps its grad_fn)."""
    saved = _tensor(array)
    unpacked = _tensor(_call(aten.detach.default, saved, kernel=lambda: array).data)
    unpacked.requires_grad = True
    return unpacked


def _column_major(x) -> bool:
    """torch's test of a column-major operand: strides (1, rows) in elements."""
    data = _array(x)
    return data.ndim == 2 and data.strides[0] == data.itemsize and \
        data.strides[1] == data.shape[0] * data.itemsize


def _mm_grads(grad: Tensor, mat1, mat2, need1: bool, need2: bool, mat2_first: bool) -> tuple:
    """mm's backward (mm_mat1_backward: grad @ mat2.t(), or (mat2 @ grad.t()).t() for a
    column-major mat1; mm_mat2_backward: mat1.t() @ grad, or (grad.t() @ mat1).t() for a
    column-major mat2), mm's mat2 first, addmm's mat1 first, as torch's nodes run them."""
    def first():
        if _column_major(mat1):
            return _transposed(_mm(mat2, _transposed(grad)))
        return _mm(grad, _transposed(mat2))

    def second():
        if _column_major(mat2):
            return _transposed(_mm(_transposed(grad), mat1))
        return _mm(_transposed(mat1), grad)

    if mat2_first:
        g2 = second() if need2 else None
        return first() if need1 else None, g2
    g1 = first() if need1 else None
    return g1, second() if need2 else None


# ---------------------------------------------------------------------------- one node
class ShownCall(Op):
    """A composite dlpy function torch runs as one op (``nll_loss_forward``), recorded while a
    mode is entered as one node over the function's differentiable input: its backward is the
    composite's own (a quiet pass over the graph it recorded, ``output``), which a backward in
    a mode shows as torch's one backward call."""

    def __init__(self, func, shown: tuple):
        self.func, self.shown = func, shown

    def backward(self, grad_output):
        _dispatch._quiet[0] += 1  # (the composite's pieces are below the call: unseen)
        try:
            captured = _engine._backpropagate([self.output], [grad_output], True,
                                              {id(t) for t in self.inputs})
        finally:
            _dispatch._quiet[0] -= 1
        return tuple(captured.get(id(t)) for t in self.inputs)

    def backward_graph(self, grad_output, output):
        from dlpy.autograd import grad

        return tuple(grad(self.output, list(self.inputs), grad_output, create_graph=True,
                          allow_unused=True))


# the composite functions recorded as one node (ShownCall) inside a mode: overload -> the
# index of its differentiable input among the shown arguments, torch's node name
_ONE_NODE = {"aten.nll_loss_forward.default": (0, "NllLossBackward0")}


def as_one_node(out: Tensor, func, shown: tuple) -> None:
    """``out`` of ``func`` (a composite, its graph recorded) made the output of one node over
    its differentiable input, as torch's autograd records the call (a ShownCall)."""
    found = _ONE_NODE.get(str(func))
    if found is None or out.op is None:
        return
    index, name = found
    source = shown[index]
    if not isinstance(source, Tensor) or not source.requires_grad:
        return
    inner = Tensor.__new__(Tensor)  # the composite's result, keeping its graph
    inner.data, inner._grad, inner.name, inner._hooks = out.data, None, None, None
    inner.op, inner.requires_grad, inner._tick = out.op, True, out._tick
    node = ShownCall(func, shown)
    node.inputs = (source,)
    node.output = inner  # (state: free() drops it)
    out.op = node
    from dlpy.node_names import named

    named(out, name)


def _one_node(op, grad):
    if str(op.func) != "aten.nll_loss_forward.default":
        return None
    input, target, weight, reduction, ignore_index = (  # noqa: A001
        list(op.shown) + [None, 1, -100][len(op.shown) - 2:])[:5]
    ids = target.data.reshape(-1)
    weights = np.ones(input.shape[-1], input.data.dtype) if weight is None else weight.data
    valid = ids != ignore_index
    total = _tensor(np.asarray(weights[ids[valid]].sum(), input.data.dtype))
    return (_call(aten.nll_loss_backward.default, grad, input, target, weight, reduction,
                  ignore_index, total, kernel=lambda: op.backward(grad.data)[0]),)


# ---------------------------------------------------------------------------- rules
# dlpy's op class -> rule(op, grad) -> one gradient Tensor (or None) per op input, computed
# through dispatched aten calls in the order torch's backward formula makes them
def _needs(op) -> list[bool]:
    """Which inputs get a gradient: those that require one, and in a pass that captures
    (autograd.grad, backward(inputs=)) only those on a path to a captured tensor, as torch's
    node computes only the outputs its next edges need."""
    passes = _engine._passes
    needed = passes[-1][1] if passes else None
    return [isinstance(t, Tensor) and t.requires_grad and (needed is None or id(t) in needed)
            for t in op.inputs]


def _relu(op, grad):
    x = op.inputs[0].data
    result = _detached(np.where(op.mask, x, np.zeros((), x.dtype)))
    y, g = result.data, grad.data
    return (_call(aten.threshold_backward.default, grad, result, 0,
                  kernel=lambda: _threshold_grad(g, y, 0)),)


def _saved_result(name: str, formula: Callable) -> Callable:
    def rule(op, grad):
        result = _detached(op.y)
        y, g = result.data, grad.data
        return (_call(getattr(aten, name).default, grad, result, kernel=lambda: formula(g, y)),)
    return rule


def _exp(op, grad):
    return (_mul(grad, _detached(op.y)),)


def _gelu(op, grad):
    x, g = op.inputs[0], grad.data
    data = x.data
    return (_call(aten.gelu_backward.default, grad, x,
                  kernel=lambda: _gelu_grad(g, data)),)


def _gelu_grad(g, x):
    from math import erf, pi, sqrt

    cdf = 0.5 * (1 + np.vectorize(erf, otypes=[x.dtype])(x / sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / sqrt(2 * pi)
    return (g * (cdf + x * pdf)).astype(x.dtype)


def _softmax_rule(name: str, formula: Callable) -> Callable:
    def rule(op, grad):
        result = _detached(op.y)
        y, g, axis = result.data, grad.data, op.axis
        shown = op.__dict__.get("_shown")
        dim = shown[1] if shown is not None and len(shown) > 1 else axis
        return (_call(getattr(aten, name).default, grad, result, dim, y.dtype,
                      kernel=lambda: formula(g, y, axis)),)
    return rule


def _sum(op, grad):
    return (_reduced_back(op, grad),)


def _mean(op, grad):
    out = _reduced_back(op, grad)
    data, count = out.data, op.count
    return (_call(aten.div.Scalar, out, count, kernel=lambda: data / np.asarray(count,
                                                                                 data.dtype)),)


def _add(op, grad):
    return tuple(grad if need else None for need in _needs(op))


def _sub(op, grad):
    need = _needs(op)
    second = None
    if need[1]:
        data = grad.data
        second = _call(aten.neg.default, grad, kernel=lambda: -data)
    return grad if need[0] else None, second


def _neg(op, grad):
    data = grad.data
    return (_call(aten.neg.default, grad, kernel=lambda: -data),)


def _mul_rule(op, grad):
    """other's gradient first, as torch's MulBackward0 computes them."""
    need = _needs(op)
    second = _mul(grad, _number(op, 0)) if need[1] else None
    return _mul(grad, _number(op, 1)) if need[0] else None, second


def _half_scalar(quotient: bool):
    """The rule of a float16/bfloat16 tensor times (or over) a number (HalfScalarMul /
    HalfScalarDiv): torch's ``mul.Tensor(grad, number)`` / ``div.Tensor(grad, number)``, its
    kernel in float32 rounded once to the gradient's dtype. A number that needs a gradient (a
    0-d tensor that requires one) or a number over the tensor: the plain backward, unseen."""

    def rule(op, grad):
        need = _needs(op)
        side = 0 if need[0] else 1  # (the tensor's; mul takes the number on either side)
        other = 1 - side
        if need[other] or not need[side] or (quotient and side) or \
                not isinstance(op.inputs[other], Tensor) or op.inputs[other].data.ndim:
            return None
        number = _number(op, other)
        g, scalar = grad.data, np.float32(_array(op.inputs[other]))
        if quotient:
            out = _call(aten.div.Tensor, grad, number,
                        kernel=lambda: (g.astype(np.float32) / scalar).astype(g.dtype))
        else:
            out = _call(aten.mul.Tensor, grad, number,
                        kernel=lambda: (g.astype(np.float32) * scalar).astype(g.dtype))
        return (out, None) if side == 0 else (None, out)

    return rule


def _div(op, grad):
    a, b = op.inputs
    need = _needs(op)
    other = _number(op, 1)
    second = None
    if need[1]:  # -grad * ((self / other) / other), first as torch's DivBackward0
        x, y, g = a.data, b.data, grad.data
        quotient = _call(aten.div.Tensor, a, b, kernel=lambda: x / y)
        q = quotient.data
        quotient = _call(aten.div.Tensor, quotient, b, kernel=lambda: q / y)
        negated = _call(aten.neg.default, grad, kernel=lambda: -g)
        second = _mul(negated, quotient)
    first = None
    if need[0]:
        g, y = grad.data, _array(other)
        first = _call(aten.div.Tensor, grad, other, kernel=lambda: g / y)
    return first, second


def _power(op, grad):
    x = op.inputs[0]
    exponent = float(op.exponent)  # (torch's pow_backward: a double)
    if exponent == 0:
        return None
    data = x.data
    lower = _call(aten.pow.Tensor_Scalar, x, exponent - 1,
                  kernel=lambda: np.power(data, exponent - 1))
    low = lower.data
    scaled = _call(aten.mul.Scalar, lower, exponent, kernel=lambda: low * exponent)
    return (_mul(grad, scaled),)


def _matmul(op, grad):
    a, b = op.inputs
    if a.data.ndim != 2 or b.data.ndim != 2:
        return _batched_matmul(op, grad)
    need = _needs(op)
    return _mm_grads(grad, a, b, need[0], need[1], True)


def _flat(x: Tensor, shape: tuple) -> Tensor:
    """x's values as the (folded) operand torch's matmul multiplies: a view of x."""
    flat = _tensor(x.data.reshape(shape))
    flat.requires_grad = x.requires_grad
    return flat


def _batch_kind(op) -> str | None:
    """How torch multiplies op's operands: ``bmm`` (torch.bmm), ``batched`` (matmul of equal
    batches: views + bmm), ``folded`` (a batch of matrices times a matrix: views + mm), else
    None (broadcast batches, vectors: not shown)."""
    a, b = (t.data for t in op.inputs)
    if a.ndim < 3 or b.ndim < 2 or _column_major(b):
        return None
    if getattr(op, "node_name", None) == "BmmBackward0" or \
            _renamed_as(op) == "BmmBackward0":
        return "bmm"
    if b.ndim == 2:
        return "folded"
    if a.ndim == 3 and b.ndim == 3 and b.shape[0] == 1 != a.shape[0]:
        # torch's squeeze of b's batch, then folded; but for an x that needs a gradient by a
        # b that needs none (outside a mode) b expanded to x's batch, then bmm
        x, other = op.inputs
        return "expanded" if x.requires_grad and not other.requires_grad else "squeezed"
    return "batched" if a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2] else None


def _renamed_as(op):
    from dlpy.node_names import _renamed

    return _renamed.get(op)


def _batched_matmul(op, grad):
    """bmm's backward (mat2's ``transpose`` + ``bmm`` first, then self's), in matmul of
    batches between the ``view``\\ s torch's matmul folds the batch with (the inputs' views
    shown where their gradients are used); a batch times a matrix as ``view`` + mm's
    backward. The values are the op's own gradients."""
    kind = _batch_kind(op)
    if kind is None:
        return None
    a, b = op.inputs
    need = _needs(op)
    own: list = []
    shown, out_shape = [grad], tuple(grad.shape)  # (the gradient as the view a mode gave
    # it: the op's own backward of that)

    def value(i, shape):
        if not own:
            own.extend(_own_grads(op, _tensor(shown[0].data.reshape(out_shape))))
        found = own[i]
        if found.size != np.prod(shape):  # (b's gradient over a's batch: squeezed's)
            found = found.sum(axis=0)
        return np.reshape(found, shape)

    n, k, p = a.shape[-2], a.shape[-1], b.shape[-1]
    if kind in ("folded", "squeezed"):
        rows = a.data.size // max(k, 1)
        g = grad.data
        flat_grad = _call(aten.view.default, grad, [rows, p], kernel=lambda: g.reshape(rows, p))
        shown[0] = flat_grad
        a2, b2 = _flat(a, (rows, k)), b if kind == "folded" else _flat(b, (k, p))
        gb = ga = None
        if need[1]:
            gb = _call(aten.mm.default, _transposed(a2), flat_grad,
                       kernel=lambda: value(1, (k, p)))
            if kind == "squeezed":
                gb = _later(gb.data.reshape(b.shape), lambda gb=gb: _call(
                    aten.unsqueeze.default, gb, 0, kernel=lambda: gb.data[None]).data)
        if need[0]:
            ga = _call(aten.mm.default, flat_grad, _transposed(b2),
                       kernel=lambda: value(0, (rows, k)))
            ga = _later(ga.data.reshape(a.shape), lambda ga=ga: _call(
                aten.view.default, ga, list(a.shape), kernel=lambda: ga.data.reshape(a.shape)
            ).data)
        return ga, gb
    batch = a.data.size // max(n * k, 1)
    viewed = kind in ("batched", "expanded")
    if viewed:
        g = grad.data
        grad = shown[0] = _call(aten.view.default, grad, [batch, n, p],
                                kernel=lambda: g.reshape(batch, n, p))
    a3, b3 = (_flat(a, (batch, n, k)), _flat(b, (batch, k, p)) if kind == "batched" else
              _tensor(np.broadcast_to(b.data, (batch, k, p)))) if viewed else (a, b)
    found = [None, None]
    if need[1]:
        found[1] = _call(aten.bmm.default, _call(
            aten.transpose.int, a3, 1, 2, kernel=lambda: np.swapaxes(a3.data, 1, 2)), grad,
            kernel=lambda: value(1, (batch, k, p)))
    if need[0]:
        found[0] = _call(aten.bmm.default, grad, _call(
            aten.transpose.int, b3, 1, 2, kernel=lambda: np.swapaxes(b3.data, 1, 2)),
            kernel=lambda: value(0, (batch, n, k)))
    if viewed:
        for i, x in enumerate((a, b)):
            if found[i] is not None:
                found[i] = _later(found[i].data.reshape(x.shape), lambda f=found[i], x=x: _call(
                    aten.view.default, f, list(x.shape),
                    kernel=lambda: f.data.reshape(x.shape)).data)
    return tuple(found)


def _linear(op, grad):
    """torch's t + addmm (mm without bias): addmm's backward, the bias's sum_to, and the
    weight's ``t`` (TBackward) deferred to where its gradient is used."""
    x, weight, *rest = op.inputs
    batched = x.data.ndim > 2
    if x.data.ndim < 2 or batched and not x.data.flags.c_contiguous:
        return None
    need = _needs(op)
    wt = _tensor(weight.data.T)  # (the forward's t of the weight)
    wt.requires_grad = weight.requires_grad
    if batched:  # (torch's view of x as rows before, of the gradient's rows back after)
        rows, g = (x.data.size // max(x.shape[-1], 1), wt.shape[1]), grad.data
        grad = _call(aten.view.default, grad, list(rows), kernel=lambda: g.reshape(rows))
        x = _flat(x, (rows[0], x.shape[-1]))
    gx, gwt = _mm_grads(grad, x, wt, need[0], need[1], not rest)
    if batched and gx is not None:
        shape = tuple(op.inputs[0].shape)
        gx = _later(gx.data.reshape(shape), lambda gx=gx: _call(
            aten.view.default, gx, list(shape), kernel=lambda: gx.data.reshape(shape)).data)
    gbias = grad if rest and need[2] else None  # (summed to its shape by the engine's step)
    gw = None
    if gwt is not None:
        if _engine._passes[-1][1] is None:
            # a plain pass: torch's TBackward runs after the leaves addmm feeds
            gw = _later(gwt.data.T, lambda gwt=gwt: _transposed(gwt).data)
        else:
            gw = _transposed(gwt)
    return (gx, gw, gbias) if rest else (gx, gw)


def _reshape(op, grad):
    shape = tuple(op.inputs[0].shape)
    data = grad.data
    shown = op.__dict__.get("_shown_func")
    inner = op.inputs[0].op
    if shown is not None and not shown.is_view and inner is not None:
        # dlpy's view of the op a function shown as one call ran (layer_norm's): that op's
        # backward shows the call's, given its arguments; the view none
        inner.__dict__["_shown"] = op.__dict__["_shown"]
        inner.__dict__["_shown_func"] = shown
        return (_tensor(data.reshape(shape)),)
    name = getattr(op, "node_name", None)
    if name == "UnsqueezeBackward0":  # (grad.squeeze(dim))
        return (_call(aten.squeeze.dim, grad, op.__dict__.get("given_dim", op.strides_rule),
                      kernel=lambda: data.reshape(shape)),)
    if name in ("SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2"):
        # unsqueeze_to: an unsqueeze at each size-1 axis the squeeze dropped, in order
        for axis in (a for a in range(len(shape)) if a not in op.strides_rule):
            data = grad.data
            grad = _call(aten.unsqueeze.default, grad, axis,
                         kernel=lambda data=data, axis=axis: np.expand_dims(data, axis))
        return (grad,)
    if name not in (None, "ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0"):
        return None  # (reshape's names: a view, an alias of a view, a copy)
    if data.size == 0 or np.shares_memory(data.reshape(shape), data):
        return (_call(aten.view.default, grad, list(shape), kernel=lambda: data.reshape(shape)),)
    from dlpy import contiguous_format

    copy = _call(aten.clone.default, grad, memory_format=contiguous_format,
                 kernel=lambda: np.ascontiguousarray(data))
    copied = copy.data
    return (_call(aten._unsafe_view.default, copy, list(shape),
                  kernel=lambda: copied.reshape(shape)),)


def _transpose(op, grad):
    if getattr(op, "node_name", None) == "TBackward0":
        return (_transposed(grad),)
    axes = tuple(op.axes)
    moved = [i for i, a in enumerate(axes) if a != i]
    data = grad.data
    if len(moved) > 2 and getattr(op, "node_name", None) in (None, "PermuteBackward0"):
        back = [int(a) for a in np.argsort(axes)]
        return (_call(aten.permute.default, grad, back,
                      kernel=lambda: np.transpose(data, back)),)
    if len(moved) != 2:
        return None
    dims = op.__dict__.get("given_dims") or moved  # (torch's TransposeBackward0: as given)
    return (_call(aten.transpose.int, grad, dims[0], dims[1],
                  kernel=lambda: np.swapaxes(data, moved[0], moved[1])),)


def _expand_rule(op, grad):
    return (_sum_to(grad, op.inputs[0].shape),)


def _call_many(func, *args, kernel: Callable, **kwargs) -> tuple:
    """``_call`` of an overload returning several tensors (None where the mask leaves one
    out, as torch's undefined outputs)."""
    values, named = _dispatch._normalized(func, list(args), kwargs)
    # (torch's kernels give contiguous gradients)
    result = _dispatch.dispatch(func, values, named, lambda: tuple(
        None if a is None else _tensor(np.ascontiguousarray(a)) for a in kernel()), (Tensor,))
    return tuple(result)


def _own_grads(op, grad: Tensor) -> tuple:
    """The op's own numpy gradients (one per input), for a fused backward kernel."""
    out = type(op).backward(op, grad.data)
    return out if isinstance(out, tuple) else tuple(out)


def _layer_norm(op, grad):
    shown = op.__dict__.get("_shown")
    if shown is None:
        return None
    x, shape, weight, bias = (list(shown) + [None, None])[:4]
    if len(shape) != 1:
        return None
    need = _needs(op) + [False, False]
    data = op.inputs[0].data
    mean = _tensor(np.ascontiguousarray(data).mean(axis=-1, keepdims=True).astype(data.dtype))
    rstd = _tensor(np.asarray(op.inv_std, data.dtype))
    mask = [need[0], need[1] and weight is not None, need[2] and bias is not None]

    def kernel():
        own = list(_own_grads(op, grad)) + [None, None]
        return tuple(own[i] if mask[i] else None for i in range(3))

    found = _call_many(aten.native_layer_norm_backward.default, grad, op.inputs[0], shape, mean,
                       rstd, weight, bias, mask, kernel=kernel)
    return found[:len(op.inputs)]


def _convolution(op, grad):
    shown = op.__dict__.get("_shown")
    if shown is None or len(shown) != 9 or shown[6]:
        return None
    x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = shown
    need = _needs(op) + [False]
    mask = [need[0], need[1], bias is not None and need[2]]

    def kernel():
        own = list(_own_grads(op, grad)) + [None]
        return tuple(own[i] if mask[i] else None for i in range(3))

    found = _call_many(aten.convolution_backward.default, grad, x, weight,
                       [0] if bias is None else list(bias.shape), stride, padding, dilation,
                       transposed, output_padding, groups, mask, kernel=kernel)
    return found[:len(op.inputs)]


def _embedding(op, grad):
    shown = op.__dict__.get("_shown")
    if shown is None or op.sparse:
        return None
    weight, indices = shown[0], shown[1]
    padding = shown[2] if len(shown) > 2 else -1
    by_freq = bool(shown[3]) if len(shown) > 3 else False
    return (_call(aten.embedding_dense_backward.default, grad, indices, weight.shape[0],
                  padding, by_freq, kernel=lambda: _own_grads(op, grad)[0]),)


def _batch_norm(op, grad):
    """native_batch_norm_backward(grad, input, weight, running_mean, running_var, save_mean,
    save_invstd, train, eps, output_mask): training saves the batch's mean and 1 / std, eval
    empty tensors (the running statistics are read)."""
    x = op.inputs[0]
    weight = op.inputs[1] if op.has_weight else None
    dtype = x.data.dtype
    if op.training:
        running = op.__dict__.get("running")
        if running is None:
            return None  # (SyncBatchNorm and the like: not shown)
        mean, var = (None, None) if running[0] is None else (_tensor(running[0]),
                                                            _tensor(running[1]))
        saved = (_tensor(np.asarray(op.batch_mean, dtype).reshape(-1)),
                 _tensor(np.asarray(op.inv_std, dtype).reshape(-1)))
        changed = op.__dict__.get("_mode_results")
        if changed is not None:  # (a mode's statistics: torch's node saved those)
            saved = (_tensor(changed[1].data), _tensor(changed[2].data))
    else:
        mean, var = _tensor(op.running_mean), _tensor(op.running_var)
        saved = (_tensor(np.empty(0, dtype)), _tensor(np.empty(0, dtype)))
    need = _needs(op)
    mask = [need[0], op.has_weight and need[1], op.has_bias and need[-1]]
    places = [0] + [1] * op.has_weight + [2] * op.has_bias  # op input -> kernel output

    def kernel():
        if "_mode_results" in op.__dict__:
            return _batch_norm_grads(grad.data, x.data, None if weight is None else weight.data,
                                     None, None, saved[0].data, saved[1].data, True,
                                     float(op.eps), mask)
        own = _own_grads(op, grad)
        out = [None, None, None]
        for i, place in enumerate(places):
            out[place] = own[i] if mask[place] else None
        return tuple(out)

    found = _call_many(aten.native_batch_norm_backward.default, grad, x, weight, mean, var,
                       *saved, bool(op.training), float(op.eps), mask, kernel=kernel)
    return tuple(found[place] for place in places)


def _index_select(op, grad):
    """index_select_backward: ``new_zeros`` of x's shape, then ``index_add`` of the gradient
    at the indices along dim (as given)."""
    from dlpy import device, strided

    shape, dtype = tuple(op.shape), grad.data.dtype
    zeros = _call(aten.new_zeros.default, grad, list(shape), dtype=dtype, layout=strided,
                  device=device("cpu"), kernel=lambda: np.zeros(shape, dtype))
    return (_call(aten.index_add.default, zeros, op.__dict__.get("given_dim", op.dim),
                  _tensor(op.index), grad, kernel=lambda: _own_grads(op, grad)[0]),)


def _gather(op, grad):
    """gather_backward: ``new_zeros`` of x's shape, then ``scatter_add`` of the gradient at
    the index along dim (as given)."""
    if op.sparse or "node_name" in op.__dict__:
        return None
    shape = tuple(op.shape)
    zeros = _call(aten.new_zeros.default, grad, list(shape),
                  kernel=lambda: np.zeros(shape, grad.data.dtype))
    return (_call(aten.scatter_add.default, zeros, op.__dict__.get("given_dim", op.dim),
                  _tensor(op.index), grad, kernel=lambda: _own_grads(op, grad)[0]),)


def _pool_stride(op) -> list:
    return [] if op.__dict__.get("default_stride") else list(op.stride)


def _pool1d(op, grad, func, settings: list, extra: tuple = ()):
    """A 1-d pool's backward as torch's composite shows it: the gradient ``unsqueeze``\\ d
    (its length axis a width), the 2-d kernel's backward on the input viewed so, the result
    ``squeeze``\\ d back (its unsqueeze's given dim, -2)."""
    x = op.inputs[0]
    if x.data.ndim != 3:
        return None  # (an unbatched one: dlpy's batch of one, not torch's squeeze)
    data = grad.data
    wide = _call(aten.unsqueeze.default, grad, 2, kernel=lambda: np.expand_dims(data, 2))
    x4 = _flat(x, x.shape[:2] + (1, x.shape[2]))
    value = wide.data
    out = _call_one(func, wide, x4, *settings, *extra, kernel=lambda: np.expand_dims(
        _own_grads(op, _tensor(value.reshape(data.shape)))[0], 2))
    found = out.data
    return (_call(aten.squeeze.dim, out, -2, kernel=lambda: found.reshape(x.shape)),)


def _adaptive_pool(op, grad):
    """adaptive_avg_pool1d / 2d (dlpy's averaging products, op the last) as torch's one node:
    a global pool's mean backward (``expand`` + ``div.Scalar``), else
    ``_adaptive_avg_pool2d_backward``; adaptive_max_pool1d / 2d (dlpy's gather)
    ``adaptive_max_pool2d_backward``; a 1-d pool's between torch's ``unsqueeze`` and
    ``squeeze``. The value reaches x through the pool's nodes (``_hand_on``)."""
    nd, x, sizes, *indices = op.__dict__["adaptive_pool"]
    shape = tuple(x.shape)
    target = None if nd > 2 or len(shape) not in (nd + 1, nd + 2) or \
        x.data.dtype.kind != "f" else _hand_on(op, x)
    if target is None:
        return None
    plane = len(shape) - nd  # (N, C, H, W) or unbatched (C, H, W): a 1-d pool's H is 1
    wide = shape[:plane] + (1,) * (2 - nd) + shape[plane:]
    if nd == 1:
        data = grad.data
        grad = _call(aten.unsqueeze.default, grad, plane,
                     kernel=lambda: np.expand_dims(data, plane))
    if indices:  # a max pool's (the maxima's places in each plane)
        index = _tensor(indices[0].reshape(grad.data.shape))
        g = grad.data
        grad = _call_one(aten.adaptive_max_pool2d_backward.default, grad, _flat(x, wide), index,
                         kernel=lambda: _max_pool_grad(g, np.empty(wide, g.dtype), None, None,
                                                       None, None, None, index.data))
    elif all(n == 1 for n in sizes):
        grad = _expand(grad, wide)
        data, count = grad.data, int(np.prod(wide[-2:]))
        grad = _call(aten.div.Scalar, grad, count,
                     kernel=lambda: data / np.asarray(count, data.dtype))
    else:
        from dlpy.functional import _averaging_matrix

        g = grad.data

        def kernel():  # (A_h^T g A_w)
            rows, cols = (_averaging_matrix(n, o, np.float32 if g.dtype.itemsize < 4 else
                                            g.dtype) for n, o in zip(wide[-2:], g.shape[-2:]))
            return (rows.T @ g.astype(rows.dtype) @ cols).astype(g.dtype)
        grad = _call_one(aten._adaptive_avg_pool2d_backward.default, grad, _flat(x, wide),
                         kernel=kernel)
    if nd == 1:
        data = grad.data
        grad = _call(aten.squeeze.dim, grad, -2, kernel=lambda: data.reshape(shape))
    target[...] = grad.data.reshape(shape)
    return _handed_grads(op)


def _hand_on(op, x: Tensor):
    """Mark op and the nodes between it and x (each with one input needing a gradient) to
    hand on a gradient: zeros, x's where x is the input (returned, to be filled); None (and
    nothing marked) if a node has another input that needs one."""
    node, marked = op, []
    while True:
        needed = [t for t in node.inputs if isinstance(t, Tensor) and t.requires_grad]
        if len(needed) != 1 or needed[0] is not x and needed[0].op is None:
            for done in marked:
                del done.__dict__["_handed_on"]
            return None
        source = needed[0]
        array = np.zeros(source.shape, source.data.dtype)
        node.__dict__["_handed_on"] = (source, array)
        marked.append(node)
        if source is x:
            return array
        node = source.op


def _handed_grads(op) -> tuple:
    """The gradients a node marked by ``_hand_on`` gives its inputs."""
    source, array = op.__dict__.pop("_handed_on")
    return tuple(_tensor(array) if t is source else None for t in op.inputs)


def _max_pool(op, grad):
    if len(op.kernel) == 1:
        indices = _tensor(np.expand_dims(op.indices(), 2))
        return _pool1d(op, grad, aten.max_pool2d_with_indices_backward.default,
                       [[1, op.kernel[0]], [1, op.stride[0]], [0, op.padding[0]],
                        [1, op.dilation[0]], bool(op.ceil_mode)], (indices,))
    if len(op.kernel) != 2:
        return None
    changed = op.__dict__.get("_mode_results")
    own = op.indices()
    if changed is not None and np.array_equal(changed[1].data, own):
        changed = None  # (the output alone changed: the backward reads no output)
    indices = _tensor(own if changed is None else changed[1].data)
    x = op.inputs[0]

    def kernel():
        if changed is not None:  # (a mode's indices: torch's node saved those)
            return _max_pool_grad(grad.data, x.data, None, None, None, None, None, indices.data)
        return _own_grads(op, grad)[0]
    return (_call_one(aten.max_pool2d_with_indices_backward.default, grad, x,
                      list(op.kernel), _pool_stride(op), list(op.padding), list(op.dilation),
                      bool(op.ceil_mode), indices, kernel=kernel),)


def _avg_pool(op, grad):
    if len(op.kernel) == 1:
        return _pool1d(op, grad, aten.avg_pool2d_backward.default,
                       [[1, op.kernel[0]], [1, op.stride[0]], [0, op.padding[0]],
                        bool(op.ceil_mode), bool(op.count_include_pad), None])
    if len(op.kernel) != 2:
        return None
    return (_call_one(aten.avg_pool2d_backward.default, grad, op.inputs[0], list(op.kernel),
                      _pool_stride(op), list(op.padding), bool(op.ceil_mode),
                      bool(op.count_include_pad), op.divisor_override,
                      kernel=lambda: _own_grads(op, grad)[0]),)


def _call_one(func, *args, kernel: Callable, **kwargs) -> Tensor:
    """``_call`` with a contiguous value (torch's kernels give contiguous gradients)."""
    return _call(func, *args, kernel=lambda: np.ascontiguousarray(kernel()), **kwargs)


def _causal(mask, rows: int, cols: int) -> bool:
    """Whether an additive mask is is_causal's: -inf above the diagonal, 0 elsewhere."""
    if mask is None or np.shape(mask)[-2:] != (rows, cols) or np.ndim(mask) != 2:
        return False
    above = np.triu(np.ones((rows, cols), bool), 1)
    return bool(np.isneginf(mask[above]).all() and (mask[~above] == 0).all())


def attention_arguments(op, q_shape, k_shape) -> tuple:
    """(is_causal, kwargs) of torch's flash kernel for dlpy's Attention op: a causal mask as
    is_causal, another as attn_mask (the additive mask), a scale not 1 / sqrt(dim) as
    scale."""
    causal = op.__dict__.get("causal")  # (sdpa's is_causal as given; else the mask read)
    if causal is None:
        causal = _causal(op.mask, q_shape[-2], k_shape[-2])
    kwargs = {}
    if op.mask is not None and not causal:
        kwargs["attn_mask"] = _tensor(op.mask)
    scale = float(np.asarray(op.scale))
    if scale != 1 / np.sqrt(q_shape[-1]):
        kwargs["scale"] = scale
    return causal, kwargs


def attention_logsumexp(op, q, k) -> np.ndarray:
    """The flash kernel's second result: the log-sum-exp of each row of (masked) scores."""
    scores = (q @ np.swapaxes(k, -1, -2)) * float(np.asarray(op.scale))
    if op.mask is not None:
        scores = scores + op.mask
    top = scores.max(axis=-1, keepdims=True)
    return (np.log(np.exp(scores - top).sum(axis=-1)) + top[..., 0]).astype(np.float32)


def _attention(op, grad):
    """_scaled_dot_product_flash_attention_for_cpu_backward(grad, q, k, v, out, logsumexp,
    dropout_p, is_causal, attn_mask=, scale=) after the saved output's ``detach``; its
    gradients laid out (batch, seq, heads, dim), as torch's kernel writes them."""
    q, k, v = op.inputs if len(op.inputs) == 3 else (None, None, None)
    if q is None or op.packed or op.num_heads is not None or op.keep is not None or \
            any(t.data.ndim != 4 for t in (q, k, v)):
        return None
    causal, kwargs = attention_arguments(op, q.shape, k.shape)
    changed = op.__dict__.get("_mode_results")  # (a mode's output and logsumexp: torch's
    # node saved those, its kernel reads them)
    out = _detached(op.out if changed is None else changed[0].data)
    if changed is None:
        scores = np.matmul(op.q, np.swapaxes(op.k, -1, -2))
        if op.mask is not None:
            scores = scores + op.mask
        top = scores.max(axis=-1, keepdims=True)
        lse = _tensor((np.log(np.exp(scores - top).sum(axis=-1)) + top[..., 0]).astype(
            np.float32))
    else:
        lse = _tensor(changed[1].data)
    kwargs = {"attn_mask": None, **kwargs}

    def kernel():
        grads = _own_grads(op, grad) if changed is None else _saved_attention_grads(
            grad.data, q.data, k.data, v.data, out.data, lse.data, op.mask,
            float(np.asarray(op.scale)))
        return tuple(np.swapaxes(np.ascontiguousarray(np.swapaxes(g, 1, 2)), 1, 2)
                     for g in grads)

    values, named = _dispatch._normalized(
        aten._scaled_dot_product_flash_attention_for_cpu_backward.default,
        [grad, q, k, v, out, lse, 0.0, causal], kwargs)
    named = {"attn_mask": None, **named}  # (torch's formula passes it, the default)
    result = _dispatch.dispatch(
        aten._scaled_dot_product_flash_attention_for_cpu_backward.default, values, named,
        lambda: tuple(_tensor(g) for g in kernel()), (Tensor,))
    return tuple(result)


def _index_put_grad(op, grad, index: np.ndarray):
    """x[index] (one index tensor, or a mask): ``new_zeros`` of x's shape, then
    ``index_put`` of the gradient there with accumulate=True."""
    from dlpy import device, strided

    shape, dtype = tuple(op.shape), grad.data.dtype
    zeros = _call(aten.new_zeros.default, grad, list(shape), dtype=dtype, layout=strided,
                  device=device("cpu"), kernel=lambda: np.zeros(shape, dtype))
    return (_call(aten.index_put.default, zeros, [_tensor(index)], grad, True,
                  kernel=lambda: _own_grads(op, grad)[0]),)


def _getitem(op, grad):
    """x[i] (select_backward), x[a:b] (slice_backward) on one axis, or x[index] of one
    index tensor or mask (new_zeros + index_put)."""
    if "node_name" in op.__dict__:  # (split, chunk, unbind: torch's one node of several)
        return None
    index = op.index
    items = index if type(index) is tuple else (index,)
    if len(items) == 1 and type(items[0]) is np.ndarray:
        kind = items[0].dtype.kind
        if kind in "iu" or kind == "b" and items[0].shape == tuple(op.shape):
            return _index_put_grad(op, grad, items[0])
        return None
    moved = [i for i, item in enumerate(items) if not (type(item) is slice and
                                                       item == slice(None))]
    if len(moved) != 1:
        return None
    dim, item = moved[0], items[moved[0]]
    shape, g = tuple(op.shape), grad.data
    where = items[:dim + 1]

    def placed():
        out = np.zeros(shape, g.dtype)
        out[where] = g
        return out

    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return (_call(aten.select_backward.default, grad, list(shape), dim, int(item),
                      kernel=placed),)
    if type(item) is not slice:
        return None
    start = 0 if item.start is None else int(item.start)
    stop = sys.maxsize if item.stop is None else int(item.stop)
    return (_call(aten.slice_backward.default, grad, list(shape), dim, start, stop,
                  1 if item.step is None else int(item.step), kernel=placed),)


def _joined(op, grad):
    """cat's backward: a ``slice`` of the gradient per input; stack's a ``select``."""
    axis, g = op.axis, grad.data
    need = _needs(op)
    own: list = []

    def piece(i):
        if not own:
            own.extend(_own_grads(op, grad))
        return own[i]

    found = []
    start = 0
    for i, x in enumerate(op.inputs):
        if type(op).__name__ == "Stack":
            found.append(_call(aten.select.int, grad, axis, i, kernel=lambda i=i: piece(i))
                         if need[i] else None)
            continue
        stop = start + x.shape[axis]
        found.append(_call(aten.slice.Tensor, grad, axis, start, stop,
                           kernel=lambda i=i: piece(i)) if need[i] else None)
        start = stop
    del g
    return tuple(found)


def _softmax_grad(g, y, axis):
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


def _log_softmax_grad(g, y, axis):
    return g - np.exp(y) * g.sum(axis=axis, keepdims=True)


def _threshold_grad(g, x, threshold):
    return np.where(x <= threshold, np.zeros((), g.dtype), g)


def _gelu_any(g, x, approximate="none"):
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
        t = np.tanh(inner)
        dinner = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x * x)
        return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)).astype(x.dtype)
    return _gelu_grad(g, x)


def _on_arrays(formula: Callable) -> Callable:
    """``formula`` on arrays as an aten kernel on Tensors."""
    def kernel(*args, **kwargs):
        return Tensor(np.asarray(formula(*[_array(a) if isinstance(a, Tensor) else a
                                           for a in args], **kwargs)))
    return kernel


def _layer_norm_grads(g, x, normalized_shape, mean, rstd, weight, bias, output_mask):
    """native_layer_norm_backward: (dx, dweight, dbias) over the trailing axes."""
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    batch = tuple(range(x.ndim - len(normalized_shape)))
    xhat = (x - mean) * rstd
    h = g if weight is None else g * weight
    dx = rstd * (h - h.mean(axis=axes, keepdims=True)
                 - xhat * (h * xhat).mean(axis=axes, keepdims=True))
    dw = (g * xhat).sum(axis=batch) if output_mask[1] and weight is not None else None
    db = g.sum(axis=batch) if output_mask[2] and bias is not None else None
    return (dx.astype(x.dtype) if output_mask[0] else None, dw, db)


def _embedding_grad(g, indices, num_weights, padding_idx, scale_grad_by_freq):
    """embedding_dense_backward: g's rows added at their indices (the padding row none)."""
    ids = indices.reshape(-1)
    rows = g.reshape(ids.size, -1)
    if scale_grad_by_freq:
        rows = rows / np.bincount(ids, minlength=num_weights)[ids][:, None].astype(g.dtype)
    out = np.zeros((num_weights, rows.shape[1]), g.dtype)
    np.add.at(out, ids, rows)
    if padding_idx >= 0:
        out[padding_idx] = 0
    return out


def _convolution_grads(grad_output, input, weight, bias_sizes, stride, padding,  # noqa: A002
                       dilation, transposed, output_padding, groups, output_mask):
    """convolution_backward: (dinput, dweight, dbias) of aten.convolution, by dlpy's own
    convolution's backward."""
    from dlpy.autograd import grad as autograd_grad
    from dlpy.tensor import enable_grad

    x = Tensor(np.asarray(input.data), requires_grad=True)
    w = Tensor(np.asarray(weight.data), requires_grad=True)
    with enable_grad():
        out = aten.convolution.default(x, w, None, stride, padding, dilation, transposed,
                                       output_padding, groups)
        dx, dw = autograd_grad(out, [x, w], grad_output)
    g = grad_output.data
    db = g.sum(axis=tuple(d for d in range(g.ndim) if d != 1)) if output_mask[2] else None
    return (Tensor(dx.data) if output_mask[0] else None,
            Tensor(dw.data) if output_mask[1] else None, None if db is None else Tensor(db))


def _nll_loss_grad(g, x, target, weight, reduction, ignore_index, total_weight):
    """nll_loss_backward: -weight[t] * g at each row's target (over total_weight for the
    mean), none at ignore_index."""
    rows = x.reshape(-1, x.shape[-1]) if x.ndim else x
    ids = np.asarray(target).reshape(-1)
    weights = np.ones(rows.shape[-1], x.dtype) if weight is None else weight
    valid = ids != ignore_index
    scale = -weights[np.where(valid, ids, 0)] * valid
    if reduction == 0:
        scale = scale * np.asarray(g).reshape(-1)
    else:
        scale = scale * np.asarray(g).reshape(())
        if reduction == 1:
            scale = scale / np.asarray(total_weight)
    out = np.zeros_like(rows)
    out[np.arange(len(ids)), np.where(valid, ids, 0)] = scale
    return out.reshape(x.shape).astype(x.dtype)


def _adaptive_avg(x, size):
    from dlpy import functional

    return functional.adaptive_avg_pool2d(x, size)


def _channel_shape(x) -> tuple:
    return (1, -1) + (1,) * (x.ndim - 2)


def _batch_norm_grads(g, x, weight, running_mean, running_var, save_mean, save_invstd, train,
                      eps, output_mask):
    """native_batch_norm_backward: (dx, dweight, dbias) per channel (axis 1), with the saved
    batch statistics when training, else the running ones."""
    axes, shape = tuple(d for d in range(x.ndim) if d != 1), _channel_shape(x)
    if train:
        mean, invstd = save_mean, save_invstd
    else:
        mean, invstd = running_mean, 1.0 / np.sqrt(running_var + eps)
    mean, invstd = np.reshape(mean, shape), np.reshape(invstd, shape)
    xhat = (x - mean) * invstd
    scale = invstd if weight is None else invstd * np.reshape(weight, shape)
    dx = None
    if output_mask[0]:
        dx = g * scale if not train else scale * (
            g - g.mean(axis=axes, keepdims=True)
            - xhat * (g * xhat).mean(axis=axes, keepdims=True))
        dx = dx.astype(x.dtype)
    dw = (g * xhat).sum(axis=axes).astype(x.dtype) if output_mask[1] else None
    db = g.sum(axis=axes).astype(x.dtype) if output_mask[2] else None
    return dx, dw, db


def _max_pool_grad(g, x, kernel_size, stride, padding, dilation, ceil_mode, indices):
    """max_pool2d_with_indices_backward: each gradient added at its window's maximum (the
    index into its flattened plane)."""
    n = int(np.prod(x.shape[:-2]))
    planes = np.zeros((n, x.shape[-2] * x.shape[-1]), g.dtype)
    np.add.at(planes, (np.arange(n)[:, None], np.asarray(indices).reshape(n, -1)),
              g.reshape(n, -1))
    return planes.reshape(x.shape)


def _by_autograd(forward: Callable) -> Callable:
    """A backward kernel given by dlpy's own forward (``forward(input, *settings)``) and its
    gradient: (grad_output, input, *settings) -> the input's gradient."""
    def kernel(grad_output, input, *settings):  # noqa: A002
        from dlpy.autograd import grad as autograd_grad
        from dlpy.tensor import enable_grad

        x = Tensor(np.asarray(input.data), requires_grad=True)
        with enable_grad():
            out = forward(x, *settings)
            (dx,) = autograd_grad(out, [x], Tensor(np.asarray(grad_output.data)))
        return Tensor(np.ascontiguousarray(dx.data))
    return kernel


def _avg_pool_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    from dlpy import functional

    return functional.avg_pool2d(x, list(kernel_size), list(stride) or None, list(padding),
                                 ceil_mode, count_include_pad, divisor_override)


def _placed(kind: str) -> Callable:
    """select_backward / slice_backward: zeros of input_sizes, the gradient where the select
    (an index) or the slice (start, end, step) took it."""
    def kernel(g, input_sizes, dim, *where):
        out = np.zeros(tuple(input_sizes), g.dtype)
        index = [slice(None)] * out.ndim
        index[dim] = where[0] if kind == "select" else slice(*where)
        out[tuple(index)] = g
        return out
    return kernel


def _attention_scores(q, k, v, is_causal, attn_mask, scale):
    """The flash kernel's scores (batch, heads, seq_q, seq_k), scaled and masked."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * np.asarray(scale, q.dtype)
    if is_causal:
        rows, cols = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((rows, cols), bool)), scores, -np.inf)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
    return scores.astype(q.dtype)


def _flash_attention(query, key, value, dropout_p=0.0, is_causal=False, *, attn_mask=None,
                     scale=None):
    """_scaled_dot_product_flash_attention_for_cpu: (output, logsumexp of the scores)."""
    q, k, v = (_array(t) for t in (query, key, value))
    scores = _attention_scores(q, k, v, is_causal, None if attn_mask is None else
                               _array(attn_mask), scale)
    top = scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores - top)
    total = weights.sum(axis=-1, keepdims=True)
    out = np.matmul(weights / total, v).astype(q.dtype)
    lse = (np.log(total) + top)[..., 0].astype(np.float32)
    return Tensor(out), Tensor(lse)


def _saved_attention_grads(g, q, k, v, out, logsumexp, mask, scale: float) -> tuple:
    """The flash kernel's backward from its saved output and logsumexp (as a mode gave them):
    p = exp(scores - logsumexp), dS = p (g v^T - rowsum(g * out))."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * np.asarray(scale, q.dtype)
    if mask is not None:
        scores = scores + mask
    p = np.exp(scores - np.asarray(logsumexp, q.dtype)[..., None])
    dv = np.matmul(np.swapaxes(p, -1, -2), g)
    ds = p * (np.matmul(g, np.swapaxes(v, -1, -2)) - (g * out).sum(axis=-1, keepdims=True))
    factor = np.asarray(scale, q.dtype)
    dq, dk = np.matmul(ds, k) * factor, np.matmul(np.swapaxes(ds, -1, -2), q) * factor
    return tuple(a.astype(q.dtype) for a in (dq, dk, dv))


def _flash_attention_grads(grad_out, query, key, value, out, logsumexp, dropout_p, is_causal,
                           *, attn_mask=None, scale=None):
    """The flash kernel's backward: (dq, dk, dv) of softmax(scores) v."""
    q, k, v, g = (_array(t) for t in (query, key, value, grad_out))
    mask = None if attn_mask is None else _array(attn_mask)
    scores = _attention_scores(q, k, v, is_causal, mask, scale)
    p = np.exp(scores - np.asarray(_array(logsumexp), q.dtype)[..., None])
    dv = np.matmul(np.swapaxes(p, -1, -2), g)
    dp = np.matmul(g, np.swapaxes(v, -1, -2))
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    factor = np.asarray(1 / np.sqrt(q.shape[-1]) if scale is None else scale, q.dtype)
    dq = np.matmul(ds, k) * factor
    dk = np.matmul(np.swapaxes(ds, -1, -2), q) * factor
    return tuple(Tensor(a.astype(q.dtype)) for a in (dq, dk, dv))


# the backward overloads' values (dlpy.ops.aten's implementations of them)
KERNELS: dict[str, Callable] = {
    "native_batch_norm_backward": lambda *args: tuple(
        None if a is None else Tensor(a) for a in _batch_norm_grads(
            *[_array(a) if isinstance(a, Tensor) else a for a in args])),
    "max_pool2d_with_indices_backward": _on_arrays(_max_pool_grad),
    "avg_pool2d_backward": _by_autograd(_avg_pool_forward),
    "adaptive_max_pool2d_backward": lambda g, x, indices: Tensor(_max_pool_grad(
        _array(g), _array(x), None, None, None, None, None, _array(indices))),
    "_adaptive_avg_pool2d_backward": lambda g, x: _by_autograd(_adaptive_avg)(
        g, x, tuple(g.shape[-2:])),
    "select_backward": _on_arrays(_placed("select")),
    "slice_backward": _on_arrays(_placed("slice")),
    "_scaled_dot_product_flash_attention_for_cpu": _flash_attention,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _flash_attention_grads,
    "nll_loss_backward": _on_arrays(_nll_loss_grad),
    "native_layer_norm_backward": lambda *args: tuple(
        None if a is None else Tensor(a) for a in _layer_norm_grads(
            *[_array(a) if isinstance(a, Tensor) else a for a in args])),
    "embedding_dense_backward": _on_arrays(_embedding_grad),
    "convolution_backward": _convolution_grads,
    "threshold_backward": _on_arrays(_threshold_grad),
    "sigmoid_backward": _on_arrays(lambda g, y: g * (1 - y) * y),
    "tanh_backward": _on_arrays(lambda g, y: g * (1 - y * y)),
    "gelu_backward": _on_arrays(_gelu_any),
    "_softmax_backward_data": _on_arrays(lambda g, y, dim, dtype: _softmax_grad(g, y, dim)),
    "_log_softmax_backward_data": _on_arrays(
        lambda g, y, dim, dtype: _log_softmax_grad(g, y, dim)),
}

RULES: dict[str, Callable] = {
    "ReLU": _relu, "Exp": _exp, "GELU": _gelu,
    "Sigmoid": _saved_result("sigmoid_backward", lambda g, y: g * (1 - y) * y),
    "Tanh": _saved_result("tanh_backward", lambda g, y: g * (1 - y * y)),
    "Softmax": _softmax_rule("_softmax_backward_data", _softmax_grad),
    "LogSoftmax": _softmax_rule("_log_softmax_backward_data", _log_softmax_grad),
    "Sum": _sum, "Mean": _mean, "Add": _add, "Sub": _sub, "Neg": _neg, "Mul": _mul_rule,
    "Div": _div, "HalfScalarMul": _half_scalar(False), "HalfScalarDiv": _half_scalar(True),
    "Power": _power, "MatMul": _matmul, "Linear": _linear,
    "Reshape": _reshape, "Transpose": _transpose, "Expand": _expand_rule,
    "LayerNorm": _layer_norm, "Conv1d": _convolution, "Conv2d": _convolution,
    "Conv3d": _convolution, "Embedding": _embedding, "ShownCall": _one_node,
    "BatchNorm": _batch_norm, "MaxPool2d": _max_pool, "AvgPool2d": _avg_pool,
    "MaxPool1d": _max_pool, "AvgPool1d": _avg_pool, "IndexSelect": _index_select,
    "Gather": _gather,
    "Attention": _attention, "GetItem": _getitem, "Concat": _joined, "Stack": _joined,
}
# the order torch's node lists its inputs' edges (its next_functions), where dlpy's differs:
# linear's addmm(bias, x, weight.t())
_EDGE_ORDER: dict[str, Callable] = {
    # (of a batch, x's view is made before the weight's t: the newer t first)
    "Linear": lambda op: op.inputs if len(op.inputs) != 3 else (
        op.inputs[2], op.inputs[1], op.inputs[0]) if op.inputs[0].data.ndim > 2 else (
        op.inputs[2], op.inputs[0], op.inputs[1]),
    # matmul of batches: the views of its operands, b's the newer
    "MatMul": lambda op: op.inputs[::-1] if _batch_kind(op) in ("batched", "folded")
    else op.inputs,
}


def _handed_rule(op, grad):
    return _handed_grads(op)


def _shown_deferred(grad):
    """A deferred weight gradient reaching its use: its ``t`` shown now (the value the mode
    gives is the gradient)."""
    pending = _deferred.get(id(grad)) if _deferred else None
    if pending is None or pending[0] is not grad:
        return grad
    del _deferred[id(grad)]
    return pending[1]()


def _later(array, show: Callable) -> Tensor:
    """``array`` handed on with its call (``show``) deferred to where it is used."""
    _deferred[id(array)] = (array, show)
    return _tensor(array)


# ---------------------------------------------------------------------------- call sites
def checked_grads(inner: Callable) -> Callable:
    def grads(op, grad_output):
        if not _active():
            return inner(op, grad_output)
        grad_output = _shown_deferred(grad_output)
        attributes = op.__dict__
        rule = _adaptive_pool if "adaptive_pool" in attributes else _handed_rule if \
            "_handed_on" in attributes else RULES.get(type(op).__name__)
        found = None if rule is None else rule(op, _tensor(grad_output))
        if found is None:
            return inner(op, grad_output)
        given = [None if g is None else g.data for g in found]
        # torch's engine then sums each broadcast input's gradient to its shape, in order
        found = [g if g is None or not isinstance(t, Tensor) else _sum_to(g, t.shape)
                 for g, t in zip(found, op.inputs)]
        arrays = tuple(None if g is None else g.data for g in found)
        for array in given:  # (one array the node gave two inputs: shared, as torch's)
            if array is not None:
                uses = sum(a is array for a in given)
                entry = _handed.setdefault(id(array), [array, 0])
                entry[1] = max(entry[1], uses)
        backward = op.__dict__.get("backward")
        op.backward = lambda _grad: arrays  # the checks of the plain site on these
        try:
            return inner(op, grad_output)
        finally:
            if backward is None:
                del op.backward
            else:
                op.backward = backward
    return grads


def summed(inner: Callable) -> Callable:
    """Two gradients of one tensor: torch's input buffer adds them (``add.Tensor``)."""
    def add(existing, grad, owned):
        if not _active() or type(existing) is not np.ndarray or type(grad) is not np.ndarray:
            return inner(existing, grad, owned)
        existing, grad = _shown_deferred(existing), _shown_deferred(grad)
        total = _call(aten.add.Tensor, _tensor(existing), _tensor(grad),
                      kernel=lambda: existing + grad)
        return total.data
    return add


def accumulated(inner: Callable) -> Callable:
    """A leaf's ``.grad``: torch's AccumulateGrad, a first gradient ``detach``\\ ed when it
    can be stolen (dense, row-major, held by nobody else), else copied into a new tensor of
    the leaf's strides (``new_empty_strided`` + ``copy_``); a later one ``add_``\\ ed."""
    def accumulate(node, grad, fresh):
        if not _active() or type(grad) is not np.ndarray:
            return inner(node, grad, fresh)
        grad = _shown_deferred(grad)
        shown = _tensor(grad)
        if node._grad is not None:
            _call(aten.add_.Tensor, node._grad, shown,
                  kernel=lambda: (inner(node, grad, fresh), node._grad.data)[1])
            return None
        handed = _handed.get(id(grad))
        data = node.data
        if _dense(grad) and (_same_layout(grad, data) or not _dense(data)) and (
                handed is None or handed[1] < 2):  # torch's steal: no copy
            value = _call(aten.detach.default, shown, kernel=lambda: grad).data
        else:
            from dlpy import device, strided

            strides = [s // data.itemsize for s in data.strides]
            empty = _call(aten.new_empty_strided.default, shown, list(data.shape), strides,
                          dtype=data.dtype, layout=strided, device=device("cpu"),
                          kernel=lambda: np.empty(data.shape, grad.dtype))
            target = empty.data
            _call(aten.copy_.default, empty, shown,
                  kernel=lambda: (np.copyto(target, grad), target)[1])
            value = target  # (torch's keeps the new tensor, copy_ wrote into it in place)
        return inner(node, np.asarray(value), True)
    return accumulate


def _dense(array: np.ndarray) -> bool:
    return array.size <= 1 or _engine._dense_memory(array)


def _same_layout(grad: np.ndarray, data: np.ndarray) -> bool:
    """The same strides (those of size-1 dims, which numpy leaves free, aside)."""
    return grad.shape == data.shape and all(
        a == b for a, b, n in zip(grad.strides, data.strides, data.shape) if n != 1)


def ordered(inner: Callable) -> Callable:
    """The tensors of a pass in torch's engine order (reversed, as the pass walks them): of
    the nodes whose gradients are complete, a leaf's accumulation first (in the order its
    producers' edges list them, ``_EDGE_ORDER``), else the newest node (``Op._seq``)."""
    def order(roots, needed=None):
        plain = inner(roots, needed)
        passes = _engine._passes
        if not _active() or not passes or passes[-1][0] is not None:
            return plain  # (not a pass starting: another caller's)
        _handed.clear()
        _deferred.clear()
        position = {id(n): i for i, n in enumerate(plain)}
        waiting: dict[int, int] = {}
        for node in plain:
            if node.op is not None:
                for parent in _edges(node.op):
                    if id(parent) in position:
                        waiting[id(parent)] = waiting.get(id(parent), 0) + 1
        counter = itertools.count()
        ready: list = []
        for root in roots if isinstance(roots, list) else [roots]:
            if id(root) in position and not waiting.get(id(root)):
                heapq.heappush(ready, _rank(root, counter))
        done: list = []
        seen: set[int] = set()
        while ready:
            node = heapq.heappop(ready)[2]
            if id(node) in seen:
                continue
            seen.add(id(node))
            done.append(node)
            if node.op is None:
                continue
            for parent in _edges(node.op):
                key = id(parent)
                if key in position:
                    waiting[key] -= 1
                    if waiting[key] == 0:
                        heapq.heappush(ready, _rank(parent, counter))
        if len(done) != len(plain):  # (a root another root feeds, or the like): the plain one
            return plain
        done.reverse()
        return done
    return order


def _edges(op) -> tuple:
    pick = _EDGE_ORDER.get(type(op).__name__)
    inputs = op.inputs if pick is None else pick(op)
    return tuple(t for t in inputs if isinstance(t, Tensor) and t.requires_grad)


def _rank(node, counter) -> tuple:
    # (a leaf before any node, leaves in the order they came; else the newest first)
    op = node.op
    if op is None:
        return ((-1, next(counter), 0), next(counter), node)
    return ((0, -1, -op._seq), next(counter), node)


def seed(tensor: Tensor, grad: np.ndarray) -> np.ndarray:
    """The implicit gradient of a one-element output: torch's ``ones_like``."""
    if not _active():
        return grad
    from dlpy import preserve_format

    return np.asarray(_call(aten.ones_like.default, tensor, pin_memory=False,
                            memory_format=preserve_format, kernel=lambda: grad).data,
                      dtype=grad.dtype)


WRAPS = {"checked_grads": checked_grads, "sum": summed, "accumulate": accumulated,
         "schedule": ordered}
