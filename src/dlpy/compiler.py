"""``torch.compile`` and ``torch.compiler`` for dlpy, which has no compiler: numpy runs each op
eagerly, so a "compiled" model or function is the original one run as it is.

``dlpy.compile(model)`` returns an ``OptimizedModule`` as torch's (the model under ``_orig_mod``,
state_dict keys prefixed ``_orig_mod.``, other attributes read and written through to the
model); ``dlpy.compile(fn)`` a ``functools.wraps`` wrapper; both as a decorator, with or without
arguments. ``mode`` and ``backend`` are checked as torch checks them, then ignored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dlpy.nn.module import Module
from dlpy.ops import ArgTypeAssertionError

__all__ = ["OptimizedModule", "allow_in_graph", "assume_constant_result", "compile", "disable",
           "get_default_backend", "is_compiling", "is_dynamo_compiling", "is_exporting",
           "list_backends", "reset", "set_default_backend"]

# torch 2.13's backend names (torch._dynamo.list_backends(None)) and inductor's modes
BACKENDS = (
    "aot_eager", "aot_eager_decomp_partition", "aot_eager_default_partitioner", "aot_ts",
    "cudagraphs", "eager", "inductor", "openxla", "openxla_eval", "tvm", "ts",
)
MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
_default_backend = "inductor"
# torch 2.13's other keywords, accepted and ignored
_LATER_KEYWORDS = {"name", "recompile_limit", "isolate_recompiles", "shapes_spec"}


def list_backends(exclude_tags=("debug", "experimental")) -> list[str]:
    """The backend names ``compile`` accepts (all run the model eagerly in dlpy)."""
    return sorted(BACKENDS) if exclude_tags is None else \
        ["cudagraphs", "inductor", "openxla", "tvm"]


def get_default_backend() -> str:
    return _default_backend


def set_default_backend(backend) -> None:
    """The backend ``compile`` uses when none is given; None resets it to "inductor"."""
    global _default_backend
    _check_backend(backend or "inductor")
    _default_backend = backend or "inductor"


class InvalidBackend(RuntimeError):
    """torch._dynamo.exc.InvalidBackend: ``compile`` was given an unknown backend name."""


def _check_backend(backend) -> None:
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise InvalidBackend(f"Invalid backend: {backend!r}, see "
                                 "`torch._dynamo.list_backends()` for available backends.")
    elif not callable(backend):
        raise TypeError(f"compile: backend must be a name or a callable, got "
                        f"{type(backend).__name__}")


class _Unset:
    pass


class OptimizedModule(Module):
    """torch's wrapper of a compiled module: the model is the child ``_orig_mod`` and forward
    runs it (eagerly); attributes not of the wrapper read and write the model's."""

    _own = frozenset({"_orig_mod", "training", "forward", "dynamo_ctx"})

    def __init__(self, mod: Module) -> None:
        object.__setattr__(self, "_orig_mod", mod)
        super().__init__()
        self._modules["_orig_mod"] = mod
        object.__setattr__(self, "training", mod.training)

    def forward(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # (a class with its own __getattr__ keeps its submodules in _modules only, as torch's)
        model = self.__dict__["_modules"]["_orig_mod"]
        return model if name == "_orig_mod" else getattr(model, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own or hasattr(type(self), name) or name.startswith("__"):
            super().__setattr__(name, value)
        else:
            setattr(self._orig_mod, name, value)

    def __len__(self) -> int:
        try:
            return len(self._orig_mod)
        except TypeError:
            raise TypeError(f"{type(self._orig_mod).__name__} does not support len()") from None


def compile(model: Callable | None = None, *, fullgraph: bool = False,  # noqa: A001
            dynamic: bool | None = None, backend: str | Callable | None = None,
            mode: str | None = None, options: dict | None = None, disable: bool = False,
            **kwargs):
    """torch.compile: the model itself, run eagerly (dlpy has no compiler). A Module comes back
    wrapped in an ``OptimizedModule``, a function in a ``functools.wraps`` wrapper; without a
    model, a decorator. Raises as torch does for an unknown backend or mode, or both ``mode``
    and ``options``."""
    unknown = set(kwargs) - _LATER_KEYWORDS
    if unknown:
        raise TypeError(f"compile() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    if model is None:
        def decorator(model):
            if model is None:
                raise RuntimeError("Model can't be None")
            return compile(model, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                           mode=mode, options=options, disable=disable, **kwargs)

        return decorator
    if backend is None:
        backend = _default_backend
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"compile: options must be a dict, got {type(options).__name__}")
    _check_backend(backend)
    if backend == "inductor" and mode is not None and mode not in MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(MODES)}")
    if not callable(model):
        raise ArgTypeAssertionError(f"compile: expected a Module or a callable, got "
                                    f"{type(model).__name__}")
    if isinstance(model, Module):
        return OptimizedModule(model)

    @functools.wraps(model)
    def compiled(*args, **kwargs):
        return model(*args, **kwargs)

    return compiled


def disable(fn: Callable | None = None, recursive: bool = True, *, reason: str | None = None):
    """torch.compiler.disable: ``fn`` itself (nothing is ever compiled); a decorator too."""
    if fn is None:
        return lambda fn: fn
    return fn


def allow_in_graph(fn):
    """torch.compiler.allow_in_graph: ``fn`` itself (there is no graph to put it in); a list or
    tuple of callables gives a list of them. Raises as torch for something not callable (einx
    marks its operations so when it finds a torch backend)."""
    if isinstance(fn, (list, tuple)):
        return [allow_in_graph(f) for f in fn]
    if not callable(fn):
        raise ArgTypeAssertionError("allow_in_graph expects a callable")
    return fn


def assume_constant_result(fn):
    """torch.compiler.assume_constant_result: ``fn`` itself, marked as torch marks it."""
    fn._dynamo_marked_constant = True
    return fn


def is_compiling() -> bool:
    """False: dlpy never traces a compiled region."""
    return False


def is_dynamo_compiling() -> bool:
    return False


def is_exporting() -> bool:
    return False


def reset() -> None:
    """No-op: there are no compiled caches to clear."""
