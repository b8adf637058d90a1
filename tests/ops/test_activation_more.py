"""prelu, selu, celu, mish, hardswish, hardsigmoid, softsign, logsigmoid, glu, threshold,
tanhshrink, softshrink, hardshrink, relu6, softmin: PyTorch's values and gradients (kinks
included, tests/fixtures/ops/activation_more.npz), gradient checks, stability, dtypes, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

# the settings of make_activation_norm_fixtures.py's ACTIVATION_CASES
TORCH_CASES = {
    "prelu_one_weight": F.prelu,
    "prelu_channels": F.prelu,
    "prelu_kinks": F.prelu,  # weight * g at 0, as torch
    "prelu_4d": F.prelu,
    "prelu_2d": F.prelu,
    "prelu_scalar_weight": F.prelu,
    "selu": F.selu,
    "selu_kinks": F.selu,  # scale * alpha * g at 0, as torch
    "celu": F.celu,
    "celu_alpha": lambda x: F.celu(x, 2.0),
    "celu_small_alpha": lambda x: F.celu(x, 0.5),
    "mish": F.mish,
    "mish_large": F.mish,
    "hardswish": F.hardswish,
    "hardswish_kinks": F.hardswish,  # 0 at -3, g at 3, as torch 2.13
    "hardsigmoid": F.hardsigmoid,
    "hardsigmoid_kinks": F.hardsigmoid,  # 0 at -3 and 3
    "softsign": F.softsign,
    "softsign_kinks": F.softsign,
    "logsigmoid": F.logsigmoid,
    "logsigmoid_large": F.logsigmoid,
    "glu": F.glu,
    "glu_dim0": lambda x: F.glu(x, 0),
    "glu_dim1": lambda x: F.glu(x, dim=1),
    "threshold": lambda x: F.threshold(x, 0.5, -2.0),
    "threshold_kinks": lambda x: F.threshold(x, 0.5, -2.0),  # value and no gradient at 0.5
    "tanhshrink": F.tanhshrink,
    "tanhshrink_small": F.tanhshrink,
    "softshrink": F.softshrink,
    "softshrink_kinks": F.softshrink,  # no gradient at +-lambd
    "softshrink_lambd": lambda x: F.softshrink(x, 1.0),
    "hardshrink": F.hardshrink,
    "hardshrink_kinks": F.hardshrink,
    "hardshrink_lambd": lambda x: F.hardshrink(x, lambd=1.0),
    "relu6": F.relu6,
    "relu6_kinks": F.relu6,  # no gradient at 0 and 6
    "softmin": lambda x: F.softmin(x, 1),
    "softmin_dim0": lambda x: F.softmin(x, dim=0),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    # torch's hardsigmoid backward multiplies by 1.0f / 6.0f, a float32 sixth, even in float64
    # (a relative 3e-8 off); dlpy's uses the float64 one
    rtol = 5e-8 if case.startswith("hardsigmoid") else 1e-10
    torch_reference("activation_more", case, TORCH_CASES[case], rtol=rtol)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("activation_more") == set(TORCH_CASES)


# name -> (function, kinks to keep clear of)
SMOOTH_AWAY_FROM = {
    "selu": (F.selu, [0.0]),
    "celu": (lambda x: F.celu(x, 0.7), [0.0]),
    "mish": (F.mish, []),
    "hardswish": (F.hardswish, [-3.0, 3.0]),
    "hardsigmoid": (F.hardsigmoid, [-3.0, 3.0]),
    "softsign": (F.softsign, [0.0]),
    "logsigmoid": (F.logsigmoid, []),
    "glu": (F.glu, []),
    "glu_dim0": (lambda x: F.glu(x, 0), []),
    "threshold": (lambda x: F.threshold(x, 0.3, 1.5), [0.3]),
    "tanhshrink": (F.tanhshrink, []),
    "softshrink": (lambda x: F.softshrink(x, 0.4), [-0.4, 0.4]),
    "hardshrink": (lambda x: F.hardshrink(x, 0.4), [-0.4, 0.4]),
    "relu6": (F.relu6, [0.0, 6.0]),
    "softmin": (lambda x: F.softmin(x, -1), []),
    "softmin_dim0": (lambda x: F.softmin(x, 0), []),
}


@pytest.mark.parametrize("shape", [(2,), (1,), (6,), (2, 1), (2, 3, 4), (2, 2, 1, 4)])
@pytest.mark.parametrize("name", sorted(SMOOTH_AWAY_FROM))
def test_gradcheck(name, shape, rng):
    fn, kinks = SMOOTH_AWAY_FROM[name]
    x = 3 * rng.standard_normal(shape)
    if kinks:
        near = np.min(np.abs(x[..., None] - np.array(kinks)), axis=-1) < 0.02
        x = np.where(near, x + 0.05, x)
    if name.startswith("glu") and (x.ndim == 0 or x.shape[0 if name == "glu_dim0" else -1] % 2):
        x = np.concatenate([x, x + 0.5], axis=0 if name == "glu_dim0" else -1)
    assert gradcheck(fn, Tensor(x, requires_grad=True))


@pytest.mark.parametrize("x_shape, w_shape", [((5,), (1,)), ((), ()), ((3, 4), (4,)),
                                              ((2, 3, 4), (3,)), ((2, 3, 1, 2), (3,)),
                                              ((2, 1), (1,)), ((2, 3, 4), (1,))])
def test_prelu_gradcheck(x_shape, w_shape, rng):
    x = rng.standard_normal(x_shape)
    x = np.where(np.abs(x) < 0.02, 0.1, x)
    w = rng.uniform(-0.5, 0.5, w_shape)
    assert gradcheck(F.prelu, Tensor(x, requires_grad=True), Tensor(w, requires_grad=True))


ALL = {**{k: v[0] for k, v in SMOOTH_AWAY_FROM.items()},
       "prelu": lambda x: F.prelu(x, Tensor(np.array([0.2], dtype=x.dtype))),
       "celu_default": F.celu}


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_dtype_and_shape(name, dtype, rng):
    x = Tensor((3 * rng.standard_normal((2, 4))).astype(dtype), requires_grad=True)
    y = ALL[name](x)
    expected = (2, 2) if name == "glu" else (1, 4) if name == "glu_dim0" else (2, 4)
    assert y.dtype == dtype and y.shape == expected
    y.backward(np.ones(expected, dtype=dtype))
    assert x.grad.dtype == dtype and x.grad.shape == (2, 4)


def test_no_overflow_at_large_inputs():
    x = Tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for fn in (F.logsigmoid, F.mish, F.selu, F.celu, F.softsign, F.hardswish):
            x.grad = None
            y = fn(x)
            y.sum().backward()
            assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    # log(sigmoid(x)) is exactly x far below 0 and exactly 0 far above
    y = F.logsigmoid(Tensor(np.array([-1000.0, 1000.0])))
    np.testing.assert_array_equal(y.data, [-1000.0, 0.0])
    np.testing.assert_array_equal(F.mish(Tensor(np.array([-1e4, 1e4]))).data, [0.0, 1e4])


def test_gradients_at_the_kinks_float32():
    # the same kink values as the float64 fixtures, in float32 (torch 2.13's choices)
    def grad(fn, values):
        x = Tensor(np.array(values, dtype=np.float32), requires_grad=True)
        fn(x).sum().backward()
        return x.grad

    np.testing.assert_array_equal(grad(F.hardswish, [-3.0, 3.0]), [0.0, 1.0])
    np.testing.assert_array_equal(grad(F.hardsigmoid, [-3.0, 3.0]), [0.0, 0.0])
    np.testing.assert_array_equal(grad(F.relu6, [0.0, 6.0]), [0.0, 0.0])
    np.testing.assert_array_equal(grad(F.softshrink, [-0.5, 0.5]), [0.0, 0.0])
    np.testing.assert_array_equal(grad(F.hardshrink, [-0.5, 0.5]), [0.0, 0.0])
    np.testing.assert_array_equal(grad(lambda t: F.threshold(t, 1.0, 0.0), [1.0]), [0.0])
    np.testing.assert_allclose(grad(F.selu, [0.0]), [1.0507009873554805 * 1.6732632423543772])
    np.testing.assert_array_equal(grad(lambda t: F.celu(t, 3.0), [0.0]), [1.0])


def test_nan_passes_as_torch():
    x = np.array([np.nan, 1.0])
    for fn in (F.softshrink, F.hardshrink, F.relu6, F.hardswish, F.hardsigmoid,
               lambda t: F.threshold(t, 0.0, 5.0)):
        assert np.isnan(fn(Tensor(x)).data[0])


def test_prelu_weight_gradient_sums_the_non_positive_inputs():
    x = Tensor(np.array([[-1.0, 0.0, 2.0], [-3.0, 4.0, -0.5]]), requires_grad=True)
    w = Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    y = F.prelu(x, w)
    y.sum().backward()
    np.testing.assert_allclose(y.data, [[-0.1, 0.0, 2.0], [-0.3, 4.0, -0.15]])
    np.testing.assert_allclose(w.grad, [-4.0, 0.0, -0.5])
    np.testing.assert_allclose(x.grad, [[0.1, 0.2, 1.0], [0.1, 1.0, 0.3]])


def test_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"prelu: expected one weight or one per channel "
                                         r"\(axis 1 of \(2, 3\): 3\), got weight of shape \(2,\)"):
        F.prelu(x, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"prelu: expected one weight or one per channel .*: "
                                         r"1\), got weight of shape \(3,\)"):
        F.prelu(Tensor(np.zeros(3)), Tensor(np.ones(3)))  # a 1D input has no channel axis
    with pytest.raises(ValueError, match=r"prelu: expected weight to be a scalar or 1D, got "
                                         r"shape \(1, 3\)"):
        F.prelu(x, Tensor(np.ones((1, 3))))
    with pytest.raises(ValueError, match=r"celu: alpha must be nonzero"):
        F.celu(x, 0)
    with pytest.raises(TypeError, match=r"celu: alpha must be a number, got '1'"):
        F.celu(x, "1")
    with pytest.raises(ValueError, match=r"glu: the halved axis must have an even size, but "
                                         r"axis 1 of \(2, 3\) has size 3"):
        F.glu(x)
    with pytest.raises(ValueError, match=r"glu: expected a tensor with at least one axis"):
        F.glu(Tensor(np.array(1.0)))
    with pytest.raises(ValueError, match=r"glu: dim 2 is out of range for a tensor with 2 axes"):
        F.glu(x, 2)
    with pytest.raises(ValueError, match=r"softshrink: lambd must be >= 0, got -1.0"):
        F.softshrink(x, -1)
    kept = F.threshold(Tensor(np.array([-1.0, 2.0])), float("nan"), 0.0)  # as torch's: x <= nan
    np.testing.assert_array_equal(kept.data, [-1.0, 2.0])  # is never true, every x is kept
    with pytest.raises(TypeError, match=r"threshold: value must be a number, got None"):
        F.threshold(x, 0.0, None)
    with pytest.raises(ValueError, match=r"softmax: axis 2 is out of range"):
        F.softmin(x, 2)
    # a negative lambd keeps every x in hardshrink, as torch
    np.testing.assert_array_equal(F.hardshrink(Tensor(np.array([0.0, 0.1])), -1).data, [0, 0.1])
