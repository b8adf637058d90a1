"""Families defined as a transformed simpler one, as PyTorch defines them: LogNormal (exp of a
Normal), HalfNormal and HalfCauchy (|x|), Gumbel, Weibull, Pareto, Kumaraswamy and
LogisticNormal (stick-breaking of a Normal). Their parameters are kept (and validated under
their own names); log_prob comes from TransformedDistribution unless a closed form is
simpler."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy.distributions import constraints
from dlpy.distributions.continuous import Exponential, Normal, Uniform
from dlpy.distributions.continuous_more import Cauchy
from dlpy.distributions.distribution import EULER_GAMMA, broadcast_all, masked_set
from dlpy.distributions.transformed_distribution import TransformedDistribution
from dlpy.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ExpTransform,
    PowerTransform,
    StickBreakingTransform,
)
from dlpy.ops.special import digamma, lgamma
from dlpy.tensor import Tensor

__all__ = ["Gumbel", "HalfCauchy", "HalfNormal", "Kumaraswamy", "LogNormal", "LogisticNormal",
           "Pareto", "Weibull"]


def _constant(like: Tensor, value: float) -> Tensor:
    return Tensor(np.full(like.shape, value, dtype=like.dtype))


class LogNormal(TransformedDistribution):
    """exp(X) for X ~ Normal(loc, scale). ``loc`` and ``scale`` are the base Normal's, as
    torch's properties (a subclass that builds the base itself, as pyro's, has them too)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        loc, scale = broadcast_all("LogNormal", ("loc", "scale"), loc, scale)
        super().__init__(Normal(loc, scale, validate_args=False), ExpTransform(),
                         validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        return (self.loc + self.scale**2 / 2).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale**2).exp()

    @property
    def variance(self) -> Tensor:
        scale_sq = self.scale**2
        return F.expm1(scale_sq) * (2 * self.loc + scale_sq).exp()

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc


