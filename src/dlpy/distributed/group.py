"""The process group: rank and world size from MPI (through mpi4py), or one process without it.

``init()`` looks at the environment a launcher sets (``mpirun`` / ``mpiexec`` of MPICH or Open
MPI, Slurm's PMI): without one, or without mpi4py, the run is a single process (rank 0 of 1) and
mpi4py is not even imported, so a plain ``python`` run never starts MPI. Under a launcher it
imports ``mpi4py.MPI`` (which initialises MPI) and installs an excepthook so that an uncaught
exception on one rank prints ``rank k: <error>`` and aborts every rank instead of leaving the
others waiting forever in a collective.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

# environment variables a launcher sets: MPICH/Hydra and Intel MPI (PMI_*), Open MPI,
# PMIx, MVAPICH, Slurm's srun with PMI
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                      "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


class _Group:
    """The state init() sets: the communicator (None for a single process), rank, size."""

    def __init__(self) -> None:
        self.comm: Any = None
        self.rank = 0
        self.size = 1
        self.initialized = False


_group = _Group()


def launched_by_mpi() -> bool:
    """True when an MPI launcher started this process (its environment variables are set)."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def launcher_world_size() -> int:
    """The number of processes a launcher says it started (from its environment, without
    starting MPI); 1 when there is no launcher."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def refuse_undistributed() -> None:
    """Raise ValueError when an MPI launcher started N > 1 copies of a command run without
    --distributed: each would train the whole model alone and write the same files."""
    copies = launcher_world_size()
    if copies > 1:
        raise ValueError(f"started by an MPI launcher as {copies} processes but without "
                         f"--distributed (each would train alone and write the same files): "
                         f"add --distributed, or run one process")


def init(required: bool = False) -> int:
    """Join the MPI process group if a launcher started us; returns the world size.

    Idempotent. Without a launcher (or without mpi4py) this is a single process: rank 0 of 1.
    ``required=True`` raises instead when a launcher is present but mpi4py is missing (a run of
    N copies that each believe they are alone would each train the whole model).
    """
    if _group.initialized:
        return _group.size
    if launched_by_mpi():
        try:
            from mpi4py import MPI
        except ImportError as err:
            if required:
                raise RuntimeError(
                    "distributed.init: started by an MPI launcher but mpi4py is not installed: "
                    "pip install 'dlpy[distributed]'") from err
        else:
            comm = MPI.COMM_WORLD
            _group.comm, _group.rank, _group.size = comm, comm.Get_rank(), comm.Get_size()
            if _group.size > 1:
                _install_excepthook()
    _group.initialized = True
    return _group.size


def rank() -> int:
    """This process's rank (0 when single or before init())."""
    return _group.rank


def world_size() -> int:
    """The number of processes (1 when single or before init())."""
    return _group.size


def is_main() -> bool:
    """True on rank 0: the one process that writes checkpoints, logs and progress bars."""
    return _group.rank == 0


def comm() -> Any:
    """mpi4py's COMM_WORLD after init() under a launcher, else None."""
    return _group.comm


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for in a single process)."""
    if _group.size > 1:
        _group.comm.Barrier()


def abort(message: str, code: int = 1) -> None:
    """Print ``rank k: message`` to stderr and end every rank (MPI_Abort); a single process
    exits with ``code``."""
    print(f"rank {_group.rank}: {message}", file=sys.stderr, flush=True)
    if _group.size > 1:
        # MPI_Abort tears the launcher's output forwarding down at once: give it a moment to
        # deliver the message first (seen lost under load without this)
        time.sleep(0.3)
        _group.comm.Abort(code)
    sys.exit(code)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _install_excepthook() -> None:
    previous = sys.excepthook

    def hook(kind, error, tb):
        sys.excepthook = previous
        traceback.print_exception(kind, error, tb, file=sys.stderr)
        abort(_describe(error))

    sys.excepthook = hook


@contextlib.contextmanager
def abort_on_error() -> Iterator[None]:
    """Run a block so that an exception on any one rank aborts all of them with its message.

    In a single process the exception propagates unchanged (the caller reports it as usual).
    Use it around a training loop whose caller would otherwise catch the error and return:
    the other ranks would wait forever in their next allreduce.
    """
    try:
        yield
    except BaseException as error:  # SystemExit too: a rank that leaves early hangs the rest
        if _group.size == 1 or (isinstance(error, SystemExit) and not error.code):
            raise
        traceback.print_exc(file=sys.stderr)
        abort(_describe(error))


# ----------------------------------------------------------------- small collectives
def all_sum(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The elementwise sum over ranks of a small float64 vector (metrics: loss sums, counts)."""
    array = np.array(values, dtype=np.float64).ravel()
    if _group.size > 1:
        from mpi4py import MPI

        _group.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
    return array


def broadcast_object(value: T, root: int = 0) -> T:
    """``value`` from rank ``root`` on every rank (pickled: for small things such as settings)."""
    if _group.size > 1:
        return _group.comm.bcast(value, root=root)
    return value


def gather_object(value: T, root: int = 0) -> list[T] | None:
    """Every rank's ``value`` as a list on ``root`` (in rank order), None on the others."""
    if _group.size > 1:
        return _group.comm.gather(value, root=root)
    return [value]


def map_gather(fn: Callable[[T], R], items: Sequence[T], root: int = 0) -> list[R] | None:
    """``[fn(item) for item in items]`` with the items spread over the ranks (item i on rank
    i % world_size), the results gathered on ``root`` in the items' order; None on the others.

    For independent jobs such as cross-validation folds: each rank runs its share, and the
    ranks need no communication until the gather. An exception in ``fn`` aborts every rank.
    """
    mine = [(i, fn(item)) for i, item in enumerate(items) if i % _group.size == _group.rank]
    gathered = gather_object(mine, root=root)
    if gathered is None:
        return None
    results: list[Any] = [None] * len(items)
    for part in gathered:
        for i, result in part:
            results[i] = result
    return results


def rank_seed(seed: int) -> np.random.SeedSequence:
    """A seed sequence for this rank, different on every rank and reproducible from ``seed``
    (for dropout masks and other per-example noise: the same mask on every rank would repeat
    itself N times in the global batch). Rank 0 of 1 gets SeedSequence(seed) itself, so a single
    process draws what it always drew."""
    if _group.size == 1:
        return np.random.SeedSequence(seed)
    return np.random.SeedSequence(seed, spawn_key=(_group.rank,))


def rank_rng(seed: int) -> np.random.Generator:
    """``numpy.random.default_rng(rank_seed(seed))``."""
    return np.random.default_rng(rank_seed(seed))


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Run a block on rank 0 first and on the other ranks after it (a download, a cache, a
    tokenizer that rank 0 builds and the others then read); an error on any rank aborts all."""
    with abort_on_error():
        if not is_main():
            barrier()
        yield
        if is_main():
            barrier()


def __getattr__(name: str) -> Any:
    """torch's ``dist.group.WORLD`` and ``dist.group.NON_GROUP_MEMBER`` (this module is
    ``dlpy.distributed.group``): torch_api's GroupMember's."""
    if name in ("WORLD", "NON_GROUP_MEMBER"):
        from dlpy.distributed.torch_api import GroupMember

        return getattr(GroupMember, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
