"""dlpy.jit: trace, script, freeze, save/load (dlpy.export's safe format), the decorators and
is_tracing/is_scripting."""

import copy
import functools
import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cases_export import Mixed, first_output, inputs, leaf_roots, loss_and_grads, models, seeded

import dlpy
from dlpy import Tensor, jit, nn
from dlpy.data.mnist_train import CNN, MLP
from dlpy.export import SerializationError
from dlpy.fx import Graph, TraceError
from dlpy.ops.attention import MaskTypeError
from dlpy.vision.models import resnet18

SRC = Path(__file__).resolve().parents[1] / "src"

# built once for the four cases below, each of which uses (and changes) only its own model
shared_models = functools.cache(models)


@pytest.mark.parametrize("name", ["mlp", "cnn", "encoder_layer", "resnet18"])
def test_traced_saved_and_loaded_module_gives_the_same_outputs_and_gradients(name, tmp_path):
    model, arrays = shared_models()[name]
    traced = jit.trace(model, inputs(arrays))
    assert isinstance(traced, jit.TracedModule) and isinstance(traced.graph, Graph)
    assert re.search(r"def forward\(self, (x|src)", traced.code)  # src: torch's layer's name
    traced.save(tmp_path / "model.pt")
    loaded = jit.load(tmp_path / "model.pt")
    assert isinstance(loaded, jit.RecursiveScriptModule)
    want = loss_and_grads(model, inputs(arrays))
    got = loss_and_grads(loaded, inputs(arrays))
    np.testing.assert_array_equal(got[0], want[0])
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert sorted(got[2]) == sorted(want[2])
    for key in want[2]:
        np.testing.assert_allclose(got[2][key], want[2][key], rtol=1e-5, atol=1e-6)


def test_copies_stay_script_modules_and_pickling_is_refused():
    import copy
    import pickle

    rng = seeded()
    model = MLP(rng=rng)
    traced = jit.trace(model, Tensor(rng.standard_normal((2, 784)).astype(np.float32)))
    copied = copy.deepcopy(traced)
    assert isinstance(copied, jit.TracedModule) and copied.code == traced.code
    assert getattr(copied.net, "0").weight is not getattr(traced.net, "0").weight
    with pytest.raises(TypeError, match="not pickled; use dlpy.jit.save"):
        pickle.dumps(traced)


def test_a_traced_module_takes_other_batch_sizes():
    rng = seeded()
    model = MLP(rng=rng)
    traced = jit.trace(model, Tensor(rng.standard_normal((4, 784)).astype(np.float32)))
    x = Tensor(rng.standard_normal((9, 784)).astype(np.float32))
    np.testing.assert_array_equal(traced(x).data, model(x).data)


def test_trace_and_script_a_function():
    def f(a, b):
        return dlpy.relu(a) * b + 1.0

    a, b = Tensor(np.array([-1.0, 2.0])), Tensor(np.array([3.0, 4.0]))
    for compiled in (jit.trace(f, (a, b)), jit.script(f)):
        assert isinstance(compiled, jit.ScriptFunction)
        np.testing.assert_array_equal(compiled(a, b).data, [1.0, 9.0])
        assert "dlpy.relu" in compiled.code


def test_script_a_module_and_an_encoder_layer():
    rng = seeded()
    model = Mixed(rng).eval()
    scripted = jit.script(model)
    x = Tensor(rng.standard_normal((2, 1, 8, 8), dtype=np.float32))
    np.testing.assert_array_equal(scripted(x).data, model(x).data)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, rng=rng, batch_first=True)
    scripted = jit.script(layer)  # traced with the optional masks fixed to None
    x = Tensor(rng.standard_normal((2, 5, 16), dtype=np.float32))
    np.testing.assert_array_equal(scripted(x).data, layer(x).data)
    # a mask given: a graph traced for it, as the layer computes it (and refuses it)
    mask = Tensor(np.triu(np.full((5, 5), -np.inf, np.float32), 1))
    np.testing.assert_array_equal(scripted(x, src_mask=mask).data, layer(x, src_mask=mask).data)
    assert not np.array_equal(scripted(x, src_mask=mask).data, layer(x).data)
    with pytest.raises(MaskTypeError, match="expected a float mask"):
        scripted(x, src_mask=Tensor(np.zeros((5, 5))))
    assert jit.script(scripted) is scripted


