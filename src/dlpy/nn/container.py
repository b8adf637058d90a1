"""Containers: Sequential (layers applied in order), ModuleList and ModuleDict (registered
modules), ParameterList and ParameterDict (registered parameters). Entries are named "0",
"1", ... or by their keys, so state dicts match PyTorch's (``blocks.enc.weight``,
``scales.0``, ``gates.a``).

Every entry is registered through Module.__setattr__, the one place where children and
parameters are recorded; ``_register`` only checks the key first and keeps a replaced key in
its position (as PyTorch)."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import Any

import numpy as np

from dlpy.nn.module import Module, Parameter, _addindent, _block
from dlpy.ops import ArgTypeAssertionError
from dlpy.tensor import Tensor


def _check_module(container: Module, module: Any, none_ok: bool = True,
                  error: type = TypeError) -> Module:
    """``module`` if it is a Module (or None, an empty slot as torch's ``add_module`` takes
    it, where ``none_ok``), else ``error`` (a TypeError)."""
    if not isinstance(module, Module) and not (none_ok and module is None):
        raise error(
            f"{type(container).__name__}: expected a Module, got {type(module).__name__}"
        )
    return module


def _as_parameter(value: Any) -> Any:
    """A plain Tensor as a Parameter (a copy, requiring grad; an integer one is refused, as
    torch's ``Parameter``); a Parameter or any other value as it is."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _register(container: Module, key: Any, value: Module | Parameter,
              store: dict[str, Any]) -> None:
    """Register ``value`` under the name ``key`` (``store`` is the container's _modules or
    _parameters, where it lands)."""
    name = type(container).__name__
    if not isinstance(key, str):
        raise TypeError(f"{name}: keys must be strings, got {type(key).__name__} {key!r}")
    if not key or "." in key:
        raise KeyError(f"{name}: a key must be a non-empty string without '.', got {key!r}")
    if key in store:  # a replacement keeps its place in the order
        store[key] = value
        object.__setattr__(container, key, value)
        return
    if hasattr(container, key):
        raise KeyError(f"{name}: attribute {key!r} already exists, it cannot be a key")
    if value is None and store is container._modules:  # an empty slot, as torch's add_module
        container.add_module(key, None)
        return
    setattr(container, key, value)


def _pairs(container: Module, items: Any, sort_dicts: bool = False) -> list[tuple[Any, Any]]:
    """(key, value) pairs of a mapping, a dict container or an iterable of pairs, checked as
    torch's ``update``. PyTorch's ParameterDict sorts a plain dict's keys (``sort_dicts``) but
    keeps an OrderedDict's (or a container's) order."""
    name = type(container).__name__
    if not isinstance(items, Iterable):
        raise TypeError(f"{name}.update: expected a mapping or an iterable of (key, value) "
                        f"pairs, got {type(items).__name__}")
    if isinstance(items, (OrderedDict, ModuleDict, ParameterDict)):
        return list(items.items())
    if isinstance(items, Mapping):
        pairs = list(items.items())
        return sorted(pairs) if sort_dicts else pairs
    pairs = []
    for i, pair in enumerate(items):  # torch's errors: TypeError, or ValueError for a length
        if not isinstance(pair, Iterable):
            raise TypeError(f"{name}.update: element {i} should be a (key, value) pair, got "
                            f"{type(pair).__name__}")
        if len(pair) != 2:
            raise ValueError(f"{name}.update: element {i} should be a (key, value) pair, got "
                             f"{len(pair)} items; 2 are required")
        pairs.append((pair[0], pair[1]))
    return pairs


def _delete(container, index: int | slice) -> None:
    """ModuleList's and Sequential's ``del container[index]``: the module (or slice of them)
    removed, the rest renumbered "0", "1", ..."""
    modules = list(container._modules.values())
    if isinstance(index, slice):
        del modules[index]
    else:
        del modules[_position(container, index)]
    _renumber(container, modules)


def _renumber(container: Module, modules: list[Module]) -> None:
    """Make ``modules`` the container's children "0", "1", ... in order (after a deletion or an
    insertion), each also an attribute, as ``self.<i>`` is for an appended one."""
    for key in list(container._modules):
        container.__dict__.pop(key, None)
    container._modules.clear()
    for i, module in enumerate(modules):
        container.add_module(str(i), module)


