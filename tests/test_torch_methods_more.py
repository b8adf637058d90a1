"""The rest of torch.Tensor's methods and torch's top-level functions (dlpy/tensor_methods.py,
dlpy/torch_functions.py and the new ops in ops/pointwise.py, indexing.py, rearrange.py),
checked against PyTorch's values and gradients (tests/fixtures/torch_methods, made by
make_torch_methods_fixtures.py from cases_torch_methods.py); torch is never needed to run
them."""

from pathlib import Path

import numpy as np
import pytest
from cases_torch_methods import DTYPE_CASES, DTYPE_NAMES, EXACT_CASES, GRAD_CASES
from npz_reference import load_npz
from replay_cases import (
    check_every_case_recorded,
    check_exact_case,
    check_grad_case,
    gradcheck_two_matrices,
)

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.reduce import kthvalue_indices

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "torch_methods" / "torch_methods.npz"
# torch's trigamma (polygamma(1, .)) is good to about 1e-10; dlpy's to 1e-15
TOLERANCE = {"polygamma1": 1e-9}


@pytest.fixture(scope="module")
def reference():
    return load_npz(FIXTURE)


def test_every_fixture_case_is_tested(reference):
    check_every_case_recorded(reference, grad=GRAD_CASES, exact=EXACT_CASES, dtype=DTYPE_CASES)


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_values_and_gradient_match_torch(case, reference):
    check_grad_case(GRAD_CASES, case, dlpy, reference, TOLERANCE.get(case, 1e-12))


@pytest.mark.parametrize("case", sorted(EXACT_CASES))
def test_exact_results_match_torch(case, reference):
    check_exact_case(EXACT_CASES, case, dlpy, reference)


@pytest.mark.parametrize("case", sorted(DTYPE_CASES))
def test_dtype_rules_match_torch(case, reference):
    result = DTYPE_CASES[case](dlpy, {name: np.dtype(name) for name in DTYPE_NAMES})
    expected = reference[f"dtype:{case}"]
    got = result if isinstance(result, bool) else str(np.dtype(result))
    assert np.array(got) == expected


def test_kthvalue_ties_replay_torchs_quickselect(reference):
    # torch.kthvalue's index among tied values is its quickselect's (deterministic on the CPU)
    x = reference["x"]
    for i, (k, dim) in enumerate([(k, 1) for k in range(1, 6)] + [(k, 0) for k in range(1, 5)]):
        got = np.squeeze(kthvalue_indices(x, k, dim), dim)
        np.testing.assert_array_equal(got, reference[f"exact:kthvalue_ties:{i}"])


