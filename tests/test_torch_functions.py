"""The torch functions and Tensor methods added from PyTorch's most used (ops/pointwise.py,
reduce.py, cumulative.py, rearrange.py, indexing.py, sets.py), checked against PyTorch's values
and gradients (tests/fixtures/torch_functions, made by make_torch_functions_fixtures.py from
cases_torch_functions.py); torch is never needed to run them."""

import inspect
from pathlib import Path

import numpy as np
import pytest
from cases_torch_functions import EXACT_CASES, GRAD_CASES
from npz_reference import load_npz
from replay_cases import (
    check_every_case_recorded,
    check_exact_case,
    check_grad_case,
    gradcheck_two_matrices,
)
from second_order import check_second_order

import dlpy
import dlpy.functional as F
from dlpy import Tensor

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "torch_functions" / "torch_functions.npz"


@pytest.fixture(scope="module")
def reference():
    return load_npz(FIXTURE)


def test_every_fixture_case_is_tested(reference):
    check_every_case_recorded(reference, grad=GRAD_CASES, exact=EXACT_CASES)


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_values_and_gradient_match_torch(case, reference):
    check_grad_case(GRAD_CASES, case, F, reference)


@pytest.mark.parametrize("case", sorted(EXACT_CASES))
def test_exact_results_match_torch(case, reference):
    check_exact_case(EXACT_CASES, case, F, reference)


# ----------------------------------------------------------------- gradient checks in float64
GRADCHECK = {
    "fmod": lambda a, b: F.fmod(a, b),
    "remainder": lambda a, b: F.remainder(a, b),
    "hypot": lambda a, b: F.hypot(a, b),
    "logaddexp": lambda a, b: F.logaddexp(a, b),
    "logaddexp2": lambda a, b: F.logaddexp2(a * 3, b),
    "lerp": lambda a, b: F.lerp(a, b, b.sigmoid()),
    "addcdiv": lambda a, b: F.addcdiv(a, a, b.abs() + 1, value=0.3),
    "copysign": lambda a, b: F.copysign(a, b.data),
    "sinc": lambda a, b: F.sinc(a) * b,
    "logit": lambda a, b: F.logit(a.sigmoid()) * b,
    "cross": lambda a, b: F.cross(a[:, :3], b[:, :3], dim=1),
    "cdist": lambda a, b: F.cdist(a, b),
    "quantile": lambda a, b: F.quantile(a, [0.2, 0.9], dim=1) + F.nanquantile(b, 0.5),
    "median": lambda a, b: F.median(a, 0).values + F.median(b),
    "kthvalue": lambda a, b: F.kthvalue(a, 2, 1).values * F.mode(b, 1).values,
    "logcumsumexp": lambda a, b: F.logcumsumexp(a * 5, 1) * b,
    "cummax": lambda a, b: F.cummax(a, 1).values + F.cummin(b, 0).values,
    "nanmean": lambda a, b: F.nanmean(a, 1) + F.nansum(b, 0).sum(),
    "var_mean": lambda a, b: F.var_mean(a, 0)[0] * F.std_mean(b, 0)[1],
    "rot90": lambda a, b: F.rot90(a, 3) @ b,
    "block_diag": lambda a, b: F.block_diag(a, b[0]),
    "stacks": lambda a, b: F.hstack([a, b]) + F.dstack([a, b]).sum(-1).repeat(1, 2),
    "index_ops": lambda a, b: a.index_add(0, [0, 0], b[:2]).index_copy(1, [3], b[:, :1])
    .index_fill(0, [2], 0.5).masked_scatter(a.data > 0, b).put([1], b[0, :1]),
    "masked_select_take": lambda a, b: F.masked_select(a, b.data > 0).sum() * F.take(b, [3]),
    "trig": lambda a, b: F.sinh(a) * F.cosh(b) + F.atan(a) * F.asinh(b),
    "inverse_trig": lambda a, b: F.asin(a.tanh() * 0.9) + F.acos(b.tanh() * 0.9)
    + F.atanh(a.tanh() * 0.9) + F.acosh(b.abs() + 1.1),
    "vander": lambda a, b: F.vander(a[0], 3) * F.vander(b[1], 3, increasing=True),
    "diagflat_inner_vdot": lambda a, b: F.diagflat(a[0], 1).sum(0) * F.inner(a, b).sum()
    + F.vdot(a[1], b[2]),
}


