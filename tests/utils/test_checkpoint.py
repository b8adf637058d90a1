"""dlpy.utils.checkpoint: the gradients equal the ones without checkpointing bit for bit
(dropout included), parameters and outside tensors get theirs, autograd.grad / hooks /
retain_graph work, and the activations are not kept."""

import gc

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, graph, nn
from dlpy.autograd import Function, grad
from dlpy.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential


def mlp(seed=0, depth=4, width=16, p=0.2):
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, rng=rng, dtype=np.float64), nn.GELU(), nn.Dropout(p)]
    return nn.Sequential(*layers)


def run(model, x0, forward):
    """Seeded forward + backward; output, input gradient, parameter gradients and the next
    number the default generator gives."""
    dlpy.manual_seed(7)
    x = Tensor(x0, requires_grad=True)
    y = forward(model, x)
    (y * y).sum().backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    return y.data, x.grad, grads, dlpy.default_generator().random()


def assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for g, h in zip(a[2], b[2]):
        np.testing.assert_array_equal(g, h)
    assert a[3] == b[3]  # the recomputation left the default generator where it was


X0 = np.random.default_rng(1).standard_normal((6, 16))


@pytest.mark.parametrize("segments", [1, 2, 3, 12])
def test_checkpoint_sequential_gives_the_same_gradients_with_dropout(segments):
    model = mlp()
    plain = run(model, X0, lambda m, x: m(x))
    assert_same(plain, run(model, X0, lambda m, x: checkpoint_sequential(
        m, segments, x, use_reentrant=False)))


def test_checkpoint_per_layer_block_gives_the_same_gradients():
    model = mlp()
    blocks = [nn.Sequential(*list(model)[i:i + 3]) for i in range(0, 12, 3)]

    def checkpointed(m, x):
        for block in blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return x

    assert_same(run(model, X0, lambda m, x: m(x)), run(model, X0, checkpointed))


def test_a_transformer_stack_with_its_own_generators():
    """Dropout drawing from generators the modules hold (rng=) is replayed too."""
    def stack():
        rng = np.random.default_rng(3)
        return nn.ModuleList([nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, rng=rng,
                                                         dtype=np.float64, batch_first=True)
                              for _ in range(3)])

    x0 = np.random.default_rng(2).standard_normal((2, 5, 8))
    mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    def plain_forward(m, x):
        for layer in m:
            x = layer(x, src_mask=mask)
        return x

    def checkpointed(m, x):
        for layer in m:
            x = checkpoint(layer, x, src_mask=mask, use_reentrant=False)
        return x

    plain = run(stack(), x0, plain_forward)

    assert_same(plain, run(stack(), x0, checkpointed))


def test_without_preserve_rng_state_the_masks_differ():
    model = mlp()
    plain = run(model, X0, lambda m, x: m(x))
    other = run(model, X0, lambda m, x: checkpoint(m, x, preserve_rng_state=False,
                                                   use_reentrant=False))
    np.testing.assert_array_equal(plain[0], other[0])  # the forward is the same
    assert not np.array_equal(plain[1], other[1])  # backward used other dropout masks


def test_autograd_grad_parameters_and_tensors_from_outside():
    rng = np.random.default_rng(4)
    layer = nn.Linear(5, 5, rng=rng, dtype=np.float64)
    x0 = rng.standard_normal((3, 5))
    results = []
    for use in (False, True):
        x = Tensor(x0, requires_grad=True)
        outside = F.tanh(layer(x))  # not an argument, not a leaf: read from the closure

        def block(u, outside=outside):
            return F.tanh(layer(u) + outside) * u

        y = checkpoint(block, x, use_reentrant=False) if use else block(x)
        results.append(grad((y * y).sum(), [x, layer.weight, layer.bias, outside]))
        assert layer.weight.grad is None and x.grad is None  # grad() touches no .grad
    # x and the weight reach the loss by several paths: their sums may be added in another
    # order, so the last bit may differ
    for a, b in zip(*results):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-14, atol=1e-15)


