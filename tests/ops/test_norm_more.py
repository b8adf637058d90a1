"""group_norm, instance_norm, rms_norm (fused O(N) backwards), local_response_norm and bilinear
(composites): PyTorch's values, gradients and running statistics
(tests/fixtures/ops/norm_more.npz), gradient checks, dtypes, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, no_grad
from dlpy.testing import gradcheck

from .conftest import load_cases

# the settings of make_activation_norm_fixtures.py's NORM_CASES
TORCH_CASES = {
    "group_norm_4d": lambda x, w, b: F.group_norm(x, 3, w, b),
    "group_norm_3d": lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-3),
    "group_norm_2d": lambda x, w, b: F.group_norm(x, 3, w, b),
    "group_norm_no_affine": lambda x: F.group_norm(x, 4),
    "group_norm_one_group": lambda x, w, b: F.group_norm(x, 1, w, b),
    "group_norm_large_offset": lambda x, w, b: F.group_norm(x, 2, w, b),
    "group_norm_5d": lambda x, w, b: F.group_norm(x, 2, w, b),
    "group_norm_weight_only": lambda x, w: F.group_norm(x, 2, w),
    "instance_norm_3d": lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
    "instance_norm_4d_no_affine": lambda x: F.instance_norm(x, eps=1e-3),
    "instance_norm_running": lambda x, w, b, **s: F.instance_norm(
        x, s["running_mean"], s["running_var"], w, b, use_input_stats=True, momentum=0.3),
    "instance_norm_eval": lambda x, w, b, **s: F.instance_norm(
        x, s["running_mean"], s["running_var"], w, b, use_input_stats=False, eps=0.1),
    "instance_norm_running_no_affine": lambda x, **s: F.instance_norm(
        x, s["running_mean"], s["running_var"]),
    "rms_norm": lambda x, w: F.rms_norm(x, [5], w, 1e-5),
    "rms_norm_two_axes": lambda x, w: F.rms_norm(x, (3, 4), w, 1e-6),
    "rms_norm_no_weight": lambda x: F.rms_norm(x, 6, eps=0.1),
    "rms_norm_default_eps": lambda x, w: F.rms_norm(x, [4], w),
    "rms_norm_tiny_values": lambda x: F.rms_norm(x, [4]),  # eps (2.2e-16) is most of the mean
    "local_response_norm_3d": lambda x: F.local_response_norm(x, 3, 0.1, 0.75, 2.0),
    "local_response_norm_4d_even": lambda x: F.local_response_norm(x, 4, 0.5, 0.6, 1.5),
    "local_response_norm_size1": lambda x: F.local_response_norm(x, 1, 1.0, 0.5),
    "local_response_norm_wide": lambda x: F.local_response_norm(x, 7, 0.3),
    "local_response_norm_5d": lambda x: F.local_response_norm(x, 2, 0.2, 0.75, 1.0),
    "bilinear": F.bilinear,
    "bilinear_no_bias": F.bilinear,
    "bilinear_batch_axes": F.bilinear,
    "bilinear_1d": F.bilinear,
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    record = load_cases("norm_more")[case]
    stats = {}

    def fn(*inputs, **running):
        stats.update({k: v.copy() for k, v in running.items()})  # the fixture's stay as they are
        return TORCH_CASES[case](*inputs, **stats)

    torch_reference("norm_more", case, fn)
    for name in ("running_mean", "running_var"):
        if f"arg_{name}" in record:
            np.testing.assert_allclose(stats[name], record[f"{name}_after"], rtol=1e-12,
                                       atol=1e-14, err_msg=name)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("norm_more") == set(TORCH_CASES)


def _tensor(array):
    return Tensor(array, requires_grad=True)


@pytest.mark.parametrize("shape, groups", [((2, 6, 3, 3), 3), ((3, 4, 5), 2), ((4, 6), 3),
                                           ((2, 4, 1, 2), 4), ((1, 2, 3), 1),
                                           ((2, 4, 2, 1, 3), 2)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_group_norm_gradcheck(shape, groups, affine, rng):
    channels = shape[1]
    x = _tensor(2 + 3 * rng.standard_normal(shape))
    weight = _tensor(rng.standard_normal(channels)) if affine in ("both", "weight") else None
    bias = _tensor(rng.standard_normal(channels)) if affine in ("both", "bias") else None
    args = [a for a in (x, weight, bias) if a is not None]

    def fn(*tensors):
        w = tensors[1] if weight is not None else None
        b = tensors[-1] if bias is not None else None
        return F.group_norm(tensors[0], groups, w, b)

    assert gradcheck(fn, *args)


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 2, 3, 3), (3, 1, 2), (2, 2, 2, 1, 2)])
def test_instance_norm_gradcheck(shape, rng):
    x = _tensor(rng.standard_normal(shape))
    w, b = _tensor(rng.standard_normal(shape[1])), _tensor(rng.standard_normal(shape[1]))
    assert gradcheck(lambda *t: F.instance_norm(t[0], weight=t[1], bias=t[2]), x, w, b)
    mean, var = rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1])
    assert gradcheck(lambda *t: F.instance_norm(t[0], mean, var, t[1], t[2],
                                                use_input_stats=False), x, w, b)


@pytest.mark.parametrize("shape, normalized", [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((4,), (4,)),
                                               ((2, 1, 3), (3,)), ((2, 1), (1,)),
                                               ((2, 3, 1, 2), (3, 1, 2))])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm_gradcheck(shape, normalized, with_weight, rng):
    x = _tensor(rng.standard_normal(shape))
    if with_weight:
        w = _tensor(rng.standard_normal(normalized))
        assert gradcheck(lambda a, b: F.rms_norm(a, normalized, b, 1e-3), x, w)
    else:
        assert gradcheck(lambda a: F.rms_norm(a, normalized, eps=1e-3), x)


@pytest.mark.parametrize("shape, size", [((2, 5, 4), 3), ((1, 4, 2, 2), 2), ((2, 3, 3), 5),
                                         ((2, 2, 1, 2, 2), 1)])
def test_local_response_norm_gradcheck(shape, size, rng):
    x = _tensor(rng.standard_normal(shape))
    assert gradcheck(lambda a: F.local_response_norm(a, size, 0.3, 0.75, 1.0), x)


@pytest.mark.parametrize("lead", [(4,), (), (2, 3), (1,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bilinear_gradcheck(lead, with_bias, rng):
    x1, x2 = _tensor(rng.standard_normal(lead + (3,))), _tensor(rng.standard_normal(lead + (2,)))
    w = _tensor(rng.standard_normal((4, 3, 2)))
    if with_bias:
        assert gradcheck(F.bilinear, x1, x2, w, _tensor(rng.standard_normal(4)))
    else:
        assert gradcheck(F.bilinear, x1, x2, w)


def test_bilinear_is_the_sum_it_names(rng):
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    w, b = rng.standard_normal((4, 3, 2)), rng.standard_normal(4)
    y = F.bilinear(Tensor(x1), Tensor(x2), Tensor(w), Tensor(b))
    np.testing.assert_allclose(y.data, np.einsum("ni,oij,nj->no", x1, w, x2) + b, rtol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda x: F.group_norm(x, 2, Tensor(np.ones(4, x.dtype)), Tensor(np.zeros(4, x.dtype))),
    lambda x: F.instance_norm(x),
    lambda x: F.rms_norm(x, [3]),
    lambda x: F.local_response_norm(x, 2),
], ids=["group_norm", "instance_norm", "rms_norm", "local_response_norm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norms_keep_dtype(fn, dtype, rng):
    x = Tensor(rng.standard_normal((2, 4, 3)).astype(dtype), requires_grad=True)
    y = fn(x)
    assert y.dtype == dtype and y.shape == (2, 4, 3)
    y.backward(np.ones((2, 4, 3), dtype=dtype))
    assert x.grad.dtype == dtype


def test_rms_norm_default_eps_is_the_dtypes_machine_epsilon():
    x = np.full((1, 4), 1e-4)
    for dtype in (np.float32, np.float64):
        y = F.rms_norm(Tensor(x.astype(dtype)), [4])
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(y.data, 1e-4 / np.sqrt(1e-8 + eps), rtol=1e-6)


def test_group_norm_is_layer_norm_over_each_group(rng):
    x = rng.standard_normal((3, 6, 5))
    y = F.group_norm(Tensor(x), 2).data
    ref = F.layer_norm(Tensor(x.reshape(3, 2, 15))).data.reshape(3, 6, 5)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_instance_norm_running_statistics_and_eval(rng):
    x = 1 + 2 * rng.standard_normal((4, 3, 6))
    mean, var = np.zeros(3), np.ones(3)
    F.instance_norm(Tensor(x), mean, var, momentum=0.5)
    np.testing.assert_allclose(mean, 0.5 * x.mean(axis=2).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, 0.5 + 0.5 * x.var(axis=2, ddof=1).mean(axis=0), rtol=1e-12)
    y = F.instance_norm(Tensor(x), mean, var, use_input_stats=False, eps=0.0)
    np.testing.assert_allclose(y.data, (x - mean[:, None]) / np.sqrt(var[:, None]), rtol=1e-12)
    with no_grad():  # a Tensor's array is updated in place too
        stats = Tensor(np.zeros(3)), Tensor(np.ones(3))
        F.instance_norm(Tensor(x), *stats)
    assert np.all(stats[0].data != 0)


def test_errors():
    x = Tensor(np.zeros((2, 6, 3)))
    with pytest.raises(ValueError, match=r"group_norm: the 6 channels of input \(2, 6, 3\) must "
                                         r"be divisible by num_groups, got num_groups=4"):
        F.group_norm(x, 4)
    with pytest.raises(ValueError, match=r"group_norm: expected input \(N, C, ...\) with at "
                                         r"least 2 axes, got \(6,\)"):
        F.group_norm(Tensor(np.zeros(6)), 3)
    with pytest.raises(TypeError, match=r"group_norm: num_groups must be an int, got 2.0"):
        F.group_norm(x, 2.0)
    with pytest.raises(ValueError, match=r"group_norm: weight must have shape \(6,\) for input "
                                         r"\(2, 6, 3\), got \(3,\)"):
        F.group_norm(x, 3, Tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element "
                                         r"when using the input's statistics, got input of "
                                         r"shape \(2, 6, 1\)"):
        F.instance_norm(Tensor(np.zeros((2, 6, 1))))
    with pytest.raises(RuntimeError, match=r"instance_norm: running_mean and running_var are "
                                         r"needed when use_input_stats=False"):
        F.instance_norm(x, use_input_stats=False)
    with pytest.raises(ValueError, match=r"instance_norm: running_mean must have shape \(6,\)"):
        F.instance_norm(x, np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match=r"instance_norm: running_var must be a floating point"):
        F.instance_norm(x, np.zeros(6), [1.0] * 6)
    with pytest.raises(ValueError, match=r"instance_norm: give both running_mean and "
                                         r"running_var, or neither"):
        F.instance_norm(x, np.zeros(6))
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape \(4,\) must be the last "
                                         r"axes of the input, got input of shape \(2, 6, 3\)"):
        F.rms_norm(x, [4])
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape \(1, 2, 6, 3\) must be"):
        F.rms_norm(x, [1, 2, 6, 3])
    with pytest.raises(ValueError, match=r"rms_norm: weight must have shape normalized_shape "
                                         r"\(6, 3\), got \(3,\)"):
        F.rms_norm(x, (6, 3), Tensor(np.ones(3)))
    with pytest.raises(TypeError, match=r"rms_norm: normalized_shape must be an int or a "
                                        r"sequence of ints, got 3.0"):
        F.rms_norm(x, 3.0)
    with pytest.raises(ValueError, match=r"local_response_norm: expected input \(N, C, \*\) with "
                                         r"at least 3 axes, got \(2, 6\)"):
        F.local_response_norm(Tensor(np.zeros((2, 6))), 2)
    with pytest.raises(ValueError, match=r"local_response_norm: size must be a positive int, "
                                         r"got 0"):
        F.local_response_norm(x, 0)
    w = Tensor(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"bilinear: expected x1 \(..., in1\) and x2 \(..., "
                                         r"in2\) with the same leading axes, got \(2, 3\) and "
                                         r"\(3, 2\)"):
        F.bilinear(Tensor(np.zeros((2, 3))), Tensor(np.zeros((3, 2))), w)
    with pytest.raises(ValueError, match=r"bilinear: expected x1 \(..., 3\) and x2 \(..., 2\) "
                                         r"for weight \(4, 3, 2\), got \(2, 2\) and \(2, 3\)"):
        F.bilinear(Tensor(np.zeros((2, 2))), Tensor(np.zeros((2, 3))), w)
    with pytest.raises(ValueError, match=r"bilinear: expected weight \(out, in1, in2\), got "
                                         r"shape \(4, 3\)"):
        F.bilinear(Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 3))), Tensor(np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"bilinear: bias must have shape \(4,\), got \(3,\)"):
        F.bilinear(Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 2))), w, Tensor(np.zeros(3)))



@pytest.mark.parametrize("shape", [(0, 4, 3), (2, 4, 0), (0, 4)])
def test_group_norm_of_an_empty_batch_or_image(shape):
    x = Tensor(np.zeros(shape), requires_grad=True)
    weight, bias = Tensor(np.ones(4), requires_grad=True), Tensor(np.ones(4), requires_grad=True)
    y = F.group_norm(x, 2, weight, bias)
    assert y.shape == shape
    y.sum().backward()
    assert x.grad.shape == shape
    np.testing.assert_array_equal(weight.grad, np.zeros(4))
    np.testing.assert_array_equal(bias.grad, np.full(4, float(np.prod(shape)) / 4))
