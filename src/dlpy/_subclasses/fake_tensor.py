"""torch._subclasses.fake_tensor: libraries ask ``is_fake(x)`` to skip data-dependent code
while torch traces with fake tensors. dlpy never traces with fake tensors, so no tensor is
fake; the classes exist so that imports and isinstance checks work."""

from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Tensor

__all__ = ["FakeTensor", "FakeTensorMode", "UnsupportedFakeTensorException", "is_fake"]


class FakeTensor(Tensor):
    """torch's tensor without data (metadata only): dlpy makes none, it exists for
    ``isinstance(x, FakeTensor)``."""

    __torch_function__ = _disabled_torch_function_impl  # (defining it installs no dispatch)

    def __new__(cls, *args, **kwargs):
        raise NotImplementedError("dlpy has no fake tensors (it runs programs eagerly)")


class FakeTensorMode:
    """torch's mode that turns factory calls into fake tensors: dlpy has none to make."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("dlpy has no fake tensors (it runs programs eagerly)")


class UnsupportedFakeTensorException(RuntimeError):
    """torch's error for an op fake tensors cannot run."""


def is_fake(x) -> bool:
    """torch._subclasses.fake_tensor.is_fake: whether ``x`` is a fake tensor; always False
    in dlpy, which has none."""
    return isinstance(x, FakeTensor)
