"""Batching: a DataLoader over a map-style or iterable dataset (or aligned arrays), in the main
process or in worker processes (``num_workers``), PyTorch's semantics."""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import pickle
import warnings
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    MutableSequence,
    Sequence,
)
from typing import Any

import numpy as np

from dlpy import random_streams
from dlpy.creation import tensor
from dlpy.data.dataset import (
    BatchSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    TensorDataset,
)
from dlpy.data.workers import WorkerIterator, _BaseDataLoaderIter, get_context
from dlpy.random import get_rng
from dlpy.tensor import Tensor, default_complex_dtype, default_dtype


class CollateError(ValueError, RuntimeError):
    """Items a batch cannot be made of (different shapes, different numbers of fields): a
    ValueError, and the RuntimeError torch's stack raises."""


def default_collate(batch: Sequence, where: str = "") -> Any:
    """Stack a batch (a sequence of items) into one, as torch's: Tensors stacked (dtypes
    promoted, through autograd if one requires grad), numpy arrays and scalars of numbers
    into a Tensor (the arrays' dtype kept), Python ints and bools into a Tensor as
    ``torch.tensor`` infers it, floats into float64, strings and bytes kept as the batch
    holds them; mappings key by key (their type kept), named tuples field by field, other
    sequences field by field into a list (a list item's type kept). Numpy arrays of strings
    or objects are stacked into one numpy array (torch refuses them). Items of different
    shapes are a ValueError (pad them in your own ``collate_fn``). The leaves are collated by
    ``default_collate_fn_map``'s handlers: add a type there to collate it (torch's way of
    extending ``default_collate``)."""
    return collate(batch, collate_fn_map=default_collate_fn_map, where=where)


def collate(batch: Sequence, *, collate_fn_map: dict | None = None, where: str = "") -> Any:
    """torch's general collate: the handler ``collate_fn_map`` gives the first item's type
    (its exact type, else the first key it is an instance of) collates the batch, called as
    ``handler(batch, collate_fn_map=collate_fn_map)``; mappings, named tuples and other
    sequences are collated key by key or field by field with the same map; anything else is
    a TypeError. ``where`` names the field in error messages."""
    first = batch[0]
    if collate_fn_map is not None:
        handler = collate_fn_map.get(type(first))
        if handler is None:
            handler = next((fn for kind, fn in collate_fn_map.items()
                            if isinstance(first, kind)), None)
        if handler is not None:
            if getattr(handler, "_names_field", False):  # dlpy's own: their messages name it
                return handler(batch, collate_fn_map=collate_fn_map, where=where)
            return handler(batch, collate_fn_map=collate_fn_map)
    if isinstance(first, Mapping):
        return _like_mapping(first, {
            key: collate([item[key] for item in batch], collate_fn_map=collate_fn_map,
                         where=f"{where}[{key!r}]")
            for key in first})
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        # a named tuple field by field, as torch's: zip(*batch), so longer items are cut to
        # the shortest (no check of their sizes, unlike other sequences)
        return type(first)(*(collate(samples, collate_fn_map=collate_fn_map,
                                     where=f"{where}.{name}")
                             for name, samples in zip(first._fields, zip(*batch))))
    if isinstance(first, Sequence) and not isinstance(first, (str, bytes)):
        # item by item up to the first of another size, as torch's all(): a later item
        # without a length is not reached
        size = len(first)
        other = next((item for item in batch if len(item) != size), None)
        if other is not None:
            raise CollateError(f"DataLoader: the items of a batch have {size} and {len(other)} "
                               f"fields{' in field ' + where if where else ''}; every item must "
                               "have the same number")
        fields = [collate(samples, collate_fn_map=collate_fn_map, where=f"{where}[{i}]")
                  for i, samples in enumerate(zip(*batch))]
        if isinstance(first, tuple):  # a list, as torch's
            return fields
        return _like_sequence(first, fields)
    raise TypeError(f"DataLoader: cannot collate items of type {type(first).__name__}{where}; "
                    "pass a collate_fn")


def _names_field(handler: Callable) -> Callable:
    """Mark one of dlpy's collate handlers: ``collate`` passes it ``where`` too."""
    handler._names_field = True
    return handler


@_names_field
def collate_tensor_fn(batch, *, collate_fn_map=None, where: str = ""):
    """Tensors stacked along a new first axis (dtypes promoted, through autograd)."""
    return _stack_tensors(batch, where)


