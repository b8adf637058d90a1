"""Linear algebra on the last two axes, batched over the leading ones: diagonals (diagonal,
diag_embed, diag, trace), inverse, determinants, solve, solve_triangular, and the factorisations
cholesky, qr, eigh, svd (and svdvals, eigvalsh, pinv). Forward is numpy.linalg (a substitution
for solve_triangular); backward is the matrix-calculus formula PyTorch uses (its derivatives.yaml
/ FunctionsManual), with A^H (``_mH``: A^T for real A), so the ops take complex matrices too
(``complex_ok``; PyTorch's convention z.grad = dL/dx + i dL/dy).

A factorisation with several outputs is one op whose output packs them side by side in a last
axis of (..., size of each flattened); the lowercase function slices them back apart, so each
output keeps its gradient and the op's backward reads them all (zeros for an unused one).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dlpy.amp.state import FP32, autocast_policy
from dlpy.ops import check_dim, int_of
from dlpy.ops.shape import getitem, reshape
from dlpy.return_types import structseq_repr
from dlpy.tensor import Op, Tensor, is_grad_enabled


class LinAlgError(ValueError, RuntimeError):
    """A matrix the op cannot handle: singular (inv, solve) or not positive-definite (cholesky).
    A ValueError (dlpy's bad input) and a RuntimeError (torch.linalg.LinAlgError's base)."""


class LinAlgArgError(ValueError, RuntimeError):
    """A shape or an option a linear algebra op does not take (a non-square matrix, B that does
    not fit A, an unknown ord): a ValueError, and torch's RuntimeError."""


class LinAlgDtypeError(TypeError, RuntimeError):
    """A dtype a linear algebra op does not take (integer matrices, A and B of different
    dtypes): a TypeError, and torch's RuntimeError."""


class LinAlgKernelError(LinAlgDtypeError, NotImplementedError):
    """A dtype with no linear algebra routine (integer, bool, bfloat16 matrices; float16, which
    numpy.linalg refuses): a LinAlgDtypeError, and torch's NotImplementedError ("... not
    implemented for 'Long'"; some ops' RuntimeError, its base)."""


class LinAlgDimError(LinAlgArgError, IndexError):
    """Too few axes where torch raises IndexError (diag_embed of a 0-d tensor: "Dimension out
    of range"): a LinAlgArgError, and torch's IndexError."""


class LinAlgArgTypeError(LinAlgArgError, TypeError):
    """An option of the wrong kind where torch raises TypeError (matrix_norm's dim not a pair of
    axes): a LinAlgArgError, and torch's TypeError."""


def numpy_linalg(function, *args, **kwargs):
    """function(*args, **kwargs), a numpy.linalg routine; its TypeError for a dtype it has no
    routine for ("array type float16 is unsupported in linalg") as a LinAlgKernelError. An SVD
    goes through ``finite_svd``."""
    if function is np.linalg.svd:
        function = finite_svd
    try:
        return function(*args, **kwargs)
    except TypeError as err:
        if "unsupported in linalg" not in str(err):
            raise
        raise LinAlgKernelError(str(err)) from None


def finite_svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """np.linalg.svd, except for matrices holding infinities or nans, where OpenBLAS's gesdd
    can loop forever (a 3 x 3 with one inf): a matrix with a nan is torch's LinAlgError ("the
    algorithm failed to converge because the input matrix contained non-finite values"), one
    with infinities alone gets nan factors and values (what torch's LAPACK gives); the other
    matrices of a batch their own SVD."""
    a = np.asarray(a)
    if a.size == 0 or np.isfinite(a).all():
        return np.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv,
                             hermitian=hermitian)
    m, n = a.shape[-2:]
    batch = a.shape[:-2]
    bad = ~np.isfinite(a).reshape(batch + (-1,)).all(-1)
    nans = np.isnan(a).reshape(batch + (-1,)).any(-1)
    if nans.any():
        where = f"(Batch element {int(np.flatnonzero(nans.reshape(-1))[0])}): " if batch else ""
        raise LinAlgError(f"linalg.svd: {where}The algorithm failed to converge because the "
                          "input matrix contained non-finite values.")
    k = min(m, n)
    rows, cols = (m, n) if full_matrices else (k, k)
    real = np.finfo(a.dtype).dtype if a.dtype.kind == "c" else a.dtype
    values = np.full(batch + (k,), np.nan, real)
    u = np.full(batch + (m, rows), np.nan, a.dtype)
    vh = np.full(batch + (cols, n), np.nan, a.dtype)
    good = ~bad
    if good.any():  # (the finite matrices of a batch: their own SVD)
        done = np.linalg.svd(a[good], full_matrices=full_matrices, compute_uv=compute_uv,
                             hermitian=hermitian)
        if compute_uv:
            u[good], values[good], vh[good] = done
        else:
            values[good] = done
    return (u, values, vh) if compute_uv else values


def lapack_layout(x: np.ndarray) -> np.ndarray:
    """x laid out as torch's LAPACK results are: each matrix column-major (LAPACK's Fortran
    order), the batch row-major (strides (..., m * n, 1, m)); the values are x's."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(x, -1, -2)), -1, -2)


def _mT(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _mH(x: np.ndarray) -> np.ndarray:  # noqa: N802 - torch's name
    """x^H, the conjugate transpose (x^T for a real x, with no copy)."""
    return np.conj(_mT(x)) if x.dtype.kind == "c" else _mT(x)


def _conj(x: np.ndarray) -> np.ndarray:
    return np.conj(x) if x.dtype.kind == "c" else x


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def _dtype_of(x) -> np.dtype:
    return np.asarray(x.data if isinstance(x, Tensor) else x).dtype


def same_dtype(name: str, first: str, a, second: str, b) -> None:
    """torch's linear algebra takes no mixed dtypes: refuse two tensors whose dtypes differ."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        raise LinAlgDtypeError(f"{name}: expected {first} and {second} to have the same dtype, got "
                               f"{a.dtype} and {b.dtype}")


def _check_right_side(name: str, B, batches: tuple, operands: str) -> None:  # noqa: N803
    """What solve, solve_triangular and cholesky_solve check last: the operands' ``batches``
    broadcast (``operands`` names them and their shapes in the error), B is floating point."""
    try:
        np.broadcast_shapes(*batches)
    except ValueError:
        raise LinAlgArgError(f"{name}: the batch axes of {operands} cannot be broadcast") from None
    if _dtype_of(B).kind not in "fc":
        raise LinAlgDtypeError(f"{name}: expected a floating point B, got {_dtype_of(B)} (or a "
                               "complex one)")


def _matrices(name: str, x, square: bool = True, complex_ok: bool = False,
              half_ok: bool = False) -> tuple[int, ...]:
    """Check x is a float (``complex_ok``: or complex) (batch of) matrix (..., m, n), square if
    asked; its shape. float16 only with ``half_ok``: torch's LAPACK-backed kernels have none
    (NotImplementedError), even where dlpy's own code (substitution, Householder) could run."""
    shape = _shape_of(x)
    if len(shape) < 2:
        raise LinAlgArgError(f"{name}: expected a matrix or a batch of them (..., m, n), got shape "
                             f"{shape}")
    if square and shape[-1] != shape[-2]:
        raise LinAlgArgError(f"{name}: expected square matrices (..., n, n), got shape {shape}")
    dtype = _dtype_of(x)
    if dtype.kind != "f" and not (complex_ok and dtype.kind == "c"):
        raise LinAlgKernelError(f"{name}: expected a floating point tensor, got {dtype}")
    if dtype == np.float16 and not half_ok:
        raise LinAlgKernelError(f"{name}: not implemented for 'Half'")
    return shape


def _batch_element(function, a: np.ndarray) -> str:
    """' (batch element i)' for the first matrix of a batch that ``function`` fails on."""
    if a.ndim == 2:
        return ""
    for i, index in enumerate(np.ndindex(a.shape[:-2])):
        try:
            function(a[index])
        except np.linalg.LinAlgError:
            return f" (batch element {i})"
    return ""