def _shift_in(container: Module, index: int, module: Module) -> None:
    """torch's insertion: the entries "len" down to "index + 1" each take the one named one
    less, then "index" is ``module``: children with other names keep them (an insertion at the
    end adds "len"; before a child not named by its position, torch's KeyError)."""
    modules = container._modules
    for i in range(len(modules), index, -1):
        if str(i - 1) not in modules:
            raise KeyError(f"{type(container).__name__}.insert: no child named '{i - 1}' to "
                           "move up (torch's insert shifts the children named by position)")
        modules[str(i)] = modules[str(i - 1)]
    modules[str(index)] = module


def _position(container: Module, index: Any) -> int:
    """An int index (negative counts from the end) as a position in [0, len), else IndexError."""
    size = len(container)
    index = operator.index(index)
    if not -size <= index < size:
        raise IndexError(f"{type(container).__name__}: index {index} out of range for {size} "
                         "modules")
    return index % size


def _insert_position(container: Module, index: Any) -> int:
    """An insertion index in [-len, len] as a position in [0, len], else IndexError."""
    size = len(container)
    index = operator.index(index)
    if not -size <= index <= size:
        raise IndexError(f"{type(container).__name__}.insert: index {index} out of range for "
                         f"{size} modules")
    return index % size if index < 0 else index


def _hide_indices(container: Module) -> list[str]:
    """dir() without the children's "0", "1", ... (torch's containers)."""
    return [key for key in Module.__dir__(container) if not key.isdigit()]


class Container(Module):
    """torch's oldest container: ``Container(name=module, ...)`` registers each keyword's module
    under its name (Module does all it did; kept for code that subclasses it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)


class ModuleList(Module):
    """A list of modules whose parameters the parent sees (``layers.0.weight``...), with
    torch's list methods: indexing and slices, ``append``, ``extend``, ``insert``, ``pop``,
    ``del``, ``+`` and ``+=``; deleting or inserting renumbers the entries."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), _check_module(self, module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of an iterable; returns self."""
        if not isinstance(modules, Iterable):
            raise TypeError(f"{type(self).__name__}.extend should be called with an iterable, "
                            f"but got {type(modules).__name__}")
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (0 to len), as torch's: an ``index`` past
        the end adds the module under the name ``str(index)`` (as torch's loop leaves it), a
        negative one is a KeyError."""
        index = operator.index(index)
        _check_module(self, module)
        if index < 0:  # torch's loop reads the entry "-1"
            raise KeyError(f"{type(self).__name__}.insert: index {index}: torch's "
                           "ModuleList.insert takes 0 to len(modules)")
        _shift_in(self, index, module)

    def pop(self, index: int | slice) -> Module | ModuleList:
        """Remove and return the module at ``index`` (a ModuleList of them for a slice)."""
        module = self[index]
        del self[index]
        return module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        """A new ModuleList of this one's modules then ``other``'s (the same module objects)."""
        return ModuleList(chain(self, other))

    def __dir__(self) -> list[str]:
        return _hide_indices(self)

    def __getitem__(self, index: int | slice):
        modules = list(self._modules.values())
        if isinstance(index, slice):  # the same container type, holding the same modules
            part = type(self).__new__(type(self))
            ModuleList.__init__(part, modules[index])
            return part
        return modules[_position(self, index)]

    def __setitem__(self, index: int, module: Module) -> None:
        """``layers[i] = module`` replaces the i-th module in place (same name, same place)."""
        setattr(self, list(self._modules)[_position(self, index)], _check_module(self, module))

    def __delitem__(self, index: int | slice) -> None:
        """``del layers[i]`` (or a slice): the rest renumbered "0", "1", ... as torch's."""
        _delete(self, index)

    def __repr__(self) -> str:
        """torch's: runs of consecutive children with the same repr shown once, as
        ``(2-4): 3 x Linear(...)``."""
        runs: list[list] = []  # [first, last, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [_addindent(f"({first}): {text}" if first == last else
                            f"({first}-{last}): {last - first + 1} x {text}", 2)
                 for first, last, text in runs]
        return _block(self._get_name(), lines)


