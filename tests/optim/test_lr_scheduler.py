"""optim.lr_scheduler: PyTorch's schedules, step for step (tests/fixtures/habits), and state_dict
round trips."""

from pathlib import Path

import numpy as np
import pytest

from dlpy import nn, optim
from dlpy.optim import lr_scheduler

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "habits" / "habits.npz"


def _opt(lr=0.1):
    return optim.SGD([nn.Parameter(np.zeros(2))], lr=lr)


# the same schedules as tests/fixtures/make_habits_fixtures.py
MAKERS = {
    "StepLR": lambda o, m: m.StepLR(o, step_size=2, gamma=0.1),
    "CosineAnnealingLR": lambda o, m: m.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    "LambdaLR": lambda o, m: m.LambdaLR(o, lambda epoch: 0.9 ** epoch),
    "LinearLR": lambda o, m: m.LinearLR(o, start_factor=0.25, total_iters=4),
}


def _lrs(scheduler, optimizer, epochs=8):
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.lr if hasattr(optimizer, "lr") else optimizer.param_groups[0]["lr"])
        optimizer.step()  # (no gradients: nothing moves) the order PyTorch asks for
        scheduler.step()
    return lrs


def test_report_schedule_step_lr():
    opt = _opt(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    np.testing.assert_allclose(_lrs(sched, opt, 6), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert sched.get_last_lr() == [pytest.approx(1e-4)]


@pytest.mark.parametrize("name", MAKERS)
def test_matches_pytorch(name):
    opt = _opt(0.1)
    ours = _lrs(MAKERS[name](opt, lr_scheduler), opt)
    with np.load(FIXTURE) as data:
        theirs = data[f"lr:{name}"]
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("name", MAKERS)
def test_state_dict_resumes_the_schedule(name):
    opt = _opt()
    sched = MAKERS[name](opt, lr_scheduler)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    expected = _lrs(sched, opt, 4)
    opt2 = _opt()
    resumed = MAKERS[name](opt2, lr_scheduler)
    resumed.load_state_dict(state)
    assert opt2.lr == pytest.approx(expected[0])
    np.testing.assert_allclose(_lrs(resumed, opt2, 4), expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(_opt(), step_size=0)
    with pytest.raises(ValueError, match="gamma must be a finite number"):
        lr_scheduler.StepLR(_opt(), step_size=1, gamma=float("nan"))
    with pytest.raises(TypeError, match="lr_lambda must be callable"):
        lr_scheduler.LambdaLR(_opt(), 0.5)
    with pytest.raises(ValueError, match="unexpected keys"):
        lr_scheduler.StepLR(_opt(), 2).load_state_dict({"bogus": 1})
