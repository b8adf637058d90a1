"""MixtureSameFamily: a mixture of K components of one family, the component index from a
Categorical; log_prob = logsumexp_k(log pi_k + log p_k(x)), as PyTorch's."""

from __future__ import annotations

import numpy as np

import dlpy.functional as F
from dlpy.distributions import constraints
from dlpy.distributions.discrete import Categorical
from dlpy.distributions.distribution import Distribution, _sample_shape, _shape_text
from dlpy.tensor import Tensor, no_grad

__all__ = ["MixtureSameFamily"]


class MixtureSameFamily(Distribution):
    """``MixtureSameFamily(mixture_distribution, component_distribution)``: a Categorical over
    K components and a distribution whose last batch axis holds the K components; batch_shape
    is the component's without it."""

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, mixture_distribution: Categorical, component_distribution: Distribution,
                 validate_args: bool | None = None):
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError(f"MixtureSameFamily: mixture_distribution must be a Categorical, "
                             f"got {type(mixture_distribution).__name__}")
        if not isinstance(component_distribution, Distribution):
            raise ValueError(f"MixtureSameFamily: component_distribution must be a "
                             f"Distribution, got {type(component_distribution).__name__}")
        mixture_batch = mixture_distribution.batch_shape
        component_batch = component_distribution.batch_shape[:-1]
        for a, b in zip(reversed(mixture_batch), reversed(component_batch)):
            if a != 1 and b != 1 and a != b:
                raise ValueError(f"MixtureSameFamily: mixture_distribution.batch_shape "
                                 f"{_shape_text(mixture_batch)} is not compatible with "
                                 f"component_distribution.batch_shape[:-1] "
                                 f"{_shape_text(component_batch)}")
        k_mixture = mixture_distribution._num_events
        k_component = component_distribution.batch_shape[-1:] or (None,)
        if k_component[0] != k_mixture:
            raise ValueError(f"MixtureSameFamily: the mixture has {k_mixture} components but "
                             f"component_distribution.batch_shape[-1] is {k_component[0]}")
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._num_component = k_mixture
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(component_batch, component_distribution.event_shape,
                         validate_args=validate_args)

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        new._component_distribution = self._component_distribution.expand(
            batch_shape + (self._num_component,))
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)

    def _dtype(self) -> np.dtype:
        return self._component_distribution._dtype()

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.MixtureSameFamilyConstraint(self._component_distribution.support)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    def _pad(self, x: Tensor) -> Tensor:
        """x with an axis for the components before the event axes."""
        return F.unsqueeze(x, -1 - self._event_ndims)

    def _pad_mixture_dimensions(self, probs: Tensor) -> Tensor:
        """probs (..., K) -> (..., [1 ...], K, 1 per event axis) to line up with the
        components."""
        batch_ndims = len(self.batch_shape)
        mixture_ndims = len(self.mixture_distribution.batch_shape)
        pad = 0 if mixture_ndims == 1 else batch_ndims - mixture_ndims
        shape = probs.shape
        return F.reshape(probs, shape[:-1] + (1,) * pad + shape[-1:] + (1,) * self._event_ndims)

    @property
    def mean(self) -> Tensor:
        probs = self._pad_mixture_dimensions(self.mixture_distribution.probs)
        return (probs * self.component_distribution.mean).sum(axis=-1 - self._event_ndims)

    @property
    def variance(self) -> Tensor:
        """E[Var(x | k)] + Var(E[x | k])."""
        probs = self._pad_mixture_dimensions(self.mixture_distribution.probs)
        axis = -1 - self._event_ndims
        component = self.component_distribution
        mean_cond_var = (probs * component.variance).sum(axis=axis)
        var_cond_mean = (probs * (component.mean - self._pad(self.mean)) ** 2).sum(axis=axis)
        return mean_cond_var + var_cond_mean

    def cdf(self, value) -> Tensor:
        value = self._pad(self._unchecked(value))
        return (self.component_distribution.cdf(value) * self.mixture_distribution.probs).sum(
            axis=-1)

    def log_prob(self, value) -> Tensor:
        value = self._pad(self._value(value))
        log_prob = self.component_distribution.log_prob(value)
        log_mix = F.log_softmax(self.mixture_distribution.logits, dim=-1)
        return F.logsumexp(log_prob + log_mix, axis=-1)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """A component index per draw, then that component's sample."""
        sample_shape = _sample_shape("MixtureSameFamily.sample", sample_shape)
        generator = self._rng(generator, rng)
        with no_grad():
            mix = self.mixture_distribution.sample(sample_shape, generator=generator).data
            components = self.component_distribution.sample(sample_shape,
                                                            generator=generator).data
        # mix (sample, mixture batch) -> (sample, batch, 1, event...) to pick along K
        batch = self.batch_shape
        mix = mix.reshape(sample_shape + (1,) * (len(batch) - (mix.ndim - len(sample_shape)))
                          + mix.shape[len(sample_shape):])
        index = mix.reshape(mix.shape + (1,) * (1 + self._event_ndims))
        index = np.broadcast_to(index, sample_shape + batch + (1,) + self.event_shape)
        picked = np.take_along_axis(components, index, axis=len(sample_shape) + len(batch))
        return Tensor(picked.squeeze(len(sample_shape) + len(batch)))

    def __repr__(self) -> str:
        return f"MixtureSameFamily({self.mixture_distribution!r}, {self.component_distribution!r})"
