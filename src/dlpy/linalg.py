"""``dlpy.linalg``: torch.linalg's functions under its names, batched over leading axes.

    import dlpy.linalg as LA
    x = LA.solve(A, b)                     # A (..., n, n), b (..., n) or (..., n, k)
    sign, logabsdet = LA.slogdet(A)
    L = LA.cholesky(A)

The factorisations, inverses and solves are ops (``dlpy.ops.linalg``: numpy.linalg forward, or
substitution for ``solve_triangular``; PyTorch's gradient formulas); the norms, ``matrix_power``,
``vecdot`` and ``multi_dot`` are composites here. A singular matrix for ``inv``/``solve``/
``solve_triangular`` (and a matrix that is not positive-definite for ``cholesky``) raises
``LinAlgError``, a ValueError naming the op. Complex matrices are accepted by the functions
torch has complex gradients for (inv, det, slogdet, solve, cholesky, qr, svd, eigh, pinv, lstsq,
the LU family, matrix_exp, householder_product, the norms, ...; PyTorch's z.grad = dL/dx +
i dL/dy); the others (ldl_factor, geqrf, ormqr, ...) refuse them with a TypeError.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dlpy import meta as _meta
from dlpy.amp.state import FP32, LOWER, autocast_policy
from dlpy.node_names import named
from dlpy.ops import check_dim
from dlpy.ops.arithmetic import abs as _abs
from dlpy.ops.arithmetic import mul
from dlpy.ops.complex import conj, real
from dlpy.ops.indexing import _NoDerivative, _NoFormula
from dlpy.ops.linalg import (
    EighResult,
    LinAlgArgError,
    LinAlgArgTypeError,
    LinAlgDimError,
    LinAlgDtypeError,
    LinAlgError,
    QRResult,
    SlogdetResult,
    SVDResult,
    _check_right_side,
    _dtype_of,
    _is_vector_rhs,
    _matrices,
    _swap_h,
    cholesky,
    det,
    eigh,
    eigvalsh,
    finite_svd,
    inv,
    numpy_linalg,
    pinv,
    qr,
    same_dtype,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
)
from dlpy.ops.linalg import diagonal as _diagonal
from dlpy.ops.linalg_eig import EigResult, eig, eigvals
from dlpy.ops.linalg_lobpcg import lobpcg
from dlpy.ops.mask import where
from dlpy.ops.matmul import matmul
from dlpy.ops.reduce import _floating_or_complex, amax, amin, norm_input
from dlpy.ops.reduce import norm as _vector_norm
from dlpy.ops.reduce import sum as _sum
from dlpy.ops.shape import permute, reshape
from dlpy.return_types import structseq_repr
from dlpy.tensor import Op, Tensor

__all__ = [
    "EighResult", "LinAlgError", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "det",
    "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm", "matrix_power",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals",
    "vecdot", "vector_norm",
    # the rest of torch.linalg
    "CholeskyExResult", "InvExResult", "LDLFactorExResult", "LDLFactorResult", "LUFactorExResult",
    "LUFactorResult", "LUResult", "LstsqResult", "SolveExResult", "cholesky_ex", "cond", "cross",
    "householder_product", "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lstsq", "lu",
    "lu_factor", "lu_factor_ex", "lu_solve", "matrix_exp", "matrix_rank", "solve_ex",
    "tensorinv", "tensorsolve", "vander",
    # torch's top-level forms (torch.cholesky_solve, ...), re-exported as dlpy.<name>
    "GeqrfResult", "TriangularSolveResult", "cholesky_inverse", "cholesky_solve", "geqrf",
    "lu_unpack", "old_lu", "old_lu_solve", "orgqr", "ormqr", "pca_lowrank", "svd_lowrank",
    "triangular_solve",
    # general (non-symmetric) matrices: complex results
    "EigResult", "eig", "eigvals",
    # torch.lobpcg: a few extreme eigenpairs of a symmetric (generalised) problem
    "lobpcg",
]


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def _int_arg(name: str, what: str, value):
    """``value`` as a Python int: an int (not a bool) or a 0-d integer tensor, as torch's int
    arguments take (through __index__); anything else torch's TypeError."""
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype.kind in "iu":
        return int(value.item())
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise LinAlgArgTypeError(f"{name}(): argument '{what}' must be int, not "
                                 f"{type(value).__name__}")
    return int(value)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: N803
    """torch.linalg.diagonal: ``F.diagonal`` with the last two axes as the default matrices."""
    return _diagonal(A, offset, dim1, dim2)


