"""Transforms beyond the PyTorch fixtures: caching (inv(t(x)) is x itself), inverses, equality,
shapes, domains, biject_to round trips, log-dets against numerical Jacobians, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy.distributions as D
from dlpy import Tensor
from dlpy.distributions import constraints
from dlpy.distributions import transforms as T
from dlpy.testing import gradcheck


def f64(*values) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64))


def test_cache_returns_the_same_tensor_and_skips_the_inverse():
    x = f64(30.0, -1.0)  # tanh(30) rounds to 1: atanh could not recover x
    cached = T.TanhTransform(cache_size=1)
    y = cached(x)
    assert cached.inv(y) is x and cached(x) is y
    with np.errstate(divide="ignore"):  # without a cache: atanh(1) = inf
        assert not np.isfinite(T.TanhTransform().inv(y).data[0])
    compose = T.ComposeTransform([T.AffineTransform(0.0, 2.0), T.TanhTransform()], cache_size=1)
    assert compose.inv(compose(x)).data[1] == -1.0
    with pytest.raises(ValueError, match="cache_size must be 0 or 1, got 2"):
        T.ExpTransform(cache_size=2)


def test_inverse_of_inverse_and_equality():
    t = T.ExpTransform()
    assert t.inv.inv is t and t.inv == T.ExpTransform().inv and t == T.ExpTransform()
    assert T.AffineTransform(1.0, f64(2.0, 3.0)) == T.AffineTransform(1.0, f64(2.0, 3.0))
    assert T.AffineTransform(1.0, 2.0) != T.AffineTransform(1.0, 3.0)
    assert T.ComposeTransform([t, T.SigmoidTransform()]) == \
        T.ComposeTransform([T.ExpTransform(), T.SigmoidTransform()])
    assert t.inv.domain is constraints.positive and t.inv.codomain is constraints.real
    compose = T.ComposeTransform([T.ExpTransform(), T.AffineTransform(0.0, -1.0)])
    assert compose.inv.inv is compose and compose.sign == -1
    assert T.identity_transform(f64(1.0, 2.0)).data.tolist() == [1.0, 2.0]


def test_shapes_and_event_dims():
    sb = T.StickBreakingTransform()
    assert sb.forward_shape((2, 3)) == (2, 4) and sb.inverse_shape((2, 4)) == (2, 3)
    assert sb.domain.event_dim == 1 and sb.codomain.event_dim == 1
    reshape = T.ReshapeTransform((2, 3), (6,))
    assert reshape.forward_shape((5, 2, 3)) == (5, 6)
    assert reshape.domain.event_dim == 2 and reshape.codomain.event_dim == 1
    compose = T.ComposeTransform([T.ExpTransform(), reshape])
    assert compose.domain.event_dim == 2 and compose.codomain.event_dim == 1
    affine = T.AffineTransform(f64(0.0, 1.0, 2.0), 1.0)
    assert affine.forward_shape((4, 1)) == (4, 3)
    with pytest.raises(ValueError, match=r"ReshapeTransform: expected a shape ending in "
                                         r"\(2, 3\), got \(5, 6\)"):
        reshape.forward_shape((5, 6))
    with pytest.raises(ValueError, match="different numbers of elements"):
        T.ReshapeTransform((2, 3), (5,))
    with pytest.raises(ValueError, match="event_dim"):
        _ = reshape.event_dim


@pytest.mark.parametrize("constraint", [
    constraints.positive, constraints.nonnegative, constraints.unit_interval,
    constraints.interval(-1.0, 2.0), constraints.greater_than(1.5), constraints.less_than(-0.5),
    constraints.real, constraints.independent(constraints.positive, 1), constraints.simplex,
    constraints.half_open_interval(0.0, 3.0),
])
def test_biject_to_lands_in_the_constraint_and_inverts(constraint):
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    t = D.biject_to(constraint)
    y = t(x)
    assert np.all(constraint.check(y.data))
    np.testing.assert_allclose(t.inv(y).data, x.data, rtol=1e-9, atol=1e-9)
    assert t.bijective


def test_transform_to_and_unregistered_constraints():
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 3)))
    assert np.all(constraints.lower_cholesky.check(D.transform_to(constraints.lower_cholesky)(x)
                                                   .data))
    assert np.all(constraints.positive_definite.check(
        D.transform_to(constraints.positive_definite)(x).data))
    assert isinstance(D.transform_to(constraints.simplex), T.SoftmaxTransform)
    with pytest.raises(NotImplementedError, match="biject_to: cannot transform _LowerCholesky"):
        D.biject_to(constraints.lower_cholesky)
    with pytest.raises(NotImplementedError, match="cannot transform _IntegerGreaterThan"):
        D.biject_to(constraints.nonnegative_integer)


@pytest.mark.parametrize("t", [
    T.ExpTransform(), T.SigmoidTransform(), T.TanhTransform(), T.SoftplusTransform(),
    T.AffineTransform(0.5, -2.0), T.PowerTransform(2.5),
    T.ComposeTransform([T.AffineTransform(1.0, 0.5), T.TanhTransform()]),
], ids=repr)
def test_log_abs_det_jacobian_of_scalar_maps_is_log_derivative(t):
    x = Tensor(np.array([0.2, 0.7, 1.3]))
    h = 1e-6
    numeric = (t(x + h).data - t(x - h).data) / (2 * h)
    np.testing.assert_allclose(t.log_abs_det_jacobian(x, t(x)).data, np.log(np.abs(numeric)),
                               rtol=1e-7)


def test_stick_breaking_log_det_is_the_volume_change():
    """log |det dy[:-1]/dx| by numerical Jacobian (the last entry is determined)."""
    x = np.array([0.3, -1.2, 0.5])
    t = T.StickBreakingTransform()
    h = 1e-6
    jac = np.stack([(t(Tensor(x + h * e)).data[:-1] - t(Tensor(x - h * e)).data[:-1]) / (2 * h)
                    for e in np.eye(3)], axis=1)
    expected = np.log(abs(np.linalg.det(jac)))
    np.testing.assert_allclose(t.log_abs_det_jacobian(Tensor(x), t(Tensor(x))).data, expected,
                               rtol=1e-7)


def test_transform_gradients_by_central_differences():
    x = Tensor(np.random.default_rng(2).standard_normal((3, 4)), requires_grad=True)
    scale = Tensor(np.array([0.5, 1.5, -2.0, 1.0]), requires_grad=True)
    for t in (T.StickBreakingTransform(), T.ComposeTransform(
            [T.AffineTransform(0.3, scale), T.TanhTransform()])):
        assert gradcheck(lambda x, s, t=t: t(x), x, scale)
        assert gradcheck(lambda x, s, t=t: t.log_abs_det_jacobian(x, t(x)), x, scale)


def test_bad_arguments():
    with pytest.raises(TypeError, match="ComposeTransform: parts\\[1\\] must be a Transform, "
                                        "got int"):
        T.ComposeTransform([T.ExpTransform(), 3])
    with pytest.raises(ValueError, match="IndependentTransform: reinterpreted_batch_ndims must "
                                         "be a non-negative int, got -1"):
        T.IndependentTransform(T.ExpTransform(), -1)
    with pytest.raises(ValueError, match="AffineTransform: event_dim must be"):
        T.AffineTransform(0.0, 1.0, event_dim=1.5)
    with pytest.raises(ValueError, match="IndependentTransform: expected at least 2 axes"):
        T.IndependentTransform(T.ExpTransform(), 2)(f64(1.0))
    with pytest.raises(NotImplementedError, match="AbsTransform has no sign"):
        _ = T.AbsTransform().sign
    with pytest.raises(NotImplementedError, match="SoftmaxTransform does not implement "
                                                  "log_abs_det_jacobian"):
        T.SoftmaxTransform().log_abs_det_jacobian(f64(1.0, 2.0), f64(0.3, 0.7))
