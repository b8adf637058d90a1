"""Optimiser state dicts in PyTorch's layout (a torch Adam/SGD state dict loads and continues
as torch did: tests/fixtures/optim/api.npz), optimiser hooks, and PyTorch's implementation
switches (foreach=, fused=, capturable=, differentiable=)."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import nn, optim

from . import replay

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "api.npz"
OPTIMISERS = {  # as make_optim_api_fixtures.OPTIMISERS
    "adam": ("Adam", [{"lr": 0.01}, {"lr": 0.02, "amsgrad": True, "weight_decay": 0.1}]),
    "sgd": ("SGD", [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.5,
                                                   "nesterov": True}]),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _build(name, reference=None, start=None):
    cls, settings = OPTIMISERS[name]
    return replay.state_dict_build(getattr(optim, cls), reference, f"sd:{name}:", settings, start,
                                   lr=settings[0]["lr"])


def _torch_state(name, reference):
    """torch's state_dict() after 3 steps, its tensors as arrays."""
    return replay.torch_state(reference, f"sd:{name}:")


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_torch_state_dict_loads_and_continues_as_torch(name, reference):
    after3 = [reference[f"sd:{name}:after3_{i}"] for i in range(2)]
    params, opt = _build(name, reference, start=after3)
    opt.load_state_dict(_torch_state(name, reference))
    replay.run(f"sd:{name}", reference, params, opt, [3])
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.data, reference[f"sd:{name}:after4_{i}"], rtol=1e-13,
                                   atol=1e-15, err_msg=f"{name}: parameter {i}")


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_own_state_dicts_round_trip_in_either_layout(name, reference):
    params, opt = _build(name, reference)
    replay.run(f"sd:{name}", reference, params, opt, range(3))
    nested = opt.state_dict(torch_layout=True)
    assert sorted(nested) == ["param_groups", "state"]
    assert [g["params"] for g in nested["param_groups"]] == [[0], [1]]
    assert nested["param_groups"][0]["lr"] == OPTIMISERS[name][1][0]["lr"]
    for layout in (nested, opt.state_dict()):
        other_params, other = _build(name, reference)
        other.load_state_dict(layout)
        replay.check_same_state(opt, other, torch_layout=layout is nested)


def test_torch_state_dict_errors(reference):
    state = _torch_state("adam", reference)
    _, opt = _build("adam", reference)
    with pytest.raises(ValueError, match="loaded state dict has a different number of "
                                         "parameter groups"):  # (torch's message)
        opt.load_state_dict({**state, "param_groups": state["param_groups"][:1]})
    wrong = [dict(g) for g in state["param_groups"]]
    wrong[1]["decoupled_weight_decay"] = True  # Adam's is a group setting: kept, as torch's
    opt.load_state_dict({**state, "param_groups": wrong})
    assert [g["decoupled_weight_decay"] for g in opt.param_groups] == [False, True]
    _, opt = _build("adam", reference)
    wrong[1] = {**state["param_groups"][1], "tag": "head"}  # kept, as torch's
    opt.load_state_dict({**state, "param_groups": wrong})
    assert opt.param_groups[1]["tag"] == "head" and "tag" not in opt.param_groups[0]
    _, sgd = _build("sgd", reference)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: unexpected key 'state.0.step'"):
        sgd.load_state_dict(state)  # Adam's state (its missing settings: SGD's defaults)


def _one_param_sgd():
    p = nn.Parameter(np.ones(2))
    return p, optim.SGD([p], lr=0.5)


def test_step_hooks_run_in_order_and_come_off():
    p, opt = _one_param_sgd()
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o, args)))
    post = opt.register_step_post_hook(lambda o, args, kwargs: calls.append(
        ("post", float(p.data[0]))))
    p.grad = np.ones(2)
    opt.step()
    assert calls == [("pre", opt, (opt,)), ("post", 0.5)]  # (torch's args start with it)
    pre.remove()
    post.remove()
    opt.step()
    assert len(calls) == 2
    np.testing.assert_array_equal(p.data, [0.0, 0.0])


