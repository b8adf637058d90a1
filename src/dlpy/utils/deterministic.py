"""``torch.utils.deterministic``: ``fill_uninitialized_memory``, torch's switch for filling the
memory of ``torch.empty`` and the like with a known value (NaN, an integer's largest value)
while deterministic algorithms are on. True at start; only a bool is accepted (RuntimeError
otherwise, as torch's). dlpy's ``empty`` always gives zeros (initialised memory), so the switch
is kept and read back but changes nothing."""

from __future__ import annotations

import sys
import types

_state = {"fill_uninitialized_memory": True}


class _Deterministic(types.ModuleType):
    """The module's class: ``fill_uninitialized_memory`` is a checked property."""

    @property
    def fill_uninitialized_memory(self) -> bool:
        """Whether uninitialised memory is filled under deterministic algorithms."""
        return _state["fill_uninitialized_memory"]

    @fill_uninitialized_memory.setter
    def fill_uninitialized_memory(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise RuntimeError(f"expected a bool, but got {type(mode).__name__}")
        _state["fill_uninitialized_memory"] = mode


sys.modules[__name__].__class__ = _Deterministic
