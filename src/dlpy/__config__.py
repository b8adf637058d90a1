"""``torch.__config__``: how this build was made, as text. torch reports its compiler, BLAS
and build flags (``USE_MKL=ON``, ``USE_CUDA=0``, ...); libraries probe the text
(``'USE_MKL=OFF' in torch.__config__.show()``) to choose code paths. dlpy runs on numpy: its
report names numpy and numpy's BLAS, and its build settings in torch's ``NAME=VALUE`` form say
that no MKL, CUDA, ROCm, MPI or OpenMP backend is built in."""

from __future__ import annotations

import os
import platform

import numpy as np

__all__ = ["parallel_info", "show"]

# torch's build flags, as a CPU-only build with no native backend would report them
_BUILD_SETTINGS = {"BLAS_INFO": "numpy", "BUILD_TYPE": "Release", "LAPACK_INFO": "numpy",
                   "USE_CUDA": "0", "USE_CUDNN": "OFF", "USE_MKL": "OFF", "USE_MKLDNN": "OFF",
                   "USE_MPI": "OFF", "USE_NCCL": "OFF", "USE_OPENMP": "OFF", "USE_ROCM": "OFF",
                   "USE_XPU": "OFF"}


def _blas() -> str:
    """The name of the BLAS numpy is linked with ('unknown' where numpy does not say)."""
    try:
        info = np.show_config(mode="dicts")
        return str(info["Build Dependencies"]["blas"]["name"])
    except Exception:  # noqa: BLE001 - older numpy, or no such entry
        return "unknown"


def show() -> str:
    """A human-readable description of the build: dlpy's version, numpy's and its BLAS, and the
    build settings (``USE_MKL=OFF, USE_CUDA=0, ...``) in torch's ``NAME=VALUE, `` form."""
    from dlpy.version import __version__

    settings = "".join(f"{name}={value}, " for name, value in _BUILD_SETTINGS.items())
    return (f"PyTorch API {__version__} built with (dlpy):\n"
            f"  - Python {platform.python_version()}\n"
            f"  - numpy {np.__version__} (BLAS: {_blas()})\n"
            f"  - Build settings: TORCH_VERSION={__version__}, {settings}\n")


def parallel_info() -> str:
    """The threading setup, as torch's ``parallel_info()`` text: dlpy's intra-op thread count
    and the variables that set the BLAS's threads."""
    import dlpy

    lines = ["ATen/Parallel:",
             f"\tat::get_num_threads() : {dlpy.get_num_threads()}",
             f"\tat::get_num_interop_threads() : {dlpy.get_num_interop_threads()}",
             f"std::thread::hardware_concurrency() : {os.cpu_count()}",
             "Environment variables:"]
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        lines.append(f"\t{name} : {os.environ.get(name, '[not set]')}")
    lines.append("ATen parallel backend: native thread pool (numpy)")
    return "\n".join(lines) + "\n"