def test_step_pre_hook_may_replace_the_arguments():
    params = [nn.Parameter(np.array([1.0, 2.0]))]
    opt = optim.LBFGS(params, lr=1.0, max_iter=1)
    seen = []

    def closure():
        seen.append("closure")
        opt.zero_grad()
        params[0].grad = params[0].data.copy()
        return float(params[0].data @ params[0].data) / 2

    opt.register_step_pre_hook(lambda o, args, kwargs: ((o,), {"closure": closure}))
    opt.step(lambda: pytest.fail("the hook's closure should run"))
    assert seen == ["closure"] and not np.array_equal(params[0].data, [1.0, 2.0])
    opt.register_step_pre_hook(lambda o, args, kwargs: "oops")
    with pytest.raises(RuntimeError, match="LBFGS.step: a step pre-hook must return None or "
                                           r"\(args, kwargs\)"):
        opt.step(closure)


def test_without_hooks_step_is_the_class_method():
    _, opt = _one_param_sgd()
    assert "step" not in vars(opt)  # nothing in the way of the step when no hook is set
    opt.register_step_post_hook(lambda *a: None)
    assert "step" in vars(opt)


def test_state_dict_hooks():
    p, opt = _one_param_sgd()
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, state: {**state, "extra": np.ones(1)})
    first = opt.register_state_dict_post_hook(lambda o, state: calls.append("first"),
                                              prepend=True)
    state = opt.state_dict()
    assert calls == ["pre", "first"] and "extra" in state
    first.remove()
    loaded = []
    opt.register_load_state_dict_pre_hook(
        lambda o, s: {k: v for k, v in s.items() if k != "extra"})
    opt.register_load_state_dict_post_hook(lambda o: loaded.append(o))
    opt.load_state_dict(state)  # the pre-hook drops "extra", which would be an error
    assert loaded == [opt] and calls == ["pre", "first"]
    with pytest.raises(TypeError, match="SGD.register_step_pre_hook: a hook must be callable"):
        opt.register_step_pre_hook(3)


@pytest.mark.parametrize("name, flags", [
    ("SGD", {"foreach": None, "fused": False, "differentiable": False}),
    ("Adam", {"foreach": False, "fused": True, "capturable": False, "differentiable": False}),
    ("AdamW", {"foreach": False, "capturable": False}),
    ("RMSprop", {"foreach": None, "capturable": False}),
    ("Adagrad", {"fused": None, "foreach": None}),
    ("Adamax", {"capturable": False}), ("NAdam", {"foreach": True}), ("RAdam", {"foreach": True}),
    ("Rprop", {"capturable": False}), ("ASGD", {"foreach": None}),
])
def test_torch_implementation_switches_are_accepted_and_change_nothing(name, flags):
    runs = []
    for kwargs in ({}, flags):
        p = nn.Parameter(np.array([1.0, -2.0, 3.0]))
        opt = getattr(optim, name)([p], lr=0.1, **kwargs)
        for _ in range(3):
            p.grad = p.data * 2.0
            opt.step()
        runs.append(p.data.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_capturable_and_foreach_differentiable_steps_are_torch_assertions():
    # capturable=True is for CUDA graphs: torch's step asserts the parameters are on a GPU,
    # after making the group's state (kept after the error)
    p = nn.Parameter(np.ones(2))
    opt = optim.AdamW([p], capturable=True)
    p.grad = dlpy.tensor(np.ones(2))
    with pytest.raises(AssertionError, match="If capturable=True, params and state_steps must "
                                             "be on supported devices"):
        opt.step()
    assert sorted(opt.state[p]) == ["exp_avg", "exp_avg_sq", "step"]
    np.testing.assert_array_equal(p.data, [1.0, 1.0])
    # foreach=True with differentiable=True: torch's for-each step asserts it is not recorded
    opt = optim.NAdam([p], foreach=True, differentiable=True)
    with pytest.raises(AssertionError, match="_foreach ops don't support autograd"):
        opt.step()
    assert float(opt.state[p]["step"]) == 0.0


def test_torch_switches_errors():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match="SGD.__init__\\(\\) got an unexpected keyword argument "
                                        "'capturable'"):
        optim.SGD([p], lr=0.1, capturable=True)  # torch's SGD has none
    with pytest.raises(TypeError, match="unexpected keyword argument 'fast'"):
        optim.Adam([p], fast=True)
    # differentiable=True: taken, as torch's; its step fails on a parameter that requires
    # grad (torch's in-place update under the autograd), is the plain step on one that does not
    opt = optim.Adam([p], differentiable=True)
    p.grad = dlpy.tensor(np.ones(2))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        opt.step()
    q = dlpy.tensor(np.ones(2))
    q.grad = dlpy.tensor(np.ones(2))
    opt = optim.Adam([q], lr=0.1, differentiable=True)
    opt.step()
    np.testing.assert_allclose(q.data, [0.9, 0.9])
    q.grad = dlpy.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(NotImplementedError, match="differentiable=True with a gradient"):
        opt.step()
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        optim.Adam([p], foreach=True, fused=True)
    # the groups hold them (the constructor's, or a group's own), as PyTorch's param_groups do
    opt = optim.Adam([{"params": [p], "foreach": False}], fused=None)
    assert opt.param_groups[0]["foreach"] is False and opt.param_groups[0]["fused"] is None
    assert opt.param_groups[0]["decoupled_weight_decay"] is False


