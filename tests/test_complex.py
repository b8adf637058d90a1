"""Complex tensors: creation, dtype promotion, PyTorch's gradient convention (z.grad = dL/dx +
i dL/dy) through the ops that accept them, against torch's values (fixtures/fft/complex.npz,
made by make_fft_fixtures.py) and central differences; every other op refuses them."""

from pathlib import Path

import numpy as np
import pytest
from cases_fft import COMPLEX_CASES, complex_gradcheck, gradcheck_case, load_arrays, replay_case

import dlpy
import dlpy.functional as F
from dlpy.autograd import grad
from dlpy.nn import Parameter

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fft" / "complex.npz"


@pytest.fixture(scope="module")
def ref():
    return load_arrays(FIXTURE)


@pytest.mark.parametrize("case", COMPLEX_CASES)
def test_against_torch(ref, case):
    replay_case(ref, case, COMPLEX_CASES[case])


# ----------------------------------------------------------------- creation and dtypes
def test_creation_and_dtypes():
    z = dlpy.tensor([1 + 2j, 3j])
    assert z.dtype == np.complex64 and z.is_complex() and isinstance(z, dlpy.Tensor)
    assert dlpy.tensor(np.array([1j])).dtype == np.complex128  # arrays keep their dtype
    assert not dlpy.tensor([1.0]).is_complex() and not dlpy.is_complex(dlpy.tensor([1.0]))
    x32, x64 = dlpy.tensor([1.0, 2.0]), dlpy.tensor(np.array([1.0, 2.0]))
    assert (x32 + z).dtype == np.complex64  # float32 pairs with complex64
    assert (x64 + z).dtype == np.complex128  # numpy's promotion
    assert (x32 * 1j).dtype == np.complex64 and (z * 2.0).dtype == np.complex64
    assert (z * np.float64(2)).dtype == np.complex64
    assert (np.array([1j], np.complex64) * x32).dtype == np.complex64
    c = dlpy.complex(x32, dlpy.tensor([3.0, 4.0]))
    assert c.dtype == np.complex64 and c.tolist() == [1 + 3j, 2 + 4j]
    p = dlpy.polar(dlpy.tensor(np.array([2.0])), dlpy.tensor(np.array([np.pi / 2])))
    np.testing.assert_allclose(p.numpy(), [2j], atol=1e-15)
    assert dlpy.view_as_real(z).shape == (2, 2) and dlpy.view_as_real(z).dtype == np.float32
    np.testing.assert_array_equal(dlpy.view_as_complex(dlpy.view_as_real(z)).numpy(), z.numpy())
    assert z.real.tolist() == [1, 0] and z.imag.tolist() == [2, 3]
    assert x32.real is x32 and x32.conj() is x32  # a real tensor's, as torch's
    np.testing.assert_allclose(dlpy.tensor([-2.0, 0.0, 3.0]).angle().numpy(), [np.pi, 0, 0])
    assert z[1].item() == 3j


def test_requires_grad_and_casts():
    z = dlpy.tensor(np.array([1 + 1j]), requires_grad=True)
    assert z.requires_grad
    assert dlpy.tensor([1j]).requires_grad_().requires_grad
    with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype"):
        dlpy.tensor(np.array([1]), requires_grad=True)
    x = dlpy.tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x.to(np.complex128)
    assert y.is_complex() and y.dtype == np.complex128
    (y * (1 - 2j)).real.sum().backward()  # d/dx Re((1 - 2i) x) = 1
    np.testing.assert_allclose(x.grad, [1.0, 1.0])
    w = dlpy.tensor(np.array([1 + 2j, 3 - 4j]), requires_grad=True)
    back = w.double()  # to a real dtype: the real part, as torch's
    assert back.dtype == np.float64 and back.tolist() == [1.0, 3.0]
    (back * 3).sum().backward()
    np.testing.assert_allclose(w.grad, [3.0, 3.0])


# ----------------------------------------------------------------- gradients
def test_gradient_convention_by_hand():
    """L = |z|^2 = x^2 + y^2: z.grad = 2x + 2iy = 2z; L = Im(z): z.grad = i."""
    z = dlpy.tensor(np.array([1 + 2j, -3 + 0.5j]), requires_grad=True)
    (z * z.conj()).real.sum().backward()
    np.testing.assert_allclose(z.grad, 2 * z.numpy())
    z.grad = None
    z.imag.sum().backward()
    np.testing.assert_allclose(z.grad, [1j, 1j])


