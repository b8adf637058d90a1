"""LKJCholesky(dim, concentration): the Cholesky factor L of a dim x dim correlation matrix
M = L L^T with density proportional to det(M)^(concentration - 1), sampled by the onion method
(Lewandowski, Kurowicka & Joe 2009, section 3), as PyTorch's (after NumPyro)."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.distributions import constraints
from dlpy.distributions.continuous import Beta
from dlpy.distributions.distribution import Distribution, broadcast_all
from dlpy.distributions.multivariate_normal import diagonal
from dlpy.ops.pointwise import mvlgamma
from dlpy.ops.special import lgamma
from dlpy.tensor import Tensor

__all__ = ["LKJCholesky"]


def onion(y: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Rows of L from Beta draws y (..., dim) and standard normals (..., dim, dim): row i is
    sqrt(y_i) times a uniform direction (the strict lower part of normal's row i, normalised)
    in its first i entries, and what completes unit length on the diagonal."""
    u = np.tril(normal, -1)
    with np.errstate(invalid="ignore"):  # row 0 is 0 / 0, set to 0 next
        u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    u[..., 0, :] = 0.0
    w = np.sqrt(y)[..., None] * u
    tiny = np.finfo(w.dtype).tiny
    diag = np.sqrt(np.maximum(1 - (w**2).sum(-1), tiny))
    return w + diag[..., None] * np.eye(w.shape[-1], dtype=w.dtype)


class LKJCholesky(Distribution):
    """``LKJCholesky(dim, concentration=1.0)``: lower Cholesky factors (dim, dim) of correlation
    matrices; concentration 1 is uniform over correlation matrices. No rsample (as PyTorch);
    sample draws the true LKJ, PyTorch's does not for dim >= 3 (see ``_beta``)."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration=1.0, validate_args: bool | None = None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 2:
            raise ValueError(f"LKJCholesky: dim must be an int >= 2, got {dim!r}")
        self.dim = int(dim)
        (self.concentration,) = broadcast_all("LKJCholesky", ("concentration",), concentration)
        super().__init__(self.concentration.shape, (self.dim, self.dim),
                         validate_args=validate_args)

    def _beta(self) -> Beta:
        """The Beta(i / 2, concentration + (dim - 2) / 2 - (i - 1) / 2) of the squared norm of
        row i's off-diagonal part (row 0 has none: a dummy draw). PyTorch 2.13 takes i - 1/2 for
        the first concentration (NumPyro, whose code it follows, i / 2), so its rows from the
        third on are too correlated: E[r^2] 0.249 instead of 1 / (2 eta + dim - 1) = 0.2 for
        dim 4, eta 1. dlpy draws the true LKJ."""
        c = self.concentration
        offset = np.concatenate([[0.0], np.arange(self.dim - 1)]).astype(c.dtype)
        marginal = F.unsqueeze(c + 0.5 * (self.dim - 2), -1)
        return Beta(0.5 * offset + 0.5, marginal - 0.5 * offset, validate_args=False)

    def sample(self, sample_shape=(), *, generator=None, rng=None) -> Tensor:
        """Onion-method draws of shape sample_shape + batch_shape + (dim, dim): Beta draws for
        the rows' squared off-diagonal norms, then normals for their directions."""
        generator = self._rng(generator, rng)
        shape = self._extended_shape(sample_shape)
        y = self._beta().sample(shape[:len(shape) - 2 - len(self.batch_shape)],
                                generator=generator).data
        normal = random_streams.normal(generator, shape, y.dtype)  # torch.randn's draws
        return Tensor(onion(y, normal))

    def log_prob(self, value) -> Tensor:
        value = self._value(value)
        dim, c = self.dim, self.concentration
        diag = diagonal(value)[..., 1:]
        order = 2 * F.unsqueeze(c - 1, -1) + dim - np.arange(2, dim + 1, dtype=c.dtype)
        unnormalized = (order * diag.log()).sum(axis=-1)
        dm1 = dim - 1
        alpha = c + 0.5 * dm1
        normalize = 0.5 * dm1 * math.log(math.pi) + mvlgamma(alpha - 0.5, dm1) - \
            lgamma(alpha) * dm1
        return unnormalized - normalize
