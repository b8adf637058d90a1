"""Gradient hooks on tensors and forward and backward hooks on modules, with PyTorch's
semantics: `register_hook` sees (and may replace) a tensor's gradient, before a leaf
accumulates it; `register_forward_pre_hook` / `register_forward_hook` see (and may replace) a
module's inputs and output; `register_full_backward_pre_hook` / `register_full_backward_hook`
see (and may replace) the gradients of its outputs and inputs (checked against PyTorch's:
tests/fixtures/habits, made by tests/fixtures/make_habits_fixtures.py); every handle's
`remove()` takes its hook off."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "habits.npz"


def test_gradient_hook_sees_and_replaces_the_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    h = x * 2.0  # an intermediate: its gradient is 3 * h^2 = 12 x^2
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.numpy().copy()))
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


# ----------------------------------------------------------------- module backward hooks
@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith("mh:")}


def _model(ref):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    model.load_state_dict({"0.weight": ref["mh:w1"], "0.bias": ref["mh:b1"],
                           "2.weight": ref["mh:w2"], "2.bias": ref["mh:b2"]})
    return model, Tensor(ref["mh:x"], requires_grad=True)


class _Scale(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale


def test_forward_hooks_with_kwargs_prepend_and_always_call_as_torchs():
    # torch 2.13's order (checked by hand with these hooks): prepended pre-hook first, then
    # in registration order; a with_kwargs pre-hook replaces args and kwargs; the prepended
    # forward hook runs first and sees the new kwargs; later hooks see its output
    m, log = _Scale(), []
    m.register_forward_pre_hook(lambda mod, a: log.append("pre1"))
    m.register_forward_pre_hook(lambda mod, a: log.append("pre0"), prepend=True)
    m.register_forward_pre_hook(
        lambda mod, a, k: log.append(("prek", k)) or ((a[0] * 2,), {"scale": 3.0}),
        with_kwargs=True)
    m.register_forward_hook(lambda mod, a, o: log.append(("h1", a[0].item(), o.item())))
    handle = m.register_forward_hook(
        lambda mod, a, k, o: log.append(("hk", k)) or o + 1, with_kwargs=True, prepend=True)
    out = m(Tensor(np.array(1.0)), scale=5.0)
    assert out.item() == 7.0  # (1 * 2) * 3 + 1
    assert log == ["pre0", "pre1", ("prek", {"scale": 5.0}), ("hk", {"scale": 3.0}),
                   ("h1", 2.0, 7.0)]
    handle.remove()
    assert m(Tensor(np.array(1.0))).item() == 6.0
    assert not m._forward_hooks_with_kwargs  # the flag left with the handle
    bad = _Scale()
    bad.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"^forward pre-hook must return None or a tuple of "
                                           r"\(new_args, new_kwargs\), but got 5\.$"):
        bad(Tensor(np.ones(2)))


def test_global_module_hooks_run_before_each_modules_own_as_torchs():
    from dlpy.nn.modules import module as M  # torch.nn.modules.module

    log = []
    lin = nn.Linear(2, 2, rng=np.random.default_rng(0))
    lin.register_forward_pre_hook(lambda m, a: log.append("own pre"))
    lin.register_forward_hook(lambda m, a, o: log.append("own post"))
    lin.register_full_backward_hook(lambda m, gi, go: log.append("own back"))
    lin.register_full_backward_pre_hook(lambda m, go: log.append("own backpre"))
    handles = [M.register_module_forward_pre_hook(lambda m, a: log.append("g pre")),
               M.register_module_forward_hook(lambda m, a, k, o: log.append(("g post", k)),
                                              with_kwargs=True),
               M.register_module_full_backward_hook(lambda m, gi, go: log.append("g back")),
               M.register_module_full_backward_pre_hook(lambda m, go: log.append("g backpre"))]
    try:
        lin(Tensor(np.ones((1, 2), np.float32), requires_grad=True)).sum().backward()
        nn.ReLU()(Tensor(np.ones(2)))  # every module: a second one, no hooks of its own
    finally:
        for handle in handles:
            handle.remove()
    # torch 2.13's order for the same hooks (checked by hand)
    assert log == ["g pre", "own pre", ("g post", {}), "own post", "g backpre", "own backpre",
                   "g back", "own back", "g pre", ("g post", {})]
    log.clear()
    lin(Tensor(np.ones((1, 2), np.float32)))
    assert log == ["own pre", "own post"]  # removed



def test_global_deprecated_backward_hook_and_its_kind_lock(monkeypatch):
    from dlpy.nn import module as M

    monkeypatch.setattr(M, "_global_is_full_backward_hook", None)  # a fresh process's state
    seen = []
    handle = M.register_module_backward_hook(
        lambda m, gi, go: seen.append((type(m).__name__, gi[0].shape, go[0].shape)))
    relu = nn.ReLU()
    try:
        relu(Tensor(np.ones(3), requires_grad=True) * 2).sum().backward()
    finally:
        handle.remove()
    assert seen == [("ReLU", (3,), (3,))]
    # as torch's: the first global backward hook's kind stays, removed or not
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks"):
        M.register_module_full_backward_hook(lambda m, gi, go: None)
    assert "register_module_backward_hook" in M.__all__

def test_always_called_forward_hooks_run_when_forward_raises():
    class Failing(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m, seen = Failing(), []
    m.register_forward_hook(lambda mod, a, o: seen.append(("always", o)), always_call=True)
    m.register_forward_hook(lambda mod, a, o: seen.append("never"))
    m.register_forward_hook(lambda mod, a, k, o: 1 / 0, always_call=True, with_kwargs=True)
    with pytest.warns(UserWarning, match="``always_call=True`` raised an exception that was "
                                         "silenced .*: division by zero"), \
            pytest.raises(ValueError, match="boom"):
        m(Tensor(np.ones(2)))
    assert seen == [("always", None)]


def test_full_backward_hooks_see_what_pytorchs_see(ref):
    model, x = _model(ref)
    seen = {}
    for i in range(3):
        model[i].register_full_backward_hook(
            lambda module, gi, go, i=i: seen.update({i: (gi, go)}))
    F.sum(model(x) ** 2).backward()
    assert sorted(seen) == [0, 1, 2]
    for i, (gi, go) in seen.items():
        assert len(gi) == 1 and len(go) == 1
        np.testing.assert_allclose(gi[0], ref[f"mh:plain:{i}:gi"], rtol=1e-12)
        np.testing.assert_allclose(go[0], ref[f"mh:plain:{i}:go"], rtol=1e-12)
    np.testing.assert_allclose(x.grad, ref["mh:plain:x_grad"], rtol=1e-12)


def test_backward_hooks_replace_gradients_as_pytorchs_do(ref):
    model, x = _model(ref)
    model[1].register_full_backward_hook(lambda module, gi, go: tuple(g * 2 for g in gi))
    model[2].register_full_backward_pre_hook(lambda module, go: tuple(g * 3 for g in go))
    F.sum(model(x) ** 2).backward()
    np.testing.assert_allclose(x.grad, ref["mh:replaced:x_grad"], rtol=1e-12)
    np.testing.assert_allclose(model[0].weight.grad, ref["mh:replaced:w1_grad"], rtol=1e-12)
    np.testing.assert_allclose(model[2].weight.grad, ref["mh:replaced:w2_grad"], rtol=1e-12)


class _Two(nn.Module):
    def forward(self, a, b):
        return a * b + a


def test_a_module_with_two_inputs_gets_both_gradients_at_once(ref):
    a, b = (Tensor(ref[f"mh:two:{k}"], requires_grad=True) for k in "ab")
    two, seen = _Two(), []
    two.register_full_backward_hook(lambda module, gi, go: seen.append((gi, go)))
    F.sum(two(a, b) ** 2).backward()
    (gi, go), = seen
    np.testing.assert_allclose(gi[0], ref["mh:two:gi0"], rtol=1e-12)
    np.testing.assert_allclose(gi[1], ref["mh:two:gi1"], rtol=1e-12)
    np.testing.assert_allclose(go[0], ref["mh:two:go"], rtol=1e-12)
    np.testing.assert_allclose(a.grad, ref["mh:two:gi0"], rtol=1e-12)
    # the second input needs no gradient: its entry is zeros (torch's), the first's still
    # arrives; an argument that is not a tensor gets None
    b.requires_grad = False
    seen.clear()
    F.sum(two(a, b) ** 2).backward()
    np.testing.assert_array_equal(seen[0][0][1], np.zeros_like(ref["mh:two:gi1"]))
    np.testing.assert_allclose(seen[0][0][0], ref["mh:two:gi0"], rtol=1e-12)


class _Pair(nn.Module):
    def forward(self, a, b):
        return a * 2.0, b * 3.0


def test_an_output_without_gradient_is_none_an_input_without_one_zeros():
    # what torch 2.13 gives for the same module: grad_output (ones, None), grad_input
    # (twos, zeros) and b.grad zeros; an output used with weight 0 gets zeros, not None
    pair, seen = _Pair(), []
    pair.register_full_backward_hook(lambda module, gi, go: seen.append((gi, go)))
    a, b = (Tensor(np.ones(2), requires_grad=True) for _ in range(2))
    x, _ = pair(a, b)
    F.sum(x).backward()
    (gi, go), = seen
    assert go[1] is None
    np.testing.assert_array_equal(go[0], [1.0, 1.0])
    np.testing.assert_array_equal(gi[0], [2.0, 2.0])
    np.testing.assert_array_equal(gi[1], [0.0, 0.0])
    np.testing.assert_array_equal(b.grad, [0.0, 0.0])
    seen.clear()
    x, y = pair(a, b)
    F.sum(x + y * 0.0).backward()
    (gi, go), = seen
    np.testing.assert_array_equal(go[1], [0.0, 0.0])
    # the pre-hook sees the same None and may leave it
    pair.register_full_backward_pre_hook(lambda module, go: seen.append(go))
    seen.clear()
    x, _ = pair(a, b)
    F.sum(x).backward()
    assert seen[0][1] is None and seen[1][1][1] is None


def test_backward_hooks_without_input_gradients_order_and_removal():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    calls = []
    handles = [model[0].register_full_backward_hook(
                   lambda module, gi, go: calls.append(("hook0", gi))),
               model[2].register_full_backward_pre_hook(
                   lambda module, go: calls.append(("pre2", len(go)))),
               model.register_full_backward_hook(lambda module, gi, go: calls.append(("all",)))]
    x = dlpy.randn(5, 3)  # needs no gradient: model[0]'s hook gets (None,)
    F.sum(model(x)).backward()
    # as PyTorch: a module none of whose inputs needs a gradient hears of its outputs' at once
    assert calls == [("all",), ("pre2", 1), ("hook0", (None,))]
    for handle in handles:
        handle.remove()
    calls.clear()
    F.sum(model(x)).backward()
    with dlpy.no_grad():
        model[0].register_full_backward_hook(lambda *a: calls.append("x"))
        model(x)  # under no_grad nothing is gated
    assert calls == []


def test_backward_hook_errors():
    layer = nn.Linear(3, 2)
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with layer.register_full_backward_hook(lambda module, gi, go: (np.ones(4),)):
        with pytest.raises(RuntimeError, match=r"a gradient of shape \(4,\) for one of shape "
                                               r"\(2, 3\)"):
            F.sum(layer(x)).backward()
    with layer.register_full_backward_pre_hook(lambda module, go: (go[0], go[0])):
        with pytest.raises(RuntimeError, match="returned 2 gradients for 1"):
            F.sum(layer(x)).backward()
    with pytest.raises(TypeError, match="a hook must be callable"):
        layer.register_full_backward_hook(None)


def test_a_hooked_module_given_one_tensor_thrice_computes_the_same_gradient():
    rng = np.random.default_rng(0)
    mha = nn.MultiHeadAttention(8, 2, rng=rng).double()
    x = Tensor(rng.standard_normal((2, 5, 8)), requires_grad=True)
    F.sum(mha(x, x, x) ** 2).backward()
    plain, x.grad = x.grad, None
    seen = []
    mha.register_full_backward_hook(lambda module, gi, go: seen.append(gi))
    F.sum(mha(x, x, x) ** 2).backward()
    np.testing.assert_allclose(x.grad, plain, rtol=1e-12, atol=1e-14)
    (gi,) = seen  # one call; the query, key and value gradients apart, summing to x's
    assert len(gi) == 3
    np.testing.assert_allclose(gi[0] + gi[1] + gi[2], plain, rtol=1e-12, atol=1e-14)


def test_removing_the_last_global_hook_puts_module_calls_back_on_the_plain_path():
    from dlpy.nn import module as module_mod

    handle = nn.modules.module.register_module_forward_hook(lambda m, a, o: None)
    assert module_mod._global_hooks_used
    handle.remove()
    assert not module_mod._global_hooks_used
    seen = []

    class AddsAHook(nn.Module):
        def forward(self, x):  # a hook registered while a hook-less module runs: from the
            self.register_forward_hook(lambda m, a, o: seen.append(1))  # next call, as torch
            return x

    m = AddsAHook()
    m(dlpy.ones(2))
    assert seen == []
    m(dlpy.ones(2))  # the hook from before, and the one added now (read after forward)
    assert seen == [1, 1]


def test_gradient_hooks_see_one_tensor_until_one_replaces_it():
    """As torch's: the hooks of a tensor get the same gradient Tensor object (an attribute one
    hook sets is there for the next, as captum's LRP relies on), and a hook's returned Tensor
    is what the next one gets."""
    x = dlpy.tensor(np.ones(3), requires_grad=True)
    y = x * 2
    seen = []

    def mark(g):
        g.mark = "set"

    def read_and_replace(g):
        seen.append(getattr(g, "mark", None))
        out = g * 3
        out.mark = "returned"
        return out

    y.register_hook(mark)
    y.register_hook(read_and_replace)
    y.register_hook(lambda g: seen.append(getattr(g, "mark", None)))
    y.sum().backward()
    assert seen == ["set", "returned"]
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0, 6.0])
