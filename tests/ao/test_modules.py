"""Quantized layers (dlpy/ao/nn/quantized/) against torch's x86 (fbgemm) kernels with the same
integer inputs, weights and qparams: the integer outputs within 1 LSB, and how many are exact;
state_dict round trips."""

import numpy as np
import pytest
from cases_quantization import LSTMS, draw, layer_weights, lstm_state

import dlpy
from dlpy import nn
from dlpy.ao import quantization as q
from dlpy.ao.nn import quantized as nnq
from dlpy.ao.nn.quantized import dynamic as nnqd

from .helpers import reference

REF = reference("modules")
WEIGHTS = layer_weights(0)
DYNAMIC_WEIGHTS = layer_weights(1)  # the "dynamic" case is the second: seed 1
X_LIN = np.random.default_rng(0).standard_normal((8, 36)).astype(np.float32)


def _qweight(w, per_channel):
    top = np.abs(w).reshape(w.shape[0], -1).max(axis=1).astype(np.float64) / 127
    if per_channel:
        return q.quantize_per_channel(w, top, np.zeros(len(top), np.int64), 0, q.qint8)
    return q.quantize_per_tensor(w, float(top.max()), 0, q.qint8)


def _close_ints(actual, expected) -> float:
    """Assert |actual - expected| <= 1 everywhere; the fraction equal."""
    difference = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
    assert difference.max() <= 1, f"off by {difference.max()} LSB"
    return float(np.mean(difference == 0))


def _layer(kind: str, per_channel: bool):
    if kind.startswith("linear"):
        cls = nnq.LinearReLU if kind.endswith("relu") else nnq.Linear
        layer = cls(36, 12, per_channel=per_channel)
        layer.set_weight_bias(_qweight(WEIGHTS["fc1_w"], per_channel), WEIGHTS["fc1_b"])
        layer.scale, layer.zero_point = np.float32(0.03), np.int64(70)
        return layer, q.quantize_per_tensor(X_LIN, 0.05, 60, q.quint8)
    cls = nnq.ConvReLU2d if kind.endswith("relu") else nnq.Conv2d
    layer = cls(2, 4, 3, stride=2, padding=1, per_channel=per_channel)
    layer.set_weight_bias(_qweight(WEIGHTS["conv_w"], per_channel), WEIGHTS["conv_b"])
    layer.scale, layer.zero_point = np.float32(0.02), np.int64(100)
    return layer, q.quantize_per_tensor(WEIGHTS["x"], 0.04, 64, q.quint8)


@pytest.mark.parametrize("per_channel", [True, False], ids=["pc", "pt"])
@pytest.mark.parametrize("kind", ["linear", "linear_relu", "conv", "conv_relu"])
def test_layer_within_one_lsb_of_torch(kind, per_channel):
    layer, x = _layer(kind, per_channel)
    out = layer(x)
    expected = REF["layers"][f"{kind}_{'pc' if per_channel else 'pt'}"]
    assert isinstance(out, q.QTensor) and out.shape == expected.shape
    assert _close_ints(out.int_repr().data, expected) >= 0.95
    if kind.endswith("relu"):
        assert out.int_repr().data.min() >= 100 if kind.startswith("conv") else 70


def test_functional_and_relu_within_one_lsb():
    functional = nnq.QFunctional()
    functional.scale, functional.zero_point = np.float32(0.06), np.int64(50)
    a = q.quantize_per_tensor(X_LIN, 0.05, 60, q.quint8)
    b = q.quantize_per_tensor(X_LIN[::-1].copy(), 0.07, 40, q.quint8)
    ref = REF["layers"]
    for name, out in (("add", functional.add(a, b)), ("add_relu", functional.add_relu(a, b)),
                      ("mul", functional.mul(a, b)), ("cat", functional.cat([a, b], dim=1))):
        assert _close_ints(out.int_repr().data, ref[name]) >= 0.99, name
    np.testing.assert_array_equal(nnq.ReLU()(a).int_repr().data, ref["relu"])


@pytest.mark.parametrize("per_channel", [False, True], ids=["pt", "pc"])
def test_dynamic_linear_close_to_torch(per_channel):
    linear = nn.Linear(36, 12)
    linear.load_state_dict({"weight": DYNAMIC_WEIGHTS["fc1_w"],
                            "bias": DYNAMIC_WEIGHTS["fc1_b"]})
    spec = {nn.Linear: q.per_channel_dynamic_qconfig} if per_channel else {nn.Linear}
    model = q.quantize_dynamic(nn.Sequential(linear), spec, dtype=q.qint8)
    assert isinstance(model[0], nnqd.Linear)
    tag = "pc" if per_channel else "pt"
    np.testing.assert_array_equal(model[0].weight().int_repr().data,
                                  REF["dynamic"][f"weight_{tag}"])
    x = np.random.default_rng(1).standard_normal((8, 36)).astype(np.float32) * 2
    np.testing.assert_allclose(model(dlpy.tensor(x)).data, REF["dynamic"][f"out_{tag}"],
                               rtol=1e-5, atol=1e-6)


def test_int_matmul_paths_agree():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (5, 300))
    b = rng.integers(-255, 256, (300, 7))
    exact = a @ b
    np.testing.assert_array_equal(nnq.int_matmul(a, b), exact)
    np.testing.assert_array_equal(nnq.int_matmul(a, b, exact_float=False), exact)


