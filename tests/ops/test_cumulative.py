"""cumsum, cumprod, prod, diff: PyTorch values and gradients (tests/fixtures/ops/cumulative.npz),
also with zeros in the products, gradient checks, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "cumsum": lambda x: F.cumsum(x, 1),
    "cumsum_negative_dim": lambda x: x.cumsum(-2),
    "cumsum_size1": lambda x: x.cumsum(0),
    "cumprod": lambda x: F.cumprod(x, 1),
    "cumprod_dim0": lambda x: x.cumprod(0),
    "cumprod_zeros": lambda x: F.cumprod(x.reshape(5, 5), 1),
    "cumprod_zeros_dim0": lambda x: x.cumprod(-2),
    "prod_all": lambda x: F.prod(x),
    "prod_dim": lambda x: x.prod(1),
    "prod_keepdim": lambda x: F.prod(x, -2, keepdim=True),
    "prod_zeros": lambda x: x.reshape(3, 3).prod(1),
    "prod_all_one_zero": lambda x: x.reshape(2, 3).prod(),
    "prod_all_two_zeros": lambda x: F.prod(x),
    "diff": lambda x: F.diff(x),
    "diff_n2_dim0": lambda x: x.diff(2, 0),
    "diff_prepend_append": lambda x, p, a: F.diff(x, 1, 1, p, a),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("cumulative", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("cumulative") == set(TORCH_CASES)


def _x(rng, shape, zeros=0.0):
    x = rng.standard_normal(shape)
    if zeros:
        x = np.where(rng.random(shape) < zeros, 0.0, x)
    return Tensor(x, requires_grad=True)


@pytest.mark.parametrize("shape, dim", [((), 0), ((5,), 0), ((3, 4), 1), ((2, 1, 3), -2),
                                        ((2, 3, 4), -1)])
def test_cumsum_gradcheck(shape, dim, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: F.cumsum(x, dim), x)
    np.testing.assert_allclose(F.cumsum(x, dim).data,
                               np.cumsum(x.data, dim) if shape else x.data)


@pytest.mark.parametrize("shape, dim, zeros", [
    ((), -1, 0.0), ((5,), 0, 0.0), ((3, 4), 1, 0.0), ((2, 1, 3), -2, 0.0),
    ((6, 5), 1, 0.3), ((4, 6, 2), 1, 0.4), ((5,), 0, 1.0),  # zeros: several, all
])
def test_cumprod_gradcheck(shape, dim, zeros, rng):
    # cumprod is multilinear, so central differences are exact also at the zeros
    assert gradcheck(lambda x: F.cumprod(x, dim), _x(rng, shape, zeros))


@pytest.mark.parametrize("shape, dim, keepdim, zeros", [
    ((), None, False, 0.0), ((), 0, False, 0.0), ((5,), 0, False, 0.0), ((3, 4), 1, True, 0.0),
    ((2, 1, 3), -2, False, 0.0), ((3, 4), None, False, 0.0), ((6, 4), 0, False, 0.3),
    ((3, 4), None, False, 0.1), ((4, 3), -1, True, 1.0),
])
def test_prod_gradcheck(shape, dim, keepdim, zeros, rng):
    x = _x(rng, shape, zeros)
    assert gradcheck(lambda x: F.prod(x, dim, keepdim), x)
    expected = np.prod(x.data, axis=dim if shape else None, keepdims=keepdim and bool(shape))
    np.testing.assert_allclose(F.prod(x, dim, keepdim).data, expected)


def test_cumprod_gradient_with_zeros_is_the_sum_of_products_of_the_others():
    x = Tensor(np.array([2.0, 0.0, 3.0, 0.0, 5.0]), requires_grad=True)
    F.cumprod(x, 0).backward(np.arange(1.0, 6.0))
    np.testing.assert_array_equal(x.grad, [1, 22, 0, 0, 0])  # torch's, from its own run


@pytest.mark.parametrize("shape, n, dim", [((5,), 1, 0), ((3, 4), 2, -1), ((4, 2), 3, 0),
                                           ((2, 3), 0, 1)])
def test_diff_gradcheck(shape, n, dim, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: F.diff(x, n, dim), x)
    np.testing.assert_allclose(F.diff(x, n, dim).data, np.diff(x.data, n, dim))


def test_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"cumsum: dim 2 is out of range for a tensor with 2 "
                                         r"axes \(expected -2 <= dim < 2\)"):
        x.cumsum(2)
    with pytest.raises(TypeError, match=r"cumprod: dim must be an int, got None"):
        F.cumprod(x, None)
    with pytest.raises(ValueError, match=r"cumsum: dim 1 is out of range for a tensor with 0 "
                                         r"axes \(expected -1 <= dim < 1\)"):
        Tensor(np.float64(1.0)).cumsum(1)
    with pytest.raises(TypeError, match=r"prod: dim must be one int \(or None for every axis\), "
                                        r"got \(0, 1\)"):
        x.prod((0, 1))
    with pytest.raises(ValueError, match=r"prod: dim -3 is out of range"):
        x.prod(-3)
    with pytest.raises(TypeError, match=r"prod: keepdim must be True or False, got 1"):
        x.prod(0, 1)
    with pytest.raises(ValueError, match=r"diff: n must be an int >= 0, got -1"):
        x.diff(-1)
    with pytest.raises(ValueError, match=r"concat: tensors need all axes but the concat axis to "
                                         r"match"):
        F.diff(x, prepend=Tensor(np.ones((3, 1))))