def _lapack(name: str, problem: str, function, a: np.ndarray, *args):
    """function(a, *args), numpy's LinAlgError turned into one that names the op and the matrix:
    ``eig: the matrix is not diagonalisable (batch element 1)``."""
    try:
        return function(a, *args)
    except np.linalg.LinAlgError:
        # which matrix: the one function fails on alone (solve's: the A that inv fails on)
        where = _batch_element(np.linalg.inv if args else function, a)
        raise LinAlgError(f"{name}: the matrix is {problem}{where}") from None


def linalg_error_text(api: str, info: np.ndarray) -> str | None:
    """torch's text (its _linalg_check_errors) for the first matrix whose LAPACK ``info`` (...)
    is > 0, ``api`` the op's torch name: ``linalg.inv: (Batch element 1): The diagonal element 2
    is zero, ...``; None if every info is 0."""
    info = np.asarray(info)
    if not info.any():
        return None
    first = int(np.flatnonzero(info)[0])
    i = int(info.reshape(-1)[first])
    where = f": (Batch element {first})" if info.ndim else ""
    if "inv" in api:
        text = (f"The diagonal element {i} is zero, the inversion could not be completed because "
                "the input matrix is singular.")
    elif "solve" in api:
        text = "The solver failed because the input matrix is singular."
    elif "cholesky" in api:
        text = ("The factorization could not be completed because the input is not "
                f"positive-definite (the leading minor of order {i} is not positive-definite).")
    else:  # lu_factor
        text = (f"U[{i},{i}] is zero and using it on lu_solve would result in a division by "
                "zero. If you still want to perform the factorization, consider calling "
                "linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")
    return f"{api}{where}: {text}"


def _factorise(api: str, function, a: np.ndarray, *args):
    """function(a, *args) (numpy's inv, solve or cholesky), its LinAlgError turned into torch's
    for ``api``, with LAPACK's info of a (getrf's; potrf's for cholesky) found afresh."""
    try:
        result = numpy_linalg(function, a, *args)
        if "cholesky" in api and a.size and np.isnan(result).any():  # a nan pivot: LAPACK's
            diagonal = np.isnan(np.diagonal(result, 0, -2, -1))  # potrf stops there (info j)
            info = np.where(diagonal.any(-1), diagonal.argmax(-1) + 1, 0).astype(np.int32)
            if info.any():
                raise LinAlgError(linalg_error_text(api, info))
        return result
    except np.linalg.LinAlgError:
        from dlpy.ops.linalg_more import cholesky_info, lu_factor_numpy

        info = cholesky_info(a) if "cholesky" in api else lu_factor_numpy(a)[2]
        if not info.any():  # numpy's LAPACK saw a zero pivot that dlpy's LU does not
            info = np.zeros(a.shape[:-2], np.int32)
            alone = np.linalg.inv if args else function
            for k, index in enumerate(np.ndindex(a.shape[:-2])):
                try:
                    alone(a[index])
                except np.linalg.LinAlgError:
                    info.reshape(-1)[k] = a.shape[-1]
                    break
        raise LinAlgError(linalg_error_text(api, info)) from None


