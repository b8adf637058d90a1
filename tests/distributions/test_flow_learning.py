"""Worked examples that learn through the new pieces: a normalising flow (an affine map then
tanh, a TransformedDistribution) fitted by maximum likelihood recovers the parameters that made
the data; a mixture of two normals fitted to bimodal data finds both modes; a Gumbel-softmax
(RelaxedOneHotCategorical.rsample) objective learns which class pays."""

from __future__ import annotations

import math

import numpy as np

import dlpy.distributions as D
from dlpy import Tensor, optim


def test_affine_tanh_flow_recovers_the_generating_parameters():
    rng = np.random.default_rng(0)
    true_shift, true_scale = 0.4, 0.7
    data = Tensor(np.tanh(true_shift + true_scale * rng.standard_normal(4000)))
    shift = Tensor(np.array(0.0), requires_grad=True)
    log_scale = Tensor(np.array(0.0), requires_grad=True)

    def nll():
        flow = D.TransformedDistribution(
            D.Normal(Tensor(np.array(0.0)), 1.0),
            [D.AffineTransform(shift, log_scale.exp()), D.TanhTransform()])
        return -flow.log_prob(data).mean()

    opt = optim.Adam([shift, log_scale], lr=0.05)
    first = nll().item()
    for _ in range(300):
        opt.zero_grad()
        loss = nll()
        loss.backward()
        opt.step()
    # the known optimum: the Gaussian MLE of atanh(data), where the flow is exactly that
    z = np.arctanh(data.data)
    optimum_shift, optimum_scale = z.mean(), z.std()
    np.testing.assert_allclose(shift.item(), optimum_shift, atol=1e-3)
    np.testing.assert_allclose(math.exp(log_scale.item()), optimum_scale, rtol=1e-3)
    optimum_nll = (0.5 * np.log(2 * np.pi * optimum_scale**2) + 0.5
                   + np.mean(np.log1p(-data.data**2)))
    assert first > optimum_nll + 0.1
    np.testing.assert_allclose(nll().item(), optimum_nll, atol=1e-5)
    np.testing.assert_allclose([optimum_shift, optimum_scale], [true_shift, true_scale],
                               atol=0.03)


def test_mixture_of_normals_finds_both_modes():
    rng = np.random.default_rng(1)
    data = np.concatenate([rng.normal(-2.0, 0.5, 1500), rng.normal(3.0, 1.0, 500)])
    logits = Tensor(np.zeros(2), requires_grad=True)
    loc = Tensor(np.array([-0.5, 0.5]), requires_grad=True)
    log_scale = Tensor(np.zeros(2), requires_grad=True)
    opt = optim.Adam([logits, loc, log_scale], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        mixture = D.MixtureSameFamily(D.Categorical(logits=logits),
                                      D.Normal(loc, log_scale.exp()))
        (-mixture.log_prob(Tensor(data)).mean()).backward()
        opt.step()
    weights = np.exp(logits.data) / np.exp(logits.data).sum()
    np.testing.assert_allclose(loc.data, [-2.0, 3.0], atol=0.1)
    np.testing.assert_allclose(np.exp(log_scale.data), [0.5, 1.0], atol=0.1)
    np.testing.assert_allclose(weights, [0.75, 0.25], atol=0.03)


def test_gumbel_softmax_learns_the_paying_class():
    logits = Tensor(np.zeros(3), requires_grad=True)
    payoff = np.array([0.0, 1.0, 0.2])
    opt = optim.Adam([logits], lr=0.1)
    rng = np.random.default_rng(2)
    for _ in range(200):
        opt.zero_grad()
        y = D.RelaxedOneHotCategorical(0.5, logits=logits).rsample((32,), generator=rng)
        (-(y * payoff).sum(axis=-1).mean()).backward()
        opt.step()
    probs = np.exp(logits.data) / np.exp(logits.data).sum()
    assert probs[1] > 0.9
