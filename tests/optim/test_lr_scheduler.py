"""optim.lr_scheduler: PyTorch's schedules, step for step (tests/fixtures/habits), over one and two
parameter groups, state_dict round trips at every step, and errors."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import nn, optim
from dlpy.optim import lr_scheduler

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "habits" / "habits.npz"


def _opt(lr=0.1, **kwargs):
    return optim.SGD([nn.Parameter(np.zeros(2))], lr=lr, **kwargs)


def _two_groups():
    return optim.SGD([{"params": [nn.Parameter(np.zeros(2))]},
                      {"params": [nn.Parameter(np.zeros(2))], "lr": 0.01}], lr=0.1)


# the same schedules, steps and metrics as SCHEDULES, STEPS, METRICS and GROUP_SCHEDULES in
# tests/fixtures/make_habits_fixtures.py
MAKERS = {
    "StepLR": lambda o, m: m.StepLR(o, step_size=2, gamma=0.1),
    "CosineAnnealingLR": lambda o, m: m.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    "LambdaLR": lambda o, m: m.LambdaLR(o, lambda epoch: 0.9 ** epoch),
    "LinearLR": lambda o, m: m.LinearLR(o, start_factor=0.25, total_iters=4),
    "ExponentialLR": lambda o, m: m.ExponentialLR(o, gamma=0.8),
    "MultiStepLR": lambda o, m: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5),
    "ConstantLR": lambda o, m: m.ConstantLR(o, factor=0.4, total_iters=5),
    "PolynomialLR": lambda o, m: m.PolynomialLR(o, total_iters=10, power=2.0),
    "CosineAnnealingWarmRestarts": lambda o, m: m.CosineAnnealingWarmRestarts(
        o, T_0=2, T_mult=2, eta_min=0.005),
    "OneCycleLR": lambda o, m: m.OneCycleLR(o, max_lr=1.0, total_steps=12),
    "OneCycleLR_three_phase": lambda o, m: m.OneCycleLR(
        o, max_lr=0.5, epochs=3, steps_per_epoch=4, pct_start=0.25, anneal_strategy="linear",
        base_momentum=0.8, max_momentum=0.9, div_factor=10.0, final_div_factor=100.0,
        three_phase=True),
    "SequentialLR": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.25, total_iters=4), m.ExponentialLR(o, gamma=0.8),
            m.CosineAnnealingWarmRestarts(o, T_0=3)], milestones=[4, 9]),
    "ReduceLROnPlateau": lambda o, m: m.ReduceLROnPlateau(
        o, factor=0.5, patience=1, threshold=0.05, cooldown=2, min_lr=0.02),
    "ReduceLROnPlateau_max_abs": lambda o, m: m.ReduceLROnPlateau(
        o, mode="max", factor=0.3, patience=1, threshold=0.02, threshold_mode="abs", eps=0.01),
}
STEPS = {"StepLR": 8, "CosineAnnealingLR": 8, "LambdaLR": 8, "LinearLR": 8,
         "ExponentialLR": 16, "MultiStepLR": 16, "ConstantLR": 16, "PolynomialLR": 16,
         "CosineAnnealingWarmRestarts": 16, "OneCycleLR": 12, "OneCycleLR_three_phase": 12,
         "SequentialLR": 16, "ReduceLROnPlateau": 16, "ReduceLROnPlateau_max_abs": 16}
METRICS = [1.0, 0.9, 0.8, 0.8, 0.81, 0.8, 0.79, 0.7, 0.7, 1.2, 0.7, 0.7, 0.7, 0.69, 0.6, 0.6]
GROUP_MAKERS = {
    "CosineAnnealingWarmRestarts": MAKERS["CosineAnnealingWarmRestarts"],
    "OneCycleLR": lambda o, m: m.OneCycleLR(o, max_lr=[1.0, 0.2], total_steps=12),
    "SequentialLR": MAKERS["SequentialLR"],
    "ReduceLROnPlateau": lambda o, m: m.ReduceLROnPlateau(
        o, factor=0.5, patience=1, threshold=0.05, cooldown=2, min_lr=[0.02, 0.004]),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith(("lr:", "momentum:"))}


def _run(scheduler, optimizer, steps, start=0, key="lr"):
    """Each group's ``key`` before each of ``steps`` steps (the optimiser's, then the
    scheduler's); a ReduceLROnPlateau gets METRICS[start:]. Shape (steps, groups)."""
    values = []
    for t in range(start, start + steps):
        values.append([group[key] for group in optimizer.param_groups])
        optimizer.step()  # (no gradients: nothing moves) the order PyTorch asks for
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(METRICS[t])
        else:
            scheduler.step()
    return np.array(values)


