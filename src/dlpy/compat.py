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

``.data`` as torch's: dlpy's ``t.data`` is the numpy array, torch's a Tensor sharing memory
(``p.data.add_(p.grad, alpha=-lr)``, ``m.weight.data.normal_(0, 0.02)``). ``run`` compiles the
program's own source files (the script and the modules imported from its folder or, for
``-m``, from the package's folder, subfolders included; never dlpy's files, the standard
library's or site-packages') with every ``X.data`` and ``torch.Tensor(...)`` call rewritten,
nothing else:

- a load ``X.data`` becomes ``__dlpy_data__(X)`` (``tensor_data``): for a dlpy Tensor, a
  Tensor on the same array (``X.detach()``), with no graph, whose in-place methods write into
  X's array without recording (even given an operand that requires grad) and bump its version
  (so backward refuses an op whose backward reads the old value, where torch would compute a
  stale gradient); for anything else (a dataset, a numpy array, a named tuple) ``X.data``;
- a store or augmented store ``X.data = v`` / ``X.data += v`` goes through
  ``__dlpy_data_target__(X).data`` (``data_target``): a Tensor X takes v's array (shared, as
  torch's), a numpy array as it is; anything else stores as written. ``del X.data`` and
  ``case X.data:`` patterns and annotations are left as written;
- a call ``X.Tensor(...)`` or ``Tensor(...)`` becomes ``__dlpy_tensor_new__(X.Tensor, ...)``
  (``tensor_new``): for dlpy's Tensor, torch's legacy constructor (``torch.Tensor(2, 3)`` a
  zero-filled shape, ``torch.Tensor([1, 2])`` data of the default float dtype, as
  ``torch.FloatTensor``); anything else's ``Tensor`` is called as written;
