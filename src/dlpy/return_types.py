"""torch.return_types: how the named tuples of ops with several results (max(dim), sort,
topk, median, slogdet, ...) print. Each is a NamedTuple whose ``__repr__`` is ``structseq_repr``
and whose ``_torch_name`` is torch's name for it, so that it prints as torch's does:

    torch.return_types.max(
    values=tensor([3., 4.]),
    indices=tensor([1, 0]))

(``dlpy.return_types.max(...)`` unless dlpy.compat stands in for torch)."""

from __future__ import annotations

from dlpy.size import _as_torch


def structseq_repr(self) -> str:
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"{'torch' if _as_torch() else 'dlpy'}.return_types.{self._torch_name}(\n{fields})"


def subtype(base: type, torch_name: str) -> type:
    """A subclass of the NamedTuple ``base`` that prints with ``torch_name`` (ops that share
    a layout: median, mode, kthvalue, cummax, ... all give (values, indices))."""
    return type(base.__name__, (base,), {"__slots__": (), "_torch_name": torch_name,
                                         "__module__": base.__module__,
                                         "__qualname__": base.__qualname__})


# the modules that define result types (a NamedTuple with its own ``_torch_name``, or a dict
# of them): torch.return_types.<name> finds them on first use (importing them here would cycle)
_DEFINERS = ("dlpy.ops.indexing", "dlpy.ops.reduce", "dlpy.ops.pointwise", "dlpy.ops.linalg",
             "dlpy.ops.linalg_eig", "dlpy.linalg", "dlpy.torch_functions")
_TYPES: dict[str, type] = {}


def _types() -> dict[str, type]:
    if not _TYPES:
        import importlib
        found: dict[str, type] = {}
        for module in _DEFINERS:
            for value in vars(importlib.import_module(module)).values():
                kinds = value.values() if isinstance(value, dict) else (value,)
                for kind in kinds:
                    if (isinstance(kind, type) and issubclass(kind, tuple)
                            and "_torch_name" in vars(kind)):
                        # a subtype made for one op (kthvalue's, median's) over its base
                        if kind._torch_name not in found or kind.__bases__[0] is not tuple:
                            found[kind._torch_name] = kind
        _TYPES.update(found)
    return _TYPES


def _from_sequence(base_new):
    """A result type's __new__ that also takes one sequence of its fields, as torch's
    structseq does: torch.return_types.max((values, indices))."""
    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and len(cls._fields) > 1:
            fields = tuple(args[0])
            if len(fields) != len(cls._fields):
                raise TypeError(f"torch.return_types.{cls._torch_name}() takes a "
                                f"{len(cls._fields)}-sequence ({len(fields)}-sequence given)")
            return tuple.__new__(cls, fields)
        return base_new(cls, *args, **kwargs)
    __new__.takes_sequence = True
    return __new__


def install() -> None:
    """Name each result type as torch does (type(x.max(0)).__name__ == "max"), kept findable
    by pickle as dlpy.return_types.<name>; called once dlpy has imported its modules."""
    for name, kind in _types().items():
        kind.__name__ = kind.__qualname__ = name
        kind.__module__ = __name__
        owner = next(k for k in kind.__mro__ if "__new__" in vars(k))  # the NamedTuple's
        if owner is not tuple and not hasattr(owner.__new__, "takes_sequence"):
            owner.__new__ = _from_sequence(owner.__new__)


def __getattr__(name: str) -> type:
    """torch.return_types.sort, .topk, .kthvalue, ...: the type of that op's result."""
    if not name.startswith("__") and name in _types():
        return _TYPES[name]
    raise AttributeError(f"module 'torch.return_types' has no attribute {name!r}")
