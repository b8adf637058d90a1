"""relu, sigmoid, tanh, gelu, silu, leaky_relu, elu, softplus, clamp, hardtanh: gradients,
PyTorch values (kinks and bounds included), stability, errors."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.ops.activation import _erf
from dlpy.testing import gradcheck

TORCH_CASES = {
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "sigmoid_large": lambda x: x.sigmoid(),
    "tanh": lambda x: x.tanh(),
    "gelu": F.gelu,
    "silu": F.silu,
    "silu_large": F.silu,
    "leaky_relu": F.leaky_relu,
    "leaky_relu_slope": lambda x: F.leaky_relu(x, 0.2),  # slope * g at 0, as torch
    "elu": F.elu,
    "elu_alpha": lambda x: F.elu(x, alpha=0.5),  # alpha * g at 0, as torch
    "softplus": F.softplus,
    "softplus_large": F.softplus,  # x itself above threshold 20
    "softplus_beta_threshold": lambda x: F.softplus(x, beta=2.0, threshold=4.0),
    "softplus_negative_beta": lambda x: F.softplus(x, -1.5),
    "clamp": lambda x: x.clamp(-1, 1),  # the bounds pass the gradient, as torch.clamp
    "clamp_min": lambda x: F.clamp(x, min=-0.5),
    "clamp_max": lambda x: x.clamp(max=0.5),
    "clamp_min_above_max": lambda x: F.clamp(x, 1, 0.5),  # max everywhere, no gradient
    "clamp_random": lambda x: F.clamp(x, -0.5, 0.7),
    "hardtanh": F.hardtanh,  # the bounds pass no gradient, as torch's hardtanh
    "hardtanh_range": lambda x: F.hardtanh(x, -0.5, 2.0),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
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


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_within_float32_rounding(approximate):
    # float32 is x sigmoid(x P(x^2)) (a fitted P, or tanh's cubic): checked against float64 over
    # a grid denser than the fit's, several blocks long, at PyTorch's own float32 error or better
    x64 = np.linspace(-12, 12, 300001)
    x32 = Tensor(x64.astype(np.float32), requires_grad=True)
    F.gelu(x32, approximate=approximate).backward(np.ones(x64.size, dtype=np.float32))
    x = Tensor(x32.data.astype(np.float64), requires_grad=True)
    y = F.gelu(x, approximate=approximate)
    y.backward(np.ones(x64.size))
    y32 = F.gelu(x32, approximate=approximate)
    assert np.max(np.abs(y32.data - y.data) / np.maximum(1, np.abs(x.data))) < 2e-7
    assert np.max(np.abs(x32.grad - x.grad)) < 3e-7


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_extremes_without_warnings(approximate, dtype):
    big = 1e30 if approximate == "none" else 1e6  # tanh's x^3 term overflows float32 at 1e13
    x = Tensor(np.array([-big, -50.0, -0.0, 0.0, 1e-30, 50.0, big, np.nan], dtype=dtype),
               requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.gelu(x, approximate=approximate)
        y.backward(np.ones(x.shape, dtype=dtype))
    np.testing.assert_array_equal(y.data[:-1], np.array([0, 0, 0, 0, 5e-31, 50, big],
                                                        dtype=dtype))
    assert np.signbit(y.data[:3]).all() and np.isnan(y.data[-1])
    np.testing.assert_array_equal(x.grad[:-1], [0, 0, 0.5, 0.5, 0.5, 1, 1])
    assert np.isnan(x.grad[-1])


def test_gelu_float32_strided_input_and_two_backward_calls():
    # a transposed input several blocks long; the saved state is not overwritten by backward
    x = Tensor(np.linspace(-5, 5, 3 * 65536 + 6, dtype=np.float32).reshape(6, -1).T,
               requires_grad=True)
    y = F.gelu(x)
    g = np.ones(x.shape, dtype=np.float32)
    y.backward(g, retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward(g)
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-6)
    reference = F.gelu(Tensor(np.ascontiguousarray(x.data))).data
    np.testing.assert_array_equal(y.data, reference)


NEW_ACTIVATIONS = {
    "silu": F.silu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": lambda x: F.elu(x, 1.5),
    "softplus": F.softplus,
    "softplus_beta": lambda x: F.softplus(x, beta=3.0, threshold=2.0),
    "clamp": lambda x: F.clamp(x, -0.8, 0.6),
    "clamp_min": lambda x: F.clamp(x, min=0.3),
    "hardtanh": lambda x: F.hardtanh(x, -0.7, 0.9),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 1), (2, 3, 4), (1, 2, 1, 3)])
@pytest.mark.parametrize("name", sorted(NEW_ACTIVATIONS))
def test_gradcheck_new_activations(name, shape, rng):
    x = 2 * rng.standard_normal(shape)
    # keep clear of the kinks (0, the clamp bounds, softplus's threshold / beta)
    kinks = np.array([0.0, -0.8, 0.6, 0.3, -0.7, 0.9, 2.0 / 3.0])
    near = np.min(np.abs(x[..., None] - kinks), axis=-1) < 0.02
    x = np.where(near, x + 0.05, x)
    assert gradcheck(NEW_ACTIVATIONS[name], Tensor(x, requires_grad=True))


@pytest.mark.parametrize("name", sorted(NEW_ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_activations_keep_dtype_and_shape(name, dtype, rng):
    x = Tensor(rng.standard_normal((2, 3)).astype(dtype), requires_grad=True)
    y = NEW_ACTIVATIONS[name](x)
    assert y.dtype == dtype and y.shape == (2, 3)
    y.backward(np.ones((2, 3), dtype=dtype))
    assert x.grad.dtype == dtype


def test_silu_and_softplus_do_not_overflow():
    x = Tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for fn in (F.silu, F.softplus, lambda t: F.softplus(t, threshold=1e9),
                   lambda t: F.softplus(t, beta=0.5, threshold=np.inf)):
            x.grad = None
            y = fn(x)
            y.sum().backward()
            assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    # far from the threshold the stable form is exact: log(1 + e^1000) = 1000
    y = F.softplus(Tensor(np.array([1000.0, -1000.0])), threshold=np.inf)
    np.testing.assert_array_equal(y.data, [1000.0, 0.0])
    np.testing.assert_array_equal(F.silu(Tensor(np.array([-1e4, 1e4]))).data, [0.0, 1e4])


def test_clamp_and_hardtanh_gradients_at_the_bounds():
    # torch.clamp passes the gradient at a bound, torch's hardtanh does not
    x = Tensor(np.array([-1.0, 0.0, 1.0]), requires_grad=True)
    F.clamp(x, -1, 1).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])
    x.grad = None
    F.hardtanh(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])
    x.grad = None
    F.hardtanh(x, 0.0, 0.0).sum().backward()  # min_val == max_val is allowed
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_clamp_propagates_nan_with_no_gradient():
    x = Tensor(np.array([np.nan, 2.0]), requires_grad=True)
    y = F.clamp(x, 0.0, 1.0)
    y.sum().backward()
    assert np.isnan(y.data[0]) and y.data[1] == 1.0
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")
@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, 1.5, -0.3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_equals_the_masked_formula(slope, dtype, rng):
    """The branch-free forward (max(x, slope x) for slopes in (0, 1]) and the factor-lookup
    backward give np.where's values bit for bit: NaN, inf, -0.0 and 0 (slope g) included."""
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    x[0, 0, :5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    g = rng.standard_normal(x.shape).astype(dtype)
    g[0, 1, :3] = [np.nan, np.inf, -0.0]
    t = Tensor(x, requires_grad=True)
    y = F.leaky_relu(t, slope)
    y.backward(g)
    mask = x > 0
    expected_y = np.where(mask, x, x * slope)
    expected_grad = np.where(mask, g, g * slope)
    assert y.dtype == t.grad.dtype == dtype
    np.testing.assert_array_equal(y.data, expected_y)
    np.testing.assert_array_equal(np.signbit(y.data), np.signbit(expected_y))
    np.testing.assert_array_equal(t.grad, expected_grad)
    np.testing.assert_array_equal(np.signbit(t.grad), np.signbit(expected_grad))


def test_activation_errors():
    x = Tensor(np.zeros(3))
    with pytest.raises(TypeError, match=r"leaky_relu: negative_slope must be a number, got '0.1'"):
        F.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match=r"elu: alpha must be a number, got True"):
        F.elu(x, True)
    with pytest.raises(ValueError, match=r"elu: alpha must be a finite number, got nan"):
        F.elu(x, float("nan"))
    with pytest.raises(ValueError, match=r"softplus: beta must be a finite number, got inf"):
        F.softplus(x, beta=np.inf)
    with pytest.raises(ValueError, match=r"clamp: at least one of min and max must be given"):
        F.clamp(x)
    with pytest.raises(TypeError, match=r"clamp: max must be a number, got 'a'"):
        F.clamp(x, 0, "a")
    np.testing.assert_array_equal(F.clamp(x, 0, np.full(x.shape, 0.5)).data,
                                  np.clip(x.data, 0, 0.5))  # a tensor or array bound
    with pytest.raises(ValueError, match=r"hardtanh: min_val \(1.0\) must not exceed max_val "
                                         r"\(-1.0\)"):
        F.hardtanh(x, 1.0, -1.0)


def test_gelu_tanh_module_and_errors():
    x = Tensor(np.array([-3.0, -0.5, 0.0, 0.7, 4.0]))
    np.testing.assert_array_equal(nn.GELU("tanh")(x).data, F.gelu(x, approximate="tanh").data)
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.GELU()) == "GELU(approximate='none')"  # torch's
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


def test_clamp_of_integer_tensors_keeps_or_promotes_the_dtype_as_torch():
    r = Tensor(np.arange(4, dtype=np.int64))
    assert (r + 1).clamp(max=2).dtype == np.int64  # int bounds: torch keeps int64
    np.testing.assert_array_equal((r + 1).clamp(max=2).data, [1, 2, 2, 2])
    assert Tensor(np.arange(3, dtype=np.int32)).clamp(1, 1).dtype == np.int32
    half = r.clamp(min=0.5)  # a float bound: the default float dtype, as torch
    assert half.dtype == np.float32
    np.testing.assert_array_equal(half.data, [0.5, 1.0, 2.0, 3.0])
    x = Tensor(np.array([1, 5, 9]))
    x.clamp_(2, 6)
    assert x.dtype == np.int64 and x.data.tolist() == [2, 5, 6]
