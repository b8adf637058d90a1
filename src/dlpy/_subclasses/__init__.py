"""torch._subclasses: the tensor subclasses torch's tracing uses (FakeTensor). dlpy runs every
program eagerly on real arrays, so it has no fake tensors: ``is_fake`` is always False and
``FakeTensor`` / ``FakeTensorMode`` exist for isinstance checks and imports only."""

from dlpy._subclasses.fake_tensor import FakeTensor, FakeTensorMode

__all__ = ["FakeTensor", "FakeTensorMode"]
