"""dlpy/random_streams.py's fast float32 normals and randperm against the straightforward replays
they replaced (kept here as references), bit for bit."""

import math

import numpy as np
import pytest

import dlpy
from dlpy import random_streams
from dlpy.creation import _fma
from dlpy.generator import TorchMT19937

F = np.float32


def _madd_reference(a, b, c):
    """fl32(a * b + c) fused: one float64 sum, halfway points recomputed exactly."""
    total = np.asarray(np.multiply(a, b, dtype=np.float64) + c)
    out = total.astype(F)
    halfway = (total.view(np.uint64) & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000)
    if halfway.any():
        shape = total.shape
        out[halfway] = np.asarray(_fma(np.broadcast_to(a, shape)[halfway],
                                       np.broadcast_to(b, shape)[halfway],
                                       np.broadcast_to(c, shape)[halfway], F))
    return out


def _log_reference(x):
    """avx_mathfun's log256_ps, step by step, every multiply-add fused."""
    x = np.maximum(x, np.array(0x00800000, np.int32).view(F))
    bits = x.view(np.int32)
    e = ((bits >> 23) - 0x7F).astype(F) + F(1)
    x = ((bits & ~0x7F800000) | np.array(0.5, F).view(np.int32)).view(F)
    mask = x < random_streams._SQRTHF
    tmp = np.where(mask, x, F(0))
    x = x - F(1)
    e = e - np.where(mask, F(1), F(0))
    x = x + tmp
    z = x * x
    y = np.full_like(x, random_streams._LOG_P[0])
    for p in random_streams._LOG_P[1:]:
        y = _madd_reference(y, x, p)
    y = _madd_reference(y * x, z, e * random_streams._LOG_Q1)
    y = _madd_reference(-z, F(0.5), y)
    return _madd_reference(e, random_streams._LOG_Q2, x + y)


def _sincos_reference(x):
    """avx_mathfun's sincos256_ps, step by step: (sin, cos)."""
    dp, sincof, coscof = random_streams._DP, random_streams._SINCOF, random_streams._COSCOF
    j = (x * random_streams._FOPI).astype(np.int32)
    j = (j + 1) & ~1
    y = j.astype(F)
    sin_sign = ((j & 4) << 29).astype(np.int32)
    poly = (j & 2) == 0
    for part in dp:
        x = _madd_reference(y, part, x)
    cos_sign = ((~(j - 2) & 4) << 29).astype(np.int32)
    z = x * x
    c = _madd_reference(np.full_like(z, coscof[0]), z, coscof[1])
    c = _madd_reference(c, z, coscof[2])
    c = _madd_reference(c * z, z, -(z * F(0.5))) + F(1)
    s = _madd_reference(np.full_like(z, sincof[0]), z, sincof[1])
    s = _madd_reference(s, z, sincof[2]) * z
    s = _madd_reference(s, x, x)
    sine = (np.where(poly, s, c).view(np.int32) ^ sin_sign).view(F)
    cosine = (np.where(poly, c, s).view(np.int32) ^ cos_sign).view(F)
    return sine, cosine


def _normal_reference(engine, count, mean, std):
    """normal_fill_AVX2's float32 values, the blocks of 16 one array, the tail redrawn."""
    blocks, tail = random_streams._uniform_blocks(engine, count, "f")
    mean, std = F(mean), F(std)

    def fill(block):
        radius = np.sqrt(F(-2) * _log_reference(F(1) - block[:, :8]))
        sine, cosine = _sincos_reference(F(2.0 * math.pi) * block[:, 8:])
        first, second = radius * cosine, radius * sine
        if (mean, std) != (0.0, 1.0):
            first, second = _madd_reference(first, std, mean), _madd_reference(second, std, mean)
        return np.concatenate([first, second], axis=1)

    out = np.concatenate([fill(blocks).reshape(-1), np.zeros(count - blocks.size, F)])
    if tail is not None:
        out[count - 16:] = fill(tail.reshape(1, 16)).reshape(-1)
    return out


def _bits(values):
    return np.asarray(values, F).view(np.int32)


@pytest.mark.slow
def test_log_and_sincos_equal_the_reference_on_every_input_they_can_see():
    # the transform's inputs are 1 - u and 2 pi u for the 2^24 uniforms u = k 2^-24: every one
    # is checked, which proves the fused steps written as plain float64 sums never round twice
    smallest_radius = smallest_trig = np.inf
    for start in range(0, 2 ** 24, 2 ** 21):
        u = np.arange(start, start + 2 ** 21, dtype=np.int32).astype(F) * F(2.0 ** -24)
        log = random_streams._log_avx2(F(1) - u)
        np.testing.assert_array_equal(_bits(log), _bits(_log_reference(F(1) - u)))
        angle = F(2.0 * math.pi) * u
        sine, cosine = random_streams._sincos_avx2(angle.copy())
        sine_expected, cosine_expected = _sincos_reference(angle)
        np.testing.assert_array_equal(_bits(sine), _bits(sine_expected))
        np.testing.assert_array_equal(_bits(cosine), _bits(cosine_expected))
        radius = np.sqrt(F(-2) * log)
        trig = np.abs(np.concatenate([sine, cosine]))
        smallest_radius = min(smallest_radius, radius[radius != 0].min())
        smallest_trig = min(smallest_trig, trig[trig != 0].min())
    # the bounds _scale_shift's shortcut for mean 0 relies on
    assert smallest_radius >= 2.0 ** -12 and smallest_trig >= 2.0 ** -27


