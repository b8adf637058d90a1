"""Custom differentiable functions, as ``torch.autograd.Function`` (``dlpy.autograd.Function``).

    class Exp(dlpy.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):
            (y,) = ctx.saved_tensors
            return grad_output * y

    y = Exp.apply(x)

``forward`` runs under ``no_grad`` and gets the arguments as they were passed (Tensors stay
Tensors); it returns a Tensor or a tuple (numpy arrays there become Tensors; other values are
passed through and never differentiated). ``backward`` gets one gradient per output as a
Tensor without gradient (zeros for an output that got none, or None after
``ctx.set_materialize_grads(False)``) and returns one gradient per input of ``forward``: a
Tensor, a numpy array, a number or None. It runs under ``no_grad``, except under
``autograd.grad(create_graph=True)``: then the gradients it gets are recorded Tensors, the
saved tensors are the recorded inputs and outputs, and it runs with recording on, so a
backward written with dlpy ops can be differentiated again (a ``once_differentiable`` one
cannot: differentiating its gradients raises, as torch's).

An input that forward changes in place and names in ``ctx.mark_dirty`` is returned itself,
with the Function as its history (through the engine's in-place change, so a dirty view
changes its base). The grad_fn of an output is the ctx's stand-in, as torch's
(``y.grad_fn.saved_tensors``, ``y.grad_fn.k``); a backward frees only the saved tensors.

Each call becomes one op of the engine (``<Name>Backward``, drawn as ``<Name>``). Several
differentiable outputs are packed into one flat array that the op produces, and each output
is a slice of it (``OutputOf``), whose backward is a ``SliceGrad``: the engine adds the
outputs' gradients into one array and the op splits it again, so the engine itself stays
one-output.

``tracing`` lets ``dlpy.utils.checkpoint`` see (and replace) the tensors every op is called
with while a function runs; it is off, and costs nothing, otherwise. It and the profiler
change the engine's call sites (``Op.__call__``, a Function's forward, the engine's backward
calls) only through ``swap_call_sites``, which composes them in a fixed order whatever order
they start and stop in.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
from collections.abc import Callable, Iterator

import numpy as np

from dlpy.ops import ArgTypeAssertionError
from dlpy.ops.arithmetic import cast
from dlpy.ops.multi_output import group
from dlpy.ops.shape import concat
from dlpy.slice_grad import SliceGrad
from dlpy.tensor import (
    Op,
    Tensor,
    enable_grad,
    is_floating_dtype,
    is_grad_enabled,
    no_grad,
    sum_to_shape,
)

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable",
           "saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks"]

_engine = importlib.import_module("dlpy.tensor")  # the module (dlpy.tensor is the function)


# ---------------------------------------------------------------------------- call sites
def _run_forward(cls, ctx, args: tuple, kwargs: dict):
    """A Function's forward as ``apply`` runs it (under no_grad), then ctx's marks checked and
    its saved tensors taken (``FunctionCtx._take_marks``): what ``function_forward`` calls,
    unless a layer is swapped in (the profiler's: one event per call)."""
    if cls.setup_context is Function.setup_context:
        result = cls.forward(ctx, *args, **kwargs)
    else:
        result = cls.forward(*args, **kwargs)
        cls.setup_context(ctx, args, result)
    ctx._take_marks(cls.__name__)
    return result


# The engine's call sites, as they are when nothing is swapped in: Op.__call__ (every op's
# forward), a Function's forward in apply, and the engine's calls of op.backward and of
# op.backward_graph (create_graph).
PLAIN_CALL_SITES: dict[str, Callable] = {
    "op_call": Op.__call__, "function_forward": _run_forward,
    "checked_grads": _engine._checked_grads, "checked_graph_grads": _engine._checked_graph_grads,
    # (the order of a pass, the sum of a tensor's two gradients, a leaf's accumulation:
    # swapped while a TorchDispatchMode is entered, which is shown them)
    "schedule": _engine._schedule, "sum": _engine._sum,
    "accumulate": _engine._accumulate,
}
_function_forward = _run_forward  # what apply calls: the function_forward site
_layers: list[tuple[int, dict[str, Callable]]] = []  # active swaps: (order, site -> wrap)
_dual_outputs = None  # forward_ad's, while a dual level is open: outputs' tangents to plain


def _put_call_sites() -> None:
    """Each site = its plain function wrapped by the active layers' wraps, lowest order
    innermost (the same composition whatever order the layers came in)."""
    global _function_forward
    ordered = sorted(_layers, key=lambda layer: layer[0])
    for site, call in PLAIN_CALL_SITES.items():
        for _, wraps in ordered:
            if site in wraps:
                call = wraps[site](call)
        if site == "op_call":
            Op.__call__ = call
        elif site == "function_forward":
            _function_forward = call
        else:
            setattr(_engine, f"_{site}", call)


class swap_call_sites:  # noqa: N801 - used as a function, like contextlib's
    """Within this block the call sites named (``op_call``, ``function_forward``,
    ``checked_grads``, ``checked_graph_grads``) run ``wrap(inner)``, a function that calls
    ``inner`` (the plain call, or a lower-order layer's). Layers nest by ``order`` (the
    profiler's timing 0, tracing 1: traced inputs reach the timed call), not by when they
    start; outside every block the plain functions are in place, so the engine's hot path is
    untouched. (A class, not a generator: a block entered and never left keeps its layer even
    when the object is collected, never restoring the sites at some later collection.)"""

    def __init__(self, order: int, **wraps: Callable[[Callable], Callable]) -> None:
        unknown = set(wraps) - set(PLAIN_CALL_SITES)
        if unknown:
            raise ValueError(f"swap_call_sites: unknown call sites {sorted(unknown)}; the "
                             f"sites are {list(PLAIN_CALL_SITES)}")
        self._layer = (order, wraps)

    def __enter__(self) -> None:
        _layers.append(self._layer)
        _put_call_sites()

    def __exit__(self, *exc_info) -> None:
        _layers.remove(next(x for x in _layers if x is self._layer))
        _put_call_sites()


# ---------------------------------------------------------------------------- tracing
_tracers: list[Callable[[tuple, tuple], tuple]] = []


def trace_inputs(inputs: tuple) -> tuple:
    """The inputs an op is called with, after every active tracer has seen them, in order:
    ``tracer(raw, inputs)`` gets what the caller passed and what the tracers before it made
    of it, and returns the inputs to use."""
    raw = inputs
    for tracer in _tracers:
        inputs = tracer(raw, inputs)
    return inputs


def _traced(inner: Callable) -> Callable:
    def traced_call(self, *inputs):
        return inner(self, *trace_inputs(inputs))

    return traced_call


@contextlib.contextmanager
def tracing(tracer: Callable[[tuple, tuple], tuple]) -> Iterator[None]:
    """Within this block ``tracer(raw, inputs) -> inputs`` sees the inputs of every op called
    (and of every ``Function.apply``) before the op runs, and may replace them (see
    ``trace_inputs``). ``Op.__call__`` is swapped for a traced one only while a tracer is
    active (``swap_call_sites``), so the engine's hot path is untouched otherwise."""
    _tracers.append(tracer)
    try:
        if len(_tracers) == 1:
            with swap_call_sites(1, op_call=_traced):
                yield
        else:  # an enclosing block has swapped it in
            yield
    finally:
        _tracers.remove(tracer)


# ---------------------------------------------------------------------------- outputs
class OutputOf(Op):
    """Output ``index`` of a multi-output op, read from the flat array the op produced;
    backward hands its gradient back as a ``SliceGrad`` and tells the op it got one. A
    complex packed array holds the real outputs as its real parts."""

    complex_ok = True  # slices and casts: linear with real coefficients
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, owner: Op, index: int, start: int, shape: tuple, dtype, size: int,
                 own: np.ndarray | None = None):
        self.owner, self.index, self.start = owner, index, start
        self.out_shape, self.out_dtype, self.size = shape, np.dtype(dtype), size
        self.own = own  # memory of the output's own (in forward's layout), else a view

    def forward(self, packed):
        self.packed_dtype = packed.dtype
        stop = self.start + int(np.prod(self.out_shape))
        part = packed[self.start:stop].reshape(self.out_shape)
        if packed.dtype.kind == "c" and self.out_dtype.kind != "c":
            part = part.real
        if self.own is not None:
            out, self.own = self.own, None
            out[...] = part
            return out
        return part.astype(self.out_dtype, copy=False)

    def backward(self, grad_output):
        if self.owner.freed:  # a second backward through the owner: torch's error, not ours
            raise _engine._freed_error(self.owner)
        self.owner.reached.add(self.index)
        values = grad_output.reshape(-1).astype(self.packed_dtype, copy=False)
        index = slice(self.start, self.start + values.size)
        return (SliceGrad(index, values, (self.size,), self.packed_dtype),)

    def backward_graph(self, grad_output, output):
        if self.owner.freed:
            raise _engine._freed_error(self.owner)
        self.owner.reached.add(self.index)
        values = grad_output.reshape(-1)
        if values.dtype != self.packed_dtype:
            values = cast(values, self.packed_dtype)
        stop = self.start + values.shape[0]
        pieces = [Tensor(np.zeros(n, dtype=self.packed_dtype)) for n in (self.start,
                                                                        self.size - stop)]
        return (concat([pieces[0], values, pieces[1]]),)

    def describe(self) -> str:
        return f"{self.owner.describe()}[{self.index}]"

    def name(self) -> str:
        """The owner's name, as torch's outputs of one node share it ("SinCosBackward")."""
        return self.owner.name()

    def free(self) -> None:
        """Nothing to drop (it keeps a dtype): a second backward is the owner's to refuse."""


