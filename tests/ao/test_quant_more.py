"""Quantized activations, pools, batch norm, Conv1d / Conv3d, QFunctional's scalar ops, a small
ResNet-style block through fuse / prepare / calibrate / convert, and QAT with folded batch norms
(ConvBn2d), against torch's x86 (fbgemm) kernels (tests/fixtures/quant_more.npz, made by
make_quant_more_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest
from make_quant_more_fixtures import (
    BLOCK_FUSE,
    SCALARS,
    TRANSPOSED,
    X_QPARAMS,
    activations_model,
    conv1d_model,
    functional_cases,
    inputs,
    resnet_block,
    transposed_weights,
)
from npz_reference import load_grouped

import dlpy
from dlpy import nn, optim
from dlpy.ao import quantization as q
from dlpy.ao.nn import intrinsic, qat
from dlpy.ao.nn import quantized as nnq
from dlpy.ao.nn.quantized import functional as qF

REF = load_grouped(Path(__file__).resolve().parents[1] / "fixtures" / "quant_more.npz")
DATA = inputs()
X = q.quantize_per_tensor(DATA["x"], *X_QPARAMS, q.quint8)


def _ints(t) -> np.ndarray:
    assert isinstance(t, q.QTensor)
    return t.int_repr().data


@pytest.mark.parametrize("name", list(functional_cases(qF, X)) + ["relu6", "sigmoid"])
def test_functional_ops_equal_torch_bit_for_bit(name):
    run = {"relu6": lambda: qF.relu6(X), "sigmoid": lambda: qF.sigmoid(X),
           **functional_cases(qF, X)}[name]
    np.testing.assert_array_equal(_ints(run()), REF["functional"][name])


def test_batch_norm_equals_torch():
    weight, bias, mean, var = DATA["bn"]
    out = qF.batch_norm(X, weight, bias - 1, mean - 1, var, 1e-5, 0.04, 50)
    np.testing.assert_array_equal(_ints(out), REF["functional"]["batch_norm"])
    out = qF.batch_norm(X, weight, bias - 1, mean - 1, var, 1e-5, 0.04, 50, relu=True)
    np.testing.assert_array_equal(_ints(out), REF["functional"]["batch_norm_relu"])


def test_add_and_mul_scalar_pick_torchs_qparams():
    functional = nnq.QFunctional()
    for op in ("add", "mul"):
        for c in SCALARS[op]:
            out = getattr(functional, f"{op}_scalar")(X, c)
            np.testing.assert_array_equal(_ints(out), REF["scalar"][f"{op}_{c}"])
            scale, zero_point = REF["scalar"][f"{op}_{c}_qparams"]
            assert out.q_zero_point() == zero_point
            np.testing.assert_allclose(out.q_scale(), scale, rtol=1e-7)


def _weight(w):
    top = np.abs(w).reshape(w.shape[0], -1).max(axis=1).astype(np.float64) / 127
    return q.quantize_per_channel(w, top, np.zeros(len(top), np.int64), 0, q.qint8)


@pytest.mark.parametrize("name", ["conv1d", "conv_relu1d", "conv3d", "conv_relu3d"])
def test_conv1d_and_conv3d_equal_torch(name):
    three = name.endswith("3d")
    w, b = (DATA["w3d"], DATA["b"][:3]) if three else (DATA["w1d"], DATA["b"])
    kwargs = {"conv1d": {"stride": 2, "padding": 1}, "conv_relu1d": {"padding": 2, "dilation": 2},
              "conv3d": {"stride": (1, 2, 2), "padding": 1},
              "conv_relu3d": {"padding": (0, 1, 1)}}[name]
    cls = {"conv1d": nnq.Conv1d, "conv_relu1d": nnq.ConvReLU1d, "conv3d": nnq.Conv3d,
           "conv_relu3d": nnq.ConvReLU3d}[name]
    layer = cls(w.shape[1], w.shape[0], w.shape[2:], **kwargs)
    layer.set_weight_bias(_weight(w), b)
    layer.scale, layer.zero_point = np.float32(0.02), np.int64(90)
    x = q.quantize_per_tensor(DATA["x3d"], 0.04, 70, q.quint8) if three else \
        q.quantize_per_tensor(DATA["x1d"], 0.03, 64, q.quint8)
    np.testing.assert_array_equal(_ints(layer(x)), REF["conv"][name])


@pytest.mark.parametrize("name", list(TRANSPOSED))
def test_transposed_convolutions_equal_torch(name):
    key, bias_size, input_key, kwargs = TRANSPOSED[name]
    weights = transposed_weights()
    w = weights[key]
    cls = nnq.ConvTranspose1d if name.endswith("1d") else nnq.ConvTranspose2d
    layer = cls(w.shape[0], w.shape[1] * kwargs.get("groups", 1), w.shape[2:], **kwargs)
    layer.set_weight_bias(q.quantize_per_tensor(w, float(np.abs(w).max() / 127), 0, q.qint8),
                          weights["b"][:bias_size])
    layer.scale, layer.zero_point = np.float32(0.03), np.int64(80)
    x = q.quantize_per_tensor(DATA["x1d"], 0.03, 64, q.quint8) if input_key == "x1d" else X
    np.testing.assert_array_equal(_ints(layer(x)), REF["conv"][name])
    with pytest.raises(ValueError, match=f"quantized.{cls.__name__}: per-channel weights are "
                                         "not supported"):
        layer.set_weight_bias(_weight(w), None)


def _calibrated(model, fuse=None):
    model.eval()
    model.qconfig = q.get_default_qconfig("x86")
    if fuse:
        q.fuse_modules(model, fuse, inplace=True)
    prepared = q.prepare(model)
    for batch in DATA["calibration"]:
        prepared(dlpy.tensor(batch))
    return q.convert(prepared)


def _assert_qparams(layer, expected):
    np.testing.assert_allclose(float(layer.scale), expected[0], rtol=1e-6)
    assert int(layer.zero_point) == expected[1]


def test_resnet_block_converts_and_equals_torch():
    model = resnet_block(nn, q, dlpy, nnq.FloatFunctional)
    quantized = _calibrated(model, BLOCK_FUSE)
    ref = REF["block"]
    assert isinstance(quantized.stem, nnq.ConvReLU2d) and isinstance(quantized.conv2, nnq.Conv2d)
    assert isinstance(quantized.skip, nnq.QFunctional)
    assert isinstance(quantized.pool, nnq.MaxPool2d) and isinstance(quantized.gap,
                                                                    nnq.AdaptiveAvgPool2d)
    for name in ("quant", "stem", "conv1", "conv2", "skip", "fc"):
        _assert_qparams(getattr(quantized, name), ref[f"qparams_{name}"])
    image = dlpy.tensor(DATA["image"])
    np.testing.assert_allclose(model(image).data, ref["float"], rtol=1e-5, atol=1e-6)
    hidden = quantized.pool(quantized.stem(quantized.quant(image)))
    np.testing.assert_array_equal(_ints(hidden), ref["stem"])
    added = quantized.skip.add_relu(hidden, quantized.conv2(quantized.conv1(hidden)))
    np.testing.assert_array_equal(_ints(added), ref["add_relu"])
    logits = quantized.fc(quantized.flatten(quantized.gap(quantized.avg(added))))
    np.testing.assert_array_equal(_ints(logits), ref["fc"])
    # dequantized with the histogram's scale, which may differ from torch's in the last bit
    np.testing.assert_allclose(quantized(image).data, ref["out"], rtol=1e-6)


def test_activations_batch_norm_and_sigmoid_model_equals_torch():
    quantized = _calibrated(activations_model(nn, q, dlpy))
    kinds = [nnq.Quantize, nnq.Conv2d, nnq.Hardswish, nnq.Conv2d, nnq.LeakyReLU,
             nnq.BatchNorm2d, nnq.ELU, nnq.ReLU6, nnq.Sigmoid, nnq.DeQuantize]
    assert [type(m) for m in quantized] == kinds
    for name in ("1", "2", "3", "4", "5", "6"):
        _assert_qparams(quantized.get_submodule(name), REF["activations"][f"qparams_{name}"])
    out = quantized(dlpy.tensor(DATA["image"])).data
    np.testing.assert_array_equal(out, REF["activations"]["out"])


def test_conv1d_relu_model_equals_torch():
    model = conv1d_model(nn, q, dlpy, DATA["w1d"], DATA["b"]).eval()
    model.qconfig = q.get_default_qconfig("x86")
    q.fuse_modules(model, [["1", "2"]], inplace=True)
    assert isinstance(model[1], intrinsic.ConvReLU1d)
    prepared = q.prepare(model)
    prepared(dlpy.tensor(DATA["x1d"] * 2))
    quantized = q.convert(prepared)
    assert isinstance(quantized[1], nnq.ConvReLU1d)
    np.testing.assert_array_equal(quantized(dlpy.tensor(DATA["x1d"])).data,
                                  REF["conv1d_model"]["out"])


def test_qat_with_folded_batch_norms_equals_torch():
    ref = REF["qat"]
    model = resnet_block(nn, q, dlpy, nnq.FloatFunctional, seed=1).train()
    model.qconfig = q.get_default_qat_qconfig("x86")
    q.fuse_modules_qat(model, BLOCK_FUSE, inplace=True)
    assert isinstance(model.conv1, intrinsic.ConvBnReLU2d)
    prepared = q.prepare_qat(model)
    assert isinstance(prepared.conv1, qat.ConvBnReLU2d) and isinstance(prepared.conv2,
                                                                      qat.ConvBn2d)
    optimizer = optim.SGD(prepared.parameters(), lr=0.1)
    for step, batch in enumerate(DATA["calibration"][:2]):
        out = prepared(dlpy.tensor(batch))
        np.testing.assert_allclose(out.data, ref[f"out{step}"], rtol=1e-4, atol=1e-5)
        optimizer.zero_grad()
        out.backward(ref[f"grad_out{step}"])
        np.testing.assert_allclose(prepared.conv1.weight.grad, ref[f"grad_conv1{step}"],
                                   rtol=1e-4, atol=1e-5)
        optimizer.step()
    prepared.eval()
    np.testing.assert_allclose(prepared.conv1.bn.running_var, ref["running_var"], rtol=1e-5)
    quantized = q.convert(prepared)
    assert isinstance(quantized.conv1, nnq.ConvReLU2d)
    np.testing.assert_array_equal(_ints(quantized.conv1.weight()), ref["weight_conv1"])
    out = quantized(dlpy.tensor(DATA["image"])).data
    assert np.abs(out - ref["out"]).max() <= float(quantized.fc.scale) * 1.001


def test_float_inputs_pass_through_pools_dropout_and_sigmoid():
    x = dlpy.tensor(DATA["x"][:1])
    np.testing.assert_array_equal(nnq.MaxPool2d(2)(x).data,
                                  nn.MaxPool2d(2)(x).data)
    np.testing.assert_array_equal(nnq.AdaptiveAvgPool2d(1)(x).data,
                                  nn.AdaptiveAvgPool2d(1)(x).data)
    np.testing.assert_array_equal(nnq.Dropout()(x).data, x.data)
    np.testing.assert_array_equal(nnq.Sigmoid()(x).data, nn.Sigmoid()(x).data)


def test_errors_name_the_op():
    with pytest.raises(TypeError, match="hardswish: expected a QTensor.*got Tensor"):
        qF.hardswish(dlpy.tensor(DATA["x"]))
    with pytest.raises(ValueError, match=r"max_pool2d: expected an input \(N, C, H, W\)"):
        qF.max_pool2d(X.reshape(-1), 2)
    with pytest.raises(ValueError, match=r"Conv3d: expected input \(N, 2, D, H, W\)"
                                         r", got \(2, 4, 8, 8\)") as error:
        nnq.Conv3d(2, 3, 1)(X)
    assert "Conv3d" in str(error.value)
    with pytest.raises(ValueError, match="batch_norm: expected weight, bias, mean and var of "
                                         r"shape \(4,\)"):
        qF.batch_norm(X, *np.ones((4, 3)), 1e-5, 0.1, 0)
    with pytest.raises(ValueError, match="did not find fuser method for: .*Sigmoid.*ReLU"):
        q.fuse_modules(nn.Sequential(nn.Sigmoid(), nn.ReLU()), ["0", "1"])
    with pytest.raises(TypeError, match="QTensor: quantized tensors have no arithmetic "
                                        "operators; use FloatFunctional"):
        X + X  # noqa: B018
    with pytest.raises(ValueError, match="Hardswish.from_float: the module has no "
                                         "activation_post_process"):
        nnq.Hardswish.from_float(nn.Hardswish())


def test_a_float_layer_that_gets_a_qtensor_after_convert_names_itself():
    model = nn.Sequential(q.QuantStub(), nn.Linear(3, 4), nn.GELU(), q.DeQuantStub()).eval()
    model.qconfig = q.get_default_qconfig("x86")
    prepared = q.prepare(model)
    prepared(dlpy.tensor(DATA["x"][0, 0, :2, :3]))
    with pytest.raises(TypeError, match="GELU: got a QTensor, but dlpy has no quantized GELU; "
                                        "put a DeQuantStub before it"):
        q.convert(prepared)(dlpy.tensor(DATA["x"][0, 0, :2, :3]))


def test_transposed_conv_converts_with_a_per_tensor_weight_qconfig_only():
    def prepared(qconfig):
        model = nn.Sequential(q.QuantStub(), nn.ConvTranspose2d(4, 2, 2, stride=2),
                              q.DeQuantStub()).eval()
        model.qconfig = qconfig
        ready = q.prepare(model)
        ready(dlpy.tensor(DATA["x"]))
        return model, ready

    with pytest.raises(ValueError, match="quantized.ConvTranspose2d: per-channel weights are "
                                         "not supported.*per-tensor weight observer"):
        q.convert(prepared(q.get_default_qconfig("x86"))[1])
    model, ready = prepared(q.QConfig(activation=q.HistogramObserver.with_args(
        reduce_range=True), weight=q.default_weight_observer))
    quantized = q.convert(ready)
    assert isinstance(quantized[1], nnq.ConvTranspose2d)
    x = dlpy.tensor(DATA["x"])
    error = np.abs(quantized(x).data - model(x).data).max()
    assert error < 4 * float(quantized[1].scale)
