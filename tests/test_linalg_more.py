"""The rest of torch.linalg in dlpy.linalg (LU with pivots, lu_solve, the _ex forms, lstsq,
matrix_exp, matrix_rank, cond, householder_product, LDL^T, tensorinv / tensorsolve, vander,
cross) and torch's top-level cholesky_solve / cholesky_inverse / lu_unpack / triangular_solve /
geqrf / orgqr / ormqr / svd_lowrank / pca_lowrank: values and gradients against PyTorch
(tests/fixtures/linalg_more/, make_linalg_more_fixtures.py), float64 gradient checks, second
derivatives, errors, and worked examples."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_grouped
from second_order import check_second_order

import dlpy
import dlpy.functional as F
import dlpy.linalg as LA
from dlpy import Tensor
from dlpy.testing import gradcheck

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "linalg_more"


@functools.cache
def load_cases(family: str) -> dict[str, dict[str, np.ndarray]]:
    return load_grouped(FIXTURES / f"{family}.npz")


def flat(*tensors):
    return F.cat([F.reshape(t, (-1,)) for t in tensors])


def ints(*tensors):
    return np.concatenate([np.asarray(t.data).reshape(-1).astype(np.int64) for t in tensors])


def lu_factor_case(a):
    return tuple(LA.lu_factor(a))


def lu_factor_ex_case(a):
    lu, pivots, info = LA.lu_factor_ex(a)
    return lu, ints(pivots, info)


def lu_unpacked(a):
    return flat(*LA.lu_unpack(*LA.lu_factor(a)))


def lstsq_case(driver):
    def fn(a, b):
        result = LA.lstsq(a, b, driver=driver)
        return flat(result.solution, result.residuals, result.singular_values), \
            ints(result.rank)
    return fn


def cond_case(p):
    return lambda a: LA.cond(a, p)


TORCH_CASES = {
    "lu_factor": lu_factor_case,
    "lu_factor_batched": lu_factor_case,
    "lu_factor_ex_tall": lu_factor_ex_case,
    "lu_factor_ex_wide": lu_factor_ex_case,
    "lu_square": lambda a: flat(*LA.lu(a)),
    "lu_tall": lambda a: flat(*LA.lu(a)),
    "lu_wide": lambda a: flat(*LA.lu(a)),
    "lu_unpack": lu_unpacked,
    "lu_unpack_tall": lu_unpacked,
    "lu_solve": lambda a, b: LA.lu_solve(*LA.lu_factor(a), b),
    "lu_solve_adjoint": lambda a, b: LA.lu_solve(*LA.lu_factor(a), b, adjoint=True),
    "lu_solve_right": lambda a, b: LA.lu_solve(*LA.lu_factor(a), b, left=False),
    "lu_solve_right_adjoint": lambda a, b: LA.lu_solve(*LA.lu_factor(a), b, left=False,
                                                       adjoint=True),
    "lu_solve_broadcast": lambda a, b: LA.lu_solve(*LA.lu_factor(a), b),
    "lu_solve_packed": lambda lu, b, pivots: LA.lu_solve(lu, pivots.astype(np.int32), b),
    "matrix_exp": LA.matrix_exp,
    "matrix_exp_batched": LA.matrix_exp,
    "matrix_exp_large": LA.matrix_exp,
    "matrix_exp_small": LA.matrix_exp,
    "matrix_exp_skew": LA.matrix_exp,
    "matrix_exp_1x1": LA.matrix_exp,
    "cholesky_solve": LA.cholesky_solve,
    "cholesky_solve_upper": lambda b, u: LA.cholesky_solve(b, u.mT, upper=True),
    "cholesky_solve_broadcast": LA.cholesky_solve,
    "cholesky_inverse": LA.cholesky_inverse,
    "cholesky_inverse_upper": lambda u: LA.cholesky_inverse(u.mT, upper=True),
    "triangular_solve": lambda b, a: flat(*LA.triangular_solve(b, a)),
    "triangular_solve_lower_t": lambda b, a: flat(*LA.triangular_solve(b, a, upper=False,
                                                                       transpose=True)),
    "triangular_solve_unit": lambda b, a: LA.triangular_solve(b, a, unitriangular=True)[0],
    "lstsq": lstsq_case(None),
    "lstsq_gelsd": lstsq_case("gelsd"),
    "lstsq_gelss_vector": lstsq_case("gelss"),
    "lstsq_gels": lstsq_case("gels"),
    "lstsq_wide": lstsq_case("gelsd"),
    "lstsq_rank_deficient": lstsq_case("gelsd"),
    "lstsq_batched": lstsq_case("gelss"),
    "householder_product": LA.householder_product,
    "householder_product_short_tau": LA.householder_product,
    "orgqr_square": LA.orgqr,
    "ormqr": LA.ormqr,
    "ormqr_transpose": lambda a, t, c: LA.ormqr(a, t, c, transpose=True),
    "ormqr_right": lambda a, t, c: LA.ormqr(a, t, c, left=False),
    "ormqr_right_transpose": lambda a, t, c: LA.ormqr(a, t, c, left=False, transpose=True),
    "cond": LA.cond,
    "cond_tall": LA.cond,
    "cond_minus_2": cond_case(-2),
    "cond_fro": cond_case("fro"),
    "cond_nuc": cond_case("nuc"),
    "cond_1": cond_case(1),
    "cond_inf": cond_case(float("inf")),
    "cond_minus_inf": cond_case(float("-inf")),
    "inv_ex": lambda a: tuple(LA.inv_ex(a)),
    "solve_ex": lambda a, b: tuple(LA.solve_ex(a, b)),
    "solve_ex_left_false": lambda a, b: LA.solve_ex(a, b, left=False).result,
    "cholesky_ex": lambda a: tuple(LA.cholesky_ex(a)),
    "cholesky_ex_upper": lambda a: LA.cholesky_ex(a, upper=True).L,
    "tensorinv": lambda a: LA.tensorinv(a.reshape(6, 2, 3), ind=1),
    "tensorinv_ind2": lambda a: LA.tensorinv(a.reshape(2, 3, 6), ind=2),
    "tensorsolve": lambda a, b: LA.tensorsolve(a.reshape(2, 3, 6), b),
    "tensorsolve_dims": lambda a, b: LA.tensorsolve(a.reshape(2, 3, 6), b, dims=(0, 1)),
    "vander": LA.vander,
    "vander_batched_n": lambda x: LA.vander(x, N=5),
    "cross": LA.cross,
    "cross_broadcast_dim": lambda a, b: LA.cross(a, b, dim=-2),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case):
    """Forward values (and integer outputs: pivots, info, rank) and every input's gradient."""
    record = load_cases("grads")[case]
    n_inputs = sum(1 for k in record if k.startswith("in"))
    inputs = [Tensor(record[f"in{i}"], requires_grad=True) for i in range(n_inputs)]
    args = {k[len("arg_"):]: v for k, v in record.items() if k.startswith("arg_")}
    out = TORCH_CASES[case](*inputs, **args)
    if isinstance(out, tuple):
        out, integers = out
        np.testing.assert_array_equal(ints(integers) if isinstance(integers, Tensor)
                                      else integers, record["out_indices"].reshape(-1))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, record["out"], rtol=1e-10, atol=1e-12,
                               err_msg="forward")
    out.backward(record["grad_out"])
    for i, t in enumerate(inputs):
        grad = t.grad if t.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(grad, record[f"grad{i}"], rtol=1e-9, atol=1e-11,
                                   err_msg=f"gradient of input {i}")


