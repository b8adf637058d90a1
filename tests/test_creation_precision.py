"""Creation numbers bit for bit as torch's CPU kernels (values recorded from torch 2.13), and
the warnings torch gives on creation."""
import math
import warnings

import numpy as np
import pytest

import dlpy


def test_linspace_float32_bits_from_both_ends():
    assert dlpy.linspace(0, 1, 7).data.view(np.int32).tolist() == [
        0, 1042983595, 1051372203, 1056964608, 1059760810, 1062557013, 1065353216]
    assert dlpy.linspace(-3.3, 7.1, 11).data.view(np.int32).tolist() == [
        -1068289229, -1072651305, -1080284938, -1103605264, 1063004404, 1072902964,
        1077684470, 1082046546, 1084269527, 1086450565, 1088631603]


def test_fused_multiply_add_breaks_float32_ties():
    # 1e-30 + step * 3 lies just past a float32 halfway point that float64 rounds onto
    assert dlpy.linspace(1e-30, 1e30, 5000).data[3].view(np.int32) == np.float32(
        6.0012007e+26).view(np.int32)


def test_arange_float16_rounds_each_vector_base():
    assert dlpy.arange(0, 3, 0.3, dtype=np.float16).data.view(np.int16).tolist() == [
        0, 13517, 14541, 15155, 15565, 15872, 16179, 16435, 16589, 16742]


def test_range_warns_deprecated():
    with pytest.warns(UserWarning, match="torch.range is deprecated"):
        assert dlpy.range(0, 2).tolist() == [0.0, 1.0, 2.0]


def test_sharing_a_read_only_array_warns():
    array = np.arange(3.)
    array.flags.writeable = False
    with pytest.warns(UserWarning, match="not writable"):
        dlpy.from_numpy(array)
    with pytest.warns(UserWarning, match="not writable"):
        dlpy.as_tensor(array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dlpy.tensor(array)  # a copy: no warning


# ------------------------------------------------ the fast paths give the general paths' bits
def _bits(array) -> list:
    array = np.ascontiguousarray(array)
    return array.view({8: np.int64, 4: np.int32, 2: np.int16}[array.dtype.itemsize]).tolist()


_HALF_TYPES = (np.float16, dlpy.bfloat16)


@pytest.mark.parametrize("dtype", (np.float64, np.float32, *_HALF_TYPES))
@pytest.mark.parametrize("start, end, step", [
    (0, 6.0, 1), (-3, 3, 0.5), (10, -10, -0.25), (-0.0, 9.0, 1), (0, 70, 1.0),  # exact
    (0, 1, 0.1), (0, 7, 1 / 3), (0.1, 9.3, 0.4), (-0.0, -3, -0.3), (-0.0, -30, -0.3),  # not
    (250, 300, 1.0), (0, 2 ** -20, 2 ** -25),
    (2 ** 24 - 8, 2 ** 24 + 8, 1.0), (0, 2 ** 9, 2.0), (-(2 ** 8), 40, 3.0)])  # at the edges
def test_arange_exact_ranges_match_the_kernel(start, end, step, dtype):
    from dlpy.creation import _arange, _arange_kernel

    dtype = np.dtype(dtype)
    wide = np.float32 if dtype.itemsize == 2 else np.float64
    count = math.ceil((end - start) / step)
    with np.errstate(over="ignore"):  # (past float16's range: inf, as torch's)
        general = _arange_kernel(np.float64(wide(start)), np.float64(wide(step)), count, dtype)
        assert _bits(_arange(start, end, step, dtype)) == _bits(general)


@pytest.mark.parametrize("first, stride", [
    (0.0, 0.1), (0.1, 0.7), (-0.0, -0.3), (-0.0, 1.0), (0.3, -0.1), (1e300, 7e299), (5e-324, 0.1),
    (-2.5, 0.5), (1.0, 1e-17)])
def test_few_fused_values_match_fma(first, stride):
    from dlpy.creation import _fma, _fma_line

    count = 15
    want = _fma(stride, np.arange(count, dtype=np.float64), first, np.float64)
    assert _bits(np.array(_fma_line(first, stride, count))) == _bits(want)


def test_arange_exact_range_condition():
    from dlpy.creation import _exact_range

    f32, f16 = np.dtype(np.float32), np.dtype(np.float16)
    assert _exact_range(0.0, 1.0, 6, f32) and _exact_range(-3.0, 0.5, 12, f16)
    assert _exact_range(0.0, 1.0, 2 ** 24, f32) and not _exact_range(0.0, 1.0, 2 ** 24 + 1, f32)
    assert not _exact_range(0.0, 0.1, 3, f32) and not _exact_range(0.0, 2.0 ** -25, 3, f32)
    assert not _exact_range(0.0, 1.0, 2 ** 8 + 1, f16)  # (bfloat16's 8 bits for both)


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (1.5, 1.0), (0.0, 0.02), (-0.3, 3.0)])
def test_few_normals_match_the_array_path(mean, std):
    from dlpy.random_streams import _box_muller_arrays, _box_muller_few

    few, arrays = dlpy.Generator().manual_seed(5), dlpy.Generator().manual_seed(5)
    for count in (1, 2, 3, 0, 5, 16, 1, 31, 32, 4, 7):  # odd counts: the cached sine carries
        got = _box_muller_few(few.bit_generator, count, mean, std)
        want = _box_muller_arrays(arrays.bit_generator, count, "d", mean, std)
        assert _bits(got) == _bits(want)
        assert few.bit_generator.next_double_normal == arrays.bit_generator.next_double_normal
    assert few.bit_generator.random_raw() == arrays.bit_generator.random_raw()


@pytest.mark.parametrize("dtype", (np.float32, *_HALF_TYPES))
@pytest.mark.parametrize("bound", [0.5, 1 / math.sqrt(3), 0.17677669529663687, 1e-3, 7.0, 0.0,
                                   3e38, 1e-40])
def test_symmetric_uniform_matches_the_fused_path(bound, dtype):
    from dlpy.random_streams import _uniform_fused, uniform

    fast, fused = dlpy.Generator().manual_seed(3), dlpy.Generator().manual_seed(3)
    for shape in ((4, 4), (), (33,), (2, 3, 5)):
        with np.errstate(over="ignore", invalid="ignore"):  # (3e38: inf in float16, as torch's)
            got = uniform(fast, shape, dtype, -bound, bound)
            want = _uniform_fused(fused, shape, dtype, -bound, bound)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert _bits(got) == _bits(want)


def test_linspace_float32_split_sum_matches_the_fused_one():
    from dlpy.creation import _fma
    from dlpy.random_streams import _madd

    for start, end, steps in ((0, 1, 7), (-3.3, 7.1, 11), (1e-30, 1e30, 5000), (0.1, 0.7, 999)):
        first, last = np.float32(start), np.float32(end)
        step = np.float32(np.float32(last - first) / np.float32(steps - 1))
        index = np.arange(steps)
        forward = index < steps // 2
        count = np.where(forward, index, steps - 1 - index).astype(np.float64)
        scale, base = np.where(forward, step, -step), np.where(forward, first, last)
        assert _bits(_madd(scale, count, base)) == _bits(_fma(scale, count, base, np.float32))
