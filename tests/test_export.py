"""dlpy.export: export, the graph signature (checked against torch.export's,
tests/fixtures/export/signatures.json from tests/fixtures/make_export_fixtures.py), dynamic
shapes, and the pickle-free file format (round trips and tampered files)."""

import copy
import functools
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cases_export import Mixed, first_output, inputs, leaf_roots, loss_and_grads, models, seeded

import dlpy
from dlpy import Tensor, nn
from dlpy.data.mnist_train import MLP
from dlpy.export import Dim, SerializationError, ValueRange, export, load, save
from dlpy.testing import gradcheck

SIGNATURES = json.loads((Path(__file__).parent / "fixtures" / "export" /
                         "signatures.json").read_text())


def triple(x):
    """Kept as one node by fx.wrap below: a function no saved program may call."""
    return x * 3


dlpy.fx.wrap("triple")


@functools.cache
def built_resnet18():
    """models("resnet18")'s, built once (the default initialisation, on torch's streams, takes
    over a second): each test takes a fresh copy, as the round trip moves its statistics."""
    return models("resnet18")["resnet18"]


def resnet18_case():
    model, arrays = built_resnet18()
    return copy.deepcopy(model), arrays


@pytest.mark.parametrize("name", ["mlp", "cnn", "encoder_layer", "resnet18"])
def test_saved_and_loaded_program_gives_the_same_outputs_and_gradients(name, tmp_path):
    model, arrays = resnet18_case() if name == "resnet18" else models(name)[name]
    ep = export(model, inputs(arrays))
    save(ep, tmp_path / "model.pt2")
    loaded = load(tmp_path / "model.pt2").module()
    want = loss_and_grads(model, inputs(arrays))
    got = loss_and_grads(loaded, inputs(arrays))
    np.testing.assert_array_equal(got[0], want[0])
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert sorted(got[2]) == sorted(want[2])  # the loaded module has every parameter
    for key in want[2]:
        np.testing.assert_allclose(got[2][key], want[2][key], rtol=1e-5, atol=1e-6)
    if name == "resnet18":  # trained-mode batch norm: the statistics move the same way
        np.testing.assert_array_equal(loaded.bn1.running_mean, model.bn1.running_mean)


def test_lifted_graph_module_is_a_pure_function_of_state_andinputs():
    model, arrays = models("mlp")["mlp"]
    ep = export(model, inputs(arrays))
    state = [ep.state_dict[spec.target] for spec in ep.graph_signature.input_specs
             if spec.target is not None]
    x = inputs(arrays)[0]
    np.testing.assert_array_equal(ep.graph_module(*state, x).data, model(x).data)
    placeholders = [n.name for n in ep.graph.nodes if n.op == "placeholder"]
    assert placeholders == [s.arg.name for s in ep.graph_signature.input_specs]
    assert not ep.graph.find_nodes(op="call_module", target="net.0")  # lifted: functional


@pytest.mark.parametrize("name", ["mlp", "mixed"])
def test_graph_signature_matches_torch_export(name):
    rng = seeded()
    if name == "mlp":
        model, x = MLP(rng=rng), Tensor(rng.standard_normal((4, 784), dtype=np.float32))
    else:
        model, x = Mixed(rng).eval(), Tensor(rng.standard_normal((2, 1, 8, 8), dtype=np.float32))
    signature = export(model, (x,)).graph_signature
    got = [[s.kind.name, s.arg.name, s.target, s.persistent] for s in signature.input_specs]
    assert got == SIGNATURES[name]["inputs"]
    assert len(signature.user_outputs) == SIGNATURES[name]["user_outputs"]
    assert [s.kind.name for s in signature.output_specs] == ["USER_OUTPUT"]


