"""The KL pairs across families against PyTorch (tests/fixtures/distributions_last/kl.npz from
make_distributions_last_fixtures.py, float64): values, where they are infinite, and the gradients
of sum(kl * w) for both distributions' parameters; the registry against torch's; the dispatch
rule for subclasses."""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_grouped

import dlpy.distributions as D
import dlpy.functional as F
from dlpy import Tensor
from dlpy.distributions.kl import _KL_REGISTRY
from dlpy.testing import gradcheck

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "distributions_last"
# trigamma (digamma's gradient) is accurate to about 5e-10 in PyTorch
# torch's Wishart KL is its generic Bregman divergence through autograd: agrees to ~1e-8, and
# it detaches p's natural parameters, so p's gradients are 0 there (checked by gradcheck below)
BREGMAN = {"wishart_wishart"}
LOOSE = {"beta_gamma", "gamma_gumbel", "gamma_normal", "beta_cb", "beta_exponential",
         "beta_normal", "beta_uniform", "gamma_exponential", "chi2_exponential", "chi2_normal"}


@functools.cache
def load(name: str) -> dict[str, dict[str, np.ndarray]]:
    return load_grouped(FIXTURES / f"{name}.npz")


def _registered() -> set[tuple[str, str]]:
    """The registered pairs of dlpy's families (not the test classes other tests add)."""
    return {(p.__name__, q.__name__) for p, q in _KL_REGISTRY
            if p.__module__.startswith("dlpy.") and q.__module__.startswith("dlpy.")}


def _cases() -> list[str]:
    return sorted(case for case in load("kl") if case != "torch_registry")


def _compare(actual, expected, rtol, what, atol=1e-11):
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected),
                                  err_msg=f"{what}: where infinite")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(np.where(finite, actual, 0), np.where(finite, expected, 0),
                               rtol=rtol, atol=atol, err_msg=what)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("case", _cases())
def test_kl_matches_torch(case):
    record = load("kl")[case]
    params = {}
    for side in ("p", "q"):
        params[side] = {key[2:]: Tensor(value, requires_grad=key[2:] != "total_count")
                        for key, value in record.items() if key.startswith(f"{side}_")}
    p = getattr(D, str(record["p"]))(**params["p"])
    q = getattr(D, str(record["q"]))(**params["q"])
    kl = D.kl_divergence(p, q)
    rtol = 1e-6 if case in BREGMAN else 1e-8 if case in LOOSE else 1e-10
    assert kl.dtype == np.float64
    assert kl.shape == record["kl"].shape
    _compare(kl.data, record["kl"], rtol, "kl")
    if not kl.requires_grad:  # a constant inf: torch's gradients are all 0
        assert np.isposinf(kl.data).all()
        assert not any(record[k].any() for k in record if k.startswith("grad_"))
        return
    (F.where(np.isfinite(kl.data), kl, 0.0) * record["w"]).sum().backward()
    for side in ("q",) if case in BREGMAN else ("p", "q"):
        for name, tensor in params[side].items():
            if name == "total_count":
                continue
            grad = tensor.grad if tensor.grad is not None else np.zeros(tensor.shape)
            _compare(grad, record[f"grad_{side}_{name}"], rtol, f"gradient of {side}.{name}",
                     atol=1e-9 if case in LOOSE else 1e-11)


def test_every_torch_pair_is_registered():
    """dlpy registers every pair torch does (87), and Wishart-Wishart in closed form (torch:
    through ExponentialFamily's generic one)."""
    torch_pairs = {tuple(pair.split(",")) for pair in load("kl")["torch_registry"]["pairs"]}
    assert len(torch_pairs) == 87
    assert _registered() - torch_pairs == {("Wishart", "Wishart")}
    assert torch_pairs - _registered() == set()


def test_every_cross_pair_has_a_fixture():
    """Each pair across families is compared with torch above."""
    checked = {(str(r["p"]), str(r["q"])) for c, r in load("kl").items() if c != "torch_registry"}
    cross = {(p, q) for p, q in _registered() if p != q}
    same_family_files = {("MultivariateNormal", "LowRankMultivariateNormal"),
                         ("LowRankMultivariateNormal", "MultivariateNormal")}  # kl_more.npz
    assert cross - same_family_files - checked == set()


