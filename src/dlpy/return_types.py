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
