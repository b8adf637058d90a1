"""cross_entropy (fused, stable; integer labels or probabilities), mse_loss, nll_loss,
smooth_l1_loss, huber_loss and kl_div (composites)."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.testing import gradcheck

TORCH_CASES = {  # (the fixtures name the target "labels"; torch's keyword is "target")
    "cross_entropy": lambda x, labels: F.cross_entropy(x, labels),
    "cross_entropy_sum": lambda x, labels: F.cross_entropy(x, labels, reduction="sum"),
    "cross_entropy_none": lambda x, labels: F.cross_entropy(x, labels, reduction="none"),
    # (2, 3 steps, 5 classes) made (2, 5, 3): the classes on axis 1 in both, as torch's
    "cross_entropy_sequence": lambda x, labels: F.cross_entropy(x.permute(0, 2, 1), labels),
    "cross_entropy_probabilities": lambda x, labels: F.cross_entropy(x, labels),
    "cross_entropy_large": lambda x, labels: F.cross_entropy(x, labels),
    "mse": F.mse_loss,
    "mse_sum": lambda x, target: F.mse_loss(x, target, reduction="sum"),
    "mse_none": lambda x, target: F.mse_loss(x, target, reduction="none"),
    "nll": lambda x, labels: F.nll_loss(x, labels),
    "nll_sum": lambda x, labels: F.nll_loss(x, labels, reduction="sum"),
    "nll_none": lambda x, labels: F.nll_loss(x, labels, "none"),
    "nll_ignore": lambda x, labels: F.nll_loss(x, labels),
    "nll_weight_ignore": lambda x, labels, weight: F.nll_loss(x, labels, weight=weight,
                                                               ignore_index=7),
    "nll_sequence": lambda x, labels: F.nll_loss(x.permute(0, 2, 1), labels),
    "smooth_l1": F.smooth_l1_loss,
    "smooth_l1_beta_sum": lambda x, target: F.smooth_l1_loss(x, target, "sum", beta=0.5),
    "smooth_l1_beta0": lambda x, target: F.smooth_l1_loss(x, target, beta=0.0),
    "smooth_l1_both": lambda x, target: F.smooth_l1_loss(x, target, reduction="none", beta=0.7),
    "huber": F.huber_loss,
    "huber_delta_none": lambda x, target: F.huber_loss(x, target, "none", delta=0.5),
    "huber_both_sum": lambda x, target: F.huber_loss(x, target, reduction="sum", delta=1.5),
    "kl_div": F.kl_div,
    "kl_div_batchmean": lambda x, target: F.kl_div(x, target, "batchmean"),
    "kl_div_sum_zero_target": lambda x, target: F.kl_div(x, target, reduction="sum"),
    "kl_div_none_both": lambda x, target: F.kl_div(x, target, "none"),
    "kl_div_log_target_both": lambda x, target: F.kl_div(x, target, "batchmean",
                                                         log_target=True),
    # torch's K-dimensional layout: the classes on axis 1
    "cross_entropy_2d_weight_ignore": lambda x, labels, weight: F.cross_entropy(x, labels,
                                                                             weight=weight),
    "cross_entropy_2d_none_smoothing": lambda x, labels: F.cross_entropy(
        x, labels, reduction="none", label_smoothing=0.1),
    "cross_entropy_1d_probabilities": lambda x, labels: F.cross_entropy(x, labels),
    "nll_2d_weight_sum": lambda x, labels, weight: F.nll_loss(x, labels, weight, reduction="sum"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("loss", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("loss") == set(TORCH_CASES)


def class_axis(shape: tuple) -> int:
    """torch's class axis: 0 for (C,), else 1 ((N, C) and (N, C, d1, ..., dK))."""
    return 0 if len(shape) == 1 else 1