def test_the_default_layout_is_torchs_while_compat_stands_in_for_torch(tmp_path):
    from dlpy import compat

    layer = nn.Linear(2, 1)
    opt = optim.Adam(layer.parameters(), lr=0.01)
    layer(dlpy.ones(3, 2)).sum().backward()
    opt.step()
    assert "state" not in opt.state_dict()  # dlpy's flat arrays
    with compat.as_torch():  # a torch program reads sd["param_groups"][0]["lr"]
        state = opt.state_dict()
        assert sorted(state) == ["param_groups", "state"]
        assert state["param_groups"][0]["lr"] == 0.01
        assert sorted(state["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
        nn.save_checkpoint(tmp_path / "c.npz", layer, opt)  # .npz checkpoints stay flat
    again = optim.Adam(layer.parameters(), lr=0.01)
    again.load_state_dict(state)
    nn.load_checkpoint(tmp_path / "c.npz", layer, again)
    np.testing.assert_array_equal(again.state_dict()["state.0.exp_avg"],
                                  opt.state_dict()["state.0.exp_avg"])


def test_global_step_hooks_run_around_every_optimiser():
    from dlpy.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )
    p, opt = _one_param_sgd()
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("local pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("local post"))
    pre = register_optimizer_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    post = register_optimizer_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    try:
        p.grad = np.ones(2)
        opt.step()
    finally:
        pre.remove()
        post.remove()
    opt.step()
    assert calls == ["pre", "local pre", "local post", "post", "local pre", "local post"]


def test_live_state_writes_reach_the_step_and_user_keys_stay_out_of_the_flat_layout():
    w = nn.Parameter(dlpy.tensor([1.0, -2.0, 0.5]))
    opt = optim.Adam([w], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    opt.state[w]["step"] += 3  # as torch's: the bias correction of step 5 next
    assert int(opt.state[w]["step"]) == 5
    opt.state[w]["tag"] = "mine"
    assert opt.state[w]["tag"] == "mine" and opt.state_dict(torch_layout=True)["state"][0][
        "tag"] == "mine"
    flat = opt.state_dict(torch_layout=False)
    assert not any("tag" in key for key in flat)
    opt.load_state_dict(flat)  # the flat layout holds no user keys: they go
    assert "tag" not in opt.state[w] and int(opt.state[w]["step"]) == 5
    with pytest.raises(KeyError, match="not one of the optimiser's parameters"):
        opt.state[dlpy.tensor([1.0])]["step"] = 1
    with pytest.raises(RuntimeError, match=r"expected shape \(3,\).*got \(2,\)"):
        opt.state[w]["exp_avg"] = dlpy.zeros(2)
    opt.state[w].clear()  # a fresh start: the next step is step 1 again
    opt.zero_grad()
    (w * w).sum().backward()
    opt.step()
    assert int(opt.state[w]["step"]) == 1