def _lrs(scheduler, optimizer, epochs=8):
    return _run(scheduler, optimizer, epochs)[:, 0].tolist()


def test_report_schedule_step_lr():
    opt = _opt(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    np.testing.assert_allclose(_lrs(sched, opt, 6), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert sched.get_last_lr() == [pytest.approx(1e-4)]


def test_step_lr_float_step_size_as_torch():
    # torch takes a float step_size (its language-modeling tutorial passes 1.0); values
    # recorded with torch 2.13
    opt = _opt(1.0)
    sched = lr_scheduler.StepLR(opt, 1.0, gamma=0.5)
    np.testing.assert_allclose(_lrs(sched, opt, 3), [1.0, 0.5, 0.25])
    opt = _opt(1.0)
    sched = lr_scheduler.StepLR(opt, 2.5, gamma=0.5)
    np.testing.assert_allclose(_lrs(sched, opt, 7), [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="positive number"):
        lr_scheduler.StepLR(_opt(), step_size=-1.5)


@pytest.mark.parametrize("name", MAKERS)
def test_matches_pytorch(name, reference):
    opt = _opt(0.1)
    sched = MAKERS[name](opt, lr_scheduler)
    ours = _run(sched, opt, STEPS[name])[:, 0]
    theirs = reference[f"lr:{name}"]
    assert len(ours) == len(theirs) == STEPS[name]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    assert sched.get_last_lr() == [opt.lr]


@pytest.mark.parametrize("name", ["OneCycleLR", "OneCycleLR_three_phase"])
def test_one_cycle_momentum_matches_pytorch(name, reference):
    opt = _opt(0.1)  # momentum 0: OneCycleLR sets it, as PyTorch's
    momenta = _run(MAKERS[name](opt, lr_scheduler), opt, STEPS[name], key="momentum")[:, 0]
    np.testing.assert_allclose(momenta, reference[f"momentum:{name}"], rtol=1e-12, atol=0)
    assert momenta.max() > momenta.min()
    # Adam's beta1 follows the same cycle; beta2 stays
    adam = optim.Adam([nn.Parameter(np.zeros(2))], lr=0.1, betas=(0.5, 0.99))
    betas = _run(MAKERS[name](adam, lr_scheduler), adam, STEPS[name], key="betas")[:, 0]
    np.testing.assert_allclose(betas[:, 0], reference[f"momentum:{name}"], rtol=1e-12, atol=0)
    assert (betas[:, 1] == 0.99).all()


def test_one_cycle_without_momentum_cycling():
    opt = _opt(0.1, momentum=0.5)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=12, cycle_momentum=False)
    assert (_run(sched, opt, 12, key="momentum") == 0.5).all()
    assert sched.base_lrs == [1.0 / 25]


@pytest.mark.parametrize("name", GROUP_MAKERS)
def test_two_groups_match_pytorch(name, reference):
    opt = _two_groups()
    ours = _run(GROUP_MAKERS[name](opt, lr_scheduler), opt, STEPS[name])
    theirs = reference[f"lr:{name}:groups"]
    assert ours.shape == theirs.shape == (STEPS[name], 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    if name != "SequentialLR":  # (its children have no floor: there the groups are in scale)
        assert not np.allclose(ours[:, 1], ours[:, 0] / 10)  # each group its own schedule


def _plain(value):
    """Only numbers, strings, None, lists, tuples and dicts of them (savable data; a dict
    keyed by epochs too: MultiStepLR's milestones, a Counter as PyTorch's)."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.mark.parametrize("name", MAKERS)
def test_state_dict_resumes_the_schedule(name):
    """Stop after each step (mid-plateau, mid-cooldown, mid-sequence, every phase), save, load
    into a new optimiser and scheduler (both states, as with torch: the groups' lrs are the
    optimiser's): the rest is the same to the bit."""
    steps = STEPS[name]
    key = "momentum" if name.startswith("OneCycleLR") else "lr"
    opt = _opt()
    whole = _run(MAKERS[name](opt, lr_scheduler), opt, steps, key=key)
    for split in range(1, steps):
        opt = _opt()
        sched = MAKERS[name](opt, lr_scheduler)
        _run(sched, opt, split)
        state = sched.state_dict()
        assert "optimizer" not in state and state["last_epoch"] == split
        assert _plain(state)
        opt2 = _opt()
        resumed = MAKERS[name](opt2, lr_scheduler)
        opt2.load_state_dict(opt.state_dict())
        resumed.load_state_dict(state)
        assert resumed.get_last_lr() == sched.get_last_lr() == [opt2.lr]
        rest = _run(resumed, opt2, steps - split, start=split, key=key)
        np.testing.assert_array_equal(rest, whole[split:], err_msg=f"{name}: split {split}")


def test_state_dict_resumes_over_two_groups():
    for name, make in GROUP_MAKERS.items():
        opt = _two_groups()
        whole = _run(make(opt, lr_scheduler), opt, STEPS[name])
        opt = _two_groups()
        sched = make(opt, lr_scheduler)
        _run(sched, opt, 7)
        opt2 = _two_groups()
        resumed = make(opt2, lr_scheduler)
        opt2.load_state_dict(opt.state_dict())
        resumed.load_state_dict(sched.state_dict())
        np.testing.assert_array_equal(_run(resumed, opt2, STEPS[name] - 7, start=7), whole[7:],
                                      err_msg=name)


def test_sequential_state_holds_the_children():
    opt = _opt()
    sched = MAKERS["SequentialLR"](opt, lr_scheduler)
    _run(sched, opt, 11)
    state = sched.state_dict()
    # epoch 11: the third child, at its own epoch 11 - 9
    assert [child["last_epoch"] for child in state["_schedulers"]] == [3, 4, 2]
    assert all("optimizer" not in child for child in state["_schedulers"])


def test_sequential_children_share_the_first_ones_base_lrs():
    opt = _opt(0.1)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=4)
    # made while the lr is 0.025: from the group's initial_lr, as PyTorch's
    decay = lr_scheduler.ExponentialLR(opt, gamma=0.8)
    assert decay.base_lrs == [0.1] and opt.param_groups[0]["initial_lr"] == 0.1
    lr_scheduler.SequentialLR(opt, [warmup, decay], milestones=[4])
    assert decay.base_lrs == [0.1] and opt.lr == 0.025


def test_multistep_milestones_in_any_order():
    opt, opt2 = _opt(), _opt()
    ordered = _run(MAKERS["MultiStepLR"](opt, lr_scheduler), opt, 16)
    shuffled = _run(lr_scheduler.MultiStepLR(opt2, milestones=[9, 5, 2, 5], gamma=0.5), opt2, 16)
    np.testing.assert_array_equal(shuffled, ordered)


def test_warm_restarts_cycle_lengths():
    opt = _opt()
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    seen = {}
    for epoch in range(15):
        seen[epoch] = (sched.T_cur, sched.T_i)
        sched.step()
    # cycles of 2, 4, 8 epochs starting at epochs 0, 2, 6, 14
    assert [seen[e] for e in (0, 1, 2, 5, 6, 13, 14)] == \
        [(0, 2), (1, 2), (0, 4), (3, 4), (0, 8), (7, 8), (0, 16)]


def test_one_cycle_epochs_times_steps_and_the_end():
    opt, opt2 = _opt(), _opt()
    by_total = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=12)
    by_epochs = lr_scheduler.OneCycleLR(opt2, max_lr=0.5, epochs=4, steps_per_epoch=3)
    np.testing.assert_array_equal(_run(by_epochs, opt2, 12), _run(by_total, opt, 12))
    assert by_total.last_epoch == 12  # PyTorch allows the step to total_steps itself
    lr = opt.lr
    with pytest.raises(ValueError, match="tried to step 13 times; total_steps is 12"):
        by_total.step()
    # the refused step is counted, as torch's (its lr stays): each later step is refused too
    assert by_total.last_epoch == 13 and opt.lr == lr


def test_plateau_takes_tensors_and_arrays():
    opt, opt2 = _opt(), _opt()
    floats = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    others = lr_scheduler.ReduceLROnPlateau(opt2, patience=0)
    for i, metric in enumerate([1.0, 2.0, 3.0, 0.5]):
        floats.step(metric)
        others.step(dlpy.tensor(np.array(metric)) if i % 2 else np.float64(metric))
        assert opt2.lr == opt.lr
    assert opt.lr == pytest.approx(0.001) and floats.best == 0.5


def test_plateau_cooldown_and_min_lr():
    opt = _opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, cooldown=2, min_lr=0.03)
    seen = []
    for _ in range(7):
        sched.step(1.0)  # never better than the first
        seen.append((opt.lr, sched.in_cooldown))
    assert seen == [(0.1, False), (0.05, True), (0.05, True), (0.05, False), (0.03, True),
                    (0.03, True), (0.03, False)]


def test_plateau_one_min_lr_covers_a_group_added_later():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    opt = optim.SGD([a], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=0.02)
    opt.add_param_group({"params": [b], "lr": 0.5})
    sched.step(1.0)
    sched.step(2.0)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.05]
    sched.step(2.0)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.02]  # the new group's floor too
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    opt = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.02])
    opt.add_param_group({"params": [nn.Parameter(np.zeros(2))]})
    sched.step(1.0)
    with pytest.raises(ValueError, match="has 2 parameter groups, the scheduler was made for 1"):
        sched.step(2.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(_opt(), step_size=0)
    with pytest.raises(ValueError, match="gamma must be a finite number"):
        lr_scheduler.StepLR(_opt(), step_size=1, gamma=float("nan"))
    with pytest.raises(TypeError, match="lr_lambda must be callable"):
        lr_scheduler.LambdaLR(_opt(), 0.5)
    with pytest.raises(ValueError, match="unexpected keys"):
        lr_scheduler.StepLR(_opt(), 2).load_state_dict({"bogus": 1})


@pytest.mark.parametrize("make, error, match", [
    (lambda o: lr_scheduler.ExponentialLR(o, gamma=float("inf")), ValueError,
     "ExponentialLR: gamma must be a finite number"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, -1]), ValueError,
     r"milestones must be integers >= 0, got \[2, -1\]"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=3), TypeError,
     "milestones must be a list of epochs"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), ValueError,
     r"ConstantLR: factor must lie in \[0, 1\], got 1.5"),
    (lambda o: lr_scheduler.ConstantLR(o, total_iters=-1), ValueError,
     "total_iters must be an integer >= 0"),
    (lambda o: lr_scheduler.PolynomialLR(o, power=-1.0), ValueError, "power must be >= 0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
     "T_0 must be a positive integer"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), ValueError,
     "T_mult must be a positive integer"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError,
     "give total_steps, or epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=0), ValueError,
     "steps_per_epoch must be a positive integer"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
     ValueError, "anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5),
     ValueError, r"pct_start must lie in \[0, 1\]"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=0.1),
     ValueError, "leaves a phase of no steps"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=10), ValueError,
     r"expected 1 values of max_lr \(one per parameter group\), got 2"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=-0.1, total_steps=10), ValueError,
     "max_lr must be >= 0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, max_momentum=1.0),
     ValueError, r"max_momentum must lie in \[0, 1\)"),
    (lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]), ValueError,
     "expected at least one scheduler"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)] * 2, milestones=[]),
     ValueError, r"expected 1 milestones \(one fewer than the 2 schedulers\), got 0"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)] * 3, milestones=[5, 2]),
     ValueError, "milestones must be in increasing order"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(_opt(), 2)], milestones=[]),
     ValueError, r"schedulers\[0\] \(StepLR\) belongs to another optimiser"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ReduceLROnPlateau(o)], milestones=[]),
     ValueError, "ReduceLROnPlateau, whose step needs a metric"),
    (lambda o: lr_scheduler.SequentialLR(o, ["warmup"], milestones=[]), TypeError,
     r"schedulers\[0\] must be an LRScheduler, got str"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="mean"), ValueError,
     "mode must be 'min' or 'max', got 'mean'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "threshold_mode must be 'rel' or 'abs'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError,
     r"factor must lie in \[0, 1\), got 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError,
     "patience must be an integer >= 0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError,
     "expected 1 values of min_lr"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, eps=-1.0), ValueError,
     "threshold and eps must be >= 0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o).step("low"), TypeError,
     "ReduceLROnPlateau.step: metrics must be a number, got str"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o).load_state_dict({"bogus": 1}), ValueError,
     r"unexpected keys \['bogus'\]"),
    (lambda o: MAKERS["SequentialLR"](o, lr_scheduler).load_state_dict({"last_epoch": 2}),
     ValueError, "expected '_schedulers' with the states of 3 schedulers"),
])
def test_bad_arguments_of_the_other_schedules(make, error, match):
    with pytest.raises(error, match=match):
        make(_opt())


