"""``torch.backends.miopen``: AMD's MIOpen, which dlpy lacks. Its one switch, ``immediate``
(False at start), is kept as torch keeps it: a module attribute that accepts only a bool, with
``set_flags``/``flags`` to change it; it changes nothing in dlpy."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator

__all__ = ["flags", "set_flags"]

_state = {"immediate": False}


def _set_immediate(value: bool) -> None:
    if not isinstance(value, bool):
        raise RuntimeError(f"set_immediate_miopen expects a bool, but got "
                           f"{type(value).__name__}")
    _state["immediate"] = value


def set_flags(_immediate: bool | None = None) -> tuple[bool]:
    """Set ``immediate`` (None leaves it); returns the previous value as a 1-tuple."""
    previous = (_state["immediate"],)
    if _immediate is not None:
        _set_immediate(_immediate)
    return previous


@contextlib.contextmanager
def flags(immediate: bool = False) -> Iterator[None]:
    """Set ``immediate`` inside the block and restore it after."""
    previous = set_flags(immediate)
    try:
        yield
    finally:
        set_flags(*previous)


class _MiopenModule(types.ModuleType):
    """The module's class: ``immediate`` is a property reading and checking the flag."""

    @property
    def immediate(self) -> bool:
        return _state["immediate"]

    @immediate.setter
    def immediate(self, value: bool) -> None:
        _set_immediate(value)


sys.modules[__name__].__class__ = _MiopenModule
