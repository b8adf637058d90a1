"""dlpy.onnx.export: models traced, written as ONNX, run in onnxruntime, compared with dlpy."""

import sys

import numpy as np
import pytest
from cases_onnx import ATOL, check, op_types, random_tensor, run

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.data.mnist_train import CNN, MLP
from dlpy.ops.rnn import LSTMSequence

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from dlpy.onnx import CONVERTERS, export  # noqa: E402


def _initializers(proto):
    return {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}


# ----------------------------------------------------------------------------- whole models
def test_mnist_mlp_is_two_gemms_with_state_dict_names(tmp_path):
    model = MLP(rng=np.random.default_rng(0))
    x = random_tensor(np.random.default_rng(1), 5, 784)
    proto = check(model, x, input_names=["image"], output_names=["logits"])
    assert op_types(proto) == ["Gemm", "Relu", "Gemm"]
    weights = _initializers(proto)
    assert set(weights) == set(model.state_dict())
    np.testing.assert_array_equal(weights["net.0.weight"], model.net[0].weight.data)
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    # a path is written with onnx.save; the file loads and checks
    export(model, x, tmp_path / "mlp.onnx")
    onnx.checker.check_model(onnx.load(tmp_path / "mlp.onnx"))


def test_mnist_cnn():
    model = CNN(rng=np.random.default_rng(0))
    proto = check(model, random_tensor(np.random.default_rng(1), 3, 1, 28, 28))
    assert op_types(proto) == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool",
                               "Reshape", "Gemm"]


def _small_cnn():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, rng=rng), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, rng=rng),
        nn.BatchNorm2d(8, affine=False), nn.ReLU(), nn.AvgPool2d(2, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 4, rng=rng))
    for bn in (model[1], model[5]):  # running statistics that are not 0 and 1
        bn.running_mean[:] = rng.standard_normal(8)
        bn.running_var[:] = rng.uniform(0.5, 2, 8)
    return model


def test_small_cnn_with_batch_norm_pools_and_dropout_in_eval_mode():
    model = _small_cnn().train()
    x = random_tensor(np.random.default_rng(1), 2, 3, 16, 16)
    export(model, x, None)
    assert model.training and model[10].training  # exported in eval mode, the mode restored
    proto = check(model.eval(), x)
    types = op_types(proto)
    assert types.count("BatchNormalization") == 2 and "Dropout" not in types
    weights = _initializers(proto)
    np.testing.assert_array_equal(weights["1.running_var"], model[1].running_var)
    assert "0.weight" in weights and "11.bias" in weights


def test_a_buffer_read_in_forward_is_an_initializer_under_its_state_dict_name():
    class Shifted(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3, rng=np.random.default_rng(0))
            self.register_buffer("offset", np.arange(3, dtype=np.float32))

        def forward(self, x):
            return self.fc(x) + self.offset  # the buffer Tensor itself

    proto = check(Shifted(), random_tensor(np.random.default_rng(1), 2, 3))
    np.testing.assert_array_equal(_initializers(proto)["offset"], [0.0, 1.0, 2.0])


