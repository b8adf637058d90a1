"""dlpy.Generator (torch.Generator on a numpy PCG64 Generator) and dlpy.default_generator."""

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
    assert dlpy.Generator().manual_seed(5).get_state() == state
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
    assert dlpy.get_rng_state() == g.get_state()
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
    with pytest.raises(ValueError, match="Generator.set_state: expected a PCG64 state"):
        dlpy.Generator().set_state({"bit_generator": "MT19937"})
    with pytest.raises(ValueError, match="RandomSampler: give rng or generator"):
        RandomSampler(range(3), dlpy.Generator(), generator=dlpy.Generator())
