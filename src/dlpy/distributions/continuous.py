"""Continuous distributions on the real line or a part of it: Normal, Uniform, Laplace,
Exponential, Gamma, Beta; and Dirichlet on the probability simplex. Formulas as PyTorch's, so
values and gradients agree to rounding."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.distribution import (
    LOG_SQRT_2PI,
    CentredAtLoc,
    Distribution,
    broadcast_all,
)
from dlpy.distributions.reparam_grads import dirichlet_grad, standard_gamma_grad
from dlpy.ops.special import (
    digamma,
    erfinv,
    gammainc,
    lgamma,
    xlogy,
)
from dlpy.tensor import Op, Tensor

__all__ = ["Beta", "Dirichlet", "Exponential", "Gamma", "Laplace", "Normal", "Uniform"]


def _noise(values: np.ndarray, dtype) -> Tensor:
    """Drawn numbers as a constant Tensor of the parameters' dtype."""
    return Tensor(np.asarray(values).astype(dtype, copy=False))


class _LocationScale(CentredAtLoc):
    """A location-scale family on the real line, x = loc + scale * (a standard variable):
    ``Family(loc, scale)``, numbers or Tensors that broadcast together; loc is the mean and the
    mode."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all(type(self).__name__, ("loc", "scale"), loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)


class Normal(_LocationScale):
    """N(loc, scale^2): ``Normal(loc, scale)``, numbers or Tensors that broadcast together."""

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale**2

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """torch.normal(loc, scale): rsample's draws, but in loc's dtype (the noise times scale,
        then plus loc, each rounded to it), where rsample's result has the promoted dtype."""
        shape = self._extended_shape(sample_shape)
        dtype = self.loc.dtype
        eps = random_streams.normal(self._rng(generator, rng), shape, dtype)
        scaled = (eps * self.scale.data).astype(dtype)
        return Tensor((scaled + self.loc.data).astype(dtype))

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """loc + eps * scale with eps ~ N(0, 1)."""
        shape = self._extended_shape(sample_shape)
        eps = _noise(random_streams.normal(self._rng(generator, rng), shape, self.loc.dtype),
                     self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        return -((value - self.loc) ** 2) / (2 * self.scale**2) - self.scale.log() - LOG_SQRT_2PI

    def cdf(self, value) -> Tensor:
        value = self._value(value, "cdf")
        return 0.5 * (1 + F.erf((value - self.loc) / self.scale / math.sqrt(2)))

    def icdf(self, value) -> Tensor:
        value = self._unchecked(value)
        return self.loc + self.scale * erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + LOG_SQRT_2PI + self.scale.log()


class Uniform(Distribution):
    """The uniform distribution on [low, high): ``Uniform(low, high)``."""

    has_rsample = True

    @property
    def arg_constraints(self) -> dict:
        return {"low": constraints.less_than(self.high),
                "high": constraints.greater_than(self.low)}

    def __init__(self, low, high, validate_args: bool | None = None):
        self.low, self.high = broadcast_all("Uniform", ("low", "high"), low, high)
        super().__init__(self.low.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return self.high * math.nan

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12**0.5

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """low + u * (high - low) with u ~ U[0, 1)."""
        shape = self._extended_shape(sample_shape)
        u = _noise(random_streams.uniform(self._rng(generator, rng), shape, self.low.dtype),
                   self.low.dtype)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value) -> Tensor:
        """-log(high - low) inside [low, high), -inf outside."""
        value = self._value(value)
        inside = (self.low.data <= value.data) & (self.high.data > value.data)
        outside = Tensor(np.where(inside, 0.0, -np.inf).astype(self.low.dtype))
        return outside - (self.high - self.low).log()

    def cdf(self, value) -> Tensor:
        value = self._value(value, "cdf")
        return F.clamp((value - self.low) / (self.high - self.low), 0, 1)

    def icdf(self, value) -> Tensor:
        return self._unchecked(value) * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()


class Laplace(_LocationScale):
    """The Laplace distribution, density exp(-|x - loc| / scale) / (2 scale):
    ``Laplace(loc, scale)``."""

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale**2

    @property
    def stddev(self) -> Tensor:
        return 2**0.5 * self.scale

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """loc - scale * sign(u) * log(1 - |u|) with u ~ U(eps - 1, 1), as PyTorch."""
        shape = self._extended_shape(sample_shape)
        eps = float(np.finfo(self.loc.dtype).eps)
        u = random_streams.uniform(self._rng(generator, rng), shape, self.loc.dtype, eps - 1, 1)
        noise = _noise(-np.sign(u) * np.log1p(-np.abs(u)), self.loc.dtype)
        return self.loc + self.scale * noise

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value) -> Tensor:
        value = self._value(value, "cdf")
        diff = value - self.loc
        return 0.5 - 0.5 * F.sign(diff) * F.expm1(-diff.abs() / self.scale)

    def icdf(self, value) -> Tensor:
        term = self._unchecked(value) - 0.5
        return self.loc - self.scale * F.sign(term) * F.log1p(-2 * term.abs())

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()


