"""Rprop, ASGD and SGD's dampening against PyTorch step for step in float64 (tests/fixtures/optim/
rest.npz, written by tests/fixtures/make_optim_rest_fixtures.py), one group and two; ASGD's
averages; resuming from a checkpoint bit for bit; blocks; learning; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_optim import REST_CASES as CASES

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.nn import Linear, Parameter
from dlpy.optim import ASGD, SGD, Rprop

from . import replay
from .replay import STEPS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "rest.npz"


@pytest.fixture(scope="module")
def reference():
    return replay.load(FIXTURE)


def _build(case, reference, **changes):
    return replay.build(CASES, case, reference, **changes)


def test_the_cases_are_the_fixtures(reference):
    replay.check_cases_are_the_fixtures(CASES, reference)


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_torch(case, reference):
    replay.check_steps_match_torch(CASES, case, reference)


def test_rprop_flips_and_clamps(reference):
    # the fixture's random gradients flip signs: some step sizes grew past lr, some shrank
    params, opt = _build("rprop_custom", reference)
    replay.run("rprop_custom", reference, params, opt, range(STEPS))
    sizes = np.concatenate([s["step_size"].reshape(-1) for s in opt.state])
    assert (sizes < 0.05).any() and (sizes > 0.05).any()
    # a flip leaves that element's remembered gradient at zero
    assert any((s["prev"] == 0).any() for s in opt.state)
    # in rprop_groups the second group's step sizes stop at their floor, 0.05
    params, opt = _build("rprop_groups", reference)
    replay.run("rprop_groups", reference, params, opt, range(STEPS))
    assert (opt.state[2]["step_size"] == 0.05).any() or (opt.state[1]["step_size"] == 0.05).any()
    assert min(s["step_size"].min() for s in opt.state[1:]) == 0.05


def test_asgd_averages_after_t0(reference):
    # t0 = 3: ax follows p for the first steps, then is their running mean
    params, opt = _build("asgd_averaging", reference)
    with replay.default_float64():  # (torch's when recorded: eta and mu float64)
        replay.run("asgd_averaging", reference, params, opt, range(3))
        np.testing.assert_array_equal(opt.state[0]["ax"], params[0].data)
        replay.run("asgd_averaging", reference, params, opt, range(3, STEPS))
    assert not np.allclose(opt.state[0]["ax"], params[0].data)
    assert float(opt.state[0]["mu"]) == 1 / (STEPS - 3)
    assert opt.state[0]["eta"].dtype == np.float64 and opt.state[0]["eta"].shape == ()


def test_sgd_dampening_zero_is_the_plain_path():
    # dampening=0 leaves the bits of SGD with momentum as they were
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal((4, 3)), rng.standard_normal((5, 4, 3))
    runs = []
    for kwargs in ({}, {"dampening": 0.0}):
        p = Parameter(start, dtype=np.float64)
        opt = SGD([p], lr=0.1, momentum=0.9, **kwargs)
        for g in grads:
            p.grad = g.copy()
            opt.step()
        runs.append(p.data.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


RESUME_CASES = ["rprop_custom", "rprop_groups", "asgd_averaging", "asgd_groups",
                "sgd_dampening", "sgd_dampening_groups"]


@pytest.mark.parametrize("case", RESUME_CASES)
def test_resuming_from_a_checkpoint_continues_bit_for_bit(case, reference, tmp_path):
    replay.check_resuming_continues_bit_for_bit(CASES, case, reference, tmp_path / "c.npz")


def test_an_older_sgd_state_loads_without_dampening():
    p = Parameter(np.ones(3), dtype=np.float64)
    opt = SGD([p], lr=0.1, momentum=0.9)
    old = {k: v for k, v in opt.state_dict().items() if k != "group.0.dampening"}
    restored = SGD([Parameter(np.ones(3))], lr=0.1, momentum=0.9, dampening=0.5)
    restored.load_state_dict(old)
    assert restored.param_groups[0]["dampening"] == 0.0


def test_state_slots_have_torchs_names():
    rprop = replay.state_slots(Rprop)
    assert set(rprop) == {"step", "prev", "step_size"} and rprop["prev"].dtype == np.float32
    asgd = replay.state_slots(ASGD)
    assert set(asgd) == {"step", "ax", "eta", "mu"}
    assert asgd["ax"].dtype == np.float32 and asgd["eta"].dtype == np.float32  # (torch's)


@pytest.mark.parametrize("make", [
    lambda p: Rprop(p, lr=0.01, maximize=True),
    lambda p: ASGD(p, lr=0.05, t0=2, weight_decay=0.1),
    lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1),
])
def test_many_blocks_match_one(make):
    def run(block_bytes):
        rng = np.random.default_rng(0)
        params = [Parameter(rng.standard_normal((9, 5)), dtype=np.float64),
                  Parameter(np.asfortranarray(rng.standard_normal((7, 4))), dtype=np.float64)]
        params[1].data = np.asfortranarray(params[1].data)
        opt = make(params)
        opt.block_bytes = block_bytes
        for _ in range(6):
            for p in params:
                p.grad = rng.standard_normal(p.shape)
            opt.step()
        return params, opt

    whole, whole_opt = run(1 << 20)
    blocked, blocked_opt = run(16)
    for a, b in zip(whole, blocked):
        np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(whole_opt.state, blocked_opt.state):
        for slot in a:
            np.testing.assert_array_equal(a[slot], b[slot])


@pytest.mark.parametrize("make", [Rprop, lambda p: ASGD(p, t0=0)])
def test_steps_reuse_their_buffers(make):
    replay.check_steps_reuse_their_buffers(make)


LEARNERS = {
    "Rprop": lambda p: Rprop(p, lr=0.01),
    "ASGD": lambda p: ASGD(p, lr=0.05, t0=100),
    "SGD dampening": lambda p: SGD(p, lr=0.05, momentum=0.9, dampening=0.5),
}


@pytest.mark.parametrize("name", sorted(LEARNERS))
@pytest.mark.parametrize("maximize", [False, True])
def test_each_optimiser_fits_a_linear_regression(name, maximize):
    x, y, first, opt = replay.fit_linear_regression(name, LEARNERS[name], maximize)
    if name == "ASGD":  # the average of the last 200 steps is as good as the last point
        averaged = Linear(3, 1)
        averaged.weight.data, averaged.bias.data = (s["ax"] for s in opt.state)
        assert float(F.mse_loss(averaged(Tensor(x)), Tensor(y)).data) < 1e-3 * first


def _one():
    return [Parameter(np.zeros(2))]


@pytest.mark.parametrize("make, message", [
    (lambda: Rprop(_one(), etas=(1.2, 0.5)),
     r"Rprop: etas must satisfy 0 < etaminus < 1 < etaplus, got \(1.2, 0.5\)"),
    (lambda: Rprop(_one(), etas=(0.0, 1.2)), "etas must satisfy"),
    (lambda: Rprop(_one(), etas=0.5), r"etas must be a pair \(etaminus, etaplus\), got 0.5"),
    (lambda: Rprop(_one(), step_sizes=(1.0, 0.1)),
     r"Rprop: step_sizes must be \(smallest, largest\), got \(1.0, 0.1\)"),
    (lambda: Rprop(_one(), step_sizes=(-1.0, 1.0)), "step_sizes\\[0\\] must be a finite"),
    (lambda: Rprop(_one(), maximize="no"), "Rprop: maximize must be True or False"),
    (lambda: ASGD(_one(), lambd=-1e-4), "ASGD: lambd must be a finite number >= 0"),
    (lambda: ASGD(_one(), alpha=float("nan")), "ASGD: alpha must be a finite number >= 0"),
    (lambda: ASGD(_one(), t0=float("inf")), "ASGD: t0 must be a finite number"),
    (lambda: ASGD(_one(), weight_decay=-0.1), "ASGD: weight_decay must be a finite"),
    (lambda: SGD(_one(), lr=0.1, momentum=0.9, dampening=-0.5),
     "SGD: dampening must be a finite number >= 0"),
    (lambda: SGD(_one(), lr=0.1, momentum=0.9, dampening=0.5, nesterov=True),
     "SGD: nesterov=True needs momentum > 0 and dampening 0, got momentum=0.9, "
     "dampening=0.5"),
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_rprop_and_asgd_refuse_sparse_gradients():
    emb = nn.Embedding(5, 2, sparse=True, rng=np.random.default_rng(0))
    F.sum(emb(np.array([1, 3]))).backward()
    for cls in (Rprop, ASGD):
        with pytest.raises(TypeError, match=f"{cls.__name__}: parameter 0 has a sparse"):
            cls(emb.parameters()).step()
