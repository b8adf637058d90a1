"""dlpy.optim._functional (torch.optim.adam.adam and the others): each function runs its class's
update, so n functional steps equal n class steps, for every dtype path the class has (float64,
float16's rounded steps, complex numbers as pairs of reals) and for sparse gradients; and the
torch.optim.optimizer helpers re-exported by dlpy.optim.optimizer."""

import numpy as np
import pytest

import dlpy
from dlpy import optim
from dlpy.optim import _functional as FO
from dlpy.optim import optimizer as O
from dlpy.tensor import Tensor

# name -> (class, its settings, the function's settings, the state slots in the function's
# argument order, each slot's start (None: zeros))
SPECS = {
    "adam": (optim.Adam, {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True},
             {"amsgrad": True, "beta1": 0.9, "beta2": 0.999, "lr": 0.05, "weight_decay": 0.1,
              "eps": 1e-8, "maximize": False}, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), {}),
    "adamw": (optim.AdamW, {"lr": 0.05, "weight_decay": 0.1, "maximize": True},
              {"amsgrad": False, "beta1": 0.9, "beta2": 0.999, "lr": 0.05, "weight_decay": 0.1,
               "eps": 1e-8, "maximize": True}, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), {}),
    "adagrad": (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01},
                {"lr": 0.1, "weight_decay": 0.0, "lr_decay": 0.01, "eps": 1e-10,
                 "maximize": False}, ("sum",), {}),
    "rmsprop": (optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True},
                {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.5,
                 "centered": True}, ("square_avg", "grad_avg", "momentum_buffer"), {}),
    "adadelta": (optim.Adadelta, {"weight_decay": 0.1},
                 {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.1, "maximize": False},
                 ("square_avg", "acc_delta"), {}),
    "adamax": (optim.Adamax, {"lr": 0.05},
               {"eps": 1e-8, "beta1": 0.9, "beta2": 0.999, "lr": 0.05, "weight_decay": 0.0},
               ("exp_avg", "exp_inf"), {}),
    "asgd": (optim.ASGD, {"lr": 0.05, "t0": 1.0},
             {"lambd": 1e-4, "lr": 0.05, "t0": 1.0, "alpha": 0.75, "weight_decay": 0.0},
             ("ax", "mu", "eta"), {"mu": 1.0, "eta": 0.05}),
    "nadam": (optim.NAdam, {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
              {"beta1": 0.9, "beta2": 0.999, "lr": 0.05, "weight_decay": 0.1,
               "momentum_decay": 4e-3, "eps": 1e-8, "decoupled_weight_decay": True},
              ("exp_avg", "exp_avg_sq", "mu_product"), {"mu_product": 1.0}),
    "radam": (optim.RAdam, {"lr": 0.05},
              {"beta1": 0.9, "beta2": 0.999, "lr": 0.05, "weight_decay": 0.0, "eps": 1e-8},
              ("exp_avg", "exp_avg_sq"), {}),
    "rprop": (optim.Rprop, {"lr": 0.05},
              {"step_size_min": 1e-6, "step_size_max": 50, "etaminus": 0.5, "etaplus": 1.2},
              ("prev", "step_size"), {"step_size": "lr"}),
}
SCALAR_SLOTS = ("mu", "eta", "mu_product")


def _start(shape, dtype):
    rng = np.random.default_rng(0)
    data = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        data = data + 1j * rng.standard_normal(shape)
    return data.astype(dtype)


def _grad(data):
    return (np.sin(data * 1.3) + 0.1 * data).astype(data.dtype)


def _by_class(name, dtype, steps):
    cls, settings, _, slots, _ = SPECS[name]
    p = Tensor(_start((3, 2), dtype), requires_grad=True)
    opt = cls([p], **settings)
    for _ in range(steps):
        p.grad = Tensor(_grad(p.data))
        opt.step()
    state = opt.state[p]
    return p.data.copy(), {slot: np.asarray(state[slot].data) for slot in slots if slot in state}


def _by_function(name, dtype, steps):
    _, settings, kwargs, slots, starts = SPECS[name]
    p = Tensor(_start((3, 2), dtype))
    lists = {}
    for slot in slots:
        start = starts.get(slot, 0.0)
        start = settings["lr"] if start == "lr" else start
        scalar = slot in SCALAR_SLOTS
        real = np.zeros((), np.float32) if scalar else np.zeros_like(p.data)
        if real.dtype.kind == "c":  # (the class fills both parts of a complex number)
            start = start * (1 + 1j)
        lists[slot] = [Tensor(real + np.asarray(start, real.dtype))]
    step_list = [Tensor(np.zeros((), np.float32))]
    with dlpy.no_grad():
        for _ in range(steps):
            getattr(FO, name)([p], [Tensor(_grad(p.data))], *lists.values(), step_list,
                              **kwargs)
    return p.data, {slot: values[0].data for slot, values in lists.items()}, step_list[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.complex128])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_function_steps_as_its_class(name, dtype):
    expected, state = _by_class(name, dtype, 3)
    got, got_state, step = _by_function(name, dtype, 3)
    np.testing.assert_array_equal(got, expected)
    for slot, value in state.items():
        np.testing.assert_array_equal(got_state[slot], value)
    assert float(step.data) == 3.0


