"""``torch.export.unflatten`` for dlpy: an ExportedProgram as a Module with the exported
module's hierarchy (``m.fc1.weight`` as before export), running the program when called."""

from __future__ import annotations

import abc
from typing import Any

from dlpy.nn.module import Module

__all__ = ["FlatArgsAdapter", "InterpreterModule", "UnflattenedModule", "unflatten"]


class FlatArgsAdapter(abc.ABC):
    """torch.export.FlatArgsAdapter: adapts the flat inputs of a call of an unflattened
    module to the exported program's (``unflatten(ep, flat_args_adapter=...)``). Subclass it
    and define ``adapt(target_spec, input_spec, input_args, metadata=None, obj=None)`` (the
    class itself is abstract); ``get_flat_arg_paths`` may name the inputs' paths."""

    @abc.abstractmethod
    def adapt(self, target_spec: Any, input_spec: Any, input_args: list[Any],
              metadata: dict[str, Any] | None = None, obj: Any | None = None) -> list[Any]:
        """The flat inputs ``input_args`` (of structure ``input_spec``) as the program's
        (of ``target_spec``)."""

    def get_flat_arg_paths(self) -> list[str]:
        """The key paths of the flat inputs (none by default)."""
        return []


class _NotAProgramError(TypeError, AttributeError):
    """unflatten of something that is no ExportedProgram (torch's AttributeError, reading its
    graph_signature)."""


class InterpreterModule(Module):
    """A submodule of an ``UnflattenedModule``: holds its part of the state (the same
    parameter and buffer objects as the program) and its children. It cannot be called on
    its own (the program is one graph); call the UnflattenedModule."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("unflatten: a submodule of an UnflattenedModule runs only "
                                  "as part of the whole program; call the UnflattenedModule")


class UnflattenedModule(Module):
    """``unflatten(ep)``: the exported module's parameters and buffers under their dotted
    names, in InterpreterModule children, and a forward running ``ep.module()`` (inputs
    checked as exported)."""

    def __init__(self, ep: Any, flat_args_adapter: Any = None):
        from dlpy.export._program import ExportedProgram, InputKind

        super().__init__()
        if not isinstance(ep, ExportedProgram):
            raise _NotAProgramError(f"unflatten: expected an ExportedProgram, got "
                            f"{type(ep).__name__}")
        self.graph_signature = ep.graph_signature
        object.__setattr__(self, "_program", ep.module())  # not a child: its state is ours
        root = ep._root
        for path, _ in root.named_modules():  # the hierarchy, state-less children included
            if path:
                self._owner(path)
        for spec in ep.graph_signature.input_specs:
            if spec.kind not in (InputKind.PARAMETER, InputKind.BUFFER):
                continue
            prefix, _, name = spec.target.rpartition(".")
            owner = self._owner(prefix)
            value = root.get_parameter(spec.target) if spec.kind is InputKind.PARAMETER \
                else root.get_buffer(spec.target)
            if spec.kind is InputKind.PARAMETER:
                owner.register_parameter(name, value)
            else:
                owner.register_buffer(name, value, persistent=bool(spec.persistent))

    def _owner(self, path: str) -> Module:
        owner: Module = self
        for atom in path.split(".") if path else ():
            if atom not in owner._modules:
                owner.add_module(atom, InterpreterModule())
            owner = owner._modules[atom]
        return owner

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._program(*args, **kwargs)


def unflatten(module: Any, flat_args_adapter: Any = None) -> UnflattenedModule:
    """torch.export.unflatten: ``module`` (an ExportedProgram) as an UnflattenedModule with
    the original module hierarchy."""
    return UnflattenedModule(module, flat_args_adapter)