def matrix_power(A: Tensor, n: int) -> Tensor:  # noqa: N803 - PyTorch's names
    """torch.linalg.matrix_power: A^n for an int n (or a 0-d integer tensor) by repeated
    squaring (matmuls); n = 0 gives the identity (gradient 0), n < 0 the power of inv(A)."""
    shape = _shape_of(A)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise LinAlgArgError(f"matrix_power: expected square matrices (..., n, n), got shape "
                             f"{shape}")
    n = _int_arg("linalg_matrix_power", "n", n)
    if n == 0:  # the identity, joined to A by a where that sends it no gradient (torch's
        # copy_ of the identity into a clone of A: its node CopyBackwards)
        from dlpy.node_names import named

        eye = np.broadcast_to(np.eye(shape[-1], dtype=_dtype_of(A)), shape)  # A's dtype, int too
        return named(where(np.zeros(shape, dtype=bool), A, eye), "torch::autograd::CopyBackwards")
    if n == 1:  # a copy, as torch's (never A itself)
        return A.clone() if isinstance(A, Tensor) else Tensor(np.array(A))
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


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *,  # noqa: A002
                dtype=None) -> Tensor:
    """torch.linalg.vector_norm: ``F.norm`` (ord a number or +-inf; dim None flattens; x cast
    first to ``dtype``, a float dtype no narrower than x's)."""
    if isinstance(ord, str):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    return _vector_norm(x, ord, axis=dim, keepdims=keepdim, dtype=dtype)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,  # noqa: N803, A002
                dtype=None) -> Tensor:
    """torch.linalg.matrix_norm over the matrices on axes dim (rows, columns): 'fro'
    (sqrt of the sum of squares), 'nuc' (sum of singular values), 2 / -2 (largest / smallest
    singular value), 1 / -1 (largest / smallest column sum of |A|), inf / -inf (rows). A is
    cast first to ``dtype`` (a float dtype no narrower than A's), as torch's."""
    A = norm_input("linalg.matrix_norm", A, dtype)  # noqa: N806
    shape = _shape_of(A)
    if len(shape) < 2:
        raise LinAlgArgError(f"matrix_norm: expected at least 2 axes, got shape {shape}")
    if isinstance(ord, str):
        known = ord in ("fro", "nuc")
    else:
        known = (not isinstance(ord, bool) and isinstance(ord, (int, float, np.integer,
                                                                 np.floating))
                 and float(ord) in (1, -1, 2, -2, float("inf"), float("-inf")))
    if not known:
        raise LinAlgArgError(f"matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, "
                             f"-inf, got {ord!r}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise LinAlgArgTypeError(f"matrix_norm: dim must be two axes, got {dim!r}")
    rows, cols = (check_dim("matrix_norm", d, len(shape)) for d in dim)
    if rows == cols:
        raise LinAlgArgError(f"matrix_norm: dim must name two different axes, got {tuple(dim)}")
    if ord == "fro":
        return _vector_norm(A, 2, axis=(rows, cols), keepdims=keepdim)
    if ord in (1, -1, float("inf"), float("-inf")):
        inner, outer = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = _sum(_abs(A), axis=inner, keepdims=True)
        if ord > 0 and shape[outer] == 0:  # the largest of no sums: 0, as torch's
            extreme = _sum(sums, axis=outer, keepdims=True)
        else:
            extreme = (amax if ord > 0 else amin)(sums, axis=outer, keepdims=True)
    else:  # the singular values of the (rows, cols) matrices, moved to the last two axes
        others = [d for d in range(len(shape)) if d not in (rows, cols)]
        values = svdvals(permute(A, others + [rows, cols]))
        if ord == "nuc":
            reduced = _sum(values, axis=-1)
            if not keepdim:  # already the other axes, in order: torch's one sum
                return reduced
        else:
            empty = ord == 2 and _shape_of(values)[-1] == 0  # no singular values: 0, as torch's
            reduced = _sum(values, axis=-1) if empty else (amax if ord == 2 else amin)(values,
                                                                                      axis=-1)
        kept = [1 if d in (rows, cols) else n for d, n in enumerate(shape)]
        extreme = reshape(reduced, kept)
    if keepdim:
        return extreme
    return reshape(extreme, [n for d, n in enumerate(shape) if d not in (rows, cols)])


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *,  # noqa: N803, A002
         dtype=None) -> Tensor:
    """torch.linalg.norm: a vector norm for an int dim (or 1-D input with ord and no dim), a
    matrix norm for two dims (or 2-D input with ord and no dim); with ord and dim both None,
    the 2-norm of the flattened input. ``dtype`` as theirs."""
    shape = _shape_of(A)
    if dim is not None:
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise LinAlgArgError(f"norm: ord {ord!r} is a matrix norm; it needs two dims")
            return vector_norm(A, 2 if ord is None else ord, dims[0], keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise LinAlgArgError(f"norm: dim must be one or two axes, got {dim!r}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if len(shape) == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    if len(shape) == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise LinAlgArgError(f"norm: with ord {ord!r} and no dim the input must be 1-D (a vector norm) "
                         f"or 2-D (a matrix norm), got shape {shape}")


@autocast_policy(LOWER)
def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """torch.linalg.vecdot: sum(conj(x) * y) along dim, x and y broadcast, floating point or
    complex of one dtype (as torch's)."""
    x_dtype, y_dtype = _dtype_of(x), _dtype_of(y)
    if not _floating_or_complex(x_dtype):
        raise LinAlgDtypeError(f"linalg.vecdot: expected a floating point or complex tensor as "
                               f"input, got {x_dtype}")
    if isinstance(x, Tensor) and isinstance(y, Tensor) and x_dtype != y_dtype:
        raise LinAlgDtypeError(f"linalg.vecdot: expected x and y to have the same dtype, got "
                               f"{x_dtype} and {y_dtype}")
    return _sum(mul(conj(x) if x_dtype.kind == "c" else x, y), axis=dim)


def multi_dot(tensors) -> Tensor:
    """torch.linalg.multi_dot: the product of matrices, the first and last may be 1-D (taken
    as a row and a column); mm's in torch's order, the cheapest by its dynamic program (each
    product rounded in a low-precision dtype, as torch's)."""
    from dlpy.ops.einsum import mm

    tensors = list(tensors)
    if len(tensors) < 2:
        raise LinAlgArgError(f"multi_dot: expected at least 2 tensors, got {len(tensors)}")
    for i in range(1, len(tensors)):
        same_dtype("multi_dot", "tensor 0", tensors[0], f"tensor {i}", tensors[i])
    shapes = [_shape_of(t) for t in tensors]
    for i, s in enumerate(shapes):
        allowed = (1, 2) if i in (0, len(shapes) - 1) else (2,)
        if len(s) not in allowed:
            raise LinAlgArgError(f"multi_dot: tensor {i} must be "
                                 f"{' or '.join(f'{a}-D' for a in allowed)}, got shape {s}")
    for i in range(len(shapes) - 1):
        left, right = shapes[i][-1], shapes[i + 1][0]
        if left != right:
            raise LinAlgArgError(f"multi_dot: tensors {i} {shapes[i]} and {i + 1} {shapes[i + 1]} "
                                 f"cannot be multiplied")
    row, column = len(shapes[0]) == 1, len(shapes[-1]) == 1
    if row:
        tensors[0], shapes[0] = reshape(tensors[0], (1, -1)), (1,) + tuple(shapes[0])
    if column:
        tensors[-1], shapes[-1] = reshape(tensors[-1], (-1, 1)), tuple(shapes[-1]) + (1,)
    sizes = [shapes[0][0]] + [s[1] for s in shapes]  # tensor i is (sizes[i], sizes[i + 1])
    split = _chain_order(sizes)

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return tensors[i]
        return mm(product(i, split[i][j]), product(split[i][j] + 1, j))

    result = product(0, len(tensors) - 1)
    if row or column:
        result = reshape(result, tuple(n for n, drop in ((sizes[0], row), (sizes[-1], column))
                                       if not drop))
    return named(result, "ViewBackward0")  # torch's last node: a view of its mm


def _chain_order(sizes: list[int]) -> list[list[int]]:
    """split[i][j]: where the cheapest product of matrices i..j splits, (i..k) @ (k+1..j), by
    torch's dynamic program (ties keep the leftmost split; three matrices: its cost formula,
    a tie multiplying left first)."""
    n = len(sizes) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    if n == 3:  # torch's closed form: (A B) C unless A (B C) is strictly cheaper
        a, b, c, d = sizes
        split[0][2] = 0 if (a * c) * (b + d) > (b * d) * (a + c) else 1
        split[0][1], split[1][2] = 0, 1
        return split
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                if cost[i][j] is None or q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


# ------------------------------------------------------------------ the rest of torch.linalg
# (factorisations with pivots, the _ex forms, least squares, the matrix exponential) and
# torch's top-level linear algebra beside it (cholesky_solve, lu_unpack, triangular_solve,
# geqrf / orgqr / ormqr, svd_lowrank, pca_lowrank): ops in dlpy/ops/linalg_more.py, the rest
# composites of dlpy ops (so their second derivatives come with them)
def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _constant(array: np.ndarray) -> Tensor:
    return Tensor(np.asarray(array))


def _check_errors(name: str, check_errors) -> bool:
    from dlpy.ops.linalg import _flag

    return _flag(name, "check_errors", check_errors)


# the names torch's errors give the *_ex ops (its _linalg_check_errors' api_name)
_TORCH_NAMES = {"inv_ex": "linalg.inv_ex", "solve_ex": "torch.linalg.solve_ex"}


def _failed_as_nan(result: Tensor, info: np.ndarray, core: int = 2) -> Tensor:
    """result (batch..., then ``core`` axes per matrix) with the matrices whose info > 0 made
    nan (no gradient reaches them); info's batch axes broadcast against result's."""
    failed = (info > 0).reshape(info.shape + (1,) * core)
    return where(np.broadcast_to(failed, result.shape), np.nan, result)


def _safe(A: Tensor, info: np.ndarray) -> Tensor:  # noqa: N803
    """A with the matrices whose info > 0 replaced by the identity (so the op succeeds)."""
    eye = np.eye(A.shape[-1], dtype=A.dtype)
    return where((info > 0)[..., None, None], eye, A)


def _lu_info(name: str, A: Tensor, check_errors) -> np.ndarray:  # noqa: N803
    """inv_ex's and solve_ex's info (...) int32: the first j (1-based) with U[j, j] == 0 in each
    matrix's LU factorisation, 0 for an invertible one; ``check_errors=True`` raises on one."""
    from dlpy.ops.linalg_more import lu_factor_numpy, raise_info

    _matrices(name, A, complex_ok=True)
    info = lu_factor_numpy(A.data)[2]
    if _check_errors(name, check_errors):
        raise_info(_TORCH_NAMES[name], info)
    return info


class CholeskyExResult(NamedTuple):
    """torch.return_types.linalg_cholesky_ex."""

    _torch_name = "linalg_cholesky_ex"  # torch.return_types.linalg_cholesky_ex
    __repr__ = structseq_repr

    L: Tensor
    info: Tensor


@autocast_policy(FP32)
def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False)\
        -> CholeskyExResult:  # noqa: N803
    """torch.linalg.cholesky_ex: (L, info), info (...) int32 the order of the first leading
    minor that is not positive-definite (0: factorised). A failed matrix's L is nan here (torch
    leaves LAPACK's partial factor); ``check_errors=True`` raises cholesky's LinAlgError."""
    from dlpy.ops.linalg_more import cholesky_info, raise_info

    A = _tensor(A)  # noqa: N806
    _matrices("cholesky_ex", A, complex_ok=True)
    info = cholesky_info(A.data.swapaxes(-1, -2) if upper else A.data)
    if _check_errors("cholesky_ex", check_errors):
        raise_info("linalg.cholesky_ex", info)
    if not info.any():
        return CholeskyExResult(cholesky(A, upper=upper), _constant(info))
    return CholeskyExResult(_failed_as_nan(cholesky(_safe(A, info), upper=upper), info),
                            _constant(info))


