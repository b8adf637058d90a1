"""dlpy.testing.assert_close and make_tensor (torch.testing's)."""

from __future__ import annotations

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.testing import assert_close, make_tensor


def test_assert_close_message_as_torch():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    b = np.array([1.0, 2.1, 3.0], np.float32)
    expected = ("Tensor-likes are not close!\n\nMismatched elements: 1 / 3 (33.3%)\n"
                "Greatest absolute difference: 0.0999999046325683")
    with pytest.raises(AssertionError) as info:
        assert_close(Tensor(a), b)
    assert str(info.value).startswith(expected)
    assert "at index (1,) (up to 1e-05 allowed)" in str(info.value)
    assert "Greatest relative difference: 0.0476190" in str(info.value)
    assert "(up to 1.3e-06 allowed)" in str(info.value)


def test_assert_close_default_tolerances_by_dtype():
    assert_close(np.float32(1.0) + np.float32(1e-6), np.float32(1.0))
    with pytest.raises(AssertionError, match="Scalars are not close"):
        assert_close(np.float64(1.0) + 1e-6, np.float64(1.0))
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 2"):
        assert_close(np.array([1, 2]), np.array([1, 3]))
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.5]), rtol=0.0, atol=0.5)


def test_assert_close_shape_dtype_nan_and_msg():
    with pytest.raises(AssertionError, match=r"'shape' do not match: \(2,\) != \(3,\)"):
        assert_close(np.zeros(2), np.zeros(3))
    with pytest.raises(AssertionError, match="'dtype' do not match: float32 != float64"):
        assert_close(np.zeros(2, np.float32), np.zeros(2))
    assert_close(np.zeros(2, np.float32), np.zeros(2), check_dtype=False)
    with pytest.raises(AssertionError):
        assert_close(np.array([np.nan]), np.array([np.nan]))
    assert_close(np.array([np.nan]), np.array([np.nan]), equal_nan=True)
    with pytest.raises(AssertionError, match="^custom$"):
        assert_close(np.ones(1), np.zeros(1), msg="custom")
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol' must be"):
        assert_close(np.ones(1), np.ones(1), rtol=1e-3)


def test_make_tensor_ranges_and_flags():
    rng = np.random.default_rng(0)
    x = make_tensor(50, 4, dtype=np.float32, low=-2, high=3, rng=rng)
    assert x.shape == (50, 4) and x.dtype == np.float32
    assert x.data.min() >= -2 and x.data.max() < 3
    ints = make_tensor((1000,), dtype=np.int64, rng=rng)
    assert ints.data.min() >= -9 and ints.data.max() <= 9
    assert make_tensor(1000, dtype=np.uint8, rng=rng).data.min() >= 0
    nz = make_tensor(1000, dtype=np.int32, low=-1, high=2, exclude_zero=True, rng=rng)
    assert (nz.data != 0).all()
    y = make_tensor(3, 4, dtype=np.float64, noncontiguous=True, requires_grad=True, rng=rng)
    assert not y.data.flags.c_contiguous and y.requires_grad
    assert make_tensor(4, dtype=bool, rng=rng).dtype == np.bool_


def test_make_tensor_errors():
    with pytest.raises(ValueError, match="`low` must be less than `high`"):
        make_tensor(2, dtype=np.float32, low=3, high=1)
    with pytest.raises(ValueError, match="`requires_grad=True` is not supported for boolean"):
        make_tensor(2, dtype=np.int64, requires_grad=True)
    with pytest.raises(TypeError, match="make_tensor: unsupported dtype"):
        make_tensor(2, dtype="U3")


def test_assert_close_pairs_items_as_torch():
    assert_close([Tensor(np.ones(2)), 1.0], (Tensor(np.ones(2)), 1.0))
    assert_close({"a": None, "b": float("inf")}, {"b": float("inf"), "a": None})
    with pytest.raises(AssertionError, match=r"(?s)not close.*occurred for item \[1\]$"):
        assert_close([1.0, Tensor(np.ones(2))], [1.0, Tensor(np.zeros(2))])
    with pytest.raises(AssertionError, match="^The length of the sequences mismatch: 2 != 1"):
        assert_close([1.0, 2.0], [1.0])
    with pytest.raises(TypeError, match="No comparison pair was able to handle"):
        assert_close(Tensor(np.ones(1)), 1.0)
    with pytest.raises(AssertionError, match="^WRAP Scalars are not close!"):
        assert_close(1.0, 2.0, msg=lambda text: "WRAP " + text)
    with pytest.raises(AssertionError, match="Tensor-likes are not equal!"):
        assert_close(np.array([1, 2]), np.array([1, 3]))
    with pytest.raises(AssertionError, match="'stride\\(\\)' do not match"):
        assert_close(Tensor(np.ones((2, 3))).t(), Tensor(np.ones((3, 2))), check_stride=True)


def test_make_tensor_bounds_as_torch():
    rng = np.random.default_rng(0)
    assert make_tensor(20, dtype=np.uint8, low=-5, high=3, rng=rng).data.max() < 3
    with pytest.raises(ValueError, match="cannot be NaN"):
        make_tensor(2, dtype=np.float32, low=float("nan"), rng=rng)
    with pytest.raises(ValueError, match="only supports"):
        make_tensor(2, dtype=np.uint8, low=-10, high=-5, rng=rng)
