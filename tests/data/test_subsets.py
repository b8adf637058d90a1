"""Subset, ConcatDataset, random_split and the samplers PyTorch users know (lengths, order and
errors as torch.utils.data 2.13 gives them; the random streams are numpy's)."""

import numpy as np
import pytest

from dlpy.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.float32(i * i)


def test_random_split_lengths_and_fractions_as_torch():
    splits = random_split(Squares(10), [3, 3, 4], generator=np.random.default_rng(0))
    assert [len(s) for s in splits] == [3, 3, 4]
    everything = sorted(int(s.indices[i]) for s in splits for i in range(len(s)))
    assert everything == list(range(10))  # disjoint and covering
    # torch gives [6, 3, 2] for 11 items split 0.5/0.25/0.25 and [1, 1, 5] for 7 at .1/.1/.8
    assert [len(s) for s in random_split(Squares(11), [0.5, 0.25, 0.25])] == [6, 3, 2]
    assert [len(s) for s in random_split(Squares(7), [0.1, 0.1, 0.8])] == [1, 1, 5]
    same = [s.indices for s in random_split(Squares(10), [5, 5],
                                            generator=np.random.default_rng(3))]
    again = [s.indices for s in random_split(Squares(10), [5, 5],
                                             generator=np.random.default_rng(3))]
    assert same == again and type(same[0]) is list  # lists of indices, as torch's
    with pytest.raises(ValueError, match="summing to the dataset's 10 items"):
        random_split(Squares(10), [3, 3])
    with pytest.raises(ValueError, match="or fractions summing to 1"):
        random_split(Squares(10), [0.5, 0.6])


def test_subset_of_a_tensor_dataset_batches_by_rows():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    subset = Subset(TensorDataset(x, y), [7, 2, 9])
    assert len(subset) == 3 and subset[1][1] == 2
    batches = list(DataLoader(subset, batch_size=2))
    np.testing.assert_array_equal(batches[0][0], x[[7, 2]])
    np.testing.assert_array_equal(batches[1][1], [9])
    nested = Subset(subset, [2, 0])  # a Subset of a Subset still has rows
    np.testing.assert_array_equal(next(iter(DataLoader(nested, batch_size=5)))[1], [9, 7])
    plain = Subset(Squares(5), [4, 1])  # item by item, through collate
    np.testing.assert_array_equal(next(iter(DataLoader(plain, batch_size=2))), [16.0, 1.0])
    wrong = Subset(TensorDataset(x, y), [3, 10])  # checked when read, as torch's
    assert len(wrong) == 2 and wrong[0][1] == 3
    with pytest.raises(IndexError, match="index 10 is out of range for 10 items"):
        wrong[1]
    with pytest.raises(IndexError, match="out of range for 10 items"):
        list(DataLoader(wrong, batch_size=2))


def test_concat_dataset_indexes_across_parts():
    both = ConcatDataset([Squares(3), Squares(2)])
    assert len(both) == 5 and both.cumulative_sizes == [3, 5]
    assert [both[i] for i in range(5)] == [0, 1, 4, 0, 1]
    assert both[-1] == 1 and both[-5] == 0
    with pytest.raises(IndexError, match="index 5 out of range for 5 items"):
        both[5]
    with pytest.raises(ValueError, match="at least one dataset"):
        ConcatDataset([])


def test_batch_sampler_and_the_loader_that_takes_it():
    # torch: [[0, 1, 2], [3, 4, 5], [6]], and 2 batches with drop_last
    sampler = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    assert list(sampler) == [[0, 1, 2], [3, 4, 5], [6]] and len(sampler) == 3
    assert len(BatchSampler(SequentialSampler(range(7)), 3, drop_last=True)) == 2
    loader = DataLoader(Squares(7), batch_sampler=BatchSampler([6, 5, 0, 1], 3, False))
    assert len(loader) == 2
    batches = list(loader)
    np.testing.assert_array_equal(batches[0], [36.0, 25.0, 0.0])
    np.testing.assert_array_equal(batches[1], [1.0])
    with pytest.raises(ValueError, match="batch_sampler decides the batches"):
        DataLoader(Squares(7), batch_size=2, batch_sampler=sampler)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BatchSampler([0], 0, False)


def test_subset_random_and_weighted_samplers():
    sampler = SubsetRandomSampler([3, 5, 8], generator=np.random.default_rng(0))
    orders = [list(sampler) for _ in range(5)]
    assert all(sorted(o) == [3, 5, 8] for o in orders) and len(sampler) == 3
    assert len({tuple(o) for o in orders}) > 1  # a new order each epoch
    weighted = WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=np.random.default_rng(0))
    counts = np.bincount(list(weighted), minlength=3)
    assert counts[0] == 0 and counts[2] / counts[1] == pytest.approx(3.0, rel=0.1)
    once = list(WeightedRandomSampler([1.0, 1.0, 0.0, 5.0], 3, replacement=False))
    assert sorted(once) == [0, 1, 3]
    # the weights' values are checked when drawing, as torch's (torch.multinomial's errors)
    # torch.multinomial's draws and checks: past the indices of weight > 0 come the others
    too_many = list(WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False))
    assert sorted(too_many) == [0, 1, 2] and too_many[-1] == 1
    with pytest.raises(RuntimeError, match="weights must be finite and non-negative"):
        list(WeightedRandomSampler([1.0, -1.0], 2))
    numpy_drawn = WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False,
                                        generator=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="cannot draw 3 indices without replacement from 2"):
        list(numpy_drawn)
    loader = DataLoader(Squares(4), batch_size=2, sampler=SubsetRandomSampler([1, 2]))
    assert sorted(np.concatenate(list(loader)).tolist()) == [1.0, 4.0]


def test_generator_is_rngs_pytorch_name():
    a = [b.tolist() for b in DataLoader(Squares(6), 3, shuffle=True,
                                        generator=np.random.default_rng(1))]
    b = [b.tolist() for b in DataLoader(Squares(6), 3, shuffle=True,
                                        rng=np.random.default_rng(1))]
    assert a == b
    with pytest.raises(ValueError, match="give rng or generator"):
        DataLoader(Squares(6), rng=np.random.default_rng(1), generator=np.random.default_rng(1))