class InvExResult(NamedTuple):
    """torch.return_types.linalg_inv_ex."""

    _torch_name = "linalg_inv_ex"  # torch.return_types.linalg_inv_ex
    __repr__ = structseq_repr

    inverse: Tensor
    info: Tensor


@autocast_policy(FP32)
def inv_ex(A: Tensor, *, check_errors: bool = False) -> InvExResult:  # noqa: N803
    """torch.linalg.inv_ex: (inverse, info), info (...) int32 from an LU factorisation: the first
    j (1-based) with U[j, j] == 0, 0 for an invertible matrix. A singular matrix's inverse is nan
    here (torch: inf/nan); ``check_errors=True`` raises a LinAlgError."""
    A = _tensor(A)  # noqa: N806
    info = _lu_info("inv_ex", A, check_errors)
    if not info.any():
        return InvExResult(inv(A), _constant(info))
    return InvExResult(_failed_as_nan(inv(_safe(A, info)), info), _constant(info))


class SolveExResult(NamedTuple):
    """torch.return_types.linalg_solve_ex."""

    _torch_name = "linalg_solve_ex"  # torch.return_types.linalg_solve_ex
    __repr__ = structseq_repr

    result: Tensor
    info: Tensor


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True,  # noqa: N803
             check_errors: bool = False) -> SolveExResult:
    """torch.linalg.solve_ex: (result, info) of ``solve``, info as inv_ex's (per matrix of A);
    a singular matrix's solution is nan here (torch: inf/nan)."""
    A = _tensor(A)  # noqa: N806
    info = _lu_info("solve_ex", A, check_errors)
    if not info.any():
        return SolveExResult(solve(A, B, left=left), _constant(info))
    x = solve(_safe(A, info), B, left=left)
    vector = left and _is_vector_rhs(A.shape, _shape_of(B))
    return SolveExResult(_failed_as_nan(x, info, 1 if vector else 2), _constant(info))


# ------------------------------------------------------------------ LU
class LUFactorResult(NamedTuple):
    """torch.return_types.linalg_lu_factor."""

    _torch_name = "linalg_lu_factor"  # torch.return_types.linalg_lu_factor
    __repr__ = structseq_repr

    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    """torch.return_types.linalg_lu_factor_ex."""

    _torch_name = "linalg_lu_factor_ex"  # torch.return_types.linalg_lu_factor_ex
    __repr__ = structseq_repr

    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    """torch.return_types.linalg_lu (and lu_unpack's)."""

    _torch_name = "linalg_lu"  # torch.return_types.linalg_lu
    __repr__ = structseq_repr

    P: Tensor
    L: Tensor
    U: Tensor


def lu_factor_ex(A: Tensor, *, pivot: bool = True,  # noqa: N803
                 check_errors: bool = False) -> LUFactorExResult:
    """torch.linalg.lu_factor_ex: A (..., m, n) = P L U by partial pivoting, packed as LAPACK's
    getrf: LU (L's unit diagonal not stored), pivots (..., min(m, n)) int32 1-based row swaps,
    info (...) int32 (the first j, 1-based, with U[j, j] == 0; 0 if none). Differentiable in
    LU (torch's lu_factor_ex_backward). ``pivot=False``: no row swaps (torch only on CUDA)."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.linalg_more import LUFactor, raise_info

    _matrices("lu_factor_ex", A, square=False, complex_ok=True)
    _no_half("lu_factor_ex", A)
    op = LUFactor(_flag("lu_factor_ex", "pivot", pivot))
    lu = op(A)
    if _check_errors("lu_factor_ex", check_errors):
        raise_info("torch.linalg.lu_factor_ex", op.info)
    return LUFactorExResult(lu, _constant(op.pivots), _constant(op.info))


def lu_factor(A: Tensor, *, pivot: bool = True) -> LUFactorResult:  # noqa: N803
    """torch.linalg.lu_factor: (LU, pivots) of lu_factor_ex; a matrix with a zero on U's
    diagonal is a RuntimeError (as torch: lu_solve would divide by it)."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.linalg_more import LUFactor, raise_info

    _matrices("lu_factor", A, square=False, complex_ok=True)
    _no_half("lu_factor", A)
    op = LUFactor(_flag("lu_factor", "pivot", pivot))
    lu = op(A)
    raise_info("torch.linalg.lu_factor", op.info)
    return LUFactorResult(lu, _constant(op.pivots))


def _no_half(name: str, A) -> None:  # noqa: N803
    """torch's LAPACK-backed CPU kernels (lu, orgqr) have no float16 one: NotImplementedError."""
    if _dtype_of(A) == np.float16:
        raise NotImplementedError(f"{name}: not implemented for float16")


def _pivots(name: str, pivots, batch: tuple[int, ...], k: int, int32: bool = False) -> np.ndarray:
    """pivots as an int array (*batch, k) of 1-based row numbers; anything else a ValueError.
    ``int32``: a pivots tensor must be int32, as lu_factor's (torch's RuntimeError for lu_solve
    and lu_unpack)."""
    array = np.asarray(pivots.data if isinstance(pivots, Tensor) else pivots)
    if array.dtype.kind not in "iu":
        raise LinAlgDtypeError(f"{name}: pivots must be integers, got {array.dtype}")
    if int32 and isinstance(pivots, Tensor) and array.dtype != np.int32:
        raise LinAlgDtypeError(f"{name}: pivots should be a Tensor of scalar type torch.int32, "
                               f"got {array.dtype}")
    if array.shape != tuple(batch) + (k,):
        raise LinAlgArgError(f"{name}: expected pivots of shape {tuple(batch) + (k,)}, got "
                             f"{array.shape}")
    return array


def _unpack(lu: Tensor, pivots: np.ndarray, unpack_data: bool, unpack_pivots: bool,
            pivot: bool = True) -> LUResult:
    from dlpy.ops.linalg_more import permutation_matrix
    from dlpy.ops.rearrange import Triangle
    from dlpy.ops.shape import getitem

    m, n = lu.shape[-2:]
    k = min(m, n)
    empty = _constant(np.zeros((0,), lu.dtype))
    if unpack_pivots and pivot:
        p = _constant(permutation_matrix(pivots, m, lu.dtype))
    else:
        p = _constant(np.zeros(lu.shape[:-2] + (0, 0), lu.dtype)) if unpack_pivots else empty
    if not unpack_data:
        return LUResult(p, empty, empty)
    lower = Triangle(-1, False)(getitem(lu, (Ellipsis, slice(0, k)))) + np.eye(m, k,
                                                                            dtype=lu.dtype)
    upper = Triangle(0, True)(getitem(lu, (Ellipsis, slice(0, k), slice(None))))
    return LUResult(p, lower, upper)


