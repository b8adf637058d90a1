"""relu, sigmoid, tanh, gelu: gradients, PyTorch values, stability."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.activation import _erf
from dlpy.testing import gradcheck

TORCH_CASES = {
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "sigmoid_large": lambda x: x.sigmoid(),
    "tanh": lambda x: x.tanh(),
    "gelu": F.gelu,
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("activation", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("activation") == set(TORCH_CASES)


@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 1), (2, 3, 4), (1, 2, 1, 3)])
@pytest.mark.parametrize("fn", [F.relu, F.sigmoid, F.tanh, F.gelu])
def test_gradcheck(fn, shape, rng):
    x = rng.standard_normal(shape)
    x = np.where(np.abs(x) < 0.05, 0.5, x)  # keep clear of relu's kink
    assert gradcheck(fn, Tensor(x, requires_grad=True))


def test_relu_passes_gradient_only_where_positive():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    y = F.relu(x)
    y.backward(np.array([5.0, 5.0, 5.0]))
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 5.0])


def test_sigmoid_does_not_overflow():
    x = Tensor(np.array([-1000.0, 1000.0], dtype=np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.sigmoid(x)
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_gelu_known_values():
    # GELU(x) = x * Phi(x); Phi(1) = 0.8413447460685429, Phi(-1) = 1 - Phi(1)
    y = F.gelu(Tensor(np.array([-1.0, 0.0, 1.0])))
    np.testing.assert_allclose(y.data, [-0.15865525393145707, 0.0, 0.8413447460685429])


def test_erf_matches_math_erf():
    # the three ranges of Cody's approximation meet at 0.46875 and 4; past 6 erf rounds to +-1
    special = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e-17, -1e-17, 0.46875, -0.46875,
               np.nextafter(0.46875, 1), 4.0, -4.0, np.nextafter(4.0, 5), 5.9, 6.0, 6.5,
               1e300, -1e300]
    x = np.concatenate([np.linspace(-30, 30, 200001), special])
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(_erf(x) - expected)) < 2e-15
    np.testing.assert_array_equal(_erf(np.array([np.inf, -np.inf])), [1.0, -1.0])
    np.testing.assert_array_equal(np.isnan(_erf(np.array([np.nan, 1.0]))), [True, False])
    assert _erf(np.array(0.5)).shape == ()
    assert np.signbit(_erf(-0.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3)])
def test_gelu_keeps_dtype_and_shape(dtype, shape, rng):
    y = F.gelu(Tensor(rng.standard_normal(shape).astype(dtype)))
    assert y.data.dtype == dtype and y.data.shape == shape


def test_gelu_float32_fast_path_matches_float64():
    # float32 takes its own erf (Abramowitz & Stegun 7.1.26): as accurate as float32 itself
    x64 = np.concatenate([np.linspace(-12, 12, 100001), [0.0, -0.0, 1e-30, -1e-30]])
    x32 = Tensor(x64.astype(np.float32), requires_grad=True)
    y32 = F.gelu(x32)
    y32.backward(np.ones(x64.shape, dtype=np.float32))
    x = Tensor(x64, requires_grad=True)
    y = F.gelu(x)
    y.backward(np.ones_like(x64))
    assert y32.data.dtype == np.float32 and x32.grad.dtype == np.float32
    assert np.max(np.abs(y32.data - y.data) / np.maximum(1, np.abs(x64))) < 3e-7
    assert np.max(np.abs(x32.grad - x.grad)) < 1e-6
