"""``torch.utils._pytree``: nested containers flattened to a list of leaves and a ``TreeSpec``
that rebuilds them.

Nodes are tuples, lists, dicts (keys in insertion order, as torch), namedtuples, OrderedDict,
defaultdict, deque and any type given to ``register_pytree_node``; everything else (None
included, as torch 2.13's Python pytree; subclasses of the node types too) is a leaf.
``TreeSpec`` is frozen, and its repr, equality, hash and error messages are torch's. Several
trees are mapped together when the others have the first's structure down to its leaves
(``flatten_up_to``): dict, OrderedDict and defaultdict stand for one another (matched by key),
a deque's maxlen is not compared, other types and a custom node's context must match. Key
paths (``tree_flatten_with_path``, ``keystr``, ``key_get``) name each leaf by ``SequenceKey``,
``MappingKey`` and ``GetAttrKey`` entries; a custom node has them when registered with
``flatten_with_keys_fn``. ``treespec_dumps``/``treespec_loads`` write a spec as torch's JSON
(protocol 1) and read it back, for the types registered with a ``serialized_type_name``.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import importlib
import json
import types
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from dlpy.size import Size as _Size

__all__ = [
    "GetAttrKey", "LeafSpec", "MappingKey", "PyTree", "SequenceKey", "TreeSpec", "is_namedtuple",
    "is_namedtuple_class", "is_namedtuple_instance", "key_get", "keystr", "map_only",
    "register_constant", "register_dataclass", "register_pytree_node", "tree_all",
    "tree_all_only", "tree_any", "tree_any_only",
    "tree_flatten", "tree_flatten_with_path", "tree_is_leaf", "tree_iter", "tree_leaves",
    "tree_leaves_with_path", "tree_map", "tree_map_", "tree_map_only", "tree_map_only_",
    "tree_map_with_path", "tree_structure", "tree_unflatten", "treespec_dict", "treespec_leaf",
    "treespec_dumps", "treespec_loads", "treespec_pprint", "treespec_tuple",
]

PyTree = Any
Context = Any


class NodeDef(NamedTuple):
    type: type
    flatten_fn: Callable[[Any], tuple[list, Context]]
    unflatten_fn: Callable[[Iterable, Context], Any]
    flatten_with_keys_fn: Callable | None = None


SUPPORTED_NODES: dict[type, NodeDef] = {}


class _SerializeNodeDef(NamedTuple):
    type: type
    serialized_type_name: str
    to_dumpable_context: Callable | None
    from_dumpable_context: Callable | None


NO_SERIALIZED_TYPE_NAME_FOUND = "NO_SERIALIZED_TYPE_NAME_FOUND"
DEFAULT_TREESPEC_SERIALIZATION_PROTOCOL = 1
SUPPORTED_SERIALIZED_TYPES: dict[type, _SerializeNodeDef] = {}
SERIALIZED_TYPE_TO_PYTHON_TYPE: dict[str, type] = {}


def register_pytree_node(cls: type, flatten_fn: Callable, unflatten_fn: Callable, *,
                         serialized_type_name: str | None = None,
                         to_dumpable_context: Callable | None = None,
                         from_dumpable_context: Callable | None = None,
                         flatten_with_keys_fn: Callable | None = None) -> None:
    """Makes ``cls`` a node: ``flatten_fn(obj) -> (children, context)`` and
    ``unflatten_fn(children, context) -> obj``; ``flatten_with_keys_fn(obj) -> ([(key entry,
    child), ...], context)`` gives its children key paths. The serialization arguments are
    checked (both dumpable-context functions or neither) and unused (dlpy has no treespec
    serialization)."""
    if cls in SUPPORTED_NODES:
        raise ValueError(f"{cls} is already registered as pytree node.")
    if not callable(flatten_fn) or not callable(unflatten_fn):
        raise TypeError(f"register_pytree_node: flatten_fn and unflatten_fn must be "
                        f"callable, got {type(flatten_fn).__name__} and "
                        f"{type(unflatten_fn).__name__}")
    if (to_dumpable_context is None) ^ (from_dumpable_context is None):
        raise ValueError(f"Both to_dumpable_context and from_dumpable_context for {cls} must "
                         "be None or registered.")
    SUPPORTED_NODES[cls] = NodeDef(cls, flatten_fn, unflatten_fn, flatten_with_keys_fn)
    name = NO_SERIALIZED_TYPE_NAME_FOUND if serialized_type_name is None \
        else serialized_type_name
    SUPPORTED_SERIALIZED_TYPES[cls] = _SerializeNodeDef(cls, name, to_dumpable_context,
                                                        from_dumpable_context)
    SERIALIZED_TYPE_TO_PYTHON_TYPE[name] = cls


def register_dataclass(cls: type, *, field_names: list[str] | None = None,
                       drop_field_names: list[str] | None = None,
                       serialized_type_name: str | None = None) -> None:
    """Makes the dataclass ``cls`` a node whose children are its fields (``field_names``, by
    default every field set by ``__init__``, less ``drop_field_names``, which are left to
    their defaults when unflattening); key paths name the fields (``GetAttrKey``)."""
    if field_names is None:
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"register_dataclass: {cls} is not a dataclass; pass "
                             f"field_names to register it")
        dropped = set(drop_field_names or ())
        field_names = [f.name for f in dataclasses.fields(cls)
                       if f.init and f.name not in dropped]
    names = list(field_names)

    def flatten(obj):
        return [getattr(obj, name) for name in names], names

    def unflatten(values, context):
        return cls(**dict(zip(context, values)))

    def flatten_with_keys(obj):
        return [(GetAttrKey(name), getattr(obj, name)) for name in names], names

    register_pytree_node(cls, flatten, unflatten, serialized_type_name=serialized_type_name,
                         flatten_with_keys_fn=flatten_with_keys)


def register_constant(cls: type) -> None:
    """Makes instances of ``cls`` (hashable, with ``__eq__``) constants: nodes without
    children whose value is kept in the treespec (flattening gives no leaf for them;
    unflattening gives the value back; two specs are equal when the constants are)."""
    if cls.__hash__ is None or cls.__eq__ is object.__eq__:
        raise TypeError(f"register_constant: {cls} must be hashable and define __eq__ to be "
                        f"a pytree constant")

    register_pytree_node(cls, lambda obj: ([], obj), lambda values, obj: obj,
                         flatten_with_keys_fn=lambda obj: ([], obj))


# ----------------------------------------------------------------- key path entries
@dataclasses.dataclass(frozen=True, slots=True)
class SequenceKey:
    """A child of a tuple, list or deque, by position: printed ``[0]``."""
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx!r}]"

    def get(self, sequence):
        return sequence[self.idx]


@dataclasses.dataclass(frozen=True, slots=True)
class MappingKey:
    """A value of a dict, by key: printed ``['a']``."""
    key: Any

    def __str__(self) -> str:
        return f"[{self.key!r}]"

    def get(self, mapping):
        return mapping[self.key]


@dataclasses.dataclass(frozen=True, slots=True)
class GetAttrKey:
    """A field of a namedtuple (or an attribute of a custom node): printed ``.name``."""
    name: str

    def __str__(self) -> str:
        return f".{self.name}"

    def get(self, obj):
        return getattr(obj, self.name)


def keystr(kp: tuple) -> str:
    """A key path printed: ``[0]['a'].x``."""
    return "".join(str(k) for k in kp)


def key_get(obj: Any, kp: tuple) -> Any:
    """The subtree of ``obj`` at key path ``kp``."""
    for k in kp:
        obj = k.get(obj)
    return obj


# ----------------------------------------------------------------- the built-in nodes
def is_namedtuple_class(cls: type) -> bool:
    """Whether ``cls`` is a namedtuple class (a tuple subclass with ``_fields`` of strings,
    ``_make`` and ``_asdict``)."""
    return (isinstance(cls, type) and issubclass(cls, tuple)
            and isinstance(getattr(cls, "_fields", None), tuple)
            and all(type(field) is str for field in cls._fields)
            and callable(getattr(cls, "_make", None))
            and callable(getattr(cls, "_asdict", None)))


def is_namedtuple(obj: Any) -> bool:
    """Whether ``obj`` is a namedtuple instance or class."""
    return is_namedtuple_class(obj if isinstance(obj, type) else type(obj))


def is_namedtuple_instance(obj: Any) -> bool:
    return is_namedtuple_class(type(obj))


def _dict_flatten(d: dict):
    return list(d.values()), list(d.keys())


def _dict_keys(d: dict):
    values, keys = _dict_flatten(d)
    return [(MappingKey(k), v) for k, v in zip(keys, values)], keys


def _sequence_keys(flatten: Callable) -> Callable:
    def with_keys(d):
        values, context = flatten(d)
        return [(SequenceKey(i), v) for i, v in enumerate(values)], context
    return with_keys


def _namedtuple_flatten(d):
    return list(d), type(d)


def _namedtuple_keys(d):
    return [(GetAttrKey(f), v) for f, v in zip(type(d)._fields, d)], type(d)


def _defaultdict_flatten(d):
    return list(d.values()), [d.default_factory, list(d.keys())]


def _defaultdict_keys(d):
    values, context = _defaultdict_flatten(d)
    return [(MappingKey(k), v) for k, v in zip(context[1], values)], context


def _tuple_flatten(t):
    return list(t), None


# torch's private names of the builtin nodes' functions (libraries registering their own
# dict-like nodes pass ``flatten_with_keys_fn=_dict_flatten_with_keys``: transformers' outputs)
_list_flatten = _tuple_flatten
_dict_flatten_with_keys = _dict_keys
_list_flatten_with_keys = _tuple_flatten_with_keys = _sequence_keys(_tuple_flatten)


def _dict_unflatten(values: Iterable, keys: list) -> dict:
    return dict(zip(keys, values))


def _list_unflatten(values: Iterable, context: Any) -> list:
    return list(values)


def _tuple_unflatten(values: Iterable, context: Any) -> tuple:
    return tuple(values)


def _deque_flatten(d):
    return list(d), d.maxlen


def _namedtuple_serialize(cls: type) -> str:
    node = SUPPORTED_SERIALIZED_TYPES.get(cls)
    if node is None:
        raise NotImplementedError(f"Can't serialize TreeSpec of namedtuple class {cls} because "
                                  f"we didn't register a serializated_type_name. Please register "
                                  f"using `_register_namedtuple`.")
    return node.serialized_type_name


def _namedtuple_deserialize(name: str) -> type:
    if name not in SERIALIZED_TYPE_TO_PYTHON_TYPE:
        raise NotImplementedError(f"Can't deserialize TreeSpec of namedtuple class {name} "
                                  f"because we couldn't find a serializated name.")
    return SERIALIZED_TYPE_TO_PYTHON_TYPE[name]


def _register_namedtuple(cls: type, *, serialized_type_name: str) -> None:
    """Gives the namedtuple class ``cls`` a name for ``treespec_dumps`` (its instances are
    nodes already)."""
    SUPPORTED_SERIALIZED_TYPES[cls] = _SerializeNodeDef(cls, serialized_type_name, None, None)
    SERIALIZED_TYPE_TO_PYTHON_TYPE[serialized_type_name] = cls


def _defaultdict_serialize(context) -> dict:
    factory, keys = context
    return {"default_factory_module": factory.__module__,
            "default_factory_name": factory.__qualname__, "dict_context": keys}


def _defaultdict_deserialize(dumpable: Any) -> list:
    expected = {"default_factory_module", "default_factory_name", "dict_context"}
    if not isinstance(dumpable, dict) or set(dumpable) != expected:
        raise AssertionError(f"dumpable_context keys must be {expected}, got {dumpable!r}")
    module = importlib.import_module(dumpable["default_factory_module"])
    return [getattr(module, dumpable["default_factory_name"]), dumpable["dict_context"]]


register_pytree_node(tuple, _tuple_flatten, lambda values, _: tuple(values),
                     serialized_type_name="builtins.tuple",
                     flatten_with_keys_fn=_sequence_keys(_tuple_flatten))
register_pytree_node(list, _tuple_flatten, lambda values, _: list(values),
                     serialized_type_name="builtins.list",
                     flatten_with_keys_fn=_sequence_keys(_tuple_flatten))
register_pytree_node(dict, _dict_flatten, lambda values, keys: dict(zip(keys, values)),
                     serialized_type_name="builtins.dict",
                     flatten_with_keys_fn=_dict_keys)
register_pytree_node(collections.namedtuple, _namedtuple_flatten,
                     lambda values, cls: cls(*values), flatten_with_keys_fn=_namedtuple_keys,
                     serialized_type_name="collections.namedtuple",
                     to_dumpable_context=_namedtuple_serialize,
                     from_dumpable_context=_namedtuple_deserialize)
register_pytree_node(collections.OrderedDict, _dict_flatten,
                     lambda values, keys: collections.OrderedDict(zip(keys, values)),
                     serialized_type_name="collections.OrderedDict",
                     flatten_with_keys_fn=_dict_keys)
register_pytree_node(collections.defaultdict, _defaultdict_flatten,
                     lambda values, context: collections.defaultdict(
                         context[0], zip(context[1], values)),
                     serialized_type_name="collections.defaultdict",
                     to_dumpable_context=_defaultdict_serialize,
                     from_dumpable_context=_defaultdict_deserialize,
                     flatten_with_keys_fn=_defaultdict_keys)
register_pytree_node(collections.deque, _deque_flatten,
                     lambda values, maxlen: collections.deque(values, maxlen=maxlen),
                     serialized_type_name="collections.deque",
                     flatten_with_keys_fn=_sequence_keys(_deque_flatten))
# torch.Size is a node too (torch registers it as it starts): its ints are leaves, and it
# comes back a plain tuple, as torch's (a Size holds only ints, a mapped tree may not)
register_pytree_node(_Size, _tuple_flatten, lambda values, _: tuple(values),
                     serialized_type_name="torch.Size",
                     flatten_with_keys_fn=_sequence_keys(_tuple_flatten))

_DICT_TYPES = frozenset({dict, collections.OrderedDict, collections.defaultdict})
_BUILTIN_TYPES = frozenset({tuple, list, collections.namedtuple, collections.deque}) | _DICT_TYPES


def _node_type(tree) -> Any:
    """The registry key of ``tree``'s type: namedtuple classes share one entry."""
    cls = type(tree)
    return collections.namedtuple if is_namedtuple_class(cls) else cls