@pytest.mark.parametrize("case", sorted(GRADCHECK))
def test_gradcheck(case):
    assert gradcheck_two_matrices(GRADCHECK[case], 5)


def test_second_derivatives_through_composites():
    x = Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    (g,) = dlpy.autograd.grad(F.logaddexp(x, 2 * x).sum(), [x], create_graph=True)
    (h,) = dlpy.autograd.grad(g.sum(), [x])
    s = 1 / (1 + np.exp(-x.data))  # d/dx log(e^x + e^2x) = 1 + sigmoid(x) ...
    expected = s * (1 - s)  # ... whose derivative is sigmoid'(x)
    np.testing.assert_allclose(np.asarray(getattr(h, "data", h)), expected, rtol=1e-10)


def test_integer_and_bool_results_carry_no_gradient():
    x = Tensor(np.array([[0.0, 1.5], [1.5, -1.0]]), requires_grad=True)
    for out in (F.nonzero(x), F.count_nonzero(x), F.unique(x, return_counts=True)[1],
                F.isclose(x, x), F.logical_not(x), F.bucketize(x, [0.0, 1.0]), F.histc(x, 3)):
        assert not out.requires_grad
    # unique's values stay in x's graph (torch's Unique2Backward0), but have no derivative
    values = F.unique(x)
    assert values.requires_grad
    with pytest.raises(NotImplementedError, match="_unique2"):
        values.sum().backward()
    assert F.allclose(x, x + 1e-9) is True and F.equal(x, x * 1) is True
    assert F.equal(x, x[:1]) is False


def test_methods_are_the_functionals():
    x = Tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(x.narrow(1, 1, 2).data, x.data[:, 1:3])
    # a one-value integral Tensor is an int length, as torch's; a float one is not
    np.testing.assert_array_equal(x.narrow(1, 1, Tensor(np.array([2]))).data, x.data[:, 1:3])
    with pytest.raises(TypeError, match="narrow: length must be an int"):
        x.narrow(1, 1, Tensor(np.array(2.0)))
    np.testing.assert_array_equal(x.swapaxes(0, 1).data, x.data.T)
    np.testing.assert_array_equal(x.where(x > 5, -1.0).data, np.where(x.data > 5, x.data, -1))
    assert x.median().item() == 5.0 and x.quantile(0.5).item() == 5.5
    values, indices = x.cummax(0)
    np.testing.assert_array_equal(indices, np.broadcast_to(np.arange(3)[:, None], (3, 4)))
    assert Tensor.median.__doc__.startswith("functional.median")


def test_nan_behaviour():
    x = Tensor(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, np.nan, np.nan, np.nan]]))
    np.testing.assert_array_equal(F.nanmedian(x, 1).values.data, [2.0, np.nan])
    assert np.isnan(F.median(x).item()) and F.nanmedian(x[0]).item() == 2.0
    np.testing.assert_array_equal(F.nansum(x, 1).data, [6.0, 0.0])
    assert np.isnan(F.quantile(x[0], 0.5).item()) and F.nanquantile(x[0], 0.5).item() == 2.0
    np.testing.assert_array_equal(F.nan_to_num(x[0]).data, [1.0, 0.0, 3.0, 2.0])


