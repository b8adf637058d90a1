"""torch.utils.data's remaining names: StackDataset, ChainDataset, Dataset + Dataset,
default_convert, default_collate of named tuples and bytes, DataLoader(batch_size=None),
DistributedSampler. The expectations are what torch 2.13 gives, with numpy arrays where torch
has tensors."""

import collections

import numpy as np
import pytest

import dlpy
import dlpy.data
from dlpy.data import (
    ChainDataset,
    ConcatDataset,
    DataLoader,
    IterableDataset,
    StackDataset,
    TensorDataset,
    default_collate,
    default_convert,
)

from .worker_datasets import Stream

Pair = collections.namedtuple("Pair", "x y")

# torch.utils.data's public names that belong to the data API (the datapipes and the
# argument-validation helpers are torchdata's, deprecated)
TORCH_NAMES = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
               "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
               "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
               "TensorDataset", "WeightedRandomSampler", "default_collate", "default_convert",
               "get_worker_info", "random_split"]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_utils_data_names_exist(name):
    assert name in dlpy.data.__all__
    assert callable(getattr(dlpy.data, name))


def test_distributed_sampler_is_dlpy_distributed_s():
    from dlpy.distributed import DistributedSampler

    assert dlpy.data.DistributedSampler is DistributedSampler
    sampler = dlpy.data.DistributedSampler(10, num_replicas=2, rank=1, shuffle=False)
    assert list(sampler) == [1, 3, 5, 7, 9]
    with pytest.raises(AttributeError, match="module 'dlpy.data' has no attribute 'Nope'"):
        dlpy.data.Nope  # noqa: B018


