"""SGD, Adam, AdamW and clip_grad_norm against PyTorch's updates (tests/fixtures/optim), state
saving, and errors."""

from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_npz

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.nn import Linear, Parameter, load_checkpoint, save_checkpoint
from dlpy.optim import SGD, Adam, AdamW, clip_grad_norm

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "optim.npz"
STEPS = 5

# the same arguments as tests/fixtures/make_optim_fixtures.py, in dlpy's spelling
CASES = {
    "sgd": (SGD, {"lr": 0.1}),
    "sgd_weight_decay": (SGD, {"lr": 0.1, "weight_decay": 0.1}),
    "sgd_momentum": (SGD, {"lr": 0.1, "momentum": 0.9}),
    "sgd_nesterov": (SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    "adam": (Adam, {"lr": 0.01}),
    "adam_l2": (Adam, {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    "adamw": (AdamW, {"lr": 0.01, "weight_decay": 0.1}),
}


@pytest.fixture(scope="module")
def reference():
    return load_npz(FIXTURE)


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_torch(case, reference):
    cls, kwargs = CASES[case]
    params = [Parameter(reference[f"{case}:param{i}"], dtype=np.float64) for i in range(2)]
    opt = cls(params, **kwargs)
    for t in range(STEPS):
        for i, p in enumerate(params):
            p.grad = reference[f"{case}:grad{t}_{i}"].copy()
        opt.step()
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.data, reference[f"{case}:after{t}_{i}"], rtol=1e-12,
                                       atol=1e-12, err_msg=f"{case}: step {t}, parameter {i}")


def test_sgd_hand_computed_momentum():
    p = Parameter(np.array([1.0, 2.0]), dtype=np.float64)
    opt = SGD([p], lr=0.5, momentum=0.5)
    p.grad = np.array([1.0, -1.0])
    opt.step()  # buf = g = [1, -1];  p = [1, 2] - 0.5 * buf
    np.testing.assert_allclose(p.data, [0.5, 2.5])
    p.grad = np.array([1.0, 1.0])
    opt.step()  # buf = 0.5 * [1, -1] + [1, 1] = [1.5, 0.5]
    np.testing.assert_allclose(p.data, [0.5 - 0.75, 2.5 - 0.25])


def test_adam_first_step_is_lr_times_sign():
    # bias correction makes the first Adam step lr * g / (|g| + eps') = lr * sign(g)
    p = Parameter(np.zeros(3), dtype=np.float64)
    opt = Adam([p], lr=0.1)
    p.grad = np.array([3.0, -0.2, 5e-3])
    opt.step()
    np.testing.assert_allclose(p.data, [-0.1, 0.1, -0.1], rtol=1e-5)


def test_float32_parameters_stay_float32_and_step_allocates_buffers_once():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    opt = Adam(layer.parameters(), lr=0.1)
    for p in layer.parameters():
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    buffers = [id(s["exp_avg"]) for s in opt.state]
    opt.step()
    assert [id(s["exp_avg"]) for s in opt.state] == buffers  # updated in place
    assert all(p.dtype == np.float32 for p in layer.parameters())


def test_parameters_without_gradients_are_skipped():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = SGD([a, b], lr=1.0)
    a.grad = np.ones(2, dtype=np.float32)
    opt.step()
    np.testing.assert_array_equal(a.data, [0, 0])
    np.testing.assert_array_equal(b.data, [1, 1])


def test_zero_grad_clears_gradients():
    p = Parameter(np.ones(2))
    opt = SGD([p], lr=1.0)
    p.grad = np.ones(2, dtype=np.float32)
    opt.zero_grad()
    assert p.grad is None


def test_clip_grad_norm_matches_torch(reference):
    params = [Parameter(np.zeros_like(reference[f"clip:grad{i}"]), dtype=np.float64)
              for i in range(2)]
    for i, p in enumerate(params):
        p.grad = reference[f"clip:grad{i}"].copy()
    norm = clip_grad_norm(params, 1.5)
    assert norm == pytest.approx(float(reference["clip:norm"]), rel=1e-12)
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.grad, reference[f"clip:clipped{i}"], rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients():
    p = Parameter(np.zeros(2), dtype=np.float64)
    p.grad = np.array([0.3, 0.4])
    assert clip_grad_norm([p], 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(p.grad, [0.3, 0.4])


@pytest.mark.parametrize("cls, kwargs", [(SGD, {"lr": 0.1, "momentum": 0.9}),
                                          (Adam, {"lr": 0.01}), (AdamW, {"lr": 0.01})])
def test_state_dict_round_trip_continues_identically(cls, kwargs, tmp_path):
    rng = np.random.default_rng(1)
    grads = [[rng.standard_normal(s) for s in ((2, 3), (2,))] for _ in range(4)]

    def run(model, opt, steps):
        for g in steps:
            for p, gp in zip(model.parameters(), g):
                p.grad = gp.astype(np.float32)
            opt.step()

    model = Linear(3, 2, rng=np.random.default_rng(0))
    opt = cls(model.parameters(), **kwargs)
    run(model, opt, grads[:2])
    save_checkpoint(tmp_path / "ckpt.npz", model, opt)
    run(model, opt, grads[2:])

    restored = Linear(3, 2, rng=np.random.default_rng(5))
    restored_opt = cls(restored.parameters(), **{**kwargs, "lr": 123.0})
    load_checkpoint(tmp_path / "ckpt.npz", restored, restored_opt)
    assert restored_opt.lr == kwargs["lr"]  # hyper-parameters come back too
    run(restored, restored_opt, grads[2:])
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_errors(tmp_path):
    p = Parameter(np.zeros((2, 3)))
    opt = Adam([p])
    p.grad = np.ones((2, 3), dtype=np.float32)
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match=r"missing keys: \['group.0.lr'\]"):
        Adam([p]).load_state_dict({k: v for k, v in state.items() if k != "group.0.lr"})
    bad = dict(state, **{"state.0.exp_avg": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"state.0.exp_avg has shape \(3, 2\), parameter 0 has"):
        Adam([p]).load_state_dict(bad)
    with pytest.raises(ValueError, match="state for parameter 1, but the optimiser has 1 par"):
        Adam([p]).load_state_dict({**state, "state.1.exp_avg": np.zeros(1)})
    with pytest.raises(ValueError, match="unexpected key 'state.0.momentum_buffer'"):
        Adam([p]).load_state_dict({**state, "state.0.momentum_buffer": np.zeros((2, 3))})
    model = Linear(1, 1)
    save_checkpoint(tmp_path / "c.npz", model, Adam(model.parameters()))
    with pytest.raises(ValueError, match=r"c.npz: the checkpoint holds Adam state, cannot load"):
        load_checkpoint(tmp_path / "c.npz", model, SGD(model.parameters(), lr=0.1))
    save_checkpoint(tmp_path / "model_only.npz", model)
    with pytest.raises(ValueError, match="model_only.npz: the checkpoint holds no optimiser"):
        load_checkpoint(tmp_path / "model_only.npz", model, Adam(model.parameters()))


@pytest.mark.parametrize("make, message", [
    (lambda: SGD([], lr=0.1), "empty parameter list"),
    (lambda: SGD([Parameter(np.zeros(1))], lr=-1), "lr must be a finite number >= 0, got -1"),
    (lambda: SGD([Parameter(np.zeros(1))], lr=float("nan")), "lr must be a finite number"),
    (lambda: Adam([Parameter(np.zeros(1))], eps=float("inf")), "eps must be a finite number"),
    (lambda: SGD([Parameter(np.zeros(1))], lr=0.1, momentum=float("nan")), "momentum must be"),
    (lambda: SGD([np.zeros(1)], lr=0.1), "parameter 0 must be a Tensor, got ndarray"),
    (lambda: SGD([Parameter(np.zeros(1)) * 2], lr=0.1), "parameter 0 is not a leaf tensor"),
    (lambda: SGD([Parameter(np.zeros(1))], lr=0.1, nesterov=True), "nesterov=True needs"),
    (lambda: Adam([Parameter(np.zeros(1))], betas=(0.9, 1.0)), r"betas must lie in \[0, 1\)"),
    (lambda: clip_grad_norm([], 0.0), "max_norm must be finite and > 0, got 0.0"),
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_gradient_shape_mismatch_is_reported():
    p = Parameter(np.zeros((2, 2)))
    with pytest.raises(RuntimeError, match=r"shape \(3,\) to a tensor of shape \(2, 2\)"):
        p.grad = np.zeros(3, dtype=np.float32)  # refused when assigned, as torch
    p.grad = np.zeros((2, 2))
    p.grad.data = np.zeros(3, dtype=np.float32)  # the array behind the gradient replaced
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2, 2\) but its gradient"):
        SGD([p], lr=0.1).step()


def test_in_place_updates_never_reach_other_gradients():
    # a + b hands the same upstream gradient to both leaves; clipping (in place) must scale
    # each leaf's gradient once, and leave the caller's grad_output alone
    a, b = Parameter(np.zeros(3), dtype=np.float64), Parameter(np.zeros(3), dtype=np.float64)
    upstream = np.full(3, 2.0)
    (a + b).backward(upstream)
    clip_grad_norm([a, b], 1.0)
    np.testing.assert_allclose(a.grad, b.grad)
    assert np.linalg.norm(np.concatenate([a.grad, b.grad])) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(upstream, [2.0, 2.0, 2.0])


def test_a_frozen_parameter_is_accepted_and_left_alone():
    # as PyTorch: requires_grad_(False) then an optimiser over all parameters works; the
    # frozen ones get no gradient and step skips them
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    before = model[0].weight.data.copy()
    for make in (lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.1)):
        opt = make(model.parameters())
        opt.zero_grad()
        F.sum(model(Tensor(np.ones((4, 3), np.float32)))).backward()
        assert model[0].weight.grad is None and model[1].weight.grad is not None
        trained = model[1].weight.data.copy()
        opt.step()
        np.testing.assert_array_equal(model[0].weight.data, before)
        assert not np.array_equal(model[1].weight.data, trained)
