"""A backward run inside a TorchDispatchMode reaches the mode as torch's autograd shows it
(dlpy.utils._dispatch_backward). The torch-recorded area ``torch_dispatch_backward`` compares
the op lists with torch's; these tests pin the pieces: the seed, the order of torch's engine,
the real gradients as arguments, the mode's values used as the gradients, the .grad
accumulation, the engine's sites put back outside modes, and the new aten backward kernels."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy.aten import aten
from dlpy.autograd_function import PLAIN_CALL_SITES
from dlpy.utils import _python_dispatch as pd

engine = __import__("sys").modules["dlpy.tensor"]


class Log(pd.TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.funcs = []
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.funcs.append(str(func))
        self.calls.append((func, args, kwargs or {}))
        return func(*args, **(kwargs or {}))


def _w(*shape, scale=0.37, grad=True):
    n = int(np.prod(shape))
    data = np.sin(np.arange(n, dtype=np.float32).reshape(shape) * scale + 0.1)
    return dlpy.tensor(data, requires_grad=grad)


def test_relu_mm_backward_as_torch():
    """The brief's example, torch 2.13's list."""
    x, w = dlpy.ones(2, 3, requires_grad=True), dlpy.ones(3, 4, requires_grad=True)
    with Log() as m:
        (x @ w).relu().sum().backward()
    assert m.funcs == [
        "aten.mm.default", "aten.relu.default", "aten.detach.default", "aten.sum.default",
        "aten.ones_like.default", "aten.expand.default", "aten.detach.default",
        "aten.threshold_backward.default", "aten.t.default", "aten.mm.default",
        "aten.t.default", "aten.mm.default", "aten.detach.default", "aten.detach.default"]
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 4.0))
    np.testing.assert_allclose(w.grad.numpy(), np.full((3, 4), 2.0))


def test_engine_sites_plain_outside_modes():
    x = _w(2, 3)
    with Log():
        assert engine._implicit_seed is not None
        assert engine._checked_grads is not PLAIN_CALL_SITES["checked_grads"]
    for site in ("checked_grads", "sum", "accumulate", "schedule"):
        assert getattr(engine, f"_{site}") is PLAIN_CALL_SITES[site]
    assert engine._implicit_seed is None
    with Log() as m:
        y = x.exp().sum()
    y.backward()  # outside: the mode sees nothing of it
    assert m.funcs == ["aten.exp.default", "aten.detach.default", "aten.sum.default"]


def test_handler_gets_real_gradients():
    x, w = _w(3, 2), _w(2, 4, scale=0.5)
    upstream = _w(3, 4, scale=0.9, grad=False)
    seen = []

    class Keep(pd.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is aten.threshold_backward.default:
                seen.append((args[0].numpy().copy(), args[1].numpy().copy(), args[2]))
            return out

    with Keep():
        ((x @ w).relu() * upstream).sum().backward()
    grad, result, threshold = seen[0]
    np.testing.assert_allclose(grad, upstream.numpy())
    np.testing.assert_allclose(result, np.maximum(x.detach().numpy() @ w.detach().numpy(), 0),
                               rtol=1e-6)
    assert threshold == 0


def test_mode_values_become_gradients():
    """A mode doubling every mm doubles the forward and each mm of the backward."""
    class DoubleMM(pd.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            return out * 2 if func is aten.mm.default else out

    x, w = _w(3, 2), _w(2, 4, scale=0.5)
    with DoubleMM():
        (x @ w).relu().sum().backward()
    a, b = x.detach().numpy(), w.detach().numpy()
    mask = (2 * a @ b > 0).astype(np.float32)
    np.testing.assert_allclose(x.grad.numpy(), 2 * mask @ b.T, rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), 2 * a.T @ mask, rtol=1e-6)


def test_leaf_accumulation_as_torch():
    x = dlpy.ones(2, 3, requires_grad=True)
    with Log() as m:
        x.sum().backward()  # an expanded gradient: copied into a new tensor
        x.sum().backward()  # a second one: added in place
        (x * 2).sum().backward()
    assert m.funcs[3:5] == ["aten.new_empty_strided.default", "aten.copy_.default"]
    assert m.funcs[-1] == "aten.add_.Tensor"
    y = dlpy.ones(2, 3, requires_grad=True)
    with Log() as m:
        (y * 3.0).sum().backward()  # a fresh dense gradient: stolen (detach)
    assert m.funcs[-1] == "aten.detach.default"
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 4.0))


def test_reused_tensor_gradients_added():
    x = _w(2, 3)
    with Log() as m:
        (x * x).sum().backward()
    assert m.funcs[-4:] == ["aten.mul.Tensor", "aten.mul.Tensor", "aten.add.Tensor",
                            "aten.detach.default"]
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy(), rtol=1e-6)


def test_autograd_grad_computes_only_what_is_asked():
    x, w = _w(2, 3), _w(3, 4)
    with Log() as m:
        (gx,) = dlpy.autograd.grad((x @ w).sum(), x)
    assert m.funcs[2:] == ["aten.ones_like.default", "aten.expand.default", "aten.t.default",
                           "aten.mm.default"]
    assert w.grad is None and x.grad is None
    np.testing.assert_allclose(gx.numpy(), np.ones((2, 4)) @ w.detach().numpy().T, rtol=1e-6)


def test_linear_weight_t_after_leaves():
    """addmm's mat1 then mat2, the bias's sum_to, its leaf, x's, then TBackward's t."""
    lin = dlpy.nn.Linear(3, 2)
    x = _w(4, 3)
    with Log() as m:
        lin(x).sum().backward()
    assert m.funcs[5:] == [
        "aten.t.default", "aten.mm.default", "aten.t.default", "aten.mm.default",
        "aten.t.default", "aten.sum.dim_IntList", "aten.view.default", "aten.detach.default",
        "aten.detach.default", "aten.t.default", "aten.detach.default"]


def test_numbers_and_dims_as_given():
    x = _w(2, 3)
    with Log() as m:
        (F.log_softmax(x * 2, -1)).sum().backward()
    calls = {str(f): a for f, a, _ in m.calls}
    assert calls["aten._log_softmax_backward_data.default"][2] == -1
    assert calls["aten.mul.Tensor"][1] == 2 and type(calls["aten.mul.Tensor"][1]) is int


def test_op_without_rule_runs_unseen():
    vol = _w(1, 1, 1, 1, 6)
    with Log() as m:
        F.max_pool3d(vol, (1, 1, 2)).sum().backward()
    assert not any("pool" in f for f in m.funcs)
    data = vol.detach().numpy().reshape(3, 2)
    expected = np.zeros((3, 2), np.float32)
    expected[np.arange(3), data.argmax(axis=1)] = 1
    np.testing.assert_allclose(vol.grad.numpy(), expected.reshape(1, 1, 1, 1, 6))


def test_pool1d_shown_as_torch_composite():
    sig = _w(1, 1, 6)
    with Log() as m:
        F.max_pool1d(sig, 2).sum().backward()
    assert [f for f in m.funcs if "pool" in f or "squeeze" in f] == [
        "aten.unsqueeze.default", "aten.max_pool2d_with_indices.default", "aten.squeeze.dim",
        "aten.squeeze.dim", "aten.unsqueeze.default",
        "aten.max_pool2d_with_indices_backward.default", "aten.squeeze.dim"]
    data = sig.detach().numpy()[0, 0].reshape(3, 2)
    expected = np.zeros((3, 2), np.float32)
    expected[np.arange(3), data.argmax(axis=1)] = 1
    np.testing.assert_allclose(sig.grad.numpy(), expected.reshape(1, 1, 6))


def test_unsqueeze_backward_shows_dim_as_given():
    x = _w(4, 3)
    for dim, shown in ((-1, -1), (-3, -3), (1, 1)):
        with Log() as m:
            x.unsqueeze(dim).exp().sum().backward()
        squeezes = [a for f, a, _ in m.calls if str(f) == "aten.squeeze.dim"]
        assert [a[1] for a in squeezes] == [shown]
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(x.detach().numpy()), rtol=1e-6)


class Double(pd.TorchDispatchMode):
    """Doubles the result of one overload."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return out * 2 if str(func) == self.name else out


