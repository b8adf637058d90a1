"""softmax and log_softmax with the O(N) backward: gradients, PyTorch values, stability, errors."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "softmax": lambda x: F.softmax(x, -1),
    "softmax_axis0": lambda x: F.softmax(x, dim=0),  # torch's keyword
    "softmax_4d": lambda x: F.softmax(x, -1),
    "softmax_large": lambda x: F.softmax(x, -1),
    "log_softmax": lambda x: F.log_softmax(x, -1),
    "log_softmax_axis1": lambda x: F.log_softmax(x, dim=1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("softmax", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("softmax") == set(TORCH_CASES)


@pytest.mark.parametrize(
    "shape, axis", [((1,), 0), ((5,), -1), ((3, 1), 1), ((3, 4), 0), ((2, 3, 4), 1),
                    ((2, 1, 3, 4), -1)]
)
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_gradcheck(fn, shape, axis, rng):
    assert gradcheck(lambda x: fn(x, axis), Tensor(rng.standard_normal(shape), requires_grad=True))


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_dim_axis_and_dtype_arguments(fn, rng):
    x = Tensor(rng.standard_normal((2, 3, 4)))
    for d in (0, 1, -1):
        np.testing.assert_array_equal(fn(x, d).data, fn(x, dim=d).data)
    with pytest.warns(UserWarning, match=r"Implicit dimension choice for "):
        implicit = fn(x)  # torch's choice: axis 0 of a 0-, 1- or 3-d input, else axis 1
    np.testing.assert_array_equal(implicit.data, fn(x, dim=0).data)
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(fn(x[0]).data, fn(x[0], dim=1).data)
    assert not np.array_equal(fn(x, dim=0).data, fn(x, dim=-1).data)
    out = fn(x, dim=1, dtype=dlpy.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, fn(x, dim=1).data, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="axis"):  # torch's Python-defined F.softmax: no alias
        fn(x, dim=1, axis=1)
    with pytest.raises(TypeError, match="axis"):
        fn(x, axis=1)


def test_softmax_rows_sum_to_one_and_log_softmax_agrees(rng):
    x = Tensor(rng.standard_normal((3, 5)) * 50)
    y = F.softmax(x, -1)
    np.testing.assert_allclose(y.data.sum(-1), 1.0)
    np.testing.assert_allclose(np.exp(F.log_softmax(x, -1).data), y.data, atol=1e-15)


def test_no_overflow_for_huge_logits():
    x = Tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        y = F.log_softmax(x, -1)
        y.backward(np.ones((1, 3), dtype=np.float32))
    np.testing.assert_allclose(y.data, [[0.0, -1e4, -2e4]])
    assert np.isfinite(x.grad).all()


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_axis_errors(fn):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: axis 2 is out of range for shape"):
        fn(Tensor(np.ones((2, 3))), dim=2)
    with pytest.raises(ValueError, match=rf"{fn.__name__}: axis 1 is out of range for shape \(\)"):
        fn(Tensor(1.0), 1)
    # a 0-d input: as torch's
    assert fn(Tensor(1.0), -1).item() == (1.0 if fn.__name__ == "softmax" else 0.0)
    with pytest.raises(TypeError, match=rf"{fn.__name__}: expected a floating-point input, got "
                                        r"int64"):
        fn(Tensor(np.arange(3)), 0)
    assert fn(Tensor(np.arange(3)), 0, dtype=dlpy.float64).dtype == np.float64
    assert fn(Tensor(np.ones((2, 0))), -1).shape == (2, 0)  # an empty axis: as torch's
