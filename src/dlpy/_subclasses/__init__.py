"""torch._subclasses: the tensor subclasses torch's tracing uses. ``FakeTensorMode`` and
``FakeTensor`` (``dlpy._subclasses.fake_tensor``): tensors with a shape, a dtype and a (fake)
device and no values, built on dlpy's meta device: factories and layers inside the mode make
them, ops on them give them (shapes, dtypes, autograd, FLOP counts), value reads raise torch's
errors."""

from dlpy._subclasses.fake_tensor import FakeTensor, FakeTensorMode

__all__ = ["FakeTensor", "FakeTensorMode"]
