"""dlpy.autograd.graph's GradientEdge / get_gradient_edge (edges as grad/backward inputs and
outputs) and allow_mutation_on_saved_tensors (the copies taken before in-place changes, and
what the reverse pass reads), beyond what the torch-recorded area gradient_edge_api shows."""

import gc
import sys
import weakref

import numpy as np
import pytest
from dlpy.autograd.graph import (
    GradientEdge,
    allow_mutation_on_saved_tensors,
    get_gradient_edge,
)

import dlpy
from dlpy import Tensor, autograd

engine = sys.modules["dlpy.tensor"]


def _leaf(values):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_edge_of_a_dropped_output_starts_a_pass():
    x = _leaf([1.0, 2.0])
    y = x.exp()
    edge = get_gradient_edge(y)
    del y
    gc.collect()
    (gx,) = autograd.grad(edge, x, Tensor(np.array([1.0, -1.0])))
    np.testing.assert_allclose(gx.data, np.exp([1.0, 2.0]) * [1.0, -1.0])


def test_edge_tensor_is_collected_with_its_graph():
    x = _leaf([1.0, 2.0])
    y = x * x
    get_gradient_edge(y)
    ref = weakref.ref(y)
    del y
    gc.collect()  # the op <-> tensor cycle is garbage once nothing holds either
    assert ref() is None


def test_edge_taken_before_an_in_place_change_is_the_old_value():
    x = _leaf([1.0, -2.0])
    y = x * 3
    edge = get_gradient_edge(y)
    y.mul_(2)
    (g_old, g_new) = autograd.grad((y * y).sum(), [edge, get_gradient_edge(y)])
    np.testing.assert_allclose(g_new.data, 2 * y.data)
    np.testing.assert_allclose(g_old.data, 2 * g_new.data)  # through y = old * 2


def test_hand_made_edge_found_in_the_graph():
    x = _leaf([1.0, 2.0, 3.0])
    h = x * 2
    z = (h * h).sum()
    node = z.grad_fn.next_functions[0][0].next_functions[0][0]  # h = x * 2, not held by z
    (g,) = autograd.grad(z, GradientEdge(node, 0))
    np.testing.assert_allclose(g.data, 2 * h.data)


def test_edge_output_nr_beyond_one_output_is_refused():
    x = _leaf([1.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"output_nr 1 of MulBackward0: a node of one output"):
        autograd.grad(y.sum(), GradientEdge(y.grad_fn, 1))
    a, b = _leaf([1.0, 2.0]).split(1)
    with pytest.raises(RuntimeError, match=r"output_nr 2 of SplitBackward0, a node of 2 outputs"):
        autograd.grad((a * b).sum(), GradientEdge(a.grad_fn, 2))


def test_edge_of_a_later_output_of_a_split_gives_that_pieces_gradient():
    x = _leaf([1.0, 2.0, 3.0])
    a, b, c = x.split(1)
    edge = get_gradient_edge(c)
    assert edge.node is a.grad_fn and edge.output_nr == 2
    (g,) = autograd.grad((b * c * 5).sum(), edge)
    np.testing.assert_allclose(g.data, 5 * b.data)


def test_backward_op_edge_keeps_no_grad_anywhere():
    x = _leaf([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    autograd.backward((y * y).sum(), inputs=[get_gradient_edge(y), get_gradient_edge(x)])
    np.testing.assert_allclose(x.grad.data, 8 * x.data)
    np.testing.assert_allclose(y.grad.data, 2 * y.data)  # retain_grad's own .grad


def test_mutation_block_restores_fortran_ordered_memory():
    a = _leaf(np.arange(6.0).reshape(2, 3))
    with allow_mutation_on_saved_tensors():
        b = Tensor(np.asfortranarray(a.data)) * 1  # a constant in Fortran-ordered memory
        assert b.data.flags.f_contiguous and not b.data.flags.c_contiguous
        c = a * 1
        out = (c * b).sum()
        b.mul_(7)
        with dlpy.no_grad():
            c.add_(5)
        out.backward()
    np.testing.assert_allclose(a.grad.data, a.data)  # b's values before mul_


def test_mutation_block_refuses_where_no_copy_fits():
    a = _leaf([0.5, -1.0, 2.0])
    with allow_mutation_on_saved_tensors():
        b = a * 1
        out2 = (b * 2).sum()
        b.mul_(b)  # b * b read b's memory, which the same call overwrote: refused, not wrong
        with pytest.raises(RuntimeError, match="modified in place"):
            (out2 + (b ** 2).sum()).backward()


def test_mutation_block_state_cleared_and_hook_removed():
    a = _leaf([1.0, 2.0])
    with allow_mutation_on_saved_tensors() as ctx:
        b = a * 1
        out = (b ** 2).sum()
        b.add_(1)
        assert ctx.copies
        out.backward()
    assert not ctx.copies
    assert engine._before_in_place is None
    np.testing.assert_allclose(a.grad.data, 2 * a.data)


def test_mutation_block_copies_once_per_change():
    a = _leaf([1.0, 2.0])
    with allow_mutation_on_saved_tensors() as ctx:
        b = a * 1
        out = (b ** 3).sum()
        b.add_(1)
        b.add_(1)
        (taken,) = ctx.copies.values()
        assert len(taken) == 2
        out.backward()
    np.testing.assert_allclose(a.grad.data, 3 * a.data ** 2)


def test_mutation_block_after_exception_is_closed():
    a = _leaf([1.0, 2.0])
    with pytest.raises(KeyError):
        with allow_mutation_on_saved_tensors():
            out = (a ** 2).sum()
            raise KeyError
    with pytest.raises(AssertionError, match="allow_mutation_on_saved_tensors"):
        out.backward()
    with allow_mutation_on_saved_tensors():  # a new block opens
        b = a * 1
        out = (b ** 2).sum()
        b.zero_()
        out.backward()
    np.testing.assert_allclose(a.grad.data, 2 * a.data)