def test_bad_input_is_refused_clearly():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"narrow: start 2 and length 2 do not fit dim 1"):
        F.narrow(x, 1, 2, 2)
    with pytest.raises(ValueError, match=r"kthvalue: k must be an int in \[1, 3\], got 4"):
        F.kthvalue(x, 4)
    with pytest.raises(ValueError, match=r"quantile: q must be .* in \[0, 1\], got 1.5"):
        F.quantile(x, 1.5)
    with pytest.raises(ValueError, match=r"quantile: interpolation must be one of"):
        F.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(ValueError, match=r"bincount: expected a 1-D int tensor"):
        F.bincount(x)
    with pytest.raises(ValueError, match=r"bincount: values must be non-negative, got -1"):
        F.bincount(np.array([1, -1]))
    with pytest.raises(ValueError, match=r"histc: max must be at least min"):
        F.histc(x, 4, min=1, max=0)
    with pytest.raises(TypeError, match=r"bitwise_and: expected integer or bool tensors"):
        F.bitwise_and(x, x)
    with pytest.raises(TypeError, match=r"masked_select: mask must be a bool tensor"):
        F.masked_select(x, x)
    with pytest.raises(ValueError, match=r"cross: inputs dimension 1 must have length 3"):
        F.cross(x[:, :2], x[:, :2], dim=1)
    with pytest.raises(ValueError, match=r"cross: no axis of size 3"):
        F.cross(x[:, :2], x[:, :2])
    with pytest.raises(ValueError, match=r"vsplit: dim 0 of size 2 does not split into 3"):
        F.vsplit(x, 3)
    with pytest.raises(ValueError, match=r"movedim: source \[0\] and destination \[1, 0\]"):
        F.movedim(x, 0, (1, 0))
    with pytest.raises(ValueError, match=r"meshgrid: indexing must be 'ij' or 'xy'"):
        F.meshgrid(x[0], indexing="ji")
    with pytest.raises(ValueError, match=r"index_copy: source must have shape \(2, 1\)"):
        F.index_copy(x, 1, [0], x)
    with pytest.raises(ValueError, match=r"index_add: index 3 is out of range|index_add: .*3"):
        F.index_add(x, 0, [3, 0, 0], x[:, :1].repeat(1, 3).t())
    with pytest.raises(ValueError, match=r"masked_scatter: source has 1 elements"):
        F.masked_scatter(x, x.data > 0, x[0, :1])
    with pytest.raises(ValueError, match=r"searchsorted: side must be 'left' or 'right'"):
        F.searchsorted(x[0], x, side="middle")
    with pytest.raises(ValueError, match=r"broadcast_shapes: shapes \[\(2,\), \(3,\)\]"):
        F.broadcast_shapes((2,), (3,))


@pytest.mark.parametrize("name", ["sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh",
                                  "atanh"])
def test_second_derivatives_of_the_trigonometric_ops(name):
    low = 1.1 if name == "acosh" else -0.7  # inside each domain: acosh's x > 1, |asin's x| < 1
    check_second_order(getattr(F, name), (3, 2), low=low)


def test_aliases_and_methods():
    x = Tensor(np.array([-0.5, 0.25]))
    for alias, name in [("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"),
                        ("arcsinh", "asinh"), ("arctanh", "atanh")]:
        np.testing.assert_array_equal(getattr(x, alias)().data, getattr(F, name)(x).data)
    np.testing.assert_array_equal(F.arccosh(x + 2).data, np.arccosh(x.data + 2))
    np.testing.assert_array_equal(x.arctan2(x + 1).data, np.arctan2(x.data, x.data + 1))
    empty = F.empty_like(Tensor(np.ones((2, 3), dtype=np.float64)))
    assert empty.shape == (2, 3) and empty.dtype == np.float64
    assert F.logspace(0, 1, 2).dtype == np.float32
    hist, edges = F.histogram(x.detach(), 2)
    assert hist.data.tolist() == [1.0, 1.0] and edges.data.tolist() == [-0.5, -0.125, 0.25]
    rows, columns = F.where(Tensor(np.array([[0.0, 2.0], [3.0, 0.0]])))
    assert rows.data.tolist() == [0, 1] and columns.data.tolist() == [1, 0]


