"""The eigendecomposition of a general square matrix (torch.linalg.eig, eigvals): complex
eigenvalues and eigenvectors of a real or complex A, numpy.linalg.eig (LAPACK geev) forward and
PyTorch's gradient (linalg_eig_backward).

Each eigenvector is LAPACK's: norm 1, its largest component real; it is defined only up to a
phase e^{i phi}, so a loss of V must not depend on it (|V|, V V^H do; Re(V) does not). As torch,
backward checks that: Im(diag(V^H gV)) must be ~0, else a RuntimeError.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlpy.amp.state import FP32, autocast_policy
from dlpy.ops.complex import complex_dtype, conj, mark, real
from dlpy.ops.linalg import (
    LinAlgArgError,
    LinAlgDtypeError,
    LinAlgKernelError,
    Solve,
    _lapack,
    _mT,
    _nonzero,
    _outputs,
    _pack,
    _shape_of,
    _split,
    _swap_h,
    _unpack,
)
from dlpy.return_types import structseq_repr
from dlpy.tensor import Op, Tensor


def _mH(x: np.ndarray) -> np.ndarray:  # noqa: N802 - torch's name
    return np.conj(_mT(x))


def _eig(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy.linalg.eig, always complex (numpy returns a real result when every eigenvalue
    is real)."""
    values, vectors = _lapack("eig", "not diagonalisable (geev did not converge)",
                              np.linalg.eig, a)
    dtype = complex_dtype(a.dtype)
    return values.astype(dtype, copy=False), vectors.astype(dtype, copy=False)


