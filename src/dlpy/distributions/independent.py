"""Independent: reads some batch axes of a distribution as event axes, so log_prob and entropy
sum over them (a diagonal Normal with the shapes of a MultivariateNormal)."""

from __future__ import annotations

import numpy as np

from dlpy.distributions import constraints
from dlpy.distributions.distribution import Distribution, draw, sum_rightmost
from dlpy.tensor import Tensor

__all__ = ["Independent"]


class Independent(Distribution):
    """``Independent(base_distribution, reinterpreted_batch_ndims)``: the base's last
    ``reinterpreted_batch_ndims`` batch axes become event axes."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution: Distribution, reinterpreted_batch_ndims: int,
                 validate_args: bool | None = None):
        if not isinstance(base_distribution, Distribution):
            raise TypeError(f"Independent: base_distribution must be a Distribution, got "
                            f"{type(base_distribution).__name__}")
        n = reinterpreted_batch_ndims
        batch_ndim = len(base_distribution.batch_shape)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= batch_ndim:
            raise ValueError(f"Independent: reinterpreted_batch_ndims must be an int in "
                             f"[0, {batch_ndim}] (the base's batch axes), got {n!r}")
        shape = base_distribution.batch_shape + base_distribution.event_shape
        event_dim = int(n) + len(base_distribution.event_shape)
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = int(n)
        super().__init__(shape[:len(shape) - event_dim], shape[len(shape) - event_dim:],
                         validate_args=validate_args)

    def _expand_extra(self, new: Distribution, batch_shape: tuple) -> None:
        n = self.reinterpreted_batch_ndims
        new.base_dist = self.base_dist.expand(batch_shape + self.event_shape[:n])

    def _dtype(self) -> np.dtype:
        return self.base_dist._dtype()

    @property
    def has_rsample(self) -> bool:
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self) -> bool:
        return self.reinterpreted_batch_ndims == 0 and self.base_dist.has_enumerate_support

    @property
    def support(self) -> constraints.Constraint:
        support = self.base_dist.support
        n = self.reinterpreted_batch_ndims
        return constraints.independent(support, n) if n else support

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        return draw(self.base_dist.sample, sample_shape, generator, rng)

    def rsample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        return draw(self.base_dist.rsample, sample_shape, generator, rng)

    def log_prob(self, value) -> Tensor:
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        if self.reinterpreted_batch_ndims:
            raise NotImplementedError("Independent.enumerate_support: enumerating the cartesian "
                                      "product of event axes is not implemented")
        return self.base_dist.enumerate_support(expand)

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
