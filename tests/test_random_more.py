"""dlpy.random's torch.random names: get/set_rng_state, initial_seed, seed, fork_rng."""

from __future__ import annotations

import numpy as np
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
    with pytest.raises(ValueError, match="set_rng_state: expected a CPUGeneratorImplState of "
                                         "size 5056"):
        random.set_rng_state(dlpy.zeros(3, dtype=dlpy.uint8))


def test_a_state_saved_by_torch_layout_restores():
    """get_rng_state is torch's 5056 bytes: bytes written by another generator (as torch's
    would be) replay its stream."""
    source = dlpy.Generator().manual_seed(21)
    dlpy.randn(5, generator=source)
    state = dlpy.tensor(source.get_state().data.copy())
    expected = dlpy.randn(7, generator=source).data
    random.set_rng_state(state)
    assert (dlpy.randn(7).data == expected).all()
    assert random.initial_seed() == 21


# torch 2.13's values after torch.manual_seed(0), recorded on the CPU
def test_torchs_trunc_normal_multinomial_poisson_and_half_normals():
    from dlpy import nn

    random.manual_seed(0)
    values = nn.init.trunc_normal_(dlpy.empty(6), std=0.02).data  # normal_, redrawn outside
    np.testing.assert_array_equal(values, np.float32(
        [0.03081992268562317, -0.00586857832968235, -0.04357578605413437,
         0.011368625797331333, -0.021690446883440018, -0.027971908450126648]))
    random.manual_seed(0)
    values = nn.init.trunc_normal_(dlpy.empty(4), 0.0, 1.0, 1.0, 1.5).data  # uniform proposals
    np.testing.assert_array_equal(values, np.float32(
        [1.2481282949447632, 1.3161531686782837, 1.0442386865615845, 1.0660152435302734]))
    random.manual_seed(0)
    assert dlpy.multinomial(dlpy.tensor([1.0, 2, 3, 4]), 3).tolist() == [2, 1, 3]
    assert dlpy.multinomial(dlpy.tensor([0.1, 0.6, 0.3]), 6, True).tolist() == [1, 2, 1, 1, 1, 1]
    random.manual_seed(0)
    assert dlpy.poisson(dlpy.tensor([0.5, 3.0, 12.0, 250.0])).tolist() == [2, 4, 13, 248]
    random.manual_seed(0)
    halves = dlpy.randn(20, dtype=dlpy.float16).data  # only whole blocks' uniforms, then 16
    assert halves[[0, 4, 19]].astype(np.float64).tolist() == [-1.1259765625, -1.3525390625,
                                                              -0.84375]


def test_multihead_attention_draws_out_proj_first_as_torch():
    from dlpy import nn

    random.manual_seed(0)
    attention = nn.MultiheadAttention(8, 2)
    random.manual_seed(0)
    linear = nn.Linear(8, 8)  # torch builds out_proj (a Linear) before drawing in_proj
    np.testing.assert_array_equal(attention.out_proj.weight.data, linear.weight.data)


def test_vmap_compares_the_generator_state():
    """vmap checks whether func drew from the default generator (torch's state: bytes)."""
    random.manual_seed(0)
    out = dlpy.func.vmap(lambda x: x * 2)(dlpy.ones(3, 2))
    assert out.shape == (3, 2)
    with pytest.raises(RuntimeError, match="randomness='error'"):
        dlpy.func.vmap(lambda x: x + dlpy.rand(2), randomness="error")(dlpy.ones(3, 2))


def test_half_type_uniforms_rounded_to_the_top_wrap_to_the_bottom():
    """torch's rand in bfloat16: a float32 uniform that rounds to 1 gives 0 ([0, 1) kept)."""
    random.manual_seed(0)
    values = dlpy.rand(2000, dtype=dlpy.bfloat16).float().data
    assert np.flatnonzero(values == 0).tolist() == [332, 337, 385, 530, 778, 972, 1472]
    assert values.max() == np.float32(0.99609375)


def test_distributions_draw_torchs_noise():
    """Normal, MultivariateNormal: loc + scale (or L) times torch's randn of the sample's shape."""
    d = dlpy.distributions
    cov = dlpy.tensor([[2.0, 0.5], [0.5, 1.0]])
    sample = d.MultivariateNormal(dlpy.zeros(2), cov).sample((3,),
                                                             generator=dlpy.Generator().manual_seed(4))
    eps = dlpy.randn(3, 2, generator=dlpy.Generator().manual_seed(4)).data
    expected = eps @ np.linalg.cholesky(cov.data).T
    np.testing.assert_allclose(sample.data, expected, rtol=1e-6, atol=1e-6)
    normal = d.Normal(dlpy.zeros(20), 2.0).sample(generator=dlpy.Generator().manual_seed(4))
    np.testing.assert_array_equal(
        normal.data, 2 * dlpy.randn(20, generator=dlpy.Generator().manual_seed(4)).data)