def _grads(loss_of, leaves, mode=None):
    for t in leaves:
        t.grad = None
    loss = loss_of()
    if mode is None:
        loss.backward()
    else:
        with mode:
            loss.backward()
    return [t.grad.numpy().copy() for t in leaves]


def test_linear_of_a_batch_folded_as_torch():
    """view of the gradient, addmm's backward, the bias's sum, the weight's t, x's view back
    last; the gradients bit for bit a plain backward's, x's doubled with its view."""
    lin = dlpy.nn.Linear(3, 5)
    a = _w(2, 4, 3)
    leaves = [a, lin.weight, lin.bias]
    plain = _grads(lambda: lin(a).exp().sum(), leaves)
    for t in leaves:
        t.grad = None
    with Log() as m:
        lin(a).exp().sum().backward()
    assert m.funcs[-13:] == [
        "aten.view.default", "aten.t.default", "aten.mm.default", "aten.t.default",
        "aten.mm.default", "aten.t.default", "aten.sum.dim_IntList", "aten.view.default",
        "aten.detach.default", "aten.t.default", "aten.detach.default", "aten.view.default",
        "aten.detach.default"]
    for got, want in zip([t.grad.numpy() for t in leaves], plain):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    doubled = _grads(lambda: lin(a).exp().sum(), leaves, Double("aten.view.default"))
    # (the gradient's view doubled for all, x's view back and the bias's sum's view again)
    for got, want, times in zip(doubled, plain, (4, 2, 4)):
        np.testing.assert_allclose(got, times * want, rtol=1e-6)


