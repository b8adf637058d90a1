"""+ - * / negation, ** with a scalar, exp, log, sqrt: gradients, PyTorch values, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "identity": F.identity,
    "add": lambda a, b: a + b,
    "add_both_broadcast": F.add,
    "add_rank0": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "mul_broadcast": F.mul,
    "div": lambda a, b: a / b,
    "div_broadcast": F.div,
    "neg": lambda x: -x,
    "pow2": lambda x: x**2,
    "pow_half": lambda x: F.power(x, 0.5),
    "pow_neg": lambda x: x**-1.5,
    "exp": F.exp,
    "log": lambda x: x.log(),
    "sqrt": F.sqrt,
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("arithmetic", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("arithmetic") == set(TORCH_CASES)


# rank 0 to 4, broadcasting both ways, size-1 axes
BROADCAST_SHAPES = [
    ((), ()),
    ((3,), ()),
    ((2, 3), (3,)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 1, 3)),
    ((2, 1, 3, 1), (1, 2, 1, 3)),
]
UNARY_SHAPES = [(), (1,), (4,), (2, 1), (2, 3, 4), (1, 2, 1, 3)]


def _away_from_zero(rng, shape):
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("a_shape, b_shape", BROADCAST_SHAPES)
@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div], ids=["add", "sub", "mul", "div"])
def test_binary_gradcheck(op, a_shape, b_shape, rng):
    a = Tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = Tensor(_away_from_zero(rng, b_shape), requires_grad=True)
    assert gradcheck(op, a, b)


@pytest.mark.parametrize("shape", UNARY_SHAPES)
@pytest.mark.parametrize(
    "fn, positive",
    [
        (F.neg, False), (F.exp, False), (F.identity, False), (F.log, True), (F.sqrt, True),
        (lambda x: x**3, False), (lambda x: x**0.5, True), (lambda x: x**-2, True),
    ],
    ids=["neg", "exp", "identity", "log", "sqrt", "pow3", "pow_half", "pow_neg2"],
)
def test_unary_gradcheck(fn, positive, shape, rng):
    data = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape)
    assert gradcheck(fn, Tensor(data, requires_grad=True))


def test_python_numbers_and_arrays_on_either_side(rng):
    x = Tensor(rng.uniform(0.5, 2.0, (2, 3)), requires_grad=True)
    y = (2 - x) * 3 + 1 / x - x / 4 + np.ones(3) + (-x) ** 2
    y.backward(np.ones((2, 3)))
    np.testing.assert_allclose(x.grad, -3 - 1 / x.data**2 - 0.25 + 2 * x.data)
    assert isinstance(np.ones(3) * x, Tensor)


def test_constant_operand_gets_no_gradient(rng):
    a = Tensor(rng.standard_normal(3), requires_grad=True)
    b = Tensor(rng.standard_normal(3))
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad, b.data)
    assert b.grad is None


def test_power_zero_has_zero_gradient_at_zero():
    x = Tensor(np.zeros(3), requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_sub_and_div_gradients_for_the_second_operand_only(rng):
    a = Tensor(rng.standard_normal(3))
    b = Tensor(rng.uniform(1, 2, 3), requires_grad=True)
    (a / b - b).sum().backward()
    np.testing.assert_allclose(b.grad, -a.data / b.data**2 - 1)


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div])
def test_shape_mismatch_is_a_clear_error(op):
    name = op.__name__
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be"):
        op(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


def test_shape_mismatch_with_a_list_is_a_clear_error():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(2,\) cannot be broadcast"):
        Tensor(np.ones((2, 3))) + [1.0, 2.0]


def test_power_takes_a_tensor_exponent_as_torch_pow():
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    e = Tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    y = x ** e  # broadcast to (2, 2), as torch.pow
    np.testing.assert_allclose(y.data, [[2.0, 3.0], [4.0, 9.0]])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1 + 2 * 2.0, 1 + 2 * 3.0])
    np.testing.assert_allclose(e.grad, [[2 * np.log(2) + 3 * np.log(3)],
                                        [4 * np.log(2) + 9 * np.log(3)]])
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \*\* or pow\(\)"):
        x ** "2"  # the operator answers NotImplemented for a string, as torch's

    class Reflected:  # another library's object: its reflected methods answer, as with torch
        def __radd__(self, other):
            return "radd"

        def __rpow__(self, other):
            return "rpow"

        def __ror__(self, other):
            return "ror"

    assert (x + Reflected(), x ** Reflected(), x | Reflected()) == ("radd", "rpow", "ror")
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+"):
        x + object()