VALUE_CASES = {
    "lu_factor_ex_singular": lambda a: tuple(LA.lu_factor_ex(a)),
    "inv_ex_singular": lambda a: (LA.inv_ex(a).info,),
    "solve_ex_singular": lambda a, b: (LA.solve_ex(a, b).info,),
    "cholesky_ex_indefinite": lambda a: (LA.cholesky_ex(a).info,),
    "matrix_rank": lambda a: (LA.matrix_rank(a),),
    "matrix_rank_batched": lambda a: (LA.matrix_rank(a),),
    "matrix_rank_hermitian": lambda a: (LA.matrix_rank(a, hermitian=True),),
    "matrix_rank_atol": lambda a: (LA.matrix_rank(a, atol=0.4), LA.matrix_rank(a, rtol=0.2),
                                   LA.matrix_rank(a, atol=0.05, rtol=0.2)),
    "geqrf": lambda a: tuple(LA.geqrf(a)),
    "geqrf_batched_wide": lambda a: tuple(LA.geqrf(a)),
    "ldl_factor": lambda a: tuple(LA.ldl_factor(a)),
    "ldl_factor_batched": lambda a: tuple(LA.ldl_factor(a)),
    "ldl_factor_2x2": lambda a: tuple(LA.ldl_factor(a)),
    "ldl_factor_ex_singular": lambda a: (LA.ldl_factor_ex(a).info,),
    "ldl_solve_2x2": lambda a, b: (LA.ldl_solve(*LA.ldl_factor(a), b),),
    "lstsq_rank": lambda a, b: (LA.lstsq(a, b, driver="gelsd").rank,
                                LA.lstsq(a, b, driver="gelsy").rank,
                                LA.lstsq(a, b, rcond=0.5, driver="gelsd").rank),
    "ldl_solve": lambda a, b: (LA.ldl_solve(*LA.ldl_factor(a), b),),
    "values_2x2": lambda a: (LA.matrix_exp(a.reshape(2, 2)),),
}


