"""Activation checkpointing, as ``torch.utils.checkpoint``: trade compute for memory.

    from dlpy.utils.checkpoint import checkpoint, checkpoint_sequential
    h = checkpoint(block, x, use_reentrant=False)  # block's activations are not kept
    y = checkpoint_sequential(model, 4, x, use_reentrant=False)  # a Sequential in 4 segments

``use_reentrant=False`` (torch's recommended variant) runs ``function`` as it is, recording
its graph with its real nodes, inside a ``saved_tensors_hooks`` block whose pack hook keeps
nothing of what an op saves for backward (a placeholder, and the tensor's shape and dtype).
The first time backward (or ``grad_fn._saved_*``) unpacks one, ``function`` runs again with
gradients on and the random generators set back to their state before the forward (so
dropout draws the same masks), and what its ops save is kept for the placeholders, in order;
with early stop (the default) the recomputation stops once every placeholder still alive has
its tensor. Each backward pass recomputes once. ``determinism_check="default"`` compares the
recomputed tensors' shapes and dtypes with the forward's (``CheckpointError``).

``use_reentrant=True`` (torch's CheckpointFunction) runs ``function`` under ``no_grad``, so
none of its intermediate arrays are kept, and records one op whose inputs are every tensor
needing a gradient that the function's ops read: its arguments, the parameters it uses, any
other tensor it reads from outside (seen by tracing, ``dlpy.autograd_function.tracing``).
Backward runs ``function`` again with gradients on and differentiates that copy, cut at those
inputs. Under ``autograd.grad(create_graph=True)`` the recomputation reads the inputs
themselves and is differentiated with create_graph, so the gradients can be differentiated
again.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import sys
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dlpy.autograd_function import record_outputs, saved_tensors_hooks, split_grads, tracing
from dlpy.random import _default_generator as default_generator
from dlpy.tensor import Op, Tensor, _backpropagate, enable_grad, is_grad_enabled, no_grad

__all__ = ["CheckpointError", "CheckpointPolicy", "SelectiveCheckpointContext", "checkpoint",
           "checkpoint_sequential", "create_selective_checkpoint_contexts", "get_device_states",
           "set_checkpoint_early_stop", "set_device_states"]


class CheckpointError(RuntimeError):
    """torch.utils.checkpoint.CheckpointError: the recomputation during backward did not
    match the forward (an output's shape or dtype changed; determinism_check="default")."""


class Checkpoint(Op):
    """torch's use_reentrant=True checkpoint (CheckpointFunction): ``function(*args)``
    recomputed in backward; inputs: the tensors it read that need gradients. Refused by
    autograd.grad and backward(inputs=...), as torch's."""

    def __init__(self, function: Callable, args: tuple, rng_states: list,
                 outputs: list[tuple], sources: list[Tensor], recompute_context=None):
        self.function, self.args = function, args
        self.recompute_context = recompute_context  # context_fn's second context manager
        # per input, the tensor the function's code holds (the input itself, unless an outer
        # checkpoint's recomputation stood in for it): what to cut at when recomputing
        self.sources = sources
        self.rng_states = rng_states  # (generator, its state before the forward)
        self.outputs = outputs  # (position, shape, dtype) of each recorded output
        # what backward reads: its inputs (torch's CheckpointFunction saves them), never its
        # outputs, which may change in place before backward, as torch's
        self.saves = tuple(range(len(sources)))

    def name(self) -> str:
        return "CheckpointFunctionBackward"

    def describe(self) -> str:
        return f"Checkpoint({_name(self.function)})"

    def backward(self, grad_output):
        if _engine._selective_passes:
            raise RuntimeError(_NOT_VALID)
        stand_ins = {id(t): Tensor(t.data, requires_grad=True) for t in self.inputs}
        for t, source in zip(self.inputs, self.sources):
            stand_ins[id(source)] = stand_ins[id(t)]
        roots, root_grads = self._recompute(stand_ins, split_grads(self, grad_output))
        if not roots:
            return (None,) * len(self.inputs)
        captured = _backpropagate(roots, root_grads, False,
                                  capture={id(t) for t in stand_ins.values()})
        return tuple(captured.get(id(stand_ins[id(t)])) for t in self.inputs)

    def backward_graph(self, grad_output, output):
        # recomputed from the inputs themselves (no stand-ins), and differentiated with
        # create_graph: the gradients' graph reaches the inputs, so it can be differentiated
        # again (a gradient penalty through a checkpointed block)
        if _engine._selective_passes:
            raise RuntimeError(_NOT_VALID)
        inputs = {id(source): t for t, source in zip(self.inputs, self.sources)}
        roots, root_grads = self._recompute(inputs, split_grads(self, grad_output))
        if not roots:
            return (None,) * len(self.inputs)
        captured = _backpropagate(roots, root_grads, False,
                                  capture={id(t) for t in self.inputs}, create_graph=True)
        return tuple(captured.get(id(t)) for t in self.inputs)

    def _recompute(self, stand_ins: dict, grads: list) -> tuple[list, list]:
        """Run the function again with gradients on, the tensors it read replaced by
        ``stand_ins`` (by id), the random generators set back to their state before the
        forward; returns the recomputed outputs that got a gradient, and those gradients."""

        def cut(raw: tuple, inputs: tuple) -> tuple:  # the recomputed graph starts there
            if not any(isinstance(t, Tensor) and id(t) in stand_ins for t in raw):
                return inputs
            return tuple(stand_ins.get(id(r), t) if isinstance(r, Tensor) else t
                         for r, t in zip(raw, inputs))

        now = [(g, g.bit_generator.state) for g, _ in self.rng_states]
        try:
            for generator, state in self.rng_states:
                generator.bit_generator.state = state
            context = self.recompute_context or contextlib.nullcontext()
            with enable_grad(), tracing(cut), context:
                result = self.function(*self.args)
        finally:
            for generator, state in now:
                generator.bit_generator.state = state
        outputs = _outputs(result)
        roots, root_grads = [], []
        for (position, _, _), grad in zip(self.outputs, grads):
            out = outputs[position] if position < len(outputs) else None
            if not isinstance(out, Tensor):
                raise RuntimeError(f"checkpoint: the recomputed {_name(self.function)} "
                                   f"returned no tensor at output {position}")
            out = stand_ins.get(id(out), out)
            if grad is not None and out.requires_grad:
                roots.append(out)
                root_grads.append(grad)
        return roots, root_grads


_NOT_VALID = ("Checkpointing is not compatible with .grad() or when an `inputs` parameter is "
              "passed to .backward(). Please use .backward() and do not pass its `inputs` "
              "argument (or use use_reentrant=False)")


_engine = sys.modules["dlpy.tensor"]  # (dlpy.tensor the attribute is the function)


def _name(function) -> str:
    if isinstance(function, functools.partial):
        function = function.func
    return getattr(function, "__name__", type(function).__name__)


def _outputs(result) -> list:
    """The outputs that may carry gradients: a Tensor, or the items of a tuple, as those of
    torch's autograd.Function (other results, a list or a dict of tensors too, pass through
    unrecorded: their tensors get no gradient, as torch's)."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, tuple):
        return list(result)
    return []


def _generators(function, modules: Iterable) -> list[np.random.Generator]:
    """The default generator, and the ``rng`` of every module that ``function`` is or is a
    method of (and of ``modules``), with their submodules: where dropout draws from."""
    from dlpy.nn.module import Module

    target = function.func if isinstance(function, functools.partial) else function
    owners = [target, getattr(target, "__self__", None), *modules]
    generators = {id(default_generator()): default_generator()}
    for owner in owners:
        if isinstance(owner, Module):
            for module in owner.modules():
                rng = module.__dict__.get("rng")
                if isinstance(rng, np.random.Generator):
                    generators.setdefault(id(rng), rng)
    return list(generators.values())


def _checkpoint(function: Callable, args: tuple, kwargs: dict, use_reentrant: bool,
                preserve_rng_state: bool, determinism_check: str, modules: Sequence = (),
                context_fn: Callable | None = None, early_stop: bool = True):
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got "
                        f"{type(function).__name__}")
    if use_reentrant not in (True, False):
        raise TypeError(f"checkpoint: use_reentrant must be True or False, got "
                        f"{use_reentrant!r}")
    if use_reentrant and kwargs:
        raise ValueError(f"checkpoint: Unexpected keyword arguments: {','.join(kwargs)} "
                         "(keyword arguments for the function need use_reentrant=False)")
    if not use_reentrant and determinism_check not in ("default", "none"):
        raise ValueError(f"checkpoint: determinism_check should be one of ['default', 'none'], "
                         f"but got {determinism_check!r}")
    if not use_reentrant:
        return _checkpoint_hooks(function, args, kwargs, preserve_rng_state, determinism_check,
                                 modules, context_fn, early_stop)
    if not is_grad_enabled():  # nothing would be recorded anyway
        return function(*args, **kwargs)
    if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        # torch's CheckpointFunction: only the arguments connect the outputs to the graph
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      UserWarning, stacklevel=2)  # checkpoint's line, as torch's
        with no_grad():
            return function(*args)
    forward_context = recompute_context = None
    if context_fn is not None:
        forward_context, recompute_context = context_fn()
    generators = _generators(function, modules) if preserve_rng_state else []
    rng_states = [(g, g.bit_generator.state) for g in generators]
    read: dict[int, tuple[Tensor, Tensor]] = {}  # what the ops read that needs gradients

    def note(raw: tuple, inputs: tuple) -> tuple:
        for r, t in zip(raw, inputs):
            if isinstance(t, Tensor) and t.requires_grad:
                read.setdefault(id(t), (t, r))
        return inputs

    with no_grad(), tracing(note), forward_context or contextlib.nullcontext():
        result = function(*args, **kwargs)
    outputs = _outputs(result)
    note(tuple(outputs), tuple(outputs))  # an input returned as it is
    # the outputs of a differentiable dtype (complex and bfloat16 ones too, as torch's)
    chosen = [k for k, o in enumerate(outputs) if isinstance(o, Tensor)
              and (o.dtype.kind in "fc" or o.dtype.name == "bfloat16")]
    if not read or not chosen:
        return result
    op = Checkpoint(function, args, rng_states,
                    [(k, outputs[k].shape, outputs[k].dtype) for k in chosen],
                    [r for _, r in read.values()], recompute_context)
    recorded = record_outputs(op, tuple(t for t, _ in read.values()),
                              [outputs[k].data for k in chosen])
    for k, out in zip(chosen, recorded):
        outputs[k] = out
    if isinstance(result, Tensor):
        return outputs[0]
    return tuple(outputs)  # (a named tuple too, as torch's Function.apply)


class _StopRecomputation(Exception):
    """Raised by the recomputation's pack hook once every placeholder has its tensor."""


class _Holder:
    """What the forward's pack hook gives an op for a tensor it saved: by backward pass, the
    key of that tensor among the recomputed ones (None once unpacked)."""

    __slots__ = ("handles", "__weakref__")

    def __init__(self):
        self.handles: dict = {}


_DIFFERENT_COUNT = ("torch.utils.checkpoint: A different number of tensors was saved during the "
                    "original forward and recomputation.\nNumber of tensors saved during "
                    "forward: {}\nNumber of tensors saved during recomputation: {}.")


class _Frame:
    """One non-reentrant checkpoint call: the placeholders its forward gave (weakly: a graph
    freed by backward drops them), their shapes and dtypes, and by backward pass what the
    recomputation saved for them."""

    def __init__(self, function: Callable, args: tuple, kwargs: dict, rng_states: list,
                 early_stop: bool, check: bool, recompute_context):
        self.function, self.args, self.kwargs = function, args, kwargs
        # the tensor arguments and their versions: a change in place before backward is
        # torch's error (its frame saves them for backward)
        self.versions = [(a, a._version) for a in args if isinstance(a, Tensor)]
        self.rng_states = rng_states
        self.early_stop, self.check = early_stop, check
        self.recompute_context = recompute_context
        self.holders: list = []  # weak references to the forward's placeholders
        self.metadata: list = []
        self.recomputed: dict = {}  # pass key -> {holder slot: tensor}
        self.counts: dict = {}  # pass key -> tensors saved by its recomputation so far
        self.forward_completed = False
        self.ignore_mismatch = False

    def pack(self, tensor: Tensor) -> _Holder:
        holder = _Holder()
        self.holders.append(weakref.ref(holder))
        self.metadata.append((tuple(tensor.shape), tensor.dtype) if self.check else None)
        return holder

    def unpack(self, holder: _Holder) -> Tensor:
        passes = _engine._pass_keys
        # (grad_fn._saved_* read outside backward: recomputed each time)
        key = passes[-1] if passes else object()
        if key not in self.recomputed:
            self._recompute(key)
        slot = holder.handles.get(key)
        if slot is None:
            raise CheckpointError(
                "torch.utils.checkpoint: Unpack is being triggered for a tensor that was already "
                "unpacked once. If you are calling ctx.saved_tensors in backward, make sure to do "
                "so only once. Otherwise please open an issue with details on your use case.")
        holder.handles[key] = None
        return self.recomputed[key].pop(slot)

    def _recompute(self, key) -> None:
        for tensor, version in self.versions:
            if tensor._version != version:
                raise RuntimeError(
                    f"checkpoint: an argument of {_name(self.function)} (shape {tensor.shape}) "
                    f"was modified in place after the forward (it is at version "
                    f"{tensor._version}; expected version {version} instead): one of the "
                    "variables needed for gradient computation has been modified by an inplace "
                    "operation")
        self.recomputed[key] = {}
        self.counts[key] = 0
        now = [(g, g.bit_generator.state) for g, _ in self.rng_states]
        try:
            for generator, state in self.rng_states:
                generator.bit_generator.state = state
            context = self.recompute_context or contextlib.nullcontext()
            with saved_tensors_hooks(functools.partial(self._save, key), _same), \
                    enable_grad(), context:
                self.function(*self.args, **self.kwargs)
        except _StopRecomputation:
            pass
        finally:
            for generator, state in now:
                generator.bit_generator.state = state
        # the recomputed graph is gone: forget the stand-ins its ops held their inputs by
        # (each holds its producer, whose packed values are the recomputed tensors)
        _engine._prune_graph_stand_ins()
        self._check_recomputed(key)

    def _save(self, key, tensor: Tensor) -> Tensor:
        """The recomputation's pack hook: the tensor for the forward's placeholder of the same
        position."""
        if tensor.requires_grad:
            tensor = tensor.detach()
        index = self.counts[key]
        self.counts[key] = index + 1
        if index >= len(self.holders):
            if not self.forward_completed:  # (backward within the checkpointed function)
                self.ignore_mismatch = True
                return tensor
            raise CheckpointError("torch.utils.checkpoint: trying to save more tensors during "
                                  "recomputation than during the original forward pass.")
        holder = self.holders[index]()
        if holder is not None:
            holder.handles[key] = index
            self.recomputed[key][index] = tensor
        if self.early_stop and index + 1 == len(self.holders):
            raise _StopRecomputation
        return tensor

    def _check_recomputed(self, key) -> None:
        if self.ignore_mismatch:
            return
        if len(self.holders) != self.counts[key]:
            raise CheckpointError(_DIFFERENT_COUNT.format(len(self.holders), self.counts[key]))
        different = []
        for index, ref in enumerate(self.holders):
            if ref() is None or not self.check:
                continue
            tensor = self.recomputed[key][index]
            now = (tuple(tensor.shape), tensor.dtype)
            if now != self.metadata[index]:
                different.append(f"tensor at position {index}:\nsaved metadata: "
                                 f"{_shown(self.metadata[index])}\nrecomputed metadata: "
                                 f"{_shown(now)}\n")
        if different:
            raise CheckpointError(
                "torch.utils.checkpoint: Recomputed values for the following tensors have "
                "different metadata than during the forward pass.\n" + "".join(different))


def _same(tensor):
    return tensor


def _shown(metadata: tuple) -> str:
    shape, dtype = metadata
    return (f"{{'shape': torch.Size({list(shape)}), 'dtype': {dtype}, "
            f"'device': device(type='cpu')}}")


def _checkpoint_hooks(function: Callable, args: tuple, kwargs: dict, preserve_rng_state: bool,
                      determinism_check: str, modules: Sequence, context_fn, early_stop: bool):
    """torch's non-reentrant checkpoint: ``function`` runs as it is, in a saved_tensors_hooks
    block that keeps placeholders for what its ops save; unpacking one recomputes (_Frame)."""
    forward_context, recompute_context = (context_fn() if context_fn is not None
                                          else (None, None))
    if not is_grad_enabled():  # nothing is saved: no hooks, no recomputation
        return function(*args, **kwargs)
    generators = _generators(function, modules) if preserve_rng_state else []
    frame = _Frame(function, args, kwargs, [(g, g.bit_generator.state) for g in generators],
                   early_stop if _early_stop is None else _early_stop,
                   determinism_check == "default", recompute_context)
    with saved_tensors_hooks(frame.pack, frame.unpack), \
            forward_context or contextlib.nullcontext():
        result = function(*args, **kwargs)
    frame.forward_completed = True
    return result


def _default_reentrant(name: str, use_reentrant) -> bool:
    """torch's default: use_reentrant=True, with its warning that it should be passed."""
    if use_reentrant is not None:
        return use_reentrant
    warnings.warn(f"torch.utils.checkpoint{name}: the use_reentrant parameter should be passed "
                  "explicitly. Starting in PyTorch 2.9, calling checkpoint without use_reentrant "
                  "will raise an exception. use_reentrant=False is recommended, but if you need "
                  "to preserve the current default behavior, you can pass use_reentrant=True.",
                  UserWarning, stacklevel=3)
    return True


def checkpoint(function: Callable, *args, use_reentrant: bool | None = None,
               preserve_rng_state: bool = True, determinism_check: str = "default",
               context_fn: Callable | None = None, debug: bool = False,
               early_stop: bool = True, **kwargs):
    """``function(*args, **kwargs)`` without keeping its activations: recomputed in backward.

    ``use_reentrant=False`` (recommended): ``function`` runs with its real graph, keeping a
    placeholder for each tensor its ops save; backward recomputes them (once per backward
    pass, stopping early unless ``early_stop=False``). Outputs are what ``function`` returns,
    at any depth, with their own grad_fn. ``determinism_check="default"``: the recomputed
    tensors must have the forward's shapes and dtypes (CheckpointError). ``context_fn``:
    called once, its two context managers wrap the forward and the recomputation.

    ``use_reentrant=True`` (torch's CheckpointFunction; the default when not passed, with
    torch's warning): the forward runs under no_grad and one op carries gradients to every
    tensor the function read that needs one (the arguments, a module's parameters, tensors
    from outside); the outputs need gradients only when an argument does (else a warning and
    no graph); no keyword arguments; autograd.grad / backward(inputs=) refuse it.

    Both: ``preserve_rng_state`` makes the recomputation draw the same random numbers from
    dlpy's default generator and from the ``rng`` of ``function``'s modules (when it is a
    Module or a method of one). ``debug`` changes nothing.
    """
    use_reentrant = _default_reentrant("", use_reentrant)
    if use_reentrant and (context_fn is not None or debug):
        raise ValueError("checkpoint: Passing `context_fn` or `debug` is only supported when "
                         "use_reentrant=False.")
    return _checkpoint(function, args, kwargs, use_reentrant, preserve_rng_state,
                       determinism_check, context_fn=context_fn, early_stop=early_stop)


class SegmentsTypeError(ValueError, TypeError):
    """checkpoint_sequential's segments not an int (torch's TypeError)."""


class SegmentsZeroError(ValueError, ZeroDivisionError):
    """checkpoint_sequential's segments 0 (torch's ZeroDivisionError)."""


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None,
                          **kwargs):
    """Run ``functions`` (a Sequential or a list of modules / functions, each taking one
    input) in ``segments`` chunks of ``len // segments``, every chunk but the last
    checkpointed, as torch's. Keyword: ``preserve_rng_state=True``. ``segments`` must be an
    int (a bool counts, as torch's) from 1 to the number of functions: ValueError, a
    SegmentsTypeError (also TypeError) for a non-int, a SegmentsZeroError (also
    ZeroDivisionError) for 0."""
    use_reentrant = _default_reentrant(".checkpoint_sequential", use_reentrant)
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError(f"checkpoint_sequential: Unexpected keyword arguments: "
                         f"{','.join(kwargs)}")
    from dlpy.nn.container import Sequential

    functions = list(functions.children() if isinstance(functions, Sequential) else functions)
    message = (f"checkpoint_sequential: segments must be an int from 1 to the number of "
               f"functions ({len(functions)}), got {segments!r}")
    if not isinstance(segments, (int, np.integer)):  # (a bool is an int, as torch's)
        raise SegmentsTypeError(message)
    if segments == 0:
        raise SegmentsZeroError(message)
    if not 1 <= segments <= len(functions):
        raise ValueError(message)
    size = len(functions) // segments

    def run(chunk: list) -> Callable:
        def forward(x):
            for f in chunk:
                x = f(x)
            return x

        forward.__name__ = f"segment of {len(chunk)}"
        return forward

    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        chunk = functions[start:end]
        input = _checkpoint(run(chunk), (input,), {}, use_reentrant, preserve, "default",
                            chunk)
    return run(functions[end:])(input)


