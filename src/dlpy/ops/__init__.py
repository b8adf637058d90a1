"""Primitive ops, one family a file. Each op is a class with forward/backward on numpy arrays and a
lowercase function that applies it to tensors."""

from dlpy.tensor import Op

__all__ = ["Op"]
