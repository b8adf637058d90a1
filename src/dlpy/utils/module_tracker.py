"""``torch.utils.module_tracker.ModuleTracker``: which modules are running, forward or backward.

    with ModuleTracker() as tracker:
        model(x)          # inside, tracker.parents == {"Global", "MLP", "MLP.layers", ...}

Module names are torch's: the class name of the module first called, then attribute names
(``MLP.layers.0``). While the block runs, ``Module.__call__`` is swapped for one that adds the
module's name to ``parents`` around its forward, and every op records the ``parents`` it ran
under; in backward, while an op's gradient is computed, ``parents`` are those it recorded and
``is_bw`` is True (torch gets there with tensor hooks; the result is the same for a module tree,
and also for modules that return their input, where torch's hooks lose track).
"""

from __future__ import annotations

import weakref

from dlpy.autograd_function import swap_call_sites

__all__ = ["ModuleTracker"]

GLOBAL = "Global"
_ORDER = 1  # swap_call_sites layer: outside the flop counter's (0), which reads parents_of


class ModuleTracker:
    """Tracks the running modules by name: ``parents`` (a set, always holding "Global") and
    ``is_bw`` (whether an op's backward is running)."""

    def __init__(self) -> None:
        self.parents: set[str] = {GLOBAL}
        self._known_modules: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._seen_modules: weakref.WeakSet = weakref.WeakSet()
        self._op_parents: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._in_backward = 0
        self._saved_call = None
        self._swap = None

    @property
    def is_bw(self) -> bool:
        """True while the backward of an op recorded in this block runs."""
        return self._in_backward > 0

    def parents_of(self, op) -> frozenset[str]:
        """The modules that were running when ``op`` was recorded ({"Global"} if unknown)."""
        return self._op_parents.get(op, frozenset((GLOBAL,)))

    def _get_mod_name(self, module) -> str:
        if module not in self._known_modules:
            self._known_modules[module] = type(module).__name__
        name = self._known_modules[module]
        if module not in self._seen_modules:
            for child_name, child in module.named_children():
                self._known_modules[child] = f"{name}.{child_name}"
                self._get_mod_name(child)
            self._seen_modules.add(module)
        return name

    def _tracked_call(self, plain):
        tracker = self

        def tracked_call(module, *args, **kwargs):
            name = tracker._get_mod_name(module)
            entered = name not in tracker.parents
            tracker.parents.add(name)
            try:
                return plain(module, *args, **kwargs)
            finally:
                if entered:
                    tracker.parents.discard(name)

        return tracked_call

    def _recording_op_call(self, inner):
        def op_call(op, *inputs):
            out = inner(op, *inputs)
            self._op_parents[op] = frozenset(self.parents)
            return out

        return op_call

    def _backward(self, inner):
        def backward(op, grad_output, *rest):
            saved = self.parents
            self.parents = set(self.parents_of(op))
            self._in_backward += 1
            try:
                return inner(op, grad_output, *rest)
            finally:
                self._in_backward -= 1
                self.parents = saved

        return backward

    def __enter__(self) -> ModuleTracker:
        from dlpy.nn.module import Module

        if self._swap is not None:
            raise RuntimeError("ModuleTracker: this tracker is already active (not reentrant)")
        self._saved_call = Module.__call__
        Module.__call__ = self._tracked_call(self._saved_call)
        self._swap = swap_call_sites(_ORDER, op_call=self._recording_op_call,
                                     checked_grads=self._backward,
                                     checked_graph_grads=self._backward)
        self._swap.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        from dlpy.nn.module import Module

        if self._swap is None:
            return
        self._swap.__exit__(None, None, None)
        self._swap = None
        Module.__call__ = self._saved_call
        self._saved_call = None
        self.parents = {GLOBAL}
