"""optim.lr_scheduler's CyclicLR, MultiplicativeLR and ChainedScheduler against PyTorch step for
step (tests/fixtures/optim/schedules.npz, written by tests/fixtures/make_optim_rest_fixtures.py),
with the momentum / beta1 they cycle; state_dict resumes at every step; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_optim import schedules

from dlpy import nn, optim
from dlpy.optim import lr_scheduler as S

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "schedules.npz"
STEPS = 24

SCHEDULES = schedules(S)


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _optimizer(kind):
    first, second = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    if kind == "adam":
        return optim.Adam([first], lr=0.1, betas=(0.5, 0.99))
    if kind == "sgd2":
        return optim.SGD([{"params": [first]}, {"params": [second], "lr": 0.01}], lr=0.1,
                         momentum=0.5)
    return optim.SGD([first], lr=0.1, momentum=0.5)


def _run(scheduler, opt, steps, key=None):
    """Each group's lr (or ``key``: momentum, beta1) before each of ``steps`` steps."""
    values = []
    for _ in range(steps):
        groups = opt.param_groups
        values.append([g["lr"] if key is None else g["betas"][0] if key == "betas" else g[key]
                       for g in groups])
        opt.step()
        scheduler.step()
    return np.array(values)


def test_the_schedules_are_the_fixtures(reference):
    assert {key.split(":")[0] for key in reference} == set(SCHEDULES)
    for name, (_, _, key) in SCHEDULES.items():
        assert (f"{name}:momentum" in reference) == (key is not None)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_matches_pytorch(name, reference):
    kind, make, key = SCHEDULES[name]
    opt = _optimizer(kind)
    scheduler = make(opt)
    ours = _run(scheduler, opt, STEPS)
    np.testing.assert_allclose(ours, reference[name], rtol=1e-12, atol=0)
    assert scheduler.get_last_lr() == [g["lr"] for g in opt.param_groups]
    if key is not None:
        opt = _optimizer(kind)
        momenta = _run(make(opt), opt, STEPS, key)
        np.testing.assert_allclose(momenta, reference[f"{name}:momentum"], rtol=1e-12, atol=0)
        assert momenta.max() > momenta.min()
        if key == "betas":
            assert opt.param_groups[0]["betas"][1] == 0.99


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_state_dict_resumes_the_schedule(name):
    """Stop after each step, save, load into a new optimiser and scheduler (whose children
    have stepped differently): the rest is the same to the bit."""
    kind, make, key = SCHEDULES[name]
    opt = _optimizer(kind)
    whole = _run(make(opt), opt, STEPS)
    for split in range(1, STEPS, 3):
        opt = _optimizer(kind)
        scheduler = make(opt)
        _run(scheduler, opt, split)
        state = scheduler.state_dict()
        assert "optimizer" not in state
        opt2 = _optimizer(kind)
        resumed = make(opt2)
        _run(resumed, opt2, 2)  # somewhere else: the loads must put everything back
        opt2.load_state_dict(opt.state_dict())  # the groups' lrs (and momenta) are its own
        resumed.load_state_dict(state)
        assert resumed.get_last_lr() == scheduler.get_last_lr()
        np.testing.assert_array_equal(_run(resumed, opt2, STEPS - split), whole[split:],
                                      err_msg=f"{name}: split {split}")


def test_chained_children_share_the_first_ones_base_lrs():
    opt = _optimizer("sgd")
    constant = S.ConstantLR(opt, factor=0.1, total_iters=2)
    # made while the lr is 0.01: from the group's initial_lr, as PyTorch's
    exponential = S.ExponentialLR(opt, gamma=0.9)
    assert exponential.base_lrs == [0.1]
    chain = S.ChainedScheduler([constant, exponential])
    assert exponential.base_lrs == [0.1] and chain.get_last_lr() == [pytest.approx(0.01)]
    assert chain.optimizer is opt
    state = chain.state_dict()
    assert [child["last_epoch"] for child in state["_schedulers"]] == [0, 0]
    chain.step()
    assert [child.last_epoch for child in chain._schedulers] == [1, 1]
    assert not any("_chaining" in child.__dict__ for child in chain._schedulers)


def test_a_closed_form_child_in_a_chain_sets_its_own_lr():
    # LambdaLR ignores the lr before it (as PyTorch's): after it, only later children count
    opt = _optimizer("sgd")
    chain = S.ChainedScheduler([S.ExponentialLR(opt, gamma=0.5),
                                S.LambdaLR(opt, lambda epoch: 1.0 / (epoch + 1))])
    chain.step()
    assert opt.lr == pytest.approx(0.1 / 2)


