"""Ops whose backward reads only arrays of their own (as torch's node reads its saved
tensors) let an input change in place before backward, and give the gradient of the values
they used; their backward_graph recomputes from that input, so a create_graph pass refuses
the change (Op.graph_saves) instead of differentiating values the op never saw."""
import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import autograd

X = np.array([[0.3, 0.82, 0.5], [0.65, 0.1, 0.45], [0.7, 0.9, 0.15]])

CASES = {
    "tanhshrink": lambda a: F.tanhshrink(a).sum(),
    "cross_entropy": lambda a: F.cross_entropy(a, dlpy.tensor([0, 2, 1])),
    "svdvals": lambda a: dlpy.linalg.svdvals(a).sum(),
    "rsqrt": lambda a: dlpy.rsqrt(a).sum(),
}


def _gradient(fn, change: bool, create_graph: bool = False):
    """(d fn(a) / dx, x) with a = x * 1, a changed in place after fn used it or not."""
    x = dlpy.tensor(X, requires_grad=True)
    a = x * 1
    loss = fn(a)
    if change:
        a.mul_(0.5)  # the op read a; its backward reads only arrays of its own
    (g,) = autograd.grad(loss, x, create_graph=create_graph)
    return g, x


@pytest.mark.parametrize("name", CASES)
def test_change_in_place_after_use_gives_the_gradient_of_the_values_used(name):
    before = _gradient(CASES[name], change=False)[0].numpy()
    after = _gradient(CASES[name], change=True)[0].numpy()
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["tanhshrink", "cross_entropy", "svdvals"])
def test_create_graph_refuses_the_change_its_backward_graph_would_read(name):
    with pytest.raises(RuntimeError, match="modified in place"):
        _gradient(CASES[name], change=True, create_graph=True)
    g, x = _gradient(CASES[name], change=False, create_graph=True)  # unchanged: it works
    (h,) = autograd.grad((g * g).sum(), x)
    assert h.shape == x.shape and np.isfinite(h.numpy()).all() and np.abs(h.numpy()).sum() > 0


def test_rsqrt_reads_its_result_and_names_it():
    x = dlpy.tensor([1.0, 4.0], dtype=dlpy.float64, requires_grad=True)
    y = dlpy.rsqrt(x)
    assert y.grad_fn.name() == "RsqrtBackward0"
    assert y.grad_fn._saved_result.tolist() == [1.0, 0.5]
    y.mul_(2)  # the result changed: refused, as torch's
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_erfinv_reads_its_input_again_so_its_result_may_change():
    x = dlpy.tensor(X, requires_grad=True)
    y = dlpy.erfinv(x)
    y.mul_(0.5)  # torch's ErfinvBackward0 saves the input, not the result
    y.sum().backward()
    expected = 0.5 * np.sqrt(np.pi) / 2 * np.exp(dlpy.erfinv(dlpy.tensor(X)).numpy() ** 2)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
    a = dlpy.tensor(X, requires_grad=True) * 1
    z = dlpy.erfinv(a)
    a.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()