class Branchy(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.fc = nn.Linear(3, 3, rng=rng)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow
            return self.fc(x)
        return -x


def test_data_dependent_control_flow_is_a_clear_error():
    rng = seeded()
    x = Tensor(rng.standard_normal((2, 3)))
    with pytest.raises(TraceError, match="jit.script: Branchy cannot be compiled.*no "
                                         "TorchScript compiler"):
        jit.script(Branchy(rng))
    with pytest.raises(TraceError, match="control flow"):
        jit.trace(Branchy(rng), x)


def test_freeze_folds_parameters_into_constants(tmp_path):
    rng = seeded()
    model = Mixed(rng).double().eval()
    frozen = jit.freeze(jit.script(model).eval())
    assert not frozen.graph.find_nodes(op="get_attr")
    assert list(frozen.parameters()) == [] and frozen.state_dict() == {}
    assert not [n for n in frozen.graph.nodes if n.op == "call_method" and n.target == "exp"]
    x = Tensor(rng.standard_normal((2, 1, 8, 8)))
    np.testing.assert_allclose(frozen(x).data, model(x).data, rtol=1e-12, atol=1e-12)
    jit.save(frozen, tmp_path / "frozen.pt")
    loaded = jit.load(tmp_path / "frozen.pt")
    assert list(loaded.parameters()) == []
    np.testing.assert_allclose(loaded(x).data, model(x).data, rtol=1e-12, atol=1e-12)
    model.scale.data[...] = 0.0  # the frozen copy does not follow the module
    assert not np.allclose(frozen(x).data, model(x).data)


def test_freeze_keeps_preserved_attributes():
    rng = seeded()
    model = Mixed(rng).double().eval()
    frozen = jit.freeze(jit.script(model).eval(), preserved_attrs=["scale"])
    assert [n.target for n in frozen.graph.find_nodes(op="get_attr")] == ["scale"]
    assert [name for name, _ in frozen.named_parameters()] == ["scale"]


def test_freeze_errors():
    rng = seeded()
    with pytest.raises(TypeError, match="freeze: expected a ScriptModule .* got Mixed"):
        jit.freeze(Mixed(rng).eval())
    with pytest.raises(ValueError, match=r"only implemented for modules in eval mode"):
        jit.freeze(jit.script(Mixed(rng)))


class Flags(nn.Module):
    seen: list = []

    def forward(self, x):
        Flags.seen.append((jit.is_tracing(), jit.is_scripting()))
        return x * 2 if jit.is_scripting() else x


def test_is_tracing_and_is_scripting_only_while_dlpy_traces():
    x = Tensor(np.ones(2))
    Flags.seen.clear()
    Flags()(x)
    jit.trace(Flags(), x, check_trace=False)
    traced_seen = list(Flags.seen)
    Flags.seen.clear()
    scripted = jit.script(Flags())
    assert traced_seen[0] == (False, False) and (True, False) in traced_seen
    assert Flags.seen == [(False, True)]
    np.testing.assert_array_equal(scripted(x).data, [2.0, 2.0])  # the scripted branch
    assert not jit.is_tracing() and not jit.is_scripting()


def test_decorators_are_accepted():
    def helper(x):
        return x

    assert jit.ignore(helper) is helper
    assert jit.ignore(drop=True)(helper) is helper
    assert jit.unused(helper) is helper and jit.export(helper) is helper
    assert jit.annotate(list, [1]) == [1]

    class WithHelpers(nn.Module):
        @jit.ignore
        def debug(self, x):
            return x

        @jit.export
        def other(self, x):
            return x + 1

        def forward(self, x):
            return x * 3

    scripted = jit.script(WithHelpers())
    np.testing.assert_array_equal(scripted(Tensor(np.ones(2))).data, [3.0, 3.0])


def test_save_load_errors_and_file_objects(tmp_path):
    rng = seeded()
    model = CNN(rng=rng)
    with pytest.raises(TypeError, match="jit.save: expected a ScriptModule .* got CNN"):
        jit.save(model, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="jit.trace: give example_inputs"):
        jit.trace(model)
    with pytest.raises(TypeError, match="jit.script: expected a dlpy Module or a function"):
        jit.script(3)
    buffer = io.BytesIO()
    jit.save(jit.script(model), buffer)
    buffer.seek(0)
    x = Tensor(rng.standard_normal((1, 1, 28, 28)).astype(np.float32))
    np.testing.assert_array_equal(jit.load(buffer)(x).data, model(x).data)
    dlpy.save(model.state_dict(), tmp_path / "state.pt")
    with pytest.raises(SerializationError, match="not a dlpy export archive"):
        jit.load(tmp_path / "state.pt")
    jit.save(jit.script(model), tmp_path / "m.pt", _extra_files={"meta.json": '{"v": 1}'})
    extra = {"meta.json": "", "absent.txt": ""}
    jit.load(tmp_path / "m.pt", _extra_files=extra)
    assert extra == {"meta.json": b'{"v": 1}', "absent.txt": b""}
    with pytest.raises(ValueError, match="extra_files: names must be plain file names"):
        jit.save(jit.script(model), tmp_path / "m2.pt", _extra_files={"../x": b""})


def test_an_exported_program_file_loads_as_a_script_module(tmp_path):
    rng = seeded()
    # weights from the test's generator: the default (torch's streams) takes a second longer
    model = resnet18(num_classes=3, rng=rng).eval()
    x = Tensor(rng.standard_normal((1, 3, 16, 16)).astype(np.float32))
    dlpy.export.save(dlpy.export.export(model, (x,)), tmp_path / "r18.pt2")
    loaded = jit.load(tmp_path / "r18.pt2")
    np.testing.assert_array_equal(loaded(x).data, model(x).data)


@pytest.mark.parametrize("name", ["linear", "conv2d", "batch_norm", "lstm"])
def test_a_root_that_is_a_leaf_layer_traces_scripts_and_round_trips(name, tmp_path):
    layer, array = leaf_roots()[name]
    traced = jit.trace(layer, Tensor(array.astype(np.float32)))
    assert isinstance(traced, jit.TracedModule) and "functional_call(" in traced.code
    state = layer.state_dict()
    assert list(traced.state_dict()) == list(state)
    for key, value in traced.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key].numpy())
    x = Tensor(np.concatenate([array, array[:1]]).astype(np.float32))  # another batch size
    want = first_output(layer(x)).data
    np.testing.assert_array_equal(first_output(traced(x)).data, want)
    np.testing.assert_array_equal(first_output(jit.script(layer)(x)).data, want)
    jit.save(traced, tmp_path / "layer.pt")
    loaded = jit.load(tmp_path / "layer.pt")
    assert list(loaded.state_dict()) == list(state)
    np.testing.assert_array_equal(first_output(loaded(x)).data, want)
    if name == "linear":
        frozen = jit.freeze(traced.eval())
        assert list(frozen.parameters()) == [] and frozen.state_dict() == {}
        jit.save(frozen, tmp_path / "frozen.pt")
        np.testing.assert_array_equal(jit.load(tmp_path / "frozen.pt")(x).data, want)


