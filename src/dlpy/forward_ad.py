"""Forward-mode automatic differentiation, as ``torch.autograd.forward_ad``.

    with forward_ad.dual_level():
        x = forward_ad.make_dual(x0, v)            # x0 carrying the tangent v
        y = model(x)
        y0, jv = forward_ad.unpack_dual(y)         # y0 = model(x0), jv = J v

Reverse mode (``backward``) records the ops and then pulls a cotangent u back through them:
one pass gives u^T J, a row of the Jacobian. Forward mode pushes a tangent v *along* with the
values instead: every value x is a pair (x, dx), a *dual* number, and every op maps the pairs
it gets to its output's pair by its pushforward, ``y = f(x)``, ``dy = J_f(x) dx`` (mul:
``d(a b) = da b + a db``; exp: ``d exp(x) = exp(x) dx``; a linear op, like a reshape, a sum or a
convolution in one input: the same op applied to dx). The chain rule then composes the
products in the order the ops run, so one pass gives J v, a column, with no graph kept: the
cheap direction when there are few inputs (a Jacobian of a function of a few numbers, a
directional derivative) or when memory matters.

dlpy keeps tangents in a side table (one per level: tensor id -> tangent, dropped with the
tensor), not on the Tensor, and while a level is active it swaps ``Op.__call__`` (through
``swap_call_sites``, as vmap does) for a dispatcher that, when an input has a tangent, runs the
op and then the op class's rule from ``forward_ad_rules.RULES``: the JVP written with dlpy ops
on the inputs, the output and the tangents. Outside a level nothing is swapped and nothing
costs. An op without a rule falls back to the double-vjp trick on its own ``backward_graph``
(J t = d/du <J^T u, t>): correct, slower. The tangents are computed with dlpy ops, so they are
recorded (reverse over forward), vmapped (``jacfwd`` = a vmap over the basis of tangents) and
can carry tangents of an outer level themselves (forward over forward, ``dlpy.func.jvp``
nested); a ``grad`` run inside a level differentiates with recorded gradients, whose ops carry
the tangents on (forward over reverse: Hessian-vector products).

Levels: ``dual_level()`` / ``enter_dual_level()`` open one, as torch's one at a time (nesting
them is refused, as torch); ``dlpy.func.jvp`` opens its own, which do nest.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import weakref
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from dlpy import autograd_function as _functions
from dlpy.autograd_function import swap_call_sites
from dlpy.ops import ArgError
from dlpy.ops import views as _views
from dlpy.ops.arithmetic import Identity, cast
from dlpy.ops.rearrange import expand
from dlpy.tensor import (
    Op,
    Tensor,
    _as_tensors,
    _backpropagate_graph,
    _checked_graph_grads,
    enable_grad,
    is_floating_dtype,
)

_engine = importlib.import_module("dlpy.tensor")  # the module (dlpy.tensor is the function)

__all__ = ["UnpackedDualTensor", "dual_level", "enter_dual_level", "exit_dual_level",
           "make_dual", "unpack_dual"]

_tables: list[dict[int, tuple[weakref.ref, Tensor]]] = []  # per level: id -> (primal, tangent)
_public: list[int] = []  # the levels opened by enter_dual_level (torch's API: one at a time)
_visible = 0  # the levels the ops see: all, but only those below k while a level-k rule runs
_swap: contextlib.AbstractContextManager | None = None
# op class name -> how many times its rule ran / it took the double-vjp fallback (tests read it)
stats: dict[str, dict[str, int]] = {"rules": {}, "fallbacks": {}}


def _differentiable(dtype) -> bool:
    """Floating point or complex: the dtypes that carry tangents, as torch's."""
    return is_floating_dtype(dtype) or dtype.kind == "c"


class _NotATensorError(TypeError, AttributeError):
    """A primal or tangent that is not a Tensor: a TypeError, and torch's AttributeError (it
    calls ``is_floating_point()`` on it)."""


class UnpackedDualTensor(NamedTuple):
    """What ``unpack_dual`` returns: the primal and its tangent (None when it has none)."""

    primal: Tensor
    tangent: Tensor | None


