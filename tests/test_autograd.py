"""dlpy.autograd.grad and backward: gradients as values, checked against torch.autograd.grad
(stored values: tests/fixtures/habits, made by tests/fixtures/make_habits_fixtures.py)."""

import inspect
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Op, Tensor, nn
from dlpy.autograd import backward, grad

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "habits.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith("autograd:")}


def _graph(ref):
    x, w, b = (Tensor(ref[f"autograd:{k}"], requires_grad=True) for k in "xwb")
    h = x @ w + b
    return x, w, b, h


def test_grad_matches_torch_for_leaves_and_an_intermediate(ref):
    x, w, b, h = _graph(ref)
    y = (F.tanh(h) ** 2).sum()
    dx, dw, dh = grad(y, (x, w, h))
    np.testing.assert_allclose(dx.data, ref["autograd:dx"], rtol=1e-12)
    np.testing.assert_allclose(dw.data, ref["autograd:dw"], rtol=1e-12)
    np.testing.assert_allclose(dh.data, ref["autograd:dh"], rtol=1e-12)
    assert x.grad is None and w.grad is None and b.grad is None  # nothing accumulated
    assert not dx.requires_grad and dx.shape == x.shape


def test_grad_outputs_make_a_vector_jacobian_product(ref):
    x, w, b, h = _graph(ref)
    (vjp,) = grad(F.tanh(h).sum(axis=1), x, grad_outputs=ref["autograd:v"])
    np.testing.assert_allclose(vjp.data, ref["autograd:vjp_x"], rtol=1e-12)


def test_grad_equals_what_backward_accumulates():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 8, rng=rng), nn.ReLU(), nn.Linear(8, 2, rng=rng))
    x = Tensor(rng.standard_normal((5, 4)).astype(np.float32))
    params = list(model.parameters())
    grads = grad(F.mse_loss(model(x), np.zeros((5, 2), np.float32)), params)
    assert all(p.grad is None for p in params)
    F.mse_loss(model(x), np.zeros((5, 2), np.float32)).backward()
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(g.data, p.grad)


def test_several_outputs_are_summed_and_backward_takes_several_roots():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    a, b = (x * x).sum(), (x * 3.0).sum()
    (g,) = grad([a, b], x, retain_graph=True)
    np.testing.assert_allclose(g.data, 2 * x.data + 3.0)
    backward([a, b])
    np.testing.assert_allclose(x.grad, 2 * x.data + 3.0)


def test_unused_input_is_an_error_unless_allowed():
    x = Tensor(np.ones(3), requires_grad=True)
    z = Tensor(np.ones(2), requires_grad=True)
    y = (x * 2.0).sum()
    with pytest.raises(ValueError, match="index 1 .* not have been used"):
        grad(y, [x, z], retain_graph=True)
    gx, gz = grad(y, [x, z], allow_unused=True)
    np.testing.assert_allclose(gx.data, [2.0, 2.0, 2.0])
    assert gz is None


def test_the_graph_is_freed_unless_retained():
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    grad(y, x, retain_graph=True)
    grad(y, x)  # retained once: a second pass works, and frees it
    with pytest.raises(RuntimeError, match="already freed"):
        grad(y, x)


def test_clear_errors():
    x = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones(3))
    y = x * 2.0
    with pytest.raises(ValueError, match="output 0 has shape"):
        grad(y, x)
    with pytest.raises(ValueError, match="grad_outputs\\[0\\] has shape"):
        grad(y, x, grad_outputs=np.ones(2))
    with pytest.raises(ValueError, match="input 0 .* does not require"):
        grad(y.sum(), c)
    with pytest.raises(ValueError, match="output 0 does not require"):
        grad(c.sum(), x)
    with pytest.raises(NotImplementedError, match="autograd.grad\\(create_graph=True\\): "
                                                  "_Refuses has no differentiable backward"):
        grad(_Refuses()(x).sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="_Refuses has no differentiable backward"):
        _Refuses()(x).sum().backward(create_graph=True)
    with pytest.raises(TypeError, match="inputs\\[0\\] is a ndarray"):
        grad(y.sum(), [np.ones(3)])
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        grad(y, x, grad_outputs=[np.ones(3), np.ones(3)])


class _Refuses(Op):
    """An op whose backward must not run."""

    def forward(self, a):
        return a * 1.0

    def backward(self, grad_output):
        raise AssertionError("backward of a branch that leads to no asked-for input")


def test_only_the_ops_on_a_path_to_the_inputs_run():
    x = Tensor(np.ones(3), requires_grad=True)
    w = Tensor(np.ones(3), requires_grad=True)
    y = (x * 2.0).sum() + _Refuses()(w).sum()
    (gx,) = grad(y, x)
    np.testing.assert_allclose(gx.data, [2.0, 2.0, 2.0])


def test_tensor_hooks_run_and_may_replace_the_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    h = x * 3.0
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 0.5)
    (gx,) = grad(h.sum(), x)
    np.testing.assert_allclose(seen[0], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(gx.data, [1.5, 1.5, 1.5])


def test_a_sparse_embedding_gradient_comes_back_dense():
    emb = nn.Embedding(6, 2, sparse=True, rng=np.random.default_rng(0))
    (g,) = grad(emb(np.array([1, 1, 4])).sum(), emb.weight)
    expected = np.zeros((6, 2), np.float32)
    expected[1], expected[4] = 2.0, 1.0
    np.testing.assert_array_equal(g.data, expected)


def test_reachable_as_dlpy_autograd():
    reached = dlpy.autograd.grad  # (torch-function dispatch, once installed, wraps it)
    assert inspect.unwrap(reached) is inspect.unwrap(grad)
