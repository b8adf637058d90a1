"""Hook handles, as PyTorch's ``RemovableHandle``: ``handle = x.register_hook(fn)`` (a tensor's
gradient) or ``module.register_forward_hook(fn)``; ``handle.remove()`` takes the hook off."""

from __future__ import annotations

import itertools
from collections.abc import Callable

_next_id = itertools.count()


class RemovableHandle:
    """Keeps a hook in its owner's ordered dict until ``remove()`` (also as a context manager:
    ``with module.register_forward_hook(fn): ...``)."""

    def __init__(self, hooks: dict[int, Callable]):
        self.hooks_dict = hooks
        self.id = next(_next_id)

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def add_hook(hooks: dict[int, Callable], hook: Callable, owner: str) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"{owner}: a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle
