"""Batching over in-memory arrays."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class DataLoader:
    """Iterate over aligned arrays in batches: ``for x, y in DataLoader((images, labels), 50)``.

    Each batch is a tuple of numpy arrays (rows of every array at the same indices), in the
    arrays' own dtype: keep images as uint8 and convert per batch, which is faster and smaller
    than converting the whole set. ``shuffle`` draws a new order every epoch from ``rng`` (a
    seeded ``numpy.random.Generator`` makes it reproducible); ``drop_last`` skips a short batch.
    """

    def __init__(self, arrays: Sequence[np.ndarray], batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, rng: np.random.Generator | None = None):
        if isinstance(arrays, np.ndarray):
            arrays = (arrays,)
        self.arrays = tuple(np.asarray(a) for a in arrays)
        if not self.arrays:
            raise ValueError("DataLoader: needs at least one array")
        sizes = [len(a) for a in self.arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"DataLoader: the arrays must have the same length, got {sizes}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.rng = rng if rng is not None else np.random.default_rng()
        self.num_samples = sizes[0]

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        n, size = self.num_samples, self.batch_size
        order = self.rng.permutation(n) if self.shuffle else None
        stop = n - n % size if self.drop_last else n
        for start in range(0, stop, size):
            if order is None:
                yield tuple(a[start:start + size] for a in self.arrays)
            else:
                index = order[start:start + size]
                yield tuple(a[index] for a in self.arrays)
