"""dlpy.linalg.eig / eigvals: values and gradients against torch's (fixtures/complex_more/eig.npz,
made by make_complex_more_fixtures.py), central differences, torch's phase check, errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_complex_more import EIG_CASES
from cases_fft import complex_gradcheck, replay_case

import dlpy
import dlpy.linalg as LA

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "complex_more" / "eig.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("case", EIG_CASES)
def test_against_torch(ref, case):
    replay_case(ref, case, EIG_CASES[case], rtol=1e-7, atol=1e-9)


def test_decomposition_and_dtypes():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 4))
    values, vectors = LA.eig(dlpy.tensor(a))
    assert values.dtype == np.complex128 and vectors.dtype == np.complex128
    assert values.is_complex() and vectors.shape == (2, 4, 4)
    np.testing.assert_allclose(a @ vectors.numpy(), vectors.numpy() * values.numpy()[:, None, :],
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(vectors.numpy(), axis=-2), 1.0)  # torch's norm 1
    result = LA.eig(dlpy.tensor(a))
    assert result.eigenvalues.shape == (2, 4) and result.eigenvectors.shape == (2, 4, 4)
    # a symmetric matrix has real eigenvalues, still complex-typed (numpy returns real ones)
    symmetric = dlpy.tensor(np.eye(3, dtype=np.float32) * 2)
    assert LA.eigvals(symmetric).dtype == np.complex64
    assert LA.eig(symmetric).eigenvectors.dtype == np.complex64
    z = dlpy.tensor((a + 1j * a[::-1]).astype(np.complex64))
    assert LA.eig(z).eigenvalues.dtype == np.complex64
    np.testing.assert_allclose(np.sort_complex(LA.eigvals(z).numpy()[0]),
                               np.sort_complex(np.linalg.eigvals(z.numpy()[0])), rtol=1e-5)


def test_gradcheck_real_and_complex_inputs():
    rng = np.random.default_rng(1)
    a = dlpy.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def invariant(m):
        values, vectors = LA.eig(m)
        return (vectors.abs() * values.unsqueeze(-2)).sum(dim=-2) + values ** 2

    complex_gradcheck(invariant, a)
    complex_gradcheck(lambda m: LA.eigvals(m) * LA.eigvals(m * 2).conj(), a)
    z = dlpy.tensor(rng.standard_normal((2, 3, 3)) + 1j * rng.standard_normal((2, 3, 3)),
                    requires_grad=True)
    complex_gradcheck(invariant, z)
    complex_gradcheck(lambda m: LA.eigvals(m).exp(), z)


def test_a_real_input_gets_a_real_gradient():
    a = dlpy.tensor(np.array([[0.0, -1.0], [1.0, 0.5]]), requires_grad=True)
    LA.eigvals(a).imag.sum().backward()  # complex eigenvalues: Im(L) depends on A
    assert a.grad.dtype == np.float64 and np.abs(a.grad).sum() > 0


def test_a_phase_dependent_loss_is_refused_as_torch():
    a = dlpy.tensor(np.array([[0.0, -1.0], [1.0, 0.5]]), requires_grad=True)  # complex pairs
    vectors = LA.eig(a).eigenvectors  # (torch raises on this loss too)
    with pytest.raises(RuntimeError, match="eig backward: .* e\\^\\{i phi\\}; the loss depends "
                                           "on this phase"):
        vectors.real.sum().backward()
    LA.eig(a).eigenvectors.abs().sum().backward()  # |V| is phase-free: fine


def test_unused_vectors_with_repeated_eigenvalues_give_finite_gradients():
    a = dlpy.tensor(np.eye(3), requires_grad=True)
    values, vectors = LA.eig(a)
    (values.real.sum() + 0 * vectors.abs().sum()).backward()
    np.testing.assert_allclose(a.grad, np.eye(3))  # d trace / dA, no nan from the gaps


def test_bad_input():
    with pytest.raises(ValueError, match=r"eig: expected square matrices \(\.\.\., n, n\), got "
                                         r"shape \(2, 3\)"):
        LA.eig(dlpy.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"eigvals: expected square matrices .* shape \(3,\)"):
        LA.eigvals(dlpy.tensor(np.zeros(3)))
    with pytest.raises(TypeError, match="eig: expected a floating point or complex tensor, got "
                                        "int64"):
        LA.eig(dlpy.tensor(np.eye(2, dtype=np.int64)))