class Counted(IterableDataset):
    """range(n), with a length."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_stack_dataset_tuples_and_dicts():
    stacked = StackDataset([1, 2, 3], ["a", "b", "c"])
    assert stacked[1] == (2, "b") and len(stacked) == 3
    named = StackDataset(x=[1, 2, 3], y=["a", "b", "c"])
    assert named[2] == {"x": 3, "y": "c"}
    batch = next(iter(DataLoader(StackDataset(image=np.eye(3), label=[0, 1, 2]), 2)))
    np.testing.assert_array_equal(batch["image"], np.eye(3)[:2])
    np.testing.assert_array_equal(batch["label"], [0, 1])


@pytest.mark.parametrize("args, kwargs, message", [
    (([1], [1, 2]), {}, r"one length, got \{'#0': 1, '#1': 2\}"),
    ((), {"x": [1], "y": [1, 2]}, r"one length, got \{'x': 1, 'y': 2\}"),
    ((), {}, "needs at least one dataset"),
    (([1],), {"y": [2]}, "as positional arguments .* or as keyword arguments .*not both"),
])
def test_stack_dataset_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=f"StackDataset: .*{message}"):
        StackDataset(*args, **kwargs)


def test_chain_dataset_and_adding_streams():
    chained = Counted(2) + Counted(3)
    assert isinstance(chained, ChainDataset)
    assert list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    nested = ChainDataset([Counted(1), chained])
    assert list(nested) == [0, 0, 1, 0, 1, 2] and len(nested) == 6
    assert [b.tolist() for b in DataLoader(nested, 4)] == [[0, 0, 1, 0], [1, 2]]
    mixed = ChainDataset([Counted(1), [1, 2]])  # checked when used, as torch's
    with pytest.raises(TypeError, match="ChainDataset: expected IterableDatasets, got a list "
                                        "at position 1"):
        list(mixed)


def test_adding_map_datasets_concatenates():
    rows = TensorDataset(np.arange(3.0), np.arange(3))
    both = rows + rows
    assert isinstance(both, ConcatDataset) and len(both) == 6
    assert both[4][0] == 1.0
    with pytest.raises(TypeError, match=r"ConcatDataset: cannot index an IterableDataset "
                                        r"\(Counted at position 1\); chain streams"):
        ConcatDataset([rows, Counted(2)])


def test_default_convert():
    got = default_convert((np.float32(1.5), 3, "a", np.arange(2),
                           Pair(np.int64(2), [np.float64(1)])))
    assert type(got) is list  # as torch's (its "backwards compatibility")
    # torch: numpy arrays and scalars of numbers become tensors, numbers and strings stay
    assert isinstance(got[0], dlpy.Tensor) and got[0].shape == () and got[0].dtype == np.float32
    assert got[1] == 3 and type(got[1]) is int and got[2] == "a"
    assert isinstance(got[3], dlpy.Tensor) and got[3].tolist() == [0, 1]
    assert type(got[4]) is Pair and got[4].x.dtype == np.int64 and got[4].x.shape == ()
    assert type(got[4].y) is list and got[4].y[0].dtype == np.float64
    converted = default_convert({"a": np.int8(3), "t": dlpy.tensor([1.0])})
    assert converted["a"].dtype == np.int8 and isinstance(converted["t"], dlpy.Tensor)
    assert default_convert(np.str_("s")) == "s" and type(default_convert(np.str_("s"))) is np.str_


def test_default_collate_named_tuples_and_bytes():
    batch = default_collate([Pair(1, 2.0), Pair(3, 4.0)])
    assert type(batch) is Pair
    np.testing.assert_array_equal(batch.x, [1, 3])
    assert batch.y.dtype == np.float64
    assert default_collate([b"ab", b"c"]) == [b"ab", b"c"]


def test_default_collate_python_numbers_give_tensors_as_torch():
    # torch: int -> int64 tensor, float -> float64, bool -> bool
    images, labels = default_collate([(dlpy.zeros(2), 3), (dlpy.ones(2), 7)])
    assert isinstance(labels, dlpy.Tensor) and labels.dtype == dlpy.int64
    assert labels.tolist() == [3, 7] and labels.to("cpu").shape == (2,)
    assert isinstance(images, dlpy.Tensor) and images.shape == (2, 2)
    floats, flags = default_collate([(0.5, True), (1.5, False)])
    assert floats.dtype == dlpy.float64 and flags.dtype == dlpy.bool
    scalars = default_collate([np.float64(1.0), np.float64(2.0)])  # numpy too, as torch
    assert isinstance(scalars, dlpy.Tensor) and scalars.dtype == np.float64
    arrays = default_collate([np.zeros(2, np.int16), np.ones(2, np.int16)])
    assert isinstance(arrays, dlpy.Tensor) and arrays.dtype == np.int16 and arrays.shape == (2, 2)
    words = default_collate([np.array(["a", "bc"]), np.array(["d", "e"])])
    assert isinstance(words, np.ndarray) and words.tolist() == [["a", "bc"], ["d", "e"]]


def test_batch_size_none_gives_each_item_converted():
    rows = TensorDataset(np.arange(3.0), np.arange(3))
    loader = DataLoader(rows, batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and len(items) == 3
    assert type(items[1]) is list and items[1][0].shape == () and float(items[1][0]) == 1.0
    assert items[1][1].dtype == rows.arrays[1].dtype  # numpy scalar -> 0-d array, dtype kept
    pairs = list(DataLoader([(np.float32(1), 2), (np.float32(3), 4)], batch_size=None))
    assert [(float(x), y) for x, y in pairs] == [(1.0, 2), (3.0, 4)]
    assert pairs[0][0].dtype == np.float32 and type(pairs[0][1]) is int
    assert list(DataLoader([10, 11, 12], batch_size=None, collate_fn=lambda x: x * 2)) == \
        [20, 22, 24]
    shuffled = DataLoader([10, 11, 12, 13], batch_size=None, shuffle=True,
                          generator=np.random.default_rng(0))
    expected = (np.random.default_rng(0).permutation(4) + 10).tolist()
    assert list(shuffled) == expected  # the sampler's order, one by one
    stream = DataLoader(Counted(3), batch_size=None)
    assert list(stream) == [0, 1, 2] and len(stream) == 3


def test_batch_size_none_in_workers():
    loader = DataLoader(Stream(4, shard=False), batch_size=None, num_workers=2)
    assert list(loader) == [0, 0, 1, 1, 2, 2, 3, 3]  # every worker's copy, as torch
    rows = DataLoader(TensorDataset(np.arange(5.0)), batch_size=None, num_workers=2,
                      shuffle=True, generator=np.random.default_rng(1))
    expected = np.random.default_rng(1).permutation(5).astype(float).tolist()
    assert [float(row[0]) for row in rows] == expected


@pytest.mark.parametrize("kwargs, message", [
    (dict(drop_last=True), "batch_size=None option disables auto-batching and is mutually "
                           "exclusive with drop_last"),
    (dict(batch_sampler=[[0]]), "batch_sampler decides the batches"),
])
def test_batch_size_none_errors(kwargs, message):
    with pytest.raises(ValueError, match=f"DataLoader: {message}"):
        DataLoader([1, 2], batch_size=None, **kwargs)


def test_default_collate_fn_map_extends_default_collate():
    """A type added to default_collate_fn_map is collated by its handler, at the top and
    inside tuples and dicts (torch's way); the built-in handlers are the map's."""
    from dlpy.data._utils.collate import collate, collate_int_fn, default_collate_fn_map

    class Custom:
        def __init__(self, v):
            self.v = v

    def handler(batch, *, collate_fn_map=None):
        return [c.v for c in batch]

    assert default_collate_fn_map[int] is collate_int_fn
    default_collate_fn_map[Custom] = handler
    try:
        assert default_collate([Custom(1), Custom(2)]) == [1, 2]
        got = default_collate([{"a": (Custom(3), 1)}, {"a": (Custom(4), 2)}])
        assert got["a"][0] == [3, 4]
        np.testing.assert_array_equal(got["a"][1].numpy(), [1, 2])
    finally:
        del default_collate_fn_map[Custom]
    with pytest.raises(TypeError):
        default_collate([Custom(1)])
    joined = collate([(1, "a"), (2, "b")], collate_fn_map={
        int: collate_int_fn, str: lambda batch, *, collate_fn_map=None: "".join(batch)})
    np.testing.assert_array_equal(joined[0].numpy(), [1, 2])
    assert joined[1] == "ab"
    assert default_collate([np.str_("a"), np.str_("b")]) == [np.str_("a"), np.str_("b")]
