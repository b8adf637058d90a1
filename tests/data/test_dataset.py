"""Dataset, TensorDataset, samplers and the DataLoader over any map-style dataset."""

import numpy as np
import pytest

import dlpy
from dlpy.data import DataLoader, Dataset, Sampler, TensorDataset


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float32), "y": i * i, "name": f"item{i}"}


def test_map_style_dataset_with_default_collate():
    batches = list(DataLoader(Squares(5), batch_size=2))
    assert len(batches) == 3
    assert batches[0]["x"].tolist() == [[0, 0], [1, 1]]
    assert batches[1]["y"].tolist() == [4, 9] and batches[2]["name"] == ["item4"]


def test_tensor_dataset_gives_tensors_back():
    x, y = dlpy.randn(10, 3), dlpy.arange(10)
    dataset = TensorDataset(x, y)
    assert len(dataset) == 10 and dataset[3][1].item() == 3
    xb, yb = next(iter(DataLoader(dataset, batch_size=4)))
    assert isinstance(xb, dlpy.Tensor) and xb.shape == (4, 3) and yb.tolist() == [0, 1, 2, 3]


def test_collate_fn_pads_ragged_items():
    items = [np.arange(n) for n in (1, 3, 2)]

    def pad(batch):
        out = np.zeros((len(batch), max(len(b) for b in batch)), dtype=np.int64)
        for row, b in zip(out, batch):
            row[:len(b)] = b
        return out

    assert next(iter(DataLoader(items, 3, collate_fn=pad))).tolist() == [
        [0, 0, 0], [0, 1, 2], [0, 1, 0]]


def test_ragged_items_are_a_clear_error():
    items = [(np.arange(n), n) for n in (2, 2, 3)]
    with pytest.raises(ValueError, match=r"different shapes in field \[0\]: item 0 of the batch "
                                         r"has \(2,\), item 2 has \(3,\); pad them"):
        list(DataLoader(items, 3))


def test_uncollatable_items_and_non_datasets():
    with pytest.raises(TypeError, match="cannot collate items of type object"):
        list(DataLoader([object(), object()], 2))
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(iter(range(3)), 2)


class EveryOther(Sampler):
    """A PyTorch-style sampler with set_epoch, as a distributed sampler has."""

    def __init__(self, n):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        return iter(range(self.epoch % 2, self.n, 2))

    def __len__(self):
        return len(range(self.epoch % 2, self.n, 2))


def test_sampler_decides_the_order_and_the_length():
    sampler = EveryOther(7)
    loader = DataLoader((np.arange(7) * 10,), batch_size=2, sampler=sampler)
    assert len(loader) == 2
    assert [b[0].tolist() for b in loader] == [[0, 20], [40, 60]]
    sampler.set_epoch(1)
    assert [b[0].tolist() for b in loader] == [[10, 30], [50]]
    assert [b["y"].tolist() for b in DataLoader(Squares(4), 4, sampler=[3, 0])] == [[9, 0]]
    with pytest.raises(ValueError, match="sampler or shuffle=True, not both"):
        DataLoader(Squares(4), 2, sampler=[0], shuffle=True)


def test_shuffle_uses_the_default_generator():
    dataset = TensorDataset(np.arange(20))
    dlpy.manual_seed(1)
    first = [b[0].tolist() for b in DataLoader(dataset, 5, shuffle=True)]
    dlpy.manual_seed(1)
    assert [b[0].tolist() for b in DataLoader(dataset, 5, shuffle=True)] == first
    assert sorted(sum(first, [])) == list(range(20)) and first[0] != [0, 1, 2, 3, 4]
