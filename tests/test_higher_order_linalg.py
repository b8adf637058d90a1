"""Gradients of gradients through the linalg decompositions (eigh, eigvalsh, svd, svdvals, qr,
pinv): each op's create_graph gradient equals its numpy backward's and gradcheck checks its
derivatives, on well-conditioned float64 inputs (distinct eigenvalues and singular values);
a Hessian-vector product through eigh and svd against PyTorch
(tests/fixtures/higher_order/higher_order_linalg.npz, make_higher_order_linalg_fixtures.py).
Functions of eigenvectors and singular vectors go through their squares (or products of a pair),
which do not depend on the signs LAPACK picks."""

from pathlib import Path

import numpy as np
import pytest
from dlpy.autograd.functional import hvp
from second_order import check_second_order

import dlpy.functional as F
from dlpy import Tensor, linalg
from dlpy.autograd import grad

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "higher_order" / "higher_order_linalg.npz"


def _spread(x, scale=0.3):
    """x scaled down onto a diagonal 1, 2, 3.5, ...: distinct eigenvalues / singular values."""
    m, n = x.shape[-2:]
    base = np.zeros((m, n))
    k = min(m, n)
    base[np.arange(k), np.arange(k)] = np.cumsum(np.arange(1.0, k + 1) / 2 + 0.5)
    return x * scale + base


def _symmetric(x):
    """(x + x^T) / 2 spread: eigh's gradient is torch's symmetric one, the derivative along
    symmetric changes, so the checks differentiate through a symmetric input."""
    return _spread((x + F.swapaxes(x, -1, -2)) * 0.5)


def _flat(*parts):
    return F.concat([p.reshape(-1) for p in parts])


def _eigh(x, uplo="L"):
    values, vectors = linalg.eigh(_symmetric(x), UPLO=uplo)
    return _flat(values, vectors * vectors)


def _svd(x, full_matrices=True, uses=("u", "s", "vh")):
    u, s, vh = linalg.svd(_spread(x), full_matrices=full_matrices)
    k = s.shape[-1]
    u, vh = u[..., :k], vh[..., :k, :]  # the other columns are any completion: no gradient
    parts = {"u": u * u, "s": s, "vh": vh * vh}
    return _flat(*(parts[name] for name in uses))


def _qr(x, mode="reduced"):
    q, r = linalg.qr(_spread(x), mode=mode)
    return _flat(q, r)


