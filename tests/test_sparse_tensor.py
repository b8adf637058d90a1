"""Sparse tensors (dlpy/sparse_tensor.py) against torch.sparse (fixtures/sparse_tensor/, made by
make_sparse_tensor_fixtures.py): values and gradients of every case; central differences of
the ops w.r.t. the values and the dense operands; the parts, conversions and invariants; a
two-layer GCN that trains; the errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_sparse_tensor import CASES, build, dense_of

import dlpy
import dlpy.sparse
from dlpy.testing import assert_close, gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sparse_tensor" / "sparse_tensor.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _as_tensor(array, requires_grad):
    return dlpy.tensor(array, requires_grad=requires_grad and array.dtype.kind == "f")


@pytest.mark.parametrize("case", CASES)
def test_against_torch(ref, case):
    specs, fn = CASES[case]
    arrays = {key.split(":", 1)[1]: value for key, value in ref.items()
              if key.startswith(case + ":")}
    operands, leaves = build(dlpy, specs, arrays, _as_tensor)
    out = dense_of(fn(dlpy, *operands))
    assert isinstance(out, dlpy.Tensor)
    assert_close(out.data, arrays["out"], rtol=1e-12, atol=1e-12)
    out.backward(arrays["grad_out"])
    if "g0" not in arrays:  # torch has no backward for it: central differences below
        return
    for k, leaf in enumerate(leaves):
        grad = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
        assert_close(grad, arrays[f"g{k}"], rtol=1e-10, atol=1e-12)


def _coo(rng, shape=(5, 4), nnz=9, sparse_dim=2, positive=False):
    indices = np.stack([rng.integers(0, n, nnz) for n in shape[:sparse_dim]])
    values = rng.standard_normal((nnz,) + tuple(shape[sparse_dim:]))
    values = np.abs(values) + 0.5 if positive else values
    return indices, dlpy.tensor(values, requires_grad=True)


# name -> fn(indices, values, dense) and the dense operand's shape (None: no dense operand)
GRADCHECKS = {
    "mm": (lambda i, v, d: dlpy.sparse.mm(dlpy.sparse_coo_tensor(i, v, (5, 4)), d), (4, 3)),
    "mm_wide": (lambda i, v, d: dlpy.sparse.mm(dlpy.sparse_coo_tensor(i, v, (5, 4)), d),
                (4, 20)),
    "dense_mm": (lambda i, v, d: d @ dlpy.sparse_coo_tensor(i, v, (5, 4)), (3, 5)),
    "csr_mm": (lambda i, v, d: dlpy.sparse.mm(
        dlpy.sparse_coo_tensor(i, v, (5, 4)).to_sparse_csr(), d), (4, 2)),
    "softmax": (lambda i, v, d: dlpy.sparse.softmax(
        dlpy.sparse_coo_tensor(i, v, (5, 4)), 1).to_dense(), None),
    "log_softmax": (lambda i, v, d: dlpy.sparse.log_softmax(
        dlpy.sparse_coo_tensor(i, v, (5, 4)), 0).to_dense(), None),
    "sqrt": (lambda i, v, d: (dlpy.sparse_coo_tensor(i, v * v + 1.0, (5, 4))).sqrt().to_dense(),
             None),
    "sin_tanh": (lambda i, v, d: dlpy.sparse_coo_tensor(i, v, (5, 4)).sin().tanh().to_dense(),
                 None),
    "sum_dim": (lambda i, v, d: dlpy.sparse.sum(dlpy.sparse_coo_tensor(i, v, (5, 4)), 0)
                .to_dense(), None),
    "mul_dense": (lambda i, v, d: (dlpy.sparse_coo_tensor(i, v, (5, 4)) * d).to_dense(), (5, 4)),
    "index_select": (lambda i, v, d: dlpy.sparse_coo_tensor(i, v, (5, 4))
                     .index_select(0, [4, 0, 4]).to_dense(), None),
    "index_select_dim1": (lambda i, v, d: dlpy.sparse_coo_tensor(i, v, (5, 4))
                          .index_select(1, [3, 1]).to_dense(), None),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    fn, dense_shape = GRADCHECKS[name]
    rng = np.random.default_rng(len(name))
    indices, values = _coo(rng)
    dense = None if dense_shape is None else dlpy.tensor(rng.standard_normal(dense_shape),
                                                         requires_grad=True)
    assert gradcheck(lambda v, d: fn(indices, v, d), values, dense)


def test_gradcheck_sampled_addmm():
    rng = np.random.default_rng(3)
    base = dlpy.tensor((rng.random((5, 4)) < 0.4) * rng.standard_normal((5, 4))).to_sparse_csr()
    values = dlpy.tensor(base.values().data, requires_grad=True)
    a = dlpy.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    b = dlpy.tensor(rng.standard_normal((3, 4)), requires_grad=True)

    def fn(v, a, b):
        s = dlpy.sparse_csr_tensor(base.crow_indices(), base.col_indices(), v, (5, 4))
        return dlpy.sparse.sampled_addmm(s, a, b, beta=0.3, alpha=-1.5).to_dense()

    assert gradcheck(fn, values, a, b)


def test_hybrid_gradcheck():
    rng = np.random.default_rng(5)
    indices, values = _coo(rng, (4, 3, 2), 7, 2)
    dense = dlpy.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)

    def fn(v, d):
        s = dlpy.sparse_coo_tensor(indices, v, (4, 3, 2))
        return (dlpy.sparse.softmax(s * d, 0).to_dense() + dlpy.sparse.sum(s, 1).to_dense()
                .sum() + (s.transpose(0, 1).to_dense() ** 2).sum())

    assert gradcheck(fn, values, dense)


def test_values_gradient_sees_each_repeat_and_grad_is_coalesced():
    # two entries at (0, 1): the values each get d/d(sum); S.grad has the index once, as torch's
    s = dlpy.sparse_coo_tensor([[0, 0, 1], [1, 1, 0]], dlpy.tensor([1.0, 2.0, 3.0],
                                                                   dtype=np.float64),
                               (2, 2), requires_grad=True)
    assert s.is_leaf and s.requires_grad and not s.is_coalesced()
    d = dlpy.tensor(np.array([[1.0], [10.0]]))
    dlpy.sparse.mm(s, d).sum().backward()
    assert_close(s._values().grad,
                 np.array([10.0, 10.0, 1.0]))
    grad = s.grad
    assert grad.layout is dlpy.sparse_coo and grad.is_coalesced()
    assert grad.indices().tolist() == [[0, 1], [1, 0]]
    assert_close(grad.to_dense().data, np.array([[0.0, 10.0], [1.0, 0.0]]))
    s.grad = None
    assert s.grad is None


def test_parts_and_conversions():
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    s = dlpy.tensor(dense).to_sparse()
    assert s.layout is dlpy.sparse_coo and s.is_sparse and s.is_coalesced()
    assert (s.sparse_dim(), s.dense_dim(), s._nnz(), s.nnz) == (2, 0, 3, 3)
    assert s.indices().tolist() == [[0, 1, 1], [1, 0, 2]] and s.values().tolist() == [2, 1, 3]
    assert s.shape == (2, 3) and s.dtype == np.float64 and s.ndim == 2 and s.size(1) == 3
    c = s.to_sparse_csr()
    assert c.layout is dlpy.sparse_csr and c.is_sparse_csr and not c.is_sparse
    assert c.crow_indices().tolist() == [0, 1, 3] and c.col_indices().tolist() == [1, 0, 2]
    assert_close(c.to_dense().data, dense)
    assert_close(c.to_sparse_coo().to_dense().data, dense)
    assert c.to_sparse_coo().is_coalesced()
    assert dlpy.tensor(dense).to_sparse(layout=dlpy.sparse_csr).crow_indices().tolist() == \
        [0, 1, 3]
    assert_close(c.t().to_dense().data, dense.T)
    t = dlpy.tensor(dense)
    assert t.layout is dlpy.strided and not t.is_sparse and t.to_dense() is t
    hybrid = dlpy.tensor(np.array([[[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]))
    h = hybrid.to_sparse(1)
    assert (h.sparse_dim(), h.dense_dim(), h.nnz) == (1, 2, 1)
    assert_close(h.to_dense().data, hybrid.data)
    assert "layout=torch.sparse_coo" in repr(s) and "nnz=3" in repr(s)
    assert "crow_indices=" in repr(c)


def test_coalesce_sums_repeats_and_keeps_order():
    s = dlpy.sparse_coo_tensor([[1, 0, 1], [0, 2, 0]], [1.0, 2.0, 3.0], (2, 3))
    c = s.coalesce()
    assert c.is_coalesced() and c.coalesce() is c
    assert c.indices().tolist() == [[0, 1], [2, 0]] and c.values().tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="values: the tensor is not coalesced"):
        s.values()
    assert s._values().tolist() == [1.0, 2.0, 3.0]


def test_top_level_functions_and_operators_dispatch():
    rng = np.random.default_rng(0)
    indices, values = _coo(rng)
    s = dlpy.sparse_coo_tensor(indices, values, (5, 4))
    d = dlpy.tensor(rng.standard_normal((4, 3)))
    expected = s.to_dense().data @ d.data
    for out in (dlpy.mm(s, d), dlpy.matmul(s, d), s @ d, s.mm(d), dlpy.sparse.mm(s, d)):
        assert_close(out.data, expected)
    assert_close((d.T @ s.t()).data, expected.T)
    assert_close(dlpy.sum(s).data, np.asarray(s.to_dense().data.sum()))
    assert_close(dlpy.add(dlpy.ones(5, 4, dtype=np.float64), s).data, 1 + s.to_dense().data)
    assert_close((dlpy.ones(5, 4, dtype=np.float64) - s).data, 1 - s.to_dense().data)
    assert_close(dlpy.mul(s, 2.0).to_dense().data, 2 * s.to_dense().data)
    assert_close(dlpy.transpose(s, 0, 1).to_dense().data, s.to_dense().data.T)
    # the dense paths are untouched
    assert_close(dlpy.mm(d.T, d).data, d.data.T @ d.data)
    assert_close((d + d).data, 2 * d.data)


def test_sparse_times_sparse_is_sparse():
    a = dlpy.tensor(np.array([[1.0, 0.0], [0.0, 2.0]])).to_sparse()
    b = dlpy.tensor(np.array([[0.0, 3.0], [4.0, 0.0]])).to_sparse()
    out = dlpy.sparse.mm(a, b)
    assert out.layout is dlpy.sparse_coo
    assert_close(out.to_dense().data, np.array([[0.0, 3.0], [8.0, 0.0]]))


def test_gcn_trains_and_matches_the_dense_computation():
    # a 2-layer GCN: H = relu(A X W1), out = A H W2, A the normalised adjacency (self loops)
    rng = np.random.default_rng(0)
    n, features, hidden, classes = 30, 8, 16, 3
    edges = rng.integers(0, n, (2, 80))
    edges = np.concatenate([edges, edges[::-1], np.tile(np.arange(n), (2, 1))], axis=1)
    adjacency = dlpy.sparse_coo_tensor(edges, np.ones(edges.shape[1]), (n, n)).coalesce()
    degree = dlpy.sparse.sum(adjacency, 1).to_dense().data
    rows, cols = adjacency.indices().data
    normalised = dlpy.sparse_coo_tensor(
        adjacency.indices(), adjacency.values().data / np.sqrt(degree[rows] * degree[cols]),
        (n, n), is_coalesced=True)
    x = dlpy.tensor(rng.standard_normal((n, features)))
    labels = rng.integers(0, classes, n)
    w1 = dlpy.nn.Parameter(dlpy.tensor(rng.standard_normal((features, hidden)) * 0.3))
    w2 = dlpy.nn.Parameter(dlpy.tensor(rng.standard_normal((hidden, classes)) * 0.3))

    def forward(a):
        return a @ dlpy.relu(a @ (x @ w1)) @ w2

    # gradients equal the dense computation's
    loss = dlpy.functional.cross_entropy(forward(normalised), labels)
    loss.backward()
    sparse_grads = [w1.grad.numpy().copy(), w2.grad.numpy().copy()]
    w1.grad = w2.grad = None
    dense_loss = dlpy.functional.cross_entropy(forward(normalised.to_dense()), labels)
    dense_loss.backward()
    assert_close(loss.data, dense_loss.data, rtol=1e-12, atol=0)
    assert_close(sparse_grads[0], w1.grad, rtol=1e-10, atol=1e-12)
    assert_close(sparse_grads[1], w2.grad, rtol=1e-10, atol=1e-12)

    optimizer = dlpy.optim.Adam([w1, w2], lr=0.05)
    first = None
    for _ in range(60):
        optimizer.zero_grad()
        loss = dlpy.functional.cross_entropy(forward(normalised), labels)
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_sparse_leaf_trains_its_values():
    # a learnable sparse matrix: the values' gradient, the pattern fixed
    rng = np.random.default_rng(1)
    s = dlpy.tensor(rng.standard_normal((6, 6)) * (rng.random((6, 6)) < 0.4)).to_sparse()
    s = dlpy.sparse_coo_tensor(s.indices(), s.values().data, (6, 6), is_coalesced=True,
                               requires_grad=True)
    x = dlpy.tensor(rng.standard_normal((6, 3)))
    target = dlpy.tensor(rng.standard_normal((6, 3)))
    optimizer = dlpy.optim.SGD([s.values()], lr=0.1)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = ((dlpy.sparse.mm(s, x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert s.grad.layout is dlpy.sparse_coo and s.grad.nnz == s.nnz


def test_check_sparse_tensor_invariants():
    invariants = dlpy.sparse.check_sparse_tensor_invariants
    assert not invariants.is_enabled()
    unsorted = ([0, 2, 2], [1, 0], [1.0, 2.0])  # row 1's columns 1, 0: unsorted
    dlpy.sparse_csr_tensor(*unsorted, (2, 2))  # not checked by default, as torch
    with invariants():
        assert invariants.is_enabled()
        with pytest.raises(ValueError, match="sorted and distinct"):
            dlpy.sparse_csr_tensor(*unsorted, (2, 2))
    assert not invariants.is_enabled()
    with pytest.raises(ValueError, match="sorted and distinct"):
        dlpy.sparse_csr_tensor(*unsorted, (2, 2), check_invariants=True)

    @invariants()
    def make():
        return dlpy.sparse_csr_tensor(*unsorted, (2, 2))

    with pytest.raises(ValueError, match="sorted and distinct"):
        make()
    invariants.enable()
    try:
        assert invariants.is_enabled()
    finally:
        invariants.disable()
    with pytest.raises(ValueError, match="is_coalesced=True but"):
        dlpy.sparse_coo_tensor([[1, 0]], [1.0, 2.0], (2,), is_coalesced=True)


@pytest.mark.parametrize("call, error, match", [
    (lambda: dlpy.sparse_coo_tensor([[0, 3]], [1.0, 2.0], (3,)), ValueError,
     r"sparse_coo_tensor: indices of dim 0 must lie in \[0, 3\), got 3"),
    (lambda: dlpy.sparse_coo_tensor([[0, -1]], [1.0, 2.0], (3,)), ValueError,
     r"indices of dim 0 must lie in \[0, 3\), got -1"),
    (lambda: dlpy.sparse_coo_tensor(np.array([[0j, 1j]]), [1.0, 2.0], (3,)), TypeError,
     "sparse_coo_tensor: indices must be integers"),
    (lambda: dlpy.sparse_coo_tensor([0, 1], [1.0, 2.0], (3,)), ValueError,
     r"indices must have 2 dimensions, got shape \(2,\)"),
    (lambda: dlpy.sparse_coo_tensor([[0, 1]], [1.0, 2.0, 3.0], (3,)), ValueError,
     r"values must have one row per index \(nnz=2\)"),
    (lambda: dlpy.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3, 3)), ValueError,
     r"size \(3, 3\) does not fit 1 sparse dims"),
    (lambda: dlpy.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (-3,)), ValueError,
     "size must not be negative"),
    (lambda: dlpy.sparse_csr_tensor([0, 1, 3], [0, 1], [1.0, 2.0], (2, 2)), ValueError,
     "crow_indices must rise from 0 to nnz=2"),
    (lambda: dlpy.sparse_csr_tensor([0, 1, 2], [0, 5], [1.0, 2.0], (2, 2)), ValueError,
     r"col_indices of dim 0 must lie in \[0, 2\), got 5"),
    (lambda: dlpy.sparse_csr_tensor([0, 1, 2], [0, 1], [1.0, 2.0], (3, 2)), ValueError,
     "size must be 2-D with 2 rows"),
    (lambda: dlpy.sparse.mm(_eye(3), dlpy.ones(4, 2, dtype=np.float64)), ValueError,
     r"sparse.mm: expected \(m, k\) @ \(k, n\) or \(k,\), got \(3, 3\) @ \(4, 2\)"),
    (lambda: dlpy.sparse.mm(_eye(3), dlpy.ones(3, 2)), TypeError,
     "mm: the operands' dtypes differ"),
    (lambda: dlpy.sparse.sum(dlpy.ones(3)), TypeError, "sparse.sum: expected a sparse tensor"),
    (lambda: dlpy.sparse.softmax(_eye(3), 2), ValueError, "dim 2 is out of range"),
    (lambda: dlpy.sparse.sampled_addmm(_eye(3), dlpy.ones(3, 2), dlpy.ones(2, 3)), TypeError,
     "sampled_addmm: input must be a sparse_csr tensor"),
    (lambda: _eye(3).index_select(0, [3]), ValueError,
     r"index_select: index of dim 0 must lie in \[0, 3\), got 3"),
    (lambda: dlpy.exp(_eye(3)), TypeError, "expected a dense tensor, got a sparse"),
    (lambda: _eye(3) * dlpy.ones(2, 2), ValueError, r"mul: dense \(2, 2\) and sparse \(3, 3\)"),
    (lambda: _eye(3) / dlpy.ones(3, 3), TypeError, "div: a sparse tensor can be divided by a "
     "number"),
    (lambda: _eye(3).crow_indices(), ValueError,
     "crow_indices: expected a sparse_csr or sparse_bsr tensor"),
    (lambda: _eye(3).to_sparse_csr().is_coalesced(), ValueError, "is_coalesced: expected a "
     "sparse_coo"),
    (lambda: _eye(3).pow(0), ValueError, "pow: cannot raise to zeroth power"),
    (lambda: dlpy.ones(2, 3).to_sparse(3), ValueError, r"sparse_dim must be an int in \[1, 2\]"),
    (lambda: _hybrid().transpose(0, 2), ValueError, "cannot swap a sparse dim and a dense dim"),
    (lambda: dlpy.sparse.mm(_hybrid(), dlpy.ones(3, 2)), ValueError,
     "must be a 2-D matrix with no dense dims"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _eye(n):
    return dlpy.tensor(np.eye(n)).to_sparse()


def _hybrid():
    return dlpy.tensor(np.ones((2, 3, 2), dtype=np.float32)).to_sparse(2)


def test_sparse_grad_converts_to_coo():
    weight = dlpy.nn.Embedding(6, 3, sparse=True)
    weight(dlpy.tensor(np.array([4, 1, 4]))).sum().backward()
    coo = weight.weight.grad.to_sparse_coo()
    assert coo.layout is dlpy.sparse_coo and (coo.sparse_dim(), coo.dense_dim()) == (1, 1)
    assert_close(coo.to_dense().data, weight.weight.grad.to_dense())


def test_no_entries():
    s = dlpy.sparse_coo_tensor(np.zeros((2, 0), np.int64), dlpy.tensor(np.zeros(0)), (3, 4),
                               requires_grad=True)
    d = dlpy.tensor(np.ones((4, 2)), requires_grad=True)
    dlpy.sparse.mm(s, d).sum().backward()
    assert_close(d.grad, np.zeros((4, 2)))
    assert s.grad.nnz == 0 and s.coalesce().is_coalesced() and (s * s).nnz == (s + s).nnz == 0
    assert s.to_sparse_csr().crow_indices().tolist() == [0, 0, 0, 0]
    assert dlpy.sparse.sum(s).item() == 0 and dlpy.sparse.softmax(s, 1).nnz == 0
    assert dlpy.sparse_coo_tensor([[0, 2]], [1.0, 2.0]).shape == (3,)


def _uneven(rng, lengths, num_columns):
    """COO indices (2, nnz) with lengths[r] sorted distinct columns in row r."""
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.concatenate([np.sort(rng.choice(num_columns, n, replace=False)) for n in lengths])
    return np.stack([rows, cols])


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_mm_of_wide_rows_of_uneven_length(layout):
    # more than 16 dense columns: the product and the values' gradient go level by level,
    # the longest rows first (ops/sparse.py sum_runs, run_dots): empty rows, short ones and
    # one past MAX_LEVELS, against the dense computation
    from dlpy.ops.sparse import MAX_LEVELS

    rng = np.random.default_rng(11)
    lengths, k, n = [0, 3, MAX_LEVELS + 6, 1, 0, 12, 5], 90, 20
    indices = _uneven(rng, lengths, k)
    values, dense = rng.standard_normal(indices.shape[1]), rng.standard_normal((k, n))
    matrix = np.zeros((len(lengths), k))
    matrix[tuple(indices)] = values
    g = rng.standard_normal((len(lengths), n))
    v, d = dlpy.tensor(values, requires_grad=True), dlpy.tensor(dense, requires_grad=True)
    s = dlpy.sparse_coo_tensor(indices, v, matrix.shape)
    out = dlpy.sparse.mm(s.to_sparse_csr() if layout == "csr" else s, d)
    np.testing.assert_allclose(out.data, matrix @ dense, rtol=1e-12, atol=1e-12)
    (out * dlpy.tensor(g)).sum().backward()
    np.testing.assert_allclose(v.grad, (g @ dense.T)[tuple(indices)], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.grad, matrix.T @ g, rtol=1e-12, atol=1e-12)


def test_gradcheck_mm_of_wide_rows_of_uneven_length():
    rng = np.random.default_rng(12)
    indices = _uneven(rng, [0, 2, 9, 1, 4], 12)
    values = dlpy.tensor(rng.standard_normal(indices.shape[1]), requires_grad=True)
    dense = dlpy.tensor(rng.standard_normal((12, 17)), requires_grad=True)
    assert gradcheck(lambda v, d: dlpy.sparse.mm(
        dlpy.sparse_coo_tensor(indices, v, (5, 12)).to_sparse_csr(), d), values, dense)


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin", "max", "min"])
def test_mm_reduce(reduce):
    """torch.sparse.mm(csr, dense, reduce): each row's stored products mat1[i, k] * mat2[k]
    reduced (an empty row gives 0); gradients of the values and the dense operand."""
    rng = np.random.default_rng(21)
    indices = _uneven(rng, [2, 0, 3, 1], 5)
    values = dlpy.tensor(rng.standard_normal(indices.shape[1]), requires_grad=True)
    dense = dlpy.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    s = dlpy.sparse_coo_tensor(indices, values, (4, 5)).to_sparse_csr()
    out = dlpy.sparse.mm(s, dense, reduce)
    fn = {"sum": np.sum, "mean": np.mean, "amax": np.max, "max": np.max, "amin": np.min,
          "min": np.min}[reduce]
    expected = np.zeros((4, 3))
    for i in range(4):
        k = indices[1][indices[0] == i]
        if len(k):
            expected[i] = fn(values.data[indices[0] == i][:, None] * dense.data[k], axis=0)
    assert_close(out.data, expected)
    assert gradcheck(lambda v, d: dlpy.sparse.mm(
        dlpy.sparse_coo_tensor(indices, v, (4, 5)).to_sparse_csr(), d, reduce), values, dense)


def test_mm_reduce_refusals():
    s = dlpy.tensor([[1.0, 0.0], [0.0, 2.0]]).to_sparse_csr()
    d = dlpy.ones(2, 2)
    with pytest.raises(RuntimeError, match="prod has not been enabled"):
        dlpy.sparse.mm(s, d, "prod")
    with pytest.raises(RuntimeError, match="must be either sum"):
        dlpy.sparse.mm(s, d, "median")
    with pytest.raises(NotImplementedError):  # torch's kernel: CSR only
        dlpy.sparse.mm(s.to_sparse_coo(), d, "mean")
    with pytest.raises(NotImplementedError):  # a reduce given: that kernel, even "sum"
        dlpy.sparse.mm(s.to_sparse_coo(), d, "sum")
    expected = np.array([[1., 1], [2, 2]], dtype=np.float32)
    assert_close(dlpy.sparse.mm(s, d, "sum").data, expected)
    assert_close(dlpy.sparse.mm(s.to_sparse_coo(), d).data, expected)


def test_spmm_is_mm():
    """torch.spmm (the GCN papers' code): a sparse matrix times a dense one is dense, with the
    gradient of the dense operand; two dense operands are a plain mm."""
    rng = np.random.default_rng(5)
    indices = _uneven(rng, [1, 3, 0, 2], 6)
    values = rng.standard_normal(indices.shape[1])
    sparse = dlpy.sparse_coo_tensor(indices, values, (4, 6))
    matrix = np.zeros((4, 6))
    matrix[indices[0], indices[1]] = values
    dense = dlpy.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    out = dlpy.spmm(sparse, dense)
    assert not out.is_sparse
    assert_close(out.data, matrix @ dense.data)
    out.sum().backward()
    assert_close(dense.grad.data, matrix.T @ np.ones((4, 3)))
    assert_close(dlpy.spmm(dense.T, dense).data, dense.data.T @ dense.data)


def test_made_from_values_that_need_gradients_is_no_leaf():
    # torch: the sparse tensor gets a grad_fn; the values' leaf gets the gradient
    values = dlpy.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    s = dlpy.sparse_coo_tensor([[0, 1], [1, 0]], values, (2, 2))
    assert not s.is_leaf and s.grad_fn.name() == "SparseCooTensorWithDimsAndTensorsBackward0"
    (s * 3).backward(dlpy.tensor([[1.0, 2.0], [4.0, 8.0]]).to_sparse())
    assert values.grad.tolist() == [6.0, 12.0]
    leaf = dlpy.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2), requires_grad=True)
    (grad,) = dlpy.autograd.grad(dlpy.sparse.sum(leaf * 2), leaf)
    assert grad.is_sparse and grad.to_dense().tolist() == [[0.0, 2.0], [2.0, 0.0]]
    with pytest.raises(RuntimeError):
        (s * 3).backward()


def test_embedding_sparse_grad_indices_and_values_are_methods_too():
    e = dlpy.nn.Embedding(4, 2, sparse=True)
    e(dlpy.tensor(np.array([3, 1, 3]))).sum().backward()
    grad = e.weight.grad.coalesce()
    assert grad.indices.tolist() == [1, 3] and grad.indices().tolist() == [[1, 3]]
    assert grad.values().tolist() == [[1.0, 1.0], [2.0, 2.0]] and grad.values.shape == (2, 2)


def test_ndimension_and_nelement_are_dim_and_numel():
    """torch's older names, which linear_operator's sparse products call."""
    s = dlpy.sparse_coo_tensor(np.array([[0, 1], [2, 0]]), dlpy.tensor([1.0, 2.0]), (2, 3))
    assert s.ndimension() == s.dim() == 2 and s.nelement() == s.numel() == 6
