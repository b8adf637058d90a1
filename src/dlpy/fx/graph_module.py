"""torch.fx's GraphModule: a Module whose ``forward`` is Python source generated from a Graph,
holding (sharing, not copying) the submodules, parameters and buffers the graph refers to."""

from __future__ import annotations

import itertools
import linecache
from pathlib import Path
from typing import Any

from dlpy.fx.graph import Graph
from dlpy.nn.module import Module
from dlpy.ops import ArgTypeAssertionError

_source_count = itertools.count()


def _exec_with_source(src: str, globals_: dict) -> None:
    """exec ``src`` under a made-up file name kept in linecache, so tracebacks show the
    generated lines (as torch.fx)."""
    key = f"<eval_with_key>.{next(_source_count)}"
    linecache.cache[key] = (len(src), None, src.splitlines(True), key)
    exec(compile(src, key, "exec"), globals_)


def _copy_attr(from_module: Module, to_module: Module, target: str) -> None:
    """Put ``from_module``'s attribute at ``target`` (a dotted name) at the same place in
    ``to_module`` (the object itself: parameters stay shared), making empty modules on the
    way."""
    *prefix, field = target.split(".")
    for item in prefix:
        f = getattr(from_module, item)
        t = getattr(to_module, item, None)
        if f is t:
            return  # already installed
        if t is None:
            t = Module()
            setattr(to_module, item, t)
        from_module, to_module = f, t
    _assign(to_module, field, getattr(from_module, field), from_module)


def _assign(to_module: Module, field: str, value: Any, owner: Module | None = None) -> None:
    from dlpy.nn.module import Parameter
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        # a buffer, a tensor attribute or a constant the tracer kept (_tensor_constant0):
        # a buffer of the GraphModule, persistent whatever it was (torch.fx's _copy_attr)
        to_module.register_buffer(field, value)
    elif isinstance(value, (Module, Tensor)) or owner is None or field in owner._parameters:
        setattr(to_module, field, value)
    else:  # a constant array the tracer kept
        object.__setattr__(to_module, field, value)


def _assign_attr(value: Any, to_module: Module, target: str) -> None:
    *prefix, field = target.split(".")
    for item in prefix:
        t = getattr(to_module, item, None)
        if t is None:
            t = Module()
            setattr(to_module, item, t)
        to_module = t
    _assign(to_module, field, value)