@pytest.mark.parametrize("case", sorted(VALUE_CASES))
def test_values_match_torch(case):
    """Outputs without a gradient: info of singular inputs, ranks, geqrf, LDL^T's factors and
    pivots (LAPACK's Bunch-Kaufman choices, 2x2 blocks included)."""
    record = load_cases("values")[case]
    n_inputs = sum(1 for k in record if k.startswith("in"))
    outputs = VALUE_CASES[case](*[Tensor(record[f"in{i}"]) for i in range(n_inputs)])
    floats = [t for t in outputs if t.dtype.kind == "f"]
    integers = [t for t in outputs if t.dtype.kind != "f"]
    if floats:
        np.testing.assert_allclose(flat(*floats).data, record["out"], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ints(*integers) if integers else np.zeros(0, np.int64),
                                  record["out_int"])


def test_every_fixture_case_is_tested():
    assert set(load_cases("grads")) == set(TORCH_CASES)
    assert set(load_cases("values")) == set(VALUE_CASES)


# ------------------------------------------------------------------ gradient checks
@pytest.fixture
def rng():
    return np.random.default_rng(0)


def normal(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def well_conditioned(rng, *shape):
    n = shape[-1]
    return Tensor(rng.standard_normal(shape) + n * np.eye(n), requires_grad=True)


def lower_factor(rng, *shape):
    n = shape[-1]
    return Tensor(np.tril(rng.standard_normal(shape), -1) + np.diag(rng.uniform(1, 2, n)),
                  requires_grad=True)


@pytest.mark.parametrize("shape", [(3, 3), (1, 1), (2, 4, 4), (5, 3), (2, 1, 3, 5)])
def test_lu_factor_and_lu_gradcheck(shape, rng):
    a = normal(rng, *shape)
    assert gradcheck(lambda x: LA.lu_factor_ex(x).LU, a)
    assert gradcheck(lambda x: flat(*LA.lu(x)[1:]), a)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [True, False])
def test_lu_solve_gradcheck(left, adjoint, rng):
    """Through the packed factor (both triangles) and B, batch axes broadcast."""
    lu = well_conditioned(rng, 2, 1, 3, 3)
    pivots = np.array([[[2, 3, 3]], [[1, 2, 3]]], np.int32)
    b = normal(rng, 4, 3, 2) if left else normal(rng, 4, 2, 3)
    assert gradcheck(lambda x, y: LA.lu_solve(x, pivots, y, left=left, adjoint=adjoint), lu, b)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 4, 4)])