RNG = np.random.default_rng(0)
GRADCHECKS = {
    "mul": (lambda a, b: a * b, [(3, 4), (4,)]),
    "div": (lambda a, b: a / b, [(3, 4), (3, 1)]),
    "pow": (lambda a: a ** 3 + a ** 1.5, [(5,)]),
    "exp_log_sqrt": (lambda a: a.exp() + (a + 3).log() + (a + 3).sqrt(), [(2, 3)]),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 2)]),
    "matmul_vectors": (lambda a, b: a @ b, [(4,), (4,)]),
    "abs_angle": (lambda a: a.abs() * a.angle(), [(3, 3)]),
    "conj_real_imag": (lambda a: a.conj() * a.real + a.imag, [(4,)]),
    "sum_mean": (lambda a: a.sum(dim=0) + a.mean(dim=1, keepdim=True), [(3, 3)]),
    "shapes": (lambda a: a.reshape(6, 2).permute(1, 0)[:, 1:4] * a.mT.reshape(2, 6)[:, :3],
               [(3, 4)]),
    "fancy_index": (lambda a: a[[0, 2, 0]] * 2, [(3, 2)]),
    "cat_stack": (lambda a, b: dlpy.cat([a, b], 0) * dlpy.stack([a, b], 0).reshape(4, 2),
                  [(2, 2), (2, 2)]),
    "neg_sub_add": (lambda a, b: -a - b + a * 2.0 - 1j, [(3,), (3,)]),
    "view_as_real": (lambda a: dlpy.view_as_real(a * a), [(3,)]),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    assert gradcheck_case(GRADCHECKS, name)


def test_gradcheck_real_inputs_of_complex_ops():
    rng = np.random.default_rng(1)
    r = dlpy.tensor(rng.random(4) + 0.5, requires_grad=True)
    t = dlpy.tensor(rng.standard_normal(4), requires_grad=True)
    complex_gradcheck(lambda r, t: dlpy.polar(r, t) * dlpy.complex(t, r), r, t)
    x = dlpy.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    complex_gradcheck(lambda x: dlpy.view_as_complex(x) ** 2, x)
    complex_gradcheck(lambda x: (x * (2 - 1j)).abs() + (x * 1j).angle(), x)


def test_second_derivative_through_holomorphic_ops():
    """A gradient of a gradient: the create_graph path of the holomorphic ops is their
    backward_graph in the same conjugated form. h(z) = Re(sum(conj(u) g(z))) with g = z.grad
    of a loss, differentiated by create_graph and by central differences of first gradients."""
    rng = np.random.default_rng(2)
    start = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    c, u = (rng.standard_normal(4) + 1j * rng.standard_normal(4) for _ in range(2))

    def loss(z):
        return ((z * z * c).exp() * (z * c).conj()).real.sum()

    def h_numeric(values):
        z = dlpy.tensor(values, requires_grad=True)
        loss(z).backward()
        return np.real(np.sum(np.conj(u) * z.grad.numpy()))

    z = dlpy.tensor(start, requires_grad=True)
    (g,) = grad(loss(z), z, create_graph=True)
    (g * np.conj(u)).real.sum().backward()
    eps, numeric = 1e-6, np.zeros(4, complex)
    for k in range(4):
        for part in (1, 1j):
            step = np.zeros(4, complex)
            step[k] = eps * part
            numeric[k] += part * (h_numeric(start + step) - h_numeric(start - step)) / (2 * eps)
    np.testing.assert_allclose(z.grad, numeric, rtol=1e-6, atol=1e-7)


def test_a_node_used_twice_and_an_unused_branch():
    z = dlpy.tensor(np.array([1 + 1j, 2 - 1j]), requires_grad=True)
    y = z * 2
    (y.conj() * y).real.sum().backward()  # |2z|^2: 8z
    np.testing.assert_allclose(z.grad, 8 * z.numpy())


