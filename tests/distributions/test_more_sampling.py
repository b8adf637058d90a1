"""Sampling of the families added after the first set: moments of 100,000 seeded draws within a
few standard errors of the distribution's own (or of a known value where the moments are
infinite), shapes, supports, and rsample gradients by central differences (a fixed seed makes
rsample a deterministic function of the parameters)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dlpy.distributions as D
from dlpy import Tensor
from dlpy.testing import gradcheck

from .helpers import N, Z, check_mean_and_variance, draw, f64

FAMILIES = {
    "lognormal": lambda: D.LogNormal(f64(0.0, 1.0), f64(0.3, 0.5)),
    "halfnormal": lambda: D.HalfNormal(f64(0.5, 2.0)),
    "studentt": lambda: D.StudentT(f64(5.0, 9.0), f64(1.0, -1.0), f64(2.0, 0.5)),
    "chi2": lambda: D.Chi2(f64(0.8, 3.0, 10.0)),
    "gumbel": lambda: D.Gumbel(f64(1.0, -2.0), f64(0.5, 2.0)),
    "weibull": lambda: D.Weibull(f64(1.0, 2.0), f64(0.8, 3.0)),
    "pareto": lambda: D.Pareto(f64(1.0, 0.5), f64(5.0, 9.0)),
    "kumaraswamy": lambda: D.Kumaraswamy(f64(0.5, 2.0, 5.0), f64(0.7, 3.0, 1.5)),
    "fishersnedecor": lambda: D.FisherSnedecor(f64(6.0, 20.0), f64(12.0, 30.0)),
    "continuous_bernoulli": lambda: D.ContinuousBernoulli(f64(0.1, 0.4995, 0.9)),
    "geometric": lambda: D.Geometric(f64(0.2, 0.7)),
    "negative_binomial": lambda: D.NegativeBinomial(f64(3.0, 0.5), probs=f64(0.4, 0.8)),
    "multinomial": lambda: D.Multinomial(7, probs=f64(0.1, 0.0, 0.6, 0.3)),
    "lowrank": lambda: D.LowRankMultivariateNormal(
        f64(1.0, -1.0, 0.0), Tensor(np.array([[1.0], [0.5], [-1.0]])), f64(0.5, 1.0, 0.2)),
    "mixture": lambda: D.MixtureSameFamily(D.Categorical(f64(0.3, 0.7)),
                                           D.Normal(f64(-2.0, 3.0), f64(0.5, 1.0))),
    "logisticnormal_flow": lambda: D.TransformedDistribution(
        D.Normal(f64(0.2, -0.3), f64(0.5, 0.8)),
        [D.AffineTransform(1.0, 2.0), D.SigmoidTransform()]),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sample_mean_and_variance(family):
    d = FAMILIES[family]()
    x = draw(d, 11)
    assert np.all(d.support.check(x))
    if family == "logisticnormal_flow":  # no closed-form moments: compare with numpy's
        z = np.random.default_rng(5).normal([0.2, -0.3], [0.5, 0.8], (N, 2))
        mean = (1 / (1 + np.exp(-(1 + 2 * z)))).mean(0)
        np.testing.assert_allclose(x.mean(0), mean, atol=Z * 2 * x.std(0).max() / np.sqrt(N))
        return
    check_mean_and_variance(x, d.mean.data, d.variance.data)


def test_heavy_tails_by_their_quantiles():
    """Cauchy, HalfCauchy and StudentT(1): no moments, so compare the empirical CDF at the
    distribution's own quartiles (icdf) with 1/4, 1/2, 3/4."""
    for d in (D.Cauchy(f64(1.0, -2.0), f64(0.5, 3.0)), D.HalfCauchy(f64(0.5, 3.0)),
              D.StudentT(f64(1.0, 1.0), f64(0.0, 2.0), f64(1.0, 0.1))):
        x = d.sample((N,), generator=np.random.default_rng(2)).data
        for q in (0.25, 0.5, 0.75):
            if isinstance(d, D.StudentT):  # StudentT(1) is Cauchy(loc, scale)
                quantile = D.Cauchy(d.loc, d.scale).icdf(np.full(2, q)).data
            else:
                quantile = d.icdf(np.full(2, q)).data
            frequency = (x <= quantile).mean(0)
            np.testing.assert_array_less(np.abs(frequency - q), Z * math.sqrt(q * (1 - q) / N))


def test_von_mises_circular_moments():
    d = D.VonMises(f64(0.5, -2.0, 3.0), f64(0.3, 2.0, 20.0))
    x = d.sample((N,), generator=np.random.default_rng(4)).data
    assert np.all((-math.pi <= x) & (x < math.pi))
    resultant = np.exp(1j * x).mean(0)  # E[exp(i x)] = exp(i loc) I1(k) / I0(k)
    expected = np.exp(1j * d.loc.data) * (1 - d.variance.data)
    np.testing.assert_array_less(np.abs(resultant - expected), Z / np.sqrt(N))