class Exponential(Distribution):
    """The exponential distribution, density rate * exp(-rate x) on x >= 0."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args: bool | None = None):
        (self.rate,) = broadcast_all("Exponential", ("rate",), rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return 1 / self.rate

    @property
    def mode(self) -> Tensor:
        return Tensor(np.zeros_like(self.rate.data))

    @property
    def stddev(self) -> Tensor:
        return 1 / self.rate

    @property
    def variance(self) -> Tensor:
        return self.rate**-2

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """e / rate with e ~ Exponential(1)."""
        shape = self._extended_shape(sample_shape)
        e = _noise(random_streams.exponential(self._rng(generator, rng), shape), self.rate.dtype)
        return e / self.rate

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value) -> Tensor:
        value = self._value(value, "cdf")
        return 1 - (-self.rate * value).exp()

    def icdf(self, value) -> Tensor:
        return -F.log1p(-self._unchecked(value)) / self.rate

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()


class _StandardGamma(Op):
    """x ~ Gamma(alpha, 1) drawn in forward; dx/dalpha by implicit reparameterisation
    (Figurnov et al. 2018), -(dF/dalpha) / (dF/dx) for the CDF F, in torch's approximation
    (reparam_grads.standard_gamma_grad) so that the gradient of a draw is torch's."""

    def __init__(self, shape: tuple, rng: np.random.Generator):
        self.shape, self.rng = shape, rng

    def forward(self, alpha):
        # torch's CPU sampler (random_streams.standard_gamma), never exactly 0
        alpha = np.broadcast_to(alpha, self.shape)
        if alpha.dtype in (np.float32, np.float64):
            x = random_streams.standard_gamma(self.rng, alpha)
        else:  # (float16 / bfloat16: drawn in float64, rounded and clamped)
            x = random_streams.standard_gamma(self.rng, alpha.astype(np.float64))
            x = np.maximum(x.astype(alpha.dtype), np.finfo(alpha.dtype).tiny)
        self.x, self.alpha = x, alpha
        return x

    def backward(self, grad_output):
        return (grad_output * standard_gamma_grad(self.alpha, self.x),)

    def backward_graph(self, grad_output, output):
        # torch's grad * _standard_gamma_grad(alpha, x): the product recorded, the slope a
        # node whose own derivative is torch's NotImplementedError
        from dlpy.autograd_function import _DelayedError

        slope = self.backward(np.ones(output.shape))[0].astype(grad_output.dtype)
        slope = _DelayedError("the derivative for '_standard_gamma_grad' is not implemented.",
                              NotImplementedError)(Tensor(slope), *self.inputs)
        return (grad_output * slope,)


def _standard_gamma(alpha: Tensor, shape: tuple, rng: np.random.Generator) -> Tensor:
    return _StandardGamma(shape, rng)(alpha)


