"""More continuous families with their own densities: Cauchy, Chi2, StudentT, FisherSnedecor,
VonMises, ContinuousBernoulli. Formulas as PyTorch's, so values and gradients agree."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.continuous import Gamma, _LocationScale, _noise
from dlpy.distributions.discrete import _bce_with_logits, _Binary
from dlpy.distributions.distribution import (
    CentredAtLoc,
    Distribution,
    _derived,
    broadcast_all,
    broadcast_pair,
    clamp_probs,
    masked_set,
)
from dlpy.ops.special import digamma, lgamma
from dlpy.tensor import Tensor, no_grad

__all__ = ["Cauchy", "Chi2", "ContinuousBernoulli", "FisherSnedecor", "StudentT", "VonMises"]


def _full(d: Distribution, value: float) -> Tensor:
    return Tensor(np.full(d._extended_shape(), value, dtype=d._dtype()))


class Cauchy(_LocationScale):
    """The Cauchy (Lorentz) distribution, density 1 / (pi scale (1 + ((x - loc) / scale)^2)):
    ``Cauchy(loc, scale)``; no mean (nan) nor variance (inf)."""

    @property
    def mean(self) -> Tensor:
        return _full(self, math.nan)

    @property
    def variance(self) -> Tensor:
        return _full(self, math.inf)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """loc + eps * scale with eps ~ Cauchy(0, 1)."""
        shape = self._extended_shape(sample_shape)
        eps = _noise(random_streams.cauchy(self._rng(generator, rng), shape), self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - F.log1p(z**2)

    def cdf(self, value) -> Tensor:
        value = self._value(value, "cdf")
        return F.atan((value - self.loc) / self.scale) / math.pi + 0.5

    def icdf(self, value) -> Tensor:
        return F.tan(math.pi * (self._unchecked(value) - 0.5)) * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()


class Chi2(Gamma):
    """The chi-squared distribution with ``df`` degrees of freedom: Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args: bool | None = None):
        (self.df,) = broadcast_all("Chi2", ("df",), df)
        super().__init__(0.5 * self.df, 0.5, validate_args=validate_args)

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        new.concentration = F.expand(self.concentration, batch_shape)
        new.rate = F.expand(self.rate, batch_shape)


class StudentT(Distribution):
    """Student's t with ``df`` degrees of freedom, location ``loc`` and scale ``scale``."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args: bool | None = None):
        self.df, self.loc, self.scale = broadcast_all("StudentT", ("df", "loc", "scale"),
                                                      df, loc, scale)
        self._chi2 = Chi2(self.df)  # checks df by the default even with validate_args=False,
        super().__init__(self.df.shape, validate_args=validate_args)  # as torch's

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        new._chi2 = Chi2(new.df, validate_args=False)

    @property
    def mean(self) -> Tensor:
        """loc, nan where df <= 1."""
        return masked_set(self.loc, self.df.data <= 1, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """scale^2 df / (df - 2) where df > 2, inf where 1 < df <= 2, nan where df <= 1."""
        df = self.df.data
        above = df > 2
        safe_df = F.where(above, self.df, np.asarray(3.0, dtype=df.dtype))  # no 1 / 0 anywhere
        variance = F.where(above, self.scale**2 * safe_df / (safe_df - 2),
                           np.asarray(math.inf, dtype=df.dtype))
        return masked_set(variance, df <= 1, math.nan)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """loc + scale * X / sqrt(Z / df) with X ~ N(0, 1) and Z ~ Chi2(df) (implicitly
        reparameterised in df)."""
        shape = self._extended_shape(sample_shape)
        generator = self._rng(generator, rng)
        x = _noise(random_streams.normal(generator, shape, self.df.dtype), self.df.dtype)
        z = self._chi2.rsample(sample_shape, generator=generator)
        return self.loc + self.scale * (x * (z / self.df).rsqrt())

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi)
             + lgamma(0.5 * self.df) - lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * F.log1p(y**2.0 / self.df) - z

    def entropy(self) -> Tensor:
        df = self.df
        lbeta = lgamma(0.5 * df) + math.lgamma(0.5) - lgamma(0.5 * (df + 1))
        return (self.scale.log() + 0.5 * (df + 1) * (digamma(0.5 * (df + 1)) - digamma(0.5 * df))
                + 0.5 * df.log() + lbeta)


class FisherSnedecor(Distribution):
    """The F distribution with ``df1`` and ``df2`` degrees of freedom: (X1 / df1) / (X2 / df2)
    for chi-squared X1, X2."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args: bool | None = None):
        self.df1, self.df2 = broadcast_all("FisherSnedecor", ("df1", "df2"), df1, df2)
        # torch's Gammas check the degrees of freedom by the default even with
        # validate_args=False (an expanded copy's do not)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2)
        super().__init__(self.df1.shape, validate_args=validate_args)

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        new._gamma1 = Gamma(new.df1 * 0.5, new.df1, validate_args=False)
        new._gamma2 = Gamma(new.df2 * 0.5, new.df2, validate_args=False)

    @property
    def mean(self) -> Tensor:
        """df2 / (df2 - 2), nan where df2 <= 2."""
        df2 = masked_set(self.df2, self.df2.data <= 2, math.nan)
        return df2 / (df2 - 2)

    @property
    def mode(self) -> Tensor:
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return masked_set(mode, self.df1.data <= 2, math.nan)

    @property
    def variance(self) -> Tensor:
        df2 = masked_set(self.df2, self.df2.data <= 4, math.nan)
        return 2 * df2**2 * (self.df1 + df2 - 2) / (self.df1 * (df2 - 2) ** 2 * (df2 - 4))

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        generator = self._rng(generator, rng)
        x1 = self._gamma1.rsample(sample_shape, generator=generator)
        x2 = self._gamma2.rsample(sample_shape, generator=generator)
        tiny = float(np.finfo(x2.dtype).tiny)
        return F.clamp(x1 / F.clamp(x2, min=tiny), min=tiny)

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        ct1, ct2, ct3 = self.df1 * 0.5, self.df2 * 0.5, self.df1 / self.df2
        t1 = lgamma(ct1 + ct2) - lgamma(ct1) - lgamma(ct2)
        t2 = ct1 * ct3.log() + (ct1 - 1) * value.log()
        t3 = (ct1 + ct2) * F.log1p(ct3 * value)
        return t1 + t2 - t3


