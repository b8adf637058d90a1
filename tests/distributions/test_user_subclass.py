"""Distribution subclasses written for torch: an ``rsample(self, sample_shape)`` override
without dlpy's ``generator=`` / ``rng=`` (reached by ``sample()``, ``Independent`` and
``TransformedDistribution``), and a custom ``expand`` through ``_get_checked_instance`` and
``super().expand(batch_shape, _instance)``."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy
import dlpy.distributions as D
from dlpy import Tensor
from dlpy.distributions import constraints
from dlpy.distributions.utils import broadcast_all


class Shifted(D.Distribution):
    """loc + scale * noise, torch's way: rsample takes only sample_shape."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Shifted, _instance)
        return super().expand(batch_shape, _instance=new)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return self.loc + self.scale * dlpy.ones(shape, dtype=self.loc.dtype)

    def log_prob(self, value):
        return -((value - self.loc) / self.scale) ** 2


def _shifted() -> Shifted:
    return Shifted(Tensor(np.array([0.0, 1.0])), 2.0)


def test_sample_reaches_an_rsample_without_generator_arguments():
    d = _shifted()
    assert d.sample((3,)).shape == (3, 2)
    np.testing.assert_array_equal(d.sample().data, [2.0, 3.0])
    # a generator given is still passed on (dlpy's own families take it)
    with pytest.raises(TypeError, match="generator"):
        d.sample(generator=np.random.default_rng(0))


def test_independent_and_transformed_reach_the_subclass_sampler():
    ind = D.Independent(_shifted(), 1)
    assert ind.sample((4,)).shape == (4, 2) and ind.rsample().shape == (2,)
    t = D.TransformedDistribution(_shifted(), [D.transforms.ExpTransform()])
    np.testing.assert_allclose(t.sample().data, np.exp([2.0, 3.0]))
    np.testing.assert_allclose(t.rsample((1,)).data, np.exp([[2.0, 3.0]]))


def test_custom_expand_through_get_checked_instance():
    d = _shifted()
    e = d.expand((3, 2))
    assert type(e) is Shifted and e.batch_shape == (3, 2) and e.loc.shape == (3, 2)
    assert e is not d and e.scale.shape == (3, 2)
    given = Shifted.__new__(Shifted)
    assert d._get_checked_instance(Shifted, given) is given


def test_get_checked_instance_refuses_a_new_init_without_its_own_expand():
    class Wider(Shifted):
        def __init__(self, loc, scale, width=1.0, validate_args=None):
            super().__init__(loc, scale * width, validate_args=validate_args)

    with pytest.raises(NotImplementedError, match="must also define a custom .expand"):
        Wider(Tensor(np.zeros(2)), 1.0).expand((3, 2))
