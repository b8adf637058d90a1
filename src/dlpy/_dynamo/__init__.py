"""``torch._dynamo``: the names libraries reach for around ``torch.compile`` (dlpy compiles
nothing; see dlpy/compiler.py). ``OptimizedModule`` is the class ``dlpy.compile(model)`` returns,
so ``isinstance(m, torch._dynamo.OptimizedModule)`` unwraps compiled models as with torch;
``is_compiling()`` is False; the decorators (``disable``, ``allow_in_graph``,
``disallow_in_graph``, ``mark_dynamic``, ...) hand back or leave their argument unchanged;
``config`` holds torch's settable flags (read and written, never acted on); ``eval_frame``
names ``OptimizedModule`` where torch defines it (``torch._dynamo.eval_frame.OptimizedModule``)."""

from __future__ import annotations

from dlpy._dynamo import config, eval_frame
from dlpy.compiler import (
    OptimizedModule,
    allow_in_graph,
    assume_constant_result,
    disable,
    is_compiling,
    list_backends,
    reset,
)

__all__ = ["OptimizedModule", "allow_in_graph", "assume_constant_result", "config", "disable",
           "disallow_in_graph", "eval_frame", "forbid_in_graph", "graph_break", "is_compiling",
           "is_dynamo_supported", "list_backends", "mark_dynamic", "mark_static",
           "maybe_mark_dynamic", "reset"]


def disallow_in_graph(fn):
    """``fn`` itself (there is no graph to keep it out of)."""
    return fn


def forbid_in_graph(fn):
    """``fn`` itself (there is no graph to forbid it in)."""
    return fn


def graph_break() -> None:
    """No-op: eager code has no graph to break."""


def is_dynamo_supported() -> bool:
    """False: dlpy has no dynamo to trace with (``torch.compile`` runs eagerly)."""
    return False


def mark_dynamic(t, index, *, min=None, max=None) -> None:  # noqa: A002 - torch's keywords
    """No-op: every shape is dynamic when nothing is traced."""


def maybe_mark_dynamic(t, index) -> None:
    """No-op, as ``mark_dynamic``."""


def mark_static(t, index=None) -> None:
    """No-op: nothing is specialised on shapes."""