# ----------------------------------------------------------------- gradient checks in float64
GRADCHECK = {
    "unfold": lambda a, b: a.unfold(1, 2, 1) * b.unfold(1, 2, 1),
    "unfold_step": lambda a, b: a.unfold(0, 2, 2).sum() * b.unfold(1, 3, 2),
    "fmax_fmin": lambda a, b: F.fmax(a, b) * F.fmin(b, a * 2),
    "pow": lambda a, b: F.pow(a.abs() + 0.5, b) + F.pow(1.5, a),
    "ldexp": lambda a, b: F.ldexp(a, b),
    "i0": lambda a, b: F.i0(a * 3) * b,
    "polygamma": lambda a, b: F.polygamma(2, a.abs() + 0.3) * F.polygamma(1, b.abs() + 1),
    "mvlgamma": lambda a, b: F.mvlgamma(a.abs() + 3, 4) * b,
    "scatter_reduce": lambda a, b: a.scatter_reduce(1, [[0, 0], [1, 3], [2, 2]], b[:, :2],
                                                    "prod")
    + a.scatter_reduce(1, [[3, 0], [1, 1], [0, 2]], b[:, 1:3], "amax", include_self=False)
    + a.scatter_reduce(1, [[1, 1], [0, 2], [3, 3]], b[:, 2:], "mean"),
    "index_reduce": lambda a, b: a.index_reduce(0, [2, 0], b[:2] * 2, "amin"),
    "index_put": lambda a, b: a.index_put(([0, 0, 2],), b, accumulate=True)
    + F.index_put(a, ([1], [2]), b[0, 0]),
    "scatters": lambda a, b: F.select_scatter(a, b[0], 0, 1)
    + F.slice_scatter(a, b[:, 1:3], 1, 1, 3) + F.diagonal_scatter(a, b[0, :3]),
    "cov_corrcoef": lambda a, b: F.cov(a, aweights=b[0].abs() + 0.5) + F.corrcoef(b + a),
    "renorm_dist": lambda a, b: a.renorm(2, 0, 1.0) * F.dist(a, b, 1.5),
    "trapezoid_gradient": lambda a, b: F.trapezoid(a, b[0].cumsum(0)) + F.cumulative_trapezoid(
        b, dx=0.3, dim=0).sum() + F.gradient(a, spacing=0.5)[1].sum(),
    "logdet": lambda a, b: F.logdet(a[:, :3] @ a[:, :3].t() + 3 * Tensor(np.eye(3))) * b,
    # addr's input (1,) broadcasts to the product's (3, 1), as torch needs
    "addbmm_addmv_addr": lambda a, b: F.addbmm(b[0, :2], a[:2].reshape(2, 2, 2),
                                               b[1:].reshape(2, 2, 2)).sum()
    + F.addmv(a[0, :3], b[:, 1:], a[1, :3]) + F.addr(b[:1, 0], a[0, :3], b[1, :1]).sum(1),
    "in_place_twins": lambda a, b: a.clone().t_().t_().sin_().mul_(b).unsqueeze_(0)
    .squeeze_(0).transpose_(0, 1).addmm_(b.t(), a[:, :3], beta=0.5),
}


@pytest.mark.parametrize("case", sorted(GRADCHECK))
def test_gradcheck(case):
    assert gradcheck_two_matrices(GRADCHECK[case], 7)


# ----------------------------------------------------------------- in place
def test_in_place_twins_follow_pytorchs_rules():
    w = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"sin_: a leaf tensor that requires grad can be "
                                           r"changed in place only under dlpy.no_grad\(\)"):
        w.sin_()
    with pytest.raises(RuntimeError, match=r"unsqueeze_: a leaf tensor"):
        w.unsqueeze_(0)
    with dlpy.no_grad():
        assert w.cos_() is w
    np.testing.assert_allclose(w.data, np.cos([0.5, -1.0]))
    x = Tensor(np.arange(6.0).reshape(2, 3))
    view = x.detach()
    version = x._version
    assert x.t_() is x and x.shape == (3, 2) and x._version == version + 1
    assert view.shape == (2, 3)  # a shape change is the tensor's own, as torch's
    assert x.stride() == (1, 3) and not x.is_contiguous()
    y = Tensor(np.arange(4.0))
    y.unsqueeze_(1).squeeze_(1).unsqueeze_(0)
    assert y.shape == (1, 4)
    i = Tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match=r"sqrt_: a result of dtype float\d+ cannot be stored in "
                                        r"place in a tensor of dtype int64"):
        i.sqrt_()
    z = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = z * 1
    h.mul_(3).add_(1)  # neither reads h in backward: allowed
    h.sum().backward()
    np.testing.assert_allclose(z.grad, [3.0, 3.0])
    h = z * 1
    h.exp_().log_()  # log_ changes the output exp_ saved: refused, as torch refuses
    with pytest.raises(RuntimeError, match=r"the output of Exp \(shape \(2,\)\) was modified"):
        h.sum().backward()


