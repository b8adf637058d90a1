"""Primitive ops, one family a file. Each op is a class with forward/backward on numpy arrays and a
lowercase function that applies it to tensors."""

import numpy as np

__all__ = ["Op", "broadcasts_to"]


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether an array of `shape` broadcasts to `target` without changing it (a mask to the
    scores, a weight to its tensor)."""
    try:
        return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


# after broadcasts_to: importing the engine imports the op families, which use it
from dlpy.tensor import Op  # noqa: E402
