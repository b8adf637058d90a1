"""PyTorch's reduction keywords (dim, keepdim), max/min(dim) -> (values, indices), and the Tensor
methods a PyTorch user reaches for. Reference values: tests/fixtures/habits (the "tm:" keys of
tests/fixtures/make_habits_fixtures.py); torch is never needed to run them."""

from pathlib import Path

import numpy as np
import pytest
from cases_habits import MASK_CASES, method_cases

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.ops.reduce import MaxResult, MinResult
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "habits.npz"


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


# the cases make_habits_fixtures.py ran in torch
METHOD_CASES = method_cases(F, dlpy.zeros)


def _cases(reference, prefix, field):
    return {k[len(prefix):-len(field)] for k in reference
            if k.startswith(prefix) and k.endswith(field)}


def test_every_fixture_case_is_tested(reference):
    assert _cases(reference, "tm:", ":out") == set(METHOD_CASES)
    assert _cases(reference, "tm:", ":mask") == set(MASK_CASES)


@pytest.mark.parametrize("case", sorted(METHOD_CASES))
def test_method_matches_torch(case, reference):
    x = Tensor(reference["tm:x"], requires_grad=True)
    out = METHOD_CASES[case](x)
    indices = reference.get(f"tm:{case}:indices")
    if indices is not None:  # torch returned (values, indices): so must dlpy
        assert isinstance(out, MaxResult)
        values, got = out
        assert got.dtype == np.int64 and got.shape == indices.shape
        np.testing.assert_array_equal(got, indices)
        out = values
    assert isinstance(out, Tensor) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, reference[f"tm:{case}:out"], rtol=1e-10, atol=1e-12)
    out.backward(reference[f"tm:{case}:grad_out"])
    np.testing.assert_allclose(x.grad, reference[f"tm:{case}:grad"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_mask_matches_torch(case, reference):
    y = Tensor(reference["tm:y"], requires_grad=True)
    with np.errstate(invalid="ignore"):
        mask = MASK_CASES[case](y)
    expected = reference[f"tm:{case}:mask"]
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.shape == expected.shape
    np.testing.assert_array_equal(mask.data, expected)


# ----------------------------------------------------------------- dim / keepdim
REDUCTIONS = {
    "sum": (F.sum, Tensor.sum), "mean": (F.mean, Tensor.mean), "max": (F.amax, Tensor.amax),
    "logsumexp": (F.logsumexp, Tensor.logsumexp),
    "var": (F.var, Tensor.var), "std": (F.std, Tensor.std),
    # (torch's norm is Python-defined: Tensor.norm and torch.norm refuse axis=/keepdims=)
    "norm": (lambda x, **k: F.norm(x, 2, **k),),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dim, keepdim", [(1, False), ((0, 2), True), (None, True), (-1, None)])
def test_dim_and_keepdim_are_axis_and_keepdims(name, dim, keepdim):
    data = np.random.default_rng(0).standard_normal((2, 3, 4))
    for fn in REDUCTIONS[name]:
        a, b = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
        ours = fn(a, dim=dim, keepdim=keepdim)
        theirs = fn(b, axis=dim, keepdims=keepdim)
        np.testing.assert_array_equal(ours.data, theirs.data)
        grad = np.arange(ours.data.size, dtype=np.float64).reshape(ours.shape)
        ours.backward(grad)
        theirs.backward(grad)
        np.testing.assert_array_equal(a.grad, b.grad)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "amax", "amin", "logsumexp",
                                  "var", "std", "norm"])
def test_axis_and_dim_together_is_an_error(name):
    x = Tensor(np.ones((2, 3)))
    for fn in (getattr(F, name),) + ((getattr(Tensor, name),) if name != "norm" else ()):
        with pytest.raises(TypeError, match=rf"{name}: give axis or dim \(the same thing\), "
                                            "not both"):
            fn(x, axis=0, dim=0)
        with pytest.raises(TypeError, match=rf"{name}: give keepdims or keepdim \(the same "
                                            r"thing\), not both"):
            fn(x, dim=0, keepdims=True, keepdim=True)


def test_norm_refuses_numpy_aliases_as_torchs():
    x = Tensor(np.ones((2, 3)))
    for call in (lambda: x.norm(2, axis=0), lambda: dlpy.norm(x, 2, keepdims=True)):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            call()


@pytest.mark.parametrize("name", ["argmax", "argmin", "all", "any"])
def test_index_and_truth_methods_take_dim(name):
    x = Tensor(np.array([[1.0, 0.0, 3.0], [3.0, -2.0, 0.0]]))
    ours = getattr(x, name)(dim=1, keepdim=True)
    theirs = getattr(x, name)(1, keepdims=True)
    np.testing.assert_array_equal(getattr(ours, "data", ours), getattr(theirs, "data", theirs))
    assert ours.shape == (2, 1)
    with pytest.raises(TypeError, match=rf"{name}: give axis or dim"):
        getattr(x, name)(0, dim=0)
    with pytest.raises(TypeError, match=rf"{name}: give keepdims or keepdim"):
        getattr(x, name)(keepdims=False, keepdim=False)


def test_argmax_keepdim_over_everything_as_torch():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.argmax(keepdim=True).shape == (1, 1) and x.argmax(keepdim=True).item() == 5
    assert isinstance(x.argmin(dim=0), Tensor) and x.argmin(dim=0).dtype == np.int64


# ----------------------------------------------------------------- max / min
def test_max_with_dim_is_a_named_pair_as_torch():
    data = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [np.nan, 1.0, np.nan, 5.0]])
    x = Tensor(data, requires_grad=True)
    result = x.max(dim=1)
    assert type(result) is MaxResult and isinstance(result, tuple) and len(result) == 2
    values, indices = result
    assert values is result.values and indices is result.indices
    assert isinstance(indices, Tensor) and indices.dtype == np.int64
    np.testing.assert_array_equal(indices, [1, 0, 0])  # the first tie, the first nan
    np.testing.assert_array_equal(indices, x.argmax(1))
    np.testing.assert_array_equal(values.data, [3.0, 2.0, np.nan])
    values.sum().backward()  # all the gradient to the index (amax shares it among ties)
    np.testing.assert_array_equal(x.grad, [[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
    assert repr(result).startswith("dlpy.return_types.max(\nvalues=tensor(")  # torch's layout
    low = F.min(Tensor(data), dim=0, keepdim=True)
    assert type(low) is MinResult and repr(low).startswith("dlpy.return_types.min(")
    np.testing.assert_array_equal(low.indices, [[2, 2, 2, 0]])


def test_result_types_are_named_as_torchs_and_pickle():
    import pickle

    import dlpy.return_types as return_types
    x = Tensor(np.array([[3.0, 1.0], [0.0, 5.0]]))
    result = x.max(1)
    assert type(result).__name__ == "max" and type(result) is return_types.max is MaxResult
    assert type(dlpy.kthvalue(x, 1, 1)) is return_types.kthvalue  # a subtype of median's layout
    again = pickle.loads(pickle.dumps(result))
    assert type(again) is MaxResult and again.indices.tolist() == [0, 1]
    made = return_types.median((x[0], x[1]))  # one sequence, as torch's structseq
    assert type(made).__name__ == "median" and made.values.tolist() == [3, 1]
    with pytest.raises(TypeError, match="2-sequence"):
        return_types.sort((x,))


def test_max_with_an_axis_is_torchs_max_dim():
    # no axis, or dlpy's several axes (positional): the values, ties sharing the gradient
    x = Tensor(np.array([[1.0, 3.0, 3.0], [0.0, -1.0, 2.0]]), requires_grad=True)
    for result in (x.max(), F.min(x, (0, 1)), x.amax(1), x.amax(axis=1)):
        assert type(result) is Tensor
    x.amax(axis=1).backward(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0, 0, 1]])
    # one int dim (positional, dim= or torch's numpy alias axis=), keepdim=: (values, indices)
    for result in (x.max(1), x.max(dim=1), x.max(1, keepdim=True), x.max(axis=1, keepdim=False),
                   F.max(x, 1), F.max(x, dim=0), x.min(-1), x.min(dim=-1), x.max(axis=1),
                   F.max(x, axis=1), x.min(axis=0, keepdims=True), x.max(axis=-1, keepdims=False),
                   F.min(x, 0, keepdim=True), x.max(1, keepdims=True)):
        assert isinstance(result, MaxResult)
    x.grad = None
    x.max(axis=1).values.backward(np.array([1.0, 1.0]))  # to the first maximum, as torch's
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 0, 1]])
    for bad in (lambda: x.max(axis=(0, 1)), lambda: x.max(keepdims=True),
                lambda: F.min(x, axis=None, keepdims=False)):
        with pytest.raises(TypeError):  # torch's: max(dim) takes one int
            bad()
    values, indices = x.max(1)  # the habit this rule is for
    np.testing.assert_array_equal(values.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(indices, [1, 2])
    assert x.max(1)[0].shape == (2,)  # torch's x.max(1)[0] is the values, not row 0


def test_max_with_dim_on_a_scalar_and_its_gradient():
    s = Tensor(np.float64(2.5), requires_grad=True)
    values, indices = s.max(dim=0)
    assert values.shape == () and values.item() == 2.5
    assert indices.shape == () and indices.item() == 0
    values.backward()
    assert s.grad.item() == 1.0
    x = Tensor(np.random.default_rng(0).permutation(24).reshape(2, 3, 4) * 0.1,
               requires_grad=True)  # distinct values: the gradient is defined
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            assert gradcheck(lambda t, d=dim, k=keepdim: t.max(dim=d, keepdim=k).values, x)
            assert gradcheck(lambda t, d=dim, k=keepdim: F.min(t, dim=d, keepdim=k).values, x)


def test_max_with_dim_errors():
    x = Tensor(np.ones((2, 3)))
    # several axes: dlpy's values over them, as amax (torch refuses a tuple here)
    assert type(x.max(dim=(0, 1))) is Tensor and x.max((0, 1)).item() == 1.0
    with pytest.raises(TypeError, match=r"max: with dim=/keepdim= .* dim must be one int, got "
                                        r"\(0, 1\); .* use amax"):
        x.max(dim=(0, 1), keepdim=True)
    with pytest.raises(TypeError, match=r"min: with dim=/keepdim= .* got None"):
        x.min(keepdim=True)  # torch: no max(keepdim) without a dim either
    with pytest.raises(ValueError, match=r"max: axis 2 is out of range"):
        x.max(dim=2)
    with pytest.raises(ValueError, match=r"max: cannot take the max over an empty axis"):
        F.max(Tensor(np.ones((2, 0))), dim=1)


def test_amax_and_amin_share_ties_and_take_axes():
    x = Tensor(np.array([[1.0, 5.0], [5.0, 2.0]]), requires_grad=True)
    y = F.amax(x)
    assert type(y) is Tensor and y.item() == 5.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5], [0.5, 0]])
    np.testing.assert_array_equal(x.amin(dim=(0, 1), keepdim=True).data, [[1.0]])
    np.testing.assert_array_equal(F.amin(x, 0).data, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"amax: cannot take the amax over an empty axis"):
        F.amax(Tensor(np.ones((0, 2))), 0)
    data = np.random.default_rng(1).permutation(12).reshape(3, 4) * 0.5
    assert gradcheck(lambda t: t.amax(dim=(0, 1)), Tensor(data, requires_grad=True))
    assert gradcheck(lambda t: F.amin(t, 1, keepdim=True), Tensor(data, requires_grad=True))