def test_every_in_place_twin_is_generated_and_named():
    from dlpy.tensor_methods import IN_PLACE, IN_PLACE_CAST, IN_PLACE_RESHAPE

    for base in IN_PLACE + IN_PLACE_CAST + IN_PLACE_RESHAPE:
        twin = getattr(Tensor, base + "_")
        assert twin.__name__ == base + "_", base
    x = Tensor(np.array([[1.5, -2.0], [0.0, 4.0]]))
    assert x.clone().gt_(0).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert x.clone().abs_().ceil_().tolist() == [[2.0, 2.0], [0.0, 4.0]]


def test_random_fills_draw_in_place():
    dlpy.manual_seed(0)
    x = Tensor(np.zeros(10000))
    assert x.bernoulli_(0.3) is x and set(np.unique(x.data)) <= {0.0, 1.0}
    assert abs(x.data.mean() - 0.3) < 0.02
    assert abs(x.exponential_(2.0).data.mean() - 0.5) < 0.03
    assert x.random_(3, 7).data.min() == 3 and x.data.max() == 6
    assert x.geometric_(0.5).data.min() >= 1
    assert abs(np.median(x.cauchy_(1.0, 2.0).data) - 1.0) < 0.15
    assert (x.log_normal_(0.0, 0.5).data > 0).all()
    state = dlpy.get_rng_state()
    first = dlpy.bernoulli(Tensor(np.full(5, 0.5))).data
    dlpy.set_rng_state(state)
    np.testing.assert_array_equal(dlpy.bernoulli(Tensor(np.full(5, 0.5))).data, first)
    w = Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"bernoulli_: a leaf tensor"):
        w.bernoulli_()
    with pytest.raises(ValueError, match=r"geometric_: p must be in \(0, 1\), got 0"):
        x.geometric_(0)


def test_multinomial_and_draws():
    dlpy.manual_seed(1)
    probs = Tensor(np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0]]))
    draws = probs.multinomial(2)
    assert draws.dtype == np.int64 and draws.shape == (2, 2)
    assert sorted(draws.data[0].tolist()) == [1, 2]
    many = dlpy.multinomial(Tensor(np.array([1.0, 3.0])), 4000, replacement=True)
    assert abs(many.data.mean() - 0.75) < 0.03
    # without replacement, the zero-weight categories follow the positive ones (as torch's)
    assert dlpy.multinomial(Tensor(np.array([0.0, 2.0, 0.0])), 3).data[0] == 1
    with pytest.raises(ValueError, match=r"multinomial: cannot draw 3 samples without "
                                         r"replacement from 2 categories"):
        dlpy.multinomial(Tensor(np.array([1.0, 2.0])), 3)
    assert dlpy.poisson(Tensor(np.full(3, 4.0))).dtype == np.float64
    assert dlpy.normal(Tensor(np.zeros(3)), 1.0).shape == (3,)
    assert dlpy.normal(2.0, 3.0, size=(2, 2)).dtype == np.float32
    assert dlpy.randint_like(Tensor(np.zeros((2, 3))), 5).data.max() < 5
    assert isinstance(dlpy.seed(), int)


# ----------------------------------------------------------------- retain_grad and introspection
def test_retain_grad_as_torch():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    g = h * h
    assert g.grad is None and not h.retains_grad and x.grad_fn is None and g.grad_fn is g.op
    h.retain_grad()
    assert h.retains_grad
    g.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(h.grad, 2 * h.data)
    assert g.grad is None  # non-leaves keep no gradient unless asked
    g.sum().backward()
    np.testing.assert_array_equal(h.grad, 4 * h.data)  # accumulates, as .grad of a leaf
    x.retain_grad()  # a leaf: nothing to do
    with pytest.raises(RuntimeError, match=r"retain_grad: can't retain_grad on a tensor that "
                                           r"has requires_grad=False"):
        _non_leaf_without_grad().retain_grad()


def _non_leaf_without_grad():
    t = Tensor(np.ones(2), requires_grad=True) * 2
    t.requires_grad = False
    return t


