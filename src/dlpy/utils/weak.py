"""torch.utils.weak: weak references and a dictionary keyed by object identity.

- ``WeakIdRef(obj, callback=None)``: a ``weakref.ref`` hashed and compared by the identity of
  its referent (two refs to one live object are equal; once dead, a ref equals only itself),
  so objects whose ``==`` is elementwise (Tensors) can be keys;
- ``WeakIdKeyDictionary`` (also ``WeakTensorKeyDictionary``): a mutable mapping whose keys are
  held weakly and looked up by identity; an entry goes when its key object dies (entries
  dying while the dictionary is being iterated go when the iteration ends);
- ``TensorWeakRef(tensor)``: a weak reference to a Tensor (AssertionError for anything else).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Mapping, MutableMapping
from typing import Any

from dlpy.tensor import Tensor

__all__ = ["TensorWeakRef", "WeakIdKeyDictionary", "WeakIdRef", "WeakTensorKeyDictionary"]

WeakRef = weakref.ref


class WeakIdRef(weakref.ref):
    """A weak reference hashed by ``id`` of its referent, equal to another when both
    referents are alive and the same object (a dead reference is equal only to itself)."""

    __slots__ = ("_id",)

    def __init__(self, key, callback=None) -> None:
        self._id = id(key)
        super().__init__(key, callback)

    def __hash__(self) -> int:
        return self._id

    def __eq__(self, other) -> bool:
        a, b = self(), other()
        if a is not None and b is not None:
            return a is b
        return self is other


class _IterationGuard:
    """Marks a WeakIdKeyDictionary as being iterated: keys dying meanwhile are removed at the
    end of the last iteration (a dict must not change size while iterated)."""

    def __init__(self, container: WeakIdKeyDictionary) -> None:
        self.container = weakref.ref(container)

    def __enter__(self) -> _IterationGuard:
        container = self.container()
        if container is not None:
            container._iterating.add(self)
        return self

    def __exit__(self, *exc) -> None:
        container = self.container()
        if container is not None:
            container._iterating.discard(self)
            if not container._iterating:
                container._commit_removals()


class WeakIdKeyDictionary(MutableMapping):
    """A dictionary whose keys are held weakly (``ref_type``, WeakIdRef by default) and
    matched by identity: ``d[t] = v`` for a Tensor ``t`` never calls ``t == other``, and the
    entry disappears when ``t`` dies. ``dict`` (a mapping or pairs) fills it first."""

    def __init__(self, dict=None, ref_type=WeakIdRef) -> None:  # noqa: A002 - torch's name
        self.data: dict = {}
        self.ref_type = ref_type

        self_ref = weakref.ref(self)  # (the callback must not keep the dictionary alive)

        def remove(ref) -> None:
            owner = self_ref()
            if owner is None:
                return
            if owner._iterating:
                owner._pending_removals.append(ref)
            else:
                owner.data.pop(ref, None)

        self._remove = remove
        self._pending_removals: list = []
        self._iterating: set = set()
        if dict is not None:
            self.update(dict)

    def _commit_removals(self) -> None:
        while self._pending_removals:
            self.data.pop(self._pending_removals.pop(), None)

    def __getitem__(self, key):
        return self.data[self.ref_type(key)]

    def __setitem__(self, key, value) -> None:
        self.data[self.ref_type(key, self._remove)] = value

    def __delitem__(self, key) -> None:
        del self.data[self.ref_type(key)]

    def __len__(self) -> int:
        pending = sum(1 for ref in set(self._pending_removals) if ref in self.data)
        return len(self.data) - pending

    def __contains__(self, key) -> bool:
        try:
            ref = self.ref_type(key)
        except TypeError:  # (an object that cannot be weakly referenced is never a key)
            return False
        return ref in self.data

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x}>"

    def get(self, key, default=None):
        return self.data.get(self.ref_type(key), default)

    def items(self):
        with _IterationGuard(self):
            for ref, value in list(self.data.items()):
                key = ref()
                if key is not None:
                    yield key, value

    def keys(self):
        with _IterationGuard(self):
            for ref in list(self.data):
                key = ref()
                if key is not None:
                    yield key

    __iter__ = keys

    def values(self):
        with _IterationGuard(self):
            for ref, value in list(self.data.items()):
                if ref() is not None:
                    yield value

    def keyrefs(self) -> list:
        """The weak references to the keys (check each is alive before use)."""
        return list(self.data)

    def pop(self, key, *default):
        return self.data.pop(self.ref_type(key), *default)

    def popitem(self):
        while True:
            ref, value = self.data.popitem()
            key = ref()
            if key is not None:
                return key, value

    def setdefault(self, key, default=None):
        return self.data.setdefault(self.ref_type(key, self._remove), default)

    def update(self, dict=None, **kwargs) -> None:  # noqa: A002 - torch's name
        if dict is not None:
            pairs = dict.items() if hasattr(dict, "items") else dict
            for key, value in pairs:
                self.data[self.ref_type(key, self._remove)] = value
        if kwargs:
            self.update(kwargs)

    def copy(self) -> WeakIdKeyDictionary:
        new = WeakIdKeyDictionary()
        for key, value in self.items():
            new[key] = value
        return new

    __copy__ = copy

    def __deepcopy__(self, memo) -> WeakIdKeyDictionary:
        new = type(self)()
        for key, value in self.items():
            new[key] = copy.deepcopy(value, memo)
        return new

    def __ior__(self, other):
        self.update(other)
        return self

    def __or__(self, other):
        if not isinstance(other, Mapping):
            return NotImplemented
        new = self.copy()
        new.update(other)
        return new

    def __ror__(self, other):
        if not isinstance(other, Mapping):
            return NotImplemented
        new = type(self)()
        new.update(other)
        new.update(self)
        return new

    def __eq__(self, other) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {id(k): v for k, v in self.items()} == {id(k): v for k, v in other.items()}

    __hash__ = None


WeakTensorKeyDictionary = WeakIdKeyDictionary


class TensorWeakRef:
    """A weak reference to a Tensor: ``TensorWeakRef(t)()`` is ``t`` while it lives, then
    None."""

    ref: Any

    def __init__(self, tensor: Tensor) -> None:
        if not isinstance(tensor, Tensor):
            raise AssertionError(f"expected torch.Tensor, got {type(tensor)}.")
        self.ref = weakref.ref(tensor)

    def __call__(self):
        return self.ref()
