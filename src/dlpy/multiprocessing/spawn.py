"""torch.multiprocessing.spawn over MPI: ``spawn(fn, args=(world_size,), nprocs=world_size)``.

Each of the ``nprocs`` processes calls ``fn(rank, *args)``, as torch's. They are started by
MPI's ``mpiexec`` (not by fork or Python's spawn), so that they are one MPI world: a
``dist.init_process_group("gloo", rank=rank, world_size=nprocs)`` in ``fn`` joins it (MASTER_ADDR
and MASTER_PORT may be set and are not needed). Each process prepares itself as Python's
``spawn`` start method does (``multiprocessing.spawn.prepare``: the parent's sys.path, argv,
working directory, and the main script imported as ``__mp_main__``, so ``fn`` may live in it);
a parent running under ``dlpy.compat`` gives its processes the torch aliases too. An exception
in ``fn`` ends every process and is raised in the parent as ``ProcessRaisedException`` with the
process's traceback; a process that dies otherwise is a ``ProcessExitedException``.
"""

from __future__ import annotations

import multiprocessing.spawn as _mp_spawn
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable


class ProcessException(Exception):
    """A spawned process failed: ``error_index`` is its rank, ``pid`` its process id."""

    def __init__(self, msg: str, error_index: int, pid: int):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """``fn`` raised in process ``error_index``; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """Process ``error_index`` ended with ``exit_code`` (or a signal) without raising in fn."""

    def __init__(self, msg: str, error_index: int, error_pid: int, exit_code: int,
                 signal_name: str | None = None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code,
                            self.signal_name)


class ProcessContext:
    """The running processes of ``start_processes(..., join=False)``: ``join()`` waits."""

    def __init__(self, popen: subprocess.Popen, nprocs: int, folder: str):
        self.popen, self.nprocs, self.folder = popen, nprocs, folder

    def pids(self) -> list[int]:
        """The process ids of the ranks that have started (in rank order)."""
        pids = []
        for rank in range(self.nprocs):
            try:
                with open(os.path.join(self.folder, f"pid.{rank}")) as file:
                    pids.append(int(file.read()))
            except (OSError, ValueError):
                pass
        return pids

    def join(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds): True when every process has ended well, False
        while some still run; a failure raises ProcessRaisedException/ProcessExitedException."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        try:
            if code != 0:
                raise self._failure(code)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
        return True

    def _failure(self, code: int) -> ProcessException:
        errors = []
        for rank in range(self.nprocs):
            path = os.path.join(self.folder, f"error.{rank}")
            if os.path.exists(path):
                errors.append((os.path.getmtime(path), rank, path))
        pids = dict(enumerate(self.pids()))
        if errors:  # the first to fail: the others may have been ended by its abort
            _, rank, path = min(errors)
            with open(path) as file:
                trace = file.read()
            msg = f"\n\n-- Process {rank} terminated with the following error:\n{trace}"
            return ProcessRaisedException(msg, rank, pids.get(rank, -1))
        return ProcessExitedException(f"process 0 terminated with exit code {code}", 0,
                                      pids.get(0, -1), exit_code=code)


SpawnContext = ProcessContext  # torch's old name


def start_processes(fn: Callable, args: tuple = (), nprocs: int = 1, join: bool = True,
                    daemon: bool = False, start_method: str = "spawn") -> ProcessContext | None:
    """Start ``nprocs`` processes that each call ``fn(rank, *args)`` (``daemon`` and
    ``start_method`` are accepted for torch's calls: the processes always come from mpiexec).
    ``join=True`` waits and returns None; else the ProcessContext."""
    from dlpy import compat
    from dlpy.distributed.run import clean_environment, mpiexec_path

    if not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn: nprocs must be a positive int, got {nprocs!r}")
    if not callable(fn):
        raise TypeError(f"spawn: fn must be callable, got {type(fn).__name__}")
    folder = tempfile.mkdtemp(prefix="dlpy-spawn-")
    try:
        preparation = _mp_spawn.get_preparation_data("dlpy-spawn")
        preparation.pop("authkey", None)  # refuses pickling; the processes need none
        with open(os.path.join(folder, "prepare.pkl"), "wb") as file:
            pickle.dump(preparation, file)
        with open(os.path.join(folder, "call.pkl"), "wb") as file:
            pickle.dump((fn, tuple(args)), file)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise TypeError(f"spawn: fn and args must be picklable (a module-level function): "
                        f"{err}") from err
    command = [mpiexec_path(), "-n", str(nprocs), sys.executable, "-m",
               "dlpy.multiprocessing.spawn_worker", folder,
               *(["--compat"] if compat.is_installed() else [])]
    context = ProcessContext(subprocess.Popen(command, env=clean_environment()), nprocs, folder)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn: Callable, args: tuple = (), nprocs: int = 1, join: bool = True,
          daemon: bool = False, start_method: str = "spawn") -> ProcessContext | None:
    """torch.multiprocessing.spawn: ``fn(rank, *args)`` in ``nprocs`` processes (see the
    module's docstring)."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)


