"""dlpy's additions to jit, profiler and onnx that the torch-recorded area does not show:
export(dynamo=True)'s ONNXProgram round trip, the default return, jit.isinstance's nesting,
the trace handler's files read back."""

import gzip
import io
import json
import os
import warnings

import numpy as np
import pytest

import dlpy
from dlpy import jit, nn, profiler


def _model():
    dlpy.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_onnx_program_round_trip(tmp_path):
    pytest.importorskip("onnxruntime")
    from dlpy import onnx as donnx

    model, x = _model(), dlpy.randn(5, 3)
    program = donnx.export(model, (x,), dynamo=True)
    assert isinstance(program, donnx.ONNXProgram)
    (got,) = program(x)
    np.testing.assert_allclose(got.data, model(x).data, atol=1e-5)
    program.save(tmp_path / "m.onnx")
    buf = io.BytesIO()
    program.save(buf)
    import onnx

    loaded = onnx.load(tmp_path / "m.onnx")
    assert loaded.SerializeToString() == buf.getvalue()
    assert [i.name for i in loaded.graph.input] == ["input_0"]


def test_onnx_export_returns():
    pytest.importorskip("onnx")
    from dlpy import onnx as donnx

    model, x = _model(), dlpy.randn(2, 3)
    assert type(donnx.export(model, (x,))).__name__ == "ModelProto"
    with pytest.warns(DeprecationWarning):
        assert donnx.export(model, (x,), io.BytesIO(), dynamo=False) is None
    with pytest.raises(NotImplementedError, match="export_params"):
        donnx.export(model, (x,), export_params=False)
    with pytest.raises(NotImplementedError, match="training"):
        donnx.export(model, (x,), training=donnx.TrainingMode.TRAINING)


def test_jit_isinstance_nested():
    value = {"a": [(1, "x")], "b": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert jit.isinstance(value, dict[str, list[tuple[int, str]]])
    assert not jit.isinstance({"a": [(1, 2)]}, dict[str, list[tuple[int, str]]])
    assert jit.isinstance(None, list[int] | None)
    with pytest.raises(RuntimeError, match="contained type"):
        jit.isinstance([1], list)


def test_optimize_for_inference_frozen():
    model, x = _model().eval(), dlpy.randn(4, 3)
    fast = jit.optimize_for_inference(jit.script(model))
    assert not list(fast.parameters())
    np.testing.assert_allclose(fast(x).data, model(x).data, rtol=1e-6)


def test_tensorboard_trace_handler_files(tmp_path):
    handler = profiler.tensorboard_trace_handler(str(tmp_path), "w", use_gzip=True)
    with profiler.profile(schedule=profiler.schedule(wait=0, warmup=1, active=1, repeat=2),
                          on_trace_ready=handler) as prof:
        for _ in range(5):
            with profiler.record_function("user_r"):
                dlpy.ones(2) + 1
            prof.step()
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and all(n.startswith("w.") and n.endswith(".pt.trace.json.gz")
                                   for n in names)
    trace = json.loads(gzip.decompress((tmp_path / names[0]).read_bytes()))
    steps = [e["name"] for e in trace["traceEvents"] if e["name"].startswith("ProfilerStep")]
    assert steps == ["ProfilerStep#1"]
    assert [e["cat"] for e in trace["traceEvents"] if e["name"] == "user_r"] == \
        ["user_annotation"]
