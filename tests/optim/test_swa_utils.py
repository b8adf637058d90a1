"""AveragedModel (equal-weight mean and EMA) against torch.optim.swa_utils
(tests/fixtures/optim/swa.npz), with training, state and errors."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.nn import Linear
from dlpy.optim import SGD
from dlpy.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, get_swa_multi_avg_fn

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "swa.npz"
UPDATES = 6


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _linear64() -> Linear:
    model = Linear(4, 3, rng=np.random.default_rng(0))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    return model


@pytest.mark.parametrize("case, avg_fn", [("swa", None), ("ema", get_ema_multi_avg_fn(0.9))])
def test_average_matches_torch(case, avg_fn, reference):
    model = _linear64()
    averaged = AveragedModel(model, multi_avg_fn=avg_fn)
    for t in range(UPDATES):
        for name in ("weight", "bias"):
            getattr(model, name).data[...] = reference[f"{name}{t}"]
        averaged.update_parameters(model)
        for name in ("weight", "bias"):
            np.testing.assert_allclose(getattr(averaged.module, name).data,
                                       reference[f"{case}:{name}{t}"], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{case}: update {t}, {name}")
    assert averaged.n_averaged == UPDATES


def test_swa_is_the_mean_of_the_updates_and_leaves_the_model_alone():
    model = _linear64()
    averaged = AveragedModel(model)
    seen = []
    for t in range(4):
        model.weight.data[...] = t + 1.0
        seen.append(model.weight.data.copy())
        averaged.update_parameters(model)
    np.testing.assert_allclose(averaged.module.weight.data, np.mean(seen, axis=0))
    np.testing.assert_allclose(model.weight.data, 4.0)  # the model keeps its own weights
    assert averaged.module.weight is not model.weight


def test_averaging_sgd_iterates_lands_nearer_the_minimum():
    """Constant-step SGD on a noisy least-squares problem: the last iterate wanders around the
    solution, the average of the iterates sits closer to it (Polyak-Ruppert averaging)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 5)).astype(np.float32)
    w_true = rng.standard_normal((1, 5)).astype(np.float32)
    y = x @ w_true.T + 0.5 * rng.standard_normal((2000, 1)).astype(np.float32)
    model = Linear(5, 1, bias=False, rng=rng)
    opt = SGD(model.parameters(), lr=0.05)
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.98))
    for _ in range(400):
        index = rng.integers(0, 2000, 8)
        opt.zero_grad()
        diff = model(Tensor(x[index])) - y[index]
        F.mean(diff * diff).backward()
        opt.step()
        averaged.update_parameters(model)
    solution = np.linalg.lstsq(x, y, rcond=None)[0].T
    last = np.linalg.norm(model.weight.data - solution)
    mean = np.linalg.norm(averaged.module.weight.data - solution)
    assert mean < 0.5 * last, (mean, last)
    out = averaged(Tensor(x[:3]))  # the forward is the averaged copy's
    np.testing.assert_allclose(out.data, x[:3] @ averaged.module.weight.data.T, rtol=1e-5)


def test_state_dict_round_trip_continues_the_same_average():
    model = _linear64()
    one, two = AveragedModel(model), AveragedModel(model)
    for t in range(3):
        model.weight.data[...] = t
        one.update_parameters(model)
    two.load_state_dict(one.state_dict())
    assert two.n_averaged == 3
    model.weight.data[...] = 10.0
    one.update_parameters(model)
    two.update_parameters(model)
    np.testing.assert_array_equal(one.module.weight.data, two.module.weight.data)
    np.testing.assert_allclose(two.module.weight.data, (0 + 1 + 2 + 10) / 4)


def test_frozen_parameters_are_averaged_too():
    # torch averages every parameter, requires_grad or not
    model = _linear64()
    model.bias.requires_grad = False
    first = model.bias.data.copy()
    averaged = AveragedModel(model, multi_avg_fn=get_swa_multi_avg_fn())
    averaged.update_parameters(model)
    model.bias.data[...] = 7.0
    model.weight.data[...] = 2.0
    averaged.update_parameters(model)
    np.testing.assert_allclose(averaged.module.bias.data, (first + 7.0) / 2)


def test_errors():
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\), got 1.0"):
        get_ema_multi_avg_fn(1.0)
    with pytest.raises(TypeError, match="expected a dlpy Module, got ndarray"):
        AveragedModel(np.zeros(3))
    averaged = AveragedModel(Linear(4, 3, rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"weight has shape \(3, 5\), the averaged copy "
                                         r"\(3, 4\)"):
        averaged.update_parameters(Linear(5, 3, rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match="missing \\['bias'\\]"):
        averaged.update_parameters(Linear(4, 3, bias=False, rng=np.random.default_rng(0)))
    with pytest.raises(RuntimeError, match="Missing key.*n_averaged"):  # torch's keys
        averaged.load_state_dict(averaged.module.state_dict())


@pytest.mark.parametrize("multi_avg_fn, expected", [
    (None, 0.4666666666666667),                       # torch's CPU default: divides exactly
    (get_swa_multi_avg_fn(), 0.46666667312383653),    # lerp by 1 / (n + 1), a float32 weight
])
def test_mean_rounds_as_torch(multi_avg_fn, expected):
    # recorded with torch 2.13: weights 0.1, 0.4, 0.9 averaged into a float64 Linear(1, 1)
    model = Linear(1, 1, bias=False)
    model.weight.data = np.zeros((1, 1))
    averaged = AveragedModel(model, multi_avg_fn=multi_avg_fn)
    for t in range(3):
        model.weight.data[...] = 0.1 * (t + 1) ** 2
        averaged.update_parameters(model)
    assert averaged.module.weight.data.item() == expected
    assert averaged.multi_avg_fn is multi_avg_fn  # (None by default, as torch's)