def tree_is_leaf(tree: PyTree, is_leaf: Callable[[PyTree], bool] | None = None) -> bool:
    """Whether ``tree`` is a leaf: ``is_leaf(tree)`` says so, or its type is no node."""
    if is_leaf is not None and is_leaf(tree):
        return True
    return _node_type(tree) not in SUPPORTED_NODES


_is_leaf = tree_is_leaf
_get_node_type = _node_type  # torch's private name (Lightning's pytree helpers call it)


# ----------------------------------------------------------------- TreeSpec
class TreeSpec:
    """The structure of a pytree: its node ``type`` (None for a leaf), the ``context`` its
    flatten function returned (dict keys, a namedtuple class) and one spec per child
    (``children()``, ``child(i)``). Frozen, as torch's."""

    __slots__ = ("type", "_context", "_children", "num_nodes", "num_leaves", "num_children")

    def __init__(self, type: Any, context: Context, children_specs: list[TreeSpec]) -> None:  # noqa: A002
        children = list(children_specs)
        if type is None:
            if context is not None:
                raise AssertionError("leaf node should not have a context")
            if children:
                raise AssertionError("leaf node should not have children")
        init = object.__setattr__
        init(self, "type", type)
        init(self, "_context", context)
        init(self, "_children", children)
        init(self, "num_nodes", 1 + sum(child.num_nodes for child in children))
        init(self, "num_leaves", 1 if type is None
             else sum(child.num_leaves for child in children))
        init(self, "num_children", len(children))

    def __setattr__(self, name: str, value) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def context(self) -> Context:
        return self._context

    @property
    def children_specs(self) -> list[TreeSpec]:
        return self._children

    def is_leaf(self) -> bool:
        return self.num_nodes == 1 and self.num_leaves == 1

    def children(self) -> list[TreeSpec]:
        return list(self._children)

    def child(self, index: int) -> TreeSpec:
        return self._children[index]

    def __repr__(self, indent: int = 0) -> str:
        text = f"TreeSpec({self.type.__name__}, {self._context}, ["
        if self.num_children:
            indent += 2
            text += self._children[0].__repr__(indent)
            text += "," if self.num_children > 1 else ""
            text += ",".join("\n" + " " * indent + child.__repr__(indent)
                             for child in self._children[1:])
        return text + "])"

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (str(self.type) == str(other.type) and self._context == other._context
                and self._children == other._children)

    def __hash__(self) -> int:
        context = self._context
        if self.type is collections.defaultdict:
            context = (context[0], tuple(context[1]))
        elif self.type in (dict, collections.OrderedDict):
            context = tuple(context)
        elif self.type is not None and self.type not in _BUILTIN_TYPES:
            context = None  # a custom node's context may not hash
        return hash((self.type, context, tuple(self._children)))

    def flatten_up_to(self, tree: PyTree) -> list:
        """The subtrees of ``tree`` at this spec's leaves (``tree`` must have this structure
        down to them): how ``tree_map`` reads its extra trees."""
        subtrees: list = []
        self._up_to(tree, subtrees)
        return subtrees

    def _up_to(self, node: PyTree, subtrees: list) -> None:
        if self.is_leaf():
            subtrees.append(node)
            return
        node_type = _node_type(node)
        if self.type not in _BUILTIN_TYPES:  # a custom node: the same type and context
            if node_type != self.type:
                raise ValueError(f"Type mismatch; expected {self.type!r}, but got "
                                 f"{node_type!r}.")
            children, context = SUPPORTED_NODES[node_type].flatten_fn(node)
            if len(children) != self.num_children:
                raise ValueError(f"Node arity mismatch; expected {self.num_children}, but "
                                 f"got {len(children)}.")
            if context != self._context:
                raise ValueError(f"Node context mismatch for custom node type "
                                 f"{self.type!r}.")
        else:
            dicts = self.type in _DICT_TYPES and node_type in _DICT_TYPES
            if not dicts and node_type != self.type:
                raise ValueError(f"Node type mismatch; expected {self.type!r}, but got "
                                 f"{node_type!r}.")
            if len(node) != self.num_children:
                raise ValueError(f"Node arity mismatch; expected {self.num_children}, but "
                                 f"got {len(node)}.")
            if dicts:  # any of the dict types, matched by key
                keys = (self._context if self.type is not collections.defaultdict
                        else self._context[1])
                missing, extra = set(keys) - set(node), set(node) - set(keys)
                if missing or extra:
                    message = f"; missing key(s): {missing}" if missing else ""
                    message += f"; extra key(s): {extra}" if extra else ""
                    raise ValueError(f"Node keys mismatch{message}.")
                children = [node[key] for key in keys]
            else:
                children, context = SUPPORTED_NODES[node_type].flatten_fn(node)
                if node_type is not collections.deque and context != self._context:
                    raise ValueError(f"Node context mismatch for node type {self.type!r}; "
                                     f"expected {self._context!r}, but got {context!r}.")
        for subtree, spec in zip(children, self._children):
            spec._up_to(subtree, subtrees)

    def unflatten(self, leaves: Iterable) -> PyTree:
        """The pytree of this structure holding ``leaves`` (any iterable, as many as the
        spec's leaves)."""
        if not isinstance(leaves, (list, tuple)):
            leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} "
                             f"but the spec refers to a pytree that holds {self.num_leaves} "
                             f"items ({self}).")
        return self._build(iter(leaves))

    def _build(self, leaves):
        if self.is_leaf():
            return next(leaves)
        children = [spec._build(leaves) for spec in self._children]
        return SUPPORTED_NODES[self.type].unflatten_fn(children, self._context)