# ----------------------------------------------------------------- methods
def test_transposes():
    m = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(m.t().data, m.data.T)
    np.testing.assert_array_equal(Tensor(np.arange(3.0)).t().data, [0, 1, 2])  # as torch
    with pytest.raises(ValueError, match=r"t: expected a tensor with at most 2 axes, got shape "
                                         r"\(2, 3, 4\)"):
        dlpy.zeros(2, 3, 4).t()
    assert dlpy.zeros(5, 2, 3).mT.shape == (5, 3, 2)
    with pytest.raises(ValueError, match=r"mT: expected a tensor with at least 2 axes"):
        dlpy.zeros(3).mT  # noqa: B018


def test_clone_copies_and_passes_the_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = x.clone()
    assert c.requires_grad and c.data is not x.data and not np.shares_memory(c.data, x.data)
    (c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    plain = Tensor(np.array([1.0, 2.0]))
    copy = plain.clone().zero_()
    assert plain.tolist() == [1.0, 2.0] and copy.tolist() == [0.0, 0.0]
    assert not plain.clone().requires_grad


def test_small_methods():
    x = Tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert x.contiguous() is x
    assert x.dim() == 2 and x.nelement() == 6
    assert x.view_as(np.zeros((3, 2))).shape == (3, 2)
    assert x.reshape_as(dlpy.zeros(6)).shape == (6,)
    cast = x.type_as(Tensor(np.zeros(1)))
    assert cast.dtype == np.float64 and cast.requires_grad
    assert x.expand_as(np.zeros((4, 2, 3))).shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"expand: axis 0 of x \(2, 3\) has length 2, which "
                                         r"can only expand to itself"):
        x.expand_as(dlpy.zeros(3, 3))
    np.testing.assert_allclose(x.pow(Tensor(np.full(3, 2.0))).data, x.data ** 2)
    np.testing.assert_array_equal(x.add(np.ones(3), alpha=2).data, x.data + 2)
    np.testing.assert_array_equal(x.sub(1, alpha=0.5).data, x.data - 0.5)
    assert x.add(1).dtype == np.float32


