"""Quantized tensors (dlpy/ao/quantization/qtensor.py) against torch's int_repr, bit for bit."""

import numpy as np
import pytest
from cases_quantization import PER_CHANNEL, PER_TENSOR

import dlpy
from dlpy.ao import quantization as q

from .helpers import reference

TENSORS = reference("tensors")
CHANNELS = reference("per_channel")


@pytest.mark.parametrize("case", PER_TENSOR)
def test_quantize_per_tensor_equals_torch(case):
    _, scale, zero_point, dtype, _ = PER_TENSOR[case]
    ref = TENSORS[case]
    qx = dlpy.quantize_per_tensor(dlpy.tensor(ref["x"]), scale, zero_point, getattr(dlpy, dtype))
    assert qx.int_repr().dtype == ref["int"].dtype
    np.testing.assert_array_equal(qx.int_repr().data, ref["int"])
    np.testing.assert_array_equal(qx.dequantize().data, ref["dequant"])
    assert qx.q_scale() == scale and qx.q_zero_point() == zero_point  # a double, as torch
    assert qx.qscheme() is q.per_tensor_affine and qx.dtype is getattr(q, dtype)


@pytest.mark.parametrize("case", PER_CHANNEL)
def test_quantize_per_channel_equals_torch(case):
    _, axis, dtype = PER_CHANNEL[case]
    ref = CHANNELS[case]
    qx = dlpy.quantize_per_channel(ref["x"], dlpy.tensor(ref["scales"]), ref["zero_points"],
                                   axis, getattr(q, dtype))
    np.testing.assert_array_equal(qx.int_repr().data, ref["int"])
    np.testing.assert_array_equal(qx.dequantize().data, ref["dequant"])
    np.testing.assert_array_equal(qx.q_per_channel_scales().data, ref["out_scales"])
    np.testing.assert_array_equal(qx.q_per_channel_zero_points().data, ref["zero_points"])
    assert qx.q_per_channel_axis() == axis and qx.qscheme() is q.per_channel_affine


def test_round_half_to_even_and_clamp():
    qx = q.quantize_per_tensor(np.float32([0.5, 1.5, 2.5, -0.5, 1000.0, -1000.0]), 1.0, 0,
                               q.qint8)
    np.testing.assert_array_equal(qx.int_repr().data, [0, 2, 2, 0, 127, -128])
    assert dlpy.dequantize(qx).dtype == np.float32


def test_reshape_keeps_qparams():
    qx = q.quantize_per_tensor(np.arange(6, dtype=np.float32), 0.5, 3, q.quint8)
    flat = qx.reshape(2, 3).flatten()
    assert flat.shape == (6,) and flat.q_scale() == 0.5 and flat.q_zero_point() == 3
    np.testing.assert_array_equal(flat.int_repr().data, qx.int_repr().data)


def test_errors():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="quantize_per_tensor: dtype must be"):
        q.quantize_per_tensor(x, 0.1, 0, np.uint8)
    with pytest.raises(ValueError, match="quantize_per_tensor: scale must be positive.*0.0"):
        q.quantize_per_tensor(x, 0.0, 0, q.quint8)
    with pytest.raises(ValueError, match=r"zero_point must be in \[0, 255\].*300"):
        q.quantize_per_tensor(x, 0.1, 300, q.quint8)
    with pytest.raises(TypeError, match="expected a float32 input, got int64"):
        q.quantize_per_tensor(np.ones(3, np.int64), 0.1, 0, q.quint8)
    with pytest.raises(ValueError, match=r"quantize_per_channel: axis must be in \[0, 1\].*2"):
        q.quantize_per_channel(x, [0.1] * 3, [0] * 3, 2, q.qint8)
    with pytest.raises(ValueError, match="expected 2 scales"):
        q.quantize_per_channel(x, [0.1] * 3, [0] * 3, 0, q.qint8)
    with pytest.raises(RuntimeError, match="q_scale: the tensor is quantized per channel"):
        q.quantize_per_channel(x, [0.1] * 2, [0] * 2, 0, q.qint8).q_scale()
    with pytest.raises(TypeError, match="dequantize: expected a QTensor, got ndarray"):
        q.dequantize(x)


def test_top_level_names_and_lazy_ao():
    assert dlpy.quint8 is q.quint8 and dlpy.per_channel_symmetric is q.per_channel_symmetric
    assert dlpy.ao.quantization is q and dlpy.ao.nn.quantized.Linear is not None
    assert repr(dlpy.qint8) == "dlpy.qint8" and repr(q.per_tensor_affine) == \
        "dlpy.per_tensor_affine"
