"""TransformedDistribution: the distribution of y = f_n(...f_1(x)) for x from a base
distribution, its log_prob by the change of variables
log p(y) = log p_base(x) - sum_i log |det J_i|, as torch.distributions.TransformedDistribution
(a normalising flow when the transforms have trainable parameters)."""

from __future__ import annotations

import numpy as np

from dlpy.distributions import constraints
from dlpy.distributions.distribution import Distribution, _shape_text, draw, sum_rightmost
from dlpy.distributions.independent import Independent
from dlpy.distributions.transforms import ComposeTransform, Transform
from dlpy.tensor import Tensor, no_grad

__all__ = ["TransformedDistribution"]


class TransformsError(TypeError, ValueError):
    """transforms that are not Transforms (torch raises a ValueError there, dlpy's house style
    a TypeError: either catches it)."""


class TransformedDistribution(Distribution):
    """``TransformedDistribution(base_distribution, transforms)``: samples are
    ``transforms`` (one Transform or a list, applied in order) of the base's samples."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution: Distribution, transforms,
                 validate_args: bool | None = None):
        name = type(self).__name__
        if not isinstance(base_distribution, Distribution):
            raise TypeError(f"{name}: base_distribution must be a Distribution, got "
                            f"{type(base_distribution).__name__}")
        if isinstance(transforms, Transform):
            transforms = [transforms]
        if not isinstance(transforms, (list, tuple)) or not all(
                isinstance(t, Transform) for t in transforms):
            raise TransformsError(f"{name}: transforms must be a Transform or a list of "
                                  f"Transforms, got {transforms!r}")
        self.transforms = list(transforms)
        base_shape = base_distribution.batch_shape + base_distribution.event_shape
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain.event_dim:
            raise ValueError(f"{name}: the transforms need a base distribution with at least "
                             f"{transform.domain.event_dim} axes, got batch_shape + event_shape "
                             f"{_shape_text(base_shape)}")
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:  # parameters of the transforms add batch axes
            base_distribution = base_distribution.expand(
                expanded_base_shape[:len(expanded_base_shape) - base_event_dim])
        reinterpreted = transform.domain.event_dim - base_event_dim
        if reinterpreted > 0:
            base_distribution = Independent(base_distribution, reinterpreted)
        self.base_dist = base_distribution
        event_dim = max(transform.codomain.event_dim,
                        base_event_dim + transform.codomain.event_dim - transform.domain.event_dim)
        cut = len(forward_shape) - event_dim
        super().__init__(forward_shape[:cut], forward_shape[cut:], validate_args=validate_args)

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        shape = batch_shape + self.event_shape
        for t in reversed(self.transforms):
            shape = t.inverse_shape(shape)
        new.base_dist = self.base_dist.expand(shape[:len(shape) - len(self.base_dist.event_shape)])

    def _dtype(self) -> np.dtype:
        return self.base_dist._dtype()

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        if not self.transforms:
            return self.base_dist.support
        support = self.transforms[-1].codomain
        if len(self.event_shape) > support.event_dim:
            support = constraints.independent(support, len(self.event_shape) - support.event_dim)
        return support

    @property
    def has_rsample(self) -> bool:
        return self.base_dist.has_rsample

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        with no_grad():
            x = draw(self.base_dist.sample, sample_shape, generator, rng)
            for transform in self.transforms:
                x = transform(x)
            return x

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        x = draw(self.base_dist.rsample, sample_shape, generator, rng)
        for transform in self.transforms:
            x = transform(x)
        return x

    def log_prob(self, value) -> Tensor:
        """log p_base(x) - sum of the transforms' log |det J| along the inverse path."""
        y = self._value(value)
        event_dim = len(self.event_shape)
        log_prob = 0.0
        for transform in reversed(self.transforms):
            x = transform.inv(y)
            event_dim += transform.domain.event_dim - transform.codomain.event_dim
            log_prob = log_prob - sum_rightmost(transform.log_abs_det_jacobian(x, y),
                                                event_dim - transform.domain.event_dim)
            y = x
        return log_prob + sum_rightmost(self.base_dist.log_prob(y),
                                        event_dim - len(self.base_dist.event_shape))

    def _monotonize_cdf(self, value):
        """The base's CDF turned round where the transforms decrease (their signs' product)."""
        sign = 1
        for transform in self.transforms:
            sign = sign * transform.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value) -> Tensor:
        value = self._unchecked(value)
        for transform in reversed(self.transforms):
            value = transform.inv(value)
        if self._validate_args:  # torch's checks the base's value (Pareto's below scale)
            self.base_dist._validate_sample(value, "cdf")
        return self._monotonize_cdf(self.base_dist.cdf(value))

    def icdf(self, value) -> Tensor:
        value = self.base_dist.icdf(self._monotonize_cdf(self._unchecked(value)))
        for transform in self.transforms:
            value = transform(value)
        return value
