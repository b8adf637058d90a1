"""dlpy.func_batching's second round of batching rules (flip, roll, gather/scatter, pad,
interpolate, PReLU, group/instance/RMS norm, the fused RNNs, einsum, unfold/fold) and function
rules (losses that read their targets, sort/topk/max(dim)/cummax, a batched index or mask):
each equal to the per-sample loop (``vmap(..., _vectorize=False)``) in values and per-sample
gradients, float64 to 1e-12, with no op run sample by sample; and jacrev / hessian /
autograd.functional.jacobian(vectorize=True) computed by one batched backward pass."""

import importlib.util
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import dlpy
import dlpy.autograd_functional as AF
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy import func_batching as batching
from dlpy.func import functional_call, grad, hessian, jacfwd, jacrev, vmap

# the helpers of the first round's tests: the comparison with the loop, the stats reset
_spec = importlib.util.spec_from_file_location(
    "test_vmap_vectorised", Path(__file__).resolve().parent / "test_vmap_vectorised.py")
_first = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_first)
assert_same_as_loop, detached, t = _first.assert_same_as_loop, _first.detached, _first.t
fresh_stats = _first.fresh_stats  # autouse: op_loops cleared, the dispatcher gone after each
RNG = np.random.default_rng(20)


def normal(*shape) -> Tensor:
    return t(RNG.standard_normal(shape))


def integers(high: int, *shape) -> Tensor:
    return Tensor(RNG.integers(0, high, shape))


def per_sample_grads(model, x, y, loss_fn, loops=()):
    """vmap(grad) of loss_fn(model(x_i), y_i) against the loop, for every parameter."""
    def loss(params, xi, yi):
        return loss_fn(functional_call(model, params, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    return assert_same_as_loop(grad(loss), (None, 0, 0), (detached(model), x, y), loops=loops)


# ----------------------------------------------------------------------------- op rules
def test_flip_roll_and_index_ops_with_a_shared_index():
    x = normal(4, 3, 5)
    index = np.array([[0, 4], [2, 2], [1, 3]])
    assert_same_as_loop(lambda a: (a.flip(0), a.flip((0, -1)), a.roll(2, 1),
                                   a.roll((1, -1), (0, 1)), a.roll(4)), 0, (x,))
    assert_same_as_loop(lambda a: (a.gather(1, index), a.index_select(-1, [0, 2, 2]),
                                   dlpy.take_along_dim(a, index, 1),
                                   dlpy.take_along_dim(a, np.array([3, 0])),
                                   a.scatter_add(1, index, a[:, :2] * 2),
                                   a.scatter(1, index, a[:, :2] * 3),
                                   a.scatter(1, index, value=-1.0)), 0, (x,))
    # the gradients through them, per sample
    assert_same_as_loop(grad(lambda a: (a.gather(1, index).roll(1, 0).flip(1) ** 2).sum()
                             + (a.scatter_add(1, index, a[:, :2]) ** 3).sum()), 0, (x,))


def test_index_ops_with_a_batched_index():
    x, index = normal(4, 3, 5), integers(5, 4, 3, 2)
    rows, first = integers(5, 4, 3), integers(3, 4, 2)
    assert_same_as_loop(lambda a, i, r, f: (a.gather(1, i), dlpy.take_along_dim(a, i, -1),
                                            a.index_select(1, r), a.index_select(0, f),
                                            a.scatter_add(1, i, a[:, :2] * 2),
                                            a.scatter(1, i, value=0.5)), 0,
                        (x, index, rows, first))
    assert_same_as_loop(grad(lambda a, i: (a.gather(1, i) ** 2).sum()), (0, 0), (x, index))
    # a shared x, each sample its own index
    assert_same_as_loop(lambda i: x[0].gather(1, i), 0, (index,))


def test_pad_every_mode_and_interpolate():
    x = normal(3, 2, 4, 5)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert_same_as_loop(lambda a, m=mode: F.pad(a, (1, 2, 2, 1), mode=m), 0, (x,))
        assert_same_as_loop(grad(lambda a, m=mode: (F.pad(a, (2, 1), mode=m) ** 2).sum()), 0,
                            (x,))
    assert_same_as_loop(lambda a: F.pad(a, (-1, 1), value=3.0), 0, (x,))
    for mode in ("nearest", "bilinear"):
        assert_same_as_loop(lambda a, mode=mode: F.interpolate(a.unsqueeze(0), scale_factor=2,
                                                              mode=mode), 0, (x,))
        assert_same_as_loop(grad(lambda a, mode=mode: F.interpolate(
            a.unsqueeze(0), size=(3, 7), mode=mode).square().sum()), 0, (x,))


def test_prelu_group_instance_and_rms_norm_per_sample_gradients():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64),
                          nn.GroupNorm(2, 4, dtype=np.float64), nn.PReLU(4, dtype=np.float64),
                          nn.InstanceNorm2d(4, affine=True, dtype=np.float64),
                          nn.PReLU(dtype=np.float64), nn.Flatten(),
                          nn.RMSNorm(4 * 5 * 5, dtype=np.float64),
                          nn.Linear(4 * 5 * 5, 3, dtype=np.float64))
    for m in (model[1], model[3], model[6]):  # not the initial ones and zeros
        m.weight.data[...] = RNG.uniform(0.5, 1.5, m.weight.shape)
    model[2].weight.data[...] = RNG.uniform(0.1, 0.5, 4)
    x, labels = normal(4, 2, 5, 5), integers(3, 4)
    per_sample_grads(model, x, labels, lambda out, y: F.cross_entropy(out, y))
    assert_same_as_loop(lambda xi: model(xi.unsqueeze(0)), 0, (x,))  # shared weights
    assert_same_as_loop(lambda xi: F.rms_norm(xi, (5, 5)), 0, (x,))  # no weight
    assert_same_as_loop(lambda xi: F.group_norm(xi.unsqueeze(0), 1), 0, (x,))