def test_cross_pairs_gradcheck(rng):
    """Central differences for closed forms with many terms."""
    a, b = (Tensor(rng.uniform(0.5, 3, 3), requires_grad=True) for _ in range(2))
    loc = Tensor(rng.standard_normal(3), requires_grad=True)
    scale = Tensor(rng.uniform(0.5, 2, 3), requires_grad=True)
    assert gradcheck(lambda a, b, loc, scale: D.kl_divergence(D.Gamma(a, b),
                                                              D.Gumbel(loc, scale)),
                     a, b, loc, scale)
    assert gradcheck(lambda a, b, loc, scale: D.kl_divergence(D.Beta(a, b),
                                                              D.Normal(loc, scale)),
                     a, b, loc, scale)
    assert gradcheck(lambda loc, scale, a: D.kl_divergence(D.Normal(loc, scale),
                                                           D.Laplace(a, scale)),
                     loc, scale, a)
    low = Tensor(rng.uniform(0.1, 0.3, 3), requires_grad=True)
    high = Tensor(rng.uniform(0.6, 0.9, 3), requires_grad=True)
    assert gradcheck(lambda low, high, a, b: D.kl_divergence(D.Uniform(low, high),
                                                             D.Beta(a, b)),
                     low, high, a, b)


def test_kl_agrees_with_monte_carlo():
    """Closed forms against E_p[log p - log q] from 200,000 draws (5 standard errors)."""
    rng = np.random.default_rng(0)
    pairs = [(D.Gamma(2.5, 1.5), D.Normal(1.0, 2.0)), (D.Uniform(0.5, 2.0), D.Gumbel(0.3, 1.2)),
             (D.Normal(0.2, 0.7), D.Laplace(-0.1, 1.3)), (D.Exponential(1.7), D.Gamma(2.0, 3.0)),
             (D.Beta(2.0, 3.0), D.ContinuousBernoulli(0.3)),
             (D.Pareto(1.0, 3.5), D.Normal(1.2, 1.0)), (D.Laplace(0.5, 0.8), D.Normal(0.0, 1.5)),
             (D.Bernoulli(0.3), D.Poisson(1.2))]
    for p, q in pairs:
        x = p.sample((200_000,), generator=rng)
        ratio = (p.log_prob(x) - q.log_prob(x)).data
        estimate, se = ratio.mean(), ratio.std() / math.sqrt(len(ratio))
        assert abs(D.kl_divergence(p, q).item() - estimate) < 5 * se, (p, q)


def test_infinite_pairs_are_constants_of_p_shape():
    kl = D.kl_divergence(D.Normal(Tensor(np.zeros((2, 1)), requires_grad=True), 1.0),
                         D.Exponential(np.ones(3)))
    assert kl.shape == (2, 1) and np.isposinf(kl.data).all() and not kl.requires_grad


def test_partly_infinite_pair_has_no_gradient_there():
    low = Tensor(np.array([-0.5, 0.5]), requires_grad=True)
    kl = D.kl_divergence(D.Uniform(low, 2.0), D.Exponential(1.0))
    assert np.isposinf(kl.data[0]) and np.isfinite(kl.data[1])
    F.where(np.isfinite(kl.data), kl, 0.0).sum().backward()
    assert low.grad.numpy()[0] == 0 and low.grad.numpy()[1] != 0


def test_subclasses_take_the_most_specific_pair():
    class MyGamma(D.Gamma):
        pass

    p, q = MyGamma(2.0, 1.5), D.Exponential(1.2)
    np.testing.assert_allclose(D.kl_divergence(p, q).data,
                               D.kl_divergence(D.Gamma(2.0, 1.5), q).data, rtol=1e-15)
    # Chi2 is a Gamma: Chi2-Exponential is Gamma-Exponential
    chi2 = D.Chi2(3.0)
    np.testing.assert_allclose(D.kl_divergence(chi2, q).data,
                               D.kl_divergence(D.Gamma(1.5, 0.5), q).data, rtol=1e-15)


