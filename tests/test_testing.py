"""dlpy.testing.gradcheck: passes right gradients, names the input and the error for wrong ones."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Op, Tensor
from dlpy.testing import GradcheckError, gradcheck


@pytest.fixture
def rng():
    return np.random.default_rng(0)


class _Cube(Op):
    """y = x^3 with a deliberately wrong backward at one position."""

    def __init__(self, bug=False):
        self.bug = bug

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, grad_output):
        grad = 3 * self.x**2 * grad_output
        if self.bug:
            grad = grad.copy()
            grad[1, 2] += 0.5
        return (grad,)


def test_a_right_gradient_passes(rng):
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda x: _Cube()(x), x)


def test_a_wrong_gradient_names_the_input_the_error_and_where(rng):
    x = Tensor(rng.standard_normal((2, 2)), requires_grad=True, name="bias")
    y = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"gradient of input 1 \(shape \(3, 4\)\) is wrong at "
                                             r"1 of 12 positions; largest error 0\.\d+ at index "
                                             r"\(1, 2\): backward gave"):
        gradcheck(lambda x, y: x.sum() + _Cube(bug=True)(y), x, y)
    with pytest.raises(AssertionError, match=r"input 0 \(bias\)"):
        gradcheck(lambda b: _Cube(bug=True)(F.reshape(b, (1, 4)) * np.ones((3, 1))), x)


def test_random_directions_pass_right_gradients_and_find_one_wrong_element(rng):
    """directions=k (torch's fast_mode): a right gradient passes, real and complex; one wrong
    element of twelve is found along the first direction, and the input is named."""
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda x: _Cube()(x), x, directions=3)
    z = Tensor(rng.standard_normal(5) + 1j * rng.standard_normal(5), requires_grad=True)
    assert gradcheck(lambda z: (z * z.conj() * z).sum(), z, directions=3)
    with pytest.raises(GradcheckError, match=r"gradient of input 1 \(shape \(3, 4\)\) is wrong "
                                             r"along random direction 0: backward gives"):
        gradcheck(lambda w, y: w.sum() + _Cube(bug=True)(y), Tensor(np.ones(2),
                  requires_grad=True), x, directions=3)
    before = x.data.copy()
    with pytest.raises(GradcheckError):
        gradcheck(lambda y: _Cube(bug=True)(y), x, directions=1)
    np.testing.assert_array_equal(x.data, before)  # the perturbations undone


def test_inputs_and_grads_are_left_as_they_were(rng):
    data = rng.standard_normal(3)
    x = Tensor(data.copy(), requires_grad=True)
    x.grad = np.full(3, 7.0)
    gradcheck(F.tanh, x)
    np.testing.assert_array_equal(x.data, data)
    np.testing.assert_array_equal(x.grad, np.full(3, 7.0))


def test_constants_are_not_checked(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    gradcheck(lambda x, c, k: x * c + k, x, Tensor(np.ones(3)), 2.0)


def test_a_disconnected_input_must_have_zero_gradient(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    y = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, y: x * 2, x, y)


def test_bad_usage_is_a_clear_error():
    with pytest.raises(TypeError, match=r"gradcheck: input 0 is float32; central differences "
                                        r"need float64"):
        gradcheck(F.exp, Tensor(np.ones(2, dtype=np.float32), requires_grad=True))
    with pytest.raises(ValueError, match=r"gradcheck: no input is a Tensor with requires_grad"):
        gradcheck(F.exp, Tensor(np.ones(2)))
    with pytest.raises(TypeError, match=r"gradcheck: fn must return a Tensor, got float"):
        gradcheck(lambda x: 1.0, Tensor(np.ones(2), requires_grad=True))
