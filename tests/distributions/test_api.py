"""Shapes, expand, Independent, enumerate_support, cdf/icdf, the KL registry, identities between
families, and gradient checks of the matrix ops behind MultivariateNormal."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import dlpy.distributions as D
import dlpy.functional as F
from dlpy import Tensor
from dlpy.linalg import cholesky, solve_triangular
from dlpy.testing import gradcheck


def f64(*values) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_lazy_import_and_all():
    code = ("import sys, dlpy; assert 'dlpy.distributions' not in sys.modules; "
            "print(dlpy.distributions.Normal.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Normal"]
    assert [name for name in D.__all__ if not hasattr(D, name)] == []


def test_shapes():
    cases = [
        (D.Normal(Tensor(np.zeros((2, 1))), Tensor(np.ones(3))), (2, 3), ()),
        (D.Normal(0.0, 1.0), (), ()),
        (D.Categorical(logits=Tensor(np.zeros((2, 5)))), (2,), ()),
        (D.OneHotCategorical(probs=Tensor(np.ones((2, 5)))), (2,), (5,)),
        (D.MultivariateNormal(Tensor(np.zeros(3)), scale_tril=Tensor(np.stack([np.eye(3)] * 4))),
         (4,), (3,)),
        (D.Independent(D.Normal(Tensor(np.zeros((4, 2, 3))), 1.0), 2), (4,), (2, 3)),
        (D.Binomial(Tensor(np.full((2, 1), 3.0)), probs=Tensor(np.full(4, 0.5))), (2, 4), ()),
    ]
    for d, batch, event in cases:
        assert d.batch_shape == batch and d.event_shape == event
        assert d.sample((5,)).shape == (5,) + batch + event
        assert d.log_prob(d.sample((5,))).shape == (5,) + batch


def test_expand_broadcasts_the_parameters_and_keeps_their_gradients():
    loc = Tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    d = D.Normal(loc, 1.0).expand((2, 3))
    assert d.batch_shape == (2, 3) and d.loc.shape == (2, 3)
    d.log_prob(Tensor(np.zeros((2, 3)))).sum().backward()
    np.testing.assert_allclose(loc.grad, [0.0, -2.0, -4.0])  # -(x - loc) summed over 2 rows

    for d in (D.Categorical(logits=Tensor(np.zeros(4))),
              D.OneHotCategorical(logits=Tensor(np.zeros(4))),
              D.MultivariateNormal(Tensor(np.zeros(2)), covariance_matrix=Tensor(np.eye(2))),
              D.Independent(D.Normal(Tensor(np.zeros(3)), 1.0), 1),
              D.Bernoulli(probs=0.3), D.Uniform(0.0, 1.0), D.Binomial(5, logits=0.0)):
        e = d.expand((2, 3))
        assert e.batch_shape == (2, 3) and e.event_shape == d.event_shape
        x = e.sample()
        assert x.shape == (2, 3) + d.event_shape
        np.testing.assert_allclose(e.log_prob(x).data,
                                   np.broadcast_to(d.log_prob(x).data, (2, 3)), rtol=1e-6)


def test_independent_normal_is_a_diagonal_multivariate_normal(rng):
    loc, scale = rng.standard_normal((2, 3)), rng.uniform(0.5, 2, (2, 3))
    diagonal = D.Independent(D.Normal(Tensor(loc), Tensor(scale)), 1)
    mvn = D.MultivariateNormal(Tensor(loc), scale_tril=Tensor(scale[..., None] * np.eye(3)))
    x = rng.standard_normal((5, 2, 3))
    x = Tensor(x)
    np.testing.assert_allclose(diagonal.log_prob(x).data, mvn.log_prob(x).data, rtol=1e-12)
    np.testing.assert_allclose(diagonal.entropy().data, mvn.entropy().data, rtol=1e-12)
    q = D.Independent(D.Normal(Tensor(loc[::-1].copy()), Tensor(scale[::-1].copy())), 1)
    q_mvn = D.MultivariateNormal(Tensor(loc[::-1].copy()),
                                 covariance_matrix=Tensor(scale[::-1, :, None] ** 2 * np.eye(3)))
    np.testing.assert_allclose(D.kl_divergence(diagonal, q).data,
                               D.kl_divergence(mvn, q_mvn).data, rtol=1e-12)
    np.testing.assert_allclose(mvn.variance.data, scale**2, rtol=1e-12)
    np.testing.assert_allclose(mvn.precision_matrix.data, np.eye(3) / scale[..., None] ** 2,
                               rtol=1e-12, atol=1e-15)


def test_kl_of_a_distribution_with_itself_is_zero_and_matches_monte_carlo(rng):
    pairs = [
        (D.Normal(f64(0.3), f64(1.5)), D.Normal(f64(-1.0), f64(0.7))),
        (D.Gamma(f64(2.5), f64(1.5)), D.Gamma(f64(1.5), f64(0.5))),
        (D.Beta(f64(2.0), f64(3.0)), D.Beta(f64(1.5), f64(1.2))),
        (D.Laplace(f64(0.0), f64(1.0)), D.Laplace(f64(0.5), f64(2.0))),
        (D.Exponential(f64(2.0)), D.Exponential(f64(0.5))),
        (D.Poisson(f64(3.0)), D.Poisson(f64(5.0))),
        (D.Bernoulli(f64(0.3)), D.Bernoulli(f64(0.6))),
        (D.Categorical(f64(0.2, 0.3, 0.5)), D.Categorical(f64(0.5, 0.25, 0.25))),
        (D.Binomial(f64(6.0), probs=f64(0.3)), D.Binomial(f64(6.0), probs=f64(0.6))),
        (D.Uniform(f64(0.0), f64(1.0)), D.Uniform(f64(-1.0), f64(2.0))),
        (D.MultivariateNormal(f64(0.0, 1.0), covariance_matrix=Tensor(np.array(
            [[2.0, 0.5], [0.5, 1.0]]))),
         D.MultivariateNormal(f64(1.0, 0.0), scale_tril=Tensor(np.array([[1.0, 0.0],
                                                                          [-0.3, 0.8]])))),
    ]
    n = 200_000
    for p, q in pairs:
        np.testing.assert_allclose(D.kl_divergence(p, p).data, 0.0, atol=1e-12)
        x = p.sample((n,), generator=rng)
        ratio = (p.log_prob(x) - q.log_prob(x)).data
        se = ratio.std() / math.sqrt(n)
        assert abs(ratio.mean() - D.kl_divergence(p, q).data.item()) < 5 * se + 1e-12, type(p)


def test_kl_registry_picks_the_most_specific_pair():
    class MyNormal(D.Normal):
        pass

    p, q = MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)
    np.testing.assert_allclose(D.kl_divergence(p, q).data, 0.5)  # Normal's formula

    @D.register_kl(MyNormal, D.Normal)
    def _kl_mine(p, q):
        return Tensor(np.array(42.0))

    assert D.kl_divergence(p, q).item() == 42.0
    assert D.kl_divergence(q, MyNormal(0.0, 1.0)).item() == 0.5  # (Normal, MyNormal) unchanged

    class Other(D.Normal):
        pass

    @D.register_kl(D.Normal, Other)
    def _kl_other(p, q):
        return Tensor(np.array(7.0))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        D.kl_divergence(p, Other(0.0, 1.0))  # (MyNormal, Normal) vs (Normal, Other): ambiguous
    assert any("ambiguous" in str(w.message) for w in caught)


def test_enumerate_support_sums_to_one():
    for d in (D.Bernoulli(Tensor(np.array([0.2, 0.7]))),
              D.Categorical(logits=Tensor(np.array([[0.0, 1.0, 2.0], [1.0, 1.0, -1.0]]))),
              D.OneHotCategorical(probs=Tensor(np.array([0.2, 0.3, 0.5]))),
              D.Binomial(Tensor(np.array([4.0, 4.0])), probs=Tensor(np.array([0.2, 0.9])))):
        support = d.enumerate_support()
        assert support.shape[1:] == d.batch_shape + d.event_shape
        np.testing.assert_allclose(d.log_prob(support).exp().sum(axis=0).data, 1.0, rtol=1e-12)
        assert d.enumerate_support(expand=False).shape[1:len(d.batch_shape) + 1] == \
            (1,) * len(d.batch_shape)
    binomial = D.Binomial(Tensor(np.array([4.0, 4.0])), probs=Tensor(np.array([0.2, 0.9])))
    np.testing.assert_array_equal(binomial.enumerate_support(expand=False).data[:, 0],
                                  [0, 1, 2, 3, 4])


def test_cdf_and_icdf_are_inverse(rng):
    u = rng.uniform(0.01, 0.99, (4, 2))
    for d in (D.Normal(f64(0.5, -1.0), f64(2.0, 0.3)), D.Laplace(f64(0.5, -1.0), f64(2.0, 0.3)),
              D.Exponential(f64(0.5, 3.0)), D.Uniform(f64(-1.0, 0.0), f64(2.0, 0.5))):
        np.testing.assert_allclose(d.cdf(d.icdf(u)).data, u, rtol=1e-12)
    g = D.Gamma(f64(2.0), f64(3.0))  # cdf(x) = 1 - (1 + 3x) e^-3x for concentration 2
    x = np.array([0.1, 0.5, 2.0])
    np.testing.assert_allclose(g.cdf(Tensor(x)).data, 1 - (1 + 3 * x) * np.exp(-3 * x),
                               rtol=1e-13)


def test_moments_modes_and_perplexity():
    d = D.Gamma(f64(3.0, 0.5), f64(2.0, 1.0))
    np.testing.assert_allclose(d.mode.data, [1.0, 0.0])
    np.testing.assert_allclose(d.stddev.data, np.sqrt(d.variance.data))
    np.testing.assert_array_equal(D.Bernoulli(f64(0.2, 0.5, 0.8)).mode.data, [0.0, np.nan, 1.0])
    np.testing.assert_array_equal(D.Categorical(f64(0.2, 0.5, 0.3)).mode.data, 1)
    np.testing.assert_array_equal(D.OneHotCategorical(f64(0.2, 0.5, 0.3)).mode.data, [0, 1, 0])
    np.testing.assert_array_equal(D.Binomial(f64(10.0), probs=f64(0.33)).mode.data, [3.0])
    beta = D.Beta(f64(0.5, 0.5, 2.0, 1.0, 3.0, 1.0, 0.5), f64(0.5, 2.0, 0.5, 1.0, 2.0, 3.0, 1.0))
    np.testing.assert_allclose(beta.mode.data, [1.0, 0.0, 1.0, np.nan, 2 / 3, 0.0, np.nan])
    assert np.isnan(D.Categorical(f64(0.5, 0.5)).mean.data)
    entropy = D.Categorical(f64(0.25, 0.25, 0.25, 0.25)).entropy()
    np.testing.assert_allclose(entropy.data, math.log(4), rtol=1e-15)
    np.testing.assert_allclose(D.Categorical(f64(0.25, 0.25, 0.25, 0.25)).perplexity().data, 4.0)
    # a class of probability 0 adds nothing to the entropy (0 * log 0 = 0), not nan
    np.testing.assert_allclose(D.Categorical(logits=f64(0.0, -np.inf)).entropy().data, 0.0)


def test_repr():
    assert repr(D.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(D.Normal(np.zeros(3), 1.0)) == "Normal(loc: (3,), scale: (3,))"
    assert repr(D.Bernoulli(logits=0.5)) == "Bernoulli(logits: 0.5)"
    assert repr(D.Independent(D.Exponential(np.ones(2)), 1)) == \
        "Independent(Exponential(rate: (2,)), 1)"
    assert repr(D.OneHotCategorical(np.ones(2))) == "OneHotCategorical(probs: (2,))"


def test_the_derived_parameter_is_recomputed_so_backward_can_run_twice():
    logits = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    d = D.Bernoulli(logits=logits)
    d.entropy().sum().backward()
    first = logits.grad.numpy().copy()
    logits.grad = None
    d.entropy().sum().backward()  # probs = sigmoid(logits) is a fresh graph
    np.testing.assert_allclose(logits.grad, first)


@pytest.mark.parametrize("batch", [(), (2,), (3, 1)])
def test_linalg_ops_gradcheck(batch, rng):
    n = 3
    a = rng.standard_normal(batch + (n, n))
    tril = Tensor(np.tril(a) + 3 * np.eye(n), requires_grad=True)
    rhs = Tensor(rng.standard_normal((2,) + batch + (n, 2)), requires_grad=True)
    assert gradcheck(lambda L, B: solve_triangular(L, B, upper=False), tril, rhs)
    np.testing.assert_allclose((tril.data @ solve_triangular(tril, rhs, upper=False).data),
                               rhs.data, rtol=1e-12, atol=1e-12)
    # Cholesky's gradient is symmetric (PyTorch's convention): check it through A = B B^T + nI
    b = Tensor(rng.standard_normal(batch + (n, n)), requires_grad=True)

    def factor(b):
        return cholesky(b @ F.swapaxes(b, -2, -1) + n * np.eye(n))

    assert gradcheck(factor, b)


def test_multivariate_normal_gradcheck(rng):
    n = 3
    loc = Tensor(rng.standard_normal(n), requires_grad=True)
    b = Tensor(rng.standard_normal((2, n, n)), requires_grad=True)
    x = Tensor(rng.standard_normal((4, 2, n)), requires_grad=True)

    def log_prob(loc, b, x):
        covariance = b @ F.swapaxes(b, -2, -1) + n * np.eye(n)
        return D.MultivariateNormal(loc, covariance_matrix=covariance).log_prob(x)

    assert gradcheck(log_prob, loc, b, x)

    def kl(loc, b):
        covariance = b @ F.swapaxes(b, -2, -1) + n * np.eye(n)
        p = D.MultivariateNormal(loc, precision_matrix=covariance)
        q = D.MultivariateNormal(Tensor(np.zeros(n)), scale_tril=Tensor(np.eye(n) * 2))
        return D.kl_divergence(p, q) + p.entropy()

    assert gradcheck(kl, loc, b)


def test_log_prob_gradcheck_in_parameters_and_value(rng):
    scale = Tensor(rng.uniform(0.5, 2, 3), requires_grad=True)
    value = Tensor(rng.uniform(0.1, 0.9, (2, 3)), requires_grad=True)
    assert gradcheck(lambda s, v: D.Beta(s, 2.0).log_prob(v) + D.Gamma(s, s).log_prob(v), scale,
                     value)
    assert gradcheck(lambda s, v: D.Laplace(s, s).cdf(v) + D.Normal(v, s).icdf(0.3), scale, value)
    probs = Tensor(rng.uniform(0.1, 1, (2, 4)), requires_grad=True)
    assert gradcheck(lambda p: D.Categorical(probs=p).log_prob(Tensor(np.array([[0, 3], [2, 2]])))
                     + D.Categorical(probs=p).entropy(), probs)


def test_poisson_integer_rate_kept_as_torch():
    """Poisson(torch.tensor([4])) (the documented example): the rate stays int64, so the
    mean, variance and mode are integers, and sampling is refused as torch's (no integer
    kernel); a float rate samples."""
    import dlpy
    from dlpy.distributions import Poisson

    m = Poisson(dlpy.tensor([4]))
    assert m.mean.dtype == np.int64 and m.mode.dtype == np.int64
    np.testing.assert_allclose(m.stddev.numpy(), [2.0])
    np.testing.assert_allclose(m.log_prob(dlpy.tensor([3.0])).numpy(),
                               [3 * np.log(4) - 4 - np.log(6)], rtol=1e-6)
    with pytest.raises(NotImplementedError, match="poisson_cpu"):
        m.sample()
    assert Poisson(dlpy.tensor([4.0])).sample((2,)).shape == (2, 1)
