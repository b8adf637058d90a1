"""torch.fx.immutable_collections: ``immutable_list`` and ``immutable_dict``, a list and a
dict that refuse mutation (TypeError, with torch's message) and hash by their contents, so
they can be dict keys or set members. Reading, copying (``list(x)``, ``dict(x)``, ``x + y``,
``x | y``) and pickling work as for a list or dict; both are pytree nodes (``tree_flatten``
sees their elements, ``tree_unflatten`` rebuilds the immutable class)."""

from __future__ import annotations

from typing import Any, NoReturn

from dlpy.utils import _pytree

__all__ = ["immutable_dict", "immutable_list"]

_help_mutation = """\
If you are attempting to modify the kwargs or args of a torch.fx.Node object,
instead create a new copy of it and assign the copy to the node:
    new_args = ...  # copy and mutate args
    node.args = new_args"""


def _no_mutation(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"{type(self).__name__!r} object does not support mutation. "
                    f"{_help_mutation}")


class immutable_list(list):  # noqa: N801 - torch's name
    """A list whose mutating methods (item assignment and deletion, ``+=``, ``*=``, append,
    extend, insert, pop, remove, clear, reverse, sort) raise TypeError; hashed as the tuple
    of its items."""

    __delitem__ = __iadd__ = __imul__ = __setitem__ = _no_mutation
    append = clear = extend = insert = pop = remove = reverse = sort = _no_mutation

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self):
        return (type(self), (tuple(self),))


class immutable_dict(dict):  # noqa: N801 - torch's name
    """A dict whose mutating methods (item assignment and deletion, ``|=``, clear, pop,
    popitem, setdefault, update) raise TypeError; hashed as the frozenset of its items."""

    __delitem__ = __ior__ = __setitem__ = _no_mutation
    clear = pop = popitem = setdefault = update = _no_mutation  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self):
        return (type(self), (tuple(self.items()),))


def _list_flatten(d: immutable_list):
    return list(d), None


def _dict_flatten(d: immutable_dict):
    return list(d.values()), list(d.keys())


def _list_keys(d: immutable_list):
    return [(_pytree.SequenceKey(i), v) for i, v in enumerate(d)], None


def _dict_keys(d: immutable_dict):
    return [(_pytree.MappingKey(k), v) for k, v in d.items()], list(d.keys())


_pytree.register_pytree_node(
    immutable_list, _list_flatten, lambda values, context: immutable_list(values),
    serialized_type_name="torch.fx.immutable_collections.immutable_list",
    flatten_with_keys_fn=_list_keys)
_pytree.register_pytree_node(
    immutable_dict, _dict_flatten,
    lambda values, context: immutable_dict(zip(context, values)),
    serialized_type_name="torch.fx.immutable_collections.immutable_dict",
    flatten_with_keys_fn=_dict_keys)
