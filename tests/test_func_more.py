"""dlpy.func.linearize and stack_module_state against torch.func (tests/fixtures/nn_utils_more,
written by tests/fixtures/make_nn_utils_more_fixtures.py): linearize's output and its jvp_fn
for several tangents (equal to jvp's); the ensembling recipe stack_module_state + vmap +
functional_call, its gradients; errors."""

import json
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn
from dlpy.func import functional_call, jvp, linearize, stack_module_state, vmap

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "nn_utils_more" / "nn_utils_more.npz"
TOL = {"rtol": 1e-12, "atol": 1e-14}


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith(("lin:", "stack:"))}


def f(a, b):
    return dlpy.sin(a) * b, (a * b).sum()


def test_linearize_matches_torch(ref):
    x, y = dlpy.tensor(ref["lin:x"]), dlpy.tensor(ref["lin:y"])
    out, jvp_fn = linearize(f, x, y)
    np.testing.assert_allclose(out[0].data, ref["lin:out0"], **TOL)
    np.testing.assert_allclose(out[1].data, ref["lin:out1"], **TOL)
    for k in range(2):  # one linearisation, several tangents
        tangents = (dlpy.tensor(ref[f"lin:tx{k}"]), dlpy.tensor(ref[f"lin:ty{k}"]))
        products = jvp_fn(*tangents)
        assert isinstance(products, tuple) and len(products) == 2
        np.testing.assert_allclose(products[0].data, ref[f"lin:jvp0:{k}"], **TOL)
        np.testing.assert_allclose(products[1].data, ref[f"lin:jvp1:{k}"], **TOL)
        same = jvp(f, (x, y), tangents)[1]
        np.testing.assert_allclose(products[0].data, same[0].data, **TOL)


def test_linearize_calls_the_function_once_and_is_linear():
    calls = []

    def g(x):
        calls.append(1)
        return dlpy.tanh(x) * x

    x = dlpy.tensor(np.linspace(-1, 1, 5))
    out, jvp_fn = linearize(g, x)
    np.testing.assert_allclose(out.data, np.tanh(x.data) * x.data, rtol=1e-15)
    a, b = np.arange(5.0), np.ones(5)
    ja, jb = jvp_fn(dlpy.tensor(a)).data, jvp_fn(dlpy.tensor(b)).data
    np.testing.assert_allclose(jvp_fn(dlpy.tensor(2 * a - b)).data, 2 * ja - jb, rtol=1e-12)
    derivative = np.tanh(x.data) + x.data * (1 - np.tanh(x.data) ** 2)
    np.testing.assert_allclose(jb, derivative, rtol=1e-12)
    assert len(calls) == 1 and not out.requires_grad


def test_linearize_errors():
    _, jvp_fn = linearize(f, dlpy.tensor(np.ones((2, 3))), dlpy.tensor(np.ones((2, 3))))
    with pytest.raises(RuntimeError, match=r"linearize: tangents\[1\] has shape \(3,\), the "
                                           r"primal \(2, 3\)"):
        jvp_fn(dlpy.tensor(np.ones((2, 3))), dlpy.tensor(np.ones(3)))
    with pytest.raises(RuntimeError, match="linearize: the tangents must have the structure "
                                           "of the primals"):
        jvp_fn(dlpy.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="linearize: argument 0 must be Tensors"):
        linearize(f, 1.0, dlpy.tensor(np.ones(2)))


# ----------------------------------------------------------------------------- ensembles
def _models(ref):
    models = []
    for i in range(3):
        model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64),
                              nn.BatchNorm1d(4, dtype=np.float64), nn.Tanh(),
                              nn.Linear(4, 2, dtype=np.float64))
        for name, p in model.named_parameters():
            p.data = ref[f"stack:m{i}:{name}"].copy()
        for name in ("1.running_mean", "1.running_var"):
            model[1]._buffers[name.split(".")[1]][...] = ref[f"stack:m{i}:{name}"]
        models.append(model.eval())
    return models


def test_stack_module_state_and_the_ensembling_recipe_match_torch(ref):
    models = _models(ref)
    params, buffers = stack_module_state(models)
    assert list(params) == json.loads(ref["stack:params"].item())
    assert list(buffers) == json.loads(ref["stack:buffers"].item())
    np.testing.assert_array_equal(params["0.weight"].data,
                                  np.stack([m[0].weight.data for m in models]))
    assert params["0.weight"].shape == (3, 4, 3) and buffers["1.running_var"].shape == (3, 4)
    for p, name in ((params["0.weight"], "0.weight"),):  # new leaves, not the models'
        assert p.requires_grad and p.op is None and p is not models[0].get_parameter(name)
    assert not buffers["1.running_mean"].requires_grad

    def call(p, b, data):
        return functional_call(models[0], (p, b), (data,))

    x = dlpy.tensor(ref["stack:x"])
    y = vmap(call, in_dims=(0, 0, None))(params, buffers, x)
    assert y.shape == (3, 5, 2)
    np.testing.assert_allclose(y.data, ref["stack:y"], **TOL)
    for i, model in enumerate(models):
        np.testing.assert_allclose(y.data[i], model(x).data, **TOL)
    # the stacked parameters learn: their gradient is each model's own
    y.sum().backward()
    models[1](x).sum().backward()
    np.testing.assert_allclose(params["3.weight"].grad[1], models[1][3].weight.grad, **TOL)
    assert models[0][0].weight.grad is None  # the original models were not touched


def test_stack_module_state_follows_requires_grad():
    models = [nn.Linear(2, 2, rng=np.random.default_rng(i)) for i in range(2)]
    for m in models:
        m.bias.requires_grad = False
    params, buffers = stack_module_state(nn.ModuleList(models))
    assert params["weight"].requires_grad and not params["bias"].requires_grad
    assert buffers == {}


def test_stack_module_state_errors():
    with pytest.raises(RuntimeError, match="stack_module_state: expected at least one model"):
        stack_module_state([])
    with pytest.raises(RuntimeError, match="stack_module_state: expected models of one class, "
                                         r"got \['Linear', 'ReLU'\]"):
        stack_module_state([nn.Linear(2, 2), nn.ReLU()])
    with pytest.raises(RuntimeError, match="stack_module_state: expected all models in the same "
                                         "training/eval mode"):
        stack_module_state([nn.Linear(2, 2), nn.Linear(2, 2).eval()])
    mixed = [nn.Linear(2, 2), nn.Linear(2, 2)]
    mixed[1].weight.requires_grad = False
    with pytest.raises(RuntimeError, match="stack_module_state: expected weight of every model "
                                         "to have the same requires_grad"):
        stack_module_state(mixed)
    with pytest.raises(RuntimeError, match="stack_module_state: weight has different shapes"):
        stack_module_state([nn.Linear(2, 2), nn.Linear(3, 2)])
    with pytest.raises(TypeError, match="stack_module_state: expected dlpy.nn.Modules, got "
                                        "Tensor"):
        stack_module_state([Tensor(np.ones(2))])
