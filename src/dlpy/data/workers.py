"""DataLoader worker processes (``num_workers > 0``), PyTorch's design with the standard library.

Under ``fork`` a worker inherits the dataset, collate_fn and worker_init_fn; under ``spawn`` and
``forkserver`` they are pickled once here (an object that cannot be pickled is a TypeError that
names it) and unpickled by each worker once it has this process's ``sys.path`` (Python 3.11's
forkserver does not pass it on), after which it is seeded exactly as under fork.

The main process keeps the sampler: it sends each worker batches of indices on the worker's own
queue (round robin, at most ``prefetch_factor * num_workers`` outstanding) and reads the batches
back from one shared queue. A worker fetches and collates, and sends the batch pickled, with
Tensors replaced by their numpy arrays; the main process wraps them as Tensors again. Every
message carries the epoch, so results of an epoch abandoned half way are dropped. The main
process never blocks for long: it polls, and a worker that died is a RuntimeError.
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpy.random import manual_seed
from dlpy.tensor import Tensor

POLL_S = 0.1  # how often a waiting main process checks that its workers are alive
# How often an idle worker checks that it should stop or that its main process is gone: the
# stop message can be lost when the garbage collector closed its queue before the iterator.
WORKER_POLL_S = 0.1
SHUTDOWN_GRACE_S = 1.0  # how long workers get to exit before they are terminated


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its ``id`` (0..num_workers - 1),
    ``num_workers``, its ``seed`` (base seed + id) and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current DataLoader worker's WorkerInfo; None in the main process (as PyTorch's).
    An IterableDataset shards its stream with it: ``info.id`` of ``info.num_workers``."""
    return _worker_info


def get_context(context):
    """A multiprocessing context from None (the default start method), a start method name
    ("fork", "spawn", "forkserver") or a context itself."""
    import multiprocessing  # here: importing it costs dlpy.data 10 ms

    if context is None:
        return multiprocessing.get_context()
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"DataLoader: multiprocessing_context should be a start method in "
                             f"{methods}, got {context!r}")
        return multiprocessing.get_context(context)
    if isinstance(context, multiprocessing.context.BaseContext):
        return context
    raise TypeError(f"DataLoader: multiprocessing_context must be a start method name or a "
                    f"multiprocessing context, got {type(context).__name__}")


def _preload_in_forkserver(context) -> None:
    """Have the forkserver import this module (numpy and dlpy with it) when it starts, so
    that the workers it forks do not import them again: 40-60 ms instead of 240-360 ms to
    start two workers. Python's default preloads only __main__, and
    3.11 does not even do that; a running forkserver keeps what it has."""
    from multiprocessing import forkserver

    preload = getattr(getattr(forkserver, "_forkserver", None), "_preload_modules", None)
    if isinstance(preload, list) and __name__ not in preload:
        context.set_forkserver_preload([*preload, __name__])


class _TensorField:
    """A Tensor of a batch on its way from a worker: only its array travels."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray):
        self.data = data


def _pack(batch):
    """Tensors in tuples, lists and dicts replaced by _TensorField (in the worker)."""
    if isinstance(batch, Tensor):
        return _TensorField(batch.data)
    if isinstance(batch, dict):
        return {key: _pack(value) for key, value in batch.items()}
    if type(batch) in (tuple, list):
        return type(batch)(_pack(value) for value in batch)
    return batch


def _unpack(batch):
    """The inverse of _pack (in the main process): the batch as the dataset made it."""
    if isinstance(batch, _TensorField):
        return Tensor(batch.data)
    if isinstance(batch, dict):
        return {key: _unpack(value) for key, value in batch.items()}
    if type(batch) in (tuple, list):
        return type(batch)(_unpack(value) for value in batch)
    return batch


class _WorkerError:
    """An exception raised in a worker, carried to the main process as its type and text
    (and a ``note`` on what to do, if any)."""

    def __init__(self, worker_id: int, note: str = ""):
        error_type = type(sys.exc_info()[1])
        try:  # a type the main process cannot unpickle would lose the message
            pickle.loads(pickle.dumps(error_type))
        except Exception:
            error_type = RuntimeError
        self.error_type = error_type
        self.message = (f"Caught {type(sys.exc_info()[1]).__name__} in DataLoader worker "
                        f"process {worker_id}.{note}\nOriginal {traceback.format_exc()}")

    def reraise(self):
        try:  # PyTorch's rule: the same type with the worker's traceback as its message
            error = self.error_type(self.message)
        except Exception:
            error = RuntimeError(self.message)
        raise error


class _IterableEnd:
    """A worker's copy of an IterableDataset is exhausted for this epoch."""


def _seed_worker(seed: int, base_seed: int, worker_id: int) -> None:
    """Seed the worker's random, numpy.random and dlpy generators (as PyTorch's workers)."""
    random.seed(seed)
    np.random.seed(np.random.SeedSequence([base_seed, worker_id]).generate_state(4))
    manual_seed(seed)


