"""torch.lobpcg: the k largest (or smallest) eigenpairs of a symmetric A (..., m, m), or of the
generalised problem A x = lambda B x with B symmetric positive-definite, by Knyazev's locally
optimal block preconditioned conjugate gradient (LOBPCG), the "ortho" variant as torch's: each
step's search directions [W, P] are B-orthonormalised against X and among themselves before
the Rayleigh-Ritz step, so the small projected problems stay well conditioned.

Forward is numpy (matrix products and small eigh); the gradient is torch's (B = I only, as
torch): the k eigenpairs' part of the symmetric-eigenproblem formula plus, for the
eigenvectors, the solution of the Sylvester equation on the orthogonal complement of their span
(torch's _symeig_backward_partial_eigenspace, solved here directly), symmetrised.
"""

from __future__ import annotations

import numpy as np

from dlpy.ops.linalg import _pack, _split, _unpack
from dlpy.tensor import Op, Tensor


def _b_orthonormal(v: np.ndarray, b: np.ndarray | None, drop: float) -> np.ndarray:
    """An orthonormal basis (columns, in the B inner product) of v's span, directions whose
    share is below ``drop`` of the largest left out (nearly dependent columns)."""
    bv = v if b is None else b @ v
    gram = v.T @ bv
    gram = 0.5 * (gram + gram.T)
    values, vectors = np.linalg.eigh(gram)
    keep = values > drop * max(values[-1], 0.0)
    if not keep.any():
        return v[:, :0]
    return v @ (vectors[:, keep] / np.sqrt(values[keep]))


def _project_out(v: np.ndarray, x: np.ndarray, bx: np.ndarray) -> np.ndarray:
    """v less its B-projection onto the B-orthonormal columns of x (twice, for rounding)."""
    for _ in range(2):
        v = v - x @ (bx.T @ v)
    return v