def record_outputs(op: Op, inputs: tuple[Tensor, ...], arrays: list[np.ndarray],
                   viewed: frozenset = frozenset()) -> list[Tensor]:
    """Make ``op`` (already holding its settings and saved state) the producer of ``arrays``:
    one output is the op's own; several are packed into one flat array (in their common
    dtype) and read back by one ``OutputOf`` each: a view of it for the outputs numbered in
    ``viewed`` (those backward reads: a change in place bumps the op's output, which its
    backward refuses, as torch's), else memory of its own in the layout forward gave it (a
    change in place is recorded as any tensor's). Sets ``op.inputs``, ``op.layout`` (where
    each output lies in the packed array, None for one output) and ``op.reached``."""
    op.inputs, op._seq = inputs, next(_engine._sequence)
    if _engine._detect_anomaly:
        op._created_at = _engine._caller()
    op.reached = set()
    if len(arrays) == 1:
        op.layout = None
        return [_recorded(arrays[0], op)]
    dtype = np.result_type(*[a.dtype for a in arrays])
    packed = np.concatenate([a.reshape(-1).astype(dtype, copy=False) for a in arrays])
    hidden = _recorded(packed, op)
    hidden.name = "packed outputs"  # a label for graph drawings
    op.layout, outputs, start = [], [], 0
    for k, a in enumerate(arrays):
        op.layout.append((start, a.shape, a.dtype))
        own = None if k in viewed else np.empty_like(a)
        outputs.append(OutputOf(op, k, start, a.shape, a.dtype, packed.size, own)(hidden))
        start += a.size
    # the outputs show op as their grad_fn, each with its output_nr, as torch's
    group(hidden, outputs, [((slice(s, s + math.prod(shape)),), shape)
                            for s, shape, _ in op.layout])
    return outputs