@pytest.mark.parametrize("scale", [0.05, 1.0, 4.0])
def test_matrix_exp_gradcheck(shape, scale, rng):
    """Scales that pick a low Pade degree, a middle one, and degree 13 with squarings."""
    a = Tensor(scale * rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(LA.matrix_exp, a, rtol=1e-5 * max(1.0, scale ** 2))


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse_gradcheck(upper, rng):
    factor = lower_factor(rng, 2, 3, 3)
    b = normal(rng, 4, 1, 3, 2)
    # torch's gradient covers the whole factor, which the solve reads one triangle of: the
    # finite differences see only that triangle, so the factor is made triangular first
    factor_of = (lambda f: F.tril(f).mT) if upper else F.tril
    assert gradcheck(lambda y, f: LA.cholesky_solve(y, factor_of(f), upper=upper), b, factor)
    assert gradcheck(lambda f: LA.cholesky_inverse(factor_of(f), upper=upper), factor)


@pytest.mark.parametrize("driver", [None, "gelsd", "gels"])
@pytest.mark.parametrize("shapes", [((5, 3), (5, 2)), ((2, 4, 3), (2, 4)), ((3, 5), (3, 1))])
def test_lstsq_gradcheck(driver, shapes, rng):
    a, b = normal(rng, *shapes[0]), normal(rng, *shapes[1])
    assert gradcheck(lambda x, y: LA.lstsq(x, y, driver=driver).solution, a, b)
    if driver == "gelsd" and shapes[0][-2] > shapes[0][-1]:
        assert gradcheck(lambda x, y: LA.lstsq(x, y, driver=driver).residuals, a, b)


def test_householder_and_ormqr_gradcheck(rng):
    a, tau = normal(rng, 2, 5, 3), normal(rng, 2, 3)
    assert gradcheck(LA.householder_product, a, tau)
    c = normal(rng, 2, 5, 2)
    for transpose in (False, True):
        assert gradcheck(lambda x, t, y, transpose=transpose: LA.ormqr(x, t, y, True, transpose),
                         a, tau, c)
    assert gradcheck(lambda x, t, y: LA.ormqr(x, t, y, False, True), a, tau, normal(rng, 2, 5))


@pytest.mark.parametrize("p", [None, -2, "fro", "nuc", 1, float("inf")])
def test_cond_gradcheck(p, rng):
    assert gradcheck(lambda x: LA.cond(x, p), well_conditioned(rng, 2, 3, 3))


def test_ex_forms_tensorinv_tensorsolve_vander_gradcheck(rng):
    assert gradcheck(lambda x: LA.inv_ex(x).inverse, well_conditioned(rng, 2, 3, 3))
    assert gradcheck(lambda x, y: LA.solve_ex(x, y).result, well_conditioned(rng, 3, 3),
                     normal(rng, 3, 2))
    spd = rng.standard_normal((3, 3))
    spd = Tensor(spd @ spd.T + 3 * np.eye(3), requires_grad=True)
    assert gradcheck(lambda x: LA.cholesky_ex((x + x.mT) * 0.5).L, spd)
    assert gradcheck(lambda x: LA.tensorinv(x.reshape(2, 2, 4), ind=2),
                     well_conditioned(rng, 4, 4))
    assert gradcheck(lambda x, y: LA.tensorsolve(x.reshape(2, 2, 4), y),
                     well_conditioned(rng, 4, 4), normal(rng, 2, 2))
    assert gradcheck(lambda x: LA.vander(x, N=4), normal(rng, 2, 3))


def test_ldl_solve_gradcheck_in_b(rng):
    a = rng.standard_normal((2, 4, 4))
    ld, pivots = LA.ldl_factor(a + np.swapaxes(a, -1, -2))
    assert gradcheck(lambda y: LA.ldl_solve(ld, pivots, y), normal(rng, 3, 1, 4, 2))


# ------------------------------------------------------------------ second derivatives
SECOND_ORDER = {
    "lu_square": (lambda a: flat(*LA.lu(a)[1:]), [(3, 3)]),
    "lu_tall": (lambda a: LA.lu_factor_ex(a).LU, [(2, 4, 3)]),
    "lu_wide": (lambda a: LA.lu_factor_ex(a).LU, [(3, 5)]),
    "lu_solve": (lambda a, b: LA.lu_solve(*LA.lu_factor(a + 3 * np.eye(3)), b), [(3, 3), (3, 2)]),
    "matrix_exp": (LA.matrix_exp, [(2, 3, 3)]),
    "cholesky_solve": (lambda b, f: LA.cholesky_solve(b, F.tril(f, -1) + 2 * np.eye(3)),
                       [(3, 2), (3, 3)]),
    "cholesky_inverse": (lambda f: LA.cholesky_inverse(F.tril(f, -1) + 2 * np.eye(3),
                                                       upper=False), [(3, 3)]),
    "householder_product": (LA.householder_product, [(4, 3), (3,)]),
    "lstsq": (lambda a, b: LA.lstsq(a, b).solution, [(5, 3), (5, 2)]),
}


@pytest.mark.parametrize("case", sorted(SECOND_ORDER))
def test_second_order(case):
    fn, shapes = SECOND_ORDER[case]
    check_second_order(fn, *shapes)


# ------------------------------------------------------------------ errors
def test_singular_and_indefinite_raise_naming_op_and_batch_element():
    singular = np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 4.0]])])
    with pytest.raises(RuntimeError, match=r"^torch\.linalg\.lu_factor: \(Batch element 1\): "
                                           r"U\[2,2\] is zero"):
        LA.lu_factor(singular)
    with pytest.raises(LA.LinAlgError, match=r"^linalg\.inv_ex: \(Batch element 1\): .*singular"):
        LA.inv_ex(singular, check_errors=True)
    with pytest.raises(LA.LinAlgError, match=r"^torch\.linalg\.solve_ex: \(Batch element 1\)"):
        LA.solve_ex(singular, np.ones(2), check_errors=True)
    with pytest.raises(RuntimeError, match=r"^torch\.linalg\.lu_factor_ex: U\[2,2\] is zero"):
        LA.lu_factor_ex(singular[1], check_errors=True)
    with pytest.raises(LA.LinAlgError, match=r"^linalg\.cholesky_ex: \(Batch element 1\): .*"
                                             r"\(the leading minor of order 1 is not"):
        LA.cholesky_ex(np.stack([np.eye(2), -np.eye(2)]), check_errors=True)
    with pytest.raises(LA.LinAlgError, match=r"ldl_factor: .*D\[1,1\] is zero"):
        LA.ldl_factor(np.zeros((3, 3)))
    assert issubclass(LA.LinAlgError, ValueError)