class _Half(TransformedDistribution):
    """|X| for X of a symmetric location-0 family ``_base(0, scale)``: density twice the
    base's on x >= 0. ``scale`` is the base's, as torch's property."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _base = Normal

    def __init__(self, scale, validate_args: bool | None = None):
        (scale,) = broadcast_all(type(self).__name__, ("scale",), scale)
        super().__init__(self._base(0.0, scale, validate_args=False), AbsTransform(),
                         validate_args=validate_args)

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mode(self) -> Tensor:
        return Tensor(np.zeros_like(self.scale.data))

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return masked_set(log_prob, value.data < 0, -math.inf)

    def cdf(self, value) -> Tensor:
        return 2 * self.base_dist.cdf(self._value(value, "cdf")) - 1

    def icdf(self, value) -> Tensor:
        return self.base_dist.icdf((self._unchecked(value) + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Half):
    """|X| for X ~ Normal(0, scale)."""

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self) -> Tensor:
        return self.scale**2 * (1 - 2 / math.pi)


class HalfCauchy(_Half):
    """|X| for X ~ Cauchy(0, scale); mean inf."""

    _base = Cauchy

    @property
    def mean(self) -> Tensor:
        return Tensor(np.full(self._extended_shape(), math.inf, dtype=self.scale.dtype))

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def log_prob(self, value) -> Tensor:
        # torch's HalfCauchy (not HalfNormal) takes the value in scale's dtype first
        value = self._value(value)
        return super().log_prob(value.to(self.scale.dtype) if value.dtype != self.scale.dtype
                                else value)


class Gumbel(TransformedDistribution):
    """The Gumbel (type-I extreme value) distribution: loc - scale log(-log U), U uniform."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all("Gumbel", ("loc", "scale"), loc, scale)
        finfo = np.finfo(self.loc.dtype)
        base = Uniform(_constant(self.loc, float(finfo.tiny)),
                       _constant(self.loc, 1 - float(finfo.eps)), validate_args=False)
        transforms = [ExpTransform().inv, AffineTransform(0, -_constant(self.scale, 1.0)),
                      ExpTransform().inv, AffineTransform(self.loc, -self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        y = (self.loc - value) / self.scale
        return y - y.exp() - self.scale.log()

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * EULER_GAMMA

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return math.pi / math.sqrt(6) * self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev**2

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + EULER_GAMMA)


class Weibull(TransformedDistribution):
    """The Weibull distribution: scale * E^(1 / concentration) for E ~ Exponential(1)."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, scale, concentration, validate_args: bool | None = None):
        self.scale, self.concentration = broadcast_all("Weibull", ("scale", "concentration"),
                                                       scale, concentration)
        self.concentration_reciprocal = 1 / self.concentration
        transforms = [PowerTransform(self.concentration_reciprocal),
                      AffineTransform(0, self.scale)]
        super().__init__(Exponential(_constant(self.scale, 1.0), validate_args=False),
                         transforms, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.scale * lgamma(1 + self.concentration_reciprocal).exp()

    @property
    def mode(self) -> Tensor:
        c = self.concentration
        # PyTorch's power: a negative base gives nan, except at an integral exponent
        # (concentration 1/2, 1/3, ...), where it is real
        with np.errstate(invalid="ignore"):
            return self.scale * ((c - 1) / c) ** c.reciprocal()

    @property
    def variance(self) -> Tensor:
        r = self.concentration_reciprocal
        return self.scale**2 * (lgamma(1 + 2 * r).exp() - (2 * lgamma(1 + r)).exp())

    def entropy(self) -> Tensor:
        r = self.concentration_reciprocal
        return EULER_GAMMA * (1 - r) + (self.scale * r).log() + 1


class Pareto(TransformedDistribution):
    """The Pareto distribution on [scale, inf): scale * exp(E) for E ~ Exponential(alpha)."""

    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, scale, alpha, validate_args: bool | None = None):
        self.scale, self.alpha = broadcast_all("Pareto", ("scale", "alpha"), scale, alpha)
        super().__init__(Exponential(self.alpha, validate_args=False),
                         [ExpTransform(), AffineTransform(0, self.scale)],
                         validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.greater_than_eq(self.scale)

    @property
    def mean(self) -> Tensor:
        """alpha scale / (alpha - 1) (inf where alpha <= 1)."""
        a = F.clamp(self.alpha, min=1)
        with np.errstate(divide="ignore"):
            return a * self.scale / (a - 1)

    @property
    def mode(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        """scale^2 alpha / ((alpha - 1)^2 (alpha - 2)) (inf where alpha <= 2)."""
        a = F.clamp(self.alpha, min=2)
        with np.errstate(divide="ignore"):
            return self.scale**2 * a / ((a - 1) ** 2 * (a - 2))

    def entropy(self) -> Tensor:
        return (self.scale / self.alpha).log() + (1 + 1 / self.alpha)


def _kumaraswamy_moment(a: Tensor, b: Tensor, n: int) -> Tensor:
    """E[X^n] = b B(1 + n / a, b)."""
    arg1 = 1 + n / a
    return b * (lgamma(arg1) + lgamma(b) - lgamma(arg1 + b)).exp()


class Kumaraswamy(TransformedDistribution):
    """The Kumaraswamy distribution on [0, 1], density a b x^(a-1) (1 - x^a)^(b-1) with
    a = ``concentration1``, b = ``concentration0``: (1 - U^(1/b))^(1/a) for U uniform."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args: bool | None = None):
        self.concentration1, self.concentration0 = broadcast_all(
            "Kumaraswamy", ("concentration1", "concentration0"), concentration1, concentration0)
        base = Uniform(_constant(self.concentration0, 0.0), _constant(self.concentration0, 1.0),
                       validate_args=False)
        transforms = [PowerTransform(1 / self.concentration0), AffineTransform(1.0, -1.0),
                      PowerTransform(1 / self.concentration1)]
        super().__init__(base, transforms, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return _kumaraswamy_moment(self.concentration1, self.concentration0, 1)

    @property
    def mode(self) -> Tensor:
        """((a - 1) / (a b - 1))^(1/a), nan where a < 1 or b < 1."""
        a, b = self.concentration1, self.concentration0
        with np.errstate(invalid="ignore", divide="ignore"):
            log_mode = ((a - 1).log() - (a * b - 1).log()) / a
        return masked_set(log_mode, (b.data < 1) | (a.data < 1), math.nan).exp()

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        return _kumaraswamy_moment(a, b, 2) - self.mean**2

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        t1, t0 = 1 - 1 / a, 1 - 1 / b
        h0 = digamma(b + 1) + EULER_GAMMA
        return t0 + t1 * h0 - a.log() - b.log()


class LogisticNormal(TransformedDistribution):
    """The logistic-normal distribution on the simplex: stick-breaking of X ~ Normal(loc,
    scale) (K - 1 values give a K-vector)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        base = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand((1,))
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale
