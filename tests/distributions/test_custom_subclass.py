"""Users' Distribution subclasses: torch's validation rules and expand() (the torch-recorded
area distributions_custom_validation compares them with torch)."""

import numpy as np
import pytest

import dlpy
from dlpy.distributions import Distribution, Normal, constraints
from dlpy.distributions.utils import lazy_property


class _Rate(Distribution):
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative

    def __init__(self, rate, validate_args=None):
        self.rate = rate
        super().__init__(rate.shape, validate_args=validate_args)


def test_parameter_set_after_init_is_an_attribute_error():
    class Late(Distribution):
        arg_constraints = {"loc": constraints.real}

        def __init__(self, loc, validate_args=None):
            super().__init__(loc.shape, validate_args=validate_args)
            self.loc = loc

    with pytest.raises(AttributeError):
        Late(dlpy.tensor([0.0]), validate_args=True)
    assert Late(dlpy.tensor([0.0]), validate_args=False).loc.shape == (1,)


def test_lazy_property_is_not_evaluated_by_validation():
    calls = []

    class Lazy(Distribution):
        arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}

        def __init__(self, logits):
            self.logits = logits
            super().__init__(logits.shape, validate_args=True)

        @lazy_property
        def probs(self):
            calls.append(1)
            return self.logits.sigmoid()

    d = Lazy(dlpy.tensor([0.0]))
    assert calls == [] and "probs" not in d.__dict__
    np.testing.assert_allclose(d.probs.data, [0.5])
    assert calls == [1] and "probs" in d.__dict__


def test_validate_sample_refuses_non_tensors_and_checks_the_support():
    d = _Rate(dlpy.tensor([1.0, 2.0]), validate_args=True)
    with pytest.raises(ValueError, match="must be a Tensor"):
        d._validate_sample(0.5)
    with pytest.raises(ValueError, match="support"):
        d._validate_sample(dlpy.tensor([1.0, -1.0]))
    d._validate_sample(dlpy.tensor([[1.0], [2.0]]))


def test_base_without_arg_constraints_or_support_warns():
    class Bare(Distribution):
        pass

    with pytest.warns(UserWarning, match="arg_constraints"):
        d = Bare(validate_args=True)
    with pytest.warns(UserWarning, match="support"):
        d._validate_sample(dlpy.tensor(1.0))
    with pytest.raises(NotImplementedError):
        _ = d.support


def test_expand_needs_a_subclass_expand_where_torch_does():
    with pytest.raises(NotImplementedError):
        _Rate(dlpy.tensor([1.0])).expand((2,))

    class Wrapped(Normal):
        def __init__(self, loc, scale):
            super().__init__(loc, scale)

    with pytest.raises(NotImplementedError):
        Wrapped(dlpy.tensor([0.0]), dlpy.tensor([1.0])).expand((2,))

    class Plain(Normal):
        pass

    d = Plain(dlpy.tensor([0.0]), dlpy.tensor([1.0])).expand((3,))
    assert type(d) is Plain and d.batch_shape == (3,)


def test_sample_n_is_deprecated():
    with pytest.warns(FutureWarning):
        assert Normal(dlpy.zeros(2), 1.0).sample_n(4).shape == (4, 2)


def test_dependent_constraint_without_kind_cannot_say_it():
    with pytest.raises(NotImplementedError):
        _ = constraints.dependent.is_discrete
    assert constraints.dependent(is_discrete=True, event_dim=1).event_dim == 1
    assert type(constraints.interval(0.0, 1.0)).__name__ == "_Interval"
    assert repr(constraints.half_open_interval(0.0, 1.0)) == \
        "HalfOpenInterval(lower_bound=0.0, upper_bound=1.0)"


def test_constraint_written_for_torch_gets_tensors():
    # a constraint class defined outside dlpy (a library's) keeps its check as written: the
    # distributions' validation hands it a Tensor, composite constraints too
    seen = []

    class Sphere(constraints.Constraint):
        event_dim = 1

        def check(self, value):
            seen.append(type(value))
            return (value.norm(dim=-1) - 1).abs() < 1e-6

    class OnSphere(Distribution):
        arg_constraints = {}
        support = Sphere()

        def __init__(self, validate_args=None):
            super().__init__((2,), (2,), validate_args=validate_args)

    d = OnSphere(validate_args=True)
    d._validate_sample(dlpy.tensor([[0.6, 0.8], [1.0, 0.0]]))
    with pytest.raises(ValueError):
        d._validate_sample(dlpy.tensor([[0.6, 0.9], [1.0, 0.0]]))
    assert constraints.check_array(constraints.independent(Sphere(), 1),
                                   np.array([[0.6, 0.8], [1.0, 0.0]])).tolist() is True
    assert seen == [dlpy.Tensor] * 3
    # dlpy's own checks take arrays as they are
    assert constraints.check_array(constraints.positive, np.array([1.0, -1.0])).tolist() == \
        [True, False]


def test_check_patched_on_a_class_after_creation_gets_tensors():
    # pyro replaces _CorrCholesky.check with a function written for torch tensors
    cls = type(constraints.corr_cholesky)
    old = cls.check

    def patched(self, value):
        assert isinstance(value, dlpy.Tensor)
        return old(self, value)

    cls.check = patched
    try:
        chol = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 1.0]]))
        assert bool(constraints.check_array(constraints.corr_cholesky, chol))
    finally:
        cls.check = old


def test_sample_shape_takes_a_zero_dim_integer_tensor():
    # torch.Size takes a 0-d integer tensor for an int (pyro's `sample((mask.sum(),))`)
    d = Normal(dlpy.zeros(3), 1.0)
    assert d.sample((dlpy.tensor(4), 2)).shape == (4, 2, 3)
    with pytest.raises(ValueError):
        d.sample((dlpy.tensor(1.5),))


def test_lognormal_and_half_parameters_are_the_base_distributions():
    from dlpy.distributions import HalfNormal, LogNormal

    d = LogNormal(dlpy.tensor([0.5, 1.0]), 2.0)
    assert d.loc is d.base_dist.loc and d.scale is d.base_dist.scale
    e = d.expand((3, 2))
    assert e.loc.shape == (3, 2) and e.scale.shape == (3, 2)
    h = HalfNormal(dlpy.tensor([1.0, 2.0])).expand((2, 2))
    assert h.scale.shape == (2, 2) and h.scale is h.base_dist.scale
    with pytest.raises(ValueError):
        LogNormal(0.0, -1.0, validate_args=True)
