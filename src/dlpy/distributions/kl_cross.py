"""The KL pairs across families that PyTorch registers (torch/distributions/kl.py), with its
formulas: closed forms (Beta-Normal, Exponential-Gamma, Uniform-Gumbel, ...), and the pairs where
p's support reaches outside q's, infinite everywhere (Normal-Exponential) or where it does
(Uniform-Exponential with a negative low); the generic Bregman divergence between two members
of one exponential family, and Wishart-Wishart in closed form. Imported for its
registrations."""

from __future__ import annotations

import math

import numpy as np

import dlpy.functional as F
from dlpy.distributions.continuous import Beta, Exponential, Gamma, Laplace, Normal, Uniform
from dlpy.distributions.continuous_more import ContinuousBernoulli
from dlpy.distributions.discrete import Bernoulli, Binomial, Poisson
from dlpy.distributions.distribution import EULER_GAMMA, Distribution
from dlpy.distributions.distribution import masked_set as _set
from dlpy.distributions.exp_family import ExponentialFamily
from dlpy.distributions.kl import register_kl
from dlpy.distributions.multivariate_normal import diagonal
from dlpy.distributions.transformed_families import Gumbel, Pareto
from dlpy.distributions.wishart import Wishart, mvdigamma
from dlpy.linalg import cholesky_solve
from dlpy.ops.pointwise import mvlgamma
from dlpy.ops.special import digamma, lgamma, xlogy
from dlpy.tensor import Tensor

__all__: list[str] = []

_LOG_2PI = math.log(2 * math.pi)


def _infinite_like(t: Tensor) -> Tensor:
    """inf of t's shape, a constant (p's batch shape, as PyTorch's full_like)."""
    return Tensor(np.full(t.shape, math.inf, dtype=t.dtype))


def _x_log_x(t: Tensor) -> Tensor:
    """x log x, 0 at x = 0."""
    return xlogy(t, t)


def _register_infinite(p_type: type, q_types: tuple, parameter: str) -> None:
    """KL(p || q) = inf for p's ``parameter``'s shape: p's support reaches outside q's."""
    def infinite(p: Distribution, q: Distribution) -> Tensor:
        return _infinite_like(getattr(p, parameter))

    infinite.__name__ = f"_kl_{p_type.__name__.lower()}_infinity"
    for q_type in q_types:
        register_kl(p_type, q_type)(infinite)


_register_infinite(Beta, (Pareto,), "concentration1")
_register_infinite(ContinuousBernoulli, (Pareto,), "probs")
_register_infinite(Exponential, (Beta, ContinuousBernoulli, Pareto, Uniform), "rate")
_register_infinite(Gamma, (Beta, ContinuousBernoulli, Pareto, Uniform), "concentration")
_register_infinite(Gumbel, (Beta, ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform),
                   "loc")
_register_infinite(Laplace, (Beta, ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform),
                   "loc")
_register_infinite(Normal, (Beta, ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform),
                   "loc")
_register_infinite(Pareto, (Beta, ContinuousBernoulli, Uniform), "scale")
_register_infinite(Poisson, (Bernoulli, Binomial), "rate")


# ---------------------------------------------------------------------- discrete p
@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p: Bernoulli, q: Poisson) -> Tensor:
    return -p.entropy() - (p.probs * q.rate.log() - q.rate)


# ---------------------------------------------------------------------- p on [0, 1]
def _kl_against_continuous_bernoulli(p: Distribution, q: ContinuousBernoulli) -> Tensor:
    """-H(p) - E_p[x] q.logits - log(1 - q.probs) - log C(q.probs)."""
    return -p.entropy() - p.mean * q.logits - F.log1p(-q.probs) - q._cont_bern_log_norm()


def _beta_mean(p: Beta) -> Tensor:
    return p.concentration1 / (p.concentration1 + p.concentration0)


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_continuous_bernoulli(p: Beta, q: ContinuousBernoulli) -> Tensor:
    return _kl_against_continuous_bernoulli(p, q)


@register_kl(Beta, Exponential)
def _kl_beta_exponential(p: Beta, q: Exponential) -> Tensor:
    return -p.entropy() - q.rate.log() + q.rate * _beta_mean(p)


