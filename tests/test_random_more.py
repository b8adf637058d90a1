"""dlpy.random's torch.random names: get/set_rng_state, initial_seed, seed, fork_rng."""

from __future__ import annotations

import pytest

import dlpy
from dlpy import random


def test_state_round_trip_replays_draws():
    random.manual_seed(3)
    state = random.get_rng_state()
    first = dlpy.rand(4).data
    random.set_rng_state(state)
    assert (dlpy.rand(4).data == first).all()
    assert dlpy.get_rng_state is random.get_rng_state  # the top-level names are these


def test_initial_seed_follows_manual_seed_and_seed():
    random.manual_seed(1234)
    assert random.initial_seed() == 1234 == dlpy.initial_seed()
    new = random.seed()
    assert isinstance(new, int) and random.initial_seed() == new


def test_fork_rng_restores_the_stream():
    random.manual_seed(0)
    expected = dlpy.rand(3).data
    random.manual_seed(0)
    with random.fork_rng():
        dlpy.rand(10)
    assert (dlpy.rand(3).data == expected).all()
    random.manual_seed(0)
    with random.fork_rng(enabled=False):
        dlpy.rand(10)
    assert not (dlpy.rand(3).data == expected).all()


def test_set_rng_state_rejects_other_values():
    with pytest.raises(TypeError, match="set_rng_state: expected a state from get_rng_state"):
        random.set_rng_state([1, 2])
    with pytest.raises(ValueError, match="set_rng_state: expected a PCG64 state"):
        random.set_rng_state({"bit_generator": "MT19937"})