class LeafSpec(TreeSpec):
    """The spec of a leaf, printed ``*``."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(None, None, [])

    def __repr__(self, indent: int = 0) -> str:
        return "*"

    def __eq__(self, other) -> bool:
        return isinstance(other, LeafSpec) or NotImplemented

    def __hash__(self) -> int:
        return hash((None, None, ()))


_LEAF_SPEC = LeafSpec()


def treespec_leaf() -> LeafSpec:
    """The spec of a leaf."""
    return _LEAF_SPEC


def treespec_tuple(iterable: Iterable[TreeSpec] = (), /) -> TreeSpec:
    """A tuple's spec from its children's specs."""
    children = list(iterable)
    if any(not isinstance(child, TreeSpec) for child in children):
        raise ValueError(f"Expected a tuple of TreeSpec values, got: {children!r}.")
    return TreeSpec(tuple, None, children)


def treespec_dict(mapping=(), /, **kwargs: TreeSpec) -> TreeSpec:
    """A dict's spec from a mapping (or pairs, or keywords) of its children's specs."""
    dct = dict(mapping, **kwargs)
    if any(not isinstance(child, TreeSpec) for child in dct.values()):
        raise ValueError(f"Expected a dictionary of TreeSpec values, got: {dct!r}.")
    return TreeSpec(dict, list(dct.keys()), list(dct.values()))


# ----------------------------------------------------------------- flatten, map
def tree_flatten(tree: PyTree, is_leaf: Callable[[PyTree], bool] | None = None
                 ) -> tuple[list, TreeSpec]:
    """The leaves of ``tree``, depth first (dict values in key insertion order), and its
    spec. ``is_leaf(subtree)`` True stops the descent there."""
    leaves: list = []

    def walk(node) -> TreeSpec:
        if tree_is_leaf(node, is_leaf):
            leaves.append(node)
            return _LEAF_SPEC
        node_type = _node_type(node)
        children, context = SUPPORTED_NODES[node_type].flatten_fn(node)
        return TreeSpec(node_type, context, [walk(child) for child in children])

    return leaves, walk(tree)


def tree_unflatten(leaves: Iterable, treespec: TreeSpec) -> PyTree:
    """The pytree of ``treespec``'s structure holding ``leaves`` (the two arguments are
    taken either way round, as torch's)."""
    if not isinstance(treespec, TreeSpec):
        if not isinstance(leaves, TreeSpec):
            raise TypeError(f"Expected `treespec` to be an instance of PyTreeSpec but got "
                            f"item of type {type(treespec)}.")
        leaves, treespec = treespec, leaves
    return treespec.unflatten(leaves)