# Abramowitz & Stegun 9.8.1-9.8.4 polynomials for I0 and I1 (PyTorch's, same coefficients)
_I0_SMALL = (1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.0360768, 0.0045813)
_I0_LARGE = (0.39894228, 0.01328592, 0.00225319, -0.00157565, 0.00916281, -0.02057706,
             0.02635537, -0.01647633, 0.00392377)
_I1_SMALL = (0.5, 0.87890594, 0.51498869, 0.15084934, 0.02658733, 0.00301532, 0.00032411)
_I1_LARGE = (0.39894228, -0.03988024, -0.00362018, 0.00163801, -0.01031555, 0.02282967,
             -0.02895312, 0.01787654, -0.00420059)


def _polynomial(y: Tensor, coefficients) -> Tensor:
    result = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        result = c + y * result
    return result


def log_modified_bessel(x: Tensor, order: int = 0) -> Tensor:
    """log I_order(x) for x > 0, order 0 or 1 (PyTorch's polynomial approximation)."""
    small_coefficients, large_coefficients = ((_I0_SMALL, _I0_LARGE) if order == 0
                                              else (_I1_SMALL, _I1_LARGE))
    y = x / 3.75
    small = _polynomial(y * y, small_coefficients)
    if order == 1:
        small = x.abs() * small
    small = small.log()
    with np.errstate(invalid="ignore"):  # the large-x series is negative for small x (unused)
        large = x - 0.5 * x.log() + _polynomial(3.75 / x, large_coefficients).log()
    return F.where(x.data < 3.75, small, large)


