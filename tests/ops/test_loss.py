"""cross_entropy (fused, stable; integer labels or probabilities) and mse_loss."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "cross_entropy": F.cross_entropy,
    "cross_entropy_sum": lambda x, labels: F.cross_entropy(x, labels, reduction="sum"),
    "cross_entropy_none": lambda x, labels: F.cross_entropy(x, labels, reduction="none"),
    "cross_entropy_sequence": F.cross_entropy,
    "cross_entropy_probabilities": F.cross_entropy,
    "cross_entropy_large": F.cross_entropy,
    "mse": F.mse_loss,
    "mse_sum": lambda x, target: F.mse_loss(x, target, reduction="sum"),
    "mse_none": lambda x, target: F.mse_loss(x, target, reduction="none"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("loss", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("loss") == set(TORCH_CASES)


@pytest.mark.parametrize("shape", [(3,), (1, 3), (4, 3), (2, 1, 3), (2, 2, 1, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(shape, reduction, rng):
    logits = Tensor(rng.standard_normal(shape), requires_grad=True)
    labels = rng.integers(0, shape[-1], shape[:-1])
    assert gradcheck(lambda x: F.cross_entropy(x, labels, reduction), logits)
    probabilities = rng.dirichlet(np.ones(shape[-1]), shape[:-1])
    assert gradcheck(lambda x: F.cross_entropy(x, probabilities, reduction), logits)


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
    with pytest.raises(ValueError, match=r"mse_loss: prediction \(2, 3\) and target \(3,\) must"):
        F.mse_loss(Tensor(np.zeros((2, 3))), np.zeros(3))
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be mean, sum or none"):
        F.mse_loss(Tensor(np.zeros(3)), np.zeros(3), reduction="max")
