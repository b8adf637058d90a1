"""Sparse gradients (dlpy.sparse_grad): nn.Embedding(sparse=True) and sparse_linear(...,
sparse=True) give the same gradient as their dense backward, SparseAdam, Adagrad and SGD step as
PyTorch's on an Embedding(sparse=True) (tests/fixtures/optim/sparse.npz, written by
tests/fixtures/make_optim_fixtures.py), the engine's rules for mixing sparse and dense
gradients, clipping, and errors."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.ops.sparse import SparseRows, sparse_linear
from dlpy.optim import SGD, Adagrad, Adam, SparseAdam, clip_grad_norm
from dlpy.sparse_grad import SparseGrad
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "sparse.npz"
STEPS = 5
# the same cases as SPARSE_CASES in tests/fixtures/make_optim_fixtures.py
CASES = {
    "sparse_adam": (SparseAdam, {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6}),
    "sparse_adam_default": (SparseAdam, {}),
    "sgd": (SGD, {"lr": 0.1}),
    "adagrad": (Adagrad,
                {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6}),
    "adagrad_maximize": (Adagrad, {"lr": 0.1, "maximize": True}),
    "sparse_adam_maximize": (SparseAdam, {"lr": 0.05, "maximize": True}),
    "sgd_maximize": (SGD, {"lr": 0.1, "maximize": True}),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _embedding(reference):
    emb = nn.Embedding(12, 3, sparse=True, dtype=np.float64)
    emb.weight.data[...] = reference["weight"]
    return emb


def _loss(emb, reference, t):
    return F.sum(emb(reference[f"ids{t}"]) * Tensor(reference[f"w{t}"]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_torch(case, reference):
    cls, kwargs = CASES[case]
    emb = _embedding(reference)
    opt = cls(emb.parameters(), **kwargs)
    for t in range(STEPS):
        opt.zero_grad()
        _loss(emb, reference, t).backward()
        assert isinstance(emb.weight.grad, SparseGrad)
        if t == 0:
            np.testing.assert_allclose(emb.weight.grad.to_dense(), reference["grad0"],
                                       rtol=1e-14, atol=1e-14)
        before = emb.weight.data.copy()
        opt.step()
        np.testing.assert_allclose(emb.weight.data, reference[f"{case}:after{t}"], rtol=1e-12,
                                   atol=1e-12, err_msg=f"{case}: step {t}")
        untouched = np.setdiff1d(np.arange(12), reference[f"ids{t}"])
        np.testing.assert_array_equal(emb.weight.data[untouched], before[untouched])


def test_sparse_adam_is_lazy_where_adam_is_not(reference):
    # a row seen once keeps its moments while absent: SparseAdam leaves it, Adam moves it on
    # seeded: float32 rounding differs between the two paths, so an unlucky draw from the
    # global generator once failed the rtol below
    sparse = nn.Embedding(4, 2, sparse=True, rng=np.random.default_rng(0))
    dense = nn.Embedding(4, 2)
    dense.weight.data[...] = sparse.weight.data
    opts = [SparseAdam(sparse.parameters(), lr=0.1), Adam(dense.parameters(), lr=0.1)]
    for ids in ([0, 1], [1, 2]):
        for emb, opt in zip((sparse, dense), opts):
            opt.zero_grad()
            F.sum(emb(np.array(ids))).backward()
            opt.step()
    np.testing.assert_allclose(sparse.weight.data[1], dense.weight.data[1], rtol=1e-6,
                               atol=1e-6)
    assert not np.allclose(sparse.weight.data[0], dense.weight.data[0])  # absent at step 2
    assert sparse.weight.data[3].tolist() == dense.weight.data[3].tolist()  # never seen


@pytest.mark.parametrize("fn", ["embedding", "sparse_linear"])
def test_sparse_gradient_equals_the_dense_one(fn):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((7, 3))
    ids = np.array([[1, 4, 1], [6, 1, 0]])
    rows = SparseRows.from_rows([(np.array([1, 4, 1]), np.array([0.5, 2.0, -1.0])),
                                 (np.array([], np.int64), np.array([])),
                                 (np.array([6, 0]), np.array([1.5, 3.0]))], 7, dtype=np.float64)

    def forward(w, sparse):
        if fn == "embedding":
            return F.embedding(ids, w, sparse=sparse)
        return sparse_linear(rows, w, sparse=sparse)

    out_shape = (2, 3, 3) if fn == "embedding" else (3, 3)
    upstream = rng.standard_normal(out_shape)
    grads = []
    for sparse in (False, True):
        w = Tensor(weight, requires_grad=True)
        forward(w, sparse).backward(upstream)
        grads.append(w.grad)
    assert isinstance(grads[1], SparseGrad) and not isinstance(grads[0], SparseGrad)
    np.testing.assert_allclose(grads[1].to_dense(), grads[0], rtol=1e-14)
    assert gradcheck(lambda w: forward(w, True), Tensor(weight, requires_grad=True))


def test_engine_mixes_sparse_and_dense_gradients():
    rng = np.random.default_rng(1)
    w = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
    ids = np.array([0, 3, 3])
    # used twice sparsely: the leaf keeps one sparse gradient with both contributions
    twice = F.sum(F.embedding(ids, w, sparse=True)) + F.sum(F.embedding(ids[:1], w, sparse=True))
    twice.backward()
    assert isinstance(w.grad, SparseGrad)
    np.testing.assert_array_equal(w.grad.coalesce().indices, [0, 3])
    np.testing.assert_allclose(w.grad.to_dense()[[0, 3]], [[2, 2], [2, 2]])
    # a second backward adds a dense gradient: the sum is dense
    F.sum(w * w).backward()
    assert type(w.grad) is Tensor
    expected = 2 * w.data
    expected[[0, 3]] += 2
    np.testing.assert_allclose(w.grad, expected)
    # through a non-leaf (w * 2) the sparse gradient is densified for the op before it
    v = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
    F.sum(F.embedding(ids, v * 2.0, sparse=True)).backward()
    assert type(v.grad) is Tensor
    np.testing.assert_allclose(v.grad.numpy()[[0, 3, 1]], [[2, 2], [4, 4], [0, 0]])


def test_clip_grad_norm_counts_repeated_rows_once_summed():
    w = Tensor(np.zeros((4, 1)), requires_grad=True)
    F.sum(F.embedding(np.array([2, 2, 2, 1]), w, sparse=True)).backward()
    # dense gradient: row 2 = 3, row 1 = 1: norm sqrt(10), not sqrt(4)
    norm = clip_grad_norm([w], 1.0)
    assert norm == pytest.approx(np.sqrt(10))
    np.testing.assert_allclose(w.grad.to_dense().ravel(), [0, 1, 3, 0] / np.sqrt(10), rtol=1e-5)


def test_sgd_with_momentum_takes_a_sparse_gradient_densely():
    a = nn.Embedding(3, 2, sparse=True)
    b = nn.Embedding(3, 2)
    b.weight.data[...] = a.weight.data
    opts = [SGD(a.parameters(), lr=0.1, momentum=0.9), SGD(b.parameters(), lr=0.1, momentum=0.9)]
    for ids in ([0], [1]):
        for emb, opt in zip((a, b), opts):
            opt.zero_grad()
            F.sum(emb(np.array(ids))).backward()
            opt.step()
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_errors():
    emb = nn.Embedding(3, 2, sparse=True)
    F.sum(emb(np.array([1]))).backward()
    with pytest.raises(TypeError, match="Adam: parameter 0 has a sparse gradient .* use "
                                        "optim.SparseAdam"):
        Adam(emb.parameters()).step()
    dense = nn.Linear(2, 1)
    F.sum(dense(Tensor(np.ones((1, 2), np.float32)))).backward()
    with pytest.raises(TypeError, match="SparseAdam: parameter 0 has a dense gradient"):
        SparseAdam(dense.parameters()).step()
    with pytest.raises(ValueError, match=r"betas must lie in \[0, 1\)"):
        SparseAdam(emb.parameters(), betas=(0.9, 1.0))
    # a key that is no setting is kept in the group, as torch's (a name, a tag)
    assert SparseAdam([{"params": emb.parameters(), "tag": "emb"}]).param_groups[0]["tag"] == "emb"
    with pytest.raises(ValueError, match=r"values of shape \(2, 3\) do not fit 2 rows of an "
                                         r"array of shape \(4, 2\)"):
        SparseGrad([0, 1], np.zeros((2, 3)), (4, 2))
    with pytest.raises(ValueError, match=r"row indices must lie in \[0, 4\)"):
        SparseGrad([0, 4], np.zeros((2, 2)), (4, 2))
    assert "sparse=True" in repr(emb)


def test_sparse_adam_state_round_trip(tmp_path, reference):
    cls, kwargs = CASES["sparse_adam"]
    emb = _embedding(reference)
    opt = cls(emb.parameters(), **kwargs)
    for t in range(2):
        opt.zero_grad()
        _loss(emb, reference, t).backward()
        opt.step()
    nn.save_checkpoint(tmp_path / "c.npz", emb, opt)
    restored = nn.Embedding(12, 3, sparse=True, dtype=np.float64)
    restored_opt = cls(restored.parameters(), **kwargs)
    nn.load_checkpoint(tmp_path / "c.npz", restored, restored_opt)
    for t in range(2, STEPS):
        for e, o in ((emb, opt), (restored, restored_opt)):
            o.zero_grad()
            _loss(e, reference, t).backward()
            o.step()
    np.testing.assert_array_equal(restored.weight.data, emb.weight.data)
    np.testing.assert_allclose(emb.weight.data, reference[f"sparse_adam:after{STEPS - 1}"],
                               rtol=1e-12)
