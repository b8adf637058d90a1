"""Probability distributions with PyTorch's API (``torch.distributions`` for the common cases).

    from dlpy.distributions import Normal, Categorical, kl_divergence
    d = Normal(loc, scale)                  # Tensors (with requires_grad) or numbers
    x = d.rsample((64,))                    # reparameterised: gradients reach loc and scale
    loss = -d.log_prob(data).mean()         # differentiable in the parameters (and the value)

Samples come from dlpy's default generator (``dlpy.manual_seed``) or from the numpy Generator
given as ``sample(..., generator=rng)``: the values are numpy's, not PyTorch's.
"""

import sys as _sys

from dlpy.distributions import constraints, kl_cross, transforms  # noqa: F401 - registers KLs
from dlpy.distributions.constraint_registry import biject_to, transform_to
from dlpy.distributions.continuous import (
    Beta,
    Dirichlet,
    Exponential,
    Gamma,
    Laplace,
    Normal,
    Uniform,
)
from dlpy.distributions.continuous_more import (
    Cauchy,
    Chi2,
    ContinuousBernoulli,
    FisherSnedecor,
    StudentT,
    VonMises,
)
from dlpy.distributions.discrete import Bernoulli, Binomial, Categorical, OneHotCategorical, Poisson
from dlpy.distributions.discrete_more import Geometric, Multinomial, NegativeBinomial
from dlpy.distributions.distribution import Distribution
from dlpy.distributions.exp_family import ExponentialFamily
from dlpy.distributions.independent import Independent
from dlpy.distributions.kl import kl_divergence, register_kl
from dlpy.distributions.lkj import LKJCholesky
from dlpy.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
from dlpy.distributions.mixture_same_family import MixtureSameFamily
from dlpy.distributions.more_families import (
    GeneralizedPareto,
    InverseGamma,
    OneHotCategoricalStraightThrough,
)
from dlpy.distributions.multivariate_normal import MultivariateNormal
from dlpy.distributions.relaxed import (
    ExpRelaxedCategorical,
    LogitRelaxedBernoulli,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)
from dlpy.distributions.transformed_distribution import TransformedDistribution
from dlpy.distributions.transformed_families import (
    Gumbel,
    HalfCauchy,
    HalfNormal,
    Kumaraswamy,
    LogisticNormal,
    LogNormal,
    Pareto,
    Weibull,
)
from dlpy.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from dlpy.distributions.wishart import Wishart

__all__ = [
    "AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "CatTransform",
    "Categorical", "Cauchy", "Chi2", "ComposeTransform", "ContinuousBernoulli",
    "CorrCholeskyTransform", "CumulativeDistributionTransform", "Dirichlet", "Distribution",
    "ExpRelaxedCategorical", "ExpTransform", "Exponential", "ExponentialFamily",
    "FisherSnedecor", "Gamma", "GeneralizedPareto", "Geometric", "Gumbel", "HalfCauchy",
    "HalfNormal", "Independent", "IndependentTransform", "InverseGamma", "Kumaraswamy",
    "LKJCholesky", "Laplace", "LogNormal", "LogisticNormal", "LogitRelaxedBernoulli",
    "LowRankMultivariateNormal", "LowerCholeskyTransform", "MixtureSameFamily", "Multinomial",
    "MultivariateNormal", "NegativeBinomial", "Normal", "OneHotCategorical",
    "OneHotCategoricalStraightThrough", "Pareto", "Poisson", "PositiveDefiniteTransform",
    "PowerTransform", "RelaxedBernoulli", "RelaxedOneHotCategorical", "ReshapeTransform",
    "SigmoidTransform", "SoftmaxTransform", "SoftplusTransform", "StackTransform",
    "StickBreakingTransform", "StudentT", "TanhTransform", "Transform",
    "TransformedDistribution", "Uniform", "VonMises", "Weibull", "Wishart", "biject_to",
    "constraints", "identity_transform", "kl_divergence", "register_kl", "transform_to",
    "transforms",
]

# torch's one module per family (``from torch.distributions.normal import Normal`` under
# dlpy.compat, ``torch.distributions.relaxed_categorical.ExpRelaxedCategorical``): each name is
# the dlpy module that holds that family
_FAMILY_MODULES = {
    "bernoulli": Bernoulli, "beta": Beta, "binomial": Binomial, "categorical": Categorical,
    "cauchy": Cauchy, "chi2": Chi2, "continuous_bernoulli": ContinuousBernoulli,
    "dirichlet": Dirichlet, "exponential": Exponential, "fishersnedecor": FisherSnedecor,
    "gamma": Gamma, "generalized_pareto": GeneralizedPareto, "geometric": Geometric,
    "gumbel": Gumbel, "half_cauchy": HalfCauchy, "half_normal": HalfNormal,
    "inverse_gamma": InverseGamma, "kumaraswamy": Kumaraswamy, "laplace": Laplace,
    "lkj_cholesky": LKJCholesky, "log_normal": LogNormal, "logistic_normal": LogisticNormal,
    "multinomial": Multinomial, "negative_binomial": NegativeBinomial, "normal": Normal,
    "one_hot_categorical": OneHotCategorical, "pareto": Pareto, "poisson": Poisson,
    "relaxed_bernoulli": RelaxedBernoulli, "relaxed_categorical": RelaxedOneHotCategorical,
    "studentT": StudentT, "uniform": Uniform, "von_mises": VonMises, "weibull": Weibull}
for _name, _family in _FAMILY_MODULES.items():
    globals()[_name] = _sys.modules[_family.__module__]
del _name, _family
