"""The Wishart distribution W(df, Sigma) over positive-definite (p, p) matrices, from exactly one
of ``covariance_matrix``, ``precision_matrix`` or ``scale_tril`` (as MultivariateNormal: all is
computed from L, a Cholesky factor of Sigma). Formulas as PyTorch's; rsample is its Bartlett
decomposition, differentiable in df (implicit Gamma gradient) and in the matrix."""

from __future__ import annotations

import math
import warnings

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.continuous import _standard_gamma
from dlpy.distributions.distribution import (
    _derived,
    _shape_text,
    as_tensors,
    masked_set,
)
from dlpy.distributions.exp_family import ExponentialFamily
from dlpy.distributions.multivariate_normal import (
    FromScaleTril,
    diagonal,
    given_matrix,
    scale_tril_of,
)
from dlpy.linalg import cholesky_solve
from dlpy.ops.linalg import slogdet
from dlpy.ops.pointwise import mvlgamma
from dlpy.ops.special import digamma
from dlpy.tensor import Tensor

__all__ = ["Wishart"]

_LOG_2 = math.log(2)


def mvdigamma(x: Tensor, p: int) -> Tensor:
    """The multivariate digamma sum_{i<p} digamma(x - i/2) (x > (p - 1)/2)."""
    return digamma(F.unsqueeze(x, -1) - np.arange(p, dtype=x.dtype) / 2).sum(axis=-1)


