"""dlpy.utils.cpp_extension: ``torch.utils.cpp_extension`` imports under dlpy.compat, and every
way to build an extension raises an error a library's ``except OSError`` / ``except
RuntimeError`` fallback catches (peft's BOFT catches ``Exception`` and runs its Python path)."""

import pytest

from dlpy.utils import cpp_extension as ext


@pytest.mark.parametrize("build", [
    lambda: ext.load("fbd_cuda", ["a.cpp", "b.cu"], verbose=True),
    lambda: ext.load_inline("inl", cpp_sources=["int f() { return 1; }"]),
    lambda: ext.CppExtension("x", ["x.cpp"]),
    lambda: ext.CUDAExtension("x", ["x.cu"]),
    lambda: ext.BuildExtension.with_options(use_ninja=False)(),
])
def test_builds_refused_as_oserror_and_runtimeerror(build):
    with pytest.raises(ext.ExtensionBuildError, match="cannot build") as info:
        build()
    assert isinstance(info.value, OSError) and isinstance(info.value, RuntimeError)


def test_toolkits_absent():
    assert ext.CUDA_HOME is None and ext.ROCM_HOME is None and ext.SYCL_HOME is None
    assert ext.include_paths() == []
    assert isinstance(ext.is_ninja_available(), bool)


def test_verify_ninja_without_ninja(monkeypatch):
    monkeypatch.setattr(ext.shutil, "which", lambda name: None)
    assert not ext.is_ninja_available()
    with pytest.raises(RuntimeError, match="Ninja is required"):
        ext.verify_ninja_availability()


def test_import_through_compat():
    from dlpy import compat

    with compat.as_torch():
        from torch.utils.cpp_extension import CUDA_HOME, load
    assert CUDA_HOME is None and load is ext.load
