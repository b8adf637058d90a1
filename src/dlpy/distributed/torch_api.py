"""torch.distributed's API over dlpy's MPI process group (mpi4py's buffer API).

    from dlpy import distributed as dist
    dist.init_process_group("gloo")          # any backend name: the transport is MPI
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # in place on t (a Tensor or a numpy array)

Collectives write their tensors' arrays in place and record nothing, as torch.distributed's: a
tensor a recorded op produced keeps its op, so a gradient goes through a collective as through
an identity (torch does the same, with a deprecation warning); the differentiable ones are in
``dlpy.distributed.nn.functional``. Unlike torch, the write bumps the tensor's version, so an op
recorded before that saved the old values refuses its backward (torch computes a wrong gradient).

Before each collective the ranks exchange one int64, a checksum of what they were called with
(the collective, shapes, dtypes, roots, reduction), and any argument error found on one rank: a
mismatch or an error is the same ValueError/TypeError on every rank, not a hang or a wrong result.
``set_debug_level(DebugLevel.OFF)`` (or ``DLPY_DISTRIBUTED_DEBUG=OFF``) skips that exchange.
Without init_process_group (or without a launcher) everything works as one process, rank 0 of 1.
"""

from __future__ import annotations

import datetime
import enum
import os
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlpy.distributed import group as _process
from dlpy.tensor import Tensor, increment_version

# the dtypes MPI has a datatype for (mpi4py maps them from numpy's buffer format)
SUPPORTED_DTYPES = tuple(np.dtype(name) for name in (
    "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "bool", "complex64", "complex128"))
_DTYPE_NAMES = {dtype: str(dtype) for dtype in SUPPORTED_DTYPES}
BACKENDS = ("mpi", "gloo", "nccl", "ucc", "xccl")


class ReduceOp(enum.Enum):
    """torch.distributed.ReduceOp. On bool tensors SUM, MAX and BOR are a logical or, PRODUCT,
    MIN and BAND a logical and, BXOR an exclusive or (as torch's); AVG needs floating point.
    The values, int() and the repr are torch's (``<RedOpType.SUM: 0>``); no PREMUL_SUM (NCCL's)."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"<RedOpType.{self.name}: {self.value}>"

    def __str__(self) -> str:
        return f"RedOpType.{self.name}"


ReduceOp.RedOpType = ReduceOp  # torch's ReduceOp.RedOpType, the type of ReduceOp.SUM...


def _op_name(op: Any) -> str:
    """"ReduceOp.SUM" in messages (repr for something else)."""
    return f"ReduceOp.{op.name}" if isinstance(op, ReduceOp) else repr(op)


class DistError(RuntimeError):
    """torch.distributed.DistError: an error in the distributed library."""


class DistBackendError(DistError):
    """An error the transport reported (here MPI: a message truncated, a peer gone...)."""


class DistNetworkError(DistError):
    """torch's network error (dlpy's transport is MPI: its errors are DistBackendError)."""


class DistStoreError(DistError):
    """torch's key-value store error (a Store's get or wait that timed out...)."""


class QueueEmptyError(DistStoreError):
    """torch's error for a Store queue that is empty."""


class Backend(str):
    """torch.distributed.Backend's names (every one maps to MPI here); ``Backend("GLOO")`` is
    the lowercase string "gloo", as torch's (a name it does not know, lowercased, too)."""

    UNDEFINED, GLOO, NCCL, XCCL, UCC, MPI = "undefined", "gloo", "nccl", "xccl", "ucc", "mpi"
    backend_list = [UNDEFINED, GLOO, NCCL, XCCL, UCC, MPI]
    default_device_backend_map = {"cpu": GLOO}

    def __new__(cls, name: str) -> str:  # type: ignore[misc]
        if not isinstance(name, str):
            raise ValueError("Backend constructor parameter must be string-ish")
        value = getattr(Backend, name.upper(), Backend.UNDEFINED)
        return name.lower() if value == Backend.UNDEFINED or not isinstance(value, str) \
            else value


class ProcessGroup:
    """A set of ranks with their own MPI communicator (``comm`` is None in one process);
    ``ranks`` are the global ranks of the members, in group-rank order."""

    def __init__(self, comm: Any, ranks: Sequence[int]):
        self.comm = comm
        self.ranks = list(ranks)
        self._rank = 0 if comm is None else comm.Get_rank()
        self.destroyed = False
        self._control: Any = None  # a duplicate communicator for monitored_barrier's messages
        self._barriers = 0

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return len(self.ranks)

    def group_rank(self, name: str, what: str, global_rank: int) -> int:
        """The group rank of ``global_rank`` (a ValueError naming both when it is no member)."""
        if isinstance(global_rank, bool) or not isinstance(global_rank, (int, np.integer)) \
                or global_rank not in self.ranks:
            raise ValueError(f"{name}: {what}={global_rank!r} is not a rank of the group (global "
                             f"ranks {self.ranks})")
        return self.ranks.index(int(global_rank))

    def __repr__(self) -> str:
        return f"ProcessGroup(ranks={self.ranks}, backend='mpi')"


class _NonGroupMember:
    """What new_group gives a rank that is not in it: get_rank/get_world_size say -1, and a
    collective on it warns and does nothing (torch's GroupMember.NON_GROUP_MEMBER)."""

    def __repr__(self) -> str:
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    """torch's ``GroupMember`` (also ``group``): ``WORLD``, set by init_process_group, and the
    placeholder ``NON_GROUP_MEMBER``."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = _NonGroupMember()


group = GroupMember


class _State:
    def __init__(self) -> None:
        self.initialized = False
        self.world: ProcessGroup | None = None
        self.timeout = datetime.timedelta(minutes=30)
        self.groups: list[ProcessGroup] = []
        self.group_count = 0  # torch's get_pg_count: the default group and each new_group
        self.backend = Backend.MPI  # the name init_process_group was given (get_backend)
        self.store: Any = None  # the Store init_process_group was given


_state = _State()


class DebugLevel(enum.Enum):
    """torch.distributed.DebugLevel. dlpy's collectives check their arguments across the ranks
    (one 8-byte Allgather) at INFO, the default, and DETAIL; OFF skips it (a mismatch may then
    hang or give wrong results, as in torch by default)."""

    OFF = "OFF"
    INFO = "INFO"
    DETAIL = "DETAIL"


DEBUG_ENV = "DLPY_DISTRIBUTED_DEBUG"
_debug = DebugLevel.INFO


def set_debug_level(level: DebugLevel | str) -> None:
    """OFF, INFO or DETAIL (a DebugLevel or its name)."""
    global _debug
    if isinstance(level, str) and level.upper() in DebugLevel.__members__:
        level = DebugLevel[level.upper()]
    if not isinstance(level, DebugLevel):
        raise ValueError(f"set_debug_level: expected OFF, INFO or DETAIL, got {level!r}")
    _debug = level


def get_debug_level() -> DebugLevel:
    return _debug


def set_debug_level_from_env() -> None:
    """The level in DLPY_DISTRIBUTED_DEBUG (INFO when unset)."""
    value = os.environ.get(DEBUG_ENV, "INFO")
    if value.upper() not in DebugLevel.__members__:
        raise ValueError(f"set_debug_level_from_env: {DEBUG_ENV}={value!r}, expected OFF, INFO "
                         "or DETAIL")
    set_debug_level(value)


try:
    set_debug_level_from_env()
except ValueError as _error:  # importing dlpy must not fail on it: say so, keep the check
    warnings.warn(f"{_error}; using INFO", stacklevel=2)


def _world() -> ProcessGroup:
    """The group of every rank (joining MPI on first use when a launcher started us)."""
    if _state.world is None or _state.world.destroyed:
        _process.init()
        _state.world = ProcessGroup(_process.comm(), range(_process.world_size()))
    return _state.world


# ----------------------------------------------------------------- the process group
def is_available() -> bool:
    """True: the API works everywhere (one process without mpi4py or a launcher)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py is installed (without starting MPI)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_gloo_available() -> bool:
    """Whether init_process_group("gloo") works: "gloo" (torch's CPU backend) is MPI under a
    launcher, one process without one; False only under a launcher without mpi4py."""
    return is_mpi_available() or not _process.launched_by_mpi()


def is_nccl_available() -> bool:
    """False: dlpy has no GPU collectives (init_process_group takes "nccl" as a name for MPI)."""
    return False


def is_ucc_available() -> bool:
    """False: no UCC library here (init_process_group takes "ucc" as a name for MPI)."""
    return False


def is_xccl_available() -> bool:
    """False: no XCCL library here (init_process_group takes "xccl" as a name for MPI)."""
    return False