def test_instance_norm_running_statistics_go_to_the_loop():
    layer = nn.InstanceNorm1d(3, track_running_stats=True, dtype=np.float64)
    x = normal(4, 2, 3, 6)
    out = vmap(layer)(x)  # updating running statistics reads the per-sample ones
    assert batching.stats["vmap_loops"] == 1
    np.testing.assert_allclose(out.data[1], F.instance_norm(x[1]).data, rtol=1e-12)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_fused_recurrent_layers_fold_the_samples_into_their_batch(cell):
    layer = getattr(nn, cell)(3, 4, num_layers=2, batch_first=True, dtype=np.float64)
    x = normal(3, 2, 5, 3)  # (samples, N, L, features)
    assert_same_as_loop(lambda xi: layer(xi), 0, (x,))
    h0 = normal(3, 2, 2, 4)
    if cell == "LSTM":
        assert_same_as_loop(lambda xi, h: layer(xi, (h, h * 0.5)), 0, (x, h0))
    else:
        assert_same_as_loop(lambda xi, h: layer(xi, h), 0, (x, h0))
    step = getattr(nn, cell + "Cell")(3, 4, dtype=np.float64)
    assert_same_as_loop(lambda xi: step(xi[:, 0]), 0, (x,))
    # per-sample gradients of the inputs (shared weights) ...
    assert_same_as_loop(grad(lambda xi: layer(xi)[0].square().sum()), 0, (x,))
    # ... and of the weights: a weight per sample runs the fused op sample by sample
    per_sample_grads(layer, x[:, 0], normal(3, 5, 4), lambda out, y: F.mse_loss(out[0], y),
                     loops=(f"{cell}Sequence",))


def test_einsum_unfold_fold_pixel_shuffle():
    x, w = normal(3, 4, 5), normal(5, 2)
    assert_same_as_loop(lambda a: dlpy.einsum("ij,jk->ik", a, w), 0, (x,))
    assert_same_as_loop(lambda a, b: dlpy.einsum("ij,jk->ki", a, b), (0, 0),
                        (x, normal(3, 5, 2)))
    assert_same_as_loop(lambda a: dlpy.einsum("ii->i", a[:, :4]), 0, (x,))
    assert_same_as_loop(grad(lambda a, b: dlpy.einsum("ij,jk,ik->", a, b, a @ b)), (0, None),
                        (x, w))
    image = normal(3, 2, 2, 4, 4)
    assert_same_as_loop(lambda a: F.fold(F.unfold(a, 2, padding=1), (4, 4), 2, padding=1),
                        0, (image,))
    assert_same_as_loop(lambda a: F.unfold(a[0], 3), 0, (image,))  # unbatched (C, H, W)
    assert_same_as_loop(grad(lambda a: F.unfold(a, 2, stride=2).square().sum()), 0, (image,))
    assert_same_as_loop(lambda a: F.pixel_shuffle(a.reshape(2, 8, 2, 2), 2), 0, (image,))


def test_activations_dropout_and_cumulative():
    x = normal(4, 6)
    assert_same_as_loop(lambda a: (F.softplus(a), F.gelu(a), F.gelu(a, approximate="tanh"),
                                   F.silu(a), F.dropout(a, 0.3, training=False), a.cumsum(0),
                                   F.dropout2d(a.reshape(2, 3, 1, 1), 0.0)), 0, (x,))
    assert_same_as_loop(grad(lambda a: (F.softplus(a) * F.gelu(a) * F.silu(a)).sum()), 0, (x,))


