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
    assert untouched.size and np.all(weight.grad[untouched] == 0)
    assert np.all(out.data[1] == 0)  # the empty row


def test_float32_and_an_all_empty_batch(rng):
    rows = F.SparseRows.from_rows([(np.zeros(0, int), np.zeros(0))] * 2, 4)
    weight = Tensor(np.ones((4, 2), np.float32), requires_grad=True)
    out = F.sparse_linear(rows, weight)
    out.sum().backward()
    assert out.dtype == np.float32 and np.all(out.data == 0) and np.all(weight.grad == 0)


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
