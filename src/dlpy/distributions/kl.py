"""kl_divergence(p, q) = KL(p || q), one closed form per pair of families, found in a registry
that ``register_kl`` fills (the most specific pair by subclass wins, as in PyTorch)."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import dlpy.functional as F
from dlpy.distributions.continuous import (
    Beta,
    Dirichlet,
    Exponential,
    Gamma,
    Laplace,
    Normal,
    Uniform,
)
from dlpy.distributions.continuous_more import Cauchy, ContinuousBernoulli
from dlpy.distributions.discrete import Bernoulli, Binomial, Categorical, OneHotCategorical, Poisson
from dlpy.distributions.discrete_more import Geometric
from dlpy.distributions.distribution import EULER_GAMMA, Distribution, sum_rightmost
from dlpy.distributions.distribution import masked_set as _set
from dlpy.distributions.independent import Independent
from dlpy.distributions.lowrank_multivariate_normal import (
    LowRankMultivariateNormal,
    lowrank_mahalanobis,
)
from dlpy.distributions.multivariate_normal import MultivariateNormal, diagonal, mahalanobis
from dlpy.distributions.transformed_distribution import TransformedDistribution
from dlpy.distributions.transformed_families import Gumbel, HalfNormal, Pareto
from dlpy.ops.linalg import solve_triangular
from dlpy.ops.special import digamma, lgamma
from dlpy.tensor import Tensor

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY: dict[tuple[type, type], Callable] = {}
_KL_MEMOIZE: dict[tuple[type, type], Callable] = {}


def register_kl(type_p: type, type_q: type):
    """A decorator registering ``fn(p, q)`` as KL(p || q) for instances of these classes::

        @register_kl(Normal, Normal)
        def kl_normal_normal(p, q): ...

    Any class is taken, as torch's (pyro registers its abstract ``Distribution``, a base of
    its families that is no torch Distribution); anything that is no class is a TypeError.
    """
    for what, kind in (("type_p", type_p), ("type_q", type_q)):
        if not isinstance(kind, type):
            raise TypeError(f"register_kl: {what} must be a Distribution subclass, got {kind!r}")

    def decorator(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        _KL_MEMOIZE.clear()  # a new entry may be the most specific for pairs already seen
        return fn

    return decorator


@functools.total_ordering
class _Match:
    """A registered pair, ordered by specificity: a <= b when a's first differing type is a
    subclass of b's."""

    __slots__ = ("types",)

    def __init__(self, *types):
        self.types = types

    def __eq__(self, other) -> bool:
        return self.types == other.types

    def __le__(self, other) -> bool:
        for x, y in zip(self.types, other.types):
            if not issubclass(x, y):
                return False
            if x is not y:
                break
        return True


