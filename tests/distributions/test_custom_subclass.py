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