@register_kl(Beta, Gamma)
def _kl_beta_gamma(p: Beta, q: Gamma) -> Tensor:
    t2 = lgamma(q.concentration) - q.concentration * q.rate.log()
    t3 = (q.concentration - 1) * (digamma(p.concentration1)
                                  - digamma(p.concentration1 + p.concentration0))
    return -p.entropy() + t2 - t3 + q.rate * _beta_mean(p)


@register_kl(Beta, Normal)
def _kl_beta_normal(p: Beta, q: Normal) -> Tensor:
    e_beta = _beta_mean(p)
    var_normal = q.scale**2
    t2 = 0.5 * (var_normal * 2 * math.pi).log()
    t3 = (e_beta * (1 - e_beta) / (p.concentration1 + p.concentration0 + 1) + e_beta**2) * 0.5
    return -p.entropy() + t2 + (t3 - q.loc * e_beta + q.loc**2 * 0.5) / var_normal


@register_kl(Beta, Uniform)
@register_kl(ContinuousBernoulli, Uniform)
def _kl_unit_interval_uniform(p: Beta | ContinuousBernoulli, q: Uniform) -> Tensor:
    """p on [0, 1]: inf where q does not cover [0, 1] (PyTorch, for ContinuousBernoulli: also
    where q.low == 0 or q.high == 1)."""
    result = -p.entropy() + (q.high - q.low).log()
    return _set(result, (q.low.data > 0) | (q.high.data < 1), math.inf)


@register_kl(ContinuousBernoulli, Exponential)
def _kl_continuous_bernoulli_exponential(p: ContinuousBernoulli, q: Exponential) -> Tensor:
    return -p.entropy() - q.rate.log() + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_continuous_bernoulli_normal(p: ContinuousBernoulli, q: Normal) -> Tensor:
    t2 = 0.5 * (_LOG_2PI + (q.loc / q.scale) ** 2) + q.scale.log()
    t3 = (p.variance + p.mean**2 - 2.0 * q.loc * p.mean) / (2.0 * q.scale**2)
    return -p.entropy() + t2 + t3


# ---------------------------------------------------------------------- p on [0, inf)
@register_kl(Exponential, Gamma)
def _kl_exponential_gamma(p: Exponential, q: Gamma) -> Tensor:
    ratio = q.rate / p.rate
    return (-q.concentration * ratio.log() + ratio + lgamma(q.concentration)
            + q.concentration * EULER_GAMMA - (1 + EULER_GAMMA))


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p: Exponential, q: Gumbel) -> Tensor:
    scale_rate_prod = p.rate * q.scale
    loc_scale_ratio = q.loc / q.scale
    t1 = scale_rate_prod.log() - 1
    t2 = loc_scale_ratio.exp() * scale_rate_prod / (scale_rate_prod + 1)
    return t1 - loc_scale_ratio + t2 + 1 / scale_rate_prod


@register_kl(Exponential, Normal)
def _kl_exponential_normal(p: Exponential, q: Normal) -> Tensor:
    var_normal = q.scale**2
    rate_sqr = p.rate**2
    t1 = 0.5 * (rate_sqr * var_normal * 2 * math.pi).log()
    return t1 - 1 + (1 / rate_sqr - q.loc / p.rate + q.loc**2 * 0.5) / var_normal


@register_kl(Gamma, Exponential)
def _kl_gamma_exponential(p: Gamma, q: Exponential) -> Tensor:
    return -p.entropy() - q.rate.log() + q.rate * p.concentration / p.rate


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p: Gamma, q: Gumbel) -> Tensor:
    c = p.concentration
    beta_scale_prod = p.rate * q.scale
    loc_scale_ratio = q.loc / q.scale
    t1 = (c - 1) * digamma(c) - lgamma(c) - c
    t2 = beta_scale_prod.log() + c / beta_scale_prod
    t3 = loc_scale_ratio.exp() * (-c * F.log1p(1 / beta_scale_prod)).exp() - loc_scale_ratio
    return t1 + t2 + t3