def test_non_reentrant_keeps_no_activation_and_recomputes_once_per_pass():
    """use_reentrant=False records the real graph (its nodes, torch's names) but what its
    ops saved is gone until backward recomputes it: the block's intermediate tensors are
    freed after the forward, and the function runs once per backward pass."""
    import weakref

    model = mlp(depth=3, p=0.0)
    x = Tensor(X0, requires_grad=True)
    kept, calls = [], []

    def block(u):
        calls.append(1)
        h = model[0](u)
        kept.append(weakref.ref(h))
        return model[1:](h)

    y = checkpoint(block, x, use_reentrant=False)
    gc.collect()
    assert len(calls) == 1 and y.grad_fn.name() == "GeluBackward0"
    assert kept[0]() is None  # nothing held the first layer's output
    plain = model(x)
    (y * y).sum().backward(retain_graph=True)
    assert len(calls) == 2
    first = x.grad.numpy().copy()
    x.grad = None
    (plain * plain).sum().backward()
    np.testing.assert_array_equal(first, x.grad)
    x.grad = None
    (y * y).sum().backward()  # a second pass recomputes again
    assert len(calls) == 3
    np.testing.assert_array_equal(first, x.grad)
    # with use_reentrant=True the forward ran under no_grad: one op, the inputs x and the
    # 6 parameters, nothing computed inside
    y = checkpoint(model, x, use_reentrant=True)
    op = y.op
    assert type(op).__name__ == "Checkpoint" and op.describe() == "Checkpoint(Sequential)"
    assert op.inputs[0] is x and len(op.inputs) == 7
    assert all(t.op is None for t in op.inputs)
    assert graph.validate(y.sum()) == {"tensors": 9, "ops": 2, "parameters": 7}


def test_several_outputs_keywords_and_non_tensor_outputs():
    rng = np.random.default_rng(5)
    w = Tensor(rng.standard_normal((4, 4)), requires_grad=True)
    x0 = rng.standard_normal((2, 4))

    def f(x, scale, *, shift):
        h = x @ w
        return F.sin(h) * scale + shift, F.cos(h), "note", np.argmax(h.data, axis=1)

    out = []
    for use in (False, True):
        x = Tensor(x0, requires_grad=True)
        w.grad = None
        a, b, note, index = (checkpoint(f, x, 2.0, shift=1.0, use_reentrant=False) if use
                             else f(x, 2.0, shift=1.0))
        assert note == "note" and index.dtype == np.int64
        (a.sum() + (b * b).sum()).backward()
        out.append((a.data, x.grad, w.grad))
    for p, q in zip(*out):
        np.testing.assert_array_equal(p, q)
    x = Tensor(x0, requires_grad=True)
    a, b, _, _ = checkpoint(f, x, 2.0, shift=1.0, use_reentrant=False)
    a.sum().backward()  # b unused: its gradient is zero
    np.testing.assert_allclose(x.grad, (2.0 * np.cos(x0 @ w.data)) @ w.data.T, rtol=1e-12)


def test_retain_graph_hooks_and_a_custom_function_inside():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = checkpoint(lambda u: Square.apply(u) * 3, x, use_reentrant=False)
    y.register_hook(lambda g: g * 2)
    y.sum().backward(retain_graph=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * 2 * 6 * x.data)
    np.testing.assert_array_equal(seen[0], 12 * x.data)


def test_nested_checkpoints():
    model = mlp(depth=4)

    def outer(m, x):
        def inner_pair(u, start):
            return checkpoint(nn.Sequential(*list(m)[start:start + 6]), u, use_reentrant=False)
        return checkpoint(lambda u: inner_pair(inner_pair(u, 0), 6), x, use_reentrant=False)

    assert_same(run(model, X0, lambda m, x: m(x)), run(model, X0, outer))


def test_sparse_embedding_gradients_pass_through():
    rng = np.random.default_rng(6)
    emb = nn.Embedding(10, 3, sparse=True, rng=rng)
    ids = np.array([1, 4, 4, 7])
    y = checkpoint(emb, ids, use_reentrant=False)
    (y * y).sum().backward()
    sparse = emb.weight.grad
    emb.weight.grad = None
    z = emb(ids)
    (z * z).sum().backward()
    np.testing.assert_array_equal(sparse.to_dense(), emb.weight.grad.to_dense())


def test_no_grad_and_nothing_to_differentiate_run_plainly():
    model = mlp(p=0.0)
    with dlpy.no_grad():
        y = checkpoint(model, Tensor(X0), use_reentrant=False)
    assert y.op is None
    f = checkpoint(lambda u: u * 2, Tensor(X0), use_reentrant=False)  # nothing needs a gradient
    assert f.op is None and not f.requires_grad
    x = Tensor(X0, requires_grad=True)
    y = checkpoint(lambda u: u, x, use_reentrant=False)  # an input returned as it is
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones_like(X0))