_AVAILABLE = {"mpi": is_mpi_available, "gloo": is_gloo_available, "nccl": is_nccl_available,
              "ucc": is_ucc_available, "xccl": is_xccl_available}


def _backend_names(name: str, backend: str) -> list[str]:
    """The backends of "gloo" or "cpu:gloo,cuda:nccl", lowercase (a ValueError for one that
    dlpy does not know)."""
    if not isinstance(backend, str):
        raise TypeError(f"{name}: backend must be a string or None, got "
                        f"{type(backend).__name__}")
    names = [part.split(":")[-1].strip().lower() for part in backend.split(",")]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"{name}: unknown backend {backend!r}; expected one of "
                         f"{list(BACKENDS)} (all run over MPI)")
    return names


def is_backend_available(backend: str) -> bool:
    """Whether every backend in ``backend`` ("gloo", "cpu:gloo,cuda:nccl"...) is available
    (is_gloo_available()...); False for a name dlpy does not know."""
    try:
        names = _backend_names("is_backend_available", backend)
    except ValueError:
        return False
    return all(_AVAILABLE[n]() for n in names)


def is_torchelastic_launched() -> bool:
    """Whether torchrun started this process (TORCHELASTIC_RUN_ID is set), as torch's."""
    return os.getenv("TORCHELASTIC_RUN_ID") is not None


# node-local rank variables: torchrun's, then Open MPI's, MPICH/Hydra's, MVAPICH's, Slurm's
LOCAL_RANK_VARIABLES = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                        "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """This process's rank on its node: LOCAL_RANK (torch's), else the MPI launcher's
    variable, else ``fallback_rank``; a RuntimeError when there is none of them."""
    for name in LOCAL_RANK_VARIABLES:
        if name in os.environ:
            return int(os.environ[name])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError(f"get_node_local_rank: none of {list(LOCAL_RANK_VARIABLES)} is in the "
                       "environment; pass fallback_rank to run without a launcher")


def get_pg_count() -> int:
    """The number of process groups made since init_process_group (it counts, as torch's
    default group and each new_group, also those this rank is not in; not split_group's)."""
    return _state.group_count


def supports_complex(reduce_op: ReduceOp) -> bool:
    """Whether ``reduce_op`` is defined on complex tensors (SUM and AVG), as torch's."""
    return reduce_op not in (ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT, *_BITWISE)


def is_initialized() -> bool:
    """Whether init_process_group was called (and not destroyed since)."""
    return _state.initialized


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: datetime.timedelta | None = None, world_size: int = -1,
                       rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """torch's init_process_group over MPI: the ranks are those the MPI launcher started (a
    ``world_size``/``rank`` given must match them); ``backend`` may be any of torch's names
    ("gloo", "nccl", "mpi", "cpu:gloo,cuda:nccl"...), the transport is MPI all the same;
    ``init_method`` is not needed (the launcher connects the ranks) and ignored; a ``store``
    (a dlpy.distributed Store) needs ``world_size`` and ``rank``, as torch's, which must be
    the launcher's all the same (the transport stays MPI; the store is kept as the default
    group's). ``timeout`` is monitored_barrier's default (MPI collectives have no timeout)."""
    if _state.initialized:
        raise ValueError("init_process_group: trying to initialize the default process group "
                         "twice! (call destroy_process_group first)")
    if store is not None:
        from dlpy.distributed.store import Store
        from dlpy.ops import ArgAssertionError

        if init_method is not None:
            raise ArgAssertionError("Cannot specify both init_method and store.")
        if not isinstance(store, Store):
            raise TypeError(f"init_process_group: store must be a torch.distributed Store "
                            f"(TCPStore, FileStore, HashStore, PrefixStore), got "
                            f"{type(store).__name__}")
        if not world_size > 0:
            raise ArgAssertionError("world_size must be positive if using store")
        if not rank >= 0:
            raise ArgAssertionError("rank must be non-negative if using store")
    if backend is not None:
        _backend_names("init_process_group", backend)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    _process.init(required=True)
    size, me = _process.world_size(), _process.rank()
    with_store = " (dlpy's transport is MPI, a store does not connect the processes)" \
        if store is not None else ""
    if world_size != -1 and world_size != size:
        raise ValueError(f"init_process_group: world_size={world_size} but the MPI launcher "
                         f"started {size} process(es) (mpirun -n {size}){with_store}; leave "
                         f"world_size=-1 or launch {world_size}")
    if rank != -1 and rank != me:
        raise ValueError(f"init_process_group: rank={rank} but the MPI launcher gave this "
                         f"process rank {me}{with_store}; leave rank=-1")
    _state.timeout = timeout or datetime.timedelta(minutes=30)
    _state.backend = Backend(backend) if backend is not None and ":" not in backend \
        and "," not in backend else Backend.MPI
    _state.initialized = True
    _state.store = store
    _state.group_count += 1
    GroupMember.WORLD = _world()


def destroy_process_group(group: Any = None) -> None:
    """Forget the default group (``group=None``) and every group new_group made, or one group.
    MPI itself stays up (it cannot start twice in a process): init_process_group may follow."""
    if group is None or group is _state.world:
        for pg in _state.groups:
            _free(pg)
        _state.groups.clear()
        if _state.world is not None:
            _free(_state.world, world=True)
            _state.world = None
        _state.initialized = False
        _state.store = None
        _state.group_count = 0
        GroupMember.WORLD = None
    elif isinstance(group, ProcessGroup):
        _free(group)
        if group in _state.groups:
            _state.groups.remove(group)


def _free(pg: ProcessGroup, world: bool = False) -> None:
    if pg.destroyed:
        return
    if pg._control is not None:
        pg._control.Free()
    if pg.comm is not None and not world:  # COMM_WORLD itself is never freed
        pg.comm.Free()
    pg.destroyed = True


def _group_of(name: str, group: Any) -> ProcessGroup | None:
    """The ProcessGroup a collective runs on, or None (with torch's warning) on a rank that is
    not a member."""
    if group is None:
        return _world()
    if group is GroupMember.NON_GROUP_MEMBER:
        warnings.warn(f"Running {name} on global rank {_process.rank()} which does not belong "
                      "to the given group.", stacklevel=3)
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{name}: group must be a ProcessGroup from new_group or None, got "
                        f"{type(group).__name__}")
    if group.destroyed:
        raise ValueError(f"{name}: the group {group.ranks} was destroyed "
                         "(destroy_process_group)")
    return group


def get_rank(group: Any = None) -> int:
    """This process's rank in ``group`` (the world by default); -1 when it is not a member."""
    pg = _group_of("get_rank", group) if group is not GroupMember.NON_GROUP_MEMBER else None
    return -1 if pg is None else pg.rank()


def get_world_size(group: Any = None) -> int:
    """The number of ranks in ``group`` (the world by default); -1 when not a member."""
    pg = _group_of("get_world_size", group) if group is not GroupMember.NON_GROUP_MEMBER \
        else None
    return -1 if pg is None else pg.size()


def get_backend(group: Any = None) -> str:
    """The backend name init_process_group was given ("gloo"...; "mpi" without one): the
    transport is MPI whatever it says."""
    if group is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("get_backend: Invalid process group specified (this rank is not a "
                         "member)")
    _group_of("get_backend", group)
    return _state.backend if _state.initialized else Backend.MPI


def get_process_group_ranks(group: Any) -> list[int]:
    """The global ranks of ``group``'s members, in group-rank order."""
    pg = _group_of("get_process_group_ranks", group)
    return [] if pg is None else list(pg.ranks)


def get_global_rank(group: Any, group_rank: int) -> int:
    pg = _group_of("get_global_rank", group)
    if pg is None or not 0 <= group_rank < pg.size():
        raise ValueError(f"get_global_rank: group rank {group_rank} is not in the group")
    return pg.ranks[group_rank]


def get_group_rank(group: Any, global_rank: int) -> int:
    pg = _group_of("get_group_rank", group)
    if pg is None:
        raise ValueError("get_group_rank: this rank is not a member of the group")
    return pg.group_rank("get_group_rank", "global_rank", global_rank)


