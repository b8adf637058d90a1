"""SWALR, update_bn and AveragedModel(use_buffers=...) against torch.optim.swa_utils
(tests/fixtures/optim/api.npz, make_optim_api_fixtures.py), and the classic SWA loop."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.optim import SGD, lr_scheduler
from dlpy.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    get_swa_avg_fn,
    update_bn,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "api.npz"
# as make_optim_api_fixtures.SWALR_CASES
SWALR_CASES = {
    "cos": ([0.1, 0.05], [0.02, 0.01], 3, "cos", 4, 6),
    "linear": ([0.1], 0.03, 4, "linear", 0, 6),
    "instant": ([0.1, 0.2], 0.05, 0, "linear", 0, 3),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _sgd(lrs):
    params = [nn.Parameter(np.zeros(1)) for _ in lrs]
    return SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def _schedules(case):
    lrs, swa_lr, anneal_epochs, strategy, before, after = SWALR_CASES[case]
    opt = _sgd(lrs)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    swa = SWALR(opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    return opt, cosine, swa, before, before + after


@pytest.mark.parametrize("case", sorted(SWALR_CASES))
def test_swalr_matches_torch(case, reference):
    opt, cosine, swa, before, epochs = _schedules(case)
    seen = []
    for epoch in range(epochs):
        opt.step()
        (cosine if epoch < before else swa).step()
        seen.append([g["lr"] for g in opt.param_groups])
    np.testing.assert_allclose(seen, reference[f"swalr:{case}"], rtol=1e-13, atol=0)
    assert swa.get_last_lr() == seen[-1]


@pytest.mark.parametrize("case", sorted(SWALR_CASES))
def test_swalr_resumes_mid_way(case):
    opt, cosine, swa, before, epochs = _schedules(case)
    whole, stop = [], before + 2
    for epoch in range(epochs):
        if epoch == stop:
            saved = opt.state_dict(), cosine.state_dict(), swa.state_dict()
        (cosine if epoch < before else swa).step()
        whole.append([g["lr"] for g in opt.param_groups])
    opt2, cosine2, swa2, _, _ = _schedules(case)
    cosine2.load_state_dict(saved[1])  # (dlpy's schedulers set the lr: the optimiser last)
    swa2.load_state_dict(saved[2])
    opt2.load_state_dict(saved[0])
    resumed = []
    for epoch in range(stop, epochs):
        (cosine2 if epoch < before else swa2).step()
        resumed.append([g["lr"] for g in opt2.param_groups])
    assert resumed == whole[stop:]


def test_swalr_bad_arguments():
    opt = _sgd([0.1, 0.2])
    with pytest.raises(ValueError, match="SWALR: anneal_strategy must be 'cos' or 'linear'"):
        SWALR(opt, swa_lr=0.1, anneal_strategy="step")
    with pytest.raises(ValueError, match="SWALR: anneal_epochs must be an integer >= 0"):
        SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
    with pytest.raises(ValueError, match="SWALR: expected 2 values of swa_lr"):
        SWALR(opt, swa_lr=[0.1])
    with pytest.raises(ValueError, match="SWALR.load_state_dict: unexpected keys"):
        SWALR(opt, swa_lr=0.1).load_state_dict({"bogus": 1})


def _bn_model(reference, prefix="bn:"):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3), nn.ReLU(),
                          nn.Linear(4, 2)).to(np.float64)
    model.load_state_dict({name: reference[prefix + name] for name in model.state_dict()})
    return model


def _check_state(model, reference, prefix, what):
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, reference[prefix + name], rtol=1e-12, atol=1e-14,
                                   err_msg=f"{what}: {name}")


def test_update_bn_matches_torch(reference):
    model = _bn_model(reference, "bn:start:")  # with statistics that must be forgotten
    model.eval()
    batches = [reference[f"bn:x{i}"] for i in range(3)]
    update_bn([(Tensor(x), np.zeros(len(x))) for x in batches], model)
    _check_state(model, reference, "bn:after:", "update_bn")
    assert not model.training and model[1].momentum == 0.3
    # plain arrays as batches, and a model with no BatchNorm is left alone
    again = _bn_model(reference)
    update_bn(batches, again)
    _check_state(again, reference, "bn:after:", "update_bn (arrays)")
    plain = nn.Linear(3, 2)
    before = plain.weight.data.copy()
    update_bn(batches, plain)
    np.testing.assert_array_equal(plain.weight.data, before)


def test_update_bn_on_an_averaged_model_and_errors(reference):
    averaged = AveragedModel(_bn_model(reference, "bn:start:"))
    update_bn([reference[f"bn:x{i}"] for i in range(3)], averaged)
    _check_state(averaged.module, reference, "bn:after:", "update_bn (AveragedModel)")
    with pytest.raises(RuntimeError, match="update_bn: device='cuda': dlpy runs on the CPU"):
        update_bn([], averaged, device="cuda")


@pytest.mark.parametrize("use_buffers", [True, False])
def test_averaged_model_buffers_match_torch(use_buffers, reference):
    rng = np.random.default_rng(1)
    for n in (6, 5, 5, 2) + (4, 4, 4) * (not use_buffers):  # as the fixture script: the
        rng.standard_normal((n, 3))  # batches drawn before
    model = _bn_model(reference)
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.8),
                             use_buffers=use_buffers)
    for t in range(3):
        model(Tensor(rng.standard_normal((4, 3)) + t))
        for p in model.parameters():
            p.data += 0.1 * (t + 1)
        averaged.update_parameters(model)
        _check_state(averaged.module, reference, f"avg:{use_buffers}:{t}:",
                     f"use_buffers={use_buffers}, update {t}")


def test_avg_fn_per_array_is_the_same_average():
    model = nn.Linear(3, 2).to(np.float64)
    for avg_fn, multi in ((get_swa_avg_fn(), None), (get_ema_avg_fn(0.7),
                                                    get_ema_multi_avg_fn(0.7))):
        one = AveragedModel(model, avg_fn=avg_fn)
        other = AveragedModel(model, multi_avg_fn=multi)
        for t in range(3):
            model.weight.data += t
            one.update_parameters(model)
            other.update_parameters(model)
        np.testing.assert_allclose(one.module.weight.data, other.module.weight.data,
                                   rtol=1e-14)
    with pytest.raises(ValueError, match="AveragedModel: give avg_fn or multi_avg_fn"):
        AveragedModel(model, avg_fn=get_swa_avg_fn(), multi_avg_fn=get_ema_multi_avg_fn())


def test_the_classic_swa_loop_runs_and_averages():
    """PyTorch's documented loop: cosine schedule, then SWALR with averaging, then update_bn;
    the averaged model's statistics are those of its own weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.standard_normal((64, 1))
    loader = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Linear(8, 1)).to(np.float64)
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
    swa_model = AveragedModel(model)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)
    swa_start, swa_scheduler = 20, SWALR(optimizer, swa_lr=0.01, anneal_epochs=3)
    for epoch in range(30):
        for inputs, targets in loader:
            optimizer.zero_grad()
            F.mse_loss(model(Tensor(inputs)), Tensor(targets)).backward()
            optimizer.step()
        if epoch > swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
        else:
            scheduler.step()
    assert swa_model.n_averaged == 9
    assert optimizer.lr == pytest.approx(0.01)
    update_bn(loader, swa_model)
    bn = swa_model.module[1]
    hidden = swa_model.module[0](Tensor(x)).data
    np.testing.assert_allclose(bn.running_mean, hidden.mean(axis=0), rtol=1e-10, atol=1e-12)
    assert int(bn.num_batches_tracked) == 4
    swa_model.eval()
    loss = float(F.mse_loss(swa_model(Tensor(x)), Tensor(y)).data)
    assert loss < 0.1 * float(np.var(y))
