"""Module and optimiser behaviours of torch's that the probe fixtures cannot state: error
classes that are two things at once, checkpoints written before a change, layouts read back."""

import copy

import numpy as np
import pytest

import dlpy
from dlpy import nn, optim


def test_a_checkpoint_without_a_tied_parameters_second_name_still_loads(tmp_path):
    # dlpy's state_dict listed a shared parameter once (its first name) before it listed every
    # name as torch's does: such a file fills the other names in from the first
    def make():
        first, second = nn.Linear(2, 2), nn.Linear(2, 2)
        second.weight = first.weight
        return nn.Sequential(first, second)

    model = make()
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    old = {f"param/{k}": np.asarray(v) for k, v in model.state_dict().items()
           if k != "1.weight"}
    old["__meta__"] = np.frombuffer(b'{"class": "Sequential", "config": null}', dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **old)
    fresh = make()
    nn.load_checkpoint(tmp_path / "old.npz", fresh)
    np.testing.assert_array_equal(fresh[1].weight.data, model[0].weight.data)


def test_load_state_dict_errors_are_torchs_runtime_error_and_dlpys_value_error():
    layer = nn.Linear(2, 2)
    for bad, message in (({"weight": np.ones((2, 2))}, r'Missing key\(s\) in state_dict: "bias"'),
                         ({"weight": np.ones((3, 2)), "bias": np.ones(2)},
                          r"size mismatch for weight: copying a param with shape "
                          r"torch.Size\(\[3, 2\]\)")):
        with pytest.raises(RuntimeError, match=message) as caught:
            layer.load_state_dict(bad)
        assert isinstance(caught.value, ValueError)
    with pytest.raises(TypeError, match="dict-like"):
        layer.load_state_dict([("weight", np.ones((2, 2)))])


def test_keep_vars_gives_the_parameters_and_buffers_themselves():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    state = model.state_dict(keep_vars=True)
    assert state["0.weight"] is model[0].weight and state["1.running_mean"] is model[1].running_mean


def test_assign_takes_the_given_tensors():
    layer = nn.Linear(2, 1)
    weight = dlpy.tensor([[1.0, 2.0]], dtype=np.float64)
    layer.load_state_dict({"weight": weight, "bias": np.zeros(1)}, assign=True)
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    assert layer.weight.dtype == np.float64 and layer.weight.data is weight.data
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_a_non_finite_gradient_norm_is_torchs_runtime_error_and_a_floating_point_error():
    p = nn.Parameter(np.ones(2))
    p.grad = np.array([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="non|NaN") as caught:
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert isinstance(caught.value, FloatingPointError)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.1),
    lambda ps: optim.NAdam(ps, lr=0.1),
])
def test_torchs_layout_reads_back_and_goes_on_as_the_original(make):
    def run(opt, p, steps):
        for _ in range(steps):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()

    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = make([p])
    run(opt, p, 2)
    state = opt.state_dict(torch_layout=True)
    slots = state["state"][0]
    assert all(isinstance(v, dlpy.Tensor) for v in slots.values())
    if "step" in slots:  # a float32 0-d Tensor, as torch's
        assert slots["step"].dtype == np.float32 and slots["step"].item() == 2.0
    assert "foreach" in state["param_groups"][0]
    assert list(state["param_groups"][0])[-1] == "params"
    q = nn.Parameter(p.data.copy())
    shared = make([nn.Parameter(p.data.copy())])
    shared.load_state_dict(state)  # as torch's: the given tensors become its state
    kept = next(iter(shared.state.values()))  # (NAdam's mu_product: cast to float64, as torch's)
    assert all(kept[k] is slots[k] for k in slots if k != "mu_product")
    again = make([q])
    again.load_state_dict(copy.deepcopy(state))  # as from a file
    run(opt, p, 1)
    run(again, q, 1)
    if "mu_product" in slots:  # torch's load casts the float32 mu_product to the parameter's
        assert kept["mu_product"].dtype == np.float64 and slots["mu_product"].dtype == np.float32
        np.testing.assert_allclose(p.data, q.data, rtol=1e-8)
    else:
        np.testing.assert_array_equal(p.data, q.data)


def test_step_takes_a_closure_and_returns_its_loss():
    p = nn.Parameter(np.array([3.0]))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 9.0 and p.data[0] == pytest.approx(2.4)
    assert opt.step() is None
