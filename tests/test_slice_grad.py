"""Slice gradients (dlpy.slice_grad): x[index] with a basic index hands back its gradient as the
slice, and the engine adds the slices a tensor gets into one array of its own. Sums against the
dense reference, every way a slice gradient meets another gradient, the arrays users and ops hold
never written to, nothing but dense arrays ever seen outside the engine, and O(slice) a step."""

import tracemalloc

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.slice_grad import SliceGrad
from dlpy.testing import gradcheck


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def leaf(rng, *shape, dtype=np.float64):
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


def weighted_rows(x, w):
    """sum over t of x[t] * w[t]: the per-step loop of an RNN."""
    total = None
    for t in range(x.shape[0]):
        term = (x[t] * Tensor(w[t])).sum()
        total = term if total is None else total + term
    return total


# ----------------------------------------------------------------------- values
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_loop_over_rows_sums_to_the_dense_gradient(rng, dtype):
    x = leaf(rng, 50, 7, dtype=dtype)
    w = rng.standard_normal((50, 7)).astype(dtype)
    weighted_rows(x, w).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad, w)


def test_gradcheck_of_many_slices(rng):
    def fn(x):
        return F.stack([x[t] * (t + 1.0) for t in range(x.shape[0])] + [x[1:3].sum(0)]
                       + [x[::-1][0], x[..., 1:2].sum(-1)])

    assert gradcheck(fn, leaf(rng, 3, 3))


@pytest.mark.parametrize("index", [
    2, -1, (1, 2), slice(None, None, -1), slice(4, 0, -2), (Ellipsis, 1), (None, slice(1, 3)),
    (slice(None), None, 0), (), Ellipsis,
])
def test_one_basic_index_against_dense(index, rng):
    x = leaf(rng, 5, 3)
    y = x[index]
    g = rng.standard_normal(y.shape)
    y.backward(g)
    expected = np.zeros(x.shape)
    expected[index] = g
    np.testing.assert_array_equal(x.grad, expected)
    assert gradcheck(lambda x: x[index], leaf(rng, 5, 3))


def test_slices_of_a_tensor_with_no_axes(rng):
    x = leaf(rng)
    (x[None] * 2.0 + x[...] * 3.0 + x * 4.0).sum().backward()
    assert type(x.grad.data) is np.ndarray and x.grad.shape == ()
    np.testing.assert_allclose(x.grad, 9.0)


@pytest.mark.parametrize("dense_first", [True, False])
def test_slices_and_a_dense_use_of_the_same_tensor(rng, dense_first):
    x = leaf(rng, 6, 4)
    h = x * 1.0  # an intermediate, so its gradient is summed by the engine before Mul's backward
    w = rng.standard_normal((6, 4))
    dense = (h * Tensor(w)).sum()
    slices = weighted_rows(h, w) + h[0].sum() * 3.0 + h[2, 1] * 5.0
    (dense + slices if dense_first else slices + dense).backward()
    expected = 2 * w
    expected[0] += 3.0
    expected[2, 1] += 5.0
    np.testing.assert_allclose(x.grad, expected, rtol=1e-15, atol=0)
    y = leaf(rng, 6, 4)
    (y[0].sum() + y.sum() + y[1:3].sum()).backward()
    np.testing.assert_array_equal(y.grad, 1.0 + (np.arange(6) < 3)[:, None] * np.ones(4))


def test_overlapping_slices_and_a_slice_of_a_slice(rng):
    x = leaf(rng, 8, 3)
    g = [rng.standard_normal(s) for s in [(3, 3), (4, 3), (3,), (2, 3), ()]]
    pieces = [x[0:3], x[1:5], x[2], x[1:7][::-2][1:], x[2:6][1][2]]
    dlpy.autograd.backward(pieces, g)
    expected = np.zeros((8, 3))
    expected[0:3] += g[0]
    expected[1:5] += g[1]
    expected[2] += g[2]
    expected[1:7][::-2][1:] += g[3]
    expected[2:6][1][2] += g[4]
    np.testing.assert_allclose(x.grad, expected, rtol=1e-15, atol=0)


def test_split_chunk_unbind_sum_to_the_dense_gradient(rng):
    x = leaf(rng, 6, 4)
    h = x * 2.0
    loss = (sum((p * (k + 1.0)).sum() for k, p in enumerate(F.split(h, [1, 3, 2])))
            + sum(p.sum() for p in F.chunk(h, 3, dim=1)) + F.unbind(h, 1)[3].sum())
    loss.backward()
    expected = np.ones((6, 4)) * np.r_[1.0, 2, 2, 2, 3, 3][:, None] + 1.0
    expected[:, 3] += 1.0
    np.testing.assert_allclose(x.grad, 2 * expected)


