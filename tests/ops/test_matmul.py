"""matmul (batched, broadcast batch axes, vectors) and linear: gradients, PyTorch values, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "matrix": lambda a, b: a @ b,
    "batched": F.matmul,
    "broadcast_batch": F.matmul,
    "batch_times_matrix": lambda a, b: a @ b,
    "vector_matrix": F.matmul,
    "matrix_vector": F.matmul,
    "vector_vector": F.matmul,
    "vector_batch": F.matmul,
    "linear": F.linear,
    "linear_no_bias": F.linear,
    "linear_vector": F.linear,
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("matmul", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("matmul") == set(TORCH_CASES)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((1, 1), (1, 1)),
        ((2, 3), (3, 4)),
        ((2, 2, 3), (3, 4)),
        ((2, 3), (2, 3, 4)),
        ((2, 1, 2, 3), (3, 3, 2)),
        ((1, 2, 3), (2, 1, 3, 1)),
    ],
)
def test_matmul_gradcheck(a_shape, b_shape, rng):
    a = Tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert gradcheck(F.matmul, a, b)


@pytest.mark.parametrize("x_shape", [(3,), (1, 3), (4, 3), (2, 1, 3), (2, 2, 1, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(x_shape, bias, rng):
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    args = (x, w, Tensor(rng.standard_normal(2), requires_grad=True)) if bias else (x, w)
    assert gradcheck(F.linear, *args)


def test_linear_equals_matmul_plus_bias(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    y = F.linear(Tensor(x), Tensor(w), Tensor(b))
    np.testing.assert_allclose(y.data, x @ w.T + b)


def test_frozen_weight_gets_no_gradient(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 3)))
    F.linear(x, w).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad, np.ones((4, 2)) @ w.data)


@pytest.mark.parametrize(
    "a_shape, b_shape, message",
    [
        ((2, 3), (4, 5),
         r"matmul: x.shape\[-1\] must equal w.shape\[-2\], got \(2, 3\) @ \(4, 5\)"),
        ((3,), (4,), r"matmul: x.shape\[-1\] must equal w.shape\[-2\], got \(3,\) @ \(4,\)"),
        ((2, 2, 3), (3, 3, 4), r"matmul: batch axes \(2,\) and \(3,\) cannot be broadcast"),
        ((), (3,), r"matmul: both operands need at least one axis, got \(\) @ \(3,\)"),
    ],
)
def test_matmul_errors(a_shape, b_shape, message):
    with pytest.raises(ValueError, match=message):
        F.matmul(Tensor(np.ones(a_shape)), Tensor(np.ones(b_shape)))


def test_linear_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"linear: expected x.shape\[-1\] == weight.shape\[1\]"):
        F.linear(x, Tensor(np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) does not broadcast to "
                                         r"the output's shape \(2, 2\)"):
        F.linear(x, Tensor(np.ones((2, 3))), Tensor(np.ones(3)))
    # a bias that broadcasts to the output is added, as torch's (one number, one per row)
    for bias in (Tensor(np.array([0.5])), Tensor(np.array(0.5)), Tensor(np.full((2, 1), 0.5))):
        np.testing.assert_allclose(F.linear(x, Tensor(np.ones((2, 3))), bias).data,
                                   np.full((2, 2), 3.5))