def test_ex_forms_report_info_and_nan_instead_of_raising():
    singular = np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 4.0]])])
    inverse, info = LA.inv_ex(singular)
    np.testing.assert_array_equal(info.data, [0, 2])
    assert info.dtype == np.int32
    np.testing.assert_array_equal(inverse.data[0], np.eye(2))
    assert np.isnan(inverse.data[1]).all()
    result, info = LA.solve_ex(Tensor(singular, requires_grad=True), np.ones((3, 1, 2, 1)))
    assert result.shape == (3, 2, 2, 1) and np.isnan(result.data[:, 1]).all()
    np.testing.assert_array_equal(result.data[:, 0], np.ones((3, 2, 1)))
    result.sum().backward()  # no gradient reaches the singular matrix's nan
    lower, info = LA.cholesky_ex(np.stack([np.eye(2), -np.eye(2)]))
    np.testing.assert_array_equal(info.data, [0, 1])
    assert np.isnan(lower.data[1]).all()


@pytest.mark.parametrize("call, error, message", [
    (lambda: LA.lu_factor(np.ones(3)), ValueError, r"lu_factor: expected a matrix"),
    (lambda: LA.lu_factor(np.ones((2, 2), int)), TypeError, r"lu_factor: expected a floating"),
    (lambda: LA.lu(np.eye(2), pivot=1), TypeError, r"lu: pivot must be True or False"),
    (lambda: LA.lu_solve(np.eye(3), np.array([1, 2, 3]), np.ones((2, 2))), ValueError,
     r"lu_solve: LU \(3, 3\) and B \(2, 2\) do not fit"),
    (lambda: LA.lu_solve(np.eye(3), np.array([1.0, 2, 3]), np.ones((3, 2))), TypeError,
     r"lu_solve: pivots must be integers"),
    (lambda: LA.lu_unpack(np.eye(3), np.array([1, 2])), ValueError,
     r"lu_unpack: expected pivots of shape \(3,\)"),
    (lambda: LA.matrix_exp(np.ones((2, 3))), ValueError, r"matrix_exp: expected square"),
    (lambda: LA.lstsq(np.ones((4, 3)), np.ones((3, 2))), ValueError,
     r"lstsq: A \(4, 3\) and B \(3, 2\) do not fit"),
    (lambda: LA.lstsq(np.ones((4, 3)), np.ones((4, 2)), driver="gelsx"), ValueError,
     r"lstsq: driver must be one of gels, gelsy, gelsd, gelss, got 'gelsx'"),
    (lambda: LA.matrix_rank(np.ones((2, 2)), atol=-1), ValueError,
     r"matrix_rank: atol must be a number >= 0, got -1"),
    (lambda: LA.cond(np.ones((2, 3)), "fro"), ValueError, r"cond: p='fro' needs square"),
    (lambda: LA.cond(np.eye(2), 3), ValueError, r"cond: p must be None"),
    (lambda: LA.vander(np.ones(3), N=1), ValueError, r"vander: N must be an int greater than 1"),
    (lambda: LA.cross(np.ones((2, 3)), np.ones(3)), ValueError,
     r"cross: input and other must have the same number of axes"),
    (lambda: LA.tensorinv(np.ones((2, 3, 4)), ind=1), ValueError,
     r"tensorinv: expected prod\(shape\[:ind\]\) == prod\(shape\[ind:\]\)"),
    (lambda: LA.tensorsolve(np.ones((2, 3, 5)), np.ones((2, 3))), ValueError,
     r"tensorsolve: A \(2, 3, 5\) must be B's shape \(2, 3\)"),
    (lambda: LA.householder_product(np.ones((2, 3)), np.ones(2)), ValueError,
     r"householder_product: expected m >= n"),
    (lambda: LA.householder_product(np.ones((4, 3)), np.ones(4)), ValueError,
     r"householder_product: expected tau of shape \(\) \+ \(k,\) with k <= 3"),
    (lambda: LA.ormqr(np.ones((4, 2)), np.ones(2), np.ones((3, 2))), ValueError,
     r"ormqr: other \(3, 2\) does not fit input \(4, 2\)"),
    (lambda: LA.cholesky_solve(np.ones((2, 1)), np.eye(3)), ValueError,
     r"cholesky_solve: B \(2, 1\) and L \(3, 3\) do not fit"),
    (lambda: LA.cholesky_inverse(np.eye(3), upper="yes"), TypeError,
     r"cholesky_inverse: upper must be True or False"),
    (lambda: LA.inv_ex(np.eye(2), check_errors=None), TypeError,
     r"inv_ex: check_errors must be True or False"),
    (lambda: LA.ldl_solve(np.eye(3), np.array([1, 2, 3]), np.ones((2, 1))), ValueError,
     r"ldl_solve: LD \(3, 3\) and B \(2, 1\) do not fit"),
    (lambda: LA.pca_lowrank(np.ones((4, 3)), q=4), ValueError,
     r"pca_lowrank: q must be an int in \[0, min\(m, n\) = 3\], got 4"),
    (lambda: LA.svd_lowrank(np.ones((4, 3)), niter=-1), ValueError,
     r"svd_lowrank: niter must be a non-negative int, got -1"),
])
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ worked examples
def test_least_squares_fit_equals_normal_equations(rng):
    """A line and a parabola fitted to noisy points: lstsq's coefficients solve
    X^T X w = X^T y, and its residuals are the squared error of that fit."""
    t = np.linspace(-1, 1, 20)
    y = 0.5 - 2 * t + 3 * t ** 2 + 0.1 * rng.standard_normal(20)
    design = Tensor(np.stack([np.ones(20), t, t ** 2], 1))
    fit = LA.lstsq(design, Tensor(y[:, None]), driver="gelsd")
    normal_eq = np.linalg.solve(design.data.T @ design.data, design.data.T @ y)
    np.testing.assert_allclose(fit.solution.data[:, 0], normal_eq, rtol=1e-10)
    np.testing.assert_allclose(fit.solution.data[:, 0], [0.5, -2, 3], atol=0.15)
    np.testing.assert_allclose(fit.residuals.data,
                               [((design.data @ normal_eq - y) ** 2).sum()], rtol=1e-10)
    assert fit.rank.item() == 3 and fit.singular_values.shape == (3,)


