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
torch.distributed's names work too (``from dlpy import distributed as dist``):
init_process_group, all_reduce and the other collectives on Tensors or numpy arrays, new_group,
ReduceOp, the object collectives; ``dlpy.distributed.nn.functional`` (differentiable
collectives) and ``dlpy.distributed.optim.ZeroRedundancyOptimizer``; ``dlpy.distributed.fsdp``
(FullyShardedDataParallel) and ``dlpy.distributed.pipelining`` (GPipe and 1F1B schedules);
``init_device_mesh``/``DeviceMesh`` and ``dlpy.distributed.tensor`` (DTensor, tensor parallelism
in ``dlpy.distributed.tensor.parallel``). See docs/distributed.md.
"""

from dlpy.distributed.ddp import DistributedDataParallel
from dlpy.distributed.device_mesh import DeviceMesh, init_device_mesh
from dlpy.distributed.group import (
    abort,
    abort_on_error,
    all_sum,
    broadcast_object,
    comm,
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
from dlpy.distributed.torch_api import (
    Backend,
    DebugLevel,
    GroupMember,
    ProcessGroup,
    ReduceOp,
    Work,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    all_to_all,
    all_to_all_single,
    barrier,
    broadcast,
    broadcast_object_list,
    destroy_process_group,
    gather,
    gather_object,
    get_backend,
    get_debug_level,
    get_global_rank,
    get_group_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    init_process_group,
    irecv,
    is_available,
    is_initialized,
    is_mpi_available,
    isend,
    monitored_barrier,
    new_group,
    recv,
    reduce,
    reduce_scatter,
    reduce_scatter_tensor,
    scatter,
    scatter_object_list,
    send,
    set_debug_level,
    set_debug_level_from_env,
)
from dlpy.distributed.zero import ZeroRedundancyOptimizer

__all__ = [
    "Backend",
    "DebugLevel",
    "DeviceMesh",
    "DistributedDataParallel",
    "DistributedSampler",
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "ZeroRedundancyOptimizer",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "all_to_all",
    "all_to_all_single",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "get_backend",
    "get_debug_level",
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "init_device_mesh",
    "init_process_group",
    "irecv",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "isend",
    "monitored_barrier",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
    "set_debug_level",
    "set_debug_level_from_env",
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
