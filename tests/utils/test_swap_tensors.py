"""dlpy.utils.swap_tensors (torch.utils.swap_tensors): contents exchanged, identities kept."""

import weakref

import numpy as np
import pytest

import dlpy
from dlpy import nn
from dlpy.utils import swap_tensors


def test_values_class_and_attributes_swap():
    p = nn.Parameter(dlpy.ones(3))
    t = dlpy.arange(4.)
    t.note = "t"
    p_id, t_id = id(p), id(t)
    swap_tensors(p, t)
    assert (id(p), id(t)) == (p_id, t_id)
    assert type(p) is dlpy.Tensor and type(t) is nn.Parameter
    assert not p.requires_grad and t.requires_grad
    np.testing.assert_array_equal(p.data, [0., 1., 2., 3.])
    np.testing.assert_array_equal(t.data, [1., 1., 1.])
    assert p.note == "t" and not hasattr(t, "note")


def test_gradient_and_graph_move_with_contents():
    a = dlpy.tensor([1., 2.], requires_grad=True)
    (a * 3).sum().backward()
    b = dlpy.zeros(2)
    swap_tensors(a, b)
    assert a.grad is None and not a.requires_grad
    np.testing.assert_array_equal(b.grad.data, [3., 3.])


def test_view_relation_follows_contents():
    """A view's link to its base moves with its contents: in-place changes reach the object
    now holding the view, as torch's."""
    base = dlpy.arange(6.)
    view = base[1:3]
    other = dlpy.ones(2)
    swap_tensors(view, other)
    base.mul_(10)
    np.testing.assert_array_equal(view.data, [1., 1.])
    np.testing.assert_array_equal(other.data, [10., 20.])
    other.add_(1)
    np.testing.assert_array_equal(base.data, [0., 11., 21., 30., 40., 50.])


def test_views_of_one_base_swapped_with_each_other():
    base = dlpy.arange(6.)
    v1, v2 = base[:2], base[4:]
    swap_tensors(v1, v2)
    base.add_(1)
    np.testing.assert_array_equal(v1.data, [5., 6.])
    np.testing.assert_array_equal(v2.data, [1., 2.])


def test_weakref_refused():
    t1, t2 = dlpy.ones(2), dlpy.zeros(2)
    ref = weakref.ref(t2)
    with pytest.raises(RuntimeError, match="t2 because it has weakref"):
        swap_tensors(t1, t2)
    assert ref() is t2
    np.testing.assert_array_equal(t1.data, [1., 1.])


def test_module_parameter_swapped_in_place_keeps_optimizer_valid():
    lin = nn.Linear(2, 1)
    opt = dlpy.optim.SGD(lin.parameters(), lr=0.5)
    new = nn.Parameter(dlpy.full((1, 2), 2.0))
    swap_tensors(lin.weight, new)
    lin(dlpy.ones(1, 2)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(lin.weight.data, [[1.5, 1.5]])