def test_introspection_and_casts():
    x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert x.is_floating_point() and x.is_signed() and x.is_contiguous()
    assert x.stride() == (3, 1) and x.stride(1) == 1 and x.element_size() == 4
    assert x.itemsize == 4 and x.nbytes == 24 and x.ndimension() == 2
    assert x.is_same_size(np.zeros((2, 3))) and not x.is_same_size(x.t())
    assert x.cpu() is x and x.device == dlpy.device("cpu") and x.is_cpu
    assert x.data_ptr() == x.data.ctypes.data and x[1].storage_offset() == 3
    assert x.type() == "dlpy.FloatTensor" and x.long().type() == "dlpy.LongTensor"
    from dlpy import compat

    with compat.as_torch():  # a program run as torch compares with torch's names
        assert x.type() == "torch.FloatTensor" and x.type("torch.LongTensor").dtype == np.int64
    assert x.type(np.float64).dtype == np.float64 and x.type("dlpy.IntTensor").dtype == np.int32
    assert not x.long().requires_grad and x.half().requires_grad
    assert x.new_empty(2, 2).shape == (2, 2) and x.new_empty((3,)).dtype == np.float32
    assert Tensor(np.array([0.0])).is_nonzero() is False
    with pytest.raises(ValueError, match=r"is_nonzero: expected a tensor with one element"):
        x.is_nonzero()
    assert not Tensor(np.array([1], dtype=np.uint8)).is_signed()
    y = Tensor(np.arange(6.0))
    assert y.resize_(2, 2) is y and y.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert y.resize_(3, 2).tolist()[2] == [4.0, 5.0]  # shrinking kept the memory, as torch's
    assert y.resize_as_(np.zeros(6)).shape == (6,)
    with pytest.raises(RuntimeError, match=r"resize_: cannot resize a tensor that requires grad"):
        x.resize_(6)
    assert y.apply_(lambda v: v * 10).tolist()[:2] == [0.0, 10.0]
    assert y.map_(Tensor(np.ones(6)), lambda a, b: a + b).tolist()[:2] == [1.0, 11.0]
    d = (x * 2).detach_()
    assert d.is_leaf and not d.requires_grad


def test_top_level_names():
    x = Tensor(np.array([[1.0, -2.0], [3.0, 0.5]]))
    assert dlpy.argmax(x).item() == 2 and dlpy.all(x).item() and dlpy.numel(x) == 4
    assert dlpy.is_tensor(x) and not dlpy.is_tensor(x.data) and dlpy.is_floating_point(x)
    array = np.zeros(3)
    shared = dlpy.from_numpy(array)
    array[0] = 5
    assert shared.data[0] == 5  # shares memory, as torch.from_numpy
    assert dlpy.as_tensor(array).data is array and dlpy.asarray(array, copy=True).data is not array
    assert dlpy.as_tensor([1.5]).dtype == np.float32 and dlpy.as_tensor([1]).dtype == np.int64
    assert dlpy.get_default_dtype() == np.float32
    assert dlpy.det(x).item() == pytest.approx(6.5) and dlpy.t(x).shape == (2, 2)
    np.testing.assert_array_equal(dlpy.isnan(x).data, np.zeros((2, 2), bool))
    np.testing.assert_array_equal(dlpy.clone(x).data, x.data)
    assert dlpy.concatenate([x, x], axis=1).shape == (2, 4)
    assert dlpy.typename(x) == "dlpy.DoubleTensor" and dlpy.is_same_size(x, x)
    assert dlpy.embedding(Tensor(np.eye(3)), np.array([2, 0])).tolist() == [[0, 0, 1],
                                                                            [1, 0, 0]]
    assert dlpy.layer_norm(Tensor(np.arange(8.0).reshape(2, 2, 2)), (2, 2)).shape == (2, 2, 2)
    np.testing.assert_allclose(dlpy.kl_div(x.abs().log(), x.abs(), 2).item(),
                               F.kl_div(x.abs().log(), x.abs(), "sum").item())
    assert dlpy.conv1d(Tensor(np.ones((1, 1, 4))), Tensor(np.ones((1, 1, 2)))).shape == (1, 1, 3)
    into = dlpy.zeros(x.shape, dtype=x.dtype)
    assert dlpy.fmax(x, x, out=into) is into and into.tolist() == x.tolist()
    y = x.clone()
    assert dlpy.sin_(y) is y and dlpy.zero_(y).tolist() == [[0, 0], [0, 0]]
    dlpy.set_printoptions(precision=1)
    try:
        assert repr(Tensor(np.array([3.04]))) == "tensor([3.0], dtype=torch.float64)"  # torch's
    finally:
        dlpy.set_printoptions(profile="default")


