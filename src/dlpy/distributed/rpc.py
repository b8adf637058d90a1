"""``torch.distributed.rpc``'s entry points for a build without RPC: dlpy's processes talk
through collectives only (dlpy/distributed), so ``is_available()`` is False (as a torch built
without ``USE_RPC``) and starting RPC (``init_rpc``, ``rpc_sync``, ``rpc_async``, ``remote``)
raises a RuntimeError saying so. Importing the module works, as libraries that only use RPC
when asked import it up front (PyG's distributed training)."""

from __future__ import annotations

__all__ = ["get_worker_info", "init_rpc", "is_available", "remote", "rpc_async", "rpc_sync",
           "shutdown"]


class _NoRpcError(RuntimeError):
    """RPC was asked for: dlpy has no RPC framework."""


def _unavailable(what: str):
    raise _NoRpcError(f"torch.distributed.rpc.{what}: dlpy has no RPC framework "
                      "(torch.distributed.rpc.is_available() is False); use the collectives "
                      "of torch.distributed")


def is_available() -> bool:
    """False: this build has no RPC framework."""
    return False


def init_rpc(name, backend=None, rank=-1, world_size=None, rpc_backend_options=None):
    """Refused: there is no RPC agent to start."""
    _unavailable("init_rpc")


def rpc_sync(to, func, args=None, kwargs=None, timeout=-1.0):
    """Refused: there is no RPC agent to call through."""
    _unavailable("rpc_sync")


def rpc_async(to, func, args=None, kwargs=None, timeout=-1.0):
    """Refused: there is no RPC agent to call through."""
    _unavailable("rpc_async")


def remote(to, func, args=None, kwargs=None, timeout=-1.0):
    """Refused: there is no RPC agent to call through."""
    _unavailable("remote")


def get_worker_info(worker_name=None):
    """Refused: no RPC agent is running."""
    _unavailable("get_worker_info")


def shutdown(graceful: bool = True, timeout: float = 0) -> None:
    """Refused: no RPC agent is running."""
    _unavailable("shutdown")
