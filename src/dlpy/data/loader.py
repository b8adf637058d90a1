"""Batching: a DataLoader over a map-style dataset (or aligned arrays), PyTorch's semantics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from dlpy.data.dataset import RandomSampler, SequentialSampler, TensorDataset
from dlpy.tensor import Tensor


def default_collate(items: list, where: str = "") -> Any:
    """Stack a list of items into a batch: arrays and numbers into one array (Tensors into a
    Tensor), tuples and lists field by field, dicts key by key, strings into a list. Items of
    different shapes are a ValueError (pad them in your own ``collate_fn``)."""
    first = items[0]
    if isinstance(first, Tensor):
        return Tensor(_stack([t.data for t in items], where))
    if isinstance(first, (np.ndarray, np.generic, int, float, bool)):
        return _stack(items, where)
    if isinstance(first, str):
        return list(items)
    if isinstance(first, dict):
        return {key: default_collate([item[key] for item in items], f"{where}[{key!r}]")
                for key in first}
    if isinstance(first, (tuple, list)):
        sizes = {len(item) for item in items}
        if len(sizes) != 1:
            raise ValueError(f"DataLoader: the items of a batch have {sorted(sizes)} fields; "
                             "every item must have the same number")
        return tuple(default_collate([item[i] for item in items], f"{where}[{i}]")
                     for i in range(len(first)))
    raise TypeError(f"DataLoader: cannot collate items of type {type(first).__name__}{where}; "
                    "pass a collate_fn")


def _stack(values: list, where: str) -> np.ndarray:
    arrays = [np.asarray(v) for v in values]
    shape = arrays[0].shape
    field = f" in field {where}" if where else ""
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise ValueError(
                f"DataLoader: cannot batch items of different shapes{field}: item 0 of the "
                f"batch has {shape}, item {i} has {a.shape}; pad them to one shape in a collate_fn"
            )
    return np.stack(arrays)


class DataLoader:
    """Batches from a dataset: ``for x, y in DataLoader(TensorDataset(images, labels), 50)``.

    ``dataset``: a map-style dataset (``__len__`` and ``__getitem__``), or a tuple of aligned
    arrays (as ``TensorDataset(*arrays)``), or one array. Arrays and TensorDatasets are batched
    by indexing each array once per batch, in the arrays' own dtype: keep images as uint8 and
    convert per batch, which is faster and smaller than converting the whole set. Other datasets
    are read item by item and joined by ``collate_fn`` (default: ``default_collate``).

    ``shuffle`` draws a new order every epoch from ``rng`` (PyTorch's ``generator=`` is the
    same; None: the default generator, so ``dlpy.manual_seed`` makes it reproducible).
    ``sampler``: an iterable of indices instead (a ``set_epoch`` method, if any, is for the
    training loop to call). ``drop_last`` skips a short batch. ``batch_sampler``: an iterable
    of index lists, one per batch (``BatchSampler``), instead of batch_size, shuffle, sampler
    and drop_last. A dataset with a ``rows(index)`` method (TensorDataset, a Subset of one) is
    batched by indexing its arrays once per batch.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, drop_last: bool = False,
                 collate_fn: Callable[[list], Any] | None = None,
                 rng: np.random.Generator | None = None, batch_sampler=None,
                 generator: np.random.Generator | None = None):
        if generator is not None:
            if rng is not None:
                raise ValueError("DataLoader: give rng or generator (the same thing), not both")
            rng = generator
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler decides the batches; leave "
                                 "batch_size, shuffle, sampler and drop_last alone")
            if not isinstance(batch_sampler, Iterable):
                raise TypeError(f"DataLoader: batch_sampler must be an iterable of index lists, "
                                f"got {type(batch_sampler).__name__}")
        if isinstance(dataset, np.ndarray):
            dataset = (dataset,)
        if isinstance(dataset, tuple):  # aligned arrays (the original calling convention)
            if not dataset:
                raise ValueError("DataLoader: needs at least one array")
            try:
                dataset = TensorDataset(*dataset)
            except ValueError as err:
                raise ValueError(str(err).replace("TensorDataset", "DataLoader")) from None
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: the dataset must have __len__ and __getitem__ (a "
                            f"map-style dataset), got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: give sampler or shuffle=True, not both (the sampler "
                             "decides the order)")
        if sampler is not None and not isinstance(sampler, Iterable):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices, got "
                            f"{type(sampler).__name__}")
        self.dataset, self.batch_sampler = dataset, batch_sampler
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.collate_fn, self.rng = collate_fn, rng
        if sampler is None:
            sampler = RandomSampler(dataset, rng) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The aligned arrays of a TensorDataset (the original DataLoader's attribute)."""
        return self.dataset.arrays

    @property
    def num_samples(self) -> int:
        return len(self.sampler) if hasattr(self.sampler, "__len__") else len(self.dataset)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def _index_batches(self) -> Iterator[Any]:
        """Batches of indices: slices for the sequential order, arrays otherwise."""
        if self.batch_sampler is not None:
            for batch in self.batch_sampler:
                yield np.asarray(batch, dtype=np.int64)
            return
        size, n = self.batch_size, len(self.dataset)
        if type(self.sampler) is SequentialSampler:
            stop = n - n % size if self.drop_last else n
            for start in range(0, stop, size):
                yield slice(start, min(start + size, n))
            return
        order = self.sampler.indices() if type(self.sampler) is RandomSampler \
            else np.fromiter(self.sampler, dtype=np.int64)
        stop = len(order) - len(order) % size if self.drop_last else len(order)
        for start in range(0, stop, size):
            yield order[start:start + size]

    def __iter__(self) -> Iterator[Any]:
        dataset, collate = self.dataset, self.collate_fn
        if collate is None and (isinstance(dataset, TensorDataset) or hasattr(dataset, "rows")):
            for index in self._index_batches():
                yield dataset.rows(index)
            return
        collate = collate or default_collate
        for index in self._index_batches():
            indices = range(index.start, index.stop) if isinstance(index, slice) else index
            yield collate([dataset[int(i)] for i in indices])