# ----------------------------------------------------------------------------- function rules
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_losses_every_reduction(reduction):
    prediction, target = normal(4, 3, 2), normal(4, 3, 2)
    probs = t(1 / (1 + np.exp(-RNG.standard_normal((4, 3, 2)))))
    bits = t(RNG.integers(0, 2, (4, 3, 2)))
    weight, pos_weight = t(RNG.uniform(0.5, 2, 2)), t(RNG.uniform(0.5, 2, 2))
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        assert_same_as_loop(lambda a, b, n=name: getattr(F, n)(a, b, reduction=reduction), 0,
                            (prediction, target))
        assert_same_as_loop(grad(lambda a, b, n=name: getattr(F, n)(a * 2, b).sum(),
                                 argnums=(0, 1)), 0, (prediction, target))
    assert_same_as_loop(lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=0.5), 0,
                        (prediction, target))
    assert_same_as_loop(lambda a, b: F.huber_loss(a, b, reduction, delta=0.3), 0,
                        (prediction, target))
    assert_same_as_loop(lambda p, b: F.binary_cross_entropy(p, b, weight, reduction=reduction),
                        0, (probs, bits))
    assert_same_as_loop(lambda x, b: F.binary_cross_entropy_with_logits(
        x, b, weight, reduction=reduction, pos_weight=pos_weight), 0, (prediction, bits))
    assert_same_as_loop(grad(lambda p, b: F.binary_cross_entropy(p, b).sum()
                             + F.binary_cross_entropy_with_logits(p, b).sum()), 0,
                        (probs, bits))
    # vmap of the function itself (looked up before vmap started)
    assert_same_as_loop(F.binary_cross_entropy_with_logits, 0, (prediction, bits))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_losses_with_weight_smoothing_and_ignored_rows(reduction):
    logits, labels = normal(4, 5, 3), integers(3, 4, 5)
    labels.data[0] = 1  # sample 0: every row ignored below (its mean is nan, as the loop's)
    labels.data[2, :2] = 1
    weight = t(RNG.uniform(0.5, 2, 3))
    probs = F.softmax(normal(4, 5, 3), -1).detach()
    for kwargs in ({}, {"weight": weight}, {"label_smoothing": 0.2, "weight": weight},
                   {"ignore_index": 1}, {"ignore_index": 1, "weight": weight,
                                         "label_smoothing": 0.1}):
        for y in (labels, probs) if "ignore_index" not in kwargs else (labels,):
            assert_same_as_loop(lambda a, b, kw=kwargs: F.cross_entropy(
                a, b, reduction=reduction, **kw), 0, (logits, y))
        nll = {k: v for k, v in kwargs.items() if k != "label_smoothing"}
        assert_same_as_loop(lambda a, b, kw=nll: F.nll_loss(F.log_softmax(a, -1), b,
                                                             reduction=reduction, **kw),
                            0, (logits, labels))
        assert_same_as_loop(grad(lambda a, b, kw=kwargs: F.cross_entropy(
            a, b, reduction=reduction, **kw).sum()), 0, (logits, labels))
    criterion = nn.NLLLoss(weight=weight, ignore_index=2)
    assert_same_as_loop(lambda a, b: criterion(F.log_softmax(a, -1), b), 0, (logits, labels))


def test_class_losses_in_nested_vmaps():
    logits, labels = normal(2, 3, 4, 5), integers(5, 2, 3, 4)
    inner = vmap(lambda a, b: F.cross_entropy(a, b, reduction="sum"))
    assert_same_as_loop(inner, 0, (logits, labels))
    assert_same_as_loop(vmap(lambda a, b: F.cross_entropy(a, b)), 0, (logits, labels),
                        loops=("cross_entropy",))  # the mean needs the labels at hand


def test_embedding_padding_idx_per_sample_gradients():
    model = nn.Sequential(nn.Embedding(10, 4, padding_idx=0, dtype=np.float64), nn.Flatten(),
                          nn.Linear(4 * 6, 3, dtype=np.float64))
    model[0].weight.data[0] = RNG.standard_normal(4)  # the padding row's values are read
    ids, labels = integers(10, 4, 6), integers(3, 4)
    ids.data[:, :2] = 0
    grads = per_sample_grads(model, ids, labels, lambda out, y: F.cross_entropy(out, y))
    assert not grads["0.weight"].data[:, 0].any()  # no gradient to the padding row
    table = model[0].weight.detach()
    # a table per sample with shared ids, and the padding index counted from the end
    assert_same_as_loop(lambda w: F.embedding(ids[0], w, padding_idx=-10), 0,
                        (t(np.stack([table.data] * 3)),))


