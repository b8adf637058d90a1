"""Dirichlet beyond tests/distributions/test_against_torch.py (log_prob, entropy, moments, KL):
its mode and rsample gradient against PyTorch (tests/fixtures/distributions/dirichlet.npz), the
rsample gradient's expectation, shapes, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dlpy.distributions as D
from dlpy import Tensor

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "distributions" / "dirichlet.npz"


@pytest.fixture(scope="module")
def record():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


class FixedGammas(np.random.Generator):
    """A Generator whose standard_gamma returns given draws (PyTorch's), so dlpy's rsample
    runs on the same Gamma samples as the fixture."""

    def __init__(self, gammas: np.ndarray):
        super().__init__(np.random.PCG64(0))
        self.gammas = gammas

    def standard_gamma(self, shape, size=None, dtype=np.float64, out=None):
        assert np.shape(shape) == self.gammas.shape
        return self.gammas.copy()


def test_mode_matches_torch(record):
    mode = D.Dirichlet(Tensor(record["mode:concentration"])).mode
    np.testing.assert_allclose(mode.data, record["mode:value"], rtol=1e-15, equal_nan=True)
    assert np.isnan(mode.data[2]).all()  # every concentration 1: no mode, as PyTorch
    np.testing.assert_array_equal(mode.data[1], [1.0, 0.0, 0.0])  # all below 1: a corner


def test_rsample_gradient_through_torchs_gamma_draws(record):
    """x = G / sum(G) over the fixture's Gamma draws (torch._standard_gamma's): the mean of 50
    samples and the gradient of sum(mean * w) equal torch's, which differentiates the same draws
    with its closed-form approximation of the implicit reparameterised gradient (dlpy's is the
    same approximation). Dirichlet.rsample's own gradient is another of torch's approximations
    (a Beta's per coordinate): cases_semantics_dist_fuzz_followups.py."""
    from dlpy.distributions.continuous import _standard_gamma

    concentration = Tensor(record["rsample:concentration"], requires_grad=True)
    gammas = _standard_gamma(concentration, (50, 2, 3), FixedGammas(record["rsample:gammas"]))
    x = gammas / gammas.sum(axis=-1, keepdims=True)
    assert x.shape == (50, 2, 3)
    mean = x.mean(axis=0)
    np.testing.assert_allclose(mean.data, record["rsample:mean"], rtol=1e-13)
    (mean * record["rsample:w"]).sum().backward()
    np.testing.assert_allclose(concentration.grad, record["rsample:grad"], rtol=1e-10)


def test_rsample_gradient_has_the_right_expectation():
    """d E[x_k] / d a_j = (delta_jk A - a_k) / A^2 (A = sum a): the mean of per-sample gradients of
    x . w over many draws is within a few standard errors of w . that Jacobian."""
    a = np.array([0.4, 1.5, 3.0])
    w = np.array([1.0, -2.0, 0.5])
    n = 20_000
    concentration = Tensor(np.tile(a, (n, 1)), requires_grad=True)
    x = D.Dirichlet(concentration).rsample(generator=np.random.default_rng(3))
    (x * w).sum().backward()
    total = a.sum()
    expected = (w * total - (w * a).sum()) / total**2  # w . d mean / d a_j
    per_draw = concentration.grad
    se = per_draw.std(0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(per_draw.mean(0) - expected), 5 * se)


def test_shapes_sampling_and_expand():
    d = D.Dirichlet(np.ones((4, 3), dtype=np.float64))
    assert d.batch_shape == (4,) and d.event_shape == (3,)
    x = d.sample((2,), generator=np.random.default_rng(0))
    assert x.shape == (2, 4, 3) and not x.requires_grad
    np.testing.assert_allclose(x.data.sum(-1), 1.0)
    assert d.log_prob(x).shape == (2, 4) and d.entropy().shape == (4,)
    e = D.Dirichlet(np.array([1.0, 2.0])).expand((5,))
    assert e.batch_shape == (5,) and e.sample().shape == (5, 2)
    assert D.Dirichlet(Tensor(np.ones(2, np.float32))).rsample().dtype == np.float32
    # the uniform Dirichlet's density on the simplex is (K - 1)!
    np.testing.assert_allclose(D.Dirichlet(np.ones(4)).log_prob(Tensor(np.full(4, 0.25))).data,
                               np.log(6.0), rtol=1e-14)


@pytest.mark.parametrize("make, message", [
    (lambda: D.Dirichlet(np.array([1.0, -0.5])),
     r"Dirichlet: expected parameter concentration \(shape \(2,\)\) to satisfy the constraint "
     r"IndependentConstraint\(GreaterThan\(lower_bound=0.0\), 1\)"),
    (lambda: D.Dirichlet(np.array(2.0)),
     r"Dirichlet: concentration must have at least one axis \(the categories\), got shape \(\)"),
    (lambda: D.Dirichlet(np.ones(3)).log_prob(Tensor(np.array([0.5, 0.6, 0.1]))),
     r"Dirichlet.log_prob: expected value \(shape \(3,\)\) within the support Simplex\(\)"),
    (lambda: D.Dirichlet(np.ones(3)).log_prob(Tensor(np.array([0.5, 0.5]))),
     r"Dirichlet.log_prob: the rightmost axes of value \(2,\) must match event_shape \(3,\)"),
])
def test_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_beta_holds_its_parameters_in_a_dirichlet():
    """As torch's: Beta's concentrations are read from ``_dirichlet``, so code that sets the
    Dirichlet's concentration (BoTorch's BetaPrior after a dtype change) changes the Beta; the
    gradient reaches the concentrations given; expand keeps it in step."""
    a = Tensor(np.array([2.0, 0.5]), requires_grad=True)
    beta = D.Beta(a, Tensor(np.array([3.0, 1.5])))
    assert isinstance(beta._dirichlet, D.Dirichlet)
    np.testing.assert_array_equal(beta._dirichlet.concentration.data, [[2.0, 3.0], [0.5, 1.5]])
    beta.log_prob(Tensor(np.array([0.3, 0.6]))).sum().backward()
    assert a.grad is not None and a.grad.shape == (2,)
    beta._dirichlet.concentration = Tensor(np.array([[4.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_array_equal(beta.concentration1.data, [4.0, 1.0])
    np.testing.assert_array_equal(beta.mean.data, [0.8, 0.5])
    wide = beta.expand((3, 2))
    assert wide.batch_shape == (3, 2) and wide._dirichlet.batch_shape == (3, 2)
    np.testing.assert_array_equal(wide.concentration0.data, [[1.0, 1.0]] * 3)
