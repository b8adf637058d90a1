"""What the sampling tests share: seeded draws of N samples, and their moments within Z standard
errors of the distribution's own."""

import numpy as np

from dlpy import Tensor

N = 100_000
Z = 5.0  # standard errors allowed (seeded, so a pass is deterministic)


def f64(*values) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64))


def draw(d, seed: int) -> np.ndarray:
    """N float64 samples of d from a generator seeded with ``seed``, checked for shape."""
    x = d.sample((N,), generator=np.random.default_rng(seed)).data
    assert x.shape == (N,) + d.batch_shape + d.event_shape
    assert x.dtype == np.float64
    return x


def check_mean_and_variance(x: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> None:
    """The samples' mean and variance within Z standard errors of ``mean`` and ``variance``."""
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), Z * np.sqrt(variance / N) + 1e-12)
    squares = (x - mean) ** 2
    se = squares.std(0) / np.sqrt(N)
    np.testing.assert_array_less(np.abs(squares.mean(0) - variance), Z * se + 1e-12)
