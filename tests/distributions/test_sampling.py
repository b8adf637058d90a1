"""Sampling: the mean and variance of 100,000 draws within a few standard errors of the
distribution's own, shapes and dtypes, generators, and reparameterised gradients (rsample)."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy
import dlpy.distributions as D
from dlpy import Tensor
from dlpy.ops.special import gammainc_array

from .helpers import N, Z, check_mean_and_variance, draw, f64

FAMILIES = {
    "normal": lambda: D.Normal(f64(-1.0, 2.0), f64(0.5, 3.0)),
    "uniform": lambda: D.Uniform(f64(-1.0, 2.0), f64(1.0, 2.5)),
    "laplace": lambda: D.Laplace(f64(0.5, -2.0), f64(1.0, 0.2)),
    "exponential": lambda: D.Exponential(f64(0.5, 4.0)),
    "gamma": lambda: D.Gamma(f64(0.1, 1.0, 7.5), f64(2.0, 1.0, 0.5)),
    "beta": lambda: D.Beta(f64(0.3, 2.0, 5.0), f64(0.7, 2.0, 1.5)),
    "poisson": lambda: D.Poisson(f64(0.3, 4.0, 60.0)),
    "bernoulli": lambda: D.Bernoulli(probs=f64(0.1, 0.5, 0.97)),
    "binomial": lambda: D.Binomial(f64(1.0, 10.0, 40.0), logits=f64(-1.0, 0.0, 2.0)),
    "onehot": lambda: D.OneHotCategorical(probs=f64(0.1, 0.0, 0.6, 0.3)),
    "independent": lambda: D.Independent(D.Normal(f64(1.0, 2.0), f64(0.5, 1.5)), 1),
    "dirichlet": lambda: D.Dirichlet(Tensor(np.array([[0.2, 1.0, 3.0], [5.0, 0.7, 2.0]]))),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sample_mean_and_variance(family):
    d = FAMILIES[family]()
    x = draw(d, 7)
    check_mean_and_variance(x, d.mean.data, d.variance.data)
    assert np.all(d.support.check(x))


def test_categorical_frequencies():
    probs = np.array([[0.2, 0.0, 0.5, 0.3], [0.97, 0.01, 0.01, 0.01]])
    d = D.Categorical(probs=Tensor(probs))
    x = d.sample((N,), generator=np.random.default_rng(1)).data
    assert x.shape == (N, 2) and x.dtype == np.int64
    for row in range(2):
        frequency = np.bincount(x[:, row], minlength=4) / N
        se = np.sqrt(probs[row] * (1 - probs[row]) / N)
        np.testing.assert_array_less(np.abs(frequency - probs[row]), Z * se + 1e-12)
    assert not (x[:, 0] == 1).any()  # a class of probability 0 is never drawn


def test_multivariate_normal_mean_and_covariance():
    a = np.array([[2.0, 0.0, 0.0], [0.6, 1.0, 0.0], [-0.4, 0.3, 0.5]])
    cov = a @ a.T
    d = D.MultivariateNormal(f64(1.0, -1.0, 0.5), covariance_matrix=Tensor(cov))
    x = d.sample((N,), generator=np.random.default_rng(3)).data
    assert x.shape == (N, 3)
    np.testing.assert_array_less(np.abs(x.mean(0) - [1.0, -1.0, 0.5]),
                                 Z * np.sqrt(np.diag(cov) / N))
    centred = x - x.mean(0)
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(0) / np.sqrt(N)
    np.testing.assert_array_less(np.abs(products.mean(0) - cov), Z * se)


def test_sample_shapes_and_no_graph():
    loc = Tensor(np.zeros((2, 3)), requires_grad=True)
    d = D.Normal(loc, 1.0)
    assert d.sample().shape == (2, 3)
    with pytest.raises(TypeError):  # torch.Size(5): an int is no shape, as torch's
        d.sample(5)
    assert d.sample((4, 5)).shape == (4, 5, 2, 3)
    assert d.sample([4]).shape == (4, 2, 3)
    assert not d.sample((4,)).requires_grad
    assert d.rsample((4,)).requires_grad
    mvn = D.MultivariateNormal(Tensor(np.zeros((2, 3))), scale_tril=Tensor(np.eye(3)))
    assert mvn.rsample((5,)).shape == (5, 2, 3)
    assert D.Categorical(logits=Tensor(np.zeros((2, 4)))).sample((6,)).shape == (6, 2)
    assert D.OneHotCategorical(logits=Tensor(np.zeros(4))).sample((6,)).shape == (6, 4)


def test_float32_parameters_give_float32_samples():
    d = D.Normal(0.0, 1.0)  # numbers: float32, dlpy's default (as torch's)
    assert d.loc.dtype == np.float32 and d.sample((3,)).dtype == np.float32
    assert d.log_prob(Tensor(np.array(0.5, np.float32))).dtype == np.float32
    g = D.Gamma(Tensor(np.ones(2, dtype=np.float32)), 2.0)
    assert g.rate.dtype == np.float32 and g.rsample((3,)).dtype == np.float32
    mixed = D.Normal(Tensor(np.zeros(2)), 1.0)  # a number takes the float64 tensor's dtype
    assert mixed.scale.dtype == np.float64


def test_generators():
    d = D.Normal(f64(0.0, 1.0), f64(1.0, 2.0))
    first = d.sample((3,), generator=np.random.default_rng(5)).data
    np.testing.assert_array_equal(first, d.sample((3,), rng=np.random.default_rng(5)).data)
    dlpy.manual_seed(11)
    a = d.sample((3,)).data
    dlpy.manual_seed(11)
    np.testing.assert_array_equal(a, d.sample((3,)).data)
    assert not np.array_equal(a, d.sample((3,)).data)
    with pytest.raises(TypeError, match="give generator or rng"):
        d.sample((2,), generator=np.random.default_rng(0), rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy Generator"):
        d.sample((2,), generator=0)


def test_rsample_gradients_are_the_reparameterisation():
    rng = np.random.default_rng(0)
    loc = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    scale = Tensor(np.array([2.0, 0.3]), requires_grad=True)
    x = D.Normal(loc, scale).rsample((50,), generator=rng)
    x.sum().backward()
    np.testing.assert_allclose(loc.grad, [50, 50])
    np.testing.assert_allclose(scale.grad, ((x.data - loc.data) / scale.data).sum(0), rtol=1e-12)

    rate = Tensor(np.array([0.5, 3.0]), requires_grad=True)
    x = D.Exponential(rate).rsample((50,), generator=rng)
    x.sum().backward()
    np.testing.assert_allclose(rate.grad, -(x.data / rate.data).sum(0), rtol=1e-12)

    low = Tensor(np.array([0.0]), requires_grad=True)
    high = Tensor(np.array([2.0]), requires_grad=True)
    x = D.Uniform(low, high).rsample((50,), generator=rng)
    x.sum().backward()
    u = x.data / 2.0
    np.testing.assert_allclose(high.grad, u.sum(0), rtol=1e-12)
    np.testing.assert_allclose(low.grad, (1 - u).sum(0), rtol=1e-12)

    loc, scale = Tensor(np.array([1.0]), requires_grad=True), Tensor(np.array([2.0]),
                                                                      requires_grad=True)
    x = D.Laplace(loc, scale).rsample((50,), generator=rng)
    x.sum().backward()
    np.testing.assert_allclose(scale.grad, ((x.data - 1.0) / 2.0).sum(0), rtol=1e-12)

    tril = Tensor(np.array([[1.0, 0.0], [0.5, 2.0]]), requires_grad=True)
    mloc = Tensor(np.zeros(2), requires_grad=True)
    x = D.MultivariateNormal(mloc, scale_tril=tril).rsample((50,), generator=rng)
    (x * np.array([1.0, 3.0])).sum().backward()
    eps = np.linalg.solve(tril.data, x.data.T).T  # the noise that made the samples
    np.testing.assert_allclose(tril.grad, np.outer([1.0, 3.0], eps.sum(0)), rtol=1e-10)
    np.testing.assert_allclose(mloc.grad, [50, 150])


def _inverse_cdf(a: np.ndarray, u: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x' with P(a, x') = u, by Newton's method from x (for the implicit-gradient check)."""
    from dlpy.ops.special import lgamma_array

    for _ in range(50):
        density = np.exp((a - 1) * np.log(x) - x - lgamma_array(a))
        x = np.maximum(x - (gammainc_array(a, x) - u) / density, x / 10)
    return x


