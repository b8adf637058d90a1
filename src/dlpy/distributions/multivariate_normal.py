"""The multivariate normal N(loc, Sigma), from exactly one of ``covariance_matrix``,
``precision_matrix`` or ``scale_tril`` (L with Sigma = L L^T). Everything is computed from L
(a Cholesky factor of the matrix given), as PyTorch does, and is differentiable in loc and in
the matrix given."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.distribution import (
    BroadcastError,
    CentredAtLoc,
    Distribution,  # noqa: F401 - torch's module exports it (botorch imports it from there)
    _derived,
    _shape_text,
    as_tensors,
)
from dlpy.ops import ArgAssertionError
from dlpy.ops.linalg import cholesky, solve_triangular
from dlpy.tensor import Tensor

__all__ = ["MultivariateNormal"]


def diagonal(matrix: Tensor) -> Tensor:
    """The diagonal (..., n) of square matrices (..., n, n), differentiable."""
    n = matrix.shape[-1]
    return (matrix * np.eye(n, dtype=matrix.dtype)).sum(axis=-1)


def mahalanobis(scale_tril: Tensor, x: Tensor) -> Tensor:
    """x^T (L L^T)^-1 x = |L^-1 x|^2 for vectors x (..., n); L's batch axes broadcast."""
    solved = solve_triangular(scale_tril, F.unsqueeze(x, -1), upper=False)  # (..., n, 1)
    return (solved**2).sum(axis=(-2, -1))


def _precision_to_scale_tril(precision: Tensor) -> Tensor:
    """L with L L^T = P^-1, as PyTorch: with J the reversal, chol(J P J) = J L^-T J."""
    flipped = cholesky(F.flip(precision, (-2, -1)))
    inverse = F.swapaxes(F.flip(flipped, (-2, -1)), -2, -1)  # L^-1, lower triangular
    identity = np.eye(precision.shape[-1], dtype=precision.dtype)
    return solve_triangular(inverse, identity, upper=False)


def given_matrix(family: str, covariance_matrix, precision_matrix, scale_tril) -> tuple:
    """(name, matrix) of the one matrix given; a ValueError unless exactly one is."""
    given = {name: value for name, value in (("covariance_matrix", covariance_matrix),
                                             ("precision_matrix", precision_matrix),
                                             ("scale_tril", scale_tril))
             if value is not None}
    if len(given) != 1:
        # (torch's MultivariateNormal: a ValueError, its Wishart: an AssertionError)
        error = ArgAssertionError if family == "Wishart" else ValueError
        raise error(f"{family}: give exactly one of covariance_matrix, precision_matrix or "
                    f"scale_tril, got {sorted(given) or 'none'}")
    return next(iter(given.items()))


def scale_tril_of(name: str, matrix: Tensor) -> Tensor:
    """L with L L^T the covariance, from the matrix given as ``name``."""
    if name == "scale_tril":
        return matrix
    if name == "covariance_matrix":
        return cholesky(matrix)
    return _precision_to_scale_tril(matrix)


class FromScaleTril:
    """The matrices of a family kept as L (``_unbroadcasted_scale_tril``) and expanded by its
    ``_full``: scale_tril and covariance_matrix unless given (MultivariateNormal, Wishart)."""

    @_derived
    def scale_tril(self) -> Tensor:
        return self._full(self._unbroadcasted_scale_tril)

    @_derived
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return self._full(L @ F.swapaxes(L, -2, -1))


class MultivariateNormal(FromScaleTril, CentredAtLoc):
    """N(loc, Sigma) over vectors of length n = loc.shape[-1] (event_shape (n,)); loc's and the
    matrix's batch axes broadcast to batch_shape."""

    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args: bool | None = None):
        name, matrix = given_matrix("MultivariateNormal", covariance_matrix, precision_matrix,
                                    scale_tril)
        loc, matrix = as_tensors("MultivariateNormal", ("loc", name), loc, matrix)
        if loc.ndim < 1:
            raise ValueError(f"MultivariateNormal: loc must have at least one axis, got shape "
                             f"{_shape_text(loc.shape)}")
        n = loc.shape[-1]
        if matrix.ndim < 2 or matrix.shape[-2:] != (n, n):
            raise ValueError(f"MultivariateNormal: {name} must be ({n}, {n}) matrices with "
                             f"optional batch axes for loc {_shape_text(loc.shape)}, got "
                             f"{_shape_text(matrix.shape)}")
        try:
            batch_shape = np.broadcast_shapes(matrix.shape[:-2], loc.shape[:-1])
        except ValueError:
            raise BroadcastError(f"MultivariateNormal: the batch axes of loc "
                                 f"{_shape_text(loc.shape)} and {name} "
                                 f"{_shape_text(matrix.shape)} cannot be broadcast together"
                                 ) from None
        full = batch_shape + (n, n)
        self.__dict__[name] = matrix if matrix.shape == full else F.expand(matrix, full)
        self.loc = loc if loc.shape == batch_shape + (n,) else F.expand(loc, batch_shape + (n,))
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        self._unbroadcasted_scale_tril = scale_tril_of(name, matrix)

    def _full(self, matrix: Tensor) -> Tensor:
        shape = self.batch_shape + self.event_shape * 2
        return matrix if matrix.shape == shape else F.expand(matrix, shape)

    @_derived
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        inverse = solve_triangular(L, np.eye(L.shape[-1], dtype=L.dtype), upper=False)  # L^-1
        return self._full(F.swapaxes(inverse, -2, -1) @ inverse)

    @property
    def variance(self) -> Tensor:
        variance = (self._unbroadcasted_scale_tril**2).sum(axis=-1)
        shape = self.batch_shape + self.event_shape
        return variance if variance.shape == shape else F.expand(variance, shape)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """loc + L eps with eps ~ N(0, I)."""
        shape = self._extended_shape(sample_shape)
        eps = random_streams.normal(self._rng(generator, rng), shape + (1,), self.loc.dtype)
        return self.loc + F.squeeze(self._unbroadcasted_scale_tril @ Tensor(eps), -1)

    def _half_log_det(self) -> Tensor:
        return diagonal(self._unbroadcasted_scale_tril).log().sum(axis=-1)

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        n = self.event_shape[0]
        m = mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (n * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self) -> Tensor:
        n = self.event_shape[0]
        entropy = 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return entropy if entropy.shape == self.batch_shape else \
            F.expand(entropy, self.batch_shape)
