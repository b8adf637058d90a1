"""dlpy.func.vmap vectorised (dlpy.func_batching): equal to the loop it replaced
(``vmap(..., _vectorize=False)``, one call per sample) in values and per-sample gradients,
float64 to 1e-12, for whole models, with no op run sample by sample where a rule exists."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy import func_batching as batching
from dlpy.autograd import grad as autograd_grad
from dlpy.autograd_function import _layers as _call_site_layers
from dlpy.func import (
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacrev,
    stack_module_state,
    vmap,
)


def t(array, requires_grad: bool = False) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture(autouse=True)
def fresh_stats():
    batching.stats["op_loops"].clear()
    batching.stats.pop("vmap_loops", None)
    yield
    # vmap's dispatcher is gone after vmap (another may be on: a __torch_dispatch__ subclass
    # an earlier test made keeps its own until the collector takes the class)
    assert batching._swap is None and not [
        wraps for _, wraps in _call_site_layers if wraps.get("op_call") is batching._dispatching]


def assert_same_as_loop(func, in_dims, args, loops=(), out_dims=0, rtol=1e-12):
    """vmap(func) vectorised == the loop, leaf by leaf; only the ops named in ``loops`` ran
    sample by sample, and func was not handed back to the loop."""
    fast = vmap(func, in_dims=in_dims, out_dims=out_dims)(*args)
    assert set(batching.stats["op_loops"]) == set(loops), batching.stats
    assert "vmap_loops" not in batching.stats
    slow = vmap(func, in_dims=in_dims, out_dims=out_dims, _vectorize=False)(*args)
    fast_leaves, slow_leaves = _leaves(fast), _leaves(slow)
    assert len(fast_leaves) == len(slow_leaves)
    for a, b in zip(fast_leaves, slow_leaves):
        assert type(a) is Tensor and a.shape == b.shape
        np.testing.assert_allclose(a.data, b.data, rtol=rtol, atol=1e-13)
    return fast


def _leaves(tree):
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _leaves(v)]
    if isinstance(tree, (tuple, list)):
        return [x for v in tree for x in _leaves(v)]
    return [tree]


def detached(model):
    return {k: p.detach() for k, p in model.named_parameters()}


# ----------------------------------------------------------------------------- models
def test_mlp_per_sample_gradients():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 6, dtype=np.float64), nn.GELU(),
                          nn.Linear(6, 6, dtype=np.float64), nn.ReLU(),
                          nn.Linear(6, 3, dtype=np.float64))
    x, labels = t(rng.standard_normal((5, 4))), Tensor(rng.integers(0, 3, 5))

    def loss(params, xi, yi):
        return F.cross_entropy(functional_call(model, params, (xi.unsqueeze(0),)),
                               yi.unsqueeze(0))

    grads = assert_same_as_loop(grad(loss), (None, 0, 0), (detached(model), x, labels))
    for k in detached(model):  # and against backward, one sample at a time
        for i in range(5):
            model.zero_grad()
            F.cross_entropy(model(x[i:i + 1]), labels[i:i + 1]).backward()
            np.testing.assert_allclose(grads[k].data[i], model.get_parameter(k).grad,
                                       rtol=1e-12, atol=1e-14)


def test_mse_and_value_with_grad_and_value():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.Sigmoid(),
                          nn.Linear(4, 2, dtype=np.float64))
    x, target = t(rng.standard_normal((7, 3))), t(rng.standard_normal((7, 2)))

    def loss(params, xi, ti):
        return F.mse_loss(functional_call(model, params, (xi,)), ti)

    assert_same_as_loop(grad_and_value(loss), (None, 0, 0), (detached(model), x, target))


def test_cnn_per_sample_gradients():
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(3, 2, 3, dtype=np.float64), nn.Tanh(),
                          nn.AvgPool2d(1), nn.Flatten(), nn.Linear(2 * 2 * 2, 3,
                                                                   dtype=np.float64))
    x, labels = t(rng.standard_normal((4, 2, 8, 8))), Tensor(rng.integers(0, 3, 4))

    def loss(params, xi, yi):
        return F.cross_entropy(functional_call(model, params, (xi.unsqueeze(0),)),
                               yi.unsqueeze(0))

    assert_same_as_loop(grad(loss), (None, 0, 0), (detached(model), x, labels))
    # forward only: the weights shared, the batch folded into the convolution's N
    assert_same_as_loop(lambda xi: model(xi.unsqueeze(0)), 0, (x,))


def test_transformer_encoder_layer():
    rng = np.random.default_rng(3)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                       batch_first=True, dtype=np.float64)
    layer.eval()
    x = t(rng.standard_normal((3, 5, 8)))

    def loss(params, xi):
        return functional_call(layer, params, (xi.unsqueeze(0),)).square().mean()

    assert_same_as_loop(lambda xi: layer(xi.unsqueeze(0)), 0, (x,))
    assert_same_as_loop(grad(loss), (None, 0), (detached(layer), x))


def test_embedding_mean_pool_classifier():
    rng = np.random.default_rng(4)
    embed = nn.Embedding(10, 4, dtype=np.float64)
    head = nn.Linear(4, 3, dtype=np.float64)
    ids, labels = Tensor(rng.integers(0, 10, (6, 5))), Tensor(rng.integers(0, 3, 6))

    def loss(params, ids_i, yi):
        pooled = F.embedding(ids_i, params["embed"]).mean(axis=0)
        logits = F.linear(pooled, params["w"], params["b"])
        return F.cross_entropy(logits.unsqueeze(0), yi.unsqueeze(0))

    params = {"embed": embed.weight.detach(), "w": head.weight.detach(),
              "b": head.bias.detach()}
    assert_same_as_loop(grad(loss), (None, 0, 0), (params, ids, labels))
    assert_same_as_loop(lambda ids_i: embed(ids_i).sum(axis=-1), 0, (ids,))


def test_ensemble_of_stacked_parameters():
    rng = np.random.default_rng(5)
    models = [nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.Tanh(),
                            nn.Linear(4, 2, dtype=np.float64)) for _ in range(3)]
    params, buffers = stack_module_state(models)
    x = t(rng.standard_normal((5, 3)))

    def ensemble(p, b, xb):
        return functional_call(models[0], (p, b), (xb,))

    out = assert_same_as_loop(ensemble, (0, 0, None), (params, buffers, x))
    for i, m in enumerate(models):
        np.testing.assert_allclose(out.data[i], m(x).data, rtol=1e-12)
    # the stacked parameters are leaves: the ensemble's loss reaches them through the vmap
    fast = autograd_grad(vmap(ensemble, (0, 0, None))(params, buffers, x).square().sum(),
                         list(params.values()))
    slow = autograd_grad(vmap(ensemble, (0, 0, None), _vectorize=False)(
        params, buffers, x).square().sum(), list(params.values()))
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


# ----------------------------------------------------------------------------- semantics
def test_in_dims_out_dims_and_nesting():
    rng = np.random.default_rng(6)
    a, b, c = t(rng.standard_normal((4, 3))), t(rng.standard_normal((3, 4))), \
        t(rng.standard_normal((3,)))
    assert_same_as_loop(lambda u, v: (u * v + c).softmax(-1), (0, 1), (a, b), out_dims=1)
    assert_same_as_loop(lambda u: (u.sum(), u[:, None] @ u[None, :], u[None, ..., 1:]), -1, (b,),
                        out_dims=(0, 2, -1))
    inner = vmap(lambda u, v: (u * v).logsumexp(0) + u.var(), in_dims=(0, None))
    assert_same_as_loop(inner, (None, 0), (c, a))
    assert_same_as_loop(lambda u: vmap(lambda r: r.cumsum(0) @ c)(u.reshape(2, 3)), 0,
                        (t(rng.standard_normal((5, 6))),))
    assert_same_as_loop(lambda u: u.unsqueeze(1).expand(3, 2).flip(0), 0, (a,))


def test_nested_per_sample_gradients():
    rng = np.random.default_rng(7)
    w, x = t(rng.standard_normal((3, 2))), t(rng.standard_normal((4, 5, 3)))

    def loss(weight, xi):
        return F.tanh(xi @ weight).sum()

    inner = vmap(grad(loss), in_dims=(None, 0))
    grads = assert_same_as_loop(inner, (None, 0), (w, x))
    assert grads.shape == (4, 5, 3, 2)
    np.testing.assert_allclose(grads.data[2, 3], grad(loss)(w, x[2, 3]).data, rtol=1e-12)


def test_grad_of_vmap_and_gradient_through_the_vectorised_ops():
    rng = np.random.default_rng(8)
    w, x = t(rng.standard_normal((3, 2)), requires_grad=True), t(rng.standard_normal((5, 3)))

    def total(weight):
        return vmap(lambda xi: F.log_softmax(xi @ weight, -1).max())(x).sum()

    (slow,) = autograd_grad(
        vmap(lambda xi: F.log_softmax(xi @ w, -1).max(), _vectorize=False)(x).sum(), w)
    np.testing.assert_allclose(grad(total)(w).data, slow.data, rtol=1e-12)
    (fast,) = autograd_grad(total(w), w)
    np.testing.assert_allclose(fast.data, slow.data, rtol=1e-12)


def test_second_order_inside_vmap():
    rng = np.random.default_rng(9)
    x = t(rng.standard_normal((4, 3)))

    def f(xi):
        return (F.sin(xi) * xi).sum()

    assert_same_as_loop(grad(grad(lambda xi: f(xi))), 0, (x[:, 0],))
    hessians = vmap(hessian(f))(x)  # forward over reverse: vectorised, no loop per sample
    assert batching.stats.get("vmap_loops", 0) == 0
    for i in range(4):
        np.testing.assert_allclose(hessians.data[i], jacrev(jacrev(f))(x[i]).data,
                                   rtol=1e-12)


def test_functions_that_read_values_fall_back_to_the_loop():
    x = t([[1.0, -2.0], [-3.0, 4.0], [0.5, 0.5]])

    def data_dependent(row):
        return row * 2 if row.sum().item() > 0 else -row

    out = vmap(data_dependent)(x)
    assert batching.stats["vmap_loops"] == 1
    np.testing.assert_allclose(out.data, [[-1.0, 2.0], [-6.0, 8.0], [1.0, 1.0]])


def test_randomness_same_is_vectorised_and_different_matches_the_loop():
    x = t(np.zeros((4, 6)))
    noisy = nn.Dropout(0.5)
    with pytest.raises(RuntimeError, match="vmap: func drew from the default random generator"):
        vmap(lambda r: noisy(r + 1))(x)
    for randomness in ("same", "different"):
        dlpy.manual_seed(0)
        fast = vmap(lambda r: noisy(r + 1), randomness=randomness)(x)
        dlpy.manual_seed(0)
        slow = vmap(lambda r: noisy(r + 1), randomness=randomness, _vectorize=False)(x)
        np.testing.assert_array_equal(fast.data, slow.data)
        if randomness == "same":  # one draw for the whole batch, as the loop's first sample
            assert "vmap_loops" not in batching.stats and not batching.stats["op_loops"]


def test_batched_tensor_looks_like_one_sample():
    seen = {}

    def f(row):
        seen.update(shape=row.shape, ndim=row.ndim, size=row.size(), numel=row.numel(),
                    length=len(row), data_shape=row.data.shape, kind=type(row).__name__)
        return row

    vmap(f, in_dims=1)(t(np.zeros((3, 5))))
    assert seen == {"shape": (3,), "ndim": 1, "size": (3,), "numel": 3, "length": 3,
                    "data_shape": (3,), "kind": "BatchedTensor"}
    escaped = []
    vmap(lambda r: escaped.append(r) or r)(t(np.zeros((2, 2))))
    with pytest.raises(batching.Unbatchable, match="vmap: the values of a batched tensor"):
        np.asarray(escaped[0])
    with pytest.raises(batching.Unbatchable, match=r"vmap: item\(\) of a batched tensor"):
        escaped[0].item()


def test_batch_norm_eval_and_errors_kept():
    rng = np.random.default_rng(10)
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    bn.running_mean[...] = rng.standard_normal(3)
    bn.eval()
    x = t(rng.standard_normal((4, 2, 3)))
    assert_same_as_loop(lambda xi: bn(xi), 0, (x,))
    bn.train()  # updating the running statistics from a batched input: refused, as torch
    with pytest.raises(RuntimeError, match="vmap: batch_norm in training mode would update"):
        vmap(bn)(x)
    free = nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64)
    assert_same_as_loop(free, 0, (x,), loops=("BatchNorm",))  # each sample's own statistics
    with pytest.raises(ValueError, match="vmap: out_dims=None for output 0, which differs"):
        vmap(lambda r: r * 2, out_dims=None)(x)
    same = vmap(lambda r: r.sum() * 0 + 1.0, out_dims=None)(x)
    assert same.shape == ()
    with pytest.raises(ValueError, match="vmap: func must return Tensors .*, got float"):
        vmap(lambda r: 1.0)(x)


def test_input_gradients_with_the_parameters_tracked():
    """vmap(grad(f)) where f closes over Parameters: the per-sample input gradients are
    recorded (create_graph, through the physical ops' backward_graph), so a gradient
    penalty differentiates them again."""
    rng = np.random.default_rng(11)
    model = nn.Sequential(nn.Linear(4, 5, dtype=np.float64), nn.Tanh(),
                          nn.Linear(5, 1, dtype=np.float64))
    x = t(rng.standard_normal((6, 4)))
    input_grad = grad(lambda xi: model(xi).sum())
    fast = assert_same_as_loop(input_grad, 0, (x,))
    slow = vmap(input_grad, _vectorize=False)(x)
    assert fast.requires_grad
    (a,) = autograd_grad(fast.square().sum(), model[0].weight)
    (b,) = autograd_grad(slow.square().sum(), model[0].weight)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