def tree_iter(tree: PyTree, is_leaf: Callable | None = None):
    """A generator of the leaves of ``tree``, depth first."""
    if tree_is_leaf(tree, is_leaf):
        yield tree
        return
    children, _ = SUPPORTED_NODES[_node_type(tree)].flatten_fn(tree)
    for child in children:
        yield from tree_iter(child, is_leaf)


def tree_leaves(tree: PyTree, is_leaf: Callable | None = None) -> list:
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: PyTree, is_leaf: Callable | None = None) -> TreeSpec:
    return tree_flatten(tree, is_leaf)[1]


def tree_map(func: Callable, tree: PyTree, *rests: PyTree, is_leaf: Callable | None = None
             ) -> PyTree:
    """``tree`` with each leaf x replaced by ``func(x, *(the matching leaves of rests))``;
    ``rests`` must have ``tree``'s structure (their subtrees at its leaves are passed whole)."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(rest) for rest in rests]
    return spec.unflatten(map(func, leaves, *others))


def tree_map_(func: Callable, tree: PyTree, *rests: PyTree,
              is_leaf: Callable | None = None) -> PyTree:
    """``func`` called on each leaf for its side effects; returns ``tree``."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(rest) for rest in rests]
    collections.deque(map(func, leaves, *others), maxlen=0)
    return tree


