"""Round trips of hybrid (dense trailing dims) and batched compressed sparse tensors, and
gradients through their conversions (dlpy/sparse_tensor.py)."""

import numpy as np
import pytest

import dlpy


def _hybrid():
    h = np.zeros((3, 4, 2))
    h[0, 1], h[1, 0], h[2, 3] = [1.0, -1.5], [2.0, 0.0], [0.0, 5.0]
    return dlpy.tensor(h)


def _batched():
    return dlpy.tensor(np.array([[[1., 0, 2, 0], [0, 0, 3, 4], [0, 0, 0, 0]],
                                 [[0, 5, 6, 0], [0, 0, 0, 0], [7, 0, 0, -8]]]))


@pytest.mark.parametrize("convert", [
    lambda x: x.to_sparse_csr(dense_dim=1), lambda x: x.to_sparse_csc(dense_dim=1),
    lambda x: x.to_sparse_bsr((1, 2), dense_dim=1), lambda x: x.to_sparse_bsc((3, 1), dense_dim=1),
])
def test_hybrid_round_trips(convert):
    x = _hybrid()
    s = convert(x)
    assert (s.sparse_dim(), s.dense_dim()) == (2, 1)
    for other in (s, s.to_sparse_coo(), s.to_sparse_coo().to_sparse_csr()):
        np.testing.assert_array_equal(other.to_dense().numpy(), x.numpy())


@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_batched_round_trips_and_index_dtypes(layout):
    x = _batched()
    s = getattr(x, f"to_sparse_{layout}")()
    assert s.values().shape == (2, 4) and s.dense_dim() == 0
    other = s.to_sparse_csc() if layout == "csr" else s.to_sparse_csr()
    np.testing.assert_array_equal(other.to_dense().numpy(), x.numpy())
    np.testing.assert_array_equal(s.to_sparse_coo().to_dense().numpy(), x.numpy())
    compressed = s.crow_indices() if layout == "csr" else s.ccol_indices()
    plain = s.col_indices() if layout == "csr" else s.row_indices()
    c32 = dlpy.sparse_compressed_tensor(compressed.int(), plain.int(), s.values(),
                                        layout=s.layout)
    assert c32.to_sparse_csc().ccol_indices().dtype == np.int32
    np.testing.assert_array_equal(c32.to_dense().numpy(), x.numpy())


def test_batched_blocks_and_unequal_batches():
    x = _batched()[:, :2]
    s = x.to_sparse_bsr((2, 2))
    assert s.values().shape == (2, 2, 2, 2)  # two blocks per batch
    np.testing.assert_array_equal(s.to_dense().numpy(), x.numpy())
    with pytest.raises(RuntimeError):
        _batched().to_sparse_bsr((1, 2))  # 2 and 3 blocks per batch


def test_gradient_reaches_dense_through_hybrid_csr():
    x = _hybrid().requires_grad_()
    (x.to_sparse_csr(dense_dim=1).to_sparse_csc().to_dense() * 3).sum().backward()
    expected = np.where(np.abs(_hybrid().numpy()).sum(-1, keepdims=True) > 0, 3.0, 0.0)
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(expected, (3, 4, 2)))


def test_csr_sum_keepdim():
    m = dlpy.tensor(np.array([[1., 0, 2], [0, 0, 0], [3, 4, 0]]))
    s = m.to_sparse_csr()
    rows = s.sum(1, keepdim=True)
    assert rows.layout is dlpy.sparse_csr and rows.shape == (3, 1)
    np.testing.assert_array_equal(rows.to_dense().numpy(), [[3.], [0.], [7.]])
    np.testing.assert_array_equal(s.sum(0, keepdim=True).to_dense().numpy(), [[4., 4., 2.]])
    np.testing.assert_array_equal(s.sum((0, 1), keepdim=True).to_dense().numpy(), [[10.]])
