"""Views whose node torch cannot re-make after their base changed in place: pieces of
split/unbind/chunk and views made under no_grad are refused for a gradient, with torch's
messages, at backward and at grad_fn; their values stay readable and right."""
import numpy as np
import pytest

import dlpy


def _x():
    return dlpy.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)


@pytest.mark.parametrize("change", ["recorded", "no_grad", "detach", "other_view"])
def test_a_piece_after_its_base_changed(change):
    x = _x()
    a = x * 1
    pieces = a.unbind(0)
    if change == "recorded":
        a.mul_(2)
    elif change == "no_grad":
        with dlpy.no_grad():
            a.mul_(2)
    elif change == "detach":
        a.detach().mul_(2)
    else:
        a[1].mul_(2)
    factor = 1.0 if change == "other_view" else 2.0
    assert pieces[0].tolist() == [factor * v for v in (1.0, 2.0, 3.0)]  # the values follow
    stale = "Output 0 of Unbind is a view and its base or another view of its base has been"
    if change in ("recorded", "other_view"):  # a recorded change: an op using it refuses, as
        with pytest.raises(RuntimeError, match=stale):  # torch's (it asks for its node)
            pieces[0] * 3
    else:  # (torch refuses the use too; dlpy at backward)
        y = pieces[0] * 3
        with pytest.raises(RuntimeError, match=stale):
            y.sum().backward()
    with dlpy.no_grad():  # nothing recorded: readable
        assert (pieces[0] * 3).tolist() == [3 * factor * v for v in (1.0, 2.0, 3.0)]
    if change == "recorded":  # its node is asked for: refused too
        with pytest.raises(RuntimeError, match="Output 0 of Unbind"):
            pieces[0].grad_fn  # noqa: B018
        with pytest.raises(RuntimeError, match="is being modified inplace"):
            pieces[0].mul_(2)


def test_a_view_of_a_piece_names_its_own_function():
    x = _x()
    a = x * 1
    v = a.split(1)[0][:, 1:]
    a.add_(1)
    with pytest.raises(RuntimeError, match="Output 0 of Slice is a view and its base"):
        (v * 2).sum().backward()


def test_a_piece_used_before_the_change_keeps_its_gradient():
    x = _x()
    a = x * 1
    y = a.split(1)[0] * 3
    a.mul_(2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 3.0, 3.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("change", ["recorded", "no_grad", "itself"])
def test_a_view_made_under_no_grad_after_its_memory_changed(change):
    x = _x()
    a = x * 1
    with dlpy.no_grad():
        v = a[0]
    if change == "recorded":
        a.mul_(2)
    elif change == "no_grad":
        with dlpy.no_grad():
            a.mul_(2)
    else:
        with dlpy.no_grad():
            v.mul_(2)
    assert v.tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode and its base"):
        (v * 3).sum().backward()
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode"):
        v.grad_fn  # noqa: B018


def test_a_view_made_under_no_grad_of_an_unchanged_base_is_a_leaf_without_a_node():
    x = _x()
    with dlpy.no_grad():
        v = x[0]
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    (v * 3).sum().backward()  # nothing reaches v or x
    assert v.grad is None and x.grad is None


def test_a_change_through_a_view_whose_op_reads_its_result():
    x = _x()
    a = x * 1
    v = a[0]
    v.exp_()  # its node reads the view's new values
    (a.sum() * 1).backward(retain_graph=True)  # unchanged since: fine
    np.testing.assert_allclose(x.grad.numpy()[0], np.exp([1.0, 2.0, 3.0]))
    a.mul_(2)
    with pytest.raises(RuntimeError, match="the output of Exp"):
        a.sum().backward()


def test_retain_grad_follows_a_view_re_made_after_its_base_changed():
    x = dlpy.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=dlpy.float64,
                    requires_grad=True)
    a = x * 1
    v = a[1:]
    v.retain_grad()
    a.mul_(2)  # v's node is re-made; its retained gradient is that of its new value
    (v.sum() + (v ** 2).sum()).backward()
    np.testing.assert_array_equal(v.grad.numpy(), 1 + 2 * 2 * x.detach().numpy()[1:])


def test_autograd_grad_ignores_a_change_only_a_branch_it_does_not_need_saw():
    x = dlpy.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=dlpy.float64, requires_grad=True)
    a = x * 1
    s = a.sigmoid()  # reads a's old value
    a.mul_(1.5)
    loss = s.sum() + a.sum()
    (g,) = dlpy.autograd.grad(loss, [a])  # toward a's new value only: sigmoid's branch not
    np.testing.assert_array_equal(g.numpy(), np.ones((2, 2)))  # needed
    (gx,) = dlpy.autograd.grad(loss, [x])  # through both branches
    sig = 1 / (1 + np.exp(-x.detach().numpy()))
    np.testing.assert_allclose(gx.numpy(), sig * (1 - sig) + 1.5, rtol=1e-12)
