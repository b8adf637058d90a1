"""dlpy.special (torch.special's names) against PyTorch's values in
tests/fixtures/special_prune/special.npz (made by make_special_prune_fixtures.py)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
from cases_special import DIFFERENTIABLE, POLYNOMIALS, UNARY

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).parent / "fixtures" / "special_prune" / "special.npz"
# torch.special's public functions (torch 2.13)
TORCH_NAMES = UNARY + POLYNOMIALS + [
    "digamma", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc",
    "gammaln", "i0", "log1p", "log_softmax", "logit", "logsumexp", "multigammaln", "ndtri",
    "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy", "zeta"]


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.fixture(scope="module")
def special():
    return importlib.import_module("dlpy.special")


def close(actual, expected, rtol=1e-12, atol=1e-300):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


def test_special_is_a_lazy_attribute_with_every_torch_name():
    sys.modules.pop("dlpy.special", None)
    vars(dlpy).pop("special", None)  # an earlier import left the attribute: import afresh
    module = dlpy.special
    assert sys.modules["dlpy.special"] is module
    missing = [name for name in TORCH_NAMES if not callable(getattr(module, name, None))]
    assert missing == []
    assert sorted(module.__all__) == sorted(set(TORCH_NAMES))


def test_aliases_are_dlpy_functions(special):
    x = Tensor(np.array([-1.5, 0.25, 3.0]))
    # (wrapped once to take out=, as torch.special's functions do; torch-function dispatch,
    # once a test turned it on, wraps F's functions too: compare the functions inside)
    assert inspect.unwrap(special.expit) is inspect.unwrap(F.sigmoid)
    assert inspect.unwrap(special.gammaln) is inspect.unwrap(F.lgamma)
    assert special.psi is special.digamma
    close(special.multigammaln(x + 5, 3).data, F.mvlgamma(x + 5, 3).data, rtol=0)


@pytest.mark.parametrize("name", [name for name in UNARY if name != "ndtr"])  # ndtr: below
def test_unary_matches_torch(special, ref, name):
    # relative 1e-12, with an absolute floor at the zeros of the oscillating functions
    close(getattr(special, name)(Tensor(ref["wide"])).data, ref[name], atol=1e-15)


def test_ndtr_matches_torch_and_keeps_the_lower_tail(special, ref):
    out = special.ndtr(Tensor(ref["wide"])).data
    close(out, ref["ndtr"], atol=1e-15)
    # torch computes (1 + erf(x / sqrt 2)) / 2, 0 below about -8.3; dlpy uses erfc there
    tail = special.ndtr(Tensor(np.array([-10.0, -30.0]))).data
    close(tail, [7.619853024160527e-24, 4.906713927148187e-198], rtol=1e-13)


def test_ndtri_matches_torch_into_both_tails(special, ref):
    close(special.ndtri(Tensor(ref["p"])).data, ref["ndtri"])
    p = Tensor(np.array([-0.1, 1.5, np.nan]))
    assert np.isnan(special.ndtri(p).data).all()


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradients_match_torch(special, ref, name):
    x = Tensor(ref["p"] if name == "ndtri" else ref["wide"], requires_grad=True)
    y = getattr(special, name)(x)
    finite = np.isfinite(y.data)
    y.backward(finite.astype(np.float64))
    close(x.grad, ref[f"{name}:grad"], atol=1e-15)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradcheck(special, name):
    rng = np.random.default_rng(0)
    # (erfcx grows as exp(x^2) for x < 0: large values there would swamp the differences)
    values = rng.uniform(0.05, 0.95, (2, 3)) if name in ("ndtri", "entr") else \
        rng.uniform(-1.5, 4, (2, 3))
    assert gradcheck(getattr(special, name), Tensor(values, requires_grad=True))


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_match_torch(special, ref, name):
    out = getattr(special, name)(Tensor(ref["poly:x"]), Tensor(ref["poly:n"]))
    assert not out.requires_grad
    expected = ref[name]
    np.testing.assert_allclose(out.data, expected, rtol=1e-12,
                               atol=1e-13 * np.maximum(1, np.abs(expected)).max())


def test_polynomial_takes_a_python_degree_and_keeps_float32(special):
    x = Tensor(np.linspace(-1, 1, 5).astype(np.float32))
    out = special.chebyshev_polynomial_t(x, 3)
    assert out.dtype == np.float32
    close(out.data, 4 * x.data.astype(np.float64) ** 3 - 3 * x.data, rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match="hermite_polynomial_h: n must be"):
        special.hermite_polynomial_h(x, "3")
    with pytest.raises(ValueError, match=r"legendre_polynomial_p: shapes \(5,\) and \(2,\)"):
        special.legendre_polynomial_p(x, Tensor(np.array([1.0, 2.0])))


def test_non_differentiable_functions_give_constants(special):
    x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    for name in [name for name in UNARY if name not in DIFFERENTIABLE]:
        assert not getattr(special, name)(x).requires_grad, name


def test_gammaincc_matches_torch_and_its_x_gradient(special, ref):
    a, x = Tensor(ref["two:a"]), Tensor(ref["two:x"], requires_grad=True)
    q = special.gammaincc(a, x)
    # torch's uniform asymptotic expansion near a ~ x is good to ~1e-9 there (dlpy's continued
    # fraction agrees with mpmath to 1e-15 at a = 20.3, x = 23)
    close(q.data, ref["gammaincc"], rtol=2e-9)
    inner = (ref["two:a"] > 0) & (ref["two:x"] > 0) & np.isfinite(ref["two:x"])
    q.backward(inner.astype(np.float64))
    close(x.grad, ref["gammaincc:grad"], rtol=1e-12, atol=1e-300)
    positive = Tensor(ref["two:a"][1:, 1:]), Tensor(ref["two:x"][1:, 1:])
    total = special.gammaincc(*positive).data + special.gammainc(*positive).data
    close(total, np.ones_like(total), rtol=1e-14)


def test_gammaincc_gradient_of_a_is_not_implemented(special):
    a = Tensor(np.array([2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="gammaincc: the gradient with respect to"):
        special.gammaincc(a, Tensor(np.array([1.0]))).sum().backward()


def test_zeta_matches_torch_and_its_gradients(special, ref):
    out = special.zeta(Tensor(ref["zeta:x"]), Tensor(ref["zeta:q"])).data
    # for q < 0 the direct sum cancels: both libraries lose digits alike there
    close(out, ref["zeta"], rtol=1e-10)
    close(out[ref["zeta:q"] > 0], ref["zeta"][ref["zeta:q"] > 0], rtol=1e-13)
    close(special.zeta(Tensor(np.array([2.0])), 1.0).data, [np.pi ** 2 / 6], rtol=1e-15)
    x = Tensor(np.array([3.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="zeta: the derivative with respect to the "
                                                  "first argument"):
        special.zeta(x, 2.0).sum().backward()
    # dq = -x zeta(x + 1, q), as torch: zeta(2, q) at q = 1 gives -2 zeta(3)
    q = Tensor(np.array([1.0, 2.5]), requires_grad=True)
    special.zeta(Tensor(np.array([2.0, 3.0])), q).sum().backward()
    close(q.grad.data, [-2.404113806319188, -0.11195292440862604], rtol=1e-13)


def test_xlog1py_values_and_gradients(special, ref):
    x = Tensor(ref["xlog1py:x"], requires_grad=True)
    y = Tensor(ref["xlog1py:y"], requires_grad=True)
    z = special.xlog1py(x, y)
    close(z.data, ref["xlog1py"])
    z.backward(np.where(np.isnan(z.data), 0.0, 1.0))
    close(x.grad, ref["xlog1py:grad_x"])
    close(y.grad, ref["xlog1py:grad_y"])
    with pytest.raises(ValueError, match=r"xlog1py: shapes \(2,\) and \(3,\)"):
        special.xlog1py(Tensor(np.ones(2)), Tensor(np.ones(3)))


def test_xlog1py_gradcheck(special):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    y = Tensor(rng.uniform(-0.5, 2, (1, 3)), requires_grad=True)
    assert gradcheck(special.xlog1py, x, y)


def test_dtypes(special):
    x32 = Tensor(np.array([0.5, 1.5], dtype=np.float32))
    for name in ["erfcx", "i1e", "ndtr", "bessel_j0", "airy_ai"]:
        assert getattr(special, name)(x32).dtype == np.float32, name
    assert special.i0e(Tensor(np.array([1, 2]))).dtype == np.float32
