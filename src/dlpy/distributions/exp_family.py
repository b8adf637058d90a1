"""ExponentialFamily: densities exp(<t(x), theta> - F(theta) + k(x)). A family that gives its
natural parameters theta, its log normalizer F and E[k(x)] gets its entropy, and KL to another
of its own kind, from the Bregman divergence of F (Nielsen & Nock), differentiated by autograd,
as PyTorch's."""

from __future__ import annotations

from dlpy.autograd import grad
from dlpy.distributions.distribution import Distribution
from dlpy.tensor import Tensor

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """The base of families with ``_natural_params``, ``_log_normalizer(*natural_params)`` and
    ``_mean_carrier_measure``."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError(f"{type(self).__name__} does not give its natural parameters")

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not give its log normalizer")

    @property
    def _mean_carrier_measure(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not give E[k(x)]")

    def _bregman_terms(self) -> tuple[list[Tensor], Tensor, list]:
        """theta, F(theta) and dF/dtheta (recorded, so it can be differentiated again; a
        constant theta is differentiated through a copy)."""
        thetas = [t if t.requires_grad else Tensor(t.data, requires_grad=True)
                  for t in self._natural_params]
        log_normalizer = self._log_normalizer(*thetas)
        gradients = grad(log_normalizer.sum(), thetas, create_graph=True, allow_unused=True)
        return thetas, log_normalizer, [0.0 if g is None else g for g in gradients]

    def entropy(self) -> Tensor:
        """F(theta) - <theta, dF/dtheta> - E[k(x)]."""
        thetas, log_normalizer, gradients = self._bregman_terms()
        result = log_normalizer - self._mean_carrier_measure
        for theta, g in zip(thetas, gradients):
            product = theta * g
            result = result - product.reshape(self.batch_shape + (-1,)).sum(axis=-1)
        return result
