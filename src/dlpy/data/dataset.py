"""Map-style datasets and samplers with PyTorch's names and semantics.

A dataset is anything with ``__len__`` and ``__getitem__(int)``. A sampler is an iterable of
indices into it (``__len__`` optional); a sampler that changes per epoch (shuffling, sharding
across processes) has ``set_epoch(epoch)``, which the training loop calls, as in PyTorch.
"""

from __future__ import annotations

import bisect
import math
import operator
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import numpy as np

from dlpy import random_streams
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array

T_co = TypeVar("T_co", covariant=True)


class _NoLengthError(NotImplementedError, TypeError):
    """A Dataset without ``__len__``: torch's has none, so ``len()`` of it is a TypeError."""


class DatasetArgError(ValueError, AssertionError):
    """A wrong argument to a dataset: a ValueError, and the AssertionError of torch's
    ``assert`` (``ConcatDataset([])``)."""


class DatasetTypeError(TypeError, AssertionError):
    """A dataset of the wrong kind (an IterableDataset in a ConcatDataset): a TypeError, and
    the AssertionError of torch's ``assert``."""


class _IndexValueError(IndexError, ValueError):
    """An index or shape out of range where torch raises the other of the two."""


class _IndexTypeError(IndexError, TypeError):
    """An index that is not an integer (a slice, a float) given to a ConcatDataset: an
    IndexError, and torch's TypeError (it compares the index with ints)."""


class _LengthsTypeError(ValueError, TypeError):
    """random_split lengths that are not integers: a ValueError, and torch's TypeError (it
    slices with them)."""


class _TypeAttributeError(TypeError, AttributeError):
    """A non-array given where torch calls an array's method (an AttributeError there)."""


class Dataset(Generic[T_co]):
    """Base class of map-style datasets: override ``__getitem__`` and ``__len__``;
    ``a + b`` is ``ConcatDataset([a, b])``. Generic as torch's (``class D(Dataset[int])``)."""

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise _NoLengthError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co], Iterable[T_co]):
    """Base class of iterable-style datasets (a stream of items): override ``__iter__``
    (abstract, as torch's: a subclass without it cannot be instantiated, a TypeError);
    ``a + b`` is ``ChainDataset([a, b])``.

    The DataLoader batches the stream in its own order (no sampler or shuffle). With
    ``num_workers > 0`` every worker iterates its own copy: shard the stream with
    ``get_worker_info()`` (as in PyTorch), or each item comes once per worker.
    """

    def __len__(self) -> int:
        # a TypeError, as len() of an object without __len__: list(stream) takes it for "no
        # length hint" and goes on
        raise TypeError(f"object of type '{type(self).__name__}' has no len()")

    def __add__(self, other) -> ChainDataset:
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """IterableDatasets one after the other, as one stream (its length, if each has one, is
    the sum)."""

    def __init__(self, datasets: Iterable):
        self.datasets = datasets  # as torch's: kept as given, checked when used

    def _members(self) -> Iterator:
        for i, dataset in enumerate(self.datasets):
            if not isinstance(dataset, IterableDataset):
                raise DatasetTypeError(f"ChainDataset: expected IterableDatasets, got a "
                                       f"{type(dataset).__name__} at position {i}")
            yield dataset

    def __iter__(self) -> Iterator:
        for dataset in self._members():
            yield from dataset

    def __len__(self) -> int:
        # (a member without a length makes this a TypeError, as len() of it)
        return sum(len(dataset) for dataset in self._members())


class StackDataset(Dataset):
    """Item i of several datasets of one length together: ``StackDataset(a, b)[i]`` is
    ``(a[i], b[i])``, ``StackDataset(image=a, label=b)[i]`` is ``{"image": a[i], "label":
    b[i]}``."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: give the datasets as positional arguments (items "
                             "are tuples) or as keyword arguments (items are dicts), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset: needs at least one dataset")
        self.datasets: tuple | dict = args or kwargs
        parts = args or tuple(kwargs.values())
        sizes = [len(dataset) for dataset in parts]
        if len(set(sizes)) != 1:
            names = [f"#{i}" for i in range(len(args))] if args else list(kwargs)
            raise ValueError(f"StackDataset: the datasets must have one length, got "
                             f"{dict(zip(names, sizes))}")
        self._length = sizes[0]  # (torch's attribute)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {key: dataset[index] for key, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)

    def __getitems__(self, indices: list) -> list:
        """Items at ``indices``, each dataset read once (its ``__getitems__`` if it has one)."""
        def column(dataset) -> list:
            if callable(getattr(dataset, "__getitems__", None)):
                items = dataset.__getitems__(indices)
                if len(items) != len(indices):
                    raise ValueError(f"StackDataset: a dataset's __getitems__ gave {len(items)} "
                                     f"items for {len(indices)} indices")
                return list(items)
            return [dataset[i] for i in indices]

        if isinstance(self.datasets, dict):
            columns = {key: column(dataset) for key, dataset in self.datasets.items()}
            return [{key: items[i] for key, items in columns.items()}
                    for i in range(len(indices))]
        columns = [column(dataset) for dataset in self.datasets]
        return [tuple(items[i] for items in columns) for i in range(len(indices))]


class SizeMismatchError(ValueError, AssertionError):
    """TensorDataset's arrays of unequal lengths: a ValueError, and the AssertionError that
    torch's ``assert`` raises, so either ``except`` catches it."""


