"""Parameter groups: per-group settings step for step against PyTorch (tests/fixtures/optim/
groups.npz, written by tests/fixtures/make_optim_fixtures.py), add_param_group, schedulers over
several groups, state round trips (including dlpy's one-group format from before groups), and
errors."""

from pathlib import Path

import numpy as np
import pytest

from dlpy import nn
from dlpy.nn import Parameter
from dlpy.optim import SGD, Adam, AdamW, lr_scheduler

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "groups.npz"
STEPS = 5

# the same cases as GROUP_CASES in tests/fixtures/make_optim_fixtures.py
CASES = {
    "sgd_groups": (SGD, {"lr": 0.1, "momentum": 0.9},
                   [([0, 1], {}), ([2], {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1,
                                         "nesterov": True})], None),
    "adam_groups": (Adam, {"lr": 0.01},
                    [([0], {}), ([1, 2], {"betas": (0.8, 0.99), "weight_decay": 0.1,
                                          "eps": 1e-6})], None),
    "adamw_groups": (AdamW, {"lr": 0.01, "weight_decay": 0.1},
                     [([0, 1], {}), ([2], {"weight_decay": 0.0, "lr": 0.03})], None),
    "adamw_added": (AdamW, {"lr": 0.01},
                    [([0], {}), ([1, 2], {"lr": 0.02, "weight_decay": 0.0})], 2),
}
SCHEDULES = {
    "StepLR": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.1),
    "LambdaLR": lambda o: lr_scheduler.LambdaLR(
        o, [lambda epoch: 0.9 ** epoch, lambda epoch: 1.0 / (epoch + 1)]),
    "CosineAnnealingLR": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _build(case, reference, upto=None):
    cls, kwargs, spec, added_at = CASES[case]
    params = [Parameter(reference[f"{case}:param{i}"], dtype=np.float64) for i in range(3)]
    groups = [{"params": [params[i] for i in indices], **settings} for indices, settings in spec]
    opt = cls(groups if added_at is None else groups[:-1], **kwargs)
    return params, groups, opt, added_at


def _run(case, reference, params, groups, opt, added_at, steps):
    for t in steps:
        if t == added_at:
            opt.add_param_group(groups[-1])
        for i, p in enumerate(params):
            p.grad = reference[f"{case}:grad{t}_{i}"].copy()
        opt.step()


@pytest.mark.parametrize("case", sorted(CASES))
def test_groups_match_torch(case, reference):
    params, groups, opt, added_at = _build(case, reference)
    for t in range(STEPS):
        _run(case, reference, params, groups, opt, added_at, [t])
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.data, reference[f"{case}:after{t}_{i}"], rtol=1e-12,
                                       atol=1e-12, err_msg=f"{case}: step {t}, parameter {i}")


def test_groups_fill_in_the_constructor_settings():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = AdamW([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, betas=(0.8, 0.9))
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert all(g["betas"] == (0.8, 0.9) and g["weight_decay"] == 0.01
               for g in opt.param_groups)
    assert opt.params == [a, b] and opt.param_groups[1]["params"] == [b]
    with pytest.raises(ValueError, match=r"different learning rates \[0.1, 0.5\]"):
        _ = opt.lr
    opt.lr = 0.2  # sets every group
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2] and opt.lr == 0.2
    assert "\nParameter Group 1\n" in repr(opt) and "    lr: 0.2\n" in repr(opt)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedulers_set_every_group_as_torch(name, reference):
    opt = SGD([{"params": [Parameter(np.zeros(1))]},
               {"params": [Parameter(np.zeros(1))], "lr": 0.01}], lr=0.1)
    scheduler = SCHEDULES[name](opt)
    lrs = []
    for _ in range(8):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(lrs, reference[f"schedule:{name}"], rtol=1e-12)
    assert scheduler.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert scheduler.base_lrs == [0.1, 0.01]


def test_state_round_trip_with_groups_continues_identically(reference, tmp_path):
    case = "adamw_added"
    params, groups, opt, added_at = _build(case, reference)
    _run(case, reference, params, groups, opt, added_at, range(3))  # the group is added at 2
    model = nn.Module()
    for i, p in enumerate(params):
        setattr(model, f"p{i}", p)
    nn.save_checkpoint(tmp_path / "c.npz", model, opt)
    _run(case, reference, params, groups, opt, added_at, range(3, STEPS))

    fresh, fresh_groups, restored, _ = _build(case, reference)
    restored.add_param_group(fresh_groups[-1])
    restored.param_groups[1]["lr"] = 9.0  # overwritten by the checkpoint
    other = nn.Module()
    for i, p in enumerate(fresh):
        setattr(other, f"p{i}", p)
    nn.load_checkpoint(tmp_path / "c.npz", other, restored)
    assert restored.param_groups[1]["lr"] == 0.02 and restored.step_count == 3
    _run(case, reference, fresh, fresh_groups, restored, None, range(3, STEPS))
    for a, b in zip(params, fresh):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_of_another_group_layout_is_refused():
    a, b, c = (Parameter(np.zeros(2)) for _ in range(3))
    state = Adam([{"params": [a, b]}, {"params": [c]}]).state_dict()
    with pytest.raises(ValueError, match=r"group 0 holds parameters \[0, 1\] in the state but "
                                         r"\[0\] in this optimiser"):
        Adam([{"params": [a]}, {"params": [b, c]}]).load_state_dict(state)
    with pytest.raises(ValueError,
                       match=r"unexpected keys: \['group.1.amsgrad', 'group.1.betas'"):
        Adam([a, b, c]).load_state_dict(state)


