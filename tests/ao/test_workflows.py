"""The eager-mode workflows (dlpy/ao/quantization/quantize.py) end to end against torch on a
small conv + MLP model: fuse, prepare with get_default_qconfig('x86') (histogram observers),
calibrate, convert; prepare_qat, two SGD steps, convert; and learning tests on synthetic data."""

import numpy as np
import pytest
from cases_quantization import FUSE, draw, layer_weights, small_model

import dlpy
from dlpy import functional as F
from dlpy import nn, optim
from dlpy.ao import quantization as q
from dlpy.ao.nn import intrinsic, qat
from dlpy.ao.nn import quantized as nnq

from .helpers import reference

REF = reference("workflows")


def _post_training(weights):
    model = small_model(nn, q, dlpy, weights).eval()
    model.qconfig = q.get_default_qconfig("x86")
    q.fuse_modules(model, FUSE, inplace=True)
    prepared = q.prepare(model)
    for batch in weights["calibration"]:
        prepared(dlpy.tensor(batch))
    return model, q.convert(prepared)


def test_post_training_equals_torch():
    weights = layer_weights(0)
    ref = REF["post_training"]
    model, quantized = _post_training(weights)
    assert isinstance(model[1], intrinsic.ConvReLU2d) and isinstance(model[2], nn.Identity)
    assert isinstance(quantized[1], nnq.ConvReLU2d) and isinstance(quantized[4], nnq.LinearReLU)
    assert isinstance(quantized[0], nnq.Quantize) and isinstance(quantized[7], nnq.DeQuantize)
    assert quantized[0].scale == np.float32(ref["input_qparams"][0])
    assert quantized[0].zero_point == ref["input_qparams"][1]
    for name in ("1", "4", "6"):
        layer = quantized.get_submodule(name)
        # the float activations differ from torch's in the last bits, so may the histogram's
        # range: the scale within 1e-6, the zero point exactly
        np.testing.assert_allclose(float(layer.scale), ref[f"qparams{name}"][0], rtol=1e-6)
        assert int(layer.zero_point) == ref[f"qparams{name}"][1]
        np.testing.assert_array_equal(layer.weight().int_repr().data, ref[f"weight{name}"])
    x = dlpy.tensor(weights["x"])
    np.testing.assert_allclose(model(x).data, ref["float_out"], rtol=1e-5, atol=1e-6)
    out = quantized(x)
    assert out.dtype == np.float32
    # the output is dequantized: equal to torch's within one step of the last layer's scale
    step = float(quantized[6].scale)
    assert np.abs(out.data - ref["out"]).max() <= step * 1.001
    assert np.mean(out.data == ref["out"]) > 0.9


def test_qat_equals_torch():
    weights = layer_weights(1)
    ref = REF["qat"]
    model = small_model(nn, q, dlpy, weights).train()
    model.qconfig = q.get_default_qat_qconfig("x86")
    q.fuse_modules(model, FUSE, inplace=True)
    prepared = q.prepare_qat(model)
    assert isinstance(prepared[1], qat.ConvReLU2d) and isinstance(prepared[4], qat.LinearReLU)
    optimizer = optim.SGD(prepared.parameters(), lr=0.1)
    for step, batch in enumerate(weights["calibration"][:2]):
        out = prepared(dlpy.tensor(batch))
        np.testing.assert_allclose(out.data, ref[f"out{step}"], rtol=1e-4, atol=1e-5)
        optimizer.zero_grad()
        out.backward(ref[f"grad_out{step}"])
        np.testing.assert_allclose(prepared[4].weight.grad, ref[f"grad_fc1_w{step}"],
                                   rtol=1e-4, atol=1e-5)
        optimizer.step()
    prepared.eval()
    quantized = q.convert(prepared)
    assert isinstance(quantized[6], nnq.Linear)
    out = quantized(dlpy.tensor(weights["x"]))
    assert np.abs(out.data - ref["out"]).max() <= float(quantized[6].scale) * 1.001


def test_state_dict_of_a_quantized_model_round_trips(tmp_path):
    weights = layer_weights(0)
    _, quantized = _post_training(weights)
    state = quantized.state_dict()
    assert state["1.packed_weight"].dtype == np.int8 and state["0.scale"].dtype == np.float32
    empty = _post_training(layer_weights(2))[1]  # other weights and qparams
    x = dlpy.tensor(weights["x"])
    assert not np.array_equal(empty(x).data, quantized(x).data)
    empty.load_state_dict(state)
    np.testing.assert_array_equal(empty(x).data, quantized(x).data)
    quantized.save(tmp_path / "int8.npz")
    loaded = _post_training(layer_weights(2))[1]
    loaded.load(tmp_path / "int8.npz")
    np.testing.assert_array_equal(loaded(x).data, quantized(x).data)