def test_matmul_by_a_batch_of_one_squeezed_and_folded():
    a, b = _w(2, 4, 3), _w(1, 3, 5, scale=0.41)
    plain = _grads(lambda: (a @ b).tanh().sum(), [a, b])
    a.grad = b.grad = None
    with Log() as m:
        (a @ b).tanh().sum().backward()
    assert m.funcs[-9:] == [
        "aten.view.default", "aten.t.default", "aten.mm.default", "aten.t.default",
        "aten.mm.default", "aten.view.default", "aten.detach.default",
        "aten.unsqueeze.default", "aten.detach.default"]
    for got, want in zip([a.grad.numpy(), b.grad.numpy()], plain):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with Log() as m:
        (a @ b).sum()
    assert m.funcs[:4] == ["aten.squeeze.dim", "aten.view.default", "aten.mm.default",
                           "aten._unsafe_view.default"]
    doubled = _grads(lambda: (a @ b).tanh().sum(), [a, b], Double("aten.unsqueeze.default"))
    np.testing.assert_allclose(doubled[1], 2 * plain[1], rtol=1e-6)
    np.testing.assert_allclose(doubled[0], plain[0], rtol=1e-6)


def test_adaptive_avg_pool_one_backward_call():
    """dlpy's averaging products shown as torch's one node: _adaptive_avg_pool2d_backward
    (a 1-d pool's between unsqueeze and squeeze), a global pool's expand + div.Scalar."""
    img, seq = _w(2, 3, 5, 7), _w(2, 3, 7, scale=0.7)
    cases = [(lambda: F.adaptive_avg_pool2d(img, (2, 3)).exp().sum(), img,
              ["aten._adaptive_avg_pool2d_backward.default"]),
             (lambda: F.adaptive_avg_pool2d(img, 1).exp().sum(), img,
              ["aten.expand.default", "aten.div.Scalar"]),
             (lambda: F.adaptive_avg_pool1d(seq, 3).exp().sum(), seq,
              ["aten.unsqueeze.default", "aten._adaptive_avg_pool2d_backward.default",
               "aten.squeeze.dim"])]
    for loss_of, x, shown in cases:
        (plain,) = _grads(loss_of, [x])
        x.grad, loss = None, loss_of()
        with Log() as m:
            loss.backward()
        assert m.funcs[4:-1] == shown  # (after ones_like, expand, exp's detach and mul)
        np.testing.assert_allclose(x.grad.numpy(), plain, rtol=1e-6, atol=1e-7)
        (doubled,) = _grads(loss_of, [x], Double(shown[-2 if len(shown) == 3 else -1]))
        np.testing.assert_allclose(doubled, 2 * plain, rtol=1e-6, atol=1e-7)


def test_adaptive_max_pool_one_backward_call():
    """dlpy's gather of the maxima shown as adaptive_max_pool2d_backward (the indices given),
    a 1-d pool's between unsqueeze and squeeze; its gradient the plain one, or doubled."""
    seq = _w(2, 3, 7, scale=0.7)
    (plain,) = _grads(lambda: F.adaptive_max_pool1d(seq, 3).exp().sum(), [seq])
    seq.grad, loss = None, F.adaptive_max_pool1d(seq, 3).exp().sum()
    with Log() as m:
        loss.backward()
    assert m.funcs[4:-1] == ["aten.unsqueeze.default",
                             "aten.adaptive_max_pool2d_backward.default", "aten.squeeze.dim"]
    _, indices = F.adaptive_max_pool1d(seq, 3, return_indices=True)
    shown = m.calls[5][1][2]
    np.testing.assert_array_equal(shown.numpy(), indices.numpy()[:, :, None, :])
    np.testing.assert_array_equal(seq.grad.numpy(), plain)
    (doubled,) = _grads(lambda: F.adaptive_max_pool1d(seq, 3).exp().sum(), [seq],
                        Double("aten.adaptive_max_pool2d_backward.default"))
    np.testing.assert_allclose(doubled, 2 * plain, rtol=1e-6)


