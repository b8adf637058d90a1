"""Writes through views (src/dlpy/ops/views.py): locating a view in its base's memory, the
CopySlices and ViewOfBase ops' gradients, and views re-made after their base changes. The
torch-recorded programs are in tests/fixtures/cases_semantics_views.py."""

import numpy as np
import pytest

import dlpy
from dlpy import Tensor
from dlpy.ops import views
from dlpy.testing import gradcheck


@pytest.mark.parametrize("make_base", [
    lambda a: a,  # C-contiguous: offsets
    lambda a: a.T,  # transposed: the sorted-address path
    lambda a: a[:, ::2],  # strided
])
def test_positions_are_the_flat_indices_of_the_same_elements(make_base):
    base = make_base(np.arange(48.0).reshape(6, 8))
    for view in (base[1], base[:, 1:3], base.T[::2], base[2:4, ::-1], base[3, 2, ...]):
        where = views.positions(base, view)
        assert where.shape == view.shape
        np.testing.assert_array_equal(base.reshape(-1)[where], view)


def test_positions_refuse_other_memory_and_dtypes():
    base = np.arange(12.0)
    assert views.positions(base, np.arange(3.0)) is None
    assert views.positions(base, base.view(np.int64)) is None
    assert views.positions(base[2:], base[:4]) is None  # partly outside


def test_repeats_elements():
    x = np.arange(3.0)
    assert views.repeats_elements(np.broadcast_to(x, (2, 3)))
    assert not views.repeats_elements(x[None])
    windows = np.lib.stride_tricks.sliding_window_view(np.arange(6.0), 3)
    assert views.repeats_elements(windows)  # read-only overlapping windows
    assert not views.repeats_elements(windows[::3])


def test_copy_slices_gradcheck():
    where = np.array([[4, 1], [7, 9]])
    old = Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    values = Tensor(np.random.default_rng(1).standard_normal((2, 2)), requires_grad=True)
    assert gradcheck(lambda a, b: views.CopySlices(where)(a, b) ** 2, old, values)
    out = views.CopySlices(where)(old, values)
    grad_old, grad_values = dlpy.autograd.grad((out * out).sum(), [old, values],
                                               create_graph=True)
    assert grad_values.requires_grad  # backward_graph: second derivatives come too


def test_a_write_through_a_view_gradchecks():
    def program(x, w):
        y = x * 1
        row = y.t()[1]  # a view of a view
        row.mul_(w)  # CopySlices into y
        tail = y[1:]  # a view made after
        y.add_(x)  # tail re-made from y's new value
        return (tail * tail).sum() + (y ** 2).sum()

    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(program, x, w)


def test_dead_views_are_forgotten():
    base = Tensor(np.zeros(4)) * 1
    for _ in range(200):
        base[1:3].sum()  # each view dies at once
    assert len(base._views) < 128
    kept = [base[i:i + 1] for i in range(4)]
    base.add_(Tensor(np.ones(4), requires_grad=True))  # a recorded change re-makes them
    assert all(k.grad_fn.name() == "AsStridedBackward0" for k in kept)
    assert [k.item() for k in kept] == [1.0] * 4