def _recorded(data: np.ndarray, op: Op) -> Tensor:
    out = Tensor(data)
    out.op, out.requires_grad = op, True
    out._tick = _engine._clock  # so backward checks its arrays' versions, as Op.__call__
    return out


def split_grads(op: Op, grad_output):
    """The gradient of each output recorded by ``record_outputs`` (None: it got none): slices
    of the packed array's gradient, a numpy array, or a Tensor in the create_graph pass (then
    the slices and casts are recorded)."""
    if op.layout is None:
        return [grad_output]
    recorded = isinstance(grad_output, Tensor)
    grads = []
    for k, (start, shape, dtype) in enumerate(op.layout):
        if k not in op.reached:
            grads.append(None)
            continue
        part = grad_output[start:start + int(np.prod(shape))].reshape(shape)
        if part.dtype != dtype:
            if part.dtype.kind == "c" and dtype.kind != "c":
                part = part.real
            part = cast(part, dtype) if recorded else part.astype(dtype)
        grads.append(part)
    op.reached.clear()
    return grads


# ---------------------------------------------------------------------------- Function
def _checked_saved(name: str, tensors: tuple, error: type = TypeError) -> tuple:
    for i, t in enumerate(tensors):
        if t is not None and not isinstance(t, Tensor):
            raise error(f"{name}: can save only Tensors or None, but argument {i} is a "
                            f"{type(t).__name__} (keep other values as attributes of ctx: "
                            "ctx.k = k)")
    return tensors


# ---------------------------------------------------------------------------- saved tensors hooks
_saved_hooks: list[tuple[Callable, Callable]] = []  # (pack, unpack), innermost last
_hooks_disabled: list[str] = []  # disable_saved_tensors_hooks' messages, innermost last


def _unpacked(tensor):
    """What an unpack hook gave, which must be a Tensor (TypeError, as torch's)."""
    if not isinstance(tensor, Tensor):
        raise TypeError("Output of saved tensor unpack_hook expected to be a Tensor but got "
                        f"result of type {type(tensor).__name__}")
    return tensor


