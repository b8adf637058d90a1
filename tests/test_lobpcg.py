"""dlpy.lobpcg: eigenvalues against torch.lobpcg's (fixtures/linalg_complex/lobpcg.npz, made by
make_linalg_complex_fixtures.py) on SPD matrices, generalised (B) and smallest, its gradient
(eigenvalues and eigenvectors) against torch's and central differences, the eigen-equations,
batches, settings and errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_linalg_complex import LOBPCG_CASES

import dlpy
import dlpy.linalg as LA
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "linalg_complex" / "lobpcg.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def spd(rng, m, spread=50.0):
    q = np.linalg.qr(rng.standard_normal((m, m)))[0]
    return (q * np.linspace(1.0, spread, m)) @ q.T


@pytest.mark.parametrize("case", LOBPCG_CASES)
def test_eigenvalues_against_torch(ref, case):
    n, k, generalised, largest, gradient = LOBPCG_CASES[case]
    a = dlpy.tensor(ref[f"{case}:A"], requires_grad=gradient)
    b = dlpy.tensor(ref[f"{case}:B"]) if generalised else None
    values, vectors = dlpy.lobpcg(a, k=k, B=b, X=dlpy.tensor(ref[f"{case}:X"]),
                                  largest=largest, niter=200, tol=1e-10)
    np.testing.assert_allclose(values.numpy(), ref[f"{case}:values"], rtol=1e-9)
    # the eigen-equations A x = E B x, x^T B x = I
    x, e = vectors.numpy(), values.numpy()
    bx = x if b is None else b.numpy() @ x
    np.testing.assert_allclose(a.numpy() @ x, bx * e, atol=1e-6 * np.abs(e).max())
    np.testing.assert_allclose(x.T @ bx, np.eye(k), atol=1e-9)
    if gradient:
        loss = (values * dlpy.tensor(ref[f"{case}:weights"])).sum()
        if gradient == "vectors":  # a sign-free loss of the eigenvectors
            loss = loss + (vectors * vectors * ref[f"{case}:vector_weights"]).sum()
        loss.backward()
        np.testing.assert_allclose(a.grad, ref[f"{case}:grad_A"], atol=1e-8)


def test_defaults_random_start_batches_and_preconditioner():
    rng = np.random.default_rng(3)
    a = np.stack([spd(rng, 15), spd(rng, 15, 9.0)])
    expected = np.sort(np.linalg.eigvalsh(a), -1)[:, ::-1]
    values, vectors = LA.lobpcg(dlpy.tensor(a), k=2, generator=np.random.default_rng(0),
                                tol=1e-10)
    assert values.shape == (2, 2) and vectors.shape == (2, 15, 2)
    np.testing.assert_allclose(values.numpy(), expected[:, :2], rtol=1e-9)
    (value,), _ = dlpy.lobpcg(dlpy.tensor(a[0]), generator=np.random.default_rng(1))  # k = 1
    np.testing.assert_allclose(value.item(), expected[0, 0], rtol=1e-6)  # tol = sqrt(eps)
    jacobi = np.diag(1 / np.diag(a[0]))  # a preconditioner changes the path, not the answer
    smallest, _ = LA.lobpcg(dlpy.tensor(a[0]), k=3, n=4, iK=dlpy.tensor(jacobi), largest=False,
                            tol=1e-10, generator=np.random.default_rng(2))
    np.testing.assert_allclose(smallest.numpy(), np.sort(np.linalg.eigvalsh(a[0]))[:3],
                               rtol=1e-9)


@pytest.mark.parametrize("largest", [True, False])
def test_gradcheck_eigenvalues_and_eigenvectors(largest):
    rng = np.random.default_rng(4)
    # 7 x 7: still 11-15 iterations with the previous directions (m > 3 n), at 60% of 9 x 9's
    # central differences
    a = spd(rng, 7)
    start = rng.standard_normal((2, 7, 2))

    def pairs(m):
        symmetric = (m + m.mT) * 0.5  # the gradient is for symmetric A
        values, vectors = dlpy.lobpcg(symmetric, X=dlpy.tensor(start), tol=1e-13, niter=500,
                                      largest=largest)
        return (vectors * vectors).sum(-2) * 3 + values  # sign-free in the vectors

    batch = np.stack([a, spd(rng, 7, 20.0)]) if largest else a  # batched, and one matrix
    if not largest:
        start = start[0]
    assert gradcheck(pairs, dlpy.tensor(batch, requires_grad=True), atol=1e-5)


def test_no_gradient_with_b_as_torch():
    rng = np.random.default_rng(5)
    x = dlpy.tensor(spd(rng, 9), requires_grad=True)
    values, _ = dlpy.lobpcg(x, B=dlpy.tensor(spd(rng, 9, 2.0)), X=dlpy.tensor(np.eye(9, 2)))
    with pytest.raises(ValueError, match="lobpcg backward: no gradient with B != I"):
        values.sum().backward()


def test_errors():
    a = dlpy.tensor(np.eye(6))
    with pytest.raises(ValueError, match="lobpcg: LOBPCG needs m >= 3 n: A has 6 rows and X 3 "
                                         "columns"):
        dlpy.lobpcg(a, k=3)
    with pytest.raises(ValueError, match="lobpcg: expected square matrices A"):
        dlpy.lobpcg(dlpy.tensor(np.ones((6, 5))))
    with pytest.raises(TypeError, match="lobpcg: expected a floating point A, got int64"):
        dlpy.lobpcg(dlpy.tensor(np.eye(6, dtype=np.int64)))
    with pytest.raises(ValueError, match="lobpcg: method must be 'ortho'"):
        dlpy.lobpcg(a, method="basic")
    with pytest.raises(ValueError, match="lobpcg: k \\(2\\) must be at most n"):
        dlpy.lobpcg(a, k=2, X=dlpy.tensor(np.ones((6, 1))))
    with pytest.raises(ValueError, match="lobpcg: B must be \\(..., 6, 6\\) as A"):
        dlpy.lobpcg(a, B=dlpy.tensor(np.eye(5)))
    with pytest.raises(ValueError, match="lobpcg: the columns of X must be independent"):
        dlpy.lobpcg(dlpy.tensor(np.eye(9)), X=dlpy.tensor(np.ones((9, 2))))
    with pytest.raises(ValueError, match="lobpcg: tol must be a positive number, got 0"):
        dlpy.lobpcg(a, tol=0)
    with pytest.raises(TypeError, match="lobpcg: largest must be True or False, got 'yes'"):
        dlpy.lobpcg(a, largest="yes")