def test_signature_views_and_state_dict():
    rng = seeded()
    model = Mixed(rng)
    ep = export(model, (Tensor(rng.standard_normal((2, 1, 8, 8), dtype=np.float32)),))
    signature = ep.graph_signature
    assert signature.parameters[0] == "scale"
    assert signature.buffers == ["shift", "bn.running_mean", "bn.running_var",
                                 "bn.num_batches_tracked"]
    assert signature.inputs_to_parameters["p_fc_weight"] == "fc.weight"
    assert signature.user_inputs == ["x"]
    assert ep.state_dict["fc.weight"] is model.fc.weight  # shared, not copied
    assert set(ep.state_dict) == set(model.state_dict())


def test_dynamic_batch_runs_another_size_and_static_dim_refuses():
    model, arrays = models("mlp")["mlp"]
    ep = export(model, inputs(arrays), dynamic_shapes={"x": {0: Dim("batch", max=64)}})
    assert ep.range_constraints == {"batch": ValueRange(*SIGNATURES["mlp_batch_range"])}
    m = ep.module()
    x7 = Tensor(seeded().standard_normal((7, 784)).astype(np.float32))
    np.testing.assert_array_equal(m(x7).data, model(x7).data)
    with pytest.raises(ValueError, match=r"expected x.shape\[1\] == 784 \(a static dim"):
        m(Tensor(np.zeros((4, 785), np.float32)))
    with pytest.raises(ValueError, match=r"dim 'batch'\) in \[0, 64\], got 65"):
        m(Tensor(np.zeros((65, 784), np.float32)))
    with pytest.raises(ValueError, match="must have 2 dims"):
        m(Tensor(np.zeros((784,), np.float32)))
    static = export(model, inputs(arrays)).module()
    with pytest.raises(ValueError, match=r"expected x.shape\[0\] == 4"):
        static(x7)


def test_dynamic_dims_survive_save_and_load(tmp_path):
    rng = seeded()
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, rng=rng, batch_first=True)
    batch, seq = dlpy.export.dims("batch", "seq", max=32)
    ep = export(layer, (Tensor(rng.standard_normal((2, 5, 16), dtype=np.float32)),),
                dynamic_shapes=((batch, seq, None),))
    save(ep, tmp_path / "layer.pt2")
    m = load(tmp_path / "layer.pt2").module()
    x = Tensor(rng.standard_normal((3, 9, 16), dtype=np.float32))
    np.testing.assert_array_equal(m(x).data, layer(x).data)
    with pytest.raises(ValueError, match=r"src.shape\[2\] == 16"):
        m(Tensor(rng.standard_normal((3, 9, 8), dtype=np.float32)))


def test_dims_shared_by_two_inputs_must_agree():
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    batch = Dim("batch")
    ep = export(Add(), (Tensor(np.ones((2, 3))), Tensor(np.ones((2, 3)))),
                dynamic_shapes={"a": {0: batch}, "b": {0: batch}})
    m = ep.module()
    assert m(Tensor(np.ones((5, 3))), Tensor(np.ones((5, 3)))).shape == (5, 3)
    with pytest.raises(ValueError, match="share dim 'batch' and must be equal"):
        m(Tensor(np.ones((5, 3))), Tensor(np.ones((4, 3))))


def test_a_dim_the_program_cannot_change_is_refused_at_export():
    model, arrays = models("mlp")["mlp"]
    with pytest.raises(ValueError, match="Constraints violated.*Mark those dims static"):
        export(model, inputs(arrays), dynamic_shapes={"x": {1: Dim("features")}})
    with pytest.raises(ValueError, match=r"x.shape\[0\] is 4, outside batch's range \[8, 16\]"):
        export(model, inputs(arrays), dynamic_shapes={"x": {0: Dim("batch", min=8, max=16)}})


def test_export_leaves_batch_norm_statistics_alone():
    model, arrays = resnet18_case()
    running_mean = model.bn1.running_mean
    before = running_mean.clone()
    export(model, inputs(arrays), dynamic_shapes={"x": {0: Dim.AUTO}})
    assert model.bn1.running_mean is running_mean  # put back in place, as torch's
    np.testing.assert_array_equal(running_mean.numpy(), before.numpy())