def _blobs(seed: int, n: int = 256):
    """Three separable Gaussian blobs in 8 dimensions (float32)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.standard_normal((3, 8)) * 3
    x = (centres[labels] + rng.standard_normal((n, 8))).astype(np.float32)
    return x, labels


def _mlp(seed: int):
    rng = np.random.default_rng(seed)
    return nn.Sequential(q.QuantStub(), nn.Linear(8, 16, rng=rng), nn.ReLU(),
                         nn.Linear(16, 3, rng=rng), q.DeQuantStub())


def _accuracy(model, x, labels) -> float:
    return float(np.mean(np.argmax(model(dlpy.tensor(x)).data, axis=1) == labels))


def _train(model, x, labels, steps: int = 150):
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        loss = F.cross_entropy(model(dlpy.tensor(x)), dlpy.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def test_post_training_quantized_mlp_keeps_its_accuracy():
    x, labels = _blobs(0)
    model = _train(_mlp(0), x, labels).eval()
    float_accuracy = _accuracy(model, x, labels)
    assert float_accuracy > 0.95
    model.qconfig = q.get_default_qconfig("x86")
    quantized = q.quantize(model, lambda m, data: m(dlpy.tensor(data)), [x])
    assert isinstance(quantized[1], nnq.Linear)
    assert _accuracy(quantized, x, labels) >= float_accuracy - 0.02


def test_qat_learns_and_converts():
    x, labels = _blobs(1)
    model = _mlp(1).train()
    model.qconfig = q.get_default_qat_qconfig("x86")
    q.fuse_modules(model, ["1", "2"], inplace=True)
    prepared = q.prepare_qat(model)
    untrained = _accuracy(prepared, x, labels)
    _train(prepared, x, labels)
    trained = _accuracy(prepared.eval(), x, labels)
    assert trained > 0.95 and trained > untrained + 0.2
    quantized = q.convert(prepared)
    assert isinstance(quantized[1], nnq.LinearReLU)
    assert _accuracy(quantized, x, labels) >= trained - 0.02


def test_quantize_dynamic_keeps_outputs_close():
    x, labels = _blobs(2)
    model = _train(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)), x, labels)
    dynamic = q.quantize_dynamic(model, {nn.Linear}, dtype=q.qint8)
    reference_out = model(dlpy.tensor(x)).data
    out = dynamic(dlpy.tensor(x)).data
    assert np.abs(out - reference_out).max() < 0.05 * np.abs(reference_out).max()
    assert type(model[0]) is nn.Linear  # not in place


def test_errors():
    with pytest.raises(ValueError, match=r"did not find fuser method for: .*ReLU.*Linear"):
        q.fuse_modules(_mlp(0), [["2", "3"]])
    with pytest.raises(TypeError, match="prepare: expected an nn.Module, got int"):
        q.prepare(3)
    with pytest.warns(UserWarning, match="no submodule has a qconfig"):
        q.prepare(_mlp(0))
    with pytest.raises(ValueError, match="from_float: the module has no activation_post_process"):
        nnq.Linear.from_float(nn.Linear(2, 2))
    layer = draw(0, (2, 3))
    with pytest.raises(TypeError, match="DeQuantize: expected a QTensor.*got ndarray"):
        nnq.DeQuantize()(layer)


class _Residual(nn.Module):
    """quant -> linear -> relu, plus a skip connection added with FloatFunctional -> dequant."""

    def __init__(self, rng):
        super().__init__()
        self.quant, self.dequant = q.QuantStub(), q.DeQuantStub()
        self.linear = nn.Linear(8, 8, rng=rng)
        self.relu = nn.ReLU()
        self.skip = nnq.FloatFunctional()
        self.head = nn.Linear(8, 3, rng=rng)

    def forward(self, x):
        x = self.quant(x)
        x = self.skip.add(self.relu(self.linear(x)), x)
        return self.dequant(self.head(x))


def test_float_functional_becomes_qfunctional_and_keeps_outputs():
    x, _ = _blobs(3, 64)
    model = _Residual(np.random.default_rng(0)).eval()
    model.qconfig = q.default_qconfig
    prepared = q.prepare(model)
    assert isinstance(prepared.skip.activation_post_process, q.MinMaxObserver)
    prepared(dlpy.tensor(x))
    quantized = q.convert(prepared)
    assert isinstance(quantized.skip, nnq.QFunctional) and isinstance(quantized.relu, nnq.ReLU)
    reference_out = model(dlpy.tensor(x)).data
    out = quantized(dlpy.tensor(x)).data
    assert np.abs(out - reference_out).max() < 0.05 * np.abs(reference_out).max()


def test_layer_without_qconfig_stays_float():
    model = nn.Sequential(q.QuantStub(), nn.Linear(4, 4), q.DeQuantStub(), nn.Linear(4, 2))
    model.qconfig = q.default_qconfig
    model[3].qconfig = None
    prepared = q.prepare(model)
    assert not hasattr(prepared[3], "activation_post_process")
    prepared(dlpy.randn(5, 4))
    quantized = q.convert(prepared)
    assert isinstance(quantized[1], nnq.Linear) and type(quantized[3]) is nn.Linear
    assert quantized(dlpy.randn(5, 4)).shape == (5, 2)


def test_quant_wrapper():
    linear = nn.Linear(4, 3)
    linear.qconfig = q.default_qconfig
    wrapped = q.QuantWrapper(linear)
    prepared = q.prepare(wrapped)
    prepared(dlpy.randn(6, 4))
    quantized = q.convert(prepared)
    assert isinstance(quantized.quant, nnq.Quantize) and isinstance(quantized.module, nnq.Linear)
    assert quantized(dlpy.randn(2, 4)).shape == (2, 3)


def test_fuse_conv_bn_relu_matches_unfused_in_eval():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, rng=rng), nn.BatchNorm2d(3), nn.ReLU())
    model[1].running_mean = rng.standard_normal(3, dtype=np.float32)
    model[1].running_var = rng.uniform(0.5, 2, 3).astype(np.float32)
    model.eval()
    fused = q.fuse_modules(model, ["0", "1", "2"])
    assert isinstance(fused[0], intrinsic.ConvReLU2d)
    assert isinstance(fused[1], nn.Identity) and isinstance(fused[2], nn.Identity)
    x = dlpy.tensor(rng.standard_normal((2, 2, 5, 5), dtype=np.float32))
    np.testing.assert_allclose(fused(x).data, model(x).data, rtol=1e-5, atol=1e-6)