SIZES = [15, 16, 17, 4096 * 16 + 5, 8192 * 16 + 3, 10 ** 6]
# (0, 1) none, (0, std) the rounded product, (mean, 1) the rounded sum, the rest fused
MOMENTS = [(0.0, 1.0), (2.5, 0.3), (-1.0, 1e-3), (0.0, 0.02), (-0.0, 0.5), (3.0, 1.0),
           (0.0, 1e-30), (1.0, 0.0)]


@pytest.mark.parametrize("count", SIZES)
def test_float32_normals_equal_the_reference(count):
    for seed in (0, 1, 2024):
        for mean, std in MOMENTS if count < 10 ** 6 else MOMENTS[:3]:
            rng, engine = dlpy.Generator().manual_seed(seed), TorchMT19937()
            engine.seed_torch(seed)
            values = random_streams.normal(rng, (count,), np.float32, mean, std)
            if count >= 16:
                expected = _normal_reference(engine, count, mean, std)
            else:  # fewer: normal_distribution<double> a value (the same code)
                expected = random_streams._box_muller(engine, count, "d", mean, std).astype(F)
            assert values.dtype == np.float32
            np.testing.assert_array_equal(_bits(values), _bits(expected),
                                          err_msg=f"seed {seed}, mean {mean}, std {std}")
            assert rng.bit_generator.random_raw() == engine.random_raw()  # as many draws


@pytest.mark.parametrize("mean", [0.0, -0.0, 1.5])
@pytest.mark.parametrize("std", [1.0, 0.02, -3.0, 2.0 ** -64, 2.0 ** -65, 1e-30, 0.0, 2.0 ** 70])
def test_scale_shift_is_the_fused_multiply_add(mean, std):
    # zeros of both signs (a zero radius is -0: sqrt(-2 * +0)), the smallest values, halfway cases
    values = np.array([0.0, -0.0, 2.0 ** -40, -(2.0 ** -40), 1.0, -1.0, 0.1, 5.77, -3.3,
                       1 + 2.0 ** -23, 2.0 ** -24 * 3], F)
    shifted = values.copy()
    random_streams._scale_shift(shifted, F(mean), F(std))
    expected = values if (F(mean), F(std)) == (0.0, 1.0) else \
        _madd_reference(values, F(std), F(mean))
    np.testing.assert_array_equal(_bits(shifted), _bits(expected))


def test_many_words_are_the_engines_outputs():
    # _bits24 takes numpy's integers() from _MANY_WORDS outputs: the same words as random_raw
    for count in (random_streams._MANY_WORDS - 1, random_streams._MANY_WORDS, 200_003):
        engine, raw = TorchMT19937(), TorchMT19937()
        engine.seed_torch(3)
        raw.seed_torch(3)
        expected = (raw.random_raw(count) & (2 ** 24 - 1)).astype(np.int32)
        np.testing.assert_array_equal(random_streams._bits24(engine, count), expected)
        assert engine.random_raw() == raw.random_raw()


def _randperm_reference(targets):
    values = list(range(len(targets) + 1))
    for i, j in enumerate(targets.tolist()):
        values[i], values[j] = values[j], values[i]
    return np.array(values, np.int64)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 100, 1024, 1025, 1026, 5000, 60_000])
def test_randperm_equals_the_swaps_one_by_one(count):
    for seed in (0, 1, 7):
        rng, engine = dlpy.Generator().manual_seed(seed), TorchMT19937()
        engine.seed_torch(seed)
        values = random_streams.randperm(rng, count)
        if count >= 2:
            offsets = engine.random32(count - 1) % np.arange(count, 1, -1, dtype=np.uint64)
            expected = _randperm_reference(offsets.astype(np.int64) + np.arange(count - 1))
        else:
            expected = np.arange(count, dtype=np.int64)
        assert values.dtype == np.int64
        np.testing.assert_array_equal(values, expected)


def test_swapped_resolves_long_chains():
    # every swap with the last position: the value at the end moves down the whole array
    count = 3000
    targets = np.full(count - 1, count - 1, np.int64)
    np.testing.assert_array_equal(random_streams._swapped(targets), _randperm_reference(targets))
    targets = np.arange(1, count, dtype=np.int64)  # each with the next: a rotation
    np.testing.assert_array_equal(random_streams._swapped(targets), _randperm_reference(targets))