class _SampleDirichlet(Op):
    """torch's _sample_dirichlet: float64 gammas over the last axis normalised by their float64
    sum, in alpha's dtype within [smallest normal, 1 - ulp]. The gradient is torch's: each
    coordinate's reparameterised gradient as a Beta(alpha, total - alpha) draw
    (reparam_grads.dirichlet_grad), then through the normalisation."""

    def __init__(self, shape: tuple, rng: np.random.Generator):
        self.shape, self.rng = shape, rng

    def forward(self, alpha):
        alpha = np.broadcast_to(alpha, self.shape)
        gammas = random_streams.dirichlet_gammas(self.rng, alpha)
        dtype = alpha.dtype
        x = (gammas / gammas.sum(axis=-1, keepdims=True)).astype(dtype)
        x = np.clip(x, np.finfo(dtype).tiny, np.nextafter(dtype.type(1), dtype.type(0)))
        self.x, self.alpha = x, alpha
        return x

    def backward(self, grad_output):
        x, alpha = self.x, self.alpha
        total = np.broadcast_to(alpha.sum(axis=-1, keepdims=True), alpha.shape)
        grad = dirichlet_grad(x, alpha, total)
        return (grad * (grad_output - (x * grad_output).sum(axis=-1, keepdims=True)),)


def _sample_dirichlet(alpha: Tensor, shape: tuple, rng: np.random.Generator) -> Tensor:
    return _SampleDirichlet(shape, rng)(alpha)


class Gamma(Distribution):
    """The gamma distribution with shape ``concentration`` and ``rate`` (1 / scale)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args: bool | None = None):
        self.concentration, self.rate = broadcast_all(
            "Gamma", ("concentration", "rate"), concentration, rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return F.clamp((self.concentration - 1) / self.rate, min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate**2

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """standard_gamma(concentration) / rate, differentiable in both (implicit
        reparameterisation for the concentration)."""
        shape = self._extended_shape(sample_shape)
        x = _standard_gamma(self.concentration, shape, self._rng(generator, rng))
        # divided by rate expanded to the sample's shape, as torch's: a 0-d float64 rate then
        # promotes float32 draws; results below the smallest normal number are raised to it
        # outside the graph (torch's value.detach().clamp_)
        value = x / (self.rate if self.rate.shape == shape else F.expand(self.rate, shape))
        np.maximum(value.data, np.finfo(value.dtype).tiny, out=value.data)
        return value

    def log_prob(self, value) -> Tensor:
        # torch's takes the value in rate's dtype (a float64 value gives a float32 result)
        value = self._value(value)
        value = value.to(self.rate.dtype) if value.dtype != self.rate.dtype else value
        return (xlogy(self.concentration, self.rate) + xlogy(self.concentration - 1, value)
                - self.rate * value - lgamma(self.concentration))

    def cdf(self, value) -> Tensor:
        """P(concentration, rate * value); differentiable in rate and value, not in the
        concentration (nor in PyTorch)."""
        value = self._value(value, "cdf")
        return gammainc(self.concentration, self.rate * value)

    def entropy(self) -> Tensor:
        c = self.concentration
        return c - self.rate.log() + lgamma(c) + (1.0 - c) * digamma(c)


class Beta(Distribution):
    """The beta distribution on [0, 1], density x^(a-1) (1-x)^(b-1) / B(a, b) with
    a = ``concentration1``, b = ``concentration0``. As torch's, the two are held by a Dirichlet
    over (a, b) (``_dirichlet``, whose ``concentration`` subclasses such as BoTorch's BetaPrior
    set) and read from it."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args: bool | None = None):
        concentration1, concentration0 = broadcast_all(
            "Beta", ("concentration1", "concentration0"), concentration1, concentration0)
        self._dirichlet = Dirichlet(F.stack([concentration1, concentration0], -1),
                                    validate_args=validate_args)
        super().__init__(concentration1.shape, validate_args=validate_args)

    @property
    def concentration1(self) -> Tensor:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> Tensor:
        return self._dirichlet.concentration[..., 1]

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        new._dirichlet = self._dirichlet.expand(batch_shape)

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        """(a - 1) / (a + b - 2) with a - 1 and b - 1 clamped at 0: 0 or 1 where one is below 1,
        nan where both are 1 (or one is 1 and the other below), and 1 where both are below 1
        (the density is unbounded at both ends), as PyTorch."""
        a1 = F.clamp(self.concentration1 - 1, min=0)
        b1 = F.clamp(self.concentration0 - 1, min=0)
        with np.errstate(invalid="ignore"):  # 0 / 0: nan, PyTorch's value there
            mode = a1 / (a1 + b1)
        both_below = (self.concentration1.data < 1) & (self.concentration0.data < 1)
        return F.where(both_below, np.ones((), dtype=mode.dtype), mode) if both_below.any() \
            else mode

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total**2 * (total + 1))

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """The first coordinate of a Dirichlet(concentration1, concentration0) draw, as
        torch's: X / (X + Y) with X ~ Gamma(concentration1), Y ~ Gamma(concentration0), drawn
        in turn per sample; differentiable (implicit reparameterisation)."""
        return self._dirichlet.rsample(sample_shape, generator=generator, rng=rng)[..., 0]

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        a, b = self.concentration1, self.concentration0
        return (xlogy(a - 1.0, value) + xlogy(b - 1.0, 1.0 - value) + lgamma(a + b)
                - (lgamma(a) + lgamma(b)))

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        total = a + b
        return (lgamma(a) + lgamma(b) - lgamma(total) - (2 - total) * digamma(total)
                - ((a - 1.0) * digamma(a) + (b - 1.0) * digamma(b)))