def _dispatch_kl(type_p: type, type_q: type):
    matches = [(p, q) for p, q in _KL_REGISTRY if issubclass(type_p, p) and issubclass(type_q, q)]
    if not matches:
        return None
    left_p, left_q = min(_Match(*m) for m in matches).types
    right_q, right_p = min(_Match(*reversed(m)) for m in matches).types
    left, right = _KL_REGISTRY[left_p, left_q], _KL_REGISTRY[right_p, right_q]
    if left is not right:
        warnings.warn(f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}) "
                      f"(kl_divergence: ambiguous for ({type_p.__name__}, {type_q.__name__})). "
                      f"Please register_kl({left_p.__name__}, {right_q.__name__}) to choose",
                      RuntimeWarning, stacklevel=3)
    return left


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) of shape batch_shape (p's and q's broadcast), differentiable in both
    distributions' parameters. NotImplementedError for a pair with no registered formula."""
    key = (type(p), type(q))
    if key not in _KL_MEMOIZE:
        _KL_MEMOIZE[key] = _dispatch_kl(*key)
    fn = _KL_MEMOIZE[key]
    if fn is None:
        raise NotImplementedError(f"kl_divergence: no KL(p || q) is registered for p "
                                  f"{type(p).__name__} and q {type(q).__name__}")
    return fn(p, q)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    p_probs, q_probs = p.probs, q.probs
    p_logits, q_logits = p.logits, q.logits
    t1 = p_probs * (F.softplus(-q_logits) - F.softplus(-p_logits))
    t1 = _set(_set(t1, q_probs.data == 0, math.inf), p_probs.data == 0, 0.0)
    t2 = (1 - p_probs) * (F.softplus(q_logits) - F.softplus(p_logits))
    t2 = _set(_set(t2, q_probs.data == 1, math.inf), p_probs.data == 1, 0.0)
    return t1 + t2


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p: Binomial, q: Binomial) -> Tensor:
    if (p.total_count.data < q.total_count.data).any():
        raise NotImplementedError("kl_divergence: KL between Binomials where q.total_count > "
                                  "p.total_count is not implemented")
    p_probs = p.probs
    kl = p.total_count * (p_probs * (p.logits - q.logits) + F.log1p(-p_probs)
                          - F.log1p(-q.probs))
    return _set(kl, p.total_count.data > q.total_count.data, math.inf)


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    p_probs = p.probs
    t = p_probs * (p.logits - q.logits)
    t = _set(_set(t, q.probs.data == 0, math.inf), p_probs.data == 0, 0.0)
    return t.sum(axis=-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _set(result, (q.low.data > p.low.data) | (q.high.data < p.high.data), math.inf)


@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    sum_p = p.concentration1 + p.concentration0
    sum_q = q.concentration1 + q.concentration0
    t1 = lgamma(q.concentration1) + lgamma(q.concentration0) + lgamma(sum_p)
    t2 = lgamma(p.concentration1) + lgamma(p.concentration0) + lgamma(sum_q)
    t3 = (p.concentration1 - q.concentration1) * digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * digamma(p.concentration0)
    t5 = (sum_q - sum_p) * digamma(sum_p)
    return t1 - t2 + t3 + t4 + t5


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    sum_p = p.concentration.sum(axis=-1)
    sum_q = q.concentration.sum(axis=-1)
    t1 = lgamma(sum_p) - lgamma(sum_q)
    t2 = (lgamma(p.concentration) - lgamma(q.concentration)).sum(axis=-1)
    t3 = p.concentration - q.concentration
    t4 = digamma(p.concentration) - F.unsqueeze(digamma(sum_p), -1)
    return t1 - t2 + (t3 * t4).sum(axis=-1)


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    t1 = q.concentration * (p.rate / q.rate).log()
    t2 = lgamma(q.concentration) - lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    rate_ratio = q.rate / p.rate
    return -rate_ratio.log() + rate_ratio - 1


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    return (-scale_ratio.log() + loc_abs_diff / q.scale
            + scale_ratio * (-loc_abs_diff / p.scale).exp() - 1)


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    """log det ratio + trace(Sq^-1 Sp) + Mahalanobis(q.loc - p.loc), all from the factors."""
    if p.event_shape != q.event_shape:
        raise ValueError(f"kl_divergence: MultivariateNormals of different event shapes "
                         f"{p.event_shape} and {q.event_shape}")
    p_tril, q_tril = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    half_term1 = diagonal(q_tril).log().sum(axis=-1) - diagonal(p_tril).log().sum(axis=-1)
    # |Lq^-1 Lp|_F^2
    term2 = (solve_triangular(q_tril, p_tril, upper=False) ** 2).sum(axis=(-2, -1))
    term3 = mahalanobis(q_tril, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - p.event_shape[0])


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("kl_divergence: Independent distributions with different "
                                  "reinterpreted_batch_ndims")
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p: Cauchy, q: Cauchy) -> Tensor:
    """log(((s_p + s_q)^2 + (l_p - l_q)^2) / (4 s_p s_q)) (Chyzak & Nielsen 2019)."""
    t1 = ((p.scale + q.scale) ** 2 + (p.loc - q.loc) ** 2).log()
    return t1 - (4 * p.scale * q.scale).log()


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    ct1, ct2, ct3 = p.scale / q.scale, q.loc / q.scale, p.loc / q.scale
    t1 = -ct1.log() - ct2 + ct3
    t2 = ct1 * EULER_GAMMA
    t3 = (ct2 + lgamma(1 + ct1) - ct3).exp()
    return t1 + t2 + t3 - (1 + EULER_GAMMA)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    return -p.entropy() - F.log1p(-q.probs) / p.probs - q.logits


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p: HalfNormal, q: HalfNormal) -> Tensor:
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p: Pareto, q: Pareto) -> Tensor:
    """inf where p's support starts below q's."""
    scale_ratio, alpha_ratio = p.scale / q.scale, q.alpha / p.alpha
    result = q.alpha * scale_ratio.log() - alpha_ratio.log() + alpha_ratio - 1
    return _set(result, p.scale.data < q.scale.data, math.inf)


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_continuous_bernoulli(p: ContinuousBernoulli, q: ContinuousBernoulli) -> Tensor:
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + F.log1p(-p.probs)
    t3 = -q._cont_bern_log_norm() - F.log1p(-q.probs)
    return t1 + t2 + t3


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p: TransformedDistribution,
                                q: TransformedDistribution) -> Tensor:
    """KL of the bases when both push them through equal transforms (LogNormal pairs)."""
    if p.transforms != q.transforms or p.event_shape != q.event_shape:
        raise NotImplementedError(f"kl_divergence: {type(p).__name__} and {type(q).__name__} "
                                  "with different transforms or event shapes")
    return kl_divergence(p.base_dist, q.base_dist)


