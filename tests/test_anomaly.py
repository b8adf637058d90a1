"""Anomaly mode names the first backward function that produced nan, as torch's."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn, optim


def test_off_by_default_and_the_nan_flows_silently():
    x = dlpy.tensor([-1.0, 4.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.sqrt().sum()
    assert np.isnan(y.item())


def test_forward_is_not_checked_as_torch():
    x = dlpy.tensor([-1.0, 4.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"), \
            dlpy.detect_anomaly(), np.errstate(invalid="ignore"):
        y = (x * 2).sqrt()
    assert np.isnan(y.data[0])


def test_backward_names_the_function_and_the_line():
    x = dlpy.tensor([-1.0, 4.0], requires_grad=True)
    with pytest.warns(UserWarning), dlpy.detect_anomaly(), np.errstate(invalid="ignore"):
        y = (x + 0).sqrt().sum()
        with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned nan values in "
                                               r"its 0th output .* at .*test_anomaly.py:\d+"):
            y.backward()


def test_an_inf_gradient_is_not_an_anomaly_as_torch():
    x = dlpy.tensor([0.0, 4.0], requires_grad=True)
    with pytest.warns(UserWarning), dlpy.detect_anomaly(), np.errstate(divide="ignore"):
        x.sqrt().sum().backward()  # 1 / (2 * 0): inf, not nan
    assert np.isinf(x.grad[0])


def test_an_op_that_only_passes_on_a_nonfinite_input_is_not_blamed():
    logits = dlpy.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    mask = np.array([[False, False, True]])
    with pytest.warns(UserWarning), dlpy.detect_anomaly():
        masked = F.masked_fill(logits, mask, -np.inf)  # -inf comes from the constant: fine
        F.softmax(masked, -1).sum().backward()
    assert np.isfinite(logits.grad).all()


def test_set_detect_anomaly_flag():
    dlpy.set_detect_anomaly(True)
    try:
        x = dlpy.tensor([-1.0], requires_grad=True)
        with np.errstate(invalid="ignore"), \
                pytest.raises(FloatingPointError, match="SqrtBackward0"):
            x.sqrt().sum().backward()
    finally:
        dlpy.set_detect_anomaly(False)
    with np.errstate(divide="ignore"):
        dlpy.tensor([0.0]).log()  # off again


def test_clip_grad_norm_raises_on_a_nonfinite_norm():
    p = nn.Parameter(np.ones(3))
    p.grad = np.array([1.0, np.nan, 1.0])
    with pytest.raises(FloatingPointError, match="total gradient norm is nan"):
        optim.clip_grad_norm([p], 1.0)
    assert np.isnan(optim.clip_grad_norm([p], 1.0, error_if_nonfinite=False))
    p.grad = np.array([3.0, 4.0, 0.0])
    assert optim.clip_grad_norm(p, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.linalg.norm(p.grad), 1.0, rtol=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=float("nan")), "SGD: lr must be a finite number"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=float("inf")), "weight_decay must be"),
    (lambda p: optim.Adam(p, betas=(float("nan"), 0.999)), "beta1 must be a finite"),
    (lambda p: optim.AdamW(p, lr=float("inf")), "AdamW: lr must be a finite"),
])
def test_optimisers_reject_nonfinite_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make([nn.Parameter(np.zeros(2))])


def test_step_rejects_an_lr_made_nonfinite_later():
    p = nn.Parameter(np.zeros(2))
    p.grad = np.ones(2)
    opt = optim.SGD([p], lr=0.1)
    opt.lr = float("nan")
    with pytest.raises(ValueError, match="lr must be finite"):
        opt.step()
