"""dlpy.linalg in use: fitting a Gaussian's covariance by maximum likelihood (cholesky, solve,
slogdet) and a least-squares fit through solve, each trained with Adam."""

import numpy as np

import dlpy.functional as F
import dlpy.linalg as LA
from dlpy import Tensor, optim


def test_gaussian_covariance_fit_with_cholesky_and_slogdet():
    """Minimise the mean negative log-likelihood (less a constant) of zero-mean data over
    Sigma = R R^T + 0.01 I: the loss must reach its minimum, 0.5 (log det S + 3) at the sample
    covariance S (the maximum-likelihood answer), and Sigma must reach S."""
    rng = np.random.default_rng(0)
    true_factor = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.5, 0.3, 0.4]])
    data = rng.standard_normal((400, 3)) @ true_factor.T  # (samples, 3)
    sample_cov = data.T @ data / len(data)
    raw = Tensor(np.eye(3), requires_grad=True)
    opt = optim.Adam([raw], lr=0.05)

    def negative_log_likelihood():
        sigma = F.matmul(raw, raw.mT) + 0.01 * np.eye(3)
        factor = LA.cholesky(sigma)  # sigma = L L^T
        whitened = LA.solve(factor, Tensor(data.T))  # L^-1 x for every sample, (3, samples)
        log_det = LA.slogdet(sigma).logabsdet
        # the same log-determinant from the factor: 2 * sum(log diag L)
        np.testing.assert_allclose(log_det.data, 2 * np.log(np.diag(factor.data)).sum())
        return 0.5 * (log_det + (whitened * whitened).sum() / len(data)), sigma

    losses = []
    for _ in range(400):
        loss, sigma = negative_log_likelihood()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 1.0
    assert abs(losses[-1] - 0.5 * (np.linalg.slogdet(sample_cov)[1] + 3)) < 1e-6
    np.testing.assert_allclose(sigma.data, sample_cov, atol=1e-4)


def test_least_squares_through_solve_matches_lstsq():
    """Weights from the normal equations (X^T X + lam I) w = X^T y are differentiable in lam:
    tuning lam by validation error with Adam must lower that error."""
    rng = np.random.default_rng(1)
    x_train, x_valid = rng.standard_normal((30, 8)), rng.standard_normal((100, 8))
    w_true = rng.standard_normal(8)
    y_train = x_train @ w_true + 1.5 * rng.standard_normal(30)
    y_valid = x_valid @ w_true
    log_lam = Tensor(np.array(-4.0), requires_grad=True)
    opt = optim.Adam([log_lam], lr=0.2)
    gram, moment = Tensor(x_train.T @ x_train), Tensor(x_train.T @ y_train)
    errors = []
    for _ in range(60):
        weights = LA.solve(gram + F.exp(log_lam) * np.eye(8), moment)
        error = ((F.mv(Tensor(x_valid), weights) - y_valid) ** 2).mean()
        opt.zero_grad()
        error.backward()
        opt.step()
        errors.append(error.item())
    assert errors[-1] < 0.95 * errors[0]  # 1.15 -> 1.03
    assert log_lam.item() > 0  # from lam = e^-4 to about e^0.5: the noise asks for shrinkage
    unregularised = LA.solve(gram, moment).data
    np.testing.assert_allclose(unregularised, np.linalg.lstsq(x_train, y_train, rcond=None)[0],
                               rtol=1e-10)
