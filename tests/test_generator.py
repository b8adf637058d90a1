"""dlpy.Generator (torch.Generator: torch's CPU streams on a numpy Generator) and
dlpy.default_generator. The reference numbers were recorded from torch 2.13 on the CPU."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import dlpy
from dlpy import nn
from dlpy.data import DataLoader, RandomSampler
from dlpy.generator import DEFAULT_SEED


def test_a_fresh_generator_starts_from_torchs_default_seed():
    first, second = dlpy.Generator(), dlpy.Generator()
    assert first.initial_seed() == DEFAULT_SEED == 67280421310721
    assert first.device == dlpy.device("cpu")
    np.testing.assert_array_equal(first.random(5), second.random(5))


def test_manual_seed_seed_and_state():
    g = dlpy.Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    state = g.get_state()
    first = dlpy.rand(4, generator=g).data
    assert g.set_state(state) is g
    np.testing.assert_array_equal(dlpy.rand(4, generator=g).data, first)
    np.testing.assert_array_equal(dlpy.Generator().manual_seed(5).get_state().data, state.data)
    new = g.seed()
    assert isinstance(new, int) and g.initial_seed() == new


def test_clone_state_is_an_independent_copy():
    g = dlpy.Generator().manual_seed(1)
    g.random(3)
    clone = g.clone_state()
    assert isinstance(clone, dlpy.Generator) and clone is not g
    assert clone.initial_seed() == 1
    np.testing.assert_array_equal(clone.random(4), g.random(4))


def test_copies_and_pickles_stay_dlpy_generators():
    g = dlpy.Generator().manual_seed(3)
    for other in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert type(other) is dlpy.Generator and other.initial_seed() == 3
        assert other.random() == g.clone_state().random()
    child = g.spawn(1)[0]
    twin = copy.deepcopy(child)
    assert type(child) is dlpy.Generator
    assert isinstance(child.initial_seed(), int)  # asking does not move the stream
    assert child.random() == twin.random()


def test_every_drawing_function_takes_it():
    def draws(g):
        return [dlpy.rand(3, generator=g).data, dlpy.randn(2, generator=g).data,
                dlpy.randint(0, 9, (3,), generator=g).data, dlpy.randperm(5, generator=g).data,
                dlpy.normal(0.0, 1.0, (2,), generator=g).data,
                dlpy.bernoulli(dlpy.full((4,), 0.5), generator=g).data,
                dlpy.multinomial(dlpy.tensor([0.2, 0.8]), 3, True, generator=g).data,
                nn.init.normal_(dlpy.empty(3), generator=g).data,
                dlpy.empty(3).exponential_(generator=g).data, nn.Linear(2, 2, rng=g).weight.data,
                dlpy.distributions.Normal(0.0, 1.0).sample((2,), generator=g).data,
                dlpy.functional.dropout(dlpy.ones(6), 0.5, rng=g).data,
                list(RandomSampler(range(6), generator=g)),
                [b.data.tolist() for b in DataLoader(list(range(6)), batch_size=3,
                                                     shuffle=True, generator=g)]]

    first, second = draws(dlpy.Generator().manual_seed(9)), draws(dlpy.Generator().manual_seed(9))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    third = draws(dlpy.Generator().manual_seed(10))
    assert any(not np.array_equal(a, b) for a, b in zip(first, third))


def test_default_generator_is_the_object_torch_has():
    g = dlpy.default_generator
    assert isinstance(g, dlpy.Generator) and g() is g  # still callable, as it used to be
    assert dlpy.manual_seed(4) is g and g.initial_seed() == 4 == dlpy.initial_seed()
    np.testing.assert_array_equal(dlpy.get_rng_state().data, g.get_state().data)
    first = dlpy.rand(3).data
    g.manual_seed(4)
    np.testing.assert_array_equal(dlpy.rand(3).data, first)
    dlpy.set_rng_state(g.manual_seed(4).get_state())
    np.testing.assert_array_equal(dlpy.rand(3).data, first)


def test_fork_rng_restores_the_default_generator():
    dlpy.manual_seed(2)
    expected = dlpy.rand(2).data
    dlpy.manual_seed(2)
    with dlpy.random.fork_rng():
        dlpy.rand(5)
    np.testing.assert_array_equal(dlpy.rand(2).data, expected)


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="Generator: device='cuda': dlpy runs on the CPU"):
        dlpy.Generator("cuda")
    with pytest.raises(ValueError, match=r"Generator.manual_seed: seed must be in \[-2\^63, "
                                         r"2\^64\), got 18446744073709551616"):
        dlpy.Generator().manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="Generator.manual_seed: expected an int seed, got float"):
        dlpy.Generator().manual_seed(1.5)
    with pytest.raises(TypeError, match="Generator.set_state: expected a state from "
                                        "get_rng_state"):
        dlpy.Generator().set_state(b"\x00")
    with pytest.raises(ValueError, match="Generator.set_state: expected a "
                                         "CPUGeneratorImplState of size 5056"):
        dlpy.Generator().set_state(dlpy.zeros(4, dtype=dlpy.uint8))
    with pytest.raises(RuntimeError, match="found the input RNG state size to be 5048"):
        dlpy.Generator().set_state(dlpy.get_rng_state()[:-8])  # torch's legacy size: no more
    with pytest.raises(TypeError, match="Generator.set_state: expected a torch.ByteTensor"):
        dlpy.Generator().set_state(dlpy.zeros(5056))
    with pytest.raises(ValueError, match="RandomSampler: give rng or generator"):
        RandomSampler(range(3), dlpy.Generator(), generator=dlpy.Generator())


def test_torchs_numbers_after_manual_seed():
    """The engine (init_genrand of the seed's low 32 bits) and the transforms of torch's CPU
    kernels: float32 uniforms from 24 bits, float64 from random64's 53, Box-Muller per value
    below 16 values and in blocks of 16 from 16 on, modulo for integers, Fisher-Yates."""
    dlpy.manual_seed(0)
    np.testing.assert_array_equal(dlpy.rand(3).data, np.float32(
        [0.49625658988952637, 0.7682217955589294, 0.08847743272781372]))
    np.testing.assert_array_equal(dlpy.randn(3).data, np.float32(
        [0.3643381893634796, 0.13439632952213287, 0.16421625018119812]))
    dlpy.manual_seed(0)
    np.testing.assert_array_equal(dlpy.randn(17).data[[0, 16]],
                                  np.float32([-1.1258398294448853, 0.9318265914916992]))
    dlpy.manual_seed(0)
    assert dlpy.randperm(10).tolist() == [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]
    assert dlpy.randint(0, 100, (5,)).tolist() == [83, 1, 66, 56, 99]
    dlpy.manual_seed(0)
    assert dlpy.rand(2, dtype=dlpy.float64).tolist() == [0.9700530018065531, 0.707819864399788]
    dlpy.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(2, 2).weight.data, np.float32(
        [[-0.005293981172144413, 0.37932288646698], [-0.5819807648658752, -0.5203874707221985]]))
    dlpy.manual_seed(0)
    assert dlpy.functional.dropout(dlpy.ones(8), 0.5).tolist() == [0, 0, 2, 0, 0, 0, 2, 2]
    dlpy.manual_seed(0)
    batches = [b.tolist() for b in DataLoader(list(range(6)), batch_size=3, shuffle=True)]
    assert batches == [[0, 4, 3], [5, 2, 1]]


def test_seeds_past_32_bits_and_the_cached_normal():
    first = dlpy.rand(2, generator=dlpy.Generator().manual_seed(2 ** 32 + 7)).data
    again = dlpy.rand(2, generator=dlpy.Generator().manual_seed(7)).data
    np.testing.assert_array_equal(first, again)
    assert dlpy.Generator().manual_seed(2 ** 32 + 7).initial_seed() == 2 ** 32 + 7
    g = dlpy.Generator().manual_seed(1)
    whole = dlpy.randn(4, generator=g.clone_state()).data  # Box-Muller pairs, one call
    g_parts = np.concatenate([dlpy.randn(3, generator=g).data, dlpy.randn(1, generator=g).data])
    np.testing.assert_array_equal(g_parts, whole)  # the 4th is the sine cached by the 1st call


def test_state_is_torchs_5056_byte_layout():
    g = dlpy.Generator().manual_seed(5)
    state = g.get_state().data
    assert state.dtype == np.uint8 and state.shape == (5056,)
    assert int(state[:8].view(np.uint64)[0]) == 5  # the seed, then left = 1, seeded = 1
    assert state[8:16].view(np.int32).tolist() == [1, 1]
    dlpy.randn(3, generator=g)  # leaves a cached double normal in the state
    saved = g.get_state()
    assert saved.data[5040] == 1
    expected = dlpy.randn(5, generator=g).data
    np.testing.assert_array_equal(dlpy.randn(5, generator=dlpy.Generator().set_state(saved)).data,
                                  expected)


def test_a_plain_numpy_generator_keeps_numpys_draws():
    values = dlpy.rand(3, generator=np.random.default_rng(0)).data
    np.testing.assert_array_equal(values, np.random.default_rng(0).random(3).astype(np.float32))
    layer = nn.Linear(3, 2, rng=np.random.default_rng(1))
    assert layer.weight.shape == (2, 3)


def test_randperm_of_many_is_torchs_fisher_yates():
    from dlpy.random_streams import randperm

    g = dlpy.Generator().manual_seed(3)
    order = randperm(g.clone_state(), 60_000)
    assert sorted(order.tolist()) == list(range(60_000))
    # the swaps, one at a time, from random() % (n - i)
    offsets = g.bit_generator.random32(59_999) % np.arange(60_000, 1, -1, dtype=np.uint64)
    expected = list(range(60_000))
    for i, z in enumerate(offsets.tolist()):
        expected[i], expected[i + z] = expected[i + z], expected[i]
    assert order.tolist() == expected