# ----------------------------------------------------------------------------- levels
def _push() -> int:
    """A new level (its number, from 1); the dispatcher is swapped in with the first."""
    global _swap, _visible
    _tables.append({})
    _visible = len(_tables)
    if len(_tables) == 1:
        # order 3: outside vmap's dispatcher (2), so a rule sees one sample's tensors
        _swap = swap_call_sites(3, op_call=_dispatching, function_forward=_function_dispatching)
        _swap.__enter__()
        _engine._dual_in_place, _functions._dual_outputs = _following, _carry_outputs
    return len(_tables)


def _pop(level: int) -> None:
    global _swap, _visible
    if level != len(_tables):
        raise RuntimeError(f"exit_dual_level: level {level} is not the innermost active level "
                           f"({len(_tables)}); exit levels in the reverse order of entering them")
    _tables.pop()
    _visible = len(_tables)
    if not _tables:
        swap, _swap = _swap, None
        _engine._dual_in_place = _functions._dual_outputs = None
        swap.__exit__(None, None, None)


@contextlib.contextmanager
def _level() -> Iterator[int]:
    """An internal level (dlpy.func.jvp's): these nest."""
    level = _push()
    try:
        yield level
    finally:
        _pop(level)


def enter_dual_level() -> int:
    """Open a dual level and return its number, as torch's; only one at a time (torch: "Nested
    forward mode AD is not supported")."""
    if _public:
        raise RuntimeError("enter_dual_level: nested forward mode AD is not supported (as in "
                           "torch); exit the active level first, or nest dlpy.func.jvp")
    level = _push()
    _public.append(level)
    return level - 1  # (torch's numbers start at 0; dlpy's own, the ops' count, at 1)


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the level ``enter_dual_level`` opened (default: the active one); every tangent of
    it is dropped."""
    if not _public:
        raise RuntimeError("exit_dual_level: no dual level is active (enter_dual_level first)")
    if level is not None and level != _public[-1] - 1:
        raise ValueError(f"exit_dual_level: level {level!r} is not the active level "
                         f"{_public[-1] - 1}")
    _pop(_public.pop())


@contextlib.contextmanager
def dual_level() -> Iterator[int]:
    """``with dual_level():`` dual tensors exist within the block, as torch's."""
    level = enter_dual_level()
    try:
        yield level
    finally:
        exit_dual_level(level=level)


def active() -> bool:
    """Whether any dual level is visible to the ops now (cheap: the callers' fast path)."""
    return _visible > 0


def _which(name: str, level: int | None) -> int:
    if level is None:
        if not _tables:
            raise RuntimeError(f"{name}: no dual level is active; make dual tensors inside "
                               "`with forward_ad.dual_level():` (or after enter_dual_level())")
        return len(_tables)
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise TypeError(f"{name}: level must be an int, got {level!r}")
    if not 0 <= level < len(_tables):  # (torch's numbers, from 0: the ops' from 1)
        raise RuntimeError(f"{name}: level must be an active level (0 to {len(_tables) - 1}), "
                           f"got {level!r}")
    return int(level) + 1


# ----------------------------------------------------------------------------- dual tensors
def tangent_of(t, level: int) -> Tensor | None:
    """t's tangent at ``level`` (None if it has none)."""
    entry = _tables[level - 1].get(id(t))
    if entry is None or entry[0]() is not t:  # a dead tensor's id, reused
        return None
    return entry[1]