def test_multiplicative_lr_multiplies_whatever_the_lr_is():
    opt = _optimizer("sgd")
    scheduler = S.MultiplicativeLR(opt, lambda epoch: 0.5)
    scheduler.step()
    opt.lr = 1.0  # set by hand: the next factor applies to it
    scheduler.step()
    assert opt.lr == 0.5 and scheduler.get_last_lr() == [0.5]


def test_cyclic_sets_base_lr_and_max_momentum_at_once():
    opt = _optimizer("sgd")
    scheduler = S.CyclicLR(opt, base_lr=0.02, max_lr=0.2, step_size_up=4)
    assert opt.lr == 0.02 and opt.param_groups[0]["momentum"] == 0.9
    assert scheduler.base_lrs == [0.02] and scheduler.scale_mode == "cycle"
    assert S.CyclicLR(_optimizer("sgd"), 0.01, 0.1, mode="exp_range").scale_mode == \
        "iterations"


def test_cyclic_custom_scale_fn():
    opt = _optimizer("sgd")
    scheduler = S.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2,
                           scale_fn=lambda x: 0.5 ** x, scale_mode="iterations",
                           cycle_momentum=False)
    lrs = _run(scheduler, opt, 5)[:, 0]
    # fraction 0, 1/2, 1, 1/2, 0 of the height, times 0.5 ** step
    np.testing.assert_allclose(lrs, [0.0, 0.5 * 0.5, 1.0 * 0.25, 0.5 * 0.125, 0.0])
    assert scheduler.state_dict()["_scale_fn_custom"] is None  # (a function is not saved)


def test_cyclic_cycles_rmsprop_momentum():
    opt = optim.RMSprop([nn.Parameter(np.zeros(2))], lr=0.01, momentum=0.9)
    scheduler = S.CyclicLR(opt, 0.001, 0.01, step_size_up=2)
    momenta = _run(scheduler, opt, 4, "momentum")[:, 0]
    np.testing.assert_allclose(momenta, [0.9, 0.85, 0.8, 0.85])


def test_lr_scheduler_is_the_public_base():
    assert issubclass(S.CyclicLR, S.LRScheduler) and issubclass(S.ChainedScheduler,
                                                                S.LRScheduler)
    assert {"ChainedScheduler", "CyclicLR", "MultiplicativeLR", "LRScheduler"} <= set(S.__all__)


@pytest.mark.parametrize("make, error, match", [
    (lambda o: S.CyclicLR(o, 0.01, 0.1, mode="cosine"), ValueError,
     "mode must be 'triangular', 'triangular2' or 'exp_range'"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError,
     "step_size_up must be a positive number"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_down=-2), ValueError,
     "step_size_down must be a positive number"),
    (lambda o: S.CyclicLR(o, [0.01, 0.02], 0.1), ValueError,
     r"expected 1 values of base_lr \(one per parameter group\), got 2"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, scale_fn=2.0), TypeError,
     "scale_fn must be callable"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, scale_fn=abs, scale_mode="epoch"), ValueError,
     "scale_mode must be 'cycle' or 'iterations'"),
    (lambda o: S.CyclicLR(optim.Adagrad(o.params), 0.01, 0.1), ValueError,
     "cycle_momentum needs an optimiser with momentum or betas, got Adagrad"),
    (lambda o: S.MultiplicativeLR(o, 0.9), TypeError,
     "MultiplicativeLR: lr_lambda must be callable"),
    (lambda o: S.MultiplicativeLR(o, [abs, abs]), ValueError,
     r"MultiplicativeLR: expected 1 callables in lr_lambda"),
    (lambda o: S.MultiplicativeLR(o, lambda e: float("nan")).step(), ValueError,
     r"lr_lambda\(1\) must be a finite number"),
    (lambda o: S.MultiplicativeLR(o, abs).load_state_dict({"bogus": 1}), ValueError,
     r"unexpected keys \['bogus'\]"),
    (lambda o: S.ChainedScheduler([]), ValueError, "expected at least one scheduler"),
    (lambda o: S.ChainedScheduler(["warmup"]), TypeError,
     r"schedulers\[0\] must be an LRScheduler, got str"),
    (lambda o: S.ChainedScheduler([S.ReduceLROnPlateau(o)]), ValueError,
     "ReduceLROnPlateau, whose step needs a metric"),
    (lambda o: S.ChainedScheduler([S.StepLR(o, 2), S.StepLR(_optimizer("sgd"), 2)]),
     ValueError, r"schedulers\[1\] \(StepLR\) belongs to another optimiser"),
    (lambda o: S.ChainedScheduler([S.StepLR(o, 2)]).load_state_dict({"_schedulers": []}),
     ValueError, "expected '_schedulers' with the states of 1 schedulers"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(_optimizer("sgd"))
