"""Complex tensors, third round: the element-wise functions (sin .. atanh, sigmoid, rsqrt,
log1p, sgn, pow with complex exponents), the indexing ops, F.linear / nn.Linear, l1_loss and
LBFGS, against torch's values, gradients and second derivatives
(fixtures/complex_ops/{ops,second,special}.npz, made by make_complex_ops_fixtures.py) and
central differences through view_as_real; torch's refusals for the rest."""

from pathlib import Path

import numpy as np
import pytest
from cases_complex_ops import OP_CASES, SECOND_CASES
from cases_fft import gradcheck_case, load_arrays, replay_case

import dlpy
import dlpy.functional as F
from dlpy import optim
from dlpy.autograd import grad, gradgradcheck
from dlpy.nn import Parameter

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "complex_ops"


def load(name):
    return load_arrays(FIXTURES / f"{name}.npz")


@pytest.fixture(scope="module")
def ops_ref():
    return load("ops")


@pytest.fixture(scope="module")
def second_ref():
    return load("second")


@pytest.mark.parametrize("case", OP_CASES)
def test_ops_against_torch(ops_ref, case):
    replay_case(ops_ref, case, OP_CASES[case])


@pytest.mark.parametrize("case", SECOND_CASES)
def test_second_derivatives_against_torch(second_ref, case):
    fn = SECOND_CASES[case][-1]
    x = dlpy.tensor(second_ref[f"{case}:x"], requires_grad=True)
    w = dlpy.tensor(second_ref[f"{case}:w"], requires_grad=True) \
        if f"{case}:w" in second_ref else None
    out = fn(dlpy, x, w)
    (gx,) = grad(out, x, second_ref[f"{case}:g"], create_graph=True)
    assert gx.requires_grad
    (second,) = grad(gx, x, second_ref[f"{case}:v"])
    np.testing.assert_allclose(second.numpy(), second_ref[f"{case}:second_x"], rtol=1e-7,
                               atol=1e-9, err_msg=case)


