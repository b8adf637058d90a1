"""Complex tensors, second round: the shape, mask, padding, reduction, product and Hermitian FFT
ops that now take them, against torch's values and gradients (fixtures/complex_more/{ops,fft}.npz,
made by make_complex_more_fixtures.py) and central differences; torch's dtype names."""

from pathlib import Path

import numpy as np
import pytest
from cases_complex_more import FFT_CASES, OP_CASES
from cases_fft import complex_gradcheck, gradcheck_case, load_arrays, replay_case

import dlpy
import dlpy.fft
import dlpy.functional as F
from dlpy.autograd import gradgradcheck

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "complex_more"


def load(name):
    return load_arrays(FIXTURES / f"{name}.npz")


@pytest.fixture(scope="module")
def ops_ref():
    return load("ops")


@pytest.fixture(scope="module")
def fft_ref():
    return load("fft")


@pytest.mark.parametrize("case", OP_CASES)
def test_ops_against_torch(ops_ref, case):
    replay_case(ops_ref, case, OP_CASES[case])


@pytest.mark.parametrize("case", FFT_CASES)
def test_fft_against_torch(fft_ref, case):
    replay_case(fft_ref, case, FFT_CASES[case])


GRADCHECKS = {
    "expand_where": (lambda a, b: dlpy.where(b.real > 0, a.expand(3, 4), b), [(1, 4), (3, 4)]),
    "pad_modes": (lambda a: F.pad(a, (1, 2), value=0.0) * F.pad(a, (2, 1), mode="reflect"),
                  [(2, 3, 4)]),
    "roll_flip_tril": (lambda a: dlpy.roll(a, 1, 0) * dlpy.flip(a, (1,)) + dlpy.tril(a),
                       [(3, 3)]),
    "prod_cumprod_cumsum": (lambda a: a.prod(dim=0) * a.cumprod(1)[-1] + a.cumsum(0)[1],
                            [(3, 4)]),
    "prod_with_a_zero": (lambda a: (a * dlpy.tensor(np.array([1.0, 0.0, 1.0]))).prod()
                         .unsqueeze(0), [(3,)]),
    "norms": (lambda a: dlpy.linalg.vector_norm(a, 3, dim=1) + a.norm(dim=1)
              + dlpy.linalg.vector_norm(a, 1, dim=1), [(2, 3)]),
    "einsum_vdot": (lambda a, b: dlpy.einsum("ij,jk->ik", a, b).sum(dim=1)
                    * dlpy.vdot(a[0], b[:, 0]), [(2, 3), (3, 2)]),
    "diag_trace_repeat": (lambda a: dlpy.diagonal(a) * dlpy.trace(a) + a.repeat(1, 2)[:, 1],
                          [(3, 3)]),
    "hfft2_ihfftn": (lambda a: dlpy.fft.hfft2(a) + dlpy.fft.ihfftn(dlpy.fft.hfft2(a)).abs().sum(),
                     [(2, 3)]),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    assert gradcheck_case(GRADCHECKS, name)


def test_ihfft2_of_a_real_input_gradcheck():
    x = dlpy.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    assert complex_gradcheck(lambda x: dlpy.fft.ihfft2(x, s=(3, 5)), x)


def test_angle_second_derivative():
    """angle's gradient is differentiable (create_graph): gradgradcheck on the real and
    imaginary parts, through view_as_complex."""
    values = np.random.default_rng(4).standard_normal((4, 2)) + 0.5
    parts = dlpy.tensor(values, requires_grad=True)
    assert gradgradcheck(lambda p: (dlpy.view_as_complex(p) ** 2).angle() * 2, parts)
    real = dlpy.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    (g,) = dlpy.autograd.grad(real.angle().sum(), real, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])  # a real input: 0 or pi, gradient 0


def test_vdot_conjugates_and_dot_does_not():
    a, b = dlpy.tensor(np.array([1 + 2j, 3j])), dlpy.tensor(np.array([2 - 1j, 1 + 1j]))
    np.testing.assert_allclose(dlpy.vdot(a, b).item(), np.vdot(a.numpy(), b.numpy()))
    np.testing.assert_allclose(dlpy.dot(a, b).item(), np.dot(a.numpy(), b.numpy()))
    x = dlpy.tensor(np.array([1.0, 2.0]))
    assert dlpy.vdot(x, x).item() == 5.0  # a real input is its own conjugate


