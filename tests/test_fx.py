"""dlpy.fx: symbolic tracing, Graph rewriting, generated code; node tables checked against
torch.fx's (tests/fixtures/fx/node_tables.json, from tests/fixtures/make_fx_fixtures.py)."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from cases_export import first_output, leaf_roots

import dlpy
import dlpy.functional as F
from dlpy import Tensor, fx, nn
from dlpy.data.mnist_train import CNN, MLP
from dlpy.fx.experimental.optimization import fuse
from dlpy.fx.passes.shape_prop import ShapeProp
from dlpy.testing import gradcheck
from dlpy.vision.models import resnet18

TABLES = json.loads((Path(__file__).parent / "fixtures" / "fx" / "node_tables.json").read_text())


def leaf_fn(x, k):
    """Kept as one node by fx.wrap below: its body has data-dependent control flow."""
    return x * k if float(x.data.sum()) > 0 else x - k


fx.wrap("leaf_fn")


class Encoder(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, rng=rng)
        self.fc = nn.Linear(16, 3, rng=rng)

    def forward(self, x):
        return self.fc(self.layer(x).mean(1))


class Functional(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, rng=rng)
        self.scale = nn.Parameter(rng.standard_normal((4, 1, 1)).astype(np.float32))
        self.fc = nn.Linear(4 * 8 * 8, 5, rng=rng)

    def forward(self, x):
        y = F.relu(self.conv(x)) * self.scale + 1.0
        y = dlpy.relu(y - x)
        z = y.view(y.shape[0], -1)
        return self.fc(z).softmax(-1) - dlpy.flatten(y, 1)[:, :5]


def _rng():
    return np.random.default_rng(0)


def _input(rng, *shape):
    return Tensor(rng.standard_normal(shape).astype(np.float32))


MODELS = {
    "mlp": (lambda rng: MLP(rng=rng), (2, 784)),
    "cnn": (lambda rng: CNN(rng=rng), (2, 1, 28, 28)),
    "resnet18": (lambda rng: resnet18(num_classes=10, rng=rng), (2, 3, 32, 32)),
    "encoder": (Encoder, (2, 5, 16)),
    "functional": (Functional, (2, 1, 8, 8)),
}


def _table(gm):
    return [[n.op, n.name, n.target if isinstance(n.target, str) else n.target.__name__,
             str(n.args)] for n in gm.graph.nodes]


@pytest.mark.parametrize("name", list(MODELS))
def test_node_table_equals_torch_fx(name):
    gm = fx.symbolic_trace(MODELS[name][0](_rng()))
    assert _table(gm) == TABLES[name]


def _grads(model):
    return {n: p.grad.numpy().copy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_and_gradients_equal_the_module(name):
    build, shape = MODELS[name]
    rng = _rng()
    model = build(rng)
    x = _input(rng, *shape)
    gm = fx.symbolic_trace(model)
    # parameters are shared, not copied: the same objects under the same names
    assert [id(p) for p in gm.parameters()] == [id(p) for p in model.parameters()]
    assert list(gm.state_dict()) == list(model.state_dict())
    model.zero_grad()
    expected = model(x)
    (expected * expected).sum().backward()
    want = _grads(model)
    model.zero_grad()
    out = gm(x)
    (out * out).sum().backward()
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-6, atol=1e-6)
    got = _grads(gm)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_transformer_encoder_layer_traced_as_root_with_concrete_args():
    rng = _rng()
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, rng=rng, batch_first=True)
    gm = fx.symbolic_trace(layer, concrete_args={"src_mask": None, "is_causal": False})
    ops = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert ops == ["self_attn", "dropout1", "norm1", "linear1", "dropout", "linear2",
                   "dropout2", "norm2"]
    x = _input(rng, 2, 5, 16)
    mask = Tensor(np.array([[False] * 5, [False, False, False, True, True]]))
    np.testing.assert_allclose(gm(x, None, mask).data,
                               layer(x, src_key_padding_mask=mask).data, atol=1e-6)
    with pytest.raises(ValueError, match="src_mask has been specialized to have value None"):
        gm(x, np.zeros((5, 5), dtype=bool), None)


def test_generated_code_reads_like_torch_fx():
    gm = fx.symbolic_trace(Functional(_rng()))
    code = gm.code
    assert "def forward(self, x):" in code
    assert "conv = self.conv(x)" in code
    assert "relu = dlpy.functional.relu(conv, inplace = False);  conv = None" in code  # torch.fx's
    assert "mul = relu * scale;  relu = scale = None" in code
    assert "getattr_1 = relu_1.shape" in code
    assert "view = relu_1.view(getitem, -1)" in code
    assert code.rstrip().endswith("return sub_1")
    readable = gm.print_readable(print_output=False)
    assert readable.startswith("class Functional(dlpy.nn.Module):\n    def forward(self, x):")
    assert "%relu : [num_users=1] = call_function[target=dlpy.functional.relu]" in str(gm.graph)


def test_graph_edit_and_recompile_changes_forward():
    rng = _rng()
    model = Functional(rng)
    gm = fx.symbolic_trace(model)
    x = _input(rng, 2, 1, 8, 8)
    graph = gm.graph
    output = next(n for n in graph.nodes if n.op == "output")
    result = output.args[0]
    with graph.inserting_after(result):
        doubled = graph.call_function(F.mul, (result, 2.0))
    result.replace_all_uses_with(doubled, delete_user_cb=lambda user: user is not doubled)
    assert doubled.args == (result, 2.0) and output.args == (doubled,)
    graph.lint()
    gm.recompile()
    assert "mul_1 = dlpy.functional.mul(sub_1, 2.0)" in gm.code
    np.testing.assert_allclose(gm(x).data, 2 * model(x).data, rtol=1e-6)


def test_node_users_args_and_replace_input_with():
    graph = fx.Graph()
    x = graph.placeholder("x")
    y = graph.placeholder("y")
    a = graph.call_function(F.add, (x, y))
    b = graph.call_method("exp", (a,))
    graph.output((a, b))
    assert list(a.users) == [b, next(n for n in graph.nodes if n.op == "output")]
    assert [n.name for n in graph.nodes] == ["x", "y", "add", "exp", "output"]
    b.replace_input_with(a, y)
    assert b.args == (y,) and b not in a.users and b in y.users
    gm = fx.GraphModule(nn.Module(), graph)
    out_a, out_b = gm(Tensor([1.0]), Tensor([2.0]))
    np.testing.assert_allclose(out_b.data, np.exp(2.0), rtol=1e-6)
    assert out_a.data.tolist() == [3.0]


def test_erase_dead_code_and_lint_errors():
    graph = fx.Graph()
    x = graph.placeholder("x")
    unused = graph.call_function(F.exp, (x,))
    used = graph.call_function(F.relu, (x,))
    graph.output(used)
    with pytest.raises(RuntimeError, match="Tried to erase Node x but it still had 2 users"):
        graph.erase_node(x)
    assert graph.eliminate_dead_code() is True
    assert [n.name for n in graph.nodes] == ["x", "relu", "output"] and len(graph.nodes) == 3
    assert unused not in x.users
    assert graph.eliminate_dead_code() is False
    with graph.inserting_before(used):
        late = graph.call_function(F.neg, (x,))
    used.args = (late,)
    late.prepend(used)  # relu now comes before its input
    with pytest.raises(RuntimeError, match="Argument 'neg' of Node 'relu' was used before"):
        graph.lint()


def test_print_tabular(capsys):
    fx.symbolic_trace(MLP(rng=_rng())).graph.print_tabular()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["opcode", "name", "target", "args", "kwargs"]
    assert lines[3].split() == ["call_module", "net_0", "net.0", "(x,)", "{}"]
    assert len(lines) == 2 + 5


def test_control_flow_len_and_bad_roots_raise_clearly():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(fx.TraceError, match="cannot be used as inputs to control flow"):
        fx.symbolic_trace(Branchy())
    with pytest.raises(RuntimeError, match="'len' is not supported in symbolic tracing"):
        fx.symbolic_trace(lambda x: x * len(x))
    with pytest.raises(TypeError, match="symbolic_trace: expected a Module or a function, "
                                        "got int"):
        fx.symbolic_trace(3)
    with pytest.raises(ValueError, match=r"concrete_args names \['z'\]"):
        fx.symbolic_trace(lambda x: x, concrete_args={"z": 1})
    with pytest.raises(TypeError, match="a call_function node's target must be callable"):
        fx.Graph().create_node("call_function", "relu")
    with pytest.raises(ValueError, match="op must be one of"):
        fx.Graph().create_node("call_thing", F.relu)


def test_nothing_stays_swapped_after_tracing_even_after_an_error():
    from dlpy.nn.module import Module
    from dlpy.tensor import Op

    before = (Tensor.__add__, Tensor.view, Module.__call__, F.relu, dlpy.relu, Op.__call__,
              "__getattribute__" in vars(Module))
    fx.symbolic_trace(Functional(_rng()))
    with pytest.raises(fx.TraceError):
        fx.symbolic_trace(lambda x: x if x else x)
    after = (Tensor.__add__, Tensor.view, Module.__call__, F.relu, dlpy.relu, Op.__call__,
             "__getattribute__" in vars(Module))
    assert after == before


def test_unpacking_constants_wrap_and_function_roots():
    const = Tensor(np.arange(4.0, dtype=np.float32))

    def fn(x, k: float = 2.0):
        a, b = x.chunk(2, dim=-1)
        return leaf_fn(dlpy.cat([a, b * k], -1) + const, 3.0) + np.float32(1)

    gm = fx.symbolic_trace(fn)
    ops = [(n.op, n.name) for n in gm.graph.nodes]
    assert ("call_function", "getitem_1") in ops and ("call_function", "leaf_fn") in ops
    assert ("get_attr", "_tensor_constant0") in ops
    x = Tensor(np.array([[1.0, -2.0, 3.0, 4.0]], dtype=np.float32))
    np.testing.assert_allclose(gm(x).data, fn(x).data)
    np.testing.assert_allclose(gm(-x, 0.5).data, fn(-x, 0.5).data)


def test_gradcheck_through_a_graph_module_in_float64():
    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.linspace(-1.0, 1.0, 12).reshape(3, 4))

        def forward(self, x, y):
            h = F.tanh(x @ self.w)
            return (h * y.unsqueeze(-1)).sum(-1) + F.gelu(x).mean()

    gm = fx.symbolic_trace(Small())
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    y = Tensor(rng.standard_normal((2,)), requires_grad=True)
    assert gradcheck(lambda a, b: gm(a, b), x, y)


def test_is_leaf_module_override_traces_inside_layers():
    class Deep(fx.Tracer):
        def is_leaf_module(self, m, qualified_name):
            return not isinstance(m, nn.ReLU) and super().is_leaf_module(m, qualified_name)

    class Dense(nn.Linear):  # a user layer (not dlpy.nn's): traced through by default
        def forward(self, x):
            return F.linear(x, self.weight, self.bias)

    model = nn.Sequential(nn.Linear(3, 2, rng=_rng()), Dense(2, 2, rng=_rng()), nn.ReLU())
    table = [(n.op, n.name, n.target if isinstance(n.target, str) else n.target.__name__)
             for n in fx.symbolic_trace(model).graph.nodes]
    assert table[1:5] == [("call_module", "_0", "0"), ("get_attr", "_1_weight", "1.weight"),
                          ("get_attr", "_1_bias", "1.bias"), ("call_function", "linear",
                                                                "linear")]
    graph = Deep().trace(model)
    found = [(n.op, n.target if isinstance(n.target, str) else n.target.__name__)
             for n in graph.nodes]
    assert ("call_module", "0") in found and ("call_function", "relu") in found
    assert ("call_module", "2") not in found
    gm = fx.GraphModule(model, graph)
    x = _input(_rng(), 4, 3)
    np.testing.assert_allclose(gm(x).data, model(x).data, rtol=1e-6)


def test_interpreter_transformer_and_shape_prop():
    rng = _rng()
    model = CNN(rng=rng)
    gm = fx.symbolic_trace(model)
    x = _input(rng, 2, 1, 28, 28)
    np.testing.assert_allclose(fx.Interpreter(gm).run(x).data, model(x).data)

    ShapeProp(gm).propagate(x)
    shapes = {n.name: n.meta["tensor_meta"].shape for n in gm.graph.nodes if n.op != "output"}
    assert shapes == {"x": (2, 1, 28, 28), "net_0": (2, 16, 28, 28), "net_1": (2, 16, 28, 28),
                      "net_2": (2, 16, 14, 14), "net_3": (2, 32, 14, 14),
                      "net_4": (2, 32, 14, 14), "net_5": (2, 32, 7, 7), "net_6": (2, 1568),
                      "net_7": (2, 10)}
    assert gm.graph.find_nodes(op="call_module", target="net.7")[0].meta[
        "tensor_meta"].dtype == np.float32

    class ReluToGelu(fx.Transformer):
        def call_module(self, target, args, kwargs):
            if isinstance(self.fetch_attr(target), nn.ReLU):
                return self.tracer.create_proxy("call_function", F.gelu, args, kwargs)
            return super().call_module(target, args, kwargs)

    rewritten = ReluToGelu(gm).transform()
    assert [n.name for n in rewritten.graph.nodes if n.op == "call_function"] == \
        ["gelu", "gelu_1"]
    c1, _, p1, c2, _, p2, flat, fc = model.net
    expected = fc(flat(p2(F.gelu(c2(p1(F.gelu(c1(x))))))))
    np.testing.assert_allclose(rewritten(x).data, expected.data, rtol=1e-5, atol=1e-6)


def test_replace_pattern_relu_by_gelu():
    rng = _rng()
    model = Functional(rng)
    gm = fx.symbolic_trace(model)

    def pattern(x):
        return F.relu(x)

    def replacement(x):
        return F.gelu(x)

    matches = fx.replace_pattern(gm, pattern, replacement)
    assert [m.anchor.name for m in matches] == ["relu"]
    assert "dlpy.functional.gelu(conv)" in gm.code and "functional.relu" not in gm.code
    x = _input(rng, 2, 1, 8, 8)
    y = F.gelu(model.conv(x)) * model.scale + 1.0
    y = dlpy.relu(y - x)
    expected = model.fc(y.view(2, -1)).softmax(-1) - dlpy.flatten(y, 1)[:, :5]
    np.testing.assert_allclose(gm(x).data, expected.data, rtol=1e-5, atol=1e-6)
    gm.graph.lint()


def test_replace_pattern_two_node_pattern_and_outside_use():
    def model(x, w):
        a = F.relu(x + w)
        b = F.relu(a + w)
        return b * a  # a is used outside the second match's inner nodes: both still match

    gm = fx.symbolic_trace(model)

    def pattern(x, w):
        return F.relu(x + w)

    def replacement(x, w):
        return F.sigmoid(x - w)

    matches = fx.replace_pattern(gm, pattern, replacement)
    assert len(matches) == 2
    x, w = Tensor([0.5, -1.0]), Tensor([0.25, 0.25])
    a = F.sigmoid(x - w)
    np.testing.assert_allclose(gm(x, w).data, (F.sigmoid(a - w) * a).data, rtol=1e-6)


def test_fuse_conv_bn_like_the_torch_fx_tutorial():
    rng = _rng()
    model = resnet18(num_classes=10, rng=rng)
    x = _input(rng, 2, 3, 32, 32)
    model.train()
    model(x)  # running statistics that are not the defaults
    model.eval()
    fused = fuse(model)
    kinds = [type(m).__name__ for m in fused.modules()]
    assert "BatchNorm2d" not in kinds
    assert len(fused.graph.nodes) == len(fx.symbolic_trace(model).graph.nodes) - 20
    np.testing.assert_allclose(fused(x).data, model(x).data, rtol=1e-4, atol=1e-4)
    assert model.bn1.running_mean is not None and "bn1" in dict(model.named_children())


def test_graph_module_deepcopy_and_to_folder(tmp_path):
    rng = _rng()
    model = MLP(rng=rng)
    gm = fx.symbolic_trace(model)
    clone = copy.deepcopy(gm)
    assert clone.code == gm.code
    assert getattr(clone.net, "0").weight is not model.net[0].weight
    x = _input(rng, 2, 784)
    np.testing.assert_allclose(clone(x).data, gm(x).data)
    gm.to_folder(tmp_path / "saved", "Saved")
    import importlib.util

    spec = importlib.util.spec_from_file_location("saved_mlp", tmp_path / "saved" / "module.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    np.testing.assert_allclose(module.Saved()(x).data, gm(x).data)


def test_graph_module_from_a_dict_root():
    graph = fx.Graph()
    x = graph.placeholder("x")
    w = graph.get_attr("lin.weight")
    graph.output(graph.call_function(F.matmul, (x, w)))
    weight = nn.Parameter(np.eye(2, dtype=np.float32) * 3)
    gm = fx.GraphModule({"lin.weight": weight}, graph)
    assert gm.lin.weight is weight
    np.testing.assert_allclose(gm(Tensor([[1.0, 2.0]])).data, [[3.0, 6.0]])
    with pytest.raises(RuntimeError, match="referenced target lin.weight but that target "
                                           "was not provided"):
        fx.GraphModule({}, graph)


@pytest.mark.parametrize("name", ["linear", "conv2d", "batch_norm", "lstm"])
def test_a_root_that_is_a_leaf_layer_is_called_as_a_leaf_child_is(name):
    # torch.fx traces into nn.Linear's forward (F.linear); dlpy's layers check their input's
    # shape in Python, so the root is called as export calls a leaf child: functional_call
    # with its own parameters and buffers, under their own names
    layer, array = leaf_roots()[name]
    gm = fx.symbolic_trace(layer)
    gm.graph.lint()
    assert [n.target for n in gm.graph.nodes if n.op == "call_function"] == \
        [dlpy.func.functional_call]
    assert "functional_call(" in gm.code and gm.code.count("def forward(self, ") == 1
    assert list(gm.state_dict()) == list(layer.state_dict())
    assert all(dict(gm.named_parameters())[k] is p for k, p in layer.named_parameters())
    x = Tensor(np.concatenate([array, array[:1]]).astype(np.float32))  # another batch size
    np.testing.assert_array_equal(first_output(gm(x)).data, first_output(layer(x)).data)
    # a layer whose forward can be traced is traced into, as torch.fx's
    assert [n.target.__name__ for n in fx.symbolic_trace(nn.ReLU()).graph.nodes
            if n.op == "call_function"] == ["relu"]


def test_a_training_batch_norm_root_updates_its_statistics_as_eager():
    layer = nn.BatchNorm2d(3)
    eager = copy.deepcopy(layer)
    running_mean = layer.running_mean
    gm = fx.symbolic_trace(layer)
    x = _input(_rng(), 4, 3, 2, 2)
    np.testing.assert_allclose(gm(x).data, eager(x).data, rtol=1e-6)
    assert layer.running_mean is running_mean and gm.running_mean is running_mean
    for key, value in eager.state_dict().items():  # updated in place, as the eager layer's
        np.testing.assert_allclose(layer.state_dict()[key].numpy(), value.numpy(), rtol=1e-6)
    gm.eval()
    np.testing.assert_allclose(gm(x).data, eager.eval()(x).data, rtol=1e-6)