def _more_models():
    """(the loss, its leaves) of the models with the second round of backward rules."""
    bn = dlpy.nn.BatchNorm2d(2)
    img = _w(2, 2, 4, 4, scale=0.7)
    q, k, v = _w(1, 2, 3, 4, scale=0.3), _w(1, 2, 3, 4, scale=0.5), _w(1, 2, 3, 4)
    a, b, c = _w(2, 3, 4), _w(2, 4, 5, scale=0.41), _w(4, 5, scale=0.2)
    x, y = _w(4, 3), _w(2, 3, scale=0.61)
    loss = ((F.avg_pool2d(F.max_pool2d(bn(img), 2, 1), 2) * 1.5).sum()
            + (F.scaled_dot_product_attention(q, k, v) * q).sum()
            + ((a @ b).tanh() @ c.t()).sum() + dlpy.bmm(a, b).exp().sum()
            + (x[dlpy.tensor([0, 2, 0])] * x[1]).sum() + x[1:3].sigmoid().sum()
            + dlpy.cat([x, y]).tanh().sum() + dlpy.stack([x, x * 2], 1).exp().sum())
    return loss, [img, bn.weight, bn.bias, q, k, v, a, b, c, x, y]


def test_more_rules_shown_with_unchanged_gradients():
    """batch_norm, pooling, attention, bmm and matmul of batches, indexing, cat and stack:
    their backward calls reach the mode, and the gradients are bit for bit those of a
    backward without a mode."""
    loss, leaves = _more_models()
    loss.backward()
    plain = [t.grad.numpy().copy() for t in leaves]
    loss, leaves = _more_models()
    with Log() as m:
        loss.backward()
    for name in ("native_batch_norm_backward", "max_pool2d_with_indices_backward",
                 "avg_pool2d_backward", "_scaled_dot_product_flash_attention_for_cpu_backward",
                 "bmm", "index_put", "select_backward", "slice_backward", "slice", "select"):
        assert any(f.startswith(f"aten.{name}.") for f in m.funcs), name
    for t, expected in zip(leaves, plain):
        assert t.grad.numpy().tobytes() == expected.tobytes()


def test_batch_norm_backward_doubled_by_a_mode():
    class Double(pd.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is aten.native_batch_norm_backward.default:
                return tuple(None if o is None else o * 2 for o in out)
            return out

    bn = dlpy.nn.BatchNorm2d(2)
    img = _w(2, 2, 3, 3, scale=0.7)
    bn(img).tanh().sum().backward()
    plain = [img.grad.numpy().copy(), bn.weight.grad.numpy().copy()]
    img.grad = bn.weight.grad = None
    loss = bn(img).tanh().sum()
    with Double():
        loss.backward()
    np.testing.assert_array_equal(img.grad.numpy(), plain[0] * 2)
    np.testing.assert_array_equal(bn.weight.grad.numpy(), plain[1] * 2)


@pytest.mark.parametrize("name", ["threshold_backward", "sigmoid_backward", "tanh_backward",
                                  "gelu_backward"])
def test_elementwise_backward_kernels(name):
    x = _w(3, 4, scale=0.8, grad=False)
    g = _w(3, 4, scale=0.3, grad=False)
    xs = x.numpy().astype(np.float64)
    if name == "threshold_backward":
        out = aten.threshold_backward.default(g, x, 0.2)
        expected = np.where(xs <= 0.2, 0, g.numpy())
    elif name == "gelu_backward":
        out = aten.gelu_backward.default(g, x)
        h = 1e-6  # central difference of x * Phi(x)
        from math import erf
        gelu = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2))))
        expected = g.numpy() * (gelu(xs + h) - gelu(xs - h)) / (2 * h)
    else:
        y = np.tanh(xs) if name == "tanh_backward" else 1 / (1 + np.exp(-xs))
        out = getattr(aten, name).default(g, dlpy.tensor(y.astype(np.float32)))
        expected = g.numpy() * (1 - y * y if name == "tanh_backward" else y * (1 - y))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_fused_backward_kernels_match_autograd():
    x = _w(4, 3, scale=1.3)
    weight, bias = _w(3, scale=0.7), _w(3, scale=0.2)
    g = _w(4, 3, scale=0.45, grad=False)
    F.layer_norm(x, (3,), weight, bias).backward(g)
    _, mean, rstd = aten.native_layer_norm.default(x.detach(), [3], None, None, 1e-5)
    dx, dw, db = aten.native_layer_norm_backward.default(
        g, x.detach(), [3], mean, rstd, weight.detach(), bias.detach(), [True, True, True])
    for got, want in ((dx, x.grad), (dw, weight.grad), (db, bias.grad)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-6)

    img, kernel = _w(1, 2, 5, 5, scale=0.13), _w(3, 2, 3, 3, scale=0.3)
    out = F.conv2d(img, kernel, padding=1, stride=2)
    go = _w(*out.shape, scale=0.21, grad=False)
    out.backward(go)
    dimg, dk, dbias = aten.convolution_backward.default(
        go, img.detach(), kernel.detach(), [3], [2, 2], [1, 1], [1, 1], False, [0, 0], 1,
        [True, True, True])
    np.testing.assert_allclose(dimg.numpy(), img.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dk.numpy(), kernel.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dbias.numpy(), go.numpy().sum(axis=(0, 2, 3)), rtol=1e-5)

    rows = aten.embedding_dense_backward.default(g, dlpy.tensor([1, 3, 1, 0]), 5, 3, False)
    expected = np.zeros((5, 3), np.float32)
    np.add.at(expected, [1, 3, 1, 0], g.numpy())
    expected[3] = 0
    np.testing.assert_allclose(rows.numpy(), expected, rtol=1e-6)


