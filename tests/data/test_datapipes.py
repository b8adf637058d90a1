"""torch.utils.data.datapipes' ShufflerIterDataPipe (a buffer shuffle), and the DataLoader and
RandomSampler attributes libraries set: ``pin_memory_device``, ``sampler.generator = g``."""

import pickle

import pytest

import dlpy
from dlpy.data import DataLoader, IterableDataset, RandomSampler
from dlpy.data.datapipes import IterDataPipe
from dlpy.data.datapipes.iter import Shuffler, ShufflerIterDataPipe


def test_shuffler_is_a_seeded_permutation_through_its_buffer():
    pipe = ShufflerIterDataPipe(list(range(20)), buffer_size=5)
    assert isinstance(pipe, IterDataPipe) and isinstance(pipe, IterableDataset)
    assert Shuffler is ShufflerIterDataPipe and len(pipe) == 20
    first = list(pipe.set_seed(3))
    assert sorted(first) == list(range(20)) and first != list(range(20))
    assert list(pipe.set_seed(3)) == first  # the same seed, the same order
    assert list(pipe.set_shuffle(False)) == list(range(20))
    pipe.set_shuffle(True)
    dlpy.manual_seed(1)
    a = list(pipe)
    dlpy.manual_seed(1)
    assert list(pipe) == a  # the seed drawn from the default generator


def test_shuffler_pickles_and_refuses():
    pipe = ShufflerIterDataPipe(range(6), buffer_size=2).set_seed(0)
    copy = pickle.loads(pickle.dumps(pipe))
    assert list(copy) == list(pipe)
    with pytest.raises(AssertionError):
        ShufflerIterDataPipe(range(3), buffer_size=0)
    with pytest.raises(TypeError, match="valid length"):
        len(ShufflerIterDataPipe(iter(range(3))))


def test_loader_pin_memory_device_and_sampler_generator():
    loader = DataLoader(list(range(4)), batch_size=2, pin_memory_device="cuda")
    assert loader.pin_memory_device == "cuda"
    assert DataLoader(list(range(4))).pin_memory_device == ""
    sampler = RandomSampler(range(5))
    g = dlpy.Generator().manual_seed(4)
    sampler.generator = g
    assert sampler.generator is g and sampler.rng is g
    order = list(sampler)
    g.manual_seed(4)
    assert list(sampler) == order and sorted(order) == list(range(5))