def lobpcg_numpy(a: np.ndarray, b: np.ndarray | None, x: np.ndarray, k: int,
                 preconditioner: np.ndarray | None, niter: int, tol: float,
                 largest: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(E (k,), X (m, k), iterations) for one matrix a (m, m) from the start block x (m, n):
    E descending for ``largest``, else ascending; converged when every one of the first k
    residuals |A x - E B x| is below tol (|A| + |E| |B|) |x| (torch's relative error),
    Frobenius norms standing in for the 2-norms."""
    eps = float(np.finfo(a.dtype).eps)
    drop = eps * x.shape[0] * 10
    a_norm = np.linalg.norm(a)
    b_norm = 1.0 if b is None else np.linalg.norm(b)
    n = x.shape[1]
    x = _b_orthonormal(x, b, drop)
    if x.shape[1] < n:
        raise ValueError(f"lobpcg: the columns of X must be independent, got rank "
                         f"{x.shape[1]} of {n}")
    pick = slice(None, None, -1) if largest else slice(None)
    values, vectors = np.linalg.eigh(x.T @ a @ x)
    values, x = values[pick][:n], x @ vectors[:, pick][:, :n]
    p = None
    iterations = 0
    while iterations < niter:
        ax = a @ x
        bx = x if b is None else b @ x
        residual = ax - bx * values
        error = np.linalg.norm(residual, axis=0) / (
            np.linalg.norm(x, axis=0) * (a_norm + np.abs(values) * b_norm))
        if (error[:k] < tol).all():
            break
        iterations += 1
        w = residual if preconditioner is None else preconditioner @ residual
        directions = w if p is None else np.concatenate([w, p], 1)
        directions = _b_orthonormal(_project_out(directions, x, bx), b, drop)
        basis = np.concatenate([x, directions], 1)
        projected = basis.T @ a @ basis
        values_all, vectors = np.linalg.eigh(0.5 * (projected + projected.T))
        chosen = vectors[:, pick][:, :n]
        values = values_all[pick][:n]
        p = directions @ chosen[n:]
        x = basis @ chosen
    return values[:k], x[:, :k], iterations


class LOBPCG(Op):
    """(E, X) packed, the k extreme eigenpairs of symmetric A (B and the settings kept on the
    op). With Q an orthonormal basis of span(X)'s complement, F_ij = 1 / (E_j - E_i) (0 on the
    diagonal) and y_i = (Q^T A Q - E_i)^-1 Q^T gX_i:
    dA = sym(X (diag(gE) + (X^T gX) o F) X^T - Q [y_1 ... y_k] X^T), sym(M) = (M + M^T) / 2."""

    def __init__(self, b, x, k: int, preconditioner, niter: int, tol: float, largest: bool):
        self.b, self.x, self.k, self.preconditioner = b, x, k, preconditioner
        self.niter, self.tol, self.largest = niter, tol, largest

    def forward(self, a):
        self.a = a
        batch, m = a.shape[:-2], a.shape[-1]
        flat = a.reshape((-1, m, m))
        count = flat.shape[0]

        def each(array, i):
            return None if array is None else np.broadcast_to(
                array, batch + array.shape[-2:]).reshape((count,) + array.shape[-2:])[i]

        parts = [lobpcg_numpy(flat[i], each(self.b, i), each(self.x, i), self.k,
                              each(self.preconditioner, i), self.niter, self.tol, self.largest)
                 for i in range(count)]
        self.values = np.stack([part[0] for part in parts]).reshape(batch + (self.k,))
        self.vectors = np.stack([part[1] for part in parts]).reshape(batch + (m, self.k))
        self.iterations = max((part[2] for part in parts), default=0)
        return _pack(self.values, self.vectors, batch=batch)

    def backward(self, grad_output):
        if self.b is not None:
            raise ValueError("lobpcg backward: no gradient with B != I (as torch)")
        m, k = self.vectors.shape[-2:]
        g_values, g_vectors = _unpack(grad_output, ((k,), (m, k)))
        u, values = self.vectors, self.values
        u_t = np.swapaxes(u, -1, -2)
        inner = g_values[..., :, None] * np.eye(k, dtype=u.dtype)
        if g_vectors.any():
            with np.errstate(divide="ignore"):
                reciprocal = 1.0 / (values[..., None, :] - values[..., :, None])
            reciprocal[..., np.arange(k), np.arange(k)] = 0
            inner = inner + (u_t @ g_vectors) * reciprocal
        grad = u @ inner @ u_t
        if g_vectors.any():  # the part in the complement of span(U): a Sylvester equation
            q = np.linalg.qr(u, mode="complete")[0][..., k:]  # (..., m, m - k)
            q_t = np.swapaxes(q, -1, -2)
            small = q_t @ self.a @ q
            shifted = small[..., None, :, :] - values[..., :, None, None] * np.eye(m - k)
            y = np.linalg.solve(shifted, np.swapaxes(q_t @ g_vectors, -1, -2)[..., None])
            grad = grad - q @ np.swapaxes(y[..., 0], -1, -2) @ u_t
        return (0.5 * (grad + np.swapaxes(grad, -1, -2)),)


def _square(name: str, what: str, value, shape) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be a floating point tensor, got {array.dtype}")
    if array.shape[-2:] != shape[-2:] or array.ndim < 2:
        raise ValueError(f"{name}: {what} must be (..., {shape[-1]}, {shape[-1]}) as A, got "
                         f"shape {array.shape}")
    return array


def _count(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: {what} must be a positive int, got {value!r}")
    return int(value)


def lobpcg(A: Tensor, k: int | None = None, B=None, X=None, n: int | None = None,  # noqa: N803
           iK=None, niter: int | None = None, tol: float | None = None,  # noqa: N803
           largest: bool | None = None, method: str | None = None, tracker=None,
           ortho_iparams=None, ortho_fparams=None, ortho_bparams=None, *, generator=None):
    """torch.lobpcg: (E, X), the k largest (``largest=False``: smallest) eigenvalues of
    symmetric A (..., m, m), or of A x = E B x with B symmetric positive-definite, and their
    B-orthonormal eigenvectors (..., m, k); E descending for largest, ascending otherwise.
    X (..., m, n) is the start block (default: n = k random columns from ``generator``, a numpy
    Generator, else dlpy's); iK a preconditioner (a matrix); niter the most iterations (default
    1000; -1: until converged), tol the relative residual (default sqrt(eps)). Only
    method='ortho' (torch's default); m must be at least 3 n, as torch. Gradients for A as
    torch's (eigenvalues and eigenvectors; none with a B, as torch)."""
    from dlpy.random import get_rng

    name = "lobpcg"
    a = np.asarray(A.data if isinstance(A, Tensor) else A)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: expected square matrices A (..., m, m), got shape {a.shape}")
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating point A, got {a.dtype}")
    if method not in (None, "ortho"):
        raise ValueError(f"{name}: method must be 'ortho' (torch's default; 'basic' is not in "
                         f"dlpy), got {method!r}")
    for what, value in (("tracker", tracker), ("ortho_iparams", ortho_iparams),
                        ("ortho_fparams", ortho_fparams), ("ortho_bparams", ortho_bparams)):
        if value is not None:
            raise ValueError(f"{name}: {what} is not supported in dlpy, got {value!r}")
    m = a.shape[-1]
    b = _square(name, "B", B, a.shape)
    preconditioner = _square(name, "iK", iK, a.shape)
    if X is not None:
        x = np.asarray(X.data if isinstance(X, Tensor) else X)
        if x.ndim < 2 or x.shape[-2] != m:
            raise ValueError(f"{name}: X must be (..., {m}, n), got shape {x.shape}")
        n = x.shape[-1]
        k = n if k is None else _count(name, "k", k)
    else:
        k = 1 if k is None else _count(name, "k", k)
        n = k if n is None else _count(name, "n", n)
        x = get_rng(generator).standard_normal(a.shape[:-2] + (m, n)).astype(a.dtype)
    if k > n:
        raise ValueError(f"{name}: k ({k}) must be at most n, the number of columns of X ({n})")
    if m < 3 * n:
        raise ValueError(f"{name}: LOBPCG needs m >= 3 n: A has {m} rows and X {n} columns")
    niter = 1000 if niter is None else niter
    if isinstance(niter, bool) or not isinstance(niter, (int, np.integer)) or niter < -1:
        raise ValueError(f"{name}: niter must be an int >= -1, got {niter!r}")
    niter = np.iinfo(np.int64).max if niter == -1 else int(niter)
    tol = float(np.finfo(a.dtype).eps) ** 0.5 if tol is None else tol
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or tol <= 0:
        raise ValueError(f"{name}: tol must be a positive number, got {tol!r}")
    largest = True if largest is None else largest
    if not isinstance(largest, (bool, np.bool_)):
        raise TypeError(f"{name}: largest must be True or False, got {largest!r}")
    op = LOBPCG(b, x.astype(a.dtype), k, preconditioner, niter, float(tol), bool(largest))
    values, vectors = _split(op(A if isinstance(A, Tensor) else Tensor(a)), [(k,), (m, k)])
    return values, vectors
