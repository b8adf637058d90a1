"""Creation numbers bit for bit as torch's CPU kernels (values recorded from torch 2.13), and
the warnings torch gives on creation."""
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
