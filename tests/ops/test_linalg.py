"""dlpy.linalg (inv, det, slogdet, solve, solve_triangular, cholesky, qr, eigh, eigvalsh, svd,
svdvals, pinv, matrix_power, the norms, multi_dot, vecdot): gradients, PyTorch values, errors."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
import dlpy.linalg as LA
from dlpy import Tensor
from dlpy.testing import gradcheck


def flat(*tensors):
    return F.cat([F.reshape(t, (-1,)) for t in tensors])


def signs(v):
    """+-1 per column of v (..., n, k): the sign of its largest entry, as the fixture script."""
    index = np.argmax(np.abs(v.data), axis=-2)[..., None, :]
    return np.sign(np.take_along_axis(v.data, index, -2))


def eigh_fixed(a, uplo="L"):
    values, vectors = LA.eigh(a, UPLO=uplo)
    return flat(values, vectors * signs(vectors))


def svd_fixed(a, full_matrices=False):
    u, s, vh = LA.svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    u, vh = u[..., :k], vh[..., :k, :]
    sign = signs(u)
    return flat(u * sign, s, vh * np.swapaxes(sign, -1, -2))


TORCH_CASES = {
    "inv": LA.inv,
    "inv_batched": LA.inv,
    "det": LA.det,
    "det_batched": LA.det,
    "slogdet": lambda a: LA.slogdet(a).logabsdet,
    "slogdet_signed": lambda a: flat(*LA.slogdet(a)) * 1.0,
    "solve_vector": LA.solve,
    "solve_matrix": LA.solve,
    "solve_broadcast": LA.solve,
    "solve_batched_vector": LA.solve,
    "solve_shared_vector": LA.solve,
    "solve_left_false": lambda a, b: LA.solve(a, b, left=False),
    "cholesky": LA.cholesky,
    "cholesky_batched": LA.cholesky,
    "cholesky_upper": lambda a: LA.cholesky(a, upper=True),
    "qr_tall": lambda a: flat(*LA.qr(a)),
    "qr_square": lambda a: flat(*LA.qr(a)),
    "qr_wide": lambda a: flat(*LA.qr(a)),
    "qr_batched": lambda a: flat(*LA.qr(a)),
    "qr_complete_wide": lambda a: flat(*LA.qr(a, mode="complete")),
    "qr_r_only": lambda a: LA.qr(a).R,
    "eigh": eigh_fixed,
    "eigh_batched": eigh_fixed,
    "eigh_upper": lambda a: eigh_fixed(a, "U"),
    "eigh_values_only": lambda a: LA.eigh(a).eigenvalues,
    "eigvalsh": LA.eigvalsh,
    "svd_tall": svd_fixed,
    "svd_wide": svd_fixed,
    "svd_square_batched": svd_fixed,
    "svd_full_tall": lambda a: svd_fixed(a, True),
    "svd_full_wide": lambda a: svd_fixed(a, True),
    "svd_values_only": lambda a: LA.svd(a).S,
    "svdvals": LA.svdvals,
    "pinv_tall": LA.pinv,
    "pinv_wide": LA.pinv,
    "pinv_rank_deficient": LA.pinv,
    "matrix_power_3": lambda a: LA.matrix_power(a, 3),
    "matrix_power_negative": lambda a: LA.matrix_power(a, -2),
    "matrix_power_0": lambda a: LA.matrix_power(a, 0),
    "matrix_power_1": lambda a: LA.matrix_power(a, 1) * 1.0,
    "matrix_norm_fro": LA.matrix_norm,
    "matrix_norm_nuc": lambda a: LA.matrix_norm(a, "nuc"),
    "matrix_norm_2_dims": lambda a: LA.matrix_norm(a, 2, dim=(2, 0)),
    "matrix_norm_-2_keepdim": lambda a: LA.matrix_norm(a, -2, keepdim=True),
    "matrix_norm_1": lambda a: LA.matrix_norm(a, 1, dim=(0, 2), keepdim=True),
    "matrix_norm_-1": lambda a: LA.matrix_norm(a, -1),
    "matrix_norm_inf": lambda a: LA.matrix_norm(a, float("inf")),
    "matrix_norm_-inf": lambda a: LA.matrix_norm(a, float("-inf")),
    "norm_default": LA.norm,
    "norm_vector_dim": lambda a: LA.norm(a, 1, dim=1),
    "norm_matrix_ord": lambda a: LA.norm(a, 2),
    "norm_matrix_dims": lambda a: LA.norm(a, "fro", dim=(0, 2)),
    "norm_vector_ord": lambda a: LA.norm(a, 3),
    "vector_norm": lambda a: LA.vector_norm(a, 3, dim=(0, 2), keepdim=True),
    "multi_dot": lambda a, b, c, d: LA.multi_dot([a, b, c, d]),
    "multi_dot_matrices": lambda a, b, c: LA.multi_dot([a, b, c]),
    "vecdot": LA.vecdot,
    "linalg_diagonal": lambda a: LA.diagonal(a, offset=1),
    "det_exact_2x2": lambda a: LA.det(F.reshape(a, (2, 2))),
    "solve_triangular_lower": lambda a, b: LA.solve_triangular(a, b, upper=False),
    "solve_triangular_upper_batched": lambda a, b: LA.solve_triangular(a, b, upper=True),
    "solve_triangular_broadcast": lambda a, b: LA.solve_triangular(a, b, upper=False),
    "solve_triangular_right": lambda a, b: LA.solve_triangular(a, b, upper=True, left=False),
    "solve_triangular_unit": lambda a, b: LA.solve_triangular(a, b, upper=False,
                                                              unitriangular=True),
    "solve_triangular_right_unit": lambda a, b: LA.solve_triangular(a, b, upper=False, left=False,
                                                                    unitriangular=True),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("linalg", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("linalg") == set(TORCH_CASES)


# ------------------------------------------------------------------ gradient checks
BATCHES = [(), (1,), (2,), (2, 1)]


def normal(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def well_conditioned(rng, *shape):
    n = shape[-1]
    return Tensor(rng.standard_normal(shape) + n * np.eye(n), requires_grad=True)


def symmetric(a):
    """(a + a^T) / 2: the factorisations read one triangle, central differences see both."""
    return (a + a.mT) * 0.5


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", [1, 3])
def test_inv_det_slogdet_gradcheck(batch, n, rng):
    a = well_conditioned(rng, *batch, n, n)
    assert gradcheck(LA.inv, a)
    assert gradcheck(LA.det, normal(rng, *batch, n, n))
    assert gradcheck(lambda x: LA.slogdet(x).logabsdet, normal(rng, *batch, n, n))


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3,)),
     ((2, 1, 3, 3), (4, 3, 1)), ((3, 3), (2, 3, 2)), ((1, 1), (1,))],
)
def test_solve_gradcheck(a_shape, b_shape, rng):
    a, b = well_conditioned(rng, *a_shape), normal(rng, *b_shape)
    assert gradcheck(LA.solve, a, b)


def test_solve_right_gradcheck(rng):
    a, b = well_conditioned(rng, 2, 3, 3), normal(rng, 4, 3)
    assert gradcheck(lambda x, y: LA.solve(x, y, left=False), a, b)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)), ((3, 3), (4, 3, 2)), ((2, 1, 3, 3), (4, 3, 2)),
     ((1, 3, 3), (2, 3, 3)), ((2, 3, 3), (1, 3, 2)), ((1, 1), (1, 1))],
)
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular_gradcheck(a_shape, b_shape, upper, unitriangular, rng):
    """A is full: the gradient is zero outside the triangle (and on the diagonal for
    unitriangular), which central differences confirm, as the triangle is all that is read."""
    a, b = well_conditioned(rng, *a_shape), normal(rng, *b_shape)
    assert gradcheck(lambda x, y: LA.solve_triangular(x, y, upper=upper,
                                                      unitriangular=unitriangular), a, b)
    right = normal(rng, *b_shape[:-2], b_shape[-1], b_shape[-2])  # X A = B
    assert gradcheck(lambda x, y: LA.solve_triangular(x, y, upper=upper, left=False,
                                                      unitriangular=unitriangular), a, right)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_gradcheck(batch, upper, rng):
    a = rng.standard_normal(batch + (3, 3))
    spd = Tensor(a @ np.swapaxes(a, -1, -2) + 3 * np.eye(3), requires_grad=True)
    assert gradcheck(lambda x: LA.cholesky(symmetric(x), upper=upper), spd)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 1, 2, 3), (1, 1)])
def test_qr_gradcheck(shape, rng):
    a = normal(rng, *shape)
    assert gradcheck(lambda x: flat(*LA.qr(x)), a)
    assert gradcheck(lambda x: LA.qr(x).Q, a)
    assert gradcheck(lambda x: LA.qr(x).R, a)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_gradcheck(batch, uplo, rng):
    a = normal(rng, *batch, 4, 4)
    assert gradcheck(lambda x: eigh_fixed(symmetric(x), uplo), a)
    assert gradcheck(lambda x: LA.eigh(symmetric(x), uplo).eigenvalues, a)
    assert gradcheck(lambda x: LA.eigvalsh(symmetric(x), uplo), a)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 1, 2, 3)])
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd_gradcheck(shape, full_matrices, rng):
    a = normal(rng, *shape)
    assert gradcheck(lambda x: svd_fixed(x, full_matrices), a)
    assert gradcheck(lambda x: LA.svd(x, full_matrices).S, a)
    assert gradcheck(LA.svdvals, a)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 2, 3)])
def test_pinv_gradcheck(shape, rng):
    assert gradcheck(LA.pinv, normal(rng, *shape))


@pytest.mark.parametrize("power", [-3, -1, 0, 1, 2, 5])
def test_matrix_power_gradcheck(power, rng):
    a = Tensor(rng.standard_normal((2, 3, 3)) * 0.5 + 2 * np.eye(3), requires_grad=True)
    assert gradcheck(lambda x: LA.matrix_power(x, power), a)
    np.testing.assert_allclose(LA.matrix_power(a, power).data,
                               np.linalg.matrix_power(a.data, power), rtol=1e-10)


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, float("inf"), float("-inf")])
@pytest.mark.parametrize("dim, keepdim", [((-2, -1), False), ((2, 0), True), ((0, 1), False)])
def test_matrix_norm_gradcheck_and_values(ord, dim, keepdim, rng):  # noqa: A002
    a = normal(rng, 2, 3, 4)
    assert gradcheck(lambda x: LA.matrix_norm(x, ord, dim, keepdim), a)
    moved = np.moveaxis(a.data, dim, (-2, -1))
    expected = np.linalg.norm(moved, ord, axis=(-2, -1))
    if keepdim:
        expected = np.expand_dims(expected, tuple(sorted(d % 3 for d in dim)))
    np.testing.assert_allclose(LA.matrix_norm(a, ord, dim, keepdim).data, expected, rtol=1e-12)


def test_norm_dispatch(rng):
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(LA.norm(Tensor(x)).data, np.linalg.norm(x))
    np.testing.assert_allclose(LA.norm(Tensor(x), "nuc").data, np.linalg.norm(x, "nuc"))
    np.testing.assert_allclose(LA.norm(Tensor(x), 1, dim=0).data, np.abs(x).sum(0))
    np.testing.assert_allclose(LA.norm(Tensor(x[0]), float("inf")).data, np.abs(x[0]).max())
    np.testing.assert_allclose(LA.vector_norm(Tensor(x), 2).data, np.linalg.norm(x))
    np.testing.assert_allclose(LA.vecdot(Tensor(x), Tensor(x), dim=0).data, (x * x).sum(0))


def test_multi_dot_and_vecdot_gradcheck(rng):
    a, b, c = normal(rng, 3, 4), normal(rng, 4, 2), normal(rng, 2)
    assert gradcheck(lambda *xs: LA.multi_dot(xs), a, b, c)
    assert gradcheck(lambda x, y: LA.vecdot(x, y, dim=0), normal(rng, 3, 2), normal(rng, 3, 1))


# ------------------------------------------------------------------ values and behaviour
def test_det_gradient_of_a_singular_matrix_is_the_cofactor_matrix():
    """d det / dA = the cofactor matrix, also for a singular A (PyTorch 2.13 gives 0 here)."""
    a = Tensor(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]), requires_grad=True)
    y = LA.det(a)
    assert abs(y.item()) < 1e-12
    y.backward()
    cofactor = np.array([[4.0, 4.0, -4.0], [-2.0, -2.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(a.grad, cofactor, atol=1e-12)
    assert gradcheck(LA.det, a)


def test_slogdet_sign_and_singular(rng):
    a = rng.standard_normal((3, 4, 4))
    sign, logabsdet = LA.slogdet(Tensor(a))
    np.testing.assert_allclose(sign.data * np.exp(logabsdet.data), np.linalg.det(a))
    assert not sign.requires_grad
    singular = Tensor(np.ones((2, 2)), requires_grad=True)
    sign, logabsdet = LA.slogdet(singular)
    assert sign.item() == 0 and logabsdet.item() == -np.inf
    with np.errstate(all="ignore"):
        logabsdet.backward()
    assert not np.isfinite(singular.grad).all()


def test_factorisations_reconstruct(rng):
    a = rng.standard_normal((2, 4, 3))
    q, r = LA.qr(Tensor(a))
    np.testing.assert_allclose((q.data @ r.data), a, atol=1e-12)
    assert q.shape == (2, 4, 3) and r.shape == (2, 3, 3)
    q, r = LA.qr(Tensor(a), mode="complete")
    assert q.shape == (2, 4, 4) and r.shape == (2, 4, 3)
    u, s, vh = LA.svd(Tensor(a))
    assert u.shape == (2, 4, 4) and s.shape == (2, 3) and vh.shape == (2, 3, 3)
    u, s, vh = LA.svd(Tensor(a), full_matrices=False)
    np.testing.assert_allclose((u.data * s.data[:, None, :]) @ vh.data, a, atol=1e-12)
    sym = a[:, :3] + np.swapaxes(a[:, :3], -1, -2)
    values, vectors = LA.eigh(Tensor(sym))
    np.testing.assert_allclose(vectors.data @ (values.data[:, :, None] * np.swapaxes(
        vectors.data, -1, -2)), sym, atol=1e-12)
    spd = sym @ sym + np.eye(3)
    factor = LA.cholesky(Tensor(spd))
    np.testing.assert_allclose(factor.data @ np.swapaxes(factor.data, -1, -2), spd, atol=1e-12)
    np.testing.assert_allclose(LA.pinv(Tensor(a)).data, np.linalg.pinv(a), atol=1e-12)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular_solves_with_the_triangle_only(upper, left, unitriangular, rng):
    a = rng.standard_normal((2, 4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal((3, 1, 4, 4))
    offset = 1 if unitriangular else 0
    triangle = (np.triu(a, offset) if upper else np.tril(a, -offset)) + offset * np.eye(4)
    x = LA.solve_triangular(Tensor(a), Tensor(b), upper=upper, left=left,
                            unitriangular=unitriangular)
    assert x.shape == (3, 2, 4, 4)
    np.testing.assert_allclose(triangle @ x.data if left else x.data @ triangle,
                               np.broadcast_to(b, (3, 2, 4, 4)), atol=1e-12)
    r = rng.standard_normal((4, 4))
    unread = (np.tril(r, -1) if upper else np.triu(r, 1)) + offset * np.diag(np.diag(r))
    other = LA.solve_triangular(Tensor(a + unread), Tensor(b), upper=upper, left=left,
                                unitriangular=unitriangular)
    np.testing.assert_array_equal(other.data, x.data)


def test_eigh_reads_one_triangle(rng):
    a = rng.standard_normal((3, 3))
    lower = LA.eigvalsh(Tensor(np.tril(a))).data
    np.testing.assert_allclose(LA.eigvalsh(Tensor(a)).data, lower)
    np.testing.assert_allclose(LA.eigvalsh(Tensor(np.triu(a)), "U").data,
                               LA.eigvalsh(Tensor(a), "U").data)


def test_unused_outputs_give_finite_gradients_for_repeated_values():
    """Only S (or only the eigenvalues) used: torch's simpler formula, finite even when values
    repeat; the singular vectors' gradient there divides by zero, as torch's."""
    eye = Tensor(np.eye(3), requires_grad=True)
    LA.svd(eye).S.sum().backward()
    np.testing.assert_allclose(eye.grad, np.eye(3))
    eye.grad = None
    LA.eigh(eye).eigenvalues.sum().backward()
    np.testing.assert_allclose(eye.grad, np.eye(3))


def test_float32_stays_float32(rng):
    a = Tensor(rng.standard_normal((3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32),
               requires_grad=True)
    for out in (LA.inv(a), LA.det(a), LA.solve(a, a), LA.qr(a).Q, LA.svd(a).S, LA.pinv(a)):
        assert out.dtype == np.float32
    LA.inv(a).sum().backward()
    assert a.grad.dtype == np.float32


def test_namespace_and_methods(rng):
    assert dlpy.linalg is LA
    assert "linalg" in dir(dlpy) and "linalg" in dlpy.__all__
    assert [name for name in LA.__all__ if not hasattr(LA, name)] == []
    a = Tensor(rng.standard_normal((3, 3)) + 3 * np.eye(3))
    np.testing.assert_allclose(a.inverse().data, LA.inv(a).data)
    np.testing.assert_allclose(a.det().data, LA.det(a).data)
    assert isinstance(LA.qr(a), LA.QRResult) and isinstance(LA.svd(a), LA.SVDResult)
    assert isinstance(LA.eigh(a), LA.EighResult) and isinstance(LA.slogdet(a), LA.SlogdetResult)


# ------------------------------------------------------------------ errors
def test_singular_matrices_raise():
    singular = Tensor(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(LA.LinAlgError, match=r"^linalg\.inv: The diagonal element 2 is zero, the "
                       r"inversion could not be completed because the input matrix is singular\.$"):
        LA.inv(singular)
    batch = Tensor(np.stack([np.eye(2), np.zeros((2, 2))]))
    with pytest.raises(ValueError, match=r"^linalg\.inv: \(Batch element 1\): The diagonal "
                       r"element 1"):
        LA.inv(batch)
    with pytest.raises(ValueError, match=r"^torch\.linalg\.solve: \(Batch element 1\): The solver"):
        LA.solve(batch, Tensor(np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"^torch\.linalg\.solve: The solver failed because the "
                       r"input matrix is singular\.$"):
        LA.solve(singular, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"linalg\.cholesky: .*not positive-definite \(the "
                       r"leading minor of order 1"):
        LA.cholesky(Tensor(-np.eye(3)))


def test_solve_triangular_with_a_zero_on_the_diagonal_raises():
    a = Tensor(np.stack([np.eye(3), np.diag([1.0, 0.0, 2.0])]))
    with pytest.raises(LA.LinAlgError, match=r"^solve_triangular: the matrix is singular: a zero "
                                             r"on its diagonal \(batch element 1\)$"):
        LA.solve_triangular(a, Tensor(np.ones((3, 1))), upper=True)
    with pytest.raises(ValueError, match=r"^solve_triangular: the matrix is singular: a zero on "
                                         r"its diagonal$"):
        LA.solve_triangular(a[1], Tensor(np.ones((2, 3))), upper=False, left=False)
    x = LA.solve_triangular(a, Tensor(np.ones((3, 1))), upper=True, unitriangular=True)
    np.testing.assert_allclose(x.data, np.ones((2, 3, 1)))  # the diagonal is not read


@pytest.mark.parametrize(
    "fn, shape, message",
    [
        (LA.inv, (2, 3), r"inv: expected square matrices \(..., n, n\), got shape \(2, 3\)"),
        (LA.det, (3,), r"det: expected a matrix or a batch of them \(..., m, n\), got shape"),
        (LA.cholesky, (2, 3, 4), r"cholesky: expected square matrices"),
        (LA.eigh, (3, 4), r"eigh: expected square matrices"),
        (lambda a: LA.matrix_power(a, 2), (3, 4), r"matrix_power: expected square matrices"),
        (LA.svd, (3,), r"svd: expected a matrix or a batch of them"),
        (lambda a: LA.qr(a, mode="x"), (3, 3),
         r"qr: mode must be 'reduced', 'complete' or 'r'"),
        (lambda a: LA.eigh(a, "X"), (3, 3), r"eigh: UPLO must be 'L' or 'U', got 'X'"),
        (lambda a: LA.matrix_norm(a, 3), (3, 3), r"matrix_norm: ord must be one of 'fro', 'nuc'"),
        (lambda a: LA.matrix_norm(a, "fro", dim=(1, 1)), (3, 3),
         r"matrix_norm: dim must name two different axes"),
        (LA.matrix_norm, (3,), r"matrix_norm: expected at least 2 axes"),
        (lambda a: LA.norm(a, 2), (2, 3, 3), r"norm: with ord 2 and no dim the input must be 1-D"),
        (lambda a: LA.norm(a, "nuc", dim=0), (3, 3), r"norm: ord 'nuc' is a matrix norm"),
        (lambda a: LA.multi_dot([a]), (3, 3), r"multi_dot: expected at least 2 tensors"),
        (lambda a: LA.multi_dot([a, a]), (3, 2), r"multi_dot: tensors 0 \(3, 2\) and 1 \(3, 2\)"),
        (lambda a: LA.pinv(a, rtol=-1.0), (3, 3), r"pinv: rtol must be a number >= 0"),
    ],
)
def test_shape_and_argument_errors(fn, shape, message):
    with pytest.raises(ValueError, match=message):
        fn(Tensor(np.ones(shape)))


@pytest.mark.parametrize(
    "a_shape, b_shape, left, message",
    [
        ((3, 3), (2, 3), True, r"solve: A \(3, 3\) and B \(2, 3\) do not fit A X = B"),
        ((2, 3, 3), (3, 3, 1), True, r"solve: the batch axes of A \(2, 3, 3\) and B \(3, 3, 1\)"),
        ((3, 3), (3,), False, r"solve: with left=False, B must be \(..., k, 3\)"),
    ],
)
def test_solve_shape_errors(a_shape, b_shape, left, message):
    with pytest.raises(ValueError, match=message):
        LA.solve(Tensor(np.eye(3) * np.ones(a_shape)), Tensor(np.ones(b_shape)), left=left)


@pytest.mark.parametrize(
    "a_shape, b_shape, left, message",
    [
        ((2, 3), (2, 1), True, r"solve_triangular: expected square matrices \(..., n, n\), got "
                               r"shape \(2, 3\)"),
        ((3,), (3, 1), True, r"solve_triangular: expected a matrix or a batch of them"),
        ((3, 3), (3,), True, r"solve_triangular: expected B to be matrices \(..., n, k\), got "
                             r"shape \(3,\)"),
        ((3, 3), (2, 3), True, r"solve_triangular: A \(3, 3\) and B \(2, 3\) do not fit A X = B "
                               r"\(B must be \(..., 3, k\)\)"),
        ((3, 3), (3, 2), False, r"solve_triangular: A \(3, 3\) and B \(3, 2\) do not fit "
                                r"X A = B \(B must be \(..., k, 3\)\)"),
        ((2, 3, 3), (3, 3, 1), True, r"solve_triangular: the batch axes of A \(2, 3, 3\) and B "
                                     r"\(3, 3, 1\) cannot be broadcast"),
    ],
)
def test_solve_triangular_shape_errors(a_shape, b_shape, left, message):
    with pytest.raises(ValueError, match=message):
        LA.solve_triangular(Tensor(np.ones(a_shape)), Tensor(np.ones(b_shape)), upper=False,
                            left=left)


def test_type_errors():
    with pytest.raises(TypeError, match="det: expected a floating point tensor, got int64"):
        LA.det(Tensor(np.eye(2, dtype=np.int64)))
    with pytest.raises(TypeError,
                       match=r"linalg_matrix_power\(\): argument 'n' must be int, not float"):
        LA.matrix_power(Tensor(np.eye(2)), 2.0)
    with pytest.raises(TypeError, match="cholesky: upper must be True or False"):
        LA.cholesky(Tensor(np.eye(2)), upper=1)
    eye = Tensor(np.eye(2))
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'upper'"):
        LA.solve_triangular(eye, eye)
    with pytest.raises(TypeError, match="solve_triangular: upper must be True or False, got 'L'"):
        LA.solve_triangular(eye, eye, upper="L")
    with pytest.raises(TypeError, match="solve_triangular: left must be True or False, got 0"):
        LA.solve_triangular(eye, eye, upper=True, left=0)
    with pytest.raises(TypeError, match="solve_triangular: expected a floating point B, got int64"):
        LA.solve_triangular(eye, Tensor(np.ones((2, 1), dtype=np.int64)), upper=True)


def test_qr_complete_of_a_tall_matrix_has_no_gradient(rng):
    a = normal(rng, 4, 2)
    q, _ = LA.qr(a, mode="complete")
    with pytest.raises(NotImplementedError, match="qr: the QR decomposition is not "
                                                  "differentiable when mode='complete'"):
        q.sum().backward()