def new_group(ranks: Sequence[int] | None = None, timeout: Any = None, backend: Any = None,
              pg_options: Any = None, use_local_synchronization: bool = False,
              group_desc: str | None = None) -> ProcessGroup | _NonGroupMember:
    """A group of some ranks with its own MPI communicator (MPI_Comm_split), sorted by rank as
    torch's. Every rank of the world must call it with the same ``ranks``; a rank outside gets
    ``GroupMember.NON_GROUP_MEMBER``."""
    world = _world()
    size = world.size()

    def check():
        chosen = list(range(size)) if ranks is None else list(ranks)
        if not chosen:
            raise ValueError("new_group: ranks is empty")
        bad = [r for r in chosen if isinstance(r, bool) or not isinstance(r, (int, np.integer))
               or not 0 <= r < size]
        if bad:
            raise ValueError(f"new_group: ranks must be in 0..{size - 1}, got {bad}")
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"new_group: ranks has duplicates: {chosen}")
        chosen = sorted(int(r) for r in chosen)
        return chosen, f"ranks {chosen}"

    chosen = _checked(world, "new_group", check)
    if not use_local_synchronization:  # torch names (and counts) only these groups
        _state.group_count += 1
    member = world.rank() in chosen
    if world.comm is None:
        pg = ProcessGroup(None, chosen)
    else:
        from mpi4py import MPI

        comm = world.comm.Split(0 if member else MPI.UNDEFINED, world.rank())
        if not member:
            return GroupMember.NON_GROUP_MEMBER
        pg = ProcessGroup(comm, chosen)
    _state.groups.append(pg)
    return pg


def new_subgroups(group_size: int | None = None, group: Any = None, timeout: Any = None,
                  backend: Any = None, pg_options: Any = None, group_desc: str | None = None
                  ) -> tuple[ProcessGroup | None, list[Any]]:
    """``group``'s ranks (the world's by default) in consecutive subgroups of ``group_size``:
    (this rank's subgroup, every subgroup), as new_subgroups_by_enumeration. Every rank of the
    world calls it."""
    if group_size is None:
        raise ValueError("new_subgroups: the default group size is the number of CUDA devices "
                         "per machine, and dlpy has none: give group_size")
    if group_size <= 0:
        raise ValueError(f"new_subgroups: group_size ({group_size}) must be positive")
    ranks = get_process_group_ranks(group)
    if len(ranks) < group_size:
        raise ValueError(f"new_subgroups: group_size ({group_size}) must not exceed the world "
                         f"size ({len(ranks)})")
    if len(ranks) % group_size:
        raise ValueError(f"new_subgroups: the world size ({len(ranks)}) must be divisible by "
                         f"group_size={group_size}")
    return new_subgroups_by_enumeration(
        [ranks[i:i + group_size] for i in range(0, len(ranks), group_size)], timeout=timeout,
        backend=backend, pg_options=pg_options, group_desc=group_desc)


def new_subgroups_by_enumeration(ranks_per_subgroup_list: Sequence[Sequence[int]],
                                 timeout: Any = None, backend: Any = None,
                                 pg_options: Any = None, group_desc: str | None = None
                                 ) -> tuple[ProcessGroup | None, list[Any]]:
    """A new_group for each list of global ranks (no rank in two; some may be in none):
    (this rank's subgroup or None, every subgroup, NON_GROUP_MEMBER where this rank is not
    in it). Every rank of the world calls it."""
    if not ranks_per_subgroup_list:
        raise ValueError("new_subgroups_by_enumeration: ranks_per_subgroup_list cannot be "
                         "empty")
    owner: dict[int, list[int]] = {}
    for ranks in ranks_per_subgroup_list:
        for r in ranks:
            if r in owner:
                raise ValueError(f"new_subgroups_by_enumeration: rank {r} has appeared in both "
                                 f"subgroup {owner[r]} and {list(ranks)}")
            owner[r] = list(ranks)
    me, current, subgroups = _world().rank(), None, []
    for ranks in ranks_per_subgroup_list:
        subgroups.append(new_group(ranks, timeout=timeout, backend=backend,
                                   pg_options=pg_options, group_desc=group_desc))
        if me in ranks:
            current = subgroups[-1]
    return current, subgroups


def split_group(parent_pg: Any = None, split_ranks: list[list[int]] | None = None,
                timeout: datetime.timedelta | None = None, pg_options: Any = None,
                group_desc: str | None = None, backend: str | None = None
                ) -> ProcessGroup | None:
    """``parent_pg`` (the world by default) split into groups: ``split_ranks`` lists each
    group's ranks in the parent (group ranks, no rank in two); this rank's group, or None when
    it is in none. One MPI_Comm_split; every rank of the parent calls it with the same lists.
    (torch splits only NCCL/XCCL groups; MPI splits any.)"""
    name = "split_group"
    if not split_ranks:
        raise ValueError(f"{name}: split_ranks cannot be None or empty")
    if parent_pg is GroupMember.NON_GROUP_MEMBER:
        raise ValueError(f"{name}: global rank {_process.rank()} is not part of the parent "
                         "group")
    parent = _group_of(name, parent_pg)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"{name}: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    if backend is not None:
        _backend_names(name, backend)

    def check():
        splits, seen = [], set()
        for ranks in split_ranks:
            ranks = list(ranks)
            if not ranks:
                raise ValueError(f"{name}: the split group cannot be empty")
            bad = [r for r in ranks if isinstance(r, bool)
                   or not isinstance(r, (int, np.integer)) or not 0 <= r < parent.size()]
            if bad:
                raise ValueError(f"{name}: the ranks of a split are group ranks of the parent, "
                                 f"in 0..{parent.size() - 1}; got {bad}")
            if len(set(ranks)) != len(ranks):
                raise ValueError(f"{name}: the split group cannot have duplicate ranks: {ranks}")
            if seen & set(ranks):
                raise ValueError(f"{name}: rank(s) {sorted(seen & set(ranks))} are in two "
                                 f"splits of {split_ranks}")
            seen |= set(ranks)
            splits.append(sorted(int(r) for r in ranks))
        return splits, f"splits {splits}"

    splits = _checked(parent, name, check)
    mine = [i for i, ranks in enumerate(splits) if parent.rank() in ranks]
    if parent.comm is None:
        comm = None
    else:
        color = mine[0] if mine else _mpi("UNDEFINED")
        comm = parent.comm.Split(color, parent.rank())
    if not mine:
        return None
    pg = ProcessGroup(comm, [parent.ranks[r] for r in splits[mine[0]]])
    _state.groups.append(pg)
    return pg


# ----------------------------------------------------------------- argument checks
def _array_of(name: str, what: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        array = value.data
    elif isinstance(value, np.ndarray):
        array = value
    else:
        raise TypeError(f"{name}: {what} must be a dlpy Tensor or a numpy array, got "
                        f"{type(value).__name__}")
    if array.dtype not in _DTYPE_NAMES:
        raise TypeError(f"{name}: {what} has dtype {array.dtype}, which MPI does not carry; "
                        f"expected one of {[str(d) for d in SUPPORTED_DTYPES]}")
    return array


def _describe(array: np.ndarray) -> str:
    return f"{array.shape} {_DTYPE_NAMES.get(array.dtype) or array.dtype}"


def _list_of(name: str, what: str, values: Any, count: int) -> list[np.ndarray]:
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name}: {what} must be a list of tensors, got {type(values).__name__}")
    if len(values) != count:
        raise ValueError(f"{name}: {what} must hold {count} tensors (one per rank of the "
                         f"group), got {len(values)}")
    return [_array_of(name, f"{what}[{i}]", v) for i, v in enumerate(values)]


def _same_as(name: str, what: str, arrays: list[np.ndarray], like: np.ndarray) -> None:
    for i, a in enumerate(arrays):
        if a.shape != like.shape or a.dtype != like.dtype:
            raise ValueError(f"{name}: {what}[{i}] is {_describe(a)}, expected {_describe(like)} "
                             f"(that of the tensor)")


def _checked(pg: ProcessGroup, name: str, check: Callable[[], tuple[Any, str]]) -> Any:
    """Run ``check() -> (value, fingerprint)`` on every rank, then make sure every rank got the
    same fingerprint and no error: else every rank raises the same error."""
    try:
        value, fingerprint = check()
        problem = None
    except (TypeError, ValueError) as error:
        value, fingerprint, problem = None, "", (type(error), str(error))
    if pg.comm is None or _debug is DebugLevel.OFF:
        if problem is not None:
            raise problem[0](problem[1])
        return value
    code = zlib.crc32(f"{name}|{fingerprint}|{problem is not None}".encode())
    codes = np.empty(pg.size(), dtype=np.int64)
    pg.comm.Allgather(np.array([code], dtype=np.int64), codes)
    if problem is None and (codes == codes[0]).all():
        return value
    # rare: find out what differs, to say it on every rank
    details = pg.comm.allgather((fingerprint, problem))
    for r, (_, other) in enumerate(details):
        if other is not None:
            raise other[0](f"{other[1]} (on rank {pg.ranks[r]})")
    called = "; ".join(f"rank {pg.ranks[r]}: {fp}" for r, (fp, _) in enumerate(details))
    raise ValueError(f"{name}: the ranks were called with different arguments ({called})")


