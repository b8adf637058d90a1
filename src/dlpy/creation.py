"""Making tensors, with PyTorch's names: tensor, zeros, ones, randn, arange."""

from __future__ import annotations

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Tensor


def _shape(name: str, shape) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
               for n in shape):
        raise ValueError(f"{name}: the shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``; Python floats and ints become float32 (the
    library's working precision), numpy arrays keep their dtype."""
    data = data.data if isinstance(data, Tensor) else data
    return Tensor(np.array(data, dtype=dtype, copy=True) if isinstance(data, np.ndarray)
                  else data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape("zeros", shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape("ones", shape), dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False,
          rng: np.random.Generator | None = None) -> Tensor:
    """Standard normal values from ``rng`` (None: the default generator, dlpy.manual_seed)."""
    values = get_rng(rng).standard_normal(_shape("randn", shape))
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """``arange(5)`` or ``arange(start, end, step)``: int64 for int arguments, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else np.float32
    return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad=requires_grad)
