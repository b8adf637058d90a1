"""The modules added for torch's names dlpy lacked: autograd.profiler, ao.quantization's
fuse_modules / fuser_method_mappings / qconfig_mapping, overrides.get_testing_overrides,
library.register_autocast, aten.overload_of (selective checkpointing's policies)."""

import inspect
import json

import dlpy
import dlpy.compat
from dlpy import nn


def test_autograd_profiler_module_and_trace(tmp_path):
    import dlpy.autograd.profiler as profiler

    from dlpy.autograd import grad  # the autograd module keeps its names

    assert callable(grad)
    with profiler.profile() as prof:
        with profiler.record_function("block"):
            dlpy.ones(2) + 1
    assert [e.name for e in prof.function_events if e.name == "block"] == ["block"]
    assert prof.total_average().count == len(prof.function_events)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    assert "block" in {e["name"] for e in json.loads(path.read_text())["traceEvents"]}


def test_fuse_modules_submodule_under_compat_keeps_the_function():
    with dlpy.compat.as_torch():
        import sys

        import torch.ao.quantization as q
        from torch.ao.quantization.fuse_modules import fuse_known_modules

        fm = sys.modules["torch.ao.quantization.fuse_modules"]
        assert callable(q.fuse_modules) and fm.fuse_modules is q.fuse_modules
        assert fm.fuse_known_modules is fuse_known_modules
    assert callable(dlpy.ao.quantization.fuse_modules)


def test_qconfig_mapping_round_trip():
    from dlpy.ao.quantization import QConfigMapping, default_qconfig

    q = (QConfigMapping().set_global(default_qconfig).set_object_type(nn.Linear, None)
         .set_module_name_regex("a.*", default_qconfig).set_module_name("b", None)
         .set_module_name_object_type_order("c", nn.ReLU, 1, default_qconfig))
    p = QConfigMapping.from_dict(q.to_dict())
    assert p.to_dict() == q.to_dict()
    assert "global_qconfig" in repr(p)


def test_testing_overrides_signatures():
    try:
        d = dlpy.overrides.get_testing_overrides()
        assert d[dlpy.add](1, 2) == -1
        assert list(inspect.signature(d[dlpy.add]).parameters)[:2] == ["input", "other"]
    finally:
        dlpy.overrides._uninstall()  # dispatch installed by the call: the plain callables back


def test_register_autocast_lib_undo():
    lib = dlpy.library.Library("mmf_unit", "FRAGMENT")
    lib.define("mm2(Tensor a, Tensor b) -> Tensor")
    lib.impl("mm2", lambda a, b: a @ b, "CPU")
    dlpy.library.register_autocast("mmf_unit::mm2", "cpu", dlpy.float16, lib=lib)
    op = dlpy.ops.mmf_unit.mm2.default
    a = dlpy.ones(2, 2)
    with dlpy.autocast("cpu", dtype=dlpy.float16):
        assert op(a, a).dtype == dlpy.float16
    lib._destroy()
    assert op._autocast == {}


def test_overload_of():
    from dlpy.aten import aten, overload_of
    from dlpy.ops.matmul import MatMul

    assert overload_of(MatMul(), (dlpy.ones(2, 3), dlpy.ones(3, 4))) is aten.mm.default
    assert overload_of(MatMul(), (dlpy.ones(2, 2, 3), dlpy.ones(2, 3, 4))) is aten.bmm.default
    assert overload_of(MatMul(), (dlpy.ones(4, 2, 3), dlpy.ones(3, 4))) is None