def test_one_cycle_needs_momentum_to_cycle():
    class Plain:  # an optimiser with groups but neither momentum nor betas
        defaults = {"lr": 0.1}
        param_groups = [{"lr": 0.1}]

    with pytest.raises(ValueError, match="cycle_momentum needs an optimiser with momentum or "
                                         "betas, got Plain; pass cycle_momentum=False"):
        lr_scheduler.OneCycleLR(Plain(), max_lr=1.0, total_steps=10)
    sched = lr_scheduler.OneCycleLR(Plain(), max_lr=1.0, total_steps=10, cycle_momentum=False)
    assert sched.get_last_lr() == [pytest.approx(0.04, rel=1e-12)]


def _get_lr_by_hand(scheduler, optimizer, n=5):
    """ignite's LRScheduler: get_lr() (as within a step), the lr set, last_epoch + 1, never
    step(): the constructor's step is the only one."""
    out = []
    for _ in range(n):
        scheduler._get_lr_called_within_step = True
        lr = scheduler.get_lr()[0]
        scheduler._get_lr_called_within_step = False
        optimizer.param_groups[0]["lr"] = lr
        out.append(lr)
        scheduler.last_epoch += 1
    return out


@pytest.mark.parametrize("make, want", [
    (lambda o: lr_scheduler.ExponentialLR(o, 0.5), [0.05, 0.025, 0.0125, 0.00625, 0.003125]),
    (lambda o: lr_scheduler.MultiplicativeLR(o, lambda e: 0.5),
     [0.05, 0.025, 0.0125, 0.00625, 0.003125]),
    (lambda o: lr_scheduler.PolynomialLR(o, total_iters=4, power=2.0),
     [0.064, 0.036, 0.016, 0.004, 0.0]),
    # never stepped: the closed form from epoch 1 on, as PyTorch's
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4),
     [0.117157287525, 0.085355339059, 0.05, 0.014644660941, 0.0]),
])
def test_get_lr_at_epoch_zero_after_the_constructor(make, want):
    # torch's values: only the constructor's step keeps the lr at last_epoch 0
    opt = _opt()
    np.testing.assert_allclose(_get_lr_by_hand(make(opt), opt), want, rtol=1e-9, atol=1e-15)


def test_sequential_lr_steps_count_in_its_children():
    opt = _opt()
    first = lr_scheduler.LinearLR(opt, 0.5, total_iters=2)
    second = lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    sequence = lr_scheduler.SequentialLR(opt, [first, second], milestones=[2])
    lrs = []
    for _ in range(6):
        opt.step()
        sequence.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.075, 0.1, 0.075, 0.025, 0.0, 0.025], atol=1e-12)
    assert (first._step_count, second._step_count) == (2, 5)  # torch's