class Sequential(Module):
    """Sequential(layer, layer, ...)(x) applies the layers in order; Sequential(OrderedDict)
    names them. torch's methods: indexing (a slice is a Sequential), ``append``, ``extend``,
    ``insert``, ``pop``, ``del`` (renumbering the entries "0", "1", ...), ``+``, ``+=``, ``*``
    and ``*=`` (the same module objects repeated)."""

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for key, module in modules[0].items():
                self.add_module(key, _check_module(self, module))
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), _check_module(self, module))

    def forward(self, input: Tensor) -> Tensor:  # torch's name (fx placeholders show it)
        for module in self._modules.values():
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __dir__(self) -> list[str]:
        return _hide_indices(self)

    def __getitem__(self, index: int | slice):
        if isinstance(index, slice):  # the same container type, the same names and modules
            part = type(self).__new__(type(self))
            Sequential.__init__(part, OrderedDict(list(self._modules.items())[index]))
            return part
        return list(self._modules.values())[_position(self, index)]

    def __setitem__(self, index: int, module: Module) -> None:
        """``model[i] = module`` replaces the i-th module in place (same name, same place)."""
        setattr(self, list(self._modules)[_position(self, index)], _check_module(self, module))

    def __delitem__(self, index: int | slice) -> None:
        """``del model[i]`` (or a slice): the rest renamed "0", "1", ... as torch's."""
        _delete(self, index)

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), _check_module(self, module))
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Put ``module`` before position ``index`` (-len to len); the entries renumbered."""
        _check_module(self, module, False, ArgTypeAssertionError)  # (torch asserts it first)
        _shift_in(self, _insert_position(self, index), module)
        return self

    def pop(self, index: int | slice) -> Module | Sequential:
        module = self[index]
        del self[index]
        return module

    def _other(self, other: Any, operation: str) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential: {operation} takes a Sequential, got "
                             f"{type(other).__name__}")
        return other

    def __add__(self, other: Sequential) -> Sequential:
        return Sequential(*self, *self._other(other, "+"))

    def __iadd__(self, other: Sequential) -> Sequential:
        return self.extend(self._other(other, "+="))

    def _times(self, count: Any) -> int:
        if not isinstance(count, int):  # (a bool is an int, as torch's check takes it)
            raise TypeError(f"Sequential: * takes an int, got {type(count).__name__}")
        if count <= 0:
            raise ValueError(f"Sequential: * needs a positive count, got {count}")
        return count

    def __mul__(self, count: int) -> Sequential:
        return Sequential(*(list(self) * self._times(count)))

    __rmul__ = __mul__

    def __imul__(self, count: int) -> Sequential:
        return self.extend(list(self) * (self._times(count) - 1))


class ModuleDict(Module):
    """A dict of modules whose parameters the parent sees (``blocks.enc.weight``...), in
    insertion order: ``md[key]``, ``md[key] = module``, ``del md[key]``, ``in``, ``len``,
    iteration over the keys, ``keys()``, ``values()``, ``items()``, ``update``, ``pop``,
    ``clear``."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None
                 = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _register(self, key, _check_module(self, module), self._modules)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace entries from a mapping (in its order) or (key, module) pairs."""
        for key, module in _pairs(self, modules):
            self[key] = module

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]


class ParameterList(Module):
    """A list registered as ``0``, ``1``, ... (``scales.0`` in the parent's state dict), as
    torch's: ``pl[i]``, ``pl[i] = v``, slices, ``len``, iteration, ``append``, ``extend``,
    ``+=``. A plain Tensor becomes a Parameter; any other value (a number, None, a Module) is
    kept as the attribute ``str(i)``, as an assignment to a module would keep it."""

    def __init__(self, values: Iterable[Any] | None = None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _key(self, index: Any) -> str:
        """An int index (negative counts from the end) as its entry's name, else IndexError."""
        size = self._size
        index = operator.index(index)
        if not -size <= index < size:
            raise IndexError(f"ParameterList: index {index} out of range for {size} entries")
        return str(index % size)

    def __getitem__(self, index: int | slice):
        if isinstance(index, slice):  # a ParameterList holding the same objects
            part = type(self)()
            for i in range(*index.indices(self._size)):
                part.append(self[i])
            return part
        return getattr(self, self._key(index))

    def __setitem__(self, index: int, value: Any) -> None:
        setattr(self, self._key(index), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(self._size))

    def __dir__(self) -> list[str]:
        return _hide_indices(self)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")

    def append(self, value: Any) -> ParameterList:
        self._size += 1
        try:
            self[self._size - 1] = value
        except Exception:
            self._size -= 1
            raise
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if isinstance(values, Tensor) or not isinstance(values, Iterable):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got "
                            f"{type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return _repr_parameters(self, enumerate(self))


class ParameterDict(Module):
    """A dict registered under its keys (``gates.a`` in the parent's state dict), as torch's:
    ``pd[key]``, ``pd[key] = v``, ``del``, ``in``, ``len``, iteration over the keys, ``keys()``,
    ``values()``, ``items()``, ``get``, ``setdefault``, ``update``, ``pop``, ``popitem``,
    ``copy``, ``fromkeys``, ``clear``, ``|``. As PyTorch, a plain dict's entries are added in
    sorted key order (an OrderedDict's or a list of pairs' in theirs); a plain Tensor becomes a
    Parameter; any other value is kept as the attribute ``key``."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _check_key(key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict: keys must be strings, got {type(key).__name__} "
                            f"{key!r}")
        return key

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._check_key(key))  # a missing key: AttributeError, as torch's

    def __setitem__(self, key: str, value: Any) -> None:
        if self._check_key(key) not in self._keys:
            if not key or "." in key:
                raise KeyError(f"ParameterDict: a key must be a non-empty string without '.', "
                               f"got {key!r}")
            if key not in self._parameters and hasattr(self, key):
                raise KeyError(f"ParameterDict: attribute {key!r} already exists, it cannot "
                               "be a key")
        setattr(self, key, _as_parameter(value))
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")

    def keys(self):
        return self._keys.keys()

    def values(self) -> Iterator[Any]:
        return (self[key] for key in self._keys)

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((key, self[key]) for key in self._keys)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The entry ``key``, first set to ``default`` if there is none."""
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted (key, value)."""
        if not self._keys:
            raise KeyError("popitem(): ParameterDict is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same objects, in this order."""
        return ParameterDict(OrderedDict(self.items()))

    @staticmethod
    def fromkeys(keys: Iterable[str], default: Any = None) -> ParameterDict:
        return ParameterDict([(key, default) for key in keys])

    def __or__(self, other: Mapping[str, Any]) -> ParameterDict:
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Mapping[str, Any]):
        """``other | pd``: ``other``'s copy updated with this one (a dict for a dict, torch's)."""
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other: Mapping[str, Any]) -> ParameterDict:
        self.update(other)
        return self

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add or replace entries (a plain dict's in sorted key order, as PyTorch)."""
        for key, value in _pairs(self, parameters, sort_dicts=True):
            self[key] = value

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def extra_repr(self) -> str:
        return _repr_parameters(self, self.items())


def _repr_parameters(container: Module, entries: Iterable[tuple[Any, Any]]) -> str:
    """torch's extra_repr: one line an entry, ``(0): Parameter containing: [torch.float32 of
    size 2x3]`` (ParameterDict names the legacy type, ``torch.FloatTensor``), ``(k): Object of
    type: int`` for a value that is no tensor, each indented 2 columns (4 in the repr, which
    also lists a Module value as a child)."""
    lines = []
    for key, value in entries:
        if isinstance(value, Tensor):
            if isinstance(container, ParameterDict):
                kind = "torch." + value.type().partition(".")[2]
            else:
                kind = f"torch.{np.dtype(value.dtype).name}"
            size = "x".join(str(n) for n in value.shape)
            what = "Parameter" if isinstance(value, Parameter) else "Tensor"
            lines.append(f"  ({key}): {what} containing: [{kind} of size {size}]")
        else:
            lines.append(f"  ({key}): Object of type: {type(value).__name__}")
    return "\n".join(lines)
