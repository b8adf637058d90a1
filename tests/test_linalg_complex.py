"""dlpy.linalg on complex matrices: values and gradients against torch's (complex128 fixtures in
fixtures/linalg_complex/complex.npz, made by make_linalg_complex_fixtures.py), central
differences for first and second derivatives, torch's phase checks, errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_fft import complex_gradcheck, replay_case
from cases_linalg_complex import COMPLEX_CASES

import dlpy
import dlpy.linalg as LA
from dlpy.autograd import grad

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "linalg_complex" / "complex.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def complex_normal(rng, *shape, requires_grad=True):
    return dlpy.tensor(rng.standard_normal(shape) + 1j * rng.standard_normal(shape),
                       requires_grad=requires_grad)


@pytest.mark.parametrize("case", COMPLEX_CASES)
def test_against_torch(ref, case):
    replay_case(ref, case, COMPLEX_CASES[case], rtol=1e-7, atol=1e-9)


def test_result_dtypes_and_pivots_are_torchs(ref, rng):
    a = complex_normal(rng, 2, 3, 3)
    assert LA.inv(a).dtype == np.complex128 and LA.det(a).dtype == np.complex128
    sign, logabsdet = LA.slogdet(a)
    assert sign.dtype == np.complex128 and logabsdet.dtype == np.float64
    np.testing.assert_allclose(np.abs(sign.numpy()), 1.0)
    np.testing.assert_allclose(sign.numpy() * np.exp(logabsdet.numpy()), LA.det(a).numpy())
    values, vectors = LA.eigh(a @ a.mH)
    assert values.dtype == np.float64 and not values.is_complex() and vectors.is_complex()
    u, s, vh = LA.svd(a)
    assert s.dtype == np.float64 and u.dtype == vh.dtype == np.complex128
    assert LA.svdvals(a).dtype == np.float64 and LA.eigvalsh(a @ a.mH).dtype == np.float64
    assert LA.matrix_norm(a, "nuc").dtype == np.float64
    # LAPACK's pivots (|Re| + |Im| picks the row): torch's P L from the fixture agrees
    x = ref["lu:x"]
    p, l, _ = LA.lu(dlpy.tensor(x))
    np.testing.assert_allclose((p @ l).numpy() + LA.lu(dlpy.tensor(x)).U.numpy(), ref["lu:out"],
                               atol=1e-12)
    single = dlpy.tensor(np.array([[1 + 0j, 0], [0.6 + 0.6j, 1]], np.complex64))
    assert LA.lu_factor(single).pivots.numpy().tolist() == [2, 2]  # |0.6|+|0.6| > |1|


@pytest.mark.parametrize("name, fn, shapes", [
    ("inv", lambda a: LA.inv(a), [(2, 3, 3)]),
    ("slogdet_sign", lambda a: LA.slogdet(a).sign.unsqueeze(0), [(3, 3)]),
    ("solve", lambda a, b: LA.solve(a, b), [(2, 3, 3), (3, 2)]),
    ("cholesky", lambda a: LA.cholesky(a @ a.mH + 3 * dlpy.eye(3, dtype=dlpy.float64)),
     [(3, 3)]),
    ("qr_tall", lambda a: LA.qr(a).Q.abs().sum(-2) + LA.qr(a).R, [(4, 3)]),
    ("qr_wide", lambda a: LA.qr(a).Q + LA.qr(a).R.sum(), [(3, 5)]),
    ("svd_phase_free", lambda a: (lambda u, s, vh: u @ vh + vh.abs())(
        *LA.svd(a, full_matrices=False)), [(3, 4)]),
    ("eigh_phase_free", lambda a: (lambda v: v @ v.mH * 2 + v.abs())(
        LA.eigh(a @ a.mH + dlpy.eye(3, dtype=dlpy.float64)).eigenvectors), [(3, 3)]),
    ("pinv", lambda a: LA.pinv(a), [(2, 3, 4)]),
    ("lu_factor_wide", lambda a: LA.lu_factor(a).LU, [(3, 4)]),
    ("lu_solve_adjoint", lambda a, b: LA.lu_solve(*LA.lu_factor(a), b, adjoint=True),
     [(3, 3), (3, 2)]),
    ("matrix_exp", lambda a: LA.matrix_exp(a), [(2, 3, 3)]),
    ("cholesky_inverse", lambda a: dlpy.linalg.cholesky_inverse(
        LA.cholesky(a @ a.mH + 3 * dlpy.eye(3, dtype=dlpy.float64))), [(3, 3)]),
    ("cond_fro", lambda a: LA.cond(a, "fro"), [(2, 3, 3)]),
    ("cond_inf", lambda a: LA.cond(a, float("inf")), [(2, 3, 3)]),
    ("eig_reconstruct", lambda a: (lambda values, vectors: LA.det(
        (vectors * values.unsqueeze(-2)) @ LA.inv(vectors)).unsqueeze(0))(*LA.eig(a)),
     [(3, 3)]),
])
def test_gradcheck(rng, name, fn, shapes):
    assert complex_gradcheck(fn, *(complex_normal(rng, *shape) for shape in shapes))


def _first_derivative(fn, weights):
    """z -> dL/dz of the real loss L = sum(Re(fn(z) * weights)), recorded (create_graph)."""
    def gradient(z):
        if not z.requires_grad or (z.is_leaf and z._is_view()):  # gradcheck's perturbed
            z = dlpy.tensor(z.numpy(), requires_grad=True)  # evaluations (a view made under
        # no_grad of one that requires grad requires grad too, with no node): the value
        with dlpy.enable_grad():
            return grad((fn(z) * weights).real.sum(), z, create_graph=True)[0]
    return gradient


@pytest.mark.parametrize("name, fn", [
    ("inv", LA.inv),
    ("det", lambda a: LA.det(a).unsqueeze(0)),
    ("logabsdet", lambda a: LA.slogdet(a).logabsdet.unsqueeze(0)),
    ("solve", lambda a: LA.solve(a, a[..., :1] * 2)),
    ("solve_triangular", lambda a: LA.solve_triangular(a, a.mH, upper=False)),
    ("cholesky", lambda a: LA.cholesky(a @ a.mH + 3 * dlpy.eye(3, dtype=dlpy.float64))),
    ("matrix_exp", LA.matrix_exp),
    ("lu_factor", lambda a: LA.lu_factor(a).LU),
    ("pinv", LA.pinv),
])
def test_second_derivatives(rng, name, fn):
    z = complex_normal(rng, 3, 3)
    weights = complex_normal(rng, 3, 3, requires_grad=False).numpy()
    if name in ("det", "logabsdet"):
        weights = weights[0, :1]
    # the recorded first derivative (backward_graph) is backward's, and differentiates right
    (plain,) = grad((fn(z) * weights).real.sum(), z)
    np.testing.assert_allclose(_first_derivative(fn, weights)(z).numpy(), plain.numpy(),
                               rtol=1e-10, atol=1e-12)
    assert complex_gradcheck(_first_derivative(fn, weights), z)


@pytest.mark.parametrize("name, fn", [
    ("svdvals", lambda a: LA.svdvals(a) ** 2),
    ("svd_phase_free", lambda a: (lambda u, s, vh: (u.abs() ** 2).sum(0) + s + (vh.abs() ** 2)
                                  .sum(1))(*LA.svd(a, full_matrices=False))),
    ("eigh_phase_free", lambda a: (lambda w, v: w + (v.abs() ** 2).sum(0))(
        *LA.eigh(a @ a.mH + dlpy.eye(3, dtype=dlpy.float64)))),
    ("eigvalsh", lambda a: LA.eigvalsh(a + a.mH)),
    ("qr_abs", lambda a: (LA.qr(a).Q.abs() ** 2).sum(0) + LA.qr(a).R.abs().sum(0)),
    ("eig_phase_free", lambda a: (lambda w, v: w + (v.abs() ** 2).sum(0))(*LA.eig(a))),
    ("eigvals", LA.eigvals),
])
def test_second_derivatives_of_decompositions(rng, name, fn):
    """the recorded first derivative of eigh / svd / qr / eig on complex matrices (phase-free
    losses) differentiates right."""
    z = complex_normal(rng, 3, 3)
    weights = complex_normal(rng, 3, requires_grad=False).numpy()
    assert complex_gradcheck(_first_derivative(fn, weights), z)


def test_phase_dependent_losses_are_refused_as_torch(rng):
    z = complex_normal(rng, 3, 3)
    with pytest.raises(RuntimeError, match="svd backward: the singular vectors of a complex "
                                           "matrix are specified up to multiplication by"):
        LA.svd(z).U.real.sum().backward()
    hermitian = z @ z.mH
    with pytest.raises(RuntimeError, match="eigh backward: the eigenvectors .* the loss depends "
                                           "on this phase"):
        LA.eigh(hermitian).eigenvectors.imag.sum().backward()
    LA.svd(z).U.abs().sum().backward()  # |U| is phase-free: fine
    assert np.isfinite(z.grad).all()


def test_matches_the_real_path_on_real_data(rng):
    a = rng.standard_normal((2, 3, 3))
    for fn in (LA.inv, LA.det, LA.matrix_exp, lambda m: LA.pinv(m), lambda m: LA.svdvals(m)):
        np.testing.assert_allclose(fn(dlpy.tensor(a + 0j)).numpy(), fn(dlpy.tensor(a)).numpy(),
                                   atol=1e-12)


def test_errors(rng):
    z = complex_normal(rng, 3, 3, requires_grad=False)
    with pytest.raises(LA.LinAlgError, match="linalg.inv: The diagonal element 1 is zero"):
        LA.inv(dlpy.tensor(np.zeros((3, 3), complex)))
    with pytest.raises(LA.LinAlgError, match="linalg.cholesky: The factorization could not"):
        LA.cholesky(-(z @ z.mH))
    with pytest.raises(TypeError, match="solve: expected a floating point B, got int64"):
        LA.solve(z, dlpy.tensor(np.ones((3, 1), np.int64)))
    # complex LDL: symmetric (sytrf) and Hermitian (hetrf) factorisations solve their systems
    b = complex_normal(rng, 3, 2, requires_grad=False)
    for hermitian, a in ((False, z + z.mT), (True, z + z.mH)):
        ld, pivots = LA.ldl_factor(a, hermitian=hermitian)
        x = LA.ldl_solve(ld, pivots, b, hermitian=hermitian)
        np.testing.assert_allclose((a @ x).numpy(), b.numpy(), atol=1e-12)
    # complex Householder QR (zgeqrf's reflectors, H^H = I - conj(tau) v v^H): Q R = A, Q^H A = R
    a, tau = LA.geqrf(z)
    r = np.triu(a.numpy())
    np.testing.assert_allclose((LA.householder_product(a, tau).numpy() @ r), z.numpy(),
                               atol=1e-12)
    np.testing.assert_allclose(LA.ormqr(a, tau, z, transpose=True).numpy(), r, atol=1e-12)
    with pytest.raises(RuntimeError, match=r"ormqr: tau.shape\[-1\] must be equal to min"):
        LA.ormqr(z, dlpy.tensor(np.ones(2, complex)), z)


# ------------------------------------------------------------------ the batched factorisations
# (the LU's panels and the LDL^T's per-matrix pivots, vectorised over the batch) against torch on
# batches larger than tests/test_linalg_more.py's: fixtures/linalg_complex/factor.npz
@pytest.fixture(scope="module")
def factors():
    with np.load(FIXTURE.with_name("factor.npz")) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("case", ["lu_square", "lu_wide", "lu_tall", "lu_complex"])
def test_blocked_lu_has_lapacks_pivots(factors, case):
    a = factors[f"{case}:A"]
    lu, pivots, info = LA.lu_factor_ex(dlpy.tensor(a))
    np.testing.assert_array_equal(pivots.numpy(), factors[f"{case}:pivots"])
    assert not info.numpy().any()
    p, lower, upper = LA.lu_unpack(lu, pivots)  # with the pivots, A = P L U fixes L and U
    np.testing.assert_allclose((p @ lower @ upper).numpy(), a, atol=1e-12)
    # the panels change nothing: one panel (the unblocked loop) gives the same pivots and LU
    from dlpy.ops.linalg_more import lu_factor_numpy

    whole = lu_factor_numpy(a, block=a.shape[-1])
    np.testing.assert_array_equal(whole[1], pivots.numpy())
    np.testing.assert_allclose(whole[0], lu.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["ldl_batch", "ldl_large"])
def test_vectorised_ldl_matches_torch_and_each_matrix_alone(factors, case):
    a = factors[f"{case}:A"]
    ld, pivots = LA.ldl_factor(dlpy.tensor(a))
    np.testing.assert_array_equal(pivots.numpy(), factors[f"{case}:pivots"])
    np.testing.assert_allclose(ld.numpy(), factors[f"{case}:factor"], rtol=1e-9, atol=1e-11)
    if a.ndim == 3:  # a matrix's pivots do not depend on its batch neighbours'
        for i in (0, 5, len(a) - 1):
            alone = LA.ldl_factor(dlpy.tensor(a[i]))
            np.testing.assert_array_equal(alone.pivots.numpy(), pivots.numpy()[i])
            np.testing.assert_array_equal(alone.LD.numpy(), ld.numpy()[i])


def test_cholesky_ex_info_and_matrix_rank(rng):
    z = complex_normal(rng, 3, 3, requires_grad=False).numpy()
    hermitian = z @ z.conj().T
    batch = np.stack([hermitian + np.eye(3), -hermitian])  # the second is negative-definite
    factor, info = LA.cholesky_ex(dlpy.tensor(batch))
    assert info.numpy().tolist() == [0, 1]
    np.testing.assert_allclose(factor.numpy()[0], np.linalg.cholesky(batch[0]), atol=1e-12)
    assert np.isnan(factor.numpy()[1]).all()
    low_rank = z[:, :2] @ z[:2, :]  # rank 2
    assert LA.matrix_rank(dlpy.tensor(low_rank)).item() == 2
    assert LA.matrix_rank(dlpy.tensor(low_rank @ low_rank.conj().T), hermitian=True).item() == 2