def _pack(*arrays: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """Arrays with the leading axes ``batch`` flattened side by side: (*batch, total)."""
    n = len(batch)
    return np.concatenate([a.reshape(batch + (math.prod(a.shape[n:]),)) for a in arrays], -1)


def _unpack(packed: np.ndarray, shapes) -> list[np.ndarray]:
    """The inverse of ``_pack`` (on numpy arrays: the packed gradient)."""
    batch, out, start = packed.shape[:-1], [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(packed[..., start:start + size].reshape(batch + tuple(shape)))
        start += size
    return out


def _split(packed: Tensor, shapes) -> tuple[Tensor, ...]:
    """The inverse of ``_pack`` on the packed output (slices, so each piece has a gradient)."""
    batch, out, start = packed.shape[:-1], [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(reshape(getitem(packed, (Ellipsis, slice(start, start + size))),
                           batch + tuple(shape)))
        start += size
    return tuple(out)


def _outputs(packed: Tensor, outputs: tuple) -> tuple:
    """``outputs`` (``_split(packed, ...)``'s pieces, in order, perhaps their real parts)
    as the outputs 0, 1, ... of packed's node, as torch's LinalgEighBackward0 and the like
    (ops/multi_output.py)."""
    from dlpy.ops.multi_output import group

    if packed.op is not None:
        batch, parts, start = packed.shape[:-1], [], 0
        for t in outputs:
            size = math.prod(t.shape[len(batch):])
            parts.append(((Ellipsis, slice(start, start + size)), tuple(t.shape)))
            start += size
        group(packed, outputs, parts)
    return outputs


def _flag(name: str, setting: str, value) -> bool:
    """value, a bool setting of the op ``name``; anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {setting} must be True or False, got {value!r}")
    return bool(value)


# ------------------------------------------------------------------ diagonals
def _diagonal_index(n_rows: int, n_cols: int, offset: int):
    """(rows, cols) of the offset-th diagonal of an n_rows x n_cols matrix."""
    length = max(0, min(n_rows + min(offset, 0), n_cols - max(offset, 0)))
    start = np.arange(length)
    return start - min(offset, 0), start + max(offset, 0)


def _empty_diagonal(x: np.ndarray, out: np.ndarray, offset: int, dim1: int, dim2: int):
    """``out``, the diagonal of an empty ``x``, with torch's strides (the other axes', then the
    sum of the two) and storage offset (the offset's step, none for an empty diagonal)."""
    from dlpy.ops.shape import empty_strides, empty_view

    strides = empty_strides(x)
    dim1, dim2 = dim1 % x.ndim, dim2 % x.ndim
    start = 0 if not out.shape[-1] else (
        offset * strides[dim2] if offset >= 0 else -offset * strides[dim1])
    kept = [n for axis, n in enumerate(strides) if axis != dim1 and axis != dim2]
    return empty_view(x, out, kept + [strides[dim1] + strides[dim2]], start)


class Diagonal(Op):
    """y = the offset-th diagonal of the (dim1, dim2) matrices, as a last axis;  dx = zeros with
    g written back onto that diagonal."""

    saves_tensors = False  # torch saves only sizes: a second backward works
    saves = ()  # (nor reads them: either may change in place, as torch's)

    complex_ok = True

    def __init__(self, offset: int, dim1: int, dim2: int, view: bool = False):
        self.offset, self.dim1, self.dim2, self.view = offset, dim1, dim2, view

    def forward(self, x):
        self.shape = x.shape
        out = np.diagonal(x, self.offset, self.dim1, self.dim2)
        if self.view and not x.size and type(x) is np.ndarray:
            return _empty_diagonal(x, out, self.offset, self.dim1, self.dim2)
        if self.view and x.flags.writeable:  # torch.diagonal: a view, writes reach x
            out.flags.writeable = True
            return out
        if self.view:  # of a read-only (expanded, unfolded) x: a read-only view, as its others
            return out
        return out.copy()

    def backward(self, grad_output):
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        view = np.moveaxis(grad, (self.dim1, self.dim2), (-2, -1))  # writes go to grad
        rows, cols = _diagonal_index(view.shape[-2], view.shape[-1], self.offset)
        view[..., rows, cols] = grad_output
        return (grad,)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.shape import transpose

        ndim = len(self.shape)
        rest = [i for i in range(ndim) if i not in (self.dim1, self.dim2)]
        m, n = self.shape[self.dim1], self.shape[self.dim2]
        rows, cols = _diagonal_index(m, n, self.offset)
        onto = np.zeros((m, n, len(rows)), dtype=grad_output.dtype)  # a constant selection
        onto[rows, cols, np.arange(len(rows))] = 1
        grad = (reshape(grad_output, grad_output.shape[:-1] + (1, 1, len(rows))) * onto).sum(-1)
        return (transpose(grad, tuple(np.argsort(rest + [self.dim1, self.dim2]))),)


class DiagEmbed(Op):
    """y = zeros with x's last axis on the offset-th diagonal of the (dim1, dim2) matrices of a
    new axis pair;  dx = that diagonal of g (Diagonal's adjoint)."""

    complex_ok = True
    saves = ()
    saves_tensors = False  # settings only, as torch's: a second backward works

    def __init__(self, offset: int, dim1: int, dim2: int):
        self.offset, self.dim1, self.dim2 = offset, dim1, dim2

    def forward(self, x):
        n = x.shape[-1] + abs(self.offset)
        y = np.zeros(x.shape[:-1] + (n, n), dtype=x.dtype)
        rows, cols = _diagonal_index(n, n, self.offset)
        y[..., rows, cols] = x
        # row-major whatever dim1 and dim2: torch writes into zeros of the result's shape
        return np.ascontiguousarray(np.moveaxis(y, (-2, -1), (self.dim1, self.dim2)))

    def backward(self, grad_output):
        return (np.diagonal(grad_output, self.offset, self.dim1, self.dim2),)

    def backward_graph(self, grad_output, output):
        return (Diagonal(self.offset, self.dim1, self.dim2)(grad_output),)


def _offset(name: str, offset) -> int:
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        if int_of(offset) is None:  # (a 0-d integer tensor is taken, as torch's)
            raise TypeError(f"{name}: offset must be an int, got {offset!r}")
        offset = int_of(offset)
    return int(offset)


def _two_dims(name: str, dim1, dim2, ndim: int) -> tuple[int, int]:
    dim1, dim2 = check_dim(name, dim1, ndim), check_dim(name, dim2, ndim)
    if dim1 == dim2:
        raise LinAlgArgError(f"{name}: dim1 and dim2 must be different axes, got {dim1} and {dim2}")
    return dim1, dim2


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """torch.diagonal: the offset-th diagonal (above the main one for offset > 0) of the
    matrices on axes (dim1, dim2), as a new last axis; the other axes stay in order."""
    shape = _shape_of(input)
    # torch wraps the dims first (a 0-d tensor's as a 1-D one's): with fewer than 2 axes either
    # a dim is out of range (IndexError) or the two are the same axis (RuntimeError)
    dim1, dim2 = _two_dims("diagonal", dim1, dim2, max(len(shape), 1))
    return Diagonal(_offset("diagonal", offset), dim1, dim2, view=True)(input)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """torch.diag_embed: the last axis of input (..., n) on the offset-th diagonal of new square
    matrices (n + |offset| on a side) on axes (dim1, dim2) of the result (one more axis)."""
    shape = _shape_of(input)
    if not shape:
        raise LinAlgDimError("diag_embed: expected at least 1 axis, got shape ()")
    dim1, dim2 = _two_dims("diag_embed", dim1, dim2, len(shape) + 1)
    return DiagEmbed(_offset("diag_embed", offset), dim1, dim2)(input)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.diag: a 1-D input becomes a square matrix with it on the diagonal-th diagonal; a
    2-D input gives its diagonal-th diagonal (1-D)."""
    shape = _shape_of(input)
    offset = _offset("diag", diagonal)
    if len(shape) == 1:
        return DiagEmbed(offset, 0, 1)(input)
    if len(shape) == 2:  # (torch's diagonal_copy: a tensor of its own)
        from dlpy.node_names import named

        return named(Diagonal(offset, 0, 1)(input), "DiagonalBackward0_copy")
    raise LinAlgArgError(f"diag: expected a 1-D or 2-D tensor, got shape {shape}")


@autocast_policy(FP32)
def trace(input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.trace: the sum of the main diagonal of a 2-D tensor (any m x n)."""
    from dlpy.ops.reduce import sum as _sum

    shape = _shape_of(input)
    if getattr(input, "dtype", None) == np.bool_:  # torch's dtype check comes first
        raise NotImplementedError("trace: not implemented for bool tensors, as torch")
    if len(shape) != 2:
        raise LinAlgArgError(f"trace: expected a 2-D tensor, got shape {shape}")
    out = _sum(Diagonal(0, 0, 1)(input))
    if out.op is not None:  # torch's one node: TraceBackward0
        from dlpy.node_names import rename

        rename(out.op, "TraceBackward0")
    return out


# ------------------------------------------------------------------ inverse, determinants, solve
def _swap(x: Tensor) -> Tensor:
    """x^T of a batch of matrices, recorded (for backward_graph)."""
    from dlpy.ops.shape import swapaxes

    return swapaxes(x, -1, -2)


def _swap_h(x: Tensor) -> Tensor:
    """x^H of a batch of matrices, recorded (x^T for a real x)."""
    from dlpy.ops.complex import conj

    return conj(_swap(x))


class Inv(Op):
    """y = A^-1;  dA = -y^H g y^H."""

    complex_ok = True
    saves = ("output",)  # read by backward (in-place checks, Op.saves): A may change after

    def forward(self, a):
        self.y = lapack_layout(_factorise("linalg.inv", np.linalg.inv, a))
        return self.y

    def backward(self, grad_output):
        y_t = _mH(self.y)
        return (-(y_t @ grad_output @ y_t),)

    def backward_graph(self, grad_output, output):
        y_t = _swap_h(output)
        return (-(y_t @ grad_output @ y_t),)


def _cofactor(a: np.ndarray) -> np.ndarray:
    """conj(det(A) A^-T) (det(A) A^-T for real A), also for a singular A: with A = U S V^H,
    conj(det(U) det(V^H)) U diag(prod of the other singular values) V^H, with no division."""
    if not np.isfinite(a).all():  # (an SVD there gives nan or fails: det(A) A^-T directly)
        with np.errstate(all="ignore"):
            try:
                inverse = np.linalg.inv(a)
            except np.linalg.LinAlgError:
                inverse = np.full(a.shape, np.nan, a.dtype)
            return _conj(np.linalg.det(a)[..., None, None] * _mT(inverse))
    u, s, vh = np.linalg.svd(a)
    ones = np.ones_like(s[..., :1])
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)  # s_0 ... s_(i-1)
    after = np.flip(np.cumprod(np.concatenate([ones, np.flip(s[..., 1:], -1)], -1), -1), -1)
    sign = _conj(np.linalg.det(u) * np.linalg.det(vh))
    return sign[..., None, None] * ((u * (before * after)[..., None, :]) @ vh)


class Det(Op):
    """y = det(A);  dA = g * conj(cofactor(A)) (= g conj(det(A)) A^-H; from an SVD, so a
    singular A has its true gradient)."""

    complex_ok = True

    def forward(self, a):
        self.a = a
        return numpy_linalg(np.linalg.det, a)

    def backward(self, grad_output):
        return (np.asarray(grad_output)[..., None, None] * _cofactor(self.a),)

    def backward_graph(self, grad_output, output):
        # torch's linalg_det_backward: g conj(det(A)) A^-H where |det(A)| >= eps of the dtype,
        # the SVD's cofactors (_singular_det_grad) where it is smaller, the two joined per matrix
        from dlpy.ops.indexing import index_put

        a = self.inputs[0]
        singular = np.abs(output.data) < np.finfo(a.data.dtype).eps
        if singular.all():
            return (_singular_det_grad(grad_output, a),)
        if singular.any():
            mask = Tensor(singular)
            grads = self._nonsingular(grad_output[~mask], output[~mask], a[~mask])
            return (index_put(grads.new_zeros(a.shape).index_put((~mask,), grads), (mask,),
                              _singular_det_grad(grad_output[mask], a[mask])),)
        return (self._nonsingular(grad_output, output, a),)

    @staticmethod
    def _nonsingular(grad_output, output, a):
        from dlpy.ops.complex import conj

        scale = (grad_output * conj(output)).reshape(output.shape + (1, 1))
        return scale * _swap_h(Inv()(a))


def _singular_det_grad(grad_output: Tensor, a: Tensor) -> Tensor:
    """det's gradient g conj(cofactor(A)) recorded through an SVD A = U S V^H, as torch's for
    an A whose |det| is below eps: alpha = conj(det(U) det(V^H)), (U * D) V^H with D_i = g alpha
    prod_(j != i) S_j (torch's prod_safe_zeros_backward: exclusive products from both ends, no
    division, so a zero singular value is no nan)."""
    from dlpy.ops.complex import conj
    from dlpy.ops.cumulative import cumprod
    from dlpy.ops.rearrange import flip
    from dlpy.ops.shape import concat

    u, s, vh = svd(a)
    alpha = conj(Det()(u) * Det()(vh))
    scale = (grad_output * alpha).unsqueeze(-1)
    if s.shape[-1] == 0:
        return u @ vh
    ones = s.new_ones(s.shape[:-1] + (1,))
    before = cumprod(concat([ones, s[..., :-1]], -1), -1)
    after = flip(cumprod(concat([ones, flip(s[..., 1:], (-1,))], -1), -1), (-1,))
    d = scale * conj(before * after)
    return (u * d.unsqueeze(-2)) @ vh


class LogAbsDet(Op):
    """y = log|det(A)| (real);  dA = g A^-H (inf/nan where A is singular)."""

    complex_ok = True

    def forward(self, a):
        self.a = a
        return numpy_linalg(np.linalg.slogdet, a)[1]

    def backward(self, grad_output):
        try:
            inverse_t = _mH(np.linalg.inv(self.a))
        except np.linalg.LinAlgError:  # log|det| is -inf there: its gradient is not finite
            with np.errstate(divide="ignore", invalid="ignore"):
                inverse_t = _cofactor(self.a) / _conj(np.linalg.det(self.a))[..., None, None]
        return (np.asarray(grad_output)[..., None, None] * inverse_t,)

    def backward_graph(self, grad_output, output):
        # g A^-H: an invertible A only (a singular one is inv's LinAlgError here)
        return (grad_output.reshape(output.shape + (1, 1)) * _swap_h(Inv()(self.inputs[0])),)


class DetSign(Op):
    """s = det(A) / |det(A)| of complex A (slogdet's sign);  with theta = Im(log det A),
    ds = i s dtheta: dA = i Im(conj(s) g) A^-H (torch's slogdet_backward for the sign). A
    real A's sign (+-1 or 0) has a zero gradient."""

    complex_ok = True

    def forward(self, a):
        self.a = a
        self.sign = numpy_linalg(np.linalg.slogdet, a)[0]
        return self.sign

    def backward(self, grad_output):
        if self.a.dtype.kind != "c":  # a real A's sign: piecewise constant
            return (np.zeros_like(self.a),)
        scale = 1j * np.asarray(np.conj(self.sign) * grad_output).imag
        return (scale[..., None, None] * _mH(np.linalg.inv(self.a)),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.complex import conj, imag

        if output.dtype.kind != "c":
            return (self.inputs[0] * 0,)

        scale = imag(conj(output) * grad_output) * 1j
        return (scale.reshape(output.shape + (1, 1)) * _swap_h(Inv()(self.inputs[0])),)


class Solve(Op):
    """X = A^-1 B (B (..., n, k), batch axes broadcast);  dB = A^-H g,  dA = -dB X^H.
    ``vector``: B and X are (..., n)."""

    complex_ok = True
    saves = (0, "output")  # read by backward (in-place checks, Op.saves): B may change after

    def __init__(self, vector: bool):
        self.vector = vector

    def forward(self, a, b):
        if self.vector:
            b = b[..., None]
        self.a = a
        self.x = _factorise("torch.linalg.solve", np.linalg.solve, a, b)
        if self.vector and self.x.ndim == 2:  # a single vector
            return self.x[..., 0]
        # (a batch of vectors comes out as torch's: column-major in its last two axes)
        return lapack_layout(self.x[..., 0] if self.vector else self.x)

    def backward(self, grad_output):
        g = grad_output[..., None] if self.vector else grad_output
        b_grad = np.linalg.solve(_mH(self.a), g)
        a_grad = -(b_grad @ _mH(self.x)) if self.inputs[0].requires_grad else None
        return a_grad, b_grad[..., 0] if self.vector else b_grad

    def backward_graph(self, grad_output, output):
        a = self.inputs[0]
        g, x = grad_output, output
        if self.vector:
            g, x = g.reshape(g.shape + (1,)), x.reshape(x.shape + (1,))
        b_grad = Solve(False)(_swap_h(a), g)
        a_grad = -(b_grad @ _swap_h(x)) if a.requires_grad else None
        return a_grad, b_grad.reshape(b_grad.shape[:-1]) if self.vector else b_grad


@autocast_policy(FP32)
def inv(A: Tensor) -> Tensor:  # noqa: N803 - PyTorch's names
    """torch.linalg.inv: A^-1 of square matrices (..., n, n); a singular one is a LinAlgError
    (a ValueError) naming it."""
    _matrices("inv", A, complex_ok=True)
    return Inv()(A)


def det(A: Tensor) -> Tensor:  # noqa: N803
    """torch.linalg.det: det(A) of (..., n, n) -> (...)."""
    _matrices("det", A, complex_ok=True)
    return Det()(A)


class SlogdetResult(NamedTuple):
    """torch.return_types.linalg_slogdet: the sign (no gradient) and log|det A|."""

    _torch_name = "linalg_slogdet"  # torch.return_types.linalg_slogdet
    __repr__ = structseq_repr

    sign: Tensor
    logabsdet: Tensor


def slogdet(A: Tensor) -> SlogdetResult:  # noqa: N803
    """torch.linalg.slogdet: (sign, logabsdet) with det(A) = sign * exp(logabsdet); sign is 0
    and logabsdet -inf for a singular A. logabsdet has a gradient (A^-H), and so has the sign of
    a complex A (det / |det|; a real A's sign is a constant)."""
    from dlpy.ops.complex import mark

    _matrices("slogdet", A, complex_ok=True)
    if _dtype_of(A).kind == "c":  # the sign det / |det| is complex and has a gradient
        return SlogdetResult(mark(DetSign()(A)), LogAbsDet()(A))
    if isinstance(A, Tensor) and (A.requires_grad or A.is_meta):  # recorded, as torch's (a
        # zero gradient), one node for both; a meta A's sign is a meta tensor of its shape
        from dlpy.ops.multi_output import join

        return SlogdetResult(*join("LinalgSlogdetBackward0", (DetSign()(A), LogAbsDet()(A))))
    sign = numpy_linalg(np.linalg.slogdet, A.data if isinstance(A, Tensor) else np.asarray(A))[0]
    return SlogdetResult(Tensor(np.asarray(sign)), LogAbsDet()(A))


def _is_vector_rhs(a_shape, b_shape) -> bool:
    """torch.linalg.solve's rule: B is a (batch of) vector(s) if it is 1-D, or has one axis
    fewer than A and A's shape without its last axis."""
    return len(b_shape) == 1 or (len(b_shape) == len(a_shape) - 1
                                 and tuple(b_shape) == tuple(a_shape[:-1]))


@autocast_policy(FP32)
def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:  # noqa: N803
    """torch.linalg.solve: X with A X = B (``left=False``: X A = B); A (..., n, n), B (..., n, k)
    or a vector (..., n) (torch's rule; not with ``left=False``), batch axes broadcast; a number
    or a list for B is torch's TypeError. A singular A is a LinAlgError."""
    from dlpy.ops.shape import swapaxes

    a_shape = _matrices("solve", A, complex_ok=True)
    if isinstance(B, (bool, int, float, complex, list, tuple)):  # torch takes tensors only
        raise LinAlgArgTypeError(f"linalg_solve(): argument 'B' (position 2) must be Tensor, "
                                 f"not {type(B).__name__}")
    b_shape = _shape_of(B)
    if not _flag("solve", "left", left):  # X A = B is A^T X^T = B^T
        if _is_vector_rhs(a_shape, b_shape):  # torch: a vector B never fits X A = B
            raise LinAlgArgError(f"solve: with left=False, B must be (..., k, {a_shape[-1]}), got "
                                 f"shape {b_shape}")
        return swapaxes(solve(swapaxes(A, -1, -2), swapaxes(B, -1, -2)), -1, -2)
    vector = _is_vector_rhs(a_shape, b_shape)
    n = a_shape[-1]
    if (not vector and len(b_shape) < 2) or b_shape[-1 if vector else -2] != n:
        raise LinAlgArgError(f"solve: A {a_shape} and B {b_shape} do not fit A X = B (B must be "
                             f"(..., {n}, k) or (..., {n}))")
    batch_b = b_shape[:-1] if vector else b_shape[:-2]
    _check_right_side("solve", B, (a_shape[:-2], batch_b), f"A {a_shape} and B {b_shape}")
    same_dtype("solve", "A", A, "B", B)
    return Solve(vector)(A, B)


def _substitute(a: np.ndarray, b: np.ndarray, upper: bool, unitriangular: bool) -> np.ndarray:
    """X = T^-1 B by substitution over the n rows (vectorised over the batch and the k columns),
    T the upper or lower triangle of a (..., n, n) (its diagonal taken as ones if
    ``unitriangular``), so the other triangle is never read; B (..., n, k), batch axes broadcast."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    n, k = b.shape[-2:]
    if batch and math.prod(a.shape[:-2]) == 1:  # one matrix: B's batch becomes more columns
        columns = np.moveaxis(np.broadcast_to(b, batch + (n, k)), -2, 0)
        x = _substitute(a.reshape(n, n), columns.reshape(n, math.prod(batch) * k), upper,
                        unitriangular)
        return np.moveaxis(x.reshape((n,) + batch + (k,)), 0, -2)
    a, b = np.broadcast_to(a, batch + (n, n)), np.broadcast_to(b, batch + (n, k))
    x = np.empty(batch + (n, k), dtype=np.result_type(a, b))
    for i in range(n - 1, -1, -1) if upper else range(n):
        known = slice(i + 1, n) if upper else slice(0, i)  # the rows of X already solved
        row = b[..., i, :] - (a[..., i:i + 1, known] @ x[..., known, :])[..., 0, :]
        x[..., i, :] = row if unitriangular else row / a[..., i, i, None]
    return x


class SolveTriangular(Op):
    """X = T^-1 B with T the upper (``upper``) or lower triangle of A (..., n, n), unit diagonal
    if ``unitriangular``, and B (..., n, k), batch axes broadcast;  dB = T^-H g,
    dA = -(dB X^H) on T's triangle (off the diagonal if ``unitriangular``). X is laid out as
    torch's (``lapack_layout``), or row-major if not ``column_major``."""

    complex_ok = True

    def __init__(self, upper: bool, unitriangular: bool, column_major: bool = True):
        self.upper, self.unitriangular = upper, unitriangular
        self.column_major = column_major

    def forward(self, a, b):
        if not self.unitriangular and not np.diagonal(a, 0, -2, -1).all():
            zero = (np.diagonal(a, 0, -2, -1) == 0).any(-1)
            where = f" (batch element {np.flatnonzero(zero)[0]})" if a.ndim > 2 else ""
            raise LinAlgError(f"solve_triangular: the matrix is singular: a zero on its "
                              f"diagonal{where}")
        self.a = a
        self.x = _substitute(a, b, self.upper, self.unitriangular)
        if self.column_major:
            self.x = lapack_layout(self.x)
        return self.x

    def backward(self, grad_output):
        # T^H is the other kind of triangle, read from the same entries of A
        b_grad = _substitute(_mH(self.a), grad_output, not self.upper, self.unitriangular)
        a_grad = None
        if self.inputs[0].requires_grad:
            a_grad = -(b_grad @ _mH(self.x))
            offset = 1 if self.unitriangular else 0
            a_grad = np.triu(a_grad, offset) if self.upper else np.tril(a_grad, -offset)
        return a_grad, b_grad

    def backward_graph(self, grad_output, output):
        from dlpy.ops.rearrange import Triangle

        a = self.inputs[0]
        b_grad = SolveTriangular(not self.upper, self.unitriangular)(_swap_h(a), grad_output)
        a_grad = None
        if a.requires_grad:
            offset = 1 if self.unitriangular else 0
            a_grad = Triangle(offset if self.upper else -offset, self.upper)(
                -(b_grad @ _swap_h(output)))
        return a_grad, b_grad


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,  # noqa: N803
                     unitriangular: bool = False) -> Tensor:
    """torch.linalg.solve_triangular: X with T X = B (``left=False``: X T = B), T the upper
    (``upper=True``) or lower triangle of A (..., n, n), the other triangle not read, with ones
    on the diagonal if ``unitriangular``; B (..., n, k) (left=False: (..., k, n)), batch axes
    broadcast. A zero on T's diagonal is a LinAlgError (torch gives inf/nan)."""
    from dlpy.ops.shape import swapaxes

    a_shape = _matrices("solve_triangular", A, complex_ok=True)
    b_shape = _shape_of(B)
    upper = _flag("solve_triangular", "upper", upper)
    left = _flag("solve_triangular", "left", left)
    unitriangular = _flag("solve_triangular", "unitriangular", unitriangular)
    n = a_shape[-1]
    if len(b_shape) < 2:
        raise LinAlgArgError(f"solve_triangular: expected B to be matrices (..., n, k), got shape "
                             f"{b_shape}")
    if b_shape[-2 if left else -1] != n:
        raise LinAlgArgError(f"solve_triangular: A {a_shape} and B {b_shape} do not fit "
                             + (f"A X = B (B must be (..., {n}, k))" if left else
                                f"X A = B (B must be (..., k, {n}))"))
    _check_right_side("solve_triangular", B, (a_shape[:-2], b_shape[:-2]),
                      f"A {a_shape} and B {b_shape}")
    if (isinstance(A, Tensor) and isinstance(B, Tensor) and A.dtype != B.dtype
            and (B.dtype.kind != "c" or A.dtype.kind == "c")):
        B = B.to(A.dtype)  # noqa: N806 - torch solves in A's dtype
    if not left:  # X T = B is T^T X^T = B^T, T^T the other kind of triangle
        op = SolveTriangular(not upper, unitriangular, column_major=False)  # X^T row-major:
        return swapaxes(op(swapaxes(A, -1, -2), swapaxes(B, -1, -2)), -1, -2)  # X as torch's
    return SolveTriangular(upper, unitriangular)(A, B)


# ------------------------------------------------------------------ factorisations
def _nonzero(divisor: Tensor, used: bool) -> Tensor:
    """divisor, or with its zeros made ones where the gradient it divides is all zero (unused:
    the quotient is then 0, as backward's skipped term, not nan)."""
    return divisor if used else divisor + (divisor.data == 0).astype(divisor.dtype)


class Cholesky(Op):
    """L with A = L L^H (reads A's lower triangle);  dA = L^-H Phi(L^H gL) L^-1, Phi taking the
    lower triangle mirrored (conjugated) with half the diagonal (torch's gradient). ``upper``:
    U = L^H from A's upper triangle (L of A^H), the same dA with L = U^H, gL = gU^H (torch's:
    not the conjugate transpose of the lower one's for complex A)."""

    complex_ok = True

    def __init__(self, upper: bool = False):
        self.upper = upper

    def forward(self, a):
        self.l = _factorise("linalg.cholesky", np.linalg.cholesky, _mH(a) if self.upper else a)
        return lapack_layout(_mH(self.l) if self.upper else self.l)

    def backward(self, grad_output):
        if self.upper:
            grad_output = _mH(grad_output)
        phi = np.tril(_mH(self.l) @ grad_output)
        phi = 0.5 * (phi + _mH(np.tril(phi, -1)))
        l_inv = np.linalg.inv(self.l)
        return (_mH(l_inv) @ phi @ l_inv,)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.rearrange import Triangle

        if self.upper:
            output, grad_output = _swap_h(output), _swap_h(grad_output)
        phi = Triangle(0, False)(_swap_h(output) @ grad_output)
        phi = (phi + _swap_h(Triangle(-1, False)(phi))) * 0.5
        l_inv = Inv()(output)
        return (_swap_h(l_inv) @ phi @ l_inv,)


@autocast_policy(FP32)
def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:  # noqa: N803
    """torch.linalg.cholesky: lower-triangular L with A = L L^T for symmetric positive-definite
    A, reading its lower triangle; ``upper=True`` gives U = L^H with A = U^H U, reading the
    upper triangle (as torch, and torch's gradient). Not positive-definite: a LinAlgError."""
    _matrices("cholesky", A, complex_ok=True)
    return Cholesky(_flag("cholesky", "upper", upper))(A)


class QRResult(NamedTuple):
    """torch.return_types.linalg_qr."""

    _torch_name = "linalg_qr"  # torch.return_types.linalg_qr
    __repr__ = structseq_repr

    Q: Tensor
    R: Tensor


class QR(Op):
    """(Q, R) packed, A = QR. With M = gR R^H - Q^H gQ: for m >= n,
    dA = (gQ + Q copyu(M)) R^-H (copyu: M's upper triangle mirrored, conjugated, with the real
    part of its diagonal); for m < n, dA = [Q tril(M^H - M) R1^-H, 0] + Q gR with R1 the first
    m columns of R (the diagonal of tril(M^H - M) halved)."""

    complex_ok = True

    def __init__(self, mode: str):
        self.mode = mode

    def forward(self, a):
        self.q, self.r = numpy_linalg(np.linalg.qr, a,
                                      mode="reduced" if self.mode == "r" else self.mode)
        return _pack(self.q, self.r, batch=a.shape[:-2])

    def _check_mode(self):
        if self.mode == "r":  # torch: the gradient needs Q, which mode='r' does not return
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                               "when mode='r'. Please use linalg.qr(A, mode='reduced') if you "
                               "are going to differentiate through linalg.qr.")

    def backward(self, grad_output):
        self._check_mode()
        q, r = self.q, self.r
        g_q, g_r = _unpack(grad_output, (q.shape[-2:], r.shape[-2:]))
        m, n = q.shape[-2], r.shape[-1]
        if self.mode == "complete" and m > n:
            raise NotImplementedError("qr: the QR decomposition is not differentiable when "
                                      "mode='complete' and A has more rows than columns")
        mixed = g_r @ _mH(r) - _mH(q) @ g_q
        if m >= n:
            upper = np.triu(mixed)
            sym = upper + _mH(upper) - upper.real * np.eye(n, dtype=r.real.dtype)
            grad = q @ sym + g_q
            return (_mH(np.linalg.solve(r, _mH(grad))),)  # grad R^-H
        skew = np.tril(_mH(mixed) - mixed)
        if skew.dtype.kind == "c":  # its diagonal, -2i Im(M_ii), counts half
            skew = skew - 0.5 * skew * np.eye(m, dtype=r.real.dtype)
        head = _mH(np.linalg.solve(r[..., :m], _mH(q @ skew)))  # (q skew) R1^-H
        grad = q @ g_r
        grad[..., :m] += head
        return (grad,)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.pad import pad
        from dlpy.ops.rearrange import Triangle

        # as backward, recorded (complex: X^H for X^T)
        self._check_mode()
        m, n = self.inputs[0].shape[-2:]
        k = m if self.mode == "complete" else min(m, n)
        q, r = _split(output, ((m, k), (k, n)))
        g_q, g_r = _split(grad_output, ((m, k), (k, n)))
        if self.mode == "complete" and m > n:
            raise NotImplementedError("qr: the QR decomposition is not differentiable when "
                                      "mode='complete' and A has more rows than columns")
        mixed = g_r @ _swap_h(r) - _swap_h(q) @ g_q
        if m >= n:
            upper = Triangle(0, True)(mixed)
            both = upper + _swap_h(upper)  # the real part of the diagonal twice
            sym = both - both * (0.5 * np.eye(n, dtype=output.dtype))
            return (_swap_h(Solve(False)(r, _swap_h(q @ sym + g_q))),)  # (...) R^-H
        skew = Triangle(0, False)(_swap_h(mixed) - mixed)
        skew = skew - skew * (0.5 * np.eye(m, dtype=output.dtype))  # its diagonal counts half
        head = _swap_h(Solve(False)(getitem(r, (Ellipsis, slice(0, m))), _swap_h(q @ skew)))
        return (q @ g_r + pad(head, (0, n - m)),)


@autocast_policy(FP32)
def qr(A: Tensor, mode: str = "reduced") -> QRResult:  # noqa: N803
    """torch.linalg.qr: A (..., m, n) = Q R with Q's columns orthonormal and R upper-triangular;
    ``reduced`` Q (m, k), R (k, n) with k = min(m, n); ``complete`` Q (m, m), R (m, n)
    (differentiable only when m <= n, as torch); ``r``: R as reduced's, Q an empty tensor."""
    shape = _matrices("qr", A, square=False, complex_ok=True)
    if mode not in ("reduced", "complete", "r"):
        raise LinAlgArgError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    m, n = shape[-2:]
    k = m if mode == "complete" else min(m, n)
    packed = QR(mode)(A)
    q, r = _split(packed, [(m, k), (k, n)])
    if mode == "r":  # R alone; its backward raises, as torch's. Q: empty, in the graph
        return QRResult(getitem(packed.reshape(-1), slice(0, 0)), r)
    return QRResult(*_outputs(packed, (q, r)))


class EighResult(NamedTuple):
    """torch.return_types.linalg_eigh."""

    _torch_name = "linalg_eigh"  # torch.return_types.linalg_eigh
    __repr__ = structseq_repr

    eigenvalues: Tensor
    eigenvectors: Tensor


class Eigh(Op):
    """(L, V) packed, A = V diag(L) V^H in ascending L (reads one triangle of A);
    dA = V (diag(gL) + skew(V^H gV) / E) V^H with skew(X) = (X - X^H) / 2 and
    E_ij = L_j - L_i: eigenvalues must be distinct where gV is not zero (complex A: the loss
    must not depend on the vectors' phases, as torch checks)."""

    complex_ok = True

    def __init__(self, uplo: str):
        self.uplo = uplo

    def forward(self, a):
        self.values, self.vectors = numpy_linalg(np.linalg.eigh, a, UPLO=self.uplo)
        return _pack(self.values, self.vectors, batch=a.shape[:-2])

    def backward(self, grad_output):
        values, vectors = self.values, self.vectors
        n = values.shape[-1]
        g_values, g_vectors = _unpack(grad_output, ((n,), (n, n)))
        inner = g_values[..., :, None] * np.eye(n, dtype=values.dtype)
        if g_vectors.any():  # an unused V adds nothing, also for repeated eigenvalues
            product = _mH(vectors) @ g_vectors
            if product.dtype.kind == "c":
                _check_phase("eigh", "eigenvectors",
                             np.diagonal(product, 0, -2, -1).imag)
            gaps = values[..., None, :] - values[..., :, None] + np.eye(n, dtype=values.dtype)
            inner = inner + 0.5 * (product - _mH(product)) / gaps
        return (vectors @ inner @ _mH(vectors),)

    def backward_graph(self, grad_output, output):
        # as backward, recorded; complex: the skew-Hermitian part of V^H gV off the diagonal
        # (torch's diagonal is gL alone), the phase check as backward's
        from dlpy.ops.complex import real

        n = self.inputs[0].shape[-1]
        values, vectors = _split(output, ((n,), (n, n)))
        g_values, g_vectors = _split(grad_output, ((n,), (n, n)))
        values, g_values = real(values), real(g_values)  # L is real (packed as complex here)
        eye = np.eye(n, dtype=output.dtype)
        inner = g_values.reshape(g_values.shape + (1,)) * eye
        used = bool(g_vectors.data.any())
        if used or g_vectors.requires_grad:  # an all-zero gV that depends on something adds
            product = _swap_h(vectors) @ g_vectors  # nothing, but its derivative counts
            if product.data.dtype.kind == "c":
                _check_phase("eigh", "eigenvectors",
                             np.diagonal(product.data, 0, -2, -1).imag)
            gaps = _nonzero((values.reshape(values.shape[:-1] + (1, n))
                             - values.reshape(values.shape + (1,)) + eye), used)
            inner = inner + (product - _swap_h(product)) * (0.5 * (1 - eye)) / gaps
        return (vectors @ inner @ _swap_h(vectors),)


def _check_phase(name: str, what: str, imaginary: np.ndarray) -> None:
    """torch's check that a loss of complex eigen- or singular vectors does not depend on their
    phases: ``imaginary`` (the imaginary part of diag(V^H gV), or its analogue) must be ~0."""
    if not np.allclose(imaginary, 0, rtol=1e-2, atol=1e-2):
        raise RuntimeError(
            f"{name} backward: the {what} of a complex matrix are specified up to "
            "multiplication by e^{i phi}; the loss depends on this phase, so its gradient is "
            "ill-defined (use |V|, V V^H or the values; not Re(V))")


def _uplo(name: str, uplo) -> str:
    """'L' or 'U' (either case, as torch's)."""
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U"):
        raise LinAlgArgError(f"{name}: UPLO must be 'L' or 'U', got {uplo!r}")
    return uplo.upper()


@autocast_policy(FP32)
def eigh(A: Tensor, UPLO: str = "L") -> EighResult:  # noqa: N803
    """torch.linalg.eigh: eigenvalues (ascending, (..., n)) and orthonormal eigenvectors (the
    columns of (..., n, n)) of symmetric A, read from its lower (``UPLO='L'``) or upper
    triangle. Each eigenvector's sign is LAPACK's (numpy's and torch's may differ). Gradients as
    torch's: symmetric, and inf/nan through V where eigenvalues repeat."""
    from dlpy.ops.complex import mark, real

    shape = _matrices("eigh", A, complex_ok=True)
    n = shape[-1]
    packed = Eigh(_uplo("eigh", UPLO))(A)
    values, vectors = _split(packed, [(n,), (n, n)])
    if _dtype_of(A).kind == "c":  # packed beside the complex vectors: real again
        return EighResult(*_outputs(packed, (real(mark(values)), mark(vectors))))
    return EighResult(*_outputs(packed, (values, vectors)))


class Eigvalsh(Op):
    """L, the eigenvalues of symmetric (Hermitian) A;  dA = V diag(g) V^H (fine for repeated
    ones)."""

    complex_ok = True

    def __init__(self, uplo: str):
        self.uplo = uplo

    def forward(self, a):
        values, self.vectors = numpy_linalg(np.linalg.eigh, a, UPLO=self.uplo)
        return values

    def backward(self, grad_output):
        v = self.vectors
        return ((v * grad_output[..., None, :]) @ _mH(v),)

    def backward_graph(self, grad_output, output):
        # V recomputed by a recorded eigh, so that its derivative (distinct eigenvalues) enters
        n = self.inputs[0].shape[-1]
        v = _split(Eigh(self.uplo)(self.inputs[0]), ((n,), (n, n)))[1]
        return ((v * grad_output.reshape(grad_output.shape[:-1] + (1, n))) @ _swap_h(v),)


@autocast_policy(FP32)
def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:  # noqa: N803
    """torch.linalg.eigvalsh: the eigenvalues of symmetric A in ascending order, (..., n)."""
    _matrices("eigvalsh", A, complex_ok=True)
    return Eigvalsh(_uplo("eigvalsh", UPLO))(A)


class SVDResult(NamedTuple):
    """torch.return_types.linalg_svd."""

    _torch_name = "linalg_svd"  # torch.return_types.linalg_svd
    __repr__ = structseq_repr

    U: Tensor
    S: Tensor
    Vh: Tensor


def _svd_shapes(shape, full_matrices: bool):
    """The shapes of U, S and Vh of one matrix of a (..., m, n) input."""
    m, n = shape[-2:]
    k = min(m, n)
    return ((m, m), (k,), (n, n)) if full_matrices else ((m, k), (k,), (k, n))


class SVD(Op):
    """(U, S, Vh) packed, A = U diag(S) Vh. Backward as torch's svd_backward on the first
    k = min(m, n) columns of U and rows of Vh (their other ones carry no gradient):
    dA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] Vh, skew(X) = X - X^T,
    E_ij = S_j^2 - S_i^2, plus (I - U U^T) gU S^-1 Vh for m > k and U S^-1 gVh (I - V V^T) for
    n > k; singular values must be distinct (and non-zero) where gU or gVh is not zero. Complex
    A: X^H for X^T, plus i Im(diag(U^H gU)) / S on the diagonal, and torch's check that the loss
    does not depend on the vectors' phases."""

    complex_ok = True

    def __init__(self, full_matrices: bool):
        self.full_matrices = full_matrices

    def forward(self, a):
        self.u, self.s, self.vh = numpy_linalg(np.linalg.svd, a,
                                               full_matrices=self.full_matrices)
        return _pack(self.u, self.s, self.vh, batch=a.shape[:-2])

    def backward(self, grad_output):
        g_u, g_s, g_vh = _unpack(grad_output, (self.u.shape[-2:], self.s.shape[-1:],
                                               self.vh.shape[-2:]))
        s = self.s
        k = s.shape[-1]
        u, vh = self.u[..., :k], self.vh[..., :k, :]
        g_u, g_vh = g_u[..., :k], g_vh[..., :k, :]
        m, n = u.shape[-2], vh.shape[-1]
        use_u, use_vh = bool(g_u.any()), bool(g_vh.any())
        inner = g_s[..., :, None] * np.eye(k, dtype=s.dtype)
        if use_u or use_vh:
            squares = s * s
            gaps = squares[..., None, :] - squares[..., :, None] + np.eye(k, dtype=s.dtype)
            skew_u = skew_v = 0
            if use_u:
                product = _mH(u) @ g_u
                skew_u = product - _mH(product)
                inner = inner + skew_u * s[..., None, :] / gaps
            if use_vh:
                product = vh @ _mH(g_vh)
                skew_v = product - _mH(product)
                inner = inner + s[..., :, None] * skew_v / gaps
            if u.dtype.kind == "c":
                # the phases: U -> U D, V -> V D leave A alone; the loss must not see them
                diagonal_u, diagonal_v = (np.diagonal(x, 0, -2, -1) if use else 0
                                          for x, use in ((skew_u, use_u), (skew_v, use_vh)))
                _check_phase("svd", "singular vectors", np.imag(diagonal_u + diagonal_v))
                if use_u:
                    inner = inner + (diagonal_u / (2 * s))[..., None] * np.eye(k, dtype=s.dtype)
        grad = u @ inner @ vh
        if m > k and use_u:
            g_u_scaled = g_u / s[..., None, :]
            grad = grad + (g_u_scaled - u @ (_mH(u) @ g_u_scaled)) @ vh
        if n > k and use_vh:
            g_vh_scaled = g_vh / s[..., :, None]
            grad = grad + u @ (g_vh_scaled - (g_vh_scaled @ _mH(vh)) @ vh)
        return (grad,)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.complex import real

        shapes = _svd_shapes(self.inputs[0].shape, self.full_matrices)
        u, s, vh = _split(output, shapes)
        g_u, g_s, g_vh = _split(grad_output, shapes)
        s, g_s = real(s), real(g_s)  # S is real (packed as complex here)
        (m, _), (k,), (_, n) = shapes
        first_k, first_k_rows = (Ellipsis, slice(0, k)), (Ellipsis, slice(0, k), slice(None))
        u, vh = getitem(u, first_k), getitem(vh, first_k_rows)
        g_u, g_vh = getitem(g_u, first_k), getitem(g_vh, first_k_rows)
        # as backward, with the terms of an all-zero gU or gVh that depends on something kept
        # (they add nothing, but their derivatives count), its divisors' zeros made ones
        used_u, used_vh = bool(g_u.data.any()), bool(g_vh.data.any())
        use_u, use_vh = used_u or g_u.requires_grad, used_vh or g_vh.requires_grad
        eye = np.eye(k, dtype=output.dtype)
        column, row = s.shape + (1,), s.shape[:-1] + (1, k)  # s as (..., k, 1) and (..., 1, k)
        inner = g_s.reshape(column) * eye
        if use_u or use_vh:
            squares = s * s
            gaps = _nonzero(squares.reshape(row) - squares.reshape(column) + eye,
                            used_u or used_vh)
            skew_u = skew_v = None
            if use_u:
                product = _swap_h(u) @ g_u
                skew_u = product - _swap_h(product)
                inner = inner + skew_u * s.reshape(row) / gaps
            if use_vh:
                product = vh @ _swap_h(g_vh)
                skew_v = product - _swap_h(product)
                inner = inner + s.reshape(column) * skew_v / gaps
            if output.data.dtype.kind == "c":  # the phases, as backward
                diagonals = [np.diagonal(x.data, 0, -2, -1) for x in (skew_u, skew_v)
                             if x is not None]
                _check_phase("svd", "singular vectors", np.imag(sum(diagonals)))
                if use_u:
                    inner = inner + skew_u * eye / (2 * _nonzero(s.reshape(row), used_u))
        grad = u @ inner @ vh
        if m > k and use_u:
            g_u_scaled = g_u / _nonzero(s.reshape(row), used_u)
            grad = grad + (g_u_scaled - u @ (_swap_h(u) @ g_u_scaled)) @ vh
        if n > k and use_vh:
            g_vh_scaled = g_vh / _nonzero(s.reshape(column), used_vh)
            grad = grad + u @ (g_vh_scaled - (g_vh_scaled @ _swap_h(vh)) @ vh)
        return (grad,)


def _no_driver(name: str, driver) -> None:
    if driver is not None:  # torch's class and message on the CPU
        raise LinAlgArgError(f"torch.linalg.{name}: keyword argument `driver=` is only "
                             "supported on CUDA inputs with cuSOLVER backend.")


@autocast_policy(FP32)
def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> SVDResult:  # noqa: N803
    """torch.linalg.svd: A (..., m, n) = U diag(S) Vh, S descending; ``full_matrices=True`` (as
    torch) gives U (m, m) and Vh (n, n), False the reduced U (m, k), Vh (k, n). Each singular
    vector pair's sign is LAPACK's (numpy's and torch's may differ). ``driver`` is CUDA's
    (cuSOLVER): refused as torch refuses it on the CPU."""
    from dlpy.ops.complex import mark, real

    _no_driver("svd", driver)
    shape = _matrices("svd", A, square=False, complex_ok=True)
    full_matrices = _flag("svd", "full_matrices", full_matrices)
    m, n = shape[-2:]
    k = min(m, n)
    u_cols, vh_rows = (m, n) if full_matrices else (k, k)
    packed = SVD(full_matrices)(A)
    u, s, vh = _split(packed, [(m, u_cols), (k,), (vh_rows, n)])
    if _dtype_of(A).kind == "c":  # packed beside the complex vectors: real again
        return SVDResult(*_outputs(packed, (mark(u), real(mark(s)), mark(vh))))
    return SVDResult(*_outputs(packed, (u, s, vh)))


class Svdvals(Op):
    """S, the singular values (descending);  dA = U diag(g) Vh (fine for repeated ones)."""

    complex_ok = True
    # backward reads U and Vh, kept (torch's node saves them and S): A may change in place
    # after; backward_graph recomputes them from A
    saves = ("output",)
    graph_saves = (0,)

    def pack_order(self, inputs):
        """torch's node packs (saved_tensors_hooks) S, U and Vh."""
        return ["output", "u", "vh"]

    def forward(self, a):
        self.u, s, self.vh = numpy_linalg(np.linalg.svd, a, full_matrices=False)
        return s

    def backward(self, grad_output):
        return ((self.u * grad_output[..., None, :]) @ self.vh,)

    def backward_graph(self, grad_output, output):
        # U and Vh recomputed by a recorded svd, so that their derivative (distinct, non-zero
        # singular values) enters
        shapes = _svd_shapes(self.inputs[0].shape, False)
        u, _, vh = _split(SVD(False)(self.inputs[0]), shapes)
        return ((u * grad_output.reshape(grad_output.shape[:-1] + (1, shapes[1][0]))) @ vh,)


@autocast_policy(FP32)
def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:  # noqa: N803
    """torch.linalg.svdvals: the singular values of A (..., m, n), descending, (..., k)."""
    _no_driver("svdvals", driver)
    _matrices("svdvals", A, square=False, complex_ok=True)
    return Svdvals()(A)


class Pinv(Op):
    """P = A^+ from an SVD, singular values at or below max(atol, rtol * largest) dropped
    (``hermitian``: V diag(1 / w) V^H from eigh of A's lower triangle, |w| the singular values);
    dA = -P^H g P^H + (I - A P) g^H P P^H + P^H P g^H (I - P A) (torch's pinv_backward)."""

    complex_ok = True

    def __init__(self, atol, rtol, hermitian: bool = False):
        self.atol, self.rtol, self.hermitian = atol, rtol, hermitian

    def forward(self, a):
        if self.hermitian:
            s, v = numpy_linalg(np.linalg.eigh, a)
            u, vh = v, _mH(v)
        else:
            u, s, vh = numpy_linalg(np.linalg.svd, a, full_matrices=False)
        size = np.abs(s)
        largest = size.max(-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,),
                                                                              s.dtype)
        keep = size > np.maximum(self.atol, self.rtol * largest)
        inverse = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0).astype(s.dtype)
        self.a = a
        self.p = (_mH(vh) * inverse[..., None, :]) @ _mH(u)
        return self.p

    def backward(self, grad_output):
        a, p, g = self.a, self.p, grad_output
        p_t, g_t = _mH(p), _mH(g)
        grad = -(p_t @ g @ p_t)
        grad = grad + (g_t - a @ (p @ g_t)) @ (p @ p_t)  # (I - A P) g^T P P^T
        grad = grad + (p_t @ p) @ (g_t - (g_t @ p) @ a)  # P^T P g^T (I - P A)
        return (grad,)

    def backward_graph(self, grad_output, output):
        a, p, g = self.inputs[0], output, grad_output
        p_t, g_t = _swap_h(p), _swap_h(g)
        grad = -(p_t @ g @ p_t)
        grad = grad + (g_t - a @ (p @ g_t)) @ (p @ p_t)  # (I - A P) g^T P P^T
        grad = grad + (p_t @ p) @ (g_t - (g_t @ p) @ a)  # P^T P g^T (I - P A)
        return (grad,)


