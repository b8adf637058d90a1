"""The multivariate normal with a low-rank plus diagonal covariance W W^T + diag(D):
``LowRankMultivariateNormal(loc, cov_factor, cov_diag)``, W (..., n, m) with m << n. log_prob,
entropy and KL in O(n m^2) through the capacitance matrix C = I + W^T D^-1 W (Woodbury), as
PyTorch's."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.distribution import (
    CentredAtLoc,
    _shape_text,
    as_tensors,
)
from dlpy.distributions.multivariate_normal import diagonal, mahalanobis
from dlpy.ops.linalg import cholesky, solve_triangular
from dlpy.tensor import Tensor

__all__ = ["LowRankMultivariateNormal"]


def _mv(matrix: Tensor, vector: Tensor) -> Tensor:
    """Matrix-vector products (..., n, m) x (..., m) -> (..., n), batch axes broadcast."""
    return F.squeeze(matrix @ F.unsqueeze(vector, -1), -1)


def _transpose(matrix: Tensor) -> Tensor:
    return F.swapaxes(matrix, -2, -1)


def capacitance_tril(cov_factor: Tensor, cov_diag: Tensor) -> Tensor:
    """The Cholesky factor of C = I + W^T D^-1 W (m, m)."""
    m = cov_factor.shape[-1]
    wt_dinv = _transpose(cov_factor) / F.unsqueeze(cov_diag, -2)
    return cholesky(wt_dinv @ cov_factor + np.eye(m, dtype=cov_factor.dtype))


def lowrank_logdet(cov_diag: Tensor, capacitance: Tensor) -> Tensor:
    """log det(W W^T + D) = log det C + log det D."""
    return 2 * diagonal(capacitance).log().sum(axis=-1) + cov_diag.log().sum(axis=-1)


def lowrank_mahalanobis(cov_factor: Tensor, cov_diag: Tensor, x: Tensor,
                        capacitance: Tensor) -> Tensor:
    """x^T (W W^T + D)^-1 x by the Woodbury identity."""
    wt_dinv_x = _mv(_transpose(cov_factor) / F.unsqueeze(cov_diag, -2), x)
    return (x**2 / cov_diag).sum(axis=-1) - mahalanobis(capacitance, wt_dinv_x)


class LowRankMultivariateNormal(CentredAtLoc):
    """N(loc, W W^T + diag(D)) over vectors of length n (event_shape (n,)); the batch axes of
    loc, cov_factor (..., n, m) and cov_diag (..., n) broadcast."""

    arg_constraints = {"loc": constraints.real_vector,
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args: bool | None = None):
        name = "LowRankMultivariateNormal"
        loc, cov_factor, cov_diag = as_tensors(name, ("loc", "cov_factor", "cov_diag"), loc,
                                               cov_factor, cov_diag)
        if loc.ndim < 1:
            raise ValueError(f"{name}: loc must have at least one axis, got shape ()")
        n = loc.shape[-1]
        if cov_factor.ndim < 2 or cov_factor.shape[-2] != n:
            raise ValueError(f"{name}: cov_factor must be ({n}, m) matrices with optional batch "
                             f"axes for loc {_shape_text(loc.shape)}, got "
                             f"{_shape_text(cov_factor.shape)}")
        if cov_diag.shape[-1:] != (n,):
            raise ValueError(f"{name}: cov_diag must be vectors of length {n}, got "
                             f"{_shape_text(cov_diag.shape)}")
        try:
            batch_shape = np.broadcast_shapes(loc.shape[:-1], cov_factor.shape[:-2],
                                              cov_diag.shape[:-1])
        except ValueError:
            raise ValueError(f"{name}: the batch axes of loc {_shape_text(loc.shape)}, "
                             f"cov_factor {_shape_text(cov_factor.shape)} and cov_diag "
                             f"{_shape_text(cov_diag.shape)} cannot be broadcast together") \
                from None
        m = cov_factor.shape[-1]
        for attr, value, shape in (("loc", loc, batch_shape + (n,)),
                                   ("cov_factor", cov_factor, batch_shape + (n, m)),
                                   ("cov_diag", cov_diag, batch_shape + (n,))):
            setattr(self, attr, value if value.shape == shape else F.expand(value, shape))
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        self._capacitance_tril = capacitance_tril(cov_factor, cov_diag)

    def _full(self, value: Tensor, event_axes: int) -> Tensor:
        shape = self.batch_shape + self.event_shape * event_axes
        return value if value.shape == shape else F.expand(value, shape)

    @property
    def variance(self) -> Tensor:
        return self._full((self._unbroadcasted_cov_factor**2).sum(axis=-1)
                          + self._unbroadcasted_cov_diag, 1)

    @property
    def scale_tril(self) -> Tensor:
        """The Cholesky factor of the covariance, sqrt(D) chol(I + D^-1/2 W W^T D^-1/2)."""
        n = self.event_shape[0]
        sqrt_diag = F.unsqueeze(self._unbroadcasted_cov_diag.sqrt(), -1)
        dinvsqrt_w = self._unbroadcasted_cov_factor / sqrt_diag
        k = dinvsqrt_w @ _transpose(dinvsqrt_w) + np.eye(n, dtype=sqrt_diag.dtype)
        return self._full(sqrt_diag * cholesky(k), 2)

    @property
    def covariance_matrix(self) -> Tensor:
        w = self._unbroadcasted_cov_factor
        return self._full(w @ _transpose(w) + F.diag_embed(self._unbroadcasted_cov_diag), 2)

    @property
    def precision_matrix(self) -> Tensor:
        """D^-1 - A^T A with A = C^-1/2 W^T D^-1 (Woodbury)."""
        wt_dinv = _transpose(self._unbroadcasted_cov_factor) / F.unsqueeze(
            self._unbroadcasted_cov_diag, -2)
        a = solve_triangular(self._capacitance_tril, wt_dinv, upper=False)
        return self._full(F.diag_embed(1 / self._unbroadcasted_cov_diag) - _transpose(a) @ a, 2)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """loc + W eps_W + sqrt(D) eps_D with standard normal eps_W (m,) and eps_D (n,)."""
        shape = self._extended_shape(sample_shape)
        generator = self._rng(generator, rng)
        dtype = self.loc.dtype
        eps_w = Tensor(random_streams.normal(generator, shape[:-1] + self.cov_factor.shape[-1:],
                                             dtype))  # (torch's _standard_normal, W's first)
        eps_d = Tensor(random_streams.normal(generator, shape, dtype))
        return (self.loc + _mv(self._unbroadcasted_cov_factor, eps_w)
                + self._unbroadcasted_cov_diag.sqrt() * eps_d)

    def _log_det(self) -> Tensor:
        return lowrank_logdet(self._unbroadcasted_cov_diag, self._capacitance_tril)

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        m = lowrank_mahalanobis(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                                value - self.loc, self._capacitance_tril)
        return -0.5 * (self.event_shape[0] * math.log(2 * math.pi) + self._log_det() + m)

    def entropy(self) -> Tensor:
        h = 0.5 * (self.event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return h if h.shape == self.batch_shape else F.expand(h, self.batch_shape)