def test_scripted_function_calling_another_is_traced_through():
    """A scripted function that calls another scripted function (linear_operator's CG
    updates): the inner one is inlined, as TorchScript's call, and both give eager values."""
    @jit.script
    def inner(a: Tensor, b: Tensor) -> Tensor:
        return a * b + 1

    @jit.script
    def outer(a: Tensor, b: Tensor) -> Tensor:
        return inner(a, b) - a

    a, b = dlpy.tensor([1.0, 2.0, 3.0]), dlpy.tensor([0.5, -1.0, 2.0])
    assert np.allclose(outer(a, b).numpy(), (a * b + 1 - a).numpy())


def test_script_of_a_function_with_scalar_arguments_or_value_branches_runs_it_eagerly():
    """TorchScript compiles ``if keepdim is False`` and ``if torch.all(...)``; a symbolic
    trace would take one branch silently (a Proxy is not False) or fail, so such a function
    (geoopt's) becomes one call of the Python function: each call takes its own branch."""
    def summed(x, keepdim: bool = False, dim: int = -1):
        if keepdim is False:
            return x.sum(dim=dim)
        return x.sum(dim=dim, keepdim=True)

    def clipped(x, k):
        if dlpy.all(k == 0):
            return x
        return x * k

    x = Tensor(np.arange(6.0).reshape(2, 3))
    s, c = jit.script(summed), jit.script(clipped)
    assert isinstance(s, jit.ScriptFunction) and isinstance(c, jit.ScriptFunction)
    assert s(x).shape == (2,) and s(x, keepdim=True).shape == (2, 1)
    assert s(x, True, 0).shape == (1, 3)
    np.testing.assert_array_equal(c(x, Tensor(np.zeros(()))).data, x.data)
    np.testing.assert_array_equal(c(x, Tensor(np.array(2.0))).data, 2 * x.data)
    assert "summed" in s.code