class TensorDataset(Dataset):
    """Rows of aligned arrays (or Tensors): item i is ``(a[i], b[i], ...)``.

    The DataLoader batches a TensorDataset by indexing each array once per batch (no per-item
    collation); batches are Tensors where Tensors were given (new ones, as torch's stacked
    rows; through autograd if the Tensor requires grad), numpy arrays otherwise. An item of a
    Tensor is its indexed view, as torch's.
    """

    def __init__(self, *tensors):
        for t in tensors:
            if not isinstance(t, (Tensor, np.ndarray)):
                raise _TypeAttributeError(f"TensorDataset: expected Tensors (or numpy "
                                          f"arrays), got {type(t).__name__}")
        self.tensors = tensors  # as given (PyTorch's attribute)
        self.is_tensor = tuple(isinstance(t, Tensor) for t in tensors)
        self.arrays = tuple(t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors)
        if any(a.ndim == 0 for a in self.arrays):
            raise _IndexValueError("TensorDataset: every array needs a first axis (one row per "
                                   f"item), got shapes {[tuple(a.shape) for a in self.arrays]}")
        sizes = [len(a) for a in self.arrays]
        if len(set(sizes)) > 1:
            raise SizeMismatchError(
                f"TensorDataset: the arrays must have the same length, got {sizes}")

    def __len__(self) -> int:
        if not self.arrays:
            raise _IndexValueError("TensorDataset: an empty TensorDataset (no arrays) has no "
                                   "length")
        return len(self.arrays[0])

    def __getitem__(self, index):
        # a Tensor's item is Tensor indexing (a view that follows the Tensor, grad recorded)
        try:
            return tuple(t[index] if wrap else a[index]
                         for t, a, wrap in zip(self.tensors, self.arrays, self.is_tensor))
        except IndexError as error:
            raise IndexError(f"{type(self).__name__}: index {index!r} is out of range for "
                             f"{len(self.arrays[0])} items ({error})") from None

    def rows(self, index) -> tuple:
        """Rows at ``index`` (an int, slice or index array) of every array, in the given types:
        a batch of its own (never a view of the dataset's Tensors)."""
        try:
            return tuple(self._rows(t, a, wrap, index)
                         for t, a, wrap in zip(self.tensors, self.arrays, self.is_tensor))
        except IndexError as error:
            raise IndexError(f"{type(self).__name__}: index {index!r} is out of range for "
                             f"{len(self.arrays[0])} items ({error})") from None

    @staticmethod
    def _rows(tensor, array, wrap: bool, index):
        if not wrap:
            return array[index]
        if tensor.requires_grad:  # recorded, as torch's stack of the rows
            rows = tensor[index]
            return rows.clone() if isinstance(index, slice) else rows
        rows = tensor.data[index]  # (tensor.data: the Tensor's values now)
        return Tensor(rows.copy() if isinstance(index, slice) else rows)


class Subset(Dataset):
    """The items of ``dataset`` at ``indices`` (kept as given, as torch's), in that order.
    ``subset[[i, j]]`` is ``dataset[[indices[i], indices[j]]]``, as torch's. Over a dataset
    with ``rows`` (a TensorDataset, or a Subset of one) it has ``rows`` too, so a DataLoader
    still batches it by indexing the arrays once per batch."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    @property
    def indices(self) -> Sequence[int]:
        return self._indices

    @indices.setter
    def indices(self, indices: Sequence[int]) -> None:
        # not checked against the dataset here: as torch's, a wrong index fails when read
        self._indices, self._order = indices, None

    @property
    def _rows_order(self) -> np.ndarray:
        if self._order is None:
            self._order = np.asarray(as_array(self._indices), dtype=np.int64).reshape(-1)
        return self._order

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self._indices[i] for i in index]]
        return self.dataset[self._indices[index]]

    def __getitems__(self, indices: list) -> list:
        """Items at ``indices`` (the dataset's ``__getitems__`` if it has one)."""
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self._indices[i] for i in indices])
        return [self.dataset[self._indices[i]] for i in indices]

    def __getattr__(self, name: str):
        if name == "rows" and hasattr(self.dataset, "rows"):
            return lambda index: self.dataset.rows(self._rows_order[index])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