- a read of torch.dtype's own attributes ``X.is_floating_point`` / ``X.is_complex`` /
  ``X.is_signed`` (not a call of them: a Tensor's method calls stay) and ``X.to_real`` /
  ``X.to_complex`` becomes ``__dlpy_dtype_attr__(X, name)`` (``dtype_attribute``): for a dtype
  (dlpy's are numpy's, which lack them) torch's answer, for anything else ``X.name``.

Line numbers are kept; transformed code is never written to a ``.pyc`` (a plain ``python`` run
of the same files compiles them afresh); the finder serving the program's modules is removed
after the run, and the program's modules loaded through it leave ``sys.modules``.
``install()``/``as_torch()`` give the aliases, and one rewrite: an installed library written
for torch (a ``.py`` file of site-packages, not dlpy's, whose source imports torch, torchvision
or torchaudio: ``torchinfo`` reads ``inputs[0].data.size()``) imported while they stand is
compiled with the same rewrite (``_LibraryFinder``; it stays loaded after, as any
module imported under the aliases); other code they import is not rewritten. While they stand,
numpy's floating-point warnings are off (torch gives inf and nan silently).

A library's rewritten code is kept on disk (``library_code``; dlpy/_code_cache.py), as Python
keeps ``.pyc`` files but apart from them: ``<cache>/compat/<interpreter>/<key[:2]>/<key>``
under ``DLPY_CACHE_DIR`` (else ``$XDG_CACHE_HOME/dlpy``, else ``~/.cache/dlpy``), the key a
SHA-256 of the file's source bytes, its path, this module's own source (the rewrite) and the
interpreter's bytecode magic and optimisation level: everything the compiled code depends on,
so an entry is never stale (an edit of the library, of dlpy's rewrite, another Python, is
another key). Parsing and rewriting a big library (torchmetrics: 300 files) takes seconds;
loading its entries, tens of milliseconds. Entries are written whole (a temporary file, then a
rename) and checked on reading (a digest of their bytes); a folder that cannot be written
leaves them unwritten. It is dlpy's cache, not Python's ``__pycache__``:
``PYTHONDONTWRITEBYTECODE`` (set in many containers to keep ``.pyc`` files out of source
folders) does not turn it off; ``DLPY_COMPAT_CACHE=0`` does.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import functools
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import pathlib
import re
import runpy
import sys
import sysconfig
import types
from collections.abc import Iterator

import numpy as np

from dlpy import _code_cache
from dlpy.io import no_gc
from dlpy.ops.complex import ComplexTensor
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Tensor, _buffer, _marks, no_grad

# torch's module name -> dlpy's, where they differ; the longest matching prefix wins
MODULE_MAP = {
    "torch": "dlpy",
    "torch.nn.functional": "dlpy.functional",
    "torch.utils.data": "dlpy.data",
    # torch's legacy names of its quantization modules (torch.quantization.quantize_dynamic)
    "torch.quantization": "dlpy.ao.quantization",
    "torch.nn.quantized": "dlpy.ao.nn.quantized",
    "torch.nn.intrinsic": "dlpy.ao.nn.intrinsic",
    "torch.nn.qat": "dlpy.ao.nn.qat",
    "torch.nn.quantizable": "dlpy.ao.nn.quantizable",
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
        # a dlpy module standing in for a torch package (dlpy.nn.utils for torch.nn.utils)
        # registers its submodules in sys.modules (dlpy.nn.utils.rnn): alias them now, as the
        # import system asks no finder below a parent that is not a package. A package's
        # loaded submodules are aliased too (where the names map back): importing one later
        # then finds it in sys.modules, as torch's does, and the import system leaves the
        # parent's attribute of that name alone (dlpy.ao.quantization.fuse_modules stays the
        # function that shadows its module, as torch's)
        package = hasattr(target, "__path__")
        own_name = target.__spec__.name if target.__spec__ is not None else target.__name__
        prefix = f"{own_name}."
        for key, submodule in list(sys.modules.items()):
            if key.startswith(prefix) and submodule is not None:
                alias = name + key[len(own_name):]
                if package and (alias in sys.modules or dlpy_name(alias) != key):
                    continue
                sys.modules[alias] = submodule
                self.finder.aliased.add(alias)
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

    def find_distributions(self, context=None):
        """``importlib.metadata``'s distributions this finder adds: "torch", "torchvision"
        and "torchaudio" (dlpy under the aliases), so ``importlib.metadata.version("torch")``,
        which libraries read at import (accelerate, transformers, diffusers), gives the version
        dlpy reports, whether or not a real torch is installed (its metadata comes after
        this one)."""
        distribution = _torch_distribution_type()
        name = getattr(context, "name", None)
        if name is None:
            return iter(tuple(distribution(top) for top in TOP_LEVEL))
        name = name.lower().replace("_", "-")
        return iter((distribution(name),) if name in TOP_LEVEL else ())


@functools.cache
def _torch_distribution_type() -> type:
    """``_TorchDistribution``, defined on first use: importlib.metadata takes tens of
    milliseconds to import, and only a program that has imported it asks for distributions."""
    import importlib.metadata

    class _TorchDistribution(importlib.metadata.Distribution):
        """The metadata of "torch" (torchvision, torchaudio) while dlpy stands for it: its
        name and version."""

        def __init__(self, name: str = "torch"):
            self.distribution_name = name

        def read_text(self, filename):
            if filename == "METADATA":
                from dlpy import version

                number = {"torch": version.__version__, "torchvision": version.VISION_VERSION,
                          "torchaudio": version.AUDIO_VERSION}[self.distribution_name]
                return (f"Metadata-Version: 2.1\nName: {self.distribution_name}\n"
                        f"Version: {number}\nSummary: dlpy standing for "
                        f"{self.distribution_name} (dlpy.compat)\n")
            return None

        def locate_file(self, path):
            return pathlib.Path(__file__).parent / path

    return _TorchDistribution


_state: dict = {"finder": None, "set_aside": {}, "depth": 0, "numpy_errors": None}


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
    _state["library_finder"] = _LibraryFinder()
    index = next((i for i, f in enumerate(sys.meta_path)
                  if f is importlib.machinery.PathFinder), len(sys.meta_path))
    sys.meta_path.insert(index, _state["library_finder"])
    # torch.__version__ is the PyTorch version dlpy follows (dlpy/version.py), so a program's
    # version gates take that branch; dlpy's own version comes back with uninstall()
    import dlpy
    import dlpy.version

    _state["dlpy_version"] = dlpy.__version__
    dlpy.__version__ = dlpy.version.__version__
    # and torch.__name__ is "torch", as libraries check (pyro's patches assert
    # `target.split(".")[0] == torch.__name__`); dlpy's spec keeps its own name, and its
    # submodules theirs
    dlpy.__name__ = "torch"
    # torch's float arithmetic is silent on log(0), 0/0 and overflow (it gives inf/nan): so
    # are numpy's warnings while the aliases stand (np.seterr is per thread, restored after)
    numpy_errors = np.seterr(all="ignore")
    _state.update(finder=finder, set_aside=set_aside, numpy_errors=numpy_errors,
                  cells=_rewrite_cells())


def uninstall() -> None:
    """Undo ``install()``: the aliases go, real torch modules set aside come back, and the
    attributes the import system added to dlpy modules (``dlpy.utils.data``) are removed."""
    if _state["depth"] == 0:
        raise RuntimeError("dlpy.compat.uninstall: the torch aliases are not installed")
    _state["depth"] -= 1
    if _state["depth"] > 0:
        return
    finder = _state["finder"]
    if sys.meta_path is None:  # the interpreter is shutting down (an unclosed as_torch())
        return
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(finder)
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_state.pop("library_finder", None))
    for name in [n for n in sys.modules if _is_torch_name(n)]:
        del sys.modules[name]
    for parent, child in reversed(finder.attributes_added):
        with contextlib.suppress(AttributeError):
            delattr(parent, child)
    sys.modules.update(_state["set_aside"])
    np.seterr(**_state["numpy_errors"])
    sys.modules["dlpy"].__version__ = _state.pop("dlpy_version")
    sys.modules["dlpy"].__name__ = "dlpy"
    shell, cells = _state.pop("cells", None) or (None, None)
    if cells is not None:
        with contextlib.suppress(ValueError):
            shell.ast_transformers.remove(cells)
    _state.update(finder=None, set_aside={}, numpy_errors=None)


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


# ------------------------------------------------------------- the program's `.data`
DATA_LOAD = "__dlpy_data__"
DATA_STORE = "__dlpy_data_target__"
TENSOR_NEW = "__dlpy_tensor_new__"


class _DataView(Tensor):
    """A plain Tensor's ``.data`` under the rewrite: ``detach()``'s Tensor on the same array,
    whose in-place methods never record, so ``p.data.copy_(q)`` writes into p's array even
    when q requires grad (torch's result would record; dlpy's would get an array of its own).
    Ops on it give plain Tensors; it pickles and copies as one."""

    __torch_function__ = _disabled_torch_function_impl
    __slots__ = ()

    def _in_place(self, *args, **kwargs) -> Tensor:
        # torch's .data has a version counter of its own: a change through it is not tracked
        # (ops recorded before read the new values, backward does not refuse)
        key = id(_buffer(self.data))
        entry = _marks.get(key)
        with no_grad():
            result = super()._in_place(*args, **kwargs)
        if entry is None:
            _marks.pop(key, None)
        else:
            _marks[key] = entry
        return result

    def __reduce_ex__(self, protocol):
        return Tensor, (self.data,)


class _ComplexDataView(_DataView, ComplexTensor):
    """A complex Tensor's ``.data`` under the rewrite: a ``_DataView`` that is also a
    ComplexTensor, so a change through it is no more tracked than a real one's (torchdiffeq's
    ``k.data[i] = f`` on a complex state) and complex ops keep their rules."""

    __slots__ = ()


def tensor_data(value):
    """``value.data`` as torch reads it: for a dlpy Tensor, a Tensor on the same array with no
    graph (``detach()``; its in-place methods write into value's array); anything else's own
    ``.data``."""
    if isinstance(value, Tensor):
        view = value.detach()
        if type(view) is Tensor:  # (a subclass's detach stays as it is)
            view.__class__ = _DataView
        elif type(view) is ComplexTensor:
            view.__class__ = _ComplexDataView
        return view
    return value.data


def set_tensor_data(tensor: Tensor, value) -> None:
    """``tensor.data = value`` as torch's: a Tensor's array is taken (shared, not copied; the
    shape and dtype may change), a numpy array as it is (dlpy's own ``.data``)."""
    if isinstance(value, Tensor):
        tensor.data = value.data
    elif isinstance(value, np.ndarray):
        tensor.data = value
    else:
        raise TypeError(f"Tensor.data: expected a Tensor (or a numpy array), got "
                        f"{type(value).__name__}")


class _DataTarget:
    """What ``X.data = v`` (and ``X.data += v``) stores through when X is a Tensor."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor):
        self.tensor = tensor

    @property
    def data(self):
        return tensor_data(self.tensor)

    @data.setter
    def data(self, value) -> None:
        set_tensor_data(self.tensor, value)


def data_target(value):
    """The object ``value.data = ...`` stores on: a ``_DataTarget`` for a Tensor (torch's
    meaning of the store), ``value`` itself otherwise."""
    return _DataTarget(value) if isinstance(value, Tensor) else value


def tensor_new(cls, *args, **kwargs):
    """``torch.Tensor(...)`` called as torch's legacy constructor: ints (or a Size) are a
    shape (``nn.Parameter(torch.Tensor(out, in))``), data becomes the default float dtype,
    as ``torch.FloatTensor`` (or DoubleTensor, ... after ``set_default_dtype``); any other
    ``X.Tensor(...)`` is called as written."""
    if cls is not Tensor:
        return cls(*args, **kwargs)
    from dlpy import legacy_types
    from dlpy.tensor import default_dtype

    name = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
            "bfloat16": "BFloat16Tensor"}.get(np.dtype(default_dtype()).name, "FloatTensor")
    return getattr(legacy_types, name)(*args, **kwargs)


DTYPE_ATTRIBUTE = "__dlpy_dtype_attr__"
# torch.dtype's own attributes, which dlpy's dtypes (numpy's, immutable types) lack; the flags
# are read as attributes (never called on a dtype), the conversions called
DTYPE_FLAGS = frozenset({"is_floating_point", "is_complex", "is_signed"})
DTYPE_ATTRIBUTES = DTYPE_FLAGS | {"to_real", "to_complex"}


def _dtype_to_complex(dtype: np.dtype) -> np.dtype:
    """torch's ``dtype.to_complex()``: the complex dtype with ``dtype``'s real part."""
    from dlpy.tensor import is_floating_dtype

    if dtype.kind == "c":
        return dtype
    if dtype == np.float16:  # torch's complex32, a dtype dlpy names but has no tensors of
        import dlpy

        return dlpy.complex32
    if is_floating_dtype(dtype):
        return np.dtype(np.complex128 if dtype == np.float64 else np.complex64)
    raise RuntimeError(f"Unknown Complex ScalarType for {dtype.name}")


def dtype_attribute(value, name: str):
    """``value.<name>`` for ``name`` one of torch.dtype's own attributes (DTYPE_ATTRIBUTES):
    for a dtype, torch's flag (``is_floating_point``, ``is_complex``, ``is_signed``) or
    conversion method (``to_real()``, ``to_complex()``); anything else's own attribute (a
    Tensor's ``is_floating_point`` method, ``torch.is_complex``)."""
    if not isinstance(value, np.dtype):
        return getattr(value, name)
    from dlpy.tensor import is_floating_dtype

    if name == "is_floating_point":
        return is_floating_dtype(value)
    if name == "is_complex":
        return value.kind == "c"
    if name == "is_signed":
        return value.kind in "ifc" or is_floating_dtype(value)
    if name == "to_real":
        return lambda: (np.dtype(np.float64 if value == np.complex128 else np.float32)
                        if value.kind == "c" else value)
    if name == "to_complex":
        return lambda: _dtype_to_complex(value)
    return getattr(value, name)


DTYPE_TEXT = "__dlpy_dtype_text__"
DTYPE_TEXT_OF = "__dlpy_dtype_text_of__"


class _TorchDtypeName(str):
    """A dtype's torch name ("torch.float64") where the text of a dtype is asked for: its
    ``str``, ``format`` and ``repr`` are all that text, as torch.dtype's are."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


def dtype_text(value, owner=None):
    """``value`` as ``str()``, ``repr()``, ``print`` or an f-string would show it, where the
    source looks like a dtype (``str(dtype)``, ``f"{x.dtype}"``): a dlpy dtype (numpy's, whose
    text is "float64") becomes torch's name, "torch.float64", which libraries parse
    (``str(dtype).split(".")[1]``), unless it is the dtype of a numpy array or scalar
    (``owner``, for ``x.dtype``: ``str(array.dtype)`` stays numpy's "float64"); anything else
    is returned as it is."""
    if isinstance(value, np.dtype) and not isinstance(owner, (np.ndarray, np.generic)):
        return _TorchDtypeName(f"torch.{value.name}")
    return value


def dtype_text_of(owner, name: str):
    """``dtype_text(owner.<name>, owner)``, ``owner`` evaluated once (``x.dtype``)."""
    return dtype_text(getattr(owner, name), owner)


# the names the rewritten code calls, put in each rewritten module's globals
HELPERS = {DATA_LOAD: tensor_data, DATA_STORE: data_target, TENSOR_NEW: tensor_new,
           DTYPE_ATTRIBUTE: dtype_attribute, DTYPE_TEXT: dtype_text,
           DTYPE_TEXT_OF: dtype_text_of}

# torch's dtype attributes (``torch.float16``), whose text a source may ask for
_TORCH_DTYPE_NAMES = frozenset({
    "float16", "float32", "float64", "bfloat16", "half", "float", "double", "complex64",
    "complex128", "cfloat", "cdouble", "int8", "int16", "int32", "int64", "uint8", "uint16",
    "uint32", "uint64", "short", "int", "long", "bool", "float8_e4m3fn", "float8_e5m2"})


def _looks_like_dtype(node: ast.AST) -> bool:
    """Whether an expression whose text is taken may be a dtype, by its name: ``dtype``,
    ``x.dtype``, ``torch_dtype``, ``torch.get_default_dtype()``, ``torch.float16``,
    ``config["dtype"]`` (a key naming a dtype)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and isinstance(key.value, str) \
            and "dtype" in key.value.lower()
    if isinstance(node, ast.Name):
        return "dtype" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "dtype" in node.attr.lower() or (
            node.attr in _TORCH_DTYPE_NAMES and isinstance(node.value, ast.Name)
            and node.value.id == "torch")
    return False


def _dtype_text_call(node: ast.AST) -> ast.AST:
    if isinstance(node, ast.Attribute) and "dtype" in node.attr.lower():  # x.dtype: x's kind
        call = ast.Call(func=ast.Name(id=DTYPE_TEXT_OF, ctx=ast.Load()),
                        args=[node.value, ast.Constant(node.attr)], keywords=[])
    else:
        call = ast.Call(func=ast.Name(id=DTYPE_TEXT, ctx=ast.Load()), args=[node], keywords=[])
    return _located(call, node)


class DataAccess(ast.NodeTransformer):
    """``X.data`` (load) -> ``__dlpy_data__(X)``; ``X.data = v`` (store, augmented store) ->
    ``__dlpy_data_target__(X).data = v``. ``del X.data``, ``case X.data:`` and annotations stay.
    ``X.Tensor(...)`` and ``Tensor(...)`` -> ``__dlpy_tensor_new__(X.Tensor, ...)``
    (``tensor_new``: torch's legacy constructor when X.Tensor is dlpy's Tensor).
    ``X.is_floating_point`` / ``is_complex`` / ``is_signed`` read (not called: a Tensor's method
    call stays as it is) and ``X.to_real`` / ``X.to_complex`` -> ``__dlpy_dtype_attr__(X, name)``
    (``dtype_attribute``: torch.dtype's attributes when X is a dtype). The text of what looks
    like a dtype (``_looks_like_dtype``: ``str(dtype)``, ``repr(x.dtype)``, ``print(dtype)``,
    ``f"{torch_dtype}"``) -> ``__dlpy_dtype_text__(X)`` inside (``dtype_text``: torch's name
    for a dtype)."""

    def __init__(self, lines: list[int] | None = None):
        # the source's lines that may hold something to rewrite (``_candidate_lines``, sorted):
        # a statement spanning none of them is left as it is, unvisited (None: visit all)
        self.lines = lines

    def visit(self, node: ast.AST) -> ast.AST:
        lines = self.lines
        if lines is not None and isinstance(node, ast.stmt):
            start = node.lineno
            for decorator in getattr(node, "decorator_list", ()):  # (above the def line)
                start = min(start, decorator.lineno)
            at = bisect.bisect_left(lines, start)
            if at == len(lines) or lines[at] > node.end_lineno:
                return node
        return super().visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in DTYPE_FLAGS:
            # x.is_floating_point(): a method call (dtypes' flags are not callable)
            func.value = self.visit(func.value)
            node.args = [self.visit(arg) for arg in node.args]
            node.keywords = [self.visit(keyword) for keyword in node.keywords]
            return node
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("str", "repr", "print"):
            node.args = [_dtype_text_call(arg) if _looks_like_dtype(arg) else arg
                         for arg in node.args]
            return node
        if not ((isinstance(func, ast.Attribute) and func.attr == "Tensor")
                or (isinstance(func, ast.Name) and func.id == "Tensor")):
            return node
        call = ast.Call(func=ast.Name(id=TENSOR_NEW, ctx=ast.Load()), args=[func, *node.args],
                        keywords=node.keywords)
        return _located(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr in DTYPE_ATTRIBUTES and isinstance(node.ctx, ast.Load):
            call = ast.Call(func=ast.Name(id=DTYPE_ATTRIBUTE, ctx=ast.Load()),
                            args=[node.value, ast.Constant(node.attr)], keywords=[])
            return _located(call, node)
        if node.attr != "data" or isinstance(node.ctx, ast.Del):
            return node
        if isinstance(node.ctx, ast.Load):
            call = ast.Call(func=ast.Name(id=DATA_LOAD, ctx=ast.Load()), args=[node.value],
                            keywords=[])
            return _located(call, node)
        target = ast.Call(func=ast.Name(id=DATA_STORE, ctx=ast.Load()), args=[node.value],
                          keywords=[])
        node.value = _located(target, node.value)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        if _looks_like_dtype(node.value):
            node.value = _dtype_text_call(node.value)
        return node

    def visit_MatchValue(self, node: ast.MatchValue) -> ast.AST:
        return node  # a value pattern must stay a dotted name

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node  # annotations as written (strings under `from __future__ import annotations`)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        node.target = self.visit(node.target)
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_FunctionDef(self, node):
        returns, node.returns = node.returns, None
        self.generic_visit(node)
        node.returns = returns
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


# a method ``def __torch_function__`` in a class body: the source may define a Tensor-like type
# that is no Tensor (linear_operator's LinearOperator) and key tables by torch's functions
_DEFINES_TORCH_FUNCTION = re.compile(rb"^[ \t]+def[ \t]+__torch_function__\b", re.M)


def _dispatch_for(source: bytes | str) -> None:
    """Before a module whose source defines ``__torch_function__``, or makes fx Proxies on a
    bare Graph (``GraphAppendingTracer``: torch's functions reach them through dispatch only;
    opt_einsum_fx), runs: dlpy's ``__torch_function__`` dispatch on
    (``overrides.enable_dispatch``), so its Tensor-like types are dispatched to, as torch's
    always are, and the tables its package keys by dlpy's functions (``HANDLED[torch.matmul]``,
    ``{torch.einsum}`` to read graph targets) hold the identities those functions keep after."""
    data = source.encode() if isinstance(source, str) else source
    # (a source never naming it is decided without the pattern's line-by-line search)
    if b"GraphAppendingTracer" in data or b"__torch_function__" in data \
            and _DEFINES_TORCH_FUNCTION.search(data):
        from dlpy import overrides

        overrides.enable_dispatch()


# what DataAccess may rewrite, matched in the source text (strings and comments too, so a
# superset): an attribute ``.data`` / dtype attribute (whitespace, line continuations and
# comments allowed after the dot, as Python's tokenizer does inside brackets) or a call of
# ``Tensor``; a source without any compiles as it is (most of a big library's modules: parsing
# and rewriting them is most of a cold import's time). Each pattern starts with a literal (a
# word boundary before it is a look-behind after it), which the regex engine finds fast: a
# search of a whole library's sources is part of every import of it
_MAY_REWRITE = (
    re.compile(rb"\.(?:[ \t\r\n\f\\]|#[^\n]*\n)*"
               rb"(?:data|is_floating_point|is_complex|is_signed|to_real|to_complex)\b"),
    re.compile(rb"Tensor(?<!\wTensor)(?:[ \t\r\n\f\\)]|#[^\n]*\n)*\("),
    # the text of a dtype: str(...dtype...), str(torch.float16) (an f-string's {...dtype...}:
    # _may_rewrite)
    *(re.compile(word + rb"(?<!\w" + word + rb")\s*\([^)]*(?:(?i:dtype)|torch\.\w+)")
      for word in (rb"str", rb"repr", rb"print")))
# a line that is one import statement (no `;`): its dotted names (`from timm.data import x`)
# are module paths, never an attribute ``.data``
_IMPORT_LINE = re.compile(
    rb"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import|import[ \t]+[\w.])[^;\n]*$", re.M)
# an f-string's replacement field naming a dtype on its literal's line (``f"{x.dtype}"``: a
# field on one line, ``_LINE_FIELD_DTYPE``, after an opening ``_F_OPENING`` on that line), a
# dict literal's ``{'dtype': dtype}`` never; an f-string literal that may span lines
# (triple-quoted, a backslash-newline inside: ``_F_STRING_LINES``), for which any
# {...dtype...} counts
_LINE_FIELD_DTYPE = re.compile(rb"\{[^{}\n]*(?i:dtype)[^{}\n]*\}")
_F_OPENING = re.compile(rb"\b[rR]?[fF][rR]?[\"']")
_F_PREFIX_END = re.compile(rb"\b[rR]?[fF][rR]?\Z")
_TRIPLE_QUOTE_OR_CONTINUATION = re.compile(rb"'''|\"\"\"|\\\r?\n")
_FIELD_DTYPE = re.compile(rb"\{[^{}]*(?i:dtype)[^{}]*\}")


# a line where DataAccess may change something (a superset of _MAY_REWRITE's matches, line by
# line): the attribute and function names it rewrites, a Tensor call, the word str/repr/print
# (a dtype in its call's arguments may be on a later line, which names it), anything naming a
# dtype, an f-string field naming torch's (``{torch.float16}``)
_CANDIDATE = re.compile(rb"\b(?:data|is_floating_point|is_complex|is_signed|to_real|to_complex|"
                        rb"Tensor|str|repr|print)\b|(?i:dtype)|\{[^{}\n]*torch\.\w")


def _candidate_lines(data: bytes) -> list[int]:
    """The (1-based, sorted) numbers of ``data``'s lines that ``_CANDIDATE`` matches."""
    lines, line, counted = [], 1, 0
    for match in _CANDIDATE.finditer(data):
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def _line_start(data: bytes, position: int) -> int:
    return data.rfind(b"\n", 0, position) + 1


def _outside_imports(pattern: re.Pattern, data: bytes) -> bool:
    """Whether ``pattern`` matches ``data`` on a line that is no import statement's."""
    return any(_IMPORT_LINE.match(data, _line_start(data, match.start())) is None
               for match in pattern.finditer(data))


def _f_field_dtype(data: bytes) -> bool:
    """Whether a line has an f-string's field naming a dtype: a {...dtype...} after an opening
    ``f"`` (``rf'``, ...) on its line."""
    return any(_F_OPENING.search(data, _line_start(data, match.start()), match.start())
               for match in _LINE_FIELD_DTYPE.finditer(data))


def _f_string_lines(data: bytes) -> bool:
    """Whether an f-string literal may span lines: an opening ``f`` (``rf``, ...) before three
    quotes, or before one quote on a line that ends with a backslash."""
    for match in _TRIPLE_QUOTE_OR_CONTINUATION.finditer(data):
        at = match.start()
        if data[at] == ord("\\"):
            if _F_OPENING.search(data, _line_start(data, at), at):
                return True
        elif _F_PREFIX_END.search(data, max(0, at - 3), at):
            return True
    return False


def _may_rewrite(data: bytes) -> bool:
    """Whether ``DataAccess`` may change the module ``data`` is the source of (a superset,
    matched in the text): ``_MAY_REWRITE`` outside import statements, or an f-string field
    that names a dtype. Most of a big library's modules have nothing to rewrite (timm's
    ``from timm.data import ...``, its ``{'device': device, 'dtype': dtype}`` keyword dicts):
    they compile as they are, without the parse and rewrite that are most of a cold import."""
    if any(_outside_imports(pattern, data) for pattern in _MAY_REWRITE) or _f_field_dtype(data):
        return True
    return _FIELD_DTYPE.search(data) is not None and _f_string_lines(data)


def _located(new: ast.AST, old: ast.AST) -> ast.AST:
    """``new`` and the nodes made with it (those without a position yet) at ``old``'s
    position: what ``ast.fix_missing_locations`` would do, without walking the whole tree."""
    ast.copy_location(new, old)
    for child in ast.iter_child_nodes(new):
        if "lineno" in child._attributes and not hasattr(child, "lineno"):
            _located(child, old)
    return new


class _CellRewrite(ast.NodeTransformer):
    """An IPython shell's cells rewritten as a program file's code (``DataAccess``), while the
    aliases stand: a notebook's ``torch.float32.is_floating_point``, ``str(x.dtype)`` and
    ``x.data = v`` act as in a script. A cell's last expression that looks like a dtype
    (``torch.float32``, ``x.dtype``) shows torch's name, as the shell's displayhook reprs it."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        node = DataAccess().visit(node)
        last = node.body[-1] if node.body else None
        if isinstance(last, ast.Expr) and _looks_like_dtype(last.value):
            last.value = _dtype_text_call(last.value)
        return node


def _rewrite_cells() -> tuple | None:
    """(shell, transformer) when install() runs inside IPython (a notebook, the ipython
    console): its cells are compiled with the rewrite from now on, its namespace given the
    helpers the rewritten code calls; None elsewhere (a cell's code never passes through the
    import system, where program files and libraries are rewritten)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not isinstance(getattr(shell, "ast_transformers", None), list):
        return None
    cells = _CellRewrite()
    shell.ast_transformers.append(cells)
    shell.user_ns.update(HELPERS)
    return shell, cells


def program_code(source: bytes | str, path: str) -> types.CodeType:
    """``source`` compiled with ``X.data`` rewritten (``DataAccess``), at its own line numbers
    (tracebacks show ``path``'s lines); ``from __future__`` imports of the source only. A source
    that defines ``__torch_function__`` turns dispatch on first (``_dispatch_for``). A source
    with nothing to rewrite (``_may_rewrite``) is compiled directly: the same code, faster."""
    _dispatch_for(source)
    data = source.encode() if isinstance(source, str) else source
    if not _may_rewrite(data):
        return compile(source, path, "exec", dont_inherit=True)
    with no_gc():  # (an AST holds no cycles: its objects go by reference counts)
        tree = compile(source, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        tree = DataAccess(_candidate_lines(data)).visit(tree)
        return compile(tree, path, "exec", dont_inherit=True)


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def _excluded_folders() -> list[str]:
    """dlpy's folder, the standard library's and the installed packages'."""
    paths = sysconfig.get_paths()
    folders = [os.path.dirname(sys.modules["dlpy"].__file__),
               *(paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib"))]
    return [os.path.realpath(folder) for folder in folders if folder]


def _real_path(path: str, real_folders: dict[str, str] | None = None) -> str:
    """``os.path.realpath(path)``. Given ``real_folders`` (a finder's: folder -> its real path),
    each folder is resolved once: realpath makes a system call per folder name of the path, for
    every module imported; the file itself is still checked for a link."""
    folder, name = os.path.split(path)
    if real_folders is None or not os.path.isabs(folder) or os.path.islink(path):
        return os.path.realpath(path)
    real = real_folders.get(folder)
    if real is None:
        real = real_folders[folder] = os.path.realpath(folder)
    return os.path.join(real, name)


def is_program_file(path: str | None, folder: str, excluded: list[str] | None = None) -> bool:
    """Whether ``path`` is a ``.py`` file of the program in ``folder`` (subfolders included):
    not one of dlpy's, the standard library's or an installed package's (``excluded``:
    ``_excluded_folders()``, given when known)."""
    if not path or not path.endswith(".py"):
        return False
    return _is_program_path(os.path.realpath(path), os.path.realpath(folder), excluded)


def _is_program_path(path: str, folder: str, excluded: list[str] | None) -> bool:
    """``is_program_file`` of a ``.py`` file, ``path`` and ``folder`` with links resolved."""
    if not _inside(path, folder):
        return False
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    excluded = _excluded_folders() if excluded is None else excluded
    return not any(_inside(path, other) for other in excluded)


class _ProgramLoader(importlib.machinery.SourceFileLoader):
    """A program module's loader: its source through ``program_code``, never a ``.pyc`` read
    or written (one could hold the plain compilation, or give it to a plain run)."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)

    def source_to_code(self, data, path, *, _optimize=-1):
        return program_code(data, path)

    def exec_module(self, module) -> None:
        vars(module).update(HELPERS)
        super().exec_module(module)


class _BeforePathFinder(importlib.abc.MetaPathFinder):
    """A finder standing before the path finder: it finds what the path finder finds and
    serves some of it with a loader of its own (``claim``). The path finder's search (a look
    in each folder of the path) is made once per import, however many of these stand together
    before it: each hands its result to the next one, and the one right before the path finder
    returns a spec it did not claim itself (what the path finder, asked next, would return)."""

    def __init__(self):
        self.handed: tuple | None = None  # (fullname, path, target, spec) found by the one before
        self.real_folders: dict[str, str] = {}  # _real_path's folders

    def claim(self, fullname: str, spec) -> bool:
        """Serve ``spec``'s module (its loader replaced): True; leave it as found: False."""
        raise NotImplementedError

    def find_spec(self, fullname, path=None, target=None):
        handed, self.handed = self.handed, None
        if (handed is not None and handed[0] == fullname and handed[1] is path
                and handed[2] is target):
            spec = handed[3]
        else:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and self.claim(fullname, spec):
            return spec
        meta_path = sys.meta_path
        index = next((i for i, finder in enumerate(meta_path) if finder is self), None)
        following = meta_path[index + 1] if index is not None and index + 1 < len(meta_path) \
            else None
        if following is importlib.machinery.PathFinder:
            return spec
        if isinstance(following, _BeforePathFinder):
            following.handed = (fullname, path, target, spec)
        return None


class _ProgramFinder(_BeforePathFinder):
    """Finds what the path finder finds, and serves the program's files (``is_program_file``)
    with ``_ProgramLoader``; anything else is left to the finders after it."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = os.path.realpath(folder)
        self.excluded = _excluded_folders()
        self.loaded: list[str] = []

    def claim(self, fullname: str, spec) -> bool:
        origin = spec.origin
        if (type(spec.loader) is not importlib.machinery.SourceFileLoader
                or not origin or not origin.endswith(".py")
                or not _is_program_path(_real_path(origin, self.real_folders), self.folder,
                                        self.excluded)):
            return False
        spec.loader = _ProgramLoader(fullname, spec.origin)
        self.loaded.append(fullname)
        return True


# a line of source importing torch (torchvision, torchaudio): `import torch.nn as nn`,
# `from torch import Tensor`, `import numpy as np, torch`
_IMPORTS_TORCH = re.compile(
    rb"^[ \t]*(?:from[ \t]+torch(?:vision|audio)?[ \t.]|import[ \t][^#\n]*"
    rb"\btorch(?:vision|audio)?\b)", re.M)


def is_torch_library_file(path: str | None, source: bytes | None = None) -> bool:
    """Whether ``path`` is a ``.py`` file of an installed package (site-packages, dist-packages)
    written for torch: its source (``source``, else read) imports torch, torchvision or
    torchaudio. dlpy's own files never are (dlpy may be installed there too)."""
    return _torch_library_source(path, source) is not None


def _torch_library_source(path: str | None, source: bytes | None = None,
                          real_folders: dict[str, str] | None = None) -> bytes | None:
    """``path``'s source (``source``, else read) when it is a torch library's file
    (``is_torch_library_file``), else None."""
    if not path or not path.endswith(".py"):
        return None
    real = _real_path(path, real_folders)
    parts = real.split(os.sep)
    if "site-packages" not in parts and "dist-packages" not in parts:
        return None
    if _inside(real, _dlpy_folder()):
        return None
    if source is None:
        try:
            with open(real, "rb") as file:
                source = file.read()
        except OSError:
            return None
    # only the lines naming torch are matched (the pattern's search tries every line)
    at = source.find(b"torch")
    while at != -1:
        if _IMPORTS_TORCH.match(source, _line_start(source, at)):
            return source
        line_end = source.find(b"\n", at)
        at = -1 if line_end == -1 else source.find(b"torch", line_end)
    return None


@functools.cache
def _dlpy_folder() -> str:
    """dlpy's own folder, links resolved."""
    return os.path.realpath(os.path.dirname(sys.modules["dlpy"].__file__))


def _code_cache_folder() -> str | None:
    """Where ``library_code`` keeps this interpreter's entries (None: the cache is off)."""
    if os.environ.get("DLPY_COMPAT_CACHE", "1") == "0":
        return None
    return _code_cache.cache_folder("compat")


_rewrite_digest: list[bytes] = []  # the hash of this module's source, read once


def _code_key(source: bytes, path: str) -> str:
    """The cache key of ``path``'s rewritten code: what the code object depends on."""
    if not _rewrite_digest:
        with open(__file__, "rb") as file:
            _rewrite_digest.append(hashlib.sha256(file.read()).digest())
    return _code_cache.code_key(_rewrite_digest[0], os.fsencode(path), source)


def library_code(source: bytes, path: str) -> types.CodeType:
    """``program_code(source, path)`` through the on-disk cache of rewritten code (the module's
    docstring): an entry found and intact is loaded, else the source is compiled and its entry
    written (best effort: a cache that cannot be read or written only costs the compiling)."""
    _dispatch_for(source)
    folder = _code_cache_folder()
    if folder is None:
        return program_code(source, path)
    try:
        key = _code_key(source, path)
    except OSError:  # this module's source unreadable (a zip): no key that covers the rewrite
        return program_code(source, path)
    entry = _code_cache.entry_path(folder, key)
    code = _code_cache.read_entry(entry, path)
    if code is None:
        code = program_code(source, path)
        _code_cache.write_entry(entry, code)
    return code


class _LibraryLoader(_ProgramLoader):
    """An installed library's module: rewritten as a program's (``_ProgramLoader``), its code
    kept in the cache of rewritten code (``library_code``). A module with nothing to rewrite
    (``_may_rewrite``: most of a big library's) is the plain compilation, so it is loaded as
    Python loads it, from the ``.pyc`` its installer compiled where that is current."""

    def __init__(self, fullname: str, path: str, source: bytes | None = None):
        super().__init__(fullname, path)
        self.source = source  # as the finder read it, used once (not read twice)

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        data, self.source = self.source, None
        if data is None:
            data = self.get_data(path)
        if _may_rewrite(data):
            return library_code(data, path)
        _dispatch_for(data)
        return importlib.machinery.SourceFileLoader.get_code(self, fullname)

    def source_to_code(self, data, path, *, _optimize=-1):
        return library_code(data, path)


class _LibraryFinder(_BeforePathFinder):
    """While the aliases stand (before the path finder): an installed library's module written
    for torch (``is_torch_library_file``) is served by ``_LibraryLoader``, so its ``X.data``
    reads and stores as torch's (a Tensor, never dlpy's numpy array); any other module is left
    to the finders after it."""

    def claim(self, fullname: str, spec) -> bool:
        if type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return False
        source = _torch_library_source(spec.origin, real_folders=self.real_folders)
        if source is None:
            return False
        spec.loader = _LibraryLoader(fullname, spec.origin, source)
        return True


@contextlib.contextmanager
def _program_modules(folder: str | None) -> Iterator[None]:
    """Serve the program's modules in ``folder`` rewritten while the block runs (before the
    path finder, so other finders keep their turn); afterwards the finder and the modules it
    loaded go."""
    if folder is None:
        yield
        return
    finder = _ProgramFinder(folder)
    index = next((i for i, f in enumerate(sys.meta_path)
                  if f is importlib.machinery.PathFinder), len(sys.meta_path))
    sys.meta_path.insert(index, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
        for name in finder.loaded:
            module = sys.modules.get(name)
            if module is not None and isinstance(getattr(module, "__loader__", None),
                                                 _ProgramLoader):
                del sys.modules[name]


def _module_folder(name: str) -> str | None:
    """The folder of ``-m name``'s top-level package (its module's folder for a plain module),
    found without importing it; None for dlpy's own modules."""
    top = name.partition(".")[0]
    if top == "dlpy":
        return None
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return os.path.dirname(spec.origin) if spec.origin else None


def _run_script(path: str) -> None:
    """``runpy.run_path(path, run_name="__main__")`` for a file, its code rewritten when it is
    a program file: a fresh ``__main__`` module (in ``sys.modules`` while it runs, so pickle
    finds the classes it defines) with run_path's globals."""
    with open(path, "rb") as file:
        source = file.read()
    folder = os.path.dirname(os.path.abspath(path))
    if is_program_file(path, folder):
        code = program_code(source, path)
    else:
        code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    vars(main).update(__file__=path, __cached__=None, __loader__=None, __package__="",
                      __spec__=None, **HELPERS)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(code, vars(main))
    finally:
        if saved is None:
            del sys.modules["__main__"]
        else:
            sys.modules["__main__"] = saved


def run(argv: list[str]) -> None:
    """Run ``SCRIPT ARGS...`` or ``-m MODULE ARGS...`` as ``__main__`` with the aliases
    installed (``sys.argv`` as Python would set it) and the program's ``X.data`` as torch's
    (see the module's docstring)."""
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
            with _program_modules(_module_folder(module)):
                runpy.run_module(module, init_globals=HELPERS, run_name="__main__",
                                 alter_sys=True)
        else:
            script = argv[0]
            if not os.path.isfile(script):
                raise SystemExit(f"dlpy.compat: no such script: {script}")
            sys.argv = list(argv)
            folder = os.path.dirname(os.path.abspath(script))
            sys.path.insert(0, folder)
            with _program_modules(folder):
                _run_script(script)
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
