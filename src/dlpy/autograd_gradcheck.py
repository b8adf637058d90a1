"""torch.autograd.gradcheck as a module (``from torch.autograd.gradcheck import
GradcheckError``): gradcheck, gradgradcheck and GradcheckError, and torch's deprecated
get_numerical_jacobian / get_analytical_jacobian (whole Jacobians, one row per input
element). Registered as dlpy.autograd.gradcheck in sys.modules while the attribute
dlpy.autograd.gradcheck stays the function, as torch's."""

from __future__ import annotations

import warnings

import numpy as np

from dlpy.autograd import grad, gradcheck, gradgradcheck
from dlpy.tensor import Tensor, no_grad
from dlpy.testing import GradcheckError

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "get_numerical_jacobian",
           "get_analytical_jacobian"]


def _deprecated(name: str) -> None:
    warnings.warn(f"`{name}` was part of PyTorch's private API and not meant to be exposed. "
                  "We are deprecating it and it will be removed in a future version of "
                  "PyTorch. If you have a specific use for this or feature request for this to "
                  "be a stable API, please file us an issue at "
                  "https://github.com/pytorch/pytorch/issues/new", FutureWarning, stacklevel=3)


def _grad_out_one(name: str, grad_out) -> None:
    if grad_out != 1.0:
        raise ValueError(f"Expected grad_out to be 1.0. {name} no longer supports values of "
                         "grad_out != 1.0.")


def _differentiable(tensors) -> list:
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    return [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]


def get_numerical_jacobian(fn, inputs, target=None, eps: float = 1e-3,
                           grad_out: float = 1.0) -> tuple:
    """Deprecated (as torch's): the central-difference Jacobians of ``fn(inputs)``'s first
    output (fn takes the inputs as one tuple) with respect to each input (or target) that
    requires grad, each of shape (input numel, output numel)."""
    _deprecated("get_numerical_jacobian")
    _grad_out_one("get_numerical_jacobian", grad_out)
    targets = _differentiable(inputs if target is None else target)

    def first_output() -> np.ndarray:
        with no_grad():
            out = fn(inputs)
        out = out if isinstance(out, Tensor) else out[0]
        return np.array(out.data, dtype=out.dtype).reshape(-1)

    jacobians = []
    for t in targets:
        original = t.data
        t.data = original.copy()
        flat = t.data.reshape(-1)
        rows = []
        try:
            for k in range(flat.size):
                value = flat[k]
                flat[k] = value + eps
                plus = first_output()
                flat[k] = value - eps
                minus = first_output()
                flat[k] = value
                rows.append((plus - minus) / (2 * eps))
        finally:
            t.data = original
        jacobians.append(Tensor(np.array(rows, dtype=t.dtype).reshape(flat.size, -1)))
    return tuple(jacobians)


def get_analytical_jacobian(inputs, output, nondet_tol: float = 0.0,
                            grad_out: float = 1.0) -> tuple:
    """Deprecated (as torch's): (jacobians, reentrant, sizes_ok, types_ok): backward's
    Jacobian of ``output`` with respect to each input that requires grad (shape (input numel,
    output numel)), computed twice; reentrant: both runs agree within nondet_tol."""
    _deprecated("get_analytical_jacobian")
    _grad_out_one("get_analytical_jacobian", grad_out)
    if output.dtype.kind == "c":
        raise ValueError("Expected output to be non-complex. get_analytical_jacobian no longer "
                         "supports functions that return complex outputs.")
    differentiable = _differentiable(inputs)

    def jacobians() -> list[np.ndarray]:
        columns = [np.zeros((t.data.size, output.data.size), dtype=t.dtype)
                   for t in differentiable]
        for j in range(output.data.size):
            one_hot = np.zeros(output.data.size, dtype=output.dtype)
            one_hot[j] = 1
            grads = grad(output, differentiable, Tensor(one_hot.reshape(output.shape)),
                         retain_graph=True, allow_unused=True)
            for column, g in zip(columns, grads):
                if g is not None:
                    column[:, j] = np.asarray(g.data).reshape(-1)
        return columns

    first, second = jacobians(), jacobians()
    reentrant = all(a.size == 0 or np.max(np.abs(a - b)) <= nondet_tol
                    for a, b in zip(first, second))
    return tuple(Tensor(j) for j in first), reentrant, True, True