def map_only(type_or_types_or_pred, /) -> Callable[[Callable], Callable]:
    """A decorator: the function applied only to values that are instances of the type (a
    type, a tuple of types or a union) or that the predicate accepts; others pass through."""
    if isinstance(type_or_types_or_pred, (type, tuple, types.UnionType)):
        def pred(x) -> bool:
            return isinstance(x, type_or_types_or_pred)
    elif callable(type_or_types_or_pred):
        pred = type_or_types_or_pred
    else:
        raise TypeError("Argument must be a type, a tuple of types, or a callable.")

    def wrapper(func: Callable) -> Callable:
        def wrapped(x):
            return func(x) if pred(x) else x
        wrapped.__wrapped__ = func
        return wrapped

    return wrapper


def tree_map_only(type_or_types_or_pred, /, func: Callable, tree: PyTree,
                  is_leaf: Callable | None = None) -> PyTree:
    """``tree_map`` applying ``func`` only to leaves that are instances of the type (or
    types, or union) or that the predicate accepts; other leaves are kept."""
    return tree_map(map_only(type_or_types_or_pred)(func), tree, is_leaf=is_leaf)


def tree_map_only_(type_or_types_or_pred, /, func: Callable, tree: PyTree,
                   is_leaf: Callable | None = None) -> PyTree:
    """``tree_map_`` on the leaves ``map_only`` selects; returns ``tree``."""
    return tree_map_(map_only(type_or_types_or_pred)(func), tree, is_leaf=is_leaf)