@_names_field
def collate_numpy_array_fn(batch, *, collate_fn_map=None, where: str = ""):
    """Numpy arrays (and numpy scalars) stacked into a Tensor of their dtype, laid out as
    torch.stack lays out their tensors (row-major); arrays of strings or objects into one
    numpy array."""
    stacked = _stack(batch, where)
    if stacked.dtype.kind not in "OSUV":
        return Tensor(stacked)
    if any(np.asarray(item).dtype.kind not in "OSUV" for item in batch):
        # numbers beside text: numpy would make them text too; torch refuses (TypeError)
        dtypes = sorted({str(np.asarray(item).dtype) for item in batch})
        raise TypeError(f"DataLoader: cannot collate numbers with text{where} (numpy dtypes "
                        f"{dtypes}); pass a collate_fn")
    return stacked


def collate_float_fn(batch, *, collate_fn_map=None):
    """Python floats into a float64 Tensor."""
    return tensor(list(batch), dtype=np.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    """Python ints (and bools) into a Tensor as ``torch.tensor`` infers it."""
    return tensor(list(batch))


def collate_str_fn(batch, *, collate_fn_map=None):
    """Strings and bytes: the batch as it is."""
    return batch


# torch.utils.data._utils.collate.default_collate_fn_map: type -> handler (add your own)
default_collate_fn_map: dict = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_array_fn,  # (numpy strings: str's)
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_convert(data: Any) -> Any:
    """What ``DataLoader(batch_size=None)`` does to each item, as torch's ``default_convert``:
    a numpy array or scalar of numbers becomes a Tensor (sharing an array's memory, as
    ``torch.as_tensor``); Tensors, Python numbers, strings and numpy arrays of strings or
    objects stay as they are; mappings (their type kept), named tuples and lists are converted
    element by element, other tuples into lists (as torch's)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(data, np.str_):
        if isinstance(data, np.ndarray) and data.dtype.kind in "OSUV":
            return data
        return Tensor(np.asarray(data))
    if isinstance(data, Mapping):
        return _like_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple):
        if hasattr(data, "_fields"):
            return type(data)(*(default_convert(value) for value in data))
        return [default_convert(value) for value in data]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return _like_sequence(data, [default_convert(value) for value in data])
    return data


def _like_mapping(original: Mapping, values: dict) -> Any:
    """``values`` (original's keys) as a mapping of original's type (an OrderedDict stays
    one, as torch's: a copy updated, else the type built from a dict), else the dict."""
    try:
        if isinstance(original, MutableMapping):
            clone = copy.copy(original)
            clone.update(values)
            return clone
        return type(original)(values)
    except TypeError:
        return values


def _like_sequence(original: Sequence, values: list) -> Any:
    """``values`` (one per item of original) as a sequence of original's type, else the
    list (as ``_like_mapping``)."""
    try:
        if isinstance(original, MutableSequence):
            clone = copy.copy(original)
            for i, value in enumerate(values):
                clone[i] = value
            return clone
        return type(original)(values)
    except TypeError:
        return values


def _check_shapes(arrays: list, where: str) -> None:
    shape = np.shape(arrays[0])
    field = f" in field {where}" if where else ""
    for i, a in enumerate(arrays):
        if np.shape(a) != shape:
            raise CollateError(
                f"DataLoader: cannot batch items of different shapes{field}: item 0 of the "
                f"batch has {shape}, item {i} has {np.shape(a)}; pad them to one shape in a "
                "collate_fn"
            )


def _stack(values: Sequence, where: str) -> np.ndarray:
    """np.stack of numpy items, in the dtype torch.as_tensor infers for them: Python numbers
    beside them as torch.tensor takes them (an int int64, a float the default dtype), mixed
    dtypes promoted by torch's rule (int32 with float32 is float32, not numpy's float64)."""
    arrays = [np.asarray(v) if type(v) not in _PYTHON_NUMBERS
              else np.asarray(v, dtype=_python_number_dtype(v)) for v in values]
    _check_shapes(arrays, where)
    dtype = arrays[0].dtype
    if any(a.dtype != dtype for a in arrays) and \
            not any(a.dtype.kind in "OSUV" for a in arrays):
        from dlpy.ops.promotion import promote_types

        dtype = functools.reduce(promote_types, (a.dtype for a in arrays))
        arrays = [a.astype(dtype, copy=False) for a in arrays]
    from dlpy.ops.shape import Stack

    return Stack(0).forward(*arrays)  # (torch's layout, not a transposed item's)


_PYTHON_NUMBERS = (bool, int, float, complex)


def _python_number_dtype(value) -> np.dtype:
    if isinstance(value, (bool, int)):
        return np.dtype(np.bool_ if isinstance(value, bool) else np.int64)
    if isinstance(value, float):
        return default_dtype()
    return default_complex_dtype()


def _stack_tensors(batch: Sequence, where: str) -> Tensor:
    """torch.stack of the batch: a new Tensor; dtypes promoted and autograd recorded (by
    dlpy's stack) where needed, else one numpy stack; a batch of Tensor subclasses through
    ``dlpy.stack``, whose ``__torch_function__`` may keep the subclass (torch's does)."""
    if isinstance(batch, Tensor):  # (a Tensor item given as the batch: batch_size=None)
        raise TypeError(f"stack(): argument 'tensors' must be a tuple or list of Tensors, not "
                        f"Tensor{where}")
    if not all(isinstance(t, Tensor) for t in batch):
        kinds = sorted({type(t).__name__ for t in batch})
        raise TypeError(f"DataLoader: cannot collate Tensors with items of other types "
                        f"{kinds}{where}; pass a collate_fn")
    arrays = [t.data for t in batch]
    _check_shapes(arrays, where)
    if any(type(t) is not Tensor for t in batch):  # a subclass (MONAI's MetaTensor): torch's
        import dlpy  # torch.stack, through the subclass's __torch_function__ (it keeps its kind)

        return dlpy.stack(list(batch))
    dtype = arrays[0].dtype
    if any(t.requires_grad for t in batch) or any(a.dtype != dtype for a in arrays):
        from dlpy.functional import stack

        return stack(list(batch))
    from dlpy.ops.shape import Stack

    return Tensor(Stack(0).forward(*arrays))  # the layout of dlpy's (and torch's) stack


class _MapFetcher:
    """One batch of a map-style dataset from a batch of indices (a slice or an index array):
    its rows (default collation of a dataset with ``rows``), its ``__getitems__`` (as torch's)
    or its items one by one; without batching (``batch_size=None``), one item from one index."""

    def __init__(self, dataset, collate_fn, batched: bool = True):
        self.dataset, self.collate_fn, self.batched = dataset, collate_fn, batched
        self.by_rows = batched and collate_fn in (None, default_collate) and (
            isinstance(dataset, TensorDataset) or hasattr(dataset, "rows"))
        self.by_list = callable(getattr(dataset, "__getitems__", None))

    def reset(self) -> None:
        pass

    def __call__(self, index):
        if not self.batched:
            return (self.collate_fn or default_convert)(self.dataset[index])
        if self.by_rows:
            return list(self.dataset.rows(index))  # a list, as default_collate's
        indices = range(index.start, index.stop) if isinstance(index, slice) else index
        if self.by_list:
            items = self.dataset.__getitems__([int(i) for i in indices])
        else:
            items = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(items)


class _StreamFetcher:
    """The next batch of an IterableDataset's stream (the next item, converted, if
    ``batch_size`` is None); StopIteration at its end."""

    def __init__(self, dataset, batch_size: int | None, drop_last: bool, collate_fn):
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.collate_fn, self.stream = collate_fn, None

    def reset(self) -> None:
        self.stream = None

    def __call__(self, index=None):
        if self.stream is None:
            self.stream = iter(self.dataset)
        if self.batch_size is None:
            return (self.collate_fn or default_convert)(next(self.stream))
        items = list(itertools.islice(self.stream, self.batch_size))
        if not items or (self.drop_last and len(items) < self.batch_size):
            raise StopIteration
        return (self.collate_fn or default_collate)(items)


class _InfiniteConstantSampler(Sampler):
    """The sampler of a loader over an IterableDataset, as torch's: None, endlessly (the
    dataset decides the order)."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)


def _index_batches(dataset, sampler, batch_sampler, batch_size: int | None,
                   drop_last: bool) -> Iterator[Any]:
    """Batches of indices: the batch sampler's, else slices for the sequential order, arrays
    otherwise; the sampler's indices one by one without batching (batch_size None)."""
    if batch_sampler is not None:
        for batch in batch_sampler:
            yield np.asarray(batch, dtype=np.int64)
        return
    if batch_size is None:
        yield from (int(index) for index in sampler)
        return
    if type(sampler) is SequentialSampler and len(sampler) <= len(dataset):
        # (a longer sampler's indices past the dataset are an IndexError, as torch's: an
        # index array below, not a slice that would stop at the end)
        n = len(sampler)  # (its data source's length, not necessarily the dataset's)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield slice(start, min(start + batch_size, n))
        return
    # the sampler's indices taken as the batches need them, as torch's BatchSampler does: a
    # partial epoch draws no more than it reads, and an endless sampler works
    pending = np.empty(0, dtype=np.int64)
    for chunk in _index_chunks(sampler, batch_size):
        pending = np.concatenate([pending, chunk]) if pending.size else chunk
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]
    if pending.size and not drop_last:
        yield pending


def _index_chunks(sampler, batch_size: int) -> Iterator[np.ndarray]:
    """A sampler's indices in arrays: a RandomSampler's draws one by one (torch's randint
    chunks or permutations, each drawn when reached), any other's batch_size at a time."""
    if type(sampler) is RandomSampler:
        yield from sampler._draws()
        return
    indices = iter(sampler)
    while (chunk := np.fromiter(itertools.islice(indices, batch_size), dtype=np.int64)).size:
        yield chunk


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    """An epoch's batches loaded in this process; ``len()`` is the loader's, as torch's."""

    def __init__(self, batches: Iterator, loader):
        self.batches, self.loader = batches, loader
        self._num_yielded = 0
        # (the length an IterableDataset reported to len(loader) before this epoch, as torch's)
        self._IterableDataset_len_called = loader._IterableDataset_len_called \
            if loader.is_iterable else None

    def __iter__(self) -> _SingleProcessDataLoaderIter:
        return self

    def __next__(self):
        batch = next(self.batches)
        self._num_yielded += 1
        if self._IterableDataset_len_called is not None \
                and self._num_yielded > self._IterableDataset_len_called:
            # torch's warning (its count is of batches, its length the dataset's, as here)
            warnings.warn(f"Length of IterableDataset {self.loader.dataset} was reported to be "
                          f"{self._IterableDataset_len_called}(when accessing len(dataloader)), "
                          f"but {self._num_yielded} samples have been fetched. ", stacklevel=2)
        return batch

    def __len__(self) -> int:
        return len(self.loader)


class DataLoader:
    """Batches from a dataset: ``for x, y in DataLoader(TensorDataset(images, labels), 50)``.

    ``dataset``: a map-style dataset (``__len__`` and ``__getitem__``), an ``IterableDataset``,
    or a tuple of aligned arrays (as ``TensorDataset(*arrays)``), or one array. Arrays and
    TensorDatasets are batched by indexing each array once per batch, in the arrays' own dtype:
    keep images as uint8 and convert per batch, which is faster and smaller than converting the
    whole set. Other datasets are read item by item and joined by ``collate_fn`` (default:
    ``default_collate``).

    ``batch_size=None`` turns batching off: each item comes alone, through ``collate_fn``
    (default: ``default_convert``), in the sampler's order.

    ``shuffle`` draws a new order every epoch from ``rng`` (PyTorch's ``generator=`` is the
    same; None: the default generator, so ``dlpy.manual_seed`` makes it reproducible).
    ``sampler``: an iterable of indices instead (a ``set_epoch`` method, if any, is for the
    training loop to call). ``drop_last`` skips a short batch. ``batch_sampler``: an iterable
    of index lists, one per batch (``BatchSampler``), instead of batch_size, shuffle, sampler
    and drop_last. A dataset with a ``rows(index)`` method (TensorDataset, a Subset of one) is
    batched by indexing its arrays once per batch.

    ``num_workers > 0`` fetches and collates in that many worker processes (the sampler stays
    here, so the batches and their order are those of ``num_workers=0``); each keeps
    ``prefetch_factor`` (default 2) batches in flight. ``persistent_workers`` keeps them for
    the next epoch; ``worker_init_fn(worker_id)`` runs first in each; ``timeout`` (seconds, 0:
    none) bounds the wait for a batch; ``multiprocessing_context``: "fork", "spawn",
    "forkserver" or a context (None: the default; under spawn and forkserver the dataset,
    collate_fn and worker_init_fn are pickled, so define them at module level, and the main
    script needs ``if __name__ == "__main__":``); ``in_order=False`` hands batches over as they
    come. A worker's random, numpy.random and dlpy generators are seeded with base seed +
    worker id (the same under every start method), the base seed derived from ``rng``'s state
    without drawing from it. Workers pay
    off when ``__getitem__`` does real work (decoding, augmentation, text analysis); see
    benchmarks/dataloader_workers.py. ``pin_memory`` and ``pin_memory_device`` are accepted
    and do nothing (CPU only).
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, drop_last: bool = False,
                 collate_fn: Callable[[list], Any] | None = None,
                 rng: np.random.Generator | None = None, batch_sampler=None,
                 generator: np.random.Generator | None = None, *, num_workers: int = 0,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 worker_init_fn: Callable[[int], Any] | None = None, timeout: float = 0,
                 multiprocessing_context=None, in_order: bool = True,
                 pin_memory: bool = False, pin_memory_device: str = ""):
        if generator is not None:
            if rng is not None:
                raise ValueError("DataLoader: give rng or generator (the same thing), not both")
            rng = generator
        self.is_iterable = isinstance(dataset, IterableDataset)
        if self.is_iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                # (torch's: shuffle "not in {False, None}", so 0 passes; the samplers "is not
                # None")
                unset = value in {False, None} if name == "shuffle" else value is None
                if not unset:
                    raise ValueError(f"DataLoader: an IterableDataset decides its own order; "
                                     f"expected unspecified {name} option, got {name}={value!r}")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler decides the batches; leave "
                                 "batch_size, shuffle, sampler and drop_last alone")
            if not isinstance(batch_sampler, Iterable):
                raise TypeError(f"DataLoader: batch_sampler must be an iterable of index lists, "
                                f"got {type(batch_sampler).__name__}")
            batch_size = None  # as torch's attributes: the batch sampler decides
        elif batch_size is not None and not isinstance(drop_last, bool):
            raise ValueError(f"DataLoader: drop_last should be a boolean value, but got "
                             f"drop_last={drop_last!r}")
        if isinstance(dataset, np.ndarray):
            dataset = (dataset,)
        if isinstance(dataset, tuple):  # aligned arrays (the original calling convention)
            if not dataset:
                raise ValueError("DataLoader: needs at least one array")
            try:
                dataset = TensorDataset(*dataset)
            except ValueError as err:
                raise ValueError(str(err).replace("TensorDataset", "DataLoader")) from None
        if not self.is_iterable and not (hasattr(dataset, "__getitem__")
                                         and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: the dataset must have __len__ and __getitem__ (a "
                            f"map-style dataset) or be an IterableDataset, got "
                            f"{type(dataset).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r} (None: no batching)")
        if batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: give sampler or shuffle=True, not both (the sampler "
                             "decides the order)")
        if sampler is not None and not isinstance(sampler, Iterable):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices, got "
                            f"{type(sampler).__name__}")
        self._check_workers(num_workers, prefetch_factor, persistent_workers, worker_init_fn,
                            timeout, multiprocessing_context)
        self.dataset, self._batch_sampler = dataset, batch_sampler
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        # batches are collated (torch's auto-collation) unless batch_size is None
        self._auto_collation = batch_sampler is not None or batch_size is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn, self.rng, self.generator = collate_fn, rng, rng
        if self.is_iterable:
            sampler = _InfiniteConstantSampler()
        elif sampler is None:
            sampler = RandomSampler(dataset, rng) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        self.num_workers, self.persistent_workers = int(num_workers), persistent_workers
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers else prefetch_factor
        self.multiprocessing_context = get_context(multiprocessing_context) if num_workers \
            else None
        self.worker_init_fn, self.timeout, self.in_order = worker_init_fn, timeout, in_order
        self.pin_memory = pin_memory  # nothing to pin: dlpy's arrays live in CPU memory
        self.pin_memory_device = pin_memory_device  # (torch's pinning target; kept, unused)
        self._workers: WorkerIterator | None = None  # the persistent workers, once started
        self._seed_state: tuple[bytes, int] = (b"", 0)  # see _base_seed
        self._initialized = True

    _initialized = False
    _IterableDataset_len_called: int | None = None  # see num_samples
    _FIXED = frozenset(("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                        "persistent_workers"))

    def __setattr__(self, name: str, value) -> None:
        # as torch's: these decide the batches, so changing them later is refused
        if self._initialized and name in self._FIXED:
            raise ValueError(f"{name} attribute should not be set after DataLoader is "
                             "initialized")
        object.__setattr__(self, name, value)

    @staticmethod
    def _check_workers(num_workers, prefetch_factor, persistent_workers, worker_init_fn,
                       timeout, multiprocessing_context) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
                or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative integer "
                             f"(use num_workers=0 to load in the main process), got "
                             f"{num_workers!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.number)) \
                or not timeout >= 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got "
                             f"{timeout!r}")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"DataLoader: worker_init_fn must be callable, got "
                            f"{type(worker_init_fn).__name__}")
        if num_workers == 0:
            if prefetch_factor is not None:
                raise ValueError(f"DataLoader: prefetch_factor option could only be specified "
                                 f"in multiprocessing; let num_workers > 0 to enable "
                                 f"multiprocessing, otherwise set prefetch_factor to None "
                                 f"(got prefetch_factor={prefetch_factor!r})")
            if persistent_workers:
                raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
            if multiprocessing_context is not None:
                raise ValueError(f"DataLoader: multiprocessing_context can only be used with "
                                 f"multi-process loading (num_workers > 0), got "
                                 f"multiprocessing_context={multiprocessing_context!r}")
        elif prefetch_factor is not None and (
                isinstance(prefetch_factor, bool)
                or not isinstance(prefetch_factor, (int, np.integer)) or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor option should be a positive integer, "
                             f"got {prefetch_factor!r}")

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The aligned arrays of a TensorDataset (the original DataLoader's attribute)."""
        return self.dataset.arrays

    @property
    def num_samples(self) -> int:
        if not self.is_iterable:
            return len(self.sampler)  # (a TypeError for a sampler without a length, as torch's)
        try:
            length = len(self.dataset)
        except (TypeError, NotImplementedError):
            raise TypeError(f"DataLoader: the {type(self.dataset).__name__} has no __len__, so "
                            "the loader has no length") from None
        # torch's name: an iterator started after this warns when it yields more batches
        self._IterableDataset_len_called = length
        return length

    @property
    def batch_sampler(self):
        """The batch sampler given, else (batching) PyTorch's ``BatchSampler(sampler,
        batch_size, drop_last)`` (an endless one over an IterableDataset); None without
        batching."""
        if self._batch_sampler is not None or self.batch_size is None:
            return self._batch_sampler
        return BatchSampler(self.sampler, self.batch_size, bool(self.drop_last))

    def __len__(self) -> int:
        if self._batch_sampler is not None:
            return len(self._batch_sampler)
        if self.batch_size is None:
            return self.num_samples
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def _fetcher(self):
        if self.is_iterable:
            return _StreamFetcher(self.dataset, self.batch_size, self.drop_last, self.collate_fn)
        return _MapFetcher(self.dataset, self.collate_fn, self._auto_collation)

    def _index_batches(self) -> Iterator[Any]:
        """Batches of indices: slices for the sequential order, arrays otherwise."""
        return _index_batches(self.dataset, self.sampler, self._batch_sampler, self.batch_size,
                              self.drop_last)

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            self._base_seed()  # torch's iterator draws its base seed, workers or not
            return _SingleProcessDataLoaderIter(self._batches_here(), self)
        batches = itertools.repeat(None) if self.is_iterable else self._index_batches()
        if self._workers is not None and not self._workers.closed:
            self._workers.reset(batches)  # persistent workers: a new epoch, the same processes
            return self._workers
        workers = WorkerIterator(
            self._fetcher(), batches, num_workers=self.num_workers,
            prefetch_factor=self.prefetch_factor, context=self.multiprocessing_context,
            worker_init_fn=self.worker_init_fn, timeout=self.timeout, in_order=self.in_order,
            persistent=self.persistent_workers, base_seed=self._base_seed())
        if self.persistent_workers:
            self._workers = workers
        return workers

    def _batches_here(self) -> Iterator[Any]:
        """The batches, loaded in this process (num_workers=0)."""
        fetcher = self._fetcher()
        if self.is_iterable:
            while True:
                try:
                    batch = fetcher()
                except StopIteration:
                    return
                yield batch
        for index in self._index_batches():
            yield fetcher(index)

    def _base_seed(self) -> int:
        """The workers' base seed, a hash of the state of ``rng`` (None: the default generator),
        so that drawing it leaves the shuffling equal to num_workers=0's. It follows
        ``dlpy.manual_seed``; a state seen at the previous start (nothing drew from the
        generator, e.g. no shuffling) is counted, so every epoch gets a new seed."""
        rng = get_rng(self.rng)
        if random_streams.is_torch(rng):  # torch's: a random_() of the loader's generator
            return int(random_streams.random_full(rng, (), np.int64))
        state = pickle.dumps(rng.bit_generator.state)
        seen, count = self._seed_state
        count = count + 1 if state == seen else 0
        self._seed_state = (state, count)
        digest = hashlib.blake2b(state + count.to_bytes(8, "little"), digest_size=8).digest()
        return int.from_bytes(digest, "little") >> 1  # < 2**63, as PyTorch's
