"""The torch namespace a script touches first: dlpy.cuda / backends / mps / accelerator (a
CPU-only torch's answers), dlpy.compile and dlpy.compiler, dlpy.vmap, dlpy.utils.dlpack."""

import inspect

import numpy as np
import pytest

import dlpy
from dlpy import nn


def test_cuda_answers_as_a_cpu_only_torch():
    cuda = dlpy.cuda
    assert cuda.is_available() is False and cuda.device_count() == 0
    assert cuda.is_bf16_supported() is False and cuda.is_initialized() is False
    for no_op in (cuda.manual_seed, cuda.manual_seed_all):
        assert no_op(0) is None
    for no_op in (cuda.synchronize, cuda.empty_cache, cuda.ipc_collect,
                  cuda.reset_peak_memory_stats):
        assert no_op() is None
    assert cuda.memory_allocated() == 0 and cuda.max_memory_allocated() == 0
    assert cuda.memory_reserved() == 0
    device = "cuda" if dlpy.cuda.is_available() else "cpu"
    assert dlpy.ones(2).to(device).shape == (2,)
    for needs_gpu in (cuda.current_device, cuda.get_device_name, lambda: cuda.set_device(0),
                      cuda.Stream, lambda: cuda.get_device_properties(0)):
        with pytest.raises(RuntimeError, match="dlpy runs on the CPU \\(numpy\\); there is no "
                                               "CUDA device"):
            needs_gpu()


def test_backends_flags_are_settable():
    cudnn = dlpy.backends.cudnn
    assert cudnn.is_available() is False
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == \
        (True, False, False, True)  # torch's defaults
    saved = cudnn.benchmark
    try:
        dlpy.backends.cudnn.benchmark = True
        assert dlpy.backends.cudnn.benchmark is True
        with cudnn.flags(enabled=False, deterministic=True):
            assert cudnn.enabled is False and cudnn.deterministic is True
        assert cudnn.enabled is True and cudnn.deterministic is False
    finally:
        cudnn.benchmark = saved
    assert dlpy.backends.cuda.matmul.allow_tf32 is False
    dlpy.backends.cuda.matmul.allow_tf32 = True
    assert dlpy.backends.cuda.matmul.allow_tf32 is True
    dlpy.backends.cuda.matmul.allow_tf32 = False
    assert dlpy.backends.cuda.is_built() is False
    for backend in (dlpy.backends.mps, dlpy.backends.mkldnn, dlpy.backends.openmp,
                    dlpy.backends.mkl):
        assert backend.is_available() is False
    assert dlpy.mps.is_available() is False
    assert dlpy.accelerator.is_available() is False
    assert dlpy.accelerator.current_accelerator() is None
    assert dlpy.accelerator.device_count() == 0


def test_compile_module_is_torchs_optimized_module():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    compiled = dlpy.compile(model)
    assert type(compiled).__name__ == "OptimizedModule" and compiled._orig_mod is model
    assert list(compiled.state_dict()) == ["_orig_mod." + k for k in model.state_dict()]
    x = dlpy.randn(5, 3)
    np.testing.assert_array_equal(compiled(x).data, model(x).data)
    assert getattr(compiled, "0") is model[0] and len(compiled) == 3  # forwarded, as torch
    compiled.custom = 7  # written through to the model, as torch's
    assert model.custom == 7
    compiled.eval()
    assert model.training is False and compiled.training is False
    assert len(list(compiled.parameters())) == 4
    compiled.load_state_dict(compiled.state_dict())


def test_compile_functions_and_decorators():
    def double(x):
        """Twice x."""
        return 2 * x

    fast = dlpy.compile(double, fullgraph=True, dynamic=False)
    assert fast(3) == 6 and fast.__name__ == "double" and fast.__doc__ == "Twice x."
    assert fast.__wrapped__ is double

    @dlpy.compile
    def plain(x):
        return x + 1

    @dlpy.compile(mode="max-autotune", backend="inductor")
    def tuned(x):
        return x - 1

    assert plain(1) == 2 and tuned(1) == 0
    assert dlpy.compile(double, disable=True)(2) == 4
    with pytest.raises(RuntimeError, match="Unrecognized mode=fast, should be one of: default"):
        dlpy.compile(double, mode="fast")
    with pytest.raises(RuntimeError, match="Invalid backend: 'tensorrt', see "
                                           "`torch._dynamo.list_backends\\(\\)`"):
        dlpy.compile(double, backend="tensorrt")
    with pytest.raises(RuntimeError, match="Either mode or options can be specified"):
        dlpy.compile(double, mode="default", options={})
    assert dlpy.compile(double, name="region", recompile_limit=4)(1) == 2
    with pytest.raises(TypeError, match="unexpected keyword argument 'speed'"):
        dlpy.compile(double, speed=2)
    with pytest.raises(TypeError, match="expected a Module or a callable, got int"):
        dlpy.compile(3)
    assert dlpy.compile(double, backend=lambda gm, inputs: gm)(1) == 2  # a callable backend
    assert dlpy.compiler.is_compiling() is False and dlpy.compiler.reset() is None
    assert dlpy.compiler.disable(double) is double
    assert dlpy.compiler.disable()(double) is double


def test_compiler_markers_give_the_function_back():
    """allow_in_graph (einx calls it on its ops when it finds a torch backend) and
    assume_constant_result: the function itself, as torch's; a list gives a list."""
    def double(x):
        return 2 * x

    assert dlpy.compiler.allow_in_graph(double) is double
    assert dlpy.compiler.allow_in_graph((double, abs)) == [double, abs]
    with pytest.raises(AssertionError, match="allow_in_graph expects a callable"):
        dlpy.compiler.allow_in_graph(3)
    assert dlpy.compiler.assume_constant_result(double) is double
    assert double._dynamo_marked_constant is True


def test_vmap_is_func_vmap():
    assert dlpy.vmap is dlpy.func.vmap and "vmap" in dir(dlpy)
    x = dlpy.randn(4, 3)
    np.testing.assert_allclose(dlpy.vmap(lambda row: (row * row).sum())(x).data,
                               (x.data ** 2).sum(axis=1), rtol=1e-6)


def test_dlpack_shares_memory():
    t = dlpy.tensor(np.arange(4.0))
    array = np.from_dlpack(t)
    array[0] = 9.0
    assert t.data[0] == 9.0
    assert t.__dlpack_device__() == (1, 0)  # kDLCPU
    source = np.arange(3.0)
    shared = dlpy.utils.dlpack.from_dlpack(source)
    source[1] = -1.0
    assert shared.data[1] == -1.0
    # one function (torch-function dispatch, once a test turned it on, wraps dlpy.from_dlpack)
    assert inspect.unwrap(dlpy.from_dlpack) is inspect.unwrap(dlpy.utils.dlpack.from_dlpack)
    back = dlpy.utils.dlpack.from_dlpack(dlpy.utils.dlpack.to_dlpack(t))
    assert np.shares_memory(back.data, t.data)