def test_a_buffer_read_in_a_traced_forward_is_a_buffer_input():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", np.array([2.0, 3.0]))

        def forward(self, x):
            return x * self.scale.reshape(1, -1)  # a method of the buffer Tensor: recorded

    model = Scaled()
    ep = export(model, (Tensor(np.ones((1, 2))),))
    assert ep.graph_signature.buffers == ["scale"]
    assert ep.graph_signature.lifted_tensor_constants == []
    assert ep.state_dict["scale"] is model.scale
    model.scale[...] = 5.0  # the program reads the module's buffer, not a copy taken at export
    np.testing.assert_array_equal(ep.module()(Tensor(np.ones((1, 2)))).data, [[5.0, 5.0]])


def test_non_tensor_inputs_are_specialised_and_defaults_dropped():
    class Scale(nn.Module):
        def forward(self, x, k, mask=None):
            return x * k if mask is None else x * k * mask

    ep = export(Scale(), (Tensor(np.ones(3)), 3.0))
    assert ep.graph_signature.user_inputs == ["x", 3.0]  # a constant: its value, as torch
    m = ep.module()
    np.testing.assert_array_equal(m(Tensor(np.ones(3)), 3.0).data, [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="k has been specialized to have value 3.0"):
        m(Tensor(np.ones(3)), 4.0)
    with pytest.raises(ValueError, match="kwarg keyword mismatch"):  # exported positionally
        m(Tensor(np.ones(3)), k=3.0)


def test_strict_catches_what_the_trace_cannot_see():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * self.calls

    export(Counter(), (Tensor(np.ones(2)),))
    with pytest.raises(ValueError, match=r"strict=True.*outputs differ"):
        export(Counter(), (Tensor(np.ones(2)),), strict=True)


def test_run_decompositions_with_an_empty_table_is_the_identity():
    model, arrays = models("cnn")["cnn"]
    ep = export(model, inputs(arrays))
    decomposed = ep.run_decompositions({})  # None: the default table (test_export_decompositions)
    assert decomposed is not ep and decomposed.graph_module.code == ep.graph_module.code
    x = inputs(arrays)[0]
    np.testing.assert_array_equal(decomposed.module()(x).data, ep.module()(x).data)


def test_gradcheck_through_a_loaded_program_in_float64(tmp_path):
    rng = seeded()
    model = Mixed(rng).double().eval()
    save(export(model, (Tensor(rng.standard_normal((2, 1, 8, 8))),)), tmp_path / "m.pt2")
    loaded = load(tmp_path / "m.pt2").module()
    x = Tensor(rng.standard_normal((2, 1, 8, 8)), requires_grad=True)
    assert gradcheck(loaded, x)


def test_save_to_a_file_object_and_the_archive_layout():
    model, arrays = models("mlp")["mlp"]
    buffer = io.BytesIO()
    save(export(model, inputs(arrays)), buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert sorted(archive.namelist()) == ["archive/code.py", "archive/graph.json",
                                              "archive/version", "archive/weights.safetensors"]
        assert "def forward(self, x):" in archive.read("archive/code.py").decode()
    buffer.seek(0)
    x = inputs(arrays)[0]
    np.testing.assert_array_equal(load(buffer).module()(x).data, model(x).data)


# ---------------------------------------------------------------------------- tampering
def _archive(tmp_path):
    rng = seeded()
    model = Mixed(rng).eval()
    path = tmp_path / "m.pt2"
    save(export(model, (Tensor(rng.standard_normal((2, 1, 8, 8), dtype=np.float32)),)), path)
    return model, path


def _rewrite(path, edit_graph=None, members=None):
    with zipfile.ZipFile(path) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    if edit_graph is not None:
        document = json.loads(contents["archive/graph.json"])
        edit_graph(document)
        contents["archive/graph.json"] = json.dumps(document).encode()
    contents.update(members or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def _node(document, name):
    return next(n for n in document["nodes"] if n["name"] == name)


def _set(node_name, **changes):
    return lambda document: _node(document, node_name).update(changes)


@pytest.mark.parametrize("edit, message", [
    (_set("relu", target="os.system"), "calls 'os.system', which is not one of the dlpy"),
    (_set("relu", target="dlpy.save"), "calls 'dlpy.save', which is not one of the dlpy"),
    (_set("exp", target="__class__"), "calls method '__class__', which is not a Tensor method"),
    (_set("getattr_1", args={"__tuple__": [{"__node__": "add"}, "__class__"]}),
     "reads attribute .*__class__.*not a Tensor attribute"),
    (_set("relu", name="x; import os"), "bad or repeated node name"),
    (_set("relu", args={"__tuple__": [{"__function__": "builtins.eval"}]}),
     "calls 'builtins.eval'"),
    (_set("relu", args={"__tuple__": [{"__node__": "fc"}]}), "uses node 'fc' before it is"),
    (_set("conv", target="conv2"), "uses 'conv2', which the file does not define"),
    (_set("relu", kwargs={"__dict__": [["a=1)or(b", 1]]}), "malformed args or kwargs"),
    (_set("relu", op="call_python"), "unknown opcode 'call_python'"),
    (lambda d: d["modules"]["conv"].update({"class": "subprocess:Popen"}),
     "'subprocess:Popen' is not one of dlpy.nn's layers"),
    (lambda d: d["modules"]["conv"].update({"class": "dlpy.fx.graph_module:GraphModule"}),
     "not one of dlpy.nn's layers"),
    (lambda d: d["modules"]["conv"]["attributes"].update({"__class__": 1}),
     "bad attribute name '__class__'"),
    (lambda d: d["modules"]["conv"]["attributes"].update({"stride": {"__pickle__": "x"}}),
     "unexpected value"),
    (lambda d: d["attributes"]["scale"].update({"key": "nowhere"}),
     "tensor 'nowhere', which the weights do not hold"),
    (lambda d: d.update({"version": "0"}), "format version '0'"),
    (lambda d: d["meta"]["inputs"][0].update({"shape": ["nope"]}), "bad input spec"),
    (lambda d: d["modules"]["fc"]["attributes"].update({"in_features": {"__tuple__": 7}}),
     "unexpected value"),
    (lambda d: d["modules"]["bn"]["parameters"].update({"weight": {"key": "bn.weight",
                                                                   "requires_grad": 1}}) or
     d["modules"]["bn"]["children"].update({"x": []}), "malformed"),
])
def test_a_tampered_file_is_refused(tmp_path, edit, message):
    _, path = _archive(tmp_path)
    _rewrite(path, edit)
    with pytest.raises(SerializationError, match=message):
        load(path)


def test_stored_code_is_never_run(tmp_path):
    model, path = _archive(tmp_path)
    _rewrite(path, members={"archive/code.py": b"raise SystemExit('ran the stored code')"})
    x = Tensor(seeded().standard_normal((2, 1, 8, 8), dtype=np.float32))
    np.testing.assert_array_equal(load(path).module()(x).data, model(x).data)


def test_not_an_archive_is_a_clear_error(tmp_path):
    model, path = _archive(tmp_path)
    data = path.read_bytes()
    (tmp_path / "cut.pt2").write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="cut.pt2: not a readable dlpy export"):
        load(tmp_path / "cut.pt2")
    dlpy.save(model.state_dict(), tmp_path / "state.pt")
    with pytest.raises(SerializationError, match="not a dlpy export archive"):
        load(tmp_path / "state.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt2: no such file"):
        load(tmp_path / "missing.pt2")


def test_bad_arguments_are_clear_errors():
    model, arrays = models("mlp")["mlp"]
    x = inputs(arrays)[0]
    with pytest.raises(TypeError, match="export: expected a dlpy.nn.Module, got function"):
        export(lambda x: x, (x,))
    with pytest.raises(TypeError, match=r"args must be a tuple .* \(write \(x,\)"):
        export(model, x)
    with pytest.raises(TypeError, match="do not match MLP.forward"):
        export(model, (x, x))
    with pytest.raises(ValueError, match="dynamic_shapes names 'y', which is not an input"):
        export(model, (x,), dynamic_shapes={"y": {0: Dim("b")}})
    with pytest.raises(TypeError, match=r"dynamic_shapes\['x'\]\[0\] must be a Dim"):
        export(model, (x,), dynamic_shapes={"x": {0: 5}})
    with pytest.raises(ValueError, match="Dim: name must be a Python identifier"):
        Dim("no good")
    with pytest.raises(ValueError, match="expected 0 <= min <= max"):
        Dim("b", min=5, max=2)
    ep = export(model, (x,))
    with pytest.raises(TypeError, match=r"call exported_program.module\(\)"):
        ep(x)
    with pytest.raises(TypeError, match="save: expected an ExportedProgram, got MLP"):
        save(model, io.BytesIO())


def test_a_graph_calling_a_foreign_function_cannot_be_saved():
    class Calls(nn.Module):
        def forward(self, x):
            return triple(x)

    ep = export(Calls(), (Tensor(np.ones(2)),))
    np.testing.assert_array_equal(ep.module()(Tensor(np.ones(2))).data, [3.0, 3.0])
    with pytest.raises(ValueError, match=r"calls .*triple, which is not one of dlpy's "):
        save(ep, io.BytesIO())


@pytest.mark.parametrize("name", ["linear", "conv2d", "batch_norm", "lstm"])
def test_a_root_that_is_a_leaf_layer_exports_with_its_state_unprefixed(name):
    layer, array = leaf_roots()[name]
    x = Tensor(array.astype(np.float32))
    ep = export(layer, (x,))
    signature = ep.graph_signature
    assert signature.parameters == [k for k, _ in layer.named_parameters()]
    assert signature.buffers == [k for k, _ in layer.named_buffers()]
    # the forward's argument: torch's "input" (each layer's), a builtin's name the exported
    # graph keeps (as torch.export's; fx's symbolic_trace says "input_1")
    assert signature.user_inputs == ["input"]
    assert all(ep.state_dict[k] is p for k, p in layer.named_parameters())
    want = first_output(layer(x)).data
    np.testing.assert_array_equal(first_output(ep.module()(x)).data, want)
    state = [ep.state_dict[k] for k in signature.parameters + signature.buffers]
    np.testing.assert_array_equal(first_output(ep.graph_module(*state, x)).data, want)
    buffer = io.BytesIO()
    save(ep, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(first_output(load(buffer).module()(x)).data, want)


def test_a_training_batch_norm_root_exports_as_a_wrapped_one():
    layer = nn.BatchNorm2d(3)
    eager = copy.deepcopy(layer)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32))
    ep = export(layer, (x,))
    np.testing.assert_array_equal(layer.running_mean.numpy(), np.zeros(3))  # left alone
    np.testing.assert_allclose(ep.module()(x).data, eager(x).data, rtol=1e-6)
    for key, value in eager.state_dict().items():  # the program updates the layer's buffers
        np.testing.assert_allclose(layer.state_dict()[key].numpy(), value.numpy(), rtol=1e-6)


def test_structured_inputs_are_flattened_by_path():
    class M(nn.Module):
        def forward(self, xs, d):
            return xs[0] + xs[1] * d["k"]

    args = ([Tensor(np.ones(2)), Tensor(np.ones(2))], {"k": Tensor(np.full(2, 3.0))})
    ep = export(M(), args)
    assert ep.graph_signature.user_inputs == ["xs_0", "xs_1", "d_k"]
    m = ep.module()
    np.testing.assert_array_equal(
        m([Tensor(np.zeros(2)), Tensor(np.ones(2))], {"k": Tensor(np.full(2, 2.0))}).data,
        [2.0, 2.0])
    with pytest.raises(ValueError, match="exported input tree spec"):
        m((Tensor(np.zeros(2)), Tensor(np.ones(2))), {"k": Tensor(np.ones(2))})