class OptionalMask(nn.Module):
    """forward branches on whether ``mask`` is None; ``other`` is used only when it is."""

    def __init__(self, rng):
        super().__init__()
        self.l = nn.Linear(2, 2, rng=rng)
        self.other = nn.Linear(2, 2, rng=rng)

    def forward(self, x, mask=None, scale: float = 1.0):
        if mask is None:
            return self.other(x) * scale
        return self.l(x) * mask * scale


def test_script_runs_the_graph_traced_for_the_calls_optional_arguments():
    # the first trace had ``mask`` a placeholder (the "given" branch): a call with None used
    # to run that graph and fail inside it (or compute the wrong branch)
    rng = seeded()
    model = OptionalMask(rng)
    scripted = jit.script(model)
    x, mask = Tensor(np.array([[1.0, -2.0]], np.float32)), Tensor(np.array([[1.0, 0.0]],
                                                                           np.float32))
    np.testing.assert_array_equal(scripted(x, mask).data, model(x, mask).data)
    np.testing.assert_array_equal(scripted(x).data, model(x).data)
    np.testing.assert_array_equal(scripted(x, None, 2.0).data, model(x, None, 2.0).data)
    assert "other" not in scripted.code  # .code is the first graph's (mask given)
    assert list(scripted.state_dict()) == list(model.state_dict())  # every weight kept
    scripted.eval()
    scripted(x)
    assert model.training and not scripted.training  # the module's mode is left alone


class TwoOptionals(nn.Module):
    """Two optional tensors, each a branch; ``b``'s uses a layer only that branch reads."""

    def __init__(self, rng):
        super().__init__()
        self.l = nn.Linear(2, 3, rng=rng)
        self.scale = nn.Linear(3, 3, rng=rng)

    def forward(self, x, a: Tensor | None = None, b: Tensor | None = None):
        y = self.l(x)
        if a is not None:
            y = y + a
        if b is not None:
            y = self.scale(y) * b
        return y


def archive_document(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("archive/graph.json"))


def test_jit_save_stores_a_graph_for_every_pattern_of_the_optional_arguments(tmp_path):
    model = TwoOptionals(seeded())
    scripted = jit.script(model)
    jit.save(scripted, tmp_path / "m.pt")
    document = archive_document(tmp_path / "m.pt")
    patterns = document["meta"]["patterns"]
    assert patterns["mode"] == "presence" and patterns["names"] == ["a", "b"]
    assert patterns["base"] == [False, False] and patterns["limit"] is None
    assert sorted(map(tuple, (key for key, _ in patterns["graphs"]))) == [
        (False, True), (True, False), (True, True)]  # the base pattern is the main graph's
    assert sorted(document["graphs"]) == ["pattern_0", "pattern_1", "pattern_2"]
    assert document["meta"]["traced_given"] == ["a", "b"]  # what older dlpy reads
    assert "scale.weight" in document["attributes"] or "scale" in document["modules"]
    loaded = jit.load(tmp_path / "m.pt")
    assert list(loaded.state_dict()) == list(model.state_dict())
    x = Tensor(np.array([[1.0, -2.0], [0.5, 3.0]], np.float32))
    a, b = Tensor(np.array([1.0, 2.0, 3.0], np.float32)), Tensor(np.array([2.0, 0.5, -1.0],
                                                                          np.float32))
    for args, kwargs in [((x,), {}), ((x, a), {}), ((x, None, b), {}), ((x, a, b), {}),
                         ((x,), {"b": b}), ((x,), {"a": None, "b": None})]:
        np.testing.assert_array_equal(loaded(*args, **kwargs).data,
                                      model(*args, **kwargs).data)
    for copied in (copy.deepcopy(loaded), copy.copy(loaded), jit.freeze(loaded.eval())):
        np.testing.assert_array_equal(copied(x, None, b).data, model(x, None, b).data)
    jit.save(loaded, tmp_path / "again.pt")  # a loaded module saves its graphs again
    np.testing.assert_array_equal(jit.load(tmp_path / "again.pt")(x, b=b).data,
                                  model(x, b=b).data)
    # ``other`` is read only by the graph of mask=None: loaded and copies hold it too
    masked = OptionalMask(seeded())
    jit.save(jit.script(masked), tmp_path / "mask.pt")
    loaded = jit.load(tmp_path / "mask.pt")
    for copied in (loaded, copy.deepcopy(loaded), copy.copy(loaded)):
        assert sorted(copied.state_dict()) == sorted(masked.state_dict())
        np.testing.assert_array_equal(copied(x).data, masked(x).data)