@register_kl(Gamma, Normal)
def _kl_gamma_normal(p: Gamma, q: Normal) -> Tensor:
    c = p.concentration
    var_normal = q.scale**2
    beta_sqr = p.rate**2
    t1 = 0.5 * (beta_sqr * var_normal * 2 * math.pi).log() - c - lgamma(c)
    t2 = 0.5 * (c**2 + c) / beta_sqr
    t3 = q.loc * c / p.rate
    return t1 + (c - 1) * digamma(c) + (t2 - t3 + 0.5 * q.loc**2) / var_normal


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p: Pareto, q: Exponential) -> Tensor:
    """inf where p.alpha <= 1 (p has no mean)."""
    scale_rate_prod = p.scale * q.rate
    t1 = (p.alpha / scale_rate_prod).log()
    t3 = p.alpha * scale_rate_prod / (p.alpha - 1)
    return _set(t1 - 1 / p.alpha + t3 - 1, p.alpha.data <= 1, math.inf)


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p: Pareto, q: Gamma) -> Tensor:
    """inf where p.alpha <= 1."""
    common_term = p.scale.log() + 1 / p.alpha
    t1 = p.alpha.log() - common_term
    t2 = lgamma(q.concentration) - q.concentration * q.rate.log()
    t3 = (1 - q.concentration) * common_term
    t4 = q.rate * p.alpha * p.scale / (p.alpha - 1)
    return _set(t1 + t2 + t3 + t4 - 1, p.alpha.data <= 1, math.inf)


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p: Pareto, q: Normal) -> Tensor:
    """inf where p.alpha <= 2 (p has no variance)."""
    var_normal = 2 * q.scale**2
    common_term = p.scale / (p.alpha - 1)
    t1 = (math.sqrt(2 * math.pi) * q.scale * p.alpha / p.scale).log()
    t3 = p.alpha * common_term**2 / (p.alpha - 2)
    t4 = (p.alpha * common_term - q.loc) ** 2
    return _set(t1 - 1 / p.alpha + (t3 + t4) / var_normal - 1, p.alpha.data <= 2, math.inf)


# ---------------------------------------------------------------------- p on the real line
@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p: Gumbel, q: Normal) -> Tensor:
    param_ratio = p.scale / q.scale
    t1 = (param_ratio / math.sqrt(2 * math.pi)).log()
    t2 = (math.pi * param_ratio * 0.5) ** 2 / 3
    t3 = ((p.loc + p.scale * EULER_GAMMA - q.loc) / q.scale) ** 2 * 0.5
    return -t1 + t2 + t3 - (EULER_GAMMA + 1)


@register_kl(Laplace, Normal)
def _kl_laplace_normal(p: Laplace, q: Normal) -> Tensor:
    var_normal = q.scale**2
    scale_sqr_var_ratio = p.scale**2 / var_normal
    t1 = 0.5 * (2 * scale_sqr_var_ratio / math.pi).log()
    t2 = 0.5 * p.loc**2 - p.loc * q.loc + 0.5 * q.loc**2
    return -t1 + scale_sqr_var_ratio + t2 / var_normal - 1


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p: Normal, q: Gumbel) -> Tensor:
    mean_scale_ratio = p.loc / q.scale
    var_scale_sqr_ratio = (p.scale / q.scale) ** 2
    loc_scale_ratio = q.loc / q.scale
    t1 = var_scale_sqr_ratio.log() * 0.5
    t2 = mean_scale_ratio - loc_scale_ratio
    t3 = (-mean_scale_ratio + 0.5 * var_scale_sqr_ratio + loc_scale_ratio).exp()
    return -t1 + t2 + t3 - 0.5 * (1 + _LOG_2PI)


@register_kl(Normal, Laplace)
def _kl_normal_laplace(p: Normal, q: Laplace) -> Tensor:
    loc_diff = p.loc - q.loc
    loc_diff_scale_ratio = loc_diff / p.scale
    t1 = (p.scale / q.scale).log()
    t2 = math.sqrt(2 / math.pi) * p.scale * (-0.5 * loc_diff_scale_ratio**2).exp()
    t3 = loc_diff * F.erf(math.sqrt(0.5) * loc_diff_scale_ratio)
    return -t1 + (t2 + t3) / q.scale - 0.5 * (1 + math.log(0.5 * math.pi))