class VonMises(CentredAtLoc):
    """The von Mises distribution on the circle, density exp(concentration cos(x - loc)) /
    (2 pi I0(concentration)); samples in [-pi, pi) by Best & Fisher's rejection sampler."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real

    def __init__(self, loc, concentration, validate_args: bool | None = None):
        self.loc, self.concentration = broadcast_all("VonMises", ("loc", "concentration"),
                                                     loc, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def variance(self) -> Tensor:
        """The circular variance 1 - I1(k) / I0(k)."""
        k = self.concentration
        return 1 - (log_modified_bessel(k, 1) - log_modified_bessel(k, 0)).exp()

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        return (self.concentration * F.cos(value - self.loc) - math.log(2 * math.pi)
                - log_modified_bessel(self.concentration, 0))

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        generator = self._rng(generator, rng)
        loc = np.broadcast_to(self.loc.data.astype(np.float64), shape)
        kappa = np.broadcast_to(self.concentration.data.astype(np.float64), shape)
        tau = 1 + np.sqrt(1 + 4 * kappa**2)
        rho = (tau - np.sqrt(2 * tau)) / (2 * kappa)
        proposal_r = np.where(kappa < 1e-5, 1 / kappa + kappa, (1 + rho**2) / (2 * rho))
        x = np.zeros(shape)
        done = np.zeros(shape, dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            while not done.all():
                # torch.rand in float64; as torch's, a later acceptance overwrites an earlier
                u1, u2, u3 = random_streams.uniform(generator, (3,) + shape, np.float64)
                z = np.cos(math.pi * u1)
                f = (1 + proposal_r * z) / (proposal_r + z)
                c = kappa * (proposal_r - f)
                accept = (c * (2 - c) - u2 > 0) | (np.log(c / u2) + 1 - c >= 0)
                x = np.where(accept, np.sign(u3 - 0.5) * np.arccos(f), x)
                done |= accept
        x = (x + math.pi + loc) % (2 * math.pi) - math.pi
        return Tensor(x.astype(self._dtype()))


class ContinuousBernoulli(_Binary):
    """The continuous Bernoulli on [0, 1], density C(p) p^x (1 - p)^(1 - x) (Loaiza-Ganem &
    Cunningham 2019): ``probs`` (clamped away from 0 and 1) or ``logits``; near p = 1/2 (within
    ``lims``) Taylor expansions keep it stable."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501),
                 validate_args: bool | None = None):
        param = self._probs_or_logits(probs, logits)
        self._lims = tuple(lims)
        if "probs" in self.__dict__:
            # PyTorch checks probs as given only when validate_args is passed (False too), then
            # clamps them, so the default validation sees clamped (always valid) probs
            if validate_args is not None:
                Distribution.__init__(self, param.shape, validate_args=True)
            self.probs = clamp_probs(self.probs)
        super().__init__(param.shape, validate_args=validate_args)

    @_derived
    def probs(self) -> Tensor:
        """sigmoid(logits), clamped to [eps, 1 - eps]."""
        return clamp_probs(F.sigmoid(self.logits))

    def _outside_unstable_region(self, probs: Tensor) -> np.ndarray:
        return (probs.data <= self._lims[0]) | (probs.data > self._lims[1])

    def _cut_probs(self, probs: Tensor) -> Tensor:
        outside = self._outside_unstable_region(probs)
        return F.where(outside, probs, np.asarray(self._lims[0], dtype=probs.dtype))

    def _cont_bern_log_norm(self) -> Tensor:
        """log C(p): log(|log1p(-p) - log p| / |1 - 2p|), its Taylor series near p = 1/2."""
        probs = self.probs
        cut = self._cut_probs(probs)
        below = cut.data <= 0.5
        cut_below = F.where(below, cut, np.asarray(0.0, dtype=cut.dtype))
        cut_above = F.where(cut.data >= 0.5, cut, np.asarray(1.0, dtype=cut.dtype))
        log_norm = (F.log1p(-cut) - cut.log()).abs().log() - F.where(
            below, F.log1p(-2.0 * cut_below), (2.0 * cut_above - 1.0).log())
        x = (probs - 0.5) ** 2
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return F.where(self._outside_unstable_region(probs), log_norm, taylor)

    @property
    def mean(self) -> Tensor:
        probs = self.probs
        cut = self._cut_probs(probs)
        mus = cut / (2.0 * cut - 1.0) + 1.0 / (F.log1p(-cut) - cut.log())
        x = probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x**2) * x
        return F.where(self._outside_unstable_region(probs), mus, taylor)

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        cut = self._cut_probs(probs)
        variances = (cut * (cut - 1.0) / (1.0 - 2.0 * cut) ** 2
                     + 1.0 / (F.log1p(-cut) - cut.log()) ** 2)
        x = (probs - 0.5) ** 2
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return F.where(self._outside_unstable_region(probs), variances, taylor)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """icdf(u) with u ~ U[0, 1)."""
        shape = self._extended_shape(sample_shape)
        return self.icdf(_noise(random_streams.uniform(self._rng(generator, rng), shape,
                                                    self._dtype()), self._dtype()))

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        with no_grad():
            return self.rsample(sample_shape, generator=generator, rng=rng)

    def log_prob(self, value) -> Tensor:
        # -BCE-with-logits of the broadcast pair, as torch's (its dtype and rounding)
        logits, value = broadcast_pair(self.logits, self._value(value))
        return -_bce_with_logits(logits, value) + self._cont_bern_log_norm()

    def cdf(self, value) -> Tensor:
        value = self._value(value, "cdf")
        probs = self.probs
        cut = self._cut_probs(probs)
        cdfs = ((cut.log() * value).exp() * (F.log1p(-cut) * (1.0 - value)).exp() + cut - 1.0) \
            / (2.0 * cut - 1.0)
        unbounded = F.where(self._outside_unstable_region(probs), cdfs, value)
        zero, one = np.asarray(0.0, dtype=cut.dtype), np.asarray(1.0, dtype=cut.dtype)
        return F.where(value.data <= 0.0, zero, F.where(value.data >= 1.0, one, unbounded))

    def icdf(self, value) -> Tensor:
        value = self._unchecked(value)
        probs = self.probs
        cut = self._cut_probs(probs)
        inverted = ((F.log1p(-cut + value * (2.0 * cut - 1.0)) - F.log1p(-cut))
                    / (cut.log() - F.log1p(-cut)))
        return F.where(self._outside_unstable_region(probs), inverted, value)

    def entropy(self) -> Tensor:
        probs = self.probs
        log_probs0, log_probs1 = F.log1p(-probs), probs.log()
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0
