"""More discrete families: Geometric, NegativeBinomial (``probs`` or ``logits``, as
Bernoulli) and Multinomial (counts over K classes). Samples are floats, as PyTorch's."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.continuous import Gamma
from dlpy.distributions.discrete import Binomial, _Binary, _OverCategorical
from dlpy.distributions.distribution import (
    _first_invalid,
    _sample_shape,
    _shape_text,
    masked_set,
)
from dlpy.ops.special import lgamma
from dlpy.tensor import Tensor

__all__ = ["Geometric", "Multinomial", "NegativeBinomial"]


class Geometric(_Binary):
    """The number of failures before the first success in Bernoulli(probs) trials:
    P(k) = (1 - p)^k p, k = 0, 1, ...; probs in (0, 1] (or logits)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args: bool | None = None):
        param = self._probs_or_logits(probs, logits)
        super().__init__(param.shape, validate_args=validate_args)
        if self._validate_args and "probs" in self.__dict__ and not np.all(self.probs.data > 0):
            valid = self.probs.data > 0
            raise ValueError(f"Geometric: expected parameter probs (shape "
                             f"{_shape_text(self.probs.shape)}) to be positive, but found "
                             f"invalid values{_first_invalid(self.probs.data, valid)}")

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return Tensor(np.zeros(self.batch_shape, dtype=self._dtype()))

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return (1.0 / probs - 1.0) / probs

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """floor(log(u) / log(1 - p)) with u ~ U(tiny, 1)."""
        shape = self._extended_shape(sample_shape)
        probs = self.probs.data
        u = random_streams.uniform(self._rng(generator, rng), shape, probs.dtype,
                                   float(np.finfo(probs.dtype).tiny), 1.0)
        with np.errstate(divide="ignore"):
            return Tensor(np.floor(np.log(u) / np.log1p(-probs)).astype(probs.dtype))

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        probs = self.probs
        shape = np.broadcast_shapes(value.shape, probs.shape)
        # torch broadcasts the value first: a 0-d float64 value then promotes float32 probs
        value = F.expand(value, shape) if value.shape != shape else value
        # p = 1 and k = 0: 0 * log(0) is 0 (certain success at once)
        certain = np.broadcast_to((probs.data == 1) & (value.data == 0), shape)
        clipped = masked_set(F.expand(probs, shape) if probs.shape != shape else probs,
                             certain, 0.0)
        return value * F.log1p(-clipped) + probs.log()

    def entropy(self) -> Tensor:
        """BCE-with-logits(logits, probs) / probs."""
        from dlpy.distributions.discrete import _bce_with_logits

        return _bce_with_logits(self.logits, self.probs) / self.probs


class NegativeBinomial(_Binary):
    """The number of successes before ``total_count`` failures in Bernoulli(probs) trials:
    P(k) = C(k + r - 1, k) p^k (1 - p)^r."""

    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args: bool | None = None):
        param = self._probs_or_logits(probs, logits, total_count=total_count)
        if self.total_count.dtype != param.dtype:
            # torch's type_as: differentiable, so a float32 total_count keeps its gradient
            self.total_count = self.total_count.to(param.dtype)
        super().__init__(param.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.logits.exp()

    @property
    def mode(self) -> Tensor:
        return F.clamp(F.floor((self.total_count - 1) * self.logits.exp()), min=0.0)

    @property
    def variance(self) -> Tensor:
        return self.mean / F.sigmoid(-self.logits)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """Poisson(rate) with rate ~ Gamma(total_count, exp(-logits)), as torch's."""
        generator = self._rng(generator, rng)
        gamma = Gamma(self.total_count, (-self.logits).exp(), validate_args=False)
        rate = gamma.sample(sample_shape, generator=generator).data
        return Tensor(random_streams.poisson(generator, rate).astype(rate.dtype))

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        n, logits = self.total_count, self.logits
        log_unnormalized = n * F.logsigmoid(-logits) + value * F.logsigmoid(logits)
        log_normalization = -lgamma(n + value) + lgamma(1.0 + value) + lgamma(n)
        log_normalization = masked_set(log_normalization, (n.data + value.data) == 0.0, 0.0)
        return log_unnormalized - log_normalization


class _CountError(NotImplementedError, ValueError):
    """A total_count that is not one int (PyTorch raises NotImplementedError there)."""


class Multinomial(_OverCategorical):
    """Counts over K classes in ``total_count`` (an int) draws of a Categorical(probs or
    logits): event_shape (K,)."""

    def __init__(self, total_count: int = 1, probs=None, logits=None,
                 validate_args: bool | None = None):
        if isinstance(total_count, bool) or not isinstance(total_count, (int, np.integer)) \
                or total_count < 0:
            # not an int: PyTorch's NotImplementedError (no per-batch total_count)
            error = ValueError if isinstance(total_count, (int, np.integer)) else _CountError
            raise error(f"Multinomial: total_count must be a non-negative int (one for the "
                        f"whole batch, as PyTorch's), got {total_count!r}")
        self.total_count = int(total_count)
        super().__init__(probs, logits, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        # PyTorch's weaker check: non-negative counts summing to at most total_count
        return constraints.multinomial(self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return self.total_count * probs * (1 - probs)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """The counts of total_count Categorical draws."""
        shape = self._extended_shape(sample_shape)
        sample_shape = _sample_shape("Multinomial.sample", sample_shape)
        draws = self._categorical.sample((self.total_count,) + sample_shape,
                                         generator=generator, rng=rng).data
        counts = np.zeros(shape, dtype=self._dtype())
        for k in range(shape[-1]):
            counts[..., k] = (draws == k).sum(axis=0)
        return Tensor(counts)

    def log_prob(self, value) -> Tensor:
        """log n! - sum log x_k! + sum x_k logits_k (0 * -inf logits counted as 0)."""
        value = self._value(value)
        logits = self.logits
        shape = np.broadcast_shapes(logits.shape, value.shape)
        logits = logits if logits.shape == shape else F.expand(logits, shape)
        logits = masked_set(logits, (value.data == 0) & (logits.data == -math.inf), 0.0)
        log_factorial_n = lgamma(value.sum(axis=-1) + 1)
        log_factorial_xs = lgamma(value + 1).sum(axis=-1)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(axis=-1)

    def entropy(self) -> Tensor:
        """n H(categorical) - log n! + sum over classes and k = 1..n of Binomial(n, p_k)(k)
        log k!."""
        n = self.total_count
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        binomial = Binomial(float(n), probs=self.probs, validate_args=False)
        support = binomial.enumerate_support(expand=False)[1:]
        binomial_probs = binomial.log_prob(support).exp()
        weights = lgamma(support + 1)
        return term1 + (binomial_probs * weights).sum(axis=(0, -1))
