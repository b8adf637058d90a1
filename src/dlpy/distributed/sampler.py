"""DistributedSampler: each rank's share of the example indices, a new shuffle every epoch."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from dlpy import random_streams
from dlpy.data.dataset import Sampler
from dlpy.distributed import group


class DistributedSampler(Sampler):
    """The indices of this rank's shard of ``dataset`` (a length, or anything with ``len()``).

    Every epoch all ranks draw the same permutation from ``seed + epoch`` (torch's randperm,
    so torch's order; call ``set_epoch`` before each epoch), and rank r takes positions r,
    r + N, r + 2N, ... of it. So the shards are disjoint, and batch k of every rank together
    is exactly batch k of one process that reads the same permutation with an N times larger
    batch.

    N ranks must all take the same number of steps, so when N does not divide the dataset:
    by default the permutation is padded with its own first indices up to a multiple of N (at
    most N - 1 examples are seen twice that epoch); with ``drop_last=True`` its last
    ``len % N`` indices are dropped instead (at most N - 1 examples are not seen that epoch, a
    different few every epoch; fewer examples than ranks leave every rank an empty epoch, as
    torch's). When N divides the dataset, every example is seen exactly once
    per epoch either way. ``shuffle=False`` keeps the order 0, 1, 2, ...
    Pass it to ``DataLoader(dataset, batch_size, sampler=...)``. Iterating gives Python ints,
    as torch's; torch's attributes (``dataset``, ``num_samples``, ``total_size``, ...) too.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if isinstance(dataset, (int, np.integer)):
            total = int(dataset)
        else:
            try:
                total = len(dataset)
            except TypeError as err:
                raise TypeError(f"DistributedSampler: expected a dataset size or something with "
                                f"len(), got {type(dataset).__name__}") from err
        if num_replicas is None:
            num_replicas = group.world_size()
        if rank is None:
            rank = group.rank()
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the "
                             f"interval [0, {num_replicas - 1}]")
        if total < 0:
            raise ValueError(f"DistributedSampler: the dataset size must be >= 0, got {total}")
        self.dataset, self.total = dataset, total
        # kept as given, as torch's: a float seed (or epoch) is manual_seed's error when the
        # permutation is drawn, a float num_replicas slicing's
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        if drop_last and total % num_replicas:
            self.num_samples = math.ceil((total - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(total / num_replicas)
        self.total_size = self.num_samples * self.num_replicas  # after padding or dropping

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch's permutation (the same on every rank): call before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        """The number of indices this rank gets per epoch (the same on every rank)."""
        return self.num_samples

    def indices(self) -> np.ndarray:
        """This epoch's indices for this rank, as an int64 array."""
        if self.shuffle:
            # torch's: randperm from a Generator of its own seeded with seed + epoch (so a
            # program's order, on any number of ranks, is the one torch gives)
            from dlpy.generator import Generator

            rng = Generator().manual_seed(self.seed + self.epoch)
            order = random_streams.randperm(rng, self.total)
        else:
            order = np.arange(self.total)
        size = self.total_size
        if size > self.total:  # pad with the permutation's own first indices
            order = np.concatenate([order, np.resize(order, size - self.total)])
        return order[self.rank:size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())
