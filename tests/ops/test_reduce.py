"""sum, mean, max, min, logsumexp, var, std, norm over an axis, axes or everything: gradients,
PyTorch values, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "sum_all": lambda x: x.sum(),
    "sum_axis": lambda x: x.sum(1),
    "sum_axes_keepdims": lambda x: F.sum(x, (0, 2), keepdims=True),
    "mean_all": F.mean,
    "mean_axis": lambda x: x.mean(axis=-1),
    "mean_keepdims": lambda x: x.mean((1, 3), keepdims=True),
    "max_all": lambda x: x.max(),
    "max_axis": lambda x: F.amax(x, axis=1),  # (max(x, axis=1) is torch's (values, indices))
    "max_keepdims": lambda x: x.amax(axis=0, keepdims=True),
    "max_ties": lambda x: x.amax(axis=1),  # ties share the gradient equally, as torch.amax
    "sum_of_squares": F.sum_of_squares,
    "sum_of_squares_weighted": lambda x, weight: F.sum_of_squares(x, weight),
    "min_all": lambda x: x.min(),
    "min_axis": lambda x: F.amin(x, axis=1),
    "min_keepdims": lambda x: x.amin((0, 2), keepdims=True),
    "min_ties": lambda x: x.amin(axis=1),  # ties share the gradient equally, as torch.amin
    "logsumexp_all": F.logsumexp,
    "logsumexp_axis": lambda x: x.logsumexp(1),
    "logsumexp_keepdims": lambda x: F.logsumexp(x, (0, 2), keepdims=True),
    "logsumexp_large": lambda x: F.logsumexp(x, -1),
    "var_all": lambda x: x.var(),
    "var_axis": lambda x: F.var(x, 1),
    "var_correction0_keepdims": lambda x: x.var((0, 2), keepdims=True, correction=0),
    "var_correction2": lambda x: F.var(x, 0, correction=2),
    "std_all": F.std,
    "std_axis": lambda x: x.std(-1),
    "std_unbiased_false": lambda x: x.std(1, keepdims=True, unbiased=False),
    "norm_all": F.norm,
    "norm_axis": lambda x: F.norm(x, 2, 1),
    "norm_zero_row": lambda x: F.norm(x, axis=1),  # gradient 0 at a zero vector, as torch
    "norm_1": lambda x: F.norm(x, 1, 0),
    "norm_3_keepdims": lambda x: F.norm(x, 3, (0, 2), keepdims=True),
    "norm_half": lambda x: F.norm(x, 0.5, 1),
    "norm_inf_ties": lambda x: F.norm(x, np.inf, 1),  # ties share, as torch
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("reduce", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("reduce") == set(TORCH_CASES)


SHAPES_AND_AXES = [
    ((), None), ((), 0), ((), -1),
    ((4,), None), ((4,), 0),
    ((3, 1), 1), ((3, 4), -1), ((3, 4), (0, 1)),
    ((2, 3, 4), (0, 2)), ((2, 1, 3, 2), (1, 3)), ((2, 1, 3, 2), 2),
]


@pytest.mark.parametrize("shape, axis", SHAPES_AND_AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("fn", [F.sum, F.mean, F.amax, F.amin, F.logsumexp,
                                lambda x, a, k: F.var(x, a, keepdims=k),
                                lambda x, a, k: F.std(x, a, keepdims=k),
                                lambda x, a, k: F.norm(x, 2, a, k),
                                lambda x, a, k: F.norm(x, 1.5, a, k),
                                lambda x, a, k: F.norm(x, np.inf, a, k),
                                lambda x, a, k: F.norm(x, -1.5, a, k),
                                lambda x, a, k: F.norm(x, -np.inf, a, k),
                                lambda x, a, k: F.var(x, a, keepdims=k, correction=0)],
                         ids=["sum", "mean", "max", "min", "logsumexp", "var", "std", "norm",
                              "norm1.5", "norm_inf", "norm-1.5", "norm_-inf", "var0"])
def test_gradcheck(fn, shape, axis, keepdims, rng):
    x = Tensor(rng.permutation(max(int(np.prod(shape)), 1)).reshape(shape) * 0.1 +
               rng.uniform(0, 0.01, shape), requires_grad=True)  # distinct values: no ties
    with np.errstate(divide="ignore", invalid="ignore"):  # var of one value: 0 / 0
        out = fn(x, axis, keepdims).data
    reduced = x.data.size // max(out.size, 1)  # values behind each result
    if reduced == 1 and fn.__name__ == "<lambda>" \
            and not np.all(np.isfinite(out)):  # var/std, n - correction = 0: nan, as torch
        assert np.all(np.isnan(out))
        return
    assert gradcheck(lambda x: fn(x, axis, keepdims), x)


@pytest.mark.parametrize("fn", [F.sum, F.mean, F.max, F.min, F.amax, F.amin, F.logsumexp,
                                F.var, F.std, F.norm])
def test_result_data_is_an_array(fn):
    y = fn(Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True))
    assert isinstance(y.data, np.ndarray) and y.shape == ()


def test_max_of_repeated_maxima_shares_the_gradient():
    x = Tensor(np.array([1.0, 5.0, 5.0, 5.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 1 / 3, 1 / 3, 1 / 3])


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "amax", "amin", "logsumexp",
                                  "var", "std", "norm"])
def test_axis_errors(name):
    fn = getattr(F, name) if name != "norm" else lambda x, axis: F.norm(x, 2, axis)
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range for a tensor with 2"):
        fn(x, 2)
    with pytest.raises(ValueError, match=rf"{name}: axis \(0, -2\) names an axis twice"):
        fn(x, (0, -2))
    with pytest.raises(TypeError, match=rf"{name}: axis must be an int or a tuple of ints"):
        fn(x, 1.0)


def test_max_of_empty_is_an_error():
    with pytest.raises(ValueError, match=r"max: cannot take the max over an empty axis"):
        F.max(Tensor(np.ones((0, 3))))
    with pytest.raises(ValueError, match=r"min: cannot take the min over an empty axis of "
                                         r"shape \(2, 0\)"):
        F.min(Tensor(np.ones((2, 0))), axis=1)


def test_min_of_repeated_minima_shares_the_gradient():
    x = Tensor(np.array([[4.0, -1.0, -1.0], [0.0, 2.0, 3.0]]), requires_grad=True)
    x.amin(axis=1).backward(np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad, [[0.0, 0.5, 0.5], [2.0, 0.0, 0.0]])


def test_logsumexp_is_stable_and_handles_infinities_as_torch():
    x = Tensor(np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], dtype=np.float32),
               requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.logsumexp(x, 1)
        y.sum().backward()
    np.testing.assert_allclose(y.data, [1000 + np.log(2), -1000 + np.log(2)], rtol=1e-6)
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, np.full((2, 2), 0.5))
    # torch: a row of -inf gives -inf, +inf gives inf, an empty axis gives -inf
    y = F.logsumexp(Tensor(np.array([[-np.inf, -np.inf], [np.inf, 1.0]])), 1)
    np.testing.assert_array_equal(y.data, [-np.inf, np.inf])
    np.testing.assert_array_equal(F.logsumexp(Tensor(np.zeros((0, 3))), 0).data,
                                  [-np.inf] * 3)


def test_logsumexp_gradient_is_softmax(rng):
    x = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    F.logsumexp(x, -1).sum().backward()
    np.testing.assert_allclose(x.grad, F.softmax(Tensor(x.data), -1).data, rtol=1e-12)


def test_var_and_std_edges_as_torch():
    # one value with correction 1: 0 / 0 = nan; n - correction < 0: PyTorch's max(0, n - c)
    with np.errstate(all="raise"):
        assert np.isnan(F.var(Tensor(np.array([3.0]))).item())
        assert F.var(Tensor(np.array([3.0, 1.0])), correction=3).item() == np.inf
    # a constant row: std 0 with gradient 0 (not nan), as torch
    x = Tensor(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]), requires_grad=True)
    y = F.std(x, 1)
    y.sum().backward()
    assert y.data[0] == 0.0 and np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(x.grad[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(y.data[1], np.std([1.0, 2.0, 4.0], ddof=1), rtol=1e-14)
    np.testing.assert_allclose(F.var(x, 1, unbiased=False).data, np.var(x.data, 1), rtol=1e-14)
    np.testing.assert_allclose(F.var(x, correction=0.5).item(),
                               np.sum((x.data - x.data.mean()) ** 2) / 5.5, rtol=1e-14)


def test_var_std_norm_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"var: give correction or unbiased, not both"):
        F.var(x, correction=0, unbiased=False)
    with pytest.raises(TypeError, match=r"std: unbiased must be True or False, got 1"):
        F.std(x, unbiased=1)
    with pytest.raises(TypeError, match=r"var: correction must be a number, got '1'"):
        x.var(correction="1")
    # torch's older x.var(dim, unbiased[, keepdim]): read as torch does, never as keepdims
    y = Tensor(np.array([[1.0, 2.0], [3.0, 5.0]]))
    np.testing.assert_allclose(y.var(1, False).data, [0.25, 1.0])
    assert F.std(y, 1, True, True).shape == (2, 1) and y.var(True).shape == ()
    with pytest.raises(TypeError, match=r"std: expected \(dim, unbiased, keepdim\) positionally"):
        F.std(x, 1, 0)
    with pytest.raises(ValueError, match=r"norm: p must be a number, got nan"):
        F.norm(x, float("nan"))
    with pytest.raises(ValueError, match=r"matrix_norm: ord must be one of"):
        F.norm(x, "max")


def test_norm_of_zero_vectors_has_zero_gradient():
    for p in (0.5, 1, 2, 3, np.inf):
        x = Tensor(np.zeros((2, 3)), requires_grad=True)
        y = F.norm(x, p, 1)
        y.sum().backward()
        np.testing.assert_array_equal(y.data, [0.0, 0.0])
        np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


def test_norm_of_order_zero_counts_non_zeros_without_gradient():
    x = Tensor(np.array([[1.0, 0.0, -2.0], [0.0, 0.0, 0.0]]), requires_grad=True)
    y = F.norm(x, 0, 1)
    np.testing.assert_array_equal(y.data, [2.0, 0.0])
    y.sum().backward()
    assert x.grad is None  # torch's: no gradient reaches x


def test_norm_negative_order_and_empty_reductions():
    x = Tensor(np.array([1.0, -2.0, 0.0]))
    assert F.norm(x, -0.5).item() == 0.0  # a zero entry makes a negative-order norm 0
    np.testing.assert_allclose(F.norm(x[:2], -1).item(), 1 / 1.5, rtol=1e-15)
    assert F.norm(Tensor(np.zeros(0)), 0).item() == 0.0
    for p in (np.inf, -np.inf, -1):
        with pytest.raises(RuntimeError, match=r"cannot compute the .* norm on an empty"):
            F.norm(Tensor(np.zeros((2, 0))), p, 1)


def test_sum_of_squares_gradcheck_float32_and_errors(rng):
    x = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    weight = rng.random((5, 1)) + 0.5
    assert gradcheck(lambda t: F.sum_of_squares(t, weight), x)
    y = Tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    out = F.sum_of_squares(y, np.array([[1.0], [2.0], [3.0], [4.0]]))
    assert out.dtype == np.float32  # a float64 weight does not promote a float32 parameter
    assert out.item() == pytest.approx(float(np.sum(np.arange(1, 5)[:, None] * y.data ** 2)),
                                       rel=1e-5)
    out.backward()
    assert y.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"weight of shape \(3, 1\) does not broadcast to x's "
                                         r"shape \(4, 3\)"):
        F.sum_of_squares(y, np.ones((3, 1)))


@pytest.mark.parametrize("name", ["var", "std", "var_mean", "std_mean"])
def test_an_empty_variance_warns_only_about_its_degrees_of_freedom(name):
    """torch's var/std of nothing: nan and its UserWarning, never numpy's "Mean of empty
    slice" RuntimeWarning (the mean taken out is nan silently)."""
    import warnings

    import dlpy

    for x, dim in ((dlpy.zeros(0), None), (dlpy.zeros(2, 0), 1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = getattr(dlpy, name)(x, dim)
        first = out[0] if isinstance(out, tuple) else out
        assert np.isnan(first.data).all()
        assert [w.category for w in caught] == [UserWarning], [str(w.message) for w in caught]