_BITWISE = (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR)
# (op, on bool) -> the MPI operation's name; on bool, logical operations as torch's
_MPI_OPS = {**{(op, False): name for op, name in (
    (ReduceOp.SUM, "SUM"), (ReduceOp.AVG, "SUM"), (ReduceOp.PRODUCT, "PROD"),
    (ReduceOp.MIN, "MIN"), (ReduceOp.MAX, "MAX"), (ReduceOp.BAND, "BAND"),
    (ReduceOp.BOR, "BOR"), (ReduceOp.BXOR, "BXOR"))},
    **{(op, True): name for op, name in (
        (ReduceOp.SUM, "LOR"), (ReduceOp.MAX, "LOR"), (ReduceOp.BOR, "LOR"),
        (ReduceOp.PRODUCT, "LAND"), (ReduceOp.MIN, "LAND"), (ReduceOp.BAND, "LAND"),
        (ReduceOp.BXOR, "LXOR"))}}


def _reduction(name: str, op: Any, dtype: np.dtype) -> tuple[str, bool]:
    """(the name of the MPI operation, whether to divide by the group size afterwards) for
    ``op`` on ``dtype``."""
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a ReduceOp (ReduceOp.SUM...), got {op!r}")
    kind = dtype.kind
    if kind == "c" and not supports_complex(op):  # torch's ValueError (PRODUCT too)
        raise ValueError(f"{name} does not support {op} on complex tensors ({dtype})")
    if op is ReduceOp.AVG and kind not in "fc":
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if op in _BITWISE and kind not in "iub":
        raise TypeError(f"{name}: {_op_name(op)} needs an integer or bool tensor, got {dtype}")
    return _MPI_OPS[op, kind == "b"], op is ReduceOp.AVG


def _mpi(name: str) -> Any:
    """mpi4py.MPI's ``name`` (imported on first use: one process never starts MPI)."""
    from mpi4py import MPI

    return getattr(MPI, name)


def _mpi_errors() -> tuple[type, ...]:
    """mpi4py's exception class once MPI is loaded (an ``except`` on it catches nothing before:
    one process never imports mpi4py)."""
    module = sys.modules.get("mpi4py.MPI")
    return () if module is None else (module.Exception,)


def _backend_error(error: Exception) -> DistBackendError:
    return DistBackendError(f"MPI reported an error: {error}")


# ----------------------------------------------------------------- buffers and Work
def _write(target: Any, values: np.ndarray) -> None:
    """``target``'s array (a Tensor's or a numpy array) takes ``values``, and its version is
    bumped (ops recorded before that saved it refuse their backward)."""
    array = target.data if isinstance(target, Tensor) else target
    if array is not values:
        if isinstance(target, Tensor) and not array.flags.writeable:
            target.data = np.array(values, dtype=array.dtype).reshape(array.shape)
        else:
            array[...] = values.reshape(array.shape)
    increment_version(target)


class _Inout:
    """A tensor's memory as a contiguous buffer MPI can write (itself when it is one, else a
    copy that ``finish`` writes back)."""

    def __init__(self, target: Any, array: np.ndarray):
        self.target = target
        direct = array.flags.c_contiguous and array.flags.writeable
        self.buffer = array if direct else np.ascontiguousarray(array).copy()

    def finish(self) -> None:
        _write(self.target, self.buffer)


def _contiguous(array: np.ndarray) -> np.ndarray:
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


class Work:
    """What a collective with ``async_op=True`` returns: ``wait()`` blocks until it is done and
    writes the results, ``is_completed()`` asks without blocking. An MPI non-blocking request
    where there is one; in one process the work is done at once."""

    def __init__(self, request: Any, finish: Callable[[Any], None], outputs: list[Any],
                 explain: Callable[[Exception], str] | None = None):
        self._request, self._finish, self._outputs = request, finish, outputs
        self._explain = explain  # an MPI error as a ValueError's message (recv's truncation)
        self._status: Any = None
        self._done = False
        if request is None:
            self._complete()
        else:
            self._status = _mpi("Status")()

    def _complete(self) -> None:
        self._finish(self._status)
        self._done = True

    def wait(self, timeout: datetime.timedelta | float | None = None) -> bool:
        """Block until done (a RuntimeError after ``timeout``, a timedelta or seconds)."""
        if self._done:
            return True
        if timeout is None:
            self._test(wait=True)
        else:
            seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) \
                else float(timeout)
            deadline = time.monotonic() + seconds
            while not self._test():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Work.wait: not completed within {seconds:g} s")
                time.sleep(1e-4)
        self._complete()
        return True

    def _test(self, wait: bool = False) -> bool:
        try:
            if wait:
                self._request.Wait(self._status)
                return True
            return self._request.Test(self._status)
        except _mpi_errors() as error:
            if self._explain is None:
                raise _backend_error(error) from error
            raise ValueError(self._explain(error)) from error

    def is_completed(self) -> bool:
        if not self._done and self._test():
            self._complete()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self) -> list[Any]:
        """The output tensors (after waiting)."""
        self.wait()
        return list(self._outputs)


def _launch(async_op: bool, start: Callable[[bool], Any], finish: Callable[[Any], None],
            outputs: list[Any]) -> Work | None:
    """Run a collective: ``start(nonblocking)`` returns an MPI request (or None when done at
    once), ``finish(status)`` writes the results. A Work with ``async_op``, else None; an
    error MPI reports is a DistBackendError."""
    try:
        request = start(async_op)
    except _mpi_errors() as error:
        raise _backend_error(error) from error
    if async_op:
        return Work(request, finish, outputs)
    finish(None)
    return None


# ----------------------------------------------------------------- collectives on tensors
def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """``tensor`` <- its reduction over the ranks of ``group`` (in place)."""
    pg = _group_of("all_reduce", group)
    if pg is None:
        return None

    def check():
        array = _array_of("all_reduce", "tensor", tensor)
        return ((array, *_reduction("all_reduce", op, array.dtype)),
                f"{_op_name(op)} {_describe(array)}")

    array, mpi_op, average = _checked(pg, "all_reduce", check)
    io = _Inout(tensor, array)

    def start(nonblocking):
        if pg.comm is None:
            return None
        call = pg.comm.Iallreduce if nonblocking else pg.comm.Allreduce
        return call(_mpi("IN_PLACE"), io.buffer, op=_mpi(mpi_op))

    def finish(status):
        if average:
            io.buffer /= pg.size()
        io.finish()

    return _launch(async_op, start, finish, [tensor])


def broadcast(tensor: Any, src: int = 0, group: Any = None, async_op: bool = False
              ) -> Work | None:
    """Every rank's ``tensor`` <- that of global rank ``src`` (in place)."""
    pg = _group_of("broadcast", group)
    if pg is None:
        return None

    def check():
        array = _array_of("broadcast", "tensor", tensor)
        root = pg.group_rank("broadcast", "src", src)
        return (array, root), f"src {src} {_describe(array)}"

    array, root = _checked(pg, "broadcast", check)
    io = _Inout(tensor, array)

    def start(nonblocking):
        if pg.comm is None:
            return None
        return (pg.comm.Ibcast if nonblocking else pg.comm.Bcast)(io.buffer, root=root)

    return _launch(async_op, start, lambda status: io.finish(), [tensor])