def lu(A: Tensor, *, pivot: bool = True) -> LUResult:  # noqa: N803
    """torch.linalg.lu: A (..., m, n) = P L U, P (m, m) a permutation, L (m, k) unit lower,
    U (k, n) upper (k = min(m, n)); L and U differentiable (torch's linalg_lu_backward).
    ``pivot=False``: no row swaps and an empty P (torch only on CUDA)."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.linalg_more import LUFactor

    _matrices("lu", A, square=False, complex_ok=True)
    _no_half("lu", A)
    op = LUFactor(_flag("lu", "pivot", pivot))
    packed = op(A)
    return _unpack(packed, op.pivots, True, True, pivot)


def lu_unpack(LU_data: Tensor, LU_pivots, unpack_data: bool = True,  # noqa: N803
              unpack_pivots: bool = True) -> LUResult:
    """torch.lu_unpack: (P, L, U) from lu_factor's (LU, pivots); L and U differentiable in LU
    (the strict lower and the upper triangle). A part not unpacked is an empty tensor."""
    from dlpy.ops.linalg import _flag

    shape = _matrices("lu_unpack", LU_data, square=False, complex_ok=True, half_ok=True)
    pivots = _pivots("lu_unpack", LU_pivots, shape[:-2], min(shape[-2:]), int32=True)
    return _unpack(_tensor(LU_data), pivots, _flag("lu_unpack", "unpack_data", unpack_data),
                   _flag("lu_unpack", "unpack_pivots", unpack_pivots))


def _lu_solve_left(lu: Tensor, p: np.ndarray, b: Tensor, adjoint: bool) -> Tensor:
    """A^-1 B (``adjoint``: A^-H B) for A = P L U packed in lu, by two triangular solves."""
    if adjoint:  # A^H = U^H L^H P^T: X = P L^-H U^-H B
        lu_t = _swap_h(lu)
        y = solve_triangular(lu_t, b, upper=False)
        return matmul(p, solve_triangular(lu_t, y, upper=True, unitriangular=True))
    y = solve_triangular(lu, matmul(np.swapaxes(p, -1, -2), b), upper=False, unitriangular=True)
    return solve_triangular(lu, y, upper=True)


def lu_solve(LU: Tensor, pivots, B: Tensor, *, left: bool = True,  # noqa: N803
             adjoint: bool = False) -> Tensor:
    """torch.linalg.lu_solve: X with A X = B from lu_factor's (LU, pivots) of A (..., n, n);
    ``adjoint``: A^H X = B; ``left=False``: X A = B. B (..., n, k) (right: (..., k, n)), batch
    axes broadcast. Differentiable in LU (its triangles) and B."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.linalg_more import permutation_matrix

    shape = _matrices("lu_solve", LU, complex_ok=True)
    same_dtype("lu_solve", "LU", LU, "B", B)
    n = shape[-1]
    p = permutation_matrix(_pivots("lu_solve", pivots, shape[:-2], n, int32=True), n,
                           _dtype_of(LU))
    left = _flag("lu_solve", "left", left)
    adjoint = _flag("lu_solve", "adjoint", adjoint)
    b_shape = _shape_of(B)
    if len(b_shape) < 2 or b_shape[-2 if left else -1] != n:
        raise LinAlgArgError(f"lu_solve: LU {shape} and B {b_shape} do not fit (B must be "
                             + (f"(..., {n}, k))" if left else f"(..., k, {n}))"))
    if left:
        return _lu_solve_left(_tensor(LU), p, B, adjoint)
    # X A = B is A^H X^H = B^H, and X A^H = B is A X^H = B^H
    return _swap_h(_lu_solve_left(_tensor(LU), p, _swap_h(_tensor(B)), not adjoint))


# ------------------------------------------------------------------ the matrix exponential
def matrix_exp(A: Tensor) -> Tensor:  # noqa: N803
    """torch.linalg.matrix_exp: exp(A) of (..., n, n) by scaling and squaring with Pade
    approximants (Higham 2005: degrees 3 to 13 in float64, 3 to 7 in float32); its gradient is
    a block of the exponential of [[A^H, g], [0, A^H]] (so are its higher derivatives)."""
    from dlpy.ops.linalg_more import MatrixExp

    _matrices("matrix_exp", A, complex_ok=True)
    return MatrixExp()(A)


# ------------------------------------------------------------------ rank, condition number
@autocast_policy(FP32)
def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None,  # noqa: N803
                rtol=None) -> Tensor:
    """torch.linalg.matrix_rank: the number (int64, (...)) of singular values (|eigenvalues| if
    ``hermitian``, from the lower triangle) above max(atol, rtol * the largest); tolerances as
    pinv's. torch's older ``tol`` is atol with rtol 0. No gradient."""
    from dlpy.ops.linalg import _flag, tolerances

    if tol is not None:
        if atol is not None or rtol is not None:
            raise TypeError("matrix_rank: give tol, or atol and rtol, not both")
        atol, rtol = tol, 0.0
    _matrices("matrix_rank", A, square=bool(hermitian), complex_ok=True)
    a = A.data if isinstance(A, Tensor) else np.asarray(A)
    if _flag("matrix_rank", "hermitian", hermitian):
        values = np.sort(np.abs(numpy_linalg(np.linalg.eigvalsh, a)), -1)[..., ::-1]
    else:
        values = numpy_linalg(np.linalg.svd, a, compute_uv=False)
    atol_value, rtol_value = tolerances("matrix_rank", A, atol, rtol)
    largest = values[..., :1] if values.shape[-1] else np.zeros(values.shape[:-1] + (1,))
    return _constant((values > np.maximum(atol_value, rtol_value * largest)).sum(-1)
                     .astype(np.int64))


@autocast_policy(FP32)
def cond(A: Tensor, p=None) -> Tensor:  # noqa: N803
    """torch.linalg.cond: the condition number of A (..., m, n) in the norm p: None / 2 the
    largest over the smallest singular value (-2 the inverse), any m x n; 'fro', 'nuc', 1, -1,
    inf, -inf: matrix_norm(A, p) matrix_norm(A^-1, p) of square A, inf where A is singular."""
    from dlpy.ops.shape import getitem

    shape = _matrices("cond", A, square=False, complex_ok=True)
    spectral = p is None or (not isinstance(p, (str, bool)) and p in (2, -2))
    if not spectral and (isinstance(p, bool) or p not in ("fro", "nuc", 1, -1, float("inf"),
                                                          float("-inf"))):
        raise LinAlgArgError(f"cond: p must be None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got "
                             f"{p!r}")
    if isinstance(p, str) and shape[-1] != shape[-2]:  # (torch checks these first)
        raise LinAlgArgError(f"cond: p={p!r} needs square matrices (..., n, n), got shape {shape}")
    if 0 in shape:  # torch's 0 for every empty matrix (NumPy's cond leaves them undefined),
        return _constant(np.zeros(shape[:-2], np.finfo(_dtype_of(A)).dtype))  # even 1 x 0
    if spectral:
        values = svdvals(A)
        largest, smallest = getitem(values, (Ellipsis, 0)), getitem(values, (Ellipsis, -1))
        return largest / smallest if p != -2 else smallest / largest
    if shape[-1] != shape[-2]:
        raise LinAlgArgError(f"cond: p={p!r} needs square matrices (..., n, n), got shape {shape}")
    inverse, info = inv_ex(A)
    product = matrix_norm(A, p) * matrix_norm(inverse, p)
    return where(info.data > 0, np.inf, product)


# ------------------------------------------------------------------ cross, vander
def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:  # noqa: A002
    """torch.linalg.cross: the 3-D cross product along dim (default the last; size 3 in both),
    the other axes broadcast (both with the same number of axes, as torch)."""
    from dlpy.ops.rearrange import cross as _cross

    if dim is None or isinstance(dim, bool):  # (torch.cross's None default is not linalg's)
        raise TypeError(f"linalg.cross: dim must be an int, got {dim!r}")
    if len(_shape_of(input)) != len(_shape_of(other)):
        raise LinAlgArgError(f"cross: input and other must have the same number of axes, got "
                             f"shapes {_shape_of(input)} and {_shape_of(other)}")
    return _cross(input, other, dim)


