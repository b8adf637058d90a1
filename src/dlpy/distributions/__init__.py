"""Probability distributions with PyTorch's API (``torch.distributions`` for the common cases).

    from dlpy.distributions import Normal, Categorical, kl_divergence
    d = Normal(loc, scale)                  # Tensors (with requires_grad) or numbers
    x = d.rsample((64,))                    # reparameterised: gradients reach loc and scale
    loss = -d.log_prob(data).mean()         # differentiable in the parameters (and the value)

Samples come from dlpy's default generator (``dlpy.manual_seed``) or from the numpy Generator
given as ``sample(..., generator=rng)``: the values are numpy's, not PyTorch's.
"""

from dlpy.distributions import constraints
from dlpy.distributions.continuous import (
    Beta,
    Dirichlet,
    Exponential,
    Gamma,
    Laplace,
    Normal,
    Uniform,
)
from dlpy.distributions.discrete import Bernoulli, Binomial, Categorical, OneHotCategorical, Poisson
from dlpy.distributions.distribution import Distribution
from dlpy.distributions.independent import Independent
from dlpy.distributions.kl import kl_divergence, register_kl
from dlpy.distributions.multivariate_normal import MultivariateNormal

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution", "Exponential",
    "Gamma",
    "Independent", "Laplace", "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson",
    "Uniform", "constraints", "kl_divergence", "register_kl",
]