def test_sgd_fills_the_momentum_buffer_list_as_torch():
    p = Tensor(np.array([1.0, -2.0]))
    buffers = [None]
    with dlpy.no_grad():
        FO.sgd([p], [Tensor(np.array([0.5, 0.25]))], buffers, weight_decay=0.0, momentum=0.9,
               lr=0.1, dampening=0.0, nesterov=False, maximize=False)
        held = buffers[0]
        FO.sgd([p], [Tensor(np.array([0.5, 0.25]))], buffers, weight_decay=0.0, momentum=0.9,
               lr=0.1, dampening=0.0, nesterov=False, maximize=False)
    assert buffers[0] is held
    np.testing.assert_allclose(held.data, [0.95, 0.475])
    np.testing.assert_allclose(p.data, [1.0 - 0.05 - 0.095, -2.0 - 0.025 - 0.0475])


def test_sparse_adam_takes_several_sparse_dims():
    w = Tensor(np.arange(12.0).reshape(2, 3, 2))
    m, v = Tensor(np.zeros((2, 3, 2))), Tensor(np.zeros((2, 3, 2)))
    grad = dlpy.sparse_coo_tensor([[1, 0], [2, 0]], np.array([[0.5, -1.0], [0.25, 0.75]]),
                                  (2, 3, 2))
    with dlpy.no_grad():
        FO.sparse_adam([w], [grad], [m], [v], [1], eps=1e-8, beta1=0.9, beta2=0.999, lr=0.1,
                       maximize=False)
    moved = np.zeros((2, 3, 2), bool)
    moved[1, 2] = moved[0, 0] = True
    assert (w.data != np.arange(12.0).reshape(2, 3, 2))[moved].all()
    np.testing.assert_array_equal(w.data[~moved], np.arange(12.0).reshape(2, 3, 2)[~moved])
    np.testing.assert_allclose(m.data[1, 2], [0.05, -0.1])


def test_fused_grad_scale_unscales_in_place_and_found_inf_skips():
    p, g = Tensor(np.array([1.0, 2.0])), Tensor(np.array([2.0, -4.0]))
    m, v, s = Tensor(np.zeros(2)), Tensor(np.zeros(2)), Tensor(np.zeros((), np.float32))
    kwargs = {"amsgrad": False, "beta1": 0.9, "beta2": 0.999, "lr": 0.1, "weight_decay": 0.0,
              "eps": 1e-8, "maximize": False, "fused": True}
    scale = Tensor(np.array(2.0, np.float32))
    with dlpy.no_grad():
        FO.adam([p], [g], [m], [v], [], [s], found_inf=Tensor(np.array(1.0, np.float32)),
                grad_scale=scale, **kwargs)
        assert float(s.data) == 0.0 and p.data.tolist() == [1.0, 2.0]
        FO.adam([p], [g], [m], [v], [], [s], grad_scale=scale, **kwargs)
    np.testing.assert_array_equal(g.data, [1.0, -2.0])
    np.testing.assert_allclose(p.data, [0.9, 2.1])
    with pytest.raises(AssertionError), dlpy.no_grad():
        FO.adam([p], [g], [m], [v], [], [s], **{**kwargs, "fused": False}, grad_scale=scale)


def test_helpers_of_torch_optim_optimizer():
    assert O._get_value(Tensor(np.array(2.5))) == 2.5 and O._get_value(3) == 3
    assert O._default_to_fused_or_foreach([Tensor(np.zeros(2))], False) == (False, False)
    assert O._default_to_fused_or_foreach([Tensor(np.zeros(2))], False, True) == (True, False)
    assert O._get_scalar_dtype() == np.float32
    assert O._to_scalar(Tensor(np.array([0.5]))).shape == ()
    grouped = O.Optimizer._group_tensors_by_device_and_dtype(
        [[Tensor(np.zeros(1)), Tensor(np.zeros(1, np.float32))]], with_indices=True)
    assert sorted(indices for _, indices in grouped.values()) == [[0], [1]]


def test_profile_hook_step_runs_the_hooks_around_the_step():
    calls = []

    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

        @optim.Optimizer.profile_hook_step
        def step(self, closure=None):
            calls.append("step")

    opt = Plain([Tensor(np.zeros(1), requires_grad=True)])
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.step()
    assert calls == ["pre", "pre", "step"]  # torch's too: its class wrapper and the decorator
