"""InverseGamma and GeneralizedPareto against PyTorch (tests/fixtures/distributions_last/
families.npz, float64): log_prob, cdf, icdf, entropy and moments with their gradients; sample
moments, rsample gradients; OneHotCategoricalStraightThrough's straight-through gradient."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_grouped

import dlpy.distributions as D
from dlpy import Tensor
from dlpy.testing import gradcheck

from .helpers import check_method, methods, params_and_grads

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "distributions_last"


@functools.cache
def load() -> dict[str, dict[str, np.ndarray]]:
    return load_grouped(FIXTURES / "families.npz")


def _cases():
    return [(case, method) for case, record in sorted(load().items())
            for method in methods(record)]


@pytest.mark.parametrize("case, method", _cases())
def test_family_matches_torch(case, method):
    record = load()[case]
    params, grads = params_and_grads(record, method)
    d = getattr(D, str(record["dist"]))(**params)
    value = None
    if method in ("log_prob", "cdf", "icdf"):
        value = Tensor(record["icdf_value" if method == "icdf" else "value"], requires_grad=True)
        out = getattr(d, method)(value)
    elif method == "entropy":
        out = d.entropy()
    else:
        out = getattr(d, method)
    # digamma's gradient (trigamma) is accurate to about 5e-10 in PyTorch
    check_method(out, record, method,
                 {name: value if name == "value" else params[name] for name in grads}, 1e-8)


def test_sample_moments():
    rng = np.random.default_rng(0)
    n = 200_000
    d = D.InverseGamma(np.array([5.0, 8.0]), np.array([2.0, 1.0]))
    x = d.sample((n,), generator=rng).data
    np.testing.assert_array_less(np.abs(x.mean(0) - d.mean.data),
                                 5 * np.sqrt(d.variance.data / n))
    g = D.GeneralizedPareto(np.array([0.0, 1.0, -1.0]), np.array([1.0, 2.0, 0.5]),
                            np.array([0.1, 0.0, -0.3]))
    x = g.sample((n,), generator=rng).data
    np.testing.assert_array_less(np.abs(x.mean(0) - g.mean.data),
                                 5 * np.sqrt(g.variance.data / n))
    assert g.support.check(x).all()


def test_rsample_gradcheck():
    loc = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    scale = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    assert gradcheck(lambda loc, scale, c: D.GeneralizedPareto(loc, scale, c).rsample(
        (5,), generator=np.random.default_rng(1)), loc, scale, c)


def test_generalized_pareto_support_and_errors():
    g = D.GeneralizedPareto(0.0, 1.0, -0.5)
    assert g.support.check(np.array([0.0, 1.9, 2.1])).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="GeneralizedPareto.log_prob: expected value"):
        g.log_prob(Tensor(np.array(2.5)))
    with pytest.raises(ValueError, match="GeneralizedPareto: expected parameter scale"):
        D.GeneralizedPareto(0.0, -1.0, 0.1)
    with pytest.raises(ValueError, match="InverseGamma: expected parameter rate"):
        D.InverseGamma(1.0, 0.0)
    assert D.InverseGamma(2.0, 1.0).expand((3,)).sample(generator=np.random.default_rng(0)) \
        .shape == (3,)


def test_one_hot_straight_through():
    logits = Tensor(np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]]), requires_grad=True)
    d = D.OneHotCategoricalStraightThrough(logits=logits)
    assert d.has_rsample and isinstance(d, D.OneHotCategorical)
    w = np.array([0.5, -1.0, 2.0])
    x = d.rsample((6,), generator=np.random.default_rng(0))
    assert D.constraints.one_hot.check(x.data).all()
    (x * w).sum().backward()
    probs = np.exp(logits.data) / np.exp(logits.data).sum(-1, keepdims=True)
    # the gradient of 6 * sum(probs * w): the sample's value, probs' gradient
    expected = 6 * probs * (w - (probs * w).sum(-1, keepdims=True))
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-12, atol=1e-15)


def test_wishart_is_an_exponential_family():
    assert issubclass(D.Wishart, D.ExponentialFamily)
    with pytest.raises(NotImplementedError, match="Normal does not give its natural"):
        D.ExponentialFamily._natural_params.fget(D.Normal(0.0, 1.0))