class GraphModule(Module):
    """``GraphModule(root, graph, class_name)``: ``root`` is a Module (the graph's call_module
    and get_attr targets are taken from it) or a dict from those targets to objects. ``code``
    is the generated source of ``forward``; ``recompile()`` regenerates it after the graph
    changed."""

    def __new__(cls, *args, **kwargs):
        # a class of its own for each instance, so that forward can be set on it (as torch)
        for t in cls.__mro__:
            if t.__qualname__.split(".")[-1] != "GraphModuleImpl":
                cls = t
                break

        class GraphModuleImpl(cls):  # type: ignore[misc, valid-type]
            pass

        return super().__new__(GraphModuleImpl)

    def __init__(self, root: Module | dict[str, Any], graph: Graph,
                 class_name: str = "GraphModule"):
        super().__init__()
        self.__class__.__name__ = class_name
        self.__class__.__qualname__ = class_name
        if isinstance(root, Module):
            if hasattr(root, "training"):
                object.__setattr__(self, "training", root.training)
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    _copy_attr(root, self, node.target)
        elif isinstance(root, dict):
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    if node.target not in root:
                        raise RuntimeError(f"Node {node} referenced target {node.target} but "
                                           f"that target was not provided in ``root``!")
                    _assign_attr(root[node.target], self, node.target)
        else:
            raise RuntimeError(f"Unsupported type {root} passed for root!")
        self.graph = graph

    @property
    def graph(self) -> Graph:
        return self.__dict__["_graph"]

    @graph.setter
    def graph(self, g: Graph) -> None:
        if not isinstance(g, Graph):
            raise ArgTypeAssertionError(f"GraphModule: expected a Graph, got {type(g).__name__}")
        self.__dict__["_graph"] = g
        g.owning_module = self
        self.recompile()

    @property
    def code(self) -> str:
        """The Python source of ``forward``."""
        return self._code

    def recompile(self):
        """Regenerate ``forward`` from ``self.graph`` (call after changing the graph)."""
        python_code = self._graph.python_code(root_module="self")
        object.__setattr__(self, "_code", python_code.src)
        _exec_with_source(python_code.src, python_code.globals)
        type(self).forward = python_code.globals["forward"]
        return python_code

    def print_readable(self, print_output: bool = True) -> str:
        """The module as a Python class, the generated forward in it."""
        body = "".join(f"    {line}\n" if line else "\n"
                       for line in self._code.strip().splitlines())
        text = f"class {type(self).__name__}(dlpy.nn.Module):\n{body}"
        if print_output:
            print(text)
        return text

    def to_folder(self, folder: str | Path, module_name: str = "FxModule") -> None:
        """Write ``module.py`` (the class, its forward the generated code) and
        ``state_dict.pt`` (dlpy.save) into ``folder``, and an ``__init__.py`` importing the
        class; the submodules are pickled in ``submodules.pkl``. ``from folder.module import
        FxModule`` rebuilds it."""
        import pickle

        import dlpy

        folder = Path(folder)
        folder.mkdir(exist_ok=True)  # its parent must exist, as torch.fx's
        dlpy.save(self.state_dict(), folder / "state_dict.pt")
        with open(folder / "submodules.pkl", "wb") as f:
            pickle.dump(dict(self.named_children()), f)
        names = sorted(set(self._graph.python_code("self").globals) - {"inf", "nan"})
        imports = "".join(f"import {n}\n" for n in names if n in ("operator", "math",
                                                                     "numpy"))
        imports = f"import dlpy\n{imports}"
        forward = "".join(f"    {line}\n" if line else "\n"
                          for line in self._code.strip().splitlines())
        (folder / "__init__.py").write_text(f"from .module import {module_name}\n")
        (folder / "module.py").write_text(
            f"import pickle\nfrom math import inf, nan  # noqa: F401\nfrom pathlib import "
            f"Path\n\n{imports}\n_here = Path(__file__).parent\n\n\n"
            f"class {module_name}(dlpy.nn.Module):\n    def __init__(self):\n"
            f"        super().__init__()\n"
            f"        with open(_here / 'submodules.pkl', 'rb') as f:\n"
            f"            for name, module in pickle.load(f).items():\n"
            f"                setattr(self, name, module)\n"
            f"        self.load_state_dict(dlpy.load(_here / 'state_dict.pt'), strict=False)\n"
            f"\n{forward}")

    def __str__(self) -> str:
        return "\n".join([super().__repr__(), self._code,
                          "# To see more debug info, please use `graph_module.print_readable()`"])

    def add_submodule(self, target: str, m: Module) -> bool:
        """Install ``m`` at the dotted ``target``, making empty Modules on the way; False
        (nothing installed) when something on the way is not a Module."""
        *prefix, field = target.split(".")
        mod = self
        for item in prefix:
            submod = getattr(mod, item, None)
            if submod is None:
                submod = Module()
                setattr(mod, item, submod)
            if not isinstance(submod, Module):
                return False
            mod = submod
        mod.add_module(field, m)
        return True

    def delete_submodule(self, target: str) -> bool:
        """Delete the submodule at the dotted ``target``; False when there is none."""
        *path, field = target.split(".")
        mod = self
        for item in path:
            mod = getattr(mod, item, None)
            if not isinstance(mod, Module):
                return False
        if not isinstance(getattr(mod, field, None), Module):
            return False
        delattr(mod, field)
        return True

    def delete_all_unused_submodules(self) -> None:
        """Delete every submodule that no call_module or get_attr node reaches (a called
        module's own children stay)."""
        used: set[str] = set()
        for node in self._graph.nodes:
            if node.op in ("call_module", "get_attr") and isinstance(node.target, str):
                atoms = node.target.split(".")
                used.update(".".join(atoms[:i + 1]) for i in range(len(atoms)))
                if node.op == "call_module":
                    try:
                        submod = self.get_submodule(node.target)
                    except AttributeError:
                        continue
                    used.update(f"{node.target}.{name}" for name, _ in submod.named_modules()
                                if name)
        for name in [name for name, _ in self.named_modules() if name not in used]:
            self.delete_submodule(name)

    def __reduce__(self):
        """Pickled as its attributes, the Graph among them (torch.fx pickles the generated
        code and traces it again when loading); loading makes a GraphModule of a class of its
        own again, named GraphModule as torch.fx's, and regenerates ``forward``."""
        return _new_graph_module, (), self.__dict__.copy()

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.graph = state["_graph"]

    def __copy__(self) -> GraphModule:
        """A GraphModule sharing this one's graph, submodules and attributes the graph uses
        (torch.fx's)."""
        copied = GraphModule(self, self._graph)
        copied.meta = getattr(self, "meta", {})
        return copied

    def __deepcopy__(self, memo):
        import copy

        root = Module()
        for name, child in self.named_children():
            setattr(root, name, copy.deepcopy(child, memo))
        for name, p in self._parameters.items():
            setattr(root, name, copy.deepcopy(p, memo))
        for name, b in self._buffers.items():
            root.register_buffer(name, copy.deepcopy(b, memo), name not in self._non_persistent)
        for name, value in self.__dict__.items():
            if name.startswith("_tensor_constant"):
                object.__setattr__(root, name, copy.deepcopy(value, memo))
        copied = GraphModule(root, copy.deepcopy(self._graph, memo))  # named as torch.fx's
        object.__setattr__(copied, "training", self.training)
        return copied


def _new_graph_module() -> GraphModule:
    """An empty GraphModule, its attributes set by unpickling (``__setstate__``)."""
    module = GraphModule.__new__(GraphModule)
    type(module).__name__ = type(module).__qualname__ = "GraphModule"
    return module