def vander(x: Tensor, *, N: int | None = None) -> Tensor:  # noqa: N803
    """torch.linalg.vander: x (..., n) -> (..., n, N) with columns x^0, x^1, ..., x^(N-1)
    (increasing, unlike torch.vander); N defaults to n and must be > 1."""
    from dlpy.ops.rearrange import vander as _vander

    shape = _shape_of(x)
    if not shape:  # torch's: a 0-d x is read as (1,)
        x, shape = reshape(_tensor(x), (1,)), (1,)
    dtype = _dtype_of(x)
    if dtype.kind not in "fciu" or dtype == np.float16:  # bool, float16, bfloat16
        raise LinAlgDtypeError(f"vander: expected a floating point, complex or integer tensor, got "
                               f"{dtype}")
    if dtype.kind in "iu" and dtype != np.int64:  # torch's cumprod: integers as int64
        x = _tensor(x).to(np.int64)
    count = shape[-1] if N is None else N
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count <= 1:
        raise LinAlgArgError(f"vander: N must be an int greater than 1, got {N!r}")
    from dlpy.node_names import named  # (torch's last node: a cat of ones and the powers)

    return named(reshape(_vander(reshape(_tensor(x), (-1,)), int(count), increasing=True),
                         tuple(shape) + (int(count),)), "CatBackward0")


# ------------------------------------------------------------------ tensor inverse and solve
@autocast_policy(FP32)
def tensorinv(A: Tensor, ind: int = 2) -> Tensor:  # noqa: N803
    """torch.linalg.tensorinv: the inverse of A read as a prod(shape[:ind]) x prod(shape[ind:])
    (square) matrix, shaped shape[ind:] + shape[:ind]. ``ind`` an int (or a 0-d integer
    tensor: a float is torch's TypeError) > 0."""
    import math

    shape = _shape_of(A)
    ind = _int_arg("linalg_tensorinv", "ind", ind)
    if ind <= 0:
        raise LinAlgArgError(f"tensorinv: ind must be a positive int, got {ind!r}")
    rows, cols = math.prod(shape[:ind]), math.prod(shape[ind:])
    if ind > len(shape) or rows != cols:
        raise LinAlgArgError(f"tensorinv: expected prod(shape[:ind]) == prod(shape[ind:]), got "
                             f"shape {shape} with ind={ind}")
    try:
        flat = inv(reshape(A, (rows, cols)))
    except LinAlgError as error:  # torch's text names "inv" here
        raise LinAlgError(str(error).replace("linalg.inv:", "inv:", 1)) from None
    return reshape(flat, tuple(shape[ind:]) + tuple(shape[:ind]))


@autocast_policy(FP32)
def tensorsolve(A: Tensor, B: Tensor, dims=None) -> Tensor:  # noqa: N803
    """torch.linalg.tensorsolve: X with tensordot(A, X, X.ndim) = B; A's axes ``dims`` are moved
    to the end first. X's shape is A's after B.ndim axes, of B's total size (torch's only rule:
    A's leading axes just have to hold as many entries, A becoming a square matrix)."""
    import math

    from dlpy.ops import check_dim

    a_shape, b_shape = _shape_of(A), _shape_of(B)
    if dims is not None:
        dims = [check_dim("tensorsolve", d, len(a_shape)) for d in
                (dims if isinstance(dims, (tuple, list)) else (dims,))]
        A = permute(A, [d for d in range(len(a_shape)) if d not in dims] + dims)  # noqa: N806
        a_shape = _shape_of(A)
    rest = a_shape[len(b_shape):]
    size = math.prod(b_shape)
    if math.prod(rest) != size:
        raise LinAlgArgError(f"tensorsolve: A {a_shape} must be B's shape {b_shape} followed by "
                             f"axes of the same total size")
    return reshape(solve(reshape(A, (size, size)), reshape(B, (size,))), rest)


# ------------------------------------------------------------------ least squares
class LstsqResult(NamedTuple):
    """torch.return_types.linalg_lstsq."""

    _torch_name = "linalg_lstsq"  # torch.return_types.linalg_lstsq
    __repr__ = structseq_repr

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


@autocast_policy(FP32)
def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver: str | None = None) -> LstsqResult:  # noqa: N803
    """torch.linalg.lstsq: the minimum-norm X minimising |A X - B| for A (..., m, n), B
    (..., m, k) or a vector (..., m) (solve's rule), batch axes broadcast; X = pinv(A) B with
    singular values at or below rcond * the largest dropped (rcond None: eps * max(m, n)), so
    its gradient is torch's (through pinv). As torch on the CPU, by ``driver`` (default
    'gelsy', any case): ``rank`` (int64) for all but 'gels', ``singular_values`` for 'gelsd' and
    'gelss', ``residuals`` (the squared column norms of A X - B, differentiable) for all but
    'gelsy' when m > n and every A has full rank; the others are empty tensors. B has A's
    number of axes or one fewer (a RuntimeError otherwise, as torch). 'gelsy' finds the rank
    as LAPACK's, by QR with column pivoting (the leading columns kept while R11's condition
    stays under 1 / rcond), and its solution for a rank-deficient A is the minimum-norm one
    of those columns' problem (its complete orthogonal factorisation), not the truncated
    pinv's."""
    from dlpy.ops.linalg import Pinv
    from dlpy.ops.shape import unsqueeze

    if _meta.live() and _meta.given_meta((A, B)):  # torch has no meta kernel for it
        raise NotImplementedError(_meta.no_kernel("aten::linalg_lstsq.out"))
    shape = _matrices("lstsq", A, square=False, complex_ok=True)
    b_shape = _shape_of(B)
    if driver is None:
        driver = "gelsy"
    if isinstance(driver, str):
        driver = driver.lower()  # torch takes any case
    if driver not in _DRIVERS:
        raise LinAlgArgError(f"lstsq: driver must be one of {', '.join(_DRIVERS)}, got {driver!r}")
    if rcond is not None and (isinstance(rcond, bool) or not isinstance(
            rcond, (int, float, np.integer, np.floating))):
        raise TypeError(f"lstsq: rcond must be a number or None, got {rcond!r}")
    if not 0 <= len(shape) - len(b_shape) <= 1:
        raise LinAlgArgError("torch.linalg.lstsq: input.dim() must be greater or equal to "
                             "other.dim() and (input.dim() - other.dim()) <= 1")
    vector = _is_vector_rhs(shape, b_shape)
    m, n = shape[-2:]
    if (not vector and len(b_shape) < 2) or b_shape[-1 if vector else -2] != m:
        raise LinAlgArgError(f"lstsq: A {shape} and B {b_shape} do not fit (B must be "
                             f"(..., {m}, k) or (..., {m}))")
    if _dtype_of(B).kind not in "fc":
        raise LinAlgDtypeError(f"lstsq: expected a floating point B, got {_dtype_of(B)}")
    same_dtype("lstsq", "A", A, "B", B)
    dtype = _dtype_of(A)
    eps = float(np.finfo(dtype).eps)
    if rcond is None or rcond < 0:  # LAPACK: a negative rcond is machine precision
        rcond = eps * max(m, n)
    if driver == "gels":  # QR: full rank assumed, nothing dropped
        rcond = 0.0
    values = numpy_linalg(np.linalg.svd, A.data if isinstance(A, Tensor) else np.asarray(A),
                          compute_uv=False)
    largest = values[..., :1] if values.shape[-1] else np.zeros(values.shape[:-1] + (1,))
    rank = (values > rcond * largest).sum(-1).astype(np.int64)
    b = unsqueeze(B, -1) if vector else B
    solution = matmul(Pinv(0.0, float(rcond))(A), b)
    if driver == "gelsy" and (m < n or (rank < n).any()):  # (A of full column rank: the
        a = A.data if isinstance(A, Tensor) else np.asarray(A)  # pivoted QR's R11s are too)
        rank, inverse = _gelsy(a, float(rcond))
        if (rank < min(m, n)).any():  # its values, the truncated pinv's gradient
            exact = inverse @ (b.data if isinstance(b, Tensor) else np.asarray(b))
            solution = solution + _constant((exact - solution.data).astype(solution.dtype))
    if driver == "gelsy" and not vector and b_shape[-1] == 0:  # LAPACK's gelsy returns at
        rank = np.zeros_like(rank)  # once when MIN(M, N, NRHS) = 0: rank 0, as torch's
    empty = _constant(np.zeros((0,), np.finfo(dtype).dtype))  # real, as the values
    residuals = empty
    if m > n and driver != "gelsy" and (driver == "gels" or (rank == n).all()):
        error = matmul(A, solution) - b
        residuals = _sum(real(error * conj(error)), axis=-2)  # |error|^2, real
    return LstsqResult(reshape(solution, solution.shape[:-1]) if vector else solution,
                       residuals,
                       _constant(np.zeros((0,), np.int64)) if driver == "gels" else
                       _constant(rank),
                       _constant(values) if driver in ("gelsd", "gelss") else empty)


