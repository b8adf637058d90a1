"""Replaying the step-by-step fixtures of make_optim_fixtures.py (more.npz) and
make_optim_rest_fixtures.py (rest.npz) in dlpy: the cases of tests/fixtures/cases_optim.py built
with dlpy.optim, the stored gradients fed step by step, and the checks every optimiser gets."""

import contextlib
import json

import numpy as np

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn, optim
from dlpy.nn import Linear, Parameter, load_checkpoint, save_checkpoint

STEPS = 10  # the steps stored per case
NO_GRAD_STEP = 3  # parameter 1 gets no gradient before this step


@contextlib.contextmanager
def default_float64():
    """dlpy's default dtype float64 meanwhile, as torch's when the fixtures were recorded
    (torch.set_default_dtype(torch.float64)): NAdam's mu_product and ASGD's eta and mu, kept
    in torch's scalar dtype, are float64 there."""
    before = dlpy.get_default_dtype()
    dlpy.set_default_dtype(np.float64)
    try:
        yield
    finally:
        dlpy.set_default_dtype(before)


def load(path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def build(cases, case, reference, **changes):
    """The case's three parameters (float64, torch's start) and its optimiser."""
    name, kwargs, spec = cases[case]
    params = [Parameter(reference[f"{case}:param{i}"], dtype=np.float64) for i in range(3)]
    groups = params if spec is None else [
        {"params": [params[i] for i in indices], **settings} for indices, settings in spec]
    return params, getattr(optim, name)(groups, **{**kwargs, **changes})


def run(case, reference, params, opt, steps):
    """The stored gradients of the given steps, each followed by opt.step()."""
    for t in steps:
        for i, p in enumerate(params):
            grad = reference[f"{case}:grads{i}"][t]
            p.grad = None if np.isnan(grad).all() else grad.copy()
        opt.step()


def check_cases_are_the_fixtures(cases, reference):
    """The file holds exactly the cases, each made with the settings the table gives."""
    assert {key.split(":")[0] for key in reference} == set(cases)
    for case, (name, kwargs, spec) in cases.items():
        as_json = json.loads(json.dumps({"class": name, "kwargs": kwargs, "groups": spec}))
        assert json.loads(reference[f"{case}:settings"].item()) == as_json, case


def check_steps_match_torch(cases, case, reference):
    """Every parameter after every step as torch's, and ASGD's averages where stored (under
    the default dtype torch's were recorded with)."""
    params, opt = build(cases, case, reference)
    for t in range(STEPS):
        with default_float64():
            run(case, reference, params, opt, [t])
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.data, reference[f"{case}:afters{i}"][t], rtol=1e-12,
                                       atol=1e-15, err_msg=f"{case}: step {t}, parameter {i}")
            if f"{case}:axs{i}" in reference and opt.state[i]:
                np.testing.assert_allclose(opt.state[i]["ax"], reference[f"{case}:axs{i}"][t],
                                           rtol=1e-12, atol=1e-15,
                                           err_msg=f"{case}: ax, step {t}, parameter {i}")


def check_resuming_continues_bit_for_bit(cases, case, reference, path):
    """Steps 0-4, a checkpoint at path, steps 5-9; a fresh optimiser made with another lr loads
    the checkpoint and must land on the same bits, its state slot by slot."""
    params, opt = build(cases, case, reference)
    run(case, reference, params, opt, range(5))
    model = nn.Module()
    for i, p in enumerate(params):
        setattr(model, f"p{i}", p)
    save_checkpoint(path, model, opt)
    run(case, reference, params, opt, range(5, STEPS))

    fresh, restored = build(cases, case, reference, lr=123.0)
    other = nn.Module()
    for i, p in enumerate(fresh):
        setattr(other, f"p{i}", p)
    load_checkpoint(path, other, restored)
    assert restored.step_count == 5
    assert [g["lr"] for g in restored.param_groups] != [123.0] * len(restored.param_groups)
    run(case, reference, fresh, restored, range(5, STEPS))
    for a, b in zip(params, fresh):
        np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(opt.state, restored.state):
        assert a.keys() == b.keys()
        for slot in a:
            assert a[slot].dtype == b[slot].dtype
            np.testing.assert_array_equal(a[slot], b[slot])


