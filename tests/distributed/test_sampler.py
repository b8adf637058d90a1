"""DistributedSampler with explicit ranks: disjoint shards, coverage, the pad/drop policy."""

import numpy as np
import pytest

from dlpy.distributed import DistributedSampler


def shards(total, world, epoch=0, **kwargs):
    parts = []
    for rank in range(world):
        sampler = DistributedSampler(total, num_replicas=world, rank=rank, **kwargs)
        sampler.set_epoch(epoch)
        parts.append(sampler.indices())
        assert list(sampler) == parts[-1].tolist() and len(sampler) == len(parts[-1])
    return parts


@pytest.mark.parametrize("total, world", [(100, 2), (100, 4), (7, 3), (1, 1), (0, 2)])
def test_every_example_exactly_once_when_world_divides_or_padded(total, world):
    parts = shards(total, world)
    assert len({len(p) for p in parts}) == 1  # every rank takes the same number of steps
    joined = np.concatenate(parts)
    assert sorted(set(joined.tolist())) == list(range(total))
    assert len(joined) == -(-total // world) * world  # at most world - 1 repeats
    if total % world == 0:
        assert len(joined) == total


def test_drop_last_drops_fewer_than_world_and_a_different_few_each_epoch():
    dropped = []
    for epoch in range(4):
        joined = np.concatenate(shards(103, 4, epoch=epoch, drop_last=True))
        assert len(joined) == 100 and len(set(joined.tolist())) == 100
        dropped.append(frozenset(range(103)) - set(joined.tolist()))
    assert len(set(dropped)) > 1


def test_rank_shards_interleave_into_one_process_order():
    # batch k of every rank together is batch k of one process with a world times larger batch
    single = DistributedSampler(40, num_replicas=1, rank=0, seed=5).indices()
    parts = shards(40, 4, seed=5)
    for k in range(0, 10, 3):
        together = np.concatenate([p[k:k + 3] for p in parts])
        assert sorted(together.tolist()) == sorted(single[4 * k:4 * (k + 3)].tolist())


def test_set_epoch_reshuffles_and_the_seed_reproduces():
    a = DistributedSampler(50, num_replicas=2, rank=0, seed=1)
    first = a.indices()
    a.set_epoch(1)
    assert not np.array_equal(first, a.indices())
    a.set_epoch(0)
    assert np.array_equal(first, a.indices())
    plain = DistributedSampler(6, num_replicas=2, rank=1, shuffle=False)
    assert plain.indices().tolist() == [1, 3, 5]


def test_takes_a_dataset_with_len():
    assert len(DistributedSampler(list(range(9)), num_replicas=2, rank=0)) == 5


def test_iterates_python_ints_with_torchs_attributes():
    # torch: list(DistributedSampler(range(10), 3, 1, shuffle=False)) == [1, 4, 7, 0], ints
    sampler = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    indices = list(sampler)
    assert indices == [1, 4, 7, 0] and all(type(i) is int for i in indices)
    assert (sampler.num_samples, sampler.total_size, sampler.dataset) == (4, 12, range(10))
    assert DistributedSampler(10, num_replicas=3, rank=0, drop_last=True).total_size == 9


@pytest.mark.parametrize("kwargs, match", [
    ({"num_replicas": 2, "rank": 2}, r"invalid rank 2, rank should be in the interval \[0, 1\]"),
    ({"num_replicas": 0, "rank": 0}, "num_replicas must be >= 1, got 0"),
])
def test_bad_arguments_say_what_was_expected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DistributedSampler(3, **kwargs)


def test_not_a_dataset_is_a_type_error():
    with pytest.raises(TypeError, match="expected a dataset size or something with len"):
        DistributedSampler(object(), num_replicas=1, rank=0)


def test_a_data_loader_reads_the_shard():
    from dlpy.data import DataLoader, Sampler

    sampler = DistributedSampler(10, num_replicas=2, rank=1, shuffle=False)
    assert isinstance(sampler, Sampler)
    values = np.arange(10) * 10
    batches = [b[0].tolist() for b in DataLoader((values,), batch_size=2, sampler=sampler)]
    assert batches == [[10, 30], [50, 70], [90]]
