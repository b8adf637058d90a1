"""Gradient hooks on tensors and forward hooks on modules, with PyTorch's semantics:
`register_hook` sees (and may replace) a tensor's gradient, before a leaf accumulates it;
`register_forward_pre_hook` / `register_forward_hook` see (and may replace) a module's inputs
and output; every handle's `remove()` takes its hook off."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn


def test_gradient_hook_sees_and_replaces_the_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    h = x * 2.0  # an intermediate: its gradient is 3 * h^2 = 12 x^2
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.copy()))
    F.sum(h ** 3).backward()
    np.testing.assert_allclose(seen[0], 12 * x.data ** 2)
    np.testing.assert_allclose(x.grad, 24 * x.data ** 2)  # the chain rule carries on
    # a hook that returns an array replaces the gradient for everything before it
    x.grad = None
    h2 = x * 2.0
    h2.register_hook(lambda g: np.zeros_like(g) + 1.0)
    F.sum(h2 ** 3).backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])
    handle.remove()
    h3 = x * 2.0
    h3.register_hook(lambda g: seen.append(g)).remove()
    F.sum(h3).backward()
    assert len(seen) == 1  # removed hooks are not called


def test_leaf_hook_runs_before_accumulation_and_can_be_removed():
    w = Tensor(np.ones(2), requires_grad=True)
    handle = w.register_hook(lambda g: g * 10)
    F.sum(w * 3.0).backward()
    np.testing.assert_allclose(w.grad, [30.0, 30.0])
    F.sum(w * 1.0).backward()  # accumulates the hooked 10 on top
    np.testing.assert_allclose(w.grad, [40.0, 40.0])
    handle.remove()
    F.sum(w * 1.0).backward()
    np.testing.assert_allclose(w.grad, [41.0, 41.0])


def test_gradient_hook_errors():
    with pytest.raises(RuntimeError, match="does not require gradients"):
        Tensor(np.ones(2)).register_hook(lambda g: g)
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="a hook must be callable"):
        w.register_hook(3)
    w.register_hook(lambda g: np.ones(3))
    with pytest.raises(RuntimeError, match=r"gradient of shape \(3,\) for a tensor of shape "
                                           r"\(2,\)"):
        F.sum(w * 1.0).backward()


def test_forward_hooks_read_and_replace_inputs_and_outputs():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    activations = {}
    handle = model[1].register_forward_hook(
        lambda module, args, output: activations.__setitem__("relu", output.data.copy()))
    out = model(x)
    np.testing.assert_array_equal(activations["relu"], F.relu(model[0](x)).data)
    handle.remove()
    activations.clear()
    model(x)
    assert activations == {}
    # a pre-hook that doubles the input, a hook that negates the output
    with model[0].register_forward_pre_hook(lambda module, args: args[0] * 2.0):
        doubled = model[0](x)
    np.testing.assert_allclose(doubled.data, model[0](x * 2.0).data, rtol=1e-6)
    with model.register_forward_hook(lambda module, args, output: -output):
        np.testing.assert_allclose(model(x).data, -out.data, rtol=1e-6)
    np.testing.assert_allclose(model(x).data, out.data, rtol=1e-6)  # removed on exit