def _pickled_for_workers(fetcher, worker_init_fn: Callable[[int], Any] | None,
                        context) -> tuple | bytes:
    """What every worker gets: ``(fetcher, worker_init_fn)`` themselves under fork (inherited,
    never copied); else pickled once, here, for all the workers. An object that cannot be
    pickled is a TypeError naming it (the dataset, collate_fn or worker_init_fn)."""
    method = context.get_start_method()
    if method == "fork":
        return fetcher, worker_init_fn
    from multiprocessing.reduction import ForkingPickler

    try:
        return bytes(ForkingPickler.dumps((fetcher, worker_init_fn)))
    except Exception as error:
        for name, value in (("dataset", fetcher.dataset), ("collate_fn", fetcher.collate_fn),
                            ("worker_init_fn", worker_init_fn)):
            try:
                ForkingPickler.dumps(value)
            except Exception as reason:
                what = getattr(value, "__qualname__", None) or type(value).__name__
                raise TypeError(
                    f"DataLoader: the {name} {what} cannot be pickled ({reason}), and the "
                    f"{method!r} start method sends it to every worker process: define it at "
                    f"module level (not a lambda, not inside a function) so that the workers "
                    f"can import it, or use multiprocessing_context='fork'") from error
        raise


def _unpickled(payload: bytes, sys_path: list[str], worker_id: int):
    """The worker's (fetcher, worker_init_fn) from ``_pickled_for_workers``, unpickled after
    adding the main process's import path; (None, None, error) if that fails."""
    sys.path[:0] = [entry for entry in sys_path if entry not in sys.path]
    try:
        return (*pickle.loads(payload), None)
    except Exception:
        note = (" It could not unpickle the dataset, collate_fn or worker_init_fn that the "
                "main process sent: define them in a module the workers can import (not in "
                "an interactive session or a notebook), or use multiprocessing_context='fork'.")
        return None, None, _WorkerError(worker_id, note)


def _worker_loop(payload: tuple | bytes, sys_path: list[str], index_queue, result_queue,
                 done_event, base_seed: int, worker_id: int, num_workers: int) -> None:
    """A worker: (epoch, task, index) in, (epoch, task, pickled batch or error) out; a task of
    None starts an epoch (resets an iterable dataset's stream); None ends the worker."""
    global _worker_info
    try:
        if isinstance(payload, bytes):  # spawn or forkserver
            fetcher, worker_init_fn, init_error = _unpickled(payload, sys_path, worker_id)
        else:
            (fetcher, worker_init_fn), init_error = payload, None
        seed = base_seed + worker_id
        _seed_worker(seed, base_seed, worker_id)  # after unpickling: as under fork
        dataset = None if fetcher is None else fetcher.dataset
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        if worker_init_fn is not None:
            try:
                worker_init_fn(worker_id)
            except Exception:
                init_error = _WorkerError(worker_id)  # the answer to every task
        parent, ended = os.getppid(), False
        while True:
            try:
                message = index_queue.get(timeout=WORKER_POLL_S)
            except queue.Empty:
                if done_event.is_set() or os.getppid() != parent:
                    break
                continue
            if message is None:
                break
            if done_event.is_set():
                continue
            epoch, task, index = message
            if task is None:
                if fetcher is not None:
                    fetcher.reset()
                ended = False
                continue
            if ended:  # this worker's stream ended: its remaining tasks of the epoch are void
                continue
            if init_error is not None:
                data = init_error
            else:
                try:
                    data = _pack(fetcher(index))
                except StopIteration:
                    data, ended = _IterableEnd(), True
                except Exception:
                    data = _WorkerError(worker_id)
            try:  # pickled here, so that an unpicklable batch is an error and not a lost message
                payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                payload = pickle.dumps(_WorkerError(worker_id))
            result_queue.put((epoch, task, payload))
            del data, payload
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the main process decides
        pass
    if done_event.is_set():  # exit without waiting for the main process to read what is queued
        result_queue.cancel_join_thread()
        result_queue.close()


class _BaseDataLoaderIter:
    """torch.utils.data.dataloader._BaseDataLoaderIter: the base of a DataLoader pass's
    iterators (``isinstance(it, _BaseDataLoaderIter)`` tells a loader's iterator from others)."""


