"""dlpy.func (torch.func): grad, vjp, jvp, jacrev, hessian, vmap and functional_call, against
torch.func's values (tests/fixtures/func/func.npz, made by make_func_fixtures.py), against
loops and finite differences, and their errors."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.autograd import grad as autograd_grad
from dlpy.func import (
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    vjp,
    vmap,
)
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "func" / "func.npz"
LR = 0.1  # make_func_fixtures.LR


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def case(ref, name: str) -> dict[str, np.ndarray]:
    return {k[len(name) + 1:]: v for k, v in ref.items() if k.startswith(name + ":")}


def t(array, requires_grad: bool = False) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def mlp(sizes, weights) -> nn.Sequential:
    """make_func_fixtures.model_with in dlpy: Linear, Tanh, Linear..., float64."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(n_in, n_out, dtype=np.float64)] + \
            ([nn.Tanh()] if i < len(sizes) - 2 else [])
    model = nn.Sequential(*layers)
    model.load_state_dict(weights)
    return model


def weights_of(data):
    return {k[2:]: v for k, v in data.items() if k.startswith("w:")}


# ----------------------------------------------------------------------------- torch values
def test_per_sample_gradients_match_torch_and_a_loop(ref):
    data = case(ref, "per_sample")
    model = mlp((4, 5, 3), weights_of(data))
    params = {k: p.detach() for k, p in model.named_parameters()}
    x, labels = t(data["x"]), Tensor(data["labels"])

    def loss(params, x, label):
        logits = functional_call(model, params, (x.unsqueeze(0),))
        return F.cross_entropy(logits, label.unsqueeze(0))

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, labels)
    assert list(grads) == list(params)
    for k, g in grads.items():
        assert g.shape == (6,) + params[k].shape
        np.testing.assert_allclose(g.data, data[f"grad:{k}"], rtol=1e-10, atol=1e-12)
    for i in range(6):  # the loop vmap stands for: backward one sample at a time
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), labels[i:i + 1]).backward()
        for k, p in model.named_parameters():
            np.testing.assert_allclose(grads[k].data[i], p.grad, rtol=1e-12, atol=1e-14)
    for p in params.values():
        assert p.grad is None  # no side effects on .grad


def test_hessian_of_two_arguments_matches_torch(ref):
    data = case(ref, "hessian")

    def two_args(x, y):
        return (F.sin(x) * y ** 2).sum() + F.tanh((x * y).sum())

    blocks = hessian(two_args, argnums=(0, 1))(t(data["x"]), t(data["y"]))
    for i in range(2):
        for j in range(2):
            assert blocks[i][j].shape == (3, 3) and not blocks[i][j].requires_grad
            np.testing.assert_allclose(blocks[i][j].data, data[f"h{i}{j}"], rtol=1e-10,
                                       atol=1e-12)
    single = hessian(two_args)(t(data["x"]), t(data["y"]))  # argnums=0: one block
    np.testing.assert_allclose(single.data, data["h00"], rtol=1e-10, atol=1e-12)


def layer(x, w):
    return F.tanh(x @ w) + x.sum()