class Dirichlet(Distribution):
    """The Dirichlet distribution over probability vectors (the last axis, K of them): density
    prod_k x_k^(a_k - 1) / B(a) on the simplex, a = ``concentration`` (..., K), batch_shape its
    leading axes, event_shape (K,)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args: bool | None = None):
        (self.concentration,) = broadcast_all("Dirichlet", ("concentration",), concentration)
        if self.concentration.ndim < 1:
            raise ValueError(f"Dirichlet: concentration must have at least one axis (the "
                             f"categories), got shape {self.concentration.shape}")
        shape = self.concentration.shape
        super().__init__(shape[:-1], shape[-1:], validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(axis=-1, keepdims=True)

    @property
    def mode(self) -> Tensor:
        """(a - 1)+ / sum (a - 1)+; where every a_k < 1 (the density is unbounded at the
        corners) the one-hot vector of the first category, as PyTorch."""
        excess = F.clamp(self.concentration - 1, min=0)
        with np.errstate(invalid="ignore"):  # 0 / 0 where every a_k is 1: nan, PyTorch's value
            mode = excess / excess.sum(axis=-1, keepdims=True)
        corners = (self.concentration.data < 1).all(axis=-1, keepdims=True)
        if not corners.any():
            return mode
        first = np.zeros(mode.shape, dtype=mode.dtype)
        first[..., 0] = 1  # PyTorch's argmax of the all-nan row
        return F.where(corners, first, mode)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        total = a.sum(axis=-1, keepdims=True)
        return a * (total - a) / (total**2 * (total + 1))

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """G / sum(G) with G_k ~ Gamma(a_k, 1), differentiable in the concentration with
        torch's per-sample reparameterised gradient."""
        shape = self._extended_shape(sample_shape)
        return _sample_dirichlet(self.concentration, shape, self._rng(generator, rng))

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        a = self.concentration
        return (xlogy(a - 1.0, value).sum(axis=-1) + lgamma(a.sum(axis=-1))
                - lgamma(a).sum(axis=-1))

    def entropy(self) -> Tensor:
        a = self.concentration
        k, total = a.shape[-1], a.sum(axis=-1)
        return (lgamma(a).sum(axis=-1) - lgamma(total) - (k - total) * digamma(total)
                - ((a - 1.0) * digamma(a)).sum(axis=-1))