def test_ambiguous_match_warns_and_picks_one():
    class A(D.Normal):
        pass

    class B(D.Normal):
        pass

    calls = []
    D.register_kl(A, D.Normal)(lambda p, q: calls.append("A,Normal") or Tensor(np.array(1.0)))
    D.register_kl(D.Normal, B)(lambda p, q: calls.append("Normal,B") or Tensor(np.array(2.0)))
    try:
        with pytest.warns(RuntimeWarning, match="ambiguous for \\(A, B\\)"):
            D.kl_divergence(A(0.0, 1.0), B(0.0, 1.0))
        assert calls == ["A,Normal"]  # torch's choice: the left-most more specific type
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            D.kl_divergence(A(0.0, 1.0), D.Normal(0.0, 1.0))  # not ambiguous
    finally:
        from dlpy.distributions.kl import _KL_MEMOIZE
        del _KL_REGISTRY[A, D.Normal], _KL_REGISTRY[D.Normal, B]
        _KL_MEMOIZE.clear()


def test_unregistered_pair_raises():
    with pytest.raises(NotImplementedError, match="p HalfNormal and q Normal"):
        D.kl_divergence(D.HalfNormal(1.0), D.Normal(0.0, 1.0))


def _wishart(rng, df, batch=(), requires_grad=False):
    a = rng.standard_normal(batch + (3, 3))
    cov = Tensor(a @ np.swapaxes(a, -1, -2) + 3 * np.eye(3), requires_grad=requires_grad)
    return D.Wishart(Tensor(np.asarray(df, dtype=float), requires_grad=requires_grad),
                     covariance_matrix=cov)


def test_wishart_kl_closed_form_equals_bregman():
    """The closed form against the generic Bregman divergence (autograd of the log normalizer),
    values and gradients for both sides, batched (torch's generic one sums the df term over the
    batch: 6.38 and 0.75 where both give 2.198 and 2.478)."""
    from dlpy.distributions.kl_cross import _kl_expfamily_expfamily, _kl_wishart_wishart

    rng = np.random.default_rng(4)
    results = []
    for kl in (_kl_wishart_wishart, _kl_expfamily_expfamily):
        inner = np.random.default_rng(5)
        p, q = _wishart(inner, [4.5, 6.0], (2,), True), _wishart(inner, 5.25, (), True)
        out = kl(p, q)
        (out * np.array([0.3, -1.2])).sum().backward()
        results.append([out.data, p.df.grad, p.covariance_matrix.grad, q.df.grad,
                        q.covariance_matrix.grad])
    for closed, bregman in zip(*results):
        np.testing.assert_allclose(closed, bregman, rtol=1e-10, atol=1e-12)
    p = _wishart(rng, 4.0)
    np.testing.assert_allclose(D.ExponentialFamily.entropy(p).data, p.entropy().data, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="different exponential families"):
        _kl_expfamily_expfamily(p, type("MyWishart", (D.Wishart,), {})(4.0, scale_tril=np.eye(3)))


def test_wishart_kl_gradcheck_and_monte_carlo():
    rng = np.random.default_rng(6)
    q = _wishart(rng, 5.5)
    b = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    df = Tensor(np.array([4.5, 7.0]), requires_grad=True)

    def kl(df, b):
        p = D.Wishart(df, scale_tril=F.tril(b, -1) + F.diag_embed(F.diagonal(b).exp()))
        return D.kl_divergence(p, q)

    assert gradcheck(kl, df, b)
    p = _wishart(rng, 4.5)
    x = p.sample((100_000,), generator=rng)
    ratio = (p.log_prob(x) - q.log_prob(x)).data
    assert abs(D.kl_divergence(p, q).item() - ratio.mean()) < 5 * ratio.std() / math.sqrt(1e5)
    assert abs(D.kl_divergence(p, p).item()) < 1e-12
