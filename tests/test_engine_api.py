"""The rest of torch's engine API: backward(inputs=, gradient=), post-accumulate-grad hooks,
grad_fn as a graph Node (name, next_functions, hooks, metadata), dlpy.autograd.graph."""

import numpy as np
import pytest
from dlpy.autograd.graph import Node, increment_version

import dlpy
from dlpy import Tensor, nn, optim
from dlpy.tensor import AccumulateGrad


def _leaf(values):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=True)


# ----------------------------------------------------------------- backward(inputs=)
def test_backward_accumulates_only_into_inputs():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    x = a * b
    y = (x * 2).sum()
    y.backward(inputs=[x], retain_graph=True)  # a non-leaf gets its .grad, the leaves none
    assert x.grad.tolist() == [2.0, 2.0] and a.grad is None and b.grad is None
    y.backward(inputs=[a])  # a leaf; accumulates as .grad does
    assert a.grad.tolist() == [6.0, 8.0] and b.grad is None
    # x retains its gradient since it was an input (as torch's): the second pass adds to it
    assert x.retains_grad and x.grad.tolist() == [4.0, 4.0]
    a.grad = np.array([1.0, 1.0])
    ((a * b).sum()).backward(inputs=(a, b))  # summed with what was there
    assert a.grad.tolist() == [4.0, 5.0] and b.grad.tolist() == [1.0, 2.0]


def test_backward_with_inputs_runs_only_the_ops_on_a_path_to_them():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    ran = []
    left = a.exp()
    right = b * 3
    right.register_hook(lambda g: ran.append("right"))
    left.register_hook(lambda g: ran.append("left"))
    (left.sum() + right.sum()).backward(inputs=[a])
    assert ran == ["left"] and b.grad is None
    np.testing.assert_allclose(a.grad, np.exp([1.0, 2.0]))
    c = _leaf([5.0])
    (a * 2).sum().backward(inputs=[c])  # not reached: its .grad stays, as torch's
    assert c.grad is None


def test_autograd_backward_inputs_and_the_gradient_keyword():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    y1, y2 = a * b, a + b
    dlpy.autograd.backward([y1, y2], [np.ones(2), np.full(2, 2.0)], inputs=[b])
    assert b.grad.tolist() == [3.0, 4.0] and a.grad is None
    y = a * b
    y.backward(gradient=np.array([1.0, 10.0]))  # torch's keyword
    assert a.grad.tolist() == [3.0, 40.0]
    y = a * b
    y.backward(np.array([1.0, 1.0]), None)  # dlpy's positional grad_output; retain_graph None
    assert a.grad.tolist() == [6.0, 44.0]
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward(np.array([1.0, 1.0]))


def test_backward_inputs_errors():
    a = _leaf([1.0, 2.0])
    y = (a * 2).sum()
    with pytest.raises(ValueError, match=r"backward: inputs is empty"):
        y.backward(inputs=[])
    with pytest.raises(ValueError, match=r"backward: inputs\[1\] \(shape \(3,\)\) does not "
                                         r"require gradients"):
        y.backward(inputs=[a, Tensor(np.zeros(3))])
    with pytest.raises(TypeError, match=r"backward: inputs\[0\] is a ndarray, not a dlpy Tensor"):
        y.backward(inputs=[np.zeros(2)])
    with pytest.raises(TypeError, match=r"backward: give grad_output or gradient"):
        y.backward(np.ones(()), gradient=np.ones(()))
    with pytest.raises(ValueError, match=r"autograd.backward: inputs is empty"):
        dlpy.autograd.backward(y, inputs=[])


# ----------------------------------------------------------------- post-accumulate-grad hooks
def test_post_accumulate_grad_hook_sees_the_accumulated_grad():
    a = _leaf([1.0, 2.0])
    seen = []
    handle = a.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    (a * 3).sum().backward()
    (a * 3).sum().backward()  # called each backward, after the sum
    assert [s.tolist() for s in seen] == [[3.0, 3.0], [6.0, 6.0]]
    (a * 3).sum().backward(inputs=[a])  # with inputs= too
    assert seen[-1].tolist() == [9.0, 9.0]
    handle.remove()
    (a * 3).sum().backward()
    assert len(seen) == 3


def test_an_optimiser_step_inside_backward():
    # torch's optimiser-in-backward recipe: each parameter steps as soon as its grad is in
    model = nn.Linear(3, 1, rng=np.random.default_rng(0), dtype=np.float64)
    reference = nn.Linear(3, 1, dtype=np.float64)
    reference.load_state_dict(model.state_dict())
    optimisers = {p: optim.SGD([p], lr=0.1) for p in model.parameters()}

    def step(p):
        optimisers[p].step()
        optimisers[p].zero_grad()

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(step)
    ref_opt = optim.SGD(reference.parameters(), lr=0.1)
    x = Tensor(np.random.default_rng(1).standard_normal((8, 3)))
    target = Tensor(np.ones((8, 1)))
    for _ in range(5):
        ((model(x) - target) ** 2).mean().backward()
        ref_opt.zero_grad()
        ((reference(x) - target) ** 2).mean().backward()
        ref_opt.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)
        assert p.grad is None