def test_sort_topk_max_and_cummax_values_and_indices():
    x = normal(4, 3, 5)
    x.data[1, 0, :2] = 7.0  # ties
    calls = {"sort": lambda a: a.sort(1), "sort descending": lambda a: a.sort(-1, True),
             "topk": lambda a: a.topk(2), "topk smallest": lambda a: a.topk(2, 0, False),
             "argsort": lambda a: (a.argsort(1),), "max": lambda a: a.max(1),
             "min": lambda a: a.min(-1, keepdim=True), "cummax": lambda a: dlpy.cummax(a, 1),
             "cummin": lambda a: dlpy.cummin(a, 0)}
    for name, call in calls.items():
        fast = vmap(call)(x)  # the indices come out batched (Tensors), as torch's
        assert not batching.stats["op_loops"] and "vmap_loops" not in batching.stats, name
        for i in range(len(x.data)):
            for a, b in zip(fast, call(x[i]), strict=True):
                np.testing.assert_array_equal(a.data[i], getattr(b, "data", b), err_msg=name)
    assert_same_as_loop(lambda a: (a.sort(1).values, a.topk(2).values, a.max(1).values,
                                   a.max(), dlpy.cummax(a, 1).values), 0, (x,))
    assert_same_as_loop(grad(lambda a: a.sort(1).values.cumsum(1).sum() * a.max(0).values.sum()
                             + (a.topk(3).values ** 2).sum() + dlpy.cummax(a, 1).values.sum()),
                        0, (x,))
    # the indices carry on to gather, in nested vmaps too
    assert_same_as_loop(vmap(lambda a: a.gather(0, a.argsort(0))), 0, (x,))


def test_masked_fill_and_where_with_a_batched_mask():
    x, mask = normal(4, 3, 5), Tensor(RNG.random((4, 3, 5)) > 0.5)
    rows = Tensor(RNG.random((4, 5)) > 0.5)
    assert_same_as_loop(lambda a, m, r: (a.masked_fill(m, 0.0), a.masked_fill(r, -1.0),
                                         F.where(r, a, a * 2), F.where(m, 1.0, a)), 0,
                        (x, mask, rows))
    assert_same_as_loop(grad(lambda a, m: (a.masked_fill(m, 0.0) ** 2).sum()), 0, (x, mask))


def test_comparisons_of_batched_values_are_batched_ops():
    """x > 0, 0.2 < x (Python calls the batched operand's reflected operator), x.ge(y) and
    comparisons with a plain tensor run as one batched Compare op, never the loop."""
    x, y = normal(4, 5), normal(5)
    assert_same_as_loop(lambda a: (F.where(a > 0, a, a * 0.1), (0.2 < a), a.ge(a.mean()),
                                   y <= a, a.lt(y), a.eq(a), a.ne(y)), 0, (x,))
    assert_same_as_loop(grad(lambda a: F.where(a > 0, a, a * 0.1).sum()), 0, (x,))
    assert_same_as_loop(vmap(lambda a: (a >= a.mean()).sum()), 0, (normal(3, 4, 5),))


def test_flex_attention_with_a_score_mod_is_batched():
    """flex_attention's score_mod path (scores, a captured table indexed by q - kv, then the
    fused softmax-times-v op) runs batched, values and per-sample gradients as the loop."""
    from dlpy.nn.attention.flex_attention import AuxRequest, create_block_mask, flex_attention

    q, k, v, table = normal(3, 1, 2, 6, 4), normal(3, 1, 2, 6, 4), normal(1, 2, 6, 4), normal(11)

    def attend(a, b):
        return flex_attention(a, b, v, score_mod=lambda s, _b, _h, i, j: s + table[i - j + 5])

    assert_same_as_loop(attend, 0, (q, k))
    assert_same_as_loop(grad(lambda a, b: (attend(a, b) ** 2).sum(), argnums=(0, 1)), 0, (q, k))
    # the rows' logsumexp and largest score (-inf for a query with no allowed key) as well
    mask = create_block_mask(lambda b, h, i, j: (j <= i) & i.ne(2), 1, 1, 6, 6)
    for score_mod in (None, lambda s, _b, _h, i, j: s + table[i - j + 5]):
        assert_same_as_loop(lambda a, sm=score_mod: flex_attention(
            a, k[0], v, score_mod=sm, block_mask=mask,
            return_aux=AuxRequest(lse=True, max_scores=True)), 0, (q,))