def _conjugate_by_vectors(inner: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """V^-H inner V^H: an A-shaped gradient from one in the eigenbasis."""
    vh = _mH(vectors)
    return np.linalg.solve(vh, inner @ vh)


def _conjugate_by_vectors_graph(inner: Tensor, vectors: Tensor) -> Tensor:
    """_conjugate_by_vectors, recorded (for backward_graph)."""
    vh = _swap_h(vectors)
    return Solve(False)(vh, inner @ vh)


def _check_eig_phase(diagonal: np.ndarray) -> None:
    """torch's check that the loss does not depend on the eigenvectors' phases: diagonal is
    diag(V^H gV), its imaginary part must be ~0."""
    if not np.allclose(diagonal.imag, 0, rtol=1e-2, atol=1e-2):
        raise RuntimeError(
            "eig backward: the eigenvectors of a complex eigendecomposition are "
            "specified up to multiplication by e^{i phi}; the loss depends on this "
            "phase, so its gradient is ill-defined (use |V|, V V^H or the eigenvalues; "
            "not Re(V))")


class Eig(Op):
    """(L, V) packed, A V = V diag(L), complex;
    dA = V^-H (diag(gL) + (V^H gV - V^H V diag(Re diag(V^H gV))) / conj(E)) V^H with
    E_ij = L_j - L_i (1 on the diagonal): inf/nan where eigenvalues repeat and gV is used.
    A real A takes the real part (the engine's rule for a real input of a complex op)."""

    complex_ok = True  # backward below is written for complex A already

    def forward(self, a):
        self.values, self.vectors = _eig(a)
        return _pack(self.values, self.vectors, batch=a.shape[:-2])

    def backward(self, grad_output):
        values, vectors = self.values, self.vectors
        n = values.shape[-1]
        g_values, g_vectors = _unpack(grad_output, ((n,), (n, n)))
        inner = g_values[..., :, None] * np.eye(n, dtype=values.dtype)
        if g_vectors.any():  # an unused V adds nothing, also for repeated eigenvalues
            product = _mH(vectors) @ g_vectors
            diagonal = np.diagonal(product, axis1=-2, axis2=-1)
            _check_eig_phase(diagonal)
            product = product - _mH(vectors) @ (vectors * diagonal.real[..., None, :])
            eye = np.eye(n, dtype=values.dtype)
            gaps = np.conj(values[..., None, :] - values[..., :, None]) + eye
            inner = inner + product / gaps
        return (_conjugate_by_vectors(inner, vectors),)

    def backward_graph(self, grad_output, output):
        # as backward, recorded; the diagonal of the eigenbasis term is gL alone (torch's)
        n = self.inputs[0].shape[-1]
        values, vectors = _split(output, ((n,), (n, n)))
        g_values, g_vectors = _split(grad_output, ((n,), (n, n)))
        eye = np.eye(n, dtype=output.dtype)
        inner = g_values.reshape(g_values.shape + (1,)) * eye
        used = bool(g_vectors.data.any())
        if used or g_vectors.requires_grad:  # an all-zero gV that depends on something adds
            vh = _swap_h(vectors)  # nothing, but its derivative counts
            product = vh @ g_vectors
            _check_eig_phase(np.diagonal(product.data, axis1=-2, axis2=-1))
            diagonal = real(product * eye).sum(-2, keepdim=True)  # Re diag(V^H gV) as a row
            product = product - vh @ (vectors * diagonal)  # V^H V diag(Re diag(V^H gV))
            gaps = _nonzero(conj(values.reshape(values.shape[:-1] + (1, n))
                                 - values.reshape(values.shape + (1,))) + eye, used)
            inner = inner + product * (1 - eye) / gaps
        return (_conjugate_by_vectors_graph(inner, vectors),)


class Eigvals(Op):
    """L, the eigenvalues of A (complex);  dA = V^-H diag(g) V^H (fine for repeated ones while
    A stays diagonalisable)."""

    complex_ok = True

    def forward(self, a):
        values, self.vectors = _eig(a)
        return values

    def backward(self, grad_output):
        n = grad_output.shape[-1]
        eye = np.eye(n, dtype=self.vectors.dtype)
        return (_conjugate_by_vectors(grad_output[..., :, None] * eye, self.vectors),)

    def backward_graph(self, grad_output, output):
        # V recomputed by a recorded eig, so that its derivative (distinct eigenvalues) enters
        n = self.inputs[0].shape[-1]
        vectors = _split(Eig()(self.inputs[0]), ((n,), (n, n)))[1]
        eye = np.eye(n, dtype=vectors.dtype)
        return (_conjugate_by_vectors_graph(grad_output.reshape(grad_output.shape + (1,)) * eye,
                                            vectors),)


def _square(name: str, A) -> tuple[int, ...]:  # noqa: N803
    """Check A is a float or complex (batch of) square matrix (..., n, n); its shape."""
    shape = _shape_of(A)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise LinAlgArgError(f"{name}: expected square matrices (..., n, n), got shape {shape}")
    dtype = np.asarray(A.data if isinstance(A, Tensor) else A).dtype
    if dtype == np.float16 or dtype.kind not in "fcbiu":  # float16, bfloat16: no kernel
        raise LinAlgKernelError(f"{name}: not implemented for {dtype}")
    if dtype.kind not in "fc":
        raise LinAlgDtypeError(f"{name}: expected a floating point or complex tensor, got "
                               f"{dtype}")
    return shape


class EigResult(NamedTuple):
    """torch.return_types.linalg_eig."""

    _torch_name = "linalg_eig"  # torch.return_types.linalg_eig
    __repr__ = structseq_repr

    eigenvalues: Tensor
    eigenvectors: Tensor


@autocast_policy(FP32)
def eig(A: Tensor) -> EigResult:  # noqa: N803 - PyTorch's names
    """The eigenvalues (..., n) and eigenvectors (columns of (..., n, n)) of square A, complex
    (complex64 for float32/complex64 A, else complex128), as numpy.linalg.eig gives them."""
    n = _square("eig", A)[-1]
    packed = mark(Eig()(A))
    return EigResult(*_outputs(packed, tuple(mark(t) for t in _split(packed, [(n,), (n, n)]))))


@autocast_policy(FP32)
def eigvals(A: Tensor) -> Tensor:  # noqa: N803
    """The eigenvalues of square A, (..., n), complex."""
    _square("eigvals", A)
    return mark(Eigvals()(A))
