"""Run an unchanged PyTorch program on dlpy: ``import torch`` (and ``torchvision``,
``torchaudio``) give dlpy's modules.

    python -m dlpy.compat train.py --epochs 1        # or: dlpy run-torch train.py --epochs 1
    python -m dlpy.compat -m package.module ARGS     # a module, as ``python -m``

    with dlpy.compat.as_torch():                     # in a program
        import torch, torch.nn.functional as F       # dlpy, dlpy.functional

A module name maps through ``MODULE_MAP`` (longest prefix first: ``torch.nn.functional`` ->
``dlpy.functional``, ``torch.utils.data`` -> ``dlpy.data``, ``torchvision`` -> ``dlpy.vision``,
``torchaudio`` -> ``dlpy.audio``), anything else to the same name under ``dlpy``. A torch module
dlpy lacks is a ``ModuleNotFoundError`` that names both. Real torch modules already imported are
set aside while the aliases are installed and put back when they are removed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
from collections.abc import Iterator

# torch's module name -> dlpy's, where they differ; the longest matching prefix wins
MODULE_MAP = {
    "torch": "dlpy",
    "torch.nn.functional": "dlpy.functional",
    "torch.utils.data": "dlpy.data",
    "torchvision": "dlpy.vision",
    "torchaudio": "dlpy.audio",
}
TOP_LEVEL = ("torch", "torchvision", "torchaudio")
# submodules `import torch` makes reachable as attributes (torch.nn.functional.relu with no
# import of its own): (dlpy parent, attribute, dlpy module), set while the aliases are installed
ATTRIBUTE_ALIASES = (("dlpy.nn", "functional", "dlpy.functional"),
                     ("dlpy.utils", "data", "dlpy.data"))


def dlpy_name(torch_name: str) -> str:
    """The dlpy module a torch module name stands for (``torch.utils.data.sampler`` ->
    ``dlpy.data.sampler``)."""
    parts = torch_name.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in MODULE_MAP:
            return ".".join([MODULE_MAP[prefix], *parts[cut:]])
    raise ValueError(f"dlpy.compat: {torch_name!r} is not a torch, torchvision or torchaudio "
                     f"module")


def _is_torch_name(name: str) -> bool:
    return name.split(".", 1)[0] in TOP_LEVEL


def _resolve(torch_name: str):
    """Import the dlpy counterpart of ``torch_name``: a module, or a module-valued attribute
    of one (``dlpy.nn.utils.rnn`` may be either)."""
    target = dlpy_name(torch_name)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as err:
        # only a missing target (or a missing parent of it) means "dlpy lacks it"; a missing
        # module that the target itself imports is a real error and propagates
        if err.name is None or not (target == err.name or target.startswith(err.name + ".")):
            raise
    parent_name, _, child = target.rpartition(".")
    try:
        parent = importlib.import_module(parent_name) if parent_name else None
    except ModuleNotFoundError:
        parent = None
    value = getattr(parent, child, None) if parent is not None else None
    if value is not None and type(value).__name__ == "module":
        return value
    raise ModuleNotFoundError(
        f"No module named {torch_name!r}: dlpy has no counterpart of it (looked for "
        f"{target!r}); see docs/pytorch.md for what dlpy provides", name=torch_name)


class _AliasLoader(importlib.abc.Loader):
    """Puts the dlpy module in ``sys.modules`` in place of the module being imported (the
    import system then returns it: the replacement a module may make of itself), so dlpy's
    own modules keep their names and specs."""

    def __init__(self, finder: _TorchFinder):
        self.finder = finder

    def create_module(self, spec):
        return None  # a blank placeholder, replaced in exec_module

    def exec_module(self, module) -> None:
        name = module.__name__
        target = _resolve(name)
        sys.modules[name] = target
        self.finder.aliased.add(name)
        parent_name, _, child = name.rpartition(".")
        # the import system sets `parent.child` next: note dlpy modules that did not have it
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None and child not in vars(parent):
            self.finder.attributes_added.append((parent, child))


class _TorchFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.aliased: set[str] = set()
        self.attributes_added: list = []
        self.loader = _AliasLoader(self)

    def find_spec(self, fullname, path=None, target=None):
        if not _is_torch_name(fullname):
            return None
        return importlib.util.spec_from_loader(fullname, self.loader)


_state: dict = {"finder": None, "set_aside": {}, "depth": 0}


def install() -> None:
    """Make ``import torch`` (torchvision, torchaudio) give dlpy until ``uninstall()``.
    Installing twice nests (each install needs its uninstall)."""
    _state["depth"] += 1
    if _state["finder"] is not None:
        return
    set_aside = {name: module for name, module in sys.modules.items() if _is_torch_name(name)}
    for name in set_aside:
        del sys.modules[name]
    finder = _TorchFinder()
    for parent_name, child, module_name in ATTRIBUTE_ALIASES:
        parent = importlib.import_module(parent_name)
        if child not in vars(parent):
            setattr(parent, child, importlib.import_module(module_name))
            finder.attributes_added.append((parent, child))
    sys.meta_path.insert(0, finder)
    _state.update(finder=finder, set_aside=set_aside)


def uninstall() -> None:
    """Undo ``install()``: the aliases go, real torch modules set aside come back, and the
    attributes the import system added to dlpy modules (``dlpy.utils.data``) are removed."""
    if _state["depth"] == 0:
        raise RuntimeError("dlpy.compat.uninstall: the torch aliases are not installed")
    _state["depth"] -= 1
    if _state["depth"] > 0:
        return
    finder = _state["finder"]
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(finder)
    for name in [n for n in sys.modules if _is_torch_name(n)]:
        del sys.modules[name]
    for parent, child in reversed(finder.attributes_added):
        with contextlib.suppress(AttributeError):
            delattr(parent, child)
    sys.modules.update(_state["set_aside"])
    _state.update(finder=None, set_aside={})


def is_installed() -> bool:
    """Whether ``import torch`` gives dlpy now."""
    return _state["finder"] is not None


@contextlib.contextmanager
def as_torch() -> Iterator[None]:
    """``with as_torch(): import torch`` gives dlpy inside the block."""
    install()
    try:
        yield
    finally:
        uninstall()


def run(argv: list[str]) -> None:
    """Run ``SCRIPT ARGS...`` or ``-m MODULE ARGS...`` as ``__main__`` with the aliases
    installed (``sys.argv`` as Python would set it)."""
    if not argv or argv[0] in ("-h", "--help"):
        raise SystemExit("usage: python -m dlpy.compat SCRIPT [ARGS...] | -m MODULE [ARGS...]\n"
                         "runs a PyTorch program with `import torch` giving dlpy")
    install()
    try:
        if argv[0] == "-m":
            if len(argv) < 2:
                raise SystemExit("dlpy.compat: -m needs a module name")
            # `-m torch.distributed.run` runs dlpy's module (the alias has no code to run)
            module = dlpy_name(argv[1]) if _is_torch_name(argv[1]) else argv[1]
            sys.argv = [module, *argv[2:]]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            script = argv[0]
            if not os.path.isfile(script):
                raise SystemExit(f"dlpy.compat: no such script: {script}")
            sys.argv = list(argv)
            sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
    finally:
        uninstall()


def register(subparsers) -> None:
    """`dlpy run-torch SCRIPT [ARGS...]`."""
    import argparse

    parser = subparsers.add_parser(
        "run-torch", help="run a PyTorch program on dlpy (`import torch` gives dlpy)",
        description="Runs SCRIPT (or -m MODULE) with `import torch`, `torchvision` and "
                    "`torchaudio` giving dlpy's modules; ARGS go to the program.")
    parser.add_argument("program", nargs=argparse.REMAINDER,
                        help="SCRIPT [ARGS...] or -m MODULE [ARGS...]")
    parser.set_defaults(func=_run_command)


def _run_command(args) -> int:
    """The program's own exceptions are its business: Python's traceback and exit 1, as
    ``python SCRIPT`` would (not dlpy's "a bug in dlpy" message); its SystemExit passes."""
    import traceback

    try:
        run(args.program)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - reported as Python reports it
        if isinstance(err, KeyboardInterrupt):
            raise
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    # through the imported dlpy.compat, not this __main__ copy of it: its state is the one
    # is_installed() reports to the program (dlpy.distributed.run, dlpy.multiprocessing)
    from dlpy.compat import run as _run

    _run(sys.argv[1:])