def state_slots(make):
    """{slot: array} of the state make([p]) keeps for a float32 parameter after one step."""
    p = Parameter(np.ones(2, dtype=np.float32))
    opt = make([p])
    p.grad = np.ones(2, dtype=np.float32)
    opt.step()
    return {k.split(".", 2)[2]: v for k, v in opt.state_dict().items() if k.startswith("state.")}


def check_steps_reuse_their_buffers(make):
    """Two steps of make(parameters of a float32 Linear) keep every state array and scratch
    buffer; returns (the layer, its scratch buffers' ids by dtype)."""
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    opt = make(layer.parameters())
    for p in layer.parameters():
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    buffers = [{k: id(v) for k, v in s.items()} for s in opt.state]
    scratch = {dtype: id(buffer) for dtype, buffer in opt._scratch.items()}
    opt.step()
    assert [{k: id(v) for k, v in s.items()} for s in opt.state] == buffers
    assert {dtype: id(buffer) for dtype, buffer in opt._scratch.items()} == scratch
    return layer, scratch


def fit_linear_regression(name, make, maximize):
    """300 steps of make(parameters) on y = x w + b + noise (maximize=True climbs -loss instead,
    which must come to the same); the loss must fall below 1e-3 of its start. Returns
    (x, y, the first loss, the optimiser)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3).astype(np.float32)
    y += 0.01 * rng.standard_normal(y.shape).astype(np.float32)
    model = Linear(3, 1, rng=np.random.default_rng(1))
    opt = make(model.parameters())
    if maximize:
        for group in opt.param_groups:
            group["maximize"] = True
    losses = []
    for _ in range(300):
        loss = F.mse_loss(model(Tensor(x)), Tensor(y))
        losses.append(float(loss.data))
        opt.zero_grad()
        (-loss if maximize else loss).backward()
        opt.step()
    assert losses[-1] < 1e-3 * losses[0], f"{name}: {losses[0]:.4f} -> {losses[-1]:.5f}"
    return x, y, losses[0], opt


# ------------------------------------------ state dicts (make_optim_api_fixtures.record_state_dict)
def state_dict_build(make, reference, prefix: str, groups, start=None, **kwargs):
    """Two float64 parameters ("<prefix>param<i>", or ``start``), one a group with ``groups``'
    settings, and the optimiser ``make(groups, **kwargs)`` over them."""
    params = [nn.Parameter(reference[f"{prefix}param{i}"] if start is None else start[i],
                           dtype=np.float64) for i in range(2)]
    return params, make([{"params": [p], **s} for p, s in zip(params, groups)], **kwargs)


def torch_state(reference, prefix: str) -> dict:
    """torch's state_dict() after 3 steps ("<prefix>state:<i>:<slot>", "<prefix>groups"), its
    tensors as arrays."""
    state: dict = {}
    for key, value in reference.items():
        if key.startswith(f"{prefix}state:"):
            index, slot = key[len(prefix):].split(":")[1:]
            state.setdefault(int(index), {})[slot] = value
    return {"state": state, "param_groups": json.loads(reference[f"{prefix}groups"].item())}


def check_same_state(opt, other, step_count: int = 3, torch_layout: bool = False) -> None:
    """other (loaded from one of opt's state dicts) holds opt's step count, state and group
    settings; from PyTorch's layout of an optimiser whose torch state has no step (SGD's), all
    but the step counts, which that layout does not hold."""
    no_step = torch_layout and not opt.torch_step
    assert no_step or other.step_count == step_count
    for mine, theirs in zip(opt.state, other.state):
        assert mine.keys() == theirs.keys()
        for slot in mine:
            if not (no_step and slot == "step"):
                np.testing.assert_array_equal(mine[slot], theirs[slot])
    assert [{k: v for k, v in g.items() if k != "params"} for g in other.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
