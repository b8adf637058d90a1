"""Fake quantization (dlpy/ao/quantization/fake_quantize.py): values and straight-through / LSQ
gradients against torch; central differences where the gradient is a true derivative."""

import numpy as np
import pytest
from cases_quantization import FAKE_PER_CHANNEL, FAKE_PER_TENSOR, LEARNABLE

import dlpy
from dlpy.ao import quantization as q
from dlpy.testing import assert_close, gradcheck

from .helpers import reference

FAKE = reference("fake")
FAKE_CHANNEL = reference("fake_per_channel")
LEARN = reference("learnable")


@pytest.mark.parametrize("case", FAKE_PER_TENSOR)
def test_fake_quantize_per_tensor_equals_torch(case):
    _, scale, zero_point, quant_min, quant_max, _ = FAKE_PER_TENSOR[case]
    ref = FAKE[case]
    x = dlpy.tensor(ref["x"], requires_grad=True)
    y = dlpy.fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)
    assert y.dtype == ref["out"].dtype
    np.testing.assert_array_equal(y.data, ref["out"])
    y.backward(ref["grad_out"])
    np.testing.assert_array_equal(x.grad, ref["grad"])
    assert 0 < np.count_nonzero(ref["grad"]) < ref["grad"].size  # both sides of the range


@pytest.mark.parametrize("case", FAKE_PER_CHANNEL)
def test_fake_quantize_per_channel_equals_torch(case):
    _, axis, quant_min, quant_max = FAKE_PER_CHANNEL[case]
    ref = FAKE_CHANNEL[case]
    x = dlpy.tensor(ref["x"], requires_grad=True)
    y = q.fake_quantize_per_channel_affine(x, ref["scales"], dlpy.tensor(ref["zero_points"]),
                                           axis, quant_min, quant_max)
    np.testing.assert_array_equal(y.data, ref["out"])
    y.backward(ref["grad_out"])
    np.testing.assert_array_equal(x.grad, ref["grad"])


@pytest.mark.parametrize("case", LEARNABLE)
def test_learnable_equals_torch(case):
    _, scale, zero_point, quant_min, quant_max, grad_factor = LEARNABLE[case]
    ref = LEARN[case]
    x = dlpy.tensor(ref["x"], requires_grad=True)
    s = dlpy.tensor(np.float32([scale]), requires_grad=True)
    z = dlpy.tensor(np.float32([zero_point]), requires_grad=True)
    y = dlpy._fake_quantize_learnable_per_tensor_affine(x, s, z, quant_min, quant_max,
                                                        grad_factor)
    np.testing.assert_array_equal(y.data, ref["out"])
    y.backward(ref["grad_out"])
    np.testing.assert_array_equal(x.grad, ref["grad"])
    assert_close(s.grad, ref["grad_scale"], rtol=1e-5, atol=1e-5)
    assert_close(z.grad, ref["grad_zero_point"], rtol=1e-5, atol=1e-5)


def test_learnable_gradcheck_outside_the_range():
    # every x below / above the range: y = (qmin - z) * s or (qmax - z) * s, whose derivative
    # w.r.t. s is exactly LSQ's gradient (inside the range LSQ's is straight-through)
    # (x float32: torch's backward refuses float64 values)
    x = dlpy.tensor(np.array([-9.0, -7.5, 8.0, 12.0], np.float32))
    s = dlpy.tensor(np.array([0.05]), requires_grad=True)
    z = dlpy.tensor(np.array([3.0]))
    # (float32 scale and output, as torch: a wide step and a loose tolerance; a wrong formula,
    # qmax instead of qmax - zero_point, is 2% off)
    assert gradcheck(lambda s: q._fake_quantize_learnable_per_tensor_affine(x, s, z, 0, 127), s,
                     eps=1e-2, atol=1e-3, rtol=1e-3)


def test_straight_through_gradcheck_inside_is_not_the_derivative():
    # the straight-through gradient is 1 where the true derivative is 0: gradcheck must fail
    x = dlpy.tensor(np.array([0.11, 0.52, -0.33]), requires_grad=True)
    with pytest.raises(AssertionError):
        gradcheck(lambda x: q.fake_quantize_per_tensor_affine(x, 0.1, 0, -128, 127), x)


