"""sparse_linear (an embedding bag with per-entry weights): gradcheck, dense equivalence."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck


def _random_rows(rng, num_rows, num_columns, max_entries, dtype=np.float64):
    rows = []
    for b in range(num_rows):
        n = 0 if b == 1 else int(rng.integers(1, max_entries + 1))  # row 1 is empty
        rows.append((rng.integers(0, num_columns, n), rng.standard_normal(n).astype(dtype)))
    return F.SparseRows.from_rows(rows, num_columns, dtype=dtype)


@pytest.mark.parametrize("shape", [(4, 7, 3, 1), (5, 11, 6, 4), (1, 3, 5, 2), (3, 1, 4, 2)])
def test_gradcheck(shape, rng):
    num_rows, num_columns, max_entries, k = shape
    rows = _random_rows(rng, num_rows, num_columns, max_entries)
    weight = Tensor(rng.standard_normal((num_columns, k)), requires_grad=True)
    assert gradcheck(lambda w: F.sparse_linear(rows, w), weight)


def test_equals_the_dense_matmul_value_and_gradient(rng):
    rows = _random_rows(rng, 6, 50, 20)  # repeated indices within a row are summed
    dense = rows.to_dense()
    weight = Tensor(rng.standard_normal((50, 3)), requires_grad=True)
    out = F.sparse_linear(rows, weight)
    grad_output = rng.standard_normal(out.shape)
    out.backward(grad_output)
    np.testing.assert_allclose(out.data, dense @ weight.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weight.grad, dense.T @ grad_output, rtol=1e-12, atol=1e-12)
    untouched = np.setdiff1d(np.arange(50), rows.indices)
    assert untouched.size and np.all(weight.grad.numpy()[untouched] == 0)
    assert np.all(out.data[1] == 0)  # the empty row


def test_float32_and_an_all_empty_batch(rng):
    rows = F.SparseRows.from_rows([(np.zeros(0, int), np.zeros(0))] * 2, 4)
    weight = Tensor(np.ones((4, 2), np.float32), requires_grad=True)
    out = F.sparse_linear(rows, weight)
    out.sum().backward()
    assert out.dtype == np.float32 and np.all(out.data == 0) and np.all(weight.grad.numpy() == 0)


def test_errors():
    with pytest.raises(ValueError, match=r"SparseRows: indices must lie in \[0, 3\), got values "
                                         r"from 0 to 3"):
        F.SparseRows.from_rows([(np.array([0, 3]), np.ones(2))], 3)
    with pytest.raises(ValueError, match=r"SparseRows: 1 values for 2 indices"):
        F.SparseRows([0, 2], [0, 1], [1.0], 3)
    rows = F.SparseRows.from_rows([(np.array([0]), np.ones(1))], 3)
    with pytest.raises(ValueError, match=r"sparse_linear: expected weight \(3, K\), got \(4, 2\)"):
        F.sparse_linear(rows, Tensor(np.ones((4, 2))))
    with pytest.raises(TypeError, match=r"sparse_linear: rows must be SparseRows, got ndarray"):
        F.sparse_linear(np.ones((2, 3)), Tensor(np.ones((3, 2))))


def test_many_columns_use_sorted_segments_and_agree_with_dense(rng):
    rows = _random_rows(rng, 5, 30, 25)
    weight = Tensor(rng.standard_normal((30, 20)), requires_grad=True)  # K > 16
    out = F.sparse_linear(rows, weight)
    grad_output = rng.standard_normal(out.shape)
    out.backward(grad_output)
    np.testing.assert_allclose(weight.grad, rows.to_dense().T @ grad_output, atol=1e-12)
    assert gradcheck(lambda w: F.sparse_linear(rows, w), Tensor(weight.data, requires_grad=True))


def test_sum_runs_and_add_rows_agree_with_loops(rng):
    """Runs summed level by level (and past MAX_LEVELS by reduceat), rows taken directly or
    through ``at``; add_rows with repeated ids (one repeated past MAX_LEVELS) as np.add.at."""
    from dlpy.ops.sparse import MAX_LEVELS, add_rows, sum_runs

    lengths = np.array([0, 1, 3, 0, MAX_LEVELS + 6, 2, 2 * MAX_LEVELS + 2, 0])
    x = rng.standard_normal((lengths.sum(), 5))
    starts = np.cumsum(lengths) - lengths
    expected = np.array([x[s:s + n].sum(axis=0) for s, n in zip(starts, lengths)])
    np.testing.assert_allclose(sum_runs(x, lengths), expected, rtol=1e-13, atol=1e-13)
    at = rng.permutation(x.shape[0])
    np.testing.assert_allclose(sum_runs(x, lengths, at),
                               np.array([x[at[s:s + n]].sum(axis=0)
                                         for s, n in zip(starts, lengths)]),
                               rtol=1e-13, atol=1e-13)
    assert sum_runs(x[:0], np.zeros(3, dtype=np.int64)).shape == (3, 5)
    ids = np.concatenate([rng.integers(0, 40, 300), np.full(MAX_LEVELS + 30, 7)])
    rows = rng.standard_normal((ids.size, 5))
    expected = np.zeros((40, 5))
    np.add.at(expected, ids, rows)
    np.testing.assert_allclose(add_rows(np.zeros((40, 5)), ids, rows), expected, rtol=1e-13,
                               atol=1e-13)


@pytest.mark.parametrize("num_rows", [1, 300, 1 << 16, (1 << 16) + 1, 1_761_418, 1 << 33])
def test_stable_order_is_a_stable_argsort(num_rows, rng):
    # one 16-bit radix pass up to 65,536 rows, two below 2^32 (ids either side of 2^16 and a
    # 16-bit boundary), numpy's own sort past that; repeats keep their order
    from dlpy.ops.sparse import sorted_runs, stable_order

    ids = rng.integers(0, num_rows, 5000)
    ids[:40] = num_rows - 1
    ids[40:80] = min(num_rows - 1, 65535)
    ids[80:120] = min(num_rows - 1, 65536)
    expected = np.argsort(ids, kind="stable")
    np.testing.assert_array_equal(stable_order(ids, num_rows), expected)
    order, sorted_ids, starts, lengths = sorted_runs(ids, num_rows)
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(sorted_ids, ids[expected])
    np.testing.assert_array_equal(sorted_ids[starts], np.unique(ids))
    np.testing.assert_array_equal(lengths, np.unique(ids, return_counts=True)[1])


@pytest.mark.parametrize("k", [3, 20])
def test_values_as_a_tensor_get_their_gradient(k, rng):
    rows = _random_rows(rng, 4, 9, 6)
    weight = Tensor(rng.standard_normal((9, k)), requires_grad=True)
    values = Tensor(rows.values.copy(), requires_grad=True)
    assert gradcheck(lambda w, v: F.sparse_linear(rows, w, values=v), weight, values)
    np.testing.assert_allclose(F.sparse_linear(rows, weight, values=values).data,
                               F.sparse_linear(rows, weight).data, rtol=1e-14)
    weight.requires_grad = False  # only the values' gradient
    F.sparse_linear(rows, weight, values=values).sum().backward()
    assert weight.grad is None and values.grad.shape == values.shape
    with pytest.raises(ValueError, match=r"sparse_linear: values must have one value per "
                                         r"entry \(\d+,\), got \(2,\)"):
        F.sparse_linear(rows, weight, values=Tensor(np.ones(2)))


def test_sum_runs_scales_the_rows(rng):
    from dlpy.ops.sparse import sum_runs

    lengths = np.array([2, 0, 3])
    x, at, scale = rng.standard_normal((6, 4)), np.array([5, 0, 0, 2, 1]), rng.random(5)
    expected = [scale[0] * x[5] + scale[1] * x[0], np.zeros(4),
                scale[2] * x[0] + scale[3] * x[2] + scale[4] * x[1]]
    np.testing.assert_allclose(sum_runs(x, lengths, at, scale), expected, rtol=1e-14)
