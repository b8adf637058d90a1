"""More of torch.linalg on the last two axes, batched over the leading ones: LU with partial
pivoting, the matrix exponential, solves with a Cholesky factor, Householder QR (geqrf) and the
symmetric-indefinite LDL^T (Bunch-Kaufman) factorisation. Forwards are numpy loops over the
columns, vectorised over the batch (LDL^T's pivoting differs per matrix: masks per column);
backward is PyTorch's formula (lu_factor_ex_backward, cholesky_solve_backward,
linalg_matrix_exp_differential in its FunctionsManual). dlpy/linalg.py builds the rest on these.
"""

from __future__ import annotations

import math

import numpy as np

from dlpy.ops.linalg import (
    LinAlgError,
    SolveTriangular,
    _conj,
    _mH,
    _mT,
    _substitute,
    _swap_h,
    lapack_layout,
    linalg_error_text,
)
from dlpy.ops.rearrange import Triangle
from dlpy.ops.shape import concat, getitem
from dlpy.tensor import Op, Tensor


def raise_info(name: str, info: np.ndarray, problem=None) -> None:
    """A LinAlgError naming the op and the first failed matrix of a batch, if any info > 0;
    ``problem(i)`` says what is wrong for that matrix's info i. No ``problem``: torch's text
    for ``name`` (its torch name), and a RuntimeError for lu_factor's (as torch)."""
    if problem is None:
        text = linalg_error_text(name, info)
        if text is not None:
            raise (RuntimeError if "lu_factor" in name else LinAlgError)(text)
        return
    if info.any():
        first = int(np.flatnonzero(info)[0])
        where = f" (batch element {first})" if info.ndim else ""
        raise LinAlgError(f"{name}: {problem(int(info.reshape(-1)[first]))}{where}")


# ------------------------------------------------------------------ LU
def _magnitude(x: np.ndarray) -> np.ndarray:
    """|x|, or |Re x| + |Im x| for complex x: what LAPACK's i?amax compares to pick a pivot."""
    return np.abs(x.real) + np.abs(x.imag) if x.dtype.kind == "c" else np.abs(x)


def lu_factor_numpy(a: np.ndarray, pivot: bool = True, block: int = 16):
    """(LU, pivots, info) of a (..., m, n) as LAPACK's getrf: L (unit diagonal, not stored) below
    the diagonal and U on and above it; pivots (..., k) int32, 1-based (row j was swapped with
    row pivots[j]); info (...) int32, 0 or the first j (1-based) with U[j, j] == 0. Blocked and
    right-looking as getrf: each panel of ``block`` columns is factorised column by column in a
    copy with the batch last (contiguous), its row swaps then applied to the other columns at
    once, U's rows beside it found by substitution and the trailing matrix updated by a matmul."""
    m, n = a.shape[-2:]
    k = min(m, n)
    lu = a.reshape((math.prod(a.shape[:-2]), m, n)).copy()  # -1 fails for 0x0
    count = lu.shape[0]
    pivots = np.empty((count, k), np.int32)
    info = np.zeros(count, np.int32)
    every = np.arange(count)
    for start in range(0, k, block):
        stop = min(start + block, k)
        width = stop - start
        panel = np.ascontiguousarray(np.moveaxis(lu[:, start:, start:stop], 0, -1))
        order = np.tile(np.arange(m - start)[:, None], (1, count))  # its rows, as swapped
        for j in range(width):  # panel (rows, width, count), order (rows, count)
            row = j + np.argmax(_magnitude(panel[j:, j]), axis=0) if pivot else np.full(count, j)
            pivots[:, start + j] = start + row + 1
            if (row != j).any():
                swapped, kept = panel[j].copy(), order[j].copy()
                panel[j], order[j] = panel[row, :, every].T, order[row, every]
                panel[row, :, every], order[row, every] = swapped.T, kept
            diagonal = panel[j, j]
            zero = diagonal == 0  # then the column below is zero too (with pivoting): left alone
            if zero.any():
                info[(info == 0) & zero] = start + j + 1
                diagonal = np.where(zero, 1, diagonal)
            panel[j + 1:, j] /= diagonal
            panel[j + 1:, j + 1:] -= panel[j + 1:, j, None] * panel[None, j, j + 1:]
        lu[:, start:, start:stop] = np.moveaxis(panel, -1, 0)
        swapped = (order != np.arange(m - start)[:, None]).any(0)
        if swapped.any():  # the panel's row swaps on the columns left and right of it
            which, rows = np.flatnonzero(swapped), start + order[:, swapped].T
            for columns in (slice(0, start), slice(stop, n)):
                lu[which, start:, columns] = lu[which[:, None], rows, columns]
        if stop < n:  # U's rows beside the panel (L11^-1 A12), then A22 -= L21 U12
            for j in range(width - 1):
                lu[:, start + j + 1:stop, stop:] -= \
                    lu[:, start + j + 1:stop, start + j, None] * lu[:, None, start + j, stop:]
            if stop < m:
                lu[:, stop:, stop:] -= lu[:, stop:, start:stop] @ lu[:, start:stop, stop:]
    return lu.reshape(a.shape), pivots.reshape(a.shape[:-2] + (k,)), info.reshape(a.shape[:-2])