OPS = {
    "eigh": (_eigh, (4, 4)),
    "eigh_upper_batched": (lambda x: _eigh(x, "U"), (2, 3, 3)),
    "eigh_values_only": (lambda x: linalg.eigh(_symmetric(x)).eigenvalues ** 2, (3, 3)),
    "eigh_vectors_only": (lambda x: linalg.eigh(_symmetric(x)).eigenvectors ** 2, (3, 3)),
    "eigvalsh": (lambda x: linalg.eigvalsh(_symmetric(x)), (4, 4)),
    "eigvalsh_batched_upper": (lambda x: linalg.eigvalsh(_symmetric(x), UPLO="U") ** 2,
                               (2, 3, 3)),
    "svd_square": (_svd, (3, 3)),
    "svd_tall_full": (_svd, (4, 3)),
    "svd_wide_full": (_svd, (2, 3, 4)),
    "svd_tall_reduced": (lambda x: _svd(x, False), (5, 3)),
    "svd_wide_reduced": (lambda x: _svd(x, False), (3, 5)),
    "svd_values_only": (lambda x: _svd(x, uses=("s",)) ** 2, (4, 3)),
    "svd_u_only": (lambda x: _svd(x, False, uses=("u",)), (4, 3)),
    "svd_vh_only": (lambda x: _svd(x, False, uses=("vh",)), (3, 4)),
    "svd_pair": (lambda x: (lambda u, s, vh: u[..., :, :1] * vh[..., :1, :])(
        *linalg.svd(_spread(x), full_matrices=False)), (4, 3)),
    "svdvals": (lambda x: linalg.svdvals(_spread(x)), (4, 3)),
    "svdvals_wide_batched": (lambda x: linalg.svdvals(_spread(x)) ** 2, (2, 3, 5)),
    "qr_square": (_qr, (3, 3)),
    "qr_tall": (_qr, (5, 3)),
    "qr_wide": (_qr, (2, 3, 5)),
    "qr_complete_wide": (lambda x: _qr(x, "complete"), (3, 4)),
    "pinv_square": (lambda x: linalg.pinv(_spread(x)), (3, 3)),
    "pinv_tall": (lambda x: linalg.pinv(_spread(x)), (4, 3)),
    "pinv_wide_batched": (lambda x: linalg.pinv(_spread(x)), (2, 2, 4)),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_second_order_matches_numpy_backward_and_gradcheck(name):
    fn, *shapes = OPS[name]
    check_second_order(fn, *shapes)


def test_a_product_of_decompositions_differentiates_to_third_order():
    # pinv's backward_graph reads its output, whose gradient is pinv's backward_graph again
    x = Tensor(_spread(np.random.default_rng(2).standard_normal((3, 2))), requires_grad=True)
    (g,) = grad(linalg.pinv(x).sum() * 1.0, x, create_graph=True)
    (h,) = grad((g * g).sum(), x, create_graph=True)
    (third,) = grad((h * h).sum(), x)
    assert third.shape == (3, 2) and np.isfinite(third.data).all()


def test_qr_complete_tall_still_raises_in_graph_mode():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    q, r = linalg.qr(x, mode="complete")
    with pytest.raises(NotImplementedError, match="qr: the QR decomposition is not "
                                                  "differentiable when mode='complete'"):
        grad((q * q).sum() + r.sum(), x, create_graph=True)


def _energy(a, b, weights_a, weights_b):
    """make_higher_order_linalg_fixtures.energy: eigh and a reduced svd, weighted sums."""
    values, vectors = linalg.eigh(a)
    u, s, vh = linalg.svd(b, full_matrices=False)
    return ((values ** 2).sum() + (vectors ** 2 * weights_a).sum() + (s ** 3).sum()
            + (u ** 2 * weights_b).sum() + (vh[:, 0] ** 2 * s).sum())


def test_hessian_vector_product_through_eigh_and_svd_matches_torch():
    ref = np.load(FIXTURE)
    weights = (Tensor(ref["weights_a"]), Tensor(ref["weights_b"]))
    value, (hvp_a, hvp_b) = hvp(lambda a, b: _energy(a, b, *weights),
                                (Tensor(ref["a"]), Tensor(ref["b"])),
                                (Tensor(ref["v_a"]), Tensor(ref["v_b"])))
    np.testing.assert_allclose(value.data, ref["value"], rtol=1e-12)
    np.testing.assert_allclose(hvp_a.data, ref["hvp_a"], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(hvp_b.data, ref["hvp_b"], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(("name", "fn", "matrix"), [
    ("eigh", lambda x: linalg.eigh(x).eigenvalues, np.eye(3)),  # a triple eigenvalue
    ("svd", lambda x: linalg.svd(x).S, np.diag([2.0, 2.0, 0.0])[:, :2].T.copy()),  # rank 2 of 2
    ("svd_rank_deficient", lambda x: linalg.svd(x).S, np.diag([2.0, 0.0, 0.0])[:, :2].copy()),
])
def test_unused_vectors_add_nothing_where_values_repeat_or_vanish(name, fn, matrix):
    # the vectors' gradient is all zero (it depends on v, through the slices' adjoints): its
    # terms are kept for their derivatives but give 0, as backward's skipped ones, not nan
    x = Tensor(matrix, requires_grad=True)
    v = Tensor(np.arange(1.0, 1.0 + fn(x).shape[0]), requires_grad=True)
    (graph,) = grad(fn(x), x, grad_outputs=v, create_graph=True)
    (plain,) = grad(fn(x), x, grad_outputs=v)
    np.testing.assert_allclose(graph.data, plain.data, rtol=1e-12, atol=1e-14)
    assert np.isfinite(grad((graph * graph).sum(), v)[0].data).all()