def test_errors():
    x = Tensor(X0, requires_grad=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda u, scale: u * scale, x, use_reentrant=True, scale=2.0)
    with pytest.raises(TypeError, match="use_reentrant must be True or False"):
        checkpoint(lambda u: u, x, use_reentrant="yes")
    from dlpy import autograd_function

    gc.collect()  # (a dispatch subclass an earlier test left keeps its dispatcher until then)
    assert dlpy.Op.__call__ is autograd_function.PLAIN_CALL_SITES["op_call"]  # tracing is off
    calls = []

    def changing(u):  # saves a tensor of another shape when recomputed
        calls.append(1)
        return u[: len(calls)].exp()

    y = checkpoint(changing, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match=r"(?s)Recomputed values for the following tensors "
                       r"have different metadata.*tensor at position 0.*\[1, 16\].*\[2, 16\]"):
        y.sum().backward()
    calls.clear()
    y = checkpoint(lambda u: u.exp().exp() if not calls.append(1) and len(calls) == 1
                   else u.exp(), x, use_reentrant=False)  # saves 2 tensors, then 1
    with pytest.raises(CheckpointError, match="A different number of tensors was saved"):
        y.sum().backward()
    calls.clear()
    w = x * 1
    y = checkpoint(lambda u: u.exp(), w, use_reentrant=False)
    w.mul_(2)  # an argument changed in place before backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    with pytest.raises(ValueError, match=r"segments must be an int from 1 to the number of "
                                         r"functions \(12\), got 13"):
        checkpoint_sequential(mlp(), 13, x, use_reentrant=False)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint_sequential(mlp(), 2, x, scale=2, use_reentrant=False)


def test_gradcheck_through_checkpoint():
    from dlpy.testing import gradcheck

    model = mlp(depth=2, width=3, p=0.0)
    x = Tensor(np.random.default_rng(8).standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(lambda x: checkpoint(model, x, use_reentrant=False), x)
    assert gradcheck(lambda x: checkpoint_sequential(model, 2, x, use_reentrant=False), x)
    with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
        checkpoint(model, x, debug=True, use_reentrant=True)


def test_selective_checkpoint_policies_change_no_value():
    """create_selective_checkpoint_contexts: the policy is asked about each op of the forward
    (never the recomputation), and whatever it answers the gradients are checkpoint's."""
    import functools

    from dlpy.aten import aten
    from dlpy.utils.checkpoint import (
        CheckpointPolicy,
        create_selective_checkpoint_contexts,
        set_checkpoint_early_stop,
    )

    x0 = np.sin(np.arange(12.0)).reshape(3, 4)
    w0 = np.cos(np.arange(16.0)).reshape(4, 4)

    def fn(x, w):
        return F.sigmoid((x @ w) @ w) * 2

    def grads(**kwargs):
        x, w = Tensor(x0, requires_grad=True), Tensor(w0, requires_grad=True)
        out = checkpoint(fn, x, w, use_reentrant=False, **kwargs)
        out.sum().backward()
        return out.numpy(), x.grad.numpy(), w.grad.numpy()

    asked = []

    def policy(ctx, op, *args, **kwargs):
        asked.append(ctx.is_recompute)
        return CheckpointPolicy.PREFER_RECOMPUTE

    plain = grads()
    for context_fn in (functools.partial(create_selective_checkpoint_contexts, policy),
                       functools.partial(create_selective_checkpoint_contexts,
                                         [aten.mm.default])):
        for got, want in zip(grads(context_fn=context_fn), plain):
            np.testing.assert_array_equal(got, want)
    assert asked and not any(asked)
    with set_checkpoint_early_stop(False):
        for got, want in zip(grads(), plain):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="OpOverload"):
        create_selective_checkpoint_contexts([aten.mm])
    with pytest.raises(TypeError):
        create_selective_checkpoint_contexts(3)
    # a policy's answer is not checked (torch's): any value runs, the values unchanged
    for got, want in zip(grads(context_fn=functools.partial(
            create_selective_checkpoint_contexts, lambda ctx, op, *a, **k: "save")), plain):
        np.testing.assert_array_equal(got, want)


def test_device_states_are_empty_on_cpu():
    """torch's get_device_states / set_device_states (GradCache-style RNG replays call them):
    dlpy's tensors live on the CPU, so there are no accelerator states to save or restore."""
    from dlpy.utils.checkpoint import get_device_states, set_device_states

    x = dlpy.ones(3, requires_grad=True)
    devices, states = get_device_states(x, 2.0, None)
    assert (devices, states) == ([], [])
    set_device_states(devices, states)  # restoring nothing is fine
    with pytest.raises(RuntimeError):
        set_device_states([0], [object()])
    with pytest.raises(ValueError):
        set_device_states([0], [])
