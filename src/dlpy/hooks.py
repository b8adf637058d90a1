"""Hook handles, as PyTorch's ``RemovableHandle``: ``handle = x.register_hook(fn)`` (a tensor's
gradient) or ``module.register_forward_hook(fn)``; ``handle.remove()`` takes the hook off. And
the machinery of modules' backward hooks (``BackwardHookCall``)."""

from __future__ import annotations

import itertools
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from dlpy.tensor import Op, Tensor, _shown

_next_id = itertools.count()


class _Held:
    """A strong reference called like a weakref: how the handles dlpy makes hold their hook
    dicts (plain dicts, which weakref refuses)."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def __call__(self):
        return self.value


class RemovableHandle:
    """Keeps a hook in its owner's ordered dict until ``remove()`` (also as a context manager:
    ``with module.register_forward_hook(fn): ...``).

    ``RemovableHandle(hooks_dict, *, extra_dict=None)``, as torch's: weak references to
    ``hooks_dict`` (so a plain dict or None is a TypeError) and to ``extra_dict`` (a dict or a
    list of them, whose entries go too; anything else is ignored); ``remove()`` of a dict
    that is gone does nothing; pickled with its dicts (``__getstate__`` / ``__setstate__``).
    The handles dlpy's ``add_hook`` makes hold their dicts, and the sets of ids flagging the
    hook (with_kwargs, always_call), strongly."""

    def __init__(self, hooks_dict, *, extra_dict=None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(_next_id)
        self.extra_dict_ref: tuple = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    @classmethod
    def _holding(cls, hooks: dict, flags: tuple = ()) -> RemovableHandle:
        """A handle holding ``hooks`` and the id sets ``flags`` (dlpy's own hooks)."""
        handle = cls.__new__(cls)
        handle.hooks_dict_ref = _Held(hooks)
        handle.id = next(_next_id)
        handle.extra_dict_ref = tuple(_Held(f) for f in flags)
        return handle

    def remove(self) -> None:
        hooks = self.hooks_dict_ref()
        if hooks is not None:
            hooks.pop(self.id, None)
        for ref in self.extra_dict_ref:
            flags = ref()
            if isinstance(flags, dict):
                flags.pop(self.id, None)
            elif flags is not None:
                flags.discard(self.id)

    def __getstate__(self):
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state) -> None:
        global _next_id
        # a dict that is gone: a dead reference, as torch's
        self.hooks_dict_ref = weakref.ref(OrderedDict() if state[0] is None else state[0])
        self.id = state[1]
        _next_id = itertools.count(max(next(_next_id), self.id + 1))
        self.extra_dict_ref = (() if len(state) < 3 or state[2] is None
                               else tuple(weakref.ref(d) for d in state[2]))

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def add_hook(hooks: dict[int, Callable], hook: Callable, owner: str, prepend: bool = False,
             flags: tuple[set[int], ...] = ()) -> RemovableHandle:
    """Register ``hook`` in ``hooks`` (last, or first with ``prepend``); its id goes into each
    set of ``flags`` (with_kwargs, always_call), and leaves them with the handle's remove()."""
    if not callable(hook):
        raise TypeError(f"{owner}: a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle._holding(hooks, flags)
    if prepend:  # the same dict object (handles hold it), the new hook first
        rest = dict(hooks)
        hooks.clear()
        hooks[handle.id] = hook
        hooks.update(rest)
    else:
        hooks[handle.id] = hook
    for ids in flags:
        ids.add(handle.id)
    return handle


class Gate(Op):
    """Identity on one or more tensors; its backward hands their gradients to ``callback``
    and passes on what it returns (see ``gate``)."""

    # torch's outputs of a backward-hook Function are views it refuses to change in place
    refuses_in_place = ("is a view and is being modified inplace. This view was created inside "
                        "a custom Function (a module's backward hooks) and the autograd logic to "
                        "handle view+inplace would override the custom backward associated with "
                        "the custom Function, leading to incorrect gradients. This behavior is "
                        "forbidden. You can fix this by cloning the output of the module")

    def __init__(self, callback: Callable[[list], list], missing_as_none: bool):
        self.callback = callback
        self.missing_as_none = missing_as_none
        self.reached: set[int] = set()  # which packed tensors got a gradient (Unpack)

    def forward(self, *arrays):
        self.shapes = [tuple(a.shape) for a in arrays]
        if len(arrays) == 1:
            return arrays[0]
        return np.concatenate([a.reshape(-1) for a in arrays])

    def backward(self, grad_output):
        if len(self.shapes) == 1:
            grads = [grad_output]
        else:  # a tensor whose copy reached no loss gets zeros, or None if so asked
            sizes = [int(np.prod(s)) for s in self.shapes]
            parts = np.split(grad_output, np.cumsum(sizes)[:-1])
            grads = [p.reshape(s) if i in self.reached or not self.missing_as_none else None
                     for i, (p, s) in enumerate(zip(parts, self.shapes))]
            self.reached.clear()
        return tuple(self.callback(grads))

    def backward_graph(self, grad_output, output):
        """backward under create_graph: the hooks see the gradients' values, and a gradient
        they leave as it is passes on with its graph (the gate is an identity, so a second
        derivative goes through it); one they replace is taken as a constant."""
        if len(self.shapes) == 1:
            parts = [grad_output]
        else:
            parts, start = [], 0
            for i, shape in enumerate(self.shapes):
                size = int(np.prod(shape))
                part = grad_output[start:start + size].reshape(shape)
                parts.append(part if i in self.reached or not self.missing_as_none else None)
                start += size
            self.reached.clear()
        arrays = [None if p is None else p.data for p in parts]
        out = []
        for new, part, array in zip(self.callback(arrays), parts, arrays):
            out.append(None if new is None else part if new is array
                       else Tensor(np.asarray(new)))
        return tuple(out)


class Unpack(Op):
    """One tensor back out of a ``Gate``'s packed array; its backward notes that it ran, so
    the gate tells a gradient of zeros from none."""

    refuses_in_place = Gate.refuses_in_place

    def __init__(self, owner: Gate, index: int, start: int, shape: tuple):
        self.owner, self.index, self.start, self.shape = owner, index, start, shape

    def forward(self, joined):
        self.size = joined.size
        return joined[self.start:self.start + int(np.prod(self.shape))].reshape(self.shape)

    def backward(self, grad_output):
        self.owner.reached.add(self.index)
        full = np.zeros(self.size, dtype=grad_output.dtype)
        full[self.start:self.start + grad_output.size] = grad_output.reshape(-1)
        return (full,)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.shape import cat

        self.owner.reached.add(self.index)
        n, dtype = grad_output.data.size, grad_output.data.dtype
        before = Tensor(np.zeros(self.start, dtype=dtype))
        after = Tensor(np.zeros(self.size - self.start - n, dtype=dtype))
        return (cat([before, grad_output.reshape(-1), after]),)


def gate(tensors: list[Tensor], callback: Callable[[list], list],
         missing_as_none: bool = False) -> list[Tensor]:
    """The tensors again, through one identity op whose backward hands their gradients (numpy
    arrays, in order) to ``callback`` and passes on what it returns. Several tensors are
    packed into one flat array and unpacked again, so the callback sees all their gradients
    at once; one whose copy reached no loss gets zeros, or None with ``missing_as_none``
    (PyTorch's hooks: None in grad_output, zeros in grad_input)."""
    if len(tensors) > 1 and len({t.dtype for t in tensors}) > 1:
        raise TypeError("backward hooks: a module's tensor inputs (or outputs) that need "
                        "gradients must share one dtype, got "
                        f"{sorted({str(t.dtype) for t in tensors})}")
    op = Gate(callback, missing_as_none)
    joined = op(*tensors)
    if len(tensors) == 1:
        return [joined]
    out, start = [], 0
    for i, t in enumerate(tensors):
        out.append(Unpack(op, i, start, t.shape)(joined))
        start += t.data.size
    return out


def _replacement(result, reference: tuple, what: str) -> tuple:
    """A hook's returned gradients, checked against the ones it was given."""
    result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(result) != len(reference):
        raise RuntimeError(f"{what}: a hook returned {len(result)} gradients for "
                           f"{len(reference)}")
    out = []
    for i, (new, old) in enumerate(zip(result, reference)):
        if new is None or old is None:  # a None given back: no gradient, as torch's
            out.append(None)
            continue
        if isinstance(new, Tensor) and new.dtype != old.dtype:  # torch refuses a cast
            raise RuntimeError(f"{what}: a hook has changed the type of value (was "
                               f"{np.dtype(old.dtype).name} got {np.dtype(new.dtype).name})")
        new = np.asarray(new.data if isinstance(new, Tensor) else new, dtype=old.dtype)
        if new.shape != old.shape:
            raise RuntimeError(f"{what}: a hook returned a gradient of shape {new.shape} for "
                               f"one of shape {old.shape} (entry {i})")
        out.append(new)
    return tuple(out)


class BackwardHookCall:
    """One call of a module with backward hooks: its tensor inputs and outputs are gated
    (``gate``) so that, in the backward pass, ``hook(module, grad_output)`` (pre-hooks) runs
    when the outputs' gradients are known and ``hook(module, grad_input, grad_output)`` when
    the inputs' are; either may return replacements, as in PyTorch."""

    def __init__(self, module, hooks: dict, pre_hooks: dict):
        self.module = module
        self.hooks = list((hooks or {}).values())
        self.pre_hooks = list((pre_hooks or {}).values())
        self.grad_output: tuple | None = None  # set when the outputs' gradients pass
        self.num_inputs = 0
        self.gated_inputs: list[int] = []

    def gate_inputs(self, args: tuple) -> tuple:
        # grad_input has one entry per positional argument, as torch's: None for one that is
        # not a tensor, zeros for a tensor that needs no gradient (when another one does)
        self.num_inputs = len(args)
        self.gated_inputs = [i for i, a in enumerate(args)
                             if isinstance(a, Tensor) and a.requires_grad]
        if not self.gated_inputs:
            return args
        self.zero_inputs = [(i, a.shape, a.data.dtype) for i, a in enumerate(args)
                            if isinstance(a, Tensor) and not a.requires_grad]
        args = list(args)
        chosen = self.gated_inputs
        for i, t in zip(chosen, gate([args[i] for i in chosen], self._on_inputs)):
            args[i] = t
        return tuple(args)

    def gate_outputs(self, out):
        single = isinstance(out, Tensor)
        outputs = [out] if single else list(out) if isinstance(out, (tuple, list)) else []
        chosen = [i for i, t in enumerate(outputs) if isinstance(t, Tensor) and t.requires_grad]
        if not chosen:
            return out
        self.num_outputs = len(outputs)
        self.output_positions = chosen
        for i, t in zip(chosen, gate([outputs[i] for i in chosen], self._on_outputs,
                                     missing_as_none=True)):
            outputs[i] = t
        return outputs[0] if single else type(out)(outputs)

    def _on_outputs(self, grads: list) -> list:
        grad_output = [None] * self.num_outputs
        for i, g in zip(self.output_positions, grads):
            grad_output[i] = g
        grad_output = tuple(grad_output)
        for hook in self.pre_hooks:
            result = hook(self.module, _shown(grad_output))
            if result is not None:
                grad_output = _replacement(result, grad_output, "register_full_backward_pre_hook")
        self.grad_output = _shown(grad_output)  # hooks get Tensors, as torch's
        if not self.gated_inputs:  # no input needs a gradient: the hooks hear of it now
            # torch warns here whatever hooks there are (pre-hooks alone too)
            warnings.warn("Full backward hook is firing when gradients are computed with respect "
                          "to module outputs since no inputs require gradients. See "
                          "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                          "#torch.nn.Module.register_full_backward_hook for more details.",
                          UserWarning, stacklevel=2)
            for hook in self.hooks:
                result = hook(self.module, (None,) * self.num_inputs, self.grad_output)
                if result is not None and not (isinstance(result, tuple)
                                               and all(g is None for g in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires "
                                       "gradient should always return None or None for all "
                                       "gradients.")
        return [grad_output[i] for i in self.output_positions]

    def _on_inputs(self, grads: list) -> list:
        if self.grad_output is None:  # a gradient that reached the inputs without passing
            return grads  # the outputs (a double backward): no hook hears of it, as torch's
        grad_input = [None] * self.num_inputs
        for k, g in zip(self.gated_inputs, grads):
            grad_input[k] = g
        for k, shape, dtype in self.zero_inputs:
            grad_input[k] = np.zeros(shape, dtype)
        grad_input = tuple(grad_input)
        for hook in self.hooks:
            result = hook(self.module, _shown(grad_input), self.grad_output)
            if result is not None:
                grad_input = _replacement(result, grad_input, "register_full_backward_hook")
        self.grad_output = None
        return [grad_input[k] for k in self.gated_inputs]