def test_eq_and_ne_are_masks_as_the_operators():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    same = x.clone()
    mask = x.eq(same)
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.data.all()
    np.testing.assert_array_equal(x.ne(np.array([1.0, 0.0, 3.0])).data, [False, True, False])
    np.testing.assert_array_equal((x == same).data, mask.data)
    np.testing.assert_array_equal((x != np.array([1.0, 0.0, 3.0])).data, [False, True, False])
    assert bool(x.isfinite().all()) and not bool(x.isnan().any())


def test_new_tensors_take_this_tensors_dtype():
    x = Tensor(np.ones((2, 2), dtype=np.float64))
    for made in (x.new_zeros(2, 3), x.new_zeros((2, 3)), x.new_ones(2, 3),
                 x.new_full((2, 3), 7), x.new_tensor([[1, 2, 3], [4, 5, 6]])):
        assert made.shape == (2, 3) and made.dtype == np.float64 and not made.requires_grad
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert x.new_zeros(2, dtype=np.int64).dtype == np.int64
    assert x.new_ones(2, requires_grad=True).requires_grad
    source = Tensor(np.array([1.0, 2.0]))
    copied = x.new_tensor(source)
    source.data[0] = 9
    assert copied.tolist() == [1.0, 2.0]


def test_zero_and_fill_in_place_as_torch_allows():
    t = Tensor(np.arange(3.0))
    assert t.fill_(2.5) is t and t.tolist() == [2.5, 2.5, 2.5]
    assert t.zero_() is t and t.tolist() == [0.0, 0.0, 0.0]
    assert t.fill_(Tensor(np.array(4.0))).tolist() == [4.0, 4.0, 4.0]
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"fill_: a leaf tensor that requires grad can be "
                                           r"changed in place only under dlpy.no_grad\(\)"):
        w.fill_(0.0)
    with dlpy.no_grad():  # initialising a parameter, as torch allows
        w.fill_(3.0)
    assert w.tolist() == [3.0, 3.0] and w.requires_grad
    y = w * 2
    assert y.zero_() is y and y.tolist() == [0.0, 0.0] and y.requires_grad  # recorded, as torch
    y.sum().backward()
    assert w.grad.tolist() == [0.0, 0.0]
    y = w * 2
    with dlpy.no_grad():
        y.zero_()  # changes the array Mul produced, which its backward does not read (torch's)
    y.sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]
    y = w.exp()
    with dlpy.no_grad():
        y.zero_()  # changes the array Exp produced and reads: the version counter refuses
    with pytest.raises(RuntimeError, match=r"output of Exp .* was modified in place"):
        y.sum().backward()


def test_all_and_any_are_masks_without_gradient():
    x = Tensor(np.array([[1.0, 0.0], [2.0, 3.0]]), requires_grad=True)
    assert x.all().dtype == np.bool_ and not x.all().requires_grad and not x.all()
    assert x.any().item() is True
    np.testing.assert_array_equal(x.all(1).data, [False, True])
    np.testing.assert_array_equal(x.any(dim=0, keepdim=True).data, [[True, True]])
    with pytest.raises(ValueError, match=r"all: axis 2 is out of range"):
        x.all(dim=2)
