"""Activation checkpointing, as ``torch.utils.checkpoint``: trade compute for memory.

    from dlpy.utils.checkpoint import checkpoint, checkpoint_sequential
    h = checkpoint(block, x)                       # block's activations are not kept
    y = checkpoint_sequential(model, 4, x)         # a Sequential in 4 segments

``checkpoint(function, *args)`` runs ``function`` under ``no_grad``, so none of its
intermediate arrays are kept, and records one op whose inputs are every tensor needing a
gradient that the function's ops read: its arguments, the parameters it uses, any other
tensor it reads from outside. Backward runs ``function`` again with gradients on, the random
generators set back to their state before the forward (so dropout draws the same masks), and
differentiates that copy, cut at those inputs. The gradients equal the ones without
checkpointing, and the op works with ``backward``, ``dlpy.autograd.grad``, hooks and
``retain_graph`` as any other. What the ops read is seen by tracing (``dlpy.autograd_function
.tracing``) while the function runs. Under ``autograd.grad(create_graph=True)`` the recomputation
reads the inputs themselves and is differentiated with create_graph, so the gradients can be
differentiated again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dlpy.autograd_function import record_outputs, split_grads, tracing
from dlpy.random import default_generator
from dlpy.tensor import Op, Tensor, _backpropagate, enable_grad, is_grad_enabled, no_grad

__all__ = ["checkpoint", "checkpoint_sequential"]


class Checkpoint(Op):
    """``function(*args, **kwargs)`` recomputed in backward; inputs: the tensors it read that
    need gradients."""

    def __init__(self, function: Callable, args: tuple, kwargs: dict, rng_states: list,
                 outputs: list[tuple], check: bool, sources: list[Tensor]):
        self.function, self.args, self.kwargs = function, args, kwargs
        # per input, the tensor the function's code holds (the input itself, unless an outer
        # checkpoint's recomputation stood in for it): what to cut at when recomputing
        self.sources = sources
        self.rng_states = rng_states  # (generator, its state before the forward)
        self.outputs = outputs  # (position, shape, dtype) of each recorded output
        self.check = check

    def describe(self) -> str:
        return f"Checkpoint({_name(self.function)})"

    def backward(self, grad_output):
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
            with enable_grad(), tracing(cut):
                result = self.function(*self.args, **self.kwargs)
        finally:
            for generator, state in now:
                generator.bit_generator.state = state
        outputs = _outputs(result)
        roots, root_grads = [], []
        for (position, shape, dtype), grad in zip(self.outputs, grads):
            out = outputs[position] if position < len(outputs) else None
            if not isinstance(out, Tensor):
                raise RuntimeError(f"checkpoint: the recomputed {_name(self.function)} "
                                   f"returned no tensor at output {position}")
            if self.check and (out.shape != shape or out.dtype != dtype):
                raise RuntimeError(
                    f"checkpoint: recomputing {_name(self.function)} gave output {position} "
                    f"of shape {out.shape} {out.dtype}, the forward {shape} {dtype}; the "
                    "function must do the same thing both times"
                )
            out = stand_ins.get(id(out), out)
            if grad is not None and out.requires_grad:
                roots.append(out)
                root_grads.append(grad)
        return roots, root_grads


def _name(function) -> str:
    if isinstance(function, functools.partial):
        function = function.func
    return getattr(function, "__name__", type(function).__name__)


def _outputs(result) -> list:
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return list(result)
    raise TypeError(f"checkpoint: the function must return a Tensor or a tuple or list, got "
                    f"{type(result).__name__}")


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
                preserve_rng_state: bool, determinism_check: str, modules: Sequence = ()):
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got "
                        f"{type(function).__name__}")
    if use_reentrant not in (True, False):
        raise TypeError(f"checkpoint: use_reentrant must be True or False, got "
                        f"{use_reentrant!r}")
    if use_reentrant and kwargs:
        raise ValueError(f"checkpoint: keyword arguments for the function ({', '.join(kwargs)})"
                         " need use_reentrant=False, as torch")
    if determinism_check not in ("default", "none"):
        raise ValueError(f"checkpoint: determinism_check must be 'default' or 'none', got "
                         f"{determinism_check!r}")
    if not is_grad_enabled():  # nothing would be recorded anyway
        return function(*args, **kwargs)
    generators = _generators(function, modules) if preserve_rng_state else []
    rng_states = [(g, g.bit_generator.state) for g in generators]
    read: dict[int, tuple[Tensor, Tensor]] = {}  # what the ops read that needs gradients

    def note(raw: tuple, inputs: tuple) -> tuple:
        for r, t in zip(raw, inputs):
            if isinstance(t, Tensor) and t.requires_grad:
                read.setdefault(id(t), (t, r))
        return inputs

    with no_grad(), tracing(note):
        result = function(*args, **kwargs)
    outputs = _outputs(result)
    note(tuple(outputs), tuple(outputs))  # an input returned as it is
    chosen = [k for k, o in enumerate(outputs) if isinstance(o, Tensor) and o.dtype.kind == "f"]
    if not read or not chosen:
        return result
    op = Checkpoint(function, args, kwargs, rng_states,
                    [(k, outputs[k].shape, outputs[k].dtype) for k in chosen],
                    determinism_check == "default", [r for _, r in read.values()])
    recorded = record_outputs(op, tuple(t for t, _ in read.values()),
                              [outputs[k].data for k in chosen])
    for k, out in zip(chosen, recorded):
        outputs[k] = out
    if isinstance(result, Tensor):
        return outputs[0]
    return type(result)(outputs)


def checkpoint(function: Callable, *args, use_reentrant: bool = False,
               preserve_rng_state: bool = True, determinism_check: str = "default",
               context_fn: Callable | None = None, debug: bool = False,
               early_stop: bool = True, **kwargs):
    """``function(*args, **kwargs)`` without keeping its activations: recomputed in backward.

    The outputs (a Tensor, or a tuple / list holding Tensors) carry gradients to every tensor
    the function read that needs one: the arguments, a module's parameters, tensors from
    outside. ``preserve_rng_state``: the recomputation draws the same random numbers from
    dlpy's default generator and from the ``rng`` of ``function``'s modules (when it is a
    Module or a method of one). ``determinism_check="default"`` checks that the recomputed
    outputs have the forward's shapes and dtypes. ``use_reentrant`` is accepted for torch's
    sake (keyword arguments need False); both run the same way. ``early_stop`` changes
    nothing (the function is always recomputed whole); ``context_fn`` and ``debug`` are not
    supported.
    """
    if context_fn is not None or debug:
        raise NotImplementedError("checkpoint: context_fn and debug are not supported")
    return _checkpoint(function, args, kwargs, use_reentrant, preserve_rng_state,
                       determinism_check)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool = False,
                          **kwargs):
    """Run ``functions`` (a Sequential or a list of modules / functions, each taking one
    input) in ``segments`` chunks of ``len // segments``, every chunk but the last
    checkpointed, as torch's. Keyword: ``preserve_rng_state=True``."""
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise TypeError(f"checkpoint_sequential: unexpected keyword arguments "
                        f"{', '.join(kwargs)}")
    from dlpy.nn.container import Sequential

    functions = list(functions.children() if isinstance(functions, Sequential) else functions)
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) \
            or not 1 <= segments <= len(functions):
        raise ValueError(f"checkpoint_sequential: segments must be an int from 1 to the number "
                         f"of functions ({len(functions)}), got {segments!r}")
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
