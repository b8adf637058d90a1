"""Buffers a forward updates itself (``self.count += 1``, ``self.avg = ...``,
``self.buf.add_(x)``) under dlpy.export, dlpy.jit and dlpy.fx (the torch-recorded area
export_module_mutation has the graphs)."""

import os
import tempfile

import numpy as np
import pytest

import dlpy
from dlpy import export, fx, jit, nn


class Count(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", dlpy.zeros((), dtype=dlpy.float64))

    def forward(self, x):
        self.count += 1
        return x + self.count


class Ema(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("avg", dlpy.zeros(3, dtype=dlpy.float64))

    def forward(self, x):
        self.avg = 0.5 * self.avg + 0.5 * x
        return self.avg.sum()


def _x():
    return dlpy.tensor([0.5, -1.0, 2.0], dtype=dlpy.float64)


def test_export_module_updates_buffer_every_call():
    m = Count()
    ep = export.export(m, (_x(),))
    assert float(m.count) == 0.0  # exporting changes nothing
    mm = ep.module()
    for _ in range(3):
        y = mm(_x())
    assert float(m.count) == 3.0  # shared with the module, as torch's
    np.testing.assert_allclose(y.numpy(), _x().numpy() + 3)


def test_decomposed_program_returns_new_buffer_values():
    ep = export.export(Ema(), (_x(),)).run_decompositions()
    specs = ep.graph_signature.output_specs
    assert [s.kind.name for s in specs] == ["BUFFER_MUTATION", "USER_OUTPUT"]
    assert specs[0].target == "avg"
    md = ep.module()
    md(_x())
    md(_x())
    np.testing.assert_allclose(md.avg.numpy(), 0.75 * _x().numpy())


def test_save_load_round_trip_keeps_the_update():
    path = os.path.join(tempfile.mkdtemp(), "ema.pt2")
    export.save(export.export(Ema(), (_x(),)), path)
    mm = export.load(path).module()
    mm(_x())
    out = mm(_x())
    np.testing.assert_allclose(float(out), 0.75 * float(_x().sum()))


def test_symbolic_trace_runs_buffer_update_once_while_tracing():
    m = Count()
    gm = fx.symbolic_trace(m)
    assert float(m.count) == 1.0
    gm(_x())
    assert float(m.count) == 1.0
    assert [n.op for n in gm.graph.nodes] == ["placeholder", "get_attr", "call_function",
                                              "output"]


def test_jit_records_the_update():
    m = Count()
    scripted = jit.script(m)
    scripted(_x())
    scripted(_x())
    assert float(m.count) == 2.0


def test_proxy_outside_a_trace_is_refused_as_buffer():
    graph = fx.Graph()
    proxy = fx.Proxy(graph.placeholder("x"))
    with pytest.raises(TypeError, match="as buffer 'count'"):
        Count().count = proxy
