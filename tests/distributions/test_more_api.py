"""The families added after the first set: argument validation (ValueErrors naming the
distribution, the parameter and the constraint), shapes, expand, supports, and the
TransformedDistribution plumbing (batch/event shapes from the transforms, cdf of decreasing
maps)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dlpy.distributions as D
from dlpy import Tensor
from dlpy.distributions import constraints


def f64(*values) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64))


@pytest.mark.parametrize("make, message", [
    (lambda: D.LogNormal(0.0, f64(1.0, -1.0)),
     r"LogNormal: expected parameter scale \(shape \(2,\)\) to satisfy the constraint "
     r"GreaterThan\(lower_bound=0.0\), but found invalid values: 1 of 2 entries"),
    (lambda: D.HalfNormal(0.0), r"HalfNormal: expected parameter scale"),
    (lambda: D.HalfCauchy(-1.0), r"HalfCauchy: expected parameter scale"),
    (lambda: D.Cauchy(np.nan, 1.0), r"Cauchy: expected parameter loc .* Real\(\)"),
    # (the inner Chi2 / Gamma check first, as torch's, whose messages name them)
    (lambda: D.StudentT(0.0), r"Chi2: expected parameter df"),
    (lambda: D.Chi2(f64(1.0, -2.0)), r"Chi2: expected parameter df .* index \(1,\): -2.0"),
    (lambda: D.Gumbel(0.0, 0.0), r"Gumbel: expected parameter scale"),
    (lambda: D.Weibull(1.0, -1.0), r"Weibull: expected parameter concentration"),
    (lambda: D.Pareto(1.0, 0.0), r"Pareto: expected parameter alpha"),
    (lambda: D.Kumaraswamy(0.0, 1.0), r"Kumaraswamy: expected parameter concentration1"),
    (lambda: D.FisherSnedecor(1.0, -1.0), r"Gamma: expected parameter concentration"),
    (lambda: D.VonMises(0.0, -1.0), r"VonMises: expected parameter concentration"),
    # checked as given only when validate_args is passed (then clamped), as PyTorch
    (lambda: D.ContinuousBernoulli(1.5, validate_args=False),
     r"ContinuousBernoulli: expected parameter probs .* "
     r"Interval\(lower_bound=0.0, upper_bound=1.0\)"),
    (lambda: D.Geometric(f64(0.5, 0.0)), r"Geometric: expected parameter probs \(shape "
                                         r"\(2,\)\) to be positive, but found invalid values"),
    (lambda: D.Geometric(1.5), r"Geometric: expected parameter probs .* Interval"),
    (lambda: D.NegativeBinomial(-1.0, 0.5), r"NegativeBinomial: expected parameter total_count"),
    (lambda: D.NegativeBinomial(2.0, 1.0), r"NegativeBinomial: expected parameter probs .* "
                                           r"HalfOpenInterval"),
    (lambda: D.Multinomial(3, f64(0.5, -0.5)), r"Categorical: expected parameter probs"),
    (lambda: D.Multinomial(2.5, f64(0.5, 0.5)), r"Multinomial: total_count must be a "
                                                r"non-negative int .* got 2.5"),
    (lambda: D.RelaxedOneHotCategorical(1.0, probs=f64(0.5, -0.6)),
     r"Categorical: expected parameter probs"),
    (lambda: D.LowRankMultivariateNormal(f64(0.0, 0.0), Tensor(np.ones((2, 1))), f64(1.0, 0.0)),
     r"LowRankMultivariateNormal: expected parameter cov_diag .* Independent"),
    (lambda: D.LowRankMultivariateNormal(f64(0.0, 0.0), Tensor(np.ones((3, 1))), f64(1.0, 1.0)),
     r"cov_factor must be \(2, m\) matrices .* got \(3, 1\)"),
    (lambda: D.LogisticNormal(0.0, f64(1.0, -1.0)), r"Normal: expected parameter scale"),
    (lambda: D.MixtureSameFamily(D.Categorical(f64(0.5, 0.5)), D.Normal(f64(0, 1, 2), 1.0)),
     r"the mixture has 2 components but component_distribution.batch_shape\[-1\] is 3"),
])
def test_invalid_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_continuous_bernoulli_clamps_probs_before_default_validation():
    d = D.ContinuousBernoulli(f64(1.5, -0.5))  # PyTorch's: no error without validate_args
    assert np.all((d.probs.data > 0) & (d.probs.data < 1))


def test_multinomial_support_checks_sum_and_sign_only():
    d = D.Multinomial(3, f64(0.5, 0.5))
    assert np.isfinite(d.log_prob(f64(1.0, 1.5)).data)  # PyTorch's weaker check


def test_expand_to_a_shape_that_does_not_broadcast_is_a_runtime_error_too():
    with pytest.raises(RuntimeError, match=r"Normal.expand: batch_shape \(2,\)"):
        D.Normal(f64(0.0, 1.0), 1.0).expand((3, 4))


@pytest.mark.parametrize("d, value, message", [
    (D.LogNormal(0.0, 1.0), -1.0, r"LogNormal.log_prob: expected value .* GreaterThan"),
    (D.HalfNormal(1.0), -0.5, r"HalfNormal.log_prob: .* GreaterThanEq"),
    (D.Pareto(f64(2.0), f64(1.0)), f64(1.5), r"Pareto.log_prob: .* GreaterThanEq\(lower_bound"
                                             r"=tensor\(\[2\.\], dtype=torch.float64\)\)"),
    (D.Kumaraswamy(2.0, 2.0), 1.5, r"Kumaraswamy.log_prob: .* Interval"),
    (D.Geometric(0.3), 1.5, r"Geometric.log_prob: .* IntegerGreaterThan"),
    (D.Multinomial(3, f64(0.5, 0.5)), f64(2.0, 2.0), r"Multinomial.log_prob: .* "
                                                     r"Multinomial\(\)"),
    (D.LogisticNormal(f64(0.0, 0.0), f64(1.0, 1.0)), f64(0.5, 0.6, 0.1), r"Simplex"),
    (D.ContinuousBernoulli(0.3), 1.2, r"ContinuousBernoulli.log_prob"),
])
def test_values_outside_the_support(d, value, message):
    with pytest.raises(ValueError, match=message):
        d.log_prob(value if isinstance(value, Tensor) else Tensor(np.asarray(value)))


def test_validation_can_be_turned_off():
    d = D.HalfNormal(f64(1.0), validate_args=False)
    assert d.log_prob(f64(-1.0)).data[0] == -math.inf
    with np.errstate(invalid="ignore"):
        assert np.isnan(D.Cauchy(0.0, -1.0, validate_args=False).log_prob(0.0).data)


def test_shapes_of_transformed_distributions():
    d = D.TransformedDistribution(D.Normal(Tensor(np.zeros((2, 3))), 1.0),
                                  D.StickBreakingTransform())
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    assert isinstance(d.base_dist, D.Independent)  # the transform's event axis taken in
    assert d.sample((5,), generator=np.random.default_rng(0)).shape == (5, 2, 4)
    affine = D.TransformedDistribution(D.Normal(0.0, 1.0), D.AffineTransform(f64(0, 1, 2), 2.0))
    assert affine.batch_shape == (3,) and affine.base_dist.batch_shape == (3,)
    reshape = D.TransformedDistribution(D.Independent(D.Normal(Tensor(np.zeros(6)), 1.0), 1),
                                        D.ReshapeTransform((6,), (2, 3)))
    assert reshape.event_shape == (2, 3) and reshape.log_prob(Tensor(np.zeros((2, 3)))).shape == ()
    assert D.LogisticNormal(0.0, 1.0).event_shape == (2,)
    with pytest.raises(TypeError, match="TransformedDistribution: transforms must be a "
                                        "Transform or a list of Transforms"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), "exp")
    with pytest.raises(ValueError, match="need a base distribution with at least 1 axes"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), D.StickBreakingTransform())


def test_cdf_of_a_decreasing_transform_is_turned_round():
    d = D.TransformedDistribution(D.Normal(f64(0.0), 1.0), D.AffineTransform(1.0, -2.0))
    x = f64(-1.0, 1.0, 3.0)
    reference = D.Normal(f64(1.0), 2.0)
    np.testing.assert_allclose(d.cdf(x).data, reference.cdf(x).data, rtol=1e-12)
    np.testing.assert_allclose(d.icdf(d.cdf(x)).data, x.data, rtol=1e-12)
    np.testing.assert_allclose(d.log_prob(x).data, reference.log_prob(x).data,
                               rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: D.LogNormal(f64(0.0, 1.0, 2.0), 1.0), lambda: D.HalfNormal(f64(1.0, 2.0, 3.0)),
    lambda: D.Gumbel(f64(0.0, 1.0, 2.0), 2.0), lambda: D.Weibull(f64(1.0, 2.0, 3.0), 1.5),
    lambda: D.Pareto(1.0, f64(1.0, 2.0, 3.0)), lambda: D.Kumaraswamy(f64(1.0, 2.0, 3.0), 2.0),
    lambda: D.StudentT(f64(3.0, 4.0, 5.0)), lambda: D.Chi2(f64(3.0, 4.0, 5.0)),
    lambda: D.FisherSnedecor(f64(3.0, 4.0, 5.0), 6.0), lambda: D.Cauchy(f64(0.0, 1.0, 2.0), 1.0),
    lambda: D.VonMises(f64(0.0, 1.0, 2.0), 1.0), lambda: D.Geometric(f64(0.2, 0.4, 0.6)),
    lambda: D.NegativeBinomial(2.0, f64(0.2, 0.4, 0.6)),
    lambda: D.ContinuousBernoulli(f64(0.2, 0.4, 0.6)),
    lambda: D.RelaxedBernoulli(0.5, f64(0.2, 0.4, 0.6)),
    lambda: D.MixtureSameFamily(D.Categorical(f64(0.3, 0.7)),
                                D.Normal(Tensor(np.zeros((3, 2))), 1.0)),
])
def test_expand_keeps_the_values(make):
    d = make()
    assert d.batch_shape == (3,)
    expanded = d.expand((2, 3))
    assert type(expanded) is type(d) and expanded.batch_shape == (2, 3)
    value = d.sample(generator=np.random.default_rng(0))
    np.testing.assert_allclose(expanded.log_prob(value).data,
                               np.broadcast_to(d.log_prob(value).data, (2, 3)), rtol=1e-12)
    assert expanded.sample((4,), generator=np.random.default_rng(1)).shape == (4, 2, 3)


def test_expand_of_vector_families():
    for d in (D.Multinomial(4, f64(0.2, 0.8)), D.RelaxedOneHotCategorical(0.5, f64(0.2, 0.8)),
              D.LowRankMultivariateNormal(f64(0.0, 1.0), Tensor(np.ones((2, 1))), f64(1.0, 2.0)),
              D.LogisticNormal(f64(0.0, 1.0), f64(1.0, 2.0))):
        expanded = d.expand((3,))
        assert expanded.batch_shape == (3,) and expanded.event_shape == d.event_shape
        value = d.sample(generator=np.random.default_rng(0))
        np.testing.assert_allclose(expanded.log_prob(value).data,
                                   np.broadcast_to(d.log_prob(value).data, (3,)), rtol=1e-12)


def test_supports_and_flags():
    assert D.Pareto(f64(2.0), 1.0).support.check(np.array([2.0, 1.0])).tolist() == [True, False]
    assert D.LogisticNormal(0.0, 1.0).support is constraints.simplex
    assert D.TransformedDistribution(D.Normal(0.0, 1.0), D.ExpTransform()).support is \
        constraints.positive
    assert D.LogNormal(0.0, 1.0).has_rsample and not D.VonMises(0.0, 1.0).has_rsample
    assert D.Multinomial(3, f64(0.5, 0.5)).support.is_discrete
    mix = D.MixtureSameFamily(D.Categorical(f64(0.5, 0.5)), D.Uniform(f64(0.0, 1.0), 2.0))
    # every component's support, as PyTorch's MixtureSameFamilyConstraint
    assert mix.support.check(np.array([0.5, 1.5, 2.5])).tolist() == [False, True, False]


def test_moments_without_closed_forms_are_nan_or_inf_as_torch():
    assert np.isnan(D.Cauchy(0.0, 1.0).mean.data) and np.isinf(D.Cauchy(0.0, 1.0).variance.data)
    assert np.isinf(D.HalfCauchy(1.0).mean.data)
    assert np.isinf(D.Pareto(1.0, 0.5).mean.data)
    assert np.isnan(D.Kumaraswamy(0.5, 2.0).mode.data)
    np.testing.assert_allclose(D.Kumaraswamy(f64(2.0), 3.0).mode.data, (1 / 5) ** 0.5,
                               rtol=1e-12)


def test_multivariate_normal_module_exports_distribution():
    """torch.distributions.multivariate_normal imports Distribution, and code imports it from
    there (BoTorch's unified_skew_normal)."""
    from dlpy.distributions.multivariate_normal import Distribution, MultivariateNormal

    assert Distribution is D.Distribution and issubclass(MultivariateNormal, Distribution)