def test_post_accumulate_grad_hook_errors():
    a = _leaf([1.0])
    with pytest.raises(RuntimeError, match=r"register_post_accumulate_grad_hook: post "
                                           r"accumulate grad hooks can be registered on leaf "
                                           r"tensors only, this one is the output of Mul"):
        (a * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match=r"cannot register a hook on a tensor that does not "
                                           r"require gradients"):
        Tensor(np.zeros(2)).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match=r"a hook must be callable, got int"):
        a.register_post_accumulate_grad_hook(3)
    a.register_post_accumulate_grad_hook(lambda t: 5)
    with pytest.raises(TypeError, match=r"register_post_accumulate_grad_hook: a hook must "
                                        r"return None .* got a int"):
        (a * 2).sum().backward()


# ----------------------------------------------------------------- grad_fn as a Node
def test_grad_fn_name_and_next_functions():
    a = _leaf([1.0, 2.0])
    c = Tensor(np.array([3.0, 4.0]))
    y = (a.exp() * c).sum()
    node = y.grad_fn
    assert isinstance(node, Node) and node.name() == "SumBackward0"
    ((mul, index),) = node.next_functions
    assert index == 0 and mul.name() == "MulBackward0" and isinstance(mul, Node)
    (exp, _), (none, _) = mul.next_functions
    assert exp.name() == "ExpBackward0" and none is None  # c needs no gradient
    ((accumulate, _),) = exp.next_functions
    assert isinstance(accumulate, AccumulateGrad) and isinstance(accumulate, Node)
    assert accumulate.variable is a and accumulate.name() == "torch::autograd::AccumulateGrad"
    assert accumulate.next_functions == () and accumulate == exp.next_functions[0][0]
    assert a.grad_fn is None and "MulBackward0" in repr(mul)


def test_grad_fn_hooks_replace_gradients():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    y = a * b
    calls = []

    def pre(grad_outputs):
        calls.append(("pre", grad_outputs[0].tolist()))
        return (grad_outputs[0] * 10,)

    def post(grad_inputs, grad_outputs):
        calls.append(("post", [g.tolist() for g in grad_inputs], grad_outputs[0].tolist()))
        return (grad_inputs[0], np.zeros(2))

    y.grad_fn.register_prehook(pre)
    handle = y.grad_fn.register_hook(post)
    y.sum().backward(retain_graph=True)
    assert calls == [("pre", [1.0, 1.0]), ("post", [[30.0, 40.0], [10.0, 20.0]], [10.0, 10.0])]
    assert a.grad.tolist() == [30.0, 40.0] and b.grad.tolist() == [0.0, 0.0]
    handle.remove()
    y.sum().backward()
    assert a.grad.tolist() == [60.0, 80.0] and b.grad.tolist() == [10.0, 20.0]


def test_grad_fn_hooks_in_a_create_graph_pass_and_metadata():
    a = _leaf([1.0, 2.0])
    y = a ** 2
    y.grad_fn.metadata["layer"] = "square"
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: (grad_inputs[0] * 3,))
    (g,) = dlpy.autograd.grad(y.sum(), a, create_graph=True)  # hooks get and return Tensors
    assert isinstance(g, Tensor) and g.tolist() == [6.0, 12.0]
    (gg,) = dlpy.autograd.grad(g.sum(), a)
    assert gg.tolist() == [6.0, 6.0]
    assert y.grad_fn.metadata == {"layer": "square"}  # kept after the passes


def test_grad_fn_hook_errors():
    a = _leaf([1.0, 2.0])
    y = a * 2
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: (np.zeros(3), None))
    with pytest.raises(RuntimeError, match=r"MulBackward0.register_hook: a hook returned a "
                                           r"gradient of shape \(3,\) for gradient 0 of shape "
                                           r"\(2,\)"):
        y.sum().backward()
    y = a * 2
    y.grad_fn.register_prehook(lambda grad_outputs: grad_outputs[0])
    with pytest.raises(TypeError, match=r"MulBackward0.register_prehook: a hook must return None "
                                        r"or a tuple of 1 gradients, got Tensor"):
        y.sum().backward()
    with pytest.raises(TypeError, match=r"MulBackward0.register_hook: a hook must be callable"):
        (a * 2).grad_fn.register_hook(None)


def test_increment_version_is_torchs():
    a = _leaf([1.0, 2.0])
    y = (a * a).sum()
    increment_version(a)
    assert a._version == 1
    with pytest.raises(RuntimeError, match=r"input 0 of Mul"):
        y.backward()
    import dlpy.autograd.graph as graph  # an importable submodule, as torch's

    assert graph.Node is Node and "increment_version" in graph.__all__


def test_accumulate_grad_pre_hook_returning_none_adds_nothing():
    w = _leaf([1.0, 2.0])
    node = (w * 1).grad_fn.next_functions[0][0]
    seen = []
    node.register_prehook(lambda grads: (None,))  # as torch's: .grad stays None
    node.register_prehook(lambda grads: seen.append(("pre", grads)))
    node.register_hook(lambda grad_inputs, grad_outputs: seen.append(("post", grad_outputs)))
    w.register_post_accumulate_grad_hook(lambda p: seen.append("accumulated"))
    (w * 2).sum().backward()
    assert w.grad is None
    assert seen == [("pre", (None,)), "accumulated", ("post", (None,))]
