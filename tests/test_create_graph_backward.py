"""backward(create_graph=True): leaves' .grad get a graph and can be differentiated again,
against PyTorch (tests/fixtures/make_create_graph_backward_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import Tensor
from dlpy.tensor import Op

REF = np.load(Path(__file__).parent / "fixtures" / "autograd" / "create_graph_backward.npz")


def leaf(name: str) -> Tensor:
    return Tensor(REF[name].copy(), requires_grad=True)


def close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)


def test_hessian_vector_product_of_an_mlp():
    x, y = Tensor(REF["hvp:x"]), Tensor(REF["hvp:y"])
    params = {k: leaf(f"hvp:{k}") for k in ("w1", "b1", "w2", "b2")}
    h = (x @ params["w1"].T + params["b1"]).tanh()
    loss = ((h @ params["w2"].T + params["b2"] - y) ** 2).sum()
    loss.backward(create_graph=True)
    grads = {k: p.grad for k, p in params.items()}
    for k, g in grads.items():
        assert g.requires_grad and g.grad_fn is not None
        close(g, REF[f"hvp:grad:{k}"])
    for p in params.values():
        p.grad = None
    sum((grads[k] * Tensor(REF[f"hvp:v:{k}"])).sum() for k in params).backward()
    for k, p in params.items():
        assert not p.grad.requires_grad  # a plain backward gives plain gradients
        close(p.grad, REF[f"hvp:hvp:{k}"])


def test_gradient_penalty_parameter_gradients():
    real, fake, eps = (Tensor(REF[f"gp:{k}"]) for k in ("real", "fake", "eps"))
    critic = {k: leaf(f"gp:{k}") for k in ("w1", "b1", "w2", "b2")}

    def d(z):
        return (z @ critic["w1"].T + critic["b1"]).tanh() @ critic["w2"].T + critic["b2"]

    x_hat = Tensor((eps * real + (1 - eps) * fake).data, requires_grad=True)
    d(x_hat).sum().backward(create_graph=True)
    penalty = ((((x_hat.grad ** 2).sum(1)).sqrt() - 1) ** 2).mean()
    close(penalty.data, REF["gp:penalty"])
    for p in critic.values():
        p.grad = None
    (d(real).mean() - d(fake).mean() + 10 * penalty).backward()
    for k, p in critic.items():
        close(p.grad, REF[f"gp:grad:{k}"])


def test_second_order_maml_step():
    xs, ys, xq, yq = (Tensor(REF[f"maml:{k}"]) for k in ("xs", "ys", "xq", "yq"))
    w, b = leaf("maml:w"), leaf("maml:b")
    ((xs @ w + b - ys) ** 2).mean().backward(create_graph=True)
    fast_w, fast_b = w - 0.1 * w.grad, b - 0.1 * b.grad
    w.grad = b.grad = None
    ((xq @ fast_w + fast_b - yq) ** 2).mean().backward()
    close(w.grad, REF["maml:grad:w"])
    close(b.grad, REF["maml:grad:b"])


def test_two_create_graph_backwards_accumulate_with_a_recorded_add():
    x, c = leaf("acc:x"), Tensor(REF["acc:c"])
    (x ** 3).sum().backward(create_graph=True)
    dlpy.autograd.backward((c * x ** 2).sum(), create_graph=True)
    grad1 = x.grad
    close(grad1, REF["acc:grad1"])
    x.grad = None
    (grad1 ** 2).sum().backward()
    close(x.grad, REF["acc:grad2"])


def test_create_graph_keeps_the_graph_and_a_plain_backward_adds_values():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x ** 3).sum()
    y.backward(create_graph=True)  # retain_graph defaults to create_graph, as torch
    y.backward(retain_graph=True)  # the graph is still there: adds 3 x^2 again
    close(x.grad, 6 * x.data ** 2)
    x.grad = None
    y.backward(create_graph=True, inputs=[x])
    (x.grad.sum()).backward()  # d/dx sum(3 x^2) = 6 x added to .grad's values
    close(x.grad, 3 * x.data ** 2 + 6 * x.data)


def test_create_graph_with_a_grad_output_that_has_a_graph():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    v = Tensor(np.array([0.5, 3.0]), requires_grad=True)
    (x ** 2).backward(v, create_graph=True)  # x.grad = 2 x v, a function of v too
    x.grad.sum().backward(inputs=[v])
    close(v.grad, 2 * x.data)


def test_hooks_get_tensors_in_a_create_graph_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g) or g * 2)
    (x ** 2).sum().backward(create_graph=True)
    assert isinstance(seen[0], Tensor) and seen[0].requires_grad
    close(x.grad, 4 * x.data)


def test_retain_grad_keeps_the_graph_of_a_create_graph_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x ** 2
    y.retain_grad()
    (y ** 2).sum().backward(create_graph=True)
    assert y.grad.requires_grad
    close(y.grad, 2 * y.data)
    x.grad = None
    y.grad.sum().backward(inputs=[x])  # d/dx sum(2 x^2)
    close(x.grad, 4 * x.data)


def test_an_op_without_a_double_backward_says_so():
    class Twice(Op):  # first-order only: no backward_graph
        def forward(self, x):
            return 2 * x

        def backward(self, grad_output):
            return (2 * grad_output,)

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="Twice has no differentiable"):
        Twice()(x).sum().backward(create_graph=True)
    assert x.grad is None
