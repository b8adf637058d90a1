"""The activation modules (SiLU, LeakyReLU, ELU, Softplus, Hardtanh, Softmax, LogSoftmax) and the
loss modules NLLLoss, SmoothL1Loss, HuberLoss, KLDivLoss: each gives its function's value and
gradient (the functions are checked against PyTorch in tests/ops), reprs, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn

from .helpers import check_module_is_its_function


@pytest.fixture
def rng():
    return np.random.default_rng(0)

ACTIVATIONS = [
    (nn.SiLU(), F.silu),
    (nn.LeakyReLU(), F.leaky_relu),
    (nn.LeakyReLU(0.3), lambda x: F.leaky_relu(x, 0.3)),
    (nn.ELU(), F.elu),
    (nn.ELU(alpha=0.4), lambda x: F.elu(x, 0.4)),
    (nn.Softplus(), F.softplus),
    (nn.Softplus(beta=2, threshold=1.5), lambda x: F.softplus(x, 2.0, 1.5)),
    (nn.Hardtanh(), F.hardtanh),
    (nn.Hardtanh(-0.5, 0.25), lambda x: F.hardtanh(x, -0.5, 0.25)),
    (nn.Softmax(dim=0), lambda x: F.softmax(x, 0)),
    (nn.Softmax(-1), lambda x: F.softmax(x, -1)),
    (nn.LogSoftmax(dim=1), lambda x: F.log_softmax(x, 1)),
]


@pytest.mark.parametrize("module, fn", ACTIVATIONS, ids=lambda v: repr(v) if
                         isinstance(v, nn.Module) else "")
def test_activation_module_is_its_function(module, fn, rng):
    check_module_is_its_function(module, fn, rng.standard_normal((3, 4)).astype(np.float32), rng)
    assert list(module.parameters()) == []


def test_activation_modules_in_a_model_and_their_reprs():
    model = nn.Sequential(nn.Linear(4, 8, rng=np.random.default_rng(0)), nn.SiLU(),
                          nn.Linear(8, 3, rng=np.random.default_rng(1)), nn.LogSoftmax(dim=-1))
    out = model(np.ones((2, 4), np.float32))
    np.testing.assert_allclose(np.exp(out.data).sum(-1), [1.0, 1.0], rtol=1e-6)
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.LogSoftmax(0)) == "LogSoftmax(dim=0)"
    assert repr(nn.SiLU()) == "SiLU()"


def test_activation_module_errors():
    with pytest.raises(TypeError, match=r"LeakyReLU: negative_slope must be a number, got None"):
        nn.LeakyReLU(None)
    with pytest.raises(ValueError, match=r"ELU: alpha must be a finite number, got inf"):
        nn.ELU(float("inf"))
    # no dim: torch's deprecated implicit choice (axis 0 of a 1- or 3-d input, else 1), warned
    x3 = Tensor(np.arange(24.0).reshape(2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        np.testing.assert_allclose(nn.LogSoftmax()(x3).data, F.log_softmax(x3, 0).data)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        np.testing.assert_allclose(nn.Softmax()(x3[0]).data, F.softmax(x3[0], 1).data)
    with pytest.raises(ValueError, match=r"softmax: axis 2 is out of range"):
        nn.Softmax(2)(Tensor(np.zeros((2, 3))))


def _targets(name, rng):
    if name == "NLLLoss":
        return F.log_softmax(Tensor(rng.standard_normal((5, 4))), -1).data, np.array([0, 3, -100, 1,
                                                                                 2])
    if name == "KLDivLoss":
        return F.log_softmax(Tensor(rng.standard_normal((5, 4))), -1).data, \
            rng.dirichlet(np.ones(4), 5)
    return 2 * rng.standard_normal((5, 4)), rng.standard_normal((5, 4))


LOSSES = {
    "NLLLoss": ({"weight": [1.0, 2.0, 0.5, 1.5]}, lambda x, t, r: F.nll_loss(
        x, t, [1.0, 2.0, 0.5, 1.5], reduction=r)),
    "SmoothL1Loss": ({"beta": 0.5}, lambda x, t, r: F.smooth_l1_loss(x, t, r, beta=0.5)),
    "HuberLoss": ({"delta": 0.7}, lambda x, t, r: F.huber_loss(x, t, r, delta=0.7)),
    "KLDivLoss": ({}, F.kl_div),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_loss_module_is_its_function(name, reduction, rng):
    if reduction == "batchmean" and name != "KLDivLoss":
        with pytest.raises(ValueError, match=rf"{name}: reduction must be mean, sum or none, "
                                             r"got 'batchmean'"):
            getattr(nn, name)(reduction=reduction)
        return
    options, fn = LOSSES[name]
    x, target = _targets(name, rng)
    a, b = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    out_module = getattr(nn, name)(reduction=reduction, **options)(a, target)
    out_fn = fn(b, target, reduction)
    np.testing.assert_array_equal(out_module.data, out_fn.data)
    out_module.sum().backward()
    out_fn.sum().backward()
    np.testing.assert_array_equal(a.grad, b.grad)


def test_loss_module_options_and_reprs(rng):
    x = F.log_softmax(Tensor(rng.standard_normal((4, 3))), -1).data
    labels = np.array([0, 2, 1, 2])
    loss = nn.NLLLoss(ignore_index=2)(Tensor(x), labels)
    assert loss.item() == pytest.approx(-(x[0, 0] + x[2, 1]) / 2, rel=1e-12)
    log_target = np.log(rng.dirichlet(np.ones(3), 4))
    np.testing.assert_allclose(
        nn.KLDivLoss(reduction="batchmean", log_target=True)(Tensor(x), log_target).item(),
        np.sum(np.exp(log_target) * (log_target - x)) / 4, rtol=1e-12)
    # torch's losses print no settings
    assert repr(nn.NLLLoss(ignore_index=2)) == "NLLLoss()"
    assert repr(nn.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss()"
    assert repr(nn.HuberLoss("sum", 2.0)) == "HuberLoss()"
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss()"
    with pytest.raises(ValueError, match=r"KLDivLoss: reduction must be mean, batchmean, sum or "
                                         r"none, got 'avg'"):
        nn.KLDivLoss(reduction="avg")