def _gelsy(a: np.ndarray, rcond: float) -> tuple[np.ndarray, np.ndarray]:
    """(rank, G) of LAPACK's gelsy for each matrix of a (..., m, n): QR with column pivoting
    (geqp3: the remaining column of largest norm first), the rank r the longest leading R11
    with sigma_min >= rcond * sigma_max (LAPACK estimates these incrementally), and G (n, m)
    with X = G B the minimum-norm solution of the first r rows of R: P [R11 R12]^+ Q1^H."""
    shape, (m, n) = a.shape[:-2], a.shape[-2:]
    flat = a.reshape((math.prod(shape), m, n))
    ranks = np.zeros(flat.shape[0], np.int64)
    inverses = np.zeros((flat.shape[0], n, m), a.dtype)
    for index, matrix in enumerate(flat):
        r_part, order = matrix.copy(), np.arange(n)
        q = np.eye(m, dtype=a.dtype)
        for j in range(min(m, n)):  # Householder QR, pivoting on the trailing column norms
            best = j + int(np.argmax(np.linalg.norm(r_part[j:, j:], axis=0)))
            r_part[:, [j, best]], order[[j, best]] = r_part[:, [best, j]], order[[best, j]]
            x = r_part[j:, j]
            norm = np.linalg.norm(x)
            if norm == 0:
                continue
            v = x.copy()
            v[0] += (x[0] / abs(x[0]) if x[0] != 0 else 1) * norm
            v /= np.linalg.norm(v)
            r_part[j:] -= 2 * np.outer(v, v.conj() @ r_part[j:])
            q[:, j:] -= 2 * np.outer(q[:, j:] @ v, v.conj())
        diagonal = np.abs(np.diagonal(r_part))
        rank = 0
        if diagonal.size and diagonal[0] > 0:
            rank = 1
            while rank < diagonal.size:
                values = finite_svd(r_part[:rank + 1, :rank + 1], compute_uv=False)
                if values[-1] < rcond * values[0]:
                    break
                rank += 1
        ranks[index] = rank
        if rank:
            inverse = np.linalg.pinv(r_part[:rank]) @ q[:, :rank].conj().T  # (n, m), pivoted
            inverses[index][order] = inverse
    return ranks.reshape(shape), inverses.reshape(shape + (n, m))


# ------------------------------------------------------------------ Householder reflectors
def _reflector(A: Tensor, i: int) -> Tensor:  # noqa: N803
    """v_i (..., r): column i of A below the diagonal, with a 1 at i and zeros above it."""
    from dlpy.ops.shape import getitem

    rows = A.shape[-2]
    below = (np.arange(rows) > i).astype(A.dtype)
    return getitem(A, (Ellipsis, slice(None), i)) * below + (np.arange(rows) == i).astype(A.dtype)


def _reflect(x: Tensor, v: Tensor, tau: Tensor, left: bool) -> Tensor:
    """H x (``left``) or x H with H = I - tau v v^H; v (..., r), tau (...)."""
    row = v.reshape(v.shape[:-1] + (1, v.shape[-1]))  # (..., 1, r)
    if v.dtype.kind == "c":
        row = conj(row)
    if left:  # x - (tau v) (v^H x)
        column = (tau.reshape(tau.shape + (1, 1)) * v.reshape(v.shape + (1,)))
        return x - matmul(column, matmul(row, x))
    return x - matmul(matmul(x, v.reshape(v.shape + (1,))), tau.reshape(tau.shape + (1, 1)) * row)


def _swap_last(x: Tensor) -> Tensor:
    from dlpy.ops.shape import swapaxes

    return swapaxes(x, -1, -2)


def _apply_reflectors(name: str, A: Tensor, tau: Tensor, C: Tensor, left: bool,  # noqa: N803
                      transpose: bool) -> Tensor:
    """Q C, Q^H C, C Q or C Q^H with Q = H_1 ... H_k from (A, tau) as geqrf's."""
    from dlpy.ops.shape import getitem

    k = tau.shape[-1]
    if transpose and tau.dtype.kind == "c":  # H_i^H = I - conj(tau_i) v_i v_i^H
        tau = conj(tau)
    order = range(k) if left == transpose else range(k - 1, -1, -1)
    for i in order:
        C = _reflect(C, _reflector(A, i), getitem(tau, (Ellipsis, i)), left)  # noqa: N806
    return C


def _householder_inputs(name: str, A, tau, complex_ok: bool = False)\
        -> tuple[Tensor, Tensor]:  # noqa: N803
    shape = _matrices(name, A, square=False, complex_ok=complex_ok)
    _no_half(name, A)
    same_dtype(name, "A", A, "tau", tau)
    tau_shape = _shape_of(tau)
    if len(tau_shape) < 1:  # torch's IndexError (its tau.size(-1))
        raise LinAlgDimError(f"{name}: Dimension specified as -1 but tensor has no dimensions")
    if tau_shape[:-1] != shape[:-2] or tau_shape[-1] > shape[-1]:
        raise LinAlgArgError(f"{name}: expected tau of shape {shape[:-2]} + (k,) with k <= "
                             f"{shape[-1]}, got {tau_shape} for A {shape}")
    return _tensor(A), _tensor(tau)


@autocast_policy(FP32)
def householder_product(A: Tensor, tau: Tensor) -> Tensor:  # noqa: N803
    """torch.linalg.householder_product (torch.orgqr): the first n columns of
    H_1 ... H_k, H_i = I - tau_i v_i v_i^T with v_i the i-th column of A (..., m, n) below the
    diagonal and 1 on it, tau (..., k), k <= n <= m: geqrf's Q. Differentiable in A and tau
    (reflections applied one at a time). With k = 0 (no reflector) the identities' columns stay
    in the graph, as torch's, and send A and tau no gradient (None)."""
    A, tau = _householder_inputs("householder_product", A, tau, complex_ok=True)  # noqa: N806
    m, n = A.shape[-2:]
    if n > m:
        raise LinAlgArgError(f"householder_product: expected m >= n, got A of shape {A.shape}")
    if tau.shape[-1] == 0:  # A's batch of identities, in the graph if A or tau is
        eye = np.broadcast_to(np.eye(m, n, dtype=A.dtype), A.shape).copy()
        return _Unreached(eye)(A, tau) if A.requires_grad or tau.requires_grad else _constant(eye)
    return _apply_reflectors("householder_product", A, tau, _constant(np.eye(m, n,
                                                                            dtype=A.dtype)),
                             True, False)


@autocast_policy(FP32)
def orgqr(input: Tensor, tau: Tensor) -> Tensor:  # noqa: A002
    """torch.orgqr: householder_product."""
    return householder_product(input, tau)