def test_norm_of_complex_is_real():
    z = dlpy.tensor(np.array([3 + 4j, 0j]), requires_grad=True)
    n = dlpy.linalg.vector_norm(z)
    assert n.dtype == np.float64 and not n.is_complex() and n.item() == 5.0
    n.backward()
    np.testing.assert_allclose(z.grad, [(3 + 4j) / 5, 0])  # z / |z|; 0 at z = 0, as torch


def test_isclose_allclose_on_complex():
    a = dlpy.tensor(np.array([1 + 1j, 2 - 1j]))
    b = dlpy.tensor(np.array([1 + 1j + 1e-9j, 2 + 1j]))
    assert dlpy.isclose(a, b).tolist() == [True, False]
    assert dlpy.allclose(a, a) and not dlpy.allclose(a, b)


def test_torch_dtype_names():
    # numpy's dtype objects (singletons: t.dtype is one of them), equal to the scalar types
    d = np.dtype
    assert dlpy.complex64 is d(np.complex64) and dlpy.cfloat is dlpy.complex64
    assert dlpy.complex128 is d(np.complex128) and dlpy.cdouble is dlpy.complex128
    assert dlpy.float32 is d(np.float32) and dlpy.float is dlpy.float32
    assert dlpy.float64 is d(np.float64) and dlpy.double is dlpy.float64
    assert dlpy.int64 is d(np.int64) and dlpy.long is dlpy.int64 and dlpy.int is d(np.int32)
    assert dlpy.bool is d(np.bool_) and dlpy.half is d(np.float16)
    assert dlpy.float32 == np.float32 and dlpy.int64 == np.int64
    assert dlpy.ones(2).dtype is dlpy.float32 and dlpy.arange(3).dtype is dlpy.int64
    assert dlpy.ones(2).dtype in {dlpy.float32} and {dlpy.int64: 1}[dlpy.arange(2).dtype] == 1
    z = dlpy.tensor([1.0, 2.0]).to(dlpy.complex64)
    assert z.dtype == np.complex64 and z.is_complex()
    assert "complex128" in dlpy.__all__ and "float32" in dlpy.__all__


def test_stft_istft_methods_are_the_functions():
    x = dlpy.tensor(np.random.default_rng(5).standard_normal(48))
    window = dlpy.hann_window(16, dtype=dlpy.float64)
    spec = x.stft(16, 4, window=window, return_complex=True)
    np.testing.assert_array_equal(
        spec.numpy(), dlpy.stft(x, 16, 4, window=window, return_complex=True).numpy())
    back = spec.istft(16, 4, window=window, length=48)
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-12)


def test_ops_still_refusing_complex_name_themselves():
    z = dlpy.tensor(np.array([1 + 1j, 2j]), requires_grad=True)
    for call, name in ((lambda: dlpy.erf(z), "erf"), (lambda: F.softplus(z), "softplus"),
                       (lambda: z.cummax(0), "cummax")):
        with pytest.raises(TypeError, match=f"^{name}: complex tensors are not supported"):
            call()


def test_bad_arguments():
    z = dlpy.tensor(np.ones((2, 3), np.complex64))
    with pytest.raises(TypeError, match="ihfft2: expects a real input tensor, got complex64"):
        dlpy.fft.ihfft2(z)
    with pytest.raises(ValueError, match="hfftn: s \\(4,\\) and dim \\(0, 1\\) must have the "
                                         "same length"):
        dlpy.fft.hfftn(z, s=(4,), dim=(0, 1))
    with pytest.raises(ValueError, match="hfft2: norm must be None, 'backward', 'ortho' or "
                                         "'forward', got 'both'"):
        dlpy.fft.hfft2(z, norm="both")
    with pytest.raises(ValueError, match=r"vdot: expected two vectors of one length, got "
                                         r"\(2,\) and \(3,\)"):
        dlpy.vdot(dlpy.tensor(np.ones(2, complex)), dlpy.tensor(np.ones(3, complex)))


def test_complex_backward_takes_torchs_gradient_and_inputs_keywords():
    z = dlpy.tensor(np.array([1 + 2j, 3 - 1j]), requires_grad=True)
    w = dlpy.tensor(np.array([2 - 1j, 1j]), requires_grad=True)
    y = z * w
    y.backward(gradient=np.ones(2, np.complex64), inputs=[z])
    np.testing.assert_allclose(z.grad, np.conj(w.data))  # dL/dz* convention: conj(w)
    assert w.grad is None  # not in inputs=
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for real"):
        (z * w).backward()