# ----------------------------------------------------------------------------- jacobians
def _row_by_row(run):
    """``run`` with the batched pass of jacobian_rows switched off: one pass per row."""
    with mock.patch.object(batching, "jacobian_rows", lambda *args: None):
        return run()


def test_jacrev_jacfwd_and_hessian_are_one_batched_pass_equal_to_the_loop():
    model = nn.Sequential(nn.Linear(6, 5, dtype=np.float64), nn.Tanh(),
                          nn.Linear(5, 4, dtype=np.float64))
    x, w = normal(6), normal(4, 3)
    cases = [lambda: jacrev(model)(x), lambda: jacfwd(lambda a, b: F.softmax(model(a) @ b, -1),
                                                      argnums=(0, 1))(x, w),
             lambda: hessian(lambda a: (model(a) ** 3).sum())(x),
             lambda: jacrev(jacrev(lambda a: F.sin(model(a))))(x),
             lambda: AF.jacobian(lambda a, b: (model(a), b * a[:3]), (x, w[0]), vectorize=True),
             lambda: AF.hessian(lambda a: F.log_softmax(model(a), -1)[1], x, vectorize=True)]
    for run in cases:
        batching.stats.pop("jacobian_loops", None)
        with mock.patch.object(batching, "_loop", side_effect=AssertionError("a loop")):
            fast = run()
        assert "jacobian_loops" not in batching.stats
        slow = _row_by_row(run)
        fast_leaves = _flat(fast)
        for a, b in zip(fast_leaves, _flat(slow), strict=True):
            assert a.shape == b.shape and a.requires_grad == b.requires_grad
            np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)


def _flat(tree):
    return [x for v in tree for x in _flat(v)] if isinstance(tree, (tuple, list)) else [tree]


def test_jacobian_create_graph_is_differentiable():
    x = normal(4)
    for vectorize in (True, False):
        jac = AF.jacobian(lambda a: F.tanh(a) * a.sum(), x, create_graph=True,
                          vectorize=vectorize)
        x_leaf = t(x.data, requires_grad=True)
        jac = AF.jacobian(lambda a: F.tanh(a) * a.sum(), x_leaf, create_graph=True,
                          vectorize=vectorize)
        assert jac.requires_grad
        (second,) = dlpy.autograd.grad(jac.square().sum(), x_leaf)
        if vectorize:
            first = second.data
    np.testing.assert_allclose(first, second.data, rtol=1e-12)


def test_jacobians_against_torch(tmp_path_factory):
    with np.load(Path(__file__).resolve().parent / "fixtures" / "func" / "func.npz") as data:
        ref = {k: data[k] for k in data.files}
    hess = {k[len("hessian:"):]: v for k, v in ref.items() if k.startswith("hessian:")}
    jac = {k[len("jac:"):]: v for k, v in ref.items() if k.startswith("jac:")}

    def two_args(a, b):
        return (F.sin(a) * b ** 2).sum() + F.tanh((a * b).sum())

    blocks = hessian(two_args, argnums=(0, 1))(t(hess["x"]), t(hess["y"]))
    vectorised = AF.hessian(two_args, (t(hess["x"]), t(hess["y"])), vectorize=True)
    assert "jacobian_loops" not in batching.stats
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(blocks[i][j].data, hess[f"h{i}{j}"], rtol=1e-10,
                                       atol=1e-12)
            np.testing.assert_allclose(vectorised[i][j].data, hess[f"h{i}{j}"], rtol=1e-10,
                                       atol=1e-12)
    jac_x, jac_w = jacrev(lambda a, b: F.tanh(a @ b) + a.sum(), argnums=(0, 1))(
        t(jac["x"]), t(jac["w"]))
    np.testing.assert_allclose(jac_x.data, jac["jac_x"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jac_w.data, jac["jac_w"], rtol=1e-10, atol=1e-12)


def test_a_backward_that_reads_its_gradient_falls_back_to_one_pass_per_row():
    logits, labels = normal(5, 3), integers(3, 5)
    jac = jacrev(lambda a: F.cross_entropy(a, labels, reduction="none"))(logits)
    assert batching.stats["jacobian_loops"] == 1
    slow = _row_by_row(lambda: jacrev(lambda a: F.cross_entropy(a, labels,
                                                                reduction="none"))(logits))
    np.testing.assert_allclose(jac.data, slow.data, rtol=1e-12)
    strict = AF.jacobian(lambda a: a * 2, logits, strict=True)  # the loop (torch refuses
    # strict=True with vectorize=True, and so does dlpy)
    np.testing.assert_allclose(strict.data.reshape(15, 15), 2 * np.eye(15))
