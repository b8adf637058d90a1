"""dlpy.quasirandom.SobolEngine against torch.quasirandom.SobolEngine
(tests/fixtures/misc_top/sobol.npz): unscrambled draws equal torch's exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy.quasirandom import SobolEngine, direction_numbers, scramble_direction_numbers

FIXTURE = Path(__file__).parent / "fixtures" / "misc_top" / "sobol.npz"
F64 = dlpy.float64


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.mark.parametrize("d", [1, 3, 21])
def test_draws_equal_torch(expected, d):
    engine = SobolEngine(d)
    got = np.concatenate([engine.draw(n, dtype=F64).data for n in (1, 6, 9)])
    np.testing.assert_array_equal(got, expected[f"d{d}:draws"])
    assert engine.num_generated == 16


@pytest.mark.parametrize("d", [1, 3, 21])
def test_fast_forward_equals_torch(expected, d):
    engine = SobolEngine(d)
    got = [engine.fast_forward(skip).draw(n, dtype=F64).data for skip, n in ((5, 4), (7, 3))]
    np.testing.assert_array_equal(np.concatenate(got), expected[f"d{d}:ff"])


@pytest.mark.parametrize("d", [1, 3, 21])
def test_draw_base2_and_reset_equal_torch(expected, d):
    engine = SobolEngine(d)
    got = [engine.draw_base2(3, dtype=F64).data, engine.draw_base2(3, dtype=F64).data,
           engine.reset().draw(2, dtype=F64).data]
    np.testing.assert_array_equal(np.concatenate(got), expected[f"d{d}:base2"])


def test_float32_and_the_last_dimensions(expected):
    got = SobolEngine(5).draw(9)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.data, expected["d5:float32"])
    engine = SobolEngine(1111).fast_forward(100)
    np.testing.assert_array_equal(engine.draw(8, dtype=F64).data[:, -40:],
                                  expected["d1111:tail"])


def test_direction_numbers_follow_the_recurrence():
    v = direction_numbers(3)
    assert v.shape == (3, 30) and v.dtype == np.int64
    assert (v[0] == 1 << (29 - np.arange(30))).all()  # the first dimension: van der Corput
    # every direction number is odd in its own scale: m_j = v_j >> (29 - j)
    assert ((v >> (29 - np.arange(30))) % 2 == 1).all()


def test_scrambling_equals_torchs_for_the_same_matrices(expected):
    ltm = expected["scramble:ltm"].astype(np.int64)
    state = scramble_direction_numbers(direction_numbers(4), ltm)
    np.testing.assert_array_equal(state, expected["scramble:state"])
    engine = SobolEngine(4)
    engine.sobolstate, engine.shift = state, expected["scramble:shift"]
    engine.reset()
    engine._first_point = (engine.shift / 2 ** 30).astype(np.float32).reshape(1, -1)  # torch's
    np.testing.assert_array_equal(engine.draw(10, dtype=F64).data, expected["scramble:draws"])


def test_scrambled_points_are_balanced_and_seeded():
    engine = SobolEngine(6, scramble=True, seed=7)
    points = engine.draw_base2(5, dtype=F64).data
    assert points.shape == (32, 6) and (points >= 0).all() and (points < 1).all()
    for column in points.T:  # a (0, m, s)-net: one point in each interval of width 1/32
        assert sorted(np.floor(column * 32).astype(int)) == list(range(32))
    again = SobolEngine(6, scramble=True, seed=7).draw_base2(5, dtype=F64).data
    np.testing.assert_array_equal(points, again)
    other = SobolEngine(6, scramble=True, seed=8).draw_base2(5, dtype=F64).data
    assert not np.array_equal(points, other)
    assert not np.array_equal(points, SobolEngine(6).draw_base2(5, dtype=F64).data)
    assert repr(engine) == "SobolEngine(dimension=6, scramble=True, seed=7)"


def test_seeded_scrambling_draws_torchs_bits():
    """A seed gives torch's own scramble (its CPU mt19937 stream): the bits of
    torch.randint(2, (24,), generator=torch.Generator().manual_seed(7)) and the points of
    SobolEngine(3, scramble=True, seed=12345) / (2, seed=-3) as torch 2.13 gave them."""
    from dlpy.quasirandom import torch_randint2

    assert torch_randint2(7, 24).tolist() == [1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0,
                                              0, 0, 1, 0, 0, 0, 1, 1]
    engine = SobolEngine(3, scramble=True, seed=12345)
    np.testing.assert_array_equal(engine.draw(4, dtype=F64).data, [
        [0.5902970433235168, 0.4354495704174042, 0.5664532780647278],
        [0.07997307647019625, 0.9156703306362033, 0.19711631815880537],
        [0.4338829107582569, 0.010296397842466831, 0.7996518360450864],
        [0.9236809303984046, 0.5300603928044438, 0.4365363409742713]])
    np.testing.assert_array_equal(engine.draw(2, dtype=F64).data, [
        [0.8579437136650085, 0.15427498426288366, 0.0867023728787899],
        [0.34678042959421873, 0.6344958497211337, 0.7081148382276297]])
    np.testing.assert_array_equal(SobolEngine(2, scramble=True, seed=-3).draw(3, dtype=F64).data, [
        [0.14196647703647614, 0.3023175001144409], [0.8969432692974806, 0.9862663941457868],
        [0.7245437987148762, 0.10788259096443653]])


def test_out_replaces_the_tensors_values():
    out = dlpy.zeros(1)
    assert SobolEngine(2).draw(3, out=out, dtype=F64) is out
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out.data[1], [0.5, 0.5])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"SobolEngine: dimension must be an integer in "
                                         r"\[1, 1111\].*got 1112"):
        SobolEngine(1112)
    with pytest.raises(ValueError, match="got 0"):
        SobolEngine(0)
    engine = SobolEngine(2)
    engine.draw(3)
    with pytest.raises(ValueError, match=r"draw_base2: the balance properties .* n=3\+2\*\*2=7"):
        engine.draw_base2(2)
    with pytest.raises(ValueError, match="SobolEngine.draw: n must be a non-negative integer, "
                                         "got -1"):
        engine.draw(-1)
    with pytest.raises(TypeError, match="SobolEngine.draw: out must be a Tensor, got list"):
        engine.draw(1, out=[])


@pytest.mark.parametrize("d, skip", [(3, 0), (7, 1), (40, 1000), (2, (1 << 20) + 5)])
def test_large_draws_equal_the_recurrence(d, skip):
    # past 2^15 values a draw takes the closed form (blocks of Gray codes), below it the
    # recurrence; a large draw must equal the same points drawn a few at a time
    big = SobolEngine(d, scramble=d == 7, seed=3).fast_forward(skip)
    small = SobolEngine(d, scramble=d == 7, seed=3).fast_forward(skip)
    n = (1 << 15) // d + 4099
    got = big.draw(n, dtype=F64).data
    parts = [small.draw(k, dtype=F64).data for k in np.diff(np.linspace(0, n, 40).astype(int))]
    np.testing.assert_array_equal(got, np.concatenate(parts))
    assert got.shape == (n, d) and len(np.unique(got[:, 0])) == n  # distinct points
    np.testing.assert_array_equal(big.draw(3, dtype=F64).data, small.draw(3, dtype=F64).data)
