"""Learning with distributions, tests that can fail: maximum likelihood by gradient descent on
log_prob, a REINFORCE (score-function) gradient whose expectation is the true gradient, a
reparameterised objective with a known optimum, and a tiny VAE."""

from __future__ import annotations

import math

import numpy as np

import dlpy.distributions as D
import dlpy.functional as F
from dlpy import Tensor, nn, optim


def _descend(params: list[Tensor], loss_fn, steps: int, lr: float) -> None:
    for _ in range(steps):
        for p in params:
            p.grad = None
        loss_fn().backward()
        for p in params:
            p.data -= lr * p.grad.data


def test_maximum_likelihood_normal_recovers_the_sample_mean_and_std():
    rng = np.random.default_rng(0)
    data = rng.normal(2.0, 0.5, 2000)
    loc = Tensor(np.array(0.0), requires_grad=True)
    log_scale = Tensor(np.array(0.0), requires_grad=True)
    _descend([loc, log_scale],
             lambda: -D.Normal(loc, log_scale.exp()).log_prob(Tensor(data)).mean(),
             steps=400, lr=0.1)
    np.testing.assert_allclose(loc.item(), data.mean(), rtol=1e-6)
    np.testing.assert_allclose(math.exp(log_scale.item()), data.std(), rtol=1e-6)  # the MLE


def test_maximum_likelihood_gamma_and_categorical():
    rng = np.random.default_rng(1)
    data = rng.gamma(3.0, 1 / 2.0, 2000)
    # parameterised by log concentration and log mean (rate = concentration / mean): better
    # conditioned for plain gradient descent than (log concentration, log rate)
    log_concentration = Tensor(np.array(0.0), requires_grad=True)
    log_mean = Tensor(np.array(0.0), requires_grad=True)

    def nll():
        concentration = log_concentration.exp()
        return -D.Gamma(concentration, concentration / log_mean.exp()).log_prob(Tensor(data)).mean()

    _descend([log_concentration, log_mean], nll, steps=300, lr=0.5)
    concentration = math.exp(log_concentration.item())
    np.testing.assert_allclose(math.exp(log_mean.item()), data.mean(), rtol=1e-10)
    # the MLE's concentration solves log(a) - digamma(a) = log(mean) - mean(log x) (digamma
    # here by a central difference of math.lgamma, independent of dlpy's)
    h = 1e-5
    digamma = (math.lgamma(concentration + h) - math.lgamma(concentration - h)) / (2 * h)
    residual = math.log(concentration) - digamma - (math.log(data.mean()) - np.log(data).mean())
    assert abs(residual) < 1e-8
    assert abs(concentration - 3.0) < 0.2  # and near the truth

    labels = rng.choice(4, size=3000, p=[0.1, 0.2, 0.3, 0.4])
    logits = Tensor(np.zeros(4), requires_grad=True)
    _descend([logits], lambda: -D.Categorical(logits=logits).log_prob(Tensor(labels)).mean(),
             steps=500, lr=1.0)
    np.testing.assert_allclose(F.softmax(logits, -1).data, np.bincount(labels) / len(labels),
                               atol=1e-4)


def test_reinforce_gradient_matches_the_true_gradient_in_expectation():
    # E_p[r(x)] with p = softmax(logits): the true gradient is p_k (r_k - E r); the
    # score-function estimate mean_s r(x_s) grad log p(x_s) must agree within its standard error
    rng = np.random.default_rng(2)
    reward = np.array([1.0, -2.0, 0.5, 3.0])
    logits = Tensor(np.array([0.2, -0.5, 1.0, 0.0]), requires_grad=True)
    policy = D.Categorical(logits=logits)
    n = 50_000
    actions = policy.sample((n,), generator=rng).data
    surrogate = (reward[actions] * policy.log_prob(Tensor(actions))).mean()
    surrogate.backward()
    p = F.softmax(logits, -1).data
    true = p * (reward - (p * reward).sum())
    per_sample = reward[actions][:, None] * (np.eye(4)[actions] - p)  # r(x) d log p(x)/d logits
    np.testing.assert_allclose(logits.grad, per_sample.mean(0), rtol=1e-10, atol=1e-12)
    se = per_sample.std(0) / math.sqrt(n)
    np.testing.assert_array_less(np.abs(logits.grad - true), 5 * se)


def test_reparameterised_objective_reaches_its_known_optimum():
    # minimise E_q[(x - 3)^2] + KL(q || N(0, 1)) over q = N(mu, sigma): the optimum is
    # mu = 2, sigma^2 = 1/3 (set the derivatives of (mu-3)^2 + sigma^2 + KL to zero)
    rng = np.random.default_rng(3)
    mu = Tensor(np.array(0.0), requires_grad=True)
    log_sigma = Tensor(np.array(0.0), requires_grad=True)
    opt = optim.Adam([mu, log_sigma], lr=0.05)
    prior = D.Normal(0.0, 1.0)
    for step in range(1500):
        if step == 1000:
            opt.lr = 0.005
        q = D.Normal(mu, log_sigma.exp())
        x = q.rsample((64,), generator=rng)
        loss = ((x - 3.0) ** 2).mean() + D.kl_divergence(q, prior)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(mu.item() - 2.0) < 0.03
    assert abs(math.exp(log_sigma.item()) - math.sqrt(1 / 3)) < 0.03


def test_tiny_vae_learns_a_line():
    # data on a line through the origin: a VAE with a 1-d latent must reconstruct it well
    rng = np.random.default_rng(4)
    z = rng.standard_normal((256, 1))
    data = np.concatenate([z, 2 * z], axis=1) + 0.05 * rng.standard_normal((256, 2))
    encoder = nn.Linear(2, 2, rng=rng, dtype=np.float64)  # -> (mu, log sigma)
    decoder = nn.Linear(1, 2, rng=rng, dtype=np.float64)
    opt = optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=0.03)
    prior = D.Normal(0.0, 1.0)

    def negative_elbo():
        stats = encoder(Tensor(data))
        q = D.Normal(stats[:, :1], stats[:, 1:].exp())
        latent = q.rsample(generator=rng)
        likelihood = D.Independent(D.Normal(decoder(latent), 0.1), 1)
        return (-likelihood.log_prob(Tensor(data))
                + D.kl_divergence(q, prior).sum(axis=-1)).mean()

    first = negative_elbo().item()
    for _ in range(600):
        loss = negative_elbo()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.mean([negative_elbo().item() for _ in range(10)]) < 0.1 * first
    mean_code = encoder(Tensor(data)).data[:, :1]
    reconstruction = decoder(Tensor(mean_code)).data
    assert np.mean((reconstruction - data) ** 2) < 0.05
