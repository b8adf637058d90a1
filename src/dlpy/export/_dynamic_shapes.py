"""torch.export's builders of ``dynamic_shapes``: ``ShapesCollection`` (specs keyed by the
input tensors themselves) and ``AdditionalInputs`` (specs inferred from more example inputs).
Both give the ``dynamic_shapes`` structure ``export`` reads (a dict by argument name, each
entry in the structure of its input); ``export`` also takes either object directly."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from dlpy.ops import ArgAssertionError
from dlpy.tensor import Tensor
from dlpy.utils import _pytree as pytree

__all__ = ["AdditionalInputs", "Constraint", "ShapesCollection"]


class Constraint:
    """torch.export.Constraint: the type of a constraint on a dynamic dimension (torch's is
    a union of its private constraint classes). dlpy states its constraints with ``Dim``
    (``Dim("batch", min=1, max=64)``) and never makes one of these."""


class _TypeAssertionError(TypeError, AssertionError):
    """A value of the wrong type given to a builder (torch's AssertionError)."""


def combine_args(mod: Any, args: tuple, kwargs: dict | None) -> dict[str, Any]:
    """``args``/``kwargs`` bound to ``mod.forward``'s parameters, by name, as the call would
    bind them (``*args`` a tuple, ``**kwargs`` a dict): the structure ``dynamic_shapes``
    follows."""
    forward = mod.forward if hasattr(mod, "forward") else mod
    return dict(inspect.signature(forward).bind(*args, **(kwargs or {})).arguments)


def _map(fn, tree: Any) -> Any:
    """``fn`` applied to each leaf of ``tree`` (a tensor is a leaf), the structure kept."""
    return pytree.tree_map(fn, tree, is_leaf=lambda v: isinstance(v, (Tensor, np.ndarray)))


class ShapesCollection:
    """Dynamic shapes keyed by the input tensors: ``sc[x] = {0: Dim.AUTO}`` (or a tuple per
    dim); ``sc.dynamic_shapes(m, args, kwargs)`` is the ``dynamic_shapes`` structure for those
    inputs, each tensor found by identity wherever it is (in a list, a dict, ...) and every
    other input None. ``sc[t]`` reads (and starts, as ``{}``) the spec of ``t``."""

    def __init__(self):
        self._shapes: dict[int, Any] = {}

    def __setitem__(self, t: Any, shape: Any) -> None:
        if not isinstance(t, (Tensor, np.ndarray)):
            raise _TypeAssertionError(f"Cannot assign shape to non-tensor or non-_IntWrapper "
                                      f"type {type(t)}")
        known = self._shapes.get(id(t))
        if known is not None and known != shape:
            raise ArgAssertionError(f"Shapes assigned to input do not match: expected {known}, "
                                    f"got {shape}")
        self._shapes.setdefault(id(t), shape)

    def __getitem__(self, t: Any) -> Any:
        return self._shapes.setdefault(id(t), {})

    def __len__(self) -> int:
        return len(self._shapes)

    def dynamic_shapes(self, m: Any, args: tuple, kwargs: dict | None = None) -> dict[str, Any]:
        """The ``dynamic_shapes`` of ``m`` called on ``args``/``kwargs``: a dict by argument
        name in the inputs' structure, the assigned spec at each tensor given one. A tensor
        given a spec but not among the inputs (a copy was passed) is a ValueError."""
        found: set[int] = set()

        def find(value: Any) -> Any:
            if id(value) in self._shapes:
                found.add(id(value))
                return self._shapes[id(value)]
            return None

        result = _map(find, combine_args(m, args, kwargs))
        if any(key not in found for key in self._shapes):
            raise ValueError("Some tensors that were assigned shapes were not found in args. "
                             "Maybe such tensors were copied when passing them as args? Maybe "
                             "such tensors are contained in classes that were not registered "
                             "with pytree?")
        return result


class AdditionalInputs:
    """Dynamic shapes inferred from more example inputs: ``ai.add(args, kwargs)`` for each;
    ``ai.dynamic_shapes(m, args, kwargs)`` marks ``Dim.DYNAMIC`` every tensor dim (and int
    input) whose size differs between the export's example and an added one, None the others
    (a tuple per tensor). ``verify(ep)`` runs ``ep.module()``'s input checks on each added
    input."""

    def __init__(self):
        self._examples: list[tuple[tuple, dict | None]] = []

    def add(self, args: tuple, kwargs: dict | None = None) -> None:
        """One more example: positional ``args`` (a tuple) and ``kwargs`` (None or a dict)."""
        if type(args) is not tuple:
            raise _TypeAssertionError(f"Representative args {args} must be a tuple")
        if kwargs is not None and type(kwargs) is not dict:
            raise _TypeAssertionError(f"Representative kwargs {kwargs} must be None or a dict")
        self._examples.append((args, kwargs))

    def dynamic_shapes(self, m: Any, args: tuple, kwargs: dict | None = None) -> dict[str, Any]:
        """``dynamic_shapes`` for ``m`` from the example ``args``/``kwargs`` and the added
        ones: every example must have the same structure (a ValueError names the
        mismatch); a tensor's entry is a tuple (``Dim.DYNAMIC`` where its size varies), an
        int's ``Dim.DYNAMIC`` or None; other values must be equal in all examples."""
        from dlpy.export import Dim

        shapes = [_map(lambda v: tuple(int(s) for s in np.shape(
            v.data if isinstance(v, Tensor) else v)) if isinstance(v, (Tensor, np.ndarray))
            else v, combine_args(m, a, k)) for a, k in [(args, kwargs), *self._examples]]
        first, others = shapes[0], shapes[1:]
        is_int = lambda v: type(v) is int  # noqa: E731 - (the sizes of a shape are leaves)
        leaves, spec = pytree.tree_flatten(first, is_leaf=is_int)
        columns = [leaves]
        for other in others:
            other_leaves, other_spec = pytree.tree_flatten(other, is_leaf=is_int)
            _check_same(spec, other_spec)
            columns.append(other_leaves)

        def mark(v: Any, *rest: Any) -> Any:
            if not all(type(v) is type(o) for o in rest):
                raise ValueError(f"The following inputs were found to have differing types, "
                                 f"so they cannot be marked as dynamic: {(v, *rest)}.")
            if isinstance(v, int) and not isinstance(v, bool):
                return None if all(o == v for o in rest) else Dim.DYNAMIC
            if not all(_equal(o, v) for o in rest):
                raise ValueError(f"The following inputs were found to have differing values, "
                                 f"but they cannot be marked as dynamic: {(v, *rest)}.")
            return None

        return pytree.tree_unflatten([mark(*column) for column in zip(*columns)], spec)

    def verify(self, ep: Any) -> None:
        """Check that ``ep.module()`` accepts every added input (its shape checks: an error
        when one does not fit the exported program)."""
        from dlpy.export._program import _InputCheck, _InputFlatten

        owner = type(ep._root).__name__
        for args, kwargs in self._examples:
            flat = tuple(args)
            if ep.call_spec.in_spec is not None and ep._input_paths is not None:
                flat, _ = _InputFlatten(ep.call_spec.in_spec, ep._input_paths)(
                    None, tuple(args), dict(kwargs or {}))
            _InputCheck(owner, ep._user_inputs, ep.range_constraints)(None, flat)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values without a plain equality differ
        return False


def _check_same(spec: Any, other: Any) -> None:
    """A ValueError when two examples' structures differ (torch's wording)."""
    if spec.is_leaf() or other.is_leaf():
        if spec.is_leaf() != other.is_leaf():
            expected = "leaf" if spec.is_leaf() else spec.type
            got = "leaf" if other.is_leaf() else other.type
            raise ValueError(f"Node type mismatch; expected {expected}, but got {got}.")
        return
    if spec.type is not other.type:
        raise ValueError(f"Node type mismatch; expected {spec.type}, but got {other.type}.")
    if spec.num_children != other.num_children:
        raise ValueError(f"Node arity mismatch; expected {spec.num_children}, but got "
                         f"{other.num_children}.")
    if spec.type is dict and list(spec.context) != list(other.context) \
            and set(spec.context) != set(other.context):
        raise ValueError(f"Node context mismatch for custom node type {spec.type}.")
    for a, b in zip(spec.children(), other.children()):
        _check_same(a, b)
