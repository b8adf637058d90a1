"""Nodes with several outputs (dlpy.ops.multi_output): one grad_fn for split's pieces,
eigh's factors and a custom Function's outputs, numbered as torch's, hooks run once with one
gradient per output, node calls taking one per output. Compared with torch's recorded results
in the area ``multi_output_nodes``; these check the parts torch's records cannot see."""

import numpy as np
import pytest

import dlpy
from dlpy import autograd
from dlpy.autograd_gradcheck import gradcheck, gradgradcheck
from dlpy.ops import multi_output


def leaf(values):
    return dlpy.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_pieces_share_one_node_and_number_their_outputs():
    x = leaf(np.arange(6.0).reshape(3, 2))
    pieces = x.split(1)
    node = pieces[0].grad_fn
    assert all(p.grad_fn is node for p in pieces)
    assert [p.output_nr for p in pieces] == [0, 1, 2]
    assert node.name() == "SplitBackward0"
    assert multi_output.layout_of(node) is not None and len(multi_output.layout_of(node)) == 3
    y = pieces[2] * pieces[1]
    assert [(n is node, k) for n, k in y.grad_fn.next_functions] == [(True, 2), (True, 1)]


def test_nothing_recorded_gives_no_node():
    x = dlpy.ones(4)
    a, b = x.split(2)
    assert a.grad_fn is None and b.output_nr == 0 and a._base is x
    with dlpy.no_grad():
        a, b = leaf([1.0, 2.0]).split(1)
    assert a.grad_fn is None and b.output_nr == 0


def test_hooks_run_once_with_none_for_outputs_without_gradient():
    x = leaf(np.arange(6.0).reshape(3, 2))
    a, b, c = x.unbind(0)
    calls = []
    a.grad_fn.register_prehook(lambda go: calls.append([None if g is None else g.data.tolist()
                                                        for g in go]))
    (b.sum() * 2 + (c * c).sum()).backward()
    assert calls == [[None, [2.0, 2.0], [8.0, 10.0]]]
    np.testing.assert_array_equal(x.grad.data, [[0, 0], [2, 2], [8, 10]])


def test_a_second_pass_counts_its_own_outputs():
    x = leaf([1.0, 2.0, 3.0])
    a, b, c = x.split(1)
    seen = []
    a.grad_fn.register_prehook(lambda go: seen.append(tuple(g is None for g in go)))
    y = a * 2 + b * 3
    y.sum().backward(retain_graph=True)
    autograd.grad(c.sum(), x)
    assert seen == [(False, False, True), (True, True, False)]


