"""Datasets, collate functions and worker_init_fns for the DataLoader worker tests, at module
level so that workers started with spawn or forkserver can import them (a class defined in a
test function cannot be pickled)."""

import os
import random
import signal
import time

import numpy as np

import dlpy
from dlpy.data import Dataset, IterableDataset, get_worker_info


def children() -> set[int]:
    """Processes whose parent is this one, zombies included (read from /proc), except the
    resource tracker and the forkserver that multiprocessing starts once for the session."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    command = f.read()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and b"resource_tracker" not in command \
                    and b"forkserver" not in command:
                found.add(int(name))
    return found


def gone(pids, wait_s: float = 5.0) -> bool:
    """Whether the processes `pids` have exited and been reaped (a forkserver's children are
    reaped by the forkserver, a moment after they exit)."""
    deadline = time.monotonic() + wait_s
    while any(os.path.exists(f"/proc/{pid}") for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Items(Dataset):
    """Item i: a dict of a float vector and an int label; `fail_at` raises, `kill_at` dies
    (in a worker), `exit_at` exits with code 1 (in a worker), `sleep_at` sleeps."""

    def __init__(self, n=23, fail_at=None, kill_at=None, sleep_at=None, sleep_s=0.0,
                 exit_at=None):
        self.n, self.fail_at, self.kill_at, self.exit_at = n, fail_at, kill_at, exit_at
        self.sleep_at, self.sleep_s = sleep_at, sleep_s

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad item {i}")
        in_worker = get_worker_info() is not None
        if i == self.kill_at and in_worker:
            os.kill(os.getpid(), signal.SIGKILL)
        if i == self.exit_at and in_worker:
            os._exit(1)
        if i == self.sleep_at and in_worker:
            time.sleep(self.sleep_s)
        return {"x": np.array([i, i * i], dtype=np.float32), "label": i % 3}


class WhoAmI(Dataset):
    """Item i: (i, worker id, the tag worker_init_fn set, worker seed, pid)."""

    tag = -1

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return i, info.id, self.tag, info.seed, os.getpid()


def tag_worker(worker_id):
    """A worker_init_fn: tags the worker's own copy of the dataset with 10 * worker id."""
    info = get_worker_info()
    if info.id != worker_id:
        raise RuntimeError(f"worker_init_fn got {worker_id}, get_worker_info says {info.id}")
    info.dataset.tag = 10 * worker_id


def draws() -> np.ndarray:
    """One draw each of random, numpy.random and dlpy's default generator."""
    return np.array([random.random(), np.random.random(), dlpy.default_generator().random()])


class Draws(Dataset):
    """Item i: draws of random, numpy.random and dlpy's default generator (augmentation)."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return draws()


class Probe(Dataset):
    """Item i: a row of floats and a label (to compare batches), the worker's id, seed and
    pid (-1, -1 in the main process), the tag and the first draws that `probe_init` left in
    the worker's copy."""

    tag, first_draws = -1, np.zeros(3)

    def __len__(self):
        return 10

    def __getitem__(self, i):
        info = get_worker_info()  # None in the main process
        worker, seed = (-1, -1) if info is None else (info.id, info.seed)
        return np.array([i, i / 2]), i % 4, worker, seed, os.getpid(), self.tag, self.first_draws


def probe_init(worker_id):
    """A worker_init_fn: the tag and the worker's first draws after seeding."""
    tag_worker(worker_id)
    get_worker_info().dataset.first_draws = draws()


def first_two_fields(items):
    """A collate_fn: the rows and labels of Probe's items only."""
    return np.stack([item[0] for item in items]), [item[1] for item in items]


class Stream(IterableDataset):
    """0..n-1, sharded across workers by get_worker_info() when `shard`."""

    def __init__(self, n=10, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class Uneven(IterableDataset):
    """Worker 0 streams [0], worker 1 streams 1..7: one stream ends long before the other."""

    def __iter__(self):
        info = get_worker_info()
        return iter(range(0, 1) if info.id == 0 else range(1, 8))


def pairs_collate(items):
    return np.stack([item["x"] for item in items]), [item["label"] for item in items]


def collate_to_function(items):
    """A collate_fn whose batch (a lambda) cannot be pickled."""
    return lambda: len(items)


def _fail_outside(pid):
    if os.getpid() != pid:
        raise ImportError("cannot rebuild this object outside the process that made it")
    return BreaksInWorkers(pid)


class BreaksInWorkers(Items):
    """A dataset that pickles, but raises ImportError when unpickled in another process (as
    a class defined in an interactive session's __main__ does under spawn)."""

    def __init__(self, pid=None):
        super().__init__()
        self.pid = os.getpid() if pid is None else pid

    def __reduce__(self):
        return _fail_outside, (self.pid,)


class NeedsTwo(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


def raise_needs_two(worker_id):
    raise NeedsTwo(1, 2)
