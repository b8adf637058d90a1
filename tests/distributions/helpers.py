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


# ----------------------------------------------------------------- records of a fixture
def methods(record: dict) -> list[str]:
    """The methods a fixture record holds torch's values of (each has a "<method>:w")."""
    return sorted({k.split(":")[0] for k in record if k.endswith(":w")})


def params_and_grads(record: dict, method: str) -> tuple[dict[str, Tensor], set[str]]:
    """The record's "param_<name>" as Tensors, and the names torch differentiated ``method``
    by ("<method>:grad_<name>"; "value" among them where the value was); those require grad."""
    prefix = f"{method}:grad_"
    grads = {k[len(prefix):] for k in record if k.startswith(prefix)}
    params = {k[len("param_"):]: Tensor(v, requires_grad=k[len("param_"):] in grads)
              for k, v in record.items() if k.startswith("param_")}
    return params, grads


def check_method(out: Tensor, record: dict, method: str, tensors: dict[str, Tensor],
                 grad_rtol: float) -> None:
    """out against torch's record[method] (NaN and +inf where torch's, the finite values to
    1e-10), then the gradients of sum(w * out) of ``tensors`` against torch's."""
    from dlpy import functional as F

    expected = record[method]
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(out.data), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out.data), np.isposinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out.data[finite], expected[finite], rtol=1e-10, atol=1e-12)
    if not out.requires_grad:
        return
    (F.where(finite, out, 0.0) * record[f"{method}:w"]).sum().backward()
    for name, tensor in sorted(tensors.items()):
        grad = tensor.grad if tensor.grad is not None else np.zeros(tensor.shape)
        np.testing.assert_allclose(grad, record[f"{method}:grad_{name}"], rtol=grad_rtol,
                                   atol=1e-9, err_msg=f"gradient of {name}")