def test_relaxed_samples_sharpen_with_low_temperature():
    probs = f64(0.2, 0.7)
    hot = D.RelaxedBernoulli(f64(5.0), probs=probs).sample((N,), generator=np.random.default_rng(1))
    cold = D.RelaxedBernoulli(f64(0.05), probs=probs).sample((N,),
                                                            generator=np.random.default_rng(1))
    assert hot.data.std(0).max() < 0.2  # near 1/2 everywhere
    near_binary = np.minimum(cold.data, 1 - cold.data) < 1e-3
    assert near_binary.mean() > 0.8  # most draws within 1e-3 of 0 or 1
    np.testing.assert_array_less(np.abs((cold.data > 0.5).mean(0) - probs.data),
                                 Z * np.sqrt(0.25 / N))
    onehot = D.RelaxedOneHotCategorical(f64(0.05), probs=f64(0.1, 0.3, 0.6))
    y = onehot.sample((N,), generator=np.random.default_rng(3)).data
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-12)
    frequency = np.bincount(y.argmax(-1), minlength=3) / N
    np.testing.assert_array_less(np.abs(frequency - [0.1, 0.3, 0.6]), Z * np.sqrt(0.25 / N))


def test_mixture_of_independent_normals_picks_whole_events():
    comps = D.Independent(D.Normal(Tensor(np.array([[-5.0, -5.0], [5.0, 5.0]])), 0.01), 1)
    d = D.MixtureSameFamily(D.Categorical(f64(0.25, 0.75)), comps)
    x = d.sample((1000,), generator=np.random.default_rng(0)).data
    assert x.shape == (1000, 2)
    assert np.all(np.sign(x[:, 0]) == np.sign(x[:, 1]))  # one component per draw
    assert abs((x[:, 0] > 0).mean() - 0.75) < 5 * math.sqrt(0.75 * 0.25 / 1000)


RSAMPLE = {
    "cauchy": lambda p: D.Cauchy(p[0], p[1]),
    "lognormal": lambda p: D.LogNormal(p[0], p[1]),
    "halfnormal": lambda p: D.HalfNormal(p[1]),
    "gumbel": lambda p: D.Gumbel(p[0], p[1]),
    "weibull": lambda p: D.Weibull(p[1], p[1] + 0.5),
    "pareto": lambda p: D.Pareto(p[1], p[1] + 1.0),
    "kumaraswamy": lambda p: D.Kumaraswamy(p[1], p[1] + 0.3),
    "logisticnormal": lambda p: D.LogisticNormal(p[0], p[1]),
    "continuous_bernoulli": lambda p: D.ContinuousBernoulli(logits=p[0]),
    "relaxed_bernoulli": lambda p: D.RelaxedBernoulli(p[1], logits=p[0]),
    "relaxed_onehot": lambda p: D.RelaxedOneHotCategorical(p[1][0], logits=p[0]),
    "lowrank": lambda p: D.LowRankMultivariateNormal(p[0], p[1][:, None] * p[0][:, None],
                                                     p[1]),
    "studentt_loc_scale": lambda p: D.StudentT(Tensor(np.array([3.0, 4.0, 5.0])), p[0], p[1]),
    "affine_tanh_flow": lambda p: D.TransformedDistribution(
        D.Normal(p[0], p[1]), [D.AffineTransform(p[0], p[1]), D.TanhTransform()]),
}


@pytest.mark.parametrize("family", sorted(RSAMPLE))
def test_rsample_gradient(family):
    loc = Tensor(np.array([0.3, -0.4, 0.8]), requires_grad=True)
    scale = Tensor(np.array([0.6, 1.1, 0.9]), requires_grad=True)
    d = RSAMPLE[family]((loc, scale))
    assert d.has_rsample

    def draw(loc, scale):
        return RSAMPLE[family]((loc, scale)).rsample((4,), generator=np.random.default_rng(0))

    assert gradcheck(draw, loc, scale, atol=1e-6, rtol=1e-5)


def test_gamma_based_rsample_gradients_flow():
    df = Tensor(np.array([3.0, 6.0]), requires_grad=True)
    for d in (D.Chi2(df), D.StudentT(df), D.FisherSnedecor(df, df + 1)):
        df.grad = None
        d.rsample((50,), generator=np.random.default_rng(0)).sum().backward()
        assert df.grad is not None and np.all(np.isfinite(df.grad)) and np.any(df.grad != 0)


def test_no_rsample_where_torch_has_none():
    for d in (D.VonMises(0.0, 1.0), D.Geometric(0.3), D.NegativeBinomial(2.0, 0.3),
              D.Multinomial(3, f64(0.5, 0.5)),
              D.MixtureSameFamily(D.Categorical(f64(0.5, 0.5)), D.Normal(f64(0, 1), 1.0))):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError, match="no reparameterised sampler"):
            d.rsample()
