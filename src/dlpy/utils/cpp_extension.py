"""``torch.utils.cpp_extension``: building C++/CUDA extensions against libtorch, which dlpy
(numpy, no C++ API) cannot do. The module exists so that libraries that try an extension and
fall back to Python when the build fails (``try: load(...) except Exception: ...``, peft's BOFT
for one) run their fallback: ``load``, ``load_inline`` and the setuptools helpers raise
``ExtensionBuildError`` (an ``OSError`` as torch's without a CUDA toolkit, and a
``RuntimeError`` as torch's failed build), and ``CUDA_HOME``/``ROCM_HOME``/``SYCL_HOME`` are
None, as on a machine without those toolkits.
"""

from __future__ import annotations

import shutil

__all__ = ["BuildExtension", "CUDAExtension", "CppExtension", "ExtensionBuildError",
           "CUDA_HOME", "ROCM_HOME", "SYCL_HOME", "include_paths", "is_ninja_available",
           "load", "load_inline", "verify_ninja_availability"]

CUDA_HOME = None
ROCM_HOME = None
SYCL_HOME = None


class ExtensionBuildError(OSError, RuntimeError):
    """An extension dlpy cannot build (torch raises OSError without CUDA, RuntimeError when a
    build fails)."""


def _refuse(what: str, name: str | None = None) -> ExtensionBuildError:
    named = f" {name!r}" if name else ""
    return ExtensionBuildError(
        f"{what}: dlpy cannot build the C++/CUDA extension{named}: it has no libtorch C++ API "
        "to compile against (a library's Python fallback, if it has one, is the way here)")


def load(name: str, sources, *args, **kwargs):
    """torch's ``load`` (compile ``sources`` and import them): always an
    ``ExtensionBuildError``."""
    raise _refuse("load", name)


def load_inline(name: str, cpp_sources, *args, **kwargs):
    """torch's ``load_inline``: always an ``ExtensionBuildError``."""
    raise _refuse("load_inline", name)


def CppExtension(name: str, sources, *args, **kwargs):  # noqa: N802 - torch's name
    """torch's setuptools ``Extension`` maker: always an ``ExtensionBuildError``."""
    raise _refuse("CppExtension", name)


def CUDAExtension(name: str, sources, *args, **kwargs):  # noqa: N802 - torch's name
    """torch's setuptools ``Extension`` maker for CUDA: always an ``ExtensionBuildError``."""
    raise _refuse("CUDAExtension", name)


class BuildExtension:
    """torch's setuptools ``build_ext`` command: constructing one is an
    ``ExtensionBuildError``."""

    def __init__(self, *args, **kwargs) -> None:
        raise _refuse("BuildExtension")

    @classmethod
    def with_options(cls, **options):
        """torch's ``BuildExtension.with_options``: the class (using it raises)."""
        return cls


def include_paths(device_type: str = "cpu") -> list[str]:
    """The libtorch header folders: none in dlpy."""
    return []


def is_ninja_available() -> bool:
    """Whether the ``ninja`` build tool is on PATH (as torch's)."""
    return shutil.which("ninja") is not None


def verify_ninja_availability() -> None:
    """torch's check: a RuntimeError when ``ninja`` is not on PATH."""
    if not is_ninja_available():
        raise RuntimeError("Ninja is required to load C++ extensions")