def test_matrix_exp_of_skew_symmetric_is_a_rotation(rng):
    """exp(S) for S = -S^T is orthogonal with determinant 1; exp(A) exp(-A) = I; and
    det(exp(A)) = exp(trace(A))."""
    a = rng.standard_normal((3, 4, 4)) * 2
    rotation = LA.matrix_exp(Tensor(a - np.swapaxes(a, -1, -2))).data
    np.testing.assert_allclose(rotation @ np.swapaxes(rotation, -1, -2),
                               np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotation), 1, rtol=1e-12)
    product = LA.matrix_exp(Tensor(a)).data @ LA.matrix_exp(Tensor(-a)).data
    np.testing.assert_allclose(product, np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(LA.matrix_exp(Tensor(a)).data),
                               np.exp(np.trace(a, axis1=-2, axis2=-1)), rtol=1e-10)
    single = LA.matrix_exp(Tensor(a.astype(np.float32)))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.data, LA.matrix_exp(Tensor(a)).data, rtol=1e-4,
                               atol=1e-4)


def test_lu_factor_then_lu_solve_equals_solve(rng):
    a = Tensor(rng.standard_normal((2, 5, 5)))
    b = Tensor(rng.standard_normal((3, 1, 5, 2)))
    factor, pivots = LA.lu_factor(a)
    np.testing.assert_allclose(LA.lu_solve(factor, pivots, b).data, LA.solve(a, b).data,
                               rtol=1e-10, atol=1e-12)
    p, lower, upper = LA.lu(a)
    np.testing.assert_allclose((p @ lower @ upper).data, a.data, atol=1e-14)
    p_again, lower_again, upper_again = LA.lu_unpack(factor, pivots)
    np.testing.assert_array_equal(p_again.data, p.data)
    np.testing.assert_array_equal(upper_again.data, upper.data)


