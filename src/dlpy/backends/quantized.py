"""``torch.backends.quantized``: the quantized engine. dlpy's quantized kernels (dlpy.ao)
compute as torch's x86 / fbgemm CPU backend does, so those are its engines: ``engine`` is
``'x86'`` at start and may be set to ``'fbgemm'`` and back (they compute alike in dlpy).
Setting a name torch knows but dlpy does not compute ('qnnpack', 'onednn', 'none') is
torch's RuntimeError for an engine it was built without; an unknown name is torch's
RuntimeError too. ``supported_engines`` cannot be assigned, as torch's."""

from __future__ import annotations

import sys
import types

__all__ = ["engine", "supported_engines"]  # noqa: F822 - properties of the module's class

# c10's QEngine names by id, as torch numbers them
_ENGINES = {"none": 0, "fbgemm": 1, "qnnpack": 2, "onednn": 3, "x86": 4}
_ENUM_NAMES = {0: "NoQEngine", 1: "FBGEMM", 2: "QNNPACK", 3: "ONEDNN", 4: "X86"}
_SUPPORTED = ("x86", "fbgemm")
_state = {"engine": "x86"}


def _set_engine(value) -> None:
    key = "none" if value in ("", None) else value
    if not isinstance(key, str) or key not in _ENGINES:
        raise RuntimeError(f"{value} is not a valid value for quantized engine")
    if key not in _SUPPORTED:
        raise RuntimeError(f"quantized engine {_ENUM_NAMES[_ENGINES[key]]} is not supported")
    _state["engine"] = key


class _QuantizedModule(types.ModuleType):
    """The module's class: ``engine`` and ``supported_engines`` are properties."""

    @property
    def engine(self) -> str:
        """The current quantized engine's name."""
        return _state["engine"]

    @engine.setter
    def engine(self, value: str) -> None:
        _set_engine(value)

    @property
    def supported_engines(self) -> list[str]:
        """The engines dlpy computes: x86 and fbgemm (a new list each time)."""
        return list(_SUPPORTED)

    @supported_engines.setter
    def supported_engines(self, value) -> None:
        raise RuntimeError("Assignment not supported")


sys.modules[__name__].__class__ = _QuantizedModule
