"""Primitive ops, one family a file. Each op is a class with forward/backward on numpy arrays and a
lowercase function that applies it to tensors."""

import sys

import numpy as np

__all__ = ["Op", "broadcasts_to", "check_dim", "int_of", "real_number"]


def int_of(value) -> int | None:
    """A 0-d integer Tensor's int (torch takes one as a size or a dim: ``x.view(n, -1)`` with
    ``n = lengths.max()``), else None. Called only where a plain int was not given."""
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor) and value.data.ndim == 0 and value.data.dtype.kind in "iu":
        return int(value.data)
    return None


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether an array of `shape` broadcasts to `target` without changing it (a mask to the
    scores, a weight to its tensor)."""
    try:
        return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def real_number(name: str, what: str, value, finite: bool = True) -> float:
    """A setting that must be a real number (not a bool), as a float; nan, and inf when
    ``finite``, is a ValueError (ArgError: torch's RuntimeError too): ``leaky_relu:
    negative_slope must be a number, got '0.1'``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {what} must be a number, got {value!r}")
    value = float(value)
    if value != value or (finite and value in (float("inf"), float("-inf"))):
        raise ArgError(f"{name}: {what} must be a {'finite ' if finite else ''}number, "
                       f"got {value}")
    return value


class DimError(ValueError, IndexError):
    """A dim outside a tensor's axes: a ValueError, and torch's IndexError ("Dimension out of
    range")."""


class EmptyDimError(ValueError, IndexError):
    """A reduction with no identity (max, argmax, mode) over an axis of size 0: a ValueError,
    and torch's IndexError ("Expected reduction dim 0 to have non-zero size")."""


class RepeatedDimError(ValueError, RuntimeError):
    """A reduction whose dims name one axis twice: a ValueError, and torch's RuntimeError."""


class ArgError(ValueError, RuntimeError):
    """A bad argument (a size, a count, a shape that does not fit): a ValueError, and torch's
    RuntimeError."""


class ArgDtypeError(TypeError, RuntimeError):
    """An argument of the wrong dtype (a float mask or index, a source of another dtype): a
    TypeError, and torch's RuntimeError."""


class NoKernelError(NotImplementedError, TypeError):
    """An op given a dtype it has no kernel for (a random draw into an integer tensor): a
    TypeError, and torch's NotImplementedError ("... not implemented for 'Long'")."""


class UnsupportedArgError(NotImplementedError, ValueError):
    """A value an op has no implementation for (a padding mode for this many dims, a float
    bincount): a ValueError, and torch's NotImplementedError."""


class ArgIndexError(ValueError, IndexError):
    """A value out of its range where torch raises IndexError (an index, a class id, a
    position): a ValueError, and torch's IndexError."""


class ArgAssertionError(ValueError, AssertionError):
    """A bad argument torch refuses with an ``assert`` (a layer's sizes that do not divide):
    a ValueError, and torch's AssertionError."""


class ArgTypeAssertionError(TypeError, AssertionError):
    """An argument of the wrong type torch refuses with an ``assert``: a TypeError, and
    torch's AssertionError."""


def check_dim(name: str, dim, ndim: int, scalar_ok: bool = False,
              error: type[DimError] = DimError) -> int:
    """dim as a non-negative axis of a tensor with ndim axes (PyTorch's -ndim <= dim < ndim);
    with ``scalar_ok`` a tensor with no axes has one pseudo-axis (dim 0 or -1), as PyTorch's
    sorts and cumulative ops: ``cumsum: dim 2 is out of range for a tensor with 2 axes``.
    A dim out of range is ``error``, a DimError (a subclass for an op whose torch error is
    not IndexError: rot90's RuntimeError)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        if int_of(dim) is None:
            raise TypeError(f"{name}: dim must be an int, got {dim!r}")
        dim = int_of(dim)
    size = 1 if scalar_ok and ndim == 0 else ndim
    if not -size <= dim < size:
        if size == 0:
            raise error(f"{name}: dim {dim} is out of range: the tensor has no axes")
        raise error(f"{name}: dim {dim} is out of range for a tensor with {ndim} axes "
                    f"(expected {-size} <= dim < {size})")
    return int(dim) % size


def index_values(index) -> np.ndarray:
    """The values of a Tensor an op reads as an argument (an index, a mask): its array, or, for
    a subclass with its own ``numpy()`` (a ``__torch_dispatch__`` wrapper such as PyG's
    ``Index`` / ``EdgeIndex``, whose own array is placeholder zeros), what that returns; torch
    hands such an argument to the subclass's handler, which unwraps it to those values."""
    return index.data if type(index).numpy is Tensor.numpy else np.asarray(index.numpy())


def __getattr__(name: str):
    """``dlpy.ops.<namespace>``: the custom ops defined there (dlpy.library), as torch.ops;
    ``dlpy.ops.aten``: PyTorch's built-in ops by their ATen names (dlpy.aten)."""
    if name == "aten":
        from dlpy.aten import aten
        return aten
    library = sys.modules.get("dlpy.library")
    if library is None or name.startswith("__"):
        raise AttributeError(f"module 'dlpy.ops' has no attribute {name!r}")
    return library.namespace(name)


# after broadcasts_to: importing the engine imports the op families, which use it
from dlpy.tensor import Op, Tensor  # noqa: E402