def test_small_cnn_with_a_dynamic_batch_runs_other_batch_sizes():
    model = _small_cnn().eval()
    rng = np.random.default_rng(2)
    proto = export(model, random_tensor(rng, 2, 3, 16, 16), None, input_names=["x"],
                   output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    for batch in (1, 7):
        x = random_tensor(rng, batch, 3, 16, 16)
        np.testing.assert_allclose(run(proto, x)[0], model(x).data, atol=ATOL)


def test_mlp_dynamic_batch_and_the_view_with_the_batch_size():
    """x.view(x.shape[0], -1) bakes the traced batch into the recorded shape: export keeps it
    symbolic (Reshape with 0), so the output axis is named after the input's."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 3, rng=np.random.default_rng(0))

        def forward(self, x):
            return self.fc(x.view(x.shape[0], -1)).softmax(-1)

    model = Net()
    rng = np.random.default_rng(1)
    proto = export(model, random_tensor(rng, 2, 3, 4), None, dynamic_axes={"input_0": [0]})
    out_dim = proto.graph.output[0].type.tensor_type.shape.dim[0]
    assert out_dim.dim_param == "input_0_dynamic_axes_1"
    shape = _initializers(proto)[proto.graph.node[0].input[1]]
    np.testing.assert_array_equal(shape, [0, 12])
    x = random_tensor(rng, 9, 3, 4)
    np.testing.assert_allclose(run(proto, x)[0], model(x).data, atol=ATOL)


def test_a_reshape_to_a_constant_batch_size_cannot_be_dynamic():
    class Baked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 3, rng=np.random.default_rng(0))

        def forward(self, x):
            return self.fc(x.reshape(2, 12))

    x = random_tensor(np.random.default_rng(1), 2, 3, 4)
    check(Baked(), x)  # fine with a fixed batch
    with pytest.raises(ValueError, match=r"one longer.*bakes in a size.*x.view\(x.shape\[0\]"):
        export(Baked(), x, None, dynamic_axes={"input_0": {0: "batch"}})


def test_a_constant_made_with_the_batch_size_cannot_be_dynamic():
    def model(x):
        return x + Tensor(np.ones(x.shape, dtype=np.float32))

    x = random_tensor(np.random.default_rng(1), 2, 3)
    check(model, x)
    with pytest.raises(ValueError, match=r"constant of shape \(2, 3\).*\(3, 3\)"):
        export(model, x, None, dynamic_axes={"input_0": {0: "batch"}})


class _Encoder(nn.Module):
    def __init__(self, activation="relu", norm_first=False):
        super().__init__()
        rng = np.random.default_rng(0)
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, activation=activation,
                                           batch_first=True, norm_first=norm_first, rng=rng)
        # no nested-tensor fast path: in eval under no_grad torch's would zero the padded
        # positions, which the exported graph (the plain path) does not
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3, rng=rng)

    def forward(self, src, padding_mask):
        return self.head(self.encoder(src, src_key_padding_mask=padding_mask))


def _padding_mask(batch, seq, rng):
    lengths = rng.integers(1, seq + 1, batch)
    return Tensor(np.arange(seq)[None, :] >= lengths[:, None])


@pytest.mark.parametrize("activation, norm_first", [("relu", False), ("gelu", True)])
def test_transformer_encoder_with_a_padding_mask_input_and_dynamic_batch_and_seq(
        activation, norm_first):
    model = _Encoder(activation, norm_first)
    rng = np.random.default_rng(1)
    src, mask = random_tensor(rng, 2, 5, 16), _padding_mask(2, 5, rng)
    axes = {0: "batch", 1: "seq"}
    proto = check(model, src, mask, input_names=["src", "mask"],
                  dynamic_axes={"src": axes, "mask": axes})
    assert "LayerNormalization" in op_types(proto)
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", "seq", 3]
    for batch, seq in [(1, 3), (4, 9)]:  # the mask is an input: new masks are honoured
        src, mask = random_tensor(rng, batch, seq, 16), _padding_mask(batch, seq, rng)
        np.testing.assert_allclose(run(proto, src, mask)[0], model(src, mask).data,
                                   atol=ATOL)


def test_a_causal_mask_with_a_padding_mask_input_and_a_dynamic_batch():
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True,
                                       rng=np.random.default_rng(0)).eval()
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)

    def model(src, padding_mask):
        return layer(src, src_mask=causal, src_key_padding_mask=padding_mask)

    rng = np.random.default_rng(1)
    mask = Tensor(np.array([[False] * 5, [False] * 3 + [True] * 2]))
    proto = check(model, random_tensor(rng, 2, 5, 16), mask,
                  dynamic_axes={"input_0": {0: "batch"}, "input_1": {0: "batch"}})
    np.testing.assert_array_equal(_initializers(proto)["attn_mask"],
                                  np.where(causal, -np.inf, 0))
    src, mask = random_tensor(rng, 3, 5, 16), _padding_mask(3, 5, rng)
    np.testing.assert_allclose(run(proto, src, mask)[0], model(src, mask).data, atol=ATOL)
    # a key padded in every example sequence hides its column of the causal mask
    with pytest.raises(ValueError, match=r"inputs \['input_1'\] reach no exported op"):
        export(model, (src, Tensor(np.array([[False] * 4 + [True]] * 3))), None)


def test_multihead_cross_attention_with_a_key_padding_mask():
    rng = np.random.default_rng(0)
    attention = nn.MultiheadAttention(8, 2, batch_first=True, rng=rng)

    def model(query, memory, mask):
        return attention(query, memory, memory, key_padding_mask=mask)[0]

    query, memory = random_tensor(rng, 2, 3, 8), random_tensor(rng, 2, 6, 8)
    check(model, query, memory, _padding_mask(2, 6, rng))


def test_attention_with_a_constant_causal_mask():
    rng = np.random.default_rng(0)
    causal = np.triu(np.ones((4, 4), dtype=bool), 1)

    def model(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=~causal)

    check(model, random_tensor(rng, 2, 3, 4, 5), random_tensor(rng, 2, 3, 4, 5),
          random_tensor(rng, 2, 3, 4, 6))


class _Tagger(nn.Module):
    def __init__(self, bidirectional=False, num_layers=1):
        super().__init__()
        rng = np.random.default_rng(0)
        self.embedding = nn.Embedding(20, 8, rng=rng)
        self.lstm = nn.LSTM(8, 6, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, rng=rng)
        self.head = nn.Linear(6 * (1 + bidirectional), 3, rng=rng)

    def forward(self, ids):
        output, (h, c) = self.lstm(self.embedding(ids))
        return self.head(output), h, c


@pytest.mark.parametrize("bidirectional, num_layers", [(False, 1), (True, 2)])
def test_embedding_and_lstm_map_to_gather_and_onnx_lstm(bidirectional, num_layers):
    model = _Tagger(bidirectional, num_layers)
    rng = np.random.default_rng(1)
    ids = Tensor(rng.integers(0, 20, (3, 5)))
    proto = check(model, ids, input_names=["ids"], dynamic_axes={"ids": {0: "batch"}})
    assert op_types(proto).count("LSTM") == num_layers * (1 + bidirectional)
    assert "Gather" in op_types(proto)
    ids = Tensor(rng.integers(0, 20, (6, 5)))  # another batch and other ids
    for got, expected in zip(run(proto, ids), model(ids)):
        np.testing.assert_allclose(got, expected.data, atol=ATOL)


def test_lstm_cell_states_at_every_step_have_no_onnx_form():
    """dlpy's LSTM op gives [h | c] at every step; ONNX LSTM gives c at the last step only."""
    rng = np.random.default_rng(0)
    w_hh, zeros = nn.Parameter(random_tensor(rng, 12, 3).data), Tensor(np.zeros((2, 3), np.float32))
    x_proj = random_tensor(rng, 5, 2, 12)
    states = lambda x: LSTMSequence(bias=False)(x, zeros, zeros, w_hh)  # noqa: E731
    check(lambda x: (states(x)[:, :, :3], states(x)[-1, :, 3:]), x_proj)
    with pytest.raises(NotImplementedError, match="c at the last step only"):
        export(lambda x: states(x)[:, :, 3:], x_proj)
    with pytest.raises(NotImplementedError, match="only slices of those"):
        export(lambda x: states(x) * 2, x_proj)


# ----------------------------------------------------------------------------- ops one by one
def _ops():
    """(id, function of tensors, input shapes)."""
    conv_w = random_tensor(np.random.default_rng(5), 6, 2, 3)
    conv2_w = random_tensor(np.random.default_rng(6), 4, 1, 3, 3)
    gamma = random_tensor(np.random.default_rng(7), 4)
    index = np.array([2, 0, 2])
    return [
        ("add_broadcast", lambda a, b: a + b, [(2, 3, 4), (3, 1)]),
        ("sub_constant", lambda a: 2.0 - a - 1.0, [(2, 3)]),
        ("mul_div", lambda a, b: a * b / (b * b + 1.0), [(2, 3, 4), (4,)]),
        ("neg_pow", lambda a: -(a ** 3) + a ** 2.0, [(2, 3)]),
        ("relu_sigmoid_tanh", lambda a: F.relu(a) + F.sigmoid(a) * F.tanh(a), [(2, 5)]),
        ("gelu_erf", lambda a: F.gelu(a * 3), [(4, 5)]),
        ("gelu_tanh", lambda a: F.gelu(a * 3, approximate="tanh"), [(4, 5)]),
        ("silu_leaky_elu", lambda a: F.silu(a) + F.leaky_relu(a, 0.1) + F.elu(a), [(3, 4)]),
        ("clamp", lambda a: a.clamp(-0.5, 0.7) + a.clamp(min=0.1), [(3, 4)]),
        ("softmax", lambda a: F.softmax(a, 1), [(2, 3, 4)]),
        ("log_softmax", lambda a: F.log_softmax(a, -1), [(2, 3, 4)]),
        ("matmul_batched", lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)]),
        ("matmul_broadcast", lambda a, b: F.matmul(a, b), [(2, 3, 4), (4, 5)]),
        ("linear_3d", lambda a: F.linear(a, gamma.reshape(1, 4), gamma[:1]), [(2, 3, 4)]),
        ("transpose_permute", lambda a: a.swapaxes(0, 2).permute(1, 0, 2), [(2, 3, 4)]),
        ("concat_stack", lambda a, b: F.stack([F.cat([a, b], 1), F.cat([b, a], 1)], 1),
         [(2, 3), (2, 3)]),
        ("slices", lambda a: a[:, 1:3, ::2] * 2 + a[:, -2:, 1::2], [(2, 4, 6)]),
        ("negative_step", lambda a: a[:, ::-2] + a[:, 2::-2, ::-1], [(2, 3, 3)]),
        ("int_none_ellipsis", lambda a: a[0, 1] + a[1, ..., -1] + a[:, None][1, 0, 2],
         [(2, 4, 4)]),
        ("index_array", lambda a: a[:, index] + a[index[:2], None][:, :, :1], [(3, 3)]),
        ("mean_sum", lambda a: a.mean(axis=(1, 2)) + a.sum(1).sum(-1) + a.mean(-1).sum(),
         [(2, 3, 4)]),
        ("max_min", lambda a: a.amax(-1, keepdim=True) - a.amin(0), [(3, 4)]),
        ("sqrt_exp_log", lambda a: F.sqrt(a * a + 1) + F.exp(a) + F.log(a * a + 0.5),
         [(2, 3)]),
        ("view_flatten_unsqueeze", lambda a: a.view(6, -1).flatten().unsqueeze(0)
         .reshape(2, 1, 12).squeeze(1), [(2, 3, 4)]),
        ("layer_norm", lambda a: F.layer_norm(a, gamma, gamma * 2) + F.layer_norm(a),
         [(2, 3, 4)]),
        ("conv1d", lambda a: F.conv1d(a, conv_w, None, stride=2, padding=1, dilation=2,
                                      groups=2), [(2, 4, 11)]),
        ("conv2d_depthwise", lambda a: F.conv2d(a, conv2_w, stride=(1, 2), padding=1,
                                                groups=4), [(2, 4, 7, 8)]),
        ("max_pool", lambda a: F.max_pool2d(a, 3, 2, 1, dilation=1, ceil_mode=True),
         [(2, 3, 8, 9)]),
        ("avg_pool", lambda a: F.avg_pool2d(a, 3, 2, 1, count_include_pad=False),
         [(2, 3, 8, 9)]),
        ("adaptive_avg_pool", lambda a: F.adaptive_avg_pool2d(a, 1), [(2, 3, 5, 6)]),
        ("sdpa", lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
         [(2, 3, 4), (2, 5, 4), (2, 5, 6)]),
    ]