@autocast_policy(FP32)
def ormqr(input: Tensor, tau: Tensor, other: Tensor, left: bool = True,  # noqa: A002
          transpose: bool = False) -> Tensor:
    """torch.ormqr: Q other (``left``) or other Q, Q^T with ``transpose``, for the full
    Q = H_1 ... H_k of geqrf's (input, tau); input (..., r, k') with r the side of other Q
    multiplies. Differentiable in all three."""
    from dlpy.ops.linalg import _flag

    A, tau = _householder_inputs("ormqr", input, tau, complex_ok=True)  # noqa: N806
    left, transpose = _flag("ormqr", "left", left), _flag("ormqr", "transpose", transpose)
    c_shape = _shape_of(other)
    side = c_shape[-2 if left else -1] if len(c_shape) >= 2 else None
    if side != A.shape[-2]:
        raise LinAlgArgError(f"ormqr: other {c_shape} does not fit input {A.shape} (its "
                             f"{'rows' if left else 'columns'} must number {A.shape[-2]})")
    if tau.shape[-1] != min(side, A.shape[-1]):  # torch's check: every reflector of geqrf's
        raise LinAlgArgError(f"ormqr: tau.shape[-1] must be equal to min(other.shape["
                             f"{-2 if left else -1}], input.shape[-1]), got tau {tau.shape} for "
                             f"input {A.shape} and other {c_shape}")
    return _apply_reflectors("ormqr", A, tau, _tensor(other), left, transpose)


class GeqrfResult(NamedTuple):
    """torch.return_types.geqrf."""

    _torch_name = "geqrf"  # torch.return_types.geqrf
    __repr__ = structseq_repr

    a: Tensor
    tau: Tensor


@autocast_policy(FP32)
def geqrf(input: Tensor) -> GeqrfResult:  # noqa: A002
    """torch.geqrf: LAPACK's QR of (..., m, n): R on and above the diagonal of ``a``, the
    Householder vectors below it, tau (..., min(m, n)); Q is householder_product(a, tau). No
    gradient (as torch: the outputs of an input that requires grad are in the graph, and
    backward through them raises NotImplementedError)."""
    from dlpy.ops.linalg_more import geqrf_numpy

    _matrices("geqrf", input, square=False, complex_ok=True)
    a, tau = geqrf_numpy(input.data if isinstance(input, Tensor) else np.asarray(input))
    if isinstance(input, Tensor) and input.requires_grad:  # in the graph, as torch's
        return GeqrfResult(named(_NoFormula("geqrf", a)(input), "GeqrfBackward0"),
                           named(_NoFormula("geqrf", tau)(input), "GeqrfBackward0"))
    return GeqrfResult(_constant(a), _constant(tau))




class _Unreached(Op):
    """An output (``value``) that stays in the graph of its inputs but sends them no gradient
    (None), as torch's outputs that do not depend on the inputs they are recorded with."""

    def __init__(self, value: np.ndarray):
        self.value = value

    def forward(self, *inputs):
        return self.value

    def backward(self, grad_output):
        return (None,) * len(self.inputs)

    def backward_graph(self, grad_output, output):  # (create_graph=True: still none)
        return (None,) * len(self.inputs)


# ------------------------------------------------------------------ with a Cholesky factor
def _factor(name: str, L, upper) -> tuple[int, ...]:  # noqa: N803
    from dlpy.ops.linalg import _flag

    _flag(name, "upper", upper)
    return _matrices(name, L, complex_ok=True)


@autocast_policy(FP32)
def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:  # noqa: N803
    """torch.cholesky_solve(B, L): X with A X = B for A = L L^T (``upper``: A = U^T U), reading
    one triangle of the factor; B (..., n, k), batch axes broadcast. Its gradient for L is
    torch's, on the whole factor: -(dB X^T + X dB^T) L."""
    from dlpy.ops.linalg_more import CholeskySolve

    shape = _factor("cholesky_solve", L, upper)
    same_dtype("cholesky_solve", "B", B, "L", L)
    b_shape = _shape_of(B)
    n = shape[-1]
    if len(b_shape) < 2 or b_shape[-2] != n:
        raise LinAlgArgError(f"cholesky_solve: B {b_shape} and L {shape} do not fit (B must be "
                             f"(..., {n}, k))")
    _check_right_side("cholesky_solve", B, (shape[:-2], b_shape[:-2]),
                      f"B {b_shape} and L {shape}")
    return CholeskySolve(bool(upper))(B, L)


@autocast_policy(FP32)
def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:  # noqa: N803
    """torch.cholesky_inverse: (L L^T)^-1 (``upper``: (U^T U)^-1) from the factor (..., n, n);
    cholesky_solve of the identity, so its gradient is torch's."""
    from dlpy.ops.linalg_more import CholeskySolve

    shape = _factor("cholesky_inverse", L, upper)
    zero = np.diagonal(_tensor(L).data, axis1=-2, axis2=-1) == 0  # potri's info: L[i, i] == 0
    if zero.any():
        from dlpy.ops.linalg import linalg_error_text

        info = np.where(zero.any(-1), zero.argmax(-1) + 1, 0).astype(np.int32)
        raise LinAlgError(linalg_error_text("cholesky_inverse", info))
    return named(CholeskySolve(bool(upper))(np.eye(shape[-1], dtype=_dtype_of(L)), L),
                 "CholeskyInverseBackward0")


class TriangularSolveResult(NamedTuple):
    """torch.return_types.triangular_solve."""

    _torch_name = "triangular_solve"  # torch.return_types.triangular_solve
    __repr__ = structseq_repr

    solution: Tensor
    cloned_coefficient: Tensor


