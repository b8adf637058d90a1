"""Wishart against PyTorch (tests/fixtures/distributions_last/wishart.npz, float64): log_prob,
entropy and the moments with their gradients; the Bartlett sampler fed torch's standard draws
gives torch's samples and gradients; sample moments; singular draws; errors."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_grouped

import dlpy.distributions as D
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

from .helpers import check_method, methods, params_and_grads

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "distributions_last"
PARAMS = ("df", "covariance_matrix", "precision_matrix", "scale_tril")


@functools.cache
def load() -> dict[str, dict[str, np.ndarray]]:
    return load_grouped(FIXTURES / "wishart.npz")


class Draws(np.random.Generator):
    """A generator handing out given standard draws (torch's, from the fixture) in order."""

    def __init__(self, gamma=(), normal=()):
        super().__init__(np.random.PCG64(0))
        self.gamma, self.normal = list(gamma), list(normal)

    def standard_gamma(self, shape, size=None, dtype=np.float64, out=None):
        draw = self.gamma.pop(0)
        assert draw.shape == np.shape(shape)
        return draw

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        draw = self.normal.pop(0)
        assert draw.shape == tuple(size)
        return draw


def _method_cases():
    return [(case, method) for case, record in sorted(load().items())
            for method in methods(record) if method != "rsample"]


def _grad(t: Tensor) -> np.ndarray:
    return t.grad if t.grad is not None else np.zeros(t.shape)


@pytest.mark.parametrize("case, method", _method_cases())
def test_wishart_matches_torch(case, method):
    record = load()[case]
    params, grads = params_and_grads(record, method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # df < p in the 2 x 2 case
        d = D.Wishart(**params)
    value = None
    if method == "log_prob":
        value = Tensor(record["value"], requires_grad=True)
        out = d.log_prob(value)
    elif method == "entropy":
        out = d.entropy()
    else:
        out = getattr(d, method)
    # digamma's gradient (trigamma) is accurate to about 5e-10 in PyTorch
    check_method(out, record, method,
                 {name: value if name == "value" else params[name] for name in grads},
                 1e-8 if method == "entropy" else 1e-10)


@pytest.mark.parametrize("case", sorted(load()))
def test_bartlett_sampler_reproduces_torch(case):
    """With torch's standard draws: torch's samples; the gradients of sum(sample * w), df's
    through the implicit Gamma gradient (torch's _standard_gamma_grad is an approximation, off by
    up to ~1e-4 relative: 1.42954002 against 1.42954480 (mpmath) at alpha 1.25, x 2; dlpy's
    agrees with mpmath to 1e-9)."""
    record = load()[case]
    params, grads = params_and_grads(record, "rsample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = D.Wishart(**params)  # one Bartlett draw (torch's _bartlett_sampling, as recorded)
        sample = d._bartlett((2,), Draws([record["gamma"]], [record["normal"]]))
    np.testing.assert_allclose(sample.data, record["rsample"], rtol=1e-12, atol=1e-12)
    (sample * record["rsample:w"]).sum().backward()
    for name in sorted(grads):
        rtol = 1e-3 if name == "df" else 1e-10
        np.testing.assert_allclose(_grad(params[name]), record[f"rsample:grad_{name}"],
                                   rtol=rtol, atol=1e-10, err_msg=f"gradient of {name}")


def _spd(rng, n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_log_prob_and_entropy_gradcheck():
    rng = np.random.default_rng(0)
    df = Tensor(np.array([4.5, 6.0]), requires_grad=True)
    b = Tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    x = Tensor(_spd(rng, 3, (4, 1)), requires_grad=True)

    def covariance(b):
        return b @ F.swapaxes(b, -2, -1) + 3 * np.eye(3)

    assert gradcheck(lambda df, b, x: D.Wishart(df, covariance_matrix=covariance(b)).log_prob(x),
                     df, b, x)
    assert gradcheck(lambda df, b: D.Wishart(df, precision_matrix=covariance(b)).entropy(), df, b)


def test_rsample_loss_gradcheck_in_the_matrix():
    """The draws do not depend on the matrix, so a seeded loss is smooth in it."""
    rng = np.random.default_rng(1)
    b = Tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def loss(b):
        d = D.Wishart(5.0, scale_tril=F.tril(b, -1) + F.diag_embed(F.diagonal(b).exp()))
        return d.rsample((4,), generator=np.random.default_rng(7))

    assert gradcheck(loss, b)


def test_rsample_df_gradient_is_unbiased():
    """d E[X] / d df = Sigma: the mean implicit gradient over many draws."""
    rng = np.random.default_rng(2)
    sigma = _spd(rng, 3) / 3
    df = Tensor(np.array(4.5), requires_grad=True)
    w = rng.standard_normal((3, 3))
    n = 20_000
    samples = D.Wishart(df, covariance_matrix=sigma).rsample((n,), generator=rng)
    (samples * w).sum().backward()
    per_sample = (samples.data * w).sum((-2, -1))
    # the spread of the per-draw gradients is about that of the per-draw values over df
    se = per_sample.std() / df.item() / np.sqrt(n)
    assert abs(df.grad / n - (sigma * w).sum()) < 5 * se


def test_sample_moments():
    rng = np.random.default_rng(3)
    sigma = _spd(rng, 3) / 3
    d = D.Wishart(np.array([3.5, 8.0]), covariance_matrix=sigma)
    n = 100_000
    x = d.sample((n,), generator=rng).data
    assert x.shape == (n, 2, 3, 3)
    assert D.constraints.positive_definite.check(x[:100]).all()
    mean, variance = d.mean.data, d.variance.data
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * np.sqrt(variance / n))
    squares = (x - mean) ** 2
    np.testing.assert_array_less(np.abs(squares.mean(0) - variance),
                                 5 * squares.std(0) / np.sqrt(n))


def test_singular_draw_is_drawn_again():
    """Zero chi-squared draws give a singular matrix: a warning, and a fresh draw in its place
    only (PyTorch warns and redraws on every call: its first check is not negated)."""
    d = D.Wishart(np.array(2.5), covariance_matrix=np.eye(2))
    zeros, good = np.zeros((2, 2)), np.array([[2.0, 1.5], [0.5, 3.0]])
    normal = np.array([[0.3], [-0.4]])
    rng = Draws([np.where([[True], [False]], zeros, good), good], [normal, normal])
    with pytest.warns(UserWarning, match="singular sample detected"):
        x = d.rsample((2,), generator=rng)
    assert D.constraints.positive_definite.check(x.data).all()
    a = np.array([[np.sqrt(4.0), 0], [0.3, np.sqrt(3.0)]])
    np.testing.assert_allclose(x.data[0], a @ a.T, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d.rsample((3,), generator=np.random.default_rng(0))  # no warning when all are fine
    rng = Draws([zeros], [normal])
    with pytest.warns(UserWarning, match="singular sample detected"):
        x = d.rsample((2,), generator=rng, max_try_correction=0)
    assert not D.constraints.positive_definite.check(x.data).all()


def test_shapes_expand_and_properties():
    d = D.Wishart(Tensor(np.array([[4.0], [5.0]])), scale_tril=np.eye(3) * 2)
    assert d.batch_shape == (2, 1) and d.event_shape == (3, 3)
    e = d.expand((2, 4))
    assert e.batch_shape == (2, 4) and e.df.shape == (2, 4)
    assert e.sample((5,), generator=np.random.default_rng(0)).shape == (5, 2, 4, 3, 3)
    np.testing.assert_allclose(e.mean.data[1, 3], 5.0 * 4 * np.eye(3))
    np.testing.assert_allclose(e.mode.data[1, 0], (5.0 - 4) * 4 * np.eye(3))
    assert np.isnan(e.mode.data[0]).all()  # df <= p + 1: no mode
    assert d.support is D.constraints.positive_definite and d.has_rsample
    assert e.log_prob(Tensor(np.eye(3))).shape == (2, 4)


def test_errors():
    with pytest.raises(ValueError, match="Wishart: give exactly one of covariance_matrix"):
        D.Wishart(3.0)
    with pytest.raises(ValueError, match="Wishart: give exactly one"):
        D.Wishart(3.0, covariance_matrix=np.eye(2), scale_tril=np.eye(2))
    with pytest.raises(ValueError, match="expected df > p - 1 = 2, got 1.5"):
        D.Wishart(np.array([4.0, 1.5]), covariance_matrix=np.eye(3))
    with pytest.raises(ValueError, match="must be square matrices"):
        D.Wishart(3.0, covariance_matrix=np.ones((2, 3)))
    with pytest.raises(ValueError, match="does not broadcast"):
        D.Wishart(np.ones(3) * 4, covariance_matrix=np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="covariance_matrix .* PositiveDefinite"):
        D.Wishart(3.0, covariance_matrix=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.warns(UserWarning, match="df < p"):
        D.Wishart(2.5, covariance_matrix=np.eye(3))
    d = D.Wishart(3.0, covariance_matrix=np.eye(2))
    with pytest.raises(ValueError, match="Wishart.log_prob: expected value .* support"):
        d.log_prob(Tensor(np.array([[1.0, 0.0], [0.0, -1.0]])))
    with pytest.raises(ValueError, match="max_try_correction must be an int >= 0, got -1"):
        d.rsample(max_try_correction=-1)