# ---------------------------------------------------------------------- p uniform
@register_kl(Uniform, Beta)
def _kl_uniform_beta(p: Uniform, q: Beta) -> Tensor:
    """inf where p reaches outside [0, 1]."""
    width = p.high - p.low
    t2 = (q.concentration1 - 1) * (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    t3 = (q.concentration0 - 1) * (_x_log_x(1 - p.high) - _x_log_x(1 - p.low) + width) / width
    t4 = lgamma(q.concentration1) + lgamma(q.concentration0) - \
        lgamma(q.concentration1 + q.concentration0)
    result = t3 + t4 - width.log() - t2
    return _set(result, (p.high.data > 1) | (p.low.data < 0), math.inf)


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_continuous_bernoulli(p: Uniform, q: ContinuousBernoulli) -> Tensor:
    """inf where p reaches outside [0, 1] (PyTorch: also where p.low == 0 or p.high == 1)."""
    result = _kl_against_continuous_bernoulli(p, q)
    return _set(result, (p.high.data > 1) | (p.low.data < 0), math.inf)


@register_kl(Uniform, Exponential)
def _kl_uniform_exponential(p: Uniform, q: Exponential) -> Tensor:
    """inf where p.low < 0."""
    result = q.rate * (p.high + p.low) / 2 - ((p.high - p.low) * q.rate).log()
    return _set(result, p.low.data < 0, math.inf)


@register_kl(Uniform, Gamma)
def _kl_uniform_gamma(p: Uniform, q: Gamma) -> Tensor:
    """inf where p.low < 0."""
    width = p.high - p.low
    t2 = lgamma(q.concentration) - q.concentration * q.rate.log()
    t3 = (1 - q.concentration) * (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    result = -width.log() + t2 + t3 + q.rate * (p.high + p.low) / 2
    return _set(result, p.low.data < 0, math.inf)


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p: Uniform, q: Gumbel) -> Tensor:
    common_term = q.scale / (p.high - p.low)
    high_loc_diff = (p.high - q.loc) / q.scale
    low_loc_diff = (p.low - q.loc) / q.scale
    t1 = common_term.log() + 0.5 * (high_loc_diff + low_loc_diff)
    return t1 - common_term * ((-high_loc_diff).exp() - (-low_loc_diff).exp())


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p: Uniform, q: Normal) -> Tensor:
    width = p.high - p.low
    t1 = (math.sqrt(math.pi * 2) * q.scale / width).log()
    t3 = ((p.high + p.low - 2 * q.loc) / 2) ** 2
    return t1 + 0.5 * (width**2 / 12 + t3) / q.scale**2


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p: Uniform, q: Pareto) -> Tensor:
    """inf where p.low < q.scale."""
    width = p.high - p.low
    t1 = (q.alpha * (q.alpha * q.scale.log()).exp() * width).log()
    t2 = (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    return _set(t2 * (q.alpha + 1) - t1, p.low.data < q.scale.data, math.inf)


# ---------------------------------------------------------------------- exponential families
@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p: ExponentialFamily, q: ExponentialFamily) -> Tensor:
    """F(theta_q) - F(theta_p) - <theta_q - theta_p, dF/dtheta(theta_p)>, for one family."""
    if type(p) is not type(q):
        raise NotImplementedError(f"kl_divergence: no KL between the different exponential "
                                  f"families {type(p).__name__} and {type(q).__name__} (a "
                                  "Bregman divergence needs one family)")
    thetas, log_normalizer, gradients = p._bregman_terms()
    result = q._log_normalizer(*q._natural_params) - log_normalizer
    for theta_p, theta_q, g in zip(thetas, q._natural_params, gradients):
        term = (theta_q - theta_p) * g  # batch_shape + the parameter's own axes
        result = result - term.reshape(term.shape[:len(result.shape)] + (-1,)).sum(axis=-1)
    return result


@register_kl(Wishart, Wishart)
def _kl_wishart_wishart(p: Wishart, q: Wishart) -> Tensor:
    """n_q (log|L_q| - log|L_p|) + n_p (tr(S_q^-1 S_p) - p) / 2 + log G_p(n_q / 2)
    - log G_p(n_p / 2) + (n_p - n_q) / 2 psi_p(n_p / 2): PyTorch's Bregman value, with the
    gradient for p's parameters too (PyTorch's detaches them: zero)."""
    if p.event_shape != q.event_shape:
        raise ValueError(f"kl_divergence: Wisharts of different event shapes {p.event_shape} "
                         f"and {q.event_shape}")
    n = p.event_shape[-1]
    p_tril, q_tril = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    log_det_ratio = diagonal(q_tril).log().sum(axis=-1) - diagonal(p_tril).log().sum(axis=-1)
    trace = diagonal(cholesky_solve(p.covariance_matrix, q_tril)).sum(axis=-1)
    return (q.df * log_det_ratio + p.df * (trace - n) / 2 + mvlgamma(q.df / 2, n)
            - mvlgamma(p.df / 2, n) + (p.df - q.df) / 2 * mvdigamma(p.df / 2, n))