def test_bad_input_to_the_new_functions():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"vander: expected a 1-D tensor, got shape \(2, 3\)"):
        F.vander(x)
    with pytest.raises(ValueError, match=r"vander: N must be a non-negative int, got -1"):
        F.vander(x[0], -1)
    with pytest.raises(ValueError, match=r"inner: last dimensions must match"):
        F.inner(x, x[:, :2])
    with pytest.raises(ValueError, match=r"vdot: expected two vectors of one length"):
        F.vdot(x[0], x[0, :2])
    with pytest.raises(ValueError, match=r"tril_indices: row must be an int >= 0, got -1"):
        F.tril_indices(-1, 2)
    with pytest.raises(TypeError, match=r"triu_indices: offset must be an int, got 0.5"):
        F.triu_indices(2, 2, 0.5)
    with pytest.raises(TypeError, match=r"histogram: expected a float tensor, got int64"):
        F.histogram(np.arange(3), 2)
    with pytest.raises(ValueError, match=r"histogram: bins must be a positive int, got 0"):
        F.histogram(x, 0)
    with pytest.raises(ValueError, match=r"histogram: bins must be .* increasing"):
        F.histogram(x, Tensor(np.array([1.0, 0.0])))
    with pytest.raises(ValueError, match=r"histogram: range \(1.0, 0.0\) must have min <= max"):
        F.histogram(x, 2, range=(1.0, 0.0))
    with pytest.raises(TypeError, match=r"where: expected where\(condition\) or"):
        F.where(x > 1, x)


def test_top_level_names_are_the_functionals_and_take_out():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    for name in ("sum", "matmul", "cat", "where", "sinh", "histogram", "tril_indices"):
        # (unwrapped: once a Tensor subclass is defined, dlpy.overrides wraps the functionals)
        assert name in dlpy.__all__
        assert inspect.unwrap(getattr(dlpy, name)) is inspect.unwrap(getattr(F, name))
    np.testing.assert_array_equal(dlpy.cat([x, x], dim=1).data, np.hstack([x.data, x.data]))
    assert dlpy.sum(x, out=None).item() == 15.0 and dlpy.sum.__name__ == "sum"
    # out=, as torch's: the result written into the given tensor, which is returned (the
    # operands read first, so out= one of them works), no gradient through it
    product = (x @ x.t()).data
    y = dlpy.zeros(product.shape, dtype=x.dtype)
    assert dlpy.matmul(x, x.t(), out=y) is y
    np.testing.assert_array_equal(y.data, product)
    z = x.clone()
    assert dlpy.mul(z, 2, out=z) is z and z.tolist() == (x * 2).tolist()
    values, indices = dlpy.zeros(0, dtype=x.dtype), dlpy.zeros(0, dtype=dlpy.int64)
    result = dlpy.max(x, 1, out=(values, indices))
    assert result.values is values and indices.tolist() == x.data.argmax(1).tolist()
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        dlpy.add(x, 0.5, out=dlpy.zeros(x.shape, dtype=dlpy.int64))
    with pytest.raises(RuntimeError, match=r"mul\(\): functions with out=\.\.\. arguments "
                                           r"don't support automatic differentiation"):
        dlpy.mul(x.detach().requires_grad_(), 2, out=dlpy.zeros(x.shape, dtype=x.dtype))
    with pytest.raises(TypeError, match=r"chunk\(\) got an unexpected keyword argument 'out'"):
        dlpy.chunk(x, 2, out=x)
    # nn.functional's at the top level only with torch.*'s own signature: conv2d's is F's,
    # torch.dropout(input, p, train) and torch.embedding(weight, indices) are torch's
    assert inspect.unwrap(dlpy.conv2d) is inspect.unwrap(F.conv2d)
    assert inspect.unwrap(dlpy.dropout) is not inspect.unwrap(F.dropout)
