"""The per-sample reparameterised gradients torch's Gamma and Dirichlet draws use
(``torch._standard_gamma_grad``, ``torch._dirichlet_grad``): approximations of
-(dF/dalpha) / (dF/dx) for the CDF F at the draw x, so that a gradient through ``rsample``
is torch's value, not only an estimate of the same expectation.

- gamma: a Taylor series for x < 0.8, Rice's saddle-point expansion for alpha > 8, else a
  bivariate rational fit in (log(x / alpha), log(alpha)) (Knowles 2015);
- dirichlet: each coordinate as a Beta(alpha, total - alpha) draw (Jankowiak & Obermeyer
  2018), the gradient scaled by 1 / (1 - x): series near x = 0 and x = 1, the saddle point
  where both parameters exceed 6, else a rational correction of an analytic approximation.

Everything is computed in float64 (torch's CPU accumulator type) except the two series near
the ends, which torch runs in the draw's own dtype.
"""

from __future__ import annotations

import numpy as np

from dlpy.ops.special import digamma_array

# the rational fit of the gamma gradient: rows are 1, u, u^2 (u = log(x / alpha)); in each,
# four numerator then four denominator coefficients of a cubic in v = log(alpha)
_GAMMA_FIT = np.array([
    [0.16009398, -0.094634809, 0.025146376, -0.0030648343,
     1, 0.32668115, 0.10406089, 0.0014179084],
    [0.53487893, 0.1298071, 0.065735949, -0.0015649758,
     0.16639465, 0.020070113, -0.0035938915, -0.00058392623],
    [0.040121004, -0.0065914022, -0.0026286047, -0.0013441777,
     0.017050642, -0.0021309326, 0.00085092367, -1.5247877e-07],
])

# the rational correction of the dirichlet gradient: [numerator / denominator][power of
# u = log x][power of a = log(alpha) - u][cubic coefficients in b = log(total) - a]
_DIRICHLET_FIT = np.array([
    [[[1.003668233, -0.01061107488, -0.0657888334, 0.01201642863],
      [0.6336835991, -0.3557432599, 0.05486251648, -0.001465281033],
      [-0.03276231906, 0.004474107445, 0.002429354597, -0.0001557569013]],
     [[0.221950385, -0.3187676331, 0.01799915743, 0.01074823814],
      [-0.2951249643, 0.06219954479, 0.01535556598, 0.001550077057],
      [0.02155310298, 0.004170831599, 0.001292462449, 6.976601077e-05]],
     [[-0.05980841433, 0.008441916499, 0.01085618172, 0.002319392565],
      [0.02911413504, 0.01400243777, -0.002721828457, 0.000751041181],
      [0.005900514878, -0.001936558688, -9.495446725e-06, 5.385558597e-05]]],
    [[[1, -0.02924021934, -0.04438342661, 0.007285809825],
      [0.6357567472, -0.3473456711, 0.05454656494, -0.002407477521],
      [-0.03301322327, 0.004845219414, 0.00231480583, -0.0002307248149]],
     [[0.5925320577, -0.1757678135, 0.01505928619, 0.000564515273],
      [0.1014815858, -0.06589186703, 0.01272886114, -0.0007316646956],
      [-0.007258481865, 0.001096195486, 0.0003934994223, -4.12701925e-05]],
     [[0.06469649321, -0.0236701437, 0.002902096474, -5.896963079e-05],
      [0.001925008108, -0.002869809258, 0.0008000589141, -6.063713228e-05],
      [-0.0003477407336, 6.959756487e-05, 1.097287507e-05, -1.650964693e-06]]],
])


def _cubic(coefficients, t):
    c0, c1, c2, c3 = coefficients
    return c0 + t * (c1 + t * (c2 + t * c3))