@pytest.mark.parametrize("shape", [(3,), (1, 3), (4, 3), (2, 3, 1), (2, 3, 2, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(shape, reduction, rng):
    logits = Tensor(rng.standard_normal(shape), requires_grad=True)
    axis = class_axis(shape)
    rest = shape[:axis] + shape[axis + 1:]
    labels = rng.integers(0, shape[axis], rest)
    assert gradcheck(lambda x: F.cross_entropy(x, labels, reduction), logits)
    probabilities = np.moveaxis(rng.dirichlet(np.ones(shape[axis]), rest), -1, axis)
    assert gradcheck(lambda x: F.cross_entropy(x, probabilities, reduction), logits)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck_with_targets_that_do_not_sum_to_one(smoothing, reduction, rng):
    # d logits = softmax * sum(t) - t, torch's, whatever the targets sum to (the fused backward
    # once took sum(t) = 1); its double backward equals the composed path's (taken when the
    # targets require grad: log_softmax and products)
    logits = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    targets = rng.uniform(0.0, 1.0, (4, 3))
    assert gradcheck(lambda x: F.cross_entropy(x, targets, reduction,
                                               label_smoothing=smoothing), logits)
    second = []
    for target in (targets, Tensor(targets, requires_grad=True)):  # fused, composed
        loss = F.cross_entropy(logits, target, reduction, label_smoothing=smoothing)
        weights = np.linspace(-1.0, 1.0, loss.data.size).reshape(loss.shape)
        (grad,) = dlpy.autograd.grad((loss * weights).sum(), logits, create_graph=True)
        (grad_grad,) = dlpy.autograd.grad((grad * np.arange(12.0).reshape(4, 3)).sum(), logits)
        second.append((grad.data, grad_grad.data))
    np.testing.assert_allclose(second[0][0], second[1][0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(second[0][1], second[1][1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("shape", [(), (3,), (2, 1), (2, 3, 1, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_gradcheck(shape, reduction, rng):
    target = rng.standard_normal(shape)
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.mse_loss(x, target, reduction), x)


def test_cross_entropy_of_a_confident_right_answer_is_zero_not_nan():
    logits = Tensor(np.array([[1000.0, -1000.0]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, [0])
    loss.backward()
    assert loss.item() == 0.0 and loss.dtype == np.float32
    np.testing.assert_array_equal(logits.grad, [[0.0, 0.0]])


def test_cross_entropy_is_the_mean_over_the_batch(rng):
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -log_probs[np.arange(4), labels].mean()
    np.testing.assert_allclose(F.cross_entropy(Tensor(logits), labels).item(), expected)


def test_cross_entropy_errors():
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy: integer labels must have shape \(2,\) "
                                         r"for logits \(2, 3\), got \(3,\)"):
        F.cross_entropy(logits, [0, 1, 2])
    with pytest.raises(ValueError, match=r"cross_entropy: labels must lie in \[0, 3\) or be "
                                         r"ignore_index \(-100\), got values from 0 to 3"):
        F.cross_entropy(logits, [0, 3])
    with pytest.raises(ValueError, match=r"cross_entropy: probability targets must have the "
                                         r"logits' shape \(2, 3\), got \(2, 2\)"):
        F.cross_entropy(logits, np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be mean, sum or none"):
        F.cross_entropy(logits, [0, 1], reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: logits need a class axis "
                                         r"\(\.\.\., classes\), got \(\)"):
        F.cross_entropy(Tensor(1.0), 0)
    with pytest.raises(ValueError, match=r"cross_entropy: .* got \(2, 0\)"):
        F.cross_entropy(Tensor(np.zeros((2, 0))), [0, 0])


def test_mse_errors():
    with pytest.warns(UserWarning, match=r"mse_loss: using a target size \(\(3,\)\) that is "
                                         r"different to the input size \(\(2, 3\)\)"):
        F.mse_loss(Tensor(np.zeros((2, 3))), np.zeros(3))  # broadcast, as torch's
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be mean, sum or none"):
        F.mse_loss(Tensor(np.zeros(3)), np.zeros(3), reduction="max")


@pytest.mark.parametrize("shape", [(3,), (1, 3), (4, 3), (2, 3, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gradcheck(shape, reduction, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    axis = class_axis(shape)
    labels = rng.integers(0, shape[axis], shape[:axis] + shape[axis + 1:])
    assert gradcheck(lambda x: F.nll_loss(x, labels, reduction), x)
    weight = rng.uniform(0.5, 2.0, shape[axis])
    if labels.size > 1:
        labels.reshape(-1)[0] = -100
    assert gradcheck(lambda x: F.nll_loss(x, labels, weight, reduction=reduction), x)


def test_nll_loss_of_log_softmax_is_cross_entropy(rng):
    logits = rng.standard_normal((6, 4))
    labels = np.array([0, 3, -100, 1, 2, 3])
    weight = np.array([0.5, 1.0, 2.0, 1.5])
    for reduction in ("mean", "sum", "none"):
        for w in (None, weight):
            a, b = Tensor(logits, requires_grad=True), Tensor(logits, requires_grad=True)
            nll = F.nll_loss(F.log_softmax(a, -1), labels, w, reduction=reduction)
            ce = F.cross_entropy(b, labels, w, reduction=reduction)
            np.testing.assert_allclose(nll.data, ce.data, rtol=1e-12, atol=1e-15)
            nll.sum().backward()
            ce.sum().backward()
            np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-15)


def test_nll_loss_ignored_rows_count_nothing_even_at_minus_infinity():
    x = Tensor(np.array([[-np.inf, -0.1], [-2.0, -0.5]]), requires_grad=True)
    loss = F.nll_loss(x, [-100, 1])  # the ignored row's label would be 0: log-probability -inf
    loss.backward()
    assert loss.item() == 0.5
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [0.0, -1.0]])
    # every row ignored: nan (0 / 0) with a zero gradient, as PyTorch
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    with np.errstate(divide="raise", invalid="raise"):  # no 0 / 0 along the way
        loss = F.nll_loss(x, [-100, -100])
        loss.backward()
    assert np.isnan(loss.item()) and not x.grad.any()
    assert F.nll_loss(Tensor(np.zeros((2, 3))), [-100, -100], "sum").item() == 0.0


def test_nll_loss_keeps_float32(rng):
    x = Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    loss = F.nll_loss(x, [0, -100, 3], weight=[1.0, 2.0, 3.0, 4.0])
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize("shape", [(), (3,), (2, 1), (2, 3, 1, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["smooth_l1", "smooth_l1_beta", "smooth_l1_beta0", "huber",
                                  "huber_delta", "kl_div", "kl_div_log_target",
                                  "kl_div_batchmean"])
def test_regression_and_kl_gradcheck(name, shape, reduction, rng):
    x = 2 * rng.standard_normal(shape)
    target = rng.standard_normal(shape)
    # keep |x - target| clear of the kinks (0 and the cut-over at beta / delta)
    d = x - target
    for kink in (0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0):
        d = np.where(np.abs(d - kink) < 0.02, d + 0.05, d)
    x = target + d
    fns = {
        "smooth_l1": lambda a, b: F.smooth_l1_loss(a, b, reduction),
        "smooth_l1_beta": lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=0.5),
        "smooth_l1_beta0": lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=0.0),
        "huber": lambda a, b: F.huber_loss(a, b, reduction),
        "huber_delta": lambda a, b: F.huber_loss(a, b, reduction, delta=2.0),
        "kl_div": lambda a, b: F.kl_div(a, b, reduction),
        "kl_div_log_target": lambda a, b: F.kl_div(a, b, reduction, log_target=True),
        "kl_div_batchmean": lambda a, b: F.kl_div(a, b, "batchmean"),
    }
    if name.startswith("kl_div") and not name.endswith("log_target"):
        target = rng.uniform(0.1, 1.0, shape)  # probabilities: log(target) needs target > 0
    a, b = Tensor(x, requires_grad=True), Tensor(target, requires_grad=True)
    assert gradcheck(fns[name], a, b)
    assert gradcheck(fns[name], a, target)  # a constant target (numpy)


def test_kl_div_zero_target_counts_nothing():
    x = Tensor(np.array([[-1.0, -30.0], [-0.5, -2.0]]), requires_grad=True)
    loss = F.kl_div(x, np.array([[1.0, 0.0], [0.25, 0.75]]), "none")
    loss.sum().backward()
    assert loss.data[0, 1] == 0.0 and loss.data[0, 0] == 1.0
    np.testing.assert_array_equal(x.grad, [[-1.0, 0.0], [-0.25, -0.75]])
    # as PyTorch's: an input of -inf where the target is 0 gives nan (0 * inf), not 0
    with np.errstate(invalid="ignore"):
        loss = F.kl_div(Tensor(np.array([-np.inf, -1.0])), np.array([0.0, 1.0]), "none")
    assert np.isnan(loss.data[0]) and loss.data[1] == 1.0


def test_kl_div_batchmean_is_the_kl_per_sample(rng):
    p = rng.dirichlet(np.ones(5), 4)
    q = rng.dirichlet(np.ones(5), 4)
    expected = np.sum(p * np.log(p / q)) / 4
    loss = F.kl_div(Tensor(np.log(q)), p, reduction="batchmean")
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    # a scalar input: batchmean is the sum, as PyTorch
    assert F.kl_div(Tensor(np.float64(-1.0)), 0.5, "batchmean").item() == pytest.approx(
        0.5 * (np.log(0.5) + 1.0), rel=1e-12)


def test_smooth_l1_and_huber_values_and_relation(rng):
    d = np.array([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0])
    smooth = F.smooth_l1_loss(Tensor(d), np.zeros(7), "none", beta=0.5).data
    np.testing.assert_allclose(smooth, [2.75, 0.75, 0.0625, 0.0, 0.0625, 0.75, 2.75])
    huber = F.huber_loss(Tensor(d), np.zeros(7), "none", delta=0.5).data
    np.testing.assert_allclose(huber, 0.5 * smooth, rtol=1e-15)
    x = Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    for loss in (F.smooth_l1_loss(x, np.zeros((3, 2))), F.huber_loss(x, np.zeros((3, 2))),
                 F.kl_div(x, np.full((3, 2), 0.5))):
        assert loss.dtype == np.float32


def test_new_loss_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"nll_loss: integer labels must have shape \(2,\) for "
                                         r"logits \(2, 3\), got \(3,\)"):
        F.nll_loss(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"nll_loss: labels must lie in \[0, 3\) or be "
                                         r"ignore_index \(-100\), got values from -1 to 1"):
        F.nll_loss(x, [1, -1])
    with pytest.raises(TypeError, match=r"nll_loss: labels must be integer class indices, "
                                        r"got float64"):
        F.nll_loss(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"nll_loss: reduction must be mean, sum or none, got "
                                         r"'batchmean'"):
        F.nll_loss(x, [0, 1], "batchmean")
    with pytest.raises(ValueError, match=r"nll_loss: weight must be 3 finite numbers"):
        F.nll_loss(x, [0, 1], weight=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be >= 0, got -1.0"):
        F.smooth_l1_loss(x, np.zeros((2, 3)), beta=-1)
    with pytest.raises(ValueError, match=r"huber_loss: delta must be > 0, got 0.0"):
        F.huber_loss(x, np.zeros((2, 3)), delta=0)
    with pytest.warns(UserWarning, match=r"huber_loss: using a target size \(\(3,\)\) that is "
                                         r"different to the input size \(\(2, 3\)\)"):
        broadcast = F.huber_loss(x, np.zeros(3))  # broadcast with a warning, as torch
    assert broadcast.item() == F.huber_loss(x, np.zeros((2, 3))).item()
    with pytest.raises(ValueError, match=r"smooth_l1_loss: reduction must be mean, sum or none"):
        F.smooth_l1_loss(x, np.zeros((2, 3)), "avg")
    with pytest.raises(ValueError, match=r"kl_div: reduction must be mean, batchmean, sum or "
                                         r"none, got 'avg'"):
        F.kl_div(x, np.zeros((2, 3)), "avg")
    with pytest.raises(ValueError, match=r"kl_div: input and target of shapes \(2, 3\), \(3, 2\) "
                                         r"cannot be broadcast"):
        F.kl_div(x, np.zeros((3, 2)))  # kl_div broadcasts (as torch), these do not


def test_k_dimensional_losses_take_the_classes_on_axis_1_as_torch(rng):
    logits = rng.standard_normal((2, 4, 3, 5))  # (N, C, H, W)
    labels = rng.integers(0, 4, (2, 3, 5))
    moved = np.moveaxis(logits, 1, -1).reshape(-1, 4)  # the same rows, classes last
    want = F.cross_entropy(Tensor(moved), labels.reshape(-1), reduction="none").data
    got = nn.CrossEntropyLoss(reduction="none")(Tensor(logits), Tensor(labels))
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got.data.reshape(-1), want, rtol=1e-12)
    log_probs = F.log_softmax(Tensor(logits), dim=1)
    np.testing.assert_allclose(nn.NLLLoss()(log_probs, labels).data, want.mean(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"cross_entropy: logits \(2, 3, 5, 4\) hold the "
                                         r"classes on axis 1 .* must have shape \(2, 5, 4\), "
                                         r"got \(2, 3, 5\); .*movedim\(-1, 1\)"):
        F.cross_entropy(Tensor(np.moveaxis(logits, 1, -1)), labels)
