"""``torch.utils`` as dlpy spells it: ``dlpy.utils.checkpoint`` (activation checkpointing);
``benchmark`` (Timer, Compare), ``flop_counter`` (FlopCounterMode), ``module_tracker``,
``_pytree``, ``dlpack`` and ``hooks`` (RemovableHandle), imported on first use; and
``swap_tensors``. Datasets and loaders are ``dlpy.data``."""

import copyreg
import importlib
import weakref

from dlpy.utils import checkpoint

_LAZY = ("_pytree", "_python_dispatch", "benchmark", "dlpack", "flop_counter", "hooks",
         "module_tracker")
__all__ = ["benchmark", "checkpoint", "dlpack", "flop_counter", "hooks", "module_tracker",
           "swap_tensors"]


def _view_refs(t) -> list:
    """The weak references dlpy itself holds to ``t``: its base's list of views (tensor.py's
    ``_note_view``), if ``t`` is a view."""
    base = getattr(t, "_view_of", None)
    views = getattr(base, "_views", None) or ()
    return [ref for ref in views if ref() is t]


def swap_tensors(t1, t2) -> None:
    """torch.utils.swap_tensors: ``t1`` and ``t2`` exchange their contents (class, attributes
    set on them, values, gradient, graph and hooks) while each keeps its identity, so every
    reference held to ``t1`` (a module's, an optimiser's) now sees what ``t2`` held.

    As torch's, refused (RuntimeError) when either has a weak reference (dlpy's own, from a
    base to its views, excepted: those are moved to follow the contents) or when the two
    classes' slots differ. torch's check that nothing else holds the tensors (their use
    count) has no counterpart: Python's reference counts are not the tensor's uses."""
    own = {1: _view_refs(t1), 2: _view_refs(t2)}
    for number, t in ((1, t1), (2, t2)):
        if len(weakref.getweakrefs(t)) > len(own[number]):
            raise RuntimeError(f"Cannot swap t{number} because it has weakref associated with it")
    t1_slots = set(copyreg._slotnames(t1.__class__))
    t2_slots = set(copyreg._slotnames(t2.__class__))
    if t1_slots != t2_slots:
        raise RuntimeError("Cannot swap t1 and t2 if they have different slots")
    bases = {id(b): b for b in (getattr(t1, "_view_of", None), getattr(t2, "_view_of", None))
             if b is not None}

    def swap_attr(name: str) -> None:
        tmp = getattr(t1, name)
        setattr(t1, name, getattr(t2, name))
        setattr(t2, name, tmp)

    swap_attr("__class__")
    swap_attr("__dict__")
    for slot in t1_slots:
        if hasattr(t1, slot) and hasattr(t2, slot):
            swap_attr(slot)
        elif hasattr(t1, slot):
            setattr(t2, slot, getattr(t1, slot))
            delattr(t1, slot)
        elif hasattr(t2, slot):
            setattr(t1, slot, getattr(t2, slot))
            delattr(t2, slot)
    # a base's references to its views follow the view's contents to the other object
    other = {id(t1): t2, id(t2): t1}
    for base in bases.values():
        base._views = [weakref.ref(other[id(ref())]) if id(ref()) in other else ref
                       for ref in base._views]


def set_module(obj, mod: str) -> None:
    """torch.utils.set_module: set ``obj.__module__`` to ``mod`` (for nicer printing); ``mod``
    must be a string (TypeError otherwise, as torch's)."""
    if not isinstance(mod, str):
        raise TypeError("The mod argument should be a string")
    obj.__module__ = mod


__all__ += ["set_module"]
_LAZY += ("collect_env", "deterministic")


def __dir__() -> list[str]:
    """The module's names and the submodules imported on first use (as torch's dir lists
    them)."""
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_FROM))


# torch.utils' names from its submodules (imported on first use)
_LAZY_FROM = {"ThroughputBenchmark": "throughput_benchmark",
              "rename_privateuse1_backend": "backend_registration",
              "generate_methods_for_privateuse1_backend": "backend_registration"}
_LAZY += ("backend_registration", "throughput_benchmark")
__all__ += ["ThroughputBenchmark", "generate_methods_for_privateuse1_backend",
            "rename_privateuse1_backend"]


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"dlpy.utils.{name}")
    if name in _LAZY_FROM:
        return getattr(importlib.import_module(f"dlpy.utils.{_LAZY_FROM[name]}"), name)
    raise AttributeError(f"module 'dlpy.utils' has no attribute {name!r}")
