"""torch.multiprocessing: Python's multiprocessing, plus ``spawn``/``start_processes`` that start
processes able to form a process group (through MPI's mpiexec; see
``dlpy.multiprocessing.spawn``), and the sharing-strategy functions (dlpy's tensors are numpy
arrays that pickle by value: there is one strategy, nothing to share)."""

from multiprocessing import (
    Array,
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    JoinableQueue,
    Lock,
    Manager,
    Pipe,
    Pool,
    Process,
    Queue,
    RLock,
    Semaphore,
    SimpleQueue,
    Value,
    active_children,
    cpu_count,
    current_process,
    get_all_start_methods,
    get_context,
    get_start_method,
    parent_process,
    set_executable,
    set_forkserver_preload,
    set_start_method,
)

from dlpy.multiprocessing.spawn import (
    ProcessContext,
    ProcessException,
    ProcessExitedException,
    ProcessRaisedException,
    SpawnContext,
    spawn,
    start_processes,
)

_STRATEGIES = ("file_system", "file_descriptor")
_strategy = ["file_descriptor"]


def get_all_sharing_strategies() -> set[str]:
    return set(_STRATEGIES)


def get_sharing_strategy() -> str:
    return _strategy[0]


def set_sharing_strategy(new_strategy: str) -> None:
    """Accepted as torch's (``file_system`` or ``file_descriptor``); dlpy shares nothing."""
    if new_strategy not in _STRATEGIES:
        raise ValueError(f"set_sharing_strategy: expected one of {list(_STRATEGIES)}, got "
                         f"{new_strategy!r}")
    _strategy[0] = new_strategy


__all__ = [
    "Array", "Barrier", "BoundedSemaphore", "Condition", "Event", "JoinableQueue", "Lock",
    "Manager", "Pipe", "Pool", "Process", "ProcessContext", "ProcessException",
    "ProcessExitedException", "ProcessRaisedException", "Queue", "RLock", "Semaphore",
    "SimpleQueue", "SpawnContext", "Value", "active_children", "cpu_count", "current_process",
    "get_all_sharing_strategies", "get_all_start_methods", "get_context", "get_sharing_strategy",
    "get_start_method", "parent_process", "set_executable", "set_forkserver_preload",
    "set_sharing_strategy", "set_start_method", "spawn", "start_processes",
]