class Wishart(FromScaleTril, ExponentialFamily):
    """W(df, Sigma): ``Wishart(df, covariance_matrix= | precision_matrix= | scale_tril=)``; df a
    number or a Tensor (> p - 1) that broadcasts with the matrices' batch axes. Mean df Sigma."""

    support = constraints.positive_definite
    has_rsample = True

    @property
    def arg_constraints(self) -> dict:
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(self.event_shape[-1] - 1)}

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args: bool | None = None):
        name, matrix = given_matrix("Wishart", covariance_matrix, precision_matrix, scale_tril)
        matrix, df = as_tensors("Wishart", (name, "df"), matrix, df)
        if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2]:
            raise ValueError(f"Wishart: {name} must be square matrices (..., p, p), got shape "
                             f"{_shape_text(matrix.shape)}")
        p = matrix.shape[-1]
        try:
            batch_shape = np.broadcast_shapes(matrix.shape[:-2], df.shape)
        except ValueError:
            raise ValueError(f"Wishart: df {_shape_text(df.shape)} does not broadcast with the "
                             f"batch axes of {name} {_shape_text(matrix.shape)}") from None
        if (df.data <= p - 1).any():
            raise ValueError(f"Wishart: expected df > p - 1 = {p - 1}, got "
                             f"{float(df.data[df.data <= p - 1].ravel()[0])!r}")
        if (df.data < p).any():
            warnings.warn("Wishart: df < p: singular samples are likely (p - 1 < df < p)",
                          UserWarning, stacklevel=2)
        full = batch_shape + (p, p)
        self.__dict__[name] = matrix if matrix.shape == full else F.expand(matrix, full)
        self.df = df if df.shape == batch_shape else F.expand(df, batch_shape)
        super().__init__(batch_shape, (p, p), validate_args=validate_args)
        self._unbroadcasted_scale_tril = scale_tril_of(name, matrix)

    # ------------------------------------------------------------------ the matrices
    def _full(self, matrix: Tensor) -> Tensor:
        shape = self.batch_shape + self.event_shape
        return matrix if matrix.shape == shape else F.expand(matrix, shape)

    @_derived
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return self._full(cholesky_solve(np.eye(L.shape[-1], dtype=L.dtype), L))

    def _df_matrix(self) -> Tensor:
        return F.unsqueeze(F.unsqueeze(self.df, -1), -1)

    @property
    def mean(self) -> Tensor:
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        """(df - p - 1) Sigma, NaN where df <= p + 1."""
        factor = self.df - (self.event_shape[-1] + 1)
        factor = masked_set(factor, factor.data <= 0, math.nan)
        return F.unsqueeze(F.unsqueeze(factor, -1), -1) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        """Var X_ij = df (Sigma_ij^2 + Sigma_ii Sigma_jj)."""
        v = self.covariance_matrix
        d = diagonal(v)
        return self._df_matrix() * (v**2 + F.unsqueeze(d, -1) * F.unsqueeze(d, -2))

    # ------------------------------------------------------------------ sampling
    def _bartlett(self, sample_shape: tuple, rng: np.random.Generator) -> Tensor:
        """L A A^T L^T with A lower triangular: A_ii = sqrt(chi2(df - i)), A_ij (i > j) ~ N(0, 1)
        (the chi2 draws first, then the normals in tril_indices' row-major order)."""
        p = self.event_shape[-1]
        shape = sample_shape + self.batch_shape
        chi2_df = F.unsqueeze(self.df, -1) - np.arange(p, dtype=self.df.dtype)
        chi2 = 2.0 * _standard_gamma(0.5 * chi2_df, shape + (p,), rng)
        eps = float(np.finfo(self.df.dtype).eps)
        root = F.clamp(chi2.sqrt(), min=eps)
        rows, cols = np.tril_indices(p, -1)
        lower = np.zeros(shape + (p, p), dtype=self.df.dtype)
        lower[..., rows, cols] = random_streams.normal(rng, shape + (len(rows),), lower.dtype)
        chol = self._unbroadcasted_scale_tril @ (F.diag_embed(root) + Tensor(lower))
        return chol @ F.swapaxes(chol, -2, -1)

    def _singular(self, sample: Tensor, sample_ndim: int) -> np.ndarray:
        """Which of the sample_shape draws hold a matrix that is not positive definite."""
        bad = ~self.support.check(sample.data)
        return bad.reshape(bad.shape[:sample_ndim] + (-1,)).any(-1)

    def rsample(self, sample_shape=(), *, generator=None, rng=None,
                max_try_correction: int | None = None) -> Tensor:
        """Bartlett samples (shape sample_shape + batch_shape + (p, p)); a draw with a singular
        matrix (possible when p - 1 < df < p) warns and is drawn again, at most
        ``max_try_correction`` (default 10) times; it may stay singular. (torch 2.13's check is
        not negated: it warns and draws again every sample that is fine, and keeps singular
        ones; dlpy does what its comment says, so its draws differ from torch's.)"""
        if max_try_correction is None:
            max_try_correction = 10
        if isinstance(max_try_correction, bool) or not isinstance(
                max_try_correction, (int, np.integer)) or max_try_correction < 0:
            raise ValueError(f"Wishart.rsample: max_try_correction must be an int >= 0, got "
                             f"{max_try_correction!r}")
        sample_shape = self._extended_shape(sample_shape)[:-2 - len(self.batch_shape)]
        generator = self._rng(generator, rng)
        sample = self._bartlett(sample_shape, generator)
        singular = self._singular(sample, len(sample_shape))
        if singular.any():
            warnings.warn("Wishart.rsample: singular sample detected, drawing it again",
                          UserWarning, stacklevel=2)
            for _ in range(max_try_correction):
                fresh = self._bartlett(sample_shape, generator)
                mask = singular.reshape(singular.shape + (1,) * (sample.ndim - singular.ndim))
                sample = F.where(mask, fresh, sample)
                singular = singular & self._singular(fresh, len(sample_shape))
                if not singular.any():
                    break
        return sample

    # ------------------------------------------------------------------ densities
    def _log_scale(self) -> Tensor:
        """p log(2) / 2 + log det L."""
        p = self.event_shape[-1]
        return p * _LOG_2 / 2 + diagonal(self._unbroadcasted_scale_tril).log().sum(axis=-1)

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        nu, p = self.df, self.event_shape[-1]
        trace = diagonal(cholesky_solve(value, self._unbroadcasted_scale_tril)).sum(axis=-1)
        return (-nu * self._log_scale() - mvlgamma(nu / 2, p)
                + (nu - p - 1) / 2 * slogdet(value).logabsdet - trace / 2)

    def entropy(self) -> Tensor:
        nu, p = self.df, self.event_shape[-1]
        return ((p + 1) * self._log_scale() + mvlgamma(nu / 2, p)
                - (nu - p - 1) / 2 * mvdigamma(nu / 2, p) + nu * p / 2)

    # ------------------------------------------------------------------ exponential family
    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return -self.precision_matrix / 2, (self.df - self.event_shape[-1] - 1) / 2

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        p = self.event_shape[-1]
        return (y + (p + 1) / 2) * (-slogdet(-2 * x).logabsdet + _LOG_2 * p) + \
            mvlgamma(y + (p + 1) / 2, p)
