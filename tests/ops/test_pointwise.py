"""sin, cos, tan, atan2, erf, log1p, expm1, sign, floor, ceil, round, maximum, minimum: PyTorch
values and gradients (tests/fixtures/ops/pointwise.npz; ties of maximum/minimum share the
gradient as torch 2.x), gradient checks, errors."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "sin": lambda x: F.sin(x),
    "cos": lambda x: x.cos(),
    "tan": lambda x: x.tan(),
    "atan2": lambda y, x: F.atan2(y, x),
    "atan2_origin": lambda y, x: y.atan2(x),
    "erf": lambda x: x.erf(),
    "log1p": lambda x: F.log1p(x),
    "expm1": lambda x: x.expm1(),
    "sign": lambda x: x.sign(),
    "floor": lambda x: F.floor(x),
    "ceil": lambda x: x.ceil(),
    "round": lambda x: F.round(x),
    "round_decimals": lambda x: x.round(decimals=1),
    "maximum": lambda a, b: F.maximum(a, b),
    "maximum_broadcast": lambda a, b: a.maximum(b),
    "maximum_ties": lambda a, b: F.maximum(a, b),
    "minimum": lambda a, b: a.minimum(b),
    "minimum_ties": lambda a, b: F.minimum(a, b),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    # erf's float64 rational approximation agrees with torch's to a few ulps
    torch_reference("pointwise", case, TORCH_CASES[case], rtol=1e-10 if case != "erf" else 1e-14)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("pointwise") == set(TORCH_CASES)


SHAPES = [(), (1,), (3, 4), (2, 1, 3)]


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "erf", "log1p", "expm1"])
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_gradcheck(name, shape, rng):
    x = Tensor(rng.uniform(-0.9, 1.2, shape), requires_grad=True)  # inside tan's and log1p's domain
    assert gradcheck(getattr(F, name), x)
    reference = np.vectorize(math.erf) if name == "erf" else getattr(np, name)
    np.testing.assert_allclose(getattr(F, name)(x).data, reference(x.data), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round"])
def test_steps_have_zero_gradient(name, rng):
    x = Tensor(rng.standard_normal((3, 4)) * 3, requires_grad=True)
    y = getattr(F, name)(x)
    np.testing.assert_array_equal(y.data, getattr(np, name)(x.data))
    y.backward(np.ones((3, 4)))
    np.testing.assert_array_equal(x.grad, np.zeros((3, 4)))
    assert gradcheck(getattr(F, name), x)  # away from the jumps, the slope is 0 indeed


@pytest.mark.parametrize("a_shape, b_shape", [((), (3,)), ((3, 4), (3, 4)), ((3, 1), (1, 4)),
                                              ((2, 1, 3), (3,))])
@pytest.mark.parametrize("name", ["maximum", "minimum", "atan2", "hypot"])
def test_binary_gradcheck(name, a_shape, b_shape, rng):
    a = Tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert gradcheck(getattr(F, name), a, b)
    np.testing.assert_array_equal(getattr(F, name)(a, b).data,
                                  getattr(np, "arctan2" if name == "atan2" else name)(a.data,
                                                                                     b.data))


def test_hypot_second_order_and_overflow(rng):
    from dlpy.autograd import gradgradcheck

    a = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal((3,)), requires_grad=True)
    assert gradgradcheck(F.hypot, (a, b))
    big = F.hypot(Tensor(np.array([1e30, -np.inf], np.float32)), Tensor(np.array([1e30, np.nan],
                                                                                np.float32)))
    np.testing.assert_allclose(big.data, [np.float32(1.4142135e30), np.inf])  # no overflow


def test_maximum_of_a_tensor_and_zeros_and_nan():
    x = Tensor(np.array([-1.0, 0.0, 2.0, np.nan]), requires_grad=True)
    y = F.maximum(x, Tensor(np.zeros(4)))  # relu with half the gradient at 0
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0, np.nan])
    y.backward(np.ones(4))
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 1.0, 1.0])  # nan: torch passes it all
    # torch.maximum has no Scalar overload: a number for either operand is refused
    for a, b in ((x, 0.0), (0, x), (x, True)):
        with pytest.raises(TypeError, match="must be Tensor"):
            F.maximum(a, b)


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    for name in ["sin", "cos", "tan", "erf", "log1p", "expm1", "sign", "floor", "ceil", "round"]:
        y = getattr(F, name)(x.abs() * 0.5)
        assert y.dtype == np.float32, name
        y.sum().backward()
        assert x.grad.dtype == np.float32
    assert F.maximum(x, Tensor(np.float64(0.5))).dtype == np.float32  # (a 0-d float64: x's)
    # integers give the default float dtype, as torch's (numpy's would be float64)
    for name in ["erf", "sin", "log1p", "exp2", "sqrt", "exp"]:
        assert getattr(F, name)(Tensor(np.arange(3))).dtype == np.float32, name


def test_errors():
    with pytest.raises(ValueError, match=r"maximum: shapes \(2, 3\) and \(4,\) cannot be "
                                         r"broadcast together"):
        F.maximum(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))
    with pytest.raises(ValueError, match=r"atan2: shapes \(2,\) and \(3,\) cannot be broadcast"):
        F.atan2(Tensor(np.ones(2)), np.ones(3))
    with pytest.raises(TypeError, match=r"round: decimals must be an int, got 1.5"):
        F.round(Tensor(np.ones(2)), decimals=1.5)