def reduce(tensor: Any, dst: int = 0, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Global rank ``dst``'s ``tensor`` <- the reduction over the ranks (the others' tensors
    are left as they are)."""
    pg = _group_of("reduce", group)
    if pg is None:
        return None

    def check():
        array = _array_of("reduce", "tensor", tensor)
        root = pg.group_rank("reduce", "dst", dst)
        return (array, root, *_reduction("reduce", op, array.dtype)), \
            f"dst {dst} {_op_name(op)} {_describe(array)}"

    array, root, mpi_op, average = _checked(pg, "reduce", check)
    mine = pg.rank() == root
    io = _Inout(tensor, array) if mine else None
    send = None if mine else _contiguous(array)

    def start(nonblocking):
        if pg.comm is None:
            return None
        call = pg.comm.Ireduce if nonblocking else pg.comm.Reduce
        if mine:
            return call(_mpi("IN_PLACE"), io.buffer, op=_mpi(mpi_op), root=root)
        return call(send, None, op=_mpi(mpi_op), root=root)

    def finish(status):
        if io is not None:
            if average:
                io.buffer /= pg.size()
            io.finish()

    return _launch(async_op, start, finish, [tensor])


def _stacked_output(name: str, what: str, output: Any, like: np.ndarray, count: int
                    ) -> np.ndarray:
    """``output``'s array, checked to hold ``count`` arrays like ``like``, concatenated along
    the first axis (count * d0, ...) or stacked (count, ...), as torch takes either."""
    array = _array_of(name, what, output)
    shapes = [(count * like.shape[0], *like.shape[1:])] if like.ndim else []
    shapes.append((count, *like.shape))
    if array.shape not in shapes or array.dtype != like.dtype:
        expected = " or ".join(f"{s} {like.dtype}" for s in shapes)
        raise ValueError(f"{name}: {what} is {_describe(array)}, expected {expected} ({count} "
                         f"ranks x {_describe(like)})")
    return array


def all_gather(tensor_list: list[Any], tensor: Any, group: Any = None, async_op: bool = False
               ) -> Work | None:
    """``tensor_list[r]`` <- rank r's ``tensor``, on every rank (same shapes on every rank)."""
    pg = _group_of("all_gather", group)
    if pg is None:
        return None

    def check():
        array = _array_of("all_gather", "tensor", tensor)
        _same_as("all_gather", "tensor_list",
                 _list_of("all_gather", "tensor_list", tensor_list, pg.size()), array)
        return array, _describe(array)

    array = _checked(pg, "all_gather", check)
    send = _contiguous(array)
    received = np.empty((pg.size(), *array.shape), dtype=array.dtype)

    def start(nonblocking):
        if pg.comm is None:
            received[0] = send
            return None
        return (pg.comm.Iallgather if nonblocking else pg.comm.Allgather)(send, received)

    def finish(status):
        for target, values in zip(tensor_list, received):
            _write(target, values)

    return _launch(async_op, start, finish, list(tensor_list))


def all_gather_single(output_tensor: Any, input_tensor: Any, group: Any = None,
                      async_op: bool = False) -> Work | None:
    """``output_tensor`` <- every rank's ``input_tensor`` concatenated along the first axis
    (or stacked: output of shape (world_size, *input.shape))."""
    return _all_gather_single("all_gather_single", output_tensor, input_tensor, group,
                              async_op)


