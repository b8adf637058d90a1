"""CorrCholeskyTransform, CatTransform, StackTransform and their biject_to entries against PyTorch
(tests/fixtures/distributions_last/transforms.npz, float64): y, the log-det, the inverse and the
gradients for x; the new constraints (corr_cholesky, square, positive_semidefinite, cat, stack,
multinomial, MixtureSameFamilyConstraint); errors."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from cases_distributions_last import TRANSFORMS
from npz_reference import load_grouped

import dlpy.distributions as D
from dlpy import Tensor
from dlpy.distributions import constraints as C
from dlpy.distributions.transforms import tril_matrix_to_vec, vec_to_tril_matrix
from dlpy.testing import gradcheck

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "distributions_last"


@functools.cache
def load() -> dict[str, dict[str, np.ndarray]]:
    return load_grouped(FIXTURES / "transforms.npz")


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_matches_torch(name):
    record = load()[name]
    t = TRANSFORMS[name](D)
    for output in ("y", "ladj"):
        x = Tensor(record["x"], requires_grad=True)
        y = t(x)
        out = y if output == "y" else t.log_abs_det_jacobian(x, y)
        assert out.shape == record[output].shape
        np.testing.assert_allclose(out.data, record[output], rtol=1e-12, atol=1e-14)
        (out * record[f"w_{output}"]).sum().backward()
        np.testing.assert_allclose(x.grad, record[f"grad_{output}_x"], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(t.inv(Tensor(record["y"])).data, record["x_back"], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(record["x_back"], record["x"], rtol=1e-8, atol=1e-10)


def test_corr_cholesky_transform():
    rng = np.random.default_rng(0)
    t = D.CorrCholeskyTransform()
    x = Tensor(rng.standard_normal((3, 10)), requires_grad=True)
    y = t(x)
    assert y.shape == (3, 5, 5) and C.corr_cholesky.check(y.data).all()
    assert t.forward_shape((3, 10)) == (3, 5, 5) and t.inverse_shape((3, 5, 5)) == (3, 10)
    assert gradcheck(lambda x: t(x), x)
    assert gradcheck(lambda x: t.log_abs_det_jacobian(x, t(x)), x)
    # the log-det is that of x -> y's strict lower triangle (a square Jacobian)
    x0 = rng.standard_normal(6)

    def lower(v):
        return tril_matrix_to_vec(t(Tensor(v)), diag=-1).data

    jacobian = np.stack([(lower(x0 + e) - lower(x0 - e)) / 2e-6 for e in np.eye(6) * 1e-6], -1)
    np.testing.assert_allclose(t.log_abs_det_jacobian(Tensor(x0), t(Tensor(x0))).item(),
                               np.linalg.slogdet(jacobian)[1], rtol=1e-7)
    # torch's CorrCholeskyTransform has no __eq__: equal only to itself
    assert type(D.biject_to(C.corr_cholesky)) is type(t) and t.bijective
    assert t != D.CorrCholeskyTransform()
    with pytest.raises(ValueError, match="CorrCholeskyTransform: a last axis of 4 is not"):
        t.forward_shape((4,))


def test_tril_vector_round_trip():
    v = Tensor(np.arange(1.0, 7.0))
    m = vec_to_tril_matrix(v, diag=-1)
    np.testing.assert_array_equal(m.data, [[0, 0, 0, 0], [1, 0, 0, 0], [2, 3, 0, 0],
                                           [4, 5, 6, 0]])
    np.testing.assert_array_equal(tril_matrix_to_vec(m, diag=-1).data, v.data)
    with pytest.raises(ValueError, match="vec_to_tril_matrix: a last axis of 4"):
        vec_to_tril_matrix(Tensor(np.ones(4)), diag=-1)


def test_cat_and_stack_transforms():
    rng = np.random.default_rng(1)
    exp, sigmoid = D.ExpTransform(), D.SigmoidTransform()
    t = D.CatTransform([exp, sigmoid], dim=0, lengths=[2, 3])
    assert t.bijective and t.event_dim == 0 and t.length == 5
    x = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
    assert gradcheck(lambda x: t.log_abs_det_jacobian(x, t(x)), x)
    assert t.domain.check(x.data).all() and t.codomain.check(t(x).data).all()
    assert isinstance(t.codomain, C.cat) and t.codomain.lengths == [2, 3]
    cached = t.with_cache(1)
    y = cached(x)
    assert cached.inv(y) is x and all(p._cache_size == 1 for p in cached.transforms)
    s = D.StackTransform([exp, sigmoid, D.identity_transform], dim=1)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = s(x)
    np.testing.assert_allclose(y.data[:, 0], np.exp(x.data[:, 0]))
    np.testing.assert_allclose(s.inv(y).data, x.data, rtol=1e-12)
    assert gradcheck(lambda x: s.log_abs_det_jacobian(x, s(x)), x)
    assert not D.StackTransform([D.AbsTransform()]).bijective
    with pytest.raises(ValueError, match="CatTransform: expected size 5 along dim 0"):
        t(Tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match="StackTransform: dim 1 out of range"):
        s(Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="CatTransform: 1 lengths for 2 transforms"):
        D.CatTransform([exp, sigmoid], lengths=[2])
    with pytest.raises(TypeError, match="StackTransform: expected a non-empty sequence"):
        D.StackTransform([exp, "exp"])


def test_biject_to_cat_and_stack():
    cat = C.cat([C.positive, C.interval(-1.0, 2.0)], dim=-1, lengths=[1, 2])
    t = D.biject_to(cat)
    y = t(Tensor(np.array([[-3.0, 0.0, 10.0], [2.0, -10.0, 0.5]])))
    assert cat.check(y.data).all() and cat.event_dim == 0
    stack = C.stack([C.positive, C.unit_interval], dim=0)
    y = D.transform_to(stack)(Tensor(np.array([[-3.0, 1.0], [0.0, 5.0]])))
    assert stack.check(y.data).all()
    np.testing.assert_array_equal(stack.check(np.array([[1.0, -1.0], [0.5, 0.5]])),
                                  [[True, False], [True, True]])


def test_new_constraints():
    corr = np.array([[1.0, 0.0], [0.6, 0.8]])
    np.testing.assert_array_equal(C.corr_cholesky.check(np.stack([corr, corr * 1.01,
                                                                  corr.T])), [True, False, False])
    assert C.square.check(np.ones((2, 3, 3))).tolist() == [True, True]
    assert C.square.check(np.ones((2, 3, 4))).tolist() == [False, False]
    psd = np.array([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]])
    assert C.positive_semidefinite.check(psd).tolist() == [True, False]
    assert C.positive_definite.check(psd).tolist() == [False, False]
    multinomial = C.multinomial(5)
    assert multinomial.is_discrete and multinomial.event_dim == 1
    assert multinomial.check(np.array([[1, 2, 2], [3, 3, 0], [-1, 2, 0]])).tolist() == \
        [True, False, False]
    mixture = C.MixtureSameFamilyConstraint(C.positive)
    assert mixture.check(np.array([1.0, -1.0])).tolist() == [True, False]
    with pytest.raises(TypeError, match="MixtureSameFamilyConstraint: expected a Constraint"):
        C.MixtureSameFamilyConstraint("positive")
    with pytest.raises(ValueError, match="constraints.cat: 1 lengths for 2 constraints"):
        C.cat([C.real, C.positive], lengths=[3])
    with pytest.raises(ValueError, match="constraints.stack: dim 2 out of range"):
        C.stack([C.real], dim=2).check(np.ones(3))
