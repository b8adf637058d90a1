"""InverseGamma (1 / X for X ~ Gamma, as PyTorch: a PowerTransform(-1) of a Gamma),
GeneralizedPareto(loc, scale, concentration) and OneHotCategoricalStraightThrough (one-hot
samples whose rsample passes the gradient of the probabilities straight through, Bengio et al.
2013)."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.continuous import Gamma, _noise
from dlpy.distributions.discrete import OneHotCategorical
from dlpy.distributions.distribution import Distribution, broadcast_all
from dlpy.distributions.transformed_distribution import TransformedDistribution
from dlpy.distributions.transforms import PowerTransform
from dlpy.ops.special import digamma, lgamma
from dlpy.tensor import Tensor

__all__ = ["GeneralizedPareto", "InverseGamma", "OneHotCategoricalStraightThrough"]


class InverseGamma(TransformedDistribution):
    """1 / X for X ~ Gamma(concentration, rate): density rate^a / G(a) x^(-a-1) exp(-rate/x)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, concentration, rate, validate_args: bool | None = None):
        self.concentration, self.rate = broadcast_all(
            "InverseGamma", ("concentration", "rate"), concentration, rate)
        super().__init__(Gamma(self.concentration, self.rate, validate_args=False),
                         PowerTransform(-1.0), validate_args=validate_args)

    def _inf_unless(self, result: Tensor, bound: float) -> Tensor:
        """result where concentration > bound, else inf (no gradient there)."""
        return F.where(self.concentration.data > bound, result,
                       np.asarray(math.inf, dtype=result.dtype))

    @property
    def mean(self) -> Tensor:
        """rate / (concentration - 1), inf where concentration <= 1."""
        return self._inf_unless(self.rate / (self.concentration - 1), 1)

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        """rate^2 / ((concentration - 1)^2 (concentration - 2)), inf where concentration <= 2."""
        c = self.concentration
        return self._inf_unless(self.rate**2 / ((c - 1) ** 2 * (c - 2)), 2)

    def entropy(self) -> Tensor:
        c = self.concentration
        return c + self.rate.log() + lgamma(c) - (1 + c) * digamma(c)


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical with rsample: the one-hot sample, plus probs - probs.detach() (the
    value of the sample, the gradient of probs)."""

    has_rsample = True

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        samples = self.sample(sample_shape, generator=generator, rng=rng)
        probs = self.probs
        return samples + (probs - probs.detach())


class GeneralizedPareto(Distribution):
    """The generalized Pareto distribution: survival (1 + c z)^(-1/c) of z = (x - loc) / scale
    (exp(-z) for concentration c = 0), on [loc, inf) for c >= 0 and [loc, loc - scale / c] for
    c < 0. Formulas as PyTorch's (a |c| <= 1e-8 counts as 0)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args: bool | None = None):
        self.loc, self.scale, self.concentration = broadcast_all(
            "GeneralizedPareto", ("loc", "scale", "concentration"), loc, scale, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        c = self.concentration.data
        with np.errstate(divide="ignore"):
            upper = np.where(c < 0, self.loc.data - self.scale.data / c, np.inf)
        return constraints.interval(self.loc, Tensor(upper.astype(self.loc.dtype, copy=False)))

    def _safe_concentration(self) -> tuple[np.ndarray, Tensor]:
        """Where c is 0, and c with 1 there (so both branches of a where stay finite)."""
        zero = np.isclose(self.concentration.data, 0.0)
        return zero, F.where(zero, np.ones((), self.concentration.dtype), self.concentration)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """icdf(u) with u ~ U[0, 1)."""
        shape = self._extended_shape(sample_shape)
        return self.icdf(_noise(random_streams.uniform(self._rng(generator, rng), shape,
                                                    self.loc.dtype), self.loc.dtype))

    def log_prob(self, value) -> Tensor:
        z = (self._value(value) - self.loc) / self.scale
        zero, c = self._safe_concentration()
        y = 1 / c + 1
        nonzero = F.where(y.data == 0, y, y * F.log1p(c * z))
        return -self.scale.log() - F.where(zero, z, nonzero)

    def log_survival_function(self, value) -> Tensor:
        z = (self._value(value) - self.loc) / self.scale
        zero, c = self._safe_concentration()
        return F.where(zero, -z, -F.log1p(c * z) / c)

    def log_cdf(self, value) -> Tensor:
        return F.log1p(-self.log_survival_function(value).exp())

    def cdf(self, value) -> Tensor:
        return self.log_cdf(value).exp()

    def icdf(self, value) -> Tensor:
        log_u = F.log1p(-self._unchecked(value))
        zero, c = self._safe_concentration()
        nonzero = self.loc + self.scale / c * F.expm1(-c * log_u)
        return F.where(zero, self.loc - self.scale * log_u, nonzero)

    @property
    def mean(self) -> Tensor:
        """loc + scale / (1 - c), NaN where c >= 1."""
        valid = self.concentration.data < 1
        c = F.where(valid, self.concentration, np.asarray(0.5, self.concentration.dtype))
        return F.where(valid, self.loc + self.scale / (1 - c), np.asarray(math.nan, c.dtype))

    @property
    def variance(self) -> Tensor:
        """scale^2 / ((1 - c)^2 (1 - 2c)), NaN where c >= 1/2."""
        valid = self.concentration.data < 0.5
        c = F.where(valid, self.concentration, np.asarray(0.25, self.concentration.dtype))
        result = self.scale**2 / ((1 - c) ** 2 * (1 - 2 * c))
        return F.where(valid, result, np.asarray(math.nan, c.dtype))

    @property
    def mode(self) -> Tensor:
        return self.loc

    def entropy(self) -> Tensor:
        return self.scale.log() + self.concentration + 1
