"""RMSprop, Adagrad, Adamax, NAdam, RAdam, and amsgrad / maximize for Adam, AdamW and SGD, against
PyTorch step for step (tests/fixtures/optim/more.npz, written by
tests/fixtures/make_optim_fixtures.py) in one group and two; resuming from a checkpoint; learning;
errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_optim import MORE_CASES as CASES

import dlpy.functional as F
from dlpy import nn
from dlpy.nn import Parameter
from dlpy.optim import SGD, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop, lr_scheduler

from . import replay
from .replay import NO_GRAD_STEP, STEPS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "more.npz"


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


@pytest.mark.parametrize("case", ["rmsprop_centered_momentum", "adagrad_decay", "nadam",
                                  "radam", "adamax_groups", "adam_amsgrad"])
def test_a_parameter_without_gradient_is_skipped(case, reference):
    params, opt = _build(case, reference)
    with replay.default_float64():  # (torch's when recorded: NAdam's mu_product float64)
        replay.run(case, reference, params, opt, range(NO_GRAD_STEP + 1))
    np.testing.assert_array_equal(params[1].data,
                                  reference[f"{case}:afters1"][NO_GRAD_STEP - 1])
    assert int(opt.state[1]["step"]) == NO_GRAD_STEP  # one behind the others
    assert int(opt.state[0]["step"]) == NO_GRAD_STEP + 1


def test_first_steps_by_hand():
    # each first step in closed form, from zero state and a gradient g
    g = np.array([2.0, -0.5, 1e-3])

    def first_step(cls, **kwargs):
        p = Parameter(np.zeros(3), dtype=np.float64)
        opt = cls([p], **kwargs)
        p.grad = g.copy()
        opt.step()
        return p.data

    # RMSprop: v = 0.01 g^2, p = -lr g / (0.1 |g| + eps)
    np.testing.assert_allclose(first_step(RMSprop, lr=0.1), -0.1 * g / (0.1 * np.abs(g) + 1e-8),
                               rtol=1e-14)
    # Adagrad: sum = 0.5 + g^2, p = -lr g / (sqrt(sum) + eps)
    np.testing.assert_allclose(first_step(Adagrad, lr=0.1, initial_accumulator_value=0.5),
                               -0.1 * g / (np.sqrt(0.5 + g * g) + 1e-10), rtol=1e-14)
    # Adamax: m = 0.1 g, u = |g| + eps, p = -lr / 0.1 * m / u
    np.testing.assert_allclose(first_step(Adamax, lr=0.1), -0.1 * g / (np.abs(g) + 1e-8),
                               rtol=1e-14)
    # RAdam: rho_1 = 1 <= 5, so plain momentum SGD: p = -lr * m / (1 - b1) = -lr g
    np.testing.assert_allclose(first_step(RAdam, lr=0.1), -0.1 * g, rtol=1e-15)
    # maximize climbs: the same step with the sign flipped
    np.testing.assert_array_equal(first_step(RAdam, lr=0.1, maximize=True), 0.1 * g)


def test_radam_cases_take_both_branches():
    # rho_t = rho_inf - 2 t b2^t / (1 - b2^t) passes 5 within the fixture's steps
    for beta2 in (0.999, 0.95, 0.9):
        rho_inf = 2 / (1 - beta2) - 1
        rho = [rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t) for t in range(1, STEPS + 1)]
        assert rho[0] <= 5.0 < rho[-1]


def test_amsgrad_keeps_the_largest_second_moment(reference):
    case = "adam_amsgrad"
    params, opt = _build(case, reference)
    replay.run(case, reference, params, opt, range(STEPS))
    state = opt.state[0]
    # the gradients shrink, so v falls below its running maximum and the paths part
    assert np.all(state["max_exp_avg_sq"] >= state["exp_avg_sq"])
    assert np.any(state["max_exp_avg_sq"] > state["exp_avg_sq"])
    plain, plain_opt = _build(case, reference, amsgrad=False)
    replay.run(case, reference, plain, plain_opt, range(STEPS))
    assert "max_exp_avg_sq" not in plain_opt.state[0]
    assert not np.allclose(plain[0].data, params[0].data, rtol=1e-6, atol=0)


RESUME_CASES = ["rmsprop_centered_momentum", "rmsprop_groups", "adagrad_decay",
                "adagrad_groups", "adamax_weight_decay", "nadam_decoupled", "nadam_groups",
                "radam", "radam_groups", "adam_amsgrad_groups", "adamw_amsgrad",
                "sgd_maximize"]


@pytest.mark.parametrize("case", RESUME_CASES)
def test_resuming_from_a_checkpoint_continues_bit_for_bit(case, reference, tmp_path):
    # RAdam is still before its rectified phase at the checkpoint (step 5)
    replay.check_resuming_continues_bit_for_bit(CASES, case, reference, tmp_path / "c.npz")


def test_state_slots_have_torchs_names():
    slots = replay.state_slots
    assert set(slots(RMSprop)) == {"step", "square_avg"}
    assert set(slots(lambda p: RMSprop(p, momentum=0.9, centered=True))) == {
        "step", "square_avg", "momentum_buffer", "grad_avg"}
    assert set(slots(Adagrad)) == {"step", "sum"}
    assert set(slots(Adamax)) == {"step", "exp_avg", "exp_inf"}
    assert set(slots(RAdam)) == {"step", "exp_avg", "exp_avg_sq"}
    assert set(slots(lambda p: Adam(p, amsgrad=True))) == {
        "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    nadam = slots(NAdam)
    assert set(nadam) == {"step", "exp_avg", "exp_avg_sq", "mu_product"}
    # one number of torch's scalar dtype (float32: the default dtype's), multiplied in it;
    # the arrays follow the parameter
    assert nadam["mu_product"].shape == () and nadam["mu_product"].dtype == np.float32
    assert nadam["exp_avg"].dtype == np.float32
    assert nadam["mu_product"] == np.float32(0.9 * (1 - 0.5 * 0.96 ** 0.004))


@pytest.mark.parametrize("make", [
    lambda p: RMSprop(p, momentum=0.9, centered=True), Adagrad, Adamax, NAdam, RAdam,
    lambda p: Adam(p, amsgrad=True, maximize=True),
])
def test_steps_reuse_their_buffers_and_keep_float32(make):
    layer, scratch = replay.check_steps_reuse_their_buffers(make)
    assert list(scratch) == [np.dtype(np.float32)]
    assert all(p.dtype == np.float32 for p in layer.parameters())


def test_older_states_and_other_settings_load():
    # an Adam state saved before amsgrad / maximize existed loads with both off; a state saved
    # with amsgrad loads into an optimiser made without it (the slots follow the state)
    p = Parameter(np.ones(3), dtype=np.float64)
    opt = Adam([p], lr=0.1, amsgrad=True)
    p.grad = np.array([1.0, -2.0, 3.0])
    opt.step()
    state = opt.state_dict()
    restored = Adam([Parameter(np.ones(3), dtype=np.float64)])
    restored.load_state_dict(state)
    assert restored.param_groups[0]["amsgrad"] is True
    np.testing.assert_array_equal(restored.state[0]["max_exp_avg_sq"],
                                  opt.state[0]["max_exp_avg_sq"])
    old = {k: v for k, v in Adam([p]).state_dict().items()
           if k not in ("group.0.amsgrad", "group.0.maximize")}
    restored = Adam([Parameter(np.ones(3))], amsgrad=True, maximize=True)
    restored.load_state_dict(old)
    assert not restored.param_groups[0]["amsgrad"] and not restored.param_groups[0]["maximize"]
    sgd = SGD([p], lr=0.1, momentum=0.9)
    sgd.step()
    plain = SGD([Parameter(np.ones(3), dtype=np.float64)], lr=0.1)
    plain.load_state_dict(sgd.state_dict())
    assert plain.param_groups[0]["momentum"] == 0.9 and "momentum_buffer" in plain.state[0]


def test_nadam_state_errors():
    p = Parameter(np.ones(3), dtype=np.float64)
    opt = NAdam([p])
    p.grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match=r"state.0.mu_product must hold one number, got shape "
                                         r"\(3,\)"):
        NAdam([p]).load_state_dict({**state, "state.0.mu_product": np.ones(3)})
    with pytest.raises(ValueError, match=r"parameter 0 has state \['exp_avg', 'exp_avg_sq', "
                                         r"'step'\], expected"):
        NAdam([p]).load_state_dict({k: v for k, v in state.items()
                                    if k != "state.0.mu_product"})


def test_one_cycle_cycles_rmsprop_momentum_and_nadam_beta1():
    for opt in (RMSprop([Parameter(np.zeros(2))], lr=0.01, momentum=0.9),
                NAdam([Parameter(np.zeros(2))])):
        scheduler = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
        key = "momentum" if isinstance(opt, RMSprop) else "betas"
        first = opt.param_groups[0][key]
        for _ in range(5):
            opt.step()
            scheduler.step()
        assert opt.param_groups[0][key] != first


LEARNERS = {
    "RMSprop": lambda p: RMSprop(p, lr=0.01),
    "RMSprop centered momentum": lambda p: RMSprop(p, lr=0.005, momentum=0.9, centered=True),
    "Adagrad": lambda p: Adagrad(p, lr=0.3),
    "Adamax": lambda p: Adamax(p, lr=0.05),
    "NAdam": lambda p: NAdam(p, lr=0.05),
    "NAdam decoupled": lambda p: NAdam(p, lr=0.05, weight_decay=1e-3,
                                       decoupled_weight_decay=True),
    "RAdam": lambda p: RAdam(p, lr=0.05),
    "Adam amsgrad": lambda p: Adam(p, lr=0.05, amsgrad=True),
    "AdamW amsgrad": lambda p: AdamW(p, lr=0.05, amsgrad=True),
}


@pytest.mark.parametrize("name", sorted(LEARNERS))
@pytest.mark.parametrize("maximize", [False, True])
def test_each_optimiser_fits_a_linear_regression(name, maximize):
    replay.fit_linear_regression(name, LEARNERS[name], maximize)


def test_adagrad_takes_sparse_gradients_but_not_with_weight_decay():
    emb = nn.Embedding(5, 2, sparse=True, rng=np.random.default_rng(0))
    before = emb.weight.data.copy()
    F.sum(emb(np.array([1, 3, 1]))).backward()
    Adagrad(emb.parameters(), lr=0.1).step()
    untouched = [0, 2, 4]
    np.testing.assert_array_equal(emb.weight.data[untouched], before[untouched])
    assert not np.allclose(emb.weight.data[[1, 3]], before[[1, 3]])
    with pytest.raises(TypeError, match="Adagrad: weight_decay does not work with sparse"):
        Adagrad(emb.parameters(), weight_decay=0.1).step()
    for cls in (RMSprop, Adamax, NAdam, RAdam):
        with pytest.raises(TypeError, match=f"{cls.__name__}: parameter 0 has a sparse "
                                            "gradient .* use optim.SparseAdam, Adagrad or SGD"):
            cls(emb.parameters()).step()


def _one():
    return [Parameter(np.zeros(2))]


@pytest.mark.parametrize("make, message", [
    (lambda: RMSprop(_one(), lr=-0.1), "RMSprop: lr must be a finite number >= 0, got -0.1"),
    (lambda: RMSprop(_one(), alpha=1.5), r"RMSprop: alpha must lie in \[0, 1\], got 1.5"),
    (lambda: RMSprop(_one(), alpha=-0.1), "RMSprop: alpha must be a finite number >= 0"),
    (lambda: RMSprop(_one(), momentum=float("nan")), "RMSprop: momentum must be a finite"),
    (lambda: RMSprop(_one(), eps=-1e-8), "RMSprop: eps must be a finite number >= 0"),
    (lambda: RMSprop(_one(), centered="yes"), "RMSprop: centered must be True or False, got "
                                              "'yes'"),
    (lambda: Adagrad(_one(), lr_decay=-1), "Adagrad: lr_decay must be a finite number >= 0"),
    (lambda: Adagrad(_one(), initial_accumulator_value=-0.1),
     "Adagrad: initial_accumulator_value must be a finite number >= 0, got -0.1"),
    (lambda: Adagrad(_one(), weight_decay=float("inf")), "Adagrad: weight_decay must be a fin"),
    (lambda: Adamax(_one(), betas=(0.9, 1.0)), r"Adamax: betas must lie in \[0, 1\)"),
    (lambda: Adamax(_one(), betas=0.9), "Adamax: betas must be a pair of numbers, got 0.9"),
    (lambda: NAdam(_one(), momentum_decay=-0.1), "NAdam: momentum_decay must be a finite"),
    (lambda: NAdam(_one(), decoupled_weight_decay=1),
     "NAdam: decoupled_weight_decay must be True or False, got 1"),
    (lambda: RAdam(_one(), betas=(-0.1, 0.999)), "RAdam: beta1 must be a finite number >= 0"),
    (lambda: NAdam(_one(), betas=(0.9, 1.5)), r"NAdam: betas must lie in \[0, 1\), got \(0.9, 1.5"),
    (lambda: RAdam(_one(), weight_decay=-1), "RAdam: weight_decay must be a finite number"),
    (lambda: Adam(_one(), amsgrad="False"), "Adam: amsgrad must be True or False"),
    (lambda: AdamW(_one(), maximize=None), "AdamW: maximize must be True or False, got None"),
    (lambda: SGD(_one(), lr=0.1, maximize=0), "SGD: maximize must be True or False, got 0"),
    (lambda: NAdam([]), "NAdam: got an empty parameter list"),
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_adagrad_group_initial_accumulator_value_is_kept_unused():
    # torch takes a group's own value and keeps it in the group, but every sum starts from the
    # constructor's
    opt = Adagrad([{"params": _one(), "initial_accumulator_value": 1.0}],
                  initial_accumulator_value=0.5)
    assert opt.param_groups[0]["initial_accumulator_value"] == 1.0
    np.testing.assert_array_equal(opt.state[opt.param_groups[0]["params"][0]]["sum"].numpy(),
                                  [0.5, 0.5])
