"""embedding lookup with the scatter-add backward."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "embedding": lambda w, ids: F.embedding(ids, w),
    "embedding_1d": lambda w, ids: F.embedding(ids, w),
    # a non-zero padding row is looked up as it is and gets no gradient, as torch's
    "embedding_padding": lambda w, ids: F.embedding(ids, w, padding_idx=1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("embedding", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("embedding") == set(TORCH_CASES)


@pytest.mark.parametrize("ids_shape", [(), (1,), (4,), (2, 3), (2, 1, 3)])
def test_gradcheck(ids_shape, rng):
    ids = rng.integers(0, 3, ids_shape)
    weight = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda w: F.embedding(ids, w), weight)


def test_repeated_ids_accumulate():
    weight = Tensor(np.zeros((3, 2)), requires_grad=True)
    F.embedding(np.array([[1, 1], [1, 2]]), weight).sum().backward()
    np.testing.assert_array_equal(weight.grad, [[0, 0], [3, 3], [1, 1]])


@pytest.mark.parametrize("rows, repeats", [(70_000, 3), (50, 100), (50, 3), (70_000, 100)])
def test_dense_gradient_matches_add_at(rows, repeats, rng):
    # tables past 16-bit ids (two radix passes) and runs past the level loop (sum_runs)
    ids = np.concatenate([rng.integers(0, rows, 200), np.full(repeats, 7)])
    rng.shuffle(ids)
    weight = Tensor(np.zeros((rows, 3), dtype=np.float32), requires_grad=True)
    grad_output = rng.standard_normal((ids.size, 3)).astype(np.float32)
    F.embedding(ids, weight).backward(grad_output)
    expected = np.zeros((rows, 3), dtype=np.float32)
    np.add.at(expected, ids, grad_output)
    assert weight.grad.dtype == np.float32
    np.testing.assert_allclose(weight.grad, expected, rtol=1e-6, atol=1e-6)


def test_errors():
    weight = Tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"embedding: ids must lie in \[0, 3\), got values from "
                                         r"-1 to 3"):
        F.embedding([-1, 3], weight)
    with pytest.raises(TypeError, match=r"embedding: ids must be integers, got float64"):
        F.embedding([0.5], weight)
    with pytest.raises(ValueError, match=r"embedding: weight must be \(num_embeddings, dim\), "
                                         r"got \(3,\)"):
        F.embedding([0], Tensor(np.ones(3)))


def test_padding_row_gets_no_gradient_dense_or_sparse_and_bad_padding_idx():
    weight = Tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    ids = np.array([3, 0, 3, 1])
    out = F.embedding(ids, weight, padding_idx=-1)  # row 3
    np.testing.assert_array_equal(out.data[0], [6.0, 7.0])  # looked up as it is
    F.sum(out).backward()
    np.testing.assert_array_equal(weight.grad, [[1, 1], [1, 1], [0, 0], [0, 0]])
    weight.grad = None
    F.sum(F.embedding(ids, weight, padding_idx=3, sparse=True)).backward()
    np.testing.assert_array_equal(weight.grad.to_dense(), [[1, 1], [1, 1], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"padding_idx must be an integer in \[-4, 4\), got 4"):
        F.embedding(ids, weight, padding_idx=4)