def test_conv_layer_norm_embedding_shown():
    conv = dlpy.nn.Conv2d(1, 2, 3)
    img = _w(1, 1, 5, 5)
    ln = dlpy.nn.LayerNorm(3)
    emb = dlpy.nn.Embedding(4, 3)
    with Log() as m:
        conv(img).sum().backward()
        ln(_w(2, 3)).sum().backward()
        emb(dlpy.tensor([0, 2])).sum().backward()
    for name in ("aten.convolution_backward.default", "aten.native_layer_norm_backward.default",
                 "aten.embedding_dense_backward.default"):
        assert name in m.funcs


def test_nll_loss_one_node_inside_a_mode():
    """dlpy's composite nll_loss, recorded inside a mode as torch's one node: its backward is
    nll_loss_backward, the gradient the composite's."""
    x, target = _w(4, 3), dlpy.tensor([0, 2, 1, 2])
    with Log() as m:
        loss = F.cross_entropy(x, target)
        assert loss.grad_fn.name() == "NllLossBackward0"
        loss.backward()
    assert m.funcs[3:] == ["aten.ones_like.default", "aten.nll_loss_backward.default",
                           "aten.detach.default", "aten._log_softmax_backward_data.default",
                           "aten.detach.default"]
    z = x.detach().numpy().astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(4), [0, 2, 1, 2]] -= 1
    np.testing.assert_allclose(x.grad.numpy(), p / 4, rtol=1e-5, atol=1e-7)
    total = {str(f): a for f, a, _ in m.calls}["aten.nll_loss_backward.default"][6]
    assert float(total) == 4.0


def test_nll_loss_backward_kernel():
    logp = dlpy.log_softmax(_w(3, 4, grad=False), 1)
    target = dlpy.tensor([3, 0, 1])
    weight = dlpy.tensor([1.0, 2.0, 0.5, 3.0])
    out = aten.nll_loss_backward.default(dlpy.tensor(2.0), logp, target, weight, 1, 0,
                                         dlpy.tensor(3.5))
    expected = np.zeros((3, 4), np.float32)
    expected[0, 3] = -3.0 * 2 / 3.5
    expected[2, 1] = -2.0 * 2 / 3.5  # (row 1's target is ignore_index 0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_newest_node_first():
    """torch's engine runs the node made last first: sigmoid's backward before exp's although
    the sum lists exp's branch second."""
    x = _w(2, 3)
    with Log() as m:
        b = x.exp()
        a = x.sigmoid()
        (a + b).sum().backward()
    assert m.funcs[8:] == ["aten.detach.default", "aten.sigmoid_backward.default",
                           "aten.detach.default", "aten.mul.Tensor", "aten.add.Tensor",
                           "aten.detach.default"]