class CheckpointPolicy(enum.Enum):
    """What selective checkpointing does with one op's output (torch's values): save it for
    backward or recompute it, as a must or a preference. dlpy recomputes the whole function
    whatever the policy says; the gradients are the same."""

    MUST_SAVE = 0
    PREFER_SAVE = 1
    MUST_RECOMPUTE = 2
    PREFER_RECOMPUTE = 3
    MUST_CPU_OFFLOAD = 4
    PREFER_CPU_OFFLOAD = 5


class SelectiveCheckpointContext:
    """What a selective-checkpointing policy function gets first: ``is_recompute`` (False: as
    torch's, the policy is only asked during the forward) and ``op_output``."""

    def __init__(self, *, is_recompute: bool, op_output=None) -> None:
        self.is_recompute = is_recompute
        self.op_output = op_output


class _PolicyMode:
    """The forward context of ``create_selective_checkpoint_contexts``: asks
    ``policy_fn(ctx, op, *inputs)`` about every op the checkpointed function calls (``op`` is
    torch's aten overload for dlpy's op, ``dlpy.aten.overload_of``: ``aten.mm.default``,
    ``aten.sin.default``...; dlpy's op itself where it has no single one). The answers (a
    CheckpointPolicy, or a bool: True MUST_SAVE) are not checked, as torch's."""

    def __init__(self, policy_fn: Callable) -> None:
        self.policy_fn = policy_fn
        self._swap = None

    def _wrap(self, inner: Callable) -> Callable:
        from dlpy.aten import overload_of

        def call(op, *inputs):
            shown = overload_of(op, inputs) or op
            # (torch checks no answer: anything but MUST_SAVE / PREFER_SAVE recomputes; dlpy
            # recomputes the whole function whatever the answers)
            self.policy_fn(SelectiveCheckpointContext(is_recompute=False), shown, *inputs)
            return inner(op, *inputs)

        return call

    def __enter__(self):
        from dlpy.autograd_function import swap_call_sites

        self._swap = swap_call_sites(2, op_call=self._wrap)
        self._swap.__enter__()
        return self

    def __exit__(self, *exc):
        swap, self._swap = self._swap, None
        return swap.__exit__(*exc)