def _set_tangent(t: Tensor, tangent: Tensor, level: int) -> None:
    table, key = _tables[level - 1], id(t)

    def drop(ref, table=table, key=key):  # t died: forget its tangent
        if table.get(key, (None,))[0] is ref:
            del table[key]

    table[key] = (weakref.ref(t, drop), tangent)


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of ``tensor`` carrying ``tangent`` (same shape, floating or complex, cast to the
    primal's dtype) at ``level`` (the innermost active one by default), as torch's.
    Differentiable: gradients reach ``tensor`` when it requires them."""
    name = "make_dual"
    level = _which(name, level)
    for what, value in (("primal", tensor), ("tangent", tangent)):
        if not isinstance(value, Tensor):
            raise _NotATensorError(f"{name}: expected the {what} to be a dlpy Tensor, got "
                                   f"{type(value).__name__}")
        if not _differentiable(value.dtype):
            raise ValueError(f"{name}: expected the {what} to be floating point or complex, "
                             f"got {value.dtype}")
    if tangent.dtype.kind == "c" and tensor.dtype.kind != "c":  # (torch keeps it complex; the
        # cast to the primal's dtype below would drop its imaginary part)
        raise ValueError(f"{name}: a complex tangent for a real primal is not supported, got "
                         f"{tangent.dtype} for {tensor.dtype}")
    if tangent.shape != tensor.shape:
        raise ArgError(f"{name}: the tangent must have the primal's shape {tensor.shape}, "
                       f"got {tangent.shape}")
    if tangent.dtype != tensor.dtype:  # torch accepts it too; dlpy's tangent takes the primal's
        tangent = tangent.to(tensor.dtype)
    if tangent_of(tensor, level) is not None:
        raise RuntimeError(f"{name}: the primal already has a tangent at level {level}; "
                           "unpack_dual it first (as torch refuses it)")
    return _attached(tensor, _laid_out_as(name, tensor, tangent), level)


def _laid_out_as(name: str, primal: Tensor, tangent: Tensor) -> Tensor:
    """torch's tangent layout: one with other strides than the primal's is copied into a new
    one strided as the primal (a transposed primal gets a transposed tangent, a contiguous one
    a contiguous copy of a transposed or expanded tangent); an expanded primal's elements
    share memory, which the copy refuses (torch's RuntimeError)."""
    p, t = primal.data, tangent.data
    if not p.size or all(n <= 1 or a == b for n, a, b in zip(p.shape, p.strides, t.strides)):
        return tangent
    if any(n > 1 and stride == 0 for n, stride in zip(p.shape, p.strides)):
        raise RuntimeError(f"{name}: unsupported operation: more than one element of the "
                           "written-to tensor refers to a single memory location (the "
                           "primal is expanded and its tangent is laid out otherwise). Please "
                           "clone() the tensor before performing the operation.")
    steps = [abs(stride) // p.itemsize for stride in p.strides]
    count = 1 + sum((n - 1) * step for n, step in zip(p.shape, steps))
    laid = np.lib.stride_tricks.as_strided(np.zeros(count, p.dtype), p.shape,
                                           [step * p.itemsize for step in steps])
    return Tensor(laid).copy_(tangent)  # (recorded: a tangent requiring gradients stays so)


def _attached(tensor: Tensor, tangent: Tensor, level: int) -> Tensor:
    """A new tensor for ``tensor`` (a recorded identity: vmap wraps it, autograd passes through)
    with ``tangent`` at ``level``, and the tangents ``tensor`` has at the levels below."""
    global _visible
    saved, _visible = _visible, level - 1  # the identity carries the lower levels' tangents
    try:
        dual = Identity()(tensor)
    finally:
        _visible = saved
    _set_tangent(dual, tangent, level)
    return dual


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """(primal, tangent) of ``tensor`` at ``level``, as torch's: the primal a view without that
    tangent, the tangent None for a tensor that has none (or outside every level)."""
    if not _tables:  # outside every level anything unpacks to itself, as torch's
        return UnpackedDualTensor(tensor, None)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a dlpy Tensor, got {type(tensor).__name__}")
    level = _which("unpack_dual", level)
    tangent = tangent_of(tensor, level)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    global _visible
    saved, _visible = _visible, level - 1
    try:
        primal = Identity()(tensor)
    finally:
        _visible = saved
    return UnpackedDualTensor(primal, tangent)


def carry(source: Tensor, target: Tensor, convert=None) -> Tensor:
    """``target`` with the tangents ``source`` has at the visible levels (``convert``ed): for
    a transform that replaces a tensor by a new one of the same value (a fresh leaf, a
    constant, a vmap wrapper)."""
    for level in range(1, _visible + 1):
        tangent = tangent_of(source, level)
        if tangent is not None:
            _set_tangent(target, tangent if convert is None else convert(tangent), level)
    return target


def _carried_down(source: Tensor, target: Tensor) -> Tensor:
    """``carry`` of a tensor and of what it wraps: a vmap's batched tensor keeps the lower
    levels' tangents on its physical value (jacfwd(jacfwd(f)) lost them: zeros)."""
    carry(source, target)
    inner, into = getattr(source, "value", None), getattr(target, "value", None)
    if type(source).__name__ == "BatchedTensor" and isinstance(inner, Tensor) \
            and isinstance(into, Tensor):
        _carried_down(inner, into)
    return target


def _following(tensor: Tensor, compute, operands: tuple):
    """The in-place hook (``Tensor._in_place``): ``compute`` that also gives ``tensor`` the
    tangents of its new value (the op's JVP, as torch's forward AD; zeros where only the old
    value had one: ``zero_``, ``copy_`` of a constant), or None when no visible level has a
    tangent to follow. Tangents are replaced, not written into: the tangent given to make_dual
    is left as it was (torch writes into it). A view's change reaches its base's tangent (the
    base's with the view's elements replaced, as the values); the base's other views keep
    theirs (torch's see the change)."""
    if not _visible or not _differentiable(tensor.dtype):
        return None
    levels = [level for level in range(1, _visible + 1) if any(
        isinstance(x, Tensor) and tangent_of(x, level) is not None for x in (tensor, *operands))]
    if not levels:
        return None

    base = tensor._base
    where = None if base is None else _views.positions(base.data, tensor.data)

    def tracked(x, *args):
        if x is not tensor:  # rebased: x is the stand-in holding the old value
            carry(tensor, x)
        value = compute(x, *args)
        for level in levels:
            tangent = tangent_of(value, level)
            if tangent is None:
                tangent = zeros_like(value)
            if tangent.dtype != tensor.dtype:
                tangent = cast(tangent, tensor.dtype)
            _set_tangent(tensor, tangent, level)
            if where is not None:  # the base's tangent takes the view's at its elements
                old = tangent_of(base, level)
                _set_tangent(base, _views.CopySlices(where)(
                    zeros_like(base) if old is None else old, tangent), level)
        return value

    return tracked


# ----------------------------------------------------------------------------- dispatch
def _dispatching(inner):
    def dual_call(op, *inputs):
        if not _visible:
            return inner(op, *inputs)
        return _call(inner, op, inputs, _visible)

    return dual_call


def _call(inner, op: Op, inputs: tuple, level: int):
    """op(*inputs) with the tangents of the levels up to ``level``: the levels below first (the
    primal carries them), then this level's rule with only the levels below visible."""
    global _visible
    tangents = None
    table = _tables[level - 1]
    for i, x in enumerate(inputs):
        entry = table.get(id(x))
        if entry is not None and entry[0]() is x:
            if tangents is None:
                tangents = [None] * len(inputs)
            tangents[i] = entry[1]
    if tangents is None:
        return _call(inner, op, inputs, level - 1) if level > 1 else inner(op, *inputs)
    unsupported = getattr(op, "forward_ad_unsupported", None)
    if unsupported is not None:  # torch's kernels without a forward derivative
        raise NotImplementedError(f"Trying to use forward AD with {unsupported} that does not "
                                  "support it because it has not been implemented yet.")
    settings = settings_of(op)  # before the call: vmap's rules change an op's axes
    out = _call(inner, op, inputs, level - 1) if level > 1 else inner(op, *inputs)
    if not isinstance(out, Tensor) or not _differentiable(out.dtype):
        return out  # integer results carry no tangent
    from dlpy.forward_ad_rules import RULES

    rule = RULES.get(type(op), double_vjp)
    counts = stats["rules"]
    counts[type(op).__name__] = counts.get(type(op).__name__, 0) + 1
    saved, _visible = _visible, level - 1
    try:
        tangent = rule(op, settings, inputs, tangents, out)
        if tangent is None:
            tangent = zeros_like(out)
        elif not isinstance(tangent, Tensor):
            tangent = Tensor(np.asarray(tangent, dtype=out.dtype))
        if tangent.shape != out.shape:
            raise RuntimeError(f"forward_ad: the JVP rule of {type(op).__name__} gave a "
                               f"tangent of shape {tangent.shape} for an output of shape "
                               f"{out.shape}")
        if tangent.dtype != out.dtype:
            tangent = cast(tangent, out.dtype)
        if tangent.requires_grad and not _any_requires_grad(inputs, tangents):
            tangent = _carried_down(tangent, tangent.detach())  # it hung on a rule's stand-in
            # leaves
    finally:
        _visible = saved
    _set_tangent(out, tangent, level)
    return out


def _any_requires_grad(inputs: tuple, tangents: list) -> bool:
    return any(isinstance(x, Tensor) and x.requires_grad for x in inputs) or any(
        t is not None and t.requires_grad for t in tangents)


def settings_of(op: Op) -> dict:
    """The settings ``__init__`` gave ``op`` (axis, heads...), not what forward saved."""
    return dict(itertools.islice(op.__dict__.items(), op._num_settings))


def fresh(op: Op, settings: dict) -> Op:
    """A new op of op's class with these settings, to apply to tangents."""
    new = type(op).__new__(type(op))
    new.__dict__.update(settings)
    return new


def zeros_like(x) -> Tensor:
    """A constant zero tangent of x's (one sample's) shape and dtype."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(np.zeros(data.shape, dtype=data.dtype))


def batched(inputs) -> bool:
    """Whether an input is a vmap's batched tensor (then op's saved state is the batch's)."""
    from dlpy.func_batching import BatchedTensor

    return any(type(x) is BatchedTensor for x in inputs)


def stand_ins_for(inputs: tuple, tangents: list) -> tuple:
    """The inputs as Tensors, those with a tangent replaced by stand-ins that require gradients
    (backward_graph skips the inputs that do not): a recorded identity of one that requires
    them (the rule's result then depends on it: reverse over forward), else a fresh leaf;
    both carry the lower levels' tangents (forward over forward)."""
    tensors = _as_tensors(inputs)[0]
    with enable_grad():
        return tuple(x if t is None else Identity()(x) if x.requires_grad
                     else carry(x, Tensor(x.data, requires_grad=True))
                     for x, t in zip(tensors, tangents))


def double_vjp(op: Op, settings: dict, inputs: tuple, tangents: list, out: Tensor) -> Tensor:
    """The fallback JVP: J t = d/du <J^T u, t>, J^T u from the op's own ``backward_graph`` (u a
    zero leaf), differentiated with respect to u with the tangents as cotangents."""
    if batched(inputs):
        from dlpy.func_batching import Unbatchable

        raise Unbatchable(f"forward_ad: {type(op).__name__} has no JVP rule for a batched "
                          "input")
    name = type(op).__name__
    stats["fallbacks"][name] = stats["fallbacks"].get(name, 0) + 1
    stand_ins = stand_ins_for(inputs, tangents)
    had = op.__dict__.get("inputs")
    op.inputs = stand_ins
    u = Tensor(np.zeros(out.shape, dtype=out.dtype), requires_grad=True)
    try:
        with enable_grad():
            grads = _checked_graph_grads(op, u, out)  # J^T u per input, recorded
    except NotImplementedError:
        raise NotImplementedError(f"forward_ad: {name} has no JVP rule (forward_ad_rules) and "
                                  "no backward_graph to fall back on") from None
    finally:
        if had is None:
            del op.inputs
        else:
            op.inputs = had
    roots = [(g, t) for g, t in zip(grads, tangents)
             if g is not None and t is not None and g.requires_grad]
    if not roots:
        return zeros_like(out)
    captured = _backpropagate_graph([g for g, _ in roots], [t for _, t in roots], {id(u)})
    return captured.get(id(u))


# ----------------------------------------------------------------------------- Functions
def _function_dispatching(inner):
    """The function_forward site: an ``autograd.Function``'s forward with its jvp."""
    def dual_forward(cls, ctx, args, kwargs):
        if not _visible:
            return inner(cls, ctx, args, kwargs)
        return _function_call(inner, cls, ctx, args, kwargs)

    return dual_forward


def _function_call(inner, cls, ctx, args: tuple, kwargs: dict):
    """forward at the primals (no level visible, as torch's), then each visible level's
    tangents of the outputs: the Function's ``jvp``, else the double-vjp through its
    ``backward``. ``apply`` then carries them to the tensors it returns."""
    global _visible
    levels = []
    for level in range(1, _visible + 1):
        tangents = [tangent_of(a, level) if isinstance(a, Tensor) else None for a in args]
        if any(t is not None for t in tangents):
            levels.append((level, tangents))
    if not levels:
        return inner(cls, ctx, args, kwargs)
    saved, _visible = _visible, 0
    try:
        result = inner(cls, ctx, args, kwargs)
    finally:
        _visible = saved
    single = not isinstance(result, tuple)
    returned = [result] if single else list(result)
    # new tensors for arrays, and for inputs returned as they are (their tangents stay theirs;
    # not an input changed in place, mark_dirty: that one is the output, tangent and all)
    outputs = [Tensor(o) if isinstance(o, np.ndarray) else Tensor(o.data)
               if isinstance(o, Tensor) and id(o) not in ctx._dirty
               and any(o is a for a in args) else o for o in returned]
    ctx._non_differentiable.update(id(o) for r, o in zip(returned, outputs)
                                   if id(r) in ctx._non_differentiable)
    for level, tangents in levels:
        _visible = level - 1
        try:
            if cls.jvp is _functions.Function.jvp:
                out_tangents = _function_double_vjp(cls, ctx, args, tangents, outputs)
            else:
                out_tangents = _function_jvp(cls, ctx, args, tangents, outputs)
        finally:
            _visible = saved
        for r, o, t in zip(returned, outputs, out_tangents):
            if t is not None and isinstance(o, Tensor) and _differentiable(o.dtype) \
                    and id(r) not in ctx._non_differentiable:
                if t.requires_grad and not _any_requires_grad(args, tangents):
                    t = carry(t, t.detach())  # it hung on the zero leaves u
                _set_tangent(o, t if t.dtype == o.dtype else cast(t, o.dtype), level)
    return outputs[0] if single else tuple(outputs)


def _function_jvp(cls, ctx, args: tuple, tangents: list, outputs: list) -> list:
    """``cls.jvp(ctx, *tangents)`` (zeros for a Tensor argument without one, as torch's), with
    the tensors of ``save_for_forward`` as ``ctx.saved_tensors``; one tangent per output."""
    name = cls.__name__
    given = [zeros_like(a) if t is None and isinstance(a, Tensor) and ctx.materialize_grads
             else t for a, t in zip(args, tangents)]
    kept = ctx._saved
    ctx._saved = ctx.__dict__.get("_saved_forward", ())
    try:
        result = cls.jvp(ctx, *given)
    finally:
        ctx._saved = kept
    result = list(result) if isinstance(result, tuple) else [result]
    if len(result) != len(outputs):
        raise RuntimeError(f"{name}.jvp returned {len(result)} tangent(s) for {len(outputs)} "
                           "output(s) of forward; return one per output (None for none)")
    checked = []
    for k, (o, t) in enumerate(zip(outputs, result)):
        if t is not None and not isinstance(t, Tensor):
            if not isinstance(t, (np.ndarray, np.generic, int, float)) or isinstance(t, bool):
                raise TypeError(f"{name}.jvp: the tangent of output {k} is a "
                                f"{type(t).__name__}; return a Tensor, a numpy array or None")
            t = Tensor(np.asarray(t, dtype=o.dtype))
        if t is not None and isinstance(o, Tensor) and t.shape != o.shape:
            raise RuntimeError(f"{name}.jvp: the tangent of output {k} has shape {t.shape}, "
                               f"the output has shape {o.shape}")
        checked.append(t)
    return checked


def _function_double_vjp(cls, ctx, args: tuple, tangents: list, outputs: list) -> list:
    """A Function without jvp: J t = d/du <J^T u, t>, J^T u from its ``backward`` run with
    recording on at zero leaves u (one per float output), as ``double_vjp`` for an op."""
    name = cls.__name__
    if getattr(cls.backward, "once_differentiable", False):
        raise NotImplementedError(f"forward_ad: {name} has no jvp and its backward is "
                                  "once_differentiable; define jvp(ctx, *tangents)")
    us = [Tensor(np.zeros(o.shape, o.dtype), requires_grad=True)
          if isinstance(o, Tensor) and _differentiable(o.dtype) else None for o in outputs]
    with enable_grad():
        grads = cls.backward(ctx, *[u if u is not None or not isinstance(o, Tensor)
                                    else zeros_like(o) for u, o in zip(us, outputs)])
    grads = grads if isinstance(grads, tuple) else (grads,)
    roots, cotangents = [], []
    for i, (g, t) in enumerate(zip(grads, tangents)):
        if g is None or t is None:
            continue
        if not isinstance(g, Tensor) or not g.requires_grad:
            raise NotImplementedError(
                f"forward_ad: {name} has no jvp, and its backward's gradient of input {i} was "
                "not computed from the output gradient with dlpy ops, so it cannot be "
                "differentiated; define jvp(ctx, *tangents)")
        roots.append(g)
        cotangents.append(t if t.shape == g.shape else expand(t, g.shape))
    captured = _backpropagate_graph(roots, cotangents, {id(u) for u in us if u is not None}) \
        if roots else {}
    return [None if u is None else captured.get(id(u), zeros_like(u)) for u in us]


def _carry_outputs(outputs: list, returned: list) -> None:
    """apply's hook: the tensors it returns carry the tangents of forward's outputs."""
    for o, r in zip(outputs, returned):
        if r is not o and isinstance(o, Tensor) and isinstance(r, Tensor):
            carry(o, r)