def test_fake_quantize_module_tracks_observer():
    fq = q.default_fake_quant()
    assert (fq.quant_min, fq.quant_max) == (0, 127)  # reduce_range
    x = dlpy.tensor(np.linspace(-1, 3, 50))
    y = fq(x)
    scale, zero_point = fq.calculate_qparams()
    np.testing.assert_array_equal(fq.scale, scale.data)
    assert fq.zero_point[0] == zero_point.data[0]
    assert len(np.unique(np.round(y.data / fq.scale[0], 3))) <= 128
    fq.disable_fake_quant()
    assert fq(x) is x
    weight = q.default_per_channel_weight_fake_quant()
    w = dlpy.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    weight(w)
    assert weight.scale.shape == (3,) and np.all(weight.zero_point == 0)


def test_fake_quantize_buffers_change_in_place():
    fq = q.default_per_channel_weight_fake_quant()
    scale, zero_point, enabled = fq.scale, fq.zero_point, fq.observer_enabled
    fq(dlpy.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)))
    assert fq.scale is scale and scale.shape == (3,) and fq.zero_point is zero_point
    assert isinstance(scale, dlpy.Tensor) and scale.dtype == np.float32
    assert zero_point.dtype == np.int32
    fq.disable_observer()
    assert fq.observer_enabled is enabled and enabled.tolist() == [0]
    before = scale.data.copy()
    fq(dlpy.tensor(np.full((3, 4), 10.0, np.float32)))
    np.testing.assert_array_equal(fq.scale.data, before)  # frozen
    fq.enable_observer()
    assert enabled.tolist() == [1]


def test_errors():
    x = dlpy.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="fake_quantize_per_tensor_affine: scale must be "
                                         "positive"):
        q.fake_quantize_per_tensor_affine(x, 0.0, 0, 0, 255)
    with pytest.raises(ValueError, match=r"expected quant_min <= quant_max, got \[5, 1\]"):
        q.fake_quantize_per_tensor_affine(x, 0.1, 0, 5, 1)
    with pytest.raises(ValueError, match=r"zero_point must be in \[0, 255\], got -1"):
        q.fake_quantize_per_tensor_affine(x, 0.1, -1, 0, 255)
    with pytest.raises(ValueError, match=r"axis must be in \[0, 1\].*got 3"):
        q.fake_quantize_per_channel_affine(x, [0.1] * 2, [0] * 2, 3, 0, 255)
    with pytest.raises(ValueError, match="expected 3 scales"):
        q.fake_quantize_per_channel_affine(x, [0.1] * 2, [0] * 2, 1, 0, 255)
    with pytest.raises(TypeError, match="scale must be a one-element Tensor"):
        q._fake_quantize_learnable_per_tensor_affine(x, 0.1, dlpy.tensor([0.0]), 0, 255)


def test_per_channel_state_loads_into_a_fresh_module_as_torchs():
    # torch's _load_from_state_dict resizes the per-channel buffers (empty or (1,) when new)
    make = q.FakeQuantize.with_args(observer=q.MovingAveragePerChannelMinMaxObserver,
                                    quant_min=-128, quant_max=127, dtype=dlpy.qint8,
                                    qscheme=dlpy.per_channel_symmetric)
    trained, fresh = make(), make()
    x = dlpy.tensor(np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32))
    trained(x)
    fresh.load_state_dict(trained.state_dict())
    assert fresh.scale.shape == (3,) and fresh.activation_post_process.min_val.shape == (3,)
    fresh.disable_observer()
    trained.disable_observer()
    np.testing.assert_array_equal(fresh(x).data, trained(x).data)
    observer = q.PerChannelMinMaxObserver()
    observer.load_state_dict(trained.activation_post_process.state_dict())
    np.testing.assert_array_equal(observer.max_val.numpy(),
                                  trained.activation_post_process.max_val.numpy())