def test_a_prehook_replacing_gradients_under_create_graph_stays_differentiable():
    x = leaf([1.0, 2.0, 3.0])
    a, b, c = x.split(1)
    a.grad_fn.register_prehook(lambda go: tuple(None if g is None else g * 3 for g in go))
    (g,) = autograd.grad((a ** 2 + c ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, [6.0, 0.0, 81.0])  # 3 * 2a, 3 * 3c^2 (torch's)
    (gg,) = autograd.grad(g.sum(), x)  # the second pass crosses the node again: 3 * (6, 18c)
    np.testing.assert_allclose(gg.data, [18.0, 0.0, 162.0])


def test_calling_the_node_packs_one_gradient_per_output():
    x = leaf(np.arange(6.0).reshape(3, 2))
    a, b, c = x.unbind(0)
    g = dlpy.ones(2, dtype=dlpy.float64)
    np.testing.assert_array_equal(a.grad_fn(None, g * 2, None).data, [[0, 0], [2, 2], [0, 0]])
    assert a.grad_fn(None, None, None) is None
    with pytest.raises(TypeError, match="expected 3 arguments, got 1"):
        a.grad_fn(g)
    with pytest.raises(TypeError, match="argument 1 is not a Variable"):
        a.grad_fn(None, 1.0, None)


def test_pack_is_differentiable():
    layout = multi_output.Layout(dlpy.zeros(3, 2), [((slice(0, 1),), (1, 2)),
                                                    ((slice(1, 3),), (2, 2))],
                                 [dlpy.zeros(1, 2), dlpy.zeros(2, 2)])
    assert gradcheck(lambda u, v: multi_output.Pack(layout)(u, v) ** 2,
                     (leaf(np.ones((1, 2))), leaf(np.arange(4.0).reshape(2, 2))))


def test_complex_eigh_hooks_see_real_eigenvalue_gradients():
    a = np.array([[2.0, 1 - 1j], [1 + 1j, 3.0]])
    s = dlpy.tensor(a, requires_grad=True)
    w, v = dlpy.linalg.eigh(s)
    assert w.grad_fn is v.grad_fn and (w.output_nr, v.output_nr) == (0, 1)
    seen = []
    w.grad_fn.register_prehook(lambda go: seen.append([None if g is None else g.dtype
                                                       for g in go]))
    (w * 2).sum().backward()
    assert seen == [[dlpy.float64, None]]


def test_custom_function_outputs_share_its_node():
    class SinCos(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    x = leaf([0.5, 1.0])
    s, c = SinCos.apply(x)
    assert s.grad_fn is c.grad_fn and (s.output_nr, c.output_nr) == (0, 1)
    assert s.grad_fn.name() == "SinCosBackward"
    (c * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, -2 * np.sin([0.5, 1.0]))


def test_split_gradients_pass_gradcheck():
    def f(x):
        a, b, c = x.split([1, 2, 1])
        return a * c + (b ** 2).sum() + x.unbind(0)[3]

    assert gradcheck(f, (leaf([0.3, -1.2, 2.0, 0.7]),))


def test_changing_an_output_in_place_names_the_outputs_not_the_packed_array():
    s = leaf([[2.0, 1.0], [1.0, 3.0]])
    w, v = dlpy.linalg.eigh(s)
    w.add_(1)
    with pytest.raises(RuntimeError, match=r"an output \(LinalgEighBackward0\) of Eigh "
                                           r"\(shapes \(2,\), \(2, 2\)\) was modified in place"):
        (w * 2).sum().backward()


@pytest.mark.parametrize("name", ["var_mean", "std_mean", "aminmax", "slogdet"])
def test_outputs_of_ops_of_their_own_join_one_node_with_their_gradients(name):
    def f(x):
        if name == "var_mean":
            return dlpy.var_mean(x, 0)
        if name == "std_mean":
            return dlpy.std_mean(x, 1, keepdim=True)
        if name == "aminmax":
            return tuple(dlpy.aminmax(x, dim=0))
        return tuple(dlpy.linalg.slogdet(x))

    x = leaf([[2.0, 1.0, 0.5], [1.0, 3.0, -1.0], [0.5, -0.7, 4.0]])
    outs = f(x)
    assert outs[0].grad_fn is outs[1].grad_fn and [o.output_nr for o in outs] == [0, 1]
    assert gradcheck(lambda t: tuple(o * (i + 1) for i, o in enumerate(f(t))), (x,))
    assert gradgradcheck(lambda t: tuple(o * (i + 1) for i, o in enumerate(f(t))), (x,))


def test_joined_ops_packed_by_saved_tensors_hooks_stay_apart_and_right():
    x = leaf(np.arange(6.0).reshape(3, 2) / 7)

    def f(t):
        a, b = (t * 2).chunk(2, -1)
        v, m = dlpy.var_mean(a, 0, keepdim=True)
        return (a - m) / (v + 1).sqrt() * b.sigmoid()

    (g,) = autograd.grad(f(x).sum(), x)
    with autograd.graph.saved_tensors_hooks(lambda t: t * 1, lambda t: t):
        y = f(x)
    (h,) = autograd.grad(y.sum(), x)
    np.testing.assert_allclose(h.data, g.data, rtol=1e-12)