def test_a_sparse_and_a_slice_gradient_of_one_leaf(rng):
    w = leaf(rng, 5, 3)
    ids = np.array([0, 3, 3])
    (F.embedding(ids, w, sparse=True).sum() + w[3].sum() * 2.0 + w[1:3].sum()).backward()
    expected = np.zeros((5, 3))
    expected[0], expected[3] = 1.0, 2.0 + 2.0
    expected[1:3] = 1.0
    assert type(w.grad.data) is np.ndarray
    np.testing.assert_array_equal(w.grad, expected)


# ------------------------------------------------------- arrays the engine must not write
def test_slices_of_an_identity_never_write_the_array_it_passes_on(rng):
    x = leaf(rng, 4, 3)
    h = x * 1.0
    y = F.identity(h)  # its backward returns grad_output itself
    user = rng.standard_normal((4, 3))
    kept = user.copy()
    dlpy.autograd.backward([y, h[0], h[1:3], h[2]], [user, np.ones(3), np.ones((2, 3)),
                                                     np.ones(3)])
    np.testing.assert_array_equal(user, kept)
    expected = kept.copy()
    expected[0] += 1.0
    expected[1:3] += 1.0
    expected[2] += 1.0
    np.testing.assert_array_equal(x.grad, expected)


def test_slices_of_a_reshape_never_write_the_view_it_passes_on(rng):
    x = leaf(rng, 12)
    h = x * 1.0
    r = h.reshape(3, 4)  # backward returns a view of grad_output
    seen = []
    r.register_hook(lambda g: seen.append((g.numpy(), g.numpy().copy())))
    (r.sum() + r[0].sum() + r[1, 2] + h[3] + h[5:7].sum()).backward()
    array, copy = seen[0]
    np.testing.assert_array_equal(array, copy)  # the array the hook saw was not written to
    expected = np.ones(12) + 1.0 * (np.arange(12) < 4)
    expected[6] += 1.0
    expected[3] += 1.0
    expected[5:7] += 1.0
    np.testing.assert_array_equal(x.grad, expected)


def test_a_hook_s_array_passed_on_is_never_written(rng):
    x = leaf(rng, 3, 2)
    h = x * 1.0
    z = F.identity(h)
    mine = np.full((3, 2), 7.0)
    z.register_hook(lambda g: mine)
    (z.sum() + h[0].sum() + h[1].sum()).backward()
    np.testing.assert_array_equal(mine, np.full((3, 2), 7.0))
    np.testing.assert_array_equal(x.grad, [[8.0, 8.0], [8.0, 8.0], [7.0, 7.0]])


def test_a_leaf_sliced_once_owns_a_dense_gradient(rng):
    x = leaf(rng, 4, 3)
    y = x[1:3]
    g = rng.standard_normal((2, 3))
    kept = g.copy()
    y.backward(g, retain_graph=True)
    assert type(x.grad.data) is np.ndarray and x.grad.shape == (4, 3)
    assert not np.shares_memory(x.grad, g)
    x.grad[...] = 100.0  # the user's to change: nothing else holds it
    np.testing.assert_array_equal(g, kept)
    x.grad = None
    y.backward(g)
    np.testing.assert_array_equal(x.grad[1:3], kept)
    np.testing.assert_array_equal(x.grad[[0, 3]], 0.0)


def test_a_leaf_gets_its_own_copy_of_a_hook_s_slice(rng):
    x = leaf(rng, 3, 2)
    y = x[0]
    seen = []
    y.register_hook(lambda g: seen.append(g))
    (y * 2.0).sum().backward()
    x.grad[0] = -1.0
    np.testing.assert_array_equal(seen[0], [2.0, 2.0])


def test_a_slice_gradient_accumulates_into_an_existing_grad(rng):
    x = leaf(rng, 4, 2)
    x[0].sum().backward()
    first = x.grad
    kept = first.numpy().copy()
    x[1:3].sum().backward()
    np.testing.assert_array_equal(kept, [[1, 1], [0, 0], [0, 0], [0, 0]])
    assert x.grad is first  # added in place, as torch's AccumulateGrad
    np.testing.assert_array_equal(x.grad, [[1, 1], [1, 1], [1, 1], [0, 0]])