def test_geqrf_householder_product_is_qr(rng):
    a = rng.standard_normal((2, 6, 4))
    reflectors, tau = LA.geqrf(a)
    q = LA.householder_product(reflectors, tau).data
    np.testing.assert_allclose(q @ np.triu(reflectors.data[..., :4, :]), a, atol=1e-13)
    np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(4),
                                                                           (2, 4, 4)),
                               atol=1e-13)
    full_q_t_a = LA.ormqr(reflectors, tau, Tensor(a), transpose=True).data  # Q^T A = [R; 0]
    np.testing.assert_allclose(full_q_t_a[..., 4:, :], 0, atol=1e-13)


def test_ldl_factor_solves_an_indefinite_system(rng):
    a = rng.standard_normal((3, 5, 5))
    a = a + np.swapaxes(a, -1, -2)
    b = rng.standard_normal((3, 5, 2))
    ld, pivots = LA.ldl_factor(a)
    np.testing.assert_allclose(LA.ldl_solve(ld, pivots, b).data, np.linalg.solve(a, b),
                               rtol=1e-9, atol=1e-11)


def test_svd_lowrank_and_pca_lowrank_recover_a_low_rank_matrix(rng):
    """Randomised: orthonormal factors, the exact singular values of a rank-3 matrix, and a
    reconstruction; PCA's variances are the centred covariance's top eigenvalues."""
    a = rng.standard_normal((2, 30, 3)) @ rng.standard_normal((2, 3, 12))
    u, s, v = LA.svd_lowrank(Tensor(a), q=5, generator=np.random.default_rng(1))
    assert u.shape == (2, 30, 5) and s.shape == (2, 5) and v.shape == (2, 12, 5)
    np.testing.assert_allclose(np.swapaxes(u.data, -1, -2) @ u.data,
                               np.broadcast_to(np.eye(5), (2, 5, 5)), atol=1e-12)
    np.testing.assert_allclose(s.data[:, :3], np.linalg.svd(a, compute_uv=False)[:, :3],
                               rtol=1e-10)
    np.testing.assert_allclose((u.data * s.data[:, None, :]) @ np.swapaxes(v.data, -1, -2), a,
                               atol=1e-10)
    wide_u, _, wide_v = LA.svd_lowrank(Tensor(np.swapaxes(a, -1, -2)), q=4)
    assert wide_u.shape == (2, 12, 4) and wide_v.shape == (2, 30, 4)
    data = a[0] + 5.0  # an offset that centring removes
    _, s, v = LA.pca_lowrank(Tensor(data), q=3, generator=np.random.default_rng(2))
    centred = data - data.mean(0)
    variances = np.sort(np.linalg.eigvalsh(centred.T @ centred / 29))[::-1][:3]
    np.testing.assert_allclose(s.data ** 2 / 29, variances, rtol=1e-9)
    u, s, v = LA.svd_lowrank(Tensor(a[0], requires_grad=True), q=3)
    s.sum().backward()  # differentiable: the nuclear norm's gradient, U V^T
    assert dlpy.is_grad_enabled()


