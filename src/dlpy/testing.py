"""Gradient checking: compare backward() with central differences, for dlpy's ops and your own.

    from dlpy.testing import gradcheck
    x = dlpy.Tensor(np.random.randn(3, 4), requires_grad=True)   # float64
    gradcheck(lambda x: F.softmax(x, axis=-1), x)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlpy.sparse_grad import dense
from dlpy.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """backward() and the finite differences disagree (an AssertionError, so tests report it)."""


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``fn(*inputs)`` for every input Tensor with ``requires_grad=True``.

    The scalar differentiated is ``sum(fn(*inputs) * w)`` with ``w`` a fixed random array, so every
    output element counts (a plain sum would hide a softmax's gradient, which sums to zero).
    The analytic gradient (``backward``) must match the central difference
    ``(f(x + eps) - f(x - eps)) / (2 eps)`` within ``atol + rtol * |numeric|`` everywhere.
    Inputs must be float64. ``fn`` must be deterministic (give dropout a seeded generator).
    Returns True, or raises GradcheckError naming the input, the largest error and where it is.
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    for i, t in checked:
        if t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: {_name(i, t)} is {t.dtype}; central differences need float64"
            )

    saved_grads = [t.grad for _, t in checked]
    try:
        for _, t in checked:
            t.grad = None
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
        weights = np.random.default_rng(seed).standard_normal(out.shape)
        if out.requires_grad:
            out.backward(weights)
        analytic = [dense(t.grad) if t.grad is not None else np.zeros(t.shape)
                    for _, t in checked]
    finally:
        for (_, t), grad in zip(checked, saved_grads):
            t.grad = grad

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * weights))

    for (i, t), grad in zip(checked, analytic):
        numeric = _central_differences(objective, t, eps)
        error = np.abs(grad - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            where = np.unravel_index(int(np.argmax(np.where(bad, error, -1.0))), t.shape)
            where = tuple(int(w) for w in where)
            raise GradcheckError(
                f"gradcheck: the gradient of {_name(i, t)} (shape {t.shape}) is wrong at "
                f"{int(bad.sum())} of {t.data.size} positions; largest error {error[where]:.3g} at "
                f"index {where}: backward gave {grad[where]:.10g}, finite differences "
                f"{numeric[where]:.10g} (atol={atol}, rtol={rtol})"
            )
    return True


def _central_differences(objective: Callable[[], float], t: Tensor, eps: float) -> np.ndarray:
    original = t.data
    t.data = original.copy()  # perturb a private copy: the caller's array is never touched
    flat = t.data.reshape(-1)  # a view of t.data
    numeric = np.empty(t.data.size)
    try:
        for k in range(t.data.size):
            value = flat[k]
            flat[k] = value + eps
            plus = objective()
            flat[k] = value - eps
            minus = objective()
            flat[k] = value
            numeric[k] = (plus - minus) / (2 * eps)
    finally:
        t.data = original
    return numeric.reshape(t.shape)


def _name(i: int, t: Tensor) -> str:
    return f"input {i} ({t.name})" if t.name else f"input {i}"
