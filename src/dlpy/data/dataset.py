"""Map-style datasets and samplers with PyTorch's names and semantics.

A dataset is anything with ``__len__`` and ``__getitem__(int)``. A sampler is an iterable of
indices into it (``__len__`` optional); a sampler that changes per epoch (shuffling, sharding
across processes) has ``set_epoch(epoch)``, which the training loop calls, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Tensor


class Dataset:
    """Base class of map-style datasets: override ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Rows of aligned arrays (or Tensors): item i is ``(a[i], b[i], ...)``.

    The DataLoader batches a TensorDataset by indexing each array once per batch (no per-item
    collation); batches are Tensors where Tensors were given, numpy arrays otherwise.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one array")
        self.is_tensor = tuple(isinstance(t, Tensor) for t in tensors)
        self.arrays = tuple(t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors)
        if any(a.ndim == 0 for a in self.arrays):
            raise ValueError("TensorDataset: every array needs a first axis (one row per item), "
                             f"got shapes {[a.shape for a in self.arrays]}")
        sizes = [len(a) for a in self.arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: the arrays must have the same length, got {sizes}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return self.rows(index)

    def rows(self, index) -> tuple:
        """Rows at ``index`` (an int, slice or index array) of every array, in the given types."""
        return tuple(Tensor(a[index]) if wrap else a[index]
                     for a, wrap in zip(self.arrays, self.is_tensor))


class Sampler:
    """Base class of samplers: ``__iter__`` yields indices; ``__len__`` how many."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new permutation every epoch, from ``rng`` (None: the default generator, so
    ``dlpy.manual_seed`` makes it reproducible)."""

    def __init__(self, data_source, rng: np.random.Generator | None = None):
        self.data_source, self.rng = data_source, rng

    def indices(self) -> np.ndarray:
        return get_rng(self.rng).permutation(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return len(self.data_source)