@pytest.mark.parametrize("kind", ["linear", "conv_relu"])
def test_state_dict_round_trip(kind, tmp_path):
    layer, x = _layer(kind, per_channel=True)
    state = layer.state_dict()
    assert state["packed_weight"].dtype == np.int8 and state["weight_scales"].shape[0] > 1
    fresh, _ = _layer(kind, per_channel=True)
    fresh.packed_weight = np.zeros_like(fresh.packed_weight)
    fresh.scale = np.float32(1.0)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh(x).int_repr().data, layer(x).int_repr().data)
    model = nn.Sequential(layer)
    model.save(tmp_path / "q.npz")
    other = nn.Sequential(_layer(kind, per_channel=True)[0])
    other[0].scale = np.float32(5.0)
    other.load(tmp_path / "q.npz")
    np.testing.assert_array_equal(other(x).int_repr().data, layer(x).int_repr().data)


@pytest.mark.parametrize("per_channel", [True, False], ids=["pc", "pt"])
def test_weight_bias_and_repr_read_the_tensor_buffers(per_channel):
    layer, _ = _layer("linear", per_channel)
    assert isinstance(layer.weight_scales, dlpy.Tensor)
    weight = layer.weight()
    assert weight.qscheme() is (q.per_channel_affine if per_channel else q.per_tensor_affine)
    np.testing.assert_array_equal(weight.int_repr().data, layer.packed_weight.data)
    assert ("qscheme=per_channel" if per_channel else "qscheme=per_tensor") in repr(layer)
    bias = layer.bias()
    bias.data[0] += 1.0  # a copy, as torch's
    assert layer.packed_bias.data[0] == np.float32(WEIGHTS["fc1_b"][0])
    dynamic = nnqd.Linear(36, 12, per_channel=per_channel)
    dynamic.set_weight_bias(_qweight(WEIGHTS["fc1_w"], per_channel), WEIGHTS["fc1_b"])
    assert ("qscheme=per_channel" if per_channel else "qscheme=per_tensor") in repr(dynamic)


def test_errors():
    layer, x = _layer("linear", True)
    with pytest.raises(TypeError, match="Linear: expected a QTensor.*got Tensor"):
        layer(dlpy.tensor(X_LIN))
    with pytest.raises(ValueError, match=r"Linear: expected input \(..., 36\), got \(8, 12\)"):
        layer(q.quantize_per_tensor(X_LIN[:, :12].copy(), 0.1, 0, q.quint8))
    with pytest.raises(TypeError, match="the weight must be qint8"):
        layer.set_weight_bias(q.quantize_per_tensor(WEIGHTS["fc1_w"], 0.1, 0, q.quint8), None)
    with pytest.raises(ValueError, match="quantize_dynamic: only dtype=dlpy.qint8"):
        q.quantize_dynamic(nn.Linear(2, 2), dtype=q.quint8)
    with pytest.raises(ValueError, match=r"dlpy quantizes \[.Linear., .LSTM.\].*GRU"):
        q.quantize_dynamic(nn.Linear(2, 2), {nn.GRU})


def test_report_exact_fractions(capsys):
    """Not a check: prints how many integers equal torch's (run with -s to see them)."""
    fractions = {}
    for kind in ("linear", "linear_relu", "conv", "conv_relu"):
        for per_channel in (True, False):
            layer, x = _layer(kind, per_channel)
            tag = "pc" if per_channel else "pt"
            fractions[f"{kind}_{tag}"] = _close_ints(layer(x).int_repr().data,
                                                     REF["layers"][f"{kind}_{tag}"])
    print({k: round(v, 4) for k, v in fractions.items()})
    assert min(fractions.values()) > 0.9


def test_int_matmul_float32_path_is_exact_at_its_bound():
    # 7-bit activations times int8 weights over 1040 inputs: sums up to 127 * 127 * 1040 <
    # 2^24, the float32 path; all at the extremes, where an inexact sum would show
    a = np.full((3, 1040), 127)
    b = np.full((1040, 2), -127)
    b[::2, 1] = 126
    np.testing.assert_array_equal(nnq.int_matmul(a, b), a @ b)
    a[0, 0] = 128  # now above 2^24: the float64 path, still exact
    np.testing.assert_array_equal(nnq.int_matmul(a, b), a @ b)


@pytest.mark.parametrize("name", LSTMS)
def test_dynamic_lstm_close_to_torch(name):
    input_size, hidden, layers, bidirectional, batch_first = LSTMS[name]
    lstm = nn.LSTM(input_size, hidden, layers, bidirectional=bidirectional,
                   batch_first=batch_first)
    lstm.load_state_dict(lstm_state(2 + list(LSTMS).index(name), input_size, hidden, layers,
                                    bidirectional))
    model = q.quantize_dynamic(nn.Sequential(lstm), {nn.LSTM, nn.Linear}, dtype=q.qint8)
    assert isinstance(model[0], nnqd.LSTM)
    x = draw(700 + list(LSTMS).index(name), (7, 3, input_size), 1.0, np.float32)
    out, (h_n, c_n) = model(dlpy.tensor(x))
    ref = REF["lstm"]
    for actual, key in ((out, "out"), (h_n, "h"), (c_n, "c")):
        assert actual.shape == ref[f"{name}_{key}"].shape
        np.testing.assert_allclose(actual.data, ref[f"{name}_{key}"], rtol=1e-5, atol=1e-6)
    float_out = lstm(dlpy.tensor(x))[0].data  # int8 stays close to the float LSTM
    assert np.abs(out.data - float_out).max() < 0.05