def standard_gamma_grad(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx/dalpha for x ~ Gamma(alpha, 1), as torch's _standard_gamma_grad, in alpha's dtype."""
    dtype = np.result_type(alpha, x)
    a = np.asarray(alpha, np.float64)
    x = np.asarray(x, np.float64)
    a, x = np.broadcast_arrays(a, x)
    with np.errstate(all="ignore"):
        # small x: the CDF x^a sum_k (-x)^k / (k! (a + k)) and its a-derivative, 6 terms
        term, denom = np.ones_like(x), a.copy()
        series1, series2 = term / denom, term / (denom * denom)
        for i in range(1, 6):
            term = term * -x / i
            denom = denom + 1
            series1 = series1 + term / denom
            series2 = series2 + term / (denom * denom)
        pow_x_a = x**a
        cdf_a = (np.log(x) - digamma_array(a)) * pow_x_a * series1 - pow_x_a * series2
        small = -cdf_a / (x ** (a - 1) * np.exp(-x))
        small = np.where(np.isnan(small), 0.0, small)

        # large alpha: the saddle point; near the mode a polynomial avoids its singularity
        near = (0.9 * a <= x) & (x <= 1.1 * a)
        near_value = ((1 + 24 * a * (1 + 12 * a))
                      * (1440 * a * a + 6 * x * (53 - 120 * x) - 65 * x * x / a
                         + a * (107 + 3600 * x))
                      / (1244160 * a**4))
        root = np.sqrt(8 * a)
        term2 = root / (a - x)
        term3 = (x - a - a * np.log(x / a)) ** -1.5
        term23 = np.where(x < a, term2 - term3, term2 + term3)
        term1 = np.log(x / a) * term23 - np.sqrt(2 / a) * (a + x) / ((a - x) * (a - x))
        stirling = 1 + 1 / (12 * a) * (1 + 1 / (24 * a))
        large = np.where(near, near_value, -stirling * x * term1 / root)

        # otherwise: the rational fit
        u, v = np.log(x / a), np.log(a)
        coef = [_GAMMA_FIT[0, i] + u * (_GAMMA_FIT[1, i] + u * _GAMMA_FIT[2, i]) for i in range(8)]
        fit = np.exp(_cubic(coef[:4], v) / _cubic(coef[4:], v))
    grad = np.where(x < 0.8, small, np.where(a > 8.0, large, fit))
    return grad.astype(dtype)


def _beta_grad_alpha_small(x, alpha, beta, dtype):
    """d/dalpha of a Beta(alpha, beta) draw near 0 (Taylor series, in the draw's dtype)."""
    x, alpha, beta = (np.asarray(t, dtype) for t in (x, alpha, beta))
    one = dtype.type(1)
    factor = (digamma_array(alpha).astype(dtype) - digamma_array(alpha + beta).astype(dtype)
              - np.log(x))
    numer = np.ones_like(x)
    series = numer / alpha * (factor + one / alpha)
    for i in range(1, 11):
        i = dtype.type(i)
        numer = numer * ((i - beta) * x / i)
        denom = alpha + i
        series = series + numer / denom * (factor + one / denom)
    result = x * (one - x) ** -beta * series
    return np.where(np.isnan(result), dtype.type(0), result)


def _beta_grad_beta_small(x, alpha, beta, dtype):
    """d/dbeta of a Beta(alpha, beta) draw near 0 (Taylor series, in the draw's dtype)."""
    x, alpha, beta = (np.asarray(t, dtype) for t in (x, alpha, beta))
    one = dtype.type(1)
    factor = digamma_array(alpha + beta).astype(dtype) - digamma_array(beta).astype(dtype)
    numer, betas, dbetas = np.ones_like(x), np.ones_like(x), np.zeros_like(x)
    series = factor / alpha
    for i in range(1, 9):
        i = dtype.type(i)
        numer = numer * (-x / i)
        dbetas = dbetas * (beta - i) + betas
        betas = betas * (beta - i)
        series = series + numer / (alpha + i) * (dbetas + factor * betas)
    result = -((one - x) ** (one - beta)) * series
    return np.where(np.isnan(result), dtype.type(0), result)


def _beta_grad_alpha_mid(x, alpha, beta):
    """d/dalpha of a Beta(alpha, beta) draw for large alpha and beta (saddle point, float64)."""
    total = alpha + beta
    mean = alpha / total
    std = np.sqrt(alpha * beta / (total + 1)) / total
    near = (mean - 0.1 * std <= x) & (x <= mean + 0.1 * std)
    # at the mean the expansion is singular: a polynomial there
    poly = 47 * x * beta**4 + alpha * (
        (43 + 20 * (16 + 27 * beta) * x) * beta**3 + alpha * (
            3 * (59 + 180 * beta - 90 * x) * beta**2 + alpha * (
                (453 + 1620 * beta * (1 - x) - 455 * x) * beta + alpha * (
                    8 * (1 - x) * (135 * beta - 11)))))
    prefactor_num = (1 + 12 * alpha) * (1 + 12 * beta) / (total * total)
    prefactor_den = 12960 * alpha**3 * beta**2 * (1 + 12 * total)
    near_value = prefactor_num / (1 - x) * poly / prefactor_den

    prefactor = -x / np.sqrt(2 * alpha * beta / total)
    stirling = ((1 + 1 / (12 * alpha) + 1 / (288 * alpha * alpha))
                * (1 + 1 / (12 * beta) + 1 / (288 * beta * beta))
                / (1 + 1 / (12 * total) + 1 / (288 * total * total)))
    axbx = alpha * (x - 1) + beta * x
    term1 = ((2 * alpha * alpha * (x - 1) + alpha * beta * (x - 1) - x * beta * beta)
             / (np.sqrt(2 * alpha / beta) * total**1.5 * axbx * axbx))
    term2 = 0.5 * np.log(alpha / (total * x))
    term3 = np.sqrt(8 * alpha * beta / total) / axbx
    term4 = (beta * np.log(beta / (total * (1 - x))) + alpha * np.log(alpha / (total * x))) ** -1.5
    far_value = stirling * prefactor * (term1 + term2 * (term3 + np.where(x < mean, term4, -term4)))
    return np.where(near, near_value, far_value)


def dirichlet_grad(x: np.ndarray, alpha: np.ndarray, total: np.ndarray) -> np.ndarray:
    """torch's _dirichlet_grad: -(dF/dalpha) / (dF/dx) / (1 - x) for x the alpha-coordinate of
    a Dirichlet draw with concentrations summing to total, in x's dtype."""
    dtype = np.result_type(x, alpha, total)
    x, alpha, total = np.broadcast_arrays(*(np.asarray(t, dtype) for t in (x, alpha, total)))
    beta = total - alpha
    boundary = total * x * (1 - x)
    x64, a64, t64 = (t.astype(np.float64) for t in (x, alpha, total))
    b64 = t64 - a64
    with np.errstate(all="ignore"):
        near_zero = _beta_grad_alpha_small(x, alpha, beta, dtype)
        near_one = -_beta_grad_beta_small(1 - x, beta, alpha, dtype)
        mid = _beta_grad_alpha_mid(x64, a64, b64)
        u = np.log(x64)
        a = np.log(a64) - u
        b = np.log(t64) - a
        p = q = 0.0
        for i in range(3):
            for j in range(3):
                ua = u**i * a**j
                p = p + ua * _cubic(_DIRICHLET_FIT[0, i, j], b)
                q = q + ua * _cubic(_DIRICHLET_FIT[1, i, j], b)
        approx = x64 * (digamma_array(t64) - digamma_array(a64)) / b64
        fit = p / q * approx
    grad = np.where((x <= 0.5) & (boundary < 2.5), near_zero,
                    np.where((x >= 0.5) & (boundary < 0.75), near_one,
                             np.where((alpha > 6) & (beta > 6), mid, fit)))
    return grad.astype(dtype)
