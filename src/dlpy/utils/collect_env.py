"""``torch.utils.collect_env``: the environment report users paste into bug reports.
``get_env_info()`` is a ``SystemEnv`` named tuple with torch's fields, ``get_pretty_env_info()``
the report as text (torch's lines and labels), ``main()`` prints it. dlpy fills what it can
learn without running other programs (versions of dlpy, Python, numpy and the platform); the
CUDA, compiler and driver fields are None ("Could not collect"), as torch says where it finds
none; ``torch_version`` is dlpy's version. The yes/no fields are the strings "True"/"False", as
torch's."""

from __future__ import annotations

import platform
import sys
from collections import namedtuple

__all__ = ["SystemEnv", "get_env_info", "get_pretty_env_info", "main"]

SystemEnv = namedtuple("SystemEnv", [
    "torch_version", "is_debug_build", "cuda_compiled_version", "gcc_version", "clang_version",
    "cmake_version", "os", "libc_version", "python_version", "python_platform",
    "is_cuda_available", "cuda_runtime_version", "cuda_module_loading", "nvidia_driver_version",
    "nvidia_gpu_models", "cudnn_version", "is_xpu_available", "pip_version", "pip_packages",
    "conda_packages", "hip_compiled_version", "hip_runtime_version", "miopen_runtime_version",
    "caching_allocator_config", "is_xnnpack_available", "cpu_info"])


def _packages() -> str:
    """The versions of the Python packages dlpy computes with, one ``name==version`` a line."""
    from importlib import metadata

    lines = []
    for name in ("dlpy", "numpy", "scipy"):
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines)


def get_env_info() -> SystemEnv:
    """The environment as a SystemEnv (see the module's docstring for what dlpy fills)."""
    import dlpy

    libc = " ".join(part for part in platform.libc_ver() if part) or "N/A"
    bits = 8 * (sys.maxsize.bit_length() + 1) // 8
    return SystemEnv(
        torch_version=getattr(dlpy, "__version__", "N/A"), is_debug_build="False",
        cuda_compiled_version=None, gcc_version=None, clang_version=None, cmake_version=None,
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        libc_version=libc,
        python_version=f"{sys.version.replace(chr(10), ' ')} ({bits}-bit runtime)",
        python_platform=platform.platform(), is_cuda_available="False",
        cuda_runtime_version=None, cuda_module_loading="N/A", nvidia_driver_version=None,
        nvidia_gpu_models=None, cudnn_version=None, is_xpu_available="False",
        pip_version="pip3", pip_packages=_packages(), conda_packages=None,
        hip_compiled_version="N/A", hip_runtime_version="N/A", miopen_runtime_version="N/A",
        caching_allocator_config={}, is_xnnpack_available="False",
        cpu_info=f"Architecture: {platform.machine()}")


_ENV_INFO_FMT = """
PyTorch version: {torch_version}
Is debug build: {is_debug_build}
CUDA used to build PyTorch: {cuda_compiled_version}
ROCM used to build PyTorch: {hip_compiled_version}

OS: {os}
GCC version: {gcc_version}
Clang version: {clang_version}
CMake version: {cmake_version}
Libc version: {libc_version}

Python version: {python_version}
Python platform: {python_platform}
Is CUDA available: {is_cuda_available}
CUDA runtime version: {cuda_runtime_version}
CUDA_MODULE_LOADING set to: {cuda_module_loading}
GPU models and configuration: {nvidia_gpu_models}
Nvidia driver version: {nvidia_driver_version}
cuDNN version: {cudnn_version}
Is XPU available: {is_xpu_available}
HIP runtime version: {hip_runtime_version}
MIOpen runtime version: {miopen_runtime_version}
Is XNNPACK available: {is_xnnpack_available}
Caching allocator config: {caching_allocator_config}

CPU:
{cpu_info}

Versions of relevant libraries:
{pip_packages}
{conda_packages}
""".strip()


def pretty_str(envinfo: SystemEnv) -> str:
    """The report of ``envinfo``: None fields read "Could not collect", an empty allocator
    config "N/A", each package line has its ``[pip3]`` prefix, as torch's."""
    fields = {key: "Could not collect" if value is None else value
              for key, value in envinfo._asdict().items()}
    fields["caching_allocator_config"] = envinfo.caching_allocator_config or "N/A"
    fields["pip_packages"] = "\n".join(f"[{envinfo.pip_version}] {line}"
                                       for line in (envinfo.pip_packages or "").splitlines())
    fields["conda_packages"] = envinfo.conda_packages or ""
    return _ENV_INFO_FMT.format(**fields)


def get_pretty_env_info() -> str:
    """The environment report as text (torch's format)."""
    return pretty_str(get_env_info())


def main() -> None:
    """Print the report (``python -m dlpy.utils.collect_env``)."""
    print("Collecting environment information...")
    print(get_pretty_env_info())


if __name__ == "__main__":
    main()