class ConcatDataset(Dataset):
    """Several datasets one after the other: item i of the whole is item i - offset of the
    dataset it falls in (negative indices count from the end)."""

    def __init__(self, datasets: Iterable):
        self.datasets = list(datasets)
        if not self.datasets:
            raise DatasetArgError("ConcatDataset: needs at least one dataset")
        for i, dataset in enumerate(self.datasets):
            if isinstance(dataset, IterableDataset):
                raise DatasetTypeError(f"ConcatDataset: cannot index an IterableDataset "
                                       f"({type(dataset).__name__} at position {i}); chain "
                                       "streams with ChainDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    @staticmethod
    def cumsum(sequence) -> list[int]:
        """The running totals of the lengths of ``sequence``'s members (torch's name)."""
        return np.cumsum([len(d) for d in sequence], dtype=np.int64).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        n = len(self)
        if isinstance(index, Tensor):
            index = operator.index(index)  # a 0-d integer Tensor, as torch's
        if not isinstance(index, (int, np.integer)) or not -n <= index < n:  # (True too)
            # (torch's: a TypeError for a non-integer, a ValueError below -n, an IndexError at
            # n and above)
            if not isinstance(index, (int, np.integer)):
                error = _IndexTypeError
            else:
                error = _IndexValueError if index < -n else IndexError
            raise error(f"ConcatDataset: index {index!r} out of range for {n} items")
        if index < 0:
            index += n
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == 0:  # the index as given, as torch's (True indexes the first dataset with
            return self.datasets[0][index]  # True: a TensorDataset's item gets a new axis)
        return self.datasets[which][index - self.cumulative_sizes[which - 1]]


def random_split(dataset, lengths: Sequence[int | float],
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Disjoint random Subsets of the given lengths (summing to len(dataset)) or fractions
    (summing to 1: floors, the remainder given one by one to the first splits, as PyTorch).
    The permutation comes from ``generator`` (None: the default generator)."""
    n = len(dataset)
    lengths = [x.item() if isinstance(x, Tensor) else x for x in lengths]
    # as torch's: lengths summing to 1 are fractions, integers too ([0, 1] is all of the
    # dataset in the second split, [1] all of it, whatever its length)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        if any(not 0 <= x <= 1 for x in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        sizes = [int(math.floor(n * x)) for x in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=2)
        lengths = sizes
    # (bools are integers, as torch takes them: [True, True] is [1, 1])
    if any(not isinstance(x, (int, np.integer)) or x < 0 for x in lengths) \
            or sum(lengths) != n:
        integers = all(isinstance(x, (int, np.integer)) for x in lengths)
        raise (ValueError if integers else _LengthsTypeError)(
            f"random_split: lengths must be integers >= 0 summing to the dataset's {n} items, "
            f"or fractions summing to 1; got {lengths}")
    if generator is not None and not callable(getattr(generator, "permutation", None)):
        raise TypeError(f"random_split: generator must be a Generator, got "
                        f"{type(generator).__name__}")
    order = random_streams.randperm(get_rng(generator), n).tolist()  # lists, as torch's
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    return [Subset(dataset, order[end - size:end]) for size, end in zip(lengths, ends)]


class Sampler(Generic[T_co]):
    """Base class of samplers: ``__iter__`` yields indices; ``__len__`` (optional, none here,
    as torch's) how many."""

    def __iter__(self) -> Iterator[T_co]:
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
    """A new permutation every epoch, from ``rng`` (torch's ``generator=``, the same thing: a
    dlpy.Generator or numpy Generator; None: the default generator, so ``dlpy.manual_seed``
    makes it reproducible). ``num_samples`` (default: the dataset's length) indices, drawn
    with ``replacement`` or as whole permutations one after the other, as torch's."""

    def __init__(self, data_source, rng: np.random.Generator | None = None,
                 num_samples: int | None = None, generator: np.random.Generator | None = None,
                 *, replacement: bool = False):
        if isinstance(rng, bool):  # torch's positional (data, replacement, num_samples, generator)
            rng, replacement = None, rng
        if generator is not None:
            if rng is not None:
                raise ValueError("RandomSampler: give rng or generator (the same thing), not both")
            rng = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        if num_samples is not None and (not isinstance(num_samples, (int, np.integer))
                                        or num_samples <= 0):  # (True passes, as torch's)
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={num_samples!r}")
        self.data_source, self.rng = data_source, rng
        self.replacement, self._num_samples = replacement, num_samples
        if self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={self.num_samples} (an empty dataset)")

    @property
    def generator(self):
        """torch's name of ``rng``."""
        return self.rng

    @generator.setter
    def generator(self, value) -> None:
        # torch's attribute is plain: libraries replace the sampler's generator between epochs
        self.rng = value

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _draws(self) -> Iterator[np.ndarray]:
        """The epoch's indices in torch's draws, each drawn when reached: randint chunks of 32
        with replacement, else whole permutations, then the first count % n of one more (drawn
        even when that is none, as torch's)."""
        n, count, rng = len(self.data_source), self.num_samples, get_rng(self.rng)
        if self.rng is None and random_streams.is_torch(rng):
            # torch's: a generator of its own, seeded by a random_() of the default one
            from dlpy.generator import Generator

            rng = Generator().manual_seed(int(random_streams.random_full(rng, (), np.int64)))
        if self.replacement:
            if n == 0:  # (torch's randint(high=0) refuses, after its seed is drawn)
                raise RuntimeError("RandomSampler: random_ expects 'from' to be less than 'to', "
                                   "but got from=0 >= to=0 (an empty dataset)")
            if not random_streams.is_torch(rng):  # (a numpy Generator: one draw)
                yield random_streams.integers(rng, (count,), 0, n)
                return
            for _ in range(count // 32):
                yield random_streams.integers(rng, (32,), 0, n)
            yield random_streams.integers(rng, (count % 32,), 0, n)
            return
        for _ in range(count // n):
            yield random_streams.randperm(rng, n)
        yield random_streams.randperm(rng, n)[:count % n]

    def indices(self) -> np.ndarray:
        return np.concatenate(list(self._draws()))

    def __iter__(self) -> Iterator[int]:
        # a generator, as torch's: nothing is drawn before the first index is asked for
        for draw in self._draws():
            yield from draw.tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a new random order every epoch."""

    def __init__(self, indices: Sequence[int], generator: np.random.Generator | None = None):
        self.indices = indices  # as given, as torch's
        self.generator = generator

    def _order(self) -> np.ndarray:
        indices = np.asarray(as_array(self.indices), dtype=np.int64).reshape(-1)
        return indices[random_streams.randperm(get_rng(self.generator), indices.size)]

    def __iter__(self) -> Iterator[int]:
        # a generator, as torch's: the permutation is drawn when the first index is asked for
        if isinstance(self.indices, (list, tuple, range)):
            yield from self._order().tolist()
            return
        # torch yields indices[i]: a Tensor's (or an array's) elements, as they are
        positions = random_streams.randperm(get_rng(self.generator), len(self.indices))
        yield from (self.indices[i] for i in positions.tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (with
    replacement by default; without, each index at most once). ``weights`` is kept as a
    float64 Tensor, as torch's."""

    def __init__(self, weights, num_samples: int, replacement: bool = True,
                 generator: np.random.Generator | None = None):
        weights = np.array(as_array(weights), dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given "
                             f"weights have shape {tuple(weights.shape)}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
                or num_samples < 1:
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive integer, "
                             f"got {num_samples!r}")
        self.weights, self.num_samples = Tensor(weights), int(num_samples)
        self.replacement, self.generator = replacement, generator

    def indices(self) -> np.ndarray:
        if random_streams.is_torch(get_rng(self.generator)):  # torch's: torch.multinomial
            from dlpy.torch_functions import multinomial  # (its checks of the weights too)

            return multinomial(self.weights, self.num_samples, self.replacement,
                               generator=self.generator).data
        # the weights' values are checked here, when drawing (as torch.multinomial's)
        weights = np.asarray(self.weights.data, dtype=np.float64)
        if weights.size == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0) \
                or weights.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, >= 0 and not "
                               f"all zero, got {weights[:5]}...")
        if not self.replacement and self.num_samples > np.count_nonzero(weights):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {self.num_samples} indices "
                               f"without replacement from {np.count_nonzero(weights)} with "
                               "weight > 0")
        return get_rng(self.generator).choice(weights.size, self.num_samples,
                                              replace=self.replacement, p=weights / weights.sum())

    def __iter__(self) -> Iterator[int]:
        yield from self.indices().tolist()  # (drawn at the first index, as torch's generator)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``): what ``DataLoader(batch_sampler=...)`` takes."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, got "
                             f"drop_last={drop_last!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)  # as the sampler yields it, as torch's
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
