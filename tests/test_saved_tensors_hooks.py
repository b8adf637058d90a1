"""saved_tensors_hooks around dlpy's built-in ops (pack at forward, unpack at backward, the
values backward reads), grad_fn._raw_saved_* and calling a node, in dlpy's own terms."""

import importlib
import os
import tempfile
import uuid

import numpy as np
import pytest

import dlpy
from dlpy import autograd_function as af

engine = importlib.import_module("dlpy.tensor")  # the module (dlpy.tensor is the function)


def _leaves():
    x = dlpy.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    w = dlpy.tensor(np.array([2.0, 0.5, -1.0]), requires_grad=True)
    return x, w


def test_no_block_no_packing_state():
    x, w = _leaves()
    y = x * w
    assert engine._pack_hooks is None
    assert "_packed" not in y.grad_fn.__dict__


def test_pack_order_and_unpack_once_each():
    x, w = _leaves()
    log = []
    with af.saved_tensors_hooks(lambda t: log.append(("p", t)) or t,
                                lambda t: log.append(("u", t)) or t):
        y = (x * w).exp().sum()
    assert engine._pack_hooks is None  # restored on exit
    assert [kind for kind, _ in log] == ["p", "p", "p"]
    assert log[0][1] is w and log[1][1] is x  # mul: other, then self (torch's order)
    y.backward()
    assert [kind for kind, _ in log[3:]] == ["u", "u", "u"]
    np.testing.assert_allclose(x.grad.data, w.data * np.exp(x.data * w.data))


def test_round_trip_through_files_gives_the_gradients():
    x, w = _leaves()
    folder = tempfile.mkdtemp()

    def to_disk(t):
        path = os.path.join(folder, uuid.uuid4().hex + ".npy")
        np.save(path, t.data)
        return path

    def from_disk(path):
        return dlpy.tensor(np.load(path))

    with af.saved_tensors_hooks(to_disk, from_disk):
        y = (x.sin() * w).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.data, np.cos(x.data) * w.data)
    np.testing.assert_allclose(w.grad.data, np.sin(x.data))
    assert len(os.listdir(folder)) == 3  # sin's self, then mul's other and self (as torch's)


def test_unpacked_values_are_used_relu_mask_too():
    x, _ = _leaves()
    with af.saved_tensors_hooks(lambda t: t, lambda t: -t):
        y = x.relu().sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])


def test_packed_tensors_skip_the_version_check():
    x, _ = _leaves()
    a = x * 1
    with af.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = a.sin()
    with dlpy.no_grad():
        a.mul_(2)
    y.sum().backward()  # torch reads the changed values, without refusing
    np.testing.assert_allclose(x.grad.data, np.cos(2 * np.array([1.0, -2.0, 3.0])))


def test_unpack_must_give_a_tensor():
    x, _ = _leaves()
    with af.saved_tensors_hooks(lambda t: t, lambda t: 3):
        y = x.exp().sum()
    with pytest.raises(TypeError, match="unpack_hook"):
        y.backward()


def test_raw_saved_register_hooks():
    x, w = _leaves()
    y = x * w
    log = []
    y.grad_fn._raw_saved_self.register_hooks(lambda t: log.append("p") or t * 2,
                                             lambda t: log.append("u") or t)
    assert log == ["p"]
    with pytest.raises(RuntimeError, match="already been set"):
        y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t)
    y.sum().backward()
    assert log == ["p", "u"]
    np.testing.assert_allclose(w.grad.data, 2 * x.data)
    with pytest.raises(RuntimeError, match="second time"):
        y.grad_fn._raw_saved_self.unpack()


def test_calling_a_node():
    x, w = _leaves()
    y = x * w
    g = dlpy.tensor(np.array([1.0, -2.0, 0.5]))
    gx, gw = y.grad_fn(g)
    np.testing.assert_allclose(gx.data, g.data * w.data)
    np.testing.assert_allclose(gw.data, g.data * x.data)
    assert x.grad is None and w.grad is None
    assert y.grad_fn(None) == (None, None)
    with pytest.raises(TypeError):
        y.grad_fn(g, g)
    with pytest.raises(TypeError):
        y.grad_fn(1.0)
    z = x.exp()
    np.testing.assert_allclose(z.grad_fn(g).data, g.data * np.exp(x.data))
    z.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.grad_fn(g)


def test_div_reads_its_operands_not_its_output():
    x, w = _leaves()
    y = x / w
    z = y * 1
    with dlpy.no_grad():
        y.add_(1)  # torch's DivBackward0 saved self and other: no refusal
    z.sum().backward()
    np.testing.assert_allclose(w.grad.data, -x.data / w.data ** 2)


@pytest.mark.parametrize("need_weights", [False, True])
def test_fused_multi_head_attention_reads_what_unpack_gives(need_weights):
    """The fused attention op holds q, k, v and its output as per-head views (axes moved,
    not a reshape): through the hooks its backward reads them rebuilt from what unpack gives
    (the gradients were wrong when the views were refilled as plain reshapes)."""
    from dlpy import nn

    mha = nn.MultiheadAttention(8, 2, dtype=np.float64, batch_first=True,
                                rng=np.random.default_rng(3))
    x0 = np.random.default_rng(2).standard_normal((2, 5, 8))
    mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    grads = []
    for scale in (None, 1.0, 2.0):
        x = dlpy.tensor(x0, requires_grad=True)
        if scale is None:
            y = mha(x, x, x, attn_mask=mask, need_weights=need_weights)[0]
        else:
            with af.saved_tensors_hooks(lambda t: t, lambda t, s=scale: t * s):
                y = mha(x, x, x, attn_mask=mask, need_weights=need_weights)[0]
        (y * y).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])  # identity hooks: the same gradient
    assert not np.allclose(grads[0], grads[2])  # doubled saved values do change it