def tree_all(pred: Callable, tree: PyTree, is_leaf: Callable | None = None) -> bool:
    return all(map(pred, tree_iter(tree, is_leaf)))


def tree_any(pred: Callable, tree: PyTree, is_leaf: Callable | None = None) -> bool:
    return any(map(pred, tree_iter(tree, is_leaf)))


def tree_all_only(type_or_types, /, pred: Callable, tree: PyTree,
                  is_leaf: Callable | None = None) -> bool:
    """``pred`` holds for every leaf that is an instance of ``type_or_types``."""
    return all(pred(x) for x in tree_iter(tree, is_leaf) if isinstance(x, type_or_types))


def tree_any_only(type_or_types, /, pred: Callable, tree: PyTree,
                  is_leaf: Callable | None = None) -> bool:
    """``pred`` holds for some leaf that is an instance of ``type_or_types``."""
    return any(pred(x) for x in tree_iter(tree, is_leaf) if isinstance(x, type_or_types))


# ----------------------------------------------------------------- key paths
def _key_paths(key_path: tuple, tree: PyTree, is_leaf: Callable | None):
    if is_leaf and is_leaf(tree):
        yield key_path, tree
        return
    node_type = _node_type(tree)
    handler = SUPPORTED_NODES.get(node_type)
    if handler is None:
        yield key_path, tree
        return
    if handler.flatten_with_keys_fn is None:
        raise ValueError(f"Did not find a flatten_with_keys_fn for type: {node_type}. "
                         "Please pass a flatten_with_keys_fn argument to "
                         "register_pytree_node.")
    key_children, _ = handler.flatten_with_keys_fn(tree)
    for k, child in key_children:
        yield from _key_paths((*key_path, k), child, is_leaf)