@pytest.mark.parametrize("name, function, shapes", _ops(), ids=[op[0] for op in _ops()])
def test_op_matches_dlpy(name, function, shapes):
    rng = np.random.default_rng(0)
    check(function, *[random_tensor(rng, *s) for s in shapes])


@pytest.mark.parametrize("opset", [18, 20])
def test_later_opsets_reduce_with_axes_inputs_and_use_gelu(opset):
    rng = np.random.default_rng(0)
    proto = check(lambda a: F.gelu(a.mean(-1)) + F.gelu(a.amax(-1), approximate="tanh"),
                  random_tensor(rng, 2, 3, 4), opset_version=opset)
    assert proto.opset_import[0].version == opset
    assert ("Gelu" in op_types(proto)) == (opset >= 20)


def test_float64_models_export_as_double():
    model = MLP(rng=np.random.default_rng(0)).double()
    x = Tensor(np.random.default_rng(1).standard_normal((2, 784)))
    proto = check(model, x, atol=1e-12)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_outputs_that_are_inputs_or_repeated_get_identities():
    rng = np.random.default_rng(0)
    def model(a):
        hidden = F.relu(a)
        twice = hidden * 2.0
        return a, hidden, twice, a, hidden, twice  # an output that later ops use too

    proto = check(model, random_tensor(rng, 2, 3), output_names=["same", "Relu"])
    assert [o.name for o in proto.graph.output] == ["same", "Relu", "output_2", "output_3",
                                                    "output_4", "output_5"]