def test_bad_input_is_refused_clearly():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"unfold: size 4 must be in \[0, 3\]"):
        x.unfold(1, 4, 1)
    with pytest.raises(ValueError, match=r"unfold: step must be positive, got 0"):
        x.unfold(1, 2, 0)
    with pytest.raises(ValueError, match=r"scatter_reduce: reduce must be one of"):
        x.scatter_reduce(1, [[0], [1]], x, "maximum")  # "max"/"min" are torch's aliases
    with pytest.raises(ValueError, match=r"index_reduce: reduce must be 'prod'"):
        x.index_reduce(0, [0], x[:1], "sum")
    with pytest.raises(ValueError, match=r"select_scatter: src must have shape \(3,\), got"):
        F.select_scatter(x, x, 0, 0)
    with pytest.raises(IndexError, match=r"select: index 2 is out of range for dim 0"):
        x.select(0, 2)
    with pytest.raises(ValueError, match=r"diagonal_scatter: dim1 and dim2 must differ"):
        F.diagonal_scatter(x, x[0], 0, 1, 1)
    with pytest.raises(ValueError, match=r"sum_to_size: size \(3, 3\) is not expandable"):
        x.sum_to_size(3, 3)
    with pytest.raises(ValueError, match=r"unflatten: sizes \(2, 2\) do not multiply to"):
        x.unflatten(1, (2, 2))
    with pytest.raises(TypeError, match=r"gcd: expected integer or bool tensors, got float64"):
        F.gcd(x, x)
    with pytest.raises(ValueError, match=r"polygamma: n must be a non-negative int, got -1"):
        F.polygamma(-1, x)
    # torch 2.13 no longer checks mvlgamma's domain x > (p - 1) / 2: inf at its poles
    assert np.isinf(F.mvlgamma(Tensor(np.array([0.5, 1.0])), 3).data).all()
    with pytest.raises(TypeError, match=r"frexp: expected a float tensor, got int64"):
        F.frexp(np.arange(3))
    with pytest.raises(ValueError, match=r"cov: expected a 1-D or 2-D tensor"):
        F.cov(Tensor(np.ones((2, 2, 2))))
    with pytest.raises(ValueError, match=r"renorm: maxnorm must be non-negative"):
        x.renorm(2, 0, -1)
    with pytest.raises(ValueError, match=r"index_put: values of shape \(2,\) do not broadcast"):
        x.index_put((np.array([0, 1]),), x[0, :2])
    with pytest.raises(ValueError, match=r"fill_diagonal_: expected a matrix"):
        x[0].clone().fill_diagonal_(1.0)
    with pytest.raises(ValueError, match=r"trapezoid: x has 2 points, y 3 along dim 1"):
        F.trapezoid(x, Tensor(np.ones(2)))
    with pytest.raises(TypeError, match=r"from_numpy: expected a numpy array, got list"):
        dlpy.from_numpy([1, 2])
    with pytest.raises(ValueError, match=r"kl_div: reduction must be 0 \(none\), 1 \(mean\)"):
        dlpy.kl_div(x, x, 3)
    with pytest.raises(ValueError, match=r"set_printoptions: profile must be one of"):
        dlpy.set_printoptions(profile="long")