def tree_flatten_with_path(tree: PyTree, is_leaf: Callable | None = None
                           ) -> tuple[list[tuple[tuple, Any]], TreeSpec]:
    """``tree_flatten`` with each leaf paired with its key path: ([(path, leaf)], spec)."""
    _, spec = tree_flatten(tree, is_leaf)
    return list(_key_paths((), tree, is_leaf)), spec


def tree_leaves_with_path(tree: PyTree, is_leaf: Callable | None = None
                          ) -> list[tuple[tuple, Any]]:
    """The (key path, leaf) pairs of ``tree``."""
    return list(_key_paths((), tree, is_leaf))


def tree_map_with_path(func: Callable, tree: PyTree, *rests: PyTree,
                       is_leaf: Callable | None = None) -> PyTree:
    """``tree_map`` whose ``func`` takes each leaf's key path first:
    ``func(path, x, *xs)``."""
    pairs, spec = tree_flatten_with_path(tree, is_leaf)
    paths = [path for path, _ in pairs]
    leaves = [leaf for _, leaf in pairs]
    others = [spec.flatten_up_to(rest) for rest in rests]
    return spec.unflatten(map(func, paths, leaves, *others))


class _Asterisk(str):
    def __repr__(self) -> str:
        return "*"


def treespec_pprint(treespec: TreeSpec) -> str:
    """The structure with ``*`` for each leaf: ``{'a': (*, [*, *])}``."""
    return repr(tree_unflatten([_Asterisk("*")] * treespec.num_leaves, treespec))