def pinv(A: Tensor, rcond=None, hermitian: bool = False, *, atol=None,  # noqa: N803
         rtol=None) -> Tensor:
    """torch.linalg.pinv: the Moore-Penrose pseudo-inverse (..., n, m) of A (..., m, n), from an
    SVD; singular values at or below max(atol, rtol * the largest) count as zero, rtol by
    default eps * max(m, n) (0 when only atol is given), as torch. ``rcond`` is torch's older
    overload, ``pinv(A, rcond, hermitian)``: rtol under another name (not with atol / rtol).
    ``hermitian``: as torch, from eigh of A's lower triangle (A square; |eigenvalues| are the
    singular values), with the same gradient formula (on the whole of A)."""
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise LinAlgArgTypeError("pinv: rcond cannot be combined with atol or rtol (torch's "
                                     "pinv(A, rcond, hermitian) overload)")
        rtol = rcond
    hermitian = _flag("pinv", "hermitian", hermitian)
    # hermitian: torch's checks are eigh's ("linalg.eigh: A must be batches of square matrices")
    _matrices("eigh" if hermitian else "pinv", A, square=hermitian, complex_ok=True)
    for name, value in (("atol", atol), ("rtol", rtol)):  # settings, not inputs (as torch)
        if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
            raise LinAlgArgError(f"The function 'linalg_pinv' is not differentiable with "
                                 f"respect to argument '{name}'. This input cannot have "
                                 f"requires_grad True.")
    return Pinv(*tolerances("pinv", A, atol, rtol), hermitian)(A)


