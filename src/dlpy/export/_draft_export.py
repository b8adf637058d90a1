"""torch.export.draft_export for dlpy: ``export`` that also reports what it had to work around
(``ep._report``). dlpy's export has no such workarounds (a program it cannot trace soundly is
an error, raised as export raises it), so a returned report never lists failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = ["DraftExportReport", "FailureReport", "FailureType", "draft_export"]


class FailureType(IntEnum):
    """The kinds of issue torch's draft_export reports."""

    MISSING_FAKE_KERNEL = 1
    DATA_DEPENDENT_ERROR = 2
    GUARD_ADDED = 3
    MISMATCHED_FAKE_KERNEL = 4


@dataclass
class FailureReport:
    """One issue found while exporting: its kind, details, whether it was expected."""

    failure_type: FailureType
    data: dict[str, Any]
    xfail: bool = False

    def print(self, str_to_filename: dict[str, str]) -> str:
        return f"{self.failure_type.name}: {self.data}"


_SUCCESS = ("\n" + "#" * 94 + "\nCongratulations: No issues are found during export, and it was "
            "able to soundly produce a graph.\nYou can now change back to torch.export.export()"
            "\n" + "#" * 94 + "\n")


@dataclass
class DraftExportReport:
    """``ep._report`` of a draft export: ``failures`` (FailureReports), ``successful()``
    whether there are none, and ``str()`` a summary for the user."""

    failures: list[FailureReport] = field(default_factory=list)
    str_to_filename: dict[str, str] = field(default_factory=dict)
    expressions_created: dict[int, dict[str, Any]] = field(default_factory=dict)
    op_profiles: dict[str, Any] = field(default_factory=dict)

    def successful(self) -> bool:
        return len(self.failures) == 0 or all(f.xfail for f in self.failures)

    def __str__(self) -> str:
        if self.successful():
            return f"\033[92m{_SUCCESS}\033[0m"
        lines = [f"WARNING: {len(self.failures)} issue(s) found during export, and it was not "
                 f"able to soundly produce a graph."]
        lines += [f"{i}. {f.print(self.str_to_filename)}"
                  for i, f in enumerate(self.failures, 1)]
        return "\n".join(lines)

    def apply_suggested_fixes(self) -> None:
        raise NotImplementedError("Not implemented yet")


def draft_export(mod: Any, args: tuple, kwargs: Any = None, *, dynamic_shapes: Any = None,
                 preserve_module_call_signature: tuple[str, ...] = (), strict: bool = False,
                 prefer_deferred_runtime_asserts_over_guards: bool = False) -> Any:
    """torch.export.draft_export: ``export(mod, args, kwargs, ...)`` whose program carries a
    ``_report`` (a DraftExportReport: no failures, as dlpy's export never works around one;
    what it cannot export it refuses, as ``export`` does)."""
    from dlpy.export import export

    program = export(mod, args, None if kwargs is None else dict(kwargs),
                     dynamic_shapes=dynamic_shapes, strict=strict,
                     preserve_module_call_signature=preserve_module_call_signature)
    program._report = DraftExportReport()
    return program