def _trace_xxt(x: Tensor) -> Tensor:
    """trace(X X^T) = the sum of squares of the last two axes."""
    return (x**2).sum(axis=(-2, -1))


def _check_events(p: Distribution, q: Distribution) -> None:
    if p.event_shape != q.event_shape:
        raise ValueError(f"kl_divergence: {type(p).__name__} and {type(q).__name__} of "
                         f"different event shapes {p.event_shape} and {q.event_shape}")


def _woodbury_a(q: LowRankMultivariateNormal) -> Tensor:
    """A = C_q^-1/2 W_q^T D_q^-1, so that Sigma_q^-1 = D_q^-1 - A^T A."""
    wt_dinv = F.swapaxes(q._unbroadcasted_cov_factor, -2, -1) / F.unsqueeze(
        q._unbroadcasted_cov_diag, -2)
    return solve_triangular(q._capacitance_tril, wt_dinv, upper=False)


def _lowrank_terms(q: LowRankMultivariateNormal, p_loc: Tensor) -> tuple[Tensor, Tensor]:
    """q's log det and the Mahalanobis term of (q.loc - p.loc)."""
    return (q._log_det(), lowrank_mahalanobis(q._unbroadcasted_cov_factor,
                                              q._unbroadcasted_cov_diag, q.loc - p_loc,
                                              q._capacitance_tril))


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p: LowRankMultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    _check_events(p, q)
    q_log_det, term3 = _lowrank_terms(q, p.loc)
    term1 = q_log_det - p._log_det()
    a = _woodbury_a(q)
    p_w, p_d, q_d = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag, \
        q._unbroadcasted_cov_diag
    term21 = (p_d / q_d).sum(axis=-1)
    term22 = _trace_xxt(p_w * F.unsqueeze(q_d ** -0.5, -1))
    term23 = _trace_xxt(a * F.unsqueeze(p_d.sqrt(), -2))
    term24 = _trace_xxt(a @ p_w)
    return 0.5 * (term1 + term21 + term22 - term23 - term24 + term3 - p.event_shape[0])


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p: MultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    _check_events(p, q)
    q_log_det, term3 = _lowrank_terms(q, p.loc)
    p_tril = p._unbroadcasted_scale_tril
    term1 = q_log_det - 2 * diagonal(p_tril).log().sum(axis=-1)
    a = _woodbury_a(q)
    term21 = _trace_xxt(p_tril * F.unsqueeze(q._unbroadcasted_cov_diag ** -0.5, -1))
    term22 = _trace_xxt(a @ p_tril)
    return 0.5 * (term1 + term21 - term22 + term3 - p.event_shape[0])


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrank_mvn(p: LowRankMultivariateNormal, q: MultivariateNormal) -> Tensor:
    _check_events(p, q)
    q_tril = q._unbroadcasted_scale_tril
    term1 = 2 * diagonal(q_tril).log().sum(axis=-1) - p._log_det()
    term3 = mahalanobis(q_tril, q.loc - p.loc)
    term21 = _trace_xxt(solve_triangular(q_tril, p._unbroadcasted_cov_factor, upper=False))
    term22 = _trace_xxt(solve_triangular(q_tril, F.diag_embed(p._unbroadcasted_cov_diag.sqrt()),
                                         upper=False))
    return 0.5 * (term1 + term21 + term22 + term3 - p.event_shape[0])