# ----------------------------------------------------------------- serialization
class EnumEncoder(json.JSONEncoder):
    """JSON for contexts holding Enum members (written by module, class and member name)."""

    def default(self, obj: object) -> Any:
        if isinstance(obj, enum.Enum):
            return {"__enum__": True,
                    "fqn": f"{type(obj).__module__}:{type(obj).__qualname__}",
                    "name": obj.name}
        return super().default(obj)


def _enum_object_hook(obj: dict) -> Any:
    if "__enum__" in obj:
        module, _, qualname = obj["fqn"].partition(":")
        cls: Any = importlib.import_module(module)
        for attr in qualname.split("."):
            cls = getattr(cls, attr)
        return cls[obj["name"]]
    return obj


def _treespec_to_json(spec: TreeSpec) -> dict:
    if spec.is_leaf():
        return {"type": None, "context": None, "children_spec": []}
    node = SUPPORTED_SERIALIZED_TYPES.get(spec.type)
    if node is None:
        raise NotImplementedError(f"Serializing {spec.type} in pytree is not registered.")
    if node.serialized_type_name == NO_SERIALIZED_TYPE_NAME_FOUND:
        raise NotImplementedError(f"No registered serialization name for {spec.type} found. "
                                  f"Please update your _register_pytree_node call with a "
                                  f"`serialized_type_name` kwarg.")
    if node.to_dumpable_context is None:
        try:
            context = json.dumps(spec.context, cls=EnumEncoder)
        except TypeError as error:
            raise TypeError("Unable to serialize context. Please make the context json "
                            "dump-able, or register a custom serializer using "
                            "_register_pytree_node.") from error
    else:
        context = node.to_dumpable_context(spec.context)
    return {"type": node.serialized_type_name, "context": context,
            "children_spec": [_treespec_to_json(child) for child in spec.children_specs]}


def _json_to_treespec(schema: dict) -> TreeSpec:
    if schema["type"] is None and schema["context"] is None \
            and len(schema["children_spec"]) == 0:
        return _LEAF_SPEC
    if schema["type"] not in SERIALIZED_TYPE_TO_PYTHON_TYPE:
        raise NotImplementedError(f"Deserializing {schema['type']} in pytree is not "
                                  f"registered.")
    cls = SERIALIZED_TYPE_TO_PYTHON_TYPE[schema["type"]]
    node = SUPPORTED_SERIALIZED_TYPES[cls]
    if node.from_dumpable_context is None:
        try:
            context = json.loads(schema["context"], object_hook=_enum_object_hook)
        except TypeError as error:
            raise TypeError("Unable to deserialize context. Please make the context json "
                            "load-able, or register a custom serializer using "
                            "_register_pytree_node.") from error
    else:
        context = node.from_dumpable_context(schema["context"])
    return TreeSpec(cls, context, [_json_to_treespec(c) for c in schema["children_spec"]])


def treespec_dumps(treespec: TreeSpec, protocol: int | None = None) -> str:
    """``treespec`` as torch's JSON string: ``[protocol, {"type": "builtins.dict", "context":
    "[\\"a\\"]", "children_spec": [...]}]`` (a leaf: type and context null). Every node type
    needs a ``serialized_type_name`` (NotImplementedError otherwise)."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"treespec_dumps: expected a TreeSpec, got {type(treespec).__name__}")
    if protocol is None:
        protocol = DEFAULT_TREESPEC_SERIALIZATION_PROTOCOL
    if protocol != 1:
        raise ValueError(f"Unknown protocol {protocol}. Available protocols: [1]")
    return json.dumps((protocol, _treespec_to_json(treespec)), cls=EnumEncoder)


@functools.lru_cache
def treespec_loads(serialized: str) -> TreeSpec:
    """The TreeSpec ``treespec_dumps`` wrote (one object per string, as torch's cache)."""
    protocol, schema = json.loads(serialized)
    if protocol != 1:
        raise ValueError(f"Unknown protocol {protocol}. Available protocols: [1]")
    return _json_to_treespec(schema)