def test_gamma_rsample_implicit_gradient_per_sample():
    # dx/da at fixed u = P(a, x): the derivative of the inverse CDF, by finite differences;
    # dlpy's is torch's closed-form approximation of it, good to about 1e-4 relative
    rng = np.random.default_rng(2)
    a = Tensor(np.array([0.2, 0.7, 1.0, 2.5, 9.0, 40.0] * 3), requires_grad=True)
    x = D.Gamma(a, 1.0).rsample(generator=rng)
    x.sum().backward()
    u = gammainc_array(a.data, x.data)
    h = 1e-5 * a.data
    numeric = (_inverse_cdf(a.data + h, u, x.data) - _inverse_cdf(a.data - h, u, x.data)) / (2 * h)
    np.testing.assert_allclose(a.grad, numeric, rtol=2e-4)


def _within_standard_errors(per_sample: np.ndarray, expected: float) -> None:
    se = per_sample.std() / np.sqrt(len(per_sample))
    assert abs(per_sample.mean() - expected) < Z * se, (per_sample.mean(), expected, se)


@pytest.mark.parametrize("concentration", [0.1, 1.0, 6.0])
def test_gamma_and_beta_rsample_gradients_have_the_right_expectation(concentration):
    # one concentration per draw, so a.grad holds each draw's dx/da: for Gamma E[x] = a / rate,
    # so E[dx/da] = 1 / rate; for Beta d/da E[x] = b / (a + b)^2, d/db E[x] = -a / (a + b)^2
    rng = np.random.default_rng(4)
    a = Tensor(np.full(N, concentration), requires_grad=True)
    rate = Tensor(np.array(2.0), requires_grad=True)
    x = D.Gamma(a, rate).rsample(generator=rng)
    x.sum().backward()
    _within_standard_errors(a.grad, 0.5)
    np.testing.assert_allclose(rate.grad, -(x.data / 2.0).sum(), rtol=1e-12)

    a = Tensor(np.full(N, concentration), requires_grad=True)
    b = Tensor(np.full(N, 2.0), requires_grad=True)
    D.Beta(a, b).rsample(generator=rng).sum().backward()
    total = concentration + 2.0
    _within_standard_errors(a.grad, 2.0 / total**2)
    _within_standard_errors(b.grad, -concentration / total**2)


def test_rsample_flags():
    assert D.Normal(0.0, 1.0).has_rsample and D.MultivariateNormal(
        f64(0.0), scale_tril=Tensor(np.ones((1, 1)))).has_rsample
    for d in (D.Bernoulli(0.5), D.Categorical(f64(0.5, 0.5)), D.Poisson(1.0),
              D.Binomial(3, 0.5)):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError, match="no reparameterised sampler"):
            d.rsample()
    assert D.Independent(D.Normal(f64(0.0), f64(1.0)), 1).has_rsample
    assert not D.Independent(D.Bernoulli(f64(0.5)), 1).has_rsample