# ----------------------------------------------------------------- seen only dense
def test_hooks_on_a_sliced_tensor_see_a_dense_array(rng):
    x = leaf(rng, 5, 2)
    h = x * 3.0
    seen = []
    h.register_hook(lambda g: seen.append(g))
    x.register_hook(lambda g: seen.append(g))
    (h[0].sum() + h[2:4].sum() + h[4, 1] + x[1].sum()).backward()
    assert [type(g) for g in seen] == [Tensor, Tensor]  # dense Tensors, as torch's hooks get
    assert [g.shape for g in seen] == [(5, 2), (5, 2)]
    np.testing.assert_array_equal(seen[0], [[1, 1], [0, 0], [1, 1], [1, 1], [0, 1]])


def test_a_hook_on_a_tensor_sliced_once_sees_a_dense_array(rng):
    x = leaf(rng, 5, 2)
    seen = []
    x.register_hook(lambda g: seen.append(g))
    x[3].sum().backward()
    assert type(seen[0].data) is np.ndarray and seen[0].shape == (5, 2)


def test_ops_never_receive_a_slice_gradient(rng, monkeypatch):
    received = []
    from dlpy.ops import arithmetic

    original = arithmetic.Mul.backward

    def spy(self, grad_output):
        received.append(type(grad_output))
        return original(self, grad_output)

    monkeypatch.setattr(arithmetic.Mul, "backward", spy)
    x = leaf(rng, 4, 3)
    h = x * 2.0
    (h[0].sum() + h[1:].sum()).backward()
    h2 = x * 2.0
    h2[2].sum().backward()
    assert received == [np.ndarray, np.ndarray]


def test_autograd_grad_captures_a_sliced_tensor(rng):
    x = leaf(rng, 6, 3)
    h = x * 2.0
    w = rng.standard_normal((6, 3))
    loss = weighted_rows(h, w) + h[1:4].sum()
    gh, gx = dlpy.autograd.grad(loss, [h, x], retain_graph=True)
    expected = w.copy()
    expected[1:4] += 1.0
    assert type(gh.data) is np.ndarray
    np.testing.assert_allclose(gh.data, expected)
    np.testing.assert_allclose(gx.data, 2 * expected)
    (gonly,) = dlpy.autograd.grad(x[2].sum(), x)
    np.testing.assert_array_equal(gonly.data, np.eye(6)[2][:, None] * np.ones(3))
    assert x.grad is None


def test_retain_graph_twice_doubles_the_gradient(rng):
    x = leaf(rng, 10, 4)
    h = x * 1.0
    w = rng.standard_normal((10, 4))
    loss = weighted_rows(h, w) + h[3].sum()
    loss.backward(retain_graph=True)
    once = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * once)
    with pytest.raises(RuntimeError, match="already freed"):
        loss.backward()


def test_anomaly_detection_through_slices(rng):
    x = leaf(rng, 4, 3)
    with pytest.warns(UserWarning), dlpy.autograd.detect_anomaly():
        weighted_rows(x * 1.0, np.ones((4, 3))).backward()
    np.testing.assert_array_equal(x.grad, np.ones((4, 3)))
    z = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with pytest.warns(UserWarning), dlpy.autograd.detect_anomaly(), \
            np.errstate(divide="ignore", invalid="ignore"), \
            pytest.raises(FloatingPointError, match="SqrtBackward0"):
        (F.sqrt(z * 1.0)[1] + F.sqrt(z * 1.0)[0]).backward()


def test_getitem_backward_gives_a_slice_only_for_a_basic_index(rng):
    from dlpy.ops.shape import GetItem

    op = GetItem((slice(1, 3), 0))
    op.forward(np.zeros((4, 2)))
    (grad,) = op.backward(np.ones(2))
    assert type(grad) is SliceGrad
    np.testing.assert_array_equal(grad.dense(), [[0, 0], [1, 0], [1, 0], [0, 0]])
    op = GetItem(np.array([1, 1]))
    op.forward(np.zeros((4, 2)))
    (grad,) = op.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(grad, [[0, 0], [2, 2], [0, 0], [0, 0]])  # repeats add up


# ----------------------------------------------------------------------- O(slice)
def test_backward_of_row_slices_allocates_one_full_array(rng, monkeypatch):
    x = leaf(rng, 400, 1000)
    w = np.ones((400, 1000))
    loss = weighted_rows(x, w)
    full = []
    zeros = np.zeros

    def counting_zeros(shape, *args, **kwargs):
        if tuple(np.atleast_1d(shape)) == (400, 1000):
            full.append(shape)
        return zeros(shape, *args, **kwargs)

    monkeypatch.setattr(np, "zeros", counting_zeros)
    tracemalloc.start()
    try:
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(full) == 1  # the one array the slices are added into (was: one a slice)
    # the leaf keeps that array: about one full-size array at the peak (was about three)
    assert peak < 1.5 * x.data.nbytes
    np.testing.assert_array_equal(x.grad, w)