def test_a_saved_script_runs_every_pattern_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    model = TwoOptionals(seeded())
    jit.save(jit.script(model), tmp_path / "m.pt")
    x = np.array([[1.0, -2.0]], np.float32)
    a, b = np.array([1.0, 2.0, 3.0], np.float32), np.array([2.0, 0.5, -1.0], np.float32)
    expected = [model(Tensor(x), *(None if t is None else Tensor(t) for t in args)).data
                for args in [(None, None), (a, None), (None, b), (a, b)]]
    code = ("import sys, numpy as np\nfrom dlpy import Tensor, jit\n"
            f"m = jit.load({str(tmp_path / 'm.pt')!r})\n"
            f"x, a, b = Tensor(np.array({x.tolist()}, np.float32)), "
            f"Tensor(np.array({a.tolist()}, np.float32)), "
            f"Tensor(np.array({b.tolist()}, np.float32))\n"
            "for args in [(None, None), (a, None), (None, b), (a, b)]:\n"
            "    print(m(x, *args).data.tolist())\n")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert ran.returncode == 0, ran.stderr
    got = [np.array(json.loads(line), np.float32) for line in ran.stdout.splitlines()]
    assert len(got) == 4
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_an_archive_with_one_graph_from_an_older_dlpy_still_loads(tmp_path):
    from dlpy.export._serialize import write_archive

    model = OptionalMask(seeded())
    scripted = jit.script(model)
    # what jit.save wrote before it stored every pattern: the base graph and traced_given
    inputs = [{"name": n.target, "kind": "any", "shape": [], "dtype": ""}
              for n in scripted.graph.nodes if n.op == "placeholder"]
    write_archive(tmp_path / "old.pt", scripted, {"kind": "script_module", "inputs": inputs,
                                                  "range_constraints": {},
                                                  "traced_given": ["mask"]})
    assert "graphs" not in archive_document(tmp_path / "old.pt")
    loaded = jit.load(tmp_path / "old.pt")
    x, mask = Tensor(np.ones((1, 2), np.float32)), Tensor(np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(loaded(x, mask).data, model(x, mask).data)
    np.testing.assert_array_equal(loaded(x, mask=mask, scale=2.0).data,
                                  model(x, mask, 2.0).data)
    with pytest.raises(TraceError, match=r"\(mask=None\).*archive holds one graph"):
        loaded(x)


class SevenOptionals(nn.Module):
    def forward(self, x, a: Tensor | None = None, b: Tensor | None = None,
                c: Tensor | None = None, d: Tensor | None = None,
                e: Tensor | None = None, f: Tensor | None = None,
                g: Tensor | None = None):
        for t in (a, b, c, d, e, f, g):
            if t is not None:
                x = x + t
        return x


def test_past_six_optional_arguments_only_the_scripted_pattern_is_saved(tmp_path):
    scripted = jit.script(SevenOptionals())
    jit.save(scripted, tmp_path / "m.pt")
    patterns = archive_document(tmp_path / "m.pt")["meta"]["patterns"]
    assert patterns["graphs"] == [] and "at most 6" in patterns["limit"]
    loaded = jit.load(tmp_path / "m.pt")
    x = Tensor(np.ones(2, np.float32))
    assert loaded(x, *[x] * 7).data.tolist() == [8.0, 8.0]
    assert scripted(x).data.tolist() == [1.0, 1.0]  # (the Python module traces any pattern)
    with pytest.raises(TraceError, match=r"\(c=None\).*at most 6 optional or bool arguments, "
                                         r"and forward has 7 \(a, b, c, d, e, f, g\)"):
        loaded(x, x, x, None, x, x, x, x)


class FlagScale(nn.Module):
    """``if flag`` needs flag fixed; ``k`` stays an argument."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.array([1.5, -0.5], np.float32))

    def forward(self, x, flag: bool = True, k: int = 2):
        return x * self.w * k if flag else x - k


class FlagHow(FlagScale):
    """A branch on a str: the trace with ``how`` an argument fails, so it is fixed too."""

    def forward(self, x, flag: bool = True, how: str = "add"):
        y = x * self.w if flag else x - 1
        return y + 1 if how == "add" else y


def test_a_saved_script_runs_both_values_of_its_bool_arguments(tmp_path):
    model = FlagScale()
    scripted = jit.script(model)
    jit.save(scripted, tmp_path / "m.pt")
    patterns = archive_document(tmp_path / "m.pt")["meta"]["patterns"]
    assert patterns["mode"] == "value" and patterns["names"] == ["flag"]  # (k an argument)
    assert patterns["base"] == [["bool", True]]
    assert [key for key, _ in patterns["graphs"]] == [[["bool", False]]]
    loaded = jit.load(tmp_path / "m.pt")
    x = Tensor(np.array([1.0, 2.0], np.float32))
    for args in [(), (False,), (True, 5), (False, -1)]:
        np.testing.assert_array_equal(loaded(x, *args).data, model(x, *args).data)


def test_a_fixed_str_argument_stays_fixed_in_the_saved_script(tmp_path):
    model = FlagHow()
    scripted = jit.script(model)
    jit.save(scripted, tmp_path / "m.pt")
    patterns = archive_document(tmp_path / "m.pt")["meta"]["patterns"]
    assert patterns["names"] == ["flag", "how"]
    assert patterns["base"] == [["bool", True], ["str", "add"]]
    assert [key for key, _ in patterns["graphs"]] == [[["bool", False], ["str", "add"]]]
    loaded = jit.load(tmp_path / "m.pt")
    x = Tensor(np.array([1.0, 2.0], np.float32))
    for args in [(), (False,), (True, "add")]:
        np.testing.assert_array_equal(loaded(x, *args).data, model(x, *args).data)
    with pytest.raises(TraceError, match=r"\(how='mul'\).*fixed to its default 'add'"):
        loaded(x, False, how="mul")
    np.testing.assert_array_equal(scripted(x, False, "mul").data, model(x, False, "mul").data)


def test_a_tampered_pattern_table_or_pattern_graph_is_refused(tmp_path):
    jit.save(jit.script(TwoOptionals(seeded())), tmp_path / "m.pt")
    with zipfile.ZipFile(tmp_path / "m.pt") as z:
        files = {n: z.read(n) for n in z.namelist()}

    def tampered(change) -> str:
        document = json.loads(files["archive/graph.json"])
        change(document)
        with zipfile.ZipFile(tmp_path / "bad.pt", "w") as z:
            for n, data in files.items():
                z.writestr(n, json.dumps(document) if n == "archive/graph.json" else data)
        return str(tmp_path / "bad.pt")

    def point_at_a_missing_graph(d):
        d["meta"]["patterns"]["graphs"][0][1] = "nowhere"

    def call_os_system(d):
        next(n for n in d["graphs"]["pattern_0"]
             if n["op"] == "call_function")["target"] = "os.system"

    def other_names(d):
        d["meta"]["patterns"]["names"] = ["b", "a"]

    for change, message in [(point_at_a_missing_graph, "bad patterns"),
                            (call_os_system, "'os.system', which is not one of the dlpy"),
                            (other_names, "do not match traced_given")]:
        with pytest.raises(SerializationError, match=message):
            jit.load(tampered(change))


def test_a_tampered_traced_given_list_is_refused(tmp_path):
    import zipfile

    scripted = jit.script(OptionalMask(seeded()))
    jit.save(scripted, tmp_path / "m.pt")
    with zipfile.ZipFile(tmp_path / "m.pt") as z:
        files = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in files if b'"traced_given"' in files[n])
    files[name], count = re.subn(rb'("traced_given": \[\s*)"mask"', rb'\1"nope"', files[name])
    assert count == 1
    with zipfile.ZipFile(tmp_path / "bad.pt", "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    with pytest.raises(SerializationError, match="bad traced_given"):
        jit.load(tmp_path / "bad.pt")
