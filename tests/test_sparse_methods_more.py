"""More methods and functions of COO sparse tensors (dlpy/sparse_tensor.py): the add of
uncoalesced operands (torch's merge), hspmm / smm / sspaddmm / dsmm, spdiags, unsqueeze, the
in-place methods and resizes, type conversions, checked against dense formulas on random
inputs (the torch-recorded cases are the area sparse_methods_more)."""

import numpy as np
import pytest

import dlpy
import dlpy.sparse


def _random_coo(rng, shape, nnz, coalesced=False):
    indices = np.stack([rng.integers(0, n, nnz) for n in shape])
    s = dlpy.sparse_coo_tensor(indices, rng.standard_normal(nnz), shape, dtype=dlpy.float64)
    return s.coalesce() if coalesced else s


@pytest.mark.parametrize("seed", range(5))
def test_add_of_uncoalesced_is_the_dense_sum(seed):
    rng = np.random.default_rng(seed)
    a = _random_coo(rng, (4, 5), 9)
    b = _random_coo(rng, (4, 5), 7, coalesced=seed % 2 == 0)
    out = a.add(b, alpha=2)
    np.testing.assert_allclose(out.to_dense().numpy(), (a.to_dense() + 2 * b.to_dense()).numpy())
    assert not out.is_coalesced()
    assert out._nnz() <= a._nnz() + b._nnz()
    np.testing.assert_allclose(out.coalesce().to_dense().numpy(), out.to_dense().numpy())


def test_add_merge_gradients_reach_both_operands():
    rng = np.random.default_rng(0)
    a = _random_coo(rng, (3, 3), 5).requires_grad_()
    b = _random_coo(rng, (3, 3), 4).requires_grad_()
    weight = dlpy.tensor(rng.standard_normal((3, 3)))
    (a.sub(b).to_dense() * weight).sum().backward()
    grad_a = a._values().grad.numpy()
    grad_b = b._values().grad.numpy()
    rows_a, cols_a = a._indices().numpy()
    rows_b, cols_b = b._indices().numpy()
    np.testing.assert_allclose(grad_a, weight.numpy()[rows_a, cols_a])
    np.testing.assert_allclose(grad_b, -weight.numpy()[rows_b, cols_b])


@pytest.mark.parametrize("seed", range(3))
def test_products_match_the_dense_product(seed):
    rng = np.random.default_rng(seed)
    s = _random_coo(rng, (5, 4), 6)
    d = dlpy.tensor(rng.standard_normal((4, 3)))
    product = s.to_dense().numpy() @ d.numpy()
    for out in (dlpy.hspmm(s, d), dlpy.smm(s, d), dlpy.hsmm(s, d)):
        np.testing.assert_allclose(out.to_dense().numpy(), product)
    np.testing.assert_allclose(dlpy.dsmm(s, d).numpy(), product)
    h = dlpy.hspmm(s, d)
    assert (h.sparse_dim(), h.dense_dim()) == (1, 1)
    base = _random_coo(rng, (5, 3), 4)
    out = dlpy.sspaddmm(base, s, d, beta=0.5, alpha=-2)
    np.testing.assert_allclose(out.to_dense().numpy(),
                               0.5 * base.to_dense().numpy() - 2 * product)
    assert out._nnz() == base._nnz() + 3 * np.unique(s._indices().numpy()[0]).size


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 2), (4, 4)])
def test_spdiags_matches_scipy_convention(shape):
    m, n = shape
    diagonals = np.arange(1.0, 3 * 6 + 1).reshape(3, 6)
    offsets = np.array([0, 1, -2])
    out = dlpy.sparse.spdiags(dlpy.tensor(diagonals), dlpy.tensor(offsets), shape)
    want = np.zeros(shape)
    for d, k in enumerate(offsets):  # element (j - k, j) is diagonals[d, j]
        for j in range(n):
            if 0 <= j - k < m and j < diagonals.shape[1]:
                want[j - k, j] = diagonals[d, j]
    np.testing.assert_allclose(out.to_dense().numpy(), want)
    csr = dlpy.sparse.spdiags(dlpy.tensor(diagonals), dlpy.tensor(offsets), shape,
                              layout=dlpy.sparse_csr)
    np.testing.assert_allclose(csr.to_dense().numpy(), want)


def test_unsqueeze_round_trips_through_sum():
    rng = np.random.default_rng(1)
    s = _random_coo(rng, (3, 4), 6, coalesced=True)
    for dim in range(3):
        u = s.unsqueeze(dim)
        assert u.shape[dim] == 1
        np.testing.assert_allclose(u.to_dense().numpy(), np.expand_dims(s.to_dense().numpy(), dim))
        np.testing.assert_allclose(dlpy.sparse.sum(u, dim).to_dense().numpy(),
                                   s.to_dense().numpy())


def test_in_place_methods_change_self():
    rng = np.random.default_rng(2)
    s = _random_coo(rng, (3, 4), 5, coalesced=True)
    dense = s.to_dense().numpy()
    assert s.sin_() is s and s.mul_(2) is s and s.neg_() is s
    np.testing.assert_allclose(s.to_dense().numpy(), -2 * np.sin(dense))
    assert not s.is_coalesced()  # torch's scalar mul_ clears the flag
    assert s.t_() is s and s.shape == (4, 3)
    t = _random_coo(rng, (2, 2), 3)
    with pytest.raises(RuntimeError, match="requires coalesced input"):
        t.abs_()
    assert s.zero_() is s and s._nnz() == 0 and s.is_coalesced()


def test_resize_and_copy_round_trip():
    rng = np.random.default_rng(3)
    s = _random_coo(rng, (2, 3), 4)
    dense = s.to_dense().numpy()
    s.sparse_resize_((5, 6), 2, 0)
    np.testing.assert_allclose(s.to_dense().numpy()[:2, :3], dense)
    assert np.all(s.to_dense().numpy()[2:] == 0)
    with pytest.raises(RuntimeError, match="shrinking"):
        s.sparse_resize_((1, 6), 2, 0)
    target = dlpy.sparse_coo_tensor(np.zeros((1, 0), np.int64), np.zeros(0), (1,)).double()
    target.sparse_resize_and_clear_((5, 6), 2, 0)
    target.copy_(s)
    np.testing.assert_allclose(target.to_dense().numpy(), s.to_dense().numpy())
    target.sparse_resize_and_clear_((2, 2, 3), 1, 2)
    assert (target.sparse_dim(), target.dense_dim(), target._nnz()) == (1, 2, 0)


def test_type_conversions_keep_the_pattern():
    s = dlpy.sparse_coo_tensor([[0, 1, 0]], [1.5, -2.0, 3.0], (3,), dtype=dlpy.float64)
    for convert, dtype in ((s.bfloat16, "bfloat16"), (s.short, "int16"), (s.byte, "uint8"),
                           (s.char, "int8")):
        out = convert()
        assert np.dtype(out.dtype).name == dtype
        assert out._nnz() == 3 and not out.is_coalesced()
    assert s.type().endswith(".sparse.DoubleTensor")
    assert s.type("torch.sparse.FloatTensor").dtype == dlpy.float32
    assert s.type(dlpy.float64) is s
