"""Data-parallel training over MPI (mpi4py): ``pip install 'dlpy[distributed]'``.

    from dlpy import distributed
    distributed.init()                                 # rank and world size from mpirun
    model = distributed.DistributedDataParallel(net)   # rank 0's parameters on every rank
    sampler = distributed.DistributedSampler(len(train_set), seed=0)
    ...
    loss.backward()
    model.average_gradients()                          # mean over ranks, bucketed Allreduce
    optimizer.step()

Without a launcher (or without mpi4py) everything works as a single process: rank 0 of 1.
See docs/distributed.md.
"""

from dlpy.distributed.ddp import DistributedDataParallel
from dlpy.distributed.group import (
    abort,
    abort_on_error,
    all_sum,
    barrier,
    broadcast_object,
    comm,
    gather_object,
    init,
    is_main,
    launched_by_mpi,
    launcher_world_size,
    main_first,
    map_gather,
    rank,
    rank_rng,
    rank_seed,
    refuse_undistributed,
    world_size,
)
from dlpy.distributed.sampler import DistributedSampler

__all__ = [
    "DistributedDataParallel",
    "DistributedSampler",
    "abort",
    "abort_on_error",
    "all_sum",
    "barrier",
    "broadcast_object",
    "comm",
    "gather_object",
    "init",
    "is_main",
    "launched_by_mpi",
    "launcher_world_size",
    "main_first",
    "map_gather",
    "rank",
    "rank_rng",
    "rank_seed",
    "refuse_undistributed",
    "world_size",
]