def test_one_group_state_written_before_groups_still_loads():
    p = Parameter(np.ones(3), dtype=np.float64)
    opt = Adam([p], lr=0.1, betas=(0.8, 0.9))
    p.grad = np.array([1.0, -2.0, 3.0])
    opt.step()
    new = opt.state_dict()
    old = {"hyper.lr": np.asarray(0.1), "hyper.beta1": np.asarray(0.8),
           "hyper.beta2": np.asarray(0.9), "hyper.eps": np.asarray(1e-8),
           "hyper.weight_decay": np.asarray(0.0), "step_count": new["step_count"],
           **{k: v for k, v in new.items() if k.startswith("state.")}}
    restored = Adam([Parameter(np.ones(3), dtype=np.float64)], lr=5.0)
    restored.load_state_dict(old)
    assert restored.param_groups[0]["betas"] == (0.8, 0.9) and restored.lr == 0.1
    np.testing.assert_array_equal(restored.state[0]["exp_avg"], opt.state[0]["exp_avg"])
    with pytest.raises(ValueError, match=r"missing keys: \['hyper.eps'\]"):
        restored.load_state_dict({k: v for k, v in old.items() if k != "hyper.eps"})


def test_zero_grad_can_keep_zeroed_arrays():
    p = Parameter(np.ones(2))
    opt = SGD([p], lr=1.0)
    p.grad = np.ones(2, dtype=np.float32)
    kept = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is kept and not p.grad.any()
    model = nn.Linear(2, 1)
    for q in model.parameters():
        q.grad = np.ones(q.shape, dtype=np.float32)
    model.zero_grad(set_to_none=False)
    assert all(q.grad is not None and not q.grad.any() for q in model.parameters())
    model.zero_grad()
    assert all(q.grad is None for q in model.parameters())


@pytest.mark.parametrize("make, message", [
    (lambda a, b: SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1),
     "parameter 0 of group 1 appears in more than one parameter group"),
    (lambda a, b: SGD([{"params": [a]}, b], lr=0.1), "mixes tensors and parameter groups"),
    (lambda a, b: SGD([{"lr": 0.1}], lr=0.1), "a dict with a 'params' entry"),
    (lambda a, b: SGD(a, lr=0.1), "got one Parameter; wrap it in a list"),
    (lambda a, b: Adam([{"params": [a], "lr": -1.0}]), "lr must be a finite number >= 0"),
    (lambda a, b: Adam([{"params": [a], "betas": (0.9,)}]), "betas must be a pair"),
    (lambda a, b: SGD([{"params": [a], "nesterov": True}], lr=0.1), "nesterov=True needs"),
    (lambda a, b: lr_scheduler.LambdaLR(SGD([{"params": [a]}, {"params": [b]}], lr=0.1),
                                        [lambda e: 1.0]),
     "expected 2 callables in lr_lambda"),
])
def test_bad_groups(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make(Parameter(np.zeros(2)), Parameter(np.zeros(2)))


def test_a_nan_lr_in_one_group_stops_the_step():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    opt.param_groups[1]["lr"] = float("nan")
    a.grad = b.grad = np.ones(2, dtype=np.float32)
    with pytest.raises(ValueError,
                       match=r"lr must be finite, got nan \(parameter group 1"):
        opt.step()
    np.testing.assert_array_equal(a.data, [0, 0])  # nothing moved


def test_a_negative_lr_set_by_a_schedule_steps_as_torch():
    """LinearLR down to end_factor 0 leaves lr = -1.48e-17 (rounding): torch's step takes it
    (only its constructor refuses a negative lr), and so does dlpy's: training goes on."""
    a = Parameter(np.ones(1, dtype=np.float32))
    opt = SGD([a], lr=1.0)
    schedule = lr_scheduler.LinearLR(opt, start_factor=1 / 3, end_factor=0.0, total_iters=5)
    for _ in range(7):
        a.grad = np.ones(1, dtype=np.float32)
        opt.step()
        schedule.step()
    assert opt.param_groups[0]["lr"] == -1.480297366166875e-17  # torch 2.13's value
    assert a.data.tolist() == [-6.705522537231445e-08]  # torch 2.13's after 7 steps


def test_state_get_as_a_dict():
    """torch's ``opt.state`` is a dict: ``get`` gives a parameter's state, or the default
    before its first step."""
    a, b = Parameter(np.ones(2, dtype=np.float32)), Parameter(np.ones(2, dtype=np.float32))
    opt = Adam([a, b], lr=0.1)
    assert opt.state.get(a) is None and opt.state.get(a, {}) == {}
    a.grad = np.ones(2, dtype=np.float32)
    opt.step()
    state = opt.state.get(a, {})
    assert sorted(state) == ["exp_avg", "exp_avg_sq", "step"]
    assert state["exp_avg"].dtype == np.float32 and opt.state.get(b, "none") == "none"
