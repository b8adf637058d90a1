"""Containers: Sequential (layers applied in order) and ModuleList (a list of registered
modules). Children are named "0", "1", ... so state dicts match PyTorch's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dlpy.nn.module import Module
from dlpy.tensor import Tensor


class ModuleList(Module):
    """A list of modules whose parameters the parent sees (``layers.0.weight``...)."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}: expected a Module, got {type(module).__name__}"
            )
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice):
        modules = list(self._modules.values())
        if isinstance(index, slice):  # the same container type, holding the same modules
            part = type(self).__new__(type(self))
            ModuleList.__init__(part, modules[index])
            return part
        if not -len(modules) <= index < len(modules):
            raise IndexError(
                f"{type(self).__name__}: index {index} out of range for {len(modules)} modules"
            )
        return modules[index]


class Sequential(ModuleList):
    """Sequential(layer, layer, ...)(x) applies the layers in order."""

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x: Tensor) -> Tensor:
        for module in self._modules.values():
            x = module(x)
        return x