def test_jacrev_vjp_jvp_match_torch(ref):
    data = case(ref, "jac")
    x, w = t(data["x"]), t(data["w"])
    jac_x, jac_w = jacrev(layer, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(jac_x.data, data["jac_x"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jac_w.data, data["jac_w"], rtol=1e-10, atol=1e-12)
    forward = jacfwd(layer, argnums=1)(x, w)  # computed as jacrev
    np.testing.assert_allclose(forward.data, data["jac_w"], rtol=1e-10, atol=1e-12)
    value, vjp_fn = vjp(layer, x, w)
    np.testing.assert_allclose(value.data, data["value"], rtol=1e-12)
    products = vjp_fn(t(data["cotangent"]))
    assert isinstance(products, tuple) and len(products) == 2
    np.testing.assert_allclose(products[0].data, data["vjp_x"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(products[1].data, data["vjp_w"], rtol=1e-10, atol=1e-12)
    again = vjp_fn(t(data["cotangent"]) * 2)  # vjp_fn can be called again
    np.testing.assert_allclose(again[1].data, 2 * data["vjp_w"], rtol=1e-10, atol=1e-12)
    value, tangent_out = jvp(layer, (x, w), (t(data["tx"]), t(data["tw"])))
    np.testing.assert_allclose(value.data, data["value"], rtol=1e-12)
    np.testing.assert_allclose(tangent_out.data, data["jvp"], rtol=1e-10, atol=1e-12)


def query_loss(model, params, data, lr=LR):
    """One MAML inner step from ``params`` on the support set, the loss on the query set."""
    support = F.mse_loss(functional_call(model, params, (t(data["support_x"]),)),
                         t(data["support_y"]))
    grads = autograd_grad(support, list(params.values()), create_graph=True)
    adapted = {k: p - lr * g for (k, p), g in zip(params.items(), grads)}
    return F.mse_loss(functional_call(model, adapted, (t(data["query_x"]),)),
                      t(data["query_y"]))


def test_maml_step_through_functional_call_matches_torch(ref):
    data = case(ref, "maml")
    model = mlp((3, 4, 1), weights_of(data))
    before = {k: p.data.copy() for k, p in model.named_parameters()}
    query = query_loss(model, dict(model.named_parameters()), data)
    np.testing.assert_allclose(query.data, data["query_loss"], rtol=1e-12)
    query.backward()
    for k, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, data[f"grad:{k}"], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(p.data, before[k])  # the module got its weights back
        assert isinstance(p, nn.Parameter) and model.get_parameter(k) is p

    # the same meta-gradient as a composition of transforms: grad of (grad inside)
    def meta_loss(params):
        inner = grad(lambda p: F.mse_loss(functional_call(model, p, (t(data["support_x"]),)),
                                          t(data["support_y"])))(params)
        adapted = {k: p - LR * inner[k] for k, p in params.items()}
        return F.mse_loss(functional_call(model, adapted, (t(data["query_x"]),)),
                          t(data["query_y"]))

    model.zero_grad()
    meta = grad(meta_loss)({k: p.detach() for k, p in model.named_parameters()})
    for k, p in model.named_parameters():
        np.testing.assert_allclose(meta[k].data, data[f"grad:{k}"], rtol=1e-10, atol=1e-12)
        assert p.grad is None


# ----------------------------------------------------------------------------- grad
def test_grad_of_grad_of_sin_is_minus_sin():
    x = t([-2.0, -0.3, 0.0, 0.7, 1.9])
    d1 = vmap(grad(F.sin))(x)
    d2 = vmap(grad(grad(F.sin)))(x)
    d3 = vmap(grad(grad(grad(F.sin))))(x)
    np.testing.assert_allclose(d1.data, np.cos(x.data), rtol=1e-14)
    np.testing.assert_allclose(d2.data, -np.sin(x.data), rtol=1e-14)
    np.testing.assert_allclose(d3.data, -np.cos(x.data), rtol=1e-14)
    assert not d2.requires_grad


def test_grad_composes_with_autograd_and_leaves_grad_alone():
    x = t([0.4, -1.1, 2.0], requires_grad=True)
    gx = grad(lambda x: (x ** 3).sum())(x)
    assert x.grad is None and gx.requires_grad  # x is differentiated from outside: recorded
    np.testing.assert_allclose(gx.data, 3 * x.data ** 2, rtol=1e-14)
    (second,) = autograd_grad(gx.sum(), x)
    np.testing.assert_allclose(second.data, 6 * x.data, rtol=1e-14)
    with dlpy.no_grad():  # a transform still differentiates; its result is a constant
        constant = grad(lambda x: (x ** 3).sum())(x)
    assert not constant.requires_grad
    np.testing.assert_allclose(constant.data, gx.data)


def test_grad_of_a_closure_over_a_tensor_that_requires_grad():
    w = t([1.5, -0.5], requires_grad=True)
    x = t([0.3, 0.8])
    gx = grad(lambda x: (F.sin(x) * w).sum())(x)  # w * cos(x): depends on w
    assert gx.requires_grad
    (gw,) = autograd_grad(gx.sum(), w)
    np.testing.assert_allclose(gw.data, np.cos(x.data), rtol=1e-14)


def test_grad_result_passes_gradcheck():
    x = t([0.2, -0.9, 1.3], requires_grad=True)
    w = t([[0.5, -1.0, 0.3], [0.1, 0.4, -0.7]], requires_grad=True)
    assert gradcheck(lambda x, w: grad(lambda x: F.tanh(w @ x).sum())(x) * x, x, w)


def test_grad_argnums_pytrees_and_unused_arguments():
    a, b = t([1.0, 2.0]), t([3.0, -1.0])

    def f(a, b, scale=1.0):
        return (a * a * b).sum() * scale

    ga, gb = grad(f, argnums=(0, 1))(a, b, scale=2.0)
    np.testing.assert_allclose(ga.data, 4 * a.data * b.data)
    np.testing.assert_allclose(gb.data, 2 * a.data ** 2)
    np.testing.assert_allclose(grad(f, argnums=-1)(a, b).data, a.data ** 2)
    tree = {"w": [a, (b,)], "u": t(5.0)}  # u unused: zeros
    g = grad(lambda p: (p["w"][0] * p["w"][1][0]).sum())(tree)
    assert list(g) == ["w", "u"] and isinstance(g["w"], list) and isinstance(g["w"][1], tuple)
    np.testing.assert_allclose(g["w"][0].data, b.data)
    np.testing.assert_allclose(g["w"][1][0].data, a.data)
    np.testing.assert_array_equal(g["u"].data, 0.0)
    np.testing.assert_array_equal(grad(lambda x: t(3.0))(a).data, [0.0, 0.0])


def test_has_aux_and_grad_and_value():
    x = t([0.5, -2.0])

    def f(x):
        y = x ** 2
        return y.sum(), {"y": y}

    g, aux = grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g.data, 2 * x.data)
    assert list(aux) == ["y"] and not aux["y"].requires_grad
    with pytest.raises(RuntimeError, match="grad: aux must be Tensors"):  # as torch's
        grad(lambda x: (x.sum(), {"tag": "kept"}), has_aux=True)(x)
    np.testing.assert_allclose(aux["y"].data, x.data ** 2)
    g, (value, aux) = grad_and_value(f, has_aux=True)(x)
    np.testing.assert_allclose(value.data, 4.25)
    g, value = grad_and_value(lambda x: (x ** 3).sum())(x)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    np.testing.assert_allclose(value.data, np.sum(x.data ** 3))
    out, vjp_fn, aux = vjp(lambda x: (x * 3, x.sum()), x, has_aux=True)
    np.testing.assert_allclose(vjp_fn(t([1.0, 1.0]))[0].data, [3.0, 3.0])
    assert float(aux.data) == -1.5
    value, tangent_out, aux = jvp(lambda x: (x ** 2, x[0]), (x,), (t([1.0, 0.0]),),
                                  has_aux=True)
    np.testing.assert_allclose(tangent_out.data, [1.0, 0.0])
    assert float(aux.data) == 0.5
    with pytest.raises(RuntimeError, match="jvp: aux must be Tensors"):  # as torch's
        jvp(lambda x: (x ** 2, "aux"), (x,), (t([1.0, 0.0]),), has_aux=True)
    jac, aux = jacrev(lambda x: (x ** 2, x.sum()), has_aux=True)(x)
    np.testing.assert_allclose(jac.data, np.diag(2 * x.data))


def test_jacrev_and_vjp_of_pytree_outputs():
    x = t([1.0, 2.0, 3.0])
    jac = jacrev(lambda p: {"sq": p["x"] ** 2, "sum": (p["x"] * p["y"]).sum()})(
        {"x": x, "y": t(2.0)})
    np.testing.assert_allclose(jac["sq"]["x"].data, np.diag(2 * x.data))
    assert jac["sq"]["y"].shape == (3,)
    np.testing.assert_array_equal(jac["sq"]["y"].data, 0.0)
    np.testing.assert_allclose(jac["sum"]["x"].data, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(jac["sum"]["y"].data, 6.0)
    (out_a, out_b), vjp_fn = vjp(lambda x: (x * 2, x.sum()), x)
    (g,) = vjp_fn((t([1.0, 0.0, 0.0]), t(10.0)))
    np.testing.assert_allclose(g.data, [12.0, 10.0, 10.0])


def test_jvp_and_vjp_compose_with_grad():
    x = t([0.3, -0.4])
    # d/dx of the directional derivative of sum(sin(x)) along v: -sin(x) * v
    v = t([1.0, 2.0])
    g = grad(lambda x: jvp(lambda y: F.sin(y).sum(), (x,), (v,))[1])(x)
    np.testing.assert_allclose(g.data, -np.sin(x.data) * v.data, rtol=1e-14)
    g = grad(lambda x: vjp(lambda y: F.sin(y), x)[1](v)[0].sum())(x)
    np.testing.assert_allclose(g.data, -np.sin(x.data) * v.data, rtol=1e-14)


# ----------------------------------------------------------------------------- vmap
def test_vmap_in_dims_out_dims_and_nested_pytrees():
    rng = np.random.default_rng(0)
    a, b, c = (t(rng.standard_normal(s)) for s in ((4, 3), (3, 4), (3,)))

    def f(pair, bias, scale=1.0):
        return {"sum": (pair[0] * pair[1] + bias) * scale, "dot": (pair[0] * pair[1]).sum()}

    out = vmap(f, in_dims=((0, 1), None))((a, b), c, scale=2.0)
    np.testing.assert_allclose(out["sum"].data, (a.data * b.data.T + c.data) * 2.0)
    np.testing.assert_allclose(out["dot"].data, np.sum(a.data * b.data.T, axis=1))
    moved = vmap(lambda x: x * 2, in_dims=1, out_dims=1)(b)
    np.testing.assert_allclose(moved.data, b.data * 2)
    last = vmap(lambda x: x.sum(), in_dims=-1)(b)
    np.testing.assert_allclose(last.data, b.data.sum(axis=0))
    by_key = vmap(lambda d: d["x"] + d["y"], in_dims=({"x": 0, "y": None},))(
        {"x": a, "y": c})
    np.testing.assert_allclose(by_key.data, a.data + c.data)
    outer = vmap(vmap(lambda u, v: u * v, in_dims=(0, None)), in_dims=(None, 0))(c, a)
    np.testing.assert_allclose(outer.data, np.einsum("k,ij->ikj", c.data, a.data))
    two = vmap(lambda x: (x, x.sum()), out_dims=(1, 0))(a)
    np.testing.assert_allclose(two[0].data, a.data.T)


def test_vmap_setitem_of_a_batched_value_into_an_unbatched_tensor_is_refused():
    x = t(np.arange(6.0).reshape(2, 3))
    outside = t(np.zeros(3))

    def store(row):
        outside[0] = row.sum()  # one value per sample into one tensor: torch.func refuses
        return row

    with pytest.raises(RuntimeError, match=r"setitem: vmap: an in-place op on a tensor that is "
                                           r"not batched"):
        vmap(store)(x)

    def into_own(row):
        out = row.clone()  # batched: each sample writes its own
        out[0] = row.sum()
        out[1] = 7.0  # an unbatched number into a batched tensor
        return out

    np.testing.assert_allclose(vmap(into_own)(x).data, [[3.0, 7.0, 2.0], [12.0, 7.0, 5.0]])


def test_vmap_result_is_differentiable():
    x = t([[0.1, 0.2], [0.3, -0.4], [1.0, 2.0]], requires_grad=True)
    y = vmap(lambda row: (row ** 2).sum())(x)
    (gx,) = autograd_grad(y.sum(), x)
    np.testing.assert_allclose(gx.data, 2 * x.data)
    g = grad(lambda x: vmap(F.sin)(x).sum())(x)  # grad of vmap
    np.testing.assert_allclose(g.data, np.cos(x.data))


def test_vmap_randomness():
    x = t(np.zeros((3, 4)))
    noisy = nn.Dropout(0.5)  # draws from the default generator in training mode
    with pytest.raises(RuntimeError, match="vmap: func drew from the default random generator"):
        vmap(lambda r: noisy(r + 1))(x)
    dlpy.manual_seed(0)
    same = vmap(lambda r: noisy(r + 1), randomness="same")(x)
    assert all(np.array_equal(same.data[0], row) for row in same.data)
    dlpy.manual_seed(0)
    different = vmap(lambda r: noisy(r + 1), randomness="different")(t(np.zeros((8, 16))))
    assert not all(np.array_equal(different.data[0], row) for row in different.data)


# ----------------------------------------------------------------------------- functional_call
class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 2, bias=False, dtype=np.float64)
        self.second = nn.Linear(2, 2, bias=False, dtype=np.float64)
        self.second.weight = self.first.weight  # one Parameter under two names

    def forward(self, x):
        return self.second(self.first(x))


def test_functional_call_restores_the_module_after_an_exception():
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.Tanh())
    weight, bias = model[0].weight, model[0].bias
    new = {"0.weight": t(np.ones((2, 3))), "0.bias": t([1.0, 2.0])}

    def boom(module, args):
        assert module.weight is new["0.weight"]  # the replacement is in place during the call
        raise RuntimeError("boom")

    handle = model[0].register_forward_pre_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        functional_call(model, new, (t(np.zeros(3)),))
    handle.remove()
    assert model[0].weight is weight and model[0].bias is bias
    assert model[0]._parameters["weight"] is weight
    assert [p for p in model.parameters()] == [weight, bias]
    out = functional_call(model, new, t(np.zeros(3)))  # args need not be a tuple
    np.testing.assert_allclose(out.data, np.tanh([1.0, 2.0]))
    assert model[0].weight is weight


def test_functional_call_differentiates_to_the_given_tensors():
    model = nn.Linear(3, 1, dtype=np.float64)
    w = t(np.array([[1.0, -2.0, 0.5]]), requires_grad=True)
    x = t([[1.0, 2.0, 3.0]])
    out = functional_call(model, {"weight": w}, (x,))  # bias: the module's own
    np.testing.assert_allclose(out.data, x.data @ w.data.T + model.bias.data)
    out.sum().backward()
    np.testing.assert_allclose(w.grad, x.data)
    assert model.weight.grad is None and model.bias.grad is not None


def test_functional_call_tied_weights():
    model = Tied()
    x = t([[1.0, -1.0]])
    w = t(np.array([[2.0, 0.0], [0.0, 3.0]]))
    tied = functional_call(model, {"first.weight": w}, (x,))
    np.testing.assert_allclose(tied.data, x.data @ w.data.T @ w.data.T)
    untied = functional_call(model, {"first.weight": w}, (x,), tie_weights=False)
    np.testing.assert_allclose(untied.data, x.data @ w.data.T @ model.first.weight.data.T)
    both = functional_call(model, {"first.weight": w, "second.weight": w}, (x,))
    np.testing.assert_allclose(both.data, tied.data)
    with pytest.raises(ValueError, match=r"different values for the tied keys "
                                         r"\['first.weight', 'second.weight'\]"):
        functional_call(model, {"first.weight": w, "second.weight": w * 1}, (x,))
    assert model.second.weight is model.first.weight


def test_functional_call_buffers_strict_and_several_dicts():
    model = nn.BatchNorm1d(2, dtype=np.float64)
    mean, var = t([0.0, 0.0]), t([1.0, 1.0])
    x = t([[1.0, 2.0], [3.0, 6.0]])
    functional_call(model, ({"running_mean": mean}, {"running_var": var}), (x,))
    np.testing.assert_allclose(mean.data, [0.2, 0.4])  # the running statistics landed here
    np.testing.assert_array_equal(model.running_mean, [0.0, 0.0])  # not in the module's
    params = {k: p.detach() for k, p in model.named_parameters()}
    with pytest.raises(RuntimeError, match=r"Error\(s\) in reparametrizing for BatchNorm1d:"
                                           r"\n\tUnexpected key\(s\): 'extra'.\n\tMissing "
                                           r"key\(s\): 'running_mean', 'running_var', "
                                           r"'num_batches_tracked'."):  # torch's wording
        functional_call(model, {**params, "extra": t(1.0)}, (x,), strict=True)
    with pytest.raises(ValueError, match=r"keys \['weight'\] appear in more than one dict"):
        functional_call(model, (params, {"weight": t([1.0, 1.0])}), (x,))
    model.eval()
    out = functional_call(model, {"weight": t([2.0, 2.0]), "bias": t([1.0, 0.0])}, (x,),
                          kwargs={})
    np.testing.assert_allclose(out.data, 2.0 * x.data / np.sqrt(1 + 1e-5) + [1.0, 0.0])
    from dlpy.nn.utils.stateless import functional_call as stateless_call
    with pytest.warns(FutureWarning, match="stateless.functional_call` is deprecated"):
        again = stateless_call(model, {"weight": t([2.0, 2.0]), "bias": t([1.0, 0.0])}, (x,))
    np.testing.assert_array_equal(again.data, out.data)  # torch.func's, with torch's warning


def test_functional_call_installs_the_given_buffer_tensor_itself():
    model = nn.BatchNorm1d(2, dtype=np.float64)
    mean, var = t([0.0, 0.0]), np.ones(2)  # a Tensor (as torch) or a numpy array
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(
        (m.running_mean, m.running_var)))
    functional_call(model, {"running_mean": mean, "running_var": var},
                    (t([[1.0, 2.0], [3.0, 6.0]]),))
    assert seen[0][0] is mean  # the given Tensor is the buffer during the call, as torch's
    assert type(seen[0][1]) is Tensor and seen[0][1].data is var  # an array: wrapped, no copy
    np.testing.assert_allclose(var, [1.1, 1.7])  # the running variance landed in the array
    assert type(model.running_mean) is Tensor and model._buffers["running_mean"] is \
        model.running_mean


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", np.zeros(()))

    def forward(self, x):
        self.count = self.count + 1  # replaces the buffer, as torch's write-back case
        return x * self.count


def test_functional_call_buffer_replaced_during_the_call_and_parametrizations():
    model = Counter()
    state = {"count": t(5.0)}
    np.testing.assert_allclose(functional_call(model, state, t(2.0)).data, 12.0)
    assert float(state["count"].data) == 6.0 and float(model.count) == 0.0

    from dlpy.nn.utils import parametrize

    class Double(nn.Module):
        def forward(self, w):
            return w * 2

    layer = nn.Linear(2, 1, bias=False, dtype=np.float64)
    parametrize.register_parametrization(layer, "weight", Double())
    out = functional_call(layer, {"parametrizations.weight.original": t([[1.0, 2.0]])},
                          (t([[1.0, 1.0]]),))
    np.testing.assert_allclose(out.data, [[6.0]])
    with pytest.raises(ValueError, match="functional_call: 'weight' is computed \\(a "
                                         "parametrization\\?\\); give its underlying tensor, "
                                         "e.g. 'parametrizations.weight.original'"):
        functional_call(layer, {"weight": t([[1.0, 2.0]])}, (t([[1.0, 1.0]]),))


def test_dlpy_func_is_a_lazy_submodule():
    assert "func" in dir(dlpy) and dlpy.func.grad is grad and dlpy.func.vmap is vmap


def test_functional_call_errors():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="functional_call: module must be a dlpy.nn.Module, "
                                        "got function"):
        functional_call(lambda x: x, {}, ())
    with pytest.raises(TypeError, match="parameter_and_buffer_dicts must be a dict or a tuple "
                                        "of dicts"):
        functional_call(model, [1, 2], ())
    with pytest.raises(TypeError, match="the value for 'weight' must be a dlpy Tensor, got "
                                        "list"):
        functional_call(model, {"weight": [[1.0, 2.0]]}, ())
    with pytest.raises(AttributeError, match="functional_call: no submodule for key 'a.weight'"):
        functional_call(model, {"a.weight": t(1.0)}, ())
    assert model.__dict__.get("a") is None and "weight" in model._parameters


