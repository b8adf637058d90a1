"""torch.distributed.tensor.experimental: ``implicit_replication``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["implicit_replication"]


@contextlib.contextmanager
def implicit_replication() -> Iterator[None]:
    """While the block runs, a plain Tensor next to a DTensor in an op (``dt + t``,
    ``F.linear(dt, w)``) is taken as a Replicate DTensor on the DTensor's mesh, instead of
    the mixed-operands error; every rank must hold the same values in it."""
    from dlpy.distributed.tensor import _ops

    previous = _ops._implicit_replication[0]
    _ops._implicit_replication[0] = True
    try:
        yield
    finally:
        _ops._implicit_replication[0] = previous
