"""``torch.utils._pytree``: nested containers flattened to a list of leaves and a ``TreeSpec``
that rebuilds them.

Nodes are tuples, lists, dicts (keys in insertion order, as torch), namedtuples, OrderedDict,
defaultdict, deque and any type given to ``register_pytree_node``; everything else (None
included, as torch 2.13's Python pytree) is a leaf. ``TreeSpec``'s repr, equality and error
messages are torch's.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = [
    "LeafSpec", "PyTree", "TreeSpec", "register_pytree_node", "tree_all", "tree_any",
    "tree_flatten", "tree_iter", "tree_leaves", "tree_map", "tree_map_", "tree_map_only",
    "tree_structure", "tree_unflatten", "treespec_pprint",
]

PyTree = Any
Context = Any


class NodeDef(NamedTuple):
    type: type
    flatten_fn: Callable[[Any], tuple[list, Context]]
    unflatten_fn: Callable[[Iterable, Context], Any]


SUPPORTED_NODES: dict[type, NodeDef] = {}


def register_pytree_node(cls: type, flatten_fn: Callable, unflatten_fn: Callable, *,
                         serialized_type_name: str | None = None,
                         to_dumpable_context: Callable | None = None,
                         from_dumpable_context: Callable | None = None,
                         flatten_with_keys_fn: Callable | None = None) -> None:
    """Makes ``cls`` a node: ``flatten_fn(obj) -> (children, context)`` and
    ``unflatten_fn(children, context) -> obj``. The serialization arguments are accepted and
    unused (dlpy has no treespec serialization)."""
    if cls in SUPPORTED_NODES:
        raise ValueError(f"{cls} is already registered as pytree node.")
    if not callable(flatten_fn) or not callable(unflatten_fn):
        raise TypeError(f"register_pytree_node: flatten_fn and unflatten_fn must be "
                        f"callable, got {type(flatten_fn).__name__} and "
                        f"{type(unflatten_fn).__name__}")
    SUPPORTED_NODES[cls] = NodeDef(cls, flatten_fn, unflatten_fn)


def _dict_flatten(d: dict):
    return list(d.values()), list(d.keys())


def _defaultdict_flatten(d):
    return list(d.values()), [d.default_factory, list(d.keys())]


def _namedtuple_flatten(d):
    return list(d), type(d)


register_pytree_node(tuple, lambda t: (list(t), None), lambda values, _: tuple(values))
register_pytree_node(list, lambda t: (list(t), None), lambda values, _: list(values))
register_pytree_node(dict, _dict_flatten, lambda values, keys: dict(zip(keys, values)))
register_pytree_node(collections.namedtuple, _namedtuple_flatten,
                     lambda values, cls: cls(*values))
register_pytree_node(collections.OrderedDict, _dict_flatten,
                     lambda values, keys: collections.OrderedDict(zip(keys, values)))
register_pytree_node(collections.defaultdict, _defaultdict_flatten,
                     lambda values, context: collections.defaultdict(
                         context[0], zip(context[1], values)))
register_pytree_node(collections.deque, lambda d: (list(d), d.maxlen),
                     lambda values, maxlen: collections.deque(values, maxlen=maxlen))


def _node_type(tree) -> Any:
    """The registry key of ``tree``'s type: namedtuple classes share one entry."""
    cls = type(tree)
    if cls not in SUPPORTED_NODES and issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return collections.namedtuple
    return cls


def _is_leaf(tree, is_leaf: Callable | None = None) -> bool:
    return (is_leaf is not None and is_leaf(tree)) or _node_type(tree) not in SUPPORTED_NODES


class TreeSpec:
    """The structure of a pytree: its node ``type``, the ``context`` its flatten function
    returned (dict keys, a namedtuple class) and one spec per child (``children_specs``)."""

    def __init__(self, type: Any, context: Context, children_specs: list[TreeSpec]) -> None:  # noqa: A002
        self.type, self.context, self.children_specs = type, context, list(children_specs)
        self.num_leaves = sum(child.num_leaves for child in self.children_specs)
        self.num_nodes = 1 + sum(child.num_nodes for child in self.children_specs)
        self.num_children = len(self.children_specs)

    def is_leaf(self) -> bool:
        return False

    def children(self) -> list[TreeSpec]:
        return list(self.children_specs)

    def child(self, index: int) -> TreeSpec:
        return self.children_specs[index]

    def __repr__(self, indent: int = 0) -> str:
        text = f"TreeSpec({self.type.__name__}, {self.context}, ["
        if self.num_children:
            indent += 2
            text += self.children_specs[0].__repr__(indent)
            text += "," if self.num_children > 1 else ""
            text += ",".join("\n" + " " * indent + child.__repr__(indent)
                             for child in self.children_specs[1:])
        return text + "])"

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (str(self.type) == str(other.type) and self.context == other.context
                and self.children_specs == other.children_specs)

    def __hash__(self) -> int:
        return hash((str(self.type), repr(self.context), tuple(self.children_specs)))

    def flatten_up_to(self, tree: PyTree) -> list:
        """The subtrees of ``tree`` at this spec's leaves (``tree`` must have this structure
        down to them): how ``tree_map`` reads its extra trees."""
        if self.is_leaf():
            return [tree]
        node_type = _node_type(tree)
        if node_type is not self.type:
            raise ValueError(f"Node type mismatch; expected {self.type!r}, but got "
                             f"{type(tree)!r}.")
        children, context = SUPPORTED_NODES[node_type].flatten_fn(tree)
        if len(children) != self.num_children:
            raise ValueError(f"Node arity mismatch; expected {self.num_children}, but got "
                             f"{len(children)}.")
        if node_type in (dict, collections.OrderedDict, collections.defaultdict):
            keys = context if node_type is not collections.defaultdict else context[1]
            own = self.context if node_type is not collections.defaultdict else self.context[1]
            if set(keys) != set(own):
                raise ValueError(f"Node keys mismatch; missing key(s): "
                                 f"{set(own) - set(keys)}; extra key(s): "
                                 f"{set(keys) - set(own)}.")
            by_key = dict(zip(keys, children))
            children = [by_key[key] for key in own]
        elif node_type is not collections.deque and context != self.context:
            raise ValueError(f"Node context mismatch for custom node type; expected "
                             f"{self.context!r}, but got {context!r}.")
        return [leaf for spec, child in zip(self.children_specs, children)
                for leaf in spec.flatten_up_to(child)]

    def unflatten(self, leaves: Iterable) -> PyTree:
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} "
                             f"but the spec refers to a pytree that holds {self.num_leaves} "
                             f"items ({self}).")
        return self._build(iter(leaves))

    def _build(self, leaves):
        children = [spec._build(leaves) for spec in self.children_specs]
        return SUPPORTED_NODES[self.type].unflatten_fn(children, self.context)


class LeafSpec(TreeSpec):
    """The spec of a leaf, printed ``*``."""

    def __init__(self) -> None:
        super().__init__(None, None, [])
        self.num_nodes, self.num_leaves = 1, 1

    def is_leaf(self) -> bool:
        return True

    def _build(self, leaves):
        return next(leaves)

    def __repr__(self, indent: int = 0) -> str:
        return "*"

    def __eq__(self, other) -> bool:
        return isinstance(other, LeafSpec)

    def __hash__(self) -> int:
        return hash("LeafSpec")


_LEAF_SPEC = LeafSpec()


def tree_flatten(tree: PyTree, is_leaf: Callable[[PyTree], bool] | None = None
                 ) -> tuple[list, TreeSpec]:
    """The leaves of ``tree``, depth first (dict values in key insertion order), and its
    spec. ``is_leaf(subtree)`` True stops the descent there."""
    leaves: list = []

    def walk(node) -> TreeSpec:
        if _is_leaf(node, is_leaf):
            leaves.append(node)
            return _LEAF_SPEC
        node_type = _node_type(node)
        children, context = SUPPORTED_NODES[node_type].flatten_fn(node)
        return TreeSpec(node_type, context, [walk(child) for child in children])

    return leaves, walk(tree)


def tree_unflatten(leaves: Iterable, treespec: TreeSpec) -> PyTree:
    """The pytree of ``treespec``'s structure holding ``leaves``."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"tree_unflatten(leaves, treespec): Expected `treespec` to be "
                        f"instance of TreeSpec but got item of type {type(treespec)}.")
    return treespec.unflatten(leaves)


def tree_leaves(tree: PyTree, is_leaf: Callable | None = None) -> list:
    return tree_flatten(tree, is_leaf)[0]


def tree_iter(tree: PyTree, is_leaf: Callable | None = None):
    return iter(tree_leaves(tree, is_leaf))


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
    for args in zip(leaves, *others):
        func(*args)
    return tree


def _only(type_or_types, func: Callable) -> Callable:
    if isinstance(type_or_types, list):
        type_or_types = tuple(type_or_types)

    def apply(x):
        return func(x) if isinstance(x, type_or_types) else x

    return apply


def tree_map_only(type_or_types, func: Callable, tree: PyTree,
                  is_leaf: Callable | None = None) -> PyTree:
    """``tree_map`` applying ``func`` only to leaves that are instances of ``type_or_types``
    (a type or a tuple of types); other leaves are kept."""
    return tree_map(_only(type_or_types, func), tree, is_leaf=is_leaf)


def tree_all(pred: Callable, tree: PyTree, is_leaf: Callable | None = None) -> bool:
    return all(map(pred, tree_leaves(tree, is_leaf)))


def tree_any(pred: Callable, tree: PyTree, is_leaf: Callable | None = None) -> bool:
    return any(map(pred, tree_leaves(tree, is_leaf)))


class _Asterisk(str):
    def __repr__(self) -> str:
        return "*"


def treespec_pprint(treespec: TreeSpec) -> str:
    """The structure with ``*`` for each leaf: ``{'a': (*, [*, *])}``."""
    return repr(treespec.unflatten([_Asterisk("*")] * treespec.num_leaves))