def test_matrix_rank_and_cond_of_a_nearly_singular_matrix():
    a = np.diag([1.0, 1e-3, 1e-12])
    assert LA.matrix_rank(a).item() == 3
    assert LA.matrix_rank(a, rtol=1e-9).item() == 2
    np.testing.assert_allclose(LA.cond(Tensor(a)).item(), 1e12, rtol=1e-6)
    assert LA.cond(Tensor(np.array([[1.0, 2.0], [2.0, 4.0]])), "fro").item() == np.inf


def test_tensor_methods_and_top_level_names(rng):
    """torch's Tensor methods and top-level forms: the same values as dlpy.linalg's."""
    a = Tensor(rng.standard_normal((3, 3)) + 3 * np.eye(3))
    b = Tensor(rng.standard_normal((3, 2)))
    np.testing.assert_array_equal(a.matrix_exp().data, LA.matrix_exp(a).data)
    np.testing.assert_array_equal(dlpy.matrix_exp(a).data, LA.matrix_exp(a).data)
    lower = LA.cholesky(a @ a.mT)
    np.testing.assert_array_equal(b.cholesky_solve(lower).data,
                                  dlpy.cholesky_solve(b, lower).data)
    np.testing.assert_allclose(lower.cholesky_inverse().data, np.linalg.inv((a @ a.mT).data),
                               rtol=1e-10)
    packed, pivots = a.lu()
    packed_too, pivots_too, info = dlpy.lu(a, get_infos=True)
    np.testing.assert_array_equal(packed.data, packed_too.data)
    assert info.item() == 0
    np.testing.assert_allclose(b.lu_solve(packed, pivots).data, np.linalg.solve(a.data, b.data),
                               rtol=1e-10)
    np.testing.assert_array_equal(dlpy.lu_solve(b, packed, pivots).data,
                                  b.lu_solve(packed, pivots).data)
    p, lower_factor, upper_factor = dlpy.lu_unpack(packed, pivots)
    np.testing.assert_allclose((p @ lower_factor @ upper_factor).data, a.data, atol=1e-14)
    solution, copy = b.triangular_solve(a, upper=False)
    np.testing.assert_allclose(solution.data, np.linalg.solve(np.tril(a.data), b.data),
                               rtol=1e-10)
    np.testing.assert_array_equal(copy.data, a.data)
    reflectors, tau = a.geqrf()
    q = reflectors.orgqr(tau)
    np.testing.assert_allclose(reflectors.ormqr(tau, b).data, (q @ b).data, rtol=1e-10)
    np.testing.assert_array_equal(dlpy.orgqr(reflectors, tau).data, q.data)
    assert dlpy.svd_lowrank(a, q=2)[1].shape == (2,)
    assert dlpy.pca_lowrank(a, q=2)[2].shape == (3, 2)
    into = dlpy.zeros(1)  # torch's out=: the result written into it (resized, with a warning)
    with pytest.warns(UserWarning, match="An output with one or more elements "
                                         "was resized"):
        assert dlpy.matrix_exp(a, out=into) is into
    np.testing.assert_allclose(into.data, dlpy.matrix_exp(a).data.astype(np.float32), rtol=1e-6)
    packed, pivots = Tensor(np.ones((2, 2))).lu()  # singular: factors, no error (torch's
    np.testing.assert_array_equal(packed.data, [[1.0, 1.0], [1.0, 0.0]])  # _lu_with_info)
    np.testing.assert_array_equal(pivots.data, [1, 2])