GRADCHECKS = {
    "trig": (lambda a: a.sin() * a.cos() + a.tan() + (a * 0.5).asin() + (a * 0.5).acos()
             + a.atan(), [(2, 3)]),
    "hyperbolic": (lambda a: a.sinh() * a.cosh() + a.tanh() + a.asinh() + a.acosh()
                   + (a * 0.5).atanh(), [(2, 3)]),
    "exp_log_family": (lambda a: a.sigmoid() + a.reciprocal() + a.rsqrt() + a.log1p()
                       + a.expm1() + dlpy.log2(a) + dlpy.log10(a) + dlpy.exp2(a)
                       + a.square() + a.sgn(), [(2, 3)]),
    "pow": (lambda a, b: a ** (0.5 - 1j) + dlpy.pow(a, b) + 3 ** b, [(2, 3), (3,)]),
    "lerp_addcmul_addcdiv": (lambda a, b: dlpy.lerp(a, b, 0.2j) + dlpy.lerp(a, b, b * 0.1)
                             + dlpy.addcmul(a, a, b, value=1j)
                             + dlpy.addcdiv(b, a, b, value=-2), [(2, 3), (2, 3)]),
    "indexing": (lambda a, b: dlpy.gather(a, 1, np.array([[2, 0], [1, 1]]))
                 + dlpy.scatter_add(a, 1, np.array([[0, 2], [1, 1]]), b)[:, :2]
                 + dlpy.scatter(a, 0, np.array([[1, 0]]), b)[:, 1:]
                 + dlpy.index_select(a, 1, np.array([2, 2]))
                 + dlpy.index_fill(a, 1, np.array([0]), 1j)[:, :2], [(2, 3), (2, 2)]),
    "index_add_copy_masked": (lambda a, b: dlpy.index_add(a, 0, np.array([1]), b)
                              * dlpy.index_copy(a, 0, np.array([0]), b)
                              + a.masked_scatter(dlpy.tensor(np.array([[True, False, True],
                                                                       [False] * 3])),
                                                 b[0]), [(2, 3), (1, 3)]),
    "reshaping": (lambda a: a.unfold(1, 2, 1).sum(-1)[:, :3] + dlpy.repeat_interleave(a, 2, 0)
                  [1:3, :3] + dlpy.take(a, np.array([[0, 7, 3]])) + dlpy.movedim(
                      dlpy.narrow(a, 1, 0, 3).unsqueeze(0), 0, 2)[..., 0], [(2, 4)]),
    "linear": (lambda a, w: F.linear(a, w, w[:, 1]), [(2, 3), (4, 3)]),
    "abs_norms": (lambda a: a.abs() * a + dlpy.linalg.vector_norm(a, 1.5, dim=1, keepdim=True),
                  [(2, 3)]),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    assert gradcheck_case(GRADCHECKS, name)


@pytest.mark.parametrize("fn", [
    lambda p: dlpy.view_as_complex(p).abs() * 2,
    lambda p: dlpy.linalg.vector_norm(dlpy.view_as_complex(p)),
    lambda p: dlpy.view_as_real(dlpy.view_as_complex(p).sgn() * dlpy.view_as_complex(p).sin()),
    lambda p: dlpy.view_as_real(dlpy.view_as_complex(p) ** (0.5 + 2j)),
    lambda p: dlpy.view_as_real(dlpy.view_as_complex(p).sigmoid().tanh()),
], ids=["abs", "vector_norm", "sgn_sin", "pow_complex", "sigmoid_tanh"])
def test_gradgradcheck_through_view_as_complex(fn):
    parts = dlpy.tensor(np.random.default_rng(7).standard_normal((3, 2)) + 0.3,
                        requires_grad=True)
    assert gradgradcheck(fn, parts)


def test_polar_second_derivative():
    rng = np.random.default_rng(8)
    r = dlpy.tensor(rng.random(3) + 0.5, requires_grad=True)
    t = dlpy.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradgradcheck(lambda r, t: dlpy.view_as_real(dlpy.polar(r * r, t)), (r, t))


def test_pow_and_edges_at_zero_as_torch():
    ref = load("special")
    base = dlpy.tensor(ref["base"], requires_grad=True)
    exponent = dlpy.tensor(ref["exponent"], requires_grad=True)
    with np.errstate(all="ignore"):
        out = dlpy.pow(base, exponent)
        np.testing.assert_array_equal(out.numpy(), ref["tensor_pow"])
        out.backward(np.ones(out.shape, complex))
        np.testing.assert_array_equal(base.grad, ref["grad_base"])
        np.testing.assert_allclose(exponent.grad, ref["grad_exponent"], rtol=1e-12)
        zeros = dlpy.tensor(np.zeros(len(ref["exponent"]), complex))
        for e, expected in zip(ref["exponent"], ref["number_pow"]):
            np.testing.assert_array_equal((zeros ** complex(e)).numpy(), expected, err_msg=e)
        edge = dlpy.tensor(ref["edge"])
        np.testing.assert_array_equal(edge.reciprocal().numpy(), ref["edge_reciprocal"])
        np.testing.assert_array_equal(edge.rsqrt().numpy(), ref["edge_rsqrt"])
        np.testing.assert_array_equal(edge.sgn().numpy(), ref["edge_sgn"])


def test_dtypes_are_kept():
    z = dlpy.tensor(np.array([1 + 1j, 2 - 1j], np.complex64), requires_grad=True)
    for out in (z.sin(), z.sigmoid(), z ** (1 + 1j), 2 ** z, dlpy.pow(z, z), z.sgn(),
                dlpy.gather(z, 0, np.array([1])), z.rsqrt(), dlpy.lerp(z, z, 0.5j)):
        assert out.dtype == np.complex64 and out.is_complex()
    x = dlpy.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x ** (0.5 + 1j)
    assert y.dtype == np.complex64
    y.abs().sum().backward()
    assert x.grad.dtype == np.float32 and np.all(np.isfinite(x.grad))


def test_isfinite_isnan_isinf_nonzero_where():
    z = dlpy.tensor(np.array([complex(np.nan, 0), complex(1, np.inf), 1j, 0j]))
    assert z.isfinite().tolist() == [False, False, True, True]
    assert z.isnan().tolist() == [True, False, False, False]
    assert z.isinf().tolist() == [False, True, False, False]
    assert dlpy.nonzero(z).numpy().ravel().tolist() == [0, 1, 2]
    assert dlpy.where(z)[0].tolist() == [0, 1, 2]


def test_real_results_and_split_of_complex():
    z = dlpy.tensor(np.arange(6).reshape(2, 3) * (1 + 1j), requires_grad=True)
    parts = dlpy.split(z, 1, 0) + dlpy.chunk(z, 3, 1) + dlpy.unbind(z, 1)
    assert all(p.is_complex() for p in parts)
    loss = F.l1_loss(z, dlpy.tensor(np.zeros((2, 3), complex)))
    assert loss.dtype == np.float64 and not loss.is_complex()


def test_complex_linear_layer_fits():
    """nn.Linear(dtype=complex64) learns a complex map with Adam, as torch's would."""
    rng = np.random.default_rng(9)
    target = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    x = dlpy.tensor((rng.standard_normal((32, 3)) + 1j * rng.standard_normal((32, 3)))
                    .astype(np.complex64))
    y = dlpy.tensor((x.numpy() @ target.T).astype(np.complex64))
    layer = dlpy.nn.Linear(3, 2, dtype=dlpy.complex64)
    assert layer.weight.dtype == np.complex64 and layer.bias.dtype == np.complex64
    opt = optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = (layer(x) - y).abs().square().mean()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3
    np.testing.assert_allclose(layer.weight.numpy(), target, atol=0.05)


def test_lbfgs_on_complex_parameters_is_lbfgs_on_their_parts():
    """torch's LBFGS views a complex parameter as its (real, imaginary) pairs: the trajectory
    is the one of the same problem on view_as_real parameters."""
    rng = np.random.default_rng(10)
    a = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    b = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    start = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    a_t, b_t = dlpy.tensor(a), dlpy.tensor(b)

    def run(complex_form, line_search_fn):
        p = Parameter(start.copy() if complex_form else
                      np.stack([start.real, start.imag], -1))
        opt = optim.LBFGS([p], lr=0.5, max_iter=15, line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            z = p if complex_form else dlpy.view_as_complex(p)
            loss = ((a_t @ z - b_t).abs() ** 2).sum() + (z.abs() ** 4).sum() * 0.1
            loss.backward()
            return loss

        for _ in range(2):
            opt.step(closure)
        value = p.numpy()
        return value if complex_form else value[..., 0] + 1j * value[..., 1], opt

    for line_search_fn in (None, "strong_wolfe"):
        z, opt = run(True, line_search_fn)
        expected, _ = run(False, line_search_fn)
        np.testing.assert_allclose(z, expected, rtol=1e-10, atol=1e-12)
        assert opt.state[0]["d"].dtype == np.float64 and opt.state[0]["d"].shape == (6,)
    assert not np.allclose(z, start)  # it moved
    state = opt.state_dict()
    fresh = optim.LBFGS([Parameter(start.copy())], line_search_fn="strong_wolfe")
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.state[0]["d"], opt.state[0]["d"])


def test_what_stays_refused():
    z = dlpy.tensor(np.array([1 + 1j, -2j, 3 + 0j]), requires_grad=True)
    index = np.array([0])
    refusals = [
        (lambda: z.sign(), "sign: complex tensors are not supported, got complex128 \\(as "
                           "torch.sign\\); use sgn"),
        (lambda: dlpy.sort(z), "sort: complex tensors are not supported, got complex128"),
        (lambda: dlpy.argsort(z), "argsort: complex tensors are not supported"),
        (lambda: dlpy.topk(z, 2), "topk: complex tensors are not supported"),
        (lambda: z.max(0), "max: complex tensors are not supported"),
        (lambda: z.min(dim=0), "min: complex tensors are not supported"),
        (lambda: dlpy.max(z), "max: complex tensors are not supported"),
        (lambda: dlpy.amax(z), "amax: complex tensors are not supported|max: complex"),
        (lambda: dlpy.median(z, 0), "median: complex tensors are not supported"),
        (lambda: dlpy.nanmedian(z, 0), "nanmedian: complex tensors are not supported"),
        (lambda: dlpy.kthvalue(z, 1), "kthvalue: complex tensors are not supported"),
        (lambda: dlpy.mode(z), "mode: complex tensors are not supported"),
        (lambda: dlpy.cummax(z, 0), "cummax: complex tensors are not supported"),
        (lambda: dlpy.cummin(z, 0), "cummin: complex tensors are not supported"),
        (lambda: dlpy.quantile(z, 0.5), "complex tensors are not supported"),
        (lambda: F.mse_loss(z, z), "mse_loss: complex tensors are not supported, got "
                                   "complex128 \\(as torch\\)"),
        (lambda: F.smooth_l1_loss(z, z), "smooth_l1_loss: complex tensors are not supported"),
        (lambda: F.huber_loss(z, z), "huber_loss: complex tensors are not supported"),
        (lambda: F.dropout(z, 0.5), "dropout: complex tensors are not supported"),
        (lambda: F.relu(z), "relu: complex tensors are not supported"),
        (lambda: F.gelu(z), "gelu: complex tensors are not supported"),
        (lambda: F.softmax(z, 0), "softmax: complex tensors are not supported"),
        (lambda: z.clamp(0, 1), "clamp: complex tensors are not supported"),
        (lambda: z.floor(), "complex tensors are not supported"),
        (lambda: dlpy.erf(z), "erf: complex tensors are not supported"),
        (lambda: dlpy.maximum(z, z), "maximum: complex tensors are not supported"),
        (lambda: dlpy.scatter(dlpy.tensor(np.zeros(3)), 0, index, z),
         "scatter: source must have x's dtype float64, got complex128"),
        (lambda: dlpy.scatter_add(dlpy.tensor(np.zeros(3)), 0, index, z),
         "scatter_add: (x and src must both be complex|source must have x's dtype)"),
    ]
    for call, message in refusals:
        with pytest.raises(TypeError, match=message):
            call()
    # a complex number scattered into a real tensor: torch's checked conversion (RuntimeError),
    # which takes a zero imaginary part
    with pytest.raises(RuntimeError, match="scatter: value 1j cannot be converted to type "
                                           "float64 without overflow"):
        dlpy.scatter(dlpy.tensor(np.zeros(3)), 0, index, value=1j)
    assert dlpy.scatter(dlpy.tensor(np.zeros(3)), 0, index, value=2 + 0j).tolist() == [2, 0, 0]


def test_bad_complex_settings():
    z = dlpy.tensor(np.array([1 + 1j, 2j]))
    with pytest.raises(ValueError, match="lerp: weight must be a number, got \\(nan\\+nanj\\)"):
        dlpy.lerp(z, z, complex(np.nan, np.nan))
    with pytest.raises(ValueError, match="addcmul: value must be a finite number, got "
                                         "\\(inf\\+0j\\)"):
        dlpy.addcmul(z, z, z, value=complex(np.inf, 0))
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \*\* or pow\(\)"):
        z ** "2"


def test_pow_of_real_tensors_has_a_second_derivative_now():
    """Pow's backward_graph (added for complex) serves real tensors too."""
    rng = np.random.default_rng(11)
    a = dlpy.tensor(rng.random((2, 3)) + 0.5, requires_grad=True)
    b = dlpy.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradgradcheck(lambda a, b: dlpy.pow(a, b), (a, b))
