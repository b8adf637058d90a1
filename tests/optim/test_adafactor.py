"""Adafactor against PyTorch step for step in float64 (tests/fixtures/optim/adafactor.npz,
written by tests/fixtures/make_adafactor_fixtures.py): matrices, 3-d tensors, vectors and
scalars, weight decay, maximize, two groups; a torch Adafactor state dict loads and continues;
resuming from a checkpoint bit for bit; the factored state's shapes; learning; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_adafactor import CASES, SD_GROUPS

from dlpy import nn, optim
from dlpy.optim import Adafactor

from . import replay
from .replay import STEPS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "adafactor.npz"


@pytest.fixture(scope="module")
def reference():
    data = replay.load(FIXTURE)
    return {k: v for k, v in data.items() if not k.startswith("sd:")}, \
        {k: v for k, v in data.items() if k.startswith("sd:")}


def test_the_cases_are_the_fixtures(reference):
    replay.check_cases_are_the_fixtures(CASES, reference[0])
    shapes = {case: [reference[0][f"{case}:param{i}"].shape for i in range(3)] for case in CASES}
    assert shapes["adafactor"] == [(3, 4), (5,), ()]
    assert shapes["adafactor_3d"] == [(2, 3, 4), (4,), (1, 3)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_torch(case, reference):
    replay.check_steps_match_torch(CASES, case, reference[0])


@pytest.mark.parametrize("case", ["adafactor_groups", "adafactor_3d"])
def test_resuming_continues_bit_for_bit(case, reference, tmp_path):
    replay.check_resuming_continues_bit_for_bit(CASES, case, reference[0],
                                                tmp_path / "ckpt.npz")


def test_state_is_factored_over_the_last_two_dims(reference):
    params, opt = replay.build(CASES, "adafactor_3d", reference[0])
    replay.run("adafactor_3d", reference[0], params, opt, range(2))
    assert sorted(opt.state[0]) == ["col_var", "row_var", "step"]
    assert opt.state[0]["row_var"].shape == (2, 3, 1)
    assert opt.state[0]["col_var"].shape == (2, 1, 4)
    assert sorted(opt.state[1]) == ["step", "variance"] and opt.state[1]["variance"].shape == (4,)
    assert opt.state[2]["row_var"].shape == (1, 1) and opt.state[2]["col_var"].shape == (1, 3)
    # a scalar keeps a full (0-d) variance, as torch's
    params, opt = replay.build(CASES, "adafactor", reference[0])
    replay.run("adafactor", reference[0], params, opt, range(2))
    assert opt.state[2]["variance"].shape == () and int(opt.state[2]["step"]) == 2


def _sd_build(sd, start=None):
    return replay.state_dict_build(Adafactor, sd, "sd:", SD_GROUPS, start)


def _torch_state(sd):
    return replay.torch_state(sd, "sd:")


def test_torch_state_dict_loads_and_continues_as_torch(reference):
    sd = reference[1]
    params, opt = _sd_build(sd, start=[sd[f"sd:after3_{i}"] for i in range(2)])
    opt.load_state_dict(_torch_state(sd))
    assert opt.param_groups[0]["eps"] == (None, 1e-3) and opt.step_count == 3
    assert opt.state[0]["row_var"].shape == (2, 3, 1)
    replay.run("sd", sd, params, opt, [3])
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.data, sd[f"sd:after4_{i}"], rtol=1e-12, atol=1e-15)


def test_own_state_dicts_round_trip_in_either_layout(reference):
    sd = reference[1]
    params, opt = _sd_build(sd)
    replay.run("sd", sd, params, opt, range(3))
    nested = opt.state_dict(torch_layout=True)
    assert nested["param_groups"][0]["eps"] == (None, 1e-3)  # PyTorch's form
    assert sorted(nested["state"][0]) == ["col_var", "row_var", "step"]
    flat = opt.state_dict()
    assert np.isnan(flat["group.0.eps"][0]) and flat["group.0.eps"].dtype == np.float64
    for layout in (nested, flat):
        _, other = _sd_build(sd)
        other.load_state_dict(layout)
        replay.check_same_state(opt, other)


def test_state_dict_with_a_wrong_factor_shape_is_refused(reference):
    sd = reference[1]
    state = _torch_state(sd)
    state["state"][0]["row_var"] = np.zeros((2, 3, 2))
    _, opt = _sd_build(sd)
    with pytest.raises(ValueError, match=r"row_var has shape \(2, 3, 2\).*\(2, 3, 1\)"):
        opt.load_state_dict(state)
    state = _torch_state(sd)
    state["state"][1]["row_var"] = state["state"][1].pop("variance")
    _, opt = _sd_build(sd)
    # (row_var is not a slot of a 1-d parameter: kept as a key of the user's, as torch's;
    # the slot it lacks is refused)
    with pytest.raises(ValueError, match=r"parameter 1 has state \['step'\], expected "
                                         r"\['step', 'variance'\]"):
        opt.load_state_dict(state)


def test_eps1_none_is_the_dtypes_machine_epsilon():
    # a gradient of zeros: the update is g / eps1 = 0 either way, so use tiny gradients where
    # eps1 decides: float32's eps (1.2e-7) against float64's (2.2e-16) give different steps
    runs = {}
    for dtype in (np.float32, np.float64):
        p = nn.Parameter(np.ones((2, 3), dtype=dtype))
        opt = Adafactor([p], lr=0.1)
        p.grad = np.full((2, 3), 1e-9, dtype=dtype)
        opt.step()
        runs[dtype] = p.data.astype(np.float64)
    explicit = nn.Parameter(np.ones((2, 3), dtype=np.float32))
    opt = Adafactor([explicit], lr=0.1, eps=(float(np.finfo(np.float32).eps), 1e-3))
    explicit.grad = np.full((2, 3), 1e-9, dtype=np.float32)
    opt.step()
    np.testing.assert_array_equal(explicit.data, runs[np.float32])
    assert explicit.dtype == np.float32 and opt.state[0]["row_var"].dtype == np.float32
    assert not np.allclose(runs[np.float32], runs[np.float64])


def test_steps_reuse_their_buffers():
    replay.check_steps_reuse_their_buffers(lambda ps: Adafactor(ps, lr=0.1))


@pytest.mark.parametrize("maximize", [False, True])
def test_learns_linear_regression(maximize):
    # relative steps: rho = min(lr, 1/sqrt(t)) times the parameter's RMS (at least eps2)
    replay.fit_linear_regression("Adafactor", lambda ps: Adafactor(ps, lr=0.1, eps=(None, 0.1)),
                                 maximize)


def test_foreach_is_accepted_and_other_switches_are_not():
    p = nn.Parameter(np.ones(3))
    Adafactor([p], foreach=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'fused'"):
        Adafactor([p], fused=True)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -1.0}, "Adafactor: lr must be a finite number >= 0, got -1.0"),
    ({"beta2_decay": 0.5}, r"Adafactor: beta2_decay must be a finite number <= 0, got 0.5"),
    ({"beta2_decay": "x"}, "beta2_decay must be a finite number <= 0, got 'x'"),
    ({"eps": 1e-3}, r"Adafactor: eps must be a pair \(eps1 or None, eps2\), got 0.001"),
    ({"eps": (-1.0, 1e-3)}, r"Adafactor: eps\[0\] must be a finite number >= 0, got -1.0"),
    ({"eps": (None, -1.0)}, r"Adafactor: eps\[1\] must be a finite number >= 0, got -1.0"),
    ({"d": 0.5}, r"Adafactor: d \(the clipping threshold\) must be >= 1, got 0.5"),
    ({"weight_decay": -0.1}, "Adafactor: weight_decay must be a finite number >= 0"),
    ({"maximize": "yes"}, "Adafactor: maximize must be True or False, got 'yes'"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Adafactor([nn.Parameter(np.ones(3))], **kwargs)


def test_exported():
    assert optim.Adafactor is Adafactor and "Adafactor" in optim.__all__
    assert STEPS == 10