def test_in_place_ops_on_complex_tensors():
    z = dlpy.tensor([1j, 2])
    z += 1
    z.mul_(2)
    assert z.is_complex() and z.tolist() == [2 + 2j, 6]
    w = dlpy.tensor(np.array([1 + 1j, 0.5 - 2j]), requires_grad=True)
    y = w * 1
    y.exp_()  # recorded: its stand-in for the old value is complex too, so exp's conj applies
    (y * y.conj()).real.sum().backward()  # |e^w|^2 = e^(2x): 2 e^(2x), no imaginary part
    np.testing.assert_allclose(w.grad, 2 * np.exp(2 * w.numpy().real), rtol=1e-12)
    with pytest.raises(TypeError, match="relu: complex tensors are not supported"):
        (w * 1).relu_()


# ----------------------------------------------------------------- errors
def test_backward_from_a_complex_output():
    z = dlpy.tensor(np.array([1 + 1j]), requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for real scalar"):
        (z * 2).sum().backward()
    (z * 2).sum().backward(np.array(1 - 1j))  # an explicit gradient is fine, as in torch
    np.testing.assert_allclose(z.grad, [2 - 2j])


@pytest.mark.parametrize("name, call", [
    ("relu", lambda z: z.relu()),
    ("erf", lambda z: dlpy.erf(z)),
    ("softplus", lambda z: F.softplus(z)),
    ("softmax", lambda z: z.softmax(-1)),
    ("max", lambda z: z.max()),
    ("clamp", lambda z: z.clamp(0, 1)),
    ("sort", lambda z: dlpy.sort(z)),
    ("cummax", lambda z: z.cummax(0)),
])
def test_other_ops_refuse_complex(name, call):
    z = dlpy.tensor(np.array([1 + 1j, 2j]), requires_grad=True)
    with pytest.raises(TypeError, match="complex tensors are not supported"):
        call(z)
    with dlpy.no_grad(), pytest.raises(TypeError, match="complex tensors are not supported"):
        call(z)  # refused without recording too


def test_refusal_names_the_op():
    with pytest.raises(TypeError, match=r"^relu: complex tensors are not supported, got "
                                        "complex64"):
        dlpy.tensor([1j]).relu()
    z = dlpy.tensor([1j])
    for compare in (lambda: z < 1, lambda: z >= z):
        with pytest.raises(TypeError, match="complex numbers have no order"):
            compare()
    with pytest.raises(TypeError, match="argmax: complex numbers have no order"):
        z.argmax()
    assert z.eq(z).tolist() == [True]


def test_bad_arguments():
    x32, x64 = dlpy.tensor([1.0]), dlpy.tensor(np.array([1.0]))
    with pytest.raises(TypeError, match="complex: real and imag must have the same dtype"):
        dlpy.complex(x32, x64)
    with pytest.raises(TypeError, match="polar: abs must be float32 or float64, got complex64"):
        dlpy.polar(dlpy.tensor([1j]), x32)
    with pytest.raises(ValueError, match=r"complex: shapes \(2,\) and \(3,\) cannot be"):
        dlpy.complex(dlpy.tensor([1.0, 2.0]), dlpy.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="imag: expected a complex tensor, got float32"):
        _ = x32.imag
    with pytest.raises(TypeError, match="view_as_real: expected a complex tensor"):
        dlpy.view_as_real(x32)
    with pytest.raises(ValueError, match=r"view_as_complex: the last axis must have length 2, "
                                         r"got shape \(3,\)"):
        dlpy.view_as_complex(dlpy.tensor([1.0, 2.0, 3.0]))
    angle = dlpy.angle(dlpy.tensor(np.array([-1, 1])))  # integers: float32, as torch's
    assert angle.dtype == np.float32 and np.allclose(angle.data, [np.pi, 0])


def test_real_path_untouched():
    """A Parameter (a Tensor subclass) still takes the real path; real results stay Tensors."""
    w = Parameter(np.eye(2, dtype=np.float32))
    x = dlpy.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x @ w).relu().sum()
    assert type(y) is dlpy.Tensor
    y.backward()
    np.testing.assert_allclose(w.grad, [[1, 1], [2, 2]])
    assert type(dlpy.tensor([1j]).abs()) is dlpy.Tensor