class WorkerIterator(_BaseDataLoaderIter):
    """The batches of one DataLoader pass from worker processes; with persistent workers the
    same processes serve every epoch (``reset``)."""

    def __init__(self, fetcher, index_batches: Iterator, *, num_workers: int,
                 prefetch_factor: int, context, worker_init_fn, timeout: float, in_order: bool,
                 persistent: bool, base_seed: int):
        self.num_workers, self.prefetch = num_workers, prefetch_factor * num_workers
        self.timeout, self.in_order, self.persistent = timeout, in_order, persistent
        self.closed, self.epoch = False, -1
        self.start_method = context.get_start_method()
        if self.start_method == "forkserver":
            _preload_in_forkserver(context)
        self.index_queues, self.workers = [], []
        payload = _pickled_for_workers(fetcher, worker_init_fn, context)
        sys_path = [entry or os.getcwd() for entry in sys.path]
        self.result_queue = context.Queue()
        self.done_event = context.Event()
        try:
            for worker_id in range(num_workers):
                index_queue = context.Queue()
                index_queue.cancel_join_thread()
                worker = context.Process(
                    target=_worker_loop, daemon=True,
                    args=(payload, sys_path, index_queue, self.result_queue, self.done_event,
                          base_seed, worker_id, num_workers))
                worker.start()
                self.index_queues.append(index_queue)
                self.workers.append(worker)
        except BaseException:
            self.close()
            raise
        self.reset(index_batches)

    def reset(self, index_batches: Iterator) -> None:
        """Start an epoch over ``index_batches`` (None for each batch of an IterableDataset)."""
        self.epoch += 1
        self.batches = index_batches
        self.send_idx = self.rcvd_idx = self.outstanding = 0
        self.tasks: dict[int, list] = {}  # task -> [worker] while out, [worker, batch] when back
        self.active = [True] * self.num_workers
        self.worker_cycle = itertools.cycle(range(self.num_workers))
        for index_queue in self.index_queues:
            index_queue.put((self.epoch, None, None))
        for _ in range(self.prefetch):
            self._send_task()

    def _send_task(self) -> None:
        if self.outstanding >= self.prefetch:
            return
        for _ in range(self.num_workers):
            worker_id = next(self.worker_cycle)
            if self.active[worker_id]:
                break
        else:
            return
        try:
            index = next(self.batches)
        except StopIteration:
            return
        self.index_queues[worker_id].put((self.epoch, self.send_idx, index))
        self.tasks[self.send_idx] = [worker_id]
        self.outstanding += 1
        self.send_idx += 1

    def __iter__(self) -> WorkerIterator:
        return self

    def __next__(self):
        if self.closed:
            raise StopIteration
        while True:
            while self.rcvd_idx < self.send_idx:  # skip tasks handed over or voided
                info = self.tasks.get(self.rcvd_idx)
                if info is not None and (len(info) == 2 or self.active[info[0]]):
                    break
                self.tasks.pop(self.rcvd_idx, None)
                self.rcvd_idx += 1
            else:
                if not self.persistent:
                    self.close()
                raise StopIteration
            info = self.tasks[self.rcvd_idx]
            if len(info) == 2:
                del self.tasks[self.rcvd_idx]
                self.rcvd_idx += 1
                return self._deliver(info[1])
            task, data = self._receive()
            self.outstanding -= 1
            if isinstance(data, _IterableEnd):
                worker_id = self.tasks.pop(task)[0]
                self.active[worker_id] = False
                unanswered = [t for t, info in self.tasks.items()
                              if info[0] == worker_id and len(info) == 1]
                for t in unanswered:  # sent after its stream ended: the worker ignores them
                    del self.tasks[t]
                self.outstanding -= len(unanswered)
                self._send_task()
                continue
            if task == self.rcvd_idx or not self.in_order:
                del self.tasks[task]
                if task == self.rcvd_idx:
                    self.rcvd_idx += 1
                return self._deliver(data)
            self.tasks[task].append(data)  # early: kept until its turn

    def _deliver(self, data):
        self._send_task()
        if isinstance(data, _WorkerError):
            data.reraise()
        return _unpack(data)

    def _receive(self) -> tuple[int, Any]:
        """The next result of this epoch: polls, so that a dead worker or ``timeout`` is an
        error rather than a hang."""
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        while True:
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S,
                                                                deadline - time.monotonic()))
            try:
                epoch, task, payload = self.result_queue.get(timeout=wait)
            except queue.Empty:
                self._check_workers()
                if deadline is not None and time.monotonic() >= deadline:
                    self.close()
                    raise RuntimeError(f"DataLoader: timed out after {self.timeout} seconds "
                                       "waiting for a batch from the workers") from None
                continue
            if epoch == self.epoch:  # else left over from an epoch abandoned half way
                return task, pickle.loads(payload)

    def _check_workers(self) -> None:
        dead = [(i, w) for i, w in enumerate(self.workers) if not w.is_alive()]
        if not dead:
            return
        self.close()
        described = ", ".join(f"worker {i} (pid {w.pid}) {_exit_reason(w.exitcode)}"
                              for i, w in dead)
        hint = ""
        if self.start_method != "fork" and any(w.exitcode and w.exitcode > 0 for _, w in dead):
            hint = (f"; under the {self.start_method!r} start method a worker imports the main "
                    "script again: keep its code under `if __name__ == '__main__':`")
        raise RuntimeError(f"DataLoader: {described}; a worker exited unexpectedly (killed, "
                           f"or out of memory?){hint}")

    def close(self) -> None:
        """Stop the workers (they get SHUTDOWN_GRACE_S to exit, then are terminated) and reap
        them, so that no zombie processes are left."""
        if self.closed:
            return
        self.closed = True
        self.done_event.set()
        for index_queue in self.index_queues:
            try:
                index_queue.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(SHUTDOWN_GRACE_S)
                if worker.is_alive():
                    worker.kill()
                    worker.join()
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the modules may already be gone
            pass


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"