def create_selective_checkpoint_contexts(policy_fn_or_list, allow_cache_entry_mutation=False):
    """The ``context_fn`` result of selective checkpointing (pass it through
    ``functools.partial`` as ``checkpoint(..., use_reentrant=False, context_fn=...)``): a pair
    of context managers, the forward's and the recomputation's. ``policy_fn_or_list``: a
    function ``policy_fn(ctx, op, *args, **kwargs) -> CheckpointPolicy`` asked about each op
    of the forward, or a list of aten OpOverloads to save (``torch.ops.aten.mm.default``;
    the others PREFER_RECOMPUTE). dlpy recomputes the whole function in backward whatever the
    policies, so they change no value; a list holding something else than an OpOverload is a
    ValueError, anything else than a list or a function a TypeError, as torch's."""
    from dlpy.aten import OpOverload, OpOverloadPacket

    if isinstance(policy_fn_or_list, list):
        for op in policy_fn_or_list:
            if not isinstance(op, OpOverload):
                extra = ("Please update the OpOverloadPacket to a specific OpOverload."
                         "For example, if you have `torch.ops.aten.mm`, change it to "
                         "`torch.ops.aten.mm.default`."
                         if isinstance(op, OpOverloadPacket) else "")
                raise ValueError(f"Expected op in `op_list` to be an OpOverload but got: {op} "
                                 f"of type {type(op)}. {extra}")
        ops = list(policy_fn_or_list)

        def policy_fn(ctx, op, *args, **kwargs):
            return (CheckpointPolicy.MUST_SAVE if op in ops
                    else CheckpointPolicy.PREFER_RECOMPUTE)
    elif callable(policy_fn_or_list):
        policy_fn = policy_fn_or_list
    else:
        raise TypeError("policy_fn_or_list must be either a function or a list of ops.")
    return _PolicyMode(policy_fn), contextlib.nullcontext()


_early_stop = None  # set_checkpoint_early_stop's switch (None: each call's early_stop)


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool):
    """Within the block, non-reentrant checkpoints stop their recomputation as soon as every
    tensor backward needs is recomputed (True) or run the function whole (False), whatever
    their ``early_stop`` argument says, as torch's."""
    global _early_stop
    previous, _early_stop = _early_stop, bool(enable)
    try:
        yield
    finally:
        _early_stop = previous


def get_device_states(*args) -> tuple[list[int], list]:
    """The accelerator generator states of the devices the tensors among ``args`` live on,
    as ``(device ids, states)``, as torch's (which checkpoint saves to replay dropout on a
    GPU); dlpy's tensors live on the CPU, so both lists are empty."""
    return [], []


def set_device_states(devices, states, *, device_type=None) -> None:
    """Restore accelerator generator states from ``get_device_states``, as torch's; dlpy has
    no accelerator generators, so there is nothing to restore (``devices`` must be empty)."""
    if len(devices) != len(states):
        raise ValueError("set_device_states: devices and states differ in length")
    if len(devices):
        raise RuntimeError("set_device_states: dlpy has no accelerator devices")