def tolerances(name: str, A, atol, rtol):  # noqa: N803
    """(atol, rtol) of pinv / matrix_rank: singular values at or below max(atol, rtol * the
    largest) count as zero; rtol by default eps * max(m, n), 0 where atol > 0 is given. Each
    is a number, or a tensor of one per matrix (an array (..., 1) against the values (..., k)),
    whose shape must broadcast with A's batch axes (a LinAlgArgError, torch's RuntimeError)."""
    shape = _shape_of(A)
    values = []
    for what, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, Tensor) and value.dtype.kind in "fiu":  # torch's Tensor overload
            data = value.data.astype(np.float64)
            try:  # one per matrix: it broadcasts against A's batch axes
                np.broadcast_shapes(data.shape, tuple(shape[:-2]))
            except ValueError:
                raise LinAlgArgError(f"{name}: {what} of shape {data.shape} does not broadcast "
                                     f"with A's batch shape {tuple(shape[:-2])}") from None
            values.append(float(data) if data.ndim == 0 else data[..., None])
            continue
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (int, float, np.integer, np.floating))
                                  or not value >= 0):
            raise LinAlgArgError(f"{name}: {what} must be a number >= 0, got {value!r}")
        values.append(None if value is None else float(value))
    atol_value, rtol_value = values
    if rtol_value is None:
        eps = float(np.finfo(_dtype_of(A)).eps)
        rtol_value = eps * max(shape[-2:]) if atol_value is None else np.where(
            np.asarray(atol_value) > 0, 0.0, eps * max(shape[-2:]))
    return (0.0 if atol_value is None else atol_value), rtol_value
