"""Relaxed (Concrete / Gumbel-softmax) distributions: continuous stand-ins for Bernoulli and
one-hot categorical samples, reparameterised, that sharpen as ``temperature`` goes to 0
(Maddison et al. 2017, Jang et al. 2017). The logit / log-space bases and their
sigmoid / exp transforms, as PyTorch."""

from __future__ import annotations

import math

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.continuous import _noise
from dlpy.distributions.discrete import _Binary, _OverCategorical
from dlpy.distributions.distribution import (
    Distribution,
    as_tensors,
    broadcast_pair,
    clamp_probs,
)
from dlpy.distributions.transformed_distribution import TransformedDistribution
from dlpy.distributions.transforms import ExpTransform, SigmoidTransform
from dlpy.tensor import Tensor

__all__ = ["ExpRelaxedCategorical", "LogitRelaxedBernoulli", "RelaxedBernoulli",
           "RelaxedOneHotCategorical"]


def _temperature(name: str, temperature) -> Tensor:
    # not checked, as torch's (no constraint on it): a temperature <= 0 gives nan or inf
    (temperature,) = as_tensors(name, ("temperature",), temperature)
    return temperature


class LogitRelaxedBernoulli(_Binary):
    """The logit of a RelaxedBernoulli sample: (logit(u) + logits) / temperature."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        param = self._probs_or_logits(probs, logits)
        self.temperature = _temperature(type(self).__name__, temperature)
        super().__init__(param.shape, validate_args=validate_args)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(F.expand(self.probs, shape))
        uniforms = clamp_probs(_noise(random_streams.uniform(self._rng(generator, rng), shape,
                                                             probs.dtype), probs.dtype))
        return (uniforms.log() - F.log1p(-uniforms) + probs.log() - F.log1p(-probs)) \
            / self.temperature

    def log_prob(self, value) -> Tensor:
        logits, value = broadcast_pair(self.logits, self._value(value))
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * F.log1p(diff.exp())


class _Relaxed(TransformedDistribution):
    """``Family(temperature, probs=None, logits=None)``: ``_transform`` of a ``_base`` built with
    those arguments, whose temperature, logits and probs it shows as its own."""

    has_rsample = True
    _base: type[Distribution]
    _transform: type

    _base_validates = False  # whether validate_args reaches the base (else its default)

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        # torch's RelaxedBernoulli builds its base without validate_args: the base checks
        # probs / logits even with validate_args=False (RelaxedOneHotCategorical passes it on)
        base = self._base(temperature, probs, logits,
                          validate_args=validate_args if self._base_validates else None)
        super().__init__(base, self._transform(), validate_args=validate_args)

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs


class RelaxedBernoulli(_Relaxed):
    """``RelaxedBernoulli(temperature, probs=None, logits=None)``: samples in (0, 1),
    sigmoid of a LogitRelaxedBernoulli."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _base, _transform = LogitRelaxedBernoulli, SigmoidTransform


class ExpRelaxedCategorical(_OverCategorical):
    """The log of a RelaxedOneHotCategorical sample: log_softmax((logits + G) / temperature)
    with G Gumbel noise (event_shape (K,))."""

    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args: bool | None = None):
        super().__init__(probs, logits, validate_args=validate_args)
        self.temperature = _temperature(type(self).__name__, temperature)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        shape = self._extended_shape(sample_shape)
        uniforms = clamp_probs(_noise(random_streams.uniform(self._rng(generator, rng), shape,
                                                             self._dtype()), self._dtype()))
        gumbels = -(-uniforms.log()).log()
        scores = (self.logits + gumbels) / self.temperature
        return scores - F.logsumexp(scores, axis=-1, keepdims=True)

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        k = self._categorical._num_events
        log_scale = math.lgamma(k) + (k - 1) * self.temperature.log()
        score = self.logits - value * self.temperature
        score = (score - F.logsumexp(score, axis=-1, keepdims=True)).sum(axis=-1)
        return score + log_scale


class RelaxedOneHotCategorical(_Relaxed):
    """``RelaxedOneHotCategorical(temperature, probs=None, logits=None)``: samples on the
    simplex, exp of an ExpRelaxedCategorical."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    _base, _transform = ExpRelaxedCategorical, ExpTransform
    _base_validates = True
