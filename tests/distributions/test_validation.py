"""Argument and value validation (PyTorch's constraints), as ValueErrors that say what was
expected and what came; and the errors of bad shapes, types and unregistered KL pairs."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy.distributions as D
from dlpy import Tensor
from dlpy.distributions import constraints


def f64(*values) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64))


@pytest.mark.parametrize("make, message", [
    (lambda: D.Normal(f64(0.0, 0.0), f64(1.0, -1.0)),
     r"Normal: expected parameter scale \(shape \(2,\)\) to satisfy the constraint "
     r"GreaterThan\(lower_bound=0.0\), but found invalid values: 1 of 2 entries, the first at "
     r"index \(1,\): -1.0"),
    (lambda: D.Normal(np.nan, 1.0), r"parameter loc .* Real\(\)"),
    (lambda: D.Bernoulli(probs=f64(0.5, 1.5)), r"parameter probs .* Interval\(lower_bound=0.0, "
                                               r"upper_bound=1.0\)"),
    (lambda: D.Categorical(probs=f64(0.5, -0.1, 0.6)), r"parameter probs .* Simplex\(\)"),
    (lambda: D.Uniform(f64(1.0, 0.0), f64(0.5, 1.0)),
     r"Uniform: expected parameter low .* LessThan\(upper_bound=tensor\(\[0.5000, 1.0000\], "
     r"dtype=torch.float64\)\)"),
    (lambda: D.Exponential(0.0), r"parameter rate .* GreaterThan\(lower_bound=0.0\)"),
    (lambda: D.Gamma(1.0, -2.0), r"Gamma: expected parameter rate"),
    # torch's Beta holds its parameters in a Dirichlet, which refuses them first
    (lambda: D.Beta(0.0, 1.0), r"Dirichlet: expected parameter concentration"),
    (lambda: D.Poisson(-1.0), r"parameter rate .* GreaterThanEq\(lower_bound=0.0\)"),
    (lambda: D.Binomial(2.5, probs=0.5), r"parameter total_count .* "
                                         r"IntegerGreaterThan\(lower_bound=0\)"),
    (lambda: D.Laplace(0.0, 0.0), r"Laplace: expected parameter scale"),
    (lambda: D.MultivariateNormal(f64(0.0, 0.0), covariance_matrix=Tensor(np.array(
        [[1.0, 2.0], [2.0, 1.0]]))), r"covariance_matrix .* PositiveDefinite\(\)"),
    (lambda: D.MultivariateNormal(f64(0.0, 0.0), covariance_matrix=Tensor(np.array(
        [[1.0, 0.5], [0.0, 1.0]]))), r"covariance_matrix .* PositiveDefinite\(\)"),
    (lambda: D.MultivariateNormal(f64(0.0, 0.0), scale_tril=Tensor(np.array(
        [[1.0, 0.5], [0.0, 1.0]]))), r"scale_tril .* LowerCholesky\(\)"),
    (lambda: D.MultivariateNormal(f64(0.0, 0.0), scale_tril=Tensor(np.array(
        [[1.0, 0.0], [0.5, -1.0]]))), r"scale_tril .* LowerCholesky\(\)"),
])
def test_invalid_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("d, value, message", [
    (D.Exponential(f64(1.0)), f64(-1.0),
     r"Exponential.log_prob: expected value \(shape \(1,\)\) within the support "
     r"GreaterThanEq\(lower_bound=0.0\) of Exponential\(rate: tensor\(\[1\.\], .*\)\), "
     r"but found invalid values"),
    (D.Normal(0.0, 1.0), np.nan, r"support Real\(\)"),
    (D.Bernoulli(0.3), 0.5, r"support Boolean\(\)"),
    (D.Categorical(f64(0.5, 0.5)), np.array([0, 2]),
     r"support IntegerInterval\(lower_bound=0, upper_bound=1\) .* index \(1,\): 2"),
    (D.Poisson(2.0), 1.5, r"support IntegerGreaterThan"),
    (D.Beta(2.0, 2.0), 1.5, r"support Interval\(lower_bound=0.0, upper_bound=1.0\)"),
    (D.Binomial(f64(3.0), probs=f64(0.5)), f64(4.0), r"support IntegerInterval"),
    (D.OneHotCategorical(f64(0.5, 0.5)), f64(1.0, 1.0), r"support OneHot\(\)"),
    (D.Uniform(0.0, 1.0), 2.0, r"support Interval"),
    (D.MultivariateNormal(f64(0.0, 0.0), scale_tril=Tensor(np.eye(2))), f64(np.nan, 0.0),
     r"support IndependentConstraint\(Real\(\), 1\) .* 1 of 1 events"),
])
def test_values_outside_the_support(d, value, message):
    with pytest.raises(ValueError, match=message):
        d.log_prob(value if isinstance(value, Tensor) else Tensor(np.asarray(value)))


def test_cdf_is_checked_and_icdf_is_not():
    d = D.Exponential(1.0)
    with pytest.raises(ValueError, match=r"Exponential.cdf: expected value"):
        d.cdf(Tensor(np.array(-1.0, np.float32)))
    with np.errstate(invalid="ignore"):  # log1p(-2)
        assert np.isnan(d.icdf(2.0).data)  # as PyTorch: icdf checks nothing


def test_value_shapes():
    d = D.Normal(Tensor(np.zeros((2, 3))), 1.0)
    with pytest.raises(ValueError, match=r"Normal.log_prob: value \(4,\) does not broadcast with "
                                         r"batch_shape \+ event_shape \(2, 3\)"):
        d.log_prob(Tensor(np.zeros(4)))
    mvn = D.MultivariateNormal(f64(0.0, 0.0), scale_tril=Tensor(np.eye(2)))
    with pytest.raises(ValueError, match=r"rightmost axes of value \(3,\) must match event_shape "
                                         r"\(2,\)"):
        mvn.log_prob(Tensor(np.zeros(3)))


def test_validation_can_be_turned_off():
    d = D.Normal(0.0, -1.0, validate_args=False)
    with np.errstate(invalid="ignore"):  # log(-1)
        assert np.isnan(d.log_prob(0.0).data)
    assert D.Exponential(1.0, validate_args=False).log_prob(-1.0).data == 1.0  # log 1 + 1
    D.Distribution.set_default_validate_args(False)
    try:
        D.Bernoulli(probs=2.0)
        assert not D.Normal(0.0, 1.0)._validate_args
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="expected True or False"):
        D.Distribution.set_default_validate_args("yes")
    with pytest.raises(TypeError, match="validate_args must be True, False or None"):
        D.Normal(0.0, 1.0, validate_args=1)


def test_construction_errors():
    with pytest.raises(ValueError, match=r"Normal: the parameters cannot be broadcast together: "
                                         r"loc \(2,\), scale \(3,\)"):
        D.Normal(np.zeros(2), np.ones(3))
    with pytest.raises(TypeError, match=r"Normal: loc must be a Tensor, an array or a number, "
                                        r"got str"):
        D.Normal("0", 1.0)
    for cls in (D.Bernoulli, D.Categorical, D.OneHotCategorical):
        with pytest.raises(ValueError, match="give either probs or logits, not both"):
            cls(probs=f64(0.5, 0.5), logits=f64(0.0, 0.0))
        with pytest.raises(ValueError, match="give either probs or logits"):
            cls()
    with pytest.raises(ValueError, match="give either probs or logits"):
        D.Binomial(3)
    with pytest.raises(ValueError, match=r"Categorical: probs must have at least one axis"):
        D.Categorical(probs=0.5)
    with pytest.raises(ValueError, match="exactly one of covariance_matrix, precision_matrix or "
                                         "scale_tril"):
        D.MultivariateNormal(f64(0.0), covariance_matrix=Tensor(np.eye(1)),
                             scale_tril=Tensor(np.eye(1)))
    with pytest.raises(ValueError, match=r"scale_tril must be \(2, 2\) matrices"):
        D.MultivariateNormal(f64(0.0, 0.0), scale_tril=Tensor(np.eye(3)))
    with pytest.raises(ValueError, match=r"loc must have at least one axis"):
        D.MultivariateNormal(0.0, scale_tril=Tensor(np.eye(1)))
    with pytest.raises(ValueError, match=r"batch axes of loc \(3, 2\) and scale_tril \(2, 2, 2\) "
                                         r"cannot be broadcast"):
        D.MultivariateNormal(Tensor(np.zeros((3, 2))), scale_tril=Tensor(np.stack([np.eye(2)] * 2)))
    with pytest.raises(ValueError, match="linalg.cholesky: .*not positive-definite"):
        D.MultivariateNormal(f64(0.0, 0.0), covariance_matrix=Tensor(-np.eye(2)),
                             validate_args=False)
    with pytest.raises(ValueError, match=r"Independent: reinterpreted_batch_ndims must be an int "
                                         r"in \[0, 1\]"):
        D.Independent(D.Normal(f64(0.0), f64(1.0)), 2)
    with pytest.raises(TypeError, match="base_distribution must be a Distribution"):
        D.Independent("normal", 0)


def test_method_errors():
    d = D.Normal(f64(0.0, 1.0), 1.0)
    with pytest.raises(ValueError, match=r"Normal: expected a shape \(a tuple of non-negative "
                                         r"ints\), got \(-1,\)"):
        d.sample((-1,))
    with pytest.raises(TypeError, match="'int' object is not iterable"):  # torch.Size(2)
        d.sample(2)
    with pytest.raises(ValueError, match=r"Normal.expand: batch_shape \(2,\) does not broadcast to "
                                         r"\(3,\)"):
        d.expand((3,))
    with pytest.raises(NotImplementedError, match="Poisson does not implement entropy"):
        D.Poisson(1.0).entropy()
    with pytest.raises(NotImplementedError, match="Poisson does not implement icdf"):
        D.Poisson(1.0).icdf(0.5)
    with pytest.raises(NotImplementedError, match="Binomial.entropy: total_count must be the "
                                                  "same everywhere"):
        D.Binomial(f64(2.0, 3.0), probs=f64(0.5, 0.5)).entropy()
    with pytest.raises(NotImplementedError, match="cartesian product"):
        D.Independent(D.Bernoulli(f64(0.5, 0.5)), 1).enumerate_support()


def test_kl_errors():
    with pytest.raises(NotImplementedError, match="no KL\\(p \\|\\| q\\) is registered for p "
                                                  "Normal and q Cauchy"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Cauchy(0.0, 1.0))
    with pytest.raises(TypeError, match="register_kl: type_q must be a Distribution subclass"):
        D.register_kl(D.Normal, "Cauchy")
    D.register_kl(D.Normal, int)(lambda p, q: None)  # any class, as torch's (pyro's base)
    D.kl._KL_REGISTRY.pop((D.Normal, int))
    with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
        D.kl_divergence(D.Binomial(2, probs=0.5), D.Binomial(3, probs=0.5))
    p = D.Independent(D.Normal(Tensor(np.zeros((2, 2))), 1.0), 1)
    q = D.Independent(D.Normal(Tensor(np.zeros((2, 2))), 1.0), 2)
    with pytest.raises(NotImplementedError, match="different reinterpreted_batch_ndims"):
        D.kl_divergence(p, q)
    with pytest.raises(ValueError, match="different event shapes"):
        D.kl_divergence(D.MultivariateNormal(f64(0.0), scale_tril=Tensor(np.eye(1))),
                        D.MultivariateNormal(f64(0.0, 0.0), scale_tril=Tensor(np.eye(2))))


def test_constraint_reprs_and_checks():
    assert repr(constraints.positive) == "GreaterThan(lower_bound=0.0)"
    assert repr(constraints.real_vector) == "IndependentConstraint(Real(), 1)"
    assert repr(constraints.integer_interval(0, 3)) == "IntegerInterval(lower_bound=0, " \
                                                      "upper_bound=3)"
    assert repr(constraints.half_open_interval(0, 1)) == "HalfOpenInterval(lower_bound=0, " \
                                                         "upper_bound=1)"
    np.testing.assert_array_equal(constraints.simplex.check(np.array([[0.5, 0.5], [0.5, 0.6]])),
                                  [True, False])
    np.testing.assert_array_equal(constraints.one_hot.check(np.array([[0, 1.0], [1.0, 1.0]])),
                                  [True, False])
    assert constraints.is_dependent(constraints.dependent)
    assert constraints.is_dependent(D.Uniform.support)  # on the class: a dependent constraint
    assert not constraints.is_dependent(constraints.real)
    with pytest.raises(ValueError, match="dependent constraint cannot be checked"):
        constraints.dependent.check(1.0)


def test_values_must_be_tensors_while_validating():
    # as torch's _validate_sample: log_prob/cdf of a number or an array is a ValueError while
    # validation is on; with validate_args=False dlpy takes them (torch's ops take numbers)
    for d, value in ((D.Normal(0.0, 1.0), 0.5), (D.Bernoulli(0.3), 1.0),
                     (D.Categorical(f64(0.2, 0.8)), 1), (D.Dirichlet(np.ones(3)), np.ones(3) / 3)):
        with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
            d.log_prob(value)
    with pytest.raises(ValueError, match=r"Normal.cdf: The value argument to log_prob must be"):
        D.Normal(0.0, 1.0).cdf(0.5)
    quiet = D.Normal(0.0, 1.0, validate_args=False)
    np.testing.assert_allclose(quiet.log_prob(0.5).data, -0.5 * np.log(2 * np.pi) - 0.125,
                               rtol=1e-6)
    np.testing.assert_allclose(D.Categorical(f64(0.2, 0.8), validate_args=False)
                               .log_prob(np.array([1, 0])).data, np.log([0.8, 0.2]))


@pytest.mark.parametrize("bad", [[], [0], [6], [2, 3], [0, 1, 2, 3, 4, 5, 6], [1, 5]])
def test_positive_definite_marks_exactly_the_matrices_without_a_factor(bad):
    # one batched factorisation, halved only where it fails: the same answer as one at a time
    rng = np.random.default_rng(3)
    a = rng.normal(size=(7, 3, 3))
    stack = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(3)
    stack[bad] = np.diag([1.0, -2.0, 3.0])  # symmetric, not positive definite
    expected = np.ones(7, dtype=bool)
    expected[bad] = False
    got = constraints.positive_definite.check(stack.reshape(7, 1, 3, 3))
    assert got.shape == (7, 1)
    np.testing.assert_array_equal(got[:, 0], expected)
    assert constraints.positive_definite.check(np.zeros((0, 3, 3))).shape == (0,)
