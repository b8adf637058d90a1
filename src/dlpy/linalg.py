"""``dlpy.linalg``: torch.linalg's functions under its names, batched over leading axes.

    import dlpy.linalg as LA
    x = LA.solve(A, b)                     # A (..., n, n), b (..., n) or (..., n, k)
    sign, logabsdet = LA.slogdet(A)
    L = LA.cholesky(A)

The factorisations, inverses and solves are ops (``dlpy.ops.linalg``: numpy.linalg forward, or
substitution for ``solve_triangular``; PyTorch's gradient formulas); the norms, ``matrix_power``,
``vecdot`` and ``multi_dot`` are composites here. A singular matrix for ``inv``/``solve``/
``solve_triangular`` (and a matrix that is not positive-definite for ``cholesky``) raises
``LinAlgError``, a ValueError naming the op.
"""

from __future__ import annotations

import numpy as np

from dlpy.ops import check_dim
from dlpy.ops.arithmetic import abs as _abs
from dlpy.ops.arithmetic import mul
from dlpy.ops.linalg import (
    EighResult,
    LinAlgError,
    QRResult,
    SlogdetResult,
    SVDResult,
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
)
from dlpy.ops.linalg import diagonal as _diagonal
from dlpy.ops.mask import where
from dlpy.ops.matmul import matmul
from dlpy.ops.reduce import amax, amin
from dlpy.ops.reduce import norm as _vector_norm
from dlpy.ops.reduce import sum as _sum
from dlpy.ops.shape import permute, reshape
from dlpy.tensor import Tensor

__all__ = [
    "EighResult", "LinAlgError", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "det",
    "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm", "matrix_power",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals",
    "vecdot", "vector_norm",
]


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: N803
    """torch.linalg.diagonal: ``F.diagonal`` with the last two axes as the default matrices."""
    return _diagonal(A, offset, dim1, dim2)


def matrix_power(A: Tensor, n: int) -> Tensor:  # noqa: N803 - PyTorch's names
    """torch.linalg.matrix_power: A^n for an int n by repeated squaring (matmuls); n = 0 gives
    the identity (gradient 0), n < 0 the power of inv(A)."""
    shape = _shape_of(A)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"matrix_power: expected square matrices (..., n, n), got shape {shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power: n must be an int, got {n!r}")
    if n == 0:  # the identity, joined to A by a where that sends it no gradient
        eye = np.broadcast_to(np.eye(shape[-1]), shape)
        return where(np.zeros(shape, dtype=bool), A, eye)
    base = inv(A) if n < 0 else A
    result = None
    n = abs(int(n))
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """torch.linalg.vector_norm: ``F.norm`` (ord > 0 or inf; dim None flattens)."""
    return _vector_norm(x, ord, axis=dim, keepdims=keepdim)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False) -> Tensor:  # noqa: N803, A002
    """torch.linalg.matrix_norm over the matrices on axes dim (rows, columns): 'fro'
    (sqrt of the sum of squares), 'nuc' (sum of singular values), 2 / -2 (largest / smallest
    singular value), 1 / -1 (largest / smallest column sum of |A|), inf / -inf (rows)."""
    shape = _shape_of(A)
    if len(shape) < 2:
        raise ValueError(f"matrix_norm: expected at least 2 axes, got shape {shape}")
    if isinstance(ord, str):
        known = ord in ("fro", "nuc")
    else:
        known = (not isinstance(ord, bool) and isinstance(ord, (int, float, np.integer,
                                                                 np.floating))
                 and float(ord) in (1, -1, 2, -2, float("inf"), float("-inf")))
    if not known:
        raise ValueError(f"matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, "
                         f"-inf, got {ord!r}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"matrix_norm: dim must be two axes, got {dim!r}")
    rows, cols = (check_dim("matrix_norm", d, len(shape)) for d in dim)
    if rows == cols:
        raise ValueError(f"matrix_norm: dim must name two different axes, got {tuple(dim)}")
    if ord == "fro":
        return _vector_norm(A, 2, axis=(rows, cols), keepdims=keepdim)
    if ord in (1, -1, float("inf"), float("-inf")):
        inner, outer = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = _sum(_abs(A), axis=inner, keepdims=True)
        extreme = (amax if ord > 0 else amin)(sums, axis=outer, keepdims=True)
    else:  # the singular values of the (rows, cols) matrices, moved to the last two axes
        others = [d for d in range(len(shape)) if d not in (rows, cols)]
        values = svdvals(permute(A, others + [rows, cols]))
        if ord == "nuc":
            reduced = _sum(values, axis=-1)
        else:
            reduced = (amax if ord == 2 else amin)(values, axis=-1)
        kept = [1 if d in (rows, cols) else n for d, n in enumerate(shape)]
        extreme = reshape(reduced, kept)
    if keepdim:
        return extreme
    return reshape(extreme, [n for d, n in enumerate(shape) if d not in (rows, cols)])


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False) -> Tensor:  # noqa: N803, A002
    """torch.linalg.norm: a vector norm for an int dim (or 1-D input with ord and no dim), a
    matrix norm for two dims (or 2-D input with ord and no dim); with ord and dim both None,
    the 2-norm of the flattened input."""
    shape = _shape_of(A)
    if dim is not None:
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise ValueError(f"norm: ord {ord!r} is a matrix norm; it needs two dims")
            return vector_norm(A, 2 if ord is None else ord, dims[0], keepdim)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim)
        raise ValueError(f"norm: dim must be one or two axes, got {dim!r}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim)
    if len(shape) == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim)
    if len(shape) == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim)
    raise ValueError(f"norm: with ord {ord!r} and no dim the input must be 1-D (a vector norm) "
                     f"or 2-D (a matrix norm), got shape {shape}")


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """torch.linalg.vecdot: sum(x * y) along dim, x and y broadcast."""
    return _sum(mul(x, y), axis=dim)


def multi_dot(tensors) -> Tensor:
    """torch.linalg.multi_dot: the product of matrices, the first and last may be 1-D; the
    order of products is the cheapest (an einsum, whose path numpy chooses)."""
    from dlpy.ops.einsum import einsum

    tensors = list(tensors)
    if len(tensors) < 2:
        raise ValueError(f"multi_dot: expected at least 2 tensors, got {len(tensors)}")
    shapes = [_shape_of(t) for t in tensors]
    for i, s in enumerate(shapes):
        allowed = (1, 2) if i in (0, len(shapes) - 1) else (2,)
        if len(s) not in allowed:
            raise ValueError(f"multi_dot: tensor {i} must be "
                             f"{' or '.join(f'{a}-D' for a in allowed)}, got shape {s}")
    if len(tensors) > 50:
        raise ValueError("multi_dot: at most 50 tensors (einsum's subscripts)")
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    terms = [letters[i] + letters[i + 1] for i in range(len(tensors))]
    if len(shapes[0]) == 1:
        terms[0] = terms[0][1]
    if len(shapes[-1]) == 1:
        terms[-1] = terms[-1][0]
    for i in range(len(shapes) - 1):
        left, right = shapes[i][-1], shapes[i + 1][0]
        if left != right:
            raise ValueError(f"multi_dot: tensors {i} {shapes[i]} and {i + 1} {shapes[i + 1]} "
                             f"cannot be multiplied")
    output = (terms[0][0] if len(terms[0]) == 2 else "") + \
             (terms[-1][-1] if len(terms[-1]) == 2 else "")
    return einsum(",".join(terms) + "->" + output, *tensors)
