"""gather, take_along_dim, index_select, scatter_add, scatter, repeat_interleave, sort, argsort,
topk: PyTorch values, gradients and indices (tests/fixtures/ops/indexing.npz), gradient checks,
errors, and a tiny model with top-k pooling that learns."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn, optim
from dlpy.testing import gradcheck

from .conftest import load_cases

TORCH_CASES = {
    "gather": lambda x, index: F.gather(x, 1, index),
    "gather_dim0_smaller_index": lambda x, index: x.gather(0, index),
    "gather_negative_dim": lambda x, index: F.gather(x, -2, Tensor(index)),
    "gather_size1": lambda x, index: x.gather(1, index.tolist()),
    "index_select": lambda x, index: F.index_select(x, 0, index),
    "index_select_last": lambda x, index: x.index_select(-1, index),
    "take_along_dim": lambda x, indices: F.take_along_dim(x, indices, 1),
    "take_along_dim_broadcast": lambda x, indices: x.take_along_dim(indices, 2),
    "take_along_dim_flat": lambda x, indices: F.take_along_dim(x, indices),
    "scatter_add": lambda x, src, index: F.scatter_add(x, 1, index, src),
    "scatter_add_negative_dim": lambda x, src, index: x.scatter_add(-2, index, src),
    "scatter": lambda x, src, index: F.scatter(x, 0, index, src),
    "scatter_negative_dim": lambda x, src, index: x.scatter(-1, index, src),
    "scatter_value": lambda x, index: F.scatter(x, 1, index, value=2.5),
    "sort": lambda x: F.sort(x).values,
    "sort_descending_dim0": lambda x: x.sort(0, descending=True).values,
    "sort_ties_stable": lambda x: F.sort(x, descending=True, stable=True).values,
    "sort_ties_ascending": lambda x: x.sort(stable=True)[0],
    "topk": lambda x: F.topk(x, 3).values,
    "topk_smallest_dim0": lambda x: x.topk(2, 0, largest=False).values,
    "topk_all_size1": lambda x: F.topk(x, 1, 1)[0],
    "repeat_interleave": lambda x: F.repeat_interleave(x, 2, dim=1),
    "repeat_interleave_flat": lambda x: x.repeat_interleave(3),
    "repeat_interleave_counts": lambda x, repeats: F.repeat_interleave(x, repeats, dim=-1),
}

# the same calls, for the indices torch returned (sort and topk cases)
INDEX_CASES = {
    "sort": lambda x: F.sort(x),
    "sort_descending_dim0": lambda x: x.sort(0, descending=True),
    "sort_ties_stable": lambda x: F.sort(x, descending=True, stable=True),
    "sort_ties_ascending": lambda x: x.sort(stable=True),
    "topk": lambda x: F.topk(x, 3),
    "topk_smallest_dim0": lambda x: x.topk(2, 0, largest=False),
    "topk_all_size1": lambda x: F.topk(x, 1, 1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("indexing", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("indexing") == set(TORCH_CASES)


@pytest.mark.parametrize("case", sorted(INDEX_CASES))
def test_sort_and_topk_indices_are_torchs(case):
    record = load_cases("indexing")[case]
    values, indices = INDEX_CASES[case](Tensor(record["in0"]))
    assert isinstance(indices, Tensor) and indices.dtype == np.int64
    assert not indices.requires_grad
    np.testing.assert_array_equal(indices.data, record["out_indices"])
    np.testing.assert_array_equal(values.data, record["out"])


def test_argsort_is_an_int64_tensor_like_argmax(rng):
    x = Tensor(rng.standard_normal((3, 5)))
    order = x.argsort(dim=0, descending=True)
    assert isinstance(order, Tensor) and order.dtype == np.int64
    np.testing.assert_array_equal(order, np.argsort(-x.data, axis=0))
    np.testing.assert_array_equal(F.argsort(x), np.argsort(x.data, axis=-1))
    assert F.argsort(Tensor(np.float64(2.0))).shape == ()


def test_sort_puts_nan_last_ascending_and_first_descending():
    x = Tensor(np.array([1.0, np.nan, 3.0, 2.0]))
    np.testing.assert_array_equal(F.sort(x).indices.data, [0, 3, 2, 1])
    np.testing.assert_array_equal(F.sort(x, descending=True).indices.data, [1, 2, 3, 0])
    np.testing.assert_array_equal(F.topk(x, 2).indices.data, [1, 2])  # as torch
    np.testing.assert_array_equal(F.topk(x, 2, largest=False).indices.data, [0, 3])


def test_topk_ties_take_torchs_positions():
    # PyTorch's choice among equal values is its CPU kernel's (libstdc++'s nth_element and
    # sort, replayed in topk_ties.py): [2, 4] here, not the first ones
    values, indices = F.topk(Tensor(np.array([1.0, 3.0, 3.0, 2.0, 3.0])), 2)
    np.testing.assert_array_equal(indices.data, [2, 4])
    np.testing.assert_array_equal(values.data, [3.0, 3.0])
    # k * 64 <= n: std::partial_sort's heap; sorted=False: nth_element's order
    row = np.arange(130) % 3
    np.testing.assert_array_equal(F.topk(Tensor(row), 2).indices.data, [5, 2])
    np.testing.assert_array_equal(
        F.topk(Tensor(np.array([0, 1, 0, 1, 0])), 3, sorted=False).indices.data, [1, 3, 0])


def test_sort_and_topk_of_a_scalar_and_k0(rng):
    x = Tensor(np.float64(2.5), requires_grad=True)
    values, indices = F.sort(x)
    assert values.shape == () and indices.data == 0 and indices.dtype == np.int64
    values.backward()
    assert x.grad.item() == 1.0
    assert F.topk(x, 1).values.item() == 2.5
    empty = F.topk(Tensor(rng.standard_normal((2, 3)), requires_grad=True), 0)
    assert empty.values.shape == (2, 0) and empty.indices.shape == (2, 0)


def test_the_results_are_namedtuples():
    result = F.topk(Tensor(np.arange(4.0)), 2)
    values, indices = result
    assert result.values is values and result.indices is indices
    assert type(result).__name__ == "topk" and type(F.sort(values)).__name__ == "sort"  # torch's


# -------------------------------------------------------------- gradient checks
def _x(rng, shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("shape, dim, index_shape", [
    ((5,), 0, (7,)),
    ((3, 4), 1, (3, 6)),
    ((3, 4), -2, (2, 4)),
    ((1, 3, 1), 1, (1, 4, 1)),
    ((2, 3, 4), -1, (1, 2, 5)),
])
def test_gather_gradcheck(shape, dim, index_shape, rng):
    index = rng.integers(0, shape[dim], index_shape)  # repeats: the gradient accumulates
    assert gradcheck(lambda x: F.gather(x, dim, index), _x(rng, shape))


@pytest.mark.parametrize("shape, dim, indices_shape", [
    ((3, 4), 1, (3, 2)),
    ((3, 1, 4), -1, (1, 2, 3)),
    ((3, 4), None, (2, 3)),
])
def test_take_along_dim_gradcheck(shape, dim, indices_shape, rng):
    size = np.prod(shape) if dim is None else shape[dim]
    indices = rng.integers(0, size, indices_shape)
    assert gradcheck(lambda x: F.take_along_dim(x, indices, dim), _x(rng, shape))


@pytest.mark.parametrize("shape, dim, index", [
    ((4,), 0, [3, 3, 0]),
    ((3, 4), -1, [1, 1, 1, 0, 3]),
    ((2, 1, 3), 1, [0, 0]),
    ((3, 2), 0, 2),
])
def test_index_select_gradcheck(shape, dim, index, rng):
    assert gradcheck(lambda x: F.index_select(x, dim, index), _x(rng, shape))


@pytest.mark.parametrize("shape, dim, index_shape, src_shape", [
    ((4,), 0, (6,), (6,)),
    ((3, 4), 1, (3, 5), (3, 5)),
    ((4, 3), 0, (2, 3), (3, 4)),  # src larger than index: only its leading part is added
    ((2, 1, 3), -1, (2, 1, 4), (2, 2, 4)),
])
def test_scatter_add_gradcheck(shape, dim, index_shape, src_shape, rng):
    index = rng.integers(0, shape[dim], index_shape)
    assert gradcheck(lambda x, src: F.scatter_add(x, dim, index, src), _x(rng, shape),
                     _x(rng, src_shape))


@pytest.mark.parametrize("shape, dim, index_shape, src_shape", [
    ((5,), 0, (3,), (3,)),
    ((4, 3), 0, (2, 3), (2, 3)),
    ((3, 4), -1, (3, 2), (3, 3)),
    ((2, 1, 3), 2, (2, 1, 3), (2, 1, 3)),
])
def test_scatter_gradcheck(shape, dim, index_shape, src_shape, rng):
    # distinct positions along dim: each written once, so the result is a function of x, src
    full = list(index_shape)
    full[dim] = shape[dim]
    index = np.take(np.argsort(rng.random(full), axis=dim), np.arange(index_shape[dim]), dim)
    assert gradcheck(lambda x, src: F.scatter(x, dim, index, src), _x(rng, shape),
                     _x(rng, src_shape))
    assert gradcheck(lambda x: F.scatter(x, dim, index, -1.0), _x(rng, shape))


def test_scatter_gradients_go_where_values_come_from():
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    src = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    y = F.scatter(x, 1, [[2, 0], [1, 2]], src)
    np.testing.assert_array_equal(y.data, [[2, 0, 1], [0, 3, 4]])
    y.backward(np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]]))
    np.testing.assert_array_equal(x.grad, [[0, 20, 0], [40, 0, 0]])
    np.testing.assert_array_equal(src.grad, [[30, 10], [50, 60]])


@pytest.mark.parametrize("shape, repeats, dim", [
    ((3,), 2, 0),
    ((2, 3), 3, -1),
    ((2, 1, 3), [2, 0, 1], 2),
    ((2, 3), 2, None),
    ((3, 2), np.array([1]), 0),
])
def test_repeat_interleave_gradcheck(shape, repeats, dim, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: F.repeat_interleave(x, repeats, dim), x)
    data = x.data if dim is not None else x.data.reshape(-1)
    np.testing.assert_array_equal(F.repeat_interleave(x, repeats, dim).data,
                                  np.repeat(data, repeats, 0 if dim is None else dim))


@pytest.mark.parametrize("shape, dim, descending", [
    ((5,), 0, False), ((3, 4), 0, True), ((2, 1, 3), -1, False), ((2, 3, 1), 1, True),
])
def test_sort_gradcheck(shape, dim, descending, rng):
    assert gradcheck(lambda x: F.sort(x, dim, descending).values, _x(rng, shape))


@pytest.mark.parametrize("shape, k, dim, largest", [
    ((5,), 2, 0, True), ((3, 4), 4, 1, False), ((2, 1, 3), 1, -1, True), ((4, 3), 3, -2, True),
])
def test_topk_gradcheck(shape, k, dim, largest, rng):
    assert gradcheck(lambda x: F.topk(x, k, dim, largest).values, _x(rng, shape))


# -------------------------------------------------------------- errors
def test_gather_and_scatter_errors():
    x = Tensor(np.ones((3, 3)))
    with pytest.raises(TypeError, match=r"gather: index must hold integers, got dtype float64"):
        F.gather(x, 1, np.zeros((3, 1)))
    with pytest.raises(TypeError, match=r"gather: index must hold integers, got dtype bool"):
        F.gather(x, 1, np.zeros((3, 1), bool))
    with pytest.raises(ValueError, match=r"gather: index 3 is out of range for dim 1 of size 3"):
        F.gather(x, 1, [[0], [3], [1]])
    with pytest.raises(ValueError, match=r"gather: index -1 is out of range for dim 0"):
        F.gather(x, 0, [[-1, 0, 0]])
    with pytest.raises(ValueError, match=r"gather: index must have as many axes as x \(2\), "
                                         r"got index of shape \(2,\)"):
        F.gather(x, 1, [0, 1])
    with pytest.raises(ValueError, match=r"gather: index of shape \(4, 1\) must be no larger "
                                         r"than x \(3, 3\) on every axis but dim 1"):
        F.gather(x, 1, np.zeros((4, 1), int))
    with pytest.raises(ValueError, match=r"gather: dim 2 is out of range for a tensor with 2 "
                                         r"axes"):
        F.gather(x, 2, np.zeros((3, 1), int))
    with pytest.raises(TypeError, match=r"gather: dim must be an int, got 1.0"):
        F.gather(x, 1.0, np.zeros((3, 1), int))
    # a 0-d x (or index) counts as 1-D, as torch's
    assert F.gather(Tensor(np.float64(1.0)), 0, np.int64(0)).data == 1.0
    with pytest.raises(ValueError, match=r"gather: index 1 is out of range for dim 0 of size 1"):
        F.gather(Tensor(np.float64(1.0)), 0, np.int64(1))
    with pytest.raises(ValueError, match=r"scatter_add: index of shape \(1, 4\) must be no "
                                         r"larger than x \(3, 3\) on every axis but dim 0"):
        F.scatter_add(x, 0, [[0, 1, 2, 0]], np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"scatter_add: index of shape \(1, 3\) must be no "
                                         r"larger than src \(1, 2\) on every axis"):
        F.scatter_add(x, 0, [[0, 1, 2]], np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"scatter: index 3 is out of range for dim 0 of size 3"):
        F.scatter(x, 0, [[3, 1, 2]], np.ones((1, 3)))
    with pytest.raises(TypeError, match=r"scatter: give exactly one of src \(a tensor\) and "
                                        r"value"):
        F.scatter(x, 0, [[0]])
    with pytest.raises(TypeError, match=r"scatter: value must be a number, got '1'"):
        F.scatter(x, 0, [[0]], value="1")


def test_index_select_take_along_dim_and_repeat_interleave_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"index_select: index must be 1-D, got shape \(1, 2\)"):
        F.index_select(x, 1, [[0, 1]])
    with pytest.raises(ValueError, match=r"index_select: index 3 is out of range for dim 1 of "
                                         r"size 3"):
        x.index_select(1, [0, 3])
    with pytest.raises(TypeError, match=r"index_select: index must hold integers"):
        x.index_select(1, [0.0])
    with pytest.raises(ValueError, match=r"take_along_dim: x and indices need the same number "
                                         r"of axes, got \(2, 3\) and \(1,\)"):
        F.take_along_dim(x, [0], 1)
    # with a dim, torch 2.13 takes the indices modulo the dim's size: -4 and 5 are 2 of 3
    ramp = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(F.take_along_dim(ramp, [[-4], [5]], 1).data, [[2.0], [5.0]])
    with pytest.raises(ValueError, match=r"take_along_dim: index 6 is out of range for dim 0 "
                                         r"of size 6"):
        x.take_along_dim([6])
    with pytest.raises(ValueError, match=r"take_along_dim: x \(2, 3\) and indices \(3, 1\) "
                                         r"cannot be broadcast"):
        F.take_along_dim(x, np.zeros((3, 1), int), 1)
    with pytest.raises(ValueError, match=r"repeat_interleave: repeats must be an int or hold "
                                         r"one count per position along dim 1 \(3\), got shape "
                                         r"\(2,\)"):
        F.repeat_interleave(x, [1, 2], dim=1)
    with pytest.raises(ValueError, match=r"repeat_interleave: repeats must be >= 0, got -1"):
        x.repeat_interleave(-1, dim=1)
    with pytest.raises(TypeError, match=r"repeat_interleave: repeats must hold integers"):
        x.repeat_interleave(1.5)


def test_sort_and_topk_errors():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"topk: k \(4\) must lie in \[0, 3\], the size of dim 1"):
        F.topk(x, 4)
    with pytest.raises(ValueError, match=r"topk: k \(-1\) must lie in \[0, 2\]"):
        x.topk(-1, dim=0)
    with pytest.raises(TypeError, match=r"topk: largest must be True or False, got 1"):
        x.topk(1, largest=1)
    with pytest.raises(TypeError, match=r"topk: k must be an int, got 2.0"):
        x.topk(2.0)
    with pytest.raises(ValueError, match=r"sort: dim 2 is out of range for a tensor with 2 axes "
                                         r"\(expected -2 <= dim < 2\)"):
        x.sort(2)
    with pytest.raises(TypeError, match=r"sort: descending must be True or False, got 'yes'"):
        F.sort(x, descending="yes")
    with pytest.raises(ValueError, match=r"argsort: dim -2 is out of range for a tensor with 1"):
        F.argsort(Tensor(np.arange(3.0)), -2)


# -------------------------------------------------------------- usage
def test_topk_pooling_model_learns():
    """A sequence's label says whether the sum of the two largest values of its first feature
    is above the median: a linear map, then the mean of the top 2 positions (gradient through
    topk's values only) and a linear head must fit all 64 sequences."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10, 4))  # (batch, seq_len, features)
    top2 = np.sort(x[..., 0], axis=1)[:, -2:].sum(1)
    labels = (top2 > np.median(top2)).astype(np.int64)  # half and half
    proj = nn.Linear(4, 8, rng=rng, dtype=np.float64)
    head = nn.Linear(8, 2, rng=rng, dtype=np.float64)
    opt = optim.Adam(list(proj.parameters()) + list(head.parameters()), lr=0.05)
    losses = []
    for _ in range(60):
        h = proj(Tensor(x))  # (batch, seq_len, 8)
        pooled = F.topk(h, 2, dim=1).values.mean(axis=1)  # (batch, 8)
        loss = F.cross_entropy(head(pooled), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.6 and losses[-1] < 0.05
    assert (head(pooled).data.argmax(1) == labels).all()


def test_scatter_reduce_keyword_adds_or_multiplies_as_torch():
    # torch: ones(2, 3).scatter_(1, index, src, reduce=...), values from torch 2.13
    index = np.array([[0, 2, 0], [1, 1, 1]])
    src = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    added = dlpy.ones(2, 3).scatter_(1, index, dlpy.tensor(src), reduce="add")
    assert added.tolist() == [[5.0, 1.0, 3.0], [1.0, 16.0, 1.0]]
    assert dlpy.ones(2, 3).scatter(1, index, dlpy.tensor(src), reduce="multiply").tolist() == \
        [[3.0, 1.0, 2.0], [1.0, 120.0, 1.0]]
    assert dlpy.ones(2, 3).scatter(1, index, 2.5, reduce="add").tolist() == \
        [[6.0, 1.0, 3.5], [1.0, 8.5, 1.0]]
    x = dlpy.tensor(np.ones((2, 3)), requires_grad=True)
    s = dlpy.tensor(src.astype(np.float64), requires_grad=True)
    dlpy.scatter(x, 1, index, s, reduce="multiply").sum().backward()
    np.testing.assert_allclose(s.grad, [[3.0, 1.0, 1.0], [30.0, 24.0, 20.0]])
    with pytest.raises(ValueError, match="reduce must be 'add' or 'multiply', got 'sum'"):
        dlpy.ones(3).scatter(0, np.array([0]), 1.0, reduce="sum")


def test_low_precision_scatter_add_accumulates_in_float32():
    """float16 scatter_add (and gather's backward) add up in float32, rounded once, as torch's
    CPU kernel: 2048 + 4 * 1 is 2052; index_add and put(accumulate=True) round each add, as
    torch's (2048 + 1 rounds back to 2048 every time)."""
    x = Tensor(np.full(2, 2048.0, dtype=np.float16))
    ones, index = Tensor(np.ones(4, dtype=np.float16)), np.zeros(4, dtype=np.int64)
    assert dlpy.scatter_add(x, 0, index, ones).data.tolist() == [2052.0, 2048.0]
    assert dlpy.index_add(x, 0, Tensor(index), ones).data.tolist() == [2048.0, 2048.0]
    assert dlpy.put(x, Tensor(index), ones, accumulate=True).data.tolist() == [2048.0, 2048.0]
    w = Tensor(np.zeros(3, dtype=np.float16), requires_grad=True)
    dlpy.gather(w, 0, np.zeros(3000, dtype=np.int64)).sum().backward()
    assert w.grad.data.tolist() == [3000.0, 0.0, 0.0]