def permutation_matrix(pivots: np.ndarray, m: int, dtype) -> np.ndarray:
    """P (..., m, m) with A = P L U for LAPACK's 1-based row swaps ``pivots`` (..., k)."""
    k = pivots.shape[-1]
    order = np.tile(np.arange(m), (math.prod(pivots.shape[:-1]), 1))  # P^T A = A[order]
    swaps = pivots.reshape(order.shape[0], k).astype(np.int64) - 1
    every = np.arange(order.shape[0])
    for j in range(k):
        first = order[:, j].copy()
        order[:, j] = order[every, swaps[:, j]]
        order[every, swaps[:, j]] = first
    p_t = np.eye(m, dtype=dtype)[order]
    return _mT(p_t).reshape(pivots.shape[:-1] + (m, m))


def unpack_factors(lu: np.ndarray):
    """(L, U) of a packed (..., m, n) LU: L (m, k) unit lower, U (k, n) upper."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    return np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype), np.triu(lu[..., :k, :])


class LUFactor(Op):
    """LU = L and U packed (getrf's output; the pivots and info are kept on the op). With
    gL = tril(gLU, -1) (m, k) and gU = triu(gLU) (k, n), torch's linalg_lu_backward:
    m <= n: dA = P L^-H [tril(L^H gL - gU U^H, -1) U1^-H + gU1, gU2], U = [U1 U2];
    m > n:  dA = P [L1^-H triu(gU U^H - L^H gL) + gL1; gL2] U^-H, L = [L1; L2]."""

    complex_ok = True

    def __init__(self, pivot: bool):
        self.pivot = pivot

    def forward(self, a):
        lu, self.pivots, self.info = lu_factor_numpy(a, self.pivot)
        self.lu = lu
        return lu

    def _permutation(self) -> np.ndarray:
        """P of A = P L U, made when a backward first needs it (not by every forward)."""
        return permutation_matrix(self.pivots, self.lu.shape[-2], self.lu.dtype)

    def backward(self, grad_output):
        l, u = unpack_factors(self.lu)
        m, n = self.lu.shape[-2:]
        k = min(m, n)
        g_l, g_u = np.tril(grad_output[..., :, :k], -1), np.triu(grad_output[..., :k, :])
        if m <= n:
            inner = np.tril(_mH(l) @ g_l - g_u @ _mH(u), -1)
            head = _mH(_substitute(u[..., :k], _mH(inner), True, False)) + g_u[..., :k]
            grad = _substitute(_mH(l), np.concatenate([head, g_u[..., k:]], -1), True, True)
        else:
            inner = np.triu(g_u @ _mH(u) - _mH(l) @ g_l)
            head = _substitute(_mH(l[..., :k, :]), inner, True, True) + g_l[..., :k, :]
            grad = np.concatenate([head, g_l[..., k:, :]], -2)
            grad = _mH(_substitute(u, _mH(grad), True, False))  # grad U^-T
        return (self._permutation() @ grad,)

    def backward_graph(self, grad_output, output):
        m, n = output.shape[-2:]
        k = min(m, n)
        eye = np.eye(m, k, dtype=output.dtype)
        l = Triangle(-1, False)(getitem(output, (Ellipsis, slice(0, k)))) + eye
        u = Triangle(0, True)(getitem(output, (Ellipsis, slice(0, k), slice(None))))
        g_l = Triangle(-1, False)(getitem(grad_output, (Ellipsis, slice(0, k))))
        g_u = Triangle(0, True)(getitem(grad_output, (Ellipsis, slice(0, k), slice(None))))
        if m <= n:
            inner = Triangle(-1, False)(_swap_h(l) @ g_l - g_u @ _swap_h(u))
            u1 = getitem(u, (Ellipsis, slice(0, k)))
            head = _swap_h(SolveTriangular(True, False)(u1, _swap_h(inner)))
            head = head + getitem(g_u, (Ellipsis, slice(0, k)))
            rest = [getitem(g_u, (Ellipsis, slice(k, n)))] if n > k else []
            grad = SolveTriangular(True, True)(_swap_h(l), concat([head] + rest, -1))
        else:
            inner = Triangle(0, True)(g_u @ _swap_h(u) - _swap_h(l) @ g_l)
            l1 = getitem(l, (Ellipsis, slice(0, k), slice(None)))
            head = SolveTriangular(True, True)(_swap_h(l1), inner)
            head = head + getitem(g_l, (Ellipsis, slice(0, k), slice(None)))
            grad = concat([head, getitem(g_l, (Ellipsis, slice(k, m), slice(None)))], -2)
            grad = _swap_h(SolveTriangular(True, False)(u, _swap_h(grad)))
        return (Tensor(self._permutation()) @ grad,)


# ------------------------------------------------------------------ Cholesky
def cholesky_info(a: np.ndarray) -> np.ndarray:
    """info (...) int32 of a Cholesky factorisation of a's lower triangle (Hermitian for complex
    a): 0, or the order of the first leading minor that is not positive-definite (LAPACK
    potrf's)."""
    n = a.shape[-1]
    flat = a.reshape((math.prod(a.shape[:-2]), n, n))
    l = np.zeros_like(flat)
    info = np.zeros(flat.shape[0], np.int32)
    for j in range(n):
        row = _conj(l[:, j, :j])
        pivot = (flat[:, j, j] - np.einsum("bk,bk->b", l[:, j, :j], row)).real
        bad = ~(pivot > 0)  # nan included
        info[(info == 0) & bad] = j + 1
        root = np.sqrt(np.where(bad, 1, pivot))
        l[:, j, j] = root
        below = flat[:, j + 1:, j] - np.einsum("bik,bk->bi", l[:, j + 1:, :j], row)
        l[:, j + 1:, j] = below / root[:, None]
    return info.reshape(a.shape[:-2])


def cholesky_solve_numpy(b: np.ndarray, l: np.ndarray, upper: bool) -> np.ndarray:
    """(L L^H)^-1 B with L the lower triangle of l (upper: U^H U with U its upper triangle)."""
    if upper:
        return _substitute(l, _substitute(_mH(l), b, False, False), True, False)
    return _substitute(_mH(l), _substitute(l, b, False, False), True, False)


class CholeskySolve(Op):
    """X = (L L^H)^-1 B (``upper``: (U^H U)^-1 B), reading one triangle of the factor, batch axes
    broadcast;  dB = (L L^H)^-1 g,  dL = -(dB X^H + X dB^H) L  (upper: -U (...)), on the whole
    factor as torch's cholesky_solve_backward."""

    complex_ok = True

    def __init__(self, upper: bool):
        self.upper = upper

    def forward(self, b, l):
        self.l = l
        self.x = lapack_layout(cholesky_solve_numpy(b, l, self.upper))
        return self.x

    def backward(self, grad_output):
        b_grad = cholesky_solve_numpy(grad_output, self.l, self.upper)
        l_grad = None
        if self.inputs[1].requires_grad:
            common = b_grad @ _mH(self.x)
            common = common + _mH(common)
            l_grad = -(self.l @ common) if self.upper else -(common @ self.l)
        return b_grad, l_grad

    def backward_graph(self, grad_output, output):
        l = self.inputs[1]
        b_grad = CholeskySolve(self.upper)(grad_output, l)
        l_grad = None
        if l.requires_grad:
            common = b_grad @ _swap_h(output)
            common = common + _swap_h(common)
            l_grad = -(l @ common) if self.upper else -(common @ l)
        return b_grad, l_grad


# ------------------------------------------------------------------ matrix exponential
# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": the
# Pade degrees and the largest 1-norm each is accurate for, in double and in single precision
_PADE = {
    3: (120.0, 60.0, 12.0, 1.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0),
    9: (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0,
        110880.0, 3960.0, 90.0, 1.0),
    13: (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
         129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
         40840800.0, 960960.0, 16380.0, 182.0, 1.0),
}
_THETA = {
    np.dtype(np.float64): ((3, 1.495585217958292e-2), (5, 2.539398330063230e-1),
                           (7, 9.504178996162932e-1), (9, 2.097847961257068),
                           (13, 5.371920351148152)),
    np.dtype(np.float32): ((3, 4.258730016922831e-1), (5, 1.880152677804762),
                           (7, 3.925724783138660)),
}


def _pade(a: np.ndarray, degree: int) -> np.ndarray:
    """The [degree/degree] Pade approximant of exp(a): (V - U)^-1 (V + U)."""
    b = _PADE[degree]
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    a2 = a @ a
    if degree == 13:  # Higham's evaluation with A^2, A^4, A^6 only
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
                 + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
            + b[0] * eye
    else:
        evens = [eye, a2]
        while len(evens) < (degree + 1) // 2:
            evens.append(evens[-1] @ a2)
        u = a @ sum(b[2 * i + 1] * power for i, power in enumerate(evens))
        v = sum(b[2 * i] * power for i, power in enumerate(evens))
    return np.linalg.solve(v - u, v + u)


def expm_numpy(a: np.ndarray) -> np.ndarray:
    """exp(a) of (..., n, n) by scaling and squaring: the smallest Pade degree accurate for the
    batch's largest 1-norm, else the largest degree on a / 2^s, squared s times (s per matrix)."""
    if a.size == 0:
        return a.copy()
    real = np.empty(0, a.dtype).real.dtype  # complex64 is accurate as float32
    table = _THETA.get(real, _THETA[np.dtype(np.float64)])
    norms = np.abs(a).sum(-2).max(-1)  # the 1-norm of each matrix
    largest = float(norms.max())
    squarings = np.zeros(norms.shape, np.int64)
    degree, theta = next(((d, t) for d, t in table if largest <= t), table[-1])
    if largest > theta:
        with np.errstate(divide="ignore"):
            squarings = np.maximum(0, np.ceil(np.log2(norms / theta))).astype(np.int64)
    scale = np.ldexp(np.ones((), real), -squarings).astype(real)
    result = _pade(a * scale[..., None, None], degree)
    for step in range(int(squarings.max())):
        result = np.where((squarings > step)[..., None, None], result @ result, result)
    return result


class MatrixExp(Op):
    """y = exp(A);  dA = the top-right block of exp([[A^H, g], [0, A^H]]) (the Frechet
    derivative at A^H applied to g: torch's linalg_matrix_exp_differential)."""

    saves = (0,)  # backward reads A, never exp(A) (as torch's)

    complex_ok = True

    def forward(self, a):
        self.a = a
        return expm_numpy(a)

    def backward(self, grad_output):
        n = self.a.shape[-1]
        a_t = np.broadcast_to(_mH(self.a), grad_output.shape)
        block = np.zeros(grad_output.shape[:-2] + (2 * n, 2 * n),
                         dtype=np.result_type(a_t, grad_output))
        block[..., :n, :n] = block[..., n:, n:] = a_t
        block[..., :n, n:] = grad_output
        return (expm_numpy(block)[..., :n, n:],)

    def backward_graph(self, grad_output, output):
        n = output.shape[-1]
        a_t = _swap_h(self.inputs[0])
        zeros = Tensor(np.zeros(grad_output.shape, dtype=grad_output.dtype))
        block = concat([concat([a_t, grad_output], -1), concat([zeros, a_t], -1)], -2)
        return (getitem(MatrixExp()(block), (Ellipsis, slice(0, n), slice(n, 2 * n))),)


# ------------------------------------------------------------------ Householder QR
def geqrf_numpy(a: np.ndarray):
    """(a, tau) as LAPACK's geqrf: R on and above the diagonal of a (..., m, n), the Householder
    vectors v_j (v_j[j] = 1, not stored) below it, Q = H_1 ... H_k with H_j = I - tau_j v_j v_j^H
    (LAPACK's larfg: R's diagonal is the real -sign(Re a_jj) |(a_jj, x)|, -0.0 counting as
    positive as in torch's MKL; tau_j = 0 where x below is zero and a_jj is real)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    out = a.reshape((math.prod(a.shape[:-2]), m, n)).copy()
    tau = np.zeros((out.shape[0], k), dtype=a.dtype)
    for j in range(k):
        alpha = out[:, j, j].copy()
        below = np.linalg.norm(out[:, j + 1:, j], axis=1)
        reflect = (below != 0) | (alpha.imag != 0)
        size = np.hypot(np.abs(alpha), below)
        beta = np.where(reflect, np.where(alpha.real >= 0, -size, size), alpha)
        tau[:, j] = np.where(reflect, (beta - alpha) / np.where(reflect, beta, 1), 0)
        out[:, j + 1:, j] /= np.where(reflect, alpha - beta, 1)[:, None]
        out[:, j, j] = beta
        v = np.concatenate([np.ones((out.shape[0], 1), a.dtype), out[:, j + 1:, j]], 1)
        w = np.einsum("bi,bij->bj", v.conj(), out[:, j:, j + 1:])  # H_j^H applied: v^H A
        out[:, j:, j + 1:] -= tau[:, j, None, None].conj() * v[:, :, None] * w[:, None, :]
    return out.reshape(a.shape), tau.reshape(a.shape[:-2] + (k,))


# ------------------------------------------------------------------ LDL^T (Bunch-Kaufman)
_BUNCH_KAUFMAN = (1 + math.sqrt(17)) / 8


def _size(x: np.ndarray) -> np.ndarray:
    """LAPACK's magnitude for pivoting: |x|, and |Re x| + |Im x| (CABS1) for complex x."""
    return np.abs(x.real) + np.abs(x.imag) if x.dtype.kind == "c" else np.abs(x)


def _ldl_step_kind(a: np.ndarray, k: int, hermitian: bool):
    """sytf2's pivot choice at column k of each (full, symmetric) matrix of a (n, n, count), the
    batch last: (swap row, 2x2 block?, zero column?) per matrix, LAPACK's Bunch-Kaufman tests
    (hetf2's with ``hermitian``: the diagonal's real part)."""
    n, count = a.shape[1:]
    every = np.arange(count)
    on_diagonal = (lambda x: np.abs(x.real)) if hermitian else _size
    diagonal = on_diagonal(a[k, k])
    if k + 1 < n:
        largest = k + 1 + np.argmax(_size(a[k + 1:, k]), axis=0)
        column = _size(a[largest, k, every])
    else:
        largest, column = np.full(count, k), np.zeros(count, diagonal.dtype)
    biggest = np.where(column > diagonal, column, diagonal)
    zero = (biggest == 0) | np.isnan(biggest)
    row = _size(a[largest, k:, every])  # the largest off-diagonal of row (and column) largest
    row[every, largest - k] = 0
    row = row.max(axis=1)
    keep = zero | (diagonal >= _BUNCH_KAUFMAN * column) \
        | (diagonal * row >= _BUNCH_KAUFMAN * column * column)
    one_by_one = keep | (on_diagonal(a[largest, largest, every]) >= _BUNCH_KAUFMAN * row)
    return np.where(keep, k, largest), ~one_by_one, zero


def ldl_factor_numpy(a: np.ndarray, hermitian: bool = False):
    """(LD, pivots, info) of symmetric (``hermitian``: Hermitian, its diagonal read as real)
    (..., n, n) from their lower triangles, as LAPACK's sytf2 / hetf2 ('L'): 1x1 and 2x2 pivots
    (pivots[k] = -p on both columns of a 2x2 block), 1-based; info the first k (1-based) with a
    zero column. Vectorised over the batch, kept last (n, n, count)
    so that every step is a contiguous ufunc over the batch: column by column, each matrix
    either starts a block at column k or has k as the second column of a 2x2 block (it waits);
    the 1x1 update runs on every matrix, the others' x zeroed (A22 -= 0), the rarer 2x2 updates
    and the swaps only on the matrices that take them. The matrices are kept whole and exactly
    symmetric (Hermitian), so a swap is of two rows, then the same two columns, of the trailing
    block (hetf2's conjugations of the entries between them come with it)."""
    shape, n = a.shape, a.shape[-1]
    hermitian = hermitian and a.dtype.kind == "c"
    mirror = np.conj if hermitian else (lambda x: x)
    lower = np.tril(a.reshape((math.prod(a.shape[:-2]), n, n)), -1)
    full = lower + mirror(np.swapaxes(lower, -1, -2))
    every = np.arange(n)
    diagonal = a.reshape(lower.shape)[:, every, every]
    full[:, every, every] = diagonal.real if hermitian else diagonal
    a = np.ascontiguousarray(full.transpose(1, 2, 0))
    count = a.shape[-1]
    pivots = np.zeros((count, n), np.int32)
    info = np.zeros(count, np.int32)
    waiting = np.zeros(count, bool)  # column k is the second of a 2x2 block
    for k in range(n):
        active = ~waiting
        swap, two, zero = _ldl_step_kind(a, k, hermitian)  # (a waiting matrix's are ignored)
        two &= active
        info[active & zero & (info == 0)] = k + 1
        kk = k + two
        moved = np.flatnonzero(active & (swap != kk))
        if moved.size:  # swap rows, then columns, kk and swap of the trailing block
            first, second = kk[moved], swap[moved]
            kept = a[first, k:, moved]  # (matrices, columns)
            a[first, k:, moved] = a[second, k:, moved]
            a[second, k:, moved] = kept
            kept = a[k:, first, moved]
            a[k:, first, moved] = a[k:, second, moved]
            a[k:, second, moved] = kept
        single = active & ~two & (a[k, k] != 0)
        if k + 1 < n and single.any():  # A22 -= x x^T / d (x x^H), x /= d
            x = a[k + 1:, k]  # (rows, count)
            d = np.where(single, a[k, k], 1)
            masked = np.where(single, x, 0)
            update = masked[:, None] * mirror(masked)[None]
            update /= d
            a[k + 1:, k + 1:] -= update
            x /= d
        double = np.flatnonzero(two) if k + 2 < n else ()
        if len(double):  # (rows, matrices) with the 2x2 block's matrices last
            first, second = a[k + 2:, k][:, double], a[k + 2:, k + 1][:, double]
            d21 = a[k + 1, k, double]
            if hermitian:  # hetf2's: the block's diagonal real, scaled by |d21|
                size = np.abs(d21)
                d11, d22 = a[k + 1, k + 1, double].real / size, a[k, k, double].real / size
                t = 1.0 / (d11 * d22 - 1.0)
                d21, scale = d21 / size, t / size
                wk = scale * (d11 * first - d21 * second)
                wk1 = scale * (d22 * second - np.conj(d21) * first)
            else:
                d11, d22 = a[k + 1, k + 1, double] / d21, a[k, k, double] / d21
                t = 1.0 / (d11 * d22 - 1.0)
                d21 = t / d21
                wk = d21 * (d11 * first - second)
                wk1 = d21 * (d22 * second - first)
            update = np.moveaxis(first[:, None] * mirror(wk)[None]
                                 + second[:, None] * mirror(wk1)[None], -1, 0)
            update = np.tril(update) + mirror(np.swapaxes(np.tril(update, -1), -1, -2))
            a[k + 2:, k + 2:, double] -= np.moveaxis(update, 0, -1)
            a[k + 2:, k, double] = wk
            a[k + 2:, k + 1, double] = wk1
        pivots[active, k] = np.where(two, -(swap + 1), swap + 1)[active]
        if two.any():
            pivots[two, k + 1] = -(swap[two] + 1)
        waiting = two
    ld = np.tril(np.moveaxis(a, -1, 0))
    return ld.reshape(shape), pivots.reshape(shape[:-1]), info.reshape(shape[:-2])


def _ldl_solve_one(ld: np.ndarray, pivots: np.ndarray, b: np.ndarray,
                   hermitian: bool) -> np.ndarray:
    """X with A X = B from one sytrf (hetrf) factorisation (LAPACK's sytrs / hetrs, 'L')."""
    n = ld.shape[0]
    b = b.copy()
    mirror = np.conj if hermitian else (lambda x: x)
    k = 0
    while k < n:  # L D y = P^T b
        if pivots[k] > 0:
            p = pivots[k] - 1
            b[[k, p]] = b[[p, k]]
            b[k + 1:] -= np.outer(ld[k + 1:, k], b[k])
            b[k] /= ld[k, k]
            k += 1
        else:
            p = -pivots[k] - 1
            b[[k + 1, p]] = b[[p, k + 1]]
            b[k + 2:] -= np.outer(ld[k + 2:, k], b[k]) + np.outer(ld[k + 2:, k + 1], b[k + 1])
            off = ld[k + 1, k]
            first, second = ld[k, k] / mirror(off), ld[k + 1, k + 1] / off
            denominator = first * second - 1
            top, bottom = b[k] / mirror(off), b[k + 1] / off
            b[k], b[k + 1] = (second * top - bottom) / denominator, \
                (first * bottom - top) / denominator
            k += 2
    k = n - 1
    while k >= 0:  # L^T x = y, then the rows swapped back
        if pivots[k] > 0:
            b[k] -= mirror(ld[k + 1:, k]) @ b[k + 1:]
            p = pivots[k] - 1
            b[[k, p]] = b[[p, k]]
            k -= 1
        else:
            b[k] -= mirror(ld[k + 1:, k]) @ b[k + 1:]
            b[k - 1] -= mirror(ld[k + 1:, k - 1]) @ b[k + 1:]
            p = -pivots[k] - 1
            b[[k, p]] = b[[p, k]]
            k -= 2
    return b


def ldl_solve_numpy(ld: np.ndarray, pivots: np.ndarray, b: np.ndarray,
                    hermitian: bool = False) -> np.ndarray:
    """X of (..., n, k) from a batch of sytrf (``hermitian``: hetrf) factorisations, batch axes
    broadcast."""
    hermitian = hermitian and ld.dtype.kind == "c"
    n = ld.shape[-1]
    batch = np.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
    count = math.prod(batch)  # (not -1: a reshape of 0 x 0 matrices cannot infer it)
    ld = np.broadcast_to(ld, batch + (n, n)).reshape((count, n, n))
    pivots = np.broadcast_to(pivots, batch + (n,)).reshape((count, n))
    flat = np.broadcast_to(b, batch + b.shape[-2:]).reshape((count,) + b.shape[-2:])
    x = [_ldl_solve_one(*parts, hermitian) for parts in zip(ld, pivots, flat)]
    x = np.stack(x) if x else np.zeros(flat.shape, np.result_type(ld, b))
    return x.reshape(batch + b.shape[-2:])


class LDLSolve(Op):
    """X = A^-1 B from a sytrf / hetrf factorisation (LD, pivots: settings, not inputs), batch
    axes broadcast;  dB = A^-H g: A^-1 g for a real symmetric or Hermitian A, conj(A^-1 conj(g))
    for a complex symmetric one (A^T = A)."""

    complex_ok = True

    def __init__(self, ld: np.ndarray, pivots: np.ndarray, hermitian: bool = False):
        self.ld, self.pivots = ld, pivots
        self.transposed = ld.dtype.kind == "c" and not hermitian  # A^-H = conj(A^-1)
        self.hermitian = hermitian

    def forward(self, b):
        return ldl_solve_numpy(self.ld, self.pivots, b, self.hermitian)

    def backward(self, grad_output):
        if self.transposed:
            return (np.conj(ldl_solve_numpy(self.ld, self.pivots, np.conj(grad_output))),)
        return (ldl_solve_numpy(self.ld, self.pivots, grad_output, self.hermitian),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.complex import conj

        solve = LDLSolve(self.ld, self.pivots, self.hermitian)
        if self.transposed:
            return (conj(solve(conj(grad_output))),)
        return (solve(grad_output),)