# ----------------------------------------------------------------------------- errors
def test_grad_errors():
    x = t([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"grad: the function must return a scalar \(one "
                                         r"element\), got shape \(3,\)"):
        grad(lambda x: x * 2)(x)
    with pytest.raises(RuntimeError, match="grad: the function must return a Tensor, got float"):
        grad(lambda x: 1.0)(x)
    with pytest.raises(RuntimeError, match="grad: argnums must be an int or a tuple of ints, "
                                           "got '0'"):
        grad(lambda x: x.sum(), argnums="0")
    with pytest.raises(RuntimeError, match="grad: argnums must not be an empty tuple"):
        grad(lambda x: x.sum(), argnums=())
    with pytest.raises(RuntimeError, match=r"grad: argnum=2 is out of range for 2 positional "
                                           r"argument\(s\)"):
        grad(lambda x, y: x.sum(), argnums=2)(x, x)
    with pytest.raises(RuntimeError, match=r"grad: argnums \(0, -2\) names an argument twice"):
        grad(lambda x, y: x.sum(), argnums=(0, -2))(x, x)
    with pytest.raises(ValueError, match="grad: argument 0 must be Tensors .*, got int"):
        grad(lambda x: x)(3)
    with pytest.raises(RuntimeError, match="grad: input 0 has dtype int64"):
        grad(lambda x: x.sum())(Tensor(np.array([1, 2])))
    with pytest.raises(RuntimeError, match=r"grad: with has_aux=True the function must return "
                                           r"an \(output, aux\) tuple, got a Tensor"):
        grad(lambda x: x.sum(), has_aux=True)(x)


def test_transform_errors():
    x = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match="jvp: primals must be a tuple"):
        jvp(F.sin, x, (x,))
    with pytest.raises(RuntimeError, match=r"jvp: tangents\[0\] has shape \(3,\), the "
                                           r"primal \(2,\)"):
        jvp(F.sin, (x,), (t([1.0, 2.0, 3.0]),))
    _, vjp_fn = vjp(lambda x: (x, x), x)
    with pytest.raises(RuntimeError, match="vjp: the cotangents must have the structure of "
                                           "the output, got a Tensor"):
        vjp_fn(x)
    with pytest.raises(RuntimeError, match="jacrev: the function's output must be Tensors"):
        jacrev(lambda x: [x, 1.0])(x)
    with pytest.raises(RuntimeError, match="vmap: randomness must be one of"):
        vmap(F.sin, randomness="fresh")
    with pytest.raises(ValueError, match="vmap: the mapped inputs must have the same size in "
                                         "their mapped dimension, got 2 and 3"):
        vmap(lambda a, b: a)(x, t([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="vmap: in_dim=0 for an input of type float"):
        vmap(lambda a, b: a)(x, 1.0)
    with pytest.raises(ValueError, match=r"vmap: in_dim=1 is out of range for a Tensor with 1 "
                                         r"dimension\(s\)"):
        vmap(F.sin, in_dims=1)(x)
    with pytest.raises(ValueError, match="vmap: at least one input must be a Tensor mapped"):
        vmap(F.sin, in_dims=None)(x)
    with pytest.raises(ValueError, match=r"vmap: in_dims must be an int, None, or a tuple with "
                                         r"one entry per positional argument \(2\)"):
        vmap(lambda a, b: a, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="vmap: in_dims .* must be an int, None, or a "
                                         "tuple/list/dict of them matching"):
        vmap(lambda d: d["a"], in_dims=({"b": 0},))({"a": x})
    with pytest.raises(ValueError, match="vmap: func must return Tensors .*, got float"):
        vmap(lambda a: 1.0)(x)
    with pytest.raises(ValueError, match="vmap: out_dims=None for output 0, which differs"):
        vmap(lambda a: a, out_dims=None)(x)