def all_gather_into_tensor(output_tensor: Any, input_tensor: Any, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """all_gather_single's older name (torch 2.13 deprecates it; dlpy does not warn yet)."""
    return _all_gather_single("all_gather_into_tensor", output_tensor, input_tensor, group,
                              async_op)


def _all_gather_single(name: str, output_tensor: Any, input_tensor: Any, group: Any,
                       async_op: bool) -> Work | None:
    pg = _group_of(name, group)
    if pg is None:
        return None

    def check():
        array = _array_of(name, "input_tensor", input_tensor)
        output = _stacked_output(name, "output_tensor", output_tensor, array, pg.size())
        return (array, output), _describe(array)

    array, output = _checked(pg, name, check)
    send, io = _contiguous(array), _Inout(output_tensor, output)

    def start(nonblocking):
        if pg.comm is None:
            io.buffer[...] = send.reshape(io.buffer.shape)
            return None
        return (pg.comm.Iallgather if nonblocking else pg.comm.Allgather)(send, io.buffer)

    return _launch(async_op, start, lambda status: io.finish(), [output_tensor])


def _reduce_scatter(name: str, pg: ProcessGroup, output_tensor: Any, output: np.ndarray,
                    send: np.ndarray, mpi_op: str, average: bool, async_op: bool
                    ) -> Work | None:
    io = _Inout(output_tensor, output)

    def start(nonblocking):
        if pg.comm is None:
            io.buffer[...] = send.reshape(io.buffer.shape)
            return None
        call = pg.comm.Ireduce_scatter_block if nonblocking else pg.comm.Reduce_scatter_block
        return call(send, io.buffer, op=_mpi(mpi_op))

    def finish(status):
        if average:
            io.buffer /= pg.size()
        io.finish()

    return _launch(async_op, start, finish, [output_tensor])


def reduce_scatter(output: Any, input_list: list[Any], op: ReduceOp = ReduceOp.SUM,
                   group: Any = None, async_op: bool = False) -> Work | None:
    """``output`` <- the reduction over the ranks of their ``input_list[rank]``."""
    pg = _group_of("reduce_scatter", group)
    if pg is None:
        return None

    def check():
        array = _array_of("reduce_scatter", "output", output)
        inputs = _list_of("reduce_scatter", "input_list", input_list, pg.size())
        _same_as("reduce_scatter", "input_list", inputs, array)
        return (array, inputs, *_reduction("reduce_scatter", op, array.dtype)), \
            f"{_op_name(op)} {_describe(array)}"

    array, inputs, mpi_op, average = _checked(pg, "reduce_scatter", check)
    send = np.stack(inputs)
    return _reduce_scatter("reduce_scatter", pg, output, array, send, mpi_op, average, async_op)


def reduce_scatter_single(output: Any, input: Any, op: ReduceOp = ReduceOp.SUM,
                          group: Any = None, async_op: bool = False) -> Work | None:
    """``output`` <- the reduction over the ranks of their ``input``'s block ``rank`` (input:
    world_size blocks like output, concatenated along the first axis or stacked)."""
    return _reduce_scatter_single("reduce_scatter_single", output, input, op, group, async_op)


def reduce_scatter_tensor(output: Any, input: Any, op: ReduceOp = ReduceOp.SUM,
                          group: Any = None, async_op: bool = False) -> Work | None:
    """reduce_scatter_single's older name (torch 2.13 deprecates it; dlpy does not warn yet)."""
    return _reduce_scatter_single("reduce_scatter_tensor", output, input, op, group, async_op)


def _reduce_scatter_single(name: str, output: Any, input: Any, op: ReduceOp, group: Any,
                           async_op: bool) -> Work | None:
    pg = _group_of(name, group)
    if pg is None:
        return None

    def check():
        array = _array_of(name, "output", output)
        source = _stacked_output(name, "input", input, array, pg.size())
        return ((array, source, *_reduction(name, op, array.dtype)),
                f"{_op_name(op)} {_describe(array)}")

    array, source, mpi_op, average = _checked(pg, name, check)
    return _reduce_scatter(name, pg, output, array, _contiguous(source), mpi_op, average,
                           async_op)


def gather(tensor: Any, gather_list: list[Any] | None = None, dst: int = 0, group: Any = None,
           async_op: bool = False) -> Work | None:
    """On global rank ``dst``, ``gather_list[r]`` <- rank r's ``tensor`` (None elsewhere)."""
    pg = _group_of("gather", group)
    if pg is None:
        return None

    def check():
        array = _array_of("gather", "tensor", tensor)
        root = pg.group_rank("gather", "dst", dst)
        if pg.rank() == root:
            _same_as("gather", "gather_list",
                     _list_of("gather", "gather_list", gather_list, pg.size()), array)
        elif gather_list is not None and len(gather_list) > 0:
            raise ValueError(f"gather: gather_list must be None on a rank other than dst={dst}")
        return (array, root), f"dst {dst} {_describe(array)}"

    array, root = _checked(pg, "gather", check)
    mine = pg.rank() == root
    send = _contiguous(array)
    received = np.empty((pg.size(), *array.shape), dtype=array.dtype) if mine else None

    def start(nonblocking):
        if pg.comm is None:
            received[0] = send
            return None
        return (pg.comm.Igather if nonblocking else pg.comm.Gather)(send, received, root=root)

    def finish(status):
        if mine:
            for target, values in zip(gather_list, received):
                _write(target, values)

    return _launch(async_op, start, finish, list(gather_list) if mine else [])


def scatter(tensor: Any, scatter_list: list[Any] | None = None, src: int = 0,
            group: Any = None, async_op: bool = False) -> Work | None:
    """Every rank's ``tensor`` <- global rank ``src``'s ``scatter_list[rank]``."""
    pg = _group_of("scatter", group)
    if pg is None:
        return None

    def check():
        array = _array_of("scatter", "tensor", tensor)
        root = pg.group_rank("scatter", "src", src)
        sources = None
        if pg.rank() == root:
            sources = _list_of("scatter", "scatter_list", scatter_list, pg.size())
            _same_as("scatter", "scatter_list", sources, array)
        elif scatter_list is not None and len(scatter_list) > 0:
            raise ValueError(f"scatter: scatter_list must be None on a rank other than "
                             f"src={src}")
        return (array, root, sources), f"src {src} {_describe(array)}"

    array, root, sources = _checked(pg, "scatter", check)
    io = _Inout(tensor, array)
    send = np.stack(sources) if sources is not None else None

    def start(nonblocking):
        if pg.comm is None:
            io.buffer[...] = send[0]
            return None
        return (pg.comm.Iscatter if nonblocking else pg.comm.Scatter)(send, io.buffer,
                                                                      root=root)

    return _launch(async_op, start, lambda status: io.finish(), [tensor])


def _all_to_all(name: str, pg: ProcessGroup, send: np.ndarray, send_counts: list[int],
                received: np.ndarray, receive_counts: list[int], dtype: np.dtype,
                finish: Callable[[Any], None], outputs: list[Any], async_op: bool,
                problem: tuple | None) -> Work | None:
    """Alltoallv of element counts, after every rank checked that what rank i sends rank j is
    what rank j expects from rank i (one pickled allgather of the counts)."""
    if pg.comm is None:
        if problem is not None:
            raise problem[0](problem[1])
        if send_counts != receive_counts:
            raise ValueError(f"{name}: this rank sends itself {send_counts[0]} elements but "
                             f"expects {receive_counts[0]}")
    else:
        every = pg.comm.allgather((send_counts, receive_counts, str(dtype), problem))
        for r, (_, _, _, other) in enumerate(every):
            if other is not None:
                raise other[0](f"{other[1]} (on rank {pg.ranks[r]})")
        for i, (sends, _, kind, _) in enumerate(every):
            for j, (_, receives, other_kind, _) in enumerate(every):
                if sends[j] != receives[i] or kind != other_kind:
                    raise ValueError(f"{name}: rank {pg.ranks[i]} sends rank {pg.ranks[j]} "
                                     f"{sends[j]} elements of {kind}, which expects "
                                     f"{receives[i]} of {other_kind}")

    def start(nonblocking):
        if pg.comm is None:
            received[...] = send
            return None
        call = pg.comm.Ialltoallv if nonblocking else pg.comm.Alltoallv
        return call([send, send_counts], [received, receive_counts])

    return _launch(async_op, start, finish, outputs)


def all_to_all(output_tensor_list: list[Any], input_tensor_list: list[Any], group: Any = None,
               async_op: bool = False) -> Work | None:
    """``output_tensor_list[j]`` <- rank j's ``input_tensor_list[rank]`` (sizes may differ
    between pairs of ranks; one dtype)."""
    pg = _group_of("all_to_all", group)
    if pg is None:
        return None
    name, problem = "all_to_all", None
    try:
        inputs = _list_of(name, "input_tensor_list", input_tensor_list, pg.size())
        outputs = _list_of(name, "output_tensor_list", output_tensor_list, pg.size())
        dtypes = {a.dtype for a in inputs + outputs}
        if len(dtypes) > 1:
            raise ValueError(f"{name}: the tensors have dtypes {sorted(map(str, dtypes))}; "
                             "expected one")
        dtype = inputs[0].dtype
    except (TypeError, ValueError) as error:
        problem, inputs, outputs, dtype = (type(error), str(error)), [], [], np.dtype("float64")
    send = np.concatenate([a.reshape(-1) for a in inputs]) if inputs else np.empty(0, dtype)
    received = np.empty(sum(a.size for a in outputs), dtype)
    ends = np.cumsum([0] + [a.size for a in outputs]).tolist()

    def finish(status):
        for j, target in enumerate(output_tensor_list):
            _write(target, received[ends[j]:ends[j + 1]])

    return _all_to_all(name, pg, send, [a.size for a in inputs], received,
                       [a.size for a in outputs], dtype, finish, list(output_tensor_list),
                       async_op, problem)


def all_to_all_single(output: Any, input: Any, output_split_sizes: list[int] | None = None,
                      input_split_sizes: list[int] | None = None, group: Any = None,
                      async_op: bool = False) -> Work | None:
    """``input`` split along the first axis (in equal parts, or ``input_split_sizes`` rows),
    part j to rank j; ``output`` <- the parts received, in rank order."""
    name = "all_to_all_single"
    pg = _group_of(name, group)
    if pg is None:
        return None
    problem = None
    try:
        source = _array_of(name, "input", input)
        target = _array_of(name, "output", output)
        if source.dtype != target.dtype:
            raise ValueError(f"{name}: input is {source.dtype}, output {target.dtype}")
        counts = []
        for what, array, sizes in (("input", source, input_split_sizes),
                                   ("output", target, output_split_sizes)):
            rows = array.shape[0] if array.ndim else 1
            if sizes is None:
                if rows % pg.size():
                    raise ValueError(f"{name}: {what} has {rows} rows, not a multiple of the "
                                     f"{pg.size()} ranks; give {what}_split_sizes")
                sizes = [rows // pg.size()] * pg.size()
            sizes = [int(s) for s in sizes]
            if len(sizes) != pg.size() or sum(sizes) != rows or min(sizes) < 0:
                raise ValueError(f"{name}: {what}_split_sizes {sizes} must be {pg.size()} "
                                 f"sizes >= 0 summing to {what}'s {rows} rows")
            per_row = array.size // rows if rows else 0
            counts.append([s * per_row for s in sizes])
        dtype = source.dtype
    except (TypeError, ValueError) as error:
        problem, counts, dtype = (type(error), str(error)), [[], []], np.dtype("float64")
        source = target = np.empty(0, dtype)
    io = _Inout(output, target)

    return _all_to_all(name, pg, _contiguous(source).reshape(-1), counts[0],
                       io.buffer.reshape(-1), counts[1], dtype, lambda status: io.finish(),
                       [output], async_op, problem)


# ----------------------------------------------------------------- coalesced (deprecated)
def _coalesced_warning(name: str) -> None:
    warnings.warn(f"`dlpy.distributed.{name}` will be deprecated (as torch.distributed's). If "
                  "you must use it, please revisit our documentation later at "
                  "https://pytorch.org/docs/main/distributed.html#collective-functions",
                  FutureWarning, stacklevel=3)


def _tensor_list(name: str, what: str, values: Any) -> list[np.ndarray]:
    """The arrays of a list of tensors of one dtype (a complex one mixes with its real
    type, as torch's)."""
    if not isinstance(values, list):
        raise TypeError(f"{name}: {what} must be a list of tensors, got {type(values).__name__}")
    arrays = [_array_of(name, f"{what}[{i}]", v) for i, v in enumerate(values)]
    kinds = {a.real.dtype for a in arrays}
    if len(kinds) > 1:
        raise ValueError(f"{name}: the tensors of {what} have dtypes "
                         f"{sorted({str(a.dtype) for a in arrays})}; expected one")
    return arrays


def _flat_real(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays flattened one after the other, complex ones as (real, imaginary) pairs."""
    parts = [np.ascontiguousarray(a).view(a.real.dtype).reshape(-1) for a in arrays]
    return np.concatenate(parts) if parts else np.empty(0)


def _unflatten(flat: np.ndarray, targets: list[Any], likes: list[np.ndarray]) -> None:
    """Write _flat_real's layout back into ``targets`` (shaped and typed as ``likes``)."""
    start = 0
    for target, like in zip(targets, likes):
        count = like.size * (2 if like.dtype.kind == "c" else 1)
        piece = np.ascontiguousarray(flat[start:start + count]).view(like.dtype)
        _write(target, piece.reshape(like.shape))
        start += count


class _Future:
    """What the coalesced collectives return with ``async_op`` (torch's Future):
    ``wait()`` gives the output tensors, ``done()`` asks without blocking."""

    def __init__(self, work: Work, finish: Callable[[], None], outputs: list[Any]):
        self._work, self._finish, self._outputs, self._written = work, finish, outputs, False

    def _complete(self) -> list[Any]:
        if not self._written:
            self._finish()
            self._written = True
        return list(self._outputs)

    def wait(self) -> list[Any]:
        self._work.wait()
        return self._complete()

    def done(self) -> bool:
        if self._work.is_completed():
            self._complete()
            return True
        return False

    def value(self) -> list[Any]:
        if not self.done():
            raise RuntimeError("_Future.value: not completed yet (call wait())")
        return list(self._outputs)


def _coalesced(work: Work | None, finish: Callable[[], None], outputs: list[Any]
               ) -> _Future | None:
    if work is None:
        finish()
        return None
    return _Future(work, finish, outputs)


def all_reduce_coalesced(tensors: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None,
                         async_op: bool = False) -> _Future | None:
    """all_reduce of each tensor in ``tensors`` (one dtype), in one MPI Allreduce of them all
    flattened; a Future (wait() gives the tensors) with ``async_op``. Deprecated in torch."""
    name = "all_reduce_coalesced"
    _coalesced_warning(name)
    tensors = [tensors] if isinstance(tensors, (Tensor, np.ndarray)) else tensors
    arrays = _tensor_list(name, "tensors", tensors)
    if _group_of(name, group) is None:
        return None
    if any(a.dtype.kind == "c" for a in arrays) and not supports_complex(op):
        raise ValueError(f"{name}: {_op_name(op)} is not supported on complex tensors")
    flat = _flat_real(arrays)
    work = all_reduce(flat, op, group, async_op)
    return _coalesced(work, lambda: _unflatten(flat, tensors, arrays), list(tensors))


def all_gather_coalesced(output_tensor_lists: list[list[Any]], input_tensor_list: list[Any],
                         group: Any = None, async_op: bool = False) -> _Future | None:
    """``output_tensor_lists[r][i]`` <- rank r's ``input_tensor_list[i]``, in one MPI
    Allgather of the inputs flattened (one dtype, the same shapes on every rank). Deprecated
    in torch."""
    name = "all_gather_coalesced"
    _coalesced_warning(name)
    pg = _group_of(name, group)
    if pg is None:
        return None
    inputs = _tensor_list(name, "input_tensor_list", input_tensor_list)
    if not isinstance(output_tensor_lists, list):
        raise TypeError(f"{name}: output_tensor_lists must be a list (of a list of tensors per "
                        f"rank), got {type(output_tensor_lists).__name__}")
    if len(output_tensor_lists) != pg.size():
        raise ValueError(f"{name}: output_tensor_lists must hold {pg.size()} lists (one per "
                         f"rank of the group), got {len(output_tensor_lists)}")
    for r, outputs in enumerate(output_tensor_lists):
        arrays = _tensor_list(name, f"output_tensor_lists[{r}]", outputs)
        if [(a.shape, a.dtype) for a in arrays] != [(a.shape, a.dtype) for a in inputs]:
            raise ValueError(f"{name}: output_tensor_lists[{r}] is "
                             f"{[_describe(a) for a in arrays]}, expected "
                             f"{[_describe(a) for a in inputs]} (those of input_tensor_list)")
    flat = _flat_real(inputs)
    gathered = np.empty((pg.size(), flat.size), dtype=flat.dtype)
    work = all_gather_single(gathered, flat, group, async_op)

    def finish():
        for outputs, row in zip(output_tensor_lists, gathered):
            _unflatten(row, outputs, inputs)

    return _coalesced(work, finish, [t for outputs in output_tensor_lists for t in outputs])


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None
            ) -> Work | None:
    """Wait until every rank of ``group`` gets here."""
    pg = _group_of("barrier", group)
    if pg is None:
        return None

    def start(nonblocking):
        if pg.comm is None:
            return None
        return pg.comm.Ibarrier() if nonblocking else pg.comm.Barrier()

    return _launch(async_op, start, lambda status: None, [])


def monitored_barrier(group: Any = None, timeout: datetime.timedelta | None = None,
                      wait_all_ranks: bool = False) -> None:
    """A barrier that ends in a RuntimeError instead of a hang: rank 0 waits up to ``timeout``
    (init_process_group's by default) for every other rank and names those that did not come
    (the first, or all with ``wait_all_ranks``); the others wait as long for rank 0's release."""
    pg = _group_of("monitored_barrier", group)
    if pg is None or pg.comm is None:
        return
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"monitored_barrier: timeout must be a datetime.timedelta, got "
                        f"{type(timeout).__name__}")
    seconds = (timeout or _state.timeout).total_seconds()
    if pg._control is None:  # its own communicator: no clash with the user's send/recv tags
        pg._control = pg.comm.Dup()
    comm, tag = pg._control, pg._barriers  # a tag per call: a late rank's message is stale
    pg._barriers += 1
    deadline = time.monotonic() + seconds
    empty = np.zeros(1, dtype=np.uint8)
    if pg.rank() == 0:
        pending = {r: comm.Irecv(np.zeros(1, dtype=np.uint8), source=r, tag=tag)
                   for r in range(1, pg.size())}
        while pending and time.monotonic() < deadline:
            for r in [r for r, request in pending.items() if request.Test()]:
                del pending[r]
            time.sleep(1e-4)
        if pending:
            for request in pending.values():
                request.Cancel()
                request.Wait()
            late = sorted(pending) if wait_all_ranks else [min(pending)]
            names = ", ".join(str(pg.ranks[r]) for r in late)
            raise RuntimeError(f"monitored_barrier: rank(s) {names} did not reach the barrier "
                               f"within {seconds:g} s")
        for r in range(1, pg.size()):
            comm.Send(empty, dest=r, tag=tag)
        return
    comm.Send(empty, dest=0, tag=tag)
    release = comm.Irecv(np.zeros(1, dtype=np.uint8), source=0, tag=tag)
    while not release.Test():
        if time.monotonic() > deadline:
            release.Cancel()
            release.Wait()
            raise RuntimeError(f"monitored_barrier: rank {pg.ranks[pg.rank()]} was not released "
                               f"by rank {pg.ranks[0]} within {seconds:g} s (another rank did "
                               "not come)")
        time.sleep(1e-4)


# ----------------------------------------------------------------- point to point
def _peer(name: str, pg: ProcessGroup, what: str, global_rank: int | None,
          group_rank: int | None) -> int:
    """The group rank of a peer given as a global rank (``dst``/``src``) or a group rank
    (``group_dst``/``group_src``), exactly one of them (torch's rule)."""
    if group_rank is None:
        if global_rank is None:
            raise ValueError(f"{name}: give {what} (a global rank) or group_{what} (a rank in "
                             "the group)")
        return pg.group_rank(name, what, global_rank)
    if global_rank is not None:
        raise ValueError(f"{name}: give {what}={global_rank} or group_{what}={group_rank}, "
                         "not both")
    if isinstance(group_rank, bool) or not isinstance(group_rank, (int, np.integer)) \
            or not 0 <= group_rank < pg.size():
        raise ValueError(f"{name}: group_{what}={group_rank!r} is not a rank of the group "
                         f"(0..{pg.size() - 1})")
    return int(group_rank)


def _not_self(name: str, pg: ProcessGroup, peer: int, what: str) -> None:
    if peer == pg.rank():
        raise ValueError(f"{name}: invalid {what} rank {pg.ranks[peer]}: it is this process's "
                         "own rank")


def send(tensor: Any, dst: int | None = None, group: Any = None, tag: int = 0,
         group_dst: int | None = None) -> None:
    """Send ``tensor`` to global rank ``dst`` (or group rank ``group_dst``; not this rank:
    blocking; the receiver's tensor must hold as many elements, of the same dtype: only the
    count is checked)."""
    work = _isend("send", tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def isend(tensor: Any, dst: int | None = None, group: Any = None, tag: int = 0,
          group_dst: int | None = None) -> Work | None:
    """Post a send of ``tensor`` to global rank ``dst`` (or group rank ``group_dst``; this
    rank too, as torch's); wait on the Work before changing the tensor."""
    return _isend("isend", tensor, dst, group, tag, group_dst)


def _isend(name: str, tensor: Any, dst: int | None, group: Any, tag: int,
           group_dst: int | None) -> Work | None:
    pg = _group_of(name, group)
    if pg is None:
        return None
    array = _contiguous(_array_of("send", "tensor", tensor))
    if pg.comm is None:
        raise ValueError("send: there is no other rank in one process")
    peer = _peer("send", pg, "dst", dst, group_dst)
    if name == "send":  # a blocking send to itself would never end
        _not_self(name, pg, peer, "destination")
    return Work(pg.comm.Isend(array, dest=peer, tag=tag), lambda status: None, [tensor])


def recv(tensor: Any, src: int | None = None, group: Any = None, tag: int = 0,
         group_src: int | None = None) -> int:
    """Receive into ``tensor`` from global rank ``src`` (or group rank ``group_src``; any rank
    when both are None); returns the sender's global rank. A message of another number of
    elements is a ValueError."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    return work.source


def irecv(tensor: Any, src: int | None = None, group: Any = None, tag: int = 0,
          group_src: int | None = None) -> Work | None:
    """Post a receive into ``tensor`` (see recv); ``wait()`` writes it."""
    pg = _group_of("irecv", group)
    if pg is None:
        return None
    array = _array_of("recv", "tensor", tensor)
    if pg.comm is None:
        raise ValueError("recv: there is no other rank in one process")
    anyone = src is None and group_src is None
    peer = _mpi("ANY_SOURCE") if anyone else _peer("recv", pg, "src", src, group_src)
    io = _Inout(tensor, array)

    def finish(status):
        count = status.Get_count(_mpi("BYTE"))
        if count != io.buffer.nbytes:
            raise ValueError(f"recv: the message from rank {pg.ranks[status.Get_source()]} "
                             f"holds {count} bytes, the tensor {_describe(io.buffer)} "
                             f"{io.buffer.nbytes}")
        work.source = pg.ranks[status.Get_source()]
        io.finish()

    def explain(error):
        sender = "any" if anyone else pg.ranks[peer]
        return (f"recv: the message from rank {sender} holds more than the tensor's "
                f"{io.buffer.nbytes} bytes ({_describe(io.buffer)}): {error}")

    work = Work(pg.comm.Irecv(io.buffer, source=peer, tag=tag), finish, [tensor], explain)
    work.source = -1
    return work


class P2POp:
    """One send or receive for batch_isend_irecv: ``op`` is isend or irecv, ``peer`` a global
    rank or ``group_peer`` a rank in ``group`` (the world by default)."""

    def __init__(self, op: Callable, tensor: Any, peer: int | None = None, group: Any = None,
                 tag: int = 0, group_peer: int | None = None):
        if op is not isend and op is not irecv:
            raise ValueError(f"P2POp: op must be dlpy.distributed.isend or irecv, got {op!r}")
        _array_of("P2POp", "tensor", tensor)
        if group is GroupMember.NON_GROUP_MEMBER:
            raise ValueError(f"P2POp: global rank {_process.rank()} is not in the group")
        self.op, self.tensor, self.tag = op, tensor, tag
        self.group = _group_of("P2POp", group)
        self.group_peer = _peer("P2POp", self.group, "peer", peer, group_peer)
        self.peer = self.group.ranks[self.group_peer]

    def __repr__(self) -> str:
        me, other = self.group.rank(), self.group_peer
        source, destination = (me, other) if self.op is isend else (other, me)
        array = _array_of("P2POp", "tensor", self.tensor)
        return (f"P2POp({self.op.__name__} group_src={source}, group_dst={destination}, "
                f"{_describe(array)})")


def batch_isend_irecv(p2p_op_list: list[P2POp]) -> list[Work]:
    """Post every send and receive of ``p2p_op_list`` (P2POps of one group) before waiting
    on any: their order does not matter (no deadlock), except between the same two ranks in
    the same direction, which match in order. A Work per op, to wait on."""
    if not isinstance(p2p_op_list, list) or not all(isinstance(op, P2POp)
                                                      for op in p2p_op_list):
        raise ValueError("batch_isend_irecv: p2p_op_list must be a list of P2POp, got "
                         f"{p2p_op_list!r}")
    if not p2p_op_list:
        raise ValueError("batch_isend_irecv: p2p_op_list is empty")
    if any(op.group is not p2p_op_list[0].group for op in p2p_op_list):
        raise ValueError("batch_isend_irecv: all ops need to use the same group, got "
                         f"{[op.group for op in p2p_op_list]}")
    works = []
    for op in p2p_op_list:
        key = "group_dst" if op.op is isend else "group_src"
        work = op.op(op.tensor, group=op.group, tag=op.tag, **{key: op.group_peer})
        if work is not None:
            works.append(work)
    return works


# ----------------------------------------------------------------- picklable objects
def _object_list(name: str, what: str, values: Any, count: int | None) -> None:
    if not isinstance(values, list):
        raise TypeError(f"{name}: {what} must be a list, got {type(values).__name__}")
    if count is not None and len(values) != count:
        raise ValueError(f"{name}: {what} must hold {count} items (one per rank), got "
                         f"{len(values)}")


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None,
                          device: Any = None) -> None:
    """``object_list[:]`` <- global rank ``src``'s (pickled; same length on every rank)."""
    pg = _group_of("broadcast_object_list", group)
    if pg is None:
        return

    def check():
        _object_list("broadcast_object_list", "object_list", object_list, None)
        root = pg.group_rank("broadcast_object_list", "src", src)
        return root, f"src {src} length {len(object_list)}"

    root = _checked(pg, "broadcast_object_list", check)
    if pg.comm is not None:
        object_list[:] = pg.comm.bcast(object_list if pg.rank() == root else None, root=root)


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """``object_list[r]`` <- rank r's ``obj`` (pickled), on every rank."""
    pg = _group_of("all_gather_object", group)
    if pg is None:
        return
    _checked(pg, "all_gather_object", lambda: (_object_list(
        "all_gather_object", "object_list", object_list, pg.size()), ""))
    object_list[:] = [obj] if pg.comm is None else pg.comm.allgather(obj)


def gather_object(obj: Any, object_gather_list: list[Any] | None = None, dst: int | None = None,
                  group: Any = None, *, root: int | None = None) -> list[Any] | None:
    """torch's gather_object: on global rank ``dst`` (0 by default), ``object_gather_list[r]``
    <- rank r's ``obj``. Also dlpy's ``gather_object(value, root=0)``: the list is returned on
    the receiving rank (None on the others), with or without ``object_gather_list``."""
    if root is not None and dst is not None and root != dst:
        raise ValueError(f"gather_object: give dst or root, got dst={dst} and root={root}")
    dst = root if dst is None else dst
    dst = 0 if dst is None else dst
    pg = _group_of("gather_object", group)
    if pg is None:
        return None

    def check():
        index = pg.group_rank("gather_object", "dst", dst)
        if pg.rank() == index and object_gather_list is not None:
            _object_list("gather_object", "object_gather_list", object_gather_list, pg.size())
        return index, f"dst {dst}"

    index = _checked(pg, "gather_object", check)
    gathered = [obj] if pg.comm is None else pg.comm.gather(obj, root=index)
    if gathered is not None and object_gather_list is not None:
        object_gather_list[:] = gathered
    return gathered


def scatter_object_list(scatter_object_output_list: list[Any],
                        scatter_object_input_list: list[Any] | None = None, src: int = 0,
                        group: Any = None) -> None:
    """``scatter_object_output_list[0]`` <- global rank ``src``'s
    ``scatter_object_input_list[rank]`` (pickled)."""
    name = "scatter_object_list"
    pg = _group_of(name, group)
    if pg is None:
        return

    def check():
        _object_list(name, "scatter_object_output_list", scatter_object_output_list, None)
        if not scatter_object_output_list:
            raise ValueError(f"{name}: scatter_object_output_list must hold at least one item")
        index = pg.group_rank(name, "src", src)
        if pg.rank() == index:
            _object_list(name, "scatter_object_input_list", scatter_object_input_list,
                         pg.size())
        return index, f"src {src}"

    index = _checked(pg, name, check)
    if pg.comm is None:
        scatter_object_output_list[0] = scatter_object_input_list[0]
    else:
        scatter_object_output_list[0] = pg.comm.scatter(
            scatter_object_input_list if pg.rank() == index else None, root=index)


def _object_peer(name: str, pg: ProcessGroup, object_list: Any, what: str,
                 global_rank: int | None, group_rank: int | None) -> int:
    """The group rank send_object_list/recv_object_list talk to (not this one)."""
    _object_list(name, "object_list", object_list, None)
    if pg.comm is None:
        raise ValueError(f"{name}: there is no other rank in one process")
    peer = _peer(name, pg, what, global_rank, group_rank)
    _not_self(name, pg, peer, "destination" if what == "dst" else "source")
    return peer


def send_object_list(object_list: list[Any], dst: int | None = None, group: Any = None,
                     device: Any = None, group_dst: int | None = None,
                     use_batch: bool = False) -> None:
    """Send the picklable objects of ``object_list`` to global rank ``dst`` (or group rank
    ``group_dst``; not this rank), in one pickled message (blocking, tag 0)."""
    name = "send_object_list"
    pg = _group_of(name, group)
    if pg is None:
        return
    peer = _object_peer(name, pg, object_list, "dst", dst, group_dst)
    try:
        pg.comm.send(list(object_list), dest=peer, tag=0)
    except _mpi_errors() as error:
        raise _backend_error(error) from error


def recv_object_list(object_list: list[Any], src: int | None = None, group: Any = None,
                     device: Any = None, group_src: int | None = None,
                     use_batch: bool = False) -> int:
    """``object_list[:]`` <- the objects global rank ``src`` (or group rank ``group_src``)
    sent with send_object_list, as many as ``object_list`` holds; returns the sender's global
    rank (-1 on a rank outside ``group``). torch 2.13 requires src or group_src."""
    name = "recv_object_list"
    pg = _group_of(name, group)
    if pg is None:
        return -1
    peer = _object_peer(name, pg, object_list, "src", src, group_src)
    try:
        objects = pg.comm.recv(source=peer, tag=0)
    except _mpi_errors() as error:
        raise _backend_error(error) from error
    if not isinstance(objects, list) or len(objects) != len(object_list):
        count = len(objects) if isinstance(objects, list) else type(objects).__name__
        raise ValueError(f"{name}: rank {pg.ranks[peer]} sent {count} objects, object_list "
                         f"holds {len(object_list)} (give a list of the sender's length)")
    object_list[:] = objects
    return pg.ranks[peer]
