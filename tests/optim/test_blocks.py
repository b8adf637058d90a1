"""The optimisers' blocked updates (Optimizer._blocks): a parameter split into many blocks, in
any memory layout, lands on the same bits as one whole block; the temporaries they share are no
part of the state (state_dict, load_state_dict) and follow a parameter's dtype (module.to)."""

import numpy as np
import pytest

from dlpy import nn
from dlpy.nn import Parameter
from dlpy.optim import SGD, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop

SETTINGS = {
    "sgd": (SGD, {"lr": 0.1, "weight_decay": 0.1}),
    "sgd_nesterov_maximize": (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                    "weight_decay": 0.01, "maximize": True}),
    "adam_l2": (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    "adamw_amsgrad": (AdamW, {"lr": 0.01, "amsgrad": True}),
    "rmsprop": (RMSprop, {"lr": 0.01, "maximize": True}),
    "rmsprop_centered_momentum": (RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.9,
                                            "weight_decay": 0.1}),
    "adagrad": (Adagrad, {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1}),
    "adamax": (Adamax, {"lr": 0.01, "weight_decay": 0.1}),
    "nadam_decoupled": (NAdam, {"lr": 0.01, "weight_decay": 0.1,
                                "decoupled_weight_decay": True}),
    "radam": (RAdam, {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1}),
}
STEPS = 6  # RAdam with beta2 = 0.9 reaches its rectified phase at step 6


def _layouts(rng):
    """(parameter value, function making the gradient's layout) in C order, Fortran order with
    a C-order gradient, C order with transposed (non-contiguous) gradients, and 0-d."""
    def transposed(g):
        return np.ascontiguousarray(g.T).T
    return [(rng.standard_normal((9, 5)), np.ascontiguousarray),
            (np.asfortranarray(rng.standard_normal((7, 4))), np.ascontiguousarray),
            (rng.standard_normal((6, 3)), transposed),
            (np.array(rng.standard_normal()), np.asarray)]


def _run(case, block_bytes):
    cls, kwargs = SETTINGS[case]
    rng = np.random.default_rng(0)
    layouts = _layouts(rng)
    params = [Parameter(np.zeros(1), dtype=np.float64) for _ in layouts]
    for p, (value, _) in zip(params, layouts):
        p.data = value  # as it is, keeping its layout
    opt = cls(params, **kwargs)
    opt.block_bytes = block_bytes
    for _ in range(STEPS):
        for p, (_, layout) in zip(params, layouts):
            p.grad = layout(rng.standard_normal(p.shape))
        opt.step()
    return params, opt


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_many_blocks_match_one(case):
    # 16 bytes: two float64 numbers a block, and a row of every 2-d array is longer than that
    whole, whole_opt = _run(case, 1 << 20)
    blocked, blocked_opt = _run(case, 16)
    for a, b in zip(whole, blocked):
        np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(whole_opt.state, blocked_opt.state):
        assert a.keys() == b.keys()
        for slot in a:
            np.testing.assert_array_equal(a[slot], b[slot])
    assert whole[1].data.flags.f_contiguous  # updated in place, in its own layout


def test_a_large_parameter_is_split_and_shares_the_temporaries():
    p, small = Parameter(np.zeros(1000, np.float32)), Parameter(np.zeros(3, np.float32))
    opt = Adam([p, small])
    opt.block_bytes = 400  # 100 float32 numbers
    p.grad = np.linspace(-1, 1, 1000, dtype=np.float32)
    small.grad = np.ones(3, dtype=np.float32)
    opt.step()
    reference = Parameter(np.zeros(1000, np.float32))
    reference_opt = Adam([reference])
    reference.grad = p.grad
    reference_opt.step()
    np.testing.assert_array_equal(p.data, reference.data)
    # one buffer for both parameters' temporaries: a block of 100 numbers each
    assert [(dtype, buffer.shape) for dtype, buffer in opt._scratch.items()] == [
        (np.dtype(np.float32), (2, 100))]


def _model():
    model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.Tanh(),
                          nn.Linear(4, 1, rng=np.random.default_rng(1)))
    return model


def _steps(model, opt, seed, steps=3):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in model.parameters():
            p.grad = rng.standard_normal(p.shape).astype(p.dtype)
        opt.step()


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_the_temporaries_are_not_state(case):
    cls, kwargs = SETTINGS[case]
    model = _model()
    opt = cls(model.parameters(), **kwargs)
    _steps(model, opt, 1)
    state = opt.state_dict()
    assert not any("scratch" in key for key in state)
    slots = {key.split(".", 2)[2] for key in state if key.startswith("state.")}
    assert slots <= {"step", "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq",
                     "square_avg", "grad_avg", "sum", "exp_inf", "mu_product"}
    # a fresh optimiser (no temporaries yet) given the state continues on the same bits
    restored_model = _model()
    restored_model.load_state_dict(model.state_dict())
    restored = cls(restored_model.parameters(), **kwargs)
    restored.load_state_dict(state)
    assert not restored._scratch
    _steps(model, opt, 2)
    _steps(restored_model, restored, 2)
    for a, b in zip(model.parameters(), restored_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_a_parameter_changing_dtype_takes_its_state_along(case):
    # module.to(np.float64) after some float32 steps: the parameters stay float64 and the
    # state follows them, the same as saving the state and loading it into a float64 model
    cls, kwargs = SETTINGS[case]
    model = _model()
    opt = cls(model.parameters(), **kwargs)
    _steps(model, opt, 1)
    saved_model, saved_state = model.state_dict(), opt.state_dict()
    model.to(np.float64)
    _steps(model, opt, 2)
    assert all(p.dtype == np.float64 for p in model.parameters())
    for state in opt.state:
        for slot, value in state.items():
            if slot not in ("step", "mu_product"):
                assert value.dtype == np.float64, slot
    assert np.dtype(np.float64) in opt._scratch

    loaded = _model()
    loaded.load_state_dict(saved_model)
    loaded.to(np.float64)
    loaded_opt = cls(loaded.parameters(), **kwargs)
    loaded_opt.load_state_dict(saved_state)
    _steps(loaded, loaded_opt, 2)
    for a, b in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