@autocast_policy(FP32)
def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,  # noqa: N803
                     unitriangular: bool = False) -> TriangularSolveResult:
    """torch.triangular_solve (deprecated there for linalg.solve_triangular): X with T X = b
    (``transpose``: T^T X = b), T A's upper (default) or lower triangle; and a copy of A."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.shape import swapaxes

    upper = _flag("triangular_solve", "upper", upper)
    same_dtype("triangular_solve", "b", b, "A", A)
    if _flag("triangular_solve", "transpose", transpose):
        _matrices("triangular_solve", A, complex_ok=True)
        solution = solve_triangular(swapaxes(A, -1, -2), b, upper=not upper,
                                    unitriangular=unitriangular)
    else:
        solution = solve_triangular(A, b, upper=upper, unitriangular=unitriangular)
    # the coefficient's copy is LAPACK's working one: column-major, as torch's
    coefficient = swapaxes(swapaxes(_tensor(A), -1, -2).contiguous(), -1, -2)
    return TriangularSolveResult(named(solution, "TriangularSolveBackward0"),
                                 named(coefficient, "TriangularSolveBackward0"))


# ------------------------------------------------------------------ LDL^T
class LDLFactorResult(NamedTuple):
    """torch.return_types.linalg_ldl_factor."""

    _torch_name = "linalg_ldl_factor"  # torch.return_types.linalg_ldl_factor
    __repr__ = structseq_repr

    LD: Tensor
    pivots: Tensor


class LDLFactorExResult(NamedTuple):
    """torch.return_types.linalg_ldl_factor_ex."""

    _torch_name = "linalg_ldl_factor_ex"  # torch.return_types.linalg_ldl_factor_ex
    __repr__ = structseq_repr

    LD: Tensor
    pivots: Tensor
    info: Tensor


def _zero_block(i: int) -> str:
    return f"the matrix is singular: D[{i},{i}] is zero"


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False,  # noqa: N803
                  check_errors: bool = False) -> LDLFactorExResult:
    """torch.linalg.ldl_factor_ex: A = P L D L^T P^T for symmetric A (..., n, n) read from its
    lower triangle (``hermitian``, complex A: A = P L D L^H P^T, LAPACK's hetrf, A's diagonal
    read as real), by Bunch-Kaufman pivoting as LAPACK's sytrf: LD holds L below the diagonal
    and the 1x1 / 2x2 blocks of D; pivots (..., n) int32 (LAPACK's: negative for a 2x2 block);
    info (...) int32, the first i (1-based) with D[i, i] exactly zero. No gradient (as torch:
    LD stays in the graph of an A that requires grad, and backward through it raises).
    Vectorised over the batch (each matrix keeps its own pivots)."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.linalg_more import ldl_factor_numpy, raise_info

    _matrices("ldl_factor_ex", A, complex_ok=True)
    hermitian = _flag("ldl_factor_ex", "hermitian", hermitian)  # real: the same factorisation
    ld, pivots, info = ldl_factor_numpy(A.data if isinstance(A, Tensor) else np.asarray(A),
                                        hermitian)
    if _check_errors("ldl_factor_ex", check_errors):
        raise_info("ldl_factor_ex", info, _zero_block)
    if isinstance(A, Tensor) and A.requires_grad:
        ld = named(_NoDerivative("linalg_ldl_factor_ex", ld)(A), "NotImplemented")
    return LDLFactorExResult(ld if isinstance(ld, Tensor) else _constant(ld),
                             _constant(pivots), _constant(info))


def ldl_factor(A: Tensor, *, hermitian: bool = False) -> LDLFactorResult:  # noqa: N803
    """torch.linalg.ldl_factor: (LD, pivots) of ldl_factor_ex; a singular D is a LinAlgError."""
    ld, pivots, info = ldl_factor_ex(A, hermitian=hermitian)
    from dlpy.ops.linalg_more import raise_info

    raise_info("ldl_factor", info.data, _zero_block)
    return LDLFactorResult(ld, pivots)


def ldl_solve(LD: Tensor, pivots, B: Tensor, *, hermitian: bool = False) -> Tensor:  # noqa: N803
    """torch.linalg.ldl_solve: X with A X = B from ldl_factor's (LD, pivots); B (..., n, k),
    batch axes broadcast, of LD's dtype (a RuntimeError otherwise, as torch). Differentiable
    in B (A^-1 g, A symmetric)."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.linalg_more import LDLSolve

    shape = _matrices("ldl_solve", LD, complex_ok=True)
    hermitian = _flag("ldl_solve", "hermitian", hermitian)
    n = shape[-1]
    array = _pivots("ldl_solve", pivots, shape[:-2], n)
    b_shape = _shape_of(B)
    if len(b_shape) < 2 or b_shape[-2] != n:  # torch: IndexError for a B of under 2 axes
        raise (LinAlgDimError if len(b_shape) < 2 else LinAlgArgError)(
            f"ldl_solve: LD {shape} and B {b_shape} do not fit (B must be (..., {n}, k))")
    if _dtype_of(B) != _dtype_of(LD):
        raise LinAlgDtypeError(f"Expected b and A to have the same dtype, but found b of type "
                               f"{_dtype_of(B)} and A of type {_dtype_of(LD)} instead.")
    ld = LD.data if isinstance(LD, Tensor) else np.asarray(LD)
    return LDLSolve(ld, array, hermitian)(B)


# ------------------------------------------------------------------ randomised low-rank SVD
def _approximate_basis(A: Tensor, q: int, niter: int, rng) -> Tensor:  # noqa: N803
    """Q (..., m, q) with orthonormal columns, Q Q^T A ~ A: a random range finder with niter
    power iterations (Halko, Martinsson & Tropp 2009, algorithm 4.4, as torch's)."""
    from dlpy.ops.shape import swapaxes

    probe = _constant(rng.standard_normal((A.shape[-1], q)).astype(A.dtype))
    basis = qr(matmul(A, probe)).Q
    for _ in range(niter):
        basis = qr(matmul(swapaxes(A, -1, -2), basis)).Q
        basis = qr(matmul(A, basis)).Q
    return basis


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None,  # noqa: N803
                *, generator=None):
    """torch.svd_lowrank: (U, S, V), A - M ~ U diag(S) V^T with q columns, by a randomised
    range finder (``generator``: a numpy Generator, else dlpy's default). Random: the values
    are torch's only in distribution. Differentiable (a composite of qr, svd and matmuls)."""
    from dlpy.ops.shape import swapaxes
    from dlpy.random import get_rng

    shape = _matrices("svd_lowrank", A, square=False)
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    for what, value in (("q", q), ("niter", niter)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise LinAlgArgError(f"svd_lowrank: {what} must be a non-negative int, got {value!r}")
    A = _tensor(A)  # noqa: N806
    if M is not None:
        A = A - M  # noqa: N806
    m, n = shape[-2:]
    if m < n:
        A = swapaxes(A, -1, -2)  # noqa: N806
    basis = _approximate_basis(A, int(q), int(niter), get_rng(generator))
    u, s, vh = svd(matmul(swapaxes(basis, -1, -2), A), full_matrices=False)
    u, v = matmul(basis, u), swapaxes(vh, -1, -2)
    return (v, s, u) if m < n else (u, s, v)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2,  # noqa: N803
                *, generator=None):
    """torch.pca_lowrank: svd_lowrank of A (..., m, n) less its column means (``center``), q by
    default min(6, m, n): V's columns are the principal directions, S^2 / (m - 1) the variances
    along them."""
    from dlpy.ops.linalg import _flag
    from dlpy.ops.reduce import mean

    shape = _matrices("pca_lowrank", A, square=False)
    m, n = shape[-2:]
    if q is None:
        q = min(6, m, n)
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 0 <= q <= min(m, n):
        raise LinAlgArgError(f"pca_lowrank: q must be an int in [0, min(m, n) = {min(m, n)}], got "
                             f"{q!r}")
    A = _tensor(A)  # noqa: N806
    if _flag("pca_lowrank", "center", center):
        A = A - mean(A, axis=-2, keepdims=True)  # noqa: N806
    return svd_lowrank(A, q, niter, generator=generator)


# ------------------------------------------------------------------ torch's old API
@autocast_policy(FP32)
def old_lu(A: Tensor, pivot: bool = True, get_infos: bool = False):  # noqa: N803
    """torch.lu / Tensor.lu (deprecated there for linalg.lu_factor): (LU, pivots), and info
    third with ``get_infos``; a singular matrix raises nothing either way (torch's
    _lu_with_info checks no U's zero, unlike lu_factor)."""
    from dlpy.ops.linalg import _flag

    _flag("lu", "get_infos", get_infos)
    lu_data, pivots, info = lu_factor_ex(A, pivot=pivot, check_errors=False)
    return (lu_data, pivots, info) if get_infos else (lu_data, pivots)


@autocast_policy(FP32)
def old_lu_solve(b: Tensor, LU_data: Tensor, LU_pivots) -> Tensor:  # noqa: N803
    """torch.lu_solve(b, LU_data, LU_pivots) / b.lu_solve(LU_data, LU_pivots) (deprecated
    there for linalg.lu_solve(LU, pivots, B))."""
    return lu_solve(LU_data, LU_pivots, b)


# ------------------------------------------------------------------ out=
def _with_out(function, exact: bool, differentiable: bool = False):
    """torch.linalg's ``out=``: the result written into ``out`` (a tuple for a named-tuple
    result); ``exact``: ``out`` must have the result's dtype, as torch's native kernels want;
    ``differentiable``: torch's composite copies its result into ``out``, gradient and all."""
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        from dlpy.torch_functions import write_out

        return write_out(f"linalg.{function.__name__}", function(*args, **kwargs), out,
                         exact=exact, differentiable=differentiable)

    with_out.__name__ = with_out.__qualname__ = function.__name__
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


# torch.linalg's functions that take out= (not diagonal, lstsq, matrix_exp, vander); the ones
# torch composes from other ops cast the result into out's dtype
for _name in ("cholesky", "cholesky_ex", "cross", "det", "eig", "eigh", "eigvals", "eigvalsh",
              "inv", "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lu", "lu_factor",
              "lu_factor_ex", "lu_solve", "matmul", "matrix_power", "multi_dot", "qr", "slogdet",
              "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm"):
    globals()[_name] = _with_out(globals()[_name], exact=True)
for _name in ("norm", "matrix_norm"):
    globals()[_name] = _with_out(globals()[_name], exact=True, differentiable=True)
for _name in ("householder_product", "matrix_rank", "pinv", "tensorsolve"):
    globals()[_name] = _with_out(globals()[_name], exact=False)
for _name in ("cond", "tensorinv"):
    globals()[_name] = _with_out(globals()[_name], exact=False, differentiable=True)
del _name