class saved_tensors_hooks:  # noqa: N801 - torch's name
    """torch.autograd.graph.saved_tensors_hooks: within the block, ``pack_hook(tensor)`` is
    called for each tensor a custom Function saves (``ctx.save_for_backward``) and
    ``unpack_hook(packed)`` gives it back when backward reads ``ctx.saved_tensors`` (it must
    give a Tensor: TypeError). The built-in ops pack what they save for backward too, once
    each, in torch's order, and their backward (or ``grad_fn._saved_*``) computes with what
    unpack gives (dlpy.tensor._pack_saved). As torch's, a tensor saved through the hooks is
    not checked for in-place changes. ``with ... as h`` gives None, as torch's."""

    def __init__(self, pack_hook: Callable, unpack_hook: Callable):
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self) -> None:
        if _hooks_disabled:
            raise RuntimeError(_hooks_disabled[-1])
        for hook in (self.pack_hook, self.unpack_hook):
            if not callable(hook):  # torch's TypeError, on entering
                raise TypeError(f"saved_tensors_hooks: the pack and unpack hooks must be "
                                f"callable, got {type(hook).__name__}")
        _saved_hooks.append((self.pack_hook, self.unpack_hook))
        _engine._pack_hooks = _saved_hooks[-1]  # the built-in ops pack with them (Op.__call__)

    def __exit__(self, *exc) -> None:
        _saved_hooks.pop()
        _engine._pack_hooks = _saved_hooks[-1] if _saved_hooks else None


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 - torch's name
    """torch.autograd.graph.save_on_cpu: saved tensors go to the CPU, where dlpy's already
    are. As torch's hooks: pack gives ``(device, tensor.cpu())`` (the tensor itself here; a
    copy with pin_memory=True), unpack ``tensor.to(device)``."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        def pack_to_cpu(tensor: Tensor) -> tuple:
            return (tensor.device, tensor.clone() if pin_memory else tensor.cpu())

        def unpack_from_cpu(packed: tuple) -> Tensor:
            device, tensor = packed
            return tensor.to(device)

        super().__init__(pack_to_cpu, unpack_from_cpu)


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message: str) -> Iterator[None]:
    """Within the block, entering ``saved_tensors_hooks`` raises RuntimeError(error_message);
    entering it while such hooks are on raises it at once, as torch's. The message must be a
    str (TypeError, as torch's)."""
    if not isinstance(error_message, str):
        raise TypeError(f"disable_saved_tensors_hooks: error_message must be a str, got "
                        f"{type(error_message).__name__}")
    if _saved_hooks:
        raise RuntimeError(error_message)
    _hooks_disabled.append(error_message)
    try:
        yield
    finally:
        _hooks_disabled.pop()


class FunctionCtx:
    """What ``forward`` and ``backward`` share: saved tensors, flags and any attribute you
    set (``ctx.k = 3``).

    As torch's, the calls in forward only note what they are given (``to_save``,
    ``dirty_tensors``, ``non_differentiable``); ``apply`` checks them once forward returns
    (``_take_marks``), so ``saved_tensors`` is empty within forward, and a non-Tensor saved
    where nothing is recorded (no_grad, no input requiring grad) is never looked at. A
    ``FunctionCtx()`` made by hand (not by apply) has neither ``needs_input_grad`` nor
    ``saved_tensors``, as torch's."""

    _dirty: set | tuple = ()  # ids of the inputs mark_dirty named
    _records = True  # False where apply records no op (no_grad, no input requiring grad)
    _bare = False  # made by hand, not by apply

    def __init__(self, needs_input_grad: tuple[bool, ...] | None = None):
        self.materialize_grads = True
        self._non_differentiable: set[int] = set()
        if needs_input_grad is None:
            self._bare, self._records = True, False
            return
        self.needs_input_grad = needs_input_grad  # one per input of forward, as torch
        self._saved: tuple | None = ()

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (or None) for backward; ``saved_tensors`` gives them back (checked,
        and packed by saved_tensors_hooks, once forward returns)."""
        self.to_save = tensors

    def save_for_forward(self, *tensors) -> None:
        """Keep tensors (or None) for ``jvp`` (forward mode), where ``saved_tensors`` gives
        them back, as torch's (which asserts they are Tensors)."""
        self._saved_forward = _checked_saved("save_for_forward", tensors, ArgTypeAssertionError)

    @property
    def saved_tensors(self) -> tuple:
        if self._bare:
            raise AttributeError("'FunctionCtx' object has no attribute 'saved_tensors' (a "
                                 "ctx made by hand, not by Function.apply)")
        if self._saved is None:
            raise RuntimeError(f"saved_tensors: the graph through {self._freed_by} was already "
                               "freed by an earlier backward(); pass retain_graph=True to the "
                               "first call to go twice")
        packed = self.__dict__.get("_packed")
        if packed is not None and packed[0] is self._saved:  # (not create_graph's stand-ins)
            return tuple(None if t is None else _unpacked(packed[1](p))
                         for t, p in zip(packed[0], packed[2]))
        _check_saved_versions("FunctionCtx", self)  # (torch's check when unpacked)
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs get no gradient (an index, a mask); backward still receives zeros
        (or None) for them."""
        self.non_differentiable = tensors
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward gets None, not zeros, for an output that got no gradient. Only a
        bool, as torch's (a hand-made ctx takes anything)."""
        if not isinstance(value, bool) and not self._bare:
            raise TypeError(f"set_materialize_grads expects a bool, got "
                            f"{type(value).__name__}")
        self.materialize_grads = value if self._bare else bool(value)

    def mark_dirty(self, *tensors) -> None:
        """These inputs were changed in place by forward, which returns them: they take the
        Function's op as their history (torch's in-place custom functions)."""
        self.dirty_tensors = tensors
        self._dirty = {id(t) for t in tensors}

    def _take_marks(self, name: str) -> None:
        """After forward: refuse non-Tensors given to mark_dirty and mark_non_differentiable
        (RuntimeError, as torch's, recorded or not; numpy arrays, which forward may return,
        pass), and, where the call is recorded, check
        what save_for_backward kept (TypeError) and pack it with the saved_tensors_hooks on;
        then ``saved_tensors`` gives it."""
        for i, t in enumerate(self.__dict__.get("dirty_tensors", ())):
            if not isinstance(t, (Tensor, np.ndarray)):
                raise RuntimeError(f"{name}: mark_dirty can only accept variables, but argument "
                                   f"{i} is of type {type(t).__name__}")
        for t in self.__dict__.get("non_differentiable", ()):
            if not isinstance(t, (Tensor, np.ndarray)):
                raise RuntimeError(f"{name}: mark_non_differentiable only accepts variable "
                                   f"arguments, but got {type(t).__name__}")
        tensors = self.__dict__.get("to_save")
        if tensors is None:
            return
        if not self._records:  # unchecked, as torch's (read only by forward_ad's fallback)
            self._saved = tensors
            return
        self._saved = _checked_saved("save_for_backward", tensors)
        if _saved_hooks:  # packed now, unpacked when read (saved_tensors_hooks)
            pack, unpack = _saved_hooks[-1]
            self._packed = (tensors, unpack, [None if t is None else pack(t) for t in tensors])


class BackwardCFunction(Op):
    """One call of a Function in the graph; a subclass named ``<Name>Backward`` per Function
    (torch's name for the class of a custom Function's grad_fn)."""

    function: type[Function]

    def __init__(self, argument_kinds: tuple[str, ...], outputs: tuple):
        self.argument_kinds = argument_kinds  # per argument of forward: a type name
        self.outputs = outputs  # per output of forward: (differentiable?, shape, dtype) or None

    def describe(self) -> str:
        return self.function.__name__

    def free(self) -> None:
        """Drop only the saved tensors, as torch: a backward that reads none can run again,
        and ctx's attributes stay readable."""
        ctx = self.__dict__.get("ctx")
        if ctx is not None and ctx._saved:
            ctx._saved, ctx._freed_by, ctx._packed = None, type(self).__name__, None

    def __getattr__(self, name: str):
        # torch's grad_fn of a Function is its ctx: y.grad_fn.saved_tensors, y.grad_fn.k
        ctx = self.__dict__.get("ctx")
        if ctx is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name == "saved_tensors" and ctx._saved:
            _check_saved_versions(type(self).__name__, ctx)
        return getattr(ctx, name)

    def backward(self, grad_output):
        return self._gradients(split_grads(self, grad_output))

    def apply(self, *grad_outputs):
        """The Function's backward called on these gradients, its result as it returns it
        (unchecked), as torch's ``grad_fn.apply``."""
        return self._user_backward()(self.ctx, *grad_outputs)

    @classmethod
    def _user_backward(cls) -> Callable:
        """The Function's backward, or its vjp (torch's other name) where that is defined."""
        function = cls.function
        backward, vjp = function.backward, function.vjp
        if vjp is Function.vjp or vjp is backward:
            return backward
        if backward is not Function.backward:
            raise RuntimeError(f"{function.__name__}: implementing both 'backward' and 'vjp' is "
                               "not allowed; define only one of them")
        return vjp

    def backward_graph(self, grad_output, output):
        """backward run with recording on (create_graph), so a backward written with dlpy ops
        is differentiable, as torch's; the saved outputs stand for ``output`` (or its parts),
        so the gradient's graph reaches the inputs through them too."""
        return self._gradients(split_grads(self, grad_output), output)

    def _saved_in_graph(self, output: Tensor) -> tuple:
        """The saved tensors with the saved outputs read from the recorded ``output``; each
        part of a packed output is read by an ``OutputOf`` (as the Function's own outputs),
        so that a gradient through it reaches this op as that output's (torch's double
        backward through an intermediate forward returned and saved: Sinh's exp(x))."""
        saved = list(self.ctx._saved)
        for i, k in self.saved_outputs.items():
            if self.layout is None:
                saved[i] = output
            else:
                start, shape, dtype = self.layout[k]
                size = int(output.shape[0])
                saved[i] = OutputOf(self, k, start, shape, dtype, size)(output)
        return tuple(saved)

    def _gradients(self, split: list, output: Tensor | None = None) -> tuple:
        """Call the Function's backward with the outputs' gradients ``split`` (arrays, or
        Tensors with ``output`` under create_graph) and check what it returns."""
        name = self.function.__name__
        ctx, graph = self.ctx, output is not None
        recorded = iter(split)
        grads = []
        for entry in self.outputs:
            grad = next(recorded) if entry is not None and entry[0] else None
            if grad is None and entry is not None and ctx.materialize_grads:
                grad = np.zeros(entry[1], dtype=entry[2])
            grads.append(grad if grad is None or isinstance(grad, Tensor) else Tensor(grad))
        user_backward = self._user_backward()
        once = getattr(user_backward, "once_differentiable", False)
        # torch wraps a once_differentiable backward's results in DelayedError only when an
        # incoming gradient requires grad; otherwise they are plain values
        delayed = graph and once and any(isinstance(g, Tensor) and g.requires_grad
                                         for g in grads)
        if graph and not once:
            kept = ctx._saved
            if kept is not None:  # None: freed, and saved_tensors says so
                ctx._saved = self._saved_in_graph(output)
            try:
                with enable_grad():
                    result = user_backward(ctx, *grads)
            finally:
                ctx._saved = kept
        else:
            with no_grad():
                result = user_backward(ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        expected = len(self.argument_kinds)
        if len(result) > expected and all(g is None for g in result[expected:]):
            result = result[:expected]  # trailing Nones are allowed, as torch
        if len(result) != expected:
            raise RuntimeError(
                f"{name}.backward returned {len(result)} gradient(s) for {expected} input(s) of "
                f"forward ({', '.join(self.argument_kinds)}); return one per input, None for "
                "those without one"
            )
        tensors = iter(self.inputs)
        out = []
        for i, (kind, grad) in enumerate(zip(self.argument_kinds, result)):
            if kind != "Tensor":
                if grad is not None:
                    raise RuntimeError(f"{name}.backward returned a gradient for input {i}, a "
                                       f"{kind}, not a Tensor; return None there")
                continue
            tensor = next(tensors)
            if grad is None or not tensor.requires_grad:
                out.append(None)
            elif graph and isinstance(grad, Tensor) and not once:
                out.append(grad)  # recorded: the engine sums it to the input's shape and dtype
            else:
                grad = _checked_gradient(name, i, tensor, grad)
                if delayed:  # a value now, an error if differentiated (as torch)
                    grad = _DelayedError(f"{name}: trying to differentiate twice a function "
                                         "that was marked with @once_differentiable")(
                        Tensor(grad), *self.inputs)
                out.append(grad)
        return tuple(out)


_FunctionBackward = BackwardCFunction


def _check_saved_versions(name: str, ctx: FunctionCtx) -> None:
    """grad_fn.saved_tensors, as torch's: refused when a saved tensor was changed in place
    after the Function ran (changed in its memory, or given a new value while recording)."""
    tick = ctx.__dict__.get("_tick")
    if tick is None or tick == _engine._clock:
        return
    for i, t in enumerate(ctx._saved):
        if t is None:
            continue
        entry = _engine._marks.get(id(_engine._buffer(t.data)))
        if getattr(t, "_tick", 0) > tick or (entry is not None and entry[1] > tick):
            raise RuntimeError(f"{name}.saved_tensors: saved tensor {i} was modified by an "
                               "inplace operation after the Function saved it: one of the "
                               "variables needed for gradient computation has been modified "
                               f"by an inplace operation: it is at version {t._version}; "
                               f"expected version {_engine._version_at(t, tick)} instead")


class _DelayedError(Op):
    """A gradient from a ``once_differentiable`` backward under create_graph: the value passes
    (input 0), and differentiating it (through the Function's inputs, the others) raises
    ``error``."""

    def __init__(self, message: str, error: type[Exception] = RuntimeError):
        self.message, self.error = message, error

    def forward(self, grad, *inputs):
        return grad

    def backward(self, grad_output):
        raise self.error(self.message)

    def backward_graph(self, grad_output, output):
        raise self.error(self.message)

    def describe(self) -> str:
        return "DelayedError"


def once_differentiable_grads(op: Op, grad_output: Tensor, message: str,
                              error: type[Exception] = NotImplementedError) -> tuple:
    """``op.backward_graph`` for an op whose gradient torch computes under create_graph but
    cannot differentiate (its backward kernel has no derivative): op.backward's values, each
    raising ``error(message)`` when differentiated."""
    grads = op.backward(grad_output.data)
    return tuple(None if g is None else _DelayedError(message, error)(
        Tensor(np.asarray(g)), grad_output, *op.inputs) for g in grads)


def _checked_gradient(name: str, i: int, tensor: Tensor, grad) -> np.ndarray:
    if isinstance(grad, Tensor):
        grad = grad.data
    elif not isinstance(grad, np.ndarray):  # torch refuses a number too
        raise RuntimeError(f"{name}.backward: the gradient of input {i} is a "
                        f"{type(grad).__name__}; return a Tensor, a numpy array or None")
    if grad.dtype.kind not in "fiucb" and not is_floating_dtype(grad.dtype):
        raise TypeError(f"{name}.backward: the gradient of input {i} has dtype {grad.dtype}")
    if grad.dtype.kind == "c" and tensor.dtype.kind != "c":
        raise RuntimeError(f"{name}.backward: the gradient of input {i} is {grad.dtype}, the "
                           f"input is {tensor.dtype}: a real input needs a real gradient (as "
                           "torch)")
    if grad.shape != tensor.shape:
        try:  # a gradient at a shape the input broadcasts to is summed back, as torch
            full = np.broadcast_shapes(grad.shape, tensor.shape)
        except ValueError:
            full = None
        if full != grad.shape:
            raise RuntimeError(f"{name}.backward: the gradient of input {i} has shape "
                               f"{grad.shape}, the input has shape {tensor.shape}")
        grad = np.ascontiguousarray(sum_to_shape(grad, tensor.shape))
    return grad.astype(tensor.dtype, copy=False)


class Function(FunctionCtx):
    """Subclass with ``@staticmethod forward(ctx, *args, **kwargs)`` and
    ``@staticmethod backward(ctx, *grad_outputs)``, then call ``MyFunction.apply(*args)``.

    Or, as torch 2: ``forward(*args)`` without ctx plus
    ``@staticmethod setup_context(ctx, inputs, output)``. Keyword arguments reach forward but
    are never differentiated (a Tensor that needs a gradient must be positional).

    As torch's, a Function is a FunctionCtx (the ctx methods are on the class), and a keyword
    argument must name a positional parameter of forward: torch's apply makes keyword
    arguments positional inputs, so one for a keyword-only parameter (or ``**kwargs``, or a
    keyword-only default the setup_context form fills in) raises TypeError.
    """

    _op_class: type[_FunctionBackward]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._op_class = type(f"{cls.__name__}Backward", (_FunctionBackward,),
                             {"function": cls, "__module__": cls.__module__})

    def __init__(self, *args, **kwargs):
        import warnings
        warnings.warn(f"{type(self).__name__} should not be instantiated: forward and backward "
                      f"are static methods, call {type(self).__name__}.apply(...)",
                      DeprecationWarning, stacklevel=2)

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: call {type(self).__name__}.apply(...), not "
                           "an instance (legacy autograd functions with a non-static forward "
                           "are not supported, as torch)")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function: define a @staticmethod forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function: define a @staticmethod backward(ctx, "
                                  "*grad_outputs)")

    vjp = backward  # torch's other name: a Function may define vjp instead of backward

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @staticmethod
    def jvp(ctx, *tangents):
        """Forward mode (``forward_ad``, ``dlpy.func.jvp``), as torch's: the tangent of each
        output from one per argument of forward (zeros for a Tensor without one, None for a
        non-Tensor); ``ctx.saved_tensors`` are those of ``ctx.save_for_forward``. Without
        it, forward mode differentiates backward instead (written with dlpy ops)."""
        raise NotImplementedError

    # vmap of apply, as torch's: ``@staticmethod vmap(info, in_dims, *args)`` returning
    # (outputs, out_dims), where info has batch_size and randomness and args are the batched
    # inputs with their batch dimension at in_dims[i] (None: not batched); or
    # ``generate_vmap_rule = True``: forward itself runs on the batched inputs. Either needs
    # the torch-2 form (forward without ctx, plus setup_context).
    generate_vmap_rule = False

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward and, if an input needs a gradient, record one op for backward."""
        name = cls.__name__
        if cls is Function:
            raise NotImplementedError("Function.apply: subclass Function (with a forward) and "
                                      "call MyFunction.apply(...)")
        if cls.setup_context is not Function.setup_context:
            args, kwargs = _bound_arguments(cls, args, kwargs)
        batching = _batching_module()
        if batching is not None and batching._sizes or _engine._transform_depth[0]:
            mapped = _under_transform(cls, batching, args, kwargs)
            if mapped is not _GENERIC:
                return mapped
        if kwargs:
            _check_keywords(cls, kwargs)
        # keyword arguments are inputs too, after the positional ones (as torch's apply)
        arguments = args + tuple(kwargs.values()) if kwargs else args
        tensors = trace_inputs(tuple(a for a in arguments if isinstance(a, Tensor)))
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in arguments))
        ctx._records = is_grad_enabled() and any(t.requires_grad for t in tensors)
        with no_grad():
            result = _function_forward(cls, ctx, args, kwargs)
        if not isinstance(result, (tuple, Tensor, np.ndarray)):
            return result  # torch hands anything else (None, a list, a number) back as it is
        single = not isinstance(result, tuple)
        returned = [result] if single else list(result)
        outputs = [Tensor(o) if isinstance(o, np.ndarray) else o for o in returned]
        differentiable = [isinstance(o, Tensor)  # bfloat16 and complex too
                          and (is_floating_dtype(o.dtype) or o.dtype.kind == "c")
                          and id(r) not in ctx._non_differentiable
                          for r, o in zip(returned, outputs)]
        record = is_grad_enabled() and any(t.requires_grad for t in tensors) \
            and any(differentiable)
        dirty = [t for t in tensors if id(t) in ctx._dirty]
        if dirty:
            _check_dirty(name, dirty, returned)
        # new Tensor objects share the arrays: forward may return an input or keep its output
        # (a dirty input, changed in place, is returned itself, as torch)
        # (a dirty input whose output is not recorded, in no_grad or marked non-differentiable,
        # comes back as a detached alias where it requires grad, as torch)
        plain = [(Tensor(o.data) if o.requires_grad and not (record and d) else o)
                 if id(o) in ctx._dirty else Tensor(o.data) if isinstance(o, Tensor) and (
                     o.requires_grad or record or any(o is a for a in tensors)) else o
                 for o, d in zip(outputs, differentiable)]
        changed = dirty
        dirty = [t for t in dirty if any(t is r and d for r, d in zip(returned, differentiable))]
        for t in changed:  # torch bumps each dirty input's version once more after forward:
            # here where no rebase (below) does, and before refusing a leaf that requires grad
            if not (record and any(t is d for d in dirty)) or (t.requires_grad and t.op is None):
                _engine._bump(t.data)

        def record_op(inputs: tuple) -> None:
            """Record the call as one op of ``inputs`` (the tensors, dirty ones replaced by
            the stand-ins of their values before forward); its outputs go to ``plain``."""
            meta = tuple((d, o.shape, o.dtype) if isinstance(o, Tensor) else None
                         for d, o in zip(differentiable, outputs))
            kinds = tuple("Tensor" if isinstance(a, Tensor) else type(a).__name__
                          for a in arguments)
            op = cls._op_class(kinds, meta)
            op.ctx = ctx
            chosen = [k for k, d in enumerate(differentiable) if d]
            # saved outputs (by identity): their places among the recorded ones, so that
            # under create_graph backward sees the recorded outputs
            op.saved_outputs = {i: chosen.index(k) for i, t in enumerate(ctx._saved or ())
                                for k in chosen if t is returned[k]}
            # what backward reads, for the in-place check: the saved outputs (the saved
            # inputs are checked when backward reads ctx.saved_tensors, as torch's: a backward
            # that never reads them runs)
            op.saves = ("output",) if op.saved_outputs else ()
            if ctx.__dict__.get("_packed") is not None:
                op.saves = ()  # packed by saved_tensors_hooks: torch checks no version
            for k, out in zip(chosen, record_outputs(op, inputs,
                                                     [outputs[k].data for k in chosen],
                                                     frozenset(op.saved_outputs.values()))):
                plain[k] = out

        if record and dirty:
            _rebase_dirty(name, dirty, 0, tensors, returned, plain, record_op)
        elif record:
            record_op(tensors)
        if record and len(returned) > 1:
            _same_outputs(returned, tensors, plain)
        if record and ctx._saved:
            ctx._tick = _engine._clock  # grad_fn.saved_tensors refuses those changed since
        if _dual_outputs is not None:  # forward mode: the tangents forward_ad gave outputs
            _dual_outputs(outputs, plain)
        return plain[0] if single else tuple(plain)


def _same_outputs(returned: list, inputs: tuple, plain: list) -> None:
    """A tensor forward returns more than once (not an input) is one output, as torch's: each
    place gets the tensor recorded for its last place (the others' gradients are zeros)."""
    ids = [id(r) for r in returned if isinstance(r, Tensor) and not any(r is t for t in inputs)]
    if len(set(ids)) == len(ids):
        return
    last = {id(r): k for k, r in enumerate(returned) if id(r) in ids}
    for k, r in enumerate(returned):
        if id(r) in last:
            plain[k] = plain[last[id(r)]]


def _check_keywords(cls, kwargs: dict) -> None:
    """torch's apply passes keyword arguments as positional inputs: one that names no
    positional parameter of forward raises TypeError, as torch's."""
    import inspect
    parameters = inspect.signature(cls.forward).parameters
    for key in kwargs:
        p = parameters.get(key)
        if p is None or p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise TypeError(f"forward() got an unexpected keyword argument '{key}'")


def _check_dirty(name: str, dirty: list, returned: list) -> None:
    if any(not any(d is r for r in returned) for d in dirty):
        raise RuntimeError(f"{name}: some tensors marked dirty (mark_dirty) in forward were not "
                           "returned as outputs; the inputs changed in place must all be "
                           "outputs of the Function, as torch requires")


def _rebase_dirty(name: str, dirty: list, i: int, inputs: tuple, returned: list, plain: list,
                  record_op: Callable) -> None:
    """Make dirty[i:] take the Function's op as their history, through the engine's in-place
    change (so a dirty view changes its base, and views of a dirty tensor are re-made): each
    dirty tensor's stand-in (its value before) replaces it among the op's inputs, and the op
    is recorded once all are replaced."""
    if i == len(dirty):
        record_op(inputs)
        return
    d = dirty[i]
    k = next(k for k, r in enumerate(returned) if r is d)

    def compute(old, *others):
        _rebase_dirty(name, dirty, i + 1, tuple(old if t is d else t for t in inputs),
                      returned, plain, record_op)
        out = plain[k]
        if np.may_share_memory(out.data, d.data):  # an array of its own: writing d's memory
            out.data = out.data.copy()  # (through a base it views) must not mark it changed
        return out

    # the other inputs go along as operands: the change is recorded when one requires grad
    d._in_place(f"{name}.apply", compute, *[t for t in inputs if t is not d])
    plain[k] = d


_signatures: dict = {}  # forward -> (its inspect.Signature, its number of positional params)


def _bound_arguments(cls, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The torch-2 form's arguments bound to forward's signature, defaults filled in, as
    torch's apply: keyword arguments become positional inputs (setup_context sees them all);
    keyword-only ones stay keywords (and ``_check_keywords`` refuses them, as torch's)."""
    forward = cls.forward
    known = _signatures.get(forward)
    if known is None:
        import inspect
        signature = inspect.signature(forward)
        kinds = [p.kind for p in signature.parameters.values()]
        known = _signatures[forward] = (signature, sum(
            k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for k in kinds), inspect.Parameter.KEYWORD_ONLY in kinds)
    signature, positional, keyword_only = known
    if not kwargs and len(args) >= positional and not keyword_only:
        return args, kwargs  # nothing to bind or fill in (the common call)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.args, bound.kwargs


_GENERIC = object()  # _under_transform's "run apply as usual"


def _batching_module():
    """dlpy.func_batching once imported (it imports this module: no import here)."""
    import sys
    return sys.modules.get("dlpy.func_batching")


def _under_transform(cls, batching, args: tuple, kwargs: dict):
    """apply inside a dlpy.func transform, with torch.func's rules: the torch-2 form is
    required; under vmap the Function's own ``vmap`` rule, or forward on the batched inputs
    with ``generate_vmap_rule = True``, else an error. _GENERIC: go on as usual."""
    name = cls.__name__
    if cls.__dict__.get("_any_transform"):  # dlpy's own (a library op's autograd): as usual
        return _GENERIC
    if cls.setup_context is Function.setup_context:
        raise RuntimeError(f"{name}: to use an autograd.Function with dlpy.func transforms "
                           "(vmap, grad, jvp, jacrev, ...) it must override the setup_context "
                           "staticmethod (and take no ctx in forward), as torch.func requires")
    levels = [a.level for a in args if isinstance(a, batching.BatchedTensor)] \
        if batching is not None else []
    if not levels:
        return _GENERIC
    if cls.generate_vmap_rule:
        return _GENERIC
    if "vmap" not in {k for klass in cls.__mro__[:-1] if klass is not Function
                      for k in vars(klass)}:
        raise RuntimeError(f"vmap over {name}: it has no vmap support; define its vmap "
                           "staticmethod or set generate_vmap_rule = True, as torch.func "
                           "requires")
    import collections
    level = max(levels)
    size = batching._sizes[level - 1]
    info = collections.namedtuple("VmapInfo", "batch_size randomness")(
        size, batching._randomness[level - 1])
    in_dims = tuple(0 if isinstance(a, batching.BatchedTensor) and a.level == level else None
                    for a in args)
    physical = [a.value if d is not None else a for a, d in zip(args, in_dims)]
    result = cls.vmap(info, in_dims, *physical, **kwargs)
    if not isinstance(result, tuple) or len(result) != 2:
        raise RuntimeError(f"{name}.vmap must return (outputs, out_dims), got "
                           f"{type(result).__name__}")
    outputs, out_dims = result
    single = not isinstance(outputs, tuple)
    outputs = (outputs,) if single else outputs
    out_dims = (out_dims,) * len(outputs) if not isinstance(out_dims, tuple) else out_dims
    if len(out_dims) != len(outputs):
        raise RuntimeError(f"{name}.vmap returned {len(outputs)} outputs but "
                           f"{len(out_dims)} out_dims")
    wrapped = []
    for out, dim in zip(outputs, out_dims):
        if dim is None or not isinstance(out, Tensor):
            wrapped.append(out)
            continue
        if out.shape[dim] != size:
            raise RuntimeError(f"{name}.vmap: an output has size {out.shape[dim]} at its "
                               f"out_dim {dim}, the batch size is {size}")
        wrapped.append(batching.wrap(out.movedim(dim, 0), level))
    return wrapped[0] if single else tuple(wrapped)


def once_differentiable(backward: Callable) -> Callable:
    """torch's decorator for a backward that cannot itself be differentiated: it runs under
    ``no_grad`` also with create_graph, and differentiating the gradients it gave raises
    "trying to differentiate twice a function that was marked with @once_differentiable"."""

    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        return backward(ctx, *grad_outputs)

    wrapper.once_differentiable = True
    return wrapper


class InplaceFunction(Function):
    """torch.autograd.function.InplaceFunction: a Function whose instance carries an
    ``inplace`` flag (``InplaceFunction(inplace=True)``; default False), for legacy
    Functions that choose between an in-place and an out-of-place forward. Subclass it as a
    Function (static forward and backward, ``apply``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace


__all__ += ["InplaceFunction"]
