"""sum, mean, max over an axis, axes or everything: gradients, PyTorch values, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "sum_all": lambda x: x.sum(),
    "sum_axis": lambda x: x.sum(1),
    "sum_axes_keepdims": lambda x: F.sum(x, (0, 2), keepdims=True),
    "mean_all": F.mean,
    "mean_axis": lambda x: x.mean(axis=-1),
    "mean_keepdims": lambda x: x.mean((1, 3), keepdims=True),
    "max_all": lambda x: x.max(),
    "max_axis": lambda x: F.max(x, 1),
    "max_keepdims": lambda x: x.max(0, keepdims=True),
    "max_ties": lambda x: x.max(axis=1),  # ties share the gradient equally, as torch.amax
    "sum_of_squares": F.sum_of_squares,
    "sum_of_squares_weighted": lambda x, weight: F.sum_of_squares(x, weight),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("reduce", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("reduce") == set(TORCH_CASES)


SHAPES_AND_AXES = [
    ((), None), ((), 0), ((), -1),
    ((4,), None), ((4,), 0),
    ((3, 1), 1), ((3, 4), -1), ((3, 4), (0, 1)),
    ((2, 3, 4), (0, 2)), ((2, 1, 3, 2), (1, 3)), ((2, 1, 3, 2), 2),
]


@pytest.mark.parametrize("shape, axis", SHAPES_AND_AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("fn", [F.sum, F.mean, F.max], ids=["sum", "mean", "max"])
def test_gradcheck(fn, shape, axis, keepdims, rng):
    x = Tensor(rng.permutation(max(int(np.prod(shape)), 1)).reshape(shape) * 0.1 +
               rng.uniform(0, 0.01, shape), requires_grad=True)  # distinct values: no ties
    assert gradcheck(lambda x: fn(x, axis, keepdims), x)


@pytest.mark.parametrize("fn", [F.sum, F.mean, F.max])
def test_result_data_is_an_array(fn):
    y = fn(Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True))
    assert isinstance(y.data, np.ndarray) and y.shape == ()


def test_max_of_repeated_maxima_shares_the_gradient():
    x = Tensor(np.array([1.0, 5.0, 5.0, 5.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 1 / 3, 1 / 3, 1 / 3])


@pytest.mark.parametrize("fn", [F.sum, F.mean, F.max], ids=["sum", "mean", "max"])
def test_axis_errors(fn):
    name = {F.sum: "sum", F.mean: "mean", F.max: "max"}[fn]
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range for a tensor with 2"):
        fn(x, 2)
    with pytest.raises(ValueError, match=rf"{name}: axis \(0, -2\) names an axis twice"):
        fn(x, (0, -2))
    with pytest.raises(TypeError, match=rf"{name}: axis must be an int or a tuple of ints"):
        fn(x, 1.0)


def test_max_of_empty_is_an_error():
    with pytest.raises(ValueError, match=r"max: cannot take the max over an empty axis"):
        F.max(Tensor(np.ones((0, 3))))


def test_sum_of_squares_gradcheck_float32_and_errors(rng):
    x = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    weight = rng.random((5, 1)) + 0.5
    assert gradcheck(lambda t: F.sum_of_squares(t, weight), x)
    y = Tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    out = F.sum_of_squares(y, np.array([[1.0], [2.0], [3.0], [4.0]]))
    assert out.dtype == np.float32  # a float64 weight does not promote a float32 parameter
    assert out.item() == pytest.approx(float(np.sum(np.arange(1, 5)[:, None] * y.data ** 2)),
                                       rel=1e-5)
    out.backward()
    assert y.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"weight of shape \(3, 1\) does not broadcast to x's "
                                         r"shape \(4, 3\)"):
        F.sum_of_squares(y, np.ones((3, 1)))
