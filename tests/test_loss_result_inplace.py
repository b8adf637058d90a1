"""A loss changed in place before backward (``loss += reg``, peft's AdaLoRA adds its orthogonal
regulariser so) is allowed as in torch, whose loss nodes save their operands, not the loss:
cross_entropy (class indices, probabilities, label smoothing, class weights), mse_loss,
binary_cross_entropy and binary_cross_entropy_with_logits give the gradients of the loss
without the in-place change; their operands changed in place still refuse."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F

X = np.sin(np.arange(20.0)).reshape(4, 5)
LABELS = dlpy.tensor([1, 0, 3, 2])
TARGET = dlpy.tensor(np.cos(np.arange(20.0)).reshape(4, 5) * 0.4 + 0.5)

LOSSES = {
    "cross_entropy": lambda x: F.cross_entropy(x, LABELS),
    "cross_entropy_none": lambda x: F.cross_entropy(x, LABELS, reduction="none"),
    "cross_entropy_smoothing": lambda x: F.cross_entropy(x, LABELS, label_smoothing=0.1),
    "cross_entropy_weight": lambda x: F.cross_entropy(
        x, LABELS, weight=dlpy.tensor(np.linspace(0.5, 1.5, 5))),
    "cross_entropy_probabilities": lambda x: F.cross_entropy(x, TARGET.softmax(-1)),
    "mse_loss": lambda x: F.mse_loss(x, TARGET),
    "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), TARGET),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, TARGET),
}


@pytest.mark.parametrize("name", LOSSES)
def test_loss_changed_in_place_keeps_its_gradient(name):
    x = dlpy.tensor(X, requires_grad=True)
    LOSSES[name](x).sum().backward()
    want = x.grad.numpy().copy()
    x.grad = None
    loss = LOSSES[name](x)
    loss += (x * x).sum()  # the regulariser adds 2x to the gradient
    loss *= 1.0
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), want + (2 * X if loss.ndim == 0 else 8 * X),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["mse_loss", "bce_with_logits"])
def test_operand_changed_in_place_still_refused(name):
    x = dlpy.tensor(X, requires_grad=True)
    y = x * 1.0
    loss = LOSSES[name](y)
    with dlpy.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified"):
        loss.backward()