# ----------------------------------------------------------------------------- errors
def test_an_op_with_no_mapping_names_it_and_lists_the_supported_ones():
    x = random_tensor(np.random.default_rng(0), 2, 3)
    with pytest.raises(NotImplementedError,
                       match=r"export: CumProd \(from dlpy.ops.cumulative\) has no ONNX "
                             r"mapping; supported ops: .*Attention.*LSTMSequence.*Linear"):
        export(lambda a: dlpy.cumprod(a, 1), x)
    assert len(CONVERTERS) >= 90


def test_a_gather_at_traced_positions_is_refused():
    """x[:, argmax] gathers at the traced argmax: constant indices, not a max."""
    x = random_tensor(np.random.default_rng(0), 2, 3)
    with pytest.raises(NotImplementedError, match="indexing with .* is not supported"):
        export(lambda a: a[:, a.data.argmax(1)], x)


def test_an_input_that_reaches_no_op_is_an_error():
    ids = Tensor(np.array([[1, 2]]))
    embedding = nn.Embedding(5, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"inputs \['input_0'\] reach no exported op"):
        export(lambda i: embedding(Tensor(i.data + 1)), ids)


def test_bad_arguments():
    model = MLP(rng=np.random.default_rng(0))
    x = random_tensor(np.random.default_rng(1), 2, 784)
    with pytest.raises(ValueError, match=r"input_names must name the 1 tensor inputs"):
        export(model, x, None, input_names=["a", "b"])
    with pytest.raises(ValueError, match=r"dynamic_axes names 'y', which is neither"):
        export(model, x, None, dynamic_axes={"y": [0]})
    with pytest.raises(ValueError, match=r"dynamic axis 2 of input 'input_0' is out of range"):
        export(model, x, None, dynamic_axes={"input_0": [2]})
    with pytest.raises(ValueError, match=r"opset_version must be an int from 17 .* got 13"):
        export(model, x, None, opset_version=13)
    with pytest.raises(TypeError, match=r"must return a Tensor or a tuple of Tensors, got "
                                        r"ndarray"):
        export(lambda a: a.data, x)
    with pytest.raises(ValueError, match=r"output_names must name at most the 1 outputs"):
        export(model, x, None, output_names=["a", "b"])
    with pytest.raises(ValueError, match=r"names that no input has, got \['input_0'\]"):
        export(model, x, None, output_names=["input_0"])


def test_without_the_onnx_package_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    x = random_tensor(np.random.default_rng(1), 2, 3)
    with pytest.raises(ImportError, match=r"pip install dlpy\[onnx\]"):
        export(F.relu, x)


def test_dlpy_onnx_is_a_lazy_submodule():
    assert dlpy.onnx.export is export and "onnx" in dir(dlpy)
